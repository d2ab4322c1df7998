//! Walking a SCIM list endpoint without trusting its counts, while the list may change.
//!
//! Notion pages by offset (`startIndex`). When the org changes during a walk (someone is
//! removed before the walk's position, or the order moves) every later item shifts, and one
//! can fall between two pages: present the whole time, seen by no page. No walk that asks each
//! position once can notice every such loss: a removal before the walk's position and an
//! addition after it, between the same two requests, give exactly the pages of a quiet org
//! that never had the lost user. So each page after the first starts at the last item of the
//! page before (the *anchor*): if the anchor is where it was, nothing before it moved in or out
//! since, and the walk goes on. Such a page asks for one item more than the page size, so that
//! it still brings a page of new items: no request more than a plain walk. At Notion's maximum
//! of 100 it cannot, and brings 99: no request more either while the last page has room for the
//! difference (every list up to 100 items, most up to a few thousand), about one in a hundred
//! beyond ([`pages_for`]).
//!
//! **Pages ahead.** The walk decides where each page starts from the page before, so it reads
//! pages one after another, in list order; but on a quiet list that start is known in advance
//! (each full page starts at the last item of the one before, `full - 1` further on). So once a
//! walk's first page has said `totalResults`, the pager also asks for the pages it expects
//! next, up to the client's `max_in_flight` beyond the one it waits for (one more than the
//! wire holds, so that a request slot freed by a page that came back early never waits for the
//! walk to reach that page), and holds their answers until the walk reaches them. A page fetched ahead is used only if the walk asks for exactly that
//! `startIndex` and `count`; when the walk goes elsewhere (a step back, a walk ending or
//! starting again), the pages fetched ahead are discarded ([`PagingReport::discarded`]) and
//! fetching ahead starts again from the walk's new place. A discarded page is still read: its
//! items exist, and any not handed out yet is handed out, as a page the walk cannot place is. Nothing below depends on when a page was fetched: the anchor's argument
//! compares two pages' contents and counts whatever their order in time (an item present
//! throughout and after the anchor in list order is after it on both), and a page is judged
//! against the one before it in list order. So fetching ahead changes what a walk costs in
//! time, never what it vouches for. Fetching ahead stops at `totalResults`: beyond it (a count
//! that is low) and without one, the walk goes a page at a time. The window is topped up as
//! soon as a page is handed out ([`Pager::top_up`]), not when the walk next asks (a sync takes
//! pages from two lists in turn and may not come back to this one for a while), and a sync
//! asks for both lists' first pages at once ([`Pager::prefetch_first_page`]).
//!
//! What each page can say, and what the walk does:
//!
//! - **The anchor is first**: no shift; the rest of the page is new to this walk.
//! - **The anchor is further in**: items came in before it (additions, or a move). The items
//!   before it on this page are read now; the walk goes on after it.
//! - **The anchor is gone from the page**: the list shifted left (removals before it), or the
//!   anchor itself went. The walk aligns on any other item it read earlier in this walk; if the
//!   page holds none, it hands out the page's new items and *steps back* a page to find its
//!   place. Any item the walk read can anchor it: with only additions and removals, the items
//!   before it are still ones the walk read (or new ones).
//! - A shift that the change of `totalResults` does not explain (a right shift with no growth,
//!   an anchor gone while the count did not drop), an id read earlier in this walk coming again
//!   after the walk's position, or an id twice on one page: the **order moved**, not just the
//!   contents; no single walk can then vouch for the set.
//! - The walk **ends** on a short page, or on the page that reaches `totalResults`; it ended
//!   where it should when its last position equals the last page's `totalResults`. Ending short
//!   or long means either a server whose count is off (Notion may overstate `totalResults`) or
//!   contents that moved.
//!
//! A walk in which every shift was explained and which ended where `totalResults` said is
//! complete for every item present throughout it: the list is accepted after that one walk,
//! however much was added or removed meanwhile ([`Settled::Consistent`]). Otherwise the list is
//! walked again from the start (handing out only ids not handed out before), up to
//! `max_walks` walks in all, and accepted when a walk is consistent, or when two walks in a
//! row saw exactly the same ids under the same `totalResults` on every page (a server that
//! lies the same way every time, as one overstating `totalResults`: [`Settled::WalksAgree`]),
//! or when every page of every walk said the same `totalResults` and the walks together found
//! exactly that many ids (the order moved, the contents never did:
//! [`Settled::SameSizeThroughout`]). Else the walk fails with what it saw.
//!
//! What stays possible: an item moving back across the walk's position while, between the
//! same two requests, exactly as many items before the position go and after it come, so that
//! neither the anchor nor `totalResults` shows anything. With only additions and removals (no
//! reordering), nothing present throughout a walk is lost.
//!
//! Bounds: a walk may take at most `pages(max(totalResults, ids)) + 3 + 10%` pages that move
//! forward (more means a server that never ends), and half that plus three requests that step
//! back or read again (more abandons the walk: it cannot vouch for the list). Without any
//! `totalResults` the forward cap is [`PAGE_CAP_WITHOUT_TOTAL`], the steps back half the pages
//! walked plus three, and a short page ends the walk. Three forward pages in a row with nothing
//! new to the walk end it with an error: a server repeating itself. `itemsPerPage` is never
//! used (Notion's may be 0 or missing): the length of `Resources` is what counts. Ids are held
//! for the whole sync; resources are not.

