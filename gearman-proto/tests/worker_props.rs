//! Property tests: random interleavings of server packets, connects,
//! disconnects, time, caller results, ability changes and shutdown.
//!
//! A model counts grabs from the bytes the worker writes and the replies fed
//! to it, independently of the worker's own bookkeeping, and checks after
//! every step: no panic; the worker's count of grabs outstanding matches
//! the model's; grabs outstanding plus running jobs never above the limit; every job reported
//! once and ended once (by the caller or by JobLost); results go to the
//! connection that assigned the job; a free slot never sits next to an idle
//! connection; shutdown completes once every job ends.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use gearman_proto::worker::ServerId;
use gearman_proto::worker::{AssignmentId, GrabMode, GrabState, Worker, WorkerConfig, WorkerEvent};
use gearman_proto::{Command, ConnAction, ConnId, Decoder, Packet};
use proptest::prelude::*;

const FUNCTIONS: [&str; 3] = ["f", "g", "h"];

#[derive(Debug, Clone)]
enum Reply {
    Noop,
    NoJob,
    Assign,
    AssignUniq,
    AssignAll,
    ErrorGrab,
    ErrorJobNotFound,
    EchoRes,
    Garbage,
}

#[derive(Debug, Clone)]
enum Op {
    /// A server sends a packet, possibly split in two reads.
    Send {
        server: usize,
        reply: Reply,
        function: usize,
        split: Option<usize>,
    },
    Accept(usize),
    Refuse(usize),
    Drop(usize),
    Advance(u64),
    /// The caller reports on the n-th live job (modulo their count).
    Report {
        job: usize,
        kind: u8,
    },
    CanDo(usize),
    CantDo(usize),
    Reset,
    Shutdown,
}

fn reply() -> impl Strategy<Value = Reply> {
    prop_oneof![
        3 => Just(Reply::Noop),
        3 => Just(Reply::NoJob),
        2 => Just(Reply::Assign),
        2 => Just(Reply::AssignUniq),
        2 => Just(Reply::AssignAll),
        1 => Just(Reply::ErrorGrab),
        1 => Just(Reply::ErrorJobNotFound),
        1 => Just(Reply::EchoRes),
        1 => Just(Reply::Garbage),
    ]
}

fn op(servers: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => (0..servers, reply(), 0..FUNCTIONS.len(), proptest::option::of(1usize..40))
            .prop_map(|(server, reply, function, split)| Op::Send { server, reply, function, split }),
        2 => (0..servers).prop_map(Op::Accept),
        1 => (0..servers).prop_map(Op::Refuse),
        1 => (0..servers).prop_map(Op::Drop),
        2 => (0u64..3000).prop_map(Op::Advance),
        5 => (0usize..8, 0u8..6).prop_map(|(job, kind)| Op::Report { job, kind }),
        1 => (0..FUNCTIONS.len()).prop_map(Op::CanDo),
        1 => (0..FUNCTIONS.len()).prop_map(Op::CantDo),
        1 => Just(Op::Reset),
        1 => Just(Op::Shutdown),
    ]
}

struct Model {
    worker: Worker,
    now: Instant,
    limit: usize,
    servers: Vec<String>,
    pending: HashMap<usize, ConnId>,
    conns: HashMap<usize, ConnId>,
    outstanding: HashMap<ConnId, usize>,
    sent: HashMap<ConnId, (BytesMut, Decoder)>,
    /// Handles assigned on each connection and not yet ended by a packet.
    handles: HashMap<ConnId, HashSet<Vec<u8>>>,
    live: Vec<AssignmentId>,
    ever: HashSet<AssignmentId>,
    next_handle: u64,
    shutdown_complete: bool,
    /// Whether the step being drained moved the clock: a grab then may
    /// replace one whose reply is overdue.
    advancing: bool,
    /// The form of the last grab written on each connection: a replacement
    /// falls back to a plainer one.
    grab_form: HashMap<ConnId, Command>,
}

impl Model {
    fn new(servers: usize, limit: usize, grab: GrabMode, seed: u64) -> Model {
        let names: Vec<String> = (0..servers).map(|i| format!("s{i}:4730")).collect();
        let config = WorkerConfig::new(names.clone())
            .with_function("f")
            .with_function("g")
            .with_concurrency(limit)
            .with_grab(grab)
            .with_seed(seed)
            .with_connect_timeout(Duration::from_secs(2))
            .with_grab_reply_timeout(Some(Duration::from_secs(4)))
            .with_shutdown_timeout(Some(Duration::from_secs(20)))
            .with_backoff(Duration::from_millis(50), Duration::from_millis(800));
        let now = Instant::now();
        let mut model = Model {
            worker: Worker::new(config, now).unwrap(),
            now,
            limit,
            servers: names,
            pending: HashMap::new(),
            conns: HashMap::new(),
            outstanding: HashMap::new(),
            sent: HashMap::new(),
            handles: HashMap::new(),
            live: Vec::new(),
            ever: HashSet::new(),
            next_handle: 0,
            shutdown_complete: false,
            advancing: false,
            grab_form: HashMap::new(),
        };
        model.drain();
        model
    }

