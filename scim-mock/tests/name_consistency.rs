//! Notion stores one name per person [N]: whatever part of it a write changes (`name.formatted`,
//! `displayName`, the given or family name; by PATCH or PUT), the record must show one
//! consistent name afterwards, and the `given_name`/`family_name` filters must match that name
//! and never the one it replaced.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use notion_scim_mock::MockServer;
use serde_json::{json, Value};

const ORG: &str = r#"{
  "name": "Names",
  "verified_domains": ["names.example"],
  "workspaces": [{
    "name": "W",
    "members": [
      { "email": "owner@names.example", "name": { "formatted": "The Owner" }, "role": "owner" },
      { "id": "5d7c1e2a-0000-4000-8000-000000000001", "email": "ada@names.example",
        "name": { "formatted": "Ada Lovelace", "given": "Ada", "family": "Lovelace" } }
    ]
  }]
}"#;

const ADA: &str = "/Users/5d7c1e2a-0000-4000-8000-000000000001";

async fn org() -> MockServer {
    MockServer::builder().org_json(ORG).unwrap().start().await
}

/// The ids a `given_name`/`family_name` filter finds.
async fn found(mock: &MockServer, attr: &str, value: &str) -> Vec<String> {
    let r = get_q(mock, "/Users", &[("filter", &format!("{attr} eq \"{value}\""))]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.ids()
}

/// The answer, a fresh read and the model agree on one name, spelled `whole`; the old given
/// and family names match nobody.
async fn one_name(mock: &MockServer, answer: &Value, whole: &str) {
    let read = get(mock, ADA).await.body;
    for (what, doc) in [("the answer", answer), ("a read", &read)] {
        assert_eq!(doc["displayName"], json!(whole), "{what}: {doc}");
        let name = &doc["name"];
        assert_eq!(name["formatted"], json!(whole), "{what}: {doc}");
        if let (Some(g), Some(f)) = (name["givenName"].as_str(), name["familyName"].as_str()) {
            assert_eq!(
                format!("{g} {f}"),
                whole,
                "{what}: the parts contradict the name: {doc}"
            );
        }
    }
    let id = "5d7c1e2a-0000-4000-8000-000000000001".to_string();
    assert!(
        found(mock, "given_name", "Ada").await.is_empty(),
        "the old given name still matches"
    );
    assert!(
        found(mock, "family_name", "Lovelace").await.is_empty(),
        "the old family name still matches"
    );
    let truth = mock.truth().user(&id).unwrap().clone();
    assert_eq!(truth.display_name, whole);
    assert_ne!(truth.given_name.as_deref(), Some("Ada"));
}

#[tokio::test]
async fn patch_of_name_formatted_replaces_the_whole_name() {
    let mock = org().await;
    let r = patch(
        &mock,
        ADA,
        json!([{ "op": "replace", "path": "name.formatted", "value": "Grace Hopper" }]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    one_name(&mock, &r.body, "Grace Hopper").await;
}

#[tokio::test]
async fn patch_of_display_name_replaces_the_whole_name() {
    let mock = org().await;
    let r = patch(
        &mock,
        ADA,
        json!([{ "op": "Replace", "path": "displayName", "value": "Grace Hopper" }]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    one_name(&mock, &r.body, "Grace Hopper").await;
    // The no-path form Entra sends.
    let r = patch(
        &mock,
        ADA,
        json!([{ "op": "replace", "value": { "displayName": "Ada King" } }]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    one_name(&mock, &r.body, "Ada King").await;
}

#[tokio::test]
async fn put_with_only_a_display_name_replaces_the_whole_name() {
    let mock = org().await;
    let r = put(
        &mock,
        ADA,
        json!({ "schemas": [CORE_USER], "userName": "ada@names.example", "displayName": "Grace Hopper" }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    one_name(&mock, &r.body, "Grace Hopper").await;
}

#[tokio::test]
async fn a_change_of_the_parts_rewrites_the_whole() {
    let mock = org().await;
    let r = patch(
        &mock,
        ADA,
        json!([{ "op": "replace", "path": "name.givenName", "value": "Augusta" }]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["name"],
        json!({ "formatted": "Augusta Lovelace", "givenName": "Augusta", "familyName": "Lovelace" })
    );
    assert_eq!(r.body["displayName"], json!("Augusta Lovelace"));
    assert!(found(&mock, "given_name", "Ada").await.is_empty());
    assert_eq!(found(&mock, "given_name", "Augusta").await.len(), 1);
    assert_eq!(found(&mock, "family_name", "Lovelace").await.len(), 1);
}

#[tokio::test]
async fn parts_that_spell_the_new_name_are_kept() {
    let mock = org().await;
    // A whole new name whose parts agree with it.
    let r = patch(
        &mock,
        ADA,
        json!([{ "op": "replace", "path": "name",
                 "value": { "formatted": "Grace Hopper", "givenName": "Grace", "familyName": "Hopper" } }]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["name"]["givenName"], json!("Grace"));
    assert_eq!(found(&mock, "given_name", "Grace").await.len(), 1);
    // A displayName equal to what the parts spell keeps them.
    let r = patch(
        &mock,
        ADA,
        json!([{ "op": "replace", "path": "displayName", "value": "Grace Hopper" }]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["name"]["familyName"], json!("Hopper"));
    // Parts without `formatted` make it.
    let r = patch(
        &mock,
        ADA,
        json!([{ "op": "replace", "path": "name", "value": { "givenName": "Ada", "familyName": "King" } }]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["name"]["formatted"], json!("Ada King"));
    assert_eq!(r.body["displayName"], json!("Ada King"));
}

#[tokio::test]
async fn writes_that_leave_the_name_alone_do_not_touch_it() {
    let mock = org().await;
    let before = get(&mock, ADA).await.body;
    let r = patch(
        &mock,
        ADA,
        json!([{ "op": "replace", "path": "title", "value": "Analyst" }]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["name"], before["name"]);
    assert_eq!(r.body["displayName"], before["displayName"]);
    assert_eq!(found(&mock, "given_name", "Ada").await.len(), 1);
}