use std::collections::hash_map::DefaultHasher;
use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;

use serde::de::DeserializeOwned;

use super::{Resource, ScimClient, ScimError, MAX_PAGE_SIZE};
use crate::scim::ids::IdMap;
use crate::scim::types::{ListResponse, ScimGroup, ScimUser};

/// Walks of one list a sync may make before it gives up (the `--max-list-walks` default).
pub const DEFAULT_MAX_WALKS: u32 = 4;
/// Pages a walk may take when the server gives no `totalResults`.
pub const PAGE_CAP_WITHOUT_TOTAL: u64 = 100_000;
/// Forward pages in a row without an id new to the walk that end it with an error.
const MAX_STALLED_PAGES: u32 = 3;

/// A resource with a SCIM id.
pub trait HasId {
    fn id(&self) -> &str;
}

impl HasId for ScimUser {
    fn id(&self) -> &str {
        &self.id
    }
}

impl HasId for ScimGroup {
    fn id(&self) -> &str {
        &self.id
    }
}

/// Why a list was taken as complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// A walk in which every shift of the list was explained by additions or removals and
    /// which ended where `totalResults` said.
    Consistent,
    /// Two walks in a row saw the same ids under the same `totalResults` on every page: the
    /// server's counts or pages are off the same way every time.
    WalksAgree,
    /// Every page said the same `totalResults`, and the walks together found exactly that many
    /// ids: the order moved, the contents did not.
    SameSizeThroughout,
}

/// What a finished walk saw: for logs, and for tests that check the defences fired.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PagingReport {
    /// List requests made, steps back included.
    pub pages: u64,
    /// Ids handed out.
    pub distinct: u64,
    /// Ids that came again where the walk did not expect them (beyond each page's overlap with
    /// the page before): an id on two pages.
    pub duplicates: u64,
    /// Walks after the first.
    pub repair_passes: u32,
    /// Walks made in all.
    pub walks: u32,
    /// Page boundaries where the list had shifted since the page before.
    pub shifts: u64,
    /// Requests that stepped back to find the walk's place.
    pub rereads: u64,
    /// Pages fetched ahead that the walk did not use (it went elsewhere: the list moved, or a
    /// walk ended); their requests were cancelled or their answers dropped.
    pub discarded: u64,
    /// The first page's `totalResults`.
    pub total_results: Option<u64>,
    /// The last page's `totalResults`.
    pub last_total: Option<u64>,
    /// How the list was taken as complete; `None` until it is.
    pub settled: Option<Settled>,
}

/// Where a walk stands in the list.
#[derive(Debug, Clone)]
struct Anchor {
    id: String,
    /// Its 1-based position when read.
    index: u64,
    /// `totalResults` of the page it was read on.
    total: Option<u64>,
}

/// An id handed out, and where the current walk last read it. Twelve bytes: one is held for
/// every id of the list until the sync ends.
#[derive(Debug, Clone, Copy)]
struct Known {
    /// The walk that last read it in its place (0: only on a page the walk could not place).
    walk: u32,
    /// The page it was read on then (an index into [`Pager::marks`]; [`NOWHERE`] with walk 0),
    /// and its place on that page: its 1-based position is the page's `startIndex` + `slot`.
    page: u32,
    slot: u32,
}

/// The page of an id read only on pages the walk could not place.
const NOWHERE: u32 = u32::MAX;

impl Known {
    /// Handed out from a page the walk could not place (or a page fetched ahead and dropped).
    fn unplaced() -> Self {
        Self {
            walk: 0,
            page: NOWHERE,
            slot: 0,
        }
    }
}

/// A page read in its place: where it started, and the `totalResults` it said.
#[derive(Debug, Clone, Copy)]
struct PageMark {
    start: u64,
    total: Option<u64>,
}

/// Ids whose table is made room for at once when a list's first page says how long it is: a
/// million (growing a table past it briefly holds two). A server may claim any `totalResults`.
const RESERVE_AT_MOST: u64 = 1 << 20;

