//! Provisioning parity with ConductorOne's Go `baton-notion`, against what each of its recorded
//! one-shot operations did.
//!
//! For each operation of `shapes.go.provisioning.json`, a fresh emulation of the recorded org
//! is served from its truth dump, this repository's `baton-notion` binary syncs it into the
//! operation's file (as the Go run did before each operation) and then runs the recorded
//! command line unchanged (token, base URL and work folder substituted; no `-p`, as recorded).
//! Compared with the recording: the exit code, the effect on the SCIM users (added, removed,
//! changed before and after; ids of new accounts, `meta` timestamps and photos aside, since the
//! emulation makes those up), and the requests sent (method, path, query, body shape).
//!
//! Ours differs on purpose in a few places; each is listed in README.md ("Where ours differs
//! from the Go connector") with the reason ours is right, and [`expected_differences`] holds
//! exactly those lines: one more, or one fewer, fails.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod parity_support;

use std::collections::{BTreeMap, BTreeSet};

use notion_scim_mock::MockServer;
use parity_support::*;
use serde_json::{json, Value};

/// The one-shot flags baton-sdk adds to a command line; what precedes the first is the sync's.
const ONE_SHOT: [&str; 7] = [
    "--grant-entitlement",
    "--revoke-grant",
    "--create-account-login",
    "--create-account-email",
    "--create-account-profile",
    "--delete-resource",
    "--delete-resource-type",
];

/// Every SCIM user, as the SCIM API shows it, by id.
async fn users(mock: &MockServer) -> BTreeMap<String, Value> {
    let client = reqwest::Client::new();
    let mut out = BTreeMap::new();
    let mut start = 1;
    loop {
        let page: Value = client
            .get(format!("{}/Users", mock.base_url()))
            .query(&[("startIndex", start.to_string()), ("count", "100".to_string())])
            .bearer_auth(mock.token())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let items = page["Resources"].as_array().cloned().unwrap_or_default();
        for u in &items {
            out.insert(u["id"].as_str().unwrap().to_string(), u.clone());
        }
        start += items.len();
        if items.is_empty() || start as u64 > page["totalResults"].as_u64().unwrap_or(0) {
            return out;
        }
    }
}

/// A user without what the emulation makes up: `meta` (timestamps) and photos (a truth dump
/// holds neither); for an added account, its new id too.
fn comparable(user: &Value, keep_id: bool) -> Value {
    let mut u = user.clone();
    let o = u.as_object_mut().unwrap();
    o.remove("meta");
    o.remove("photos");
    if !keep_id {
        o.remove("id");
    }
    u
}

/// The effect on the SCIM users, in the recording's terms and without made-up fields.
fn effect(before: &BTreeMap<String, Value>, after: &BTreeMap<String, Value>) -> Value {
    let added: Vec<Value> = after
        .iter()
        .filter(|(id, _)| !before.contains_key(*id))
        .map(|(_, u)| comparable(u, false))
        .collect();
    let removed: Vec<&String> = before.keys().filter(|id| !after.contains_key(*id)).collect();
    let changed: Vec<Value> = before
        .iter()
        .filter_map(|(id, b)| {
            let a = after.get(id)?;
            let (b, a) = (comparable(b, true), comparable(a, true));
            (a != b).then(|| json!({ "before": b, "after": a }))
        })
        .collect();
    json!({ "added": added, "removed": removed, "changed": changed })
}

/// The recorded effect, normalised the same way.
fn recorded_effect(diff: &Value) -> Value {
    let list = |k: &str| diff[k].as_array().cloned().unwrap_or_default();
    json!({
        "added": list("added").iter().map(|u| comparable(u, false)).collect::<Vec<_>>(),
        "removed": list("removed"),
        "changed": list("changed")
            .iter()
            .map(|c| json!({ "before": comparable(&c["before"], true), "after": comparable(&c["after"], true) }))
            .collect::<Vec<_>>(),
    })
}

/// A JSON body's shape: its keys and the kinds of its values, arrays element by element.
fn shape(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
        Value::Array(a) => Value::Array(a.iter().map(shape).collect()),
        Value::String(_) => json!("string"),
        Value::Number(_) => json!("number"),
        Value::Bool(_) => json!("bool"),
        Value::Null => json!("null"),
    }
}

