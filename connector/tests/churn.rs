//! A sync while the org changes under it: every user and group present for the whole sync is
//! in the file, nothing twice, no membership pointing at a user the file lacks; or a clear
//! error and the previous file untouched. The emulation's churn fault changes the org after a
//! given list request. One page at a time (`max_in_flight` 1), which pages see a change is
//! fixed, and so are the figures (requests, shifts, walks); with pages fetched ahead (the
//! default), requests reach the emulation in an order that varies from run to run, so those
//! runs check the rule and how the list settled, and leave the request counts alone.

// Helpers outside #[test] fns are test code too: clippy.toml's in-tests allowances do not reach them.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use baton_notion::progress::Progress;
use baton_notion::scim::client::pager::{pages_for, Settled};
use baton_notion::scim::client::{ScimError, DEFAULT_IN_FLIGHT};
use baton_notion::sync::{self, SyncError, SyncOptions, SyncReport};
use common::{client, client_with, request_counts, sync_into, tempdir, Snapshot};
use notion_scim_mock::{ChurnList, ChurnOp, ChurnStep, GroundTruth, MockServer, PagingFault};

fn delete_users(after: u64, at: usize, count: usize) -> ChurnStep {
    ChurnStep::new(after, ChurnOp::Delete, ChurnList::Users)
        .at(at)
        .count(count)
}

fn insert_users(after: u64, at: usize, count: usize) -> ChurnStep {
    ChurnStep::new(after, ChurnOp::Insert, ChurnList::Users)
        .at(at)
        .count(count)
}

fn move_users(after: u64, at: usize, count: usize, to: usize) -> ChurnStep {
    ChurnStep::new(after, ChurnOp::Move, ChurnList::Users)
        .at(at)
        .count(count)
        .to(to)
}

fn ids<'a>(items: impl Iterator<Item = &'a String>) -> BTreeSet<String> {
    items.cloned().collect()
}

/// The rule, checked on a finished file: stable users and groups all present, every resource
/// one that existed during the sync, every membership between a stable group and a stable
/// user that held throughout present, and no grant pointing at a user the file lacks. (Twice
/// cannot happen in a file that reads back: the writer refuses a second row with an id.)
fn assert_stable_set_kept(mock: &MockServer, before: &GroundTruth, path: &Path) -> Snapshot {
    let after = mock.truth();
    let file = Snapshot::from_c1z(path);
    let added: BTreeSet<String> = mock
        .faults()
        .settings()
        .churn
        .iter()
        .filter(|s| s.op == ChurnOp::Insert)
        .flat_map(|s| s.applied.clone().unwrap_or_default())
        .collect();
    let users_before = ids(before.users.iter().map(|u| &u.id));
    let users_after = ids(after.users.iter().map(|u| &u.id));
    let groups_before = ids(before.groups.iter().map(|g| &g.id));
    let groups_after = ids(after.groups.iter().map(|g| &g.id));
    for id in users_before.intersection(&users_after) {
        assert!(
            file.users.contains_key(id),
            "user {id} was there throughout but is not in the file"
        );
    }
    for id in groups_before.intersection(&groups_after) {
        assert!(
            file.groups.contains_key(id),
            "group {id} was there throughout but is not in the file"
        );
    }
    for id in file.users.keys() {
        assert!(
            users_before.contains(id) || users_after.contains(id) || added.contains(id),
            "user {id} never existed"
        );
        assert!(file.role_grants.contains_key(id), "user {id} has no role grant");
    }
    for id in file.groups.keys() {
        assert!(
            groups_before.contains(id) || groups_after.contains(id) || added.contains(id),
            "group {id} never existed"
        );
    }
    for (group, user) in &file.memberships {
        assert!(
            file.users.contains_key(user),
            "group {group} grants membership to {user}, who is not in the file"
        );
        assert!(
            file.groups.contains_key(group),
            "a membership of group {group}, which is not in the file"
        );
    }
    for user in file.role_grants.keys() {
        assert!(
            file.users.contains_key(user),
            "a role grant to {user}, who is not in the file"
        );
    }
    let held = |t: &GroundTruth| -> BTreeSet<(String, String)> {
        t.groups
            .iter()
            .flat_map(|g| g.members.iter().map(move |m| (g.id.clone(), m.clone())))
            .collect()
    };
    for (group, user) in held(before).intersection(&held(&after)) {
        if users_after.contains(user) && users_before.contains(user) {
            assert!(
                file.memberships.contains(&(group.clone(), user.clone())),
                "{user} was in {group} throughout, but the file lacks it"
            );
        }
    }
    file
}

