//! The handler table a worker's run loop starts jobs from, and what a job
//! whose handler panicked ends with: the same rules for every adapter.

use bytes::Bytes;

use super::{Assignment, WorkError, Worker};
use crate::fast_map::FastMap;

/// The handlers a worker runs jobs with, by function name, from
/// [`Registry::into_worker`](super::Registry::into_worker).
///
/// ```
/// use std::time::Instant;
/// use gearman_proto::worker::{Registry, WorkerConfig};
///
/// let config = WorkerConfig::new(["127.0.0.1:4730"]);
/// let registry: Registry<&str> = Registry::new(config).register("reverse", None, "h");
/// let (_worker, handlers) = registry.into_worker(|| 1, Instant::now())?;
/// assert_eq!(handlers.len(), 1);
/// # Ok::<(), gearman_proto::worker::WorkerError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Handlers<H> {
    /// Looked up once per job, so with the core's fast hasher.
    table: FastMap<Bytes, H>,
}

impl<H: Clone> Handlers<H> {
    /// The handler for `assignment`'s function. The core assigns only
    /// registered functions, so a job without one would be a bug: it is
    /// failed in `core` (`None`) rather than left to hang.
    pub fn for_job(&self, core: &mut Worker, assignment: &Assignment) -> Option<H> {
        let handler = self.table.get(&assignment.function).cloned();
        if handler.is_none() {
            tracing::error!(function = %String::from_utf8_lossy(&assignment.function),
                "a job for a function with no handler; failing it");
            let _ = core.work_fail(assignment.id);
        }
        handler
    }
}

impl<H> Handlers<H> {
    /// The number of functions with a handler.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether no function has a handler.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }
}

impl<H> FromIterator<(Bytes, H)> for Handlers<H> {
    fn from_iter<I: IntoIterator<Item = (Bytes, H)>>(iter: I) -> Handlers<H> {
        Handlers {
            table: iter.into_iter().collect(),
        }
    }
}

/// What a job ends with when its handler panicked: logged, then failed,
/// so that the worker goes on with its other jobs.
///
/// ```
/// use gearman_proto::worker::{WorkError, handler_panicked};
///
/// assert!(matches!(handler_panicked(b"reverse"), Err(WorkError::Fail)));
/// ```
pub fn handler_panicked(function: &[u8]) -> Result<Bytes, WorkError> {
    tracing::error!(
        function = %String::from_utf8_lossy(function),
        "handler panicked; failing the job"
    );
    Err(WorkError::Fail)
}
