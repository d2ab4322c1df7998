//! `/Users`: lists, filters, shapes, and every write with Notion's meaning.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use notion_scim_mock::{MockServer, Role, SeedSpec, Token};
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

fn is_epoch_ms_string(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.len() == 13 && s.chars().all(|c| c.is_ascii_digit()))
}

fn is_lower_uuid(s: &str) -> bool {
    Uuid::parse_str(s).is_ok() && s.len() == 36 && s == s.to_lowercase() && s.matches('-').count() == 4
}

#[tokio::test]
async fn paging_is_one_based_and_capped_at_100() {
    let mock = MockServer::builder().seed(3).users(120).groups(2).start().await;
    let truth: Vec<String> = mock.truth().users.iter().map(|u| u.id.clone()).collect();
    assert_eq!(truth.len(), 120);

    let first = get(&mock, "/Users").await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.body["schemas"], json!([LIST]));
    assert_eq!(first.body["totalResults"], json!(120));
    assert_eq!(first.body["startIndex"], json!(1));
    assert_eq!(first.body["itemsPerPage"], json!(100));
    assert_eq!(first.ids(), truth[..100]);

    let second = get_q(&mock, "/Users", &[("startIndex", "101"), ("count", "100")]).await;
    assert_eq!(second.body["totalResults"], json!(120));
    assert_eq!(second.body["startIndex"], json!(101));
    assert_eq!(second.body["itemsPerPage"], json!(20));
    assert_eq!(second.ids(), truth[100..]);

    let clamped = get_q(&mock, "/Users", &[("count", "500")]).await;
    assert_eq!(clamped.status, 200);
    assert_eq!(clamped.body["itemsPerPage"], json!(100));
    assert_eq!(clamped.ids().len(), 100);

    let small_page = get_q(&mock, "/Users", &[("startIndex", "5"), ("count", "3")]).await;
    assert_eq!(small_page.ids(), truth[4..7]);
    assert_eq!(small_page.body["itemsPerPage"], json!(3));

    let zero = get_q(&mock, "/Users", &[("count", "0")]).await;
    assert_eq!(zero.body["totalResults"], json!(120));
    assert_eq!(zero.body["itemsPerPage"], json!(0));
    assert!(zero.ids().is_empty());

    let past_end = get_q(&mock, "/Users", &[("startIndex", "500")]).await;
    assert_eq!(past_end.body["totalResults"], json!(120));
    assert!(past_end.ids().is_empty());

    let below_one = get_q(&mock, "/Users", &[("startIndex", "0"), ("count", "2")]).await;
    assert_eq!(below_one.ids(), truth[..2]);

    let bad = get_q(&mock, "/Users", &[("count", "ten")]).await;
    assert_rfc_error(&bad, 400, Some("invalidValue"));

    let all: Vec<String> = list_all_users(&mock)
        .await
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(all, truth);
}

