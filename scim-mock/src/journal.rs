//! The request journal: what the server received and how it answered, for tests to assert on.
//!
//! Tokens never enter it: requests are recorded without headers, the caller is named by its
//! token's id (`tok_1`), and any token secret that appears in a path, query or body is replaced
//! with `[REDACTED]` before it is stored. Entries can be filtered ([`JournalFilter`]) and
//! followed as they are recorded ([`Journal::follow`], the admin API's server-sent events).

use std::collections::VecDeque;
use std::fmt;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

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
    /// When the request arrived, RFC 3339 in UTC (empty in entries written by older versions).
    #[serde(default)]
    pub at: String,
    /// How long the server took to answer, from the request's arrival until the response was
    /// ready to send (latency faults included), in microseconds.
    #[serde(default)]
    pub duration_us: u64,
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

/// Which entries to read: every given criterion must hold. The query string of
/// `GET /__admin/journal` and `GET /__admin/journal/stream` (`?token=tok_1&method=GET&
/// path=/scim/v2/Users*&status=4xx&since=120`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JournalFilter {
    /// The token's id (`tok_1`), as the journal stores it; `none` for requests that no token
    /// authenticated.
    pub token: Option<String>,
    /// The method, in any case.
    pub method: Option<String>,
    /// The exact path, or a prefix followed by `*`.
    pub path: Option<String>,
    /// A status (`404`) or a class (`4xx`).
    pub status: Option<String>,
    /// Only entries whose `seq` is above this one (what a poller last saw).
    pub since: Option<u64>,
}

impl JournalFilter {
    /// Checks the criteria that can be wrong before any entry is read. The message never
    /// repeats a token value: a filter may be handed a secret by mistake.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(status) = &self.status {
            if status_matcher(status).is_none() {
                return Err(format!(
                    "status filter {status:?}: expected a status such as 404 or a class such as 4xx"
                ));
            }
        }
        if let Some(token) = &self.token {
            if token != "none" && !is_token_id(token) {
                return Err("token filter: expected a token id such as tok_1 (the journal never holds secrets)".into());
            }
        }
        Ok(())
    }

    pub fn matches(&self, e: &JournalEntry) -> bool {
        let token_ok = match self.token.as_deref() {
            None => true,
            Some("none") => e.token.is_none(),
            Some(id) => e.token.as_deref() == Some(id),
        };
        let path_ok = match self.path.as_deref() {
            None => true,
            Some(p) => match p.strip_suffix('*') {
                Some(prefix) => e.path.starts_with(prefix),
                None => e.path == p,
            },
        };
        let status_ok = match self.status.as_deref() {
            None => true,
            Some(s) => status_matcher(s).is_some_and(|(lo, hi)| (lo..=hi).contains(&e.status)),
        };
        token_ok
            && path_ok
            && status_ok
            && self.method.as_deref().is_none_or(|m| m.eq_ignore_ascii_case(&e.method))
            && self.since.is_none_or(|s| e.seq > s)
    }
}

/// `tok_` and digits: the only token names the emulation gives.
fn is_token_id(s: &str) -> bool {
    s.strip_prefix("tok_")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// `404` -> 404..=404, `4xx` -> 400..=499.
fn status_matcher(s: &str) -> Option<(u16, u16)> {
    let lower = s.to_ascii_lowercase();
    if let Some(class) = lower.strip_suffix("xx") {
        let c: u16 = class.parse().ok().filter(|c| (1..=5).contains(c))?;
        return Some((c * 100, c * 100 + 99));
    }
    let n: u16 = lower.parse().ok().filter(|n| (100..=599).contains(n))?;
    Some((n, n))
}

/// How much the journal keeps: past either bound the oldest entries are dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JournalLimits {
    pub max_entries: usize,
    /// Bytes of the entries kept (bodies, paths and queries, plus a fixed cost each).
    pub max_bytes: usize,
}

impl Default for JournalLimits {
    fn default() -> Self {
        JournalLimits {
            max_entries: crate::server::DEFAULT_JOURNAL_CAPACITY,
            max_bytes: DEFAULT_JOURNAL_MAX_BYTES,
        }
    }
}

/// The journal's default byte bound: 200 rejected half-megabyte bodies no longer grow the
/// server by 100 MB.
pub const DEFAULT_JOURNAL_MAX_BYTES: usize = 16 << 20;

