//! A recorded workspace as a regression test: the cassette of a sync (recorded against the
//! standalone emulation, `fixtures/cassettes/emulation-sync.json`) is served by wiremock, this
//! repository's connector syncs from it, every recorded exchange must be asked for and nothing
//! else, and the c1z it writes must hold exactly the workspace the cassette shows. Also: what a
//! replay says about a request the cassette lacks, and about exchanges nobody asked for.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use notion_conformance::cassette::{Cassette, Interaction};
use notion_conformance::connector::Connector;
use notion_conformance::fidelity::seed::Seen;
use notion_conformance::replay::{Replay, ReplayOptions};
use notion_conformance::target::Lab;

fn fixture(name: &str) -> Cassette {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/cassettes")
        .join(name);
    Cassette::load(&path).unwrap()
}

/// Syncs the replayed cassette with this repository's connector, in-process.
async fn sync(replay: &Replay, dir: &Path) -> notion_conformance::connector::RunOutput {
    let lab: &'static Lab = Box::leak(Box::new(
        Lab::remote(
            &replay.base_url(),
            "secret_replay_token_0000000000000000",
            false,
            None,
            0,
        )
        .await
        .unwrap(),
    ));
    let env = lab.as_is().await.unwrap();
    Connector::InProcess.sync(&env, &dir.join("sync.c1z")).await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_recorded_sync_replays_as_a_regression_test() {
    let cassette = fixture("emulation-sync.json");
    assert_eq!(cassette.notion_conformance.source.kind, "emulation");
    let replay = Replay::start(&cassette, ReplayOptions::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let run = sync(&replay, dir.path()).await;
    assert!(run.success, "{}", run.describe());
    replay.check(true).unwrap();

    // The file holds what the cassette shows, judged by the oracle.
    let truth = Seen::from_cassette(&cassette).unwrap().truth();
    assert_eq!(truth.users.len(), 230);
    assert_eq!(truth.groups.len(), 12);
    let (_, dataset) = notion_conformance::oracle::c1z::read_latest(&dir.path().join("sync.c1z")).unwrap();
    let expected = notion_conformance::oracle::expect::derive(&truth);
    let diffs = notion_conformance::oracle::expect::compare(&expected, &dataset);
    assert!(
        diffs.is_empty(),
        "{}",
        notion_conformance::oracle::expect::render(&diffs, &dataset, &expected)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_the_cassette_lacks_names_the_nearest_and_why() {
    let mut cassette = fixture("emulation-sync.json");
    // Lose the last page of users: the connector asks for it and the cassette cannot answer.
    let last = cassette
        .http_interactions
        .iter()
        .rposition(|i| i.request.uri.contains("/Users?"))
        .unwrap();
    let lost = cassette.http_interactions.remove(last);
    let replay = Replay::start(&cassette, ReplayOptions::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let run = sync(&replay, dir.path()).await;
    assert!(!run.success, "the sync passed without its last page");
    let err = format!("{:#}", replay.check(false).unwrap_err());
    let start = reqwest::Url::parse(&lost.request.uri)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "startIndex")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    assert!(
        err.contains(&format!(
            "no recorded exchange matches GET /Users?startIndex={start}&count=100"
        )),
        "{err}"
    );
    assert!(err.contains("nearest:"), "{err}");
    assert!(
        err.contains("query startindex: recorded") && err.contains(&format!("got \"{start}\"")),
        "{err}"
    );
    // The miss was answered 404, with the same explanation.
    let answer = reqwest::get(format!("{}/Groups?startIndex=7&count=100", replay.base_url()))
        .await
        .unwrap();
    assert_eq!(answer.status(), 404);
    assert_eq!(answer.headers()["x-cassette-miss"], "true");
    assert!(answer
        .text()
        .await
        .unwrap()
        .contains("query startindex: recorded \\\"1\\\", got \\\"7\\\""));
}

#[tokio::test(flavor = "multi_thread")]
async fn unused_recorded_exchanges_can_be_an_error() {
    let mut cassette = fixture("emulation-sync.json");
    let mut extra: Interaction = cassette.http_interactions[0].clone();
    extra.request.uri = extra
        .request
        .uri
        .replace("startIndex=1&", "startIndex=1&excludedAttributes=emails&");
    cassette.http_interactions.push(extra);
    let replay = Replay::start(&cassette, ReplayOptions::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let run = sync(&replay, dir.path()).await;
    assert!(run.success, "{}", run.describe());
    replay.check(false).unwrap();
    let err = format!("{:#}", replay.check(true).unwrap_err());
    assert!(
        err.contains("1 recorded exchange(s) never asked for") && err.contains("excludedAttributes=emails"),
        "{err}"
    );
}

/// Bodies match as JSON (key order, whitespace), ids whatever their case; each exchange answers
/// once unless repeats are allowed.
#[tokio::test(flavor = "multi_thread")]
async fn matching_is_json_aware_and_ordered() {
    let mut cassette = fixture("emulation-probe.json");
    cassette.http_interactions.retain(|i| i.request.method == "patch");
    let first = cassette.http_interactions[0].clone();
    let target = cassette.target(0).unwrap();
    let body: serde_json::Value = serde_json::from_str(&first.request.body.string).unwrap();
    // The same body with its keys in another order, pretty-printed.
    let mut reordered = serde_json::Map::new();
    for (k, v) in body.as_object().unwrap().iter().rev() {
        reordered.insert(k.clone(), v.clone());
    }
    let text = serde_json::to_string_pretty(&serde_json::Value::Object(reordered)).unwrap();
    assert_ne!(text, first.request.body.string);
    let path = target.path_and_query().to_uppercase().replace("/USERS/", "/Users/");
    let client = reqwest::Client::new();

    let replay = Replay::start(&cassette, ReplayOptions::default()).await.unwrap();
    let url = format!("{}{path}", replay.base_url());
    let a = client.patch(&url).body(text.clone()).send().await.unwrap();
    assert_eq!(a.status().as_u16(), first.response.status.code);
    assert_eq!(a.text().await.unwrap(), first.response.body.string);
    let again = client.patch(&url).body(text.clone()).send().await.unwrap();
    assert_eq!(again.status(), 404);
    let miss = replay.misses().pop().unwrap().to_string();
    assert!(miss.contains("already answered 1 time(s)"), "{miss}");

    let repeats = Replay::start(
        &cassette,
        ReplayOptions {
            allow_playback_repeats: true,
        },
    )
    .await
    .unwrap();
    let url = format!("{}{path}", repeats.base_url());
    for _ in 0..2 {
        let a = client.patch(&url).body(text.clone()).send().await.unwrap();
        assert_eq!(a.status().as_u16(), first.response.status.code);
    }
    repeats.check(false).unwrap();
}
