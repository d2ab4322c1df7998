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
    if std::env::args().skip(1).any(|a| a.starts_with('-')) {
        println!("usage: demo [PATH [USERS [GROUPS]]]   (defaults: demo.c1z 2000 60)");
        return Ok(());
    }
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
    // Ids, not only counts: every user, group and grant the truth implies must be there.
    let ids = |keys: Vec<String>| keys.into_iter().collect::<std::collections::BTreeSet<String>>();
    let want_resources = ids(truth
        .users
        .iter()
        .map(|u| format!("user:{}", u.id))
        .chain(truth.groups.iter().map(|g| format!("group:{}", g.id)))
        .chain(["owner", "membership_admin", "member", "restricted_member"].map(|r| format!("role:{r}")))
        .collect());
    let got_resources = ids(resources
        .iter()
        .filter_map(|r| r.id.as_ref().map(|i| format!("{}:{}", i.resource_type, i.resource)))
        .collect());
    let want_grants = ids(truth
        .users
        .iter()
        .map(|u| format!("role:{}:assigned:user:{}", u.effective_role().as_str(), u.id))
        .chain(
            truth
                .memberships()
                .into_iter()
                .map(|(g, u)| format!("group:{g}:member:user:{u}")),
        )
        .collect());
    let got_grants = ids(grants.iter().map(|g| g.id.clone()).collect());
    let missing = want_resources.difference(&got_resources).count() + want_grants.difference(&got_grants).count();
    let extra = got_resources.difference(&want_resources).count() + got_grants.difference(&want_grants).count();
    println!(
        "ground truth: {} resources, {} grants expected -> {}",
        want_resources.len(),
        want_grants.len(),
        if missing + extra == 0 {
            "match".to_string()
        } else {
            format!("MISMATCH: {missing} missing, {extra} unexpected")
        }
    );
    if missing + extra > 0 {
        anyhow::bail!("the file does not match the ground truth");
    }
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
