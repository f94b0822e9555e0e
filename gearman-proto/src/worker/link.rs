//! One connection slot to a configured server: its connection's life (down, connecting, up) and,
//! while up, the grab cycle and the bytes in both directions.

use std::time::Instant;

use bytes::BytesMut;

use super::config::GrabMode;
use super::event::GrabState;
use crate::backoff::Backoff;
use crate::codec::Decoder;
use crate::conn::ConnId;
use crate::time::FrameClock;

/// One connection slot to a configured server and whatever connection it
/// has; a server has one slot per
/// [`connections_per_server`](super::WorkerConfig::connections_per_server).
#[derive(Debug)]
pub(super) struct Link {
    /// Index of the configured server, as events name it.
    pub(super) server: usize,
    pub(super) addr: String,
    pub(super) backoff: Backoff,
    pub(super) state: LinkState,
}

#[derive(Debug)]
pub(super) enum LinkState {
    /// No connection. `retry_at: None` means none is planned (shutting down).
    Down { retry_at: Option<Instant> },
    /// A [`ConnAction::Connect`](crate::conn::ConnAction::Connect) is out.
    Connecting { conn: ConnId, deadline: Instant },
    /// Established and registered.
    Up(Box<Connection>),
}

/// An established connection.
#[derive(Debug)]
pub(super) struct Connection {
    pub(super) id: ConnId,
    pub(super) grab_state: GrabState,
    /// While a grab is outstanding: when its reply is overdue. `None` until
    /// the worker next learns the time (a grab sent from a call without a
    /// clock is stamped then, which can only make the deadline later).
    pub(super) grab_deadline: Option<Instant>,
    /// The grab form in use; plainer after the server refused a richer one.
    pub(super) grab_mode: GrabMode,
    pub(super) decoder: Decoder,
    pub(super) input: BytesMut,
    /// When the packet held part-way in `input` began.
    pub(super) frame: FrameClock,
    pub(super) output: BytesMut,
}

impl Connection {
    pub(super) fn new(id: ConnId, grab_mode: GrabMode, max_packet_size: u32) -> Connection {
        Connection {
            id,
            grab_state: GrabState::Idle,
            grab_deadline: None,
            grab_mode,
            decoder: Decoder::new().with_max_packet_size(max_packet_size),
            input: BytesMut::new(),
            frame: FrameClock::default(),
            output: BytesMut::new(),
        }
    }
}

impl Link {
    pub(super) fn conn_id(&self) -> Option<ConnId> {
        match &self.state {
            LinkState::Down { .. } => None,
            LinkState::Connecting { conn, .. } => Some(*conn),
            LinkState::Up(c) => Some(c.id),
        }
    }

    pub(super) fn up(&self) -> Option<&Connection> {
        match &self.state {
            LinkState::Up(c) => Some(c),
            _ => None,
        }
    }

    pub(super) fn up_mut(&mut self) -> Option<&mut Connection> {
        match &mut self.state {
            LinkState::Up(c) => Some(c),
            _ => None,
        }
    }

    /// The next instant this link needs [`handle_timeout`](crate::conn::Endpoint::handle_timeout).
    pub(super) fn deadline(&self) -> Option<Instant> {
        match &self.state {
            LinkState::Down { retry_at } => *retry_at,
            LinkState::Connecting { deadline, .. } => Some(*deadline),
            LinkState::Up(_) => None,
        }
    }
}
