//! `notion-scim-mock`: the emulation as a standalone server, for connectors in any language.
//! The behaviours it emulates, with their evidence, are in `docs/notion-scim.md`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;

use clap::{Args, Parser, Subcommand};
use notion_scim_mock::{
    FaultSettings, MockServer, OrgFile, OrgTruth, PagingFault, Quirks, RandomFaults, RateLimit, SeedSpec,
};

#[derive(Debug, Parser)]
#[command(
    name = "notion-scim-mock",
    version,
    about = "An emulation of Notion Enterprise's SCIM API",
    after_help = DOCS_NOTE
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where the evidence behind every behaviour and switch is explained.
const DOCS_NOTE: &str = "What it emulates and how surely (evidence markers: [N] Notion's docs, [O] observed on \
a live workspace, [T] third-party clients and docs, [R] the SCIM RFCs, [?] unknown, a guess with a \
switch): docs/notion-scim.md in the repository. The admin API under /__admin: the README's \
section on the emulation.";

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve an org until interrupted (Ctrl-C or SIGTERM). Prints the base URL, then each
    /// workspace's token and secret, once it listens.
    #[command(after_help = DOCS_NOTE)]
    Serve(Box<ServeArgs>),
    /// Print the ground truth of a seeded org (or of --org FILE) as JSON, without serving.
    Truth(OrgArgs),
}

#[derive(Debug, Args)]
struct OrgArgs {
    /// Seed of the fake org: the same seed gives the same org.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Members of the first workspace visible through SCIM.
    #[arg(long, default_value_t = 50)]
    users: usize,
    /// Groups of the first workspace (members drawn from its users, sizes long-tailed).
    #[arg(long, default_value_t = 8)]
    groups: usize,
    /// Guests (never visible through SCIM); default a tenth of --users.
    #[arg(long)]
    guests: Option<usize>,
    /// Workspaces in the org, each with its own token (tok_1, tok_2, ...); the others are
    /// smaller than the first and share some of its people.
    #[arg(long, default_value_t = 1)]
    workspaces: usize,
    /// Serve the org in this JSON file instead of a seeded one: a hand-written org (see
    /// fixtures/orgs/small-org.json) or what `truth` and GET /__admin/truth print.
    #[arg(long, conflicts_with_all = ["seed", "users", "groups", "guests", "workspaces"])]
    org: Option<PathBuf>,
    /// The first workspace's SCIM token secret (default: secret_notion_scim_mock_token, or the
    /// secret an --org file gives it).
    #[arg(long, env = "NOTION_SCIM_MOCK_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:8765")]
    addr: String,
    #[command(flatten)]
    org: OrgArgs,
    #[command(flatten)]
    quirks: Quirks,
    #[command(flatten)]
    faults: FaultArgs,
    /// Serve HTTPS with a throwaway certificate authority made at start-up; its certificate
    /// is written to --tls-ca-file for clients to trust.
    #[arg(long)]
    tls: bool,
    /// Where --tls writes the CA certificate (PEM) clients must trust.
    #[arg(long, default_value = "notion-scim-mock-ca.pem", requires = "tls")]
    tls_ca_file: PathBuf,
    /// Log level (error, warn, info, debug, trace): info logs one line per request (method,
    /// path, query, status, fault, token id, duration; never a secret), debug adds the
    /// request and response bodies.
    #[arg(long, default_value = "info")]
    log_level: String,
    /// The request journal keeps at most this many entries (the newest).
    #[arg(long, default_value_t = notion_scim_mock::DEFAULT_JOURNAL_CAPACITY)]
    journal_max_entries: usize,
    /// The request journal keeps at most this many bytes of entries (the newest); see
    /// GET /__admin/journal/status for how many it dropped.
    #[arg(long, default_value_t = notion_scim_mock::DEFAULT_JOURNAL_MAX_BYTES)]
    journal_max_bytes: usize,
}

/// Faults for one token (the first workspace's unless --fault-token says otherwise). All can be
/// changed later with PUT /__admin/faults?token=ID.
#[derive(Debug, Args)]
struct FaultArgs {
    /// The id of the token the fault flags apply to (tok_1 is the first workspace's, tok_2 the
    /// second's, ...).
    #[arg(long, default_value = "tok_1")]
    fault_token: String,
    /// Faults for the first requests, in order: e.g. `503,reset,ok,429:2,latency:300,truncate,
    /// malformed,lost-response`.
    #[arg(long, value_delimiter = ',')]
    fault_script: Vec<notion_scim_mock::Fault>,
    /// Seeded random faults: `seed=7,probability=0.1,kinds=503|reset|truncate`.
    #[arg(long)]
    fault_random: Option<RandomArg>,
    /// A fixed-window rate limit in requests per minute (Notion's public API: 600). Off unless given.
    #[arg(long)]
    rate_limit: Option<u32>,
    /// Latency added to every request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Rotate list results by a random offset on every request.
    #[arg(long)]
    reorder: bool,
    /// Change the org under a walk, deterministically: after the token's Nth list request of
    /// users (or groups), delete, insert or move M of them at list position P (0-based) before
    /// the next list request is answered. `after=N,OP=TARGET,at=P,count=M[,to=Q][,links=K]`,
    /// OP delete|insert|move, TARGET users|groups; `to` is where `move` puts them; `links`:
    /// each inserted user joins the last K groups, each inserted group holds the first K
    /// users. Repeat the flag for several steps. E.g. `--churn after=3,delete=users,at=0,count=10`.
    #[arg(long, value_name = "STEP")]
    churn: Vec<notion_scim_mock::ChurnStep>,
    /// A list pathology: zero-items-per-page, missing-items-per-page, inflated-total-results=N,
    /// duplicate-across-pages, endless-pages.
    #[arg(long)]
    paging: Option<PagingArg>,
}

