//! Cassettes: recorded HTTP exchanges in Ruby VCR's JSON layout (`http_interactions`, each a
//! `request`, a `response` and `recorded_at`; `recorded_with`), which other VCR tools read (the
//! Rust `vcr-cassette` crate among them: a test proves it). What VCR's layout has no place for
//! travels in one extra top-level object, `notion_conformance`, that those tools ignore: the
//! format version, what was recorded (a real tenant, the emulation, or synthesised examples),
//! the upstream base URL and how the exchanges were scrubbed.
//!
//! Header names are lower-case and sorted; bodies are text (`encoding` UTF-8). The
//! `Authorization` header is never stored: the recorder writes [`CREDENTIAL_HEADER`] instead,
//! naming which credential a request carried (`Bearer credential-1`, `none`) and never its
//! secret.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// The version of the `notion_conformance` extension this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// Written by the recorder in place of `Authorization`: a label for the credential, never the
/// secret. Replays and `fidelity` read it to send a valid, a wrong or no token.
pub const CREDENTIAL_HEADER: &str = "x-recorded-credential";

/// A whole cassette.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cassette {
    pub http_interactions: Vec<Interaction>,
    pub recorded_with: String,
    pub notion_conformance: About,
}

/// What VCR's layout cannot say.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct About {
    pub format_version: u32,
    pub source: Source,
    /// The SCIM base URL the requests went to (`https://api.notion.com/scim/v2`).
    pub upstream: String,
    /// `None` for synthesised cassettes, which hold no real values.
    #[serde(default)]
    pub scrubbing: Option<Scrubbing>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// What the exchanges come from: decides how far they can be trusted as evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    /// `tenant` (a real Notion workspace), `emulation` (notion-scim-mock, not evidence of
    /// Notion's behaviour), `synthetic` (written from documentation) or `unknown`.
    pub kind: String,
    pub description: String,
}

/// How personal values were replaced before the cassette was written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scrubbing {
    /// `mapped`: every UUID replaced by a keyed pseudonym UUID; `kept`: ids as the upstream
    /// sent them.
    pub ids: String,
    /// A fingerprint of the pseudonym key (never the key): a later session may append to the
    /// cassette only with the same key, so that one real value keeps one pseudonym.
    pub key_check: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interaction {
    pub request: Request,
    pub response: Response,
    /// RFC 2822, as VCR writes it.
    pub recorded_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// Lower-case, as VCR writes it (`get`).
    pub method: String,
    pub uri: String,
    #[serde(deserialize_with = "body_string_or_struct")]
    pub body: Body,
    #[serde(default)]
    pub headers: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub status: Status,
    #[serde(default)]
    pub headers: BTreeMap<String, Vec<String>>,
    #[serde(deserialize_with = "body_string_or_struct")]
    pub body: Body,
    #[serde(default)]
    pub http_version: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub code: u16,
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Body {
    #[serde(default)]
    pub encoding: Option<String>,
    pub string: String,
}

impl Body {
    pub fn text(s: impl Into<String>) -> Body {
        Body {
            encoding: Some("UTF-8".into()),
            string: s.into(),
        }
    }

    /// The body as JSON, when it is JSON.
    pub fn json(&self) -> Option<Value> {
        if self.string.trim().is_empty() {
            return None;
        }
        serde_json::from_str(&self.string).ok()
    }
}

/// VCR lets a body be a bare string too.
fn body_string_or_struct<'de, D: Deserializer<'de>>(d: D) -> Result<Body, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Plain(String),
        Full {
            #[serde(default)]
            encoding: Option<String>,
            string: String,
        },
    }
    Ok(match Repr::deserialize(d)? {
        Repr::Plain(string) => Body { encoding: None, string },
        Repr::Full { encoding, string } => Body { encoding, string },
    })
}

/// The standard reason phrase of a status, as VCR stores it beside the code.
pub fn reason(code: u16) -> String {
    reqwest::StatusCode::from_u16(code)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("")
        .to_string()
}

/// Now, in RFC 2822 (`Tue, 01 Nov 2011 04:58:44 +0000`).
pub fn now_rfc2822() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc2822)
        .unwrap_or_default()
}

/// A request as the matchers and `fidelity` see it: method, the path below the cassette's
/// base path (percent-decoded), the query pairs (decoded, in order) and the body.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub body: String,
}

impl Target {
    /// `GET /Users?count=1`, for messages.
    pub fn describe(&self) -> String {
        let mut s = format!("{} {}", self.method, self.path);
        if !self.query.is_empty() {
            let q: Vec<String> = self.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
            s.push('?');
            s.push_str(&q.join("&"));
        }
        s
    }

    /// The path and encoded query, to append to a base URL.
    pub fn path_and_query(&self) -> String {
        let mut s = encode_path(&self.path);
        if !self.query.is_empty() {
            let q: Vec<String> = self
                .query
                .iter()
                .map(|(k, v)| format!("{}={}", crate::scim::urlencode(k), crate::scim::urlencode(v)))
                .collect();
            s.push('?');
            s.push_str(&q.join("&"));
        }
        s
    }

    pub fn json(&self) -> Option<Value> {
        Body {
            encoding: None,
            string: self.body.clone(),
        }
        .json()
    }
}

