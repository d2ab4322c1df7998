//! The fake ConductorOne through a client of our own: the token exchange over real TLS with an
//! assertion signed here, then BatonService through tonic over HTTP/2 (Hello, GetTask,
//! Heartbeat, UploadAsset, FinishTask), the record it keeps, and each fault it injects. Every
//! refusal is checked against a request that differs from an accepted one in one thing only, so
//! a check that accepted everything would fail here.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use notion_conformance::fake_c1::proto::{self, upload_asset_request::Msg, SERVICE};
use notion_conformance::fake_c1::{auth, Call, FakeC1, Options, TaskSpec};
use prost::Message;
use ring::digest;
use serde_json::json;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic::{Code, Status};
use tonic_prost::ProstCodec;

async fn start() -> FakeC1 {
    FakeC1::start(Options {
        admin: Some("127.0.0.1:0".into()),
        ..Options::default()
    })
    .await
    .unwrap()
}

fn http(fake: &FakeC1) -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(fake.ca_pem().as_bytes()).unwrap())
        .build()
        .unwrap()
}

/// POSTs a token request; (status, JSON body).
async fn token_request(fake: &FakeC1, client_id: &str, assertion: &str) -> (u16, serde_json::Value) {
    let form = serde_urlencoded::to_string([
        ("client_id", client_id),
        ("grant_type", auth::GRANT_TYPE),
        ("client_assertion_type", auth::ASSERTION_TYPE),
        ("client_assertion", assertion),
    ])
    .unwrap();
    let resp = http(fake)
        .post(format!("https://{}/auth/v1/token", fake.api_host()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

async fn token(fake: &FakeC1) -> String {
    let c = fake.credentials();
    let assertion = auth::sign_assertion(&c.client_id, &c.client_secret).unwrap();
    let (status, body) = token_request(fake, &c.client_id, &assertion).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["expires_in"].as_u64().unwrap() > 0);
    body["access_token"].as_str().unwrap().to_string()
}

async fn channel(fake: &FakeC1) -> Channel {
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(fake.ca_pem()))
        .domain_name("localhost");
    Endpoint::from_shared(format!("https://{}", fake.api_host()))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .unwrap()
}

fn request<T>(token: &str, message: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(message);
    if !token.is_empty() {
        r.metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    r
}

async fn unary<Req, Resp>(ch: &Channel, token: &str, method: &str, message: Req) -> Result<Resp, Status>
where
    Req: Message + Send + Sync + 'static,
    Resp: Message + Default + Send + Sync + 'static,
{
    let mut grpc = tonic::client::Grpc::new(ch.clone());
    grpc.ready().await.unwrap();
    let path = http::uri::PathAndQuery::try_from(format!("/{SERVICE}/{method}")).unwrap();
    grpc.unary(request(token, message), path, ProstCodec::<Req, Resp>::default())
        .await
        .map(tonic::Response::into_inner)
}

/// Uploads `data` in 512 KiB chunks with `checksum` (the right one when `None`).
async fn upload(
    ch: &Channel,
    token: &str,
    task_id: &str,
    data: &[u8],
    checksum: Option<Vec<u8>>,
) -> Result<(), Status> {
    let mut messages = vec![proto::UploadAssetRequest {
        msg: Some(Msg::Metadata(proto::UploadMetadata {
            host_id: "test-host".into(),
            task_id: task_id.into(),
        })),
    }];
    for chunk in data.chunks(512 * 1024) {
        messages.push(proto::UploadAssetRequest {
            msg: Some(Msg::Data(proto::UploadData { data: chunk.to_vec() })),
        });
    }
    let sum = checksum.unwrap_or_else(|| digest::digest(&digest::SHA256, data).as_ref().to_vec());
    messages.push(proto::UploadAssetRequest {
        msg: Some(Msg::Eof(proto::UploadEof { sha256_checksum: sum })),
    });
    let mut grpc = tonic::client::Grpc::new(ch.clone());
    grpc.ready().await.unwrap();
    let path = http::uri::PathAndQuery::try_from(format!("/{SERVICE}/UploadAsset")).unwrap();
    grpc.client_streaming(
        request(token, tokio_stream_iter(messages)),
        path,
        ProstCodec::<proto::UploadAssetRequest, proto::UploadAssetResponse>::default(),
    )
    .await
    .map(|_| ())
}

fn tokio_stream_iter<T: Send + 'static>(items: Vec<T>) -> impl futures_util::Stream<Item = T> + Send + 'static {
    futures_util::stream::iter(items)
}

fn hello_request(task_id: &str) -> proto::HelloRequest {
    proto::HelloRequest {
        host_id: "test-host".into(),
        task_id: task_id.into(),
        build_info: Some(proto::BuildInfo {
            lang_version: "rust".into(),
            package: "test".into(),
            package_version: "0.0.0".into(),
        }),
        os_info: None,
        connector_metadata: Some(proto::ConnectorMetadata {
            display_name: "Test".into(),
            description: String::new(),
            capabilities: None,
        }),
        annotations: Vec::new(),
    }
}

async fn get_task(ch: &Channel, token: &str) -> proto::GetTaskResponse {
    unary(
        ch,
        token,
        "GetTask",
        proto::GetTaskRequest {
            host_id: "test-host".into(),
        },
    )
    .await
    .unwrap()
}

async fn heartbeat(ch: &Channel, token: &str, task_id: &str) -> Result<proto::HeartbeatResponse, Status> {
    unary(
        ch,
        token,
        "Heartbeat",
        proto::HeartbeatRequest {
            host_id: "test-host".into(),
            task_id: task_id.into(),
            annotations: Vec::new(),
        },
    )
    .await
}

async fn finish(ch: &Channel, token: &str, task_id: &str, success: bool) -> Result<proto::FinishTaskResponse, Status> {
    use proto::finish_task_request::{Error, FinalState, Success};
    let (status, state) = if success {
        (None, FinalState::Success(Success::default()))
    } else {
        (
            Some(proto::RpcStatus {
                code: 2,
                message: "unsupported task type".into(),
                details: Vec::new(),
            }),
            FinalState::Error(Error::default()),
        )
    };
    unary(
        ch,
        token,
        "FinishTask",
        proto::FinishTaskRequest {
            host_id: "test-host".into(),
            task_id: task_id.into(),
            status,
            final_state: Some(state),
        },
    )
    .await
}

#[tokio::test]
async fn a_sync_task_round_trip_is_recorded_and_its_upload_reassembled() {
    let fake = start().await;
    let c = fake.credentials().clone();
    assert!(c.client_id.ends_with(&format!("@localhost:{}/pcc", fake.addr().port())));
    assert!(c.client_secret.starts_with("secret-token:conductorone.com:v1:"));
    assert!(!format!("{:?}", fake.credentials()).contains(&c.client_secret));

    let id = fake
        .queue(TaskSpec::SyncFull {
            storage_engine: "sqlite".into(),
            debug: false,
        })
        .unwrap();
    assert_eq!(id.len(), 27);
    let token = token(&fake).await;
    let ch = channel(&fake).await;
    let _: proto::HelloResponse = unary(&ch, &token, "Hello", hello_request("")).await.unwrap();

    let first = get_task(&ch, &token).await;
    let task = first.task.expect("the queued task");
    assert_eq!(task.id, id);
    assert!(matches!(task.task_type, Some(proto::task::TaskType::SyncFull(ref s)) if s.storage_engine == "sqlite"));
    assert_eq!(first.next_poll, Some(proto::duration_ms(100)));
    assert!(get_task(&ch, &token).await.task.is_none(), "a task is handed out once");

    let hb = heartbeat(&ch, &token, &id).await.unwrap();
    assert!(!hb.cancelled);
    assert_eq!(hb.next_heartbeat, Some(proto::duration_ms(1000)));

    // 1.3 MiB: three chunks, the last one short.
    let mut data = b"C1ZF\0".to_vec();
    data.extend((0..1_300_000u32).map(|i| (i % 251) as u8));
    upload(&ch, &token, &id, &data, None).await.unwrap();
    finish(&ch, &token, &id, true).await.unwrap();

    let uploads = fake.uploads(&id);
    assert_eq!(uploads.len(), 1);
    assert_eq!(uploads[0].bytes, data);
    assert_eq!(uploads[0].kind, "c1z-v1");
    let f = fake.wait_finished(&id, Duration::from_secs(1)).await.unwrap();
    assert!(f.success);
    let names: Vec<&str> = fake.calls().iter().map(|c| c.call.name()).collect();
    assert_eq!(
        names,
        [
            "token",
            "hello",
            "get_task",
            "get_task",
            "heartbeat",
            "upload",
            "finish"
        ]
    );
    assert_eq!(fake.take_uploads(&id).len(), 1);
    assert!(fake.uploads(&id).is_empty());
}

#[tokio::test]
async fn only_an_assertion_signed_with_the_minted_secret_gets_a_token() {
    let fake = start().await;
    let c = fake.credentials().clone();
    let (other_secret, _) = auth::secret_for_new_key().unwrap();
    let now = auth::now_secs();
    let good = json!({"iss": c.client_id, "sub": c.client_id, "aud": "localhost", "exp": now + 120, "nbf": now - 120, "iat": now});
    let with = |k: &str, v: serde_json::Value| {
        let mut claims = good.clone();
        claims[k] = v;
        claims
    };
    // The accepted baseline, signed by hand: the checks below each change one thing.
    let ok = auth::sign_claims(&c.client_secret, &good).unwrap();
    assert_eq!(token_request(&fake, &c.client_id, &ok).await.0, 200);

    let cases = [
        ("another key", auth::sign_claims(&other_secret, &good).unwrap()),
        (
            "wrong aud",
            auth::sign_claims(&c.client_secret, &with("aud", json!("acme.conductor.one"))).unwrap(),
        ),
        (
            "wrong iss",
            auth::sign_claims(&c.client_secret, &with("iss", json!("someone@localhost/pcc"))).unwrap(),
        ),
        (
            "expired",
            auth::sign_claims(&c.client_secret, &with("exp", json!(now - 600))).unwrap(),
        ),
        (
            "too long",
            auth::sign_claims(&c.client_secret, &with("exp", json!(now + 3600))).unwrap(),
        ),
        ("not a JWS", "not-a-jws".to_string()),
        ("tampered", {
            let mut parts: Vec<String> = ok.split('.').map(str::to_string).collect();
            parts[1] = auth::sign_claims(&c.client_secret, &with("sub", json!("x")))
                .unwrap()
                .split('.')
                .nth(1)
                .unwrap()
                .to_string();
            parts.join(".")
        }),
    ];
    for (label, assertion) in cases {
        let (status, body) = token_request(&fake, &c.client_id, &assertion).await;
        assert_eq!(status, 401, "{label}: {body}");
        assert_eq!(body["error"], "invalid_client", "{label}");
    }
    let (status, _) = token_request(&fake, "other@localhost/pcc", &ok).await;
    assert_eq!(status, 401, "unknown client id");
    let refusals = fake
        .calls()
        .iter()
        .filter(|r| matches!(&r.call, Call::Token { granted: false, .. }))
        .count();
    assert_eq!(refusals, 8);
    // Nothing recorded or answered holds the secret's key material.
    let record = serde_json::to_string(&fake.calls()).unwrap();
    assert!(!record.contains(c.client_secret.rsplit(':').next().unwrap()));

    // gRPC: no token, an invented token, then the real one.
    let ch = channel(&fake).await;
    let no: Result<proto::HelloResponse, _> = unary(&ch, "", "Hello", hello_request("")).await;
    assert_eq!(no.unwrap_err().code(), Code::Unauthenticated);
    let bad: Result<proto::HelloResponse, _> = unary(&ch, "fakec1-invented", "Hello", hello_request("")).await;
    assert_eq!(bad.unwrap_err().code(), Code::Unauthenticated);
    let t = token(&fake).await;
    let _: proto::HelloResponse = unary(&ch, &t, "Hello", hello_request("")).await.unwrap();
}

#[tokio::test]
async fn an_upload_with_a_wrong_checksum_or_an_injected_failure_is_not_kept() {
    let fake = start().await;
    let id = fake
        .queue(TaskSpec::SyncFull {
            storage_engine: String::new(),
            debug: false,
        })
        .unwrap();
    let t = token(&fake).await;
    let ch = channel(&fake).await;
    let data = b"C1Z3\0 some pebble bytes".to_vec();

    let wrong = upload(&ch, &t, &id, &data, Some(vec![0; 32])).await.unwrap_err();
    assert_eq!(wrong.code(), Code::DataLoss, "{wrong:?}");
    assert!(fake.uploads(&id).is_empty());

    fake.update_faults(|f| f.fail_uploads = 1);
    let failed = upload(&ch, &t, &id, &data, None).await.unwrap_err();
    assert_eq!(failed.code(), Code::Unavailable);
    assert!(fake.uploads(&id).is_empty());
    // The retry, from byte 0, is kept.
    upload(&ch, &t, &id, &data, None).await.unwrap();
    let kept = fake.uploads(&id);
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].kind, "c1z-v3");

    let unknown = upload(&ch, &t, "AAAAAAAAAAAAAAAAAAAAAAAAAAA", &data, None)
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
}