async fn sync_with_walks(mock: &MockServer, path: &Path, walks: u32) -> Result<SyncReport, SyncError> {
    let options = SyncOptions {
        max_list_walks: walks,
        ..SyncOptions::default()
    };
    sync::run(&one_at_a_time(mock), path, &options, &Progress::hidden()).await
}

/// A client that walks each list one page at a time: the order of requests is fixed.
fn one_at_a_time(mock: &MockServer) -> baton_notion::scim::client::ScimClient {
    client_with(mock, |c| c.max_in_flight = 1)
}

/// Both ways a sync may walk: one page at a time, and with pages fetched ahead.
const IN_FLIGHT: [usize; 2] = [1, DEFAULT_IN_FLIGHT];

/// The measurement, made deterministic: 777 users, ten of them deleted while the
/// connector walks the list, each deletion before the walk's position. The walk that trusted
/// its offsets ended with stable users missing and exit 0.
#[tokio::test]
async fn users_deleted_while_walking_are_never_lost() {
    for in_flight in IN_FLIGHT {
        let mock = MockServer::builder().seed(18).users(777).groups(30).start().await;
        let before = mock.truth();
        mock.faults()
            .churn([delete_users(2, 10, 4), delete_users(4, 20, 3), delete_users(6, 30, 3)]);
        let dir = tempdir();
        let path = dir.path().join("sync.c1z");
        let c = client_with(&mock, |c| c.max_in_flight = in_flight);
        let report = sync_into(&c, &path).await.expect("the sync succeeds");
        let file = assert_stable_set_kept(&mock, &before, &path);
        assert_eq!(file.users.len(), report.users as usize);
        assert_eq!(report.users_paging.settled, Some(Settled::Consistent));
        assert_eq!(report.users_paging.walks, 1, "recovered within the one walk");
        let (users, _, _, _) = request_counts(&mock);
        eprintln!(
            "777 users, 10 deleted in three steps, {in_flight} in flight: {users} user requests \
             (quiet: {}), {:?}",
            pages_for(777, 100),
            report.users_paging
        );
        if in_flight == 1 {
            assert!(
                report.users_paging.shifts >= 3 && report.users_paging.rereads >= 3,
                "each deletion showed as a shift: {:?}",
                report.users_paging
            );
            // A step back and its re-read per deletion, no more.
            assert!(users <= pages_for(777, 100) as usize + 2 * 3, "{users} requests");
        } else {
            // Pages fetched before and after the deletions meet somewhere in list order.
            assert!(
                report.users_paging.shifts >= 1 && report.users_paging.rereads >= 1,
                "the deletions showed: {:?}",
                report.users_paging
            );
        }
    }
}

#[tokio::test]
async fn a_quiet_org_costs_one_walk_and_no_extra_request() {
    // Pages fetched ahead are exactly the pages the walk goes on to read: none wasted.
    for (users, in_flight) in [(777, 1), (1_000, 1), (777, DEFAULT_IN_FLIGHT), (1_000, 3), (5_000, 32)] {
        let mock = MockServer::builder().seed(18).users(users).groups(30).start().await;
        let dir = tempdir();
        let c = client_with(&mock, |c| c.max_in_flight = in_flight);
        let report = sync_into(&c, &dir.path().join("s.c1z")).await.expect("sync");
        let (u, g, _, _) = request_counts(&mock);
        assert_eq!(
            (u as u64, g),
            (pages_for(users as u64, 100), 1),
            "{users} at {in_flight}"
        );
        let paging = &report.users_paging;
        assert_eq!(
            (
                paging.walks,
                paging.shifts,
                paging.rereads,
                paging.duplicates,
                paging.discarded
            ),
            (1, 0, 0, 0, 0)
        );
        assert_eq!(paging.settled, Some(Settled::Consistent));
        assert_eq!(report.users, users as u64);
    }
}

