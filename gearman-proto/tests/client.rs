//! The client state machine against scripted servers: in memory, simulated
//! time, exact packets.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use gearman_proto::client::{
    Client, ClientConfig, ClientError, ClientEvent, JobHandle, JobId, JobRequest, ServerId,
};
use gearman_proto::{Command, ConnAction, ConnId, Decoder, Endpoint, Packet};

/// A client wired to scripted servers: the test says which packets each
/// server must have received and which it sends back.
struct Net {
    client: Client,
    now: Instant,
    /// Bytes the client sent per connection, not yet checked.
    sent: HashMap<ConnId, BytesMut>,
}

fn pkt(command: Command, fields: &[&[u8]]) -> Packet {
    Packet::build(command, fields).expect("test packet is well formed")
}

fn wire(packets: &[Packet]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in packets {
        p.encode(&mut out);
    }
    out
}

impl Net {
    fn new(config: ClientConfig) -> Net {
        Net {
            client: Client::new(config).expect("valid config"),
            now: Instant::now(),
            sent: HashMap::new(),
        }
    }

    fn submit(&mut self, request: JobRequest) -> JobId {
        self.client
            .submit(request, self.now)
            .expect("valid request")
    }

    /// The client must ask for exactly one connection, to `addr`.
    fn expect_connect(&mut self, addr: &str) -> ConnId {
        match self.client.poll_action() {
            Some(ConnAction::Connect { conn, addr: got }) => {
                assert_eq!(got, addr, "connect to the wrong server");
                conn
            }
            other => panic!("expected a connect to {addr}, got {other:?}"),
        }
    }

    /// Expects a connect to `addr` and reports it established.
    fn connect(&mut self, addr: &str) -> ConnId {
        let conn = self.expect_connect(addr);
        self.client.handle_connected(conn, self.now);
        conn
    }

    fn expect_no_action(&mut self) {
        assert_eq!(self.client.poll_action(), None);
    }

    fn expect_close(&mut self, conn: ConnId) {
        assert_eq!(self.client.poll_action(), Some(ConnAction::Close { conn }));
    }

    fn drain_transmits(&mut self) {
        while let Some(t) = self.client.poll_transmit() {
            self.sent
                .entry(t.conn)
                .or_default()
                .extend_from_slice(&t.data);
        }
    }

    /// `conn` must have received exactly these packets since the last check.
    fn expect_sent(&mut self, conn: ConnId, packets: &[Packet]) {
        self.drain_transmits();
        let got = self.sent.remove(&conn).unwrap_or_default();
        assert_eq!(
            decode_all(&got),
            packets.to_vec(),
            "packets sent on {conn} differ"
        );
        assert_eq!(&got[..], &wire(packets)[..], "bytes sent on {conn} differ");
    }

    /// Nothing was sent on any connection.
    fn expect_nothing_sent(&mut self) {
        self.drain_transmits();
        self.sent.retain(|_, b| !b.is_empty());
        assert!(self.sent.is_empty(), "unexpected bytes: {:?}", self.sent);
    }

    fn reply(&mut self, conn: ConnId, command: Command, fields: &[&[u8]]) {
        let bytes = wire(&[pkt(command, fields)]);
        self.client.handle_input(conn, &bytes, self.now);
    }

    fn events(&mut self) -> Vec<ClientEvent> {
        std::iter::from_fn(|| self.client.poll_event()).collect()
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        self.client.handle_timeout(self.now);
    }
}

fn decode_all(bytes: &[u8]) -> Vec<Packet> {
    let mut buf = BytesMut::from(bytes);
    let mut decoder = Decoder::new();
    let mut out = Vec::new();
    while let Some(p) = decoder
        .decode_packet(&mut buf)
        .expect("client sent valid packets")
    {
        out.push(p);
    }
    assert!(buf.is_empty(), "client sent a partial packet");
    out
}

