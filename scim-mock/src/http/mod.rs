//! The HTTP face of the emulation: routes, the middleware that authenticates, injects faults,
//! enforces the body cap and keeps the journal, and the server loop.
//!
//! Layers, outermost first: [`outer`] (body cap, error rendering, journal) -> [`auth`] (token,
//! plan) -> [`faults`] -> the endpoint. `/ServiceProviderConfig` and `/__admin` skip `auth`.

mod admin;
mod discovery;
mod groups;
mod list;
mod log;
mod users;

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use futures_util::StreamExt;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use parking_lot::{Mutex, RwLock};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tower::ServiceExt;
use uuid::Uuid;

use crate::error::ScimError;
use crate::faults::{Fault, FaultBook};
use crate::journal::{redact, Journal, JournalEntry};
use crate::model::Org;
use crate::quirks::Quirks;

/// Notion caps payloads at 500 KB.
pub const MAX_BODY_BYTES: usize = 500 * 1000;

/// Everything a request may touch.
#[derive(Debug)]
pub(crate) struct Shared {
    pub org: RwLock<Org>,
    /// The org as it was first served, for `POST /__admin/reset`.
    pub initial: Mutex<Org>,
    pub quirks: RwLock<Quirks>,
    /// The quirks the server started with, which a reset brings back.
    pub initial_quirks: Quirks,
    pub faults: Arc<FaultBook>,
    pub journal: Journal,
}

pub(crate) type AppState = Arc<Shared>;

impl Shared {
    /// Back to the server's start: the org as first served (or last reseeded), an empty
    /// journal, no faults, the start-up quirks; except what `keep` names.
    pub(crate) fn reset(&self, keep: crate::server::ResetKeep) {
        if !keep.org {
            let initial = self.initial.lock().clone();
            *self.org.write() = initial;
        }
        if !keep.journal {
            self.journal.clear();
        }
        if !keep.faults {
            self.faults.clear_all();
        }
        if !keep.quirks {
            *self.quirks.write() = self.initial_quirks.clone();
        }
    }
}

/// Who is calling: the token that authenticated the request.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub token_id: String,
    pub workspace: usize,
    /// The owner who created the token: SCIM cannot remove them.
    pub creator: Uuid,
}

/// Marks a response whose connection must be closed without sending it.
#[derive(Debug, Clone, Copy)]
struct Abort;

/// The fault a request received, for the journal.
#[derive(Debug, Clone, Copy)]
struct Injected(Fault);

impl IntoResponse for ScimError {
    /// The error travels in the response's extensions and is rendered by [`render_error`]
    /// in the dialect the quirks choose.
    fn into_response(self) -> Response {
        let mut resp = Response::new(Body::empty());
        resp.extensions_mut().insert(self);
        resp
    }
}

fn render_error(state: &Shared, mut resp: Response) -> Response {
    let Some(err) = resp.extensions_mut().remove::<ScimError>() else {
        return resp;
    };
    let (dialect, ct) = {
        let q = state.quirks.read();
        (q.error_dialect, q.response_content_type)
    };
    let mut rendered = err.render(dialect, ct);
    std::mem::swap(rendered.extensions_mut(), resp.extensions_mut());
    // Keep what the router said besides the body (`Allow` on a 405).
    if let Some(allow) = resp.headers().get(header::ALLOW) {
        rendered.headers_mut().insert(header::ALLOW, allow.clone());
    }
    rendered
}

/// A JSON response with the quirks' content type.
pub(crate) fn json_response(state: &Shared, status: StatusCode, body: Vec<u8>) -> Response {
    let ct = state.quirks.read().response_content_type;
    let mut resp = (status, body).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct.mime()));
    resp
}

