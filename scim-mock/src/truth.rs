//! The org's ground truth: what a correct sync of a workspace must find. What `GET /__admin/truth`
//! and `notion-scim-mock truth` print, and what `--org FILE` reads back (see `org_file.rs`): the
//! types refuse unknown fields so that nothing in a dump is silently dropped.

use serde::{Deserialize, Serialize};

use crate::model::{Org, Role};

/// One workspace as SCIM should show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroundTruth {
    pub workspace_id: String,
    pub workspace_name: String,
    pub enterprise: bool,
    /// The members, in list order.
    pub users: Vec<TruthUser>,
    pub groups: Vec<TruthGroup>,
    /// Never visible through SCIM.
    pub guests: Vec<TruthGuest>,
    pub tokens: Vec<TruthToken>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TruthUser {
    pub id: String,
    pub user_name: String,
    pub display_name: String,
    pub formatted_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    /// `None`: the record carries no Notion extension (clients read it as `member`).
    pub role: Option<Role>,
    pub active: bool,
    /// Primary first.
    pub emails: Vec<String>,
}

impl TruthUser {
    /// The role a client should report: `member` when the record shows none.
    pub fn effective_role(&self) -> Role {
        self.role.unwrap_or(Role::Member)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TruthGroup {
    pub id: String,
    pub display_name: String,
    /// User ids.
    pub members: Vec<String>,
    pub sole_full_access_pages: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TruthGuest {
    pub id: String,
    pub email: String,
}

/// A token, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TruthToken {
    pub id: String,
    pub creator: String,
    pub revoked: bool,
}

/// Every workspace of the org.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgTruth {
    pub name: String,
    pub verified_domains: Vec<String>,
    pub workspaces: Vec<GroundTruth>,
}

impl GroundTruth {
    pub fn of(org: &Org, workspace: usize) -> Option<GroundTruth> {
        let ws = org.workspaces.get(workspace)?;
        let users = ws
            .members
            .iter()
            .filter_map(|(id, m)| {
                let a = org.accounts.get(id)?;
                Some(TruthUser {
                    id: id.to_string(),
                    user_name: a.email.clone(),
                    display_name: a.name.display().unwrap_or_else(|| a.email.clone()),
                    formatted_name: a.name.formatted.clone(),
                    given_name: a.name.given.clone(),
                    family_name: a.name.family.clone(),
                    role: m.role,
                    active: m.active,
                    emails: std::iter::once(a.email.clone())
                        .chain(a.secondary_email.clone())
                        .collect(),
                })
            })
            .collect();
        let groups = ws
            .groups
            .iter()
            .map(|(id, g)| TruthGroup {
                id: id.to_string(),
                display_name: g.display_name.clone(),
                members: g.members.iter().map(ToString::to_string).collect(),
                sole_full_access_pages: g.sole_full_access_pages,
            })
            .collect();
        let guests = ws
            .guests
            .iter()
            .filter_map(|id| {
                org.accounts.get(id).map(|a| TruthGuest {
                    id: id.to_string(),
                    email: a.email.clone(),
                })
            })
            .collect();
        let tokens = org
            .tokens
            .iter()
            .filter(|t| t.workspace == workspace)
            .map(|t| TruthToken {
                id: t.id.clone(),
                creator: t.creator.to_string(),
                revoked: t.revoked,
            })
            .collect();
        Some(GroundTruth {
            workspace_id: ws.id.to_string(),
            workspace_name: ws.name.clone(),
            enterprise: ws.enterprise,
            users,
            groups,
            guests,
            tokens,
        })
    }

    pub fn user(&self, id: &str) -> Option<&TruthUser> {
        self.users.iter().find(|u| u.id == id)
    }

    pub fn user_by_email(&self, email: &str) -> Option<&TruthUser> {
        let email = email.to_lowercase();
        self.users.iter().find(|u| u.user_name == email)
    }

    pub fn group(&self, id: &str) -> Option<&TruthGroup> {
        self.groups.iter().find(|g| g.id == id)
    }

    /// Every (group id, user id) membership, in group order.
    pub fn memberships(&self) -> Vec<(String, String)> {
        self.groups
            .iter()
            .flat_map(|g| g.members.iter().map(move |u| (g.id.clone(), u.clone())))
            .collect()
    }
}

impl OrgTruth {
    pub fn of(org: &Org) -> OrgTruth {
        OrgTruth {
            name: org.name.clone(),
            verified_domains: org.verified_domains.clone(),
            workspaces: (0..org.workspaces.len())
                .filter_map(|w| GroundTruth::of(org, w))
                .collect(),
        }
    }
}
