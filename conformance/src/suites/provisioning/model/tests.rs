use super::*;
use crate::suites::provisioning::pick::Kind;
use crate::truth::{TruthGroup, TruthUser};
use proptest::prelude::*;

fn truth_user(id: &str, role: &str) -> TruthUser {
    TruthUser {
        id: id.into(),
        user_name: format!("{id}@example.com"),
        given_name: Some(id.to_uppercase()),
        family_name: Some("Test".into()),
        role: Some(role.into()),
        active: true,
        ..TruthUser::default()
    }
}

/// o: owner, a: member in g1, b: membership_admin, c: restricted_member; g2 empty.
fn toy() -> Model {
    let truth = Truth {
        users: vec![
            truth_user("o", OWNER),
            truth_user("a", MEMBER),
            truth_user("b", ADMIN),
            truth_user("c", RESTRICTED),
        ],
        groups: vec![
            TruthGroup {
                id: "g1".into(),
                display_name: "One".into(),
                members: vec!["a".into()],
            },
            TruthGroup {
                id: "g2".into(),
                display_name: "Two".into(),
                members: vec![],
            },
        ],
    };
    Model::from_truth(&truth, false)
}

/// The truth a target in the model's state shows.
fn truth_of(m: &Model) -> Truth {
    Truth {
        users: m
            .users
            .iter()
            .filter(|u| u.present)
            .map(|u| TruthUser {
                id: u.id.clone().unwrap_or_default(),
                user_name: u.email.clone().unwrap_or_default(),
                role: Some(u.role.clone()),
                active: true,
                ..TruthUser::default()
            })
            .collect(),
        groups: m
            .groups
            .iter()
            .map(|g| TruthGroup {
                id: g.id.clone(),
                display_name: g.name.clone(),
                members: g.members.iter().cloned().collect(),
            })
            .collect(),
    }
}

const A: usize = 1;
const B: usize = 2;
const C: usize = 3;

#[test]
fn creation_then_again_then_readd_after_removal() {
    let mut m = toy();
    let new = m.add_own("New@Example.com", "New", "Person", None);
    let e = m.apply(&Op::Create { user: new });
    assert!(e.change);
    assert_eq!(e.labels, ["created"]);
    assert!(m.users[new].present);
    assert_eq!(m.users[new].role, MEMBER);
    assert_eq!(m.users[new].email.as_deref(), Some("new@example.com"));

    let e = m.apply(&Op::Create { user: new });
    assert!(!e.change);
    assert_eq!(e.labels, ["already_exists"]);

    // Once the id is known and the account removed, creating it again brings it back.
    m.users[new].id = Some("n".into());
    assert_eq!(m.apply(&Op::Delete { user: new }).labels, ["deleted"]);
    let e = m.apply(&Op::Create { user: new });
    assert!(e.change);
    assert_eq!(e.labels, ["created", "reused_existing_account"]);
    assert_eq!(m.users[new].id.as_deref(), Some("n"));
}

#[test]
fn a_readded_member_comes_back_with_the_default_role_and_no_groups() {
    let mut m = toy();
    m.apply(&Op::GrantRole { user: A, role: ADMIN });
    m.apply(&Op::Delete { user: A });
    assert!(!m.users[A].present);
    assert!(m.groups[0].members.is_empty());
    m.apply(&Op::Create { user: A });
    assert_eq!(m.users[A].role, MEMBER);
    assert!(m.groups[0].members.is_empty());
}

#[test]
fn deleting_twice_and_ids_that_never_existed() {
    let mut m = toy();
    let ghost = m.add_ghost();
    let e = m.apply(&Op::Delete { user: A });
    assert!(e.change);
    assert_eq!(e.labels, ["deleted"]);
    let e = m.apply(&Op::Delete { user: A });
    assert!(!e.change);
    assert_eq!(e.labels, ["already_deleted"]);
    let before = m.clone();
    assert_eq!(m.apply(&Op::Delete { user: ghost }).labels, ["already_deleted"]);
    assert_eq!(
        m.apply(&Op::RevokeRole {
            user: ghost,
            role: MEMBER
        })
        .labels,
        ["already_revoked"]
    );
    assert_eq!(
        m.apply(&Op::RevokeGroup { user: ghost, group: 0 }).labels,
        ["already_revoked"]
    );
    // Nothing is honestly "granted" or "already granted" to someone who is not there.
    let e = m.apply(&Op::GrantRole {
        user: ghost,
        role: ADMIN,
    });
    assert!(!e.change && e.labels.is_empty());
    let e = m.apply(&Op::GrantGroup { user: A, group: 1 });
    assert!(!e.change && e.labels.is_empty());
    assert_eq!(m.users[..A + 1], before.users[..A + 1]);
    assert_eq!(m.groups, before.groups);
}

