//! What every state machine shares with the code that drives it: connection
//! ids, bytes to send, connection actions, and the [`Endpoint`] run-loop
//! contract that adapters are written against.

use std::fmt;
use std::time::Instant;

use bytes::Bytes;

use crate::outbound::OutputLimits;

/// A small id the state machine gives each connection. Ids are never reused
/// by one state machine, so a late event for a closed connection is harmless.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn#{}", self.0)
    }
}

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
    /// the outcome with [`Endpoint::handle_connected`] or
    /// [`Endpoint::handle_disconnected`] for this `conn`.
    Connect {
        /// Id the state machine uses for this connection from now on.
        conn: ConnId,
        /// Address as the user configured it.
        addr: String,
    },
    /// Flush what was already handed out for `conn`, then close it; no
    /// further input is expected for it. Report nothing back.
    Close {
        /// The connection to close.
        conn: ConnId,
    },
}

/// The run-loop contract shared by the client, worker and server state
/// machines, so one driver per runtime can move bytes for any of them.
///
/// A driver feeds every input (`handle_*`), then drains
/// [`poll_action`](Endpoint::poll_action) and
/// [`poll_transmit`](Endpoint::poll_transmit) until both return `None`, then
/// waits for socket readiness, a user command, or the instant returned by
/// [`poll_timeout`](Endpoint::poll_timeout), whichever comes first.
pub trait Endpoint {
    /// A connection asked for by [`ConnAction::Connect`] is established.
    fn handle_connected(&mut self, conn: ConnId, now: Instant);
    /// Bytes read from `conn`.
    fn handle_input(&mut self, conn: ConnId, data: &[u8], now: Instant);
    /// `conn` closed, failed, or could not be opened.
    fn handle_disconnected(&mut self, conn: ConnId, now: Instant);
    /// Time has reached `now`; harmless when called early or twice.
    fn handle_timeout(&mut self, now: Instant);
    /// The next connection to open or close.
    fn poll_action(&mut self) -> Option<ConnAction>;
    /// The next bytes to write.
    fn poll_transmit(&mut self) -> Option<Transmit>;
    /// The earliest instant at which [`handle_timeout`](Endpoint::handle_timeout) must be called.
    fn poll_timeout(&self) -> Option<Instant>;
    /// How much output the driver may hold for this state machine's peers
    /// (see [`outbound`](crate::outbound)), from its configuration.
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
    fn connect(&mut self, conn: ConnId, addr: String);
    /// Flushes what was queued for `conn`, then closes it (see [`ConnAction::Close`]).
    fn close(&mut self, conn: ConnId, now: Instant);
}

/// Hands every pending transmit and connection action of `core` to
/// `transport`, until the state machine has nothing more; returns whether
/// there was anything. Transmits go first each round, because a
/// [`ConnAction::Close`] means "after what was already handed out".
///
/// ```
/// use std::time::Instant;
/// use bytes::Bytes;
/// use gearman_proto::conn::{ConnId, Transport, drain_outputs};
/// use gearman_proto::server::{Server, ServerConfig};
///
/// #[derive(Default)]
/// struct Recorded(Vec<(ConnId, Bytes)>);
/// impl Transport for Recorded {
///     fn send(&mut self, conn: ConnId, data: Bytes) -> bool {
///         self.0.push((conn, data));
///         true
///     }
///     fn connect(&mut self, _: ConnId, _: String) {}
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
                ConnAction::Connect { conn, addr } => transport.connect(conn, addr),
                ConnAction::Close { conn } => transport.close(conn, now),
            }
        }
        if !progressed {
            return any;
        }
        any = true;
    }
}
