//! The worker state machine: abilities, the grab cycle on every server, a
//! concurrency limit across all of them, job results, reconnects and
//! graceful shutdown, with no I/O of its own.
//!
//! # Behaviour
//!
//! - **Connections.** The worker keeps
//!   [`WorkerConfig::connections_per_server`] connections (default one) to
//!   each configured server and asks for each with [`ConnAction::Connect`].
//!   Every connection registers, grabs, fails and reconnects on its own;
//!   [`ServerId`] always names the configured server (its index in
//!   [`WorkerConfig::servers`]), whichever of its connections is meant. A connection that fails,
//!   drops, breaks the protocol or does not open within
//!   [`WorkerConfig::connect_timeout`] is retried after an exponential,
//!   capped, jittered backoff ([`crate::backoff`]); the other servers keep
//!   serving meanwhile. The backoff starts over once a connection opens.
//! - **Registration.** On every (re)connect the worker sends SET_CLIENT_ID
//!   (if set) and one CAN_DO / CAN_DO_TIMEOUT per ability, then grabs.
//!   [`can_do`](Worker::can_do), [`cant_do`](Worker::cant_do),
//!   [`reset_abilities`](Worker::reset_abilities) and
//!   [`set_client_id`](Worker::set_client_id) go to every connected server
//!   at once and are remembered for later connections.
//! - **Grab cycle.** Each connection is [`GrabState::Idle`],
//!   [`GrabState::AwaitingGrabReply`] or [`GrabState::Asleep`]. A
//!   connection keeps several grabs outstanding while it has free slots,
//!   so it does not pay one round trip per job: one at first, one more for
//!   each job assigned, halved each time it sleeps, up to
//!   [`WorkerConfig::grabs_per_connection`] (default: as many as free
//!   slots); the server answers each grab with one reply, in order. Once a
//!   grab comes back NO_JOB no more are added, and
//!   when the last one outstanding is answered the connection sends
//!   PRE_SLEEP and sleeps until a NOOP. Only a grab reply, or a NOOP while
//!   asleep, changes the state; a stray NO_JOB is ignored, so no packet
//!   sequence makes the worker grab in a loop on its own.
//! - **Sleeping first.** With nothing else in flight, a connection whose
//!   last speculative grab (the one after a job, not after a NOOP) came
//!   back NO_JOB sends PRE_SLEEP instead of the next one, in the same
//!   write as the result: the server NOOPs at once if work is queued, so
//!   one job at a time costs two wake-ups (NOOP, assignment), not three.
//!   Every fourth such grab is still sent, so a backlog is noticed within
//!   three jobs (each costing a round trip more until then) and ends the
//!   sleeping first; while the queue stays empty that probe costs one
//!   NO_JOB every four jobs.
//! - **NOOP while not asleep is ignored**, and nothing is lost by it: while
//!   grabs are outstanding, the server processes them after it sent the
//!   NOOP (one ordered stream per connection), so their replies already
//!   reflect the work the NOOP announced; if one of them is NO_JOB the
//!   worker sends PRE_SLEEP after the last reply, and the server answers PRE_SLEEP with an
//!   immediate NOOP whenever work is queued (gearmand and the Perl server
//!   do). While idle the connection already grabs at the next free slot.
//!   Servers do not wake a sleeper for a function it has just registered,
//!   so [`can_do`](Worker::can_do) on a sleeping connection sends PRE_SLEEP
//!   again, which brings that immediate NOOP when work is waiting.
//! - **Concurrency.** Grabs outstanding plus jobs running never exceed
//!   [`WorkerConfig::concurrency`], across all servers, so no server can
//!   hand the worker more jobs than it runs at once. When a slot frees,
//!   the next idle connection (round robin over all connections, which
//!   alternate between servers) grabs: one that
//!   last got a job, was just connected, or was woken by NOOP while no slot
//!   was free, or one whose grabs outstanding may take another.
//! - **Assignments.** JOB_ASSIGN, JOB_ASSIGN_UNIQ and JOB_ASSIGN_ALL are all
//!   accepted whatever grab was sent. A job for a function the worker no
//!   longer has (a CANT_DO crossed the assignment) is answered with
//!   WORK_FAIL at once and never reported. An assignment with no grab
//!   outstanding breaks the protocol and closes the connection (the server
//!   requeues the job), so the limit holds whatever a server sends.
//! - **Grab fallback.** An ERROR while a grab is outstanding answers the
//!   oldest grab (unless its code is `JOB_NOT_FOUND`, which answers a
//!   WORK_* packet for a job the server no longer gives us). Grabs are only
//!   sent several at a time in a form the server has answered with a job,
//!   so a refusal of a new form finds one grab outstanding: the connection then uses the
//!   next plainer grab ([`GrabMode::plainer`]) and sends it. If even
//!   GRAB_JOB is refused, the connection sleeps as after NO_JOB. An ERROR
//!   among several grabs outstanding counts as a NO_JOB.
//! - **Silent servers.** A grab with no reply within
//!   [`WorkerConfig::grab_reply_timeout`] (counted from the previous reply
//!   while several are outstanding) is taken as a form the server ignores:
//!   the connection falls back to the next plainer grab, and after a silent
//!   GRAB_JOB it reconnects; so does a connection with several grabs
//!   unanswered, whose server had answered that form. A late reply then
//!   answers the newer grab; an assignment beyond that breaks the protocol
//!   and closes the connection, so the limits hold.
//! - **Other ERRORs** (after a WORK_* for a job the server took back) are
//!   logged with `tracing` and change nothing.
//! - **Lost connections.** Every job running on a connection that drops is
//!   reported with [`WorkerEvent::JobLost`] and its slot is freed at once;
//!   the server requeues it, and results reported for it later are dropped.
//! - **Shutdown.** [`shutdown`](Worker::shutdown) stops grabbing and
//!   reconnecting, lets running jobs finish (each grab already outstanding
//!   may still bring a job, which is reported and must be finished too), then
//!   closes every connection and reports [`WorkerEvent::ShutdownComplete`].
//! - **Peer input never panics**: a packet that does not decode closes that
//!   connection with a `tracing` warning, then it reconnects. So does a
//!   packet begun and not finished within [`WorkerConfig::frame_timeout`]
//!   (see [`MIN_FRAME_RATE`](crate::MIN_FRAME_RATE)); a connection with no
//!   packet begun stays open however long the server is silent.
//!
//! # Run loop
//!
//! [The run loop](crate#the-run-loop) every state machine shares; [`Worker`]
//! shows it over sockets.

