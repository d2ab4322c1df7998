//! An organisation written as JSON (`serve --org FILE`, `truth --org FILE`,
//! `MockServer::builder().org_json`), in either of two shapes:
//! - the hand-written shape of [`OrgFile`] (`fixtures/orgs/small-org.json` is a documented
//!   example): members by email, ids optional, tokens by their creator's email;
//! - the emulation's own truth dump ([`OrgTruth`], what `GET /__admin/truth` and `truth` print),
//!   so that a recorded org is served again exactly as it was, whatever later changes to the
//!   seeded generator: the same workspace, user, group and token ids, names, roles, active flags,
//!   emails, group members and token creators. What the dump does not hold cannot come back:
//!   token secrets (the first token gets the default secret, `secret_notion_scim_mock_token`,
//!   others `secret_notion_scim_mock_<token id>`), photos, `meta` timestamps and guests' names.
//!   Loading a dump checks that the org it builds dumps to the same truth, and refuses it
//!   otherwise, naming the first difference.
//!
//! The shape is told apart by the workspaces' keys: a dump's have `workspace_id` and `users`.

use indexmap::{IndexMap, IndexSet};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::model::{Account, Group, Member, Org, PersonName, Role, Token, Workspace};
use crate::seed::DEFAULT_TOKEN;
use crate::truth::{GroundTruth, OrgTruth};

/// An org as JSON: deserialises from either shape (see the module docs); serialises in the
/// hand-written shape.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(try_from = "serde_json::Value")]
pub struct OrgFile {
    pub name: String,
    /// Domains whose addresses may have their name or email changed through SCIM.
    #[serde(default)]
    pub verified_domains: Vec<String>,
    pub workspaces: Vec<WorkspaceFile>,
}

/// The hand-written shape's top level, as read (the checks on unknown fields live here:
/// [`OrgFile`] itself deserialises through `serde_json::Value` to tell the shapes apart).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HandWritten {
    name: String,
    #[serde(default)]
    verified_domains: Vec<String>,
    workspaces: Vec<WorkspaceFile>,
}

impl TryFrom<serde_json::Value> for OrgFile {
    type Error = String;

