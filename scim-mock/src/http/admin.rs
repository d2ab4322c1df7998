//! The admin API under `/__admin`, outside `/scim/v2`, for tests written in any language:
//!
//! | method and path | what it does |
//! |---|---|
//! | `GET /__admin/truth` | the org's ground truth (every workspace, members, groups, tokens without secrets) |
//! | `POST /__admin/reset[?keep=org,journal,faults,quirks]` | back to the start: the org as first served, journal and faults cleared, the start-up quirks; `keep` names parts left as they are |
//! | `POST /__admin/reseed[?keep=...]` | a new seeded org from a `SeedSpec` body, then a reset of the rest; the first token keeps its secret |
//! | `GET`/`PUT /__admin/faults?token=tok_1` | one token's fault settings (default: the first token) |
//! | `GET`/`DELETE /__admin/journal` | the request journal, filtered by `token`, `method`, `path` (`*` ends a prefix), `status` (`404`, `4xx`), `since` (a `seq`) (header `x-journal-dropped`: entries dropped to stay within its limits) |
//! | `GET /__admin/journal/stream` | the same entries as server-sent events, then each new one as it is recorded |
//! | `GET /__admin/journal/status` | entries and bytes kept, entries dropped, the limits |
//! | `PUT /__admin/journal/limits` | `{"max_entries": N, "max_bytes": N}`: the newest are kept |
//! | `GET`/`PUT /__admin/quirks` | the quirk switches (a `PUT` body may name only some) |
//! | `POST /__admin/tokens/{id}/revoke` | revokes a token |

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;

use super::{json_response, parse_json, AppState};
use crate::error::ScimError;
use crate::faults::FaultSettings;
use crate::journal::JournalFilter;
use crate::quirks::Quirks;
use crate::seed::{self, SeedSpec};
use crate::server::ResetKeep;
use crate::truth::OrgTruth;

mod stream;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/__admin/truth", get(truth))
        .route("/__admin/reset", post(reset))
        .route("/__admin/reseed", post(reseed))
        .route("/__admin/faults", get(get_faults).put(put_faults))
        .route("/__admin/journal", get(journal).delete(clear_journal))
        .route("/__admin/journal/status", get(journal_status))
        .route("/__admin/journal/stream", get(stream::journal_stream))
        .route("/__admin/journal/limits", axum::routing::put(put_journal_limits))
        .route("/__admin/quirks", get(get_quirks).put(put_quirks))
        .route("/__admin/tokens/{id}/revoke", post(revoke))
}

fn respond<T: serde::Serialize>(state: &AppState, value: &T) -> Result<Response, ScimError> {
    let body = serde_json::to_vec(value).map_err(|e| ScimError::InvalidValue(e.to_string()))?;
    Ok(json_response(state, StatusCode::OK, body))
}

fn from_body<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, ScimError> {
    serde_json::from_value(parse_json(body)?).map_err(|e| ScimError::InvalidValue(e.to_string()))
}

