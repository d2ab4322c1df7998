//! `notion-conformance fidelity`: how faithful the emulation is to a recording.
//!
//! The emulation is seeded with the workspace the cassette shows ([`seed`]), each recorded
//! request is sent to it in order (recorded ids translated to the emulation's as they are
//! paired; the recorded credential label decides between the emulation's token, a wrong one
//! and none), and each answer is compared with the recorded one ([`compare`]). Every
//! departure is printed with its exchange and JSON path; those listed in an accepted-departures
//! file ([`accept`]) are shown with their reason and do not fail the run; for each, the
//! `Quirks` switches that remove it are found by replaying with each switch changed
//! ([`suggest`]).

pub mod accept;
pub mod compare;
pub mod seed;
pub mod suggest;

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use anyhow::Context;
use notion_scim_mock::{MockServer, Quirks};

use crate::cassette::{Cassette, Source};
use accept::AcceptFile;
use compare::{Diff, Ids, Kind};
use seed::Seen;

/// The emulation's token during a fidelity run, and one it does not know.
const TOKEN: &str = "secret_fidelity_emulation_token_0000000000000";
const WRONG_TOKEN: &str = "secret_fidelity_wrong_token_000000000000000000";

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The switches the emulation runs with (default: its best guesses).
    pub quirks: Quirks,
    pub accept: AcceptFile,
    /// Search the switches that remove each departure.
    pub suggest: bool,
}

/// One departure (all its occurrences in one exchange at one path).
#[derive(Debug, Clone)]
pub struct Finding {
    pub index: usize,
    pub request: String,
    pub path: String,
    pub kind: Kind,
    pub count: usize,
    /// The first occurrence.
    pub detail: String,
    /// The reason it is accepted, when it is.
    pub accepted: Option<String>,
    /// Switches under which it does not occur (`--error-dialect notion`), with what else
    /// they change.
    pub removed_by: Vec<String>,
}

/// One replayed exchange.
#[derive(Debug, Clone)]
struct Replayed {
    request: String,
    recorded: u16,
    emulated: u16,
    diffs: Vec<Diff>,
}

#[derive(Debug, Clone)]
pub struct Report {
    pub source: Source,
    pub exchanges: usize,
    pub seeded: String,
    pub notes: Vec<String>,
    pub findings: Vec<Finding>,
    /// (recorded status, emulated status) per exchange.
    statuses: Vec<(u16, u16)>,
}

impl Report {
    pub fn unaccepted(&self) -> usize {
        self.findings.iter().filter(|f| f.accepted.is_none()).count()
    }

    /// The report as printed: exchanges with departures, then a summary line.
    pub fn render(&self) -> String {
        let mut s = format!(
            "fidelity: a cassette of {} ({})\n  {}\n",
            self.source.kind, self.source.description, self.seeded
        );
        for n in &self.notes {
            s.push_str(&format!("  note: {n}\n"));
        }
        let mut by_exchange: BTreeMap<usize, Vec<&Finding>> = BTreeMap::new();
        for f in &self.findings {
            by_exchange.entry(f.index).or_default().push(f);
        }
        for (index, findings) in &by_exchange {
            let (rec, emu) = self.statuses[*index];
            s.push_str(&format!(
                "#{index} {}  (recorded {rec}, emulation {emu})\n",
                findings[0].request
            ));
            for f in findings {
                let times = if f.count > 1 {
                    format!(" x{}", f.count)
                } else {
                    String::new()
                };
                let mark = if f.accepted.is_some() { "accepted" } else { "DEPARTS" };
                s.push_str(&format!("  {mark} {} ({}{times}): {}\n", f.path, f.kind, f.detail));
                if let Some(reason) = &f.accepted {
                    s.push_str(&format!("      reason: {reason}\n"));
                }
                if !f.removed_by.is_empty() {
                    s.push_str(&format!("      removed by: {}\n", f.removed_by.join("; ")));
                } else if f.accepted.is_none() {
                    s.push_str("      removed by: no single Quirks switch\n");
                }
            }
        }
        let departing = by_exchange.len();
        let accepted = self.findings.len() - self.unaccepted();
        s.push_str(&format!(
            "fidelity: {} exchange(s), {departing} departing from the recording; {} departure(s): {accepted} accepted, {} not accepted\n",
            self.exchanges,
            self.findings.len(),
            self.unaccepted()
        ));
        s
    }
}

/// Which recorded credential labels were accepted by the recorded server (a 2xx on an
/// endpoint that needs a token).
fn valid_credentials(cassette: &Cassette) -> HashSet<String> {
    let mut valid = HashSet::new();
    for (i, x) in cassette.http_interactions.iter().enumerate() {
        let public = cassette
            .target(i)
            .map(|t| t.path.starts_with("/ServiceProviderConfig"))
            .unwrap_or(true);
        if (200..300).contains(&x.response.status.code) && !public {
            if let Some(c) = x.request.credential() {
                valid.insert(c.to_string());
            }
        }
    }
    valid
}

