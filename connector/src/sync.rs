//! One full sync: SCIM pages in, a new sync run in the c1z file out.
//!
//! Two halves joined by a small bounded channel, so that fetching the next page overlaps writing
//! the last one and the organisation is never held in memory:
//! - the **fetch half** (async, this task) walks `/Users` and `/Groups` side by side with
//!   [`Pager`]s (a page from whichever is further behind, so group pages, the writer's heavy
//!   ones, are spread through the sync), reads a group by id only when its list entry came
//!   without `members`, and sends each page on;
//! - the **write half** (a blocking thread: SQLite is synchronous) turns each page into baton
//!   objects with [`crate::model`] and stores them with [`C1zWriter`].
//!
//! Only an explicit [`Batch::Finish`] makes the writer call `finish()`, which publishes the file
//! atomically. Any failure on either side drops the writer unfinished, which leaves the previous
//! file exactly as it was.
//!
//! What each resource type brings (baton-sdk's split: role grants are listed on users):
//! `user` = users and their role grants; `group` = groups, their `member` entitlements and the
//! membership grants; `role` = the four roles and their `assigned` entitlements.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use crate::c1z::{C1zError, C1zWriter, SyncSummary};
use crate::config::ResourceTypeId;
use crate::model;
use crate::procstat;
use crate::progress::Progress;
use crate::proto;
use crate::scim::client::{Pager, PagingReport, ScimClient, ScimError};
use crate::scim::types::{ScimGroup, ScimUser};

/// Items (users, groups and memberships) waiting between the halves at most. A group page can
/// hold thousands of memberships and keeps the writer busy for a while; this lets the fetch go
/// on with user pages meanwhile (about 300 of them), and bounds memory whatever the pages hold.
const QUEUED_ITEMS: u32 = 32_768;

/// Pages waiting between the halves at most; [`QUEUED_ITEMS`] is the bound that matters.
const CHANNEL_PAGES: usize = 256;

/// What to sync, and how.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    pub resource_types: Vec<ResourceTypeId>,
    /// Group reads by id in flight at once, when a list leaves members out.
    pub group_read_concurrency: usize,
}

impl Default for SyncOptions {
    fn default() -> Self {
        Self {
            resource_types: ResourceTypeId::ALL.to_vec(),
            group_read_concurrency: 4,
        }
    }
}

impl SyncOptions {
    fn wants(&self, t: ResourceTypeId) -> bool {
        self.resource_types.contains(&t)
    }
}

/// What a finished sync did.
#[derive(Debug, Clone)]
pub struct SyncReport {
    pub summary: SyncSummary,
    pub users: u64,
    pub groups: u64,
    pub memberships: u64,
    /// `GET /Groups/{id}` calls made because a list entry had no `members`.
    pub group_reads: u64,
    /// Requests sent, retries included.
    pub requests: u64,
    pub retries: u64,
    pub users_paging: PagingReport,
    pub groups_paging: PagingReport,
    pub elapsed: Duration,
    /// The write half: writing rows as pages arrive, the part of that spent waiting for pages
    /// (near zero means the writer is the critical path), and the final `finish`.
    pub write_load: Duration,
    pub write_waited: Duration,
    pub write_finish: Duration,
    /// CPU time of the write thread while loading rows (Linux; zero elsewhere).
    pub write_load_cpu: Duration,
}

/// Why a sync failed. In every case the previous file is untouched.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Scim(#[from] ScimError),
    #[error(transparent)]
    C1z(#[from] C1zError),
    #[error("the c1z writer stopped unexpectedly: {0}")]
    Writer(String),
}

/// One unit of work for the write half: a page as it arrived, with its share of
/// [`QUEUED_ITEMS`], given back once the page is written. The model runs on the writer thread:
/// the rows it makes are far bigger than the SCIM page they come from.
#[derive(Debug)]
enum Batch {
    Users(Vec<ScimUser>, OwnedSemaphorePermit),
    /// Groups with their members.
    Groups(Vec<ScimGroup>, OwnedSemaphorePermit),
    Finish,
}

#[derive(Debug, Default, Clone, Copy)]
struct WriteCounts {
    users: u64,
    groups: u64,
    memberships: u64,
    /// From the writer's start to the `Finish` batch: pages in, rows written.
    load: Duration,
    /// Part of `load` the writer spent waiting for the next page.
    waited: Duration,
    /// CPU time of the writer thread during `load`.
    load_cpu: Duration,
    /// `C1zWriter::finish`.
    finish: Duration,
}