    /// Takes every output and checks the invariants.
    fn drain(&mut self) {
        let mut grabs_this_step = 0;
        while let Some(t) = self.worker.poll_transmit() {
            let known = self.conns.values().any(|c| *c == t.conn);
            assert!(
                known,
                "bytes for a connection that is not open: {:?}",
                t.conn
            );
            let (buf, decoder) = self.sent.entry(t.conn).or_default();
            buf.extend_from_slice(&t.data);
            while let Some(p) = decoder
                .decode_packet(buf)
                .expect("worker writes valid packets")
            {
                match p.command() {
                    Command::GrabJob | Command::GrabJobUniq | Command::GrabJobAll => {
                        let outstanding = self.outstanding.entry(t.conn).or_default();
                        let previous = self.grab_form.insert(t.conn, p.command());
                        // A lone grab left unanswered falls back to a
                        // plainer form on the same connection, in its place;
                        // any other grab joins those outstanding.
                        let replaces = self.advancing
                            && *outstanding == 1
                            && previous.is_some_and(|form| form != p.command());
                        if !replaces {
                            *outstanding += 1;
                        }
                        grabs_this_step += 1;
                    }
                    Command::WorkDataReq
                    | Command::WorkWarningReq
                    | Command::WorkStatusReq
                    | Command::WorkCompleteReq
                    | Command::WorkFailReq
                    | Command::WorkExceptionReq => {
                        let handles = self.handles.entry(t.conn).or_default();
                        let handle = p.handle().unwrap().to_vec();
                        assert!(
                            handles.contains(&handle),
                            "{p:?} on {:?} for a job not assigned there or already ended",
                            t.conn
                        );
                        if matches!(
                            p.command(),
                            Command::WorkCompleteReq
                                | Command::WorkFailReq
                                | Command::WorkExceptionReq
                        ) {
                            handles.remove(&handle);
                        }
                    }
                    _ => {}
                }
            }
            assert!(buf.is_empty(), "partial packet in a transmit");
        }
        assert!(
            grabs_this_step <= self.limit,
            "{grabs_this_step} grabs in one step"
        );
        while let Some(action) = self.worker.poll_action() {
            match action {
                ConnAction::Connect { conn, addr } => {
                    assert!(!self.shutdown_complete, "connect after shutdown");
                    let server = self.servers.iter().position(|s| *s == addr).unwrap();
                    assert!(!self.conns.contains_key(&server), "second connection");
                    self.pending.insert(server, conn);
                }
                ConnAction::Close { conn } => {
                    self.conns.retain(|_, c| *c != conn);
                    self.pending.retain(|_, c| *c != conn);
                    self.outstanding.remove(&conn);
                    self.handles.remove(&conn);
                    self.grab_form.remove(&conn);
                }
                other => panic!("unexpected action {other:?}"),
            }
        }
        if self.advancing {
            // While shutting down, an overdue grab is forgotten without a
            // packet; it is the only change time makes without one.
            for (server, conn) in &self.conns {
                if self.worker.grab_state(ServerId(*server)) != Some(GrabState::AwaitingGrabReply) {
                    self.outstanding.remove(conn);
                }
            }
        }
        while let Some(event) = self.worker.poll_event() {
            assert!(
                !self.shutdown_complete,
                "event after ShutdownComplete: {event:?}"
            );
            match event {
                WorkerEvent::JobAssigned(job) => {
                    assert!(self.ever.insert(job.id), "job reported twice");
                    self.live.push(job.id);
                }
                WorkerEvent::JobLost { id } => {
                    let at = self
                        .live
                        .iter()
                        .position(|j| *j == id)
                        .expect("lost a live job");
                    self.live.remove(at);
                }
                WorkerEvent::ShutdownComplete => {
                    assert!(self.live.is_empty(), "shutdown with jobs live");
                    self.shutdown_complete = true;
                }
                _ => {}
            }
        }
        self.check();
    }

