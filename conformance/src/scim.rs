//! The oracle's own SCIM client: plain requests and a careful list walk, written here so that
//! what the suites believe a target holds never comes from the connector they judge.

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::Value;

/// One answer: status, the headers the suites look at, the body as text and as JSON when it
/// parses.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub content_type: Option<String>,
    pub retry_after: Option<String>,
    pub allow: Option<String>,
    pub location: Option<String>,
    pub text: String,
    /// `Value::Null` when the body is empty or not JSON.
    pub body: Value,
}

impl Answer {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// A SCIM base URL and its bearer token.
#[derive(Clone)]
pub struct Scim {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl fmt::Debug for Scim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scim")
            .field("base", &self.base)
            .field("token", &"[REDACTED]")
            .finish()
    }
}

/// The largest list the walk accepts before calling the target endless.
const MAX_WALK_PAGES: usize = 20_000;

impl Scim {
    pub fn new(base: &str, token: &str) -> anyhow::Result<Scim> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .context("cannot build an HTTP client")?;
        Ok(Scim {
            base: base.trim_end_matches('/').to_string(),
            token: token.to_string(),
            http,
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// The bearer token (handed to the connector under test; never printed).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The same target with another token (for checks of bad tokens).
    pub fn with_token(&self, token: &str) -> Scim {
        Scim {
            token: token.to_string(),
            ..self.clone()
        }
    }

    /// Replaces the token wherever a server may have echoed it.
    pub fn redact(&self, text: &str) -> String {
        if self.token.is_empty() {
            text.to_string()
        } else {
            text.replace(&self.token, "[REDACTED]")
        }
    }

    /// Sends one request; `path` is relative to the base (`Users?count=1`).
    pub async fn request(&self, method: &str, path: &str, body: Option<&Value>) -> anyhow::Result<Answer> {
        let body = body
            .map(serde_json::to_vec)
            .transpose()
            .context("cannot encode a request body")?;
        self.request_raw(method, path, body).await
    }

    /// Sends one request with a body sent as it is (which need not be JSON).
    pub async fn request_raw(&self, method: &str, path: &str, body: Option<Vec<u8>>) -> anyhow::Result<Answer> {
        let url = format!("{}/{}", self.base, path.trim_start_matches('/'));
        let method = reqwest::Method::from_bytes(method.as_bytes()).context("bad HTTP method")?;
        let mut req = self.http.request(method.clone(), &url);
        if !self.token.is_empty() {
            req = req.bearer_auth(&self.token);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/scim+json").body(b);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("{method} {path}: {}", self.redact(&e.to_string())))?;
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let status = resp.status().as_u16();
        let content_type = header("content-type");
        let retry_after = header("retry-after");
        let allow = header("allow");
        let location = header("location");
        let text = resp
            .text()
            .await
            .map_err(|e| anyhow::anyhow!("{method} {path}: reading the body: {}", self.redact(&e.to_string())))?;
        let text = self.redact(&text);
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Answer {
            status,
            content_type,
            retry_after,
            allow,
            location,
            text,
            body,
        })
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Answer> {
        self.request("GET", path, None).await
    }

    /// A request that must succeed; its JSON body.
    pub async fn ok(&self, method: &str, path: &str, body: Option<&Value>) -> anyhow::Result<Value> {
        let a = self.request(method, path, body).await?;
        if !a.is_success() {
            bail!("{method} {path} answered {}: {}", a.status, short(&a.text));
        }
        Ok(a.body)
    }

    /// Walks a list (`Users`, `Groups`) with `startIndex` and `count=100`, trusting no count:
    /// ids seen twice are kept once, the walk ends on an empty page, and a walk that never ends
    /// is an error.
    pub async fn list_all(&self, resource: &str) -> anyhow::Result<Vec<Value>> {
        let mut seen = BTreeSet::new();
        let mut all = Vec::new();
        let mut start = 1usize;
        for _ in 0..MAX_WALK_PAGES {
            let page = self
                .ok("GET", &format!("{resource}?startIndex={start}&count=100"), None)
                .await?;
            let items = page
                .get("Resources")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if items.is_empty() {
                return Ok(all);
            }
            let n = items.len();
            for item in items {
                let id = item.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
                if seen.insert(id) {
                    all.push(item);
                }
            }
            start += n;
            if let Some(total) = page.get("totalResults").and_then(Value::as_u64) {
                if start as u64 > total && n < 100 {
                    return Ok(all);
                }
            }
        }
        bail!("{resource}: the list did not end after {MAX_WALK_PAGES} pages")
    }

    /// The id of the user with this email, if the workspace has one.
    pub async fn find_user_by_email(&self, email: &str) -> anyhow::Result<Option<Value>> {
        let filter = format!("userName eq \"{email}\"");
        let q = format!("Users?filter={}", urlencode(&filter));
        let page = self.ok("GET", &q, None).await?;
        Ok(page
            .get("Resources")
            .and_then(Value::as_array)
            .and_then(|r| r.first())
            .cloned())
    }
}

/// The first 300 characters of a body, for messages.
pub fn short(text: &str) -> String {
    let t: String = text.chars().take(300).collect();
    if t.len() < text.len() {
        format!("{t}...")
    } else {
        t
    }
}

/// Percent-encodes a query value.
pub fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
