//! Service (daemon) mode: with `--client-id` and `--client-secret` the connector takes its work
//! from ConductorOne instead of running once, as a baton-sdk connector does.
//!
//! The flow: the credentials are checked ([`credentials`]); an EdDSA client assertion buys an
//! access token at `https://<host>/auth/v1/token` ([`auth`]); over gRPC with TLS
//! ([`grpc`], messages in [`pb`]) the daemon says `Hello` ([`hello`]), then polls `GetTask`
//! and runs what it gets ([`tasks`]): full syncs uploaded as c1z files ([`sync_task`],
//! [`upload`]) and provisioning through the one-shot code ([`provision_task`]). `--health-check`
//! serves probes ([`health`]). SIGTERM or SIGINT stops polling, abandons a running sync (its
//! task is finished as cancelled, so ConductorOne hands it out again) and exits 0.
//!
//! `BATON_C1_API_HOST` replaces the client id's host (and may carry a port) for both the token
//! endpoint and gRPC; `SSL_CERT_FILE` adds trusted certificates; `BATON_HOST_ID` names this
//! instance.

pub mod auth;
pub mod credentials;
pub mod grpc;
pub mod health;
pub mod hello;
pub mod pb;
pub mod provision_task;
pub mod sync_task;
pub mod tasks;
pub mod upload;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use tokio_util::sync::CancellationToken;
use tonic::Code;

use crate::config::Settings;
use crate::scim::client::ScimClient;
use credentials::{ClientId, ClientSecret, CLIENT_SECRET_FLAG};
use grpc::{BatonClient, RpcError};
use tasks::Daemon;

/// The environment variable that replaces the client id's host.
pub const API_HOST_ENV: &str = "BATON_C1_API_HOST";
/// Start-up `Hello` back-off: from 1 s, doubling, at most 5 minutes.
pub const HELLO_FIRST_WAIT: Duration = Duration::from_secs(1);
pub const HELLO_MAX_WAIT: Duration = Duration::from_secs(300);

/// Whether a failed start-up `Hello` is worth another try (the SDK gives up on these codes).
pub fn hello_retryable(e: &RpcError) -> bool {
    e.auth.is_none()
        && !matches!(
            e.code,
            Code::Unauthenticated
                | Code::PermissionDenied
                | Code::InvalidArgument
                | Code::Unimplemented
                | Code::FailedPrecondition
                | Code::NotFound
                | Code::Cancelled
                | Code::DeadlineExceeded
        )
}

/// The host the token endpoint and gRPC use: `BATON_C1_API_HOST`, else the client id's.
pub fn api_host(id: &ClientId) -> String {
    std::env::var(API_HOST_ENV)
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| id.host().to_owned())
}

/// Runs the daemon until `shutdown` is cancelled. An error is start-up's: bad credentials, a
/// refused token, an unreachable ConductorOne, a health port in use.
///
/// Everything runs on one `LocalSet` (tasks are I/O-bound; a sync's writer has its own
/// thread): the SCIM client's futures are not `Send`, so they cannot go to `tokio::spawn`.
pub async fn run(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<()> {
    tokio::task::LocalSet::new()
        .run_until(run_local(settings, shutdown))
        .await
}

async fn run_local(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<()> {
    let id_text = settings.client_id.clone().unwrap_or_default();
    let id = ClientId::parse(&id_text)?;
    let Some(secret) = settings.client_secret.clone() else {
        bail!("{CLIENT_SECRET_FLAG} is required in service mode");
    };
    let key = ClientSecret::parse(&secret)?;
    let scim = ScimClient::new(settings.client_config()?)?;

    let host = api_host(&id);
    let extra_ca = grpc::ssl_cert_file().map_err(anyhow::Error::msg)?;
    let extra_roots = match &extra_ca {
        Some((path, pem)) => reqwest::Certificate::from_pem_bundle(pem)
            .with_context(|| format!("SSL_CERT_FILE {path} holds no usable certificate"))?,
        None => Vec::new(),
    };
    let user_agent = format!("{} baton-notion/{}", id.name(), env!("CARGO_PKG_VERSION"));
    let tokens = auth::TokenSource::new(&host, id, key, &extra_roots)?;
    let client = BatonClient::new(
        &host,
        &user_agent,
        tokens,
        extra_ca.as_ref().map(|(_, pem)| pem.as_slice()),
    )
    .map_err(anyhow::Error::msg)?;
    let host_id = hello::host_id();
    tracing::info!(
        api_host = %host,
        %host_id,
        client_id = %id_text,
        task_concurrency = settings.task_concurrency,
        provisioning = settings.provisioning,
        "service mode starting"
    );
    let daemon = Arc::new(Daemon {
        client,
        scim: scim.clone(),
        settings,
        host_id,
        shutdown: shutdown.clone(),
    });

    if !startup_hello(&daemon).await? {
        tracing::info!("stopped before ConductorOne answered Hello");
        return Ok(());
    }
    if daemon.settings.health_check {
        health::serve(
            &daemon.settings.health_check_bind_address,
            daemon.settings.health_check_port,
            scim,
            shutdown.clone(),
        )
        .await
        .map_err(anyhow::Error::msg)?;
    }
    tasks::run_loop(daemon).await;
    tracing::info!("service mode stopped");
    Ok(())
}

/// The start-up `Hello`, retried with back-off unless the failure is final; `Ok(false)` when
/// shutdown came first.
async fn startup_hello(daemon: &Daemon) -> anyhow::Result<bool> {
    let mut wait = HELLO_FIRST_WAIT;
    loop {
        let request = hello::request(&daemon.host_id, "");
        let answer = tokio::select! {
            a = daemon.client.hello(request) => a,
            () = daemon.shutdown.cancelled() => return Ok(false),
        };
        match answer {
            Ok(_) => {
                tracing::info!("ConductorOne answered Hello");
                return Ok(true);
            }
            Err(e) if !hello_retryable(&e) => {
                if let Some(auth) = e.auth {
                    return Err(auth).context("service mode could not start");
                }
                bail!("service mode could not start: ConductorOne refused Hello: {e}");
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in_s = wait.as_secs(), "Hello failed; trying again");
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = daemon.shutdown.cancelled() => return Ok(false),
                }
                wait = (wait * 2).min(HELLO_MAX_WAIT);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_gives_up_where_the_sdk_does() {
        let e = |code| RpcError {
            code,
            message: String::new(),
            auth: None,
        };
        assert!(hello_retryable(&e(Code::Unavailable)));
        assert!(hello_retryable(&e(Code::Internal)));
        for final_code in [
            Code::Unauthenticated,
            Code::PermissionDenied,
            Code::InvalidArgument,
            Code::Unimplemented,
            Code::FailedPrecondition,
            Code::NotFound,
            Code::DeadlineExceeded,
        ] {
            assert!(!hello_retryable(&e(final_code)), "{final_code:?}");
        }
        let auth = RpcError {
            code: Code::Unavailable,
            message: String::new(),
            auth: Some(auth::AuthError::Refused {
                url: "u".into(),
                status: 401,
            }),
        };
        assert!(!hello_retryable(&auth));
    }
}
