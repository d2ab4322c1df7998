//! BatonService over tonic's generic server plumbing (no generated code: the messages are the
//! hand-written ones in [`super::proto`]). Every call must carry `authorization: Bearer <token>`
//! with a token this fake issued and that has not expired; faults fire before the handler.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use ring::digest;
use tonic::server::{ClientStreamingService, Grpc, UnaryService};
use tonic::{Request, Response, Status, Streaming};
use tonic_prost::ProstCodec;

use super::proto::{self, upload_asset_request::Msg, SERVICE};
use super::state::{asset_kind, Call, Finish, State, Upload};

/// The largest data chunk the proto allows (1 MiB).
const MAX_CHUNK: usize = 1 << 20;

/// The tower service that answers `/c1.connectorapi.baton.v1.BatonService/*`.
#[derive(Debug, Clone)]
pub struct BatonService {
    pub(crate) state: Arc<State>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A unary handler from a closure.
struct Unary<F>(F);

impl<R, M, F, Fut> UnaryService<R> for Unary<F>
where
    F: FnMut(Request<R>) -> Fut,
    Fut: Future<Output = Result<Response<M>, Status>>,
{
    type Response = M;
    type Future = Fut;
    fn call(&mut self, request: Request<R>) -> Fut {
        (self.0)(request)
    }
}

/// A client-streaming handler from a closure.
struct ClientStreaming<F>(F);

impl<R, M, F, Fut> ClientStreamingService<R> for ClientStreaming<F>
where
    F: FnMut(Request<Streaming<R>>) -> Fut,
    Fut: Future<Output = Result<Response<M>, Status>>,
{
    type Response = M;
    type Future = Fut;
    fn call(&mut self, request: Request<Streaming<R>>) -> Fut {
        (self.0)(request)
    }
}

impl tower::Service<http::Request<axum::body::Body>> for BatonService {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<axum::body::Body>) -> Self::Future {
        let state = self.state.clone();
        let method = req
            .uri()
            .path()
            .strip_prefix('/')
            .and_then(|p| p.strip_prefix(SERVICE))
            .and_then(|p| p.strip_prefix('/'))
            .unwrap_or_default()
            .to_string();
        Box::pin(async move {
            let s = state.clone();
            let response = match method.as_str() {
                "Hello" => {
                    Grpc::new(ProstCodec::<proto::HelloResponse, proto::HelloRequest>::default())
                        .unary(Unary(move |r| hello(s.clone(), r)), req)
                        .await
                }
                "GetTask" => {
                    Grpc::new(ProstCodec::<proto::GetTaskResponse, proto::GetTaskRequest>::default())
                        .unary(Unary(move |r| get_task(s.clone(), r)), req)
                        .await
                }
                "GetTasks" => {
                    Grpc::new(ProstCodec::<proto::GetTasksResponse, proto::GetTasksRequest>::default())
                        .unary(Unary(move |r| get_tasks(s.clone(), r)), req)
                        .await
                }
                "Heartbeat" => {
                    Grpc::new(ProstCodec::<proto::HeartbeatResponse, proto::HeartbeatRequest>::default())
                        .unary(Unary(move |r| heartbeat(s.clone(), r)), req)
                        .await
                }
                "FinishTask" => {
                    Grpc::new(ProstCodec::<proto::FinishTaskResponse, proto::FinishTaskRequest>::default())
                        .unary(Unary(move |r| finish_task(s.clone(), r)), req)
                        .await
                }
                "UploadAsset" => {
                    Grpc::new(ProstCodec::<proto::UploadAssetResponse, proto::UploadAssetRequest>::default())
                        .client_streaming(ClientStreaming(move |r| upload_asset(s.clone(), r)), req)
                        .await
                }
                other => {
                    state.record(Call::Refused {
                        rpc: other.to_string(),
                        code: "UNIMPLEMENTED".into(),
                        why: "not a BatonService method this fake serves".into(),
                    });
                    Status::unimplemented(format!("{other}: not served by the fake ConductorOne")).into_http()
                }
            };
            Ok(response)
        })
    }
}

/// The checks every call passes first: an issued, unexpired bearer token, then the
/// UNAVAILABLE fault.
fn admit<T>(state: &State, rpc: &str, request: &Request<T>) -> Result<(), Status> {
    let refused = |code: &str, why: &str, status: Status| {
        state.record(Call::Refused {
            rpc: rpc.to_string(),
            code: code.to_string(),
            why: why.to_string(),
        });
        Err(status)
    };
    let header = request
        .metadata()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let Some(token) = header.strip_prefix("Bearer ") else {
        return refused(
            "UNAUTHENTICATED",
            "no bearer token",
            Status::unauthenticated("authorization: Bearer <token> is required"),
        );
    };
    if !state.token_valid(token) {
        return refused(
            "UNAUTHENTICATED",
            "a token this fake did not issue, or an expired one",
            Status::unauthenticated("unknown or expired access token"),
        );
    }
    if state.fire(|f| &mut f.unavailable) {
        return refused(
            "UNAVAILABLE",
            "injected fault",
            Status::unavailable("fake ConductorOne: injected UNAVAILABLE"),
        );
    }
    Ok(())
}

