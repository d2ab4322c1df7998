//! The admin API: plain HTTP/1.1 JSON on a second loopback listener, for driving a standalone
//! fake from a shell or another language (`notion-conformance fake-c1 task ...` uses it).
//!
//! - `POST /tasks` with a [`TaskSpec`] body: queues it, answers `{"id": ...}`
//! - `GET /tasks`: every task with its state and FinishTask
//! - `GET /calls`: every call received, in order
//! - `GET /uploads`: the kept uploads (sizes, kinds); `GET /uploads/{n}`: the n-th one's bytes
//! - `GET /faults`, `PUT /faults` (a [`Faults`] body; unnamed fields take their defaults)
//! - `POST /tasks/{id}/cancel`: later heartbeats for that task answer `cancelled`
//!
//! It holds no secret: the client secret is printed once at start and never served here.

use std::sync::Arc;

use axum::extract::{Path, State as AxState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use super::state::{Faults, State};
use super::tasks::TaskSpec;

pub fn router(state: Arc<State>) -> Router {
    Router::new()
        .route("/tasks", post(queue).get(tasks))
        .route("/tasks/{id}/cancel", post(cancel))
        .route("/calls", get(calls))
        .route("/uploads", get(uploads))
        .route("/uploads/{n}", get(upload))
        .route("/faults", get(faults).put(set_faults))
        .with_state(state)
}

fn error(status: StatusCode, message: String) -> Response {
    (status, Json(json!({"error": message}))).into_response()
}

async fn queue(AxState(state): AxState<Arc<State>>, body: axum::body::Bytes) -> Response {
    let spec: TaskSpec = match serde_json::from_slice(&body) {
        Ok(spec) => spec,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("not a task: {e}")),
    };
    match state.queue(spec) {
        Ok(id) => (StatusCode::CREATED, Json(json!({"id": id}))).into_response(),
        Err(e) => error(StatusCode::BAD_REQUEST, format!("{e:#}")),
    }
}

async fn tasks(AxState(state): AxState<Arc<State>>) -> Response {
    let list: Vec<_> = state.inner.lock().tasks.values().cloned().collect();
    Json(list).into_response()
}

async fn cancel(AxState(state): AxState<Arc<State>>, Path(id): Path<String>) -> Response {
    let mut inner = state.inner.lock();
    if !inner.tasks.contains_key(&id) {
        return error(StatusCode::NOT_FOUND, format!("no task {id}"));
    }
    inner.cancelled.insert(id);
    StatusCode::NO_CONTENT.into_response()
}

async fn calls(AxState(state): AxState<Arc<State>>) -> Response {
    Json(state.inner.lock().calls.clone()).into_response()
}

async fn uploads(AxState(state): AxState<Arc<State>>) -> Response {
    let list: Vec<_> = state
        .inner
        .lock()
        .uploads
        .iter()
        .map(|u| json!({"task_id": u.task_id, "host_id": u.host_id, "size": u.size, "kind": u.kind, "at_ms": u.at_ms}))
        .collect();
    Json(list).into_response()
}

async fn upload(AxState(state): AxState<Arc<State>>, Path(n): Path<usize>) -> Response {
    match state.inner.lock().uploads.get(n) {
        Some(u) => (
            [(axum::http::header::CONTENT_TYPE, "application/octet-stream")],
            u.bytes.clone(),
        )
            .into_response(),
        None => error(StatusCode::NOT_FOUND, format!("no upload #{n}")),
    }
}

async fn faults(AxState(state): AxState<Arc<State>>) -> Response {
    Json(state.faults()).into_response()
}

async fn set_faults(AxState(state): AxState<Arc<State>>, body: axum::body::Bytes) -> Response {
    match serde_json::from_slice::<Faults>(&body) {
        Ok(f) => {
            state.inner.lock().faults = f.clone();
            Json(f).into_response()
        }
        Err(e) => error(StatusCode::BAD_REQUEST, format!("not a faults object: {e}")),
    }
}
