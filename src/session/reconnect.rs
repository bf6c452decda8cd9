//! Reconnection backoff: jittered exponential, as a pure function of attempts and a
//! random input (in the spirit of OVS's `lib/reconnect.c`, which takes `now`).

use std::time::Duration;

/// Backoff settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// First delay.
    pub min: Duration,
    /// Largest delay.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { min: Duration::from_millis(200), max: Duration::from_secs(30) }
    }
}

impl Backoff {
    /// Delay before attempt `attempt` (0-based): `min * 2^attempt` capped at `max`,
    /// then "full jitter" scaled into [50%, 100%] by `random` in [0, 1) so that many
    /// channels that lost the same host do not reconnect in lockstep.
    pub fn delay(&self, attempt: u32, random: f64) -> Duration {
        let base = self.min.saturating_mul(1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX)).min(self.max);
        base.mul_f64(0.5 + 0.5 * random.clamp(0.0, 1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_then_caps_with_jitter() {
        let b = Backoff { min: Duration::from_millis(100), max: Duration::from_secs(2) };
        assert_eq!(b.delay(0, 1.0), Duration::from_millis(100));
        assert_eq!(b.delay(3, 1.0), Duration::from_millis(800));
        assert_eq!(b.delay(10, 1.0), Duration::from_secs(2));
        assert_eq!(b.delay(10, 0.0), Duration::from_secs(1));
        assert_eq!(b.delay(u32::MAX, 0.5), Duration::from_millis(1500));
    }
}
