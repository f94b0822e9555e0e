//! The one run loop every type in this crate is built on: a task that owns a
//! core state machine ([`Endpoint`]), opens and closes the sockets it asks
//! for, moves bytes both ways, sleeps until its next deadline, and takes user
//! commands from a channel. No protocol knowledge lives here.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use gearman_proto::conn::{Transport, drain_outputs};
use gearman_proto::{ConnId, Endpoint};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};

/// Bytes asked for per read.
const READ_CHUNK: usize = 16 * 1024;
/// Reads waiting for the run loop; when full, readers stop reading, so a fast
/// peer is slowed by TCP instead of filling memory.
const INPUT_QUEUE: usize = 256;
/// Largest batch the writer assembles from queued transmits before writing.
const WRITE_BATCH: usize = 64 * 1024;
/// How long a closed connection keeps reading (and discarding) while the
/// peer takes in our last bytes and closes its side. Closing with unread
/// input would send a reset, which can make the peer drop what we wrote last.
const LINGER: Duration = Duration::from_secs(2);
/// Output queued for one peer that is not reading it; past this the
/// connection is dropped rather than buffering without bound.
const MAX_PENDING_OUTPUT: usize = 64 * 1024 * 1024;

/// What the socket tasks tell the run loop.
pub(crate) enum IoEvent {
    Connected(ConnId, TcpStream),
    Input(ConnId, Bytes),
    /// Closed by the peer, failed, or could not be opened.
    Lost(ConnId),
}

enum ConnState {
    Connecting {
        task: JoinHandle<()>,
        queued: Vec<Bytes>,
    },
    Open {
        output: mpsc::UnboundedSender<Bytes>,
        pending: Arc<AtomicUsize>,
        /// Tells the reader to stop forwarding and only drain until the peer closes.
        closing: oneshot::Sender<()>,
    },
}

/// The sockets of one state machine, keyed by the core's connection ids.
pub(crate) struct Io {
    events_tx: mpsc::Sender<IoEvent>,
    events_rx: mpsc::Receiver<IoEvent>,
    conns: HashMap<ConnId, ConnState>,
    /// Socket tasks, awaited at the end so the last bytes are written.
    sockets: JoinSet<()>,
}

impl Io {
    fn new() -> Io {
        let (events_tx, events_rx) = mpsc::channel(INPUT_QUEUE);
        Io {
            events_tx,
            events_rx,
            conns: HashMap::new(),
            sockets: JoinSet::new(),
        }
    }

