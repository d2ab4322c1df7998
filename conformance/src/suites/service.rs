//! The service-mode suite: the connector runs as a daemon (`BATON_CLIENT_ID` set) against the
//! fake ConductorOne ([`crate::fake_c1`]) and an emulated org, both in-process, and is judged by
//! what it sends: a sync task's uploaded c1z must equal the org's truth (decoded by the oracle),
//! grant, revoke, create-account and delete tasks must show in the emulation, and the failure
//! cases must end as baton-sdk's service mode ends them.
//!
//! The connector is always a process (this repository's `baton-notion` binary, or any
//! `--connector`), started with the environment a deployment gives it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use notion_scim_mock::{Quirks, SeedSpec};
use parking_lot::Mutex;
use tokio::io::AsyncReadExt;

use super::{Case, CaseResult, Ctx, Suite};
use crate::case;
use crate::connector::Connector;
use crate::fake_c1::{self, Call, FakeC1, Finish, Options, Recorded, TaskSpec};
use crate::target::{Env, Skip};
use crate::truth::Truth;

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            Suite::Service,
            "sync",
            "a sync task: Hello first, a heartbeat before the work, the uploaded c1z equals the truth, then FinishTask",
            sync
        ),
        case!(
            Suite::Service,
            "provisioning",
            "grant, revoke, create-account and delete tasks (with -p) finish successfully and show in the emulation",
            provisioning
        ),
        case!(
            Suite::Service,
            "refused-secret",
            "a malformed client secret, then a well-formed one that is not the registered key: no token, the daemon exits non-zero, nothing leaks",
            refused_secret
        ),
        case!(
            Suite::Service,
            "unavailable-recovery",
            "BatonService answers UNAVAILABLE at start-up, then recovers: the daemon retries its Hello and completes a sync",
            unavailable_recovery
        ),
        case!(
            Suite::Service,
            "upload-retry",
            "the first upload fails: the c1z is uploaded again from byte 0 and the task still succeeds",
            upload_retry
        ),
        case!(
            Suite::Service,
            "heartbeat-cancel",
            "a heartbeat answered cancelled stops the sync: nothing uploaded, no success; the daemon goes on to its next task",
            heartbeat_cancel
        ),
        case!(
            Suite::Service,
            "unsupported-task",
            "a task type baton-sdk does not handle (event_feed) is finished with an error",
            unsupported_task
        ),
        case!(
            Suite::Service,
            "no-provisioning",
            "without -p a grant task is finished with an error and changes nothing",
            no_provisioning
        ),
        case!(
            Suite::Service,
            "sigterm",
            "SIGTERM while idle: the daemon exits 0 within seconds",
            sigterm
        ),
    ]
}

/// How long one task may take in this suite's small orgs.
const TASK_TIMEOUT: Duration = Duration::from_secs(60);
/// Fast polling keeps the suite in seconds.
const POLL_MS: u64 = 50;

/// The connector binary: `--connector`, or this repository's `baton-notion` beside the runner
/// (built here when the runner was started by cargo and it is missing).
pub fn connector_binary(connector: &Connector) -> anyhow::Result<PathBuf> {
    if let Connector::Binary(path) = connector {
        return Ok(path.clone());
    }
    let exe = std::env::current_exe().context("cannot find the runner's own path")?;
    let name = format!("baton-notion{}", std::env::consts::EXE_SUFFIX);
    let mut dirs = Vec::new();
    if let Some(dir) = exe.parent() {
        dirs.push(dir.to_path_buf());
        // Test binaries live one level down, in deps/.
        if let Some(up) = dir.parent() {
            dirs.push(up.to_path_buf());
        }
    }
    if let Some(found) = dirs.iter().map(|d| d.join(&name)).find(|p| p.is_file()) {
        return Ok(found);
    }
    if let (Ok(cargo), Some(dir)) = (std::env::var("CARGO"), dirs.first()) {
        let mut cmd = crate::connector::connector_build(cargo, &crate::connector::profile_of(dir));
        let status = cmd.status().context("cannot run cargo to build baton-notion")?;
        if status.success() {
            if let Some(found) = dirs.iter().map(|d| d.join(&name)).find(|p| p.is_file()) {
                return Ok(found);
            }
        }
    }
    bail!(
        "the service suite runs the connector as a process, and no baton-notion binary is beside {}: build it (cargo build -p baton-notion) or pass --connector",
        exe.display()
    )
}

