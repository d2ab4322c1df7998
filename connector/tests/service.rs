//! Service mode from the outside: the binary's start-up failures (malformed credentials, an
//! unreachable ConductorOne), the flags that belong to service mode, and the health-check
//! server and subcommand over real sockets. The task loop against a ConductorOne is exercised
//! end to end by the conformance crate's fake ConductorOne.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::net::TcpListener;
use std::process::Output;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use baton_notion::scim::client::{ClientConfig, RetryPolicy, ScimClient};
use baton_notion::secret::Secret;
use baton_notion::service::credentials::encode_client_secret;
use baton_notion::service::health;
use common::tempdir;
use notion_scim_mock::MockServer;
use tokio_util::sync::CancellationToken;

const CLIENT_ID: &str = "svc-test@127.0.0.1/test";
const SCIM_TOKEN: &str = "scim_TOKEN_never_printed";

fn good_secret() -> String {
    encode_client_secret("fixture", "fixture", &[5; 32])
        .map(|s| s.expose().to_owned())
        .unwrap()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The lines of stderr that are not JSON log events: what a person reads as the error.
fn error_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| !l.trim().is_empty() && serde_json::from_str::<serde_json::Value>(l).is_err())
        .collect()
}

async fn daemon(envs: &[(&str, &str)], args: &[&str]) -> Output {
    let dir = tempdir();
    common::run_binary(dir.path(), args, envs).await
}

fn assert_no_secret(o: &Output, secrets: &[&str]) {
    let (out, err) = text(o);
    for s in secrets {
        let key = s.rsplit(':').next().unwrap_or(s);
        assert!(
            !out.contains(key) && !err.contains(key),
            "a secret was printed:\n{out}\n{err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_credentials_fail_in_one_line_without_the_secret() {
    let good = good_secret();
    let wrong_version = good.replacen(":v1:", ":v2:", 1);
    for bad in ["s3cr3t-VALUE", "a:b:v1:SECRETxyz%%", wrong_version.as_str()] {
        let o = daemon(
            &[
                ("BATON_CLIENT_ID", CLIENT_ID),
                ("BATON_CLIENT_SECRET", bad),
                ("BATON_SCIM_TOKEN", SCIM_TOKEN),
                ("BATON_C1_API_HOST", "127.0.0.1:9"),
            ],
            &[],
        )
        .await;
        let (_, err) = text(&o);
        assert_eq!(o.status.code(), Some(1), "{err}");
        let lines = error_lines(&err);
        assert_eq!(lines.len(), 1, "{err}");
        assert!(
            lines[0].starts_with("error: ") && lines[0].contains("--client-secret"),
            "{err}"
        );
        assert_no_secret(&o, &[bad, SCIM_TOKEN]);
    }
    for bad_id in ["no-host", "a@host-without-suffix"] {
        let o = daemon(
            &[],
            &[
                "--client-id",
                bad_id,
                "--client-secret",
                &good,
                "--scim-token",
                SCIM_TOKEN,
            ],
        )
        .await;
        let (_, err) = text(&o);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert_eq!(error_lines(&err).len(), 1, "{err}");
        assert!(err.contains("--client-id (BATON_CLIENT_ID) is malformed"), "{err}");
        assert_no_secret(&o, &[&good, SCIM_TOKEN]);
    }
}

/// The daemon's variables: our credentials, the SCIM token and ConductorOne at `host`.
fn daemon_env<'a>(secret: &'a str, host: &'a str) -> [(&'static str, &'a str); 4] {
    [
        ("BATON_CLIENT_ID", CLIENT_ID),
        ("BATON_CLIENT_SECRET", secret),
        ("BATON_SCIM_TOKEN", SCIM_TOKEN),
        ("BATON_C1_API_HOST", host),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_conductorone_fails_once_with_one_line() {
    let good = good_secret();
    // A port nobody listens on.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let host = format!("127.0.0.1:{port}");
    let o = daemon(&daemon_env(&good, &host), &[]).await;
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
    let lines = error_lines(&err);
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].contains("cannot reach ConductorOne") && lines[0].contains(&host),
        "{err}"
    );
    assert_no_secret(&o, &[&good, SCIM_TOKEN]);

    // A server that takes each connection and hangs up: counted, to show the daemon gives up
    // rather than retry in a loop.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let host = format!("127.0.0.1:{}", listener.local_addr().unwrap().port());
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            counter.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    let o = daemon(&daemon_env(&good, &host), &[]).await;
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(error_lines(&err).len(), 1, "{err}");
    assert!(err.contains("token endpoint"), "{err}");
    let connections = accepted.load(Ordering::SeqCst);
    assert!(
        (1..=2).contains(&connections),
        "{connections} connections: a retry loop?"
    );
    assert_no_secret(&o, &[&good, SCIM_TOKEN]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_settings_without_a_client_id_are_refused_by_name() {
    let o = daemon(&[("BATON_SCIM_TOKEN", SCIM_TOKEN)], &["--client-secret", "s3cr3t"]).await;
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("--client-secret (BATON_CLIENT_SECRET)") && err.contains("--client-id"),
        "{err}"
    );
    assert!(!err.contains("s3cr3t"), "{err}");
    let o = daemon(
        &[("BATON_SCIM_TOKEN", SCIM_TOKEN), ("BATON_TASK_CONCURRENCY", "4")],
        &[],
    )
    .await;
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("BATON_TASK_CONCURRENCY"), "{}", text(&o).1);
    for (flag, value) in [
        ("--task-concurrency", "0"),
        ("--task-concurrency", "101"),
        ("--health-check-port", "0"),
    ] {
        let o = daemon(&[], &[flag, value]).await;
        assert_eq!(o.status.code(), Some(2), "{flag} {value}: {}", text(&o).1);
    }
    // The one-shot flags are not for service mode: there ConductorOne sends the tasks.
    let good = good_secret();
    let o = daemon(
        &[("BATON_SCIM_TOKEN", SCIM_TOKEN)],
        &[
            "--client-id",
            CLIENT_ID,
            "--client-secret",
            &good,
            "--delete-resource",
            "2f1f2a34-8d6b-4e55-9b1a-0c2c7f0f5a01",
            "--delete-resource-type",
            "user",
        ],
    )
    .await;
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("cannot be combined with service mode"), "{err}");
    assert_no_secret(&o, &[&good]);
}

