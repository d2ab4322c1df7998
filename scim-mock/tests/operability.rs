//! Running the emulation day to day: the journal's timestamps, filters and live stream, what a
//! reset resets, one spelling for quirk values, HTTPS, and the standalone server's start-up
//! lines, request log and stop.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::Duration;

use clap::{Args, Command as ClapCommand};
use common::*;
use notion_scim_mock::{Fault, JournalEntry, JournalFilter, MockServer, Quirks, ResetKeep};
use reqwest::Method;
use serde_json::{json, Value};

fn admin(mock: &MockServer, method: Method, path: &str) -> reqwest::RequestBuilder {
    client().request(method, format!("{}{path}", mock.admin_url()))
}

async fn journal_where(mock: &MockServer, query: &str) -> Resp {
    run(admin(mock, Method::GET, &format!("/journal?{query}"))).await
}

fn seqs(r: &Resp) -> Vec<u64> {
    r.body
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {}", r.text))
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect()
}

// ---------------------------------------------------------------- journal

#[tokio::test]
async fn journal_entries_carry_a_time_and_a_duration() {
    let mock = small().await;
    mock.faults()
        .script([Fault::Latency(Duration::from_millis(60)), Fault::None]);
    let before = time_now();
    assert_eq!(get(&mock, "/Users").await.status, 200);
    assert_eq!(get(&mock, "/Groups").await.status, 200);
    let j = mock.journal();
    assert!(
        j[0].duration_us >= 60_000,
        "the latency fault counts: {}",
        j[0].duration_us
    );
    assert!(j[1].duration_us < 60_000, "{}", j[1].duration_us);
    // To the second: `2026-12-01T18:48:19`.
    let after = time_now();
    let at = &j[0].at;
    assert!(at.len() > 19 && at.ends_with('Z'), "RFC 3339 in UTC: {at}");
    assert!(
        before[..19] <= at[..19] && at[..19] <= after[..19],
        "{before} <= {at} <= {after}"
    );
    // Older journals without the new fields still read.
    let old: JournalEntry = serde_json::from_value(json!({
        "seq": 1, "token": null, "method": "GET", "path": "/", "query": null,
        "status": 200, "fault": null, "body": null
    }))
    .unwrap();
    assert_eq!((old.at.as_str(), old.duration_us), ("", 0));
}

fn time_now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

#[tokio::test]
async fn the_journal_filters_by_token_method_path_status_and_seq() {
    let mock = MockServer::builder()
        .seed(3)
        .users(8)
        .groups(2)
        .workspaces(2)
        .start()
        .await;
    let second = mock.token_secret("tok_2").unwrap();
    let uid = plain_member(&mock);
    assert_eq!(get(&mock, "/Users").await.status, 200); // 1
    assert_eq!(get(&mock, "/Users/nope").await.status, 404); // 2
    assert_eq!(
        run(anon(&mock, Method::GET, "/Groups").bearer_auth(&second))
            .await
            .status,
        200
    ); // 3
    assert_eq!(run(anon(&mock, Method::GET, "/Users")).await.status, 401); // 4
    let ops = json!([{ "op": "replace", "path": "title", "value": "T" }]);
    assert_eq!(patch(&mock, &format!("/Users/{uid}"), ops).await.status, 200); // 5

    assert_eq!(seqs(&journal_where(&mock, "token=tok_1").await), [1, 2, 5]);
    assert_eq!(seqs(&journal_where(&mock, "token=tok_2").await), [3]);
    assert_eq!(seqs(&journal_where(&mock, "token=none").await), [4]);
    assert_eq!(seqs(&journal_where(&mock, "method=patch").await), [5]);
    assert_eq!(seqs(&journal_where(&mock, "path=/scim/v2/Users").await), [1, 4]);
    assert_eq!(seqs(&journal_where(&mock, "path=/scim/v2/Users*").await), [1, 2, 4, 5]);
    assert_eq!(seqs(&journal_where(&mock, "status=4xx").await), [2, 4]);
    assert_eq!(seqs(&journal_where(&mock, "status=404").await), [2]);
    assert_eq!(seqs(&journal_where(&mock, "since=3").await), [4, 5]);
    assert_eq!(
        seqs(&journal_where(&mock, "token=tok_1&method=GET&status=2xx").await),
        [1]
    );
    assert_eq!(seqs(&journal_where(&mock, "").await), [1, 2, 3, 4, 5]);
    // The same from Rust.
    let filter = JournalFilter {
        token: Some("tok_1".into()),
        status: Some("2xx".into()),
        ..JournalFilter::default()
    };
    let from_rust: Vec<u64> = mock.journal_where(&filter).iter().map(|e| e.seq).collect();
    assert_eq!(from_rust, [1, 5]);

    // Bad filters: one clear error, and a secret handed as a filter is never echoed.
    let r = journal_where(&mock, &format!("token={}", mock.token())).await;
    assert_rfc_error(&r, 400, Some("invalidValue"));
    assert!(!r.text.contains(mock.token()), "{}", r.text);
    assert!(r.text.contains("token id"), "{}", r.text);
    assert_rfc_error(&journal_where(&mock, "status=6xx").await, 400, Some("invalidValue"));
    assert_rfc_error(&journal_where(&mock, "since=x").await, 400, Some("invalidValue"));
    let r = journal_where(&mock, "colour=red").await;
    assert_rfc_error(&r, 400, Some("invalidValue"));
    assert!(r.text.contains("colour"), "{}", r.text);
}

