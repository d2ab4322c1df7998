//! A hostile server (or a careless gateway) that repeats the request's `Authorization` header
//! in its answers: the token must appear in nothing the connector prints, in either log format,
//! whatever it is doing (a sync and its retry warnings, `validate`, a provisioning operation).
//! And one that answers without end: refused at a bound, not read into memory.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const TOKEN: &str = "secret_hostile_echo_token_7f3a";

/// Accepts connections on a random local port; each request's head (up to its blank line) goes
/// to `answer` with the connection. Answers the base URL.
async fn serve<F, Fut>(answer: F) -> String
where
    F: Fn(TcpStream, String) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                answer(sock, String::from_utf8_lossy(&got).into_owned()).await;
            });
        }
    });
    format!("http://{addr}/scim/v2")
}

/// Answers every request with `status` and a body that echoes the Authorization header, in a
/// SCIM `detail`, in Notion's `message` and as a bare value.
async fn echo_server(status: u16) -> String {
    serve(move |mut sock: TcpStream, head: String| async move {
        let auth = head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("authorization:"))
            .map(|l| l["authorization:".len()..].trim().to_string())
            .unwrap_or_default();
        let body = serde_json::json!({
            "detail": format!("rejected request with Authorization: {auth}"),
            "message": format!("header was {auth}"),
            "echo": auth.trim_start_matches("Bearer ").to_string(),
        })
        .to_string();
        let reason = if status == 500 {
            "Internal Server Error"
        } else {
            "Bad Request"
        };
        let answer = format!(
            "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = sock.write_all(answer.as_bytes()).await;
    })
    .await
}

fn assert_clean(what: &str, out: &std::process::Output) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stdout.contains(TOKEN) && !stderr.contains(TOKEN),
        "{what}: the token was printed\nstdout: {stdout}\nstderr: {stderr}"
    );
    assert!(
        !out.status.success(),
        "{what}: a hostile server's errors cannot be a success"
    );
    assert!(
        stdout.contains("[REDACTED]") || stderr.contains("[REDACTED]"),
        "{what}: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_echoed_token_is_never_printed() {
    let dir = common::tempdir();
    for status in [500, 400] {
        let base = echo_server(status).await;
        let env = [("BATON_SCIM_TOKEN", TOKEN), ("BATON_BASE_URL", base.as_str())];
        for format in ["json", "console"] {
            let log = ["--log-format", format, "--log-level", "debug"];
            let sync = common::run_binary(dir.path(), &[&log[..], &["-f", "s.c1z"]].concat(), &env).await;
            assert_clean(&format!("sync, HTTP {status}, {format} logs"), &sync);
            let validate = common::run_binary(dir.path(), &[&["validate"][..], &log[..]].concat(), &env).await;
            assert_clean(&format!("validate, HTTP {status}, {format} logs"), &validate);
            let grant = common::run_binary(
                dir.path(),
                &[
                    &log[..],
                    &[
                        "-p",
                        "--grant-entitlement",
                        "role:member:assigned",
                        "--grant-principal",
                        "2f1f2a34-8d6b-4e55-9b1a-0c2c7f0f5a01",
                        "--grant-principal-type",
                        "user",
                    ],
                ]
                .concat(),
                &env,
            )
            .await;
            assert_clean(&format!("grant, HTTP {status}, {format} logs"), &grant);
        }
    }
}

/// Answers every request 200 with a body that never ends: chunked, one `[` then spaces (or, with
/// `announce`, a `Content-Length` of 10 GiB and then spaces), until the client hangs up.
async fn endless_server(announce: bool) -> String {
    serve(move |mut sock: TcpStream, _head: String| async move {
        let length = if announce {
            "content-length: 10737418240"
        } else {
            "transfer-encoding: chunked"
        };
        let head = format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n{length}\r\n\r\n");
        if sock.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        let spaces = vec![b' '; 64 * 1024];
        let mut piece = Vec::new();
        if announce {
            piece.extend_from_slice(&spaces);
        } else {
            piece.extend_from_slice(format!("{:x}\r\n", spaces.len()).as_bytes());
            piece.extend_from_slice(&spaces);
            piece.extend_from_slice(b"\r\n");
        }
        let _ = sock.write_all(if announce { b"[" } else { b"1\r\n[\r\n" }).await;
        while sock.write_all(&piece).await.is_ok() {}
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_answer_is_refused_at_a_bound() {
    use baton_notion::scim::client::{ClientConfig, RetryPolicy, ScimClient, ScimError};
    use baton_notion::secret::Secret;
    use baton_notion::sync::SyncError;

    for announce in [false, true] {
        let base = endless_server(announce).await;
        let mut config = ClientConfig::new(base, Secret::new(TOKEN));
        config.retry = RetryPolicy::fast();
        config.requests_per_minute = 0;
        config.max_body_bytes = 4 << 20;
        let client = ScimClient::new(config).expect("client");
        let dir = common::tempdir();
        let path = dir.path().join("s.c1z");
        let started = std::time::Instant::now();
        let err = baton_notion::sync::run(
            &client,
            &path,
            &baton_notion::sync::SyncOptions::default(),
            &baton_notion::progress::Progress::hidden(),
        )
        .await
        .expect_err("an endless answer");
        let message = err.to_string();
        assert!(
            matches!(&err, SyncError::Scim(ScimError::TooLarge { limit, .. }) if *limit == 4 << 20),
            "announced {announce}: {message}"
        );
        assert!(message.contains("4194304 bytes"), "{message}");
        assert!(!message.contains(TOKEN));
        // Refused, not retried: one request per list at most.
        let requests = client.stats().requests;
        assert!(requests <= 2, "{requests} requests");
        assert!(!path.exists(), "a failed first sync leaves no file");
        eprintln!("announced {announce}: refused in {:?}", started.elapsed());
    }
}
