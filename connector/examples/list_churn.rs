//! What the defence against a list changing under the walk costs, in requests: on quiet orgs
//! of several sizes (against the plain minimum of `ceil(n / 100)` pages per list, and the
//! minimum of any walk that can see a shift between two pages: each page shares an item with
//! the one before, so past the first it brings at most 99 new ones), and on a
//! 777-user org under each kind of churn the emulation can script, walked one page at a time
//! (the figures are then fixed: which request sees a change is set by count) and with pages
//! fetched ahead (the default; which pages see a change then varies from run to run, and so
//! do their requests). Prints tables; asserts nothing but the quiet walks' cost.
//!
//! ```sh
//! cargo run --release -p baton-notion --example list_churn
//! ```

use std::time::Instant;

use baton_notion::progress::Progress;
use baton_notion::scim::client::pager::pages_for;
use baton_notion::scim::client::{ClientConfig, RetryPolicy, ScimClient, DEFAULT_IN_FLIGHT};
use baton_notion::secret::Secret;
use baton_notion::sync::{self, SyncOptions, SyncReport};
use notion_scim_mock::{ChurnList, ChurnOp, ChurnStep, MockServer, PagingFault};

fn client(mock: &MockServer, in_flight: usize) -> anyhow::Result<ScimClient> {
    let mut config = ClientConfig::new(mock.base_url(), Secret::new(mock.token()));
    config.retry = RetryPolicy::fast();
    config.requests_per_minute = 0;
    config.max_in_flight = in_flight;
    Ok(ScimClient::new(config)?)
}

async fn sync_once(mock: &MockServer, in_flight: usize) -> anyhow::Result<Result<SyncReport, String>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("sync.c1z");
    let result = sync::run(
        &client(mock, in_flight)?,
        &path,
        &SyncOptions::default(),
        &Progress::hidden(),
    )
    .await;
    Ok(result.map_err(|e| e.to_string()))
}

/// The fewest pages of at most 100 that cover `n` items with each page sharing one item with
/// the page before: the least a walk can ask and still see a shift at every boundary.
fn sound_minimum(n: u64) -> u64 {
    if n <= 100 {
        1
    } else {
        1 + (n - 100).div_ceil(99)
    }
}