#[test]
fn granting_a_role_replaces_the_previous_one() {
    let mut m = toy();
    let e = m.apply(&Op::GrantRole { user: A, role: ADMIN });
    assert!(e.change);
    assert_eq!(e.labels, ["granted"]);
    assert_eq!(m.users[A].role, ADMIN);
    let e = m.apply(&Op::GrantRole { user: A, role: ADMIN });
    assert!(!e.change);
    assert_eq!(e.labels, ["already_granted"]);
    m.apply(&Op::GrantRole {
        user: A,
        role: RESTRICTED,
    });
    assert_eq!(m.users[A].role, RESTRICTED);
}

#[test]
fn revoking_a_role_moves_to_restricted_member() {
    let mut m = toy();
    let e = m.apply(&Op::RevokeRole { user: B, role: ADMIN });
    assert!(e.change);
    assert_eq!(e.labels, ["revoked"]);
    assert_eq!(m.users[B].role, RESTRICTED);
    let e = m.apply(&Op::RevokeRole { user: B, role: ADMIN });
    assert!(!e.change);
    assert_eq!(e.labels, ["already_revoked"]);
    // restricted_member cannot go anywhere: no honest success label.
    let e = m.apply(&Op::RevokeRole {
        user: C,
        role: RESTRICTED,
    });
    assert!(!e.change && e.labels.is_empty());
    assert_eq!(m.users[C].role, RESTRICTED);
}

#[test]
fn group_membership_grants_and_revokes() {
    let mut m = toy();
    assert_eq!(
        m.apply(&Op::GrantGroup { user: A, group: 0 }).labels,
        ["already_granted"]
    );
    let e = m.apply(&Op::GrantGroup { user: B, group: 0 });
    assert!(e.change);
    assert!(m.groups[0].members.contains("b"));
    assert_eq!(m.apply(&Op::RevokeGroup { user: B, group: 0 }).labels, ["revoked"]);
    assert!(!m.groups[0].members.contains("b"));
    assert_eq!(
        m.apply(&Op::RevokeGroup { user: B, group: 0 }).labels,
        ["already_revoked"]
    );
}

#[test]
fn changes_behind_the_back() {
    let mut m = toy();
    m.apply(&Op::ScimSetRole { user: A, role: ADMIN });
    assert_eq!(m.users[A].role, ADMIN);
    m.apply(&Op::ScimAddMember { user: C, group: 1 });
    assert!(m.groups[1].members.contains("c"));
    m.apply(&Op::ScimRemoveMember { user: C, group: 1 });
    assert!(m.groups[1].members.is_empty());
    m.apply(&Op::ScimRemove { user: A });
    assert!(!m.users[A].present && m.groups[0].members.is_empty());
    // The connector, afterwards, finds the state as SCIM left it.
    assert_eq!(m.apply(&Op::Delete { user: A }).labels, ["already_deleted"]);
}

#[test]
fn options_never_touch_owners_inactive_records_and_on_a_real_tenant_only_own_accounts() {
    let mut m = toy();
    m.add_own("x@example.com", "X", "Y", None);
    m.add_ghost();
    let mut inactive = truth_user("i", MEMBER);
    inactive.active = false;
    let frozen = Model::from_truth(
        &Truth {
            users: vec![inactive],
            groups: vec![],
        },
        false,
    )
    .users;
    assert!(frozen[0].frozen);
    m.users.extend(frozen);
    let kinds = [
        Kind::Create,
        Kind::Readd,
        Kind::CreateExisting,
        Kind::Delete,
        Kind::DeleteGone,
        Kind::GrantRole,
        Kind::RevokeHeldRole,
        Kind::RevokeRoleNotHeld,
        Kind::GrantGroup,
        Kind::RevokeGroup,
        Kind::RevokeGroupNotMember,
        Kind::GrantToGone,
        Kind::ScimSetRole,
        Kind::ScimRemove,
        Kind::ScimAddMember,
        Kind::ScimRemoveMember,
    ];
    for kind in kinds {
        for op in m.options(kind) {
            assert_ne!(op_user(&op), 0, "{kind:?} picked the owner: {op:?}");
            assert_ne!(op_user(&op), 6, "{kind:?} picked an inactive record: {op:?}");
        }
    }
    assert_eq!(m.options(Kind::Create), vec![Op::Create { user: 4 }]);
    assert!(m.options(Kind::DeleteGone).contains(&Op::Delete { user: 5 }));

    m.only_ours = true;
    for kind in kinds {
        for op in m.options(kind) {
            assert!(
                m.users[op_user(&op)].ours,
                "{kind:?} picked someone else's account: {op:?}"
            );
        }
    }
}

