//! The resilience suite: under injected trouble (seeded random faults, a 429 storm, list order
//! changing between pages, lying pages, a revoked token, an interruption) a sync either ends
//! with exactly the fault-free result, or fails with a clear error and leaves the previous file
//! byte for byte as it was. Nothing duplicated, nothing lost, no secret printed.

use std::path::Path;
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
    Ok("clear failure, file kept")
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
    // Slow answers, so that the stop lands in the middle of the walk.
    admin.set_faults(json!({"latency_ms": 150})).await?;
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
