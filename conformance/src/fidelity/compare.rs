//! A recorded answer against the emulation's answer to the same request, the way a SCIM
//! client sees them: status, media type, the headers that matter (`Location`, `Retry-After`,
//! `Allow`, `WWW-Authenticate`), and the JSON body's shape (keys, types, array forms) and
//! values.
//!
//! What does not count: key order; the case of attribute names (RFC 7643 §2.1); the order of
//! multi-valued attributes and list pages (SCIM promises none: elements are paired by `id`,
//! `value`, `name`, `schema` or `type`, else by value); `meta.created` and `meta.lastModified`
//! beyond their form (epoch-millisecond string, RFC 3339 time...); the wording of free text
//! (`detail`, `message`, `description`). Ids are compared through a bijection built as the
//! replay goes: a recorded id and the emulation's id in the same place are the same resource
//! from then on, and one that later stands for another is a departure.

use std::collections::HashMap;
use std::fmt;

use serde_json::Value;

use crate::cassette::Response;
use crate::record::scrub::map_uuids;

/// What kind of departure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Status,
    Header,
    Shape,
    Value,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Status => "status",
            Kind::Header => "header",
            Kind::Shape => "shape",
            Kind::Value => "value",
        })
    }
}

/// One place where the emulation answered otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diff {
    /// `status`, `header:content-type`, or a JSON path (`$.Resources[*].meta.location`;
    /// `[*]`: any element, since elements are paired by identity, not position).
    pub path: String,
    pub kind: Kind,
    pub detail: String,
}

/// The emulation's answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Recorded ids and the emulation's, paired as the replay goes.
#[derive(Debug, Clone, Default)]
pub struct Ids {
    to_emulated: HashMap<String, String>,
    to_recorded: HashMap<String, String>,
}

impl Ids {
    /// An id the emulation was seeded with: the same on both sides.
    pub fn same(&mut self, id: &str) {
        let id = id.to_ascii_lowercase();
        self.to_emulated.insert(id.clone(), id.clone());
        self.to_recorded.insert(id.clone(), id);
    }

    /// The recorded text with every known recorded id replaced by the emulation's.
    pub fn emulated(&self, s: &str) -> String {
        map_uuids(s, |u| {
            self.to_emulated
                .get(&u.to_ascii_lowercase())
                .cloned()
                .unwrap_or_else(|| u.to_string())
        })
    }

    /// Whether `recorded` and `emulated` may stand for the same resource; pairs them if
    /// neither is paired yet.
    fn pair(&mut self, recorded: &str, emulated: &str) -> Result<(), String> {
        let (r, e) = (recorded.to_ascii_lowercase(), emulated.to_ascii_lowercase());
        match (self.to_emulated.get(&r), self.to_recorded.get(&e)) {
            (Some(x), _) if *x == e => Ok(()),
            (None, None) => {
                self.to_emulated.insert(r.clone(), e.clone());
                self.to_recorded.insert(e, r);
                Ok(())
            }
            (Some(x), _) => Err(format!(
                "recorded id {r} is the emulation's {x} elsewhere, but {e} here"
            )),
            (None, Some(y)) => Err(format!(
                "the emulation's id {e} stands for recorded {y} elsewhere, but {r} here"
            )),
        }
    }
}

