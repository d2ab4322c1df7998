//! baton-sdk's health check: a plain-HTTP server for probes, and the `health-check` subcommand
//! that asks it.
//!
//! - `GET /health` runs the connector's validation (one cheap SCIM call, 30 s at most): 200
//!   `{"status":"healthy","timestamp":…}`, or 503 `{"status":"unhealthy",…,"details":{…}}`.
//! - `GET /ready`: 200 `ready` (the SCIM client exists once the daemon runs).
//! - `GET /live`: 200 `alive`, always.
//!
//! The server is on `--health-check-bind-address`:`--health-check-port` (127.0.0.1:8081), started
//! after the daemon's first `Hello` succeeded, and only with `--health-check`.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::cli::{self, Validation};
use crate::scim::client::ScimClient;

/// How long `/health` lets the validation take.
pub const VALIDATION_TIMEOUT: Duration = Duration::from_secs(30);

/// The probe endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Endpoint {
    Health,
    Ready,
    Live,
}

impl Endpoint {
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::Health => "/health",
            Endpoint::Ready => "/ready",
            Endpoint::Live => "/live",
        }
    }
}

fn timestamp() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// A handle that has the connector's validation run where the SCIM client's futures may run.
///
/// The client's futures are not `Send` (its retry loop takes an async closure), while axum's
/// handlers must be: the handler sends a request over a channel to a worker on the caller's
/// `LocalSet` and awaits the verdict.
#[derive(Debug, Clone)]
pub struct Validator(mpsc::Sender<oneshot::Sender<Validation>>);

impl Validator {
    /// Starts the worker with `tokio::task::spawn_local`: call inside a `LocalSet`.
    pub fn spawn_local(scim: ScimClient) -> Self {
        let (tx, mut rx) = mpsc::channel::<oneshot::Sender<Validation>>(8);
        tokio::task::spawn_local(async move {
            while let Some(reply) = rx.recv().await {
                let verdict = match tokio::time::timeout(VALIDATION_TIMEOUT, cli::validate(&scim)).await {
                    Ok(v) => v,
                    Err(_) => {
                        Validation::Failed(format!("validation took longer than {}s", VALIDATION_TIMEOUT.as_secs()))
                    }
                };
                let _ = reply.send(verdict);
            }
        });
        Self(tx)
    }

    async fn check(&self) -> Validation {
        let (tx, rx) = oneshot::channel();
        if self.0.send(tx).await.is_err() {
            return Validation::Failed("the validation worker has stopped".into());
        }
        rx.await
            .unwrap_or_else(|_| Validation::Failed("the validation worker has stopped".into()))
    }
}

async fn health(State(validator): State<Validator>) -> Response {
    let verdict = validator.check().await;
    match verdict {
        Validation::Valid { .. } => (
            StatusCode::OK,
            Json(json!({ "status": "healthy", "timestamp": timestamp() })),
        )
            .into_response(),
        other => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({
                "status": "unhealthy",
                "timestamp": timestamp(),
                "details": { "error": "validation failed", "validation_error": other.to_string() },
            })),
        )
            .into_response(),
    }
}

/// The health routes.
pub fn router(validator: Validator) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(|| async { (StatusCode::OK, "ready") }))
        .route("/live", get(|| async { (StatusCode::OK, "alive") }))
        .with_state(validator)
}

/// Binds `bind:port` and serves until `stop`; returns the bound address. Call inside a
/// `LocalSet` (see [`Validator`]).
pub async fn serve(bind: &str, port: u16, scim: ScimClient, stop: CancellationToken) -> Result<SocketAddr, String> {
    let validator = Validator::spawn_local(scim);
    let address = format!("{}:{port}", bracket(bind));
    let listener = tokio::net::TcpListener::bind(&address)
        .await
        .map_err(|e| format!("cannot serve the health check on {address}: {e}"))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("cannot serve the health check on {address}: {e}"))?;
    tokio::spawn(async move {
        let served = axum::serve(listener, router(validator))
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "the health-check server stopped");
        }
    });
    tracing::info!(address = %local, "health check serving /health, /ready and /live");
    Ok(local)
}

fn bracket(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

/// The `health-check` subcommand: `GET` the endpoint; `Ok` with the status line only for 200.
pub async fn probe(bind: &str, port: u16, endpoint: Endpoint, timeout: Duration) -> Result<String, String> {
    // A server bound to every address answers on loopback.
    let host = match bind {
        "0.0.0.0" | "" => "127.0.0.1",
        "::" | "[::]" => "[::1]",
        other => other,
    };
    let url = format!("http://{}:{port}{}", bracket(host), endpoint.path());
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| format!("health-check: cannot make an HTTP client: {e}"))?;
    let answer = client
        .get(&url)
        .send()
        .await
        .map_err(|e| format!("health-check: GET {url} failed: {}", super::auth::root_cause(&e)))?;
    let status = answer.status();
    if status == reqwest::StatusCode::OK {
        Ok(format!("health-check: {url}: {status}"))
    } else {
        Err(format!("health-check: {url} answered {status}"))
    }
}

/// Reads a Go duration as the `--timeout` flag takes it (`5s`, `1m30s`, `500ms`), or whole
/// seconds.
pub fn parse_go_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("{text:?} is not a duration such as 5s, 500ms or 1m");
    let t = text.trim();
    if let Ok(secs) = t.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total = Duration::ZERO;
    let mut rest = t;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit() && c != '.').ok_or_else(bad)?;
        let (number, tail) = rest.split_at(digits);
        let value: f64 = number.parse().map_err(|_| bad())?;
        let unit_len = tail.find(|c: char| c.is_ascii_digit()).unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_len);
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += Duration::try_from_secs_f64(value * scale).map_err(|_| bad())?;
        rest = next;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_go_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_go_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_go_duration("7"), Ok(Duration::from_secs(7)));
        for bad in ["", "5x", "s", "-1s"] {
            assert!(parse_go_duration(bad).is_err(), "{bad}");
        }
    }
}
