//! The transport seam: how a client, worker or admin opens its connections
//! ([`Connector`]) and how the server turns an accepted socket into one
//! ([`Acceptor`]). Plain TCP, TLS (feature `tls`) and a stream the user
//! brings (a Unix socket, an SSH tunnel, their own TLS) all take the same
//! path through the run loop.
//!
//! A TLS client and worker (feature `tls`), as in the README:
//!
//! ```no_run
//! # #[cfg(feature = "tls")]
//! # mod tls {
//! use gearman_tokio::transport::TlsConnector;
//! use gearman_tokio::{Client, ClientConfig, JobRequest, WorkError, Worker, WorkerJob};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // Trust ca.pem; present client.pem and client.key for mutual TLS.
//!     let tls = || TlsConnector::from_pem("ca.pem", Some(("client.pem", "client.key")));
//!     let worker = Worker::new(["tls://jobs.example.net:4730"])
//!         .connector(tls()?)
//!         .function("reverse", |job: WorkerJob| async move {
//!             Ok::<_, WorkError>(job.payload().iter().rev().copied().collect::<Vec<u8>>())
//!         });
//!     tokio::spawn(worker.run());
//!     let client = Client::with_connector(ClientConfig::new(["tls://jobs.example.net:4730"]), tls()?)?;
//!     let reversed = client.submit(JobRequest::new("reverse", "hello")).await?.into_result()?;
//!     assert_eq!(&reversed[..], b"olleh");
//!     Ok(())
//! }
//! # }
//! # fn main() {}
//! ```
//!
//! A connector that is not TCP, over a Unix socket:
//!
//! ```no_run
//! use gearman_tokio::transport::{Connecting, Connection};
//! use gearman_tokio::{Client, ClientConfig};
//!
//! # fn demo() -> Result<(), gearman_tokio::Error> {
//! // Every server address is a socket path here.
//! let unix = |addr: &str| -> Connecting {
//!     let path = addr.to_owned();
//!     Box::pin(async move { Ok(Connection::new(tokio::net::UnixStream::connect(path).await?)) })
//! };
//! let client = Client::with_connector(ClientConfig::new(["/run/gearmand.sock"]), unix)?;
//! # let _ = client; Ok(()) }
//! ```

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Any byte stream the run loop can read and write.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Stream for T {}

/// An open connection: a TCP socket, or any [`Stream`].
pub struct Connection(pub(crate) Inner);

pub(crate) enum Inner {
    /// Kept apart so plain TCP is split without a lock between its halves.
    Tcp(TcpStream),
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

impl From<TcpStream> for Connection {
    fn from(stream: TcpStream) -> Connection {
        Connection(Inner::Tcp(stream))
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
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

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().0 {
            Inner::Tcp(stream) => Pin::new(stream).poll_shutdown(cx),
            Inner::Other(stream) => Pin::new(stream).poll_shutdown(cx),
        }
    }
}

gearman_proto::async_connector! {
    /// Outside a Tokio runtime a connect fails too, with an `io::Error`
    /// wrapping [`Error::NoRuntime`](crate::Error::NoRuntime).
}

async fn tcp(addr: &str) -> io::Result<TcpStream> {
    crate::runtime_io()?;
    gearman_proto::endpoint::refuse_tls(addr)?;
    let stream = TcpStream::connect(addr).await?;
    if let Err(err) = stream.set_nodelay(true) {
        tracing::debug!(%addr, %err, "could not set TCP_NODELAY");
    }
    Ok(stream)
}

/// Turns a socket the server accepted into a connection (a TLS handshake,
/// say). The server bounds how long it may take.
pub trait Acceptor: Send + Sync + 'static {
    /// Prepares `stream`, accepted from `peer`.
    fn accept(&self, stream: TcpStream, peer: SocketAddr) -> Connecting;
}

#[cfg(feature = "tls")]
gearman_tls::async_tls!(tokio_rustls, TcpStream);
