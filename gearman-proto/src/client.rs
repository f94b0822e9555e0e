//! The client state machine: submits jobs and status requests to any number
//! of job servers and reports what becomes of them.
//!
//! See [`Client`] for the run loop, and [`ClientConfig`] for what can be
//! tuned. The rules it follows:
//!
//! - **Connections**: the first connection to a server is opened lazily,
//!   when a request is routed to it, and kept open afterwards. A server never
//!   tried counts as up, so the routing policy alone picks it. While another
//!   server is connected, a request routed to an untried server does not
//!   wait: that server's connect starts and the request goes to the next
//!   connected server. Otherwise (no server connected yet, or a request that
//!   consistent hashing places by its unique id) it waits for that first
//!   connection for at most [`ClientConfig::connect_timeout`], and moves on
//!   (without using a retry) if it fails. A server whose connection failed,
//!   dropped or stopped answering is down: only the client's own timer
//!   reconnects, after a backoff delay (exponential, capped, jittered:
//!   [`crate::backoff`]), and the server counts as up again only once that connection has answered
//!   an ECHO_REQ probe (a stopped server still completes TCP handshakes).
//!   The probe must come back within the connect timeout, or the server
//!   backs off again for longer. Meanwhile requests go to the next server
//!   that is up ([`crate::client`]); when none is, they end at once with
//!   [`ClientError::NoServer`]. Nothing ever waits on a down server. A
//!   connection the driver reports it could not open
//!   ([`Endpoint::handle_connect_failed`]) ends what waited on it the same
//!   way when no other server is up, and that `NoServer`, like the ones
//!   after it until a connection opens, carries the address and the socket
//!   error as its cause.
//! - **Replies without a handle** (JOB_CREATED, STATUS_RES, STATUS_RES_UNIQUE,
//!   OPTION_RES, ECHO_RES, ERROR) answer the oldest request still pending on
//!   their connection; an ERROR ends that request. Any number of requests
//!   may be in flight on a connection. Some servers drop requests they do
//!   not know without a reply: a reply that can only answer a later request
//!   proves the earlier ones were dropped, so they end with
//!   [`ClientError::Ignored`] (logged at debug level) and the connection
//!   carries on.
//! - **Handles** are per server: updates are matched by (connection, handle).
//!   When the server merges several foreground submits into one job, they
//!   share its handle and each of them gets every update and its end
//!   (gearmand sends one copy of each update per submit, and the client
//!   hands one copy to each; a terminal packet ends them all at once).
//! - **Exceptions**: with [`ClientConfig::exceptions`], `OPTION_REQ
//!   exceptions` goes out before the first submit on each connection,
//!   including after a reconnect. A server that refuses it only logs a
//!   warning, one that ignores it a debug line; either way its jobs still
//!   complete, and a worker's exception then arrives as
//!   [`ClientEvent::Failed`].
//! - **Disconnects** end every request and job on the connection at once.
//!   A submit the server had not acknowledged is sent again to another server
//!   that is up, up to [`ClientConfig::submit_retries`] times (a connection
//!   that never opened does not count, since nothing was sent); otherwise it
//!   ends with [`ClientError::Disconnected`] `{ acknowledged: false }`. An
//!   acknowledged foreground job is never resubmitted: it ends with
//!   `Disconnected { acknowledged: true }` and the caller decides. A
//!   background job is complete once created, so a later disconnect does
//!   not concern it.
//! - **Timeouts**: a connection that is not established within
//!   [`ClientConfig::connect_timeout`] is closed and treated as failed. A
//!   request with no reply within [`ClientConfig::request_timeout`] ends with
//!   [`ClientError::Timeout`] (an `OPTION_REQ exceptions` sent with a
//!   submit shares its deadline, so when the option is what went
//!   unanswered, the submit behind it is the request that timed out; it is
//!   not moved to another server), and since replies come in order, its
//!   connection is closed as stuck: the other requests on it are handled as
//!   on a disconnect (unacknowledged submits move to another server,
//!   acknowledged jobs end with `Disconnected { acknowledged: true }`), and
//!   the server is down until a reconnection answers its probe, so later
//!   requests go elsewhere. A job past its own [`JobRequest::deadline`] ends
//!   with `Timeout` and its later packets are dropped. A packet the server
//!   began and did not finish within [`ClientConfig::frame_timeout`] (see
//!   [`MIN_FRAME_RATE`](crate::MIN_FRAME_RATE)) closes the connection as on
//!   a disconnect; a silent connection with nothing half-received stays open.
//! - **Peer errors**: bytes that do not decode, or a reply that answers
//!   nothing pending, close the connection with a `tracing` warning and end
//!   what was on it as on a disconnect. Updates for unknown handles (late
//!   packets of ended jobs) are dropped.
//! - **Closing**: after [`Client::close`] new calls are refused with
//!   [`UsageError::Closing`]; what is in flight goes on (see `close`), and
//!   once nothing is left every connection is closed and
//!   [`ClientEvent::Closed`] is the client's last event.

mod answers;
mod async_job;
mod config;
mod dispatch;
mod event;
mod job_queue;
mod job_steps;
mod link;
mod listeners;
mod progress;
mod request;
mod routing;
mod waiters;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::Instant;

use bytes::{Bytes, BytesMut};

use crate::backoff::{Backoff, SeededRng};
use crate::endpoint::{ConnAction, ConnId, ConnectError, Endpoint, Transmit};
use crate::fast_map::FastMap;
use crate::observe::{ConnectionState, ServerState};
use crate::packet::{Command, Field};
use crate::packet::{Packet, encode_fields};
use crate::time::deadline_after;

pub use crate::endpoint::ServerId;
pub use async_job::{AsyncJob, JobLink, JobRead};
pub use config::{ClientConfig, ConfigError};
pub use dispatch::{Dispatch, JobError, JobOutcome, JobStep, JobUpdate, RequestAnswer, dispatch};
pub use event::{ClientError, ClientEvent, JobStatus, UniqueStatus};
pub use job_queue::JobQueue;
pub use job_steps::{Callers, StepHandoff, StepReceiver, StepSender, job_steps};
pub use progress::JobProgress;
pub use request::{
    CronSchedule, JobHandle, JobId, JobRequest, MAX_HANDLE_LEN, MAX_UNIQUE_LEN, RequestId,
    Schedule, UsageError,
};
pub use routing::{DEFAULT_VIRTUAL_NODES, Router, RoutingPolicy};
pub use waiters::{Call, Deliver, Waiters};

use event::lenient_number;
use link::{Conn, ExceptionsOption, Link, LinkState, Pending, PendingKind};
use listeners::Listeners;

