//! The one run loop every type in this crate is built on: a thread that owns
//! a core state machine ([`Endpoint`]), opens and closes the sockets it asks
//! for, and waits on one channel for socket input, user commands or the
//! core's next deadline. Each socket has a reader thread feeding that loop;
//! the loop writes itself while the peer keeps up and leaves the rest to the
//! socket's writer thread when it does not. No protocol knowledge lives here.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender};
use std::thread;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use gearman_proto::conn::{Transport, drain_outputs};
use gearman_proto::{ConnId, Endpoint};

/// Bytes asked for per read.
const READ_CHUNK: usize = 16 * 1024;
/// Inputs waiting for the run loop; when full, readers stop reading, so a
/// fast peer is slowed by TCP instead of filling memory.
const INPUT_QUEUE: usize = 256;
/// Largest batch the writer assembles from queued transmits before writing.
const WRITE_BATCH: usize = 64 * 1024;
/// How long a connection closed on our side keeps reading (and discarding)
/// while the peer takes in our last bytes and closes its side. Closing with
/// unread input would send a reset, which can make the peer drop what we
/// wrote last.
const LINGER: Duration = Duration::from_secs(2);
/// Output queued for one peer that is not reading it; past this the
/// connection is dropped rather than buffering without bound.
const MAX_PENDING_OUTPUT: usize = 64 * 1024 * 1024;
/// How long one write may wait for the peer to take bytes. The run loop
/// writes directly while a connection has nothing queued (saving a thread
/// hop per message) and hands the rest to the connection's writer thread
/// when the kernel buffer is full, so a peer that does not read stalls the
/// loop at most this long per message.
const WRITE_WAIT: Duration = Duration::from_millis(20);
/// Longest a connect attempt blocks its thread; the core has its own
/// (usually shorter) connect timeout and forgets the attempt when it passes.
const CONNECT_LIMIT: Duration = Duration::from_secs(60);

/// What reaches the run loop: socket events and user commands, on one channel.
pub(crate) enum Input<C> {
    /// A connect asked for by the core succeeded.
    Connected(ConnId, TcpStream),
    /// Bytes read from a connection.
    Bytes(ConnId, Bytes),
    /// A connection closed, failed, or could not be opened.
    Lost(ConnId),
    /// A user command.
    Command(C),
    /// The last user handle is gone.
    HandlesDropped,
}

/// The sending side of a run loop's channel, for user handles. When the last
/// clone of the `Arc` holding it is dropped, the loop is told.
pub(crate) struct Handle<C: Send + 'static> {
    sender: SyncSender<Input<C>>,
}

impl<C: Send + 'static> Handle<C> {
    /// Sends a command; false when the loop has ended.
    pub(crate) fn send(&self, command: C) -> bool {
        self.sender.send(Input::Command(command)).is_ok()
    }
}

impl<C: Send + 'static> Drop for Handle<C> {
    fn drop(&mut self) {
        let _ = self.sender.send(Input::HandlesDropped);
    }
}

/// The channel a run loop waits on.
pub(crate) fn channel<C: Send + 'static>() -> (SyncSender<Input<C>>, Receiver<Input<C>>) {
    mpsc::sync_channel(INPUT_QUEUE)
}

/// A user handle on the loop fed by `sender`.
pub(crate) fn handle<C: Send + 'static>(sender: SyncSender<Input<C>>) -> Arc<Handle<C>> {
    Arc::new(Handle { sender })
}

enum ConnState {
    /// A thread is connecting; bytes for it wait here.
    Connecting { queued: Vec<Bytes> },
    Open {
        /// Our handle on the socket, to shut it down.
        stream: TcpStream,
        output: Sender<Bytes>,
        pending: Arc<AtomicUsize>,
    },
}

/// The sockets of one state machine, keyed by the core's connection ids.
pub(crate) struct Io<C: Send + 'static> {
    sender: SyncSender<Input<C>>,
    conns: HashMap<ConnId, ConnState>,
    /// Connections that failed on this thread (no thread could be started
    /// for them), to report to the core at the next pump. Sending them
    /// through the bounded channel could block the loop on itself.
    failed: Vec<ConnId>,
}

