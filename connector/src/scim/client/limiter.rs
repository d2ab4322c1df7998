//! The client's own request ceiling: a fixed window, like Notion's ("600 requests per minute,
//! fixed 60-second window"), so the connector stays under the server's limit instead of
//! discovering it through 429s.

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

#[derive(Debug)]
pub(crate) struct FixedWindowLimiter {
    limit: u32,
    window: Duration,
    state: Mutex<Window>,
}

#[derive(Debug)]
struct Window {
    started: Option<Instant>,
    used: u32,
}

impl FixedWindowLimiter {
    /// `limit` requests per `window`; a `limit` of 0 means no limit.
    pub(crate) fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit,
            window,
            state: Mutex::new(Window { started: None, used: 0 }),
        }
    }

    /// Waits until one more request fits in the current window, and counts it. The lock is held
    /// while waiting, so waiters go through in arrival order.
    pub(crate) async fn acquire(&self) {
        if self.limit == 0 {
            return;
        }
        let mut w = self.state.lock().await;
        loop {
            let now = Instant::now();
            let started = *w.started.get_or_insert(now);
            if now >= started + self.window {
                w.started = Some(now);
                w.used = 0;
            }
            if w.used < self.limit {
                w.used += 1;
                return;
            }
            let reopens = started + self.window;
            tracing::debug!(
                wait_ms = reopens.saturating_duration_since(now).as_millis() as u64,
                "client-side rate limit reached; waiting for the next window"
            );
            tokio::time::sleep_until(reopens).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Paused time: the limiter only sleeps, so the test checks exact window arithmetic
    // without waiting a real minute.
    #[tokio::test(start_paused = true)]
    async fn holds_requests_to_the_window() {
        let l = FixedWindowLimiter::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        for _ in 0..3 {
            l.acquire().await;
        }
        assert_eq!(t0.elapsed(), Duration::ZERO);
        l.acquire().await;
        assert_eq!(t0.elapsed(), Duration::from_secs(60));
        for _ in 0..2 {
            l.acquire().await;
        }
        assert_eq!(t0.elapsed(), Duration::from_secs(60));
        l.acquire().await;
        assert_eq!(t0.elapsed(), Duration::from_secs(120));
    }

    #[tokio::test(start_paused = true)]
    async fn zero_means_unlimited() {
        let l = FixedWindowLimiter::new(0, Duration::from_secs(60));
        let t0 = Instant::now();
        for _ in 0..10_000 {
            l.acquire().await;
        }
        assert_eq!(t0.elapsed(), Duration::ZERO);
    }
}
