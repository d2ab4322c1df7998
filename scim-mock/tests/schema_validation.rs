//! The emulation's discovery describes what it serves: every resource it returns (users and
//! groups of every seeded shape, lists, reads by id, the answers to POST, PUT and PATCH)
//! validates against its own `/Schemas` and `/ResourceTypes`, as a schema-driven SCIM client
//! would check it; and what the schemas claim about uniqueness and mutability is what the
//! endpoints do.
//!
//! The validator is written here, from RFC 7643 §2 and §7, and knows nothing of the emulation.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use notion_scim_mock::{MockServer, SeedSpec};
use serde_json::{json, Map, Value};

/// A resource type as `/ResourceTypes` and `/Schemas` describe it.
struct ResourceType {
    name: String,
    core: Value,
    /// (URN, required, schema)
    extensions: Vec<(String, bool, Value)>,
}

fn ci<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v)
}

fn attributes(schema: &Value, key: &str) -> Vec<Value> {
    schema[key].as_array().cloned().unwrap_or_default()
}

fn find<'a>(defs: &'a [Value], name: &str) -> Option<&'a Value> {
    defs.iter()
        .find(|d| d["name"].as_str().is_some_and(|n| n.eq_ignore_ascii_case(name)))
}

/// Every attribute definition must say what RFC 7643 §7 asks, and a complex one must declare
/// its sub-attributes.
fn check_definition(def: &Value, at: &str, errors: &mut Vec<String>) {
    let name = def["name"].as_str().unwrap_or("?");
    let at = format!("{at}.{name}");
    for (key, check) in [
        ("type", Value::is_string as fn(&Value) -> bool),
        ("multiValued", Value::is_boolean),
        ("required", Value::is_boolean),
        ("caseExact", Value::is_boolean),
        ("mutability", Value::is_string),
        ("returned", Value::is_string),
        ("uniqueness", Value::is_string),
    ] {
        if !def.get(key).is_some_and(check) {
            errors.push(format!("{at}: {key} missing or of the wrong type"));
        }
    }
    let kind = def["type"].as_str().unwrap_or_default();
    let known = [
        "string",
        "boolean",
        "decimal",
        "integer",
        "dateTime",
        "binary",
        "reference",
        "complex",
    ];
    if !known.contains(&kind) {
        errors.push(format!("{at}: unknown type {kind:?}"));
    }
    if kind == "complex" {
        match def["subAttributes"].as_array() {
            Some(subs) if !subs.is_empty() => {
                for sub in subs {
                    if sub["type"] == json!("complex") {
                        errors.push(format!("{at}: a complex sub-attribute"));
                    }
                    check_definition(sub, &at, errors);
                }
            }
            _ => errors.push(format!("{at}: a complex attribute without subAttributes")),
        }
    }
    if kind == "reference" && !def["referenceTypes"].is_array() {
        errors.push(format!("{at}: a reference without referenceTypes"));
    }
}

/// One value against its definition (`at` names it in messages).
fn check_value(def: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    if def["returned"] == json!("never") {
        errors.push(format!("{at}: declared returned never, yet returned: {value}"));
        return;
    }
    if def["multiValued"] == json!(true) {
        let Some(items) = value.as_array() else {
            return errors.push(format!("{at}: multi-valued, yet not an array: {value}"));
        };
        for (i, item) in items.iter().enumerate() {
            check_single(def, item, &format!("{at}[{i}]"), errors);
        }
    } else {
        check_single(def, value, at, errors);
    }
}

