//! The client: submits jobs and asks about them, over one task that drives
//! [`gearman_proto::client::Client`].

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use gearman_proto::client::{Call, Callers, Client as Core};
pub use gearman_proto::client::{JobError, JobOutcome, JobUpdate};
use gearman_proto::client::{JobLink, RequestAnswer, StepSender};
use gearman_proto::observe::ServerState;
use tokio::sync::{mpsc, oneshot};

use crate::Error;
use crate::driver;
use crate::transport::{Connector, TcpConnector};

/// A Gearman client: cheap to clone, usable from many tasks at once. All
/// clones share one connection per server, with any number of jobs in flight
/// on each.
///
/// The client runs on a task of the Tokio runtime it was created in; it
/// connects lazily, reconnects with backoff, and stops when the last clone
/// and the last [`Job`] are dropped, or once [closed](Client::close).
///
/// ```no_run
/// use gearman_tokio::{Client, JobOutcome, JobRequest};
///
/// # async fn demo() -> Result<(), gearman_tokio::Error> {
/// let client = Client::new(["127.0.0.1:4730"])?;
/// match client.submit(JobRequest::new("reverse", "hello")).await? {
///     JobOutcome::Complete(result) => assert_eq!(result, "olleh"),
///     other => println!("the job did not complete: {other:?}"),
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    commands: mpsc::UnboundedSender<Command>,
    next_key: Arc<AtomicU64>,
    /// The run loop's state, for applying a request in the caller's task
    /// while nothing is in flight (see [`Client::send`]).
    driver: Arc<driver::Shared<Callers<Reply>>>,
}

/// Its servers and the number of jobs in flight.
impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.driver
            .inspect(|core, _| core.fmt_overview("Client", f))
            .unwrap_or_else(|| f.write_str("Client { shut down }"))
    }
}

/// A caller's call, for the run loop.
type Command = Call<StepSender, Reply>;

type Reply = oneshot::Sender<Result<RequestAnswer, Error>>;

impl Client {
    gearman_proto::client_constructors! {
        Client;
        /// Fails when `servers` is empty, and with [`Error::NoRuntime`] outside a
        /// Tokio runtime.
        ///
        /// ```no_run
        /// # async fn demo() -> Result<(), gearman_tokio::Error> {
        /// use std::net::SocketAddr;
        /// use gearman_tokio::{Admin, Client};
        ///
        /// let socket: SocketAddr = "127.0.0.1:4730".parse().unwrap();
        /// let client = Client::new([socket])?;
        /// let client = Client::new([("localhost", 4730)])?;
        /// let admin = Admin::connect(socket).await?;
        /// # Ok(()) }
        /// ```
        new;
        /// Fails with [`Error::NoRuntime`] outside a Tokio runtime.
        with_config;
    }

    /// Spawns the run loop over `core` on the current runtime.
    fn start(core: Core, connector: Arc<dyn Connector>) -> Result<Client, Error> {
        let runtime = crate::runtime()?;
        let (commands, commands_rx) = mpsc::unbounded_channel();
        // A caller that is gone stopped waiting; nothing to do then.
        let callers: Callers<Reply> = Callers::new(|reply, answer| {
            let _ = reply.send(answer);
        });
        let (driver, runner) = driver::runner(core, callers, commands_rx, connector);
        runtime.spawn(runner.run());
        Ok(Client {
            commands,
            next_key: Arc::new(AtomicU64::new(0)),
            driver,
        })
    }

    /// Hands `command` to the run loop; false once the loop is gone.
    ///
    /// When nothing is in flight and the loop is waiting, the command is
    /// applied here and its request handed to the connection's writer from
    /// the caller's task, without waking the loop's task (a hand-off that
    /// may wake a parked thread). Otherwise it is queued for the loop, which
    /// applies it together with the others so that their writes batch.
    fn send(&self, command: Command) -> bool {
        match self.driver.command_directly(command) {
            Ok(()) => true,
            Err(command) => self.commands.send(command).is_ok(),
        }
    }

    /// Each configured server's connection state, jobs in flight and
    /// requests awaiting a reply, read from the run loop's state (for
    /// health checks and metrics); empty once the loop is gone.
    pub fn servers(&self) -> Vec<ServerState> {
        let servers = self.driver.inspect(|core, _| core.servers().collect());
        servers.unwrap_or_default()
    }

