//! Faults on demand, per token: rate limits, scripted and seeded-random failures, latency,
//! broken connections and bodies, list pathologies, and churn (the org changing under a walk,
//! see [`ChurnStep`]).
//!
//! When a fault strikes matters to a client that retries writes, so each kind says whether the
//! request was carried out:
//! - not carried out: [`Fault::Status`], [`Fault::RateLimited`], [`Fault::Reset`];
//! - carried out, answer lost or damaged: [`Fault::LostResponse`], [`Fault::Truncate`],
//!   [`Fault::Malformed`]; [`Fault::Latency`] delays and then answers normally.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

mod churn;

pub(crate) use churn::apply as apply_churn;
pub use churn::{ChurnList, ChurnOp, ChurnStep};

/// One thing that can go wrong with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Fault {
    /// No fault: lets one request through (a placeholder in a script).
    None,
    /// Answer with this status before doing anything (500, 502, 503, 529 ...). 429 carries
    /// `Retry-After: 1`.
    Status(u16),
    /// 429 with this `Retry-After`, before doing anything.
    RateLimited { retry_after_secs: u64 },
    /// Wait this long, then answer normally.
    Latency(Duration),
    /// Close the connection without answering; the request is not carried out.
    Reset,
    /// Carry the request out, then close the connection without answering: the case a
    /// client's retry of a write must survive.
    LostResponse,
    /// Carry the request out, then send only the first half of the body before closing.
    Truncate,
    /// Carry the request out, then answer 200 with a body that is not JSON.
    Malformed,
}

impl Fault {
    /// Whether the request is carried out before the fault shows.
    pub fn applies_request(self) -> bool {
        !matches!(self, Fault::Status(_) | Fault::RateLimited { .. } | Fault::Reset)
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::None => f.write_str("ok"),
            Fault::Status(s) => write!(f, "{s}"),
            Fault::RateLimited { retry_after_secs } => write!(f, "429:{retry_after_secs}"),
            Fault::Latency(d) => write!(f, "latency:{}", d.as_millis()),
            Fault::Reset => f.write_str("reset"),
            Fault::LostResponse => f.write_str("lost-response"),
            Fault::Truncate => f.write_str("truncate"),
            Fault::Malformed => f.write_str("malformed"),
        }
    }
}

/// The text form: `ok`, a status (`503`), `429:SECS`, `latency:MS`, `reset`, `lost-response`,
/// `truncate`, `malformed`.
impl FromStr for Fault {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let bad = || {
            format!(
                "bad fault {s:?}: expected ok, a status such as 503, 429:SECS, latency:MS, reset, \
                 lost-response, truncate or malformed"
            )
        };
        Ok(match s.to_ascii_lowercase().as_str() {
            "ok" | "none" => Fault::None,
            "reset" => Fault::Reset,
            "lost-response" => Fault::LostResponse,
            "truncate" => Fault::Truncate,
            "malformed" => Fault::Malformed,
            other => {
                if let Some(ms) = other.strip_prefix("latency:") {
                    Fault::Latency(Duration::from_millis(ms.parse().map_err(|_| bad())?))
                } else if let Some(secs) = other.strip_prefix("429:") {
                    Fault::RateLimited {
                        retry_after_secs: secs.parse().map_err(|_| bad())?,
                    }
                } else {
                    let status: u16 = other.parse().map_err(|_| bad())?;
                    if !(400..=599).contains(&status) {
                        return Err(bad());
                    }
                    if status == 429 {
                        Fault::RateLimited { retry_after_secs: 1 }
                    } else {
                        Fault::Status(status)
                    }
                }
            }
        })
    }
}

impl TryFrom<String> for Fault {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Fault> for String {
    fn from(f: Fault) -> String {
        f.to_string()
    }
}

/// A list pathology, for testing how a client pages. Spelled in JSON as on the command line
/// (`"zero-items-per-page"`, `{"inflated-total-results": 7}`); the older `_` spelling is
/// accepted too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PagingFault {
    /// `itemsPerPage` says 0 while `Resources` holds items.
    #[serde(alias = "zero_items_per_page")]
    ZeroItemsPerPage,
    /// `itemsPerPage` is left out.
    #[serde(alias = "missing_items_per_page")]
    MissingItemsPerPage,
    /// `totalResults` claims this many more items than exist.
    #[serde(alias = "inflated_total_results")]
    InflatedTotalResults(u64),
    /// Every page after the first starts with the last item of the page before.
    #[serde(alias = "duplicate_across_pages")]
    DuplicateAcrossPages,
    /// Pages never run out: past the end, items repeat and `totalResults` keeps growing.
    #[serde(alias = "endless_pages")]
    EndlessPages,
}

/// A fixed-window request limit, as Notion's public API applies per connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimit {
    pub requests: u32,
    pub window_secs: u64,
}

