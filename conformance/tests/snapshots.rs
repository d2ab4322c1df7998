//! The reviewed snapshots (insta): the decoded c1z of a fixed seeded org, the requests of each
//! provisioning operation, and every error body of the emulation in both dialects. Review a
//! change with `cargo insta review`; CI fails on a changed, missing or unreferenced snapshot.

use notion_conformance::connector::Connector;
use notion_conformance::suites::{snapshots, Ctx};
use notion_conformance::target::Lab;

fn ctx() -> &'static Ctx {
    match Ctx::leaked(Lab::embedded(), Connector::InProcess, 1, 1, String::new()) {
        Ok(ctx) => ctx,
        Err(e) => unreachable!("a scratch directory: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c1z_small_org() {
    let text = snapshots::render_c1z(ctx())
        .await
        .unwrap_or_else(|e| format!("error: {e:#}"));
    insta::assert_snapshot!("c1z_small_org", text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provisioning_requests() {
    let text = snapshots::render_provisioning_requests(ctx())
        .await
        .unwrap_or_else(|e| format!("error: {e:#}"));
    insta::assert_snapshot!("provisioning_requests", text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_bodies_rfc() {
    let text = snapshots::render_error_bodies(ctx(), "rfc")
        .await
        .unwrap_or_else(|e| format!("error: {e:#}"));
    insta::assert_snapshot!("error_bodies_rfc", text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_bodies_notion() {
    let text = snapshots::render_error_bodies(ctx(), "notion")
        .await
        .unwrap_or_else(|e| format!("error: {e:#}"));
    insta::assert_snapshot!("error_bodies_notion", text);
}

/// Every file in the snapshot folder is one the suite uses, and none waits for review.
#[test]
fn no_unreferenced_or_pending_snapshots() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots");
    let known: Vec<String> = snapshots::SNAPSHOTS
        .iter()
        .map(|(name, _)| format!("snapshots__{name}.snap"))
        .collect();
    let mut strays = Vec::new();
    for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !known.contains(&name) {
            strays.push(name);
        }
    }
    assert!(
        strays.is_empty(),
        "snapshot files no test uses, or not reviewed (.snap.new): {strays:?}; review with \
         `cargo insta review` and delete what is unused"
    );
    for name in &known {
        assert!(dir.join(name).is_file(), "missing snapshot {name}");
    }
}
