//! The job handle both async adapters return from `submit`, written once
//! over [`job_steps`]; see [`AsyncJob`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use crate::client::{Call, JobHandle, JobOutcome, JobProgress, JobRequest, JobUpdate};
use crate::client::{StepReceiver, StepSender, job_steps};
use crate::driver_error::Error;

/// What a job read next from its [`StepReceiver`]: an update, or the
/// job's end.
#[doc(hidden)]
#[derive(Debug)]
pub enum JobRead {
    /// An update, streamed to the caller.
    Update(JobUpdate),
    /// The outcome, or why the job ended without one.
    End(Result<JobOutcome, Error>),
}

/// How an async adapter's dropped job tells its run loop to forget it.
#[doc(hidden)]
pub trait JobLink {
    /// The run loop's command sender, a clone of which each job keeps.
    type Commands;

    /// Tells the run loop, through `commands`, that nobody waits for job
    /// `key` any more.
    fn forget(commands: &Self::Commands, key: u64);
}

/// A submitted job as an async adapter's `Job` wraps it: its key, its
/// [`JobProgress`], its `gearman.submit` span (entered while the caller
/// waits), its end of [`job_steps`] and the run loop's command sender.
/// Dropped before its end, it asks the run loop to forget the job, through
/// the adapter's [`JobLink`].
#[doc(hidden)]
pub struct AsyncJob<L: JobLink> {
    key: u64,
    steps: StepReceiver,
    commands: L::Commands,
    progress: JobProgress,
    span: crate::observe::SubmitSpan,
}

impl<L: JobLink> AsyncJob<L> {
    /// Submits `request` under the next of `next_key`, its steps going
    /// through a new [`job_steps`], through `send` (false once the run loop
    /// is gone: the job then ends with [`Error::Shutdown`]).
    pub fn submit<R>(
        next_key: &AtomicU64,
        request: JobRequest,
        commands: L::Commands,
        send: impl FnOnce(Call<StepSender, R>) -> bool,
    ) -> AsyncJob<L> {
        let key = next_key.fetch_add(1, Ordering::Relaxed);
        let (sender, steps) = job_steps();
        let (call, span) = Call::submit(key, request, sender);
        let sent = send(call);
        AsyncJob {
            key,
            steps,
            commands,
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
            match self.steps.poll_read(cx, &mut self.progress) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(JobRead::Update(_)) => {}
                Poll::Ready(JobRead::End(end)) => return Poll::Ready(self.progress.finish(end)),
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
        match self.steps.poll_read(cx, &mut self.progress) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(JobRead::Update(update)) => Poll::Ready(Some(update)),
            Poll::Ready(JobRead::End(end)) => {
                self.progress.end(end);
                Poll::Ready(None)
            }
        }
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
            L::forget(&self.commands, self.key);
        }
    }
}

