//! What wraps every request: a request id, the client's IP, the body size limit, a tracing
//! span, JSON error bodies, and the security headers of pages.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use ipnet::IpNet;
use poem::PathPattern;
use poem::http::{HeaderValue, Method, StatusCode};
use poem::web::RemoteAddr;
use poem::{Endpoint, FromRequest, IntoResponse, Request, RequestBody, Response, Result};
use tracing::Instrument;

use crate::error::into_json_response;
use crate::metrics::route_label;
use crate::state::AppState;

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The id of the current request (from `X-Request-Id` when sane, else generated).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// The client's IP: the peer, or from `X-Forwarded-For` when the peer is a trusted proxy.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

impl<'a> FromRequest<'a> for RequestId {
    async fn from_request(req: &'a Request, _body: &mut RequestBody) -> Result<Self> {
        Ok(req
            .extensions()
            .get::<RequestId>()
            .cloned()
            .unwrap_or_else(|| RequestId(new_request_id())))
    }
}

impl<'a> FromRequest<'a> for ClientIp {
    async fn from_request(req: &'a Request, _body: &mut RequestBody) -> Result<Self> {
        Ok(req
            .extensions()
            .get::<ClientIp>()
            .copied()
            .unwrap_or(ClientIp(IpAddr::from([0, 0, 0, 0]))))
    }
}

fn new_request_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// A client-sent request id is kept only when short and printable.
fn sane_request_id(raw: &HeaderValue) -> Option<String> {
    let text = raw.to_str().ok()?;
    (!text.is_empty() && text.len() <= 64 && text.bytes().all(|b| b.is_ascii_graphic())).then(|| text.to_owned())
}