fn media_type(v: Option<&str>) -> Option<String> {
    v.map(|c| c.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        .filter(|c| !c.is_empty())
}

fn short(v: &Value) -> String {
    crate::scim::short(&v.to_string())
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The form of a volatile time value.
fn time_form(v: &Value) -> String {
    match v {
        Value::String(s) if !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()) => {
            format!(
                "a string of {} digits (epoch time)",
                if s.len() >= 13 { "13+" } else { "few" }
            )
        }
        Value::String(s) if s.len() >= 19 && s.as_bytes().get(4) == Some(&b'-') && s.contains('T') => {
            "an RFC 3339 date-time string".into()
        }
        Value::String(_) => "another string".into(),
        Value::Number(_) => "a number".into(),
        other => type_name(other).into(),
    }
}

/// Compares one exchange's answers. `ids` carries the pairing of ids from one exchange to the
/// next.
pub fn exchange(recorded: &Response, emulated: &Answer, ids: &mut Ids) -> Vec<Diff> {
    let mut out = Vec::new();
    if recorded.status.code != emulated.status {
        out.push(Diff {
            path: "status".into(),
            kind: Kind::Status,
            detail: format!("recorded {}, emulation {}", recorded.status.code, emulated.status),
        });
    }
    let (rc, ec) = (
        media_type(recorded.header("content-type")),
        media_type(emulated.header("content-type")),
    );
    let has_body = !recorded.body.string.trim().is_empty() || !emulated.body.trim().is_empty();
    if rc != ec && has_body {
        out.push(Diff {
            path: "header:content-type".into(),
            kind: Kind::Header,
            detail: format!("recorded {rc:?}, emulation {ec:?}"),
        });
    }
    for name in ["location", "retry-after", "www-authenticate"] {
        let (r, e) = (recorded.header(name), emulated.header(name));
        match (r, e) {
            (Some(_), None) | (None, Some(_)) => out.push(Diff {
                path: format!("header:{name}"),
                kind: Kind::Header,
                detail: format!("recorded {r:?}, emulation {e:?}"),
            }),
            (Some(r), Some(e)) if name == "location" => {
                let mut d = Vec::new();
                string(r, e, &format!("header:{name}"), ids, &mut d);
                out.extend(d.into_iter().map(|x| Diff {
                    kind: Kind::Header,
                    ..x
                }));
            }
            _ => {}
        }
    }
    let methods = |v: Option<&str>| -> Option<Vec<String>> {
        v.map(|a| {
            let mut m: Vec<String> = a.split(',').map(|s| s.trim().to_ascii_uppercase()).collect();
            m.sort();
            m
        })
    };
    let (ra, ea) = (methods(recorded.header("allow")), methods(emulated.header("allow")));
    if ra != ea && ra.is_some() {
        out.push(Diff {
            path: "header:allow".into(),
            kind: Kind::Header,
            detail: format!("recorded {ra:?}, emulation {ea:?}"),
        });
    }
    let rb = recorded.body.string.trim();
    let eb = emulated.body.trim();
    let success = |s: u16| (200..300).contains(&s);
    match (recorded.body.json(), serde_json::from_str::<Value>(eb).ok()) {
        // A success against a failure: the bodies are different things; one departure says so.
        (Some(r), Some(e)) if success(recorded.status.code) != success(emulated.status) => {
            let (a, b) = (summary(&r), summary(&e));
            if a != b {
                out.push(Diff {
                    path: "$".into(),
                    kind: Kind::Shape,
                    detail: format!("recorded {a}, emulation {b}"),
                });
            }
        }
        (Some(r), Some(e)) => json(&r, &e, "$", ids, &mut out),
        (None, None) if rb.is_empty() && eb.is_empty() => {}
        (None, None) if rb == eb => {}
        (r, e) => out.push(Diff {
            path: "$".into(),
            kind: Kind::Shape,
            detail: format!(
                "recorded {}, emulation {}",
                r.map_or_else(|| body_kind(rb), |v| format!("JSON {}", type_name(&v))),
                e.map_or_else(|| body_kind(eb), |v| format!("JSON {}", type_name(&v)))
            ),
        }),
    }
    out
}

fn body_kind(text: &str) -> String {
    if text.is_empty() {
        "an empty body".into()
    } else {
        format!("text {}", crate::scim::short(text))
    }
}

/// Strings with ids inside: equal once the ids are paired.
fn string(r: &str, e: &str, path: &str, ids: &mut Ids, out: &mut Vec<Diff>) {
    if r == e && !r.contains('-') {
        return;
    }
    if r == "[REDACTED]" {
        return;
    }
    let mut rec_ids = Vec::new();
    let mut emu_ids = Vec::new();
    let r_masked = map_uuids(r, |u| {
        rec_ids.push(u.to_string());
        "\u{0}".into()
    });
    let e_masked = map_uuids(e, |u| {
        emu_ids.push(u.to_string());
        "\u{0}".into()
    });
    if r_masked != e_masked || rec_ids.len() != emu_ids.len() {
        out.push(Diff {
            path: path.into(),
            kind: Kind::Value,
            detail: format!("recorded {r:?}, emulation {e:?}"),
        });
        return;
    }
    for (a, b) in rec_ids.iter().zip(&emu_ids) {
        if let Err(why) = ids.pair(a, b) {
            out.push(Diff {
                path: path.into(),
                kind: Kind::Value,
                detail: format!("another resource: {why}"),
            });
        }
    }
}

/// Two JSON values, SCIM-aware.
pub fn json(r: &Value, e: &Value, path: &str, ids: &mut Ids, out: &mut Vec<Diff>) {
    match (r, e) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, va) in a {
                let found = b
                    .get(k)
                    .or_else(|| b.iter().find(|(kb, _)| kb.eq_ignore_ascii_case(k)).map(|(_, v)| v));
                let sub = format!("{path}.{k}");
                let key = k.to_ascii_lowercase();
                match found {
                    None => out.push(Diff {
                        path: sub,
                        kind: Kind::Shape,
                        detail: format!("recorded {}, missing in the emulation", short(va)),
                    }),
                    Some(vb) if (key == "created" || key == "lastmodified") && path.ends_with(".meta") => {
                        let (fa, fb) = (time_form(va), time_form(vb));
                        if fa != fb {
                            out.push(Diff {
                                path: sub,
                                kind: Kind::Shape,
                                detail: format!("recorded {fa}, emulation {fb}"),
                            });
                        }
                    }
                    Some(vb) if ["detail", "message", "description"].contains(&key.as_str()) => {
                        if type_name(va) != type_name(vb) {
                            out.push(Diff {
                                path: sub,
                                kind: Kind::Shape,
                                detail: format!("recorded a {}, emulation a {}", type_name(va), type_name(vb)),
                            });
                        }
                    }
                    Some(vb) => json(va, vb, &sub, ids, out),
                }
            }
            for (k, vb) in b {
                if !a.keys().any(|ka| ka.eq_ignore_ascii_case(k)) {
                    out.push(Diff {
                        path: format!("{path}.{k}"),
                        kind: Kind::Shape,
                        detail: format!("not recorded, the emulation adds {}", short(vb)),
                    });
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => arrays(a, b, path, ids, out),
        (Value::String(a), Value::String(b)) => string(a, b, path, ids, out),
        (Value::Number(a), Value::Number(b)) => {
            if a.as_f64() != b.as_f64() {
                out.push(Diff {
                    path: path.into(),
                    kind: Kind::Value,
                    detail: format!("recorded {a}, emulation {b}"),
                });
            }
        }
        (Value::String(s), _) if s == "[REDACTED]" => {}
        (a, b) if type_name(a) == type_name(b) => {
            if a != b {
                out.push(Diff {
                    path: path.into(),
                    kind: Kind::Value,
                    detail: format!("recorded {}, emulation {}", short(a), short(b)),
                });
            }
        }
        (a, b) => out.push(Diff {
            path: path.into(),
            kind: Kind::Shape,
            detail: format!(
                "recorded {} {}, emulation {} {}",
                type_name(a),
                short(a),
                type_name(b),
                short(b)
            ),
        }),
    }
}

/// What identifies an element of a multi-valued attribute (in the emulation's ids).
fn identity(v: &Value, ids: Option<&Ids>) -> Option<String> {
    let conv = |s: &str| match ids {
        Some(ids) => ids.emulated(s).to_ascii_lowercase(),
        None => s.to_ascii_lowercase(),
    };
    match v {
        Value::Object(o) => {
            for key in ["id", "value", "name", "schema", "type"] {
                if let Some(Value::String(s)) = o.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v) {
                    return Some(format!("{key}={}", conv(s)));
                }
            }
            None
        }
        Value::String(s) => Some(conv(s)),
        Value::Array(_) => None,
        other => Some(other.to_string()),
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Object(o) => ["id", "value", "name", "schema", "type"]
            .iter()
            .find_map(|key| {
                o.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(key))
                    .and_then(|(_, v)| v.as_str())
                    .map(|s| format!("{key}={s}"))
            })
            .unwrap_or_else(|| short(v)),
        other => short(other),
    }
}

