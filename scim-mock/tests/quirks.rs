//! Every switch in `Quirks`, in its default setting and in the other one, seen through HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use notion_scim_mock::quirks::{
    CountOverMax, ErrorDialect, NestedGroups, PostExistingMember, ResponseContentType, UndocumentedEndpoints,
    UnsupportedFilter,
};
use notion_scim_mock::{MockServer, Quirks, Role};
use reqwest::Method;
use serde_json::json;

fn q() -> Quirks {
    Quirks::default()
}

#[tokio::test]
async fn defaults_are_the_documented_best_guesses() {
    let d = Quirks::default();
    assert_eq!(d.error_dialect, ErrorDialect::Rfc);
    assert_eq!(d.auth_failure_status, 401);
    assert_eq!(d.non_enterprise_status, 403);
    assert_eq!(d.count_over_max, CountOverMax::Clamp);
    assert_eq!(d.default_count, 100);
    assert_eq!(d.unsupported_filter, UnsupportedFilter::Reject);
    assert!(
        d.list_groups_with_members
            && d.group_meta
            && d.readd_keeps_id
            && d.created_with_location
            && d.put_clears_omitted
    );
    assert_eq!(d.nested_groups, NestedGroups::Reject);
    assert_eq!(d.post_existing_member, PostExistingMember::Conflict);
    assert_eq!(d.default_role, Role::Member);
    assert_eq!(d.unverified_domain_status, 403);
    assert_eq!(d.token_creator_removal_status, 403);
    assert_eq!(d.group_delete_refused_status, 409);
    assert_eq!(d.undocumented_endpoints, UndocumentedEndpoints::NotImplemented);
    assert_eq!(d.response_content_type, ResponseContentType::ScimJson);
}

#[tokio::test]
async fn error_dialect() {
    let mock = small().await;
    assert_rfc_error(&get(&mock, "/Users/nope").await, 404, None);
    mock.set_quirks(Quirks {
        error_dialect: ErrorDialect::Notion,
        ..q()
    });
    assert_notion_error(&get(&mock, "/Users/nope").await, 404, "object_not_found");
}

#[tokio::test]
async fn auth_failure_status() {
    let mock = small().await;
    assert_rfc_error(&run(anon(&mock, Method::GET, "/Users")).await, 401, None);
    mock.set_quirks(Quirks {
        auth_failure_status: 403,
        ..q()
    });
    assert_rfc_error(&run(anon(&mock, Method::GET, "/Users")).await, 403, None);
    assert_rfc_error(
        &run(anon(&mock, Method::GET, "/Users").bearer_auth("wrong")).await,
        403,
        None,
    );
    mock.revoke_token();
    assert_rfc_error(&get(&mock, "/Users").await, 403, None);
}

#[tokio::test]
async fn non_enterprise_status() {
    let mock = small().await;
    mock.with_org(|o| o.workspaces[0].enterprise = false);
    let r = get(&mock, "/Users").await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(r.body["status"], json!("403"));
    mock.set_quirks(Quirks {
        non_enterprise_status: 402,
        error_dialect: ErrorDialect::Notion,
        ..q()
    });
    let r = get(&mock, "/Users").await;
    assert_eq!(r.status, 402, "{}", r.text);
    assert_eq!(r.body["object"], json!("error"));
    // The discovery document stays public.
    assert_eq!(
        run(anon(&mock, Method::GET, "/ServiceProviderConfig")).await.status,
        200
    );
}

#[tokio::test]
async fn count_over_max() {
    let mock = MockServer::builder().seed(3).users(120).groups(1).start().await;
    let r = get_q(&mock, "/Users", &[("count", "150")]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.ids().len(), 100);
    assert_eq!(r.body["itemsPerPage"], json!(100));
    mock.set_quirks(Quirks {
        count_over_max: CountOverMax::Reject,
        ..q()
    });
    assert_rfc_error(
        &get_q(&mock, "/Users", &[("count", "150")]).await,
        400,
        Some("invalidValue"),
    );
    assert_rfc_error(
        &get_q(&mock, "/Groups", &[("count", "101")]).await,
        400,
        Some("invalidValue"),
    );
    assert_eq!(get_q(&mock, "/Users", &[("count", "100")]).await.ids().len(), 100);
}