/// An org, a fake ConductorOne and its CA on disk, for one case.
pub struct Stage {
    pub env: Env,
    pub fake: FakeC1,
    pub dir: tempfile::TempDir,
}

impl std::fmt::Debug for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stage").field("fake", &self.fake.api_host()).finish()
    }
}

impl Stage {
    pub async fn new(env: Env) -> anyhow::Result<Stage> {
        let fake = FakeC1::start(Options::default()).await?;
        fake.update_faults(|f| f.next_poll_ms = POLL_MS);
        let dir = tempfile::tempdir().context("cannot make a scratch directory")?;
        fake.write_ca(&dir.path().join("fake-c1-ca.pem"))?;
        Ok(Stage { env, fake, dir })
    }

    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("fake-c1-ca.pem")
    }

    /// Starts the connector in service mode with the fake's credentials (or `secret` instead of
    /// the minted one), `-p` when `provisioning`.
    pub async fn daemon(&self, binary: &Path, provisioning: bool, secret: Option<&str>) -> anyhow::Result<Daemon> {
        let mut env = self.fake.env(&self.ca_file());
        if let Some(s) = secret {
            for (k, v) in &mut env {
                if k == "BATON_CLIENT_SECRET" {
                    *v = s.to_string();
                }
            }
        }
        env.push(("BATON_SCIM_TOKEN".into(), self.env.scim_token().to_string()));
        env.push(("BATON_HOST_ID".into(), "notion-conformance".into()));
        let mut args = vec![
            "--base-url".to_string(),
            self.env.base_url().to_string(),
            "--log-level".to_string(),
            "info".to_string(),
        ];
        if provisioning {
            args.push("-p".into());
        }
        let secrets = vec![
            self.env.scim_token().to_string(),
            self.fake.credentials().client_secret.clone(),
            secret.unwrap_or_default().to_string(),
        ];
        Daemon::spawn(binary, &args, &env, secrets).await
    }
}

/// A connector process in service mode, its output captured.
#[derive(Debug)]
pub struct Daemon {
    child: tokio::process::Child,
    output: Arc<Mutex<String>>,
    secrets: Vec<String>,
    _scratch: tempfile::TempDir,
}

/// How a daemon ended.
#[derive(Debug)]
pub struct Exit {
    pub code: Option<i32>,
    /// stdout and stderr, secrets redacted.
    pub output: String,
    /// A secret (SCIM token or client secret) appeared in the output.
    pub leaked: bool,
}

impl Exit {
    pub fn tail(&self) -> String {
        let lines: Vec<&str> = self.output.lines().collect();
        lines[lines.len().saturating_sub(4)..].join(" | ")
    }
}

