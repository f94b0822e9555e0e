//! A client's graceful close against scripted servers: what is in flight
//! ends first, then every connection closes, then `ClientEvent::Closed`.

use std::time::{Duration, Instant};

use bytes::BytesMut;
use gearman_proto::client::{
    Client, ClientConfig, ClientError, ClientEvent, JobHandle, JobRequest, ServerId, UsageError,
};
use gearman_proto::{Command, ConnAction, ConnId, Decoder, Endpoint, Packet, encode_fields};

/// A client whose servers the test plays.
struct Script {
    client: Client,
    now: Instant,
}

impl Script {
    fn new(config: ClientConfig) -> Script {
        // Without the exceptions option, replies map one to one to submits.
        let config = config.with_exceptions(false).with_seed(7);
        Script {
            client: Client::new(config).unwrap(),
            now: Instant::now(),
        }
    }

    /// The next action must be a connect, reported established.
    fn connect(&mut self) -> ConnId {
        match self.client.poll_action() {
            Some(ConnAction::Connect { conn, .. }) => {
                self.client.handle_connected(conn, self.now);
                conn
            }
            other => panic!("expected a connect, got {other:?}"),
        }
    }

    /// The commands written on `conn` since the last look.
    fn sent(&mut self, conn: ConnId) -> Vec<Command> {
        let mut bytes = BytesMut::new();
        while let Some(transmit) = self.client.poll_transmit() {
            assert_eq!(transmit.conn, conn, "bytes for another connection");
            bytes.extend_from_slice(&transmit.data);
        }
        let mut decoder = Decoder::new();
        let mut commands = Vec::new();
        while let Some(packet) = decoder.decode_packet(&mut bytes).unwrap() {
            commands.push(packet.command());
        }
        commands
    }

    fn reply(&mut self, conn: ConnId, command: Command, fields: &[&[u8]]) {
        let mut bytes = Vec::new();
        encode_fields(&mut bytes, command, fields).unwrap();
        self.client.handle_input(conn, &bytes, self.now);
    }

    fn events(&mut self) -> Vec<ClientEvent> {
        std::iter::from_fn(|| self.client.poll_event()).collect()
    }
}

fn closed_at_end(events: &[ClientEvent]) -> bool {
    events.last() == Some(&ClientEvent::Closed)
        && events.iter().filter(|e| **e == ClientEvent::Closed).count() == 1
}

#[test]
fn background_submits_made_right_before_close_are_all_acknowledged_before_closed() {
    let mut script = Script::new(ClientConfig::new(["a:4730"]));
    let jobs: Vec<_> = (0..5)
        .map(|i| {
            let request = JobRequest::new("f", i.to_string()).in_background();
            script.client.submit(request, script.now).unwrap()
        })
        .collect();
    script.client.close(script.now);
    let conn = script.connect();
    assert_eq!(script.sent(conn), [Command::SubmitJobBg; 5]);

    let mut events = Vec::new();
    for (i, job) in jobs.iter().enumerate() {
        events.extend(script.events());
        assert!(
            !events.contains(&ClientEvent::Closed),
            "closed with {i} of 5 queued"
        );
        assert_eq!(script.client.poll_action(), None, "closed early");
        let handle = format!("H:{i}");
        script.reply(conn, Command::JobCreated, &[handle.as_bytes()]);
        assert!(!script.client.is_active(*job));
    }
    assert_eq!(
        script.client.poll_action(),
        Some(ConnAction::Close { conn })
    );
    events.extend(script.events());
    assert_eq!(events.len(), 6, "{events:?}");
    assert!(
        events[..5].iter().all(|e| matches!(
            e,
            ClientEvent::Created {
                background: true,
                ..
            }
        )),
        "{events:?}"
    );
    assert!(closed_at_end(&events), "{events:?}");
    assert_eq!(
        script.client.poll_timeout(),
        None,
        "nothing is due any more"
    );
}

