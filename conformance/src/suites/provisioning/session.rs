//! Runs model operations against a target: through the connector (after checking it declares
//! the capability, and after a sync into the file baton reads grants from) or straight through
//! SCIM, then judges the run's exit status and reported result against the model and the
//! target's truth against the model's state.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Context};
use serde_json::json;

use super::model::{Expect, Model, Op};
use crate::connector::{Capabilities, Provision, RunOutput};
use crate::suites::{sync_and_judge, Ctx};
use crate::target::Env;
use crate::truth::NOTION_USER_EXT;

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// Labels that claim a change.
const CHANGE_LABELS: [&str; 5] = ["created", "reused_existing_account", "deleted", "granted", "revoked"];

/// What a session did, for the pass note.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub connector_steps: usize,
    pub scim_steps: usize,
    /// Operations the connector does not declare.
    pub skipped: usize,
    /// Steps whose kind the state did not allow (e.g. revoking a group nobody is in).
    pub inapplicable: usize,
    pub judged_syncs: usize,
    /// Result label (or `exit N` for connectors that print none) -> count.
    pub results: BTreeMap<String, usize>,
    /// What the model expected, by the labels it allowed -> count: which transitions the
    /// sequences really exercised.
    pub expected: BTreeMap<String, usize>,
}

impl Tally {
    pub fn add(&mut self, other: &Tally) {
        self.connector_steps += other.connector_steps;
        self.scim_steps += other.scim_steps;
        self.skipped += other.skipped;
        self.inapplicable += other.inapplicable;
        self.judged_syncs += other.judged_syncs;
        for (k, v) in &other.results {
            *self.results.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &other.expected {
            *self.expected.entry(k.clone()).or_default() += v;
        }
    }

    pub fn describe(&self) -> String {
        let list = |m: &BTreeMap<String, usize>| {
            if m.is_empty() {
                "none".to_string()
            } else {
                m.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ")
            }
        };
        format!(
            "{} connector step(s), {} SCIM change(s), {} skipped (capability not declared), {} not applicable, {} judged sync(s); model expected: {}; reported: {}",
            self.connector_steps,
            self.scim_steps,
            self.skipped,
            self.inapplicable,
            self.judged_syncs,
            list(&self.expected),
            list(&self.results)
        )
    }
}

/// One sequence against one org.
#[derive(Debug)]
pub struct Session<'a> {
    pub ctx: &'static Ctx,
    pub env: &'a Env,
    /// The c1z baton reads entitlements and principals from; re-synced before grants and revokes.
    pub file: PathBuf,
    pub caps: &'a Capabilities,
    pub model: Model,
    /// One line per step, for messages.
    pub trace: Vec<String>,
    /// What each connector step reported (its label, `exit N`, or `skipped`), in order.
    pub shown: Vec<String>,
    pub tally: Tally,
}

