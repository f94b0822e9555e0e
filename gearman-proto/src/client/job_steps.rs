//! The link from an async client's run loop to one job: see [`job_steps`].

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use crate::client::{
    Call, Client, Deliver, JobHandle, JobProgress, JobQueue, JobRead, JobStep, RequestAnswer,
    UsageError, Waiters,
};
use crate::driver_error::Error;
use crate::endpoint::Glue;

/// A job's steps not yet read, and the job's task waiting for them.
struct Slot {
    /// The server's acknowledgement, kept aside when it comes first (as it
    /// does): the end behind it then takes the queue's inline place
    /// instead of its first allocation.
    created: Option<JobHandle>,
    /// A submit the client refused arrives as its error, boxed: it is rare,
    /// and inline it would make every job's queue larger.
    steps: JobQueue<Result<JobStep, Box<Error>>>,
    waker: Option<Waker>,
}

fn lock(slot: &Mutex<Slot>) -> MutexGuard<'_, Slot> {
    // Nothing can panic while the lock is held, so a poisoned slot is intact.
    slot.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The two ends of one job's steps, for any async runtime: the run loop
/// [sends](StepSender::send) them, the job [reads](StepReceiver::poll_read)
/// them in order. A [`JobQueue`] behind a mutex, with the job's task to
/// wake: a step wakes it only when the task waits for that step
/// ([`JobStep::wakes_waiter`]), so the server's acknowledgement alone costs
/// no wake-up.
///
/// ```
/// use std::task::{Context, Poll, Waker};
/// use gearman_proto::client::{JobOutcome, JobProgress, JobRead, JobStep, job_steps};
///
/// let (sender, mut receiver) = job_steps();
/// let mut cx = Context::from_waker(Waker::noop());
/// let mut progress = JobProgress::new(true);
/// assert!(receiver.poll_read(&mut cx, &mut progress).is_pending());
///
/// let done = JobStep::End(Ok(JobOutcome::Complete("done".into())));
/// assert!(sender.send(done).is_ok());
/// assert!(matches!(
///     receiver.poll_read(&mut cx, &mut progress),
///     Poll::Ready(JobRead::End(Ok(JobOutcome::Complete(result)))) if result == "done"
/// ));
///
/// // Once the job is gone, its steps come back: the client forgets it.
/// drop(receiver);
/// let late = JobStep::End(Ok(JobOutcome::Complete("late".into())));
/// assert!(sender.send(late).is_err());
/// ```
pub fn job_steps() -> (StepSender, StepReceiver) {
    let slot = Arc::new(Mutex::new(Slot {
        created: None,
        steps: JobQueue::new(),
        waker: None,
    }));
    (StepSender { slot: slot.clone() }, StepReceiver { slot })
}

/// The [`Deliver`] of a run loop whose jobs wait on [`job_steps`] and whose
/// requests wait on `R`, answered by the function given to
/// [`new`](StepHandoff::new): both async adapters hand results so.
///
/// ```
/// use gearman_proto::client::{RequestAnswer, StepHandoff};
/// use gearman_proto::driver_error::Error;
/// use std::sync::mpsc;
///
/// type Reply = mpsc::Sender<Result<RequestAnswer, Error>>;
/// let handoff: StepHandoff<Reply> = StepHandoff::new(|reply, answer| {
///     let _ = reply.send(answer);
/// });
/// # let _ = handoff;
/// ```
#[derive(Clone, Copy)]
pub struct StepHandoff<R> {
    reply: fn(R, Result<RequestAnswer, Error>),
}

impl<R> StepHandoff<R> {
    /// A handoff answering requests with `reply`.
    pub const fn new(reply: fn(R, Result<RequestAnswer, Error>)) -> StepHandoff<R> {
        StepHandoff { reply }
    }
}

impl<R> Deliver for StepHandoff<R> {
    type Job = StepSender;
    type Request = R;

    fn step(&mut self, steps: &mut StepSender, step: JobStep) -> bool {
        steps.send(step).is_ok()
    }

