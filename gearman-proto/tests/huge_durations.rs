//! Every timeout the API takes accepts `Duration::MAX`: nothing panics, and
//! a deadline too far for the clock never comes.

mod sim;

use std::time::{Duration, Instant};

use gearman_proto::backoff::{Backoff, BackoffConfig};
use gearman_proto::client::{Client, ClientConfig, ClientEvent, JobRequest};
use gearman_proto::server::ServerConfig;
use gearman_proto::worker::{Worker, WorkerConfig};
use gearman_proto::{Command, ConnAction, Endpoint, encode_fields};
use sim::wire::{Harness, pkt};

const MAX: Duration = Duration::MAX;
const DECADE: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

#[test]
fn client_timeouts_of_duration_max_never_fire() {
    let config = ClientConfig::new(["a:4730"])
        .with_connect_timeout(MAX)
        .with_request_timeout(Some(MAX))
        .with_backoff(MAX, MAX)
        .with_frame_timeout(Some(MAX))
        // Without the exceptions option, JOB_CREATED is the first reply.
        .with_exceptions(false);
    let mut client = Client::new(config).unwrap();
    let mut now = Instant::now();
    let job = client
        .submit(JobRequest::new("f", "x").with_deadline(MAX), now)
        .unwrap();
    let Some(ConnAction::Connect { conn, .. }) = client.poll_action() else {
        panic!("a connect");
    };
    // Never connected, never timed out.
    now += DECADE;
    client.handle_timeout(now);
    assert_eq!(client.poll_action(), None);
    assert!(client.is_active(job));
    client.handle_connected(conn, now);
    while client.poll_transmit().is_some() {}
    let mut created = Vec::new();
    encode_fields(&mut created, Command::JobCreated, &[b"H:a:1"]).unwrap();
    created.extend_from_slice(b"\0RES\0\0\0\x0d\0\0\x10\0");
    client.handle_input(conn, &created, now);
    assert!(matches!(
        client.poll_event(),
        Some(ClientEvent::Created { .. })
    ));
    now += DECADE;
    client.handle_timeout(now);
    assert_eq!(
        client.poll_action(),
        None,
        "half a packet, no frame timeout"
    );
    assert!(client.is_active(job), "no job deadline");
    // A drop backs off for ever.
    client.handle_disconnected(conn, now);
    now += DECADE;
    client.handle_timeout(now);
    assert_eq!(client.poll_action(), None, "no reconnect");
    assert!(client.poll_timeout().is_none_or(|at| at > now));
}

#[test]
fn a_client_close_timeout_of_duration_max_never_fires() {
    let config = ClientConfig::new(["a:4730"])
        .with_close_timeout(Some(MAX))
        .with_request_timeout(None)
        .with_exceptions(false);
    let mut client = Client::new(config).unwrap();
    let mut now = Instant::now();
    let job = client.submit(JobRequest::new("f", "x"), now).unwrap();
    client.close(now);
    let Some(ConnAction::Connect { conn, .. }) = client.poll_action() else {
        panic!("a connect");
    };
    client.handle_connected(conn, now);
    now += DECADE;
    client.handle_timeout(now);
    assert!(client.is_active(job), "the job still runs");
    assert_eq!(client.poll_action(), None, "no close");
    assert_eq!(client.poll_event(), None);
    assert!(client.poll_timeout().is_none_or(|at| at > now));
}

#[test]
fn worker_timeouts_of_duration_max_never_fire() {
    let config = WorkerConfig::new(["a:4730"])
        .with_function_timeout("f", MAX)
        .with_connect_timeout(MAX)
        .with_grab_reply_timeout(Some(MAX))
        .with_backoff(MAX, MAX)
        .with_shutdown_timeout(Some(MAX))
        .with_frame_timeout(Some(MAX));
    let mut now = Instant::now();
    let mut worker = Worker::new(config, now).unwrap();
    let Some(ConnAction::Connect { conn, .. }) = worker.poll_action() else {
        panic!("a connect");
    };
    now += DECADE;
    worker.handle_timeout(now);
    assert_eq!(worker.poll_action(), None, "connect never times out");
    worker.handle_connected(conn, now);
    while worker.poll_transmit().is_some() {}
    worker.handle_input(conn, b"\0RES\0\0\0\x0b\0\0\x10\0", now);
    now += DECADE;
    worker.handle_timeout(now);
    assert_eq!(worker.poll_action(), None, "no grab or frame timeout");
    worker.shutdown(now);
    worker.handle_disconnected(conn, now);
    now += DECADE;
    worker.handle_timeout(now);
    assert_eq!(worker.poll_action(), None, "no reconnect while backing off");
}

#[test]
fn backoff_of_duration_max_stays_within_its_bounds() {
    let mut backoff = Backoff::new(BackoffConfig { min: MAX, max: MAX }, 3);
    for _ in 0..40 {
        let delay = backoff.next_delay();
        assert!(delay >= MAX / 2, "{delay:?}");
    }
}

#[test]
fn server_timeouts_past_the_clock_never_fire() {
    let mut config = ServerConfig::new("test");
    config.frame_timeout = Some(MAX);
    let mut h = Harness::with(config);
    h.server
        .set_wall_clock(Duration::from_secs(1_000_000), h.now);
    let client = h.connect();
    let worker = h.worker(&[]);
    h.req(
        worker,
        Command::CanDoTimeout,
        &[b"f", i64::MAX.to_string().as_bytes()],
    );
    h.req(client, Command::SubmitJob, &[b"f", b"", b"run"]);
    h.recv(client);
    assert_eq!(
        h.grab(worker),
        pkt(Command::JobAssign, &[b"H:test:1", b"f", b"run"])
    );
    // An epoch the clock cannot reach is never due.
    h.req(
        client,
        Command::SubmitJobEpoch,
        &[b"f", b"", i64::MAX.to_string().as_bytes(), b"later"],
    );
    assert_eq!(h.recv(client), pkt(Command::JobCreated, &[b"H:test:2"]));
    h.send(client, b"\0REQ\0\0\0\x10\0\0\x10\0");
    h.advance(DECADE);
    assert!(h.closed.is_empty(), "no frame timeout");
    assert_eq!(
        h.grab(worker),
        pkt(Command::NoJob, &[]),
        "the epoch job waits"
    );
    h.req(worker, Command::WorkCompleteReq, &[b"H:test:1", b"done"]);
    assert!(
        h.recv(worker).is_empty(),
        "the first job was never taken back"
    );
}
