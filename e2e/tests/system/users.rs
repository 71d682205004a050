//! The happy paths of every route.

use serde_json::{Value, json};

use e2e::Consumer;
use producer::testing::spawn_app;

#[tokio::test]
async fn a_posted_user_reads_pending_then_stored_from_database_then_from_cache() {
    let app = spawn_app().await;
    let resp = app
        .post_user(&json!({"name": "  Ada Lovelace ", "email": "ada@example.com"}))
        .await;
    assert_eq!(resp.status(), 202);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = resp.json().await.unwrap();
    let id = body["id"].as_u64().unwrap();
    assert_eq!(body["status"], "queued");
    assert_eq!(location, format!("/api/users/{id}"));

    let (status, pending) = app.get_json(&location).await;
    assert_eq!(
        (status, pending["status"].as_str(), pending["source"].as_str()),
        (200, Some("pending"), Some("queue"))
    );
    assert_eq!(pending["name"], "Ada Lovelace", "the name is trimmed");

    assert_eq!(app.drain().await, 1);
    let (_, stored) = app.get_json(&location).await;
    assert_eq!(
        (stored["status"].as_str(), stored["source"].as_str()),
        (Some("stored"), Some("database"))
    );
    assert_eq!(stored["email"], "ada@example.com");
    assert!(stored["created_at"].as_str().unwrap().ends_with('Z'));
    let (_, cached) = app.get_json(&location).await;
    assert_eq!(cached["source"], "cache", "a database read fills the cache");
    assert_eq!(cached["name"], "Ada Lovelace");
    app.cleanup().await;
}

#[tokio::test]
async fn ids_grow_and_users_are_listed_newest_first_in_pages() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(app.add_user(&format!("user {i}"), None).await);
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids grow: {ids:?}");
    app.drain().await;
    let (status, page) = app.get_json("/api/users?limit=2").await;
    assert_eq!(status, 200);
    let got: Vec<u64> = page["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_u64().unwrap())
        .collect();
    assert_eq!(got, vec![ids[4], ids[3]]);
    let next = page["next"].as_u64().unwrap();
    let (_, page2) = app.get_json(&format!("/api/users?limit=2&before={next}")).await;
    let got2: Vec<u64> = page2["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_u64().unwrap())
        .collect();
    assert_eq!(got2, vec![ids[2], ids[1]]);
    let (_, last) = app.get_json(&format!("/api/users?limit=2&before={}", ids[1])).await;
    assert_eq!(last["users"].as_array().unwrap().len(), 1);
    assert_eq!(last["next"], Value::Null, "the last page has no next");
    app.cleanup().await;
}

#[tokio::test]
async fn stats_count_stored_users_the_queue_and_name_the_host() {
    let app = spawn_app().await;
    app.add_user("first", None).await;
    let (status, before) = app.get_json("/api/stats").await;
    assert_eq!(status, 200);
    assert_eq!(
        (before["users"].as_u64(), before["queue"]["pending"].as_u64()),
        (Some(0), Some(1))
    );
    assert_eq!(before["latest"], Value::Null);
    app.drain().await;
    // One read answers for a second: the stored user shows within that.
    let after = app.stats_showing(|s| s["users"] == 1).await;
    assert_eq!(
        (after["users"].as_u64(), after["queue"]["pending"].as_u64()),
        (Some(1), Some(0))
    );
    assert_eq!(after["latest"]["name"], "first");
    assert_eq!(after["queue"]["processing"], 0);
    assert_eq!(after["queue"]["dead"], 0);
    assert!(after["consumers"].is_u64());
    assert_eq!(after["host"].as_str(), Some(registry::hostname().as_str()));
    app.cleanup().await;
}

#[tokio::test]
async fn health_names_the_host_and_readiness_checks_both_servers() {
    let app = spawn_app().await;
    let (status, live) = app.get_json("/health/live").await;
    assert_eq!((status, live["status"].as_str()), (200, Some("ok")));
    assert_eq!(live["host"].as_str(), Some(registry::hostname().as_str()));
    let (status, ready) = app.get_json("/health/ready").await;
    assert_eq!(
        (status, ready["redis"].as_str(), ready["mysql"].as_str()),
        (200, Some("ok"), Some("ok"))
    );
    app.cleanup().await;
}

#[tokio::test]
async fn the_openapi_document_swagger_ui_and_page_are_served() {
    let app = spawn_app().await;
    let (status, spec) = app.get_json("/api/openapi.json").await;
    assert_eq!(status, 200);
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/users",
        "/api/users/{id}",
        "/api/stats",
        "/health/live",
        "/health/ready",
    ] {
        assert!(spec["paths"].get(path).is_some(), "the document describes {path}");
    }
    let docs = app.http.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(docs.status(), 200);
    assert!(docs.text().await.unwrap().to_lowercase().contains("swagger"));
    let page = app.http.get(app.url("/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'self'")
    );
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");
    app.cleanup().await;
}

