//! Service mode at scale: a 100,000-member org (the embedded emulation), the fake ConductorOne
//! and the connector binary in service mode. Prints the time from the sync task being handed
//! out to its FinishTask, the bytes uploaded and the connector's peak memory, each next to a
//! one-shot sync of the same org by this repository's `baton-notion` (the peer; `--peer PATH`
//! for another binary): service mode should add little to a sync.
//!
//! ```sh
//! cargo build --release -p baton-notion
//! cargo run --release -p notion-conformance --example service_bench -- [--users 100000] [--groups 2000] \
//!   [--connector PATH] [--peer PATH]
//! ```

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use notion_conformance::connector::Connector;
use notion_conformance::fake_c1::{Call, TaskSpec};
use notion_conformance::suites::service::{connector_binary, Stage};
use notion_conformance::target::Lab;
use notion_scim_mock::{Quirks, SeedSpec};

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

/// Peak resident memory (VmHWM) of a live process, in KiB.
fn peak_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or("n/a".into(), |k| format!("{:.0} MiB", k as f64 / 1024.0))
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let users: usize = arg(&args, "--users").map_or(Ok(100_000), |v| v.parse())?;
    let groups: usize = arg(&args, "--groups").map_or(Ok(2_000), |v| v.parse())?;
    let connector = match arg(&args, "--connector") {
        Some(p) => Connector::Binary(PathBuf::from(p)),
        None => Connector::InProcess,
    };
    let binary = connector_binary(&connector)?;
    let peer = match arg(&args, "--peer") {
        Some(p) => PathBuf::from(p),
        None => connector_binary(&Connector::InProcess)?,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(bench(users, groups, &binary, &peer))
}

async fn bench(users: usize, groups: usize, binary: &Path, peer: &Path) -> anyhow::Result<()> {
    let lab: &'static Lab = Box::leak(Box::new(Lab::embedded()));
    let spec = SeedSpec {
        seed: 7,
        users,
        groups,
        ..SeedSpec::default()
    };
    let seeded = Instant::now();
    let env = lab.org(spec, Quirks::default()).await?;
    println!(
        "service_bench: {users} members, {groups} groups seeded in {:.2}s; connector {}",
        seeded.elapsed().as_secs_f64(),
        binary.display()
    );
    let stage = Stage::new(env).await?;
    // Heartbeats every 5 s, as a real deployment might see them; fast polling.
    stage.fake.update_faults(|f| {
        f.next_poll_ms = 50;
        f.next_heartbeat_ms = 5000;
    });
    let mut daemon = stage.daemon(binary, false, None).await?;
    let pid = daemon.pid().context("the daemon has no pid")?;
    let ready = stage
        .fake
        .wait_for(Duration::from_secs(30), |calls| {
            calls
                .iter()
                .any(|r| matches!(r.call, Call::GetTask { .. } | Call::GetTasks { .. }))
        })
        .await;
    if !ready {
        let exit = daemon.terminate(Duration::from_secs(5)).await;
        bail!("the daemon never polled for a task: {}", exit.tail());
    }
    let idle_peak = peak_kib(pid);
    let id = stage.fake.queue(TaskSpec::SyncFull {
        storage_engine: "sqlite".into(),
        debug: false,
    })?;
    let deadline = Instant::now() + Duration::from_secs(900);
    let finish = loop {
        if let Some(f) = stage.fake.task(&id).and_then(|t| t.finish) {
            break f;
        }
        if let Some(exit) = daemon.exited_within(Duration::from_millis(100)).await {
            bail!("the daemon exited during the sync: {}", exit.tail());
        }
        if Instant::now() > deadline {
            bail!("the sync task did not finish within 900 s");
        }
    };
    let peak = peak_kib(pid);
    let info = stage.fake.task(&id).context("the task vanished")?;
    let handed = info.handed_at_ms.unwrap_or_default();
    let finished = info.finished_at_ms.unwrap_or_default();
    let uploads = stage.fake.take_uploads(&id);
    let uploaded: u64 = uploads.iter().map(|u| u.size).sum();
    let heartbeats = stage
        .fake
        .calls()
        .iter()
        .filter(|r| matches!(&r.call, Call::Heartbeat { task_id, .. } if *task_id == id))
        .count();
    let exit = daemon.terminate(Duration::from_secs(10)).await;
    if !finish.success {
        bail!("the sync task failed: {} {}", finish.code, finish.message);
    }

    // The peer: a one-shot sync of the same org.
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("one-shot.c1z");
    let mut cmd = tokio::process::Command::new(peer);
    cmd.args([
        "--base-url",
        stage.env.base_url(),
        "-f",
        &file.display().to_string(),
        "--log-level",
        "warn",
    ])
    .env("BATON_SCIM_TOKEN", stage.env.scim_token())
    .env_remove("BATON_CLIENT_ID")
    .current_dir(dir.path())
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .kill_on_drop(true);
    let started = Instant::now();
    let mut child = cmd.spawn().context("cannot start the one-shot sync")?;
    let child_pid = child.id().unwrap_or_default();
    let mut one_shot_peak = None;
    let status = loop {
        if let Some(k) = peak_kib(child_pid) {
            one_shot_peak = Some(k);
        }
        if let Ok(Ok(status)) = tokio::time::timeout(Duration::from_millis(10), child.wait()).await {
            break status;
        }
    };
    let one_shot = started.elapsed();
    if !status.success() {
        bail!("the one-shot sync failed: {status}");
    }
    let one_shot_bytes = std::fs::metadata(&file).map(|m| m.len()).unwrap_or_default();

    let service_s = finished.saturating_sub(handed) as f64 / 1000.0;
    println!();
    println!("peer: {}", peer.display());
    println!("| what | service mode | one-shot sync (peer) |");
    println!("|---|---|---|");
    println!(
        "| task handed out to FinishTask / wall time | {service_s:.2} s ({heartbeats} heartbeat(s)) | {:.2} s ({:.2}x) |",
        one_shot.as_secs_f64(),
        service_s / one_shot.as_secs_f64().max(0.001)
    );
    println!(
        "| bytes uploaded / c1z written | {uploaded} ({:.1} MiB, {} file(s)) | {one_shot_bytes} ({:.1} MiB) |",
        uploaded as f64 / 1048576.0,
        uploads.len(),
        one_shot_bytes as f64 / 1048576.0
    );
    println!(
        "| connector peak memory (VmHWM) | {} (idle before the task: {}) | {} (sampled every 10 ms) |",
        mib(peak),
        mib(idle_peak),
        mib(one_shot_peak)
    );
    println!(
        "daemon after SIGTERM: {}",
        exit.code.map_or("killed".into(), |c| format!("exit {c}"))
    );
    Ok(())
}