    /// Starts moving bytes on an established socket for `conn`.
    pub(crate) fn attach(&mut self, conn: ConnId, stream: TcpStream) {
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(%conn, %err, "could not set TCP_NODELAY");
        }
        let (read_half, write_half) = stream.into_split();
        let (output, output_rx) = mpsc::unbounded_channel();
        let pending = Arc::new(AtomicUsize::new(0));
        let (closing, closing_rx) = oneshot::channel();
        // Reap finished socket tasks so a long-lived server does not collect them.
        while self.sockets.try_join_next().is_some() {}
        self.sockets.spawn(read_loop(
            conn,
            read_half,
            self.events_tx.clone(),
            closing_rx,
        ));
        self.sockets.spawn(write_loop(
            conn,
            write_half,
            output_rx,
            pending.clone(),
            self.events_tx.clone(),
        ));
        let queued = match self.conns.insert(
            conn,
            ConnState::Open {
                output,
                pending,
                closing,
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
    fn connect(&mut self, conn: ConnId, addr: String) {
        let events = self.events_tx.clone();
        let task = tokio::spawn(async move {
            let event = match TcpStream::connect(&addr).await {
                Ok(stream) => {
                    tracing::debug!(%conn, %addr, "connected");
                    IoEvent::Connected(conn, stream)
                }
                Err(err) => {
                    tracing::warn!(%conn, %addr, %err, "connect failed");
                    IoEvent::Lost(conn)
                }
            };
            let _ = events.send(event).await;
        });
        self.conns.insert(
            conn,
            ConnState::Connecting {
                task,
                queued: Vec::new(),
            },
        );
    }

    /// Queues bytes for `conn`; drops the connection and returns false when
    /// its peer does not read.
    fn send(&mut self, conn: ConnId, data: Bytes) -> bool {
        match self.conns.get_mut(&conn) {
            Some(ConnState::Open {
                output, pending, ..
            }) => {
                let len = data.len();
                if pending.fetch_add(len, Ordering::AcqRel) + len > MAX_PENDING_OUTPUT {
                    tracing::warn!(%conn, "peer is not reading its replies; dropping the connection");
                    self.close(conn, Instant::now());
                    return false;
                }
                // A send error means the writer already failed; its Lost
                // event is on the way.
                let _ = output.send(data);
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

impl Drop for Io {
    /// A run loop that is dropped (its future cancelled) leaves no socket
    /// task behind: the connect tasks are aborted here, the socket tasks
    /// when `sockets` drops.
    fn drop(&mut self) {
        self.close_all();
    }
}

async fn read_loop(
    conn: ConnId,
    mut socket: OwnedReadHalf,
    events: mpsc::Sender<IoEvent>,
    mut closing: oneshot::Receiver<()>,
) {
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    loop {
        buf.reserve(READ_CHUNK);
        let read = tokio::select! {
            read = socket.read_buf(&mut buf) => read,
            _ = &mut closing => break,
        };
        match read {
            Ok(0) => {
                tracing::debug!(%conn, "closed by peer");
                let _ = events.send(IoEvent::Lost(conn)).await;
                return;
            }
            Ok(_) => {
                if events
                    .send(IoEvent::Input(conn, buf.split().freeze()))
                    .await
                    .is_err()
                {
                    break;
                }
            }
            Err(err) => {
                tracing::warn!(%conn, %err, "read failed");
                let _ = events.send(IoEvent::Lost(conn)).await;
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
    mut socket: OwnedWriteHalf,
    mut output: mpsc::UnboundedReceiver<Bytes>,
    pending: Arc<AtomicUsize>,
    events: mpsc::Sender<IoEvent>,
) {
    let mut batch = BytesMut::new();
    while let Some(first) = output.recv().await {
        // Everything already queued goes out in one write.
        let result = match output.try_recv() {
            Err(_) => socket.write_all(&first).await.map(|()| first.len()),
            Ok(second) => {
                batch.clear();
                batch.extend_from_slice(&first);
                batch.extend_from_slice(&second);
                while batch.len() < WRITE_BATCH {
                    match output.try_recv() {
                        Ok(more) => batch.extend_from_slice(&more),
                        Err(_) => break,
                    }
                }
                socket.write_all(&batch).await.map(|()| batch.len())
            }
        };
        match result {
            Ok(written) => {
                pending.fetch_sub(written, Ordering::AcqRel);
            }
            Err(err) => {
                tracing::warn!(%conn, %err, "write failed");
                let _ = events.send(IoEvent::Lost(conn)).await;
                return;
            }
        }
    }
    // The run loop closed the connection: everything queued is written.
    let _ = socket.shutdown().await;
}

/// A state machine together with the glue between it and its users.
pub(crate) trait Driven: Send + 'static {
    /// The core state machine.
    type Core: Endpoint + Send;
    /// What users send to the run loop.
    type Command: Send + 'static;

    /// The core, for the loop to feed and drain.
    fn core(&mut self) -> &mut Self::Core;
    /// Applies one user command; `io` lets it hand over an accepted socket.
    fn command(&mut self, command: Self::Command, now: Instant, io: &mut Io);
    /// Every command sender is gone.
    fn commands_closed(&mut self, now: Instant) {
        let _ = now;
    }
    /// Hands the core's events to whoever waits for them. Called after every
    /// input, before the loop sleeps.
    fn deliver(&mut self, now: Instant);
    /// Whether the loop is done.
    fn finished(&self) -> bool;
}

/// Runs `driven` until it is finished, then closes its sockets.
pub(crate) async fn run<D: Driven>(
    mut driven: D,
    mut commands: mpsc::UnboundedReceiver<D::Command>,
) {
    let mut io = Io::new();
    let mut commands_open = true;
    loop {
        let now = Instant::now();
        io.pump(driven.core(), now);
        driven.deliver(now);
        // Delivering may have queued more output (e.g. a handler's reply).
        io.pump(driven.core(), now);
        if driven.finished() {
            break;
        }
        let deadline = driven.core().poll_timeout();
        let sleep = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            command = commands.recv(), if commands_open => {
                let now = Instant::now();
                match command {
                    Some(command) => {
                        driven.command(command, now, &mut io);
                        // Take what else is queued before flushing, so writes batch.
                        while let Ok(command) = commands.try_recv() {
                            driven.command(command, now, &mut io);
                        }
                    }
                    None => {
                        commands_open = false;
                        driven.commands_closed(now);
                    }
                }
            }
            event = io.events_rx.recv() => {
                let now = Instant::now();
                // The loop holds a sender itself, so the channel never closes.
                if let Some(event) = event {
                    io.handle(driven.core(), event, now);
                    let mut budget = INPUT_QUEUE;
                    while budget > 0 {
                        match io.events_rx.try_recv() {
                            Ok(event) => io.handle(driven.core(), event, now),
                            Err(_) => break,
                        }
                        budget -= 1;
                    }
                }
            }
            () = sleep => {}
        }
        let now = Instant::now();
        if deadline.is_some_and(|at| at <= now) {
            driven.core().handle_timeout(now);
        }
    }
    io.pump(driven.core(), Instant::now());
    io.close_all();
    // Let the writers flush and the peers close, so the last bytes (a
    // worker's final WORK_COMPLETE, say) are not lost when the caller exits.
    let sockets = &mut io.sockets;
    let _ = tokio::time::timeout(LINGER, async {
        while sockets.join_next().await.is_some() {}
    })
    .await;
}
