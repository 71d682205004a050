//! API tests of the producer against real Redis and MariaDB servers. Tests that need a
//! consumer too live in `e2e/tests/system`.

mod errors;
mod helpers;
mod hostile;
mod security;
