//! Hostile input end to end: names built to break SQL, HTML or Unicode handling are stored
//! and read back byte for byte, and a queue message that is not UTF-8 harms nothing else.

use std::time::Duration;

use e2e::Consumer;
use producer::testing::spawn_app;
use registry::queue::Keys;
use serde_json::{Value, json};

#[tokio::test]
async fn hostile_names_are_stored_and_returned_byte_for_byte() {
    let app = spawn_app().await;
    let names = [
        "Robert'); DROP TABLE users;--".to_owned(),
        "' OR '1'='1' -- ".trim().to_owned(),
        "\"; SELECT SLEEP(10); --".to_owned(),
        "Ada\\'s \\\"backslashes\\\\".to_owned(),
        "<script>alert('x')</script>".to_owned(),
        "<img src=x onerror=alert(1)>&amp;".to_owned(),
        "${jndi:ldap://example.com/a} %s%n%x {{7*7}}".to_owned(),
        "NULL".to_owned(),
        "\\N".to_owned(),
        "\u{202E}gnp.exe\u{202C} \u{200F}שלום\u{200E} مرحبا".to_owned(),
        "👩‍👩‍👧‍👦 🏳️‍🌈 🇺🇦 👍🏽".to_owned(),
        "Z\u{351}\u{334}\u{358}a\u{35c}l\u{340}g\u{36a}o e\u{301} n\u{303}".to_owned(),
        "\u{feff}BOM\u{200b}zero\u{2060}width\u{a0}nbsp".to_owned(),
        "漢".repeat(100),
        "𠜎".repeat(100),
        "\u{10ffff}\u{fffd}\u{fdd0}".to_owned(),
    ];
    let mut ids = Vec::new();
    for name in &names {
        let resp = app.post_user(&json!({"name": name})).await;
        assert_eq!(resp.status(), 202, "{name:?} is a valid name");
        ids.push(resp.json::<Value>().await.unwrap()["id"].as_u64().unwrap());
    }
    assert_eq!(app.drain().await, names.len(), "the consumer takes every one");
    for (name, id) in names.iter().zip(&ids) {
        for source in ["database", "cache"] {
            let (status, user) = app.get_json(&format!("/api/users/{id}")).await;
            assert_eq!((status, user["source"].as_str()), (200, Some(source)));
            assert_eq!(user["name"].as_str(), Some(name.as_str()), "read from the {source}");
        }
    }
    let (_, page) = app.get_json("/api/users?limit=100").await;
    let listed: Vec<&str> = page["users"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert_eq!(listed, names.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(app.stored_count().await, names.len() as u64, "the table is intact");
    app.cleanup().await;
}

#[tokio::test]
async fn a_queue_message_that_is_not_utf8_is_dead_lettered_and_the_rest_stored() {
    let app = spawn_app().await;
    let mut conn = app.redis().await;
    let queue = Keys::new(&app.config.redis.key_prefix).queue();
    let _: () = redis::cmd("LPUSH")
        .arg(&queue)
        .arg(&b"{\"v\":1,\"id\":7,\"name\":\"\xff\"}"[..])
        .query_async(&mut conn)
        .await
        .unwrap();
    for i in 0..3 {
        app.add_user(&format!("after the poison {i}"), None).await;
    }
    let mut pipeline = app.pipeline().await;
    let drained = pipeline
        .drain(Duration::from_millis(100), &tokio_util::sync::CancellationToken::new())
        .await;
    assert!(drained.is_ok(), "a poison message must not stop the batch: {drained:?}");
    let stats = app.state.monitor.stats().await.unwrap();
    assert_eq!(app.stored_count().await, 3, "the good messages are stored");
    assert_eq!(
        (stats.pending, stats.processing, stats.dead),
        (0, 0, 1),
        "the bad one is a dead letter"
    );
    app.cleanup().await;
}
