//! The client: submits jobs and asks about them, driving
//! [`gearman_proto::client::Client`] from the submitting threads and the
//! socket readers.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Sender};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use gearman_proto::client::{Call, Callers, Client as Core, ClientError, JobHandle, JobRequest};
use gearman_proto::client::{JobOutcome, JobProgress, JobRead, JobUpdate, RequestAnswer};
use gearman_proto::client::{StepReceiver, StepSender, job_steps};
use gearman_proto::deadline_after;

use crate::Error;
use crate::driver::{Dialer, Driven, Handle, Machine};
use crate::transport::{Connector, TcpConnector};
use gearman_proto::observe::ServerState;

/// A Gearman client: cheap to clone, usable from many threads at once. All
/// clones share one connection per server, with any number of jobs in flight
/// on each. A submit is written by the submitting thread, and a reply wakes
/// the waiting thread straight from the socket's reader thread.
///
/// The client connects lazily, reconnects with backoff, and its thread ends
/// when the last clone and the last [`Job`] are dropped, or once
/// [closed](Client::close).
///
/// ```no_run
/// use gearman_blocking::{Client, JobOutcome, JobRequest};
///
/// # fn main() -> Result<(), gearman_blocking::Error> {
/// let client = Client::new(["127.0.0.1:4730"])?;
/// match client.submit(JobRequest::new("reverse", "hello")).wait()? {
///     JobOutcome::Complete(result) => assert_eq!(result, "olleh"),
///     other => println!("the job did not complete: {other:?}"),
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    handle: Arc<Handle<Callers<Reply>>>,
    next_key: Arc<AtomicU64>,
}

/// Its servers and the number of jobs in flight.
impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.handle
            .drive(|core, _, _, _| core.fmt_overview("Client", f))
            .unwrap_or_else(|| f.write_str("Client { shut down }"))
    }
}

/// What the client sends a status or echo caller.
type Reply = Sender<Result<RequestAnswer, Error>>;

/// A caller's call, for the state machine.
pub(crate) type Command = Call<StepSender, Reply>;

/// The client's glue is the core's, whole.
impl Driven for Callers<Reply> {}

impl Client {
    gearman_proto::client_constructors! {
        Client;
        /// Fails only when `servers` is empty (or no thread can be started).
        ///
        /// ```no_run
        /// # fn demo() -> Result<(), gearman_blocking::Error> {
        /// use std::net::SocketAddr;
        /// use gearman_blocking::{Admin, Client};
        ///
        /// let socket: SocketAddr = "127.0.0.1:4730".parse().unwrap();
        /// let client = Client::new([socket])?;
        /// let client = Client::new([("localhost", 4730)])?;
        /// let admin = Admin::connect(socket)?;
        /// # Ok(()) }
        /// ```
        new;
        with_config;
        /// Each connection is opened within the connect timeout.
        with_connector;
    }

