//! Data parity with ConductorOne's Go `baton-notion`, against what it actually wrote.
//!
//! Each recorded org is served again from its truth dump and synced by this repository's
//! `baton-notion` binary with the Go run's own command line. Both files are decoded by the
//! conformance oracle (its own decoder, sharing no code with the connector) and compared
//! resource type by resource type, resource by resource, entitlement by entitlement, grant by
//! grant, field by field, annotation by annotation (the `LicenseProfileTrait` and
//! `EntitlementExclusionGroup` contents included). Every object the known differences do not
//! touch is then compared below the oracle's fields too: its stored message, field number by
//! field number (protobuf maps compared as sets, since Go writes them in random order).
//!
//! The differences must be exactly the ones README.md lists under "Where ours differs from the
//! Go connector", each derived here from the org's truth; one more, or one fewer, fails.
//! Requests: ours must send no more than the Go connector did for the same org.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod parity_support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use notion_conformance::oracle::c1z::C1z;
use notion_conformance::oracle::data::Dataset;
use parity_support::*;
use serde_json::Value;

/// What one side wrote, decoded.
struct Side {
    data: Dataset,
    /// `<table>:<external id>` -> the stored message in canonical form.
    raw: BTreeMap<String, Value>,
}

fn decode(path: &Path) -> Side {
    let file = C1z::open(path).unwrap_or_else(|e| panic!("{e}"));
    let run = file
        .latest_full_run()
        .cloned()
        .unwrap_or_else(|| panic!("{}: no finished full sync", path.display()));
    let data = file.dataset(&run.sync_id).unwrap_or_else(|e| panic!("{e}"));
    let mut raw = BTreeMap::new();
    for object in file.raw_objects(&run.sync_id).unwrap() {
        let (table, id, bytes) = (object.table, object.external_id, object.data);
        let kind = match table {
            "v1_resource_types" => Kind::ResourceType,
            "v1_resources" => Kind::Resource,
            "v1_entitlements" => Kind::Entitlement,
            _ => Kind::Grant,
        };
        let value = canonical(&bytes, kind).unwrap_or_else(|e| panic!("{table} {id}: {e}"));
        raw.insert(format!("{table}:{id}"), value);
    }
    Side { data, raw }
}

/// Every difference between the two datasets, one line each: an object only one side has, or
/// a field (a path into the oracle's row) whose values differ.
fn differences(ours: &Dataset, go: &Dataset) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let ours = serde_json::to_value(ours).unwrap();
    let go = serde_json::to_value(go).unwrap();
    for section in ["resource_types", "resources", "entitlements", "grants"] {
        let (a, b) = (ours[section].as_object().unwrap(), go[section].as_object().unwrap());
        let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        for key in keys {
            match (a.get(key), b.get(key)) {
                (Some(_), None) => {
                    out.insert(format!("{section} {key}: only in ours"));
                }
                (None, Some(_)) => {
                    out.insert(format!("{section} {key}: only in Go's"));
                }
                (Some(x), Some(y)) => field_differences(&format!("{section} {key}:"), "", x, y, &mut out),
                (None, None) => {}
            }
        }
    }
    out
}

fn field_differences(prefix: &str, path: &str, ours: &Value, go: &Value, out: &mut BTreeSet<String>) {
    match (ours, go) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                let null = Value::Null;
                let sub = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                field_differences(prefix, &sub, a.get(k).unwrap_or(&null), b.get(k).unwrap_or(&null), out);
            }
        }
        _ if ours == go => {}
        _ => {
            out.insert(format!("{prefix} {path}: ours {ours}, Go's {go}"));
        }
    }
}

/// The recorded truth's users of the (only) workspace.
fn users(truth: &Value) -> Vec<Value> {
    truth["workspaces"][0]["users"].as_array().unwrap().clone()
}

/// README's list, as the lines [`differences`] prints for this org. Each returns the
/// difference's name and its lines, so that a category the org does not exercise is noticed.
fn known_differences(truth: &Value) -> Vec<(&'static str, BTreeSet<String>)> {
    let users = users(truth);
    let no_extension: BTreeSet<String> = users
        .iter()
        .filter(|u| u["role"].is_null())
        .flat_map(|u| {
            let id = u["id"].as_str().unwrap();
            [
                format!("grants role:member:assigned:user:{id}: only in ours"),
                format!("resources user:{id}: profile.workspace_role: ours \"member\", Go's null"),
            ]
        })
        .collect();
    let inactive: BTreeSet<String> = users
        .iter()
        .filter(|u| u["active"] == Value::Bool(false))
        .map(|u| {
            let id = u["id"].as_str().unwrap();
            format!("resources user:{id}: user.status: ours \"DISABLED\", Go's \"ENABLED\"")
        })
        .collect();
    vec![
        ("a user without a role extension has the member role", no_extension),
        ("an inactive user's trait says DISABLED", inactive),
    ]
}

