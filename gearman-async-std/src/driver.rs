//! The one run loop every type in this crate is built on, as a plain
//! future: it owns a core state machine ([`Endpoint`]), the sockets it asks
//! for and one timer, moves bytes both ways and sleeps until the next
//! deadline. Everything happens inside [`Driver::poll`], with wakers
//! registered on async-io's reactor, so it spawns nothing and runs the same
//! on any executor (async-std, smol, `futures_lite::future::block_on`...).
//! No protocol knowledge lives here.

use std::future::Future;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use async_io::{Async, Timer};
use bytes::{Buf, Bytes, BytesMut};
use foldhash::{HashMap, HashSet};
use futures_io::{AsyncRead, AsyncWrite};
use futures_util::task::AtomicWaker;
use gearman_proto::endpoint::{Backlog, OutputBudget, OutputLimits};
use gearman_proto::endpoint::{Transport, drain_outputs};
use gearman_proto::{ConnId, ConnectError, Endpoint};

use crate::transport::{Connection, Connector, Inner, Stream};

/// Bytes asked for per read.
const READ_CHUNK: usize = 16 * 1024;
/// Reads per connection in one round, so one busy peer cannot starve the others.
const READS_PER_ROUND: usize = 4;
/// Rounds in one `poll` before yielding to the executor (then woken at once).
const ROUNDS_PER_POLL: usize = 32;
/// How long a closed connection keeps reading (and discarding) while the
/// peer takes in our last bytes and closes its side. Closing with unread
/// input would send a reset, which can make the peer drop what we wrote last.
const LINGER: Duration = Duration::from_secs(2);
/// The same when the whole driver ends (a stopped server, a finished
/// worker): its future completes within this, whatever the peers do, having
/// written what the peers' windows took in that time.
const FINAL_LINGER: Duration = Duration::from_millis(200);

/// A connect in progress, through the driver's [`Connector`].
type Connecting = Pin<Box<dyn Future<Output = Result<Connection, ConnectError>> + Send>>;

enum Socket {
    Connecting(Connecting),
    /// Plain TCP: read when the reactor says so, written from a client's
    /// task too.
    Tcp(Async<TcpStream>),
    /// Any other stream (TLS, a user's transport), through futures-io.
    Other(Box<dyn Stream>),
}

impl From<Connection> for Socket {
    fn from(connection: Connection) -> Socket {
        match connection.0 {
            Inner::Tcp(socket) => Socket::Tcp(socket),
            Inner::Other(stream) => Socket::Other(stream),
        }
    }
}

impl Socket {
    /// Writes queued output until it is all written or the stream would
    /// block; a stream other than TCP is flushed too (TLS may hold records
    /// back until then). Returns whether anything was written.
    fn write(
        &mut self,
        cx: &mut Context<'_>,
        output: &mut BytesMut,
        backlog: &Backlog,
        now: Instant,
    ) -> io::Result<bool> {
        match self {
            Socket::Connecting(_) => Ok(false),
            Socket::Tcp(socket) => flush(cx, socket, output, backlog, now),
            Socket::Other(stream) => {
                let wrote = flush(cx, stream, output, backlog, now)?;
                if let Poll::Ready(Err(err)) = Pin::new(stream).poll_flush(cx) {
                    return Err(err);
                }
                Ok(wrote)
            }
        }
    }

    /// Ends our side of the stream once everything is written, so the peer
    /// sees the end (a FIN, or TLS's close_notify then a FIN).
    fn poll_shut_down(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Socket::Connecting(_) => Poll::Ready(Ok(())),
            // The stream's `poll_close` only flushes.
            Socket::Tcp(socket) => Poll::Ready(socket.get_ref().shutdown(Shutdown::Write)),
            Socket::Other(stream) => Pin::new(stream).poll_close(cx),
        }
    }

    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        match self {
            Socket::Connecting(_) => Poll::Pending,
            Socket::Tcp(socket) => Pin::new(socket).poll_read(cx, buf),
            Socket::Other(stream) => Pin::new(stream).poll_read(cx, buf),
        }
    }
}

/// A connection being closed: flush, shut down our side, then drain input
/// until the peer closes or `deadline` passes.
struct Closing {
    deadline: Instant,
    shut_down: bool,
}

