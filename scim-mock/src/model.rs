//! The organisation the emulation serves: accounts, workspaces, members, guests, groups, tokens.
//!
//! A Notion account belongs to a person and outlives their membership of any workspace: the
//! account holds the profile (email, name, optional attributes), a membership holds the
//! workspace role and the record's state. Removing a member drops the membership and keeps the
//! account, which is why re-adding a person brings back their id.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use clap::ValueEnum;
use indexmap::{IndexMap, IndexSet};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A workspace role, carried in Notion's user extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum Role {
    Owner,
    MembershipAdmin,
    Member,
    RestrictedMember,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Owner, Role::MembershipAdmin, Role::Member, Role::RestrictedMember];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::MembershipAdmin => "membership_admin",
            Role::Member => "member",
            Role::RestrictedMember => "restricted_member",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role {s:?}: expected owner, membership_admin, member or restricted_member"))
    }
}

/// A person's name as Notion holds it. Any part may be missing: captures show users with only
/// `formatted`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonName {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formatted: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
}

impl PersonName {
    /// The name a person is shown by: `formatted`, else given and family joined.
    pub fn display(&self) -> Option<String> {
        if let Some(f) = &self.formatted {
            return Some(f.clone());
        }
        match (&self.given, &self.family) {
            (Some(g), Some(f)) => Some(format!("{g} {f}")),
            (Some(one), None) | (None, Some(one)) => Some(one.clone()),
            (None, None) => None,
        }
    }
}

/// A Notion account: one person, across workspaces.
#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    pub id: Uuid,
    /// Lower-cased; the SCIM `userName`.
    pub email: String,
    pub secondary_email: Option<String>,
    pub name: PersonName,
    pub photo: Option<String>,
    /// The optional writable attributes (`title`, `phoneNumbers`, `addresses`, `roles`,
    /// `locale`, `preferredLanguage`, `userType`, the enterprise extension), as JSON.
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

/// An account's membership of one workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// `None`: the record carries no Notion extension object (seen in captures).
    pub role: Option<Role>,
    /// Captures show inactive records in lists; deactivating through SCIM removes instead.
    pub active: bool,
    pub created_ms: u64,
    pub modified_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub display_name: String,
    /// User ids, in the order they were added.
    pub members: IndexSet<Uuid>,
    /// Pages for which this group is the only holder of full access: deleting the group is
    /// refused while this is above zero.
    pub sole_full_access_pages: u32,
    pub created_ms: u64,
    pub modified_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    pub id: Uuid,
    pub name: String,
    /// SCIM needs the Enterprise plan.
    pub enterprise: bool,
    /// Members by account id, in the order Notion would list them.
    pub members: IndexMap<Uuid, Member>,
    /// Guests' account ids: never visible through SCIM.
    pub guests: IndexSet<Uuid>,
    pub groups: IndexMap<Uuid, Group>,
}

/// A SCIM token: one workspace, made by one owner.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    /// A name that may be shown and logged (`tok_1`); the secret never is.
    pub id: String,
    pub secret: String,
    pub workspace: usize,
    pub creator: Uuid,
    pub revoked: bool,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("id", &self.id)
            .field("secret", &"[REDACTED]")
            .field("workspace", &self.workspace)
            .field("creator", &self.creator)
            .field("revoked", &self.revoked)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Org {
    pub name: String,
    /// Email domains the organisation has verified: name and email changes need one.
    pub verified_domains: Vec<String>,
    pub accounts: IndexMap<Uuid, Account>,
    /// Lower-cased primary email -> account id.
    pub by_email: HashMap<String, Uuid>,
    pub workspaces: Vec<Workspace>,
    pub tokens: Vec<Token>,
    /// Milliseconds since the epoch, advanced by one on every write so `meta` values differ.
    pub clock_ms: u64,
}

impl Org {
    pub fn new(name: impl Into<String>, verified_domains: Vec<String>) -> Self {
        Org {
            name: name.into(),
            verified_domains,
            accounts: IndexMap::new(),
            by_email: HashMap::new(),
            workspaces: Vec::new(),
            tokens: Vec::new(),
            clock_ms: 1_787_393_411_245,
        }
    }

    pub fn tick(&mut self) -> u64 {
        self.clock_ms += 1;
        self.clock_ms
    }

    /// Adds an account, keyed by its lower-cased email. The caller guarantees the email is new.
    pub fn insert_account(&mut self, account: Account) {
        self.by_email.insert(account.email.clone(), account.id);
        self.accounts.insert(account.id, account);
    }

    pub fn account_by_email(&self, email: &str) -> Option<&Account> {
        self.by_email
            .get(&email.to_lowercase())
            .and_then(|id| self.accounts.get(id))
    }

    /// Changes an account's primary email, keeping the index true.
    pub fn set_email(&mut self, id: Uuid, email: String) {
        if let Some(acc) = self.accounts.get_mut(&id) {
            self.by_email.remove(&acc.email);
            acc.email = email.clone();
            self.by_email.insert(email, id);
        }
    }

    pub fn token_by_secret(&self, secret: &str) -> Option<&Token> {
        self.tokens.iter().find(|t| t.secret == secret)
    }

    /// Ids of the live tokens a person created for a workspace.
    pub fn tokens_created_by(&self, workspace: usize, creator: Uuid) -> impl Iterator<Item = &Token> {
        self.tokens
            .iter()
            .filter(move |t| t.workspace == workspace && t.creator == creator && !t.revoked)
    }

    /// Revokes every token `creator` made for `workspace`. Notion does this when the owner who
    /// made a token leaves the workspace or has their role changed.
    pub fn revoke_tokens_of(&mut self, workspace: usize, creator: Uuid) -> usize {
        let mut n = 0;
        for t in &mut self.tokens {
            if t.workspace == workspace && t.creator == creator && !t.revoked {
                t.revoked = true;
                n += 1;
            }
        }
        n
    }

    /// Removes a membership: the account survives, its group memberships do not.
    pub fn remove_member(&mut self, workspace: usize, id: Uuid) -> bool {
        let now = self.tick();
        let Some(ws) = self.workspaces.get_mut(workspace) else {
            return false;
        };
        if ws.members.shift_remove(&id).is_none() {
            return false;
        }
        for g in ws.groups.values_mut() {
            if g.members.shift_remove(&id) {
                g.modified_ms = now;
            }
        }
        self.revoke_tokens_of(workspace, id);
        true
    }

    pub fn is_verified_email(&self, email: &str) -> bool {
        let domain = email
            .rsplit_once('@')
            .map(|(_, d)| d.to_lowercase())
            .unwrap_or_default();
        self.verified_domains.iter().any(|d| d.eq_ignore_ascii_case(&domain))
    }
}
