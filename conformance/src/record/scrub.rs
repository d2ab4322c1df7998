//! Scrubbing: what a recorded exchange must lose before anything touches disk.
//!
//! - Secrets: the `Authorization` header is dropped (a label, `Bearer credential-1`, says which
//!   credential a request carried); every secret seen in one is removed wherever else it shows,
//!   and so is anything shaped like a Notion token (`secret_...`, `ntn_...`).
//! - Personal values get pseudonyms derived with HMAC-SHA256 under a key that never leaves the
//!   machine: one real value always becomes the same fake one, across the whole cassette and
//!   across sessions that use the same key, so relations (a member's id in a group, an email in
//!   a filter) survive. Emails keep their structure (`user-3f9a2c1b@d1a2b3.example`: the
//!   domain mapped label by label under the reserved `.example`), names are mapped word by word
//!   (so `formatted` stays "given family"), ids become other UUIDs (or are kept with
//!   `--keep-ids`), and any other value of a user or group becomes `[scrubbed-...]`.
//! - Only a few headers are kept (content type, location, retry-after, allow, ...): the rest,
//!   cookies included, is dropped.
//!
//! What is kept verbatim is a short list of structural keys (`schemas`, `meta` times, `op`,
//! `role`, `type`, statuses and error codes) and the discovery documents, whose text is the
//! server's own. Free text (`detail`, `message`) keeps its words but loses every email, id,
//! domain and name the scrubber has met.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::Path;

use anyhow::{bail, Context};
use ring::hmac;
use serde_json::Value;

use crate::cassette::{self, Body, Interaction, Request, Response, Status, CREDENTIAL_HEADER};

/// The pseudonym key: 32 random bytes. Never printed, never written into a cassette.
#[derive(Clone)]
pub struct ScrubKey([u8; 32]);

impl fmt::Debug for ScrubKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ScrubKey([REDACTED])")
    }
}

impl ScrubKey {
    pub fn random() -> anyhow::Result<ScrubKey> {
        use ring::rand::SecureRandom;
        let mut k = [0u8; 32];
        ring::rand::SystemRandom::new()
            .fill(&mut k)
            .map_err(|_| anyhow::anyhow!("no randomness for a scrub key"))?;
        Ok(ScrubKey(k))
    }

    pub fn from_bytes(bytes: [u8; 32]) -> ScrubKey {
        ScrubKey(bytes)
    }

    /// Reads the key from `path` (64 hex digits), or makes a new one there (readable by its
    /// owner only) when the file does not exist.
    pub fn load_or_create(path: &Path) -> anyhow::Result<ScrubKey> {
        if path.exists() {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            let hex = text.trim();
            if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                bail!("{} does not hold a scrub key (64 hex digits)", path.display());
            }
            let mut k = [0u8; 32];
            for (i, byte) in k.iter_mut().enumerate() {
                *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
                    .with_context(|| format!("{} does not hold a scrub key", path.display()))?;
            }
            return Ok(ScrubKey(k));
        }
        let key = ScrubKey::random()?;
        let hex: String = key.0.iter().map(|b| format!("{b:02x}")).collect();
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        use std::io::Write;
        let mut file = options
            .open(path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        writeln!(file, "{hex}").with_context(|| format!("cannot write {}", path.display()))?;
        Ok(key)
    }
}

/// Keys whose string values are structure, not personal data: kept as they are.
const KEEP: &[&str] = &[
    "schemas",
    "resourcetype",
    "created",
    "lastmodified",
    "version",
    "op",
    "scimtype",
    "status",
    "code",
    "object",
    "type",
    "role",
    "locale",
    "preferredlanguage",
    "usertype",
    "timezone",
    "attributes",
    "excludedattributes",
    "sortby",
    "sortorder",
    // Booleans sent as strings ("False", as Entra sends `active`).
    "active",
    "primary",
];
/// Keys holding URLs or paths: ids and emails inside are mapped, the host is kept.
const URLISH: &[&str] = &["$ref", "location", "path", "uri", "documentationuri"];
/// Free text written by the server.
const FREE_TEXT: &[&str] = &["detail", "message", "description"];
/// Keys holding a person's (or a group's) name: mapped word by word.
const NAMES: &[&str] = &[
    "formatted",
    "givenname",
    "familyname",
    "middlename",
    "honorificprefix",
    "honorificsuffix",
    "nickname",
    "displayname",
    "display",
];
/// Request headers kept (besides the credential label).
const REQUEST_HEADERS: &[&str] = &["accept", "content-type", "user-agent"];
/// Response headers kept.
const RESPONSE_HEADERS: &[&str] = &[
    "allow",
    "cache-control",
    "content-type",
    "etag",
    "location",
    "ratelimit-limit",
    "ratelimit-remaining",
    "ratelimit-reset",
    "retry-after",
    "www-authenticate",
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
];