    fn reply(&mut self, waiter: R, answer: Result<RequestAnswer, Error>) {
        (self.reply)(waiter, answer);
    }

    fn refuse_job(&mut self, steps: StepSender, error: UsageError) {
        tracing::debug!(%error, "submit refused");
        steps.fail(error.into());
    }
}

/// An adapter's callers as its run loop sees them: the [`Waiters`] table
/// over the [`job_steps`] link, answered through one [`StepHandoff`], and
/// whether every caller's handle is gone. Each adapter's client loop is
/// this plus its runtime's sockets and timer.
///
/// ```
/// use std::sync::mpsc;
/// use std::time::Instant;
/// use gearman_proto::client::{Callers, Client, ClientConfig, RequestAnswer};
/// use gearman_proto::driver_error::Error;
///
/// type Reply = mpsc::Sender<Result<RequestAnswer, Error>>;
/// let mut core = Client::new(ClientConfig::new(["127.0.0.1:4730"]))?;
/// let mut callers: Callers<Reply> = Callers::new(|reply, answer| {
///     let _ = reply.send(answer);
/// });
/// assert!(callers.is_idle() && !callers.finished());
/// callers.deliver(&mut core, Instant::now());
/// callers.handles_gone();
/// assert!(callers.finished());
/// # Ok::<(), gearman_proto::client::ConfigError>(())
/// ```
pub struct Callers<R> {
    waiters: Waiters<StepSender, R>,
    handoff: StepHandoff<R>,
    handles_gone: bool,
}

impl<R> Callers<R> {
    /// No callers yet; requests are answered with `reply`.
    pub fn new(reply: fn(R, Result<RequestAnswer, Error>)) -> Callers<R> {
        Callers {
            waiters: Waiters::new(),
            handoff: StepHandoff::new(reply),
            handles_gone: false,
        }
    }

    /// Applies a caller's call to `core` ([`Waiters::call`]).
    pub fn call(&mut self, core: &mut Client, call: Call<StepSender, R>, now: Instant) {
        self.waiters.call(core, call, now, &mut self.handoff);
    }

    /// Hands what `core` reports to its waiters ([`Waiters::deliver`]).
    pub fn deliver(&mut self, core: &mut Client, now: Instant) {
        self.waiters.deliver(core, now, &mut self.handoff);
    }

    /// Every caller's handle is gone: no call can come any more.
    pub fn handles_gone(&mut self) {
        self.handles_gone = true;
    }

    /// The loop may end: no caller is left, or the client was closed.
    pub fn finished(&self) -> bool {
        self.handles_gone || self.waiters.is_closed()
    }

    /// Nothing in flight ([`Waiters::is_empty`]): a call applied now goes
    /// out alone.
    pub fn is_idle(&self) -> bool {
        self.waiters.is_empty()
    }

    /// The waiters table, to inspect.
    pub fn waiters(&self) -> &Waiters<StepSender, R> {
        &self.waiters
    }
}

/// The client's glue, whatever the loop's sockets: it takes no socket in.
impl<R, Io: ?Sized> Glue<Io> for Callers<R> {
    type Core = Client;
    type Command = Call<StepSender, R>;

    fn command(&mut self, core: &mut Client, call: Self::Command, now: Instant, _io: &mut Io) {
        self.call(core, call, now);
    }

    fn handles_gone(&mut self) {
        Callers::handles_gone(self);
    }

    fn deliver(&mut self, core: &mut Client, now: Instant) {
        Callers::deliver(self, core, now);
    }

    fn finished(&self) -> bool {
        Callers::finished(self)
    }

    fn is_idle(&self) -> bool {
        Callers::is_idle(self)
    }
}

/// The run loop's end of [`job_steps`]. Dropped before the job's end, the
/// job ends with [`Error::Shutdown`].
pub struct StepSender {
    slot: Arc<Mutex<Slot>>,
}

/// The job's end of [`job_steps`]. Dropped, later steps are refused.
pub struct StepReceiver {
    slot: Arc<Mutex<Slot>>,
}

