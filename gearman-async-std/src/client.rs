//! The client: submits jobs and asks about them, through a [`ClientDriver`]
//! future that drives [`gearman_proto::client::Client`].

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::task::{Context, Poll};
use std::time::Instant;

use futures_channel::mpsc::{UnboundedReceiver as Receiver, UnboundedSender as Sender};
use futures_channel::oneshot;
use futures_core::Stream;
use gearman_proto::client::{Call, Callers, Client as Core};
use gearman_proto::client::{JobLink, RequestAnswer, StepSender};

use crate::Error;
use crate::driver::{Driven, Driver, Sockets};
use crate::transport::{Connector, TcpConnector};
use gearman_proto::observe::ServerState;

/// A Gearman client: cheap to clone, usable from many tasks at once. All
/// clones share one connection per server, with any number of jobs in flight
/// on each.
///
/// [`Client::new`] returns the client together with its [`ClientDriver`], a
/// future that does all of the client's I/O. Spawn it on the executor you
/// use (`async_std::task::spawn(driver)`, `smol::spawn(driver).detach()`),
/// or run it alongside your code; nothing happens until it is polled. It
/// connects lazily, reconnects with backoff, and ends once the last clone
/// and the last [`Job`] are dropped, or once [closed](Client::close).
///
/// Run in one task with the code that submits, the driver adds no hand-off
/// between tasks to a job: the lowest latency per job (see the crate's
/// [Latency](crate#latency) notes and [`ClientDriver::run_with`]). Any join
/// does it too:
///
/// ```no_run
/// use futures_lite::future;
/// use gearman_async_std::{Client, JobOutcome, JobRequest};
///
/// # fn main() -> Result<(), gearman_async_std::Error> {
/// async_std::task::block_on(async {
///     let (client, driver) = Client::new(["127.0.0.1:4730"])?;
///     let work = async move {
///         let outcome = client.submit(JobRequest::new("reverse", "hello")).await;
///         drop(client); // the driver ends once the last client is gone
///         outcome
///     };
///     let (outcome, ()) = future::zip(work, driver).await;
///     assert_eq!(outcome?, JobOutcome::Complete("olleh".into()));
///     Ok(())
/// })
/// # }
/// ```
///
/// Spawned:
///
/// ```no_run
/// use gearman_async_std::{Client, JobOutcome, JobRequest};
///
/// # fn main() -> Result<(), gearman_async_std::Error> {
/// smol::block_on(async {
///     let (client, driver) = Client::new(["127.0.0.1:4730"])?;
///     smol::spawn(driver).detach();
///     match client.submit(JobRequest::new("reverse", "hello")).await? {
///         JobOutcome::Complete(result) => assert_eq!(result, "olleh"),
///         other => println!("the job did not complete: {other:?}"),
///     }
///     Ok(())
/// })
/// # }
/// ```
#[derive(Clone)]
pub struct Client {
    commands: Sender<Command>,
    next_key: Arc<AtomicU64>,
    /// The driver's state, for applying a request in the caller's task
    /// when the driver is idle (see [`Client::send`]).
    driver: SharedDriver,
}

/// Its servers and the number of jobs in flight.
impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &*lock(&self.driver) {
            Some(driver) => driver.parts().0.fmt_overview("Client", f),
            None => f.write_str("Client { shut down }"),
        }
    }
}

/// The driver's state, shared by the [`ClientDriver`] that polls it and the
/// clients that may act on it directly; `None` once the driver is dropped.
type SharedDriver = Arc<Mutex<Option<Driver<Driving>>>>;

/// The future that does a [`Client`]'s I/O: connects, writes, reads, and
/// times out requests. It completes once every [`Client`] clone and every
/// [`Job`] is dropped, or once the client is [closed](Client::close). Dropping it earlier ends every pending job and
/// request with [`Error::Shutdown`].
#[must_use = "the client does nothing unless its driver is spawned or polled"]
pub struct ClientDriver {
    driver: SharedDriver,
}