#[tokio::test]
async fn faults_fire_as_many_times_as_asked_and_pacing_is_configurable() {
    let fake = start().await;
    let id = fake.queue(TaskSpec::EventFeed).unwrap();
    let t = token(&fake).await;
    let ch = channel(&fake).await;
    fake.update_faults(|f| {
        f.unavailable = 2;
        f.next_poll_ms = 2500;
        f.next_heartbeat_ms = 1500;
    });
    for _ in 0..2 {
        let r: Result<proto::HelloResponse, _> = unary(&ch, &t, "Hello", hello_request("")).await;
        assert_eq!(r.unwrap_err().code(), Code::Unavailable);
    }
    let _: proto::HelloResponse = unary(&ch, &t, "Hello", hello_request("")).await.unwrap();
    let got = get_task(&ch, &t).await;
    assert_eq!(got.next_poll, Some(proto::duration_ms(2500)));
    assert!(matches!(
        got.task.unwrap().task_type,
        Some(proto::task::TaskType::EventFeed(_))
    ));
    assert!(!heartbeat(&ch, &t, &id).await.unwrap().cancelled);
    fake.cancel(&id);
    let hb = heartbeat(&ch, &t, &id).await.unwrap();
    assert!(hb.cancelled);
    assert_eq!(hb.next_heartbeat, Some(proto::duration_ms(1500)));
    finish(&ch, &t, &id, false).await.unwrap();
    let f = fake.task(&id).unwrap().finish.unwrap();
    assert!(!f.success);
    assert_eq!(f.code, 2);
    assert_eq!(f.message, "unsupported task type");
    assert_eq!(
        heartbeat(&ch, &t, "BBBBBBBBBBBBBBBBBBBBBBBBBBB")
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );

    fake.update_faults(|f| f.refuse_tokens = 1);
    let c = fake.credentials().clone();
    let a = auth::sign_assertion(&c.client_id, &c.client_secret).unwrap();
    assert_eq!(token_request(&fake, &c.client_id, &a).await.0, 401);
    assert_eq!(token_request(&fake, &c.client_id, &a).await.0, 200);
}

