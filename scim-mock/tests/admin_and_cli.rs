//! The journal and expectations, seeding, orgs from JSON, the admin API over HTTP, and the
//! standalone binary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::*;
use notion_scim_mock::{Expectation, Fault, FaultSettings, MockServer, Role, SeedSpec};
use reqwest::Method;
use serde_json::{json, Value};

// ---------------------------------------------------------------- journal

#[tokio::test]
async fn journal_records_requests_without_tokens() {
    let mock = small().await;
    let uid = plain_member(&mock);
    let _ = get_q(
        &mock,
        "/Users",
        &[("filter", "userName eq \"a@b.com\""), ("count", "5")],
    )
    .await;
    let body = json!([{ "op": "replace", "path": "title", "value": "T" }]);
    let _ = patch(&mock, &format!("/Users/{uid}"), body).await;
    let _ = run(anon(&mock, Method::GET, "/Users")).await;
    let j = mock.journal();
    assert_eq!(j.len(), 3);
    assert_eq!(
        (j[0].method.as_str(), j[0].path.as_str(), j[0].status),
        ("GET", "/scim/v2/Users", 200)
    );
    assert!(j[0].query.as_deref().unwrap().contains("count=5"));
    assert_eq!(j[0].token.as_deref(), Some("tok_1"));
    assert_eq!(j[0].body, None);
    assert!(j[0].is("get", "/scim/v2/Users"));
    assert_eq!(j[1].method, "PATCH");
    assert_eq!(j[1].path, format!("/scim/v2/Users/{uid}"));
    assert!(j[1].body.as_deref().unwrap().contains("\"title\""));
    assert_eq!(j[2].status, 401);
    assert_eq!(j[2].token, None);
    assert!(j[0].seq < j[1].seq && j[1].seq < j[2].seq);
    assert_eq!(mock.received_requests(), j);
    mock.clear_journal();
    assert!(mock.journal().is_empty());
}

fn assert_no_secret(mock: &MockServer, secret: &str) {
    for e in mock.journal() {
        let text = serde_json::to_string(&e).unwrap();
        assert!(!text.contains(secret), "secret in journal: {text}");
        assert!(!format!("{e}").contains(secret));
        assert!(!format!("{e:?}").contains(secret));
    }
}

#[tokio::test]
async fn tokens_never_enter_the_journal() {
    let mock = small().await;
    let secret = mock.token().to_string();
    let _ = get_q(&mock, "/Users", &[("access_token", secret.as_str())]).await;
    let _ = run(anon(&mock, Method::GET, &format!("/Users?token={secret}"))).await;
    let _ = post(&mock, "/Users", json!({ "userName": "x@y.com", "title": secret })).await;
    let _ = get(&mock, &format!("/Users/{secret}")).await;
    let _ = run(anon(&mock, Method::GET, "/ServiceProviderConfig").query(&[("t", secret.as_str())])).await;
    assert_eq!(mock.journal().len(), 5);
    assert_no_secret(&mock, &secret);
    assert!(mock.journal()[0].query.as_deref().unwrap().contains("[REDACTED]"));
}

#[tokio::test]
async fn tokens_with_special_characters_never_enter_the_journal() {
    let secret = "s3cr3t/with+plus=and&amp space";
    let mock = MockServer::builder()
        .seed(3)
        .users(5)
        .groups(1)
        .token(secret)
        .start()
        .await;
    assert_eq!(get(&mock, "/Users").await.status, 200);
    let _ = get_q(&mock, "/Users", &[("access_token", secret)]).await;
    let _ = post(&mock, "/Users", json!({ "userName": "x@y.com", "title": secret })).await;
    let j = mock.journal();
    assert_eq!(j.len(), 3);
    for e in &j {
        let text = serde_json::to_string(e).unwrap();
        for form in [
            secret.to_string(),
            "s3cr3t%2Fwith%2Bplus%3Dand%26amp+space".to_string(),
            "s3cr3t".to_string(),
        ] {
            assert!(!text.contains(&form), "{form} in journal: {text}");
        }
    }
}

