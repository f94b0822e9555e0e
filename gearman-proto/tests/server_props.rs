//! Property test: random sequences of submits, grabs, work updates,
//! timeouts, garbage and disconnects never lose a background job, never
//! deliver a result twice, never leave a job behind, and never panic.

mod sim;

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use gearman_proto::server::ServerConfig;
use gearman_proto::{Command, ConnId};
use proptest::prelude::*;
use sim::wire::{Harness, parse};

const FUNCTIONS: [&str; 2] = ["a", "b"];
const UNIQUES: [&str; 4] = ["", "u1", "u2", "-"];
const PAYLOADS: [&[u8]; 3] = [b"", b"x", b"yy"];
const SUBMITS: [Command; 6] = [
    Command::SubmitJob,
    Command::SubmitJobBg,
    Command::SubmitJobHigh,
    Command::SubmitJobHighBg,
    Command::SubmitJobLow,
    Command::SubmitJobLowBg,
];
const GRABS: [Command; 3] = [Command::GrabJob, Command::GrabJobUniq, Command::GrabJobAll];

#[derive(Debug, Clone)]
enum Op {
    Submit {
        client: usize,
        function: usize,
        unique: usize,
        payload: usize,
        kind: usize,
    },
    Grab {
        worker: usize,
        kind: usize,
    },
    Finish {
        worker: usize,
        pick: usize,
        how: usize,
    },
    Update {
        worker: usize,
        pick: usize,
    },
    PreSleep {
        worker: usize,
    },
    DropWorker {
        worker: usize,
    },
    DropClient {
        client: usize,
    },
    Advance {
        ms: u64,
    },
    Garbage {
        bytes: Vec<u8>,
    },
    Cancel {
        pick: usize,
    },
    Epoch {
        client: usize,
        function: usize,
        ahead: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..3usize, 0..2usize, 0..4usize, 0..3usize, 0..6usize).prop_map(
            |(client, function, unique, payload, kind)| Op::Submit { client, function, unique, payload, kind }
        ),
        3 => (0..3usize, 0..3usize).prop_map(|(worker, kind)| Op::Grab { worker, kind }),
        3 => (0..3usize, 0..4usize, 0..4usize).prop_map(|(worker, pick, how)| Op::Finish { worker, pick, how }),
        1 => (0..3usize, 0..4usize).prop_map(|(worker, pick)| Op::Update { worker, pick }),
        1 => (0..3usize).prop_map(|worker| Op::PreSleep { worker }),
        1 => (0..3usize).prop_map(|worker| Op::DropWorker { worker }),
        1 => (0..3usize).prop_map(|client| Op::DropClient { client }),
        1 => (0..2500u64).prop_map(|ms| Op::Advance { ms }),
        1 => proptest::collection::vec(any::<u8>(), 0..40).prop_map(|bytes| Op::Garbage { bytes }),
        1 => (0..64usize).prop_map(|pick| Op::Cancel { pick }),
        1 => (0..3usize, 0..2usize, 0..5u64).prop_map(|(client, function, ahead)| Op::Epoch { client, function, ahead }),
    ]
}

/// What the test knows from the bytes it saw.
#[derive(Default)]
struct Model {
    /// Per client connection: submits waiting for JOB_CREATED (true = background).
    pending: HashMap<ConnId, VecDeque<bool>>,
    /// Per client connection and handle: foreground attaches and terminals seen.
    attaches: HashMap<(ConnId, Vec<u8>), usize>,
    terminals: HashMap<(ConnId, Vec<u8>), usize>,
    background: HashSet<Vec<u8>>,
    /// Handles each worker connection believes it holds.
    holding: HashMap<ConnId, Vec<Vec<u8>>>,
    /// Handles whose terminal packet the server accepted.
    ended: HashSet<Vec<u8>>,
    /// Handles the admin `cancel job` accepted.
    cancelled: HashSet<Vec<u8>>,
    /// Every handle seen in JOB_CREATED, in order.
    handles: Vec<Vec<u8>>,
}

struct World {
    h: Harness,
    clients: Vec<ConnId>,
    workers: Vec<ConnId>,
    admin: ConnId,
    model: Model,
}

