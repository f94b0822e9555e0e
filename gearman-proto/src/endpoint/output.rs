//! Output limits and the per-connection accounting that enforces them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::packet::DEFAULT_MAX_PACKET_SIZE;

/// Default of [`OutputLimits::max_pending_output`]: room for two packets of
/// the largest default size and some more, so that one large reply never
/// trips it. 129 MiB.
pub const DEFAULT_MAX_PENDING_OUTPUT: usize = 2 * DEFAULT_MAX_PACKET_SIZE as usize + 1024 * 1024;
/// Default of [`OutputLimits::write_stall_timeout`]: 60 s.
pub const DEFAULT_WRITE_STALL_TIMEOUT: Duration = Duration::from_secs(60);
/// Default of [`OutputLimits::max_total_pending_output`] for a server: 1 GiB.
pub const DEFAULT_MAX_TOTAL_PENDING_OUTPUT: usize = 1024 * 1024 * 1024;

/// Bounds on the output a driver holds for its peers.
///
/// ```
/// use gearman_proto::endpoint::{OutputLimits, DEFAULT_MAX_PENDING_OUTPUT};
/// let limits = OutputLimits::default();
/// assert_eq!(limits.max_pending_output, DEFAULT_MAX_PENDING_OUTPUT);
/// assert_eq!(limits.max_total_pending_output, usize::MAX);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct OutputLimits {
    /// Bytes queued for one connection that its peer has not taken yet;
    /// more drops the connection. Default: [`DEFAULT_MAX_PENDING_OUTPUT`].
    pub max_pending_output: usize,
    /// How long output may wait without the peer taking a single byte of it
    /// before the connection is dropped. `None`: as long as the peer stays
    /// connected. Default: [`DEFAULT_WRITE_STALL_TIMEOUT`].
    pub write_stall_timeout: Option<Duration>,
    /// Bytes queued for all the connections of one driver together; the
    /// connection whose output would go over it is dropped. Default: no
    /// limit (`usize::MAX`); servers set
    /// [`DEFAULT_MAX_TOTAL_PENDING_OUTPUT`].
    pub max_total_pending_output: usize,
}

impl Default for OutputLimits {
    fn default() -> Self {
        OutputLimits {
            max_pending_output: DEFAULT_MAX_PENDING_OUTPUT,
            write_stall_timeout: Some(DEFAULT_WRITE_STALL_TIMEOUT),
            max_total_pending_output: usize::MAX,
        }
    }
}

/// Why [`Backlog::write_or_queue`] failed: the connection must be dropped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SendFailed {
    /// The peer does not take its output.
    #[error(transparent)]
    Overflow(#[from] Overflow),
    /// Writing failed.
    #[error("write failed: {0}")]
    Write(std::io::Error),
}

/// Why [`Backlog::queue`] refused bytes: the connection must be dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Overflow {
    /// The connection's own output would go over
    /// [`OutputLimits::max_pending_output`].
    #[error("the peer is not taking its output: {queued} bytes would be queued, over {limit}")]
    Connection {
        /// Bytes that would have been queued.
        queued: usize,
        /// The limit.
        limit: usize,
    },
    /// The output of all connections would go over
    /// [`OutputLimits::max_total_pending_output`].
    #[error("output queued for all peers would go over {limit} bytes")]
    Total {
        /// The limit.
        limit: usize,
    },
}

/// The limits and the running total of one driver; cheap to clone (clones
/// share the total).
#[derive(Debug, Clone)]
pub struct OutputBudget {
    limits: OutputLimits,
    total: Arc<AtomicUsize>,
}

