//! The snapshot suite: exact, reviewed records of what this repository's connector writes for a
//! fixed seeded org, the exact requests each provisioning operation sends, and every error body
//! the emulation emits. Ids and timestamps are redacted consistently (the same id is the same
//! placeholder everywhere in one snapshot), so relations survive redaction.
//!
//! The snapshots are insta files under `conformance/tests/snapshots/`, written and reviewed with
//! `cargo insta review` (or `INSTA_UPDATE=always cargo test -p notion-conformance --test
//! snapshots`), and compiled into the runner, whose cases compare against them. Each snapshot's
//! text is made by one function here, used by both.
//!
//! Other connectors are judged by the sync and provisioning suites; these snapshots record this
//! repository's connector and the emulation, so the suite skips for `--connector` and for
//! targets other than the emulation.

use std::fmt::Write as _;

use anyhow::{bail, Context};
use notion_scim_mock::{Quirks, SeedSpec};
use serde_json::{json, Value};

use super::{sync_and_judge, Case, CaseResult, Ctx, Suite};
use crate::case;
use crate::connector::{Connector, Provision};
use crate::redact::Redactor;
use crate::target::{Env, Skip};

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            Suite::Snapshots,
            "c1z-small-org",
            "the decoded c1z of a fixed seeded org, as reviewed",
            c1z_small_org
        ),
        case!(
            Suite::Snapshots,
            "provisioning-requests",
            "the exact requests of each provisioning operation, as reviewed",
            provisioning_requests
        ),
        case!(
            Suite::Snapshots,
            "error-bodies-rfc",
            "every error body the emulation emits, RFC 7644 dialect",
            error_bodies_rfc
        ),
        case!(
            Suite::Snapshots,
            "error-bodies-notion",
            "every error body the emulation emits, Notion's REST dialect",
            error_bodies_notion
        ),
    ]
}

/// Every snapshot, by name, as committed; the runner compares against these.
pub const SNAPSHOTS: [(&str, &str); 4] = [
    (
        "c1z_small_org",
        include_str!("../../tests/snapshots/snapshots__c1z_small_org.snap"),
    ),
    (
        "provisioning_requests",
        include_str!("../../tests/snapshots/snapshots__provisioning_requests.snap"),
    ),
    (
        "error_bodies_rfc",
        include_str!("../../tests/snapshots/snapshots__error_bodies_rfc.snap"),
    ),
    (
        "error_bodies_notion",
        include_str!("../../tests/snapshots/snapshots__error_bodies_notion.snap"),
    ),
];

/// The body of an insta snapshot file: what follows its front matter.
pub fn snapshot_body(file: &str) -> &str {
    let rest = file.strip_prefix("---\n").unwrap_or(file);
    match rest.find("\n---\n") {
        Some(i) => &rest[i + 5..],
        None => rest,
    }
}

/// Compares `actual` with the committed snapshot `name`; the error shows the first differing
/// line of each.
pub fn compare_with_committed(name: &str, actual: &str) -> anyhow::Result<()> {
    let committed = SNAPSHOTS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, f)| snapshot_body(f))
        .with_context(|| format!("no committed snapshot {name}"))?;
    let (want, got) = (committed.trim_end(), actual.trim_end());
    if want == got {
        return Ok(());
    }
    let line = want
        .lines()
        .zip(got.lines())
        .position(|(a, b)| a != b)
        .unwrap_or_else(|| want.lines().count().min(got.lines().count()));
    bail!(
        "differs from the reviewed snapshot {name} at line {}:\n  reviewed: {}\n  now:      {}\n\
         (review with `cargo insta test -p notion-conformance --test snapshots --review`)",
        line + 1,
        want.lines().nth(line).unwrap_or("(end)"),
        got.lines().nth(line).unwrap_or("(end)")
    )
}

fn only_ours_on_emulation(ctx: &Ctx) -> Result<(), Skip> {
    if !matches!(ctx.connector, Connector::InProcess) {
        return Err(Skip("snapshots record this repository's connector".into()));
    }
    only_on_emulation(ctx)
}

/// The org the c1z and request snapshots are taken of.
pub fn snapshot_org() -> SeedSpec {
    SeedSpec {
        seed: 3,
        users: 14,
        groups: 3,
        inactive_ratio: 0.15,
        formatted_name_only_ratio: 0.15,
        no_role_extension_ratio: 0.15,
        secondary_email_ratio: 0.15,
        empty_group_ratio: 0.2,
        ..SeedSpec::default()
    }
}

