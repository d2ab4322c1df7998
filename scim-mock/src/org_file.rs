//! An organisation written by hand as JSON (`serve --org FILE`, `MockServer::builder().org_json`).
//! `fixtures/orgs/small-org.json` is a documented example.

use indexmap::{IndexMap, IndexSet};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::model::{Account, Group, Member, Org, PersonName, Role, Token, Workspace};
use crate::seed::DEFAULT_TOKEN;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgFile {
    pub name: String,
    /// Domains whose addresses may have their name or email changed through SCIM.
    #[serde(default)]
    pub verified_domains: Vec<String>,
    pub workspaces: Vec<WorkspaceFile>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceFile {
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
    pub secret: String,
    /// The email of the owner who created it.
    pub creator: String,
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
                id: fresh(&mut rng),
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
            let owner_of = |email: &str| -> Result<Uuid, String> {
                let id = org.by_email.get(&email.to_lowercase()).copied();
                match id.and_then(|id| ws.members.get(&id).map(|m| (id, m))) {
                    Some((id, m)) if m.role == Some(Role::Owner) => Ok(id),
                    _ => Err(format!("token creator {email} must be an owner of {}", wf.name)),
                }
            };
            let mut tokens = Vec::new();
            for tf in &wf.tokens {
                tokens.push((tf.secret.clone(), owner_of(&tf.creator)?));
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
                tokens.push((secret, owner));
            }
            for (secret, creator) in tokens {
                let id = format!("tok_{}", org.tokens.len() + 1);
                org.tokens.push(Token {
                    id,
                    secret,
                    workspace: w,
                    creator,
                    revoked: false,
                });
            }
            org.workspaces.push(ws);
        }
        Ok(org)
    }
}

fn fresh(rng: &mut ChaCha8Rng) -> Uuid {
    uuid::Builder::from_random_bytes(rand::Rng::random(rng)).into_uuid()
}
