//! Churn: deterministic changes to the org between a client's list requests, from Rust, the
//! admin API and the command line.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::*;
use notion_scim_mock::{ChurnList, ChurnOp, ChurnStep, MockServer};
use reqwest::Method;
use serde_json::json;

async fn page(mock: &MockServer, path: &str, start: usize, count: usize) -> Resp {
    let (start, count) = (start.to_string(), count.to_string());
    get_q(mock, path, &[("startIndex", start.as_str()), ("count", count.as_str())]).await
}

fn user_ids(mock: &MockServer) -> Vec<String> {
    mock.truth().users.iter().map(|u| u.id.clone()).collect()
}

fn group_ids(mock: &MockServer) -> Vec<String> {
    mock.truth().groups.iter().map(|g| g.id.clone()).collect()
}

/// The failure, reproduced without timing: a deletion before the walk's position
/// between two pages makes a user who is there the whole time fall between them.
#[tokio::test]
async fn a_delete_after_the_first_page_makes_a_present_user_fall_between_pages() {
    let mock = small().await;
    let before = user_ids(&mock);
    mock.faults()
        .churn([ChurnStep::new(1, ChurnOp::Delete, ChurnList::Users).at(2).count(3)]);

    let first = page(&mock, "/Users", 1, 10).await;
    assert_eq!(
        first.ids(),
        before[..10],
        "the first page is served before the step fires"
    );
    assert_eq!(first.body["totalResults"], json!(30));
    assert_eq!(user_ids(&mock), before, "nothing changed yet");

    let second = page(&mock, "/Users", 11, 10).await;
    assert_eq!(
        second.body["totalResults"],
        json!(27),
        "the step fired before the second page"
    );
    let deleted: Vec<String> = before[2..5].to_vec();
    let after = user_ids(&mock);
    assert!(deleted.iter().all(|d| !after.contains(d)));
    assert_eq!(second.ids(), before[13..23], "the list shifted left by three");
    // before[10..13] were on neither page, yet never left the org.
    let seen: HashSet<String> = first.ids().into_iter().chain(second.ids()).collect();
    for lost in &before[10..13] {
        assert!(!seen.contains(lost) && after.contains(lost), "{lost}");
    }
    // Fired once, and what it did is on record.
    let step = &mock.faults().settings().churn[0];
    assert_eq!(step.applied.as_deref(), Some(deleted.as_slice()));
    assert_eq!(page(&mock, "/Users", 1, 100).await.body["totalResults"], json!(27));
}

#[tokio::test]
async fn the_token_creator_is_never_deleted() {
    let mock = small().await;
    let creator = mock.truth().tokens[0].creator.clone();
    let position = user_ids(&mock).iter().position(|id| *id == creator).unwrap();
    mock.faults()
        .churn([ChurnStep::new(0, ChurnOp::Delete, ChurnList::Users)
            .at(position)
            .count(2)]);
    let r = page(&mock, "/Users", 1, 100).await;
    assert_eq!(r.status, 200, "the token still works");
    assert_eq!(r.body["totalResults"], json!(28));
    assert!(user_ids(&mock).contains(&creator));
    let applied = mock.faults().settings().churn[0].applied.clone().unwrap();
    assert_eq!(applied.len(), 2);
    assert!(!applied.contains(&creator));
}

