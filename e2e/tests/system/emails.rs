//! The duplicate-email check answered by Redis: a filter of the accepted emails, kept by the
//! enqueue script, loaded from MySQL once, and confirmed with MySQL when it may hold an
//! address (see `registry::email_loader`).

use std::time::Duration;

use mysql_async::prelude::Queryable;
use redis::AsyncCommands;
use registry::email_loader::Loaded;
use registry::testing::{MariaDb, RedisServer};
use serde_json::{Value, json};

use e2e::Consumer;
use producer::testing::{Options, TestApp, spawn_app, spawn_app_with};

async fn listed(app: &TestApp, email_key: &str) -> bool {
    app.email_index().might_hold(email_key).await.unwrap()
}

/// Waits until the set of stored emails is marked complete.
async fn wait_loaded(app: &TestApp) {
    for _ in 0..100 {
        if app.email_index().emails_loaded().await.unwrap_or(false) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the stored emails were never marked loaded");
}

#[tokio::test]
async fn the_enqueue_lists_each_accepted_email_and_the_stored_ones_are_loaded_from_mysql() {
    let app = spawn_app().await;
    wait_loaded(&app).await; // an empty database: nothing to load, marked at once
    for i in 0..5 {
        app.add_user(&format!("Early {i}"), Some(&format!("Early.{i}@Example.com")))
            .await;
    }
    app.add_user("No email", None).await;
    assert!(
        listed(&app, "early.3@example.com").await,
        "listed with its push, lower-cased"
    );
    app.drain().await;
    // As after an upgrade from a version without the set: users in MySQL, none in Redis.
    let keys = app.keys();
    let () = app
        .redis()
        .await
        .del(&[keys.email_filter(), keys.email_filter_loaded()])
        .await
        .unwrap();
    assert_eq!(app.email_loader().await.load().await.unwrap(), Loaded::Done(5));
    assert!(app.email_index().emails_loaded().await.unwrap());
    for i in 0..5 {
        assert!(listed(&app, &format!("early.{i}@example.com")).await);
    }
    assert_eq!(app.email_loader().await.load().await.unwrap(), Loaded::Already);
    let resp = app
        .post_user(&json!({"name": "Copy", "email": "EARLY.0@example.com"}))
        .await;
    assert_eq!(resp.status(), 409);
    // A row written behind the queue's back is not in the set: once the set is complete,
    // Redis answers alone and MySQL is not asked (the consumer would refuse the duplicate).
    let mut mysql = mysql_async::Conn::from_url(app.config.mysql.mysql_url.as_str())
        .await
        .unwrap();
    mysql
        .query_drop(
            "INSERT INTO users (id, name, email, email_key, request_id, accepted_at_ms, created_at) \
             VALUES (7, 'By hand', 'hand@example.com', 'hand@example.com', 'by-hand', 0, UTC_TIMESTAMP(6))",
        )
        .await
        .unwrap();
    let resp = app
        .post_user(&json!({"name": "Twin", "email": "hand@example.com"}))
        .await;
    assert_eq!(resp.status(), 202, "not asked of MySQL, which would have said 409");
    app.cleanup().await;
}

#[tokio::test]
async fn an_email_listed_while_its_user_is_still_queued_is_accepted_and_the_consumer_refuses_one() {
    let app = spawn_app().await;
    wait_loaded(&app).await;
    let first = app.add_user("First", Some("twice@example.com")).await;
    let second = app.add_user("Second", Some("Twice@example.com")).await;
    assert_ne!(
        first, second,
        "listed but not stored: MySQL says it is free, so it is queued"
    );
    app.drain().await;
    assert_eq!(app.stored_count().await, 1);
    let (_, refused) = app.get_json(&format!("/api/users/{second}")).await;
    assert_eq!(refused["status"], "rejected", "{refused}");
    app.cleanup().await;
}

#[tokio::test]
async fn a_redis_that_came_back_empty_has_mysql_answer_until_the_emails_are_loaded_again() {
    let mut redis_server = RedisServer::start();
    let app = spawn_app_with(Options {
        redis_url: Some(redis_server.url()),
        ..Default::default()
    })
    .await;
    app.add_user("Grace", Some("grace@example.com")).await;
    app.drain().await;
    wait_loaded(&app).await;
    redis_server.restart_empty();
    let (status, body) = app
        .post_until_redis_answers(&json!({"name": "Again", "email": "Grace@example.com"}))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("email_taken")),
        "MySQL answered: {body}"
    );
    wait_loaded(&app).await; // the request had the producer load them again
    assert!(listed(&app, "grace@example.com").await);
    app.cleanup().await;
}

#[tokio::test]
async fn an_email_listed_in_redis_whose_row_was_deleted_by_hand_is_accepted_again() {
    let app = spawn_app().await;
    let id = app.add_user("Gone", Some("gone@example.com")).await;
    app.drain().await;
    assert!(listed(&app, "gone@example.com").await);
    let mut mysql = mysql_async::Conn::from_url(app.config.mysql.mysql_url.as_str())
        .await
        .unwrap();
    mysql.exec_drop("DELETE FROM users WHERE id = ?", (id,)).await.unwrap();
    let resp = app
        .post_user(&json!({"name": "Back", "email": "gone@example.com"}))
        .await;
    assert_eq!(resp.status(), 202, "MySQL confirms a listed email before a 409");
    app.drain().await;
    assert_eq!(app.stored_count().await, 1);
    app.cleanup().await;
}

