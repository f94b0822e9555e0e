//! The embedded job server ([`gearman_proto::server::Server`]) served on a
//! TCP listener, with an accept thread and a timer thread; each connection's
//! reader thread drives the server state machine for its input.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use gearman_proto::endpoint::Glue;
use gearman_proto::server::{Server as Core, ServerConfig, Serving};

use crate::driver::{Dialer, Driven, Io, Machine, Remote};
use crate::transport::{Acceptor, Connection};

pub use gearman_proto::server::DEFAULT_HANDSHAKE_TIMEOUT;

/// A Gearman job server on a TCP listener, speaking gearmand 1.1's protocol
/// (binary and admin text) so that any client, worker or `gearadmin` works
/// with it.
///
/// ```no_run
/// # fn main() -> std::io::Result<()> {
/// let server = gearman_blocking::Server::bind("127.0.0.1:4730")?;
/// println!("listening on {}", server.local_addr()?);
/// server.serve() // until an admin `shutdown`
/// # }
/// ```
pub struct Server {
    listener: TcpListener,
    config: ServerConfig,
    acceptor: Option<Arc<dyn Acceptor>>,
    handshake_timeout: Duration,
    remote: Remote<Serving>,
}

gearman_proto::server_builder!(Server, TcpListener, remote: Remote::new());

pub(crate) enum Command {
    Accepted(Connection, SocketAddr),
    Stop,
}

impl Driven for Serving {}

impl Glue<Io> for Serving {
    type Core = Core;
    type Command = Command;

    fn command(&mut self, core: &mut Core, command: Command, now: Instant, io: &mut Io) {
        match command {
            Command::Accepted(connection, peer) => {
                if let Some(conn) = self.admit(core, peer, now) {
                    io.attach(conn, connection);
                }
            }
            Command::Stop => {
                tracing::info!("server stopped");
                self.stop();
            }
        }
    }

    fn deliver(&mut self, core: &mut Core, _now: Instant) {
        self.observe(core);
    }

    fn finished(&self) -> bool {
        self.stopped()
    }
}

/// Stops a [`Server`] that is serving; cheap to clone, usable from any thread.
#[derive(Clone)]
pub struct StopHandle {
    remote: Remote<Serving>,
}

impl std::fmt::Debug for StopHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StopHandle").finish_non_exhaustive()
    }
}

impl StopHandle {
    /// Asks the server to stop: it closes every connection and its listener,
    /// and [`Server::serve`] returns. Returns at once.
    pub fn stop(&self) {
        self.remote.send(Command::Stop);
    }
}

/// A [`Server`] serving on its own threads, from [`Server::spawn`]. Dropping
/// it stops the server.
#[derive(Debug)]
pub struct RunningServer {
    addr: SocketAddr,
    stop: StopHandle,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl RunningServer {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// A handle that stops the server.
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// Stops the server and waits until its connections and listener are
    /// closed (so the port can be bound again).
    pub fn stop(mut self) -> io::Result<()> {
        self.stop_and_join()
    }

    fn stop_and_join(&mut self) -> io::Result<()> {
        self.stop.stop();
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("server thread panicked"))),
            None => Ok(()),
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        let _ = self.stop_and_join();
    }
}

impl Server {
    /// Binds a listener on `addr` (port 0 picks a free port) with the
    /// default configuration.
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<Server> {
        Ok(Server::from_listener(TcpListener::bind(addr)?))
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// A handle that stops this server once it serves (from a signal
    /// handler thread, say).
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle {
            remote: self.remote.clone(),
        }
    }

    /// Serves on the calling thread until a [`StopHandle`] stops it or an
    /// admin `shutdown` (or, after `shutdown graceful`, until no job is
    /// left). Errors accepting a connection are logged and retried.
    pub fn serve(self) -> io::Result<()> {
        let Server {
            listener,
            config,
            acceptor,
            handshake_timeout,
            remote,
        } = self;
        let acceptor = acceptor.map(|acceptor| Handshakes {
            acceptor,
            timeout: handshake_timeout,
        });
        serve(listener, config, acceptor, remote)
    }

    /// Serves on threads of its own; the returned [`RunningServer`] stops it.
    pub fn spawn(self) -> io::Result<RunningServer> {
        let addr = self.local_addr()?;
        let stop = self.stop_handle();
        let thread = thread::Builder::new()
            .name("gearman-server".into())
            .spawn(move || self.serve())?;
        Ok(RunningServer {
            addr,
            stop,
            thread: Some(thread),
        })
    }
}

