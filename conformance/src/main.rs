//! `notion-conformance`: runs the conformance suites against a Notion connector and prints a
//! table, a summary line and, if asked, JUnit XML and JSON. Exit status 0 only when every
//! selected case passed (skips allowed); 1 when one failed or the run was interrupted; 2 for a
//! command line it cannot use.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use notion_conformance::connector::Connector;
use notion_conformance::runner::{self, Selection};
use notion_conformance::suites::{self, Ctx, Suite};
use notion_conformance::target::Lab;

#[derive(Debug, Parser)]
#[command(
    name = "notion-conformance",
    version,
    about = "Judge a Notion connector that follows baton's conventions against Notion's SCIM behaviour"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run the suites (by default: every suite, this repository's connector, the embedded
    /// emulation)
    Run(RunArgs),
    /// List every case with a one-line description
    List(ListArgs),
}

#[derive(Debug, clap::Args)]
struct ListArgs {
    /// Only this suite (sync, provisioning, resilience, behaviour, snapshots); repeatable
    #[arg(long = "suite", value_name = "NAME", value_parser = parse_suite)]
    suites: Vec<Suite>,
    /// Only cases whose `suite::case` contains this text
    filter: Option<String>,
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// The connector binary to judge, driven through baton's flags (default: this
    /// repository's baton-notion, called in-process)
    #[arg(long, value_name = "PATH")]
    connector: Option<PathBuf>,
    /// A SCIM base URL to run against instead of the embedded emulation (the standalone
    /// emulation, another SCIM server, a real Notion tenant)
    #[arg(long, value_name = "URL", requires = "token")]
    target: Option<String>,
    /// The target's SCIM bearer token (never printed)
    #[arg(long, env = "NOTION_CONFORMANCE_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    token: Option<String>,
    /// Let suites write to a --target: they touch only accounts they create, on --test-domain,
    /// and remove them afterwards
    #[arg(long)]
    allow_writes: bool,
    /// The email domain of accounts created on a --target (required with --allow-writes)
    #[arg(long, value_name = "DOMAIN")]
    test_domain: Option<String>,
    /// At most this many accounts created on a --target in one run (a real org pays per seat)
    #[arg(long, value_name = "N", default_value_t = 5)]
    max_created: usize,
    /// Only this suite (sync, provisioning, resilience, behaviour, snapshots); repeatable
    #[arg(long = "suite", value_name = "NAME", value_parser = parse_suite)]
    suites: Vec<Suite>,
    /// The property suites' seed (a failure prints the one that replays it)
    #[arg(long, value_name = "N", default_value_t = 20261201)]
    seed: u64,
    /// Cases per property
    #[arg(long, value_name = "N", default_value_t = 8)]
    cases: u32,
    /// Write a JUnit XML report here
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Write a JSON report here
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Print the selected cases instead of running them
    #[arg(long)]
    list: bool,
    /// Only cases whose `suite::case` contains this text
    filter: Option<String>,
}

fn parse_suite(s: &str) -> Result<Suite, String> {
    Suite::parse(s).ok_or_else(|| {
        let names: Vec<&str> = Suite::ALL.iter().map(|s| s.name()).collect();
        format!("unknown suite {s:?}: expected one of {}", names.join(", "))
    })
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let result = match cli.command {
        Cmd::List(args) => {
            print_list(&Selection {
                suites: args.suites,
                filter: args.filter,
            });
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Run(args) => run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            let causes: Vec<String> = e.chain().map(ToString::to_string).collect();
            eprintln!("error: {}", causes.join(": "));
            ExitCode::from(2)
        }
    }
}

fn print_list(selection: &Selection) {
    let cases = selection.pick(suites::all());
    let width = cases.iter().map(|c| c.id().len()).max().unwrap_or(0);
    for c in &cases {
        println!("{:width$}  {}", c.id(), c.description);
    }
    println!("{} case(s)", cases.len());
}

fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let selection = Selection {
        suites: args.suites.clone(),
        filter: args.filter.clone(),
    };
    if args.list {
        print_list(&selection);
        return Ok(ExitCode::SUCCESS);
    }
    if args.allow_writes && args.target.is_some() && args.test_domain.is_none() {
        anyhow::bail!(
            "--allow-writes on a --target needs --test-domain: the suites create accounts only on a domain you name"
        );
    }
    if let Some(path) = &args.connector {
        if !path.is_file() {
            anyhow::bail!("--connector {}: no such file", path.display());
        }
    }
    let cases = selection.pick(suites::all());
    if cases.is_empty() {
        anyhow::bail!("no case matches the selection (see `notion-conformance list`)");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let lab = match &args.target {
            None => Lab::embedded(),
            Some(url) => {
                let token = args.token.clone().unwrap_or_default();
                Lab::remote(
                    url,
                    &token,
                    args.allow_writes,
                    args.test_domain.clone(),
                    args.max_created,
                )
                .await?
            }
        };
        let connector = match &args.connector {
            None => Connector::InProcess,
            Some(p) => Connector::Binary(std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())),
        };
        let mut invocation = String::new();
        if let Some(p) = &args.connector {
            invocation.push_str(&format!(" --connector {}", p.display()));
        }
        if let Some(t) = &args.target {
            invocation.push_str(&format!(" --target {t} --token \"$TOKEN\""));
        }
        if args.allow_writes {
            invocation.push_str(" --allow-writes");
        }
        if let Some(d) = &args.test_domain {
            invocation.push_str(&format!(" --test-domain {d}"));
        }
        let ctx = Ctx::leaked(lab, connector, args.seed, args.cases, invocation)?;
        println!(
            "notion-conformance: {} case(s); connector {}; target {}; seed {}, {} case(s) per property",
            cases.len(),
            ctx.connector.describe(),
            ctx.lab.describe(),
            ctx.seed,
            ctx.cases
        );
        let mut stdout = std::io::stdout();
        let report = runner::run(ctx, &cases, &mut stdout).await;
        print!("{}", report.failures());
        for line in &report.clean_up {
            println!("{line}");
        }
        if let Some(path) = &args.junit {
            std::fs::write(path, report.junit()).with_context(|| format!("cannot write {}", path.display()))?;
        }
        if let Some(path) = &args.json {
            let json = serde_json::to_string_pretty(&report)?;
            std::fs::write(path, json).with_context(|| format!("cannot write {}", path.display()))?;
        }
        println!("{}", report.summary_line());
        Ok(if report.ok() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    })
}
