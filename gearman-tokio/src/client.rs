//! The client: submits jobs and asks about them, over one task that drives
//! [`gearman_proto::client::Client`].

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use futures_core::Stream;
use gearman_proto::client::{
    Client as Core, ClientConfig, ClientEvent, JobHandle, JobId, JobRequest, JobStatus, RequestId,
    ServerId, UniqueStatus,
};
use tokio::sync::{mpsc, oneshot};

use crate::Error;
use crate::driver::{self, Driven, Io};

/// A Gearman client: cheap to clone, usable from many tasks at once. All
/// clones share one connection per server, with any number of jobs in flight
/// on each.
///
/// The client runs on a task of the Tokio runtime it was created in; it
/// connects lazily, reconnects with backoff, and stops when the last clone
/// and the last [`Job`] are dropped.
///
/// ```no_run
/// use gearman_tokio::{Client, JobOutcome, JobRequest};
///
/// # async fn demo() -> Result<(), gearman_tokio::Error> {
/// let client = Client::new(["127.0.0.1:4730"])?;
/// match client.submit(JobRequest::new("reverse", "hello")).await? {
///     JobOutcome::Complete(result) => assert_eq!(result, "olleh"),
///     other => println!("the job did not complete: {other:?}"),
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Client {
    commands: mpsc::UnboundedSender<Command>,
    next_key: Arc<AtomicU64>,
}

/// How a job ended, as its worker decided.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JobOutcome {
    /// WORK_COMPLETE with the result.
    Complete(Bytes),
    /// WORK_FAIL.
    Fail,
    /// WORK_EXCEPTION with the worker's text.
    Exception(Bytes),
    /// A background job was queued; the server keeps it, and nothing more
    /// comes back for it. Ask with [`Client::status`].
    Queued(JobHandle),
}

/// Something a running job sent before its end.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JobUpdate {
    /// WORK_DATA: a chunk of partial result.
    Data(Bytes),
    /// WORK_WARNING.
    Warning(Bytes),
    /// WORK_STATUS: progress as numerator / denominator.
    Status {
        /// Work done.
        numerator: u64,
        /// Work in total.
        denominator: u64,
    },
}

enum JobEvent {
    Created(JobHandle),
    Update(JobUpdate),
    End(Result<JobOutcome, Error>),
}

enum Command {
    Submit {
        key: u64,
        request: JobRequest,
        events: mpsc::UnboundedSender<JobEvent>,
    },
    Forget {
        key: u64,
    },
    Status {
        handle: JobHandle,
        reply: oneshot::Sender<Result<JobStatus, Error>>,
    },
    StatusUnique {
        unique: Bytes,
        reply: oneshot::Sender<Result<UniqueStatus, Error>>,
    },
    Echo {
        server: ServerId,
        data: Bytes,
        reply: oneshot::Sender<Result<Bytes, Error>>,
    },
}

enum Waiting {
    Status(oneshot::Sender<Result<JobStatus, Error>>),
    StatusUnique(oneshot::Sender<Result<UniqueStatus, Error>>),
    Echo(oneshot::Sender<Result<Bytes, Error>>),
}

struct Driving {
    core: Core,
    jobs: HashMap<JobId, (u64, mpsc::UnboundedSender<JobEvent>)>,
    keys: HashMap<u64, JobId>,
    requests: HashMap<RequestId, Waiting>,
    commands_closed: bool,
}

impl Driving {
    fn job_event(&mut self, job: JobId, event: JobEvent, ends: bool) {
        let delivered = match self.jobs.get(&job) {
            Some((_, events)) => events.send(event).is_ok(),
            None => false,
        };
        if ends || !delivered {
            if let Some((key, _)) = self.jobs.remove(&job) {
                self.keys.remove(&key);
            }
        }
    }
}

impl Driven for Driving {
    type Core = Core;
    type Command = Command;

    fn core(&mut self) -> &mut Core {
        &mut self.core
    }

    fn command(&mut self, command: Command, now: Instant, _io: &mut Io) {
        match command {
            Command::Submit {
                key,
                request,
                events,
            } => match self.core.submit(request, now) {
                Ok(job) => {
                    self.jobs.insert(job, (key, events));
                    self.keys.insert(key, job);
                }
                Err(err) => {
                    let _ = events.send(JobEvent::End(Err(Error::InvalidRequest(err.to_string()))));
                }
            },
            Command::Forget { key } => {
                if let Some(job) = self.keys.remove(&key) {
                    self.jobs.remove(&job);
                    self.core.cancel(job);
                }
            }
            Command::Status { handle, reply } => match self.core.get_status(&handle, now) {
                Ok(request) => {
                    self.requests.insert(request, Waiting::Status(reply));
                }
                Err(err) => {
                    let _ = reply.send(Err(Error::InvalidRequest(err.to_string())));
                }
            },
            Command::StatusUnique { unique, reply } => {
                match self.core.get_status_unique(unique, now) {
                    Ok(request) => {
                        self.requests.insert(request, Waiting::StatusUnique(reply));
                    }
                    Err(err) => {
                        let _ = reply.send(Err(Error::InvalidRequest(err.to_string())));
                    }
                }
            }
            Command::Echo {
                server,
                data,
                reply,
            } => match self.core.echo(server, data, now) {
                Ok(request) => {
                    self.requests.insert(request, Waiting::Echo(reply));
                }
                Err(err) => {
                    let _ = reply.send(Err(Error::InvalidRequest(err.to_string())));
                }
            },
        }
    }

