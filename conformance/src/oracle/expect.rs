//! What a correct sync of a workspace must hold, derived from the ground truth with this
//! module's own reading of baton-notion's resource model, and the field-by-field comparison
//! with what a connector wrote.
//!
//! The model (resource types `user`, `group`, `role`; entitlements `group:<gid>:member` and
//! `role:<r>:assigned`; grants `<entitlement>:user:<uid>`) is pinned where baton-notion's
//! published behaviour pins it. Fields a connector may choose freely (descriptions, extra
//! annotations, extra profile keys) are not judged, so that any correct connector passes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde_json::Value;

use super::data::{Dataset, ResourceRow};
use crate::truth::{Truth, TruthUser, ROLES};

/// The display name of each workspace role, in [`ROLES`] order.
const ROLE_NAMES: [&str; 4] = ["Owner", "Membership Admin", "Member", "Restricted Member"];

/// How many differences a report lists before it only counts.
const MAX_LISTED: usize = 25;

/// What a sync must hold: every id, and for each the pinned fields.
#[derive(Debug, Clone, Default)]
pub struct Expected {
    pub resources: BTreeMap<String, ExpectedResource>,
    pub entitlements: BTreeMap<String, ExpectedEntitlement>,
    /// Grant id -> (entitlement id, entitlement resource key, principal key).
    pub grants: BTreeMap<String, (String, String, String)>,
}

#[derive(Debug, Clone)]
pub struct ExpectedResource {
    /// Any of these display names is right (a user without `name.formatted` may be shown by
    /// its display name or not at all).
    pub display_names: Vec<String>,
    pub kind: ExpectedKind,
}

#[derive(Debug, Clone)]
pub enum ExpectedKind {
    User {
        login: String,
        status: &'static str,
        profile: BTreeMap<String, String>,
    },
    Group {
        profile: BTreeMap<String, String>,
    },
    Role,
}

#[derive(Debug, Clone)]
pub struct ExpectedEntitlement {
    pub resource: String,
    pub slug: &'static str,
    /// `None`: any non-empty display name.
    pub display_name: Option<String>,
}

/// Derives the expectation from a workspace's truth.
pub fn derive(truth: &Truth) -> Expected {
    let mut e = Expected::default();
    for u in &truth.users {
        e.resources.insert(format!("user:{}", u.id), expected_user(u));
        let role = u.effective_role();
        if ROLES.contains(&role) {
            let ent = format!("role:{role}:assigned");
            e.grants.insert(
                format!("{ent}:user:{}", u.id),
                (ent, format!("role:{role}"), format!("user:{}", u.id)),
            );
        }
    }
    for g in &truth.groups {
        let key = format!("group:{}", g.id);
        let profile = BTreeMap::from([
            ("group_id".to_string(), g.id.clone()),
            ("group_name".to_string(), g.display_name.clone()),
        ]);
        e.resources.insert(
            key.clone(),
            ExpectedResource {
                display_names: vec![g.display_name.clone()],
                kind: ExpectedKind::Group { profile },
            },
        );
        let ent = format!("group:{}:member", g.id);
        e.entitlements.insert(
            ent.clone(),
            ExpectedEntitlement {
                resource: key.clone(),
                slug: "member",
                display_name: Some(format!("{} Group member", g.display_name)),
            },
        );
        for m in &g.members {
            e.grants.insert(
                format!("{ent}:user:{m}"),
                (ent.clone(), key.clone(), format!("user:{m}")),
            );
        }
    }
    for (id, name) in ROLES.iter().zip(ROLE_NAMES) {
        let key = format!("role:{id}");
        e.resources.insert(
            key.clone(),
            ExpectedResource {
                display_names: vec![name.to_string()],
                kind: ExpectedKind::Role,
            },
        );
        e.entitlements.insert(
            format!("{key}:assigned"),
            ExpectedEntitlement {
                resource: key,
                slug: "assigned",
                display_name: None,
            },
        );
    }
    e
}

