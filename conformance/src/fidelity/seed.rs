//! What a cassette shows of the workspace before its first exchange: the users and groups its
//! answers carry, in the order its list pages show them. The emulation is seeded with exactly
//! that, so that replaying the recorded requests against it retraces the recording.
//!
//! - A user or group is seeded from its first appearance, unless that appearance is the answer
//!   to the POST that created it during the recording (then the replayed POST creates it).
//! - List positions come from unfiltered list pages (`startIndex` + offset); others follow.
//! - An id that a successful request names but no answer shows (a DELETE of someone never
//!   listed, a group member never listed) becomes a placeholder, and a list whose
//!   `totalResults` is larger than what the cassette shows is padded with placeholders, so
//!   counts agree; each placeholder is noted.
//! - Every email domain in the cassette counts as verified (the tenant's writes succeeded).

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context;
use indexmap::{IndexMap, IndexSet};
use notion_scim_mock::{Account, Group, Member, Org, PersonName, Role, Token, Workspace};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::cassette::Cassette;
use crate::truth::{Truth, TruthGroup, TruthUser};

const NOTION_EXT: &str = "urn:ietf:params:scim:schemas:extension:notion:2.0:User";
const ENTERPRISE_EXT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// Optional user attributes the emulation keeps as JSON.
const ATTRIBUTES: &[&str] = &[
    "title",
    "phoneNumbers",
    "addresses",
    "roles",
    "locale",
    "preferredLanguage",
    "userType",
    ENTERPRISE_EXT,
];

#[derive(Debug, Clone)]
struct Seen1 {
    id: String,
    /// `None` for a placeholder.
    doc: Option<Value>,
    position: Option<usize>,
}

/// The workspace a cassette shows.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    users: Vec<Seen1>,
    groups: Vec<Seen1>,
    /// Group id -> member ids, from the first appearance that carries members.
    members: BTreeMap<String, Vec<String>>,
    domains: BTreeSet<String>,
    user_total: usize,
    group_total: usize,
    pub notes: Vec<String>,
}

fn ci<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key)
        .or_else(|| obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
}

fn field<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_object().and_then(|o| ci(o, key))
}

fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    field(v, key).and_then(Value::as_str)
}

fn collect_domains(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::String(s) if crate::record::scrub::is_email(s) => {
            if let Some((_, d)) = s.rsplit_once('@') {
                out.insert(d.to_ascii_lowercase());
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_domains(x, out)),
        Value::Object(o) => o.values().for_each(|x| collect_domains(x, out)),
        _ => {}
    }
}

fn is_uuid(s: &str) -> bool {
    Uuid::parse_str(s).is_ok() && s.len() == 36
}