    fn check(&self) {
        let mut total = 0;
        for conn in self.conns.values() {
            let n = self.outstanding.get(conn).copied().unwrap_or(0);
            assert!(n <= self.limit, "{n} grabs outstanding on {conn:?}");
            total += n;
        }
        assert_eq!(total, self.worker.grabs_outstanding(), "grab bookkeeping");
        assert_eq!(self.live.len(), self.worker.running_jobs());
        assert!(
            self.worker.grabs_outstanding() + self.worker.running_jobs() <= self.limit,
            "over the limit: {} grabs + {} running > {}",
            self.worker.grabs_outstanding(),
            self.worker.running_jobs(),
            self.limit
        );
        // Liveness: a free slot never sits next to an idle connection.
        let full = self.worker.grabs_outstanding() + self.worker.running_jobs() >= self.limit;
        let can_grab = !self.worker.is_shutting_down() && self.worker.abilities().count() > 0;
        for server in self.conns.keys() {
            let idle = self.worker.grab_state(ServerId(*server)) == Some(GrabState::Idle);
            assert!(
                !(idle && !full && can_grab),
                "server {server} idle with a free slot"
            );
        }
        if self.shutdown_complete {
            assert_eq!(self.worker.poll_timeout(), None);
            assert!(self.conns.is_empty() && self.pending.is_empty());
        }
    }

    fn feed(&mut self, server: usize, reply: &Reply, function: usize, split: Option<usize>) {
        let Some(&conn) = self.conns.get(&server) else {
            return;
        };
        let f = FUNCTIONS[function].as_bytes();
        self.next_handle += 1;
        let handle = format!("H:{}", self.next_handle).into_bytes();
        let packet = match reply {
            Reply::Noop => Packet::build(Command::Noop, &[]),
            Reply::NoJob => Packet::build(Command::NoJob, &[]),
            Reply::Assign => Packet::build(Command::JobAssign, &[&handle, f, b"w"]),
            Reply::AssignUniq => Packet::build(Command::JobAssignUniq, &[&handle, f, b"u", b"w"]),
            Reply::AssignAll => {
                Packet::build(Command::JobAssignAll, &[&handle, f, b"u", b"r", b"w"])
            }
            Reply::ErrorGrab => Packet::build(Command::Error, &[b"INVALID_COMMAND", b"x"]),
            Reply::ErrorJobNotFound => Packet::build(Command::Error, &[b"JOB_NOT_FOUND", b"x"]),
            Reply::EchoRes => Packet::build(Command::EchoRes, &[b"e"]),
            Reply::Garbage => {
                self.worker.handle_input(conn, b"\0RXS garbage", self.now);
                return;
            }
        }
        .unwrap();
        // The model's view: a grab reply answers the outstanding grab.
        let answers_grab = matches!(
            reply,
            Reply::NoJob | Reply::Assign | Reply::AssignUniq | Reply::AssignAll | Reply::ErrorGrab
        );
        let outstanding = self.outstanding.entry(conn).or_default();
        if answers_grab && *outstanding > 0 {
            *outstanding -= 1;
        }
        if matches!(reply, Reply::Assign | Reply::AssignUniq | Reply::AssignAll) {
            self.handles.entry(conn).or_default().insert(handle);
        }
        let mut bytes = Vec::new();
        packet.encode(&mut bytes);
        match split {
            Some(at) if at < bytes.len() => {
                self.worker.handle_input(conn, &bytes[..at], self.now);
                self.worker.handle_input(conn, &bytes[at..], self.now);
            }
            _ => self.worker.handle_input(conn, &bytes, self.now),
        }
    }

    fn apply(&mut self, op: &Op) {
        match op {
            Op::Send {
                server,
                reply,
                function,
                split,
            } => self.feed(*server, reply, *function, *split),
            Op::Accept(server) => {
                if let Some(conn) = self.pending.remove(server) {
                    self.conns.insert(*server, conn);
                    self.worker.handle_connected(conn, self.now);
                }
            }
            Op::Refuse(server) => {
                if let Some(conn) = self.pending.remove(server) {
                    self.worker.handle_disconnected(conn, self.now);
                }
            }
            Op::Drop(server) => {
                if let Some(conn) = self.conns.remove(server) {
                    self.outstanding.remove(&conn);
                    self.grab_form.remove(&conn);
                    self.handles.remove(&conn);
                    self.worker.handle_disconnected(conn, self.now);
                }
            }
            Op::Advance(ms) => {
                self.now += Duration::from_millis(*ms);
                self.worker.handle_timeout(self.now);
                self.advancing = true;
            }
            Op::Report { job, kind } => {
                if self.live.is_empty() {
                    return;
                }
                let id = self.live[job % self.live.len()];
                let result = match kind {
                    0 => self.worker.work_complete(id, b"r"),
                    1 => self.worker.work_fail(id),
                    2 => self.worker.work_exception(id, b"x"),
                    3 => self.worker.work_data(id, b"d"),
                    4 => self.worker.work_status(id, 1, 2),
                    _ => self.worker.work_warning(id, b"w"),
                };
                result.expect("a live job accepts results");
                if *kind <= 2 {
                    self.live.retain(|j| *j != id);
                    // A second end is refused.
                    assert!(self.worker.work_fail(id).is_err());
                }
            }
            Op::CanDo(f) => self.worker.can_do(FUNCTIONS[*f]).unwrap(),
            Op::CantDo(f) => self.worker.cant_do(FUNCTIONS[*f].as_bytes()),
            Op::Reset => self.worker.reset_abilities(),
            Op::Shutdown => self.worker.shutdown(self.now),
        }
        self.drain();
        self.advancing = false;
    }