/// The objects a known difference touches (their stored messages differ by it): every user
/// without a role extension or inactive, and the role grants of the former.
fn touched_by_known(truth: &Value) -> BTreeSet<String> {
    users(truth)
        .iter()
        .filter(|u| u["role"].is_null() || u["active"] == Value::Bool(false))
        .flat_map(|u| {
            let id = u["id"].as_str().unwrap();
            [
                format!("v1_resources:user:{id}"),
                format!("v1_grants:role:member:assigned:user:{id}"),
            ]
        })
        .collect()
}

async fn parity(name: &str) {
    let Some(dir) = reference() else { return };
    let truth = read_json(&dir.join(format!("{name}.truth.json")));
    let recorded = read_json(&dir.join(format!("{name}.go.sync.json")));
    let go = decode(&dir.join(format!("{name}.go.c1z")));

    let mock = serve(&dir, name).await;
    let work = tempfile::tempdir().unwrap();
    let argv = recorded["argv"].as_array().unwrap();
    let ran = tokio::task::block_in_place(|| run_recorded(argv, &mock, work.path(), &[]));
    assert_eq!(
        ran.code,
        recorded["exit_code"].as_i64().map(|c| c as i32),
        "`{}` exited differently:\n{}",
        shown(argv),
        ran.stderr
    );
    let ours_file = substitute(argv, &mock, work.path())
        .windows(2)
        .find(|w| w[0] == "-f")
        .map(|w| w[1].clone())
        .unwrap();
    let ours = decode(Path::new(&ours_file));

    // Field by field, through the oracle.
    let found = differences(&ours.data, &go.data);
    let mut expected = BTreeSet::new();
    for (what, lines) in known_differences(&truth) {
        assert!(!lines.is_empty(), "{name}: the org does not exercise \"{what}\"");
        expected.extend(lines);
    }
    let unexplained: Vec<&String> = found.difference(&expected).collect();
    let missing: Vec<&String> = expected.difference(&found).collect();
    assert!(
        unexplained.is_empty() && missing.is_empty(),
        "{name}: ours differs from the Go connector's file beyond README's list\n\
         unexplained ({}): {unexplained:#?}\nlisted but not found ({}): {missing:#?}",
        unexplained.len(),
        missing.len()
    );

    // Below the oracle's fields: every other object's stored message, field by field.
    let touched = touched_by_known(&truth);
    let mut raw_diffs = Vec::new();
    for (key, g) in &go.raw {
        if touched.contains(key) {
            continue;
        }
        match ours.raw.get(key) {
            None => raw_diffs.push(format!("{key}: only in Go's")),
            Some(o) => {
                if let Some(d) = first_difference(key, o, g) {
                    raw_diffs.push(format!("{d} (ours vs Go's)"));
                }
            }
        }
    }
    for key in ours
        .raw
        .keys()
        .filter(|k| !go.raw.contains_key(*k) && !touched.contains(*k))
    {
        raw_diffs.push(format!("{key}: only in ours"));
    }
    assert!(
        raw_diffs.is_empty(),
        "{name}: stored messages differ ({}): {:#?}",
        raw_diffs.len(),
        &raw_diffs[..raw_diffs.len().min(20)]
    );

    // Requests: no more than the Go connector's.
    let go_requests = recorded["requests"].as_array().unwrap().len();
    let our_requests = requests(&mock.journal()).len();
    eprintln!("{name}: requests: ours {our_requests}, the Go connector's {go_requests}");
    assert!(
        our_requests <= go_requests,
        "{name}: ours sent {our_requests} requests, the Go connector {go_requests}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn shapes_matches_the_go_connector_but_for_the_listed_differences() {
    parity("shapes").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn seed17_matches_the_go_connector_but_for_the_listed_differences() {
    parity("seed17").await;
}

/// The recorded orgs come back exactly as they were recorded: the served org's
/// `/__admin/truth` is the recorded truth dump (which holds no secrets), so the comparisons
/// above run against the very org the Go connector saw.
#[tokio::test(flavor = "multi_thread")]
async fn the_recorded_orgs_are_served_exactly_as_recorded() {
    let Some(dir) = reference() else { return };
    for name in ["shapes", "seed17"] {
        let recorded = read_json(&dir.join(format!("{name}.truth.json")));
        let mock = serve(&dir, name).await;
        let served: Value = reqwest::get(format!("{}/truth", mock.admin_url()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            first_difference(name, &served, &recorded),
            None,
            "{name}: the served org is not the recorded one"
        );
    }
}
