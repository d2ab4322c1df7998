//! A fake ConductorOne that a connector in any language can be pointed at: one TLS listener
//! (HTTP/2 with ALPN `h2`, HTTP/1.1 allowed) serving `POST /auth/v1/token` and the
//! `c1.connectorapi.baton.v1.BatonService` gRPC API, as baton-sdk's service mode expects them
//! (`BATON_C1_API_HOST=127.0.0.1:<port>`, `SSL_CERT_FILE=<the fake's CA>`).
//!
//! It mints a client id and an Ed25519 client secret in ConductorOne's formats and accepts
//! only assertions signed with that secret; queues tasks given from Rust ([`FakeC1::queue`]),
//! the command line or the admin API ([`admin`]); records every call ([`FakeC1::calls`]);
//! reassembles uploads and checks their SHA-256 ([`FakeC1::uploads`]); and injects faults
//! ([`Faults`]). The messages are its own ([`proto`]); nothing comes from the connector.
//!
//! - [`tls`]: the per-start CA and leaf; [`auth`]: credentials and the token exchange;
//!   [`grpc`]: BatonService; [`tasks`]: task descriptions to `Task` messages; [`state`]: what
//!   it holds; [`admin`]: the JSON admin API.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use axum::extract::State as AxState;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub mod admin;
pub mod auth;
pub mod grpc;
pub mod proto;
pub mod state;
pub mod tasks;
pub mod tls;

pub use auth::Credentials;
pub use state::{Call, Faults, Finish, Recorded, TaskInfo, Upload};
pub use tasks::TaskSpec;

/// How to start a fake.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where the TLS listener binds (`127.0.0.1:0` picks a port).
    pub listen: String,
    /// Where the plain admin API binds, if anywhere.
    pub admin: Option<String>,
    /// `expires_in` of issued access tokens.
    pub token_lifetime: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            listen: "127.0.0.1:0".into(),
            admin: None,
            token_lifetime: auth::TOKEN_LIFETIME,
        }
    }
}

/// A running fake ConductorOne. Dropping it stops the listeners.
#[derive(Debug)]
pub struct FakeC1 {
    state: Arc<State>,
    addr: SocketAddr,
    admin_addr: Option<SocketAddr>,
    ca_pem: String,
    credentials: Credentials,
    stop: watch::Sender<bool>,
}

use state::State;

