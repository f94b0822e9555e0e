//! The transport seam: how a client, worker or admin opens its connections
//! ([`Connector`]) and how the server turns an accepted socket into one
//! ([`Acceptor`]). Plain TCP keeps the driver's own readiness-first path;
//! TLS (feature `tls`) and any stream the user brings (a Unix socket, an
//! SSH tunnel, their own TLS) are read and written through futures-io.
//!
//! A connector that is not TCP, over a Unix socket:
//!
//! ```no_run
//! use std::os::unix::net::UnixStream;
//!
//! use async_io::Async;
//! use gearman_async_std::transport::{Connecting, Connection};
//! use gearman_async_std::{Client, ClientConfig};
//!
//! # fn demo() -> Result<(), gearman_async_std::Error> {
//! // Every server address is a socket path here.
//! let unix = |addr: &str| -> Connecting {
//!     let path = addr.to_owned();
//!     Box::pin(async move { Ok(Connection::new(Async::<UnixStream>::connect(path).await?)) })
//! };
//! let (client, driver) =
//!     Client::with_connector(ClientConfig::new(["/run/gearmand.sock"]), unix)?;
//! # let _ = (client, driver); Ok(()) }
//! ```

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::pin::Pin;
use std::task::{Context, Poll};

use async_io::Async;
use futures_io::{AsyncRead, AsyncWrite};

/// Any byte stream the driver can read and write.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Stream for T {}

/// An open connection: a TCP socket, or any [`Stream`].
pub struct Connection(pub(crate) Inner);

pub(crate) enum Inner {
    /// Kept apart so that plain TCP keeps the driver's readiness-first reads
    /// and the writes made straight from a client's task.
    Tcp(Async<TcpStream>),
    Other(Box<dyn Stream>),
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Inner::Tcp(stream) => f.debug_tuple("Connection").field(stream).finish(),
            Inner::Other(_) => f.write_str("Connection(..)"),
        }
    }
}

impl Connection {
    /// Wraps any stream.
    pub fn new(stream: impl Stream) -> Connection {
        Connection(Inner::Other(Box::new(stream)))
    }
}

impl From<Async<TcpStream>> for Connection {
    fn from(stream: Async<TcpStream>) -> Connection {
        Connection(Inner::Tcp(stream))
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().0 {
            Inner::Tcp(stream) => Pin::new(stream).poll_read(cx, buf),
            Inner::Other(stream) => Pin::new(stream).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().0 {
            Inner::Tcp(stream) => Pin::new(stream).poll_write(cx, data),
            Inner::Other(stream) => Pin::new(stream).poll_write(cx, data),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().0 {
            Inner::Tcp(stream) => Pin::new(stream).poll_flush(cx),
            Inner::Other(stream) => Pin::new(stream).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().0 {
            Inner::Tcp(stream) => Pin::new(stream).poll_close(cx),
            Inner::Other(stream) => Pin::new(stream).poll_close(cx),
        }
    }
}

gearman_proto::async_connector!();

async fn tcp(addr: &str) -> io::Result<Async<TcpStream>> {
    gearman_proto::endpoint::refuse_tls(addr)?;
    let stream = crate::driver::connect(addr.to_owned()).await?;
    if let Err(err) = stream.get_ref().set_nodelay(true) {
        tracing::debug!(%addr, %err, "could not set TCP_NODELAY");
    }
    Ok(stream)
}

/// Turns a socket the server accepted into a connection (a TLS handshake,
/// say). The server bounds how long it may take.
pub trait Acceptor: Send + Sync + 'static {
    /// Prepares `stream`, accepted from `peer`.
    fn accept(&self, stream: Async<TcpStream>, peer: SocketAddr) -> Connecting;
}

#[cfg(feature = "tls")]
gearman_tls::async_tls!(futures_rustls, Async<TcpStream>);
