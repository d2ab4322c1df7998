//! Which recorded exchange answers a live request: the method, the path, the query as a set of
//! decoded parameters (filters compared with their whitespace and the case of their attribute
//! names and operators normalised) and the body as JSON (key order ignored; a scrubbed
//! `[REDACTED]` value stands for any value). Each recorded exchange answers once, in recorded
//! order among equals (a GET before and after a DELETE gets its two answers in turn), unless
//! repeats are allowed, when the last one answers again.
//!
//! A request that matches nothing gets a [`Miss`] naming the nearest recorded requests and
//! why each did not match. Used by the recording proxy's playback and by [`crate::replay`].

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use crate::cassette::Target;

/// The recorded requests of a cassette and how often each has answered.
#[derive(Debug, Clone)]
pub struct Player {
    targets: Vec<Target>,
    uses: Vec<usize>,
    allow_repeats: bool,
}

/// A recorded request that did not match, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Near {
    pub index: usize,
    pub request: String,
    pub reasons: Vec<String>,
}

/// A live request no recorded exchange answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Miss {
    pub request: String,
    /// At most three, nearest first.
    pub nearest: Vec<Near>,
}

impl fmt::Display for Miss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no recorded exchange matches {}", self.request)?;
        if self.nearest.is_empty() {
            return write!(f, " (the cassette records nothing)");
        }
        write!(f, "; nearest:")?;
        for n in &self.nearest {
            write!(f, "\n  #{} {}: {}", n.index, n.request, n.reasons.join("; "))?;
        }
        Ok(())
    }
}

impl Player {
    pub fn new(targets: Vec<Target>, allow_repeats: bool) -> Player {
        let uses = vec![0; targets.len()];
        Player {
            targets,
            uses,
            allow_repeats,
        }
    }

    pub fn len(&self) -> usize {
        self.targets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// The recorded exchange that answers `live`, marked as used.
    pub fn take(&mut self, live: &Target) -> Result<usize, Miss> {
        let matching: Vec<usize> = (0..self.targets.len())
            .filter(|&i| differences(&self.targets[i], live).is_empty())
            .collect();
        let pick = matching
            .iter()
            .copied()
            .find(|&i| self.uses[i] == 0)
            .or_else(|| matching.last().copied().filter(|_| self.allow_repeats));
        match pick {
            Some(i) => {
                self.uses[i] += 1;
                Ok(i)
            }
            None => Err(self.miss(live)),
        }
    }

    fn miss(&self, live: &Target) -> Miss {
        let mut scored: Vec<(u32, Near)> = self
            .targets
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let mut reasons = differences(t, live);
                if reasons.is_empty() {
                    reasons.push(format!(
                        "matches, but already answered {} time(s) (each recorded exchange answers once; allow repeats to replay it again)",
                        self.uses[i]
                    ));
                }
                (score(t, live), Near {
                    index: i,
                    request: t.describe(),
                    reasons,
                })
            })
            .collect();
        scored.sort_by_key(|(s, n)| (*s, n.index));
        Miss {
            request: live.describe(),
            nearest: scored.into_iter().take(3).map(|(_, n)| n).collect(),
        }
    }

    /// Recorded exchanges that never answered.
    pub fn unused(&self) -> Vec<usize> {
        (0..self.targets.len()).filter(|&i| self.uses[i] == 0).collect()
    }

    pub fn target(&self, i: usize) -> &Target {
        &self.targets[i]
    }
}

/// How far a recorded request is from a live one (for ordering misses).
fn score(recorded: &Target, live: &Target) -> u32 {
    let mut s = 0;
    if recorded.method != live.method {
        s += 100;
    }
    if norm_path(&recorded.path) != norm_path(&live.path) {
        let a: Vec<&str> = recorded.path.split('/').collect();
        let b: Vec<&str> = live.path.split('/').collect();
        let same = a.iter().zip(&b).take_while(|(x, y)| x.eq_ignore_ascii_case(y)).count();
        s += 20 + 5 * (a.len().max(b.len()) - same) as u32;
    }
    s += 4 * query_differences(recorded, live).len() as u32;
    if body_difference(recorded, live).is_some() {
        s += 3;
    }
    s
}