/// Syncs the workspace behind `client` into a new run of the c1z file at `path`.
pub async fn run(
    client: &ScimClient,
    path: &Path,
    options: &SyncOptions,
    progress: &Progress,
) -> Result<SyncReport, SyncError> {
    let started = Instant::now();
    let before = client.stats();
    let (tx, rx) = mpsc::channel::<Batch>(CHANNEL_PAGES);
    let writer = {
        let path = path.to_path_buf();
        let options = options.clone();
        let progress = progress.clone();
        tokio::task::spawn_blocking(move || write_half(&path, &options, rx, &progress))
    };

    let fetched = fetch_half(client, options, progress, &tx).await;
    if fetched.is_ok() {
        // A closed channel here means the writer already failed; its error is reported below.
        let _ = tx.send(Batch::Finish).await;
    }
    drop(tx);
    let written = writer.await.map_err(|e| SyncError::Writer(e.to_string()))?;

    progress.finish();
    // When both halves fail, the one that failed first is the cause: the fetch half's error
    // unless it only saw the writer go away.
    let ((users_paging, groups_paging, group_reads), (summary, counts)) = match (fetched, written) {
        (Err(SyncError::Writer(_)), Err(w)) => return Err(w),
        (Err(f), _) => return Err(f),
        (Ok(_), Err(w)) => return Err(w),
        (Ok(f), Ok(w)) => (f, w),
    };
    let summary = summary.ok_or_else(|| SyncError::Writer("the writer ended without finishing".into()))?;
    let after = client.stats();
    Ok(SyncReport {
        summary,
        users: counts.users,
        groups: counts.groups,
        memberships: counts.memberships,
        group_reads,
        requests: after.requests - before.requests,
        retries: after.retries - before.retries,
        users_paging,
        groups_paging,
        elapsed: started.elapsed(),
        write_load: counts.load,
        write_waited: counts.waited,
        write_finish: counts.finish,
        write_load_cpu: counts.load_cpu,
    })
}

type Fetched = (PagingReport, PagingReport, u64);

async fn fetch_half(
    client: &ScimClient,
    options: &SyncOptions,
    progress: &Progress,
    tx: &mpsc::Sender<Batch>,
) -> Result<Fetched, SyncError> {
    let mut users = options.wants(ResourceTypeId::User).then(|| client.users());
    let mut groups: Option<Pager<ScimGroup>> = options.wants(ResourceTypeId::Group).then(|| client.groups());
    let mut users_paging = PagingReport::default();
    let mut groups_paging = PagingReport::default();
    let mut group_reads = 0;
    let queue = Arc::new(Semaphore::new(QUEUED_ITEMS as usize));
    // The two lists are walked side by side, each step taking a page from the one further
    // behind (by share of its totalResults), so that both end together. A group page brings
    // every membership of a hundred groups, most of the writer's work; spread among the user
    // pages, that work is done while the fetch is still busy instead of after it.
    loop {
        let take_users = match (&users, &groups) {
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
            (Some(u), Some(g)) => share_done(u.report()) <= share_done(g.report()),
        };
        if take_users {
            let Some(pager) = users.as_mut() else { break };
            match pager.next_page().await? {
                Some(page) => {
                    progress.add_page();
                    let permit = queue_slot(&queue, page.len()).await?;
                    send(tx, Batch::Users(page, permit)).await?;
                }
                None => {
                    users_paging = pager.report().clone();
                    tracing::info!(
                        users = users_paging.distinct,
                        pages = users_paging.pages,
                        "users listed"
                    );
                    users = None;
                }
            }
        } else {
            let Some(pager) = groups.as_mut() else { break };
            match pager.next_page().await? {
                Some(page) => {
                    progress.add_page();
                    let (page, reads) = complete_members(client, page, options.group_read_concurrency).await?;
                    group_reads += reads;
                    let items = page.iter().map(|g| 1 + g.members.as_ref().map_or(0, Vec::len)).sum();
                    let permit = queue_slot(&queue, items).await?;
                    send(tx, Batch::Groups(page, permit)).await?;
                }
                None => {
                    groups_paging = pager.report().clone();
                    tracing::info!(
                        groups = groups_paging.distinct,
                        pages = groups_paging.pages,
                        group_reads,
                        "groups listed"
                    );
                    groups = None;
                }
            }
        }
    }
    Ok((users_paging, groups_paging, group_reads))
}

/// How far a walk is: the share of its `totalResults` handed out (0 before the first page, and
/// without a total, so such a list simply alternates with the other).
fn share_done(report: &PagingReport) -> f64 {
    match report.total_results {
        Some(total) if total > 0 => report.distinct as f64 / total as f64,
        _ => 0.0,
    }
}

/// Waits until `items` more fit in the queue (a page bigger than the whole queue waits for it to
/// empty) and takes their room.
async fn queue_slot(queue: &Arc<Semaphore>, items: usize) -> Result<OwnedSemaphorePermit, SyncError> {
    let wanted = u32::try_from(items).unwrap_or(u32::MAX).clamp(1, QUEUED_ITEMS);
    Arc::clone(queue)
        .acquire_many_owned(wanted)
        .await
        .map_err(|_| SyncError::Writer("the queue to the c1z writer closed".into()))
}

async fn send(tx: &mpsc::Sender<Batch>, batch: Batch) -> Result<(), SyncError> {
    // The writer only drops its end when it failed; its own error explains why.
    tx.send(batch)
        .await
        .map_err(|_| SyncError::Writer("the c1z writer failed".into()))
}