/// The decoded newest run of a sync of the snapshot org, redacted, as pretty JSON.
pub async fn render_c1z(ctx: &'static Ctx) -> anyhow::Result<String> {
    let env = ctx.lab.org(snapshot_org(), Quirks::default()).await?;
    let file = ctx.c1z_path("snapshot");
    let judged = sync_and_judge(ctx, &env, &file).await?;
    let value = serde_json::to_value(&judged.dataset)?;
    Ok(serde_json::to_string_pretty(&Redactor::new().value(&value))?)
}

async fn c1z_small_org(ctx: &'static Ctx) -> CaseResult {
    only_ours_on_emulation(ctx)?;
    compare_with_committed("c1z_small_org", &render_c1z(ctx).await?)?;
    Ok("matches the reviewed snapshot".into())
}

/// Builds a provisioning request from the org's truth document.
type MakeRequest = fn(&Value) -> Provision;

/// Each provisioning operation on a fresh snapshot org, after a sync into its file; the
/// requests it sent (method, path, query, body), redacted, one block per operation.
pub async fn render_provisioning_requests(ctx: &'static Ctx) -> anyhow::Result<String> {
    let mut out = String::new();
    let mut redactor = Redactor::new();
    let operations: Vec<(&str, MakeRequest)> = vec![
        ("create-account", |_| Provision::CreateAccount {
            first_name: "Ada".into(),
            last_name: "Lovelace".into(),
            email: "ada.lovelace@conformance.example.com".into(),
        }),
        ("create-account-existing", |t| Provision::CreateAccount {
            first_name: "Again".into(),
            last_name: "Existing".into(),
            email: member(t, "member").1,
        }),
        ("delete-account", |t| Provision::DeleteUser {
            user_id: member(t, "member").0,
        }),
        ("delete-account-missing", |_| Provision::DeleteUser {
            user_id: "00000000-0000-4000-8000-000000000000".into(),
        }),
        ("grant-role", |t| Provision::Grant {
            entitlement_id: "role:membership_admin:assigned".into(),
            user_id: member(t, "member").0,
        }),
        ("grant-role-already-held", |t| Provision::Grant {
            entitlement_id: "role:member:assigned".into(),
            user_id: member(t, "member").0,
        }),
        ("revoke-role", |t| Provision::Revoke {
            grant_id: format!("role:member:assigned:user:{}", member(t, "member").0),
        }),
        ("grant-group", |t| Provision::Grant {
            entitlement_id: format!("group:{}:member", group_without(t, &member(t, "member").0)),
            user_id: member(t, "member").0,
        }),
        ("revoke-group", |t| {
            let (gid, uid) = some_membership(t);
            Provision::Revoke {
                grant_id: format!("group:{gid}:member:user:{uid}"),
            }
        }),
    ];
    for (name, make) in operations {
        let env = ctx.lab.org(snapshot_org(), Quirks::default()).await?;
        let admin = env.admin()?;
        let truth = admin_truth_json(&env).await?;
        let file = ctx.c1z_path("provision");
        sync_and_judge(ctx, &env, &file).await?;
        admin.clear_journal().await?;
        let request = make(&truth);
        let run = ctx.connector.provision(&env, &file, &request).await?;
        let _ = writeln!(
            out,
            "== {name}: exit {}, result {}",
            run.exit_code.map_or("signal".into(), |c| c.to_string()),
            run.reported_result().unwrap_or_else(|| "(none)".into())
        );
        for entry in admin.journal().await? {
            let field = |k: &str| entry.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
            let query = field("query");
            let status = entry.get("status").and_then(Value::as_u64).unwrap_or_default();
            let line = format!(
                "{} {}{}{} -> {status}",
                field("method"),
                field("path"),
                if query.is_empty() { "" } else { "?" },
                query
            );
            let _ = writeln!(out, "{}", redactor.text(&line));
            let body = field("body");
            if !body.is_empty() {
                let v: Value = serde_json::from_str(&body).unwrap_or(Value::String(body));
                let _ = writeln!(out, "  {}", serde_json::to_string(&redactor.value(&v))?);
            }
        }
    }
    Ok(out)
}

async fn admin_truth_json(env: &Env) -> anyhow::Result<Value> {
    let truth = env.truth().await?;
    Ok(serde_json::to_value(truth)?)
}

