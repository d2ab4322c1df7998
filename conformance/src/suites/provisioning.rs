//! The provisioning suite: the connector's one-shot operations (create and delete accounts,
//! grant and revoke roles and group memberships) as transitions of a small pure model of the
//! workspace (`model`), interleaved with changes made behind the connector's back through
//! SCIM. After every step the run's exit status and reported result must match what the model
//! says happened, and the target's truth must match the model; every sequence ends with a
//! fresh sync judged by the oracle.
//!
//! On the emulation each sequence gets a fresh generated org and may touch any member but the
//! owners (changing an owner revokes the token in use). On a real tenant it touches only
//! accounts it creates (on the test domain, within `--max-created`) and removes them after each
//! sequence.

mod model;
mod pick;
mod session;

use anyhow::Context;
use notion_scim_mock::{Quirks, SeedSpec};
use parking_lot::Mutex;
use proptest::prelude::*;
use proptest::sample::Index;

use self::model::Model;
use self::pick::Kind;
use self::session::{Session, Tally};
use super::{prop, Case, CaseResult, Ctx, Suite};
use crate::case;
use crate::connector::Capabilities;
use crate::target::{Env, Skip};

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            Suite::Provisioning,
            "state-machine",
            "property: random sequences of grants, revokes, creations, deletions and changes behind the connector's back match a reference model",
            state_machine
        ),
        case!(
            Suite::Provisioning,
            "outcomes",
            "each result once, in a readable sequence: created, already_exists, granted, already_granted, revoked, already_revoked, deleted, already_deleted, re-created with the same id",
            outcomes
        ),
    ]
}

/// The capabilities whose absence makes the whole suite a skip.
const PROVISIONING: [(&str, &str); 4] = [
    ("user", "CAPABILITY_ACCOUNT_PROVISIONING"),
    ("user", "CAPABILITY_RESOURCE_DELETE"),
    ("role", "CAPABILITY_PROVISION"),
    ("group", "CAPABILITY_PROVISION"),
];

/// The connector's capabilities, or a skip when nothing is provisionable or writes are not
/// allowed.
async fn preflight(ctx: &'static Ctx) -> anyhow::Result<Capabilities> {
    if !ctx.lab.is_embedded() && !ctx.lab.allow_writes {
        return Err(Skip("provisioning writes to the target: needs --allow-writes".into()).into());
    }
    let caps = ctx.connector.capabilities().await?;
    if !PROVISIONING.iter().any(|(t, c)| caps.has(t, c)) {
        return Err(Skip("the connector declares no provisioning capability".into()).into());
    }
    Ok(caps)
}

/// A small org for one sequence. No inactive records (whether a role change reactivates or
/// removes one is unknown) and every record with the role extension (a missing one is the sync
/// suite's subject, where connectors are known to differ).
fn org_spec(seed: u64) -> SeedSpec {
    SeedSpec {
        seed,
        users: 12,
        groups: 3,
        guests: Some(1),
        inactive_ratio: 0.0,
        no_role_extension_ratio: 0.0,
        empty_group_ratio: 0.0,
        ..SeedSpec::default()
    }
}

/// Emails the suite may create, asked of the lab once per case (a real tenant counts them
/// against `--max-created`).
fn own_emails(ctx: &'static Ctx, prefix: &str, wanted: usize) -> anyhow::Result<Vec<String>> {
    let mut emails = Vec::new();
    for i in 1..=wanted {
        match ctx.lab.new_account_email(&format!("conformance-{prefix}-{i}")) {
            Ok(e) => emails.push(e),
            Err(skip) if emails.is_empty() => return Err(skip.into()),
            Err(_) => break,
        }
    }
    Ok(emails)
}

/// A target for one sequence and its model, with the suite's own accounts added (any left
/// from an earlier run removed first, so every sequence starts from "not a member").
async fn open(ctx: &'static Ctx, org_seed: u64, emails: &[String]) -> anyhow::Result<(Env, Model, Vec<usize>)> {
    let (env, only_ours) = if ctx.lab.is_emulation() {
        (ctx.lab.org(org_spec(org_seed), Quirks::default()).await?, false)
    } else {
        (ctx.lab.as_is().await?, true)
    };
    let mut truth = env.truth().await.context("reading the target's truth")?;
    let mut leftovers = Vec::new();
    for email in emails {
        if let Some(u) = truth.user_by_email(email) {
            env.scim
                .ok("DELETE", &format!("Users/{}", u.id), None)
                .await
                .with_context(|| format!("removing {email}, left over from an earlier run"))?;
            leftovers.push((email.clone(), u.id.clone()));
        }
    }
    if !leftovers.is_empty() {
        truth = env.truth().await?;
    }
    let mut model = Model::from_truth(&truth, only_ours);
    let own = emails
        .iter()
        .enumerate()
        .map(|(i, email)| {
            let earlier = leftovers.iter().find(|(e, _)| e == email).map(|(_, id)| id.clone());
            model.add_own(email, "Conformance", &format!("Account{}", i + 1), earlier)
        })
        .collect();
    Ok((env, model, own))
}

/// On a real tenant, removes the suite's accounts whatever the sequence's `result`, and adds
/// any clean-up failure to it.
async fn with_clean_up(session: &mut Session<'_>, result: anyhow::Result<()>) -> anyhow::Result<()> {
    if !session.model.only_ours {
        return result;
    }
    let problems = session.remove_own_accounts().await;
    match (result, problems.is_empty()) {
        (Err(e), true) => Err(e),
        (Err(e), false) => Err(e.context(format!("also, the clean-up: {}", problems.join("; ")))),
        (Ok(()), true) => Ok(()),
        (Ok(()), false) => Err(anyhow::anyhow!("the clean-up failed: {}", problems.join("; "))),
    }
}

