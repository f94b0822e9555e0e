//! Gearman on plain threads: a [`Client`], a [`Worker`], an [`Admin`] client
//! and an embedded job [`Server`] over `std::net`, each a thin adapter
//! around the sans-IO state machines of [`gearman_proto`]. No async runtime:
//! each client, worker and server keeps its state machine behind a mutex,
//! and whichever thread has something for it drives it there: a socket's
//! reader thread with the bytes it read, a user's thread with its request,
//! a worker's handler thread with its result. A timer thread per machine
//! handles deadlines, and a socket's writer thread takes over output only
//! while the peer is slow to read. Every protocol decision is made in
//! `gearman_proto`.
//!
//! An embedded job server, a worker and a client in one process:
//!
//! ```
//! use gearman_blocking::{Client, JobOutcome, JobRequest, Server, WorkError, Worker, WorkerJob};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The job server, on a port the system picks, on threads of its own.
//! let server = Server::bind("127.0.0.1:0")?.spawn()?;
//! let addr = server.local_addr().to_string();
//!
//! // A worker for `reverse`, on a thread of its own.
//! let worker = Worker::new([addr.clone()])
//!     .function("reverse", |job: &WorkerJob| {
//!         let reversed: Vec<u8> = job.payload().iter().rev().copied().collect();
//!         Ok::<_, WorkError>(reversed)
//!     })
//!     .spawn()?;
//!
//! // A client: submit a job and wait for its outcome.
//! let client = Client::new([addr])?;
//! let outcome = client.submit(JobRequest::new("reverse", "hello")).wait()?;
//! assert_eq!(outcome, JobOutcome::Complete("olleh".into()));
//!
//! // The worker finishes the jobs it runs, then the server stops.
//! worker.shutdown();
//! worker.join()?;
//! server.stop()?;
//! # Ok(())
//! # }
//! ```
//!
//! # Client
//!
//! ```no_run
//! use gearman_blocking::{Client, JobOutcome, JobRequest};
//!
//! fn main() -> Result<(), gearman_blocking::Error> {
//!     let client = Client::new(["127.0.0.1:4730"])?;
//!     // Many jobs can be in flight from one thread: submit, then wait.
//!     let jobs: Vec<_> = ["one", "two", "three"]
//!         .into_iter()
//!         .map(|word| client.submit(JobRequest::new("reverse", word)))
//!         .collect();
//!     for job in jobs {
//!         match job.wait()? {
//!             JobOutcome::Complete(result) => println!("{}", String::from_utf8_lossy(&result)),
//!             other => println!("job did not complete: {other:?}"),
//!         }
//!     }
//!     Ok(())
//! }
//! ```
//!
//! # Worker
//!
//! ```no_run
//! use gearman_blocking::{WorkError, Worker, WorkerJob};
//!
//! fn main() -> Result<(), gearman_blocking::Error> {
//!     Worker::new(["127.0.0.1:4730"])
//!         .concurrency(4)
//!         .function("reverse", |job: &WorkerJob| {
//!             let reversed: Vec<u8> = job.payload().iter().rev().copied().collect();
//!             Ok::<_, WorkError>(reversed)
//!         })
//!         .run() // until a ShutdownHandle asks it to stop
//! }
//! ```
//!
//! # Cost per connection, and running out of descriptors
//!
//! Each open connection costs one file descriptor (its socket, shared by
//! its threads) and two threads: a reader, which also drives the state
//! machine with what it reads, and a writer for output the peer is slow to
//! take. A client, worker or server also has one timer thread, and a
//! server one accept thread and one spare descriptor. So under the common
//! limit of 1,024 descriptors a server serves about 1,000 connections
//! (`ulimit -n` raises it). When descriptors run out the server spends its
//! spare one to accept each new connection and close it at once (its peer
//! sees the connection closed rather than waiting), and serves new
//! connections again as soon as others close.
//!
//! # Peers that do not read
//!
//! Output a peer has not taken is bounded per connection, and a peer that
//! takes none of it for a while is dropped; a server also bounds the total
//! over its connections: see [`gearman_proto::endpoint`] and the
//! `max_pending_output`, `write_stall_timeout` and (server)
//! `max_total_pending_output` settings of each configuration.
//!
//! # TLS
//!
//! With the `tls` feature (rustls with its `ring` provider),
//! `transport::TlsConnector` opens `tls://host:port`
//! addresses over TLS and plain ones over TCP, so one server list may mix
//! both; [`Server::with_acceptor`] with a
//! `transport::TlsAcceptor` serves TLS. The handshake runs
//! on the connect thread within the connect timeout (on the server, on the
//! connection's own thread within the handshake timeout). Any other
//! transport plugs in the same way ([`transport`]).
//!
//! # Logging
//!
//! Connects, reconnects and errors are reported through `tracing`; the
//! library never prints.
#![forbid(unsafe_code)]

pub use gearman_proto as proto;

mod admin;
mod client;
mod driver;
mod server;
#[cfg(feature = "tls")]
mod tls;
pub mod transport;
mod worker;

pub use admin::{Admin, DEFAULT_ADMIN_TIMEOUT};
pub use client::{Client, Job};
pub use gearman_proto::IntoServerAddr;
pub use gearman_proto::client::{
    ClientConfig, ClientError, JobHandle, JobRequest, JobStatus, UniqueStatus,
};
pub use gearman_proto::client::{JobError, JobOutcome, JobUpdate};
pub use gearman_proto::driver_error::Error;
pub use gearman_proto::{Priority, client::RoutingPolicy};
pub use server::{DEFAULT_HANDSHAKE_TIMEOUT, RunningServer, Server, StopHandle};
pub use worker::{RunningWorker, ShutdownHandle, WorkError, Worker, WorkerJob};

/// Entropy for a seed left unset (see `ClientConfig::with_seed_or`): the
/// standard hasher's keys, random per process and per instance. The core
/// reads no randomness and the adapters share no crate but the core, so
/// each adapter holds this one line.
pub(crate) fn os_entropy() -> u64 {
    std::hash::BuildHasher::hash_one(&std::collections::hash_map::RandomState::new(), 0u8)
}
