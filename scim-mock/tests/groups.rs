//! `/Groups`: lists, filters, shapes, membership writes, and what groups may hold.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use notion_scim_mock::{MockServer, SeedSpec};
use serde_json::json;

#[tokio::test]
async fn list_and_get_groups() {
    let mock = small().await;
    let t = mock.truth();
    let r = get(&mock, "/Groups").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["schemas"], json!([LIST]));
    assert_eq!(r.body["totalResults"], json!(5));
    assert_eq!(r.body["itemsPerPage"], json!(5));
    assert_eq!(r.body["startIndex"], json!(1));
    let ids: Vec<String> = t.groups.iter().map(|g| g.id.clone()).collect();
    assert_eq!(r.ids(), ids);
    for (listed, truth) in resources(&r.body).iter().zip(&t.groups) {
        assert_eq!(listed["schemas"], json!([CORE_GROUP]));
        assert_eq!(listed["displayName"], json!(truth.display_name));
        let members: Vec<&str> = listed["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["value"].as_str().unwrap())
            .collect();
        assert_eq!(members, truth.members);
        for m in listed["members"].as_array().unwrap() {
            assert_eq!(m["type"], json!("User"));
            assert_eq!(
                m["$ref"],
                json!(format!(
                    "https://app.notion.com/scim/v2/Users/{}",
                    m["value"].as_str().unwrap()
                ))
            );
        }
        assert_eq!(listed["meta"]["resourceType"], json!("Group"));
        assert_eq!(
            listed["meta"]["location"],
            json!(format!("https://app.notion.com/scim/v2/Groups/{}", truth.id))
        );
        assert!(listed["meta"]["created"].as_str().unwrap().parse::<u64>().is_ok());
        let one = get(&mock, &format!("/Groups/{}", truth.id)).await;
        assert_eq!(one.status, 200);
        assert_eq!(&one.body, listed);
    }
    let page = get_q(&mock, "/Groups", &[("startIndex", "2"), ("count", "2")]).await;
    assert_eq!(page.ids(), ids[1..3]);
    assert_eq!(page.body["itemsPerPage"], json!(2));
    assert_eq!(page.body["totalResults"], json!(5));
}

#[tokio::test]
async fn groups_without_paging_return_at_most_100() {
    let mock = MockServer::builder()
        .spec(SeedSpec {
            seed: 2,
            users: 20,
            groups: 130,
            ..SeedSpec::default()
        })
        .start()
        .await;
    let r = get_q(&mock, "/Groups", &[("excludedAttributes", "members")]).await;
    assert_eq!(r.body["totalResults"], json!(130));
    assert_eq!(r.ids().len(), 100);
    let r = get_q(&mock, "/Groups", &[("startIndex", "101"), ("count", "100")]).await;
    assert_eq!(r.ids().len(), 30);
    assert_eq!(r.body["itemsPerPage"], json!(30));
}

#[tokio::test]
async fn display_name_filter_quoted_and_unquoted() {
    let org = r#"{ "name": "D", "verified_domains": ["d.example"], "workspaces": [{ "name": "W",
        "members": [ { "email": "o@d.example", "role": "owner" }, { "email": "m@d.example" } ],
        "groups": [ { "display_name": "Designers", "members": ["m@d.example"] },
                    { "display_name": "Design Leads" }, { "display_name": "Engineers" } ] }] }"#;
    let mock = MockServer::builder().org_json(org).unwrap().start().await;
    let designers = mock.truth().groups[0].id.clone();
    for filter in [
        "displayName eq Designers",
        "displayName eq \"Designers\"",
        "DISPLAYNAME EQ \"Designers\"",
    ] {
        let r = get_q(&mock, "/Groups", &[("filter", filter)]).await;
        assert_eq!(r.status, 200, "{filter}: {}", r.text);
        assert_eq!(r.ids(), std::slice::from_ref(&designers), "{filter}");
        assert_eq!(r.body["totalResults"], json!(1));
    }
    let r = get_q(&mock, "/Groups", &[("filter", "displayName eq \"Design Leads\"")]).await;
    assert_eq!(r.ids(), [mock.truth().groups[1].id.clone()]);
    let r = get_q(&mock, "/Groups", &[("filter", "displayName eq \"Nobody\"")]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["totalResults"], json!(0));
}