impl RateLimit {
    /// Notion's public API figure is 600 per minute.
    pub fn per_minute(requests: u32) -> Self {
        RateLimit {
            requests,
            window_secs: 60,
        }
    }
}

/// Faults drawn at random from a seed: the same seed gives the same sequence of decisions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RandomFaults {
    pub seed: u64,
    /// Chance in [0, 1] that a request gets one of `kinds`.
    pub probability: f64,
    pub kinds: Vec<Fault>,
}

/// The fault settings of one token, as `GET /__admin/faults` shows them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultSettings {
    /// Faults for the next requests, in order.
    pub script: Vec<Fault>,
    pub rate_limit: Option<RateLimit>,
    pub random: Option<RandomFaults>,
    /// Added to every request.
    pub latency_ms: u64,
    /// Rotate list results by a random offset on every request, so pages overlap and skip.
    pub reorder: bool,
    pub paging: Option<PagingFault>,
    /// Changes to the org, each made once when the token's list requests of its target reach
    /// its `after` (counted from when the churn was set), before the next one is answered.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub churn: Vec<ChurnStep>,
}

#[derive(Debug, Default)]
struct TokenFaults {
    settings: FaultSettings,
    script: VecDeque<Fault>,
    random_rng: Option<ChaCha8Rng>,
    window: Option<(Instant, u32)>,
    reorder_rng: Option<ChaCha8Rng>,
    /// List requests of `/Users` and `/Groups` since the churn was set.
    list_requests: [u64; 2],
    /// Bumped whenever the churn is replaced, so that a step fired under an older churn does
    /// not record its ids into a newer one.
    churn_generation: u64,
}

impl TokenFaults {
    fn reset_churn_counts(&mut self) {
        self.list_requests = [0, 0];
        self.churn_generation += 1;
    }
}

/// What the fault layer decided for one request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Decision {
    pub fault: Fault,
    pub latency: Duration,
    pub list: ListShaping,
    /// Churn steps due before this request is answered, to apply to the org in order and then
    /// report with [`FaultBook::record_churn`].
    pub churn: Vec<DueChurn>,
}

/// A churn step that fired, and where to record what it did.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DueChurn {
    pub step: ChurnStep,
    index: usize,
    generation: u64,
}

/// How list handlers bend their answer for this request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct ListShaping {
    pub paging: Option<PagingFault>,
    /// Rotate the list by this seed (reduced modulo its length).
    pub rotate: Option<u64>,
}

/// The faults of every token, by token id.
#[derive(Debug, Default)]
pub(crate) struct FaultBook {
    tokens: Mutex<HashMap<String, TokenFaults>>,
}

impl FaultBook {
    pub fn set(&self, token_id: &str, settings: FaultSettings) {
        let mut map = self.tokens.lock();
        let entry = map.entry(token_id.to_string()).or_default();
        entry.script = settings.script.iter().copied().collect();
        entry.random_rng = settings.random.as_ref().map(|r| ChaCha8Rng::seed_from_u64(r.seed));
        entry.reorder_rng = settings.reorder.then(|| ChaCha8Rng::seed_from_u64(0x5eed));
        entry.window = None;
        entry.reset_churn_counts();
        entry.settings = settings;
    }

    pub fn get(&self, token_id: &str) -> FaultSettings {
        let map = self.tokens.lock();
        map.get(token_id)
            .map(|t| {
                let mut s = t.settings.clone();
                s.script = t.script.iter().copied().collect();
                s
            })
            .unwrap_or_default()
    }

    /// Changes some settings; the state of the others (the rate-limit window, the random
    /// and reorder sequences) carries on.
    pub fn update(&self, token_id: &str, f: impl FnOnce(&mut FaultSettings)) {
        let mut map = self.tokens.lock();
        let entry = map.entry(token_id.to_string()).or_default();
        let mut s = entry.settings.clone();
        s.script = entry.script.iter().copied().collect();
        f(&mut s);
        if s.random != entry.settings.random {
            entry.random_rng = s.random.as_ref().map(|r| ChaCha8Rng::seed_from_u64(r.seed));
        }
        if s.reorder != entry.settings.reorder {
            entry.reorder_rng = s.reorder.then(|| ChaCha8Rng::seed_from_u64(0x5eed));
        }
        if s.rate_limit != entry.settings.rate_limit {
            entry.window = None;
        }
        if s.churn != entry.settings.churn {
            entry.reset_churn_counts();
        }
        entry.script = s.script.iter().copied().collect();
        entry.settings = s;
    }

    pub fn clear_all(&self) {
        self.tokens.lock().clear();
    }

    /// Fills in what a fired churn step did (the ids it removed, added or moved).
    pub fn record_churn(&self, token_id: &str, due: &DueChurn, ids: Vec<String>) {
        let mut map = self.tokens.lock();
        if let Some(t) = map.get_mut(token_id) {
            if t.churn_generation == due.generation {
                if let Some(step) = t.settings.churn.get_mut(due.index) {
                    step.applied = Some(ids);
                }
            }
        }
    }

