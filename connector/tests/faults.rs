//! Every fault the mock can inject: retried where it should be, fatal where it should be, and
//! a failed sync never touches the previous file.

// Helpers outside #[test] fns are test code too: clippy.toml's in-tests allowances do not reach them.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use baton_notion::cli::{validate, Validation};
use baton_notion::scim::client::{ClientConfig, Failure, RetryPolicy, ScimClient, ScimError};
use baton_notion::secret::Secret;
use baton_notion::sync::SyncError;
use common::{assert_same, client, client_with, request_counts, sync_into, tempdir, Snapshot};
use notion_scim_mock::{Fault, MockServer, RandomFaults, RateLimit};

async fn org() -> MockServer {
    MockServer::builder().seed(23).users(250).groups(20).start().await
}

/// Syncs with `faults` scripted onto the first requests; the result must equal the truth.
async fn survives(faults: Vec<Fault>) -> baton_notion::sync::SyncReport {
    let mock = org().await;
    mock.faults().script(faults.clone());
    let dir = tempdir();
    let path = dir.path().join("sync.c1z");
    let report = sync_into(&client(&mock), &path)
        .await
        .unwrap_or_else(|e| panic!("sync with {faults:?} should succeed: {e}"));
    assert_same(&Snapshot::from_c1z(&path), &Snapshot::from_truth(&mock.truth()));
    let (users, groups, _, _) = request_counts(&mock);
    assert_eq!(
        users + groups,
        4 + report.retries as usize,
        "one extra request per retry"
    );
    report
}

#[tokio::test]
async fn server_errors_are_retried() {
    for status in [500, 502, 503, 504, 529] {
        let report = survives(vec![
            Fault::Status(status),
            Fault::Status(status),
            Fault::None,
            Fault::Status(status),
        ])
        .await;
        assert_eq!(report.retries, 3, "status {status}");
    }
}

#[tokio::test]
async fn broken_connections_and_bodies_are_retried() {
    for fault in [Fault::Reset, Fault::Truncate, Fault::Malformed, Fault::LostResponse] {
        let report = survives(vec![Fault::None, fault, fault]).await;
        assert_eq!(report.retries, 2, "{fault:?}");
    }
}