/// One walk from `startIndex=1` to the end.
#[derive(Debug, Default)]
struct Walk {
    number: u32,
    next_start: u64,
    anchor: Option<Anchor>,
    /// The furthest `startIndex` this walk asked for: pages beyond it are forward progress.
    high_water: u64,
    forward_pages: u64,
    /// Requests that did not move the walk forward (stepping back, reading again).
    backtrack: u64,
    /// Forward pages in a row that brought nothing new to this walk.
    stalled: u32,
    /// Ids read in their place in this walk, and an order-free digest of them.
    read: u64,
    digest: u64,
    first_total: Option<u64>,
    /// Every page of this walk said `first_total`.
    total_constant: bool,
    /// Requests made in this walk.
    requests: u64,
    /// The first sign that the order moved, in words.
    moved: Option<String>,
    /// The walk went past `totalResults` on a full page: the count is low.
    past_total: bool,
}

/// How a walk ended.
#[derive(Debug, Clone)]
struct WalkEnd {
    read: u64,
    digest: u64,
    total: Option<u64>,
    total_constant: bool,
    /// Ended where `totalResults` said and saw no sign of a moved order.
    consistent: bool,
    last_position: u64,
}

/// A page requested ahead of the walk, on its own task so that it progresses while the sync
/// waits for something else; aborted when dropped.
struct Ahead<T> {
    start: u64,
    count: u32,
    task: tokio::task::JoinHandle<Result<ListResponse<T>, ScimError>>,
}

impl<T> std::fmt::Debug for Ahead<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Ahead(startIndex={}, count={})", self.start, self.count)
    }
}

impl<T> Drop for Ahead<T> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Walks one list endpoint. Call [`Pager::next_page`] until it returns `Ok(None)`.
#[derive(Debug)]
pub struct Pager<T> {
    client: ScimClient,
    resource: Resource,
    /// `count` asked for on a page at the list's start (the configured page size).
    first_count: u32,
    /// `count` asked for on later pages: one more, for the item they share with the page before
    /// (within Notion's 100, and at least 2 so that a page can bring something new).
    next_count: u32,
    /// The most a page holds when the server gives fewer than asked (it clamps `count`).
    clamp: Option<u64>,
    max_walks: u32,
    known: IdMap<Known>,
    /// Every page read in its place, for the positions in [`Known`].
    marks: Vec<PageMark>,
    walk: Walk,
    previous: Option<WalkEnd>,
    /// Every page of every walk said this `totalResults` (`None` once two differed or one had none).
    constant_total: Option<u64>,
    totals_seen: (u64, u64),
    report: PagingReport,
    finished: bool,
    /// Pages requested ahead, in the order the walk will want them.
    ahead: VecDeque<Ahead<T>>,
    /// Pages that may be requested ahead of the one the walk waits for.
    window: usize,
    /// Items from discarded pages ahead that no page had handed out: they go with the next.
    harvested: Vec<T>,
    _items: PhantomData<fn() -> T>,
}

/// Where a page sits relative to what the walk has read.
enum Place {
    /// The page starts the list and holds nothing this walk read.
    Start,
    /// Item `k` is one the walk read; what follows it is new to the walk.
    At { k: usize, by_anchor: bool },
    /// The page holds nothing the walk read: its place is unknown.
    Lost,
}