fn users(after: u64, op: ChurnOp, at: usize, count: usize) -> ChurnStep {
    ChurnStep::new(after, op, ChurnList::Users).at(at).count(count)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    println!(
        "Quiet orgs: list requests of a sync ({DEFAULT_IN_FLIGHT} in flight) against the plain minimum ceil(n/100) per list,\n\
         and the minimum of a walk that sees shifts (pages sharing an item: 1 + ceil((n-100)/99) past 100)"
    );
    println!(
        "{:>9} {:>7} | {:>8} {:>8} {:>8} | {:>9} {:>11} | {:>6}",
        "users", "groups", "plain", "sound", "requests", "vs plain", "beyond sound", "walks"
    );
    for (u, g) in [(250, 20), (777, 30), (5_000, 200), (20_000, 500), (100_000, 2_000)] {
        let mock = MockServer::builder().seed(18).users(u).groups(g).start().await;
        let started = Instant::now();
        let report = sync_once(&mock, DEFAULT_IN_FLIGHT).await?.map_err(anyhow::Error::msg)?;
        let minimum = (u as u64).div_ceil(100).max(1) + (g as u64).div_ceil(100).max(1);
        let sound = sound_minimum(u as u64) + sound_minimum(g as u64);
        assert_eq!(
            report.requests,
            pages_for(u as u64, 100) + pages_for(g as u64, 100),
            "a quiet walk costs pages_for"
        );
        println!(
            "{:>9} {:>7} | {:>8} {:>8} {:>8} | {:>8.2}% {:>11} | {:>6}   ({:.2}s)",
            u,
            g,
            minimum,
            sound,
            report.requests,
            (report.requests as f64 / minimum as f64 - 1.0) * 100.0,
            report.requests.saturating_sub(sound),
            report.users_paging.walks.max(report.groups_paging.walks),
            started.elapsed().as_secs_f64()
        );
    }

    println!();
    println!(
        "777 users and 20 groups (150 where marked *), under churn: a quiet sync costs {} requests ({} with 150 groups)",
        pages_for(777, 100) + 1,
        pages_for(777, 100) + pages_for(150, 100)
    );
    println!(
        "{:<62} | {:>8} {:>6} {:>6} {:>6} | result",
        "what changes during the walk", "requests", "walks", "shifts", "back"
    );
    // Each move also adds a user at the end, so that the count changes too and no walk can
    // settle by finding as many ids as every page claimed.
    let unsettling = |walks: u64| -> Vec<ChurnStep> {
        (0..walks)
            .flat_map(|w| {
                [
                    users(3 + 8 * w, ChurnOp::Move, 770, 2).to(0),
                    users(3 + 8 * w, ChurnOp::Insert, 776, 1),
                ]
            })
            .collect()
    };
    let scenarios: Vec<(&str, Vec<ChurnStep>, Option<PagingFault>)> = vec![
        ("nothing", vec![], None),
        (
            "10 users deleted before the walk's position, in 3 steps",
            vec![
                users(2, ChurnOp::Delete, 10, 4),
                users(4, ChurnOp::Delete, 20, 3),
                users(6, ChurnOp::Delete, 30, 3),
            ],
            None,
        ),
        (
            "10 users deleted at random positions, one at a time",
            (0..10)
                .map(|i| users(1 + i % 7, ChurnOp::Delete, (i as usize * 211) % 700, 1))
                .collect(),
            None,
        ),
        (
            "8 users added before the walk's position",
            vec![users(2, ChurnOp::Insert, 0, 5), users(5, ChurnOp::Insert, 100, 3)],
            None,
        ),
        (
            "1 deleted before and 1 added after, between the same pages",
            vec![users(3, ChurnOp::Delete, 30, 1), users(3, ChurnOp::Insert, 700, 1)],
            None,
        ),
        (
            "3 users moved from the end to the front",
            vec![users(3, ChurnOp::Move, 770, 3).to(0)],
            None,
        ),
        (
            "* 4 users added before the walk's position, into 2 groups",
            vec![users(2, ChurnOp::Insert, 0, 4).links(2)],
            None,
        ),
        (
            "2 moved to the front and 1 added, in each of 3 walks",
            unsettling(3),
            None,
        ),
        (
            "the same in each of 5 walks (more than --max-list-walks 4)",
            unsettling(5),
            None,
        ),
        (
            "totalResults overstated by 30 (a Notion quirk), no change",
            vec![],
            Some(PagingFault::InflatedTotalResults(30)),
        ),
    ];
    let mut ahead = Vec::new();
    for (what, churn, paging) in scenarios {
        let groups = if what.starts_with('*') { 150 } else { 20 };
        let mock = MockServer::builder().seed(18).users(777).groups(groups).start().await;
        mock.faults().churn(churn.clone()).paging(paging);
        let outcome = sync_once(&mock, 1).await?;
        let requests = mock.journal().len();
        // The same with pages fetched ahead, on a fresh org.
        let again = MockServer::builder().seed(18).users(777).groups(groups).start().await;
        again.faults().churn(churn).paging(paging);
        let concurrent = sync_once(&again, DEFAULT_IN_FLIGHT).await?;
        ahead.push((what, again.journal().len(), concurrent));
        match outcome {
            Ok(r) => println!(
                "{what:<62} | {requests:>8} {:>6} {:>6} {:>6} | ok: {} users, {} read by id, {} memberships left out",
                r.users_paging.walks,
                r.users_paging.shifts,
                r.users_paging.rereads,
                r.users,
                r.members_fetched,
                r.memberships_dropped
            ),
            Err(e) => {
                let short: String = e.chars().take(110).collect();
                println!(
                    "{what:<62} | {requests:>8} {:>6} {:>6} {:>6} | error: {short}...",
                    "", "", ""
                );
            }
        }
    }
    println!();
    println!("The same with {DEFAULT_IN_FLIGHT} requests in flight (pages fetched ahead; varies from run to run)");
    println!(
        "{:<62} | {:>8} {:>6} {:>9} | result",
        "what changes during the walk", "requests", "walks", "discarded"
    );
    for (what, requests, outcome) in ahead {
        match outcome {
            Ok(r) => println!(
                "{what:<62} | {requests:>8} {:>6} {:>9} | ok: {} users, {} read by id, {} memberships left out",
                r.users_paging.walks,
                r.users_paging.discarded + r.groups_paging.discarded,
                r.users,
                r.members_fetched,
                r.memberships_dropped
            ),
            Err(e) => {
                let short: String = e.chars().take(110).collect();
                println!("{what:<62} | {requests:>8} {:>6} {:>9} | error: {short}...", "", "");
            }
        }
    }
    Ok(())
}
