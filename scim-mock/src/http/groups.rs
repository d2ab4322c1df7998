//! `/Groups`: list, get, POST, PUT, PATCH, DELETE. Groups hold workspace members only (never
//! guests, never groups); lists filter on `displayName eq`, quoted or not.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use axum::Extension;
use indexmap::IndexSet;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::list::{eq_filter, page, render, ListQuery};
use super::{json_response, parse_json, AppState, Caller};
use crate::error::ScimError;
use crate::faults::ListShaping;
use crate::model::{Group, Org, Workspace};
use crate::patch::{self, get_ci, AttrDef, Schema};
use crate::quirks::{NestedGroups, Quirks};
use crate::resource::{GroupView, GROUP_SCHEMA};

static GROUP_SCHEMA_DEF: Schema = Schema {
    core_urn: GROUP_SCHEMA,
    core: &[
        AttrDef::simple("displayName"),
        AttrDef::multi("members", &["value", "display", "type", "$ref"]),
        AttrDef::simple("externalId"),
    ],
    extensions: &[],
};

fn name_query(filter: Option<&str>, quirks: &Quirks) -> Result<Option<String>, ScimError> {
    let found = eq_filter(
        filter,
        quirks,
        GROUP_SCHEMA,
        &["displayName"],
        "groups with `displayName eq` only",
    )?;
    Ok(found.map(|(_, name)| name))
}

pub(crate) async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(shaping): Extension<ListShaping>,
    uri: Uri,
) -> Result<Response, ScimError> {
    let q = ListQuery::parse(uri.query())?;
    let body = {
        let quirks = state.quirks.read().clone();
        let name = name_query(q.filter.as_deref(), &quirks)?;
        let with_members = quirks.list_groups_with_members && !q.excludes("members");
        let org = state.org.read();
        let ws = &org.workspaces[caller.workspace];
        let selected: Option<Vec<usize>> = name.map(|n| {
            ws.groups
                .values()
                .enumerate()
                .filter(|(_, g)| g.display_name.eq_ignore_ascii_case(&n))
                .map(|(i, _)| i)
                .collect()
        });
        let total = selected.as_ref().map_or(ws.groups.len(), Vec::len);
        let p = page(&q, total, &quirks, shaping)?;
        let with_meta = quirks.group_meta;
        render(&p, selected.as_deref(), |index| {
            let (id, group) = ws.groups.get_index(index)?;
            Some(GroupView {
                id: *id,
                group,
                with_members,
                with_meta,
            })
        })?
    };
    Ok(json_response(&state, StatusCode::OK, body))
}

fn parse_id(id: &str) -> Result<Uuid, ScimError> {
    Uuid::parse_str(id).map_err(|_| ScimError::NotFound(format!("no group {id}")))
}

fn group_response(
    state: &AppState,
    status: StatusCode,
    org: &Org,
    caller: &Caller,
    id: Uuid,
    uri: Option<&Uri>,
) -> Result<Response, ScimError> {
    let group = org.workspaces[caller.workspace]
        .groups
        .get(&id)
        .ok_or_else(|| ScimError::NotFound(format!("no group {id}")))?;
    let excluded = match uri {
        Some(u) => ListQuery::parse(u.query())?.excludes("members"),
        None => false,
    };
    let with_meta = state.quirks.read().group_meta;
    let view = GroupView {
        id,
        group,
        with_members: !excluded,
        with_meta,
    };
    let body = serde_json::to_vec(&view).map_err(|e| ScimError::InvalidValue(e.to_string()))?;
    Ok(json_response(state, status, body))
}

pub(crate) async fn get_one(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    uri: Uri,
) -> Result<Response, ScimError> {
    let id = parse_id(&id)?;
    let org = state.org.read();
    group_response(&state, StatusCode::OK, &org, &caller, id, Some(&uri))
}

