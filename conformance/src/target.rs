//! Where the suites send their requests: the embedded emulation (a fresh server per case), a
//! SCIM base URL with the emulation's admin API (the standalone emulation), or one without (a
//! real tenant, another SCIM server). Every target is reached the same way, over HTTP; the only
//! difference is what can be arranged and what ground truth exists.

use std::fmt;

use anyhow::{bail, Context};
use notion_scim_mock::{MockServer, Quirks, SeedSpec};
use serde_json::{json, Value};

use crate::scim::{short, Scim};
use crate::truth::Truth;

/// A case that cannot run on this target or connector; the reason is reported as "skipped".
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct Skip(pub String);

/// What the runner was pointed at.
#[derive(Clone)]
pub enum TargetKind {
    /// A fresh in-process emulation for every case.
    Embedded,
    /// Any SCIM base URL.
    Remote { base_url: String, token: String },
}

impl fmt::Debug for TargetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetKind::Embedded => f.write_str("Embedded"),
            TargetKind::Remote { base_url, .. } => f.debug_struct("Remote").field("base_url", base_url).finish(),
        }
    }
}

/// The target, what the run may do to it, and what it created there.
#[derive(Debug)]
pub struct Lab {
    pub kind: TargetKind,
    /// Writes (and, on a remote emulation, reseeding) are allowed.
    pub allow_writes: bool,
    /// Accounts the suites create on a remote target use this email domain.
    pub test_domain: Option<String>,
    /// At most this many accounts created on a remote target in one run.
    pub max_created: usize,
    /// Whether the remote target answers the emulation's admin API.
    remote_admin: Option<Admin>,
    /// Emails of the accounts created on a remote target, for the clean-up.
    created: parking_lot::Mutex<Vec<String>>,
    /// A remote target is one org: cases that arrange it run one at a time.
    remote_lock: tokio::sync::Mutex<()>,
}

/// One org ready for a case: its SCIM endpoint, its admin API if any, and the embedded server
/// (kept alive while the case runs).
#[derive(Debug)]
pub struct Env {
    pub scim: Scim,
    pub admin: Option<Admin>,
    _server: Option<MockServer>,
    _guard: Option<tokio::sync::MutexGuard<'static, ()>>,
}

impl Env {
    pub fn base_url(&self) -> &str {
        self.scim.base()
    }

    pub fn scim_token(&self) -> &str {
        self.scim.token()
    }

    /// The workspace's ground truth now: the admin API's when there is one, else SCIM reads.
    pub async fn truth(&self) -> anyhow::Result<Truth> {
        match &self.admin {
            Some(admin) => admin.truth().await,
            None => Truth::from_scim(&self.scim).await,
        }
    }

    /// The admin API, or a skip saying the target has none.
    pub fn admin(&self) -> Result<&Admin, Skip> {
        self.admin
            .as_ref()
            .ok_or_else(|| Skip("needs the emulation's admin API, which this target does not answer".into()))
    }
}

impl Lab {
    pub fn embedded() -> Lab {
        Lab::new(TargetKind::Embedded, true, None, 5, None)
    }

    /// A remote target; probes for the admin API beside the SCIM base.
    pub async fn remote(
        base_url: &str,
        token: &str,
        allow_writes: bool,
        test_domain: Option<String>,
        max_created: usize,
    ) -> anyhow::Result<Lab> {
        let base_url = base_url.trim_end_matches('/').to_string();
        let admin = Admin::probe(&base_url).await;
        Ok(Lab::new(
            TargetKind::Remote {
                base_url,
                token: token.to_string(),
            },
            allow_writes,
            test_domain,
            max_created,
            admin,
        ))
    }

    fn new(
        kind: TargetKind,
        allow_writes: bool,
        test_domain: Option<String>,
        max_created: usize,
        remote_admin: Option<Admin>,
    ) -> Lab {
        Lab {
            kind,
            allow_writes,
            test_domain,
            max_created,
            remote_admin,
            created: parking_lot::Mutex::new(Vec::new()),
            remote_lock: tokio::sync::Mutex::new(()),
        }
    }

    pub fn is_embedded(&self) -> bool {
        matches!(self.kind, TargetKind::Embedded)
    }

