//! The run-loop contract, checked the way an embedder meets it: the outputs
//! of a state machine are drained in every order the crate documentation
//! allows (each kind drained whole or one item at a time, in any sequence,
//! repeated until nothing comes out), bytes written after a connection's
//! close are lost as on a real socket, and the embedder stops at the event
//! that says it may. Nothing may be lost in any of those orders.

use std::collections::HashMap;
use std::io;
use std::time::Instant;

use gearman_proto::bytes::Bytes;
use gearman_proto::bytes::BytesMut;
use gearman_proto::client::{Client, ClientConfig, ClientError, ClientEvent, JobRequest};
use gearman_proto::endpoint::{Transport, drain_outputs};
use gearman_proto::server::{Server, ServerConfig, ServerEvent};
use gearman_proto::worker::{Worker, WorkerConfig, WorkerEvent};
use gearman_proto::{Command, ConnAction, ConnId, ConnectError, Decoder, Endpoint, Packet};

/// A state machine with its event queue, so one drain serves every role.
trait Core: Endpoint {
    type Event: std::fmt::Debug;
    fn next_event(&mut self) -> Option<Self::Event>;
}

impl Core for Worker {
    type Event = WorkerEvent;
    fn next_event(&mut self) -> Option<WorkerEvent> {
        self.poll_event()
    }
}

impl Core for Server {
    type Event = ServerEvent;
    fn next_event(&mut self) -> Option<ServerEvent> {
        self.poll_event()
    }
}

impl Core for Client {
    type Event = ClientEvent;
    fn next_event(&mut self) -> Option<ClientEvent> {
        self.poll_event()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Transmit,
    Action,
    Event,
}

/// One way to drain: the sequence of kinds in a round, and whether each kind
/// is drained until empty or one item per round.
#[derive(Debug, Clone, Copy)]
struct Order {
    kinds: [Kind; 3],
    whole: bool,
}

fn orders() -> Vec<Order> {
    use Kind::*;
    let sequences = [
        [Transmit, Action, Event],
        [Transmit, Event, Action],
        [Action, Transmit, Event],
        [Action, Event, Transmit],
        [Event, Transmit, Action],
        [Event, Action, Transmit],
    ];
    sequences
        .into_iter()
        .flat_map(|kinds| [true, false].map(|whole| Order { kinds, whole }))
        .collect()
}

/// The embedder's side: its sockets, as far as the contract can tell.
struct Embedder<E> {
    order: Order,
    written: HashMap<ConnId, BytesMut>,
    /// Connections asked for, in order.
    connects: Vec<ConnId>,
    closed: Vec<ConnId>,
    /// Bytes handed out for a connection already closed: lost on a real socket.
    lost: usize,
    events: Vec<E>,
    /// The embedder saw the event it stops at and left its loop.
    stopped: bool,
}

impl<E: std::fmt::Debug> Embedder<E> {
    fn new(order: Order) -> Embedder<E> {
        Embedder {
            order,
            written: HashMap::new(),
            connects: Vec::new(),
            closed: Vec::new(),
            lost: 0,
            events: Vec::new(),
            stopped: false,
        }
    }

    /// Drains `core` in this embedder's order until a whole round brings
    /// nothing, or until `stop` says an event ends the loop.
    fn drain<C: Core<Event = E>>(&mut self, core: &mut C, stop: impl Fn(&E) -> bool) {
        while !self.stopped {
            let mut progressed = false;
            for kind in self.order.kinds {
                loop {
                    let got = match kind {
                        Kind::Transmit => core.poll_transmit().map(|t| {
                            if self.closed.contains(&t.conn) {
                                self.lost += t.data.len();
                            } else {
                                self.written
                                    .entry(t.conn)
                                    .or_default()
                                    .extend_from_slice(&t.data);
                            }
                        }),
                        Kind::Action => core.poll_action().map(|action| match action {
                            ConnAction::Connect { conn, .. } => self.connects.push(conn),
                            ConnAction::Close { conn } => self.closed.push(conn),
                            other => panic!("unexpected action {other:?}"),
                        }),
                        Kind::Event => core.next_event().map(|event| {
                            self.stopped |= stop(&event);
                            self.events.push(event);
                        }),
                    };
                    if got.is_none() {
                        break;
                    }
                    progressed = true;
                    if self.stopped {
                        return;
                    }
                    if !self.order.whole {
                        break;
                    }
                }
            }
            if !progressed {
                return;
            }
        }
    }