impl FakeC1 {
    /// Starts the listeners and mints a client for them.
    pub async fn start(options: Options) -> anyhow::Result<FakeC1> {
        let tls = tls::make()?;
        let listener = TcpListener::bind(&options.listen)
            .await
            .with_context(|| format!("cannot listen on {}", options.listen))?;
        let addr = listener.local_addr()?;
        // The client id names the host the certificate covers, with the port: a connector
        // given only the id and the CA finds the fake; the assertion's aud is "localhost".
        let (credentials, registered) = auth::mint(&format!("localhost:{}", addr.port()))?;
        let state = Arc::new(State::new(registered, options.token_lifetime));
        let (stop, stopped) = watch::channel(false);

        let router = Router::new()
            .route("/auth/v1/token", post(token))
            .with_state(state.clone())
            .fallback_service(grpc::BatonService { state: state.clone() });
        let acceptor = tokio_rustls::TlsAcceptor::from(tls.server.clone());
        tokio::spawn(serve_tls(listener, acceptor, router, stopped.clone()));

        let admin_addr = match &options.admin {
            None => None,
            Some(a) => {
                let l = TcpListener::bind(a)
                    .await
                    .with_context(|| format!("cannot listen on {a} for the admin API"))?;
                let admin_addr = l.local_addr()?;
                let app = admin::router(state.clone());
                let mut stopped = stopped.clone();
                tokio::spawn(async move {
                    let _ = axum::serve(l, app)
                        .with_graceful_shutdown(async move {
                            let _ = stopped.wait_for(|s| *s).await;
                        })
                        .await;
                });
                Some(admin_addr)
            }
        };
        Ok(FakeC1 {
            state,
            addr,
            admin_addr,
            ca_pem: tls.ca_pem,
            credentials,
            stop,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `127.0.0.1:<port>`, the value of `BATON_C1_API_HOST`.
    pub fn api_host(&self) -> String {
        format!("127.0.0.1:{}", self.addr.port())
    }

    /// The admin API's base URL, if it was asked for.
    pub fn admin_url(&self) -> Option<String> {
        self.admin_addr.map(|a| format!("http://{a}"))
    }

    /// The CA certificate (PEM) a connector must trust.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Writes the CA certificate to `path` (for `SSL_CERT_FILE`).
    pub fn write_ca(&self, path: &Path) -> anyhow::Result<()> {
        std::fs::write(path, &self.ca_pem).with_context(|| format!("cannot write the CA to {}", path.display()))
    }

    /// The client id and secret this fake minted and accepts.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// The environment a baton-style connector needs to reach this fake, with the CA at
    /// `ca_file`: `BATON_CLIENT_ID`, `BATON_CLIENT_SECRET`, `BATON_C1_API_HOST`, `SSL_CERT_FILE`.
    pub fn env(&self, ca_file: &Path) -> Vec<(String, String)> {
        vec![
            ("BATON_CLIENT_ID".into(), self.credentials.client_id.clone()),
            ("BATON_CLIENT_SECRET".into(), self.credentials.client_secret.clone()),
            ("BATON_C1_API_HOST".into(), self.api_host()),
            ("SSL_CERT_FILE".into(), ca_file.display().to_string()),
        ]
    }

    /// Queues a task; its id.
    pub fn queue(&self, spec: TaskSpec) -> anyhow::Result<String> {
        self.state.queue(spec)
    }

    /// Later heartbeats for `task_id` answer `cancelled: true`.
    pub fn cancel(&self, task_id: &str) {
        self.state.inner.lock().cancelled.insert(task_id.to_string());
    }

    pub fn faults(&self) -> Faults {
        self.state.faults()
    }

    pub fn set_faults(&self, faults: Faults) {
        self.state.inner.lock().faults = faults;
    }

    /// Changes some faults, keeping the rest.
    pub fn update_faults(&self, change: impl FnOnce(&mut Faults)) {
        change(&mut self.state.inner.lock().faults);
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Recorded> {
        self.state.inner.lock().calls.clone()
    }

    /// A task's state.
    pub fn task(&self, id: &str) -> Option<TaskInfo> {
        self.state.inner.lock().tasks.get(id).cloned()
    }

    /// The uploads kept for `task_id` (SHA-256 checked), in arrival order.
    pub fn uploads(&self, task_id: &str) -> Vec<Upload> {
        self.state
            .inner
            .lock()
            .uploads
            .iter()
            .filter(|u| u.task_id == task_id)
            .cloned()
            .collect()
    }

    /// Removes and returns the uploads kept for `task_id` (large c1z files need not stay).
    pub fn take_uploads(&self, task_id: &str) -> Vec<Upload> {
        let mut inner = self.state.inner.lock();
        let (taken, kept) = std::mem::take(&mut inner.uploads)
            .into_iter()
            .partition(|u| u.task_id == task_id);
        inner.uploads = kept;
        taken
    }

    /// Waits until `done` holds for the calls so far; `false` after `timeout`.
    pub async fn wait_for(&self, timeout: Duration, done: impl Fn(&[Recorded]) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if done(&self.state.inner.lock().calls) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits for the FinishTask of `task_id`.
    pub async fn wait_finished(&self, task_id: &str, timeout: Duration) -> anyhow::Result<Finish> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(f) = self.task(task_id).and_then(|t| t.finish) {
                return Ok(f);
            }
            if Instant::now() >= deadline {
                bail!(
                    "task {task_id} was not finished within {}s; calls: {}",
                    timeout.as_secs(),
                    summarize(&self.calls())
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the listeners (open connections end with them).
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }
}

impl Drop for FakeC1 {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The calls as a short line: `token, hello, get_task(3), ...` (runs of one name collapsed).
pub fn summarize(calls: &[Recorded]) -> String {
    let mut out: Vec<(String, usize)> = Vec::new();
    for c in calls {
        let name = match &c.call {
            Call::Refused { rpc, code, .. } => format!("{rpc}:{code}"),
            Call::Token { granted: false, .. } => "token:refused".into(),
            Call::Upload { outcome, .. } if outcome != "kept" => "upload:refused".into(),
            Call::Finish(f) if !f.success => "finish:error".into(),
            other => other.name().to_string(),
        };
        match out.last_mut() {
            Some((last, n)) if *last == name => *n += 1,
            _ => out.push((name, 1)),
        }
    }
    if out.is_empty() {
        return "none".into();
    }
    out.iter()
        .map(|(name, n)| if *n == 1 { name.clone() } else { format!("{name}({n})") })
        .collect::<Vec<_>>()
        .join(", ")
}

async fn serve_tls(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    router: Router,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stopped.wait_for(|s| *s) => return,
        };
        let Ok((tcp, _)) = accepted else { continue };
        let acceptor = acceptor.clone();
        let service = TowerToHyperService::new(router.clone());
        let mut stopped = stopped.clone();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else { return };
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            let conn = builder.serve_connection(TokioIo::new(tls), service);
            tokio::select! {
                _ = conn => {}
                _ = stopped.wait_for(|s| *s) => {}
            }
        });
    }
}

/// `POST /auth/v1/token`: a bearer token for a valid client assertion, 401 otherwise.
async fn token(AxState(state): AxState<Arc<State>>, body: axum::body::Bytes) -> Response {
    let form: auth::TokenForm = match serde_urlencoded::from_bytes(&body) {
        Ok(f) => f,
        Err(_) => return refuse_token(&state, String::new(), "the body is not a form".into()),
    };
    if state.fire(|f| &mut f.refuse_tokens) {
        return refuse_token(&state, form.client_id, "injected refusal".into());
    }
    if let Err(why) = state.client.verify(&form) {
        return refuse_token(&state, form.client_id, why.0);
    }
    let token = match auth::access_token() {
        Ok(t) => t,
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    };
    state
        .inner
        .lock()
        .tokens
        .insert(token.clone(), Instant::now() + state.token_lifetime);
    state.record(Call::Token {
        client_id: form.client_id,
        granted: true,
        refusal: None,
    });
    Json(serde_json::json!({
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": state.token_lifetime.as_secs(),
    }))
    .into_response()
}

fn refuse_token(state: &State, client_id: String, why: String) -> Response {
    let body = serde_json::json!({"error": "invalid_client", "error_description": why});
    state.record(Call::Token {
        client_id,
        granted: false,
        refusal: Some(why),
    });
    (StatusCode::UNAUTHORIZED, Json(body)).into_response()
}
