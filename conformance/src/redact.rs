//! Consistent redaction for snapshots: every UUID, KSUID-like sync id, epoch-millisecond string
//! and timestamp is replaced by a placeholder numbered by first appearance, so the same id is
//! the same placeholder everywhere in one snapshot and relations survive redaction.

use std::collections::HashMap;

use serde_json::Value;

/// One snapshot's redaction table.
#[derive(Debug, Default)]
pub struct Redactor {
    seen: HashMap<String, String>,
    counts: HashMap<&'static str, usize>,
}

impl Redactor {
    pub fn new() -> Redactor {
        Redactor::default()
    }

    /// Redacts every string (and every object key) in a JSON value.
    pub fn value(&mut self, v: &Value) -> Value {
        match v {
            Value::String(s) => Value::String(self.text(s)),
            Value::Array(a) => Value::Array(a.iter().map(|x| self.value(x)).collect()),
            Value::Object(o) => Value::Object(o.iter().map(|(k, x)| (self.text(k), self.value(x))).collect()),
            other => other.clone(),
        }
    }

    /// Redacts every id-like token inside a piece of text.
    pub fn text(&mut self, s: &str) -> String {
        let mut out = String::with_capacity(s.len());
        let bytes = s.as_bytes();
        let mut i = 0;
        while i < s.len() {
            let glued = i > 0 && bytes[i - 1].is_ascii_alphanumeric();
            if let Some((len, kind)) = (!glued).then(|| match_at(&bytes[i..])).flatten() {
                let token = &s[i..i + len];
                out.push_str(&self.placeholder(token, kind));
                i += len;
            } else {
                let c = s[i..].chars().next().unwrap_or(' ');
                out.push(c);
                i += c.len_utf8().max(1);
            }
        }
        out
    }

    fn placeholder(&mut self, token: &str, kind: &'static str) -> String {
        if let Some(p) = self.seen.get(token) {
            return p.clone();
        }
        let n = self.counts.entry(kind).or_insert(0);
        *n += 1;
        let p = format!("[{kind}-{n}]");
        self.seen.insert(token.to_string(), p.clone());
        p
    }
}

/// The id-like token starting at the beginning of `b`, if any, and its kind. A token must not
/// be glued to a preceding or following alphanumeric character (checked by the caller's walk
/// for the start; here for the end).
fn match_at(b: &[u8]) -> Option<(usize, &'static str)> {
    let hex = |c: u8| c.is_ascii_hexdigit();
    let boundary_after = |n: usize| b.get(n).is_none_or(|c| !c.is_ascii_alphanumeric());
    // UUID: 8-4-4-4-12 hex.
    if b.len() >= 36 {
        let groups = [8, 4, 4, 4, 12];
        let mut pos = 0;
        let mut ok = true;
        for (gi, g) in groups.iter().enumerate() {
            if !b[pos..pos + g].iter().all(|c| hex(*c)) {
                ok = false;
                break;
            }
            pos += g;
            if gi < 4 {
                if b[pos] != b'-' {
                    ok = false;
                    break;
                }
                pos += 1;
            }
        }
        if ok && boundary_after(36) {
            return Some((36, "uuid"));
        }
    }
    // Epoch milliseconds as Notion writes them in `meta`: 13 digits.
    if b.len() >= 13 && b[..13].iter().all(u8::is_ascii_digit) && boundary_after(13) {
        return Some((13, "millis"));
    }
    // A KSUID: 27 base-62 characters with at least one digit and one letter.
    if b.len() >= 27 && b[..27].iter().all(u8::is_ascii_alphanumeric) && boundary_after(27) {
        let digits = b[..27].iter().filter(|c| c.is_ascii_digit()).count();
        if digits > 0 && digits < 27 {
            return Some((27, "ksuid"));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_id_same_placeholder() {
        let mut r = Redactor::new();
        let a = "3f2b9c1e-0000-4000-8000-00000000000a";
        let b = "3f2b9c1e-0000-4000-8000-00000000000b";
        let v = serde_json::json!({
            "id": a,
            "path": format!("/Users/{a}"),
            "grant": format!("group:{b}:member:user:{a}"),
            "created": "1787393411245",
            "n": 5,
        });
        let red = r.value(&v);
        // Keys are visited in order (created, grant, id, ...): b is met first.
        assert_eq!(red["grant"], "group:[uuid-1]:member:user:[uuid-2]");
        assert_eq!(red["id"], "[uuid-2]");
        assert_eq!(red["path"], "/Users/[uuid-2]");
        assert_eq!(red["created"], "[millis-1]");
        assert_eq!(red["n"], 5);
    }

    #[test]
    fn leaves_ordinary_text() {
        let mut r = Redactor::new();
        assert_eq!(r.text("GET /scim/v2/Users?count=100"), "GET /scim/v2/Users?count=100");
        assert_eq!(r.text("2RxHq8y4rLwKJZ7VgR3tEwRDQhA"), "[ksuid-1]");
    }
}