struct Conn {
    socket: Socket,
    output: BytesMut,
    /// The account of `output`, against the driver's limits.
    backlog: Backlog,
    closing: Option<Closing>,
    /// The socket may hold input that no wake-up announced: read it
    /// before asking the reactor (see [`read_available`]).
    maybe_readable: bool,
    /// Registered with this connection's socket, so that a wake-up names
    /// the connection and a round polls only the connections that moved.
    waker: Arc<ConnWaker>,
    as_waker: Waker,
}

/// What one connection did in a round.
#[derive(Default)]
struct Outcome {
    progressed: bool,
    lost: bool,
    /// Why it could not be opened, when that is how it was lost.
    connect_failed: Option<ConnectError>,
    /// It may have more to read: poll it again next round.
    more: bool,
}

/// The connections whose sockets woke up since the driver last looked, and
/// the task polling the driver.
struct Readiness {
    woken: Mutex<Vec<ConnId>>,
    /// One of the driver's own sources woke (a socket, its timer, a user's
    /// command...), or its state was changed from outside: the next poll
    /// has work. A poll without it (a join polling all of its futures, say)
    /// returns at once instead of costing a round.
    driver_woken: AtomicBool,
    driver: AtomicWaker,
}

impl Readiness {
    fn wake_driver(&self) {
        self.driver_woken.store(true, Ordering::Release);
        self.driver.wake();
    }
}

/// The waker the driver polls its sources with (other than its sockets,
/// which have a [`ConnWaker`] each).
impl Wake for Readiness {
    fn wake(self: Arc<Self>) {
        self.wake_driver();
    }

    // Without it, each wake by reference would clone the `Arc` first.
    fn wake_by_ref(self: &Arc<Self>) {
        self.wake_driver();
    }
}

/// The waker of one connection: records it as woken, then wakes the driver.
struct ConnWaker {
    conn: ConnId,
    /// Already in [`Readiness::woken`]; keeps the list as short as the
    /// number of connections, however often a socket wakes.
    listed: AtomicBool,
    readiness: Arc<Readiness>,
}

impl Wake for ConnWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.listed.swap(true, Ordering::AcqRel) {
            // A poisoned lock only means a panic elsewhere; the list is still sound.
            let mut woken = self
                .readiness
                .woken
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            woken.push(self.conn);
        }
        self.readiness.wake_driver();
    }
}

/// The sockets of one state machine, keyed by the core's connection ids.
/// A round polls only the connections that were woken, are new, got
/// output or are due to give up lingering, so an event costs the same with
/// ten connections or ten thousand.
pub(crate) struct Sockets {
    conns: HashMap<ConnId, Conn>,
    readiness: Arc<Readiness>,
    /// Wakes the driver through `readiness`.
    driver_waker: Waker,
    /// Connections to poll next round whether woken or not.
    due: Vec<ConnId>,
    /// Connections being closed, for their lingering deadlines.
    closing: HashSet<ConnId>,
    /// Connections that may have output waiting, for their stall deadlines.
    writing: HashSet<ConnId>,
    budget: OutputBudget,
    read_buf: Box<[u8]>,
    /// Opens the connections the core asks for.
    connector: Arc<dyn Connector>,
}

impl Sockets {
    fn new(limits: OutputLimits, connector: Arc<dyn Connector>) -> Sockets {
        let readiness = Arc::new(Readiness {
            woken: Mutex::default(),
            // The first poll starts the driver.
            driver_woken: AtomicBool::new(true),
            driver: AtomicWaker::new(),
        });
        Sockets {
            conns: HashMap::default(),
            driver_waker: Waker::from(readiness.clone()),
            readiness,
            due: Vec::new(),
            closing: HashSet::default(),
            writing: HashSet::default(),
            budget: OutputBudget::new(limits),
            read_buf: vec![0; READ_CHUNK].into_boxed_slice(),
            connector,
        }
    }

    fn insert(&mut self, conn: ConnId, socket: Socket) {
        let waker = Arc::new(ConnWaker {
            conn,
            listed: AtomicBool::new(false),
            readiness: self.readiness.clone(),
        });
        let as_waker = Waker::from(waker.clone());
        self.conns.insert(
            conn,
            Conn {
                socket,
                output: BytesMut::new(),
                backlog: self.budget.backlog(),
                closing: None,
                maybe_readable: true,
                waker,
                as_waker,
            },
        );
        self.due.push(conn);
    }