impl std::fmt::Debug for ClientDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientDriver").finish_non_exhaustive()
    }
}

impl Future for ClientDriver {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match lock(&self.driver).as_mut() {
            Some(driver) => Pin::new(driver).poll(cx),
            None => Poll::Ready(()),
        }
    }
}

impl ClientDriver {
    /// Runs `work` (the code that submits and awaits jobs) together with
    /// this driver in the calling task, until `work` completes, and returns
    /// its output. The driver can be run on afterwards (awaited, or passed
    /// to `run_with` again) or dropped.
    ///
    /// This is the joined form the crate's [Latency](crate#latency) notes
    /// recommend, with one saving over a plain join: what the driver hands
    /// to `work` (a job's outcome) does not make the task wake itself,
    /// since `work` is polled right after the driver anyway; and when
    /// `work` wakes itself while polled (`FuturesUnordered` does, each time
    /// all of its futures are pending) or queues requests for the driver,
    /// the two are polled again at once, up to four times, rather than
    /// through the executor.
    ///
    /// ```no_run
    /// use gearman_async_std::{Client, JobOutcome, JobRequest};
    ///
    /// # fn main() -> Result<(), gearman_async_std::Error> {
    /// smol::block_on(async {
    ///     let (client, mut driver) = Client::new(["127.0.0.1:4730"])?;
    ///     let outcome = driver
    ///         .run_with(client.submit(JobRequest::new("reverse", "hello")))
    ///         .await?;
    ///     assert_eq!(outcome, JobOutcome::Complete("olleh".into()));
    ///     Ok(())
    /// })
    /// # }
    /// ```
    pub async fn run_with<F: Future>(&mut self, work: F) -> F::Output {
        crate::run_with::run_with(self, work).await
    }
}

impl Drop for ClientDriver {
    fn drop(&mut self) {
        // Pending jobs and requests end with `Error::Shutdown` as their
        // senders go, and the connections close; dropped outside the lock.
        let driver = lock(&self.driver).take();
        drop(driver);
    }
}

fn lock(driver: &SharedDriver) -> MutexGuard<'_, Option<Driver<Driving>>> {
    driver
        .lock()
        .unwrap_or_else(|poisoned| end_poisoned(driver, poisoned.into_inner()))
}

/// A panic while the state was held (in the driver or in a caller's task
/// applying a command) may have left the state machine half-changed: end
/// the client, as dropping its driver would, so pending jobs and requests
/// get [`Error::Shutdown`] and later calls are refused.
fn end_poisoned<'a>(
    driver: &SharedDriver,
    mut guard: MutexGuard<'a, Option<Driver<Driving>>>,
) -> MutexGuard<'a, Option<Driver<Driving>>> {
    if guard.take().is_some() {
        tracing::error!("a panic interrupted the client's state; shutting down");
    }
    driver.clear_poison();
    guard
}

/// Ends the client at once when a caller's task panics holding the state
/// (the guard declared after this one poisons the lock first), rather than
/// when the driver next wakes.
struct EndOnPanic<'a>(&'a SharedDriver);

impl Drop for EndOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            drop(lock(self.0));
        }
    }
}

/// A caller's call, for the driver.
type Command = Call<StepSender, Reply>;

type Reply = oneshot::Sender<Result<RequestAnswer, Error>>;

struct Driving {
    commands: Receiver<Command>,
    commands_closed: bool,
    /// Answered through each request's oneshot.
    callers: Callers<Reply>,
}

impl Driving {
    /// Nothing in flight: a request applied now goes out alone, so writing
    /// it at once loses no batching with others.
    fn idle(&self) -> bool {
        self.callers.is_idle()
    }

    /// Applies `command` after the ones still queued, in the caller's task.
    fn command_directly(&mut self, core: &mut Core, command: Command, now: Instant) {
        while let Ok(queued) = self.commands.try_recv() {
            self.callers.call(core, queued, now);
        }
        self.callers.call(core, command, now);
    }
}

