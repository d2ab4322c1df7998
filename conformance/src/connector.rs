//! The connector under test, driven only through baton's command-line conventions: the same
//! argument list goes to a binary (`--connector PATH`) or, by default, to this repository's
//! connector called in-process through its own flag parser. What it wrote is read back by the
//! oracle's decoder; what it did to the target is read from the target.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::Value;

use crate::target::Env;

/// How a connector is reached.
#[derive(Debug, Clone)]
pub enum Connector {
    /// This repository's `baton-notion`, called in-process.
    InProcess,
    /// Any baton-style connector binary.
    Binary(PathBuf),
}

/// One run of the connector.
#[derive(Debug, Clone)]
pub struct RunOutput {
    pub success: bool,
    pub exit_code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
    /// The token appeared in what the connector printed (the texts above have it redacted).
    pub leaked_secret: bool,
}

impl RunOutput {
    /// The result label the connector printed as JSON on stdout (`created`, `already_granted`,
    /// ...), if it prints one; connectors that print nothing are judged by exit code and effect.
    pub fn reported_result(&self) -> Option<String> {
        let v: Value = serde_json::from_str(self.stdout.trim()).ok()?;
        v.get("result").and_then(Value::as_str).map(str::to_string)
    }

    /// The last lines of stderr, for failure messages.
    pub fn stderr_tail(&self) -> String {
        let lines: Vec<&str> = self.stderr.lines().collect();
        let start = lines.len().saturating_sub(3);
        lines[start..].join(" | ")
    }

    pub fn describe(&self) -> String {
        format!(
            "exit {} after {:.2}s; stdout {:?}; stderr: {}",
            self.exit_code.map_or("signal".to_string(), |c| c.to_string()),
            self.elapsed.as_secs_f64(),
            crate::scim::short(self.stdout.trim()),
            crate::scim::short(&self.stderr_tail())
        )
    }
}

/// A one-shot provisioning request, in baton's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provision {
    CreateAccount {
        first_name: String,
        last_name: String,
        email: String,
    },
    DeleteUser {
        user_id: String,
    },
    Grant {
        entitlement_id: String,
        user_id: String,
    },
    Revoke {
        grant_id: String,
    },
}

impl Provision {
    /// baton-sdk's one-shot flags for this request.
    pub fn args(&self) -> Vec<String> {
        let s = |v: &str| v.to_string();
        match self {
            Provision::CreateAccount {
                first_name,
                last_name,
                email,
            } => vec![
                s("--create-account-login"),
                email.clone(),
                s("--create-account-email"),
                email.clone(),
                s("--create-account-profile"),
                serde_json::json!({"first_name": first_name, "last_name": last_name, "email": email}).to_string(),
            ],
            Provision::DeleteUser { user_id } => vec![
                s("--delete-resource"),
                user_id.clone(),
                s("--delete-resource-type"),
                s("user"),
            ],
            Provision::Grant {
                entitlement_id,
                user_id,
            } => vec![
                s("--grant-entitlement"),
                entitlement_id.clone(),
                s("--grant-principal"),
                user_id.clone(),
                s("--grant-principal-type"),
                s("user"),
            ],
            Provision::Revoke { grant_id } => vec![s("--revoke-grant"), grant_id.clone()],
        }
    }

    /// The capability the connector must declare for this request: (resource type,
    /// capability).
    pub fn capability(&self) -> (&'static str, &'static str) {
        match self {
            Provision::CreateAccount { .. } => ("user", "CAPABILITY_ACCOUNT_PROVISIONING"),
            Provision::DeleteUser { .. } => ("user", "CAPABILITY_RESOURCE_DELETE"),
            Provision::Grant { entitlement_id, .. } => (entitlement_type(entitlement_id), "CAPABILITY_PROVISION"),
            Provision::Revoke { grant_id } => (entitlement_type(grant_id), "CAPABILITY_PROVISION"),
        }
    }
}

fn entitlement_type(id: &str) -> &'static str {
    if id.starts_with("group:") {
        "group"
    } else {
        "role"
    }
}

