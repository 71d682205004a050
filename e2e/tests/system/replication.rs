//! Replica-acknowledged acceptance (`REDIS_REPLICA_ACKS`): a `202` only once a replica holds
//! the user, a `503 not_replicated` when none confirms in time.

use std::time::{Duration, Instant};

use e2e::{Consumer, post_named, post_until_accepted, stored_named};

/// How long a client keeps retrying a refused user.
const WITHIN: Duration = Duration::from_secs(10);
use producer::testing::{Options, spawn_app_with};
use registry::testing::{MovingEndpoint, RedisServer};

#[tokio::test]
async fn a_202_waits_for_a_replica_and_a_stalled_replica_answers_not_replicated_without_a_second_user() {
    let primary = RedisServer::start();
    let replica = RedisServer::start_replica_of(&primary);
    primary.wait_replicas(1);
    let app = spawn_app_with(Options {
        redis_url: Some(primary.url()),
        replica_acks: 1,
        replica_ack_timeout_ms: Some(300),
        ..Default::default()
    })
    .await;
    let url = app.url("/api/users");

    let (status, body) = post_named(url.clone(), Some("held"), "Held").await;
    assert_eq!(status, 202, "{body}");
    let id = body["id"].as_u64().unwrap();
    // The 202 came after the replica had the message: it is there now, without waiting.
    let replica_client = redis::Client::open(replica.url()).unwrap();
    let mut on_replica = replica_client.get_multiplexed_async_connection().await.unwrap();
    let pending: Option<String> = redis::cmd("HGET")
        .arg(app.keys().pending())
        .arg(id)
        .query_async(&mut on_replica)
        .await
        .unwrap();
    assert!(pending.is_some(), "the replica holds user {id} once it is answered 202");

    // The replica stalls: the user is queued on the primary, but nothing confirms it.
    replica.pause();
    let started = Instant::now();
    let (status, body) = post_named(url.clone(), Some("unconfirmed"), "Unconfirmed").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (503, Some("not_replicated")),
        "{body}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "answered after the ack timeout, not a response timeout: {:?}",
        started.elapsed()
    );
    replica.resume();
    // The primary kept it: the retry with the same key answers its id and queues nothing new.
    let (status, retried) = post_named(url.clone(), Some("unconfirmed"), "Unconfirmed").await;
    assert_eq!(status, 202, "{retried}");
    let message = body["message"].as_str().unwrap();
    let retried_id = retried["id"].as_u64().unwrap();
    assert!(
        message.contains(&retried_id.to_string()),
        "the 503 named the id: {message}"
    );

    app.drain().await;
    assert_eq!(stored_named(&app, "Held").await, 1);
    assert_eq!(stored_named(&app, "Unconfirmed").await, 1, "one user for one key");
    app.cleanup().await;
}

#[tokio::test]
async fn replays_during_a_replica_stall_share_one_wait_instead_of_queueing_one_each() {
    const REPLAYS: usize = 20;
    let primary = RedisServer::start();
    let replica = RedisServer::start_replica_of(&primary);
    primary.wait_replicas(1);
    let app = spawn_app_with(Options {
        redis_url: Some(primary.url()),
        replica_acks: 1,
        replica_ack_timeout_ms: Some(300),
        ..Default::default()
    })
    .await;
    let url = app.url("/api/users");
    for i in 0..REPLAYS {
        let (status, body) = post_named(url.clone(), Some(&format!("replayed-{i}")), "Replayed").await;
        assert_eq!(status, 202, "{body}");
    }

    // Every retry of a known key asks whether replicas hold everything so far (a fence and a
    // WAIT). While the replica stalls, each WAIT blocks for its whole timeout: one per replay
    // would answer them one after another.
    replica.pause();
    command(&primary.url(), &["CONFIG", "RESETSTAT"]).await;
    let mut replays = tokio::task::JoinSet::new();
    for i in 0..REPLAYS {
        let url = url.clone();
        replays.spawn(async move { post_named(url, Some(&format!("replayed-{i}")), "Replayed").await });
    }
    let answers = replays.join_all().await;
    let waits = calls(&primary.url(), "wait").await;
    replica.resume();
    assert!(
        waits <= 3,
        "{REPLAYS} concurrent replays sent {waits} WAITs; they must share them"
    );
    for (status, body) in &answers {
        assert_eq!(
            (*status, body["error"].as_str()),
            (503, Some("not_replicated")),
            "each replay answered after the ack timeout: {body}"
        );
    }
    app.drain().await;
    assert_eq!(stored_named(&app, "Replayed").await, REPLAYS as u64);
    app.cleanup().await;
}

