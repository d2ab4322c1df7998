//! The client's own pace: requests spread evenly over time at `--requests-per-minute`, one
//! shared pause when the server says 429, and a pace that steps down while 429s keep coming.
//!
//! Why smooth: Notion counts 600 requests in a fixed 60-second window. A client that also
//! counts in windows sends its 600 in the first second and then idles for 59; one whose windows
//! do not line up with the server's can even send 1,200 in two seconds and collect 429s. Spaced
//! evenly (a GCRA from `governor`), a request goes about every 100 ms, so no window of the
//! server's, wherever it starts, sees more than the ceiling. The spacing is 1% wider than the
//! ceiling asks: a request's trip varies (the first one opens its connection), and without room
//! the 601st could arrive a hair inside the minute of the first.
//!
//! The burst: that 1% leaves room in any window for `limit - floor(limit / 1.01)` requests
//! more than the pace sends (6 at 600 a minute). Half of it is allowed as a burst ([`burst`]:
//! 3 at 600), so that a sync's first requests, and the pages asked as soon as the first page
//! says how long a list is, do not each wait a slot; the other half stays as room for trips that
//! vary by up to half a second (at 600 a minute). Any 60 seconds then see at most
//! `burst + floor(limit / 1.01)` requests sent: 597 at 600.
//!
//! Why in turn: requests wait for the pace first come, first served (a fair lock around the
//! wait), so they leave in the order they were asked for; the pages a walk needs next were
//! asked first. Without it, waiters woke in any order, and the walk often waited for a page
//! that the pace had put last while later pages sat fetched.
//!
//! Why one pause for all: with several requests in flight, a 429 to one says the workspace's
//! budget is spent for everyone; the others would only collect their own 429s (each spending a
//! retry). So the first 429 holds every request not yet sent until its `Retry-After` has
//! passed, and lowers the pace by a quarter (another client may be sharing the budget); 429s
//! of requests sent before the pause began do not lower it again. Each run of quiet requests
//! worth ten seconds at the current pace raises it by an eighth, back up to the ceiling.

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use governor::clock::DefaultClock;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use tokio::time::Instant;

type Gcra = RateLimiter<NotKeyed, InMemoryState, DefaultClock>;

/// The slowest pace adapting may reach, as a share of the ceiling.
const MIN_SHARE: u32 = 10;

#[derive(Debug)]
pub(crate) struct Pacer {
    /// Requests per `window` at most; 0: no pace (only the pause applies).
    ceiling: u32,
    window: Duration,
    state: Mutex<State>,
    /// Held while a request waits for the pace: a fair (FIFO) lock, so that requests leave in
    /// the order they asked.
    turn: tokio::sync::Mutex<()>,
}

#[derive(Debug)]
struct State {
    /// Requests per window now; lower than `ceiling` after 429s.
    rate: u32,
    gcra: Option<Arc<Gcra>>,
    /// No request goes out before this (a 429's `Retry-After`).
    paused_until: Option<Instant>,
    /// Successful requests since the pace last changed.
    calm: u32,
}

impl Pacer {
    /// At most `limit` requests per `window`, evenly spaced; a `limit` of 0 means no pace.
    pub(crate) fn new(limit: u32, window: Duration) -> Self {
        Self {
            ceiling: limit,
            window,
            state: Mutex::new(State {
                rate: limit,
                gcra: gcra(limit, window),
                paused_until: None,
                calm: 0,
            }),
            turn: tokio::sync::Mutex::new(()),
        }
    }

    /// The pace now, in requests per window (0: none).
    pub(crate) fn rate(&self) -> u32 {
        self.lock().rate
    }

