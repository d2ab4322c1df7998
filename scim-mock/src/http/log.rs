//! The request log: one line per request at `info` (method, path, query, status, fault, token
//! id, duration), the bodies at `debug`.
//!
//! Nothing secret reaches it. Headers are never logged (so no `Authorization`); path, query and
//! bodies come from the journal entry, in which every known token secret is already redacted;
//! on top of that any query value that names a credential (`access_token=...`, `password=...`)
//! and anything shaped like a Notion token (`secret_...`, `ntn_...`) is masked, so that even a
//! secret the emulation does not know (another tenant's token pasted by mistake) stays out.

use axum::body::Body;
use axum::http::header;
use axum::response::Response;
use http_body_util::BodyExt;

use crate::journal::{redact, JournalEntry};

/// Bodies logged at `debug` are cut after this many bytes.
const MAX_LOGGED_BODY: usize = 4096;

const MASK: &str = "[REDACTED]";

/// Logs one answered request; at `debug`, also reads the response body (when it is whole and
/// finite) and hands back an identical response. `secrets` are the org's token secrets.
pub(super) async fn request(entry: &JournalEntry, resp: Response, secrets: &[String]) -> Response {
    // Nothing to mask when nobody listens (the in-process server in tests and benches).
    if !tracing::enabled!(tracing::Level::INFO) {
        return resp;
    }
    let path = mask_token_shapes(&entry.path);
    let query = entry.query.as_deref().map(mask_query).unwrap_or_default();
    let sep = if query.is_empty() { "" } else { "?" };
    let millis = entry.duration_us as f64 / 1000.0;
    tracing::info!(
        method = %entry.method,
        path = %path,
        query = %query,
        status = entry.status,
        fault = %entry.fault.as_deref().unwrap_or("-"),
        token = %entry.token.as_deref().unwrap_or("-"),
        duration_ms = millis,
        "{} {path}{sep}{query} -> {} in {millis:.1} ms",
        entry.method,
        entry.status,
    );
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return resp;
    }
    if let Some(body) = &entry.body {
        tracing::debug!(body = %cut(&mask_token_shapes(body)), "request body");
    }
    // A fault's answer may be a stream that breaks on purpose, and an event stream never ends:
    // neither is read here.
    let streaming = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    if entry.fault.is_some() || streaming {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let bytes = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            tracing::debug!(error = %e, "response body unreadable for the log");
            return Response::from_parts(parts, Body::empty());
        }
    };
    if !bytes.is_empty() {
        let text = redact(&String::from_utf8_lossy(&bytes), secrets);
        tracing::debug!(body = %cut(&mask_token_shapes(&text)), "response body");
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// The current time, RFC 3339 in UTC.
pub(super) fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn cut(text: &str) -> String {
    if text.len() <= MAX_LOGGED_BODY {
        return text.to_string();
    }
    let mut end = MAX_LOGGED_BODY;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes in all)", &text[..end], text.len())
}

/// Query parameters whose value is a credential by name.
fn names_credential(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    [
        "token",
        "secret",
        "password",
        "passwd",
        "key",
        "auth",
        "credential",
        "bearer",
    ]
    .iter()
    .any(|word| key.contains(word))
}

/// `tok_1`: a token's id, which the admin API takes as `?token=`, is no secret.
fn is_token_id(value: &str) -> bool {
    value
        .strip_prefix("tok_")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// A query string with credential-named values and token-shaped values masked.
pub(super) fn mask_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if names_credential(k) && !v.is_empty() && !is_token_id(v) => format!("{k}={MASK}"),
            Some((k, v)) => format!("{k}={}", mask_token_shapes(v)),
            None => mask_token_shapes(pair),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Replaces every run that starts like a Notion token (`secret_`, `ntn_`, in any case) and
/// continues with token characters.
pub(super) fn mask_token_shapes(text: &str) -> String {
    const PREFIXES: [&str; 2] = ["secret_", "ntn_"];
    let lower = text.to_ascii_lowercase().into_bytes();
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut copied = 0;
    while i < bytes.len() {
        // A token does not start inside a word (`top_secret_x`); a digit before it may end a
        // percent escape (`%20secret_...`).
        let boundary = i == 0
            || bytes
                .get(i - 1)
                .is_none_or(|b| !(b.is_ascii_alphabetic() || *b == b'_'));
        let prefix = PREFIXES
            .iter()
            .find(|p| lower.get(i..).is_some_and(|rest| rest.starts_with(p.as_bytes())));
        match prefix {
            Some(p) if boundary => {
                let mut end = i + p.len();
                while bytes.get(end).is_some_and(|b| is_token_char(*b)) {
                    end += 1;
                }
                out.push_str(&text[copied..i]);
                out.push_str(MASK);
                copied = end;
                i = end;
            }
            _ => i += 1,
        }
    }
    out.push_str(&text[copied..]);
    out
}

fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_shapes_are_masked_wherever_they_stand() {
        assert_eq!(mask_token_shapes("a secret_abc-1 b"), "a [REDACTED] b");
        assert_eq!(mask_token_shapes("/Users/NTN_xyz"), "/Users/[REDACTED]");
        assert_eq!(mask_token_shapes("{\"t\":\"ntn_1\"}"), "{\"t\":\"[REDACTED]\"}");
        // Inside a word it is not a token.
        assert_eq!(mask_token_shapes("top_secret_x"), "top_secret_x");
        assert_eq!(mask_token_shapes("été secret_é"), "été [REDACTED]é");
    }

    #[test]
    fn credential_named_query_values_are_masked_but_token_ids_kept() {
        assert_eq!(
            mask_query("access_token=abc&count=5&api_key=k"),
            "access_token=[REDACTED]&count=5&api_key=[REDACTED]"
        );
        assert_eq!(mask_query("token=tok_2"), "token=tok_2");
        assert_eq!(mask_query("token=tok_2x"), "token=[REDACTED]");
        assert_eq!(
            mask_query("filter=userName%20eq%20secret_zz"),
            "filter=userName%20eq%20[REDACTED]"
        );
    }
}
