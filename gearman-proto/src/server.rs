//! The embedded job server: a sans-IO state machine that serves any number
//! of client, worker and admin connections the way gearmand 1.1 does.
//!
//! The driver owns the listener and the sockets. It calls
//! [`Server::accept`] for each new connection, feeds what it reads to
//! [`Server::handle_input`], reports closed sockets with
//! [`Server::handle_disconnected`], and calls [`Server::handle_timeout`] when
//! the instant from [`Server::poll_timeout`] has come. The rest is
//! [the run loop](crate#the-run-loop) every state machine shares:
//! [`Server::poll_action`] only closes connections, and
//! [`Server::poll_event`] reports shutdown requests.
//!
//! # Time
//!
//! Monotonic time is the `now: Instant` argument of every input, as for the
//! other state machines. `SUBMIT_JOB_EPOCH` names a wall-clock instant
//! (Unix seconds), so the server also needs to know how the two clocks line
//! up: the driver calls [`Server::set_wall_clock`] with the current Unix time
//! and the matching `Instant` (once at start, and again now and then if it
//! cares about clock adjustments). An epoch job's due time is turned into an
//! `Instant` when it is submitted and then follows monotonic time. Until the
//! wall clock has been set, epoch jobs run at once.
//!
//! # Behaviour
//!
//! Replies and forwarded packets follow gearmand 1.1 byte for byte. Where
//! gearmand has edge-case bugs this server chooses the evident intent:
//!
//! * a background job never becomes "ignored" because a foreground client
//!   that had coalesced onto it went away, and a background submit that
//!   coalesces onto a foreground job makes it a background job;
//! * a submit that coalesces onto a job abandoned by all its clients revives
//!   it instead of attaching to a job that will be discarded;
//! * `cancel job` frees the job's (function, unique) at once, so a new submit
//!   creates a new job, and detaches the clients it sent WORK_FAIL to, so a
//!   running job's later result does not reach them a second time;
//! * a worker's job lost to disconnect, `CAN_DO_TIMEOUT`, `CANT_DO` or
//!   `RESET_ABILITIES` is queued again at the back of its priority (up to
//!   [`ServerConfig::job_retries`]), as in gearmand;
//! * workers are served high before normal before low across all their
//!   functions, first in first out within one function and priority; among
//!   functions of equal priority the most recently registered comes first,
//!   and with [`ServerConfig::round_robin`] the function that supplied a
//!   job moves to the back of that worker's list (gearmand 1.1.20's order);
//! * SUBMIT_JOB_EPOCH jobs wake sleeping workers when they become due.
//!
//! # Limits and memory
//!
//! Nothing a peer sends can make the server panic or grow without bound on
//! its behalf:
//!
//! * a frame is refused before it is buffered when its declared size is over
//!   [`ServerConfig::max_packet_size`], or an admin line is longer than
//!   [`ServerConfig::max_line_len`]; the connection is closed (gearmand
//!   answers garbage the same way), as it is for an unknown magic, type 0 or
//!   a type over 42, a packet with too few fields, a sixth admin token, and
//!   requests gearmand drops without an answer (a status query argument
//!   over 63 bytes, an overflowing SUBMIT_JOB_EPOCH time): closing makes the
//!   client's pending request fail at once instead of shifting its replies;
//!   and a WORK_STATUS denominator over 11 characters, as gearmand does;
//! * a `\0RES` packet of a response type gets `ERROR INVALID_MAGIC` (of a
//!   request-only type it closes the connection, as in gearmand); an unused
//!   or response-only type number sent as a request, `ALL_YOURS` and
//!   `SUBMIT_JOB_SCHED` get `ERROR INVALID_COMMAND`; the connection stays
//!   open;
//! * a frame begun and not finished in time closes its connection
//!   ([`ServerConfig::frame_timeout`], 30 s by default, extended for large
//!   frames that keep arriving at [`MIN_FRAME_RATE`](crate::MIN_FRAME_RATE));
//!   an idle connection stays open however long it is silent, and a read
//!   buffer grows with the bytes received, never ahead to a declared size;
//! * output the driver has not taken yet is capped per connection by
//!   [`ServerConfig::max_pending_output`]; a connection over it is closed;
//! * registrations per connection are capped by
//!   [`ServerConfig::max_abilities_per_connection`], unique ids, function
//!   names and client ids by their own limits;
//! * the number of queued jobs is bounded only by `maxqueue` per function
//!   (unlimited by default, as in gearmand).
//!
//! A closed connection never affects another one: its jobs are requeued and
//! its submits detached exactly as if the peer had hung up.
//!
//! # Example: driving the server from one's own event loop
//!
//! ```no_run
//! use std::time::{Instant, SystemTime, UNIX_EPOCH};
//! use gearman_proto::server::{Server, ServerConfig, ServerEvent};
//! use gearman_proto::ConnAction;
//!
//! # fn read_socket() -> Option<(u64, Vec<u8>)> { None }
//! # fn write_socket(_conn: u64, _bytes: &[u8]) {}
//! # fn close_socket(_conn: u64) {}
//! let mut config = ServerConfig::new("myhost");
//! config.pid = std::process::id();
//! let mut server = Server::new(config);
//! let now = Instant::now();
//! server.set_wall_clock(SystemTime::now().duration_since(UNIX_EPOCH).unwrap(), now);
//!
//! // A listener accepted a socket:
//! let conn = server.accept("10.0.0.5:51234", now);
//! # let _ = conn;
//! loop {
//!     // Feed whatever happened: bytes read, sockets closed, or the deadline.
//!     let now = Instant::now();
//!     if let Some((id, bytes)) = read_socket() {
//!         server.handle_input(gearman_proto::ConnId(id), &bytes, now);
//!     }
//!     if server.poll_timeout().is_some_and(|due| due <= now) {
//!         server.handle_timeout(now);
//!     }
//!     // Then drain in the crate's order: transmits, actions, events.
//!     while let Some(transmit) = server.poll_transmit() {
//!         write_socket(transmit.conn.0, &transmit.data);
//!     }
//!     while let Some(action) = server.poll_action() {
//!         if let ConnAction::Close { conn } = action {
//!             close_socket(conn.0);
//!         }
//!     }
//!     while let Some(event) = server.poll_event() {
//!         if let ServerEvent::Shutdown { .. } = event {
//!             return;
//!         }
//!     }
//!     // Sleep until a socket is readable or `server.poll_timeout()`.
//! }
//! ```

mod admin_commands;
mod builder;
mod config;
mod connection;
mod function;
mod job;
mod serving;
mod wire;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use crate::endpoint::{ConnAction, ConnId, Endpoint, Transmit};
use crate::packet::Decoder;
use crate::packet::{Command, Field, Magic};
use crate::packet::{HEADER_LEN, Packet};
use crate::time::deadline_after;

