//! The sockets of one state machine: a thread per connect, and per
//! connection a reader thread and a writer thread that move bytes between
//! the socket and the machine. Both threads and the machine share the one
//! stream (for TCP, one file descriptor per connection; see
//! [`Stream`](crate::transport::Stream)).
//!
//! Writes go directly to the socket while the peer keeps up and to the
//! socket's writer thread when it does not, so output per connection keeps
//! its order, and a reader that has its input fed (or at most one chunk of
//! it waiting in the mailbox) before reading more leaves a fast peer slowed
//! by TCP rather than filling memory.

use std::io::ErrorKind;
use std::net::Shutdown;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Weak};
use std::thread;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use foldhash::HashMap;
use gearman_proto::endpoint::{Backlog, OutputBudget, OutputLimits};
use gearman_proto::endpoint::{Transport, coalesce, drain_outputs};
use gearman_proto::{ConnId, ConnectError, Endpoint};

use crate::transport::{Connection, Connector, Stream, TcpConnector};

/// Bytes asked for per read.
const READ_CHUNK: usize = 16 * 1024;
/// How long a connection closed on our side keeps reading (and discarding)
/// while the peer takes in our last bytes and closes its side. Closing with
/// unread input would send a reset, which can make the peer drop what we
/// wrote last.
const LINGER: Duration = Duration::from_secs(2);
/// How long one write may wait for the peer to take bytes. The driving
/// thread writes directly while a connection has nothing queued (saving a
/// thread hop per message) and hands the rest to the connection's writer
/// thread when the kernel buffer is full, so a peer that does not read holds
/// the machine at most this long per message.
const WRITE_WAIT: Duration = Duration::from_millis(20);
/// Longest a connect attempt blocks its thread: the core's connect timeout
/// (it forgets the attempt when that passes), but no longer than this.
const CONNECT_LIMIT: Duration = Duration::from_secs(60);

/// How the sockets of one machine open connections: with which connector,
/// and how long a connect (a TLS handshake included) may take.
#[derive(Clone)]
pub(crate) struct Dialer {
    pub(crate) connector: Arc<dyn Connector>,
    pub(crate) timeout: Duration,
}

impl Dialer {
    pub(crate) fn new(connector: Arc<dyn Connector>, timeout: Duration) -> Dialer {
        let timeout = timeout.clamp(Duration::from_millis(1), CONNECT_LIMIT);
        Dialer { connector, timeout }
    }

    /// Plain TCP, for a machine that only accepts (the server).
    pub(crate) fn tcp() -> Dialer {
        Dialer::new(Arc::new(TcpConnector), CONNECT_LIMIT)
    }
}

/// What socket threads report to the machine that owns their connection.
/// `serial` tells an attachment of a connection id from any earlier one
/// whose threads may still be lingering.
pub(super) trait Sink: Send + Sync {
    /// A connect asked for by the core succeeded.
    fn connected(&self, conn: ConnId, connection: Connection);
    /// Bytes read from a connection. `mailed` is the reader's own flag:
    /// set while bytes it left in the mailbox wait to be fed. Returns false
    /// when the machine has closed the connection (true while it cannot
    /// tell yet).
    fn input(&self, conn: ConnId, serial: u64, data: &[u8], mailed: &Arc<AtomicBool>) -> bool;
    /// A connection closed or failed.
    fn lost(&self, conn: ConnId, serial: Option<u64>);
    /// A connect asked for by the core failed.
    fn connect_failed(&self, conn: ConnId, error: ConnectError);
}

pub(super) enum ConnState {
    /// A thread is connecting; bytes for it wait here.
    Connecting { queued: Vec<Bytes> },
    Open {
        /// The stream, shared with its reader and writer threads.
        stream: Arc<dyn Stream>,
        output: Sender<Bytes>,
        /// Output handed to the writer thread and not yet written.
        backlog: Arc<Backlog>,
        serial: u64,
    },
}

/// The sockets of one state machine, keyed by the core's connection ids.
pub(crate) struct Io {
    sink: Weak<dyn Sink>,
    dialer: Dialer,
    pub(super) conns: HashMap<ConnId, ConnState>,
    /// Connections that failed on the driving thread (no thread could be
    /// started for them), to report to the core at the next pump.
    failed: Vec<ConnId>,
    next_serial: u64,
    /// What the writer threads may hold for the peers, per connection and in all.
    budget: OutputBudget,
}

