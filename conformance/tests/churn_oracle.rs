//! The oracle's rule for a sync made while the org changed (`expect::stable_set` and
//! `expect::compare_under_change`): a real file written under churn keeps it, and each way of
//! breaking it is named.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::Path;

use baton_notion::progress::Progress;
use baton_notion::scim::client::{ClientConfig, RetryPolicy, ScimClient};
use baton_notion::secret::Secret;
use baton_notion::sync::{self, SyncOptions};
use notion_conformance::oracle::data::{Dataset, GrantRow, ResourceRow};
use notion_conformance::oracle::{c1z, expect};
use notion_conformance::truth::Truth;
use notion_scim_mock::{ChurnList, ChurnOp, ChurnStep, MockServer};

fn truth(mock: &MockServer) -> Truth {
    Truth::from_admin_json(&serde_json::to_value(mock.truth()).unwrap()).unwrap()
}

async fn sync_into(mock: &MockServer, path: &Path) {
    let mut config = ClientConfig::new(mock.base_url(), Secret::new(mock.token()));
    config.retry = RetryPolicy::fast();
    config.requests_per_minute = 0;
    let client = ScimClient::new(config).unwrap();
    sync::run(&client, path, &SyncOptions::default(), &Progress::hidden())
        .await
        .unwrap();
}

/// A file written while users were deleted, added (into groups) and moved, with the truths
/// before and after and the ids the churn added.
async fn churned_sync() -> (Truth, Truth, BTreeSet<String>, Dataset) {
    let mock = MockServer::builder().seed(4).users(260).groups(6).start().await;
    let before = truth(&mock);
    mock.faults().churn([
        ChurnStep::new(1, ChurnOp::Delete, ChurnList::Users).at(20).count(5),
        ChurnStep::new(1, ChurnOp::Insert, ChurnList::Users)
            .at(200)
            .count(3)
            .links(2),
        ChurnStep::new(2, ChurnOp::Move, ChurnList::Users)
            .at(250)
            .count(2)
            .to(0),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sync.c1z");
    sync_into(&mock, &path).await;
    let appeared: BTreeSet<String> = mock
        .faults()
        .settings()
        .churn
        .iter()
        .filter(|s| s.op == ChurnOp::Insert)
        .flat_map(|s| s.applied.clone().unwrap())
        .collect();
    assert_eq!(appeared.len(), 3);
    let after = truth(&mock);
    let (_, data) = c1z::read_latest(&path).unwrap();
    (before, after, appeared, data)
}

#[tokio::test]
async fn a_file_written_under_churn_keeps_the_rule_and_each_break_is_named() {
    let (before, after, appeared, data) = churned_sync().await;
    let set = expect::stable_set(&before, &after, &appeared);
    assert_eq!(
        set.expected.resources.len(),
        255 + 6 + 4,
        "255 stable users, 6 groups, 4 roles"
    );
    let diffs = expect::compare_under_change(&set, &data);
    assert!(diffs.is_empty(), "{diffs:#?}");

    let stable_user = format!("user:{}", before.users[100].id);
    let mut lost = data.clone();
    lost.resources.remove(&stable_user);
    let diffs = expect::compare_under_change(&set, &lost);
    assert!(diffs.contains(&format!("missing resource {stable_user}")), "{diffs:#?}");

    // A user removed during the sync may be in the file or not.
    let removed = format!("user:{}", before.users[21].id);
    assert!(!after.users.iter().any(|u| format!("user:{}", u.id) == removed));
    let mut without_removed = data.clone();
    without_removed.resources.remove(&removed);
    without_removed.grants.retain(|_, g| g.principal != removed);
    assert!(expect::compare_under_change(&set, &without_removed).is_empty());
    let mut with_removed = data.clone();
    with_removed
        .resources
        .insert(removed.clone(), data.resources[&stable_user].clone());
    assert!(expect::compare_under_change(&set, &with_removed).is_empty());

    let mut dangling = data.clone();
    let membership = data
        .grants
        .values()
        .find(|g| g.entitlement_id.starts_with("group:"))
        .unwrap()
        .clone();
    dangling.grants.insert(
        format!("{}:user:ghost", membership.entitlement_id),
        GrantRow {
            id: format!("{}:user:ghost", membership.entitlement_id),
            principal: "user:ghost".into(),
            ..membership.clone()
        },
    );
    let diffs = expect::compare_under_change(&set, &dangling);
    assert!(
        diffs
            .iter()
            .any(|d| d.contains("points at user:ghost, which is not in the file")),
        "{diffs:#?}"
    );

    let mut invented = data.clone();
    invented.resources.insert(
        "user:never".into(),
        ResourceRow {
            resource_type: "user".into(),
            id: "never".into(),
            ..data.resources[&stable_user].clone()
        },
    );
    let diffs = expect::compare_under_change(&set, &invented);
    assert!(
        diffs.contains(&"resource user:never never existed during the sync".to_string()),
        "{diffs:#?}"
    );

    // A membership that held throughout must be there.
    let mut no_membership = data.clone();
    no_membership.grants.remove(&membership.id);
    let diffs = expect::compare_under_change(&set, &no_membership);
    assert!(
        diffs.contains(&format!("missing grant {}", membership.id)),
        "{diffs:#?}"
    );
}

#[tokio::test]
async fn memberships_that_changed_during_the_sync_may_go_either_way() {
    let (before, after, appeared, data) = churned_sync().await;
    // A made-up "after" in which a stable user left a group and another joined one.
    let mut changed = after.clone();
    let left = changed.groups[0].members.remove(0);
    let joined = changed
        .users
        .iter()
        .map(|u| u.id.clone())
        .find(|id| !changed.groups[1].members.contains(id))
        .unwrap();
    changed.groups[1].members.push(joined.clone());
    let set = expect::stable_set(&before, &changed, &appeared);
    let left_grant = format!("group:{}:member:user:{left}", changed.groups[0].id);
    let joined_grant = format!("group:{}:member:user:{joined}", changed.groups[1].id);
    assert!(set.either_way.contains(&left_grant) && set.either_way.contains(&joined_grant));
    // The file was written from the real org: it has the first, not the second. Both are fine.
    assert!(data.grants.contains_key(&left_grant) && !data.grants.contains_key(&joined_grant));
    let diffs = expect::compare_under_change(&set, &data);
    assert!(diffs.is_empty(), "{diffs:#?}");
}
