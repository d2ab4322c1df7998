//! Faults: scripted statuses, broken connections and bodies, latency, rate limits, seeded
//! random faults, reordering and paging pathologies, all per token.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::*;
use notion_scim_mock::{Fault, MockServer, PagingFault, RandomFaults, RateLimit};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn scripted_statuses_then_normal_service() {
    let mock = small().await;
    mock.faults().script([
        Fault::RateLimited { retry_after_secs: 7 },
        Fault::Status(500),
        Fault::Status(502),
        Fault::Status(503),
        Fault::Status(529),
        "429".parse().unwrap(),
    ]);
    let r = get(&mock, "/Users").await;
    assert_rfc_error(&r, 429, None);
    assert_eq!(r.header("retry-after"), Some("7"));
    for status in [500, 502, 503, 529] {
        let r = get(&mock, "/Users").await;
        assert_rfc_error(&r, status, None);
        assert!(r.header("retry-after").is_none());
    }
    let r = get(&mock, "/Users").await;
    assert_eq!(r.status, 429);
    let secs: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!(secs >= 1);
    let r = get(&mock, "/Users").await;
    assert_eq!(r.status, 200);
    let faults: Vec<Option<String>> = mock.journal().iter().map(|e| e.fault.clone()).collect();
    assert_eq!(
        faults[..6],
        [
            Some("429:7".into()),
            Some("500".into()),
            Some("502".into()),
            Some("503".into()),
            Some("529".into()),
            Some("429:1".into())
        ]
    );
    assert_eq!(faults[6], None);
    assert!(mock.faults().settings().script.is_empty());
}

#[tokio::test]
async fn a_write_refused_by_a_status_fault_is_not_applied() {
    let mock = small().await;
    mock.faults().script([Fault::Status(503)]);
    let before = snapshot(&mock);
    let r = post(&mock, "/Users", new_user(&mock, "not.applied")).await;
    assert_eq!(r.status, 503);
    assert_unchanged(&mock, &before, "503");
}

#[tokio::test]
async fn reset_closes_the_connection_and_does_not_apply() {
    let mock = small().await;
    mock.faults().script([Fault::Reset]);
    let before = snapshot(&mock);
    let err = scim(&mock, Method::POST, "/Users")
        .json(&new_user(&mock, "reset.me"))
        .send()
        .await;
    assert!(err.is_err(), "{err:?}");
    assert_unchanged(&mock, &before, "reset");
    let j = mock.journal();
    assert_eq!(j.last().unwrap().fault.as_deref(), Some("reset"));
    // The next request is served.
    assert_eq!(get(&mock, "/Users").await.status, 200);
}

#[tokio::test]
async fn lost_response_applies_the_write() {
    let mock = small().await;
    mock.faults().script([Fault::LostResponse]);
    let body = new_user(&mock, "lost.response");
    let email = body["userName"].as_str().unwrap().to_string();
    let err = scim(&mock, Method::POST, "/Users").json(&body).send().await;
    assert!(err.is_err(), "{err:?}");
    assert!(mock.truth().user_by_email(&email).is_some(), "the POST was carried out");
    // A client's retry meets the created member.
    assert_rfc_error(&post(&mock, "/Users", body).await, 409, Some("uniqueness"));
    let j = mock.journal();
    assert_eq!(j[0].fault.as_deref(), Some("lost-response"));
    assert_eq!(j[0].status, 201);
}

#[tokio::test]
async fn truncate_breaks_the_body() {
    let mock = small().await;
    mock.faults().script([Fault::Truncate]);
    let resp = scim(&mock, Method::GET, "/Users").send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.text().await.is_err(), "the body should end early");
    assert_eq!(get(&mock, "/Users").await.status, 200);
}