#[tokio::test]
async fn the_admin_api_queues_tasks_sets_faults_and_shows_the_record() {
    let fake = start().await;
    let admin = fake.admin_url().unwrap();
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{admin}/tasks"))
        .json(&json!({"type": "grant", "entitlement": "group:g1:member", "principal": "u1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let id = r.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let bad = client
        .post(format!("{admin}/tasks"))
        .json(&json!({"type": "grant", "entitlement": "nocolons", "principal": "u1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);
    assert!(bad.text().await.unwrap().contains("<type>:<id>:<slug>"));
    let faults = client
        .put(format!("{admin}/faults"))
        .json(&json!({"next_poll_ms": 7}))
        .send()
        .await
        .unwrap();
    assert_eq!(faults.status().as_u16(), 200);
    assert_eq!(fake.faults().next_poll_ms, 7);

    let t = token(&fake).await;
    let ch = channel(&fake).await;
    let got = get_task(&ch, &t).await.task.unwrap();
    assert_eq!(got.id, id);
    let Some(proto::task::TaskType::Grant(g)) = got.task_type else {
        panic!("not a grant")
    };
    let e = g.entitlement.unwrap();
    assert_eq!(e.id, "group:g1:member");
    assert_eq!(e.resource.unwrap().id.unwrap().resource_type, "group");
    assert_eq!(g.principal.unwrap().id.unwrap().resource, "u1");

    let calls: serde_json::Value = client
        .get(format!("{admin}/calls"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = calls
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["call"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["token", "get_task"]);
    let text = client
        .get(format!("{admin}/calls"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!text.contains(&fake.credentials().client_secret));
}
