//! `notion-conformance inspect`: what a c1z holds (its sync runs, resources, entitlements and
//! grants), as a table or JSON, and what changed between two sync runs or two files, so that
//! nobody needs Go's `baton` to see what a connector wrote.
//!
//! It reads files with the oracle's own decoder ([`crate::oracle::c1z`]), never with a
//! connector's c1z code: what it shows is what the judge sees. That decoder is strict (every
//! row's columns must agree with its message), so a file it cannot read is reported, with the
//! reason, rather than shown half-read.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{json, Value};

use crate::oracle::c1z::{C1z, DecodeError};
use crate::oracle::data::{Dataset, SyncRun};

/// What `inspect FILE` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    /// Counts per resource type, of one sync run.
    Summary,
    Resources,
    Entitlements,
    Grants,
    /// Every sync run of the file, with its counts.
    Syncs,
}

impl Listing {
    pub const NAMES: &'static str = "summary, resources, entitlements, grants, syncs";

    pub fn parse(s: &str) -> Option<Listing> {
        Some(match s {
            "summary" => Listing::Summary,
            "resources" => Listing::Resources,
            "entitlements" => Listing::Entitlements,
            "grants" => Listing::Grants,
            "syncs" => Listing::Syncs,
            _ => return None,
        })
    }
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
}

/// Which objects are shown (all given criteria must hold). A resource is named `<type>:<id>`
/// or by its id alone; so is a principal.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Resources of this type; entitlements and grants on resources of this type.
    pub resource_type: Option<String>,
    /// This resource; entitlements and grants on it.
    pub resource: Option<String>,
    /// Grants of this entitlement id.
    pub entitlement: Option<String>,
    /// Grants to this principal.
    pub principal: Option<String>,
}

/// Why `inspect` could not answer.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    /// Boxed: the decoder's error is large, and this one travels through every return.
    #[error(transparent)]
    Decode(Box<DecodeError>),
    #[error("{}: no finished full sync run to show; pick one with --sync (runs: {runs})", .path.display())]
    NoFullRun { path: PathBuf, runs: String },
    #[error(
        "{}: holds {found} finished full sync run(s); a diff of one file needs two (or name them with --from-sync and --to-sync)",
        .path.display()
    )]
    TooFewRuns { path: PathBuf, found: usize },
    #[error("cannot render JSON: {0}")]
    Json(#[from] serde_json::Error),
}

impl From<DecodeError> for InspectError {
    fn from(e: DecodeError) -> Self {
        InspectError::Decode(Box::new(e))
    }
}

fn key_type(key: &str) -> &str {
    key.split_once(':').map_or(key, |(t, _)| t)
}

/// `<type>:<id>` matches `want` when `want` is the whole key or the id alone.
fn names(key: &str, want: &str) -> bool {
    key == want || key.split_once(':').is_some_and(|(_, id)| id == want)
}

impl Filter {
    fn is_empty(&self) -> bool {
        self.resource_type.is_none()
            && self.resource.is_none()
            && self.entitlement.is_none()
            && self.principal.is_none()
    }

    fn on_resource(&self, key: &str) -> bool {
        self.resource_type.as_deref().is_none_or(|t| key_type(key) == t)
            && self.resource.as_deref().is_none_or(|r| names(key, r))
    }