/// Reads and validates a group document: a display name and members who are members of the
/// workspace.
fn read_doc(doc: &Map<String, Value>, ws: &Workspace, quirks: &Quirks) -> Result<(String, IndexSet<Uuid>), ScimError> {
    let name = match get_ci(doc, "displayName") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(Value::String(_)) | None | Some(Value::Null) => {
            return Err(ScimError::InvalidValue("displayName is required".into()))
        }
        Some(_) => return Err(ScimError::InvalidValue("displayName must be a string".into())),
    };
    let mut members = IndexSet::new();
    match get_ci(doc, "members") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for item in items {
                let value = item
                    .get("value")
                    .and_then(Value::as_str)
                    .ok_or_else(|| ScimError::InvalidValue("each member needs a string value".into()))?;
                let id = Uuid::parse_str(value)
                    .map_err(|_| ScimError::InvalidValue(format!("{value:?} is not a user id")))?;
                if ws.members.contains_key(&id) {
                    members.insert(id);
                } else if ws.groups.contains_key(&id) {
                    if quirks.nested_groups == NestedGroups::Reject {
                        return Err(ScimError::InvalidValue(format!(
                            "{id} is a group: groups cannot hold groups"
                        )));
                    }
                } else {
                    return Err(ScimError::InvalidValue(format!(
                        "{id} is not a member of this workspace: only members can join groups"
                    )));
                }
            }
        }
        Some(_) => return Err(ScimError::InvalidValue("members must be an array".into())),
    }
    Ok((name, members))
}

fn group_doc(group: &Group) -> Map<String, Value> {
    let mut doc = Map::new();
    doc.insert("displayName".into(), Value::String(group.display_name.clone()));
    let members = group
        .members
        .iter()
        .map(|id| serde_json::json!({ "value": id.to_string() }))
        .collect();
    doc.insert("members".into(), Value::Array(members));
    doc
}

pub(crate) async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, ScimError> {
    let Value::Object(doc) = parse_json(&body)? else {
        return Err(ScimError::InvalidSyntax("a group is a JSON object".into()));
    };
    let quirks = state.quirks.read().clone();
    let mut org = state.org.write();
    let (display_name, members) = read_doc(&doc, &org.workspaces[caller.workspace], &quirks)?;
    let now = org.tick();
    let id = Uuid::new_v4();
    org.workspaces[caller.workspace].groups.insert(
        id,
        Group {
            display_name,
            members,
            sole_full_access_pages: 0,
            created_ms: now,
            modified_ms: now,
        },
    );
    super::created(&state, "Groups", id, |status| {
        group_response(&state, status, &org, &caller, id, None)
    })
}

/// Applies a change to a group's document, validates it, and commits it whole.
fn write_group(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    change: impl FnOnce(Map<String, Value>) -> Result<Map<String, Value>, ScimError>,
) -> Result<Response, ScimError> {
    let quirks = state.quirks.read().clone();
    let mut org = state.org.write();
    let ws = &org.workspaces[caller.workspace];
    let group = ws
        .groups
        .get(&id)
        .ok_or_else(|| ScimError::NotFound(format!("no group {id}")))?;
    let after = change(group_doc(group))?;
    let (display_name, members) = read_doc(&after, ws, &quirks)?;
    let now = org.tick();
    if let Some(g) = org.workspaces[caller.workspace].groups.get_mut(&id) {
        g.display_name = display_name;
        g.members = members;
        g.modified_ms = now;
    }
    group_response(state, StatusCode::OK, &org, caller, id, None)
}

pub(crate) async fn replace(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ScimError> {
    let id = parse_id(&id)?;
    let Value::Object(doc) = parse_json(&body)? else {
        return Err(ScimError::InvalidSyntax("a group is a JSON object".into()));
    };
    write_group(&state, &caller, id, |_| Ok(doc))
}

pub(crate) async fn patch(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ScimError> {
    let id = parse_id(&id)?;
    let ops = patch::parse_request(&parse_json(&body)?)?;
    write_group(&state, &caller, id, |mut doc| {
        patch::apply(&mut doc, &ops, &GROUP_SCHEMA_DEF)?;
        Ok(doc)
    })
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<StatusCode, ScimError> {
    let id = parse_id(&id)?;
    let refused_status = state.quirks.read().group_delete_refused_status;
    let mut org = state.org.write();
    let ws = &mut org.workspaces[caller.workspace];
    let group = ws
        .groups
        .get(&id)
        .ok_or_else(|| ScimError::NotFound(format!("no group {id}")))?;
    if group.sole_full_access_pages > 0 {
        return Err(ScimError::Conflict {
            status: refused_status,
            detail: format!(
                "deleting {:?} would leave {} page(s) with nobody holding full access",
                group.display_name, group.sole_full_access_pages
            ),
        });
    }
    ws.groups.shift_remove(&id);
    Ok(StatusCode::NO_CONTENT)
}