    fn try_from(value: serde_json::Value) -> Result<Self, Self::Error> {
        let is_dump = value
            .get("workspaces")
            .and_then(serde_json::Value::as_array)
            .and_then(|w| w.first())
            .and_then(serde_json::Value::as_object)
            .is_some_and(|w| w.contains_key("workspace_id") || w.contains_key("users"));
        if is_dump {
            let truth: OrgTruth =
                serde_json::from_value(value).map_err(|e| format!("a truth dump (workspaces with users): {e}"))?;
            return OrgFile::from_truth(&truth);
        }
        let h: HandWritten = serde_json::from_value(value).map_err(|e| e.to_string())?;
        Ok(OrgFile {
            name: h.name,
            verified_domains: h.verified_domains,
            workspaces: h.workspaces,
        })
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceFile {
    /// A UUID; made up (deterministically) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    pub name: String,
    #[serde(default = "yes")]
    pub enterprise: bool,
    #[serde(default)]
    pub members: Vec<PersonFile>,
    #[serde(default)]
    pub guests: Vec<PersonFile>,
    #[serde(default)]
    pub groups: Vec<GroupFile>,
    /// When empty, the first owner gets a token (`secret_notion_scim_mock_token` for the
    /// first workspace).
    #[serde(default)]
    pub tokens: Vec<TokenFile>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonFile {
    /// A UUID; made up (deterministically) when absent. The same email in two workspaces is
    /// the same account and keeps the first id given.
    #[serde(default)]
    pub id: Option<Uuid>,
    pub email: String,
    #[serde(default)]
    pub name: PersonName,
    #[serde(default)]
    pub secondary_email: Option<String>,
    /// Defaults to `member`.
    #[serde(default)]
    pub role: Option<Role>,
    /// Show no Notion extension object (as some real records do).
    #[serde(default)]
    pub no_role_extension: bool,
    #[serde(default = "yes")]
    pub active: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupFile {
    #[serde(default)]
    pub id: Option<Uuid>,
    pub display_name: String,
    /// Members' emails or ids.
    #[serde(default)]
    pub members: Vec<String>,
    #[serde(default)]
    pub sole_full_access_pages: u32,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenFile {
    /// `tok_N`; by default the next number in the org.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub secret: String,
    /// The email or id of the owner who created it. A revoked token's creator need not be a
    /// member any more (removing an owner revokes their tokens).
    pub creator: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub revoked: bool,
}

impl OrgFile {
    /// Builds the model, checking that references resolve.
    pub fn build(&self) -> Result<Org, String> {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let mut org = Org::new(self.name.clone(), self.verified_domains.clone());
        if self.workspaces.is_empty() {
            return Err("an org needs at least one workspace".into());
        }
        for (w, wf) in self.workspaces.iter().enumerate() {
            let account_for = |org: &mut Org, p: &PersonFile, rng: &mut ChaCha8Rng| -> Result<Uuid, String> {
                let email = p.email.trim().to_lowercase();
                if !email.contains('@') {
                    return Err(format!("{:?} is not an email address", p.email));
                }
                if let Some(existing) = org.by_email.get(&email) {
                    return Ok(*existing);
                }
                let id = p.id.unwrap_or_else(|| fresh(rng));
                if org.accounts.contains_key(&id) {
                    return Err(format!("id {id} is used twice"));
                }
                org.insert_account(Account {
                    id,
                    email,
                    secondary_email: p.secondary_email.clone().map(|e| e.to_lowercase()),
                    name: p.name.clone(),
                    photo: None,
                    attributes: serde_json::Map::new(),
                });
                Ok(id)
            };
            let mut ws = Workspace {
                id: wf.id.unwrap_or_else(|| fresh(&mut rng)),
                name: wf.name.clone(),
                enterprise: wf.enterprise,
                members: IndexMap::new(),
                guests: IndexSet::new(),
                groups: IndexMap::new(),
            };
            for p in &wf.members {
                let id = account_for(&mut org, p, &mut rng)?;
                let role = if p.no_role_extension {
                    None
                } else {
                    Some(p.role.unwrap_or(Role::Member))
                };
                let now = org.tick();
                ws.members.insert(
                    id,
                    Member {
                        role,
                        active: p.active,
                        created_ms: now,
                        modified_ms: now,
                    },
                );
            }
            for p in &wf.guests {
                let id = account_for(&mut org, p, &mut rng)?;
                if ws.members.contains_key(&id) {
                    return Err(format!("{} is both a member and a guest of {}", p.email, wf.name));
                }
                ws.guests.insert(id);
            }
            for gf in &wf.groups {
                let mut members = IndexSet::new();
                for m in &gf.members {
                    let id = Uuid::parse_str(m)
                        .ok()
                        .or_else(|| org.by_email.get(&m.to_lowercase()).copied());
                    match id.filter(|id| ws.members.contains_key(id)) {
                        Some(id) => {
                            members.insert(id);
                        }
                        None => {
                            return Err(format!(
                                "group {:?}: {m} is not a member of {}",
                                gf.display_name, wf.name
                            ))
                        }
                    }
                }
                let now = org.tick();
                let group = Group {
                    display_name: gf.display_name.clone(),
                    members,
                    sole_full_access_pages: gf.sole_full_access_pages,
                    created_ms: now,
                    modified_ms: now,
                };
                ws.groups.insert(gf.id.unwrap_or_else(|| fresh(&mut rng)), group);
            }
            let creator_of = |tf: &TokenFile| -> Result<Uuid, String> {
                let id = Uuid::parse_str(&tf.creator)
                    .ok()
                    .or_else(|| org.by_email.get(&tf.creator.to_lowercase()).copied());
                let member = id.and_then(|id| ws.members.get(&id).map(|m| (id, m)));
                match (member, id) {
                    (Some((id, m)), _) if m.role == Some(Role::Owner) => Ok(id),
                    (_, Some(id)) if tf.revoked => Ok(id),
                    _ => Err(format!("token creator {} must be an owner of {}", tf.creator, wf.name)),
                }
            };
            let mut tokens = Vec::new();
            for tf in &wf.tokens {
                tokens.push((tf.id.clone(), tf.secret.clone(), creator_of(tf)?, tf.revoked));
            }
            if tokens.is_empty() {
                let owner = ws
                    .members
                    .iter()
                    .find(|(_, m)| m.role == Some(Role::Owner))
                    .map(|(id, _)| *id);
                let Some(owner) = owner else {
                    return Err(format!("workspace {} needs an owner to create its SCIM token", wf.name));
                };
                let secret = if w == 0 {
                    DEFAULT_TOKEN.to_string()
                } else {
                    format!("secret_ws{}", w + 1)
                };
                tokens.push((None, secret, owner, false));
            }
            for (id, secret, creator, revoked) in tokens {
                let id = id.unwrap_or_else(|| format!("tok_{}", org.tokens.len() + 1));
                if org.tokens.iter().any(|t| t.id == id) {
                    return Err(format!("token id {id} is used twice"));
                }
                if org.tokens.iter().any(|t| t.secret == secret) {
                    return Err(format!("token {id}: its secret is another token's too"));
                }
                org.tokens.push(Token {
                    id,
                    secret,
                    workspace: w,
                    creator,
                    revoked,
                });
            }
            org.workspaces.push(ws);
        }
        Ok(org)
    }
}

impl OrgFile {
    /// The org a truth dump describes, in the hand-written shape; fails when the dump holds
    /// something this shape cannot carry, or when the org it builds would dump differently.
    pub fn from_truth(truth: &OrgTruth) -> Result<OrgFile, String> {
        let mut first_token = true;
        let mut workspaces = Vec::with_capacity(truth.workspaces.len());
        for ws in &truth.workspaces {
            workspaces.push(workspace_from_truth(ws, &mut first_token)?);
        }
        let file = OrgFile {
            name: truth.name.clone(),
            verified_domains: truth.verified_domains.clone(),
            workspaces,
        };
        let rebuilt = OrgTruth::of(&file.build()?);
        if &rebuilt != truth {
            return Err(format!(
                "the truth dump cannot be served as it is: {}",
                first_difference(truth, &rebuilt)
            ));
        }
        Ok(file)
    }
}

fn workspace_from_truth(ws: &GroundTruth, first_token: &mut bool) -> Result<WorkspaceFile, String> {
    let id = Uuid::parse_str(&ws.workspace_id).map_err(|e| {
        format!(
            "workspace {:?}: workspace_id {:?}: {e}",
            ws.workspace_name, ws.workspace_id
        )
    })?;
    let mut members = Vec::with_capacity(ws.users.len());
    for u in &ws.users {
        let user_id = Uuid::parse_str(&u.id).map_err(|e| format!("user {:?}: {e}", u.id))?;
        // The dump lists the primary email first, then the one secondary an account may have.
        let (secondary_email, rest) = match u.emails.as_slice() {
            [primary, rest @ ..] if *primary == u.user_name => {
                (rest.first().cloned(), rest.get(1..).unwrap_or_default())
            }
            _ => {
                return Err(format!(
                    "user {}: emails {:?} do not start with user_name {:?}",
                    u.id, u.emails, u.user_name
                ))
            }
        };
        if !rest.is_empty() {
            return Err(format!("user {}: more than two emails ({:?})", u.id, u.emails));
        }
        members.push(PersonFile {
            id: Some(user_id),
            email: u.user_name.clone(),
            name: PersonName {
                formatted: u.formatted_name.clone(),
                given: u.given_name.clone(),
                family: u.family_name.clone(),
            },
            secondary_email,
            role: u.role,
            no_role_extension: u.role.is_none(),
            active: u.active,
        });
    }
    let mut guests = Vec::with_capacity(ws.guests.len());
    for g in &ws.guests {
        guests.push(PersonFile {
            id: Some(Uuid::parse_str(&g.id).map_err(|e| format!("guest {:?}: {e}", g.id))?),
            email: g.email.clone(),
            active: true,
            ..PersonFile::default()
        });
    }
    let mut groups = Vec::with_capacity(ws.groups.len());
    for g in &ws.groups {
        groups.push(GroupFile {
            id: Some(Uuid::parse_str(&g.id).map_err(|e| format!("group {:?}: {e}", g.id))?),
            display_name: g.display_name.clone(),
            members: g.members.clone(),
            sole_full_access_pages: g.sole_full_access_pages,
        });
    }
    let tokens = ws
        .tokens
        .iter()
        .map(|t| {
            // The dump never holds secrets: the first token gets the documented default.
            let secret = if std::mem::take(first_token) {
                DEFAULT_TOKEN.to_string()
            } else {
                format!("secret_notion_scim_mock_{}", t.id)
            };
            TokenFile {
                id: Some(t.id.clone()),
                secret,
                creator: t.creator.clone(),
                revoked: t.revoked,
            }
        })
        .collect();
    Ok(WorkspaceFile {
        id: Some(id),
        name: ws.workspace_name.clone(),
        enterprise: ws.enterprise,
        members,
        guests,
        groups,
        tokens,
    })
}

/// Where two truths first differ, for the error that refuses a dump.
fn first_difference(want: &OrgTruth, got: &OrgTruth) -> String {
    let (w, g) = (serde_json::to_value(want), serde_json::to_value(got));
    let (Ok(w), Ok(g)) = (w, g) else {
        return "the dumps differ".into();
    };
    fn walk(path: String, w: &serde_json::Value, g: &serde_json::Value) -> Option<String> {
        use serde_json::Value as J;
        match (w, g) {
            (J::Object(a), J::Object(b)) => a.iter().find_map(|(k, v)| match b.get(k) {
                Some(u) => walk(format!("{path}.{k}"), v, u),
                None => Some(format!("{path}.{k} is lost")),
            }),
            (J::Array(a), J::Array(b)) if a.len() == b.len() => a
                .iter()
                .zip(b)
                .enumerate()
                .find_map(|(i, (v, u))| walk(format!("{path}[{i}]"), v, u)),
            _ if w == g => None,
            _ => Some(format!("{path} would be {g} instead of {w}")),
        }
    }
    walk(String::new(), &w, &g).unwrap_or_else(|| "the dumps differ".into())
}

fn fresh(rng: &mut ChaCha8Rng) -> Uuid {
    uuid::Builder::from_random_bytes(rand::Rng::random(rng)).into_uuid()
}