#[test]
fn a_foreground_job_in_flight_gets_its_result_before_closed() {
    let mut script = Script::new(ClientConfig::new(["a:4730"]));
    let job = script
        .client
        .submit(JobRequest::new("f", "x"), script.now)
        .unwrap();
    let conn = script.connect();
    assert_eq!(script.sent(conn), [Command::SubmitJob]);
    script.reply(conn, Command::JobCreated, &[b"H:1"]);
    script.client.close(script.now);
    script.reply(conn, Command::WorkDataRes, &[b"H:1", b"part"]);
    assert_eq!(script.client.poll_action(), None);
    script.reply(conn, Command::WorkCompleteRes, &[b"H:1", b"done"]);

    assert_eq!(
        script.client.poll_action(),
        Some(ConnAction::Close { conn })
    );
    let events = script.events();
    let kinds: Vec<_> = events
        .iter()
        .map(|e| match e {
            ClientEvent::Created { job: j, .. } => format!("created {}", *j == job),
            ClientEvent::Data { data, .. } => format!("data {data:?}"),
            ClientEvent::Complete { data, .. } => format!("complete {data:?}"),
            ClientEvent::Closed => "closed".into(),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "created true",
            "data b\"part\"",
            "complete b\"done\"",
            "closed"
        ]
    );
}

/// The close is held back until its connection's close was handed out,
/// even when events are drained first.
#[test]
fn closed_waits_for_the_close_of_every_connection() {
    let mut script = Script::new(ClientConfig::new(["a:4730", "b:4730"]));
    let first = script.client.echo(ServerId(0), "a", script.now).unwrap();
    let a = script.connect();
    assert_eq!(script.sent(a), [Command::EchoReq]);
    let second = script.client.echo(ServerId(1), "b", script.now).unwrap();
    let b = script.connect();
    assert_eq!(script.sent(b), [Command::EchoReq]);
    script.reply(a, Command::EchoRes, &[b"a"]);
    script.reply(b, Command::EchoRes, &[b"b"]);
    let answered: Vec<_> = script.events().iter().filter_map(|e| e.request()).collect();
    assert_eq!(answered, [first, second]);

    // Nothing in flight: the close is at once, but its event only follows
    // both closes.
    script.client.close(script.now);
    assert_eq!(script.client.poll_event(), None);
    assert_eq!(
        script.client.poll_action(),
        Some(ConnAction::Close { conn: a })
    );
    assert_eq!(script.client.poll_event(), None);
    assert_eq!(
        script.client.poll_action(),
        Some(ConnAction::Close { conn: b })
    );
    assert_eq!(script.client.poll_event(), Some(ClientEvent::Closed));
    assert_eq!(script.client.poll_transmit(), None);
}

#[test]
fn calls_after_close_are_refused_as_closing() {
    let mut script = Script::new(ClientConfig::new(["a:4730"]));
    let now = script.now;
    let running = script
        .client
        .submit(JobRequest::new("f", "x"), now)
        .unwrap();
    script.client.close(now);
    assert!(script.client.is_closing());
    let client = &mut script.client;
    let handle = JobHandle {
        server: ServerId(0),
        handle: "H:1".into(),
    };
    let ping = Packet::build(Command::EchoReq, &[b"x"]).unwrap();
    assert_eq!(
        client.submit(JobRequest::new("f", "late"), now),
        Err(UsageError::Closing)
    );
    assert_eq!(client.get_status(&handle, now), Err(UsageError::Closing));
    assert_eq!(client.get_status_unique("u", now), Err(UsageError::Closing));
    assert_eq!(client.echo(ServerId(0), "x", now), Err(UsageError::Closing));
    assert_eq!(
        client.send_raw(ServerId(0), &ping, now),
        Err(UsageError::Closing)
    );
    // Closing again changes nothing; the job still goes out alone.
    client.close(now);
    assert_eq!(client.active_jobs(), 1);
    let conn = script.connect();
    assert_eq!(script.sent(conn), [Command::SubmitJob]);
    assert!(script.client.is_active(running));
}