#[tokio::test]
async fn once_loaded_redis_answers_the_check_alone_and_a_listed_email_waits_for_mysql() {
    let mut mysql = MariaDb::start();
    let app = spawn_app_with(Options {
        mysql_base: Some(mysql.url("")),
        ..Default::default()
    })
    .await;
    app.add_user("Kept", Some("kept@example.com")).await;
    app.drain().await;
    wait_loaded(&app).await;
    mysql.stop();
    let resp = app.post_user(&json!({"name": "New", "email": "new@example.com"})).await;
    assert_eq!(resp.status(), 202, "an email never accepted is queued without MySQL");
    let copy = app
        .post_user(&json!({"name": "Copy", "email": "KEPT@example.com"}))
        .await;
    assert_eq!(
        copy.status(),
        202,
        "a listed one cannot be confirmed: queued for the consumer to judge"
    );
    let copy: Value = copy.json().await.unwrap();
    mysql.start_again();
    app.drain().await;
    let (_, refused) = app.get_json(&format!("/api/users/{}", copy["id"])).await;
    assert_eq!(refused["status"], "rejected", "{refused}");
    assert_eq!(app.stored_count().await, 2, "Kept and New");
    app.cleanup().await;
}

#[tokio::test]
async fn a_load_runs_alone_and_one_that_lost_its_lock_marks_nothing() {
    let app = spawn_app().await;
    wait_loaded(&app).await;
    let (queue, keys) = (app.email_index(), app.keys());
    let lease = Duration::from_secs(60);
    let () = app.redis().await.del(keys.email_filter_loaded()).await.unwrap();
    assert!(queue.lock_emails_load("first", lease).await.unwrap());
    assert!(!queue.lock_emails_load("second", lease).await.unwrap());
    assert_eq!(app.email_loader().await.load().await.unwrap(), Loaded::Elsewhere);
    // Redis loses the lock (it expired, or Redis came back empty) while "first" loads.
    let () = app.redis().await.del(keys.email_filter_loading()).await.unwrap();
    let page = vec!["a@example.com".to_owned()];
    assert!(!queue.add_loaded_emails("first", lease, &page).await.unwrap());
    assert!(!listed(&app, "a@example.com").await, "nothing added without the lock");
    assert!(!queue.end_emails_load("first", true).await.unwrap());
    assert!(!queue.emails_loaded().await.unwrap(), "nothing marked without the lock");
    assert_eq!(app.email_loader().await.load().await.unwrap(), Loaded::Done(0));
    assert!(queue.emails_loaded().await.unwrap());
    app.cleanup().await;
}

#[tokio::test]
async fn an_email_already_stored_answers_409_whatever_its_case() {
    let app = spawn_app().await;
    app.add_user("Ada", Some("Ada@Example.com")).await;
    app.drain().await;
    let resp = app
        .post_user(&json!({"name": "Imposter", "email": "ada@example.COM"}))
        .await;
    let status = resp.status().as_u16();
    let json: Value = resp.json().await.expect("errors are JSON");
    assert_eq!(
        (status, json["error"].as_str(), json["field"].as_str()),
        (409, Some("email_taken"), Some("email"))
    );
    app.cleanup().await;
}

#[tokio::test]
async fn the_filter_never_forgets_an_email_rarely_lists_a_new_one_and_costs_under_4_bytes_each() {
    // More than the first layer (2^23 bits, 699,050 emails) holds, and enough that its fixed
    // MiB and the MiB Redis reserves when a string grows weigh as they would at scale.
    const LOADED: usize = 1_500_000;
    const NEW: usize = 5_000;
    let app = spawn_app().await;
    wait_loaded(&app).await;
    let (index, keys) = (app.email_index(), app.keys());
    let mut redis = app.redis().await;
    // As after an upgrade from the version with a set of every email.
    let [legacy_set, legacy_loaded] = keys.legacy_email_set();
    let () = redis.sadd(&legacy_set, "old@example.com").await.unwrap();
    let () = redis.set(&legacy_loaded, "1").await.unwrap();
    let () = redis.del(keys.email_filter_loaded()).await.unwrap();

    let lease = Duration::from_secs(60);
    assert!(index.lock_emails_load("test", lease).await.unwrap());
    let emails: Vec<String> = (0..LOADED).map(|i| format!("stored.{i}@example.com")).collect();
    for page in emails.chunks(5000) {
        assert!(index.add_loaded_emails("test", lease, page).await.unwrap());
    }
    assert!(index.end_emails_load("test", true).await.unwrap());

    for email in emails.iter().step_by(LOADED / NEW) {
        assert!(
            index.might_hold(email).await.unwrap(),
            "{email} was added: never forgotten"
        );
    }
    let mut listed = 0;
    for i in 0..NEW {
        listed += usize::from(index.might_hold(&format!("new.{i}@example.com")).await.unwrap());
    }
    assert!(
        listed * 100 < NEW * 2,
        "{listed} of {NEW} new emails taken for listed: more than 2 %"
    );
    let bytes: usize = redis::cmd("MEMORY")
        .arg("USAGE")
        .arg(keys.email_filter())
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(
        bytes <= 4 * LOADED,
        "the filter of {LOADED} emails takes {bytes} bytes: more than 4 per email"
    );
    let left: usize = redis.exists(&[&legacy_set, &legacy_loaded]).await.unwrap();
    assert_eq!(
        left, 0,
        "the set of earlier versions is dropped once the filter is loaded"
    );
    app.cleanup().await;
}
