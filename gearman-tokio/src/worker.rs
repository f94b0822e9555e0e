//! The worker: async handlers registered by function name, run as tasks,
//! over one task that drives [`gearman_proto::worker::Worker`].

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Instant;
use tracing::Instrument;

use foldhash::HashMap;
use futures_util::FutureExt;
use gearman_proto::endpoint::Glue;
pub use gearman_proto::worker::WorkError;
use gearman_proto::worker::WorkUpdate;
use gearman_proto::worker::{
    Assignment, AssignmentId, AsyncHandler, Handlers, JobRunner, Worker as Core, WorkerCommand,
    handler_panicked,
};
use tokio::sync::mpsc;

use crate::Error;
use crate::driver::{self, Io};
use crate::transport::{Connector, TcpConnector};

type BoxedHandler = AsyncHandler<WorkerJob>;

/// A job handed to a handler: what the client sent, and a way to send
/// data, warnings and progress back while it runs.
#[derive(Debug, Clone)]
pub struct WorkerJob {
    assignment: Assignment,
    commands: mpsc::UnboundedSender<WorkerCommand>,
}

impl WorkerJob {
    fn send(&self, update: WorkUpdate) {
        // The worker is gone only when its run future was dropped.
        let _ = self
            .commands
            .send(WorkerCommand::Update(self.assignment.id, update));
    }
}

gearman_proto::worker_builder! {
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
    Worker, WorkerJob, async, monitor: WorkerMonitor = WorkerMonitor::default()
}

gearman_proto::worker_monitor! {
    /// ```no_run
    /// use gearman_proto::observe::ConnectionState;
    /// use gearman_tokio::{WorkError, Worker, WorkerJob};
    ///
    /// # async fn demo() -> Result<(), gearman_tokio::Error> {
    /// let worker = Worker::new(["127.0.0.1:4730", "127.0.0.1:4731"])
    ///     .function("reverse", |job: WorkerJob| async move {
    ///         Ok::<_, WorkError>(job.payload().iter().rev().copied().collect::<Vec<u8>>())
    ///     });
    /// let monitor = worker.monitor();
    /// tokio::spawn(worker.run());
    /// // Later, in a health check:
    /// let healthy = monitor
    ///     .servers()
    ///     .iter()
    ///     .any(|server| server.state == ConnectionState::Connected);
    /// # let _ = healthy; Ok(()) }
    /// ```
    {
        /// The run loop's state, set once the worker starts running.
        running: Arc<OnceLock<Arc<driver::Shared<Driving>>>>
    }
}

impl WorkerMonitor {
    /// Runs `read` on the worker's state machine while it runs.
    fn read<T>(&self, read: impl FnOnce(&Core) -> T) -> Option<T> {
        let shared = self.running.get()?;
        shared.inspect(|core, _| read(core))
    }
}

/// Where a handler's task reports its job's end.
struct Reports {
    commands: mpsc::UnboundedSender<WorkerCommand>,
    /// The run loop's state, set once it runs.
    running: OnceLock<Weak<driver::Shared<Driving>>>,
}

impl Reports {
    /// Applies `command` in the handler's task when the worker runs no
    /// other job and the loop is waiting, so the result is written without
    /// waking the loop's task; queues it for the loop otherwise (several
    /// results then go out in one write).
    fn send(&self, command: WorkerCommand) {
        let command = match self.running.get().and_then(Weak::upgrade) {
            Some(shared) => match shared.command_directly(command) {
                Ok(()) => return,
                Err(command) => command,
            },
            None => command,
        };
        let _ = self.commands.send(command);
    }
}

struct Driving {
    handlers: Handlers<BoxedHandler>,
    commands: mpsc::UnboundedSender<WorkerCommand>,
    reports: Arc<Reports>,
    /// Handler tasks by job, so a job the server took back can be stopped.
    running: HashMap<AssignmentId, tokio::task::AbortHandle>,
    finished: bool,
}

impl JobRunner for Driving {
    fn start(&mut self, core: &mut Core, assignment: Assignment) {
        let job = WorkerJob {
            assignment,
            commands: self.commands.clone(),
        };
        let Some(handler) = self.handlers.for_job(core, &job.assignment) else {
            return;
        };
        let reports = self.reports.clone();
        let key = job.assignment.id;
        let function = job.function().clone();
        // One task per job. The handler is called inside it, so a panic in
        // the handler (even before its first await) fails only this job.
        let span = core.job_span(&job.assignment);
        let running = tokio::spawn(
            async move {
                let run = AssertUnwindSafe(async move { handler(job).await });
                let result = match run.catch_unwind().await {
                    Ok(result) => result,
                    Err(_) => handler_panicked(&function),
                };
                reports.send(WorkerCommand::Done(key, result));
            }
            .instrument(span),
        );
        // Kept so a job the server takes back can be stopped; dropping the
        // JoinHandle detaches the task.
        self.running.insert(key, running.abort_handle());
    }

    fn lost(&mut self, id: AssignmentId) {
        if let Some(task) = self.running.remove(&id) {
            task.abort();
        }
    }
}

impl Glue<Io> for Driving {
    type Core = Core;
    type Command = WorkerCommand;

    fn command(&mut self, core: &mut Core, command: WorkerCommand, now: Instant, _io: &mut Io) {
        if let WorkerCommand::Done(key, _) = &command {
            self.running.remove(key);
        }
        core.apply(command, now);
    }

    fn deliver(&mut self, core: &mut Core, _now: Instant) {
        self.finished |= core.run_jobs(self);
    }

    fn finished(&self) -> bool {
        self.finished
    }

    /// The job ending now is the only one running: its result goes out
    /// alone anyway.
    fn is_idle(&self) -> bool {
        self.running.len() <= 1
    }
}

impl Worker {
    /// Runs until `shutdown` completes (a signal, a cancellation token...),
    /// then stops taking jobs, lets the running ones finish, and returns.
    /// Fails with [`Error::NoRuntime`] when polled outside a Tokio runtime.
    pub async fn run_until(self, shutdown: impl Future) -> Result<(), Error> {
        crate::runtime()?;
        let (core, handlers) = self
            .registry
            .into_worker(crate::os_entropy, Instant::now())?;
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let reports = Arc::new(Reports {
            commands: commands.clone(),
            running: OnceLock::new(),
        });
        let driving = Driving {
            handlers,
            commands: commands.clone(),
            reports: reports.clone(),
            running: HashMap::default(),
            finished: false,
        };
        let (shared, runner) = driver::runner(core, driving, commands_rx, self.connector);
        let _ = reports.running.set(Arc::downgrade(&shared));
        // A worker runs once: the monitor's cell is still empty.
        let _ = self.monitor.running.set(shared);
        let run = runner.run();
        tokio::pin!(run);
        tokio::select! {
            () = &mut run => return Ok(()),
            _ = shutdown => {
                tracing::info!("worker shutting down; finishing running jobs");
                let _ = commands.send(WorkerCommand::Shutdown);
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
