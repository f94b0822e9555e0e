//! A job server driven by raw bytes, with simulated time and one inbox per
//! connection, for packet-level assertions.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use gearman_proto::server::{Server, ServerConfig};
use gearman_proto::{Command, ConnAction, ConnId, encode_fields};

/// A server with a simulated clock and per-connection inboxes.
pub struct Harness {
    pub server: Server,
    pub now: Instant,
    inbox: HashMap<ConnId, Vec<u8>>,
    pub closed: Vec<ConnId>,
}

impl Harness {
    /// Handles are `H:test:<n>`.
    pub fn new() -> Harness {
        Harness::with(ServerConfig::new("test"))
    }

    pub fn with(config: ServerConfig) -> Harness {
        Harness {
            server: Server::new(config),
            now: Instant::now(),
            inbox: HashMap::new(),
            closed: Vec::new(),
        }
    }

    pub fn connect(&mut self) -> ConnId {
        self.server.accept("127.0.0.1:40000", self.now)
    }

    pub fn connect_from(&mut self, peer: &str) -> ConnId {
        self.server.accept(peer, self.now)
    }

    pub fn send(&mut self, conn: ConnId, bytes: &[u8]) {
        self.server.handle_input(conn, bytes, self.now);
        self.drain();
    }

    /// Sends a request packet.
    pub fn req(&mut self, conn: ConnId, command: Command, fields: &[&[u8]]) {
        self.send(conn, &pkt(command, fields));
    }

    pub fn disconnect(&mut self, conn: ConnId) {
        self.server.handle_disconnected(conn, self.now);
        self.drain();
    }

    fn drain(&mut self) {
        loop {
            let mut progressed = false;
            while let Some(t) = self.server.poll_transmit() {
                assert!(
                    !self.closed.contains(&t.conn),
                    "bytes for {} after its close",
                    t.conn
                );
                self.inbox
                    .entry(t.conn)
                    .or_default()
                    .extend_from_slice(&t.data);
                progressed = true;
            }
            while let Some(action) = self.server.poll_action() {
                match action {
                    ConnAction::Close { conn } => self.closed.push(conn),
                    other => panic!("server asked for {other:?}"),
                }
                progressed = true;
            }
            if !progressed {
                break;
            }
        }
    }

    /// Everything the server sent to `conn` since the last call.
    pub fn recv(&mut self, conn: ConnId) -> Vec<u8> {
        self.drain();
        self.inbox.remove(&conn).unwrap_or_default()
    }

    /// Everything sent to `conn`, as text (admin replies).
    pub fn recv_text(&mut self, conn: ConnId) -> String {
        String::from_utf8(self.recv(conn)).expect("admin replies are text")
    }

    /// Sends an admin line and returns the reply text.
    pub fn admin(&mut self, conn: ConnId, line: &str) -> String {
        self.send(conn, line.as_bytes());
        self.recv_text(conn)
    }

    pub fn advance(&mut self, by: Duration) {
        self.now += by;
        self.server.handle_timeout(self.now);
        self.drain();
    }

    pub fn is_closed(&self, conn: ConnId) -> bool {
        self.closed.contains(&conn)
    }

    /// A worker connection registered for `functions`.
    pub fn worker(&mut self, functions: &[&str]) -> ConnId {
        let w = self.connect();
        for f in functions {
            self.req(w, Command::CanDo, &[f.as_bytes()]);
        }
        w
    }

    /// Grabs (plain) and returns the reply bytes.
    pub fn grab(&mut self, worker: ConnId) -> Vec<u8> {
        self.req(worker, Command::GrabJob, &[]);
        self.recv(worker)
    }

    /// Submits and returns the handle from JOB_CREATED.
    pub fn submit(
        &mut self,
        client: ConnId,
        command: Command,
        function: &str,
        unique: &str,
        data: &[u8],
    ) -> Vec<u8> {
        self.req(
            client,
            command,
            &[function.as_bytes(), unique.as_bytes(), data],
        );
        let reply = self.recv(client);
        let (cmd, fields) = parse(&reply).into_iter().next().expect("a reply");
        assert_eq!(cmd, Command::JobCreated, "submit answered with {fields:?}");
        fields[0].clone()
    }
}

/// One packet's bytes.
pub fn pkt(command: Command, fields: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_fields(&mut out, command, fields).unwrap();
    out
}

/// Concatenated packets.
pub fn pkts(list: &[(Command, &[&[u8]])]) -> Vec<u8> {
    list.iter().flat_map(|(c, f)| pkt(*c, f)).collect()
}

/// Splits server output into (command, fields).
pub fn parse(mut bytes: &[u8]) -> Vec<(Command, Vec<Vec<u8>>)> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        assert!(bytes.len() >= 12, "truncated packet {bytes:?}");
        assert_eq!(&bytes[..4], b"\0RES");
        let number = u32::from_be_bytes(bytes[4..8].try_into().unwrap());
        let size = u32::from_be_bytes(bytes[8..12].try_into().unwrap()) as usize;
        let command = Command::from_wire(gearman_proto::Magic::Res, number).expect("known type");
        let payload = &bytes[12..12 + size];
        let n = command.field_count();
        let fields = if n == 0 {
            Vec::new()
        } else {
            payload.splitn(n, |&b| b == 0).map(<[u8]>::to_vec).collect()
        };
        out.push((command, fields));
        bytes = &bytes[12 + size..];
    }
    out
}

/// `H:test:<n>` as bytes.
pub fn handle(n: u32) -> Vec<u8> {
    format!("H:test:{n}").into_bytes()
}
