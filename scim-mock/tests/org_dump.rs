//! The emulation reads back its own truth dump (`GET /__admin/truth`, `notion-scim-mock truth`)
//! as an org (`org_json`, `serve --org`, `truth --org`): the org it serves dumps to the same
//! truth, SCIM shows the same users and groups, and a dump that cannot be served as it is gets
//! refused with the first difference named.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Command;

use common::*;
use notion_scim_mock::{MockServer, OrgTruth, SeedSpec};
use reqwest::Method;
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_notion-scim-mock");

/// An org with every shape the dump must carry: several workspaces sharing people, inactive
/// records, formatted-only names, records without the role extension, secondary emails, empty
/// groups, guests, sole-access groups.
fn varied() -> SeedSpec {
    SeedSpec {
        seed: 11,
        users: 80,
        groups: 9,
        workspaces: 2,
        inactive_ratio: 0.1,
        formatted_name_only_ratio: 0.15,
        no_role_extension_ratio: 0.15,
        secondary_email_ratio: 0.2,
        empty_group_ratio: 0.2,
        sole_access_group_ratio: 0.3,
        ..SeedSpec::default()
    }
}

/// A user as SCIM shows it, without what a dump cannot carry (photos, `meta` timestamps).
fn comparable(mut user: Value) -> Value {
    let o = user.as_object_mut().unwrap();
    o.remove("photos");
    o.remove("meta");
    user
}

#[tokio::test]
async fn a_dump_is_served_as_it_was() {
    let original = MockServer::builder().spec(varied()).start().await;
    // A revoked token must survive the round trip too.
    original.revoke("tok_2");
    let dump = run(client().get(format!("{}/truth", original.admin_url()))).await;
    assert_eq!(dump.status, 200, "{}", dump.text);
    let t = &dump.body["workspaces"];
    assert!(t[0]["users"].as_array().unwrap().iter().any(|u| u["role"].is_null()));
    assert!(t[0]["users"]
        .as_array()
        .unwrap()
        .iter()
        .any(|u| u["active"] == json!(false)));
    assert_eq!(t[1]["tokens"][0]["revoked"], json!(true));

    let served = MockServer::builder().org_json(&dump.text).unwrap().start().await;
    let again = run(client().get(format!("{}/truth", served.admin_url()))).await;
    assert_eq!(again.body, dump.body, "the served org dumps to the same truth");

    // The first token gets the documented default secret; SCIM answers the same.
    assert_eq!(served.token(), "secret_notion_scim_mock_token");
    let a: Vec<Value> = list_all_users(&original).await.into_iter().map(comparable).collect();
    let b: Vec<Value> = list_all_users(&served).await.into_iter().map(comparable).collect();
    assert_eq!(a.len(), 80);
    assert_eq!(a, b);
    let groups = |mock: &MockServer| {
        let url = format!("{}/Groups?count=100", mock.base_url());
        let token = mock.token().to_string();
        async move {
            let page = run(client().get(url).bearer_auth(token)).await;
            resources(&page.body)
                .iter()
                .map(|g| (g["id"].clone(), g["displayName"].clone(), g["members"].clone()))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(groups(&original).await, groups(&served).await);
    // The second workspace's token was revoked in the dump: it stays revoked.
    let second = served.token_secret("tok_2").unwrap();
    let r = run(client()
        .request(Method::GET, format!("{}/Users", served.base_url()))
        .bearer_auth(second))
    .await;
    assert_eq!(r.status, 401, "{}", r.text);
}

#[test]
fn the_binary_reads_a_dump_back() {
    let out = Command::new(BIN)
        .args(["truth", "--users", "12", "--groups", "3", "--seed", "4"])
        .env_remove("NOTION_SCIM_MOCK_TOKEN")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let path = std::env::temp_dir().join(format!("notion-scim-mock-dump-{}.json", std::process::id()));
    std::fs::write(&path, &out.stdout).unwrap();
    let back = Command::new(BIN)
        .args(["truth", "--org"])
        .arg(&path)
        .env_remove("NOTION_SCIM_MOCK_TOKEN")
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&path);
    assert!(back.status.success(), "{}", String::from_utf8_lossy(&back.stderr));
    let a: OrgTruth = serde_json::from_slice(&out.stdout).unwrap();
    let b: OrgTruth = serde_json::from_slice(&back.stdout).unwrap();
    assert_eq!(a, b);
}

#[test]
fn a_dump_that_cannot_be_served_as_it_is_is_refused() {
    let org = MockServer::builder().seed(2).users(6).groups(1).build_org();
    let truth = serde_json::to_value(OrgTruth::of(&org)).unwrap();
    let refused = |edit: &dyn Fn(&mut Value)| {
        let mut t = truth.clone();
        edit(&mut t);
        MockServer::builder().org_json(&t.to_string()).unwrap_err().to_string()
    };
    // A display name the names would not give.
    let e = refused(&|t| t["workspaces"][0]["users"][1]["display_name"] = json!("Someone Else"));
    assert!(
        e.contains("workspaces[0].users[1].display_name") && e.contains("Someone Else"),
        "{e}"
    );
    // A field the dump does not have is not silently dropped.
    let e = refused(&|t| t["workspaces"][0]["users"][0]["photo"] = json!("x"));
    assert!(e.contains("photo"), "{e}");
    // Emails that do not start with the user name.
    let e = refused(&|t| t["workspaces"][0]["users"][0]["emails"] = json!(["other@example.com"]));
    assert!(e.contains("do not start with user_name"), "{e}");
    // A live token made by someone who is not an owner.
    let member = truth["workspaces"][0]["users"][2]["id"].clone();
    let e = refused(&|t| t["workspaces"][0]["tokens"][0]["creator"] = member.clone());
    assert!(e.contains("must be an owner"), "{e}");
    // Two tokens with one id.
    let e = refused(&|t| {
        let tok = t["workspaces"][0]["tokens"][0].clone();
        t["workspaces"][0]["tokens"].as_array_mut().unwrap().push(tok);
    });
    assert!(e.contains("tok_1 is used twice"), "{e}");
}
