//! The request journal: what the server received and how it answered, for tests to assert on.
//!
//! Tokens never enter it: requests are recorded without headers, and any token secret that
//! appears in a path, query or body is replaced with `[REDACTED]` before it is stored.

use std::collections::VecDeque;
use std::fmt;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

/// One request, as received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// 1 for the first request the server received, counting across resets of the journal.
    pub seq: u64,
    /// The id (never the secret) of the token that authenticated it.
    pub token: Option<String>,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// The status the server chose. With a fault that destroys the answer (`reset`,
    /// `lost-response`, `truncate`) the client did not see it: read `fault` too.
    pub status: u16,
    /// The fault injected into this request, in its text form (`503`, `reset`, ...).
    pub fault: Option<String>,
    /// The request body, if it had one (lossy UTF-8).
    pub body: Option<String>,
}

impl JournalEntry {
    pub fn is(&self, method: &str, path: &str) -> bool {
        self.method.eq_ignore_ascii_case(method) && self.path == path
    }
}

impl fmt::Display for JournalEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{} {} {}", self.seq, self.method, self.path)?;
        if let Some(q) = &self.query {
            write!(f, "?{q}")?;
        }
        write!(f, " -> {}", self.status)?;
        if let Some(fault) = &self.fault {
            write!(f, " (fault {fault})")?;
        }
        Ok(())
    }
}

/// A bounded journal: past `capacity` entries, the oldest are dropped.
#[derive(Debug)]
pub(crate) struct Journal {
    inner: Mutex<(VecDeque<JournalEntry>, u64)>,
    capacity: usize,
}

impl Journal {
    pub fn new(capacity: usize) -> Self {
        Journal {
            inner: Mutex::new((VecDeque::new(), 0)),
            capacity,
        }
    }

    pub fn record(&self, mut entry: JournalEntry) {
        let mut inner = self.inner.lock();
        inner.1 += 1;
        entry.seq = inner.1;
        if inner.0.len() >= self.capacity {
            inner.0.pop_front();
        }
        inner.0.push_back(entry);
    }

    pub fn entries(&self) -> Vec<JournalEntry> {
        self.inner.lock().0.iter().cloned().collect()
    }

    pub fn clear(&self) {
        self.inner.lock().0.clear();
    }
}

/// Replaces every occurrence of any secret in `text`, including percent-encoded ones (a
/// secret sent in a query string or path arrives encoded when it holds `/`, `+`, `=`, ...).
pub(crate) fn redact(text: &str, secrets: &[String]) -> String {
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).filter(|s| !s.is_empty()).collect();
    let mut out = text.to_string();
    for s in &secrets {
        if out.contains(s) {
            out = out.replace(s, "[REDACTED]");
        }
    }
    if !out.contains(['%', '+']) {
        return out;
    }
    // Encoded forms: any piece between separators whose decoded form holds a secret goes.
    let mut result = String::with_capacity(out.len());
    let mut piece = String::new();
    for c in out.chars() {
        if matches!(c, '&' | '=' | '/' | '?' | ';') {
            push_redacted(&mut result, &piece, &secrets);
            piece.clear();
            result.push(c);
        } else {
            piece.push(c);
        }
    }
    push_redacted(&mut result, &piece, &secrets);
    result
}

fn push_redacted(out: &mut String, piece: &str, secrets: &[&str]) {
    let leaks = piece.contains(['%', '+'])
        && [false, true].into_iter().any(|plus| {
            let decoded = percent_decode(piece, plus);
            secrets.iter().any(|s| decoded.contains(s))
        });
    out.push_str(if leaks { "[REDACTED]" } else { piece });
}

fn percent_decode(s: &str, plus_is_space: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b, hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (b'+', _) if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A check on the journal, verified when the [`crate::MockServer`] drops (or on demand with
/// [`crate::MockServer::verify`]), in the spirit of wiremock's `expect`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "an expectation does nothing until it is given to MockServer::expect"]
pub struct Expectation {
    method: String,
    path: String,
    prefix: bool,
    min: usize,
    max: usize,
    /// Whether `min` was asked for (`times`, `at_least`) rather than the default of one.
    min_given: bool,
}

impl Expectation {
    /// Requests with this method and exactly this path (e.g. `/scim/v2/Users`).
    pub fn request(method: &str, path: &str) -> Self {
        Expectation {
            method: method.to_uppercase(),
            path: path.to_string(),
            prefix: false,
            min: 1,
            max: usize::MAX,
            min_given: false,
        }
    }

    /// Requests with this method and a path that starts with `prefix`.
    pub fn request_prefix(method: &str, prefix: &str) -> Self {
        Expectation {
            prefix: true,
            ..Expectation::request(method, prefix)
        }
    }

    pub fn times(self, n: usize) -> Self {
        Expectation {
            min: n,
            max: n,
            min_given: true,
            ..self
        }
    }

    pub fn at_least(self, n: usize) -> Self {
        Expectation {
            min: n,
            min_given: true,
            ..self
        }
    }

    pub fn at_most(self, n: usize) -> Self {
        // "At most n" alone allows none; after `at_least` or `times`, the lower bound stays.
        let min = if self.min_given { self.min.min(n) } else { 0 };
        Expectation { max: n, min, ..self }
    }

    fn matches(&self, e: &JournalEntry) -> bool {
        e.method == self.method
            && if self.prefix {
                e.path.starts_with(&self.path)
            } else {
                e.path == self.path
            }
    }

    /// `Err` with a message naming what was expected and what came.
    pub(crate) fn check(&self, entries: &[JournalEntry]) -> Result<(), String> {
        let n = entries.iter().filter(|e| self.matches(e)).count();
        if n >= self.min && n <= self.max {
            return Ok(());
        }
        let want = match (self.min, self.max) {
            (a, b) if a == b => format!("exactly {a}"),
            (a, usize::MAX) => format!("at least {a}"),
            (0, b) => format!("at most {b}"),
            (a, b) => format!("between {a} and {b}"),
        };
        let what = if self.prefix {
            format!("{} {}*", self.method, self.path)
        } else {
            format!("{} {}", self.method, self.path)
        };
        Err(format!("expected {want} requests matching {what}, received {n}"))
    }
}
