//! The conformance suite, run with this crate's client, worker, admin
//! client and embedded server under async-std and, the same code, under
//! smol: each call of the synchronous harness blocks on the runtime, and
//! background futures (client drivers, workers, servers) are spawned on it.

use std::future::Future;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::Mutex;

use async_io::Timer;
use bytes::Bytes;
use conformance::{
    Failure, Functions, Harness, JobContext, Outcome, PATIENCE, Refusal, TestAdmin, TestClient,
    TestJob, TestServer, TestWorker, Update,
};
use futures_channel::oneshot;
use futures_util::StreamExt;
use gearman_async_std::proto::admin::{
    AdminResponse, JobRow, MaxQueueLimits, StatusRow, WorkerRow,
};
use gearman_async_std::proto::worker::WorkerConfig;
use gearman_async_std::transport::{
    Connecting, Connector, TcpConnector, TlsAcceptor, TlsConnector,
};
use gearman_async_std::{
    Admin, Client, ClientConfig, Error, Job, JobHandle, JobOutcome, JobRequest, JobStatus,
    JobUpdate, Server, UniqueStatus, WorkError, Worker, WorkerJob,
};

/// An executor the adapter runs on. Sockets and timers are async-io's
/// under both, so this is all that differs.
trait Executor: Send + Sync + 'static {
    /// Runs `future` to completion on the calling thread.
    fn block_on<F: Future>(future: F) -> F::Output;
    /// Runs `future` in the background.
    fn spawn(future: impl Future<Output = ()> + Send + 'static);
}

/// async-std's executor.
struct AsyncStd;

impl Executor for AsyncStd {
    fn block_on<F: Future>(future: F) -> F::Output {
        async_std::task::block_on(future)
    }

    fn spawn(future: impl Future<Output = ()> + Send + 'static) {
        async_std::task::spawn(future);
    }
}

/// smol's global executor.
struct Smol;

impl Executor for Smol {
    fn block_on<F: Future>(future: F) -> F::Output {
        smol::block_on(future)
    }

    fn spawn(future: impl Future<Output = ()> + Send + 'static) {
        smol::spawn(future).detach();
    }
}

/// Runs `future` to completion, with the suite's patience.
fn block_on<E: Executor, F: Future>(future: F) -> F::Output {
    // The limit is polled first: a future that would finish only because
    // the limit's own wake-up polled it again had lost a wake-up.
    let limit = async {
        Timer::after(PATIENCE).await;
        None
    };
    let limited = futures_lite::future::or(limit, async { Some(future.await) });
    E::block_on(limited).unwrap_or_else(|| panic!("did not finish within {PATIENCE:?}"))
}

/// Runs `future` in the background; its output arrives on the receiver.
fn spawn<E: Executor, T: Send + 'static>(
    future: impl Future<Output = T> + Send + 'static,
) -> oneshot::Receiver<T> {
    let (done, result) = oneshot::channel();
    E::spawn(async move {
        // Its own statement, so the future (and what it owns, such as a
        // listener) is dropped before the output is reported.
        let output = future.await;
        let _ = done.send(output);
    });
    result
}

fn failure(err: Error) -> Failure {
    match err {
        Error::Client(err) => Failure::Client(err),
        Error::Server { code, text } => Failure::Server { code, text },
        other => Failure::Other(other.to_string()),
    }
}

/// The adapter on executor `E`; over TLS after `use_tls`.
struct Adapter<E> {
    tls: Option<(TlsConnector, TlsAcceptor)>,
    executor: PhantomData<E>,
}

impl<E> Adapter<E> {
    /// TLS after `use_tls`, plain TCP before.
    fn connector(&self) -> impl Connector + use<E> {
        let tls = self.tls.as_ref().map(|(connector, _)| connector.clone());
        move |addr: &str| -> Connecting {
            match &tls {
                Some(tls) => tls.connect(addr),
                None => TcpConnector.connect(addr),
            }
        }
    }
}

impl<E: Executor> Harness for Adapter<E> {
    type Client = ClientUnderTest<E>;
    type Worker = WorkerUnderTest<E>;
    type Server = ServerUnderTest<E>;
    type Admin = AdminUnderTest<E>;

    fn new() -> Adapter<E> {
        Adapter {
            tls: None,
            executor: PhantomData,
        }
    }

    fn client(&self, config: ClientConfig) -> ClientUnderTest<E> {
        let (client, driver) =
            Client::with_connector(config, self.connector()).expect("a valid client configuration");
        E::spawn(driver);
        ClientUnderTest {
            client,
            executor: PhantomData,
        }
    }

