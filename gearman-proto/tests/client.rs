//! The client state machine against scripted servers: in memory, simulated
//! time, exact packets.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use gearman_proto::client::{
    Client, ClientConfig, ClientError, ClientEvent, JobHandle, JobId, JobRequest, ServerId,
};
use gearman_proto::{Command, ConnAction, ConnId, ConnectError, Decoder, Endpoint, Packet};

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

    /// Expects the reconnect to `addr` that the backoff timer opens, reports
    /// it established and answers its probe: only then is the server up.
    fn reconnect(&mut self, addr: &str) -> ConnId {
        let conn = self.connect(addr);
        self.expect_sent(conn, &[pkt(Command::EchoReq, &[b""])]);
        self.reply(conn, Command::EchoRes, &[b""]);
        conn
    }

    /// Submits `request`, which must open a connection to `addr` and go
    /// out on it; reports that connection established.
    fn connect_after(&mut self, addr: &str, request: JobRequest) -> ConnId {
        let expected = request.clone();
        self.submit(request);
        let conn = self.connect(addr);
        let sent = pkt(
            Command::SubmitJob,
            &[&expected.function, b"", &expected.payload],
        );
        self.expect_sent(conn, &[sent]);
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

/// The exact-packet tests leave out the exceptions option (on by default);
/// its own tests turn it on.
fn without_exceptions<const N: usize>(servers: [&str; N]) -> ClientConfig {
    ClientConfig::new(servers).with_exceptions(false)
}

fn one_server() -> ClientConfig {
    without_exceptions([A]).with_seed(1)
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
    let mut net = Net::new(without_exceptions([A, B]).with_seed(1));
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

/// With the exceptions option (the default), OPTION_REQ goes out ahead of
/// the first submit under the same deadline, so it is the oldest pending
/// request when the server never answers. The submit behind it is the one
/// that timed out: it ends with `Timeout`, as it would without the option,
/// and is not moved to another server (the caller's wait is over); a later
/// submit on the stuck connection moves as on a disconnect.
#[test]
fn a_request_timeout_behind_the_exceptions_option_ends_the_submit_with_timeout() {
    let timeout = Duration::from_secs(3);
    let mut net = Net::new(
        ClientConfig::new([A])
            .with_request_timeout(Some(timeout))
            .with_seed(1),
    );
    let job = net.submit(JobRequest::new("f", "x"));
    let a = net.connect(A);
    net.expect_sent(
        a,
        &[
            pkt(Command::OptionReq, &[b"exceptions"]),
            pkt(Command::SubmitJob, &[b"f", b"", b"x"]),
        ],
    );
    net.advance(timeout);
    net.expect_close(a);
    let timed_out = ClientError::Timeout {
        acknowledged: false,
    };
    assert_eq!(net.events(), [job_error(job, timed_out.clone())]);

    let mut net = Net::new(
        ClientConfig::new([A, B])
            .with_routing(gearman_proto::client::RoutingPolicy::Single)
            .with_request_timeout(Some(timeout))
            .with_seed(1),
    );
    let first = net.submit(JobRequest::new("f", "1"));
    let a = net.connect(A);
    let second = net.submit(JobRequest::new("f", "2"));
    net.drain_transmits();
    net.advance(timeout);
    net.expect_close(a);
    assert_eq!(net.events(), [job_error(first, timed_out)]);
    let b = net.connect(B);
    net.expect_sent(
        b,
        &[
            pkt(Command::OptionReq, &[b"exceptions"]),
            pkt(Command::SubmitJob, &[b"f", b"", b"2"]),
        ],
    );
    net.reply(b, Command::OptionRes, &[b"exceptions"]);
    net.reply(b, Command::JobCreated, &[b"H:b:1"]);
    assert_eq!(net.events(), [created(second, 1, b"H:b:1")]);
}

/// A connection the driver could not open ends what waited on it with
/// `NoServer` carrying the address and the socket error (its `source()`),
/// and so do the requests made while the server backs off.
#[test]
fn a_failed_connect_names_the_server_and_the_socket_error() {
    use std::error::Error as _;
    let mut net = Net::new(one_server());
    let job = net.submit(JobRequest::new("f", "x"));
    let a = net.expect_connect(A);
    let refused = ConnectError::new(
        A,
        std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
    );
    net.client
        .handle_connect_failed(a, refused.clone(), net.now);
    net.expect_no_action();
    let no_server = ClientError::NoServer {
        cause: Some(refused),
    };
    assert_eq!(net.events(), [job_error(job, no_server.clone())]);
    let later = net.submit(JobRequest::new("f", "y"));
    let status = net
        .client
        .get_status(&handle(0, b"H:a:1"), net.now)
        .unwrap();
    assert_eq!(
        net.events(),
        [
            job_error(later, no_server.clone()),
            ClientEvent::RequestError {
                request: status,
                error: no_server.clone()
            }
        ]
    );
    let cause = no_server.source().expect("the connect failure");
    assert_eq!(cause.to_string(), "connection to a:4730 failed");
    let io = cause.source().expect("the socket error");
    assert_eq!(
        io.to_string(),
        std::io::Error::from(std::io::ErrorKind::ConnectionRefused).to_string()
    );
    // A connection that opens clears it.
    net.advance(Duration::from_secs(60));
    let a2 = net.reconnect(A);
    net.client.handle_disconnected(a2, net.now);
    net.advance(Duration::from_secs(60));
    net.expect_connect(A);
    let last = net.submit(JobRequest::new("f", "z"));
    assert_eq!(
        net.events(),
        [job_error(last, ClientError::NoServer { cause: None })]
    );
}

fn created(job: JobId, server: usize, h: &'static [u8]) -> ClientEvent {
    ClientEvent::Created {
        job,
        handle: handle(server, h),
        background: false,
    }
}

fn job_error(job: JobId, error: ClientError) -> ClientEvent {
    ClientEvent::JobError { job, error }
}

fn server_error(code: &str, text: &str) -> ClientError {
    ClientError::ServerError {
        code: code.into(),
        text: text.into(),
    }
}

const DISCONNECTED: ClientError = ClientError::Disconnected {
    acknowledged: false,
};
const DISCONNECTED_ACKED: ClientError = ClientError::Disconnected { acknowledged: true };

#[test]
fn every_submit_form_has_exact_wire_bytes() {
    use gearman_proto::Priority;
    use gearman_proto::client::CronSchedule;
    let mut net = Net::new(one_server());
    net.submit(JobRequest::new("f", "x").with_priority(Priority::High));
    net.submit(
        JobRequest::new("f", "x")
            .with_priority(Priority::Low)
            .with_unique("u"),
    );
    net.submit(
        JobRequest::new("f", "x")
            .with_priority(Priority::High)
            .in_background()
            .with_unique("u"),
    );
    net.submit(
        JobRequest::new("f", "x")
            .with_priority(Priority::Low)
            .in_background()
            .with_unique("u"),
    );
    net.submit(JobRequest::new("f", "x").in_background().with_unique("u"));
    net.submit(
        JobRequest::new("resize", "img")
            .at_epoch(1_767_225_600)
            .with_unique(""),
    );
    net.submit(
        JobRequest::new("map", "payload")
            .with_unique("u2")
            .with_reducer("red"),
    );
    net.submit(
        JobRequest::new("map", "p")
            .with_unique("u3")
            .with_reducer("red")
            .in_background(),
    );
    let cron = CronSchedule {
        minute: 5,
        hour: 23,
        day_of_month: 31,
        month: 12,
        day_of_week: 6,
    };
    net.submit(JobRequest::new("f", "x").with_cron(cron).with_unique("c"));
    let conn = net.connect(A);
    net.expect_sent(
        conn,
        &[
            pkt(Command::SubmitJobHigh, &[b"f", b"", b"x"]),
            pkt(Command::SubmitJobLow, &[b"f", b"u", b"x"]),
            pkt(Command::SubmitJobHighBg, &[b"f", b"u", b"x"]),
            pkt(Command::SubmitJobLowBg, &[b"f", b"u", b"x"]),
            pkt(Command::SubmitJobBg, &[b"f", b"u", b"x"]),
            pkt(
                Command::SubmitJobEpoch,
                &[b"resize", b"", b"1767225600", b"img"],
            ),
            pkt(
                Command::SubmitReduceJob,
                &[b"map", b"u2", b"red", b"", b"payload"],
            ),
            pkt(
                Command::SubmitReduceJobBackground,
                &[b"map", b"u3", b"red", b"", b"p"],
            ),
            pkt(
                Command::SubmitJobSched,
                &[b"f", b"c", b"5", b"23", b"31", b"12", b"6", b"x"],
            ),
        ],
    );
    // Byte-level check of two forms against hand-computed wire bytes.
    let epoch = wire(&[pkt(
        Command::SubmitJobEpoch,
        &[b"resize", b"", b"1767225600", b"img"],
    )]);
    assert_eq!(
        epoch,
        b"\0REQ\0\0\0\x24\0\0\0\x16resize\0\x001767225600\0img".to_vec()
    );
    let reduce = wire(&[pkt(
        Command::SubmitReduceJob,
        &[b"map", b"u2", b"red", b"", b"payload"],
    )]);
    assert_eq!(
        reduce,
        b"\0REQ\0\0\0\x25\0\0\0\x13map\0u2\0red\0\0payload".to_vec()
    );
}

#[test]
fn unique_sent_when_none_given_empty_for_foreground_generated_for_background() {
    let uniques = |seed| {
        let mut net = Net::new(without_exceptions([A]).with_seed(seed));
        net.submit(JobRequest::new("f", "x"));
        net.submit(JobRequest::new("f", "x").in_background());
        net.submit(JobRequest::new("f", "x").in_background());
        let conn = net.connect(A);
        net.drain_transmits();
        let sent = decode_all(&net.sent.remove(&conn).unwrap());
        sent.iter()
            .map(|p| Bytes::copy_from_slice(p.unique().unwrap()))
            .collect::<Vec<_>>()
    };
    let first = uniques(9);
    assert_eq!(first[0], Bytes::new(), "foreground: empty, never coalesced");
    for generated in &first[1..] {
        assert_eq!(generated.len(), 32);
        assert!(generated.iter().all(|b| b.is_ascii_hexdigit()));
    }
    assert_ne!(first[1], first[2], "each background job gets its own");
    assert_eq!(uniques(9), first, "same seed, same bytes");
    assert_ne!(uniques(10)[1], first[1], "another seed, other uniques");
}

#[test]
fn background_job_ends_at_created_and_ignores_later_disconnect() {
    let mut net = Net::new(one_server());
    let job = net.submit(JobRequest::new("f", "x").in_background().with_unique("u"));
    let conn = net.connect(A);
    net.expect_sent(conn, &[pkt(Command::SubmitJobBg, &[b"f", b"u", b"x"])]);
    net.reply(conn, Command::JobCreated, &[b"H:a:9"]);
    let events = net.events();
    assert_eq!(
        events,
        [ClientEvent::Created {
            job,
            handle: handle(0, b"H:a:9"),
            background: true
        }]
    );
    assert!(events[0].is_terminal());
    assert_eq!(net.client.active_jobs(), 0);
    net.client.handle_disconnected(conn, net.now);
    assert_eq!(net.events(), []);
}

#[test]
fn replies_match_requests_in_order_and_error_answers_the_oldest() {
    let mut net = Net::new(one_server());
    let first = net.submit(JobRequest::new("f", "1"));
    let second = net.submit(JobRequest::new("f", "2"));
    let echo = net.client.echo(ServerId(0), "ping", net.now).unwrap();
    let third = net.submit(JobRequest::new("f", "3"));
    let conn = net.connect(A);
    // Pipelined: everything goes out before any reply.
    net.expect_sent(
        conn,
        &[
            pkt(Command::SubmitJob, &[b"f", b"", b"1"]),
            pkt(Command::SubmitJob, &[b"f", b"", b"2"]),
            pkt(Command::EchoReq, &[b"ping"]),
            pkt(Command::SubmitJob, &[b"f", b"", b"3"]),
        ],
    );
    net.reply(
        conn,
        Command::Error,
        &[b"QUEUE_ERROR", b"Job queue is full"],
    );
    net.reply(conn, Command::JobCreated, &[b"H:a:2"]);
    net.reply(conn, Command::EchoRes, &[b"ping"]);
    // GEAR-style ERROR text with a trailing NUL is read leniently.
    net.reply(conn, Command::Error, &[b"QUEUE_ERROR", b"full\0"]);
    assert_eq!(
        net.events(),
        [
            job_error(first, server_error("QUEUE_ERROR", "Job queue is full")),
            created(second, 0, b"H:a:2"),
            ClientEvent::EchoResult {
                request: echo,
                data: Bytes::from_static(b"ping")
            },
            job_error(third, server_error("QUEUE_ERROR", "full")),
        ]
    );
    assert!(net.client.is_active(second));
    assert_eq!(net.client.active_jobs(), 1);
}

#[test]
fn pipelined_jobs_complete_in_any_order() {
    let mut net = Net::new(one_server());
    let jobs: Vec<JobId> = (0..50)
        .map(|i| net.submit(JobRequest::new("f", i.to_string())))
        .collect();
    let conn = net.connect(A);
    net.drain_transmits();
    assert_eq!(decode_all(&net.sent.remove(&conn).unwrap()).len(), 50);
    for i in 0..50 {
        let h = format!("H:a:{i}");
        net.reply(conn, Command::JobCreated, &[h.as_bytes()]);
    }
    let events = net.events();
    assert_eq!(events.len(), 50);
    for (i, job) in jobs.iter().enumerate() {
        assert_eq!(
            events[i],
            ClientEvent::Created {
                job: *job,
                handle: JobHandle {
                    server: ServerId(0),
                    handle: Bytes::from(format!("H:a:{i}"))
                },
                background: false
            }
        );
    }
    for i in (0..50).rev() {
        let h = format!("H:a:{i}");
        net.reply(
            conn,
            Command::WorkCompleteRes,
            &[h.as_bytes(), h.as_bytes()],
        );
    }
    let events = net.events();
    for (k, i) in (0..50).rev().enumerate() {
        assert_eq!(
            events[k],
            ClientEvent::Complete {
                job: jobs[i],
                data: Bytes::from(format!("H:a:{i}"))
            }
        );
    }
    assert_eq!(net.client.active_jobs(), 0);
}

#[test]
fn status_goes_to_the_server_that_owns_the_handle() {
    use gearman_proto::client::{JobStatus, UniqueStatus};
    let mut net = Net::new(without_exceptions([A, B]).with_seed(1));
    let on_b = handle(1, b"H:b:1");
    let request = net.client.get_status(&on_b, net.now).unwrap();
    let conn = net.connect(B);
    net.expect_no_action();
    net.expect_sent(conn, &[pkt(Command::GetStatus, &[b"H:b:1"])]);
    net.reply(
        conn,
        Command::StatusRes,
        &[b"H:b:1", b"1", b"1", b"3", b"4"],
    );
    let unique = net.client.get_status_unique("u1", net.now).unwrap();
    // Round robin's first turn is A, never tried: its connect starts, but
    // with B proven up the request does not wait on it.
    let on_a = net.expect_connect(A);
    net.expect_sent(conn, &[pkt(Command::GetStatusUnique, &[b"u1"])]);
    // PERL-style empty numbers read as 0.
    net.reply(
        conn,
        Command::StatusResUnique,
        &[b"u1", b"1", b"0", b"", b"", b"2"],
    );
    assert_eq!(
        net.events(),
        [
            ClientEvent::StatusResult {
                request,
                status: JobStatus {
                    handle: on_b,
                    known: true,
                    running: true,
                    numerator: 3,
                    denominator: 4
                }
            },
            ClientEvent::StatusUniqueResult {
                request: unique,
                status: UniqueStatus {
                    unique: Bytes::from_static(b"u1"),
                    known: true,
                    running: false,
                    numerator: 0,
                    denominator: 0,
                    waiting_clients: 2
                }
            },
        ]
    );
    // Once connected, A takes its turn.
    net.client.handle_connected(on_a, net.now);
    net.client.get_status_unique("u2", net.now).unwrap();
    net.expect_sent(on_a, &[pkt(Command::GetStatusUnique, &[b"u2"])]);
}

#[test]
fn requests_end_on_disconnect_and_fail_fast_on_a_down_server() {
    let mut net = Net::new(one_server());
    let status = net
        .client
        .get_status(&handle(0, b"H:a:1"), net.now)
        .unwrap();
    let echo = net.client.echo(ServerId(0), "x", net.now).unwrap();
    let conn = net.connect(A);
    net.client.handle_disconnected(conn, net.now);
    let request_error = |request| ClientEvent::RequestError {
        request,
        error: DISCONNECTED,
    };
    assert_eq!(net.events(), [request_error(status), request_error(echo)]);
    // A is backing off now: requests fail at once, nothing is opened.
    let echo = net.client.echo(ServerId(0), "x", net.now).unwrap();
    let job = net.submit(JobRequest::new("f", "x"));
    net.expect_no_action();
    assert_eq!(
        net.events(),
        [
            ClientEvent::RequestError {
                request: echo,
                error: ClientError::NoServer { cause: None }
            },
            job_error(job, ClientError::NoServer { cause: None }),
        ]
    );
}

#[test]
fn invalid_requests_are_refused_up_front() {
    use gearman_proto::client::UsageError;
    let mut net = Net::new(one_server());
    let now = net.now;
    assert!(matches!(
        net.client.submit(JobRequest::new("f\0g", "x"), now),
        Err(UsageError::NulInField { .. })
    ));
    assert!(matches!(
        net.client
            .submit(JobRequest::new("f", "x").with_unique(vec![b'u'; 64]), now),
        Err(UsageError::UniqueTooLong { len: 64 })
    ));
    assert_eq!(
        net.client.get_status(&handle(0, b""), now),
        Err(UsageError::InvalidHandle)
    );
    assert_eq!(
        net.client.get_status(&handle(0, b"H\0x"), now),
        Err(UsageError::InvalidHandle)
    );
    assert_eq!(
        net.client.get_status(&handle(5, b"H:x:1"), now),
        Err(UsageError::UnknownServer(ServerId(5)))
    );
    assert_eq!(
        net.client.echo(ServerId(1), "x", now),
        Err(UsageError::UnknownServer(ServerId(1)))
    );
    assert!(net.client.get_status_unique("a\0b", now).is_err());
    assert_eq!(net.client.active_jobs(), 0);
    net.expect_no_action();
    assert!(Client::new(ClientConfig::new(Vec::<String>::new())).is_err());
}

#[test]
fn failover_when_a_server_is_down_and_back_after_backoff() {
    let config = without_exceptions([A, B])
        .with_routing(gearman_proto::client::RoutingPolicy::Single)
        .with_backoff(Duration::from_secs(1), Duration::from_secs(8))
        .with_seed(3);
    let mut net = Net::new(config);
    let job = net.submit(JobRequest::new("f", "x"));
    let a = net.expect_connect(A);
    // A refuses the connection: the submit never left, so it moves to B.
    net.client.handle_disconnected(a, net.now);
    let b = net.connect(B);
    net.expect_sent(b, &[pkt(Command::SubmitJob, &[b"f", b"", b"x"])]);
    assert!(!net.client.is_up(ServerId(0), net.now));
    // While A backs off, new work goes straight to B.
    let second = net.submit(JobRequest::new("f", "y"));
    net.expect_no_action();
    net.expect_sent(b, &[pkt(Command::SubmitJob, &[b"f", b"", b"y"])]);
    net.reply(b, Command::JobCreated, &[b"H:b:1"]);
    net.reply(b, Command::JobCreated, &[b"H:b:2"]);
    assert_eq!(
        net.events(),
        [created(job, 1, b"H:b:1"), created(second, 1, b"H:b:2")]
    );
    // After at most the base delay the client reconnects to A by itself...
    net.advance(Duration::from_secs(1));
    let a2 = net.expect_connect(A);
    assert_ne!(a, a2, "connection ids are never reused");
    // ...but A only counts as up once that connection is established and
    // has answered the probe: a frozen server still completes handshakes.
    assert!(!net.client.is_up(ServerId(0), net.now));
    net.submit(JobRequest::new("f", "w"));
    net.expect_no_action();
    net.expect_sent(b, &[pkt(Command::SubmitJob, &[b"f", b"", b"w"])]);
    net.client.handle_connected(a2, net.now);
    assert!(!net.client.is_up(ServerId(0), net.now));
    net.submit(JobRequest::new("f", "v"));
    net.expect_sent(a2, &[pkt(Command::EchoReq, &[b""])]);
    net.expect_sent(b, &[pkt(Command::SubmitJob, &[b"f", b"", b"v"])]);
    net.reply(a2, Command::EchoRes, &[b""]);
    assert!(net.client.is_up(ServerId(0), net.now));
    net.submit(JobRequest::new("f", "z"));
    net.expect_sent(a2, &[pkt(Command::SubmitJob, &[b"f", b"", b"z"])]);
}

#[test]
fn unacknowledged_submits_are_retried_elsewhere_acknowledged_are_not() {
    let config = without_exceptions([A, B])
        .with_routing(gearman_proto::client::RoutingPolicy::Single)
        .with_seed(3);
    let mut net = Net::new(config);
    let acked = net.submit(JobRequest::new("f", "1"));
    let unacked = net.submit(JobRequest::new("f", "2").with_unique("k"));
    let a = net.connect(A);
    net.expect_sent(
        a,
        &[
            pkt(Command::SubmitJob, &[b"f", b"", b"1"]),
            pkt(Command::SubmitJob, &[b"f", b"k", b"2"]),
        ],
    );
    net.reply(a, Command::JobCreated, &[b"H:a:1"]);
    net.client.handle_disconnected(a, net.now);
    assert_eq!(
        net.events(),
        [
            created(acked, 0, b"H:a:1"),
            job_error(acked, DISCONNECTED_ACKED)
        ]
    );
    let b = net.connect(B);
    net.expect_sent(b, &[pkt(Command::SubmitJob, &[b"f", b"k", b"2"])]);
    net.reply(b, Command::JobCreated, &[b"H:b:7"]);
    net.reply(b, Command::WorkCompleteRes, &[b"H:b:7", b"done"]);
    assert_eq!(
        net.events(),
        [
            created(unacked, 1, b"H:b:7"),
            ClientEvent::Complete {
                job: unacked,
                data: Bytes::from_static(b"done")
            }
        ]
    );
}

#[test]
fn retries_are_bounded_by_the_configuration() {
    let config = without_exceptions([A, B])
        .with_routing(gearman_proto::client::RoutingPolicy::Single)
        .with_submit_retries(1)
        .with_backoff(Duration::from_millis(10), Duration::from_millis(10))
        .with_seed(3);
    let mut net = Net::new(config);
    let job = net.submit(JobRequest::new("f", "x"));
    let a = net.connect(A);
    net.expect_sent(a, &[pkt(Command::SubmitJob, &[b"f", b"", b"x"])]);
    net.client.handle_disconnected(a, net.now);
    // First retry, on B.
    let b = net.connect(B);
    net.expect_sent(b, &[pkt(Command::SubmitJob, &[b"f", b"", b"x"])]);
    assert_eq!(net.events(), []);
    net.client.handle_disconnected(b, net.now);
    // Retries used up.
    assert_eq!(net.events(), [job_error(job, DISCONNECTED)]);
    net.expect_no_action();
    // With no retries at all, a single drop ends it.
    let config = without_exceptions([A, B])
        .with_submit_retries(0)
        .with_seed(3);
    let mut net = Net::new(config);
    let job = net.submit(JobRequest::new("f", "x"));
    let a = net.connect(A);
    net.drain_transmits();
    net.client.handle_disconnected(a, net.now);
    assert_eq!(net.events(), [job_error(job, DISCONNECTED)]);
    net.expect_no_action();
}

#[test]
fn submit_with_every_server_down_ends_with_the_drop_reason() {
    let mut net = Net::new(one_server());
    let job = net.submit(JobRequest::new("f", "x"));
    let a = net.expect_connect(A);
    net.client.handle_disconnected(a, net.now);
    assert_eq!(net.events(), [job_error(job, DISCONNECTED)]);
    net.expect_no_action();
}

#[test]
fn consistent_hashing_keeps_a_unique_on_one_server_and_moves_only_the_down_servers_share() {
    use gearman_proto::client::{Router, RoutingPolicy};
    let servers = ["s0:4730", "s1:4730", "s2:4730"];
    let config = without_exceptions(servers)
        .with_routing(RoutingPolicy::consistent_hash())
        .with_seed(5);
    let mut net = Net::new(config);
    let mut conns: Vec<Option<ConnId>> = vec![None; 3];
    let server_of = |conns: &[Option<ConnId>], conn: ConnId| {
        conns
            .iter()
            .position(|c| *c == Some(conn))
            .expect("known connection")
    };
    // Submit every key twice; record where each copy went.
    let keys: Vec<String> = (0..60).map(|i| format!("order-{i}")).collect();
    let mut placement = HashMap::new();
    for round in 0..2 {
        for key in &keys {
            net.submit(JobRequest::new("f", "x").with_unique(key.clone()));
            while let Some(action) = net.client.poll_action() {
                let ConnAction::Connect { conn, addr } = action else {
                    panic!("unexpected {action:?}");
                };
                let index = servers.iter().position(|s| *s == addr).unwrap();
                conns[index] = Some(conn);
                net.client.handle_connected(conn, net.now);
            }
            net.drain_transmits();
            let (&conn, _) = net
                .sent
                .iter()
                .find(|(_, bytes)| !bytes.is_empty())
                .expect("the submit was sent");
            let bytes = net.sent.remove(&conn).unwrap();
            let sent = decode_all(&bytes);
            assert_eq!(sent.len(), 1);
            assert_eq!(sent[0].unique(), Some(key.as_bytes()));
            let server = server_of(&conns, conn);
            if round == 0 {
                placement.insert(key.clone(), server);
            } else {
                assert_eq!(placement[key], server, "{key} changed server");
            }
        }
    }
    // Placement follows the deterministic ring, the same in every process.
    let ring = Router::new(RoutingPolicy::consistent_hash(), &servers);
    for key in &keys {
        assert_eq!(ring.owner(key.as_bytes()).unwrap().0, placement[key]);
    }
    let used: std::collections::HashSet<_> = placement.values().collect();
    assert_eq!(used.len(), 3, "keys spread over all servers");
    // s1 goes down: its unacknowledged jobs move, everything else stays.
    net.client.handle_disconnected(conns[1].unwrap(), net.now);
    assert_eq!(net.events(), [], "unacknowledged jobs are retried silently");
    net.drain_transmits();
    net.sent.clear();
    for key in &keys {
        net.submit(JobRequest::new("f", "x").with_unique(key.clone()));
        net.expect_no_action();
        net.drain_transmits();
        let (&conn, _) = net.sent.iter().find(|(_, b)| !b.is_empty()).unwrap();
        net.sent.remove(&conn);
        let server = server_of(&conns, conn);
        if placement[key] == 1 {
            assert_ne!(server, 1);
        } else {
            assert_eq!(
                server, placement[key],
                "{key} moved although its server is up"
            );
        }
    }
}

/// Every entry point gets the same defaults: a bare `ClientConfig::new`
/// asks for exceptions, as each adapter's `Client::new` does.
#[test]
fn the_default_configuration_asks_for_exceptions_before_the_first_submit() {
    let mut net = Net::new(ClientConfig::new([A]).with_seed(1));
    net.submit(JobRequest::new("f", "x"));
    let conn = net.connect(A);
    net.expect_sent(
        conn,
        &[
            pkt(Command::OptionReq, &[b"exceptions"]),
            pkt(Command::SubmitJob, &[b"f", b"", b"x"]),
        ],
    );
}

#[test]
fn exceptions_option_is_sent_lazily_once_per_connection_and_again_after_reconnect() {
    let config = one_server()
        .with_exceptions(true)
        .with_backoff(Duration::from_millis(100), Duration::from_millis(100));
    let mut net = Net::new(config);
    // A status request alone does not ask for the option.
    net.client.echo(ServerId(0), "hi", net.now).unwrap();
    let conn = net.connect(A);
    net.expect_sent(conn, &[pkt(Command::EchoReq, &[b"hi"])]);
    net.reply(conn, Command::EchoRes, &[b"hi"]);
    let job = net.submit(JobRequest::new("f", "x"));
    let second = net.submit(JobRequest::new("f", "y"));
    net.expect_sent(
        conn,
        &[
            pkt(Command::OptionReq, &[b"exceptions"]),
            pkt(Command::SubmitJob, &[b"f", b"", b"x"]),
            pkt(Command::SubmitJob, &[b"f", b"", b"y"]),
        ],
    );
    net.reply(conn, Command::OptionRes, &[b"exceptions"]);
    net.reply(conn, Command::JobCreated, &[b"H:a:1"]);
    net.reply(conn, Command::JobCreated, &[b"H:a:2"]);
    net.reply(conn, Command::WorkExceptionRes, &[b"H:a:1", b"boom"]);
    let events = net.events();
    assert_eq!(
        &events[1..],
        [
            created(job, 0, b"H:a:1"),
            created(second, 0, b"H:a:2"),
            ClientEvent::Exception {
                job,
                data: Bytes::from_static(b"boom")
            }
        ]
    );
    // Reconnect: the option is asked for again before the next submit.
    net.client.handle_disconnected(conn, net.now);
    assert_eq!(net.events(), [job_error(second, DISCONNECTED_ACKED)]);
    // The client reconnects by itself after the backoff delay, and has
    // nothing but its probe to say until the next submit.
    net.advance(Duration::from_millis(100));
    let conn = net.reconnect(A);
    net.expect_nothing_sent();
    net.submit(JobRequest::new("f", "z"));
    net.expect_sent(
        conn,
        &[
            pkt(Command::OptionReq, &[b"exceptions"]),
            pkt(Command::SubmitJob, &[b"f", b"", b"z"]),
        ],
    );
}

#[test]
fn refused_exceptions_option_does_not_fail_jobs_and_exceptions_arrive_as_failures() {
    let mut net = Net::new(one_server().with_exceptions(true));
    let job = net.submit(JobRequest::new("f", "x"));
    let conn = net.connect(A);
    net.expect_sent(
        conn,
        &[
            pkt(Command::OptionReq, &[b"exceptions"]),
            pkt(Command::SubmitJob, &[b"f", b"", b"x"]),
        ],
    );
    net.reply(
        conn,
        Command::Error,
        &[b"UNKNOWN_OPTION", b"Server does not recognize given option"],
    );
    net.reply(conn, Command::JobCreated, &[b"H:a:1"]);
    // gearmand converts the exception to WORK_FAIL with the handle's NUL kept.
    let fail = Packet::from_payload(Command::WorkFailRes, Bytes::from_static(b"H:a:1\0")).unwrap();
    net.client.handle_input(conn, &wire(&[fail]), net.now);
    assert_eq!(
        net.events(),
        [created(job, 0, b"H:a:1"), ClientEvent::Failed { job }]
    );
    // The refusal is remembered for the connection: not asked again.
    net.submit(JobRequest::new("f", "y"));
    net.expect_sent(conn, &[pkt(Command::SubmitJob, &[b"f", b"", b"y"])]);
    net.expect_no_action();
}

#[test]
fn backoff_grows_exponentially_with_jitter_up_to_the_cap_and_resets_on_connect() {
    use gearman_proto::backoff::{Backoff, BackoffConfig};
    let (min, max) = (Duration::from_secs(1), Duration::from_secs(4));
    let mut net = Net::new(one_server().with_backoff(min, max));
    let job = net.submit(JobRequest::new("f", "x"));
    let mut conn = net.expect_connect(A);
    net.client.handle_disconnected(conn, net.now);
    assert_eq!(net.events(), [job_error(job, DISCONNECTED)]);
    let mut reference = Backoff::new(BackoffConfig { min, max }, 0);
    let mut delays = Vec::new();
    for attempt in 0..7 {
        let base = reference.next_base();
        reference.next_delay();
        let failed_at = net.now;
        let due = net.client.poll_timeout().expect("a reconnect is scheduled");
        let delay = due - failed_at;
        assert!(
            delay >= base / 2 && delay <= base,
            "attempt {attempt}: reconnect after {delay:?}, base {base:?}"
        );
        delays.push(delay);
        // Meanwhile requests fail fast instead of waiting.
        let probe = net.submit(JobRequest::new("f", "x"));
        assert_eq!(
            net.events(),
            [job_error(probe, ClientError::NoServer { cause: None })]
        );
        net.advance(delay - Duration::from_millis(1));
        net.expect_no_action();
        net.advance(Duration::from_millis(1));
        conn = net.expect_connect(A);
        assert!(
            !net.client.is_up(ServerId(0), net.now),
            "down until connected"
        );
        net.client.handle_disconnected(conn, net.now);
    }
    assert!(delays[4..].iter().all(|d| *d <= max), "capped: {delays:?}");
    assert!(
        delays.windows(2).any(|w| w[0] != w[1]),
        "jittered: {delays:?}"
    );
    // A successful connect resets the delay to the minimum.
    let due = net.client.poll_timeout().unwrap();
    net.now = due;
    net.client.handle_timeout(net.now);
    conn = net.reconnect(A);
    assert!(net.client.is_up(ServerId(0), net.now));
    net.client.handle_disconnected(conn, net.now);
    let delay = net.client.poll_timeout().unwrap() - net.now;
    assert!(delay >= min / 2 && delay <= min, "after reset: {delay:?}");
}

#[test]
fn connect_timeout_closes_the_attempt_and_fails_over() {
    let config = without_exceptions([A, B])
        .with_routing(gearman_proto::client::RoutingPolicy::Single)
        .with_connect_timeout(Duration::from_secs(2))
        .with_seed(1);
    let mut net = Net::new(config);
    let job = net.submit(JobRequest::new("f", "x"));
    let a = net.expect_connect(A);
    assert_eq!(
        net.client.poll_timeout(),
        Some(net.now + Duration::from_secs(2))
    );
    net.advance(Duration::from_secs(1));
    net.expect_no_action();
    net.advance(Duration::from_secs(1));
    net.expect_close(a);
    let b = net.connect(B);
    net.expect_sent(b, &[pkt(Command::SubmitJob, &[b"f", b"", b"x"])]);
    assert_eq!(net.events(), []);
    // A late report about the abandoned attempt changes nothing.
    net.client.handle_connected(a, net.now);
    net.client.handle_input(a, b"garbage", net.now);
    net.client.handle_disconnected(a, net.now);
    net.expect_no_action();
    assert!(net.client.is_active(job));
    // With nowhere else to go, the job ends with a timeout.
    let mut net = Net::new(one_server().with_connect_timeout(Duration::from_secs(2)));
    let job = net.submit(JobRequest::new("f", "x"));
    let a = net.expect_connect(A);
    net.advance(Duration::from_secs(2));
    net.expect_close(a);
    assert_eq!(
        net.events(),
        [job_error(
            job,
            ClientError::Timeout {
                acknowledged: false
            }
        )]
    );
}

#[test]
fn job_deadline_ends_the_job_and_its_late_packets_are_dropped() {
    let mut net = Net::new(one_server().with_request_timeout(None));
    let slow = net.submit(JobRequest::new("f", "1").with_deadline(Duration::from_secs(5)));
    let unacked = net.submit(JobRequest::new("f", "2").with_deadline(Duration::from_secs(3)));
    let other = net.submit(JobRequest::new("f", "3"));
    let conn = net.connect(A);
    net.drain_transmits();
    net.reply(conn, Command::JobCreated, &[b"H:a:1"]);
    assert_eq!(net.events(), [created(slow, 0, b"H:a:1")]);
    assert_eq!(
        net.client.poll_timeout(),
        Some(net.now + Duration::from_secs(3))
    );
    net.advance(Duration::from_secs(3));
    assert_eq!(
        net.events(),
        [job_error(
            unacked,
            ClientError::Timeout {
                acknowledged: false
            }
        )]
    );
    net.advance(Duration::from_secs(2));
    assert_eq!(
        net.events(),
        [job_error(slow, ClientError::Timeout { acknowledged: true })]
    );
    assert_eq!(net.client.poll_timeout(), None);
    // The late JOB_CREATED of the timed-out submit still takes its place in
    // the reply order, so the next one reaches the right job.
    net.reply(conn, Command::JobCreated, &[b"H:a:2"]);
    net.reply(conn, Command::JobCreated, &[b"H:a:3"]);
    net.reply(conn, Command::WorkDataRes, &[b"H:a:1", b"late"]);
    net.reply(conn, Command::WorkCompleteRes, &[b"H:a:1", b"late"]);
    net.reply(conn, Command::WorkCompleteRes, &[b"H:a:2", b"late"]);
    net.reply(conn, Command::WorkCompleteRes, &[b"H:a:3", b"ok"]);
    assert_eq!(
        net.events(),
        [
            created(other, 0, b"H:a:3"),
            ClientEvent::Complete {
                job: other,
                data: Bytes::from_static(b"ok")
            }
        ]
    );
    net.expect_no_action();
}

#[test]
fn coalesced_jobs_each_get_every_update_once_and_end() {
    let mut net = Net::new(one_server());
    let first = net.submit(JobRequest::new("f", "x").with_unique("same"));
    let second = net.submit(JobRequest::new("f", "x").with_unique("same"));
    let conn = net.connect(A);
    net.drain_transmits();
    net.reply(conn, Command::JobCreated, &[b"H:a:1"]);
    // The first listener's copy of an update sent before the second attached.
    net.reply(conn, Command::WorkStatusRes, &[b"H:a:1", b"1", b"4"]);
    net.reply(conn, Command::JobCreated, &[b"H:a:1"]);
    // gearmand sends one copy per listener.
    for _ in 0..2 {
        net.reply(conn, Command::WorkDataRes, &[b"H:a:1", b"part"]);
    }
    for _ in 0..2 {
        net.reply(conn, Command::WorkCompleteRes, &[b"H:a:1", b"all"]);
    }
    let data = |job| ClientEvent::Data {
        job,
        data: Bytes::from_static(b"part"),
    };
    let complete = |job| ClientEvent::Complete {
        job,
        data: Bytes::from_static(b"all"),
    };
    assert_eq!(
        net.events(),
        [
            created(first, 0, b"H:a:1"),
            ClientEvent::Status {
                job: first,
                numerator: 1,
                denominator: 4
            },
            created(second, 0, b"H:a:1"),
            data(first),
            data(second),
            complete(first),
            complete(second),
        ]
    );
    net.expect_no_action();
}

#[test]
fn forgotten_job_reports_nothing_more_and_its_copies_do_not_reach_others() {
    let mut net = Net::new(one_server());
    let first = net.submit(JobRequest::new("f", "x").with_unique("same"));
    let second = net.submit(JobRequest::new("f", "x").with_unique("same"));
    assert!(net.client.forget(first));
    assert!(!net.client.forget(first));
    let conn = net.connect(A);
    net.drain_transmits();
    net.reply(conn, Command::JobCreated, &[b"H:a:1"]);
    net.reply(conn, Command::JobCreated, &[b"H:a:1"]);
    for _ in 0..2 {
        net.reply(conn, Command::WorkDataRes, &[b"H:a:1", b"part"]);
    }
    net.reply(conn, Command::WorkFailRes, &[b"H:a:1"]);
    assert_eq!(
        net.events(),
        [
            created(second, 0, b"H:a:1"),
            ClientEvent::Data {
                job: second,
                data: Bytes::from_static(b"part")
            },
            ClientEvent::Failed { job: second },
        ]
    );
}

#[test]
fn peer_errors_close_the_connection_and_fail_what_was_on_it() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("bad magic", b"HTTP/1.1 400 Bad Request\r\n".to_vec()),
        (
            "reply of the wrong kind",
            wire(&[pkt(Command::EchoRes, &[b"x"])]),
        ),
        ("worker packet", wire(&[pkt(Command::Noop, &[])])),
        (
            "request magic",
            wire(&[pkt(Command::SubmitJob, &[b"f", b"", b"x"])]),
        ),
        (
            "oversized packet",
            b"\0RES\0\0\0\x11\x7f\xff\xff\xffxx".to_vec(),
        ),
    ];
    for (name, bytes) in cases {
        let mut net = Net::new(one_server().with_max_packet_size(1024));
        let acked = net.submit(JobRequest::new("f", "x"));
        let conn = net.connect(A);
        net.drain_transmits();
        net.reply(conn, Command::JobCreated, &[b"H:a:1"]);
        let pending = net.submit(JobRequest::new("f", "y"));
        net.drain_transmits();
        net.client.handle_input(conn, &bytes, net.now);
        net.expect_close(conn);
        assert_eq!(
            net.events(),
            [
                created(acked, 0, b"H:a:1"),
                job_error(acked, DISCONNECTED_ACKED),
                job_error(pending, DISCONNECTED),
            ],
            "{name}"
        );
        // Input after the close is ignored.
        net.client.handle_input(conn, &bytes, net.now);
        net.expect_no_action();
        assert_eq!(net.events(), [], "{name}");
    }
}