impl StepSender {
    /// Hands `step` to the job, waking it if it waits for such a step;
    /// gives the step back once the job is gone, so that the client
    /// forgets it.
    ///
    /// ```
    /// use gearman_proto::client::{JobHandle, JobStep, ServerId, job_steps};
    ///
    /// let (sender, receiver) = job_steps();
    /// let handle = JobHandle { server: ServerId(0), handle: "H:1".into() };
    /// assert!(sender.send(JobStep::Created(handle.clone())).is_ok());
    /// drop(receiver);
    /// assert_eq!(sender.send(JobStep::Created(handle.clone())), Err(JobStep::Created(handle)));
    /// ```
    pub fn send(&self, step: JobStep) -> Result<(), JobStep> {
        let wake = step.wakes_waiter();
        match self.push(Ok(step), wake) {
            Err(Ok(refused)) => Err(refused),
            // Only the step pushed can come back.
            _ => Ok(()),
        }
    }

    /// Ends the job with `error`: the client refused its submit.
    ///
    /// ```
    /// use std::task::{Context, Poll, Waker};
    /// use gearman_proto::client::{JobProgress, JobRead, job_steps};
    /// use gearman_proto::driver_error::Error;
    ///
    /// let (sender, mut receiver) = job_steps();
    /// sender.fail(Error::InvalidRequest("closing".into()));
    /// let mut cx = Context::from_waker(Waker::noop());
    /// assert!(matches!(
    ///     receiver.poll_read(&mut cx, &mut JobProgress::new(true)),
    ///     Poll::Ready(JobRead::End(Err(Error::InvalidRequest(_))))
    /// ));
    /// ```
    pub fn fail(&self, error: Error) {
        // Nobody reads a refusal of a job already dropped.
        let _ = self.push(Err(Box::new(error)), true);
    }

    fn push(
        &self,
        step: Result<JobStep, Box<Error>>,
        wake: bool,
    ) -> Result<(), Result<JobStep, Box<Error>>> {
        let waker = {
            let mut slot = lock(&self.slot);
            match step {
                Ok(JobStep::Created(handle))
                    if slot.created.is_none()
                        && slot.steps.is_empty()
                        && !slot.steps.receiver_gone() =>
                {
                    slot.created = Some(handle);
                }
                step => slot.steps.push(step)?,
            }
            if !wake {
                return Ok(());
            }
            slot.waker.take()
        };
        // Woken outside the lock: the job's task may run at once elsewhere.
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }
}