impl Driven for Driving {
    type Core = Core;

    fn poll_input(
        &mut self,
        core: &mut Core,
        cx: &mut Context<'_>,
        now: Instant,
        _sockets: &mut Sockets,
    ) -> bool {
        let mut progressed = false;
        while !self.commands_closed {
            match Pin::new(&mut self.commands).poll_next(cx) {
                Poll::Pending => break,
                Poll::Ready(Some(command)) => {
                    progressed = true;
                    self.callers.call(core, command, now);
                }
                Poll::Ready(None) => {
                    progressed = true;
                    self.commands_closed = true;
                    self.callers.handles_gone();
                }
            }
        }
        progressed
    }

    fn deliver(&mut self, core: &mut Core, now: Instant) {
        self.callers.deliver(core, now);
    }

    fn finished(&self) -> bool {
        self.callers.finished()
    }
}

impl Client {
    gearman_proto::client_constructors! {
        (Client, ClientDriver);
        /// Also returns the driver to spawn. Fails only when `servers` is empty.
        ///
        /// ```no_run
        /// # async fn demo() -> Result<(), gearman_async_std::Error> {
        /// use std::net::SocketAddr;
        /// use gearman_async_std::{Admin, Client};
        ///
        /// let socket: SocketAddr = "127.0.0.1:4730".parse().unwrap();
        /// let (client, driver) = Client::new([socket])?;
        /// let (client, driver) = Client::new([("localhost", 4730)])?;
        /// let admin = Admin::connect(socket).await?;
        /// # Ok(()) }
        /// ```
        new;
        /// Also returns the driver to spawn.
        with_config;
    }

    /// The client over `core`, and the driver to spawn.
    fn start(core: Core, connector: Arc<dyn Connector>) -> Result<(Client, ClientDriver), Error> {
        let (commands, commands_rx) = futures_channel::mpsc::unbounded();
        let driving = Driving {
            commands: commands_rx,
            commands_closed: false,
            // A caller that is gone stopped waiting; nothing to do then.
            callers: Callers::new(|reply, answer| {
                let _ = reply.send(answer);
            }),
        };
        let driver: SharedDriver =
            Arc::new(Mutex::new(Some(Driver::new(core, driving, connector))));
        let client = Client {
            commands,
            next_key: Arc::new(AtomicU64::new(0)),
            driver: driver.clone(),
        };
        let driver = ClientDriver { driver };
        Ok((client, driver))
    }

    /// Hands `command` to the driver; false once the driver is gone.
    ///
    /// When nothing else is in flight and the driver is not running, the
    /// command is applied here and its request written at once from the
    /// caller's task: the driver's task is not woken (a thread hand-off on a
    /// multi-threaded executor, a wasted turn of the reactor when joined in
    /// one task). Otherwise it is queued for the driver, which then writes
    /// it together with the others.
    fn send(&self, command: Command) -> bool {
        let _end = EndOnPanic(&self.driver);
        let guard = match self.driver.try_lock() {
            Ok(guard) => Some(guard),
            Err(TryLockError::Poisoned(poisoned)) => {
                Some(end_poisoned(&self.driver, poisoned.into_inner()))
            }
            Err(TryLockError::WouldBlock) => None,
        };
        if let Some(mut guard) = guard {
            if let Some(driver) = guard.as_mut().filter(|driver| driver.parts().1.idle()) {
                driver.act_directly(|core, driving, now| {
                    driving.command_directly(core, command, now);
                });
                return true;
            }
        }
        // Refused once the driver is gone: it held the receiver.
        self.commands.unbounded_send(command).is_ok()
    }

    /// Each configured server's connection state, jobs in flight and
    /// requests awaiting a reply, read from the driver's state (for health
    /// checks and metrics); empty once the driver is dropped.
    pub fn servers(&self) -> Vec<ServerState> {
        match &*lock(&self.driver) {
            Some(driver) => driver.parts().0.servers().collect(),
            None => Vec::new(),
        }
    }