/// Reads by id each group whose list entry had no `members`, keeping the page's order. A group
/// gone by then (404) is dropped: it no longer exists to sync.
async fn complete_members(
    client: &ScimClient,
    page: Vec<ScimGroup>,
    concurrency: usize,
) -> Result<(Vec<ScimGroup>, u64), ScimError> {
    if page.iter().all(|g| g.members.is_some()) {
        return Ok((page, 0));
    }
    let reads = page.iter().filter(|g| g.members.is_none()).count() as u64;
    let results: Vec<Result<Option<ScimGroup>, ScimError>> = stream::iter(page)
        .map(|g| async move {
            if g.members.is_some() {
                return Ok(Some(g));
            }
            match client.get_group(&g.id).await? {
                Some(mut full) => {
                    // The id the list gave is the one the run is keyed on.
                    full.id = g.id;
                    if full.members.is_none() {
                        full.members = Some(Vec::new());
                    }
                    Ok(Some(full))
                }
                None => {
                    tracing::warn!(group = %g.id, "group listed but gone when read by id; skipping it");
                    Ok(None)
                }
            }
        })
        .buffered(concurrency.max(1))
        .collect()
        .await;
    let mut out = Vec::with_capacity(results.len());
    for r in results {
        if let Some(g) = r? {
            out.push(g);
        }
    }
    Ok((out, reads))
}

fn write_half(
    path: &Path,
    options: &SyncOptions,
    mut rx: mpsc::Receiver<Batch>,
    progress: &Progress,
) -> Result<(Option<SyncSummary>, WriteCounts), SyncError> {
    let mut writer = C1zWriter::open(path)?;
    let sync_id = writer.start_sync()?;
    tracing::info!(sync_id = %sync_id, file = %path.display(), "sync started");
    let wants_users = options.wants(ResourceTypeId::User);
    let wants_groups = options.wants(ResourceTypeId::Group);
    let wants_roles = options.wants(ResourceTypeId::Role);

    if wants_users {
        writer.put_resource_type(&model::user_resource_type())?;
    }
    if wants_groups {
        writer.put_resource_type(&model::group_resource_type())?;
    }
    if wants_roles {
        writer.put_resource_type(&model::role_resource_type())?;
        for role in model::role_resources() {
            writer.put_resource(&role)?;
            writer.put_entitlement(&model::role_assigned_entitlement(&role))?;
        }
    }

    // What each role grant's entitlement holds, encoded once per grant batch by the writer.
    let role_grants: Vec<(&str, proto::Entitlement)> = model::ROLES
        .iter()
        .map(|r| (r.id, model::role_grant_entitlement(r)))
        .collect();
    let mut counts = WriteCounts::default();
    let mut waited = Duration::ZERO;
    let cpu_at_start = procstat::thread_cpu_time();
    let loading = Instant::now();
    loop {
        let t = Instant::now();
        let Some(batch) = rx.blocking_recv() else { break };
        waited += t.elapsed();
        match batch {
            Batch::Users(users, _room) => {
                for user in &users {
                    writer.put_resource(&model::user_resource(user))?;
                    let role = model::user_role(user).and_then(|r| role_grants.iter().find(|(id, _)| *id == r.id));
                    if let Some((_, entitlement)) = role {
                        let principal = proto::ResourceId::new(model::USER, user.id.clone());
                        let id = model::grant_id(&entitlement.id, &principal);
                        writer.put_grants(entitlement, [(id.as_str(), &principal)])?;
                    }
                }
                counts.users += users.len() as u64;
                progress.add_users(users.len() as u64);
            }
            Batch::Groups(groups, _room) => {
                for group in &groups {
                    let resource = model::group_resource(group);
                    writer.put_resource(&resource)?;
                    writer.put_entitlement(&model::group_member_entitlement(&resource))?;
                    let members = group.members.as_deref().unwrap_or_default();
                    let entitlement = model::grant_entitlement(&resource, model::MEMBER_SLUG);
                    let principals = model::member_principals(members);
                    let ids: Vec<String> = principals.iter().map(|p| model::grant_id(&entitlement.id, p)).collect();
                    writer.put_grants(&entitlement, ids.iter().map(String::as_str).zip(&principals))?;
                    counts.memberships += principals.len() as u64;
                    progress.add_memberships(principals.len() as u64);
                }
                counts.groups += groups.len() as u64;
                progress.add_groups(groups.len() as u64);
            }
            Batch::Finish => {
                counts.load = loading.elapsed();
                counts.waited = waited;
                counts.load_cpu = procstat::thread_cpu_time().saturating_sub(cpu_at_start);
                let finishing = Instant::now();
                let summary = writer.finish()?;
                counts.finish = finishing.elapsed();
                tracing::info!(finish_ms = finishing.elapsed().as_millis() as u64, "c1z published");
                tracing::info!(
                    sync_id = %summary.sync_id,
                    resources = summary.resources,
                    entitlements = summary.entitlements,
                    grants = summary.grants,
                    bytes = summary.bytes,
                    "c1z written"
                );
                return Ok((Some(summary), counts));
            }
        }
    }
    // The fetch half stopped without Finish: drop the writer unfinished, file untouched.
    Ok((None, counts))
}
