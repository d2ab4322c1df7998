//! The HTTP client for Notion's SCIM API: one place for authentication, the client-side rate
//! limit, retries and error meaning.
//!
//! # Layout
//! - this file: [`ScimClient`], its [`ClientConfig`], [`ScimError`] and the single-request loop.
//! - [`retry`]: [`RetryPolicy`], backoff with full jitter and the `Retry-After` cap.
//! - `limiter`: the pace (`--requests-per-minute`, evenly spaced), the pause every request
//!   takes after a 429, and the pace that adapts down while 429s come.
//! - [`pager`]: [`Pager`], which walks a list endpoint and defends against lying pages, fetching
//!   the pages it expects next ahead of time.
//!
//! At most `max_in_flight` requests are on the wire at once (`--requests-in-flight`), shared by
//! every clone of the client: both lists' pages, group and user reads by id.
//!
//! Reads (`GET`) and idempotent writes (`PATCH`, `DELETE`) are retried blindly. A creation
//! (`POST`) is resent only when the server surely did not process it (429, or no connection);
//! any other failure comes back as [`ScimError::Indeterminate`] so that the caller can look the
//! result up before trying again (see `crate::provision`).

mod limiter;
pub mod pager;
pub mod retry;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION};
use serde::de::DeserializeOwned;

use self::limiter::Pacer;
pub use self::pager::{Pager, PagingReport};
pub use self::retry::RetryPolicy;
use super::types::{ListResponse, ScimGroup, ScimUser};
use crate::secret::Secret;

/// Notion's SCIM base URL.
pub const DEFAULT_BASE_URL: &str = "https://api.notion.com/scim/v2";
/// Notion's largest page for `/Users` and `/Groups`.
pub const MAX_PAGE_SIZE: u32 = 100;
/// Requests on the wire at once by default (`--requests-in-flight`): at Notion's 600 a minute
/// a request leaves every 100 ms, so 8 keep the pace up while a page takes up to 800 ms.
pub const DEFAULT_IN_FLIGHT: usize = 8;
/// The longest answer read by default: 512 MiB. A page of a million-member org's biggest groups
/// is tens of MB.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 512 << 20;

/// What the client needs to know. `Debug` is safe: the token redacts itself.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Up to and including `/scim/v2`, without a trailing slash (one is tolerated).
    pub base_url: String,
    pub token: Secret,
    /// Items asked for per list page, 1..=100.
    pub page_size: u32,
    /// The client's own ceiling, evenly paced; 0 turns it off.
    pub requests_per_minute: u32,
    /// Requests on the wire at once at most, and pages a list walk fetches ahead (at least 1;
    /// 1 walks each list one page at a time).
    pub max_in_flight: usize,
    /// The limiter's window: a minute, except in tests that want to watch it work quickly.
    pub rate_window: Duration,
    /// The whole-request timeout, body included.
    pub http_timeout: Duration,
    /// An answer longer than this is refused unread ([`ScimError::TooLarge`]): a server that
    /// sends without end, or a body no page of a real org comes near.
    pub max_body_bytes: u64,
    pub retry: RetryPolicy,
}

impl ClientConfig {
    pub fn new(base_url: impl Into<String>, token: Secret) -> Self {
        Self {
            base_url: base_url.into(),
            token,
            page_size: MAX_PAGE_SIZE,
            requests_per_minute: 600,
            max_in_flight: DEFAULT_IN_FLIGHT,
            rate_window: Duration::from_secs(60),
            http_timeout: Duration::from_secs(300),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            retry: RetryPolicy::default(),
        }
    }
}

