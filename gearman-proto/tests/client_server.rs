//! The client against the embedded job server state machine, with a worker
//! speaking raw packets: checks the client's assumptions about what a
//! gearmand-like server sends, such as one copy of each update per
//! coalesced submit on the same connection.

use std::collections::HashMap;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use gearman_proto::client::{Client, ClientConfig, ClientEvent, JobId, JobRequest};
use gearman_proto::server::{Server, ServerConfig};
use gearman_proto::{Command, ConnAction, ConnId, Decoder, Endpoint, Packet, encode_fields};

/// One client, one server, one raw worker connection, wired in memory.
struct Wiring {
    client: Client,
    server: Server,
    worker: ConnId,
    /// Client connection id → server connection id, and back.
    to_server: HashMap<ConnId, ConnId>,
    to_client: HashMap<ConnId, ConnId>,
    worker_inbox: BytesMut,
    now: Instant,
    events: Vec<ClientEvent>,
}

impl Wiring {
    fn new() -> Wiring {
        let now = Instant::now();
        let mut server = Server::new(ServerConfig::new("sim"));
        let worker = server.accept("10.0.0.2:1", now);
        Wiring {
            client: Client::new(ClientConfig::new(["sim:4730"]).with_seed(3)).unwrap(),
            server,
            worker,
            to_server: HashMap::new(),
            to_client: HashMap::new(),
            worker_inbox: BytesMut::new(),
            now,
            events: Vec::new(),
        }
    }

    /// Moves bytes until nothing moves.
    fn settle(&mut self) {
        loop {
            let mut moved = false;
            while let Some(action) = self.client.poll_action() {
                if let ConnAction::Connect { conn, .. } = action {
                    let peer = self.server.accept("10.0.0.1:1", self.now);
                    self.to_server.insert(conn, peer);
                    self.to_client.insert(peer, conn);
                    self.client.handle_connected(conn, self.now);
                    moved = true;
                }
            }
            while let Some(t) = self.client.poll_transmit() {
                let peer = self.to_server[&t.conn];
                self.server.handle_input(peer, &t.data, self.now);
                moved = true;
            }
            while let Some(t) = self.server.poll_transmit() {
                if t.conn == self.worker {
                    self.worker_inbox.extend_from_slice(&t.data);
                } else {
                    let conn = self.to_client[&t.conn];
                    self.client.handle_input(conn, &t.data, self.now);
                }
                moved = true;
            }
            self.events
                .extend(std::iter::from_fn(|| self.client.poll_event()));
            if !moved {
                return;
            }
        }
    }

    fn worker_sends(&mut self, command: Command, fields: &[&[u8]]) {
        let mut out = Vec::new();
        encode_fields(&mut out, command, fields).unwrap();
        self.server.handle_input(self.worker, &out, self.now);
        self.settle();
    }

    fn worker_received(&mut self) -> Vec<Packet> {
        let mut decoder = Decoder::new();
        std::iter::from_fn(|| decoder.decode_packet(&mut self.worker_inbox).unwrap()).collect()
    }
}

#[test]
fn coalesced_submits_on_one_connection_each_get_each_update_once() {
    let mut w = Wiring::new();
    w.worker_sends(Command::CanDo, &[b"reverse"]);
    let jobs: Vec<JobId> = (0..3)
        .map(|_| {
            w.client
                .submit(JobRequest::new("reverse", "abc").with_unique("same"), w.now)
                .unwrap()
        })
        .collect();
    w.settle();
    let handles: Vec<_> = w
        .events
        .drain(..)
        .map(|e| match e {
            ClientEvent::Created { handle, .. } => handle.handle,
            other => panic!("expected Created, got {other:?}"),
        })
        .collect();
    assert_eq!(handles.len(), 3);
    assert!(
        handles.iter().all(|h| *h == handles[0]),
        "one job, one handle"
    );
    w.worker_sends(Command::GrabJob, &[]);
    let assigned = w.worker_received();
    assert_eq!(assigned.len(), 1);
    assert_eq!(assigned[0].command(), Command::JobAssign);
    let handle = assigned[0].handle().unwrap().to_vec();
    w.worker_sends(Command::WorkDataReq, &[&handle, b"c"]);
    w.worker_sends(Command::WorkStatusReq, &[&handle, b"1", b"2"]);
    w.worker_sends(Command::WorkCompleteReq, &[&handle, b"cba"]);
    for job in &jobs {
        let mine: Vec<_> = w.events.iter().filter(|e| e.job() == Some(*job)).collect();
        assert_eq!(
            mine,
            [
                &ClientEvent::Data {
                    job: *job,
                    data: Bytes::from_static(b"c")
                },
                &ClientEvent::Status {
                    job: *job,
                    numerator: 1,
                    denominator: 2
                },
                &ClientEvent::Complete {
                    job: *job,
                    data: Bytes::from_static(b"cba")
                },
            ],
            "events of {job}"
        );
    }
    assert_eq!(w.events.len(), 9);
    assert_eq!(w.client.active_jobs(), 0);
    assert_eq!(w.server.job_count(), 0);
}

#[test]
fn exceptions_reach_the_client_only_when_the_option_is_on() {
    for exceptions in [true, false] {
        let mut w = Wiring::new();
        w.client = Client::new(
            ClientConfig::new(["sim:4730"])
                .with_seed(3)
                .with_exceptions(exceptions),
        )
        .unwrap();
        w.worker_sends(Command::CanDo, &[b"f"]);
        let job = w.client.submit(JobRequest::new("f", "x"), w.now).unwrap();
        w.settle();
        w.worker_sends(Command::GrabJob, &[]);
        let handle = w.worker_received()[0].handle().unwrap().to_vec();
        w.worker_sends(Command::WorkExceptionReq, &[&handle, b"boom"]);
        let last = w.events.last().cloned();
        let expected = if exceptions {
            ClientEvent::Exception {
                job,
                data: Bytes::from_static(b"boom"),
            }
        } else {
            ClientEvent::Failed { job }
        };
        assert_eq!(last, Some(expected), "exceptions: {exceptions}");
        assert_eq!(w.client.active_jobs(), 0);
    }
}

#[test]
fn status_and_unique_status_of_a_running_job() {
    let mut w = Wiring::new();
    w.worker_sends(Command::CanDo, &[b"f"]);
    w.client
        .submit(JobRequest::new("f", "x").with_unique("u-1"), w.now)
        .unwrap();
    w.settle();
    let Some(ClientEvent::Created { handle, .. }) = w.events.pop() else {
        panic!("expected Created");
    };
    w.worker_sends(Command::GrabJob, &[]);
    w.worker_received();
    w.worker_sends(Command::WorkStatusReq, &[&handle.handle, b"3", b"7"]);
    w.events.clear();
    w.client.get_status(&handle, w.now).unwrap();
    w.client.get_status_unique("u-1", w.now).unwrap();
    w.settle();
    match &w.events[..] {
        [
            ClientEvent::StatusResult { status, .. },
            ClientEvent::StatusUniqueResult {
                status: by_unique, ..
            },
        ] => {
            assert!(status.known && status.running);
            assert_eq!((status.numerator, status.denominator), (3, 7));
            assert_eq!(status.handle, handle);
            assert!(by_unique.known && by_unique.running);
            assert_eq!(by_unique.waiting_clients, 1);
        }
        other => panic!("unexpected events {other:?}"),
    }
}
