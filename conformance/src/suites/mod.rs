//! The suites: every case with its suite, name, one-line description and body. A case body
//! gets the run's context and answers with a verdict; an `Err` is a failure whose message says
//! what differed, a [`Skip`](crate::target::Skip) error a skip with its reason.

use std::future::Future;
use std::pin::Pin;

use crate::connector::Connector;
use crate::target::Lab;

pub mod behaviour;
pub mod prop;
pub mod provisioning;
pub mod resilience;
pub mod service;
pub mod snapshots;
pub mod sync;

/// The suites, in run order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Suite {
    Sync,
    Provisioning,
    Resilience,
    Behaviour,
    Snapshots,
    Service,
}

impl Suite {
    pub const ALL: [Suite; 6] = [
        Suite::Sync,
        Suite::Provisioning,
        Suite::Resilience,
        Suite::Behaviour,
        Suite::Snapshots,
        Suite::Service,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Suite::Sync => "sync",
            Suite::Provisioning => "provisioning",
            Suite::Resilience => "resilience",
            Suite::Behaviour => "behaviour",
            Suite::Snapshots => "snapshots",
            Suite::Service => "service",
        }
    }

    pub fn parse(name: &str) -> Option<Suite> {
        Suite::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// What the whole run shares: the target, the connector and the property-test settings.
#[derive(Debug)]
pub struct Ctx {
    pub lab: &'static Lab,
    pub connector: Connector,
    /// The property suites' seed.
    pub seed: u64,
    /// Cases per property.
    pub cases: u32,
    /// Scratch space for c1z files.
    pub work: tempfile::TempDir,
    /// The `--connector`/`--target` flags of this run (no token), for replay commands.
    pub invocation: String,
}

impl Ctx {
    /// A context that lives as long as the process (cases run as tasks that borrow it).
    pub fn leaked(
        lab: Lab,
        connector: Connector,
        seed: u64,
        cases: u32,
        invocation: String,
    ) -> anyhow::Result<&'static Ctx> {
        use anyhow::Context;
        Ok(Box::leak(Box::new(Ctx {
            lab: Box::leak(Box::new(lab)),
            connector,
            seed,
            cases,
            work: tempfile::tempdir().context("cannot make a work directory")?,
            invocation,
        })))
    }

    /// A fresh path for a c1z file (not created).
    pub fn c1z_path(&self, name: &str) -> std::path::PathBuf {
        let n = NEXT_FILE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.work.path().join(format!("{n:04}-{name}.c1z"))
    }
}

static NEXT_FILE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// How a case passed: a short note for the report (counts, requests...).
pub type CaseResult = anyhow::Result<String>;

pub type CaseFuture<'a> = Pin<Box<dyn Future<Output = CaseResult> + Send + 'a>>;

/// One case.
#[derive(Clone, Copy)]
pub struct Case {
    pub suite: Suite,
    pub name: &'static str,
    pub description: &'static str,
    /// Cases borrow the run's context, which lives as long as the process.
    pub run: fn(&'static Ctx) -> CaseFuture<'static>,
}

impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}::{}", self.suite.name(), self.name)
    }
}

impl Case {
    /// `suite::name`, the id filters match against.
    pub fn id(&self) -> String {
        format!("{}::{}", self.suite.name(), self.name)
    }
}

/// Builds a [`Case`] from an `async fn(&Ctx) -> CaseResult`.
#[macro_export]
macro_rules! case {
    ($suite:expr, $name:literal, $description:literal, $body:path) => {
        $crate::suites::Case {
            suite: $suite,
            name: $name,
            description: $description,
            run: |ctx| Box::pin($body(ctx)),
        }
    };
}

/// Every case of every suite, in run order.
pub fn all() -> Vec<Case> {
    let mut cases = Vec::new();
    cases.extend(sync::cases());
    cases.extend(provisioning::cases());
    cases.extend(resilience::cases());
    cases.extend(behaviour::cases());
    cases.extend(snapshots::cases());
    cases.extend(service::cases());
    cases
}

/// A sync judged by the oracle.
#[derive(Debug)]
pub struct Judged {
    pub dataset: crate::oracle::data::Dataset,
    pub run: crate::connector::RunOutput,
    pub truth: crate::truth::Truth,
}

/// Syncs `env` into `file` with the connector under test, decodes the newest finished full run
/// with the oracle's own decoder and compares it, field by field, with what the target's truth
/// says it must hold. An `Err` says what differed.
pub async fn sync_and_judge(ctx: &Ctx, env: &crate::target::Env, file: &std::path::Path) -> anyhow::Result<Judged> {
    use anyhow::Context;
    let run = ctx.connector.sync(env, file).await?;
    if run.leaked_secret {
        anyhow::bail!("the connector printed the SCIM token: {}", run.describe());
    }
    if !run.success {
        anyhow::bail!("the sync failed: {}", run.describe());
    }
    let truth = env.truth().await.context("reading the target's truth")?;
    let (_, dataset) = crate::oracle::c1z::read_latest(file)
        .with_context(|| format!("the sync exited 0 but its file {} does not decode", file.display()))?;
    let expected = crate::oracle::expect::derive(&truth);
    let diffs = crate::oracle::expect::compare(&expected, &dataset);
    if !diffs.is_empty() {
        anyhow::bail!("{}", crate::oracle::expect::render(&diffs, &dataset, &expected));
    }
    Ok(Judged { dataset, run, truth })
}