#[tokio::test]
async fn default_count() {
    let mock = MockServer::builder().seed(3).users(120).groups(1).start().await;
    assert_eq!(get(&mock, "/Users").await.ids().len(), 100);
    mock.set_quirks(Quirks {
        default_count: 7,
        ..q()
    });
    let r = get(&mock, "/Users").await;
    assert_eq!(r.ids().len(), 7);
    assert_eq!(r.body["itemsPerPage"], json!(7));
    assert_eq!(r.body["totalResults"], json!(120));
    assert_eq!(get_q(&mock, "/Users", &[("count", "9")]).await.ids().len(), 9);
}

#[tokio::test]
async fn unsupported_filter() {
    let mock = small().await;
    let f = [("filter", "userName co \"a\"")];
    assert_rfc_error(&get_q(&mock, "/Users", &f).await, 400, Some("invalidFilter"));
    assert_rfc_error(
        &get_q(&mock, "/Groups", &[("filter", "displayName sw \"a\"")]).await,
        400,
        Some("invalidFilter"),
    );
    mock.set_quirks(Quirks {
        unsupported_filter: UnsupportedFilter::Ignore,
        ..q()
    });
    let r = get_q(&mock, "/Users", &f).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["totalResults"], json!(30));
    let r = get_q(&mock, "/Groups", &[("filter", "displayName sw \"a\"")]).await;
    assert_eq!(r.body["totalResults"], json!(5));
    // A filter that does not parse at all is still refused.
    assert_rfc_error(
        &get_q(&mock, "/Users", &[("filter", "((")]).await,
        400,
        Some("invalidFilter"),
    );
}

