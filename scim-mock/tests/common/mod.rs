//! Shared helpers for the integration tests: a small org, requests over real HTTP, and error
//! body checks in both dialects.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use notion_scim_mock::{MockServer, OrgTruth, Quirks};
use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder};
use serde_json::{json, Value};

pub const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const CORE_GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const NOTION_EXT: &str = "urn:ietf:params:scim:schemas:extension:notion:2.0:User";
pub const ENTERPRISE_EXT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const LIST: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// The org most tests use: 30 members, 5 groups.
pub async fn small() -> MockServer {
    MockServer::builder().seed(3).users(30).groups(5).start().await
}

pub async fn small_with(quirks: Quirks) -> MockServer {
    MockServer::builder()
        .seed(3)
        .users(30)
        .groups(5)
        .quirks(quirks)
        .start()
        .await
}

/// A client without a connection pool, so that a connection broken by a fault never leaks
/// into the next request.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap()
}

/// An answer, read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
    /// `Value::Null` when the body is empty or not JSON.
    pub body: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The ids of a list page's `Resources`.
    pub fn ids(&self) -> Vec<String> {
        resources(&self.body)
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect()
    }
}

pub fn resources(list: &Value) -> &Vec<Value> {
    list["Resources"]
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
}

/// A request to `base_url() + path` with the first token.
pub fn scim(mock: &MockServer, method: Method, path: &str) -> RequestBuilder {
    client()
        .request(method, format!("{}{path}", mock.base_url()))
        .bearer_auth(mock.token())
}

/// A request to `base_url() + path` with no token at all.
pub fn anon(mock: &MockServer, method: Method, path: &str) -> RequestBuilder {
    client().request(method, format!("{}{path}", mock.base_url()))
}

pub async fn run(rb: RequestBuilder) -> Resp {
    let resp = rb.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Resp {
        status,
        headers,
        text,
        body,
    }
}

pub async fn get(mock: &MockServer, path: &str) -> Resp {
    run(scim(mock, Method::GET, path)).await
}

pub async fn get_q(mock: &MockServer, path: &str, query: &[(&str, &str)]) -> Resp {
    run(scim(mock, Method::GET, path).query(query)).await
}

pub async fn post(mock: &MockServer, path: &str, body: Value) -> Resp {
    run(scim(mock, Method::POST, path).json(&body)).await
}

pub async fn put(mock: &MockServer, path: &str, body: Value) -> Resp {
    run(scim(mock, Method::PUT, path).json(&body)).await
}

pub async fn patch(mock: &MockServer, path: &str, ops: Value) -> Resp {
    run(scim(mock, Method::PATCH, path).json(&patch_body(ops))).await
}

pub async fn delete(mock: &MockServer, path: &str) -> Resp {
    run(scim(mock, Method::DELETE, path)).await
}

/// A PatchOp body around `ops` (an array of operations).
pub fn patch_body(ops: Value) -> Value {
    json!({ "schemas": [PATCH_OP], "Operations": ops })
}

/// A new user's body on the verified domain of `mock`'s org.
pub fn new_user(mock: &MockServer, local: &str) -> Value {
    json!({
        "schemas": [CORE_USER],
        "userName": format!("{local}@{}", domain(mock)),
        "name": { "givenName": "New", "familyName": "Person" },
        "emails": [{ "value": format!("{local}@{}", domain(mock)), "primary": true }],
        "active": true
    })
}

/// The org's (first) verified domain.
pub fn domain(mock: &MockServer) -> String {
    mock.org_truth().verified_domains[0].clone()
}

/// The whole org, for "nothing changed" checks.
pub fn snapshot(mock: &MockServer) -> OrgTruth {
    mock.org_truth()
}

pub fn assert_unchanged(mock: &MockServer, before: &OrgTruth, what: &str) {
    assert_eq!(&mock.org_truth(), before, "{what}: the org changed");
}

/// An RFC 7644 §3.12 error body with this status and `scimType`.
pub fn assert_rfc_error(resp: &Resp, status: u16, scim_type: Option<&str>) {
    assert_eq!(resp.status, status, "{}", resp.text);
    assert_eq!(resp.body["schemas"], json!([ERROR]), "{}", resp.text);
    assert_eq!(resp.body["status"], json!(status.to_string()), "{}", resp.text);
    assert!(
        resp.body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{}",
        resp.text
    );
    match scim_type {
        Some(t) => assert_eq!(resp.body["scimType"], json!(t), "{}", resp.text),
        None => assert!(resp.body.get("scimType").is_none(), "{}", resp.text),
    }
}

/// Notion's REST error body with this status and `code`.
pub fn assert_notion_error(resp: &Resp, status: u16, code: &str) {
    assert_eq!(resp.status, status, "{}", resp.text);
    assert_eq!(resp.body["object"], json!("error"), "{}", resp.text);
    assert_eq!(resp.body["status"], json!(status), "{}", resp.text);
    assert_eq!(resp.body["code"], json!(code), "{}", resp.text);
    assert!(
        resp.body["message"].as_str().is_some_and(|d| !d.is_empty()),
        "{}",
        resp.text
    );
    assert!(resp.body.get("schemas").is_none(), "{}", resp.text);
}

/// Every member through SCIM, paging 100 at a time as baton-notion does.
pub async fn list_all_users(mock: &MockServer) -> Vec<Value> {
    let mut out = Vec::new();
    let mut start = 1;
    loop {
        let page = get_q(mock, "/Users", &[("startIndex", &start.to_string()), ("count", "100")]).await;
        assert_eq!(page.status, 200, "{}", page.text);
        let items = resources(&page.body).clone();
        let n = page.body["itemsPerPage"].as_u64().unwrap() as usize;
        out.extend(items);
        start += n;
        if n == 0 || start > page.body["totalResults"].as_u64().unwrap() as usize {
            return out;
        }
    }
}

/// A user id of the first workspace that is not the token's creator and not an owner.
pub fn plain_member(mock: &MockServer) -> String {
    let t = mock.truth();
    let creator = t.tokens[0].creator.clone();
    t.users
        .iter()
        .find(|u| u.id != creator && u.active && u.role != Some(notion_scim_mock::Role::Owner))
        .map(|u| u.id.clone())
        .unwrap()
}

/// A plain member that belongs to at least one group: `(user id, group id)`.
pub fn grouped_member(mock: &MockServer) -> (String, String) {
    let t = mock.truth();
    let creator = t.tokens[0].creator.clone();
    for g in &t.groups {
        for m in &g.members {
            let u = t.user(m).unwrap();
            if *m != creator && u.role != Some(notion_scim_mock::Role::Owner) {
                return (m.clone(), g.id.clone());
            }
        }
    }
    panic!("no grouped member");
}