#[tokio::test]
async fn truncate_applies_the_write() {
    let mock = small().await;
    mock.faults().script([Fault::Truncate]);
    let body = new_user(&mock, "truncated");
    let email = body["userName"].as_str().unwrap().to_string();
    let resp = scim(&mock, Method::POST, "/Users").json(&body).send().await;
    if let Ok(resp) = resp {
        assert!(resp.text().await.is_err());
    }
    assert!(mock.truth().user_by_email(&email).is_some());
}

#[tokio::test]
async fn malformed_answers_200_with_a_body_that_is_not_json() {
    let mock = small().await;
    mock.faults().script([Fault::Malformed, Fault::Malformed]);
    let r = get(&mock, "/Users").await;
    assert_eq!(r.status, 200);
    assert!(
        serde_json::from_str::<serde_json::Value>(&r.text).is_err(),
        "{}",
        r.text
    );
    let body = new_user(&mock, "malformed");
    let email = body["userName"].as_str().unwrap().to_string();
    let r = post(&mock, "/Users", body).await;
    assert_eq!(r.status, 201);
    assert!(serde_json::from_str::<serde_json::Value>(&r.text).is_err());
    assert!(mock.truth().user_by_email(&email).is_some());
}

#[tokio::test]
async fn latency_delays_the_answer() {
    let mock = small().await;
    mock.faults().latency(Duration::from_millis(250));
    let t = Instant::now();
    assert_eq!(get(&mock, "/Users").await.status, 200);
    assert!(t.elapsed() >= Duration::from_millis(250));
    mock.faults()
        .latency(Duration::ZERO)
        .script([Fault::Latency(Duration::from_millis(200))]);
    let t = Instant::now();
    assert_eq!(get(&mock, "/Users").await.status, 200);
    assert!(t.elapsed() >= Duration::from_millis(200));
    let t = Instant::now();
    assert_eq!(get(&mock, "/Users").await.status, 200);
    assert!(t.elapsed() < Duration::from_millis(200));
}

#[tokio::test]
async fn rate_limit_fixed_window() {
    let mock = small().await;
    mock.faults().rate_limit(Some(RateLimit {
        requests: 5,
        window_secs: 60,
    }));
    for _ in 0..5 {
        assert_eq!(get(&mock, "/Users").await.status, 200);
    }
    let r = get(&mock, "/Users").await;
    assert_rfc_error(&r, 429, None);
    let secs: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&secs), "{secs}");
    let before = snapshot(&mock);
    assert_eq!(post(&mock, "/Users", new_user(&mock, "limited")).await.status, 429);
    assert_unchanged(&mock, &before, "rate limited");
    // Other tokens have their own limit.
    let mock2 = MockServer::builder()
        .seed(3)
        .users(30)
        .groups(5)
        .workspaces(2)
        .start()
        .await;
    mock2.faults().rate_limit(Some(RateLimit {
        requests: 1,
        window_secs: 60,
    }));
    assert_eq!(get(&mock2, "/Users").await.status, 200);
    assert_eq!(get(&mock2, "/Users").await.status, 429);
    let s2 = mock2.token_secret("tok_2").unwrap();
    assert_eq!(
        run(anon(&mock2, Method::GET, "/Users").bearer_auth(&s2)).await.status,
        200
    );
}

#[tokio::test]
async fn rate_limit_window_reopens() {
    let mock = small().await;
    mock.faults().rate_limit(Some(RateLimit {
        requests: 2,
        window_secs: 1,
    }));
    assert_eq!(get(&mock, "/Users").await.status, 200);
    assert_eq!(get(&mock, "/Users").await.status, 200);
    let r = get(&mock, "/Users").await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("1"));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(get(&mock, "/Users").await.status, 200);
    mock.faults().rate_limit(None);
    for _ in 0..5 {
        assert_eq!(get(&mock, "/Users").await.status, 200);
    }
}

async fn random_statuses(seed: u64) -> Vec<u16> {
    let mock = small().await;
    mock.faults().random(Some(RandomFaults {
        seed,
        probability: 0.5,
        kinds: vec![Fault::Status(500), Fault::Status(503)],
    }));
    let mut out = Vec::new();
    for _ in 0..24 {
        out.push(get(&mock, "/Users?count=1").await.status);
    }
    out
}

