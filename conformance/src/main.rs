//! `notion-conformance`: runs the conformance suites against a Notion connector and prints a
//! table, a summary line and, if asked, JUnit XML and JSON. Exit status 0 only when every
//! selected case passed (skips allowed); 1 when one failed or the run was interrupted; 2 for a
//! command line it cannot use.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use notion_conformance::connector::Connector;
use notion_conformance::inspect::{self, Filter, Format, Listing};
use notion_conformance::record::RecordMode;
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
    /// Record a SCIM server's exchanges into a cassette, scrubbed: a proxy for any client, or
    /// the probe (--probe)
    Record(RecordArgs),
    /// Replay a cassette against the emulation and print where the emulation departs from it
    Fidelity(FidelityArgs),
    /// Show what a c1z holds (summary, resources, entitlements, grants, syncs), or with `diff`
    /// what changed between two sync runs or two files; read with the oracle's own decoder
    Inspect(InspectArgs),
    /// A fake ConductorOne for a connector in service mode: serve it (prints the credentials
    /// and environment to give the connector), or drive a running one through its admin API
    #[command(name = "fake-c1")]
    FakeC1(FakeC1Args),
}

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
struct InspectArgs {
    #[command(subcommand)]
    diff: Option<InspectCmd>,
    /// The c1z file
    #[arg(value_name = "FILE", required = true)]
    file: Option<PathBuf>,
    /// What to list: summary, resources, entitlements, grants or syncs
    #[arg(value_name = "WHAT", default_value = "summary", value_parser = parse_listing)]
    what: Listing,
    /// The sync run to show (default: the newest finished full sync, as baton shows)
    #[arg(long, value_name = "SYNC_ID")]
    sync: Option<String>,
    #[command(flatten)]
    view: ViewArgs,
}

#[derive(Debug, Subcommand)]
enum InspectCmd {
    /// What changed between two sync runs: of one file (its two newest full syncs) or of two
    /// files (each one's newest). Exit 0 when nothing differs, 1 when something does
    Diff(DiffArgs),
}

#[derive(Debug, clap::Args)]
struct DiffArgs {
    /// The older c1z (or the only one: its two newest full syncs are compared)
    #[arg(value_name = "A")]
    from: PathBuf,
    /// The newer c1z
    #[arg(value_name = "B")]
    to: Option<PathBuf>,
    /// The sync run of A to compare from
    #[arg(long, value_name = "SYNC_ID")]
    from_sync: Option<String>,
    /// The sync run (of B, or of A alone) to compare to
    #[arg(long, value_name = "SYNC_ID")]
    to_sync: Option<String>,
    #[command(flatten)]
    view: ViewArgs,
}

/// Filters and the output format, shared by `inspect` and `inspect diff`.
#[derive(Debug, clap::Args)]
struct ViewArgs {
    /// Only resources of this type, and entitlements and grants on them (user, group, role...)
    #[arg(long, value_name = "TYPE")]
    resource_type: Option<String>,
    /// Only this resource (`user:ID` or the id), and entitlements and grants on it
    #[arg(long, value_name = "RESOURCE")]
    resource: Option<String>,
    /// Only grants of this entitlement id
    #[arg(long, value_name = "ID")]
    entitlement: Option<String>,
    /// Only grants to this principal (`user:ID` or the id)
    #[arg(long, value_name = "PRINCIPAL")]
    principal: Option<String>,
    /// table (for people) or json
    #[arg(short = 'o', long, value_name = "FORMAT", default_value = "table", value_parser = parse_format)]
    output: Format,
}

impl ViewArgs {
    fn filter(&self) -> Filter {
        Filter {
            resource_type: self.resource_type.clone(),
            resource: self.resource.clone(),
            entitlement: self.entitlement.clone(),
            principal: self.principal.clone(),
        }
    }
}

fn parse_listing(s: &str) -> Result<Listing, String> {
    Listing::parse(s).ok_or_else(|| format!("{s:?} is not one of {}", Listing::NAMES))
}

fn parse_format(s: &str) -> Result<Format, String> {
    match s {
        "table" => Ok(Format::Table),
        "json" => Ok(Format::Json),
        _ => Err(format!("{s:?} is not one of table, json")),
    }
}

