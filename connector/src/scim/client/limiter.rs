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

    // Real time, a short window, and the limiter's own state: the window arithmetic is checked
    // exactly and the waits only from below, so a loaded machine cannot fail it. (Paused time
    // would need tokio's `test-util` feature, and a dev-dependency feature on tokio makes
    // `cargo test` rebuild tokio and everything above it after `cargo build`.)
    const WINDOW: Duration = Duration::from_millis(300);

    async fn state(l: &FixedWindowLimiter) -> (Option<Instant>, u32) {
        let w = l.state.lock().await;
        (w.started, w.used)
    }

    #[tokio::test]
    async fn holds_requests_to_the_window() {
        let l = FixedWindowLimiter::new(3, WINDOW);
        let t0 = Instant::now();
        for _ in 0..3 {
            l.acquire().await;
        }
        let (first, used) = state(&l).await;
        assert_eq!(used, 3);
        let first = first.unwrap_or(t0);
        // The fourth waits for the next window, which it opens.
        l.acquire().await;
        let (second, used) = state(&l).await;
        let second = second.unwrap_or(first);
        assert!(Instant::now() >= first + WINDOW);
        assert!(second >= first + WINDOW, "a new window opened");
        assert_eq!(used, 1);
        for _ in 0..2 {
            l.acquire().await;
        }
        assert_eq!(state(&l).await, (Some(second), 3), "still the second window");
        l.acquire().await;
        assert!(Instant::now() >= second + WINDOW);
        assert!(t0.elapsed() >= 2 * WINDOW);
    }

    #[tokio::test]
    async fn zero_means_unlimited() {
        let l = FixedWindowLimiter::new(0, Duration::from_secs(3600));
        for _ in 0..10_000 {
            l.acquire().await;
        }
        // No window was ever opened, so nothing could have waited for one.
        assert_eq!(state(&l).await, (None, 0));
    }
}
