//! The one run loop every type in this crate is built on: a task that owns a
//! core state machine ([`Endpoint`]), opens and closes the sockets it asks
//! for, sleeps until its next deadline, and takes user commands from a
//! channel. No protocol knowledge lives here.
//!
//! The state sits behind a mutex that no one holds across an await, so
//! whichever task has something for the state machine applies it there and
//! then: a socket's reader feeds its input (see [`Shared::feed`]),
//! a user's task may apply a command when the loop is idle (see
//! [`Shared::command_directly`]). The loop's task is woken only for queued
//! commands, its timer and its end, so a message crosses no extra task.

use std::future::{Future, poll_fn};
use std::io;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use foldhash::HashMap;
use futures_util::FutureExt;
use gearman_proto::endpoint::{Backlog, Glue, OutputBudget, OutputLimits};
use gearman_proto::endpoint::{Transport, coalesce, drain_outputs};
use gearman_proto::{ConnId, ConnectError, Endpoint};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::runtime::Handle;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::{AbortHandle, JoinHandle, JoinSet};

use crate::shared_tcp::SharedTcp;
use crate::transport::{Connection, Connector, Inner};

/// Bytes asked for per read.
const READ_CHUNK: usize = 16 * 1024;
/// How long a closed connection keeps reading (and discarding) while the
/// peer takes in our last bytes and closes its side. Closing with unread
/// input would send a reset, which can make the peer drop what we wrote last.
const LINGER: Duration = Duration::from_secs(2);

/// What the socket tasks tell the state machine.
pub(crate) enum IoEvent {
    Connected(ConnId, Connection),
    Input(ConnId, Bytes),
    /// Closed by the peer, failed, or could not be opened.
    Lost(ConnId),
    /// Could not be opened.
    ConnectFailed(ConnId, ConnectError),
    /// Writing failed, or the peer took nothing for the stall timeout: the
    /// connection is dropped without waiting for the peer.
    WriteFailed(ConnId),
}

enum ConnState {
    Connecting {
        task: JoinHandle<()>,
        queued: Vec<Bytes>,
    },
    Open {
        output: mpsc::UnboundedSender<Bytes>,
        /// The socket itself, written without the writer task while the
        /// writer has nothing queued (plain TCP only).
        direct: Option<SharedTcp>,
        backlog: Arc<Backlog>,
        /// Tells the reader to stop forwarding and only drain until the peer closes.
        closing: oneshot::Sender<()>,
        /// The socket tasks, to end them (and free what the writer holds)
        /// without waiting for the peer.
        reader: AbortHandle,
        writer: AbortHandle,
    },
}

/// Events waiting for the run loop because another task held the state
/// machine; when full, readers stop reading, so a fast peer is slowed by
/// TCP instead of filling memory.
const INPUT_QUEUE: usize = 256;

/// What feeding an event to the state machine in the calling task did.
enum Fed {
    Handled,
    /// Another task holds the state machine: the event is given back.
    Busy(IoEvent),
    /// The state machine is gone.
    Gone,
}

/// An event queued for the run loop, with the count of its task's events
/// still queued.
struct Queued {
    event: IoEvent,
    pending: Arc<AtomicUsize>,
}

/// How socket tasks hand their events to the state machine: fed in the
/// task itself while no other task holds the state (no hand-off, no
/// wake-up of the loop's task), queued for the loop otherwise, so tasks
/// never wait on each other's lock.
#[derive(Clone)]
struct Events {
    feed: Arc<dyn Fn(IoEvent) -> Fed + Send + Sync>,
    queue: mpsc::Sender<Queued>,
}

impl Events {
    /// Hands `event` over; `pending` counts this task's events still
    /// queued, so that none is fed before an earlier one. False once the
    /// state machine is gone.
    async fn hand(&self, event: IoEvent, pending: &Arc<AtomicUsize>) -> bool {
        let event = if pending.load(Ordering::Acquire) == 0 {
            match (self.feed)(event) {
                Fed::Handled => return true,
                Fed::Gone => return false,
                Fed::Busy(event) => event,
            }
        } else {
            event
        };
        pending.fetch_add(1, Ordering::AcqRel);
        let pending = pending.clone();
        self.queue.send(Queued { event, pending }).await.is_ok()
    }

