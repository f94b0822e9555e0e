//! The conformance suite, run with this crate's client, worker, admin
//! client and embedded server, each call blocking on a Tokio runtime.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use conformance::{
    Failure, Functions, Harness, JobContext, Outcome, PATIENCE, Refusal, TestAdmin, TestClient,
    TestJob, TestServer, TestWorker, Update,
};
use futures_util::StreamExt;
use gearman_tokio::proto::admin::{AdminResponse, JobRow, MaxQueueLimits, StatusRow, WorkerRow};
use gearman_tokio::proto::worker::WorkerConfig;
use gearman_tokio::transport::{Connecting, Connector, TcpConnector, TlsAcceptor, TlsConnector};
use gearman_tokio::{
    Admin, Client, ClientConfig, Error, Job, JobHandle, JobOutcome, JobRequest, JobStatus,
    JobUpdate, Server, UniqueStatus, WorkError, Worker, WorkerJob,
};
use tokio::runtime::Runtime;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The adapter on a two-thread runtime of its own per test; over TLS
/// after `use_tls`.
struct Tokio {
    runtime: Arc<Runtime>,
    tls: Option<(TlsConnector, TlsAcceptor)>,
}

impl Tokio {
    /// TLS after `use_tls`, plain TCP before.
    fn connector(&self) -> impl Connector + use<> {
        let tls = self.tls.as_ref().map(|(connector, _)| connector.clone());
        move |addr: &str| -> Connecting {
            match &tls {
                Some(tls) => tls.connect(addr),
                None => TcpConnector.connect(addr),
            }
        }
    }
}

/// Runs `future` to completion on `runtime`, with the suite's patience.
fn block_on<F: Future>(runtime: &Runtime, future: F) -> F::Output {
    // The timer must be made inside the runtime.
    runtime
        .block_on(async { tokio::time::timeout(PATIENCE, future).await })
        .unwrap_or_else(|_| panic!("did not finish within {PATIENCE:?}"))
}

fn failure(err: Error) -> Failure {
    match err {
        Error::Client(err) => Failure::Client(err),
        Error::Server { code, text } => Failure::Server { code, text },
        other => Failure::Other(other.to_string()),
    }
}

impl Harness for Tokio {
    type Client = ClientUnderTest;
    type Worker = WorkerUnderTest;
    type Server = ServerUnderTest;
    type Admin = AdminUnderTest;

    fn new() -> Tokio {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a Tokio runtime");
        Tokio {
            runtime: Arc::new(runtime),
            tls: None,
        }
    }

    fn client(&self, config: ClientConfig) -> ClientUnderTest {
        let _inside = self.runtime.enter();
        ClientUnderTest {
            client: Client::with_connector(config, self.connector())
                .expect("a valid client configuration"),
            runtime: self.runtime.clone(),
        }
    }

    fn worker(&self, config: WorkerConfig, functions: Functions) -> WorkerUnderTest {
        let timeouts = config.abilities.clone();
        let mut worker = Worker::with_config(config).connector(self.connector());
        for (function, handler) in functions {
            let run = move |job: WorkerJob| {
                let handler = handler.clone();
                async move {
                    // The suite's handlers block; keep them off the runtime's
                    // threads, inside the job's span.
                    let span = tracing::Span::current();
                    let ran = tokio::task::spawn_blocking(move || {
                        span.in_scope(|| handler(&Context(&job)))
                    })
                    .await;
                    match ran {
                        Ok(Ok(result)) => Ok(result),
                        Ok(Err(Refusal::Fail)) => Err(WorkError::Fail),
                        Ok(Err(Refusal::Exception(text))) => Err(WorkError::Exception(text)),
                        // A panicking handler panics here too, as the worker expects.
                        Err(err) => std::panic::resume_unwind(err.into_panic()),
                    }
                }
            };
            let timeout = timeouts
                .iter()
                .find(|ability| ability.function == function.as_bytes())
                .and_then(|ability| ability.timeout);
            worker = match timeout {
                Some(timeout) => worker.function_with_timeout(function, timeout, run),
                None => worker.function(function, run),
            };
        }
        let stop = CancellationToken::new();
        let task = self
            .runtime
            .spawn(worker.run_until(stop.clone().cancelled_owned()));
        WorkerUnderTest {
            stop,
            task: Some(task),
            runtime: self.runtime.clone(),
        }
    }

    fn server(&self, listen: &str) -> std::io::Result<ServerUnderTest> {
        let mut server = block_on(&self.runtime, Server::bind(listen.to_owned()))?;
        if let Some((_, acceptor)) = &self.tls {
            server = server.with_acceptor(acceptor.clone());
        }
        let addr = server.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = self.runtime.spawn(server.serve_until(async {
            let _ = stopped.await;
        }));
        Ok(ServerUnderTest {
            addr,
            stop,
            task,
            runtime: self.runtime.clone(),
        })
    }

    fn admin(&self, addr: &str) -> Result<AdminUnderTest, Failure> {
        let connector = self.connector();
        let admin =
            block_on(&self.runtime, Admin::connect_with(addr, &connector)).map_err(failure)?;
        Ok(AdminUnderTest {
            admin,
            runtime: self.runtime.clone(),
        })
    }

    fn use_tls(&mut self, pki: &conformance::tls::Pki) {
        let connector = TlsConnector::new(pki.client_config());
        self.tls = Some((connector, TlsAcceptor::new(pki.server_config(true))));
    }
}

struct Context<'a>(&'a WorkerJob);