mod config;
mod event;
mod handlers;
mod link;
mod registry;
mod report;

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;

pub use config::{Ability, GrabMode, WorkerConfig};
pub use event::{Assignment, AssignmentId, GrabState, JobRunner, WorkerError, WorkerEvent};
pub use handlers::{Handlers, handler_panicked};
use link::{Connection, GrabEvent, GrabOutcome, Link, LinkState};
pub use registry::{
    AsyncHandler, BlockingHandler, ConnectFailedHook, HandlerFuture, Registry, async_handler,
    blocking_handler,
};
pub use report::{WorkError, WorkUpdate, WorkerCommand};

use crate::backoff::Backoff;
use crate::decimal::Decimal;
pub use crate::endpoint::ServerId;
use crate::endpoint::{ConnAction, ConnId, ConnectError, Endpoint, Transmit};
use crate::fast_map::{FastMap, FastSet};
use crate::observe::{ConnectionState, ServerState, job_span};
use crate::packet::{Command, Field, Magic};
use crate::packet::{Packet, encode_fields};
use crate::time::deadline_after;

/// How many lost jobs are remembered so that their late results are dropped
/// quietly rather than refused as ended. Bounds memory when a caller never
/// reports on lost jobs.
const LOST_JOBS_REMEMBERED: usize = 4096;

/// Smallest growth of a connection's read buffer, in bytes.
const INPUT_CHUNK: usize = 4096;

/// The ERROR code a server sends for a WORK_* packet about a job it does not
/// give this connection: never an answer to a grab.
const JOB_NOT_FOUND: &[u8] = b"JOB_NOT_FOUND";

/// A Gearman worker as a sans-IO state machine over any number of servers.
///
/// It is driven by [the run loop](crate#the-run-loop) every state machine
/// shares: the caller runs the jobs from [`poll_event`](Worker::poll_event)
/// and reports their results with the `work_*` methods. The module
/// documentation lists the protocol rules the worker follows.
///
/// ```no_run
/// use std::time::Instant;
/// use gearman_proto::{ConnAction, Endpoint};
/// use gearman_proto::worker::{Worker, WorkerConfig, WorkerEvent};
///
/// # fn wait_for_io_or(_deadline: Option<Instant>) -> Vec<(gearman_proto::ConnId, Vec<u8>)> { Vec::new() }
/// # fn open(_conn: gearman_proto::ConnId, _addr: &str) {}
/// # fn close(_conn: gearman_proto::ConnId) {}
/// # fn write(_conn: gearman_proto::ConnId, _bytes: &[u8]) {}
/// let config = WorkerConfig::new(["127.0.0.1:4730"])
///     .with_function("reverse")
///     .with_concurrency(4);
/// let mut worker = Worker::new(config, Instant::now())?;
/// loop {
///     // Drain in the crate's order: transmits, actions, events.
///     while let Some(transmit) = worker.poll_transmit() {
///         write(transmit.conn, &transmit.data);
///     }
///     while let Some(action) = worker.poll_action() {
///         match action {
///             ConnAction::Connect { conn, addr } => open(conn, &addr), // later: handle_connected / handle_disconnected
///             ConnAction::Close { conn } => close(conn),
///             _ => {}
///         }
///     }
///     while let Some(event) = worker.poll_event() {
///         match event {
///             WorkerEvent::JobAssigned(job) => {
///                 // Run it (here inline); report progress and exactly one end.
///                 let reversed: Vec<u8> = job.payload.iter().rev().copied().collect();
///                 worker.work_complete(job.id, &reversed)?;
///             }
///             WorkerEvent::ShutdownComplete => return Ok(()),
///             _ => {}
///         }
///     }
///     // Wait for bytes or the next deadline, then feed what happened.
///     let deadline = worker.poll_timeout();
///     for (conn, bytes) in wait_for_io_or(deadline) {
///         worker.handle_input(conn, &bytes, Instant::now());
///     }
///     worker.handle_timeout(Instant::now());
/// }
/// # Ok::<(), gearman_proto::worker::WorkerError>(())
/// ```
#[derive(Debug)]
pub struct Worker {
    config: WorkerConfig,
    links: Vec<Link>,
    /// Registered functions (name → CAN_DO_TIMEOUT timeout), in a fixed order
    /// so registration bytes are deterministic.
    abilities: BTreeMap<Bytes, Option<Duration>>,
    client_id: Option<Bytes>,
    jobs: FastMap<AssignmentId, RunningJob>,
    lost: LostJobs,
    next_job: u64,
    next_conn: u64,
    limit: usize,
    /// Server index the next grab search starts from (round robin).
    rotation: usize,
    /// The latest instant any call told us.
    clock: Instant,
    shutdown: Shutdown,
    actions: VecDeque<ConnAction>,
    /// Output of connections closed by the worker, handed out before the
    /// matching [`ConnAction::Close`] takes effect.
    final_transmits: VecDeque<Transmit>,
    events: VecDeque<WorkerEvent>,
    on_connect_failed: ConnectFailed,
}

/// The hook [`Worker::run_jobs`] calls for a failed connect.
#[derive(Default)]
struct ConnectFailed(Option<ConnectFailedHook>);

impl std::fmt::Debug for ConnectFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "hook" } else { "none" })
    }
}