/// Answers a creation: 201 with `Location` (`kind` is `Users` or `Groups`), or 200 without, as
/// [`Quirks::created_with_location`] says. `render` builds the body for the chosen status.
pub(crate) fn created(
    state: &Shared,
    kind: &str,
    id: Uuid,
    render: impl FnOnce(StatusCode) -> Result<Response, ScimError>,
) -> Result<Response, ScimError> {
    let with_location = state.quirks.read().created_with_location;
    let status = if with_location {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut resp = render(status)?;
    if with_location {
        if let Ok(v) = HeaderValue::from_str(&format!("{}/{kind}/{id}", crate::resource::LOCATION_BASE)) {
            resp.headers_mut().insert(header::LOCATION, v);
        }
    }
    Ok(resp)
}

/// Reads a request body as a JSON value: anything else is `invalidSyntax`.
pub(crate) fn parse_json(body: &Bytes) -> Result<serde_json::Value, ScimError> {
    if body.is_empty() {
        return Err(ScimError::InvalidSyntax("the request needs a JSON body".into()));
    }
    serde_json::from_slice(body).map_err(|e| ScimError::InvalidSyntax(format!("the body is not valid JSON: {e}")))
}

/// The router: SCIM under `/scim/v2`, the admin API under `/__admin`.
pub(crate) fn app(state: AppState) -> Router {
    let authed = Router::new()
        .route("/scim/v2/Users", get(users::list).post(users::create))
        .route(
            "/scim/v2/Users/{id}",
            get(users::get_one)
                .put(users::replace)
                .patch(users::patch)
                .delete(users::delete),
        )
        .route("/scim/v2/Groups", get(groups::list).post(groups::create))
        .route(
            "/scim/v2/Groups/{id}",
            get(groups::get_one)
                .put(groups::replace)
                .patch(groups::patch)
                .delete(groups::delete),
        )
        .route("/scim/v2/ResourceTypes", get(discovery::resource_types))
        .route("/scim/v2/ResourceTypes/{name}", get(discovery::resource_type))
        .route("/scim/v2/Schemas", get(discovery::schemas))
        .route("/scim/v2/Schemas/{urn}", get(discovery::schema))
        .route("/scim/v2/Me", any(discovery::undocumented))
        .route("/scim/v2/Bulk", any(discovery::undocumented))
        .route("/scim/v2/.search", any(discovery::undocumented))
        .route("/scim/v2/Users/.search", any(discovery::undocumented))
        .route("/scim/v2/Groups/.search", any(discovery::undocumented))
        .route_layer(middleware::from_fn_with_state(state.clone(), faults))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth));
    let public = Router::new().route(
        "/scim/v2/ServiceProviderConfig",
        get(discovery::service_provider_config),
    );
    authed
        .merge(public)
        .merge(admin::router())
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), outer))
        .with_state(state)
}

async fn not_found(req: Request) -> ScimError {
    ScimError::NotFound(format!("no endpoint {}", req.uri().path()))
}

async fn method_not_allowed(req: Request) -> ScimError {
    ScimError::MethodNotAllowed(format!("{} is not allowed on {}", req.method(), req.uri().path()))
}

/// Body cap, error rendering, the journal and the request log.
async fn outer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let at = log::now_rfc3339();
    let admin = req.uri().path().starts_with("/__admin");
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(str::to_string);
    let (parts, body) = req.into_parts();
    let bytes = match http_body_util::Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => Some(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => None,
        Err(e) => {
            let err = ScimError::InvalidSyntax(format!("could not read the request body: {e}"));
            return render_error(&state, err.into_response());
        }
    };
    let resp = match &bytes {
        Some(b) => next.run(Request::from_parts(parts, Body::from(b.clone()))).await,
        None => ScimError::TooLarge(format!("the body is over Notion's cap of {MAX_BODY_BYTES} bytes")).into_response(),
    };
    let resp = render_error(&state, resp);
    let duration = started.elapsed();
    let secrets: Vec<String> = state.org.read().tokens.iter().map(|t| t.secret.clone()).collect();
    let body = bytes
        .filter(|b| !b.is_empty())
        .map(|b| redact(&String::from_utf8_lossy(&b), &secrets));
    let entry = JournalEntry {
        seq: 0,
        token: resp.extensions().get::<Caller>().map(|c| c.token_id.clone()),
        method,
        path: redact(&path, &secrets),
        query: query.map(|q| redact(&q, &secrets)),
        status: resp.status().as_u16(),
        fault: resp.extensions().get::<Injected>().map(|i| i.0.to_string()),
        body,
        at,
        duration_us: u64::try_from(duration.as_micros()).unwrap_or(u64::MAX),
    };
    let resp = log::request(&entry, resp, &secrets).await;
    if !admin {
        state.journal.record(entry);
    }
    resp
}

/// Resolves the bearer token to its workspace; refuses a missing, wrong or revoked token and a
/// workspace without SCIM.
async fn auth(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let caller = {
        let quirks = state.quirks.read().clone();
        let org = state.org.read();
        let presented = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim());
        let Some(presented) = presented else {
            return ScimError::Unauthorized {
                status: quirks.auth_failure_status,
                detail: "missing bearer token: send Authorization: Bearer <SCIM token>".into(),
            }
            .into_response();
        };
        let Some(token) = org.token_by_secret(presented).filter(|t| !t.revoked) else {
            return ScimError::Unauthorized {
                status: quirks.auth_failure_status,
                detail: "the token is invalid or has been revoked".into(),
            }
            .into_response();
        };
        if !org.workspaces.get(token.workspace).is_some_and(|w| w.enterprise) {
            return ScimError::Forbidden {
                status: quirks.non_enterprise_status,
                detail: "SCIM provisioning requires the Enterprise plan".into(),
            }
            .into_response();
        }
        Caller {
            token_id: token.id.clone(),
            workspace: token.workspace,
            creator: token.creator,
        }
    };
    req.extensions_mut().insert(caller.clone());
    let mut resp = next.run(req).await;
    resp.extensions_mut().insert(caller);
    resp
}

