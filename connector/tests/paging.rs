//! Every list pathology the mock can produce ends in the right file or a clear error, never a
//! loop or a silent gap.

// Helpers outside #[test] fns are test code too: clippy.toml's in-tests allowances do not reach them.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use baton_notion::scim::client::pager::Settled;
use baton_notion::scim::client::ScimError;
use baton_notion::scim::client::DEFAULT_IN_FLIGHT;
use baton_notion::sync::SyncError;
use common::{assert_same, client, client_with, request_counts, sync_into, tempdir, Snapshot};
use notion_scim_mock::{MockServer, PagingFault};

async fn org(users: usize, groups: usize) -> MockServer {
    MockServer::builder().seed(17).users(users).groups(groups).start().await
}

async fn sync_with(
    mock: &MockServer,
    fault: PagingFault,
) -> (Result<baton_notion::sync::SyncReport, SyncError>, tempfile::TempDir) {
    sync_in_flight(mock, fault, DEFAULT_IN_FLIGHT).await
}

async fn sync_in_flight(
    mock: &MockServer,
    fault: PagingFault,
    in_flight: usize,
) -> (Result<baton_notion::sync::SyncReport, SyncError>, tempfile::TempDir) {
    mock.faults().paging(Some(fault));
    let dir = tempdir();
    let path = dir.path().join("sync.c1z");
    let result = sync_into(&client_with(mock, |c| c.max_in_flight = in_flight), &path).await;
    if result.is_ok() {
        assert_same(&Snapshot::from_c1z(&path), &Snapshot::from_truth(&mock.truth()));
    } else {
        assert!(!path.exists(), "a failed first sync leaves no file");
    }
    (result, dir)
}

#[tokio::test]
async fn zero_items_per_page_is_ignored() {
    let mock = org(250, 20).await;
    let (result, _dir) = sync_with(&mock, PagingFault::ZeroItemsPerPage).await;
    result.expect("sync succeeds");
    let (users, groups, _, _) = request_counts(&mock);
    assert_eq!((users, groups), (3, 1), "still the minimum");
}

#[tokio::test]
async fn missing_items_per_page_is_ignored() {
    let mock = org(250, 20).await;
    let (result, _dir) = sync_with(&mock, PagingFault::MissingItemsPerPage).await;
    result.expect("sync succeeds");
    let (users, groups, _, _) = request_counts(&mock);
    assert_eq!((users, groups), (3, 1));
}

#[tokio::test]
async fn an_inflated_total_is_confirmed_by_a_second_walk() {
    for in_flight in [1, DEFAULT_IN_FLIGHT] {
        let mock = org(250, 20).await;
        let (result, _dir) = sync_in_flight(&mock, PagingFault::InflatedTotalResults(1_000), in_flight).await;
        let report = result.expect("sync succeeds");
        assert_eq!(report.users, 250);
        assert_eq!(report.users_paging.total_results, Some(1_250));
        let (users, groups, _, _) = request_counts(&mock);
        // Users: the short third page ends each walk. Groups: a first page of 20 when 1,020 are
        // claimed could be a server that pages by 20, so each walk asks once more (and gets
        // only the last group back). A walk that ends short of totalResults could also be one
        // whose contents moved, so a second walk confirms: never walking up to the claimed
        // total. Pages fetched ahead believe the claimed total: each walk may also ask for up
        // to a window of pages beyond the real end, which come back empty and are discarded.
        let wasted = |p: &baton_notion::scim::client::PagingReport| p.discarded as usize;
        // The window: as many pages ahead as requests in flight (none at one).
        let window = if in_flight > 1 { in_flight } else { 0 };
        assert!(wasted(&report.users_paging) <= 2 * window, "{report:?}");
        assert!(
            users <= 6 + wasted(&report.users_paging) && groups <= 4 + wasted(&report.groups_paging),
            "{in_flight} in flight: {users} user and {groups} group requests"
        );
        if in_flight == 1 {
            assert_eq!((users, groups), (6, 4));
        }
        assert_eq!(report.users_paging.repair_passes, 1);
        assert_eq!(report.users_paging.settled, Some(Settled::WalksAgree));
    }
}

#[tokio::test]
async fn ids_repeated_across_pages_are_kept_once() {
    let mock = org(250, 150).await;
    let (result, _dir) = sync_with(&mock, PagingFault::DuplicateAcrossPages).await;
    let report = result.expect("sync succeeds");
    assert_eq!(report.users, 250);
    assert!(
        report.users_paging.duplicates > 0,
        "the repeats were seen: {:?}",
        report.users_paging
    );
    assert_eq!(report.users_paging.distinct, 250);
    assert!(report.groups_paging.duplicates > 0);
    // Each page starts an item early, which looks like an item come in before the walk's
    // position with no growth of totalResults: one walk cannot vouch for the set. Every page
    // said 250 and 250 ids were found, which can.
    assert_eq!(report.users_paging.settled, Some(Settled::SameSizeThroughout));
}

