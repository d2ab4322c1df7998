//! How a sequence's abstract steps become operations: each kind of step lists the operations
//! the model's current state allows, and the step picks one, so a precondition holds whenever
//! a step runs, even in a shrunk sequence.

use super::model::{Model, Op, User, ALL_ROLES, ASSIGNABLE, MEMBER};

/// The kinds of step a sequence is made of; each picks one operation among those its state
/// allows (so a precondition always holds when the step runs, even after shrinking).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A new account.
    Create,
    /// A removed account added again.
    Readd,
    CreateExisting,
    Delete,
    DeleteGone,
    GrantRole,
    RevokeHeldRole,
    RevokeRoleNotHeld,
    GrantGroup,
    RevokeGroup,
    RevokeGroupNotMember,
    GrantToGone,
    ScimSetRole,
    ScimRemove,
    ScimAddMember,
    ScimRemoveMember,
}

impl Model {
    /// Every operation of this kind the current state allows.
    pub fn options(&self, kind: Kind) -> Vec<Op> {
        let idx = |f: &dyn Fn(&User) -> bool| -> Vec<usize> {
            (0..self.users.len())
                .filter(|&i| self.touchable(&self.users[i]) && f(&self.users[i]))
                .collect()
        };
        let present = idx(&|u| u.present);
        let gone = idx(&|u| !u.present && u.id.is_some());
        let groups = 0..self.groups.len();
        let mut out = Vec::new();
        match kind {
            Kind::Create => out.extend(
                idx(&|u| !u.present && u.id.is_none() && u.email.is_some())
                    .into_iter()
                    .map(|user| Op::Create { user }),
            ),
            Kind::Readd => out.extend(
                idx(&|u| !u.present && u.id.is_some() && u.email.is_some())
                    .into_iter()
                    .map(|user| Op::Create { user }),
            ),
            Kind::CreateExisting => out.extend(
                idx(&|u| u.present && u.email.is_some())
                    .into_iter()
                    .map(|user| Op::Create { user }),
            ),
            Kind::Delete => out.extend(present.iter().map(|&user| Op::Delete { user })),
            Kind::DeleteGone => out.extend(gone.iter().map(|&user| Op::Delete { user })),
            Kind::GrantRole => {
                for &user in &present {
                    out.extend(ASSIGNABLE.iter().map(|&role| Op::GrantRole { user, role }));
                }
            }
            Kind::RevokeHeldRole => {
                for &user in &present {
                    if let Some(role) = ALL_ROLES.iter().find(|r| **r == self.users[user].role) {
                        out.push(Op::RevokeRole { user, role });
                    }
                }
            }
            Kind::RevokeRoleNotHeld => {
                for &user in &present {
                    let held = self.users[user].role.as_str();
                    out.extend(
                        ALL_ROLES
                            .iter()
                            .filter(|r| **r != held)
                            .map(|&role| Op::RevokeRole { user, role }),
                    );
                }
                out.extend(gone.iter().map(|&user| Op::RevokeRole { user, role: MEMBER }));
            }
            Kind::GrantGroup => {
                for &user in &present {
                    out.extend(groups.clone().map(|group| Op::GrantGroup { user, group }));
                }
            }
            Kind::RevokeGroup | Kind::ScimRemoveMember => {
                for &user in &present {
                    for group in groups.clone().filter(|&g| self.is_member(user, g)) {
                        out.push(match kind {
                            Kind::RevokeGroup => Op::RevokeGroup { user, group },
                            _ => Op::ScimRemoveMember { user, group },
                        });
                    }
                }
            }
            Kind::RevokeGroupNotMember => {
                for &user in &present {
                    for group in groups.clone().filter(|&g| !self.is_member(user, g)) {
                        out.push(Op::RevokeGroup { user, group });
                    }
                }
                for &user in &gone {
                    out.extend(groups.clone().map(|group| Op::RevokeGroup { user, group }));
                }
            }
            Kind::GrantToGone => {
                for &user in &gone {
                    out.extend(ASSIGNABLE.iter().map(|&role| Op::GrantRole { user, role }));
                    out.extend(groups.clone().map(|group| Op::GrantGroup { user, group }));
                }
            }
            Kind::ScimSetRole => {
                for &user in &present {
                    let held = self.users[user].role.as_str();
                    out.extend(
                        ASSIGNABLE
                            .iter()
                            .filter(|r| **r != held)
                            .map(|&role| Op::ScimSetRole { user, role }),
                    );
                }
            }
            Kind::ScimRemove => out.extend(present.iter().map(|&user| Op::ScimRemove { user })),
            Kind::ScimAddMember => {
                for &user in &present {
                    for group in groups.clone().filter(|&g| !self.is_member(user, g)) {
                        out.push(Op::ScimAddMember { user, group });
                    }
                }
            }
        }
        out
    }
}
