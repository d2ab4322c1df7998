//! `baton-notion`: parses flags, environment and `.baton.yaml`, then runs one command.
//! Exit status 0 on success; otherwise 1, with one line on stderr saying what went wrong, or 2
//! for a command line clap refuses, with clap's whole message (usage and tips included).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;

use baton_notion::cli::{self, Validation};
use baton_notion::config::{Cli, Command, ConfigFile, Settings, CONFIG_PATH_ENV};
use baton_notion::logging;
use baton_notion::progress::Progress;
use baton_notion::provision::{Operation, Safeguards};
use baton_notion::scim::client::{RetryPolicy, ScimClient};
use baton_notion::sync::{self, SyncOptions};

/// jemalloc, configured in `.cargo/config.toml`: with glibc's allocator, pages parsed on the
/// fetch threads and freed on the writer thread contended for arena locks (about 0.1 s of a
/// 1 s sync of the bench org).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() => {
            // clap's whole message: its later lines name the missing arguments and the similar
            // flag it suggests, which the first line alone leaves out.
            let _ = e.print();
            return ExitCode::from(2);
        }
        Err(e) => {
            // --help and --version.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", render_chain(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, joined by ": ". A cause whose text the line already
/// holds is left out: many errors repeat their source in their own message.
fn render_chain(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string().replace('\n', " ");
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // baton-sdk's subcommands this connector has no use for are refused by name.
    if let Some(why) = cli.command.as_ref().and_then(Command::refusal) {
        anyhow::bail!("{why}");
    }
    match &cli.command {
        Some(Command::Capabilities) => {
            println!("{}", serde_json::to_string_pretty(&cli::capabilities_json())?);
            return Ok(ExitCode::SUCCESS);
        }
        Some(Command::Config) => {
            println!("{}", serde_json::to_string_pretty(&cli::config_schema_json())?);
            return Ok(ExitCode::SUCCESS);
        }
        Some(Command::Validate | Command::Completion { .. } | Command::HealthCheck { .. }) | None => {}
    }

    // A provisioning request is checked whole before anything else happens.
    let operation = cli.flags.operation()?;
    let safeguards = Safeguards {
        confirm_owner_change: cli.flags.confirm_owner_change.unwrap_or(false),
    };
    let cwd = std::env::current_dir().context("cannot read the working directory")?;
    let file = ConfigFile::discover(std::env::var_os(CONFIG_PATH_ENV).map(Into::into), &cwd)?;
    let warnings = file.as_ref().map(cli::unknown_keys::warnings).unwrap_or_default();
    let settings = match Settings::resolve(cli.flags, file.as_ref()) {
        Ok(s) => s,
        Err(e) => {
            // Before the error: a misspelt key may be why (no logger is set up yet).
            for w in &warnings {
                eprintln!("warning: {w}");
            }
            return Err(e.into());
        }
    };
    let probing = matches!(cli.command, Some(Command::HealthCheck { .. }));
    if !probing {
        settings.refuse_service_only()?;
    }
    if settings.is_service() && operation.is_some() {
        anyhow::bail!(
            "the one-shot provisioning flags cannot be combined with service mode (--client-id): in service mode ConductorOne sends the grants and revokes as tasks"
        );
    }
    // A one-shot provisioning flag enables provisioning by itself, as in baton-sdk: no -p needed.
    logging::init(&settings.log_level, settings.log_format_or_default());
    for w in &warnings {
        tracing::warn!("{w}");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;

    match (cli.command, operation) {
        (Some(Command::HealthCheck { endpoint, timeout }), _) => {
            let probed = runtime.block_on(baton_notion::service::health::probe(
                &settings.health_check_bind_address,
                settings.health_check_port,
                endpoint,
                timeout,
            ));
            match probed {
                Ok(line) => {
                    println!("{line}");
                    Ok(ExitCode::SUCCESS)
                }
                Err(line) => anyhow::bail!("{line}"),
            }
        }
        (Some(Command::Validate), _) => runtime.block_on(validate(&settings)),
        (_, None) if settings.is_service() => runtime.block_on(service(settings)),
        (_, Some(op)) => runtime.block_on(provision(&settings, &op, safeguards)),
        (_, None) if settings.skip_full_sync => {
            tracing::info!("--skip-full-sync: no sync run, no file written");
            Ok(ExitCode::SUCCESS)
        }
        _ => {
            let finished = runtime.block_on(async {
                tokio::select! {
                    result = sync_once(&settings) => Ok(result),
                    signal = shutdown_signal() => Err(signal),
                }
            });
            match finished {
                Ok(result) => result,
                Err((name, code)) => {
                    // The sync's future is gone; its writer thread stops at the closed queue.
                    // Remove its work files now rather than trust it to finish dropping them
                    // before the process exits. The previous file was never touched.
                    let removed = baton_notion::c1z::remove_leftovers(&settings.file);
                    runtime.shutdown_timeout(Duration::from_secs(5));
                    eprintln!(
                        "error: interrupted by {name}: sync into {} stopped; the previous file is unchanged ({removed} work file(s) removed)",
                        settings.file.display()
                    );
                    Ok(ExitCode::from(code))
                }
            }
        }
    }
}

/// Service mode until SIGTERM or SIGINT, which end it cleanly (exit 0).
async fn service(settings: Settings) -> anyhow::Result<ExitCode> {
    let shutdown = tokio_util::sync::CancellationToken::new();
    let trigger = shutdown.clone();
    tokio::spawn(async move {
        let (name, _) = shutdown_signal().await;
        tracing::info!(signal = name, "stopping: no new tasks; a running sync is abandoned");
        trigger.cancel();
    });
    baton_notion::service::run(settings, shutdown).await?;
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM with the signal's name and the exit status a shell
/// gives a process it ended (128 + the signal's number).
async fn shutdown_signal() -> (&'static str, u8) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            return tokio::select! {
                _ = tokio::signal::ctrl_c() => ("SIGINT", 130),
                _ = term.recv() => ("SIGTERM", 143),
            };
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    ("SIGINT", 130)
}

/// One provisioning operation: its outcome as JSON on stdout; on failure, the error as JSON on
/// stdout too, one line on stderr, and a non-zero exit.
async fn provision(settings: &Settings, op: &Operation, safeguards: Safeguards) -> anyhow::Result<ExitCode> {
    let client = ScimClient::new(settings.client_config()?)?;
    match baton_notion::provision::execute_with(&client, op, safeguards).await {
        Ok(outcome) => {
            println!("{}", serde_json::to_string_pretty(&outcome)?);
            tracing::info!(operation = outcome.operation, result = ?outcome.result, "{}", outcome.message);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            let failure = serde_json::json!({
                "operation": baton_notion::provision::operation_name(op),
                "result": "failed",
                "error": e.to_string(),
            });
            println!("{}", serde_json::to_string_pretty(&failure)?);
            Err(e.into())
        }
    }
}

async fn validate(settings: &Settings) -> anyhow::Result<ExitCode> {
    let mut config = settings.client_config()?;
    // A check should answer in seconds: few, short retries, and a short connect.
    config.retry = RetryPolicy {
        max_retries: 2,
        base_delay: Duration::from_millis(200),
        max_delay: Duration::from_secs(2),
        max_retry_after: Duration::from_secs(5),
    };
    config.http_timeout = config.http_timeout.min(Duration::from_secs(30));
    let client = ScimClient::new(config)?;
    let verdict = cli::validate(&client).await;
    println!("{verdict}");
    Ok(match verdict {
        Validation::Valid { .. } => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    })
}

async fn sync_once(settings: &Settings) -> anyhow::Result<ExitCode> {
    let client = ScimClient::new(settings.client_config()?)?;
    let options = SyncOptions::from_settings(settings);
    let progress = Progress::for_stderr();
    tracing::info!(
        base_url = %settings.base_url,
        file = %settings.file.display(),
        page_size = settings.page_size,
        requests_per_minute = settings.requests_per_minute,
        requests_in_flight = settings.requests_in_flight,
        max_list_walks = settings.max_list_walks,
        resource_types = ?options.resource_types,
        provisioning = settings.provisioning,
        "sync starting"
    );
    let report = sync::run(&client, &settings.file, &options, &progress)
        .await
        .with_context(|| format!("sync into {} failed", settings.file.display()))?;
    tracing::info!(
        sync_id = %report.summary.sync_id,
        users = report.users,
        groups = report.groups,
        memberships = report.memberships,
        requests = report.requests,
        retries = report.retries,
        rate_limited = report.rate_limited,
        elapsed_ms = report.elapsed.as_millis() as u64,
        bytes = report.summary.bytes,
        peak_memory_mib = baton_notion::procstat::peak_memory_mib(),
        "sync finished"
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::render_chain;

    #[derive(Debug, thiserror::Error)]
    #[error("the token was rejected (HTTP 401)")]
    struct Rejected;

    /// Repeats its source in its own message, as `#[error("{0}")]` wrappers do.
    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    struct Repeats(#[source] Rejected);

    #[derive(Debug, thiserror::Error)]
    #[error("could not read\nthe page")]
    struct Io(#[source] Rejected);

    #[test]
    fn each_cause_once_on_one_line() {
        let e = anyhow::Error::new(Repeats(Rejected)).context("sync into sync.c1z failed");
        assert_eq!(
            render_chain(&e),
            "sync into sync.c1z failed: the token was rejected (HTTP 401)"
        );
        let e = anyhow::Error::new(Io(Rejected)).context("validate failed");
        assert_eq!(
            render_chain(&e),
            "validate failed: could not read the page: the token was rejected (HTTP 401)"
        );
    }
}
