//! The worker: handlers registered by function name, run on a pool of
//! threads, driving [`gearman_proto::worker::Worker`] from the socket
//! readers (assignments) and the pool threads (results).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::thread::{self, JoinHandle};
use std::time::Instant;

use gearman_proto::endpoint::Glue;
pub use gearman_proto::worker::WorkError;
use gearman_proto::worker::WorkUpdate;
use gearman_proto::worker::{
    Assignment, BlockingHandler, Handlers, JobRunner, Worker as Core, WorkerCommand,
    handler_panicked,
};

use gearman_proto::observe::ServerState;

use crate::Error;
use crate::driver::{Deferred, Dialer, Driven, Io, Machine, Remote};
use crate::transport::{Connector, TcpConnector};

mod pool;

use pool::TaskQueue;

type Handler = BlockingHandler<WorkerJob>;

/// A job handed to a handler: what the client sent, and a way to send
/// data, warnings and progress back while it runs.
#[derive(Clone)]
pub struct WorkerJob {
    assignment: Assignment,
    machine: Arc<Machine<Driving>>,
}

impl std::fmt::Debug for WorkerJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerJob")
            .field("assignment", &self.assignment)
            .finish_non_exhaustive()
    }
}

impl WorkerJob {
    fn send(&self, update: WorkUpdate) {
        // The worker is gone only after a forced shutdown; nothing to tell then.
        self.machine
            .command(WorkerCommand::Update(self.assignment.id, update));
    }
}

/// A job for the pool, with the handler to run it.
struct Task {
    job: WorkerJob,
    handler: Handler,
    /// The job's span, entered on the thread that runs the handler.
    span: tracing::Span,
}

gearman_proto::worker_builder! {
    /// A Gearman worker: handlers registered by function name, run on a pool of
    /// [`concurrency`](Worker::concurrency) threads, never more jobs at once
    /// across all servers. It reconnects and re-registers by itself; a
    /// panicking handler fails its job and the worker goes on.
    ///
    /// [`run`](Worker::run) blocks the calling thread until a
    /// [`ShutdownHandle`] asks it to stop, then lets running jobs finish;
    /// [`spawn`](Worker::spawn) runs it on a thread of its own.
    ///
    /// ```no_run
    /// use gearman_blocking::{WorkError, Worker, WorkerJob};
    ///
    /// # fn main() -> Result<(), gearman_blocking::Error> {
    /// let worker = Worker::new(["127.0.0.1:4730"])
    ///     .concurrency(4)
    ///     .function("reverse", |job: &WorkerJob| {
    ///         Ok::<_, WorkError>(job.payload().iter().rev().copied().collect::<Vec<u8>>())
    ///     });
    /// let stop = worker.shutdown_handle();
    /// std::thread::spawn(move || {
    ///     std::thread::sleep(std::time::Duration::from_secs(60));
    ///     stop.shutdown();
    /// });
    /// worker.run() // returns once the running jobs are done
    /// # }
    /// ```
    Worker, WorkerJob, blocking, remote: Remote<Driving> = Remote::new()
}

/// Asks a [`Worker`] to shut down gracefully: stop taking jobs, finish the
/// running ones, close its connections. Cheap to clone; usable from any
/// thread (a signal handler thread, say).
#[derive(Clone)]
pub struct ShutdownHandle {
    remote: Remote<Driving>,
}

impl std::fmt::Debug for ShutdownHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShutdownHandle").finish_non_exhaustive()
    }
}

impl ShutdownHandle {
    /// Requests the shutdown and returns at once; calling it again, or after
    /// the worker stopped, does nothing.
    pub fn shutdown(&self) {
        self.remote.send(WorkerCommand::Shutdown);
    }
}

/// A [`Worker`] running on its own thread, from [`Worker::spawn`].
#[derive(Debug)]
pub struct RunningWorker {
    stop: ShutdownHandle,
    thread: JoinHandle<Result<(), Error>>,
}

impl RunningWorker {
    /// A handle that requests the shutdown.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.stop.clone()
    }

    /// Requests a graceful shutdown and returns at once.
    pub fn shutdown(&self) {
        self.stop.shutdown();
    }

    /// Each configured server's connection state, jobs running and grabs
    /// awaiting a reply, read under the worker's lock (for health checks and
    /// metrics); empty before the worker's thread has started it and once
    /// it has stopped.
    pub fn servers(&self) -> Vec<ServerState> {
        let servers = self
            .stop
            .remote
            .drive(|core, _, _, _| core.servers().collect());
        servers.unwrap_or_default()
    }

    /// Whether the worker has stopped.
    pub fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }

    /// Waits until the worker has stopped (after a shutdown) and returns how
    /// its run ended.
    pub fn join(self) -> Result<(), Error> {
        self.thread.join().unwrap_or(Err(Error::Shutdown))
    }
}

struct Driving {
    handlers: Handlers<Handler>,
    machine: Weak<Machine<Driving>>,
    /// The handler threads' queue, closed when the machine ends.
    tasks: Arc<TaskQueue<Task>>,
    /// With one job at a time, a job runs on the reader thread that received
    /// it (nothing else needs that thread until the job is done, and running
    /// it there saves waking a pool thread), holding this gate, as the pool
    /// thread does: a job whose connection was lost frees its slot while its
    /// handler still runs, and the next job waits for that handler.
    one_at_a_time: Option<Arc<Mutex<()>>>,
    /// Jobs assigned during a reader's delivery, left for that reader to
    /// hand to the pool (or run) once it has unlocked the machine, so that a
    /// pool thread does not wake only to wait for the lock.
    for_reader: Vec<Task>,
    /// Whether the thread delivering is a reader that runs
    /// [`take_deferred`](Driven::take_deferred) next.
    may_defer: bool,
    finished: bool,
}