    /// Whether orgs can be generated and faults injected (the emulation, embedded or not).
    pub fn is_emulation(&self) -> bool {
        self.is_embedded() || self.remote_admin.is_some()
    }

    pub fn describe(&self) -> String {
        match &self.kind {
            TargetKind::Embedded => "the embedded emulation".into(),
            TargetKind::Remote { base_url, .. } => match &self.remote_admin {
                Some(_) => format!("{base_url} (an emulation: admin API found)"),
                None => format!("{base_url} (no admin API: ground truth from SCIM reads)"),
            },
        }
    }

    /// A generated org of this shape, with these quirks. On the embedded target a new server;
    /// on a remote emulation a reseed (only with writes allowed); elsewhere a skip.
    pub async fn org(&'static self, spec: SeedSpec, quirks: Quirks) -> anyhow::Result<Env> {
        match &self.kind {
            TargetKind::Embedded => {
                let server = MockServer::builder().spec(spec).quirks(quirks).try_start().await?;
                let scim = Scim::new(&server.base_url(), server.token())?;
                let admin = Admin::new(&server.admin_url())?;
                Ok(Env {
                    scim,
                    admin: Some(admin),
                    _server: Some(server),
                    _guard: None,
                })
            }
            TargetKind::Remote { base_url, token } => {
                let Some(admin) = &self.remote_admin else {
                    return Err(
                        Skip("needs generated orgs, which only the emulation's admin API can make".into()).into(),
                    );
                };
                if !self.allow_writes {
                    return Err(Skip("reseeding the remote emulation needs --allow-writes".into()).into());
                }
                let guard = self.remote_lock.lock().await;
                admin.reseed(&spec).await?;
                admin.set_quirks(&quirks).await?;
                Ok(Env {
                    scim: Scim::new(base_url, token)?,
                    admin: Some(admin.clone()),
                    _server: None,
                    _guard: Some(guard),
                })
            }
        }
    }

    /// The target as it is: on the embedded emulation a default seeded org.
    pub async fn as_is(&'static self) -> anyhow::Result<Env> {
        match &self.kind {
            TargetKind::Embedded => {
                let spec = SeedSpec {
                    seed: 11,
                    users: 120,
                    groups: 9,
                    ..SeedSpec::default()
                };
                self.org(spec, Quirks::default()).await
            }
            TargetKind::Remote { base_url, token } => {
                let guard = self.remote_lock.lock().await;
                Ok(Env {
                    scim: Scim::new(base_url, token)?,
                    admin: self.remote_admin.clone(),
                    _server: None,
                    _guard: Some(guard),
                })
            }
        }
    }

    /// An email for an account a case creates. On a remote target it must be on the test
    /// domain, and at most `max_created` are handed out per run.
    pub fn new_account_email(&self, local: &str) -> Result<String, Skip> {
        match &self.kind {
            TargetKind::Embedded => Ok(format!("{local}@conformance.example.com")),
            TargetKind::Remote { .. } => {
                if !self.allow_writes {
                    return Err(Skip("writes to a remote target need --allow-writes".into()));
                }
                let Some(domain) = &self.test_domain else {
                    return Err(Skip("writes to a remote target need --test-domain".into()));
                };
                let mut created = self.created.lock();
                if created.len() >= self.max_created {
                    return Err(Skip(format!(
                        "--max-created {} accounts already used in this run",
                        self.max_created
                    )));
                }
                let email = format!("{local}@{domain}").to_lowercase();
                created.push(email.clone());
                Ok(email)
            }
        }
    }

