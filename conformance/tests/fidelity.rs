//! `notion-conformance fidelity`: every cassette under `fixtures/cassettes` passes (with its
//! accepted departures), a tampered copy fails and says where, the comparison knows SCIM
//! (attribute-name case, element order and meta times do not count), and each departure names
//! the `Quirks` switch that removes it.
//!
//! Two of the fixtures are synthesised here from the facts file (what Notion documents, and the
//! shapes of the live capture it describes), not recorded: `synthetic_fixtures_are_up_to_date`
//! checks the committed files against what this file builds (`UPDATE_FIXTURES=1` rewrites
//! them).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use notion_conformance::cassette::{self, Body, Cassette, Interaction, Request, Response, Source, Status};
use notion_conformance::fidelity::accept::{AcceptFile, Accepted};
use notion_conformance::fidelity::{self, Options, Report};
use notion_scim_mock::quirks::{CountOverMax, ErrorDialect};
use notion_scim_mock::Quirks;
use serde_json::{json, Value};

const UPSTREAM: &str = "https://api.notion.com/scim/v2";
const RECORDED_AT: &str = "Tue, 01 Dec 2026 00:00:00 +0000";
const USER_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const LIST_URN: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const ERROR_URN: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
const PATCH_URN: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const NOTION_EXT: &str = "urn:ietf:params:scim:schemas:extension:notion:2.0:User";
const LOCATION: &str = "https://app.notion.com/scim/v2";

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/cassettes")
}

/// Every cassette in the fixtures folder, with its accepted departures.
fn fixtures() -> Vec<(String, Cassette, AcceptFile)> {
    let mut out = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir()).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.ends_with(".json") || name.ends_with(".accepted.json") {
            continue;
        }
        let accepted = dir().join(format!("{name}.accepted.json"));
        let accept = if accepted.is_file() {
            AcceptFile::load(&accepted).unwrap()
        } else {
            AcceptFile::default()
        };
        out.push((name, Cassette::load(&path).unwrap(), accept));
    }
    out
}

fn fixture(name: &str) -> Cassette {
    Cassette::load(&dir().join(name)).unwrap()
}

async fn run(c: &Cassette, quirks: Quirks, accept: AcceptFile, suggest: bool) -> Report {
    fidelity::run(
        c,
        &Options {
            quirks,
            accept,
            suggest,
        },
    )
    .await
    .unwrap()
}

// ---------------------------------------------------------------------------------------
// The synthesised fixtures.

fn exchange(
    method: &str,
    path: &str,
    credential: &str,
    request: Option<Value>,
    status: u16,
    response: Option<Value>,
    extra: &[(&str, &str)],
) -> Interaction {
    let mut req_headers = BTreeMap::new();
    req_headers.insert(cassette::CREDENTIAL_HEADER.to_string(), vec![credential.to_string()]);
    if request.is_some() {
        req_headers.insert("content-type".to_string(), vec!["application/scim+json".to_string()]);
    }
    let mut resp_headers = BTreeMap::new();
    if response.is_some() {
        resp_headers.insert("content-type".to_string(), vec!["application/scim+json".to_string()]);
    }
    for (k, v) in extra {
        resp_headers.insert(k.to_string(), vec![v.to_string()]);
    }
    Interaction {
        request: Request {
            method: method.to_lowercase(),
            uri: format!("{UPSTREAM}{path}"),
            body: Body::text(request.map(|v| v.to_string()).unwrap_or_default()),
            headers: req_headers,
        },
        response: Response {
            status: Status {
                code: status,
                message: cassette::reason(status),
            },
            headers: resp_headers,
            body: Body::text(response.map(|v| v.to_string()).unwrap_or_default()),
            http_version: Some("1.1".into()),
        },
        recorded_at: RECORDED_AT.into(),
    }
}

fn synthetic(description: &str, notes: &[&str]) -> Cassette {
    let mut c = Cassette::new(
        Source {
            kind: "synthetic".into(),
            description: description.into(),
        },
        UPSTREAM,
        None,
    );
    c.notion_conformance.notes = notes.iter().map(|n| n.to_string()).collect();
    c
}

fn list(total: usize, start: usize, items: Vec<Value>) -> Value {
    json!({ "schemas": [LIST_URN], "totalResults": total, "startIndex": start,
            "itemsPerPage": items.len(), "Resources": items })
}

