//! The one API error type: each variant is a status of the contract, with a JSON body
//! `{"error": "<code>", "message": "<for people>", "field"?}`. 5xx answers log the cause
//! and tell the client only a generic message.

use std::time::Duration;

use poem::Response;
use poem::http::StatusCode;
use poem_openapi::error::{ParseParamError, ParsePathError, ParseRequestPayloadError};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object};
use registry::domain::FieldError;

/// The body of every error answer.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct ErrorBody {
    /// Machine-readable code, e.g. `invalid_field`.
    pub error: String,
    /// What went wrong, for people.
    pub message: String,
    /// The input field at fault, when there is one.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// Every error the API answers.
#[derive(Debug, ApiResponse)]
pub enum ApiError {
    /// Malformed JSON, wrong types or an invalid parameter.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// No such user or route.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// The email address belongs to a stored user.
    #[oai(status = 409)]
    Conflict(Json<ErrorBody>),
    /// The body is larger than 16 KiB.
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    /// The body is not JSON.
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ErrorBody>),
    /// A field is invalid, or an idempotency key was reused with another body.
    #[oai(status = 422)]
    Unprocessable(Json<ErrorBody>),
    /// Too many writes from this client; retry after the given seconds.
    #[oai(status = 429)]
    TooManyRequests(Json<ErrorBody>, #[oai(header = "Retry-After")] u64),
    /// Something went wrong on our side.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// Redis or MySQL cannot be reached (`unavailable`: nothing was queued), or Redis took the
    /// enqueue and never confirmed it (`outcome_unknown`: the user may be queued; retry with the
    /// same `Idempotency-Key`), or too few Redis replicas confirmed the user in time
    /// (`not_replicated`: retry with the same `Idempotency-Key`); retry after the given seconds.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>, #[oai(header = "Retry-After")] u64),
}

fn body(error: &str, message: impl Into<String>, field: Option<&str>) -> Json<ErrorBody> {
    Json(ErrorBody {
        error: error.into(),
        message: message.into(),
        field: field.map(Into::into),
    })
}

/// Seconds a client should wait before retrying after a 503.
const UNAVAILABLE_RETRY_SECS: u64 = 2;

impl ApiError {
    /// 400 with a code and message.
    pub fn bad_request(error: &str, message: impl Into<String>, field: Option<&str>) -> Self {
        Self::BadRequest(body(error, message, field))
    }

    /// 404 for an unknown user.
    pub fn user_not_found(id: u64) -> Self {
        Self::NotFound(body("not_found", format!("no user with id {id}"), None))
    }

    /// 422 naming the invalid field.
    pub fn invalid_field(err: FieldError) -> Self {
        Self::Unprocessable(body("invalid_field", err.message, Some(err.field)))
    }

    /// 409: the email is taken.
    pub fn email_taken() -> Self {
        Self::Conflict(body(
            "email_taken",
            "a user with this email address already exists",
            Some("email"),
        ))
    }

    /// 400: an `Idempotency-Key` that is not 1 to 128 printable ASCII characters.
    pub fn invalid_idempotency_key() -> Self {
        Self::bad_request(
            "invalid_idempotency_key",
            "Idempotency-Key must be 1 to 128 printable ASCII characters",
            None,
        )
    }

    /// 422: an idempotency key reused with a different body.
    pub fn idempotency_mismatch() -> Self {
        Self::Unprocessable(body(
            "idempotency_key_reused",
            "this Idempotency-Key was used with a different request body",
            None,
        ))
    }

    /// 429 with the wait before the next allowed write.
    pub fn rate_limited(wait: Duration) -> Self {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        Self::TooManyRequests(
            body("rate_limited", "too many requests from this address; slow down", None),
            secs.max(1),
        )
    }

    /// 503, logging the cause; the client learns only which part is unreachable.
    pub fn unavailable(what: &str, cause: &dyn std::error::Error) -> Self {
        tracing::warn!(error = %error_chain(cause), "{what} unreachable");
        Self::Unavailable(
            body("unavailable", format!("{what} is unreachable; try again shortly"), None),
            UNAVAILABLE_RETRY_SECS,
        )
    }

    /// 503 `outcome_unknown`: the enqueue was sent and Redis never said whether it ran.
    pub fn outcome_unknown(cause: &dyn std::error::Error) -> Self {
        tracing::warn!(error = %error_chain(cause), "the outcome of an enqueue is unknown");
        Self::Unavailable(
            body(
                "outcome_unknown",
                "the queue took the request but did not confirm it: the user may have been queued. \
                 Retry with the same Idempotency-Key to get its id, or to queue it if it was not",
                None,
            ),
            UNAVAILABLE_RETRY_SECS,
        )
    }

    /// 503 `not_replicated`: queued as `id`, but too few replicas confirmed it in time.
    pub fn not_replicated(id: u64) -> Self {
        Self::Unavailable(
            body(
                "not_replicated",
                format!(
                    "the user was queued as {id}, but too few Redis replicas confirmed it in time, so \
                     a failover could lose it. Retry with the same Idempotency-Key: it answers {id} if \
                     the user survived, or queues it anew"
                ),
                None,
            ),
            UNAVAILABLE_RETRY_SECS,
        )
    }

    /// 500, logging the whole cause chain; the client gets a generic message.
    pub fn internal(cause: &dyn std::error::Error) -> Self {
        tracing::error!(error = %error_chain(cause), "request failed");
        Self::Internal(body("internal", "something went wrong on our side", None))
    }
}

/// An error and its sources, `a: b: c`.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Turns any error that escaped a handler (parse failures of poem-openapi, unknown routes,
/// wrong methods) into the JSON error body of the contract.
pub fn into_json_response(err: poem::Error) -> Response {
    if err.is_from_response() {
        return err.into_response();
    }
    let status = err.status();
    let message = err.to_string();
    let (code, text): (&str, String) = match status {
        _ if err.is::<ParsePathError>() => ("invalid_id", "the id must be a positive integer".into()),
        _ if err.is::<ParseParamError>() => ("invalid_parameter", message),
        _ if err.is::<ParseRequestPayloadError>() => ("malformed_json", message),
        StatusCode::BAD_REQUEST => ("bad_request", message),
        StatusCode::NOT_FOUND => ("not_found", "no such resource".into()),
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "this method is not allowed here".into()),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "the body must be at most 16 KiB".into()),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported_media_type", "send the body as application/json".into()),
        s if s.is_server_error() => {
            tracing::error!(error = %message, "request failed");
            ("internal", "something went wrong on our side".into())
        }
        _ => ("error", message),
    };
    let json = serde_json::to_string(&ErrorBody {
        error: code.into(),
        message: text,
        field: None,
    })
    .expect("an error body always serializes");
    Response::builder()
        .status(status)
        .content_type("application/json; charset=utf-8")
        .body(json)
}
