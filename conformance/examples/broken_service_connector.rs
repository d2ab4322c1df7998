//! A small service-mode connector with a defect on demand, to see the service suite catch real
//! defects. It speaks baton's service-mode conventions (the environment, the token exchange,
//! Hello, polling, heartbeats, uploads, FinishTask) and syncs through this repository's
//! connector library; it handles no provisioning task. The defect comes from
//! `BROKEN_SERVICE_DEFECT`:
//!
//! - `finish-without-upload`: a sync task is finished as a success with nothing uploaded;
//! - `ignore-cancel`: a heartbeat answered `cancelled` is ignored and the sync goes on;
//! - `success-for-unsupported`: a task type it does not handle is finished as a success;
//! - unset or `none`: no defect.
//!
//! ```sh
//! cargo build -p notion-conformance --example broken_service_connector
//! BROKEN_SERVICE_DEFECT=ignore-cancel cargo run -p notion-conformance -- run --suite service \
//!   --connector target/debug/examples/broken_service_connector
//! ```

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use notion_conformance::fake_c1::auth;
use notion_conformance::fake_c1::proto::{self, finish_task_request as fin, task::TaskType, SERVICE};
use prost::Message;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic_prost::ProstCodec;

fn main() -> ExitCode {
    let defect = std::env::var("BROKEN_SERVICE_DEFECT").unwrap_or_else(|_| "none".into());
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&defect, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn env(name: &str) -> anyhow::Result<String> {
    std::env::var(name).with_context(|| format!("{name} is required in service mode"))
}

/// The service-mode environment, read (and the C1 part removed, so that the connector
/// library's flag parser, which refuses a client id, never sees it) before any thread starts.
struct Config {
    client_id: String,
    secret: String,
    scim_token: String,
    host: String,
    ca_file: String,
    host_id: String,
}

impl Config {
    fn from_env() -> anyhow::Result<Config> {
        let config = Config {
            client_id: env("BATON_CLIENT_ID")?,
            secret: env("BATON_CLIENT_SECRET")?,
            scim_token: env("BATON_SCIM_TOKEN")?,
            host: env("BATON_C1_API_HOST")?,
            ca_file: env("SSL_CERT_FILE")?,
            host_id: std::env::var("BATON_HOST_ID").unwrap_or_else(|_| "broken-service-connector".into()),
        };
        for name in [
            "BATON_CLIENT_ID",
            "BATON_CLIENT_SECRET",
            "BATON_C1_API_HOST",
            "BATON_HOST_ID",
            "BATON_SCIM_TOKEN",
        ] {
            std::env::remove_var(name);
        }
        Ok(config)
    }
}

struct C1 {
    channel: Channel,
    token: String,
    host_id: String,
}

impl C1 {
    async fn call<Req, Resp>(&self, method: &str, message: Req) -> Result<Resp, tonic::Status>
    where
        Req: Message + Send + Sync + 'static,
        Resp: Message + Default + Send + Sync + 'static,
    {
        let mut grpc = tonic::client::Grpc::new(self.channel.clone());
        grpc.ready()
            .await
            .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
        let mut request = tonic::Request::new(message);
        let value = format!("Bearer {}", self.token)
            .parse()
            .map_err(|_| tonic::Status::internal("token is not a header value"))?;
        request.metadata_mut().insert("authorization", value);
        let path = http::uri::PathAndQuery::try_from(format!("/{SERVICE}/{method}"))
            .map_err(|_| tonic::Status::internal("bad method"))?;
        grpc.unary(request, path, ProstCodec::<Req, Resp>::default())
            .await
            .map(tonic::Response::into_inner)
    }

    async fn finish(&self, task_id: &str, outcome: Result<(), (i32, String)>) -> anyhow::Result<()> {
        let (status, state) = match outcome {
            Ok(()) => (None, fin::FinalState::Success(fin::Success::default())),
            Err((code, message)) => (
                Some(proto::RpcStatus {
                    code,
                    message,
                    details: Vec::new(),
                }),
                fin::FinalState::Error(fin::Error::default()),
            ),
        };
        let _: proto::FinishTaskResponse = self
            .call(
                "FinishTask",
                proto::FinishTaskRequest {
                    host_id: self.host_id.clone(),
                    task_id: task_id.to_string(),
                    status,
                    final_state: Some(state),
                },
            )
            .await?;
        Ok(())
    }

    async fn heartbeat(&self, task_id: &str) -> anyhow::Result<bool> {
        let r: proto::HeartbeatResponse = self
            .call(
                "Heartbeat",
                proto::HeartbeatRequest {
                    host_id: self.host_id.clone(),
                    task_id: task_id.to_string(),
                    annotations: Vec::new(),
                },
            )
            .await?;
        Ok(r.cancelled)
    }

    async fn upload(&self, task_id: &str, data: &[u8]) -> Result<(), tonic::Status> {
        use proto::upload_asset_request::Msg;
        let mut messages = vec![proto::UploadAssetRequest {
            msg: Some(Msg::Metadata(proto::UploadMetadata {
                host_id: self.host_id.clone(),
                task_id: task_id.to_string(),
            })),
        }];
        for chunk in data.chunks(512 * 1024) {
            messages.push(proto::UploadAssetRequest {
                msg: Some(Msg::Data(proto::UploadData { data: chunk.to_vec() })),
            });
        }
        let sum = ring::digest::digest(&ring::digest::SHA256, data);
        messages.push(proto::UploadAssetRequest {
            msg: Some(Msg::Eof(proto::UploadEof {
                sha256_checksum: sum.as_ref().to_vec(),
            })),
        });
        let mut grpc = tonic::client::Grpc::new(self.channel.clone());
        grpc.ready()
            .await
            .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
        let mut request = tonic::Request::new(futures_util::stream::iter(messages));
        let value = format!("Bearer {}", self.token)
            .parse()
            .map_err(|_| tonic::Status::internal("token is not a header value"))?;
        request.metadata_mut().insert("authorization", value);
        let path = http::uri::PathAndQuery::try_from(format!("/{SERVICE}/UploadAsset"))
            .map_err(|_| tonic::Status::internal("bad method"))?;
        grpc.client_streaming(
            request,
            path,
            ProstCodec::<proto::UploadAssetRequest, proto::UploadAssetResponse>::default(),
        )
        .await
        .map(|_| ())
    }
}

async fn run(defect: &str, config: Config) -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let base_url = args
        .iter()
        .position(|a| a == "--base-url")
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| "https://api.notion.com/scim/v2".into());
    let Config {
        client_id,
        secret,
        scim_token,
        host,
        ca_file,
        host_id,
    } = config;
    let ca = std::fs::read(&ca_file).context("cannot read SSL_CERT_FILE")?;

    let assertion = auth::sign_assertion(&client_id, &secret).context("the client secret")?;
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca)?)
        .build()?;
    let form = serde_urlencoded::to_string([
        ("client_id", client_id.as_str()),
        ("grant_type", auth::GRANT_TYPE),
        ("client_assertion_type", auth::ASSERTION_TYPE),
        ("client_assertion", assertion.as_str()),
    ])?;
    let answer = http
        .post(format!("https://{host}/auth/v1/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await?;
    if !answer.status().is_success() {
        bail!("failed to get token: {}", answer.status());
    }
    let body: serde_json::Value = answer.json().await?;
    let token = body["access_token"].as_str().unwrap_or_default().to_string();
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&ca))
        .domain_name("localhost");
    let channel = Endpoint::from_shared(format!("https://{host}"))?
        .tls_config(tls)?
        .connect()
        .await?;
    let c1 = C1 {
        channel,
        token,
        host_id,
    };

    let hello = proto::HelloRequest {
        host_id: c1.host_id.clone(),
        task_id: String::new(),
        build_info: None,
        os_info: None,
        connector_metadata: Some(proto::ConnectorMetadata {
            display_name: "Broken service connector".into(),
            description: String::new(),
            capabilities: Some(proto::ConnectorCapabilities {
                resource_type_capabilities: vec![proto::ResourceTypeCapability {
                    resource_type: Some(proto::ResourceType {
                        id: "user".into(),
                        display_name: "User".into(),
                        traits: vec![1],
                        annotations: Vec::new(),
                        description: String::new(),
                        sourced_externally: false,
                    }),
                    capabilities: vec![2],
                }],
                connector_capabilities: Vec::new(),
            }),
        }),
        annotations: Vec::new(),
    };
    let mut wait = Duration::from_millis(200);
    loop {
        match c1.call::<_, proto::HelloResponse>("Hello", hello.clone()).await {
            Ok(_) => break,
            Err(s) if s.code() == tonic::Code::Unavailable => {
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
            Err(s) => bail!("startup Hello failed: {s}"),
        }
    }

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        let next = match c1
            .call::<_, proto::GetTaskResponse>(
                "GetTask",
                proto::GetTaskRequest {
                    host_id: c1.host_id.clone(),
                },
            )
            .await
        {
            Ok(r) => {
                if let Some(task) = r.task {
                    handle(&c1, task, defect, &base_url, &scim_token).await?;
                }
                r.next_poll
                    .map(|d| Duration::from_millis(d.seconds.max(0) as u64 * 1000 + d.nanos.max(0) as u64 / 1_000_000))
                    .unwrap_or_default()
            }
            Err(_) => Duration::from_secs(1),
        };
        tokio::select! {
            _ = term.recv() => return Ok(()),
            _ = tokio::time::sleep(next) => {}
        }
    }
}