async fn truth(State(state): State<AppState>) -> Result<Response, ScimError> {
    let truth = OrgTruth::of(&state.org.read());
    respond(&state, &truth)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct KeepQuery {
    keep: String,
}

/// `?keep=quirks,faults`: what a reset leaves as it is.
fn keep(query: Option<&str>) -> Result<ResetKeep, ScimError> {
    let q: KeepQuery = serde_urlencoded::from_str(query.unwrap_or_default())
        .map_err(|e| ScimError::InvalidValue(format!("{e} (expected keep=org,journal,faults,quirks)")))?;
    q.keep.parse().map_err(ScimError::InvalidValue)
}

async fn reset(State(state): State<AppState>, uri: axum::http::Uri) -> Result<StatusCode, ScimError> {
    state.reset(keep(uri.query())?);
    Ok(StatusCode::NO_CONTENT)
}

async fn reseed(State(state): State<AppState>, uri: axum::http::Uri, body: Bytes) -> Result<Response, ScimError> {
    let mut keep = keep(uri.query())?;
    let spec: SeedSpec = if body.is_empty() {
        SeedSpec::default()
    } else {
        from_body(&body)?
    };
    let secret = state.org.read().tokens.first().map(|t| t.secret.clone());
    let org = seed::generate(&spec, secret.as_deref());
    *state.initial.lock() = org.clone();
    *state.org.write() = org;
    // The new org is the one to keep; the rest is reset unless asked otherwise.
    keep.org = true;
    state.reset(keep);
    let truth = OrgTruth::of(&state.org.read());
    respond(&state, &truth)
}

#[derive(Debug, Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

fn token_id(state: &AppState, q: &TokenQuery) -> Result<String, ScimError> {
    let org = state.org.read();
    match &q.token {
        Some(id) if org.tokens.iter().any(|t| &t.id == id) => Ok(id.clone()),
        Some(id) => Err(ScimError::NotFound(format!("no token {id}"))),
        None => org
            .tokens
            .first()
            .map(|t| t.id.clone())
            .ok_or_else(|| ScimError::NotFound("the org has no token".into())),
    }
}

async fn get_faults(State(state): State<AppState>, Query(q): Query<TokenQuery>) -> Result<Response, ScimError> {
    let id = token_id(&state, &q)?;
    respond(&state, &state.faults.get(&id))
}

async fn put_faults(
    State(state): State<AppState>,
    Query(q): Query<TokenQuery>,
    body: Bytes,
) -> Result<Response, ScimError> {
    let id = token_id(&state, &q)?;
    let settings: FaultSettings = from_body(&body)?;
    state.faults.set(&id, settings);
    respond(&state, &state.faults.get(&id))
}

/// The journal filter of a query string; a bad one is `invalidValue`, naming no token value.
pub(super) fn journal_filter(query: Option<&str>) -> Result<JournalFilter, ScimError> {
    let filter: JournalFilter = serde_urlencoded::from_str(query.unwrap_or_default()).map_err(|e| {
        ScimError::InvalidValue(format!(
            "journal filter: {e} (expected token, method, path, status, since)"
        ))
    })?;
    filter.validate().map_err(ScimError::InvalidValue)?;
    Ok(filter)
}

async fn journal(State(state): State<AppState>, uri: axum::http::Uri) -> Result<Response, ScimError> {
    let filter = journal_filter(uri.query())?;
    let mut response = respond(&state, &state.journal.filtered(&filter))?;
    let dropped = state.journal.status().dropped;
    response
        .headers_mut()
        .insert("x-journal-dropped", axum::http::HeaderValue::from(dropped));
    Ok(response)
}

async fn journal_status(State(state): State<AppState>) -> Result<Response, ScimError> {
    respond(&state, &state.journal.status())
}

async fn put_journal_limits(State(state): State<AppState>, body: Bytes) -> Result<Response, ScimError> {
    let limits: crate::journal::JournalLimits = from_body(&body)?;
    state.journal.set_limits(limits);
    respond(&state, &state.journal.status())
}

async fn clear_journal(State(state): State<AppState>) -> StatusCode {
    state.journal.clear();
    StatusCode::NO_CONTENT
}

async fn get_quirks(State(state): State<AppState>) -> Result<Response, ScimError> {
    let quirks = state.quirks.read().clone();
    respond(&state, &quirks)
}

async fn put_quirks(State(state): State<AppState>, body: Bytes) -> Result<Response, ScimError> {
    // Unnamed switches keep their current values.
    let mut current =
        serde_json::to_value(state.quirks.read().clone()).map_err(|e| ScimError::InvalidValue(e.to_string()))?;
    let serde_json::Value::Object(changes) = parse_json(&body)? else {
        return Err(ScimError::InvalidSyntax("quirks are a JSON object".into()));
    };
    if let serde_json::Value::Object(cur) = &mut current {
        cur.extend(changes);
    }
    let quirks: Quirks = serde_json::from_value(current).map_err(|e| ScimError::InvalidValue(e.to_string()))?;
    *state.quirks.write() = quirks.clone();
    respond(&state, &quirks)
}

async fn revoke(State(state): State<AppState>, Path(id): Path<String>) -> Result<StatusCode, ScimError> {
    let mut org = state.org.write();
    let token = org
        .tokens
        .iter_mut()
        .find(|t| t.id == id)
        .ok_or_else(|| ScimError::NotFound(format!("no token {id}")))?;
    token.revoked = true;
    Ok(StatusCode::NO_CONTENT)
}