fn check_single(def: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    let ok = match def["type"].as_str().unwrap_or_default() {
        "string" | "reference" | "dateTime" | "binary" => value.is_string(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "decimal" => value.is_number(),
        "complex" => {
            let Some(obj) = value.as_object() else {
                return errors.push(format!("{at}: complex, yet not an object: {value}"));
            };
            let subs = attributes(def, "subAttributes");
            for (k, v) in obj {
                match find(&subs, k) {
                    Some(sub) => check_value(sub, v, &format!("{at}.{k}"), errors),
                    None => errors.push(format!("{at}: sub-attribute {k:?} is not declared")),
                }
            }
            for sub in subs.iter().filter(|s| s["required"] == json!(true)) {
                let n = sub["name"].as_str().unwrap_or_default();
                if ci(obj, n).is_none() {
                    errors.push(format!("{at}: required sub-attribute {n} missing"));
                }
            }
            true
        }
        other => {
            errors.push(format!("{at}: cannot check type {other:?}"));
            true
        }
    };
    if !ok {
        errors.push(format!("{at}: not a {}: {value}", def["type"]));
    }
    if let (Some(allowed), Some(s)) = (def["canonicalValues"].as_array(), value.as_str()) {
        if !allowed.is_empty() && !allowed.iter().any(|a| a.as_str() == Some(s)) {
            errors.push(format!("{at}: {s:?} is not one of {allowed:?}"));
        }
    }
}

/// Attributes of one schema on one object: each present one declared and well typed, each
/// required one present.
fn check_attributes(schema: &Value, obj: &Map<String, Value>, at: &str, skip: &[&str], errors: &mut Vec<String>) {
    let defs = attributes(schema, "attributes");
    for (k, v) in obj {
        if skip.iter().any(|s| s.eq_ignore_ascii_case(k)) {
            continue;
        }
        match find(&defs, k) {
            Some(def) => check_value(def, v, &format!("{at}.{k}"), errors),
            None => errors.push(format!("{at}: attribute {k:?} is not declared by {}", schema["id"])),
        }
    }
    for def in defs.iter().filter(|d| d["required"] == json!(true)) {
        let n = def["name"].as_str().unwrap_or_default();
        if ci(obj, n).is_none() {
            errors.push(format!("{at}: required attribute {n} missing"));
        }
    }
}

impl ResourceType {
    /// Validates one resource; returns what is wrong with it.
    fn validate(&self, resource: &Value) -> Vec<String> {
        let mut errors = Vec::new();
        let id = resource["id"].as_str().unwrap_or("?");
        let at = format!("{} {id}", self.name);
        let Some(obj) = resource.as_object() else {
            return vec![format!("{at}: not an object")];
        };
        // Common attributes (RFC 7643 §3.1).
        if !resource["id"].is_string() {
            errors.push(format!("{at}: id missing"));
        }
        let core_id = self.core["id"].as_str().unwrap_or_default();
        if let Some(schemas) = ci(obj, "schemas") {
            let known: Vec<&str> = std::iter::once(core_id)
                .chain(self.extensions.iter().map(|(u, _, _)| u.as_str()))
                .collect();
            match schemas.as_array() {
                Some(list) if list.iter().any(|s| s.as_str() == Some(core_id)) => {
                    for s in list {
                        if !s.as_str().is_some_and(|s| known.contains(&s)) {
                            errors.push(format!("{at}: schemas names {s}, which no resource type declares"));
                        }
                    }
                }
                _ => errors.push(format!("{at}: schemas {schemas} does not name {core_id}")),
            }
        }
        if let Some(meta) = ci(obj, "meta") {
            if meta["resourceType"] != json!(self.name) {
                errors.push(format!("{at}: meta.resourceType {}", meta["resourceType"]));
            }
        }
        let mut skip: Vec<&str> = vec!["schemas", "id", "externalId", "meta"];
        for (urn, required, schema) in &self.extensions {
            skip.push(urn);
            match ci(obj, urn) {
                Some(Value::Object(ext)) => check_attributes(schema, ext, &format!("{at} {urn}"), &[], &mut errors),
                Some(other) => errors.push(format!("{at}: {urn} is not an object: {other}")),
                None if *required => errors.push(format!("{at}: required extension {urn} missing")),
                None => {}
            }
        }
        check_attributes(&self.core, obj, &at, &skip, &mut errors);
        errors
    }
}

/// Reads `/ResourceTypes` and `/Schemas` and checks every definition.
async fn discovery(mock: &MockServer) -> (ResourceType, ResourceType) {
    let schemas = get(mock, "/Schemas").await;
    assert_eq!(schemas.status, 200, "{}", schemas.text);
    let by_id = |urn: &str| -> Value {
        resources(&schemas.body)
            .iter()
            .find(|s| s["id"] == json!(urn))
            .cloned()
            .unwrap_or_else(|| panic!("/Schemas does not list {urn}"))
    };
    let mut errors = Vec::new();
    for s in resources(&schemas.body) {
        for def in attributes(s, "attributes") {
            check_definition(&def, s["id"].as_str().unwrap_or("?"), &mut errors);
        }
        // Each schema is also served on its own, the same.
        let one = get(mock, &format!("/Schemas/{}", s["id"].as_str().unwrap())).await;
        assert_eq!(&one.body, s);
    }
    assert!(
        errors.is_empty(),
        "the published schemas are incomplete:\n{}",
        errors.join("\n")
    );
    let types = get(mock, "/ResourceTypes").await;
    assert_eq!(types.status, 200, "{}", types.text);
    let load = |name: &str| -> ResourceType {
        let t = resources(&types.body)
            .iter()
            .find(|t| t["name"] == json!(name))
            .unwrap_or_else(|| panic!("/ResourceTypes does not list {name}"));
        ResourceType {
            name: name.to_string(),
            core: by_id(t["schema"].as_str().unwrap()),
            extensions: t["schemaExtensions"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| {
                    let urn = e["schema"].as_str().unwrap().to_string();
                    let schema = by_id(&urn);
                    (urn, e["required"] == json!(true), schema)
                })
                .collect(),
        }
    };
    (load("User"), load("Group"))
}

fn assert_valid(rt: &ResourceType, resources: &[Value], what: &str) {
    let errors: Vec<String> = resources.iter().flat_map(|r| rt.validate(r)).collect();
    assert!(
        errors.is_empty(),
        "{what}: {} error(s) against the emulation's own schema:\n{}",
        errors.len(),
        errors.iter().take(20).cloned().collect::<Vec<_>>().join("\n")
    );
}

/// An org with every seeded oddity: inactive records, formatted-only names, records without
/// the role extension, secondary emails, empty groups.
async fn odd_org() -> MockServer {
    MockServer::builder()
        .spec(SeedSpec {
            seed: 5,
            users: 120,
            groups: 12,
            inactive_ratio: 0.1,
            formatted_name_only_ratio: 0.2,
            no_role_extension_ratio: 0.2,
            secondary_email_ratio: 0.2,
            empty_group_ratio: 0.2,
            ..SeedSpec::default()
        })
        .start()
        .await
}

#[tokio::test]
async fn every_user_and_group_served_validates_against_the_published_schema() {
    let mock = odd_org().await;
    let (user_rt, group_rt) = discovery(&mock).await;

    let users = list_all_users(&mock).await;
    assert_eq!(users.len(), 120);
    assert_valid(&user_rt, &users, "GET /Users");
    for u in users.iter().take(20) {
        let one = get(&mock, &format!("/Users/{}", u["id"].as_str().unwrap())).await;
        assert_valid(&user_rt, &[one.body], "GET /Users/{id}");
    }
    let groups = get_q(&mock, "/Groups", &[("count", "100")]).await;
    assert_valid(&group_rt, resources(&groups.body), "GET /Groups");
    for g in resources(&groups.body) {
        let one = get(&mock, &format!("/Groups/{}", g["id"].as_str().unwrap())).await;
        assert_valid(&group_rt, &[one.body], "GET /Groups/{id}");
    }
    let bare = get_q(&mock, "/Groups", &[("excludedAttributes", "members")]).await;
    assert_valid(
        &group_rt,
        resources(&bare.body),
        "GET /Groups?excludedAttributes=members",
    );

    // A user with every writable attribute, as POST, PATCH and PUT answer it.
    let email = format!("everything@{}", domain(&mock));
    let created = post(
        &mock,
        "/Users",
        json!({
            "schemas": [CORE_USER, NOTION_EXT, ENTERPRISE_EXT],
            "userName": email,
            "externalId": "ext-1",
            "name": { "formatted": "Eve Everything", "givenName": "Eve", "familyName": "Everything" },
            "displayName": "Eve Everything",
            "emails": [
                { "value": email, "primary": true, "type": "work" },
                { "value": "eve@elsewhere.example", "primary": false, "type": "home" }
            ],
            "photos": [{ "value": "https://photos.example/eve.png", "type": "photo" }],
            "title": "Tester",
            "phoneNumbers": [
                { "value": "+1 555 0100", "type": "work", "primary": true },
                { "value": "+1 555 0101", "type": "mobile" }
            ],
            "addresses": [{ "streetAddress": "1 Main St", "locality": "Springfield", "country": "US", "type": "work", "primary": true }],
            "roles": [{ "value": "auditor", "display": "Auditor", "type": "app", "primary": false }],
            "locale": "en-GB",
            "preferredLanguage": "en",
            "userType": "Employee",
            NOTION_EXT: { "role": "membership_admin" },
            ENTERPRISE_EXT: {
                "employeeNumber": "42", "costCenter": "CC1", "organization": "Org", "division": "Div",
                "department": "Dept", "manager": { "value": "boss@elsewhere.example", "displayName": "Boss" }
            }
        }),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_valid(&user_rt, std::slice::from_ref(&created.body), "POST /Users");
    let id = created.body["id"].as_str().unwrap().to_string();
    let path = format!("/Users/{id}");
    let patched = patch(
        &mock,
        &path,
        json!([{ "op": "replace", "path": "name.formatted", "value": "Eve Other" },
               { "op": "add", "path": "phoneNumbers", "value": [{ "value": "+1 555 0199", "type": "home" }] }]),
    )
    .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_valid(&user_rt, std::slice::from_ref(&patched.body), "PATCH /Users/{id}");
    let replaced = put(
        &mock,
        &path,
        json!({ "schemas": [CORE_USER], "userName": email, "displayName": "Eve Put", "title": "Again" }),
    )
    .await;
    assert_eq!(replaced.status, 200, "{}", replaced.text);
    assert_valid(&user_rt, std::slice::from_ref(&replaced.body), "PUT /Users/{id}");

    // Group writes.
    let g = post(
        &mock,
        "/Groups",
        json!({ "schemas": [CORE_GROUP], "displayName": "Validators", "members": [{ "value": id, "display": "Eve" }] }),
    )
    .await;
    assert_eq!(g.status, 201, "{}", g.text);
    assert_valid(&group_rt, std::slice::from_ref(&g.body), "POST /Groups");
    let gid = g.body["id"].as_str().unwrap();
    let p = patch(
        &mock,
        &format!("/Groups/{gid}"),
        json!([{ "op": "Add", "path": "members", "value": [{ "value": plain_member(&mock) }] }]),
    )
    .await;
    assert_eq!(p.status, 200, "{}", p.text);
    assert_valid(&group_rt, std::slice::from_ref(&p.body), "PATCH /Groups/{id}");
}

/// What the schemas say about uniqueness and mutability is what the endpoints do.
#[tokio::test]
async fn uniqueness_and_mutability_claims_hold() {
    let mock = odd_org().await;
    let (user_rt, group_rt) = discovery(&mock).await;
    let user_defs = attributes(&user_rt.core, "attributes");
    let group_defs = attributes(&group_rt.core, "attributes");

    // userName: unique (server): a second POST of the same address is refused with 409.
    assert_eq!(find(&user_defs, "userName").unwrap()["uniqueness"], json!("server"));
    let taken = list_all_users(&mock).await[0]["userName"].as_str().unwrap().to_string();
    let again = post(
        &mock,
        "/Users",
        json!({ "schemas": [CORE_USER], "userName": taken.to_uppercase() }),
    )
    .await;
    assert_rfc_error(&again, 409, Some("uniqueness"));

    // A group's displayName is not unique: two groups may share a name.
    assert_eq!(find(&group_defs, "displayName").unwrap()["uniqueness"], json!("none"));
    for _ in 0..2 {
        let g = post(&mock, "/Groups", json!({ "displayName": "Twins" })).await;
        assert_eq!(g.status, 201, "{}", g.text);
    }

    // Every readWrite attribute of the core User schema is accepted by PATCH; the immutable
    // photos are refused.
    let uid = plain_member(&mock);
    let path = format!("/Users/{uid}");
    for def in &user_defs {
        let name = def["name"].as_str().unwrap();
        let sample = match (name, def["type"].as_str().unwrap(), def["multiValued"] == json!(true)) {
            ("userName", _, _) => json!(format!("renamed@{}", domain(&mock))),
            ("emails", _, _) => json!([{ "value": format!("renamed@{}", domain(&mock)), "primary": true }]),
            (_, "boolean", _) => json!(true),
            (_, "string", _) => json!("sample"),
            (_, "complex", multi) => {
                let first = attributes(def, "subAttributes")
                    .into_iter()
                    .find(|s| s["type"] == json!("string"))
                    .unwrap();
                let item = json!({ first["name"].as_str().unwrap(): "sample" });
                if multi {
                    json!([item])
                } else {
                    item
                }
            }
            (_, other, _) => panic!("no sample for {name}: {other}"),
        };
        let r = patch(
            &mock,
            &path,
            json!([{ "op": "replace", "path": name, "value": sample }]),
        )
        .await;
        match def["mutability"].as_str().unwrap() {
            "readWrite" => assert_eq!(r.status, 200, "PATCH {name} (declared readWrite): {}", r.text),
            "immutable" | "readOnly" => {
                assert_eq!(r.status, 400, "PATCH {name} (declared immutable): {}", r.text)
            }
            other => panic!("{name}: mutability {other}"),
        }
    }
}

/// The validator itself catches what a schema-driven client would reject.
#[tokio::test]
async fn the_validator_rejects_what_the_schema_does_not_allow() {
    let mock = odd_org().await;
    let (user_rt, group_rt) = discovery(&mock).await;
    let user = list_all_users(&mock).await[0].clone();
    assert!(user_rt.validate(&user).is_empty());
    let mut bad = user.clone();
    bad["nickName"] = json!("Undeclared");
    bad["active"] = json!("yes");
    bad["emails"] = json!({ "value": "a@b.example" });
    bad["name"]["middleName"] = json!("Undeclared sub-attribute");
    bad[NOTION_EXT] = json!({ "role": "superuser" });
    bad.as_object_mut().unwrap().remove("userName");
    let errors = user_rt.validate(&bad);
    for want in [
        "\"nickName\" is not declared",
        ".active: not a",
        ".emails: multi-valued, yet not an array",
        "\"middleName\" is not declared",
        "\"superuser\" is not one of",
        "required attribute userName missing",
    ] {
        assert!(
            errors.iter().any(|e| e.contains(want)),
            "{want:?} not among {errors:#?}"
        );
    }
    let mut group = resources(&get(&mock, "/Groups").await.body)[0].clone();
    group["members"] = json!([{ "value": 7 }]);
    assert!(group_rt
        .validate(&group)
        .iter()
        .any(|e| e.contains("members[0].value: not a")));
}