/// Reads server-sent events from `resp` until `want` `request` events have come; returns them.
async fn read_events(resp: &mut reqwest::Response, want: usize) -> Vec<(u64, Value)> {
    let mut buf = String::new();
    let mut events = Vec::new();
    while events.len() < want {
        let chunk = tokio::time::timeout(Duration::from_secs(10), resp.chunk())
            .await
            .expect("an event within 10 s")
            .unwrap()
            .expect("the stream stays open");
        buf.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let mut id = None;
            let mut data = None;
            let mut kind = None;
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id: ") {
                    id = Some(v.parse::<u64>().unwrap());
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data = Some(serde_json::from_str::<Value>(v).unwrap());
                } else if let Some(v) = line.strip_prefix("event: ") {
                    kind = Some(v.to_string());
                }
            }
            if kind.as_deref() == Some("request") {
                events.push((id.unwrap(), data.unwrap()));
            }
        }
    }
    events
}

#[tokio::test]
async fn the_journal_streams_as_server_sent_events() {
    let mock = small().await;
    assert_eq!(get(&mock, "/Users").await.status, 200); // 1, before the stream opens
    assert_eq!(get(&mock, "/Groups").await.status, 200); // 2, filtered out
    let mut stream = admin(&mock, Method::GET, "/journal/stream?path=/scim/v2/Users*")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert_eq!(stream.headers()["content-type"].to_str().unwrap(), "text/event-stream");
    let backlog = read_events(&mut stream, 1).await;
    assert_eq!(backlog[0].0, 1);
    assert_eq!(backlog[0].1["path"], json!("/scim/v2/Users"));
    // New entries arrive as they are recorded; the Groups one does not pass the filter.
    assert_eq!(get(&mock, "/Groups").await.status, 200); // 3
    assert_eq!(get(&mock, "/Users/nope").await.status, 404); // 4
    let live = read_events(&mut stream, 1).await;
    assert_eq!(live[0].0, 4);
    assert_eq!(live[0].1["status"], json!(404));
    assert_eq!(live[0].1["token"], json!("tok_1"));
    assert!(!live[0].1.to_string().contains(mock.token()));

    // A reconnecting EventSource resumes after the last id it saw.
    let mut resumed = admin(&mock, Method::GET, "/journal/stream")
        .header("last-event-id", "3")
        .send()
        .await
        .unwrap();
    let again = read_events(&mut resumed, 1).await;
    assert_eq!(again[0].0, 4);
    assert_rfc_error(
        &run(admin(&mock, Method::GET, "/journal/stream?status=abc")).await,
        400,
        Some("invalidValue"),
    );
}

// ---------------------------------------------------------------- reset

