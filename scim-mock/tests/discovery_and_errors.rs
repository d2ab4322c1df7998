//! Discovery endpoints, and every bad input: an error in the chosen dialect, no panic, and the
//! org unchanged afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use notion_scim_mock::quirks::ErrorDialect;
use notion_scim_mock::{MockServer, Quirks, MAX_BODY_BYTES};
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test]
async fn service_provider_config_needs_no_token_and_declares_support() {
    let mock = small().await;
    let r = run(anon(&mock, Method::GET, "/ServiceProviderConfig")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["schemas"],
        json!(["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"])
    );
    assert_eq!(r.body["patch"]["supported"], json!(true));
    assert_eq!(r.body["filter"]["supported"], json!(true));
    assert_eq!(r.body["filter"]["maxResults"], json!(100));
    assert_eq!(r.body["sort"]["supported"], json!(false));
    assert_eq!(r.body["bulk"]["supported"], json!(false));
    assert_eq!(r.body["etag"]["supported"], json!(false));
    assert_eq!(r.body["authenticationSchemes"][0]["type"], json!("oauthbearertoken"));
    // A wrong token does not matter either.
    let r = run(anon(&mock, Method::GET, "/ServiceProviderConfig").bearer_auth("nope")).await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn resource_types_list_and_by_name() {
    let mock = small().await;
    let r = get(&mock, "/ResourceTypes").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["schemas"], json!([LIST]));
    assert_eq!(r.body["totalResults"], json!(2));
    let ids: Vec<&str> = resources(&r.body).iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["User", "Group"]);
    let user = &resources(&r.body)[0];
    assert_eq!(user["endpoint"], json!("/Users"));
    assert_eq!(user["schema"], json!(CORE_USER));
    let exts: Vec<&str> = user["schemaExtensions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["schema"].as_str().unwrap())
        .collect();
    assert!(exts.contains(&NOTION_EXT) && exts.contains(&ENTERPRISE_EXT), "{exts:?}");
    let g = get(&mock, "/ResourceTypes/Group").await;
    assert_eq!(g.status, 200);
    assert_eq!(g.body["schema"], json!(CORE_GROUP));
    assert_rfc_error(&get(&mock, "/ResourceTypes/Printer").await, 404, None);
}

#[tokio::test]
async fn schemas_list_and_by_urn() {
    let mock = small().await;
    let r = get(&mock, "/Schemas").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let ids: Vec<&str> = resources(&r.body).iter().map(|s| s["id"].as_str().unwrap()).collect();
    for urn in [CORE_USER, CORE_GROUP, NOTION_EXT, ENTERPRISE_EXT] {
        assert!(ids.contains(&urn), "{urn} missing from {ids:?}");
    }
    assert_eq!(r.body["totalResults"], json!(ids.len()));
    let n = get(&mock, &format!("/Schemas/{NOTION_EXT}")).await;
    assert_eq!(n.status, 200, "{}", n.text);
    assert_eq!(n.body["attributes"][0]["name"], json!("role"));
    assert_rfc_error(&get(&mock, "/Schemas/urn:nope").await, 404, None);
}

#[tokio::test]
async fn discovery_needs_a_token() {
    let mock = small().await;
    for path in ["/ResourceTypes", "/Schemas", "/Users", "/Groups"] {
        assert_rfc_error(&run(anon(&mock, Method::GET, path)).await, 401, None);
    }
}

#[tokio::test]
async fn media_types_json_and_scim_json_both_accepted() {
    let mock = small().await;
    for ct in [
        "application/json",
        "application/scim+json",
        "application/scim+json; charset=utf-8",
    ] {
        let body = new_user(&mock, &format!("ct{}", ct.len()));
        let r = run(scim(&mock, Method::POST, "/Users")
            .header("content-type", ct)
            .body(body.to_string()))
        .await;
        assert_eq!(r.status, 201, "{ct}: {}", r.text);
    }
}

/// Sends a request, expects an error, and checks the org did not move.
async fn refused(mock: &MockServer, rb: reqwest::RequestBuilder) -> Resp {
    let before = snapshot(mock);
    let r = run(rb).await;
    assert!(r.status >= 400, "{}", r.text);
    assert_unchanged(mock, &before, &r.text);
    r
}