#[tokio::test]
async fn users_added_before_the_walks_position_shift_it_without_loss() {
    let mock = MockServer::builder().seed(18).users(450).groups(10).start().await;
    let before = mock.truth();
    mock.faults().churn([insert_users(2, 0, 5), insert_users(3, 420, 2)]);
    let dir = tempdir();
    let path = dir.path().join("sync.c1z");
    let report = sync_into(&client(&mock), &path).await.expect("sync");
    assert_stable_set_kept(&mock, &before, &path);
    let paging = &report.users_paging;
    assert_eq!(paging.settled, Some(Settled::Consistent), "{paging:?}");
    assert_eq!(paging.walks, 1, "additions are explained by the growth of totalResults");
    assert!(paging.duplicates >= 5, "the shifted users came again: {paging:?}");
}

/// The case no walk of plain offsets can see: one user removed before the walk's position and
/// one added after it between the same two pages, so that totalResults never moves.
#[tokio::test]
async fn a_removal_and_an_addition_between_the_same_two_pages_are_caught() {
    let mock = MockServer::builder().seed(18).users(450).groups(10).start().await;
    let before = mock.truth();
    mock.faults().churn([delete_users(2, 30, 2), insert_users(2, 400, 2)]);
    let dir = tempdir();
    let path = dir.path().join("sync.c1z");
    let report = sync_into(&client(&mock), &path).await.expect("sync");
    assert_stable_set_kept(&mock, &before, &path);
    assert!(report.users_paging.shifts >= 1, "{:?}", report.users_paging);
}

#[tokio::test]
async fn users_moved_back_across_the_walks_position_are_found() {
    for in_flight in IN_FLIGHT {
        let mock = MockServer::builder().seed(18).users(450).groups(10).start().await;
        let before = mock.truth();
        let moved: Vec<String> = before.users[440..443].iter().map(|u| u.id.clone()).collect();
        mock.faults().churn([move_users(2, 440, 3, 5)]);
        let dir = tempdir();
        let path = dir.path().join("sync.c1z");
        let c = client_with(&mock, |c| c.max_in_flight = in_flight);
        let report = sync_into(&c, &path).await.expect("sync");
        let file = assert_stable_set_kept(&mock, &before, &path);
        assert!(moved.iter().all(|id| file.users.contains_key(id)));
        let paging = &report.users_paging;
        assert_eq!(paging.walks, 2, "a shift with no growth is a moved order: {paging:?}");
        // The second walk's first page held the moved users: every page said 450 and 450 ids
        // were found, so it stopped there.
        assert_eq!(paging.settled, Some(Settled::SameSizeThroughout));
        if in_flight == 1 {
            let (users, _, _, _) = request_counts(&mock);
            assert_eq!(users as u64, pages_for(450, 100) + 1);
        }
    }
}

/// Notion may overstate totalResults; that is told apart from contents that moved: two walks
/// agree on the same smaller set, while a deletion is recovered within the first walk.
#[tokio::test]
async fn an_overstated_total_is_told_apart_from_moved_contents() {
    let mock = MockServer::builder().seed(18).users(450).groups(10).start().await;
    mock.faults().paging(Some(PagingFault::InflatedTotalResults(30)));
    let dir = tempdir();
    let report = sync_into(&client(&mock), &dir.path().join("a.c1z"))
        .await
        .expect("sync");
    assert_eq!(report.users, 450);
    assert_eq!(report.users_paging.settled, Some(Settled::WalksAgree));
    assert_eq!(report.users_paging.walks, 2);

    let mock = MockServer::builder().seed(18).users(450).groups(10).start().await;
    let before = mock.truth();
    mock.faults().churn([delete_users(2, 20, 30)]);
    let path = dir.path().join("b.c1z");
    let report = sync_into(&client(&mock), &path).await.expect("sync");
    assert_stable_set_kept(&mock, &before, &path);
    assert_eq!(report.users_paging.settled, Some(Settled::Consistent));
    assert_eq!(
        report.users_paging.walks, 1,
        "30 fewer users is not an overstated total"
    );
}

