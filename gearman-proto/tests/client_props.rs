//! Property tests of the client: random interleavings of commands, server
//! replies (sensible or not), connection failures and time never panic,
//! never end a job or request twice, never report on an ended job, and leave
//! nothing without an end once every connection is gone.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use gearman_proto::client::RoutingPolicy;
use gearman_proto::client::{
    Client, ClientConfig, JobHandle, JobId, JobRequest, RequestId, ServerId,
};
use gearman_proto::{Command, ConnAction, ConnId, Endpoint, Packet};
use proptest::prelude::*;

const SERVERS: [&str; 3] = ["a:1", "b:1", "c:1"];
const HANDLES: [&[u8]; 3] = [b"H:1", b"H:2", b"H:3"];
const UNIQUES: [&str; 3] = ["", "u1", "u2"];

#[derive(Debug, Clone)]
enum Reply {
    Created,
    Error,
    Status,
    StatusUnique,
    Echo,
    OptionRes,
    Data,
    WorkStatus,
    Complete,
    Fail,
    FailWithNul,
    Exception,
    Noop,
    Garbage,
    HalfPacket,
}

#[derive(Debug, Clone)]
enum Op {
    Submit {
        background: bool,
        unique: usize,
        deadline_ms: Option<u64>,
    },
    Echo(usize),
    RawEcho(usize),
    Status(usize, usize),
    StatusUnique(usize),
    Forget(u64),
    /// Answer the `n`-th connect the client asked for.
    ConnectOutcome(usize, bool),
    Reply(usize, Reply, usize),
    Disconnect(usize),
    Advance(u64),
}

fn reply() -> impl Strategy<Value = Reply> {
    prop_oneof![
        4 => Just(Reply::Created),
        1 => Just(Reply::Error),
        1 => Just(Reply::Status),
        1 => Just(Reply::StatusUnique),
        1 => Just(Reply::Echo),
        1 => Just(Reply::OptionRes),
        2 => Just(Reply::Data),
        1 => Just(Reply::WorkStatus),
        3 => Just(Reply::Complete),
        1 => Just(Reply::Fail),
        1 => Just(Reply::FailWithNul),
        1 => Just(Reply::Exception),
        1 => Just(Reply::Noop),
        1 => Just(Reply::Garbage),
        1 => Just(Reply::HalfPacket),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<bool>(), 0..UNIQUES.len(), prop::option::of(0u64..3000)).prop_map(
            |(background, unique, deadline_ms)| Op::Submit { background, unique, deadline_ms }
        ),
        1 => (0..SERVERS.len()).prop_map(Op::Echo),
        1 => (0..SERVERS.len()).prop_map(Op::RawEcho),
        1 => (0..SERVERS.len(), 0..HANDLES.len()).prop_map(|(s, h)| Op::Status(s, h)),
        1 => (0..UNIQUES.len()).prop_map(Op::StatusUnique),
        1 => (1u64..20).prop_map(Op::Forget),
        3 => (0usize..4, prop::bool::weighted(0.8)).prop_map(|(n, ok)| Op::ConnectOutcome(n, ok)),
        8 => (0usize..4, reply(), 0..HANDLES.len()).prop_map(|(c, r, h)| Op::Reply(c, r, h)),
        1 => (0usize..4).prop_map(Op::Disconnect),
        2 => (0u64..2500).prop_map(Op::Advance),
    ]
}

fn policy() -> impl Strategy<Value = RoutingPolicy> {
    prop_oneof![
        Just(RoutingPolicy::Single),
        Just(RoutingPolicy::RoundRobin),
        Just(RoutingPolicy::consistent_hash()),
    ]
}

/// Drives the client and checks every event against what came before.
struct Checker {
    client: Client,
    now: Instant,
    /// Connects asked for and not yet answered.
    connecting: Vec<ConnId>,
    /// Connections established and not closed.
    open: Vec<ConnId>,
    jobs: HashSet<JobId>,
    ended_jobs: HashSet<JobId>,
    requests: HashSet<RequestId>,
    answered: HashSet<RequestId>,
}