/// The timer thread of [`Server::serve`], with an accept thread beside it.
fn serve(
    listener: TcpListener,
    config: ServerConfig,
    handshakes: Option<Handshakes>,
    remote: Remote<Serving>,
) -> io::Result<()> {
    let addr = listener.local_addr()?;
    let core = Server::core(config);
    let machine = Machine::new(Dialer::tcp(), core, |_| Serving::default());
    remote.start(&machine);
    let stopping = Arc::new(AtomicBool::new(false));
    let acceptor = {
        let machine = machine.clone();
        let stopping = stopping.clone();
        thread::Builder::new()
            .name("gearman-accept".into())
            .spawn(move || accept_loop(listener, &machine, handshakes, stopping))?
    };
    machine.run();
    // Wake the acceptor so that it sees the flag and closes the listener.
    stopping.store(true, Ordering::SeqCst);
    let mut wake = addr;
    if wake.ip().is_unspecified() {
        wake.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
    let _ = acceptor.join();
    Ok(())
}

/// An acceptor and how long each peer has to get through it.
struct Handshakes {
    acceptor: Arc<dyn Acceptor>,
    timeout: Duration,
}

fn accept_loop(
    listener: TcpListener,
    machine: &Arc<Machine<Serving>>,
    handshakes: Option<Handshakes>,
    stopping: Arc<AtomicBool>,
) {
    let mut spare = reserve_descriptor();
    loop {
        let accepted = listener.accept();
        if stopping.load(Ordering::SeqCst) {
            return;
        }
        match accepted {
            Ok((stream, peer)) => {
                tracing::debug!(%peer, "accepted");
                if let Err(err) = stream.set_nodelay(true) {
                    tracing::debug!(%peer, %err, "could not set TCP_NODELAY");
                }
                match &handshakes {
                    Some(handshakes) => handshakes.start(stream, peer, machine),
                    None => {
                        if !machine.command(Command::Accepted(Connection::from(stream), peer)) {
                            return;
                        }
                    }
                }
            }
            Err(err) if out_of_descriptors(&err) && spare.is_some() => {
                // Hand the spare back to take the waiting connection and
                // close it: its peer hears at once instead of hanging in
                // the listen queue until a descriptor frees up.
                drop(spare.take());
                if let Ok((refused, peer)) = listener.accept() {
                    tracing::warn!(%peer, "out of descriptors; connection refused");
                    drop(refused);
                }
                spare = reserve_descriptor();
            }
            Err(err) => {
                // Out of descriptors (spare spent), usually: wait a little
                // rather than spin.
                tracing::warn!(%err, "accept failed");
                thread::sleep(Duration::from_millis(100));
                if spare.is_none() {
                    spare = reserve_descriptor();
                }
            }
        }
    }
}

impl Handshakes {
    /// Runs the acceptor on a thread of the connection's own, so that a
    /// peer slow to finish holds up no other; it is dropped when the
    /// timeout passes.
    fn start(&self, stream: TcpStream, peer: SocketAddr, machine: &Arc<Machine<Serving>>) {
        let acceptor = self.acceptor.clone();
        let timeout = self.timeout;
        let machine = machine.clone();
        let spawned = thread::Builder::new()
            .name("gearman-handshake".into())
            .spawn(move || {
                // Bounds an acceptor that does not watch the time itself.
                let bounded = stream
                    .set_read_timeout(Some(timeout))
                    .and_then(|()| stream.set_write_timeout(Some(timeout)));
                let accepted = bounded.and_then(|()| acceptor.accept(stream, peer, timeout));
                match accepted.and_then(|connection| {
                    // The reader thread reads without a timeout.
                    connection.0.set_read_timeout(None)?;
                    Ok(connection)
                }) {
                    Ok(connection) => {
                        machine.command(Command::Accepted(connection, peer));
                    }
                    Err(err) => tracing::warn!(%peer, %err, "handshake failed"),
                }
            });
        if let Err(err) = spawned {
            tracing::warn!(%peer, %err, "could not start a handshake thread");
        }
    }
}

/// A descriptor kept in reserve, so that a connection can still be accepted
/// (and closed) when the process has none left.
fn reserve_descriptor() -> Option<std::fs::File> {
    std::fs::File::open(if cfg!(windows) { "NUL" } else { "/dev/null" }).ok()
}

/// Whether `err` says the process (EMFILE) or the system (ENFILE) has no
/// descriptor left. The numbers are the same on Linux, the BSDs and macOS.
fn out_of_descriptors(err: &io::Error) -> bool {
    cfg!(unix) && matches!(err.raw_os_error(), Some(23 | 24))
}