pub use config::{DEFAULT_HANDSHAKE_TIMEOUT, ServerConfig, VerboseLevel};
pub use serving::Serving;

use crate::decimal::Decimal;
use crate::fast_map::FastMap;
use connection::{Ability, Connection, remove_one};
use function::{FunctionId, Functions, PRIORITIES, priority_index};
use job::{Coalesce, Job, JobBytes, JobKey, JobSlab, JobState, Listeners};
use wire::{atoi_u32, c_str, put, put_error, put_fail_with_nul, strtoll};

/// Payloads up to this size are copied into the job's own allocation (with
/// its handle: one allocation per job), so a small queued job never pins a
/// whole read buffer; larger ones stay zero-copy slices of their frame.
const INLINE_PAYLOAD_MAX: usize = 16 * 1024;

/// Handles, and the handle and unique arguments of status queries, are
/// limited to 63 bytes in gearmand; a longer one closes the connection.
const MAX_HANDLE_LEN: usize = 63;

/// Timer heap size below which stale entries are never swept.
const MIN_TIMER_COMPACTION: usize = 1024;

/// gearmand's limit on an `OPTION_REQ` name (63 bytes plus NUL).
const MAX_OPTION_LEN: usize = 63;

/// Something the server asks its driver to do beyond moving bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerEvent {
    /// An admin connection sent `shutdown` (`graceful: false`) or
    /// `shutdown graceful`. gearmand before 1.1.15 stopped at once, or
    /// stopped accepting and exited once [`Server::job_count`] reached zero.
    Shutdown {
        /// Whether running and queued jobs should be allowed to finish.
        graceful: bool,
    },
}

/// Counters for observability, from [`Server::stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerStats {
    /// Open connections.
    pub connections: usize,
    /// Known function names.
    pub functions: usize,
    /// Live jobs (queued, scheduled or running).
    pub jobs: usize,
    /// Live jobs assigned to a worker.
    pub jobs_running: usize,
    /// Bytes allocated for unfinished input over all connections (read
    /// buffers' capacity): it grows with what peers sent, not with the
    /// sizes their headers declare.
    pub input_allocated: usize,
    /// Jobs created since start.
    pub jobs_created: u64,
    /// Submits that attached to an existing job.
    pub jobs_coalesced: u64,
    /// Jobs ended by WORK_COMPLETE.
    pub jobs_completed: u64,
    /// Jobs ended by WORK_FAIL or WORK_EXCEPTION from their worker.
    pub jobs_failed: u64,
    /// Jobs queued again after losing their worker.
    pub jobs_requeued: u64,
    /// Jobs dropped at the retry limit (their clients got WORK_FAIL).
    pub jobs_dropped: u64,
    /// Jobs cancelled by `cancel job` or discarded because no client waited.
    pub jobs_discarded: u64,
    /// Binary packets and admin lines processed.
    pub frames_received: u64,
    /// Connections closed by the server because of what they sent.
    pub connections_rejected: u64,
}

/// Timers kept in one heap; entries are checked against the live state when
/// they fire, so a stale entry is harmless.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    WorkerTimeout(ConnId),
    Epoch(JobKey),
    /// The earliest moment the connection's unfinished frame may be overdue.
    Frame(ConnId),
}

/// Which grab a worker sent, which decides the assignment packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GrabKind {
    Plain,
    Uniq,
    All,
}

/// Connections and the bookkeeping of their output.
#[derive(Debug, Default)]
struct Peers {
    map: FastMap<ConnId, Connection>,
    /// Connections whose output is waiting for `poll_transmit`.
    listed: VecDeque<ConnId>,
}

impl Peers {
    /// The output buffer of `id`, listed for `poll_transmit`.
    #[inline]
    fn out(&mut self, id: ConnId) -> Option<&mut BytesMut> {
        let conn = self.map.get_mut(&id)?;
        if !conn.output_listed {
            conn.output_listed = true;
            self.listed.push_back(id);
        }
        Some(&mut conn.output)
    }
}

/// The job server state machine. See the [module docs](self) for the run loop.
#[derive(Debug)]
pub struct Server {
    config: ServerConfig,
    peers: Peers,
    next_conn: u64,
    jobs: JobSlab,
    /// Live jobs by the number at the end of their handle.
    by_handle: FastMap<u64, JobKey>,
    /// Where a new handle is written before it is copied into its job.
    scratch: Vec<u8>,
    functions: Functions,
    next_handle: u64,
    timers: BinaryHeap<Reverse<(Instant, Timer)>>,
    timers_compact_at: usize,
    scheduled: usize,
    final_transmits: VecDeque<Transmit>,
    closes: VecDeque<ConnId>,
    events: VecDeque<ServerEvent>,
    stats: ServerStats,
    wall_clock: Option<(Instant, Duration)>,
}

impl Server {
    /// A server with no connections and no jobs.
    pub fn new(mut config: ServerConfig) -> Server {
        if config.job_handle_prefix.contains('\0') {
            tracing::warn!("NUL bytes removed from the job handle prefix");
            config.job_handle_prefix.retain(|c| c != '\0');
        }
        Server {
            peers: Peers::default(),
            config,
            next_conn: 1,
            jobs: JobSlab::default(),
            by_handle: FastMap::default(),
            scratch: Vec::new(),
            functions: Functions::default(),
            next_handle: 1,
            timers: BinaryHeap::new(),
            timers_compact_at: MIN_TIMER_COMPACTION,
            scheduled: 0,
            final_transmits: VecDeque::new(),
            closes: VecDeque::new(),
            events: VecDeque::new(),
            stats: ServerStats::default(),
            wall_clock: None,
        }
    }

    /// The configuration the server runs with.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Registers a newly accepted connection and returns its id. `peer` is
    /// the remote address as `ip:port` (shown by the admin `workers`
    /// command, which also shows the id's number as gearmand shows the fd).
    pub fn accept(&mut self, peer: impl Into<String>, now: Instant) -> ConnId {
        let _ = now;
        let id = ConnId(self.next_conn);
        self.next_conn += 1;
        let peer = peer.into();
        let decoder = Decoder::new()
            .with_max_packet_size(self.config.max_packet_size)
            .with_max_line_len(self.config.max_line_len);
        tracing::debug!(%id, %peer, "connection accepted");
        self.peers.map.insert(
            id,
            Connection::new(&peer, decoder, self.config.exceptions_by_default),
        );
        id
    }