#[tokio::test]
async fn expectations_pass_and_fail_with_a_listing() {
    let mock = small().await;
    mock.expect(Expectation::request("GET", "/scim/v2/Users").times(2));
    mock.expect(Expectation::request_prefix("get", "/scim/v2/Groups").at_most(1));
    let _ = get(&mock, "/Users").await;
    let _ = get(&mock, "/Groups").await;
    let err = mock.verify().unwrap_err();
    assert!(
        err.contains("expected exactly 2 requests matching GET /scim/v2/Users, received 1"),
        "{err}"
    );
    assert!(err.contains("received 2 requests"), "{err}");
    assert!(err.contains("GET /scim/v2/Users -> 200"), "{err}");
    assert!(err.contains("GET /scim/v2/Groups -> 200"), "{err}");
    let _ = get(&mock, "/Users").await;
    assert_eq!(mock.verify(), Ok(()));
    let _ = get(&mock, "/Users").await;
    assert!(mock.verify().unwrap_err().contains("received 3"));
    // Back within bounds before the server drops (it verifies on drop).
    mock.clear_journal();
    let _ = get(&mock, "/Users").await;
    let _ = get(&mock, "/Users").await;
    assert_eq!(mock.verify(), Ok(()));
}

// ---------------------------------------------------------------- seeding

fn spec(seed: u64) -> SeedSpec {
    SeedSpec {
        seed,
        users: 200,
        groups: 20,
        ..SeedSpec::default()
    }
}

#[tokio::test]
async fn seeding_is_deterministic_per_seed() {
    let a = MockServer::builder().spec(spec(5)).start().await;
    let b = MockServer::builder().spec(spec(5)).start().await;
    let c = MockServer::builder().spec(spec(6)).start().await;
    assert_eq!(a.org_truth(), b.org_truth());
    assert_ne!(a.truth().users, c.truth().users);
    assert_eq!(get(&a, "/Users").await.body, get(&b, "/Users").await.body);
    assert_eq!(
        notion_scim_mock::generate_org(&spec(5), None),
        notion_scim_mock::generate_org(&spec(5), None)
    );
}

#[tokio::test]
async fn seeded_orgs_look_like_real_ones() {
    let mock = MockServer::builder()
        .spec(SeedSpec {
            seed: 9,
            users: 400,
            groups: 20,
            secondary_email_ratio: 0.1,
            ..SeedSpec::default()
        })
        .start()
        .await;
    let t = mock.truth();
    assert_eq!(t.users.len(), 400, "`users` counts visible members");
    assert_eq!(get(&mock, "/Users").await.body["totalResults"], json!(400));
    let owners = t.users.iter().filter(|u| u.role == Some(Role::Owner)).count();
    assert!((1..=8).contains(&owners), "{owners} owners");
    assert!(t.users.iter().any(|u| u.emails.len() == 2));
    assert!(t
        .users
        .iter()
        .any(|u| u.given_name.is_none() && u.formatted_name.is_some()));
    assert!(t.users.iter().any(|u| u.role.is_none()));
    assert!(t.users.iter().any(|u| !u.active));
    assert!(t.users.iter().filter(|u| u.role == Some(Role::Member)).count() > 200);
    assert_eq!(t.guests.len(), 40);
    for u in &t.users {
        assert!(uuid::Uuid::parse_str(&u.id).is_ok());
        assert_eq!(u.id, u.id.to_lowercase());
        assert_eq!(u.id.len(), 36);
    }
    let mut sizes: Vec<usize> = t.groups.iter().map(|g| g.members.len()).collect();
    sizes.sort_unstable();
    let (largest, median) = (sizes[sizes.len() - 1], sizes[sizes.len() / 2]);
    assert!(largest >= 4 * median.max(1), "sizes {sizes:?}");
    assert!(t.groups.iter().flat_map(|g| &g.members).all(|m| t.user(m).is_some()));
    let names: std::collections::HashSet<&String> = t.groups.iter().map(|g| &g.display_name).collect();
    assert_eq!(names.len(), 20, "group names are unique");
    let emails: std::collections::HashSet<&String> = t.users.iter().map(|u| &u.user_name).collect();
    assert_eq!(emails.len(), 400);
}

