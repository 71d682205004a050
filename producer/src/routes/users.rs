//! `/api/users` and `/api/stats`.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};
use registry::coalesce::CoalesceError;
use registry::domain::{NewUser, UserId};
use registry::queue::{EnqueueRequest, Enqueued, IdempotencyRecord, Lookup, MessageTail, QueueError};

use super::ApiTags;
use super::views::{
    NewUserBody, PendingView, QueueView, Queued, RejectedView, StatsView, StoredView, UserPage, UserView,
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

/// Longest accepted `Idempotency-Key`.
const MAX_IDEMPOTENCY_KEY: usize = 128;

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
            return Err(invalid_idempotency_key());
        }
        // The canonical body is needed (and built) only when a key is given.
        let idempotency = key
            .0
            .map(check_idempotency_key)
            .transpose()?
            .map(|k| (k, canonical_body(&body)));
        if let Some((key, canonical)) = &idempotency {
            let known = state
                .queue
                .idempotency_record(key)
                .await
                .map_err(|e| ApiError::unavailable("the queue", &e))?;
            if let Some(record) = known {
                return answer_known(record, canonical);
            }
        }
        let user =
            NewUser::parse(&body.name.0, body.email.as_ref().map(|e| e.0.as_str())).map_err(ApiError::invalid_field)?;
        let tail = MessageTail::accepted_now(&user, &request_id);
        let idempotency = idempotency.as_ref().map(|(k, c)| (k.as_str(), c.as_str()));
        match enqueue(&state, &tail, idempotency, user.email_key()).await? {
            Enqueued::New(id) => {
                tracing::info!(user_id = %id, "user queued");
                Ok(CreateUserResponse::accepted(id))
            }
            Enqueued::Known(record) => answer_known(record, idempotency.map_or("", |(_, c)| c)),
            other => Err(ApiError::unavailable(
                "the queue",
                &QueueError::Protocol(format!("an unchecked enqueue answered {other:?}")),
            )),
        }
    }

    /// Read a user: from the cache, the queue (pending) or MySQL, saying which.
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
        let redis = state.lookups.call(id).await;
        state.metrics.cache_lookup(matches!(redis, Ok(Lookup::Cached(_))));
        match &redis {
            Ok(Lookup::Cached(user)) => {
                return Ok(Json(UserView::Stored(StoredView::new(user.clone(), Some("cache")))));
            }
            Ok(Lookup::Pending(msg)) => {
                return Ok(Json(UserView::Pending(PendingView {
                    id: msg.id,
                    name: msg.name.clone(),
                    email: msg.email.clone().into(),
                    source: "queue".into(),
                })));
            }
            Ok(Lookup::Unknown) => {}
            Err(err) => tracing::warn!(error = %err, "cache unreachable; reading from MySQL"),
        }
        let stored = state
            .store
            .find_user(id)
            .await
            .map_err(|e| ApiError::unavailable("the database", &e))?;
        if let Some(user) = stored {
            if redis.is_ok()
                && let Err(err) = state.queue.cache_user(&user, state.cache_ttl).await
            {
                tracing::warn!(error = %err, "could not fill the cache");
            }
            return Ok(Json(UserView::Stored(StoredView::new(user, Some("database")))));
        }
        let rejection = state
            .store
            .find_rejection(id)
            .await
            .map_err(|e| ApiError::unavailable("the database", &e))?;
        match (rejection, redis) {
            (Some(reason), _) => Ok(Json(UserView::Rejected(RejectedView { id: id.get(), reason }))),
            // Redis is down: the user may be queued there, so "unknown" would be a guess.
            (None, Err(err)) => Err(ApiError::unavailable("the queue", &err)),
            (None, Ok(_)) => Err(ApiError::user_not_found(id.get())),
        }
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

    /// Counts: stored users, the latest one, the queue, live consumers, and this host.
    #[oai(path = "/stats", method = "get", operation_id = "stats", tag = "ApiTags::Operations")]
    async fn stats(&self, state: Data<&Arc<AppState>>) -> Result<Json<StatsView>, ApiError> {
        let (stored, queue) = tokio::join!(state.store.count_and_latest(), state.queue.stats());
        let (users, latest) = stored.map_err(|e| ApiError::unavailable("the database", &e))?;
        let queue = queue.map_err(|e| ApiError::unavailable("the queue", &e))?;
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

fn check_idempotency_key(key: String) -> Result<String, ApiError> {
    let printable = key.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY || !printable {
        return Err(invalid_idempotency_key());
    }
    Ok(key)
}

fn invalid_idempotency_key() -> ApiError {
    ApiError::bad_request(
        "invalid_idempotency_key",
        "Idempotency-Key must be 1 to 128 printable ASCII characters",
        None,
    )
}

/// The request body as compared for idempotency: trimmed name and email.
fn canonical_body(body: &NewUserBody) -> String {
    serde_json::to_string(&(body.name.0.trim(), body.email.as_ref().map(|e| e.0.trim()))).expect("strings serialize")
}

fn answer_known(record: IdempotencyRecord, canonical: &str) -> Result<CreateUserResponse, ApiError> {
    if record.body != canonical {
        return Err(ApiError::idempotency_mismatch());
    }
    Ok(CreateUserResponse::accepted(record.id))
}

/// Queues the user unless its email is stored already (then `409`). Redis answers that within
/// the enqueue once it knows every stored email (see `registry::emails`): an email never
/// accepted before is not stored. When Redis does not know them all yet, or when it has seen
/// the email before (its user may be queued, refused, stored, or deleted by hand), MySQL is
/// asked, and the user is then queued without the check (also when MySQL does not answer: the
/// consumer refuses a duplicate). The enqueue resends briefly while Redis refuses connections
/// (nothing was sent, so a resend cannot queue twice).
async fn enqueue(
    state: &AppState,
    tail: &MessageTail<'_>,
    idempotency: Option<(&str, &str)>,
    email_key: Option<String>,
) -> Result<Enqueued, ApiError> {
    let queue = |check: bool| {
        let request = EnqueueRequest::new(tail, idempotency, email_key.as_deref(), check);
        async move {
            state
                .enqueuer
                .call(request)
                .await
                .map_err(|e: CoalesceError<QueueError>| ApiError::unavailable("the queue", &e))
        }
    };
    match queue(true).await? {
        Enqueued::EmailListed => {}
        Enqueued::EmailsNotLoaded => state.emails.kick(),
        done => return Ok(done),
    }
    let Some(key) = email_key.clone() else {
        let protocol = QueueError::Protocol("the enqueue script checked an email it was not given".into());
        return Err(ApiError::unavailable("the queue", &protocol));
    };
    // An early check only: the consumer refuses a duplicate that slips past it.
    match state.email_checks.call(key).await {
        Ok(true) => return Err(ApiError::email_taken()),
        Ok(false) => {}
        Err(err) => tracing::warn!(error = %err, "email check skipped: MySQL unreachable"),
    }
    queue(false).await
}
