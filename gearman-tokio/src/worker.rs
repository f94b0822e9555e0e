//! The worker: async handlers registered by function name, run as tasks,
//! over one task that drives [`gearman_proto::worker::Worker`].

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::Instrument;

use bytes::Bytes;
use futures_util::FutureExt;
pub use gearman_proto::worker::WorkError;
use gearman_proto::worker::WorkUpdate;
use gearman_proto::worker::{Assignment, AssignmentId, Worker as Core, WorkerConfig, WorkerEvent};
use gearman_proto::{ConnectError, IntoServerAddr};
use tokio::sync::mpsc;

use crate::Error;
use crate::driver::{self, Driven, Io};
use crate::transport::{Connector, TcpConnector};

type BoxedHandler = Arc<
    dyn Fn(WorkerJob) -> Pin<Box<dyn Future<Output = Result<Bytes, WorkError>> + Send>>
        + Send
        + Sync,
>;

/// What [`Worker::on_connect_failed`] calls.
type ConnectFailedHook = Arc<dyn Fn(&ConnectError) + Send + Sync>;

/// A job handed to a handler: what the client sent, and a way to send
/// data, warnings and progress back while it runs.
#[derive(Debug, Clone)]
pub struct WorkerJob {
    assignment: Assignment,
    commands: mpsc::UnboundedSender<Command>,
}

/// The assignment's accessors ([`payload`](Assignment::payload),
/// [`function`](Assignment::function), [`unique`](Assignment::unique),
/// [`reducer`](Assignment::reducer), ...) are the core's, read through this.
impl std::ops::Deref for WorkerJob {
    type Target = Assignment;

    fn deref(&self) -> &Assignment {
        &self.assignment
    }
}

impl WorkerJob {
    /// Sends WORK_DATA: a chunk of partial result, forwarded to the client.
    pub fn send_data(&self, data: impl Into<Bytes>) {
        self.send(WorkUpdate::Data(data.into()));
    }

    /// Sends WORK_WARNING.
    pub fn send_warning(&self, data: impl Into<Bytes>) {
        self.send(WorkUpdate::Warning(data.into()));
    }

    /// Sends WORK_STATUS: progress as numerator / denominator.
    pub fn send_status(&self, numerator: u32, denominator: u32) {
        self.send(WorkUpdate::Status {
            numerator,
            denominator,
        });
    }

    fn send(&self, update: WorkUpdate) {
        // The worker is gone only when its run future was dropped.
        let _ = self
            .commands
            .send(Command::Update(self.assignment.id, update));
    }
}

#[derive(Debug)]
enum Command {
    Update(AssignmentId, WorkUpdate),
    Done(AssignmentId, Result<Bytes, WorkError>),
    Shutdown,
}

/// A Gearman worker: handlers registered by function name, run as Tokio
/// tasks with at most [`concurrency`](Worker::concurrency) at once across all
/// servers. It reconnects and re-registers by itself; a panicking handler
/// fails its job and the worker goes on.
///
/// ```no_run
/// use gearman_tokio::{WorkError, Worker, WorkerJob};
///
/// # async fn demo() -> Result<(), gearman_tokio::Error> {
/// Worker::new(["127.0.0.1:4730"])
///     .concurrency(4)
///     .function("reverse", |job: WorkerJob| async move {
///         Ok::<_, WorkError>(job.payload().iter().rev().copied().collect::<Vec<u8>>())
///     })
///     .run_until(async { let _ = tokio::signal::ctrl_c().await; })
///     .await
/// # }
/// ```
#[must_use = "a worker does nothing until it runs"]
pub struct Worker {
    config: WorkerConfig,
    handlers: HashMap<Bytes, BoxedHandler>,
    on_connect_failed: Option<ConnectFailedHook>,
    connector: Arc<dyn Connector>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("config", &self.config)
            .field("functions", &self.handlers.keys().collect::<Vec<_>>())
            .finish()
    }
}

struct Driving {
    core: Core,
    handlers: HashMap<Bytes, BoxedHandler>,
    on_connect_failed: Option<ConnectFailedHook>,
    commands: mpsc::UnboundedSender<Command>,
    /// Handler tasks by job, so a job the server took back can be stopped.
    running: HashMap<AssignmentId, tokio::task::AbortHandle>,
    finished: bool,
}

