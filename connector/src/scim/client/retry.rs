//! How long to wait before trying a request again.

use std::time::Duration;

use rand::Rng;

/// Bounds on retrying one request. Every retryable failure (5xx, 529, 429, timeouts, resets,
/// truncated or malformed bodies) spends one retry; 401/403 and other 4xx are never retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt; a request is sent at most `max_retries + 1` times.
    pub max_retries: u32,
    /// The first backoff ceiling; it doubles with each retry.
    pub base_delay: Duration,
    /// The largest backoff ceiling.
    pub max_delay: Duration,
    /// The longest `Retry-After` honoured; a larger one is cut to this. Notion's rate-limit window
    /// is 60 seconds, so a longer wait means a confused server, not a real limit.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// Small delays for tests: the same logic, milliseconds instead of seconds.
    pub fn fast() -> Self {
        Self {
            max_retries: 5,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(20),
            max_retry_after: Duration::from_millis(50),
        }
    }

    /// Capped exponential backoff with full jitter: uniform in `[0, min(max, base * 2^retry)]`.
    /// `retry` counts from 0 for the first retry.
    pub fn backoff(&self, retry: u32) -> Duration {
        let ceiling = self
            .base_delay
            .saturating_mul(1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX))
            .min(self.max_delay);
        let ceiling_ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        if ceiling_ms == 0 {
            return Duration::ZERO;
        }
        Duration::from_millis(rand::rng().random_range(0..=ceiling_ms))
    }

    /// The wait a `Retry-After` of `secs` seconds asks for, capped.
    pub fn retry_after(&self, secs: u64) -> Duration {
        Duration::from_secs(secs).min(self.max_retry_after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_capped_and_jittered() {
        let p = RetryPolicy {
            max_retries: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(800),
            max_retry_after: Duration::from_secs(60),
        };
        for retry in 0..40 {
            let ceiling = Duration::from_millis((100u64 << retry.min(20)).min(800));
            for _ in 0..50 {
                assert!(p.backoff(retry) <= ceiling);
            }
        }
        // Full jitter: over many draws the waits are spread, not all at the ceiling.
        let draws: Vec<_> = (0..200).map(|_| p.backoff(10)).collect();
        assert!(draws.iter().any(|d| *d < Duration::from_millis(400)));
        assert!(draws.iter().any(|d| *d > Duration::from_millis(400)));
    }

    #[test]
    fn retry_after_is_capped() {
        let p = RetryPolicy::default();
        assert_eq!(p.retry_after(2), Duration::from_secs(2));
        assert_eq!(p.retry_after(86_400), Duration::from_secs(60));
    }
}