/// One step of a sequence: a kind of operation, and which of the operations the state allows
/// when it runs.
#[derive(Clone, Copy)]
struct Step {
    kind: Kind,
    pick: Index,
}

impl std::fmt::Debug for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}#{}", self.kind, self.pick.index(1 << 16))
    }
}

/// Kinds with their weights: the connector's operations often, each no-op and each change
/// behind its back now and then.
const KINDS: [(Kind, usize); 16] = [
    (Kind::Create, 2),
    (Kind::Readd, 2),
    (Kind::CreateExisting, 1),
    (Kind::Delete, 2),
    (Kind::DeleteGone, 1),
    (Kind::GrantRole, 4),
    (Kind::RevokeHeldRole, 3),
    (Kind::RevokeRoleNotHeld, 1),
    (Kind::GrantGroup, 3),
    (Kind::RevokeGroup, 3),
    (Kind::RevokeGroupNotMember, 1),
    (Kind::GrantToGone, 1),
    (Kind::ScimSetRole, 1),
    (Kind::ScimRemove, 1),
    (Kind::ScimAddMember, 1),
    (Kind::ScimRemoveMember, 1),
];

fn kind() -> impl Strategy<Value = Kind> {
    let weighted: Vec<Kind> = KINDS.iter().flat_map(|&(k, w)| std::iter::repeat_n(k, w)).collect();
    proptest::sample::select(weighted)
}

/// 6 to 12 steps and an org seed. The seed does not shrink: a smaller seed is another org,
/// not a simpler one, and the shrinking budget is better spent on the steps.
fn sequence() -> impl Strategy<Value = (Vec<Step>, u64)> {
    let steps = proptest::collection::vec(
        (kind(), any::<Index>()).prop_map(|(kind, pick)| Step { kind, pick }),
        1..=12,
    );
    (AtLeast(steps, 6), any::<u64>().no_shrink())
}

/// Draws only sequences of at least `.1` steps but lets them shrink below that, down to the
/// one step that fails.
#[derive(Debug)]
struct AtLeast<S>(S, usize);

impl<S: Strategy<Value = Vec<Step>>> Strategy for AtLeast<S> {
    type Tree = S::Tree;
    type Value = Vec<Step>;

    fn new_tree(&self, runner: &mut proptest::test_runner::TestRunner) -> proptest::strategy::NewTree<Self> {
        use proptest::strategy::ValueTree;
        loop {
            let tree = self.0.new_tree(runner)?;
            if tree.current().len() >= self.1 {
                return Ok(tree);
            }
        }
    }
}

async fn state_machine(ctx: &'static Ctx) -> CaseResult {
    let caps = preflight(ctx).await?;
    let wanted = if ctx.lab.is_emulation() { 3 } else { 2 };
    let emails = own_emails(ctx, "sm", wanted)?;
    let tally = std::sync::Arc::new(Mutex::new(Tally::default()));
    let shared = (std::sync::Arc::new(caps), std::sync::Arc::new(emails), tally.clone());
    let note = prop::check(
        ctx,
        "state-machine",
        sequence,
        move |(steps, org_seed): (Vec<Step>, u64)| {
            let (caps, emails, tally) = shared.clone();
            async move { run_sequence(ctx, &caps, &emails, org_seed, &steps, &tally).await }
        },
    )
    .await?;
    let tally = tally.lock().clone();
    if tally.connector_steps == 0 {
        anyhow::bail!(
            "no step ran through the connector ({}): the property judged nothing",
            tally.describe()
        );
    }
    Ok(format!("{note}; {}", tally.describe()))
}

async fn run_sequence(
    ctx: &'static Ctx,
    caps: &Capabilities,
    emails: &[String],
    org_seed: u64,
    steps: &[Step],
    tally: &Mutex<Tally>,
) -> anyhow::Result<()> {
    let (env, mut model, _) = open(ctx, org_seed, emails).await?;
    model.add_ghost();
    let mut session = Session::new(ctx, &env, caps, model, ctx.c1z_path("state-machine"));
    let result = async {
        for step in steps {
            let mut options = session.model.options(step.kind);
            // On a real tenant only the suite's own accounts can be touched: a step with nobody
            // to act on creates one instead of being wasted.
            if options.is_empty() && session.model.only_ours {
                options = session.model.options(Kind::Create);
            }
            if options.is_empty() {
                session.inapplicable(&format!("{:?}", step.kind));
                continue;
            }
            session.step(step.pick.get(&options)).await?;
        }
        session.finish().await
    }
    .await;
    let result = with_clean_up(&mut session, result).await;
    tally.lock().add(&session.tally);
    result
}

async fn outcomes(ctx: &'static Ctx) -> CaseResult {
    let caps = preflight(ctx).await?;
    let emails = own_emails(ctx, "outcomes", 1)?;
    let (env, model, own) = open(ctx, 3, &emails).await?;
    let account = *own.first().context("no account to create")?;
    let group = (!model.groups.is_empty()).then_some(0);
    let script = model::outcomes_script(account, group);
    let mut session = Session::new(ctx, &env, &caps, model, ctx.c1z_path("outcomes"));
    let result = async {
        for op in &script {
            session.step(op).await?;
        }
        session.finish().await
    }
    .await;
    let result = with_clean_up(&mut session, result).await;
    result?;
    let mut note = format!("{} steps", script.len());
    if group.is_none() {
        note.push_str(" (the target has no group: group steps left out)");
    }
    Ok(format!(
        "{note}: {}; {}",
        session.shown.join(", "),
        session.tally.describe()
    ))
}
