//! Interruptions: Ctrl-C and SIGTERM during a sync clean up and leave the previous file as it
//! was; what a SIGKILL leaves is removed by the next run (only when no other run holds the
//! target); work files are private from the start; an empty target counts as no target.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use notion_scim_mock::MockServer;

/// A slow org: 600 users at 150 ms a request, so a sync takes a second or more.
async fn slow_org() -> MockServer {
    let mock = MockServer::builder().seed(8).users(600).groups(6).start().await;
    mock
}

fn spawn_sync(dir: &Path, mock: &MockServer) -> Child {
    Command::new(env!("CARGO_BIN_EXE_baton-notion"))
        .current_dir(dir)
        .args(["-f", "sync.c1z", "--base-url", &mock.base_url()])
        .env_clear()
        .env("BATON_SCIM_TOKEN", mock.token())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Names of the work files beside the target (the lock file excepted).
fn work_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".sync.c1z.") && !n.ends_with(".lock"))
        .collect()
}

/// Waits until the merge's work folder exists (the sync is under way), then signals.
fn signal_mid_sync(child: &Child, dir: &Path, signal: &str) {
    let started = Instant::now();
    while work_files(dir).is_empty() {
        assert!(started.elapsed() < Duration::from_secs(20), "the sync never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    let ok = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

async fn first_sync(dir: &Path, mock: &MockServer) -> Vec<u8> {
    let out = common::run_binary(
        dir,
        &["-f", "sync.c1z", "--base-url", &mock.base_url()],
        &[("BATON_SCIM_TOKEN", mock.token())],
    )
    .await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::read(dir.join("sync.c1z")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_and_sigterm_clean_up_and_keep_the_previous_file() {
    let mock = slow_org().await;
    let dir = common::tempdir();
    let before = first_sync(dir.path(), &mock).await;
    // Two rounds of requests at least (the first pages say how long the lists are): 600 ms,
    // well after the signal, sent 200 ms after the sync starts.
    mock.faults().latency(Duration::from_millis(300));
    for (signal, code) in [("-INT", 130), ("-TERM", 143)] {
        let child = spawn_sync(dir.path(), &mock);
        signal_mid_sync(&child, dir.path(), signal);
        let out = tokio::task::spawn_blocking(move || child.wait_with_output())
            .await
            .unwrap()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{signal}: {stderr}");
        assert!(stderr.contains("interrupted by SIG"), "{stderr}");
        assert!(!stderr.contains(mock.token()));
        assert_eq!(work_files(dir.path()), Vec::<String>::new(), "{signal} left work files");
        assert_eq!(std::fs::read(dir.path().join("sync.c1z")).unwrap(), before, "{signal}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_sigkill_leaves_is_private_and_removed_by_the_next_run() {
    let mock = slow_org().await;
    let dir = common::tempdir();
    let before = first_sync(dir.path(), &mock).await;
    // Two rounds of requests at least (the first pages say how long the lists are): 600 ms,
    // well after the signal, sent 200 ms after the sync starts.
    mock.faults().latency(Duration::from_millis(300));
    let mut child = spawn_sync(dir.path(), &mock);
    signal_mid_sync(&child, dir.path(), "-KILL");
    child.wait().unwrap();
    let left = work_files(dir.path());
    assert!(!left.is_empty(), "a SIGKILL leaves its work behind (nothing can run)");
    for name in &left {
        let path = dir.path().join(name);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        if path.is_dir() {
            assert_eq!(mode, 0o700, "{name} is readable by others");
            for inner in std::fs::read_dir(&path).unwrap().flatten() {
                let m = inner.metadata().unwrap().permissions().mode() & 0o777;
                assert_eq!(m & 0o077, 0, "{:?} is {m:o}", inner.file_name());
            }
        } else {
            assert_eq!(mode, 0o600, "{name} is readable by others");
        }
    }
    assert_eq!(std::fs::read(dir.path().join("sync.c1z")).unwrap(), before);

    // While another run holds the target, its files are left alone and this run refuses.
    let lock = std::fs::File::open(dir.path().join(".sync.c1z.lock")).unwrap();
    lock.try_lock().unwrap();
    mock.faults().clear();
    let busy = common::run_binary(
        dir.path(),
        &["-f", "sync.c1z", "--base-url", &mock.base_url()],
        &[("BATON_SCIM_TOKEN", mock.token())],
    )
    .await;
    assert!(!busy.status.success());
    assert!(
        String::from_utf8_lossy(&busy.stderr).contains("another sync into"),
        "{busy:?}"
    );
    assert_eq!(work_files(dir.path()), left, "files of a live run were touched");
    drop(lock);

    // The next run takes the lock, removes the leftovers and syncs.
    let out = common::run_binary(
        dir.path(),
        &["-f", "sync.c1z", "--base-url", &mock.base_url()],
        &[("BATON_SCIM_TOKEN", mock.token())],
    )
    .await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(work_files(dir.path()), Vec::<String>::new());
    let mode = std::fs::metadata(dir.path().join("sync.c1z"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_target_is_treated_as_absent() {
    let mock = MockServer::builder().seed(9).users(30).groups(2).start().await;
    let dir = common::tempdir();
    std::fs::write(dir.path().join("sync.c1z"), b"").unwrap();
    let out = common::run_binary(
        dir.path(),
        &["-f", "sync.c1z", "--base-url", &mock.base_url()],
        &[("BATON_SCIM_TOKEN", mock.token())],
    )
    .await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bytes = std::fs::read(dir.path().join("sync.c1z")).unwrap();
    assert!(bytes.starts_with(b"C1ZF\0"), "not a c1z");
}