impl Io {
    pub(super) fn new(sink: Weak<dyn Sink>, limits: OutputLimits, dialer: Dialer) -> Io {
        Io {
            sink,
            dialer,
            conns: HashMap::default(),
            failed: Vec::new(),
            next_serial: 0,
            budget: OutputBudget::new(limits),
        }
    }

    /// Whether bytes or a loss reported for `conn` concern its current
    /// state (and not one closed earlier): socket threads report with the
    /// serial of their attachment, a connect thread with none.
    pub(super) fn is_current(&self, conn: ConnId, reported: Option<u64>) -> bool {
        match self.conns.get(&conn) {
            Some(ConnState::Open { serial, .. }) => reported == Some(*serial),
            Some(ConnState::Connecting { .. }) => reported.is_none(),
            None => false,
        }
    }

    /// Starts moving bytes on an established connection for `conn`.
    pub(crate) fn attach(&mut self, conn: ConnId, connection: Connection) {
        // Shared rather than cloned: a clone would cost a descriptor each.
        let stream: Arc<dyn Stream> = Arc::from(connection.0);
        if let Err(err) = stream.set_write_timeout(Some(WRITE_WAIT)) {
            tracing::debug!(%conn, %err, "could not set a write timeout");
        }
        self.next_serial += 1;
        let serial = self.next_serial;
        let (output, output_rx) = mpsc::channel();
        let backlog = Arc::new(self.budget.backlog());
        let sink = self.sink.clone();
        let reader = stream.clone();
        let spawned = thread::Builder::new()
            .name(format!("gearman-read-{}", conn.0))
            .spawn(move || read_loop(conn, serial, &*reader, sink))
            .and_then(|_| {
                let sink = self.sink.clone();
                let backlog = backlog.clone();
                let writer = stream.clone();
                thread::Builder::new()
                    .name(format!("gearman-write-{}", conn.0))
                    .spawn(move || write_loop(conn, serial, &*writer, output_rx, &backlog, sink))
            });
        if let Err(err) = spawned {
            tracing::warn!(%conn, %err, "could not start socket threads");
            let _ = stream.shutdown(Shutdown::Both);
            self.conns.remove(&conn);
            self.failed.push(conn);
            return;
        }
        let queued = match self.conns.insert(
            conn,
            ConnState::Open {
                stream,
                output,
                backlog,
                serial,
            },
        ) {
            Some(ConnState::Connecting { queued }) => queued,
            _ => Vec::new(),
        };
        for data in queued {
            if !self.send(conn, data) {
                self.abort(conn);
                self.failed.push(conn);
                return;
            }
        }
    }