    gearman_proto::client_requests! {
        async, replies: oneshot::channel;
        /// Closes the client gracefully and returns once it has closed: what
        /// was submitted before (from any clone) goes on until it ends, a
        /// background job until the server has queued it, a foreground one
        /// until its result, then every connection closes and the
        /// [`ClientDriver`] completes. The driver must be polled meanwhile, as
        /// for any call. With
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
        /// use gearman_async_std::{Client, JobRequest};
        ///
        /// # fn main() -> Result<(), gearman_async_std::Error> {
        /// smol::block_on(async {
        ///     let (client, driver) = Client::new(["127.0.0.1:4730"])?;
        ///     smol::spawn(driver).detach();
        ///     for i in 0..100 {
        ///         drop(client.submit(JobRequest::new("index", i.to_string()).in_background()));
        ///     }
        ///     // Returns once the server has queued all hundred.
        ///     client.close().await
        /// })
        /// # }
        /// ```
        close;
    }
}

gearman_proto::async_job! {
    "gearman_async_std", "futures_lite::StreamExt", Link;
    /// The job's server and handle, once the server has acknowledged it
    /// and the job has been polled since. The acknowledgement itself does
    /// not wake the job's task (it completes nothing); the handle is taken
    /// in at the job's next poll, whatever woke it.
    handle;
}

/// A dropped job asks the driver to forget it.
enum Link {}

impl JobLink for Link {
    type Commands = Sender<Command>;