/// Ids compare case-insensitively; a trailing slash does not count.
fn norm_path(p: &str) -> String {
    crate::record::scrub::map_uuids(p.trim_end_matches('/'), |u| u.to_ascii_lowercase())
}

/// A filter with its whitespace collapsed and everything outside quotes lower-cased.
fn norm_filter(f: &str) -> String {
    let mut out = String::new();
    let mut quoted = false;
    let mut space = false;
    let mut escaped = false;
    for c in f.trim().chars() {
        if quoted {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                quoted = false;
            }
            continue;
        }
        if c.is_whitespace() {
            space = true;
            continue;
        }
        if space && !out.is_empty() {
            out.push(' ');
        }
        space = false;
        if c == '"' {
            quoted = true;
            out.push(c);
        } else {
            out.extend(c.to_lowercase());
        }
    }
    out
}

fn query_map(t: &Target) -> BTreeMap<String, Vec<String>> {
    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in &t.query {
        let k = k.to_ascii_lowercase();
        let v = match k.as_str() {
            "filter" => norm_filter(v),
            "attributes" | "excludedattributes" => {
                let mut parts: Vec<String> = v.split(',').map(|p| p.trim().to_ascii_lowercase()).collect();
                parts.sort();
                parts.join(",")
            }
            _ => v.clone(),
        };
        m.entry(k).or_default().push(v);
    }
    for v in m.values_mut() {
        v.sort();
    }
    m
}

fn query_differences(recorded: &Target, live: &Target) -> Vec<String> {
    let (a, b) = (query_map(recorded), query_map(live));
    let mut out = Vec::new();
    for (k, va) in &a {
        match b.get(k) {
            None => out.push(format!(
                "query: the recording has {k}={}, the request none",
                va.join(",")
            )),
            Some(vb) if vb != va => out.push(format!(
                "query {k}: recorded {:?}, got {:?}",
                va.join(","),
                vb.join(",")
            )),
            _ => {}
        }
    }
    for (k, vb) in &b {
        if !a.contains_key(k) {
            out.push(format!(
                "query: the request has {k}={}, the recording none",
                vb.join(",")
            ));
        }
    }
    out
}

fn body_difference(recorded: &Target, live: &Target) -> Option<String> {
    let (a, b) = (recorded.body.trim(), live.body.trim());
    if a.is_empty() && b.is_empty() {
        return None;
    }
    match (recorded.json(), live.json()) {
        (Some(x), Some(y)) => json_difference(&x, &y, "$").map(|d| format!("body {d}")),
        _ if a == b => None,
        _ => Some(format!(
            "body: recorded {}, got {}",
            crate::scim::short(a),
            crate::scim::short(b)
        )),
    }
}

/// Why a live request does not match a recorded one (empty when it does).
pub fn differences(recorded: &Target, live: &Target) -> Vec<String> {
    let mut out = Vec::new();
    if recorded.method != live.method {
        out.push(format!("method: recorded {}, got {}", recorded.method, live.method));
    }
    if norm_path(&recorded.path) != norm_path(&live.path) {
        out.push(format!("path: recorded {}, got {}", recorded.path, live.path));
    }
    out.extend(query_differences(recorded, live));
    out.extend(body_difference(recorded, live));
    out
}

