//! Sync a 100,000-member, 2,000-group workspace served by the standalone mock binary and print
//! wall time, CPU time (the emulation's as well), peak memory and requests, beside the same
//! figures for only fetching the pages with the same client (the transfer floor).
//!
//! Run: `cargo bench -p baton-notion --bench sync` (builds `notion-scim-mock` and
//! `baton-notion` in release first; the second and third syncs run the binary).
//! `BENCH_USERS` and `BENCH_GROUPS` change the org size; `BENCH_LATENCY_MS` adds a per-request
//! delay at the mock, standing in for the network to Notion; `BENCH_RUNS` (default 9) sets how
//! many times the floor and the first sync run, interleaved, their medians compared. No figure
//! is asserted: goals are requests = a quiet anchored walk (`pager::pages_for`, about 1% over
//! ceil(n/100) at this size), wall within 1.5x of the floor, peak memory under 150 MB.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use baton_notion::procstat;
use baton_notion::progress::Progress;
use baton_notion::scim::client::pager::pages_for;
use baton_notion::scim::client::{ClientConfig, ScimClient};
use baton_notion::secret::Secret;
use baton_notion::sync::{self, SyncOptions};

const TOKEN: &str = "bench_token_not_a_secret";

/// The allocator of the `baton-notion` binary, so that the in-process sync measures the same.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> anyhow::Result<()> {
    if std::env::var_os("BENCH_LOG").is_some() {
        baton_notion::logging::init("info", baton_notion::config::LogFormat::Console);
    }
    let users: usize = env_or("BENCH_USERS", 100_000);
    let groups: usize = env_or("BENCH_GROUPS", 2_000);
    // A per-request delay at the mock stands in for the network between a connector and Notion.
    let latency_ms: usize = env_or("BENCH_LATENCY_MS", 0);
    let mock = MockProcess::spawn(users, groups, latency_ms)?;
    println!(
        "org: {users} users, {groups} groups, mock latency {latency_ms} ms, mock at {}",
        mock.base_url
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let make_client = || {
        let mut c = ClientConfig::new(mock.base_url.clone(), Secret::new(TOKEN));
        // The figures are about the sync, not the limiter: the ceiling is lifted.
        c.requests_per_minute = 0;
        ScimClient::new(c)
    };

    // Warm the mock (and the page cache) once, then measure.
    let warm = runtime.block_on(fetch_only(&make_client()?, &mock))?;
    println!("warm-up fetch: {:.2}s", warm.wall.as_secs_f64());

    // Interleaved runs of the floor and of a first sync (into a fresh file each time), so that
    // both meet the same moments of this shared machine; medians are compared.
    let runs = env_or("BENCH_RUNS", 9).max(1);
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bench.c1z");
    let mut floors = Vec::with_capacity(runs);
    let mut syncs = Vec::with_capacity(runs);
    for _ in 0..runs {
        floors.push(runtime.block_on(fetch_only(&make_client()?, &mock))?);
        let _ = std::fs::remove_file(&path);
        let client = make_client()?;
        // Peak memory from here on is this sync's own (what came before is forgotten).
        let _ = std::fs::write("/proc/self/clear_refs", "5");
        let cpu0 = procstat::process_cpu_time();
        let mock_cpu0 = mock.cpu_time();
        let t0 = Instant::now();
        let report = runtime.block_on(sync::run(&client, &path, &SyncOptions::default(), &Progress::hidden()))?;
        syncs.push(SyncRun {
            wall: t0.elapsed(),
            cpu: procstat::process_cpu_time().saturating_sub(cpu0),
            mock_cpu: mock.cpu_time().saturating_sub(mock_cpu0),
            peak_mib: peak_rss_mib(),
            report,
        });
    }
    floors.sort_by_key(|f| f.wall);
    syncs.sort_by_key(|s| s.wall);
    let floor = &floors[runs / 2];
    let median = &syncs[runs / 2];
    let report = &median.report;
    let peak = syncs.iter().map(|s| s.peak_mib).fold(0.0, f64::max);
    let ratio = median.wall.as_secs_f64() / floor.wall.as_secs_f64();

    let minimum = users.div_ceil(100).max(1) + groups.div_ceil(100).max(1);
    // Each page after the first overlaps the one before by an item (the pager's anchor against a
    // list that shifts under the walk): what a quiet sync costs, about 1% over `minimum` here.
    let anchored = (pages_for(users as u64, 100) + pages_for(groups as u64, 100)) as usize;
    println!();
    println!("{runs} runs each, interleaved; median (min-max)");
    println!("sync");
    println!(
        "  wall          {:>8.2} s  ({:.2}-{:.2})",
        median.wall.as_secs_f64(),
        syncs[0].wall.as_secs_f64(),
        syncs[runs - 1].wall.as_secs_f64()
    );
    println!(
        "  cpu           {:>8.2} s  (user+system, this process)",
        median.cpu.as_secs_f64()
    );
    print_demand(median.cpu, median.mock_cpu, median.wall);
    println!(
        "  peak memory   {:>8.1} MiB (largest of the runs; VmHWM since just before each sync, whole process)",
        peak
    );
    println!(
        "  requests      {:>8}    (minimum {minimum}, anchored walk {anchored}; retries {})",
        report.requests, report.retries
    );
    println!(
        "  users {} groups {} memberships {} grants {}",
        report.users, report.groups, report.memberships, report.summary.grants
    );
    println!("  c1z           {:>8.1} MiB", report.summary.bytes as f64 / 1048576.0);
    print_breakdown(report);
    println!("transfer floor (same client, pages fetched and parsed, nothing written)");
    println!(
        "  wall          {:>8.2} s  ({:.2}-{:.2})",
        floor.wall.as_secs_f64(),
        floors[0].wall.as_secs_f64(),
        floors[runs - 1].wall.as_secs_f64()
    );
    println!("  cpu           {:>8.2} s", floor.cpu.as_secs_f64());
    print_demand(floor.cpu, floor.mock_cpu, floor.wall);
    println!("  requests      {:>8}", floor.requests);
    println!("ratio sync/floor wall, medians: {ratio:.2}x (goal <= 1.5x)");
    // Later syncs into the file the first one wrote, each by the `baton-notion` binary in its own
    // process, as a user runs them: the second adds a run and keeps both, the third removes the
    // oldest and compacts the file. Figures from the binary's own final log line.
    // `BENCH_RESYNCS=0` skips these (e.g. when profiling the first sync).
    let resyncs: usize = env_or("BENCH_RESYNCS", 2);
    for (n, what) in [
        (1, "second sync into the existing file (keeps both runs)"),
        (2, "third sync (removes the oldest run)"),
    ] {
        if resyncs < n {
            break;
        }
        let run = cli_sync(&mock.base_url, &path)?;
        println!("{what}");
        println!("  wall          {:>8.2} s (the whole process)", run.wall.as_secs_f64());
        println!("  peak memory   {:>8} MiB (VmHWM of the process)", run.peak_mib);
        println!("  c1z           {:>8.1} MiB", run.bytes as f64 / 1048576.0);
    }
    println!(
        "goals: requests {} | wall {} | memory {}",
        if syncs.iter().all(|s| s.report.requests as usize == anchored) {
            "met"
        } else {
            "MISSED"
        },
        if ratio <= 1.5 { "met" } else { "MISSED" },
        if peak < 150.0 { "met" } else { "MISSED" }
    );
    Ok(())
}

