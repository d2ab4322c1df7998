//! Shared by the end-to-end suites: a fast client for an in-process mock, the c1z decoded into
//! a comparable [`Snapshot`], the same snapshot built from the mock's ground truth, and request
//! counts from the mock's journal.

#![allow(dead_code)] // each suite uses a different part

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use baton_notion::c1z::C1zReader;
use baton_notion::progress::Progress;
use baton_notion::proto::{self, user_trait, UserTrait};
use baton_notion::scim::client::{ClientConfig, RetryPolicy, ScimClient};
use baton_notion::secret::Secret;
use baton_notion::sync::{self, SyncError, SyncOptions, SyncReport};
use notion_scim_mock::{GroundTruth, MockServer};

/// A client for `mock` with millisecond retries and no client-side limit.
pub fn client(mock: &MockServer) -> ScimClient {
    client_with(mock, |_| {})
}

pub fn client_with(mock: &MockServer, tweak: impl FnOnce(&mut ClientConfig)) -> ScimClient {
    let mut config = ClientConfig::new(mock.base_url(), Secret::new(mock.token()));
    config.retry = RetryPolicy::fast();
    config.requests_per_minute = 0;
    config.http_timeout = std::time::Duration::from_secs(10);
    tweak(&mut config);
    match ScimClient::new(config) {
        Ok(c) => c,
        Err(e) => unreachable!("test client config is valid: {e}"),
    }
}

pub async fn sync_into(client: &ScimClient, path: &Path) -> Result<SyncReport, SyncError> {
    sync::run(client, path, &SyncOptions::default(), &Progress::hidden()).await
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct UserView {
    pub display_name: String,
    pub login: String,
    pub email: String,
    pub enabled: bool,
}

/// What a sync must find, in a form both the file and the truth can be put in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub resource_types: BTreeSet<String>,
    pub users: BTreeMap<String, UserView>,
    pub groups: BTreeMap<String, String>,
    pub entitlements: BTreeSet<String>,
    /// (group id, user id)
    pub memberships: BTreeSet<(String, String)>,
    pub roles: BTreeSet<String>,
    /// user id -> role id
    pub role_grants: BTreeMap<String, String>,
}

impl Snapshot {
    pub fn from_truth(truth: &GroundTruth) -> Self {
        let mut s = Snapshot {
            resource_types: ["user", "group", "role"].map(String::from).into(),
            roles: ["owner", "membership_admin", "member", "restricted_member"]
                .map(String::from)
                .into(),
            ..Snapshot::default()
        };
        for r in &s.roles {
            s.entitlements.insert(format!("role:{r}:assigned"));
        }
        for u in &truth.users {
            s.users.insert(
                u.id.clone(),
                UserView {
                    display_name: u.formatted_name.clone().unwrap_or_default(),
                    login: u.user_name.clone(),
                    email: u.user_name.clone(),
                    enabled: u.active,
                },
            );
            s.role_grants
                .insert(u.id.clone(), u.effective_role().as_str().to_owned());
        }
        for g in &truth.groups {
            s.groups.insert(g.id.clone(), g.display_name.clone());
            s.entitlements.insert(format!("group:{}:member", g.id));
            for m in &g.members {
                s.memberships.insert((g.id.clone(), m.clone()));
            }
        }
        s
    }