/// Why a request failed for good. The messages are written for the person running the
/// connector and never contain the token.
#[derive(Debug, thiserror::Error)]
pub enum ScimError {
    #[error(
        "the SCIM token was rejected (HTTP 401): it may be revoked — tokens die when their creator \
         leaves the workspace or changes role; create a new one in Settings > Identity & provisioning"
    )]
    Unauthorized,
    #[error(
        "the SCIM API refused the token (HTTP 403): SCIM needs Notion's Enterprise plan with SAML \
         single sign-on, and a token created by a workspace owner in Settings > Identity & provisioning"
    )]
    Forbidden,
    #[error("{request} answered HTTP {status}: {detail}")]
    Http {
        request: String,
        status: u16,
        detail: String,
    },
    #[error("{request} failed {attempts} times, giving up; last failure: {last}{hint}", hint = last.hint())]
    RetriesExhausted {
        request: String,
        attempts: u32,
        last: Failure,
    },
    #[error("Notion refused {request} (HTTP 403): {detail}")]
    Refused { request: String, detail: String },
    #[error("{request} may or may not have been carried out: {last}")]
    Indeterminate { request: String, last: Failure },
    #[error("paging {resource} went wrong: {detail}")]
    Paging { resource: &'static str, detail: String },
    #[error("invalid base URL {url:?}: {detail}")]
    InvalidBaseUrl { url: String, detail: String },
    /// A 404 before anything succeeded, from a base URL whose path lacks `/scim/v2`: almost
    /// surely the URL, not a missing object.
    #[error(
        "{request} answered HTTP 404 at base URL {url}: its path lacks /scim/v2, so it is likely not the SCIM \
         API; the base URL should look like {DEFAULT_BASE_URL} (or http://HOST:PORT/scim/v2 for the emulation)"
    )]
    NotScimBase { request: String, url: String },
    #[error("could not set up the HTTP client: {0}")]
    Setup(String),
    #[error(
        "{request} answered with more than {limit} bytes, more than any SCIM answer should hold; \
         stopped reading it"
    )]
    TooLarge { request: String, limit: u64 },
}

impl ScimError {
    /// True when the server could not be reached at all (every attempt failed to connect).
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            ScimError::RetriesExhausted {
                last: Failure::Connect(_),
                ..
            }
        )
    }
}

/// One failed attempt that is worth another try.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    #[error("could not connect: {0}")]
    Connect(String),
    #[error("no complete answer within the HTTP timeout")]
    Timeout,
    #[error("the connection broke: {0}")]
    Transport(String),
    #[error("HTTP 429 rate limited{}", retry_after.map(|s| format!(" (Retry-After {s}s)")).unwrap_or_default())]
    RateLimited { retry_after: Option<u64> },
    #[error("HTTP {status}: {detail}")]
    Status { status: u16, detail: String },
    #[error("the response body is not the JSON expected: {0}")]
    Malformed(String),
}

impl Failure {
    fn hint(&self) -> &'static str {
        match self {
            Failure::RateLimited { .. } => {
                " (Notion kept rate-limiting: lower --requests-per-minute, or another client shares \
                 the workspace's limit)"
            }
            Failure::Connect(_) => " (is --base-url right, and is the network up?)",
            _ => "",
        }
    }
}

/// The two SCIM list endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Users,
    Groups,
}

impl Resource {
    pub fn path(self) -> &'static str {
        match self {
            Resource::Users => "/Users",
            Resource::Groups => "/Groups",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Resource::Users => "users",
            Resource::Groups => "groups",
        }
    }
}

/// Counters since the client was made. `requests` counts every attempt sent, retries included.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientStats {
    pub requests: u64,
    pub retries: u64,
    /// Answers that were HTTP 429.
    pub rate_limited: u64,
}

/// A write's answer, for the caller to interpret: any status except 401 and 403 (errors) and
/// those retried (429, 5xx).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub body: bytes::Bytes,
}

impl Reply {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as JSON of type `T`.
    pub fn json<T: DeserializeOwned>(&self, request: &str) -> Result<T, ScimError> {
        serde_json::from_slice(&self.body).map_err(|e| ScimError::Http {
            request: request.to_owned(),
            status: self.status,
            detail: format!("the answer is not the JSON expected: {e}"),
        })
    }

    /// SCIM's `detail` (or Notion's `message`) of an error answer.
    pub fn detail(&self) -> String {
        error_detail(&self.body)
    }

    /// RFC 7644's `scimType` of an error answer, if any.
    pub fn scim_type(&self) -> Option<String> {
        serde_json::from_slice::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| v.get("scimType").and_then(|t| t.as_str()).map(str::to_owned))
    }
}

/// Whether a request may be sent again after a failure that leaves its fate unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resend {
    /// Sending it twice does what sending it once does (`GET`, `PATCH` setting values, `DELETE`).
    Always,
    /// Only when the server surely did not process it: a 429, or a connection that never opened.
    OnlyUnprocessed,
}

