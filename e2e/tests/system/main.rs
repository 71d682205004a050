//! The system under test as a whole: the producer's API with a consumer's pipeline storing
//! what it queues, against real Redis and MariaDB servers.

mod cluster;
mod dead_letters;
mod emails;
mod eviction;
mod hostile;
mod idempotency;
mod metrics;
mod outages;
mod privileges;
mod processes;
mod replication;
mod sentinel;
mod users;
