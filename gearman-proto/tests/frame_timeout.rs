//! A frame (packet or admin line) begun and never finished closes its
//! connection after the frame timeout, in the server, the client and the
//! worker alike; a connection with nothing half-received stays open.

mod sim;
mod worker_support;

use std::time::Duration;

use gearman_proto::client::{Client, ClientConfig, ClientError, ClientEvent, JobRequest};
use gearman_proto::server::ServerConfig;
use gearman_proto::worker::{WorkerConfig, WorkerEvent};
use gearman_proto::{Command, ConnAction, ConnId, Endpoint, MIN_FRAME_RATE, encode_fields};
use sim::wire::{Harness, pkt};
use worker_support::{Peer, servers};

const TIMEOUT: Duration = Duration::from_secs(10);

/// The header of a packet declaring `size` payload bytes, and `sent` of them.
fn partial(command: Command, size: u32, sent: usize) -> Vec<u8> {
    let mut bytes = command.magic().bytes().to_vec();
    bytes.extend_from_slice(&command.number().to_be_bytes());
    bytes.extend_from_slice(&size.to_be_bytes());
    bytes.resize(bytes.len() + sent, b'x');
    bytes
}

fn server() -> Harness {
    let mut config = ServerConfig::new("test");
    config.frame_timeout = Some(TIMEOUT);
    Harness::with(config)
}

#[test]
fn server_closes_a_half_sent_packet_or_line_after_the_timeout() {
    let mut h = server();
    let idle = h.connect();
    let stalled = h.connect();
    let line = h.connect();
    assert_eq!(
        h.server.poll_timeout(),
        None,
        "idle connections need no timer"
    );
    h.send(stalled, &partial(Command::SubmitJob, 64 << 20, 1024));
    h.send(line, b"stat");
    assert!(h.server.poll_timeout().is_some());
    h.advance(TIMEOUT - Duration::from_millis(1));
    assert!(!h.is_closed(stalled) && !h.is_closed(line));
    // Each byte received earns 1/64Ki s: 4 bytes are 61 µs, 1036 are 16 ms.
    h.advance(Duration::from_millis(2));
    assert!(h.is_closed(line), "the admin line's time is up");
    assert!(
        !h.is_closed(stalled),
        "1 KiB earns 1/64 s at the minimum rate"
    );
    h.advance(Duration::from_millis(20));
    assert!(h.is_closed(stalled));
    assert_eq!(h.server.connection_count(), 1);
    // The idle connection stays however long it is silent.
    h.advance(Duration::from_secs(24 * 3600));
    assert!(!h.is_closed(idle));
    h.req(idle, Command::EchoReq, &[b"still here"]);
    assert_eq!(h.recv(idle), pkt(Command::EchoRes, &[b"still here"]));
}

#[test]
fn server_restarts_the_clock_for_each_frame() {
    let mut h = server();
    let c = h.connect();
    // Each read completes a packet and begins the next one.
    for _ in 0..5 {
        let mut bytes = pkt(Command::EchoReq, &[b"x"]);
        bytes.extend(partial(Command::EchoReq, 1, 0)[..6].iter());
        h.send(c, &bytes);
        h.advance(TIMEOUT / 2);
        h.send(c, &partial(Command::EchoReq, 1, 1)[6..]);
    }
    assert!(!h.is_closed(c));
    assert_eq!(h.recv(c).len(), 10 * pkt(Command::EchoRes, &[b"x"]).len());
    h.send(c, &[0]);
    h.advance(TIMEOUT + Duration::from_millis(1));
    assert!(h.is_closed(c));
}

#[test]
fn server_bounds_a_trickle_and_spares_a_large_frame_that_keeps_arriving() {
    let mut h = server();
    let trickle = h.connect();
    let steady = h.connect();
    let payload = vec![b'p'; 1 << 20];
    let wire = pkt(Command::EchoReq, &[&payload]);
    // One byte every 5 s for the trickle; 64 KiB per 0.9 s (a little over
    // the minimum rate) for the steady sender.
    let step = Duration::from_millis(900);
    let mut trickled = 0;
    let mut closed_after = None;
    for (i, chunk) in wire.chunks(64 * 1024).enumerate() {
        h.send(steady, chunk);
        if i % 5 == 0 && !h.is_closed(trickle) {
            h.send(trickle, &wire[trickled..=trickled]);
            trickled += 1;
        }
        h.advance(step);
        if closed_after.is_none() && h.is_closed(trickle) {
            closed_after = Some(step * (i as u32 + 1));
        }
    }
    let closed_after = closed_after.expect("the trickle is closed");
    assert!(closed_after >= TIMEOUT && closed_after <= TIMEOUT + step);
    assert!(!h.is_closed(steady));
    assert_eq!(h.recv(steady), pkt(Command::EchoRes, &[&payload]));
}

#[test]
fn server_input_memory_follows_bytes_received_not_declared_sizes() {
    let mut h = server();
    // 32 peers each declare 64 MiB and send 1 KiB of it, half through the
    // decoder and half as a response-only type (answered INVALID_COMMAND
    // once complete).
    for i in 0..32 {
        let c = h.connect();
        let command = if i % 2 == 0 {
            Command::SubmitJob
        } else {
            Command::Noop
        };
        let mut bytes = partial(command, 64 << 20, 1024);
        if command == Command::Noop {
            bytes[..4].copy_from_slice(b"\0REQ");
        }
        h.send(c, &bytes);
        assert!(!h.is_closed(c));
    }
    let allocated = h.server.stats().input_allocated;
    assert!(allocated >= 32 * 1036, "the bytes are held: {allocated}");
    assert!(
        allocated <= 32 * 8192,
        "{allocated} bytes allocated for 32 KiB received"
    );
}

