//! Acceptance-to-stored latency at a steady rate.
//!
//! Users are posted open-loop (request `i` is due at `start + i / rate`, whatever earlier
//! answers did, so a stall shows as latency instead of slowing the sender down). A watcher
//! asks MySQL every millisecond which of the accepted ids are committed: a user counts as
//! stored when a separate connection can read its row. End-to-end latency is that moment
//! minus the moment the client received the `202`, both on this process's clock; the poll
//! adds up to about a millisecond. As a cross-check, the server-side figure `created_at -
//! accepted_at_ms` is reported too: it starts before the `202` and ends at the INSERT, before
//! the commit.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use mysql_async::prelude::*;
use serde_json::json;

use crate::stats::summary;

/// Options of `bench steady`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Base URL of the producer.
    #[arg(long)]
    url: String,
    /// MySQL URL of the consumer's database.
    #[arg(long, env = "MYSQL_URL", hide_env_values = true)]
    mysql_url: String,
    /// Users per second.
    #[arg(long, default_value_t = 2000)]
    rate: u32,
    /// Seconds of posting measured (after the warm-up).
    #[arg(long, default_value_t = 20)]
    secs: u64,
    /// Seconds of posting at the start left out of the figures.
    #[arg(long, default_value_t = 2)]
    warmup_secs: u64,
}

/// What happened to one user.
#[derive(Default, Clone, Copy)]
struct Slot {
    id: Option<u64>,
    due: Option<Instant>,
    answered: Option<Instant>,
    stored: Option<Instant>,
}

#[derive(Default)]
struct Shared {
    slots: Vec<Slot>,
    /// Ids accepted and not yet seen stored -> slot.
    waiting: HashMap<u64, usize>,
    failed: u64,
}

/// Posts for warm-up + `secs` seconds, waits for every user to be stored, reports latencies.
pub async fn run(args: Args) -> anyhow::Result<serde_json::Value> {
    let total = (args.rate as u64 * (args.warmup_secs + args.secs)) as usize;
    let shared = Arc::new(Mutex::new(Shared {
        slots: vec![Slot::default(); total],
        ..Shared::default()
    }));
    let pool = mysql_async::Pool::new(registry::store::options(&args.mysql_url, None)?);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = tokio::spawn(watch(pool.clone(), shared.clone(), stop.clone()));
    crate::progress(format_args!(
        "posting {total} users at {}/s ({} s, the first {} s left out)",
        args.rate,
        args.warmup_secs + args.secs,
        args.warmup_secs
    ));
    post_all(&args, total, shared.clone()).await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !shared.lock().expect("not poisoned").waiting.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    watcher.await??;
    let skip = (args.rate as u64 * args.warmup_secs) as usize;
    let shared = Arc::try_unwrap(shared).ok().expect("tasks done").into_inner()?;
    let measured = &shared.slots[skip..];
    let ms = |a: Instant, b: Instant| b.saturating_duration_since(a).as_secs_f64() * 1000.0;
    let post: Vec<f64> = measured.iter().filter_map(|s| Some(ms(s.due?, s.answered?))).collect();
    let e2e: Vec<f64> = measured
        .iter()
        .filter_map(|s| Some(ms(s.answered?, s.stored?)))
        .collect();
    let unstored = measured
        .iter()
        .filter(|s| s.answered.is_some() && s.stored.is_none())
        .count();
    let ids: Vec<u64> = measured.iter().filter_map(|s| s.id).collect();
    let server = server_side(&pool, &ids).await?;
    pool.disconnect().await?;
    anyhow::ensure!(unstored == 0, "{unstored} accepted users were not stored within 30 s");
    Ok(json!({
        "rate": args.rate,
        "secs": args.secs,
        "users": measured.len(),
        "failed": shared.failed,
        "post": summary(post),
        "e2e": summary(e2e),
        "e2e_server": summary(server),
    }))
}

/// Sends request `i` at its due time, each in its own task.
async fn post_all(args: &Args, total: usize, shared: Arc<Mutex<Shared>>) -> anyhow::Result<()> {
    let client = reqwest::Client::builder().pool_max_idle_per_host(256).build()?;
    let url = format!("{}/api/users", args.url.trim_end_matches('/'));
    let tag = crate::rows::run_tag();
    let period = Duration::from_secs(1) / args.rate;
    let start = tokio::time::Instant::now() + Duration::from_millis(10);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..total {
        let due = start + period * i as u32;
        tokio::time::sleep_until(due).await;
        let (client, url, shared) = (client.clone(), url.clone(), shared.clone());
        let body = json!({ "name": format!("Steady {tag} {i}"), "email": format!("steady.{tag}.{i}@example.com") });
        tasks.spawn(async move {
            let answer = client.post(&url).json(&body).send().await;
            let answered = Instant::now();
            let id = match answer {
                Ok(resp) if resp.status().as_u16() == 202 => resp.json::<serde_json::Value>().await.ok(),
                _ => None,
            }
            .and_then(|v| v["id"].as_u64());
            let mut shared = shared.lock().expect("not poisoned");
            let Some(id) = id else {
                shared.failed += 1;
                return;
            };
            shared.slots[i] = Slot {
                id: Some(id),
                due: Some(due.into_std()),
                answered: Some(answered),
                stored: None,
            };
            shared.waiting.insert(id, i);
        });
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    Ok(())
}

/// Every millisecond, asks which waiting ids are committed and notes when each was first seen.
async fn watch(
    pool: mysql_async::Pool,
    shared: Arc<Mutex<Shared>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> anyhow::Result<()> {
    let mut conn = pool.get_conn().await?;
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        tick.tick().await;
        let ids: Vec<u64> = shared
            .lock()
            .expect("not poisoned")
            .waiting
            .keys()
            .take(2000)
            .copied()
            .collect();
        if ids.is_empty() {
            continue;
        }
        let list = ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
        let found: Vec<u64> = conn.query(format!("SELECT id FROM users WHERE id IN ({list})")).await?;
        let seen = Instant::now();
        let mut shared = shared.lock().expect("not poisoned");
        for id in found {
            if let Some(i) = shared.waiting.remove(&id) {
                shared.slots[i].stored = Some(seen);
            }
        }
    }
    Ok(())
}

/// `created_at - accepted_at_ms` of the given users, in ms, read back from MySQL.
async fn server_side(pool: &mysql_async::Pool, ids: &[u64]) -> anyhow::Result<Vec<f64>> {
    let mut conn = pool.get_conn().await?;
    conn.query_drop("SET time_zone = '+00:00'").await?;
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(1000) {
        let list = chunk.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
        let sql = format!(
            "SELECT CAST(UNIX_TIMESTAMP(created_at) * 1000000 AS SIGNED) - accepted_at_ms * 1000 \
             FROM users WHERE id IN ({list})"
        );
        let micros: Vec<i64> = conn.query(sql).await.context("reading created_at back")?;
        out.extend(micros.into_iter().map(|us| us as f64 / 1000.0));
    }
    Ok(out)
}