    fn commands_closed(&mut self, _now: Instant) {
        self.commands_closed = true;
    }

    fn deliver(&mut self, _now: Instant) {
        while let Some(event) = self.core.poll_event() {
            match event {
                ClientEvent::Created {
                    job,
                    handle,
                    background: true,
                } => {
                    self.job_event(job, JobEvent::End(Ok(JobOutcome::Queued(handle))), true);
                }
                ClientEvent::Created { job, handle, .. } => {
                    self.job_event(job, JobEvent::Created(handle), false);
                }
                ClientEvent::Data { job, data } => {
                    self.job_event(job, JobEvent::Update(JobUpdate::Data(data)), false);
                }
                ClientEvent::Warning { job, data } => {
                    self.job_event(job, JobEvent::Update(JobUpdate::Warning(data)), false);
                }
                ClientEvent::Status {
                    job,
                    numerator,
                    denominator,
                } => {
                    let update = JobUpdate::Status {
                        numerator,
                        denominator,
                    };
                    self.job_event(job, JobEvent::Update(update), false);
                }
                ClientEvent::Complete { job, data } => {
                    self.job_event(job, JobEvent::End(Ok(JobOutcome::Complete(data))), true);
                }
                ClientEvent::Failed { job } => {
                    self.job_event(job, JobEvent::End(Ok(JobOutcome::Fail)), true);
                }
                ClientEvent::Exception { job, data } => {
                    self.job_event(job, JobEvent::End(Ok(JobOutcome::Exception(data))), true);
                }
                ClientEvent::JobError { job, error } => {
                    self.job_event(job, JobEvent::End(Err(error.into())), true);
                }
                ClientEvent::StatusResult { request, status } => {
                    if let Some(Waiting::Status(reply)) = self.requests.remove(&request) {
                        let _ = reply.send(Ok(status));
                    }
                }
                ClientEvent::StatusUniqueResult { request, status } => {
                    if let Some(Waiting::StatusUnique(reply)) = self.requests.remove(&request) {
                        let _ = reply.send(Ok(status));
                    }
                }
                ClientEvent::EchoResult { request, data } => {
                    if let Some(Waiting::Echo(reply)) = self.requests.remove(&request) {
                        let _ = reply.send(Ok(data));
                    }
                }
                ClientEvent::RequestError { request, error } => {
                    match self.requests.remove(&request) {
                        Some(Waiting::Status(reply)) => {
                            let _ = reply.send(Err(error.into()));
                        }
                        Some(Waiting::StatusUnique(reply)) => {
                            let _ = reply.send(Err(error.into()));
                        }
                        Some(Waiting::Echo(reply)) => {
                            let _ = reply.send(Err(error.into()));
                        }
                        None => {}
                    }
                }
                other => tracing::trace!(?other, "client event not used"),
            }
        }
    }

    fn finished(&self) -> bool {
        self.commands_closed
    }
}

/// Seed for generated unique ids and jitter, different in every process
/// and every client, without a random-number crate.
pub(crate) fn os_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    if let Ok(since) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        hasher.write_u128(since.as_nanos());
    }
    hasher.finish()
}

