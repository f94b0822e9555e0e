//! What every state machine shares with the code that drives it: connection
//! ids, bytes to send, connection actions, and the [`Endpoint`] run-loop
//! contract that adapters are written against.

use std::fmt;
use std::time::Instant;

use bytes::Bytes;

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
}
