//! Runs the selected cases one after another, each as its own task (a panic in one is that
//! case's failure), prints each row as it finishes, and stops cleanly on Ctrl-C or SIGTERM:
//! the case in flight is abandoned, what the run created on a remote target is removed, and the
//! report says the run was interrupted.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::report::{CaseReport, RunReport, Verdict};
use crate::suites::{Case, Ctx};
use crate::target::Skip;

/// The longest a case may take before it is failed as hung.
pub const CASE_TIMEOUT: Duration = Duration::from_secs(600);

/// Which cases to run: a suite and/or a substring of `suite::case`.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub suites: Vec<crate::suites::Suite>,
    pub filter: Option<String>,
}

impl Selection {
    pub fn pick(&self, cases: Vec<Case>) -> Vec<Case> {
        cases
            .into_iter()
            .filter(|c| self.suites.is_empty() || self.suites.contains(&c.suite))
            .filter(|c| self.filter.as_ref().is_none_or(|f| c.id().contains(f.as_str())))
            .collect()
    }
}

/// Runs `cases` against `ctx`, writing the table's rows to `out` as they finish.
pub async fn run(ctx: &'static Ctx, cases: &[Case], out: &mut (dyn Write + Send)) -> RunReport {
    let mut report = RunReport {
        target: ctx.lab.describe(),
        connector: ctx.connector.describe(),
        seed: ctx.seed,
        cases_per_property: ctx.cases,
        results: Vec::new(),
        interrupted: false,
        clean_up: Vec::new(),
    };
    let w_suite = cases.iter().map(|c| c.suite.name().len()).max().unwrap_or(5).max(5);
    let w_case = cases.iter().map(|c| c.name.len()).max().unwrap_or(4).max(4);
    let _ = writeln!(
        out,
        "{:w_suite$}  {:w_case$}  result  {:>7}  note",
        "suite", "case", "time"
    );
    let mut stop = Box::pin(interrupted());
    for case in cases {
        let started = Instant::now();
        let task = tokio::spawn(tokio::time::timeout(CASE_TIMEOUT, (case.run)(ctx)));
        let abort = task.abort_handle();
        let joined = tokio::select! {
            joined = task => joined,
            signal = &mut stop => {
                abort.abort();
                let _ = writeln!(out, "interrupted by {signal}: stopping after {} case(s)", report.results.len());
                report.interrupted = true;
                break;
            }
        };
        let (verdict, message) = match joined {
            Ok(Ok(Ok(note))) => (Verdict::Pass, note),
            Ok(Ok(Err(e))) => match e.downcast_ref::<Skip>() {
                Some(skip) => (Verdict::Skip, skip.0.clone()),
                None => (Verdict::Fail, render_error(&e)),
            },
            Ok(Err(_)) => (Verdict::Fail, format!("timed out after {}s", CASE_TIMEOUT.as_secs())),
            Err(e) if e.is_panic() => (Verdict::Fail, format!("the case panicked: {}", panic_text(e))),
            Err(e) => (Verdict::Fail, format!("the case did not finish: {e}")),
        };
        let row = CaseReport {
            suite: case.suite.name().to_string(),
            case: case.name.to_string(),
            verdict,
            message,
            elapsed: started.elapsed(),
        };
        let _ = writeln!(
            out,
            "{:w_suite$}  {:w_case$}  {:6}  {:>6.2}s  {}",
            row.suite,
            row.case,
            match verdict {
                Verdict::Pass => "pass",
                Verdict::Fail => "FAIL",
                Verdict::Skip => "skip",
            },
            row.elapsed.as_secs_f64(),
            row.message.lines().next().unwrap_or("")
        );
        let _ = out.flush();
        report.results.push(row);
    }
    report.clean_up = ctx.lab.clean_up().await;
    report
}

/// The error and its causes, each once.
fn render_error(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let c = cause.to_string();
        if text.contains(&c) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&c);
    }
    text
}

fn panic_text(e: tokio::task::JoinError) -> String {
    let payload = e.into_panic();
    if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else {
        "(no message)".into()
    }
}

/// Resolves on Ctrl-C or SIGTERM, naming which.
async fn interrupted() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut term) = signal(SignalKind::terminate()) else {
            let _ = tokio::signal::ctrl_c().await;
            return "Ctrl-C";
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => "Ctrl-C",
            _ = term.recv() => "SIGTERM",
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}