/// One exchange as it went over the wire, before scrubbing. Held in memory only.
pub struct RawExchange {
    pub method: String,
    pub url: reqwest::Url,
    pub request_headers: Vec<(String, String)>,
    pub request_body: Vec<u8>,
    pub status: u16,
    pub response_headers: Vec<(String, String)>,
    pub response_body: Vec<u8>,
}

impl fmt::Debug for RawExchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Unscrubbed: only the method and status may be shown.
        f.debug_struct("RawExchange")
            .field("method", &self.method)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

/// How a word's letters were cased, relative to its usual form.
#[derive(Clone, Copy)]
enum Case {
    Same,
    Lower,
    Upper,
    Swapped,
}

fn swap_case(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_uppercase() {
                c.to_lowercase().collect::<String>()
            } else {
                c.to_uppercase().collect()
            }
        })
        .collect()
}

fn case_of(s: &str, natural: &str) -> Case {
    if s == natural {
        Case::Same
    } else if s == swap_case(natural) {
        Case::Swapped
    } else if s == s.to_lowercase() {
        Case::Lower
    } else if s == s.to_uppercase() {
        Case::Upper
    } else {
        Case::Same
    }
}

fn apply_case(case: Case, s: &str) -> String {
    match case {
        Case::Same => s.to_string(),
        Case::Lower => s.to_lowercase(),
        Case::Upper => s.to_uppercase(),
        Case::Swapped => swap_case(s),
    }
}

/// Whether a whole string is an email address.
pub fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || "._%+-@'".contains(c))
}

fn is_uuid_at(b: &[u8]) -> bool {
    if b.len() < 36 {
        return false;
    }
    b[..36].iter().enumerate().all(|(i, c)| match i {
        8 | 13 | 18 | 23 => *c == b'-',
        _ => c.is_ascii_hexdigit(),
    }) && b.get(36).is_none_or(|c| !c.is_ascii_alphanumeric())
}

/// Calls `f` on every hyphenated UUID inside `s` and splices in what it returns.
pub fn map_uuids(s: &str, mut f: impl FnMut(&str) -> String) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        let glued = i > 0 && b[i - 1].is_ascii_alphanumeric();
        if !glued && is_uuid_at(&b[i..]) {
            out.push_str(&f(&s[i..i + 36]));
            i += 36;
        } else {
            let c = s[i..].chars().next().unwrap_or(' ');
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// The spans of email addresses inside free text.
fn email_spans(s: &str) -> Vec<(usize, usize)> {
    let b = s.as_bytes();
    let local = |c: u8| c.is_ascii_alphanumeric() || b"._%+-'".contains(&c);
    let domain = |c: u8| c.is_ascii_alphanumeric() || c == b'.' || c == b'-';
    let mut spans = Vec::new();
    let mut from = 0;
    for (at, _) in s.match_indices('@') {
        if at < from {
            continue;
        }
        let mut start = at;
        while start > from && local(b[start - 1]) {
            start -= 1;
        }
        let mut end = at + 1;
        while end < b.len() && domain(b[end]) {
            end += 1;
        }
        while end > at + 1 && b[end - 1] == b'.' {
            end -= 1;
        }
        if start < at && is_email(&s[start..end]) {
            spans.push((start, end));
            from = end;
        }
    }
    spans
}

/// Token-shaped secrets (`secret_` or `ntn_` and at least 20 more characters).
fn token_spans(s: &str) -> Vec<(usize, usize)> {
    let b = s.as_bytes();
    let mut spans = Vec::new();
    for prefix in ["secret_", "ntn_"] {
        for (at, _) in s.match_indices(prefix) {
            if at > 0 && b[at - 1].is_ascii_alphanumeric() {
                continue;
            }
            let mut end = at + prefix.len();
            while end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'_') {
                end += 1;
            }
            if end - at - prefix.len() >= 20 {
                spans.push((at, end));
            }
        }
    }
    spans.sort_unstable();
    spans
}

/// The last attribute name of a key or PATCH path, lower-case: `urn:...:User:role` -> `role`,
/// `name.givenName` -> `givenname`, `given_name` -> `givenname`, `emails[type eq "work"].value`
/// -> `value`.
fn attr_key(key: &str) -> String {
    let mut k = key;
    if let Some(open) = k.find('[') {
        // `members[value eq "x"]` names members; what follows `]` names a sub-attribute.
        let after = k[open..].find(']').map(|c| &k[open + c + 1..]).unwrap_or("");
        k = if after.is_empty() { &k[..open] } else { after };
    }
    let k = if k.to_ascii_lowercase().starts_with("urn:") {
        // The attribute follows the schema URN's last ':' (`...:User:role`).
        k.rsplit(':').next().unwrap_or(k)
    } else {
        k
    };
    let k = k.rsplit('.').next().unwrap_or(k);
    k.replace('_', "").to_ascii_lowercase()
}

