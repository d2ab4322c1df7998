//! Which `Quirks` switch would remove a departure: found by trying them, not guessed. Every
//! switch of the emulation is read from its own flag definitions (`notion-scim-mock serve`'s
//! `--error-dialect`, `--auth-failure-status`, ...), each other value it can take is tried
//! (enumerations and booleans in full; statuses from those the recording answered with; the
//! default page size from the page sizes it shows), the whole cassette is replayed with that
//! one switch changed, and a departure is said to be removed by every switch under which it
//! no longer occurs. These are the switches the behaviour suite names from the outside.

use std::collections::BTreeSet;

use clap::Args;
use notion_scim_mock::Quirks;
use serde_json::Value;

use crate::cassette::Cassette;

/// One switch set to one value.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// `--error-dialect notion`
    pub flag: String,
    pub quirks: Quirks,
}

/// Every single-switch change of `base` worth trying on this cassette.
pub fn candidates(base: &Quirks, cassette: &Cassette) -> Vec<Candidate> {
    let mut statuses: BTreeSet<u64> = BTreeSet::new();
    let mut page_sizes: BTreeSet<u64> = BTreeSet::new();
    for (i, x) in cassette.http_interactions.iter().enumerate() {
        let code = u64::from(x.response.status.code);
        if code >= 400 {
            statuses.insert(code);
        }
        let no_count = cassette
            .target(i)
            .map(|t| !t.query.iter().any(|(k, _)| k.eq_ignore_ascii_case("count")))
            .unwrap_or(false);
        if no_count {
            if let Some(n) = x
                .response
                .body
                .json()
                .and_then(|b| b.get("itemsPerPage").and_then(Value::as_u64))
            {
                page_sizes.insert(n);
            }
        }
    }
    let Ok(Value::Object(base_json)) = serde_json::to_value(base) else {
        return Vec::new();
    };
    let cmd = Quirks::augment_args(clap::Command::new("quirks"));
    let mut out = Vec::new();
    for arg in cmd.get_arguments() {
        let id = arg.get_id().as_str().to_string();
        let Some(current) = base_json.get(&id) else {
            continue;
        };
        let flag = arg.get_long().unwrap_or(&id).to_string();
        let mut values: Vec<(String, Value)> = arg
            .get_possible_values()
            .iter()
            .map(|p| {
                let name = p.get_name().to_string();
                let json = match name.as_str() {
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    _ => Value::String(name.replace('-', "_")),
                };
                (name, json)
            })
            .collect();
        if values.is_empty() && current.is_u64() {
            let pool: Vec<u64> = if id.ends_with("_status") {
                let mut s: Vec<u64> = statuses.iter().copied().collect();
                if id == "unverified_domain_status" {
                    s.push(0);
                }
                s
            } else if id == "default_count" {
                page_sizes.iter().copied().collect()
            } else {
                Vec::new()
            };
            values = pool.into_iter().map(|n| (n.to_string(), Value::from(n))).collect();
        }
        for (name, json) in values {
            if &json == current {
                continue;
            }
            let mut changed = base_json.clone();
            changed.insert(id.clone(), json);
            if let Ok(quirks) = serde_json::from_value::<Quirks>(Value::Object(changed)) {
                if quirks != *base {
                    out.push(Candidate {
                        flag: format!("--{flag} {name}"),
                        quirks,
                    });
                }
            }
        }
    }
    out
}
