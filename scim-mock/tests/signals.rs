//! The standalone server stops cleanly on SIGTERM, as a container runtime stops it (`docker
//! stop`, Kubernetes): a container's first process gets no default action for SIGTERM, so a
//! server that ignored it would be killed only after the grace period.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_notion-scim-mock");

/// Kills the child when dropped, so a failing test leaves no server behind.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn sigterm_stops_the_server_cleanly_even_with_an_idle_connection() {
    let child = Command::new(BIN)
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--users",
            "3",
            "--groups",
            "1",
            "--token",
            "T",
        ])
        .env_remove("NOTION_SCIM_MOCK_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = Child(child);
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("notion-scim-mock listening on http://")
        .and_then(|rest| rest.strip_suffix("/scim/v2"))
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();

    // A keep-alive connection left open after one answer, as an HTTP client's pool leaves it.
    let mut conn = TcpStream::connect(&addr).unwrap();
    write!(
        conn,
        "GET /scim/v2/Users HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer T\r\n\r\n"
    )
    .unwrap();
    let mut head = [0u8; 12];
    conn.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");

    let pid = child.0.id().to_string();
    let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(sent.success(), "kill -TERM {pid}");
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "still running 20 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    // Killed by the signal would be no exit code at all; a clean stop exits 0.
    assert_eq!(status.code(), Some(0), "{status:?}");
    drop(conn);
}