impl World {
    fn new() -> World {
        let mut h = Harness::with(ServerConfig::new("p"));
        h.server
            .set_wall_clock(Duration::from_secs(1_000_000), h.now);
        let clients = (0..3).map(|_| h.connect()).collect();
        let admin = h.connect();
        let mut world = World {
            h,
            clients,
            workers: Vec::new(),
            admin,
            model: Model::default(),
        };
        for _ in 0..3 {
            let w = world.new_worker();
            world.workers.push(w);
        }
        world
    }

    fn new_worker(&mut self) -> ConnId {
        let w = self.h.connect();
        self.h.req(w, Command::CanDo, &[b"a"]);
        self.h.req(w, Command::CanDoTimeout, &[b"b", b"1000"]);
        w
    }

    /// Reads every connection's output and checks the invariants.
    fn observe(&mut self) -> Vec<(ConnId, Command, Vec<Vec<u8>>)> {
        let mut seen = Vec::new();
        let conns: Vec<ConnId> = self.clients.iter().chain(&self.workers).copied().collect();
        for conn in conns {
            for (command, fields) in parse(&self.h.recv(conn)) {
                seen.push((conn, command, fields));
            }
        }
        for (conn, command, fields) in &seen {
            let m = &mut self.model;
            match command {
                Command::JobCreated => {
                    let bg = m
                        .pending
                        .get_mut(conn)
                        .and_then(VecDeque::pop_front)
                        .expect("a submit is pending");
                    let handle = fields[0].clone();
                    m.handles.push(handle.clone());
                    if bg {
                        m.background.insert(handle);
                    } else {
                        *m.attaches.entry((*conn, handle)).or_default() += 1;
                    }
                }
                Command::Error if m.pending.get(conn).is_some_and(|p| !p.is_empty()) => {
                    m.pending.get_mut(conn).unwrap().pop_front();
                }
                Command::WorkCompleteRes | Command::WorkFailRes | Command::WorkExceptionRes => {
                    let mut handle = fields[0].clone();
                    if *command == Command::WorkFailRes && handle.last() == Some(&0) {
                        handle.pop();
                    }
                    let key = (*conn, handle);
                    let n = m.terminals.entry(key.clone()).or_default();
                    *n += 1;
                    let attached = m.attaches.get(&key).copied().unwrap_or(0);
                    assert!(*n <= attached, "result delivered twice: {key:?}");
                }
                Command::JobAssign | Command::JobAssignUniq | Command::JobAssignAll => {
                    m.holding.entry(*conn).or_default().push(fields[0].clone());
                }
                _ => {}
            }
        }
        seen
    }