fn known_task(state: &State, task_id: &str) -> Result<(), Status> {
    if state.inner.lock().tasks.contains_key(task_id) {
        Ok(())
    } else {
        Err(Status::not_found(format!("no task {task_id:?} was handed out")))
    }
}

async fn hello(
    state: Arc<State>,
    request: Request<proto::HelloRequest>,
) -> Result<Response<proto::HelloResponse>, Status> {
    admit(&state, "Hello", &request)?;
    let r = request.into_inner();
    if r.host_id.is_empty() {
        return Err(Status::invalid_argument("host_id is required"));
    }
    let Some(metadata) = r.connector_metadata else {
        return Err(Status::invalid_argument("connector_metadata is required"));
    };
    if !r.task_id.is_empty() {
        known_task(&state, &r.task_id)?;
    }
    let mut capabilities = Vec::new();
    if let Some(caps) = &metadata.capabilities {
        for rt in &caps.resource_type_capabilities {
            let id = rt.resource_type.as_ref().map(|t| t.id.clone()).unwrap_or_default();
            for c in &rt.capabilities {
                capabilities.push(format!("{id}:{}", proto::capability_name(*c)));
            }
        }
        for c in &caps.connector_capabilities {
            capabilities.push(proto::capability_name(*c));
        }
    }
    state.record(Call::Hello {
        host_id: r.host_id,
        task_id: r.task_id.clone(),
        build_info: r.build_info.map(|b| {
            serde_json::json!({"lang_version": b.lang_version, "package": b.package, "package_version": b.package_version})
        }),
        os_info: r.os_info.map(|o| {
            serde_json::json!({
                "hostname": o.hostname, "os": o.os, "platform": o.platform,
                "platform_version": o.platform_version, "platform_family": o.platform_family,
                "kernel_version": o.kernel_version, "kernel_arch": o.kernel_arch,
                "virtualization_system": o.virtualization_system,
            })
        }),
        display_name: metadata.display_name,
        capabilities,
    });
    if !r.task_id.is_empty() {
        // A HelloTask is answered by this Hello: it is done, with no FinishTask.
        let now = state.now_ms();
        if let Some(info) = state.inner.lock().tasks.get_mut(&r.task_id) {
            info.finished_at_ms = Some(now);
        }
    }
    Ok(Response::new(proto::HelloResponse::default()))
}

async fn get_task(
    state: Arc<State>,
    request: Request<proto::GetTaskRequest>,
) -> Result<Response<proto::GetTaskResponse>, Status> {
    admit(&state, "GetTask", &request)?;
    let r = request.into_inner();
    if r.host_id.is_empty() {
        return Err(Status::invalid_argument("host_id is required"));
    }
    let task = state.hand_out();
    state.record(Call::GetTask {
        host_id: r.host_id,
        handed: task.as_ref().map(|t| t.id.clone()),
    });
    let faults = state.faults();
    Ok(Response::new(proto::GetTaskResponse {
        task,
        next_poll: Some(proto::duration_ms(faults.next_poll_ms)),
        next_heartbeat: Some(proto::duration_ms(faults.next_heartbeat_ms)),
        annotations: Vec::new(),
    }))
}

async fn get_tasks(
    state: Arc<State>,
    request: Request<proto::GetTasksRequest>,
) -> Result<Response<proto::GetTasksResponse>, Status> {
    admit(&state, "GetTasks", &request)?;
    let r = request.into_inner();
    if r.page_size == 0 || r.page_size > 100 {
        return Err(Status::invalid_argument("page_size must be 1..=100"));
    }
    let mut tasks = Vec::new();
    while tasks.len() < r.page_size as usize {
        match state.hand_out() {
            Some(t) if r.known_task_ids.contains(&t.id) => continue,
            Some(t) => tasks.push(t),
            None => break,
        }
    }
    state.record(Call::GetTasks {
        host_id: r.host_id,
        handed: tasks.iter().map(|t| t.id.clone()).collect(),
    });
    let faults = state.faults();
    Ok(Response::new(proto::GetTasksResponse {
        tasks,
        next_poll: Some(proto::duration_ms(faults.next_poll_ms)),
        next_heartbeat: Some(proto::duration_ms(faults.next_heartbeat_ms)),
    }))
}

async fn heartbeat(
    state: Arc<State>,
    request: Request<proto::HeartbeatRequest>,
) -> Result<Response<proto::HeartbeatResponse>, Status> {
    admit(&state, "Heartbeat", &request)?;
    let r = request.into_inner();
    known_task(&state, &r.task_id)?;
    let faults = state.faults();
    let cancelled = faults.cancel_heartbeats || state.inner.lock().cancelled.contains(&r.task_id);
    state.record(Call::Heartbeat {
        host_id: r.host_id,
        task_id: r.task_id,
        cancelled,
    });
    Ok(Response::new(proto::HeartbeatResponse {
        next_heartbeat: Some(proto::duration_ms(faults.next_heartbeat_ms)),
        cancelled,
    }))
}