/// Percent-encodes what a path segment may not hold literally.
fn encode_path(path: &str) -> String {
    let mut out = String::new();
    for b in path.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' | b':' | b'@' | b'$' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Decodes `%XX` escapes (and nothing else: a path keeps its `+`).
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Splits a URL's path and query into a [`Target`] relative to `base_path` (`/scim/v2`).
pub fn target_of(method: &str, url: &reqwest::Url, base_path: &str, body: &str) -> Target {
    let path = percent_decode(url.path());
    let base = base_path.trim_end_matches('/');
    let rel = match path.strip_prefix(base) {
        Some(rest) if base.is_empty() || rest.is_empty() || rest.starts_with('/') => rest.to_string(),
        _ => path.clone(),
    };
    let rel = if rel.is_empty() { "/".to_string() } else { rel };
    Target {
        method: method.to_ascii_uppercase(),
        path: rel,
        query: url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
        body: body.to_string(),
    }
}

impl Cassette {
    pub fn new(source: Source, upstream: &str, scrubbing: Option<Scrubbing>) -> Cassette {
        Cassette {
            http_interactions: Vec::new(),
            recorded_with: format!("notion-conformance {}", env!("CARGO_PKG_VERSION")),
            notion_conformance: About {
                format_version: FORMAT_VERSION,
                source,
                upstream: upstream.trim_end_matches('/').to_string(),
                scrubbing,
                notes: Vec::new(),
            },
        }
    }

    /// Reads a cassette, refusing one of another format version.
    pub fn load(path: &Path) -> anyhow::Result<Cassette> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        Cassette::parse(&text).with_context(|| format!("{} is not a usable cassette", path.display()))
    }

    pub fn parse(text: &str) -> anyhow::Result<Cassette> {
        let raw: Value = serde_json::from_str(text).context("not JSON")?;
        match raw
            .pointer("/notion_conformance/format_version")
            .and_then(Value::as_u64)
        {
            None => bail!("no notion_conformance.format_version: not written by notion-conformance"),
            Some(v) if v != u64::from(FORMAT_VERSION) => {
                bail!("format version {v}; this build reads version {FORMAT_VERSION}")
            }
            Some(_) => {}
        }
        serde_json::from_value(raw).context("the cassette does not have the expected layout")
    }

    /// Pretty JSON, one interaction per array entry, ending in a newline.
    pub fn to_json(&self) -> anyhow::Result<String> {
        let mut s = serde_json::to_string_pretty(self).context("cannot encode the cassette")?;
        s.push('\n');
        Ok(s)
    }

    /// Writes the cassette atomically (a temp file beside it, then a rename): a reader never
    /// sees half a cassette.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let text = self.to_json()?;
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let tmp = tempfile::NamedTempFile::new_in(dir).with_context(|| format!("cannot write in {}", dir.display()))?;
        std::fs::write(tmp.path(), text).with_context(|| format!("cannot write {}", tmp.path().display()))?;
        tmp.persist(path)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {}", path.display(), e.error))?;
        Ok(())
    }

    /// The upstream's path (`/scim/v2`), which every recorded URI starts with.
    pub fn base_path(&self) -> String {
        reqwest::Url::parse(&self.notion_conformance.upstream)
            .map(|u| u.path().trim_end_matches('/').to_string())
            .unwrap_or_default()
    }

    /// Interaction `i`'s request as a [`Target`].
    pub fn target(&self, i: usize) -> anyhow::Result<Target> {
        let r = &self.http_interactions[i].request;
        let url = reqwest::Url::parse(&r.uri).with_context(|| format!("interaction {i}: bad uri {:?}", r.uri))?;
        Ok(target_of(&r.method, &url, &self.base_path(), &r.body.string))
    }
}

impl Request {
    /// The recorded credential label (`Bearer credential-1`, `none`), when there is one.
    pub fn credential(&self) -> Option<&str> {
        self.headers
            .get(CREDENTIAL_HEADER)
            .and_then(|v| v.first())
            .map(String::as_str)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        header_of(&self.headers, name)
    }
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        header_of(&self.headers, name)
    }
}

fn header_of<'a>(headers: &'a BTreeMap<String, Vec<String>>, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.first())
        .map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_splits_targets() {
        let url = reqwest::Url::parse("http://h:1/scim/v2/Users?filter=userName%20eq%20%22a%40b.c%22&count=2").unwrap();
        let t = target_of("get", &url, "/scim/v2", "");
        assert_eq!(t.method, "GET");
        assert_eq!(t.path, "/Users");
        assert_eq!(
            t.query,
            vec![
                ("filter".to_string(), "userName eq \"a@b.c\"".to_string()),
                ("count".to_string(), "2".to_string())
            ]
        );
        assert_eq!(t.describe(), "GET /Users?filter=userName eq \"a@b.c\"&count=2");
        let back = reqwest::Url::parse(&format!("http://h:1/scim/v2{}", t.path_and_query())).unwrap();
        assert_eq!(target_of("GET", &back, "/scim/v2", ""), t);
        assert_eq!(percent_decode("a%2Fb%zz%4"), "a/b%zz%4");
    }

    #[test]
    fn refuses_other_versions() {
        let mut c = Cassette::new(
            Source {
                kind: "synthetic".into(),
                description: "test".into(),
            },
            "http://h/scim/v2",
            None,
        );
        let ok = c.to_json().unwrap();
        assert_eq!(Cassette::parse(&ok).unwrap(), c);
        c.notion_conformance.format_version = 99;
        let err = Cassette::parse(&c.to_json().unwrap()).unwrap_err();
        assert!(format!("{err:#}").contains("format version 99"), "{err:#}");
        assert!(Cassette::parse(r#"{"http_interactions":[],"recorded_with":"VCR 6"}"#).is_err());
    }
}
