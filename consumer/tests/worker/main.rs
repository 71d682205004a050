//! Consumer tests against real Redis and MariaDB: one batch at a time in-process, and the
//! real binary as a process that is killed, stopped and raced.

mod delivery;
mod environment;
mod harness;
mod metrics;
mod processes;
mod secrets;
