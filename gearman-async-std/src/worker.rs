//! The worker: async handlers registered by function name, run inside the
//! worker's own future, which drives [`gearman_proto::worker::Worker`].

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Instant;
use tracing::Instrument;

use bytes::Bytes;
use foldhash::HashMap;
use futures_channel::mpsc::{UnboundedReceiver as Receiver, UnboundedSender as Sender};
use futures_core::Stream;
use futures_util::FutureExt;
use futures_util::future::{AbortHandle, Abortable, Aborted};
use futures_util::stream::FuturesUnordered;
pub use gearman_proto::worker::WorkError;
use gearman_proto::worker::WorkUpdate;
use gearman_proto::worker::{
    Assignment, AssignmentId, AsyncHandler, Handlers, JobRunner, Worker as Core, WorkerCommand,
    handler_panicked,
};

use crate::Error;
use crate::driver::{Driven, Driver, Sockets};
use crate::transport::{Connector, TcpConnector};

type BoxedHandler = AsyncHandler<WorkerJob>;
/// A handler's run: its result, a panic turned into a failure.
type Handling = Pin<Box<dyn Future<Output = Result<Bytes, WorkError>> + Send>>;
/// A handler's job, and its result unless it was stopped.
type Ended = (AssignmentId, Result<Result<Bytes, WorkError>, Aborted>);

/// A handler that did not end at its first poll, stoppable should the
/// server take its job back.
struct Running {
    key: AssignmentId,
    run: Abortable<Handling>,
}

impl Future for Running {
    type Output = Ended;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Ended> {
        let key = self.key;
        Pin::new(&mut self.run).poll(cx).map(|result| (key, result))
    }
}

/// Rounds of handlers and driver in one poll of the run future before it
/// yields to the executor (then woken at once).
const HANDLER_ROUNDS_PER_POLL: usize = 32;

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

gearman_proto::worker_builder! {
    /// A Gearman worker: handlers registered by function name, with at most
    /// [`concurrency`](Worker::concurrency) jobs at once across all servers. It
    /// reconnects and re-registers by itself; a panicking handler fails its job
    /// and the worker goes on.
    ///
    /// Handlers run inside the future returned by [`run_until`](Worker::run_until)
    /// (no task is spawned, so it works the same under async-std and smol),
    /// outside the lock on the worker's state (so a handler may read its
    /// [`WorkerMonitor`]): they
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
    Worker, WorkerJob, async, monitor: WorkerMonitor = WorkerMonitor::default()
}

gearman_proto::worker_monitor! {
    /// ```no_run
    /// use gearman_async_std::proto::observe::ConnectionState;
    /// use gearman_async_std::{WorkError, Worker, WorkerJob};
    ///
    /// # fn main() {
    /// let worker = Worker::new(["127.0.0.1:4730", "127.0.0.1:4731"])
    ///     .function("reverse", |job: WorkerJob| async move {
    ///         Ok::<_, WorkError>(job.payload().iter().rev().copied().collect::<Vec<u8>>())
    ///     });
    /// let monitor = worker.monitor();
    /// smol::spawn(worker.run()).detach();
    /// // Later, in a health check:
    /// let healthy = monitor
    ///     .servers()
    ///     .iter()
    ///     .any(|server| server.state == ConnectionState::Connected);
    /// # let _ = healthy; }
    /// ```
    {
        /// The worker's driver while it runs, as a client's is shared with
        /// its [`ClientDriver`](crate::ClientDriver); `None` before and after.
        driver: Arc<Mutex<Option<Driver<Driving>>>>
    }
}

impl WorkerMonitor {
    /// Runs `read` on the worker's state machine while it runs.
    fn read<T>(&self, read: impl FnOnce(&Core) -> T) -> Option<T> {
        self.lock().as_ref().map(|driver| read(driver.parts().0))
    }

    /// The driver; a panic while it was held (a bug) ended the run future,
    /// whose [`StopOnDrop`] takes the driver away, so what is left can be read.
    fn lock(&self) -> MutexGuard<'_, Option<Driver<Driving>>> {
        self.driver.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Ends the worker's driver (its sockets, its state) when the run future
/// ends or is dropped.
struct StopOnDrop<'a>(&'a WorkerMonitor);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        // Dropped outside the lock.
        let driver = self.0.lock().take();
        drop(driver);
    }
}