    /// Waits until a pause is over and the pace allows one more request.
    pub(crate) async fn acquire(&self) {
        let _turn = self.turn.lock().await;
        loop {
            let (pause, gcra) = {
                let s = self.lock();
                (s.paused_until, s.gcra.clone())
            };
            if let Some(until) = pause.filter(|u| *u > Instant::now()) {
                tokio::time::sleep_until(until).await;
                continue;
            }
            if let Some(gcra) = gcra {
                gcra.until_ready().await;
            }
            // A 429 may have come in while this request waited for its turn.
            if self.lock().paused_until.is_none_or(|u| u <= Instant::now()) {
                return;
            }
        }
    }

    /// A 429: holds every request not yet sent for `wait`, and slows the pace unless this
    /// answers a request sent before an earlier 429's pause.
    pub(crate) fn rate_limited(&self, wait: Duration, sent: Instant) {
        let mut s = self.lock();
        let now = Instant::now();
        let until = now + wait;
        let fresh = s.paused_until.is_none_or(|u| sent >= u);
        if s.paused_until.is_none_or(|u| u < until) {
            s.paused_until = Some(until);
        }
        s.calm = 0;
        if fresh && self.ceiling > 0 {
            let floor = (self.ceiling / MIN_SHARE).max(1);
            let slower = (s.rate - s.rate / 4).max(floor);
            if slower != s.rate {
                tracing::warn!(
                    from = s.rate,
                    to = slower,
                    wait_ms = wait.as_millis() as u64,
                    "rate limited (HTTP 429): every request waits, and the pace slows"
                );
                s.rate = slower;
                s.gcra = gcra(slower, self.window);
            }
        }
    }