/// What a connector says it can do, from its `capabilities` output.
#[derive(Debug, Clone, Default)]
pub struct Capabilities {
    /// (resource type id, capability name) pairs, e.g. ("user", "CAPABILITY_SYNC").
    pub pairs: Vec<(String, String)>,
}

impl Capabilities {
    pub fn parse(json: &Value) -> anyhow::Result<Capabilities> {
        let list = json
            .get("resourceTypeCapabilities")
            .and_then(Value::as_array)
            .context("the capabilities JSON has no resourceTypeCapabilities list")?;
        let mut pairs = Vec::new();
        for rt in list {
            let id = rt
                .pointer("/resourceType/id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            for cap in rt.get("capabilities").and_then(Value::as_array).into_iter().flatten() {
                if let Some(c) = cap.as_str() {
                    pairs.push((id.clone(), c.to_string()));
                }
            }
        }
        Ok(Capabilities { pairs })
    }

    pub fn has(&self, resource_type: &str, capability: &str) -> bool {
        self.pairs.iter().any(|(t, c)| t == resource_type && c == capability)
    }
}

impl Connector {
    pub fn describe(&self) -> String {
        match self {
            Connector::InProcess => {
                "baton-notion (this repository, in-process; its binary for the service suite)".into()
            }
            Connector::Binary(p) => p.display().to_string(),
        }
    }

    /// `connector capabilities`, parsed.
    pub async fn capabilities(&self) -> anyhow::Result<Capabilities> {
        let json = match self {
            Connector::InProcess => baton_notion::cli::capabilities_json(),
            Connector::Binary(path) => {
                let out = run_binary(path, &["capabilities".to_string()], None).await?;
                if !out.success {
                    anyhow::bail!("`{} capabilities` failed: {}", path.display(), out.describe());
                }
                serde_json::from_str(out.stdout.trim())
                    .with_context(|| format!("`{} capabilities` did not print JSON", path.display()))?
            }
        };
        Capabilities::parse(&json)
    }

    /// A full sync of `env` into `file`.
    pub async fn sync(&self, env: &Env, file: &Path) -> anyhow::Result<RunOutput> {
        self.run(env, file, &[]).await
    }

    /// A sync stopped after `after` (the binary killed with SIGKILL; in-process, the sync's
    /// future dropped, as a cancelled task would be). `Ok(None)` when it was stopped, else what
    /// it printed when it finished first.
    pub async fn sync_interrupted(&self, env: &Env, file: &Path, after: Duration) -> anyhow::Result<Option<RunOutput>> {
        self.run_until(env, file, &[], Some(after)).await
    }

    /// One provisioning request. baton-sdk's grant and revoke look the entitlement and the
    /// principal up in the c1z named by `-f`, so callers sync into `file` first.
    pub async fn provision(&self, env: &Env, file: &Path, request: &Provision) -> anyhow::Result<RunOutput> {
        let mut args = vec!["-p".to_string()];
        args.extend(request.args());
        self.run(env, file, &args).await
    }

    async fn run(&self, env: &Env, file: &Path, extra: &[String]) -> anyhow::Result<RunOutput> {
        self.run_until(env, file, extra, None)
            .await?
            .context("the connector run was stopped")
    }

    /// Runs the connector, stopping it at `deadline` if given; `None` when it was stopped.
    async fn run_until(
        &self,
        env: &Env,
        file: &Path,
        extra: &[String],
        deadline: Option<Duration>,
    ) -> anyhow::Result<Option<RunOutput>> {
        let mut args = vec![
            "--base-url".to_string(),
            env.base_url().to_string(),
            "-f".to_string(),
            file.display().to_string(),
            "--log-level".to_string(),
            "info".to_string(),
        ];
        args.extend_from_slice(extra);
        match self {
            Connector::InProcess => {
                // On a runtime of its own, as the binary runs it (its futures need not be Send).
                let token = env.scim_token().to_string();
                tokio::task::spawn_blocking(move || {
                    let runtime = tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(2)
                        .enable_all()
                        .build()
                        .context("cannot start the connector's runtime")?;
                    Ok(runtime.block_on(async {
                        match deadline {
                            None => Some(in_process(&args, &token).await),
                            Some(d) => tokio::time::timeout(d, in_process(&args, &token)).await.ok(),
                        }
                    }))
                })
                .await
                .context("the in-process connector panicked")?
            }
            // The token travels in the environment, as baton's convention allows, so that it
            // never shows in a process list.
            Connector::Binary(path) => {
                let run = run_binary(path, &args, Some(env.scim_token()));
                match deadline {
                    None => run.await.map(Some),
                    // Dropping the run kills the child (kill_on_drop); give it a moment to go.
                    Some(d) => match tokio::time::timeout(d, run).await {
                        Ok(out) => out.map(Some),
                        Err(_) => {
                            tokio::time::sleep(Duration::from_millis(200)).await;
                            Ok(None)
                        }
                    },
                }
            }
        }
    }
}

