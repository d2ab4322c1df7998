//! A full-sync task: a synchronous first heartbeat, the connector's own sync into a private
//! temporary c1z (v1, SQLite), heartbeats all along, the upload, then `FinishTask`.
//!
//! The task's `sync_resource_type_ids` choose the resource types when it lists any; otherwise
//! `--sync-resource-types` does. A task asking for what this connector's sync cannot do
//! (resources only, no grants, chosen resources) is refused rather than answered with a file
//! that holds something else. A cancelled task (ConductorOne said so in a heartbeat answer, ten
//! heartbeats failed in a row, or the daemon is stopping) stops at once: its work files are
//! removed and nothing is uploaded.

use std::sync::{Arc, Mutex, PoisonError};

use tokio_util::sync::CancellationToken;
use tonic::Code;

use super::pb::{self, SyncFullTask, Task};
use super::tasks::{clamp_next_heartbeat, Daemon, Finish, TaskFailure};
use super::upload;
use crate::config::ResourceTypeId;
use crate::progress::Progress;
use crate::sync::{self, SyncOptions};

/// Consecutive failed heartbeats after which the task is given up (the SDK's
/// `taskMaximumHeartbeatFailures`).
pub const MAX_HEARTBEAT_FAILURES: u32 = 10;

/// Why a running sync stopped before its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    CancelledByServer,
    HeartbeatsFailed,
}

/// The resource types a task asks for, or why it cannot be run as asked.
pub fn resource_types(spec: &SyncFullTask, fallback: &[ResourceTypeId]) -> Result<Vec<ResourceTypeId>, TaskFailure> {
    let refuse = |what: &str| {
        TaskFailure::new(
            Code::Unimplemented,
            format!("{what} is not supported by this connector: its sync writes whole resource types with their entitlements and grants"),
            true,
        )
    };
    if spec.skip_entitlements_and_grants {
        return Err(refuse("skip_entitlements_and_grants"));
    }
    if spec.skip_grants {
        return Err(refuse("skip_grants"));
    }
    if !spec.targeted_sync_resources.is_empty() {
        return Err(refuse("a targeted sync (targeted_sync_resources)"));
    }
    if spec.sync_resource_type_ids.is_empty() {
        return Ok(fallback.to_vec());
    }
    let mut types = Vec::new();
    for id in &spec.sync_resource_type_ids {
        let t =
            ResourceTypeId::ALL
                .into_iter()
                .find(|t| t.as_str() == id)
                .ok_or_else(|| {
                    TaskFailure::new(
                Code::InvalidArgument,
                format!("unknown resource type {id:?} in sync_resource_type_ids: this connector has user, group, role"),
                true,
            )
                })?;
        types.push(t);
    }
    types.sort();
    types.dedup();
    Ok(types)
}

async fn heartbeat(daemon: &Daemon, task_id: &str) -> Result<pb::HeartbeatResponse, super::grpc::RpcError> {
    daemon
        .client
        .heartbeat(pb::HeartbeatRequest {
            host_id: daemon.host_id.clone(),
            task_id: task_id.to_owned(),
            ..Default::default()
        })
        .await
}

/// Heartbeats every `interval` (as each answer renews it) until the task ends; cancels
/// `cancel` when ConductorOne says so or too many heartbeats failed in a row.
async fn heartbeats(
    daemon: Arc<Daemon>,
    task_id: String,
    mut interval: std::time::Duration,
    cancel: CancellationToken,
    stop: Arc<Mutex<Option<Stop>>>,
) {
    let mut failures = 0u32;
    loop {
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = cancel.cancelled() => return,
        }
        failures += 1;
        if failures >= MAX_HEARTBEAT_FAILURES {
            tracing::warn!(task_id, failures, "heartbeats keep failing: giving the task up");
            *stop.lock().unwrap_or_else(PoisonError::into_inner) = Some(Stop::HeartbeatsFailed);
            cancel.cancel();
            return;
        }
        match heartbeat(&daemon, &task_id).await {
            Ok(answer) => {
                failures = 0;
                interval = clamp_next_heartbeat(answer.next_heartbeat.as_ref());
                if answer.cancelled {
                    tracing::info!(task_id, "ConductorOne cancelled the task");
                    *stop.lock().unwrap_or_else(PoisonError::into_inner) = Some(Stop::CancelledByServer);
                    cancel.cancel();
                    return;
                }
            }
            Err(e) => tracing::warn!(task_id, error = %e, "heartbeat failed"),
        }
    }
}