#[test]
fn input_split_anywhere_gives_the_same_events() {
    let script = wire(&[
        pkt(Command::JobCreated, &[b"H:a:1"]),
        pkt(Command::WorkDataRes, &[b"H:a:1", b"d\0ata"]),
        pkt(Command::WorkCompleteRes, &[b"H:a:1", b"done"]),
    ]);
    let run = |chunk: usize| {
        let mut net = Net::new(one_server());
        net.submit(JobRequest::new("f", "x"));
        let conn = net.connect(A);
        net.drain_transmits();
        for piece in script.chunks(chunk) {
            net.client.handle_input(conn, piece, net.now);
        }
        net.events()
    };
    let whole = run(script.len());
    assert_eq!(whole.len(), 3);
    for chunk in 1..script.len() {
        assert_eq!(run(chunk), whole, "chunk size {chunk}");
    }
}

#[test]
fn reply_with_nothing_pending_closes_the_connection() {
    let mut net = Net::new(one_server());
    let job = net.submit(JobRequest::new("f", "x"));
    let conn = net.connect(A);
    net.drain_transmits();
    net.reply(conn, Command::JobCreated, &[b"H:a:1"]);
    net.reply(
        conn,
        Command::StatusRes,
        &[b"H:a:1", b"1", b"0", b"0", b"0"],
    );
    net.expect_close(conn);
    assert_eq!(
        net.events(),
        [
            created(job, 0, b"H:a:1"),
            job_error(job, DISCONNECTED_ACKED)
        ]
    );
    // An ERROR with nothing pending is just as unexpected.
    let mut net = Net::new(one_server());
    net.client.echo(ServerId(0), "x", net.now).unwrap();
    let conn = net.connect(A);
    net.reply(conn, Command::EchoRes, &[b"x"]);
    net.reply(conn, Command::Error, &[b"E", b"t"]);
    net.expect_close(conn);
}

