//! A token bucket per key (an IPv4 address as `u32`): `rate` tokens a second up
//! to `burst`, one per allowed event, so a key gets `burst` events at once and
//! `rate` a second after that. Time is an argument (milliseconds from any fixed
//! origin), never read from a clock.
//!
//! Memory is bounded: at `max_keys`, a new key evicts the least recently seen
//! one. That forgets nothing once the evicted bucket has refilled (a full bucket
//! and no bucket allow the same); a flood of distinct keys can only hand the keys
//! it evicts an early refill.

use std::collections::{BTreeMap, HashMap};

/// An invalid [`RateLimiter`] setting.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum RateLimitError {
    /// The rate is negative, NaN or infinite.
    #[error("rate must be a finite number of tokens per second, 0 or more, got {0}")]
    Rate(f64),
    /// A burst of 0 would allow nothing.
    #[error("burst must be 1 or more")]
    Burst,
    /// Room for no key would allow nothing.
    #[error("max keys must be 1 or more")]
    MaxKeys,
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    /// Latest time seen for this key: refills count from here.
    last_ms: u64,
    /// Its position in `by_age`.
    seen: u64,
}

/// Token buckets for up to `max_keys` keys.
#[derive(Clone, Debug)]
pub struct RateLimiter {
    rate_per_sec: f64,
    burst: f64,
    max_keys: usize,
    buckets: HashMap<u32, Bucket>,
    /// Keys by last use (a counter, so equal times and a clock going back keep
    /// the order of calls): the first entry is the one to evict.
    by_age: BTreeMap<u64, u32>,
    calls: u64,
}

impl RateLimiter {
    /// `rate_per_sec` tokens a second (0: `burst` events per key, ever, until it
    /// is evicted), up to `burst`; at most `max_keys` keys held.
    pub fn new(rate_per_sec: f64, burst: u32, max_keys: usize) -> Result<Self, RateLimitError> {
        if !rate_per_sec.is_finite() || rate_per_sec < 0.0 {
            return Err(RateLimitError::Rate(rate_per_sec));
        }
        if burst == 0 {
            return Err(RateLimitError::Burst);
        }
        if max_keys == 0 {
            return Err(RateLimitError::MaxKeys);
        }
        Ok(RateLimiter {
            rate_per_sec,
            burst: f64::from(burst),
            max_keys,
            buckets: HashMap::new(),
            by_age: BTreeMap::new(),
            calls: 0,
        })
    }

    /// Takes a token from `key`'s bucket at `now_ms`: true if it had one. A time
    /// earlier than one already seen for the key refills nothing (a clock stepping
    /// back mints no tokens).
    pub fn allow(&mut self, key: u32, now_ms: u64) -> bool {
        self.calls += 1;
        let seen = self.calls;
        if let Some(b) = self.buckets.get_mut(&key) {
            self.by_age.remove(&b.seen);
            self.by_age.insert(seen, key);
            b.seen = seen;
            if now_ms > b.last_ms {
                // Milliseconds times tokens per second, then / 1000: exact for whole rates.
                let refill = (now_ms - b.last_ms) as f64 * self.rate_per_sec / 1000.0;
                b.tokens = (b.tokens + refill).min(self.burst);
                b.last_ms = now_ms;
            }
            if b.tokens >= 1.0 {
                b.tokens -= 1.0;
                return true;
            }
            return false;
        }
        if self.buckets.len() >= self.max_keys {
            if let Some((_, oldest)) = self.by_age.pop_first() {
                self.buckets.remove(&oldest);
            }
        }
        self.buckets.insert(key, Bucket { tokens: self.burst - 1.0, last_ms: now_ms, seen });
        self.by_age.insert(seen, key);
        true
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    /// True when no key is held.
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    /// Forgets every key.
    pub fn clear(&mut self) {
        self.buckets.clear();
        self.by_age.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(rl: &mut RateLimiter, key: u32, now_ms: u64, n: usize) -> usize {
        (0..n).filter(|_| rl.allow(key, now_ms)).count()
    }

    #[test]
    fn burst_then_rate() {
        let mut rl = RateLimiter::new(10.0, 5, 100).unwrap();
        assert_eq!(allowed(&mut rl, 1, 0, 20), 5, "the burst at once");
        assert_eq!(allowed(&mut rl, 1, 99, 5), 0, "0.99 token after 99 ms");
        assert_eq!(allowed(&mut rl, 1, 100, 5), 1, "one token per 100 ms at 10/s");
        assert_eq!(allowed(&mut rl, 1, 350, 5), 2);
        assert_eq!(allowed(&mut rl, 1, 60_000, 50), 5, "never more than the burst");
        // Over a long run, the rate.
        let mut n = 0;
        for ms in (60_000..70_000).step_by(7) {
            n += allowed(&mut rl, 1, ms, 1);
        }
        assert!((99..=101).contains(&n), "{n} in 10 s at 10/s");
        assert_eq!(allowed(&mut rl, 2, 70_000, 6), 5, "keys are independent");
    }

    #[test]
    fn fractional_and_zero_rates() {
        let mut rl = RateLimiter::new(0.5, 1, 10).unwrap();
        assert!(rl.allow(7, 1_000));
        assert!(!rl.allow(7, 2_999));
        assert!(rl.allow(7, 3_000), "one token per 2 s");
        let mut none = RateLimiter::new(0.0, 2, 10).unwrap();
        assert_eq!(allowed(&mut none, 7, 0, 3) + allowed(&mut none, 7, u64::MAX, 3), 2, "the burst, ever");
    }

    #[test]
    fn time_going_back_mints_nothing() {
        let mut rl = RateLimiter::new(1.0, 1, 10).unwrap();
        assert!(rl.allow(1, 10_000));
        assert!(!rl.allow(1, 0));
        assert!(!rl.allow(1, 10_999), "refill counts from the latest time seen");
        assert!(rl.allow(1, 11_000));
    }

    #[test]
    fn memory_is_bounded_and_the_least_recent_key_goes() {
        let mut rl = RateLimiter::new(1.0, 1, 3).unwrap();
        for k in 1..=3 {
            assert!(rl.allow(k, 0));
        }
        assert!(!rl.allow(1, 0), "1 is now the most recent");
        assert!(rl.allow(4, 0), "a new key evicts 2, the least recent");
        assert_eq!(rl.len(), 3);
        assert!(!rl.allow(3, 0) && !rl.allow(1, 0) && !rl.allow(4, 0), "3, 1 and 4 kept their empty buckets");
        assert!(rl.allow(2, 0), "2 was forgotten: a fresh bucket");
        for k in 0..100_000u32 {
            rl.allow(k.wrapping_mul(2_654_435_761), u64::from(k));
        }
        assert_eq!((rl.len(), rl.by_age.len()), (3, 3));
        rl.clear();
        assert!(rl.is_empty() && rl.by_age.is_empty());
    }

    #[test]
    fn settings_are_checked() {
        assert_eq!(RateLimiter::new(-1.0, 1, 1).unwrap_err(), RateLimitError::Rate(-1.0));
        assert!(matches!(RateLimiter::new(f64::NAN, 1, 1), Err(RateLimitError::Rate(_))));
        assert!(matches!(RateLimiter::new(f64::INFINITY, 1, 1), Err(RateLimitError::Rate(_))));
        assert_eq!(RateLimiter::new(1.0, 0, 1).unwrap_err(), RateLimitError::Burst);
        assert_eq!(RateLimiter::new(1.0, 1, 0).unwrap_err(), RateLimitError::MaxKeys);
    }
}
