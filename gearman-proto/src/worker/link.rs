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
    /// Grabs sent and not answered yet: more than zero exactly while
    /// [`GrabState::AwaitingGrabReply`]. The server answers them in order.
    pub(super) grabs: usize,
    /// Most grabs this connection keeps outstanding
    /// ([`WorkerConfig::grabs_per_connection`](super::WorkerConfig::grabs_per_connection)).
    max_grabs: usize,
    /// Grabs this connection may have outstanding now, at most
    /// `max_grabs`: one after connecting or falling back, one more for each
    /// assignment (so it doubles every round trip while the server has
    /// work), halved each time the connection goes to sleep. A refused or
    /// ignored form thus costs one grab, and a worker woken now and then
    /// for one job sends a few grabs, not one per free slot.
    window: usize,
    /// A grab of the outstanding ones came back NO_JOB (or refused): the
    /// queue was empty, so no more grabs join them, and the connection
    /// sleeps once they are all answered.
    queue_empty: bool,
    /// Idle because its last grab got a job: the grab at the next free
    /// slot is speculative, work may or may not be queued.
    after_job: bool,
    /// The one grab outstanding was sent speculatively; its answer says
    /// whether the queue is usually empty right after a job.
    speculating: bool,
    /// The last speculative grab answered was NO_JOB: with nothing else in
    /// flight the connection sends PRE_SLEEP in its place (see
    /// [`SLEEP_FIRST_PROBE`]).
    sleep_first: bool,
    /// Speculative grabs replaced by PRE_SLEEP since the last one sent.
    slept_first: u8,
    /// While a grab is outstanding: when the reply to the oldest one is
    /// overdue, counted from when it was sent or the previous reply came.
    /// `None` until the worker next learns the time (a grab sent from a
    /// call without a clock is stamped then, which can only make the
    /// deadline later).
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
    pub(super) fn new(
        id: ConnId,
        grab_mode: GrabMode,
        max_grabs: usize,
        max_packet_size: u32,
    ) -> Connection {
        Connection {
            id,
            grab_state: GrabState::Idle,
            grabs: 0,
            max_grabs: max_grabs.max(1),
            window: 1,
            queue_empty: false,
            after_job: false,
            speculating: false,
            sleep_first: false,
            slept_first: 0,
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

/// Every how many speculative grabs a connection that sleeps first still
/// sends one, to notice a backlog: the server answers each PRE_SLEEP at once
/// with NOOP then, so sleeping first costs a round trip per job (PRE_SLEEP,
/// NOOP, grab, job instead of grab, job) until a grab gets a job and the
/// connection stops sleeping first, at most `SLEEP_FIRST_PROBE - 1` round
/// trips each time a backlog builds. While the queue stays empty the probe
/// costs its NO_JOB: one wake-up more every `SLEEP_FIRST_PROBE` jobs.
const SLEEP_FIRST_PROBE: u8 = 4;

/// What can move a connection's grab cycle; [`Link::grab_step`] applies it.
#[derive(Debug, Clone, Copy)]
pub(super) enum GrabEvent<'a> {
    /// A concurrency slot is free for this connection. `lone`: nothing is
    /// in flight on the worker (no job running, no grab outstanding).
    SlotFree { lone: bool },
    /// NOOP arrived.
    Noop,
    /// NO_JOB arrived.
    NoJob,
    /// JOB_ASSIGN, JOB_ASSIGN_UNIQ or JOB_ASSIGN_ALL arrived.
    Assigned,
    /// An ERROR arrived that may answer a grab (any code but `JOB_NOT_FOUND`).
    Refused { code: &'a [u8] },
    /// The oldest grab's reply is overdue.
    Silent,
}

/// What [`Link::grab_step`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum GrabOutcome {
    /// The event does not apply in this state (or the link is not up).
    Ignored,
    /// A grab was sent or answered, or a plainer grab replaced the one
    /// outstanding.
    Moved,
    /// PRE_SLEEP was sent in place of a speculative grab.
    Slept,
    /// The connection must be closed: an assignment with no grab
    /// outstanding, or no reply even to GRAB_JOB or to a form the server
    /// had answered.
    Close,
}

impl Link {
    /// The grab cycle's one transition: every change of a connection's
    /// [`GrabState`] and grab count goes through here (see the diagram at
    /// [`GrabState`]), with the packet the change sends. `draining` (a
    /// shutdown is under way) forbids new grabs and PRE_SLEEP: the last
    /// answered grab leaves the connection idle. Grabs outstanding are
    /// counted from the connections, so they stay right whatever happens
    /// here.
    pub(super) fn grab_step(&mut self, event: GrabEvent<'_>, draining: bool) -> GrabOutcome {
        use GrabState::{Asleep, AwaitingGrabReply, Idle};
        let addr = &self.addr;
        let LinkState::Up(conn) = &mut self.state else {
            return GrabOutcome::Ignored;
        };
        match (conn.grab_state, event) {
            (Idle, GrabEvent::SlotFree { lone }) if !draining => {
                let speculative = std::mem::take(&mut conn.after_job);
                if speculative && lone && conn.sleep_first {
                    conn.slept_first += 1;
                    if conn.slept_first < SLEEP_FIRST_PROBE {
                        // The queue is usually empty after a job: ask the
                        // server to NOOP when there is work (at once if
                        // there is some now) and skip the NO_JOB.
                        send(conn, Command::PreSleep, &[]);
                        conn.window = (conn.window / 2).max(1);
                        conn.grab_state = Asleep;
                        return GrabOutcome::Slept;
                    }
                    conn.slept_first = 0;
                }
                conn.speculating = speculative;
                conn.send_grab();
                conn.grab_state = AwaitingGrabReply;
                conn.grab_deadline = None;
            }
            (AwaitingGrabReply, GrabEvent::SlotFree { .. })
                if !draining && !conn.queue_empty && conn.grabs < conn.window =>
            {
                // Joins the grabs outstanding; the deadline stays the
                // oldest one's.
                conn.send_grab();
            }
            (Asleep, GrabEvent::Noop) => conn.grab_state = Idle,
            (AwaitingGrabReply, GrabEvent::Assigned) => {
                if std::mem::take(&mut conn.speculating) {
                    conn.sleep_first = false;
                }
                conn.window = (conn.window + 1).min(conn.max_grabs);
                conn.answered(draining);
            }
            (AwaitingGrabReply, GrabEvent::NoJob) => {
                if std::mem::take(&mut conn.speculating) {
                    conn.sleep_first = true;
                }
                conn.queue_empty = true;
                conn.answered(draining);
            }
            (AwaitingGrabReply, GrabEvent::Refused { code }) if conn.grabs > 1 => {
                // The form was answered before, so this is no refusal of the
                // form: take it as an answer without a job.
                tracing::warn!(server = %addr, code = %String::from_utf8_lossy(code), "job server refused one of several grabs; taken as NO_JOB");
                conn.speculating = false;
                conn.queue_empty = true;
                conn.answered(draining);
            }
            (AwaitingGrabReply, GrabEvent::Refused { code }) => {
                let refused = conn.grab_mode;
                match refused.plainer() {
                    Some(plainer) if !draining => {
                        tracing::info!(server = %addr, refused = refused.command().name(), fallback = plainer.command().name(), code = %String::from_utf8_lossy(code), "job server refused the grab; falling back");
                        conn.fall_back(plainer);
                    }
                    plainer => {
                        conn.grab_mode = plainer.unwrap_or(refused);
                        if !draining {
                            tracing::warn!(server = %addr, code = %String::from_utf8_lossy(code), "job server refused every grab form; sleeping until NOOP");
                        }
                        conn.queue_empty = true;
                        conn.answered(draining);
                    }
                }
            }
            (AwaitingGrabReply, GrabEvent::Silent) => {
                let silent = conn.grab_mode;
                match silent.plainer() {
                    // No more grabs: forget these so shutdown can finish;
                    // a late assignment then breaks the protocol and closes.
                    _ if draining => conn.forget_grabs(),
                    // A server that answered this form before and now leaves
                    // several grabs unanswered has stalled; falling back
                    // would not help.
                    _ if conn.grabs > 1 => {
                        tracing::warn!(server = %addr, grabs = conn.grabs, "no reply to the grabs outstanding; reconnecting");
                        return GrabOutcome::Close;
                    }
                    Some(plainer) => {
                        tracing::warn!(server = %addr, silent = silent.command().name(), fallback = plainer.command().name(), "no reply to the grab; falling back");
                        conn.fall_back(plainer);
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
        }
        GrabOutcome::Moved
    }
}

impl Connection {
    fn send_grab(&mut self) {
        send(self, self.grab_mode.command(), &[]);
        self.grabs += 1;
    }

    /// The oldest grab outstanding got its answer. Once the last one is
    /// answered the connection grabs again at the next free slot, or, if
    /// one of them found the queue empty, sleeps until NOOP (PRE_SLEEP),
    /// or, while draining, just stops grabbing.
    fn answered(&mut self, draining: bool) {
        self.grabs -= 1;
        // The next reply is due a full timeout after this one.
        self.grab_deadline = None;
        if self.grabs > 0 {
            return;
        }
        self.grab_state = if self.queue_empty && !draining {
            send(self, Command::PreSleep, &[]);
            self.window = (self.window / 2).max(1);
            GrabState::Asleep
        } else {
            self.after_job = !self.queue_empty;
            GrabState::Idle
        };
        self.queue_empty = false;
    }

    /// Drops every grab outstanding (shutting down, no reply in time).
    fn forget_grabs(&mut self) {
        self.grabs = 0;
        self.queue_empty = false;
        self.speculating = false;
        self.grab_state = GrabState::Idle;
    }

    /// Replaces the one grab outstanding with a plainer form.
    fn fall_back(&mut self, plainer: GrabMode) {
        self.grab_mode = plainer;
        self.window = 1;
        send(self, plainer.command(), &[]);
        self.grab_deadline = None;
    }
}