#[test]
fn timeouts_come_from_poll_timeout_and_early_or_repeated_calls_are_harmless() {
    let config = one_server()
        .with_connect_timeout(Duration::from_secs(1))
        .with_request_timeout(Some(Duration::from_secs(10)));
    let mut net = Net::new(config);
    assert_eq!(net.client.poll_timeout(), None, "idle client sleeps");
    let start = net.now;
    let job = net.submit(JobRequest::new("f", "x").with_deadline(Duration::from_secs(4)));
    let conn = net.expect_connect(A);
    // Earliest of: connect (1 s), job deadline (4 s), request (10 s).
    assert_eq!(
        net.client.poll_timeout(),
        Some(start + Duration::from_secs(1))
    );
    net.client.handle_connected(conn, net.now);
    net.drain_transmits();
    assert_eq!(
        net.client.poll_timeout(),
        Some(start + Duration::from_secs(4))
    );
    // Early and repeated calls change nothing.
    for _ in 0..3 {
        net.client
            .handle_timeout(start + Duration::from_millis(3999));
    }
    net.expect_no_action();
    assert_eq!(net.events(), []);
    assert!(net.client.is_active(job));
    net.reply(conn, Command::JobCreated, &[b"H:a:1"]);
    net.events();
    // The request is answered; only the job deadline is left.
    assert_eq!(
        net.client.poll_timeout(),
        Some(start + Duration::from_secs(4))
    );
    net.now = start + Duration::from_secs(4);
    net.client.handle_timeout(net.now);
    net.client.handle_timeout(net.now);
    assert_eq!(
        net.events(),
        [job_error(job, ClientError::Timeout { acknowledged: true })]
    );
    assert_eq!(net.client.poll_timeout(), None);
    net.expect_no_action();
}