    /// Hands over a task's only event.
    async fn hand_one(&self, event: IoEvent) -> bool {
        self.hand(event, &Arc::default()).await
    }
}

/// The sockets of one state machine, keyed by the core's connection ids.
pub(crate) struct Io {
    events: Events,
    conns: HashMap<ConnId, ConnState>,
    /// What the writers may hold for the peers, per connection and in all.
    budget: OutputBudget,
    /// Socket tasks, awaited at the end so the last bytes are written.
    sockets: JoinSet<()>,
    /// The loop's runtime: a user's task applying a command may be on
    /// another one, or on none.
    runtime: Handle,
    /// Opens the connections the core asks for.
    connector: Arc<dyn Connector>,
}

impl Io {
    /// Must be called inside a Tokio runtime.
    fn new(limits: OutputLimits, connector: Arc<dyn Connector>, events: Events) -> Io {
        Io {
            events,
            conns: HashMap::default(),
            budget: OutputBudget::new(limits),
            sockets: JoinSet::new(),
            runtime: Handle::current(),
            connector,
        }
    }

    /// Starts moving bytes on an established socket for `conn`.
    pub(crate) fn attach(&mut self, conn: ConnId, stream: Connection) {
        match stream.0 {
            Inner::Tcp(stream) => {
                if let Err(err) = stream.set_nodelay(true) {
                    tracing::debug!(%conn, %err, "could not set TCP_NODELAY");
                }
                let socket = SharedTcp::new(stream);
                self.attach_halves(conn, socket.clone(), socket.clone(), Some(socket));
            }
            Inner::Other(stream) => {
                let (read_half, write_half) = tokio::io::split(stream);
                self.attach_halves(conn, read_half, write_half, None);
            }
        }
    }

    fn attach_halves(
        &mut self,
        conn: ConnId,
        read_half: impl AsyncRead + Unpin + Send + 'static,
        write_half: impl AsyncWrite + Unpin + Send + 'static,
        direct: Option<SharedTcp>,
    ) {
        let (output, output_rx) = mpsc::unbounded_channel();
        let backlog = Arc::new(self.budget.backlog());
        let (closing, closing_rx) = oneshot::channel();
        // Reap finished socket tasks so a long-lived server does not collect them.
        while self.sockets.try_join_next().is_some() {}
        let reader = self.sockets.spawn_on(
            read_loop(conn, read_half, self.events.clone(), closing_rx),
            &self.runtime,
        );
        let writer = self.sockets.spawn_on(
            write_loop(
                conn,
                write_half,
                output_rx,
                backlog.clone(),
                self.events.clone(),
            ),
            &self.runtime,
        );
        let queued = match self.conns.insert(
            conn,
            ConnState::Open {
                output,
                direct,
                backlog,
                closing,
                reader,
                writer,
            },
        ) {
            Some(ConnState::Connecting { queued, .. }) => queued,
            _ => Vec::new(),
        };
        for data in queued {
            self.send(conn, data);
        }
    }

    /// Drains every action and transmit the core has, in order.
    fn pump<E: Endpoint>(&mut self, core: &mut E, now: Instant) {
        drain_outputs(core, self, now);
    }

