//! The recording proxy: listens on a local address, and for every request below the upstream's
//! base path either plays a recorded exchange back, refuses a write (403 naming
//! `--allow-writes`), or forwards the request to the upstream with the client's own headers
//! (its `Authorization` included: the proxy holds no token of its own, so it lends nobody
//! access) and records the exchange, scrubbed.
//!
//! The client is answered with what the cassette holds: the scrubbed exchange. So it sees one
//! pseudonymous workspace whether an answer was played back or fetched, and a replay of the
//! cassette reproduces its session. Pseudonyms in its requests are translated back to the real
//! values (those this session handed out) before the request goes upstream.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use serde_json::json;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::scrub::RawExchange;
use super::{detect_source, Decision, RecordConfig, Recorder, Stats};
use crate::cassette::{self, Interaction};

/// The largest request or response body the proxy carries (Notion caps payloads at 500 KB).
const MAX_BODY: usize = 16 * 1024 * 1024;

/// Headers that belong to one connection, never forwarded.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    // Bodies are read and scrubbed here: ask the upstream for them uncompressed.
    "accept-encoding",
];

struct Shared {
    recorder: Mutex<Recorder>,
    http: reqwest::Client,
}

/// A running proxy.
#[derive(Debug)]
pub struct Proxy {
    addr: SocketAddr,
    base_path: String,
    shared: Arc<SharedHandle>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

/// `Shared` behind a Debug-able handle (the recorder holds no secret in its Debug output).
struct SharedHandle(Shared);

impl std::fmt::Debug for SharedHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

/// What a session did, for the closing line.
#[derive(Debug, Clone)]
pub struct Summary {
    pub stats: Stats,
    pub cassette: std::path::PathBuf,
    pub exchanges: usize,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = &self.stats;
        write!(
            f,
            "{}: {} exchange(s) ({} recorded now, {} played back, {} write(s) refused, {} unmatched",
            self.cassette.display(),
            self.exchanges,
            s.recorded,
            s.played_back,
            s.refused_writes,
            s.missed
        )?;
        if s.withheld > 0 {
            write!(f, ", {} withheld by the final leak check", s.withheld)?;
        }
        f.write_str(")")
    }
}

impl Proxy {
    /// Opens the cassette, binds `listen` (`127.0.0.1:0` for any free port) and serves.
    pub async fn start(config: RecordConfig, listen: &str) -> anyhow::Result<Proxy> {
        let source = detect_source(&config.upstream, config.label.as_deref()).await;
        let recorder = Recorder::open(config, source)?;
        let base_path = recorder.base_path().to_string();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(120))
            .build()
            .context("cannot build an HTTP client")?;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let addr = listener.local_addr().context("no local address")?;
        let shared = Arc::new(SharedHandle(Shared {
            recorder: Mutex::new(recorder),
            http,
        }));
        let app = axum::Router::new().fallback(handle).with_state(shared.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(e) = serve.await {
                eprintln!("record: the proxy stopped: {e}");
            }
        });
        Ok(Proxy {
            addr,
            base_path,
            shared,
            stop: Some(stop),
            task: Some(task),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL clients use: the proxy's address with the upstream's path.
    pub fn base_url(&self) -> String {
        format!("http://{}{}", self.addr, self.base_path)
    }

    /// Whether new exchanges are recorded (else only played back), and the mode.
    pub fn describe(&self) -> String {
        let r = self.shared.0.recorder.lock();
        let what = if r.recording() {
            if r.mode() == super::RecordMode::NewEpisodes {
                "plays back what is recorded and records the rest"
            } else {
                "records every exchange"
            }
        } else {
            "plays back only (nothing is recorded)"
        };
        format!(
            "record mode {}: {what}; {} exchange(s) in the cassette",
            r.mode(),
            r.cassette().http_interactions.len()
        )
    }

    /// Stops serving and writes the cassette.
    pub async fn stop(mut self) -> anyhow::Result<Summary> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
        let mut r = self.shared.0.recorder.lock();
        r.save()?;
        Ok(Summary {
            stats: r.stats.clone(),
            cassette: r.path().to_path_buf(),
            exchanges: r.cassette().http_interactions.len(),
        })
    }
}

fn scim_error(status: StatusCode, detail: &str) -> Response {
    let body = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
        "status": status.as_u16().to_string(),
        "detail": detail,
    });
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/scim+json"),
    );
    resp
}

/// A recorded (scrubbed) answer as an HTTP response.
fn answer(i: &Interaction, played_back: bool) -> Response {
    let status = StatusCode::from_u16(i.response.status.code).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut resp = Response::new(Body::from(i.response.body.string.clone()));
    *resp.status_mut() = status;
    for (k, values) in &i.response.headers {
        let Ok(name) = HeaderName::from_bytes(k.as_bytes()) else {
            continue;
        };
        for v in values {
            if let Ok(v) = HeaderValue::from_str(v) {
                resp.headers_mut().append(name.clone(), v);
            }
        }
    }
    if played_back {
        resp.headers_mut()
            .insert("x-cassette-playback", HeaderValue::from_static("true"));
    }
    resp
}