    /// A request that was not rate limited: after ten seconds' worth at the current pace, the
    /// pace climbs back towards the ceiling.
    pub(crate) fn succeeded(&self) {
        if self.ceiling == 0 {
            return;
        }
        let mut s = self.lock();
        if s.rate >= self.ceiling {
            return;
        }
        s.calm += 1;
        let window_secs = self.window.as_secs_f64().max(0.001);
        let ten_seconds = ((f64::from(s.rate) * 10.0 / window_secs).ceil() as u32).max(1);
        if s.calm >= ten_seconds {
            let faster = (s.rate + (s.rate / 8).max(1)).min(self.ceiling);
            tracing::info!(from = s.rate, to = faster, "no 429 for a while: the pace picks up");
            s.rate = faster;
            s.gcra = gcra(faster, self.window);
            s.calm = 0;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is a few numbers, always left whole: a panic elsewhere cannot break it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `limit` per `window`, evenly spaced, 1% apart more than that, with a burst of [`burst`].
fn gcra(limit: u32, window: Duration) -> Option<Arc<Gcra>> {
    if limit == 0 {
        return None;
    }
    let period = window.mul_f64(1.01) / limit;
    let quota = Quota::with_period(period.max(Duration::from_nanos(1)))?.allow_burst(burst(limit));
    Some(Arc::new(RateLimiter::direct(quota)))
}

/// Half the room that pacing 1% wide leaves in a window: `(limit - floor(limit / 1.01)) / 2`,
/// at least one (3 at 600 a minute, 1 at 100).
fn burst(limit: u32) -> NonZeroU32 {
    let paced = u64::from(limit) * 100 / 101;
    let room = u64::from(limit) - paced;
    NonZeroU32::new(u32::try_from(room / 2).unwrap_or(u32::MAX)).unwrap_or(NonZeroU32::MIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    // governor keeps its own (real) clock, so these tests use short real intervals and check
    // only lower bounds, which hold however slow the machine is.
    #[tokio::test]
    async fn requests_are_spaced_evenly_after_a_small_burst() {
        // 1,200 a minute: a burst of 6, then one every 50.5 ms.
        let p = Pacer::new(1_200, Duration::from_secs(60));
        assert_eq!(burst(1_200).get(), 6);
        let t0 = std::time::Instant::now();
        let mut at = Vec::new();
        for _ in 0..11 {
            p.acquire().await;
            at.push(t0.elapsed());
        }
        assert!(at[0] < Duration::from_millis(40), "{at:?}");
        // governor's clock ticks coarser than a millisecond on some systems.
        assert!(at[6] >= Duration::from_millis(48), "{at:?}");
        for pair in at[6..].windows(2) {
            assert!(pair[1] - pair[0] >= Duration::from_millis(48), "{at:?}");
        }
    }

    #[test]
    fn the_burst_stays_within_the_room_the_wider_pace_leaves() {
        assert_eq!(burst(600).get(), 3);
        assert_eq!(burst(100).get(), 1);
        assert_eq!(burst(1).get(), 1);
        for limit in [1u32, 2, 59, 60, 100, 101, 202, 600, 1_000, 6_000, 1_000_000, u32::MAX] {
            // What any window of the server's can see: the burst and floor(limit / 1.01) paced.
            let paced = u64::from(limit) * 100 / 101;
            let worst = u64::from(burst(limit).get()) + paced;
            assert!(
                worst <= u64::from(limit).max(1),
                "limit {limit}: burst {} + {paced} paced",
                burst(limit)
            );
        }
    }

    #[tokio::test]
    async fn requests_leave_in_the_order_they_asked() {
        // Waiters woken by the pace used to race; the page a walk needed next could go last.
        let p = Arc::new(Pacer::new(1_200, Duration::from_secs(60)));
        let order = Arc::new(Mutex::new(Vec::new()));
        let waiters: Vec<_> = (0..16)
            .map(|i| {
                let (p, order) = (Arc::clone(&p), Arc::clone(&order));
                tokio::spawn(async move {
                    p.acquire().await;
                    order.lock().unwrap_or_else(PoisonError::into_inner).push(i);
                })
            })
            .collect();
        for w in waiters {
            w.await.unwrap_or(());
        }
        let order = order.lock().unwrap_or_else(PoisonError::into_inner).clone();
        assert_eq!(order, (0..16).collect::<Vec<_>>());
    }

    // Real time here too (tokio's paused clock needs its `test-util` feature, which as a
    // dev-dependency feature would rebuild tokio and all above it for `cargo test`): short
    // pauses, and only lower bounds, which hold however slow the machine is.
    #[tokio::test]
    async fn a_429_holds_every_request_for_its_retry_after() {
        let pause = Duration::from_millis(300);
        let p = Arc::new(Pacer::new(0, Duration::from_secs(60)));
        let t0 = Instant::now();
        p.rate_limited(pause, t0);
        let waiters: Vec<_> = (0..4)
            .map(|_| {
                let p = Arc::clone(&p);
                tokio::spawn(async move {
                    p.acquire().await;
                    Instant::now()
                })
            })
            .collect();
        for w in waiters {
            let went = w.await.unwrap_or(t0);
            assert!(
                went - t0 >= pause,
                "a request went {:?} into a {pause:?} pause",
                went - t0
            );
        }
    }

    #[tokio::test]
    async fn the_pace_slows_while_429s_come_and_recovers_after() {
        let pause = Duration::from_millis(20);
        let p = Pacer::new(600, Duration::from_secs(60));
        let sent = Instant::now();
        p.rate_limited(pause, sent);
        assert_eq!(p.rate(), 450);
        // Requests sent before that pause began answer 429 too: the same signal, counted once.
        p.rate_limited(pause, sent);
        assert_eq!(p.rate(), 450);
        // Once the pause is over, another 429 is news: slower again.
        tokio::time::sleep(2 * pause).await;
        p.rate_limited(pause, Instant::now());
        assert_eq!(p.rate(), 338);
        // Never below a tenth of the ceiling.
        for _ in 0..40 {
            tokio::time::sleep(2 * pause).await;
            p.rate_limited(pause, Instant::now());
        }
        assert_eq!(p.rate(), 60);
        // Quiet requests raise it back, up to the ceiling and no further.
        for _ in 0..10_000 {
            p.succeeded();
        }
        assert_eq!(p.rate(), 600);
    }
}
