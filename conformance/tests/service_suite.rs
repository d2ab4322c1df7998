//! The service suite and the standalone fake ConductorOne through the `notion-conformance`
//! binary: the suite against a minimal service-mode connector (`broken_service_connector`)
//! with no defect (every case it can pass passes; the provisioning case, which that connector
//! does not implement, fails saying so) and with each defect (caught, with a message naming
//! it); and `notion-conformance fake-c1` served and driven from the command line.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const RUNNER: &str = env!("CARGO_BIN_EXE_notion-conformance");

/// The example connector, built beside the runner (a narrow `cargo test` builds it here).
fn service_connector() -> PathBuf {
    let path = Path::new(RUNNER)
        .parent()
        .unwrap()
        .join("examples")
        .join("broken_service_connector");
    if !path.is_file() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "-p",
                "notion-conformance",
                "--example",
                "broken_service_connector",
            ])
            .status()
            .unwrap();
        assert!(status.success(), "building broken_service_connector failed");
    }
    path
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn suite(defect: &str) -> (Option<i32>, String) {
    let connector = service_connector();
    let out = Command::new(RUNNER)
        .args(["run", "--suite", "service", "--connector", connector.to_str().unwrap()])
        .env("BROKEN_SERVICE_DEFECT", defect)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (out.status.code(), text(&out))
}

/// The table row of a case: (result, note).
fn row<'a>(report: &'a str, case: &str) -> (&'a str, &'a str) {
    let line = report
        .lines()
        .find(|l| l.split_whitespace().take(2).eq(["service", case]))
        .unwrap_or_else(|| panic!("no row for {case}:\n{report}"));
    let mut parts = line.split_whitespace();
    let result = parts.nth(2).unwrap();
    let note_at = line.find(result).unwrap() + result.len();
    (result, line[note_at..].trim_start())
}

#[test]
fn a_service_mode_connector_without_a_defect_passes_what_it_implements() {
    let (code, report) = suite("none");
    assert_eq!(code, Some(1), "{report}");
    for case in [
        "sync",
        "refused-secret",
        "unavailable-recovery",
        "upload-retry",
        "heartbeat-cancel",
        "unsupported-task",
        "no-provisioning",
        "sigterm",
    ] {
        assert_eq!(row(&report, case).0, "pass", "{case}:\n{report}");
    }
    let (result, note) = row(&report, "provisioning");
    assert_eq!(result, "FAIL");
    assert!(note.contains("grant task finished with error"), "{note}");
    assert!(report.contains("conformance: 8 passed, 1 failed"), "{report}");
    // The sync's upload went through the oracle.
    assert!(row(&report, "sync").1.contains("48 resources"), "{report}");
}

#[test]
fn each_service_mode_defect_is_caught_with_what_differed() {
    let (_, report) = suite("finish-without-upload");
    let (result, note) = row(&report, "sync");
    assert_eq!(result, "FAIL");
    assert!(note.contains("no upload kept for the sync task"), "{note}");

    let (_, report) = suite("ignore-cancel");
    let (result, note) = row(&report, "heartbeat-cancel");
    assert_eq!(result, "FAIL");
    assert!(note.contains("cancelled sync task was finished as a success"), "{note}");

    let (_, report) = suite("success-for-unsupported");
    let (result, note) = row(&report, "unsupported-task");
    assert_eq!(result, "FAIL");
    assert!(note.contains("event_feed task was finished as a success"), "{note}");
    let (result, note) = row(&report, "no-provisioning");
    assert_eq!(result, "FAIL");
    assert!(
        note.contains("without -p a grant task was finished as a success"),
        "{note}"
    );
}

#[test]
fn the_standalone_fake_prints_what_a_connector_needs_and_takes_tasks_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    let mut fake = Command::new(RUNNER)
        .args(["fake-c1", "--ca-out", ca.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(fake.stdout.take().unwrap()).lines();
    let mut banner = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let done = line.contains("Ctrl-C");
        banner.push(line);
        if done {
            break;
        }
    }
    let banner = banner.join("\n");
    let value = |prefix: &str| {
        banner
            .lines()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no {prefix}:\n{banner}"))
            .trim()
            .to_string()
    };
    let admin = value("fake-c1: admin API on ");
    let host = value("export BATON_C1_API_HOST=");
    assert!(host.starts_with("127.0.0.1:"), "{banner}");
    assert!(value("export BATON_CLIENT_ID=").ends_with(&format!("@localhost:{}/pcc", &host[10..])));
    assert!(value("export BATON_CLIENT_SECRET=").starts_with("secret-token:conductorone.com:v1:"));
    assert_eq!(value("export SSL_CERT_FILE="), ca.to_str().unwrap());
    assert!(std::fs::read_to_string(&ca).unwrap().contains("BEGIN CERTIFICATE"));

    let cli = |args: &[&str]| {
        Command::new(RUNNER)
            .arg("fake-c1")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let queued = cli(&["task", "--admin", &admin, "sync", "--storage-engine", "sqlite"]);
    assert!(queued.status.success(), "{}", text(&queued));
    let id = String::from_utf8_lossy(&queued.stdout).trim().to_string();
    assert_eq!(id.len(), 27, "{id}");
    let tasks = cli(&["tasks", "--admin", &admin]);
    let listed = String::from_utf8_lossy(&tasks.stdout).to_string();
    assert!(
        listed.contains(&id) && listed.contains("\"storage_engine\": \"sqlite\""),
        "{listed}"
    );
    let bad = cli(&["task", "--admin", &admin, "grant", "no-colons", "u1"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad).contains("<type>:<id>:<slug>"), "{}", text(&bad));
    let faults = cli(&["faults", "--admin", &admin, r#"{"unavailable": 2}"#]);
    assert!(
        String::from_utf8_lossy(&faults.stdout).contains("\"unavailable\":2"),
        "{}",
        text(&faults)
    );
    let calls = cli(&["calls", "--admin", &admin]);
    assert!(calls.status.success() && calls.stdout.is_empty(), "{}", text(&calls));

    let _ = Command::new("kill").args(["-TERM", &fake.id().to_string()]).status();
    let status = fake.wait().unwrap();
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(status.success(), "{}", rest.join("\n"));
    assert!(rest.iter().any(|l| l.contains("stopped after 0 call(s)")), "{rest:?}");
}
