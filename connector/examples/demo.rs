//! The quick start: a full sync of a seeded Notion Enterprise workspace, served by the embedded
//! emulation over real HTTP on loopback, into a real c1z file, then read back.
//!
//! `cargo run --release -p baton-notion --example demo [-- PATH [USERS [GROUPS]]]`
//! (defaults: `demo.c1z`, 2,000 members, 60 groups). No server to start, no token to find.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use baton_notion::c1z::C1zReader;
use baton_notion::progress::Progress;
use baton_notion::scim::client::{ClientConfig, ScimClient};
use baton_notion::secret::Secret;
use baton_notion::sync::{self, SyncOptions};
use notion_scim_mock::MockServer;

fn arg<T: std::str::FromStr>(n: usize, default: T) -> anyhow::Result<T> {
    match std::env::args().nth(n) {
        Some(v) => v
            .parse()
            .map_err(|_| anyhow::anyhow!("argument {n} ({v:?}) is not valid")),
        None => Ok(default),
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let path: PathBuf = arg(1, PathBuf::from("demo.c1z"))?;
    let users: usize = arg(2, 2_000)?;
    let groups: usize = arg(3, 60)?;

    let mock = MockServer::builder().seed(7).users(users).groups(groups).start().await;
    let truth = mock.truth();
    println!(
        "embedded Notion SCIM emulation at {} ({} members, {} groups, {} guests never visible)",
        mock.base_url(),
        truth.users.len(),
        truth.groups.len(),
        truth.guests.len()
    );

    let mut config = ClientConfig::new(mock.base_url(), Secret::new(mock.token()));
    config.requests_per_minute = 0; // the emulation has no rate limit unless asked
    let client = ScimClient::new(config)?;
    let started = Instant::now();
    let report = sync::run(&client, &path, &SyncOptions::default(), &Progress::for_stderr())
        .await
        .with_context(|| format!("sync into {} failed", path.display()))?;
    println!(
        "synced {} users, {} groups, {} memberships into {} in {:.2} s with {} requests ({} retries); sync id {}",
        report.users,
        report.groups,
        report.memberships,
        path.display(),
        started.elapsed().as_secs_f64(),
        report.requests,
        report.retries,
        report.summary.sync_id
    );

    let reader = C1zReader::open(&path)?;
    let resources = reader.resources(None)?;
    let entitlements = reader.entitlements(None)?;
    let grants = reader.grants(None)?;
    println!(
        "read back: {} resources, {} entitlements, {} grants in {} sync run(s); {} bytes",
        resources.len(),
        entitlements.len(),
        grants.len(),
        reader.sync_runs()?.len(),
        std::fs::metadata(&path)?.len()
    );
    let expected_grants = truth.users.len() + truth.memberships().len();
    println!(
        "ground truth: {} users, {} groups, {} grants expected -> {}",
        truth.users.len(),
        truth.groups.len(),
        expected_grants,
        if grants.len() == expected_grants && report.users as usize == truth.users.len() {
            "match"
        } else {
            "MISMATCH"
        }
    );
    for r in resources
        .iter()
        .filter(|r| r.id.as_ref().is_some_and(|i| i.resource_type == "user"))
        .take(3)
    {
        let id = r.id.as_ref().map(|i| i.resource.as_str()).unwrap_or_default();
        println!("  user {id}  {}", r.display_name);
    }
    println!("next: the baton-notion binary against a standalone emulation (README, \"The connector\")");
    Ok(())
}