fn expected_user(u: &TruthUser) -> ExpectedResource {
    let display_names = match &u.formatted_name {
        Some(f) => vec![f.clone()],
        None => vec![String::new(), u.display_name.clone()],
    };
    let profile = BTreeMap::from([
        ("first_name".to_string(), u.given_name.clone().unwrap_or_default()),
        ("last_name".to_string(), u.family_name.clone().unwrap_or_default()),
        ("email".to_string(), u.user_name.clone()),
        ("workspace_role".to_string(), u.effective_role().to_string()),
    ]);
    ExpectedResource {
        display_names,
        kind: ExpectedKind::User {
            login: u.user_name.clone(),
            status: if u.active { "ENABLED" } else { "DISABLED" },
            profile,
        },
    }
}

/// The differences between what a sync must hold and what it holds, one line each; empty when
/// the file is right.
pub fn compare(expected: &Expected, actual: &Dataset) -> Vec<String> {
    let mut diffs = Vec::new();
    check_resource_types(actual, &mut diffs);
    for (key, want) in &expected.resources {
        match actual.resources.get(key) {
            None => diffs.push(format!("missing resource {key}")),
            Some(got) => check_resource(key, want, got, &mut diffs),
        }
    }
    for key in actual.resources.keys().filter(|k| !expected.resources.contains_key(*k)) {
        diffs.push(format!("unexpected resource {key}"));
    }
    for (id, want) in &expected.entitlements {
        let Some(got) = actual.entitlements.get(id) else {
            diffs.push(format!("missing entitlement {id}"));
            continue;
        };
        let mut field = |name: &str, w: &str, g: &str| {
            if w != g {
                diffs.push(format!("entitlement {id}: {name} is {g:?}, expected {w:?}"));
            }
        };
        field("resource", &want.resource, &got.resource);
        field("slug", want.slug, &got.slug);
        field("purpose", "ASSIGNMENT", &got.purpose);
        match &want.display_name {
            Some(d) => field("display_name", d, &got.display_name),
            None if got.display_name.is_empty() => diffs.push(format!("entitlement {id}: empty display_name")),
            None => {}
        }
        if !got.grantable_to.iter().any(|t| t == "user") {
            diffs.push(format!(
                "entitlement {id}: grantable_to is {:?}, expected it to include user",
                got.grantable_to
            ));
        }
    }
    for id in actual
        .entitlements
        .keys()
        .filter(|k| !expected.entitlements.contains_key(*k))
    {
        diffs.push(format!("unexpected entitlement {id}"));
    }
    for (id, (ent, ent_resource, principal)) in &expected.grants {
        let Some(got) = actual.grants.get(id) else {
            diffs.push(format!("missing grant {id}"));
            continue;
        };
        if &got.entitlement_id != ent {
            diffs.push(format!(
                "grant {id}: entitlement is {:?}, expected {ent:?}",
                got.entitlement_id
            ));
        }
        if &got.entitlement_resource != ent_resource {
            diffs.push(format!(
                "grant {id}: entitlement resource is {:?}, expected {ent_resource:?}",
                got.entitlement_resource
            ));
        }
        if &got.principal != principal {
            diffs.push(format!(
                "grant {id}: principal is {:?}, expected {principal:?}",
                got.principal
            ));
        }
    }
    for id in actual.grants.keys().filter(|k| !expected.grants.contains_key(*k)) {
        diffs.push(format!("unexpected grant {id}"));
    }
    diffs
}

fn check_resource_types(actual: &Dataset, diffs: &mut Vec<String>) {
    for (id, name, trait_name) in [
        ("user", "User", "USER"),
        ("group", "Group", "GROUP"),
        ("role", "Role", "ROLE"),
    ] {
        match actual.resource_types.get(id) {
            None => diffs.push(format!("missing resource type {id}")),
            Some(rt) => {
                if rt.display_name != name {
                    diffs.push(format!(
                        "resource type {id}: display_name is {:?}, expected {name:?}",
                        rt.display_name
                    ));
                }
                if !rt.traits.iter().any(|t| t == trait_name) {
                    diffs.push(format!(
                        "resource type {id}: traits are {:?}, expected {trait_name}",
                        rt.traits
                    ));
                }
            }
        }
    }
    for id in actual.resource_types.keys() {
        if !["user", "group", "role"].contains(&id.as_str()) {
            diffs.push(format!("unexpected resource type {id}"));
        }
    }
}