    /// Drops `conn` at once: its output (and its account) and its socket.
    fn remove(&mut self, conn: ConnId) {
        self.conns.remove(&conn);
        self.closing.remove(&conn);
        self.writing.remove(&conn);
    }

    /// Starts moving bytes on an accepted connection for `conn`.
    pub(crate) fn attach(&mut self, conn: ConnId, connection: Connection) {
        if let Inner::Tcp(socket) = &connection.0 {
            if let Err(err) = socket.get_ref().set_nodelay(true) {
                tracing::debug!(%conn, %err, "could not set TCP_NODELAY");
            }
        }
        self.insert(conn, Socket::from(connection));
    }

    fn connect(&mut self, conn: ConnId, addr: String) {
        let opening = self.connector.connect(&addr);
        let connecting = async move { opening.await.map_err(|err| ConnectError::new(addr, err)) };
        self.insert(conn, Socket::Connecting(Box::pin(connecting)));
    }

    /// Queues bytes for `conn`; returns false when the connection must be
    /// dropped because its peer does not read.
    fn send(&mut self, conn: ConnId, data: &[u8]) -> bool {
        match self.conns.get_mut(&conn) {
            Some(c) if c.closing.is_none() => {
                if let Err(overflow) = c.backlog.queue(data.len(), Instant::now()) {
                    tracing::warn!(%conn, %overflow, "dropping the connection");
                    return false;
                }
                if c.output.is_empty() {
                    self.due.push(conn);
                    self.writing.insert(conn);
                }
                c.output.extend_from_slice(data);
            }
            _ => tracing::trace!(%conn, "output for a closed connection dropped"),
        }
        true
    }

    /// Closes `conn` after flushing what was queued, lingering at most
    /// `linger` for the peer to close too; reports nothing back.
    fn close(&mut self, conn: ConnId, now: Instant, linger: Duration) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        match (&c.socket, &mut c.closing) {
            (Socket::Connecting(_), _) => self.remove(conn),
            (_, Some(closing)) => {
                closing.deadline = closing.deadline.min(now + linger);
            }
            (_, None) => {
                c.closing = Some(Closing {
                    deadline: now + linger,
                    shut_down: false,
                });
                self.closing.insert(conn);
                self.due.push(conn);
            }
        }
    }

    /// Closes every connection as the driver ends: flushed, but lingering
    /// only briefly, so that stopping does not wait on slow peers.
    fn close_all(&mut self, now: Instant) {
        let conns: Vec<ConnId> = self.conns.keys().copied().collect();
        for conn in conns {
            self.close(conn, now, FINAL_LINGER);
        }
    }

    /// The earliest instant a closing connection gives up lingering or a
    /// connection's output stalls.
    fn next_deadline(&self) -> Option<Instant> {
        let lingering = self
            .closing
            .iter()
            .filter_map(|conn| self.conns.get(conn)?.closing.as_ref())
            .map(|closing| closing.deadline);
        let stalling = self
            .writing
            .iter()
            .filter_map(|conn| self.conns.get(conn))
            // A connect in progress has its own timeout in the core.
            .filter(|c| !matches!(c.socket, Socket::Connecting(_)))
            .filter_map(|c| c.backlog.stall_deadline());
        lingering.chain(stalling).min()
    }

    /// Connects, writes and reads on every connection that may have
    /// something to do, until each would block, feeding what happens to
    /// `core`.
    fn poll_io<E: Endpoint>(&mut self, core: &mut E, now: Instant) -> bool {
        let mut batch = std::mem::take(&mut self.due);
        batch.append(
            &mut self
                .readiness
                .woken
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
        if self.next_deadline().is_some_and(|at| at <= now) {
            batch.extend(self.closing.iter().copied());
            batch.extend(self.writing.iter().copied());
        }
        batch.sort_unstable();
        batch.dedup();
        let mut progressed = false;
        for conn in batch {
            let Some(c) = self.conns.get_mut(&conn) else {
                continue; // closed since it woke
            };
            // Cleared before polling, so a wake-up during the poll lists it again.
            c.waker.listed.store(false, Ordering::Release);
            let waker = c.as_waker.clone();
            let mut cx = Context::from_waker(&waker);
            let (outcome, done) = if c.closing.is_some() {
                poll_closing(&mut cx, conn, c, &mut self.read_buf, now)
            } else {
                let outcome = poll_open(&mut cx, conn, c, &mut self.read_buf, core, now);
                (outcome, false)
            };
            progressed |= outcome.progressed;
            if outcome.more {
                self.due.push(conn);
            }
            if c.output.is_empty() {
                self.writing.remove(&conn);
            }
            if done {
                self.remove(conn);
            } else if outcome.lost {
                self.remove(conn);
                match outcome.connect_failed {
                    Some(err) => core.handle_connect_failed(conn, err, now),
                    None => core.handle_disconnected(conn, now),
                }
                progressed = true;
            }
        }
        progressed
    }

    /// Writes the queued output of every connection due a round, from
    /// outside the driver's task (so without a waker: a socket that would
    /// block is left to the driver). Returns whether nothing is left that
    /// needs the driver: no connect in progress, no output unwritten.
    fn write_due_directly(&mut self) -> bool {
        let mut done = true;
        for conn in &self.due {
            let Some(c) = self.conns.get_mut(conn) else {
                continue;
            };
            // Another stream is left to the driver: it may need flushing,
            // which needs the driver's waker.
            let (Socket::Tcp(socket), None) = (&c.socket, &c.closing) else {
                done = false;
                continue;
            };
            while !c.output.is_empty() {
                match (&mut socket.get_ref()).write(&c.output) {
                    Ok(n) if n > 0 => {
                        c.output.advance(n);
                        c.backlog.wrote(n, Instant::now());
                    }
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                    // Would block, or failed: the driver waits or reports it.
                    _ => {
                        done = false;
                        break;
                    }
                }
            }
        }
        done
    }

    /// Drains every transmit and action the core has, in order. Returns
    /// whether there were any.
    fn pump<E: Endpoint>(&mut self, core: &mut E, now: Instant) -> bool {
        drain_outputs(core, self, now)
    }
}