impl Checker {
    fn pump(&mut self) {
        while let Some(action) = self.client.poll_action() {
            match action {
                ConnAction::Connect { conn, addr } => {
                    assert!(SERVERS.contains(&addr.as_str()));
                    assert!(!self.connecting.contains(&conn) && !self.open.contains(&conn));
                    self.connecting.push(conn);
                }
                ConnAction::Close { conn } => {
                    self.connecting.retain(|c| *c != conn);
                    self.open.retain(|c| *c != conn);
                }
                other => panic!("unknown action {other:?}"),
            }
        }
        while let Some(t) = self.client.poll_transmit() {
            assert!(
                self.open.contains(&t.conn),
                "bytes for a connection not open"
            );
            assert!(!t.data.is_empty());
        }
        while let Some(event) = self.client.poll_event() {
            if let Some(job) = event.job() {
                assert!(self.jobs.contains(&job), "event for an unknown job");
                assert!(
                    !self.ended_jobs.contains(&job),
                    "event after the end: {event:?}"
                );
                if event.is_terminal() {
                    self.ended_jobs.insert(job);
                }
            }
            if let Some(request) = event.request() {
                assert!(self.requests.contains(&request));
                assert!(self.answered.insert(request), "request answered twice");
            }
        }
    }

    fn input(&mut self, pick: usize, bytes: &[u8]) {
        if self.open.is_empty() {
            return;
        }
        let conn = self.open[pick % self.open.len()];
        self.client.handle_input(conn, bytes, self.now);
    }

    fn apply(&mut self, op: Op) {
        let now = self.now;
        match op {
            Op::Submit {
                background,
                unique,
                deadline_ms,
            } => {
                let mut request = JobRequest::new("f", "x");
                if !UNIQUES[unique].is_empty() {
                    request = request.with_unique(UNIQUES[unique]);
                }
                if background {
                    request = request.in_background();
                }
                if let Some(ms) = deadline_ms {
                    request = request.with_deadline(Duration::from_millis(ms));
                }
                let job = self.client.submit(request, now).unwrap();
                assert!(self.jobs.insert(job), "job id reused");
            }
            Op::Echo(server) => {
                let r = self.client.echo(ServerId(server), "e", now).unwrap();
                assert!(self.requests.insert(r));
            }
            Op::RawEcho(server) => {
                let echo = Packet::build(Command::EchoReq, &[b"e"]).unwrap();
                let r = self.client.send_raw(ServerId(server), &echo, now).unwrap();
                assert!(self.requests.insert(r));
            }
            Op::Status(server, h) => {
                let handle = JobHandle {
                    server: ServerId(server),
                    handle: HANDLES[h].into(),
                };
                let r = self.client.get_status(&handle, now).unwrap();
                assert!(self.requests.insert(r));
            }
            Op::StatusUnique(u) => {
                let r = self.client.get_status_unique(UNIQUES[u], now).unwrap();
                assert!(self.requests.insert(r));
            }
            Op::Forget(id) => {
                let job = JobId(id);
                let was_active = self.client.is_active(job);
                assert_eq!(self.client.forget(job), was_active);
                if was_active {
                    self.ended_jobs.insert(job);
                }
            }
            Op::ConnectOutcome(n, ok) => {
                if !self.connecting.is_empty() {
                    let conn = self.connecting.remove(n % self.connecting.len());
                    if ok {
                        self.open.push(conn);
                        self.client.handle_connected(conn, now);
                    } else {
                        self.client.handle_disconnected(conn, now);
                    }
                }
            }
            Op::Reply(pick, reply, h) => {
                let handle = HANDLES[h];
                let bytes = match reply {
                    Reply::Created => encode(Command::JobCreated, &[handle]),
                    Reply::Error => encode(Command::Error, &[b"QUEUE_ERROR", b"full"]),
                    Reply::Status => encode(Command::StatusRes, &[handle, b"1", b"0", b"1", b"2"]),
                    Reply::StatusUnique => encode(
                        Command::StatusResUnique,
                        &[b"u1", b"1", b"0", b"", b"", b"1"],
                    ),
                    Reply::Echo => encode(Command::EchoRes, &[b"e"]),
                    Reply::OptionRes => encode(Command::OptionRes, &[b"exceptions"]),
                    Reply::Data => encode(Command::WorkDataRes, &[handle, b"d"]),
                    Reply::WorkStatus => encode(Command::WorkStatusRes, &[handle, b"1", b"x"]),
                    Reply::Complete => encode(Command::WorkCompleteRes, &[handle, b"r"]),
                    Reply::Fail => encode(Command::WorkFailRes, &[handle]),
                    Reply::FailWithNul => {
                        let mut h = handle.to_vec();
                        h.push(0);
                        let mut out = Vec::new();
                        Packet::from_payload(Command::WorkFailRes, h.into())
                            .unwrap()
                            .encode(&mut out);
                        out
                    }
                    Reply::Exception => encode(Command::WorkExceptionRes, &[handle, b"boom"]),
                    Reply::Noop => encode(Command::Noop, &[]),
                    Reply::Garbage => b"garbage\r\n".to_vec(),
                    Reply::HalfPacket => encode(Command::JobCreated, &[handle])[..7].to_vec(),
                };
                self.input(pick, &bytes);
            }
            Op::Disconnect(pick) => {
                if !self.open.is_empty() {
                    let conn = self.open.remove(pick % self.open.len());
                    self.client.handle_disconnected(conn, now);
                }
            }
            Op::Advance(ms) => {
                self.now += Duration::from_millis(ms);
                self.client.handle_timeout(self.now);
                // Handling a deadline makes progress: no wake-up loop.
                assert!(self.client.poll_timeout().is_none_or(|at| at > self.now));
            }
        }
        self.pump();
    }