/// A client with one job on server `a:4730`, connected, the job acknowledged.
fn client_with_job(timeout: Option<Duration>) -> (Client, ConnId, std::time::Instant) {
    let now = std::time::Instant::now();
    // Without the exceptions option, JOB_CREATED is the first reply.
    let config = ClientConfig::new(["a:4730"])
        .with_frame_timeout(timeout)
        .with_exceptions(false);
    let mut client = Client::new(config).unwrap();
    client.submit(JobRequest::new("f", "x"), now).unwrap();
    let Some(ConnAction::Connect { conn, .. }) = client.poll_action() else {
        panic!("a connect");
    };
    client.handle_connected(conn, now);
    while client.poll_transmit().is_some() {}
    let mut created = Vec::new();
    encode_fields(&mut created, Command::JobCreated, &[b"H:a:1"]).unwrap();
    client.handle_input(conn, &created, now);
    assert!(matches!(
        client.poll_event(),
        Some(ClientEvent::Created { .. })
    ));
    (client, conn, now)
}

#[test]
fn client_treats_a_stalled_packet_as_a_lost_connection_and_reconnects() {
    let (mut client, conn, mut now) = client_with_job(Some(TIMEOUT));
    // Silent but idle: nothing happens.
    now += Duration::from_secs(3600);
    client.handle_timeout(now);
    assert_eq!(client.poll_action(), None);
    client.handle_input(conn, &partial(Command::WorkCompleteRes, 1 << 20, 100), now);
    assert!(
        client
            .poll_timeout()
            .is_some_and(|at| at > now + TIMEOUT - Duration::from_millis(1))
    );
    now += TIMEOUT - Duration::from_millis(1);
    client.handle_timeout(now);
    assert_eq!(client.poll_action(), None);
    now += Duration::from_millis(10);
    client.handle_timeout(now);
    assert_eq!(client.poll_action(), Some(ConnAction::Close { conn }));
    assert!(matches!(
        client.poll_event(),
        Some(ClientEvent::JobError {
            error: ClientError::Disconnected { acknowledged: true },
            ..
        })
    ));
    // The usual backoff, then a reconnect.
    let retry = client.poll_timeout().expect("a reconnect is planned");
    client.handle_timeout(retry);
    assert!(matches!(
        client.poll_action(),
        Some(ConnAction::Connect { .. })
    ));
}

#[test]
fn client_bounds_a_trickle_and_waits_for_ever_without_a_timeout() {
    let (mut client, conn, mut now) = client_with_job(Some(TIMEOUT));
    let wire = partial(Command::WorkCompleteRes, 1 << 20, 1 << 20);
    let mut closed_after = None;
    for (i, byte) in wire.iter().enumerate().take(10) {
        client.handle_input(conn, std::slice::from_ref(byte), now);
        now += Duration::from_secs(5);
        client.handle_timeout(now);
        if client.poll_action() == Some(ConnAction::Close { conn }) {
            closed_after = Some(i + 1);
            break;
        }
    }
    // Bytes at 0, 5 and 10 s: the first check past 10 s (at 15 s) closes it.
    assert_eq!(closed_after, Some(3));

    let (mut client, conn, mut now) = client_with_job(None);
    client.handle_input(conn, &wire[..100], now);
    assert_eq!(client.poll_timeout(), None);
    now += Duration::from_secs(3600);
    client.handle_timeout(now);
    assert_eq!(client.poll_action(), None);
}

/// A worker of `f` on one server, its first grab answered NO_JOB.
fn asleep_worker() -> Peer {
    let config = WorkerConfig::new(servers(1))
        .with_function("f")
        .with_frame_timeout(Some(TIMEOUT));
    let mut peer = Peer::connected(config);
    peer.send(0, Command::NoJob, &[]);
    peer
}

#[test]
fn worker_loses_its_job_on_a_stalled_packet_but_sleeps_for_hours() {
    let mut peer = asleep_worker();
    // Asleep: hours of silence change nothing.
    peer.advance(Duration::from_secs(6 * 3600));
    assert!(peer.closed.is_empty());
    peer.send(0, Command::Noop, &[]);
    peer.send(0, Command::JobAssignUniq, &[b"H:1", b"f", b"", b"x"]);
    let job = peer.take_job();
    let conn = peer.conn(0);
    peer.send_raw(0, &partial(Command::Noop, 0, 0)[..5]);
    peer.advance(TIMEOUT - Duration::from_millis(1));
    assert!(peer.closed.is_empty());
    peer.advance(Duration::from_millis(2));
    assert_eq!(peer.closed, [conn]);
    let events = peer.take_events();
    assert!(
        events.contains(&WorkerEvent::JobLost { id: job.id }),
        "{events:?}"
    );
    peer.advance(Duration::from_secs(1));
    assert!(
        peer.pending_connects.contains_key(&0),
        "reconnects after backoff"
    );
}

#[test]
fn worker_bounds_a_trickle() {
    let mut peer = asleep_worker();
    let wire = partial(Command::JobAssign, 1 << 20, 0);
    let mut closed_after = None;
    for (i, byte) in wire.iter().enumerate() {
        peer.send_raw(0, std::slice::from_ref(byte));
        peer.advance(Duration::from_secs(5));
        if !peer.closed.is_empty() {
            closed_after = Some(i + 1);
            break;
        }
    }
    // Bytes at 0, 5 and 10 s: the first check past 10 s (at 15 s) closes it.
    assert_eq!(closed_after, Some(3));
    assert_eq!(
        MIN_FRAME_RATE,
        64 * 1024,
        "the rate the allowances above assume"
    );
}
