//! What the fake holds: issued tokens, the task queue, every call it received (in order, with
//! the time since start), the uploads it reassembled, and the faults it is told to inject.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::auth::Registered;
use super::proto::Task;
use super::tasks::TaskSpec;

/// Faults and pacing, settable at any time (Rust, admin API). Counters count down as they fire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// The next N token requests get 401, whatever they carry.
    pub refuse_tokens: u32,
    /// The next N BatonService calls get UNAVAILABLE (before the handler runs).
    pub unavailable: u32,
    /// The next N uploads are read to the end, then answered UNAVAILABLE (and not kept).
    pub fail_uploads: u32,
    /// Each upload waits this long before it is answered.
    pub upload_delay_ms: u64,
    /// Every heartbeat is answered `cancelled: true`.
    pub cancel_heartbeats: bool,
    /// `next_poll` in GetTask answers.
    pub next_poll_ms: u64,
    /// `next_heartbeat` in Heartbeat answers.
    pub next_heartbeat_ms: u64,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            refuse_tokens: 0,
            unavailable: 0,
            fail_uploads: 0,
            upload_delay_ms: 0,
            cancel_heartbeats: false,
            next_poll_ms: 100,
            next_heartbeat_ms: 1000,
        }
    }
}

/// How a task ended, as FinishTask said.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finish {
    pub host_id: String,
    pub task_id: String,
    pub success: bool,
    /// `status.code` (0 when unset).
    pub code: i32,
    pub message: String,
    pub non_retryable: bool,
    /// The `response` Any's type URL, if any.
    pub response_type: Option<String>,
    #[serde(skip)]
    pub response: Option<Vec<u8>>,
}

/// One call the fake received.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "call", rename_all = "snake_case")]
pub enum Call {
    Token {
        client_id: String,
        granted: bool,
        refusal: Option<String>,
    },
    Hello {
        host_id: String,
        task_id: String,
        build_info: Option<serde_json::Value>,
        os_info: Option<serde_json::Value>,
        display_name: String,
        /// `<resource type>:<CAPABILITY_*>` pairs and bare connector capabilities.
        capabilities: Vec<String>,
    },
    GetTask {
        host_id: String,
        handed: Option<String>,
    },
    GetTasks {
        host_id: String,
        handed: Vec<String>,
    },
    Heartbeat {
        host_id: String,
        task_id: String,
        cancelled: bool,
    },
    Upload {
        host_id: String,
        task_id: String,
        bytes: u64,
        /// `kept` or why it was refused.
        outcome: String,
    },
    Finish(Finish),
    /// A BatonService call refused before its handler (no token, injected UNAVAILABLE...).
    Refused {
        rpc: String,
        code: String,
        why: String,
    },
}

impl Call {
    pub fn name(&self) -> &'static str {
        match self {
            Call::Token { .. } => "token",
            Call::Hello { .. } => "hello",
            Call::GetTask { .. } => "get_task",
            Call::GetTasks { .. } => "get_tasks",
            Call::Heartbeat { .. } => "heartbeat",
            Call::Upload { .. } => "upload",
            Call::Finish(_) => "finish",
            Call::Refused { .. } => "refused",
        }
    }
}

/// A call and when it came (milliseconds since the fake started).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recorded {
    pub at_ms: u64,
    #[serde(flatten)]
    pub call: Call,
}

/// An asset a connector uploaded whose SHA-256 matched.
#[derive(Debug, Clone, Serialize)]
pub struct Upload {
    pub task_id: String,
    pub host_id: String,
    pub size: u64,
    /// `c1z-v1` (`C1ZF\0`), `c1z-v3` (`C1Z3\0`) or `other` (a debug log).
    pub kind: String,
    pub at_ms: u64,
    #[serde(skip)]
    pub bytes: Vec<u8>,
}

/// The kind of an uploaded file, by its magic.
pub fn asset_kind(bytes: &[u8]) -> &'static str {
    if bytes.starts_with(b"C1ZF\0") {
        "c1z-v1"
    } else if bytes.starts_with(b"C1Z3\0") {
        "c1z-v3"
    } else {
        "other"
    }
}

/// A queued or handed-out task.
#[derive(Debug, Clone, Serialize)]
pub struct TaskInfo {
    pub id: String,
    pub spec: TaskSpec,
    pub handed_at_ms: Option<u64>,
    pub finished_at_ms: Option<u64>,
    pub finish: Option<Finish>,
}

#[derive(Debug, Default)]
pub(crate) struct Inner {
    pub tokens: HashMap<String, Instant>,
    pub queue: VecDeque<Task>,
    pub tasks: BTreeMap<String, TaskInfo>,
    pub cancelled: BTreeSet<String>,
    pub calls: Vec<Recorded>,
    pub uploads: Vec<Upload>,
    pub faults: Faults,
}

/// Shared by the listener's handlers and the [`FakeC1`](super::FakeC1) handle.
#[derive(Debug)]
pub struct State {
    pub(crate) started: Instant,
    pub(crate) client: Registered,
    pub(crate) token_lifetime: Duration,
    pub(crate) inner: Mutex<Inner>,
}

impl State {
    pub(crate) fn new(client: Registered, token_lifetime: Duration) -> State {
        State {
            started: Instant::now(),
            client,
            token_lifetime,
            inner: Mutex::new(Inner::default()),
        }
    }

    pub(crate) fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    pub(crate) fn record(&self, call: Call) {
        let at_ms = self.now_ms();
        self.inner.lock().calls.push(Recorded { at_ms, call });
    }

    /// Queues `spec`; its id.
    pub(crate) fn queue(&self, spec: TaskSpec) -> anyhow::Result<String> {
        let id = super::tasks::new_id()?;
        let task = spec.to_task(&id)?;
        let mut inner = self.inner.lock();
        inner.queue.push_back(task);
        inner.tasks.insert(
            id.clone(),
            TaskInfo {
                id: id.clone(),
                spec,
                handed_at_ms: None,
                finished_at_ms: None,
                finish: None,
            },
        );
        Ok(id)
    }

    /// The next queued task, marked as handed out.
    pub(crate) fn hand_out(&self) -> Option<Task> {
        let now = self.now_ms();
        let mut inner = self.inner.lock();
        let task = inner.queue.pop_front()?;
        if let Some(info) = inner.tasks.get_mut(&task.id) {
            info.handed_at_ms = Some(now);
        }
        Some(task)
    }

    /// Whether `token` was issued and has not expired.
    pub(crate) fn token_valid(&self, token: &str) -> bool {
        self.inner
            .lock()
            .tokens
            .get(token)
            .is_some_and(|expiry| Instant::now() < *expiry)
    }

    /// Takes one from a fault counter; whether it fired.
    pub(crate) fn fire(&self, pick: impl FnOnce(&mut Faults) -> &mut u32) -> bool {
        let mut inner = self.inner.lock();
        let counter = pick(&mut inner.faults);
        if *counter > 0 {
            *counter -= 1;
            true
        } else {
            false
        }
    }

    pub(crate) fn faults(&self) -> Faults {
        self.inner.lock().faults.clone()
    }
}
