//! The embedded job server ([`gearman_proto::server::Server`]) served on an
//! async-io TCP listener.

use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::pin::{Pin, pin};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_io::{Async, Timer};
use gearman_proto::IntoServerAddr;
use gearman_proto::server::Serving;
use gearman_proto::server::{Server as Core, ServerConfig};

use crate::driver::{Driven, Driver, Sockets, resolve};

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
#[derive(Debug)]
pub struct Server {
    listener: Async<TcpListener>,
    config: ServerConfig,
}

struct Listening {
    core: Core,
    listener: Async<TcpListener>,
    accept_pause: Option<Timer>,
    serving: Serving,
}

impl Listening {
    fn accept(&mut self, cx: &mut Context<'_>, now: Instant, sockets: &mut Sockets) -> bool {
        if let Some(pause) = &mut self.accept_pause {
            if Pin::new(pause).poll(cx).is_pending() {
                return false;
            }
            self.accept_pause = None;
        }
        let mut progressed = false;
        for _ in 0..ACCEPTS_PER_ROUND {
            match self.listener.get_ref().accept() {
                Ok((stream, peer)) => {
                    progressed = true;
                    if !self.serving.accepting() {
                        continue;
                    }
                    match Async::new(stream) {
                        Ok(stream) => {
                            tracing::debug!(%peer, "accepted");
                            let conn = self.core.accept(peer.to_string(), now);
                            sockets.attach(conn, stream);
                        }
                        Err(err) => tracing::warn!(%peer, %err, "accepted socket unusable"),
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    match self.listener.poll_readable(cx) {
                        Poll::Ready(Ok(())) => continue,
                        Poll::Ready(Err(err)) => tracing::warn!(%err, "listener failed"),
                        Poll::Pending => {}
                    }
                    return progressed;
                }
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

    fn core(&mut self) -> &mut Core {
        &mut self.core
    }

    fn poll_input(&mut self, cx: &mut Context<'_>, now: Instant, sockets: &mut Sockets) -> bool {
        self.accept(cx, now, sockets)
    }

    fn deliver(&mut self, _now: Instant) {
        self.serving.observe(&mut self.core);
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

    /// Serves on an existing listener with the default configuration
    /// (handles `H:<hostname>:<n>`, this process's id for `getpid`).
    pub fn from_listener(listener: Async<TcpListener>) -> Server {
        let mut config = ServerConfig::new(&hostname());
        config.pid = std::process::id();
        Server { listener, config }
    }

    /// Replaces the configuration (limits, handle prefix, job retries...).
    pub fn with_config(mut self, config: ServerConfig) -> Server {
        self.config = config;
        self
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
        let Server { listener, config } = self;
        let mut core = Core::new(config);
        let now = Instant::now();
        if let Ok(unix) = SystemTime::now().duration_since(UNIX_EPOCH) {
            core.set_wall_clock(unix, now);
        }
        let mut driver = Driver::new(Listening {
            core,
            listener,
            accept_pause: None,
            serving: Serving::default(),
        });
        let mut shutdown = pin!(shutdown);
        let mut stopping = false;
        std::future::poll_fn(|cx| {
            if !stopping && shutdown.as_mut().poll(cx).is_ready() {
                stopping = true;
                tracing::info!("server stopping");
                driver.driven_mut().serving.stop();
            }
            Pin::new(&mut driver).poll(cx)
        })
        .await;
        Ok(())
    }
}

/// The machine's name for job handles, without reaching for libc.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty() && !name.contains(':'))
        .unwrap_or_else(|| "localhost".to_owned())
}
