//! Storing a batch of messages in one transaction, exactly once per user.

use std::collections::{HashMap, HashSet};

use mysql_async::prelude::*;
use mysql_async::{IsolationLevel, Transaction, TxOpts, Value};

use super::{Store, StoreError, USER_COLUMNS, user_from_row};
use crate::domain::StoredUser;
use crate::queue::ValidMessage;

/// Reason recorded for a user whose email another stored user already has.
pub const EMAIL_TAKEN: &str = "email already registered";

/// What became of one message of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The user is stored: by this batch, or (`earlier`) by an earlier delivery of the same
    /// message.
    Stored {
        /// The stored row.
        user: StoredUser,
        /// Stored before this batch (a redelivery).
        earlier: bool,
    },
    /// The user was refused; the reason is stored.
    Rejected(String),
    /// Its id is stored for another request: never overwritten, the message is bad.
    Conflict(String),
}

/// How each message of the batch is to be handled inside the transaction.
enum Plan {
    Insert,
    AlreadyStored,
    Reject(String),
    AlreadyRejected(String),
    Conflict(String),
}

impl Store {
    /// Stores a batch in one transaction. Redelivered messages (same id and request id) are
    /// successes; a duplicate email is recorded as a rejection; nothing is ever overwritten.
    #[tracing::instrument(name = "Persisting a batch", skip_all, fields(size = batch.len()))]
    pub async fn persist(&self, batch: &[ValidMessage]) -> Result<Vec<Outcome>, StoreError> {
        let mut conn = self.conn().await?;
        let mut tx_opts = TxOpts::default();
        tx_opts.with_isolation_level(IsolationLevel::ReadCommitted);
        let mut tx = conn.start_transaction(tx_opts).await?;
        let (plans, now) = plan(&mut tx, batch).await?;
        let all_inserted = insert_users(&mut tx, batch, &plans, &now).await?;
        insert_rejections(&mut tx, batch, &plans).await?;
        let stored = stored_users(&mut tx, batch, &plans, all_inserted.then_some(&now)).await?;
        tx.commit().await?;
        Ok(batch
            .iter()
            .zip(plans)
            .map(|(m, plan)| match plan {
                Plan::Insert | Plan::AlreadyStored => Outcome::Stored {
                    user: stored[&m.id.get()].clone(),
                    earlier: matches!(plan, Plan::AlreadyStored),
                },
                Plan::Reject(reason) | Plan::AlreadyRejected(reason) => Outcome::Rejected(reason),
                Plan::Conflict(reason) => Outcome::Conflict(reason),
            })
            .collect())
    }
}

fn placeholders(n: usize) -> String {
    vec!["?"; n].join(",")
}

/// What is already stored about a batch, read in one round trip.
#[derive(Default)]
struct Known {
    /// Stored id -> its request id.
    stored: HashMap<u64, String>,
    /// Refused id -> the reason.
    rejected: HashMap<u64, String>,
    /// Email keys stored users have.
    taken: HashSet<String>,
    /// The server's clock (UTC), `YYYY-MM-DD HH:MM:SS.ffffff`: the `created_at` of new rows.
    now: String,
}

/// Reads what is already stored (latest committed rows) and the server's time in one query,
/// and decides each message's fate.
async fn plan(tx: &mut Transaction<'_>, batch: &[ValidMessage]) -> Result<(Vec<Plan>, String), StoreError> {
    let known = known(tx, batch).await?;
    let Known {
        stored,
        rejected,
        mut taken,
        now,
    } = known;
    let mut planned: HashMap<u64, &str> = HashMap::new();
    let mut plans = Vec::with_capacity(batch.len());
    for m in batch {
        let id = m.id.get();
        let email = m.user.email.as_ref().map(|e| e.key());
        let plan = if let Some(request) = stored.get(&id).map(String::as_str).or(planned.get(&id).copied()) {
            if request == m.request_id {
                Plan::AlreadyStored
            } else {
                Plan::Conflict(format!("id {id} is already stored for another request"))
            }
        } else if let Some(reason) = rejected.get(&id) {
            Plan::AlreadyRejected(reason.clone())
        } else if email.as_ref().is_some_and(|e| taken.contains(e)) {
            Plan::Reject(EMAIL_TAKEN.to_owned())
        } else {
            planned.insert(id, &m.request_id);
            taken.extend(email);
            Plan::Insert
        };
        plans.push(plan);
    }
    Ok((plans, now))
}

/// One query, four kinds of rows: `(0, id, request_id)` stored users, `(1, id, reason)`
/// refused users, `(2, 0, email_key)` taken addresses, and `(3, 0, now)` the server's time.
async fn known(tx: &mut Transaction<'_>, batch: &[ValidMessage]) -> Result<Known, StoreError> {
    let ids: Vec<Value> = batch.iter().map(|m| m.id.get().into()).collect();
    let keys: Vec<Value> = batch
        .iter()
        .filter_map(|m| m.user.email.as_ref().map(|e| e.key().into()))
        .collect();
    let in_ids = placeholders(ids.len());
    let mut sql = format!(
        "SELECT 0, id, request_id FROM users WHERE id IN ({in_ids}) \
         UNION ALL SELECT 1, id, reason FROM rejected_users WHERE id IN ({in_ids}) \
         UNION ALL SELECT 3, 0, DATE_FORMAT(UTC_TIMESTAMP(6), '%Y-%m-%d %H:%i:%s.%f')"
    );
    if !keys.is_empty() {
        sql += &format!(
            " UNION ALL SELECT 2, 0, email_key FROM users WHERE email_key IN ({})",
            placeholders(keys.len())
        );
    }
    let mut params = ids.clone();
    params.extend(ids);
    params.extend(keys);
    let mut known = Known::default();
    for (kind, id, text) in tx.exec::<(u8, u64, String), _, _>(sql, params).await? {
        match kind {
            0 => drop(known.stored.insert(id, text)),
            1 => drop(known.rejected.insert(id, text)),
            2 => drop(known.taken.insert(text)),
            _ => known.now = text,
        }
    }
    Ok(known)
}

