//! CLI parity with ConductorOne's Go `baton-notion`, against its recorded `--help`,
//! `capabilities` and `config` output.
//!
//! Every flag, environment variable and subcommand the recorded help lists must be in our
//! `--help` (with the same short form and environment twin, described in our own words), and
//! passing it must either have the same effect, checked here flag by flag, or be refused with
//! an error that names it: none is silently ignored. It must hold whether the flag comes from
//! the command line, its `BATON_*` twin or `.baton.yaml`. Every boolean takes each of Go's
//! `strconv.ParseBool` spellings. A flag the recorded help lists that this test does not know
//! fails it, so a new recording cannot slip past.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod parity_support;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};

use notion_conformance::oracle::c1z;
use notion_scim_mock::MockServer;
use parity_support::*;
use serde_json::Value;

/// One flag of a `--help`.
#[derive(Debug, Clone, Default)]
struct HelpFlag {
    short: Option<char>,
    /// The value's type word in Go's help (`string`, `int`, `strings`); empty for a boolean.
    kind: String,
    description: String,
    env: Option<String>,
}

/// The recorded help's flags, by long name.
fn go_flags(help: &str) -> BTreeMap<String, HelpFlag> {
    let mut out = BTreeMap::new();
    let mut in_flags = false;
    for line in help.lines() {
        if line.trim_end() == "Flags:" {
            in_flags = true;
            continue;
        }
        if !in_flags || line.trim().is_empty() {
            if in_flags && line.trim().is_empty() {
                in_flags = false;
            }
            continue;
        }
        let t = line.trim_start();
        let (short, rest) = match t.strip_prefix('-').and_then(|r| r.chars().next()) {
            Some(c) if c != '-' => (Some(c), t[2..].trim_start_matches(", ").to_string()),
            _ => (None, t.to_string()),
        };
        let rest = rest
            .strip_prefix("--")
            .unwrap_or_else(|| panic!("not a flag line: {line}"));
        let (head, description) = match rest.find("   ") {
            Some(i) => (&rest[..i], rest[i..].trim()),
            None => (rest, ""),
        };
        let mut words = head.split_whitespace();
        let name = words.next().unwrap().to_string();
        let kind = words.next().unwrap_or_default().to_string();
        let at = description.find("($BATON_");
        let env = at.map(|i| description[i + 2..].split(')').next().unwrap().to_string());
        let text = description[..at.unwrap_or(description.len())].trim().to_string();
        out.insert(
            name,
            HelpFlag {
                short,
                kind,
                description: text,
                env,
            },
        );
    }
    out
}

/// The recorded help's subcommands.
fn go_commands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| l.trim_end() != "Available Commands:")
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

/// Our `--help`, by long flag: the entry's whole text (flag line and description).
fn our_flags(help: &str) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in help.lines() {
        let t = line.trim_start();
        let is_flag = t.starts_with("--") || (t.starts_with('-') && t.get(2..4) == Some(", "));
        if is_flag && line.starts_with("  ") {
            let long = t.split("--").nth(1).unwrap_or_default();
            let name: String = long
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            current = Some(name.clone());
            out.insert(name, line.to_string());
        } else if let Some(name) = &current {
            if line.starts_with("  ") {
                let entry = out.get_mut(name).unwrap();
                entry.push(' ');
                entry.push_str(line.trim());
            } else {
                current = None;
            }
        }
    }
    out
}

fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

/// How a flag reaches the connector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Flag,
    Env,
    Yaml,
}

const SOURCES: [Source; 3] = [Source::Flag, Source::Env, Source::Yaml];

/// What one run saw: exit code, output, and the files it left in its working directory.
struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    dir: tempfile::TempDir,
}