/// A cheap-to-clone handle; clones share the connection pool, the limiter and the counters.
#[derive(Debug, Clone)]
pub struct ScimClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    base_url: String,
    page_size: u32,
    retry: RetryPolicy,
    limiter: Pacer,
    in_flight: tokio::sync::Semaphore,
    max_in_flight: usize,
    max_body_bytes: u64,
    scrubber: Scrubber,
    requests: AtomicU64,
    retries: AtomicU64,
    /// The base URL's path lacks `/scim/v2` and no request has succeeded yet: a 404 is then
    /// reported as a wrong base URL ([`ScimError::NotScimBase`]).
    base_in_doubt: AtomicBool,
    rate_limited: AtomicU64,
}

enum Attempt {
    Retry(Failure, Option<Duration>),
    Fatal(ScimError),
}

impl ScimClient {
    pub fn new(config: ClientConfig) -> Result<Self, ScimError> {
        let base_url = config.base_url.trim_end_matches('/').to_owned();
        let base_in_doubt = match reqwest::Url::parse(&base_url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => !u.path().contains("/scim/v2"),
            Ok(u) => {
                return Err(ScimError::InvalidBaseUrl {
                    url: base_url,
                    detail: format!("scheme {:?} is not http or https", u.scheme()),
                })
            }
            Err(e) => {
                return Err(ScimError::InvalidBaseUrl {
                    url: base_url,
                    detail: e.to_string(),
                })
            }
        };
        if !(1..=MAX_PAGE_SIZE).contains(&config.page_size) {
            return Err(ScimError::Setup(format!(
                "page size {} is outside 1..={MAX_PAGE_SIZE}",
                config.page_size
            )));
        }
        let max_in_flight = config.max_in_flight.clamp(1, tokio::sync::Semaphore::MAX_PERMITS);
        let scrubber = Scrubber::new(config.token.expose());
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", config.token.expose()))
            .map_err(|_| ScimError::Setup("the SCIM token holds characters a header cannot carry".into()))?;
        // Keeps the value out of hyper's and reqwest's debug output.
        auth.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, auth);
        headers.insert(
            ACCEPT,
            HeaderValue::from_static("application/scim+json, application/json"),
        );
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(config.http_timeout)
            .connect_timeout(config.http_timeout.min(Duration::from_secs(15)))
            .user_agent(concat!("baton-notion-rs/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ScimError::Setup(error_chain(&e)))?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                base_url,
                page_size: config.page_size,
                retry: config.retry,
                limiter: Pacer::new(config.requests_per_minute, config.rate_window),
                in_flight: tokio::sync::Semaphore::new(max_in_flight),
                max_in_flight,
                max_body_bytes: config.max_body_bytes,
                scrubber,
                requests: AtomicU64::new(0),
                retries: AtomicU64::new(0),
                base_in_doubt: AtomicBool::new(base_in_doubt),
                rate_limited: AtomicU64::new(0),
            }),
        })
    }

    pub fn page_size(&self) -> u32 {
        self.inner.page_size
    }

    /// Requests on the wire at once at most (`--requests-in-flight`).
    pub fn max_in_flight(&self) -> usize {
        self.inner.max_in_flight
    }

    /// The pace now, in requests per minute (0: none); below `--requests-per-minute` after 429s.
    pub fn pace(&self) -> u32 {
        self.inner.limiter.rate()
    }

    pub fn stats(&self) -> ClientStats {
        ClientStats {
            requests: self.inner.requests.load(Ordering::Relaxed),
            retries: self.inner.retries.load(Ordering::Relaxed),
            rate_limited: self.inner.rate_limited.load(Ordering::Relaxed),
        }
    }

    /// Walks `/Users`, page by page.
    pub fn users(&self) -> Pager<ScimUser> {
        Pager::new(self.clone(), Resource::Users)
    }

    /// Walks `/Groups`, page by page.
    pub fn groups(&self) -> Pager<ScimGroup> {
        Pager::new(self.clone(), Resource::Groups)
    }

    /// One list page: `GET /Users?startIndex=..&count=..` (or `/Groups`).
    pub async fn list_page<T: DeserializeOwned>(
        &self,
        resource: Resource,
        start_index: u64,
        count: u32,
    ) -> Result<ListResponse<T>, ScimError> {
        let query = [("startIndex", start_index.to_string()), ("count", count.to_string())];
        self.get_json(resource.path(), &query).await
    }

    /// `GET /Groups/{id}`, for a group whose list entry did not carry `members`. `None` when the
    /// group is gone (404): it was deleted between the list and this read.
    pub async fn get_group(&self, id: &str) -> Result<Option<ScimGroup>, ScimError> {
        let path = format!("/Groups/{}", encode_path_segment(id));
        match self.get_json::<ScimGroup>(&path, &[]).await {
            Ok(g) => Ok(Some(g)),
            Err(ScimError::Http { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The cheapest real call, `GET /Users?startIndex=1&count=1`: proves the URL, the token and
    /// the plan together. Returns the workspace's `totalResults` when the server gave one.
    pub async fn check_token(&self) -> Result<Option<u64>, ScimError> {
        let page = self.list_page::<ScimUser>(Resource::Users, 1, 1).await?;
        Ok(page.total_results)
    }

    async fn get_json<T: DeserializeOwned>(&self, path: &str, query: &[(&str, String)]) -> Result<T, ScimError> {
        let url = format!("{}{}", self.inner.base_url, path);
        let request = describe("GET", path, query);
        let (url, request_ref) = (&url, &request);
        self.with_retries(&request, Resend::Always, move || self.attempt(url, request_ref, query))
            .await
    }

    /// Sends a write (`POST`, `PUT`, `PATCH`, `DELETE`) with an optional JSON body and returns the
    /// answer for the caller to read. 401 and 403 are errors; 429 and 5xx are retried as
    /// `resend` allows.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
        resend: Resend,
    ) -> Result<Reply, ScimError> {
        let url = format!("{}{}", self.inner.base_url, path);
        let request = describe(method.as_str(), path, &[]);
        let body = body
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|e| ScimError::Setup(e.to_string()))?;
        let (url, request_ref) = (&url, &request);
        self.with_retries(&request, resend, move || {
            self.attempt_write(method.clone(), url, request_ref, body.clone())
        })
        .await
    }

    /// `GET` of a JSON document that may not exist: `None` on 404. Every read goes through the
    /// same retry policy: a 429, a 5xx, a broken connection or a body that does not parse is
    /// tried again; any other status is an error.
    pub async fn get_optional<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Option<T>, ScimError> {
        let url = format!("{}{}", self.inner.base_url, path);
        let request = describe("GET", path, query);
        let (url, request_ref) = (&url, &request);
        self.with_retries(&request, Resend::Always, move || async move {
            let reply = self
                .reply_of(self.inner.http.get(url).query(query), request_ref)
                .await?;
            match reply.status {
                404 => Ok(None),
                200..=299 => serde_json::from_slice(&reply.body)
                    .map(Some)
                    .map_err(|e| Attempt::Retry(Failure::Malformed(e.to_string()), None)),
                status => Err(Attempt::Fatal(ScimError::Http {
                    request: request_ref.clone(),
                    status,
                    detail: reply.detail(),
                })),
            }
        })
        .await
    }

    /// `GET` of any path, answering the raw reply (404 included) rather than an error.
    pub async fn get_reply(&self, path: &str, query: &[(&str, String)]) -> Result<Reply, ScimError> {
        let url = format!("{}{}", self.inner.base_url, path);
        let request = describe("GET", path, query);
        let (url, request_ref) = (&url, &request);
        self.with_retries(&request, Resend::Always, move || {
            self.reply_of(self.inner.http.get(url).query(query), request_ref)
        })
        .await
    }

    /// The one retry loop: a place among the requests in flight and the pace before every
    /// attempt, backoff with jitter (or the server's `Retry-After`, which holds every request)
    /// between them, a bounded number of retries.
    /// (`attempt` is a closure returning a future rather than an async closure: the futures of
    /// async closures cannot yet be shown to be `Send`, and pages fetched ahead run on tasks.)
    async fn with_retries<T, F>(
        &self,
        request: &str,
        resend: Resend,
        mut attempt: impl FnMut() -> F,
    ) -> Result<T, ScimError>
    where
        F: std::future::Future<Output = Result<T, Attempt>>,
    {
        let mut retries = 0u32;
        loop {
            let outcome = {
                // A place on the wire first, then the pace: the request goes the moment the
                // pace lets it, so requests leave as evenly spaced as the pace says.
                let _permit = self
                    .inner
                    .in_flight
                    .acquire()
                    .await
                    .map_err(|_| ScimError::Setup("the client's request slots closed".into()))?;
                self.inner.limiter.acquire().await;
                self.inner.requests.fetch_add(1, Ordering::Relaxed);
                let sent = tokio::time::Instant::now();
                (attempt().await, sent)
            };
            let (failure, asked_wait) = match outcome {
                (Ok(v), _) => {
                    self.inner.limiter.succeeded();
                    return Ok(v);
                }
                (Err(Attempt::Fatal(e)), _) => return Err(e),
                (Err(Attempt::Retry(f, wait)), sent) => {
                    if matches!(f, Failure::RateLimited { .. }) {
                        self.inner.rate_limited.fetch_add(1, Ordering::Relaxed);
                        let pause = wait.unwrap_or_else(|| self.inner.retry.backoff(retries));
                        self.inner.limiter.rate_limited(pause, sent);
                    }
                    (f, wait)
                }
            };
            let unprocessed = matches!(failure, Failure::RateLimited { .. } | Failure::Connect(_));
            if resend == Resend::OnlyUnprocessed && !unprocessed {
                return Err(ScimError::Indeterminate {
                    request: request.to_owned(),
                    last: failure,
                });
            }
            if retries >= self.inner.retry.max_retries {
                return Err(ScimError::RetriesExhausted {
                    request: request.to_owned(),
                    attempts: retries + 1,
                    last: failure,
                });
            }
            let wait = asked_wait.unwrap_or_else(|| self.inner.retry.backoff(retries));
            tracing::warn!(
                request,
                failure = %failure,
                retry = retries + 1,
                of = self.inner.retry.max_retries,
                wait_ms = wait.as_millis() as u64,
                "request failed; retrying"
            );
            tokio::time::sleep(wait).await;
            retries += 1;
            self.inner.retries.fetch_add(1, Ordering::Relaxed);
        }
    }

    async fn attempt_write(
        &self,
        method: reqwest::Method,
        url: &str,
        request: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Reply, Attempt> {
        let mut builder = self.inner.http.request(method, url);
        if let Some(body) = body {
            builder = builder
                .header(reqwest::header::CONTENT_TYPE, "application/scim+json")
                .body(body);
        }
        self.reply_of(builder, request).await
    }

    /// Sends one attempt and sorts its answer: a reply for the caller, a failure to retry, or a
    /// fatal error.
    async fn reply_of(&self, builder: reqwest::RequestBuilder, request: &str) -> Result<Reply, Attempt> {
        let started = std::time::Instant::now();
        let response = builder.send().await.map_err(|e| Attempt::Retry(classify(&e), None))?;
        let status = response.status().as_u16();
        let retry_after = retry_after_secs(&response);
        let body = match read_body(response, self.inner.max_body_bytes).await {
            Ok(body) => body,
            Err(BodyError::Read(e)) => return Err(Attempt::Retry(classify(&e), None)),
            Err(BodyError::TooLarge) => {
                return Err(Attempt::Fatal(ScimError::TooLarge {
                    request: request.to_owned(),
                    limit: self.inner.max_body_bytes,
                }))
            }
        };
        // Whatever the server sends back, the token goes no further (a gateway may echo the
        // Authorization header into an error body, a hostile server anywhere).
        let body = self.inner.scrubber.scrub(body);
        let ms = started.elapsed().as_millis() as u64;
        tracing::debug!(request, status, bytes = body.len(), ms, "SCIM response");
        if self.inner.base_in_doubt.load(Ordering::Relaxed) {
            if (200..300).contains(&status) {
                self.inner.base_in_doubt.store(false, Ordering::Relaxed);
            } else if status == 404 {
                return Err(Attempt::Fatal(ScimError::NotScimBase {
                    request: request.to_owned(),
                    url: self.inner.base_url.clone(),
                }));
            }
        }
        match status {
            401 => Err(Attempt::Fatal(ScimError::Unauthorized)),
            403 => Err(Attempt::Fatal(refusal_or_forbidden(request, &body))),
            429 => Err(Attempt::Retry(
                Failure::RateLimited { retry_after },
                retry_after.map(|s| self.inner.retry.retry_after(s)),
            )),
            408 | 500 | 502..=504 | 506..=599 => Err(Attempt::Retry(
                Failure::Status {
                    status,
                    detail: error_detail(&body),
                },
                None,
            )),
            _ => Ok(Reply { status, body }),
        }
    }

    /// One `GET` of a JSON document; a body that does not parse is a failure worth retrying.
    async fn attempt<T: DeserializeOwned>(
        &self,
        url: &str,
        request: &str,
        query: &[(&str, String)],
    ) -> Result<T, Attempt> {
        let reply = self.reply_of(self.inner.http.get(url).query(query), request).await?;
        if !reply.is_success() {
            return Err(Attempt::Fatal(ScimError::Http {
                request: request.to_owned(),
                status: reply.status,
                detail: reply.detail(),
            }));
        }
        serde_json::from_slice(&reply.body).map_err(|e| Attempt::Retry(Failure::Malformed(e.to_string()), None))
    }
}

fn classify(e: &reqwest::Error) -> Failure {
    if e.is_timeout() {
        Failure::Timeout
    } else if e.is_connect() {
        Failure::Connect(error_chain(e))
    } else {
        Failure::Transport(error_chain(e))
    }
}

/// An error and its sources on one line. reqwest's errors carry the URL, never headers.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// The useful part of an error body: SCIM's `detail`, Notion's REST `message`, or the start of
/// the text; any bearer credential in it masked (the body was already scrubbed of our token).
fn error_detail(body: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        for key in ["detail", "message"] {
            if let Some(s) = v.get(key).and_then(|d| d.as_str()) {
                return mask_bearer(s);
            }
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "(empty body)".to_owned();
    }
    mask_bearer(&text.chars().take(200).collect::<String>())
}

/// Replaces the credential after every `Bearer ` (any case) with `[REDACTED]`.
fn mask_bearer(text: &str) -> String {
    const WORD: &str = "bearer ";
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut rest = 0;
    while let Some(found) = lower[rest..].find(WORD) {
        let start = rest + found + WORD.len();
        let end = text[start..]
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ',' | ';'))
            .map_or(text.len(), |e| start + e);
        out.push_str(&text[rest..start]);
        if end > start {
            out.push_str("[REDACTED]");
        }
        rest = end;
    }
    out.push_str(&text[rest..]);
    out
}