/// A body in a few words: an error (with its `scimType` or `code`), a list, a resource.
fn summary(v: &Value) -> String {
    let field = |k: &str| v.get(k).and_then(Value::as_str);
    let is_error = v
        .get("schemas")
        .and_then(Value::as_array)
        .is_some_and(|s| s.iter().any(|u| u.as_str().is_some_and(|u| u.ends_with(":Error"))))
        || field("object") == Some("error");
    if is_error {
        let kind = field("scimType").or_else(|| field("code")).unwrap_or("no scimType");
        return format!("an error body ({kind})");
    }
    if v.get("Resources").is_some() {
        return "a list".into();
    }
    match v {
        Value::Object(o) => {
            let keys: Vec<&str> = o.keys().map(String::as_str).take(6).collect();
            format!(
                "an object ({}{})",
                keys.join(", "),
                if o.len() > 6 { ", ..." } else { "" }
            )
        }
        other => format!("JSON {}", type_name(other)),
    }
}

/// Arrays as sets: elements paired by identity, the rest in order.
fn arrays(a: &[Value], b: &[Value], path: &str, ids: &mut Ids, out: &mut Vec<Diff>) {
    let elem = format!("{path}[*]");
    let mut taken = vec![false; b.len()];
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    let mut left: Vec<usize> = Vec::new();
    for (i, x) in a.iter().enumerate() {
        let want = identity(x, Some(ids));
        let found = want
            .as_ref()
            .and_then(|w| (0..b.len()).find(|&j| !taken[j] && identity(&b[j], None).as_ref() == Some(w)));
        match found {
            Some(j) => {
                taken[j] = true;
                pairs.push((i, j));
            }
            None => left.push(i),
        }
    }
    // What no identity paired: in order, when both sides have the same kind of element and
    // the recorded one's identity is an id not yet paired (a resource created during the
    // recording, say).
    let mut rest: Vec<usize> = (0..b.len()).filter(|&j| !taken[j]).collect();
    let mut unpaired = Vec::new();
    for i in left {
        let unknown_id = identity(&a[i], Some(ids)).is_some_and(|k| {
            let raw = identity(&a[i], None).unwrap_or_default();
            k == raw && raw.split('=').nth(1).is_some_and(|v| v.len() == 36)
        });
        let pick = rest
            .iter()
            .position(|&j| type_name(&a[i]) == type_name(&b[j]) && (unknown_id || identity(&a[i], None).is_none()));
        match pick {
            Some(p) => {
                let j = rest.remove(p);
                pairs.push((i, j));
            }
            None => unpaired.push(i),
        }
    }
    for (i, j) in pairs {
        json(&a[i], &b[j], &elem, ids, out);
    }
    for i in unpaired {
        out.push(Diff {
            path: elem.clone(),
            kind: Kind::Shape,
            detail: format!("recorded element {} is missing in the emulation", describe(&a[i])),
        });
    }
    for j in rest {
        out.push(Diff {
            path: elem.clone(),
            kind: Kind::Shape,
            detail: format!("the emulation adds element {}", describe(&b[j])),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn diffs(r: Value, e: Value) -> Vec<Diff> {
        let mut out = Vec::new();
        json(&r, &e, "$", &mut Ids::default(), &mut out);
        out
    }

    #[test]
    fn scim_aware() {
        // Key case, key order, element order, meta times, free text: no departure.
        let r = json!({"userName": "a@b.c", "emails": [{"value": "x@y.z", "primary": false}, {"value": "a@b.c", "primary": true}],
                       "meta": {"created": "1787393411245", "lastModified": "1787393411245"}, "detail": "one"});
        let e = json!({"emails": [{"primary": true, "value": "a@b.c"}, {"value": "x@y.z", "primary": false}], "USERNAME": "a@b.c",
                       "meta": {"lastModified": "1787393411999", "created": "1787393411000"}, "detail": "two"});
        assert_eq!(diffs(r, e), vec![]);
        // A time of another form, a missing key, another type, another value.
        let d = diffs(
            json!({"meta": {"created": "2024-01-01T00:00:00Z"}, "title": "x", "active": true, "n": 1}),
            json!({"meta": {"created": "1787393411245"}, "active": "true", "n": 2}),
        );
        let paths: Vec<(&str, Kind)> = d.iter().map(|d| (d.path.as_str(), d.kind)).collect();
        assert_eq!(
            paths,
            vec![
                ("$.active", Kind::Shape),
                ("$.meta.created", Kind::Shape),
                ("$.n", Kind::Value),
                ("$.title", Kind::Shape)
            ]
        );
    }

    #[test]
    fn ids_pair_once() {
        let mut ids = Ids::default();
        let a = "3f2b9c1e-0000-4000-8000-00000000000a";
        let b = "3f2b9c1e-0000-4000-8000-00000000000b";
        let c = "3f2b9c1e-0000-4000-8000-00000000000c";
        let mut out = Vec::new();
        json(
            &json!({"id": a, "loc": format!("/Users/{a}")}),
            &json!({"id": b, "loc": format!("/Users/{b}")}),
            "$",
            &mut ids,
            &mut out,
        );
        assert_eq!(out, vec![]);
        assert_eq!(ids.emulated(&format!("Users/{a}")), format!("Users/{b}"));
        json(&json!({"id": a}), &json!({"id": c}), "$", &mut ids, &mut out);
        assert_eq!(out.len(), 1);
        assert!(out[0].detail.contains("another resource"), "{:?}", out[0]);
    }
}