impl Drop for StepSender {
    fn drop(&mut self) {
        let waker = {
            let mut slot = lock(&self.slot);
            slot.steps.close_sender();
            slot.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl StepReceiver {
    /// Reads steps up to the next update or the end, in the order sent,
    /// handing the server's acknowledgement to `progress` on the way; the
    /// end is [`Error::Shutdown`] once every step is read and the sender is
    /// gone. Pending, it wakes `cx`'s task for the next step that
    /// [wakes a waiter](JobStep::wakes_waiter).
    ///
    /// ```
    /// use std::task::{Context, Poll, Waker};
    /// use gearman_proto::client::{JobProgress, JobRead, job_steps};
    /// use gearman_proto::driver_error::Error;
    ///
    /// let (sender, mut receiver) = job_steps();
    /// drop(sender);
    /// let mut cx = Context::from_waker(Waker::noop());
    /// assert!(matches!(
    ///     receiver.poll_read(&mut cx, &mut JobProgress::new(true)),
    ///     Poll::Ready(JobRead::End(Err(Error::Shutdown)))
    /// ));
    /// ```
    pub fn poll_read(&mut self, cx: &mut Context<'_>, progress: &mut JobProgress) -> Poll<JobRead> {
        let mut slot = lock(&self.slot);
        if let Some(handle) = slot.created.take() {
            progress.created(handle);
        }
        while let Some(step) = slot.steps.pop() {
            let end = match step {
                Ok(JobStep::Created(handle)) => {
                    progress.created(handle);
                    continue;
                }
                Ok(JobStep::Update(update)) => return Poll::Ready(JobRead::Update(update)),
                Ok(JobStep::End(end)) => end.map_err(Error::from),
                Err(refused) => Err(*refused),
            };
            return Poll::Ready(JobRead::End(end));
        }
        if slot.steps.sender_gone() {
            return Poll::Ready(JobRead::End(Err(Error::Shutdown)));
        }
        if !slot
            .waker
            .as_ref()
            .is_some_and(|waker| waker.will_wake(cx.waker()))
        {
            slot.waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

impl Drop for StepReceiver {
    fn drop(&mut self) {
        let mut slot = lock(&self.slot);
        slot.steps.close_receiver();
        slot.created = None;
        slot.waker = None;
    }
}

impl std::fmt::Debug for StepSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StepSender")
    }
}

impl std::fmt::Debug for StepReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StepReceiver")
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    use bytes::Bytes;

    use super::*;
    use crate::client::{ClientError, JobHandle, JobOutcome, JobUpdate, ServerId};

    /// Counts its wake-ups.
    #[derive(Default)]
    struct Counting(AtomicUsize);

    impl Wake for Counting {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counting() -> (Arc<Counting>, Waker) {
        let counter = Arc::new(Counting::default());
        (counter.clone(), Waker::from(counter))
    }

    fn wakes(counter: &Counting) -> usize {
        counter.0.load(Ordering::SeqCst)
    }

    fn data(chunk: &'static str) -> JobStep {
        JobStep::Update(JobUpdate::Data(Bytes::from_static(chunk.as_bytes())))
    }

    fn complete(result: &'static str) -> JobStep {
        JobStep::End(Ok(JobOutcome::Complete(Bytes::from_static(
            result.as_bytes(),
        ))))
    }

    fn handle() -> JobHandle {
        JobHandle {
            server: ServerId(0),
            handle: Bytes::from_static(b"H:1"),
        }
    }

    fn read(
        receiver: &mut StepReceiver,
        waker: &Waker,
        progress: &mut JobProgress,
    ) -> Poll<JobRead> {
        receiver.poll_read(&mut Context::from_waker(waker), progress)
    }

    #[test]
    fn the_acknowledgement_wakes_nobody_and_is_read_with_the_next_step() {
        let (counter, waker) = counting();
        let (sender, mut receiver) = job_steps();
        let mut progress = JobProgress::new(true);
        assert!(read(&mut receiver, &waker, &mut progress).is_pending());

        assert_eq!(sender.send(JobStep::Created(handle())), Ok(()));
        assert_eq!(wakes(&counter), 0);
        assert_eq!(sender.send(data("a")), Ok(()));
        assert_eq!(wakes(&counter), 1);
        assert!(matches!(
            read(&mut receiver, &waker, &mut progress),
            Poll::Ready(JobRead::Update(JobUpdate::Data(chunk))) if chunk == "a"
        ));
        assert_eq!(progress.handle(), Some(&handle()));

        assert!(read(&mut receiver, &waker, &mut progress).is_pending());
        assert_eq!(sender.send(complete("r")), Ok(()));
        assert_eq!(wakes(&counter), 2);
        assert!(matches!(
            read(&mut receiver, &waker, &mut progress),
            Poll::Ready(JobRead::End(Ok(JobOutcome::Complete(result)))) if result == "r"
        ));
    }

    // An acknowledgement after another step (no server sends one so) still
    // takes its place in the order.
    #[test]
    fn a_late_acknowledgement_is_read_in_its_place() {
        let waker = Waker::noop();
        let (sender, mut receiver) = job_steps();
        let mut progress = JobProgress::new(true);
        assert_eq!(sender.send(data("a")), Ok(()));
        assert_eq!(sender.send(JobStep::Created(handle())), Ok(()));
        assert_eq!(sender.send(complete("r")), Ok(()));
        assert!(matches!(
            read(&mut receiver, waker, &mut progress),
            Poll::Ready(JobRead::Update(JobUpdate::Data(chunk))) if chunk == "a"
        ));
        assert_eq!(progress.handle(), None, "read before the acknowledgement");
        assert!(matches!(
            read(&mut receiver, waker, &mut progress),
            Poll::Ready(JobRead::End(Ok(JobOutcome::Complete(result)))) if result == "r"
        ));
        assert_eq!(progress.handle(), Some(&handle()));
    }

    // Once the job is gone, its acknowledgement comes back too, so that the
    // client forgets the job.
    #[test]
    fn an_acknowledgement_for_a_dropped_job_is_refused() {
        let (sender, receiver) = job_steps();
        drop(receiver);
        assert_eq!(
            sender.send(JobStep::Created(handle())),
            Err(JobStep::Created(handle()))
        );
    }

    #[test]
    fn steps_are_read_in_the_order_sent() {
        let waker = Waker::noop();
        let (sender, mut receiver) = job_steps();
        let mut progress = JobProgress::new(true);
        for chunk in ["1", "2", "3"] {
            assert_eq!(sender.send(data(chunk)), Ok(()));
        }
        assert_eq!(sender.send(complete("4")), Ok(()));
        let mut seen = Vec::new();
        while let Poll::Ready(JobRead::Update(JobUpdate::Data(chunk))) =
            read(&mut receiver, waker, &mut progress)
        {
            seen.push(chunk);
        }
        assert_eq!(seen, ["1", "2", "3"]);
        // The loop above read the end; nothing follows it.
        assert!(read(&mut receiver, waker, &mut progress).is_pending());
    }

    #[test]
    fn a_dropped_sender_ends_the_job_with_shutdown_after_its_steps() {
        let (counter, waker) = counting();
        let (sender, mut receiver) = job_steps();
        let mut progress = JobProgress::new(true);
        assert!(read(&mut receiver, &waker, &mut progress).is_pending());
        assert_eq!(sender.send(data("last")), Ok(()));
        drop(sender);
        assert_eq!(wakes(&counter), 1, "the drop finds the waker taken");
        assert!(matches!(
            read(&mut receiver, &waker, &mut progress),
            Poll::Ready(JobRead::Update(JobUpdate::Data(chunk))) if chunk == "last"
        ));
        assert!(matches!(
            read(&mut receiver, &waker, &mut progress),
            Poll::Ready(JobRead::End(Err(Error::Shutdown)))
        ));
    }

    #[test]
    fn a_dropped_sender_wakes_the_waiting_job() {
        let (counter, waker) = counting();
        let (sender, mut receiver) = job_steps();
        assert!(read(&mut receiver, &waker, &mut JobProgress::new(true)).is_pending());
        drop(sender);
        assert_eq!(wakes(&counter), 1);
    }

    #[test]
    fn a_refused_submit_and_a_failed_job_end_with_their_errors() {
        let waker = Waker::noop();
        let mut progress = JobProgress::new(true);
        let (sender, mut receiver) = job_steps();
        sender.fail(Error::InvalidRequest("closing".into()));
        assert!(matches!(
            read(&mut receiver, waker, &mut progress),
            Poll::Ready(JobRead::End(Err(Error::InvalidRequest(_))))
        ));

        let (sender, mut receiver) = job_steps();
        let closed = JobStep::End(Err(ClientError::Closed { acknowledged: true }));
        assert_eq!(sender.send(closed), Ok(()));
        assert!(matches!(
            read(&mut receiver, waker, &mut progress),
            Poll::Ready(JobRead::End(Err(Error::Client(ClientError::Closed { .. }))))
        ));
    }

    #[test]
    fn a_dropped_job_refuses_steps() {
        let (sender, receiver) = job_steps();
        drop(receiver);
        assert_eq!(sender.send(data("late")), Err(data("late")));
        assert_eq!(
            sender.send(JobStep::Created(handle())),
            Err(JobStep::Created(handle()))
        );
    }
}