    /// Feeds one socket event to the core.
    fn handle<E: Endpoint>(&mut self, core: &mut E, event: IoEvent, now: Instant) {
        match event {
            IoEvent::Connected(conn, stream) => {
                if matches!(self.conns.get(&conn), Some(ConnState::Connecting { .. })) {
                    self.attach(conn, stream);
                    core.handle_connected(conn, now);
                }
            }
            IoEvent::Input(conn, data) => {
                if matches!(self.conns.get(&conn), Some(ConnState::Open { .. })) {
                    core.handle_input(conn, &data, now);
                }
            }
            IoEvent::Lost(conn) => {
                if self.conns.contains_key(&conn) {
                    self.close(conn, now);
                    core.handle_disconnected(conn, now);
                }
            }
            IoEvent::ConnectFailed(conn, err) => {
                if self.conns.contains_key(&conn) {
                    self.close(conn, now);
                    core.handle_connect_failed(conn, err, now);
                }
            }
            IoEvent::WriteFailed(conn) => {
                if self.conns.contains_key(&conn) {
                    self.abort(conn);
                    core.handle_disconnected(conn, now);
                }
            }
        }
    }

    fn close_all(&mut self) {
        let conns: Vec<ConnId> = self.conns.keys().copied().collect();
        for conn in conns {
            self.close(conn, Instant::now());
        }
    }
}

impl Transport for Io {
    /// Connects in a task, which reports a failure as a lost connection.
    fn connect(&mut self, conn: ConnId, addr: String) -> Result<(), ConnectError> {
        let events = self.events.clone();
        let connecting = self.connector.connect(&addr);
        let task = self.runtime.spawn(async move {
            let event = match connecting.await {
                Ok(stream) => {
                    tracing::debug!(%conn, %addr, "connected");
                    IoEvent::Connected(conn, stream)
                }
                Err(err) => {
                    tracing::warn!(%conn, %addr, %err, "connect failed");
                    IoEvent::ConnectFailed(conn, ConnectError::new(addr, err))
                }
            };
            events.hand_one(event).await;
        });
        self.conns.insert(
            conn,
            ConnState::Connecting {
                task,
                queued: Vec::new(),
            },
        );
        Ok(())
    }

    /// Writes bytes for `conn` at once when nothing is queued before them
    /// and the socket takes them (plain TCP), and queues them (or the rest)
    /// for its writer otherwise; drops the connection and returns false
    /// when its peer does not read or the write fails.
    fn send(&mut self, conn: ConnId, data: Bytes) -> bool {
        match self.conns.get_mut(&conn) {
            Some(ConnState::Open {
                output,
                direct,
                backlog,
                ..
            }) => {
                let sent = match direct {
                    Some(socket) => {
                        backlog.write_or_queue(data, Instant::now(), |data| socket.write_now(data))
                    }
                    None => backlog.write_or_queue(data, Instant::now(), |_| Ok(0)),
                };
                match sent {
                    Ok(None) => {}
                    // A send error means the writer already failed; its Lost
                    // event is on the way.
                    Ok(Some(rest)) => {
                        let _ = output.send(rest);
                    }
                    Err(failed) => {
                        tracing::warn!(%conn, %failed, "dropping the connection");
                        self.abort(conn);
                        return false;
                    }
                }
            }
            Some(ConnState::Connecting { queued, .. }) => queued.push(data),
            None => tracing::trace!(%conn, "output for a closed connection dropped"),
        }
        true
    }

    /// Closes `conn` after flushing what was queued; reports nothing back.
    fn close(&mut self, conn: ConnId, _now: Instant) {
        match self.conns.remove(&conn) {
            Some(ConnState::Connecting { task, .. }) => task.abort(),
            // Dropping `output` lets the writer flush, shut down and exit;
            // the reader drains until the peer closes too.
            Some(ConnState::Open { closing, .. }) => {
                let _ = closing.send(());
            }
            None => {}
        }
    }
}

impl Io {
    /// Drops `conn` at once: its socket tasks end, its queued output is
    /// freed and the socket closes without waiting for the peer.
    fn abort(&mut self, conn: ConnId) {
        if let Some(ConnState::Open {
            backlog,
            reader,
            writer,
            ..
        }) = self.conns.remove(&conn)
        {
            reader.abort();
            writer.abort();
            backlog.discard();
        }
    }
}

impl Drop for Io {
    /// A run loop that is dropped (its future cancelled) leaves no socket
    /// task behind: the connect tasks are aborted here, the socket tasks
    /// when `sockets` drops.
    fn drop(&mut self) {
        self.close_all();
    }
}