    fn packets(&mut self, conn: ConnId) -> Vec<Packet> {
        let buf = self.written.entry(conn).or_default();
        let mut decoder = Decoder::new();
        let mut packets = Vec::new();
        while let Some(packet) = decoder.decode_packet(buf).expect("valid packets") {
            packets.push(packet);
        }
        packets
    }
}

fn encoded(command: Command, fields: &[&[u8]]) -> Vec<u8> {
    let mut bytes = Vec::new();
    Packet::build(command, fields)
        .expect("valid packet")
        .encode(&mut bytes);
    bytes
}

/// A worker on two servers finishes its last jobs during a graceful
/// shutdown: the final WORK_COMPLETE of each connection is queued together
/// with that connection's close. The embedder stops at ShutdownComplete.
#[test]
fn worker_hands_out_every_result_before_its_close_and_before_shutdown_complete() {
    for order in orders() {
        let now = Instant::now();
        let config = WorkerConfig::new(["a:4730", "b:4730"])
            .with_function("f")
            .with_concurrency(2);
        let mut worker = Worker::new(config, now).unwrap();
        let mut embedder = Embedder::new(order);
        let is_done = |e: &WorkerEvent| matches!(e, WorkerEvent::ShutdownComplete);
        embedder.drain(&mut worker, is_done);
        let conns = [embedder.connects[0], embedder.connects[1]];
        for conn in conns {
            worker.handle_connected(conn, now);
        }
        embedder.drain(&mut worker, is_done);
        for (conn, handle) in conns.into_iter().zip([b"H:a", b"H:b"]) {
            worker.handle_input(
                conn,
                &encoded(Command::JobAssign, &[handle, b"f", b"x"]),
                now,
            );
        }
        embedder.drain(&mut worker, is_done);
        let jobs: Vec<_> = embedder
            .events
            .iter()
            .filter_map(|e| match e {
                WorkerEvent::JobAssigned(job) => Some(job.id),
                _ => None,
            })
            .collect();
        assert_eq!(jobs.len(), 2, "{order:?}");
        worker.shutdown(now);
        embedder.drain(&mut worker, is_done);
        for id in jobs {
            worker.work_complete(id, b"done").unwrap();
            embedder.drain(&mut worker, is_done);
        }

        assert!(embedder.stopped, "{order:?}: no ShutdownComplete");
        assert_eq!(
            embedder.lost, 0,
            "{order:?}: bytes handed out after their close"
        );
        for (conn, handle) in conns.into_iter().zip([b"H:a", b"H:b"]) {
            let completes: Vec<_> = embedder
                .packets(conn)
                .into_iter()
                .filter(|p| p.command() == Command::WorkCompleteReq)
                .collect();
            assert_eq!(completes.len(), 1, "{order:?}: result on {conn}");
            assert_eq!(
                completes[0]
                    .field_bytes(gearman_proto::Field::Handle)
                    .unwrap(),
                &handle[..]
            );
        }
        let mut closed = embedder.closed.clone();
        closed.sort();
        assert_eq!(closed, conns, "{order:?}: every connection closed");
        assert!(worker.poll_transmit().is_none() && worker.poll_action().is_none());
    }
}

/// An admin `shutdown` is answered OK; the embedder stops at the event, and
/// the OK must already be out. A connection closed for what it sent still
/// gets the replies queued before.
#[test]
fn server_hands_out_replies_before_closes_and_before_shutdown() {
    for order in orders() {
        let now = Instant::now();
        let mut server = Server::new(ServerConfig::new("loop"));
        let mut embedder = Embedder::new(order);
        let is_shutdown = |e: &ServerEvent| matches!(e, ServerEvent::Shutdown { .. });
        let broken = server.accept("10.0.0.1:1", now);
        let mut input = encoded(Command::EchoReq, &[b"hi"]);
        input.extend_from_slice(b"\0RES\0\0\0\xff\0\0\0\0");
        server.handle_input(broken, &input, now);
        let admin = server.accept("10.0.0.2:1", now);
        server.handle_input(admin, b"shutdown\n", now);
        embedder.drain(&mut server, is_shutdown);

        assert!(embedder.stopped, "{order:?}: no Shutdown event");
        assert_eq!(
            embedder.lost, 0,
            "{order:?}: bytes handed out after their close"
        );
        assert_eq!(
            embedder.written.get(&admin).map(|b| &b[..]),
            Some(&b"OK\r\n"[..]),
            "{order:?}"
        );
        let echoes = embedder.packets(broken);
        assert_eq!(echoes.len(), 1, "{order:?}");
        assert_eq!(echoes[0].command(), Command::EchoRes);
        assert_eq!(embedder.closed, [broken], "{order:?}");
    }
}

/// The client drops what it had not handed out when it closes a connection
/// (those requests end with an error), so nothing for a connection comes out
/// after its close.
#[test]
fn client_hands_out_nothing_for_a_connection_after_its_close() {
    for order in orders() {
        let now = Instant::now();
        let mut client = Client::new(ClientConfig::new(["a:4730"]).with_exceptions(false)).unwrap();
        let mut embedder = Embedder::new(order);
        client.submit(JobRequest::new("f", "1"), now).unwrap();
        embedder.drain(&mut client, |_| false);
        let conn = embedder.connects[0];
        client.handle_connected(conn, now);
        embedder.drain(&mut client, |_| false);
        let sent = embedder.packets(conn).len();
        assert_eq!(sent, 1, "{order:?}");
        client.submit(JobRequest::new("f", "2"), now).unwrap();
        client.handle_input(conn, b"garbage, not a packet", now);
        embedder.drain(&mut client, |_| false);

        assert_eq!(embedder.closed, [conn], "{order:?}");
        assert_eq!(
            embedder.lost, 0,
            "{order:?}: bytes handed out after their close"
        );
        assert_eq!(
            embedder.packets(conn).len(),
            0,
            "{order:?}: nothing after the close"
        );
    }
}

/// Background submits made right before a close, before any byte of them
/// was handed out: the embedder stops at `Closed`, and by then every submit
/// was written and acknowledged, and the connection closed after them.
#[test]
fn client_hands_out_every_submit_before_its_close_and_before_closed() {
    for order in orders() {
        let now = Instant::now();
        let config = ClientConfig::new(["a:4730"]).with_exceptions(false);
        let mut client = Client::new(config).unwrap();
        let mut embedder = Embedder::new(order);
        let is_closed = |e: &ClientEvent| matches!(e, ClientEvent::Closed);
        for i in 0..3 {
            let request = JobRequest::new("f", i.to_string()).in_background();
            client.submit(request, now).unwrap();
        }
        client.close(now);
        embedder.drain(&mut client, is_closed);
        let conn = embedder.connects[0];
        client.handle_connected(conn, now);
        embedder.drain(&mut client, is_closed);
        let submits = embedder.packets(conn);
        assert_eq!(submits.len(), 3, "{order:?}");
        assert!(submits.iter().all(|p| p.command() == Command::SubmitJobBg));
        for i in 0..3 {
            assert!(
                !embedder.stopped,
                "{order:?}: closed with {i} of 3 acknowledged"
            );
            assert!(embedder.closed.is_empty(), "{order:?}: closed early");
            let handle = format!("H:{i}");
            client.handle_input(
                conn,
                &encoded(Command::JobCreated, &[handle.as_bytes()]),
                now,
            );
            embedder.drain(&mut client, is_closed);
        }

        assert!(embedder.stopped, "{order:?}: no Closed");
        assert_eq!(
            embedder.lost, 0,
            "{order:?}: bytes handed out after their close"
        );
        assert_eq!(embedder.closed, [conn], "{order:?}");
        let created = embedder
            .events
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    ClientEvent::Created {
                        background: true,
                        ..
                    }
                )
            })
            .count();
        assert_eq!(created, 3, "{order:?}: {:?}", embedder.events);
        assert!(client.poll_transmit().is_none() && client.poll_action().is_none());
    }
}