/// The first active user with this role and no other role extension quirk: (id, email).
fn member(truth: &Value, role: &str) -> (String, String) {
    let users = truth
        .get("users")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    users
        .iter()
        .find(|u| u.get("role").and_then(Value::as_str) == Some(role) && u.get("active") == Some(&Value::Bool(true)))
        .map(|u| {
            let s = |k: &str| u.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
            (s("id"), s("user_name"))
        })
        .unwrap_or_default()
}

/// A group the user is not in.
fn group_without(truth: &Value, user: &str) -> String {
    let groups = truth
        .get("groups")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    groups
        .iter()
        .find(|g| {
            !g.get("members")
                .and_then(Value::as_array)
                .is_some_and(|m| m.iter().any(|v| v.as_str() == Some(user)))
        })
        .and_then(|g| g.get("id").and_then(Value::as_str))
        .unwrap_or_default()
        .to_string()
}

/// The first membership of the first non-empty group: (group id, user id).
fn some_membership(truth: &Value) -> (String, String) {
    let groups = truth
        .get("groups")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    groups
        .iter()
        .find_map(|g| {
            let uid = g.get("members")?.as_array()?.first()?.as_str()?;
            Some((g.get("id")?.as_str()?.to_string(), uid.to_string()))
        })
        .unwrap_or_default()
}

async fn provisioning_requests(ctx: &'static Ctx) -> CaseResult {
    only_ours_on_emulation(ctx)?;
    compare_with_committed("provisioning_requests", &render_provisioning_requests(ctx).await?)?;
    Ok("matches the reviewed snapshot".into())
}

/// One request that draws an error, and what it is for.
struct Provoke {
    what: &'static str,
    method: &'static str,
    path: &'static str,
    body: Option<Value>,
    raw_body: Option<&'static str>,
    token: TokenUse,
}

#[derive(Clone, Copy)]
enum TokenUse {
    Valid,
    Wrong,
    Missing,
}

/// The requests that draw each error, some aimed at objects of this org (`truth`: the admin
/// API's document).
fn provocations(truth: &Value) -> Vec<Provoke> {
    let p = |what, method, path, body: Option<Value>| Provoke {
        what,
        method,
        path,
        body,
        raw_body: None,
        token: TokenUse::Valid,
    };
    let unknown = "Users/00000000-0000-4000-8000-000000000000";
    vec![
        Provoke {
            token: TokenUse::Missing,
            ..p("no token", "GET", "Users", None)
        },
        Provoke {
            token: TokenUse::Wrong,
            ..p("a wrong token", "GET", "Users", None)
        },
        p(
            "an unsupported filter",
            "GET",
            "Users?filter=userName%20co%20%22a%22",
            None,
        ),
        p(
            "a filter that does not parse",
            "GET",
            "Users?filter=userName%20eq",
            None,
        ),
        p("an unknown user", "GET", unknown, None),
        p("an unknown endpoint", "GET", "Nothing", None),
        p("a method the endpoint lacks", "PATCH", "Users", Some(json!({}))),
        Provoke {
            raw_body: Some("{not json"),
            ..p("a body that is not JSON", "POST", "Users", None)
        },
        p(
            "a user without userName",
            "POST",
            "Users",
            Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"]})),
        ),
        p(
            "a PATCH path that names nothing writable",
            "PATCH",
            leak(format!("Users/{}", pointer(truth, "/workspaces/0/users/2/id"))),
            Some(
                json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "path": "nope", "value": 1}]}),
            ),
        ),
        p(
            "an unknown role",
            "POST",
            "Users",
            Some(json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "role.test@conformance.example.com",
                "urn:ietf:params:scim:schemas:extension:notion:2.0:User": {"role": "emperor"}
            })),
        ),
        p(
            "removing a group member the group does not have",
            "PATCH",
            leak(format!("Groups/{}", pointer(truth, "/workspaces/0/groups/0/id"))),
            Some(
                json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "remove", "path": "members[value eq \"00000000-0000-4000-8000-000000000000\"]"}]}),
            ),
        ),
        p("/Me, undocumented", "GET", "Me", None),
        p(
            "an existing member",
            "POST",
            "Users",
            Some(json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": pointer(truth, "/workspaces/0/users/1/user_name"),
            })),
        ),
        p(
            "removing the owner who made the token",
            "DELETE",
            leak(format!("Users/{}", pointer(truth, "/workspaces/0/tokens/0/creator"))),
            None,
        ),
        p(
            "deleting a group that alone gives full access to a page",
            "DELETE",
            leak(format!("Groups/{}", sole_access_group(truth))),
            None,
        ),
        p(
            "a body over 500 KB",
            "POST",
            "Users",
            Some(json!({"userName": "big@conformance.example.com", "title": "x".repeat(600 * 1024)})),
        ),
    ]
}