#[tokio::test]
async fn excluded_attributes_members() {
    let mock = small().await;
    let gid = mock
        .truth()
        .groups
        .iter()
        .find(|g| !g.members.is_empty())
        .unwrap()
        .id
        .clone();
    let r = get_q(&mock, "/Groups", &[("excludedAttributes", "members")]).await;
    assert_eq!(r.status, 200);
    for g in resources(&r.body) {
        assert!(g.get("members").is_none(), "{g}");
        assert!(g["displayName"].is_string());
    }
    let r = get_q(&mock, &format!("/Groups/{gid}"), &[("excludedAttributes", "members")]).await;
    assert!(r.body.get("members").is_none());
    assert_eq!(r.body["id"], json!(gid));
    let r = get(&mock, &format!("/Groups/{gid}")).await;
    assert!(!r.body["members"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn post_put_and_delete_a_group() {
    let mock = small().await;
    let t = mock.truth();
    let (a, b) = (t.users[1].id.clone(), t.users[2].id.clone());
    let r = post(
        &mock,
        "/Groups",
        json!({ "schemas": [CORE_GROUP], "displayName": "New Crew", "members": [{ "value": a }] }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let gid = r.body["id"].as_str().unwrap().to_string();
    assert!(uuid::Uuid::parse_str(&gid).is_ok() && gid == gid.to_lowercase());
    assert_eq!(
        r.header("location"),
        Some(format!("https://app.notion.com/scim/v2/Groups/{gid}").as_str())
    );
    assert_eq!(r.body["displayName"], json!("New Crew"));
    assert_eq!(mock.truth().group(&gid).unwrap().members, std::slice::from_ref(&a));
    let r = put(
        &mock,
        &format!("/Groups/{gid}"),
        json!({ "displayName": "Renamed Crew", "members": [{ "value": b }, { "value": a }] }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let g = mock.truth().group(&gid).unwrap().clone();
    assert_eq!(g.display_name, "Renamed Crew");
    assert_eq!(g.members, [b.clone(), a.clone()]);
    let before = snapshot(&mock);
    assert_rfc_error(
        &put(&mock, &format!("/Groups/{gid}"), json!({ "members": [] })).await,
        400,
        Some("invalidValue"),
    );
    assert_rfc_error(
        &post(&mock, "/Groups", json!({ "displayName": "" })).await,
        400,
        Some("invalidValue"),
    );
    assert_unchanged(&mock, &before, "bad group docs");
    assert_eq!(delete(&mock, &format!("/Groups/{gid}")).await.status, 204);
    assert_rfc_error(&get(&mock, &format!("/Groups/{gid}")).await, 404, None);
    assert!(mock.truth().group(&gid).is_none());
    assert!(mock.truth().user(&a).is_some(), "members survive their group");
}

#[tokio::test]
async fn membership_patches_in_every_client_form() {
    let mock = small().await;
    let t = mock.truth();
    let gid = t
        .groups
        .iter()
        .find(|g| g.sole_full_access_pages == 0)
        .unwrap()
        .id
        .clone();
    let path = format!("/Groups/{gid}");
    let outsiders: Vec<String> = t
        .users
        .iter()
        .filter(|u| !t.group(&gid).unwrap().members.contains(&u.id))
        .take(3)
        .map(|u| u.id.clone())
        .collect();
    let members = |mock: &MockServer| mock.truth().group(&gid).unwrap().members.clone();
    let start = members(&mock);

    let r = patch(
        &mock,
        &path,
        json!([{ "op": "Add", "path": "members", "value": [{ "value": outsiders[0] }, { "value": outsiders[1] }] }]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["value"] == json!(outsiders[0])));
    let mut want = start.clone();
    want.extend([outsiders[0].clone(), outsiders[1].clone()]);
    assert_eq!(members(&mock), want);

    // Adding someone twice changes nothing.
    let r = patch(
        &mock,
        &path,
        json!([{ "op": "add", "path": "members", "value": [{ "value": outsiders[0].to_uppercase() }] }]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(members(&mock), want);

    let r = patch(
        &mock,
        &path,
        json!([{ "op": "Remove", "path": format!("members[value eq \"{}\"]", outsiders[0]) }]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    want.retain(|m| m != &outsiders[0]);
    assert_eq!(members(&mock), want);

    let r = patch(
        &mock,
        &path,
        json!([{ "op": "remove", "path": "members", "value": [{ "value": outsiders[1] }] }]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    want.retain(|m| m != &outsiders[1]);
    assert_eq!(members(&mock), want);
    assert_eq!(members(&mock), start);

    // Rename with a no-path value, and replace the whole member list.
    let r = patch(
        &mock,
        &path,
        json!([
            { "op": "Replace", "value": { "displayName": "Patched Name" } },
            { "op": "replace", "path": "members", "value": [{ "value": outsiders[2] }] }
        ]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let g = mock.truth().group(&gid).unwrap().clone();
    assert_eq!(g.display_name, "Patched Name");
    assert_eq!(g.members, [outsiders[2].clone()]);

    // Remove every member.
    let r = patch(&mock, &path, json!([{ "op": "remove", "path": "members" }])).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(members(&mock).is_empty());
}

#[tokio::test]
async fn groups_hold_members_only() {
    let mock = small().await;
    let t = mock.truth();
    let gid = t.groups[0].id.clone();
    let other_group = t.groups[1].id.clone();
    let guest = t.guests[0].id.clone();
    let unknown = "00000000-0000-4000-8000-000000000000".to_string();
    let path = format!("/Groups/{gid}");
    let before = snapshot(&mock);
    for bad in [guest.clone(), unknown.clone(), "not-a-uuid".into(), other_group.clone()] {
        let r = patch(
            &mock,
            &path,
            json!([{ "op": "add", "path": "members", "value": [{ "value": bad }] }]),
        )
        .await;
        assert_rfc_error(&r, 400, Some("invalidValue"));
        let r = post(
            &mock,
            "/Groups",
            json!({ "displayName": "Bad", "members": [{ "value": bad }] }),
        )
        .await;
        assert_rfc_error(&r, 400, Some("invalidValue"));
        let r = put(
            &mock,
            &path,
            json!({ "displayName": "Bad", "members": [{ "value": bad }] }),
        )
        .await;
        assert_rfc_error(&r, 400, Some("invalidValue"));
    }
    let r = patch(
        &mock,
        &path,
        json!([{ "op": "add", "path": "members", "value": [{ "display": "no value" }] }]),
    )
    .await;
    assert_rfc_error(&r, 400, Some("invalidValue"));
    assert_unchanged(&mock, &before, "non-members");
}

#[tokio::test]
async fn group_delete_refused_when_it_would_orphan_pages() {
    let mock = MockServer::builder()
        .spec(SeedSpec {
            seed: 3,
            users: 30,
            groups: 5,
            sole_access_group_ratio: 1.0,
            ..SeedSpec::default()
        })
        .start()
        .await;
    let gid = mock.truth().groups[0].id.clone();
    assert!(mock.truth().groups[0].sole_full_access_pages > 0);
    let before = snapshot(&mock);
    let r = delete(&mock, &format!("/Groups/{gid}")).await;
    assert_rfc_error(&r, 409, None);
    assert!(r.body["detail"].as_str().unwrap().contains("full access"));
    assert_unchanged(&mock, &before, "refused delete");
    assert_eq!(get(&mock, &format!("/Groups/{gid}")).await.status, 200);
}

#[tokio::test]
async fn group_writes_move_meta_last_modified() {
    let mock = small().await;
    let gid = mock.truth().groups[0].id.clone();
    let before = get(&mock, &format!("/Groups/{gid}")).await.body["meta"]["lastModified"]
        .as_str()
        .unwrap()
        .parse::<u64>()
        .unwrap();
    let r = patch(
        &mock,
        &format!("/Groups/{gid}"),
        json!([{ "op": "replace", "path": "displayName", "value": "Moved" }]),
    )
    .await;
    let after = r.body["meta"]["lastModified"].as_str().unwrap().parse::<u64>().unwrap();
    assert!(after > before);
    let list = get_q(&mock, "/Groups", &[("filter", "displayName eq Moved")]).await;
    assert_eq!(list.ids(), [gid]);
}