/// Removes the token from response bodies. Holds the token's bytes for that one purpose.
struct Scrubber {
    finder: Option<memchr::memmem::Finder<'static>>,
}

impl std::fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Scrubber([REDACTED])")
    }
}

impl Scrubber {
    /// Tokens shorter than this are not scrubbed: replacing every occurrence of a one- or
    /// two-letter string would destroy the data, and no real SCIM token is that short (Notion's
    /// are about 50 characters).
    const MIN_SCRUBBED_LEN: usize = 8;

    fn new(token: &str) -> Self {
        let finder =
            (token.len() >= Self::MIN_SCRUBBED_LEN).then(|| memchr::memmem::Finder::new(token.as_bytes()).into_owned());
        Scrubber { finder }
    }

    /// The body with every occurrence of the token replaced by `[REDACTED]`; the same bytes,
    /// uncopied, when it holds none (the common case, checked in one pass).
    fn scrub(&self, body: bytes::Bytes) -> bytes::Bytes {
        let Some(finder) = &self.finder else { return body };
        if finder.find(&body).is_none() {
            return body;
        }
        let needle = finder.needle().len();
        let mut out = Vec::with_capacity(body.len());
        let mut rest = 0;
        for at in finder.find_iter(&body) {
            if at < rest {
                continue;
            }
            out.extend_from_slice(&body[rest..at]);
            out.extend_from_slice(b"[REDACTED]");
            rest = at + needle;
        }
        out.extend_from_slice(&body[rest..]);
        bytes::Bytes::from(out)
    }
}

