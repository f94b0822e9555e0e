//! What every state machine shares with the code that drives it: the
//! [`Endpoint`] run-loop contract that adapters are written against,
//! connection and server ids, bytes to send, connection actions, the
//! [`Transport`] an embedder implements over its sockets, the limits on
//! output held for slow peers, and the forms a server address comes in.
//!
//! # Output limits
//!
//! How much output a driver may hold for peers that do not take it, and the
//! accounting every adapter's socket writer keeps to enforce it.
//!
//! The limits are part of each role's configuration
//! ([`ServerConfig`](crate::server::ServerConfig),
//! [`ClientConfig`](crate::client::ClientConfig),
//! [`WorkerConfig`](crate::worker::WorkerConfig)) and reach the driver
//! through [`Endpoint::output_limits`]. A
//! driver keeps one [`OutputBudget`] and one [`Backlog`] per connection, and
//! drops the connection (its queued bytes freed, its socket shut down without
//! waiting for the peer) when:
//!
//! * [`Backlog::queue`] refuses more bytes: the connection's own output
//!   would exceed [`OutputLimits::max_pending_output`], or the output of all
//!   connections together would exceed
//!   [`OutputLimits::max_total_pending_output`]; in the second case the
//!   connection whose output would cross the limit is the one dropped, the
//!   others keep theirs;
//! * [`Backlog::stall_deadline`] passes: output was waiting and the peer took
//!   none of it for [`OutputLimits::write_stall_timeout`].
//!
//! Nothing here does I/O or reads a clock; the counts are atomic so that a
//! writer thread or task can report progress while the driver queues more.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

mod connector;
mod glue;
mod output;
mod server_addr;

pub use connector::refuse_tls;
pub use glue::Glue;
pub use output::{
    Backlog, DEFAULT_MAX_PENDING_OUTPUT, DEFAULT_MAX_TOTAL_PENDING_OUTPUT,
    DEFAULT_WRITE_STALL_TIMEOUT, OutputBudget, OutputLimits, Overflow, SendFailed, WRITE_BATCH,
    coalesce,
};
pub use server_addr::IntoServerAddr;

/// A small id the state machine gives each connection. Ids are never reused
/// by one state machine, so a late event for a closed connection is harmless.
/// They are only unique within that state machine: two machines in one loop
/// may both use `ConnId(0)` (see [the run loop](crate#the-run-loop)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn#{}", self.0)
    }
}

/// Index of a server in the configured list (`ClientConfig::servers`).
///
/// A job handle is only unique on the server that issued it, so handles are
/// always kept together with the `ServerId` they came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerId(pub usize);

impl fmt::Display for ServerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "server#{}", self.0)
    }
}

/// Why a connection to a server could not be opened: the address and the
/// socket error. Cheap to clone (the error is shared), so every job that
/// ends because of it can carry it; the error is its
/// [`source`](std::error::Error::source).
#[derive(Debug, Clone)]
pub struct ConnectError {
    addr: String,
    cause: Arc<io::Error>,
}

impl ConnectError {
    /// The failure to connect to `addr` (as configured).
    pub fn new(addr: impl Into<String>, cause: io::Error) -> ConnectError {
        ConnectError {
            addr: addr.into(),
            cause: Arc::new(cause),
        }
    }

    /// The address as configured.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The socket error.
    pub fn io_error(&self) -> &io::Error {
        &self.cause
    }
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "connection to {} failed", self.addr)
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.cause)
    }
}

/// Equal when the address, the error kind and the error text are (an
/// `io::Error` has no equality of its own).
impl PartialEq for ConnectError {
    fn eq(&self, other: &ConnectError) -> bool {
        self.addr == other.addr
            && self.cause.kind() == other.cause.kind()
            && self.cause.to_string() == other.cause.to_string()
    }
}

impl Eq for ConnectError {}

/// Bytes the state machine wants written to a connection, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The connection to write to.
    pub conn: ConnId,
    /// The bytes, to be written whole before the next [`Transmit`] for the same connection.
    pub data: Bytes,
}

/// A connection the state machine wants opened or closed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnAction {
    /// Open a connection to `addr` (`host:port`, as configured) and report
    /// the outcome with [`Endpoint::handle_connected`], or with
    /// [`Endpoint::handle_connect_failed`] (or
    /// [`Endpoint::handle_disconnected`]) for this `conn`.
    Connect {
        /// Id the state machine uses for this connection from now on.
        conn: ConnId,
        /// Address as the user configured it.
        addr: String,
    },
    /// Write everything already handed out for `conn` (the state machine
    /// never hands out a `Close` before those bytes), then close the socket;
    /// no further input is expected for it, so shutting down both directions
    /// is fine. Report nothing back.
    Close {
        /// The connection to close.
        conn: ConnId,
    },
}

