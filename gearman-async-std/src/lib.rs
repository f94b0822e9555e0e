//! Gearman on `futures-io` and `async-io`: a [`Client`], a [`Worker`], an
//! [`Admin`] client and an embedded job [`Server`], each a thin adapter
//! around the sans-IO state machines of [`gearman_proto`]. This crate only
//! moves bytes, sleeps until the core's next deadline and turns core events
//! into futures and streams; every protocol decision is made in
//! `gearman_proto`.
//!
//! An embedded job server, a worker and a client in one process, driven
//! together by one `block_on` with no executor at all:
//!
//! ```
//! use futures_lite::future;
//! use gearman_async_std::{Client, JobOutcome, JobRequest, Server, WorkError, Worker, WorkerJob};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! future::block_on(async {
//!     let server = Server::bind("127.0.0.1:0").await?;
//!     let addr = server.local_addr()?.to_string();
//!     let worker = Worker::new([addr.clone()]).function("reverse", |job: WorkerJob| async move {
//!         Ok::<_, WorkError>(job.payload().iter().rev().copied().collect::<Vec<u8>>())
//!     });
//!     let (client, driver) = Client::new([addr])?;
//!     let (stop, stopped) = futures_channel::oneshot::channel::<()>();
//!     let work = async move {
//!         let outcome = client.submit(JobRequest::new("reverse", "hello")).await;
//!         let _ = stop.send(());
//!         outcome
//!     };
//!     // The first to finish wins: only `work` does; the others run meanwhile.
//!     let background = async {
//!         let worker = worker.run_until(async {
//!             let _ = stopped.await;
//!         });
//!         let _ = future::zip(future::zip(server.serve(), driver), worker).await;
//!         unreachable!("the server serves until shut down")
//!     };
//!     let outcome = future::or(work, background).await?;
//!     assert_eq!(outcome, JobOutcome::Complete("olleh".into()));
//!     Ok(())
//! })
//! # }
//! ```
//!
//! # Runs under async-std and smol alike
//!
//! Sockets are async-io's `Async<TcpStream>` and timers its `Timer`, which
//! async-std and smol both run on. The crate never spawns a task, so it is
//! tied to no executor:
//!
//! - [`Client::new`] returns the client and a [`ClientDriver`] future that
//!   does all of its I/O. Spawn that future on your executor once
//!   (`async_std::task::spawn(driver)` or `smol::spawn(driver).detach()`), or
//!   run it in the same task as the code that submits (see
//!   [Latency](#latency)); it ends by itself when the last client and job
//!   handle are dropped.
//! - [`Worker::run_until`] and [`Server::serve`] are single futures that do
//!   all of their I/O and, for the worker, run the handlers too. Await them
//!   (or spawn them) like any future.
//!
//! # Latency
//!
//! A spawned [`ClientDriver`] is a task of its own: on a multi-threaded
//! executor an outcome goes from the driver's task to the task awaiting it,
//! and a hand-off between tasks may wake a parked thread. (A request made
//! while nothing else is in flight is written from the caller's task at
//! once; with requests in flight it is queued for the driver, which writes
//! it together with the others.) When the time of one job matters more than
//! spreading the load over cores (few jobs in flight, a request/response
//! service), run the driver in the same task as the code that submits and
//! awaits, with [`ClientDriver::run_with`] (or any join, such as
//! `futures_lite::future::zip`): requests are written and outcomes read
//! without leaving that task. A
//! worker gets the same from awaiting [`Worker::run_until`] in its own
//! `block_on`, as in the first example. The [`Client`] documentation shows
//! the joined form.
//!
//! # Client
//!
//! ```no_run
//! use gearman_async_std::{Client, JobOutcome, JobRequest};
//!
//! #[async_std::main]
//! async fn main() -> Result<(), gearman_async_std::Error> {
//!     let (client, driver) = Client::new(["127.0.0.1:4730"])?;
//!     async_std::task::spawn(driver);
//!     match client.submit(JobRequest::new("reverse", "hello")).await? {
//!         JobOutcome::Complete(result) => println!("{}", String::from_utf8_lossy(&result)),
//!         other => println!("job did not complete: {other:?}"),
//!     }
//!     Ok(())
//! }
//! ```
//!
//! # Worker
//!
//! ```no_run
//! use gearman_async_std::{WorkError, Worker, WorkerJob};
//!
//! fn main() -> Result<(), gearman_async_std::Error> {
//!     smol::block_on(
//!         Worker::new(["127.0.0.1:4730"])
//!             .concurrency(4)
//!             .function("reverse", |job: WorkerJob| async move {
//!                 let reversed: Vec<u8> = job.payload().iter().rev().copied().collect();
//!                 Ok::<_, WorkError>(reversed)
//!             })
//!             .run(), // until Ctrl-C, then finishes running jobs
//!     )
//! }
//! ```
//!
//! # TLS
//!
//! With the `tls` feature (rustls with its `ring` provider),
//! `transport::TlsConnector` opens `tls://host:port`
//! addresses over TLS and plain ones over TCP, so one server list may mix
//! both ([`Client::with_connector`], [`Worker::connector`],
//! [`Admin::connect_with`]); [`Server::with_acceptor`] with a
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
#[cfg(test)]
mod counting_waker;
mod driver;
mod run_with;
mod server;
mod signal;
pub mod transport;
mod worker;

pub use admin::{Admin, DEFAULT_ADMIN_TIMEOUT};
pub use client::{Client, ClientDriver, Job};
pub use gearman_proto::IntoServerAddr;
pub use gearman_proto::client::{
    ClientConfig, ClientError, JobHandle, JobRequest, JobStatus, UniqueStatus,
};
pub use gearman_proto::client::{JobError, JobOutcome, JobUpdate};
pub use gearman_proto::driver_error::Error;
pub use gearman_proto::server::ServerConfig;
pub use gearman_proto::worker::WorkerConfig;
pub use gearman_proto::{Priority, client::RoutingPolicy};
pub use server::{DEFAULT_HANDSHAKE_TIMEOUT, Server};
pub use signal::ctrl_c;
pub use worker::{WorkError, Worker, WorkerJob, WorkerMonitor};

/// Entropy for a seed left unset (see `ClientConfig::with_seed_or`): the
/// standard hasher's keys, random per process and per instance. The core
/// reads no randomness and the adapters share no crate but the core, so
/// each adapter holds this one line.
pub(crate) fn os_entropy() -> u64 {
    std::hash::BuildHasher::hash_one(&std::collections::hash_map::RandomState::new(), 0u8)
}
