//! The resilience suite: under injected trouble (seeded random faults, a 429 storm, list order
//! changing between pages, lying pages, a revoked token, an interruption) a sync either ends
//! with exactly the fault-free result, or fails with a clear error and leaves the previous file
//! byte for byte as it was. Nothing duplicated, nothing lost, no secret printed.
//!
//! While the org changes under the sync (`churn`: users and groups deleted, added and moved
//! between list requests), the right result is no longer one file: the rule is that every user
//! and group present for the whole sync is in the file, once, with the memberships that held
//! throughout; nothing that never existed is; no grant points at a user the file lacks. Users
//! and groups added or removed during the sync may be in or out.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use notion_scim_mock::{Quirks, SeedSpec};
use proptest::prelude::*;
use serde_json::{json, Value};

use super::{prop, sync_and_judge, Case, CaseResult, Ctx, Suite};
use crate::case;
use crate::connector::RunOutput;
use crate::oracle::{c1z, expect};
use crate::target::Env;

pub fn cases() -> Vec<Case> {
    vec![
        case!(Suite::Resilience, "random-faults", "property: seeded 5xx, 529, resets, lost and truncated answers, malformed bodies, latency: right result or clear failure, previous file kept", random_faults),
        case!(Suite::Resilience, "rate-limit-storm", "a 2-requests-per-second limit answering 429 with Retry-After: the sync waits and ends right", rate_limit_storm),
        case!(Suite::Resilience, "reordered-lists", "list order changes between pages: right result or clear failure, previous file kept", reordered_lists),
        case!(Suite::Resilience, "churn", "property: users and groups deleted, added and moved between list requests (and list order changing): everyone present throughout is in the file once, no grant dangles; or a clear failure, previous file kept", churn),
        case!(Suite::Resilience, "lying-pages", "itemsPerPage 0 or missing, inflated totalResults, an id on two pages, endless pages", lying_pages),
        case!(Suite::Resilience, "revoked-token", "a revoked token: a clear failure, the previous file kept, the token never printed", revoked_token),
        case!(Suite::Resilience, "interrupted", "a sync killed halfway: the previous file is untouched and the next sync works", interrupted),
    ]
}

/// A mid-sized org: several pages of users, groups with members inline.
fn org() -> SeedSpec {
    SeedSpec {
        seed: 31,
        users: 330,
        groups: 12,
        ..SeedSpec::default()
    }
}

/// A first, fault-free sync into a fresh file: the baseline whose bytes must survive trouble.
async fn baseline(ctx: &'static Ctx, env: &Env, name: &str) -> anyhow::Result<(std::path::PathBuf, Vec<u8>)> {
    let file = ctx.c1z_path(name);
    sync_and_judge(ctx, env, &file)
        .await
        .context("the fault-free baseline sync")?;
    let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
    Ok((file, bytes))
}

/// The rule after trouble: a sync that succeeded holds exactly the truth; one that failed said
/// why and left the file as it was. Returns a note on which of the two happened.
async fn judge_after_trouble(env: &Env, file: &Path, before: &[u8], run: &RunOutput) -> anyhow::Result<&'static str> {
    if run.leaked_secret {
        bail!("the connector printed the SCIM token: {}", run.describe());
    }
    if run.success {
        let truth = env.truth().await?;
        let (_, data) = c1z::read_latest(file).context("the sync exited 0 but its file does not decode")?;
        let expected = expect::derive(&truth);
        let diffs = expect::compare(&expected, &data);
        if !diffs.is_empty() {
            bail!(
                "the sync exited 0 with a wrong file: {}",
                expect::render(&diffs, &data, &expected)
            );
        }
        return Ok("right");
    }
    judge_failure(file, before, run)?;
    Ok("clear failure, file kept")
}