/// The client IP: walks `X-Forwarded-For` from the right while the hop is a trusted proxy.
pub fn client_ip(peer: Option<IpAddr>, forwarded_for: Option<&str>, trusted: &[IpNet]) -> IpAddr {
    let unspecified = IpAddr::from([0, 0, 0, 0]);
    let Some(mut ip) = peer else { return unspecified };
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&ip) {
        return ip;
    }
    for hop in forwarded_for.unwrap_or("").rsplit(',') {
        match hop.trim().parse::<IpAddr>() {
            Ok(hop) => {
                ip = hop;
                if !is_trusted(&hop) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    ip
}

/// Every `X-Forwarded-For` line as one list (RFC 9110 section 5.3): a proxy such as HAProxy
/// adds its own line after the client's. A line that is not text ends the walk there.
fn forwarded_for(headers: &poem::http::HeaderMap) -> Option<String> {
    let mut lines = headers.get_all("x-forwarded-for").iter().peekable();
    lines.peek()?;
    Some(lines.map(|v| v.to_str().unwrap_or("?")).collect::<Vec<_>>().join(","))
}

fn peer_ip(addr: &RemoteAddr) -> Option<IpAddr> {
    addr.as_socket_addr().map(|a| a.ip().to_canonical())
}

/// Wraps `ep` with request ids, client IPs, the body limit, logging, metrics and JSON errors.
pub async fn around<E: Endpoint>(
    ep: Arc<E>,
    trusted: Arc<[IpNet]>,
    state: Arc<AppState>,
    mut req: Request,
) -> Result<Response> {
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(sane_request_id)
        .unwrap_or_else(new_request_id);
    let forwarded = forwarded_for(req.headers());
    let ip = client_ip(peer_ip(req.remote_addr()), forwarded.as_deref(), &trusted);
    req.extensions_mut().insert(RequestId(request_id.clone()));
    req.extensions_mut().insert(ClientIp(ip));
    let method = req.method().clone();
    let span = tracing::info_span!("request", request_id = %request_id, method = %method, path = %req.uri().path());
    async move {
        let started = Instant::now();
        // The route template comes from the router; a body refused before routing has none.
        let (mut resp, pattern) = match oversized_headers(&req) {
            Some(refusal) => (refusal, None),
            None => match limit_body(req).await {
                Ok(req) => match ep.call(req).await {
                    Ok(resp) => {
                        let resp = resp.into_response();
                        let pattern = resp.data::<PathPattern>().cloned();
                        (resp, pattern)
                    }
                    Err(err) => {
                        let pattern = err.data::<PathPattern>().cloned();
                        (into_json_response(err), pattern)
                    }
                },
                Err(resp) => (resp, None),
            },
        };
        let elapsed = started.elapsed();
        let route = route_label(pattern.as_ref());
        state.metrics.observe_request(&method, route, resp.status(), elapsed);
        if let Ok(value) = HeaderValue::from_str(&request_id) {
            resp.headers_mut().insert("x-request-id", value);
        }
        let status = resp.status().as_u16();
        let latency_ms = elapsed.as_secs_f64() * 1000.0;
        if resp.status().is_server_error() {
            tracing::warn!(status, latency_ms, client = %ip, "request failed");
        } else {
            tracing::debug!(status, latency_ms, client = %ip, "request answered");
        }
        Ok(resp)
    }
    .instrument(span)
    .await
}

/// Longest time a write's body may take to arrive, from the end of its head.
pub const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Largest total size of a request's header names and values.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// The 431 refusal of a request with more header bytes than [`MAX_HEADER_BYTES`].
fn oversized_headers(req: &Request) -> Option<Response> {
    let size: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if size <= MAX_HEADER_BYTES {
        return None;
    }
    let body = r#"{"error":"headers_too_large","message":"the request headers must be at most 16 KiB"}"#;
    Some(
        Response::builder()
            .status(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
            .content_type("application/json; charset=utf-8")
            .body(body),
    )
}

/// Reads bodies of writes up to [`MAX_BODY_BYTES`]; larger ones answer 413.
async fn limit_body(mut req: Request) -> Result<Request, Response> {
    if !matches!(*req.method(), Method::POST | Method::PUT | Method::PATCH) {
        return Ok(req);
    }
    let too_large = || into_json_response(poem::Error::from_status(StatusCode::PAYLOAD_TOO_LARGE));
    let declared = req.header("content-length").and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_BODY_BYTES as u64) {
        return Err(too_large());
    }
    let body = req.take_body().into_bytes_limit(MAX_BODY_BYTES);
    let Ok(read) = tokio::time::timeout(BODY_TIMEOUT, body).await else {
        return Err(body_too_slow());
    };
    match read {
        Ok(bytes) => {
            req.set_body(bytes);
            Ok(req)
        }
        Err(poem::error::ReadBodyError::PayloadTooLarge) => Err(too_large()),
        Err(err) => Err(into_json_response(poem::Error::from_string(
            err.to_string(),
            StatusCode::BAD_REQUEST,
        ))),
    }
}

/// The 408 of a body that did not arrive within [`BODY_TIMEOUT`]; the connection is closed,
/// since the rest of the body may still come.
fn body_too_slow() -> Response {
    let body = r#"{"error":"body_timeout","message":"the request body did not arrive within 10 s"}"#;
    Response::builder()
        .status(StatusCode::REQUEST_TIMEOUT)
        .header(poem::http::header::CONNECTION, "close")
        .content_type("application/json; charset=utf-8")
        .body(body)
}

/// Security headers of the web pages (no inline script or style, nothing from elsewhere).
pub const PAGE_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// Adds the page security headers to a response.
pub fn with_page_headers(mut resp: Response) -> Response {
    let headers = resp.headers_mut();
    headers.insert("content-security-policy", HeaderValue::from_static(PAGE_CSP));
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let peer = |s: &str| Some(s.parse().unwrap());
        let cases = [
            (
                "192.0.2.1",
                Some("198.51.100.7"),
                "192.0.2.1",
                "an untrusted peer is the client",
            ),
            (
                "10.0.0.2",
                Some("198.51.100.7"),
                "198.51.100.7",
                "a trusted proxy names the client",
            ),
            (
                "10.0.0.2",
                Some("203.0.113.9, 198.51.100.7, 10.0.0.3"),
                "198.51.100.7",
                "the rightmost untrusted hop wins",
            ),
            ("10.0.0.2", None, "10.0.0.2", "a proxy without the header is the client"),
            ("10.0.0.2", Some("garbage"), "10.0.0.2", "a malformed header is ignored"),
        ];
        for (from, header, want, why) in cases {
            assert_eq!(client_ip(peer(from), header, &trusted).to_string(), want, "{why}");
        }
    }
}