#[test]
fn a_status_request_without_reply_times_out() {
    let mut net = Net::new(one_server().with_request_timeout(Some(Duration::from_secs(2))));
    let request = net
        .client
        .get_status(&handle(0, b"H:a:1"), net.now)
        .unwrap();
    let conn = net.connect(A);
    net.drain_transmits();
    net.advance(Duration::from_secs(2));
    net.expect_close(conn);
    assert_eq!(
        net.events(),
        [ClientEvent::RequestError {
            request,
            error: ClientError::Timeout {
                acknowledged: false
            }
        }]
    );
}

#[test]
fn raw_requests_get_their_single_reply_back() {
    use gearman_proto::client::UsageError;
    let mut net = Net::new(one_server());
    let option = pkt(Command::OptionReq, &[b"exceptions"]);
    let all_yours = pkt(Command::AllYours, &[]);
    let first = net.client.send_raw(ServerId(0), &option, net.now).unwrap();
    let second = net
        .client
        .send_raw(ServerId(0), &all_yours, net.now)
        .unwrap();
    assert!(matches!(
        net.client
            .send_raw(ServerId(0), &pkt(Command::CanDo, &[b"f"]), net.now),
        Err(UsageError::Invalid { .. })
    ));
    assert_eq!(
        net.client.send_raw(ServerId(3), &option, net.now),
        Err(UsageError::UnknownServer(ServerId(3)))
    );
    let conn = net.connect(A);
    net.expect_sent(conn, &[option.clone(), all_yours]);
    net.reply(conn, Command::OptionRes, &[b"exceptions"]);
    net.reply(
        conn,
        Command::Error,
        &[b"INVALID_COMMAND", b"Command not expected"],
    );
    assert_eq!(
        net.events(),
        [
            ClientEvent::RawReply {
                request: first,
                packet: pkt(Command::OptionRes, &[b"exceptions"])
            },
            ClientEvent::RequestError {
                request: second,
                error: server_error("INVALID_COMMAND", "Command not expected")
            },
        ]
    );
}