impl<'a> Session<'a> {
    pub fn new(ctx: &'static Ctx, env: &'a Env, caps: &'a Capabilities, model: Model, file: PathBuf) -> Session<'a> {
        Session {
            ctx,
            env,
            file,
            caps,
            model,
            trace: Vec::new(),
            shown: Vec::new(),
            tally: Tally::default(),
        }
    }

    fn history(&self) -> String {
        if self.trace.is_empty() {
            "(none)".into()
        } else {
            self.trace
                .iter()
                .map(|l| format!("  {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        }
    }

    /// Notes a step whose kind had no operation to pick.
    pub fn inapplicable(&mut self, what: &str) {
        self.tally.inapplicable += 1;
        self.trace
            .push(format!("{}. ({what}: nothing to pick; not run)", self.trace.len() + 1));
    }

    /// Runs one operation and judges it; the error says which step, what differed, and the
    /// steps before it.
    pub async fn step(&mut self, op: &Op) -> anyhow::Result<()> {
        let n = self.trace.len() + 1;
        let what = self.model.describe(op);
        let result = if op.through_connector() {
            self.connector_step(op).await
        } else {
            self.scim_step(op).await
        };
        match result {
            Ok(note) => {
                self.trace.push(format!("{n}. {what}: {note}"));
                Ok(())
            }
            Err(e) => Err(anyhow::anyhow!(
                "step {n} ({what}): {e:#}\nsteps before it:\n{}",
                self.history()
            )),
        }
    }

    async fn connector_step(&mut self, op: &Op) -> anyhow::Result<String> {
        let request = self
            .model
            .provision(op)
            .context("internal: the model cannot name this operation's ids")?;
        let (rt, cap) = request.capability();
        if !self.caps.has(rt, cap) {
            self.tally.skipped += 1;
            self.shown.push("skipped".into());
            return Ok(format!("skipped: the connector does not declare {cap} on {rt}"));
        }
        if matches!(request, Provision::Grant { .. } | Provision::Revoke { .. }) {
            sync_and_judge(self.ctx, self.env, &self.file).await.context(
                "the sync before this grant or revoke (baton reads the entitlement and principal from the c1z)",
            )?;
            self.tally.judged_syncs += 1;
        }
        let expect = self.model.apply(op);
        let key = match (expect.change, expect.labels.is_empty()) {
            (false, true) => "refusal".to_string(),
            _ => expect.labels.join("|"),
        };
        *self.tally.expected.entry(key).or_default() += 1;
        let out = self.ctx.connector.provision(self.env, &self.file, &request).await?;
        self.tally.connector_steps += 1;
        let shown = out
            .reported_result()
            .unwrap_or_else(|| format!("exit {}", out.exit_code.map_or("signal".into(), |c| c.to_string())));
        *self.tally.results.entry(shown.clone()).or_default() += 1;
        self.shown.push(shown.clone());
        let verdict = judge(&expect, &out);
        let truth = self
            .env
            .truth()
            .await
            .context("reading the target's truth after the step")?;
        self.model.adopt_ids(&truth);
        let diffs = self.model.diff(&truth);
        let mut problems = Vec::new();
        if let Err(p) = verdict {
            problems.push(p);
        }
        if !diffs.is_empty() {
            problems.push(format!(
                "the target differs from the model ({}):\n{}",
                expect.why,
                diffs
                    .iter()
                    .map(|d| format!("    - {d}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            ));
        }
        if !problems.is_empty() {
            bail!(
                "{}\n  flags: {}\n  connector: {}",
                problems.join("\n"),
                request.args().join(" "),
                out.describe()
            );
        }
        Ok(if expect.change {
            shown
        } else {
            format!("{shown}, no change")
        })
    }

    async fn scim_step(&mut self, op: &Op) -> anyhow::Result<String> {
        let id = |m: &Model, user: usize| m.users.get(user).and_then(|u| u.id.clone()).context("internal: no id");
        let gid = |m: &Model, group: usize| m.groups.get(group).map(|g| g.id.clone()).context("internal: no group");
        let (method, path, body) = match *op {
            Op::ScimSetRole { user, role } => (
                "PATCH",
                format!("Users/{}", id(&self.model, user)?),
                Some(
                    json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "value": {NOTION_USER_EXT: {"role": role}}}]}),
                ),
            ),
            Op::ScimRemove { user } => ("DELETE", format!("Users/{}", id(&self.model, user)?), None),
            Op::ScimAddMember { user, group } => (
                "PATCH",
                format!("Groups/{}", gid(&self.model, group)?),
                Some(
                    json!({"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "members", "value": [{"value": id(&self.model, user)?}]}]}),
                ),
            ),
            Op::ScimRemoveMember { user, group } => (
                "PATCH",
                format!("Groups/{}", gid(&self.model, group)?),
                Some(
                    json!({"schemas": [PATCH_OP], "Operations": [{"op": "remove", "path": format!("members[value eq \"{}\"]", id(&self.model, user)?)}]}),
                ),
            ),
            _ => bail!("internal: not a SCIM operation"),
        };
        self.model.apply(op);
        self.env
            .scim
            .ok(method, &path, body.as_ref())
            .await
            .context("arranging the change through SCIM failed (the target refused it)")?;
        self.tally.scim_steps += 1;
        let truth = self.env.truth().await?;
        let diffs = self.model.diff(&truth);
        if !diffs.is_empty() {
            bail!(
                "after {method} {path} straight through SCIM the target differs from the model (the target, not the connector, is at fault):\n{}",
                diffs.iter().map(|d| format!("    - {d}")).collect::<Vec<_>>().join("\n")
            );
        }
        Ok("done".into())
    }

    /// A fresh sync judged by the oracle, and the target against the model once more.
    pub async fn finish(&mut self) -> anyhow::Result<()> {
        let judged = sync_and_judge(self.ctx, self.env, &self.file)
            .await
            .with_context(|| format!("the sync after the sequence\nsteps:\n{}", self.history()))?;
        self.tally.judged_syncs += 1;
        let diffs = self.model.diff(&judged.truth);
        if !diffs.is_empty() {
            bail!(
                "after the sequence the target differs from the model:\n{}\nsteps:\n{}",
                diffs.join("\n"),
                self.history()
            );
        }
        Ok(())
    }

    /// On a real tenant: removes, through SCIM, every account of the suite still present.
    pub async fn remove_own_accounts(&mut self) -> Vec<String> {
        let mut problems = Vec::new();
        for u in self.model.users.iter_mut().filter(|u| u.ours && u.present) {
            let Some(id) = u.id.clone() else { continue };
            match self.env.scim.request("DELETE", &format!("Users/{id}"), None).await {
                Ok(a) if a.is_success() || a.status == 404 => u.present = false,
                Ok(a) => problems.push(format!("could not remove {}: HTTP {}", u.label(), a.status)),
                Err(e) => problems.push(format!("could not remove {}: {e}", u.label())),
            }
        }
        problems
    }
}

/// The run's exit status and reported result against what the model expects.
pub fn judge(expect: &Expect, out: &RunOutput) -> Result<(), String> {
    if out.leaked_secret {
        return Err("the connector printed the SCIM token (shown redacted here)".into());
    }
    let label = out.reported_result();
    let allowed = || {
        if expect.labels.is_empty() {
            "a failure".to_string()
        } else {
            expect
                .labels
                .iter()
                .map(|l| format!("`{l}`"))
                .collect::<Vec<_>>()
                .join(" or ")
        }
    };
    if expect.change {
        if !out.success {
            return Err(format!(
                "the model says this changes the target ({}), so the run must exit 0; it exited {}",
                expect.why,
                out.exit_code.map_or("by a signal".into(), |c| c.to_string())
            ));
        }
        if let Some(l) = label.filter(|l| !expect.labels.contains(&l.as_str())) {
            return Err(format!(
                "it reported `{l}` but {}: the result should be {}",
                expect.why,
                allowed()
            ));
        }
        return Ok(());
    }
    match (out.success, label) {
        (true, Some(l)) if !expect.labels.contains(&l.as_str()) => {
            let lie = if CHANGE_LABELS.contains(&l.as_str()) {
                " although nothing changed"
            } else {
                ""
            };
            Err(format!(
                "it reported `{l}`{lie} ({}); an honest answer is {} (or a non-zero exit with no change)",
                expect.why,
                allowed()
            ))
        }
        (false, Some(l)) if l != "failed" => Err(format!("it exited non-zero but reported `{l}` ({})", expect.why)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn run(success: bool, stdout: &str) -> RunOutput {
        RunOutput {
            success,
            exit_code: Some(if success { 0 } else { 1 }),
            stdout: stdout.into(),
            stderr: String::new(),
            elapsed: Duration::ZERO,
            leaked_secret: false,
        }
    }

    fn said(label: &str) -> String {
        format!(r#"{{"result": "{label}"}}"#)
    }

    fn change(labels: &'static [&'static str]) -> Expect {
        Expect {
            change: true,
            labels,
            why: "it changes".into(),
        }
    }

    fn no_op(labels: &'static [&'static str]) -> Expect {
        Expect {
            change: false,
            labels,
            why: "x already holds it".into(),
        }
    }

    #[test]
    fn a_change_must_exit_zero_with_an_honest_label_or_none() {
        let e = change(&["granted"]);
        assert!(judge(&e, &run(true, &said("granted"))).is_ok());
        assert!(
            judge(&e, &run(true, "")).is_ok(),
            "silent connectors are judged by effect"
        );
        let err = judge(&e, &run(false, "")).unwrap_err();
        assert!(err.contains("must exit 0"), "{err}");
        let err = judge(&e, &run(true, &said("already_granted"))).unwrap_err();
        assert!(err.contains("reported `already_granted`"), "{err}");
    }

    #[test]
    fn a_no_op_reported_as_a_change_is_a_lie() {
        let e = no_op(&["already_exists"]);
        assert!(judge(&e, &run(true, &said("already_exists"))).is_ok());
        assert!(
            judge(&e, &run(false, &said("failed"))).is_ok(),
            "refusing a no-op is fine"
        );
        assert!(judge(&e, &run(false, "")).is_ok());
        assert!(judge(&e, &run(true, "")).is_ok());
        let err = judge(&e, &run(true, &said("created"))).unwrap_err();
        assert!(err.contains("reported `created` although nothing changed"), "{err}");
        let err = judge(&no_op(&["already_granted"]), &run(true, &said("granted"))).unwrap_err();
        assert!(err.contains("`granted` although nothing changed"), "{err}");
        let err = judge(&e, &run(false, &said("created"))).unwrap_err();
        assert!(err.contains("exited non-zero but reported `created`"), "{err}");
    }

    #[test]
    fn a_no_op_without_an_honest_label_allows_only_failure_or_silence() {
        let e = no_op(&[]);
        assert!(judge(&e, &run(false, &said("failed"))).is_ok());
        let err = judge(&e, &run(true, &said("already_granted"))).unwrap_err();
        assert!(err.contains("an honest answer is a failure"), "{err}");
    }
}
