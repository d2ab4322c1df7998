//! The `notion-conformance` binary end to end: the binary-connector path (`--connector` at this
//! repository's built `baton-notion`), a `--target` run against the standalone emulation, the
//! reports, bad command lines, an interruption, and deliberately broken connectors that the
//! suites must catch, each with a message that says what differed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const RUNNER: &str = env!("CARGO_BIN_EXE_notion-conformance");

/// A binary of this workspace, built beside the runner: `cargo test --workspace` builds them
/// all; a narrower `cargo test` builds the missing one here.
fn workspace_binary(package: &str, target: &str, example: bool) -> PathBuf {
    let dir = Path::new(RUNNER).parent().unwrap();
    let path = if example {
        dir.join("examples").join(target)
    } else {
        dir.join(target)
    };
    if !path.is_file() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let kind = if example { "--example" } else { "--bin" };
        let status = Command::new(cargo)
            .args(["build", "-p", package, kind, target])
            .status()
            .unwrap();
        assert!(status.success(), "building {target} failed");
    }
    assert!(path.is_file(), "{} was not built", path.display());
    path
}

fn baton_notion() -> PathBuf {
    workspace_binary("baton-notion", "baton-notion", false)
}

fn broken_connector() -> PathBuf {
    workspace_binary("notion-conformance", "broken_connector", true)
}

