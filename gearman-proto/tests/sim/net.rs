//! The cluster simulation: any number of nodes (clients, workers, scripted
//! peers: anything that implements [`Endpoint`]) wired to one embedded
//! [`Server`] through in-memory links, with simulated time.
//!
//! Links can add latency, split every write into random small pieces and
//! merge what is due into one read, and be cut from either side. Time only
//! moves when nothing else can happen: then it jumps to the earliest
//! deadline of any node, of the server, or of a byte in flight.

use std::any::Any;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use gearman_proto::server::{Server, ServerConfig};
use gearman_proto::{ConnAction, ConnId, Endpoint};

/// Index of a node in the [`Net`].
pub type NodeId = usize;

/// An [`Endpoint`] the net can also hand back as its concrete type.
pub trait Node: Endpoint + Any {
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: Endpoint + Any> Node for T {
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// How links behave.
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// One-way delay of every write.
    pub latency: Duration,
    /// Split each write into random pieces of 1..=`max_piece` bytes.
    pub split_writes: bool,
    pub max_piece: usize,
    /// Deliver everything that is due on a link in one `handle_input`.
    pub merge_writes: bool,
    pub seed: u64,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            latency: Duration::from_micros(100),
            split_writes: false,
            max_piece: 7,
            merge_writes: false,
            seed: 1,
        }
    }
}

#[derive(Debug)]
struct Link {
    node: NodeId,
    node_conn: ConnId,
    server_conn: ConnId,
    to_server: VecDeque<(Instant, Bytes)>,
    to_node: VecDeque<(Instant, Bytes)>,
    /// The server asked to close: tell the node once its bytes arrived.
    server_closing: bool,
    up: bool,
}

/// The simulated network around one server.
pub struct Net {
    pub server: Server,
    pub server_addr: String,
    pub now: Instant,
    pub config: NetConfig,
    /// While set, connection attempts to the server fail.
    pub server_down: bool,
    nodes: Vec<Box<dyn Node>>,
    links: Vec<Link>,
    by_node_conn: HashMap<(NodeId, ConnId), usize>,
    by_server_conn: HashMap<ConnId, usize>,
    rng: u64,
    start: Instant,
}

impl Net {
    /// A net around a server listening on `server_addr`.
    pub fn new(server_addr: &str, server: ServerConfig, config: NetConfig) -> Net {
        let now = Instant::now();
        Net {
            server: Server::new(server),
            server_addr: server_addr.to_owned(),
            now,
            rng: config.seed | 1,
            config,
            server_down: false,
            nodes: Vec::new(),
            links: Vec::new(),
            by_node_conn: HashMap::new(),
            by_server_conn: HashMap::new(),
            start: now,
        }
    }

    /// Time since the net was created.
    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    pub fn add(&mut self, node: impl Node) -> NodeId {
        self.nodes.push(Box::new(node));
        self.nodes.len() - 1
    }

    /// The node as its concrete type.
    pub fn node<T: Any>(&mut self, id: NodeId) -> &mut T {
        self.nodes[id]
            .as_any_mut()
            .downcast_mut::<T>()
            .expect("node of that type")
    }

    /// The server-side ids of a node's live connections.
    pub fn server_conns(&self, node: NodeId) -> Vec<ConnId> {
        self.links
            .iter()
            .filter(|l| l.node == node && l.up)
            .map(|l| l.server_conn)
            .collect()
    }

    fn random(&mut self) -> u64 {
        // xorshift64: deterministic from the seed.
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }

    fn pieces(&mut self, data: Bytes) -> Vec<Bytes> {
        if !self.config.split_writes {
            return vec![data];
        }
        let mut out = Vec::new();
        let mut rest = data;
        while !rest.is_empty() {
            let n = 1 + (self.random() as usize) % self.config.max_piece.max(1);
            let n = n.min(rest.len());
            out.push(rest.split_to(n));
        }
        out
    }

    /// Cuts every connection of `node`, as a crash or a network failure:
    /// both sides see a disconnect, bytes in flight are lost.
    pub fn cut(&mut self, node: NodeId) {
        let ids: Vec<usize> = (0..self.links.len())
            .filter(|&i| self.links[i].node == node && self.links[i].up)
            .collect();
        for i in ids {
            self.cut_link(i);
        }
    }

    fn cut_link(&mut self, i: usize) {
        let link = &mut self.links[i];
        if !link.up {
            return;
        }
        link.up = false;
        link.to_node.clear();
        link.to_server.clear();
        let (node, node_conn, server_conn) = (link.node, link.node_conn, link.server_conn);
        self.server.handle_disconnected(server_conn, self.now);
        self.nodes[node].handle_disconnected(node_conn, self.now);
    }