struct Driving {
    handlers: Handlers<BoxedHandler>,
    updates: Sender<(AssignmentId, WorkUpdate)>,
    updates_rx: Receiver<(AssignmentId, WorkUpdate)>,
    /// Handlers started since the run future last took them, for it to
    /// poll outside the lock.
    started: Vec<(AssignmentId, Handling)>,
    /// Handlers polled but not ended, by job, so a job the server took back
    /// can be stopped.
    aborts: HashMap<AssignmentId, AbortHandle>,
    finished: bool,
}

impl JobRunner for Driving {
    fn start(&mut self, core: &mut Core, assignment: Assignment) {
        let Some(handler) = self.handlers.for_job(core, &assignment) else {
            return;
        };
        let key = assignment.id;
        let function = assignment.function.clone();
        let job = WorkerJob {
            assignment,
            updates: self.updates.clone(),
        };
        let span = core.job_span(&job.assignment);
        // The handler is called at the first poll, outside the worker's
        // lock; it may panic while making its future, or while it runs.
        let guarded = async move {
            let started = std::panic::catch_unwind(AssertUnwindSafe(|| handler(job)));
            let result = match started {
                Ok(running) => AssertUnwindSafe(running).catch_unwind().await,
                Err(panic) => Err(panic),
            };
            result.unwrap_or_else(|_| handler_panicked(&function))
        }
        .instrument(span);
        self.started.push((key, Box::pin(guarded)));
    }

    fn lost(&mut self, id: AssignmentId) {
        if let Some(abort) = self.aborts.remove(&id) {
            abort.abort();
        }
        // Not called yet: it never will be.
        self.started.retain(|(key, _)| *key != id);
    }
}

