//! The worker: async handlers registered by function name, run inside the
//! worker's own future, which drives [`gearman_proto::worker::Worker`].

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;
use tracing::Instrument;

use bytes::Bytes;
use futures_channel::mpsc::{UnboundedReceiver as Receiver, UnboundedSender as Sender};
use futures_core::Stream;
use futures_util::FutureExt;
use futures_util::future::{AbortHandle, Aborted, abortable};
use futures_util::stream::FuturesUnordered;
pub use gearman_proto::worker::WorkError;
use gearman_proto::worker::WorkUpdate;
use gearman_proto::worker::{
    Assignment, AssignmentId, AsyncHandler, JobRunner, Registry, Worker as Core, WorkerCommand,
};

use crate::Error;
use crate::driver::{Driven, Driver, Sockets};
use crate::transport::{Connector, TcpConnector};

type BoxedHandler = AsyncHandler<WorkerJob>;
/// A running handler: its job, and its result unless it was stopped.
type Running =
    Pin<Box<dyn Future<Output = (AssignmentId, Result<Result<Bytes, WorkError>, Aborted>)> + Send>>;

/// A job handed to a handler: what the client sent, and a way to send
/// data, warnings and progress back while it runs.
#[derive(Debug, Clone)]
pub struct WorkerJob {
    assignment: Assignment,
    updates: Sender<(AssignmentId, WorkUpdate)>,
}

impl WorkerJob {
    fn send(&self, update: WorkUpdate) {
        // The worker is gone only when its run future was dropped.
        let _ = self.updates.unbounded_send((self.assignment.id, update));
    }
}

/// A Gearman worker: handlers registered by function name, with at most
/// [`concurrency`](Worker::concurrency) jobs at once across all servers. It
/// reconnects and re-registers by itself; a panicking handler fails its job
/// and the worker goes on.
///
/// Handlers run inside the future returned by [`run_until`](Worker::run_until)
/// (no task is spawned, so it works the same under async-std and smol): they
/// run concurrently with each other and with the worker's I/O whenever they
/// wait. A handler that computes for long without awaiting holds the others
/// up; move such work off the executor (`blocking::unblock`,
/// `async_std::task::spawn_blocking`) and await it.
///
/// ```no_run
/// use gearman_async_std::{WorkError, Worker, WorkerJob};
///
/// # fn main() -> Result<(), gearman_async_std::Error> {
/// async_std::task::block_on(
///     Worker::new(["127.0.0.1:4730"])
///         .concurrency(4)
///         .function("reverse", |job: WorkerJob| async move {
///             Ok::<_, WorkError>(job.payload().iter().rev().copied().collect::<Vec<u8>>())
///         })
///         .run(), // until Ctrl-C, then finishes the running jobs
/// )
/// # }
/// ```
#[must_use = "a worker does nothing until it runs"]
pub struct Worker {
    registry: Registry<BoxedHandler>,
    connector: Arc<dyn Connector>,
}

gearman_proto::worker_builder!(Worker, WorkerJob, async);

struct Driving {
    handlers: HashMap<Bytes, BoxedHandler>,
    updates: Sender<(AssignmentId, WorkUpdate)>,
    updates_rx: Receiver<(AssignmentId, WorkUpdate)>,
    running: FuturesUnordered<Running>,
    /// Handlers by job, so a job the server took back can be stopped.
    aborts: HashMap<AssignmentId, AbortHandle>,
    finished: bool,
}

impl JobRunner for Driving {
    fn start(&mut self, core: &mut Core, assignment: Assignment) {
        let key = assignment.id;
        let function = assignment.function.clone();
        let job = WorkerJob {
            assignment,
            updates: self.updates.clone(),
        };
        let Some(handler) = self.handlers.get(&function).cloned() else {
            // The core only assigns registered functions; fail rather than hang.
            let _ = core.work_fail(key);
            return;
        };
        let span = core.job_span(&job.assignment);
        // The handler may panic while making its future, or while it runs.
        let started = span.in_scope(|| std::panic::catch_unwind(AssertUnwindSafe(|| handler(job))));
        let guarded = async move {
            let result = match started {
                Ok(running) => AssertUnwindSafe(running).catch_unwind().await,
                Err(panic) => Err(panic),
            };
            result.unwrap_or_else(|_| {
                tracing::error!(
                    function = %String::from_utf8_lossy(&function),
                    "handler panicked; failing the job"
                );
                Err(WorkError::Fail)
            })
        }
        .instrument(span);
        let (guarded, abort) = abortable(guarded);
        self.aborts.insert(key, abort);
        self.running
            .push(Box::pin(guarded.map(move |result| (key, result))));
    }