fn check_resource(key: &str, want: &ExpectedResource, got: &ResourceRow, diffs: &mut Vec<String>) {
    if !want.display_names.contains(&got.display_name) {
        diffs.push(format!(
            "resource {key}: display_name is {:?}, expected {:?}",
            got.display_name, want.display_names[0]
        ));
    }
    if let Some(parent) = &got.parent {
        diffs.push(format!("resource {key}: has parent {parent}, expected none"));
    }
    match &want.kind {
        ExpectedKind::User { login, status, profile } => {
            let Some(user) = &got.user else {
                diffs.push(format!("resource {key}: no UserTrait"));
                return;
            };
            if &user.login != login {
                diffs.push(format!("resource {key}: login is {:?}, expected {login:?}", user.login));
            }
            // baton-sdk has two places for it: the trait's status and the resource's own;
            // ConductorOne's connector marks a removed user only in the latter.
            let resource_status = got.status.as_deref();
            let status_ok = user.status == *status
                || (resource_status == Some(*status) && (user.status == "ENABLED" || user.status == "UNSPECIFIED"));
            if !status_ok {
                diffs.push(format!(
                    "resource {key}: status is {} (resource status {}), expected {status}",
                    user.status,
                    resource_status.unwrap_or("unset")
                ));
            }
            if !user.emails.iter().any(|(a, primary)| a == login && *primary) {
                diffs.push(format!(
                    "resource {key}: emails are {:?}, expected {login:?} as primary",
                    user.emails
                ));
            }
            // The profile may sit on the trait or on the resource (ConductorOne's connector
            // puts it on the resource); the trait's wins where both have a key.
            let mut merged = got.profile.clone();
            merged.extend(user.profile.clone());
            check_profile(key, profile, &merged, diffs);
        }
        ExpectedKind::Group { profile } => match &got.group {
            None => diffs.push(format!("resource {key}: no GroupTrait")),
            Some(g) => {
                let mut merged = got.profile.clone();
                merged.extend(g.profile.clone());
                check_profile(key, profile, &merged, diffs);
            }
        },
        ExpectedKind::Role => {
            if got.role.is_none() {
                diffs.push(format!("resource {key}: no RoleTrait"));
            }
        }
    }
}

fn check_profile(key: &str, want: &BTreeMap<String, String>, got: &BTreeMap<String, Value>, diffs: &mut Vec<String>) {
    for (k, w) in want {
        match got.get(k) {
            Some(Value::String(g)) if g == w => {}
            Some(g) => diffs.push(format!("resource {key}: profile {k} is {g}, expected {w:?}")),
            None => diffs.push(format!("resource {key}: profile lacks {k} (expected {w:?})")),
        }
    }
}

/// The differences as one message: a count, then the first [`MAX_LISTED`] lines.
pub fn render(diffs: &[String], actual: &Dataset, expected: &Expected) -> String {
    let mut out = format!(
        "{} difference(s): the file holds {}; expected {} resources, {} entitlements, {} grants",
        diffs.len(),
        actual.summary(),
        expected.resources.len(),
        expected.entitlements.len(),
        expected.grants.len()
    );
    for d in diffs.iter().take(MAX_LISTED) {
        let _ = write!(out, "\n  {d}");
    }
    if diffs.len() > MAX_LISTED {
        let _ = write!(out, "\n  ... and {} more", diffs.len() - MAX_LISTED);
    }
    out
}

// ---------------------------------------------------------------- a sync while the org changed

/// The users and groups present both before and after a sync that ran while the workspace
/// changed: if they never left in between, a correct file holds every one of them.
#[derive(Debug, Clone, Default)]
pub struct StableSet {
    /// What those users and groups must look like in the file: [`derive`] of the truth after
    /// the sync, kept to the stable users and groups, and to the memberships between them
    /// that held both before and after.
    pub expected: Expected,
    /// Grant ids between stable resources that the file may hold or not: a membership that
    /// held only before or only after, a role that changed.
    pub either_way: BTreeSet<String>,
    /// `<type>:<id>` of every user and group that existed before or after the sync, or was
    /// added during it: the only ones a file may hold.
    pub existed: BTreeSet<String>,
}

