//! The task loop, as baton-sdk's connector runner drives it.
//!
//! - `--task-concurrency` slots (default 3). A slot is taken *before* each `GetTask` poll, so
//!   while every slot is busy nobody polls.
//! - After each poll the loop waits the server's `next_poll`, clamped to [0 s, 5 min] (unset is
//!   0), also right after a task was handed out. A failed poll waits `n²` seconds (n failures in
//!   a row, at most 60 s) instead: never a tight retry loop.
//! - A task is finished with `FinishTask`: success (annotations and the connector response), or
//!   a gRPC status with `non_retryable` as the SDK sets it. Hello tasks are answered with
//!   `Hello`, not `FinishTask`. Task kinds the SDK itself does not handle (event feed, sync diff,
//!   compaction, an empty oneof) finish with `UNKNOWN` "unsupported task type", retryable;
//!   those this connector has no code for finish with `UNIMPLEMENTED`, final.
//! - On shutdown the loop stops polling; a running sync is abandoned (its task finished as
//!   `CANCELLED`, retryable, so ConductorOne hands it out again) and provisioning tasks run to
//!   their end.

use std::sync::Arc;
use std::time::Duration;

use prost_types::Any;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tonic::Code;

use super::grpc::BatonClient;
use super::pb::{self, finish_task_request as ftr, Task, TaskType};
use super::{hello, provision_task, sync_task};
use crate::config::Settings;
use crate::scim::client::ScimClient;

/// The longest wait between polls the server can ask for.
pub const MAX_POLL: Duration = Duration::from_secs(300);
/// Heartbeat interval bounds, and the interval when the server names none.
pub const MIN_HEARTBEAT: Duration = Duration::from_secs(1);
pub const MAX_HEARTBEAT: Duration = Duration::from_secs(300);
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(30);
/// The longest back-off after failed polls.
pub const MAX_POLL_BACKOFF: Duration = Duration::from_secs(60);
/// How long `FinishTask` may take (it is sent even after the task was cancelled).
pub const FINISH_TIMEOUT: Duration = Duration::from_secs(30);
/// How long shutdown waits for running tasks to finish themselves.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

fn to_std(d: &prost_types::Duration) -> Option<Duration> {
    if d.seconds < 0 || d.nanos < 0 {
        return None;
    }
    Some(Duration::new(
        u64::try_from(d.seconds).ok()?,
        u32::try_from(d.nanos).ok()?,
    ))
}

/// `next_poll` as the SDK clamps it: unset or negative → 0; at most 5 minutes.
pub fn clamp_next_poll(d: Option<&prost_types::Duration>) -> Duration {
    match d {
        None => Duration::ZERO,
        Some(d) if d.seconds < 0 || (d.seconds == 0 && d.nanos < 0) => Duration::ZERO,
        Some(d) => to_std(d).map_or(MAX_POLL, |d| d.min(MAX_POLL)),
    }
}

/// `next_heartbeat` as the SDK clamps it: unset or zero → 30 s; else within [1 s, 5 min].
pub fn clamp_next_heartbeat(d: Option<&prost_types::Duration>) -> Duration {
    match d {
        None => DEFAULT_HEARTBEAT,
        Some(d) if d.seconds == 0 && d.nanos == 0 => DEFAULT_HEARTBEAT,
        Some(d) if d.seconds < 0 || (d.seconds == 0 && d.nanos < 0) => MIN_HEARTBEAT,
        Some(d) => to_std(d).map_or(MAX_HEARTBEAT, |d| d.clamp(MIN_HEARTBEAT, MAX_HEARTBEAT)),
    }
}

/// The wait after `failures` failed polls in a row: failures² seconds, at most a minute.
pub fn poll_backoff(failures: u32) -> Duration {
    Duration::from_secs(u64::from(failures).saturating_mul(u64::from(failures))).min(MAX_POLL_BACKOFF)
}