/// How many times the server at `url` ran `command` since its statistics were last reset.
async fn calls(url: &str, command: &str) -> u64 {
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut conn)
        .await
        .unwrap();
    let line = format!("cmdstat_{command}:calls=");
    info.lines()
        .find_map(|l| l.strip_prefix(&line))
        .map_or(0, |rest| rest.split(',').next().unwrap().parse().unwrap())
}

/// Sends one command to the server at `url`.
async fn command(url: &str, args: &[&str]) {
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: redis::Value = redis::cmd(args[0])
        .arg(&args[1..])
        .query_async(&mut conn)
        .await
        .unwrap();
}

#[tokio::test]
async fn through_an_endpoint_that_follows_the_primary_both_binaries_move_to_the_new_one() {
    let old = RedisServer::start();
    let new = RedisServer::start_replica_of(&old);
    old.wait_replicas(1);
    let endpoint = MovingEndpoint::start(old.port()).await;
    let app = spawn_app_with(Options {
        redis_url: Some(endpoint.url()),
        replica_acks: 1,
        ..Default::default()
    })
    .await;
    let url = app.url("/api/users");
    // The consumer's pipeline is made now, so that it too holds sockets to the old primary.
    let mut pipeline = app.pipeline().await;
    let cancel = tokio_util::sync::CancellationToken::new();
    for i in 0..10 {
        assert_eq!(
            post_until_accepted(&url, &format!("before-{i}"), "Before", WITHIN)
                .await
                .1,
            0
        );
    }
    assert_eq!(pipeline.drain(Duration::from_millis(100), &cancel).await.unwrap(), 10);
    for i in 10..20 {
        post_until_accepted(&url, &format!("before-{i}"), "Before", WITHIN).await;
    }

    // The failover: the replica is promoted, the old primary becomes its replica (it now
    // answers READONLY to writes), and the endpoint leads new connections to the new one.
    command(&new.url(), &["REPLICAOF", "NO", "ONE"]).await;
    command(&old.url(), &["REPLICAOF", "127.0.0.1", &new.port().to_string()]).await;
    endpoint.point_to(new.port());
    new.wait_replicas(1);

    let mut refused = 0;
    for i in 0..10 {
        refused += post_until_accepted(&url, &format!("after-{i}"), "After", WITHIN)
            .await
            .1;
    }
    assert!(
        refused <= 2,
        "only the first attempts meet the demoted primary: {refused} refused"
    );
    // The consumer's first take may meet the demoted primary (its binary retries such a take;
    // here the test does): it must then reach the new one.
    let started = Instant::now();
    let mut drained = 0;
    while drained < 20 {
        match pipeline.drain(Duration::from_millis(100), &cancel).await {
            Ok(n) => drained += n,
            Err(err) => assert!(started.elapsed() < Duration::from_secs(30), "still failing: {err}"),
        }
    }
    assert_eq!(
        drained, 20,
        "the ten users of before the failover (confirmed by the replica) and ten after"
    );
    assert_eq!(stored_named(&app, "Before").await, 20);
    assert_eq!(stored_named(&app, "After").await, 10);
    app.cleanup().await;
}
