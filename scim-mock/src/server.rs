//! The in-process server: `MockServer::builder()...start().await` serves a fresh org on a random
//! loopback port until the handle drops.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::faults::{FaultBook, FaultControls};
use crate::http::{serve, Shared};
use crate::journal::{Expectation, Journal, JournalEntry, JournalFilter, JournalLimits, JournalStatus};
use crate::model::Org;
use crate::org_file::OrgFile;
use crate::quirks::Quirks;
use crate::seed::{self, SeedSpec};
use crate::tls::TlsIdentity;
use crate::truth::{GroundTruth, OrgTruth};

/// How many requests the journal keeps before dropping the oldest.
pub const DEFAULT_JOURNAL_CAPACITY: usize = 200_000;

/// Errors starting a server.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
    #[error("bad org: {0}")]
    Org(String),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
}

/// Builds a [`MockServer`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until .start() is awaited"]
pub struct MockServerBuilder {
    spec: SeedSpec,
    org: Option<Org>,
    quirks: Quirks,
    token: Option<String>,
    addr: String,
    journal: JournalLimits,
    tls: bool,
}

/// What a reset leaves as it is (`POST /__admin/reset?keep=quirks,faults`); by default a reset
/// brings everything back to the server's start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResetKeep {
    /// The org as it is now (users, groups, revoked tokens).
    pub org: bool,
    pub journal: bool,
    /// Every token's fault settings, churn progress included.
    pub faults: bool,
    /// The quirks as they are now, rather than those the server started with.
    pub quirks: bool,
}

impl std::str::FromStr for ResetKeep {
    type Err = String;

    /// A comma-separated list of parts: `org`, `journal`, `faults`, `quirks`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut keep = ResetKeep::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "org" => keep.org = true,
                "journal" => keep.journal = true,
                "faults" => keep.faults = true,
                "quirks" => keep.quirks = true,
                other => {
                    return Err(format!(
                        "keep={other:?}: expected a comma-separated list of org, journal, faults, quirks"
                    ))
                }
            }
        }
        Ok(keep)
    }
}

impl Default for MockServerBuilder {
    fn default() -> Self {
        MockServerBuilder {
            spec: SeedSpec::default(),
            org: None,
            quirks: Quirks::default(),
            token: None,
            addr: "127.0.0.1:0".into(),
            journal: JournalLimits::default(),
            tls: false,
        }
    }
}

impl MockServerBuilder {
    pub fn seed(mut self, seed: u64) -> Self {
        self.spec.seed = seed;
        self
    }

    /// Members visible through SCIM in the first workspace.
    pub fn users(mut self, users: usize) -> Self {
        self.spec.users = users;
        self
    }

    pub fn groups(mut self, groups: usize) -> Self {
        self.spec.groups = groups;
        self
    }

    pub fn workspaces(mut self, workspaces: usize) -> Self {
        self.spec.workspaces = workspaces;
        self
    }

    /// The whole seed spec at once.
    pub fn spec(mut self, spec: SeedSpec) -> Self {
        self.spec = spec;
        self
    }

    /// Serves this org instead of a seeded one.
    pub fn org(mut self, org: Org) -> Self {
        self.org = Some(org);
        self
    }

    /// Serves an org written as JSON (see [`OrgFile`]).
    pub fn org_json(mut self, json: &str) -> Result<Self, StartError> {
        let file: OrgFile = serde_json::from_str(json).map_err(|e| StartError::Org(e.to_string()))?;
        self.org = Some(file.build().map_err(StartError::Org)?);
        Ok(self)
    }

    pub fn org_file(self, path: &Path) -> Result<Self, StartError> {
        let text = std::fs::read_to_string(path).map_err(|e| StartError::Org(format!("{}: {e}", path.display())))?;
        self.org_json(&text)
    }

    pub fn quirks(mut self, quirks: Quirks) -> Self {
        self.quirks = quirks;
        self
    }

    /// The secret of the first workspace's token (default `secret_notion_scim_mock_token`).
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Where to listen (default `127.0.0.1:0`, a random port).
    pub fn addr(mut self, addr: impl Into<String>) -> Self {
        self.addr = addr.into();
        self
    }

    /// Serves HTTPS with a throwaway CA made at start (see [`MockServer::ca_pem`]).
    pub fn tls(mut self, tls: bool) -> Self {
        self.tls = tls;
        self
    }

