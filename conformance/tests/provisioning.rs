//! The provisioning suite, in-process, against the embedded emulation: this repository's
//! connector must pass every case.

use notion_conformance::connector::Connector;
use notion_conformance::suites::{self, Ctx};
use notion_conformance::target::Lab;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_provisioning_suite_passes_against_the_embedded_emulation() {
    let ctx: &'static Ctx = Ctx::leaked(Lab::embedded(), Connector::InProcess, 7, 3, String::new()).unwrap();
    let cases = suites::provisioning::cases();
    let names: Vec<&str> = cases.iter().map(|c| c.name).collect();
    assert_eq!(names, ["state-machine", "outcomes"]);
    for case in cases {
        match (case.run)(ctx).await {
            Ok(note) => {
                assert!(note.contains("connector step(s)"), "{}: {note}", case.id());
                println!("{}: {note}", case.id());
            }
            Err(e) => panic!("{} failed: {e:#}", case.id()),
        }
    }
}