    /// Keeps only what the filter selects. Resource types stay (there are few, and a diff of
    /// them is worth seeing), narrowed to the one named by `resource_type`.
    pub fn apply(&self, data: &Dataset) -> Dataset {
        if self.is_empty() {
            return data.clone();
        }
        let none_for_grants_only = self.entitlement.is_some() || self.principal.is_some();
        Dataset {
            resource_types: data
                .resource_types
                .iter()
                .filter(|(id, _)| self.resource_type.as_deref().is_none_or(|t| t == id.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            resources: data
                .resources
                .iter()
                .filter(|(key, _)| !none_for_grants_only && self.on_resource(key))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            entitlements: data
                .entitlements
                .iter()
                .filter(|(id, e)| {
                    self.on_resource(&e.resource)
                        && self.entitlement.as_deref().is_none_or(|want| want == id.as_str())
                        && self.principal.is_none()
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            grants: data
                .grants
                .iter()
                .filter(|(_, g)| {
                    self.on_resource(&g.entitlement_resource)
                        && self.entitlement.as_deref().is_none_or(|want| want == g.entitlement_id)
                        && self.principal.as_deref().is_none_or(|p| names(&g.principal, p))
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }
}

fn describe_runs(runs: &[SyncRun]) -> String {
    if runs.is_empty() {
        return "none".to_owned();
    }
    runs.iter()
        .map(|r| {
            format!(
                "{} ({}, {})",
                r.sync_id,
                if r.sync_type.is_empty() { "full" } else { &r.sync_type },
                if r.ended_at.is_some() { "finished" } else { "unfinished" }
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The run named by `sync`, or the one baton's readers show by default.
fn pick_run(c1z: &C1z, sync: Option<&str>) -> Result<SyncRun, InspectError> {
    if let Some(id) = sync {
        return match c1z.sync_runs().iter().find(|r| r.sync_id == id) {
            Some(run) => Ok(run.clone()),
            None => Err(DecodeError::UnknownSync {
                path: c1z.path().to_path_buf(),
                sync_id: id.to_owned(),
            }
            .into()),
        };
    }
    c1z.latest_full_run().cloned().ok_or_else(|| InspectError::NoFullRun {
        path: c1z.path().to_path_buf(),
        runs: describe_runs(c1z.sync_runs()),
    })
}

/// Finished full runs, oldest first (by end time, then id, as baton orders them).
fn full_runs(c1z: &C1z) -> Vec<SyncRun> {
    let mut runs: Vec<SyncRun> = c1z
        .sync_runs()
        .iter()
        .filter(|r| r.ended_at.is_some() && (r.sync_type == "full" || r.sync_type.is_empty()))
        .cloned()
        .collect();
    runs.sort_by(|a, b| (&a.ended_at, &a.sync_id).cmp(&(&b.ended_at, &b.sync_id)));
    runs
}

#[derive(Debug, Default, Serialize)]
struct Counts {
    resources: usize,
    entitlements: usize,
    grants: usize,
}

fn counts_by_type(data: &Dataset) -> BTreeMap<String, Counts> {
    let mut by: BTreeMap<String, Counts> = data
        .resource_types
        .keys()
        .map(|t| (t.clone(), Counts::default()))
        .collect();
    for key in data.resources.keys() {
        by.entry(key_type(key).to_owned()).or_default().resources += 1;
    }
    for e in data.entitlements.values() {
        by.entry(key_type(&e.resource).to_owned()).or_default().entitlements += 1;
    }
    for g in data.grants.values() {
        by.entry(key_type(&g.entitlement_resource).to_owned())
            .or_default()
            .grants += 1;
    }
    by
}

fn totals(data: &Dataset) -> Counts {
    Counts {
        resources: data.resources.len(),
        entitlements: data.entitlements.len(),
        grants: data.grants.len(),
    }
}

/// Columns padded to their widest cell; the last column is not padded.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    push_row(&mut out, &widths, headers);
    for row in rows {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        push_row(&mut out, &widths, &cells);
    }
    out
}

fn push_row(out: &mut String, widths: &[usize], cells: &[&str]) {
    let mut text = String::new();
    for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
        if i > 0 {
            text.push_str("  ");
        }
        text.push_str(cell);
        if i + 1 < widths.len() {
            text.push_str(&" ".repeat(w.saturating_sub(cell.chars().count())));
        }
    }
    out.push_str(text.trim_end());
    out.push('\n');
}

fn or_dash(s: &str) -> String {
    if s.is_empty() {
        "-".to_owned()
    } else {
        s.to_owned()
    }
}

/// `inspect FILE [WHAT]`: the listing as text, ready to print.
pub fn inspect(
    path: &Path,
    listing: Listing,
    sync: Option<&str>,
    filter: &Filter,
    format: Format,
) -> Result<String, InspectError> {
    let c1z = C1z::open(path)?;
    if listing == Listing::Syncs {
        return syncs(&c1z, filter, format);
    }
    let run = pick_run(&c1z, sync)?;
    let data = filter.apply(&c1z.dataset(&run.sync_id)?);
    let file = path.display().to_string();
    let text = match (listing, format) {
        (Listing::Summary, Format::Json) => serde_json::to_string_pretty(&json!({
            "file": file,
            "sync": run,
            "sync_runs": c1z.sync_runs().len(),
            "by_resource_type": counts_by_type(&data),
            "totals": totals(&data),
        }))?,
        (Listing::Summary, Format::Table) => {
            let rows: Vec<Vec<String>> = counts_by_type(&data)
                .into_iter()
                .map(|(t, c)| {
                    vec![
                        t,
                        c.resources.to_string(),
                        c.entitlements.to_string(),
                        c.grants.to_string(),
                    ]
                })
                .collect();
            let t = totals(&data);
            format!(
                "{file}: sync {} ({}, ended {}), one of {} sync run(s)\n{}{} resources, {} entitlements, {} grants",
                run.sync_id,
                or_dash(&run.sync_type),
                run.ended_at.as_deref().unwrap_or("never"),
                c1z.sync_runs().len(),
                table(&["RESOURCE TYPE", "RESOURCES", "ENTITLEMENTS", "GRANTS"], &rows),
                t.resources,
                t.entitlements,
                t.grants
            )
        }
        (Listing::Resources, Format::Json) => serde_json::to_string_pretty(
            &json!({ "file": file, "sync_id": run.sync_id, "resources": data.resources.values().collect::<Vec<_>>() }),
        )?,
        (Listing::Resources, Format::Table) => {
            let rows: Vec<Vec<String>> = data
                .resources
                .values()
                .map(|r| {
                    let status = r
                        .status
                        .clone()
                        .or_else(|| r.user.as_ref().map(|u| u.status.clone()))
                        .unwrap_or_default();
                    vec![
                        r.resource_type.clone(),
                        r.id.clone(),
                        or_dash(&r.display_name),
                        or_dash(&status),
                        or_dash(r.user.as_ref().map_or("", |u| u.login.as_str())),
                    ]
                })
                .collect();
            format!(
                "{}{} resource(s)",
                table(&["TYPE", "ID", "DISPLAY NAME", "STATUS", "LOGIN"], &rows),
                rows.len()
            )
        }
        (Listing::Entitlements, Format::Json) => serde_json::to_string_pretty(
            &json!({ "file": file, "sync_id": run.sync_id, "entitlements": data.entitlements.values().collect::<Vec<_>>() }),
        )?,
        (Listing::Entitlements, Format::Table) => {
            let rows: Vec<Vec<String>> = data
                .entitlements
                .values()
                .map(|e| {
                    vec![
                        e.id.clone(),
                        e.resource.clone(),
                        or_dash(&e.slug),
                        or_dash(&e.purpose),
                        or_dash(&e.grantable_to.join(",")),
                    ]
                })
                .collect();
            format!(
                "{}{} entitlement(s)",
                table(&["ID", "RESOURCE", "SLUG", "PURPOSE", "GRANTABLE TO"], &rows),
                rows.len()
            )
        }
        (Listing::Grants, Format::Json) => serde_json::to_string_pretty(
            &json!({ "file": file, "sync_id": run.sync_id, "grants": data.grants.values().collect::<Vec<_>>() }),
        )?,
        (Listing::Grants, Format::Table) => {
            let rows: Vec<Vec<String>> = data
                .grants
                .values()
                .map(|g| vec![g.entitlement_id.clone(), g.principal.clone()])
                .collect();
            format!("{}{} grant(s)", table(&["ENTITLEMENT", "PRINCIPAL"], &rows), rows.len())
        }
        (Listing::Syncs, _) => return syncs(&c1z, filter, format),
    };
    Ok(text)
}

fn syncs(c1z: &C1z, filter: &Filter, format: Format) -> Result<String, InspectError> {
    let mut listed = Vec::new();
    for run in c1z.sync_runs() {
        let data = filter.apply(&c1z.dataset(&run.sync_id)?);
        listed.push((run.clone(), totals(&data)));
    }
    Ok(match format {
        Format::Json => serde_json::to_string_pretty(&json!({
            "file": c1z.path().display().to_string(),
            "sync_runs": listed.iter().map(|(run, c)| json!({ "sync": run, "counts": c })).collect::<Vec<_>>(),
        }))?,
        Format::Table => {
            let rows: Vec<Vec<String>> = listed
                .iter()
                .map(|(r, c)| {
                    vec![
                        r.sync_id.clone(),
                        or_dash(&r.sync_type),
                        or_dash(r.started_at.as_deref().unwrap_or("")),
                        r.ended_at.clone().unwrap_or_else(|| "unfinished".to_owned()),
                        or_dash(&r.parent_sync_id),
                        c.resources.to_string(),
                        c.entitlements.to_string(),
                        c.grants.to_string(),
                    ]
                })
                .collect();
            format!(
                "{}{} sync run(s)",
                table(
                    &[
                        "SYNC ID",
                        "TYPE",
                        "STARTED",
                        "ENDED",
                        "PARENT",
                        "RESOURCES",
                        "ENTITLEMENTS",
                        "GRANTS"
                    ],
                    &rows
                ),
                rows.len()
            )
        }
    })
}

/// One side of a diff.
#[derive(Debug, Clone, Serialize)]
pub struct Side {
    pub file: String,
    pub sync: SyncRun,
}

/// A field whose value differs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    pub field: String,
    pub from: Value,
    pub to: Value,
}

/// An object both sides hold, with its fields that differ.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Changed {
    pub key: String,
    pub fields: Vec<FieldChange>,
}

/// The differences of one kind of object.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SectionDiff {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<Changed>,
}

impl SectionDiff {
    fn len(&self) -> usize {
        self.added.len() + self.removed.len() + self.changed.len()
    }
}

/// What changed from one sync run to another.
#[derive(Debug, Clone, Serialize)]
pub struct Diff {
    pub from: Side,
    pub to: Side,
    pub resource_types: SectionDiff,
    pub resources: SectionDiff,
    pub entitlements: SectionDiff,
    pub grants: SectionDiff,
    /// Added, removed and changed objects, all kinds together.
    pub differences: usize,
}

fn section<T: Serialize>(from: &BTreeMap<String, T>, to: &BTreeMap<String, T>) -> Result<SectionDiff, InspectError> {
    let mut diff = SectionDiff::default();
    for (key, old) in from {
        let Some(new) = to.get(key) else {
            diff.removed.push(key.clone());
            continue;
        };
        let (old, new) = (serde_json::to_value(old)?, serde_json::to_value(new)?);
        if old == new {
            continue;
        }
        let empty = serde_json::Map::new();
        let (a, b) = (old.as_object().unwrap_or(&empty), new.as_object().unwrap_or(&empty));
        let mut fields: Vec<String> = a.keys().chain(b.keys()).cloned().collect();
        fields.sort();
        fields.dedup();
        let fields = fields
            .into_iter()
            .filter_map(|f| {
                let (x, y) = (
                    a.get(&f).cloned().unwrap_or(Value::Null),
                    b.get(&f).cloned().unwrap_or(Value::Null),
                );
                (x != y).then_some(FieldChange {
                    field: f,
                    from: x,
                    to: y,
                })
            })
            .collect();
        diff.changed.push(Changed {
            key: key.clone(),
            fields,
        });
    }
    diff.added = to.keys().filter(|k| !from.contains_key(*k)).cloned().collect();
    Ok(diff)
}

/// The two sync runs to compare: in one file (`to_path` `None`), its two newest finished full
/// runs unless named; in two files, each one's newest unless named.
pub fn diff(
    from_path: &Path,
    to_path: Option<&Path>,
    from_sync: Option<&str>,
    to_sync: Option<&str>,
    filter: &Filter,
) -> Result<Diff, InspectError> {
    let a = C1z::open(from_path)?;
    let b = match to_path {
        Some(p) => Some(C1z::open(p)?),
        None => None,
    };
    let (from_run, to_run) = match &b {
        Some(b) => (pick_run(&a, from_sync)?, pick_run(b, to_sync)?),
        None => {
            let runs = full_runs(&a);
            let newest = |skip: usize| runs.iter().rev().nth(skip).cloned();
            let to = match to_sync {
                Some(id) => pick_run(&a, Some(id))?,
                None => newest(0).ok_or_else(|| InspectError::TooFewRuns {
                    path: from_path.to_path_buf(),
                    found: runs.len(),
                })?,
            };
            let from = match from_sync {
                Some(id) => pick_run(&a, Some(id))?,
                None => runs
                    .iter()
                    .rev()
                    .find(|r| r.sync_id != to.sync_id)
                    .cloned()
                    .ok_or_else(|| InspectError::TooFewRuns {
                        path: from_path.to_path_buf(),
                        found: runs.len(),
                    })?,
            };
            (from, to)
        }
    };
    let old = filter.apply(&a.dataset(&from_run.sync_id)?);
    let new = filter.apply(&b.as_ref().unwrap_or(&a).dataset(&to_run.sync_id)?);
    let resource_types = section(&old.resource_types, &new.resource_types)?;
    let resources = section(&old.resources, &new.resources)?;
    let entitlements = section(&old.entitlements, &new.entitlements)?;
    let grants = section(&old.grants, &new.grants)?;
    let differences = resource_types.len() + resources.len() + entitlements.len() + grants.len();
    Ok(Diff {
        from: Side {
            file: from_path.display().to_string(),
            sync: from_run,
        },
        to: Side {
            file: to_path.unwrap_or(from_path).display().to_string(),
            sync: to_run,
        },
        resource_types,
        resources,
        entitlements,
        grants,
        differences,
    })
}

/// A value on one line, cut at 60 characters.
fn short(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() > 60 {
        format!("{}...", text.chars().take(57).collect::<String>())
    } else {
        text
    }
}

impl Diff {
    /// The diff for people: a `+`, `-` or `~` line per object, the changed fields after a `~`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (label, side) in [("from", &self.from), ("to", &self.to)] {
            let _ = writeln!(
                out,
                "{label:<4} {} sync {} ({}, ended {})",
                side.file,
                side.sync.sync_id,
                or_dash(&side.sync.sync_type),
                side.sync.ended_at.as_deref().unwrap_or("never")
            );
        }
        for (name, s) in [
            ("resource types", &self.resource_types),
            ("resources", &self.resources),
            ("entitlements", &self.entitlements),
            ("grants", &self.grants),
        ] {
            let _ = writeln!(
                out,
                "{name}: {} added, {} removed, {} changed",
                s.added.len(),
                s.removed.len(),
                s.changed.len()
            );
            for k in &s.added {
                let _ = writeln!(out, "  + {k}");
            }
            for k in &s.removed {
                let _ = writeln!(out, "  - {k}");
            }
            for c in &s.changed {
                let _ = writeln!(out, "  ~ {}", c.key);
                for f in &c.fields {
                    let _ = writeln!(out, "      {}: {} -> {}", f.field, short(&f.from), short(&f.to));
                }
            }
        }
        let _ = write!(out, "{} difference(s)", self.differences);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oracle::data::{GrantRow, ResourceRow};

    fn data() -> Dataset {
        let mut d = Dataset::default();
        for (t, id, name) in [("user", "u1", "Ada"), ("user", "u2", "Bo"), ("group", "g1", "Eng")] {
            d.resources.insert(
                format!("{t}:{id}"),
                ResourceRow {
                    resource_type: t.to_owned(),
                    id: id.to_owned(),
                    display_name: name.to_owned(),
                    ..ResourceRow::default()
                },
            );
        }
        d.grants.insert(
            "group:g1:member:user:u1".to_owned(),
            GrantRow {
                id: "group:g1:member:user:u1".to_owned(),
                entitlement_id: "group:g1:member".to_owned(),
                entitlement_resource: "group:g1".to_owned(),
                principal: "user:u1".to_owned(),
                annotations: vec![],
            },
        );
        d
    }

    #[test]
    fn filters_select_by_type_resource_and_principal() {
        let d = data();
        let users = Filter {
            resource_type: Some("user".into()),
            ..Filter::default()
        }
        .apply(&d);
        assert_eq!(users.resources.len(), 2);
        assert!(users.grants.is_empty(), "the grant is on a group");
        let by_id = Filter {
            resource: Some("g1".into()),
            ..Filter::default()
        }
        .apply(&d);
        assert_eq!(by_id.resources.keys().collect::<Vec<_>>(), ["group:g1"]);
        assert_eq!(by_id.grants.len(), 1);
        let to_u2 = Filter {
            principal: Some("user:u2".into()),
            ..Filter::default()
        }
        .apply(&d);
        assert!(to_u2.grants.is_empty() && to_u2.resources.is_empty());
    }

    #[test]
    fn sections_name_added_removed_and_changed_fields() {
        let old = data();
        let mut new = data();
        new.resources.remove("user:u2");
        if let Some(r) = new.resources.get_mut("user:u1") {
            r.display_name = "Ada L".into();
        }
        new.resources.insert("user:u3".into(), ResourceRow::default());
        let s = section(&old.resources, &new.resources).ok().unwrap_or_default();
        assert_eq!(s.added, ["user:u3"]);
        assert_eq!(s.removed, ["user:u2"]);
        assert_eq!(s.changed.len(), 1);
        assert_eq!(s.changed[0].fields.len(), 1);
        assert_eq!(s.changed[0].fields[0].field, "display_name");
        assert_eq!(section(&old.grants, &new.grants).ok().map(|s| s.len()), Some(0));
    }

    #[test]
    fn tables_pad_all_but_the_last_column() {
        let t = table(&["A", "BB"], &[vec!["xxx".into(), "y".into()]]);
        assert_eq!(t, "A    BB\nxxx  y\n");
    }
}