    /// Tells the server the current wall-clock time as a duration since the
    /// Unix epoch, together with the `Instant` it corresponds to. Used only
    /// to place `SUBMIT_JOB_EPOCH` jobs on the monotonic clock.
    pub fn set_wall_clock(&mut self, unix_time: Duration, now: Instant) {
        self.wall_clock = Some((now, unix_time));
    }

    /// Bytes read from `conn`. Unknown ids (already closed) are ignored.
    pub fn handle_input(&mut self, conn: ConnId, data: &[u8], now: Instant) {
        let Some(c) = self.peers.map.get_mut(&conn) else {
            return;
        };
        let unconsumed = c.input.len() + data.len();
        c.input.extend_from_slice(data);
        self.process_input(conn, now);
        self.watch_frame(conn, unconsumed, now);
        self.close_overflowed(now);
    }

    /// `conn` was closed by the peer or failed. Its jobs are requeued and its
    /// foreground submits detached; nothing is sent back.
    pub fn handle_disconnected(&mut self, conn: ConnId, now: Instant) {
        if self.remove_connection(conn, now).is_some() {
            tracing::debug!(%conn, "connection closed by peer");
        }
        self.close_overflowed(now);
    }

    /// Runs what is due at `now`: CAN_DO_TIMEOUT expiries and epoch jobs
    /// whose time has come. Harmless when called early or twice.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&Reverse((due, timer))) = self.timers.peek() {
            if due > now {
                break;
            }
            self.timers.pop();
            match timer {
                Timer::WorkerTimeout(conn) => self.worker_timed_out(conn, now),
                Timer::Epoch(key) => self.epoch_due(key, now),
                Timer::Frame(conn) => self.frame_due(conn, due, now),
            }
        }
        self.close_overflowed(now);
    }

    /// The next connection to close. Only [`ConnAction::Close`] is produced,
    /// after the connection's last bytes were handed out by
    /// [`poll_transmit`](Server::poll_transmit).
    pub fn poll_action(&mut self) -> Option<ConnAction> {
        if !self.final_transmits.is_empty() {
            return None;
        }
        self.closes
            .pop_front()
            .map(|conn| ConnAction::Close { conn })
    }

    /// The next bytes to write: everything queued for one connection.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        if let Some(t) = self.final_transmits.pop_front() {
            return Some(t);
        }
        while let Some(id) = self.peers.listed.pop_front() {
            let Some(c) = self.peers.map.get_mut(&id) else {
                continue;
            };
            c.output_listed = false;
            if !c.output.is_empty() {
                return Some(Transmit {
                    conn: id,
                    data: c.output.split().freeze(),
                });
            }
        }
        None
    }

    /// When [`handle_timeout`](Server::handle_timeout) should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((due, _))| *due)
    }

    /// The next event for the driver (admin `shutdown`). It waits until
    /// every byte and close queued before it was handed out, so the `OK`
    /// that answers `shutdown` is out when the driver stops, in any drain order.
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        if self.events.is_empty() || self.has_pending_output() {
            return None;
        }
        self.events.pop_front()
    }

    /// Whether [`poll_transmit`](Server::poll_transmit) or
    /// [`poll_action`](Server::poll_action) still has something.
    fn has_pending_output(&self) -> bool {
        !self.final_transmits.is_empty()
            || !self.closes.is_empty()
            || self
                .peers
                .listed
                .iter()
                .any(|id| self.peers.map.get(id).is_some_and(|c| !c.output.is_empty()))
    }

    /// Live jobs: queued, scheduled or running.
    pub fn job_count(&self) -> usize {
        self.jobs.len()
    }

    /// Open connections.
    pub fn connection_count(&self) -> usize {
        self.peers.map.len()
    }

    /// Counters since start, plus the current sizes.
    pub fn stats(&self) -> ServerStats {
        ServerStats {
            connections: self.peers.map.len(),
            functions: self.functions.len(),
            jobs: self.jobs.len(),
            jobs_running: self.functions.iter().map(|(_, f)| f.running as usize).sum(),
            input_allocated: self.peers.map.values().map(|c| c.input.capacity()).sum(),
            ..self.stats
        }
    }

    /// Whether every connection holding part of a frame has its frame clock
    /// running and a timer due no later than the frame's deadline (checked
    /// by the fuzz invariants).
    #[cfg(feature = "fuzzing")]
    pub(crate) fn frame_timers_armed(&self) -> bool {
        let timeout = self.config.frame_timeout;
        self.peers.map.values().all(|c| {
            let started = c.input.is_empty() || c.frame.started().is_some();
            let armed = c
                .frame
                .deadline(c.input.len(), timeout)
                .is_none_or(|deadline| c.frame_timer.is_some_and(|at| at <= deadline));
            started && armed
        })
    }

    // ----- input -----------------------------------------------------------

    fn process_input(&mut self, conn: ConnId, now: Instant) {
        loop {
            let max = self.config.max_packet_size;
            let Some(c) = self.peers.map.get_mut(&conn) else {
                return;
            };
            match foreign_packet(&c.input, max) {
                Foreign::No => {}
                Foreign::Incomplete => return,
                Foreign::Complete { magic, total } => {
                    let _ = c.input.split_to(total);
                    self.stats.frames_received += 1;
                    self.reply_bad_type(conn, magic);
                    continue;
                }
            }
            let frame = match c.decoder.decode_frame(&mut c.input) {
                Ok(Some(frame)) => frame,
                Ok(None) => return,
                Err(err) => {
                    tracing::debug!(%conn, %err, "closing connection: undecodable input");
                    self.reject(conn, now);
                    return;
                }
            };
            self.stats.frames_received += 1;
            match frame {
                crate::packet::Frame::Packet(packet) => self.handle_packet(conn, packet, now),
                crate::packet::Frame::Text(line) => self.handle_admin_line(conn, &line, now),
            }
            // A peer that pipelines requests without reading the replies
            // stops here rather than growing its output without bound.
            let max = self.config.max_pending_output;
            if self
                .peers
                .map
                .get(&conn)
                .is_some_and(|c| c.output.len() > max)
            {
                tracing::debug!(%conn, "closing connection: output not drained");
                return self.reject(conn, now);
            }
        }
    }

    fn reply_bad_type(&mut self, conn: ConnId, magic: Magic) {
        if let Some(out) = self.peers.out(conn) {
            match magic {
                Magic::Res => put_error(out, "INVALID_MAGIC", "Request magic expected"),
                Magic::Req => put_error(out, "INVALID_COMMAND", "Command not expected"),
            }
        }
    }

    fn handle_packet(&mut self, conn: ConnId, p: Packet, now: Instant) {
        use Command::*;
        match p.command() {
            EchoReq => {
                let data = p.data().unwrap_or_default();
                if let Some(out) = self.peers.out(conn) {
                    put(out, EchoRes, &[data]);
                }
            }
            SubmitJob
            | SubmitJobBg
            | SubmitJobHigh
            | SubmitJobHighBg
            | SubmitJobLow
            | SubmitJobLowBg
            | SubmitJobEpoch
            | SubmitReduceJob
            | SubmitReduceJobBackground => self.submit(conn, &p, now),
            GrabJob => self.grab(conn, GrabKind::Plain, now),
            GrabJobUniq => self.grab(conn, GrabKind::Uniq, now),
            GrabJobAll => self.grab(conn, GrabKind::All, now),
            PreSleep => self.pre_sleep(conn),
            WorkDataReq | WorkWarningReq | WorkStatusReq | WorkCompleteReq | WorkFailReq
            | WorkExceptionReq => self.work_update(conn, &p, now),
            CanDo => {
                let name = p.function().unwrap_or_default();
                self.can_do(conn, name, None, now);
            }
            CanDoTimeout => {
                let name = p.function().unwrap_or_default();
                let text = p.field(Field::Timeout).unwrap_or_default();
                self.can_do(conn, name, parse_can_do_timeout(text), now);
            }
            CantDo => {
                let name = p.function().unwrap_or_default();
                if let Some(fid) = self.functions.lookup(name) {
                    self.remove_abilities(conn, Some(fid), now);
                }
            }
            ResetAbilities => self.remove_abilities(conn, None, now),
            SetClientId => {
                let id = p.field(Field::ClientId).unwrap_or_default();
                let id = &id[..id.len().min(self.config.max_client_id_len)];
                if let Some(c) = self.peers.map.get_mut(&conn) {
                    c.client_id = Bytes::copy_from_slice(id);
                }
            }
            OptionReq => self.option(conn, &p),
            GetStatus => self.get_status(conn, &p, now),
            GetStatusUnique => self.get_status_unique(conn, &p, now),
            AllYours | SubmitJobSched => {
                if let Some(out) = self.peers.out(conn) {
                    put_error(out, "INVALID_COMMAND", "Command not expected");
                }
            }
            other => self.reply_bad_type(conn, other.magic()),
        }
    }

    // ----- clients ---------------------------------------------------------

    fn submit(&mut self, conn: ConnId, p: &Packet, now: Instant) {
        let command = p.command();
        let Some((priority, background)) = command.submit_kind() else {
            return;
        };
        let function = p.function().unwrap_or_default();
        let unique = p.unique().unwrap_or_default();
        let reducer = p.field(Field::Reducer).unwrap_or_default();
        let data = p.data().unwrap_or_default();

        // gearmand checks the reducer of a reduce submit against the unique
        // id limit too (with the unique's error text).
        if unique.len() > self.config.max_unique_len || reducer.len() > self.config.max_unique_len {
            return self.reply_error(conn, "ARGUMENT_TOO_LARGE", "Unique value too large");
        }
        if function.len() > self.config.max_function_len
            || reducer.len() > self.config.max_function_len
        {
            return self.reply_error(conn, "ARGUMENT_TOO_LARGE", "Function name too large");
        }
        let due = match p.field(Field::Epoch) {
            None => None,
            Some(text) => match strtoll(text) {
                Some(epoch) => self.epoch_instant(epoch, now),
                None => {
                    tracing::debug!(%conn, "closing connection: SUBMIT_JOB_EPOCH time overflows");
                    return self.reject(conn, now);
                }
            },
        };

        let fid = self
            .functions
            .find_or_create(&p.field_bytes(Field::Function).unwrap_or_default());
        let coalesce = match unique {
            b"" => Coalesce::Never,
            b"-" if data.is_empty() => Coalesce::Never,
            b"-" => Coalesce::ByPayload,
            _ => Coalesce::ByUnique,
        };
        let f = self.functions.get(fid);
        let existing = match coalesce {
            Coalesce::Never => None,
            Coalesce::ByUnique => f.by_unique.get(unique).copied(),
            Coalesce::ByPayload => f.by_payload.get(data).copied(),
        };
        if let Some(key) = existing {
            if let Some(job) = self.jobs.get_mut(key) {
                if !background {
                    job.listeners.push(conn);
                    if let Some(c) = self.peers.map.get_mut(&conn) {
                        c.listening.push_back(key);
                    }
                } else if !job.background {
                    // Someone now wants the job whether or not its foreground
                    // clients stay (gearmand would still drop it with them).
                    job.background = true;
                    job.persisted = true;
                }
                job.ignored = false;
                self.stats.jobs_coalesced += 1;
                if let Some(out) = self.peers.out(conn) {
                    put(out, Command::JobCreated, &[job.bytes.handle()]);
                }
                return;
            }
        }

        let pi = priority_index(priority);
        let f = self.functions.get(fid);
        let limit = f.max_queue[pi];
        if limit > 0 && f.total() >= limit {
            return self.reply_error(conn, "QUEUE_ERROR", "Job queue is full");
        }
        let number = self.next_handle;
        self.next_handle += 1;
        self.scratch.clear();
        self.scratch
            .extend_from_slice(self.config.job_handle_prefix.as_bytes());
        self.scratch.push(b':');
        self.scratch
            .extend_from_slice(Decimal::new(number).as_bytes());
        let bytes = JobBytes::new(
            &self.scratch,
            p.payload(),
            INLINE_PAYLOAD_MAX,
            unique,
            reducer,
            data,
        );
        let state = match due {
            Some(at) if at > now => JobState::Scheduled(at),
            _ => JobState::Queued,
        };
        let key = self.jobs.insert(Job {
            bytes,
            number,
            function: fid,
            priority,
            background,
            coalesce,
            state,
            listeners: if background {
                Listeners::None
            } else {
                Listeners::One(conn)
            },
            retries: 0,
            ignored: false,
            cancelled: false,
            persisted: background,
            numerator: 0,
            denominator: 0,
        });
        self.stats.jobs_created += 1;
        self.by_handle.insert(number, key);
        let f = self.functions.get_mut(fid);
        match coalesce {
            Coalesce::Never => {}
            Coalesce::ByUnique => {
                f.by_unique.insert(Bytes::copy_from_slice(unique), key);
            }
            Coalesce::ByPayload => {
                let job = self.jobs.get(key).expect("just inserted");
                f.by_payload.insert(job.bytes.data_key(), key);
            }
        }
        if !background {
            if let Some(c) = self.peers.map.get_mut(&conn) {
                c.listening.push_back(key);
            }
        }
        let f = self.functions.get_mut(fid);
        f.queued[pi] += 1;
        match state {
            JobState::Scheduled(at) => {
                self.scheduled += 1;
                self.push_timer(at, Timer::Epoch(key));
            }
            _ => {
                f.queues[pi].push_back(key);
                self.wake_workers(fid);
            }
        }
        if let (Some(out), Some(job)) = (self.peers.out(conn), self.jobs.get(key)) {
            put(out, Command::JobCreated, &[job.bytes.handle()]);
        }
    }

    fn epoch_instant(&self, epoch: i64, now: Instant) -> Option<Instant> {
        let (anchor, unix) = self.wall_clock?;
        let epoch = Duration::from_secs(u64::try_from(epoch).ok()?);
        let ahead = epoch.checked_sub(unix)?;
        let due = deadline_after(anchor, ahead);
        (due > now).then_some(due)
    }

    fn get_status(&mut self, conn: ConnId, p: &Packet, now: Instant) {
        let handle = c_str(p.handle().unwrap_or_default());
        if handle.len() > MAX_HANDLE_LEN {
            tracing::debug!(%conn, "closing connection: GET_STATUS handle too long");
            return self.reject(conn, now);
        }
        let job = self.job_by_handle(handle).and_then(|k| self.jobs.get(k));
        let Some(out) = self.peers.out(conn) else {
            return;
        };
        match job {
            Some(job) => {
                let running: &[u8] = if matches!(job.state, JobState::Running(_)) {
                    b"1"
                } else {
                    b"0"
                };
                let num = Decimal::new(job.numerator.into());
                let den = Decimal::new(job.denominator.into());
                put(
                    out,
                    Command::StatusRes,
                    &[handle, b"1", running, num.as_bytes(), den.as_bytes()],
                );
            }
            None => put(out, Command::StatusRes, &[handle, b"0", b"0", b"0", b"0"]),
        }
    }

    fn get_status_unique(&mut self, conn: ConnId, p: &Packet, now: Instant) {
        let unique = c_str(p.unique().unwrap_or_default());
        if unique.len() > MAX_HANDLE_LEN {
            tracing::debug!(%conn, "closing connection: GET_STATUS_UNIQUE unique too long");
            return self.reject(conn, now);
        }
        let job = self
            .functions
            .iter()
            .find_map(|(_, f)| f.by_unique.get(unique))
            .and_then(|&k| self.jobs.get(k));
        let Some(out) = self.peers.out(conn) else {
            return;
        };
        match job {
            Some(job) => {
                let running: &[u8] = if matches!(job.state, JobState::Running(_)) {
                    b"1"
                } else {
                    b"0"
                };
                let num = Decimal::new(job.numerator.into());
                let den = Decimal::new(job.denominator.into());
                let clients = Decimal::new(job.listeners.len() as u64);
                put(
                    out,
                    Command::StatusResUnique,
                    &[
                        unique,
                        b"1",
                        running,
                        num.as_bytes(),
                        den.as_bytes(),
                        clients.as_bytes(),
                    ],
                );
            }
            None => put(
                out,
                Command::StatusResUnique,
                &[unique, b"0", b"0", b"0", b"0", b"0"],
            ),
        }
    }

    fn option(&mut self, conn: ConnId, p: &Packet) {
        let name = p.field(Field::OptionName).unwrap_or_default();
        // gearmand reads the option as a C string, then echoes all of it.
        let known = name.len() <= MAX_OPTION_LEN && c_str(name).eq_ignore_ascii_case(b"exceptions");
        let Some(c) = self.peers.map.get_mut(&conn) else {
            return;
        };
        if known {
            c.exceptions = true;
        }
        let Some(out) = self.peers.out(conn) else {
            return;
        };
        if known {
            put(out, Command::OptionRes, &[name]);
        } else {
            put_error(
                out,
                "UNKNOWN_OPTION",
                "Server does not recognize given option",
            );
        }
    }

    fn reply_error(&mut self, conn: ConnId, code: &str, text: &str) {
        if let Some(out) = self.peers.out(conn) {
            put_error(out, code, text);
        }
    }

    // ----- workers ---------------------------------------------------------

    fn can_do(&mut self, conn: ConnId, name: &[u8], timeout: Option<Duration>, now: Instant) {
        let max_abilities = self.config.max_abilities_per_connection;
        if name.len() > self.config.max_function_len {
            tracing::debug!(%conn, "closing connection: function name too long");
            return self.reject(conn, now);
        }
        let Some(c) = self.peers.map.get(&conn) else {
            return;
        };
        if c.abilities.len() >= max_abilities {
            tracing::debug!(%conn, "closing connection: too many CAN_DO");
            return self.reject(conn, now);
        }
        let fid = self.functions.find_or_create(&Bytes::copy_from_slice(name));
        self.functions.get_mut(fid).workers.push(conn);
        if let Some(c) = self.peers.map.get_mut(&conn) {
            // gearmand keeps the newest registration first: `workers` lists
            // them that way and grabs look at them in that order.
            c.abilities.push_front(Ability {
                function: fid,
                timeout,
            });
        }
    }

    /// CANT_DO (`Some(function)`) or RESET_ABILITIES (`None`): drops the
    /// registrations and requeues the connection's running jobs of those
    /// functions, as gearmand does.
    fn remove_abilities(&mut self, conn: ConnId, only: Option<FunctionId>, now: Instant) {
        let Some(c) = self.peers.map.get_mut(&conn) else {
            return;
        };
        let mut removed = Vec::new();
        c.abilities.retain(|a| {
            let hit = only.is_none_or(|f| f == a.function);
            if hit && !removed.contains(&a.function) {
                removed.push(a.function);
            }
            !hit
        });
        let lost: Vec<JobKey> = c
            .running
            .iter()
            .copied()
            .filter(|&k| {
                self.jobs
                    .get(k)
                    .is_some_and(|j| removed.contains(&j.function))
            })
            .collect();
        for fid in removed {
            self.functions.get_mut(fid).workers.retain(|&w| w != conn);
        }
        for key in lost {
            if let Some(c) = self.peers.map.get_mut(&conn) {
                remove_one(&mut c.running, key);
            }
            self.job_lost(key, now);
        }
    }

    fn pre_sleep(&mut self, conn: ConnId) {
        let Some(c) = self.peers.map.get_mut(&conn) else {
            return;
        };
        let runnable = c
            .abilities
            .iter()
            .any(|a| self.functions.get(a.function).has_runnable());
        if runnable {
            c.noop_sent = true;
            if let Some(out) = self.peers.out(conn) {
                put(out, Command::Noop, &[]);
            }
        } else {
            c.sleeping = true;
            c.timer = None;
        }
    }

    fn grab(&mut self, conn: ConnId, kind: GrabKind, now: Instant) {
        let Some(c) = self.peers.map.get_mut(&conn) else {
            return;
        };
        c.sleeping = false;
        c.noop_sent = false;
        // Borrow the list out so the scan can touch jobs and functions freely.
        let mut abilities = std::mem::take(&mut c.abilities);
        let found = self.take_job(&abilities);
        let round_robin = self.config.round_robin;
        let assigned = found.map(|(key, at)| {
            let ability = abilities[at];
            if round_robin {
                // gearmand's --round-robin: the function that supplied the
                // job goes to the back of this worker's list.
                abilities.remove(at);
                abilities.push_back(ability);
            }
            (key, ability)
        });
        let Some(c) = self.peers.map.get_mut(&conn) else {
            return;
        };
        c.abilities = abilities;
        let Some((key, ability)) = assigned else {
            if let Some(out) = self.peers.out(conn) {
                put(out, Command::NoJob, &[]);
            }
            return;
        };
        c.running.push_back(key);
        // A timeout past what the clock can represent (a peer may send up to
        // i64::MAX ms) never fires rather than overflowing.
        if let Some(due) = ability.timeout.map(|timeout| deadline_after(now, timeout)) {
            c.timer = Some((due, key));
            self.push_timer(due, Timer::WorkerTimeout(conn));
        }
        let Some(job) = self.jobs.get_mut(key) else {
            return;
        };
        job.state = JobState::Running(conn);
        let f = self.functions.get_mut(job.function);
        f.running += 1;
        let fname = &f.name;
        let Some(out) = self.peers.out(conn) else {
            return;
        };
        match kind {
            GrabKind::Plain => put(
                out,
                Command::JobAssign,
                &[job.bytes.handle(), fname, job.bytes.data()],
            ),
            GrabKind::All if !job.bytes.reducer().is_empty() => put(
                out,
                Command::JobAssignAll,
                &[
                    job.bytes.handle(),
                    fname,
                    job.bytes.unique(),
                    job.bytes.reducer(),
                    job.bytes.data(),
                ],
            ),
            GrabKind::Uniq | GrabKind::All => put(
                out,
                Command::JobAssignUniq,
                &[
                    job.bytes.handle(),
                    fname,
                    job.bytes.unique(),
                    job.bytes.data(),
                ],
            ),
        }
    }

    /// Pops the next job for these abilities: high before normal before low,
    /// then registration order. Returns the job and the ability that matched.
    /// Ignored jobs met on the way are discarded.
    fn take_job(&mut self, abilities: &VecDeque<Ability>) -> Option<(JobKey, usize)> {
        for pi in 0..PRIORITIES.len() {
            for (at, ability) in abilities.iter().enumerate() {
                loop {
                    let f = self.functions.get_mut(ability.function);
                    let Some(key) = f.queues[pi].pop_front() else {
                        break;
                    };
                    let Some(job) = self.jobs.get(key) else {
                        continue;
                    };
                    f.queued[pi] -= 1;
                    if job.ignored {
                        self.finish(key);
                        self.stats.jobs_discarded += 1;
                        continue;
                    }
                    return Some((key, at));
                }
            }
        }
        None
    }

    /// NOOPs the function's sleeping workers that were not woken yet.
    fn wake_workers(&mut self, fid: FunctionId) {
        let limit = match self.config.worker_wakeup {
            0 => usize::MAX,
            n => n,
        };
        let f = self.functions.get_mut(fid);
        let n = f.workers.len();
        if n == 0 {
            return;
        }
        let start = f.wakeup_cursor % n;
        let mut woken = 0;
        for i in 0..n {
            let at = (start + i) % n;
            let id = f.workers[at];
            let Some(c) = self.peers.map.get_mut(&id) else {
                continue;
            };
            if !c.sleeping || c.noop_sent {
                continue;
            }
            c.noop_sent = true;
            if let Some(out) = self.peers.out(id) {
                put(out, Command::Noop, &[]);
            }
            woken += 1;
            if woken == limit {
                f.wakeup_cursor = at + 1;
                break;
            }
        }
    }

    fn work_update(&mut self, conn: ConnId, p: &Packet, now: Instant) {
        let command = p.command();
        // gearmand finds the job by the handle read as a C string, and
        // forwards the handle field exactly as the worker sent it.
        let handle = p.field(Field::Handle).unwrap_or_default();
        let key_handle = c_str(handle);
        if command == Command::WorkFailReq && handle.len() > MAX_HANDLE_LEN {
            return self.reply_error(
                conn,
                "ARGUMENT_TOO_LARGE",
                "Error occurred due to GEARMAND_JOB_HANDLE_SIZE being too small from snprintf",
            );
        }
        let owned = self.job_by_handle(key_handle).filter(|&k| {
            self.jobs
                .get(k)
                .is_some_and(|j| j.state == JobState::Running(conn))
        });
        let Some(key) = owned else {
            let text = match command {
                Command::WorkDataReq | Command::WorkWarningReq => "Job does not exist on server",
                Command::WorkExceptionReq => {
                    "An exception was received for a job that does not exist"
                }
                _ => "Job given in work result not found",
            };
            return self.reply_error(conn, "JOB_NOT_FOUND", text);
        };
        if command == Command::WorkStatusReq
            && p.field(Field::Denominator).unwrap_or_default().len() > 11
        {
            tracing::debug!(%conn, "closing connection: WORK_STATUS denominator too long");
            return self.reject(conn, now);
        }
        let job = self.jobs.get_mut(key).expect("ownership checked above");
        let data = p.data().unwrap_or_default();
        match command {
            Command::WorkStatusReq => {
                let num = p.field(Field::Numerator).unwrap_or_default();
                let den = p.field(Field::Denominator).unwrap_or_default();
                // gearmand keeps at most ten characters of each number.
                job.numerator = atoi_u32(&num[..num.len().min(10)]);
                job.denominator = atoi_u32(&den[..den.len().min(10)]);
                for &l in job.listeners.as_slice() {
                    if let Some(out) = self.peers.out(l) {
                        put(out, Command::WorkStatusRes, &[handle, num, den]);
                    }
                }
            }
            Command::WorkDataReq | Command::WorkWarningReq | Command::WorkCompleteReq => {
                let forward = command.reversed().expect("WORK_* exist both ways");
                for &l in job.listeners.as_slice() {
                    if let Some(out) = self.peers.out(l) {
                        put(out, forward, &[handle, data]);
                    }
                }
            }
            Command::WorkFailReq => {
                for &l in job.listeners.as_slice() {
                    if let Some(out) = self.peers.out(l) {
                        put(out, Command::WorkFailRes, &[handle]);
                    }
                }
            }
            Command::WorkExceptionReq => {
                for &l in job.listeners.as_slice() {
                    let wants = self.peers.map.get(&l).is_some_and(|c| c.exceptions);
                    if let Some(out) = self.peers.out(l) {
                        if wants {
                            put(out, Command::WorkExceptionRes, &[handle, data]);
                        } else {
                            put_fail_with_nul(out, key_handle);
                        }
                    }
                }
            }
            _ => {}
        }
        match command {
            Command::WorkCompleteReq => {
                self.stats.jobs_completed += 1;
                self.finish(key);
            }
            Command::WorkFailReq | Command::WorkExceptionReq => {
                self.stats.jobs_failed += 1;
                self.finish(key);
            }
            _ => {}
        }
    }

    // ----- job lifecycle ---------------------------------------------------

    /// Ends a job for good: unlinks it from every index and connection.
    fn finish(&mut self, key: JobKey) {
        let Some(job) = self.jobs.get(key) else {
            return;
        };
        if let JobState::Running(worker) = job.state {
            self.functions.get_mut(job.function).running -= 1;
            if let Some(c) = self.peers.map.get_mut(&worker) {
                remove_one(&mut c.running, key);
                if c.timer.is_some_and(|(_, k)| k == key) {
                    c.timer = None;
                }
            }
        }
        for &l in job.listeners.as_slice() {
            if let Some(c) = self.peers.map.get_mut(&l) {
                remove_one(&mut c.listening, key);
            }
        }
        self.forget(key);
    }

    /// Removes a job from the slab and the lookup maps. Counters of queues
    /// and connections are the caller's business.
    fn forget(&mut self, key: JobKey) {
        let Some(job) = self.jobs.remove(key) else {
            return;
        };
        self.by_handle.remove(&job.number);
        Self::unindex_coalescing(&mut self.functions, key, &job);
    }

    /// Frees the job's (function, unique) or (function, workload) so a new
    /// submit creates a new job.
    fn unindex_coalescing(functions: &mut Functions, key: JobKey, job: &Job) {
        let f = functions.get_mut(job.function);
        let field = match job.coalesce {
            Coalesce::Never => return,
            Coalesce::ByUnique => job.bytes.unique(),
            Coalesce::ByPayload => job.bytes.data(),
        };
        if let Some(map) = f.coalescing_map(job.coalesce) {
            if map.get(field) == Some(&key) {
                map.remove(field);
            }
        }
    }

    /// The live job with this handle.
    fn job_by_handle(&self, handle: &[u8]) -> Option<JobKey> {
        let number = handle
            .strip_prefix(self.config.job_handle_prefix.as_bytes())?
            .strip_prefix(b":")?;
        // Only the canonical spelling names a job: digits, no leading zero.
        if number.is_empty() || number.len() > 20 || number[0] == b'0' {
            return None;
        }
        let mut n: u64 = 0;
        for &b in number {
            if !b.is_ascii_digit() {
                return None;
            }
            n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
        }
        self.by_handle.get(&n).copied()
    }

    /// A running job lost its worker (disconnect, timeout, CANT_DO): queue it
    /// again, or drop it at the retry limit. The caller already removed it
    /// from the worker's running list.
    fn job_lost(&mut self, key: JobKey, now: Instant) {
        let _ = now;
        let limit = self.config.job_retries;
        let Some(job) = self.jobs.get_mut(key) else {
            return;
        };
        if !matches!(job.state, JobState::Running(_)) {
            return;
        }
        let fid = job.function;
        let pi = priority_index(job.priority);
        job.retries += 1;
        if job.ignored {
            // Nobody waits for it (or it was cancelled): no point running it again.
            self.stats.jobs_discarded += 1;
            self.finish(key);
            return;
        }
        if limit > 0 && job.retries >= limit {
            for &l in job.listeners.as_slice() {
                if let Some(out) = self.peers.out(l) {
                    put(out, Command::WorkFailRes, &[job.bytes.handle()]);
                }
            }
            self.stats.jobs_dropped += 1;
            self.finish(key);
            return;
        }
        job.state = JobState::Queued;
        job.numerator = 0;
        job.denominator = 0;
        let f = self.functions.get_mut(fid);
        f.running -= 1;
        f.queued[pi] += 1;
        f.queues[pi].push_back(key);
        self.stats.jobs_requeued += 1;
        self.wake_workers(fid);
    }

    fn worker_timed_out(&mut self, conn: ConnId, now: Instant) {
        let Some(c) = self.peers.map.get_mut(&conn) else {
            return;
        };
        let Some((due, key)) = c.timer else {
            return;
        };
        if due > now {
            return;
        }
        c.timer = None;
        let running_here = self
            .jobs
            .get(key)
            .is_some_and(|j| j.state == JobState::Running(conn));
        if running_here {
            tracing::debug!(%conn, "CAN_DO_TIMEOUT expired; job queued again");
            remove_one(&mut c.running, key);
            self.job_lost(key, now);
        }
    }

    fn epoch_due(&mut self, key: JobKey, now: Instant) {
        let Some(job) = self.jobs.get_mut(key) else {
            return;
        };
        let JobState::Scheduled(due) = job.state else {
            return;
        };
        if due > now {
            return;
        }
        self.scheduled -= 1;
        job.state = JobState::Queued;
        let fid = job.function;
        let pi = priority_index(job.priority);
        self.functions.get_mut(fid).queues[pi].push_back(key);
        self.wake_workers(fid);
    }

    /// After a read: starts or keeps the frame timeout of a connection left
    /// holding part of a frame. `unconsumed` is what its buffer held before
    /// decoding; less after means a frame completed and any rest is a new one.
    fn watch_frame(&mut self, conn: ConnId, unconsumed: usize, now: Instant) {
        let Some(c) = self.peers.map.get_mut(&conn) else {
            return;
        };
        c.frame
            .on_input(c.input.len() < unconsumed, c.input.len(), now);
        let (Some(started), Some(timeout)) = (c.frame.started(), self.config.frame_timeout) else {
            return;
        };
        // One entry per connection, due no later than the frame's deadline
        // (which only grows as bytes arrive): it re-checks when it fires, so
        // a busy connection does not push an entry per read.
        let earliest = deadline_after(started, timeout);
        if c.frame_timer.is_none_or(|at| at > earliest) {
            c.frame_timer = Some(earliest);
            self.push_timer(earliest, Timer::Frame(conn));
        }
    }

    /// A frame timer entry came up: closes the connection if its unfinished
    /// frame is overdue, or waits for the frame's actual deadline.
    fn frame_due(&mut self, conn: ConnId, due: Instant, now: Instant) {
        let Some(c) = self.peers.map.get_mut(&conn) else {
            return;
        };
        if c.frame_timer != Some(due) {
            return;
        }
        c.frame_timer = None;
        let Some(deadline) = c.frame.deadline(c.input.len(), self.config.frame_timeout) else {
            return;
        };
        if deadline <= now {
            tracing::debug!(%conn, buffered = c.input.len(), "closing connection: frame not finished in time");
            self.reject(conn, now);
        } else {
            c.frame_timer = Some(deadline);
            self.push_timer(deadline, Timer::Frame(conn));
        }
    }

    fn push_timer(&mut self, due: Instant, timer: Timer) {
        self.timers.push(Reverse((due, timer)));
        // Entries for finished jobs stay until they fire; rebuilding whenever
        // the heap has doubled keeps it proportional to the live timers at an
        // amortised constant cost per push.
        if self.timers.len() > self.timers_compact_at {
            self.rebuild_timers();
            self.timers_compact_at = (2 * self.timers.len()).max(MIN_TIMER_COMPACTION);
        }
    }

    fn rebuild_timers(&mut self) {
        let mut fresh = BinaryHeap::with_capacity(self.scheduled * 2);
        for (&id, c) in &self.peers.map {
            if let Some((due, _)) = c.timer {
                fresh.push(Reverse((due, Timer::WorkerTimeout(id))));
            }
        }
        for (&id, c) in &self.peers.map {
            if let Some(due) = c.frame_timer {
                fresh.push(Reverse((due, Timer::Frame(id))));
            }
        }
        for (key, job) in self.jobs.iter() {
            if let JobState::Scheduled(due) = job.state {
                fresh.push(Reverse((due, Timer::Epoch(key))));
            }
        }
        self.timers = fresh;
    }

    // ----- connections -----------------------------------------------------

    /// Drops a connection's state: requeues the jobs it held as a worker and
    /// detaches it from the jobs it waited for as a client.
    fn remove_connection(&mut self, conn: ConnId, now: Instant) -> Option<Connection> {
        let mut c = self.peers.map.remove(&conn)?;
        let mut seen: Vec<FunctionId> = Vec::new();
        for a in &c.abilities {
            if !seen.contains(&a.function) {
                seen.push(a.function);
                self.functions
                    .get_mut(a.function)
                    .workers
                    .retain(|&w| w != conn);
            }
        }
        for key in std::mem::take(&mut c.running) {
            self.job_lost(key, now);
        }
        for key in std::mem::take(&mut c.listening) {
            if let Some(job) = self.jobs.get_mut(key) {
                job.listeners.remove_all(conn);
                if job.listeners.is_empty() && !job.background {
                    job.ignored = true;
                }
            }
        }
        Some(c)
    }

    /// Closes a connection because of what it sent; its pending output is
    /// still handed out before the close.
    fn reject(&mut self, conn: ConnId, now: Instant) {
        self.stats.connections_rejected += 1;
        self.close(conn, now);
    }

    fn close(&mut self, conn: ConnId, now: Instant) {
        let Some(mut c) = self.remove_connection(conn, now) else {
            return;
        };
        if !c.output.is_empty() {
            self.final_transmits.push_back(Transmit {
                conn,
                data: c.output.split().freeze(),
            });
        }
        self.closes.push_back(conn);
    }

    /// Closes the connections whose undrained output went over the limit.
    /// Only listed connections can hold output, so only they are checked.
    fn close_overflowed(&mut self, now: Instant) {
        let max = self.config.max_pending_output;
        let over: Vec<ConnId> = self
            .peers
            .listed
            .iter()
            .copied()
            .filter(|id| self.peers.map.get(id).is_some_and(|c| c.output.len() > max))
            .collect();
        for conn in over {
            tracing::debug!(%conn, "closing connection: output not drained");
            self.reject(conn, now);
        }
    }
}

