//! The behaviour suite discriminates: on the emulation with its default quirks every case
//! passes and names the default switches; with other quirks the notes name those; and a target
//! that breaks an [N]/[O] fact, or does something no switch describes, fails the case with a
//! message naming what.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::time::{Duration, Instant};

use notion_conformance::connector::Connector;
use notion_conformance::suites::{behaviour, Ctx};
use notion_conformance::target::{Lab, Skip};
use notion_scim_mock::quirks::{
    CountOverMax, ErrorDialect, PostExistingMember, ResponseContentType, UndocumentedEndpoints, UnsupportedFilter,
};
use notion_scim_mock::{MockServer, Quirks, Role};

fn ctx(lab: Lab) -> &'static Ctx {
    Box::leak(Box::new(Ctx {
        lab: Box::leak(Box::new(lab)),
        connector: Connector::InProcess,
        seed: 1,
        cases: 2,
        work: tempfile::tempdir().unwrap(),
        invocation: String::new(),
    }))
}

/// Runs the named behaviour cases (all when `only` is empty): name, verdict, time.
async fn run(ctx: &'static Ctx, only: &[&str]) -> Vec<(&'static str, Result<String, anyhow::Error>, Duration)> {
    let mut out = Vec::new();
    for case in behaviour::cases() {
        if !only.is_empty() && !only.contains(&case.name) {
            continue;
        }
        let started = Instant::now();
        let verdict = (case.run)(ctx).await;
        let elapsed = started.elapsed();
        match &verdict {
            Ok(note) => println!("{:24} {:>6.3}s pass  {note}", case.name, elapsed.as_secs_f64()),
            Err(e) => println!("{:24} {:>6.3}s FAIL  {e:#}", case.name, elapsed.as_secs_f64()),
        }
        out.push((case.name, verdict, elapsed));
    }
    out
}

fn note_of<'a>(results: &'a [(&str, Result<String, anyhow::Error>, Duration)], name: &str) -> &'a str {
    match results.iter().find(|(n, _, _)| *n == name) {
        Some((_, Ok(note), _)) => note,
        Some((_, Err(e), _)) => panic!("{name} failed: {e:#}"),
        None => panic!("no case {name}"),
    }
}

fn failure_of(results: &[(&str, Result<String, anyhow::Error>, Duration)], name: &str) -> String {
    match results.iter().find(|(n, _, _)| *n == name) {
        Some((_, Err(e), _)) => format!("{e:#}"),
        Some((_, Ok(note), _)) => panic!("{name} passed but must fail: {note}"),
        None => panic!("no case {name}"),
    }
}