    /// Removes from a remote target every account this run created (looked up by email: a
    /// creation whose answer was lost is found too). Returns what it did, one line each.
    pub async fn clean_up(&self) -> Vec<String> {
        let TargetKind::Remote { base_url, token } = &self.kind else {
            return Vec::new();
        };
        let emails: Vec<String> = self.created.lock().clone();
        let mut report = Vec::new();
        let Ok(scim) = Scim::new(base_url, token) else {
            return vec!["clean-up: cannot build an HTTP client".into()];
        };
        for email in emails {
            let line = match scim.find_user_by_email(&email).await {
                Ok(Some(user)) => {
                    let id = user.get("id").and_then(Value::as_str).unwrap_or_default();
                    match scim.request("DELETE", &format!("Users/{id}"), None).await {
                        Ok(a) if a.is_success() || a.status == 404 => format!("clean-up: removed {email}"),
                        Ok(a) => format!("clean-up: could not remove {email}: {} {}", a.status, short(&a.text)),
                        Err(e) => format!("clean-up: could not remove {email}: {e}"),
                    }
                }
                Ok(None) => continue,
                Err(e) => format!("clean-up: could not look up {email}: {e}"),
            };
            report.push(line);
        }
        report
    }
}

/// The emulation's admin API (`/__admin`), as any client in any language would call it.
#[derive(Debug, Clone)]
pub struct Admin {
    base: String,
    http: reqwest::Client,
}

impl Admin {
    pub fn new(admin_url: &str) -> anyhow::Result<Admin> {
        Ok(Admin {
            base: admin_url.trim_end_matches('/').to_string(),
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(60))
                .build()
                .context("cannot build an HTTP client")?,
        })
    }

    /// `<host>/scim/v2` -> `<host>/__admin`, if that answers a truth document.
    async fn probe(base_url: &str) -> Option<Admin> {
        let root = base_url.strip_suffix("/scim/v2").unwrap_or(base_url);
        let admin = Admin::new(&format!("{root}/__admin")).ok()?;
        admin.truth().await.ok().map(|_| admin)
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let url = format!("{}/{}", self.base, path);
        let mut req = self.http.request(method.clone(), &url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.with_context(|| format!("admin API {method} {path}"))?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            bail!("admin API {method} {path} answered {status}: {}", short(&text));
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn truth(&self) -> anyhow::Result<Truth> {
        Truth::from_admin_json(&self.truth_json().await?)
    }

    /// The truth document as the emulation prints it (tokens and their creators included).
    pub async fn truth_json(&self) -> anyhow::Result<Value> {
        self.call(reqwest::Method::GET, "truth", None).await
    }

    pub async fn reseed(&self, spec: &SeedSpec) -> anyhow::Result<()> {
        self.call(reqwest::Method::POST, "reseed", Some(serde_json::to_value(spec)?))
            .await
            .map(drop)
    }

    pub async fn reset(&self) -> anyhow::Result<()> {
        self.call(reqwest::Method::POST, "reset", None).await.map(drop)
    }

    pub async fn set_quirks(&self, quirks: &Quirks) -> anyhow::Result<()> {
        self.call(reqwest::Method::PUT, "quirks", Some(serde_json::to_value(quirks)?))
            .await
            .map(drop)
    }

    /// Changes only the named quirks.
    pub async fn patch_quirks(&self, changes: Value) -> anyhow::Result<()> {
        self.call(reqwest::Method::PUT, "quirks", Some(changes)).await.map(drop)
    }

    /// The first token's fault settings (the JSON of `FaultSettings`).
    pub async fn set_faults(&self, settings: Value) -> anyhow::Result<()> {
        self.call(reqwest::Method::PUT, "faults", Some(settings))
            .await
            .map(drop)
    }

    pub async fn clear_faults(&self) -> anyhow::Result<()> {
        self.set_faults(json!({})).await
    }

    /// The first token's fault settings as they stand (a churn step that fired shows what it
    /// did under `applied`).
    pub async fn faults(&self) -> anyhow::Result<Value> {
        self.call(reqwest::Method::GET, "faults", None).await
    }

    /// Every request received since the last clear, oldest first.
    pub async fn journal(&self) -> anyhow::Result<Vec<Value>> {
        let v = self.call(reqwest::Method::GET, "journal", None).await?;
        Ok(v.as_array().cloned().unwrap_or_default())
    }

    pub async fn clear_journal(&self) -> anyhow::Result<()> {
        self.call(reqwest::Method::DELETE, "journal", None).await.map(drop)
    }

    pub async fn revoke_token(&self, token_id: &str) -> anyhow::Result<()> {
        self.call(reqwest::Method::POST, &format!("tokens/{token_id}/revoke"), None)
            .await
            .map(drop)
    }
}
