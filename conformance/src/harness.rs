//! What an adapter implements to run the suite: a synchronous view of its
//! client, worker, admin client and server. An async adapter's
//! implementation blocks on its runtime.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use gearman_proto::admin::{AdminResponse, JobRow, MaxQueueLimits, StatusRow, WorkerRow};
use gearman_proto::client::{
    ClientConfig, ClientError, JobHandle, JobRequest, JobStatus, UniqueStatus,
};
use gearman_proto::worker::WorkerConfig;

/// How a job ended, in the suite's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// WORK_COMPLETE with the result.
    Complete(Bytes),
    /// WORK_FAIL.
    Fail,
    /// WORK_EXCEPTION with the worker's text.
    Exception(Bytes),
    /// A background job was queued under this handle.
    Queued(JobHandle),
}

/// Something a running job sent before its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update {
    /// WORK_DATA.
    Data(Bytes),
    /// WORK_WARNING.
    Warning(Bytes),
    /// WORK_STATUS.
    Status(u64, u64),
}

/// Why a call did not give a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The core's error for a job or request (disconnect, timeout, server
    /// error, no server up).
    Client(ClientError),
    /// An admin command answered `ERR`.
    Server {
        /// The error code.
        code: Bytes,
        /// The error text.
        text: Bytes,
    },
    /// Anything else, as the adapter describes it.
    Other(String),
}

/// What a handler decides when it does not complete its job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// WORK_FAIL.
    Fail,
    /// WORK_EXCEPTION with this text.
    Exception(Bytes),
}

/// A running job as a handler sees it.
pub trait JobContext {
    /// The workload.
    fn payload(&self) -> Bytes;
    /// The client's unique id, if the server sent one.
    fn unique(&self) -> Option<Bytes>;
    /// Sends WORK_DATA.
    fn send_data(&self, data: &[u8]);
    /// Sends WORK_WARNING.
    fn send_warning(&self, data: &[u8]);
    /// Sends WORK_STATUS.
    fn send_status(&self, numerator: u32, denominator: u32);
}

/// A handler as the suite writes it: synchronous, and it may block (the
/// adapter runs it where blocking is allowed).
pub type Handler = Arc<dyn Fn(&dyn JobContext) -> Result<Bytes, Refusal> + Send + Sync>;

/// Functions a worker registers, with their handlers.
pub type Functions = Vec<(String, Handler)>;

/// An adapter under test.
pub trait Harness: Sized + 'static {
    /// Its client.
    type Client: TestClient;
    /// Its worker, running.
    type Worker: TestWorker;
    /// Its embedded server, serving.
    type Server: TestServer;
    /// Its admin client.
    type Admin: TestAdmin;

    /// A fresh harness for one test (a runtime, say).
    fn new() -> Self;
    /// A client with this configuration.
    fn client(&self, config: ClientConfig) -> Self::Client;
    /// Starts a worker with this configuration (servers, concurrency,
    /// client id, backoff) and these functions, registered with CAN_DO, or
    /// with CAN_DO_TIMEOUT when the configuration's abilities give the
    /// function a timeout.
    fn worker(&self, config: WorkerConfig, functions: Functions) -> Self::Worker;
    /// Starts the embedded server on `listen` (`127.0.0.1:0`, or a port to
    /// take again after a stop).
    fn server(&self, listen: &str) -> std::io::Result<Self::Server>;
    /// Opens an admin connection.
    fn admin(&self, addr: &str) -> Result<Self::Admin, Failure>;
    /// From now on, servers this harness starts serve TLS only and require
    /// client certificates ([`Pki::server_config`](crate::tls::Pki::server_config)),
    /// and its clients, workers and admins open `tls://` addresses with
    /// [`Pki::client_config`](crate::tls::Pki::client_config).
    #[cfg(feature = "tls")]
    fn use_tls(&mut self, pki: &crate::tls::Pki);
}

/// The client side; a clone shares the client. Every blocking call gives
/// up after the suite's [`PATIENCE`](crate::PATIENCE) by panicking.
pub trait TestClient: Clone + Send + Sync + 'static {
    /// A submitted job.
    type Job: TestJob;
    /// Submits a job and returns at once.
    fn submit(&self, request: JobRequest) -> Self::Job;
    /// GET_STATUS.
    fn status(&self, handle: &JobHandle) -> Result<JobStatus, Failure>;
    /// GET_STATUS_UNIQUE.
    fn status_unique(&self, unique: &[u8]) -> Result<UniqueStatus, Failure>;
    /// ECHO_REQ to the first server.
    fn echo(&self, data: &[u8]) -> Result<Bytes, Failure>;
    /// Closes the client gracefully; returns once it has closed.
    fn close(self) -> Result<(), Failure>;
}

/// A submitted job.
pub trait TestJob: Send + 'static {
    /// The next update, `None` once the job has ended.
    fn next_update(&mut self) -> Option<Update>;
    /// How the job ended (updates not read are dropped).
    fn outcome(self) -> Result<Outcome, Failure>;
    /// The handle, once seen while reading the job.
    fn handle(&self) -> Option<JobHandle>;
}

/// A running worker.
pub trait TestWorker: Send + 'static {
    /// Asks for a graceful shutdown; returns at once.
    fn request_shutdown(&self);
    /// Waits until the worker has stopped and returns how its run ended.
    fn join(self) -> Result<(), Failure>;
}

/// A serving embedded server.
pub trait TestServer: Send + 'static {
    /// Where it listens.
    fn addr(&self) -> SocketAddr;
    /// Stops it: every connection and the listener are closed when this returns.
    fn stop(self);
}

/// An admin connection, with the adapter's typed methods.
pub trait TestAdmin {
    /// `status`.
    fn status(&mut self) -> Result<Vec<StatusRow>, Failure>;
    /// `workers`.
    fn workers(&mut self) -> Result<Vec<WorkerRow>, Failure>;
    /// `version`.
    fn version(&mut self) -> Result<Bytes, Failure>;
    /// `getpid`.
    fn getpid(&mut self) -> Result<u32, Failure>;
    /// `show jobs`.
    fn show_jobs(&mut self) -> Result<Vec<JobRow>, Failure>;
    /// `cancel job HANDLE`.
    fn cancel_job(&mut self, handle: &[u8]) -> Result<(), Failure>;
    /// `maxqueue FUNC ...`.
    fn maxqueue(&mut self, function: &str, limits: MaxQueueLimits) -> Result<(), Failure>;
    /// Any line; the reply as it came.
    fn raw(&mut self, line: &str) -> Result<AdminResponse, Failure>;
}
