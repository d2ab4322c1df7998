//! The pure reference model of a workspace for the provisioning suite: who is in it with which
//! role, who was removed (and may come back with the same id), who belongs to which group. Each
//! operation, through the connector or straight through SCIM, is a transition of this model
//! that also says what an honest connector reports for it. No I/O here: the session applies
//! the same operation to the target and compares.

use std::collections::BTreeSet;

use crate::connector::Provision;
use crate::truth::Truth;

pub const OWNER: &str = "owner";
pub const ADMIN: &str = "membership_admin";
pub const MEMBER: &str = "member";
pub const RESTRICTED: &str = "restricted_member";
/// The roles the suite grants. Never `owner`: changing an owner's role (or making owners) can
/// revoke the token in use, and a real tenant's owners are not the suite's to make.
pub const ASSIGNABLE: [&str; 3] = [ADMIN, MEMBER, RESTRICTED];
pub const ALL_ROLES: [&str; 4] = [OWNER, ADMIN, MEMBER, RESTRICTED];

/// A user id that never existed anywhere (the Go connector's reference used the same).
pub const GHOST_ID: &str = "00000000-0000-4000-8000-000000000000";

/// One person the model knows: a member, a removed member, an account the suite may create, or
/// the ghost (an id that never existed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// `None` until the account exists (an email the suite has not created yet).
    pub id: Option<String>,
    /// `None` for the ghost.
    pub email: Option<String>,
    pub first_name: String,
    pub last_name: String,
    /// The effective role (a record without the role extension reads as `member`).
    pub role: String,
    /// In the workspace now.
    pub present: bool,
    /// Made by the suite: on a real tenant the only accounts it may touch.
    pub ours: bool,
    /// An inactive record: left alone, since whether a change reactivates or removes it is
    /// unknown.
    pub frozen: bool,
}

impl User {
    /// Email and a short id, for messages.
    pub fn label(&self) -> String {
        match (&self.email, &self.id) {
            (Some(e), Some(id)) => format!("{e} ({id})"),
            (Some(e), None) => format!("{e} (not created yet)"),
            (None, Some(id)) => format!("user {id}"),
            (None, None) => "an unknown user".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub id: String,
    pub name: String,
    /// User ids.
    pub members: BTreeSet<String>,
}

/// The workspace as the suite believes it to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Model {
    pub users: Vec<User>,
    pub groups: Vec<Group>,
    /// The role a creation without a role gets (the emulation's default; Notion's best guess).
    pub default_role: String,
    /// Only the suite's own accounts may be touched or compared (a real tenant).
    pub only_ours: bool,
}

/// A concrete operation on the model's users (by index) and groups (by index).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Create {
        user: usize,
    },
    Delete {
        user: usize,
    },
    GrantRole {
        user: usize,
        role: &'static str,
    },
    RevokeRole {
        user: usize,
        role: &'static str,
    },
    GrantGroup {
        user: usize,
        group: usize,
    },
    RevokeGroup {
        user: usize,
        group: usize,
    },
    /// Behind the connector's back, through SCIM.
    ScimSetRole {
        user: usize,
        role: &'static str,
    },
    ScimRemove {
        user: usize,
    },
    ScimAddMember {
        user: usize,
        group: usize,
    },
    ScimRemoveMember {
        user: usize,
        group: usize,
    },
}

impl Op {
    pub fn through_connector(&self) -> bool {
        !matches!(
            self,
            Op::ScimSetRole { .. } | Op::ScimRemove { .. } | Op::ScimAddMember { .. } | Op::ScimRemoveMember { .. }
        )
    }
}

/// What an operation must do, and what the connector may honestly say about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expect {
    /// The target changes: the run must exit 0.
    pub change: bool,
    /// The result labels an honest connector may print. For a no-op, an empty list means only
    /// a failure (or silence) is honest.
    pub labels: &'static [&'static str],
    /// Why, in words, for messages.
    pub why: String,
}

