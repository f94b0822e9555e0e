//! Gearman over Tokio: a [`Client`], a [`Worker`], an [`Admin`] client and
//! an embedded job [`Server`], each a thin adapter around the sans-IO state
//! machines of [`gearman_proto`]. This crate only moves bytes, sleeps until
//! the core's next deadline and turns core events into futures and streams;
//! every protocol decision is made in `gearman_proto`.
//!
//! An embedded job server, a worker and a client in one process (this is
//! `examples/quickstart.rs`):
//!
//! ```
#![doc = include_str!("../examples/quickstart.rs")]
//! ```
//!
//! # Client
//!
//! ```no_run
//! use gearman_tokio::{Client, JobRequest};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // A server is "host:port", a SocketAddr or a (host, port) pair, for the
//!     // client, the worker and the admin connection alike.
//!     let client = Client::new([("127.0.0.1", 4730)])?;
//!     // `into_result` turns a failed job or an exception into a `JobError`;
//!     // match the `JobOutcome` itself to tell them apart.
//!     let result = client.submit(JobRequest::new("reverse", "hello")).await?.into_result()?;
//!     println!("{}", String::from_utf8_lossy(&result));
//!     Ok(())
//! }
//! ```
//!
//! # Worker
//!
//! ```no_run
//! use gearman_tokio::{Worker, WorkerJob};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), gearman_tokio::Error> {
//!     Worker::new(["127.0.0.1:4730"])
//!         .concurrency(4)
//!         .function("shout", |job: WorkerJob| async move {
//!             // `?` works on any error (an `anyhow::Error` too): the job ends
//!             // with WORK_EXCEPTION carrying the error's text and causes, which
//!             // a client that did not ask for exceptions sees as a failure.
//!             let text = std::str::from_utf8(job.payload())?;
//!             Ok(text.to_uppercase())
//!         })
//!         .run() // until Ctrl-C, then finishes running jobs
//!         .await
//! }
//! ```
//!
//! # Shutting down
//!
//! [`Worker::run_until`] and [`Server::serve_until`] take any future as
//! their stop signal: a Ctrl-C future, a oneshot, or a cancellation token.
//!
//! ```no_run
//! use gearman_tokio::{WorkError, Worker, WorkerJob};
//! use tokio_util::sync::CancellationToken;
//!
//! # async fn demo() -> Result<(), gearman_tokio::Error> {
//! let token = CancellationToken::new();
//! let worker = Worker::new(["127.0.0.1:4730"]).function("echo", |job: WorkerJob| async move {
//!     Ok::<_, WorkError>(job.payload().clone())
//! });
//! let running = tokio::spawn(worker.run_until(token.clone().cancelled_owned()));
//! // ... later: stop taking jobs, finish the running ones, return.
//! token.cancel();
//! running.await.expect("worker task")?;
//! # Ok(()) }
//! ```
//!
//! # TLS
//!
//! With the `tls` feature (rustls with its `ring` provider),
//! `transport::TlsConnector` opens `tls://host:port`
//! addresses over TLS and plain ones over TCP, so one server list may mix
//! both; [`Server::with_acceptor`] with a
//! `transport::TlsAcceptor` serves TLS. Any other transport
//! plugs in the same way ([`transport`]).
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
mod shared_tcp;
pub mod transport;
mod worker;

pub use admin::{Admin, DEFAULT_ADMIN_TIMEOUT};
pub use client::{Client, Job, JobError, JobOutcome, JobUpdate};
pub use gearman_proto::IntoServerAddr;
pub use gearman_proto::client::{
    ClientConfig, ClientError, JobHandle, JobRequest, JobStatus, UniqueStatus,
};
pub use gearman_proto::driver_error::Error;
pub use gearman_proto::server::ServerConfig;
pub use gearman_proto::worker::WorkerConfig;
pub use gearman_proto::{Priority, client::RoutingPolicy};
pub use server::{DEFAULT_HANDSHAKE_TIMEOUT, Server};
pub use worker::{WorkError, Worker, WorkerJob, WorkerMonitor};

/// The Tokio runtime the caller is in, or [`Error::NoRuntime`] (where
/// Tokio itself would panic).
pub(crate) fn runtime() -> Result<tokio::runtime::Handle, Error> {
    tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)
}

/// [`runtime`] for the entry points that return `io::Result`: the
/// `io::Error` wraps [`Error::NoRuntime`] (its `get_ref`).
pub(crate) fn runtime_io() -> std::io::Result<tokio::runtime::Handle> {
    runtime().map_err(std::io::Error::other)
}

/// Entropy for a seed left unset (see `ClientConfig::with_seed_or`): the
/// standard hasher's keys, random per process and per instance. The core
/// reads no randomness and the adapters share no crate but the core, so
/// each adapter holds this one line.
pub(crate) fn os_entropy() -> u64 {
    std::hash::BuildHasher::hash_one(&std::collections::hash_map::RandomState::new(), 0u8)
}
