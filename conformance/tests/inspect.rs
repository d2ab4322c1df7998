//! `notion-conformance inspect` end to end, through the built binary: listings and filters of a
//! c1z this repository's connector wrote, the diff of two sync runs of one file and of two
//! files after a change made through SCIM, bad input, and the Go connector's recorded files.
//! What the output should hold comes from the emulation's truth or the oracle's expectation,
//! never from the inspector itself.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use baton_notion::progress::Progress;
use baton_notion::scim::client::{ClientConfig, ScimClient};
use baton_notion::secret::Secret;
use baton_notion::sync::{self, SyncOptions};
use notion_conformance::oracle::expect;
use notion_conformance::truth::Truth;
use notion_scim_mock::MockServer;
use serde_json::Value;

const RUNNER: &str = env!("CARGO_BIN_EXE_notion-conformance");

struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Out {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }
}

fn inspect(args: &[&str]) -> Out {
    let out = Command::new(RUNNER).arg("inspect").args(args).output().unwrap();
    Out {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

async fn sync_into(mock: &MockServer, path: &Path) {
    let mut config = ClientConfig::new(mock.base_url(), Secret::new(mock.token()));
    config.requests_per_minute = 0;
    let client = ScimClient::new(config).unwrap();
    sync::run(&client, path, &SyncOptions::default(), &Progress::hidden())
        .await
        .unwrap();
}

fn ids(list: &Value, field: &str) -> BTreeSet<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| v[field].as_str().unwrap().to_owned())
        .collect()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_what_the_connector_wrote() {
    let mock = MockServer::builder().seed(3).users(30).groups(4).start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.c1z");
    sync_into(&mock, &file).await;
    let truth = mock.truth();
    let users: BTreeSet<String> = truth.users.iter().map(|u| u.id.clone()).collect();

    let o = inspect(&[s(&file), "-o", "json"]);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    let summary = o.json();
    assert_eq!(
        summary["totals"]["resources"],
        truth.users.len() + truth.groups.len() + 4
    );
    assert_eq!(summary["by_resource_type"]["user"]["resources"], truth.users.len());
    assert_eq!(
        summary["by_resource_type"]["group"]["grants"],
        truth.memberships().len()
    );
    assert_eq!(summary["sync"]["sync_type"], "full");

    let o = inspect(&[s(&file), "resources", "--resource-type", "user", "-o", "json"]);
    assert_eq!(ids(&o.json()["resources"], "id"), users);

    // The table: a header, one line per user, a count.
    let o = inspect(&[s(&file), "resources", "--resource-type", "user"]);
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines.len(), users.len() + 2, "{}", o.stdout);
    assert!(lines[0].starts_with("TYPE") && lines[0].contains("DISPLAY NAME"));
    assert!(users.iter().all(|id| o.stdout.contains(id.as_str())));
    assert_eq!(
        lines.last().copied(),
        Some(format!("{} resource(s)", users.len()).as_str())
    );

    // A principal's grants: its role and its groups, as the truth has them.
    let (group, member) = truth.memberships()[0].clone();
    let role = truth.user(&member).unwrap().effective_role().as_str();
    let want: BTreeSet<String> = std::iter::once(format!("role:{role}:assigned"))
        .chain(
            truth
                .memberships()
                .into_iter()
                .filter(|(_, u)| *u == member)
                .map(|(g, _)| format!("group:{g}:member")),
        )
        .collect();
    let o = inspect(&[s(&file), "grants", "--principal", &member, "-o", "json"]);
    assert_eq!(ids(&o.json()["grants"], "entitlement_id"), want);
    let o = inspect(&[
        s(&file),
        "grants",
        "--resource",
        &format!("group:{group}"),
        "-o",
        "json",
    ]);
    let holders: BTreeSet<String> = truth
        .memberships()
        .into_iter()
        .filter(|(g, _)| *g == group)
        .map(|(_, u)| format!("user:{u}"))
        .collect();
    assert_eq!(ids(&o.json()["grants"], "principal"), holders);

    let o = inspect(&[s(&file), "entitlements", "--resource-type", "role", "-o", "json"]);
    assert_eq!(o.json()["entitlements"].as_array().unwrap().len(), 4);

    let o = inspect(&[s(&file), "syncs", "-o", "json"]);
    assert_eq!(o.json()["sync_runs"].as_array().unwrap().len(), 1);
    assert_eq!(
        o.json()["sync_runs"][0]["counts"]["resources"],
        summary["totals"]["resources"]
    );

    // Bad input: one clear error, exit 2.
    let o = inspect(&[s(&file), "widgets"]);
    assert_eq!(o.code, Some(2));
    assert!(o.stderr.contains("summary, resources"), "{}", o.stderr);
    let missing = dir.path().join("missing.c1z");
    let o = inspect(&[s(&missing)]);
    assert_eq!(o.code, Some(2));
    assert!(o.stderr.contains("missing.c1z"), "{}", o.stderr);
    let text = dir.path().join("text.c1z");
    std::fs::write(&text, "hello").unwrap();
    let o = inspect(&[s(&text)]);
    assert_eq!(o.code, Some(2));
    assert!(o.stderr.contains("not a c1z"), "{}", o.stderr);
    let o = inspect(&[s(&file), "--sync", "nope"]);
    assert_eq!(o.code, Some(2));
    assert!(o.stderr.contains("nope"), "{}", o.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diffs_two_runs_and_two_files() {
    let mock = MockServer::builder().seed(4).users(25).groups(3).start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.c1z");
    let before = dir.path().join("before.c1z");
    sync_into(&mock, &file).await;
    std::fs::copy(&file, &before).unwrap();

    // Remove a member with memberships through SCIM, as a deprovisioning would.
    let truth = mock.truth();
    let creator = truth.tokens[0].creator.clone();
    let (_, gone) = truth.memberships().into_iter().find(|(_, u)| *u != creator).unwrap();
    let role = truth.user(&gone).unwrap().effective_role().as_str();
    let status = reqwest::Client::new()
        .delete(format!("{}/Users/{gone}", mock.base_url()))
        .bearer_auth(mock.token())
        .send()
        .await
        .unwrap()
        .status();
    assert!(status.is_success(), "{status}");
    sync_into(&mock, &file).await;

    let want_grants: BTreeSet<String> = std::iter::once(format!("role:{role}:assigned:user:{gone}"))
        .chain(
            truth
                .memberships()
                .into_iter()
                .filter(|(_, u)| *u == gone)
                .map(|(g, _)| format!("group:{g}:member:user:{gone}")),
        )
        .collect();
    let check = |o: &Out| {
        assert_eq!(o.code, Some(1), "{}{}", o.stdout, o.stderr);
        let d = o.json();
        assert_eq!(d["resources"]["removed"], serde_json::json!([format!("user:{gone}")]));
        let removed: BTreeSet<String> = d["grants"]["removed"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(removed, want_grants);
        for section in ["resource_types", "resources", "entitlements", "grants"] {
            assert_eq!(d[section]["added"], serde_json::json!([]), "{section}");
        }
        assert_eq!(d["differences"], 1 + want_grants.len(), "{d}");
    };
    // Two runs of one file (its two newest), then two files.
    check(&inspect(&["diff", s(&file), "-o", "json"]));
    check(&inspect(&["diff", s(&before), s(&file), "-o", "json"]));
    let o = inspect(&["diff", s(&before), s(&file)]);
    assert!(o.stdout.contains(&format!("  - user:{gone}")), "{}", o.stdout);
    assert!(o
        .stdout
        .trim_end()
        .ends_with(&format!("{} difference(s)", 1 + want_grants.len())));
    // Named runs: the same run on both sides is no difference.
    let runs = inspect(&[s(&file), "syncs", "-o", "json"]).json();
    let first = runs["sync_runs"][0]["sync"]["sync_id"].as_str().unwrap().to_owned();
    let o = inspect(&["diff", s(&file), "--from-sync", &first, "--to-sync", &first]);
    assert_eq!(o.code, Some(0), "{}", o.stdout);
    assert!(o.stdout.trim_end().ends_with("0 difference(s)"));
    // Filtered to groups: only the memberships remain.
    let o = inspect(&["diff", s(&before), s(&file), "--resource-type", "group", "-o", "json"]);
    let d = o.json();
    assert_eq!(d["resources"]["removed"], serde_json::json!([]));
    assert_eq!(d["differences"], want_grants.len() - 1);
    // Identical content, other sync ids: no difference.
    let o = inspect(&["diff", s(&before), s(&before)]);
    assert_eq!(o.code, Some(0), "{}", o.stdout);
    // One run only: nothing to compare, said so.
    let o = inspect(&["diff", s(&before)]);
    assert_eq!(o.code, Some(2));
    assert!(o.stderr.contains("needs two"), "{}", o.stderr);
}

/// The recorded Go connector's files, read through the same command (skipped, saying so, when
/// `NOTION_LAB_GO_REFERENCE` is unset).
#[test]
fn reads_the_go_connectors_files() {
    let Some(dir) = std::env::var_os("NOTION_LAB_GO_REFERENCE").map(PathBuf::from) else {
        eprintln!("NOT RUN: NOTION_LAB_GO_REFERENCE is unset (set it to the recorded go-baton-notion folder)");
        return;
    };
    let dir = if dir.is_relative() {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(dir)
    } else {
        dir
    };
    assert!(dir.is_dir(), "NOTION_LAB_GO_REFERENCE={} does not exist", dir.display());
    for name in ["shapes", "seed17"] {
        let truth: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join(format!("{name}.truth.json"))).unwrap()).unwrap();
        let expected = expect::derive(&Truth::from_admin_json(&truth).unwrap());
        let file = dir.join(format!("{name}.go.c1z"));
        let o = inspect(&[s(&file), "resources", "-o", "json"]);
        assert_eq!(o.code, Some(0), "{name}: {}", o.stderr);
        let got: BTreeSet<String> = o.json()["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| format!("{}:{}", r["resource_type"].as_str().unwrap(), r["id"].as_str().unwrap()))
            .collect();
        let want: BTreeSet<String> = expected.resources.keys().cloned().collect();
        assert_eq!(got, want, "{name}");
        let o = inspect(&[s(&file)]);
        assert!(o.stdout.contains(&format!("{} resources", want.len())), "{}", o.stdout);
    }
    let o = inspect(&[
        "diff",
        s(&dir.join("shapes.go.c1z")),
        s(&dir.join("seed17.go.c1z")),
        "-o",
        "json",
    ]);
    assert_eq!(o.code, Some(1));
    assert!(o.json()["resources"]["added"].as_array().unwrap().len() > 1000);
}