impl Daemon {
    async fn spawn(
        binary: &Path,
        args: &[String],
        env: &[(String, String)],
        secrets: Vec<String>,
    ) -> anyhow::Result<Daemon> {
        let scratch = tempfile::tempdir().context("cannot make a scratch directory")?;
        let mut cmd = crate::connector::clean_command(binary, args, scratch.path());
        cmd.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot start the connector {}", binary.display()))?;
        let output = Arc::new(Mutex::new(String::new()));
        if let Some(mut out) = child.stdout.take() {
            let sink = output.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let _ = out.read_to_end(&mut buf).await;
                sink.lock().push_str(&String::from_utf8_lossy(&buf));
            });
        }
        if let Some(mut err) = child.stderr.take() {
            let sink = output.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let _ = err.read_to_end(&mut buf).await;
                sink.lock().push_str(&String::from_utf8_lossy(&buf));
            });
        }
        Ok(Daemon {
            child,
            output,
            secrets: secrets.into_iter().filter(|s| !s.is_empty()).collect(),
            _scratch: scratch,
        })
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Waits up to `timeout` for the process to exit on its own.
    pub async fn exited_within(&mut self, timeout: Duration) -> Option<Exit> {
        match tokio::time::timeout(timeout, self.child.wait()).await {
            Ok(Ok(status)) => Some(self.exit(status.code()).await),
            _ => None,
        }
    }

    /// SIGTERM, then up to `grace` to exit (SIGKILL after that, reported as no exit code).
    pub async fn terminate(mut self, grace: Duration) -> Exit {
        if let Some(pid) = self.pid() {
            let _ = tokio::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await;
        }
        match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(Ok(status)) => self.exit(status.code()).await,
            _ => {
                let _ = self.child.kill().await;
                let mut e = self.exit(None).await;
                e.output
                    .push_str(&format!("\n[still running {}s after SIGTERM: killed]", grace.as_secs()));
                e
            }
        }
    }

    async fn exit(&mut self, code: Option<i32>) -> Exit {
        // Let the readers drain what the process wrote last.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let raw = self.output.lock().clone();
        let leaked = self.secrets.iter().any(|s| raw.contains(s.as_str()));
        let mut output = raw;
        for s in &self.secrets {
            output = output.replace(s.as_str(), "[REDACTED]");
        }
        Exit { code, output, leaked }
    }
}

/// A small org for service cases.
fn small_org(seed: u64) -> SeedSpec {
    SeedSpec {
        seed,
        users: 40,
        groups: 4,
        guests: Some(2),
        inactive_ratio: 0.0,
        no_role_extension_ratio: 0.0,
        empty_group_ratio: 0.0,
        ..SeedSpec::default()
    }
}

async fn stage(ctx: &'static Ctx, seed: u64) -> anyhow::Result<(Stage, PathBuf)> {
    if !ctx.lab.is_embedded() {
        return Err(Skip("the service suite runs against the embedded emulation only".into()).into());
    }
    let binary = connector_binary(&ctx.connector)?;
    let env = ctx.lab.org(small_org(seed), Quirks::default()).await?;
    Ok((Stage::new(env).await?, binary))
}

/// Waits for `task_id`'s FinishTask; on a timeout says what the daemon did and printed.
async fn finished(stage: &Stage, daemon: &mut Daemon, task_id: &str, what: &str) -> anyhow::Result<Finish> {
    let deadline = Instant::now() + TASK_TIMEOUT;
    loop {
        if let Some(f) = stage.fake.task(task_id).and_then(|t| t.finish) {
            return Ok(f);
        }
        if let Some(exit) = daemon.exited_within(Duration::from_millis(50)).await {
            bail!(
                "the daemon exited ({}) before finishing the {what} task; calls: {}; output: {}",
                code_text(exit.code),
                fake_c1::summarize(&stage.fake.calls()),
                exit.tail()
            );
        }
        if Instant::now() > deadline {
            bail!(
                "the {what} task was not finished within {}s; calls: {}",
                TASK_TIMEOUT.as_secs(),
                fake_c1::summarize(&stage.fake.calls())
            );
        }
    }
}

fn code_text(code: Option<i32>) -> String {
    code.map_or("killed by a signal".into(), |c| format!("exit {c}"))
}

fn describe_finish(f: &Finish) -> String {
    if f.success {
        "success".into()
    } else {
        format!(
            "error (code {}: {:?}, non_retryable {})",
            f.code, f.message, f.non_retryable
        )
    }
}

/// Stops the daemon with SIGTERM and requires that it printed no secret. How it exits is the
/// `sigterm` case's subject alone, so that one failure there does not fail every case.
async fn stop(daemon: Daemon) -> anyhow::Result<Exit> {
    let exit = daemon.terminate(Duration::from_secs(10)).await;
    ensure!(
        !exit.leaked,
        "the daemon printed a secret (SCIM token or client secret): {}",
        exit.tail()
    );
    Ok(exit)
}