    /// Takes every connection away until none is left or asked for.
    fn tear_down(&mut self) {
        for _ in 0..100 {
            self.pump();
            if self.connecting.is_empty() && self.open.is_empty() {
                break;
            }
            for conn in std::mem::take(&mut self.connecting)
                .into_iter()
                .chain(std::mem::take(&mut self.open))
            {
                self.client.handle_disconnected(conn, self.now);
            }
        }
        self.pump();
        assert!(self.connecting.is_empty() && self.open.is_empty());
    }
}

fn encode(command: Command, fields: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    Packet::build(command, fields).unwrap().encode(&mut out);
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn random_interleavings_keep_every_promise(
        ops in prop::collection::vec(op(), 1..120),
        policy in policy(),
        exceptions in any::<bool>(),
        retries in 0u32..3,
        seed in any::<u64>(),
    ) {
        let config = ClientConfig::new(SERVERS)
            .with_routing(policy)
            .with_exceptions(exceptions)
            .with_submit_retries(retries)
            .with_seed(seed)
            .with_backoff(Duration::from_millis(10), Duration::from_millis(200))
            .with_connect_timeout(Duration::from_millis(500))
            .with_request_timeout(Some(Duration::from_millis(1500)));
        let mut checker = Checker {
            client: Client::new(config).unwrap(),
            now: Instant::now(),
            connecting: Vec::new(),
            open: Vec::new(),
            jobs: HashSet::new(),
            ended_jobs: HashSet::new(),
            requests: HashSet::new(),
            answered: HashSet::new(),
        };
        for op in ops {
            checker.apply(op);
        }
        checker.tear_down();
        prop_assert_eq!(checker.client.active_jobs(), 0);
        let unended: Vec<_> = checker.jobs.difference(&checker.ended_jobs).collect();
        prop_assert!(unended.is_empty(), "jobs without an end: {:?}", unended);
        let unanswered: Vec<_> = checker.requests.difference(&checker.answered).collect();
        prop_assert!(unanswered.is_empty(), "requests without an answer: {:?}", unanswered);
        // Much later, only reconnects are left to do: no job comes back.
        checker.now += Duration::from_secs(3600);
        checker.client.handle_timeout(checker.now);
        checker.pump();
        prop_assert_eq!(checker.client.active_jobs(), 0);
        prop_assert!(checker.open.is_empty());
    }
}
