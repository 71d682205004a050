//! The users every measurement writes: the same shape for the raw insert limit and the queue.

use registry::domain::NewUser;

/// One user as a message or a row carries it.
pub struct BenchUser {
    /// The parsed user (name, email and its lower-cased key).
    pub user: NewUser,
    /// A request id like the producer's (UUID v7).
    pub request_id: String,
}

/// `count` distinct users with emails, unique to this run (`run` tags names and addresses).
pub fn users(run: &str, count: usize) -> Vec<BenchUser> {
    (0..count)
        .map(|n| {
            let name = format!("Bench User {run} {n:07}");
            let email = format!("bench.{run}.{n}@example.com");
            BenchUser {
                user: NewUser::parse(&name, Some(&email)).expect("generated users are valid"),
                request_id: uuid::Uuid::now_v7().to_string(),
            }
        })
        .collect()
}

/// A short random tag that keeps one run's names and emails apart from another's.
pub fn run_tag() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_owned()
}