    /// Starts the client's timer thread over `core`.
    fn start(core: Core, connector: Arc<dyn Connector>) -> Result<Client, Error> {
        let dialer = Dialer::new(connector, core.config().connect_timeout);
        let machine = Machine::new(dialer, core, |_| {
            // A caller that is gone stopped waiting; nothing to do then.
            Callers::<Reply>::new(|reply, answer| {
                let _ = reply.send(answer);
            })
        });
        let timer = machine.clone();
        thread::Builder::new()
            .name("gearman-client".into())
            .spawn(move || timer.run())?;
        Ok(Client {
            handle: Handle::new(machine),
            next_key: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Submits a job and returns at once. The returned [`Job`] is waited on
    /// for its outcome ([`Job::wait`]) and iterated for its updates; any
    /// number of jobs may be in flight from one thread. Dropping it stops
    /// waiting (the job itself goes on at the server).
    ///
    /// A background request ends at once with [`JobOutcome::Queued`]; see
    /// also [`submit_background`](Client::submit_background).
    pub fn submit(&self, request: JobRequest) -> Job {
        let key = self.next_key.fetch_add(1, Ordering::Relaxed);
        let (steps, steps_rx) = job_steps();
        let (submit, span) = Command::submit(key, request, steps);
        let sent = self.handle.send(submit);
        Job {
            key,
            span,
            steps: steps_rx,
            client: self.handle.clone(),
            progress: JobProgress::new(sent),
        }
    }

    /// Each configured server's connection state, jobs in flight and
    /// requests awaiting a reply, read under the client's lock (for health
    /// checks and metrics); empty once the client is shut down.
    pub fn servers(&self) -> Vec<ServerState> {
        let servers = self.handle.drive(|core, _, _, _| core.servers().collect());
        servers.unwrap_or_default()
    }

    fn ask<T>(
        &self,
        command: impl FnOnce(Sender<Result<T, Error>>) -> Command,
    ) -> Result<T, Error> {
        let (reply, reply_rx) = mpsc::channel();
        if !self.handle.send(command(reply)) {
            return Err(Error::Shutdown);
        }
        // The core's request timeout bounds the wait.
        reply_rx.recv().map_err(|_| Error::Shutdown)?
    }

    gearman_proto::client_requests! {
        blocking;
        /// Closes the client gracefully and returns once it has closed: what
        /// was submitted before (from any clone) goes on until it ends, a
        /// background job until the server has queued it, a foreground one
        /// until its result, then every connection closes and the client's
        /// thread ends. With [`ClientConfig::close_timeout`], whatever is still
        /// in flight then ends with [`ClientError::Closed`] and the client
        /// closes anyway.
        ///
        /// The close is every clone's: from the call on, their submits and
        /// requests fail with [`Error::InvalidRequest`] (the client is
        /// closing), a close from another clone returns with this one, and
        /// once closed every call fails with [`Error::Shutdown`]. Jobs already
        /// submitted end as above, whether or not their [`Job`] is kept.
        ///
        /// ```no_run
        /// use gearman_blocking::{Client, JobRequest};
        ///
        /// # fn main() -> Result<(), gearman_blocking::Error> {
        /// let client = Client::new(["127.0.0.1:4730"])?;
        /// for i in 0..100 {
        ///     drop(client.submit(JobRequest::new("index", i.to_string()).in_background()));
        /// }
        /// // Returns once the server has queued all hundred.
        /// client.close()?;
        /// # Ok(()) }
        /// ```
        close;
    }
}

/// A submitted job: [`wait`](Job::wait) for its [`JobOutcome`], or iterate
/// its [`JobUpdate`]s first (the iterator ends with the job) and then wait.
///
/// ```no_run
/// use gearman_blocking::{Client, JobRequest, JobUpdate};
///
/// # fn demo(client: Client) -> Result<(), gearman_blocking::Error> {
/// let mut job = client.submit(JobRequest::new("progress", ""));
/// for update in &mut job {
///     if let JobUpdate::Data(chunk) = update {
///         println!("partial: {chunk:?}");
///     }
/// }
/// let outcome = job.wait()?;
/// # let _ = outcome; Ok(()) }
/// ```
///
/// Updates that arrive while only [`wait`](Job::wait) is called are dropped.
/// Waiting and iterating run in the job's `gearman.submit` span
/// ([`submit_span`](gearman_proto::observe::submit_span)).
/// Dropping the job frees what the client kept for it; a job left unused
/// is warned about, since its outcome is lost:
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// # fn demo(client: gearman_blocking::Client) {
/// use gearman_blocking::JobRequest;
/// client.submit(JobRequest::new("reverse", "hello"));
/// # }
/// ```
#[must_use = "the outcome of a dropped job is discarded"]
pub struct Job {
    key: u64,
    steps: StepReceiver,
    client: Arc<Handle<Callers<Reply>>>,
    progress: JobProgress,
    /// The job's `gearman.submit` span, entered while the caller waits.
    span: gearman_proto::observe::SubmitSpan,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("progress", &self.progress)
            .finish_non_exhaustive()
    }
}

/// Wakes the thread waiting on a [`Job`].
struct Unpark(Thread);

thread_local! {
    /// Made once per thread that waits, not once per wait.
    static UNPARK_THIS_THREAD: Waker = Waker::from(Arc::new(Unpark(thread::current())));
}

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

impl Job {
    /// The job's server and handle, once the server has acknowledged it
    /// (seen while waiting on or iterating the job).
    pub fn handle(&self) -> Option<&JobHandle> {
        self.progress.handle()
    }

    /// Reads steps up to the next update or the end (`Ok(None)`: the end
    /// was read before) or the deadline (`Err(Timeout)`; `None`: none).
    fn read(&mut self, deadline: Option<Instant>) -> Result<Option<JobRead>, Error> {
        // The caller's wait is the job's: inside its span.
        let _in_span = self.span.enter();
        if self.progress.is_over() {
            return Ok(None);
        }
        // A fresh one while the thread's locals are being torn down.
        let waker = UNPARK_THIS_THREAD
            .try_with(Waker::clone)
            .unwrap_or_else(|_| Waker::from(Arc::new(Unpark(thread::current()))));
        let mut cx = Context::from_waker(&waker);
        loop {
            if let Poll::Ready(read) = self.steps.poll_read(&mut cx, &mut self.progress) {
                return Ok(Some(read));
            }
            // Parking may end early (another unpark, or spuriously): the
            // loop looks again.
            match deadline {
                None => thread::park(),
                Some(at) => {
                    let left = at.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(Error::Client(ClientError::Timeout {
                            acknowledged: self.progress.handle().is_some(),
                        }));
                    }
                    thread::park_timeout(left);
                }
            }
        }
    }

    /// Reads up to the next update; the end is kept for [`wait`](Job::wait).
    fn read_update(&mut self, deadline: Option<Instant>) -> Result<Option<JobUpdate>, Error> {
        match self.read(deadline)? {
            Some(JobRead::Update(update)) => Ok(Some(update)),
            Some(JobRead::End(end)) => {
                self.progress.end(end);
                Ok(None)
            }
            None => Ok(None),
        }
    }

    /// Blocks until the next update; `None` once the job has ended.
    pub fn next_update(&mut self) -> Option<JobUpdate> {
        self.read_update(None).unwrap_or(None)
    }

    /// Like [`next_update`](Job::next_update), giving up with
    /// [`ClientError::Timeout`] after `timeout` (the job goes on).
    pub fn next_update_timeout(&mut self, timeout: Duration) -> Result<Option<JobUpdate>, Error> {
        self.read_update(Some(deadline_after(Instant::now(), timeout)))
    }

    /// Blocks until the job ends and returns how (updates not read yet are
    /// dropped).
    pub fn wait(mut self) -> Result<JobOutcome, Error> {
        self.finish(None)
    }

    /// Like [`wait`](Job::wait), giving up with [`ClientError::Timeout`]
    /// after `timeout` (acknowledged when the server had created the job);
    /// the job goes on and can be waited on again.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<JobOutcome, Error> {
        self.finish(Some(deadline_after(Instant::now(), timeout)))
    }