// ---------------------------------------------------------------- org from JSON

const TINY_ORG: &str = r#"{
  "name": "Tiny",
  "verified_domains": ["tiny.example"],
  "workspaces": [{
    "name": "Tiny WS",
    "members": [
      { "id": "11111111-1111-4111-8111-111111111111", "email": "Owner@Tiny.example",
        "name": { "formatted": "Olive Owner", "given": "Olive", "family": "Owner" }, "role": "owner" },
      { "email": "plain@tiny.example", "name": { "formatted": "Pat Plain" } },
      { "email": "noext@tiny.example", "name": { "formatted": "Nia Noext" }, "no_role_extension": true }
    ],
    "guests": [ { "email": "guest@else.example" } ],
    "groups": [ { "id": "22222222-2222-4222-8222-222222222222", "display_name": "Crew",
                  "members": ["plain@tiny.example", "11111111-1111-4111-8111-111111111111"] } ],
    "tokens": [ { "secret": "tiny_secret", "creator": "owner@tiny.example" } ]
  }]
}"#;

#[tokio::test]
async fn org_from_json() {
    let mock = MockServer::builder().org_json(TINY_ORG).unwrap().start().await;
    assert_eq!(mock.token(), "tiny_secret");
    let t = mock.truth();
    assert_eq!(t.users.len(), 3);
    assert_eq!(t.users[0].id, "11111111-1111-4111-8111-111111111111");
    assert_eq!(t.users[0].user_name, "owner@tiny.example");
    assert_eq!(t.tokens[0].creator, t.users[0].id);
    let list = get(&mock, "/Users").await;
    assert_eq!(list.body["totalResults"], json!(3));
    let users = resources(&list.body);
    assert_eq!(users[1][NOTION_EXT]["role"], json!("member"), "role defaults to member");
    assert!(users[2].get(NOTION_EXT).is_none());
    assert_eq!(users[1]["name"], json!({ "formatted": "Pat Plain" }));
    let g = get(&mock, "/Groups/22222222-2222-4222-8222-222222222222").await;
    assert_eq!(g.body["displayName"], json!("Crew"));
    assert_eq!(g.body["members"].as_array().unwrap().len(), 2);
    let guest = &t.guests[0];
    assert_rfc_error(&get(&mock, &format!("/Users/{}", guest.id)).await, 404, None);
    assert_eq!(
        post(
            &mock,
            "/Groups",
            json!({ "displayName": "X", "members": [{ "value": guest.id }] })
        )
        .await
        .status,
        400
    );
    // The builder's token replaces the file's first secret.
    let mock = MockServer::builder()
        .org_json(TINY_ORG)
        .unwrap()
        .token("other")
        .start()
        .await;
    assert_eq!(mock.token(), "other");
    assert_eq!(get(&mock, "/Users").await.status, 200);
}