/// The order baton-sdk's service mode keeps, checked on the record: a token before any gRPC
/// call, one Hello (no task id) before any GetTask, and for `task_id`: a heartbeat before its
/// upload, its upload before its FinishTask.
fn check_order(calls: &[Recorded], task_id: &str) -> anyhow::Result<()> {
    let pos = |pred: &dyn Fn(&Call) -> bool| calls.iter().position(|r| pred(&r.call));
    let summary = || fake_c1::summarize(calls);
    let hello = pos(&|c| matches!(c, Call::Hello { task_id, .. } if task_id.is_empty()))
        .with_context(|| format!("no start-up Hello; calls: {}", summary()))?;
    let first_poll = pos(&|c| matches!(c, Call::GetTask { .. } | Call::GetTasks { .. }))
        .with_context(|| format!("no GetTask; calls: {}", summary()))?;
    ensure!(
        hello < first_poll,
        "GetTask came before the start-up Hello; calls: {}",
        summary()
    );
    let heartbeat = pos(&|c| matches!(c, Call::Heartbeat { task_id: t, .. } if t == task_id))
        .with_context(|| format!("no heartbeat for the sync task; calls: {}", summary()))?;
    let upload = pos(&|c| matches!(c, Call::Upload { task_id: t, outcome, .. } if t == task_id && outcome == "kept"))
        .with_context(|| format!("no upload kept for the sync task; calls: {}", summary()))?;
    let finish = pos(&|c| matches!(c, Call::Finish(f) if f.task_id == task_id))
        .with_context(|| format!("no FinishTask for the sync task; calls: {}", summary()))?;
    ensure!(
        heartbeat < upload,
        "the upload came before any heartbeat; calls: {}",
        summary()
    );
    ensure!(
        upload < finish,
        "FinishTask came before the upload; calls: {}",
        summary()
    );
    Ok(())
}

/// Decodes the c1z the daemon uploaded for `task_id` with the oracle and compares it with the
/// org's truth.
async fn judge_upload(ctx: &Ctx, stage: &Stage, task_id: &str) -> anyhow::Result<String> {
    let uploads = stage.fake.take_uploads(task_id);
    let c1z: Vec<_> = uploads.iter().filter(|u| u.kind.starts_with("c1z")).collect();
    let [upload] = c1z.as_slice() else {
        bail!(
            "expected one c1z upload for the sync task, got {} (kinds: {:?})",
            c1z.len(),
            uploads.iter().map(|u| u.kind.as_str()).collect::<Vec<_>>()
        );
    };
    let file = ctx.c1z_path("service");
    std::fs::write(&file, &upload.bytes).with_context(|| format!("cannot write {}", file.display()))?;
    let truth = stage.env.truth().await.context("reading the emulation's truth")?;
    let (_, dataset) = crate::oracle::c1z::read_latest(&file).with_context(|| {
        format!(
            "the uploaded file ({} bytes, {}) does not decode",
            upload.size, upload.kind
        )
    })?;
    let expected = crate::oracle::expect::derive(&truth);
    let diffs = crate::oracle::expect::compare(&expected, &dataset);
    if !diffs.is_empty() {
        bail!("{}", crate::oracle::expect::render(&diffs, &dataset, &expected));
    }
    Ok(format!("{} bytes: {}", upload.size, dataset.summary()))
}

fn sync_task() -> TaskSpec {
    // SQLite (c1z v1): the format the oracle reads and baton-sdk writes when asked.
    TaskSpec::SyncFull {
        storage_engine: "sqlite".into(),
        debug: false,
    }
}

async fn sync(ctx: &'static Ctx) -> CaseResult {
    let (stage, binary) = stage(ctx, 501).await?;
    let mut daemon = stage.daemon(&binary, false, None).await?;
    let id = stage.fake.queue(sync_task())?;
    let started = Instant::now();
    let f = finished(&stage, &mut daemon, &id, "sync").await?;
    let took = started.elapsed();
    ensure!(f.success, "the sync task finished with {}", describe_finish(&f));
    let calls = stage.fake.calls();
    check_order(&calls, &id)?;
    let hello = calls.iter().find_map(|r| match &r.call {
        Call::Hello {
            host_id, capabilities, ..
        } => Some((host_id.clone(), capabilities.clone())),
        _ => None,
    });
    if let Some((host_id, caps)) = &hello {
        ensure!(
            host_id == "notion-conformance",
            "Hello carried host_id {host_id:?}, not BATON_HOST_ID"
        );
        ensure!(
            caps.iter().any(|c| c.ends_with(":CAPABILITY_SYNC")),
            "Hello's connector metadata declares no SYNC capability: {caps:?}"
        );
    }
    let note = judge_upload(ctx, &stage, &id).await?;
    stop(daemon).await?;
    Ok(format!("{note}; finished {:.2}s after queueing", took.as_secs_f64()))
}