    fn worker(&self, config: WorkerConfig, functions: Functions) -> WorkerUnderTest<E> {
        let timeouts = config.abilities.clone();
        let mut worker = Worker::with_config(config).connector(self.connector());
        for (function, handler) in functions {
            let run = move |job: WorkerJob| {
                let handler = handler.clone();
                // The suite's handlers block: run them on the blocking pool,
                // inside the job's span.
                // A panic there resumes here, as the worker expects.
                async move {
                    let span = tracing::Span::current();
                    match blocking::unblock(move || span.in_scope(|| handler(&Context(&job)))).await
                    {
                        Ok(result) => Ok(result),
                        Err(Refusal::Fail) => Err(WorkError::Fail),
                        Err(Refusal::Exception(text)) => Err(WorkError::Exception(text)),
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
        let (stop, stopped) = oneshot::channel::<()>();
        let done = spawn::<E, _>(worker.run_until(async {
            let _ = stopped.await;
        }));
        WorkerUnderTest {
            stop: Mutex::new(Some(stop)),
            done: Some(done),
            executor: PhantomData,
        }
    }

    fn server(&self, listen: &str) -> std::io::Result<ServerUnderTest<E>> {
        let mut server = block_on::<E, _>(Server::bind(listen))?;
        if let Some((_, acceptor)) = &self.tls {
            server = server.with_acceptor(acceptor.clone());
        }
        let addr = server.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let done = spawn::<E, _>(server.serve_until(async {
            let _ = stopped.await;
        }));
        Ok(ServerUnderTest {
            addr,
            stop,
            done,
            executor: PhantomData,
        })
    }

    fn admin(&self, addr: &str) -> Result<AdminUnderTest<E>, Failure> {
        let admin =
            block_on::<E, _>(Admin::connect_with(addr, &self.connector())).map_err(failure)?;
        Ok(AdminUnderTest {
            admin,
            executor: PhantomData,
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

struct ClientUnderTest<E> {
    client: Client,
    executor: PhantomData<E>,
}

impl<E> Clone for ClientUnderTest<E> {
    fn clone(&self) -> Self {
        ClientUnderTest {
            client: self.client.clone(),
            executor: PhantomData,
        }
    }
}

impl<E: Executor> TestClient for ClientUnderTest<E> {
    type Job = JobUnderTest<E>;

    fn submit(&self, request: JobRequest) -> JobUnderTest<E> {
        JobUnderTest {
            job: self.client.submit(request),
            executor: PhantomData,
        }
    }

    fn status(&self, handle: &JobHandle) -> Result<JobStatus, Failure> {
        block_on::<E, _>(self.client.status(handle)).map_err(failure)
    }

    fn status_unique(&self, unique: &[u8]) -> Result<UniqueStatus, Failure> {
        let unique = Bytes::copy_from_slice(unique);
        block_on::<E, _>(self.client.status_unique(unique)).map_err(failure)
    }

    fn echo(&self, data: &[u8]) -> Result<Bytes, Failure> {
        let data = Bytes::copy_from_slice(data);
        block_on::<E, _>(self.client.echo(data)).map_err(failure)
    }

    fn close(self) -> Result<(), Failure> {
        block_on::<E, _>(self.client.close()).map_err(failure)
    }
}

struct JobUnderTest<E> {
    job: Job,
    executor: PhantomData<E>,
}

impl<E: Executor> TestJob for JobUnderTest<E> {
    fn next_update(&mut self) -> Option<Update> {
        let update = block_on::<E, _>(self.job.next());
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
        match block_on::<E, _>(self.job) {
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
struct WorkerUnderTest<E> {
    stop: Mutex<Option<oneshot::Sender<()>>>,
    done: Option<oneshot::Receiver<Result<(), Error>>>,
    executor: PhantomData<E>,
}

impl<E: Executor> TestWorker for WorkerUnderTest<E> {
    fn request_shutdown(&self) {
        if let Some(stop) = self.stop.lock().expect("not poisoned").take() {
            let _ = stop.send(());
        }
    }

    fn join(mut self) -> Result<(), Failure> {
        let done = self.done.take().expect("joined once");
        block_on::<E, _>(done)
            .expect("the worker did not panic")
            .map_err(failure)
    }
}

impl<E> Drop for WorkerUnderTest<E> {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.get_mut().ok().and_then(Option::take) {
            let _ = stop.send(());
        }
    }
}

struct ServerUnderTest<E> {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    done: oneshot::Receiver<std::io::Result<()>>,
    executor: PhantomData<E>,
}

impl<E: Executor> TestServer for ServerUnderTest<E> {
    fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn stop(self) {
        let _ = self.stop.send(());
        block_on::<E, _>(self.done)
            .expect("the server did not panic")
            .expect("the server stops cleanly");
    }
}

struct AdminUnderTest<E> {
    admin: Admin,
    executor: PhantomData<E>,
}

impl<E: Executor> TestAdmin for AdminUnderTest<E> {
    fn status(&mut self) -> Result<Vec<StatusRow>, Failure> {
        block_on::<E, _>(self.admin.status()).map_err(failure)
    }

    fn workers(&mut self) -> Result<Vec<WorkerRow>, Failure> {
        block_on::<E, _>(self.admin.workers()).map_err(failure)
    }

    fn version(&mut self) -> Result<Bytes, Failure> {
        block_on::<E, _>(self.admin.version()).map_err(failure)
    }

    fn getpid(&mut self) -> Result<u32, Failure> {
        block_on::<E, _>(self.admin.getpid()).map_err(failure)
    }

    fn show_jobs(&mut self) -> Result<Vec<JobRow>, Failure> {
        block_on::<E, _>(self.admin.show_jobs()).map_err(failure)
    }

    fn cancel_job(&mut self, handle: &[u8]) -> Result<(), Failure> {
        let handle = Bytes::copy_from_slice(handle);
        block_on::<E, _>(self.admin.cancel_job(handle)).map_err(failure)
    }

    fn maxqueue(&mut self, function: &str, limits: MaxQueueLimits) -> Result<(), Failure> {
        let function = function.to_owned();
        block_on::<E, _>(self.admin.maxqueue(function, limits)).map_err(failure)
    }

    fn raw(&mut self, line: &str) -> Result<AdminResponse, Failure> {
        let line = line.to_owned();
        block_on::<E, _>(self.admin.raw(line)).map_err(failure)
    }
}

/// The suite under async-std.
mod async_std_runtime {
    conformance::conformance_tests!(crate::Adapter<crate::AsyncStd>);
}

/// The suite under smol.
mod smol_runtime {
    conformance::conformance_tests!(crate::Adapter<crate::Smol>);
}
