//! One connection slot to a configured server: its connection's life (down, connecting, up) and,
//! while up, the grab cycle and the bytes in both directions.

use std::time::Instant;

use bytes::BytesMut;

use super::config::GrabMode;
use super::event::GrabState;
use super::send;
use crate::backoff::Backoff;
use crate::endpoint::ConnId;
use crate::packet::Command;
use crate::packet::Decoder;
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
    /// A [`ConnAction::Connect`](crate::endpoint::ConnAction::Connect) is out.
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

    /// The next instant this link needs [`handle_timeout`](crate::endpoint::Endpoint::handle_timeout).
    pub(super) fn deadline(&self) -> Option<Instant> {
        match &self.state {
            LinkState::Down { retry_at } => *retry_at,
            LinkState::Connecting { deadline, .. } => Some(*deadline),
            LinkState::Up(_) => None,
        }
    }
}

/// What can move a connection's grab cycle; [`Link::grab_step`] applies it.
#[derive(Debug, Clone, Copy)]
pub(super) enum GrabEvent<'a> {
    /// A concurrency slot is free for this connection.
    SlotFree,
    /// NOOP arrived.
    Noop,
    /// NO_JOB arrived.
    NoJob,
    /// JOB_ASSIGN, JOB_ASSIGN_UNIQ or JOB_ASSIGN_ALL arrived.
    Assigned,
    /// An ERROR arrived that may answer the grab (any code but `JOB_NOT_FOUND`).
    Refused { code: &'a [u8] },
    /// The grab's reply is overdue.
    Silent,
}

/// What [`Link::grab_step`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum GrabOutcome {
    /// The event does not apply in this state (or the link is not up).
    Ignored,
    /// The state moved, or a plainer grab replaced the one outstanding.
    Moved,
    /// The connection must be closed: an assignment with no grab
    /// outstanding, or no reply even to GRAB_JOB.
    Close,
}

impl Link {
    /// The grab cycle's one transition: every change of a connection's
    /// [`GrabState`] goes through here (see its diagram), with the packet the
    /// change sends. `draining` (a shutdown is under way) forbids new grabs
    /// and PRE_SLEEP: an answered grab leaves the connection idle. Grabs
    /// outstanding are counted from the states, so they stay right whatever
    /// happens here.
    pub(super) fn grab_step(&mut self, event: GrabEvent<'_>, draining: bool) -> GrabOutcome {
        use GrabState::{Asleep, AwaitingGrabReply, Idle};
        let addr = &self.addr;
        let LinkState::Up(conn) = &mut self.state else {
            return GrabOutcome::Ignored;
        };
        let next = match (conn.grab_state, event) {
            (Idle, GrabEvent::SlotFree) if !draining => {
                send(conn, conn.grab_mode.command(), &[]);
                AwaitingGrabReply
            }
            (Asleep, GrabEvent::Noop) => Idle,
            (AwaitingGrabReply, GrabEvent::Assigned) => Idle,
            (AwaitingGrabReply, GrabEvent::NoJob) => conn.sleep(draining),
            (AwaitingGrabReply, GrabEvent::Refused { code }) => {
                let refused = conn.grab_mode;
                match refused.plainer() {
                    Some(plainer) if !draining => {
                        tracing::info!(server = %addr, refused = refused.command().name(), fallback = plainer.command().name(), code = %String::from_utf8_lossy(code), "job server refused the grab; falling back");
                        conn.fall_back(plainer)
                    }
                    plainer => {
                        conn.grab_mode = plainer.unwrap_or(refused);
                        if !draining {
                            tracing::warn!(server = %addr, code = %String::from_utf8_lossy(code), "job server refused every grab form; sleeping until NOOP");
                        }
                        conn.sleep(draining)
                    }
                }
            }
            (AwaitingGrabReply, GrabEvent::Silent) => {
                let silent = conn.grab_mode;
                match silent.plainer() {
                    // No more grabs: forget this one so shutdown can finish;
                    // a late assignment then breaks the protocol and closes.
                    _ if draining => Idle,
                    Some(plainer) => {
                        tracing::warn!(server = %addr, silent = silent.command().name(), fallback = plainer.command().name(), "no reply to the grab; falling back");
                        conn.fall_back(plainer)
                    }
                    None => {
                        tracing::warn!(server = %addr, "no reply to GRAB_JOB; reconnecting");
                        return GrabOutcome::Close;
                    }
                }
            }
            (_, GrabEvent::Assigned) => {
                tracing::warn!(server = %addr, "job assigned with no grab outstanding; closing the connection so the server requeues it");
                return GrabOutcome::Close;
            }
            _ => return GrabOutcome::Ignored,
        };
        conn.grab_state = next;
        // A new or replaced grab is stamped when the worker next learns the time.
        conn.grab_deadline = None;
        GrabOutcome::Moved
    }
}

impl Connection {
    /// An answered grab with nothing to do: sleep until NOOP (PRE_SLEEP),
    /// or, while draining, just stop grabbing.
    fn sleep(&mut self, draining: bool) -> GrabState {
        if draining {
            return GrabState::Idle;
        }
        send(self, Command::PreSleep, &[]);
        GrabState::Asleep
    }

    /// Replaces the outstanding grab with a plainer form.
    fn fall_back(&mut self, plainer: GrabMode) -> GrabState {
        self.grab_mode = plainer;
        send(self, plainer.command(), &[]);
        GrabState::AwaitingGrabReply
    }
}