/// Runs one full-sync task and says how to finish it.
pub async fn run(daemon: &Arc<Daemon>, task: &Task, spec: &SyncFullTask) -> Finish {
    let types = match resource_types(spec, &daemon.settings.sync_resource_types) {
        Ok(t) => t,
        Err(refused) => return Finish::Failure(refused),
    };
    if spec.storage_engine.eq_ignore_ascii_case("pebble") {
        tracing::info!(task_id = %task.id, "the task names the pebble engine; this connector writes a SQLite (v1) c1z");
    }
    // The SDK's first heartbeat is synchronous: without it no work starts, and no FinishTask.
    let interval = match heartbeat(daemon, &task.id).await {
        Ok(answer) if answer.cancelled => {
            tracing::info!(task_id = %task.id, "cancelled by ConductorOne before it started");
            return Finish::Nothing;
        }
        Ok(answer) => clamp_next_heartbeat(answer.next_heartbeat.as_ref()),
        Err(e) => {
            tracing::warn!(task_id = %task.id, error = %e, "first heartbeat failed: the task is left to ConductorOne");
            return Finish::Nothing;
        }
    };
    let cancel = daemon.shutdown.child_token();
    let stop = Arc::new(Mutex::new(None));
    let beating = tokio::task::spawn_local(heartbeats(
        daemon.clone(),
        task.id.clone(),
        interval,
        cancel.clone(),
        stop.clone(),
    ));
    let finish = sync_and_upload(daemon, task, types, &cancel, &stop).await;
    cancel.cancel();
    let _ = beating.await;
    finish
}

async fn sync_and_upload(
    daemon: &Arc<Daemon>,
    task: &Task,
    types: Vec<ResourceTypeId>,
    cancel: &CancellationToken,
    stop: &Arc<Mutex<Option<Stop>>>,
) -> Finish {
    let cancelled = || {
        let message = match *stop.lock().unwrap_or_else(PoisonError::into_inner) {
            Some(Stop::CancelledByServer) => "the task was cancelled by ConductorOne",
            Some(Stop::HeartbeatsFailed) => "the task was given up: heartbeats failed 10 times in a row",
            None => "the connector is shutting down; the sync was abandoned",
        };
        Finish::Failure(TaskFailure::new(Code::Cancelled, message, false))
    };
    let dir = match tempfile::Builder::new().prefix("baton-notion-task-").tempdir() {
        Ok(d) => d,
        Err(e) => {
            return Finish::Failure(TaskFailure::new(
                Code::Internal,
                format!("cannot make a temporary folder for the sync: {e}"),
                false,
            ))
        }
    };
    let path = dir.path().join("sync.c1z");
    let options = SyncOptions {
        resource_types: types,
        max_list_walks: daemon.settings.max_list_walks,
        ..SyncOptions::default()
    };
    tracing::info!(task_id = %task.id, resource_types = ?options.resource_types, "sync starting");
    let progress = Progress::hidden();
    let synced = tokio::select! {
        r = sync::run(&daemon.scim, &path, &options, &progress) => r,
        () = cancel.cancelled() => return cancelled(),
    };
    let report = match synced {
        Ok(r) => r,
        Err(e) => return Finish::Failure(TaskFailure::new(Code::Unknown, format!("sync failed: {e}"), false)),
    };
    tracing::info!(
        task_id = %task.id,
        sync_id = %report.summary.sync_id,
        users = report.users,
        groups = report.groups,
        memberships = report.memberships,
        bytes = report.summary.bytes,
        "sync finished; uploading"
    );
    let uploaded = tokio::select! {
        r = upload::upload_file(&daemon.client, &path, &daemon.host_id, &task.id) => r,
        () = cancel.cancelled() => return cancelled(),
    };
    match uploaded {
        Ok(_) => Finish::Success {
            annotations: Vec::new(),
            response: None,
        },
        Err(upload::UploadError::Rpc(e)) => {
            Finish::Failure(TaskFailure::new(e.code, format!("upload failed: {e}"), false))
        }
        Err(e) => Finish::Failure(TaskFailure::new(Code::Internal, e.to_string(), false)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_task_chooses_types_and_unsupported_shapes_are_refused() {
        let all = ResourceTypeId::ALL.to_vec();
        let spec = |ids: &[&str]| SyncFullTask {
            sync_resource_type_ids: ids.iter().map(|s| (*s).to_owned()).collect(),
            ..Default::default()
        };
        assert_eq!(resource_types(&spec(&[]), &all), Ok(all.clone()));
        assert_eq!(
            resource_types(&spec(&["role", "user", "role"]), &all),
            Ok(vec![ResourceTypeId::User, ResourceTypeId::Role])
        );
        // The task's list wins over the local flag.
        assert_eq!(
            resource_types(&spec(&["group"]), &[ResourceTypeId::User]),
            Ok(vec![ResourceTypeId::Group])
        );
        let bad = resource_types(&spec(&["widget"]), &all).err();
        assert_eq!(bad.as_ref().map(|f| f.code), Some(Code::InvalidArgument));
        let skip = SyncFullTask {
            skip_grants: true,
            ..Default::default()
        };
        assert_eq!(
            resource_types(&skip, &all).err().map(|f| f.code),
            Some(Code::Unimplemented)
        );
        let targeted = SyncFullTask {
            targeted_sync_resources: vec![crate::proto::Resource::default()],
            ..Default::default()
        };
        assert!(resource_types(&targeted, &all).is_err());
    }
}