/// A transport that cannot even start a connect says why, and
/// `drain_outputs` reports it as a failed connect: the client's submit ends
/// at once, with the cause, instead of waiting for a connection that will
/// never come.
#[test]
fn a_connect_the_transport_refuses_is_reported_with_its_cause() {
    struct Refusing(Vec<ConnId>);
    impl Transport for Refusing {
        fn send(&mut self, _: ConnId, _: Bytes) -> bool {
            panic!("nothing is sent on a connection that never opened")
        }
        fn connect(&mut self, conn: ConnId, addr: String) -> Result<(), ConnectError> {
            self.0.push(conn);
            Err(ConnectError::new(addr, io::Error::other("no route")))
        }
        fn close(&mut self, _: ConnId, _: Instant) {}
    }
    let now = Instant::now();
    let mut client = Client::new(ClientConfig::new(["a:4730"])).unwrap();
    let job = client.submit(JobRequest::new("f", "x"), now).unwrap();
    let mut transport = Refusing(Vec::new());
    drain_outputs(&mut client, &mut transport, now);
    assert_eq!(transport.0.len(), 1, "one connect tried");
    assert!(!client.is_active(job));
    let event = client.poll_event();
    let Some(ClientEvent::JobError {
        job: ended,
        error: ClientError::NoServer { cause: Some(cause) },
    }) = event
    else {
        panic!("{event:?}");
    };
    assert_eq!(ended, job);
    assert_eq!(cause.addr(), "a:4730");
}

#[test]
fn a_writer_batches_queued_chunks_up_to_the_limit_and_leaves_the_rest() {
    use gearman_proto::bytes::BytesMut;
    use gearman_proto::endpoint::{WRITE_BATCH, coalesce};

    let chunk = Bytes::from(vec![7u8; WRITE_BATCH / 4]);
    let mut queued: Vec<Bytes> = (0..8).map(|_| chunk.clone()).collect();
    let mut batch = BytesMut::new();
    let written = coalesce(&chunk, || queued.pop(), &mut batch).len();
    assert_eq!(
        written, WRITE_BATCH,
        "the first chunk and three queued ones"
    );
    assert_eq!(queued.len(), 5, "the rest waits for the next write");
}
