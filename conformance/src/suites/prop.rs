//! Property cases on proptest's runner, driven from the run's seed: a failure is shrunk, then
//! reported with the seed, the smallest failing input and the command that replays exactly it.

use std::fmt::Debug;
use std::future::Future;

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};

use super::{Case, Ctx};
use crate::target::Skip;

/// How many shrinking steps a failure gets: each is a whole connector run against a new org.
const MAX_SHRINK_ITERS: u32 = 24;

/// Runs `body` on `ctx.cases` values of the strategy `make` builds. Both run on a blocking
/// thread (strategies are often neither `Send` nor `Sync`, hence the function that makes one);
/// each call of `body` is driven to completion on the run's runtime.
pub async fn check<S, F, Fut>(ctx: &'static Ctx, case: &'static str, make: fn() -> S, body: F) -> anyhow::Result<String>
where
    S: Strategy + 'static,
    S::Value: Debug,
    F: Fn(S::Value) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let handle = tokio::runtime::Handle::current();
    let cases = ctx.cases;
    let seed = ctx.seed;
    // A case that cannot run on this target says so from inside the property; it ends the run
    // as a skip, not as a failure to shrink.
    let skipped: std::sync::Arc<parking_lot::Mutex<Option<Skip>>> = Default::default();
    let skip_seen = skipped.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        let config = Config {
            cases,
            failure_persistence: None,
            max_shrink_iters: MAX_SHRINK_ITERS,
            ..Config::default()
        };
        let mut runner = TestRunner::new_with_rng(config, rng(seed));
        let result = runner.run(&make(), |value| {
            handle.block_on(body(value)).map_err(|e| {
                if let Some(skip) = e.downcast_ref::<Skip>() {
                    *skip_seen.lock() = Some(skip.clone());
                    return TestCaseError::Reject("skipped".into());
                }
                TestCaseError::fail(format!("{e:#}"))
            })
        });
        // The failing value is rendered here: it need not be `Send`.
        match result {
            Ok(()) => Ok(()),
            Err(TestError::Fail(reason, value)) => Err((reason.to_string(), format!("{value:#?}"))),
            Err(TestError::Abort(reason)) => Err((format!("the property was aborted: {reason}"), String::new())),
        }
    })
    .await?;
    if let Some(skip) = skipped.lock().take() {
        return Err(skip.into());
    }
    match outcome {
        Ok(()) => Ok(format!("{cases} case(s), seed {seed}")),
        Err((reason, value)) => Err(anyhow::anyhow!(
            "{reason}\nsmallest failing input (seed {seed}): {value}\nreplay: {}",
            replay(ctx, case)
        )),
    }
}

/// The seed as proptest's ChaCha seed: the same run seed always draws the same values.
fn rng(seed: u64) -> TestRng {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    TestRng::from_seed(RngAlgorithm::ChaCha, &bytes)
}

/// The command line that runs this one case again with the same seed and case count.
pub fn replay(ctx: &Ctx, case: &str) -> String {
    let id = super::all()
        .into_iter()
        .find(|c: &Case| c.name == case)
        .map(|c| c.id())
        .unwrap_or_else(|| case.to_string());
    format!(
        "notion-conformance run{} --seed {} --cases {} '{}'",
        ctx.invocation, ctx.seed, ctx.cases, id
    )
}
