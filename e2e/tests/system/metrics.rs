//! `GET /metrics` after real traffic: counts match the requests made, gauges follow the queue.

use registry::testing::metric;
use serde_json::json;

use e2e::Consumer;
use producer::testing::{TestApp, spawn_app};

async fn scrape(app: &TestApp) -> String {
    let resp = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    resp.text().await.unwrap()
}

fn value(scrape: &str, series: &str) -> f64 {
    metric(scrape, series).unwrap_or_else(|| panic!("{series} missing from:\n{scrape}"))
}

#[tokio::test]
async fn series_count_requests_by_route_and_status_and_gauges_follow_the_queue() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(app.add_user(&format!("metered {i}"), None).await);
    }
    let refused = app.post_user(&json!({"name": ""})).await;
    assert_eq!(refused.status(), 422);
    assert_eq!(app.get_json(&format!("/api/users/{}", ids[0])).await.0, 200, "pending");
    assert_eq!(app.get_json("/api/users/abc").await.0, 400);
    assert_eq!(app.get_json("/api/no-such-route").await.0, 404);

    let queued = scrape(&app).await;
    assert_eq!(value(&queued, r#"queue_messages{state="pending"}"#), 3.0);

    app.drain().await;
    for _ in 0..2 {
        // From MySQL (filling the cache), then from the cache.
        assert_eq!(app.get_json(&format!("/api/users/{}", ids[1])).await.0, 200);
    }
    let after = scrape(&app).await;
    let post = |status: &str| format!(r#"http_requests_total{{method="POST",route="/api/users",status="{status}"}}"#);
    assert_eq!(value(&after, &post("202")), 3.0);
    assert_eq!(value(&after, &post("422")), 1.0);
    let get_user =
        |status: &str| format!(r#"http_requests_total{{method="GET",route="/api/users/{{id}}",status="{status}"}}"#);
    assert_eq!(value(&after, &get_user("200")), 3.0);
    assert_eq!(value(&after, &get_user("400")), 1.0, "a bad id still names the route");
    assert_eq!(
        value(
            &after,
            r#"http_requests_total{method="GET",route="other",status="404"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            &after,
            r#"http_requests_total{method="GET",route="/metrics",status="200"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            &after,
            r#"http_request_duration_seconds_count{method="POST",route="/api/users"}"#
        ),
        4.0
    );
    assert_eq!(
        value(
            &after,
            r#"http_request_duration_seconds_bucket{method="POST",route="/api/users",le="+Inf"}"#
        ),
        4.0
    );
    assert_eq!(value(&after, r#"cache_lookups_total{result="hit"}"#), 1.0);
    assert_eq!(
        value(&after, r#"cache_lookups_total{result="miss"}"#),
        2.0,
        "pending, then MySQL"
    );
    assert_eq!(value(&after, r#"queue_messages{state="pending"}"#), 0.0, "drained");
    assert_eq!(value(&after, r#"queue_messages{state="processing"}"#), 0.0);
    assert_eq!(value(&after, r#"queue_messages{state="dead"}"#), 0.0);
    assert!(value(&after, "process_resident_memory_bytes") > 0.0);
    app.cleanup().await;
}