impl Transport for Sockets {
    fn send(&mut self, conn: ConnId, data: Bytes) -> bool {
        let sent = Sockets::send(self, conn, &data);
        if !sent {
            self.remove(conn);
        }
        sent
    }

    fn connect(&mut self, conn: ConnId, addr: String) -> Result<(), ConnectError> {
        // A failure shows when the connecting socket is polled.
        Sockets::connect(self, conn, addr);
        Ok(())
    }

    fn close(&mut self, conn: ConnId, now: Instant) {
        Sockets::close(self, conn, now, LINGER);
    }
}

/// One round on a connection the core uses: finish connecting, write, read.
fn poll_open<E: Endpoint>(
    cx: &mut Context<'_>,
    conn: ConnId,
    c: &mut Conn,
    read_buf: &mut [u8],
    core: &mut E,
    now: Instant,
) -> Outcome {
    let mut outcome = Outcome::default();
    if let Socket::Connecting(connecting) = &mut c.socket {
        match connecting.as_mut().poll(cx) {
            Poll::Pending => return outcome,
            Poll::Ready(Ok(connection)) => {
                tracing::debug!(%conn, "connected");
                c.socket = Socket::from(connection);
                core.handle_connected(conn, now);
                outcome.progressed = true;
                // Registration bytes are pumped in before the next round
                // writes; that round also starts reading.
                outcome.more = true;
                return outcome;
            }
            Poll::Ready(Err(err)) => {
                tracing::warn!(%conn, addr = err.addr(), err = %err.io_error(), "connect failed");
                outcome.lost = true;
                outcome.connect_failed = Some(err);
                return outcome;
            }
        }
    }
    if c.backlog.stalled(now) {
        tracing::warn!(%conn, "the peer took no output for the write stall timeout; dropping the connection");
        outcome.lost = true;
        return outcome;
    }
    match c.socket.write(cx, &mut c.output, &c.backlog, now) {
        Ok(wrote) => outcome.progressed |= wrote,
        Err(err) => {
            tracing::warn!(%conn, %err, "write failed");
            outcome.lost = true;
            return outcome;
        }
    }
    let input = |input: &[u8]| core.handle_input(conn, input, now);
    let read = match &mut c.socket {
        Socket::Connecting(_) => return outcome,
        Socket::Tcp(socket) => read_available(cx, socket, &mut c.maybe_readable, read_buf, input),
        Socket::Other(stream) => read_stream(cx, stream, read_buf, input),
    };
    match read {
        Ok(read) => {
            outcome.progressed |= read.progressed;
            outcome.more = read.more;
            if read.closed {
                tracing::debug!(%conn, "closed by peer");
                outcome.lost = true;
            }
        }
        Err(err) => {
            tracing::warn!(%conn, %err, "read failed");
            outcome.lost = true;
        }
    }
    outcome
}