/// The Gearman client as a state machine over all its servers.
///
/// Commands ([`submit`](Client::submit), [`get_status`](Client::get_status),
/// [`get_status_unique`](Client::get_status_unique), [`echo`](Client::echo),
/// [`forget`](Client::forget)) queue work; the [`Endpoint`] methods move
/// bytes; [`poll_event`](Client::poll_event) reports results. The module
/// documentation lists the rules it follows.
///
/// It is driven by [the run loop](crate#the-run-loop) every state machine
/// shares; the example follows it over blocking sockets.
///
/// ```no_run
/// use std::collections::HashMap;
/// use std::io::{ErrorKind, Read, Write};
/// use std::net::TcpStream;
/// use std::time::{Duration, Instant};
///
/// use gearman_proto::client::{Client, ClientConfig, ClientEvent, JobRequest};
/// use gearman_proto::{ConnAction, Endpoint};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut client = Client::new(ClientConfig::new(["127.0.0.1:4730"]).with_seed(42))?;
/// let job = client.submit(JobRequest::new("reverse", "hello"), Instant::now())?;
/// let mut sockets: HashMap<_, TcpStream> = HashMap::new();
/// 'run: loop {
///     while let Some(transmit) = client.poll_transmit() {
///         if let Some(socket) = sockets.get_mut(&transmit.conn) {
///             socket.write_all(&transmit.data)?;
///         }
///     }
///     while let Some(action) = client.poll_action() {
///         match action {
///             ConnAction::Connect { conn, addr } => match TcpStream::connect(&addr) {
///                 Ok(socket) => {
///                     socket.set_read_timeout(Some(Duration::from_millis(10)))?;
///                     sockets.insert(conn, socket);
///                     client.handle_connected(conn, Instant::now());
///                 }
///                 Err(_) => client.handle_disconnected(conn, Instant::now()),
///             },
///             ConnAction::Close { conn } => drop(sockets.remove(&conn)),
///             _ => {}
///         }
///     }
///     while let Some(event) = client.poll_event() {
///         match event {
///             ClientEvent::Data { data, .. } => println!("partial: {data:?}"),
///             ClientEvent::Complete { data, .. } => println!("result: {data:?}"),
///             other => println!("{other:?}"),
///         }
///     }
///     if !client.is_active(job) {
///         break 'run;
///     }
///     // A real driver waits on every socket and the deadline at once.
///     let mut buf = [0u8; 4096];
///     let mut closed = Vec::new();
///     for (&conn, socket) in &mut sockets {
///         match socket.read(&mut buf) {
///             Ok(0) => closed.push(conn),
///             Ok(n) => client.handle_input(conn, &buf[..n], Instant::now()),
///             Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
///             Err(_) => closed.push(conn),
///         }
///     }
///     for conn in closed {
///         sockets.remove(&conn);
///         client.handle_disconnected(conn, Instant::now());
///     }
///     if client.poll_timeout().is_some_and(|at| at <= Instant::now()) {
///         client.handle_timeout(Instant::now());
///     }
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Client {
    config: ClientConfig,
    router: Router,
    links: Vec<Link>,
    jobs: FastMap<JobId, Job>,
    /// Job deadlines, earliest first; entries of jobs that already ended stay
    /// until they come up (or until the heap is compacted).
    deadlines: BinaryHeap<Reverse<(Instant, JobId)>>,
    events: VecDeque<ClientEvent>,
    actions: VecDeque<ConnAction>,
    rng: SeededRng,
    next_job: u64,
    next_request: u64,
    next_conn: u64,
    closing: Closing,
    /// Submits a [`Waiters`] table holds back under the cap on jobs in
    /// flight: accepted before a close, so the close waits for them too.
    held: usize,
}

/// Whether the client takes new calls ([`Client::close`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Closing {
    Open,
    /// Finishing what is in flight; what is left at `deadline` ends.
    Draining {
        deadline: Option<Instant>,
    },
    Closed,
}

/// A job the client still follows.
#[derive(Debug)]
struct Job {
    /// What to send; `None` once the server has acknowledged the job, which
    /// is then never sent again (boxed so an acknowledged job is small).
    request: Option<Box<JobRequest>>,
    /// The unique id actually sent (generated for background jobs without one).
    unique: Bytes,
    state: JobState,
    deadline: Option<Instant>,
    /// Resends left after a drop of an established connection.
    retries_left: u32,
    /// Connections that failed to open while this submit waited on them.
    connect_failures: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum JobState {
    /// Sent or queued on `server`'s connection, awaiting JOB_CREATED.
    Queued { server: ServerId },
    /// Created by `server` under `handle` (foreground jobs only; background
    /// jobs end at creation).
    Acknowledged { server: ServerId, handle: Bytes },
}

/// Why a connection is being torn down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CloseCause {
    /// The driver reported it closed or failed.
    PeerClosed,
    /// The server broke the protocol.
    Protocol,
    /// It did not open within the connect timeout.
    ConnectTimeout,
    /// The driver could not open it (the cause is in the link's
    /// `last_failure`).
    ConnectFailed,
    /// The oldest request got no reply within the request timeout.
    RequestTimeout,
    /// A packet begun by the server was not finished within the frame timeout.
    FrameTimeout,
}