    fn lost(&mut self, id: AssignmentId) {
        if let Some(abort) = self.aborts.remove(&id) {
            abort.abort();
        }
    }
}

impl Driving {
    fn drain_updates(&mut self, core: &mut Core, cx: &mut Context<'_>, now: Instant) -> bool {
        let mut progressed = false;
        // The channel never closes: this driver holds a sender.
        while let Poll::Ready(Some((key, update))) = Pin::new(&mut self.updates_rx).poll_next(cx) {
            progressed = true;
            core.apply(WorkerCommand::Update(key, update), now);
        }
        progressed
    }

    /// Stops taking jobs, lets the running ones finish.
    fn shut_down(&mut self, core: &mut Core, now: Instant) {
        tracing::info!(
            running = self.aborts.len(),
            "worker shutting down; finishing running jobs"
        );
        core.shutdown(now);
    }
}

impl Driven for Driving {
    type Core = Core;

    fn poll_input(
        &mut self,
        core: &mut Core,
        cx: &mut Context<'_>,
        now: Instant,
        _sockets: &mut Sockets,
    ) -> bool {
        let mut progressed = self.drain_updates(core, cx, now);
        let mut done = Vec::new();
        while let Poll::Ready(Some((key, result))) = Pin::new(&mut self.running).poll_next(cx) {
            progressed = true;
            self.aborts.remove(&key);
            match result {
                Ok(result) => done.push((key, result)),
                // Stopped because the server took the job back.
                Err(Aborted) => tracing::debug!(%key, "handler stopped: job lost"),
            }
        }
        if !done.is_empty() {
            // A handler's updates, sent before it returned, go out before its end.
            self.drain_updates(core, cx, now);
            for (key, result) in done {
                core.apply(WorkerCommand::Done(key, result), now);
            }
        }
        progressed
    }

    fn deliver(&mut self, core: &mut Core, _now: Instant) {
        self.finished |= core.run_jobs(self);
    }

    fn finished(&self) -> bool {
        self.finished
    }
}

impl Worker {
    /// Runs until `shutdown` completes (a signal, a channel closing...),
    /// then stops taking jobs, lets the running ones finish, and returns.
    /// Fails at once if the configuration cannot work (no server, a bad
    /// function name).
    pub async fn run_until(self, shutdown: impl Future) -> Result<(), Error> {
        let (core, handlers) = self
            .registry
            .into_worker(crate::os_entropy, Instant::now())?;
        let (updates, updates_rx) = futures_channel::mpsc::unbounded();
        let driving = Driving {
            handlers,
            updates,
            updates_rx,
            running: FuturesUnordered::new(),
            aborts: HashMap::new(),
            finished: false,
        };
        let mut driver = Driver::new(core, driving, self.connector);
        let mut shutdown = pin!(shutdown);
        let mut shutting_down = false;
        std::future::poll_fn(|cx| {
            if !shutting_down && shutdown.as_mut().poll(cx).is_ready() {
                shutting_down = true;
                let (core, driving) = driver.parts_mut();
                driving.shut_down(core, Instant::now());
            }
            Pin::new(&mut driver).poll(cx)
        })
        .await;
        Ok(())
    }

    /// Runs until the process gets Ctrl-C (SIGINT), then shuts down
    /// gracefully as [`run_until`](Worker::run_until) does.
    pub async fn run(self) -> Result<(), Error> {
        let ctrl_c = crate::signal::ctrl_c()?;
        self.run_until(ctrl_c).await
    }
}