#[derive(Debug)]
struct RunningJob {
    server: usize,
    conn: ConnId,
    handle: Bytes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shutdown {
    Running,
    Draining { deadline: Option<Instant> },
    Done,
}

/// Ids of jobs lost with their connection whose end the caller has not
/// reported yet, oldest forgotten first.
#[derive(Debug, Default)]
struct LostJobs {
    ids: FastSet<AssignmentId>,
    order: VecDeque<AssignmentId>,
}

impl LostJobs {
    fn insert(&mut self, id: AssignmentId) {
        if self.order.len() >= LOST_JOBS_REMEMBERED
            && let Some(oldest) = self.order.pop_front()
        {
            self.ids.remove(&oldest);
        }
        self.ids.insert(id);
        self.order.push_back(id);
    }
}

/// The kind of result a `work_*` call reports.
enum Report<'a> {
    Data(&'a [u8]),
    Warning(&'a [u8]),
    Status(u32, u32),
    Complete(&'a [u8]),
    Fail,
    Exception(&'a [u8]),
}

impl Report<'_> {
    fn is_terminal(&self) -> bool {
        matches!(
            self,
            Report::Complete(_) | Report::Fail | Report::Exception(_)
        )
    }
}

impl Worker {
    /// A worker for the configured servers; it asks to connect to all of
    /// them at once (see [`poll_action`](Worker::poll_action)), which is
    /// why it takes `now`: each connect's deadline starts here.
    ///
    /// Fails when no server is configured or a configured function name is
    /// empty or contains a NUL byte.
    pub fn new(config: WorkerConfig, now: Instant) -> Result<Worker, WorkerError> {
        if config.servers.is_empty() {
            return Err(WorkerError::NoServers);
        }
        let mut abilities = BTreeMap::new();
        for ability in &config.abilities {
            check_function(&ability.function)?;
            abilities.insert(ability.function.clone(), ability.timeout);
        }
        // Connection-major order (every server's first connection, then
        // every server's second, ...) so round-robin grabs alternate servers.
        let per_server = config.connections_per_server.max(1);
        let links = (0..per_server)
            .flat_map(|_| config.servers.iter().enumerate())
            .enumerate()
            .map(|(index, (server, addr))| {
                // Each connection gets its own jitter sequence so their retries spread.
                let seed = config.seed ^ (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                Link {
                    server,
                    addr: addr.clone(),
                    backoff: Backoff::new(config.backoff, seed),
                    state: LinkState::Down {
                        retry_at: Some(now),
                    },
                }
            })
            .collect();
        let mut worker = Worker {
            limit: config.concurrency.max(1),
            client_id: config.client_id.clone(),
            config,
            links,
            abilities,
            jobs: FastMap::default(),
            lost: LostJobs::default(),
            next_job: 0,
            next_conn: 0,
            rotation: 0,
            clock: now,
            shutdown: Shutdown::Running,
            actions: VecDeque::new(),
            final_transmits: VecDeque::new(),
            events: VecDeque::new(),
            on_connect_failed: ConnectFailed::default(),
        };
        worker.handle_timeout(now);
        Ok(worker)
    }

    /// The configuration the worker was built with.
    pub fn config(&self) -> &WorkerConfig {
        &self.config
    }

    /// The address of a configured server.
    pub fn server_addr(&self, server: ServerId) -> Option<&str> {
        self.config.servers.get(server.0).map(String::as_str)
    }

    /// Logs an event its adapter does not act on: a connection registered
    /// (info) or lost (warn), anything else at debug level.
    pub fn log_event(&self, event: &WorkerEvent) {
        match event {
            WorkerEvent::Connected { server } => {
                tracing::info!(
                    server = self.server_addr(*server),
                    "worker connected and registered"
                );
            }
            WorkerEvent::Disconnected { server } => {
                tracing::warn!(
                    server = self.server_addr(*server),
                    "worker connection lost; reconnecting"
                );
            }
            other => tracing::debug!(?other, "worker event"),
        }
    }

    /// Sets the hook [`run_jobs`](Worker::run_jobs) calls for each
    /// connection that cannot be opened (by default, with `None`, a failed
    /// connect is only logged).
    pub fn on_connect_failed(&mut self, hook: Option<ConnectFailedHook>) {
        self.on_connect_failed = ConnectFailed(hook);
    }

    /// Drains the events as a run loop does: jobs assigned and lost go to
    /// `runner`, a failed connect is logged as a warning and handed to the
    /// [`on_connect_failed`](Worker::on_connect_failed) hook, anything else
    /// goes to [`log_event`](Worker::log_event). Returns true once the
    /// graceful shutdown is over ([`WorkerEvent::ShutdownComplete`]).
    pub fn run_jobs(&mut self, runner: &mut impl JobRunner) -> bool {
        let mut shut_down = false;
        while let Some(event) = self.poll_event() {
            match event {
                WorkerEvent::JobAssigned(assignment) => runner.start(self, assignment),
                WorkerEvent::JobLost { id } => runner.lost(id),
                WorkerEvent::ShutdownComplete => shut_down = true,
                WorkerEvent::ConnectFailed { error, .. } => {
                    tracing::warn!(server = error.addr(), err = %error.io_error(), "worker could not connect; retrying");
                    if let Some(hook) = &self.on_connect_failed.0 {
                        hook(&error);
                    }
                }
                other => self.log_event(&other),
            }
        }
        shut_down
    }

    /// Each configured server's connection state (the best of its
    /// connections), jobs running and grabs awaiting a reply, in configured
    /// order (for health checks and metrics).
    pub fn servers(&self) -> impl Iterator<Item = ServerState> + '_ {
        self.config.servers.iter().enumerate().map(|(index, addr)| {
            let links = || self.links.iter().filter(move |link| link.server == index);
            let backoff = links()
                .filter_map(|link| match link.state {
                    LinkState::Down { retry_at } => retry_at,
                    _ => None,
                })
                .min();
            let state = if links().any(|link| link.up().is_some()) {
                ConnectionState::Connected
            } else if links().any(|link| matches!(link.state, LinkState::Connecting { .. })) {
                ConnectionState::Connecting
            } else if let Some(until) = backoff {
                ConnectionState::BackingOff { until }
            } else {
                ConnectionState::Stopped
            };
            ServerState {
                server: ServerId(index),
                addr: addr.clone(),
                state,
                jobs_in_flight: self.jobs.values().filter(|job| job.server == index).count(),
                requests_pending: links().filter_map(Link::up).map(|c| c.grabs).sum(),
            }
        })
    }

    /// The span `assignment`'s handler runs in ([`job_span`]), with its
    /// server's address.
    pub fn job_span(&self, assignment: &Assignment) -> tracing::Span {
        job_span(
            assignment,
            self.server_addr(assignment.server).unwrap_or(""),
        )
    }

    /// Whether `server` has at least one established connection.
    pub fn is_connected(&self, server: ServerId) -> bool {
        self.first_up(server).is_some()
    }

    /// How many of `server`'s connections are established.
    pub fn connected_count(&self, server: ServerId) -> usize {
        self.links
            .iter()
            .filter(|link| link.server == server.0 && link.up().is_some())
            .count()
    }

    /// Where `server`'s first established connection is in its grab cycle;
    /// `None` while it has none.
    pub fn grab_state(&self, server: ServerId) -> Option<GrabState> {
        Some(self.first_up(server)?.grab_state)
    }

    /// The grab form `server`'s first established connection uses now
    /// (plainer than configured after the server refused a grab); `None`
    /// while it has none.
    pub fn grab_mode(&self, server: ServerId) -> Option<GrabMode> {
        Some(self.first_up(server)?.grab_mode)
    }

    /// The first established connection to `server`, in connection order.
    fn first_up(&self, server: ServerId) -> Option<&Connection> {
        self.links
            .iter()
            .filter(|link| link.server == server.0)
            .find_map(Link::up)
    }

    /// Grabs sent whose reply has not arrived, across all servers.
    pub fn grabs_outstanding(&self) -> usize {
        self.links
            .iter()
            .filter_map(Link::up)
            .map(|c| c.grabs)
            .sum()
    }

    /// Jobs assigned and not yet ended or lost, across all servers.
    pub fn running_jobs(&self) -> usize {
        self.jobs.len()
    }

    /// Whether [`shutdown`](Worker::shutdown) was called.
    pub fn is_shutting_down(&self) -> bool {
        self.shutdown != Shutdown::Running
    }

    /// The functions registered now, with their CAN_DO_TIMEOUT timeouts.
    pub fn abilities(&self) -> impl Iterator<Item = (&Bytes, Option<Duration>)> + '_ {
        self.abilities.iter().map(|(f, t)| (f, *t))
    }

    /// Registers `function` (CAN_DO) with every server, now and after every
    /// reconnect. Registering a function again changes nothing, or, with a
    /// different timeout, replaces the registration (CANT_DO, then the new
    /// one; gearmand requeues jobs for it running here at the CANT_DO, as in
    /// [`cant_do`](Worker::cant_do)).
    ///
    /// Servers do not wake a sleeping worker for jobs already queued for a
    /// new function, so a sleeping connection sends PRE_SLEEP again: the
    /// server answers it with NOOP when work is waiting.
    pub fn can_do(&mut self, function: impl Into<Bytes>) -> Result<(), WorkerError> {
        self.register(function.into(), None)
    }

    /// Registers `function` with a per-job timeout (CAN_DO_TIMEOUT), sent as
    /// whole milliseconds. gearmand ≥ 1.1.19 reads milliseconds (at least
    /// 1000; 0 means none) and requeues a job that runs longer; gearmand ≤
    /// 1.1.18 and the Perl server read the number as seconds.
    pub fn can_do_timeout(
        &mut self,
        function: impl Into<Bytes>,
        timeout: Duration,
    ) -> Result<(), WorkerError> {
        self.register(function.into(), Some(timeout))
    }

    fn register(&mut self, function: Bytes, timeout: Option<Duration>) -> Result<(), WorkerError> {
        check_function(&function)?;
        let previous = self.abilities.get(&function[..]).copied();
        if previous == Some(timeout) {
            return Ok(());
        }
        for link in &mut self.links {
            if let Some(conn) = link.up_mut() {
                // gearmand keeps duplicate registrations side by side, so a
                // new timeout replaces the old registration explicitly.
                if previous.is_some() {
                    send(conn, Command::CantDo, &[&function]);
                }
                send_ability(conn, &function, timeout);
                if conn.grab_state == GrabState::Asleep {
                    send(conn, Command::PreSleep, &[]);
                }
            }
        }
        self.abilities.insert(function, timeout);
        self.pump();
        Ok(())
    }

    /// Withdraws `function` (CANT_DO) from every server. A job for it that
    /// was already on its way is answered with WORK_FAIL when it arrives.
    /// gearmand requeues jobs for it that are running on this worker; their
    /// results are then refused by the server (and logged).
    pub fn cant_do(&mut self, function: &[u8]) {
        if self.abilities.remove(function).is_none() {
            return;
        }
        for link in &mut self.links {
            if let Some(conn) = link.up_mut() {
                send(conn, Command::CantDo, &[function]);
            }
        }
    }

    /// Withdraws every function (RESET_ABILITIES) from every server.
    pub fn reset_abilities(&mut self) {
        self.abilities.clear();
        for link in &mut self.links {
            if let Some(conn) = link.up_mut() {
                send(conn, Command::ResetAbilities, &[]);
            }
        }
    }

    /// Sets the client id (SET_CLIENT_ID) on every server, now and after
    /// every reconnect. gearmand keeps the first 127 bytes.
    pub fn set_client_id(&mut self, id: impl Into<Bytes>) {
        let id = id.into();
        for link in &mut self.links {
            if let Some(conn) = link.up_mut() {
                send(conn, Command::SetClientId, &[&id]);
            }
        }
        self.client_id = Some(id);
    }

    /// Sends any packet to `server` (on its first established connection),
    /// bypassing the state machine: for
    /// ECHO_REQ, OPTION_REQ or experiments. Replies arrive as
    /// [`WorkerEvent::Packet`]. A grab, an ability or a WORK_* sent this way
    /// is invisible to the worker's bookkeeping, and an ERROR answering a
    /// raw request while a grab is outstanding is taken as the grab's reply.
    pub fn send_raw(&mut self, server: ServerId, packet: &Packet) -> Result<(), WorkerError> {
        let conn = self
            .links
            .iter_mut()
            .filter(|link| link.server == server.0)
            .find_map(Link::up_mut)
            .ok_or(WorkerError::NotConnected(server))?;
        packet.encode(&mut conn.output);
        Ok(())
    }

    /// Sends WORK_DATA: a chunk of partial result for the client.
    pub fn work_data(&mut self, id: AssignmentId, data: &[u8]) -> Result<(), WorkerError> {
        self.report(id, Report::Data(data))
    }

    /// Sends WORK_WARNING.
    pub fn work_warning(&mut self, id: AssignmentId, data: &[u8]) -> Result<(), WorkerError> {
        self.report(id, Report::Warning(data))
    }

    /// Sends WORK_STATUS: progress as `numerator / denominator`. The numbers
    /// are 32-bit, as gearmand stores them (it drops a connection whose
    /// denominator text exceeds 11 characters).
    pub fn work_status(
        &mut self,
        id: AssignmentId,
        numerator: u32,
        denominator: u32,
    ) -> Result<(), WorkerError> {
        self.report(id, Report::Status(numerator, denominator))
    }

    /// Sends WORK_COMPLETE with the result; ends the job and frees its slot.
    pub fn work_complete(&mut self, id: AssignmentId, data: &[u8]) -> Result<(), WorkerError> {
        self.report(id, Report::Complete(data))
    }

    /// Sends WORK_FAIL; ends the job and frees its slot.
    pub fn work_fail(&mut self, id: AssignmentId) -> Result<(), WorkerError> {
        self.report(id, Report::Fail)
    }

    /// Sends WORK_EXCEPTION with the exception text; ends the job and frees
    /// its slot. Clients that did not ask for exceptions see a failure.
    pub fn work_exception(&mut self, id: AssignmentId, data: &[u8]) -> Result<(), WorkerError> {
        self.report(id, Report::Exception(data))
    }

    fn report(&mut self, id: AssignmentId, report: Report<'_>) -> Result<(), WorkerError> {
        let Some(job) = self.jobs.get(&id) else {
            if self.lost.ids.contains(&id) {
                // The server took the job back; the result has nowhere to go.
                if report.is_terminal() {
                    self.lost.ids.remove(&id);
                }
                return Ok(());
            }
            return Err(if id.0 < self.next_job {
                WorkerError::JobEnded(id)
            } else {
                WorkerError::UnknownJob(id)
            });
        };
        let conn = self.links[job.server]
            .up_mut()
            .filter(|c| c.id == job.conn)
            .expect("a job is marked lost when its connection goes, so its connection is up");
        let handle: &[u8] = &job.handle;
        match report {
            Report::Data(data) => send(conn, Command::WorkDataReq, &[handle, data]),
            Report::Warning(data) => send(conn, Command::WorkWarningReq, &[handle, data]),
            Report::Status(num, den) => {
                let (num, den) = (Decimal::new(num.into()), Decimal::new(den.into()));
                send(
                    conn,
                    Command::WorkStatusReq,
                    &[handle, num.as_bytes(), den.as_bytes()],
                );
            }
            Report::Complete(data) => send(conn, Command::WorkCompleteReq, &[handle, data]),
            Report::Fail => send(conn, Command::WorkFailReq, &[handle]),
            Report::Exception(data) => send(conn, Command::WorkExceptionReq, &[handle, data]),
        }
        if report.is_terminal() {
            self.jobs.remove(&id);
            self.pump();
            // The last job of a graceful shutdown may be the one ending here.
            self.finish_shutdown_if_idle();
        }
        Ok(())
    }

    /// Stops grabbing and reconnecting, lets running jobs finish, then closes
    /// every connection and reports [`WorkerEvent::ShutdownComplete`]. With
    /// [`WorkerConfig::shutdown_timeout`] set, jobs still running at the
    /// deadline are reported lost and the connections closed anyway.
    /// Calling it again changes nothing.
    pub fn shutdown(&mut self, now: Instant) {
        if self.shutdown != Shutdown::Running {
            return;
        }
        tracing::debug!(
            running = self.jobs.len(),
            grabs = self.grabs_outstanding(),
            "worker shutting down"
        );
        self.shutdown = Shutdown::Draining {
            deadline: self.config.shutdown_timeout.map(|t| deadline_after(now, t)),
        };
        for index in 0..self.links.len() {
            match self.links[index].state {
                LinkState::Down { .. } | LinkState::Connecting { .. } => {
                    self.close(index);
                    self.links[index].state = LinkState::Down { retry_at: None };
                }
                LinkState::Up(_) => {}
            }
        }
        self.finish_shutdown_if_idle();
    }

    /// The next thing the caller should know about.
    ///
    /// [`WorkerEvent::ShutdownComplete`] waits until the last bytes and
    /// closes were handed out, so a loop may stop at it in any drain order.
    pub fn poll_event(&mut self) -> Option<WorkerEvent> {
        if self.events.front() == Some(&WorkerEvent::ShutdownComplete)
            && !(self.final_transmits.is_empty() && self.actions.is_empty())
        {
            return None;
        }
        self.events.pop_front()
    }

    /// A connection asked for by [`ConnAction::Connect`] is established: the
    /// worker registers and starts grabbing on it.
    pub fn handle_connected(&mut self, conn: ConnId, now: Instant) {
        let Some(index) = self.link_of(conn) else {
            return;
        };
        let link = &mut self.links[index];
        if !matches!(link.state, LinkState::Connecting { .. }) {
            return;
        }
        link.backoff.reset();
        let mut connection = Connection::new(
            conn,
            self.config.grab,
            self.config.grabs_per_connection,
            self.config.max_packet_size,
        );
        if let Some(id) = &self.client_id {
            send(&mut connection, Command::SetClientId, &[id]);
        }
        for (function, timeout) in &self.abilities {
            send_ability(&mut connection, function, *timeout);
        }
        link.state = LinkState::Up(Box::new(connection));
        tracing::debug!(server = %link.addr, %conn, "worker connected");
        self.events.push_back(WorkerEvent::Connected {
            server: ServerId(self.links[index].server),
        });
        self.pump();
        self.observe(now);
    }

    /// Bytes read from `conn`.
    pub fn handle_input(&mut self, conn: ConnId, data: &[u8], now: Instant) {
        let Some(index) = self.link_of(conn) else {
            return;
        };
        let Some(connection) = self.links[index].up_mut() else {
            return;
        };
        // Jobs keep zero-copy slices of the read buffer alive, so it cannot
        // always be reused in place; growing it in chunks lets many packets
        // share one allocation.
        if connection.input.capacity() - connection.input.len() < data.len() {
            connection.input.reserve(data.len().max(INPUT_CHUNK));
        }
        let unconsumed = connection.input.len() + data.len();
        connection.input.extend_from_slice(data);
        // Stops when a packet closed the connection, too.
        while let Some(connection) = self.links[index].up_mut().filter(|c| c.id == conn) {
            match connection.decoder.decode_packet(&mut connection.input) {
                Ok(Some(packet)) => self.on_packet(index, packet, now),
                Ok(None) => {
                    let buffered = connection.input.len();
                    connection
                        .frame
                        .on_input(buffered < unconsumed, buffered, now);
                    break;
                }
                Err(err) => {
                    tracing::warn!(server = %self.links[index].addr, %err, "undecodable input from job server; closing");
                    self.close_and_retry(index, now);
                    break;
                }
            }
        }
        self.pump();
        self.observe(now);
    }

    /// `conn` closed, failed, or could not be opened.
    pub fn handle_disconnected(&mut self, conn: ConnId, now: Instant) {
        let Some(index) = self.link_of(conn) else {
            return;
        };
        self.connection_gone(index, now);
        self.pump();
        self.observe(now);
    }

    /// `conn` could not be opened, for the reason given: reported as
    /// [`WorkerEvent::ConnectFailed`], then as
    /// [`handle_disconnected`](Worker::handle_disconnected).
    pub fn handle_connect_failed(&mut self, conn: ConnId, error: ConnectError, now: Instant) {
        let Some(index) = self.link_of(conn) else {
            return;
        };
        self.connect_failed(index, error, now);
        self.pump();
        self.observe(now);
    }

    /// Time has reached `now`: reconnects that are due start, connects that
    /// took too long are abandoned, overdue grabs fall back, an expired
    /// shutdown is forced. Harmless when called early or twice.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.observe(now);
        if let Shutdown::Draining {
            deadline: Some(deadline),
        } = self.shutdown
            && deadline <= now
        {
            tracing::warn!(
                running = self.jobs.len(),
                "shutdown timeout reached; abandoning running jobs"
            );
            for index in 0..self.links.len() {
                if self.links[index].up().is_some() {
                    self.close(index);
                    self.connection_gone(index, now);
                }
            }
            self.finish_shutdown_if_idle();
            return;
        }
        for index in 0..self.links.len() {
            match self.links[index].state {
                LinkState::Down { retry_at: Some(at) }
                    if at <= now && self.shutdown == Shutdown::Running =>
                {
                    let conn = ConnId(self.next_conn);
                    self.next_conn += 1;
                    let link = &mut self.links[index];
                    link.state = LinkState::Connecting {
                        conn,
                        deadline: deadline_after(now, self.config.connect_timeout),
                    };
                    self.actions.push_back(ConnAction::Connect {
                        conn,
                        addr: link.addr.clone(),
                    });
                }
                LinkState::Connecting { deadline, .. } if deadline <= now => {
                    tracing::debug!(server = %self.links[index].addr, "connect timed out");
                    self.close(index);
                    let error = ConnectError::new(
                        self.links[index].addr.clone(),
                        std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "not ready within the connect timeout",
                        ),
                    );
                    self.connect_failed(index, error, now);
                }
                LinkState::Up(ref conn)
                    if conn
                        .frame
                        .deadline(conn.input.len(), self.config.frame_timeout)
                        .is_some_and(|at| at <= now) =>
                {
                    tracing::warn!(server = %self.links[index].addr, "job server stalled mid-packet; reconnecting");
                    self.close_and_retry(index, now);
                }
                LinkState::Up(ref conn)
                    if conn.grab_state == GrabState::AwaitingGrabReply
                        && conn.grab_deadline.is_some_and(|at| at <= now) =>
                {
                    self.on_grab_timeout(index, now);
                }
                _ => {}
            }
        }
        self.pump();
        self.observe(now);
    }