/// The scrubber of one recording session.
pub struct Scrubber {
    mac: hmac::Key,
    key_check: String,
    map_ids: bool,
    secrets: Vec<String>,
    credentials: Vec<String>,
    /// real (lower-case) -> fake, and back.
    emails: HashMap<String, String>,
    emails_back: HashMap<String, String>,
    domains: HashMap<String, String>,
    /// real (lower-case) -> (real as first seen, fake), and fake (lower-case) -> real key.
    words: HashMap<String, (String, String)>,
    words_back: HashMap<String, String>,
    values: HashMap<String, String>,
    values_back: HashMap<String, String>,
    ids: HashMap<String, String>,
    ids_back: HashMap<String, String>,
    used: HashSet<String>,
}

impl fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scrubber")
            .field("map_ids", &self.map_ids)
            .field("emails", &self.emails.len())
            .field("words", &self.words.len())
            .field("ids", &self.ids.len())
            .finish_non_exhaustive()
    }
}

impl Scrubber {
    pub fn new(key: &ScrubKey, map_ids: bool) -> Scrubber {
        let mac = hmac::Key::new(hmac::HMAC_SHA256, &key.0);
        let check = hmac::sign(&mac, b"notion-conformance key check");
        let key_check = check.as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect();
        Scrubber {
            mac,
            key_check,
            map_ids,
            secrets: Vec::new(),
            credentials: Vec::new(),
            emails: HashMap::new(),
            emails_back: HashMap::new(),
            domains: HashMap::new(),
            words: HashMap::new(),
            words_back: HashMap::new(),
            values: HashMap::new(),
            values_back: HashMap::new(),
            ids: HashMap::new(),
            ids_back: HashMap::new(),
            used: HashSet::new(),
        }
    }

    /// A fingerprint of the key (see [`cassette::Scrubbing::key_check`]).
    pub fn key_check(&self) -> &str {
        &self.key_check
    }

    pub fn scrubbing(&self) -> cassette::Scrubbing {
        cassette::Scrubbing {
            ids: if self.map_ids { "mapped" } else { "kept" }.into(),
            key_check: self.key_check.clone(),
        }
    }