fn runner(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(RUNNER);
    cmd.args(args).stdin(Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn list_names_every_suite_with_descriptions() {
    let out = runner(&["list"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let t = text(&out);
    for suite in ["sync::", "provisioning::", "resilience::", "behaviour::", "snapshots::"] {
        assert!(t.contains(suite), "no {suite} case listed:\n{t}");
    }
    assert!(t.contains("sync::paging-edges"), "{t}");
    let filtered = text(&runner(&["run", "--list", "--suite", "resilience", "storm"], &[]));
    assert!(
        filtered.contains("resilience::rate-limit-storm") && filtered.contains("1 case(s)"),
        "{filtered}"
    );
}

#[test]
fn bad_command_lines_say_what_is_wrong() {
    let out = runner(&["run", "--suite", "nope"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("unknown suite \"nope\""), "{}", text(&out));

    let out = runner(
        &[
            "run",
            "--target",
            "http://127.0.0.1:9/scim/v2",
            "--token",
            "t",
            "--allow-writes",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("needs --test-domain"), "{}", text(&out));

    let out = runner(&["run", "--connector", "/no/such/connector"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("no such file"), "{}", text(&out));

    let out = runner(&["run", "no-case-has-this-name"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("no case matches"), "{}", text(&out));
}

/// Our connector as a binary, driven only through baton's flags: the sync, provisioning and
/// resilience suites pass, and the JUnit and JSON reports say so.
#[test]
fn the_binary_connector_passes_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    let json = dir.path().join("report.json");
    let connector = baton_notion();
    let out = runner(
        &[
            "run",
            "--connector",
            connector.to_str().unwrap(),
            "--suite",
            "sync",
            "--suite",
            "provisioning",
            "--suite",
            "resilience",
            "--cases",
            "3",
            "--junit",
            junit.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
        ],
        &[],
    );
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("0 failed"), "{t}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.starts_with("<?xml") && xml.contains("failures=\"0\""), "{xml}");
    assert!(
        xml.contains("<testcase classname=\"notion-conformance.sync\" name=\"paging-edges\""),
        "{xml}"
    );
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["connector"], connector.to_str().unwrap());
    assert!(report["results"].as_array().unwrap().len() >= 10);
}

const MOCK_TOKEN: &str = "tok_conformance_secret";

/// The standalone emulation in its own process on a free port; stopped when dropped.
struct Standalone {
    child: std::process::Child,
    base: String,
}

impl Standalone {
    fn start(users: &str, groups: &str) -> Standalone {
        let mock = workspace_binary("notion-scim-mock", "notion-scim-mock", false);
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let child = Command::new(mock)
            .args([
                "serve", "--addr", &addr, "--users", users, "--groups", groups, "--token", MOCK_TOKEN,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while std::net::TcpStream::connect(&addr).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the emulation did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Standalone {
            child,
            base: format!("http://{addr}/scim/v2"),
        }
    }
}

impl Drop for Standalone {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `--target` run against the standalone emulation (its own process, its admin API found
/// beside the SCIM base): the same suites run there, writes allowed on a test domain.
#[test]
fn a_target_run_against_the_standalone_emulation() {
    let mock = Standalone::start("60", "5");
    let out = runner(
        &[
            "run",
            "--target",
            &mock.base,
            "--allow-writes",
            "--test-domain",
            "conformance.example.com",
            "--cases",
            "2",
        ],
        &[("NOTION_CONFORMANCE_TOKEN", MOCK_TOKEN)],
    );
    drop(mock);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("admin API found"), "{t}");
    assert!(!t.contains(MOCK_TOKEN), "the token was printed:\n{t}");

    // Read-only by default: cases that would reseed or write are skipped, with the reason.
    let mock = Standalone::start("30", "3");
    let out = runner(
        &["run", "--target", &mock.base, "--suite", "sync"],
        &[("NOTION_CONFORMANCE_TOKEN", MOCK_TOKEN)],
    );
    drop(mock);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("target-as-is") && t.contains("needs --allow-writes"), "{t}");
}

/// Runs one selection against the broken connector with one defect; it must fail.
fn broken(defect: &str, selection: &[&str]) -> String {
    let connector = broken_connector();
    let mut args = vec!["run", "--connector", connector.to_str().unwrap(), "--cases", "3"];
    args.extend_from_slice(selection);
    let out = runner(&args, &[("BROKEN_CONNECTOR_DEFECT", defect)]);
    let t = text(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the {defect} connector was not caught:\n{t}"
    );
    t
}

#[test]
fn the_broken_connector_without_a_defect_passes() {
    let connector = broken_connector();
    let out = runner(
        &[
            "run",
            "--connector",
            connector.to_str().unwrap(),
            "--suite",
            "sync",
            "--cases",
            "2",
        ],
        &[("BROKEN_CONNECTOR_DEFECT", "none")],
    );
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn a_connector_that_drops_the_last_page_is_caught() {
    let t = broken("drop-last-page", &["--suite", "sync", "target-as-is"]);
    assert!(t.contains("missing resource user:"), "{t}");
    assert!(t.contains("expected 133 resources, 13 entitlements, 183 grants"), "{t}");
}

#[test]
fn a_connector_that_says_created_for_an_existing_account_is_caught() {
    let t = broken("created-when-existing", &["--suite", "provisioning", "outcomes"]);
    assert!(t.contains("created"), "{t}");
    assert!(t.contains("already"), "{t}");
}

#[test]
fn a_connector_whose_grants_do_nothing_is_caught() {
    let t = broken("grant-without-effect", &["--suite", "provisioning"]);
    assert!(t.contains("FAIL"), "{t}");
}

#[test]
fn a_connector_that_damages_the_previous_file_on_failure_is_caught() {
    let t = broken("clobber-on-failure", &["--suite", "resilience", "revoked-token"]);
    assert!(t.contains("the failed sync changed the previous file"), "{t}");
}

#[test]
fn a_connector_that_prints_the_token_is_caught() {
    let t = broken("leak-token", &["--suite", "sync", "target-as-is"]);
    assert!(t.contains("printed the SCIM token"), "{t}");
}

/// The property suites report the seed, the smallest failing input and a replay command.
#[test]
fn a_property_failure_prints_its_replay_command() {
    let t = broken("drop-last-page", &["--suite", "sync", "generated-orgs"]);
    assert!(t.contains("smallest failing input (seed 20261201)"), "{t}");
    assert!(t.contains("replay: notion-conformance run --connector"), "{t}");
    assert!(t.contains("--seed 20261201 --cases 3 'sync::generated-orgs'"), "{t}");
}

/// Ctrl-C (SIGINT) stops the run: it says so, reports what ran, and exits non-zero.
#[cfg(unix)]
#[test]
fn an_interrupted_run_stops_cleanly() {
    let mut child = Command::new(RUNNER)
        .args(["run", "--suite", "resilience", "rate-limit-storm"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let started = Instant::now();
    let out = loop {
        if child.try_wait().unwrap().is_some() {
            break child.wait_with_output().unwrap();
        }
        assert!(started.elapsed() < Duration::from_secs(20), "the run did not stop");
        std::thread::sleep(Duration::from_millis(50));
    };
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("interrupted by Ctrl-C"), "{t}");
}