    /// The next connection to open or close. Nothing comes out while bytes
    /// of a closed connection still wait in [`poll_transmit`](Worker::poll_transmit),
    /// so a [`ConnAction::Close`] never overtakes them, whatever the drain order.
    pub fn poll_action(&mut self) -> Option<ConnAction> {
        if !self.final_transmits.is_empty() {
            return None;
        }
        self.actions.pop_front()
    }

    /// The next bytes to write.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        if let Some(transmit) = self.final_transmits.pop_front() {
            return Some(transmit);
        }
        self.links.iter_mut().find_map(|link| {
            let conn = link.up_mut()?;
            (!conn.output.is_empty()).then(|| Transmit {
                conn: conn.id,
                data: conn.output.split().freeze(),
            })
        })
    }

    /// The earliest instant at which [`handle_timeout`](Worker::handle_timeout) must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let links = match self.shutdown {
            Shutdown::Done => return None,
            // Nothing reconnects or connects while shutting down.
            Shutdown::Draining { deadline } => deadline,
            Shutdown::Running => self.links.iter().filter_map(Link::deadline).min(),
        };
        let grabs = self.config.grab_reply_timeout.and_then(|timeout| {
            self.links
                .iter()
                .filter_map(Link::up)
                .filter(|c| c.grab_state == GrabState::AwaitingGrabReply)
                // Not stamped yet: wake at the earliest moment it could be due.
                .map(|c| {
                    c.grab_deadline
                        .unwrap_or(deadline_after(self.clock, timeout))
                })
                .min()
        });
        let frames = self
            .links
            .iter()
            .filter_map(Link::up)
            .filter_map(|c| c.frame.deadline(c.input.len(), self.config.frame_timeout));
        links.into_iter().chain(grabs).chain(frames).min()
    }

    /// Learns the time: stamps grabs sent since the last call that knew it.
    fn observe(&mut self, now: Instant) {
        self.clock = self.clock.max(now);
        let Some(timeout) = self.config.grab_reply_timeout else {
            return;
        };
        for conn in self.links.iter_mut().filter_map(Link::up_mut) {
            if conn.grab_state == GrabState::AwaitingGrabReply && conn.grab_deadline.is_none() {
                conn.grab_deadline = Some(deadline_after(now, timeout));
            }
        }
    }

    /// A grab got no reply in time: the server ignores that form.
    fn on_grab_timeout(&mut self, index: usize, now: Instant) {
        let draining = self.shutdown != Shutdown::Running;
        if self.links[index].grab_step(GrabEvent::Silent, draining) == GrabOutcome::Close {
            self.close_and_retry(index, now);
        }
    }

    fn link_of(&self, conn: ConnId) -> Option<usize> {
        self.links.iter().position(|l| l.conn_id() == Some(conn))
    }

    fn on_packet(&mut self, index: usize, packet: Packet, now: Instant) {
        match packet.command() {
            Command::Noop => self.on_noop(index),
            Command::NoJob => self.on_no_job(index),
            Command::JobAssign | Command::JobAssignUniq | Command::JobAssignAll => {
                self.on_assign(index, packet, now)
            }
            Command::Error => self.on_error(index, &packet),
            _ if packet.magic() == Magic::Req => {
                tracing::warn!(server = %self.links[index].addr, command = packet.command().name(), "job server sent a request packet; ignored");
            }
            _ => self.events.push_back(WorkerEvent::Packet {
                server: ServerId(self.links[index].server),
                packet,
            }),
        }
    }

    fn on_noop(&mut self, index: usize) {
        // Only a sleeping connection wakes; see the module docs for why a
        // NOOP in the other states can be ignored without missing work.
        self.links[index].grab_step(GrabEvent::Noop, false);
    }

    fn on_no_job(&mut self, index: usize) {
        let draining = self.shutdown != Shutdown::Running;
        match self.links[index].grab_step(GrabEvent::NoJob, draining) {
            GrabOutcome::Ignored => tracing::debug!("NO_JOB with no grab outstanding; ignored"),
            _ => self.finish_shutdown_if_idle(),
        }
    }

    fn on_assign(&mut self, index: usize, packet: Packet, now: Instant) {
        match self.links[index].grab_step(GrabEvent::Assigned, false) {
            GrabOutcome::Moved => {}
            GrabOutcome::Close => return self.close_and_retry(index, now),
            GrabOutcome::Ignored | GrabOutcome::Slept => return,
        }
        let server = ServerId(self.links[index].server);
        let conn = self.links[index]
            .up_mut()
            .expect("an assignment was just accepted on this connection");
        let field = |f| packet.field_bytes(f).unwrap_or_default();
        let handle = field(Field::Handle);
        let function = field(Field::Function);
        if !self.abilities.contains_key(&function[..]) {
            tracing::debug!(function = %String::from_utf8_lossy(&function), "job for a withdrawn function; failing it");
            send(conn, Command::WorkFailReq, &[&handle]);
            return;
        }
        let id = AssignmentId(self.next_job);
        self.next_job += 1;
        let job = Assignment {
            id,
            server,
            handle: handle.clone(),
            function,
            unique: packet.field_bytes(Field::Unique),
            reducer: packet.field_bytes(Field::Reducer).filter(|r| !r.is_empty()),
            payload: field(Field::Data),
        };
        self.jobs.insert(
            id,
            RunningJob {
                server: index,
                conn: conn.id,
                handle,
            },
        );
        self.events.push_back(WorkerEvent::JobAssigned(job));
    }

    fn on_error(&mut self, index: usize, packet: &Packet) {
        let draining = self.shutdown != Shutdown::Running;
        let code = packet.field(Field::ErrorCode).unwrap_or_default();
        let answered = code != JOB_NOT_FOUND
            && self.links[index].grab_step(GrabEvent::Refused { code }, draining)
                == GrabOutcome::Moved;
        if answered {
            self.finish_shutdown_if_idle();
            return;
        }
        let text = packet.field(Field::ErrorText).unwrap_or_default();
        let text = text.strip_suffix(b"\0").unwrap_or(text);
        tracing::warn!(
            server = %self.links[index].addr,
            code = %String::from_utf8_lossy(code),
            text = %String::from_utf8_lossy(text),
            "job server error"
        );
    }

    /// Closes `index`'s connection from our side and schedules a reconnect.
    fn close_and_retry(&mut self, index: usize, now: Instant) {
        self.close(index);
        self.connection_gone(index, now);
    }

    /// Asks the driver to close `index`'s connection, if any, after the
    /// bytes already queued for it; the link's state is left to the caller.
    fn close(&mut self, index: usize) {
        let link = &mut self.links[index];
        let Some(conn) = link.conn_id() else {
            return;
        };
        if let Some(up) = link.up_mut()
            && !up.output.is_empty()
        {
            self.final_transmits.push_back(Transmit {
                conn,
                data: up.output.split().freeze(),
            });
        }
        self.actions.push_back(ConnAction::Close { conn });
    }

    /// `index`'s connect failed: the caller is told why, and a reconnect is
    /// scheduled as for any lost connection.
    fn connect_failed(&mut self, index: usize, error: ConnectError, now: Instant) {
        if matches!(self.links[index].state, LinkState::Connecting { .. }) {
            self.events.push_back(WorkerEvent::ConnectFailed {
                server: ServerId(self.links[index].server),
                error,
            });
        }
        self.connection_gone(index, now);
    }

    /// `index`'s connection is gone (whoever closed it): its jobs are lost,
    /// its grab is void, and a reconnect is scheduled unless shutting down.
    fn connection_gone(&mut self, index: usize, now: Instant) {
        let link = &mut self.links[index];
        let was_up = match std::mem::replace(&mut link.state, LinkState::Down { retry_at: None }) {
            // Its grab, if any, goes with it.
            LinkState::Up(_) => true,
            LinkState::Connecting { .. } => false,
            LinkState::Down { retry_at } => {
                link.state = LinkState::Down { retry_at };
                return;
            }
        };
        if self.shutdown == Shutdown::Running {
            let delay = link.backoff.next_delay();
            link.state = LinkState::Down {
                retry_at: Some(deadline_after(now, delay)),
            };
            tracing::debug!(server = %link.addr, ?delay, "reconnecting after backoff");
        }
        if was_up {
            self.events.push_back(WorkerEvent::Disconnected {
                server: ServerId(self.links[index].server),
            });
            let mut lost: Vec<AssignmentId> = self
                .jobs
                .iter()
                .filter(|(_, job)| job.server == index)
                .map(|(id, _)| *id)
                .collect();
            // Deterministic event order whatever the map's iteration order.
            lost.sort_unstable();
            for id in lost {
                self.jobs.remove(&id);
                self.lost.insert(id);
                self.events.push_back(WorkerEvent::JobLost { id });
            }
        }
        self.finish_shutdown_if_idle();
    }

    /// Sends grabs on idle connections while slots are free, round robin;
    /// while shutting down, finishes the shutdown once nothing is left.
    fn pump(&mut self) {
        if self.shutdown != Shutdown::Running {
            self.finish_shutdown_if_idle();
            return;
        }
        if self.abilities.is_empty() {
            return;
        }
        let servers = self.links.len();
        let mut searched = 0;
        // Counted once, then kept by this loop: only it starts grabs.
        let mut busy = self.grabs_outstanding() + self.jobs.len();
        while busy < self.limit && searched < servers {
            let index = self.rotation % servers;
            self.rotation = (index + 1) % servers;
            searched += 1;
            let lone = busy == 0;
            if self.links[index].grab_step(GrabEvent::SlotFree { lone }, false)
                == GrabOutcome::Moved
            {
                busy += 1;
                searched = 0;
            }
        }
    }

    fn finish_shutdown_if_idle(&mut self) {
        if !matches!(self.shutdown, Shutdown::Draining { .. })
            || self.grabs_outstanding() > 0
            || !self.jobs.is_empty()
        {
            return;
        }
        for index in 0..self.links.len() {
            self.close(index);
            self.links[index].state = LinkState::Down { retry_at: None };
        }
        self.shutdown = Shutdown::Done;
        self.events.push_back(WorkerEvent::ShutdownComplete);
    }
}

