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
    /// The user is stored (by this batch or an earlier delivery of the same message).
    Stored(StoredUser),
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
        let plans = plan(&mut tx, batch).await?;
        insert_users(&mut tx, batch, &plans).await?;
        insert_rejections(&mut tx, batch, &plans).await?;
        let stored = stored_users(&mut tx, batch, &plans).await?;
        tx.commit().await?;
        Ok(batch
            .iter()
            .zip(plans)
            .map(|(m, plan)| match plan {
                Plan::Insert | Plan::AlreadyStored => Outcome::Stored(stored[&m.id.get()].clone()),
                Plan::Reject(reason) | Plan::AlreadyRejected(reason) => Outcome::Rejected(reason),
                Plan::Conflict(reason) => Outcome::Conflict(reason),
            })
            .collect())
    }
}

fn placeholders(n: usize) -> String {
    vec!["?"; n].join(",")
}

/// Reads what is already stored (latest committed rows) and decides each message's fate.
async fn plan(tx: &mut Transaction<'_>, batch: &[ValidMessage]) -> Result<Vec<Plan>, StoreError> {
    let ids: Vec<u64> = batch.iter().map(|m| m.id.get()).collect();
    let in_ids = placeholders(ids.len());
    let stored: HashMap<u64, String> = tx
        .exec::<(u64, String), _, _>(
            format!("SELECT id, request_id FROM users WHERE id IN ({in_ids})"),
            ids.clone(),
        )
        .await?
        .into_iter()
        .collect();
    let rejected: HashMap<u64, String> = tx
        .exec::<(u64, String), _, _>(
            format!("SELECT id, reason FROM rejected_users WHERE id IN ({in_ids})"),
            ids,
        )
        .await?
        .into_iter()
        .collect();
    let keys: Vec<String> = batch
        .iter()
        .filter_map(|m| m.user.email.as_ref().map(|e| e.key()))
        .collect();
    let mut taken: HashSet<String> = HashSet::new();
    if !keys.is_empty() {
        let sql = format!(
            "SELECT email_key FROM users WHERE email_key IN ({})",
            placeholders(keys.len())
        );
        taken = tx.exec::<String, _, _>(sql, keys).await?.into_iter().collect();
    }
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
    Ok(plans)
}

async fn insert_users(tx: &mut Transaction<'_>, batch: &[ValidMessage], plans: &[Plan]) -> Result<(), StoreError> {
    let rows: Vec<&ValidMessage> = batch
        .iter()
        .zip(plans)
        .filter(|(_, p)| matches!(p, Plan::Insert))
        .map(|(m, _)| m)
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    let values = vec!["(?, ?, ?, ?, ?, ?, UTC_TIMESTAMP(6))"; rows.len()].join(",");
    let sql = format!(
        "INSERT INTO users (id, name, email, email_key, request_id, accepted_at_ms, created_at) \
         VALUES {values} ON DUPLICATE KEY UPDATE id = id"
    );
    let mut params: Vec<Value> = Vec::with_capacity(rows.len() * 6);
    for m in rows {
        let email = m.user.email.as_ref();
        params.extend([
            m.id.get().into(),
            m.user.name.as_str().into(),
            email.map(|e| e.as_str()).into(),
            email.map(|e| e.key()).into(),
            m.request_id.as_str().into(),
            m.accepted_at.into(),
        ]);
    }
    tx.exec_drop(sql, params).await?;
    Ok(())
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

/// Reads back every user the batch stored or found stored, checking that each inserted row
/// is ours: a concurrent commit of a conflicting row makes the insert a no-op, and then the
/// whole batch is retried so that the conflict is classified properly.
async fn stored_users(
    tx: &mut Transaction<'_>,
    batch: &[ValidMessage],
    plans: &[Plan],
) -> Result<HashMap<u64, StoredUser>, StoreError> {
    let wanted: Vec<&ValidMessage> = batch
        .iter()
        .zip(plans)
        .filter(|(_, p)| matches!(p, Plan::Insert | Plan::AlreadyStored))
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
    let mut users = HashMap::with_capacity(found.len());
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