/// `application/x-www-form-urlencoded` decoding, so that a query reads as sent.
fn decode_query(q: &str) -> String {
    let bytes = q.replace('+', " ").into_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One request as compared: what was asked (method, path, decoded query), the answer's status
/// and the body's shape.
#[derive(Debug, Clone)]
struct Req {
    asked: String,
    status: u64,
    body: Option<Value>,
}

fn req(r: &Value) -> Req {
    let query = r["query"]
        .as_str()
        .map(|q| format!("?{}", decode_query(q)))
        .unwrap_or_default();
    let body = r["body"]
        .as_str()
        .filter(|b| !b.trim().is_empty())
        .map(|b| shape(&serde_json::from_str(b).unwrap_or(Value::String(b.to_string()))));
    Req {
        asked: format!(
            "{} {}{query}",
            r["method"].as_str().unwrap(),
            r["path"].as_str().unwrap()
        ),
        status: r["status"].as_u64().unwrap_or_default(),
        body,
    }
}

/// Every leaf where two JSON values differ, as `path: ours X, Go's Y` (`absent` for a missing
/// key).
fn leaf_differences(path: &str, ours: Option<&Value>, go: Option<&Value>, out: &mut Vec<String>) {
    match (ours, go) {
        (Some(Value::Object(a)), Some(Value::Object(b))) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                leaf_differences(&format!("{path}.{k}"), a.get(k), b.get(k), out);
            }
        }
        (Some(Value::Array(a)), Some(Value::Array(b))) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                leaf_differences(&format!("{path}[{i}]"), Some(x), Some(y), out);
            }
        }
        _ if ours == go => {}
        _ => {
            let show = |v: Option<&Value>| v.map_or("absent".to_string(), Value::to_string);
            out.push(format!("{path}: ours {}, Go's {}", show(ours), show(go)));
        }
    }
}

/// The two request lists aligned on what was asked (a longest common subsequence), as lines:
/// a request only one side sent, or a status or body shape that differs.
fn request_differences(ours: &[Req], go: &[Req]) -> Vec<String> {
    let (n, m) = (ours.len(), go.len());
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if ours[i].asked == go[j].asked {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && ours[i].asked == go[j].asked {
            let (a, b) = (&ours[i], &go[j]);
            if a.status != b.status {
                out.push(format!(
                    "request {}: status ours {}, Go's {}",
                    a.asked, a.status, b.status
                ));
            }
            let mut leaves = Vec::new();
            leaf_differences("body", a.body.as_ref(), b.body.as_ref(), &mut leaves);
            out.extend(leaves.into_iter().map(|l| format!("request {}: {l}", a.asked)));
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push(format!("request only in ours: {} -> {}", ours[i].asked, ours[i].status));
            i += 1;
        } else {
            out.push(format!("request only in Go's: {} -> {}", go[j].asked, go[j].status));
            j += 1;
        }
    }
    out
}

/// Every difference between our run of an operation and the recorded one, one line each.
fn differences(name: &str, ours: &Observed, go: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let go_code = go["exit_code"].as_i64().map(|c| c as i32);
    if ours.code != go_code {
        out.insert(format!(
            "{name}: exit code: ours {}, Go's {}",
            ours.code.map_or("none".into(), |c| c.to_string()),
            go_code.map_or("none".into(), |c| c.to_string())
        ));
    }
    let go_effect = recorded_effect(&go["scim_users_diff"]);
    let mut leaves = Vec::new();
    leaf_differences("effect", Some(&ours.effect), Some(&go_effect), &mut leaves);
    out.extend(leaves.into_iter().map(|l| format!("{name}: {l}")));
    let go_requests: Vec<Req> = go["requests"].as_array().unwrap().iter().map(req).collect();
    for line in request_differences(&ours.requests, &go_requests) {
        out.insert(format!("{name}: {line}"));
    }
    out
}

/// What our run of one operation did.
struct Observed {
    code: Option<i32>,
    effect: Value,
    requests: Vec<Req>,
    stdout: String,
    stderr: String,
}

async fn observe(dir: &std::path::Path, argv: &[Value]) -> Observed {
    let mock = serve(dir, "shapes").await;
    let work = tempfile::tempdir().unwrap();
    // The sync the Go run made before each operation, into the same file.
    let first_one_shot = argv
        .iter()
        .position(|a| ONE_SHOT.contains(&a.as_str().unwrap_or_default()))
        .unwrap();
    let sync = tokio::task::block_in_place(|| run_recorded(&argv[..first_one_shot], &mock, work.path(), &[]));
    assert_eq!(
        sync.code,
        Some(0),
        "the sync before `{}` failed: {}",
        shown(argv),
        sync.stderr
    );
    mock.clear_journal();
    let before = users(&mock).await;
    mock.clear_journal();
    let ran = tokio::task::block_in_place(|| run_recorded(argv, &mock, work.path(), &[]));
    let journal = mock.journal();
    let after = users(&mock).await;
    Observed {
        code: ran.code,
        effect: effect(&before, &after),
        requests: requests(&journal).iter().map(req).collect(),
        stdout: ran.stdout,
        stderr: ran.stderr,
    }
}