/// A list that changes in every walk exhausts the budget: the error says what the walks saw,
/// and the previous file is left byte for byte. One page at a time, so that each change lands
/// in the walk it is meant for (by request count).
#[tokio::test]
async fn a_list_that_keeps_moving_fails_clearly_and_keeps_the_previous_file() {
    let mock = MockServer::builder().seed(18).users(450).groups(10).start().await;
    let dir = tempdir();
    let path = dir.path().join("sync.c1z");
    sync_into(&client(&mock), &path).await.expect("the first sync");
    let previous = std::fs::read(&path).unwrap();
    // In each of the two walks allowed, users move back across the walk's position while one
    // is added: neither walk can vouch for the set, and the totals never stay put.
    let churn = || {
        [
            move_users(2, 440, 3, 5),
            insert_users(2, 445, 1),
            move_users(7, 440, 3, 5),
            insert_users(7, 445, 1),
        ]
    };
    mock.faults().churn(churn());
    let err = sync_with_walks(&mock, &path, 2)
        .await
        .expect_err("the list never settles");
    let SyncError::Scim(ScimError::Paging { resource, detail }) = &err else {
        panic!("expected a paging error, got {err}");
    };
    eprintln!("{resource}: {detail}");
    assert_eq!(*resource, "users");
    for says in [
        "did not settle in 2 walks",
        "--max-list-walks",
        "totalResults went from 450 to 452",
        "distinct ids seen",
        "moved",
    ] {
        assert!(detail.contains(says), "{says:?} missing from: {detail}");
    }
    assert_eq!(
        std::fs::read(&path).unwrap(),
        previous,
        "the previous file is untouched"
    );

    // With the budget the default allows, the same churn is outlasted.
    mock.reset();
    mock.faults().churn(churn());
    let before = mock.truth();
    let report = sync_into(&one_at_a_time(&mock), &path)
        .await
        .expect("four walks are enough");
    assert_eq!(report.users_paging.walks, 3);
    assert_stable_set_kept(&mock, &before, &path);
}

/// Users added during the sync and put in a group that is read afterwards: the group names
/// them, no user page did; each is read by id and written with its membership.
#[tokio::test]
async fn members_no_user_page_showed_are_read_by_id() {
    let mock = MockServer::builder().seed(18).users(250).groups(20).start().await;
    let before = mock.truth();
    // Small pages spread the group pages among the user pages; the new users join the last
    // group, on the last group page, and sit before the user walk's position.
    mock.faults().churn([insert_users(3, 0, 2).links(1)]);
    let dir = tempdir();
    let path = dir.path().join("sync.c1z");
    let c = client_with(&mock, |c| c.page_size = 10);
    let report = sync::run(&c, &path, &SyncOptions::default(), &Progress::hidden())
        .await
        .expect("sync");
    let file = assert_stable_set_kept(&mock, &before, &path);
    let added = mock.faults().settings().churn[0].applied.clone().unwrap();
    assert_eq!(report.members_fetched, 2, "{report:?}");
    let last_group = mock.truth().groups.last().unwrap().id.clone();
    for id in &added {
        assert!(file.users.contains_key(id), "{id} was read by id and written");
        assert!(file.memberships.contains(&(last_group.clone(), id.clone())));
    }
    let reads = mock
        .journal()
        .iter()
        .filter(|e| e.method == "GET" && e.path.contains("/Users/"))
        .count();
    assert_eq!(reads, 2);
}

/// Users removed after their group was read and before the user walk reached them: the
/// memberships are left out (and counted), never left pointing at a user the file lacks.
#[tokio::test]
async fn memberships_of_users_removed_during_the_sync_are_left_out() {
    let mock = MockServer::builder().seed(18).users(250).groups(20).start().await;
    let before = mock.truth();
    // Users, then groups, then the rest of the users: the group page comes second.
    let grouped: BTreeSet<&String> = before.groups.iter().flat_map(|g| g.members.iter()).collect();
    let positions: Vec<usize> = before
        .users
        .iter()
        .enumerate()
        .filter(|(i, u)| *i >= 150 && grouped.contains(&u.id))
        .map(|(i, _)| i)
        .take(3)
        .collect();
    assert_eq!(positions.len(), 3);
    // Deleting from the end first keeps the earlier positions where they were.
    mock.faults()
        .churn(positions.iter().rev().map(|&at| delete_users(1, at, 1)));
    let dir = tempdir();
    let path = dir.path().join("sync.c1z");
    let report = sync_into(&client(&mock), &path).await.expect("sync");
    let file = assert_stable_set_kept(&mock, &before, &path);
    for at in &positions {
        assert!(!file.users.contains_key(&before.users[*at].id));
    }
    let memberships: usize = positions
        .iter()
        .map(|at| {
            before
                .groups
                .iter()
                .filter(|g| g.members.contains(&before.users[*at].id))
                .count()
        })
        .sum();
    assert_eq!(report.memberships_dropped as usize, memberships, "{report:?}");
    assert_eq!(report.members_fetched, 0);
}
