//! Seeding and serving figures for the README: `cargo bench -p notion-scim-mock`.
//!
//! Prints, for a 100,000-member, 5,000-group org: the time and memory to seed it, and the list
//! pages served per second over keep-alive connections on loopback for `GET /Users?count=100`
//! and `GET /Groups?count=100`. Figures only: nothing here asserts a time.
//!
//! Environment: `BENCH_USERS`, `BENCH_GROUPS`, `BENCH_SECONDS`, `BENCH_CONNECTIONS` override the
//! defaults (100000, 5000, 5, 4).

#![allow(clippy::expect_used, clippy::panic)] // a benchmark: any failure should stop it loudly

use std::time::{Duration, Instant};

use notion_scim_mock::{MockServer, SeedSpec};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A field of /proc/self/status in KiB (VmRSS, VmHWM), 0 where unavailable.
fn proc_status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

async fn pages_per_second(
    mock: &MockServer,
    resource: &str,
    total: usize,
    seconds: u64,
    connections: usize,
) -> (f64, u64) {
    let pages = total.div_ceil(100).max(1);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for c in 0..connections {
        let url = format!("{}/{resource}", mock.base_url());
        let token = mock.token().to_string();
        tasks.push(tokio::spawn(async move {
            // One client per task: one keep-alive connection each.
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()
                .expect("client");
            let (mut served, mut bytes) = (0u64, 0u64);
            let mut page = c;
            while Instant::now() < deadline {
                let start = (page % pages) * 100 + 1;
                let resp = client
                    .get(&url)
                    .query(&[("startIndex", start.to_string()), ("count", "100".to_string())])
                    .bearer_auth(&token)
                    .send()
                    .await
                    .expect("request");
                assert!(resp.status().is_success(), "status {}", resp.status());
                bytes += resp.bytes().await.expect("body").len() as u64;
                served += 1;
                page += connections;
            }
            (served, bytes)
        }));
    }
    let started = Instant::now();
    let mut served = 0;
    let mut bytes = 0;
    for t in tasks {
        let (s, b) = t.await.expect("task");
        served += s;
        bytes += b;
    }
    (served as f64 / started.elapsed().as_secs_f64(), bytes / served.max(1))
}

fn main() {
    let users = env_or("BENCH_USERS", 100_000);
    let groups = env_or("BENCH_GROUPS", 5_000);
    let seconds = env_or("BENCH_SECONDS", 5) as u64;
    let connections = env_or("BENCH_CONNECTIONS", 4);
    let spec = SeedSpec {
        seed: 42,
        users,
        groups,
        ..SeedSpec::default()
    };

    let rss_before = proc_status_kib("VmRSS:");
    let started = Instant::now();
    let org = notion_scim_mock::generate_org(&spec, None);
    let seed_time = started.elapsed();
    let rss_after = proc_status_kib("VmRSS:");
    let memberships: usize = org.workspaces[0].groups.values().map(|g| g.members.len()).sum();
    println!(
        "seed: {users} members, {groups} groups, {memberships} memberships, {} guests in {:.3} s; resident memory +{:.1} MiB (peak RSS {:.1} MiB)",
        org.workspaces[0].guests.len(),
        seed_time.as_secs_f64(),
        (rss_after.saturating_sub(rss_before)) as f64 / 1024.0,
        proc_status_kib("VmHWM:") as f64 / 1024.0,
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mock = MockServer::builder().org(org).journal_capacity(1_000).start().await;
        for (resource, total) in [("Users", users), ("Groups", groups)] {
            let (rate, avg_bytes) = pages_per_second(&mock, resource, total, seconds, connections).await;
            println!(
                "GET /{resource}?count=100: {rate:.0} pages/s over {connections} keep-alive connections for {seconds} s (average page {:.1} KiB)",
                avg_bytes as f64 / 1024.0
            );
        }
    });
}