/// The value after `flag` in an operation's recorded command line.
fn arg(ops: &serde_json::Map<String, Value>, op: &str, flag: &str) -> String {
    let argv = ops[op]["argv"].as_array().unwrap();
    let at = argv
        .iter()
        .position(|a| a == flag)
        .unwrap_or_else(|| panic!("{op}: no {flag}"));
    argv[at + 1].as_str().unwrap().to_string()
}

/// README's list of where ours differs, as the lines [`differences`] prints, with the ids and
/// emails taken from the recorded command lines. Each line's reason is in README.md.
fn expected_differences(ops: &serde_json::Map<String, Value>) -> BTreeSet<String> {
    let new_email = arg(ops, "create-account", "--create-account-email");
    let existing_email = arg(ops, "create-account-existing", "--create-account-email");
    let deleted = arg(ops, "delete-account", "--delete-resource");
    let missing = arg(ops, "delete-account-missing", "--delete-resource");
    let lookup = |email: &str| format!("GET /scim/v2/Users?filter=userName eq \"{email}\"");
    [
        // Every operation reads before it writes: an account is looked up by email before it is
        // created, and a user read before being removed.
        format!("create-account: request only in ours: {} -> 200", lookup(&new_email)),
        format!(
            "create-account-existing: request only in ours: {} -> 200",
            lookup(&existing_email)
        ),
        format!("delete-account: request only in ours: GET /scim/v2/Users/{deleted} -> 200"),
        format!("delete-account-missing: request only in ours: GET /scim/v2/Users/{missing} -> 404"),
        // So what is already there is reported, not attempted: no write, exit 0.
        "create-account-existing: exit code: ours 0, Go's 1".to_string(),
        "create-account-existing: request only in Go's: POST /scim/v2/Users -> 409".to_string(),
        "delete-account-missing: exit code: ours 0, Go's 1".to_string(),
        format!("delete-account-missing: request only in Go's: DELETE /scim/v2/Users/{missing} -> 404"),
        // The new account's body leaves out the client-assigned empty `id` and the non-canonical
        // email `type` "Primary".
        "create-account: request POST /scim/v2/Users: body.emails[0].type: ours absent, Go's \"string\"".to_string(),
        "create-account: request POST /scim/v2/Users: body.id: ours absent, Go's \"string\"".to_string(),
    ]
    .into_iter()
    .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn each_recorded_operation_does_what_the_go_connector_did_but_for_the_listed_differences() {
    let Some(dir) = reference() else { return };
    let recorded = read_json(&dir.join("shapes.go.provisioning.json"));
    let ops = recorded.as_object().unwrap();
    assert!(ops.len() >= 7, "{} operations recorded", ops.len());
    let mut found = BTreeSet::new();
    let mut results = BTreeMap::new();
    for (name, go) in ops {
        let argv = go["argv"].as_array().unwrap();
        assert!(!argv.iter().any(|a| a == "-p"), "{name}: the recording passes -p");
        let ours = observe(&dir, argv).await;
        eprintln!(
            "{name}: ours exit {:?}, {} request(s); Go's exit {}, {} request(s)\n  ours: {}",
            ours.code,
            ours.requests.len(),
            go["exit_code"],
            go["requests"].as_array().map_or(0, Vec::len),
            ours.stdout.trim().replace('\n', " ")
        );
        found.extend(differences(name, &ours, go));
        results.insert(name.clone(), ours);
    }
    let expected = expected_differences(ops);
    let unexplained: Vec<&String> = found.difference(&expected).collect();
    let missing: Vec<&String> = expected.difference(&found).collect();
    assert!(
        unexplained.is_empty() && missing.is_empty(),
        "ours differs from the Go connector's operations beyond README's list\n\
         unexplained: {unexplained:#?}\nlisted but not found: {missing:#?}\nstderr of ours: {:#?}",
        results
            .iter()
            .map(|(n, o)| (n, o.stderr.lines().last().unwrap_or_default()))
            .collect::<Vec<_>>()
    );
}
