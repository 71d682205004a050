//! The `INSERT` of a batch of users: one multi-row statement, as the consumer and the raw
//! insert limit of the benchmark send it.

use mysql_async::Value;
use mysql_async::prelude::*;

use super::StoreError;
use crate::domain::{AcceptedUser, NewUser};

/// What an `INSERT` of users does when a row's id or address is already stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Duplicates {
    /// The statement fails whole (`ER_DUP_ENTRY`) and stores no row.
    Fail,
    /// That row is skipped (`INSERT IGNORE`); the others are stored. Unlike `ON DUPLICATE KEY
    /// UPDATE id = id`, which MariaDB lets through only with the UPDATE right on every column
    /// inserted, it needs no right but INSERT (docs/security.md).
    Skip,
}

/// Inserts users with `created_at` the server's clock; answers how many rows it inserted.
pub(super) async fn insert_users(
    conn: &mut impl Queryable,
    rows: &[&AcceptedUser],
    duplicates: Duplicates,
) -> Result<u64, StoreError> {
    if rows.is_empty() {
        return Ok(0);
    }
    let rows = rows
        .iter()
        .map(|m| (m.id.get(), &m.user, m.request_id.as_str(), m.accepted_at));
    let (sql, params) = users_insert(rows, duplicates);
    let result = conn.exec_iter(sql, params).await?;
    let inserted = result.affected_rows();
    result.drop_result().await?;
    if duplicates == Duplicates::Skip {
        refuse_ignored_errors(conn).await?;
    }
    Ok(inserted)
}

/// `IGNORE` turns every error into a warning, not only the duplicate it is meant for: a value
/// the column cannot hold would be cut short and stored. Any warning but a duplicate fails the
/// statement as the plain `INSERT` would have, so the caller's transaction stores nothing.
/// (Rows already stored are planned out before the insert, so the duplicates that remain, from
/// concurrent commits, stay well under the server's `max_error_count`.)
async fn refuse_ignored_errors(conn: &mut impl Queryable) -> Result<(), StoreError> {
    const DUPLICATE_ENTRY: u16 = 1062;
    let warnings: Vec<(String, u16, String)> = conn.query("SHOW WARNINGS").await?;
    match warnings.into_iter().find(|(_, code, _)| *code != DUPLICATE_ENTRY) {
        None => Ok(()),
        Some((_, code, message)) => Err(StoreError::Mysql(mysql_async::Error::Server(
            mysql_async::ServerError {
                code,
                message,
                state: "HY000".into(),
            },
        ))),
    }
}

/// One row of [`new_users_insert`]: id, user, request id, acceptance time (ms).
pub type UserRow<'a> = (u64, &'a NewUser, &'a str, u64);

/// The statement (text and parameters) a consumer stores a batch of new users with: one
/// multi-row `INSERT`, `created_at` the server's clock, that fails whole when an id or email is
/// already stored. `bench insert-limit` measures MariaDB with exactly this statement.
pub fn new_users_insert<'a>(rows: impl ExactSizeIterator<Item = UserRow<'a>>) -> (String, Vec<Value>) {
    users_insert(rows, Duplicates::Fail)
}

fn users_insert<'a>(rows: impl ExactSizeIterator<Item = UserRow<'a>>, duplicates: Duplicates) -> (String, Vec<Value>) {
    let values = vec!["(?, ?, ?, ?, ?, ?, UTC_TIMESTAMP(6))"; rows.len()].join(",");
    let ignore = match duplicates {
        Duplicates::Fail => "",
        Duplicates::Skip => " IGNORE",
    };
    let sql = format!(
        "INSERT{ignore} INTO users (id, name, email, email_key, request_id, accepted_at_ms, created_at) \
         VALUES {values}"
    );
    let mut params: Vec<Value> = Vec::with_capacity(rows.len() * 6);
    for (id, user, request_id, accepted_at) in rows {
        params.extend([
            id.into(),
            user.name.as_str().into(),
            user.email.as_ref().map(|e| e.as_str()).into(),
            user.email_key().into(),
            request_id.into(),
            accepted_at.into(),
        ]);
    }
    (sql, params)
}
