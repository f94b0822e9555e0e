//! Reconnect backoff: exponential, capped, with seeded jitter.
//!
//! Shared by the client and the worker. The delay before reconnect attempt
//! `n` (counting from 0) is drawn from `[base / 2, base]`, where
//! `base = min(max, min * 2^n)`: the exponential growth spreads load after an
//! outage, the cap keeps a long outage from turning into hours of silence,
//! and the jitter keeps many processes that lost the same server at the same
//! instant from reconnecting in lockstep. The jitter comes from a
//! [`SeededRng`], so the same seed always gives the same delays.

use std::time::Duration;

/// Bounds of a [`Backoff`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffConfig {
    /// Base delay of the first retry (the actual delay lies in `[min / 2, min]`).
    pub min: Duration,
    /// Cap of the base delay: no delay ever exceeds it.
    pub max: Duration,
}

impl Default for BackoffConfig {
    /// 100 ms doubling up to 30 s.
    fn default() -> Self {
        BackoffConfig {
            min: Duration::from_millis(100),
            max: Duration::from_secs(30),
        }
    }
}

/// Exponential backoff with a cap and seeded jitter.
///
/// ```
/// use std::time::Duration;
/// use gearman_proto::backoff::{Backoff, BackoffConfig};
///
/// let config = BackoffConfig { min: Duration::from_millis(100), max: Duration::from_secs(1) };
/// let mut backoff = Backoff::new(config, 7);
/// let first = backoff.next_delay();
/// assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
/// for _ in 0..20 {
///     assert!(backoff.next_delay() <= Duration::from_secs(1));
/// }
/// backoff.reset(); // after a successful connect
/// assert_eq!(backoff.attempt(), 0);
/// ```
#[derive(Debug, Clone)]
pub struct Backoff {
    config: BackoffConfig,
    attempt: u32,
    rng: SeededRng,
}

impl Backoff {
    /// A backoff at attempt 0 whose jitter is drawn from `seed`.
    ///
    /// A `max` below `min` is treated as equal to `min`.
    pub fn new(config: BackoffConfig, seed: u64) -> Backoff {
        Backoff {
            config,
            attempt: 0,
            rng: SeededRng::new(seed),
        }
    }

    /// The configuration.
    pub fn config(&self) -> BackoffConfig {
        self.config
    }

    /// How many delays were handed out since the last [`reset`](Backoff::reset).
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The base (un-jittered) delay of the next attempt: `min * 2^attempt`, capped at `max`.
    pub fn next_base(&self) -> Duration {
        let cap = self.config.max.max(self.config.min);
        // 2^31 already overflows any sensible minimum; saturate instead of wrapping.
        let factor = 1u32.checked_shl(self.attempt.min(31)).unwrap_or(u32::MAX);
        self.config
            .min
            .checked_mul(factor)
            .map_or(cap, |base| base.min(cap))
    }

    /// The delay to wait before the next attempt; advances the attempt count.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.next_base();
        self.attempt = self.attempt.saturating_add(1);
        let half = base / 2;
        // A spread past u64 nanoseconds (a cap of centuries) is narrowed,
        // never wrapped: the delay stays within [half, base].
        let spread = u64::try_from((base - half).as_nanos()).unwrap_or(u64::MAX);
        let jitter = if spread == 0 {
            0
        } else {
            self.rng.below(spread.saturating_add(1))
        };
        half + Duration::from_nanos(jitter)
    }

    /// Starts over at attempt 0 (call after a successful connect).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// A small deterministic pseudo-random generator (SplitMix64).
///
/// Not for cryptography: it only spreads retries and generates unique ids
/// that must differ between submits, and the same seed gives the same
/// sequence on every platform.
///
/// ```
/// use gearman_proto::backoff::SeededRng;
/// let mut a = SeededRng::new(1);
/// let mut b = SeededRng::new(1);
/// assert_eq!(a.next_u64(), b.next_u64());
/// assert!(a.below(10) < 10);
/// ```
#[derive(Debug, Clone)]
pub struct SeededRng {
    state: u64,
}

impl SeededRng {
    /// A generator whose sequence is fixed by `seed`.
    pub fn new(seed: u64) -> SeededRng {
        SeededRng { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..bound`; `0` when `bound` is `0`.
    pub fn below(&mut self, bound: u64) -> u64 {
        if bound == 0 {
            return 0;
        }
        // Widening multiply: unbiased enough for jitter and cheap.
        ((u128::from(self.next_u64()) * u128::from(bound)) >> 64) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(min_ms: u64, max_ms: u64) -> BackoffConfig {
        BackoffConfig {
            min: Duration::from_millis(min_ms),
            max: Duration::from_millis(max_ms),
        }
    }

    #[test]
    fn base_doubles_then_caps() {
        let mut b = Backoff::new(config(100, 1000), 1);
        let mut bases = Vec::new();
        for _ in 0..6 {
            bases.push(b.next_base().as_millis());
            b.next_delay();
        }
        assert_eq!(bases, [100, 200, 400, 800, 1000, 1000]);
    }

    #[test]
    fn delays_lie_in_upper_half_of_base_and_never_exceed_cap() {
        let mut b = Backoff::new(config(10, 5000), 99);
        for _ in 0..200 {
            let base = b.next_base();
            let d = b.next_delay();
            assert!(
                d >= base / 2 && d <= base,
                "{d:?} outside [{:?}, {base:?}]",
                base / 2
            );
            assert!(d <= Duration::from_secs(5));
        }
        assert_eq!(b.attempt(), 200);
    }

    #[test]
    fn same_seed_same_delays_and_different_seed_differs() {
        let run = |seed| {
            let mut b = Backoff::new(config(100, 10_000), seed);
            (0..8).map(|_| b.next_delay()).collect::<Vec<_>>()
        };
        assert_eq!(run(5), run(5));
        assert_ne!(run(5), run(6));
    }

    #[test]
    fn huge_attempt_counts_saturate_at_cap() {
        let mut b = Backoff::new(config(1, 60_000), 3);
        for _ in 0..100 {
            b.next_delay();
        }
        assert_eq!(b.next_base(), Duration::from_secs(60));
        b.reset();
        assert_eq!(b.next_base(), Duration::from_millis(1));
    }

    #[test]
    fn max_below_min_uses_min_and_zero_min_is_zero() {
        let b = Backoff::new(config(500, 100), 0);
        assert_eq!(b.next_base(), Duration::from_millis(500));
        let mut z = Backoff::new(config(0, 0), 0);
        assert_eq!(z.next_delay(), Duration::ZERO);
    }

    #[test]
    fn below_stays_in_range() {
        let mut r = SeededRng::new(42);
        assert_eq!(r.below(0), 0);
        for bound in 1..200 {
            assert!(r.below(bound) < bound);
        }
    }
}