/// Reads `conn` and feeds what arrives to the state machine in this task,
/// so input reaches the core without a hand-off to another task. The next
/// read waits until the core has taken this one, so a fast peer is slowed
/// by TCP instead of filling memory.
async fn read_loop(
    conn: ConnId,
    mut socket: impl AsyncRead + Unpin,
    events: Events,
    mut closing: oneshot::Receiver<()>,
) {
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    let pending = Arc::default();
    loop {
        buf.reserve(READ_CHUNK);
        let read = tokio::select! {
            read = socket.read_buf(&mut buf) => read,
            _ = &mut closing => break,
        };
        match read {
            Ok(0) => {
                tracing::debug!(%conn, "closed by peer");
                events.hand(IoEvent::Lost(conn), &pending).await;
                return;
            }
            Ok(_) => {
                let input = IoEvent::Input(conn, buf.split().freeze());
                if !events.hand(input, &pending).await {
                    break;
                }
            }
            Err(err) => {
                tracing::warn!(%conn, %err, "read failed");
                events.hand(IoEvent::Lost(conn), &pending).await;
                return;
            }
        }
    }
    // Closed on our side: discard input until the peer closes, for a while.
    let drain = async {
        while let Ok(n) = socket.read_buf(&mut buf).await {
            if n == 0 {
                break;
            }
            buf.clear();
        }
    };
    let _ = tokio::time::timeout(LINGER, drain).await;
}

async fn write_loop(
    conn: ConnId,
    mut socket: impl AsyncWrite + Unpin,
    mut output: mpsc::UnboundedReceiver<Bytes>,
    backlog: Arc<Backlog>,
    events: Events,
) {
    let mut batch = BytesMut::new();
    while let Some(first) = output.recv().await {
        // Everything already queued goes out in one write.
        let data = coalesce(&first, || output.try_recv().ok(), &mut batch);
        let result = write_bounded(&mut socket, data, &backlog).await;
        if let Err(err) = result {
            tracing::warn!(%conn, %err, "write failed; dropping the connection");
            // Freed now, not when the run loop gets to the loss.
            drop(output);
            backlog.discard();
            events.hand_one(IoEvent::WriteFailed(conn)).await;
            return;
        }
    }
    // The run loop closed the connection: everything queued is written.
    let _ = socket.shutdown().await;
}