/// A connector binary's command line, run in `dir` (so that no `.baton.yaml` of the caller's is
/// read) without any `BATON_*` variable of the runner's, stdin closed, stdout and stderr piped,
/// killed if dropped.
pub fn clean_command(path: &Path, args: &[String], dir: &Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(path);
    cmd.args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("BATON_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// Runs a connector binary with a clean environment (no `BATON_*` of the runner's leaks in) in
/// a scratch directory (no `.baton.yaml` of the caller's is read).
async fn run_binary(path: &Path, args: &[String], token: Option<&str>) -> anyhow::Result<RunOutput> {
    let scratch = tempfile::tempdir().context("cannot make a scratch directory")?;
    let mut cmd = clean_command(path, args, scratch.path());
    if let Some(t) = token {
        cmd.env("BATON_SCIM_TOKEN", t);
    }
    let started = Instant::now();
    let out = cmd
        .output()
        .await
        .with_context(|| format!("cannot run the connector {}", path.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let token = token.unwrap_or_default();
    Ok(RunOutput {
        success: out.status.success(),
        exit_code: out.status.code(),
        leaked_secret: leaks(&stdout, token) || leaks(&stderr, token),
        stdout: redact(&stdout, token),
        stderr: redact(&stderr, token),
        elapsed: started.elapsed(),
    })
}

/// Whether a connector's output holds the token (checked before redaction, so that a leak is
/// reported but never repeated).
fn leaks(text: &str, token: &str) -> bool {
    !token.is_empty() && text.contains(token)
}

fn redact(text: &str, token: &str) -> String {
    if token.is_empty() {
        text.to_string()
    } else {
        text.replace(token, "[REDACTED]")
    }
}

/// This repository's connector, through its own flag parser and entry points, as its binary
/// would run (the binary's `main` is a thin shell around these calls).
async fn in_process(args: &[String], token: &str) -> RunOutput {
    use baton_notion::config::{Cli, Settings};
    use clap::Parser;

    let started = Instant::now();
    let mut argv = vec![
        "baton-notion".to_string(),
        "--scim-token".to_string(),
        token.to_string(),
    ];
    argv.extend_from_slice(args);
    let result: anyhow::Result<String> = async {
        let cli = Cli::try_parse_from(&argv).map_err(|e| anyhow::anyhow!("{}", e.render()))?;
        let operation = cli.flags.operation()?;
        let settings = Settings::resolve(cli.flags, None)?;
        let client = baton_notion::scim::client::ScimClient::new(settings.client_config()?)?;
        match operation {
            Some(op) => {
                let outcome = baton_notion::provision::execute(&client, &op).await?;
                Ok(serde_json::to_string_pretty(&outcome)?)
            }
            None => {
                // The binary's own mapping, so every setting counts here as it does there.
                let options = baton_notion::sync::SyncOptions::from_settings(&settings);
                let progress = baton_notion::progress::Progress::hidden();
                baton_notion::sync::run(&client, &settings.file, &options, &progress).await?;
                Ok(String::new())
            }
        }
    }
    .await;
    let elapsed = started.elapsed();
    match result {
        Ok(stdout) => RunOutput {
            success: true,
            exit_code: Some(0),
            leaked_secret: leaks(&stdout, token),
            stdout: redact(&stdout, token),
            stderr: String::new(),
            elapsed,
        },
        Err(e) => {
            let chain: Vec<String> = e.chain().map(ToString::to_string).collect();
            let stdout = match args.iter().any(|a| a == "-p") {
                true => serde_json::json!({"result": "failed", "error": chain.join(": ")}).to_string(),
                false => String::new(),
            };
            let stderr = format!("error: {}", chain.join(": "));
            RunOutput {
                success: false,
                exit_code: Some(1),
                leaked_secret: leaks(&stdout, token) || leaks(&stderr, token),
                stdout: redact(&stdout, token),
                stderr: redact(&stderr, token),
                elapsed,
            }
        }
    }
}

/// A `cargo build` of this workspace's `baton-notion` binary in `profile` (`dev`, `release`,
/// ...), for a runner or test that needs the binary and finds it missing or stale.
///
/// `--workspace`, not `-p baton-notion`: features resolved as the README's commands resolve
/// them, so this reuses their build rather than compiling about 20 crates again. Without the
/// variables cargo sets for a package it runs or tests (`CARGO_PKG_*`, `CARGO_MANIFEST_*`, ...):
/// ring's build script reruns when one of them changes, which would make the next `cargo
/// test` recompile ring and all above it.
pub fn connector_build(cargo: impl AsRef<std::ffi::OsStr>, profile: &str) -> std::process::Command {
    let mut cmd = std::process::Command::new(cargo);
    cmd.args([
        "build",
        "--quiet",
        "--profile",
        profile,
        "--workspace",
        "--bin",
        "baton-notion",
    ]);
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("CARGO_PKG_")
            || name.starts_with("CARGO_MANIFEST_")
            || matches!(name.as_ref(), "CARGO_CRATE_NAME" | "CARGO_PRIMARY_PACKAGE" | "OUT_DIR")
        {
            cmd.env_remove(name.as_ref());
        }
    }
    cmd
}

/// The cargo profile whose output folder holds `dir` (`target/debug` is the `dev` profile's;
/// test binaries sit in its `deps/`, examples in its `examples/`).
pub fn profile_of(dir: &Path) -> String {
    let dir = match dir.file_name().and_then(|n| n.to_str()) {
        Some("deps" | "examples") => dir.parent().unwrap_or(dir),
        _ => dir,
    };
    match dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => "dev".to_owned(),
        Some(other) => other.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use notion_scim_mock::{MockServer, PagingFault};

    use super::{in_process, profile_of};

    #[test]
    fn the_profile_is_read_from_the_output_folder() {
        use std::path::Path;
        assert_eq!(profile_of(Path::new("target/debug")), "dev");
        assert_eq!(profile_of(Path::new("target/debug/deps")), "dev");
        assert_eq!(profile_of(Path::new("target/release/examples")), "release");
        assert_eq!(profile_of(Path::new("/t/bench")), "bench");
    }

    /// The in-process connector reads the same settings as the binary: `--max-list-walks 1`
    /// leaves no second walk to tell an overstated `totalResults` from a moved list, so the sync
    /// fails clearly, while the default of 4 succeeds (two walks agree).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn in_process_runs_honour_the_list_walk_budget() {
        let mock = MockServer::builder().seed(3).users(150).groups(4).start().await;
        mock.faults().paging(Some(PagingFault::InflatedTotalResults(30)));
        let dir = tempfile::tempdir().unwrap();
        let run = |walks: Option<&str>, name: &str| {
            let mut args = vec![
                "--base-url".to_string(),
                mock.base_url().to_string(),
                "-f".to_string(),
                dir.path().join(name).display().to_string(),
                "--requests-in-flight".to_string(),
                "3".to_string(),
            ];
            if let Some(w) = walks {
                args.extend(["--max-list-walks".to_string(), w.to_string()]);
            }
            args
        };
        let one = in_process(&run(Some("1"), "one.c1z"), mock.token()).await;
        assert!(!one.success, "one walk cannot vouch for the list: {}", one.describe());
        assert!(one.stderr.contains("did not settle in 1 walks"), "{}", one.stderr);
        let default = in_process(&run(None, "default.c1z"), mock.token()).await;
        assert!(default.success, "{}", default.describe());
    }
}