impl Driving {
    fn start(&mut self, assignment: Assignment) {
        let job = WorkerJob {
            assignment,
            commands: self.commands.clone(),
        };
        let Some(handler) = self.handlers.get(job.function()).cloned() else {
            // The core only assigns registered functions; fail rather than hang.
            let _ = self
                .commands
                .send(Command::Done(job.assignment.id, Err(WorkError::Fail)));
            return;
        };
        let commands = self.commands.clone();
        let key = job.assignment.id;
        let function = job.function().clone();
        // One task per job. The handler is called inside it, so a panic in
        // the handler (even before its first await) fails only this job.
        let span = self.core.job_span(&job.assignment);
        let running = tokio::spawn(
            async move {
                let run = AssertUnwindSafe(async move { handler(job).await });
                let result = match run.catch_unwind().await {
                    Ok(result) => result,
                    Err(_) => {
                        tracing::error!(
                            function = %String::from_utf8_lossy(&function),
                            "handler panicked; failing the job"
                        );
                        Err(WorkError::Fail)
                    }
                };
                let _ = commands.send(Command::Done(key, result));
            }
            .instrument(span),
        );
        // Kept so a job the server takes back can be stopped; dropping the
        // JoinHandle detaches the task.
        self.running.insert(key, running.abort_handle());
    }
}

impl Driven for Driving {
    type Core = Core;
    type Command = Command;

    fn core(&mut self) -> &mut Core {
        &mut self.core
    }

    fn command(&mut self, command: Command, now: Instant, _io: &mut Io) {
        let result = match command {
            Command::Update(key, update) => self.core.report_update(key, &update),
            Command::Done(key, result) => {
                self.running.remove(&key);
                self.core.report_end(key, &result)
            }
            Command::Shutdown => {
                self.core.shutdown(now);
                Ok(())
            }
        };
        if let Err(err) = result {
            // The job's connection dropped: the server requeues it.
            tracing::debug!(%err, "job result not sent");
        }
    }

    fn deliver(&mut self, _now: Instant) {
        while let Some(event) = self.core.poll_event() {
            match event {
                WorkerEvent::JobAssigned(assignment) => self.start(assignment),
                WorkerEvent::JobLost { id } => {
                    if let Some(task) = self.running.remove(&id) {
                        task.abort();
                    }
                }
                WorkerEvent::Connected { server } => {
                    tracing::info!(
                        server = self.core.server_addr(server),
                        "worker connected and registered"
                    )
                }
                WorkerEvent::Disconnected { server } => {
                    tracing::warn!(
                        server = self.core.server_addr(server),
                        "worker connection lost; reconnecting"
                    )
                }
                WorkerEvent::ConnectFailed { error, .. } => {
                    tracing::warn!(server = error.addr(), err = %error.io_error(), "worker could not connect; retrying");
                    if let Some(hook) = &self.on_connect_failed {
                        hook(&error);
                    }
                }
                WorkerEvent::ShutdownComplete => self.finished = true,
                other => tracing::debug!(?other, "worker event"),
            }
        }
    }

    fn finished(&self) -> bool {
        self.finished
    }
}

impl Worker {
    /// A worker for these servers (each `"host:port"`, a `SocketAddr`,
    /// `(host, port)`: any [`IntoServerAddr`]), running one job at a
    /// time until [`concurrency`](Worker::concurrency) says otherwise.
    pub fn new<I, S>(servers: I) -> Worker
    where
        I: IntoIterator<Item = S>,
        S: IntoServerAddr,
    {
        Worker::with_config(WorkerConfig::new(servers))
    }

    /// A worker with a full core configuration (backoff, grab form...).
    pub fn with_config(config: WorkerConfig) -> Worker {
        Worker {
            config,
            handlers: HashMap::new(),
            on_connect_failed: None,
            connector: Arc::new(TcpConnector),
        }
    }

    /// Opens connections with `connector` (TLS, or a transport of the
    /// caller's; see [`transport`](crate::transport)) instead of plain TCP.
    pub fn connector(mut self, connector: impl Connector) -> Worker {
        self.connector = Arc::new(connector);
        self
    }