impl Client {
    /// A client of these servers (`host:port` each) with default settings:
    /// round robin with failover, exceptions enabled, connect timeout 5 s,
    /// request timeout 30 s. Fails only when `servers` is empty. Must be
    /// called inside a Tokio runtime.
    pub fn new<I, S>(servers: I) -> Result<Client, Error>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let config = ClientConfig::new(servers).with_exceptions(true);
        Client::with_config(config)
    }

    /// A client with a full core configuration (routing policy, timeouts,
    /// backoff...). A seed of 0 is replaced by one from the operating system.
    /// Must be called inside a Tokio runtime.
    pub fn with_config(mut config: ClientConfig) -> Result<Client, Error> {
        if config.seed == 0 {
            config.seed = os_seed();
        }
        let core = Core::new(config)?;
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let driving = Driving {
            core,
            jobs: HashMap::new(),
            keys: HashMap::new(),
            requests: HashMap::new(),
            commands_closed: false,
        };
        tokio::spawn(driver::run(driving, commands_rx));
        Ok(Client {
            commands,
            next_key: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Submits a job. The returned [`Job`] is a `Future` of its outcome and a
    /// `Stream` of its updates; dropping it stops waiting (the job itself
    /// goes on at the server).
    ///
    /// A background request ends at once with [`JobOutcome::Queued`]; see
    /// also [`submit_background`](Client::submit_background).
    pub fn submit(&self, request: JobRequest) -> Job {
        let key = self.next_key.fetch_add(1, Ordering::Relaxed);
        let (events, events_rx) = mpsc::unbounded_channel();
        let sent = self.commands.send(Command::Submit {
            key,
            request,
            events,
        });
        Job {
            key,
            events: events_rx,
            commands: self.commands.clone(),
            handle: None,
            outcome: if sent.is_err() {
                Some(Err(Error::Shutdown))
            } else {
                None
            },
            ended: false,
        }
    }

    /// Submits a background job and returns its server and handle once the
    /// server has queued it.
    pub async fn submit_background(&self, request: JobRequest) -> Result<JobHandle, Error> {
        match self.submit(request.in_background()).await? {
            JobOutcome::Queued(handle) => Ok(handle),
            other => Err(Error::UnexpectedReply(format!("{other:?}"))),
        }
    }

    async fn ask<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<Result<T, Error>>) -> Command,
    ) -> Result<T, Error> {
        let (reply, reply_rx) = oneshot::channel();
        self.commands
            .send(command(reply))
            .map_err(|_| Error::Shutdown)?;
        reply_rx.await.map_err(|_| Error::Shutdown)?
    }

    /// GET_STATUS: asks the server that issued `handle` about the job.
    pub async fn status(&self, handle: &JobHandle) -> Result<JobStatus, Error> {
        let handle = handle.clone();
        self.ask(|reply| Command::Status { handle, reply }).await
    }

    /// GET_STATUS_UNIQUE: asks about the job with this unique id (on the
    /// server the routing policy picks for it).
    pub async fn status_unique(&self, unique: impl Into<Bytes>) -> Result<UniqueStatus, Error> {
        let unique = unique.into();
        self.ask(|reply| Command::StatusUnique { unique, reply })
            .await
    }

    /// ECHO_REQ to the first server: it sends `data` back.
    pub async fn echo(&self, data: impl Into<Bytes>) -> Result<Bytes, Error> {
        self.echo_on(ServerId(0), data).await
    }

    /// ECHO_REQ to one of the configured servers (by index).
    pub async fn echo_on(&self, server: ServerId, data: impl Into<Bytes>) -> Result<Bytes, Error> {
        let data = data.into();
        self.ask(|reply| Command::Echo {
            server,
            data,
            reply,
        })
        .await
    }
}

/// A submitted job: `.await` it for the [`JobOutcome`], or read its
/// [`JobUpdate`]s as a `Stream` first and then `.await` it.
///
/// ```no_run
/// use futures_util::StreamExt;
/// use gearman_tokio::{Client, JobRequest, JobUpdate};
///
/// # async fn demo(client: Client) -> Result<(), gearman_tokio::Error> {
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
/// Dropping the job frees what the client kept for it.
#[derive(Debug)]
pub struct Job {
    key: u64,
    events: mpsc::UnboundedReceiver<JobEvent>,
    commands: mpsc::UnboundedSender<Command>,
    handle: Option<JobHandle>,
    outcome: Option<Result<JobOutcome, Error>>,
    ended: bool,
}

impl std::fmt::Debug for JobEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JobEvent::Created(handle) => f.debug_tuple("Created").field(handle).finish(),
            JobEvent::Update(update) => f.debug_tuple("Update").field(update).finish(),
            JobEvent::End(end) => f.debug_tuple("End").field(end).finish(),
        }
    }
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Command")
    }
}

impl Job {
    /// The job's server and handle, once the server has acknowledged it
    /// (seen while polling the job).
    pub fn handle(&self) -> Option<&JobHandle> {
        self.handle.as_ref()
    }

    /// Reads events up to the next update (`Some`) or the end (`None`).
    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Option<JobUpdate>> {
        if self.outcome.is_some() {
            return Poll::Ready(None);
        }
        loop {
            match self.events.poll_recv(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(JobEvent::Created(handle))) => self.handle = Some(handle),
                Poll::Ready(Some(JobEvent::Update(update))) => return Poll::Ready(Some(update)),
                Poll::Ready(Some(JobEvent::End(end))) => {
                    self.outcome = Some(end);
                    return Poll::Ready(None);
                }
                Poll::Ready(None) => {
                    self.outcome = Some(Err(Error::Shutdown));
                    return Poll::Ready(None);
                }
            }
        }
    }
}

impl Future for Job {
    type Output = Result<JobOutcome, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            if let Some(outcome) = this.outcome.take() {
                this.ended = true;
                return Poll::Ready(outcome);
            }
            if this.ended {
                return Poll::Ready(Err(Error::InvalidRequest(
                    "job polled after its outcome was taken".into(),
                )));
            }
            match this.poll_event(cx) {
                Poll::Pending => return Poll::Pending,
                // Updates nobody streams are dropped.
                Poll::Ready(_) => {}
            }
        }
    }
}

impl Stream for Job {
    type Item = JobUpdate;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<JobUpdate>> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(None);
        }
        this.poll_event(cx)
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        if !self.ended && self.outcome.is_none() {
            let _ = self.commands.send(Command::Forget { key: self.key });
        }
    }
}
