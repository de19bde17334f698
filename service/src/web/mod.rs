//! What the two web apps (the site app in `quietcount-node run`, the province's dashboard in
//! `quietcount-coordinator run`) share, so that neither depends on the other:
//!
//! - [`session`]: in-memory sessions with an idle lock, and the failed-login throttle.
//! - [`i18n`]: the Fluent catalogues' machinery, numbers, and dates and times in a time zone.
//! - here: the security headers every answer carries, the language a request asks for,
//!   cookies, the CSRF comparison, the shared stylesheet, and the replacement of the web
//!   stack's own plain-English refusals by an app's page.

pub mod i18n;
pub mod session;

use std::collections::HashMap;

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The style sheet both apps start from; each serves it followed by its own additions.
pub const BASE_CSS: &str = include_str!("../../assets/base.css");

/// The content security policy of every page: nothing from elsewhere, no script at all.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Runs the request, then puts the security headers on the answer (no caching anywhere, no
/// framing, no sniffing, the [`CONTENT_SECURITY_POLICY`]), and the language cookie
/// `lang_cookie` when the URL chose a language with `?lang=`. Logs one line per request with
/// its method and path, never the query.
pub async fn security_headers_and_language(
    lang_cookie: &str,
    request: Request,
    next: Next,
) -> Response {
    let chosen = query_language(request.uri().query());
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let mut response = next.run(request).await;
    tracing::debug!(%method, %path, status = response.status().as_u16(), "web request");
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CACHE_CONTROL, "no-store"),
        (header::PRAGMA, "no-cache"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if let Some(code) = chosen {
        let cookie =
            format!("{lang_cookie}={code}; Path=/; Max-Age=31536000; SameSite=Strict; HttpOnly");
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            headers.append(header::SET_COOKIE, value);
        }
    }
    response
}

/// Runs the request; when the answer is the web stack's own refusal of a malformed request (a
/// client error in plain text: a form or query the app's pages never send, a body too large),
/// answers instead with `page(language, status)`: the app's bad-request page in the language
/// the request asked for (`?lang=`, else the `lang_cookie` cookie; `None` when neither says),
/// with the same status. The English reason goes to the log only.
pub async fn replace_plain_refusals(
    lang_cookie: &str,
    request: Request,
    next: Next,
    page: impl FnOnce(Option<&'static str>, StatusCode) -> Response,
) -> Response {
    let language = query_language(request.uri().query()).or_else(|| {
        cookies(request.headers())
            .get(lang_cookie)
            .and_then(|code| language_code(code))
    });
    let response = next.run(request).await;
    let plain_text = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"));
    if !(response.status().is_client_error() && plain_text) {
        return response;
    }
    let status = response.status();
    tracing::warn!(status = status.as_u16(), "malformed web request refused");
    let mut answer = page(language, status);
    *answer.status_mut() = status;
    answer
}

/// The style sheet answer: [`BASE_CSS`] followed by an app's `own` rules.
pub fn stylesheet(own: &'static str) -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        format!("{BASE_CSS}\n{own}"),
    )
        .into_response()
}

/// The language code (`vi` or `en`) a `lang=` pair of the query asks for.
pub fn query_language(query: Option<&str>) -> Option<&'static str> {
    query?
        .split('&')
        .filter_map(|pair| pair.strip_prefix("lang="))
        .find_map(language_code)
}

/// `vi` or `en` when `text` is one of them.
pub fn language_code(text: &str) -> Option<&'static str> {
    match text {
        "vi" => Some("vi"),
        "en" => Some("en"),
        _ => None,
    }
}

/// The cookies of a request.
pub fn cookies(headers: &HeaderMap) -> HashMap<String, String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            Some((name.to_owned(), value.to_owned()))
        })
        .collect()
}

/// Whether two byte strings are equal, in time that does not depend on where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_language_and_cookies_of_a_request() {
        assert_eq!(query_language(Some("p=2026-10&lang=en")), Some("en"));
        assert_eq!(query_language(Some("lang=fr")), None);
        assert_eq!(query_language(None), None);
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("a=1; qc_lang=vi"));
        let cookies = cookies(&headers);
        assert_eq!(cookies["a"], "1");
        assert_eq!(cookies["qc_lang"], "vi");
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