/// Applies the token's faults (see [`crate::faults`]).
async fn faults(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let Some(caller) = req.extensions().get::<Caller>().cloned() else {
        return next.run(req).await;
    };
    let list = match (req.method(), req.uri().path()) {
        (&axum::http::Method::GET, "/scim/v2/Users") => Some(crate::faults::ChurnList::Users),
        (&axum::http::Method::GET, "/scim/v2/Groups") => Some(crate::faults::ChurnList::Groups),
        _ => None,
    };
    let decision = state.faults.decide(&caller.token_id, list);
    // Churn changes the org before this list request is answered (see `faults::churn`).
    for due in &decision.churn {
        let ids = {
            let mut org = state.org.write();
            crate::faults::apply_churn(&mut org, caller.workspace, caller.creator, &due.step)
        };
        state.faults.record_churn(&caller.token_id, due, ids);
    }
    if !decision.latency.is_zero() {
        tokio::time::sleep(decision.latency).await;
    }
    req.extensions_mut().insert(decision.list);
    let fault = decision.fault;
    let mut resp = match fault {
        Fault::Status(429) => ScimError::RateLimited { retry_after_secs: 1 }.into_response(),
        Fault::Status(status) => ScimError::Injected(status).into_response(),
        Fault::RateLimited { retry_after_secs } => ScimError::RateLimited { retry_after_secs }.into_response(),
        Fault::Reset => aborted(StatusCode::OK),
        _ => {
            let resp = render_error(&state, next.run(req).await);
            match fault {
                Fault::LostResponse => aborted(resp.status()),
                Fault::Truncate => truncated(resp).await,
                Fault::Malformed => malformed(&state, resp.status()),
                _ => resp,
            }
        }
    };
    if fault != Fault::None {
        resp.extensions_mut().insert(Injected(fault));
    }
    resp
}

fn aborted(status: StatusCode) -> Response {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = status;
    resp.extensions_mut().insert(Abort);
    resp
}

/// The same response with only the first half of its body, then a dropped connection.
async fn truncated(resp: Response) -> Response {
    let (parts, body) = resp.into_parts();
    let full = body.collect().await.map(|c| c.to_bytes()).unwrap_or_default();
    let half = full.slice(..full.len() / 2);
    // The pause lets hyper flush the head and the first half before the error drops the
    // connection; without it both go down together and the client sees no answer at all.
    let cut = futures_util::stream::once(async {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        Err::<Bytes, _>(std::io::Error::other("body truncated by an injected fault"))
    });
    let chunks = futures_util::stream::iter([Ok(half)]).chain(cut);
    let mut resp = Response::from_parts(parts, Body::from_stream(chunks));
    resp.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(full.len()));
    resp
}

fn malformed(state: &Shared, status: StatusCode) -> Response {
    json_response(
        state,
        status,
        b"{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:ListRe".to_vec(),
    )
}

/// Serves `app` on `listener` until `shutdown` resolves, over TLS when `tls` is given. Each
/// connection is served by hyper directly (not `axum::serve`) so that a fault can close it
/// without an answer.
pub(crate) async fn serve(
    listener: TcpListener,
    state: AppState,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
) {
    let router = app(state);
    tokio::pin!(shutdown);
    // Connections live in this set: when the server stops (or its task is aborted), the set
    // drops and every open keep-alive connection closes with it.
    let mut connections = tokio::task::JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let (stream, _) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let tls = tls.clone();
        connections.spawn(async move {
            match tls {
                None => serve_connection(stream, router).await,
                Some(acceptor) => match acceptor.accept(stream).await {
                    Ok(stream) => serve_connection(stream, router).await,
                    // A client that does not trust the CA ends here: worth a line, not an error.
                    Err(e) => tracing::info!(error = %e, "TLS handshake failed"),
                },
            }
        });
    }
}

/// Serves one connection, plain or TLS, until the client closes it or a fault drops it.
async fn serve_connection<S>(stream: S, router: Router)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let router = router.clone();
        async move {
            let resp = match router.oneshot(req.map(Body::new)).await {
                Ok(resp) => resp,
                Err(never) => match never {},
            };
            if resp.extensions().get::<Abort>().is_some() {
                return Err(AbortConnection);
            }
            Ok::<_, AbortConnection>(resp)
        }
    });
    let conn = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    if let Err(e) = conn.await {
        tracing::debug!(error = %e, "connection closed");
    }
}

/// The service error that makes hyper drop a connection without answering.
#[derive(Debug)]
struct AbortConnection;

impl std::fmt::Display for AbortConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection closed by an injected fault")
    }
}

impl std::error::Error for AbortConnection {}
