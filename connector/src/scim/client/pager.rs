//! Walking a SCIM list endpoint without trusting its counts.
//!
//! The normal path costs one request per page: ask `startIndex=1,count=N`, then
//! `startIndex += items received`, and stop once as many distinct ids as `totalResults` have
//! arrived. `itemsPerPage` is never used (Notion's may be 0 or missing); the length of
//! `Resources` is what counts. The defences:
//!
//! - **An empty page ends a pass.** A `totalResults` larger than what exists ends there.
//! - **More distinct ids than `totalResults`** means the count is low: it is then ignored and the
//!   walk goes on until a short or empty page.
//! - **An id seen on an earlier page** is dropped and counted (with a warning), never handed out
//!   twice. Ids are held for the whole walk; the resources are not.
//! - **A walk that ends short of `totalResults`** either met a server that overstates it (a
//!   Notion quirk) or one whose order shifted between requests, so that something was skipped.
//!   The two look alike on one walk (a shifted order need not repeat an id), so the walk starts
//!   again from `startIndex=1` (a *repair pass*), handing out only ids it has not seen, up to
//!   [`MAX_REPAIR_PASSES`] times. The set is taken as complete only when two walks agree: a
//!   repair pass that sees every id known so far, each once, and nothing new. If passes keep
//!   disagreeing, the walk fails clearly rather than return a silent gap.
//! - **Endless pages**: a pass may take at most `ceil(total / page) + 3 + 10%` pages, and three
//!   pages in a row without a new id end it with an error. Without any `totalResults` the cap is
//!   [`PAGE_CAP_WITHOUT_TOTAL`] pages and a short page ends the walk.

use std::collections::HashSet;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;

use super::{Resource, ScimClient, ScimError};
use crate::scim::types::{ScimGroup, ScimUser};

/// Passes after the first that a walk may make to fill a gap left by reordering.
pub const MAX_REPAIR_PASSES: u32 = 3;
/// Pages a pass may take when the server gives no `totalResults`.
pub const PAGE_CAP_WITHOUT_TOTAL: u64 = 100_000;
/// Pages in a row without a single new id that end the walk with an error.
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

/// What a finished walk saw: for logs, and for tests that check the defences fired.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PagingReport {
    pub pages: u64,
    pub distinct: u64,
    pub duplicates: u64,
    pub repair_passes: u32,
    /// The first page's `totalResults`.
    pub total_results: Option<u64>,
}

/// Walks one list endpoint. Call [`Pager::next_page`] until it returns `Ok(None)`.
#[derive(Debug)]
pub struct Pager<T> {
    client: ScimClient,
    resource: Resource,
    page_size: u32,
    start_index: u64,
    total: Option<u64>,
    /// False once more distinct ids than `totalResults` arrived.
    total_trusted: bool,
    effective_page: u64,
    seen: HashSet<String>,
    pass: u32,
    pages_in_pass: u64,
    duplicates_in_pass: u64,
    new_in_pass: u64,
    /// The ids of the current repair pass, to tell whether it agrees with the walk so far.
    pass_ids: HashSet<String>,
    /// Ids a repair pass met twice.
    pass_repeats: u64,
    stalled: u32,
    report: PagingReport,
    finished: bool,
    _items: PhantomData<fn() -> T>,
}

enum PassEnd {
    Done,
    Repair,
}

impl<T: DeserializeOwned + HasId> Pager<T> {
    pub(super) fn new(client: ScimClient, resource: Resource) -> Self {
        let page_size = client.page_size();
        Self {
            client,
            resource,
            page_size,
            start_index: 1,
            total: None,
            total_trusted: true,
            effective_page: u64::from(page_size),
            seen: HashSet::new(),
            pass: 0,
            pages_in_pass: 0,
            duplicates_in_pass: 0,
            new_in_pass: 0,
            pass_ids: HashSet::new(),
            pass_repeats: 0,
            stalled: 0,
            report: PagingReport::default(),
            finished: false,
            _items: PhantomData,
        }
    }

    pub fn report(&self) -> &PagingReport {
        &self.report
    }

