//! Deadlines: adding caller- or peer-given durations to `now` without
//! overflow, and the bound on a frame that is started and never finished.

use std::time::{Duration, Instant};

/// Default of the `frame_timeout` setting of the client, the worker and the
/// server: 30 s. See [`MIN_FRAME_RATE`] for how it is applied.
pub const DEFAULT_FRAME_TIMEOUT: Duration = Duration::from_secs(30);

/// Bytes per second a peer must keep up, beyond the frame timeout, while a
/// frame is half received: 64 KiB/s.
///
/// A frame (a packet, or an admin line on the server) that is still
/// incomplete `frame_timeout + received / MIN_FRAME_RATE` after its first
/// byte arrived closes the connection, `received` being how much of it has
/// arrived so far. A peer that stops half-way, or trickles one byte now and
/// then, is closed about `frame_timeout` after the frame began, while a large
/// frame that arrives at least this fast is never cut off. Measuring only
/// the time since the last byte would let a trickle hold a buffer for ever;
/// a fixed bound on the whole frame would cut off a legitimate 64 MiB
/// payload on a slow link. A connection with no partial frame is idle and is
/// never closed for it.
pub const MIN_FRAME_RATE: u64 = 64 * 1024;

/// Durations longer than this are taken as "never": about 34 years, far
/// beyond any process's life, and representable by every platform's clock.
const NEVER: Duration = Duration::from_secs(1 << 30);

/// `now + delay`, saturating: a delay too long for the clock (such as
/// `Duration::MAX`) gives a deadline that never comes instead of panicking.
/// The state machines add every caller- or peer-given duration so; an
/// adapter's own deadlines (a connect, a handshake, a caller's wait) should
/// too.
///
/// ```
/// use std::time::{Duration, Instant};
/// use gearman_proto::deadline_after;
///
/// let now = Instant::now();
/// assert_eq!(deadline_after(now, Duration::from_secs(1)), now + Duration::from_secs(1));
/// // `now + Duration::MAX` would panic.
/// assert!(deadline_after(now, Duration::MAX) > now + Duration::from_secs(1 << 29));
/// ```
pub fn deadline_after(now: Instant, delay: Duration) -> Instant {
    now.checked_add(delay.min(NEVER)).unwrap_or(now)
}

/// When a connection's unfinished frame began, for the frame timeout.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FrameClock {
    started: Option<Instant>,
}

impl FrameClock {
    /// Records a read: `consumed` says whether it completed at least one
    /// frame, `buffered` how many bytes of an unfinished frame are now held.
    pub(crate) fn on_input(&mut self, consumed: bool, buffered: usize, now: Instant) {
        self.started = match self.started {
            _ if buffered == 0 => None,
            Some(started) if !consumed => Some(started),
            _ => Some(now),
        };
    }

    /// When the unfinished frame's time is up, if one is held and the
    /// timeout is set.
    pub(crate) fn deadline(&self, buffered: usize, timeout: Option<Duration>) -> Option<Instant> {
        let started = self.started?;
        let allowance = timeout?.saturating_add(transfer_time(buffered));
        Some(deadline_after(started, allowance))
    }

    /// The earliest deadline any frame started now could have.
    pub(crate) fn started(&self) -> Option<Instant> {
        self.started
    }
}

/// How long `bytes` take at [`MIN_FRAME_RATE`].
fn transfer_time(bytes: usize) -> Duration {
    let nanos = bytes as u128 * 1_000_000_000 / u128::from(MIN_FRAME_RATE);
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_saturates_instead_of_panicking() {
        let now = Instant::now();
        assert!(deadline_after(now, Duration::MAX) >= now + NEVER);
        assert_eq!(
            deadline_after(now, Duration::from_secs(1)),
            now + Duration::from_secs(1)
        );
    }

    #[test]
    fn a_frame_clock_restarts_only_when_a_frame_completes() {
        let t0 = Instant::now();
        let later = t0 + Duration::from_secs(5);
        let timeout = Some(Duration::from_secs(30));
        let mut clock = FrameClock::default();
        clock.on_input(false, 0, t0);
        assert_eq!(clock.deadline(0, timeout), None, "idle");
        clock.on_input(false, 10, t0);
        clock.on_input(false, 20, later);
        assert_eq!(clock.started(), Some(t0), "still the same frame");
        clock.on_input(true, 5, later);
        assert_eq!(clock.started(), Some(later), "a new frame");
        assert_eq!(clock.deadline(5, None), None, "no timeout configured");
        let rate = MIN_FRAME_RATE as usize;
        assert_eq!(
            clock.deadline(2 * rate, timeout),
            Some(later + Duration::from_secs(32))
        );
    }
}