/// A failed sync must say why and leave the previous file byte for byte.
fn judge_failure(file: &Path, before: &[u8], run: &RunOutput) -> anyhow::Result<()> {
    if run.stderr.trim().is_empty() && run.stdout.trim().is_empty() {
        bail!("the sync failed without saying why: {}", run.describe());
    }
    let after = std::fs::read(file).with_context(|| format!("the failed sync removed {}", file.display()))?;
    if after != before {
        bail!(
            "the failed sync changed the previous file ({} bytes before, {} after): {}",
            before.len(),
            after.len(),
            run.describe()
        );
    }
    Ok(())
}

/// The fault kinds drawn from, in the emulation's text form. 429 has its own case: each costs a
/// second of `Retry-After`.
const FAULT_KINDS: [&str; 9] = [
    "500",
    "502",
    "503",
    "529",
    "reset",
    "lost-response",
    "truncate",
    "malformed",
    "latency:40",
];

#[derive(Debug, Clone)]
struct FaultPlan {
    seed: u64,
    probability: f64,
    kinds: Vec<&'static str>,
}

fn fault_plan() -> impl Strategy<Value = FaultPlan> {
    (
        any::<u64>(),
        0.05f64..0.3,
        proptest::sample::subsequence(FAULT_KINDS.to_vec(), 1..=FAULT_KINDS.len()),
    )
        .prop_map(|(seed, probability, kinds)| FaultPlan {
            seed,
            probability,
            kinds,
        })
}

async fn random_faults(ctx: &'static Ctx) -> CaseResult {
    prop::check(ctx, "random-faults", fault_plan, move |plan| async move {
        let env = ctx.lab.org(org(), Quirks::default()).await?;
        let admin = env.admin()?;
        let (file, before) = baseline(ctx, &env, "faults").await?;
        admin
            .set_faults(json!({"random": {"seed": plan.seed, "probability": plan.probability, "kinds": plan.kinds}}))
            .await?;
        let run = ctx.connector.sync(&env, &file).await?;
        admin.clear_faults().await?;
        judge_after_trouble(&env, &file, &before, &run).await.map(drop)
    })
    .await
}

async fn rate_limit_storm(ctx: &'static Ctx) -> CaseResult {
    let env = ctx.lab.org(org(), Quirks::default()).await?;
    let admin = env.admin()?;
    let (file, _) = baseline(ctx, &env, "storm").await?;
    admin
        .set_faults(json!({"rate_limit": {"requests": 2, "window_secs": 1}}))
        .await?;
    admin.clear_journal().await?;
    let judged = sync_and_judge(ctx, &env, &file).await.context("under a 429 storm")?;
    admin.clear_faults().await?;
    let limited = admin
        .journal()
        .await?
        .iter()
        .filter(|e| e.get("status").and_then(Value::as_u64) == Some(429))
        .count();
    if limited == 0 {
        bail!("the emulation answered no 429, so the case proves nothing");
    }
    Ok(format!(
        "{limited} answers of 429 waited out; {:.1}s",
        judged.run.elapsed.as_secs_f64()
    ))
}

async fn reordered_lists(ctx: &'static Ctx) -> CaseResult {
    let mut notes = Vec::new();
    for round in 0..3u64 {
        let spec = SeedSpec {
            seed: 500 + round,
            ..org()
        };
        let env = ctx.lab.org(spec, Quirks::default()).await?;
        let admin = env.admin()?;
        let (file, before) = baseline(ctx, &env, "reorder").await?;
        admin.set_faults(json!({"reorder": true})).await?;
        let run = ctx.connector.sync(&env, &file).await?;
        admin.clear_faults().await?;
        notes.push(
            judge_after_trouble(&env, &file, &before, &run)
                .await
                .with_context(|| format!("round {round}"))?,
        );
    }
    Ok(notes.join("; "))
}

/// One change of a churn script, in the emulation's terms (`ChurnStep`'s JSON).
#[derive(Debug, Clone)]
struct ChurnPlanStep {
    /// List requests of `target` after which it fires.
    after: u64,
    op: &'static str,
    target: &'static str,
    /// As a share of the list's length, so that shrinking the org keeps the step meaningful.
    at_share: f64,
    count: usize,
    to_share: f64,
    links: usize,
}

