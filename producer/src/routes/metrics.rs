//! `GET /metrics`.

use std::sync::Arc;

use poem::web::Data;
use poem::{IntoResponse, Response, handler};

use crate::state::AppState;

/// Every series in the Prometheus text format.
#[handler]
pub async fn scrape(state: Data<&Arc<AppState>>) -> Response {
    let (text, content_type) = state.metrics.render(&state.monitor).await;
    text.with_content_type(content_type).into_response()
}