fn scim_client(mock: &MockServer, token: &str) -> ScimClient {
    let mut config = ClientConfig::new(mock.base_url(), Secret::new(token));
    config.retry = RetryPolicy::fast();
    config.requests_per_minute = 0;
    ScimClient::new(config).unwrap()
}

async fn get(url: &str) -> (u16, String) {
    let r = reqwest::get(url).await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_health_server_answers_and_the_subcommand_asks_it() {
    // The validation runs on a LocalSet, as in the daemon (the SCIM client's futures are not Send).
    tokio::task::LocalSet::new().run_until(health_server_and_probe()).await;
}

async fn health_server_and_probe() {
    let mock = MockServer::builder().seed(3).users(5).groups(1).start().await;
    let stop = CancellationToken::new();
    let good = health::serve("127.0.0.1", 0, scim_client(&mock, mock.token()), stop.clone())
        .await
        .unwrap();
    let revoked = health::serve("127.0.0.1", 0, scim_client(&mock, "revoked-token"), stop.clone())
        .await
        .unwrap();

    assert_eq!(get(&format!("http://{good}/live")).await, (200, "alive".into()));
    assert_eq!(get(&format!("http://{good}/ready")).await, (200, "ready".into()));
    let (status, body) = get(&format!("http://{good}/health")).await;
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!((status, body["status"].as_str()), (200, Some("healthy")), "{body}");
    assert!(body["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')), "{body}");
    let (status, body) = get(&format!("http://{revoked}/health")).await;
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!((status, body["status"].as_str()), (503, Some("unhealthy")), "{body}");
    assert!(body["details"]["validation_error"].as_str().is_some(), "{body}");
    assert!(!body.to_string().contains("revoked-token"), "{body}");
    assert_eq!(get(&format!("http://{good}/healthz")).await.0, 404);

    // The subcommand: exit 0 only on 200.
    let probe = |addr: std::net::SocketAddr, endpoint: &'static str| {
        let port = addr.port().to_string();
        async move {
            let dir = tempdir();
            common::run_binary(
                dir.path(),
                &["health-check", "--endpoint", endpoint, "--health-check-port", &port],
                &[],
            )
            .await
        }
    };
    for endpoint in ["health", "ready", "live"] {
        let o = probe(good, endpoint).await;
        assert_eq!(o.status.code(), Some(0), "{endpoint}: {:?}", text(&o));
    }
    let o = probe(revoked, "health").await;
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("503"), "{err}");
    assert_eq!(probe(revoked, "live").await.status.code(), Some(0));

    // Nobody listening: a failure in one line naming the subcommand, within the timeout.
    stop.cancel();
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let o = probe(closed, "live").await;
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(error_lines(&err).len(), 1, "{err}");
    assert!(err.contains("health-check"), "{err}");
    // The environment names the port too, as for every flag.
    let dir = tempdir();
    let port = good.port().to_string();
    let o = common::run_binary(
        dir.path(),
        &["health-check", "--timeout", "2s"],
        &[("BATON_HEALTH_CHECK_PORT", &port)],
    )
    .await;
    // The server was stopped above, so this one fails too, but it asked the right port.
    assert!(text(&o).1.contains(&format!(":{port}/health")), "{:?}", text(&o));
}