impl Outcome {
    fn file(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    fn refused_naming(&self, what: &str) -> bool {
        self.code.is_some_and(|c| c != 0) && self.stderr.contains(what)
    }

    fn json_logs(&self) -> Vec<Value> {
        self.stderr
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    fn describe(&self) -> String {
        format!("exit {:?}\nstdout: {}\nstderr: {}", self.code, self.stdout, self.stderr)
    }
}

/// Runs our binary in a fresh directory with `args`, and `flag` = `value` passed by `source`
/// (`None`: a bare boolean flag, or nothing). The token travels in the environment and the
/// emulation's base URL on the command line, unless the flag under test is one of those.
fn run(mock: Option<&MockServer>, args: &[&str], flag: Option<(&str, Option<&str>)>, source: Source) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(baton_notion());
    cmd.current_dir(dir.path()).stdin(Stdio::null());
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("BATON_") {
            cmd.env_remove(key);
        }
    }
    if let Some(m) = mock {
        if flag.map(|f| f.0) != Some("scim-token") {
            cmd.env("BATON_SCIM_TOKEN", m.token());
        }
        if flag.map(|f| f.0) != Some("base-url") {
            cmd.args(["--base-url", &m.base_url()]);
        }
    }
    if flag.map(|f| f.0) != Some("log-format") {
        cmd.args(["--log-format", "json"]);
    }
    cmd.args(args);
    if let Some((name, value)) = flag {
        match source {
            // `--name=value`: how pflag takes a boolean's value, and fine for every other flag.
            Source::Flag => match value {
                Some(v) => {
                    cmd.arg(format!("--{name}={v}"));
                }
                None => {
                    cmd.arg(format!("--{name}"));
                }
            },
            Source::Env => {
                cmd.env(
                    format!("BATON_{}", name.replace('-', "_").to_uppercase()),
                    value.unwrap_or("true"),
                );
            }
            Source::Yaml => {
                let v = value.unwrap_or("true");
                std::fs::write(dir.path().join(".baton.yaml"), format!("{name}: \"{v}\"\n")).unwrap();
            }
        }
    }
    let out = tokio::task::block_in_place(|| cmd.output()).unwrap();
    let token = mock.map(|m| m.token().to_string()).unwrap_or_default();
    let clean = |b: &[u8]| {
        let s = String::from_utf8_lossy(b).into_owned();
        if token.is_empty() {
            s
        } else {
            s.replace(&token, "$TOKEN")
        }
    };
    Outcome {
        code: out.status.code(),
        stdout: clean(&out.stdout),
        stderr: clean(&out.stderr),
        dir,
    }
}

async fn small_org() -> MockServer {
    MockServer::builder().seed(8).users(9).groups(2).start().await
}