/// Some servers drop OPTION_REQ without a word. The JOB_CREATED that answers
/// the submit behind it proves it was dropped: the option is not in force,
/// and the connection carries on.
#[test]
fn server_that_ignores_option_req_serves_every_kind_of_request() {
    let mut net = Net::new(one_server().with_exceptions(true));
    let first = net.submit(JobRequest::new("f", "x").with_unique("k"));
    let coalesced = net.submit(JobRequest::new("f", "x").with_unique("k"));
    let background = net.submit(JobRequest::new("f", "y").with_unique("b").in_background());
    let conn = net.connect(A);
    net.expect_sent(
        conn,
        &[
            pkt(Command::OptionReq, &[b"exceptions"]),
            pkt(Command::SubmitJob, &[b"f", b"k", b"x"]),
            pkt(Command::SubmitJob, &[b"f", b"k", b"x"]),
            pkt(Command::SubmitJobBg, &[b"f", b"b", b"y"]),
        ],
    );
    net.reply(conn, Command::JobCreated, &[b"H:a:1"]);
    net.reply(conn, Command::JobCreated, &[b"H:a:1"]);
    net.reply(conn, Command::JobCreated, &[b"H:a:2"]);
    let status = net
        .client
        .get_status(&handle(0, b"H:a:1"), net.now)
        .unwrap();
    net.expect_sent(conn, &[pkt(Command::GetStatus, &[b"H:a:1"])]);
    net.reply(
        conn,
        Command::StatusRes,
        &[b"H:a:1", b"1", b"1", b"0", b"0"],
    );
    // Without the option the worker's exception arrives as WORK_FAIL.
    net.reply(conn, Command::WorkFailRes, &[b"H:a:1"]);
    net.expect_no_action();
    assert_eq!(
        net.events(),
        [
            created(first, 0, b"H:a:1"),
            created(coalesced, 0, b"H:a:1"),
            ClientEvent::Created {
                job: background,
                handle: handle(0, b"H:a:2"),
                background: true
            },
            ClientEvent::StatusResult {
                request: status,
                status: gearman_proto::client::JobStatus {
                    handle: handle(0, b"H:a:1"),
                    known: true,
                    running: true,
                    numerator: 0,
                    denominator: 0
                }
            },
            ClientEvent::Failed { job: first },
            ClientEvent::Failed { job: coalesced },
        ]
    );
    // Not asked again on this connection.
    net.submit(JobRequest::new("f", "z"));
    net.expect_sent(conn, &[pkt(Command::SubmitJob, &[b"f", b"", b"z"])]);
    assert_eq!(
        net.client.poll_timeout(),
        Some(net.now + Duration::from_secs(30))
    );
}