/// Writes all of `data`, counting progress in `backlog`; fails when the
/// peer takes nothing until the backlog's stall deadline.
async fn write_bounded(
    socket: &mut (impl AsyncWrite + Unpin),
    mut data: &[u8],
    backlog: &Backlog,
) -> io::Result<()> {
    while !data.is_empty() {
        match until_stalled(backlog, socket.write(data)).await {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                backlog.wrote(n, Instant::now());
                data = &data[n..];
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    // A TLS stream may hold records back until flushed.
    until_stalled(backlog, socket.flush()).await
}

/// Runs one write or flush, failing at the backlog's stall deadline.
async fn until_stalled<T>(
    backlog: &Backlog,
    operation: impl Future<Output = io::Result<T>>,
) -> io::Result<T> {
    let mut operation = pin!(operation);
    // One that goes through at once needs no timer.
    if let Some(done) = (&mut operation).now_or_never() {
        return done;
    }
    match backlog.stall_deadline() {
        Some(at) => tokio::time::timeout_at(at.into(), operation)
            .await
            .map_err(|_| {
                io::Error::new(io::ErrorKind::TimedOut, "the peer stopped taking output")
            })?,
        None => operation.await,
    }
}

/// Glue the loop can run: a role's [`Glue`] over this loop's sockets,
/// movable to the runtime's threads.
pub(crate) trait Driven:
    Glue<Io, Core: Send, Command: Send + 'static> + Send + 'static
{
}

impl<G: Glue<Io, Core: Send, Command: Send + 'static> + Send + 'static> Driven for G {}

/// What the loop owns, behind the mutex of [`Shared`].
struct LoopState<D: Driven> {
    /// The core state machine, fed and drained by the loop.
    core: D::Core,
    driven: D,
    io: Io,
    commands: mpsc::UnboundedReceiver<D::Command>,
    commands_open: bool,
    /// When the loop's timer fires. It may be earlier than the core's next
    /// deadline (it is left armed rather than moved later: a wasted wake-up
    /// is cheaper than re-arming a timer for every request); it is never
    /// later.
    armed: Option<Instant>,
}

impl<D: Driven> LoopState<D> {
    /// Drains what the core has to send and to tell, in order.
    fn flush(&mut self, now: Instant) {
        self.io.pump(&mut self.core, now);
        self.driven.deliver(&mut self.core, now);
        // Delivering may have queued more output (e.g. a handler's reply).
        self.io.pump(&mut self.core, now);
    }

    /// Applies `command` and everything queued behind it, so writes batch.
    fn command(&mut self, command: D::Command, now: Instant) {
        self.driven
            .command(&mut self.core, command, now, &mut self.io);
        while let Ok(command) = self.commands.try_recv() {
            self.driven
                .command(&mut self.core, command, now, &mut self.io);
        }
    }

    /// Whether the core now has a deadline earlier than the loop's timer.
    fn timer_late(&mut self) -> bool {
        match (self.core.poll_timeout(), self.armed) {
            (None, _) => false,
            (Some(at), Some(armed)) => at < armed,
            (Some(_), None) => true,
        }
    }
}

/// A state machine and its sockets, shared by the loop that drives them and
/// the users' tasks that may apply a command directly.
pub(crate) struct Shared<D: Driven> {
    /// `None` once the loop is done or dropped.
    state: Mutex<Option<LoopState<D>>>,
    /// Wakes the loop to re-arm its timer for an earlier deadline.
    rearm: Notify,
}

impl<D: Driven> std::fmt::Debug for Shared<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

impl<D: Driven> Shared<D> {
    fn lock(&self) -> MutexGuard<'_, Option<LoopState<D>>> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| self.end_poisoned(poisoned.into_inner()))
    }

    /// A panic while the state was held (in the loop or in a user's task
    /// applying a command) may have left it half-changed: end it, as a
    /// panic of the loop's task would, so its jobs and requests see
    /// [`Error::Shutdown`](crate::Error::Shutdown) and later commands are
    /// refused, and wake the loop to return.
    fn end_poisoned<'a>(
        &self,
        mut guard: MutexGuard<'a, Option<LoopState<D>>>,
    ) -> MutexGuard<'a, Option<LoopState<D>>> {
        if guard.take().is_some() {
            tracing::error!("a panic interrupted the run loop's state; shutting down");
        }
        self.state.clear_poison();
        self.rearm.notify_one();
        guard
    }

    /// Applies `command` in the caller's task when the loop is between its
    /// waits and its state machine is idle, after any command still queued,
    /// and hands the resulting bytes to the writers at once: the loop's task
    /// is not woken (only if the command brings a deadline earlier than its
    /// timer, or finishes the state machine). Gives the command back
    /// otherwise, to be queued for the loop, which then applies it together
    /// with the others.
    pub(crate) fn command_directly(&self, command: D::Command) -> Result<(), D::Command> {
        let _wake = WakeLoopOnPanic(&self.rearm);
        let mut guard = match self.state.try_lock() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(poisoned)) => self.end_poisoned(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => return Err(command),
        };
        let Some(state) = guard.as_mut() else {
            return Err(command);
        };
        if !state.driven.is_idle() {
            return Err(command);
        }
        let now = Instant::now();
        // Commands queued earlier go first; the channel is empty afterwards.
        while let Ok(queued) = state.commands.try_recv() {
            state
                .driven
                .command(&mut state.core, queued, now, &mut state.io);
        }
        state
            .driven
            .command(&mut state.core, command, now, &mut state.io);
        state.flush(now);
        // A command may finish the machine (a client's close): the loop ends then.
        let rearm = state.timer_late() || state.driven.finished();
        drop(guard);
        if rearm {
            self.rearm.notify_one();
        }
        Ok(())
    }

    /// Feeds a socket task's event to the state machine in the calling task
    /// and hands out what follows, as the loop would after a wake-up; wakes
    /// the loop only when it must re-arm its timer or end. False once the
    /// state is gone.
    fn feed(&self, event: IoEvent) -> Fed {
        let _wake = WakeLoopOnPanic(&self.rearm);
        let mut guard = match self.state.try_lock() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(poisoned)) => self.end_poisoned(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => return Fed::Busy(event),
        };
        let Some(state) = guard.as_mut() else {
            return Fed::Gone;
        };
        let now = Instant::now();
        state.io.handle(&mut state.core, event, now);
        state.flush(now);
        let wake_loop = state.timer_late() || state.driven.finished();
        drop(guard);
        if wake_loop {
            self.rearm.notify_one();
        }
        Fed::Handled
    }

    /// Applies the commands queued by now, without waiting for more.
    fn apply_queued(&self) {
        let mut guard = self.lock();
        if let Some(state) = guard.as_mut()
            && let Ok(first) = state.commands.try_recv()
        {
            state.command(first, Instant::now());
        }
    }

    /// Looks at the core and its glue (`None` once the loop is done).
    pub(crate) fn inspect<R>(&self, look: impl FnOnce(&D::Core, &D) -> R) -> Option<R> {
        let _wake = WakeLoopOnPanic(&self.rearm);
        self.lock()
            .as_ref()
            .map(|state| look(&state.core, &state.driven))
    }

    /// Waits for commands and applies them, under the lock so that no
    /// direct command overtakes them. Ready once some were applied or the
    /// channel closed.
    fn poll_commands(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut guard = self.lock();
        let Some(state) = guard.as_mut() else {
            return Poll::Ready(());
        };
        let now = Instant::now();
        match state.commands.poll_recv(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(command)) => {
                state.command(command, now);
                Poll::Ready(())
            }
            Poll::Ready(None) => {
                state.commands_open = false;
                state.driven.handles_gone();
                Poll::Ready(())
            }
        }
    }
}