/// An active member (not an owner: changing an owner's access revokes the token) and a group
/// it is not in: (user id, group id).
fn member_outside_a_group(truth: &Truth) -> anyhow::Result<(String, String)> {
    truth
        .users
        .iter()
        .filter(|u| u.active && u.role.as_deref() != Some("owner"))
        .find_map(|u| {
            truth
                .groups
                .iter()
                .find(|g| !g.members.contains(&u.id))
                .map(|g| (u.id.clone(), g.id.clone()))
        })
        .context("the seeded org has no member outside some group")
}

async fn provisioning(ctx: &'static Ctx) -> CaseResult {
    let (stage, binary) = stage(ctx, 502).await?;
    let truth = stage.env.truth().await?;
    let (user, group) = member_outside_a_group(&truth)?;
    let mut daemon = stage.daemon(&binary, true, None).await?;
    let entitlement = format!("group:{group}:member");

    let run = |spec: TaskSpec| stage.fake.queue(spec);
    let id = run(TaskSpec::Grant {
        entitlement: entitlement.clone(),
        principal: user.clone(),
        principal_type: "user".into(),
    })?;
    let f = finished(&stage, &mut daemon, &id, "grant").await?;
    ensure!(f.success, "the grant task finished with {}", describe_finish(&f));
    let after = stage.env.truth().await?;
    ensure!(
        after.group(&group).is_some_and(|g| g.members.contains(&user)),
        "the grant task succeeded but user {user} is not a member of group {group}"
    );

    let id = run(TaskSpec::Revoke {
        grant: format!("{entitlement}:user:{user}"),
    })?;
    let f = finished(&stage, &mut daemon, &id, "revoke").await?;
    ensure!(f.success, "the revoke task finished with {}", describe_finish(&f));
    let after = stage.env.truth().await?;
    ensure!(
        after.group(&group).is_some_and(|g| !g.members.contains(&user)),
        "the revoke task succeeded but user {user} is still a member of group {group}"
    );

    let email = ctx.lab.new_account_email("service-mode-created")?;
    let id = run(TaskSpec::CreateAccount {
        email: email.clone(),
        first_name: "Service".into(),
        last_name: "Mode".into(),
    })?;
    let f = finished(&stage, &mut daemon, &id, "create-account").await?;
    ensure!(
        f.success,
        "the create-account task finished with {}",
        describe_finish(&f)
    );
    let after = stage.env.truth().await?;
    let created = after
        .user_by_email(&email)
        .with_context(|| format!("the create-account task succeeded but no user has email {email}"))?
        .id
        .clone();

    let id = run(TaskSpec::DeleteResource {
        resource_type: "user".into(),
        resource: created.clone(),
    })?;
    let f = finished(&stage, &mut daemon, &id, "delete").await?;
    ensure!(f.success, "the delete task finished with {}", describe_finish(&f));
    let after = stage.env.truth().await?;
    ensure!(
        after.user(&created).is_none_or(|u| !u.active),
        "the delete task succeeded but user {created} is still an active member"
    );
    let heartbeats = stage
        .fake
        .calls()
        .iter()
        .filter(|r| matches!(r.call, Call::Heartbeat { .. }))
        .count();
    stop(daemon).await?;
    Ok(format!(
        "grant, revoke, create-account, delete: each finished and seen in the emulation ({heartbeats} heartbeat(s))"
    ))
}