#[tokio::test]
async fn endless_pages_end_in_a_clear_error() {
    let mock = org(250, 20).await;
    let (result, _dir) = sync_with(&mock, PagingFault::EndlessPages).await;
    match result {
        // The walk may also stop correctly once it has every id; what it must never do is loop.
        Ok(report) => assert_eq!(report.users, 250),
        // Users and groups are listed side by side: whichever list runs into the endless pages
        // first ends the sync.
        Err(SyncError::Scim(ScimError::Paging { resource, detail })) => {
            eprintln!("endless pages: {resource}: {detail}");
            assert!(resource == "users" || resource == "groups", "{resource}");
            assert!(
                detail.contains("non-empty pages") || detail.contains("already seen"),
                "{detail}"
            );
        }
        Err(other) => panic!("expected a paging error, got {other}"),
    }
    let (users, groups, _, _) = request_counts(&mock);
    assert!(users <= 10, "bounded: {users} user pages");
    assert!(groups <= 10, "bounded: {groups} group pages");
}

#[tokio::test]
async fn reordering_between_requests_never_leaves_a_silent_gap() {
    for users in [250, 40] {
        let mock = org(users, 3).await;
        mock.faults().reorder(true);
        let dir = tempdir();
        let path = dir.path().join("sync.c1z");
        match sync_into(&client(&mock), &path).await {
            Ok(report) => {
                eprintln!("reorder, {users} users: complete after {:?}", report.users_paging);
                assert_same(&Snapshot::from_c1z(&path), &Snapshot::from_truth(&mock.truth()));
                assert_eq!(report.users as usize, users);
            }
            Err(SyncError::Scim(ScimError::Paging { detail, .. })) => {
                eprintln!("reorder, {users} users: {detail}");
                assert!(detail.contains("did not settle"), "{detail}");
                assert!(!path.exists());
            }
            Err(other) => panic!("expected success or a paging error, got {other}"),
        }
    }
}

/// When a request reached the mock, and when its answer was ready, in microseconds since the
/// first request's day began (a sync spans seconds; a date change adds a day).
fn arrival_and_answer(entries: &[notion_scim_mock::JournalEntry], path: &str, start: u64) -> (u64, u64) {
    let entry = entries
        .iter()
        .find(|e| {
            e.path.trim_end_matches('/').ends_with(path)
                && e.query
                    .as_deref()
                    .is_some_and(|q| q.starts_with(&format!("startIndex={start}&")))
        })
        .unwrap_or_else(|| panic!("no request for {path} at startIndex={start}: {entries:#?}"));
    let first_day = &entries[0].at[..10];
    let (day, clock) = entry.at.split_once('T').expect("RFC 3339");
    let clock = clock.trim_end_matches('Z');
    let mut parts = clock.split(':');
    let (h, m, s): (u64, u64, f64) = (
        parts.next().unwrap().parse().unwrap(),
        parts.next().unwrap().parse().unwrap(),
        parts.next().unwrap().parse().unwrap(),
    );
    let mut at = (h * 3_600 + m * 60) * 1_000_000 + (s * 1_000_000.0).round() as u64;
    if day != first_day {
        at += 86_400 * 1_000_000;
    }
    (at, at + entry.duration_us)
}

#[tokio::test]
async fn both_lists_pages_are_on_the_wire_together() {
    // 1,000 users and 200 groups: 11 and 3 pages. Each answer takes 300 ms.
    let mock = org(1_000, 200).await;
    mock.faults().latency(std::time::Duration::from_millis(300));
    let dir = tempdir();
    let path = dir.path().join("sync.c1z");
    sync_into(&client_with(&mock, |c| c.max_in_flight = 16), &path)
        .await
        .expect("sync");
    assert_same(&Snapshot::from_c1z(&path), &Snapshot::from_truth(&mock.truth()));
    let journal = mock.journal();
    // The groups list's first page is asked before the users list's first page is answered,
    // not one round trip after it.
    let (_, users_first_answered) = arrival_and_answer(&journal, "/Users", 1);
    let (groups_first_asked, groups_first_answered) = arrival_and_answer(&journal, "/Groups", 1);
    assert!(
        groups_first_asked < users_first_answered,
        "the first pages went one after the other: {journal:#?}"
    );
    // The groups list's second page is asked as soon as its first page is handed out, while
    // the sync is busy with user pages, not when the sync next turns to groups (after several
    // user pages, each a round trip later).
    let (groups_second_asked, _) = arrival_and_answer(&journal, "/Groups", 100);
    let (_, users_second_answered) = arrival_and_answer(&journal, "/Users", 100);
    assert!(groups_second_asked >= groups_first_answered);
    assert!(
        groups_second_asked < users_second_answered,
        "the groups list waited for its turn to ask its next pages: {journal:#?}"
    );
}