#[tokio::test]
async fn a_retry_with_the_same_idempotency_key_answers_the_same_id_and_stores_one_user() {
    let app = spawn_app().await;
    let send = |body: Value| {
        app.http
            .post(app.url("/api/users"))
            .header("Idempotency-Key", "retry-42")
            .json(&body)
            .send()
    };
    let first: Value = send(json!({"name": "Grace", "email": "grace@example.com"}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let again = send(json!({"name": "Grace", "email": "grace@example.com"}))
        .await
        .unwrap();
    assert_eq!(again.status(), 202);
    let again: Value = again.json().await.unwrap();
    assert_eq!(first["id"], again["id"], "same key, same id");
    app.drain().await;
    let stored_retry = send(json!({"name": "Grace", "email": "grace@example.com"}))
        .await
        .unwrap();
    assert_eq!(
        stored_retry.status(),
        202,
        "a known key is answered before the duplicate-email check"
    );
    assert_eq!(app.stored_count().await, 1, "one user stored");
    let other = send(json!({"name": "Someone else"})).await.unwrap();
    assert_eq!(other.status(), 422, "a key reused with another body is refused");
    let body: Value = other.json().await.unwrap();
    assert_eq!(body["error"], "idempotency_key_reused");
    app.cleanup().await;
}

#[tokio::test]
async fn cors_answers_configured_origins_only() {
    let app = producer::testing::spawn_app_with(producer::testing::Options {
        cors: vec!["https://app.example"],
        ..Default::default()
    })
    .await;
    let preflight = |origin: &'static str| {
        app.http
            .request(reqwest::Method::OPTIONS, app.url("/api/users"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .send()
    };
    let allowed = preflight("https://app.example").await.unwrap();
    assert_eq!(
        allowed
            .headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap()),
        Some("https://app.example")
    );
    let refused = preflight("https://evil.example").await.unwrap();
    assert!(
        refused.headers().get("access-control-allow-origin").is_none(),
        "an unknown origin gets no CORS grant"
    );
    app.cleanup().await;
}

/// Concurrent requests share script runs and email queries (see `AppState::new`); each must
/// still get exactly the answer it would get alone.
#[tokio::test]
async fn concurrent_posts_sharing_a_batch_each_get_their_own_answer() {
    let app = spawn_app().await;
    app.add_user("Stored first", Some("taken@example.com")).await;
    app.drain().await;
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..60 {
        let (body, key) = match i % 6 {
            // Ten requests with one key and one body: one user, one id.
            0 => (
                json!({"name": "Same key", "email": "same.key@example.com"}),
                Some("shared-key"),
            ),
            // An address already stored, in another case: 409 each time.
            1 => (json!({"name": format!("Dup {i}"), "email": "TAKEN@example.com"}), None),
            _ => (
                json!({"name": format!("User {i}"), "email": format!("user.{i}@example.com")}),
                None,
            ),
        };
        let mut req = app.http.post(app.url("/api/users")).json(&body);
        if let Some(key) = key {
            req = req.header("Idempotency-Key", key);
        }
        calls.spawn(async move {
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            (i, status, resp.json::<Value>().await.unwrap())
        });
    }
    let mut answers = calls.join_all().await;
    answers.sort_by_key(|(i, _, _)| *i);
    let mut new_ids = Vec::new();
    let mut shared_ids = Vec::new();
    for (i, status, body) in &answers {
        match i % 6 {
            0 => {
                assert_eq!(*status, 202, "{body}");
                shared_ids.push(body["id"].as_u64().unwrap());
            }
            1 => assert_eq!((*status, body["error"].as_str()), (409, Some("email_taken")), "{body}"),
            _ => {
                assert_eq!(*status, 202, "{body}");
                new_ids.push(body["id"].as_u64().unwrap());
            }
        }
    }
    shared_ids.dedup();
    assert_eq!(shared_ids.len(), 1, "one key, one id: {shared_ids:?}");
    new_ids.push(shared_ids[0]);
    let distinct: std::collections::HashSet<_> = new_ids.iter().collect();
    assert_eq!(distinct.len(), new_ids.len(), "every new user has its own id");
    assert_eq!(
        app.drain().await,
        41,
        "40 new users and the keyed one were queued, once each"
    );
    assert_eq!(app.stored_count().await, 42);
    app.cleanup().await;
}