    /// Does everything possible at the current instant; true if anything happened.
    pub fn step(&mut self) -> bool {
        let mut progressed = false;
        let now = self.now;
        for id in 0..self.nodes.len() {
            while let Some(action) = self.nodes[id].poll_action() {
                progressed = true;
                match action {
                    ConnAction::Connect { conn, addr } => {
                        if self.server_down || addr != self.server_addr {
                            self.nodes[id].handle_disconnected(conn, now);
                            continue;
                        }
                        let peer = format!("10.0.0.{}:{}", id + 1, 40000 + conn.0);
                        let server_conn = self.server.accept(peer, now);
                        let index = self.links.len();
                        self.links.push(Link {
                            node: id,
                            node_conn: conn,
                            server_conn,
                            to_server: VecDeque::new(),
                            to_node: VecDeque::new(),
                            server_closing: false,
                            up: true,
                        });
                        self.by_node_conn.insert((id, conn), index);
                        self.by_server_conn.insert(server_conn, index);
                        self.nodes[id].handle_connected(conn, now);
                    }
                    ConnAction::Close { conn } => {
                        if let Some(&i) = self.by_node_conn.get(&(id, conn)) {
                            let link = &mut self.links[i];
                            if link.up {
                                link.up = false;
                                link.to_node.clear();
                                // What the node wrote before closing still arrives.
                                let pending: Vec<Bytes> =
                                    link.to_server.drain(..).map(|(_, b)| b).collect();
                                let server_conn = link.server_conn;
                                for bytes in pending {
                                    self.server.handle_input(server_conn, &bytes, now);
                                }
                                self.server.handle_disconnected(server_conn, now);
                            }
                        }
                    }
                    other => panic!("unexpected action {other:?}"),
                }
            }
            while let Some(t) = self.nodes[id].poll_transmit() {
                progressed = true;
                let Some(&i) = self.by_node_conn.get(&(id, t.conn)) else {
                    continue;
                };
                if !self.links[i].up {
                    continue;
                }
                let due = now + self.config.latency;
                for piece in self.pieces(t.data) {
                    self.links[i].to_server.push_back((due, piece));
                }
            }
        }
        while let Some(t) = self.server.poll_transmit() {
            progressed = true;
            let Some(&i) = self.by_server_conn.get(&t.conn) else {
                continue;
            };
            if !self.links[i].up {
                continue;
            }
            let due = now + self.config.latency;
            for piece in self.pieces(t.data) {
                self.links[i].to_node.push_back((due, piece));
            }
        }
        while let Some(action) = self.server.poll_action() {
            progressed = true;
            if let ConnAction::Close { conn } = action {
                if let Some(&i) = self.by_server_conn.get(&conn) {
                    self.links[i].server_closing = true;
                }
            }
        }
        for i in 0..self.links.len() {
            progressed |= self.deliver(i);
        }
        progressed
    }

    fn deliver(&mut self, i: usize) -> bool {
        let now = self.now;
        let mut progressed = false;
        loop {
            let link = &mut self.links[i];
            if !link.up {
                return progressed;
            }
            let mut batch = Vec::new();
            while link.to_server.front().is_some_and(|(due, _)| *due <= now) {
                batch.extend_from_slice(&link.to_server.pop_front().expect("front").1);
                if !self.config.merge_writes {
                    break;
                }
            }
            let server_conn = link.server_conn;
            if !batch.is_empty() {
                progressed = true;
                self.server.handle_input(server_conn, &batch, now);
                continue;
            }
            let link = &mut self.links[i];
            let mut batch = Vec::new();
            while link.to_node.front().is_some_and(|(due, _)| *due <= now) {
                batch.extend_from_slice(&link.to_node.pop_front().expect("front").1);
                if !self.config.merge_writes {
                    break;
                }
            }
            let (node, node_conn) = (link.node, link.node_conn);
            if !batch.is_empty() {
                progressed = true;
                self.nodes[node].handle_input(node_conn, &batch, now);
                continue;
            }
            let link = &mut self.links[i];
            if link.server_closing && link.to_node.is_empty() {
                link.up = false;
                link.to_server.clear();
                self.nodes[node].handle_disconnected(node_conn, now);
                return true;
            }
            return progressed;
        }
    }

    /// The earliest instant at which something is scheduled.
    fn next_deadline(&self) -> Option<Instant> {
        let nodes = self.nodes.iter().filter_map(|n| n.poll_timeout());
        let server = self.server.poll_timeout();
        let bytes = self.links.iter().filter(|l| l.up).flat_map(|l| {
            l.to_server
                .front()
                .map(|(d, _)| *d)
                .into_iter()
                .chain(l.to_node.front().map(|(d, _)| *d))
        });
        nodes.chain(server).chain(bytes).min()
    }

    /// Moves time to `at` (not backwards) and fires every timeout due.
    pub fn advance_to(&mut self, at: Instant) {
        if at > self.now {
            self.now = at;
        }
        let now = self.now;
        for node in &mut self.nodes {
            if node.poll_timeout().is_some_and(|t| t <= now) {
                node.handle_timeout(now);
            }
        }
        if self.server.poll_timeout().is_some_and(|t| t <= now) {
            self.server.handle_timeout(now);
        }
    }

    /// Advances by `by`, running everything due on the way.
    pub fn run_for(&mut self, by: Duration) {
        let end = self.now + by;
        loop {
            while self.step() {}
            match self.next_deadline() {
                Some(at) if at <= end => self.advance_to(at),
                _ => {
                    self.advance_to(end);
                    while self.step() {}
                    return;
                }
            }
        }
    }

    /// Runs until `done` holds, for at most `limit` of simulated time.
    /// Returns whether `done` held.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&mut Net) -> bool) -> bool {
        let end = self.now + limit;
        let mut idle_spins = 0;
        loop {
            let mut progressed = false;
            while self.step() {
                progressed = true;
            }
            if done(self) {
                return true;
            }
            match self.next_deadline() {
                Some(at) if at <= end => {
                    if at <= self.now && !progressed {
                        idle_spins += 1;
                        assert!(idle_spins < 10_000, "a deadline at {at:?} never clears");
                    } else {
                        idle_spins = 0;
                    }
                    self.advance_to(at);
                }
                _ => return false,
            }
        }
    }
}
