//! `/metrics` and `/docs` are kept off the public listener when the settings say so.

use crate::helpers::{Options, spawn_app_with};

#[tokio::test]
async fn with_a_metrics_listener_metrics_are_served_there_and_not_on_the_public_address() {
    let app = spawn_app_with(Options {
        metrics_listener: true,
        ..Options::default()
    })
    .await;
    app.add_user("Metered", None).await;
    let public = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(public.status(), 404, "the public listener serves no metrics");
    assert!(!public.text().await.unwrap().contains("http_requests"));

    let internal = app.metrics_base.clone().expect("a second listener");
    let scrape = app.http.get(format!("{internal}/metrics")).send().await.unwrap();
    assert_eq!(scrape.status(), 200);
    let text = scrape.text().await.unwrap();
    assert!(text.contains("queue_messages"), "the queue gauges are there:\n{text}");
    assert!(
        text.contains("POST"),
        "and the public listener's requests are counted there"
    );
    for path in ["/api/users/1", "/health/ready", "/docs", "/"] {
        let other = app.http.get(format!("{internal}{path}")).send().await.unwrap();
        assert_eq!(
            other.status(),
            404,
            "the metrics listener serves only /metrics, not {path}"
        );
    }
    app.cleanup().await;
}

#[tokio::test]
async fn swagger_ui_is_served_under_a_strict_policy_or_not_at_all() {
    let app = spawn_app_with(Options::default()).await;
    let docs = app.http.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(docs.status(), 200);
    let policy = docs.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(policy.contains("script-src 'sha256-"), "{policy}");
    assert!(
        !policy.contains("unsafe-inline") && !policy.contains("unsafe-eval"),
        "{policy}"
    );
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    assert!(docs.text().await.unwrap().contains("SwaggerUIBundle"));
    assert_eq!(app.http.get(app.url("/docs/")).send().await.unwrap().status(), 200);
    app.cleanup().await;

    let app = spawn_app_with(Options {
        no_swagger_ui: true,
        ..Options::default()
    })
    .await;
    for path in ["/docs", "/docs/"] {
        assert_eq!(
            app.http.get(app.url(path)).send().await.unwrap().status(),
            404,
            "{path}"
        );
    }
    let spec = app.http.get(app.url("/api/openapi.json")).send().await.unwrap();
    assert_eq!(spec.status(), 200, "the OpenAPI document stays");
    app.cleanup().await;
}
