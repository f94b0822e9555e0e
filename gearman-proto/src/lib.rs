//! Sans-IO Gearman: the binary and admin protocols, and the client, worker
//! and job-server state machines, driven by bytes, events and an explicit
//! [`std::time::Instant`]. No sockets, clocks, threads or async runtimes.
//!
//! # The run loop
//!
//! [`client::Client`], [`worker::Worker`] and [`server::Server`] are driven
//! the same way (the [`Endpoint`] trait), and this is the only place the
//! loop is described. Each turn:
//!
//! 1. **Feed** what happened: `handle_connected`, `handle_input` and
//!    `handle_disconnected` for the sockets, `handle_timeout(now)` once the
//!    instant from `poll_timeout()` has come (early or twice is harmless),
//!    and the caller's own calls (`submit`, `work_complete`, `shutdown`,
//!    `close`...).
//! 2. **Drain** in this order, and again from the top until nothing comes
//!    out: `poll_transmit()` (write the bytes, in order), `poll_action()`
//!    (open or close a connection), then `poll_event()` (what the caller
//!    should know). [`endpoint::drain_outputs`] does the first two over a
//!    [`endpoint::Transport`], the sockets side an embedder writes once.
//! 3. **Wait** for a socket, a caller's command, or the instant from
//!    `poll_timeout()`, whichever comes first.
//!
//! Another drain order loses nothing either, as long as it repeats until
//! every `poll_*` returns `None`: a [`ConnAction::Close`] never comes out
//! before the bytes queued for its connection, and the events after which a
//! loop may stop ([`worker::WorkerEvent::ShutdownComplete`],
//! [`client::ClientEvent::Closed`], [`server::ServerEvent::Shutdown`]) never
//! before the last bytes and closes.
//!
//! Connection ids ([`ConnId`]) belong to one state machine: a client and a
//! worker in the same loop both number their own connections, so key
//! sockets by machine and id. To carry out [`ConnAction::Close`], write
//! everything already handed out for that connection, then close the
//! socket; nothing more is read from it, and no `handle_disconnected` is
//! expected for it (a late one is ignored).
//!
//! Only calls that can start a timer take `now`. A [`worker::Worker`] asks
//! to connect as it is built, and each connect has a deadline, so
//! `Worker::new` takes the time; a [`client::Client`] connects only when a
//! request needs a server (and that request carries `now`), and a
//! [`server::Server`] times a connection from `accept`, so their
//! constructors do not.
//!
//! The example runs the three roles in one loop over in-memory pipes: a
//! client submits a job, a worker that does one job and then shuts down runs
//! it, and the server in the middle relays.
//!
//! ```
//! use std::time::Instant;
//!
//! use gearman_proto::bytes::Bytes;
//! use gearman_proto::client::{Client, ClientConfig, ClientEvent, JobRequest};
//! use gearman_proto::endpoint::{Transport, drain_outputs};
//! use gearman_proto::server::{Server, ServerConfig};
//! use gearman_proto::worker::{Worker, WorkerConfig, WorkerEvent};
//! use gearman_proto::{ConnId, ConnectError, Endpoint};
//!
//! /// One machine's sockets: what it asked for since the last turn, and
//! /// which server-side connection each of its connections is piped to.
//! #[derive(Default)]
//! struct Pipes {
//!     opening: Vec<ConnId>,
//!     written: Vec<(ConnId, Bytes)>,
//!     closing: Vec<ConnId>,
//!     /// (this machine's id, the server's id) of each open pipe.
//!     open: Vec<(ConnId, ConnId)>,
//! }
//!
//! impl Transport for Pipes {
//!     fn send(&mut self, conn: ConnId, data: Bytes) -> bool {
//!         self.written.push((conn, data));
//!         true
//!     }
//!     fn connect(&mut self, conn: ConnId, _addr: String) -> Result<(), ConnectError> {
//!         self.opening.push(conn);
//!         Ok(())
//!     }
//!     fn close(&mut self, conn: ConnId, _now: Instant) {
//!         self.closing.push(conn);
//!     }
//! }
//!
//! /// Step 3 for one machine, in memory: the pipes it asked for open, its
//! /// bytes reach the server and the server's reach it, then its closes
//! /// take effect (after its bytes, as a socket's would).
//! fn carry(peer: &mut impl Endpoint, pipes: &mut Pipes, server: &mut Server, from_server: &mut Vec<(ConnId, Bytes)>, now: Instant) {
//!     for conn in pipes.opening.drain(..) {
//!         pipes.open.push((conn, server.accept(format!("pipe {conn}"), now)));
//!         peer.handle_connected(conn, now);
//!     }
//!     for (conn, data) in pipes.written.drain(..) {
//!         if let Some(&(_, at_server)) = pipes.open.iter().find(|(c, _)| *c == conn) {
//!             server.handle_input(at_server, &data, now);
//!         }
//!     }
//!     from_server.retain(|(at_server, data)| match pipes.open.iter().find(|(_, s)| s == at_server) {
//!         Some(&(conn, _)) => {
//!             peer.handle_input(conn, data, now);
//!             false
//!         }
//!         None => true,
//!     });
//!     for conn in pipes.closing.drain(..) {
//!         if let Some(at) = pipes.open.iter().position(|(c, _)| *c == conn) {
//!             server.handle_disconnected(pipes.open.remove(at).1, now);
//!         }
//!     }
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let now = Instant::now();
//! let mut server = Server::new(ServerConfig::new("example"));
//! let mut client = Client::new(ClientConfig::new(["hub:4730"]))?;
//! let mut worker = Worker::new(WorkerConfig::new(["hub:4730"]).with_function("reverse"), now)?;
//! client.submit(JobRequest::new("reverse", "hello"), now)?;
//! let (mut client_pipes, mut worker_pipes, mut server_pipes) =
//!     (Pipes::default(), Pipes::default(), Pipes::default());
//! let (mut result, mut worker_done) = (None, false);
//! while result.is_none() || !worker_done {
//!     // 2. Drain: transmits and actions (drain_outputs), then events.
//!     drain_outputs(&mut server, &mut server_pipes, now);
//!     drain_outputs(&mut client, &mut client_pipes, now);
//!     while let Some(event) = client.poll_event() {
//!         if let ClientEvent::Complete { data, .. } = event {
//!             result = Some(data);
//!         }
//!     }
//!     drain_outputs(&mut worker, &mut worker_pipes, now);
//!     while let Some(event) = worker.poll_event() {
//!         match event {
//!             WorkerEvent::JobAssigned(job) => {
//!                 let reversed: Vec<u8> = job.payload.iter().rev().copied().collect();
//!                 worker.work_complete(job.id, &reversed)?;
//!                 // Its result is queued; the close that follows never overtakes it.
//!                 worker.shutdown(now);
//!             }
//!             WorkerEvent::ShutdownComplete => worker_done = true,
//!             _ => {}
//!         }
//!     }
//!     // 3. Wait (here: carry the bytes across), then 1. feed them in.
//!     carry(&mut client, &mut client_pipes, &mut server, &mut server_pipes.written, now);
//!     carry(&mut worker, &mut worker_pipes, &mut server, &mut server_pipes.written, now);
//! }
//! assert_eq!(result.as_deref(), Some(&b"olleh"[..]));
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

/// The `bytes` crate this one is built on, whose [`Bytes`](bytes::Bytes) the
/// API hands out and [`endpoint::Transport::send`] takes.
pub use bytes;

pub mod admin;
pub mod backoff;
pub mod client;
mod decimal;
pub mod driver_error;
pub mod endpoint;
mod fast_map;
#[cfg(feature = "fuzzing")]
pub mod invariants;
pub mod observe;
pub mod packet;
pub mod server;
mod time;
pub mod worker;

pub use endpoint::{ConnAction, ConnId, ConnectError, Endpoint, IntoServerAddr, Transmit};
pub use packet::{
    BuildError, Command, DEFAULT_MAX_LINE_LEN, DEFAULT_MAX_PACKET_SIZE, DecodeError, Decoder,
    Field, Frame, HEADER_LEN, MAX_FIELDS, Magic, Packet, PacketRef, Priority, encode_fields,
    encoded_len_of,
};
pub use time::{DEFAULT_FRAME_TIMEOUT, MIN_FRAME_RATE, deadline_after};
