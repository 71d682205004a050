//! API tests of the producer against real Redis and MariaDB servers.

mod emails;
mod errors;
mod helpers;
mod hostile;
mod metrics;
mod outages;
mod security;
mod users;