fn error(status: u16) -> Value {
    json!({ "schemas": [ERROR_URN], "status": status.to_string(), "detail": "(free text)" })
}

/// A user in the shapes observed [O]: the core URN alone in `schemas`, epoch-millisecond
/// strings in `meta`, `meta.location` on app.notion.com, emails without `type`.
#[allow(clippy::too_many_arguments)]
fn user(
    id: &str,
    email: &str,
    given: Option<&str>,
    family: Option<&str>,
    formatted: &str,
    secondary: Option<&str>,
    role: Option<&str>,
    active: bool,
    millis: u64,
) -> Value {
    let mut name = serde_json::Map::new();
    name.insert("formatted".into(), json!(formatted));
    if let (Some(g), Some(f)) = (given, family) {
        name.insert("givenName".into(), json!(g));
        name.insert("familyName".into(), json!(f));
    }
    let mut emails = vec![json!({ "value": email, "primary": true })];
    if let Some(s) = secondary {
        emails.push(json!({ "value": s, "primary": false }));
    }
    let mut u = json!({
        "schemas": [USER_URN], "id": id, "userName": email, "name": name, "displayName": formatted,
        "emails": emails, "active": active, "photos": [],
        "meta": { "resourceType": "User", "created": millis.to_string(), "lastModified": millis.to_string(),
                  "location": format!("{LOCATION}/Users/{id}") }
    });
    if let Some(r) = role {
        u[NOTION_EXT] = json!({ "role": r });
    }
    u
}

/// The shapes of the live capture the facts file describes: 120 members listed as pages of 100
/// and 20, some with only `name.formatted`, some without the role extension, some with a
/// second address, one inactive.
fn live_capture() -> Cassette {
    let given = [
        "Avery", "Blake", "Casey", "Devon", "Emery", "Finley", "Gray", "Harper", "Indy", "Jules",
    ];
    let family = [
        "Archer", "Brook", "Castle", "Dale", "Ellis", "Frost", "Grove", "Hale", "Irwin", "Jarvis",
    ];
    let users: Vec<Value> = (0..120)
        .map(|i| {
            let (g, f) = (given[i % 10], family[(i / 10) % 10]);
            let formatted = format!("{g} {f}");
            let only_formatted = i % 10 == 3;
            let role = match i {
                0 => Some("owner"),
                1 | 2 => Some("membership_admin"),
                _ if i % 20 == 7 => None,
                _ if i % 15 == 4 => Some("restricted_member"),
                _ => Some("member"),
            };
            let secondary = (i % 12 == 5).then(|| format!("member{i:03}@personal.example"));
            user(
                &format!("5e0c0000-0000-4000-8000-{i:012}"),
                &format!("member{i:03}@capture.example"),
                (!only_formatted).then_some(g),
                (!only_formatted).then_some(f),
                &formatted,
                secondary.as_deref(),
                role,
                i != 42,
                1_787_393_411_245 + 1000 * i as u64,
            )
        })
        .collect();
    let mut c = synthetic(
        "the shapes of a live capture of a 120-member Notion Enterprise workspace described in docs/notion-scim.md ([O]: pages of 100 and 20, formatted-only names, records without the role extension, secondary emails, an inactive record), with made-up values: NOT a recording",
        &[
            "Values are invented (the capture was anonymised); the shapes, page sizes and counts are the capture's.",
            "The response media type is not recorded in the facts file: application/scim+json is the emulation's guess.",
        ],
    );
    let ok = |path: &str, body: Value| exchange("GET", path, "Bearer credential-1", None, 200, Some(body), &[]);
    c.http_interactions = vec![
        ok("/Users?startIndex=1&count=100", list(120, 1, users[..100].to_vec())),
        ok("/Users?startIndex=101&count=100", list(120, 101, users[100..].to_vec())),
        ok(
            &format!("/Users/{}", users[3]["id"].as_str().unwrap()),
            users[3].clone(),
        ),
        ok(
            &format!("/Users/{}", users[7]["id"].as_str().unwrap()),
            users[7].clone(),
        ),
    ];
    c
}