/// A lost job runs on (a thread cannot be stopped from outside); its result
/// is dropped.
impl JobRunner for Driving {
    fn start(&mut self, core: &mut Core, assignment: Assignment) {
        let Some(machine) = self.machine.upgrade() else {
            // The machine is going away; nobody would take the result.
            return;
        };
        let Some(handler) = self.handlers.for_job(core, &assignment) else {
            return;
        };
        let job = WorkerJob {
            assignment,
            machine,
        };
        let key = job.assignment.id;
        let span = core.job_span(&job.assignment);
        let task = Task { job, handler, span };
        if self.may_defer {
            self.for_reader.push(task);
            return;
        }
        if self.tasks.push(task).is_err() {
            let _ = core.work_fail(key);
        }
    }
}

impl Glue<Io> for Driving {
    type Core = Core;
    type Command = WorkerCommand;

    fn command(&mut self, core: &mut Core, command: WorkerCommand, now: Instant, _io: &mut Io) {
        core.apply(command, now);
    }

    fn deliver(&mut self, core: &mut Core, _now: Instant) {
        self.finished |= core.run_jobs(self);
    }

    fn finished(&self) -> bool {
        self.finished
    }
}

impl Driven for Driving {
    fn may_defer(&mut self, may_defer: bool) {
        self.may_defer = may_defer;
    }

    fn take_deferred(&mut self) -> Option<Deferred> {
        if self.for_reader.is_empty() {
            return None;
        }
        let mut tasks = std::mem::take(&mut self.for_reader);
        let inline = self
            .one_at_a_time
            .clone()
            .map(|gate| (tasks.remove(0), gate));
        let pool = self.tasks.clone();
        Some(Box::new(move || {
            for task in tasks {
                if let Err(task) = pool.push(task) {
                    // No pool thread is left to run it.
                    task.job.machine.command(WorkerCommand::Done(
                        task.job.assignment.id,
                        Err(WorkError::Fail),
                    ));
                }
            }
            if let Some((task, gate)) = inline {
                run_task(task, Some(&gate));
            }
        }))
    }
}

impl Drop for Driving {
    fn drop(&mut self) {
        // The handler threads finish the queued tasks, then return.
        self.tasks.close();
    }
}

/// Runs tasks until the queue closes.
fn pool_thread(tasks: &TaskQueue<Task>, gate: Option<&Mutex<()>>) {
    while let Some(task) = tasks.pop() {
        run_task(task, gate);
    }
}

/// Runs one handler, unlocked (holding `gate` if any), and reports its
/// result.
fn run_task(task: Task, gate: Option<&Mutex<()>>) {
    let Task { job, handler, span } = task;
    let _in_span = span.enter();
    // Panics are caught below, so the gate is never poisoned.
    let held = gate.map(|gate| gate.lock().unwrap_or_else(PoisonError::into_inner));
    let result = catch_unwind(AssertUnwindSafe(|| handler(&job)))
        .unwrap_or_else(|_| handler_panicked(job.function()));
    drop(held);
    job.machine
        .command(WorkerCommand::Done(job.assignment.id, result));
}

impl Worker {
    /// A handle that asks this worker, once running, to shut down gracefully.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            remote: self.remote.clone(),
        }
    }

    /// Runs on the calling thread until a [`ShutdownHandle`] asks it to stop,
    /// then stops taking jobs, lets the running ones finish, and returns.
    pub fn run(self) -> Result<(), Error> {
        let Worker {
            registry,
            connector,
            remote,
        } = self;
        let (core, handlers) = registry.into_worker(crate::os_entropy, Instant::now())?;
        let dialer = Dialer::new(connector, core.config().connect_timeout);
        let threads = core.config().concurrency.max(1);
        let tasks = Arc::new(TaskQueue::new());
        let one_at_a_time = (threads == 1).then(|| Arc::new(Mutex::new(())));
        for index in 0..threads {
            let queue = tasks.clone();
            let gate = one_at_a_time.clone();
            let spawned = thread::Builder::new()
                .name(format!("gearman-job-{index}"))
                .spawn(move || pool_thread(&queue, gate.as_deref()));
            if let Err(err) = spawned {
                // The threads already started return.
                tasks.close();
                return Err(err.into());
            }
        }
        let machine = Machine::new(dialer, core, |machine| Driving {
            handlers,
            machine: machine.clone(),
            tasks,
            one_at_a_time,
            for_reader: Vec::new(),
            may_defer: false,
            finished: false,
        });
        remote.start(&machine);
        // Dropping the driven state at the end closes `tasks`, which lets
        // the pool threads exit.
        machine.run();
        Ok(())
    }

    /// Runs on a thread of its own; see [`RunningWorker`].
    pub fn spawn(self) -> Result<RunningWorker, Error> {
        let stop = self.shutdown_handle();
        let thread = thread::Builder::new()
            .name("gearman-worker".into())
            .spawn(move || self.run())?;
        Ok(RunningWorker { stop, thread })
    }
}