    /// A secret to remove wherever it shows (a token given on the command line).
    pub fn add_secret(&mut self, secret: &str) {
        if secret.len() >= 4 && !self.secrets.iter().any(|s| s == secret) {
            self.secrets.push(secret.to_string());
            // Longest first, so that a secret containing another is removed whole.
            self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }

    fn digest(&self, what: &str) -> [u8; 32] {
        let tag = hmac::sign(&self.mac, what.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(&tag.as_ref()[..32]);
        out
    }

    fn hex(&self, what: &str, n: usize) -> String {
        self.digest(what)[..n].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// A fake not handed out before, from a family of candidates.
    fn fresh(&mut self, mut candidate: impl FnMut(&Self, u32) -> String) -> String {
        for attempt in 0..1000 {
            let c = candidate(self, attempt);
            if self.used.insert(c.to_lowercase()) {
                return c;
            }
        }
        // Practically unreachable: fall back to a longer, unique form.
        let c = format!("x{}", self.used.len());
        self.used.insert(c.clone());
        c
    }

    /// The label of the credential an `Authorization` value carries; the secret is
    /// remembered for removal.
    pub fn credential_label(&mut self, authorization: Option<&str>) -> String {
        let Some(value) = authorization.map(str::trim).filter(|v| !v.is_empty()) else {
            return "none".into();
        };
        let (scheme, secret) = value.split_once(' ').unwrap_or(("", value));
        let secret = secret.trim().to_string();
        self.add_secret(&secret);
        let n = match self.credentials.iter().position(|c| *c == secret) {
            Some(i) => i + 1,
            None => {
                self.credentials.push(secret);
                self.credentials.len()
            }
        };
        if scheme.is_empty() {
            format!("credential-{n}")
        } else {
            format!("{scheme} credential-{n}")
        }
    }

    fn domain(&mut self, real: &str) -> String {
        let lower = real.to_ascii_lowercase();
        let reserved = [".example", ".invalid", ".test", ".localhost"]
            .iter()
            .any(|t| lower.ends_with(t))
            || ["example.com", "example.net", "example.org"].contains(&lower.as_str());
        if reserved {
            return lower;
        }
        if let Some(f) = self.domains.get(&lower) {
            return f.clone();
        }
        let labels: Vec<&str> = lower.split('.').collect();
        let mut fake: Vec<String> = Vec::new();
        for i in 0..labels.len().saturating_sub(1) {
            let suffix = labels[i..].join(".");
            fake.push(format!("d{}", self.hex(&format!("domain:{suffix}"), 3)));
        }
        fake.push("example".into());
        let f = fake.join(".");
        self.domains.insert(lower, f.clone());
        f
    }

    fn email(&mut self, real: &str) -> String {
        let lower = real.to_lowercase();
        let fake = match self.emails.get(&lower) {
            Some(f) => f.clone(),
            None => {
                let (_, domain) = lower.split_once('@').unwrap_or(("", &lower));
                let domain = self.domain(domain);
                let f = self.fresh(|s, n| format!("user-{}@{domain}", s.hex(&format!("email:{n}:{lower}"), 4)));
                self.emails.insert(lower.clone(), f.clone());
                self.emails_back.insert(f.clone(), lower.clone());
                f
            }
        };
        if real == real.to_uppercase() && real != lower {
            fake.to_uppercase()
        } else {
            fake
        }
    }

    fn word(&mut self, real: &str) -> String {
        let lower = real.to_lowercase();
        let (natural, fake) = match self.words.get(&lower) {
            Some(pair) => pair.clone(),
            None => {
                const C: &[u8] = b"bdfgklmnprstvz";
                const V: &[u8] = b"aeiou";
                let fake = self.fresh(|s, n| {
                    let d = s.digest(&format!("word:{n}:{lower}"));
                    let mut w = String::new();
                    for i in 0..3 {
                        w.push(C[d[2 * i] as usize % C.len()] as char);
                        w.push(V[d[2 * i + 1] as usize % V.len()] as char);
                    }
                    let mut c = w.chars();
                    c.next()
                        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                        .unwrap_or_default()
                });
                self.words.insert(lower.clone(), (real.to_string(), fake.clone()));
                self.words_back.insert(fake.to_lowercase(), lower.clone());
                (real.to_string(), fake)
            }
        };
        apply_case(case_of(real, &natural), &fake)
    }

    /// A name: each word mapped (an email or id among them by its own rule).
    fn name(&mut self, real: &str) -> String {
        let mut out = String::with_capacity(real.len());
        let mut word = String::new();
        for c in real.chars().chain(std::iter::once(' ')) {
            if c.is_whitespace() {
                if !word.is_empty() {
                    let w = std::mem::take(&mut word);
                    out.push_str(&self.scalar_token(&w));
                }
                out.push(c);
            } else {
                word.push(c);
            }
        }
        out.pop();
        out
    }

    fn scalar_token(&mut self, w: &str) -> String {
        if is_email(w) {
            self.email(w)
        } else if w.len() == 36 && is_uuid_at(w.as_bytes()) {
            self.id(w)
        } else {
            self.word(w)
        }
    }

    fn id(&mut self, real: &str) -> String {
        if !self.map_ids {
            return real.to_string();
        }
        let lower = real.to_ascii_lowercase();
        let fake = match self.ids.get(&lower) {
            Some(f) => f.clone(),
            None => {
                let f = self.fresh(|s, n| {
                    let d = s.digest(&format!("id:{n}:{lower}"));
                    let mut b = [0u8; 16];
                    b.copy_from_slice(&d[..16]);
                    uuid::Builder::from_random_bytes(b).into_uuid().to_string()
                });
                self.ids.insert(lower.clone(), f.clone());
                self.ids_back.insert(f.clone(), lower);
                f
            }
        };
        if real.bytes().any(|b| b.is_ascii_uppercase()) {
            fake.to_uppercase()
        } else {
            fake
        }
    }

    fn value(&mut self, real: &str) -> String {
        if let Some(f) = self.values.get(real) {
            return f.clone();
        }
        let f = self.fresh(|s, n| format!("[scrubbed-{}]", s.hex(&format!("value:{n}:{real}"), 4)));
        self.values.insert(real.to_string(), f.clone());
        self.values_back.insert(f.clone(), real.to_string());
        f
    }

    /// Removes secrets and token-shaped strings.
    fn secrets_out(&self, s: &str) -> String {
        let mut out = s.to_string();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), "[REDACTED]");
            }
        }
        let spans = token_spans(&out);
        if spans.is_empty() {
            return out;
        }
        let mut cleaned = String::new();
        let mut at = 0;
        for (start, end) in spans {
            if start < at {
                continue;
            }
            cleaned.push_str(&out[at..start]);
            cleaned.push_str("[REDACTED]");
            at = end;
        }
        cleaned.push_str(&out[at..]);
        cleaned
    }

    /// Text written by the server or a URL: secrets, emails and ids out; with `known`, also
    /// every domain, name word and value the scrubber has met.
    fn free_text(&mut self, s: &str, known: bool) -> String {
        let s = self.secrets_out(s);
        let mut out = String::with_capacity(s.len());
        let mut at = 0;
        for (start, end) in email_spans(&s) {
            out.push_str(&s[at..start]);
            out.push_str(&self.email(&s[start..end]));
            at = end;
        }
        out.push_str(&s[at..]);
        let mut out = map_uuids(&out, |u| self.id(u));
        if known {
            out = self.known_out(&out);
        }
        out
    }

    /// Replaces known real domains, name words and values inside free text.
    fn known_out(&self, s: &str) -> String {
        let mut out = s.to_string();
        let mut values: Vec<(&String, &String)> = self.values.iter().filter(|(r, _)| r.len() >= 4).collect();
        values.sort_by_key(|(r, _)| std::cmp::Reverse(r.len()));
        for (real, fake) in values {
            if out.contains(real.as_str()) {
                out = out.replace(real.as_str(), fake);
            }
        }
        // Tokens: runs of letters, digits, dots and hyphens (domains), or of letters (words).
        let mut result = String::with_capacity(out.len());
        let mut token = String::new();
        let flush = |token: &mut String, result: &mut String| {
            if token.is_empty() {
                return;
            }
            let t = std::mem::take(token);
            let lower = t.to_ascii_lowercase();
            let trimmed = lower.trim_end_matches('.');
            if let Some(f) = self.domains.get(trimmed) {
                result.push_str(f);
                result.push_str(&t[trimmed.len()..]);
                return;
            }
            // Within a token, each run of letters may be a name word.
            let mut word = String::new();
            let piece = |w: &mut String, result: &mut String| {
                if w.is_empty() {
                    return;
                }
                match self.words.get(&w.to_lowercase()) {
                    // Only the usual form (or all capitals) of a name is replaced, so that
                    // ordinary words in a message that happen to be names stay readable.
                    Some((natural, fake)) if w == natural || (w.len() > 1 && *w == natural.to_uppercase()) => {
                        result.push_str(&apply_case(case_of(w, natural), fake))
                    }
                    _ => result.push_str(w),
                }
                w.clear();
            };
            for c in t.chars() {
                if c.is_alphabetic() {
                    word.push(c);
                } else {
                    piece(&mut word, result);
                    result.push(c);
                }
            }
            piece(&mut word, result);
        };
        for c in out.chars() {
            if c.is_alphanumeric() || c == '.' || c == '-' {
                token.push(c);
            } else {
                flush(&mut token, &mut result);
                result.push(c);
            }
        }
        flush(&mut token, &mut result);
        result
    }

    /// One string value under `key` (its last attribute name, lower-case).
    fn string(&mut self, key: &str, s: &str, discovery: bool) -> String {
        if s.is_empty() {
            return String::new();
        }
        if discovery || KEEP.contains(&key) {
            return self.free_text(s, false);
        }
        if URLISH.contains(&key) {
            return self.free_text(s, false);
        }
        if FREE_TEXT.contains(&key) {
            return self.free_text(s, true);
        }
        let clean = self.secrets_out(s);
        if clean != s {
            return clean;
        }
        if s.len() == 36 && is_uuid_at(s.as_bytes()) {
            return self.id(s);
        }
        if is_email(s) {
            return self.email(s);
        }
        if NAMES.contains(&key) {
            return self.name(s);
        }
        self.value(s)
    }

    /// Scrubs a JSON value found under `key`.
    fn json(&mut self, key: &str, v: &Value, discovery: bool) -> Value {
        match v {
            Value::String(s) => Value::String(self.string(key, s, discovery)),
            Value::Array(items) => Value::Array(items.iter().map(|x| self.json(key, x, discovery)).collect()),
            Value::Object(obj) => {
                // A PATCH operation: its value is scrubbed as the attribute its path names.
                let op_path = obj
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("path"))
                    .and_then(|(_, p)| p.as_str())
                    .filter(|_| obj.keys().any(|k| k.eq_ignore_ascii_case("op")));
                let value_key = op_path.map(attr_key);
                Value::Object(
                    obj.iter()
                        .map(|(k, x)| {
                            let mut sub = attr_key(k);
                            if let (Some(vk), true) = (&value_key, k.eq_ignore_ascii_case("value")) {
                                sub = vk.clone();
                            }
                            (k.clone(), self.json(&sub, x, discovery))
                        })
                        .collect(),
                )
            }
            other => other.clone(),
        }
    }

    /// A filter expression: every compared value scrubbed by its attribute, the rest of the
    /// text kept exactly (so that the filter still parses as the server parsed it).
    fn filter(&mut self, f: &str) -> String {
        let spans = filter_values(f);
        let mut out = String::with_capacity(f.len());
        let mut at = 0;
        for (attr, start, end) in spans {
            out.push_str(&f[at..start]);
            let key = attr_key(&attr);
            let value = &f[start..end];
            out.push_str(&self.string(&key, value, false));
            at = end;
        }
        out.push_str(&f[at..]);
        self.secrets_out(&out)
    }

    /// A query parameter.
    fn query_value(&mut self, name: &str, value: &str) -> String {
        match name.to_ascii_lowercase().as_str() {
            "filter" => self.filter(value),
            "attributes" | "excludedattributes" | "startindex" | "count" | "sortby" | "sortorder" => {
                self.secrets_out(value)
            }
            _ => self.free_text(value, true),
        }
    }

    fn body(&mut self, bytes: &[u8], discovery: bool) -> Body {
        if bytes.is_empty() {
            return Body::text("");
        }
        let text = String::from_utf8_lossy(bytes);
        match serde_json::from_str::<Value>(&text) {
            Ok(v) => Body::text(self.json("", &v, discovery).to_string()),
            Err(_) => Body::text(self.free_text(&text, true)),
        }
    }

    /// Scrubs one exchange into a cassette interaction. `base_path` is the upstream's path
    /// (`/scim/v2`): discovery documents below it are kept but for ids, emails and secrets.
    pub fn scrub(&mut self, raw: &RawExchange, base_path: &str) -> Interaction {
        let target = cassette::target_of(&raw.method, &raw.url, base_path, "");
        let discovery = ["/ServiceProviderConfig", "/ResourceTypes", "/Schemas"]
            .iter()
            .any(|p| target.path.starts_with(p));
        let authorization = raw
            .request_headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
            .map(|(_, v)| v.as_str());
        let label = self.credential_label(authorization);
        let mut request_headers = std::collections::BTreeMap::new();
        request_headers.insert(CREDENTIAL_HEADER.to_string(), vec![label]);
        for (k, v) in &raw.request_headers {
            let k = k.to_ascii_lowercase();
            if REQUEST_HEADERS.contains(&k.as_str()) {
                let v = self.free_text(v, true);
                request_headers.entry(k).or_insert_with(Vec::new).push(v);
            }
        }
        let request_body = self.body(&raw.request_body, discovery);
        let response_body = self.body(&raw.response_body, discovery);
        let mut response_headers = std::collections::BTreeMap::new();
        for (k, v) in &raw.response_headers {
            let k = k.to_ascii_lowercase();
            if RESPONSE_HEADERS.contains(&k.as_str()) {
                let v = self.free_text(v, k != "location");
                response_headers.entry(k).or_insert_with(Vec::new).push(v);
            }
        }
        let uri = self.uri(&raw.url);
        Interaction {
            request: Request {
                method: raw.method.to_ascii_lowercase(),
                uri,
                body: request_body,
                headers: request_headers,
            },
            response: Response {
                status: Status {
                    code: raw.status,
                    message: cassette::reason(raw.status),
                },
                headers: response_headers,
                body: response_body,
                http_version: Some("1.1".into()),
            },
            recorded_at: cassette::now_rfc2822(),
        }
    }

    fn uri(&mut self, url: &reqwest::Url) -> String {
        let mut out = url.origin().ascii_serialization();
        let path = cassette::percent_decode(url.path());
        let scrubbed: Vec<String> = path
            .split('/')
            .map(|seg| {
                let s = self.free_text(seg, false);
                crate::scim::urlencode(&s).replace("%40", "@").replace("%3A", ":")
            })
            .collect();
        out.push_str(&scrubbed.join("/"));
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if !pairs.is_empty() {
            let q: Vec<String> = pairs
                .iter()
                .map(|(k, v)| {
                    let v = self.query_value(k, v);
                    format!("{}={}", crate::scim::urlencode(k), crate::scim::urlencode(&v))
                })
                .collect();
            out.push('?');
            out.push_str(&q.join("&"));
        }
        out
    }

    /// Puts back the real values behind the pseudonyms this session handed out, in a piece of
    /// a client's request (a client of the proxy only ever sees pseudonyms).
    pub fn unscrub_text(&self, s: &str) -> String {
        let s = map_uuids(s, |u| {
            let back = self.ids_back.get(&u.to_ascii_lowercase()).cloned();
            match back {
                Some(real) if u.bytes().any(|b| b.is_ascii_uppercase()) => real.to_uppercase(),
                Some(real) => real,
                None => u.to_string(),
            }
        });
        let mut out = String::with_capacity(s.len());
        let mut at = 0;
        for (start, end) in email_spans(&s) {
            out.push_str(&s[at..start]);
            let e = &s[start..end];
            match self.emails_back.get(&e.to_lowercase()) {
                Some(real) if e == e.to_uppercase() && e != e.to_lowercase() => out.push_str(&real.to_uppercase()),
                Some(real) => out.push_str(real),
                None => out.push_str(e),
            }
            at = end;
        }
        out.push_str(&s[at..]);
        for (fake, real) in &self.values_back {
            if out.contains(fake.as_str()) {
                out = out.replace(fake.as_str(), real);
            }
        }
        // Name words.
        let mut result = String::with_capacity(out.len());
        let mut word = String::new();
        let flush = |w: &mut String, result: &mut String| {
            if w.is_empty() {
                return;
            }
            let real = self
                .words_back
                .get(&w.to_lowercase())
                .and_then(|k| self.words.get(k))
                .map(|(natural, fake)| apply_case(case_of(w, fake), natural));
            result.push_str(real.as_deref().unwrap_or(w));
            w.clear();
        };
        for c in out.chars() {
            if c.is_alphabetic() {
                word.push(c);
            } else {
                flush(&mut word, &mut result);
                result.push(c);
            }
        }
        flush(&mut word, &mut result);
        result
    }

    pub fn unscrub_json(&self, v: &Value) -> Value {
        match v {
            Value::String(s) => Value::String(self.unscrub_text(s)),
            Value::Array(a) => Value::Array(a.iter().map(|x| self.unscrub_json(x)).collect()),
            Value::Object(o) => Value::Object(o.iter().map(|(k, x)| (k.clone(), self.unscrub_json(x))).collect()),
            other => other.clone(),
        }
    }

    /// What of this session's secrets and real emails `text` still holds (kinds only, never
    /// the values): the last check before a cassette is written.
    pub fn leaks(&self, text: &str) -> Vec<&'static str> {
        let mut kinds = Vec::new();
        if self.secrets.iter().any(|s| text.contains(s.as_str())) || !token_spans(text).is_empty() {
            kinds.push("a token");
        }
        // Each whole address in the text (not substrings: a fake may end like a real one), also
        // where it is percent-encoded (a query in a URI).
        let real = [text.to_lowercase(), cassette::percent_decode(text).to_lowercase()]
            .iter()
            .any(|lower| {
                email_spans(lower).into_iter().any(|(a, b)| {
                    self.emails.contains_key(&lower[a..b]) && !self.emails_back.contains_key(&lower[a..b])
                })
            });
        if real {
            kinds.push("an email address");
        }
        kinds
    }
}