#[tokio::test]
async fn inserted_users_take_their_position_and_join_groups() {
    let mock = small().await;
    let before = user_ids(&mock);
    let last_groups = group_ids(&mock)[3..].to_vec();
    mock.faults()
        .churn([ChurnStep::new(2, ChurnOp::Insert, ChurnList::Users)
            .at(4)
            .count(3)
            .links(2)]);
    for _ in 0..2 {
        assert_eq!(page(&mock, "/Users", 1, 1).await.body["totalResults"], json!(30));
    }
    // A group list is not a user list: it does not count towards a users step.
    assert_eq!(page(&mock, "/Groups", 1, 1).await.status, 200);
    assert_eq!(user_ids(&mock), before);

    let r = page(&mock, "/Users", 1, 100).await;
    assert_eq!(r.body["totalResults"], json!(33));
    let added = mock.faults().settings().churn[0].applied.clone().unwrap();
    assert_eq!(added.len(), 3);
    assert_eq!(r.ids()[4..7], added[..]);
    assert_eq!(r.ids()[..4], before[..4]);
    assert_eq!(r.ids()[7..], before[4..]);
    let truth = mock.truth();
    for id in &added {
        let user = truth.users.iter().find(|u| &u.id == id).unwrap();
        assert!(user.active && user.user_name.ends_with(&domain(&mock)), "{user:?}");
        let member_of: Vec<&str> = truth
            .groups
            .iter()
            .filter(|g| g.members.contains(id))
            .map(|g| g.id.as_str())
            .collect();
        assert_eq!(member_of, last_groups, "each joins the last two groups");
        assert_eq!(get(&mock, &format!("/Users/{id}")).await.status, 200);
    }
}