async fn handle(State(shared): State<Arc<SharedHandle>>, req: Request) -> Response {
    let shared = &shared.0;
    let (parts, body) = req.into_parts();
    let method = parts.method.as_str().to_string();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_string(), |p| p.as_str().to_string());
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(e) => {
            return scim_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("cannot read the request body: {e}"),
            )
        }
    };
    let (base_path, upstream) = {
        let r = shared.recorder.lock();
        (r.base_path().to_string(), r.upstream().clone())
    };
    let Ok(local) = reqwest::Url::parse(&format!("http://proxy{path_and_query}")) else {
        return scim_error(
            StatusCode::BAD_REQUEST,
            "notion-conformance record: a request target it cannot read",
        );
    };
    let under_base = local.path() == base_path || local.path().starts_with(&format!("{base_path}/"));
    if !under_base {
        // The emulation's admin API and anything else beside the SCIM base stay out of reach:
        // they are not what is recorded, and may hold secrets.
        return scim_error(
            StatusCode::NOT_FOUND,
            &format!("notion-conformance record: only {base_path}/... is forwarded"),
        );
    }
    let text = String::from_utf8_lossy(&body).into_owned();
    let target = cassette::target_of(&method, &local, &base_path, &text);
    let decision = shared.recorder.lock().decide(&target);
    match decision {
        Decision::Play(i) => answer(&i, true),
        Decision::Miss(miss) => {
            let mut resp = scim_error(
                StatusCode::NOT_FOUND,
                &format!("notion-conformance record (playback only): {miss}"),
            );
            resp.headers_mut().insert("x-cassette-miss", HeaderValue::from_static("true"));
            resp
        }
        Decision::RefuseWrite => scim_error(
            StatusCode::FORBIDDEN,
            &format!(
                "notion-conformance record: {method} refused: the recording proxy passes only GET and HEAD to the upstream; start it with --allow-writes to let writes through"
            ),
        ),
        Decision::Forward => forward(shared, &method, &parts.headers, &local, &base_path, &upstream, &body).await,
    }
}

async fn forward(
    shared: &Shared,
    method: &str,
    headers: &axum::http::HeaderMap,
    local: &reqwest::Url,
    base_path: &str,
    upstream: &reqwest::Url,
    body: &[u8],
) -> Response {
    // The client only knows pseudonyms: put the real values back before going upstream.
    let (url, real_body) = {
        let r = shared.recorder.lock();
        let s = r.scrubber();
        let path = cassette::percent_decode(local.path());
        let rel = path.strip_prefix(base_path).unwrap_or(&path);
        let real_path: Vec<String> = rel
            .split('/')
            .map(|seg| {
                crate::scim::urlencode(&s.unscrub_text(seg))
                    .replace("%40", "@")
                    .replace("%3A", ":")
            })
            .collect();
        let mut url = format!("{}{}", upstream.as_str().trim_end_matches('/'), real_path.join("/"));
        let pairs: Vec<String> = local
            .query_pairs()
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    crate::scim::urlencode(&k),
                    crate::scim::urlencode(&s.unscrub_text(&v))
                )
            })
            .collect();
        if !pairs.is_empty() {
            url.push('?');
            url.push_str(&pairs.join("&"));
        }
        // The client's bytes as they are, unless a pseudonym in them had to be put back.
        let real_body = match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(v) => {
                let real = s.unscrub_json(&v);
                if real == v {
                    body.to_vec()
                } else {
                    serde_json::to_vec(&real).unwrap_or_else(|_| body.to_vec())
                }
            }
            Err(_) if body.is_empty() => Vec::new(),
            Err(_) => s.unscrub_text(&String::from_utf8_lossy(body)).into_bytes(),
        };
        (url, real_body)
    };
    let Ok(url) = reqwest::Url::parse(&url) else {
        return scim_error(
            StatusCode::BAD_REQUEST,
            "notion-conformance record: cannot build the upstream URL",
        );
    };
    let Ok(m) = reqwest::Method::from_bytes(method.as_bytes()) else {
        return scim_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "notion-conformance record: unknown method",
        );
    };
    let mut request_headers = Vec::new();
    let mut req = shared.http.request(m, url.clone());
    for (k, v) in headers {
        let name = k.as_str().to_ascii_lowercase();
        if HOP_BY_HOP.contains(&name.as_str()) {
            continue;
        }
        if let Ok(text) = v.to_str() {
            request_headers.push((name.clone(), text.to_string()));
        }
        req = req.header(k.as_str(), v.as_bytes());
    }
    if !real_body.is_empty() {
        req = req.body(real_body.clone());
    }
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => {
            // Without the URL: it holds the real ids and emails of the request.
            let msg = crate::scim::short(&e.without_url().to_string());
            return scim_error(
                StatusCode::BAD_GATEWAY,
                &format!("notion-conformance record: the upstream did not answer: {msg}"),
            );
        }
    };
    let status = resp.status().as_u16();
    let response_headers: Vec<(String, String)> = resp
        .headers()
        .iter()
        .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str().to_string(), v.to_string())))
        .collect();
    let response_body = match resp.bytes().await {
        Ok(b) => b.to_vec(),
        Err(e) => {
            return scim_error(
                StatusCode::BAD_GATEWAY,
                &format!(
                    "notion-conformance record: the upstream's answer broke off: {}",
                    crate::scim::short(&e.without_url().to_string())
                ),
            )
        }
    };
    let raw = RawExchange {
        method: method.to_string(),
        url,
        request_headers,
        request_body: real_body,
        status,
        response_headers,
        response_body,
    };
    let recorded = shared.recorder.lock().record(&raw);
    match recorded {
        Ok(i) => answer(&i, false),
        Err(e) => scim_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("notion-conformance record: cannot write the cassette: {e:#}"),
        ),
    }
}