/// What the journal holds now, and how much it dropped to stay within its limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalStatus {
    pub entries: usize,
    pub bytes: usize,
    /// Entries dropped (the oldest first) since the journal was last cleared.
    pub dropped: u64,
    pub limits: JournalLimits,
}

/// What an entry costs the journal, roughly what it holds in memory.
fn entry_size(e: &JournalEntry) -> usize {
    const FIXED: usize = 128;
    FIXED
        + e.method.len()
        + e.path.len()
        + e.query.as_ref().map_or(0, String::len)
        + e.body.as_ref().map_or(0, String::len)
        + e.fault.as_ref().map_or(0, String::len)
        + e.token.as_ref().map_or(0, String::len)
}

#[derive(Debug, Default)]
struct Kept {
    entries: VecDeque<(JournalEntry, usize)>,
    seq: u64,
    bytes: usize,
    dropped: u64,
}

/// How many new entries a follower may fall behind before it is told it missed some.
const FOLLOW_BUFFER: usize = 4096;

/// A journal bounded in entries and in bytes: the newest are kept.
#[derive(Debug)]
pub(crate) struct Journal {
    inner: Mutex<(Kept, JournalLimits)>,
    /// Every new entry, for followers (sent under `inner`'s lock, so that a follower's
    /// snapshot and its stream neither overlap nor leave a gap).
    live: broadcast::Sender<JournalEntry>,
}

impl Journal {
    pub fn new(limits: JournalLimits) -> Self {
        Journal {
            inner: Mutex::new((Kept::default(), limits)),
            live: broadcast::channel(FOLLOW_BUFFER).0,
        }
    }

    pub fn record(&self, mut entry: JournalEntry) {
        let mut inner = self.inner.lock();
        let (kept, limits) = &mut *inner;
        kept.seq += 1;
        entry.seq = kept.seq;
        let size = entry_size(&entry);
        kept.bytes += size;
        if self.live.receiver_count() > 0 {
            // No follower, no copy; a send only fails when the last follower just left.
            let _ = self.live.send(entry.clone());
        }
        kept.entries.push_back((entry, size));
        evict(kept, *limits);
    }

    pub fn entries(&self) -> Vec<JournalEntry> {
        self.inner.lock().0.entries.iter().map(|(e, _)| e.clone()).collect()
    }

    /// The kept entries that pass `filter`, oldest first.
    pub fn filtered(&self, filter: &JournalFilter) -> Vec<JournalEntry> {
        let inner = self.inner.lock();
        inner
            .0
            .entries
            .iter()
            .filter(|(e, _)| filter.matches(e))
            .map(|(e, _)| e.clone())
            .collect()
    }

    /// The kept entries that pass `filter`, and a receiver of every entry recorded after them.
    pub fn follow(&self, filter: &JournalFilter) -> (Vec<JournalEntry>, broadcast::Receiver<JournalEntry>) {
        let inner = self.inner.lock();
        let rx = self.live.subscribe();
        let kept = inner
            .0
            .entries
            .iter()
            .filter(|(e, _)| filter.matches(e))
            .map(|(e, _)| e.clone())
            .collect();
        (kept, rx)
    }

    pub fn clear(&self) {
        let mut inner = self.inner.lock();
        inner.0.entries.clear();
        inner.0.bytes = 0;
        inner.0.dropped = 0;
    }

    pub fn status(&self) -> JournalStatus {
        let inner = self.inner.lock();
        JournalStatus {
            entries: inner.0.entries.len(),
            bytes: inner.0.bytes,
            dropped: inner.0.dropped,
            limits: inner.1,
        }
    }

    pub fn set_limits(&self, limits: JournalLimits) {
        let mut inner = self.inner.lock();
        inner.1 = limits;
        let (kept, limits) = &mut *inner;
        evict(kept, *limits);
    }
}

/// Drops the oldest entries until both bounds hold (the newest entry always stays).
fn evict(kept: &mut Kept, limits: JournalLimits) {
    while kept.entries.len() > 1 && (kept.entries.len() > limits.max_entries.max(1) || kept.bytes > limits.max_bytes) {
        if let Some((_, size)) = kept.entries.pop_front() {
            kept.bytes -= size;
            kept.dropped += 1;
        }
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
