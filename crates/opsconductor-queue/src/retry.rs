//! Reconnect delays for the callers' retry loops.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::time::{Duration, SystemTime};

/// The first retry waits about this long.
const BASE: Duration = Duration::from_millis(100);
/// No retry waits longer: an agent must notice a recovered broker within seconds.
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// The delay before reconnect attempt `attempt` (0 for the first retry): exponential from
/// 100 ms, capped at [`MAX_BACKOFF`], with jitter so that agents cut off by one broker
/// restart do not all reconnect in the same instant.
#[must_use]
pub fn backoff(attempt: u32) -> Duration {
    backoff_with_jitter(attempt, random_unit())
}

/// [`backoff`] with the jitter given: `unit` in `[0, 1)` picks a delay in the upper half of
/// the exponential step (`[step / 2, step)`), so retries never collapse to zero.
#[must_use]
pub fn backoff_with_jitter(attempt: u32, unit: f64) -> Duration {
    let step = BASE
        .checked_mul(2u32.saturating_pow(attempt.min(16)))
        .unwrap_or(MAX_BACKOFF)
        .min(MAX_BACKOFF);
    let unit = if unit.is_finite() {
        unit.clamp(0.0, 1.0)
    } else {
        0.0
    };
    step.div_f64(2.0).mul_f64(1.0 + unit).min(MAX_BACKOFF)
}

/// A number in `[0, 1)` that differs between processes and calls; not cryptographic, which
/// jitter does not need.
fn random_unit() -> f64 {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let bits = RandomState::new().hash_one(nanos);
    // The high 32 random bits → a double in [0, 1), without a lossy cast.
    f64::from(u32::try_from(bits >> 32).unwrap_or(0)) / 4_294_967_296.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_from_the_base_and_stop_at_ten_seconds() {
        assert_eq!(backoff_with_jitter(0, 0.0), Duration::from_millis(50));
        assert_eq!(backoff_with_jitter(1, 0.0), Duration::from_millis(100));
        assert_eq!(backoff_with_jitter(3, 0.0), Duration::from_millis(400));
        assert_eq!(
            backoff_with_jitter(3, 0.999),
            Duration::from_micros(799_600)
        );
        assert_eq!(backoff_with_jitter(30, 0.0), Duration::from_secs(5));
        assert!(backoff_with_jitter(u32::MAX, 1.0) <= MAX_BACKOFF);
    }

    #[test]
    fn jitter_stays_in_the_upper_half_of_the_step() {
        for attempt in 0..20 {
            let delay = backoff(attempt);
            let step = BASE.saturating_mul(1 << attempt.min(16)).min(MAX_BACKOFF);
            assert!(delay >= step / 2 && delay <= step, "{attempt}: {delay:?}");
        }
    }

    #[test]
    fn bad_jitter_input_does_not_panic() {
        assert_eq!(backoff_with_jitter(0, f64::NAN), Duration::from_millis(50));
        assert_eq!(backoff_with_jitter(0, -3.0), Duration::from_millis(50));
    }
}
