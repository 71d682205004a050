//! Redis and MySQL going away, and coming back empty.

use serde_json::{Value, json};

use e2e::{Consumer, post_named, stored_named};
use producer::testing::{Options, spawn_app_with};
use registry::testing::RedisServer;

#[tokio::test]
async fn a_post_while_redis_is_down_answers_503_and_queues_nothing() {
    let mut redis = RedisServer::start();
    let app = spawn_app_with(Options {
        redis_url: Some(redis.url()),
        ..Default::default()
    })
    .await;
    app.add_user("before", None).await;
    redis.stop();
    let resp = app.post_user(&json!({"name": "during the outage"})).await;
    assert_eq!(resp.status(), 503);
    assert!(resp.headers().get("retry-after").is_some(), "503 carries Retry-After");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "unavailable");
    let (status, ready) = app.get_json("/health/ready").await;
    assert_eq!(
        (status, ready["redis"].as_str(), ready["mysql"].as_str()),
        (503, Some("unreachable"), Some("ok"))
    );
    assert!(
        ready["message"].as_str().unwrap().contains("Redis"),
        "readiness names what failed"
    );
    redis.start_again();
    // Wait for the connection manager to reconnect.
    for _ in 0..50 {
        if app.get_json("/health/ready").await.0 == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let stats = app.state.monitor.stats().await.unwrap();
    assert_eq!(stats.pending, 1, "only the user accepted before the outage is queued");
    app.cleanup().await;
}

#[tokio::test]
async fn reads_answer_from_mysql_while_redis_is_down() {
    let mut redis = RedisServer::start();
    let app = spawn_app_with(Options {
        redis_url: Some(redis.url()),
        ..Default::default()
    })
    .await;
    let id = app.add_user("Durable", None).await;
    app.drain().await;
    assert_eq!(app.get_json(&format!("/api/users/{id}")).await.1["source"], "database");
    assert_eq!(app.get_json(&format!("/api/users/{id}")).await.1["source"], "cache");
    redis.stop();
    let (status, user) = app.get_json(&format!("/api/users/{id}")).await;
    assert_eq!(
        (status, user["source"].as_str(), user["name"].as_str()),
        (200, Some("database"), Some("Durable"))
    );
    let (status, _) = app.get_json("/api/users/424242").await;
    assert_eq!(
        status, 503,
        "an unknown id cannot be told from a queued one while Redis is down"
    );
    redis.start_again();
    app.cleanup().await;
}

#[tokio::test]
async fn ids_are_never_reused_when_redis_comes_back_empty() {
    let mut redis = RedisServer::start();
    let app = spawn_app_with(Options {
        redis_url: Some(redis.url()),
        ..Default::default()
    })
    .await;
    let mut before = Vec::new();
    for i in 0..20 {
        before.push(app.add_user(&format!("before {i}"), None).await);
    }
    app.drain().await;
    redis.restart_empty();
    let mut after = Vec::new();
    for i in 0..20 {
        let (status, body) = app
            .post_until_redis_answers(&json!({"name": format!("after {i}")}))
            .await;
        assert_eq!(status, 202, "the producer recovers after Redis restarts: {body}");
        after.push(body["id"].as_u64().expect("a 202 carries the id"));
    }
    let highest_before = *before.iter().max().unwrap();
    assert!(
        after.iter().all(|id| *id > highest_before),
        "every new id is above every old one"
    );
    app.drain().await;
    assert_eq!(app.stored_count().await, 40, "no stored user was overwritten");
    let (_, first) = app.get_json(&format!("/api/users/{}", before[0])).await;
    assert_eq!(first["name"], "before 0");
    app.cleanup().await;
}

#[tokio::test]
async fn a_503_while_redis_is_frozen_is_never_a_lie_and_never_stores_a_user_twice() {
    let redis = RedisServer::start();
    let app = spawn_app_with(Options {
        redis_url: Some(redis.url()),
        ..Default::default()
    })
    .await;
    app.add_user("before", None).await;
    let url = app.url("/api/users");

    // Frozen with the enqueue sent, and for longer than the producer asks: it cannot know,
    // and says so. (Redis runs the enqueue once it goes on.)
    redis.pause();
    let (status, body) = post_named(url.clone(), None, "Frozen").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (503, Some("outcome_unknown")),
        "{body}"
    );
    // With a key, the key is looked up first: that lookup gets no answer, nothing is sent.
    let (status, body) = post_named(url.clone(), Some("keyed"), "Keyed").await;
    assert_eq!((status, body["error"].as_str()), (503, Some("unavailable")), "{body}");
    redis.resume();

    // Frozen for less than the producer keeps asking: it learns what became of the enqueue.
    // (Had its question reached Redis first, the enqueue would have been abandoned: then a
    // 503 that queued nothing.)
    redis.pause();
    let late = tokio::spawn(post_named(url.clone(), None, "Late"));
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    redis.resume();
    let (late_status, late_body) = late.await.unwrap();
    assert!(
        late_status == 202 || (late_status == 503 && late_body["error"] == "unavailable"),
        "{late_status} {late_body}"
    );
    // The keyed user's retry is its first enqueue.
    let (status, body) = post_named(url.clone(), Some("keyed"), "Keyed").await;
    assert_eq!(status, 202, "{body}");

    app.drain().await;
    assert!(
        stored_named(&app, "Frozen").await <= 1,
        "an unknown outcome is never doubled"
    );
    assert_eq!(stored_named(&app, "Keyed").await, 1);
    assert_eq!(
        stored_named(&app, "Late").await,
        u64::from(late_status == 202),
        "a 202 is stored, a 503 queued nothing"
    );
    app.cleanup().await;
}
