//! The conformance suite, run with this crate's client, worker, admin
//! client and embedded server.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use conformance::{
    Failure, Functions, Harness, JobContext, Outcome, PATIENCE, Refusal, TestAdmin, TestClient,
    TestJob, TestServer, TestWorker, Update,
};
use gearman_blocking::proto::admin::{AdminResponse, JobRow, MaxQueueLimits, StatusRow, WorkerRow};
use gearman_blocking::proto::worker::WorkerConfig;
use gearman_blocking::transport::{Connection, Connector, TcpConnector, TlsAcceptor, TlsConnector};
use gearman_blocking::{
    Admin, Client, ClientConfig, ClientError, Error, Job, JobHandle, JobOutcome, JobRequest,
    JobStatus, JobUpdate, RunningServer, RunningWorker, Server, UniqueStatus, WorkError, Worker,
    WorkerJob,
};

/// The adapter; over TLS after `use_tls`.
struct Blocking {
    tls: Option<(TlsConnector, TlsAcceptor)>,
}

impl Blocking {
    /// TLS after `use_tls`, plain TCP before.
    fn connector(&self) -> impl Connector + use<> {
        let tls = self.tls.as_ref().map(|(connector, _)| connector.clone());
        move |addr: &str, timeout: Duration| -> std::io::Result<Connection> {
            match &tls {
                Some(tls) => tls.connect(addr, timeout),
                None => TcpConnector.connect(addr, timeout),
            }
        }
    }
}

fn failure(err: Error) -> Failure {
    match err {
        Error::Client(err) => Failure::Client(err),
        Error::Server { code, text } => Failure::Server { code, text },
        other => Failure::Other(other.to_string()),
    }
}

fn outcome(outcome: JobOutcome) -> Outcome {
    match outcome {
        JobOutcome::Complete(data) => Outcome::Complete(data),
        JobOutcome::Fail => Outcome::Fail,
        JobOutcome::Exception(data) => Outcome::Exception(data),
        JobOutcome::Queued(handle) => Outcome::Queued(handle),
        other => panic!("an outcome the suite does not know: {other:?}"),
    }
}

impl Harness for Blocking {
    type Client = ClientUnderTest;
    type Worker = WorkerUnderTest;
    type Server = ServerUnderTest;
    type Admin = AdminUnderTest;

    fn new() -> Blocking {
        Blocking { tls: None }
    }

    fn client(&self, config: ClientConfig) -> ClientUnderTest {
        ClientUnderTest(
            Client::with_connector(config, self.connector()).expect("a valid client configuration"),
        )
    }

    fn worker(&self, config: WorkerConfig, functions: Functions) -> WorkerUnderTest {
        let timeouts = config.abilities.clone();
        let mut worker = Worker::with_config(config).connector(self.connector());
        for (function, handler) in functions {
            let run = move |job: &WorkerJob| {
                handler(&Context(job)).map_err(|refusal| match refusal {
                    Refusal::Fail => WorkError::Fail,
                    Refusal::Exception(text) => WorkError::Exception(text),
                })
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
        WorkerUnderTest(Some(worker.spawn().expect("start the worker")))
    }

    fn server(&self, listen: &str) -> std::io::Result<ServerUnderTest> {
        let mut server = Server::bind(listen)?;
        if let Some((_, acceptor)) = &self.tls {
            server = server.with_acceptor(acceptor.clone());
        }
        Ok(ServerUnderTest(server.spawn()?))
    }

    fn admin(&self, addr: &str) -> Result<AdminUnderTest, Failure> {
        Admin::connect_with(addr, &self.connector())
            .map(AdminUnderTest)
            .map_err(failure)
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
struct ClientUnderTest(Client);

impl TestClient for ClientUnderTest {
    type Job = JobUnderTest;

    fn submit(&self, request: JobRequest) -> JobUnderTest {
        JobUnderTest(self.0.submit(request))
    }

    fn status(&self, handle: &JobHandle) -> Result<JobStatus, Failure> {
        self.0.status(handle).map_err(failure)
    }

    fn status_unique(&self, unique: &[u8]) -> Result<UniqueStatus, Failure> {
        self.0
            .status_unique(Bytes::copy_from_slice(unique))
            .map_err(failure)
    }

    fn echo(&self, data: &[u8]) -> Result<Bytes, Failure> {
        self.0.echo(Bytes::copy_from_slice(data)).map_err(failure)
    }

    fn close(self) -> Result<(), Failure> {
        self.0.close().map_err(failure)
    }
}

struct JobUnderTest(Job);

impl TestJob for JobUnderTest {
    fn next_update(&mut self) -> Option<Update> {
        let update = self
            .0
            .next_update_timeout(PATIENCE)
            .expect("an update or the end within the patience");
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

    fn outcome(mut self) -> Result<Outcome, Failure> {
        let start = Instant::now();
        match self.0.wait_timeout(PATIENCE) {
            // A timeout the scenario provoked ends the job long before.
            Err(Error::Client(ClientError::Timeout { .. })) if start.elapsed() >= PATIENCE => {
                panic!("the job did not end within {PATIENCE:?}")
            }
            result => result.map(outcome).map_err(failure),
        }
    }

    fn handle(&self) -> Option<JobHandle> {
        self.0.handle().cloned()
    }
}

/// A running worker that is asked to stop when the test lets go of it.
struct WorkerUnderTest(Option<RunningWorker>);

impl TestWorker for WorkerUnderTest {
    fn request_shutdown(&self) {
        if let Some(worker) = &self.0 {
            worker.shutdown();
        }
    }

    fn join(mut self) -> Result<(), Failure> {
        let worker = self.0.take().expect("joined once");
        let start = std::time::Instant::now();
        while !worker.is_finished() {
            assert!(start.elapsed() < PATIENCE, "the worker did not stop");
            std::thread::sleep(Duration::from_millis(2));
        }
        worker.join().map_err(failure)
    }
}

impl Drop for WorkerUnderTest {
    fn drop(&mut self) {
        self.request_shutdown();
    }
}

struct ServerUnderTest(RunningServer);

impl TestServer for ServerUnderTest {
    fn addr(&self) -> SocketAddr {
        self.0.local_addr()
    }

    fn stop(self) {
        self.0.stop().expect("the server stops");
    }
}

struct AdminUnderTest(Admin);

impl TestAdmin for AdminUnderTest {
    fn status(&mut self) -> Result<Vec<StatusRow>, Failure> {
        self.0.status().map_err(failure)
    }

    fn workers(&mut self) -> Result<Vec<WorkerRow>, Failure> {
        self.0.workers().map_err(failure)
    }

    fn version(&mut self) -> Result<Bytes, Failure> {
        self.0.version().map_err(failure)
    }

    fn getpid(&mut self) -> Result<u32, Failure> {
        self.0.getpid().map_err(failure)
    }

    fn show_jobs(&mut self) -> Result<Vec<JobRow>, Failure> {
        self.0.show_jobs().map_err(failure)
    }

    fn cancel_job(&mut self, handle: &[u8]) -> Result<(), Failure> {
        self.0
            .cancel_job(Bytes::copy_from_slice(handle))
            .map_err(failure)
    }

    fn maxqueue(&mut self, function: &str, limits: MaxQueueLimits) -> Result<(), Failure> {
        self.0
            .maxqueue(function.to_owned(), limits)
            .map_err(failure)
    }

    fn raw(&mut self, line: &str) -> Result<AdminResponse, Failure> {
        self.0.raw(line.to_owned()).map_err(failure)
    }
}

conformance::conformance_tests!(Blocking);
