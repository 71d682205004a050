//! Every error status of the contract, with its JSON body.

use serde_json::{Value, json};

use crate::helpers::{Options, spawn_app, spawn_app_with};

async fn body_of(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("errors are JSON"))
}

#[tokio::test]
async fn malformed_bodies_are_refused_with_the_right_status() {
    let app = spawn_app().await;
    let huge = format!("{{\"name\": \"{}\"}}", "a".repeat(17 * 1024));
    let cases: Vec<(&str, String, u16, &str)> = vec![
        ("application/json", "{\"name\":".into(), 400, "malformed JSON"),
        (
            "application/json",
            "[1, 2]".into(),
            400,
            "an array instead of an object",
        ),
        (
            "application/json",
            r#"{"name": 5}"#.into(),
            400,
            "a number for the name",
        ),
        (
            "application/json",
            r#"{"name": "Ada", "email": true}"#.into(),
            400,
            "a boolean for the email",
        ),
        (
            "application/json",
            r#"{"email": "a@example.com"}"#.into(),
            400,
            "no name",
        ),
        ("application/json", huge, 413, "a body over 16 KiB"),
        ("text/plain", r#"{"name": "Ada"}"#.into(), 415, "a text body"),
        (
            "application/x-www-form-urlencoded",
            "name=Ada".into(),
            415,
            "a form body",
        ),
    ];
    for (content_type, body, want, why) in cases {
        let resp = app
            .http
            .post(app.url("/api/users"))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        let (status, json) = body_of(resp).await;
        assert_eq!(status, want, "{why}: {json}");
        assert!(
            json["error"].is_string() && json["message"].is_string(),
            "{why}: the body names the error: {json}"
        );
    }
    assert_eq!(
        app.state.monitor.stats().await.unwrap().pending,
        0,
        "nothing was queued"
    );
    app.cleanup().await;
}

#[tokio::test]
async fn invalid_fields_answer_422_naming_the_field() {
    let app = spawn_app().await;
    let long_email = format!("{}@example.com", "a".repeat(250));
    let cases = [
        (json!({"name": ""}), "name", "an empty name"),
        (json!({"name": "   "}), "name", "a name of spaces"),
        (json!({"name": "x".repeat(101)}), "name", "a name of 101 characters"),
        (json!({"name": "bad\u{7}bell"}), "name", "a control character"),
        (
            json!({"name": "Ada", "email": "not-an-email"}),
            "email",
            "an email without @",
        ),
        (
            json!({"name": "Ada", "email": "ada@localhost"}),
            "email",
            "an email without a domain dot",
        ),
        (
            json!({"name": "Ada", "email": long_email}),
            "email",
            "an email over 254 characters",
        ),
    ];
    for (body, field, why) in cases {
        let (status, json) = body_of(app.post_user(&body).await).await;
        assert_eq!((status, json["field"].as_str()), (422, Some(field)), "{why}: {json}");
        assert_eq!(json["error"], "invalid_field");
    }
    app.cleanup().await;
}

#[tokio::test]
async fn bad_and_unknown_ids_answer_400_and_404() {
    let app = spawn_app().await;
    for path in [
        "/api/users/abc",
        "/api/users/0",
        "/api/users/-3",
        "/api/users/1.5",
        "/api/users/99999999999999999999999",
    ] {
        let (status, json) = app.get_json(path).await;
        assert_eq!(status, 400, "{path}: {json}");
        assert!(json["message"].is_string());
    }
    let (status, json) = app.get_json("/api/users/123456789").await;
    assert_eq!((status, json["error"].as_str()), (404, Some("not_found")));
    for path in [
        "/api/users?limit=0",
        "/api/users?limit=101",
        "/api/users?limit=x",
        "/api/users?before=0",
    ] {
        assert_eq!(app.get_json(path).await.0, 400, "{path}");
    }
    app.cleanup().await;
}

#[tokio::test]
async fn writes_over_the_rate_limit_answer_429_with_retry_after() {
    let app = spawn_app_with(Options {
        rate_limit: 1,
        burst: 3,
        ..Default::default()
    })
    .await;
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for i in 0..5 {
        let resp = app.post_user(&json!({"name": format!("burst {i}")})).await;
        if resp.status() == 429 {
            retry_after = resp
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
        }
        statuses.push(resp.status().as_u16());
    }
    assert_eq!(
        statuses,
        vec![202, 202, 202, 429, 429],
        "the burst of 3 passes, then writes are limited"
    );
    assert!(retry_after.is_some_and(|s| s >= 1), "429 carries Retry-After");
    assert_eq!(app.get_json("/api/stats").await.0, 200, "reads are not limited");
    app.cleanup().await;
}

#[tokio::test]
async fn forwarded_for_counts_only_from_a_trusted_proxy() {
    // Untrusted peer: a spoofed X-Forwarded-For does not give a fresh budget.
    let app = spawn_app_with(Options {
        rate_limit: 1,
        burst: 1,
        ..Default::default()
    })
    .await;
    let spoof = |ip: &'static str| {
        app.http
            .post(app.url("/api/users"))
            .header("X-Forwarded-For", ip)
            .json(&json!({"name": "x"}))
            .send()
    };
    assert_eq!(spoof("203.0.113.1").await.unwrap().status(), 202);
    assert_eq!(
        spoof("203.0.113.2").await.unwrap().status(),
        429,
        "X-Forwarded-For from an untrusted peer is ignored"
    );
    app.cleanup().await;

    // Trusted proxy (loopback): each forwarded client has its own budget.
    let app = spawn_app_with(Options {
        rate_limit: 1,
        burst: 1,
        trusted_proxies: vec!["127.0.0.1/32"],
        ..Default::default()
    })
    .await;
    let via = |ip: &'static str| {
        app.http
            .post(app.url("/api/users"))
            .header("X-Forwarded-For", ip)
            .json(&json!({"name": "x"}))
            .send()
    };
    assert_eq!(via("203.0.113.1").await.unwrap().status(), 202);
    assert_eq!(
        via("203.0.113.2").await.unwrap().status(),
        202,
        "another client behind the proxy"
    );
    assert_eq!(via("203.0.113.1").await.unwrap().status(), 429, "the same client again");
    app.cleanup().await;
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json_errors() {
    let app = spawn_app().await;
    let (status, json) = app.get_json("/api/nothing-here").await;
    assert_eq!((status, json["error"].as_str()), (404, Some("not_found")));
    let resp = app.http.delete(app.url("/api/users/1")).send().await.unwrap();
    assert_eq!(resp.status(), 405);
    app.cleanup().await;
}