/// The emulation's CPU time beside the client's, and what both ask of this machine's cores: on
/// `n` cores no run can take less wall time than (client CPU + mock CPU) / n.
fn print_demand(cpu: Duration, mock_cpu: Duration, wall: Duration) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let both = (cpu + mock_cpu).as_secs_f64();
    println!(
        "  mock cpu      {:>8.2} s  (the emulation's process); both {both:.2} s = {:.0}% of {cores} cores \
         over the wall time; no faster than {:.2} s on {cores} cores",
        mock_cpu.as_secs_f64(),
        100.0 * both / (cores as f64 * wall.as_secs_f64()),
        both / cores as f64
    );
}

/// Where the write half spent the sync.
fn print_breakdown(report: &sync::SyncReport) {
    let f = &report.summary.finish;
    println!(
        "  writer        {:>8.2} s rows as pages arrive ({:.2} s of it waiting for pages, {:.2} s CPU), {:.2} s finish",
        report.write_load.as_secs_f64(),
        report.write_waited.as_secs_f64(),
        report.write_load_cpu.as_secs_f64(),
        report.write_finish.as_secs_f64()
    );
    println!(
        "  finish        {:>8.2} s last table pages and the indexes (sorted, written, compressed), \
         {:.2} s end of the zstd stream, page 1, fsync, rename; {:.1} MiB of SQLite",
        f.index.as_secs_f64(),
        f.publish.as_secs_f64(),
        f.db_bytes as f64 / 1048576.0
    );
}