    fn apply(&mut self, op: &Op) {
        match op {
            Op::Submit {
                client,
                function,
                unique,
                payload,
                kind,
            } => {
                let conn = self.clients[*client];
                let command = SUBMITS[*kind];
                let bg = command.submit_kind().unwrap().1;
                self.model.pending.entry(conn).or_default().push_back(bg);
                self.h.req(
                    conn,
                    command,
                    &[
                        FUNCTIONS[*function].as_bytes(),
                        UNIQUES[*unique].as_bytes(),
                        PAYLOADS[*payload],
                    ],
                );
            }
            Op::Grab { worker, kind } => {
                self.h.req(self.workers[*worker], GRABS[*kind], &[]);
            }
            Op::Finish { worker, pick, how } => {
                let conn = self.workers[*worker];
                let held = self.model.holding.entry(conn).or_default();
                if held.is_empty() {
                    return;
                }
                let handle = held.remove(pick % held.len());
                let command = [
                    Command::WorkCompleteReq,
                    Command::WorkFailReq,
                    Command::WorkExceptionReq,
                    Command::WorkCompleteReq,
                ][*how];
                if command == Command::WorkFailReq {
                    self.h.req(conn, command, &[&handle]);
                } else {
                    self.h.req(conn, command, &[&handle, b"r"]);
                }
                let replies = self.observe();
                let refused = replies
                    .iter()
                    .any(|(c, cmd, _)| *c == conn && *cmd == Command::Error);
                if !refused {
                    assert!(
                        self.model.ended.insert(handle.clone()),
                        "job {handle:?} ended twice"
                    );
                }
                return;
            }
            Op::Update { worker, pick } => {
                let conn = self.workers[*worker];
                let held = self.model.holding.entry(conn).or_default();
                if let Some(handle) = held.get(pick % held.len().max(1)).cloned() {
                    self.h
                        .req(conn, Command::WorkStatusReq, &[&handle, b"1", b"3"]);
                    self.h.req(conn, Command::WorkDataReq, &[&handle, b"d"]);
                }
            }
            Op::PreSleep { worker } => self.h.req(self.workers[*worker], Command::PreSleep, &[]),
            Op::DropWorker { worker } => {
                let old = self.workers[*worker];
                self.observe();
                self.h.disconnect(old);
                self.model.holding.remove(&old);
                self.workers[*worker] = self.new_worker();
            }
            Op::DropClient { client } => {
                let old = self.clients[*client];
                self.observe();
                self.h.disconnect(old);
                self.model.pending.remove(&old);
                self.clients[*client] = self.h.connect();
            }
            Op::Advance { ms } => self.h.advance(Duration::from_millis(*ms)),
            Op::Cancel { pick } => {
                let Some(handle) = self
                    .model
                    .handles
                    .get(pick % self.model.handles.len().max(1))
                    .cloned()
                else {
                    return;
                };
                let line = format!(
                    "cancel job {}\n",
                    String::from_utf8(handle.clone()).unwrap()
                );
                let reply = self.h.admin(self.admin, &line);
                if reply == "OK\r\n" {
                    // Its clients get their one terminal (WORK_FAIL) now.
                    self.model.cancelled.insert(handle.clone());
                } else {
                    assert_eq!(reply, "ERR UNKNOWN_JOB\r\n");
                }
            }
            Op::Epoch {
                client,
                function,
                ahead,
            } => {
                let conn = self.clients[*client];
                self.model.pending.entry(conn).or_default().push_back(true);
                let epoch = (1_000_000 + ahead).to_string();
                self.h.req(
                    conn,
                    Command::SubmitJobEpoch,
                    &[FUNCTIONS[*function].as_bytes(), b"", epoch.as_bytes(), b"e"],
                );
            }
            Op::Garbage { bytes } => {
                let conn = self.h.connect();
                self.h.send(conn, bytes);
                self.h.disconnect(conn);
            }
        }
        self.observe();
    }

    /// Finishes everything: held jobs by their workers, then a fresh worker
    /// drains the queues.
    fn drain(&mut self) {
        self.observe();
        for i in 0..self.workers.len() {
            let conn = self.workers[i];
            let held = std::mem::take(self.model.holding.entry(conn).or_default());
            for handle in held {
                self.h.req(conn, Command::WorkCompleteReq, &[&handle, b"r"]);
                let replies = self.observe();
                if !replies
                    .iter()
                    .any(|(c, cmd, _)| *c == conn && *cmd == Command::Error)
                {
                    assert!(self.model.ended.insert(handle));
                }
            }
        }
        let drainer = self.new_worker();
        self.workers.push(drainer);
        loop {
            self.observe();
            self.h.req(drainer, Command::GrabJob, &[]);
            let replies = self.observe();
            let Some(handle) = self.model.holding.get_mut(&drainer).and_then(Vec::pop) else {
                assert!(replies.iter().any(|(_, c, _)| *c == Command::NoJob));
                break;
            };
            self.h
                .req(drainer, Command::WorkCompleteReq, &[&handle, b"r"]);
            let replies = self.observe();
            assert!(
                !replies
                    .iter()
                    .any(|(c, cmd, _)| *c == drainer && *cmd == Command::Error)
            );
            assert!(self.model.ended.insert(handle));
        }
    }
}

proptest! {
    #[test]
    fn no_background_job_lost_no_result_twice_no_leftovers(ops in proptest::collection::vec(op(), 1..120)) {
        let mut world = World::new();
        for op in &ops {
            world.apply(op);
        }
        world.h.advance(Duration::from_secs(10));
        world.drain();
        for handle in &world.model.background {
            prop_assert!(
                world.model.ended.contains(handle) || world.model.cancelled.contains(handle),
                "background job {handle:?} lost"
            );
        }
        prop_assert_eq!(world.h.server.job_count(), 0);
        for pending in world.model.pending.values() {
            prop_assert!(pending.is_empty(), "every submit was answered");
        }
        // Every foreground attach of a live client got exactly one terminal.
        for (key, attached) in &world.model.attaches {
            if world.clients.contains(&key.0) {
                let got = world.model.terminals.get(key).copied().unwrap_or(0);
                prop_assert_eq!(got, *attached, "{:?}", key);
            }
        }
    }
}