/// A body is read into one buffer made this big at most from its `Content-Length` up front.
const PREALLOCATE_AT_MOST: u64 = 256 << 20;

enum BodyError {
    Read(reqwest::Error),
    TooLarge,
}

/// The whole body, read piece by piece into one buffer sized from `Content-Length`, up to
/// `limit` bytes (a longer one is refused unread, or as soon as it passes the limit). (reqwest's
/// `bytes()` gathers the pieces and then copies them into one buffer, holding a big page twice:
/// a group of 250,000 members is a page of about 37 MB.)
async fn read_body(mut response: reqwest::Response, limit: u64) -> Result<bytes::Bytes, BodyError> {
    let announced = response.content_length().unwrap_or(0);
    if announced > limit {
        return Err(BodyError::TooLarge);
    }
    let mut body = Vec::with_capacity(usize::try_from(announced.min(PREALLOCATE_AT_MOST)).unwrap_or_default());
    while let Some(piece) = response.chunk().await.map_err(BodyError::Read)? {
        if body.len() as u64 + piece.len() as u64 > limit {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&piece);
    }
    Ok(bytes::Bytes::from(body))
}

fn describe(method: &str, path: &str, query: &[(&str, String)]) -> String {
    if query.is_empty() {
        return format!("{method} {path}");
    }
    let q: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{method} {path}?{}", q.join("&"))
}