#[tokio::test]
async fn reset_brings_back_everything_unless_told_to_keep_parts() {
    let started = Quirks {
        default_count: 7,
        ..Quirks::default()
    };
    let mock = small_with(started.clone()).await;
    let initial = mock.org_truth();
    /// Changes every part a reset may bring back.
    async fn dirty(mock: &MockServer, started: &Quirks) {
        let uid = plain_member(mock);
        assert_eq!(delete(mock, &format!("/Users/{uid}")).await.status, 204);
        mock.faults().script([Fault::Status(503)]);
        mock.set_quirks(Quirks {
            error_dialect: notion_scim_mock::quirks::ErrorDialect::Notion,
            ..started.clone()
        });
    }
    dirty(&mock, &started).await;
    assert_eq!(get(&mock, "/Users").await.status, 503);
    assert_eq!(run(admin(&mock, Method::POST, "/reset")).await.status, 204);
    assert_eq!(mock.org_truth(), initial, "org");
    assert!(mock.journal().is_empty(), "journal");
    assert_eq!(mock.quirks(), started, "quirks back to those the server started with");
    let r = get(&mock, "/Users").await;
    assert_eq!(r.status, 200, "faults cleared");
    assert_eq!(r.body["itemsPerPage"], json!(7));

    // Keeping parts: quirks and faults stay, org and journal go.
    dirty(&mock, &started).await;
    let r = run(admin(&mock, Method::POST, "/reset?keep=quirks,faults")).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(mock.org_truth(), initial);
    assert!(mock.journal().is_empty());
    assert_eq!(
        mock.quirks().error_dialect,
        notion_scim_mock::quirks::ErrorDialect::Notion
    );
    assert_notion_error(&get(&mock, "/Users").await, 503, "service_unavailable");
    // And the org alone.
    mock.reset();
    dirty(&mock, &started).await;
    mock.reset_keeping(ResetKeep {
        org: true,
        ..ResetKeep::default()
    });
    assert_ne!(mock.org_truth(), initial);
    assert_eq!(mock.quirks(), started);
    mock.reset();
    assert_eq!(mock.org_truth(), initial);

    let r = run(admin(&mock, Method::POST, "/reset?keep=everything")).await;
    assert_rfc_error(&r, 400, Some("invalidValue"));
    assert!(r.text.contains("org, journal, faults, quirks"), "{}", r.text);

    // A reseed resets the rest too.
    mock.set_quirks(Quirks {
        default_count: 2,
        ..Quirks::default()
    });
    let r = run(admin(&mock, Method::POST, "/reseed").json(&json!({ "seed": 4, "users": 12, "groups": 2 }))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(mock.quirks(), started);
    assert_eq!(get(&mock, "/Users").await.body["totalResults"], json!(12));
}

// ---------------------------------------------------------------- quirk spelling

#[tokio::test]
async fn quirk_values_are_spelled_alike_in_json_and_on_the_command_line() {
    let cmd = Quirks::augment_args(ClapCommand::new("quirks"));
    let mut checked = 0;
    for arg in cmd.get_arguments() {
        for value in arg.get_possible_values() {
            let name = value.get_name();
            let json_value = match name {
                "true" => json!(true),
                "false" => json!(false),
                other => json!(other),
            };
            let mut q = serde_json::to_value(Quirks::default()).unwrap();
            q[arg.get_id().as_str()] = json_value.clone();
            let parsed: Quirks = serde_json::from_value(q)
                .unwrap_or_else(|e| panic!("--{} {name} is not accepted in JSON: {e}", arg.get_id()));
            let back = serde_json::to_value(&parsed).unwrap();
            assert_eq!(
                back[arg.get_id().as_str()],
                json_value,
                "JSON spells --{} {name} alike",
                arg.get_id()
            );
            checked += 1;
        }
    }
    assert!(checked > 10, "{checked}");

    // Over HTTP: the documented spelling, and the older one quietly.
    let mock = small().await;
    let r = run(admin(&mock, Method::PUT, "/quirks").json(&json!({ "undocumented_endpoints": "not-found" }))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["undocumented_endpoints"], json!("not-found"));
    assert_eq!(get(&mock, "/Me").await.status, 404);
    let r = run(admin(&mock, Method::PUT, "/quirks").json(&json!({ "undocumented_endpoints": "not_implemented", "post_existing_member": "return_existing", "response_content_type": "scim_json" }))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["undocumented_endpoints"], json!("not-implemented"));
    assert_eq!(r.body["post_existing_member"], json!("return-existing"));
    assert_eq!(r.body["response_content_type"], json!("scim-json"));
    assert_eq!(get(&mock, "/Me").await.status, 501);
}

// ---------------------------------------------------------------- TLS

fn tls_client(ca_pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap())
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_emulation_serves_https_to_a_client_trusting_its_ca() {
    let mock = MockServer::builder().seed(3).users(5).groups(1).tls(true).start().await;
    assert!(mock.base_url().starts_with("https://127.0.0.1:"), "{}", mock.base_url());
    let ca = mock.ca_pem().unwrap().to_string();
    assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"));
    let r = tls_client(&ca)
        .get(format!("{}/Users", mock.base_url()))
        .bearer_auth(mock.token())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["totalResults"], json!(5));
    // By name too: the certificate covers localhost.
    let by_name = format!("https://localhost:{}/__admin/truth", mock.addr().port());
    assert_eq!(tls_client(&ca).get(by_name).send().await.unwrap().status(), 200);

    // A client that does not trust the CA is refused, and so is plain HTTP.
    let untrusted = reqwest::Client::new()
        .get(format!("{}/Users", mock.base_url()))
        .send()
        .await;
    assert!(untrusted.is_err());
    let plain = client()
        .get(format!("http://{}/scim/v2/Users", mock.addr()))
        .bearer_auth(mock.token())
        .send()
        .await;
    assert!(plain.is_err() || plain.unwrap().status() != 200);
    // Another server's CA does not vouch for this one.
    let other = MockServer::builder().users(1).groups(0).tls(true).start().await;
    let crossed = tls_client(other.ca_pem().unwrap())
        .get(format!("{}/Users", mock.base_url()))
        .send()
        .await;
    assert!(crossed.is_err());
    assert!(MockServer::builder().users(1).start().await.ca_pem().is_none());
}

