//! The documentation that travels with the repository stays true to the code:
//!
//! - the table of switches in `docs/notion-scim.md` is generated from the `Quirks` flag
//!   definitions (their doc comments, defaults, values and evidence markers); a stale table
//!   fails here (`UPDATE_DOCS=1` rewrites it), and a check shows that a changed marker is caught;
//! - every switch is named in that document's prose too, beside the fact it stands for;
//! - every evidence marker used is explained in the document;
//! - no README, ARCHITECTURE or docs link, and no text of the emulation, points outside the
//!   repository.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use clap::{Args, Command};
use notion_scim_mock::Quirks;

const BEGIN: &str = "<!-- BEGIN quirks table: generated from scim-mock/src/quirks.rs; \
refresh with UPDATE_DOCS=1 cargo test -p notion-scim-mock --test docs -->";
const END: &str = "<!-- END quirks table -->";
const MARKERS: [&str; 5] = ["[N]", "[O]", "[T]", "[R]", "[?]"];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// One switch as its flag definition states it.
struct Switch {
    flag: String,
    key: String,
    default: String,
    others: Vec<String>,
    evidence: Vec<&'static str>,
    help: String,
}

fn switches() -> Vec<Switch> {
    let cmd = Quirks::augment_args(Command::new("quirks"));
    cmd.get_arguments()
        .map(|arg| {
            let help = arg
                .get_long_help()
                .or(arg.get_help())
                .map(|h| h.to_string())
                .unwrap_or_default();
            let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
            let default: Vec<String> = arg
                .get_default_values()
                .iter()
                .map(|v| v.to_string_lossy().into_owned())
                .collect();
            let default = default.join(",");
            let others = arg
                .get_possible_values()
                .iter()
                .map(|p| p.get_name().to_string())
                .filter(|p| *p != default)
                .collect();
            Switch {
                flag: format!("--{}", arg.get_long().unwrap_or_default()),
                key: arg.get_id().to_string(),
                default,
                others,
                evidence: MARKERS.iter().copied().filter(|m| help.contains(m)).collect(),
                help,
            }
        })
        .collect()
}

fn table() -> String {
    let mut out = String::new();
    out.push_str(BEGIN);
    out.push('\n');
    out.push_str("| switch: flag / JSON key | default | other values | evidence | what it decides |\n");
    out.push_str("|---|---|---|---|---|\n");
    for s in switches() {
        let others = if s.others.is_empty() {
            "a status code".to_string()
        } else {
            s.others.iter().map(|o| format!("`{o}`")).collect::<Vec<_>>().join(", ")
        };
        let others = if s.key == "default_count" {
            "a page size".to_string()
        } else {
            others
        };
        out.push_str(&format!(
            "| `{}` / `{}` | `{}` | {} | {} | {} |\n",
            s.flag,
            s.key,
            s.default,
            others,
            s.evidence.join(""),
            s.help.replace('|', "\\|")
        ));
    }
    out.push_str(END);
    out
}

/// The generated section of `doc`, or why there is none.
fn section(doc: &str) -> Result<&str, String> {
    let start = doc
        .find(BEGIN)
        .ok_or("docs/notion-scim.md lacks the generated quirks table's BEGIN marker")?;
    let end = doc[start..]
        .find(END)
        .map(|e| start + e + END.len())
        .ok_or("docs/notion-scim.md lacks the quirks table's END marker")?;
    Ok(&doc[start..end])
}

/// `Ok` when `doc`'s table is `expected`; otherwise the first row that differs.
fn check_table(doc: &str, expected: &str) -> Result<(), String> {
    let found = section(doc)?;
    if found == expected {
        return Ok(());
    }
    let (f, e): (Vec<&str>, Vec<&str>) = (found.lines().collect(), expected.lines().collect());
    let first = (0..f.len().max(e.len())).find(|&i| f.get(i) != e.get(i)).unwrap_or(0);
    Err(format!(
        "the quirks table in docs/notion-scim.md is stale (refresh: UPDATE_DOCS=1 cargo test -p \
         notion-scim-mock --test docs)\n  documented: {}\n  the code:   {}",
        f.get(first).unwrap_or(&"(nothing)"),
        e.get(first).unwrap_or(&"(nothing)")
    ))
}