struct SyncRun {
    wall: Duration,
    cpu: Duration,
    /// CPU time the emulation spent serving this run.
    mock_cpu: Duration,
    peak_mib: f64,
    report: sync::SyncReport,
}

struct Fetch {
    wall: Duration,
    cpu: Duration,
    /// CPU time the emulation spent serving this run.
    mock_cpu: Duration,
    requests: u64,
}

struct CliRun {
    wall: Duration,
    peak_mib: u64,
    bytes: u64,
}

/// One sync by the `baton-notion` binary into `path`; its figures from the final JSON log line.
fn cli_sync(base_url: &str, path: &std::path::Path) -> anyhow::Result<CliRun> {
    let bin = release_binary("baton-notion", "baton-notion")?;
    let t0 = Instant::now();
    let out = Command::new(bin)
        .args([
            "--scim-token",
            TOKEN,
            "--base-url",
            base_url,
            "--requests-per-minute",
            "1000000",
        ])
        .args(["--log-format", "json", "-f"])
        .arg(path)
        .output()?;
    let wall = t0.elapsed();
    anyhow::ensure!(
        out.status.success(),
        "baton-notion failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["message"] == "sync finished")
        .ok_or_else(|| anyhow::anyhow!("no 'sync finished' line from baton-notion"))?;
    Ok(CliRun {
        wall,
        peak_mib: last["peak_memory_mib"].as_u64().unwrap_or(0),
        bytes: last["bytes"].as_u64().unwrap_or(0),
    })
}

/// The floor: walk both lists with the same pager, dropping each page.
async fn fetch_only(client: &ScimClient, mock: &MockProcess) -> anyhow::Result<Fetch> {
    let cpu0 = procstat::process_cpu_time();
    let mock_cpu0 = mock.cpu_time();
    let t0 = Instant::now();
    let mut users = client.users();
    while let Some(page) = users.next_page().await? {
        std::hint::black_box(page);
    }
    let mut groups = client.groups();
    while let Some(page) = groups.next_page().await? {
        std::hint::black_box(page);
    }
    Ok(Fetch {
        wall: t0.elapsed(),
        cpu: procstat::process_cpu_time().saturating_sub(cpu0),
        mock_cpu: mock.cpu_time().saturating_sub(mock_cpu0),
        requests: client.stats().requests,
    })
}

/// The standalone mock, killed on drop.
struct MockProcess {
    child: Child,
    base_url: String,
}

impl MockProcess {
    fn spawn(users: usize, groups: usize, latency_ms: usize) -> anyhow::Result<Self> {
        let bin = release_binary("notion-scim-mock", "notion-scim-mock")?;
        let mut child = Command::new(&bin)
            .args(["serve", "--addr", "127.0.0.1:0", "--token", TOKEN, "--seed", "1"])
            .args([
                "--users",
                &users.to_string(),
                "--groups",
                &groups.to_string(),
                "--log-level",
                "error",
            ])
            .args(["--latency-ms", &latency_ms.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow::anyhow!("no stdout from the mock"))?;
        let mut lines = BufReader::new(stdout).lines();
        let base_url = loop {
            match lines.next() {
                Some(line) => {
                    let line = line?;
                    if let Some(url) = line.strip_prefix("notion-scim-mock listening on ") {
                        break url.trim().to_owned();
                    }
                }
                None => {
                    let _ = child.kill();
                    anyhow::bail!("the mock exited before listening");
                }
            }
        };
        // Keep draining its stdout so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Ok(Self { child, base_url })
    }

    /// CPU time the emulation's process has used so far.
    fn cpu_time(&self) -> Duration {
        procstat::process_cpu_time_of(self.child.id())
    }
}

impl Drop for MockProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Builds (a no-op when up to date, so a stale binary is never measured) and locates a release
/// binary of this workspace.
fn release_binary(package: &str, bin: &str) -> anyhow::Result<PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("target"));
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "--quiet", "-p", package, "--bin", bin])
        .status()?;
    anyhow::ensure!(status.success(), "cargo build of {package} failed");
    Ok(target.join("release").join(bin))
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Peak resident memory of this process in MiB (VmHWM), with decimals.
fn peak_rss_mib() -> f64 {
    procstat::peak_memory_kib().map_or(0.0, |kib| kib as f64 / 1024.0)
}