/// A task that did not succeed: the status sent in `FinishTask`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskFailure {
    pub code: Code,
    pub message: String,
    pub non_retryable: bool,
}

impl TaskFailure {
    pub fn new(code: Code, message: impl Into<String>, non_retryable: bool) -> Self {
        Self {
            code,
            message: message.into(),
            non_retryable,
        }
    }
}

/// How a task ends.
#[derive(Debug, Clone, PartialEq)]
pub enum Finish {
    Success {
        annotations: Vec<Any>,
        response: Option<Any>,
    },
    Failure(TaskFailure),
    /// No `FinishTask` at all (a hello task; a sync whose first heartbeat failed).
    Nothing,
}

/// The `FinishTask` request for `finish`; `None` for [`Finish::Nothing`].
pub fn finish_request(host_id: &str, task_id: &str, finish: Finish) -> Option<pb::FinishTaskRequest> {
    let (status, state) = match finish {
        Finish::Nothing => return None,
        Finish::Success { annotations, response } => {
            (None, ftr::FinalState::Success(ftr::Success { annotations, response }))
        }
        Finish::Failure(f) => (
            Some(pb::RpcStatus {
                code: f.code as i32,
                message: f.message,
                details: Vec::new(),
            }),
            ftr::FinalState::Error(ftr::Error {
                non_retryable: f.non_retryable,
                annotations: Vec::new(),
                response: None,
            }),
        ),
    };
    Some(pb::FinishTaskRequest {
        host_id: host_id.to_owned(),
        task_id: task_id.to_owned(),
        status,
        final_state: Some(state),
    })
}

/// What a running daemon shares with its tasks.
#[derive(Debug)]
pub struct Daemon {
    pub client: BatonClient,
    pub scim: ScimClient,
    pub settings: Settings,
    pub host_id: String,
    /// Cancelled on SIGTERM / SIGINT.
    pub shutdown: CancellationToken,
}

/// What the SDK does with a task of this kind; `None` when the server sent no work.
pub fn dispatch(task: &Task) -> Option<Route> {
    Some(match &task.task_type {
        Some(TaskType::None(_)) => return None,
        None => Route::Unsupported,
        Some(TaskType::Hello(_)) => Route::Hello,
        Some(TaskType::SyncFull(_)) => Route::Sync,
        Some(TaskType::Grant(_) | TaskType::Revoke(_) | TaskType::CreateAccount(_) | TaskType::DeleteResource(_)) => {
            Route::Provision
        }
        Some(TaskType::EventFeed(_) | TaskType::CreateSyncDiff(_) | TaskType::CompactSyncs(_)) => Route::Unsupported,
        Some(_) => Route::NotImplemented,
    })
}

/// Where [`dispatch`] sends a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Hello,
    Sync,
    Provision,
    /// Not a kind the SDK handles: `UNKNOWN` "unsupported task type", retryable.
    Unsupported,
    /// A kind the SDK handles but this connector has no code for: `UNIMPLEMENTED`, final.
    NotImplemented,
}

async fn handle(daemon: Arc<Daemon>, task: Task, _slot: OwnedSemaphorePermit) {
    let kind = task.task_type.as_ref().map_or("(empty)", TaskType::name);
    tracing::info!(task_id = %task.id, kind, "task received");
    let finish = match (dispatch(&task), &task.task_type) {
        (None, _) => Finish::Nothing,
        (Some(Route::Hello), _) => {
            match daemon.client.hello(hello::request(&daemon.host_id, &task.id)).await {
                Ok(_) => tracing::info!(task_id = %task.id, "hello task answered"),
                Err(e) => tracing::warn!(task_id = %task.id, error = %e, "hello task: Hello failed"),
            }
            Finish::Nothing
        }
        (Some(Route::Sync), Some(TaskType::SyncFull(spec))) => sync_task::run(&daemon, &task, spec).await,
        (Some(Route::Provision), Some(t)) => provision_task::run(&daemon.scim, t, daemon.settings.provisioning).await,
        (Some(Route::NotImplemented), _) => Finish::Failure(TaskFailure::new(
            Code::Unimplemented,
            format!("{kind} tasks are not supported by this connector"),
            true,
        )),
        _ => Finish::Failure(TaskFailure::new(Code::Unknown, "unsupported task type", false)),
    };
    finish_task(&daemon, &task.id, finish).await;
}