async fn refused_secret(ctx: &'static Ctx) -> CaseResult {
    let (stage, binary) = stage(ctx, 503).await?;
    let (unregistered, _) = fake_c1::auth::secret_for_new_key()?;
    let malformed = "secret-token:conductorone.com:v1:not-a-jwk";
    let mut notes = Vec::new();
    for (label, secret) in [("malformed", malformed), ("unregistered key", unregistered.as_str())] {
        let before = stage.fake.calls().len();
        let mut daemon = stage.daemon(&binary, false, Some(secret)).await?;
        let Some(exit) = daemon.exited_within(Duration::from_secs(30)).await else {
            let exit = daemon.terminate(Duration::from_secs(5)).await;
            bail!(
                "with a {label} client secret the daemon was still running after 30s; calls: {}; output: {}",
                fake_c1::summarize(&stage.fake.calls()[before..]),
                exit.tail()
            );
        };
        ensure!(
            !exit.leaked,
            "with a {label} client secret the daemon printed a secret: {}",
            exit.tail()
        );
        ensure!(
            exit.code.is_some_and(|c| c != 0),
            "with a {label} client secret the daemon ended with {}, not a failure: {}",
            code_text(exit.code),
            exit.tail()
        );
        let calls = stage.fake.calls()[before..].to_vec();
        ensure!(
            !calls
                .iter()
                .any(|r| matches!(r.call, Call::Token { granted: true, .. })),
            "with a {label} client secret a token was issued"
        );
        ensure!(
            !calls
                .iter()
                .any(|r| matches!(r.call, Call::GetTask { .. } | Call::Hello { .. })),
            "with a {label} client secret the daemon got through to BatonService"
        );
        notes.push(format!(
            "{label}: {} ({})",
            code_text(exit.code),
            fake_c1::summarize(&calls)
        ));
    }
    Ok(notes.join("; "))
}

async fn unavailable_recovery(ctx: &'static Ctx) -> CaseResult {
    let (stage, binary) = stage(ctx, 504).await?;
    stage.fake.update_faults(|f| f.unavailable = 2);
    let mut daemon = stage.daemon(&binary, false, None).await?;
    let id = stage.fake.queue(sync_task())?;
    let f = finished(&stage, &mut daemon, &id, "sync").await?;
    ensure!(
        f.success,
        "after UNAVAILABLE the sync task finished with {}",
        describe_finish(&f)
    );
    let calls = stage.fake.calls();
    let refused = calls
        .iter()
        .filter(|r| matches!(&r.call, Call::Refused { code, .. } if code == "UNAVAILABLE"))
        .count();
    ensure!(
        refused == 2,
        "expected 2 calls answered UNAVAILABLE, the record shows {refused}"
    );
    check_order(&calls, &id)?;
    let note = judge_upload(ctx, &stage, &id).await?;
    stop(daemon).await?;
    Ok(format!("recovered after {refused} UNAVAILABLE; {note}"))
}

async fn upload_retry(ctx: &'static Ctx) -> CaseResult {
    let (stage, binary) = stage(ctx, 505).await?;
    stage.fake.update_faults(|f| f.fail_uploads = 1);
    let mut daemon = stage.daemon(&binary, false, None).await?;
    let id = stage.fake.queue(sync_task())?;
    let f = finished(&stage, &mut daemon, &id, "sync").await?;
    ensure!(
        f.success,
        "after a failed upload the sync task finished with {}",
        describe_finish(&f)
    );
    let attempts: Vec<String> = stage
        .fake
        .calls()
        .iter()
        .filter_map(|r| match &r.call {
            Call::Upload { task_id, outcome, .. } if *task_id == id => Some(outcome.clone()),
            _ => None,
        })
        .collect();
    ensure!(
        attempts.len() >= 2 && attempts.last().is_some_and(|o| o == "kept"),
        "expected a failed upload then a kept one, got {attempts:?}"
    );
    let note = judge_upload(ctx, &stage, &id).await?;
    stop(daemon).await?;
    Ok(format!("{} upload attempt(s); {note}", attempts.len()))
}