/// What one read pass on a connection found.
#[derive(Default)]
struct ReadPass {
    progressed: bool,
    /// The peer closed its side.
    closed: bool,
    /// Stopped at the limit with input possibly left: read again next round.
    more: bool,
}

/// Reads what the socket holds, at most [`READS_PER_ROUND`] times, handing
/// each chunk to `input`.
///
/// Costs one `recv` per chunk and nothing more: readiness is asked of the
/// reactor before reading (a wake-up it delivered says there is input), and
/// a read that does not fill the buffer is taken to have drained the socket,
/// so interest is registered again without a `recv` that would only say
/// "would block". That is safe because the reactor's registration is level
/// triggered: input left behind, or arriving meanwhile, is reported at once.
/// `maybe_readable` carries over between rounds that the socket may still
/// hold input without a wake-up saying so (a full buffer, the round's limit).
fn read_available(
    cx: &mut Context<'_>,
    socket: &Async<TcpStream>,
    maybe_readable: &mut bool,
    read_buf: &mut [u8],
    mut input: impl FnMut(&[u8]),
) -> io::Result<ReadPass> {
    let mut read = ReadPass::default();
    let mut reads = 0;
    loop {
        if !*maybe_readable {
            match socket.poll_readable(cx) {
                Poll::Pending => return Ok(read),
                Poll::Ready(result) => result?,
            }
            *maybe_readable = true;
        }
        if reads == READS_PER_ROUND {
            read.more = true;
            return Ok(read);
        }
        reads += 1;
        match (&mut socket.get_ref()).read(read_buf) {
            Ok(0) => {
                read.closed = true;
                return Ok(read);
            }
            Ok(n) => {
                read.progressed = true;
                input(&read_buf[..n]);
                *maybe_readable = n == read_buf.len();
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => *maybe_readable = false,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
}

/// Reads what a stream other than TCP holds, at most [`READS_PER_ROUND`]
/// times, handing each chunk to `input`. Such a stream (TLS) may hold input
/// the socket no longer shows, so it is read until it would block.
fn read_stream(
    cx: &mut Context<'_>,
    stream: &mut Box<dyn Stream>,
    read_buf: &mut [u8],
    mut input: impl FnMut(&[u8]),
) -> io::Result<ReadPass> {
    let mut read = ReadPass::default();
    for _ in 0..READS_PER_ROUND {
        match Pin::new(&mut *stream).poll_read(cx, read_buf) {
            Poll::Pending => return Ok(read),
            Poll::Ready(Ok(0)) => {
                read.closed = true;
                return Ok(read);
            }
            Poll::Ready(Ok(n)) => {
                read.progressed = true;
                input(&read_buf[..n]);
            }
            Poll::Ready(Err(err)) if err.kind() == io::ErrorKind::Interrupted => {}
            Poll::Ready(Err(err)) => return Err(err),
        }
    }
    read.more = true;
    Ok(read)
}

/// One round on a connection being closed; the bool says it is done with.
fn poll_closing(
    cx: &mut Context<'_>,
    conn: ConnId,
    c: &mut Conn,
    read_buf: &mut [u8],
    now: Instant,
) -> (Outcome, bool) {
    let mut outcome = Outcome::default();
    let (socket, Some(closing)) = (&mut c.socket, &mut c.closing) else {
        return (outcome, true);
    };
    if matches!(socket, Socket::Connecting(_)) {
        return (outcome, true);
    }
    if now >= closing.deadline || c.backlog.stalled(now) {
        tracing::debug!(%conn, "peer did not close in time; dropping the connection");
        return (outcome, true);
    }
    match socket.write(cx, &mut c.output, &c.backlog, now) {
        Ok(wrote) => outcome.progressed |= wrote,
        Err(_) => return (outcome, true),
    }
    if !c.output.is_empty() {
        return (outcome, false);
    }
    if !closing.shut_down {
        // Everything is written: end our side so the peer sees the end.
        match socket.poll_shut_down(cx) {
            Poll::Pending => return (outcome, false),
            Poll::Ready(Err(_)) => return (outcome, true),
            Poll::Ready(Ok(())) => {}
        }
        closing.shut_down = true;
        outcome.progressed = true;
    }
    // Discard input until the peer closes its side too.
    for _ in 0..READS_PER_ROUND {
        match socket.poll_read(cx, read_buf) {
            Poll::Pending => return (outcome, false),
            Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => return (outcome, true),
            Poll::Ready(Ok(_)) => outcome.progressed = true,
        }
    }
    outcome.more = true;
    (outcome, false)
}

/// Writes queued output until it is all written or the socket would block.
fn flush(
    cx: &mut Context<'_>,
    socket: &mut (impl AsyncWrite + Unpin),
    output: &mut BytesMut,
    backlog: &Backlog,
    now: Instant,
) -> io::Result<bool> {
    let mut wrote = false;
    while !output.is_empty() {
        match Pin::new(&mut *socket).poll_write(cx, output) {
            Poll::Pending => break,
            Poll::Ready(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()),
            Poll::Ready(Ok(n)) => {
                output.advance(n);
                backlog.wrote(n, now);
                wrote = true;
            }
            Poll::Ready(Err(err)) if err.kind() == io::ErrorKind::Interrupted => {}
            Poll::Ready(Err(err)) => return Err(err),
        }
    }
    Ok(wrote)
}

/// Resolves `addr` (`host:port`): numeric addresses at once, names on
/// async-io's companion thread pool so the executor never blocks.
pub(crate) async fn resolve(addr: &str) -> io::Result<Vec<SocketAddr>> {
    if let Ok(addr) = addr.parse::<SocketAddr>() {
        return Ok(vec![addr]);
    }
    let name = addr.to_owned();
    blocking::unblock(move || name.to_socket_addrs().map(Iterator::collect)).await
}

/// Opens a TCP connection to `addr`, trying each resolved address in turn.
pub(crate) async fn connect(addr: String) -> io::Result<Async<TcpStream>> {
    let mut last_error = None;
    for candidate in resolve(&addr).await? {
        match Async::<TcpStream>::connect(candidate).await {
            Ok(socket) => return Ok(socket),
            Err(err) => last_error = Some(err),
        }
    }
    Err(last_error.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("{addr} resolves to no address"),
        )
    }))
}