impl Endpoint for Server {
    fn output_limits(&self) -> crate::endpoint::OutputLimits {
        self.config.output_limits()
    }

    /// Unused: the server never opens connections. Use [`Server::accept`].
    fn handle_connected(&mut self, _conn: ConnId, _now: Instant) {}

    fn handle_input(&mut self, conn: ConnId, data: &[u8], now: Instant) {
        Server::handle_input(self, conn, data, now);
    }

    fn handle_disconnected(&mut self, conn: ConnId, now: Instant) {
        Server::handle_disconnected(self, conn, now);
    }

    fn handle_timeout(&mut self, now: Instant) {
        Server::handle_timeout(self, now);
    }

    fn poll_action(&mut self) -> Option<ConnAction> {
        Server::poll_action(self)
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        Server::poll_transmit(self)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        Server::poll_timeout(self)
    }
}

/// A packet header the decoder would reject but gearmand answers: a type
/// number that exists only in the other direction (or 5), which gets
/// `INVALID_MAGIC` (sent with `\0RES`) or `INVALID_COMMAND` (with `\0REQ`)
/// while the connection stays open.
enum Foreign {
    No,
    Incomplete,
    Complete { magic: Magic, total: usize },
}

fn foreign_packet(input: &BytesMut, max_packet_size: u32) -> Foreign {
    if input.len() < HEADER_LEN {
        return Foreign::No;
    }
    let Some(magic) = Magic::from_bytes([input[0], input[1], input[2], input[3]]) else {
        return Foreign::No;
    };
    let number = u32::from_be_bytes([input[4], input[5], input[6], input[7]]);
    let size = u32::from_be_bytes([input[8], input[9], input[10], input[11]]);
    // A `\0RES` packet of a type that has no response form closes the
    // connection in gearmand (the decoder refuses it); one that has gets
    // INVALID_MAGIC after decoding.
    if magic == Magic::Res
        || !(1..=42).contains(&number)
        || Command::from_wire(magic, number).is_some()
        || size > max_packet_size
    {
        return Foreign::No;
    }
    let total = HEADER_LEN + size as usize;
    if input.len() < total {
        Foreign::Incomplete
    } else {
        Foreign::Complete { magic, total }
    }
}

/// CAN_DO_TIMEOUT's number: milliseconds (gearmand 1.1.19+), at least 1000;
/// zero or negative means no timeout. A number too large for 64 bits is
/// taken as the largest (gearmand 1.1 keeps such a connection too).
fn parse_can_do_timeout(text: &[u8]) -> Option<Duration> {
    let ms = strtoll(text).unwrap_or(i64::MAX);
    match ms {
        ..=0 => None,
        1..=999 => Some(Duration::from_millis(1000)),
        ms => Some(Duration::from_millis(ms as u64)),
    }
}