/// Checks one recorded flag's meaning, from `source`. Panics with what went wrong.
async fn check_flag(name: &str, go: &HelpFlag, source: Source) {
    let mock = small_org().await;
    let m = Some(&mock);
    let synced = |o: &Outcome, file: &str| {
        assert_eq!(o.code, Some(0), "--{name} from {source:?}: {}", o.describe());
        assert!(
            o.file(file).is_file(),
            "--{name} from {source:?}: no {file}: {}",
            o.describe()
        );
    };
    let refused = |o: &Outcome| {
        let env = go.env.clone().unwrap_or_default();
        assert!(
            o.refused_naming(&format!("--{name}")) || o.refused_naming(name),
            "--{name} from {source:?} should be refused by name: {}",
            o.describe()
        );
        if source == Source::Env {
            assert!(
                o.stderr.contains(&env),
                "the refusal should name {env}: {}",
                o.describe()
            );
        }
    };
    // A refused flag: given with a plausible value, it is refused, naming itself.
    let refuse_value = |value: &'static str| {
        let o = run(m, &[], Some((name, Some(value))), source);
        refused(&o);
        assert!(
            !o.stderr.contains("s3cr3t") || value != "s3cr3t",
            "the value was printed"
        );
    };
    match name {
        "auth-method" | "client-id" | "external-resource-c1z" | "external-resource-entitlement-id-filter" => {
            refuse_value("x")
        }
        "client-secret" => refuse_value("s3cr3t"),
        "health-check-port" => refuse_value("8081"),
        "log-path" => refuse_value("baton.log"),
        "otel-collector-endpoint" => refuse_value("http://127.0.0.1:4317"),
        "sync-resources" => refuse_value("user:x"),
        "task-concurrency" => refuse_value("3"),
        "health-check" | "keep-previous-sync-c1z" | "skip-entitlements-and-grants" | "ticketing" => {
            refused(&run(m, &[], Some((name, Some("true"))), source));
            // Off is what this connector does anyway: accepted.
            let o = run(m, &["-f", "x.c1z"], Some((name, Some("false"))), source);
            synced(&o, "x.c1z");
        }
        "file" => synced(&run(m, &[], Some((name, Some("out.c1z"))), source), "out.c1z"),
        "help" => {
            if source == Source::Flag {
                for a in ["-h", "--help"] {
                    let o = run(None, &[a], None, source);
                    assert!(
                        o.code == Some(0) && o.stdout.contains("Usage:"),
                        "{a}: {}",
                        o.describe()
                    );
                }
            }
        }
        "version" => {
            if source == Source::Flag {
                for a in ["-v", "--version"] {
                    let o = run(None, &[a], None, source);
                    assert!(
                        o.code == Some(0) && o.stdout.starts_with("baton-notion "),
                        "{a}: {}",
                        o.describe()
                    );
                }
            }
        }
        "http-timeout-seconds" => {
            // Go's bounds (its config schema: 1 to 1800).
            synced(&run(m, &[], Some((name, Some("1800"))), source), "sync.c1z");
            for bad in ["0", "1801"] {
                let o = run(m, &[], Some((name, Some(bad))), source);
                assert!(o.code != Some(0) && o.stderr.contains(name), "{bad}: {}", o.describe());
            }
        }
        "log-format" => {
            let o = run(m, &[], Some((name, Some("console"))), source);
            assert_eq!(o.code, Some(0), "{}", o.describe());
            assert!(o.json_logs().is_empty() && !o.stderr.is_empty(), "{}", o.describe());
            let o = run(m, &[], Some((name, Some("json"))), source);
            assert!(!o.json_logs().is_empty(), "{}", o.describe());
        }
        "log-level" => {
            let o = run(m, &[], Some((name, Some("error"))), source);
            assert_eq!(o.code, Some(0), "{}", o.describe());
            assert!(o.json_logs().is_empty(), "no info lines at error: {}", o.describe());
            let o = run(m, &[], Some((name, Some("debug"))), source);
            assert!(o.json_logs().iter().any(|l| l["level"] == "DEBUG"), "{}", o.describe());
        }
        "log-level-debug-expires-at" => {
            let debug = |when: &'static str| {
                let o = run(m, &["--log-level", "debug"], Some((name, Some(when))), source);
                assert_eq!(o.code, Some(0), "{}", o.describe());
                o.json_logs().iter().any(|l| l["level"] == "DEBUG")
            };
            assert!(!debug("2001-01-01T00:00:00Z"), "debug logging should have expired");
            assert!(
                debug("2999-01-01T00:00:00Z"),
                "debug logging should not have expired yet"
            );
            let o = run(m, &[], Some((name, Some("next week"))), source);
            assert!(o.code != Some(0) && o.stderr.contains(name), "{}", o.describe());
        }
        "parallel-sync" => {
            synced(&run(m, &[], Some((name, Some("true"))), source), "sync.c1z");
            refused(&run(m, &[], Some((name, Some("false"))), source));
        }
        "workers" => {
            synced(&run(m, &[], Some((name, Some("-1"))), source), "sync.c1z");
            refused(&run(m, &[], Some((name, Some("4"))), source));
        }
        "provisioning" => {
            for (value, want) in [("true", true), ("false", false)] {
                let o = run(m, &[], Some((name, Some(value))), source);
                synced(&o, "sync.c1z");
                let logged = o.json_logs().iter().find_map(|l| l.get("provisioning").cloned());
                assert_eq!(logged, Some(Value::Bool(want)), "{}", o.describe());
            }
        }
        "scim-token" => {
            let token = mock.token().to_string();
            synced(&run(m, &[], Some((name, Some(token.as_str()))), source), "sync.c1z");
            let o = run(None, &["--base-url", &mock.base_url()], None, source);
            assert!(o.code != Some(0) && o.stderr.contains("scim-token"), "{}", o.describe());
        }
        "skip-full-sync" => {
            let o = run(m, &[], Some((name, Some("true"))), source);
            assert_eq!(o.code, Some(0), "{}", o.describe());
            assert!(!o.file("sync.c1z").exists(), "no sync, no file");
            assert_eq!(mock.journal().len(), 0, "no request");
            synced(&run(m, &[], Some((name, Some("false"))), source), "sync.c1z");
        }
        "storage-engine" => {
            synced(&run(m, &[], Some((name, Some("sqlite"))), source), "sync.c1z");
            refused(&run(m, &[], Some((name, Some("pebble"))), source));
        }
        "sync-resource-types" => {
            let o = run(m, &[], Some((name, Some("user"))), source);
            synced(&o, "sync.c1z");
            let (_, data) = c1z::read_latest(&o.file("sync.c1z")).unwrap();
            assert!(!data.resources.is_empty());
            assert!(
                data.resources.values().all(|r| r.resource_type == "user"),
                "{:?}",
                data.summary()
            );
        }
        other => panic!(
            "the recorded help lists --{other}, which this test does not know: say what it means here, \
             or that ours refuses it"
        ),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_recorded_flag_is_listed_and_has_its_meaning_or_is_refused_by_name() {
    let Some(dir) = reference() else { return };
    let help = std::fs::read_to_string(dir.join("help.txt")).unwrap();
    let go = go_flags(&help);
    assert!(go.len() >= 25, "the recorded help parsed into only {} flags", go.len());
    let ours_help = run(None, &["--help"], None, Source::Flag);
    assert_eq!(ours_help.code, Some(0));
    let ours = our_flags(&ours_help.stdout);

    for (name, flag) in &go {
        let Some(entry) = ours.get(name) else {
            panic!("our --help does not list --{name}:\n{}", ours_help.stdout);
        };
        if let Some(c) = flag.short {
            assert!(
                entry.trim_start().starts_with(&format!("-{c}, --{name}")),
                "-{c} for --{name}: {entry}"
            );
        }
        if let Some(env) = &flag.env {
            assert!(
                entry.contains(&format!("[env: {env}")),
                "--{name} lacks its twin {env}: {entry}"
            );
        }
        // Our own words: the recorded description is not ours.
        if flag.description.len() > 12 {
            assert!(
                !squash(entry).contains(&squash(&flag.description)),
                "--{name} is described in the recorded words, not ours: {entry}"
            );
        }
        let sources: &[Source] = if flag.env.is_some() { &SOURCES } else { &[Source::Flag] };
        for &source in sources {
            check_flag(name, flag, source).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_boolean_takes_each_go_spelling_from_flag_environment_and_file() {
    let Some(dir) = reference() else { return };
    let help = std::fs::read_to_string(dir.join("help.txt")).unwrap();
    let booleans: Vec<String> = go_flags(&help)
        .into_iter()
        .filter(|(n, f)| f.kind.is_empty() && f.env.is_some() && n != "help" && n != "version")
        .map(|(n, _)| n)
        .collect();
    assert!(booleans.contains(&"provisioning".to_string()), "{booleans:?}");
    let spellings = [
        ("1", true),
        ("t", true),
        ("T", true),
        ("TRUE", true),
        ("true", true),
        ("True", true),
        ("0", false),
        ("f", false),
        ("F", false),
        ("FALSE", false),
        ("false", false),
        ("False", false),
    ];
    let mock = small_org().await;
    for name in &booleans {
        for (text, value) in spellings {
            for source in SOURCES {
                let what = format!("--{name}={text} from {source:?}");
                // Where a run needs no sync to show the value, --skip-full-sync keeps it quick.
                let quick: &[&str] = if name == "skip-full-sync" || name == "provisioning" {
                    &[]
                } else {
                    &["--skip-full-sync"]
                };
                let o = run(Some(&mock), quick, Some((name, Some(text))), source);
                match (name.as_str(), value) {
                    (
                        "health-check" | "keep-previous-sync-c1z" | "skip-entitlements-and-grants" | "ticketing",
                        true,
                    )
                    | ("parallel-sync", false) => {
                        assert!(
                            o.code != Some(0) && o.stderr.contains(name.as_str()),
                            "{what}: {}",
                            o.describe()
                        );
                    }
                    ("skip-full-sync", v) => {
                        assert_eq!(o.code, Some(0), "{what}: {}", o.describe());
                        assert_eq!(o.file("sync.c1z").exists(), !v, "{what}: {}", o.describe());
                    }
                    ("provisioning", v) => {
                        let logged = o.json_logs().iter().find_map(|l| l.get("provisioning").cloned());
                        assert_eq!(logged, Some(Value::Bool(v)), "{what}: {}", o.describe());
                    }
                    _ => assert_eq!(o.code, Some(0), "{what}: {}", o.describe()),
                }
            }
        }
        // A spelling Go does not take is refused, naming the flag (the file names its key).
        let quick: &[&str] = if name == "skip-full-sync" {
            &[]
        } else {
            &["--skip-full-sync"]
        };
        for source in SOURCES {
            let o = run(Some(&mock), quick, Some((name, Some("yes"))), source);
            assert!(
                o.code != Some(0) && o.stderr.contains(name.as_str()),
                "--{name}=yes from {source:?} should be refused: {}",
                o.describe()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_recorded_subcommand_is_ours_or_refused_by_name() {
    let Some(dir) = reference() else { return };
    let help = std::fs::read_to_string(dir.join("help.txt")).unwrap();
    let commands = go_commands(&help);
    assert!(commands.contains(&"capabilities".to_string()), "{commands:?}");
    let ours_help = run(None, &["--help"], None, Source::Flag).stdout;
    for name in &commands {
        assert!(
            ours_help
                .lines()
                .any(|l| l.trim_start().starts_with(&format!("{name} "))),
            "our --help does not list the subcommand {name}:\n{ours_help}"
        );
        let o = run(None, &[name], None, Source::Flag);
        match name.as_str() {
            "capabilities" | "config" => {
                assert_eq!(o.code, Some(0), "{}", o.describe());
                let _: Value = serde_json::from_str(&o.stdout).unwrap();
            }
            "help" => assert!(o.code == Some(0) && o.stdout.contains("Usage:"), "{}", o.describe()),
            "completion" | "health-check" => {
                assert!(
                    o.refused_naming(name),
                    "{name} should be refused by name: {}",
                    o.describe()
                );
            }
            other => panic!("the recorded help lists the subcommand {other}, which this test does not know"),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn capabilities_match_the_recorded_ones_but_for_group_provisioning() {
    let Some(dir) = reference() else { return };
    let go = read_json(&dir.join("capabilities.json"));
    let o = run(None, &["capabilities"], None, Source::Flag);
    let mut ours: Value = serde_json::from_str(&o.stdout).unwrap();
    // The one difference: ours grants and revokes group memberships.
    let group = ours["resourceTypeCapabilities"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|t| t["resourceType"]["id"] == "group")
        .unwrap();
    let caps = group["capabilities"].as_array_mut().unwrap();
    let before = caps.len();
    caps.retain(|c| c != "CAPABILITY_PROVISION");
    assert_eq!(caps.len(), before - 1, "ours should provision group memberships");
    assert_eq!(first_difference("capabilities", &ours, &go), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn config_has_the_recorded_shape() {
    let Some(dir) = reference() else { return };
    let go = read_json(&dir.join("config.json"));
    let o = run(None, &["config"], None, Source::Flag);
    let ours: Value = serde_json::from_str(&o.stdout).unwrap();

    // The connector's own keys and values.
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&ours), keys(&go));
    for k in ["displayName", "helpUrl", "iconUrl"] {
        assert_eq!(ours[k], go[k], "{k}");
    }
    let go_fields: BTreeMap<String, Value> = go["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["name"].as_str().unwrap().to_string(), f.clone()))
        .collect();
    // Every key a recorded field may have, and the typed part's keys.
    let allowed: Vec<String> = go_fields.values().flat_map(keys).collect();
    let shape = |f: &Value| -> Value {
        let mut s = f.clone();
        for k in ["name", "description", "displayName"] {
            s.as_object_mut().unwrap().remove(k);
        }
        s
    };
    for f in ours["fields"].as_array().unwrap() {
        let name = f["name"].as_str().unwrap();
        for k in keys(f) {
            assert!(
                allowed.contains(&k),
                "field {name}: key {k} is not in the recorded shape"
            );
        }
        let typed: Vec<String> = keys(f).into_iter().filter(|k| k.ends_with("Field")).collect();
        assert_eq!(typed.len(), 1, "field {name}: one typed part, got {typed:?}");
        if let Some(int) = f.get("intField") {
            // protojson: int64 values are strings.
            assert!(int["defaultValue"].is_string(), "{name}: {int}");
            for bound in ["gte", "lte"] {
                assert!(int["rules"][bound].is_string(), "{name}: {int}");
            }
        }
        if let Some(g) = go_fields.get(name) {
            assert_eq!(shape(f), shape(g), "field {name} differs from the recorded one");
            assert_ne!(
                f["description"], g["description"],
                "field {name}: described in the recorded words"
            );
        }
    }
    // The recorded fields ours lacks are refused by name from the file, but for the ones that
    // only switch off what this connector never does (OpenTelemetry export).
    let ours_names: Vec<&str> = ours["fields"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    let lacking: Vec<&String> = go_fields.keys().filter(|n| !ours_names.contains(&n.as_str())).collect();
    assert!(!lacking.is_empty());
    for name in lacking {
        let o = run(None, &["--skip-full-sync"], Some((name, Some("1"))), Source::Yaml);
        if name.ends_with("-disabled") {
            assert_eq!(o.code, Some(0), "{name}: {}", o.describe());
        } else {
            assert!(
                o.code != Some(0) && o.stderr.contains(name.as_str()),
                "the recorded config field {name} is neither in ours nor refused: {}",
                o.describe()
            );
        }
    }
}
