//! Packet-level tests of the embedded job server: raw request bytes in,
//! exact reply bytes out.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use gearman_proto::server::{Server, ServerConfig, ServerEvent};
use gearman_proto::{Command, ConnAction, ConnId, encode_fields};

/// A server with a simulated clock and per-connection inboxes.
struct Harness {
    server: Server,
    now: Instant,
    inbox: HashMap<ConnId, Vec<u8>>,
    closed: Vec<ConnId>,
}

impl Harness {
    fn new() -> Harness {
        Harness::with(ServerConfig::new("test"))
    }

    fn with(config: ServerConfig) -> Harness {
        Harness {
            server: Server::new(config),
            now: Instant::now(),
            inbox: HashMap::new(),
            closed: Vec::new(),
        }
    }

    fn connect(&mut self) -> ConnId {
        self.server.accept("127.0.0.1:40000", self.now)
    }

    fn send(&mut self, conn: ConnId, bytes: &[u8]) {
        self.server.handle_input(conn, bytes, self.now);
        self.drain();
    }

    fn drain(&mut self) {
        loop {
            let mut progressed = false;
            while let Some(t) = self.server.poll_transmit() {
                self.inbox
                    .entry(t.conn)
                    .or_default()
                    .extend_from_slice(&t.data);
                progressed = true;
            }
            while let Some(action) = self.server.poll_action() {
                if let ConnAction::Close { conn } = action {
                    self.closed.push(conn);
                }
                progressed = true;
            }
            if !progressed {
                break;
            }
        }
    }

    /// Everything the server sent to `conn` since the last call.
    fn recv(&mut self, conn: ConnId) -> Vec<u8> {
        self.drain();
        self.inbox.remove(&conn).unwrap_or_default()
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        self.server.handle_timeout(self.now);
        self.drain();
    }
}

fn req(command: Command, fields: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_fields(&mut out, command, fields).unwrap();
    out
}

fn res(command: Command, fields: &[&[u8]]) -> Vec<u8> {
    req(command, fields)
}

fn cat(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.concat()
}

#[test]
fn submit_grab_complete_round_trip() {
    let mut h = Harness::new();
    let client = h.connect();
    let worker = h.connect();
    h.send(worker, &req(Command::CanDo, &[b"reverse"]));
    h.send(
        client,
        &req(Command::SubmitJob, &[b"reverse", b"", b"hello"]),
    );
    assert_eq!(h.recv(client), res(Command::JobCreated, &[b"H:test:1"]));
    h.send(worker, &req(Command::GrabJob, &[]));
    assert_eq!(
        h.recv(worker),
        res(Command::JobAssign, &[b"H:test:1", b"reverse", b"hello"])
    );
    h.send(
        worker,
        &req(Command::WorkCompleteReq, &[b"H:test:1", b"olleh"]),
    );
    assert_eq!(
        h.recv(client),
        res(Command::WorkCompleteRes, &[b"H:test:1", b"olleh"])
    );
    assert!(h.recv(worker).is_empty());
    assert_eq!(h.server.job_count(), 0);
    h.send(worker, &req(Command::GrabJob, &[]));
    assert_eq!(h.recv(worker), res(Command::NoJob, &[]));
    assert!(h.closed.is_empty());
    h.advance(Duration::from_secs(1));
    assert!(cat(&[h.recv(client), h.recv(worker)]).is_empty());
    assert_eq!(h.server.poll_event(), None::<ServerEvent>);
}