impl<T: DeserializeOwned + HasId + Send + 'static> Pager<T> {
    pub(super) fn new(client: ScimClient, resource: Resource) -> Self {
        let page_size = client.page_size().max(1);
        // One page at a time stays one page at a time.
        let window = match client.max_in_flight() {
            0 | 1 => 0,
            n => n,
        };
        let mut pager = Self {
            client,
            resource,
            first_count: page_size,
            next_count: (page_size + 1).clamp(2, MAX_PAGE_SIZE),
            clamp: None,
            max_walks: DEFAULT_MAX_WALKS,
            known: IdMap::default(),
            marks: Vec::new(),
            walk: Walk::default(),
            previous: None,
            constant_total: None,
            totals_seen: (u64::MAX, 0),
            report: PagingReport::default(),
            finished: false,
            ahead: VecDeque::new(),
            window,
            harvested: Vec::new(),
            _items: PhantomData,
        };
        pager.start_walk();
        pager
    }

    /// Pages fetched ahead of the walk at most (0: one page at a time). By default the client's
    /// `max_in_flight` (0 when that is 1).
    pub fn with_pages_ahead(mut self, pages: usize) -> Self {
        self.window = pages;
        self
    }

    /// Asks for the list's first page now, before the walk needs it: a sync walking two lists
    /// side by side puts both first pages (which say how long each list is, and so open the
    /// pages ahead) on the wire together, instead of one round trip after the other. Must be
    /// called inside a Tokio runtime, before the first [`Pager::next_page`]; does nothing after.
    pub fn prefetch_first_page(&mut self) {
        if self.report.pages == 0 && self.ahead.is_empty() && !self.finished && self.walk.next_start == 1 {
            let page = self.spawn(1, self.first_count);
            self.ahead.push_back(page);
        }
    }

    /// At most `walks` walks of the list (at least one).
    pub fn with_max_walks(mut self, walks: u32) -> Self {
        self.max_walks = walks.max(1);
        self
    }

    pub fn report(&self) -> &PagingReport {
        &self.report
    }

    /// Whether this id was handed out.
    pub fn has_seen(&self, id: &str) -> bool {
        self.known.contains(id)
    }

    /// The next page of items not handed out before, or `None` when the list is complete.
    pub async fn next_page(&mut self) -> Result<Option<Vec<T>>, ScimError> {
        loop {
            if self.finished {
                self.discard_ahead().await;
                if self.harvested.is_empty() {
                    return Ok(None);
                }
                return Ok(Some(std::mem::take(&mut self.harvested)));
            }
            let start = self.walk.next_start;
            let forward = start > self.walk.high_water;
            if !forward {
                if self.walk.backtrack >= self.backtrack_allowance() {
                    // Finding its place again has cost half a quiet walk: this walk cannot
                    // vouch for the list; give it up.
                    self.order_moved(format!(
                        "the walk lost its place too often ({} requests to find it again, last \
                         before startIndex={})",
                        self.walk.backtrack, self.walk.high_water
                    ));
                    self.end_walk(0, self.report.last_total)?;
                    continue;
                }
                self.walk.backtrack += 1;
            }
            if forward {
                let cap = self.forward_cap();
                if self.walk.forward_pages >= cap {
                    return Err(self.error(format!(
                        "the server kept sending non-empty pages: {} pages forward in one walk, \
                         more than the {cap} that totalResults={} allows at {} per page; stopped",
                        self.walk.forward_pages,
                        self.walk.first_total.map_or("(none)".to_owned(), |t| t.to_string()),
                        self.full_page(u64::from(self.next_count)),
                    )));
                }
                self.walk.forward_pages += 1;
                self.walk.high_water = start;
            }
            // A page at the list's start shares no item with a page before it.
            let count = if start == 1 { self.first_count } else { self.next_count };
            let page = self.fetch(start, count, forward).await?;
            self.report.pages += 1;
            let total = page.total_results;
            let received = page.resources.len() as u64;
            if page.items_per_page != Some(received) {
                tracing::debug!(
                    resource = self.resource.name(),
                    items_per_page = ?page.items_per_page,
                    received,
                    "itemsPerPage does not match the page; using the items received"
                );
            }
            self.note_total(total, start, received, count);

            let place = self.place(&page.resources, start);
            let mut fresh = match place {
                Place::Lost => self.lost_page(page.resources, start),
                Place::Start => {
                    self.check_restart(start, total, received);
                    self.placed_page(page.resources, start, total, None, forward, count)?
                }
                Place::At { k, by_anchor } => {
                    self.check_shift(&page.resources, start, total, k, by_anchor);
                    self.placed_page(page.resources, start, total, Some(k), forward, count)?
                }
            };
            fresh.append(&mut self.harvested);
            if !self.finished {
                self.settle_if_same_size();
            }
            if !fresh.is_empty() {
                self.top_up();
                return Ok(Some(fresh));
            }
        }
    }

    /// After a page is handed out: the walk's next page, and the pages after it, are asked for
    /// now rather than when the walk next asks. A sync takes pages from two lists in turn, and
    /// may not come back to this one for a while; its pages ahead keep coming meanwhile.
    fn top_up(&mut self) {
        let start = self.walk.next_start;
        if self.window == 0
            || self.finished
            || self.report.last_total.is_none()
            || start <= self.walk.high_water
            || self.walk.forward_pages >= self.forward_cap()
        {
            return;
        }
        let count = if start == 1 { self.first_count } else { self.next_count };
        if self.ahead.is_empty() {
            let page = self.spawn(start, count);
            self.ahead.push_back(page);
        }
        self.fetch_ahead(start, count);
    }

    /// The page at `start`: the one fetched ahead for it, or a new request. Tops up the pages
    /// fetched ahead from there when the walk is moving forward, else drops them.
    async fn fetch(&mut self, start: u64, count: u32, forward: bool) -> Result<ListResponse<T>, ScimError> {
        // Each page ahead was placed after the one before it: if the first is not where the
        // walk goes, none is.
        let found = match self.ahead.front() {
            Some(front) if front.start == start && front.count == count => self.ahead.pop_front(),
            _ => None,
        };
        let matched = found.is_some();
        let mut page = match found {
            Some(page) => page,
            None => self.spawn(start, count),
        };
        if !matched || !forward {
            self.discard_ahead().await;
        }
        if forward {
            self.fetch_ahead(start, count);
        }
        match (&mut page.task).await {
            Ok(result) => result,
            Err(e) => Err(self.error(format!("the request for the page at startIndex={start} stopped: {e}"))),
        }
    }

    fn spawn(&self, start: u64, count: u32) -> Ahead<T> {
        let client = self.client.clone();
        let resource = self.resource;
        let task = tokio::spawn(async move { client.list_page::<T>(resource, start, count).await });
        Ahead { start, count, task }
    }

    /// Requests the pages a quiet list would have the walk ask for after the page at `start`,
    /// while they begin before the last `totalResults` seen, up to the window. Only once this
    /// walk has read a page: its first page says how long the list is (and whether the server
    /// clamps `count`).
    fn fetch_ahead(&mut self, start: u64, count: u32) {
        let Some(total) = self.report.last_total else {
            return;
        };
        if self.window == 0 || self.walk.requests == 0 || self.walk.past_total {
            return;
        }
        let (mut at, mut asked) = match self.ahead.back() {
            Some(last) => (last.start, last.count),
            None => (start, count),
        };
        while self.ahead.len() < self.window {
            let advance = self.full_page(u64::from(asked)).saturating_sub(1);
            if advance == 0 {
                return;
            }
            at += advance;
            asked = self.next_count;
            if at >= total {
                return;
            }
            let page = self.spawn(at, asked);
            self.ahead.push_back(page);
        }
    }

    /// Drops the pages fetched ahead (the walk goes elsewhere, or is done), but reads their
    /// answers first: the server showed those items, so they exist, and any not handed out
    /// yet is handed out with the walk's next page (as a page the walk cannot place is).
    /// A page ahead that failed is only dropped: the walk did not need it.
    async fn discard_ahead(&mut self) {
        while let Some(mut page) = self.ahead.pop_front() {
            self.report.discarded += 1;
            let Ok(Ok(answer)) = (&mut page.task).await else {
                continue;
            };
            for item in answer.resources {
                if self.known.get_or_insert_with(item.id(), Known::unplaced).1 {
                    self.harvested.push(item);
                }
            }
        }
        self.report.distinct = self.known.len() as u64;
    }

    fn note_total(&mut self, total: Option<u64>, start: u64, received: u64, asked: u32) {
        if self.report.pages == 1 {
            self.report.total_results = total;
            self.constant_total = total;
            if let Some(t) = total {
                self.known
                    .reserve(usize::try_from(t.min(RESERVE_AT_MOST)).unwrap_or_default());
            }
            // A server that clamps `count` lower than asked makes smaller pages; what counts as
            // a short page follows what it actually does.
            if let Some(t) = total {
                if start == 1 && received > 0 && received < u64::from(asked) && received < t {
                    self.clamp = Some(received.max(2));
                }
            }
        } else if self.constant_total != total {
            if self.constant_total.is_some() {
                tracing::debug!(
                    resource = self.resource.name(),
                    before = ?self.report.last_total,
                    now = ?total,
                    "totalResults changed during the walk"
                );
            }
            self.constant_total = None;
        }
        self.report.last_total = total;
        if let Some(t) = total {
            self.totals_seen = (self.totals_seen.0.min(t), self.totals_seen.1.max(t));
        }
        self.walk.requests += 1;
        if self.walk.requests == 1 {
            self.walk.first_total = total;
            self.walk.total_constant = true;
        } else if total != self.walk.first_total {
            self.walk.total_constant = false;
        }
    }

    /// Finds the page's place: the walk's anchor, else the last item this walk read.
    fn place(&self, items: &[T], start: u64) -> Place {
        if let Some(anchor) = &self.walk.anchor {
            if let Some(k) = items.iter().position(|i| i.id() == anchor.id) {
                return Place::At { k, by_anchor: true };
            }
        }
        let number = self.walk.number;
        if let Some(k) = items
            .iter()
            .rposition(|i| self.known.get(i.id()).is_some_and(|known| known.walk == number))
        {
            return Place::At { k, by_anchor: false };
        }
        if start == 1 {
            Place::Start
        } else {
            Place::Lost
        }
    }

    /// Notes a shift of the list at this boundary, and whether the totals explain it.
    fn check_shift(&mut self, items: &[T], start: u64, total: Option<u64>, k: usize, by_anchor: bool) {
        let Some(anchor) = self.walk.anchor.clone() else {
            return;
        };
        let now = start + k as u64;
        let growth = match (total, anchor.total) {
            (Some(t), Some(before)) => Some(t as i128 - before as i128),
            _ => None,
        };
        if by_anchor {
            let shift = now as i128 - anchor.index as i128;
            if shift == 0 {
                return;
            }
            self.report.shifts += 1;
            // Items coming in before the anchor are additions only if the count grew as much;
            // leaving, removals only if it fell as much. Anything else moved.
            let explained = growth.is_some_and(|g| if shift > 0 { g >= shift } else { -g >= -shift });
            if !explained {
                self.order_moved(format!(
                    "the item at position {} moved to {now} while totalResults went from {} to {}",
                    anchor.index,
                    show(anchor.total),
                    show(total)
                ));
            }
        } else {
            self.report.shifts += 1;
            let at = items.get(k).map(HasId::id).unwrap_or_default();
            if growth.is_none_or(|g| g >= 0) {
                self.order_moved(format!(
                    "the item at position {} left the page while totalResults did not fall ({} \
                     to {}); the walk found its place again at {at}",
                    anchor.index,
                    show(anchor.total),
                    show(total)
                ));
                return;
            }
            // The item the walk aligned on instead must have moved no further than the
            // change of the count since it was read allows.
            let Some((known_index, known_total)) = self.known.get(at).and_then(|k| self.where_read(*k)) else {
                return;
            };
            let shift = now as i128 - known_index as i128;
            let growth = match (total, known_total) {
                (Some(t), Some(before)) => Some(t as i128 - before as i128),
                _ => None,
            };
            let explained = shift == 0 || growth.is_some_and(|g| if shift > 0 { g >= shift } else { -g >= -shift });
            if !explained {
                self.order_moved(format!(
                    "{at} moved from position {} to {now} while totalResults went from {} to {}",
                    known_index,
                    show(known_total),
                    show(total)
                ));
            }
        }
    }

    /// Notes a page read in its place; answers its index for [`Known::page`].
    fn mark(&mut self, start: u64, total: Option<u64>) -> Result<u32, ScimError> {
        let page = u32::try_from(self.marks.len())
            .ok()
            .filter(|p| *p != NOWHERE)
            .ok_or_else(|| self.error(format!("more than {NOWHERE} pages read; stopped")))?;
        self.marks.push(PageMark { start, total });
        Ok(page)
    }

    /// The 1-based position an id had when this walk last read it in its place, and the
    /// `totalResults` of that page.
    fn where_read(&self, known: Known) -> Option<(u64, Option<u64>)> {
        let mark = self.marks.get(usize::try_from(known.page).ok()?)?;
        Some((mark.start + u64::from(known.slot), mark.total))
    }

    /// A step back that reached the list's start found nothing this walk read: everything it
    /// read has gone from the first page, which only additions at the front could explain.
    fn check_restart(&mut self, start: u64, total: Option<u64>, received: u64) {
        let Some(anchor) = self.walk.anchor.clone() else {
            return;
        };
        self.report.shifts += 1;
        let growth = match (total, anchor.total) {
            (Some(t), Some(before)) => t as i128 - before as i128,
            _ => i128::MIN,
        };
        if growth < received as i128 {
            self.order_moved(format!(
                "none of the items the walk read is on the first page any more (startIndex={start}) \
                 while totalResults went from {} to {}",
                show(anchor.total),
                show(total)
            ));
        }
    }

    /// A page whose place is known: items after `k` (or all of them at the list's start) are
    /// new to the walk; items up to `k` came in before the walk's position.
    fn placed_page(
        &mut self,
        items: Vec<T>,
        start: u64,
        total: Option<u64>,
        k: Option<usize>,
        forward: bool,
        asked: u32,
    ) -> Result<Vec<T>, ScimError> {
        let received = items.len() as u64;
        let number = self.walk.number;
        let read_before = self.walk.read;
        let last_id = items.last().map(|i| i.id().to_owned());
        let mut fresh = Vec::with_capacity(items.len());
        let mut repeated_after = 0u64;
        let page = self.mark(start, total)?;
        for (pos, item) in items.into_iter().enumerate() {
            let after = k.is_none_or(|k| pos > k);
            let here = Known {
                walk: number,
                page,
                slot: u32::try_from(pos).unwrap_or(u32::MAX),
            };
            let (known, new) = self.known.get_or_insert_with(item.id(), || here);
            if new {
                self.walk.read += 1;
                self.walk.digest = self.walk.digest.wrapping_add(digest_of(item.id()));
                fresh.push(item);
                continue;
            }
            if known.walk == number {
                if Some(pos) != k && forward {
                    self.report.duplicates += 1;
                }
                if after {
                    repeated_after += 1;
                }
            } else {
                self.walk.read += 1;
                self.walk.digest = self.walk.digest.wrapping_add(digest_of(item.id()));
            }
            *known = here;
        }
        self.report.distinct = self.known.len() as u64;
        if repeated_after > 0 {
            self.order_moved(format!(
                "{repeated_after} id(s) this walk had read came again after its position (page at \
                 startIndex={start})"
            ));
        }
        let last = start + received.saturating_sub(1);
        if let Some(id) = last_id {
            self.walk.anchor = Some(Anchor { id, index: last, total });
        }
        let end_position = if received == 0 { start - 1 } else { last };
        let short = received < self.full_page(u64::from(asked));
        let ends = match total {
            Some(t) if !self.walk.past_total => {
                if short {
                    true
                } else if end_position > t {
                    tracing::warn!(
                        resource = self.resource.name(),
                        total_results = t,
                        position = end_position,
                        "the list goes on past totalResults; ignoring it and paging to the end"
                    );
                    self.walk.past_total = true;
                    false
                } else {
                    end_position == t
                }
            }
            _ => short,
        };
        if ends || last <= start {
            // (`last <= start` on a page that is not short cannot happen: a full page moves on.)
            self.end_walk(end_position, total)?;
        } else {
            self.walk.next_start = last;
            if forward && start > 1 && self.walk.read == read_before {
                // A server that serves the same items at every position would otherwise be
                // walked up to the forward cap, which without totalResults is huge.
                self.walk.stalled += 1;
                if self.walk.stalled >= MAX_STALLED_PAGES {
                    return Err(self.error(format!(
                        "{MAX_STALLED_PAGES} pages in a row held only ids already seen in this walk \
                         (up to startIndex={start}); the server is repeating itself"
                    )));
                }
            } else if forward {
                self.walk.stalled = 0;
            }
        }
        Ok(fresh)
    }

    /// A page that holds nothing the walk read: its new items exist, so they are handed out;
    /// then the walk steps back to find its place.
    fn lost_page(&mut self, items: Vec<T>, start: u64) -> Vec<T> {
        let mut fresh = Vec::new();
        for item in items {
            if self.known.get_or_insert_with(item.id(), Known::unplaced).1 {
                fresh.push(item);
            }
        }
        self.report.distinct = self.known.len() as u64;
        self.report.rereads += 1;
        let back = self.full_page(u64::from(self.next_count)).saturating_sub(1).max(1);
        self.walk.next_start = start.saturating_sub(back).max(1);
        tracing::debug!(
            resource = self.resource.name(),
            from = start,
            to = self.walk.next_start,
            "the walk's anchor is not on its page; stepping back"
        );
        fresh
    }

    fn order_moved(&mut self, sign: String) {
        if self.walk.moved.is_none() {
            tracing::warn!(
                resource = self.resource.name(),
                walk = self.walk.number,
                "the list's order changed during the walk: {sign}"
            );
            self.walk.moved = Some(sign);
        }
    }

    /// Closes the current walk: accepts the list, starts another walk, or fails.
    fn end_walk(&mut self, last_position: u64, total: Option<u64>) -> Result<(), ScimError> {
        let ended_right = total.is_none_or(|t| last_position == t) && !self.walk.past_total;
        let end = WalkEnd {
            read: self.walk.read,
            digest: self.walk.digest,
            total: self.walk.first_total,
            total_constant: self.walk.total_constant && total == self.walk.first_total,
            consistent: ended_right && self.walk.moved.is_none(),
            last_position,
        };
        let agrees = self.previous.as_ref().is_some_and(|p| {
            p.total_constant
                && end.total_constant
                && p.total == end.total
                && p.read == end.read
                && p.digest == end.digest
        });
        if end.consistent {
            self.settle(Settled::Consistent);
            return Ok(());
        }
        if agrees {
            if let Some(t) = end.total.filter(|t| *t != end.read) {
                tracing::warn!(
                    resource = self.resource.name(),
                    total_results = t,
                    distinct = end.read,
                    "two walks found the same {} ids; totalResults is off by {}",
                    end.read,
                    t.abs_diff(end.read)
                );
            }
            self.settle(Settled::WalksAgree);
            return Ok(());
        }
        if self.walk.number >= self.max_walks {
            return Err(self.error(self.unsettled(&end)));
        }
        let why = match (&self.walk.moved, total) {
            (Some(sign), _) => sign.clone(),
            (None, Some(t)) => format!("the walk ended at position {last_position}, totalResults is {t}"),
            (None, None) => "the walk ended early".to_owned(),
        };
        tracing::warn!(
            resource = self.resource.name(),
            walk = self.walk.number,
            distinct = self.known.len(),
            "the list changed or disagrees with its count ({why}); walking it again from the start"
        );
        self.previous = Some(end);
        self.start_walk();
        Ok(())
    }

    /// [`Settled::SameSizeThroughout`], checked after every page once a walk has shown change.
    fn settle_if_same_size(&mut self) {
        let unsure = self.walk.number > 1 || self.walk.moved.is_some();
        if let Some(t) = self.constant_total {
            if unsure && self.known.len() as u64 == t {
                tracing::info!(
                    resource = self.resource.name(),
                    total_results = t,
                    "every page said the same totalResults and the walks found that many ids"
                );
                self.settle(Settled::SameSizeThroughout);
            }
        }
    }

    fn settle(&mut self, how: Settled) {
        self.finished = true;
        self.report.settled = Some(how);
        self.report.distinct = self.known.len() as u64;
    }

    fn start_walk(&mut self) {
        let number = self.walk.number + 1;
        self.walk = Walk {
            number,
            next_start: 1,
            ..Walk::default()
        };
        self.report.walks = number;
        self.report.repair_passes = number - 1;
    }

    /// What a page asked for `asked` items holds when full.
    fn full_page(&self, asked: u64) -> u64 {
        self.clamp.map_or(asked, |c| c.min(asked))
    }

    /// Requests a walk may spend finding its place again: half a quiet walk (half of what it
    /// has walked, without `totalResults` to say how long the list is).
    fn backtrack_allowance(&self) -> u64 {
        let basis = match self.walk.first_total {
            Some(_) => self.forward_cap(),
            None => self.walk.forward_pages,
        };
        basis / 2 + 3
    }

    /// Forward pages one walk may take.
    fn forward_cap(&self) -> u64 {
        match self.walk.first_total.or(self.report.total_results) {
            Some(t) => {
                let basis = t.max(self.known.len() as u64);
                let pages = pages_for(basis, self.full_page(u64::from(self.first_count)));
                pages + 3 + pages / 10
            }
            None => PAGE_CAP_WITHOUT_TOTAL,
        }
    }

    fn unsettled(&self, end: &WalkEnd) -> String {
        let totals = match (self.report.total_results, self.totals_seen) {
            (None, _) => "no totalResults".to_owned(),
            (Some(first), (lo, hi)) if lo == hi => format!("totalResults {first} on every page"),
            (Some(first), (lo, hi)) => format!(
                "totalResults went from {first} to {} (between {lo} and {hi})",
                show(self.report.last_total)
            ),
        };
        let sign = match &self.walk.moved {
            Some(sign) => format!("; {sign}"),
            None => String::new(),
        };
        format!(
            "the list did not settle in {} walks (--max-list-walks): {totals}; {} distinct ids seen, \
             {} in the last walk, which ended at position {}; {} requests, {} shifts, {} steps back{sign}",
            self.walk.number,
            self.known.len(),
            end.read,
            end.last_position,
            self.report.pages,
            self.report.shifts,
            self.report.rereads,
        )
    }

    fn error(&self, detail: String) -> ScimError {
        ScimError::Paging {
            resource: self.resource.name(),
            detail,
        }
    }
}