#[derive(Debug, Clone)]
struct ChurnPlan {
    seed: u64,
    users: usize,
    groups: usize,
    /// List order also rotating between requests.
    reorder: bool,
    steps: Vec<ChurnPlanStep>,
}

impl ChurnPlan {
    fn faults(&self) -> Value {
        let steps: Vec<Value> = self
            .steps
            .iter()
            .map(|s| {
                let len = if s.target == "users" { self.users } else { self.groups };
                let position = |share: f64| (share * len as f64) as usize;
                let mut step = json!({
                    "after": s.after,
                    "op": s.op,
                    "target": s.target,
                    "at": position(s.at_share),
                    "count": s.count,
                });
                if s.op == "move" {
                    step["to"] = json!(position(s.to_share));
                }
                if s.op == "insert" && s.links > 0 {
                    step["links"] = json!(s.links);
                }
                step
            })
            .collect();
        json!({ "churn": steps, "reorder": self.reorder })
    }
}

fn churn_step() -> impl Strategy<Value = ChurnPlanStep> {
    // Mostly after a walk has begun (a step before the first request changes nothing a walk
    // could miss), mostly on users, deletions the commonest: what makes offset pages skip.
    (
        prop_oneof![1 => Just(0u64), 6 => 1u64..5],
        prop_oneof![2 => Just("delete"), 1 => Just("insert"), 1 => Just("move")],
        prop_oneof![4 => Just("users"), 1 => Just("groups")],
        0.0f64..1.0,
        1usize..16,
        0.0f64..1.0,
        0usize..4,
    )
        .prop_map(|(after, op, target, at_share, count, to_share, links)| ChurnPlanStep {
            after,
            op,
            target,
            at_share,
            count,
            to_share,
            links,
        })
}

fn churn_plan() -> impl Strategy<Value = ChurnPlan> {
    // Several pages of users; some orgs with many groups (group pages change too), most with
    // few (so that many users belong to none, and a user lost by the walk is not found again
    // through a group).
    (
        any::<u64>(),
        110usize..420,
        prop_oneof![3 => 2usize..20, 1 => 20usize..140],
        proptest::bool::weighted(0.15),
        proptest::collection::vec(churn_step(), 1..6),
    )
        .prop_map(|(seed, users, groups, reorder, steps)| ChurnPlan {
            seed,
            users,
            groups,
            reorder,
            steps,
        })
}

/// The ids of the users and groups the churn added, from the emulation's record of what each
/// step did.
fn appeared(settings: &Value) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for step in settings["churn"].as_array().into_iter().flatten() {
        if step["op"] == "insert" {
            for id in step["applied"].as_array().into_iter().flatten() {
                if let Some(id) = id.as_str() {
                    ids.insert(id.to_string());
                }
            }
        }
    }
    ids
}