fn handle(server: usize, h: &'static [u8]) -> JobHandle {
    JobHandle {
        server: ServerId(server),
        handle: Bytes::from_static(h),
    }
}

const A: &str = "a:4730";
const B: &str = "b:4730";

fn one_server() -> ClientConfig {
    ClientConfig::new([A]).with_seed(1)
}

#[test]
fn foreground_job_lifecycle_with_exact_packets() {
    let mut net = Net::new(one_server());
    let job = net.submit(JobRequest::new("reverse", "hello"));
    // Lazy connect: nothing is sent before the connection is established.
    let conn = net.expect_connect(A);
    net.expect_no_action();
    net.expect_nothing_sent();
    net.client.handle_connected(conn, net.now);
    net.expect_sent(
        conn,
        &[pkt(Command::SubmitJob, &[b"reverse", b"", b"hello"])],
    );
    net.reply(conn, Command::JobCreated, &[b"H:a:1"]);
    net.reply(conn, Command::WorkDataRes, &[b"H:a:1", b"ol"]);
    net.reply(conn, Command::WorkWarningRes, &[b"H:a:1", b"hm"]);
    net.reply(conn, Command::WorkStatusRes, &[b"H:a:1", b"1", b"2"]);
    net.reply(conn, Command::WorkCompleteRes, &[b"H:a:1", b"olleh"]);
    assert_eq!(
        net.events(),
        [
            ClientEvent::Created {
                job,
                handle: handle(0, b"H:a:1"),
                background: false
            },
            ClientEvent::Data {
                job,
                data: Bytes::from_static(b"ol")
            },
            ClientEvent::Warning {
                job,
                data: Bytes::from_static(b"hm")
            },
            ClientEvent::Status {
                job,
                numerator: 1,
                denominator: 2
            },
            ClientEvent::Complete {
                job,
                data: Bytes::from_static(b"olleh")
            },
        ]
    );
    assert!(!net.client.is_active(job));
    // A late duplicate for the finished handle is dropped, not an error.
    net.reply(conn, Command::WorkCompleteRes, &[b"H:a:1", b"again"]);
    assert_eq!(net.events(), []);
    net.expect_no_action();
}

#[test]
fn disconnect_ends_acknowledged_job_without_resubmitting() {
    let mut net = Net::new(ClientConfig::new([A, B]).with_seed(1));
    let job = net.submit(JobRequest::new("f", "x"));
    let conn = net.connect(A);
    net.expect_sent(conn, &[pkt(Command::SubmitJob, &[b"f", b"", b"x"])]);
    net.reply(conn, Command::JobCreated, &[b"H:a:1"]);
    net.events();
    net.client.handle_disconnected(conn, net.now);
    assert_eq!(
        net.events(),
        [ClientEvent::JobError {
            job,
            error: ClientError::Disconnected { acknowledged: true }
        }]
    );
    net.expect_no_action();
    net.expect_nothing_sent();
}

#[test]
fn request_timeout_ends_the_submit_and_closes_the_stuck_connection() {
    let mut net = Net::new(one_server().with_request_timeout(Some(Duration::from_secs(3))));
    let job = net.submit(JobRequest::new("f", "x"));
    let conn = net.connect(A);
    net.expect_sent(conn, &[pkt(Command::SubmitJob, &[b"f", b"", b"x"])]);
    assert_eq!(
        net.client.poll_timeout(),
        Some(net.now + Duration::from_secs(3))
    );
    net.advance(Duration::from_millis(2999));
    assert_eq!(net.events(), []);
    net.advance(Duration::from_millis(1));
    net.expect_close(conn);
    assert_eq!(
        net.events(),
        [ClientEvent::JobError {
            job,
            error: ClientError::Timeout {
                acknowledged: false
            }
        }]
    );
    // Harmless when called again.
    net.advance(Duration::ZERO);
    assert_eq!(net.events(), []);
    net.expect_no_action();
}