impl Endpoint for Worker {
    fn output_limits(&self) -> crate::endpoint::OutputLimits {
        self.config.output_limits()
    }

    fn handle_connected(&mut self, conn: ConnId, now: Instant) {
        Worker::handle_connected(self, conn, now);
    }

    fn handle_input(&mut self, conn: ConnId, data: &[u8], now: Instant) {
        Worker::handle_input(self, conn, data, now);
    }

    fn handle_disconnected(&mut self, conn: ConnId, now: Instant) {
        Worker::handle_disconnected(self, conn, now);
    }

    fn handle_connect_failed(&mut self, conn: ConnId, error: ConnectError, now: Instant) {
        Worker::handle_connect_failed(self, conn, error, now);
    }

    fn handle_timeout(&mut self, now: Instant) {
        Worker::handle_timeout(self, now);
    }

    fn poll_action(&mut self) -> Option<ConnAction> {
        Worker::poll_action(self)
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        Worker::poll_transmit(self)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        Worker::poll_timeout(self)
    }
}

fn check_function(function: &[u8]) -> Result<(), WorkerError> {
    if function.is_empty() || function.contains(&0) {
        return Err(WorkerError::InvalidFunction(Bytes::copy_from_slice(
            function,
        )));
    }
    Ok(())
}

fn send_ability(conn: &mut Connection, function: &[u8], timeout: Option<Duration>) {
    match timeout {
        None => send(conn, Command::CanDo, &[function]),
        Some(timeout) => {
            let millis = Decimal::new(u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX));
            send(conn, Command::CanDoTimeout, &[function, millis.as_bytes()]);
        }
    }
}

/// Appends a packet to the connection's output.
fn send(conn: &mut Connection, command: Command, fields: &[&[u8]]) {
    encode_fields(&mut conn.output, command, fields).expect(
        "worker packets have the command's field count, and only their last field \
         can hold caller bytes; handles and function names come NUL-free",
    );
}
