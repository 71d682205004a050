//! `GET /docs`: Swagger UI (when `--swagger-ui` is on), with a content security policy that
//! allows its inline script and style by their hashes and nothing from elsewhere.

use base64::Engine;
use poem::http::HeaderValue;
use poem::web::Html;
use poem::{Endpoint, IntoResponse, endpoint::make_sync};
use sha2::{Digest, Sha256};

/// The Swagger UI page for `html` (from `OpenApiService::swagger_ui_html`), with its policy.
pub fn endpoint(html: String) -> impl Endpoint {
    let csp = HeaderValue::from_str(&policy(&html)).expect("a policy is ASCII");
    make_sync(move |_| {
        let mut resp = Html(html.clone()).into_response();
        let headers = resp.headers_mut();
        headers.insert("content-security-policy", csp.clone());
        headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
        headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
        resp
    })
}

/// The policy of the page: its inline `<script>` and `<style>` elements by hash.
fn policy(html: &str) -> String {
    let scripts = hashes(html, "script").join(" ");
    let styles = hashes(html, "style").join(" ");
    format!(
        "default-src 'none'; script-src {scripts}; style-src {styles}; img-src 'self' data:; \
         connect-src 'self'; font-src 'self' data:; base-uri 'none'; frame-ancestors 'none'; form-action 'none'"
    )
}

/// `'sha256-...'` of the content of every `<tag ...>...</tag>` element.
fn hashes(html: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}"), format!("</{tag}>"));
    let mut found = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start..];
        let Some(body_start) = after.find('>') else { break };
        let Some(body_len) = after[body_start + 1..].find(&close) else {
            break;
        };
        let body = &after[body_start + 1..body_start + 1 + body_len];
        let digest = Sha256::digest(body.as_bytes());
        found.push(format!(
            "'sha256-{}'",
            base64::engine::general_purpose::STANDARD.encode(digest)
        ));
        rest = &after[body_start + 1 + body_len + close.len()..];
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_inline_element_is_allowed_by_its_hash_and_nothing_else_is() {
        let html = "<style a=b>p{}</style><script x>one()</script><p></p><script>two()</script>";
        let policy = policy(html);
        assert_eq!(hashes(html, "script").len(), 2);
        assert_eq!(hashes(html, "style").len(), 1);
        assert!(
            !policy.contains("'unsafe-inline'") && !policy.contains("'unsafe-eval'"),
            "{policy}"
        );
        let digest = Sha256::digest(b"one()");
        let one = base64::engine::general_purpose::STANDARD.encode(digest);
        assert!(policy.contains(&format!("'sha256-{one}'")), "{policy}");
    }
}