impl<C: Send + 'static> Io<C> {
    fn new(sender: SyncSender<Input<C>>) -> Io<C> {
        Io {
            sender,
            conns: HashMap::new(),
            failed: Vec::new(),
        }
    }

    /// Starts moving bytes on an established socket for `conn`.
    pub(crate) fn attach(&mut self, conn: ConnId, stream: TcpStream) {
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(%conn, %err, "could not set TCP_NODELAY");
        }
        if let Err(err) = stream.set_write_timeout(Some(WRITE_WAIT)) {
            tracing::debug!(%conn, %err, "could not set a write timeout");
        }
        let (reader, writer) = match (stream.try_clone(), stream.try_clone()) {
            (Ok(reader), Ok(writer)) => (reader, writer),
            (Err(err), _) | (_, Err(err)) => {
                tracing::warn!(%conn, %err, "could not share the socket between threads");
                self.failed.push(conn);
                return;
            }
        };
        let (output, output_rx) = mpsc::channel();
        let pending = Arc::new(AtomicUsize::new(0));
        let events = self.sender.clone();
        let spawned = thread::Builder::new()
            .name(format!("gearman-read-{}", conn.0))
            .spawn(move || read_loop(conn, reader, events))
            .and_then(|_| {
                let events = self.sender.clone();
                let pending = pending.clone();
                thread::Builder::new()
                    .name(format!("gearman-write-{}", conn.0))
                    .spawn(move || write_loop(conn, writer, output_rx, pending, events))
            });
        if let Err(err) = spawned {
            tracing::warn!(%conn, %err, "could not start socket threads");
            let _ = stream.shutdown(Shutdown::Both);
            self.failed.push(conn);
            return;
        }
        let queued = match self.conns.insert(
            conn,
            ConnState::Open {
                stream,
                output,
                pending,
            },
        ) {
            Some(ConnState::Connecting { queued }) => queued,
            _ => Vec::new(),
        };
        for data in queued {
            self.send(conn, data);
        }
    }

    fn connect(&mut self, conn: ConnId, addr: String) {
        let events = self.sender.clone();
        let spawned = thread::Builder::new()
            .name(format!("gearman-connect-{}", conn.0))
            .spawn(move || {
                let event = match connect(&addr) {
                    Ok(stream) => {
                        tracing::debug!(%conn, %addr, "connected");
                        Input::Connected(conn, stream)
                    }
                    Err(err) => {
                        tracing::warn!(%conn, %addr, %err, "connect failed");
                        Input::Lost(conn)
                    }
                };
                let _ = events.send(event);
            });
        match spawned {
            Ok(_) => {
                self.conns
                    .insert(conn, ConnState::Connecting { queued: Vec::new() });
            }
            Err(err) => {
                tracing::warn!(%conn, %err, "could not start a connect thread");
                self.failed.push(conn);
            }
        }
    }

    /// Writes or queues bytes for `conn`; returns false when the connection
    /// must be dropped (its peer does not read, or the write failed).
    fn send(&mut self, conn: ConnId, mut data: Bytes) -> bool {
        match self.conns.get_mut(&conn) {
            Some(ConnState::Open {
                stream,
                output,
                pending,
            }) => {
                // Nothing queued means the writer thread is idle: writing
                // here keeps the order and saves waking it.
                if pending.load(Ordering::Acquire) == 0 {
                    match write_some(stream, &data) {
                        Ok(written) if written == data.len() => return true,
                        Ok(written) => data = data.slice(written..),
                        Err(err) => {
                            tracing::debug!(%conn, %err, "write failed");
                            return false;
                        }
                    }
                }
                let len = data.len();
                if pending.fetch_add(len, Ordering::AcqRel) + len > MAX_PENDING_OUTPUT {
                    tracing::warn!(%conn, "peer is not reading; dropping the connection");
                    return false;
                }
                // A send error means the writer already failed; its Lost
                // event is on the way.
                let _ = output.send(data);
            }
            Some(ConnState::Connecting { queued }) => queued.push(data),
            None => tracing::trace!(%conn, "output for a closed connection dropped"),
        }
        true
    }

    /// Closes `conn` after flushing what was queued; reports nothing back.
    fn close(&mut self, conn: ConnId) {
        if let Some(ConnState::Open { stream, .. }) = self.conns.remove(&conn) {
            // Dropping the output sender lets the writer flush and shut down
            // its side; the reader then drains until the peer closes, for
            // at most LINGER.
            let _ = stream.set_read_timeout(Some(LINGER));
        }
        // A connect still under way finds no entry when it reports and is
        // dropped then.
    }

    /// Closes `conn` at once, unsent output included (the peer stops
    /// reading, or the whole loop is going away).
    fn abort(&mut self, conn: ConnId) {
        if let Some(ConnState::Open { stream, .. }) = self.conns.remove(&conn) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    /// Reports connections that failed on this thread, then drains every
    /// action and transmit the core has, in order.
    fn pump<E: Endpoint>(&mut self, core: &mut E, now: Instant) {
        loop {
            let failed = std::mem::take(&mut self.failed);
            for &conn in &failed {
                self.conns.remove(&conn);
                core.handle_disconnected(conn, now);
            }
            if !drain_outputs(core, self, now) && failed.is_empty() {
                return;
            }
        }
    }

    /// Feeds one socket event to the core; hands anything else back.
    fn handle<E: Endpoint>(
        &mut self,
        core: &mut E,
        input: Input<C>,
        now: Instant,
    ) -> Option<Input<C>> {
        match input {
            Input::Connected(conn, stream) => {
                if matches!(self.conns.get(&conn), Some(ConnState::Connecting { .. })) {
                    self.attach(conn, stream);
                    core.handle_connected(conn, now);
                }
            }
            Input::Bytes(conn, data) => {
                if matches!(self.conns.get(&conn), Some(ConnState::Open { .. })) {
                    core.handle_input(conn, &data, now);
                }
            }
            Input::Lost(conn) => {
                if self.conns.contains_key(&conn) {
                    self.abort(conn);
                    core.handle_disconnected(conn, now);
                }
            }
            other => return Some(other),
        }
        None
    }

    /// Closes every connection, flushing what was queued.
    fn close_all(&mut self) {
        let conns: Vec<ConnId> = self.conns.keys().copied().collect();
        for conn in conns {
            self.close(conn);
        }
    }
}

