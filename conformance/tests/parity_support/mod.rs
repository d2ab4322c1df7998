//! What the parity tests share: the recorded reference folder, the recorded orgs served again,
//! this repository's `baton-notion` binary run with a recorded command line, and a wire-level
//! canonical form of baton's messages for comparisons below the oracle's fields.
//!
//! The recordings of ConductorOne's Go `baton-notion` stay outside the repository, in the folder
//! named by `NOTION_LAB_GO_REFERENCE` (`.ci/run` sets it); nothing of them is copied here: the
//! tests read them at run time.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use notion_scim_mock::{JournalEntry, MockServer};
use serde_json::{json, Value};

/// The reference folder, or `None` (after saying so) when `NOTION_LAB_GO_REFERENCE` is unset.
/// Set but missing is a failure: CI must not pass by not looking.
pub fn reference() -> Option<PathBuf> {
    let Some(dir) = std::env::var_os("NOTION_LAB_GO_REFERENCE") else {
        eprintln!(
            "NOT RUN: NOTION_LAB_GO_REFERENCE is unset, so the recordings of ConductorOne's Go \
             baton-notion cannot be read (set it to the recorded go-baton-notion folder)"
        );
        return None;
    };
    let mut dir = PathBuf::from(dir);
    if dir.is_relative() {
        dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(dir);
    }
    assert!(dir.is_dir(), "NOTION_LAB_GO_REFERENCE={} does not exist", dir.display());
    Some(dir)
}

pub fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The recorded org `name` (`shapes`, `seed17`), served again from its truth dump.
pub async fn serve(dir: &Path, name: &str) -> MockServer {
    MockServer::builder()
        .org_file(&dir.join(format!("{name}.truth.json")))
        .unwrap_or_else(|e| panic!("{name}.truth.json: {e}"))
        .start()
        .await
}

/// This workspace's `baton-notion` binary, built beside the test binaries. A test of this
/// package does not rebuild another package's binary by itself, so it is brought up to date
/// here, once per test process (a no-op when `cargo test --workspace` just built it).
pub fn baton_notion() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = std::env::current_exe().unwrap();
            // target/<profile>/deps/<test> -> target/<profile>/baton-notion
            let profile_dir = exe.parent().unwrap().parent().unwrap();
            let path = profile_dir.join("baton-notion");
            // The same profile as the tests' own.
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let mut build = notion_conformance::connector::connector_build(
                cargo,
                &notion_conformance::connector::profile_of(profile_dir),
            );
            let status = build.status().unwrap();
            assert!(status.success(), "building baton-notion failed");
            assert!(path.is_file(), "{} was not built", path.display());
            path
        })
        .clone()
}

/// What one run of our binary did.
#[derive(Debug)]
pub struct Ran {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs our binary with a recorded command line: `$TOKEN`, `$BASE` and `$WORK` replaced by
/// this emulation's token and base URL and by `work`; the recorded program name dropped. It
/// runs in `work` with no `BATON_*` variable of the caller's (nor a `.baton.yaml`) in the way.
/// The token is the emulation's documented default; it is never printed (see [`shown`]).
pub fn run_recorded(argv: &[Value], mock: &MockServer, work: &Path, extra_env: &[(&str, &str)]) -> Ran {
    let args = substitute(argv, mock, work);
    let mut cmd = Command::new(baton_notion());
    cmd.args(&args)
        .current_dir(work)
        .stdin(Stdio::null())
        .env("NO_COLOR", "1");
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("BATON_") {
            cmd.env_remove(key);
        }
    }
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let token = mock.token();
    Ran {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).replace(token, "$TOKEN"),
        stderr: String::from_utf8_lossy(&out.stderr).replace(token, "$TOKEN"),
    }
}

/// The recorded arguments with the placeholders filled in (program name dropped).
pub fn substitute(argv: &[Value], mock: &MockServer, work: &Path) -> Vec<String> {
    argv.iter()
        .skip(1)
        .map(|a| {
            a.as_str()
                .unwrap()
                .replace("$TOKEN", mock.token())
                .replace("$BASE", &mock.base_url())
                .replace("$WORK", &work.display().to_string())
        })
        .collect()
}

/// A recorded command line as it may be shown (placeholders kept).
pub fn shown(argv: &[Value]) -> String {
    argv.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" ")
}

/// The SCIM requests of a journal (the admin API is never journaled), as the recordings list
/// them: method, path, query, status, body.
pub fn requests(journal: &[JournalEntry]) -> Vec<Value> {
    journal
        .iter()
        .map(|e| {
            json!({
                "method": e.method,
                "path": e.path,
                "query": e.query,
                "status": e.status,
                "body": e.body,
            })
        })
        .collect()
}

// ---------------------------------------------------------------- wire-level canonical form

/// The messages the canonical form knows the shape of: which length-delimited fields are
/// messages, and of what kind. Field numbers are baton-sdk's (`c1.connector.v2`) and
/// `google.protobuf`'s; anything else is kept as it is stored (text or bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    ResourceType,
    Resource,
    Entitlement,
    Grant,
    ResourceId,
    Any,
    Struct,
    StructEntry,
    Value,
    ListValue,
    UserTrait,
    GroupTrait,
    RoleTrait,
    GrantSources,
    /// A message whose fields are all scalars (or unknown to this table).
    Plain,
}

