//! The behaviour suite: checks, from the outside over HTTP with the oracle's own SCIM client,
//! each behaviour of `docs/notion-scim.md` that a client can observe. No connector is
//! involved.
//!
//! Each case probes one group of facts and keeps what it saw as [`Findings`]. A fact tagged
//! [N], [O] or [R] that does not hold fails the case, and so does a [T] fact the emulation has
//! no switch for. For an unknown ([?]) behaviour the case names the emulation's `Quirks` switch
//! and value that matches what the target did (`--error-dialect notion`); it fails only when
//! the target does something no switch describes, saying what. Against a real tenant the pass
//! notes are therefore the list of switches to set for the emulation to behave like it.
//!
//! Switch names are literal strings on purpose: the suite judges the target, and must not
//! learn what to expect from the emulation's own types.

use std::fmt::Display;

use serde_json::Value;

use super::{Case, CaseResult, Suite};
use crate::case;
use crate::scim::{short, Answer};

mod discovery;
mod listing;
mod shapes;
mod writes;

pub fn cases() -> Vec<Case> {
    vec![
        case!(Suite::Behaviour, "discovery", "ServiceProviderConfig without a token, its flags, ResourceTypes, the response media type", discovery::discovery),
        case!(Suite::Behaviour, "auth", "a wrong or missing token: non-2xx, and which --auth-failure-status", discovery::auth),
        case!(Suite::Behaviour, "paging", "1-based startIndex, count over 100, default count, itemsPerPage, exact totalResults", listing::paging),
        case!(Suite::Behaviour, "filters", "email, given_name, family_name, userName and displayName eq; unsupported filters", listing::filters),
        case!(Suite::Behaviour, "user-shape", "users as observed: core URN alone, lowercase UUIDs, epoch-ms meta, app.notion.com locations, emails without type, roles", shapes::user_shape),
        case!(Suite::Behaviour, "group-shape", "groups: UUIDs, members as user ids, meta and members in lists, excludedAttributes=members", shapes::group_shape),
        case!(Suite::Behaviour, "errors", "404 for unknown ids, 400 for a broken filter, and the error body dialect", discovery::errors),
        case!(Suite::Behaviour, "undocumented-endpoints", "/Me, /Bulk, /.search and /Schemas", discovery::undocumented),
        case!(Suite::Behaviour, "writes", "POST, POST again, PATCH role, PUT, DELETE, active:false, re-adding: on accounts the case creates", writes::writes),
    ]
}

pub(crate) const USER_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub(crate) const GROUP_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub(crate) const NOTION_EXT: &str = "urn:ietf:params:scim:schemas:extension:notion:2.0:User";
pub(crate) const LIST_URN: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub(crate) const ERROR_URN: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub(crate) const PATCH_URN: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// `meta.location` names this base whatever host was called [O].
pub(crate) const LOCATION_BASE: &str = "https://app.notion.com/scim/v2";
pub(crate) const ROLES: [&str; 4] = ["owner", "membership_admin", "member", "restricted_member"];

/// What one case saw. Facts that held are kept by a short key; facts that did not, with what
/// was seen; unknowns as the switch (flag and value) that matches.
#[derive(Debug, Default)]
pub(crate) struct Findings {
    held: Vec<String>,
    switches: Vec<String>,
    notes: Vec<String>,
    failures: Vec<String>,
    /// Appended to the facts that fail while it is set (which request they were seen on).
    context: String,
}

impl Findings {
    /// A fact with an evidence tag (`[O]`, `[N][T]`...): `Err(seen)` when it does not hold.
    pub fn fact(&mut self, tag: &str, key: &str, fact: &str, outcome: Result<(), String>) {
        match outcome {
            Ok(()) => {
                let k = format!("{tag} {key}");
                if !self.held.contains(&k) {
                    self.held.push(k);
                }
            }
            Err(seen) => self.failures.push(format!("{tag} {fact}{}: {seen}", self.context)),
        }
    }

    /// [`Findings::fact`] with a condition and what was seen when it is false.
    pub fn check(&mut self, tag: &str, key: &str, fact: &str, ok: bool, seen: impl FnOnce() -> String) {
        self.fact(tag, key, fact, if ok { Ok(()) } else { Err(seen()) });
    }

    /// A fact checked on every item of a list: the failure counts the items and shows the first.
    pub fn each(
        &mut self,
        tag: &str,
        key: &str,
        fact: &str,
        items: &[Value],
        check: impl Fn(&Value) -> Result<(), String>,
    ) {
        let bad: Vec<(String, String)> = items
            .iter()
            .filter_map(|item| check(item).err().map(|e| (id_of(item).to_string(), e)))
            .collect();
        let outcome = match bad.first() {
            None => Ok(()),
            Some((id, e)) => Err(format!("{} of {} (first: {id}: {e})", bad.len(), items.len())),
        };
        self.fact(tag, key, fact, outcome);
    }