/// A state machine together with the glue between it and its users.
pub(crate) trait Driven {
    /// The core state machine.
    type Core: Endpoint + Unpin;

    /// Takes what users sent (commands, finished handlers, accepted
    /// sockets) into `core`, registering wakers for more. Returns whether
    /// anything was taken.
    fn poll_input(
        &mut self,
        core: &mut Self::Core,
        cx: &mut Context<'_>,
        now: Instant,
        sockets: &mut Sockets,
    ) -> bool;
    /// Hands the core's events to whoever waits for them. Called after
    /// every input, before the loop sleeps.
    fn deliver(&mut self, core: &mut Self::Core, now: Instant);
    /// Whether the loop is done (it still flushes and closes its sockets).
    fn finished(&self) -> bool;
}

/// Runs a [`Driven`] state machine until it is finished, then flushes and
/// closes its sockets.
pub(crate) struct Driver<D: Driven> {
    /// The core state machine, fed and drained by the driver.
    core: D::Core,
    driven: D,
    sockets: Sockets,
    timer: Timer,
    timer_at: Option<Instant>,
    closing_since: Option<Instant>,
}

impl<D: Driven> Driver<D> {
    /// Drives `core` with its glue `driven`, opening the connections it
    /// asks for with `connector`.
    pub(crate) fn new(core: D::Core, driven: D, connector: Arc<dyn Connector>) -> Driver<D> {
        let limits = core.output_limits();
        Driver {
            core,
            driven,
            sockets: Sockets::new(limits, connector),
            timer: Timer::never(),
            timer_at: None,
            closing_since: None,
        }
    }

    /// The core and its glue, to change: the next poll takes a round.
    pub(crate) fn parts_mut(&mut self) -> (&mut D::Core, &mut D) {
        self.sockets
            .readiness
            .driver_woken
            .store(true, Ordering::Release);
        (&mut self.core, &mut self.driven)
    }

    /// The core and its glue, to look at.
    pub(crate) fn parts(&self) -> (&D::Core, &D) {
        (&self.core, &self.driven)
    }