impl Seen {
    pub fn from_cassette(cassette: &Cassette) -> anyhow::Result<Seen> {
        let mut seen = Seen::default();
        let mut known: BTreeSet<String> = BTreeSet::new();
        let mut created: BTreeSet<String> = BTreeSet::new();
        for (i, interaction) in cassette.http_interactions.iter().enumerate() {
            let t = cassette.target(i)?;
            for s in [&interaction.request.body, &interaction.response.body] {
                if let Some(v) = s.json() {
                    collect_domains(&v, &mut seen.domains);
                }
            }
            for (_, v) in &t.query {
                collect_domains(&Value::String(v.trim_matches('"').to_string()), &mut seen.domains);
                for word in v.split(['"', ' ']) {
                    collect_domains(&Value::String(word.to_string()), &mut seen.domains);
                }
            }
            let segments: Vec<&str> = t.path.trim_matches('/').split('/').collect();
            let is_users = segments.first().is_some_and(|s| s.eq_ignore_ascii_case("Users"));
            let is_groups = segments.first().is_some_and(|s| s.eq_ignore_ascii_case("Groups"));
            if !(is_users || is_groups) || segments.get(1).is_some_and(|s| s.starts_with('.')) {
                continue;
            }
            let status = interaction.response.status.code;
            if !(200..300).contains(&status) {
                continue;
            }
            let creation = t.method == "POST" && segments.len() == 1;
            let body = interaction.response.body.json();
            let (items, list_start) = match &body {
                Some(b) => match field(b, "Resources").and_then(Value::as_array) {
                    Some(items) => (
                        items.clone(),
                        Some(field(b, "startIndex").and_then(Value::as_u64).unwrap_or(1).max(1) as usize),
                    ),
                    None if field(b, "id").is_some() => (vec![b.clone()], None),
                    None => (Vec::new(), None),
                },
                None => (Vec::new(), None),
            };
            let unfiltered = t.method == "GET"
                && segments.len() == 1
                && !t.query.iter().any(|(k, _)| k.eq_ignore_ascii_case("filter"));
            if unfiltered {
                if let Some(total) = body
                    .as_ref()
                    .and_then(|b| field(b, "totalResults"))
                    .and_then(Value::as_u64)
                {
                    let total = total as usize;
                    if is_users {
                        seen.user_total = seen.user_total.max(total);
                    } else {
                        seen.group_total = seen.group_total.max(total);
                    }
                }
            }
            for (k, item) in items.iter().enumerate() {
                let Some(id) = str_field(item, "id").map(str::to_ascii_lowercase) else {
                    continue;
                };
                if is_groups && !seen.members.contains_key(&id) && !created.contains(&id) {
                    if let Some(ms) = field(item, "members").and_then(Value::as_array) {
                        let ids = ms
                            .iter()
                            .filter_map(|m| str_field(m, "value").map(str::to_ascii_lowercase))
                            .collect();
                        seen.members.insert(id.clone(), ids);
                    }
                }
                if known.contains(&id) || created.contains(&id) {
                    continue;
                }
                if creation {
                    created.insert(id);
                    continue;
                }
                known.insert(id.clone());
                let entry = Seen1 {
                    id,
                    doc: Some(item.clone()),
                    position: list_start.filter(|_| unfiltered).map(|s| s - 1 + k),
                };
                if is_users {
                    seen.users.push(entry);
                } else {
                    seen.groups.push(entry);
                }
            }
            // An id the request names and the answer does not show.
            if let Some(id) = segments.get(1).map(|s| s.to_ascii_lowercase()) {
                if is_uuid(&id) && !known.contains(&id) && !created.contains(&id) {
                    known.insert(id.clone());
                    seen.notes.push(format!(
                        "{} {id} is named by a successful request but never shown: seeded as a placeholder",
                        if is_users { "user" } else { "group" }
                    ));
                    let entry = Seen1 {
                        id,
                        doc: None,
                        position: None,
                    };
                    if is_users {
                        seen.users.push(entry);
                    } else {
                        seen.groups.push(entry);
                    }
                }
            }
        }
        // Group members never listed as users.
        let mut missing = Vec::new();
        for ids in seen.members.values() {
            for id in ids {
                if !known.contains(id) && !created.contains(id) && !missing.contains(id) {
                    missing.push(id.clone());
                }
            }
        }
        if !missing.is_empty() {
            seen.notes.push(format!(
                "{} group member(s) never listed as users: seeded as placeholders",
                missing.len()
            ));
        }
        for id in missing {
            seen.users.push(Seen1 {
                id,
                doc: None,
                position: None,
            });
        }
        for g in &seen.groups {
            if g.doc.is_some() && !seen.members.contains_key(&g.id) {
                seen.notes.push(format!(
                    "group {} is never shown with its members: seeded without members",
                    g.id
                ));
            }
        }
        let order = |list: &mut Vec<Seen1>| {
            // Listed items at their positions first (stable among equals), then the rest in
            // the order they appeared.
            list.sort_by_key(|s| s.position.unwrap_or(usize::MAX));
        };
        order(&mut seen.users);
        order(&mut seen.groups);
        Ok(seen)
    }

    /// Every seeded id (they keep their ids in the emulation).
    pub fn ids(&self) -> Vec<String> {
        self.users.iter().chain(&self.groups).map(|s| s.id.clone()).collect()
    }

    /// The email domains the cassette shows.
    pub fn domains(&self) -> Vec<String> {
        self.domains.iter().cloned().collect()
    }

    /// The emulation's org: one Enterprise workspace holding what the cassette shows, and one
    /// token with this secret (its creator is nobody the cassette shows, so every recorded
    /// member may be removed).
    pub fn org(&self, token: &str) -> anyhow::Result<Org> {
        let mut org = Org::new("recorded workspace", self.domains());
        let mut ws = Workspace {
            id: Uuid::from_u128(1),
            name: "recorded workspace".into(),
            enterprise: true,
            members: IndexMap::new(),
            guests: IndexSet::new(),
            groups: IndexMap::new(),
        };
        let mut placeholders = 0usize;
        for u in &self.users {
            let id = Uuid::parse_str(&u.id).with_context(|| format!("user id {:?} is not a UUID", u.id))?;
            let doc = u.doc.clone().unwrap_or(Value::Null);
            let email = str_field(&doc, "userName")
                .map(|e| e.trim().to_lowercase())
                .filter(|e| crate::record::scrub::is_email(e) && !org.by_email.contains_key(e))
                .unwrap_or_else(|| {
                    placeholders += 1;
                    format!("placeholder-{placeholders}@placeholder.invalid")
                });
            let (account, member) = account_of(id, email, &doc, &mut org);
            org.insert_account(account);
            ws.members.insert(id, member);
        }
        let fillers = self.user_total.saturating_sub(ws.members.len());
        for n in 0..fillers {
            let id = Uuid::from_u128(0xf111_0000_0000_4000_8000_0000_0000_0000 + n as u128);
            let now = org.tick();
            org.insert_account(Account {
                id,
                email: format!("filler-{n}@placeholder.invalid"),
                secondary_email: None,
                name: PersonName::default(),
                photo: None,
                attributes: Map::new(),
            });
            ws.members.insert(
                id,
                Member {
                    role: Some(Role::Member),
                    active: true,
                    created_ms: now,
                    modified_ms: now,
                },
            );
        }
        for g in &self.groups {
            let id = Uuid::parse_str(&g.id).with_context(|| format!("group id {:?} is not a UUID", g.id))?;
            let doc = g.doc.clone().unwrap_or(Value::Null);
            let members: IndexSet<Uuid> = self
                .members
                .get(&g.id)
                .into_iter()
                .flatten()
                .filter_map(|m| Uuid::parse_str(m).ok())
                .filter(|m| ws.members.contains_key(m))
                .collect();
            let (created_ms, modified_ms) = times(&doc, &mut org);
            ws.groups.insert(
                id,
                Group {
                    display_name: str_field(&doc, "displayName")
                        .unwrap_or("placeholder group")
                        .to_string(),
                    members,
                    sole_full_access_pages: 0,
                    created_ms,
                    modified_ms,
                },
            );
        }
        for n in 0..self.group_total.saturating_sub(ws.groups.len()) {
            let now = org.tick();
            ws.groups.insert(
                Uuid::from_u128(0xf222_0000_0000_4000_8000_0000_0000_0000 + n as u128),
                Group {
                    display_name: format!("filler group {n}"),
                    members: IndexSet::new(),
                    sole_full_access_pages: 0,
                    created_ms: now,
                    modified_ms: now,
                },
            );
        }
        org.workspaces.push(ws);
        org.tokens.push(Token {
            id: "tok_1".into(),
            secret: token.to_string(),
            workspace: 0,
            creator: Uuid::nil(),
            revoked: false,
        });
        Ok(org)
    }