#[derive(Debug, Clone)]
struct RandomArg(RandomFaults);

impl FromStr for RandomArg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut r = RandomFaults {
            seed: 0,
            probability: 0.1,
            kinds: Vec::new(),
        };
        for part in s.split(',') {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("expected key=value, got {part:?}"))?;
            match k.trim() {
                "seed" => r.seed = v.parse().map_err(|_| format!("bad seed {v:?}"))?,
                "probability" => {
                    r.probability = v.parse().map_err(|_| format!("bad probability {v:?}"))?;
                    if !(0.0..=1.0).contains(&r.probability) {
                        return Err(format!("probability must be between 0 and 1, got {v}"));
                    }
                }
                "kinds" => r.kinds = v.split('|').map(str::parse).collect::<Result<_, _>>()?,
                other => return Err(format!("unknown key {other:?}: expected seed, probability or kinds")),
            }
        }
        if r.kinds.is_empty() {
            return Err("kinds=... is required, e.g. kinds=503|reset".into());
        }
        Ok(RandomArg(r))
    }
}

#[derive(Debug, Clone)]
struct PagingArg(PagingFault);

impl FromStr for PagingArg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(PagingArg(match s {
            "zero-items-per-page" => PagingFault::ZeroItemsPerPage,
            "missing-items-per-page" => PagingFault::MissingItemsPerPage,
            "duplicate-across-pages" => PagingFault::DuplicateAcrossPages,
            "endless-pages" => PagingFault::EndlessPages,
            other => match other.strip_prefix("inflated-total-results=") {
                Some(n) => PagingFault::InflatedTotalResults(n.parse().map_err(|_| format!("bad number {n:?}"))?),
                None => return Err(format!("unknown paging fault {other:?}")),
            },
        }))
    }
}

fn builder(args: &OrgArgs) -> anyhow::Result<notion_scim_mock::MockServerBuilder> {
    let mut b = MockServer::builder().spec(SeedSpec {
        seed: args.seed,
        users: args.users,
        groups: args.groups,
        guests: args.guests,
        workspaces: args.workspaces,
        ..SeedSpec::default()
    });
    if let Some(path) = &args.org {
        let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        let file: OrgFile = serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        b = b.org(file.build().map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?);
    }
    if let Some(token) = &args.token {
        b = b.token(token.clone());
    }
    Ok(b)
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(format!("notion_scim_mock={}", args.log_level))
        .map_err(|e| anyhow::anyhow!("bad --log-level: {e}"))?;
    // Colours only for a person at a terminal: a log file or a test reading stderr gets text.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let org = builder(&args.org)?.build_org();
    let f = args.faults;
    if !org.tokens.iter().any(|t| t.id == f.fault_token) {
        let known: Vec<&str> = org.tokens.iter().map(|t| t.id.as_str()).collect();
        anyhow::bail!(
            "--fault-token {}: no such token (the org has {})",
            f.fault_token,
            known.join(", ")
        );
    }
    let fault_token = f.fault_token.clone();
    let settings = FaultSettings {
        script: f.fault_script,
        rate_limit: f.rate_limit.map(RateLimit::per_minute),
        random: f.fault_random.map(|r| r.0),
        latency_ms: f.latency_ms,
        reorder: f.reorder,
        paging: f.paging.map(|p| p.0),
        churn: f.churn,
    };
    let listener = tokio::net::TcpListener::bind(&args.addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.addr))?;
    let addr = listener.local_addr()?;
    let tls = if args.tls {
        let host = args
            .addr
            .rsplit_once(':')
            .map_or("", |(h, _)| h)
            .trim_matches(['[', ']']);
        let identity = notion_scim_mock::TlsIdentity::generate(&[host.to_string(), addr.ip().to_string()])?;
        std::fs::write(&args.tls_ca_file, identity.ca_pem())
            .map_err(|e| anyhow::anyhow!("cannot write the CA to {}: {e}", args.tls_ca_file.display()))?;
        Some(identity)
    } else {
        None
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!("notion-scim-mock listening on {scheme}://{addr}/scim/v2");
    for line in announcement(&org, &format!("{scheme}://{addr}")) {
        eprintln!("{line}");
    }
    if tls.is_some() {
        eprintln!(
            "TLS: trust the CA in {} (e.g. curl --cacert {0})",
            args.tls_ca_file.display()
        );
    }
    let stop = stop_signal();
    eprintln!("stop with Ctrl-C (or SIGTERM: kill {})", std::process::id());
    let journal = notion_scim_mock::JournalLimits {
        max_entries: args.journal_max_entries,
        max_bytes: args.journal_max_bytes,
    };
    notion_scim_mock::serve_org(
        listener,
        org,
        args.quirks,
        vec![(fault_token, settings)],
        journal,
        tls.as_ref(),
        stop,
    )
    .await;
    eprintln!("notion-scim-mock stopped");
    Ok(())
}