#[tokio::test]
async fn list_groups_with_members() {
    let mock = small().await;
    let r = get(&mock, "/Groups").await;
    assert!(resources(&r.body).iter().all(|g| g["members"].is_array()));
    mock.set_quirks(Quirks {
        list_groups_with_members: false,
        ..q()
    });
    let r = get(&mock, "/Groups").await;
    assert!(
        resources(&r.body).iter().all(|g| g.get("members").is_none()),
        "{}",
        r.text
    );
    // A group read by id still carries its members (baton-notion relies on it).
    let gid = mock
        .truth()
        .groups
        .iter()
        .find(|g| !g.members.is_empty())
        .unwrap()
        .id
        .clone();
    let one = get(&mock, &format!("/Groups/{gid}")).await;
    assert!(!one.body["members"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn group_meta() {
    let mock = small().await;
    let gid = mock.truth().groups[0].id.clone();
    let g = get(&mock, &format!("/Groups/{gid}")).await;
    assert_eq!(g.body["schemas"], json!([CORE_GROUP]));
    assert!(g.body["meta"].is_object());
    mock.set_quirks(Quirks {
        group_meta: false,
        ..q()
    });
    let g = get(&mock, &format!("/Groups/{gid}")).await;
    assert!(
        g.body.get("schemas").is_none() && g.body.get("meta").is_none(),
        "{}",
        g.text
    );
    assert_eq!(g.body["id"], json!(gid));
    let l = get(&mock, "/Groups").await;
    assert!(resources(&l.body).iter().all(|g| g.get("meta").is_none()));
}

#[tokio::test]
async fn nested_groups() {
    let mock = small().await;
    let t = mock.truth();
    let (gid, other) = (t.groups[0].id.clone(), t.groups[1].id.clone());
    let user = t
        .users
        .iter()
        .find(|u| !t.groups[0].members.contains(&u.id))
        .unwrap()
        .id
        .clone();
    let ops = json!([{ "op": "add", "path": "members", "value": [{ "value": other }, { "value": user }] }]);
    let before = snapshot(&mock);
    assert_rfc_error(
        &patch(&mock, &format!("/Groups/{gid}"), ops.clone()).await,
        400,
        Some("invalidValue"),
    );
    assert_unchanged(&mock, &before, "nested reject");
    mock.set_quirks(Quirks {
        nested_groups: NestedGroups::Ignore,
        ..q()
    });
    let r = patch(&mock, &format!("/Groups/{gid}"), ops).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let members = mock.truth().group(&gid).unwrap().members.clone();
    assert!(members.contains(&user));
    assert!(!members.contains(&other), "the group member is dropped");
}

async fn remove_and_readd(mock: &MockServer) -> (String, String) {
    let uid = plain_member(mock);
    let email = mock.truth().user(&uid).unwrap().user_name.clone();
    assert_eq!(delete(mock, &format!("/Users/{uid}")).await.status, 204);
    let r = post(mock, "/Users", json!({ "userName": email })).await;
    assert_eq!(r.status, 201, "{}", r.text);
    (uid, r.body["id"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn readd_keeps_id() {
    let mock = small().await;
    let (old, new) = remove_and_readd(&mock).await;
    assert_eq!(old, new);
    let mock = small_with(Quirks {
        readd_keeps_id: false,
        ..q()
    })
    .await;
    let (old, new) = remove_and_readd(&mock).await;
    assert_ne!(old, new);
    assert_rfc_error(&get(&mock, &format!("/Users/{old}")).await, 404, None);
    assert_eq!(get(&mock, &format!("/Users/{new}")).await.status, 200);
}

#[tokio::test]
async fn post_existing_member() {
    let mock = small().await;
    let u = mock.truth().users[4].clone();
    assert_rfc_error(
        &post(&mock, "/Users", json!({ "userName": u.user_name })).await,
        409,
        Some("uniqueness"),
    );
    mock.set_quirks(Quirks {
        post_existing_member: PostExistingMember::ReturnExisting,
        ..q()
    });
    let before = snapshot(&mock);
    let r = post(
        &mock,
        "/Users",
        json!({ "userName": u.user_name, "name": { "formatted": "Ignored" }, NOTION_EXT: { "role": "owner" } }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["id"], json!(u.id));
    assert_unchanged(&mock, &before, "return existing");
}

#[tokio::test]
async fn default_role() {
    let mock = small().await;
    let r = post(&mock, "/Users", new_user(&mock, "role.default")).await;
    assert_eq!(r.body[NOTION_EXT]["role"], json!("member"));
    mock.set_quirks(Quirks {
        default_role: Role::RestrictedMember,
        ..q()
    });
    let r = post(&mock, "/Users", new_user(&mock, "role.other")).await;
    assert_eq!(r.status, 201);
    assert_eq!(r.body[NOTION_EXT]["role"], json!("restricted_member"));
    let id = r.body["id"].as_str().unwrap();
    assert_eq!(mock.truth().user(id).unwrap().role, Some(Role::RestrictedMember));
    // A role in the request wins over the default.
    let mut body = new_user(&mock, "role.named");
    body[NOTION_EXT] = json!({ "role": "membership_admin" });
    assert_eq!(
        post(&mock, "/Users", body).await.body[NOTION_EXT]["role"],
        json!("membership_admin")
    );
}

#[tokio::test]
async fn created_with_location() {
    let mock = small().await;
    let r = post(&mock, "/Users", new_user(&mock, "loc.one")).await;
    assert_eq!(r.status, 201);
    assert!(r.header("location").is_some());
    let g = post(&mock, "/Groups", json!({ "displayName": "Loc" })).await;
    assert_eq!(g.status, 201);
    assert!(g.header("location").is_some());
    mock.set_quirks(Quirks {
        created_with_location: false,
        ..q()
    });
    let r = post(&mock, "/Users", new_user(&mock, "loc.two")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.header("location").is_none());
    assert!(r.body["id"].is_string());
    let g = post(&mock, "/Groups", json!({ "displayName": "Loc 2" })).await;
    assert_eq!(g.status, 200);
    assert!(g.header("location").is_none());
}

#[tokio::test]
async fn unverified_domain_status() {
    let ops = json!([{ "op": "replace", "path": "userName", "value": "moved@unverified.example" }]);
    let mock = small().await;
    let uid = plain_member(&mock);
    assert_rfc_error(&patch(&mock, &format!("/Users/{uid}"), ops.clone()).await, 403, None);
    mock.set_quirks(Quirks {
        unverified_domain_status: 0,
        ..q()
    });
    let r = patch(&mock, &format!("/Users/{uid}"), ops.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(mock.truth().user(&uid).unwrap().user_name, "moved@unverified.example");
    let mock = small_with(Quirks {
        unverified_domain_status: 422,
        ..q()
    })
    .await;
    let uid = plain_member(&mock);
    assert_eq!(patch(&mock, &format!("/Users/{uid}"), ops).await.status, 422);
}

#[tokio::test]
async fn put_clears_omitted() {
    async fn put_without_title(mock: &MockServer) -> serde_json::Value {
        let uid = plain_member(mock);
        let path = format!("/Users/{uid}");
        let r = patch(
            mock,
            &path,
            json!([{ "op": "add", "value": { "title": "Chief", "locale": "en-GB" } }]),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let mut doc = get(mock, &path).await.body;
        doc.as_object_mut().unwrap().remove("title");
        let r = put(mock, &path, doc).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["locale"], json!("en-GB"), "attributes sent are kept");
        r.body
    }
    let mock = small().await;
    assert!(put_without_title(&mock).await.get("title").is_none());
    let mock = small_with(Quirks {
        put_clears_omitted: false,
        ..q()
    })
    .await;
    assert_eq!(put_without_title(&mock).await["title"], json!("Chief"));
}

#[tokio::test]
async fn token_creator_removal_status() {
    let mock = small().await;
    let creator = mock.truth().tokens[0].creator.clone();
    assert_rfc_error(&delete(&mock, &format!("/Users/{creator}")).await, 403, None);
    mock.set_quirks(Quirks {
        token_creator_removal_status: 409,
        ..q()
    });
    let before = snapshot(&mock);
    assert_eq!(delete(&mock, &format!("/Users/{creator}")).await.status, 409);
    assert_unchanged(&mock, &before, "creator");
}

#[tokio::test]
async fn group_delete_refused_status() {
    let mock = small().await;
    let gid = mock.truth().groups[0].id.clone();
    let id = uuid::Uuid::parse_str(&gid).unwrap();
    mock.with_org(|o| o.workspaces[0].groups.get_mut(&id).unwrap().sole_full_access_pages = 2);
    assert_rfc_error(&delete(&mock, &format!("/Groups/{gid}")).await, 409, None);
    mock.set_quirks(Quirks {
        group_delete_refused_status: 400,
        ..q()
    });
    assert_eq!(delete(&mock, &format!("/Groups/{gid}")).await.status, 400);
    assert!(mock.truth().group(&gid).is_some());
    mock.with_org(|o| o.workspaces[0].groups.get_mut(&id).unwrap().sole_full_access_pages = 0);
    assert_eq!(delete(&mock, &format!("/Groups/{gid}")).await.status, 204);
}

#[tokio::test]
async fn undocumented_endpoints() {
    let mock = small().await;
    for (m, p) in [
        (Method::GET, "/Me"),
        (Method::POST, "/Bulk"),
        (Method::POST, "/.search"),
        (Method::POST, "/Users/.search"),
    ] {
        assert_rfc_error(&run(scim(&mock, m, p).json(&json!({}))).await, 501, None);
    }
    mock.set_quirks(Quirks {
        undocumented_endpoints: UndocumentedEndpoints::NotFound,
        ..q()
    });
    for (m, p) in [
        (Method::GET, "/Me"),
        (Method::POST, "/Bulk"),
        (Method::POST, "/Groups/.search"),
    ] {
        assert_rfc_error(&run(scim(&mock, m, p).json(&json!({}))).await, 404, None);
    }
}

#[tokio::test]
async fn response_content_type() {
    let mock = small().await;
    assert_eq!(
        get(&mock, "/Users").await.header("content-type"),
        Some("application/scim+json")
    );
    assert_eq!(
        get(&mock, "/Users/nope").await.header("content-type"),
        Some("application/scim+json")
    );
    mock.set_quirks(Quirks {
        response_content_type: ResponseContentType::Json,
        ..q()
    });
    assert_eq!(
        get(&mock, "/Users").await.header("content-type"),
        Some("application/json")
    );
    assert_eq!(
        get(&mock, "/Users/nope").await.header("content-type"),
        Some("application/json")
    );
    assert_eq!(
        run(anon(&mock, Method::GET, "/ServiceProviderConfig"))
            .await
            .header("content-type"),
        Some("application/json")
    );
    let r = post(&mock, "/Users", new_user(&mock, "ct.json")).await;
    assert_eq!(r.header("content-type"), Some("application/json"));
}

/// A guest is not a removed person: whatever `readd_keeps_id` says, converting a guest adds
/// the account that exists [N], keeping its id, and leaves their other guest places alone.
#[tokio::test]
async fn converting_a_guest_keeps_the_id_whatever_readd_keeps_id_says() {
    for keeps in [true, false] {
        let mock = MockServer::builder()
            .seed(3)
            .users(30)
            .groups(5)
            .workspaces(2)
            .quirks(Quirks {
                readd_keeps_id: keeps,
                ..q()
            })
            .start()
            .await;
        let guest = mock.truth().guests[0].clone();
        let gid = uuid::Uuid::parse_str(&guest.id).unwrap();
        mock.with_org(|o| o.workspaces[1].guests.insert(gid));
        let r = post(&mock, "/Users", json!({ "userName": guest.email })).await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.body["id"], json!(guest.id), "readd_keeps_id={keeps}");
        assert!(mock.truth().guests.iter().all(|g| g.id != guest.id));
        assert!(
            mock.org_truth().workspaces[1].guests.iter().any(|g| g.id == guest.id),
            "still a guest of the second workspace"
        );
    }
}
