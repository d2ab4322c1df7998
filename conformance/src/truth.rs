//! The ground truth of one workspace, in the oracle's own types: parsed from the emulation's
//! `GET /__admin/truth` JSON (never from the emulation's Rust types), or read through SCIM from a
//! target that has no admin API. Expectations are derived from this, nothing else.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::scim::Scim;

/// One workspace as a correct sync must find it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Truth {
    pub users: Vec<TruthUser>,
    pub groups: Vec<TruthGroup>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TruthUser {
    pub id: String,
    pub user_name: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub formatted_name: Option<String>,
    #[serde(default)]
    pub given_name: Option<String>,
    #[serde(default)]
    pub family_name: Option<String>,
    /// `None`: the record carries no Notion role extension.
    #[serde(default)]
    pub role: Option<String>,
    pub active: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TruthGroup {
    pub id: String,
    pub display_name: String,
    /// User ids.
    pub members: Vec<String>,
}

/// The four workspace roles, as Notion names them in the role extension.
pub const ROLES: [&str; 4] = ["owner", "membership_admin", "member", "restricted_member"];

impl Truth {
    /// The first workspace of an `OrgTruth` JSON document (what `/__admin/truth` answers), or a
    /// bare workspace document.
    pub fn from_admin_json(value: &Value) -> anyhow::Result<Truth> {
        let workspace = match value.get("workspaces") {
            Some(Value::Array(ws)) => ws.first().context("the truth lists no workspace")?,
            Some(_) => bail!("`workspaces` in the truth is not an array"),
            None => value,
        };
        serde_json::from_value(workspace.clone()).context("the truth document does not have the expected shape")
    }

    /// Reads the workspace through SCIM, walking both lists with the oracle's own pager.
    pub async fn from_scim(scim: &Scim) -> anyhow::Result<Truth> {
        let users = scim.list_all("Users").await?;
        let groups = scim.list_all("Groups").await?;
        let mut truth = Truth::default();
        for u in &users {
            truth.users.push(user_from_scim(u)?);
        }
        for g in &groups {
            let id = str_field(g, "id")?;
            let members = match g.get("members") {
                Some(m) => member_ids(m),
                // A list entry without members: read the group itself.
                None => {
                    let full = scim.get(&format!("Groups/{id}")).await?;
                    member_ids(full.body.get("members").unwrap_or(&Value::Null))
                }
            };
            truth.groups.push(TruthGroup {
                id: id.to_string(),
                display_name: g
                    .get("displayName")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                members,
            });
        }
        Ok(truth)
    }

    pub fn user(&self, id: &str) -> Option<&TruthUser> {
        self.users.iter().find(|u| u.id == id)
    }

    pub fn group(&self, id: &str) -> Option<&TruthGroup> {
        self.groups.iter().find(|g| g.id == id)
    }

    pub fn user_by_email(&self, email: &str) -> Option<&TruthUser> {
        let email = email.to_lowercase();
        self.users.iter().find(|u| u.user_name.to_lowercase() == email)
    }

    /// Every (group id, user id) membership.
    pub fn memberships(&self) -> BTreeSet<(String, String)> {
        self.groups
            .iter()
            .flat_map(|g| g.members.iter().map(move |u| (g.id.clone(), u.clone())))
            .collect()
    }

    /// User id -> the role a client should report (`member` when the record shows none).
    pub fn effective_roles(&self) -> BTreeMap<String, String> {
        self.users
            .iter()
            .map(|u| (u.id.clone(), u.effective_role().to_string()))
            .collect()
    }
}

impl TruthUser {
    /// Clients read a record without the role extension as `member`.
    pub fn effective_role(&self) -> &str {
        self.role.as_deref().filter(|r| !r.is_empty()).unwrap_or("member")
    }
}

fn str_field<'a>(v: &'a Value, name: &str) -> anyhow::Result<&'a str> {
    v.get(name)
        .and_then(Value::as_str)
        .with_context(|| format!("a SCIM resource lacks a string `{name}`"))
}

fn member_ids(members: &Value) -> Vec<String> {
    members
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|m| m.get("value").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The notion role extension's URN.
pub const NOTION_USER_EXT: &str = "urn:ietf:params:scim:schemas:extension:notion:2.0:User";

/// A SCIM user resource as the truth records it.
pub fn user_from_scim(u: &Value) -> anyhow::Result<TruthUser> {
    let name = u.get("name");
    let name_part = |k: &str| name.and_then(|n| n.get(k)).and_then(Value::as_str).map(str::to_string);
    Ok(TruthUser {
        id: str_field(u, "id")?.to_string(),
        user_name: str_field(u, "userName")?.to_string(),
        display_name: u
            .get("displayName")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        formatted_name: name_part("formatted"),
        given_name: name_part("givenName"),
        family_name: name_part("familyName"),
        role: u
            .get(NOTION_USER_EXT)
            .and_then(|e| e.get("role"))
            .and_then(Value::as_str)
            .map(str::to_string),
        active: match u.get("active") {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
            _ => true,
        },
    })
}