#[test]
fn diff_is_empty_when_the_target_agrees_and_names_each_difference() {
    let mut m = toy();
    let new = m.add_own("n@example.com", "N", "P", None);
    m.apply(&Op::Create { user: new });
    let mut truth = truth_of(&m);
    truth.users.last_mut().unwrap().id = "n".into();
    m.adopt_ids(&truth);
    assert_eq!(m.users[new].id.as_deref(), Some("n"));
    assert!(m.diff(&truth).is_empty(), "{:?}", m.diff(&truth));

    let mut wrong = truth.clone();
    wrong.users[1].role = Some(ADMIN.into());
    wrong.groups[1].members.push("c".into());
    wrong.users.push(truth_user("z", MEMBER));
    let d = m.diff(&wrong).join("\n");
    assert!(d.contains("role is membership_admin but should be member"), "{d}");
    assert!(d.contains("is a member of group \"Two\" but should not be"), "{d}");
    assert!(d.contains("unexpected member z@example.com"), "{d}");

    // Re-added under another id.
    m.apply(&Op::Delete { user: new });
    m.apply(&Op::Create { user: new });
    let mut readded = truth.clone();
    readded.users.last_mut().unwrap().id = "other".into();
    let d = m.diff(&readded).join("\n");
    assert!(d.contains("under a new id other"), "{d}");
    assert!(!d.contains("unexpected member"), "{d}");

    // Only the suite's own accounts count on a real tenant.
    m.only_ours = true;
    assert!(m
        .diff(&wrong)
        .iter()
        .all(|l| !l.contains("z@example.com") && !l.contains("role is")));
}

#[test]
fn the_outcomes_script_meets_every_label() {
    let mut m = toy();
    let a = m.add_own("o@example.com", "O", "C", None);
    let script = outcomes_script(a, Some(1));
    let mut seen = Vec::new();
    for op in &script {
        let e = m.apply(op);
        seen.push(e.labels.first().copied().unwrap_or("-"));
        if m.users[a].present && m.users[a].id.is_none() {
            m.users[a].id = Some("oid".into());
        }
    }
    assert_eq!(
        seen,
        [
            "created",
            "already_exists",
            "granted",
            "already_granted",
            "revoked",
            "already_revoked",
            "granted",
            "already_granted",
            "revoked",
            "already_revoked",
            "deleted",
            "already_deleted",
            "created",
            "deleted"
        ]
    );
    assert_eq!(outcomes_script(a, None).len(), script.len() - 4);
}

fn kinds() -> impl Strategy<Value = Kind> {
    proptest::sample::select(vec![
        Kind::Create,
        Kind::Readd,
        Kind::CreateExisting,
        Kind::Delete,
        Kind::DeleteGone,
        Kind::GrantRole,
        Kind::RevokeHeldRole,
        Kind::RevokeRoleNotHeld,
        Kind::GrantGroup,
        Kind::RevokeGroup,
        Kind::RevokeGroupNotMember,
        Kind::GrantToGone,
        Kind::ScimSetRole,
        Kind::ScimRemove,
        Kind::ScimAddMember,
        Kind::ScimRemoveMember,
    ])
}

proptest! {
    /// Whatever the sequence: one role each, owners untouched, only members in groups, a
    /// no-op leaves the model as it was, and a model agrees with the truth it implies.
    #[test]
    fn invariants_hold_over_any_sequence(steps in proptest::collection::vec((kinds(), any::<proptest::sample::Index>()), 0..40)) {
        let mut m = toy();
        let own = m.add_own("p@example.com", "P", "Q", None);
        m.add_ghost();
        let owner = m.users[0].clone();
        for (kind, pick) in steps {
            let options = m.options(kind);
            if options.is_empty() {
                continue;
            }
            let op = *pick.get(&options);
            let before = m.clone();
            let e = m.apply(&op);
            if !e.change {
                prop_assert_eq!(&m, &before, "{:?} said no-op but changed the model", op);
            }
            if m.users[own].present && m.users[own].id.is_none() {
                m.users[own].id = Some("pid".into());
            }
            prop_assert_eq!(&m.users[0], &owner);
            for u in &m.users {
                prop_assert!(ALL_ROLES.contains(&u.role.as_str()));
            }
            for g in &m.groups {
                for id in &g.members {
                    prop_assert!(m.users.iter().any(|u| u.present && u.id.as_ref() == Some(id)), "{} in {} is not a member", id, g.name);
                }
            }
            prop_assert!(m.diff(&truth_of(&m)).is_empty(), "{:?}", m.diff(&truth_of(&m)));
        }
    }
}