    /// Lets a user's task act on the state machine (a client submitting)
    /// and writes what that queued at once, in that task, when the socket
    /// takes it: the driver's task is neither woken nor waited for. It is
    /// woken only for what is left to it: a connect, output the socket did
    /// not take, a deadline earlier than its timer.
    pub(crate) fn act_directly(&mut self, act: impl FnOnce(&mut D::Core, &mut D, Instant)) {
        let now = Instant::now();
        act(&mut self.core, &mut self.driven, now);
        self.sockets.pump(&mut self.core, now);
        self.driven.deliver(&mut self.core, now);
        self.sockets.pump(&mut self.core, now);
        let written = self.sockets.write_due_directly();
        let timer_armed = match (self.core.poll_timeout(), self.timer_at) {
            (None, _) => true,
            (Some(at), Some(armed)) => armed <= at,
            (Some(_), None) => false,
        };
        // A finished state machine (a client's close) ends at the driver's next poll.
        if !written || !timer_armed || self.closing_since.is_some() || self.driven.finished() {
            self.sockets.readiness.wake_driver();
        }
    }

    /// Arms the timer for `at`; returns true if the timer fired.
    ///
    /// Re-arming costs a message to async-io's reactor, and deadlines move
    /// on with nearly every request, so an armed timer is kept while it is
    /// no later than `at`: firing early only costs one idle round (the core
    /// takes early timeouts in its stride), after which it is armed anew.
    fn poll_timer(&mut self, cx: &mut Context<'_>, at: Option<Instant>) -> bool {
        let armed = match (self.timer_at, at) {
            (_, None) => self.timer_at.is_some(),
            (Some(armed), Some(at)) if armed <= at => true,
            (_, Some(at)) => {
                self.timer.set_at(at);
                self.timer_at = Some(at);
                true
            }
        };
        if armed && Pin::new(&mut self.timer).poll(cx).is_ready() {
            self.timer_at = None;
            return true;
        }
        false
    }

    /// One pass over every source; returns whether anything moved.
    fn round(&mut self, cx: &mut Context<'_>) -> bool {
        let now = Instant::now();
        let mut progressed = false;
        if self.closing_since.is_none() {
            progressed |= self
                .driven
                .poll_input(&mut self.core, cx, now, &mut self.sockets);
        }
        progressed |= self.sockets.poll_io(&mut self.core, now);
        if self.core.poll_timeout().is_some_and(|at| at <= now) {
            self.core.handle_timeout(now);
            progressed = true;
        }
        progressed |= self.sockets.pump(&mut self.core, now);
        self.driven.deliver(&mut self.core, now);
        // Delivering may have queued more output (e.g. a refused result).
        progressed |= self.sockets.pump(&mut self.core, now);
        progressed
    }
}