#[tokio::test]
async fn filters_in_notions_vocabulary() {
    let mock = small().await;
    let t = mock.truth();
    let u = t
        .users
        .iter()
        .find(|u| u.given_name.is_some() && u.family_name.is_some())
        .unwrap();

    for filter in [
        format!("userName eq \"{}\"", u.user_name.to_uppercase()),
        format!("email eq \"{}\"", u.user_name),
        format!("EMAIL EQ \"{}\"", u.user_name.to_uppercase()),
        format!("username eq \"{}\"", u.user_name),
    ] {
        let r = get_q(&mock, "/Users", &[("filter", &filter)]).await;
        assert_eq!(r.status, 200, "{filter}: {}", r.text);
        assert_eq!(r.ids(), std::slice::from_ref(&u.id), "{filter}");
        assert_eq!(r.body["totalResults"], json!(1));
        assert_eq!(r.body["itemsPerPage"], json!(1));
    }

    let given = u.given_name.clone().unwrap();
    let r = get_q(&mock, "/Users", &[("filter", &format!("given_name eq \"{given}\""))]).await;
    let expect: Vec<String> = t
        .users
        .iter()
        .filter(|x| x.given_name.as_deref() == Some(&given))
        .map(|x| x.id.clone())
        .collect();
    assert_eq!(r.ids(), expect);
    // Case-sensitive [N].
    let r = get_q(
        &mock,
        "/Users",
        &[("filter", &format!("given_name eq \"{}\"", given.to_uppercase()))],
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(r.ids().is_empty(), "{}", r.text);
    assert_eq!(r.body["totalResults"], json!(0));

    let family = u.family_name.clone().unwrap();
    let r = get_q(&mock, "/Users", &[("filter", &format!("family_name eq \"{family}\""))]).await;
    let expect: Vec<String> = t
        .users
        .iter()
        .filter(|x| x.family_name.as_deref() == Some(&family))
        .map(|x| x.id.clone())
        .collect();
    assert_eq!(r.ids(), expect);
    let r = get_q(
        &mock,
        "/Users",
        &[("filter", &format!("family_name eq \"{}\"", family.to_lowercase()))],
    )
    .await;
    assert!(r.ids().is_empty());

    let r = get_q(&mock, "/Users", &[("filter", "userName eq \"nobody@nowhere.example\"")]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["totalResults"], json!(0));
    assert_eq!(r.body["itemsPerPage"], json!(0));
}

#[tokio::test]
async fn user_json_shape() {
    let mock = MockServer::builder()
        .spec(SeedSpec {
            seed: 3,
            users: 80,
            groups: 2,
            secondary_email_ratio: 0.5,
            ..SeedSpec::default()
        })
        .start()
        .await;
    let users = list_all_users(&mock).await;
    assert_eq!(users.len(), 80);
    for u in &users {
        assert_eq!(u["schemas"], json!([CORE_USER]), "{u}");
        assert!(is_lower_uuid(u["id"].as_str().unwrap()), "{u}");
        let id = u["id"].as_str().unwrap();
        assert!(u["userName"].as_str().unwrap().contains('@'));
        assert!(u["displayName"].is_string());
        assert!(u["active"].is_boolean());
        assert!(u["photos"].is_array());
        assert!(u["name"].is_object());
        let emails = u["emails"].as_array().unwrap();
        assert_eq!(emails[0]["value"], u["userName"]);
        assert_eq!(emails[0]["primary"], json!(true));
        for e in emails {
            assert!(e.get("type").is_none(), "emails carry no type: {u}");
        }
        let meta = &u["meta"];
        assert_eq!(meta["resourceType"], json!("User"));
        assert!(is_epoch_ms_string(&meta["created"]), "{meta}");
        assert!(is_epoch_ms_string(&meta["lastModified"]), "{meta}");
        assert_eq!(
            meta["location"],
            json!(format!("https://app.notion.com/scim/v2/Users/{id}"))
        );
        assert!(meta.get("version").is_none());
        if let Some(ext) = u.get(NOTION_EXT) {
            let role = ext["role"].as_str().unwrap();
            assert!(["owner", "membership_admin", "member", "restricted_member"].contains(&role));
        }
        let one = get(&mock, &format!("/Users/{id}")).await;
        assert_eq!(one.status, 200);
        assert_eq!(&one.body, u);
        assert_eq!(one.header("content-type"), Some("application/scim+json"));
    }
    assert!(users.iter().any(|u| u.get(NOTION_EXT).is_some()));
    let two_emails: Vec<&Value> = users
        .iter()
        .filter(|u| u["emails"].as_array().unwrap().len() == 2)
        .collect();
    assert!(!two_emails.is_empty());
    for u in two_emails {
        assert_ne!(u["emails"][1]["value"], u["userName"]);
        assert_eq!(u["emails"][1]["primary"], json!(false));
    }
}

#[tokio::test]
async fn seeded_oddities_show_through_http() {
    let spec = SeedSpec {
        seed: 11,
        users: 60,
        groups: 3,
        inactive_ratio: 0.2,
        formatted_name_only_ratio: 0.3,
        no_role_extension_ratio: 0.3,
        secondary_email_ratio: 0.3,
        ..SeedSpec::default()
    };
    let mock = MockServer::builder().spec(spec).start().await;
    let users = list_all_users(&mock).await;
    let formatted_only = users
        .iter()
        .filter(|u| {
            u["name"].get("formatted").is_some()
                && u["name"].get("givenName").is_none()
                && u["name"].get("familyName").is_none()
        })
        .count();
    assert!(formatted_only > 0, "no formatted-only names");
    assert!(
        users.iter().any(|u| u.get(NOTION_EXT).is_none()),
        "every user has the extension"
    );
    assert!(users.iter().any(|u| u["active"] == json!(false)), "no inactive record");
    assert!(
        users.iter().any(|u| u["emails"].as_array().unwrap().len() == 2),
        "no secondary email"
    );
    // The schemas array stays core-only whatever the record carries.
    assert!(users.iter().all(|u| u["schemas"] == json!([CORE_USER])));
}

#[tokio::test]
async fn post_creates_a_member_with_location_and_default_role() {
    let mock = small().await;
    let body = new_user(&mock, "fresh.person");
    let r = post(&mock, "/Users", body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_string();
    assert!(is_lower_uuid(&id));
    assert_eq!(
        r.header("location"),
        Some(format!("https://app.notion.com/scim/v2/Users/{id}").as_str())
    );
    assert_eq!(r.body["schemas"], json!([CORE_USER]));
    assert_eq!(r.body[NOTION_EXT]["role"], json!("member"));
    assert_eq!(r.body["active"], json!(true));
    assert_eq!(r.body["name"]["formatted"], json!("New Person"));
    let t = mock.truth();
    let u = t.user(&id).unwrap();
    assert_eq!(u.user_name, format!("fresh.person@{}", domain(&mock)));
    assert_eq!(u.role, Some(Role::Member));
    assert_eq!(t.users.len(), 31);
    assert_eq!(get(&mock, &format!("/Users/{id}")).await.body, r.body);
    let list = get_q(
        &mock,
        "/Users",
        &[("filter", &format!("userName eq \"{}\"", u.user_name))],
    )
    .await;
    assert_eq!(list.ids(), [id]);
}

#[tokio::test]
async fn post_sets_role_enterprise_extension_and_writable_attributes() {
    let mock = small().await;
    let email = format!("Rich.Person@{}", domain(&mock).to_uppercase());
    let body = json!({
        "schemas": [CORE_USER, NOTION_EXT, ENTERPRISE_EXT],
        "userName": email,
        "name": { "formatted": "Rich Person" },
        "title": "Engineer",
        "locale": "en-US",
        "phoneNumbers": [
            { "value": "+1 555 0100", "type": "work" },
            { "value": "+1 555 0199", "type": "mobile", "primary": true }
        ],
        NOTION_EXT: { "role": "restricted_member" },
        ENTERPRISE_EXT: { "department": "R&D", "employeeNumber": "42", "manager": { "value": "boss@example.com" } }
    });
    let r = post(&mock, "/Users", body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["userName"], json!(email.to_lowercase()));
    assert_eq!(
        r.body["schemas"],
        json!([CORE_USER]),
        "core URN alone even with extensions"
    );
    assert_eq!(r.body[NOTION_EXT]["role"], json!("restricted_member"));
    assert_eq!(r.body["title"], json!("Engineer"));
    assert_eq!(r.body["locale"], json!("en-US"));
    assert_eq!(
        r.body["phoneNumbers"],
        json!([{ "value": "+1 555 0199", "type": "mobile" }])
    );
    assert_eq!(r.body[ENTERPRISE_EXT]["department"], json!("R&D"));
    assert_eq!(r.body[ENTERPRISE_EXT]["manager"]["value"], json!("boss@example.com"));
    assert_eq!(r.body["name"], json!({ "formatted": "Rich Person" }));
    let id = r.body["id"].as_str().unwrap();
    assert_eq!(mock.truth().user(id).unwrap().role, Some(Role::RestrictedMember));
}

#[tokio::test]
async fn post_for_an_existing_member_is_409_uniqueness() {
    let mock = small().await;
    let existing = mock.truth().users[5].user_name.clone();
    let before = snapshot(&mock);
    let r = post(&mock, "/Users", json!({ "userName": existing.to_uppercase() })).await;
    assert_rfc_error(&r, 409, Some("uniqueness"));
    assert_unchanged(&mock, &before, "409");
}

#[tokio::test]
async fn delete_removes_the_member_but_not_the_account() {
    let mock = small().await;
    let (uid, gid) = grouped_member(&mock);
    let email = mock.truth().user(&uid).unwrap().user_name.clone();
    let r = delete(&mock, &format!("/Users/{uid}")).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert!(r.text.is_empty());
    assert_rfc_error(&get(&mock, &format!("/Users/{uid}")).await, 404, None);
    assert_rfc_error(&delete(&mock, &format!("/Users/{uid}")).await, 404, None);
    let t = mock.truth();
    assert!(t.user(&uid).is_none());
    assert_eq!(t.users.len(), 29);
    assert!(!t.group(&gid).unwrap().members.contains(&uid));
    let g = get(&mock, &format!("/Groups/{gid}")).await;
    assert!(!g.text.contains(&uid));
    let list = get(&mock, "/Users").await;
    assert_eq!(list.body["totalResults"], json!(29));
    assert!(!list.ids().contains(&uid));
    let id = Uuid::parse_str(&uid).unwrap();
    assert!(
        mock.with_org(|o| o.accounts.contains_key(&id)),
        "the Notion account survives"
    );
    let r = get_q(&mock, "/Users", &[("filter", &format!("userName eq \"{email}\""))]).await;
    assert_eq!(r.body["totalResults"], json!(0));
}

#[tokio::test]
async fn post_readding_a_removed_person_keeps_their_id() {
    let mock = small().await;
    let uid = plain_member(&mock);
    let email = mock.truth().user(&uid).unwrap().user_name.clone();
    assert_eq!(delete(&mock, &format!("/Users/{uid}")).await.status, 204);
    let r = post(
        &mock,
        "/Users",
        json!({ "userName": email, NOTION_EXT: { "role": "membership_admin" } }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["id"], json!(uid));
    assert_eq!(r.body["active"], json!(true));
    let t = mock.truth();
    assert_eq!(t.user(&uid).unwrap().role, Some(Role::MembershipAdmin));
    assert_eq!(t.users.len(), 30);
}

#[tokio::test]
async fn deactivation_is_removal_by_patch_and_by_put() {
    let mock = small().await;
    let t = mock.truth();
    let creator = t.tokens[0].creator.clone();
    let victims: Vec<String> = t
        .users
        .iter()
        .filter(|u| u.id != creator && u.active)
        .take(5)
        .map(|u| u.id.clone())
        .collect();
    let bodies = [
        patch_body(json!([{ "op": "replace", "value": { "active": false } }])),
        patch_body(json!([{ "op": "Replace", "path": "active", "value": "False" }])),
        patch_body(json!([{ "op": "replace", "path": "active", "value": false }])),
    ];
    for (victim, body) in victims.iter().zip(bodies) {
        let r = run(scim(&mock, Method::PATCH, &format!("/Users/{victim}")).json(&body)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["active"], json!(false));
        assert_rfc_error(&get(&mock, &format!("/Users/{victim}")).await, 404, None);
        assert!(mock.truth().user(victim).is_none());
        assert!(mock.truth().groups.iter().all(|g| !g.members.contains(victim)));
    }
    for (victim, active) in victims[3..].iter().zip([json!(false), json!("False")]) {
        let mut doc = get(&mock, &format!("/Users/{victim}")).await.body;
        doc["active"] = active;
        let r = put(&mock, &format!("/Users/{victim}"), doc).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_rfc_error(&get(&mock, &format!("/Users/{victim}")).await, 404, None);
        let id = Uuid::parse_str(victim).unwrap();
        assert!(mock.with_org(|o| o.accounts.contains_key(&id)));
    }
    assert_eq!(mock.truth().users.len(), 25);
}

/// Found by the conformance suite: a role change on a record listed inactive removed it.
#[tokio::test]
async fn a_write_to_an_inactive_record_does_not_remove_it() {
    let mock = MockServer::builder()
        .spec(SeedSpec {
            seed: 4,
            users: 40,
            inactive_ratio: 0.3,
            ..SeedSpec::default()
        })
        .start()
        .await;
    let t = mock.truth();
    let inactive = t
        .users
        .iter()
        .find(|u| !u.active)
        .expect("an inactive record")
        .id
        .clone();
    let r = patch(
        &mock,
        &format!("/Users/{inactive}"),
        json!([{ "op": "replace", "value": { "urn:ietf:params:scim:schemas:extension:notion:2.0:User": { "role": "membership_admin" } } }]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let after = get(&mock, &format!("/Users/{inactive}")).await;
    assert_eq!(after.status, 200, "{}", after.text);
    assert_eq!(after.body["active"], json!(false));
    assert_eq!(
        after.body["urn:ietf:params:scim:schemas:extension:notion:2.0:User"]["role"],
        json!("membership_admin")
    );
    assert_eq!(mock.truth().users.len(), 40);
}

#[tokio::test]
async fn active_true_as_a_string_keeps_the_member() {
    let mock = small().await;
    let uid = plain_member(&mock);
    for v in [json!("True"), json!(true), json!("true")] {
        let r = patch(
            &mock,
            &format!("/Users/{uid}"),
            json!([{ "op": "replace", "path": "active", "value": v }]),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["active"], json!(true));
    }
    assert!(mock.truth().user(&uid).is_some());
}

#[tokio::test]
async fn the_token_creator_cannot_be_removed() {
    let mock = small().await;
    let creator = mock.truth().tokens[0].creator.clone();
    let before = snapshot(&mock);
    assert_rfc_error(&delete(&mock, &format!("/Users/{creator}")).await, 403, None);
    let r = patch(
        &mock,
        &format!("/Users/{creator}"),
        json!([{ "op": "replace", "value": { "active": false } }]),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.text);
    let mut doc = get(&mock, &format!("/Users/{creator}")).await.body;
    doc["active"] = json!("False");
    assert_eq!(put(&mock, &format!("/Users/{creator}"), doc).await.status, 403);
    assert_unchanged(&mock, &before, "creator removal");
    assert_eq!(get(&mock, "/Users").await.status, 200, "the token still works");
}

/// Makes a second owner with their own token for the first workspace: `(owner id, secret)`.
fn second_owner_with_token(mock: &MockServer) -> (String, String) {
    let uid = plain_member(mock);
    let id = Uuid::parse_str(&uid).unwrap();
    mock.with_org(|o| {
        o.workspaces[0].members.get_mut(&id).unwrap().role = Some(Role::Owner);
        o.tokens.push(Token {
            id: "tok_owner2".into(),
            secret: "secret_owner2".into(),
            workspace: 0,
            creator: id,
            revoked: false,
        });
    });
    (uid, "secret_owner2".into())
}

#[tokio::test]
async fn removing_another_owner_revokes_their_tokens() {
    let mock = small().await;
    let (owner, secret) = second_owner_with_token(&mock);
    let r = run(anon(&mock, Method::GET, "/Users").bearer_auth(&secret)).await;
    assert_eq!(r.status, 200);
    assert_eq!(delete(&mock, &format!("/Users/{owner}")).await.status, 204);
    let r = run(anon(&mock, Method::GET, "/Users").bearer_auth(&secret)).await;
    assert_rfc_error(&r, 401, None);
    assert!(mock.truth().tokens.iter().any(|t| t.id == "tok_owner2" && t.revoked));
    assert!(mock.truth().tokens.iter().any(|t| t.id == "tok_1" && !t.revoked));
    assert_eq!(get(&mock, "/Users").await.status, 200);
}

#[tokio::test]
async fn removing_an_owner_through_their_own_token_is_refused() {
    let mock = small().await;
    let (owner, secret) = second_owner_with_token(&mock);
    let before = snapshot(&mock);
    let r = run(anon(&mock, Method::DELETE, &format!("/Users/{owner}")).bearer_auth(&secret)).await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_unchanged(&mock, &before, "self removal");
}

#[tokio::test]
async fn a_role_change_revokes_the_owners_tokens() {
    let mock = small().await;
    let (owner, secret) = second_owner_with_token(&mock);
    // Same role: nothing happens.
    let r = patch(
        &mock,
        &format!("/Users/{owner}"),
        json!([{ "op": "replace", "value": { NOTION_EXT: { "role": "owner" } } }]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        run(anon(&mock, Method::GET, "/Users").bearer_auth(&secret))
            .await
            .status,
        200
    );
    let r = patch(
        &mock,
        &format!("/Users/{owner}"),
        json!([{ "op": "replace", "path": format!("{NOTION_EXT}:role"), "value": "member" }]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body[NOTION_EXT]["role"], json!("member"));
    assert_rfc_error(
        &run(anon(&mock, Method::GET, "/Users").bearer_auth(&secret)).await,
        401,
        None,
    );
    assert_eq!(get(&mock, "/Users").await.status, 200, "tok_1 was made by someone else");
    // The token creator's own role change revokes the calling token.
    let creator = mock.truth().tokens[0].creator.clone();
    let r = patch(
        &mock,
        &format!("/Users/{creator}"),
        json!([{ "op": "replace", "value": { NOTION_EXT: { "role": "membership_admin" } } }]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_rfc_error(&get(&mock, "/Users").await, 401, None);
}

#[tokio::test]
async fn patch_forms_clients_send() {
    let mock = small().await;
    let uid = plain_member(&mock);
    let path = format!("/Users/{uid}");
    // URN-qualified role path, capitalised op.
    let r = patch(
        &mock,
        &path,
        json!([{ "op": "Replace", "path": format!("{NOTION_EXT}:role"), "value": "restricted_member" }]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body[NOTION_EXT]["role"], json!("restricted_member"));
    assert_eq!(mock.truth().user(&uid).unwrap().role, Some(Role::RestrictedMember));
    // No-path role value, as Entra sends it.
    let r = patch(
        &mock,
        &path,
        json!([{ "op": "replace", "value": { NOTION_EXT: { "role": "member" } } }]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(mock.truth().user(&uid).unwrap().role, Some(Role::Member));
    // "Add" with a path, and no-path objects with several attributes.
    let r = patch(
        &mock,
        &path,
        json!([
            { "op": "Add", "path": "title", "value": "Designer" },
            { "op": "replace", "value": { "locale": "fr-FR", "name.givenName": "Zed" } },
            { "op": "add", "path": format!("{ENTERPRISE_EXT}:department"), "value": "Ops" }
        ]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["title"], json!("Designer"));
    assert_eq!(r.body["locale"], json!("fr-FR"));
    assert_eq!(r.body["name"]["givenName"], json!("Zed"));
    assert_eq!(r.body[ENTERPRISE_EXT]["department"], json!("Ops"));
    let t = mock.truth();
    let u = t.user(&uid).unwrap();
    assert_eq!(u.given_name.as_deref(), Some("Zed"));
    assert_eq!(r.body["displayName"], json!(u.display_name));
    // Remove an attribute.
    let r = patch(&mock, &path, json!([{ "op": "remove", "path": "title" }])).await;
    assert_eq!(r.status, 200);
    assert!(r.body.get("title").is_none());
    // meta.lastModified moves on a write.
    let before: u64 = get(&mock, &path).await.body["meta"]["lastModified"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let r = patch(
        &mock,
        &path,
        json!([{ "op": "replace", "path": "title", "value": "Again" }]),
    )
    .await;
    let after: u64 = r.body["meta"]["lastModified"].as_str().unwrap().parse().unwrap();
    assert!(after > before);
}

#[tokio::test]
async fn put_replaces_and_returns_the_user() {
    let mock = small().await;
    let uid = plain_member(&mock);
    let path = format!("/Users/{uid}");
    let r = patch(&mock, &path, json!([{ "op": "add", "path": "title", "value": "Temp" }])).await;
    assert_eq!(r.status, 200);
    let mut doc = get(&mock, &path).await.body;
    doc.as_object_mut().unwrap().remove("title");
    doc["name"] = json!({ "givenName": "Put", "familyName": "Person" });
    doc["locale"] = json!("de-DE");
    let r = put(&mock, &path, doc).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["id"], json!(uid));
    assert_eq!(r.body["locale"], json!("de-DE"));
    assert_eq!(r.body["name"]["formatted"], json!("Put Person"));
    assert!(
        r.body.get("title").is_none(),
        "PUT clears omitted attributes by default"
    );
    assert_eq!(get(&mock, &path).await.body, r.body);
    let u = mock.truth().user(&uid).unwrap().clone();
    assert_eq!(u.display_name, "Put Person");
}

#[tokio::test]
async fn email_and_name_changes_need_a_verified_domain() {
    let mock = small().await;
    let uid = plain_member(&mock);
    let path = format!("/Users/{uid}");
    let before = snapshot(&mock);
    let r = patch(
        &mock,
        &path,
        json!([{ "op": "replace", "path": "userName", "value": "someone@unverified.example" }]),
    )
    .await;
    assert_rfc_error(&r, 403, None);
    assert_unchanged(&mock, &before, "unverified email");
    let new_email = format!("renamed@{}", domain(&mock));
    let r = patch(
        &mock,
        &path,
        json!([{ "op": "replace", "path": "userName", "value": new_email }]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["userName"], json!(new_email));
    assert_eq!(r.body["emails"][0]["value"], json!(new_email));
    let found = get_q(&mock, "/Users", &[("filter", &format!("userName eq \"{new_email}\""))]).await;
    assert_eq!(found.ids(), std::slice::from_ref(&uid));
    // An email held by another account is refused.
    let other = mock
        .truth()
        .users
        .iter()
        .find(|u| u.id != uid)
        .unwrap()
        .user_name
        .clone();
    let r = patch(
        &mock,
        &path,
        json!([{ "op": "replace", "path": "userName", "value": other }]),
    )
    .await;
    assert_rfc_error(&r, 409, Some("uniqueness"));
    // Name change on an unverified domain: arrange one by dropping the verified domains.
    mock.with_org(|o| o.verified_domains.clear());
    let before = snapshot(&mock);
    let r = patch(
        &mock,
        &path,
        json!([{ "op": "replace", "path": "name.formatted", "value": "New Name" }]),
    )
    .await;
    assert_rfc_error(&r, 403, None);
    assert_unchanged(&mock, &before, "unverified name");
    // Other attributes still change.
    let r = patch(
        &mock,
        &path,
        json!([{ "op": "replace", "path": "title", "value": "Fine" }]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

const NAMELESS_ORG: &str = r#"{
  "name": "Nameless",
  "verified_domains": ["verified.example"],
  "workspaces": [{
    "name": "W",
    "members": [
      { "email": "owner@verified.example", "name": { "formatted": "The Owner" }, "role": "owner" },
      { "email": "anon@verified.example" },
      { "email": "outsider@elsewhere.example" }
    ]
  }]
}"#;

/// A role change is not a name change: a record without a name keeps having none, and the
/// verified-domain rule does not apply.
#[tokio::test]
async fn role_change_of_a_nameless_user_leaves_the_name_alone() {
    let mock = MockServer::builder().org_json(NAMELESS_ORG).unwrap().start().await;
    for email in ["anon@verified.example", "outsider@elsewhere.example"] {
        let u = mock.truth().user_by_email(email).unwrap().clone();
        assert_eq!(u.formatted_name, None);
        let r = patch(
            &mock,
            &format!("/Users/{}", u.id),
            json!([{ "op": "replace", "value": { NOTION_EXT: { "role": "restricted_member" } } }]),
        )
        .await;
        assert_eq!(r.status, 200, "{email}: {}", r.text);
        let after = mock.truth().user(&u.id).unwrap().clone();
        assert_eq!(after.role, Some(Role::RestrictedMember));
        assert_eq!(after.formatted_name, None, "{email}: the name was invented");
        assert_eq!(after.display_name, u.display_name);
    }
}

#[tokio::test]
async fn post_converts_a_guest_and_keeps_their_id() {
    let mock = small().await;
    let guest = mock.truth().guests[0].clone();
    assert_rfc_error(&get(&mock, &format!("/Users/{}", guest.id)).await, 404, None);
    let r = post(
        &mock,
        "/Users",
        json!({ "userName": guest.email, "name": { "formatted": "Was Guest" } }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["id"], json!(guest.id));
    let t = mock.truth();
    assert!(t.user(&guest.id).is_some());
    assert!(t.guests.iter().all(|g| g.id != guest.id));
    assert_eq!(get(&mock, &format!("/Users/{}", guest.id)).await.status, 200);
}

#[tokio::test]
async fn guests_are_never_listed_nor_gettable_nor_writable() {
    let mock = small().await;
    let t = mock.truth();
    assert!(!t.guests.is_empty());
    let listed: Vec<String> = list_all_users(&mock)
        .await
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_string())
        .collect();
    let before = snapshot(&mock);
    for g in &t.guests {
        assert!(!listed.contains(&g.id));
        let path = format!("/Users/{}", g.id);
        assert_rfc_error(&get(&mock, &path).await, 404, None);
        assert_rfc_error(&delete(&mock, &path).await, 404, None);
        assert_rfc_error(
            &patch(
                &mock,
                &path,
                json!([{ "op": "replace", "path": "title", "value": "x" }]),
            )
            .await,
            404,
            None,
        );
        let r = get_q(&mock, "/Users", &[("filter", &format!("userName eq \"{}\"", g.email))]).await;
        assert_eq!(r.body["totalResults"], json!(0));
    }
    assert_unchanged(&mock, &before, "guests");
}

#[tokio::test]
async fn a_token_sees_only_its_workspace() {
    let mock = MockServer::builder()
        .seed(3)
        .users(30)
        .groups(5)
        .workspaces(2)
        .start()
        .await;
    let org = mock.org_truth();
    let (ws1, ws2) = (&org.workspaces[0], &org.workspaces[1]);
    let secret2 = mock.token_secret("tok_2").unwrap();
    let as2 = |m: Method, p: &str| anon(&mock, m, p).bearer_auth(&secret2);
    let r = run(as2(Method::GET, "/Users")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let ids2: Vec<String> = ws2.users.iter().map(|u| u.id.clone()).collect();
    assert_eq!(r.ids(), ids2);
    assert_eq!(r.body["totalResults"], json!(ws2.users.len()));
    let only_in_1 = ws1.users.iter().find(|u| ws2.user(&u.id).is_none()).unwrap();
    assert_rfc_error(
        &run(as2(Method::GET, &format!("/Users/{}", only_in_1.id))).await,
        404,
        None,
    );
    let before = snapshot(&mock);
    assert_rfc_error(
        &run(as2(Method::DELETE, &format!("/Users/{}", only_in_1.id))).await,
        404,
        None,
    );
    assert_rfc_error(
        &run(as2(Method::GET, &format!("/Groups/{}", ws1.groups[0].id))).await,
        404,
        None,
    );
    assert_unchanged(&mock, &before, "cross-workspace");
    let r = run(as2(Method::GET, "/Groups")).await;
    let gids: Vec<String> = ws2.groups.iter().map(|g| g.id.clone()).collect();
    assert_eq!(r.ids(), gids);
    // A person in both workspaces removed from the second stays in the first.
    let shared = ws2
        .users
        .iter()
        .find(|u| ws1.user(&u.id).is_some() && u.id != ws2.tokens[0].creator && u.id != ws1.tokens[0].creator)
        .unwrap();
    assert_eq!(
        run(as2(Method::DELETE, &format!("/Users/{}", shared.id))).await.status,
        204
    );
    assert!(mock.org_truth().workspaces[1].user(&shared.id).is_none());
    assert!(mock.truth().user(&shared.id).is_some());
}