/// Any request a server drops without a reply ends as soon as a reply to a
/// later one shows it was dropped, and the connection stays.
#[test]
fn requests_a_server_ignores_end_when_a_later_reply_proves_it() {
    let mut net = Net::new(one_server());
    let status = net.client.get_status_unique("u", net.now).unwrap();
    let job = net.submit(JobRequest::new("f", "x"));
    let echo = net.client.echo(ServerId(0), "e", net.now).unwrap();
    let conn = net.connect(A);
    net.drain_transmits();
    // The server knows neither GET_STATUS_UNIQUE nor SUBMIT_JOB.
    net.reply(conn, Command::EchoRes, &[b"e"]);
    net.expect_no_action();
    assert_eq!(
        net.events(),
        [
            ClientEvent::RequestError {
                request: status,
                error: ClientError::Ignored
            },
            job_error(job, ClientError::Ignored),
            ClientEvent::EchoResult {
                request: echo,
                data: Bytes::from_static(b"e")
            },
        ]
    );
    // A reply that answers nothing pending is still a protocol error.
    net.reply(conn, Command::OptionRes, &[b"exceptions"]);
    net.expect_close(conn);
}

/// A submit arriving after a failed server's backoff ran out, but before
/// the reconnect timer fired, neither opens the connection itself nor
/// waits on it: with no other server it ends at once with `NoServer`, with
/// another one up it goes there. The reconnect the timer then opens never
/// completes, and nothing waits on it.
#[test]
fn a_submit_never_waits_on_the_reconnect_of_a_failed_server() {
    let backoff = (Duration::from_secs(1), Duration::from_secs(1));
    // One server.
    let mut net = Net::new(one_server().with_backoff(backoff.0, backoff.1));
    let job = net.submit(JobRequest::new("f", "x"));
    let a = net.expect_connect(A);
    net.client.handle_disconnected(a, net.now);
    assert_eq!(net.events(), [job_error(job, DISCONNECTED)]);
    net.now = net.client.poll_timeout().expect("a reconnect is due");
    let late = net.submit(JobRequest::new("f", "y"));
    assert_eq!(
        net.events(),
        [job_error(late, ClientError::NoServer { cause: None })]
    );
    net.expect_no_action();
    net.client.handle_timeout(net.now);
    let hanging = net.expect_connect(A);
    let during = net.submit(JobRequest::new("f", "z"));
    assert_eq!(
        net.events(),
        [job_error(during, ClientError::NoServer { cause: None })]
    );
    net.advance(Duration::from_secs(5));
    net.expect_close(hanging);
    assert_eq!(net.events(), []);

    // Two servers: B is up, A failed.
    let config = without_exceptions([A, B])
        .with_routing(gearman_proto::client::RoutingPolicy::Single)
        .with_backoff(backoff.0, backoff.1)
        .with_seed(2);
    let mut net = Net::new(config);
    net.submit(JobRequest::new("f", "1"));
    let a = net.expect_connect(A);
    net.client.handle_disconnected(a, net.now);
    let b = net.connect(B);
    net.expect_sent(b, &[pkt(Command::SubmitJob, &[b"f", b"", b"1"])]);
    net.now = net.client.poll_timeout().expect("a reconnect is due");
    net.submit(JobRequest::new("f", "2"));
    net.expect_no_action();
    net.expect_sent(b, &[pkt(Command::SubmitJob, &[b"f", b"", b"2"])]);
    net.client.handle_timeout(net.now);
    let hanging = net.expect_connect(A);
    net.submit(JobRequest::new("f", "3"));
    net.expect_sent(b, &[pkt(Command::SubmitJob, &[b"f", b"", b"3"])]);
    net.advance(Duration::from_secs(5));
    net.expect_close(hanging);
    assert_eq!(net.events(), []);
}