// ---------------------------------------------------------------- the binary

const BIN: &str = env!("CARGO_BIN_EXE_notion-scim-mock");

/// A running `notion-scim-mock serve`: its base URL, stopped (SIGTERM) and read on `stop`, or
/// killed when dropped.
struct Served {
    child: std::process::Child,
    base: String,
    /// The start-up lines on stderr, up to the one saying how to stop.
    announced: String,
    stderr: BufReader<std::process::ChildStderr>,
}

impl Served {
    fn start(args: &[&str]) -> Served {
        let mut child = Command::new(BIN)
            .arg("serve")
            .args(["--addr", "127.0.0.1:0"])
            .args(args)
            .env_remove("NOTION_SCIM_MOCK_TOKEN")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .trim()
            .strip_prefix("notion-scim-mock listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut announced = String::new();
        while !announced.contains("stop with") {
            assert!(stderr.read_line(&mut announced).unwrap() > 0, "{announced}");
        }
        Served {
            child,
            base,
            announced,
            stderr,
        }
    }

    /// Sends SIGTERM and returns the exit status and what was written to stderr after the
    /// start-up lines.
    fn stop(mut self) -> (std::process::ExitStatus, String) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let mut err = String::new();
        self.stderr.read_to_string(&mut err).unwrap();
        (self.child.wait().unwrap(), err)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn the_binary_announces_the_secrets_that_work_for_every_workspace() {
    let org = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/orgs/small-org.json");
    let served = Served::start(&["--org", org.to_str().unwrap()]);
    let announced = served.announced.clone();
    // The file's own secret is announced, not the default that would get 401.
    assert!(
        announced.contains("token tok_1, secret secret_small_org_token"),
        "{announced}"
    );
    assert!(!announced.contains("secret_notion_scim_mock_token"), "{announced}");
    assert!(announced.contains("workspace 1 \"Acme\""), "{announced}");
    let pid = served.child.id();
    assert!(
        announced.contains(&format!("stop with Ctrl-C (or SIGTERM: kill {pid})")),
        "{announced}"
    );
    let r = run(client()
        .get(format!("{}/Users", served.base))
        .bearer_auth("secret_small_org_token"))
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let (status, err) = served.stop();
    assert!(status.success(), "a SIGTERM is a clean stop: {status:?}\n{err}");
    assert!(err.contains("notion-scim-mock stopped"), "{err}");

    // Two workspaces: both tokens, each announced secret accepted by its workspace.
    let served = Served::start(&[
        "--users",
        "6",
        "--groups",
        "1",
        "--workspaces",
        "2",
        "--log-level",
        "warn",
    ]);
    let mut secrets = Vec::new();
    for line in served.announced.lines() {
        if let Some(rest) = line.trim().strip_prefix("token ") {
            let (id, secret) = rest.split_once(", secret ").unwrap();
            secrets.push((id.to_string(), secret.to_string()));
        }
    }
    assert_eq!(
        secrets.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(),
        ["tok_1", "tok_2"],
        "{}",
        served.announced
    );
    for (_, secret) in &secrets {
        let r = run(client().get(format!("{}/Users", served.base)).bearer_auth(secret)).await;
        assert_eq!(r.status, 200, "{secret}: {}", r.text);
    }
}

#[tokio::test]
async fn the_binary_logs_each_request_without_secrets() {
    let served = Served::start(&[
        "--users",
        "4",
        "--groups",
        "1",
        "--token",
        "T0ken",
        "--log-level",
        "debug",
    ]);
    let base = served.base.clone();
    let r = run(client()
        .get(format!("{base}/Users?count=2&access_token=T0ken"))
        .bearer_auth("T0ken"))
    .await;
    assert_eq!(r.status, 200);
    let someone = r.body["Resources"][0]["userName"].as_str().unwrap().to_string();
    let domain = someone.split_once('@').unwrap().1;
    // A title holding the secret and a token-shaped word: stored and echoed by the server.
    let r = run(client()
        .post(format!("{base}/Users"))
        .bearer_auth("T0ken")
        .json(&json!({
            "userName": format!("new.person@{domain}"),
            "name": { "givenName": "New", "familyName": "Person" },
            "title": "ntn_abcdef123 T0ken"
        })))
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["title"], json!("ntn_abcdef123 T0ken"));
    let r = run(client().get(format!("{base}/Users/nope")).bearer_auth("wrong-secret_x")).await;
    assert_eq!(r.status, 401);
    let (status, err) = served.stop();
    assert!(status.success());
    let lines: Vec<&str> = err.lines().collect();
    let get_line = lines
        .iter()
        .find(|l| l.contains("GET /scim/v2/Users?count=2"))
        .unwrap_or_else(|| panic!("no request line:\n{err}"));
    assert!(get_line.contains("INFO"), "{get_line}");
    assert!(get_line.contains("-> 200 in"), "{get_line}");
    assert!(
        get_line.contains("status=200") && get_line.contains("duration_ms="),
        "{get_line}"
    );
    assert!(get_line.contains("token=tok_1"), "{get_line}");
    assert!(get_line.contains("access_token=[REDACTED]"), "{get_line}");
    let unauthorized = lines
        .iter()
        .find(|l| l.contains("/scim/v2/Users/nope"))
        .unwrap_or_else(|| panic!("no 401 line:\n{err}"));
    assert!(unauthorized.contains("-> 401"), "{unauthorized}");
    // Bodies at debug, with the secret and anything token-shaped masked.
    assert!(err.contains("request body") && err.contains("new.person@"), "{err}");
    assert!(err.contains("\"title\":\"[REDACTED] [REDACTED]\""), "{err}");
    assert!(err.contains("response body") && err.contains("totalResults"), "{err}");
    for secret in ["T0ken\"", "T0ken&", "ntn_abcdef123", "wrong-secret_x", "Bearer wrong"] {
        assert!(!err.contains(secret), "{secret:?} leaked into the log:\n{err}");
    }
}

#[tokio::test]
async fn the_binary_writes_its_ca_for_tls() {
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    let served = Served::start(&[
        "--users",
        "3",
        "--groups",
        "0",
        "--tls",
        "--tls-ca-file",
        ca_file.to_str().unwrap(),
        "--log-level",
        "warn",
    ]);
    assert!(served.base.starts_with("https://127.0.0.1:"), "{}", served.base);
    let ca = std::fs::read_to_string(&ca_file).unwrap();
    let r = tls_client(&ca)
        .get(format!("{}/Users", served.base))
        .bearer_auth(notion_scim_mock::DEFAULT_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        served
            .announced
            .contains(&format!("trust the CA in {}", ca_file.display())),
        "{}",
        served.announced
    );
    let (status, err) = served.stop();
    assert!(status.success(), "{err}");
    assert!(!ca.contains("PRIVATE KEY"), "only the certificate is written");
}

// ---------------------------------------------------------------- the README's examples

/// Every JSON body the README's admin API table shows is accepted by the call it documents.
#[tokio::test]
async fn the_readmes_admin_examples_are_accepted() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let mock = MockServer::builder().seed(3).users(8).groups(2).start().await;
    let mut tried = Vec::new();
    for row in readme
        .lines()
        .filter(|l| l.starts_with("| `") && l.contains("/__admin/"))
    {
        let call = match () {
            _ if row.contains("/__admin/faults") => (Method::PUT, "/faults"),
            _ if row.contains("/__admin/quirks") => (Method::PUT, "/quirks"),
            _ if row.contains("/__admin/reseed") => (Method::POST, "/reseed"),
            _ if row.contains("/__admin/journal/limits") => (Method::PUT, "/journal/limits"),
            _ => continue,
        };
        let bodies = row.split('`').skip(1).step_by(2).filter(|c| c.starts_with('{'));
        for body in bodies {
            let json: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{body}: {e}"));
            let r = run(admin(&mock, call.0.clone(), call.1).json(&json)).await;
            assert_eq!(r.status, 200, "{} {}: {body}\n{}", call.0, call.1, r.text);
            tried.push(call.1);
        }
        mock.reset();
    }
    for call in ["/faults", "/quirks", "/reseed", "/journal/limits"] {
        assert!(tried.contains(&call), "the README shows no body for {call}");
    }
}
