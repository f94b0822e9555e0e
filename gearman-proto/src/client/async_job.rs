//! The job handle both async adapters return from `submit`, written once
//! over the adapter's step channel; see [`AsyncJob`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use crate::client::{Call, JobHandle, JobOutcome, JobProgress, JobRequest, JobUpdate};
use crate::driver_error::Error;

/// An async adapter's ends of one job: where its steps are read, and how
/// the run loop is told to forget it.
#[doc(hidden)]
pub trait JobLink {
    /// Reads steps up to the next update (`Some`) or the end (`None`),
    /// handing the acknowledgement and the end to `progress`.
    fn poll_update(
        &mut self,
        cx: &mut Context<'_>,
        progress: &mut JobProgress,
    ) -> Poll<Option<JobUpdate>>;

    /// Tells the run loop that nobody waits for job `key` any more.
    fn forget(&mut self, key: u64);
}

/// A submitted job as an async adapter's `Job` wraps it: its key, its
/// [`JobProgress`], its `gearman.submit` span (entered while the caller
/// waits) and the adapter's [`JobLink`]. Dropped before its end, it asks
/// the run loop to forget the job.
#[doc(hidden)]
pub struct AsyncJob<L: JobLink> {
    key: u64,
    link: L,
    progress: JobProgress,
    span: crate::observe::SubmitSpan,
}

impl<L: JobLink> AsyncJob<L> {
    /// Submits `request` under the next of `next_key`, its steps going to
    /// `waiter`, through `send` (false once the run loop is gone: the job
    /// then ends with [`Error::Shutdown`]).
    pub fn submit<J, R>(
        next_key: &AtomicU64,
        request: JobRequest,
        waiter: J,
        link: L,
        send: impl FnOnce(Call<J, R>) -> bool,
    ) -> AsyncJob<L> {
        let key = next_key.fetch_add(1, Ordering::Relaxed);
        let (call, span) = Call::submit(key, request, waiter);
        let sent = send(call);
        AsyncJob {
            key,
            link,
            progress: JobProgress::new(sent),
            span,
        }
    }

    /// The job's server and handle, once acknowledged and seen by a poll.
    pub fn handle(&self) -> Option<&JobHandle> {
        self.progress.handle()
    }

    /// The outcome, dropping the updates nobody streams.
    pub fn poll_outcome(&mut self, cx: &mut Context<'_>) -> Poll<Result<JobOutcome, Error>> {
        // The caller's wait is the job's: inside its span.
        let _in_span = self.span.enter();
        loop {
            if let Some(outcome) = self.progress.take_outcome() {
                return Poll::Ready(outcome);
            }
            if self.poll_step(cx).is_pending() {
                return Poll::Pending;
            }
        }
    }

    /// The next update, or `None` once the job has ended.
    pub fn poll_update(&mut self, cx: &mut Context<'_>) -> Poll<Option<JobUpdate>> {
        let _in_span = self.span.enter();
        self.poll_step(cx)
    }

    fn poll_step(&mut self, cx: &mut Context<'_>) -> Poll<Option<JobUpdate>> {
        if self.progress.is_over() {
            return Poll::Ready(None);
        }
        self.link.poll_update(cx, &mut self.progress)
    }
}

impl<L: JobLink> std::fmt::Debug for AsyncJob<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("key", &self.key)
            .field("progress", &self.progress)
            .finish_non_exhaustive()
    }
}

impl<L: JobLink> Drop for AsyncJob<L> {
    fn drop(&mut self) {
        if self.progress.awaited() {
            self.link.forget(self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};
    use std::task::Waker;

    use super::*;

    /// Steps handed out in order, and the keys forgotten.
    struct Scripted {
        steps: VecDeque<Option<JobUpdate>>,
        end: Option<Result<JobOutcome, Error>>,
        forgotten: Arc<Mutex<Vec<u64>>>,
    }

    impl JobLink for Scripted {
        fn poll_update(
            &mut self,
            _cx: &mut Context<'_>,
            progress: &mut JobProgress,
        ) -> Poll<Option<JobUpdate>> {
            match self.steps.pop_front() {
                Some(Some(update)) => Poll::Ready(Some(update)),
                Some(None) => Poll::Pending,
                None => {
                    progress.end(self.end.take().expect("ends once"));
                    Poll::Ready(None)
                }
            }
        }

        fn forget(&mut self, key: u64) {
            self.forgotten.lock().unwrap().push(key);
        }
    }

    fn job(
        steps: Vec<Option<JobUpdate>>,
        sent: bool,
    ) -> (AsyncJob<Scripted>, Arc<Mutex<Vec<u64>>>, Vec<u64>) {
        let forgotten = Arc::new(Mutex::new(Vec::new()));
        let link = Scripted {
            steps: steps.into(),
            end: Some(Ok(JobOutcome::Complete("done".into()))),
            forgotten: forgotten.clone(),
        };
        let next_key = AtomicU64::new(7);
        let mut keys = Vec::new();
        let job = AsyncJob::submit(&next_key, JobRequest::new("f", "x"), (), link, |call| {
            if let Call::<(), ()>::Submit { key, .. } = call {
                keys.push(key);
            }
            sent
        });
        (job, forgotten, keys)
    }

    #[test]
    fn the_outcome_follows_the_updates_and_a_finished_job_is_not_forgotten() {
        let mut cx = Context::from_waker(Waker::noop());
        let data = JobUpdate::Data("part".into());
        let (mut job, forgotten, keys) = job(vec![Some(data.clone()), None], true);
        assert_eq!(keys, [7]);
        assert_eq!(job.poll_update(&mut cx), Poll::Ready(Some(data)));
        assert!(job.poll_outcome(&mut cx).is_pending());
        let outcome = job.poll_outcome(&mut cx);
        assert!(matches!(outcome, Poll::Ready(Ok(JobOutcome::Complete(r))) if r == "done"));
        assert_eq!(job.poll_update(&mut cx), Poll::Ready(None));
        drop(job);
        assert!(forgotten.lock().unwrap().is_empty());
    }

    #[test]
    fn a_job_dropped_while_awaited_is_forgotten_under_its_key() {
        let mut cx = Context::from_waker(Waker::noop());
        let (mut job, forgotten, _) = job(vec![None], true);
        assert!(job.poll_outcome(&mut cx).is_pending());
        drop(job);
        assert_eq!(*forgotten.lock().unwrap(), [7]);
    }

    #[test]
    fn a_submit_the_run_loop_refused_ends_with_shutdown() {
        let mut cx = Context::from_waker(Waker::noop());
        let (mut job, forgotten, _) = job(vec![], false);
        assert!(matches!(
            job.poll_outcome(&mut cx),
            Poll::Ready(Err(Error::Shutdown))
        ));
        drop(job);
        assert!(forgotten.lock().unwrap().is_empty());
    }
}