/// What a user needs to connect, one line each: what is served, then every workspace with
/// its token's id and secret. Printing the secrets is the point: they are test tokens, and
/// the ones that work are not always the default (an --org file names its own).
fn announcement(org: &notion_scim_mock::Org, origin: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let members: usize = org.workspaces.iter().map(|w| w.members.len()).sum();
    let groups: usize = org.workspaces.iter().map(|w| w.groups.len()).sum();
    lines.push(format!(
        "serving {} workspace(s), {members} members and {groups} groups in all; admin API at {origin}/__admin",
        org.workspaces.len()
    ));
    for (i, w) in org.workspaces.iter().enumerate() {
        let plan = if w.enterprise {
            ""
        } else {
            " (not on the Enterprise plan: its token is refused)"
        };
        lines.push(format!(
            "workspace {} {:?}: {} members, {} groups{plan}",
            i + 1,
            w.name,
            w.members.len(),
            w.groups.len()
        ));
        let tokens: Vec<&notion_scim_mock::Token> = org.tokens.iter().filter(|t| t.workspace == i).collect();
        if tokens.is_empty() {
            lines.push("  no token: SCIM cannot reach it".into());
        }
        for t in tokens {
            let state = if t.revoked { " (revoked)" } else { "" };
            lines.push(format!("  token {}, secret {}{state}", t.id, t.secret));
        }
    }
    lines
}

/// A future that resolves on Ctrl-C or, on Unix, SIGTERM (what `kill` and container runtimes
/// send). The handlers are installed here, before the server says how to stop it, so that a
/// signal sent right after that line is never met by the default action.
fn stop_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let handlers = {
        use tokio::signal::unix::{signal, SignalKind};
        signal(SignalKind::terminate())
            .ok()
            .zip(signal(SignalKind::interrupt()).ok())
    };
    async move {
        #[cfg(unix)]
        if let Some((mut term, mut int)) = handlers {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("notion-scim-mock: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Serve(args) => runtime.block_on(serve(*args)),
        Command::Truth(args) => builder(&args).and_then(|b| {
            let truth = OrgTruth::of(&b.build_org());
            let text = serde_json::to_string_pretty(&truth)?;
            // A closed pipe (`| head`) is the reader's choice, not an error.
            match writeln!(std::io::stdout().lock(), "{text}") {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
                _ => Ok(()),
            }
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("notion-scim-mock: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    /// Every flag of every subcommand says what it does in `--help`.
    #[test]
    fn every_flag_has_help_text() {
        let cli = Cli::command();
        cli.clone().debug_assert();
        let mut bare = Vec::new();
        for sub in cli.get_subcommands() {
            for arg in sub.get_arguments() {
                let builtin = matches!(arg.get_id().as_str(), "help" | "version");
                if !builtin && arg.get_help().is_none() && arg.get_long_help().is_none() {
                    bare.push(format!("{} --{}", sub.get_name(), arg.get_id()));
                }
            }
        }
        assert!(bare.is_empty(), "flags without help: {bare:?}");
    }

    #[test]
    fn help_points_inside_the_repository() {
        let mut cli = Cli::command();
        let mut text = cli.render_long_help().to_string();
        for sub in cli.get_subcommands_mut() {
            let help = sub.render_long_help().to_string();
            if sub.get_name() == "serve" {
                assert!(help.contains("docs/notion-scim.md"), "{help}");
            }
            text.push_str(&help);
        }
        assert!(!text.contains("shared/"), "{text}");
        assert!(text.contains("docs/notion-scim.md"), "{text}");
    }

    #[test]
    fn the_announcement_names_every_workspace_token_and_secret() {
        let org = MockServer::builder().users(4).groups(1).workspaces(2).build_org();
        let lines = announcement(&org, "http://127.0.0.1:1");
        let text = lines.join("\n");
        for t in &org.tokens {
            assert!(text.contains(&format!("token {}, secret {}", t.id, t.secret)), "{text}");
        }
        assert!(text.contains("workspace 2"), "{text}");
    }
}