#[tokio::test]
async fn rate_limits_are_retried() {
    let report = survives(vec![Fault::Status(429), Fault::RateLimited { retry_after_secs: 7 }]).await;
    assert_eq!(report.retries, 2);
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let mock = MockServer::builder().seed(1).users(5).groups(1).start().await;
    mock.faults().script([Fault::RateLimited { retry_after_secs: 1 }]);
    let c = client_with(&mock, |c| c.retry.max_retry_after = Duration::from_secs(5));
    let dir = tempdir();
    let started = Instant::now();
    sync_into(&c, &dir.path().join("s.c1z"))
        .await
        .expect("sync succeeds after the wait");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn retry_after_is_capped() {
    let mock = MockServer::builder().seed(1).users(5).groups(1).start().await;
    mock.faults().script([Fault::RateLimited {
        retry_after_secs: 3_600,
    }]);
    let c = client_with(&mock, |c| c.retry.max_retry_after = Duration::from_millis(100));
    let dir = tempdir();
    let started = Instant::now();
    sync_into(&c, &dir.path().join("s.c1z")).await.expect("sync succeeds");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn slow_answers_time_out_and_are_retried() {
    let mock = org().await;
    mock.faults()
        .script([Fault::Latency(Duration::from_millis(800)), Fault::None]);
    let c = client_with(&mock, |c| c.http_timeout = Duration::from_millis(300));
    let dir = tempdir();
    let path = dir.path().join("s.c1z");
    let report = sync_into(&c, &path).await.expect("sync succeeds");
    assert_eq!(report.retries, 1);
    assert_same(&Snapshot::from_c1z(&path), &Snapshot::from_truth(&mock.truth()));
}

#[tokio::test]
async fn steady_latency_only_slows_things_down() {
    let mock = org().await;
    mock.faults().latency(Duration::from_millis(20));
    let dir = tempdir();
    let path = dir.path().join("s.c1z");
    let report = sync_into(&client(&mock), &path).await.expect("sync succeeds");
    assert_eq!(report.retries, 0);
    assert_same(&Snapshot::from_c1z(&path), &Snapshot::from_truth(&mock.truth()));
}

#[tokio::test]
async fn a_random_fault_storm_still_ends_correctly() {
    let mock = MockServer::builder().seed(31).users(1_000).groups(150).start().await;
    mock.faults().random(Some(RandomFaults {
        seed: 1,
        probability: 0.2,
        kinds: vec![
            Fault::Status(500),
            Fault::Status(503),
            Fault::Status(529),
            Fault::Reset,
            Fault::Truncate,
            Fault::Malformed,
            Fault::RateLimited { retry_after_secs: 1 },
        ],
    }));
    let dir = tempdir();
    let path = dir.path().join("s.c1z");
    let report = sync_into(&client(&mock), &path).await.expect("sync survives the storm");
    assert!(report.retries > 0, "the storm hit");
    assert_same(&Snapshot::from_c1z(&path), &Snapshot::from_truth(&mock.truth()));
}

#[tokio::test]
async fn a_rate_limit_storm_past_the_budget_fails_clearly_and_keeps_the_old_file() {
    let mock = org().await;
    let dir = tempdir();
    let path = dir.path().join("sync.c1z");
    let c = client(&mock);
    sync_into(&c, &path).await.expect("first sync");
    let before = std::fs::read(&path).expect("read");

    mock.faults().script(vec![Fault::Status(429); 50]);
    let err = sync_into(&c, &path).await.expect_err("the storm outlasts the retries");
    match &err {
        SyncError::Scim(ScimError::RetriesExhausted { attempts, last, .. }) => {
            assert_eq!(*attempts, RetryPolicy::fast().max_retries + 1);
            assert!(matches!(last, Failure::RateLimited { .. }), "{last:?}");
        }
        other => panic!("expected RetriesExhausted, got {other}"),
    }
    let message = err.to_string();
    assert!(
        message.contains("429") && message.contains("requests-per-minute"),
        "{message}"
    );
    assert_eq!(
        std::fs::read(&path).expect("read"),
        before,
        "the previous file is untouched"
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .expect("ls")
        .flatten()
        .map(|e| e.file_name())
        // The target's lock file is kept on purpose; nothing else may stay.
        .filter(|n| !n.to_string_lossy().ends_with(".lock"))
        .collect();
    assert_eq!(leftovers.len(), 1, "no temp files left: {leftovers:?}");
}

#[tokio::test]
async fn a_revoked_token_stops_at_once_with_advice() {
    let mock = org().await;
    mock.revoke_token();
    let dir = tempdir();
    let path = dir.path().join("sync.c1z");
    let err = sync_into(&client(&mock), &path).await.expect_err("revoked");
    assert!(matches!(err, SyncError::Scim(ScimError::Unauthorized)), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("revoked") && message.contains("Identity & provisioning"),
        "{message}"
    );
    assert!(!message.contains(mock.token()));
    assert_no_request_repeated(&mock);
    assert!(!path.exists());
}

#[tokio::test]
async fn forbidden_stops_at_once() {
    let mock = org().await;
    mock.faults().script([Fault::Status(403)]);
    let dir = tempdir();
    let err = sync_into(&client(&mock), &dir.path().join("s.c1z"))
        .await
        .expect_err("403");
    assert!(matches!(err, SyncError::Scim(ScimError::Forbidden)), "{err}");
    assert_no_request_repeated(&mock);
}

/// Not retried: each list's first page was asked for once (both go together, before either
/// answers), and nothing after.
fn assert_no_request_repeated(mock: &MockServer) {
    let asked: Vec<String> = mock
        .journal()
        .iter()
        .map(|e| format!("{} {}?{}", e.method, e.path, e.query.as_deref().unwrap_or("")))
        .collect();
    assert!(asked.len() <= 2, "one request per list at most: {asked:?}");
    let mut distinct = asked.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), asked.len(), "a request was repeated: {asked:?}");
    assert!(asked.iter().all(|a| a.contains("startIndex=1&")), "{asked:?}");
}

#[tokio::test]
async fn the_client_keeps_its_own_rate_limit() {
    let mock = MockServer::builder().seed(2).users(1_000).groups(10).start().await;
    let c = client_with(&mock, |c| {
        c.requests_per_minute = 4;
        c.rate_window = Duration::from_millis(400);
    });
    let dir = tempdir();
    let started = Instant::now();
    let report = sync_into(&c, &dir.path().join("s.c1z")).await.expect("sync");
    // 12 requests (11 pages of users, each after the first overlapping the one before by an
    // item, and one of groups) at 4 per window: the third window opens after two full windows.
    assert_eq!(report.requests, 12);
    assert!(
        started.elapsed() >= Duration::from_millis(800),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_server_rate_limit_is_waited_out() {
    let mock = MockServer::builder().seed(2).users(500).groups(10).start().await;
    mock.faults().rate_limit(Some(RateLimit {
        requests: 3,
        window_secs: 1,
    }));
    let c = client_with(&mock, |c| {
        c.retry.max_retry_after = Duration::from_secs(2);
        c.retry.max_retries = 8;
    });
    let dir = tempdir();
    let path = dir.path().join("s.c1z");
    let report = sync_into(&c, &path).await.expect("sync");
    assert!(report.retries > 0);
    assert_same(&Snapshot::from_c1z(&path), &Snapshot::from_truth(&mock.truth()));
}

#[tokio::test]
async fn validate_says_what_is_wrong() {
    let mock = org().await;
    assert!(matches!(
        validate(&client(&mock)).await,
        Validation::Valid { users: Some(250) }
    ));
    assert_eq!(mock.journal().len(), 1, "one cheap call");
    let q = mock.journal()[0].query.clone().unwrap_or_default();
    assert!(q.contains("count=1"), "{q}");

    mock.faults().script([Fault::Status(403)]);
    assert!(matches!(validate(&client(&mock)).await, Validation::Forbidden));

    mock.revoke_token();
    let verdict = validate(&client(&mock)).await;
    assert!(matches!(verdict, Validation::Rejected), "{verdict}");
    assert!(verdict.to_string().contains("revoked"));

    let mut config = ClientConfig::new("http://127.0.0.1:1/scim/v2", Secret::new("t"));
    config.retry = RetryPolicy::fast();
    let unreachable = ScimClient::new(config).expect("client");
    assert!(matches!(validate(&unreachable).await, Validation::Unreachable(_)));
}