fn retry_after_secs(response: &reqwest::Response) -> Option<u64> {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
}

/// A 403 on a write that names a reason (Notion refusing to remove the token's creator, an
/// unverified domain) is a refusal of that request; a bare 403 is the plan or the token.
fn refusal_or_forbidden(request: &str, body: &[u8]) -> ScimError {
    if request.starts_with("GET ") {
        return ScimError::Forbidden;
    }
    ScimError::Refused {
        request: request.to_owned(),
        detail: error_detail(body),
    }
}

/// Group ids are UUIDs, but a path segment is escaped all the same.
pub fn encode_path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_values_are_masked_in_error_text() {
        assert_eq!(
            error_detail(br#"{"detail":"bad header Authorization: Bearer abc.def-123, try again"}"#),
            "bad header Authorization: Bearer [REDACTED], try again"
        );
        assert_eq!(mask_bearer("BEARER x y bearer"), "BEARER [REDACTED] y bearer");
        assert_eq!(mask_bearer("no credential here"), "no credential here");
    }

    #[test]
    fn the_token_is_scrubbed_from_bodies() {
        let s = Scrubber::new("secret_tok");
        let body = bytes::Bytes::from_static(b"{\"echo\":\"Bearer secret_tok\",\"again\":\"secret_toksecret_tok\"}");
        assert_eq!(
            &s.scrub(body)[..],
            &b"{\"echo\":\"Bearer [REDACTED]\",\"again\":\"[REDACTED][REDACTED]\"}"[..]
        );
        let clean = bytes::Bytes::from_static(b"{\"ok\":true}");
        assert_eq!(s.scrub(clean.clone()), clean);
        assert_eq!(Scrubber::new("").scrub(clean.clone()), clean);
        // A token too short to tell from data is left alone rather than shredding every body.
        let body = bytes::Bytes::from_static(b"{\"t\":\"total\"}");
        assert_eq!(Scrubber::new("t").scrub(body.clone()), body);
    }

    #[test]
    fn error_detail_prefers_scim_detail() {
        assert_eq!(
            error_detail(br#"{"schemas":["x"],"status":"400","detail":"bad filter"}"#),
            "bad filter"
        );
        assert_eq!(error_detail(br#"{"object":"error","message":"nope"}"#), "nope");
        assert_eq!(error_detail(b""), "(empty body)");
        assert_eq!(error_detail(b"oops"), "oops");
    }

    #[test]
    fn path_segments_are_escaped() {
        assert_eq!(encode_path_segment("ab-12"), "ab-12");
        assert_eq!(encode_path_segment("a/b c"), "a%2Fb%20c");
    }

    #[test]
    fn bad_base_urls_are_refused() {
        let cfg = ClientConfig::new("not a url", Secret::new("t"));
        assert!(matches!(ScimClient::new(cfg), Err(ScimError::InvalidBaseUrl { .. })));
        let cfg = ClientConfig::new("ftp://x/scim/v2", Secret::new("t"));
        assert!(matches!(ScimClient::new(cfg), Err(ScimError::InvalidBaseUrl { .. })));
    }

    #[test]
    fn client_debug_hides_the_token() {
        let cfg = ClientConfig::new("http://127.0.0.1:1/scim/v2", Secret::new("tok_SEKRIT"));
        assert!(!format!("{cfg:?}").contains("SEKRIT"));
        let client = ScimClient::new(cfg);
        assert!(!format!("{client:?}").contains("SEKRIT"));
    }
}