    /// The next page of items not handed out before, or `None` when the walk is complete.
    pub async fn next_page(&mut self) -> Result<Option<Vec<T>>, ScimError> {
        loop {
            if self.finished {
                return Ok(None);
            }
            let cap = self.page_cap();
            if self.pages_in_pass >= cap {
                return Err(self.error(format!(
                    "the server kept sending non-empty pages: {} pages in one pass, more than the \
                     {cap} that totalResults={} allows at {} per page; stopped",
                    self.pages_in_pass,
                    self.total.map_or("(none)".to_owned(), |t| t.to_string()),
                    self.effective_page,
                )));
            }
            let page = self
                .client
                .list_page::<T>(self.resource, self.start_index, self.page_size)
                .await?;
            self.report.pages += 1;
            self.pages_in_pass += 1;
            let received = page.resources.len() as u64;
            if self.report.pages == 1 {
                self.total = page.total_results;
                self.report.total_results = page.total_results;
                // A server that clamps `count` lower than asked makes smaller pages; the cap
                // follows what it actually does.
                if let Some(t) = self.total {
                    if received > 0 && received < u64::from(self.page_size) && received < t {
                        self.effective_page = received;
                    }
                }
            } else if page.total_results != self.total {
                tracing::debug!(
                    resource = self.resource.name(),
                    first = ?self.total,
                    now = ?page.total_results,
                    "totalResults changed during the walk"
                );
            }
            if page.items_per_page != Some(received) {
                tracing::debug!(
                    resource = self.resource.name(),
                    items_per_page = ?page.items_per_page,
                    received,
                    "itemsPerPage does not match the page; using the items received"
                );
            }

            if received == 0 {
                match self.end_of_pass()? {
                    PassEnd::Done => self.finished = true,
                    PassEnd::Repair => self.start_repair_pass(),
                }
                continue;
            }
            self.start_index += received;

            let mut fresh = Vec::with_capacity(page.resources.len());
            for item in page.resources {
                if self.pass > 0 && !self.pass_ids.insert(item.id().to_owned()) {
                    self.pass_repeats += 1;
                }
                if self.seen.contains(item.id()) {
                    self.duplicates_in_pass += 1;
                    self.report.duplicates += 1;
                    if self.pass == 0 {
                        tracing::warn!(
                            resource = self.resource.name(),
                            id = item.id(),
                            "the same id came on two pages; keeping the first"
                        );
                    }
                } else {
                    self.seen.insert(item.id().to_owned());
                    fresh.push(item);
                }
            }
            self.new_in_pass += fresh.len() as u64;
            self.report.distinct = self.seen.len() as u64;
            if fresh.is_empty() && self.pass == 0 {
                self.stalled += 1;
                if self.stalled >= MAX_STALLED_PAGES {
                    return Err(self.error(format!(
                        "{MAX_STALLED_PAGES} pages in a row held only ids already seen (at \
                         startIndex={}); the server is repeating itself",
                        self.start_index
                    )));
                }
            } else {
                self.stalled = 0;
            }

            let distinct = self.seen.len() as u64;
            let ends_pass = match self.total {
                Some(t) if self.total_trusted && distinct > t => {
                    tracing::warn!(
                        resource = self.resource.name(),
                        total_results = t,
                        distinct,
                        "more distinct items than totalResults; ignoring it and paging to the end"
                    );
                    self.total_trusted = false;
                    received < u64::from(self.page_size)
                }
                Some(t) if self.total_trusted => {
                    if distinct >= t {
                        self.finished = true;
                    }
                    false
                }
                _ => received < u64::from(self.page_size),
            };
            if ends_pass {
                match self.end_of_pass()? {
                    PassEnd::Done => self.finished = true,
                    PassEnd::Repair => self.start_repair_pass(),
                }
            }
            if !fresh.is_empty() {
                return Ok(Some(fresh));
            }
        }
    }

    /// Pages one pass may take.
    fn page_cap(&self) -> u64 {
        match self.total {
            Some(t) => {
                let basis = t.max(self.seen.len() as u64);
                let pages = basis.div_ceil(self.effective_page.max(1)).max(1);
                pages + 3 + pages / 10
            }
            None => PAGE_CAP_WITHOUT_TOTAL,
        }
    }

    /// Called on an empty page (or a short one when the count is not trusted).
    fn end_of_pass(&mut self) -> Result<PassEnd, ScimError> {
        let distinct = self.seen.len() as u64;
        let Some(total) = self.total.filter(|_| self.total_trusted) else {
            return Ok(PassEnd::Done);
        };
        if distinct >= total {
            return Ok(PassEnd::Done);
        }
        let missing = total - distinct;
        let agrees = self.new_in_pass == 0 && self.pass_repeats == 0 && self.pass_ids.len() as u64 == distinct;
        if self.pass > 0 && agrees {
            tracing::warn!(
                resource = self.resource.name(),
                total_results = total,
                distinct,
                "two walks found the same {distinct} ids; the set is complete and totalResults \
                 overstated by {missing}"
            );
            return Ok(PassEnd::Done);
        }
        if self.pass >= MAX_REPAIR_PASSES {
            return Err(self.error(format!(
                "the walk is still {missing} short of totalResults={total} after {} repair \
                 passes that did not agree with each other; the server's list keeps changing \
                 between requests",
                self.pass
            )));
        }
        tracing::warn!(
            resource = self.resource.name(),
            total_results = total,
            distinct,
            duplicates = self.duplicates_in_pass,
            "the walk is {missing} short of totalResults; walking again from the start to find \
             what was skipped, or to confirm that totalResults is overstated"
        );
        Ok(PassEnd::Repair)
    }

    fn start_repair_pass(&mut self) {
        self.pass += 1;
        self.report.repair_passes = self.pass;
        self.start_index = 1;
        self.pages_in_pass = 0;
        self.duplicates_in_pass = 0;
        self.new_in_pass = 0;
        self.pass_ids.clear();
        self.pass_repeats = 0;
        self.stalled = 0;
    }

    fn error(&self, detail: String) -> ScimError {
        ScimError::Paging {
            resource: self.resource.name(),
            detail,
        }
    }
}