#[tokio::test]
async fn random_faults_are_deterministic_per_seed() {
    let a = random_statuses(7).await;
    let b = random_statuses(7).await;
    assert_eq!(a, b);
    assert!(a.contains(&200) && a.iter().any(|s| *s != 200), "{a:?}");
    assert!(a.iter().all(|s| [200, 500, 503].contains(s)));
    let c = random_statuses(8).await;
    assert_ne!(a, c);
}

#[tokio::test]
async fn random_faults_with_probability_zero_and_one() {
    let mock = small().await;
    mock.faults().random(Some(RandomFaults {
        seed: 1,
        probability: 0.0,
        kinds: vec![Fault::Status(500)],
    }));
    for _ in 0..5 {
        assert_eq!(get(&mock, "/Users?count=1").await.status, 200);
    }
    mock.faults().random(Some(RandomFaults {
        seed: 1,
        probability: 1.0,
        kinds: vec![Fault::Status(502)],
    }));
    for _ in 0..5 {
        assert_eq!(get(&mock, "/Users?count=1").await.status, 502);
    }
}

#[tokio::test]
async fn reorder_moves_pages_but_keeps_them_valid() {
    let mock = small().await;
    let all: HashSet<String> = mock.truth().users.iter().map(|u| u.id.clone()).collect();
    let stable = get_q(&mock, "/Users", &[("count", "10")]).await.ids();
    assert_eq!(
        stable,
        get_q(&mock, "/Users", &[("count", "10")]).await.ids(),
        "stable by default"
    );
    mock.faults().reorder(true);
    let mut pages = Vec::new();
    for _ in 0..6 {
        let r = get_q(&mock, "/Users", &[("count", "10")]).await;
        assert_eq!(r.body["totalResults"], json!(30));
        assert_eq!(r.body["itemsPerPage"], json!(10));
        let ids = r.ids();
        let unique: HashSet<String> = ids.iter().cloned().collect();
        assert_eq!(unique.len(), 10, "no duplicates within a page");
        assert!(unique.is_subset(&all));
        pages.push(ids);
    }
    assert!(pages.windows(2).any(|w| w[0] != w[1]), "reorder never reordered");
}

#[tokio::test]
async fn paging_faults() {
    let mock = MockServer::builder().seed(3).users(30).groups(1).start().await;
    let truth: Vec<String> = mock.truth().users.iter().map(|u| u.id.clone()).collect();
    let page = |start: &'static str| async { get_q(&mock, "/Users", &[("startIndex", start), ("count", "10")]).await };

    mock.faults().paging(Some(PagingFault::ZeroItemsPerPage));
    let r = page("1").await;
    assert_eq!(r.body["itemsPerPage"], json!(0));
    assert_eq!(r.ids().len(), 10);

    mock.faults().paging(Some(PagingFault::MissingItemsPerPage));
    let r = page("1").await;
    assert!(r.body.get("itemsPerPage").is_none());
    assert_eq!(r.ids().len(), 10);
    assert_eq!(r.body["totalResults"], json!(30));

    mock.faults().paging(Some(PagingFault::InflatedTotalResults(5)));
    let r = page("1").await;
    assert_eq!(r.body["totalResults"], json!(35));
    assert_eq!(page("31").await.ids().len(), 0);

    mock.faults().paging(Some(PagingFault::DuplicateAcrossPages));
    let first = page("1").await.ids();
    let second = page("11").await.ids();
    assert_eq!(first, truth[..10]);
    assert_eq!(second[0], first[9]);
    assert_eq!(second[1..], truth[10..19]);

    mock.faults().paging(Some(PagingFault::EndlessPages));
    let r = page("31").await;
    assert_eq!(r.ids().len(), 10, "past the end, items repeat");
    assert!(r.body["totalResults"].as_u64().unwrap() > 31);
    assert_eq!(r.ids(), truth[..10]);
    let r = page("1000").await;
    assert!(r.body["totalResults"].as_u64().unwrap() > 1000);

    mock.faults().paging(None);
    let r = page("31").await;
    assert!(r.ids().is_empty());
    assert_eq!(r.body["totalResults"], json!(30));
}

