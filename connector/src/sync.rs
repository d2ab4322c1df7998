//! One full sync: SCIM pages in, a new sync run in the c1z file out.
//!
//! Two halves joined by a small bounded channel, so that fetching the next page overlaps writing
//! the last one and the organisation is never held in memory:
//! - the **fetch half** (async, this task) walks `/Users` and `/Groups` side by side with
//!   [`Pager`]s (a page from whichever is further behind, so group pages, the writer's heavy
//!   ones, are spread through the sync), reads a group by id only when its list entry came
//!   without `members`, and sends each page on. Each pager fetches the pages it expects next
//!   on tasks of their own, so both lists' requests overlap (at most the client's
//!   `--requests-in-flight` on the wire) while this task handles pages one at a time, in list
//!   order; what is held is bounded by those windows, never the org;
//! - group memberships are checked against the user list: a membership whose user no user
//!   page has shown yet waits (as two ids) until that user's page comes; one still waiting when
//!   both lists are done is settled by reading the user by id: written with the user if it
//!   exists, dropped with a warning if it is gone. So no grant points at a user missing from
//!   the file, and none is dropped silently;
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

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use crate::c1z::{C1zError, C1zWriter, SyncSummary};
use crate::config::{ResourceTypeId, Settings};
use crate::model;
use crate::procstat;
use crate::progress::Progress;
use crate::proto;
use crate::scim::client::pager::DEFAULT_MAX_WALKS;
use crate::scim::client::{encode_path_segment, Pager, PagingReport, ScimClient, ScimError, DEFAULT_IN_FLIGHT};
use crate::scim::ids::IdMap;
use crate::scim::types::{ScimGroup, ScimUser};

/// Items (users, groups and memberships) waiting between the halves at most. A group page can
/// hold thousands of memberships and keeps the writer busy for a while; this lets the fetch go
/// on with user pages meanwhile (about 160 of them), and bounds memory whatever the pages hold.
const QUEUED_ITEMS: u32 = 16_384;

/// Pages waiting between the halves at most; [`QUEUED_ITEMS`] is the bound that matters.
const CHANNEL_PAGES: usize = 256;

/// A group's member grants are made and stored this many at a time.
const GRANTS_AT_ONCE: usize = 4_096;

/// What to sync, and how.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    pub resource_types: Vec<ResourceTypeId>,
    /// Group reads by id in flight at once, when a list leaves members out (also the user
    /// reads that settle memberships no user page showed).
    pub group_read_concurrency: usize,
    /// Walks of each list before a list that keeps changing fails the sync
    /// (`--max-list-walks`; see [`crate::scim::client::pager`]).
    pub max_list_walks: u32,
}

impl Default for SyncOptions {
    fn default() -> Self {
        Self {
            resource_types: ResourceTypeId::ALL.to_vec(),
            group_read_concurrency: 4,
            max_list_walks: DEFAULT_MAX_WALKS,
        }
    }
}

impl SyncOptions {
    /// What a run's settings ask for: the one place the binary, and anything that drives the
    /// connector in-process as its binary would (the conformance runner), turn settings into
    /// a sync's options, so that no setting is honoured by one and ignored by the other.
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            resource_types: settings.sync_resource_types.clone(),
            group_read_concurrency: usize::try_from(settings.requests_in_flight)
                .unwrap_or(DEFAULT_IN_FLIGHT)
                .max(1),
            max_list_walks: settings.max_list_walks,
        }
    }

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
    /// Users read by id because a group listed them and no user page did (they were added, or
    /// slipped past the user list, during the sync); each is in the file.
    pub members_fetched: u64,
    /// Memberships left out because their user was gone when read by id (removed during the
    /// sync); each was logged.
    pub memberships_dropped: u64,
    /// Requests sent, retries included.
    pub requests: u64,
    pub retries: u64,
    /// Answers that were HTTP 429 (each also counted in `retries`).
    pub rate_limited: u64,
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
    /// Groups with their members; (position, index) of those with members held back, whose
    /// entitlements the writer keeps for [`Batch::Members`].
    Groups(Vec<ScimGroup>, Vec<(usize, u32)>, OwnedSemaphorePermit),
    /// More members of groups already written, by group index: only their membership grants.
    Members(HeldMembers, OwnedSemaphorePermit),
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
    let (fetched, (summary, counts)) = match (fetched, written) {
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
        group_reads: fetched.group_reads,
        members_fetched: fetched.members_fetched,
        memberships_dropped: fetched.memberships_dropped,
        requests: after.requests - before.requests,
        retries: after.retries - before.retries,
        rate_limited: after.rate_limited - before.rate_limited,
        users_paging: fetched.users_paging,
        groups_paging: fetched.groups_paging,
        elapsed: started.elapsed(),
        write_load: counts.load,
        write_waited: counts.waited,
        write_finish: counts.finish,
        write_load_cpu: counts.load_cpu,
    })
}