impl<C: Send + 'static> Transport for Io<C> {
    fn send(&mut self, conn: ConnId, data: Bytes) -> bool {
        let sent = Io::send(self, conn, data);
        if !sent {
            self.abort(conn);
        }
        sent
    }

    fn connect(&mut self, conn: ConnId, addr: String) {
        Io::connect(self, conn, addr);
    }

    fn close(&mut self, conn: ConnId, _now: Instant) {
        Io::close(self, conn);
    }
}

/// Connects to the first address `addr` resolves to that accepts.
fn connect(addr: &str) -> std::io::Result<TcpStream> {
    let mut last = None;
    for resolved in addr.to_socket_addrs()? {
        match TcpStream::connect_timeout(&resolved, CONNECT_LIMIT) {
            Ok(stream) => return Ok(stream),
            Err(err) => last = Some(err),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::new(ErrorKind::NotFound, "no address resolved")))
}

/// Writes as much of `data` as the peer takes before [`WRITE_WAIT`] passes
/// without progress; returns how much that was.
fn write_some(mut socket: &TcpStream, data: &[u8]) -> std::io::Result<usize> {
    let mut written = 0;
    while written < data.len() {
        match socket.write(&data[written..]) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => written += n,
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
            Err(err) => return Err(err),
        }
    }
    Ok(written)
}

/// Writes all of `data`, however long the peer takes (until the socket is
/// shut down).
fn write_fully(socket: &TcpStream, mut data: &[u8]) -> std::io::Result<()> {
    while !data.is_empty() {
        let written = write_some(socket, data)?;
        data = &data[written..];
    }
    Ok(())
}