    fn forget(commands: &Self::Commands, key: u64) {
        let _ = commands.unbounded_send(Command::Forget { key });
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::time::Duration;

    use async_io::Timer;
    use futures_lite::future;
    use gearman_proto::client::{ClientConfig, ClientError, JobRequest, ServerId};
    use gearman_proto::observe::ConnectionState;

    use super::*;

    /// Runs `work` with `driver`; panics if it has not finished in 10 s
    /// (the guard is polled first, so that it wins once due).
    fn run<T>(driver: &mut ClientDriver, work: impl Future<Output = T>) -> T {
        let guard = async {
            Timer::after(Duration::from_secs(10)).await;
            panic!("the request never ended: its deadline was missed");
        };
        future::block_on(future::or(guard, driver.run_with(work)))
    }

    /// Awaits `work` without running the driver, for at most 2 s.
    fn within_2s<T>(work: impl Future<Output = T>) -> Option<T> {
        let late = async {
            Timer::after(Duration::from_secs(2)).await;
            None
        };
        future::block_on(future::or(async { Some(work.await) }, late))
    }

    // A close applied in the caller's task (nothing in flight) must wake
    // the driver, which then completes though a clone still holds the client.
    #[test]
    fn closing_an_idle_client_completes_its_driver() {
        let (client, driver) = Client::new(["127.0.0.1:9"]).unwrap();
        let other = client.clone();
        let executor = smol::LocalExecutor::new();
        let driven = executor.spawn(driver);
        let closed = future::block_on(executor.run(async {
            // The driver runs once and waits: no timer, no command.
            future::yield_now().await;
            client.close().await
        }));
        assert!(closed.is_ok(), "{closed:?}");
        // Only the close's wake-up can have scheduled the driver.
        assert_eq!(within_2s(executor.run(driven)), Some(()), "not woken");
        let late = future::block_on(other.echo("late"));
        assert!(matches!(late, Err(Error::Shutdown)), "{late:?}");
    }

    #[test]
    fn debug_shows_the_servers_and_the_jobs_in_flight() {
        // Never polled, the driver never connects: the job waits in the state.
        let (client, _driver) = Client::new(["127.0.0.1:9"]).unwrap();
        let shown =
            |jobs| format!("Client {{ servers: [\"127.0.0.1:9\"], jobs_in_flight: {jobs} }}");
        assert_eq!(format!("{client:?}"), shown(0));
        let _job = client.submit(JobRequest::new("f", "x"));
        assert_eq!(format!("{client:?}"), shown(1));
    }

    // A panic while the state machine was held may have left it
    // half-changed: the client ends as if its driver were dropped.
    #[test]
    fn a_panic_holding_the_state_shuts_the_client_down() {
        // Never polled, the driver never connects: the job waits in the state.
        let (client, _driver) = Client::new(["127.0.0.1:9"]).unwrap();
        let waiting = client.submit(JobRequest::new("f", "x"));
        assert!(!lock(&client.driver).as_ref().unwrap().parts().1.idle());

        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _held = client.driver.lock();
            panic!("a bug while holding the state");
        }));
        assert!(panicked.is_err());

        let refused = within_2s(client.echo("late"));
        assert!(matches!(refused, Some(Err(Error::Shutdown))), "{refused:?}");
        let ended = within_2s(waiting);
        assert!(matches!(ended, Some(Err(Error::Shutdown))), "{ended:?}");
        let late = within_2s(client.submit(JobRequest::new("f", "late")));
        assert!(matches!(late, Some(Err(Error::Shutdown))), "{late:?}");
    }

    #[test]
    fn a_request_written_from_the_callers_task_still_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        // A server that answers the first ECHO_REQ and nothing after.
        let server = std::thread::spawn(move || {
            let (mut socket, _) = listener.accept().unwrap();
            let mut header = [0; 12];
            socket.read_exact(&mut header).unwrap();
            assert_eq!(&header[..8], b"\0REQ\0\0\0\x10");
            let size = u32::from_be_bytes(header[8..].try_into().unwrap());
            let mut data = vec![0; size as usize];
            socket.read_exact(&mut data).unwrap();
            header[..8].copy_from_slice(b"\0RES\0\0\0\x11");
            socket.write_all(&header).unwrap();
            socket.write_all(&data).unwrap();
            let mut buf = [0; 1024];
            while socket.read(&mut buf).is_ok_and(|n| n > 0) {}
        });
        let config =
            ClientConfig::new([addr]).with_request_timeout(Some(Duration::from_millis(100)));
        let (client, mut driver) = Client::with_config(config).unwrap();

        // The first request connects, through the driver.
        let first = run(&mut driver, client.echo("connecting"));
        assert_eq!(first.unwrap(), "connecting");
        // Connected and idle, the first deadline past (no timer armed): the
        // next one is written from this task, and the driver must still be
        // told about its deadline.
        run(&mut driver, Timer::after(Duration::from_millis(200)));
        assert!(lock(&client.driver).as_ref().unwrap().parts().1.idle());
        let second = run(&mut driver, client.echo("direct"));
        assert!(
            matches!(second, Err(Error::Client(ClientError::Timeout { .. }))),
            "{second:?}"
        );

        drop(client);
        drop(driver);
        server.join().unwrap();
    }

    #[test]
    fn servers_show_a_connected_server_and_a_down_one() {
        let server = future::block_on(crate::Server::bind("127.0.0.1:0")).unwrap();
        let up = server.local_addr().unwrap().to_string();
        std::thread::spawn(move || future::block_on(server.serve()));
        // A port just freed: connecting to it is refused.
        let down = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .to_string();
        let (client, mut driver) = Client::new([up.clone(), down.clone()]).unwrap();

        assert_eq!(run(&mut driver, client.echo("warm")).unwrap(), "warm");
        let lost = run(&mut driver, client.echo_on(ServerId(1), "lost"));
        assert!(lost.is_err(), "{lost:?}");

        let servers = client.servers();
        assert_eq!(servers.len(), 2);
        assert_eq!(servers[0].addr, up);
        assert_eq!(servers[0].state, ConnectionState::Connected);
        assert_eq!(
            (servers[0].jobs_in_flight, servers[0].requests_pending),
            (0, 0)
        );
        assert_eq!(servers[1].addr, down);
        assert!(
            matches!(servers[1].state, ConnectionState::BackingOff { .. }),
            "{:?}",
            servers[1].state
        );
        drop(driver);
        assert!(client.servers().is_empty());
    }
}
