//! The write rate limit holds per client IP: directly, behind a trusted proxy, and against
//! `X-Forwarded-For` sent by anyone else. Clients are told apart by binding to different
//! loopback addresses (127.0.0.0/8 is all local on Linux).

use std::net::IpAddr;
use std::time::Instant;

use serde_json::json;

use crate::helpers::{Options, TestApp, spawn_app_with};

/// A client whose connections come from `from`.
fn client_at(from: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(from.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

/// POSTs a user from `client` with the given `X-Forwarded-For` header lines; the status.
async fn post_from(app: &TestApp, client: &reqwest::Client, forwarded: &[&str]) -> u16 {
    let mut request = client.post(app.url("/api/users")).json(&json!({"name": "limited"}));
    for value in forwarded {
        request = request.header("x-forwarded-for", *value);
    }
    request.send().await.unwrap().status().as_u16()
}

/// Asserts that only the burst of 2 got through, plus what the 1/s refill allowed meanwhile.
fn assert_one_budget(statuses: &[u16], started: Instant, what: &str) {
    let accepted = statuses.iter().filter(|&&s| s == 202).count() as u64;
    let refilled = started.elapsed().as_secs();
    assert!(
        (2..=2 + refilled).contains(&accepted) && statuses[..2] == [202, 202],
        "{what}: {accepted} of {} accepted in {refilled} s: {statuses:?}",
        statuses.len()
    );
}

async fn limited_app(trusted: Vec<&'static str>) -> TestApp {
    spawn_app_with(Options {
        rate_limit: 1,
        burst: 2,
        trusted_proxies: trusted,
        ..Default::default()
    })
    .await
}

#[tokio::test]
async fn each_direct_client_ip_has_its_own_budget() {
    let app = limited_app(vec![]).await;
    let (one, two) = (client_at("127.0.0.2"), client_at("127.0.0.3"));
    let started = Instant::now();
    let mut statuses = Vec::new();
    for _ in 0..10 {
        statuses.push(post_from(&app, &one, &[]).await);
    }
    assert_one_budget(&statuses, started, "127.0.0.2 alone");
    assert_eq!(post_from(&app, &two, &[]).await, 202, "127.0.0.3 still has its budget");
    app.cleanup().await;
}

#[tokio::test]
async fn an_untrusted_peer_is_one_client_whatever_x_forwarded_for_it_sends() {
    let app = limited_app(vec!["127.0.0.1/32"]).await;
    let stranger = client_at("127.0.0.4");
    let started = Instant::now();
    let mut statuses = Vec::new();
    for i in 0..20 {
        let spoofed = format!("198.51.100.{i}, 10.0.0.{i}");
        statuses.push(post_from(&app, &stranger, &[&spoofed]).await);
    }
    assert_one_budget(&statuses, started, "20 invented X-Forwarded-For values from 127.0.0.4");
    app.cleanup().await;
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget() {
    let app = limited_app(vec!["127.0.0.1/32"]).await;
    let proxy = client_at("127.0.0.1");
    for client in ["203.0.113.1", "203.0.113.2", "2001:db8::7"] {
        let started = Instant::now();
        let mut statuses = Vec::new();
        for _ in 0..10 {
            statuses.push(post_from(&app, &proxy, &[client]).await);
        }
        assert_one_budget(
            &statuses,
            started,
            &format!("{client} behind the proxy has its own budget"),
        );
    }
    app.cleanup().await;
}

#[tokio::test]
async fn a_client_behind_a_trusted_proxy_cannot_dodge_the_limit_with_its_own_header() {
    let app = limited_app(vec!["127.0.0.1/32"]).await;
    let proxy = client_at("127.0.0.1");
    // The client sends an invented X-Forwarded-For; the proxy appends the address it saw,
    // either to the same line (nginx) or as a line of its own (HAProxy's `option forwardfor`).
    let started = Instant::now();
    let mut joined = Vec::new();
    for i in 0..20 {
        joined.push(post_from(&app, &proxy, &[&format!("198.51.100.{i}, 203.0.113.50")]).await);
    }
    assert_one_budget(&joined, started, "one header line: the proxy's entry counts");
    let started = Instant::now();
    let mut separate = Vec::new();
    for i in 0..20 {
        separate.push(post_from(&app, &proxy, &[&format!("198.51.100.{i}"), "203.0.113.60"]).await);
    }
    assert_one_budget(
        &separate,
        started,
        "two header lines are one list (RFC 9110 section 5.3): the last entry, the proxy's, counts",
    );
    app.cleanup().await;
}