fn pointer(truth: &Value, path: &str) -> String {
    truth
        .pointer(path)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn sole_access_group(truth: &Value) -> String {
    let groups = truth.pointer("/workspaces/0/groups").and_then(Value::as_array);
    groups
        .into_iter()
        .flatten()
        .find(|g| g.get("sole_full_access_pages").and_then(Value::as_u64).unwrap_or(0) > 0)
        .and_then(|g| g.get("id").and_then(Value::as_str))
        .unwrap_or_default()
        .to_string()
}

/// Paths are built once per snapshot run; leaking the few strings keeps `Provoke` simple.
fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// Every error body the emulation emits in a dialect, redacted: status, scimType and body.
pub async fn render_error_bodies(ctx: &'static Ctx, dialect: &str) -> anyhow::Result<String> {
    let quirks: Quirks = serde_json::from_value(json!({ "error_dialect": dialect }))
        .with_context(|| format!("unknown error dialect {dialect}"))?;
    let env = ctx.lab.org(snapshot_org(), quirks).await?;
    let admin = env.admin()?;
    let truth = admin.truth_json().await?;
    let mut redactor = Redactor::new();
    let mut out = String::new();
    for p in provocations(&truth) {
        let scim = match p.token {
            TokenUse::Valid => env.scim.clone(),
            TokenUse::Wrong => env.scim.with_token("secret_wrong_token"),
            TokenUse::Missing => env.scim.with_token(""),
        };
        let answer = match p.raw_body {
            Some(raw) => {
                scim.request_raw(p.method, p.path, Some(raw.as_bytes().to_vec()))
                    .await?
            }
            None => scim.request(p.method, p.path, p.body.as_ref()).await?,
        };
        let header = redactor.text(&format!("== {} ({} {}): {}", p.what, p.method, p.path, answer.status));
        let body = redactor.value(&answer.body);
        let _ = writeln!(out, "{header}\n{}", serde_json::to_string_pretty(&body)?);
    }
    // Last, a rate limit of one request a minute: the second request draws the 429.
    admin
        .set_faults(json!({"rate_limit": {"requests": 1, "window_secs": 60}}))
        .await?;
    let _ = env.scim.get("Users?count=1").await?;
    let answer = env.scim.get("Users?count=1").await?;
    admin.clear_faults().await?;
    let _ = writeln!(
        out,
        "== over the rate limit (GET Users?count=1): {}, Retry-After {}\n{}",
        answer.status,
        answer.retry_after.as_deref().unwrap_or("(none)"),
        serde_json::to_string_pretty(&redactor.value(&answer.body))?
    );
    Ok(out)
}

fn only_on_emulation(ctx: &Ctx) -> Result<(), Skip> {
    if !ctx.lab.is_emulation() {
        return Err(Skip("snapshots record the emulation; the target is not one".into()));
    }
    Ok(())
}

async fn error_bodies_rfc(ctx: &'static Ctx) -> CaseResult {
    only_on_emulation(ctx)?;
    compare_with_committed("error_bodies_rfc", &render_error_bodies(ctx, "rfc").await?)?;
    Ok("matches the reviewed snapshot".into())
}

async fn error_bodies_notion(ctx: &'static Ctx) -> CaseResult {
    only_on_emulation(ctx)?;
    compare_with_committed("error_bodies_notion", &render_error_bodies(ctx, "notion").await?)?;
    Ok("matches the reviewed snapshot".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_snapshot_is_reported_with_its_first_differing_line() {
        let committed = snapshot_body(SNAPSHOTS[0].1).to_string();
        assert!(compare_with_committed("c1z_small_org", &committed).is_ok());
        let changed = committed.replacen("\"display_name\"", "\"display-name\"", 1);
        let err = compare_with_committed("c1z_small_org", &changed)
            .err()
            .map(|e| e.to_string());
        let err = err.unwrap_or_default();
        assert!(
            err.contains("differs from the reviewed snapshot c1z_small_org"),
            "{err}"
        );
        assert!(err.contains("display-name"), "{err}");
        assert!(compare_with_committed("c1z_small_org", "").is_err());
    }

    #[test]
    fn front_matter_is_not_part_of_the_body() {
        assert_eq!(snapshot_body("---\nsource: x\nexpression: y\n---\nbody\n"), "body\n");
    }
}
