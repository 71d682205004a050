//! Hostile clients: slow and stalled requests and bodies, too many connections, made-up methods, huge headers, thousands of idle connections,
//! names built to break SQL, HTML or Unicode handling, and bytes that are not UTF-8.

use std::time::{Duration, Instant};

use producer::deadline::HEADER_TIMEOUT;
use producer::middleware::BODY_TIMEOUT;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{Options, spawn_app, spawn_app_with};

/// Reads until the server closes the connection; returns how long that took and what came.
async fn until_closed(mut stream: TcpStream, limit: Duration) -> (Duration, Vec<u8>) {
    let started = Instant::now();
    let mut seen = Vec::new();
    let mut buf = [0; 1024];
    loop {
        match tokio::time::timeout(limit.saturating_sub(started.elapsed()), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (started.elapsed(), seen),
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
            Err(_) => panic!("the connection is still open after {limit:?}"),
        }
    }
}

#[tokio::test]
async fn clients_that_stall_or_trickle_a_request_head_are_cut_off_while_others_are_served() {
    let app = spawn_app().await;
    let limit = HEADER_TIMEOUT + Duration::from_secs(5);
    let mut stalled = TcpStream::connect(app.addr()).await.unwrap();
    stalled.write_all(b"GET /health/li").await.unwrap();
    let stalled = tokio::spawn(until_closed(stalled, limit));
    let mut trickler = TcpStream::connect(app.addr()).await.unwrap();
    let trickled = tokio::spawn(async move {
        // One byte a second: the connection is never idle, but the head never ends.
        let started = Instant::now();
        let mut buf = [0; 256];
        for byte in b"POST /api/users HTTP/1.1\r\nHost: x\r\nX-Slow: ".iter().cycle() {
            if trickler.write_all(&[*byte]).await.is_err() {
                break;
            }
            match tokio::time::timeout(Duration::from_secs(1), trickler.read(&mut buf)).await {
                Ok(Ok(0) | Err(_)) => break,
                _ if started.elapsed() > limit => break,
                _ => {}
            }
        }
        started.elapsed()
    });

    // Meanwhile, normal requests are answered at once.
    for _ in 0..5 {
        let started = Instant::now();
        app.assert_still_serving().await;
        assert!(started.elapsed() < Duration::from_secs(1));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let (waited, answer) = stalled.await.unwrap();
    assert!(
        waited <= limit,
        "a stalled head is dropped after about {HEADER_TIMEOUT:?}"
    );
    assert!(
        answer.is_empty() || answer.starts_with(b"HTTP/1.1 4"),
        "no success for half a request"
    );
    let waited = trickled.await.unwrap();
    assert!(
        waited < limit,
        "a trickling head is dropped after about {HEADER_TIMEOUT:?} too (still open after {waited:?})"
    );
    app.assert_still_serving().await;
    app.cleanup().await;
}

#[tokio::test]
async fn huge_headers_are_refused_without_harm() {
    let app = spawn_app().await;
    let cases = [
        (8 * 1024, "an 8 KiB header"),
        (64 * 1024, "a 64 KiB header"),
        (1024 * 1024, "a 1 MiB header"),
    ];
    for (size, what) in cases {
        let request = format!(
            "GET /health/live HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
            "a".repeat(size)
        );
        let answer = app.raw_exchange(request.as_bytes(), Duration::from_secs(10)).await;
        let status = answer.get(9..12).unwrap_or("");
        eprintln!("{what}: {status}");
        assert!(
            status == "431" || status == "400" || (size <= 8 * 1024 && status == "200"),
            "{what} answers 431 or 400, got {:?}",
            answer.lines().next()
        );
        app.assert_still_serving().await;
    }
    let many: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
    let request = format!("GET /health/live HTTP/1.1\r\nHost: x\r\n{many}Connection: close\r\n\r\n");
    let answer = app.raw_exchange(request.as_bytes(), Duration::from_secs(10)).await;
    assert!(
        answer.starts_with("HTTP/1.1 431"),
        "200 headers: {:?}",
        answer.lines().next()
    );
    app.assert_still_serving().await;
    app.cleanup().await;
}

/// A `POST /api/users` whose body comes in chunks of `chunk` bytes, without a `Content-Length`.
fn chunked_post(body: &[u8], chunk: usize) -> Vec<u8> {
    let mut request = b"POST /api/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
        Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        .to_vec();
    for part in body.chunks(chunk) {
        request.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        request.extend_from_slice(part);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    request
}

#[tokio::test]
async fn a_chunked_body_is_limited_as_a_declared_one_is() {
    let app = spawn_app().await;
    let huge = format!(r#"{{"name": "Chunked", "pad": "{}"}}"#, "x".repeat(20 * 1024)).into_bytes();
    let answer = app
        .raw_exchange(&chunked_post(&huge, 1000), Duration::from_secs(10))
        .await;
    assert!(
        answer.starts_with("HTTP/1.1 413"),
        "20 KiB in chunks of 1,000 bytes: {:?}",
        answer.lines().next()
    );
    assert!(answer.contains(r#""error":"#), "the refusal is a JSON error: {answer}");
    assert_eq!(
        app.state.monitor.stats().await.unwrap().pending,
        0,
        "nothing was queued"
    );

    let small = br#"{"name": "Chunked", "email": null}"#;
    let answer = app.raw_exchange(&chunked_post(small, 7), Duration::from_secs(10)).await;
    assert!(
        answer.starts_with("HTTP/1.1 202"),
        "a small body in chunks of 7 bytes is read whole: {:?}",
        answer.lines().next()
    );
    assert!(answer.contains(r#""status":"queued""#), "{answer}");
    let queued = app.state.monitor.stats().await.unwrap().pending;
    assert_eq!(queued, 1, "the user was queued once");
    app.cleanup().await;
}

/// How many connections this process may open, both ends of each being ours.
fn connection_budget(wanted: usize) -> usize {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let soft: usize = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|n| n.parse().ok())
        .unwrap_or(1024);
    let budget = wanted.min(soft.saturating_sub(300) / 2);
    if budget < wanted {
        eprintln!(
            "WARNING: `ulimit -n` is {soft}: testing {budget} idle connections instead of {wanted} \
             (raise the limit to test them all)"
        );
    }
    budget
}

#[tokio::test]
async fn thousands_of_idle_connections_do_not_stop_a_request() {
    let app = spawn_app().await;
    let count = connection_budget(3000);
    let mut idle = Vec::with_capacity(count);
    for _ in 0..count {
        idle.push(
            TcpStream::connect(app.addr())
                .await
                .expect("the server accepts connections"),
        );
    }
    let started = Instant::now();
    app.assert_still_serving().await;
    let id = app.add_user("through the crowd", None).await;
    assert_eq!(app.get_json(&format!("/api/users/{id}")).await.0, 200);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "served in {:?} beside {count} idle connections",
        started.elapsed()
    );
    drop(idle);
    app.cleanup().await;
}

#[tokio::test]
async fn bytes_that_are_not_utf8_get_a_clear_400() {
    let app = spawn_app().await;
    let bodies: [(&[u8], &str); 3] = [
        (b"{\"name\": \"\xff\xfe\"}", "invalid UTF-8 in a string"),
        (b"\xef\xbb\xbf\xff{\"name\": \"a\"}", "a BOM then garbage"),
        (b"{\"name\": \"\\ud800\"}", "a lone surrogate escape"),
    ];
    for (body, what) in bodies {
        let resp = app
            .http
            .post(app.url("/api/users"))
            .header("content-type", "application/json")
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{what}");
        let json: Value = resp.json().await.expect("a JSON error body");
        assert!(
            json["error"].is_string() && json["message"].is_string(),
            "{what}: {json}"
        );
    }

    let resp = app
        .http
        .post(app.url("/api/users"))
        .header(
            "idempotency-key",
            reqwest::header::HeaderValue::from_bytes(b"key-\xff\xfe").unwrap(),
        )
        .json(&json!({"name": "a"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400, "an Idempotency-Key that is not UTF-8");
    let (status, json) = app.get_json("/api/users/%FF%FE").await;
    assert!(
        status == 400 && json["error"].is_string(),
        "a percent-encoded non-UTF-8 id: {json}"
    );

    let answer = app
        .raw_exchange(
            b"GET /api/users/\xff\xfe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            Duration::from_secs(5),
        )
        .await;
    assert!(answer.starts_with("HTTP/1.1 400"), "a raw non-UTF-8 path: {answer:?}");
    app.assert_still_serving().await;
    assert_eq!(
        app.state.monitor.stats().await.unwrap().pending,
        0,
        "nothing was queued"
    );
    app.cleanup().await;
}

#[tokio::test]
async fn bodies_that_do_not_arrive_get_408_and_their_connections_close() {
    let app = spawn_app().await;
    let limit = BODY_TIMEOUT + Duration::from_secs(5);
    let head = "POST /api/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 16384\r\n\r\n";
    let mut waiting = Vec::new();
    for i in 0..100 {
        let mut stream = TcpStream::connect(app.addr()).await.unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        if i % 2 == 1 {
            // Half of them send a start of the body, then stall.
            stream.write_all(br#"{"name": "slo"#).await.unwrap();
        }
        waiting.push(tokio::spawn(until_closed(stream, limit)));
    }
    app.assert_still_serving().await;
    for waiting in waiting {
        let (waited, answer) = waiting.await.unwrap();
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 408"), "a stalled body gets 408:\n{answer}");
        assert!(answer.contains("body_timeout"), "{answer}");
        assert!(
            waited >= BODY_TIMEOUT - Duration::from_millis(500),
            "not before the deadline ({waited:?})"
        );
    }
    let (_, stats) = app.get_json("/api/stats").await;
    assert_eq!(stats["queue"]["pending"], 0, "nothing was queued: {stats}");
    app.assert_still_serving().await;
    app.cleanup().await;
}

#[tokio::test]
async fn made_up_methods_share_one_metrics_label() {
    let app = spawn_app().await;
    for i in 0..200 {
        let answer = app
            .raw_exchange(
                format!("MADEUP{i} /api/users HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
                Duration::from_secs(5),
            )
            .await;
        assert!(answer.starts_with("HTTP/1.1 4"), "{answer}");
    }
    let scrape = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!scrape.contains("MADEUP"), "no series per made-up method");
    assert!(scrape.contains(r#"method="other""#), "they are counted as `other`");
    let series = scrape.lines().filter(|l| l.starts_with("http_requests_total{")).count();
    assert!(series < 20, "{series} request series");
    app.cleanup().await;
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let app = spawn_app_with(Options {
        max_connections: Some(4),
        ..Options::default()
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut stream = TcpStream::connect(app.addr()).await.unwrap();
        stream
            .write_all(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0; 512];
        assert!(stream.read(&mut buf).await.unwrap() > 0, "the first four are served");
        held.push(stream);
    }
    let mut fifth = TcpStream::connect(app.addr()).await.unwrap();
    fifth
        .write_all(b"GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let early = tokio::time::timeout(Duration::from_secs(1), fifth.read_to_end(&mut answer)).await;
    assert!(
        early.is_err() && answer.is_empty(),
        "a fifth connection is not served while four are open"
    );
    drop(held.pop());
    tokio::time::timeout(Duration::from_secs(5), fifth.read_to_end(&mut answer))
        .await
        .expect("served once one closes")
        .unwrap();
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"));
    drop(held);
    app.cleanup().await;
}