    /// Decides the fate of one request made with `token_id`; `list` names the collection when
    /// the request lists `/Users` or `/Groups`.
    pub fn decide(&self, token_id: &str, list: Option<ChurnList>) -> Decision {
        let mut map = self.tokens.lock();
        let Some(t) = map.get_mut(token_id) else {
            return Decision {
                fault: Fault::None,
                latency: Duration::ZERO,
                list: ListShaping::default(),
                churn: Vec::new(),
            };
        };
        let mut churn = Vec::new();
        if let Some(list) = list {
            let served = &mut t.list_requests[list.index()];
            for (index, step) in t.settings.churn.iter_mut().enumerate() {
                if step.target == list && step.applied.is_none() && step.after <= *served {
                    // Marked now, under the lock, so that a concurrent request cannot fire it
                    // again; the ids are filled in once the org has changed.
                    step.applied = Some(Vec::new());
                    churn.push(DueChurn {
                        step: step.clone(),
                        index,
                        generation: t.churn_generation,
                    });
                }
            }
            *served += 1;
        }
        let mut fault = Fault::None;
        if let Some(limit) = t.settings.rate_limit {
            let now = Instant::now();
            let window = Duration::from_secs(limit.window_secs.max(1));
            let (start, count) = match t.window {
                Some((start, count)) if now.duration_since(start) < window => (start, count),
                _ => (now, 0),
            };
            if count >= limit.requests {
                let left = window.saturating_sub(now.duration_since(start));
                let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
                fault = Fault::RateLimited {
                    retry_after_secs: secs.max(1),
                };
                t.window = Some((start, count));
            } else {
                t.window = Some((start, count + 1));
            }
        }
        if fault == Fault::None {
            if let Some(next) = t.script.pop_front() {
                fault = next;
            }
        }
        if fault == Fault::None {
            if let (Some(random), Some(rng)) = (&t.settings.random, &mut t.random_rng) {
                if !random.kinds.is_empty() && rng.random_bool(random.probability.clamp(0.0, 1.0)) {
                    fault = random.kinds[rng.random_range(0..random.kinds.len())];
                }
            }
        }
        let mut latency = Duration::from_millis(t.settings.latency_ms);
        if let Fault::Latency(d) = fault {
            latency += d;
        }
        let rotate = t.reorder_rng.as_mut().map(|rng| rng.random::<u64>());
        Decision {
            fault,
            latency,
            list: ListShaping {
                paging: t.settings.paging,
                rotate,
            },
            churn,
        }
    }
}

/// The fault controls of one token, handed out by [`crate::MockServer::faults`]. Changes take
/// effect from the next request.
#[derive(Debug, Clone)]
pub struct FaultControls {
    pub(crate) book: Arc<FaultBook>,
    pub(crate) token_id: String,
}

impl FaultControls {
    /// The next requests get these faults, in order, after any already scripted.
    pub fn script(&self, faults: impl IntoIterator<Item = Fault>) -> &Self {
        let faults: Vec<Fault> = faults.into_iter().collect();
        self.book.update(&self.token_id, |s| s.script.extend(faults));
        self
    }

    /// A fixed-window limit; `None` lifts it.
    pub fn rate_limit(&self, limit: Option<RateLimit>) -> &Self {
        self.book.update(&self.token_id, |s| s.rate_limit = limit);
        self
    }

    pub fn random(&self, random: Option<RandomFaults>) -> &Self {
        self.book.update(&self.token_id, |s| s.random = random);
        self
    }

    /// Latency added to every request.
    pub fn latency(&self, latency: Duration) -> &Self {
        let ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
        self.book.update(&self.token_id, |s| s.latency_ms = ms);
        self
    }

    pub fn reorder(&self, on: bool) -> &Self {
        self.book.update(&self.token_id, |s| s.reorder = on);
        self
    }

    pub fn paging(&self, paging: Option<PagingFault>) -> &Self {
        self.book.update(&self.token_id, |s| s.paging = paging);
        self
    }

    /// Replaces the churn steps; list requests are counted afresh from here.
    pub fn churn(&self, steps: impl IntoIterator<Item = ChurnStep>) -> &Self {
        let steps: Vec<ChurnStep> = steps.into_iter().collect();
        self.book.update(&self.token_id, |s| s.churn = steps);
        self
    }

    /// Replaces all settings at once.
    pub fn set(&self, settings: FaultSettings) -> &Self {
        self.book.set(&self.token_id, settings);
        self
    }

    pub fn settings(&self) -> FaultSettings {
        self.book.get(&self.token_id)
    }

    /// Back to no faults at all.
    pub fn clear(&self) -> &Self {
        self.book.set(&self.token_id, FaultSettings::default());
        self
    }
}