#[tokio::test]
async fn bad_orgs_are_refused_clearly() {
    let not_member = TINY_ORG.replace(
        r#""members": ["plain@tiny.example","#,
        r#""members": ["guest@else.example","#,
    );
    let e = MockServer::builder().org_json(&not_member).unwrap_err().to_string();
    assert!(
        e.contains("Crew") && e.contains("guest@else.example") && e.contains("not a member"),
        "{e}"
    );
    let not_owner = TINY_ORG.replace(
        r#""creator": "owner@tiny.example""#,
        r#""creator": "plain@tiny.example""#,
    );
    let e = MockServer::builder().org_json(&not_owner).unwrap_err().to_string();
    assert!(
        e.contains("plain@tiny.example") && e.contains("must be an owner"),
        "{e}"
    );
    let e = MockServer::builder().org_json("{ not json").unwrap_err().to_string();
    assert!(e.starts_with("bad org"), "{e}");
    let unknown_field = TINY_ORG.replace(r#""name": "Tiny","#, r#""name": "Tiny", "colour": "red","#);
    let e = MockServer::builder().org_json(&unknown_field).unwrap_err().to_string();
    assert!(e.contains("colour"), "{e}");
    let e = MockServer::builder()
        .org_json(r#"{ "name": "N", "workspaces": [] }"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("at least one workspace"), "{e}");
}

// ---------------------------------------------------------------- admin API

fn admin(mock: &MockServer, method: Method, path: &str) -> reqwest::RequestBuilder {
    client().request(method, format!("{}{path}", mock.admin_url()))
}

#[tokio::test]
async fn admin_truth_reset_and_reseed() {
    let mock = small().await;
    let r = run(admin(&mock, Method::GET, "/truth")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["workspaces"][0]["users"].as_array().unwrap().len(), 30);
    assert!(!r.text.contains(mock.token()), "truth shows no secrets");
    let initial = snapshot(&mock);
    let uid = plain_member(&mock);
    assert_eq!(delete(&mock, &format!("/Users/{uid}")).await.status, 204);
    mock.faults().script([Fault::Status(503)]);
    assert_ne!(snapshot(&mock), initial);
    let r = run(admin(&mock, Method::POST, "/reset")).await;
    assert_eq!(r.status, 204);
    assert_eq!(snapshot(&mock), initial);
    assert!(mock.journal().is_empty());
    assert_eq!(get(&mock, "/Users").await.status, 200, "faults cleared");

    let r = run(admin(&mock, Method::POST, "/reseed").json(&json!({ "seed": 4, "users": 12, "groups": 2 }))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["workspaces"][0]["users"].as_array().unwrap().len(), 12);
    let list = get(&mock, "/Users").await;
    assert_eq!(list.status, 200, "the token keeps its secret");
    assert_eq!(list.body["totalResults"], json!(12));
    let reseeded = snapshot(&mock);
    let _ = post(&mock, "/Users", new_user(&mock, "after.reseed")).await;
    let r = run(admin(&mock, Method::POST, "/reset")).await;
    assert_eq!(r.status, 204);
    assert_eq!(snapshot(&mock), reseeded, "reset goes back to the reseeded org");
    let r = run(admin(&mock, Method::POST, "/reseed").json(&json!({ "seed": 4, "bogus": 1 }))).await;
    assert_rfc_error(&r, 400, Some("invalidValue"));
}

#[tokio::test]
async fn admin_faults_journal_quirks_and_revoke() {
    let mock = MockServer::builder()
        .seed(3)
        .users(30)
        .groups(5)
        .workspaces(2)
        .start()
        .await;
    let r = run(admin(&mock, Method::GET, "/faults")).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        serde_json::from_value::<FaultSettings>(r.body).unwrap(),
        FaultSettings::default()
    );
    let r = run(admin(&mock, Method::PUT, "/faults")
        .json(&json!({ "script": ["503", "reset"], "paging": "zero_items_per_page" })))
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["script"], json!(["503", "reset"]));
    assert_rfc_error(&get(&mock, "/Users").await, 503, None);
    assert!(scim(&mock, Method::GET, "/Users").send().await.is_err());
    assert_eq!(get(&mock, "/Users").await.body["itemsPerPage"], json!(0));
    let r = run(admin(&mock, Method::GET, "/faults")).await;
    assert_eq!(r.body["script"], json!([]));
    let r = run(admin(&mock, Method::PUT, "/faults?token=tok_2").json(&json!({ "script": ["500"] }))).await;
    assert_eq!(r.status, 200);
    let s2 = mock.token_secret("tok_2").unwrap();
    assert_eq!(
        run(anon(&mock, Method::GET, "/Users").bearer_auth(&s2)).await.status,
        500
    );
    assert_rfc_error(&run(admin(&mock, Method::GET, "/faults?token=tok_9")).await, 404, None);
    assert_eq!(
        run(admin(&mock, Method::PUT, "/faults").json(&json!({ "script": ["nonsense"] })))
            .await
            .status,
        400
    );
    assert_eq!(run(admin(&mock, Method::PUT, "/faults").body("{")).await.status, 400);

    let r = run(admin(&mock, Method::GET, "/journal")).await;
    assert_eq!(r.status, 200);
    let entries = r.body.as_array().unwrap();
    assert_eq!(entries.len(), mock.journal().len());
    assert!(
        entries
            .iter()
            .all(|e| !e["path"].as_str().unwrap().starts_with("/__admin")),
        "admin calls are not journalled"
    );
    assert_eq!(entries[0]["status"], json!(503));
    assert_eq!(run(admin(&mock, Method::DELETE, "/journal")).await.status, 204);
    assert!(mock.journal().is_empty());

    let r = run(admin(&mock, Method::GET, "/quirks")).await;
    assert_eq!(r.body["error_dialect"], json!("rfc"));
    let r =
        run(admin(&mock, Method::PUT, "/quirks").json(&json!({ "error_dialect": "notion", "default_count": 3 }))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["error_dialect"], json!("notion"));
    assert_eq!(
        r.body["auth_failure_status"],
        json!(401),
        "unnamed switches keep their values"
    );
    assert_eq!(mock.quirks().default_count, 3);
    mock.faults().paging(None);
    assert_eq!(get(&mock, "/Users").await.ids().len(), 3);
    assert_notion_error(&get(&mock, "/Users/nope").await, 404, "object_not_found");
    let r = run(admin(&mock, Method::PUT, "/quirks").json(&json!({ "no_such_switch": true }))).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(mock.quirks().default_count, 3, "a refused PUT changes nothing");

    let r = run(admin(&mock, Method::POST, "/tokens/tok_1/revoke")).await;
    assert_eq!(r.status, 204);
    assert_eq!(get(&mock, "/Users").await.status, 401);
    assert_eq!(
        run(anon(&mock, Method::GET, "/Users").bearer_auth(&s2)).await.status,
        200
    );
    assert_eq!(
        run(admin(&mock, Method::POST, "/tokens/tok_9/revoke")).await.status,
        404
    );
}