/// The run-loop contract shared by the client, worker and server state
/// machines, so one driver per runtime can move bytes for any of them. The
/// loop and its drain order are described once, at
/// [the crate root](crate#the-run-loop); each role adds its own `poll_event`.
pub trait Endpoint {
    /// A connection asked for by [`ConnAction::Connect`] is established.
    fn handle_connected(&mut self, conn: ConnId, now: Instant);
    /// Bytes read from `conn`.
    fn handle_input(&mut self, conn: ConnId, data: &[u8], now: Instant);
    /// `conn` closed, failed, or could not be opened.
    fn handle_disconnected(&mut self, conn: ConnId, now: Instant);
    /// `conn` could not be opened, for the reason given; the state machine
    /// keeps the cause for what ends because of it. By default this is
    /// [`handle_disconnected`](Endpoint::handle_disconnected).
    fn handle_connect_failed(&mut self, conn: ConnId, error: ConnectError, now: Instant) {
        let _ = error;
        self.handle_disconnected(conn, now);
    }
    /// Time has reached `now`; harmless when called early or twice.
    fn handle_timeout(&mut self, now: Instant);
    /// The next connection to open or close.
    fn poll_action(&mut self) -> Option<ConnAction>;
    /// The next bytes to write.
    fn poll_transmit(&mut self) -> Option<Transmit>;
    /// The earliest instant at which [`handle_timeout`](Endpoint::handle_timeout) must be called.
    fn poll_timeout(&self) -> Option<Instant>;
    /// How much output the driver may hold for this state machine's peers
    /// (see [output limits](crate::endpoint#output-limits)), from its configuration.
    fn output_limits(&self) -> OutputLimits {
        OutputLimits::default()
    }
}

/// The sockets side of a driver, its transport: what [`drain_outputs`] does with the state
/// machine's transmits and actions. Each adapter implements it over its own
/// runtime's sockets.
pub trait Transport {
    /// Queues `data` for `conn`, after everything queued before it. Returns
    /// false when the connection cannot take it (its peer stopped reading, or
    /// it failed) and has been dropped without flushing; the state machine is
    /// then told the connection is gone.
    fn send(&mut self, conn: ConnId, data: Bytes) -> bool;
    /// Starts opening `conn` to `addr` (see [`ConnAction::Connect`]).
    /// Returns the cause when that failed at once (an address that does not
    /// parse, say); the state machine is then told with
    /// [`Endpoint::handle_connect_failed`]. A failure found later is
    /// reported the same way by the driver.
    fn connect(&mut self, conn: ConnId, addr: String) -> Result<(), ConnectError>;
    /// Flushes what was queued for `conn`, then closes it (see [`ConnAction::Close`]).
    fn close(&mut self, conn: ConnId, now: Instant);
}

/// Hands every pending transmit and connection action of `core` to
/// `transport`, until the state machine has nothing more; returns whether
/// there was anything. This is step 2 of [the run loop](crate#the-run-loop)
/// but for the events, in its order: transmits first each round, then actions.
/// A send the transport refuses is reported to `core` as a disconnect, a
/// connect it refuses as a failed connect with its cause.
///
/// ```
/// use std::time::Instant;
/// use gearman_proto::bytes::Bytes;
/// use gearman_proto::endpoint::{ConnId, ConnectError, Transport, drain_outputs};
/// use gearman_proto::server::{Server, ServerConfig};
///
/// #[derive(Default)]
/// struct Recorded(Vec<(ConnId, Bytes)>);
/// impl Transport for Recorded {
///     fn send(&mut self, conn: ConnId, data: Bytes) -> bool {
///         self.0.push((conn, data));
///         true
///     }
///     fn connect(&mut self, _: ConnId, _: String) -> Result<(), ConnectError> {
///         Ok(())
///     }
///     fn close(&mut self, _: ConnId, _: Instant) {}
/// }
///
/// let now = Instant::now();
/// let mut server = Server::new(ServerConfig::new("example"));
/// let conn = server.accept("127.0.0.1:5000", now);
/// server.handle_input(conn, b"\0REQ\0\0\0\x10\0\0\0\x02hi", now); // ECHO_REQ "hi"
/// let mut transport = Recorded::default();
/// assert!(drain_outputs(&mut server, &mut transport, now));
/// assert_eq!(transport.0, vec![(conn, Bytes::from_static(b"\0RES\0\0\0\x11\0\0\0\x02hi"))]);
/// assert!(!drain_outputs(&mut server, &mut transport, now));
/// ```
pub fn drain_outputs<E: Endpoint + ?Sized, S: Transport + ?Sized>(
    core: &mut E,
    transport: &mut S,
    now: Instant,
) -> bool {
    let mut any = false;
    loop {
        let mut progressed = false;
        while let Some(transmit) = core.poll_transmit() {
            progressed = true;
            if !transport.send(transmit.conn, transmit.data) {
                core.handle_disconnected(transmit.conn, now);
            }
        }
        while let Some(action) = core.poll_action() {
            progressed = true;
            match action {
                ConnAction::Connect { conn, addr } => {
                    if let Err(error) = transport.connect(conn, addr) {
                        core.handle_connect_failed(conn, error, now);
                    }
                }
                ConnAction::Close { conn } => transport.close(conn, now),
            }
        }
        if !progressed {
            return any;
        }
        any = true;
    }
}