    gearman_proto::client_requests! {
        async, replies: oneshot::channel;
        /// Closes the client gracefully and returns once it has closed: what
        /// was submitted before (from any clone) goes on until it ends, a
        /// background job until the server has queued it, a foreground one
        /// until its result, then every connection closes and the client's
        /// task ends. With
        /// [`ClientConfig::close_timeout`](crate::ClientConfig::close_timeout),
        /// whatever is still in flight then ends with
        /// [`ClientError::Closed`](crate::ClientError::Closed) and the client
        /// closes anyway.
        ///
        /// The close is every clone's: from the call on, their submits and
        /// requests fail with [`Error::InvalidRequest`] (the client is
        /// closing), a close from another clone returns with this one, and
        /// once closed every call fails with [`Error::Shutdown`]. Jobs already
        /// submitted end as above, whether or not their [`Job`] is kept.
        ///
        /// ```no_run
        /// use gearman_tokio::{Client, JobRequest};
        ///
        /// # async fn demo() -> Result<(), gearman_tokio::Error> {
        /// let client = Client::new(["127.0.0.1:4730"])?;
        /// for i in 0..100 {
        ///     drop(client.submit(JobRequest::new("index", i.to_string()).in_background()));
        /// }
        /// // Returns once the server has queued all hundred.
        /// client.close().await?;
        /// # Ok(()) }
        /// ```
        close;
    }
}

gearman_proto::async_job! {
    "gearman_tokio", "futures_util::StreamExt", Link;
    /// The job's server and handle, once the server has acknowledged it
    /// (seen while polling the job).
    handle;
}

/// A dropped job asks the run loop to forget it.
enum Link {}

impl JobLink for Link {
    type Commands = mpsc::UnboundedSender<Command>;