    /// Names the request the next failures were seen on (`""` to stop).
    pub fn context(&mut self, context: &str) {
        self.context = if context.is_empty() {
            String::new()
        } else {
            format!(" ({context})")
        };
    }

    /// An unknown behaviour that matches a switch of the emulation.
    pub fn switch(&mut self, flag: &str, value: impl Display, evidence: &str) {
        let s = if evidence.is_empty() {
            format!("{flag} {value}")
        } else {
            format!("{flag} {value} ({evidence})")
        };
        if !self.switches.contains(&s) {
            self.switches.push(s);
        }
    }

    /// An unknown behaviour that no switch of the emulation describes: the case fails.
    pub fn unmatched(&mut self, fact: &str, seen: impl Display) {
        self.failures
            .push(format!("[?] {fact}: no switch of the emulation describes this: {seen}"));
    }

    /// Something seen that decides nothing (a proof that could not be made, a count).
    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    /// Pass with a one-line note (switches, facts held, notes), or fail with every fact that
    /// did not hold.
    pub fn finish(self) -> CaseResult {
        if !self.failures.is_empty() {
            let mut msg = format!("{} fact(s) not held: {}", self.failures.len(), self.failures.join("; "));
            if !self.switches.is_empty() {
                msg.push_str(&format!(" (also seen: {})", self.switches.join(", ")));
            }
            anyhow::bail!("{msg}");
        }
        let mut parts = Vec::new();
        if !self.switches.is_empty() {
            parts.push(self.switches.join(", "));
        }
        if !self.held.is_empty() {
            parts.push(format!("held: {}", self.held.join(", ")));
        }
        if !self.notes.is_empty() {
            parts.push(self.notes.join(", "));
        }
        Ok(parts.join("; "))
    }
}

pub(crate) fn id_of(v: &Value) -> &str {
    v.get("id").and_then(Value::as_str).unwrap_or("(no id)")
}

pub(crate) fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// A lowercase hyphenated UUID, as Notion's ids are [N][T].
pub(crate) fn is_lower_uuid(s: &str) -> bool {
    s.len() == 36
        && s.chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c) || c == '-')
        && uuid::Uuid::parse_str(s).is_ok()
}

/// `created`/`lastModified`: epoch milliseconds written as a string of digits [O].
pub(crate) fn epoch_ms_string(v: Option<&Value>) -> Result<(), String> {
    match v {
        Some(Value::String(s)) if !s.is_empty() && s.len() <= 16 && s.chars().all(|c| c.is_ascii_digit()) => Ok(()),
        Some(other) => Err(format!("{other} is not a string of epoch milliseconds")),
        None => Err("missing".into()),
    }
}

/// The user-style `meta` [O]: resourceType, epoch-ms strings, location on app.notion.com, no
/// version. `kind` is `Users` or `Groups`.
pub(crate) fn check_meta(item: &Value, resource_type: &str, kind: &str) -> Result<(), String> {
    let meta = item.get("meta").ok_or("no meta")?;
    if str_of(meta, "resourceType") != Some(resource_type) {
        return Err(format!("meta.resourceType {:?}", meta.get("resourceType")));
    }
    epoch_ms_string(meta.get("created")).map_err(|e| format!("meta.created {e}"))?;
    epoch_ms_string(meta.get("lastModified")).map_err(|e| format!("meta.lastModified {e}"))?;
    let want = format!("{LOCATION_BASE}/{kind}/{}", id_of(item));
    if str_of(meta, "location") != Some(want.as_str()) {
        return Err(format!("meta.location {:?}, expected {want:?}", meta.get("location")));
    }
    if meta.get("version").is_some() {
        return Err("meta.version present".into());
    }
    Ok(())
}

/// The error body's dialect: RFC 7644 §3.12 or Notion's public REST form; `Err` describes a
/// body that is neither.
pub(crate) fn dialect(a: &Answer) -> Result<&'static str, String> {
    let b = &a.body;
    let rfc = b
        .get("schemas")
        .and_then(Value::as_array)
        .is_some_and(|s| s.iter().any(|u| u.as_str() == Some(ERROR_URN)));
    if rfc {
        return match b.get("status") {
            Some(Value::String(s)) if *s == a.status.to_string() => Ok("rfc"),
            other => Err(format!(
                "an RFC error body whose status is {other:?}, not the string \"{}\"",
                a.status
            )),
        };
    }
    if str_of(b, "object") == Some("error") {
        let status_ok = b.get("status").and_then(Value::as_u64) == Some(u64::from(a.status));
        return if status_ok && str_of(b, "code").is_some() && str_of(b, "message").is_some() {
            Ok("notion")
        } else {
            Err(format!(
                "a Notion-style error body without a numeric status, code or message: {}",
                short(&a.text)
            ))
        };
    }
    Err(format!(
        "{} {}",
        a.status,
        if a.text.is_empty() {
            "(empty body)".into()
        } else {
            short(&a.text)
        }
    ))
}