/// What the fetch half did.
#[derive(Debug, Default)]
struct Fetched {
    users_paging: PagingReport,
    groups_paging: PagingReport,
    group_reads: u64,
    members_fetched: u64,
    memberships_dropped: u64,
}

async fn fetch_half(
    client: &ScimClient,
    options: &SyncOptions,
    progress: &Progress,
    tx: &mpsc::Sender<Batch>,
) -> Result<Fetched, SyncError> {
    let walks = options.max_list_walks;
    let mut users = options
        .wants(ResourceTypeId::User)
        .then(|| client.users().with_max_walks(walks));
    let mut users_done = false;
    let mut groups: Option<Pager<ScimGroup>> = options
        .wants(ResourceTypeId::Group)
        .then(|| client.groups().with_max_walks(walks));
    // Memberships are checked against the user list only when both are synced: a group-only
    // sync holds no users to point at.
    // Both lists' first pages go together: each says how long its list is, which opens the
    // pages fetched ahead.
    users.iter_mut().for_each(Pager::prefetch_first_page);
    groups.iter_mut().for_each(Pager::prefetch_first_page);
    let mut waiting = (users.is_some() && groups.is_some()).then(WaitingMembers::default);
    let mut fetched = Fetched::default();
    let queue = Arc::new(Semaphore::new(QUEUED_ITEMS as usize));
    // The two lists are walked side by side, each step taking a page from the one further
    // behind (by share of its totalResults), so that both end together. A group page brings
    // every membership of a hundred groups, most of the writer's work; spread among the user
    // pages, that work is done while the fetch is still busy instead of after it.
    loop {
        let take_users = match (users.as_ref().filter(|_| !users_done), &groups) {
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
                    let members = waiting.as_mut().map(|w| w.take_for(&page)).unwrap_or_default();
                    let permit = queue_slot(&queue, page.len()).await?;
                    send(tx, Batch::Users(page, permit)).await?;
                    send_members(tx, &queue, members).await?;
                }
                None => {
                    fetched.users_paging = pager.report().clone();
                    tracing::info!(
                        users = fetched.users_paging.distinct,
                        pages = fetched.users_paging.pages,
                        walks = fetched.users_paging.walks,
                        "users listed"
                    );
                    // The pager stays: it knows which ids were listed.
                    users_done = true;
                    let members = waiting.as_mut().map(WaitingMembers::take_ready).unwrap_or_default();
                    send_members(tx, &queue, members).await?;
                }
            }
        } else {
            let Some(pager) = groups.as_mut() else { break };
            match pager.next_page().await? {
                Some(page) => {
                    progress.add_page();
                    let (mut page, reads) = complete_members(client, page, options.group_read_concurrency).await?;
                    fetched.group_reads += reads;
                    let held = match (waiting.as_mut(), users.as_ref()) {
                        (Some(w), Some(listed)) => w.hold_unlisted(&mut page, listed),
                        _ => Vec::new(),
                    };
                    let items = page.iter().map(|g| 1 + g.members.as_ref().map_or(0, Vec::len)).sum();
                    let permit = queue_slot(&queue, items).await?;
                    send(tx, Batch::Groups(page, held, permit)).await?;
                }
                None => {
                    fetched.groups_paging = pager.report().clone();
                    tracing::info!(
                        groups = fetched.groups_paging.distinct,
                        pages = fetched.groups_paging.pages,
                        walks = fetched.groups_paging.walks,
                        group_reads = fetched.group_reads,
                        "groups listed"
                    );
                    groups = None;
                }
            }
        }
    }
    if let Some(w) = waiting.filter(|w| !w.by_user.is_empty()) {
        settle_unlisted_members(client, options, w, tx, &queue, &mut fetched).await?;
    }
    Ok(fetched)
}

/// Memberships whose user no user page has shown yet, kept small: each group holding some gets
/// an index (the writer keeps its entitlement under it), and each such user the indices of
/// its groups.
#[derive(Debug, Default)]
struct WaitingMembers {
    /// Group ids by index, for the warnings about members that are gone.
    groups: Vec<String>,
    /// Group indices by user id (UUIDs kept as 16 bytes: at a million users, half a million
    /// may wait at once).
    by_user: IdMap<GroupIndices>,
    /// Memberships whose user has been listed since, by group index, gathered so that the
    /// writer handles each group's in few calls rather than one per user page.
    ready: HashMap<u32, Vec<String>>,
    ready_count: usize,
}