/// Wakes the loop when a user's task panics holding the state (the guard
/// declared after this one poisons the lock first), so that the loop finds
/// the poisoned lock and ends at once rather than at its next event.
struct WakeLoopOnPanic<'a>(&'a Notify);

impl Drop for WakeLoopOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.notify_one();
        }
    }
}

/// A run loop that is ready to run, and the state it shares.
pub(crate) struct Runner<D: Driven> {
    shared: Arc<Shared<D>>,
    queued: mpsc::Receiver<Queued>,
}

impl<D: Driven> Drop for Runner<D> {
    /// Ends the state (its jobs, its sockets) when the loop's future is
    /// dropped before it finished, even before its first poll (users may
    /// have applied commands already) and while users still hold the
    /// [`Shared`].
    fn drop(&mut self) {
        // Dropped outside the lock: dropping it wakes the tasks waiting on it.
        let state = self.shared.lock().take();
        drop(state);
    }
}

/// Sets up the loop for `core` and its glue `driven`, and returns it with
/// the state it shares. Must be called inside a Tokio runtime.
pub(crate) fn runner<D: Driven>(
    core: D::Core,
    driven: D,
    commands: mpsc::UnboundedReceiver<D::Command>,
    connector: Arc<dyn Connector>,
) -> (Arc<Shared<D>>, Runner<D>) {
    let limits = core.output_limits();
    let (queue, queued) = mpsc::channel(INPUT_QUEUE);
    let shared = Arc::new_cyclic(|shared: &Weak<Shared<D>>| {
        let shared = shared.clone();
        let feed = Arc::new(move |event| match shared.upgrade() {
            Some(shared) => shared.feed(event),
            None => Fed::Gone,
        });
        let events = Events { feed, queue };
        Shared {
            state: Mutex::new(Some(LoopState {
                core,
                driven,
                io: Io::new(limits, connector, events),
                commands,
                commands_open: true,
                armed: None,
            })),
            rearm: Notify::new(),
        }
    });
    let runner = Runner {
        shared: shared.clone(),
        queued,
    };
    (shared, runner)
}