/// The compared values of a filter: (attribute, start, end) byte spans, quotes excluded.
fn filter_values(f: &str) -> Vec<(String, usize, usize)> {
    #[derive(Debug)]
    enum Tok {
        Word(usize, usize),
        Quoted(usize, usize),
        Punct,
    }
    let b = f.as_bytes();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            c if c.is_ascii_whitespace() => i += 1,
            b'"' => {
                let start = i + 1;
                let mut j = start;
                while j < b.len() && b[j] != b'"' {
                    j += if b[j] == b'\\' { 2 } else { 1 };
                }
                let end = j.min(b.len());
                toks.push(Tok::Quoted(start, end));
                i = end + 1;
            }
            b'(' | b')' | b'[' | b']' => {
                toks.push(Tok::Punct);
                i += 1;
            }
            _ => {
                let start = i;
                while i < b.len() && !b[i].is_ascii_whitespace() && !b"()[]\"".contains(&b[i]) {
                    i += 1;
                }
                toks.push(Tok::Word(start, i));
            }
        }
    }
    let ops = ["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"];
    let logical = ["and", "or", "not"];
    let text = |s: usize, e: usize| &f[s..e.min(f.len())];
    let mut spans = Vec::new();
    let mut k = 0;
    while k + 1 < toks.len() {
        if let (Tok::Word(a0, a1), Tok::Word(o0, o1)) = (&toks[k], &toks[k + 1]) {
            if ops.contains(&text(*o0, *o1).to_ascii_lowercase().as_str()) {
                let attr = text(*a0, *a1).to_string();
                match toks.get(k + 2) {
                    Some(Tok::Quoted(s, e)) => {
                        spans.push((attr, *s, *e));
                        k += 3;
                        continue;
                    }
                    Some(Tok::Word(s, e)) => {
                        let v = text(*s, *e).to_ascii_lowercase();
                        let literal = ["true", "false", "null"].contains(&v.as_str()) || v.parse::<f64>().is_ok();
                        // An unquoted value runs to the next logical operator or bracket.
                        let mut last = *e;
                        let mut n = k + 3;
                        while let Some(Tok::Word(s2, e2)) = toks.get(n) {
                            if logical.contains(&text(*s2, *e2).to_ascii_lowercase().as_str()) {
                                break;
                            }
                            last = *e2;
                            n += 1;
                        }
                        if !literal {
                            spans.push((attr, *s, last));
                        }
                        k = n;
                        continue;
                    }
                    _ => {}
                }
            }
        }
        k += 1;
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrubber() -> Scrubber {
        Scrubber::new(&ScrubKey::from_bytes([7; 32]), true)
    }

    #[test]
    fn one_real_value_one_fake() {
        let mut s = scrubber();
        let a = s.email("Ada.Lovelace@acme.com");
        assert_eq!(a, s.email("ada.lovelace@ACME.com"));
        assert!(a.starts_with("user-") && a.ends_with(".example"), "{a}");
        let sub = s.email("ops@eu.acme.com");
        let (_, d1) = a.split_once('@').unwrap();
        let (_, d2) = sub.split_once('@').unwrap();
        assert!(d2.ends_with(&format!(".{d1}")), "{d2} is not a subdomain of {d1}");
        assert_ne!(s.email("bob@acme.com"), a);
        assert_eq!(s.email("ADA.LOVELACE@ACME.COM"), a.to_uppercase());
        let n = s.name("Ada Lovelace");
        let (g, f) = (s.word("Ada"), s.word("Lovelace"));
        assert_eq!(n, format!("{g} {f}"));
        assert_eq!(s.word("aDA"), swap_case(&g));
        let id = "3f2b9c1e-0000-4000-8000-00000000000a";
        let fake = s.id(id);
        assert_ne!(fake, id);
        assert_eq!(uuid::Uuid::parse_str(&fake).unwrap().get_version_num(), 4);
        assert_eq!(s.id(id), fake);
        // Another session with the same key makes the same pseudonyms.
        let mut again = scrubber();
        assert_eq!(again.email("ada.lovelace@acme.com"), a);
        assert_eq!(again.id(id), fake);
    }

    #[test]
    fn filters_keep_their_form() {
        let mut s = scrubber();
        let f = s.filter(r#"userName eq "ada@acme.com" and given_name eq "Ada""#);
        let e = s.email("ada@acme.com");
        let g = s.word("Ada");
        assert_eq!(f, format!(r#"userName eq "{e}" and given_name eq "{g}""#));
        let d = s.filter("displayName eq Designers");
        assert_eq!(d, format!("displayName eq {}", s.word("Designers")));
        assert_eq!(s.filter("active eq true"), "active eq true");
        let m = s.filter(r#"members[value eq "3f2b9c1e-0000-4000-8000-00000000000a"]"#);
        assert!(!m.contains("3f2b9c1e-0000"), "{m}");
    }

    #[test]
    fn patch_values_follow_their_path() {
        let mut s = scrubber();
        let body = serde_json::json!({"Operations": [
            {"op": "replace", "path": "name.formatted", "value": "Ada Lovelace"},
            {"op": "replace", "path": "title", "value": "Countess"},
            {"op": "replace", "value": {"name.givenName": "Ada", "urn:ietf:params:scim:schemas:extension:notion:2.0:User": {"role": "owner"}}}
        ]});
        let out = s.json("", &body, false);
        assert_eq!(out["Operations"][0]["value"], serde_json::json!(s.name("Ada Lovelace")));
        assert!(out["Operations"][1]["value"]
            .as_str()
            .unwrap()
            .starts_with("[scrubbed-"));
        assert_eq!(
            out["Operations"][2]["value"]["name.givenName"],
            serde_json::json!(s.word("Ada"))
        );
        assert_eq!(
            out["Operations"][2]["value"]["urn:ietf:params:scim:schemas:extension:notion:2.0:User"]["role"],
            "owner"
        );
        assert_eq!(s.unscrub_json(&out), body);
    }

    #[test]
    fn secrets_and_free_text() {
        let mut s = scrubber();
        assert_eq!(
            s.credential_label(Some("Bearer tok_secret_value_1")),
            "Bearer credential-1"
        );
        assert_eq!(s.credential_label(Some("Bearer other")), "Bearer credential-2");
        assert_eq!(
            s.credential_label(Some("Bearer tok_secret_value_1")),
            "Bearer credential-1"
        );
        assert_eq!(s.credential_label(None), "none");
        let t = s.free_text(
            "token tok_secret_value_1 and secret_abcdefghijklmnopqrstuvwxyz0123",
            true,
        );
        assert_eq!(t, "token [REDACTED] and [REDACTED]");
        s.name("Ada Lovelace");
        s.email("ada@acme.com");
        let d = s.free_text("Ada Lovelace (ada@acme.com) of acme.com is already a member", true);
        assert!(
            !d.contains("Ada") && !d.contains("acme") && !d.contains("Lovelace"),
            "{d}"
        );
        assert!(d.contains("is already a member"), "{d}");
        assert!(s.leaks("ada@acme.com").contains(&"an email address"));
        assert!(s.leaks("Bearer tok_secret_value_1").contains(&"a token"));
        assert!(s.leaks(&d).is_empty());
        // A fake that ends like a real address is no leak.
        s.email("a@test.example");
        assert!(s.leaks("user-12ca@test.example").is_empty());
        assert!(!s.leaks("to a@test.example.").is_empty());
        assert!(!s
            .leaks("Users?filter=userName%20eq%20%22a%40test.example%22")
            .is_empty());
    }
}