impl Client {
    /// A client for the configured servers. Nothing is connected until the
    /// first request needs a server, so, unlike
    /// [`Worker::new`](crate::worker::Worker::new), this takes no `now`: the
    /// request that connects carries it.
    pub fn new(config: ClientConfig) -> Result<Client, ConfigError> {
        if config.servers.is_empty() {
            return Err(ConfigError::NoServers);
        }
        if config.max_jobs_in_flight == Some(0) {
            return Err(ConfigError::NoJobsInFlight);
        }
        let router = Router::new(config.routing, &config.servers);
        let links = config
            .servers
            .iter()
            .enumerate()
            .map(|(index, addr)| {
                // Each server gets its own jitter sequence so their retries spread.
                let seed = config.seed ^ (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                Link::new(addr.clone(), Backoff::new(config.backoff, seed))
            })
            .collect();
        Ok(Client {
            rng: SeededRng::new(config.seed),
            router,
            links,
            jobs: FastMap::default(),
            deadlines: BinaryHeap::new(),
            events: VecDeque::new(),
            actions: VecDeque::new(),
            next_job: 0,
            next_request: 0,
            next_conn: 0,
            closing: Closing::Open,
            held: 0,
            config,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The address of a configured server.
    pub fn server_addr(&self, server: ServerId) -> Option<&str> {
        self.links.get(server.0).map(|link| link.addr.as_str())
    }

    /// Whether `server` has an established connection.
    pub fn is_connected(&self, server: ServerId) -> bool {
        self.links
            .get(server.0)
            .and_then(Link::conn)
            .is_some_and(|conn| conn.connected)
    }

    /// Whether requests may be routed to `server`: it has not failed, or
    /// its reconnection has answered the probe. (`now` is not consulted: a
    /// server that failed is down until then, however long ago it failed.)
    pub fn is_up(&self, server: ServerId, _now: Instant) -> bool {
        self.links.get(server.0).is_some_and(Link::is_up)
    }

    /// Each configured server's connection state, jobs in flight and
    /// requests awaiting a reply, in configured order (for health checks
    /// and metrics).
    pub fn servers(&self) -> impl Iterator<Item = ServerState> + '_ {
        self.links.iter().enumerate().map(|(index, link)| {
            let server = ServerId(index);
            let state = match &link.state {
                LinkState::Idle => ConnectionState::Idle,
                LinkState::Down { until } => ConnectionState::BackingOff { until: *until },
                LinkState::Open(conn) if conn.verified => ConnectionState::Connected,
                LinkState::Open(_) => ConnectionState::Connecting,
            };
            let on_server = |job: &&Job| match job.state {
                JobState::Queued { server: at } | JobState::Acknowledged { server: at, .. } => {
                    at == server
                }
            };
            ServerState {
                server,
                addr: link.addr.clone(),
                state,
                jobs_in_flight: self.jobs.values().filter(on_server).count(),
                requests_pending: link.conn().map_or(0, |conn| conn.fifo.len()),
            }
        })
    }

    /// Whether `job` has not ended yet.
    pub fn is_active(&self, job: JobId) -> bool {
        self.jobs.contains_key(&job)
    }

    /// Number of jobs that have not ended yet.
    pub fn active_jobs(&self) -> usize {
        self.jobs.len()
    }

    /// Writes `name { servers: [..], jobs_in_flight: n }`: what a user
    /// needs to see of a client (an adapter's `Debug`), not its internals.
    pub fn fmt_overview(&self, name: &str, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(name)
            .field("servers", &self.config.servers)
            .field("jobs_in_flight", &self.jobs.len())
            .finish()
    }

    /// Submits a job; its events follow from [`poll_event`](Client::poll_event).
    ///
    /// The job goes to the server the routing policy picks (by its unique id
    /// under consistent hashing), or to the next one up. If none is up, the
    /// job still gets an id and ends at once with [`ClientError::NoServer`].
    /// See [`JobRequest`] for the unique id sent when none is given.
    pub fn submit(&mut self, request: JobRequest, now: Instant) -> Result<JobId, UsageError> {
        self.check_open()?;
        // Boxed here, where the job keeps it: moved by value through the
        // call, the request would be copied once more on the way.
        self.submit_admitted(Box::new(request), now)
    }

    /// [`submit`](Client::submit) for a submit the caller accepted before
    /// a close (one a [`Waiters`] table held back under the cap): it still
    /// goes out while the client drains.
    pub(crate) fn submit_admitted(
        &mut self,
        request: Box<JobRequest>,
        now: Instant,
    ) -> Result<JobId, UsageError> {
        if self.closing == Closing::Closed {
            return Err(UsageError::Closing);
        }
        request.validate()?;
        self.next_job += 1;
        let id = JobId(self.next_job);
        let unique = match &request.unique {
            Some(unique) => unique.clone(),
            None if request.background => self.generate_unique(),
            None => Bytes::new(),
        };
        let deadline = request.deadline.map(|d| deadline_after(now, d));
        if let Some(at) = deadline {
            self.push_deadline(at, id);
        }
        self.jobs.insert(
            id,
            Job {
                request: Some(request),
                unique,
                state: JobState::Queued {
                    server: ServerId(0),
                },
                deadline,
                retries_left: self.config.submit_retries,
                connect_failures: 0,
            },
        );
        self.dispatch(id, now, None);
        Ok(id)
    }

    /// Asks the server that issued `handle` for the job's status (GET_STATUS).
    ///
    /// Answered by [`ClientEvent::StatusResult`] or
    /// [`ClientEvent::RequestError`] (`NoServer` at once if that server is down).
    pub fn get_status(
        &mut self,
        handle: &JobHandle,
        now: Instant,
    ) -> Result<RequestId, UsageError> {
        self.check_open()?;
        let h = &handle.handle;
        if h.is_empty() || h.len() > MAX_HANDLE_LEN || memchr::memchr(0, h).is_some() {
            return Err(UsageError::InvalidHandle);
        }
        if handle.server.0 >= self.links.len() {
            return Err(UsageError::UnknownServer(handle.server));
        }
        let request = self.new_request();
        self.send_request(handle.server, PendingKind::Status(request), now, |out| {
            encode_fields(out, Command::GetStatus, &[h])
        });
        Ok(request)
    }

    /// Asks for the status of the job with this unique id
    /// (GET_STATUS_UNIQUE), on the server the routing policy picks for it:
    /// under consistent hashing, the one its submit went to.
    ///
    /// Answered by [`ClientEvent::StatusUniqueResult`] or
    /// [`ClientEvent::RequestError`].
    pub fn get_status_unique(
        &mut self,
        unique: impl Into<Bytes>,
        now: Instant,
    ) -> Result<RequestId, UsageError> {
        self.check_open()?;
        let unique = unique.into();
        if memchr::memchr(0, &unique).is_some() {
            return Err(UsageError::NulInField {
                field: Field::Unique,
            });
        }
        if unique.len() > MAX_UNIQUE_LEN {
            return Err(UsageError::UniqueTooLong { len: unique.len() });
        }
        let request = self.new_request();
        let key = (!unique.is_empty()).then_some(&unique[..]);
        match self.route(key, now) {
            Some(server) => {
                self.send_request(server, PendingKind::StatusUnique(request), now, |out| {
                    encode_fields(out, Command::GetStatusUnique, &[&unique])
                })
            }
            None => self.events.push_back(ClientEvent::RequestError {
                request,
                error: self.no_server(),
            }),
        }
        Ok(request)
    }

    /// Sends ECHO_REQ to `server`; answered by [`ClientEvent::EchoResult`]
    /// with the same bytes, or [`ClientEvent::RequestError`].
    pub fn echo(
        &mut self,
        server: ServerId,
        data: impl Into<Bytes>,
        now: Instant,
    ) -> Result<RequestId, UsageError> {
        self.check_open()?;
        if server.0 >= self.links.len() {
            return Err(UsageError::UnknownServer(server));
        }
        let data = data.into();
        let request = self.new_request();
        self.send_request(server, PendingKind::Echo(request), now, |out| {
            encode_fields(out, Command::EchoReq, &[&data])
        });
        Ok(request)
    }

    /// Sends any request packet that the server answers with exactly one
    /// reply without a handle (a SUBMIT form, GET_STATUS, GET_STATUS_UNIQUE,
    /// OPTION_REQ, ECHO_REQ, or ALL_YOURS, which servers refuse), for what the
    /// typed commands do not cover. The reply, whatever it is, comes back as
    /// [`ClientEvent::RawReply`]; errors as [`ClientEvent::RequestError`].
    ///
    /// The client does not follow jobs submitted this way: their WORK_*
    /// packets are dropped as unknown. Use [`submit`](Client::submit) for jobs.
    ///
    /// ```
    /// use std::time::Instant;
    /// use gearman_proto::client::{Client, ClientConfig, ServerId};
    /// use gearman_proto::{Command, Packet};
    ///
    /// let mut client = Client::new(ClientConfig::new(["127.0.0.1:4730"])).unwrap();
    /// let option = Packet::build(Command::OptionReq, &[b"exceptions"]).unwrap();
    /// let request = client.send_raw(ServerId(0), &option, Instant::now()).unwrap();
    /// # let _ = request;
    /// ```
    pub fn send_raw(
        &mut self,
        server: ServerId,
        packet: &Packet,
        now: Instant,
    ) -> Result<RequestId, UsageError> {
        self.check_open()?;
        if server.0 >= self.links.len() {
            return Err(UsageError::UnknownServer(server));
        }
        let command = packet.command();
        let single_reply = command.submit_kind().is_some()
            || matches!(
                command,
                Command::GetStatus
                    | Command::GetStatusUnique
                    | Command::OptionReq
                    | Command::EchoReq
                    | Command::AllYours
            );
        if !single_reply {
            return Err(UsageError::Invalid {
                reason: "only requests answered by exactly one reply can be sent raw",
            });
        }
        let request = self.new_request();
        self.send_request(server, PendingKind::Raw(request), now, |out| {
            packet.encode(out);
            Ok(())
        });
        Ok(request)
    }

    /// Stops following `job` here: no further event is reported for it,
    /// and packets the server still sends for it are dropped. Nothing is
    /// cancelled: the server is not told (the protocol has no way to) and
    /// still runs the job; a foreground job whose last listener is gone is
    /// discarded by gearmand only when its client disconnects. A submit
    /// still waiting for its connection to open is sent all the same.
    /// Returns whether the job was still active.
    pub fn forget(&mut self, job: JobId) -> bool {
        let forgotten = self.forget_job(job).is_some();
        // The job a close waited for may be this one.
        self.finish_close_if_idle();
        forgotten
    }

    /// Closes the client gracefully: from now on [`submit`](Client::submit),
    /// [`get_status`](Client::get_status),
    /// [`get_status_unique`](Client::get_status_unique),
    /// [`echo`](Client::echo) and [`send_raw`](Client::send_raw) fail with
    /// [`UsageError::Closing`], while what is in flight goes on: a submit
    /// until its JOB_CREATED (a background job ends there), a foreground
    /// job until its result, a status or echo request until its answer,
    /// each still under its own timeouts. A submit sent and then
    /// [forgotten](Client::forget) is waited for too, so it is not cut off
    /// on the wire. Submits held back unsent by
    /// [`ClientConfig::max_jobs_in_flight`] go out as room frees, as before.
    /// Nothing reconnects meanwhile; a submit whose connection drops still
    /// moves to another server that is up, as always.
    ///
    /// Once nothing is left, every connection's [`ConnAction::Close`] is
    /// queued and [`ClientEvent::Closed`] is the last event, handed out
    /// only after the last bytes and closes, so a loop may stop at it in
    /// any drain order. With [`ClientConfig::close_timeout`], whatever is
    /// still in flight at the deadline ends with [`ClientError::Closed`]
    /// (its unsent bytes are dropped) and the client closes anyway; the
    /// deadline comes out of [`poll_timeout`](Endpoint::poll_timeout).
    /// Calling it again changes nothing.
    ///
    /// ```
    /// use std::time::Instant;
    /// use gearman_proto::client::{Client, ClientConfig, ClientEvent, JobRequest, UsageError};
    /// use gearman_proto::{ConnAction, Endpoint};
    ///
    /// let now = Instant::now();
    /// let mut client = Client::new(ClientConfig::new(["127.0.0.1:4730"])).unwrap();
    /// let job = client.submit(JobRequest::new("reverse", "hello"), now).unwrap();
    /// client.close(now);
    /// let late = client.submit(JobRequest::new("reverse", "late"), now);
    /// assert_eq!(late, Err(UsageError::Closing));
    /// // The submit still goes out: its connection is asked for...
    /// let Some(ConnAction::Connect { conn, .. }) = client.poll_action() else { panic!() };
    /// assert!(client.is_active(job));
    /// assert_eq!(client.poll_event(), None);
    /// // ...and should the server be unreachable, the job ends and the client closes.
    /// client.handle_disconnected(conn, now);
    /// assert!(matches!(client.poll_event(), Some(ClientEvent::JobError { .. })));
    /// assert_eq!(client.poll_event(), Some(ClientEvent::Closed));
    /// ```
    pub fn close(&mut self, now: Instant) {
        if self.closing != Closing::Open {
            return;
        }
        tracing::debug!(jobs = self.jobs.len(), held = self.held, "client closing");
        self.closing = Closing::Draining {
            deadline: self.config.close_timeout.map(|t| deadline_after(now, t)),
        };
        self.finish_close_if_idle();
    }

    /// Whether [`close`](Client::close) was called.
    pub fn is_closing(&self) -> bool {
        self.closing != Closing::Open
    }

    /// The next event, if any.
    ///
    /// [`ClientEvent::Closed`] waits until the last closes were handed
    /// out, so a loop may stop at it in any drain order.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        if self.events.front() == Some(&ClientEvent::Closed) && !self.actions.is_empty() {
            return None;
        }
        self.events.pop_front()
    }

    /// Tells a closing client how many accepted submits a [`Waiters`]
    /// table still holds back, unsent.
    pub(crate) fn set_held(&mut self, held: usize) {
        self.held = held;
        self.finish_close_if_idle();
    }

    fn check_open(&self) -> Result<(), UsageError> {
        match self.closing {
            Closing::Open => Ok(()),
            _ => Err(UsageError::Closing),
        }
    }

    /// Closes once a draining client has nothing left: no job, no held
    /// submit, no request awaiting its reply (a reconnection's probe
    /// aside).
    fn finish_close_if_idle(&mut self) {
        if !matches!(self.closing, Closing::Draining { .. })
            || self.held > 0
            || !self.jobs.is_empty()
        {
            return;
        }
        let awaiting = self
            .links
            .iter()
            .filter_map(Link::conn)
            .any(|conn| conn.fifo.iter().any(|p| p.kind != PendingKind::Probe));
        if !awaiting {
            self.finish_close();
        }
    }

    /// Ends whatever a close timeout caught in flight, in order: requests
    /// per connection, then acknowledged jobs.
    fn abandon_in_flight(&mut self) {
        let mut pending = Vec::new();
        for link in &mut self.links {
            if let Some(conn) = link.conn_mut() {
                pending.extend(conn.fifo.drain(..).map(|p| p.kind));
            }
        }
        let unsent = ClientError::Closed {
            acknowledged: false,
        };
        for kind in pending {
            match kind {
                PendingKind::Submit { job, .. } => self.end_job(
                    job,
                    ClientEvent::JobError {
                        job,
                        error: unsent.clone(),
                    },
                ),
                PendingKind::Exceptions | PendingKind::Probe => {}
                other => {
                    let request = other.request().expect("every other kind has a request id");
                    self.events.push_back(ClientEvent::RequestError {
                        request,
                        error: unsent.clone(),
                    });
                }
            }
        }
        let mut running: Vec<JobId> = self.jobs.keys().copied().collect();
        running.sort_unstable();
        for job in running {
            let acknowledged = matches!(self.jobs[&job].state, JobState::Acknowledged { .. });
            let error = ClientError::Closed { acknowledged };
            self.end_job(job, ClientEvent::JobError { job, error });
        }
    }

    /// Closes every connection and reports [`ClientEvent::Closed`]. Bytes
    /// not handed out yet are dropped: whatever they asked for has ended
    /// (a graceful close has none left but a reconnection's probe).
    fn finish_close(&mut self) {
        for link in &mut self.links {
            if let LinkState::Open(conn) = std::mem::replace(&mut link.state, LinkState::Idle) {
                self.actions.push_back(ConnAction::Close { conn: conn.id });
            }
        }
        self.closing = Closing::Closed;
        tracing::debug!("client closed");
        self.events.push_back(ClientEvent::Closed);
    }

    fn new_request(&mut self) -> RequestId {
        self.next_request += 1;
        RequestId(self.next_request)
    }

    fn generate_unique(&mut self) -> Bytes {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut text = Vec::with_capacity(32);
        for _ in 0..2 {
            let bits = self.rng.next_u64();
            text.extend((0..16).rev().map(|i| HEX[(bits >> (i * 4)) as usize & 0xf]));
        }
        Bytes::from(text)
    }

    fn push_deadline(&mut self, at: Instant, job: JobId) {
        // Entries of jobs that ended early pile up; drop them once they
        // clearly outnumber the live jobs.
        if self.deadlines.len() > 2 * self.jobs.len() + 1024 {
            let jobs = &self.jobs;
            self.deadlines
                .retain(|Reverse((at, id))| jobs.get(id).is_some_and(|j| j.deadline == Some(*at)));
        }
        self.deadlines.push(Reverse((at, job)));
    }

    /// The connection to `server`, asking the driver for one if needed.
    fn open(&mut self, server: ServerId, now: Instant) -> &mut Conn {
        self.open_as(server, now, false)
    }

    /// Like [`open`](Client::open); `reconnect` marks a connection opened by
    /// the reconnect timer.
    fn open_as(&mut self, server: ServerId, now: Instant, reconnect: bool) -> &mut Conn {
        let link = &mut self.links[server.0];
        if !matches!(link.state, LinkState::Open(_)) {
            self.next_conn += 1;
            let id = ConnId(self.next_conn);
            let mut conn = Conn::new(id, now, self.config.max_packet_size, reconnect);
            if reconnect {
                // Sent once connected; its answer proves the server back.
                encode_fields(&mut conn.out, Command::EchoReq, &[b""])
                    .expect("an empty echo is a valid packet");
                conn.fifo.push_back(Pending {
                    kind: PendingKind::Probe,
                    // The connect timeout runs until it is answered.
                    deadline: None,
                });
            }
            link.state = LinkState::Open(Box::new(conn));
            self.actions.push_back(ConnAction::Connect {
                conn: id,
                addr: link.addr.clone(),
            });
        }
        link.conn_mut().expect("opened above")
    }

    /// The server a request with this unique id goes to; `None` when every
    /// server is down. While another server is proven up, a request never
    /// waits on a server's first connect: that connect starts (or goes on)
    /// without it, and the request takes the policy's next proven server.
    /// A request placed by consistent hashing keeps its owner, as coalescing
    /// depends on it, and waits at most the connect timeout.
    fn route(&mut self, key: Option<&[u8]>, now: Instant) -> Option<ServerId> {
        let links = &self.links;
        let chosen = self.router.route(key, |s| links[s.0].is_up())?;
        if links[chosen.0].is_verified()
            || !links.iter().any(Link::is_verified)
            || key.is_some_and(|key| self.router.owner(key).is_some())
        {
            return Some(chosen);
        }
        if matches!(links[chosen.0].state, LinkState::Idle) {
            self.open(chosen, now);
        }
        let links = &self.links;
        self.router.route(key, |s| links[s.0].is_verified())
    }

    /// Queues a status or echo request on `server`, or reports it failed if
    /// the server is down.
    fn send_request(
        &mut self,
        server: ServerId,
        kind: PendingKind,
        now: Instant,
        encode: impl FnOnce(&mut BytesMut) -> Result<(), crate::packet::BuildError>,
    ) {
        if !self.links[server.0].is_up() {
            if let Some(request) = kind.request() {
                let error = self.no_server();
                self.events
                    .push_back(ClientEvent::RequestError { request, error });
            }
            return;
        }
        let deadline = self.config.request_timeout.map(|t| deadline_after(now, t));
        let conn = self.open(server, now);
        encode(&mut conn.out).expect("arguments were validated by the caller");
        conn.fifo.push_back(Pending { kind, deadline });
    }

    /// Routes job `id` and queues its submit; ends it with `no_server` (the
    /// client's [`ClientError::NoServer`] when `None`) if no server is up.
    fn dispatch(&mut self, id: JobId, now: Instant, no_server: Option<ClientError>) {
        let Some(job) = self.jobs.get_mut(&id).filter(|job| job.request.is_some()) else {
            return;
        };
        // Taken out while routing borrows the whole client, and put back
        // below: a clone of a generated unique (Vec-backed) would allocate.
        let unique = std::mem::take(&mut job.unique);
        let key = (!unique.is_empty()).then_some(&unique[..]);
        let Some(server) = self.route(key, now) else {
            let error = no_server.unwrap_or_else(|| self.no_server());
            self.end_job(id, ClientEvent::JobError { job: id, error });
            return;
        };
        let deadline = self.config.request_timeout.map(|t| deadline_after(now, t));
        let exceptions = self.config.exceptions;
        self.open(server, now);
        let (Some(job), Some(conn)) = (self.jobs.get_mut(&id), self.links[server.0].conn_mut())
        else {
            unreachable!("the job was found above and the connection was just opened");
        };
        job.unique = unique;
        job.state = JobState::Queued { server };
        if exceptions && conn.exceptions == ExceptionsOption::NotSent {
            encode_fields(&mut conn.out, Command::OptionReq, &[b"exceptions"])
                .expect("a constant option name is a valid field");
            conn.fifo.push_back(Pending {
                kind: PendingKind::Exceptions,
                deadline,
            });
            conn.exceptions = ExceptionsOption::Requested;
        }
        let request = job.request.as_deref().expect("checked at the top");
        request.encode(&job.unique, &mut conn.out);
        conn.fifo.push_back(Pending {
            kind: PendingKind::Submit {
                job: id,
                foreground: !request.background,
            },
            deadline,
        });
    }

    /// What a request gets when no server can take it: [`ClientError::NoServer`]
    /// with the last failure to connect, if any server has one.
    fn no_server(&self) -> ClientError {
        ClientError::NoServer {
            cause: self.links.iter().find_map(|link| link.last_failure.clone()),
        }
    }

    /// Removes a job and reports its last event.
    fn end_job(&mut self, id: JobId, event: ClientEvent) {
        if self.jobs.remove(&id).is_some() {
            self.events.push_back(event);
        }
    }

    /// Removes a job without an event, keeping its listener slot (if any)
    /// for the copies the server will still send.
    fn forget_job(&mut self, id: JobId) -> Option<Job> {
        let job = self.jobs.remove(&id)?;
        if let JobState::Acknowledged { server, handle } = &job.state {
            if let Some(listeners) = self.links[server.0]
                .conn_mut()
                .and_then(|conn| conn.listeners.get_mut(handle))
            {
                listeners.forget(id);
            }
        }
        Some(job)
    }

    fn server_of(&self, conn: ConnId) -> Option<ServerId> {
        self.links
            .iter()
            .position(|link| link.conn().is_some_and(|c| c.id == conn))
            .map(ServerId)
    }

    /// Tears down `server`'s connection and ends or retries everything on it.
    fn drop_conn(&mut self, server: ServerId, now: Instant, cause: CloseCause) {
        let link = &mut self.links[server.0];
        let until = deadline_after(now, link.backoff.next_delay());
        let LinkState::Open(conn) = std::mem::replace(&mut link.state, LinkState::Down { until })
        else {
            return;
        };
        let conn = *conn;
        if !matches!(cause, CloseCause::PeerClosed | CloseCause::ConnectFailed) {
            self.actions.push_back(ConnAction::Close { conn: conn.id });
        }
        let lost = match cause {
            CloseCause::ConnectTimeout => ClientError::Timeout {
                acknowledged: false,
            },
            CloseCause::ConnectFailed => self.no_server(),
            _ => ClientError::Disconnected {
                acknowledged: false,
            },
        };
        // The request that timed out is the oldest one a caller waits on:
        // an OPTION_REQ ahead of it was sent with it, under the same
        // deadline, so its expiry is that request's.
        let timed_out_index = (cause == CloseCause::RequestTimeout)
            .then(|| {
                conn.fifo
                    .iter()
                    .position(|p| p.kind != PendingKind::Exceptions)
            })
            .flatten();
        let mut retry = Vec::new();
        for (index, pending) in conn.fifo.into_iter().enumerate() {
            let timed_out = Some(index) == timed_out_index;
            let error = if timed_out {
                ClientError::Timeout {
                    acknowledged: false,
                }
            } else {
                lost.clone()
            };
            match pending.kind {
                PendingKind::Submit { job, .. } => {
                    let Some(j) = self.jobs.get_mut(&job) else {
                        continue;
                    };
                    let resend = if timed_out {
                        false
                    } else if !conn.connected {
                        // Nothing was sent; try elsewhere, but not forever.
                        j.connect_failures += 1;
                        j.connect_failures <= self.links.len() as u32
                    } else if j.retries_left > 0 {
                        j.retries_left -= 1;
                        true
                    } else {
                        false
                    };
                    if resend {
                        retry.push(job);
                    } else {
                        self.end_job(job, ClientEvent::JobError { job, error });
                    }
                }
                PendingKind::Exceptions | PendingKind::Probe => {}
                other => {
                    let request = other.request().expect("every other kind has a request id");
                    self.events
                        .push_back(ClientEvent::RequestError { request, error });
                }
            }
        }
        for listeners in conn.listeners.values() {
            for job in listeners.live() {
                self.end_job(
                    job,
                    ClientEvent::JobError {
                        job,
                        error: ClientError::Disconnected { acknowledged: true },
                    },
                );
            }
        }
        for job in retry {
            self.dispatch(job, now, Some(lost.clone()));
        }
    }

    /// Handles one packet from `server`; `Err` says how the server broke the protocol.
    fn handle_packet(&mut self, server: ServerId, packet: Packet) -> Result<(), String> {
        let command = packet.command();
        match command {
            Command::JobCreated
            | Command::Error
            | Command::StatusRes
            | Command::StatusResUnique
            | Command::EchoRes
            | Command::OptionRes => self.handle_reply(server, packet),
            Command::WorkDataRes | Command::WorkWarningRes | Command::WorkStatusRes => {
                let Some(job) = self.next_listener(server, &packet) else {
                    return Ok(());
                };
                let data = || packet.field_bytes(Field::Data).unwrap_or_default();
                self.events.push_back(match command {
                    Command::WorkDataRes => ClientEvent::Data { job, data: data() },
                    Command::WorkWarningRes => ClientEvent::Warning { job, data: data() },
                    _ => ClientEvent::Status {
                        job,
                        numerator: lenient_number(packet.field(Field::Numerator).unwrap_or(b"")),
                        denominator: lenient_number(
                            packet.field(Field::Denominator).unwrap_or(b""),
                        ),
                    },
                });
                Ok(())
            }
            Command::WorkCompleteRes | Command::WorkFailRes | Command::WorkExceptionRes => {
                let handle = packet.handle().unwrap_or_default();
                let Some(listeners) = self.links[server.0]
                    .conn_mut()
                    .and_then(|conn| conn.listeners.remove(handle))
                else {
                    tracing::debug!(%server, ?packet, "result for an unknown handle dropped");
                    return Ok(());
                };
                for job in listeners.live() {
                    let data = || packet.field_bytes(Field::Data).unwrap_or_default();
                    let event = match command {
                        Command::WorkCompleteRes => ClientEvent::Complete { job, data: data() },
                        Command::WorkFailRes => ClientEvent::Failed { job },
                        _ => ClientEvent::Exception { job, data: data() },
                    };
                    self.end_job(job, event);
                }
                Ok(())
            }
            other => Err(format!("{other} is not sent to clients")),
        }
    }

    /// The job a WORK_DATA / WARNING / STATUS copy is for, if still followed.
    fn next_listener(&mut self, server: ServerId, packet: &Packet) -> Option<JobId> {
        let handle = packet.handle().unwrap_or_default();
        let conn = self.links[server.0].conn_mut()?;
        match conn.listeners.get_mut(handle) {
            Some(listeners) => listeners.next_copy(),
            None => {
                tracing::debug!(%server, ?packet, "update for an unknown handle dropped");
                None
            }
        }
    }

    /// The request a reply of type `command` answers: the oldest pending
    /// one it can answer. Replies come in order, so the requests before
    /// that one were dropped by the server without a reply; they end here.
    fn take_answered(&mut self, server: ServerId, command: Command) -> Result<Pending, String> {
        let conn = self.links[server.0]
            .conn_mut()
            .expect("packets are only handled for open connections");
        let Some(index) = conn.fifo.iter().position(|p| p.kind.answered_by(command)) else {
            return Err(match conn.fifo.front() {
                None => format!("{command} with no request pending"),
                Some(p) => format!("{command} does not answer the pending {:?}", p.kind),
            });
        };
        if index == 0 {
            return Ok(conn.fifo.pop_front().expect("found at index 0"));
        }
        let ignored: Vec<Pending> = conn.fifo.drain(..index).collect();
        let answered = conn.fifo.pop_front().expect("found at index");
        for pending in ignored {
            tracing::debug!(%server, kind = ?pending.kind, %command, "request dropped by the job server without a reply");
            match pending.kind {
                PendingKind::Exceptions => {
                    if let Some(conn) = self.links[server.0].conn_mut() {
                        conn.exceptions = ExceptionsOption::Refused;
                    }
                }
                PendingKind::Probe => {}
                PendingKind::Submit { job, .. } => self.end_job(
                    job,
                    ClientEvent::JobError {
                        job,
                        error: ClientError::Ignored,
                    },
                ),
                other => {
                    let request = other.request().expect("every other kind has a request id");
                    self.events.push_back(ClientEvent::RequestError {
                        request,
                        error: ClientError::Ignored,
                    });
                }
            }
        }
        Ok(answered)
    }

    /// A reply without a handle: it answers the oldest pending request it
    /// can answer.
    fn handle_reply(&mut self, server: ServerId, packet: Packet) -> Result<(), String> {
        let command = packet.command();
        let pending = self.take_answered(server, command)?;
        let link = &mut self.links[server.0];
        let LinkState::Open(conn) = &mut link.state else {
            unreachable!("packets are only handled for open connections");
        };
        if !conn.verified {
            // Any reply proves the server answers again.
            conn.verified = true;
            link.backoff.reset();
        }
        let field = |f| packet.field_bytes(f).unwrap_or_default();
        let flag = |f| packet.field(f) == Some(b"1");
        let number = |f| lenient_number(packet.field(f).unwrap_or(b""));
        match (command, pending.kind) {
            (Command::Error, kind) => {
                let text = field(Field::ErrorText);
                let text = text.strip_suffix(b"\0").unwrap_or(&text);
                let error = ClientError::ServerError {
                    code: String::from_utf8_lossy(&field(Field::ErrorCode)).into_owned(),
                    text: String::from_utf8_lossy(text).into_owned(),
                };
                match kind {
                    PendingKind::Submit { job, .. } => {
                        self.end_job(job, ClientEvent::JobError { job, error });
                    }
                    PendingKind::Status(request)
                    | PendingKind::StatusUnique(request)
                    | PendingKind::Echo(request)
                    | PendingKind::Raw(request) => {
                        self.events
                            .push_back(ClientEvent::RequestError { request, error });
                    }
                    PendingKind::Probe => {}
                    PendingKind::Exceptions => {
                        conn.exceptions = ExceptionsOption::Refused;
                        tracing::warn!(
                            %server,
                            %error,
                            "server refused OPTION_REQ exceptions; exceptions will arrive as failures"
                        );
                    }
                }
            }
            (Command::JobCreated, PendingKind::Submit { job, foreground }) => {
                let handle = field(Field::Handle);
                let alive = self
                    .jobs
                    .get(&job)
                    .is_some_and(|j| j.state == JobState::Queued { server });
                if foreground {
                    // The server now sends this submit's copies, followed or not.
                    let listener = alive.then_some(job);
                    match conn.listeners.get_mut(&handle[..]) {
                        Some(listeners) => listeners.add(listener),
                        None => {
                            conn.listeners
                                .insert(handle.clone(), Listeners::new(listener));
                        }
                    }
                }
                if alive {
                    let event = ClientEvent::Created {
                        job,
                        handle: JobHandle {
                            server,
                            handle: handle.clone(),
                        },
                        background: !foreground,
                    };
                    if foreground {
                        let j = self.jobs.get_mut(&job).expect("checked alive above");
                        j.state = JobState::Acknowledged { server, handle };
                        // An acknowledged job is never sent again, so its
                        // request (workload included) need not stay in
                        // memory until it ends.
                        j.request = None;
                        self.events.push_back(event);
                    } else {
                        self.end_job(job, event);
                    }
                }
            }
            (Command::StatusRes, PendingKind::Status(request)) => {
                let status = JobStatus {
                    handle: JobHandle {
                        server,
                        handle: field(Field::Handle),
                    },
                    known: flag(Field::Known),
                    running: flag(Field::Running),
                    numerator: number(Field::Numerator),
                    denominator: number(Field::Denominator),
                };
                self.events
                    .push_back(ClientEvent::StatusResult { request, status });
            }
            (Command::StatusResUnique, PendingKind::StatusUnique(request)) => {
                let status = UniqueStatus {
                    unique: field(Field::Unique),
                    known: flag(Field::Known),
                    running: flag(Field::Running),
                    numerator: number(Field::Numerator),
                    denominator: number(Field::Denominator),
                    waiting_clients: number(Field::ClientCount),
                };
                self.events
                    .push_back(ClientEvent::StatusUniqueResult { request, status });
            }
            (Command::EchoRes, PendingKind::Echo(request)) => {
                self.events.push_back(ClientEvent::EchoResult {
                    request,
                    data: field(Field::Data),
                });
            }
            (_, PendingKind::Raw(request)) => {
                self.events
                    .push_back(ClientEvent::RawReply { request, packet });
            }
            (Command::OptionRes, PendingKind::Exceptions) => {
                conn.exceptions = ExceptionsOption::Accepted;
            }
            (Command::EchoRes, PendingKind::Probe) => {}
            (command, kind) => {
                unreachable!("take_answered matched {command} with {kind:?}")
            }
        }
        Ok(())
    }
}

impl Endpoint for Client {
    fn output_limits(&self) -> crate::endpoint::OutputLimits {
        self.config.output_limits()
    }