fn assert_names(results: &[(&str, Result<String, anyhow::Error>, Duration)], expected: &[(&str, &str)]) {
    for (case, switch) in expected {
        let note = note_of(results, case);
        assert!(
            note.contains(switch),
            "{case}: the note does not name {switch:?}: {note}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_quirks_pass_and_name_the_defaults() {
    let ctx = ctx(Lab::embedded());
    let results = run(ctx, &[]).await;
    assert_eq!(results.len(), behaviour::cases().len());
    for (name, verdict, _) in &results {
        assert!(
            verdict.is_ok(),
            "{name} failed on the default emulation: {:#}",
            verdict.as_ref().unwrap_err()
        );
    }
    assert_names(
        &results,
        &[
            ("discovery", "--response-content-type scim-json"),
            ("auth", "--auth-failure-status 401"),
            ("paging", "--count-over-max clamp"),
            ("paging", "--default-count 100"),
            ("filters", "--unsupported-filter reject"),
            ("group-shape", "--group-meta true"),
            ("group-shape", "--list-groups-with-members true"),
            ("errors", "--error-dialect rfc"),
            ("undocumented-endpoints", "--undocumented-endpoints not-implemented"),
            ("writes", "--created-with-location true"),
            ("writes", "--default-role member"),
            ("writes", "--post-existing-member conflict"),
            ("writes", "--put-clears-omitted true"),
            ("writes", "--readd-keeps-id true"),
        ],
    );
    // Facts that held are listed by evidence tag: a note without them proves nothing.
    assert!(note_of(&results, "discovery").contains("[O] spc-sort"));
    assert!(note_of(&results, "paging").contains("[N] start-index-1-based"));
    assert!(note_of(&results, "user-shape").contains("[O] emails-without-type"));
}

fn changed_quirks() -> Quirks {
    Quirks {
        error_dialect: ErrorDialect::Notion,
        auth_failure_status: 403,
        count_over_max: CountOverMax::Reject,
        default_count: 50,
        unsupported_filter: UnsupportedFilter::Ignore,
        list_groups_with_members: false,
        group_meta: false,
        readd_keeps_id: false,
        post_existing_member: PostExistingMember::ReturnExisting,
        default_role: Role::RestrictedMember,
        created_with_location: false,
        put_clears_omitted: false,
        undocumented_endpoints: UndocumentedEndpoints::NotFound,
        response_content_type: ResponseContentType::Json,
        ..Quirks::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_quirks_are_named() {
    let server = MockServer::builder()
        .seed(5)
        .users(130)
        .groups(6)
        .quirks(changed_quirks())
        .start()
        .await;
    let lab = Lab::remote(
        &server.base_url(),
        server.token(),
        true,
        Some("conformance.example.com".into()),
        5,
    )
    .await
    .unwrap();
    let results = run(ctx(lab), &[]).await;
    for (name, verdict, _) in &results {
        assert!(
            verdict.is_ok(),
            "{name} failed on the changed emulation: {:#}",
            verdict.as_ref().unwrap_err()
        );
    }
    assert_names(
        &results,
        &[
            ("discovery", "--response-content-type json"),
            ("auth", "--auth-failure-status 403"),
            ("paging", "--count-over-max reject"),
            ("paging", "--default-count 50"),
            ("filters", "--unsupported-filter ignore"),
            ("group-shape", "--group-meta false"),
            ("group-shape", "--list-groups-with-members false"),
            ("errors", "--error-dialect notion"),
            ("undocumented-endpoints", "--undocumented-endpoints not-found"),
            ("writes", "--created-with-location false"),
            ("writes", "--default-role restricted_member"),
            ("writes", "--post-existing-member return-existing"),
            ("writes", "--put-clears-omitted false"),
            ("writes", "--readd-keeps-id false"),
        ],
    );
    // The writes removed the account they made.
    assert!(server
        .truth()
        .users
        .iter()
        .all(|u| !u.user_name.starts_with("behaviour-")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_skip_without_allow_writes() {
    let server = MockServer::builder().seed(3).users(5).groups(1).start().await;
    let lab = Lab::remote(&server.base_url(), server.token(), false, None, 5)
        .await
        .unwrap();
    let results = run(ctx(lab), &["writes", "auth"]).await;
    let writes = results.iter().find(|(n, _, _)| *n == "writes").unwrap();
    let err = writes.1.as_ref().unwrap_err();
    assert!(err.downcast_ref::<Skip>().is_some(), "writes must skip: {err:#}");
    assert!(note_of(&results, "auth").contains("--auth-failure-status 401"));
    assert_eq!(server.truth().users.len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_faithful_fake_passes() {
    // The fake servers below differ from this one by one fault each: this run proves that
    // each failure comes from that fault.
    let base = fake::start(fake::Breakage::default()).await;
    let lab = Lab::remote(&base, fake::TOKEN, false, None, 5).await.unwrap();
    let results = run(
        ctx(lab),
        &["discovery", "paging", "user-shape", "undocumented-endpoints"],
    )
    .await;
    for (name, verdict, _) in &results {
        assert!(
            verdict.is_ok(),
            "{name} failed on the faithful fake: {:#}",
            verdict.as_ref().unwrap_err()
        );
    }
}

async fn broken(breakage: fake::Breakage, case: &str) -> String {
    let base = fake::start(breakage).await;
    let lab = Lab::remote(&base, fake::TOKEN, false, None, 5).await.unwrap();
    let results = run(ctx(lab), &[case]).await;
    failure_of(&results, case)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sort_supported_fails_discovery() {
    let msg = broken(
        fake::Breakage {
            sort_supported: true,
            ..Default::default()
        },
        "discovery",
    )
    .await;
    assert!(
        msg.contains("[O] ServiceProviderConfig declares sort unsupported"),
        "{msg}"
    );
    assert!(msg.contains("sort.supported is Some(true)"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_based_paging_fails() {
    let msg = broken(
        fake::Breakage {
            zero_based: true,
            ..Default::default()
        },
        "paging",
    )
    .await;
    assert!(msg.contains("[N] startIndex is 1-based (Users)"), "{msg}");
    assert!(msg.contains("startIndex=3 showed 0 item(s)"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_extension_urn_in_schemas_fails_user_shape() {
    let msg = broken(
        fake::Breakage {
            extension_in_schemas: true,
            ..Default::default()
        },
        "user-shape",
    )
    .await;
    assert!(
        msg.contains("[O] a user's schemas lists only the core User URN"),
        "{msg}"
    );
    assert!(msg.contains("3 of 3"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behaviour_no_switch_describes_fails() {
    let msg = broken(
        fake::Breakage {
            me_answers: true,
            ..Default::default()
        },
        "undocumented-endpoints",
    )
    .await;
    assert!(msg.contains("no switch of the emulation describes this"), "{msg}");
    assert!(msg.contains("GET /Me 200"), "{msg}");
}

/// A hand-written SCIM server that keeps Notion's observed facts except for one fault, to
/// show the suite failing on exactly that fault. Three users, one group.
mod fake {
    use serde_json::{json, Value};
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    use tokio::net::TcpListener;

    pub const TOKEN: &str = "fake-token";
    const USER_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
    const EXT: &str = "urn:ietf:params:scim:schemas:extension:notion:2.0:User";
    const LOCATION: &str = "https://app.notion.com/scim/v2";

    #[derive(Debug, Clone, Copy, Default)]
    pub struct Breakage {
        /// ServiceProviderConfig declares sort supported (Notion's says not [O]).
        pub sort_supported: bool,
        /// `startIndex` read as a 0-based offset (Notion's is 1-based [N]).
        pub zero_based: bool,
        /// Users list the extension URN in `schemas` (Notion's list only the core URN [O]).
        pub extension_in_schemas: bool,
        /// `/Me` answers 200: neither of the emulation's `--undocumented-endpoints` values.
        pub me_answers: bool,
    }

    fn user(i: usize, b: Breakage) -> Value {
        let id = format!("00000000-0000-4000-8000-00000000000{i}");
        let mut schemas = vec![USER_URN];
        if b.extension_in_schemas {
            schemas.push(EXT);
        }
        json!({
            "schemas": schemas,
            "id": id,
            "userName": format!("user{i}@fake.example.com"),
            "name": {"givenName": format!("Ann{i}"), "familyName": "Lee", "formatted": format!("Ann{i} Lee")},
            "displayName": format!("Ann{i} Lee"),
            "emails": [{"value": format!("user{i}@fake.example.com"), "primary": true}],
            "active": true,
            "photos": [],
            "meta": {"resourceType": "User", "created": "1787393411245", "lastModified": "1787393411245",
                     "location": format!("{LOCATION}/Users/{id}")},
            EXT: {"role": "member"}
        })
    }

    fn group() -> Value {
        json!({"id": "00000000-0000-4000-9000-000000000001", "displayName": "Designers",
               "members": [{"value": "00000000-0000-4000-8000-000000000001", "type": "User"}]})
    }

    fn error(status: u16) -> (u16, Value) {
        (
            status,
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                        "status": status.to_string(), "detail": "fake"}),
        )
    }

    fn list(items: Vec<Value>, query: &str, b: Breakage) -> (u16, Value) {
        let param = |k: &str| {
            query
                .split('&')
                .filter_map(|p| p.split_once('='))
                .find(|(n, _)| *n == k)
                .and_then(|(_, v)| v.parse::<usize>().ok())
        };
        let start = param("startIndex").unwrap_or(1).max(1);
        let count = param("count").unwrap_or(100).min(100);
        let from = if b.zero_based { start } else { start - 1 };
        let page: Vec<Value> = items.iter().skip(from).take(count).cloned().collect();
        (
            200,
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
                     "totalResults": items.len(), "startIndex": start, "itemsPerPage": page.len(),
                     "Resources": page}),
        )
    }

    fn answer(b: Breakage, method: &str, target: &str, authed: bool) -> (u16, Value) {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let Some(path) = path.strip_prefix("/scim/v2/") else {
            return error(404);
        };
        if path == "ServiceProviderConfig" {
            return (
                200,
                json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
                    "patch": {"supported": true}, "filter": {"supported": true, "maxResults": 100},
                    "sort": {"supported": b.sort_supported}, "bulk": {"supported": false},
                    "etag": {"supported": false}, "changePassword": {"supported": false}
                }),
            );
        }
        if !authed {
            return error(401);
        }
        let users: Vec<Value> = (1..=3).map(|i| user(i, b)).collect();
        match (method, path) {
            ("GET", "ResourceTypes") => list(
                vec![
                    json!({"id": "User", "name": "User", "endpoint": "/Users"}),
                    json!({"id": "Group", "name": "Group", "endpoint": "/Groups"}),
                ],
                "",
                b,
            ),
            ("GET", "Users") => list(users, query, b),
            ("GET", "Groups") => list(vec![group()], query, b),
            ("GET", "Schemas") => list(vec![json!({"id": USER_URN})], "", b),
            ("GET", "Me") if b.me_answers => (200, users[0].clone()),
            (_, "Me" | "Bulk" | ".search") => error(501),
            ("GET", p) => match p.strip_prefix("Users/") {
                Some(id) => users
                    .into_iter()
                    .find(|u| u["id"] == id)
                    .map_or_else(|| error(404), |u| (200, u)),
                None => error(404),
            },
            _ => error(405),
        }
    }

    async fn serve(stream: tokio::net::TcpStream, b: Breakage) -> std::io::Result<()> {
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line).await?;
        let mut parts = line.split_whitespace();
        let (method, target) = (
            parts.next().unwrap_or("").to_string(),
            parts.next().unwrap_or("").to_string(),
        );
        let (mut length, mut authed) = (0usize, false);
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).await? == 0 || header.trim().is_empty() {
                break;
            }
            let lower = header.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
            if lower.starts_with("authorization:") && header.trim_end().ends_with(&format!("Bearer {TOKEN}")) {
                authed = true;
            }
        }
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body).await?;
        let (status, json) = answer(b, &method, &target, authed);
        let text = json.to_string();
        let head = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/scim+json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            text.len()
        );
        let mut stream = reader.into_inner();
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(text.as_bytes()).await?;
        stream.shutdown().await
    }

    /// Starts the fake on a random loopback port; its SCIM base URL. It lives as long as the
    /// test's runtime.
    pub async fn start(b: Breakage) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, b));
            }
        });
        format!("http://{addr}/scim/v2")
    }
}
