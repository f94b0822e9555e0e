//! The embedded job server ([`gearman_proto::server::Server`]) served on an
//! async-io TCP listener.

use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_io::{Async, Timer};
use futures_core::Stream;
use futures_util::stream::FuturesUnordered;
use gearman_proto::IntoServerAddr;
use gearman_proto::server::Serving;
use gearman_proto::server::{Server as Core, ServerConfig};

use crate::driver::{Driven, Driver, Sockets, resolve};
use crate::transport::{Acceptor, Connection, TcpConnector};

pub use gearman_proto::server::DEFAULT_HANDSHAKE_TIMEOUT;

/// Connections accepted in one round, so a flood of connects cannot starve
/// the connections already open.
const ACCEPTS_PER_ROUND: usize = 64;
/// Pause after a failed accept (out of descriptors, usually) rather than spin.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// A Gearman job server on a TCP listener, speaking gearmand 1.1's protocol
/// (binary and admin text) so that any client, worker or `gearadmin` works
/// with it. [`serve`](Server::serve) is one future doing all of the
/// server's I/O; it spawns nothing.
///
/// ```no_run
/// # fn main() -> std::io::Result<()> {
/// async_std::task::block_on(async {
///     let server = gearman_async_std::Server::bind("127.0.0.1:4730").await?;
///     println!("listening on {}", server.local_addr()?);
///     server.serve().await
/// })
/// # }
/// ```
pub struct Server {
    listener: Async<TcpListener>,
    config: ServerConfig,
    acceptor: Option<Arc<dyn Acceptor>>,
    handshake_timeout: Duration,
}

gearman_proto::server_builder!(Server, Async<TcpListener>);

/// An accepted peer going through the acceptor, bounded by the handshake
/// timeout.
type Handshake = Pin<Box<dyn Future<Output = (SocketAddr, io::Result<Connection>)> + Send>>;

struct Listening {
    listener: Async<TcpListener>,
    accept_pause: Option<Timer>,
    /// The listener may have a connection waiting that no wake-up
    /// announced: accept before asking the reactor.
    acceptable: bool,
    serving: Serving,
    acceptor: Option<Arc<dyn Acceptor>>,
    handshake_timeout: Duration,
    handshakes: FuturesUnordered<Handshake>,
}