    fn handle_connected(&mut self, conn: ConnId, _now: Instant) {
        let Some(server) = self.server_of(conn) else {
            return;
        };
        let link = &mut self.links[server.0];
        link.last_failure = None;
        if let LinkState::Open(c) = &mut link.state {
            c.connected = true;
            if !c.reconnect {
                c.verified = true;
                link.backoff.reset();
            }
        }
    }

    fn handle_input(&mut self, conn: ConnId, data: &[u8], now: Instant) {
        let Some(server) = self.server_of(conn) else {
            return;
        };
        let c = self.links[server.0]
            .conn_mut()
            .expect("server_of found it open");
        // Bytes can only come from an established connection.
        c.connected = true;
        let unconsumed = c.read_buf.len() + data.len();
        c.read_buf.extend_from_slice(data);
        // Every way out ends up below: the packets may have ended what a
        // close waited for.
        while let Some(c) = self.links[server.0].conn_mut() {
            let packet = match c.decoder.decode_packet(&mut c.read_buf) {
                Ok(Some(packet)) => packet,
                Ok(None) => {
                    let buffered = c.read_buf.len();
                    c.frame.on_input(buffered < unconsumed, buffered, now);
                    break;
                }
                Err(error) => {
                    tracing::warn!(%server, %conn, %error, "undecodable input from job server; closing");
                    self.drop_conn(server, now, CloseCause::Protocol);
                    break;
                }
            };
            if let Err(reason) = self.handle_packet(server, packet) {
                tracing::warn!(%server, %conn, %reason, "protocol violation by job server; closing");
                self.drop_conn(server, now, CloseCause::Protocol);
                break;
            }
        }
        self.finish_close_if_idle();
    }