    /// At most this many journal entries are kept (the newest).
    pub fn journal_capacity(mut self, capacity: usize) -> Self {
        self.journal.max_entries = capacity.max(1);
        self
    }

    /// At most this many bytes of journal entries are kept (the newest).
    pub fn journal_max_bytes(mut self, bytes: usize) -> Self {
        self.journal.max_bytes = bytes;
        self
    }

    /// The org this builder would serve, without serving it.
    pub fn build_org(&self) -> Org {
        match &self.org {
            Some(org) => {
                let mut org = org.clone();
                if let (Some(secret), Some(first)) = (&self.token, org.tokens.first_mut()) {
                    first.secret = secret.clone();
                }
                org
            }
            None => seed::generate(&self.spec, self.token.as_deref()),
        }
    }

    /// Binds, then serves on the current tokio runtime.
    ///
    /// # Panics
    /// If the address cannot be bound; use [`MockServerBuilder::try_start`] to handle that.
    #[allow(clippy::panic)] // a test helper: failing loudly is its job
    pub async fn start(self) -> MockServer {
        match self.try_start().await {
            Ok(server) => server,
            Err(e) => panic!("notion-scim-mock: {e}"),
        }
    }

    pub async fn try_start(self) -> Result<MockServer, StartError> {
        let listener = TcpListener::bind(&self.addr).await.map_err(|source| StartError::Bind {
            addr: self.addr.clone(),
            source,
        })?;
        let addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: self.addr.clone(),
            source,
        })?;
        let tls = if self.tls {
            Some(TlsIdentity::generate(&[addr.ip().to_string()])?)
        } else {
            None
        };
        let org = self.build_org();
        let token = org
            .tokens
            .first()
            .map(|t| (t.id.clone(), t.secret.clone()))
            .unwrap_or_default();
        let shared = Arc::new(Shared {
            initial: Mutex::new(org.clone()),
            org: RwLock::new(org),
            quirks: RwLock::new(self.quirks.clone()),
            initial_quirks: self.quirks,
            faults: Arc::new(FaultBook::default()),
            journal: Journal::new(self.journal),
        });
        let (stop, stopped) = oneshot::channel::<()>();
        let acceptor = tls.as_ref().map(|t| t.acceptor.clone());
        let task = tokio::spawn(serve(listener, shared.clone(), acceptor, async {
            let _ = stopped.await;
        }));
        Ok(MockServer {
            addr,
            tls,
            token_id: token.0,
            token: token.1,
            shared,
            stop: Some(stop),
            task,
            expectations: Mutex::new(Vec::new()),
        })
    }
}

/// A running emulation of one Notion organisation. Dropping it stops the server and checks
/// the expectations given to [`MockServer::expect`].
pub struct MockServer {
    addr: SocketAddr,
    tls: Option<TlsIdentity>,
    token_id: String,
    token: String,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
    expectations: Mutex<Vec<Expectation>>,
}

impl std::fmt::Debug for MockServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockServer")
            .field("addr", &self.addr)
            .field("token", &"[REDACTED]")
            .finish()
    }
}

impl MockServer {
    pub fn builder() -> MockServerBuilder {
        MockServerBuilder::default()
    }