impl JobContext for Context<'_> {
    fn payload(&self) -> Bytes {
        self.0.payload().clone()
    }

    fn unique(&self) -> Option<Bytes> {
        self.0.unique().cloned()
    }

    fn send_data(&self, data: &[u8]) {
        self.0.send_data(Bytes::copy_from_slice(data));
    }

    fn send_warning(&self, data: &[u8]) {
        self.0.send_warning(Bytes::copy_from_slice(data));
    }

    fn send_status(&self, numerator: u32, denominator: u32) {
        self.0.send_status(numerator, denominator);
    }
}

#[derive(Clone)]
struct ClientUnderTest {
    client: Client,
    runtime: Arc<Runtime>,
}

impl TestClient for ClientUnderTest {
    type Job = JobUnderTest;

    fn submit(&self, request: JobRequest) -> JobUnderTest {
        JobUnderTest {
            job: self.client.submit(request),
            runtime: self.runtime.clone(),
        }
    }

    fn status(&self, handle: &JobHandle) -> Result<JobStatus, Failure> {
        block_on(&self.runtime, self.client.status(handle)).map_err(failure)
    }

    fn status_unique(&self, unique: &[u8]) -> Result<UniqueStatus, Failure> {
        let unique = Bytes::copy_from_slice(unique);
        block_on(&self.runtime, self.client.status_unique(unique)).map_err(failure)
    }

    fn echo(&self, data: &[u8]) -> Result<Bytes, Failure> {
        let data = Bytes::copy_from_slice(data);
        block_on(&self.runtime, self.client.echo(data)).map_err(failure)
    }

    fn close(self) -> Result<(), Failure> {
        block_on(&self.runtime, self.client.close()).map_err(failure)
    }
}

struct JobUnderTest {
    job: Job,
    runtime: Arc<Runtime>,
}

impl TestJob for JobUnderTest {
    fn next_update(&mut self) -> Option<Update> {
        let update = block_on(&self.runtime, self.job.next());
        update.map(|update| match update {
            JobUpdate::Data(data) => Update::Data(data),
            JobUpdate::Warning(data) => Update::Warning(data),
            JobUpdate::Status {
                numerator,
                denominator,
            } => Update::Status(numerator, denominator),
            other => panic!("an update the suite does not know: {other:?}"),
        })
    }

    fn outcome(self) -> Result<Outcome, Failure> {
        let JobUnderTest { job, runtime } = self;
        match block_on(&runtime, job) {
            Ok(JobOutcome::Complete(data)) => Ok(Outcome::Complete(data)),
            Ok(JobOutcome::Fail) => Ok(Outcome::Fail),
            Ok(JobOutcome::Exception(data)) => Ok(Outcome::Exception(data)),
            Ok(JobOutcome::Queued(handle)) => Ok(Outcome::Queued(handle)),
            Ok(other) => panic!("an outcome the suite does not know: {other:?}"),
            Err(err) => Err(failure(err)),
        }
    }

    fn handle(&self) -> Option<JobHandle> {
        self.job.handle().cloned()
    }
}

/// A running worker that is asked to stop when the test lets go of it.
struct WorkerUnderTest {
    stop: CancellationToken,
    task: Option<JoinHandle<Result<(), Error>>>,
    runtime: Arc<Runtime>,
}

impl TestWorker for WorkerUnderTest {
    fn request_shutdown(&self) {
        self.stop.cancel();
    }

    fn join(mut self) -> Result<(), Failure> {
        let task = self.task.take().expect("joined once");
        block_on(&self.runtime, task)
            .expect("the worker task did not panic")
            .map_err(failure)
    }
}

impl Drop for WorkerUnderTest {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

struct ServerUnderTest {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
    runtime: Arc<Runtime>,
}

impl TestServer for ServerUnderTest {
    fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn stop(self) {
        let _ = self.stop.send(());
        block_on(&self.runtime, self.task)
            .expect("the server task did not panic")
            .expect("the server stops cleanly");
    }
}

struct AdminUnderTest {
    admin: Admin,
    runtime: Arc<Runtime>,
}

impl TestAdmin for AdminUnderTest {
    fn status(&mut self) -> Result<Vec<StatusRow>, Failure> {
        block_on(&self.runtime, self.admin.status()).map_err(failure)
    }

    fn workers(&mut self) -> Result<Vec<WorkerRow>, Failure> {
        block_on(&self.runtime, self.admin.workers()).map_err(failure)
    }

    fn version(&mut self) -> Result<Bytes, Failure> {
        block_on(&self.runtime, self.admin.version()).map_err(failure)
    }

    fn getpid(&mut self) -> Result<u32, Failure> {
        block_on(&self.runtime, self.admin.getpid()).map_err(failure)
    }

    fn show_jobs(&mut self) -> Result<Vec<JobRow>, Failure> {
        block_on(&self.runtime, self.admin.show_jobs()).map_err(failure)
    }

    fn cancel_job(&mut self, handle: &[u8]) -> Result<(), Failure> {
        let handle = Bytes::copy_from_slice(handle);
        block_on(&self.runtime, self.admin.cancel_job(handle)).map_err(failure)
    }

    fn maxqueue(&mut self, function: &str, limits: MaxQueueLimits) -> Result<(), Failure> {
        let function = function.to_owned();
        block_on(&self.runtime, self.admin.maxqueue(function, limits)).map_err(failure)
    }

    fn raw(&mut self, line: &str) -> Result<AdminResponse, Failure> {
        let line = line.to_owned();
        block_on(&self.runtime, self.admin.raw(line)).map_err(failure)
    }
}

conformance::conformance_tests!(Tokio);
