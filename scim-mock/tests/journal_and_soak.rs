//! The journal's bounds, and a soak of the standalone emulation: several clients send mixed
//! traffic (reads, writes, bad input, half-megabyte bodies, injected 5xx) for a bounded time
//! while the server's resident memory is sampled. Every answer must be well-formed JSON, the
//! ground truth consistent at the end, and memory flat once the journal is full. The figures are
//! printed (the README keeps them); the memory bound asserted is a loose one, far from noise.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use notion_scim_mock::{JournalLimits, MockServer};
use serde_json::{json, Value};

const TOKEN: &str = "secret_soak_token";

#[tokio::test]
async fn the_journal_keeps_the_newest_within_its_byte_bound() {
    let mock = MockServer::builder()
        .seed(2)
        .users(20)
        .groups(2)
        .journal_max_bytes(1 << 20)
        .start()
        .await;
    let client = reqwest::Client::new();
    let big = "x".repeat(300 * 1024);
    for i in 0..10 {
        let r = client
            .post(format!("{}/Users", mock.base_url()))
            .bearer_auth(mock.token())
            .header("content-type", "application/scim+json")
            .body(format!(
                "{{\"userName\": \"big{i}@example.com\", \"title\": \"{big}\"}}"
            ))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_client_error() || r.status().is_success());
    }
    let status = mock.journal_status();
    assert!(status.bytes <= 1 << 20, "{status:?}");
    assert!(status.dropped >= 7, "{status:?}");
    let journal = mock.journal();
    assert_eq!(journal.last().unwrap().seq, 10, "the newest entry is kept");
    assert_eq!(journal.len() as u64 + status.dropped, 10);

    // The admin API: the status, the dropped count on the journal itself, new limits.
    let admin = mock.admin_url();
    let r = client.get(format!("{admin}/journal")).send().await.unwrap();
    assert_eq!(r.headers()["x-journal-dropped"], status.dropped.to_string().as_str());
    let r: Value = client
        .put(format!("{admin}/journal/limits"))
        .json(&json!({"max_entries": 2, "max_bytes": 10_000_000}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["entries"], 2);
    assert_eq!(r["limits"]["max_entries"], 2);
    let bad = client
        .put(format!("{admin}/journal/limits"))
        .json(&json!({"max_entries": "many"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    mock.set_journal_limits(JournalLimits::default());
}

/// Resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[derive(Default)]
struct Tally {
    requests: AtomicU64,
    broken: AtomicU64,
}

/// One client's loop: a mix of every kind of request until `until`.
async fn client_loop(
    base: String,
    worker: u64,
    until: Instant,
    tally: Arc<Tally>,
    users: Vec<String>,
    groups: Vec<String>,
) {
    let http = reqwest::Client::new();
    let big = "y".repeat(470_000);
    let mut n = 0u64;
    while Instant::now() < until {
        n += 1;
        let pick = |v: &Vec<String>| v[(n as usize * 7 + worker as usize) % v.len()].clone();
        let email = format!("soak{worker}-{n}@example.com");
        let (method, path, body): (&str, String, Option<String>) = match n % 10 {
            0 | 1 => ("GET", format!("Users?startIndex={}&count=100", 1 + (n % 3) * 100), None),
            2 => ("GET", "Groups".into(), None),
            3 => ("GET", format!("Users/{}", pick(&users)), None),
            4 => (
                "POST",
                "Users".into(),
                Some(json!({"userName": email, "name": {"formatted": "Soak Person"}}).to_string()),
            ),
            5 => (
                "PATCH",
                format!("Groups/{}", pick(&groups)),
                Some(
                    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                        "Operations": [{"op": "add", "path": "members", "value": [{"value": pick(&users)}]}]})
                    .to_string(),
                ),
            ),
            6 => ("POST", "Users".into(), Some("{not json".into())),
            7 => ("GET", "Users?filter=userName%20co%20%22x%22".into(), None),
            // Rejected (userName must be a string): only the journal would keep these bodies.
            8 => (
                "POST",
                "Users".into(),
                Some(format!("{{\"userName\": {n}, \"title\": \"{big}\"}}")),
            ),
            _ => ("GET", "Nothing/here".into(), None),
        };
        let mut req = http
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{base}/{path}"),
            )
            .bearer_auth(TOKEN);
        if let Some(b) = body {
            req = req.header("content-type", "application/scim+json").body(b);
        }
        tally.requests.fetch_add(1, Ordering::Relaxed);
        let well_formed = match req.send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                let text = r.text().await.unwrap_or_default();
                (status == 204 && text.is_empty()) || serde_json::from_str::<Value>(&text).is_ok()
            }
            Err(_) => false,
        };
        if !well_formed {
            tally.broken.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_memory_stays_flat_and_the_truth_consistent() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let journal_max = 4u64 << 20;
    let mut server = Command::new(env!("CARGO_BIN_EXE_notion-scim-mock"))
        .args([
            "serve", "--addr", &addr, "--users", "300", "--groups", "20", "--token", TOKEN,
        ])
        .args(["--journal-max-bytes", &journal_max.to_string(), "--log-level", "warn"])
        .args(["--fault-random", "seed=3,probability=0.05,kinds=503|529"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = server.id();
    let base = format!("http://{addr}/scim/v2");
    let admin = format!("http://{addr}/__admin");
    let http = reqwest::Client::new();
    let started = Instant::now();
    let truth: Value = loop {
        if let Ok(r) = http.get(format!("{admin}/truth")).send().await {
            break r.json().await.unwrap();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the emulation did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let ws = &truth["workspaces"][0];
    let owners: HashSet<&str> = ws["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["creator"].as_str())
        .collect();
    let users: Vec<String> = ws["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|u| u["id"].as_str())
        .filter(|id| !owners.contains(id))
        .map(str::to_string)
        .collect();
    let groups: Vec<String> = ws["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|g| g["id"].as_str().map(str::to_string))
        .collect();

    let rss_start = rss_kib(pid);
    let soak = Duration::from_secs(8);
    let until = Instant::now() + soak;
    let tally = Arc::new(Tally::default());
    let workers: Vec<_> = (0..4)
        .map(|w| {
            tokio::spawn(client_loop(
                base.clone(),
                w,
                until,
                tally.clone(),
                users.clone(),
                groups.clone(),
            ))
        })
        .collect();
    // Samples: once the journal is full, memory must stop growing with it.
    let mut samples = Vec::new();
    let mut full_at = None;
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let status: Value = http
            .get(format!("{admin}/journal/status"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let rss = rss_kib(pid);
        if full_at.is_none() && status["dropped"].as_u64().unwrap_or(0) > 0 {
            full_at = Some(samples.len());
        }
        samples.push((rss, status["bytes"].as_u64().unwrap_or(0)));
    }
    for w in workers {
        w.await.unwrap();
    }
    let requests = tally.requests.load(Ordering::Relaxed);
    let broken = tally.broken.load(Ordering::Relaxed);

    // The truth stays consistent: every group member is a workspace member, no userName twice.
    let truth: Value = http
        .get(format!("{admin}/truth"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ws = &truth["workspaces"][0];
    let members: HashSet<&str> = ws["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|u| u["id"].as_str())
        .collect();
    let names: Vec<&str> = ws["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|u| u["user_name"].as_str())
        .collect();
    let unique: HashSet<&&str> = names.iter().collect();
    let dangling: Vec<&str> = ws["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["members"].as_array().unwrap().iter().filter_map(Value::as_str))
        .filter(|m| !members.contains(m))
        .collect();
    let _ = server.kill();
    let _ = server.wait();

    let full_at = full_at.expect("the journal never filled: the soak proves nothing");
    let rss_full = samples[full_at].0;
    let rss_peak_after = samples[full_at..].iter().map(|s| s.0).max().unwrap_or(rss_full);
    let rss_end = samples.last().map_or(0, |s| s.0);
    eprintln!(
        "soak: {requests} requests in {:.0}s by 4 clients ({:.0}/s), {broken} not well-formed; RSS {} MiB at start, \
         {} MiB when the journal filled ({:.1}s in), peak {} MiB after, {} MiB at the end; journal cap {} MiB",
        soak.as_secs_f64(),
        requests as f64 / soak.as_secs_f64(),
        rss_start / 1024,
        rss_full / 1024,
        full_at as f64 * 0.25,
        rss_peak_after / 1024,
        rss_end / 1024,
        journal_max >> 20
    );
    eprintln!(
        "RSS samples (MiB, every 250 ms): {:?}",
        samples.iter().map(|s| s.0 / 1024).collect::<Vec<_>>()
    );
    assert_eq!(broken, 0, "answers that were not well-formed");
    assert!(dangling.is_empty(), "group members outside the workspace: {dangling:?}");
    assert_eq!(names.len(), unique.len(), "a userName twice");
    // Loose: growth after the journal filled stays far below what keeping every body would
    // take (hundreds of megabytes at this rate).
    assert!(
        rss_peak_after < rss_full + 48 * 1024,
        "memory kept growing after the journal filled: {} -> {} MiB",
        rss_full / 1024,
        rss_peak_after / 1024
    );
}