/// The stable set of a sync that ran between `before` and `after`; `appeared` holds the ids of
/// users and groups added during the sync (whether or not they were still there after).
pub fn stable_set(before: &Truth, after: &Truth, appeared: &BTreeSet<String>) -> StableSet {
    let users_before: BTreeSet<&str> = before.users.iter().map(|u| u.id.as_str()).collect();
    let groups_before: BTreeSet<&str> = before.groups.iter().map(|g| g.id.as_str()).collect();
    let memberships_before = before.memberships();
    let memberships_after = after.memberships();
    let roles_before = before.effective_roles();

    let mut stable = Truth::default();
    let mut either_way = BTreeSet::new();
    for u in after.users.iter().filter(|u| users_before.contains(u.id.as_str())) {
        if roles_before.get(&u.id).map(String::as_str) != Some(u.effective_role()) {
            for role in ROLES {
                either_way.insert(format!("role:{role}:assigned:user:{}", u.id));
            }
        }
        stable.users.push(u.clone());
    }
    let stable_users: BTreeSet<&str> = stable.users.iter().map(|u| u.id.as_str()).collect();
    for g in after.groups.iter().filter(|g| groups_before.contains(g.id.as_str())) {
        let mut group = g.clone();
        group.members.retain(|m| {
            let pair = (g.id.clone(), m.clone());
            stable_users.contains(m.as_str()) && memberships_before.contains(&pair)
        });
        stable.groups.push(group);
    }
    for (g, u) in memberships_before.symmetric_difference(&memberships_after) {
        either_way.insert(format!("group:{g}:member:user:{u}"));
    }
    let mut existed = BTreeSet::new();
    for t in [before, after] {
        existed.extend(t.users.iter().map(|u| format!("user:{}", u.id)));
        existed.extend(t.groups.iter().map(|g| format!("group:{}", g.id)));
    }
    for id in appeared {
        existed.insert(format!("user:{id}"));
        existed.insert(format!("group:{id}"));
    }
    let mut expected = derive(&stable);
    expected.grants.retain(|id, _| !either_way.contains(id));
    StableSet {
        expected,
        either_way,
        existed,
    }
}

/// What differs between a file written while the workspace changed and the rule for it:
/// every stable user and group present with its pinned fields, each membership that held
/// throughout present, nothing that never existed, and no grant or entitlement pointing at a
/// resource the file lacks. (Nothing twice is the decoder's check: a run holding an id twice
/// does not decode.) Empty when the file keeps the rule.
pub fn compare_under_change(set: &StableSet, actual: &Dataset) -> Vec<String> {
    let stable_key = |key: &str| set.expected.resources.contains_key(key);
    // The part of the file the stable set speaks for, judged field by field as `compare` does.
    let mut within = Dataset {
        resource_types: actual.resource_types.clone(),
        ..Dataset::default()
    };
    for (key, row) in actual.resources.iter().filter(|(k, _)| stable_key(k)) {
        within.resources.insert(key.clone(), row.clone());
    }
    for (id, row) in actual.entitlements.iter().filter(|(_, e)| stable_key(&e.resource)) {
        within.entitlements.insert(id.clone(), row.clone());
    }
    for (id, row) in actual.grants.iter().filter(|(id, g)| {
        stable_key(&g.entitlement_resource) && stable_key(&g.principal) && !set.either_way.contains(*id)
    }) {
        within.grants.insert(id.clone(), row.clone());
    }
    let mut diffs = compare(&set.expected, &within);

    // The rest of the file: only what existed, and nothing pointing outside the file.
    for key in actual.resources.keys() {
        let kind = key.split(':').next().unwrap_or_default();
        if (kind == "user" || kind == "group") && !set.existed.contains(key) {
            diffs.push(format!("resource {key} never existed during the sync"));
        }
    }
    for (id, e) in &actual.entitlements {
        if !actual.resources.contains_key(&e.resource) {
            diffs.push(format!(
                "entitlement {id} belongs to {}, which is not in the file",
                e.resource
            ));
        }
    }
    for (id, g) in &actual.grants {
        if !actual.resources.contains_key(&g.principal) {
            diffs.push(format!(
                "grant {id} points at {}, which is not in the file",
                g.principal
            ));
        }
        if !actual.entitlements.contains_key(&g.entitlement_id) {
            diffs.push(format!(
                "grant {id} is of entitlement {}, which is not in the file",
                g.entitlement_id
            ));
        }
    }
    diffs
}