async fn heartbeat_cancel(ctx: &'static Ctx) -> CaseResult {
    let (stage, binary) = stage(ctx, 506).await?;
    stage.fake.update_faults(|f| f.cancel_heartbeats = true);
    let mut daemon = stage.daemon(&binary, false, None).await?;
    let id = stage.fake.queue(sync_task())?;
    let cancelled = stage
        .fake
        .wait_for(TASK_TIMEOUT, |calls| {
            calls
                .iter()
                .any(|r| matches!(&r.call, Call::Heartbeat { task_id, cancelled: true, .. } if *task_id == id))
        })
        .await;
    ensure!(
        cancelled,
        "no heartbeat for the sync task within {}s; calls: {}",
        TASK_TIMEOUT.as_secs(),
        fake_c1::summarize(&stage.fake.calls())
    );
    // The next task shows the daemon has moved on; by then the cancelled one must be over.
    stage.fake.update_faults(|f| f.cancel_heartbeats = false);
    let next = stage.fake.queue(TaskSpec::EventFeed)?;
    finished(&stage, &mut daemon, &next, "event_feed (after the cancelled sync)").await?;
    let finish = stage.fake.task(&id).and_then(|t| t.finish);
    ensure!(
        !finish.as_ref().is_some_and(|f| f.success),
        "the cancelled sync task was finished as a success"
    );
    let kept = stage.fake.uploads(&id);
    ensure!(
        kept.is_empty(),
        "the cancelled sync task still uploaded {} file(s)",
        kept.len()
    );
    stop(daemon).await?;
    Ok(match finish {
        Some(f) => format!("stopped; finished with {}", describe_finish(&f)),
        None => "stopped without FinishTask (as baton-sdk does when the first heartbeat cancels)".into(),
    })
}

async fn unsupported_task(ctx: &'static Ctx) -> CaseResult {
    let (stage, binary) = stage(ctx, 507).await?;
    let mut daemon = stage.daemon(&binary, false, None).await?;
    let id = stage.fake.queue(TaskSpec::EventFeed)?;
    let f = finished(&stage, &mut daemon, &id, "event_feed").await?;
    ensure!(!f.success, "an event_feed task was finished as a success");
    ensure!(f.code != 0, "the error FinishTask carries no status code");
    stop(daemon).await?;
    Ok(describe_finish(&f))
}

async fn no_provisioning(ctx: &'static Ctx) -> CaseResult {
    let (stage, binary) = stage(ctx, 508).await?;
    let truth = stage.env.truth().await?;
    let (user, group) = member_outside_a_group(&truth)?;
    let mut daemon = stage.daemon(&binary, false, None).await?;
    let id = stage.fake.queue(TaskSpec::Grant {
        entitlement: format!("group:{group}:member"),
        principal: user.clone(),
        principal_type: "user".into(),
    })?;
    let f = finished(&stage, &mut daemon, &id, "grant").await?;
    ensure!(!f.success, "without -p a grant task was finished as a success");
    let after = stage.env.truth().await?;
    ensure!(
        after == truth,
        "without -p a refused grant still changed the org (user {user}, group {group})"
    );
    stop(daemon).await?;
    Ok(describe_finish(&f))
}

async fn sigterm(ctx: &'static Ctx) -> CaseResult {
    let (stage, binary) = stage(ctx, 509).await?;
    let daemon = stage.daemon(&binary, false, None).await?;
    let polled = stage
        .fake
        .wait_for(Duration::from_secs(30), |calls| {
            calls
                .iter()
                .filter(|r| matches!(r.call, Call::GetTask { .. } | Call::GetTasks { .. }))
                .count()
                >= 2
        })
        .await;
    ensure!(
        polled,
        "the daemon did not poll for tasks within 30s; calls: {}",
        fake_c1::summarize(&stage.fake.calls())
    );
    let started = Instant::now();
    let exit = stop(daemon).await?;
    ensure!(
        exit.code == Some(0),
        "after SIGTERM the daemon ended with {}, not exit 0: {}",
        code_text(exit.code),
        exit.tail()
    );
    Ok(format!("exit 0 {:.2}s after SIGTERM", started.elapsed().as_secs_f64()))
}