fn inspect(args: InspectArgs) -> anyhow::Result<ExitCode> {
    if let Some(InspectCmd::Diff(d)) = args.diff {
        let diff = inspect::diff(
            &d.from,
            d.to.as_deref(),
            d.from_sync.as_deref(),
            d.to_sync.as_deref(),
            &d.view.filter(),
        )?;
        let text = match d.view.output {
            Format::Json => serde_json::to_string_pretty(&diff)?,
            Format::Table => diff.render(),
        };
        print_out(&text)?;
        return Ok(ExitCode::from(u8::from(diff.differences > 0)));
    }
    let Some(file) = args.file else {
        anyhow::bail!("inspect needs a FILE (or `inspect diff A [B]`)");
    };
    let text = inspect::inspect(
        &file,
        args.what,
        args.sync.as_deref(),
        &args.view.filter(),
        args.view.output,
    )?;
    print_out(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// Prints a listing; a closed pipe (`| head`) is the reader's choice, not an error.
fn print_out(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    match writeln!(std::io::stdout().lock(), "{text}") {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
struct FakeC1Args {
    #[command(subcommand)]
    action: Option<FakeC1Action>,
    /// Where the TLS listener (token endpoint and BatonService gRPC) binds
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    listen: String,
    /// Where the plain-HTTP admin API binds
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    admin: String,
    /// Write the fake's CA certificate here (for SSL_CERT_FILE; default: a file in the temp
    /// directory)
    #[arg(long, value_name = "FILE")]
    ca_out: Option<PathBuf>,
    /// `expires_in` of issued access tokens, in seconds
    #[arg(long, value_name = "SECS", default_value_t = 600)]
    token_lifetime: u64,
    /// `next_poll` handed to the connector, in milliseconds
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    next_poll_ms: u64,
}

#[derive(Debug, Subcommand)]
enum FakeC1Action {
    /// Queue a task on a running fake
    Task {
        /// The fake's admin API (printed when it starts)
        #[arg(long, value_name = "URL")]
        admin: String,
        #[command(subcommand)]
        task: TaskCmd,
    },
    /// Print every call a running fake received, one JSON object a line
    Calls {
        #[arg(long, value_name = "URL")]
        admin: String,
    },
    /// Print the tasks of a running fake and how each ended (JSON)
    Tasks {
        #[arg(long, value_name = "URL")]
        admin: String,
    },
    /// Set a running fake's faults from JSON (e.g. '{"unavailable": 3}'; unnamed fields take
    /// their defaults)
    Faults {
        #[arg(long, value_name = "URL")]
        admin: String,
        json: String,
    },
}

#[derive(Debug, Subcommand)]
enum TaskCmd {
    /// A full sync (c1z uploaded, then FinishTask)
    Sync {
        /// sqlite or pebble (default: the connector's choice)
        #[arg(long, default_value = "")]
        storage_engine: String,
        /// Ask for a debug log upload too
        #[arg(long)]
        debug: bool,
    },
    /// Grant an entitlement (group:<id>:member, role:<role>:assigned) to a user
    Grant { entitlement: String, user_id: String },
    /// Revoke a grant (<entitlement>:user:<user id>)
    Revoke { grant_id: String },
    /// Create an account (no password)
    CreateAccount {
        email: String,
        #[arg(long, default_value = "")]
        first_name: String,
        #[arg(long, default_value = "")]
        last_name: String,
    },
    /// Delete a user
    Delete { user_id: String },
    /// Ask for a Hello carrying the task's id
    Hello,
    /// A task type baton-sdk does not handle (event_feed)
    EventFeed,
}

#[derive(Debug, clap::Args)]
struct RecordArgs {
    /// The SCIM base URL to record (`https://api.notion.com/scim/v2`)
    #[arg(long, value_name = "URL")]
    upstream: String,
    /// The cassette file
    #[arg(long, value_name = "FILE")]
    cassette: PathBuf,
    /// Where the proxy listens; clients use http://ADDR plus the upstream's path
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8780")]
    listen: String,
    /// once (record when the cassette does not exist, else play it back), new_episodes (play
    /// back what is recorded, record the rest), all (record afresh), none (play back only)
    #[arg(long, value_name = "MODE", default_value = "once", value_parser = parse_record_mode)]
    record_mode: RecordMode,
    /// Let methods other than GET and HEAD through to the upstream (refused with 403
    /// otherwise); with --probe, also ask the write questions
    #[arg(long)]
    allow_writes: bool,
    /// The probe's writes create accounts only on this email domain
    #[arg(long, value_name = "DOMAIN")]
    test_domain: Option<String>,
    /// Send the probe's fixed sequence of questions instead of waiting for clients
    #[arg(long, requires = "token")]
    probe: bool,
    /// The upstream's SCIM token, for --probe (never printed nor recorded)
    #[arg(long, env = "NOTION_CONFORMANCE_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    token: Option<String>,
    /// A file holding the pseudonym key (made if missing; keep it out of the repository): the
    /// same key gives the same pseudonyms in a later session, which --record-mode new_episodes
    /// needs. Without it, a random key for this session
    #[arg(long, value_name = "FILE")]
    scrub_key: Option<PathBuf>,
    /// Keep ids as the upstream sends them instead of mapping them to pseudonym UUIDs
    #[arg(long)]
    keep_ids: bool,
    /// What is recorded, in words (default: detected; the emulation is labelled as such)
    #[arg(long, value_name = "TEXT")]
    label: Option<String>,
    /// A recorded exchange may answer again once every match has answered
    #[arg(long)]
    allow_playback_repeats: bool,
}

#[derive(Debug, clap::Args)]
struct FidelityArgs {
    /// The cassette to replay
    #[arg(long, value_name = "FILE")]
    cassette: PathBuf,
    /// Accepted departures (JSON: {"accepted": [{"path", "request"?, "reason"}]}); default:
    /// FILE.accepted.json beside the cassette, when it exists
    #[arg(long, value_name = "FILE")]
    accept: Option<PathBuf>,
    /// The emulation's switches, as JSON (the body of PUT /__admin/quirks; unnamed switches
    /// keep their defaults)
    #[arg(long, value_name = "FILE")]
    quirks: Option<PathBuf>,
    /// Do not search which Quirks switch removes each departure
    #[arg(long)]
    no_suggest: bool,
}

fn parse_record_mode(s: &str) -> Result<RecordMode, String> {
    s.parse()
}

#[derive(Debug, clap::Args)]
struct ListArgs {
    /// Only this suite (sync, provisioning, resilience, behaviour, snapshots, service); repeatable
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
    /// Only this suite (sync, provisioning, resilience, behaviour, snapshots, service); repeatable
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
        Cmd::Record(args) => record(args),
        Cmd::Fidelity(args) => fidelity(args),
        Cmd::Inspect(args) => inspect(args),
        Cmd::FakeC1(args) => fake_c1(args),
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

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn record(args: RecordArgs) -> anyhow::Result<ExitCode> {
    use notion_conformance::record::{probe, proxy, scrub::ScrubKey, RecordConfig};
    if args.probe && args.allow_writes && args.test_domain.is_none() {
        anyhow::bail!(
            "--probe --allow-writes needs --test-domain: the probe creates accounts only on a domain you name"
        );
    }
    let key = match &args.scrub_key {
        Some(path) => ScrubKey::load_or_create(path)?,
        None => ScrubKey::random()?,
    };
    let config = RecordConfig {
        upstream: args.upstream.clone(),
        cassette: args.cassette.clone(),
        mode: args.record_mode,
        allow_writes: args.allow_writes,
        key,
        map_ids: !args.keep_ids,
        label: args.label.clone(),
        allow_playback_repeats: args.allow_playback_repeats,
        secrets: args.token.iter().cloned().collect(),
    };
    runtime()?.block_on(async move {
        if args.probe {
            let options = probe::ProbeOptions {
                token: args.token.clone().unwrap_or_default(),
                allow_writes: args.allow_writes,
                test_domain: args.test_domain.clone(),
            };
            let mut stdout = std::io::stdout();
            let summary = probe::run(config, options, &mut stdout).await?;
            println!("record: {summary}");
            return Ok(ExitCode::SUCCESS);
        }
        let proxy = proxy::Proxy::start(config, &args.listen).await?;
        println!(
            "record: proxy for {} listening; point your client at {} ({})",
            args.upstream,
            proxy.base_url(),
            proxy.describe()
        );
        println!("record: Ctrl-C (or SIGTERM) stops it and writes the cassette");
        wait_for_stop().await;
        let summary = proxy.stop().await?;
        println!("record: {summary}");
        Ok(ExitCode::SUCCESS)
    })
}

/// Ctrl-C or SIGTERM.
async fn wait_for_stop() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn fidelity(args: FidelityArgs) -> anyhow::Result<ExitCode> {
    use notion_conformance::cassette::Cassette;
    use notion_conformance::fidelity::{self, accept::AcceptFile, Options};
    let cassette = Cassette::load(&args.cassette)?;
    let default_accept = {
        let mut name = args.cassette.clone().into_os_string();
        name.push(".accepted.json");
        PathBuf::from(name)
    };
    let accept_path = args
        .accept
        .clone()
        .or_else(|| default_accept.is_file().then_some(default_accept));
    let accept = match &accept_path {
        Some(p) => AcceptFile::load(p)?,
        None => AcceptFile::default(),
    };
    let quirks = match &args.quirks {
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
            serde_json::from_str(&text)
                .with_context(|| format!("{} does not hold the emulation's switches", p.display()))?
        }
        None => notion_scim_mock::Quirks::default(),
    };
    let options = Options {
        quirks,
        accept,
        suggest: !args.no_suggest,
    };
    let report = runtime()?.block_on(fidelity::run(&cassette, &options))?;
    if let Some(p) = &accept_path {
        println!("fidelity: accepted departures from {}", p.display());
    }
    print!("{}", report.render());
    Ok(if report.unaccepted() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn fake_c1(args: FakeC1Args) -> anyhow::Result<ExitCode> {
    use notion_conformance::fake_c1::{FakeC1, Options, TaskSpec};
    let runtime = runtime()?;
    match args.action {
        Some(FakeC1Action::Task { admin, task }) => {
            let spec = match task {
                TaskCmd::Sync { storage_engine, debug } => TaskSpec::SyncFull { storage_engine, debug },
                TaskCmd::Grant { entitlement, user_id } => TaskSpec::Grant {
                    entitlement,
                    principal: user_id,
                    principal_type: "user".into(),
                },
                TaskCmd::Revoke { grant_id } => TaskSpec::Revoke { grant: grant_id },
                TaskCmd::CreateAccount {
                    email,
                    first_name,
                    last_name,
                } => TaskSpec::CreateAccount {
                    email,
                    first_name,
                    last_name,
                },
                TaskCmd::Delete { user_id } => TaskSpec::DeleteResource {
                    resource_type: "user".into(),
                    resource: user_id,
                },
                TaskCmd::Hello => TaskSpec::Hello,
                TaskCmd::EventFeed => TaskSpec::EventFeed,
            };
            let body = serde_json::to_value(&spec)?;
            let answer = runtime.block_on(admin_call(&admin, "POST", "tasks", Some(body)))?;
            println!("{}", answer["id"].as_str().unwrap_or_default());
            Ok(ExitCode::SUCCESS)
        }
        Some(FakeC1Action::Calls { admin }) => {
            let answer = runtime.block_on(admin_call(&admin, "GET", "calls", None))?;
            for call in answer.as_array().into_iter().flatten() {
                println!("{call}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(FakeC1Action::Tasks { admin }) => {
            let answer = runtime.block_on(admin_call(&admin, "GET", "tasks", None))?;
            println!("{}", serde_json::to_string_pretty(&answer)?);
            Ok(ExitCode::SUCCESS)
        }
        Some(FakeC1Action::Faults { admin, json }) => {
            let body: serde_json::Value = serde_json::from_str(&json).context("the faults argument is not JSON")?;
            let answer = runtime.block_on(admin_call(&admin, "PUT", "faults", Some(body)))?;
            println!("{answer}");
            Ok(ExitCode::SUCCESS)
        }
        None => runtime.block_on(async move {
            let fake = FakeC1::start(Options {
                listen: args.listen.clone(),
                admin: Some(args.admin.clone()),
                token_lifetime: std::time::Duration::from_secs(args.token_lifetime),
            })
            .await?;
            fake.update_faults(|f| f.next_poll_ms = args.next_poll_ms);
            let ca = args
                .ca_out
                .clone()
                .unwrap_or_else(|| std::env::temp_dir().join(format!("notion-fake-c1-{}-ca.pem", fake.addr().port())));
            fake.write_ca(&ca)?;
            println!(
                "fake-c1: ConductorOne's token endpoint and BatonService on https://{}",
                fake.api_host()
            );
            if let Some(admin) = fake.admin_url() {
                println!("fake-c1: admin API on {admin}");
                println!("fake-c1: queue a task with: notion-conformance fake-c1 task --admin {admin} sync");
            }
            println!("fake-c1: CA certificate in {}", ca.display());
            println!("fake-c1: test credentials minted for this fake only; give the connector:");
            for (key, value) in fake.env(&ca) {
                println!("export {key}={value}");
            }
            println!("fake-c1: Ctrl-C (or SIGTERM) stops it; each call it receives is printed below");
            let mut shown = 0usize;
            let mut stop = Box::pin(wait_for_stop());
            loop {
                tokio::select! {
                    _ = &mut stop => break,
                    _ = tokio::time::sleep(std::time::Duration::from_millis(200)) => {}
                }
                let calls = fake.calls();
                for c in calls.iter().skip(shown) {
                    println!("{}", serde_json::to_string(c)?);
                }
                shown = calls.len();
            }
            fake.stop();
            println!("fake-c1: stopped after {shown} call(s)");
            Ok(ExitCode::SUCCESS)
        }),
    }
}

/// One request to a running fake's admin API; its JSON answer, or its error as the error.
async fn admin_call(
    admin: &str,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> anyhow::Result<serde_json::Value> {
    let url = format!("{}/{path}", admin.trim_end_matches('/'));
    let client = reqwest::Client::new();
    let request = match method {
        "POST" => client.post(&url),
        "PUT" => client.put(&url),
        _ => client.get(&url),
    };
    let request = match body {
        Some(b) => request.json(&b),
        None => request,
    };
    let response = request
        .send()
        .await
        .with_context(|| format!("cannot reach the fake's admin API at {admin}"))?;
    let status = response.status();
    let answer: serde_json::Value = response
        .json()
        .await
        .with_context(|| format!("{url} did not answer JSON"))?;
    if !status.is_success() {
        anyhow::bail!(
            "{url}: {status}: {}",
            answer["error"].as_str().unwrap_or("(no message)")
        );
    }
    Ok(answer)
}
