//! The HTTP routes: the users API, health, metrics, and the web page.

pub mod docs;
pub mod frontend;
pub mod health;
pub mod metrics;
mod strict;
pub mod users;
mod views;

use poem_openapi::Tags;

/// Groups of operations in the OpenAPI document.
#[derive(Tags)]
pub enum ApiTags {
    /// Adding and reading users.
    Users,
    /// Liveness, readiness and counters.
    Operations,
}
