//! Every case of every suite, in-process against the embedded emulation, with CI-sized case
//! counts: this repository's connector must pass all of them (the same run as
//! `notion-conformance run`, without the process).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use notion_conformance::connector::Connector;
use notion_conformance::report::Verdict;
use notion_conformance::runner;
use notion_conformance::suites::{self, Ctx};
use notion_conformance::target::Lab;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_suite_passes_for_this_connector() {
    let ctx = Ctx::leaked(Lab::embedded(), Connector::InProcess, 7, 4, String::new()).unwrap();
    let cases = suites::all();
    let mut table = Vec::new();
    let report = runner::run(ctx, &cases, &mut table).await;
    let table = String::from_utf8_lossy(&table);
    assert_eq!(report.results.len(), cases.len(), "{table}");
    assert!(report.ok(), "{table}\n{}", report.failures());
    // On the embedded emulation with our connector nothing has a reason to skip.
    assert_eq!(report.count(Verdict::Skip), 0, "{table}");
}
