//! What every adapter's job handle keeps between polls.

use crate::client::{JobHandle, JobOutcome};
use crate::driver_error::Error;

/// The runtime-neutral half of an adapter's job handle: the job's server
/// and handle once acknowledged, and its outcome, given out once. The
/// adapter reads the job's steps and reports them here.
///
/// ```
/// use gearman_proto::client::{JobOutcome, JobProgress};
/// use gearman_proto::driver_error::Error;
///
/// let mut job = JobProgress::new(true);
/// assert!(job.awaited() && !job.is_over());
/// job.end(Ok(JobOutcome::Complete("done".into())));
/// assert!(job.is_over() && !job.awaited());
/// assert!(matches!(job.take_outcome(), Some(Ok(JobOutcome::Complete(_)))));
/// // Polled again: the outcome went out already.
/// assert!(matches!(job.take_outcome(), Some(Err(Error::InvalidRequest(_)))));
///
/// // A submit the client never took ends at once.
/// let mut refused = JobProgress::new(false);
/// assert!(matches!(refused.take_outcome(), Some(Err(Error::Shutdown))));
/// ```
#[derive(Debug, Default)]
pub struct JobProgress {
    handle: Option<JobHandle>,
    /// Known and not yet given out. Boxed: a job in flight holds none, and
    /// inline it would cost every job in flight its 72 bytes.
    outcome: Option<Box<Result<JobOutcome, Error>>>,
    /// The outcome was given out.
    taken: bool,
}

impl JobProgress {
    /// A job whose submit was handed to the client when `sent`; otherwise
    /// the client was gone, and the job ends with [`Error::Shutdown`].
    pub fn new(sent: bool) -> JobProgress {
        JobProgress {
            outcome: (!sent).then(|| Box::new(Err(Error::Shutdown))),
            ..JobProgress::default()
        }
    }

    /// The job's server and handle, once acknowledged.
    pub fn handle(&self) -> Option<&JobHandle> {
        self.handle.as_ref()
    }

    /// The server acknowledged the job (JOB_CREATED).
    pub fn created(&mut self, handle: JobHandle) {
        self.handle = Some(handle);
    }

    /// The job ended (a queued background job's handle is kept too).
    pub fn end(&mut self, outcome: Result<JobOutcome, Error>) {
        if let Ok(JobOutcome::Queued(handle)) = &outcome {
            self.handle = Some(handle.clone());
        }
        self.outcome = Some(Box::new(outcome));
    }

    /// The job ended and its outcome goes out now, to the caller waiting
    /// for it: kept like [`end`](JobProgress::end) then
    /// [`take_outcome`](JobProgress::take_outcome), without storing it.
    ///
    /// ```
    /// use gearman_proto::client::{JobOutcome, JobProgress};
    ///
    /// let mut job = JobProgress::new(true);
    /// let outcome = job.finish(Ok(JobOutcome::Complete("done".into())));
    /// assert!(matches!(outcome, Ok(JobOutcome::Complete(_))));
    /// assert!(job.is_over());
    /// // The outcome went out already.
    /// assert!(matches!(job.take_outcome(), Some(Err(_))));
    /// ```
    pub fn finish(&mut self, outcome: Result<JobOutcome, Error>) -> Result<JobOutcome, Error> {
        if let Ok(JobOutcome::Queued(handle)) = &outcome {
            self.handle = Some(handle.clone());
        }
        self.taken = true;
        outcome
    }

    /// Whether the end is known: no update follows.
    pub fn is_over(&self) -> bool {
        self.outcome.is_some() || self.taken
    }

    /// Whether the job still waits for its end, so that dropping its
    /// handle should tell the client to forget it.
    pub fn awaited(&self) -> bool {
        !self.is_over()
    }

    /// The outcome once known, given out once; asked again, an
    /// [`Error::InvalidRequest`]. `None` while the end is not known.
    pub fn take_outcome(&mut self) -> Option<Result<JobOutcome, Error>> {
        if let Some(outcome) = self.outcome.take() {
            self.taken = true;
            return Some(*outcome);
        }
        self.taken.then(|| {
            Err(Error::InvalidRequest(
                "the job's outcome was already taken".into(),
            ))
        })
    }
}
