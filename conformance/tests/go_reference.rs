//! The oracle judged against what ConductorOne's Go `baton-notion` really wrote: its c1z files of
//! two seeded orgs, decoded with the oracle's own decoder and compared with what the oracle
//! derives from the same orgs' truth. The only differences allowed are the ones known and
//! explained: the Go connector gives a user without a role extension no role grant and no
//! `workspace_role` (Notion's clients read such a user as `member`, and so does the oracle).
//! Anything else would mean the oracle misreads baton's format or model.
//!
//! The recordings live outside the repository, in the folder named by
//! `NOTION_LAB_GO_REFERENCE` (`.ci/run` sets it). Unset, these tests say they did not run.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::PathBuf;

use notion_conformance::oracle::{c1z, expect};
use notion_conformance::truth::Truth;

/// The reference folder, or `None` (with a note) when the variable is unset.
fn reference() -> Option<PathBuf> {
    let Some(dir) = std::env::var_os("NOTION_LAB_GO_REFERENCE") else {
        eprintln!("NOT RUN: NOTION_LAB_GO_REFERENCE is unset (set it to the recorded go-baton-notion folder)");
        return None;
    };
    let mut dir = PathBuf::from(dir);
    if dir.is_relative() {
        dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(dir);
    }
    assert!(dir.is_dir(), "NOTION_LAB_GO_REFERENCE={} does not exist", dir.display());
    Some(dir)
}

fn judge(name: &str) {
    let Some(dir) = reference() else { return };
    let truth_json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(format!("{name}.truth.json"))).unwrap()).unwrap();
    let truth = Truth::from_admin_json(&truth_json).unwrap();
    let (_, data) = c1z::read_latest(&dir.join(format!("{name}.go.c1z"))).unwrap();
    let diffs: BTreeSet<String> = expect::compare(&expect::derive(&truth), &data).into_iter().collect();

    let known: BTreeSet<String> = truth
        .users
        .iter()
        .filter(|u| u.role.is_none())
        .flat_map(|u| {
            [
                format!("missing grant role:member:assigned:user:{}", u.id),
                format!(
                    "resource user:{}: profile lacks workspace_role (expected \"member\")",
                    u.id
                ),
            ]
        })
        .collect();
    assert!(
        !known.is_empty(),
        "{name}: the org has no user without a role extension"
    );
    let unexplained: Vec<&String> = diffs.difference(&known).collect();
    let missing: Vec<&String> = known.difference(&diffs).collect();
    assert!(
        unexplained.is_empty() && missing.is_empty(),
        "{name}: the oracle disagrees with the Go connector's file beyond the known difference\n\
         unexplained: {unexplained:#?}\nexpected but not found: {missing:#?}"
    );
}

#[test]
fn the_go_connectors_shapes_file_differs_only_as_known() {
    judge("shapes");
}

#[test]
fn the_go_connectors_seed17_file_differs_only_as_known() {
    judge("seed17");
}