fn submessage(kind: Kind, field: u64) -> Option<Kind> {
    use Kind::*;
    match (kind, field) {
        (ResourceType, 4) => Some(Any),
        (Resource, 1 | 2) => Some(ResourceId),
        (Resource, 4) => Some(Any),
        (Resource, 7 | 10 | 11 | 12) => Some(Plain),
        (Resource, 9) => Some(Struct),
        (Entitlement, 1) => Some(Resource),
        (Entitlement, 5) => Some(ResourceType),
        (Entitlement, 6) => Some(Any),
        (Grant, 1) => Some(Entitlement),
        (Grant, 2) => Some(Resource),
        (Grant, 4) => Some(Any),
        (Grant, 5) => Some(GrantSources),
        (GrantSources, 1) => Some(Plain),
        (Struct, 1) => Some(StructEntry),
        (StructEntry, 2) => Some(Value),
        (Value, 5) => Some(Struct),
        (Value, 6) => Some(ListValue),
        (ListValue, 1) => Some(Value),
        (UserTrait, 1 | 2 | 4 | 8 | 9 | 10 | 11 | 12) => Some(Plain),
        (UserTrait, 3) => Some(Struct),
        (GroupTrait, 1) => Some(Plain),
        (GroupTrait, 2) => Some(Struct),
        (RoleTrait, 1) => Some(Struct),
        _ => None,
    }
}

/// Repeated fields whose order carries no meaning (protobuf maps).
fn is_map(kind: Kind, field: u64) -> bool {
    matches!((kind, field), (Kind::Struct, 1) | (Kind::GrantSources, 1))
}

fn any_kind(type_url: &str) -> Kind {
    match type_url.rsplit('/').next().unwrap_or_default() {
        "c1.connector.v2.UserTrait" => Kind::UserTrait,
        "c1.connector.v2.GroupTrait" => Kind::GroupTrait,
        "c1.connector.v2.RoleTrait" => Kind::RoleTrait,
        _ => Kind::Plain,
    }
}

fn varint(bytes: &[u8], at: &mut usize) -> Result<u64, String> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*at).ok_or("truncated varint")?;
        *at += 1;
        value |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Ok(value);
        }
    }
    Err("varint too long".into())
}

/// `bytes` as a message of `kind`: an object from field number to the list of its values, in
/// wire order (map entries sorted). Scalars are numbers; a length-delimited field is a nested
/// object when the table knows it is a message, else text (or `hex:...` when not UTF-8).
pub fn canonical(bytes: &[u8], kind: Kind) -> Result<Value, String> {
    let fields = wire_fields(bytes)?;
    // An Any's value is decoded by its type URL.
    let value_kind = match kind {
        Kind::Any => fields
            .iter()
            .find(|(f, _)| *f == 1)
            .and_then(|(_, w)| match w {
                Wire::Bytes(b) => std::str::from_utf8(b).ok(),
                _ => None,
            })
            .map(any_kind),
        _ => None,
    };
    let mut out: BTreeMap<u64, Vec<Value>> = BTreeMap::new();
    for (field, wire) in fields {
        let value = match wire {
            Wire::Number(n) => json!(n),
            Wire::Fixed(raw) => json!(format!("fixed:{}", hex(raw))),
            Wire::Bytes(raw) => match (submessage(kind, field), value_kind) {
                (Some(sub), _) => canonical(raw, sub)?,
                (None, Some(sub)) if field == 2 => canonical(raw, sub)?,
                _ => match std::str::from_utf8(raw) {
                    Ok(s) => json!(s),
                    Err(_) => json!(format!("hex:{}", hex(raw))),
                },
            },
        };
        out.entry(field).or_default().push(value);
    }
    let mut obj = serde_json::Map::new();
    for (field, mut values) in out {
        if is_map(kind, field) {
            values.sort_by_key(|v| v.to_string());
        }
        obj.insert(field.to_string(), Value::Array(values));
    }
    Ok(Value::Object(obj))
}

enum Wire<'a> {
    Number(u64),
    Fixed(&'a [u8]),
    Bytes(&'a [u8]),
}

fn wire_fields(bytes: &[u8]) -> Result<Vec<(u64, Wire<'_>)>, String> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let key = varint(bytes, &mut at)?;
        let (field, wire) = (key >> 3, key & 7);
        let value = match wire {
            0 => Wire::Number(varint(bytes, &mut at)?),
            1 | 5 => {
                let n = if wire == 1 { 8 } else { 4 };
                let raw = bytes.get(at..at + n).ok_or("truncated fixed field")?;
                at += n;
                Wire::Fixed(raw)
            }
            2 => {
                let len = usize::try_from(varint(bytes, &mut at)?).map_err(|e| e.to_string())?;
                let raw = bytes.get(at..at + len).ok_or("truncated field")?;
                at += len;
                Wire::Bytes(raw)
            }
            other => return Err(format!("field {field}: wire type {other}")),
        };
        out.push((field, value));
    }
    Ok(out)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where two JSON values first differ, as `path: a vs b`; `None` when equal.
pub fn first_difference(path: &str, a: &Value, b: &Value) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter().find_map(|k| {
                let null = Value::Null;
                first_difference(
                    &format!("{path}.{k}"),
                    x.get(k).unwrap_or(&null),
                    y.get(k).unwrap_or(&null),
                )
            })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (p, q))| first_difference(&format!("{path}[{i}]"), p, q)),
        _ if a == b => None,
        _ => Some(format!("{path}: {a} vs {b}")),
    }
}
