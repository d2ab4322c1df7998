//! A deliberately broken baton-style Notion connector, to see the suites catch real defects.
//! It is this repository's connector with one defect, chosen by `BROKEN_CONNECTOR_DEFECT`:
//!
//! - `drop-last-page`: a sync loses the users of its last page of `/Users` (and their grants),
//!   as a connector that stops paging one page early would;
//! - `created-when-existing`: provisioning says `created` when the account already existed;
//! - `grant-without-effect`: a grant reports `granted` and exits 0 without sending anything;
//! - `leak-token`: a sync logs the SCIM token;
//! - `clobber-on-failure`: a failed sync leaves a damaged file where the previous one was;
//! - unset or `none`: no defect (the connector as it is).
//!
//! ```sh
//! cargo build -p notion-conformance --example broken_connector
//! BROKEN_CONNECTOR_DEFECT=drop-last-page \
//!   cargo run -p notion-conformance -- run --connector target/debug/examples/broken_connector --suite sync
//! ```

use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use baton_notion::config::{Cli, Command, Settings};
use clap::Parser;

fn main() -> ExitCode {
    let defect = std::env::var("BROKEN_CONNECTOR_DEFECT").unwrap_or_else(|_| "none".into());
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(2);
        }
    };
    match run(cli, &defect) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli, defect: &str) -> anyhow::Result<ExitCode> {
    if let Some(Command::Capabilities) = cli.command {
        println!("{}", baton_notion::cli::capabilities_json());
        return Ok(ExitCode::SUCCESS);
    }
    let operation = cli.flags.operation()?;
    let settings = Settings::resolve(cli.flags, None)?;
    let token = settings
        .scim_token
        .as_ref()
        .map(|t| t.expose().to_string())
        .unwrap_or_default();
    let runtime = tokio::runtime::Runtime::new()?;
    let client = baton_notion::scim::client::ScimClient::new(settings.client_config()?)?;
    match operation {
        Some(op) => {
            let is_grant = matches!(op, baton_notion::provision::Operation::Grant { .. });
            if defect == "grant-without-effect" && is_grant {
                println!("{{\"operation\": \"grant\", \"result\": \"granted\"}}");
                return Ok(ExitCode::SUCCESS);
            }
            let outcome = runtime.block_on(baton_notion::provision::execute(&client, &op))?;
            let mut json = serde_json::to_value(&outcome)?;
            if defect == "created-when-existing"
                && matches!(
                    json["result"].as_str(),
                    Some("already_exists" | "reused_existing_account")
                )
            {
                json["result"] = "created".into();
            }
            println!("{json}");
            Ok(ExitCode::SUCCESS)
        }
        None => {
            if defect == "leak-token" {
                eprintln!("debug: authorization: Bearer {token}");
            }
            let progress = baton_notion::progress::Progress::hidden();
            let options = baton_notion::sync::SyncOptions::default();
            let result = runtime.block_on(baton_notion::sync::run(&client, &settings.file, &options, &progress));
            if defect == "clobber-on-failure" && result.is_err() {
                std::fs::write(&settings.file, b"C1ZF\0half a file")?;
            }
            let report = result?;
            if defect == "drop-last-page" {
                let last_page = match report.users % 100 {
                    0 => 100,
                    n => n,
                };
                drop_users(&settings.file, last_page).context("dropping the last page")?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Removes `n` users (the last by row order) and their grants from the newest sync of a c1z.
fn drop_users(file: &Path, n: u64) -> anyhow::Result<()> {
    let bytes = std::fs::read(file)?;
    let body = bytes.get(5..).context("not a c1z")?;
    let mut db = Vec::new();
    zstd::stream::read::Decoder::new(body)?.read_to_end(&mut db)?;
    let tmp = tempfile::NamedTempFile::new()?;
    std::fs::write(tmp.path(), &db)?;
    {
        let conn = rusqlite::Connection::open(tmp.path())?;
        let ids: Vec<String> = {
            let mut stmt = conn.prepare(
                "SELECT external_id FROM v1_resources WHERE resource_type_id = 'user' ORDER BY id DESC LIMIT ?1",
            )?;
            let rows = stmt.query_map([n as i64], |r| r.get::<_, String>(0))?;
            rows.collect::<Result<_, _>>()?
        };
        for id in ids {
            let user = id.trim_start_matches("user:");
            conn.execute("DELETE FROM v1_resources WHERE external_id = ?1", [&id])?;
            conn.execute(
                "DELETE FROM v1_grants WHERE principal_resource_type_id = 'user' AND principal_resource_id = ?1",
                [user],
            )?;
        }
    }
    let db = std::fs::read(tmp.path())?;
    let mut out = std::fs::File::create(file)?;
    out.write_all(b"C1ZF\0")?;
    out.write_all(&zstd::encode_all(db.as_slice(), 1)?)?;
    Ok(())
}