#[tokio::test]
async fn faults_are_per_token() {
    let mock = MockServer::builder()
        .seed(3)
        .users(30)
        .groups(5)
        .workspaces(2)
        .start()
        .await;
    let s2 = mock.token_secret("tok_2").unwrap();
    mock.faults().script([Fault::Status(503), Fault::Status(503)]);
    assert_eq!(
        run(anon(&mock, Method::GET, "/Users").bearer_auth(&s2)).await.status,
        200
    );
    assert_eq!(get(&mock, "/Users").await.status, 503);
    mock.faults_for("tok_2").script([Fault::Status(500)]);
    assert_eq!(
        run(anon(&mock, Method::GET, "/Users").bearer_auth(&s2)).await.status,
        500
    );
    assert_eq!(get(&mock, "/Users").await.status, 503);
    assert_eq!(get(&mock, "/Users").await.status, 200);
    // Unauthenticated requests never consume a token's faults.
    mock.faults().script([Fault::Status(502)]);
    assert_eq!(run(anon(&mock, Method::GET, "/Users")).await.status, 401);
    assert_eq!(
        run(anon(&mock, Method::GET, "/ServiceProviderConfig")).await.status,
        200
    );
    assert_eq!(get(&mock, "/Users").await.status, 502);
    mock.faults().script([Fault::Status(503)]).clear();
    assert_eq!(get(&mock, "/Users").await.status, 200);
}

#[test]
fn fault_text_form_round_trips() {
    for text in [
        "ok",
        "503",
        "429:2",
        "latency:300",
        "reset",
        "lost-response",
        "truncate",
        "malformed",
    ] {
        let f: Fault = text.parse().unwrap();
        assert_eq!(f.to_string(), text);
    }
    assert_eq!(
        "429".parse::<Fault>().unwrap(),
        Fault::RateLimited { retry_after_secs: 1 }
    );
    for bad in ["nonsense", "200", "latency:x", "429:", "99"] {
        let e = bad.parse::<Fault>().unwrap_err();
        assert!(e.contains("bad fault"), "{e}");
    }
    assert!(!Fault::Reset.applies_request() && !Fault::Status(503).applies_request());
    assert!(
        Fault::LostResponse.applies_request()
            && Fault::Truncate.applies_request()
            && Fault::Malformed.applies_request()
    );
}

/// Changing one setting leaves the others' state alone: the window keeps its count and the
/// random sequence goes on where it was.
#[tokio::test]
async fn changing_one_fault_setting_keeps_the_state_of_the_others() {
    let mock = small().await;
    mock.faults().rate_limit(Some(RateLimit {
        requests: 2,
        window_secs: 60,
    }));
    assert_eq!(get(&mock, "/Users").await.status, 200);
    assert_eq!(get(&mock, "/Users").await.status, 200);
    mock.faults()
        .latency(Duration::ZERO)
        .script([Fault::None])
        .reorder(false);
    assert_eq!(
        get(&mock, "/Users").await.status,
        429,
        "the window was refilled by an unrelated change"
    );

    let uninterrupted = random_statuses(7).await;
    let mock = small().await;
    mock.faults().random(Some(RandomFaults {
        seed: 7,
        probability: 0.5,
        kinds: vec![Fault::Status(500), Fault::Status(503)],
    }));
    let mut seen = Vec::new();
    for i in 0..24 {
        if i == 12 {
            mock.faults().latency(Duration::ZERO).paging(None);
        }
        seen.push(get(&mock, "/Users?count=1").await.status);
    }
    assert_eq!(seen, uninterrupted, "the random sequence restarted");
}