impl Expect {
    fn change(labels: &'static [&'static str], why: String) -> Expect {
        Expect {
            change: true,
            labels,
            why,
        }
    }

    fn no_op(labels: &'static [&'static str], why: String) -> Expect {
        Expect {
            change: false,
            labels,
            why,
        }
    }
}

impl Model {
    /// The workspace as its truth shows it; none of its users is the suite's.
    pub fn from_truth(truth: &Truth, only_ours: bool) -> Model {
        let users = truth
            .users
            .iter()
            .map(|u| {
                let (first, last) = match (&u.given_name, &u.family_name) {
                    (Some(g), Some(f)) => (g.clone(), f.clone()),
                    _ => ("Conformance".to_string(), "Readded".to_string()),
                };
                User {
                    id: Some(u.id.clone()),
                    email: Some(u.user_name.to_lowercase()),
                    first_name: first,
                    last_name: last,
                    role: u.effective_role().to_string(),
                    present: true,
                    ours: false,
                    frozen: !u.active,
                }
            })
            .collect();
        let groups = truth
            .groups
            .iter()
            .map(|g| Group {
                id: g.id.clone(),
                name: g.display_name.clone(),
                members: g.members.iter().cloned().collect(),
            })
            .collect();
        Model {
            users,
            groups,
            default_role: MEMBER.to_string(),
            only_ours,
        }
    }

    /// An account the suite may create; `existing`: its id when a removed account with this
    /// email is known. Returns its index.
    pub fn add_own(&mut self, email: &str, first: &str, last: &str, existing: Option<String>) -> usize {
        self.users.push(User {
            id: existing,
            email: Some(email.to_lowercase()),
            first_name: first.to_string(),
            last_name: last.to_string(),
            role: self.default_role.clone(),
            present: false,
            ours: true,
            frozen: false,
        });
        self.users.len() - 1
    }

    /// The id that never existed, as a removed user nobody can re-add.
    pub fn add_ghost(&mut self) -> usize {
        self.users.push(User {
            id: Some(GHOST_ID.to_string()),
            email: None,
            first_name: String::new(),
            last_name: String::new(),
            role: MEMBER.to_string(),
            present: false,
            ours: true,
            frozen: false,
        });
        self.users.len() - 1
    }

    /// Whether the suite may act on this user: never an owner (nor an unknown role, nor an
    /// inactive record), and on a real tenant only its own accounts.
    pub(super) fn touchable(&self, u: &User) -> bool {
        (!self.only_ours || u.ours) && !u.frozen && ASSIGNABLE.contains(&u.role.as_str())
    }

    fn considered(&self, u: &User) -> bool {
        !self.only_ours || u.ours
    }

    pub(super) fn is_member(&self, user: usize, group: usize) -> bool {
        match (self.users.get(user).and_then(|u| u.id.as_ref()), self.groups.get(group)) {
            (Some(id), Some(g)) => g.members.contains(id),
            _ => false,
        }
    }

    fn user(&self, i: usize) -> Option<&User> {
        self.users.get(i)
    }

    fn group_name(&self, g: usize) -> String {
        self.groups
            .get(g)
            .map(|g| format!("{:?} ({})", g.name, g.id))
            .unwrap_or_else(|| format!("group #{g}"))
    }

    fn user_label(&self, i: usize) -> String {
        self.user(i).map(User::label).unwrap_or_else(|| format!("user #{i}"))
    }

