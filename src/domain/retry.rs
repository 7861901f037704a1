//! When to try a call to a remote service again (NCP, Slack, Jira, a callback): jittered
//! exponential backoff, bounded by attempts and by time.

use std::time::Duration;

/// Retry limits for one logical NCP call.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The backoff before the second attempt is drawn from `0..=base`, doubling after that.
    pub base: Duration,
    /// No single backoff is longer than this.
    pub max_delay: Duration,
    /// No retry starts after this much time has passed since the first attempt.
    pub budget: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
            budget: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The delay before attempt `attempt + 1` (attempt counts from 1), using "full jitter" so that
    /// many workers retrying at once spread out instead of hitting NCP together.
    /// `retry_after` (from a 429's `Retry-After`) is a floor, still capped by `max_delay`.
    pub fn backoff(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
        rng: &mut impl rand::Rng,
    ) -> Duration {
        let exp = self
            .base
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1).min(20)))
            .min(self.max_delay);
        let jittered = Duration::from_micros(rng.random_range(0..=exp.as_micros() as u64));
        jittered
            .max(retry_after.unwrap_or_default())
            .min(self.max_delay)
    }

    /// Whether another attempt may start after `attempt` attempts, `elapsed` time and a planned `delay`.
    pub fn may_retry(&self, attempt: u32, elapsed: Duration, delay: Duration) -> bool {
        attempt < self.max_attempts && elapsed + delay < self.budget
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn backoff_grows_and_stays_within_bounds() {
        let p = RetryPolicy {
            max_attempts: 10,
            base: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
            budget: Duration::from_secs(60),
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for attempt in 1..10 {
            let cap = (100u64 << (attempt - 1)).min(1000);
            for _ in 0..200 {
                let d = p.backoff(attempt, None, &mut rng);
                assert!(
                    d <= Duration::from_millis(cap),
                    "attempt {attempt}: {d:?} > {cap}ms"
                );
            }
        }
        // Jitter really spreads the delays.
        let ds: std::collections::HashSet<_> =
            (0..50).map(|_| p.backoff(4, None, &mut rng)).collect();
        assert!(ds.len() > 40);
    }

    #[test]
    fn retry_after_is_a_floor_capped_by_the_maximum() {
        let p = RetryPolicy::default();
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        assert!(p.backoff(1, Some(Duration::from_secs(3)), &mut rng) >= Duration::from_secs(3));
        assert_eq!(
            p.backoff(1, Some(Duration::from_secs(3600)), &mut rng),
            p.max_delay
        );
    }

    #[test]
    fn attempts_and_time_both_bound_retries() {
        let p = RetryPolicy {
            max_attempts: 3,
            budget: Duration::from_secs(10),
            ..RetryPolicy::default()
        };
        assert!(p.may_retry(1, Duration::ZERO, Duration::ZERO));
        assert!(p.may_retry(2, Duration::ZERO, Duration::ZERO));
        assert!(!p.may_retry(3, Duration::ZERO, Duration::ZERO));
        assert!(!p.may_retry(1, Duration::from_secs(9), Duration::from_secs(2)));
    }
}