    fn forget(commands: &Self::Commands, key: u64) {
        let _ = commands.send(Command::Forget { key });
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;
    use gearman_proto::client::{ClientConfig, ClientError, JobRequest};
    use gearman_proto::observe::ConnectionState;

    use super::*;
    use crate::{Server, WorkError, Worker};

    /// Jobs the client's state machine holds.
    fn jobs_applied(client: &Client) -> usize {
        client
            .driver
            .inspect(|_, callers| callers.waiters().jobs())
            .unwrap()
    }

    // One thread: the run loop cannot run while the test does not await,
    // so the submit is applied at once and the job waits in the state.
    #[tokio::test(flavor = "current_thread")]
    async fn debug_shows_the_servers_and_the_jobs_in_flight() {
        let client = Client::new(["127.0.0.1:9"]).unwrap();
        let shown =
            |jobs| format!("Client {{ servers: [\"127.0.0.1:9\"], jobs_in_flight: {jobs} }}");
        assert_eq!(format!("{client:?}"), shown(0));
        let _job = client.submit(JobRequest::new("f", "x"));
        assert_eq!(format!("{client:?}"), shown(1));
    }

    // One thread: the run loop cannot run while the test does not await.
    #[tokio::test(flavor = "current_thread")]
    async fn a_submit_on_an_idle_client_is_applied_in_the_callers_task() {
        let server = Server::bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap().to_string();
        tokio::spawn(server.serve());
        let worker = Worker::new([addr.clone()])
            .function("echo", |job: crate::WorkerJob| async move {
                Ok::<_, WorkError>(job.payload().clone())
            });
        tokio::spawn(worker.run());
        let client = Client::new([addr]).unwrap();
        // Connects through the run loop; afterwards nothing is in flight.
        assert_eq!(client.echo("warm").await.unwrap(), "warm");
        assert_eq!(jobs_applied(&client), 0);

        for round in 0..3 {
            let payload = Bytes::from(format!("job {round}"));
            let job = client.submit(JobRequest::new("echo", payload.clone()));
            assert_eq!(jobs_applied(&client), 1, "applied before the loop ran");
            match job.await.unwrap() {
                JobOutcome::Complete(result) => assert_eq!(result, payload),
                other => panic!("job {round} ended with {other:?}"),
            }
        }

        // With one in flight, the next is queued for the loop, and both
        // still go out.
        let first = client.submit(JobRequest::new("echo", "first"));
        let second = client.submit(JobRequest::new("echo", "second"));
        assert_eq!(jobs_applied(&client), 1, "the second waits for the loop");
        assert!(matches!(first.await.unwrap(), JobOutcome::Complete(r) if r == "first"));
        assert!(matches!(second.await.unwrap(), JobOutcome::Complete(r) if r == "second"));
    }

    // A panic while the state machine was held may have left it
    // half-changed: the client ends as if its loop had panicked.
    #[tokio::test(flavor = "current_thread")]
    async fn a_panic_holding_the_state_shuts_the_client_down() {
        let server = Server::bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap().to_string();
        tokio::spawn(server.serve());
        let client = Client::new([addr]).unwrap();
        let mut waiting = client.submit(JobRequest::new("nobody serves this", "x"));
        // Polled until the server has queued it.
        let acknowledged = tokio::time::timeout(Duration::from_secs(10), async {
            while waiting.handle().is_none() {
                let polled = tokio::time::timeout(Duration::from_millis(5), &mut waiting).await;
                assert!(polled.is_err(), "nobody runs the job: {polled:?}");
            }
        });
        acknowledged.await.expect("the server queues the job");

        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            client
                .driver
                .inspect(|_, _| panic!("a bug while holding the state"))
        }));
        assert!(panicked.is_err());

        // Well before the loop's own timer (the 5 s connect timeout) fires.
        let ended = tokio::time::timeout(Duration::from_secs(2), waiting).await;
        assert!(matches!(ended, Ok(Err(Error::Shutdown))), "{ended:?}");
        let refused = client.submit(JobRequest::new("echo", "late"));
        assert!(matches!(refused.await, Err(Error::Shutdown)));
        assert!(matches!(client.echo("late").await, Err(Error::Shutdown)));
    }

    // The runtime goes away, taking the loop's task (here before it ever
    // ran, with a job applied in the caller's task): jobs and calls end.
    #[test]
    fn a_client_whose_runtime_is_gone_shuts_down() {
        let runtime = || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
        };
        // Accepts connections (the kernel does) and never answers.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = silent.local_addr().unwrap().to_string();
        let first = runtime();
        let (client, job) = first.block_on(async {
            let client = Client::new([addr]).unwrap();
            let job = client.submit(JobRequest::new("any", "x"));
            (client, job)
        });
        drop(first);

        runtime().block_on(async {
            let ended = tokio::time::timeout(Duration::from_secs(2), job).await;
            assert!(matches!(ended, Ok(Err(Error::Shutdown))), "{ended:?}");
            let late = tokio::time::timeout(
                Duration::from_secs(2),
                client.submit(JobRequest::new("any", "y")),
            )
            .await;
            assert!(matches!(late, Ok(Err(Error::Shutdown))), "{late:?}");
        });
    }

    /// Listens for one client, answers its first ECHO_REQ and then nothing,
    /// keeping the connection open. Returns the address.
    async fn answers_one_echo() -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        const ECHO_REQ: u32 = 16;
        const ECHO_RES: u32 = 17;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut header = [0u8; 12];
            socket.read_exact(&mut header).await.unwrap();
            assert_eq!(&header[..4], b"\0REQ");
            assert_eq!(
                u32::from_be_bytes(header[4..8].try_into().unwrap()),
                ECHO_REQ
            );
            let len = u32::from_be_bytes(header[8..12].try_into().unwrap());
            let mut data = vec![0; len as usize];
            socket.read_exact(&mut data).await.unwrap();
            let mut reply = b"\0RES".to_vec();
            reply.extend_from_slice(&ECHO_RES.to_be_bytes());
            reply.extend_from_slice(&len.to_be_bytes());
            reply.extend_from_slice(&data);
            socket.write_all(&reply).await.unwrap();
            // Silent from now on; the socket stays open.
            let mut rest = Vec::new();
            let _ = socket.read_to_end(&mut rest).await;
        });
        addr
    }

    // A request applied in the caller's task brings a deadline the waiting
    // loop does not know: the loop must be told to arm its timer for it.
    #[tokio::test(flavor = "current_thread")]
    async fn a_request_applied_in_the_callers_task_times_out() {
        let addr = answers_one_echo().await;
        let timeout = Duration::from_millis(200);
        let config = ClientConfig::new([addr]).with_request_timeout(Some(timeout));
        let client = Client::with_config(config).unwrap();
        assert_eq!(client.echo("warm").await.unwrap(), "warm");
        // Past the first request's deadline: the loop's timer has fired and
        // nothing else is due, so only a re-arm can wake the loop now.
        tokio::time::sleep(timeout * 2).await;
        assert_eq!(
            client.driver.inspect(|_, callers| callers.is_idle()),
            Some(true)
        );

        let start = std::time::Instant::now();
        let unanswered = tokio::time::timeout(Duration::from_secs(10), client.echo("lost"))
            .await
            .expect("the request timeout ends the echo");
        assert!(
            matches!(unanswered, Err(Error::Client(ClientError::Timeout { .. }))),
            "{unanswered:?}"
        );
        assert!(start.elapsed() >= timeout);
    }

    // A close applied in the caller's task (nothing in flight) must wake
    // the loop, which then ends though a clone still holds the client.
    #[tokio::test(flavor = "current_thread")]
    async fn closing_an_idle_client_ends_its_loop() {
        let client = Client::new(["127.0.0.1:9"]).unwrap();
        let other = client.clone();
        // The loop runs once and waits: no timer, no command.
        tokio::task::yield_now().await;
        client.close().await.unwrap();
        let ended = tokio::time::timeout(Duration::from_secs(10), async {
            while other.driver.inspect(|_, _| ()).is_some() {
                tokio::task::yield_now().await;
            }
        });
        ended.await.expect("the loop ended");
        let late = other.echo("late").await;
        assert!(matches!(late, Err(Error::Shutdown)), "{late:?}");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn servers_show_each_connection_state() {
        let addr = answers_one_echo().await;
        let client = Client::new([addr.clone()]).unwrap();
        let idle = client.servers();
        assert_eq!(idle.len(), 1);
        assert_eq!(idle[0].addr, addr);
        assert_eq!(idle[0].state, ConnectionState::Idle);

        assert_eq!(client.echo("warm").await.unwrap(), "warm");
        let connected = &client.servers()[0];
        assert_eq!(connected.state, ConnectionState::Connected);
        assert_eq!(
            (connected.jobs_in_flight, connected.requests_pending),
            (0, 0)
        );
    }
}