/// What Notion documents [N], what was observed [O] and what clients send [T], as exchanges.
fn documented() -> Cassette {
    let (a, b, t) = (
        "0a1c2e00-0000-4000-8000-00000000000a",
        "0b1c2e00-0000-4000-8000-00000000000b",
        "0c1c2e00-0000-4000-8000-00000000000c",
    );
    let g = "0d1c2e00-0000-4000-8000-00000000000d";
    let ada = user(
        a,
        "ada@acme.example",
        Some("Ada"),
        Some("Lovelace"),
        "Ada Lovelace",
        None,
        Some("owner"),
        true,
        1_787_393_411_245,
    );
    let grace = user(
        b,
        "grace@acme.example",
        None,
        None,
        "Grace Hopper",
        Some("grace@navy.example"),
        None,
        true,
        1_787_393_411_246,
    );
    let alan = user(
        t,
        "alan@acme.example",
        Some("Alan"),
        Some("Turing"),
        "Alan Turing",
        None,
        Some("member"),
        true,
        1_787_393_411_247,
    );
    let member = |id: &str| json!({ "value": id, "$ref": format!("{LOCATION}/Users/{id}"), "type": "User" });
    // Clients model groups so [T]; no Notion group was ever captured.
    let designers = |members: Vec<Value>| json!({ "schemas": [GROUP_URN], "id": g, "displayName": "Designers", "members": members });
    let patch = |ops: Value| json!({ "schemas": [PATCH_URN], "Operations": ops });
    let mut restricted = alan.clone();
    restricted[NOTION_EXT] = json!({ "role": "restricted_member" });
    let mut gone = grace.clone();
    gone["active"] = json!(false);
    let one = "Bearer credential-1";
    let mut c = synthetic(
        "examples written from what Notion documents (help article 'Provision users and groups with SCIM', IdP guides), what a third-party live capture observed and what clients send, as docs/notion-scim.md records them: NOT a recording",
        &[
            "Tags as in the facts file: [N] Notion's docs, [O] observed, [T] third-party clients.",
            "Where the facts file has only a best guess [?] (error body dialect, the status of a bad token, the media type, group meta), the examples carry the emulation's guess or leave the part out; accepted departures name each gap.",
        ],
    );
    c.http_interactions = vec![
        // [O] answers without a token; patch and filter supported, sort, bulk and etag not.
        exchange(
            "GET",
            "/ServiceProviderConfig",
            "none",
            None,
            200,
            Some(json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
                "patch": { "supported": true }, "filter": { "supported": true },
                "sort": { "supported": false }, "bulk": { "supported": false }, "etag": { "supported": false }
            })),
            &[],
        ),
        // [O] a ListResponse of users in the observed shapes.
        exchange(
            "GET",
            "/Users?startIndex=1&count=100",
            one,
            None,
            200,
            Some(list(3, 1, vec![ada.clone(), grace.clone(), alan.clone()])),
            &[],
        ),
        // [N] email is matched lower-cased; given_name and family_name with eq.
        exchange(
            "GET",
            "/Users?filter=email%20eq%20%22ADA%40ACME.EXAMPLE%22",
            one,
            None,
            200,
            Some(list(1, 1, vec![ada.clone()])),
            &[],
        ),
        exchange(
            "GET",
            "/Users?filter=given_name%20eq%20%22Ada%22",
            one,
            None,
            200,
            Some(list(1, 1, vec![ada.clone()])),
            &[],
        ),
        exchange(
            "GET",
            "/Users?filter=family_name%20eq%20%22Turing%22",
            one,
            None,
            200,
            Some(list(1, 1, vec![alan.clone()])),
            &[],
        ),
        // [T] userName eq, as Entra and Okta send it.
        exchange(
            "GET",
            "/Users?filter=userName%20eq%20%22grace%40acme.example%22",
            one,
            None,
            200,
            Some(list(1, 1, vec![grace.clone()])),
            &[],
        ),
        // [N] Notion's own unquoted example.
        exchange(
            "GET",
            "/Groups?filter=displayName%20eq%20Designers",
            one,
            None,
            200,
            Some(list(1, 1, vec![designers(vec![member(a), member(b)])])),
            &[],
        ),
        // [T] Entra's excludedAttributes=members.
        exchange(
            "GET",
            "/Groups?excludedAttributes=members",
            one,
            None,
            200,
            Some(list(
                1,
                1,
                vec![json!({ "schemas": [GROUP_URN], "id": g, "displayName": "Designers" })],
            )),
            &[],
        ),
        // [T] the role as a no-path value; [N] PATCH answers 200 with the updated user.
        exchange(
            "PATCH",
            &format!("/Users/{t}"),
            one,
            Some(patch(
                json!([{ "op": "replace", "value": { NOTION_EXT: { "role": "restricted_member" } } }]),
            )),
            200,
            Some(restricted),
            &[],
        ),
        // [T] a group member added with a capitalised op.
        exchange(
            "PATCH",
            &format!("/Groups/{g}"),
            one,
            Some(patch(
                json!([{ "op": "Add", "path": "members", "value": [{ "value": t }] }]),
            )),
            200,
            Some(designers(vec![member(a), member(b), member(t)])),
            &[],
        ),
        // [T] active as the string "False" (Entra); [N] it removes the person.
        exchange(
            "PATCH",
            &format!("/Users/{b}"),
            one,
            Some(patch(json!([{ "op": "Replace", "path": "active", "value": "False" }]))),
            200,
            Some(gone),
            &[],
        ),
        // [T] GET by id after removal answers 404.
        exchange("GET", &format!("/Users/{b}"), one, None, 404, Some(error(404)), &[]),
        // [N] DELETE removes the person; [T] 404 afterwards.
        exchange("DELETE", &format!("/Users/{t}"), one, None, 204, None, &[]),
        exchange("GET", &format!("/Users/{t}"), one, None, 404, Some(error(404)), &[]),
        // [N] a bad token is refused (non-2xx; 401 is the guess [?]).
        exchange(
            "GET",
            "/Users?count=1",
            "Bearer credential-2",
            None,
            401,
            Some(error(401)),
            &[],
        ),
    ];
    c
}