    /// The operation in words, with the ids it uses.
    pub fn describe(&self, op: &Op) -> String {
        match *op {
            Op::Create { user } => format!("create an account for {}", self.user_label(user)),
            Op::Delete { user } => format!("delete {}", self.user_label(user)),
            Op::GrantRole { user, role } => format!("grant role {role} to {}", self.user_label(user)),
            Op::RevokeRole { user, role } => format!("revoke role {role} from {}", self.user_label(user)),
            Op::GrantGroup { user, group } => {
                format!(
                    "grant membership of {} to {}",
                    self.group_name(group),
                    self.user_label(user)
                )
            }
            Op::RevokeGroup { user, group } => {
                format!(
                    "revoke membership of {} from {}",
                    self.group_name(group),
                    self.user_label(user)
                )
            }
            Op::ScimSetRole { user, role } => {
                format!(
                    "through SCIM, behind the connector's back: set the role of {} to {role}",
                    self.user_label(user)
                )
            }
            Op::ScimRemove { user } => {
                format!(
                    "through SCIM, behind the connector's back: remove {}",
                    self.user_label(user)
                )
            }
            Op::ScimAddMember { user, group } => format!(
                "through SCIM, behind the connector's back: add {} to {}",
                self.user_label(user),
                self.group_name(group)
            ),
            Op::ScimRemoveMember { user, group } => format!(
                "through SCIM, behind the connector's back: remove {} from {}",
                self.user_label(user),
                self.group_name(group)
            ),
        }
    }

    /// The connector request for a connector operation; `None` for SCIM operations and for
    /// users or groups the model cannot name.
    pub fn provision(&self, op: &Op) -> Option<Provision> {
        let id = |user: usize| self.user(user).and_then(|u| u.id.clone());
        let gid = |group: usize| self.groups.get(group).map(|g| g.id.clone());
        Some(match *op {
            Op::Create { user } => {
                let u = self.user(user)?;
                Provision::CreateAccount {
                    first_name: u.first_name.clone(),
                    last_name: u.last_name.clone(),
                    email: u.email.clone()?,
                }
            }
            Op::Delete { user } => Provision::DeleteUser { user_id: id(user)? },
            Op::GrantRole { user, role } => Provision::Grant {
                entitlement_id: format!("role:{role}:assigned"),
                user_id: id(user)?,
            },
            Op::RevokeRole { user, role } => Provision::Revoke {
                grant_id: format!("role:{role}:assigned:user:{}", id(user)?),
            },
            Op::GrantGroup { user, group } => Provision::Grant {
                entitlement_id: format!("group:{}:member", gid(group)?),
                user_id: id(user)?,
            },
            Op::RevokeGroup { user, group } => Provision::Revoke {
                grant_id: format!("group:{}:member:user:{}", gid(group)?, id(user)?),
            },
            _ => return None,
        })
    }

    fn leave_groups(&mut self, user: usize) {
        if let Some(id) = self.users.get(user).and_then(|u| u.id.clone()) {
            for g in &mut self.groups {
                g.members.remove(&id);
            }
        }
    }

    fn set_membership(&mut self, user: usize, group: usize, member: bool) {
        if let (Some(id), Some(g)) = (
            self.users.get(user).and_then(|u| u.id.clone()),
            self.groups.get_mut(group),
        ) {
            if member {
                g.members.insert(id);
            } else {
                g.members.remove(&id);
            }
        }
    }

