//! The embedded job server ([`gearman_proto::server::Server`]) served on a
//! TCP listener.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gearman_proto::endpoint::Glue;
use gearman_proto::server::{Server as Core, ServerConfig, Serving};
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::driver::{self, Io};
use crate::transport::{Acceptor, Connection, TcpConnector};

pub use gearman_proto::server::DEFAULT_HANDSHAKE_TIMEOUT;

/// A Gearman job server on a TCP listener, speaking gearmand 1.1's protocol
/// (binary and admin text) so that any client, worker or `gearadmin` works
/// with it.
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// let server = gearman_tokio::Server::bind("127.0.0.1:4730").await?;
/// println!("listening on {}", server.local_addr()?);
/// server.serve().await
/// # }
/// ```
pub struct Server {
    listener: TcpListener,
    config: ServerConfig,
    acceptor: Option<Arc<dyn Acceptor>>,
    handshake_timeout: Duration,
}

gearman_proto::server_builder!(Server, TcpListener);

pub(crate) enum Command {
    Accepted(Connection, SocketAddr),
}

impl Glue<Io> for Serving {
    type Core = Core;
    type Command = Command;

    fn command(&mut self, core: &mut Core, command: Command, now: Instant, io: &mut Io) {
        let Command::Accepted(stream, peer) = command;
        if let Some(conn) = self.admit(core, peer, now) {
            io.attach(conn, stream);
        }
    }

    fn deliver(&mut self, core: &mut Core, _now: Instant) {
        self.observe(core);
    }

    fn finished(&self) -> bool {
        self.stopped()
    }
}

impl Server {
    /// Binds a listener on `addr` (port 0 picks a free port) with the
    /// default configuration. Outside a Tokio runtime it fails with an
    /// `io::Error` wrapping [`Error::NoRuntime`](crate::Error::NoRuntime).
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<Server> {
        crate::runtime_io()?;
        Ok(Server::from_listener(TcpListener::bind(addr).await?))
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until an admin `shutdown` (or, after `shutdown graceful`, until
    /// no job is left). Errors accepting a connection are logged and
    /// retried, so this returns `Ok`, or outside a Tokio runtime an
    /// `io::Error` wrapping [`Error::NoRuntime`](crate::Error::NoRuntime).
    pub async fn serve(self) -> io::Result<()> {
        self.serve_until(std::future::pending::<()>()).await
    }

    /// Like [`serve`](Server::serve), but also stops when `shutdown`
    /// completes (a signal, a cancellation token, a oneshot...). Open
    /// connections are closed.
    pub async fn serve_until(self, shutdown: impl Future) -> io::Result<()> {
        crate::runtime_io()?;
        let core = Server::core(self.config);
        let (listener, acceptor, handshake_timeout) =
            (self.listener, self.acceptor, self.handshake_timeout);
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let accept = async move {
            // Handshakes in progress; they end with the server.
            let mut handshakes = JoinSet::new();
            loop {
                while handshakes.try_join_next().is_some() {}
                match listener.accept().await {
                    Ok((stream, peer)) => {
                        tracing::debug!(%peer, "accepted");
                        let Some(acceptor) = &acceptor else {
                            if commands
                                .send(Command::Accepted(stream.into(), peer))
                                .is_err()
                            {
                                return;
                            }
                            continue;
                        };
                        // Set here, since the acceptor's stream hides the socket
                        // from the driver.
                        let _ = stream.set_nodelay(true);
                        let accepting = acceptor.accept(stream, peer);
                        let commands = commands.clone();
                        handshakes.spawn(async move {
                            match tokio::time::timeout(handshake_timeout, accepting).await {
                                Ok(Ok(stream)) => {
                                    let _ = commands.send(Command::Accepted(stream, peer));
                                }
                                Ok(Err(err)) => tracing::warn!(%peer, %err, "handshake failed"),
                                Err(_) => tracing::warn!(%peer, "handshake timed out"),
                            }
                        });
                    }
                    Err(err) => {
                        // Out of descriptors, usually: wait a little rather than spin.
                        tracing::warn!(%err, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                }
            }
        };
        tokio::select! {
            () = driver::run(core, Serving::default(), commands_rx, Arc::new(TcpConnector)) => {}
            () = accept => {}
            _ = shutdown => tracing::info!("server stopped"),
        }
        Ok(())
    }
}