fn documented_accepted() -> AcceptFile {
    let a = |path: &str, request: &str, reason: &str| Accepted {
        path: path.into(),
        request: Some(request.into()),
        reason: reason.into(),
    };
    let spc = "the capture records only the support flags [O]; the rest of the document is the emulation's own";
    let meta = "[?] no Notion group was ever captured: clients model groups without meta; the emulation guesses a user-style meta (--group-meta true)";
    AcceptFile {
        accepted: vec![
            a("$.authenticationSchemes", "GET /ServiceProviderConfig", spc),
            a("$.bulk.maxOperations", "GET /ServiceProviderConfig", spc),
            a("$.bulk.maxPayloadSize", "GET /ServiceProviderConfig", spc),
            a("$.changePassword", "GET /ServiceProviderConfig", spc),
            a("$.documentationUri", "GET /ServiceProviderConfig", spc),
            a("$.filter.maxResults", "GET /ServiceProviderConfig", spc),
            a("$.meta", "GET /ServiceProviderConfig", spc),
            a("$.Resources[*].meta", "GET /Groups*", meta),
            a("$.meta", "PATCH /Groups/*", meta),
        ],
    }
}

fn check_or_write(name: &str, text: String) {
    let path = dir().join(name);
    if std::env::var_os("UPDATE_FIXTURES").is_some() {
        std::fs::write(&path, text).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == text,
        "{} is not what tests/fidelity.rs builds: run UPDATE_FIXTURES=1 cargo test -p notion-conformance --test fidelity",
        path.display()
    );
}

#[test]
fn synthetic_fixtures_are_up_to_date() {
    check_or_write("documented-examples.json", documented().to_json().unwrap());
    let mut accepted = serde_json::to_string_pretty(&documented_accepted()).unwrap();
    accepted.push('\n');
    check_or_write("documented-examples.json.accepted.json", accepted);
    check_or_write("live-capture-shapes.json", live_capture().to_json().unwrap());
}

// ---------------------------------------------------------------------------------------
// Fidelity.

