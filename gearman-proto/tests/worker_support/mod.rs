//! A scripted job server for the worker tests: it sees every byte the worker
//! writes as packets, asserts them exactly, and feeds replies, all in memory
//! with a simulated clock.

#![allow(dead_code)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use gearman_proto::client::ServerId;
use gearman_proto::worker::{Worker, WorkerConfig, WorkerEvent};
use gearman_proto::{Command, ConnAction, ConnId, Decoder, Packet};

/// A packet as the tests spell it: command and fields.
pub type Spec<'a> = (Command, &'a [&'a [u8]]);

/// The worker, its clock, and what each connection has sent so far.
pub struct Peer {
    pub worker: Worker,
    pub now: Instant,
    /// Current connection of each server (by index), if any.
    pub conns: HashMap<usize, ConnId>,
    /// Connect requests not yet answered, by server index.
    pub pending_connects: HashMap<usize, ConnId>,
    /// Connections the worker asked to close, in order.
    pub closed: Vec<ConnId>,
    sent: HashMap<ConnId, BytesMut>,
    decoder: HashMap<ConnId, Decoder>,
    events: Vec<WorkerEvent>,
}

impl Peer {
    /// A worker over `config`, with nothing connected yet.
    pub fn new(config: WorkerConfig) -> Peer {
        let now = Instant::now();
        let worker = Worker::new(config, now).expect("valid config");
        let mut peer = Peer {
            worker,
            now,
            conns: HashMap::new(),
            pending_connects: HashMap::new(),
            closed: Vec::new(),
            sent: HashMap::new(),
            decoder: HashMap::new(),
            events: Vec::new(),
        };
        peer.drain();
        peer
    }

    /// A worker whose servers are all connected, with registration and
    /// first grabs already consumed.
    pub fn connected(config: WorkerConfig) -> Peer {
        let servers = config.servers.len();
        let mut peer = Peer::new(config);
        for s in 0..servers {
            peer.accept(s);
        }
        for s in 0..servers {
            peer.take_sent(s);
        }
        peer.take_events();
        peer
    }

    /// Moves every pending output of the worker into the peer's records.
    pub fn drain(&mut self) {
        while let Some(t) = self.worker.poll_transmit() {
            assert!(!t.data.is_empty(), "empty transmit");
            self.sent
                .entry(t.conn)
                .or_default()
                .extend_from_slice(&t.data);
        }
        while let Some(action) = self.worker.poll_action() {
            match action {
                ConnAction::Connect { conn, addr } => {
                    let index = self.server_index(&addr);
                    self.pending_connects.insert(index, conn);
                }
                ConnAction::Close { conn } => {
                    self.closed.push(conn);
                    self.conns.retain(|_, c| *c != conn);
                    self.pending_connects.retain(|_, c| *c != conn);
                }
                other => panic!("unexpected action {other:?}"),
            }
        }
        while let Some(e) = self.worker.poll_event() {
            self.events.push(e);
        }
    }

    fn server_index(&self, addr: &str) -> usize {
        self.worker
            .config()
            .servers
            .iter()
            .position(|s| s == addr)
            .expect("connect to a configured server")
    }

    /// Completes the pending connect of `server`.
    pub fn accept(&mut self, server: usize) -> ConnId {
        let conn = self
            .pending_connects
            .remove(&server)
            .unwrap_or_else(|| panic!("no connect pending for server {server}"));
        self.worker.handle_connected(conn, self.now);
        self.conns.insert(server, conn);
        self.drain();
        conn
    }

    /// Fails the pending connect of `server`.
    pub fn refuse(&mut self, server: usize) {
        let conn = self
            .pending_connects
            .remove(&server)
            .unwrap_or_else(|| panic!("no connect pending for server {server}"));
        self.worker.handle_disconnected(conn, self.now);
        self.drain();
    }

    /// The server drops its connection.
    pub fn drop_conn(&mut self, server: usize) {
        let conn = self.conns.remove(&server).expect("server connected");
        self.worker.handle_disconnected(conn, self.now);
        self.drain();
    }

    pub fn conn(&self, server: usize) -> ConnId {
        self.conns[&server]
    }

    /// The server sends a packet.
    pub fn send(&mut self, server: usize, command: Command, fields: &[&[u8]]) {
        let packet = Packet::build(command, fields).expect("valid packet");
        let mut bytes = Vec::new();
        packet.encode(&mut bytes);
        self.send_raw(server, &bytes);
    }

    /// The server sends raw bytes.
    pub fn send_raw(&mut self, server: usize, bytes: &[u8]) {
        let conn = self.conn(server);
        self.worker.handle_input(conn, bytes, self.now);
        self.drain();
    }

    /// Advances the clock to `at` (if later) and fires timeouts.
    pub fn advance_to(&mut self, at: Instant) {
        self.now = self.now.max(at);
        self.worker.handle_timeout(self.now);
        self.drain();
    }

    pub fn advance(&mut self, by: Duration) {
        let at = self.now + by;
        self.advance_to(at);
    }

    /// Every packet `server`'s current connection sent since last asked.
    pub fn take_sent(&mut self, server: usize) -> Vec<Packet> {
        let conn = self.conn(server);
        self.take_sent_conn(conn)
    }

    pub fn take_sent_conn(&mut self, conn: ConnId) -> Vec<Packet> {
        let buf = self.sent.entry(conn).or_default();
        let decoder = self.decoder.entry(conn).or_default();
        let mut out = Vec::new();
        while let Some(p) = decoder
            .decode_packet(buf)
            .expect("worker sends valid packets")
        {
            assert_eq!(p.magic(), gearman_proto::Magic::Req, "worker sent {p:?}");
            out.push(p);
        }
        assert!(buf.is_empty(), "worker sent a partial packet");
        out
    }

    /// Asserts that `server` sent exactly these packets since last asked.
    pub fn expect(&mut self, server: usize, expected: &[Spec<'_>]) {
        let got = self.take_sent(server);
        let want: Vec<Packet> = expected
            .iter()
            .map(|(c, f)| Packet::build(*c, f).expect("valid expected packet"))
            .collect();
        assert_eq!(got, want, "packets sent to server {server}");
    }

    /// Asserts that `server` sent nothing since last asked.
    pub fn expect_silence(&mut self, server: usize) {
        self.expect(server, &[]);
    }

    /// Every event since last asked.
    pub fn take_events(&mut self) -> Vec<WorkerEvent> {
        std::mem::take(&mut self.events)
    }

    /// Takes the events, asserting they are exactly one job assignment.
    pub fn take_job(&mut self) -> gearman_proto::worker::Assignment {
        let mut events = self.take_events();
        assert_eq!(events.len(), 1, "expected one event, got {events:?}");
        match events.remove(0) {
            WorkerEvent::JobAssigned(job) => job,
            other => panic!("expected a job, got {other:?}"),
        }
    }
}

/// `ServerId` shorthand.
pub fn sid(index: usize) -> ServerId {
    ServerId(index)
}

/// The addresses of `n` servers.
pub fn servers(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("gm{i}:4730")).collect()
}