/// Sends every recorded request to a fresh emulation seeded from `seen` and compares.
async fn replay(cassette: &Cassette, seen: &Seen, quirks: &Quirks) -> anyhow::Result<Vec<Replayed>> {
    let org = seen.org(TOKEN)?;
    let server = MockServer::builder()
        .org(org)
        .quirks(quirks.clone())
        .try_start()
        .await
        .context("cannot start the emulation")?;
    let base = server.base_url();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .context("cannot build an HTTP client")?;
    let valid = valid_credentials(cassette);
    let mut ids = Ids::default();
    for id in seen.ids() {
        ids.same(&id);
    }
    let mut out = Vec::new();
    for (i, x) in cassette.http_interactions.iter().enumerate() {
        let t = cassette.target(i)?;
        let mut emulated_target = t.clone();
        emulated_target.path = ids.emulated(&t.path);
        emulated_target.query = t.query.iter().map(|(k, v)| (k.clone(), ids.emulated(v))).collect();
        let url = format!("{base}{}", emulated_target.path_and_query());
        let method = reqwest::Method::from_bytes(t.method.as_bytes()).context("bad method")?;
        let mut req = http.request(method, &url);
        match x.request.credential() {
            None => req = req.bearer_auth(TOKEN),
            Some("none") => {}
            Some(label) if valid.contains(label) => req = req.bearer_auth(TOKEN),
            Some(_) => req = req.bearer_auth(WRONG_TOKEN),
        }
        if let Some(accept) = x.request.header("accept") {
            req = req.header("accept", accept);
        }
        if !t.body.is_empty() {
            let ct = x.request.header("content-type").unwrap_or("application/scim+json");
            req = req.header("content-type", ct).body(ids.emulated(&t.body));
        }
        let answer = match req.send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let headers = resp
                    .headers()
                    .iter()
                    .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str().to_string(), v.to_string())))
                    .collect();
                let body = resp.text().await.unwrap_or_default();
                compare::Answer { status, headers, body }
            }
            Err(e) => compare::Answer {
                status: 0,
                headers: Vec::new(),
                body: format!("no answer: {e}"),
            },
        };
        let diffs = compare::exchange(&x.response, &answer, &mut ids);
        out.push(Replayed {
            request: t.describe(),
            recorded: x.response.status.code,
            emulated: answer.status,
            diffs,
        });
    }
    Ok(out)
}

/// Departures grouped by exchange, path and kind.
fn findings_of(replayed: &[Replayed], accept: &AcceptFile) -> Vec<Finding> {
    let mut out = Vec::new();
    for (index, r) in replayed.iter().enumerate() {
        let mut grouped: BTreeMap<(String, Kind), (usize, String)> = BTreeMap::new();
        let mut order = Vec::new();
        for d in &r.diffs {
            let key = (d.path.clone(), d.kind);
            let e = grouped.entry(key.clone()).or_insert_with(|| {
                order.push(key.clone());
                (0, d.detail.clone())
            });
            e.0 += 1;
        }
        for key in order {
            let (count, detail) = grouped[&key].clone();
            let accepted = accept
                .find(&r.request, &key.0)
                .map(|i| accept.accepted[i].reason.clone());
            out.push(Finding {
                index,
                request: r.request.clone(),
                path: key.0,
                kind: key.1,
                count,
                detail,
                accepted,
                removed_by: Vec::new(),
            });
        }
    }
    out
}

fn keys(replayed: &[Replayed]) -> HashSet<(usize, String, Kind)> {
    replayed
        .iter()
        .enumerate()
        .flat_map(|(i, r)| r.diffs.iter().map(move |d| (i, d.path.clone(), d.kind)))
        .collect()
}

/// Replays `cassette` against the emulation and reports where it departs.
pub async fn run(cassette: &Cassette, options: &Options) -> anyhow::Result<Report> {
    let seen = Seen::from_cassette(cassette)?;
    let replayed = replay(cassette, &seen, &options.quirks).await?;
    let mut findings = findings_of(&replayed, &options.accept);
    let mut notes = seen.notes.clone();
    if options.suggest && !findings.is_empty() {
        let base = keys(&replayed);
        for candidate in suggest::candidates(&options.quirks, cassette) {
            let other = replay(cassette, &seen, &candidate.quirks).await?;
            let other_keys = keys(&other);
            let added = other_keys.difference(&base).count();
            for f in &mut findings {
                if !other_keys.contains(&(f.index, f.path.clone(), f.kind)) {
                    let mut s = candidate.flag.clone();
                    if added > 0 {
                        s.push_str(&format!(" (but adds {added} departure(s) elsewhere)"));
                    }
                    f.removed_by.push(s);
                }
            }
        }
    }
    for (i, a) in options.accept.accepted.iter().enumerate() {
        let used = findings
            .iter()
            .any(|f| options.accept.find(&f.request, &f.path) == Some(i));
        if !used {
            notes.push(format!(
                "the accepted departure {} ({}) did not occur: stale?",
                a.path,
                a.request.as_deref().unwrap_or("any request")
            ));
        }
    }
    Ok(Report {
        source: cassette.notion_conformance.source.clone(),
        exchanges: replayed.len(),
        seeded: seen.describe(),
        notes,
        statuses: replayed.iter().map(|r| (r.recorded, r.emulated)).collect(),
        findings,
    })
}