impl<D: Driven + Unpin> Future for Driver<D> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let readiness = &this.sockets.readiness;
        readiness.driver.register(cx.waker());
        if !readiness.driver_woken.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        // Every source is polled with the driver's own waker, so that the
        // next poll knows whether it has work.
        let waker = this.sockets.driver_waker.clone();
        let cx = &mut Context::from_waker(&waker);
        for _ in 0..ROUNDS_PER_POLL {
            let progressed = this.round(cx);
            if this.closing_since.is_none() && this.driven.finished() {
                // Last bytes (results, a final reply) still go out.
                let now = Instant::now();
                this.closing_since = Some(now);
                this.sockets.close_all(now);
                continue;
            }
            if this.closing_since.is_some() && this.sockets.conns.is_empty() {
                return Poll::Ready(());
            }
            if progressed {
                continue;
            }
            let core_deadline = if this.closing_since.is_some() {
                None
            } else {
                this.core.poll_timeout()
            };
            let next = match (core_deadline, this.sockets.next_deadline()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            if !this.poll_timer(cx, next) {
                return Poll::Pending;
            }
        }
        // Busy: let other tasks run, and come back at once.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::time::Duration;

    use futures_lite::future;

    use super::*;

    /// Reads `conn` the way a driver round does, across rounds, until
    /// `total` bytes came or the peer closed; panics if that takes long,
    /// which is what a lost wake-up looks like.
    fn read_until(
        socket: &Async<TcpStream>,
        maybe_readable: &mut bool,
        total: &mut usize,
        want: usize,
    ) -> bool {
        let mut buf = vec![0; READ_CHUNK];
        let mut closed = false;
        let reading = std::future::poll_fn(|cx| {
            loop {
                let pass = read_available(cx, socket, maybe_readable, &mut buf, |input| {
                    *total += input.len();
                })
                .expect("read failed");
                closed |= pass.closed;
                if closed || *total >= want {
                    return Poll::Ready(());
                }
                if !pass.more {
                    return Poll::Pending;
                }
            }
        });
        // Polled first, so that it wins once due, whatever a late poll
        // of the reader would find.
        let timed_out = async {
            Timer::after(Duration::from_secs(10)).await;
            panic!("no wake-up before {want} bytes were read");
        };
        future::block_on(future::or(timed_out, reading));
        closed
    }

    /// Writes `pieces` to `peer` from another thread, 50 ms apart, each
    /// piece after the reader has had time to drain the last one and ask
    /// the reactor.
    fn write_later(peer: &TcpStream, pieces: &[usize]) -> std::thread::JoinHandle<()> {
        let mut peer = peer.try_clone().unwrap();
        let pieces = pieces.to_vec();
        std::thread::spawn(move || {
            for piece in pieces {
                std::thread::sleep(Duration::from_millis(50));
                peer.write_all(&vec![7; piece]).unwrap();
            }
        })
    }

    /// Counts the driver's rounds.
    #[derive(Default)]
    struct Rounds(usize);

    impl Driven for Rounds {
        type Core = gearman_proto::server::Server;

        fn poll_input(
            &mut self,
            _core: &mut Self::Core,
            _cx: &mut Context<'_>,
            _now: Instant,
            _sockets: &mut Sockets,
        ) -> bool {
            self.0 += 1;
            false
        }

        fn deliver(&mut self, _core: &mut Self::Core, _now: Instant) {}

        fn finished(&self) -> bool {
            false
        }
    }

    // A join polls all of its futures whenever one of them woke: the
    // driver answers a poll that none of its own sources asked for at once,
    // and takes a round for a wake-up of its own or a change from outside.
    #[test]
    fn only_a_wake_up_of_its_own_or_a_change_costs_a_round() {
        use crate::counting_waker::CountingWaker;
        use gearman_proto::server::{Server, ServerConfig};

        let core = Server::new(ServerConfig::default());
        let connector = Arc::new(crate::transport::TcpConnector);
        let mut driver = Driver::new(core, Rounds::default(), connector);
        let (task_wakes, task) = CountingWaker::new();
        let poll =
            |driver: &mut Driver<Rounds>| Pin::new(driver).poll(&mut Context::from_waker(&task));
        assert!(poll(&mut driver).is_pending());
        let rounds = |driver: &Driver<Rounds>| driver.parts().1.0;
        let started = rounds(&driver);
        assert!(started >= 1, "the first poll starts the driver");

        assert!(poll(&mut driver).is_pending());
        assert_eq!(rounds(&driver), started, "nothing woke the driver");

        driver.sockets.driver_waker.wake_by_ref();
        assert_eq!(task_wakes.count(), 1, "a source's wake-up reaches the task");
        assert!(poll(&mut driver).is_pending());
        assert!(rounds(&driver) > started);

        let woken = rounds(&driver);
        driver.parts_mut();
        assert!(poll(&mut driver).is_pending());
        assert!(
            rounds(&driver) > woken,
            "a change from outside takes a round"
        );
    }

    #[test]
    fn reads_never_miss_input_after_a_full_or_a_short_read() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let peer = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let socket = Async::new(listener.accept().unwrap().0).unwrap();
        let mut maybe_readable = true;
        let mut total = 0;
        let mut want = 0;
        // Exactly a buffer-full, then more; a short read, then more; more
        // than one round reads.
        let phases: [&[usize]; 3] = [&[READ_CHUNK, 100], &[10, 10], &[5 * READ_CHUNK + 7]];
        for pieces in phases {
            let writer = write_later(&peer, pieces);
            want += pieces.iter().sum::<usize>();
            assert!(!read_until(&socket, &mut maybe_readable, &mut total, want));
            writer.join().unwrap();
            assert_eq!(total, want);
        }
        // The peer's close is seen too.
        drop(peer);
        assert!(read_until(
            &socket,
            &mut maybe_readable,
            &mut total,
            usize::MAX
        ));
        assert_eq!(total, want);
    }
}