#[test]
fn the_close_timeout_ends_what_is_still_in_flight() {
    const LIMIT: Duration = Duration::from_secs(5);
    let config = ClientConfig::new(["a:4730"])
        .with_close_timeout(Some(LIMIT))
        .with_request_timeout(None);
    let mut script = Script::new(config);
    let start = script.now;
    let running = script
        .client
        .submit(JobRequest::new("f", "x"), start)
        .unwrap();
    let conn = script.connect();
    let unacknowledged = script
        .client
        .submit(JobRequest::new("f", "y").in_background(), start)
        .unwrap();
    let echo = script.client.echo(ServerId(0), "e", start).unwrap();
    assert_eq!(
        script.sent(conn),
        [Command::SubmitJob, Command::SubmitJobBg, Command::EchoReq]
    );
    script.reply(conn, Command::JobCreated, &[b"H:1"]);
    assert!(matches!(script.events()[..], [ClientEvent::Created { .. }]));
    assert_eq!(script.client.poll_timeout(), None, "nothing is due yet");

    script.client.close(start);
    assert_eq!(script.client.poll_timeout(), Some(start + LIMIT));
    script.now = start + LIMIT - Duration::from_millis(1);
    script.client.handle_timeout(script.now);
    assert!(script.events().is_empty(), "ended before the deadline");

    script.now = start + LIMIT;
    script.client.handle_timeout(script.now);
    assert_eq!(
        script.client.poll_action(),
        Some(ConnAction::Close { conn })
    );
    let events = script.events();
    let closed = |acknowledged| ClientError::Closed { acknowledged };
    assert_eq!(
        events,
        [
            ClientEvent::JobError {
                job: unacknowledged,
                error: closed(false),
            },
            ClientEvent::RequestError {
                request: echo,
                error: closed(false),
            },
            ClientEvent::JobError {
                job: running,
                error: closed(true),
            },
            ClientEvent::Closed,
        ]
    );
    assert!(closed(true).acknowledged());
    assert_eq!(script.client.poll_timeout(), None);
    // What the server still sends is ignored.
    script.reply(conn, Command::WorkCompleteRes, &[b"H:1", b"late"]);
    assert!(script.events().is_empty());
    assert_eq!(script.client.poll_action(), None);
}

#[test]
fn nothing_reconnects_while_closing() {
    let config = ClientConfig::new(["a:4730", "b:4730"]);
    let mut script = Script::new(config);
    let now = script.now;
    let job = script
        .client
        .submit(JobRequest::new("f", "x"), now)
        .unwrap();
    let a = script.connect();
    assert_eq!(script.sent(a), [Command::SubmitJob]);
    script.reply(a, Command::JobCreated, &[b"H:1"]);
    let on_b = script.client.echo(ServerId(1), "b", now).unwrap();
    let b = script.connect();
    assert_eq!(script.sent(b), [Command::EchoReq]);
    // b drops; its echo ends, and its reconnect would be due after a backoff.
    script.client.handle_disconnected(b, now);
    let ended: Vec<_> = script.events().iter().filter_map(|e| e.request()).collect();
    assert_eq!(ended, [on_b]);
    let reconnect_at = script.client.poll_timeout().expect("a reconnect is due");

    script.client.close(now);
    assert_eq!(script.client.poll_timeout(), None, "no reconnect is due");
    script.now = reconnect_at + Duration::from_secs(60);
    script.client.handle_timeout(script.now);
    assert_eq!(
        script.client.poll_action(),
        None,
        "reconnected while closing"
    );

    script.reply(a, Command::WorkCompleteRes, &[b"H:1", b"done"]);
    assert_eq!(
        script.client.poll_action(),
        Some(ConnAction::Close { conn: a })
    );
    let events = script.events();
    assert!(
        matches!(&events[..], [ClientEvent::Complete { job: j, .. }, ClientEvent::Closed] if *j == job),
        "{events:?}"
    );
}

/// A job forgotten before its connection opened is still on the wire: the
/// close waits for its JOB_CREATED instead of cutting it off.
#[test]
fn a_forgotten_submit_still_goes_out_before_the_close() {
    let mut script = Script::new(ClientConfig::new(["a:4730"]));
    let job = script
        .client
        .submit(JobRequest::new("f", "x").in_background(), script.now)
        .unwrap();
    assert!(script.client.forget(job));
    script.client.close(script.now);
    assert_eq!(script.client.poll_event(), None);
    let conn = script.connect();
    assert_eq!(script.sent(conn), [Command::SubmitJobBg]);
    assert_eq!(script.client.poll_action(), None);
    script.reply(conn, Command::JobCreated, &[b"H:1"]);
    assert_eq!(
        script.client.poll_action(),
        Some(ConnAction::Close { conn })
    );
    assert_eq!(script.events(), [ClientEvent::Closed]);
}
