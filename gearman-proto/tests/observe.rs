//! What a client and a worker show of each server's connection and load.

use std::time::{Duration, Instant};

use gearman_proto::client::{Client, ClientConfig, JobRequest};
use gearman_proto::observe::ConnectionState;
use gearman_proto::worker::{Worker, WorkerConfig};
use gearman_proto::{Command, ConnAction, ConnId, Endpoint, encode_fields};

fn connect_asked(actions: impl Iterator<Item = ConnAction>) -> Vec<ConnId> {
    actions
        .filter_map(|action| match action {
            ConnAction::Connect { conn, .. } => Some(conn),
            _ => None,
        })
        .collect()
}

fn packet(command: Command, fields: &[&[u8]]) -> Vec<u8> {
    let mut bytes = Vec::new();
    encode_fields(&mut bytes, command, fields).unwrap();
    bytes
}

#[test]
fn client_servers_follow_connect_submit_and_drop() {
    let now = Instant::now();
    let config = ClientConfig::new(["a:4730", "b:4730"])
        .with_seed(1)
        .with_exceptions(false)
        .with_backoff(Duration::from_secs(1), Duration::from_secs(1));
    let mut client = Client::new(config).unwrap();
    let states = |client: &Client| client.servers().map(|s| s.state).collect::<Vec<_>>();
    assert_eq!(
        states(&client),
        [ConnectionState::Idle, ConnectionState::Idle]
    );

    client.submit(JobRequest::new("f", "x"), now).unwrap();
    let conns = connect_asked(std::iter::from_fn(|| client.poll_action()));
    let [conn] = conns[..] else {
        panic!("{conns:?}")
    };
    let first = client.servers().next().unwrap();
    assert_eq!(first.addr, "a:4730");
    assert_eq!(first.state, ConnectionState::Connecting);
    assert_eq!(first.jobs_in_flight, 1);

    client.handle_connected(conn, now);
    while client.poll_transmit().is_some() {}
    let first = client.servers().next().unwrap();
    assert_eq!(first.state, ConnectionState::Connected);
    assert_eq!(first.requests_pending, 1, "the submit awaits JOB_CREATED");
    client.handle_input(conn, &packet(Command::JobCreated, &[b"H:1"]), now);
    let first = client.servers().next().unwrap();
    assert_eq!((first.jobs_in_flight, first.requests_pending), (1, 0));

    client.handle_disconnected(conn, now);
    let first = client.servers().next().unwrap();
    assert!(
        matches!(first.state, ConnectionState::BackingOff { until } if until > now),
        "{first:?}"
    );
    assert_eq!(first.jobs_in_flight, 0, "the job ended with its connection");
    assert_eq!(
        client.servers().nth(1).unwrap().state,
        ConnectionState::Idle
    );
}

#[test]
fn worker_servers_follow_connect_assignment_and_drop() {
    let now = Instant::now();
    let config = WorkerConfig::new(["a:4730"])
        .with_function("f")
        .with_backoff(Duration::from_secs(1), Duration::from_secs(1));
    let mut worker = Worker::new(config, now).unwrap();
    let conns = connect_asked(std::iter::from_fn(|| worker.poll_action()));
    let [conn] = conns[..] else {
        panic!("{conns:?}")
    };
    assert_eq!(
        worker.servers().next().unwrap().state,
        ConnectionState::Connecting
    );

    worker.handle_connected(conn, now);
    while worker.poll_transmit().is_some() {}
    worker.handle_input(conn, &packet(Command::Noop, &[]), now);
    let server = worker.servers().next().unwrap();
    assert_eq!(server.state, ConnectionState::Connected);
    assert_eq!(server.requests_pending, 1, "a grab awaits its reply");

    let assign = packet(Command::JobAssignUniq, &[b"H:1", b"f", b"u", b"x"]);
    worker.handle_input(conn, &assign, now);
    let server = worker.servers().next().unwrap();
    assert_eq!((server.jobs_in_flight, server.requests_pending), (1, 0));

    worker.handle_disconnected(conn, now);
    let server = worker.servers().next().unwrap();
    assert!(
        matches!(server.state, ConnectionState::BackingOff { until } if until > now),
        "{server:?}"
    );
    assert_eq!(server.jobs_in_flight, 0);
}