    fn handle_disconnected(&mut self, conn: ConnId, now: Instant) {
        if let Some(server) = self.server_of(conn) {
            self.drop_conn(server, now, CloseCause::PeerClosed);
            self.finish_close_if_idle();
        }
    }

    fn handle_connect_failed(&mut self, conn: ConnId, error: ConnectError, now: Instant) {
        if let Some(server) = self.server_of(conn) {
            self.links[server.0].last_failure = Some(error);
            self.drop_conn(server, now, CloseCause::ConnectFailed);
            self.finish_close_if_idle();
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        match self.closing {
            Closing::Closed => return,
            Closing::Draining {
                deadline: Some(deadline),
            } if deadline <= now => {
                tracing::warn!(
                    jobs = self.jobs.len(),
                    "close timeout reached; abandoning what is in flight"
                );
                self.abandon_in_flight();
                self.finish_close();
                return;
            }
            _ => {}
        }
        let draining = self.closing != Closing::Open;
        for index in 0..self.links.len() {
            if matches!(self.links[index].state, LinkState::Down { until } if until <= now) {
                if draining {
                    // Nothing reconnects while closing.
                    continue;
                }
                tracing::debug!(server = %self.links[index].addr, "reconnecting after backoff");
                self.open_as(ServerId(index), now, true);
                continue;
            }
            let Some(conn) = self.links[index].conn() else {
                continue;
            };
            if !conn.verified && deadline_after(conn.opened_at, self.config.connect_timeout) <= now
            {
                tracing::debug!(server = %self.links[index].addr, "connect timeout");
                let link = &mut self.links[index];
                link.last_failure = Some(ConnectError::new(
                    link.addr.clone(),
                    std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "not ready within the connect timeout",
                    ),
                ));
                self.drop_conn(ServerId(index), now, CloseCause::ConnectTimeout);
            } else if conn
                .fifo
                .front()
                .and_then(|p| p.deadline)
                .is_some_and(|at| at <= now)
            {
                tracing::warn!(server = %self.links[index].addr, "request timeout; closing the connection");
                self.drop_conn(ServerId(index), now, CloseCause::RequestTimeout);
            } else if conn
                .frame
                .deadline(conn.read_buf.len(), self.config.frame_timeout)
                .is_some_and(|at| at <= now)
            {
                tracing::warn!(
                    server = %self.links[index].addr,
                    "job server stalled mid-packet; closing the connection"
                );
                self.drop_conn(ServerId(index), now, CloseCause::FrameTimeout);
            }
        }
        while let Some(&Reverse((at, id))) = self.deadlines.peek() {
            if at > now {
                break;
            }
            self.deadlines.pop();
            if self.jobs.get(&id).is_some_and(|j| j.deadline == Some(at)) {
                let job = self.forget_job(id).expect("checked above");
                let acknowledged = matches!(job.state, JobState::Acknowledged { .. });
                self.events.push_back(ClientEvent::JobError {
                    job: id,
                    error: ClientError::Timeout { acknowledged },
                });
            }
        }
        self.finish_close_if_idle();
    }

    fn poll_action(&mut self) -> Option<ConnAction> {
        self.actions.pop_front()
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.links.iter_mut().find_map(|link| {
            let conn = link.conn_mut()?;
            (conn.connected && !conn.out.is_empty()).then(|| Transmit {
                conn: conn.id,
                data: conn.out.split().freeze(),
            })
        })
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let close = match self.closing {
            Closing::Open => None,
            Closing::Draining { deadline } => deadline,
            Closing::Closed => return None,
        };
        let connections = self.links.iter().filter_map(|link| match &link.state {
            LinkState::Idle => None,
            // No reconnect is due while closing.
            LinkState::Down { .. } if self.closing != Closing::Open => None,
            LinkState::Down { until } => Some(*until),
            LinkState::Open(conn) => {
                let connect = (!conn.verified)
                    .then(|| deadline_after(conn.opened_at, self.config.connect_timeout));
                let request = conn.fifo.front().and_then(|p| p.deadline);
                let frame = conn
                    .frame
                    .deadline(conn.read_buf.len(), self.config.frame_timeout);
                connect.into_iter().chain(request).chain(frame).min()
            }
        });
        let job = self.deadlines.peek().map(|Reverse((at, _))| *at);
        connections.chain(job).chain(close).min()
    }
}