impl Driving {
    /// Reports the handlers that ended; their updates, sent before they
    /// returned, go out before their ends.
    fn end(&mut self, core: &mut Core, cx: &mut Context<'_>, ended: &mut Vec<Ended>, now: Instant) {
        if ended.is_empty() {
            return;
        }
        self.drain_updates(core, cx, now);
        for (key, result) in ended.drain(..) {
            self.aborts.remove(&key);
            match result {
                Ok(result) => core.apply(WorkerCommand::Done(key, result), now),
                // Stopped because the server took the job back.
                Err(Aborted) => tracing::debug!(%key, "handler stopped: job lost"),
            }
        }
    }

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
        self.drain_updates(core, cx, now)
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
            started: Vec::new(),
            aborts: HashMap::default(),
            finished: false,
        };
        let monitor = self.monitor;
        *monitor.lock() = Some(Driver::new(core, driving, self.connector));
        let _stop = StopOnDrop(&monitor);
        // Polled here, outside the lock, so that handlers may read the monitor.
        let mut running = FuturesUnordered::<Running>::new();
        // Kept from round to round, so that a job costs them no allocation.
        let mut ended: Vec<Ended> = Vec::new();
        let mut started: Vec<(AssignmentId, Handling)> = Vec::new();
        let mut polled: Vec<(AssignmentId, AbortHandle)> = Vec::new();
        let mut shutdown = pin!(shutdown);
        let mut shutting_down = false;
        std::future::poll_fn(|cx| {
            let stop_now = !shutting_down && shutdown.as_mut().poll(cx).is_ready();
            // Handlers that end at once free their slots for the next jobs
            // in the same poll; bounded, so that a busy worker yields.
            for _ in 0..HANDLER_ROUNDS_PER_POLL {
                while let Poll::Ready(Some(one)) = Pin::new(&mut running).poll_next(cx) {
                    ended.push(one);
                }
                let mut guard = monitor.lock();
                let Some(driver) = guard.as_mut() else {
                    return Poll::Ready(());
                };
                // Changed only with something to apply: the driver then
                // takes a round, and skips a poll that has nothing for it.
                let shut_down = stop_now && !shutting_down;
                if shut_down || !ended.is_empty() || !polled.is_empty() {
                    let (core, driving) = driver.parts_mut();
                    let now = Instant::now();
                    if shut_down {
                        shutting_down = true;
                        driving.shut_down(core, now);
                    }
                    // Before the driver runs, which is where a job can be lost.
                    driving.aborts.extend(polled.drain(..));
                    driving.end(core, cx, &mut ended, now);
                }
                if Pin::new(&mut *driver).poll(cx).is_ready() {
                    return Poll::Ready(());
                }
                if !driver.parts().1.started.is_empty() {
                    std::mem::swap(&mut driver.parts_mut().1.started, &mut started);
                }
                drop(guard);
                if started.is_empty() {
                    return Poll::Pending;
                }
                // A handler that ends at its first poll (most do) needs no
                // place among the running ones, nor a way to be stopped.
                for (key, mut run) in started.drain(..) {
                    match run.as_mut().poll(cx) {
                        Poll::Ready(result) => ended.push((key, Ok(result))),
                        Poll::Pending => {
                            let (abort, registration) = AbortHandle::new_pair();
                            polled.push((key, abort));
                            let run = Abortable::new(run, registration);
                            running.push(Running { key, run });
                        }
                    }
                }
            }
            cx.waker().wake_by_ref();
            Poll::Pending
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

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::sync::mpsc;
    use std::time::Duration;

    use bytes::BytesMut;
    use gearman_proto::Command;
    use gearman_proto::packet::{Decoder, Packet};

    use super::*;

    /// Tells `dropped` when the future holding it is dropped.
    struct DropSignal(mpsc::Sender<()>);

    impl Drop for DropSignal {
        fn drop(&mut self) {
            let _ = self.0.send(());
        }
    }

    /// A server that assigns one job to the first grab, then closes the
    /// connection once `close` says so.
    fn assigns_one_job_then_closes(close: mpsc::Receiver<()>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            let (mut socket, _) = listener.accept().unwrap();
            let mut decoder = Decoder::new();
            let mut input = BytesMut::new();
            let mut chunk = [0; 1024];
            'reading: loop {
                let n = socket.read(&mut chunk).unwrap();
                assert!(n > 0, "the worker closed before grabbing");
                input.extend_from_slice(&chunk[..n]);
                while let Some(packet) = decoder.decode_packet(&mut input).unwrap() {
                    let grab = [Command::GrabJob, Command::GrabJobUniq, Command::GrabJobAll];
                    if grab.contains(&packet.command()) {
                        break 'reading;
                    }
                }
            }
            let assign = Packet::build(Command::JobAssign, &[b"H:1", b"wait", b"x"]).unwrap();
            let mut out = BytesMut::new();
            assign.encode(&mut out);
            socket.write_all(&out).unwrap();
            let _ = close.recv();
            drop(socket);
        });
        addr
    }

    // The server drops the connection while the job's handler waits: the
    // handler is stopped (its future dropped), not left running.
    #[test]
    fn a_waiting_handler_stops_when_its_job_is_lost() {
        let (close, closing) = mpsc::channel();
        let addr = assigns_one_job_then_closes(closing);
        let (started, handler_started) = mpsc::channel();
        let (dropped, handler_dropped) = mpsc::channel();
        let worker = Worker::new([addr]).function("wait", move |_job: WorkerJob| {
            let started = started.clone();
            let signal = DropSignal(dropped.clone());
            async move {
                let _signal = signal;
                let _ = started.send(());
                std::future::pending::<Result<Bytes, WorkError>>().await
            }
        });
        let (stop, stopped) = futures_channel::oneshot::channel::<()>();
        let running =
            std::thread::spawn(move || async_std::task::block_on(worker.run_until(stopped)));

        let patience = Duration::from_secs(10);
        handler_started
            .recv_timeout(patience)
            .expect("the job reaches its handler");
        assert!(
            handler_dropped.try_recv().is_err(),
            "the handler still waits"
        );
        close.send(()).unwrap();
        handler_dropped
            .recv_timeout(patience)
            .expect("the lost job's handler is stopped");
        drop(stop);
        running.join().unwrap().unwrap();
    }
}