impl OutputBudget {
    /// A budget with nothing queued yet.
    pub fn new(limits: OutputLimits) -> OutputBudget {
        OutputBudget {
            limits,
            total: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The limits it enforces.
    pub fn limits(&self) -> OutputLimits {
        self.limits
    }

    /// Bytes queued for all connections now.
    pub fn total(&self) -> usize {
        self.total.load(Ordering::Acquire)
    }

    /// The account of a new connection, with nothing queued.
    pub fn backlog(&self) -> Backlog {
        Backlog {
            budget: self.clone(),
            state: Mutex::new(BacklogState::default()),
        }
    }
}

/// Output queued for one connection and not yet taken by its peer. The
/// driver calls [`queue`](Backlog::queue) before it hands bytes to the
/// connection's writer, the writer calls [`wrote`](Backlog::wrote) as the
/// socket takes them. Dropping it (or [`discard`](Backlog::discard))
/// returns what is left to the budget.
#[derive(Debug)]
pub struct Backlog {
    budget: OutputBudget,
    state: Mutex<BacklogState>,
}

#[derive(Debug, Default)]
struct BacklogState {
    queued: usize,
    /// When the peer last took bytes, or when output started waiting.
    progress_at: Option<Instant>,
}

impl Backlog {
    fn state(&self) -> std::sync::MutexGuard<'_, BacklogState> {
        // Nothing panics while it is held.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts `len` more bytes as queued at `now`, or refuses them (and
    /// counts nothing) when a limit would be passed; the caller then drops
    /// the connection.
    ///
    /// ```
    /// use std::time::Instant;
    /// use gearman_proto::endpoint::{OutputBudget, OutputLimits, Overflow};
    /// let mut limits = OutputLimits::default();
    /// limits.max_pending_output = 10;
    /// let backlog = OutputBudget::new(limits).backlog();
    /// let now = Instant::now();
    /// assert_eq!(backlog.queue(8, now), Ok(()));
    /// assert_eq!(backlog.queue(3, now), Err(Overflow::Connection { queued: 11, limit: 10 }));
    /// backlog.wrote(8, now);
    /// assert_eq!(backlog.queue(3, now), Ok(()));
    /// ```
    pub fn queue(&self, len: usize, now: Instant) -> Result<(), Overflow> {
        let limits = self.budget.limits;
        let mut state = self.state();
        let queued = state.queued.saturating_add(len);
        if queued > limits.max_pending_output {
            return Err(Overflow::Connection {
                queued,
                limit: limits.max_pending_output,
            });
        }
        let before = self.budget.total.fetch_add(len, Ordering::AcqRel);
        if before.saturating_add(len) > limits.max_total_pending_output {
            self.budget.total.fetch_sub(len, Ordering::AcqRel);
            return Err(Overflow::Total {
                limit: limits.max_total_pending_output,
            });
        }
        if state.queued == 0 {
            state.progress_at = Some(now);
        }
        state.queued = queued;
        Ok(())
    }

    /// Sends `data` the fastest way that keeps the order: while nothing is
    /// queued before it (the connection's writer holds nothing), as much as
    /// `write_now` takes at once (it writes without waiting and returns the
    /// count, 0 when the socket would block); what is left is counted as
    /// queued and returned, for the writer. Saves handing small messages to
    /// a writer task or thread, and waking it, when the socket is ready.
    ///
    /// An error means the connection must be dropped.
    ///
    /// ```
    /// use std::time::Instant;
    /// use bytes::Bytes;
    /// use gearman_proto::endpoint::{OutputBudget, OutputLimits};
    /// let backlog = OutputBudget::new(OutputLimits::default()).backlog();
    /// let now = Instant::now();
    /// // The socket takes 3 bytes: the rest goes to the writer.
    /// let rest = backlog.write_or_queue(Bytes::from_static(b"hello"), now, |_| Ok(3)).unwrap();
    /// assert_eq!(rest.as_deref(), Some(&b"lo"[..]));
    /// assert_eq!(backlog.queued(), 2);
    /// // Bytes are queued: later ones queue behind them without a write.
    /// let rest = backlog
    ///     .write_or_queue(Bytes::from_static(b"!"), now, |_| unreachable!())
    ///     .unwrap();
    /// assert_eq!(rest.as_deref(), Some(&b"!"[..]));
    /// ```
    pub fn write_or_queue(
        &self,
        mut data: Bytes,
        now: Instant,
        write_now: impl FnOnce(&[u8]) -> std::io::Result<usize>,
    ) -> Result<Option<Bytes>, SendFailed> {
        if self.queued() == 0 {
            let written = write_now(&data).map_err(SendFailed::Write)?;
            if written >= data.len() {
                return Ok(None);
            }
            data = data.slice(written..);
        }
        self.queue(data.len(), now)?;
        Ok(Some(data))
    }

    /// The peer took `len` queued bytes at `now`.
    pub fn wrote(&self, len: usize, now: Instant) {
        let mut state = self.state();
        let len = len.min(state.queued);
        state.queued -= len;
        self.budget.total.fetch_sub(len, Ordering::AcqRel);
        state.progress_at = (state.queued > 0).then_some(now);
    }

    /// Bytes queued and not yet taken.
    pub fn queued(&self) -> usize {
        self.state().queued
    }

    /// When the connection is to be dropped if its peer takes nothing
    /// before: [`OutputLimits::write_stall_timeout`] after the last
    /// progress. `None` with nothing queued or no timeout.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use gearman_proto::endpoint::{OutputBudget, OutputLimits};
    /// let mut limits = OutputLimits::default();
    /// limits.write_stall_timeout = Some(Duration::from_secs(5));
    /// let backlog = OutputBudget::new(limits).backlog();
    /// let start = Instant::now();
    /// assert_eq!(backlog.stall_deadline(), None);
    /// backlog.queue(100, start).unwrap();
    /// assert_eq!(backlog.stall_deadline(), Some(start + Duration::from_secs(5)));
    /// let later = start + Duration::from_secs(2);
    /// backlog.wrote(1, later);
    /// assert_eq!(backlog.stall_deadline(), Some(later + Duration::from_secs(5)));
    /// backlog.wrote(99, later);
    /// assert_eq!(backlog.stall_deadline(), None);
    /// ```
    pub fn stall_deadline(&self) -> Option<Instant> {
        let timeout = self.budget.limits.write_stall_timeout?;
        // A timeout past what the clock can represent never passes.
        self.state().progress_at?.checked_add(timeout)
    }

    /// Whether [`stall_deadline`](Backlog::stall_deadline) has passed at `now`.
    pub fn stalled(&self, now: Instant) -> bool {
        self.stall_deadline().is_some_and(|at| at <= now)
    }

    /// Forgets what is queued (the connection is dropped) and returns it to
    /// the budget; returns how many bytes that was.
    pub fn discard(&self) -> usize {
        let mut state = self.state();
        let dropped = std::mem::take(&mut state.queued);
        state.progress_at = None;
        self.budget.total.fetch_sub(dropped, Ordering::AcqRel);
        dropped
    }
}

impl Drop for Backlog {
    fn drop(&mut self) {
        self.discard();
    }
}

/// Most bytes a connection's writer joins into one write from chunks
/// already queued.
pub const WRITE_BATCH: usize = 64 * 1024;

/// What a connection's writer writes next: `first` alone, uncopied, when
/// `next` has nothing more at once; otherwise `first` and the chunks `next`
/// yields, joined in `batch` until it holds [`WRITE_BATCH`] bytes or more.
///
/// ```
/// use bytes::{Bytes, BytesMut};
/// use gearman_proto::endpoint::coalesce;
///
/// let mut batch = BytesMut::new();
/// let mut queued = vec![Bytes::from_static(b"c"), Bytes::from_static(b"b")];
/// assert_eq!(coalesce(b"a", || queued.pop(), &mut batch), b"abc");
/// assert_eq!(coalesce(b"d", || queued.pop(), &mut batch), b"d");
/// ```
pub fn coalesce<'a>(
    first: &'a [u8],
    mut next: impl FnMut() -> Option<bytes::Bytes>,
    batch: &'a mut bytes::BytesMut,
) -> &'a [u8] {
    let Some(second) = next() else {
        return first;
    };
    batch.clear();
    batch.extend_from_slice(first);
    batch.extend_from_slice(&second);
    while batch.len() < WRITE_BATCH {
        match next() {
            Some(more) => batch.extend_from_slice(&more),
            None => break,
        }
    }
    batch
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_conn: usize, total: usize) -> OutputLimits {
        OutputLimits {
            max_pending_output: per_conn,
            write_stall_timeout: Some(Duration::from_secs(1)),
            max_total_pending_output: total,
        }
    }

    #[test]
    fn a_write_goes_out_at_once_only_while_nothing_is_queued_and_fails_typed() {
        let backlog = OutputBudget::new(limits(4, 100)).backlog();
        let now = Instant::now();
        let all = backlog.write_or_queue(Bytes::from_static(b"abc"), now, |d| Ok(d.len()));
        assert_eq!(all.unwrap(), None);
        assert_eq!(backlog.queued(), 0);
        // Would block: everything is queued.
        let rest = backlog.write_or_queue(Bytes::from_static(b"abc"), now, |_| Ok(0));
        assert_eq!(rest.unwrap().as_deref(), Some(&b"abc"[..]));
        // Over the limit behind it: refused without a write.
        let over = backlog.write_or_queue(Bytes::from_static(b"de"), now, |_| unreachable!());
        assert!(matches!(over, Err(SendFailed::Overflow(_))), "{over:?}");
        backlog.wrote(3, now);
        let failed = backlog.write_or_queue(Bytes::from_static(b"x"), now, |_| {
            Err(std::io::ErrorKind::BrokenPipe.into())
        });
        assert!(matches!(failed, Err(SendFailed::Write(_))), "{failed:?}");
        assert_eq!(backlog.queued(), 0);
    }

    #[test]
    fn the_connection_that_would_cross_the_total_is_refused_and_the_others_keep_theirs() {
        let budget = OutputBudget::new(limits(100, 150));
        let (first, second) = (budget.backlog(), budget.backlog());
        let now = Instant::now();
        assert_eq!(first.queue(90, now), Ok(()));
        assert_eq!(second.queue(70, now), Err(Overflow::Total { limit: 150 }));
        assert_eq!(
            (first.queued(), second.queued(), budget.total()),
            (90, 0, 90)
        );
        assert_eq!(second.queue(60, now), Ok(()));
        assert_eq!(budget.total(), 150);
    }

    #[test]
    fn a_dropped_or_discarded_backlog_returns_its_bytes_to_the_total() {
        let budget = OutputBudget::new(limits(100, 150));
        let now = Instant::now();
        let first = budget.backlog();
        first.queue(50, now).unwrap();
        {
            let second = budget.backlog();
            second.queue(40, now).unwrap();
            assert_eq!(budget.total(), 90);
        }
        assert_eq!(budget.total(), 50);
        first.wrote(20, now);
        assert_eq!(first.discard(), 30);
        assert_eq!(budget.total(), 0);
        assert_eq!(first.stall_deadline(), None);
    }

    #[test]
    fn only_waiting_output_without_progress_stalls() {
        let budget = OutputBudget::new(limits(100, usize::MAX));
        let backlog = budget.backlog();
        let start = Instant::now();
        assert!(!backlog.stalled(start + Duration::from_secs(10)));
        backlog.queue(10, start).unwrap();
        // More output queued is no progress: the deadline stays.
        backlog
            .queue(10, start + Duration::from_millis(500))
            .unwrap();
        assert!(backlog.stalled(start + Duration::from_secs(1)));
        backlog.wrote(5, start + Duration::from_millis(900));
        assert!(!backlog.stalled(start + Duration::from_secs(1)));
        assert!(backlog.stalled(start + Duration::from_millis(1900)));
    }
}