fn read_loop<C: Send + 'static>(conn: ConnId, mut socket: TcpStream, events: SyncSender<Input<C>>) {
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    loop {
        buf.resize(READ_CHUNK, 0);
        match socket.read(&mut buf) {
            Ok(0) => {
                tracing::debug!(%conn, "closed by peer");
                let _ = events.send(Input::Lost(conn));
                return;
            }
            Ok(n) => {
                buf.truncate(n);
                if events
                    .send(Input::Bytes(conn, buf.split().freeze()))
                    .is_err()
                {
                    return;
                }
            }
            // Only a connection we closed has a read timeout: its linger is over.
            Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return;
            }
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(err) => {
                tracing::debug!(%conn, %err, "read failed");
                let _ = events.send(Input::Lost(conn));
                return;
            }
        }
    }
}

fn write_loop<C: Send + 'static>(
    conn: ConnId,
    socket: TcpStream,
    output: Receiver<Bytes>,
    pending: Arc<AtomicUsize>,
    events: SyncSender<Input<C>>,
) {
    let mut batch = BytesMut::new();
    while let Ok(first) = output.recv() {
        // Everything already queued goes out in one write.
        let result = match output.try_recv() {
            Err(_) => write_fully(&socket, &first).map(|()| first.len()),
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
                write_fully(&socket, &batch).map(|()| batch.len())
            }
        };
        match result {
            Ok(written) => {
                pending.fetch_sub(written, Ordering::AcqRel);
            }
            Err(err) => {
                tracing::debug!(%conn, %err, "write failed");
                let _ = events.send(Input::Lost(conn));
                return;
            }
        }
    }
    // The run loop closed the connection: everything queued is written.
    let _ = socket.shutdown(Shutdown::Write);
}

/// A state machine together with the glue between it and its users.
pub(crate) trait Driven {
    /// The core state machine.
    type Core: Endpoint;
    /// What users send to the run loop.
    type Command: Send + 'static;

    /// The core, for the loop to feed and drain.
    fn core(&mut self) -> &mut Self::Core;
    /// Applies one user command; `io` lets it hand over an accepted socket.
    fn command(&mut self, command: Self::Command, now: Instant, io: &mut Io<Self::Command>);
    /// Every user handle is gone.
    fn handles_dropped(&mut self, now: Instant) {
        let _ = now;
    }
    /// Hands the core's events to whoever waits for them. Called after every
    /// input, before the loop sleeps.
    fn deliver(&mut self, now: Instant);
    /// Whether the loop is done.
    fn finished(&self) -> bool;
}

/// Runs `driven` on the current thread until it is finished, then closes its
/// sockets.
pub(crate) fn run<D: Driven>(
    mut driven: D,
    sender: SyncSender<Input<D::Command>>,
    inputs: Receiver<Input<D::Command>>,
) {
    let mut io = Io::new(sender);
    loop {
        let now = Instant::now();
        io.pump(driven.core(), now);
        driven.deliver(now);
        // Delivering may have queued more output (a handler's reply, say).
        io.pump(driven.core(), now);
        if driven.finished() {
            break;
        }
        let deadline = driven.core().poll_timeout();
        let received = match deadline {
            Some(at) => inputs.recv_timeout(at.saturating_duration_since(Instant::now())),
            None => inputs.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match received {
            Ok(input) => {
                let now = Instant::now();
                let mut next = Some(input);
                let mut budget = INPUT_QUEUE;
                // Take what else is queued before flushing, so writes batch.
                while let Some(input) = next {
                    match io.handle(driven.core(), input, now) {
                        Some(Input::Command(command)) => driven.command(command, now, &mut io),
                        Some(Input::HandlesDropped) => driven.handles_dropped(now),
                        _ => {}
                    }
                    budget -= 1;
                    next = if budget == 0 {
                        None
                    } else {
                        inputs.try_recv().ok()
                    };
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            // The loop holds a sender itself, so this cannot happen.
            Err(RecvTimeoutError::Disconnected) => break,
        }
        let now = Instant::now();
        if deadline.is_some_and(|at| at <= now) {
            driven.core().handle_timeout(now);
        }
    }
    io.pump(driven.core(), Instant::now());
    io.close_all();
}