/// The first place two JSON values differ: key order never counts, object keys compare
/// case-insensitively (SCIM attribute names), and a recorded `[REDACTED]` matches anything.
pub fn json_difference(recorded: &Value, live: &Value, at: &str) -> Option<String> {
    match (recorded, live) {
        (Value::String(r), _) if r == "[REDACTED]" => None,
        (Value::Object(a), Value::Object(b)) => {
            for (k, va) in a {
                let found = b
                    .get(k)
                    .or_else(|| b.iter().find(|(kb, _)| kb.eq_ignore_ascii_case(k)).map(|(_, v)| v));
                match found {
                    None => return Some(format!("{at}.{k}: recorded {}, missing from the request", short(va))),
                    Some(vb) => {
                        if let Some(d) = json_difference(va, vb, &format!("{at}.{k}")) {
                            return Some(d);
                        }
                    }
                }
            }
            b.iter()
                .find(|(kb, _)| !a.keys().any(|ka| ka.eq_ignore_ascii_case(kb)))
                .map(|(kb, vb)| format!("{at}.{kb}: not recorded, the request has {}", short(vb)))
        }
        (Value::Array(a), Value::Array(b)) => {
            if a.len() != b.len() {
                return Some(format!("{at}: recorded {} item(s), got {}", a.len(), b.len()));
            }
            a.iter()
                .zip(b)
                .enumerate()
                .find_map(|(i, (x, y))| json_difference(x, y, &format!("{at}[{i}]")))
        }
        (Value::Number(x), Value::Number(y)) if x.as_f64() == y.as_f64() => None,
        (x, y) if x == y => None,
        (x, y) => Some(format!("{at}: recorded {}, got {}", short(x), short(y))),
    }
}

fn short(v: &Value) -> String {
    crate::scim::short(&v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(method: &str, path: &str, query: &[(&str, &str)], body: &str) -> Target {
        Target {
            method: method.into(),
            path: path.into(),
            query: query.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            body: body.into(),
        }
    }

    #[test]
    fn json_aware_and_normalised() {
        let rec = t(
            "PATCH",
            "/Users/3F2B9C1E-0000-4000-8000-00000000000A",
            &[("filter", "userName  EQ \"A@b.c\""), ("count", "1")],
            r#"{"schemas":["x"],"Operations":[{"op":"replace","value":"[REDACTED]"}]}"#,
        );
        let live = t(
            "PATCH",
            "/Users/3f2b9c1e-0000-4000-8000-00000000000a/",
            &[("count", "1"), ("filter", "username eq \"A@b.c\"")],
            r#"{ "Operations": [{"value": "anything", "op": "replace"}], "schemas": ["x"] }"#,
        );
        assert_eq!(differences(&rec, &live), Vec::<String>::new());
        let other = t(
            "PATCH",
            &live.path,
            &[("count", "1"), ("filter", "username eq \"a@b.c\"")],
            &live.body,
        );
        assert_eq!(differences(&rec, &other).len(), 1, "{:?}", differences(&rec, &other));
    }

    #[test]
    fn misses_name_the_nearest_and_why() {
        let mut p = Player::new(
            vec![
                t("GET", "/Users", &[("count", "100"), ("startIndex", "1")], ""),
                t("GET", "/Groups", &[], ""),
                t("DELETE", "/Users/x", &[], ""),
            ],
            false,
        );
        assert_eq!(
            p.take(&t("GET", "/Users", &[("startIndex", "1"), ("count", "100")], "")),
            Ok(0)
        );
        let miss = p
            .take(&t("GET", "/Users", &[("startIndex", "1"), ("count", "50")], ""))
            .unwrap_err();
        assert_eq!(miss.nearest[0].index, 0);
        let text = miss.to_string();
        assert!(text.contains("query count: recorded \"100\", got \"50\""), "{text}");
        let again = p
            .take(&t("GET", "/Users", &[("startIndex", "1"), ("count", "100")], ""))
            .unwrap_err();
        assert!(again.to_string().contains("already answered 1 time(s)"), "{again}");
        assert_eq!(p.unused(), vec![1, 2]);
        let mut repeats = Player::new(vec![t("GET", "/Groups", &[], "")], true);
        assert_eq!(repeats.take(&t("GET", "/Groups", &[], "")), Ok(0));
        assert_eq!(repeats.take(&t("GET", "/Groups", &[], "")), Ok(0));
    }
}
