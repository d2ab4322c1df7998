//! End to end over real HTTP: seeded orgs of several sizes and shapes in the in-process mock,
//! synced into a c1z that must read back as the mock's ground truth, for the fewest requests.

// Helpers outside #[test] fns are test code too: clippy.toml's in-tests allowances do not reach them.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use baton_notion::c1z::C1zReader;
use baton_notion::config::ResourceTypeId;
use baton_notion::progress::Progress;
use baton_notion::sync::{self, SyncOptions};
use common::{assert_same, client, client_with, pages, request_counts, sync_into, tempdir, Snapshot};
use notion_scim_mock::{MockServer, Quirks, SeedSpec};

async fn check_org(mock: MockServer) {
    let dir = tempdir();
    let path = dir.path().join("sync.c1z");
    let client = client(&mock);
    let report = sync_into(&client, &path).await.expect("sync succeeds");
    let truth = mock.truth();
    assert_same(&Snapshot::from_c1z(&path), &Snapshot::from_truth(&truth));

    let (users, groups, reads, other) = request_counts(&mock);
    assert_eq!(users, pages(truth.users.len()), "user list pages");
    assert_eq!(groups, pages(truth.groups.len()), "group list pages");
    assert_eq!(reads, 0, "no group is read by id when the list carries members");
    assert_eq!(other, 0);
    assert_eq!(report.requests as usize, users + groups);
    assert_eq!(report.retries, 0);
    assert_eq!(report.users as usize, truth.users.len());
    assert_eq!(report.groups as usize, truth.groups.len());
}

#[tokio::test]
async fn syncs_a_typical_org_in_minimal_requests() {
    check_org(MockServer::builder().seed(7).users(250).groups(20).start().await).await;
}

#[tokio::test]
async fn syncs_page_boundary_sizes() {
    for (users, groups) in [(100, 100), (1, 1), (101, 201)] {
        check_org(MockServer::builder().seed(11).users(users).groups(groups).start().await).await;
    }
}

#[tokio::test]
async fn syncs_an_org_without_groups() {
    check_org(MockServer::builder().seed(3).users(42).groups(0).start().await).await;
}

#[tokio::test]
async fn syncs_awkward_user_shapes_and_empty_groups() {
    let spec = SeedSpec {
        seed: 21,
        users: 180,
        groups: 30,
        guests: Some(5),
        inactive_ratio: 0.2,
        formatted_name_only_ratio: 0.3,
        no_role_extension_ratio: 0.3,
        secondary_email_ratio: 0.3,
        empty_group_ratio: 0.4,
        ..Default::default()
    };
    let mock = MockServer::builder().spec(spec).start().await;
    let truth = mock.truth();
    // The seed really holds the shapes this test is about.
    assert!(truth.users.iter().any(|u| !u.active), "an inactive user");
    assert!(
        truth.users.iter().any(|u| u.role.is_none()),
        "a user without the role extension"
    );
    assert!(
        truth
            .users
            .iter()
            .any(|u| u.given_name.is_none() && u.formatted_name.is_some()),
        "formatted-only name"
    );
    assert!(truth.groups.iter().any(|g| g.members.is_empty()), "an empty group");
    check_org(mock).await;
}

#[tokio::test]
async fn reads_each_group_by_id_when_lists_omit_members() {
    let mock = MockServer::builder()
        .seed(5)
        .users(130)
        .groups(120)
        .quirks(Quirks {
            list_groups_with_members: false,
            ..Default::default()
        })
        .start()
        .await;
    let dir = tempdir();
    let path = dir.path().join("sync.c1z");
    let report = sync_into(&client(&mock), &path).await.expect("sync succeeds");
    let truth = mock.truth();
    assert_same(&Snapshot::from_c1z(&path), &Snapshot::from_truth(&truth));
    let (users, groups, reads, _) = request_counts(&mock);
    assert_eq!((users, groups), (2, 2));
    assert_eq!(reads, 120, "one GET per group");
    assert_eq!(report.group_reads, 120);
}

#[tokio::test]
async fn smaller_pages_cost_more_requests_and_give_the_same_file() {
    let mock = MockServer::builder().seed(9).users(95).groups(12).start().await;
    let dir = tempdir();
    let path = dir.path().join("sync.c1z");
    let c = client_with(&mock, |c| c.page_size = 10);
    sync_into(&c, &path).await.expect("sync succeeds");
    assert_same(&Snapshot::from_c1z(&path), &Snapshot::from_truth(&mock.truth()));
    let (users, groups, _, _) = request_counts(&mock);
    assert_eq!((users, groups), (10, 2));
}

#[tokio::test]
async fn a_second_sync_adds_a_run_and_both_read_back() {
    let mock = MockServer::builder().seed(4).users(30).groups(3).start().await;
    let dir = tempdir();
    let path = dir.path().join("sync.c1z");
    let c = client(&mock);
    let first = sync_into(&c, &path).await.expect("first sync");
    let second = sync_into(&c, &path).await.expect("second sync");
    assert_ne!(first.summary.sync_id, second.summary.sync_id);
    let reader = C1zReader::open(&path).expect("open");
    let runs = reader.sync_runs().expect("runs");
    assert_eq!(runs.len(), 2);
    assert!(runs.iter().all(|r| r.ended_at.is_some() && r.sync_type == "full"));
    assert_same(&Snapshot::from_c1z(&path), &Snapshot::from_truth(&mock.truth()));
}

#[tokio::test]
async fn sync_resource_types_limits_what_is_fetched_and_written() {
    let mock = MockServer::builder().seed(8).users(40).groups(5).start().await;
    let dir = tempdir();
    let path = dir.path().join("sync.c1z");
    let options = SyncOptions {
        resource_types: vec![ResourceTypeId::Group],
        ..SyncOptions::default()
    };
    let report = sync::run(&client(&mock), &path, &options, &Progress::hidden())
        .await
        .expect("sync");
    assert_eq!(report.users, 0);
    let (users, groups, _, _) = request_counts(&mock);
    assert_eq!((users, groups), (0, 1), "users are not even listed");
    let got = Snapshot::from_c1z(&path);
    let want = Snapshot::from_truth(&mock.truth());
    assert_eq!(got.resource_types, ["group".to_owned()].into());
    assert!(got.users.is_empty() && got.roles.is_empty() && got.role_grants.is_empty());
    assert_eq!(got.groups, want.groups);
    assert_eq!(got.memberships, want.memberships);
}