async fn handle(c1: &C1, task: proto::Task, defect: &str, base_url: &str, scim_token: &str) -> anyhow::Result<()> {
    match task.task_type {
        Some(TaskType::SyncFull(_)) => {
            if c1.heartbeat(&task.id).await? && defect != "ignore-cancel" {
                return c1.finish(&task.id, Err((1, "cancelled".into()))).await;
            }
            let dir = tempfile::tempdir()?;
            let file = dir.path().join("sync.c1z");
            if let Err(e) = sync(base_url, scim_token, &file).await {
                return c1.finish(&task.id, Err((2, format!("{e:#}")))).await;
            }
            if defect != "finish-without-upload" {
                let data = std::fs::read(&file)?;
                let mut attempt = 0;
                while let Err(e) = c1.upload(&task.id, &data).await {
                    attempt += 1;
                    if attempt == 3 {
                        return c1
                            .finish(&task.id, Err((e.code() as i32, e.message().to_string())))
                            .await;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
            c1.finish(&task.id, Ok(())).await
        }
        Some(TaskType::Hello(_)) => Ok(()),
        _ if defect == "success-for-unsupported" => c1.finish(&task.id, Ok(())).await,
        _ => c1.finish(&task.id, Err((2, "unsupported task type".into()))).await,
    }
}

/// A full sync through this repository's connector library.
async fn sync(base_url: &str, token: &str, file: &std::path::Path) -> anyhow::Result<()> {
    let settings = baton_notion::config::Settings::resolve(
        <baton_notion::config::Cli as clap::Parser>::try_parse_from([
            "baton-notion",
            "--base-url",
            base_url,
            "--scim-token",
            token,
        ])?
        .flags,
        None,
    )?;
    let client = baton_notion::scim::client::ScimClient::new(settings.client_config()?)?;
    let progress = baton_notion::progress::Progress::hidden();
    baton_notion::sync::run(&client, file, &baton_notion::sync::SyncOptions::default(), &progress).await?;
    Ok(())
}