    /// Sets how many jobs run at once, across all servers (at least 1).
    pub fn concurrency(mut self, jobs: usize) -> Worker {
        self.config = self.config.with_concurrency(jobs.max(1));
        self
    }

    /// Sets how many connections the worker keeps to each server (at least
    /// 1). Each connection has at most one grab outstanding, so several
    /// raise the rate at which jobs arrive from a busy server; the
    /// concurrency limit still holds across all of them.
    pub fn connections_per_server(mut self, connections: usize) -> Worker {
        self.config = self.config.with_connections_per_server(connections.max(1));
        self
    }

    /// Sets the id sent with SET_CLIENT_ID (shown by the admin `workers`
    /// command).
    pub fn client_id(mut self, id: impl Into<Bytes>) -> Worker {
        self.config = self.config.with_client_id(id.into());
        self
    }

    /// Calls `hook` each time a connection to a server cannot be opened
    /// (refused, a name that does not resolve, no answer within the
    /// connect timeout), with the address and the socket error; the worker
    /// retries after its backoff either way. Without a hook the failure is
    /// only logged (`tracing`, at warn), which a program with no subscriber
    /// does not show.
    pub fn on_connect_failed(
        mut self,
        hook: impl Fn(&ConnectError) + Send + Sync + 'static,
    ) -> Worker {
        self.on_connect_failed = Some(Arc::new(hook));
        self
    }

    /// Registers `handler` for `function` (CAN_DO). The handler's `Ok`
    /// completes the job with its bytes; [`WorkError`] fails it or raises an
    /// exception. Registering a name again replaces its handler.
    pub fn function<F, Fut, R>(self, function: impl Into<Bytes>, handler: F) -> Worker
    where
        F: Fn(WorkerJob) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, WorkError>> + Send + 'static,
        R: Into<Bytes>,
    {
        self.register(function.into(), None, handler)
    }

    /// Like [`function`](Worker::function), registered with CAN_DO_TIMEOUT:
    /// the server takes a job back (and may give it to another worker) when
    /// it runs longer than `timeout`.
    pub fn function_with_timeout<F, Fut, R>(
        self,
        function: impl Into<Bytes>,
        timeout: Duration,
        handler: F,
    ) -> Worker
    where
        F: Fn(WorkerJob) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, WorkError>> + Send + 'static,
        R: Into<Bytes>,
    {
        self.register(function.into(), Some(timeout), handler)
    }

    fn register<F, Fut, R>(
        mut self,
        function: Bytes,
        timeout: Option<Duration>,
        handler: F,
    ) -> Worker
    where
        F: Fn(WorkerJob) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, WorkError>> + Send + 'static,
        R: Into<Bytes>,
    {
        let boxed: BoxedHandler = Arc::new(move |job| {
            let running = handler(job);
            Box::pin(async move { running.await.map(Into::into) })
        });
        self.config = match timeout {
            Some(timeout) => self.config.with_function_timeout(function.clone(), timeout),
            None => self.config.with_function(function.clone()),
        };
        self.handlers.insert(function, boxed);
        self
    }

    /// Runs until `shutdown` completes (a signal, a cancellation token...),
    /// then stops taking jobs, lets the running ones finish, and returns.
    /// Fails with [`Error::NoRuntime`] when polled outside a Tokio runtime.
    pub async fn run_until(self, shutdown: impl Future) -> Result<(), Error> {
        crate::runtime()?;
        let core = Core::new(self.config.with_seed_or(crate::os_entropy), Instant::now())?;
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let driving = Driving {
            core,
            handlers: self.handlers,
            on_connect_failed: self.on_connect_failed,
            commands: commands.clone(),
            running: HashMap::new(),
            finished: false,
        };
        let run = driver::run(driving, commands_rx, self.connector);
        tokio::pin!(run);
        tokio::select! {
            () = &mut run => return Ok(()),
            _ = shutdown => {
                tracing::info!("worker shutting down; finishing running jobs");
                let _ = commands.send(Command::Shutdown);
            }
        }
        drop(commands);
        run.await;
        Ok(())
    }

    /// Runs until the process gets Ctrl-C (SIGINT), then shuts down
    /// gracefully as [`run_until`](Worker::run_until) does.
    pub async fn run(self) -> Result<(), Error> {
        self.run_until(tokio::signal::ctrl_c()).await
    }
}