    /// Applies `op` and says what the target must do and what may be reported.
    pub fn apply(&mut self, op: &Op) -> Expect {
        let label = self.user_label(op_user(op));
        let default_role = self.default_role.clone();
        let Some(u) = self.users.get_mut(op_user(op)) else {
            return Expect::no_op(&[], format!("{label} is not known"));
        };
        match *op {
            Op::Create { .. } if u.present => {
                Expect::no_op(&["already_exists"], format!("{label} is already a member"))
            }
            Op::Create { .. } => {
                u.present = true;
                u.role = default_role;
                match u.id {
                    None => Expect::change(&["created"], format!("{label} is a new account")),
                    Some(_) => Expect::change(
                        &["created", "reused_existing_account"],
                        format!("{label} was removed: adding the email again brings back the same account and id"),
                    ),
                }
            }
            Op::Delete { user } => {
                if !u.present {
                    return Expect::no_op(&["already_deleted"], format!("{label} is not in the workspace"));
                }
                u.present = false;
                self.leave_groups(user);
                Expect::change(
                    &["deleted"],
                    format!("{label} is removed from the workspace and its groups"),
                )
            }
            Op::GrantRole { role, .. } => {
                if !u.present {
                    Expect::no_op(&[], format!("{label} is not in the workspace: no role can be granted"))
                } else if u.role == role {
                    Expect::no_op(&["already_granted"], format!("{label} already has the role {role}"))
                } else {
                    let why = format!("{label}'s role changes from {} to {role} (a user has one role)", u.role);
                    u.role = role.to_string();
                    Expect::change(&["granted"], why)
                }
            }
            Op::RevokeRole { role, .. } => {
                if !u.present {
                    Expect::no_op(&["already_revoked"], format!("{label} is not in the workspace"))
                } else if u.role != role {
                    Expect::no_op(
                        &["already_revoked"],
                        format!("{label} holds {} rather than {role}", u.role),
                    )
                } else if role == RESTRICTED {
                    Expect::no_op(
                        &[],
                        format!(
                            "{label} keeps {RESTRICTED}: it is where revoked roles go and cannot itself be revoked"
                        ),
                    )
                } else {
                    u.role = RESTRICTED.to_string();
                    Expect::change(&["revoked"], format!("{label} moves from {role} to {RESTRICTED}"))
                }
            }
            Op::GrantGroup { user, group } => {
                let present = u.present;
                let g = self.group_name(group);
                if !present {
                    Expect::no_op(&[], format!("{label} is not in the workspace: it cannot join {g}"))
                } else if self.is_member(user, group) {
                    Expect::no_op(&["already_granted"], format!("{label} is already a member of {g}"))
                } else {
                    self.set_membership(user, group, true);
                    Expect::change(&["granted"], format!("{label} joins {g}"))
                }
            }
            Op::RevokeGroup { user, group } => {
                let g = self.group_name(group);
                if !self.is_member(user, group) {
                    Expect::no_op(&["already_revoked"], format!("{label} is not a member of {g}"))
                } else {
                    self.set_membership(user, group, false);
                    Expect::change(&["revoked"], format!("{label} leaves {g}"))
                }
            }
            Op::ScimSetRole { role, .. } => {
                u.role = role.to_string();
                Expect::change(&[], format!("{label} now has the role {role}"))
            }
            Op::ScimRemove { user } => {
                u.present = false;
                self.leave_groups(user);
                Expect::change(&[], format!("{label} is removed"))
            }
            Op::ScimAddMember { user, group } => {
                self.set_membership(user, group, true);
                Expect::change(&[], format!("{label} joins {}", self.group_name(group)))
            }
            Op::ScimRemoveMember { user, group } => {
                self.set_membership(user, group, false);
                Expect::change(&[], format!("{label} leaves {}", self.group_name(group)))
            }
        }
    }

    /// Learns the ids of accounts created since the last look (by email).
    pub fn adopt_ids(&mut self, truth: &Truth) {
        for u in &mut self.users {
            if u.present && u.id.is_none() {
                if let Some(t) = u.email.as_deref().and_then(|e| truth.user_by_email(e)) {
                    u.id = Some(t.id.clone());
                }
            }
        }
    }