/// The groups (by index) a held user is a member of: 16 bytes, one inline. Most users wait for
/// one group; at a million users, 290,000 waited at once.
#[derive(Debug)]
enum GroupIndices {
    One(u32),
    Many(Box<[u32]>),
}

impl GroupIndices {
    fn as_slice(&self) -> &[u32] {
        match self {
            Self::One(index) => std::slice::from_ref(index),
            Self::Many(indices) => indices,
        }
    }

    /// Adds a group; a member listed twice in one group (in a row, as a group's members come)
    /// makes one grant.
    fn add(&mut self, index: u32) {
        if self.as_slice().last() == Some(&index) {
            return;
        }
        let mut all = Vec::with_capacity(self.as_slice().len() + 1);
        all.extend_from_slice(self.as_slice());
        all.push(index);
        *self = Self::Many(all.into_boxed_slice());
    }
}

/// Ready memberships gathered before they go to the writer: a few group pages' worth.
const READY_MEMBERSHIPS: usize = 16_384;

/// Memberships to write for groups already written: (group index, user ids).
type HeldMembers = Vec<(u32, Vec<String>)>;

impl WaitingMembers {
    /// Keeps in each group only the members already listed as users and holds the others
    /// back. Answers (position on the page, index) of each group that now holds some.
    fn hold_unlisted(&mut self, page: &mut [ScimGroup], users: &Pager<ScimUser>) -> Vec<(usize, u32)> {
        let mut held_groups = Vec::new();
        for (position, group) in page.iter_mut().enumerate() {
            let Some(members) = group.members.as_mut() else {
                continue;
            };
            let index = self.groups.len() as u32;
            let mut held = false;
            members.retain_mut(|m| {
                if m.value.is_empty() || users.has_seen(&m.value) {
                    return true;
                }
                let (groups, new) = self.by_user.get_or_insert_with(&m.value, || GroupIndices::One(index));
                if !new {
                    groups.add(index);
                }
                held = true;
                false
            });
            if held {
                self.groups.push(group.id.clone());
                held_groups.push((position, index));
            }
        }
        held_groups
    }

    /// Moves the held memberships of the users on this page to the ready ones; answers them
    /// once enough are ready.
    fn take_for(&mut self, users: &[ScimUser]) -> HeldMembers {
        if self.by_user.is_empty() {
            return Vec::new();
        }
        for user in users {
            let Some(groups) = self.by_user.remove(&user.id) else {
                continue;
            };
            self.ready_count += groups.as_slice().len();
            for &index in groups.as_slice() {
                self.ready.entry(index).or_default().push(user.id.clone());
            }
        }
        if self.ready_count < READY_MEMBERSHIPS {
            return Vec::new();
        }
        self.take_ready()
    }

    /// Every ready membership.
    fn take_ready(&mut self) -> HeldMembers {
        self.ready_count = 0;
        sorted(std::mem::take(&mut self.ready))
    }
}

/// By group index, so that the grants come in the same order every time.
fn sorted(by_group: HashMap<u32, Vec<String>>) -> HeldMembers {
    let mut out: HeldMembers = by_group.into_iter().collect();
    out.sort_by_key(|(index, _)| *index);
    out
}

async fn send_members(tx: &mpsc::Sender<Batch>, queue: &Arc<Semaphore>, members: HeldMembers) -> Result<(), SyncError> {
    if members.is_empty() {
        return Ok(());
    }
    let items = members.iter().map(|(_, ids)| ids.len()).sum();
    let permit = queue_slot(queue, items).await?;
    send(tx, Batch::Members(members, permit)).await
}