// ---------------------------------------------------------------- the binary

const BIN: &str = env!("CARGO_BIN_EXE_notion-scim-mock");

/// Kills the child when dropped, so a failing test leaves no server behind.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_binary_serves_with_flags() {
    let child = Command::new(BIN)
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--users",
            "7",
            "--groups",
            "2",
            "--seed",
            "5",
            "--token",
            "T",
        ])
        .args([
            "--error-dialect",
            "notion",
            "--fault-script",
            "503",
            "--log-level",
            "warn",
        ])
        .env_remove("NOTION_SCIM_MOCK_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = Child(child);
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
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    assert!(
        base.starts_with("http://127.0.0.1:") && base.ends_with("/scim/v2"),
        "{base}"
    );
    let first = run(client().get(format!("{base}/Users")).bearer_auth("T")).await;
    assert_notion_error(&first, 503, "service_unavailable");
    let second = run(client().get(format!("{base}/Users")).bearer_auth("T")).await;
    assert_eq!(second.status, 200, "{}", second.text);
    assert_eq!(second.body["totalResults"], json!(7));
    let groups = run(client().get(format!("{base}/Groups")).bearer_auth("T")).await;
    assert_eq!(groups.body["totalResults"], json!(2));
    assert_notion_error(
        &run(client().get(format!("{base}/Users")).bearer_auth("wrong")).await,
        401,
        "unauthorized",
    );
    drop(child);
}

#[test]
fn the_binary_refuses_a_bad_flag() {
    let out = Command::new(BIN)
        .args(["serve", "--addr", "127.0.0.1:0", "--fault-script", "nonsense"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nonsense") && err.contains("bad fault"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn the_binary_prints_truth() {
    let out = Command::new(BIN)
        .args(["truth", "--users", "3", "--groups", "1"])
        .env_remove("NOTION_SCIM_MOCK_TOKEN")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["workspaces"][0]["users"].as_array().unwrap().len(), 3);
    assert_eq!(v["workspaces"][0]["groups"].as_array().unwrap().len(), 1);
    let again = Command::new(BIN)
        .args(["truth", "--users", "3", "--groups", "1"])
        .env_remove("NOTION_SCIM_MOCK_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.stdout, again.stdout, "deterministic");
}