async fn churn(ctx: &'static Ctx) -> CaseResult {
    let outcomes = Arc::new((AtomicU32::new(0), AtomicU32::new(0)));
    let tally = outcomes.clone();
    let note = prop::check(ctx, "churn", churn_plan, move |plan| {
        let tally = tally.clone();
        async move {
            let spec = SeedSpec {
                seed: plan.seed,
                users: plan.users,
                groups: plan.groups,
                ..SeedSpec::default()
            };
            let env = ctx.lab.org(spec, Quirks::default()).await?;
            let admin = env.admin()?;
            let (file, previous) = baseline(ctx, &env, "churn").await?;
            let before = env.truth().await?;
            admin.set_faults(plan.faults()).await?;
            let run = ctx.connector.sync(&env, &file).await?;
            let settings = admin.faults().await?;
            admin.clear_faults().await?;
            let after = env.truth().await?;
            let right = judge_under_change(&file, &previous, &run, &before, &after, &appeared(&settings))?;
            let counter = if right { &tally.0 } else { &tally.1 };
            counter.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
    })
    .await?;
    Ok(format!(
        "{note}; {} kept the rule, {} failed clearly",
        outcomes.0.load(Ordering::Relaxed),
        outcomes.1.load(Ordering::Relaxed)
    ))
}

/// The rule after a sync that ran while the org changed: a sync that succeeded holds every
/// stable user and group once and nothing dangling; one that failed said why and left the
/// file as it was. `Ok(true)` for the former, `Ok(false)` for the latter.
fn judge_under_change(
    file: &Path,
    previous: &[u8],
    run: &RunOutput,
    before: &crate::truth::Truth,
    after: &crate::truth::Truth,
    appeared: &BTreeSet<String>,
) -> anyhow::Result<bool> {
    if run.leaked_secret {
        bail!("the connector printed the SCIM token: {}", run.describe());
    }
    if !run.success {
        judge_failure(file, previous, run)?;
        return Ok(false);
    }
    // A run holding an id twice does not decode: the decoder names the id and both rows.
    let (_, data) = c1z::read_latest(file).context("the sync exited 0 but its file does not decode")?;
    let set = expect::stable_set(before, after, appeared);
    let diffs = expect::compare_under_change(&set, &data);
    if !diffs.is_empty() {
        bail!(
            "the sync exited 0 while the org changed, and broke the rule: {}",
            expect::render(&diffs, &data, &set.expected)
        );
    }
    Ok(true)
}

async fn lying_pages(ctx: &'static Ctx) -> CaseResult {
    let pathologies = [
        json!("zero_items_per_page"),
        json!("missing_items_per_page"),
        json!({"inflated_total_results": 7}),
        json!("duplicate_across_pages"),
        json!("endless_pages"),
    ];
    let mut notes = Vec::new();
    for paging in pathologies {
        let env = ctx.lab.org(org(), Quirks::default()).await?;
        let admin = env.admin()?;
        let (file, before) = baseline(ctx, &env, "lying").await?;
        admin.set_faults(json!({ "paging": paging })).await?;
        let run = ctx.connector.sync(&env, &file).await?;
        admin.clear_faults().await?;
        let verdict = judge_after_trouble(&env, &file, &before, &run)
            .await
            .with_context(|| format!("paging fault {paging}"))?;
        notes.push(format!("{}: {verdict}", paging.to_string().trim_matches('"')));
    }
    Ok(notes.join("; "))
}

async fn revoked_token(ctx: &'static Ctx) -> CaseResult {
    let env = ctx.lab.org(org(), Quirks::default()).await?;
    let admin = env.admin()?;
    let (file, before) = baseline(ctx, &env, "revoked").await?;
    admin.revoke_token("tok_1").await?;
    let run = ctx.connector.sync(&env, &file).await?;
    if run.success {
        bail!("the sync succeeded with a revoked token: {}", run.describe());
    }
    let note = judge_after_trouble(&env, &file, &before, &run).await?;
    Ok(format!("{note}: {}", crate::scim::short(&run.stderr_tail())))
}

async fn interrupted(ctx: &'static Ctx) -> CaseResult {
    let env = ctx.lab.org(org(), Quirks::default()).await?;
    let admin = env.admin()?;
    let (file, before) = baseline(ctx, &env, "interrupted").await?;
    // Slow answers, so that the stop lands in the middle of the walk: any connector needs two
    // rounds of requests at least (a list's first page says how long it is), which at 300 ms
    // each end after the stop at 400 ms, however many it sends at once; the first round has
    // come back by then (unless the connector is slow to start).
    admin.set_faults(json!({"latency_ms": 300})).await?;
    let finished = ctx
        .connector
        .sync_interrupted(&env, &file, Duration::from_millis(400))
        .await?;
    admin.clear_faults().await?;
    if let Some(run) = finished {
        bail!("the sync finished before it could be interrupted: {}", run.describe());
    }
    let after = std::fs::read(&file).context("the interrupted sync removed the previous file")?;
    if after != before {
        bail!("the interrupted sync changed the previous file");
    }
    sync_and_judge(ctx, &env, &file)
        .await
        .context("the sync after the interruption")?;
    Ok("previous file untouched; the next sync is right".into())
}