    pub fn from_c1z(path: &Path) -> Self {
        let reader = match C1zReader::open(path) {
            Ok(r) => r,
            Err(e) => unreachable!("the c1z must open: {e}"),
        };
        let mut s = Snapshot::default();
        for t in get(reader.resource_types(None)) {
            s.resource_types.insert(t.id);
        }
        for r in get(reader.resources(None)) {
            let id = r.id.clone().unwrap_or_default();
            match id.resource_type.as_str() {
                "user" => {
                    let t: UserTrait = match proto::find_annotation::<UserTrait>(&r.annotations) {
                        Ok(Some(t)) => t,
                        other => unreachable!("user {} has no UserTrait: {other:?}", id.resource),
                    };
                    let enabled =
                        t.status.as_ref().map(|s| s.status) == Some(user_trait::status::Status::Enabled as i32);
                    s.users.insert(
                        id.resource.clone(),
                        UserView {
                            display_name: r.display_name.clone(),
                            login: t.login.clone(),
                            email: t
                                .emails
                                .iter()
                                .find(|e| e.is_primary)
                                .map(|e| e.address.clone())
                                .unwrap_or_default(),
                            enabled,
                        },
                    );
                }
                "group" => {
                    s.groups.insert(id.resource.clone(), r.display_name.clone());
                }
                "role" => {
                    s.roles.insert(id.resource.clone());
                }
                other => unreachable!("unexpected resource type {other}"),
            }
        }
        for e in get(reader.entitlements(None)) {
            s.entitlements.insert(e.id);
        }
        for g in get(reader.grants(None)) {
            let ent = g.entitlement.as_ref().map(|e| e.id.clone()).unwrap_or_default();
            let principal = g.principal.as_ref().and_then(|p| p.id.clone()).unwrap_or_default();
            assert_eq!(principal.resource_type, "user", "grant {} principal", g.id);
            assert_eq!(g.id, format!("{ent}:user:{}", principal.resource), "grant id grammar");
            let parts: Vec<&str> = ent.split(':').collect();
            match parts.as_slice() {
                ["group", gid, "member"] => {
                    s.memberships.insert(((*gid).to_owned(), principal.resource));
                }
                ["role", role, "assigned"] => {
                    let before = s.role_grants.insert(principal.resource.clone(), (*role).to_owned());
                    assert!(before.is_none(), "user {} holds two roles", principal.resource);
                }
                _ => unreachable!("unexpected entitlement in grant {}", g.id),
            }
        }
        s
    }
}

fn get<T>(r: Result<Vec<T>, baton_notion::c1z::C1zError>) -> Vec<T> {
    match r {
        Ok(v) => v,
        Err(e) => unreachable!("the c1z must read: {e}"),
    }
}

/// Compares with a readable first difference instead of two huge dumps.
pub fn assert_same(actual: &Snapshot, expected: &Snapshot) {
    assert_eq!(actual.resource_types, expected.resource_types, "resource types");
    assert_eq!(actual.users.len(), expected.users.len(), "user count");
    for (id, want) in &expected.users {
        assert_eq!(actual.users.get(id), Some(want), "user {id}");
    }
    assert_eq!(actual.groups, expected.groups, "groups");
    assert_eq!(actual.entitlements, expected.entitlements, "entitlements");
    assert_eq!(actual.memberships.len(), expected.memberships.len(), "membership count");
    assert_eq!(actual.memberships, expected.memberships, "memberships");
    assert_eq!(actual.roles, expected.roles, "roles");
    assert_eq!(actual.role_grants, expected.role_grants, "role grants");
}

/// (list pages of /Users, list pages of /Groups, reads of /Groups/{id}, anything else)
pub fn request_counts(mock: &MockServer) -> (usize, usize, usize, usize) {
    let (mut users, mut groups, mut group_reads, mut other) = (0, 0, 0, 0);
    for e in mock.journal() {
        let path = e.path.trim_end_matches('/');
        if e.method == "GET" && path.ends_with("/Users") {
            users += 1;
        } else if e.method == "GET" && path.ends_with("/Groups") {
            groups += 1;
        } else if e.method == "GET" && path.contains("/Groups/") {
            group_reads += 1;
        } else {
            other += 1;
        }
    }
    (users, groups, group_reads, other)
}

/// List requests for `n` items at 100 a page: each page after the first overlaps the one
/// before by an item (see the pager), which is `ceil(n / 100)` for most sizes.
pub fn pages(n: usize) -> usize {
    baton_notion::scim::client::pager::pages_for(n as u64, 100) as usize
}

pub fn tempdir() -> tempfile::TempDir {
    match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => unreachable!("temp dir: {e}"),
    }
}

/// Runs the `baton-notion` binary in `cwd` with only `envs` in its environment, off the async
/// threads so that an in-process mock keeps answering.
pub async fn run_binary(cwd: &Path, args: &[&str], envs: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_baton-notion"));
    cmd.current_dir(cwd).args(args).env_clear().env("NO_COLOR", "1");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    match tokio::task::spawn_blocking(move || cmd.output()).await {
        Ok(Ok(out)) => out,
        Ok(Err(e)) => panic!("the binary does not run: {e}"),
        Err(e) => panic!("the runner task failed: {e}"),
    }
}
