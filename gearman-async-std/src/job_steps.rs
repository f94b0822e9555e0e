//! How the client's driver hands one job's steps to its [`Job`](crate::Job):
//! a small slot both share, rather than a channel, so that the driver wakes
//! the job's task only for what that task waits for (an update, the end),
//! never for the server's acknowledgement alone. Through a busy server that
//! is one wake-up less per job, which on a multi-threaded executor is a
//! thread hand-off less.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use gearman_proto::client::{JobHandle, JobProgress, JobRead};
use gearman_proto::client::{JobOutcome, JobStep, JobUpdate};

use crate::Error;

#[derive(Default)]
struct State {
    /// The server's acknowledgement, not yet taken by the job.
    handle: Option<JobHandle>,
    /// Updates not yet read, oldest first (no allocation until one comes).
    updates: VecDeque<JobUpdate>,
    /// The end, read after every update.
    end: Option<Result<JobOutcome, Error>>,
    /// The job's task, waiting for an update or the end.
    waker: Option<Waker>,
    /// The job is dropped: nobody reads any more.
    job_gone: bool,
    /// The driver is dropped before the end: the job ends with
    /// [`Error::Shutdown`].
    driver_gone: bool,
}

type Shared = Arc<Mutex<State>>;

fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    // A poisoned lock only means a panic elsewhere; the state is still sound.
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A new job's two ends.
pub(crate) fn job_steps() -> (StepSender, StepReceiver) {
    let shared = Shared::default();
    (
        StepSender {
            shared: shared.clone(),
        },
        StepReceiver { shared },
    )
}

/// The driver's end.
pub(crate) struct StepSender {
    shared: Shared,
}

impl StepSender {
    /// Hands `step` over; false once the job is dropped.
    pub(crate) fn send(&self, step: JobStep) -> bool {
        let mut state = lock(&self.shared);
        if state.job_gone {
            return false;
        }
        match step {
            // Kept for the job's next poll, without waking it.
            JobStep::Created(handle) => {
                state.handle = Some(handle);
                return true;
            }
            JobStep::Update(update) => state.updates.push_back(update),
            JobStep::End(end) => state.end = Some(end.map_err(Error::from)),
            other => {
                tracing::trace!(?other, "job step not used");
                return true;
            }
        }
        let waker = state.waker.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
        true
    }

    /// Ends the job with `error` (a request the core refused).
    pub(crate) fn fail(&self, error: Error) {
        let waker = {
            let mut state = lock(&self.shared);
            state.end = Some(Err(error));
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl Drop for StepSender {
    fn drop(&mut self) {
        let waker = {
            let mut state = lock(&self.shared);
            state.driver_gone = true;
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// The job's end.
#[derive(Debug)]
pub(crate) struct StepReceiver {
    shared: Shared,
}

impl std::fmt::Debug for StepSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StepSender")
    }
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("updates", &self.updates.len())
            .field("ended", &self.end.is_some())
            .finish_non_exhaustive()
    }
}

impl StepReceiver {
    /// The next update or the end; hands the server's acknowledgement to
    /// `progress` when it has come.
    pub(crate) fn poll_step(
        &mut self,
        cx: &mut Context<'_>,
        progress: &mut JobProgress,
    ) -> Poll<JobRead> {
        let mut state = lock(&self.shared);
        if let Some(acknowledged) = state.handle.take() {
            progress.created(acknowledged);
        }
        if let Some(update) = state.updates.pop_front() {
            return Poll::Ready(JobRead::Update(update));
        }
        if let Some(end) = state.end.take() {
            return Poll::Ready(JobRead::End(end));
        }
        if state.driver_gone {
            return Poll::Ready(JobRead::End(Err(Error::Shutdown)));
        }
        match &mut state.waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            waker => *waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl Drop for StepReceiver {
    fn drop(&mut self) {
        let mut state = lock(&self.shared);
        state.job_gone = true;
        state.waker = None;
        state.updates.clear();
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use gearman_proto::client::ServerId;

    use super::*;
    use crate::counting_waker::CountingWaker;

    #[test]
    fn the_acknowledgement_does_not_wake_the_job_but_updates_and_the_end_do() {
        let (counter, waker) = CountingWaker::new();
        let mut cx = Context::from_waker(&waker);
        let (sender, mut receiver) = job_steps();
        let mut progress = JobProgress::new(true);
        assert!(receiver.poll_step(&mut cx, &mut progress).is_pending());

        let acknowledged = JobHandle {
            server: ServerId(0),
            handle: Bytes::from_static(b"H:1"),
        };
        assert!(sender.send(JobStep::Created(acknowledged.clone())));
        assert_eq!(counter.count(), 0);

        assert!(sender.send(JobStep::Update(JobUpdate::Data(Bytes::from_static(b"a")))));
        assert_eq!(counter.count(), 1);
        assert!(matches!(
            receiver.poll_step(&mut cx, &mut progress),
            Poll::Ready(JobRead::Update(JobUpdate::Data(data))) if data == "a"
        ));
        assert_eq!(progress.handle(), Some(&acknowledged));
        assert!(receiver.poll_step(&mut cx, &mut progress).is_pending());

        assert!(
            sender.send(JobStep::End(Ok(JobOutcome::Complete(Bytes::from_static(
                b"r"
            )))))
        );
        assert_eq!(counter.count(), 2);
        assert!(matches!(
            receiver.poll_step(&mut cx, &mut progress),
            Poll::Ready(JobRead::End(Ok(JobOutcome::Complete(result)))) if result == "r"
        ));
    }

    #[test]
    fn a_dropped_driver_ends_the_job_and_a_dropped_job_refuses_steps() {
        let (counter, waker) = CountingWaker::new();
        let mut cx = Context::from_waker(&waker);
        let (sender, mut receiver) = job_steps();
        let mut progress = JobProgress::new(true);
        assert!(receiver.poll_step(&mut cx, &mut progress).is_pending());
        drop(sender);
        assert_eq!(counter.count(), 1);
        assert!(matches!(
            receiver.poll_step(&mut cx, &mut progress),
            Poll::Ready(JobRead::End(Err(Error::Shutdown)))
        ));

        let (sender, receiver) = job_steps();
        drop(receiver);
        assert!(!sender.send(JobStep::Update(JobUpdate::Data(Bytes::new()))));
    }
}