/// Runs `core` with its glue `driven` until it is finished, then closes
/// its sockets.
pub(crate) async fn run<D: Driven>(
    core: D::Core,
    driven: D,
    commands: mpsc::UnboundedReceiver<D::Command>,
    connector: Arc<dyn Connector>,
) {
    runner(core, driven, commands, connector).1.run().await;
}

impl<D: Driven> Runner<D> {
    /// Runs the loop until the state machine is finished, then closes its
    /// sockets.
    pub(crate) async fn run(mut self) {
        let shared = &*self.shared;
        let queued = &mut self.queued;
        let mut timer = pin!(tokio::time::sleep_until(tokio::time::Instant::now()));
        let mut state = loop {
            let (commands_open, timer_armed) = {
                let mut guard = shared.lock();
                let Some(state) = guard.as_mut() else {
                    return;
                };
                let now = Instant::now();
                if state.core.poll_timeout().is_some_and(|at| at <= now) {
                    state.core.handle_timeout(now);
                }
                state.flush(now);
                if state.driven.finished() {
                    // Taken out for the end, which waits on the sockets.
                    break guard.take();
                }
                if state.timer_late() {
                    let at = state.core.poll_timeout();
                    if let Some(at) = at {
                        timer.as_mut().reset(tokio::time::Instant::from_std(at));
                    }
                    state.armed = at;
                }
                (state.commands_open, state.armed.is_some())
            };
            tokio::select! {
                () = poll_fn(|cx| shared.poll_commands(cx)), if commands_open => {
                    // Tasks made ready with the command that woke the loop
                    // (a batch of handlers, say) run first and queue their
                    // own behind it, so their results go out together: one
                    // write per connection instead of one per result.
                    tokio::task::yield_now().await;
                    shared.apply_queued();
                }
                event = queued.recv() => {
                    // The state holds a sender itself, so the queue never closes.
                    if let Some(event) = event {
                        handle_queued(shared, queued, event);
                    }
                }
                () = &mut timer, if timer_armed => {
                    if let Some(state) = shared.lock().as_mut() {
                        state.armed = None;
                    }
                }
                () = shared.rearm.notified() => {}
            }
        };
        let Some(state) = state.as_mut() else {
            return;
        };
        state.io.pump(&mut state.core, Instant::now());
        state.io.close_all();
        // Let the writers flush and the peers close, so the last bytes (a
        // worker's final WORK_COMPLETE, say) are not lost when the caller exits.
        let sockets = &mut state.io.sockets;
        let _ = tokio::time::timeout(LINGER, async {
            while sockets.join_next().await.is_some() {}
        })
        .await;
    }
}

/// Feeds `first` and the events queued behind it (up to a budget) to the
/// core, each counted off its task's pending events once fed.
fn handle_queued<D: Driven>(shared: &Shared<D>, queue: &mut mpsc::Receiver<Queued>, first: Queued) {
    let mut guard = shared.lock();
    let Some(state) = guard.as_mut() else {
        return;
    };
    let now = Instant::now();
    let mut next = Some(first);
    for _ in 0..INPUT_QUEUE {
        let Some(Queued { event, pending }) = next else {
            break;
        };
        state.io.handle(&mut state.core, event, now);
        // Under the lock: the task feeds its next event only after this one.
        pending.fetch_sub(1, Ordering::AcqRel);
        next = queue.try_recv().ok();
    }
    if let Some(Queued { event, pending }) = next {
        state.io.handle(&mut state.core, event, now);
        pending.fetch_sub(1, Ordering::AcqRel);
    }
}