    fn finish(&mut self, deadline: Option<Instant>) -> Result<JobOutcome, Error> {
        loop {
            if let Some(outcome) = self.progress.take_outcome() {
                return outcome;
            }
            // Updates nobody iterates are dropped.
            if let Some(JobRead::End(end)) = self.read(deadline)? {
                return self.progress.finish(end);
            }
        }
    }
}

impl Iterator for Job {
    type Item = JobUpdate;

    /// Blocks until the next update; `None` once the job has ended.
    fn next(&mut self) -> Option<JobUpdate> {
        self.next_update()
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        if self.progress.awaited() {
            self.client.send(Command::Forget { key: self.key });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gearman_proto::client::{JobStep, ServerId};
    use gearman_proto::observe::SubmitSpan;

    /// A job on `client` whose steps the test sends itself.
    fn job(client: &Client) -> (StepSender, Job) {
        let (sender, steps) = job_steps();
        let job = Job {
            key: 0,
            steps,
            client: client.handle.clone(),
            progress: JobProgress::new(true),
            span: SubmitSpan::new(tracing::Span::none()),
        };
        (sender, job)
    }

    // A caller's wait of any length is taken, `Duration::MAX` included:
    // the deadline saturates instead of overflowing the clock.
    #[test]
    fn waits_without_end_take_duration_max() {
        let client = Client::new(["127.0.0.1:9"]).unwrap();
        let (sender, mut job) = job(&client);
        let chunk = JobUpdate::Data("chunk".into());
        assert!(sender.send(JobStep::Update(chunk.clone())).is_ok());
        assert_eq!(job.next_update_timeout(Duration::MAX).unwrap(), Some(chunk));
        let done = JobStep::End(Ok(JobOutcome::Complete("done".into())));
        assert!(sender.send(done).is_ok());
        assert_eq!(
            job.wait_timeout(Duration::MAX).unwrap(),
            JobOutcome::Complete("done".into())
        );
        assert_eq!(job.next_update_timeout(Duration::MAX).unwrap(), None);
    }

    // The thread waiting on a job parks, so only the step's unpark can let
    // it return with the outcome; the acknowledgement before it is kept.
    #[test]
    fn a_parked_wait_wakes_for_a_step_from_another_thread() {
        let client = Client::new(["127.0.0.1:9"]).unwrap();
        let (sender, mut job) = job(&client);
        let handle = JobHandle {
            server: ServerId(0),
            handle: "H:1".into(),
        };
        let acknowledged = JobStep::Created(handle.clone());
        assert!(sender.send(acknowledged).is_ok());
        assert!(matches!(
            job.wait_timeout(Duration::from_millis(20)),
            Err(Error::Client(ClientError::Timeout { acknowledged: true }))
        ));
        let feeder = thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            let done = JobStep::End(Ok(JobOutcome::Complete("done".into())));
            assert!(sender.send(done).is_ok());
            sender
        });
        assert_eq!(
            job.wait_timeout(Duration::from_secs(10)).unwrap(),
            JobOutcome::Complete("done".into())
        );
        assert_eq!(job.handle(), Some(&handle));
        drop(feeder.join().unwrap());
    }

    #[test]
    fn a_job_whose_sender_is_gone_ends_with_shutdown() {
        let client = Client::new(["127.0.0.1:9"]).unwrap();
        let (sender, job) = job(&client);
        let feeder = thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            drop(sender);
        });
        assert!(matches!(job.wait(), Err(Error::Shutdown)));
        feeder.join().unwrap();
    }
}