    /// Lines describing what was seeded.
    pub fn describe(&self) -> String {
        let placeholders = self.users.iter().filter(|u| u.doc.is_none()).count();
        let fillers = self.user_total.saturating_sub(self.users.len());
        format!(
            "seeded {} user(s) ({} placeholder(s), {} filler(s) for totalResults) and {} group(s) from the cassette",
            self.users.len() + fillers,
            placeholders,
            fillers,
            self.group_total.max(self.groups.len())
        )
    }

    /// The workspace as a correct sync of it must find it (what the cassette shows, without
    /// placeholders).
    pub fn truth(&self) -> Truth {
        let mut truth = Truth::default();
        for u in &self.users {
            let Some(doc) = &u.doc else { continue };
            let name = field(doc, "name");
            let part = |k: &str| name.and_then(|n| str_field(n, k)).map(str::to_string);
            truth.users.push(TruthUser {
                id: u.id.clone(),
                user_name: str_field(doc, "userName").unwrap_or_default().to_string(),
                display_name: str_field(doc, "displayName").unwrap_or_default().to_string(),
                formatted_name: part("formatted"),
                given_name: part("givenName"),
                family_name: part("familyName"),
                role: field(doc, NOTION_EXT)
                    .and_then(|e| str_field(e, "role"))
                    .map(str::to_string),
                active: field(doc, "active").and_then(Value::as_bool).unwrap_or(true),
            });
        }
        for g in &self.groups {
            let Some(doc) = &g.doc else { continue };
            truth.groups.push(TruthGroup {
                id: g.id.clone(),
                display_name: str_field(doc, "displayName").unwrap_or_default().to_string(),
                members: self.members.get(&g.id).cloned().unwrap_or_default(),
            });
        }
        truth
    }
}

/// `meta.created`/`lastModified` when they are epoch milliseconds, else the org's clock.
fn times(doc: &Value, org: &mut Org) -> (u64, u64) {
    let meta = field(doc, "meta");
    let ms = |k: &str| meta.and_then(|m| str_field(m, k)).and_then(|s| s.parse::<u64>().ok());
    let now = org.tick();
    (ms("created").unwrap_or(now), ms("lastModified").unwrap_or(now))
}

fn account_of(id: Uuid, email: String, doc: &Value, org: &mut Org) -> (Account, Member) {
    let name = field(doc, "name");
    let part = |k: &str| name.and_then(|n| str_field(n, k)).map(str::to_string);
    let secondary = field(doc, "emails")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|e| field(e, "primary").and_then(Value::as_bool) != Some(true))
        .filter_map(|e| str_field(e, "value"))
        .map(str::to_lowercase)
        .find(|e| *e != email);
    let photo = field(doc, "photos")
        .and_then(Value::as_array)
        .and_then(|p| p.first())
        .and_then(|p| str_field(p, "value"))
        .map(str::to_string);
    let mut attributes = Map::new();
    for key in ATTRIBUTES {
        if let Some(v) = field(doc, key).filter(|v| !v.is_null()) {
            attributes.insert((*key).to_string(), v.clone());
        }
    }
    let role = field(doc, NOTION_EXT)
        .and_then(|e| str_field(e, "role"))
        .and_then(|r| r.parse::<Role>().ok());
    let (created_ms, modified_ms) = times(doc, org);
    let account = Account {
        id,
        email,
        secondary_email: secondary,
        name: PersonName {
            formatted: part("formatted"),
            given: part("givenName"),
            family: part("familyName"),
        },
        photo,
        attributes,
    };
    let member = Member {
        role,
        active: field(doc, "active").and_then(Value::as_bool).unwrap_or(true),
        created_ms,
        modified_ms,
    };
    (account, member)
}