#[test]
fn the_quirks_table_is_generated_from_the_code() {
    let path = repo().join("docs/notion-scim.md");
    let doc = read("docs/notion-scim.md");
    let expected = table();
    if let Err(why) = check_table(&doc, &expected) {
        if std::env::var_os("UPDATE_DOCS").is_some() {
            let old = section(&doc).unwrap_or_else(|e| panic!("{e}")).to_string();
            std::fs::write(&path, doc.replace(&old, &expected)).unwrap();
            eprintln!("rewrote the quirks table of {}", path.display());
        } else {
            panic!("{why}");
        }
    }
}

#[test]
fn a_changed_marker_or_default_makes_the_table_stale() {
    let expected = table();
    let doc = format!("# t\n\n{expected}\n");
    assert!(check_table(&doc, &expected).is_ok());
    // The first switch's evidence changed in the doc only.
    let row = expected.lines().nth(3).unwrap();
    let broken = doc.replacen(row, &row.replacen("[?]", "[N]", 1), 1);
    assert_ne!(broken, doc, "the row holds [?]");
    let why = check_table(&broken, &expected).unwrap_err();
    assert!(why.contains("stale") && why.contains("--error-dialect"), "{why}");
    // A default that moved in the code but not in the doc.
    let broken = doc.replacen("`401`", "`400`", 1);
    assert!(check_table(&broken, &expected)
        .unwrap_err()
        .contains("--auth-failure-status"));
    // A table without its markers is not silently accepted.
    assert!(check_table("# nothing here", &expected).unwrap_err().contains("BEGIN"));
}

#[test]
fn every_switch_is_a_documented_unknown_named_beside_its_fact() {
    let doc = read("docs/notion-scim.md");
    let table = section(&doc).unwrap().to_string();
    let prose = doc.replace(&table, "");
    let mut missing = Vec::new();
    for s in switches() {
        assert!(
            s.evidence.contains(&"[?]"),
            "{}: every switch stands for an unknown, so its doc comment says [?]: {}",
            s.flag,
            s.help
        );
        if !prose.contains(&format!("`{}", s.flag)) {
            missing.push(s.flag);
        }
    }
    assert!(
        missing.is_empty(),
        "docs/notion-scim.md names no switch for: {missing:?} (write the fact with `--flag`)"
    );
}

#[test]
fn every_evidence_marker_is_explained() {
    let doc = read("docs/notion-scim.md");
    for m in MARKERS {
        // A legend line: `- **[N]** ...`.
        assert!(
            doc.contains(&format!("- **{m}**")),
            "docs/notion-scim.md does not explain {m}"
        );
    }
}

/// Every relative link target in a Markdown text: `[text](target)`.
fn links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("](") {
        rest = &rest[i + 2..];
        if let Some(end) = rest.find(')') {
            out.push(rest[..end].to_string());
        }
    }
    out
}

#[test]
fn no_link_or_path_points_outside_the_repository() {
    let mut docs: Vec<String> = vec!["README.md".into(), "ARCHITECTURE.md".into()];
    for entry in std::fs::read_dir(repo().join("docs")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".md") {
            docs.push(format!("docs/{name}"));
        }
    }
    for rel in &docs {
        let text = read(rel);
        assert!(!text.contains("../shared"), "{rel} points at ../shared");
        assert!(
            !text.contains("shared/notion-scim-facts"),
            "{rel} names the lab's shared folder"
        );
        let dir = repo().join(rel).parent().unwrap().to_path_buf();
        for link in links(&text) {
            if link.starts_with("http") || link.starts_with('#') || link.starts_with("mailto:") {
                continue;
            }
            let file = link.split('#').next().unwrap();
            let target = dir.join(file);
            assert!(target.exists(), "{rel}: link {link} points at nothing");
            let inside = target
                .canonicalize()
                .unwrap()
                .starts_with(repo().canonicalize().unwrap());
            assert!(inside, "{rel}: link {link} leaves the repository");
        }
    }
    // The emulation's own texts (help, errors, docs comments).
    for entry in walk(&repo().join("scim-mock/src")) {
        let text = std::fs::read_to_string(&entry).unwrap();
        assert!(
            !text.contains("shared/notion-scim-facts") && !text.contains("../shared"),
            "{} points outside the repository",
            entry.display()
        );
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}