impl Listening {
    /// Hands an accepted socket to the core, through the acceptor if any.
    fn admit(
        &mut self,
        core: &mut Core,
        stream: Async<std::net::TcpStream>,
        peer: SocketAddr,
        now: Instant,
        sockets: &mut Sockets,
    ) {
        let Some(acceptor) = &self.acceptor else {
            let conn = core.accept(peer.to_string(), now);
            sockets.attach(conn, Connection::from(stream));
            return;
        };
        // Set here, since the acceptor's stream hides the socket from the
        // driver.
        let _ = stream.get_ref().set_nodelay(true);
        let accepting = acceptor.accept(stream, peer);
        let timeout = self.handshake_timeout;
        self.handshakes.push(Box::pin(async move {
            let timed_out = async {
                Timer::after(timeout).await;
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "handshake not finished in time",
                ))
            };
            (peer, futures_lite::future::or(accepting, timed_out).await)
        }));
    }

    /// Serves the peers whose handshakes finished; drops those that failed.
    fn poll_handshakes(
        &mut self,
        core: &mut Core,
        cx: &mut Context<'_>,
        now: Instant,
        sockets: &mut Sockets,
    ) -> bool {
        let mut progressed = false;
        while let Poll::Ready(Some((peer, result))) = Pin::new(&mut self.handshakes).poll_next(cx) {
            progressed = true;
            match result {
                Ok(connection) => {
                    if let Some(conn) = self.serving.admit(core, peer, now) {
                        tracing::debug!(%peer, "handshake done");
                        sockets.attach(conn, connection);
                    }
                }
                Err(err) => tracing::warn!(%peer, %err, "handshake failed; peer dropped"),
            }
        }
        progressed
    }

    fn accept(
        &mut self,
        core: &mut Core,
        cx: &mut Context<'_>,
        now: Instant,
        sockets: &mut Sockets,
    ) -> bool {
        if let Some(pause) = &mut self.accept_pause {
            if Pin::new(pause).poll(cx).is_pending() {
                return false;
            }
            self.accept_pause = None;
        }
        let mut progressed = false;
        for _ in 0..ACCEPTS_PER_ROUND {
            // Asked first once an accept found nothing, so that a round with
            // no connect waiting costs no system call.
            if !self.acceptable {
                match self.listener.poll_readable(cx) {
                    Poll::Ready(Ok(())) => self.acceptable = true,
                    Poll::Ready(Err(err)) => {
                        tracing::warn!(%err, "listener failed");
                        return progressed;
                    }
                    Poll::Pending => return progressed,
                }
            }
            match self.listener.get_ref().accept() {
                Ok((stream, peer)) => {
                    progressed = true;
                    if !self.serving.accepting() {
                        continue;
                    }
                    match Async::new(stream) {
                        Ok(stream) => {
                            tracing::debug!(%peer, "accepted");
                            self.admit(core, stream, peer, now, sockets);
                        }
                        Err(err) => tracing::warn!(%peer, %err, "accepted socket unusable"),
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => self.acceptable = false,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => {
                    tracing::warn!(%err, "accept failed");
                    let mut pause = Timer::after(ACCEPT_PAUSE);
                    // Registers the waker for the end of the pause.
                    let _ = Pin::new(&mut pause).poll(cx);
                    self.accept_pause = Some(pause);
                    return progressed;
                }
            }
        }
        // More may be waiting: come back after the other sources had a turn.
        cx.waker().wake_by_ref();
        progressed
    }
}

impl Driven for Listening {
    type Core = Core;

    fn poll_input(
        &mut self,
        core: &mut Core,
        cx: &mut Context<'_>,
        now: Instant,
        sockets: &mut Sockets,
    ) -> bool {
        let accepted = self.accept(core, cx, now, sockets);
        self.poll_handshakes(core, cx, now, sockets) || accepted
    }

    fn deliver(&mut self, core: &mut Core, _now: Instant) {
        self.serving.observe(core);
    }

    fn finished(&self) -> bool {
        self.serving.stopped()
    }
}

impl Server {
    /// Binds a listener on `addr` (`"host:port"`, a `SocketAddr`, `(host,
    /// port)`: any [`IntoServerAddr`]; port 0 picks a free port) with the
    /// default configuration.
    pub async fn bind(addr: impl IntoServerAddr) -> io::Result<Server> {
        let addr = addr.into_server_addr();
        let addr = addr.as_str();
        let mut last_error = None;
        for candidate in resolve(addr).await? {
            match Async::<TcpListener>::bind(candidate) {
                Ok(listener) => return Ok(Server::from_listener(listener)),
                Err(err) => last_error = Some(err),
            }
        }
        Err(last_error.unwrap_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("{addr} resolves to no address"),
            )
        }))
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.get_ref().local_addr()
    }

    /// Serves until an admin `shutdown` (or, after `shutdown graceful`, until
    /// no job is left). Errors accepting a connection are logged and
    /// retried, so this only returns `Ok`.
    pub async fn serve(self) -> io::Result<()> {
        self.serve_until(std::future::pending()).await
    }

    /// Like [`serve`](Server::serve), but also stops when `shutdown`
    /// completes (a signal, a channel closing...). Open connections are
    /// flushed and closed.
    pub async fn serve_until(self, shutdown: impl Future<Output = ()>) -> io::Result<()> {
        let core = Server::core(self.config);
        let listening = Listening {
            listener: self.listener,
            accept_pause: None,
            acceptable: true,
            serving: Serving::default(),
            acceptor: self.acceptor,
            handshake_timeout: self.handshake_timeout,
            handshakes: FuturesUnordered::new(),
        };
        // The server connects nowhere; its connector is never asked.
        let mut driver = Driver::new(core, listening, Arc::new(TcpConnector));
        let mut shutdown = pin!(shutdown);
        let mut stopping = false;
        std::future::poll_fn(|cx| {
            if !stopping && shutdown.as_mut().poll(cx).is_ready() {
                stopping = true;
                tracing::info!("server stopping");
                driver.parts_mut().1.serving.stop();
            }
            Pin::new(&mut driver).poll(cx)
        })
        .await;
        Ok(())
    }
}
