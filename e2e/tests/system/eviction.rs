//! A Redis full to its `maxmemory` (`volatile-lru`): the cache of stored users gives way, never
//! the queue, the pending entries or the idempotency records.

use mysql_async::prelude::Queryable;
use redis::aio::MultiplexedConnection;
use tokio::task::JoinSet;

use e2e::{Consumer, post_named};
use producer::testing::{Options, TestApp, spawn_app_with};
use registry::testing::RedisServer;

/// Users stored behind the queue's back, each cached (about 400 bytes) once read.
const STORED: u64 = 20_000;
/// Users POSTed with an `Idempotency-Key` before Redis fills up.
const KEYED_BEFORE: u64 = 1_000;
/// Room above Redis's memory once the keyed users are queued: a few thousand cached users.
const ROOM: u64 = 2 * 1024 * 1024;

async fn info_field(redis: &mut MultiplexedConnection, section: &str, field: &str) -> u64 {
    let info: String = redis::cmd("INFO").arg(section).query_async(redis).await.unwrap();
    info.lines()
        .find_map(|line| line.strip_prefix(&format!("{field}:")))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in INFO {section}"))
}

/// Bytes of every idempotency record's key, whatever their layout, and how many keys hold them.
async fn idempotency_memory(app: &TestApp, redis: &mut MultiplexedConnection) -> (u64, usize) {
    let pattern = format!("{}:idem*", app.keys().tag());
    let keys: Vec<String> = redis::cmd("KEYS").arg(pattern).query_async(redis).await.unwrap();
    let mut bytes = 0;
    for key in &keys {
        let usage: u64 = redis::cmd("MEMORY")
            .arg("USAGE")
            .arg(key)
            .arg("SAMPLES")
            .arg(0)
            .query_async(redis)
            .await
            .unwrap();
        bytes += usage;
    }
    (bytes, keys.len())
}

/// Inserts [`STORED`] users with ids 1 to STORED, names and emails as long as allowed.
async fn store_directly(app: &TestApp) {
    let mut mysql = mysql_async::Conn::from_url(app.config.mysql.mysql_url.as_str())
        .await
        .unwrap();
    let name = "n".repeat(100);
    for first in (1..=STORED).step_by(1_000) {
        let rows: Vec<String> = (first..first + 1_000)
            .map(|id| {
                let email = format!("{id}.{}@example.com", "e".repeat(200));
                format!("({id}, '{name}', '{email}', '{email}', 'direct', 0, UTC_TIMESTAMP(6))")
            })
            .collect();
        mysql
            .query_drop(format!(
                "INSERT INTO users (id, name, email, email_key, request_id, accepted_at_ms, created_at) VALUES {}",
                rows.join(",")
            ))
            .await
            .unwrap();
    }
}

/// POSTs `count` users, each with the `Idempotency-Key` `{label}-N`, 8 at a time; their ids.
async fn post_keyed(app: &TestApp, label: &str, count: u64) -> Vec<(String, u64)> {
    let mut posts = JoinSet::new();
    for worker in 0..8 {
        let (url, label) = (app.url("/api/users"), label.to_owned());
        posts.spawn(async move {
            let mut ids = Vec::new();
            for n in (worker..count).step_by(8) {
                let key = format!("{label}-{n}");
                let (status, body) = post_named(url.clone(), Some(&key), &key).await;
                assert_eq!(status, 202, "{key}: {body}");
                ids.push((key, body["id"].as_u64().unwrap()));
            }
            ids
        });
    }
    posts.join_all().await.concat()
}

/// Reads users `ids` through the producer, 16 at a time: each read from MySQL is cached.
async fn read_all(app: &TestApp, ids: std::ops::Range<u64>) {
    let mut reads = JoinSet::new();
    for worker in 0..16 {
        let (base, ids) = (app.url("/api/users/"), ids.clone());
        reads.spawn(async move {
            let http = reqwest::Client::new();
            for id in ids.skip(worker).step_by(16) {
                let resp = http.get(format!("{base}{id}")).send().await.unwrap();
                assert_eq!(resp.status(), 200, "user {id}");
            }
        });
    }
    reads.join_all().await;
}

#[tokio::test]
async fn a_full_redis_evicts_cached_users_and_keeps_every_queued_message_and_idempotency_record() {
    let redis_server = RedisServer::start();
    let app = spawn_app_with(Options {
        redis_url: Some(redis_server.url()),
        ..Default::default()
    })
    .await;
    let mut redis = app.redis().await;
    let policy: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("maxmemory-policy")
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(policy[1], "volatile-lru", "the test servers evict as deployed");
    store_directly(&app).await;
    let mut accepted = post_keyed(&app, "before", KEYED_BEFORE).await;
    let (bytes, keys) = idempotency_memory(&app, &mut redis).await;
    let per_record = bytes / KEYED_BEFORE;
    assert!(
        per_record < 150,
        "{bytes} bytes in {keys} keys for {KEYED_BEFORE} records: {per_record} each"
    );

    let used = info_field(&mut redis, "memory", "used_memory").await;
    let () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg(used + ROOM)
        .query_async(&mut redis)
        .await
        .unwrap();
    for round in 0..10 {
        accepted.extend(post_keyed(&app, &format!("during-{round}"), 16).await);
        let first = 1 + round * STORED / 10;
        read_all(&app, first..first + STORED / 10).await;
    }
    let evicted = info_field(&mut redis, "stats", "evicted_keys").await;
    assert!(evicted > 0, "the cache filled Redis to its maxmemory");

    // Every key answers its first id, queueing nothing new; every message is still queued.
    let mut retries = JoinSet::new();
    for chunk in accepted.chunks(accepted.len().div_ceil(8)) {
        let (url, chunk) = (app.url("/api/users"), chunk.to_vec());
        retries.spawn(async move {
            let mut forgotten = Vec::new();
            for (key, id) in chunk {
                let (status, body) = post_named(url.clone(), Some(&key), &key).await;
                assert_eq!(status, 202, "{key}: {body}");
                if body["id"].as_u64() != Some(id) {
                    forgotten.push(key);
                }
            }
            forgotten
        });
    }
    let forgotten = retries.join_all().await.concat();
    assert!(
        forgotten.is_empty(),
        "{} of {} keys forgotten after {evicted} evictions, e.g. {:?}",
        forgotten.len(),
        accepted.len(),
        forgotten.first()
    );
    let stats = app.state.monitor.stats().await.unwrap();
    let entries: u64 = redis::cmd("HLEN")
        .arg(app.keys().pending())
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(
        (stats.pending, entries),
        (accepted.len() as u64, accepted.len() as u64),
        "every message is queued, with its pending entry"
    );
    assert_eq!(app.drain().await, accepted.len(), "every message is still queued");
    let stored = app.stored_count().await - STORED;
    assert_eq!(
        stored,
        accepted.len() as u64,
        "lost: {}",
        accepted.len() as u64 - stored
    );
    app.cleanup().await;
}