    fn connect(&mut self, conn: ConnId, addr: String) {
        let sink = self.sink.clone();
        let Dialer { connector, timeout } = self.dialer.clone();
        let spawned = thread::Builder::new()
            .name(format!("gearman-connect-{}", conn.0))
            .spawn(move || {
                let result = connector.connect(&addr, timeout);
                let Some(sink) = sink.upgrade() else { return };
                match result {
                    Ok(connection) => {
                        tracing::debug!(%conn, %addr, "connected");
                        sink.connected(conn, connection);
                    }
                    Err(err) => {
                        tracing::warn!(%conn, %addr, %err, "connect failed");
                        sink.connect_failed(conn, ConnectError::new(addr, err));
                    }
                }
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
    fn send(&mut self, conn: ConnId, data: Bytes) -> bool {
        match self.conns.get_mut(&conn) {
            Some(ConnState::Open {
                stream,
                output,
                backlog,
                ..
            }) => {
                // Written here while the writer thread is idle: that keeps
                // the order and saves waking it.
                match backlog
                    .write_or_queue(data, Instant::now(), |data| write_some(&**stream, data))
                {
                    Ok(None) => {}
                    // A send error means the writer already failed; its loss
                    // report is on the way.
                    Ok(Some(rest)) => {
                        let _ = output.send(rest);
                    }
                    Err(failed) => {
                        tracing::warn!(%conn, %failed, "dropping the connection");
                        return false;
                    }
                }
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
    /// reading, or it failed).
    pub(super) fn abort(&mut self, conn: ConnId) {
        if let Some(ConnState::Open {
            stream, backlog, ..
        }) = self.conns.remove(&conn)
        {
            // The writer thread's next write fails, and it exits, dropping
            // what is queued.
            let _ = stream.shutdown(Shutdown::Both);
            backlog.discard();
        }
    }

    /// Reports connections that failed on this thread, then drains every
    /// action and transmit the core has, in order; returns whether there
    /// was anything.
    pub(super) fn pump<E: Endpoint>(&mut self, core: &mut E, now: Instant) -> bool {
        let mut any = false;
        loop {
            let failed = std::mem::take(&mut self.failed);
            for &conn in &failed {
                self.conns.remove(&conn);
                core.handle_disconnected(conn, now);
            }
            if !drain_outputs(core, self, now) && failed.is_empty() {
                return any;
            }
            any = true;
        }
    }

    /// Closes every connection, flushing what was queued.
    pub(super) fn close_all(&mut self) {
        let conns: Vec<ConnId> = self.conns.keys().copied().collect();
        for conn in conns {
            self.close(conn);
        }
    }
}

impl Drop for Io {
    fn drop(&mut self) {
        // Only reached without close_all when a machine never ran: its
        // socket threads must not keep the sockets open.
        let conns: Vec<ConnId> = self.conns.keys().copied().collect();
        for conn in conns {
            self.abort(conn);
        }
    }
}

impl Transport for Io {
    fn send(&mut self, conn: ConnId, data: Bytes) -> bool {
        let sent = Io::send(self, conn, data);
        if !sent {
            self.abort(conn);
        }
        sent
    }

    fn connect(&mut self, conn: ConnId, addr: String) -> Result<(), ConnectError> {
        // A failure comes back through the `failed` list of `pump`.
        Io::connect(self, conn, addr);
        Ok(())
    }

    fn close(&mut self, conn: ConnId, _now: Instant) {
        Io::close(self, conn);
    }
}

/// Writes as much of `data` as the peer takes before [`WRITE_WAIT`] passes
/// without progress; returns how much that was.
fn write_some(socket: &dyn Stream, data: &[u8]) -> std::io::Result<usize> {
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

/// Writes all of `data`, counting progress in `backlog`; fails when the
/// peer takes nothing until the backlog's stall deadline (or the socket is
/// shut down).
fn write_fully(socket: &dyn Stream, mut data: &[u8], backlog: &Backlog) -> std::io::Result<()> {
    while !data.is_empty() {
        let written = write_some(socket, data)?;
        let now = Instant::now();
        if written > 0 {
            backlog.wrote(written, now);
        } else if backlog.stalled(now) {
            return Err(std::io::Error::new(
                ErrorKind::TimedOut,
                "the peer stopped taking output",
            ));
        }
        data = &data[written..];
    }
    Ok(())
}

/// Reads `socket` and feeds each chunk to the machine before reading more,
/// so the machine's pace is the peer's pace. After the machine closed the
/// connection the reads go on (and are discarded) until the linger ends:
/// a read that waits [`LINGER`], or reads for [`LINGER`] after the first
/// discarded chunk (a peer that keeps sending does not keep the thread).
fn read_loop(conn: ConnId, serial: u64, socket: &dyn Stream, sink: Weak<dyn Sink>) {
    let mut buf = vec![0u8; READ_CHUNK];
    let mailed = Arc::new(AtomicBool::new(false));
    let mut discarding_since: Option<Instant> = None;
    let lost = |sink: &Weak<dyn Sink>| {
        if let Some(sink) = sink.upgrade() {
            sink.lost(conn, Some(serial));
        }
    };
    loop {
        match socket.read(&mut buf) {
            Ok(0) => {
                tracing::debug!(%conn, "closed by peer");
                lost(&sink);
                return;
            }
            Ok(n) => {
                let wanted = discarding_since.is_none()
                    && sink
                        .upgrade()
                        .is_some_and(|sink| sink.input(conn, serial, &buf[..n], &mailed));
                if !wanted && discarding_since.get_or_insert_with(Instant::now).elapsed() >= LINGER
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
                lost(&sink);
                return;
            }
        }
    }
}

fn write_loop(
    conn: ConnId,
    serial: u64,
    socket: &dyn Stream,
    output: Receiver<Bytes>,
    backlog: &Backlog,
    sink: Weak<dyn Sink>,
) {
    let mut batch = BytesMut::new();
    while let Ok(first) = output.recv() {
        // Everything already queued goes out in one write.
        let data = coalesce(&first, || output.try_recv().ok(), &mut batch);
        let result = write_fully(socket, data, backlog);
        if let Err(err) = result {
            tracing::debug!(%conn, %err, "write failed; dropping the connection");
            // Freed now, not when the machine gets to the loss.
            drop(output);
            backlog.discard();
            if let Some(sink) = sink.upgrade() {
                sink.lost(conn, Some(serial));
            }
            return;
        }
    }
    // The machine closed the connection: everything queued is written.
    let _ = socket.shutdown(Shutdown::Write);
}