#[tokio::test]
async fn groups_can_be_inserted_deleted_and_moved() {
    let mock = small().await;
    let before = group_ids(&mock);
    let first_users = user_ids(&mock)[..3].to_vec();
    mock.faults().churn([
        ChurnStep::new(1, ChurnOp::Move, ChurnList::Groups).at(0).count(2).to(1),
        ChurnStep::new(2, ChurnOp::Delete, ChurnList::Groups).at(4).count(9),
        ChurnStep::new(2, ChurnOp::Insert, ChurnList::Groups).at(0).links(3),
    ]);
    assert_eq!(page(&mock, "/Groups", 1, 100).await.ids(), before);

    // Moved: the first two now follow the third; the contents are the same.
    let moved = page(&mock, "/Groups", 1, 100).await.ids();
    assert_eq!(moved, [&before[2..3], &before[..2], &before[3..]].concat());

    // Both steps due at 2 fire before the third list, in order: the fifth goes (the count
    // stops at the end of the list), then a new group holding the first three users comes first.
    let r = page(&mock, "/Groups", 1, 100).await;
    assert_eq!(r.body["totalResults"], json!(5));
    let applied: Vec<Vec<String>> = mock
        .faults()
        .settings()
        .churn
        .iter()
        .map(|s| s.applied.clone().unwrap())
        .collect();
    assert_eq!(applied[0], before[..2]);
    assert_eq!(applied[1], [moved[4].clone()]);
    assert_eq!(r.ids()[0], applied[2][0]);
    let new_group = &mock.truth().groups[0];
    assert_eq!(new_group.members, first_users);
    let got = get(&mock, &format!("/Groups/{}", applied[2][0])).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body["members"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn moving_users_changes_order_not_contents() {
    let mock = small().await;
    let before = user_ids(&mock);
    mock.faults()
        .churn([ChurnStep::new(0, ChurnOp::Move, ChurnList::Users).at(25).count(5).to(0)]);
    let r = page(&mock, "/Users", 1, 100).await;
    assert_eq!(r.body["totalResults"], json!(30));
    assert_eq!(r.ids(), [&before[25..], &before[..25]].concat());
    // Past the end: `to` is clamped, so the block goes to the end.
    mock.faults().churn([ChurnStep::new(0, ChurnOp::Move, ChurnList::Users)
        .at(0)
        .count(5)
        .to(1_000)]);
    assert_eq!(page(&mock, "/Users", 1, 100).await.ids(), before);
}

#[tokio::test]
async fn the_same_script_makes_the_same_ids() {
    let script = [
        ChurnStep::new(0, ChurnOp::Insert, ChurnList::Users).at(3).count(4),
        ChurnStep::new(0, ChurnOp::Insert, ChurnList::Groups).at(1).count(2),
    ];
    let mut runs = Vec::new();
    for _ in 0..2 {
        let mock = small().await;
        mock.faults().churn(script.clone());
        page(&mock, "/Users", 1, 1).await;
        page(&mock, "/Groups", 1, 1).await;
        runs.push((user_ids(&mock), group_ids(&mock)));
    }
    assert_eq!(runs[0], runs[1]);
}

#[tokio::test]
async fn setting_the_churn_again_counts_afresh_and_reset_clears_it() {
    let mock = small().await;
    for _ in 0..3 {
        page(&mock, "/Users", 1, 1).await;
    }
    // Three lists went before the churn was set: `after=1` still waits for one of its own.
    mock.faults()
        .churn([ChurnStep::new(1, ChurnOp::Delete, ChurnList::Users)]);
    assert_eq!(page(&mock, "/Users", 1, 1).await.body["totalResults"], json!(30));
    assert_eq!(page(&mock, "/Users", 1, 1).await.body["totalResults"], json!(29));
    // A step that has fired never fires again.
    assert_eq!(page(&mock, "/Users", 1, 1).await.body["totalResults"], json!(29));
    mock.reset();
    assert!(mock.faults().settings().churn.is_empty());
    assert_eq!(page(&mock, "/Users", 1, 1).await.body["totalResults"], json!(30));
}

#[tokio::test]
async fn the_admin_api_sets_churn_and_shows_what_it_did() {
    let mock = small().await;
    let before = user_ids(&mock);
    let url = format!("{}/faults", mock.admin_url());
    let r = run(client().request(Method::PUT, &url).json(&json!({
        "churn": [{"after": 1, "op": "delete", "target": "users", "at": 5, "count": 2}]
    })))
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["churn"][0]["count"], json!(2));
    assert!(r.body["churn"][0].get("applied").is_none(), "not fired yet");
    page(&mock, "/Users", 1, 10).await;
    page(&mock, "/Users", 11, 10).await;
    let r = run(client().request(Method::GET, &url)).await;
    assert_eq!(r.body["churn"][0]["applied"], json!(before[5..7]));

    // Unknown fields and bad values are refused, as for the other faults.
    let r = run(client().request(Method::PUT, &url).json(&json!({
        "churn": [{"after": 1, "op": "explode", "target": "users"}]
    })))
    .await;
    assert_rfc_error(&r, 400, Some("invalidValue"));
    // Without churn the settings read as before: no `churn` key at all.
    let r = run(client().request(Method::PUT, &url).json(&json!({}))).await;
    assert!(r.body.get("churn").is_none(), "{}", r.text);
}

const BIN: &str = env!("CARGO_BIN_EXE_notion-scim-mock");

#[tokio::test]
async fn the_binary_takes_churn_flags() {
    let child = Command::new(BIN)
        .args(["serve", "--addr", "127.0.0.1:0", "--users", "12", "--groups", "2"])
        .args(["--token", "T", "--log-level", "warn"])
        .args(["--churn", "after=1,delete=users,at=0,count=2"])
        .args(["--churn", "after=1,insert=groups,count=3"])
        .env_remove("NOTION_SCIM_MOCK_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = Kill(child);
    let stdout = child.0.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        line
    })
    .await
    .unwrap();
    let base = line
        .trim()
        .strip_prefix("notion-scim-mock listening on ")
        .unwrap()
        .to_string();
    let total = |path: &'static str| {
        let base = base.clone();
        async move {
            let r = run(client().get(format!("{base}{path}")).bearer_auth("T")).await;
            r.body["totalResults"].clone()
        }
    };
    assert_eq!(total("/Users").await, json!(12));
    assert_eq!(total("/Users").await, json!(10));
    assert_eq!(total("/Groups").await, json!(2));
    assert_eq!(total("/Groups").await, json!(5));
}

#[test]
fn the_binary_refuses_bad_churn_and_documents_it() {
    let out = Command::new(BIN)
        .args(["serve", "--addr", "127.0.0.1:0", "--churn", "after=1,delete=people"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("expected users or groups"), "{err}");

    let help = Command::new(BIN).args(["serve", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("--churn <STEP>") && help.contains("after=3,delete=users"),
        "{help}"
    );
}
