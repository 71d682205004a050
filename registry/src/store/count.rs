//! The number of stored users, kept rather than counted: InnoDB keeps no row count, so
//! `COUNT(*)` reads a whole index, and its cost grows with every user ever stored.
//!
//! The table `user_counts` holds one row per slot; a commit that stores users adds how many it
//! stored to one slot's row in the same transaction, so the sum of the slots is exact whatever
//! fails. Spreading the commits over [`SLOTS`] rows keeps concurrent consumers from queueing
//! on one row's lock. Rows added or deleted by hand, outside the consumers, are not in it
//! (README, "MySQL schema", `user_counts`, says how to count them again).

use mysql_async::prelude::*;

use super::StoreError;

/// How many rows the commits spread their additions over.
pub(super) const SLOTS: u64 = 16;

/// Adds `stored` users to the slot of the batch whose first id is `first_id`.
pub(super) async fn add(conn: &mut impl Queryable, first_id: u64, stored: u64) -> Result<(), StoreError> {
    if stored == 0 {
        return Ok(());
    }
    // Signed: a slot may be below zero after a correction by hand, and MariaDB computes
    // `n + ?` with an unsigned parameter as unsigned, which refuses a negative result.
    let stored = i64::try_from(stored).unwrap_or(i64::MAX);
    conn.exec_drop(
        "INSERT INTO user_counts (slot, n) VALUES (?, ?) ON DUPLICATE KEY UPDATE n = n + ?",
        (first_id % SLOTS, stored, stored),
    )
    .await?;
    Ok(())
}

/// The number of stored users: the sum of the slots (a read of at most [`SLOTS`] rows).
pub(super) async fn total(conn: &mut impl Queryable) -> Result<u64, StoreError> {
    let sum: Option<u64> = conn
        .query_first("SELECT CAST(GREATEST(COALESCE(SUM(n), 0), 0) AS UNSIGNED) FROM user_counts")
        .await?;
    Ok(sum.unwrap_or(0))
}