    /// Every way the target's truth differs from the model; empty when they agree.
    pub fn diff(&self, truth: &Truth) -> Vec<String> {
        let mut out = Vec::new();
        let mut known = BTreeSet::new();
        for u in self.users.iter().filter(|u| self.considered(u)) {
            let label = u.label();
            let by_email = u.email.as_deref().and_then(|e| truth.user_by_email(e));
            let Some(id) = &u.id else {
                match (u.present, by_email) {
                    (true, _) => out.push(format!(
                        "{label}: should have been created, but no member has this email"
                    )),
                    (false, Some(t)) => out.push(format!(
                        "{label}: the model says it was never created, but member {} has this email",
                        t.id
                    )),
                    (false, None) => {}
                }
                continue;
            };
            known.insert(id.clone());
            match (u.present, truth.user(id)) {
                (true, Some(t)) if t.effective_role() != u.role => out.push(format!(
                    "{label}: role is {} but should be {}",
                    t.effective_role(),
                    u.role
                )),
                (true, Some(_)) => {}
                (true, None) => match by_email {
                    Some(t) => {
                        known.insert(t.id.clone());
                        out.push(format!(
                            "{label}: back in the workspace under a new id {}; re-adding a removed account must bring back id {id}",
                            t.id
                        ));
                    }
                    None => out.push(format!(
                        "{label}: missing from the workspace; it should be there with the role {}",
                        u.role
                    )),
                },
                (false, Some(t)) => out.push(format!(
                    "{label}: still in the workspace (role {}) but should be gone",
                    t.effective_role()
                )),
                (false, None) => {}
            }
        }
        if !self.only_ours {
            for t in truth.users.iter().filter(|t| !known.contains(&t.id)) {
                out.push(format!(
                    "unexpected member {} ({}) with role {}",
                    t.user_name,
                    t.id,
                    t.effective_role()
                ));
            }
            for g in truth
                .groups
                .iter()
                .filter(|g| !self.groups.iter().any(|m| m.id == g.id))
            {
                out.push(format!("unexpected group {:?} ({})", g.display_name, g.id));
            }
        }
        let ours: BTreeSet<&String> = self
            .users
            .iter()
            .filter(|u| u.ours)
            .filter_map(|u| u.id.as_ref())
            .collect();
        let name_of = |id: &str| {
            self.users
                .iter()
                .find(|u| u.id.as_deref() == Some(id))
                .map(User::label)
                .unwrap_or_else(|| format!("user {id}"))
        };
        for g in &self.groups {
            let Some(t) = truth.group(&g.id) else {
                out.push(format!("group {:?} ({}) is missing", g.name, g.id));
                continue;
            };
            let keep = |id: &&String| !self.only_ours || ours.contains(id);
            let actual: BTreeSet<&String> = t.members.iter().filter(keep).collect();
            let expected: BTreeSet<&String> = g.members.iter().filter(keep).collect();
            for id in expected.difference(&actual) {
                out.push(format!(
                    "{} should be a member of group {:?} but is not",
                    name_of(id),
                    g.name
                ));
            }
            for id in actual.difference(&expected) {
                out.push(format!(
                    "{} is a member of group {:?} but should not be",
                    name_of(id),
                    g.name
                ));
            }
        }
        out
    }
}

pub(super) fn op_user(op: &Op) -> usize {
    match *op {
        Op::Create { user }
        | Op::Delete { user }
        | Op::GrantRole { user, .. }
        | Op::RevokeRole { user, .. }
        | Op::GrantGroup { user, .. }
        | Op::RevokeGroup { user, .. }
        | Op::ScimSetRole { user, .. }
        | Op::ScimRemove { user }
        | Op::ScimAddMember { user, .. }
        | Op::ScimRemoveMember { user, .. } => user,
    }
}

/// The `outcomes` case's fixed sequence on one account the suite creates (`user`, not a
/// member yet) and, when the target has one, a group: every result label once.
pub fn outcomes_script(user: usize, group: Option<usize>) -> Vec<Op> {
    let mut script = vec![
        Op::Create { user },
        Op::Create { user },
        Op::GrantRole { user, role: ADMIN },
        Op::GrantRole { user, role: ADMIN },
        Op::RevokeRole { user, role: ADMIN },
        Op::RevokeRole { user, role: ADMIN },
    ];
    if let Some(group) = group {
        script.extend([
            Op::GrantGroup { user, group },
            Op::GrantGroup { user, group },
            Op::RevokeGroup { user, group },
            Op::RevokeGroup { user, group },
        ]);
    }
    script.extend([
        Op::Delete { user },
        Op::Delete { user },
        Op::Create { user },
        Op::Delete { user },
    ]);
    script
}

#[cfg(test)]
mod tests;
