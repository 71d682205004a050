//! `/health/live` and `/health/ready`.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::ApiTags;
use crate::state::AppState;

/// The health endpoints.
pub struct HealthApi;

/// Liveness answer.
#[derive(Debug, Object)]
pub struct Live {
    /// Always `ok`.
    pub status: String,
    /// The host name of this producer.
    pub host: String,
}

/// Readiness: each dependency's state.
#[derive(Debug, Object)]
pub struct Readiness {
    /// `ready`, or `not_ready`.
    pub status: String,
    /// `ok` or `unreachable`.
    pub redis: String,
    /// `ok` or `unreachable`.
    pub mysql: String,
    /// Which dependency failed, for people.
    #[oai(skip_serializing_if_is_none)]
    pub message: Option<String>,
    /// `not_ready` when failing (the error code of the contract).
    #[oai(skip_serializing_if_is_none)]
    pub error: Option<String>,
}

/// Answer of `/health/ready`.
#[derive(ApiResponse)]
pub enum ReadyResponse {
    /// Redis and MySQL both answer.
    #[oai(status = 200)]
    Ready(Json<Readiness>),
    /// Redis or MySQL does not answer (named in the body).
    #[oai(status = 503)]
    NotReady(Json<Readiness>),
}

#[OpenApi(prefix_path = "/health", tag = "ApiTags::Operations")]
impl HealthApi {
    /// The process is up; names the host.
    #[oai(path = "/live", method = "get", operation_id = "live")]
    async fn live(&self, state: Data<&Arc<AppState>>) -> Json<Live> {
        Json(Live {
            status: "ok".into(),
            host: state.host.clone(),
        })
    }

    /// Redis and MySQL both answer.
    #[oai(path = "/ready", method = "get", operation_id = "ready")]
    async fn ready(&self, state: Data<&Arc<AppState>>) -> ReadyResponse {
        let (redis, mysql) = tokio::join!(state.monitor.ping(), state.store.ping());
        readiness(redis.is_ok(), mysql.is_ok())
    }
}

/// The readiness answer for the two dependencies' states.
pub fn readiness(redis_ok: bool, mysql_ok: bool) -> ReadyResponse {
    let word = |ok: bool| if ok { "ok" } else { "unreachable" }.to_owned();
    let mut body = Readiness {
        status: "ready".into(),
        redis: word(redis_ok),
        mysql: word(mysql_ok),
        message: None,
        error: None,
    };
    let Some(message) = registry::health::unready(redis_ok, mysql_ok) else {
        return ReadyResponse::Ready(Json(body));
    };
    body.status = "not_ready".into();
    body.error = Some("not_ready".into());
    body.message = Some(message);
    ReadyResponse::NotReady(Json(body))
}