/// Sends `FinishTask` (bounded by [`FINISH_TIMEOUT`]); a failure is logged, not retried.
pub async fn finish_task(daemon: &Daemon, task_id: &str, finish: Finish) {
    let outcome = match &finish {
        Finish::Success { .. } => "success".to_owned(),
        Finish::Failure(f) => format!("error {:?}: {}", f.code, f.message),
        Finish::Nothing => return,
    };
    let Some(request) = finish_request(&daemon.host_id, task_id, finish) else {
        return;
    };
    match tokio::time::timeout(FINISH_TIMEOUT, daemon.client.finish_task(request)).await {
        Ok(Ok(_)) => tracing::info!(task_id, outcome, "task finished"),
        Ok(Err(e)) => tracing::warn!(task_id, outcome, error = %e, "FinishTask failed"),
        Err(_) => tracing::warn!(task_id, outcome, "FinishTask timed out"),
    }
}

/// Polls for tasks and runs them until shutdown; then waits (a bounded time) for running tasks.
/// Tasks are spawned on the current `LocalSet`: the SCIM client's futures are not `Send`.
pub async fn run_loop(daemon: Arc<Daemon>) {
    let concurrency = daemon.settings.task_concurrency.max(1) as usize;
    let slots = Arc::new(Semaphore::new(concurrency));
    let mut running = JoinSet::new();
    let mut failures = 0u32;
    let shutdown = daemon.shutdown.clone();
    tracing::info!(concurrency, host_id = %daemon.host_id, "waiting for tasks");
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = shutdown.cancelled() => break,
        };
        while let Some(done) = running.try_join_next() {
            if let Err(e) = done {
                tracing::error!(error = %e, "a task stopped abnormally");
            }
        }
        let request = pb::GetTaskRequest {
            host_id: daemon.host_id.clone(),
        };
        let answer = tokio::select! {
            answer = daemon.client.get_task(request) => answer,
            () = shutdown.cancelled() => break,
        };
        let wait = match answer {
            Err(e) => {
                failures = failures.saturating_add(1);
                drop(slot);
                let wait = poll_backoff(failures);
                tracing::warn!(error = %e, failures, retry_in_s = wait.as_secs(), "GetTask failed");
                wait
            }
            Ok(answer) => {
                failures = 0;
                let wait = clamp_next_poll(answer.next_poll.as_ref());
                match answer.task {
                    Some(task) if dispatch(&task).is_some() => {
                        running.spawn_local(handle(daemon.clone(), task, slot));
                    }
                    _ => drop(slot),
                }
                wait
            }
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = shutdown.cancelled() => break,
        }
    }
    if !running.is_empty() {
        tracing::info!(tasks = running.len(), "shutting down: waiting for running tasks");
        let drained =
            tokio::time::timeout(SHUTDOWN_GRACE, async { while running.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            tracing::warn!(
                tasks = running.len(),
                "shutting down: tasks still running were abandoned"
            );
            running.abort_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(seconds: i64, nanos: i32) -> prost_types::Duration {
        prost_types::Duration { seconds, nanos }
    }

    #[test]
    fn next_poll_is_clamped_like_the_sdk() {
        assert_eq!(clamp_next_poll(None), Duration::ZERO);
        assert_eq!(clamp_next_poll(Some(&d(0, 0))), Duration::ZERO);
        assert_eq!(clamp_next_poll(Some(&d(-5, 0))), Duration::ZERO);
        assert_eq!(clamp_next_poll(Some(&d(0, 20_000_000))), Duration::from_millis(20));
        assert_eq!(clamp_next_poll(Some(&d(7, 0))), Duration::from_secs(7));
        assert_eq!(clamp_next_poll(Some(&d(301, 0))), MAX_POLL);
        assert_eq!(clamp_next_poll(Some(&d(i64::MAX, 0))), MAX_POLL);
    }

    #[test]
    fn next_heartbeat_is_clamped_like_the_sdk() {
        assert_eq!(clamp_next_heartbeat(None), Duration::from_secs(30));
        assert_eq!(clamp_next_heartbeat(Some(&d(0, 0))), Duration::from_secs(30));
        assert_eq!(clamp_next_heartbeat(Some(&d(0, 1_000))), Duration::from_secs(1));
        assert_eq!(clamp_next_heartbeat(Some(&d(-3, 0))), Duration::from_secs(1));
        assert_eq!(clamp_next_heartbeat(Some(&d(12, 0))), Duration::from_secs(12));
        assert_eq!(clamp_next_heartbeat(Some(&d(3600, 0))), Duration::from_secs(300));
    }

    #[test]
    fn failed_polls_back_off_quadratically_to_a_minute() {
        let waits: Vec<u64> = (1..=9).map(|n| poll_backoff(n).as_secs()).collect();
        assert_eq!(waits, vec![1, 4, 9, 16, 25, 36, 49, 60, 60]);
    }

    fn task(kind: Option<TaskType>) -> Task {
        Task {
            id: "t".into(),
            task_type: kind,
            ..Default::default()
        }
    }

    #[test]
    fn tasks_route_as_the_sdk_routes_them() {
        let o = pb::Opaque {};
        assert_eq!(dispatch(&task(Some(TaskType::None(o.clone())))), None);
        assert_eq!(dispatch(&task(None)), Some(Route::Unsupported));
        assert_eq!(dispatch(&task(Some(TaskType::Hello(o.clone())))), Some(Route::Hello));
        assert_eq!(
            dispatch(&task(Some(TaskType::SyncFull(pb::SyncFullTask::default())))),
            Some(Route::Sync)
        );
        assert_eq!(
            dispatch(&task(Some(TaskType::Grant(pb::GrantTask::default())))),
            Some(Route::Provision)
        );
        for unsupported in [
            TaskType::EventFeed(o.clone()),
            TaskType::CreateSyncDiff(o.clone()),
            TaskType::CompactSyncs(o.clone()),
        ] {
            assert_eq!(dispatch(&task(Some(unsupported))), Some(Route::Unsupported));
        }
        for missing in [
            TaskType::CreateResource(o.clone()),
            TaskType::RotateCredentials(o.clone()),
            TaskType::ListEvents(o),
        ] {
            assert_eq!(dispatch(&task(Some(missing))), Some(Route::NotImplemented));
        }
    }

    #[test]
    fn finish_requests_carry_status_and_retryability() {
        let failed = finish_request(
            "h",
            "t",
            Finish::Failure(TaskFailure::new(Code::FailedPrecondition, "no", true)),
        );
        let failed = failed.unwrap_or_default();
        assert_eq!(failed.status.as_ref().map(|s| s.code), Some(9));
        assert_eq!(failed.status.as_ref().map(|s| s.message.as_str()), Some("no"));
        assert!(matches!(failed.final_state, Some(ftr::FinalState::Error(ref e)) if e.non_retryable));
        let ok = finish_request(
            "h",
            "t",
            Finish::Success {
                annotations: vec![],
                response: None,
            },
        )
        .unwrap_or_default();
        assert_eq!(ok.status, None);
        assert!(matches!(ok.final_state, Some(ftr::FinalState::Success(_))));
        assert_eq!(finish_request("h", "t", Finish::Nothing), None);
    }
}
