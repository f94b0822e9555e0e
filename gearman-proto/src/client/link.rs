//! The client's state for one server: whether a connection is open, and on
//! an open one what was sent and still awaits a reply.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::{Bytes, BytesMut};

use super::listeners::Listeners;
use super::request::{JobId, RequestId};
use crate::backoff::Backoff;
use crate::endpoint::{ConnId, ConnectError};
use crate::fast_map::FastMap;
use crate::packet::Command;
use crate::packet::Decoder;
use crate::time::FrameClock;

/// One configured server.
#[derive(Debug)]
pub(crate) struct Link {
    /// `host:port` as configured.
    pub(crate) addr: String,
    pub(crate) state: LinkState,
    pub(crate) backoff: Backoff,
    /// Why the last connection attempt failed, until one succeeds.
    pub(crate) last_failure: Option<ConnectError>,
}

/// A first connection is opened lazily, when a request is routed to the
/// server; after a failure the client reconnects by itself once the backoff
/// delay has passed, and routes to the server again only once the new
/// connection has answered a probe.
#[derive(Debug)]
pub(crate) enum LinkState {
    /// No connection; one is opened for the next request.
    Idle,
    /// The last connection failed; the server is down and a reconnect is due
    /// at `until`.
    Down { until: Instant },
    /// A connection asked for or established.
    Open(Box<Conn>),
}

impl Link {
    pub(crate) fn new(addr: String, backoff: Backoff) -> Link {
        Link {
            addr,
            state: LinkState::Idle,
            backoff,
            last_failure: None,
        }
    }

    /// Whether requests may be routed here.
    pub(crate) fn is_up(&self) -> bool {
        match &self.state {
            // Never tried: presumed up, and the policy's choice must not
            // depend on timing. Requests wait on a first connect for at
            // most the connect timeout.
            LinkState::Idle => true,
            // Only the reconnect timer opens a connection to a server that
            // failed, and only its answer to the probe proves the server
            // back: a frozen server still completes TCP handshakes.
            LinkState::Down { .. } => false,
            LinkState::Open(conn) => conn.verified || !conn.reconnect,
        }
    }

    /// Whether a connection here has proven the server up (see
    /// [`Conn::verified`]).
    pub(crate) fn is_verified(&self) -> bool {
        self.conn().is_some_and(|conn| conn.verified)
    }

    pub(crate) fn conn(&self) -> Option<&Conn> {
        match &self.state {
            LinkState::Open(conn) => Some(conn),
            _ => None,
        }
    }

    pub(crate) fn conn_mut(&mut self) -> Option<&mut Conn> {
        match &mut self.state {
            LinkState::Open(conn) => Some(conn),
            _ => None,
        }
    }
}

/// Whether `OPTION_REQ exceptions` is in force on a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExceptionsOption {
    NotSent,
    Requested,
    Accepted,
    /// Refused with an ERROR, or dropped without a reply.
    Refused,
}

/// One connection to a server.
#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) id: ConnId,
    /// Whether the driver reported the connection established.
    pub(crate) connected: bool,
    /// When the connection was asked for (for the connect timeout).
    pub(crate) opened_at: Instant,
    /// Opened by the reconnect timer rather than for a request: the server
    /// counts as down until it has answered the probe sent on it.
    pub(crate) reconnect: bool,
    /// Whether requests may be routed here: a first connection once
    /// established, a reconnection once its probe is answered. Until then
    /// the connect timeout runs.
    pub(crate) verified: bool,
    pub(crate) decoder: Decoder,
    pub(crate) read_buf: BytesMut,
    /// When the packet held part-way in `read_buf` began.
    pub(crate) frame: FrameClock,
    /// Bytes not yet handed to the driver; held back until connected.
    pub(crate) out: BytesMut,
    /// Requests sent (or queued to send) that await a reply, oldest first:
    /// replies without a handle answer the oldest.
    pub(crate) fifo: VecDeque<Pending>,
    /// Foreground jobs acknowledged on this connection, by handle.
    pub(crate) listeners: FastMap<Bytes, Listeners>,
    pub(crate) exceptions: ExceptionsOption,
}

impl Conn {
    pub(crate) fn new(id: ConnId, now: Instant, max_packet_size: u32, reconnect: bool) -> Conn {
        Conn {
            id,
            connected: false,
            opened_at: now,
            reconnect,
            verified: false,
            decoder: Decoder::new().with_max_packet_size(max_packet_size),
            read_buf: BytesMut::new(),
            frame: FrameClock::default(),
            out: BytesMut::new(),
            fifo: VecDeque::new(),
            listeners: FastMap::default(),
            exceptions: ExceptionsOption::NotSent,
        }
    }
}

/// A request awaiting its reply.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pending {
    pub(crate) kind: PendingKind,
    /// When the request times out, if a request timeout is configured.
    pub(crate) deadline: Option<Instant>,
}

/// What a pending request was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PendingKind {
    /// A submit; the job may have ended on our side since (forgotten, deadline),
    /// in which case its reply is dropped.
    Submit {
        job: JobId,
        foreground: bool,
    },
    Status(RequestId),
    StatusUnique(RequestId),
    Echo(RequestId),
    /// A packet sent with `Client::send_raw`: any reply answers it.
    Raw(RequestId),
    Exceptions,
    /// The ECHO_REQ that a reconnection must answer before it is used.
    Probe,
}

impl PendingKind {
    /// The caller's request id, for everything but submits and options.
    pub(crate) fn request(self) -> Option<RequestId> {
        match self {
            PendingKind::Status(request)
            | PendingKind::StatusUnique(request)
            | PendingKind::Echo(request)
            | PendingKind::Raw(request) => Some(request),
            PendingKind::Submit { .. } | PendingKind::Exceptions | PendingKind::Probe => None,
        }
    }

    /// Whether a reply of type `command` can answer this request.
    pub(crate) fn answered_by(self, command: Command) -> bool {
        match self {
            _ if command == Command::Error => true,
            PendingKind::Raw(_) => true,
            PendingKind::Submit { .. } => command == Command::JobCreated,
            PendingKind::Status(_) => command == Command::StatusRes,
            PendingKind::StatusUnique(_) => command == Command::StatusResUnique,
            PendingKind::Echo(_) | PendingKind::Probe => command == Command::EchoRes,
            PendingKind::Exceptions => command == Command::OptionRes,
        }
    }
}