/// Inserts the new users with `created_at = now`; true when every one of them was inserted
/// (none was a no-op because a conflicting row was committed meanwhile).
async fn insert_users(
    tx: &mut Transaction<'_>,
    batch: &[ValidMessage],
    plans: &[Plan],
    now: &str,
) -> Result<bool, StoreError> {
    let rows: Vec<&ValidMessage> = batch
        .iter()
        .zip(plans)
        .filter(|(_, p)| matches!(p, Plan::Insert))
        .map(|(m, _)| m)
        .collect();
    if rows.is_empty() {
        return Ok(true);
    }
    let values = vec!["(?, ?, ?, ?, ?, ?, ?)"; rows.len()].join(",");
    let sql = format!(
        "INSERT INTO users (id, name, email, email_key, request_id, accepted_at_ms, created_at) \
         VALUES {values} ON DUPLICATE KEY UPDATE id = id"
    );
    let mut params: Vec<Value> = Vec::with_capacity(rows.len() * 7);
    for m in &rows {
        let email = m.user.email.as_ref();
        params.extend([
            m.id.get().into(),
            m.user.name.as_str().into(),
            email.map(|e| e.as_str()).into(),
            email.map(|e| e.key()).into(),
            m.request_id.as_str().into(),
            m.accepted_at.into(),
            now.into(),
        ]);
    }
    tx.exec_drop(sql, params).await?;
    // `UPDATE id = id` changes nothing, so a duplicate counts 0 affected rows, unless the
    // connection asked for found rows (then it counts 1, and the read-back decides).
    Ok(tx.affected_rows() == rows.len() as u64 && !tx.opts().client_found_rows())
}

async fn insert_rejections(tx: &mut Transaction<'_>, batch: &[ValidMessage], plans: &[Plan]) -> Result<(), StoreError> {
    let mut params: Vec<Value> = Vec::new();
    for (m, plan) in batch.iter().zip(plans) {
        if let Plan::Reject(reason) = plan {
            params.extend([m.id.get().into(), m.request_id.as_str().into(), reason.as_str().into()]);
        }
    }
    if params.is_empty() {
        return Ok(());
    }
    let values = vec!["(?, ?, ?, UTC_TIMESTAMP(6))"; params.len() / 3].join(",");
    let sql = format!(
        "INSERT INTO rejected_users (id, request_id, reason, rejected_at) VALUES {values} ON DUPLICATE KEY UPDATE id = id"
    );
    tx.exec_drop(sql, params).await?;
    Ok(())
}

/// The users the batch stored or found stored. When every new row is known to be ours
/// (`inserted_at` is their `created_at`), only redelivered users are read back; otherwise
/// every row is read back and checked to be ours: a concurrent commit of a conflicting row
/// makes the insert a no-op, and then the whole batch is retried so that the conflict is
/// classified properly.
async fn stored_users(
    tx: &mut Transaction<'_>,
    batch: &[ValidMessage],
    plans: &[Plan],
    inserted_at: Option<&String>,
) -> Result<HashMap<u64, StoredUser>, StoreError> {
    let mut users = HashMap::new();
    let mut wanted: Vec<&ValidMessage> = Vec::new();
    for (m, plan) in batch.iter().zip(plans) {
        match (plan, inserted_at) {
            (Plan::Insert, Some(at)) => {
                let user = StoredUser {
                    id: m.id.get(),
                    name: m.user.name.as_str().to_owned(),
                    email: m.user.email.as_ref().map(|e| e.as_str().to_owned()),
                    created_at: rfc3339(at),
                };
                users.insert(user.id, user);
            }
            (Plan::Insert, None) | (Plan::AlreadyStored, _) => wanted.push(m),
            _ => {}
        }
    }
    if wanted.is_empty() {
        return Ok(users);
    }
    let ids: Vec<u64> = wanted.iter().map(|m| m.id.get()).collect();
    let sql = format!(
        "SELECT {USER_COLUMNS}, request_id FROM users WHERE id IN ({})",
        placeholders(ids.len())
    );
    let rows: Vec<(u64, String, Option<String>, String, String)> = tx.exec(sql, ids).await?;
    let found: HashMap<u64, (StoredUser, String)> = rows
        .into_iter()
        .map(|(id, name, email, created_at, request)| (id, (user_from_row((id, name, email, created_at)), request)))
        .collect();
    for m in wanted {
        match found.get(&m.id.get()) {
            Some((user, request)) if *request == m.request_id => {
                users.insert(user.id, user.clone());
            }
            _ => return Err(StoreError::Contended),
        }
    }
    Ok(users)
}

/// `YYYY-MM-DD HH:MM:SS.ffffff` (UTC) as RFC 3339, the format `USER_COLUMNS` reads back.
fn rfc3339(mysql_utc: &str) -> String {
    format!("{}Z", mysql_utc.replacen(' ', "T", 1))
}
