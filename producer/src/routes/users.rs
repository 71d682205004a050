//! `/api/users` and `/api/stats`: parse, call one service, map its answer.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};
use registry::directory::{FindError, Found};
use registry::domain::{IdempotencyKey, UserId};
use registry::registrar::{AcceptError, Submission};
use registry::stats::{Counters, CountersError};

use super::ApiTags;
use super::views::{
    FailedView, NewUserBody, PendingView, QueueView, Queued, RejectedView, StatsView, StoredView, UserPage, UserView,
};
use crate::error::ApiError;
use crate::middleware::{ClientIp, RequestId};
use crate::state::AppState;

/// The users API.
pub struct UsersApi;

/// Answer to `POST /api/users`.
#[derive(ApiResponse)]
pub enum CreateUserResponse {
    /// Accepted and queued; it will be stored shortly.
    #[oai(status = 202)]
    Accepted(Json<Queued>, #[oai(header = "Location")] String),
}

impl CreateUserResponse {
    fn accepted(id: UserId) -> Self {
        Self::Accepted(
            Json(Queued {
                id: id.get(),
                status: "queued".into(),
            }),
            format!("/api/users/{id}"),
        )
    }
}

#[OpenApi(prefix_path = "/api", tag = "ApiTags::Users")]
impl UsersApi {
    /// Add a user: validated, queued in Redis and stored by a consumer shortly after.
    #[oai(path = "/users", method = "post", operation_id = "createUser")]
    async fn create_user(
        &self,
        state: Data<&Arc<AppState>>,
        req: &poem::Request,
        RequestId(request_id): RequestId,
        ClientIp(ip): ClientIp,
        /// Retrying with the same key within 24 h answers the same id and queues nothing.
        #[oai(name = "Idempotency-Key")]
        key: Header<Option<String>>,
        body: Json<NewUserBody>,
    ) -> Result<CreateUserResponse, ApiError> {
        state.check_rate(ip).map_err(ApiError::rate_limited)?;
        // poem reads a header that is not text as absent: that must not queue without the key.
        if req
            .headers()
            .get("idempotency-key")
            .is_some_and(|v| v.to_str().is_err())
        {
            return Err(ApiError::invalid_idempotency_key());
        }
        let key = key
            .0
            .map(|raw| IdempotencyKey::parse(&raw))
            .transpose()
            .map_err(|_| ApiError::invalid_idempotency_key())?;
        let submission = Submission {
            name: &body.name.0,
            email: body.email.as_ref().map(|e| e.0.as_str()),
        };
        match state.registrar.accept(submission, &request_id, key.as_ref()).await {
            Ok(accepted) => Ok(CreateUserResponse::accepted(accepted.id())),
            Err(AcceptError::Invalid(err)) => Err(ApiError::invalid_field(err)),
            Err(AcceptError::EmailTaken) => Err(ApiError::email_taken()),
            Err(AcceptError::KeyReused) => Err(ApiError::idempotency_mismatch()),
            Err(AcceptError::QueueUnavailable(err)) => Err(ApiError::unavailable("the queue", &err)),
            Err(AcceptError::OutcomeUnknown(err)) => Err(ApiError::outcome_unknown(&err)),
            Err(AcceptError::NotReplicated(id)) => Err(ApiError::not_replicated(id.get())),
        }
    }

    /// Read a user: from the cache, the queue (pending), the dead letters (failed) or MySQL,
    /// saying which.
    #[oai(path = "/users/:id", method = "get", operation_id = "getUser")]
    async fn get_user(
        &self,
        state: Data<&Arc<AppState>>,
        /// The user's id (a positive integer).
        #[oai(validator(minimum(value = "1")))]
        id: Path<u64>,
    ) -> Result<Json<UserView>, ApiError> {
        let id = UserId::new(id.0)
            .ok_or_else(|| ApiError::bad_request("invalid_id", "the id must be a positive integer", None))?;
        let found = state.directory.find(id).await;
        state.metrics.cache_lookup(matches!(found, Ok(Found::Cached(_))));
        let view = match found {
            Ok(Found::Cached(user)) => UserView::Stored(StoredView::new(user, Some("cache"))),
            Ok(Found::Stored(user)) => UserView::Stored(StoredView::new(user, Some("database"))),
            Ok(Found::Pending(message)) => UserView::Pending(PendingView {
                id: message.id,
                name: message.name,
                email: message.email.into(),
                source: "queue".into(),
            }),
            Ok(Found::Rejected(reason)) => UserView::Rejected(RejectedView { id: id.get(), reason }),
            Ok(Found::Failed(reason)) => UserView::Failed(FailedView { id: id.get(), reason }),
            Err(FindError::NotFound) => return Err(ApiError::user_not_found(id.get())),
            Err(FindError::DatabaseUnavailable(err)) => return Err(ApiError::unavailable("the database", &err)),
            Err(FindError::QueueUnavailable(err)) => return Err(ApiError::unavailable("the queue", &err)),
        };
        Ok(Json(view))
    }

    /// List stored users, newest first, a page at a time.
    #[oai(path = "/users", method = "get", operation_id = "listUsers")]
    async fn list_users(
        &self,
        state: Data<&Arc<AppState>>,
        /// Users per page, 1 to 100 (default 20).
        #[oai(default = "default_limit", validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<u32>,
        /// Only users with ids below this one (the `next` of the previous page).
        #[oai(validator(minimum(value = "1")))]
        before: Query<Option<u64>>,
    ) -> Result<Json<UserPage>, ApiError> {
        let before = before.0.and_then(UserId::new);
        let mut users = state
            .store
            .list_users(limit.0 + 1, before)
            .await
            .map_err(|e| ApiError::unavailable("the database", &e))?;
        let next = (users.len() > limit.0 as usize).then(|| {
            users.truncate(limit.0 as usize);
            users.last().map(|u| u.id)
        });
        let users = users.into_iter().map(|u| StoredView::new(u, None)).collect();
        Ok(Json(UserPage {
            users,
            next: next.flatten().into(),
        }))
    }

    /// Counts: stored users, the latest one, the queue, live consumers, and this host; at most
    /// a second old (one read answers every caller of that second).
    #[oai(path = "/stats", method = "get", operation_id = "stats", tag = "ApiTags::Operations")]
    async fn stats(&self, state: Data<&Arc<AppState>>) -> Result<Json<StatsView>, ApiError> {
        let Counters { users, latest, queue } = state.stats.read().await.map_err(|e| match e {
            CountersError::Store(e) => ApiError::unavailable("the database", &e),
            CountersError::Queue(e) => ApiError::unavailable("the queue", &e),
        })?;
        Ok(Json(StatsView {
            users,
            latest: latest.map(|u| StoredView::new(u, None)).into(),
            queue: QueueView {
                pending: queue.pending,
                processing: queue.processing,
                dead: queue.dead,
            },
            consumers: queue.consumers,
            host: state.host.clone(),
        }))
    }
}

fn default_limit() -> u32 {
    20
}