#[tokio::test(flavor = "multi_thread")]
async fn every_fixture_passes() {
    let all = fixtures();
    let names: Vec<&str> = all.iter().map(|(n, _, _)| n.as_str()).collect();
    for want in [
        "documented-examples.json",
        "emulation-probe.json",
        "emulation-sync.json",
        "live-capture-shapes.json",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    for (name, c, accept) in all {
        let label = &c.notion_conformance.source;
        assert!(
            ["emulation", "synthetic"].contains(&label.kind.as_str()),
            "{name}: {}",
            label.kind
        );
        assert!(
            label.description.contains("NOT a"),
            "{name} does not say it is no recording of a tenant"
        );
        let used = !accept.accepted.is_empty();
        let report = run(&c, Quirks::default(), accept, false).await;
        assert_eq!(report.unaccepted(), 0, "{name}:\n{}", report.render());
        assert!(
            !report.notes.iter().any(|n| n.contains("stale")),
            "{name}: {:?}",
            report.notes
        );
        if used {
            assert!(report.findings.iter().all(|f| f.accepted.is_some()));
            assert!(!report.findings.is_empty());
        }
    }
}

/// One change to a copy of a fixture, and the departure it must cause (`None`: none, since
/// the comparison knows SCIM).
struct Tamper {
    what: &'static str,
    cassette: &'static str,
    change: fn(&mut Cassette),
    expect: Option<(&'static str, &'static str)>,
}

fn body_of(c: &mut Cassette, i: usize) -> Value {
    c.http_interactions[i].response.body.json().unwrap()
}

fn set_body(c: &mut Cassette, i: usize, v: Value) {
    c.http_interactions[i].response.body.string = v.to_string();
}

fn edit_first_user(c: &mut Cassette, f: fn(&mut Value)) {
    let mut page = body_of(c, 0);
    f(&mut page["Resources"][0]);
    set_body(c, 0, page);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tampered_copy_fails_and_says_where() {
    let cases = [
        Tamper {
            what: "another status",
            cassette: "live-capture-shapes.json",
            change: |c| c.http_interactions[2].response.status.code = 404,
            expect: Some(("status", "recorded 404, emulation 200")),
        },
        Tamper {
            what: "a renamed attribute",
            cassette: "live-capture-shapes.json",
            change: |c| {
                edit_first_user(c, |u| {
                    let v = u.as_object_mut().unwrap().remove("userName").unwrap();
                    u["user_name"] = v;
                })
            },
            expect: Some(("$.Resources[*].user_name", "missing in the emulation")),
        },
        Tamper {
            what: "a boolean as a string",
            cassette: "live-capture-shapes.json",
            change: |c| edit_first_user(c, |u| u["active"] = json!("true")),
            expect: Some(("$.Resources[*].active", "recorded string")),
        },
        Tamper {
            what: "an RFC 3339 time",
            cassette: "live-capture-shapes.json",
            change: |c| edit_first_user(c, |u| u["meta"]["created"] = json!("2026-01-01T00:00:00Z")),
            expect: Some(("$.Resources[*].meta.created", "RFC 3339")),
        },
        Tamper {
            what: "another value",
            cassette: "live-capture-shapes.json",
            change: |c| edit_first_user(c, |u| u["displayName"] = json!("Someone Else")),
            expect: Some(("$.Resources[*].displayName", "\"Someone Else\"")),
        },
        Tamper {
            // (Data alone is absorbed: the emulation is seeded from what the cassette shows.
            // A count that disagrees with the page is behaviour.)
            what: "a page that miscounts itself",
            cassette: "emulation-sync.json",
            change: |c| {
                let mut page = body_of(c, 0);
                page["itemsPerPage"] = json!(99);
                set_body(c, 0, page);
            },
            expect: Some(("$.itemsPerPage", "recorded 99, emulation 100")),
        },
        Tamper {
            what: "another media type",
            cassette: "live-capture-shapes.json",
            change: |c| {
                c.http_interactions[3]
                    .response
                    .headers
                    .insert("content-type".into(), vec!["application/json; charset=utf-8".into()]);
            },
            expect: Some(("header:content-type", "application/json")),
        },
        Tamper {
            what: "attribute names in another case, elements in another order (no departure)",
            cassette: "live-capture-shapes.json",
            change: |c| {
                edit_first_user(c, |u| {
                    let o = u.as_object_mut().unwrap();
                    let v = o.remove("userName").unwrap();
                    o.insert("USERNAME".into(), v);
                    let v = o.remove("displayName").unwrap();
                    o.insert("displayname".into(), v);
                });
                let mut page = body_of(c, 0);
                page["Resources"].as_array_mut().unwrap().reverse();
                set_body(c, 0, page);
            },
            expect: None,
        },
        Tamper {
            what: "meta times changed, same form (no departure)",
            cassette: "live-capture-shapes.json",
            change: |c| edit_first_user(c, |u| u["meta"]["lastModified"] = json!("1999999999999")),
            expect: None,
        },
    ];
    for case in cases {
        let mut c = fixture(case.cassette);
        (case.change)(&mut c);
        let report = run(&c, Quirks::default(), AcceptFile::default(), false).await;
        let rendered = report.render();
        match case.expect {
            None => assert_eq!(report.unaccepted(), 0, "{}: {rendered}", case.what),
            Some((path, detail)) => {
                assert!(report.unaccepted() > 0, "{}: no departure", case.what);
                assert!(
                    report
                        .findings
                        .iter()
                        .any(|f| f.path == path && f.detail.contains(detail)),
                    "{}: no departure at {path} saying {detail:?}:\n{rendered}",
                    case.what
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn each_departure_names_the_switch_that_removes_it() {
    // The emulation run with two wrong guesses against its own recording: the search must
    // find the two switches back.
    let c = fixture("emulation-probe.json");
    let quirks = Quirks {
        error_dialect: ErrorDialect::Notion,
        count_over_max: CountOverMax::Reject,
        ..Quirks::default()
    };
    let report = run(&c, quirks, AcceptFile::default(), true).await;
    assert!(report.unaccepted() > 0);
    let over = report
        .findings
        .iter()
        .find(|f| f.request == "GET /Users?count=150" && f.path == "status")
        .unwrap_or_else(|| panic!("{}", report.render()));
    assert!(
        over.removed_by.iter().any(|s| s.starts_with("--count-over-max clamp")),
        "{:?}",
        over.removed_by
    );
    let dialect = report
        .findings
        .iter()
        .find(|f| f.request == "GET /Me" && f.path == "$.object")
        .unwrap_or_else(|| panic!("{}", report.render()));
    assert_eq!(dialect.removed_by, vec!["--error-dialect rfc".to_string()]);
    // Every departure here is removed by one of the two.
    for f in &report.findings {
        assert!(
            f.removed_by
                .iter()
                .any(|s| s.starts_with("--error-dialect rfc") || s.starts_with("--count-over-max clamp")),
            "{} {}: {:?}",
            f.request,
            f.path,
            f.removed_by
        );
    }
    assert!(report.render().contains("removed by: --error-dialect rfc"));
}

#[tokio::test(flavor = "multi_thread")]
async fn accepted_departures_need_a_path_and_a_reason() {
    let mut c = fixture("live-capture-shapes.json");
    c.http_interactions[2].response.status.code = 404;
    let accept = AcceptFile {
        accepted: vec![Accepted {
            path: "status".into(),
            request: Some("GET /Users/*".into()),
            reason: "tampered on purpose".into(),
        }],
    };
    let report = run(&c, Quirks::default(), accept, false).await;
    assert_eq!(report.unaccepted(), 0, "{}", report.render());
    assert!(report.render().contains("reason: tampered on purpose"));
    // A request pattern that does not match leaves it unaccepted, and the entry is stale.
    let accept = AcceptFile {
        accepted: vec![Accepted {
            path: "status".into(),
            request: Some("GET /Groups/*".into()),
            reason: "elsewhere".into(),
        }],
    };
    let report = run(&c, Quirks::default(), accept, false).await;
    assert_eq!(report.unaccepted(), 1);
    assert!(report.notes.iter().any(|n| n.contains("stale")), "{:?}", report.notes);

    let tmp = tempfile::tempdir().unwrap();
    for (text, want) in [
        (
            r#"{"accepted": [{"path": "status", "reason": " "}]}"#,
            "gives no reason",
        ),
        (r#"{"accepted": [{"path": "status"}]}"#, "missing field `reason`"),
        (
            r#"{"accepted": [{"path": "status", "reason": "x", "why": "y"}]}"#,
            "unknown field `why`",
        ),
    ] {
        let p = tmp.path().join("a.json");
        std::fs::write(&p, text).unwrap();
        let err = format!("{:#}", AcceptFile::load(&p).unwrap_err());
        assert!(err.contains(want), "{err}");
    }
}

#[test]
fn the_command_exits_non_zero_on_a_departure() {
    let runner = env!("CARGO_BIN_EXE_notion-conformance");
    let ok = std::process::Command::new(runner)
        .args(["fidelity", "--cassette"])
        .arg(dir().join("documented-examples.json"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&ok.stdout).to_string();
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(text.contains("accepted departures from"), "{text}");
    assert!(text.contains("0 not accepted"), "{text}");

    let mut c = fixture("emulation-sync.json");
    c.http_interactions[0].response.status.code = 500;
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("tampered.json");
    c.save(&path).unwrap();
    let bad = std::process::Command::new(runner)
        .args(["fidelity", "--no-suggest", "--cassette"])
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&bad.stdout).to_string();
    assert_eq!(bad.status.code(), Some(1), "{text}");
    assert!(
        text.contains("DEPARTS status (status): recorded 500, emulation 200"),
        "{text}"
    );
}
