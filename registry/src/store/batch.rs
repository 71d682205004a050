//! Storing a batch of messages in one transaction, exactly once per user.

use std::collections::{HashMap, HashSet};

use mysql_async::prelude::*;
use mysql_async::{Transaction, TxOpts, Value};

use super::count;
use super::insert::{Duplicates, insert_users};
use super::{Store, StoreError, USER_COLUMNS, user_from_row};
use crate::domain::{AcceptedUser, StoredUser};

/// Reason recorded for a user whose email another stored user already has.
pub const EMAIL_TAKEN: &str = "email already registered";

/// What became of one message of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Stored by this batch.
    Inserted,
    /// Stored before, by an earlier delivery of the same message: the stored row.
    AlreadyStored(StoredUser),
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
    /// Stores a batch, exactly once per user. Redelivered messages (same id and request id)
    /// are successes; a duplicate email is recorded as a rejection; nothing is ever
    /// overwritten. A batch of new users is one `INSERT`; any other is planned in one
    /// transaction (docs/design.md, "Storing a batch"). Either way the commit adds the users it
    /// stored to the count of stored users (`count`).
    #[tracing::instrument(name = "Persisting a batch", skip_all, fields(size = batch.len()))]
    pub async fn persist(&self, batch: &[AcceptedUser]) -> Result<Vec<Outcome>, StoreError> {
        let Some(first) = batch.first().map(|m| m.id.get()) else {
            return Ok(Vec::new());
        };
        let mut conn = self.conn().await?;
        if !refusal_between(&mut conn, batch).await? {
            let rows: Vec<&AcceptedUser> = batch.iter().collect();
            let mut tx = conn.start_transaction(TxOpts::default()).await?;
            match insert_users(&mut tx, &rows, Duplicates::Fail).await {
                Ok(inserted) => {
                    count::add(&mut tx, first, inserted).await?;
                    tx.commit().await?;
                    return Ok(vec![Outcome::Inserted; batch.len()]);
                }
                Err(err) if err.is_duplicate_key() => tx.rollback().await?,
                Err(err) => return Err(err),
            }
        }
        let mut tx = conn.start_transaction(TxOpts::default()).await?;
        let plans = plan(&mut tx, batch).await?;
        let inserts: Vec<&AcceptedUser> = batch
            .iter()
            .zip(&plans)
            .filter(|(_, p)| matches!(p, Plan::Insert))
            .map(|(m, _)| m)
            .collect();
        // A skipped duplicate counts 0 affected rows.
        let inserted = insert_users(&mut tx, &inserts, Duplicates::Skip).await?;
        let all_inserted = inserted == inserts.len() as u64;
        count::add(&mut tx, first, inserted).await?;
        insert_rejections(&mut tx, batch, &plans).await?;
        let mut earlier = stored_users(&mut tx, batch, &plans, all_inserted).await?;
        tx.commit().await?;
        Ok(batch
            .iter()
            .zip(plans)
            .map(|(m, plan)| match plan {
                Plan::Insert => Outcome::Inserted,
                Plan::AlreadyStored => Outcome::AlreadyStored(
                    earlier
                        .remove(&m.id.get())
                        .expect("stored_users returns every redelivered user"),
                ),
                Plan::Reject(reason) | Plan::AlreadyRejected(reason) => Outcome::Rejected(reason),
                Plan::Conflict(reason) => Outcome::Conflict(reason),
            })
            .collect())
    }
}

/// Whether a refusal is recorded for an id between the batch's lowest and highest (latest
/// committed rows).
async fn refusal_between(conn: &mut impl Queryable, batch: &[AcceptedUser]) -> Result<bool, StoreError> {
    let ids = batch.iter().map(|m| m.id.get());
    let (lowest, highest) = (ids.clone().min(), ids.max());
    let refused: Option<u8> = conn
        .exec_first(
            "SELECT 1 FROM rejected_users WHERE id BETWEEN ? AND ? LIMIT 1",
            (lowest, highest),
        )
        .await?;
    Ok(refused.is_some())
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
}

/// Reads what is already stored (latest committed rows) in one query, and decides each
/// message's fate.
async fn plan(tx: &mut Transaction<'_>, batch: &[AcceptedUser]) -> Result<Vec<Plan>, StoreError> {
    let Known {
        stored,
        rejected,
        mut taken,
    } = known(tx, batch).await?;
    let mut planned: HashMap<u64, &str> = HashMap::new();
    let mut plans = Vec::with_capacity(batch.len());
    for m in batch {
        let id = m.id.get();
        let email = m.user.email_key();
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
    Ok(plans)
}

/// One query, three kinds of rows: `(0, id, request_id)` stored users, `(1, id, reason)`
/// refused users and `(2, 0, email_key)` taken addresses.
async fn known(tx: &mut Transaction<'_>, batch: &[AcceptedUser]) -> Result<Known, StoreError> {
    let ids: Vec<Value> = batch.iter().map(|m| m.id.get().into()).collect();
    let keys: Vec<Value> = batch
        .iter()
        .filter_map(|m| m.user.email_key().map(Into::into))
        .collect();
    let in_ids = placeholders(ids.len());
    let mut sql = format!(
        "SELECT 0, id, request_id FROM users WHERE id IN ({in_ids}) \
         UNION ALL SELECT 1, id, reason FROM rejected_users WHERE id IN ({in_ids})"
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
            _ => drop(known.taken.insert(text)),
        }
    }
    Ok(known)
}

async fn insert_rejections(tx: &mut Transaction<'_>, batch: &[AcceptedUser], plans: &[Plan]) -> Result<(), StoreError> {
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
    let sql = format!("INSERT IGNORE INTO rejected_users (id, request_id, reason, rejected_at) VALUES {values}");
    tx.exec_drop(sql, params).await?;
    Ok(())
}

/// The redelivered users (`Plan::AlreadyStored`), read back. When some new row was a no-op
/// (`all_inserted` false), the new rows are read back too and checked to be ours: a
/// concurrent commit of a conflicting row makes an insert a no-op, and then the whole batch
/// is retried so that the conflict is classified properly.
async fn stored_users(
    tx: &mut Transaction<'_>,
    batch: &[AcceptedUser],
    plans: &[Plan],
    all_inserted: bool,
) -> Result<HashMap<u64, StoredUser>, StoreError> {
    let wanted: Vec<&AcceptedUser> = batch
        .iter()
        .zip(plans)
        .filter(|(_, plan)| match plan {
            Plan::AlreadyStored => true,
            Plan::Insert => !all_inserted,
            _ => false,
        })
        .map(|(m, _)| m)
        .collect();
    if wanted.is_empty() {
        return Ok(HashMap::new());
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
    let mut users = HashMap::new();
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