/// Memberships still held when both lists are done: each user is read by id. One that exists
/// (added during the sync, or missed by the user list) is written with its memberships; one
/// that is gone (removed during the sync) takes its memberships with it, each logged.
async fn settle_unlisted_members(
    client: &ScimClient,
    options: &SyncOptions,
    mut waiting: WaitingMembers,
    tx: &mpsc::Sender<Batch>,
    queue: &Arc<Semaphore>,
    fetched: &mut Fetched,
) -> Result<(), SyncError> {
    let mut ids: Vec<String> = waiting.by_user.ids().collect();
    ids.sort();
    tracing::info!(
        users = ids.len(),
        "groups list members that no user page showed; reading each by id"
    );
    let reads: Vec<Result<(String, Option<ScimUser>), ScimError>> = stream::iter(ids)
        .map(|id| async move {
            let user = get_user(client, &id).await?;
            Ok((id, user))
        })
        .buffered(options.group_read_concurrency.max(1))
        .collect()
        .await;
    let mut found = Vec::new();
    let mut by_group: HashMap<u32, Vec<String>> = HashMap::new();
    for read in reads {
        let (id, user) = read?;
        let groups = waiting
            .by_user
            .remove(&id)
            .map(|g| g.as_slice().to_vec())
            .unwrap_or_default();
        match user {
            Some(mut user) => {
                // The id the group gave is the one its grants are keyed on.
                user.id.clone_from(&id);
                for index in groups {
                    by_group.entry(index).or_default().push(id.clone());
                }
                found.push(user);
            }
            None => {
                let names: Vec<&str> = groups
                    .iter()
                    .filter_map(|i| waiting.groups.get(*i as usize))
                    .map(String::as_str)
                    .collect();
                tracing::warn!(
                    user = %id,
                    groups = ?names,
                    "a group listed this user as a member, but the user is gone (removed during the \
                     sync); leaving the membership out"
                );
                fetched.memberships_dropped += groups.len() as u64;
            }
        }
    }
    fetched.members_fetched = found.len() as u64;
    let mut members = waiting.take_ready();
    members.extend(sorted(by_group));
    for chunk in found.chunks(100) {
        let permit = queue_slot(queue, chunk.len()).await?;
        send(tx, Batch::Users(chunk.to_vec(), permit)).await?;
    }
    send_members(tx, queue, members).await?;
    if fetched.members_fetched > 0 || fetched.memberships_dropped > 0 {
        tracing::warn!(
            users_read = fetched.members_fetched,
            memberships_dropped = fetched.memberships_dropped,
            "memberships checked against the user list"
        );
    }
    Ok(())
}

/// `GET /Users/{id}`: `None` when the user is gone (404).
async fn get_user(client: &ScimClient, id: &str) -> Result<Option<ScimUser>, ScimError> {
    let path = format!("/Users/{}", encode_path_segment(id));
    let reply = client.get_reply(&path, &[]).await?;
    match reply.status {
        404 => Ok(None),
        _ if reply.is_success() => reply.json(&format!("GET {path}")).map(Some),
        status => Err(ScimError::Http {
            request: format!("GET {path}"),
            status,
            detail: reply.detail(),
        }),
    }
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
    // The `member` entitlement of each group whose members were partly held back, by index.
    let mut held_entitlements: HashMap<u32, proto::Entitlement> = HashMap::new();
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
            Batch::Groups(groups, held, _room) => {
                let mut held = held.into_iter().peekable();
                for (position, group) in groups.iter().enumerate() {
                    let resource = model::group_resource(group);
                    writer.put_resource(&resource)?;
                    writer.put_entitlement(&model::group_member_entitlement(&resource))?;
                    let members = group.members.as_deref().unwrap_or_default();
                    let entitlement = model::grant_entitlement(&resource, model::MEMBER_SLUG);
                    // A group may hold hundreds of thousands of members: their grants are made
                    // and stored a few thousand at a time.
                    let member_ids = model::member_ids(members);
                    for chunk in member_ids.chunks(GRANTS_AT_ONCE) {
                        let principals: Vec<proto::ResourceId> = chunk
                            .iter()
                            .map(|id| proto::ResourceId::new(model::USER, *id))
                            .collect();
                        let ids: Vec<String> = principals.iter().map(|p| model::grant_id(&entitlement.id, p)).collect();
                        writer.put_grants(&entitlement, ids.iter().map(String::as_str).zip(&principals))?;
                    }
                    counts.memberships += member_ids.len() as u64;
                    progress.add_memberships(member_ids.len() as u64);
                    if let Some((_, index)) = held.next_if(|(p, _)| *p == position) {
                        held_entitlements.insert(index, entitlement);
                    }
                }
                counts.groups += groups.len() as u64;
                progress.add_groups(groups.len() as u64);
            }
            Batch::Members(members, _room) => {
                for (index, users) in &members {
                    let Some(entitlement) = held_entitlements.get(index) else {
                        return Err(SyncError::Writer(format!(
                            "members for group #{index}, which was never written"
                        )));
                    };
                    let principals: Vec<proto::ResourceId> = users
                        .iter()
                        .map(|u| proto::ResourceId::new(model::USER, u.clone()))
                        .collect();
                    let ids: Vec<String> = principals.iter().map(|p| model::grant_id(&entitlement.id, p)).collect();
                    writer.put_grants(entitlement, ids.iter().map(String::as_str).zip(&principals))?;
                    counts.memberships += principals.len() as u64;
                    progress.add_memberships(principals.len() as u64);
                }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_users_groups_keep_their_order_and_a_repeat_counts_once() {
        let mut groups = GroupIndices::One(3);
        assert_eq!(std::mem::size_of::<GroupIndices>(), 16);
        groups.add(3);
        assert_eq!(groups.as_slice(), &[3]);
        groups.add(7);
        groups.add(7);
        groups.add(1);
        assert_eq!(groups.as_slice(), &[3, 7, 1]);
    }
}