    /// Ends everything: finish live jobs, shut down, answer outstanding
    /// grabs; shutdown must then be complete.
    fn wind_down(&mut self) {
        self.worker.shutdown(self.now);
        self.drain();
        for _ in 0..4 {
            for id in self.live.clone() {
                self.worker.work_complete(id, b"").unwrap();
                self.live.retain(|j| *j != id);
                self.drain();
            }
            let waiting: Vec<(usize, usize)> = self
                .conns
                .iter()
                .map(|(s, c)| (*s, self.outstanding.get(c).copied().unwrap_or(0)))
                .collect();
            for (server, grabs) in waiting {
                for _ in 0..grabs {
                    self.feed(server, &Reply::NoJob, 0, None);
                    self.drain();
                }
            }
        }
        assert!(self.shutdown_complete, "shutdown did not complete");
    }
}

fn grab_mode() -> impl Strategy<Value = GrabMode> {
    prop_oneof![
        Just(GrabMode::Job),
        Just(GrabMode::Uniq),
        Just(GrabMode::All)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn random_interleavings_keep_the_invariants(
        servers in 1usize..4,
        limit in 1usize..4,
        grab in grab_mode(),
        seed in any::<u64>(),
        ops in proptest::collection::vec(op(3), 0..80),
    ) {
        let mut model = Model::new(servers, limit, grab, seed);
        for op in &ops {
            let op = match op {
                Op::Send { server, reply, function, split } => Op::Send {
                    server: server % servers, reply: reply.clone(), function: *function, split: *split,
                },
                Op::Accept(s) => Op::Accept(s % servers),
                Op::Refuse(s) => Op::Refuse(s % servers),
                Op::Drop(s) => Op::Drop(s % servers),
                other => other.clone(),
            };
            model.apply(&op);
        }
        model.wind_down();
    }

    #[test]
    fn arbitrary_bytes_never_panic_or_break_the_limit(
        chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..20),
    ) {
        let mut model = Model::new(1, 2, GrabMode::All, 0);
        model.apply(&Op::Accept(0));
        for chunk in &chunks {
            if let Some(&conn) = model.conns.get(&0) {
                model.worker.handle_input(conn, chunk, model.now);
                // Arbitrary bytes can be a grab reply the model did not see;
                // only the worker's own accounting is checked here.
                model.outstanding.clear();
                while model.worker.poll_transmit().is_some() {}
                while let Some(action) = model.worker.poll_action() {
                    if let ConnAction::Close { conn } = action {
                        model.conns.retain(|_, c| *c != conn);
                    }
                }
                while model.worker.poll_event().is_some() {}
                prop_assert!(model.worker.grabs_outstanding() + model.worker.running_jobs() <= 2);
            }
        }
    }
}

/// A found case: server 1 leaves its GRAB_JOB unanswered past the timeout
/// and is closed, and the slot it frees goes to a second grab on server 0
/// (whose window grew with its assignment), not to a replacement.
#[test]
fn a_slot_freed_by_a_silent_connection_joins_another_connections_grabs() {
    let mut model = Model::new(3, 2, GrabMode::Job, 0);
    for op in [
        Op::Accept(1),
        Op::Accept(0),
        Op::Advance(1609),
        Op::Send {
            server: 0,
            reply: Reply::Assign,
            function: 2,
            split: None,
        },
        Op::Advance(2391),
    ] {
        model.apply(&op);
    }
    assert_eq!(model.worker.grabs_outstanding(), 2);
    model.wind_down();
}

/// A lone GRAB_JOB_ALL left unanswered falls back to GRAB_JOB_UNIQ in its
/// place: still one grab outstanding.
#[test]
fn a_fall_back_replaces_the_silent_grab() {
    let mut model = Model::new(1, 2, GrabMode::All, 0);
    model.apply(&Op::Accept(0));
    assert_eq!(model.worker.grabs_outstanding(), 1);
    model.apply(&Op::Advance(4000));
    assert_eq!(model.grab_form.values().next(), Some(&Command::GrabJobUniq));
    assert_eq!(model.worker.grabs_outstanding(), 1);
    model.wind_down();
}