/// While another server is up, a submit never waits on a server's first
/// connect either: round robin's turn for the untried B starts B's connect,
/// and the job goes to A, which is up. B's connect never completes, and
/// nothing waits on it or fails because of it.
#[test]
fn a_submit_never_waits_on_a_first_connect_while_another_server_is_up() {
    let mut net = Net::new(without_exceptions([A, B]).with_seed(1));
    let a = net.connect_after(A, JobRequest::new("f", "0"));
    net.submit(JobRequest::new("f", "1"));
    let hanging = net.expect_connect(B);
    net.expect_sent(a, &[pkt(Command::SubmitJob, &[b"f", b"", b"1"])]);
    for payload in ["2", "3"] {
        net.submit(JobRequest::new("f", payload));
        net.expect_sent(
            a,
            &[pkt(Command::SubmitJob, &[b"f", b"", payload.as_bytes()])],
        );
    }
    net.expect_no_action();
    net.advance(Duration::from_secs(5));
    net.expect_close(hanging);
    assert_eq!(net.events(), []);
}

/// A server that stops answering (but still accepts connections) is left
/// alone after its request timeout: the jobs it had acknowledged end, its
/// reconnection must answer a probe before it is used again, and until
/// then later submits go to the other server.
#[test]
fn after_a_request_timeout_submits_go_elsewhere_until_the_server_answers_again() {
    let config = without_exceptions([A, B])
        .with_routing(gearman_proto::client::RoutingPolicy::Single)
        .with_request_timeout(Some(Duration::from_secs(2)))
        .with_connect_timeout(Duration::from_secs(3))
        .with_backoff(Duration::from_secs(1), Duration::from_secs(1))
        .with_seed(4);
    let mut net = Net::new(config);
    let running = net.submit(JobRequest::new("f", "0"));
    let a = net.connect(A);
    net.expect_sent(a, &[pkt(Command::SubmitJob, &[b"f", b"", b"0"])]);
    net.reply(a, Command::JobCreated, &[b"H:a:1"]);
    assert_eq!(net.events(), [created(running, 0, b"H:a:1")]);
    // A freezes.
    let stuck = net.submit(JobRequest::new("f", "1"));
    net.expect_sent(a, &[pkt(Command::SubmitJob, &[b"f", b"", b"1"])]);
    net.advance(Duration::from_secs(2));
    net.expect_close(a);
    assert_eq!(
        net.events(),
        [
            job_error(
                stuck,
                ClientError::Timeout {
                    acknowledged: false
                }
            ),
            job_error(running, DISCONNECTED_ACKED),
        ]
    );
    let b = net.connect_after(B, JobRequest::new("f", "2"));
    net.reply(b, Command::JobCreated, &[b"H:b:2"]);
    // The reconnection completes its handshake (the kernel does that for a
    // frozen process), yet A stays down while its probe is unanswered.
    net.advance(Duration::from_secs(1));
    let a2 = net.connect(A);
    net.expect_sent(a2, &[pkt(Command::EchoReq, &[b""])]);
    for payload in ["3", "4"] {
        net.submit(JobRequest::new("f", payload));
        net.expect_sent(
            b,
            &[pkt(Command::SubmitJob, &[b"f", b"", payload.as_bytes()])],
        );
        net.reply(b, Command::JobCreated, &[b"H:b:n"]);
    }
    assert!(!net.client.is_up(ServerId(0), net.now));
    // The probe gets the connect timeout, then A backs off again.
    net.advance(Duration::from_secs(3));
    net.expect_close(a2);
    net.advance(Duration::from_secs(1));
    let a3 = net.reconnect(A);
    assert!(net.client.is_up(ServerId(0), net.now));
    net.submit(JobRequest::new("f", "5"));
    net.expect_sent(a3, &[pkt(Command::SubmitJob, &[b"f", b"", b"5"])]);
    assert_eq!(net.events().len(), 3, "B's three jobs were created");
    net.expect_no_action();
}

#[test]
fn job_progress_keeps_the_acknowledged_handle_and_a_queued_one() {
    use gearman_proto::client::{JobOutcome, JobProgress};

    let mut job = JobProgress::new(true);
    assert_eq!(job.handle(), None);
    assert!(job.take_outcome().is_none(), "no end yet");
    job.created(handle(0, b"H:1"));
    assert_eq!(job.handle(), Some(&handle(0, b"H:1")));

    let mut background = JobProgress::new(true);
    background.end(Ok(JobOutcome::Queued(handle(1, b"H:2"))));
    assert_eq!(background.handle(), Some(&handle(1, b"H:2")));
    assert!(background.is_over() && !background.awaited());
}