/// Requests for a quiet walk of `n` items at page size `p`: the first page asks for `p`, each
/// later one for `p + 1` (at most Notion's 100), of which one is the last item of the page
/// before. Below 100 that is `ceil(n / p)`; at 100, one request more every 99 pages.
pub fn pages_for(n: u64, p: u64) -> u64 {
    let p = p.max(1);
    let next = (p + 1).clamp(2, u64::from(MAX_PAGE_SIZE));
    if n <= p {
        1
    } else {
        1 + (n - p).div_ceil(next - 1)
    }
}

fn digest_of(id: &str) -> u64 {
    let mut h = DefaultHasher::new();
    id.hash(&mut h);
    h.finish()
}

fn show(total: Option<u64>) -> String {
    total.map_or("(none)".to_owned(), |t| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::pages_for;

    #[test]
    fn overlapping_pages_cost_nothing_until_the_slack_runs_out() {
        // ceil(n / 100) for every list up to 100 pages that leaves room for the overlaps.
        for n in [0, 1, 100, 101, 199, 250, 777, 5_000 - 49] {
            assert_eq!(pages_for(n, 100), n.div_ceil(100).max(1), "{n}");
        }
        assert_eq!(pages_for(200, 100), 3);
        assert_eq!(pages_for(100_000, 100), 1_011);
        assert_eq!(pages_for(2_000, 100), 21);
        // Smaller pages ask for one item more, so they cost no request more.
        for (n, p) in [(95, 10), (138, 2), (62, 7), (65, 1), (1_000, 99)] {
            assert_eq!(pages_for(n, p), n.div_ceil(p), "{n} at {p}");
        }
    }
}