/// The `Job` every async adapter's `submit` returns, written once: the
/// type over the adapter's [`JobLink`] (`$link`) with its shared docs,
/// whose example names the adapter's crate (`$krate`) and the `StreamExt`
/// it uses (`$stream_ext`); `handle`, with the docs given before it; and
/// `Future` and `futures_core::Stream`, which the adapter depends on.
#[doc(hidden)]
#[macro_export]
macro_rules! async_job {
    ($krate:literal, $stream_ext:literal, $link:ty; $(#[$handle_doc:meta])* handle;) => {
        /// A submitted job: `.await` it for the [`JobOutcome`](crate::JobOutcome),
        /// or read its [`JobUpdate`](crate::JobUpdate)s as a `Stream` first and
        /// then `.await` it.
        ///
        /// ```no_run
        #[doc = concat!("use ", $stream_ext, ";")]
        #[doc = concat!("use ", $krate, "::{Client, JobRequest, JobUpdate};")]
        ///
        #[doc = concat!("# async fn demo(client: Client) -> Result<(), ", $krate, "::Error> {")]
        /// let mut job = client.submit(JobRequest::new("progress", ""));
        /// while let Some(update) = job.next().await {
        ///     if let JobUpdate::Data(chunk) = update {
        ///         println!("partial: {chunk:?}");
        ///     }
        /// }
        /// let outcome = job.await?;
        /// # let _ = outcome; Ok(()) }
        /// ```
        ///
        /// Updates that arrive while only the future is polled are dropped.
        /// Dropping the job frees what the client kept for it. Each poll runs in
        /// the job's `gearman.submit` span
        /// ([`submit_span`](gearman_proto::observe::submit_span)).
        #[derive(Debug)]
        #[must_use = "the outcome of a dropped job is discarded"]
        pub struct Job($crate::client::AsyncJob<$link>);

        impl Job {
            $(#[$handle_doc])*
            pub fn handle(&self) -> ::std::option::Option<&$crate::client::JobHandle> {
                self.0.handle()
            }
        }

        impl ::std::future::Future for Job {
            type Output = ::std::result::Result<$crate::client::JobOutcome, $crate::driver_error::Error>;

            fn poll(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<Self::Output> {
                self.get_mut().0.poll_outcome(cx)
            }
        }

        impl ::futures_core::Stream for Job {
            type Item = $crate::client::JobUpdate;

            fn poll_next(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<::std::option::Option<$crate::client::JobUpdate>> {
                self.get_mut().0.poll_update(cx)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::task::Waker;

    use super::*;
    use crate::client::JobStep;

    /// Keeps the keys forgotten.
    struct Forgotten;

    impl JobLink for Forgotten {
        type Commands = Arc<Mutex<Vec<u64>>>;

        fn forget(forgotten: &Arc<Mutex<Vec<u64>>>, key: u64) {
            forgotten.lock().unwrap().push(key);
        }
    }

    /// A job submitted under key 7, the keys it had forgotten, and the run
    /// loop's end of its steps when `sent`.
    fn job(
        sent: bool,
    ) -> (
        AsyncJob<Forgotten>,
        Arc<Mutex<Vec<u64>>>,
        Option<StepSender>,
    ) {
        let forgotten = Arc::new(Mutex::new(Vec::new()));
        let next_key = AtomicU64::new(7);
        let mut steps = None;
        let request = JobRequest::new("f", "x");
        let job = AsyncJob::submit(&next_key, request, forgotten.clone(), |call| {
            if let Call::<_, ()>::Submit { key: 7, waiter, .. } = call {
                steps = Some(waiter);
            }
            sent
        });
        assert!(steps.is_some(), "submitted under key 7");
        (job, forgotten, steps.filter(|_| sent))
    }

    #[test]
    fn the_outcome_follows_the_updates_and_a_finished_job_is_not_forgotten() {
        let mut cx = Context::from_waker(Waker::noop());
        let (mut job, forgotten, steps) = job(true);
        let steps = steps.unwrap();
        let data = JobUpdate::Data("part".into());
        assert_eq!(steps.send(JobStep::Update(data.clone())), Ok(()));
        assert_eq!(job.poll_update(&mut cx), Poll::Ready(Some(data)));
        assert!(job.poll_outcome(&mut cx).is_pending());
        let done = JobStep::End(Ok(JobOutcome::Complete("done".into())));
        assert_eq!(steps.send(done), Ok(()));
        let outcome = job.poll_outcome(&mut cx);
        assert!(matches!(outcome, Poll::Ready(Ok(JobOutcome::Complete(r))) if r == "done"));
        assert_eq!(job.poll_update(&mut cx), Poll::Ready(None));
        drop(job);
        assert!(forgotten.lock().unwrap().is_empty());
    }

    #[test]
    fn a_job_dropped_while_awaited_is_forgotten_under_its_key() {
        let mut cx = Context::from_waker(Waker::noop());
        let (mut job, forgotten, steps) = job(true);
        assert!(job.poll_outcome(&mut cx).is_pending());
        drop(job);
        assert_eq!(*forgotten.lock().unwrap(), [7]);
        let late = JobStep::End(Ok(JobOutcome::Complete("late".into())));
        assert!(steps.unwrap().send(late).is_err(), "the job is gone");
    }

    #[test]
    fn a_submit_the_run_loop_refused_ends_with_shutdown() {
        let mut cx = Context::from_waker(Waker::noop());
        let (mut job, forgotten, _) = job(false);
        assert!(matches!(
            job.poll_outcome(&mut cx),
            Poll::Ready(Err(Error::Shutdown))
        ));
        drop(job);
        assert!(forgotten.lock().unwrap().is_empty());
    }
}
