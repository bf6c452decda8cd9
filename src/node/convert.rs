//! Conversions shared by the bindings: JS millisecond options to durations, and
//! session deadlines to "milliseconds from now" for JS timers.

use std::time::{Duration, Instant};

/// `v` milliseconds, or `default` when the option was not given.
pub fn ms(v: Option<u32>, default: u64) -> Duration {
    Duration::from_millis(v.map_or(default, u64::from))
}

/// Milliseconds from now until `deadline` (0 when due), for a JS `setTimeout`.
pub fn ms_until(deadline: Option<Instant>) -> Option<f64> {
    deadline.map(|t| t.saturating_duration_since(Instant::now()).as_secs_f64() * 1000.0)
}