async fn finish_task(
    state: Arc<State>,
    request: Request<proto::FinishTaskRequest>,
) -> Result<Response<proto::FinishTaskResponse>, Status> {
    use proto::finish_task_request::FinalState;
    admit(&state, "FinishTask", &request)?;
    let r = request.into_inner();
    known_task(&state, &r.task_id)?;
    let status = r.status.unwrap_or_default();
    let (success, non_retryable, response) = match r.final_state {
        Some(FinalState::Success(s)) => (true, false, s.response),
        Some(FinalState::Error(e)) => (false, e.non_retryable, e.response),
        None => return Err(Status::invalid_argument("final_state (error or success) is required")),
    };
    let finish = Finish {
        host_id: r.host_id,
        task_id: r.task_id.clone(),
        success,
        code: status.code,
        message: status.message,
        non_retryable,
        response_type: response.as_ref().map(|a| a.type_url.clone()),
        response: response.map(|a| a.value),
    };
    let now = state.now_ms();
    {
        let mut inner = state.inner.lock();
        if let Some(info) = inner.tasks.get_mut(&r.task_id) {
            if info.finish.is_none() {
                info.finished_at_ms = Some(now);
                info.finish = Some(finish.clone());
            }
        }
    }
    state.record(Call::Finish(finish));
    Ok(Response::new(proto::FinishTaskResponse::default()))
}

/// Reassembles one asset: metadata, data chunks, then an EOF whose SHA-256 must match.
async fn upload_asset(
    state: Arc<State>,
    request: Request<Streaming<proto::UploadAssetRequest>>,
) -> Result<Response<proto::UploadAssetResponse>, Status> {
    admit(&state, "UploadAsset", &request)?;
    let mut stream = request.into_inner();
    let refuse = |host_id: &str, task_id: &str, bytes: usize, status: Status| {
        state.record(Call::Upload {
            host_id: host_id.to_string(),
            task_id: task_id.to_string(),
            bytes: bytes as u64,
            outcome: status.message().to_string(),
        });
        Err(status)
    };
    let metadata = match stream.message().await? {
        Some(proto::UploadAssetRequest {
            msg: Some(Msg::Metadata(m)),
        }) => m,
        _ => {
            return refuse(
                "",
                "",
                0,
                Status::invalid_argument("an upload must start with its metadata"),
            )
        }
    };
    let (host_id, task_id) = (metadata.host_id, metadata.task_id);
    if let Err(status) = known_task(&state, &task_id) {
        return refuse(&host_id, &task_id, 0, status);
    }
    let mut bytes = Vec::new();
    let mut hasher = digest::Context::new(&digest::SHA256);
    let checksum = loop {
        match stream.message().await? {
            Some(proto::UploadAssetRequest {
                msg: Some(Msg::Data(d)),
            }) => {
                if d.data.is_empty() || d.data.len() > MAX_CHUNK {
                    let why = format!("a data chunk must hold 1 to {MAX_CHUNK} bytes, not {}", d.data.len());
                    return refuse(&host_id, &task_id, bytes.len(), Status::invalid_argument(why));
                }
                hasher.update(&d.data);
                bytes.extend_from_slice(&d.data);
            }
            Some(proto::UploadAssetRequest {
                msg: Some(Msg::Eof(eof)),
            }) => break eof.sha256_checksum,
            Some(_) => {
                let status = Status::invalid_argument("after the metadata only data chunks and one eof may come");
                return refuse(&host_id, &task_id, bytes.len(), status);
            }
            None => {
                let status = Status::invalid_argument("the upload ended without an eof");
                return refuse(&host_id, &task_id, bytes.len(), status);
            }
        }
    };
    if stream.message().await?.is_some() {
        let status = Status::invalid_argument("nothing may follow the eof");
        return refuse(&host_id, &task_id, bytes.len(), status);
    }
    if checksum.as_slice() != hasher.finish().as_ref() {
        let status = Status::data_loss("the SHA-256 in the eof does not match the bytes received");
        return refuse(&host_id, &task_id, bytes.len(), status);
    }
    let faults = state.faults();
    if faults.upload_delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.upload_delay_ms)).await;
    }
    if state.fire(|f| &mut f.fail_uploads) {
        let status = Status::unavailable("fake ConductorOne: injected upload failure");
        return refuse(&host_id, &task_id, bytes.len(), status);
    }
    let size = bytes.len() as u64;
    state.record(Call::Upload {
        host_id: host_id.clone(),
        task_id: task_id.clone(),
        bytes: size,
        outcome: "kept".into(),
    });
    let at_ms = state.now_ms();
    state.inner.lock().uploads.push(Upload {
        task_id,
        host_id,
        size,
        kind: asset_kind(&bytes).to_string(),
        at_ms,
        bytes,
    });
    Ok(Response::new(proto::UploadAssetResponse::default()))
}