#[tokio::test]
async fn malformed_json_is_invalid_syntax() {
    let mock = small().await;
    let (uid, gid) = grouped_member(&mock);
    for (method, path) in [
        (Method::POST, "/Users".to_string()),
        (Method::PUT, format!("/Users/{uid}")),
        (Method::PATCH, format!("/Users/{uid}")),
        (Method::POST, "/Groups".to_string()),
        (Method::PUT, format!("/Groups/{gid}")),
        (Method::PATCH, format!("/Groups/{gid}")),
    ] {
        for body in ["{not json", "", "[1,2", "\"just a string\""] {
            let r = refused(
                &mock,
                scim(&mock, method.clone(), &path)
                    .header("content-type", "application/json")
                    .body(body),
            )
            .await;
            assert_rfc_error(&r, 400, Some("invalidSyntax"));
        }
    }
}

#[tokio::test]
async fn unsupported_and_unparsable_filters_are_invalid_filter() {
    let mock = small().await;
    for (path, filter) in [
        ("/Users", r#"userName co "a""#),
        ("/Users", r#"userName sw "a""#),
        ("/Users", r#"userName eq "a" and active eq true"#),
        ("/Users", r#"emails[value eq "a@b.com"]"#),
        ("/Users", r#"externalId eq "1""#),
        ("/Users", r#"userName eq"#),
        ("/Users", r#"(("#),
        ("/Groups", r#"displayName co "a""#),
        ("/Groups", r#"id eq "x""#),
        ("/Groups", r#"displayName eq"#),
    ] {
        let r = refused(&mock, scim(&mock, Method::GET, path).query(&[("filter", filter)])).await;
        assert_rfc_error(&r, 400, Some("invalidFilter"));
    }
}

#[tokio::test]
async fn bad_patch_paths_are_invalid_path() {
    let mock = small().await;
    let (uid, gid) = grouped_member(&mock);
    for path in [
        "nonexistent",
        "members[",
        "name.nickname",
        "urn:ietf:params:scim:schemas:extension:other:2.0:User:x",
        "1abc",
        "title[value eq \"x\"]",
    ] {
        let body = patch_body(json!([{ "op": "replace", "path": path, "value": "x" }]));
        let r = refused(&mock, scim(&mock, Method::PATCH, &format!("/Users/{uid}")).json(&body)).await;
        assert_rfc_error(&r, 400, Some("invalidPath"));
    }
    let body = patch_body(json!([{ "op": "add", "path": "owners", "value": [{ "value": uid }] }]));
    let r = refused(&mock, scim(&mock, Method::PATCH, &format!("/Groups/{gid}")).json(&body)).await;
    assert_rfc_error(&r, 400, Some("invalidPath"));
}

#[tokio::test]
async fn bad_values_are_invalid_value() {
    let mock = small().await;
    let uid = plain_member(&mock);
    let bad_patches = [
        json!([{ "op": "replace", "path": format!("{NOTION_EXT}:role"), "value": "admin" }]),
        json!([{ "op": "replace", "value": { NOTION_EXT: { "role": "admin" } } }]),
        json!([{ "op": "replace", "path": "active", "value": 5 }]),
        json!([{ "op": "replace", "value": { "active": "maybe" } }]),
        json!([{ "op": "replace", "path": "userName", "value": "not-an-email" }]),
        json!([{ "op": "replace", "path": "userName", "value": 7 }]),
        json!([{ "op": "replace", "path": "active" }]),
    ];
    for ops in bad_patches {
        let r = refused(
            &mock,
            scim(&mock, Method::PATCH, &format!("/Users/{uid}")).json(&patch_body(ops.clone())),
        )
        .await;
        assert_rfc_error(&r, 400, Some("invalidValue"));
    }
    let bad_posts = [
        json!({ "userName": "not-an-email" }),
        json!({ "name": { "formatted": "No Username" } }),
        json!({ "userName": "x@y.com", NOTION_EXT: { "role": "admin" } }),
        json!({ "userName": "x@y.com", "active": 5 }),
    ];
    for body in bad_posts {
        let r = refused(&mock, scim(&mock, Method::POST, "/Users").json(&body)).await;
        assert_rfc_error(&r, 400, Some("invalidValue"));
    }
    let r = refused(
        &mock,
        scim(&mock, Method::PUT, &format!("/Users/{uid}")).json(&json!({ "active": true })),
    )
    .await;
    assert_rfc_error(&r, 400, Some("invalidValue"));
}

#[tokio::test]
async fn remove_matching_nothing_is_no_target() {
    let mock = small().await;
    let (uid, gid) = grouped_member(&mock);
    let stranger = "00000000-0000-4000-8000-000000000000";
    let ops = json!([{ "op": "remove", "path": format!("members[value eq \"{stranger}\"]") }]);
    let r = refused(
        &mock,
        scim(&mock, Method::PATCH, &format!("/Groups/{gid}")).json(&patch_body(ops)),
    )
    .await;
    assert_rfc_error(&r, 400, Some("noTarget"));
    let ops = json!([{ "op": "remove" }]);
    let r = refused(
        &mock,
        scim(&mock, Method::PATCH, &format!("/Users/{uid}")).json(&patch_body(ops)),
    )
    .await;
    assert_rfc_error(&r, 400, Some("noTarget"));
}

#[tokio::test]
async fn a_failing_operation_undoes_the_ones_before_it() {
    let mock = small().await;
    let (uid, gid) = grouped_member(&mock);
    let ops = json!([
        { "op": "replace", "path": "displayName", "value": "Renamed" },
        { "op": "remove", "path": "members[value eq \"00000000-0000-4000-8000-000000000000\"]" }
    ]);
    let r = refused(
        &mock,
        scim(&mock, Method::PATCH, &format!("/Groups/{gid}")).json(&patch_body(ops)),
    )
    .await;
    assert_rfc_error(&r, 400, Some("noTarget"));
    let ops = json!([
        { "op": "replace", "path": "title", "value": "Boss" },
        { "op": "replace", "path": "active", "value": 5 }
    ]);
    let r = refused(
        &mock,
        scim(&mock, Method::PATCH, &format!("/Users/{uid}")).json(&patch_body(ops)),
    )
    .await;
    assert_rfc_error(&r, 400, Some("invalidValue"));
    assert!(get(&mock, &format!("/Users/{uid}")).await.body.get("title").is_none());
}

#[tokio::test]
async fn missing_wrong_and_revoked_tokens_are_401() {
    let mock = small().await;
    let r = refused(&mock, anon(&mock, Method::GET, "/Users")).await;
    assert_rfc_error(&r, 401, None);
    let r = refused(&mock, anon(&mock, Method::GET, "/Users").bearer_auth("secret_wrong")).await;
    assert_rfc_error(&r, 401, None);
    let r = refused(
        &mock,
        anon(&mock, Method::GET, "/Users").header("authorization", format!("Basic {}", mock.token())),
    )
    .await;
    assert_rfc_error(&r, 401, None);
    let r = refused(
        &mock,
        anon(&mock, Method::POST, "/Users").json(&new_user(&mock, "anon")),
    )
    .await;
    assert_rfc_error(&r, 401, None);
    assert_eq!(get(&mock, "/Users").await.status, 200);
    mock.revoke_token();
    let r = refused(&mock, scim(&mock, Method::GET, "/Users")).await;
    assert_rfc_error(&r, 401, None);
}

#[tokio::test]
async fn bodies_over_the_cap_are_413() {
    let mock = small().await;
    let pad = "x".repeat(MAX_BODY_BYTES);
    let body = json!({ "userName": "big@example.com", "title": pad }).to_string();
    assert!(body.len() > 500_000);
    let r = refused(
        &mock,
        scim(&mock, Method::POST, "/Users")
            .header("content-type", "application/json")
            .body(body),
    )
    .await;
    assert_rfc_error(&r, 413, Some("tooLarge"));
    // Just under the cap is read (and then judged on its content).
    let ok = json!({ "userName": format!("under@{}", domain(&mock)), "title": "x".repeat(400_000) });
    let r = post(&mock, "/Users", ok).await;
    assert_eq!(r.status, 201, "{}", &r.text[..200.min(r.text.len())]);
}

#[tokio::test]
async fn unknown_and_non_uuid_ids_are_404() {
    let mock = small().await;
    let unknown = "00000000-0000-4000-8000-000000000000";
    for kind in ["Users", "Groups"] {
        for id in [unknown, "not-a-uuid", "12345"] {
            let path = format!("/{kind}/{id}");
            assert_rfc_error(&refused(&mock, scim(&mock, Method::GET, &path)).await, 404, None);
            assert_rfc_error(&refused(&mock, scim(&mock, Method::DELETE, &path)).await, 404, None);
            let ops = patch_body(json!([{ "op": "replace", "path": "displayName", "value": "X" }]));
            assert_rfc_error(
                &refused(&mock, scim(&mock, Method::PATCH, &path).json(&ops)).await,
                404,
                None,
            );
            let doc = json!({ "userName": "a@b.com", "displayName": "X" });
            assert_rfc_error(
                &refused(&mock, scim(&mock, Method::PUT, &path).json(&doc)).await,
                404,
                None,
            );
        }
    }
}

#[tokio::test]
async fn wrong_methods_are_405_and_unknown_endpoints_404() {
    let mock = small().await;
    let uid = plain_member(&mock);
    for (method, path) in [
        (Method::DELETE, "/Users".to_string()),
        (Method::PUT, "/Groups".to_string()),
        (Method::POST, format!("/Users/{uid}")),
        (Method::POST, "/ServiceProviderConfig".to_string()),
        (Method::DELETE, "/Schemas".to_string()),
    ] {
        let r = refused(&mock, scim(&mock, method.clone(), &path)).await;
        assert_rfc_error(&r, 405, None);
        let allow = r.header("allow").unwrap_or_default();
        assert!(
            allow.contains("GET") && !allow.contains(method.as_str()),
            "{method} {path}: Allow {allow:?}"
        );
    }
    for path in ["/Printers", "/Users/a/b", "/"] {
        assert_rfc_error(&refused(&mock, scim(&mock, Method::GET, path)).await, 404, None);
    }
    let r = run(client().get(format!("http://{}/nowhere", mock.addr()))).await;
    assert_rfc_error(&r, 404, None);
}

/// The same bad inputs, answered in Notion's dialect.
#[tokio::test]
async fn every_error_in_the_notion_dialect() {
    let mock = small_with(Quirks {
        error_dialect: ErrorDialect::Notion,
        ..Quirks::default()
    })
    .await;
    let uid = plain_member(&mock);
    let bad_json = scim(&mock, Method::POST, "/Users")
        .header("content-type", "application/json")
        .body("{");
    assert_notion_error(&refused(&mock, bad_json).await, 400, "invalid_json");
    let filter = scim(&mock, Method::GET, "/Users").query(&[("filter", "userName co \"a\"")]);
    assert_notion_error(&refused(&mock, filter).await, 400, "validation_error");
    let path = patch_body(json!([{ "op": "replace", "path": "nope", "value": 1 }]));
    assert_notion_error(
        &refused(&mock, scim(&mock, Method::PATCH, &format!("/Users/{uid}")).json(&path)).await,
        400,
        "validation_error",
    );
    assert_notion_error(
        &refused(&mock, anon(&mock, Method::GET, "/Users")).await,
        401,
        "unauthorized",
    );
    assert_notion_error(
        &refused(&mock, scim(&mock, Method::GET, "/Users/nope")).await,
        404,
        "object_not_found",
    );
    assert_notion_error(
        &refused(&mock, scim(&mock, Method::DELETE, "/Users")).await,
        405,
        "invalid_request_url",
    );
    assert_notion_error(
        &refused(&mock, scim(&mock, Method::GET, "/Me")).await,
        501,
        "invalid_request_url",
    );
    let creator = mock.truth().tokens[0].creator.clone();
    assert_notion_error(
        &refused(&mock, scim(&mock, Method::DELETE, &format!("/Users/{creator}"))).await,
        403,
        "restricted_resource",
    );
    let existing = mock.truth().users[3].user_name.clone();
    let dup = scim(&mock, Method::POST, "/Users").json(&json!({ "userName": existing }));
    assert_notion_error(&refused(&mock, dup).await, 409, "conflict_error");
    let big = scim(&mock, Method::POST, "/Users").body("x".repeat(MAX_BODY_BYTES + 1));
    let r = refused(&mock, big).await;
    assert_eq!(r.status, 413);
    assert_eq!(r.body["object"], json!("error"));
    mock.faults()
        .script([notion_scim_mock::Fault::RateLimited { retry_after_secs: 3 }]);
    let r = get(&mock, "/Users").await;
    assert_notion_error(&r, 429, "rate_limited");
    assert_eq!(r.header("retry-after"), Some("3"));
}

#[tokio::test]
async fn error_bodies_carry_the_content_type() {
    let mock = small().await;
    let r = get(&mock, "/Users/nope").await;
    assert_eq!(r.header("content-type"), Some("application/scim+json"));
    let v: Value = serde_json::from_str(&r.text).unwrap();
    assert_eq!(v["status"], json!("404"));
}