    /// A server with the default seeded org (50 members, 8 groups).
    pub async fn start() -> MockServer {
        MockServerBuilder::default().start().await
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// `http://127.0.0.1:PORT/scim/v2` (`https://` with [`MockServerBuilder::tls`])
    pub fn base_url(&self) -> String {
        format!("{}://{}/scim/v2", self.scheme(), self.addr)
    }

    /// `http://127.0.0.1:PORT/__admin` (`https://` with [`MockServerBuilder::tls`])
    pub fn admin_url(&self) -> String {
        format!("{}://{}/__admin", self.scheme(), self.addr)
    }

    /// The PEM of the CA a client must trust to reach a server started with
    /// [`MockServerBuilder::tls`]; `None` for plain HTTP.
    pub fn ca_pem(&self) -> Option<&str> {
        self.tls.as_ref().map(TlsIdentity::ca_pem)
    }

    /// The secret of the first workspace's token.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The id (`tok_1`) of the first workspace's token.
    pub fn token_id(&self) -> &str {
        &self.token_id
    }

    /// The secret of any token, by id (`tok_2` belongs to the second workspace).
    pub fn token_secret(&self, id: &str) -> Option<String> {
        self.shared
            .org
            .read()
            .tokens
            .iter()
            .find(|t| t.id == id)
            .map(|t| t.secret.clone())
    }

    /// The first workspace as it is now.
    pub fn truth(&self) -> GroundTruth {
        GroundTruth::of(&self.shared.org.read(), 0).unwrap_or_else(|| GroundTruth {
            workspace_id: String::new(),
            workspace_name: String::new(),
            enterprise: false,
            users: Vec::new(),
            groups: Vec::new(),
            guests: Vec::new(),
            tokens: Vec::new(),
        })
    }

    /// Every workspace as it is now.
    pub fn org_truth(&self) -> OrgTruth {
        OrgTruth::of(&self.shared.org.read())
    }

    /// Reads or changes the org directly (for arranging a test, not for asserting on SCIM).
    pub fn with_org<R>(&self, f: impl FnOnce(&mut Org) -> R) -> R {
        f(&mut self.shared.org.write())
    }

    /// The fault controls of the first workspace's token.
    pub fn faults(&self) -> FaultControls {
        self.faults_for(&self.token_id)
    }

    /// The fault controls of a token, by id.
    pub fn faults_for(&self, token_id: &str) -> FaultControls {
        FaultControls {
            book: self.shared.faults.clone(),
            token_id: token_id.to_string(),
        }
    }

    pub fn quirks(&self) -> Quirks {
        self.shared.quirks.read().clone()
    }

    pub fn set_quirks(&self, quirks: Quirks) {
        *self.shared.quirks.write() = quirks;
    }

    /// Every request received so far (oldest first), tokens redacted.
    pub fn journal(&self) -> Vec<JournalEntry> {
        self.shared.journal.entries()
    }

    /// The requests that pass `filter` (the same filter as `GET /__admin/journal?...`).
    pub fn journal_where(&self, filter: &JournalFilter) -> Vec<JournalEntry> {
        self.shared.journal.filtered(filter)
    }

    /// Alias of [`MockServer::journal`], after wiremock's name.
    pub fn received_requests(&self) -> Vec<JournalEntry> {
        self.journal()
    }

    /// How full the journal is, its limits, and how many old entries it dropped.
    pub fn journal_status(&self) -> JournalStatus {
        self.shared.journal.status()
    }

    pub fn set_journal_limits(&self, limits: JournalLimits) {
        self.shared.journal.set_limits(limits);
    }

    pub fn clear_journal(&self) {
        self.shared.journal.clear();
    }

    /// Revokes the first workspace's token: it answers 401 afterwards.
    pub fn revoke_token(&self) {
        let id = self.token_id.clone();
        self.revoke(&id);
    }

    pub fn revoke(&self, token_id: &str) {
        if let Some(t) = self.shared.org.write().tokens.iter_mut().find(|t| t.id == token_id) {
            t.revoked = true;
        }
    }

    /// Back to the start: the org as first served, the journal and every token's faults
    /// cleared, the quirks the server was built with.
    pub fn reset(&self) {
        self.shared.reset(ResetKeep::default());
    }

    /// A reset that leaves the parts `keep` names as they are.
    pub fn reset_keeping(&self, keep: ResetKeep) {
        self.shared.reset(keep);
    }

    /// An expectation checked when the server drops (or by [`MockServer::verify`]).
    pub fn expect(&self, expectation: Expectation) {
        self.expectations.lock().push(expectation);
    }

    /// Checks the expectations now; `Err` lists what failed and what was received.
    pub fn verify(&self) -> Result<(), String> {
        let entries = self.journal();
        let failures: Vec<String> = self
            .expectations
            .lock()
            .iter()
            .filter_map(|e| e.check(&entries).err())
            .collect();
        if failures.is_empty() {
            return Ok(());
        }
        let received: Vec<String> = entries.iter().map(|e| format!("  {e}")).collect();
        Err(format!(
            "{}\nreceived {} requests:\n{}",
            failures.join("\n"),
            entries.len(),
            received.join("\n")
        ))
    }
}

impl Drop for MockServer {
    #[allow(clippy::panic)] // verification on drop, as wiremock does; never while already panicking
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.abort();
        if std::thread::panicking() {
            return;
        }
        if let Err(report) = self.verify() {
            panic!("notion-scim-mock expectations failed:\n{report}");
        }
    }
}
