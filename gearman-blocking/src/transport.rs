//! The transport seam: how a client, worker or admin opens its connections
//! ([`Connector`]) and how the server turns an accepted socket into one
//! ([`Acceptor`]). Plain TCP, TLS (feature `tls`) and a stream the user
//! brings all take the same path through the socket threads.
//!
//! A connection is used from two threads at once, one reading while the
//! other writes, so a [`Stream`] reads and writes through `&self`, the way
//! `&TcpStream` and `&UnixStream` do. A connector that is not TCP, over a
//! Unix socket:
//!
//! ```no_run
//! # #[cfg(unix)]
//! # fn demo() -> Result<(), gearman_blocking::Error> {
//! use std::os::unix::net::UnixStream;
//! use std::time::Duration;
//! use gearman_blocking::transport::Connection;
//! use gearman_blocking::{Client, ClientConfig};
//!
//! // Every server address is a socket path here.
//! let unix = |path: &str, _timeout: Duration| -> std::io::Result<Connection> {
//!     Ok(Connection::new(UnixStream::connect(path)?))
//! };
//! let client = Client::with_connector(ClientConfig::new(["/run/gearmand.sock"]), unix)?;
//! # let _ = client; Ok(()) }
//! ```

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use gearman_proto::deadline_after;
/// A byte stream one thread reads while another writes, as `&TcpStream`
/// allows: the methods take `&self`. Implemented for [`TcpStream`] and (on
/// Unix) `UnixStream`; wrap anything else in a type of your own.
pub trait Stream: Send + Sync + 'static {
    /// Reads into `buf`, as [`Read::read`]; `Ok(0)` is the end of input.
    fn read(&self, buf: &mut [u8]) -> io::Result<usize>;
    /// Writes from `data`, as [`Write::write`]; a write timeout ends it with
    /// `TimedOut` or `WouldBlock`.
    fn write(&self, data: &[u8]) -> io::Result<usize>;
    /// Writes out what [`write`](Stream::write) took but kept back (TLS
    /// records the socket did not take in time, say); `TimedOut` when the
    /// peer does not take it within the write timeout. Nothing kept back by
    /// default.
    fn flush(&self) -> io::Result<()> {
        Ok(())
    }
    /// How long a read may wait; `None` for ever.
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
    /// How long a write (or flush) may wait without progress; `None` for ever.
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
    /// Shuts down reading, writing or both; `Both` must wake a thread
    /// blocked reading or writing, which is how a connection is dropped.
    fn shutdown(&self, how: Shutdown) -> io::Result<()>;
}

macro_rules! socket_stream {
    ($socket:ty) => {
        impl Stream for $socket {
            fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
                Read::read(&mut &*self, buf)
            }
            fn write(&self, data: &[u8]) -> io::Result<usize> {
                Write::write(&mut &*self, data)
            }
            fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
                <$socket>::set_read_timeout(self, timeout)
            }
            fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
                <$socket>::set_write_timeout(self, timeout)
            }
            fn shutdown(&self, how: Shutdown) -> io::Result<()> {
                <$socket>::shutdown(self, how)
            }
        }
    };
}

socket_stream!(TcpStream);
#[cfg(unix)]
socket_stream!(std::os::unix::net::UnixStream);

/// An open connection: any [`Stream`].
pub struct Connection(pub(crate) Box<dyn Stream>);

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Connection(..)")
    }
}

impl Connection {
    /// Wraps any stream.
    pub fn new(stream: impl Stream) -> Connection {
        Connection(Box::new(stream))
    }
}

impl From<TcpStream> for Connection {
    fn from(stream: TcpStream) -> Connection {
        Connection::new(stream)
    }
}

/// Opens a connection to a server address, as the client, worker and
/// admin ask, on a thread of its own. Everything it does (a TLS handshake,
/// say) must end within `timeout`, the connect timeout. Any
/// `Fn(&str, Duration) -> io::Result<Connection>` is a connector.
pub trait Connector: Send + Sync + 'static {
    /// Opens a connection to `addr` within `timeout`.
    fn connect(&self, addr: &str, timeout: Duration) -> io::Result<Connection>;
}

impl<F> Connector for F
where
    F: Fn(&str, Duration) -> io::Result<Connection> + Send + Sync + 'static,
{
    fn connect(&self, addr: &str, timeout: Duration) -> io::Result<Connection> {
        self(addr, timeout)
    }
}

/// The default connector: plain TCP to `host:port`, with `TCP_NODELAY`. A
/// `tls://` address is refused (it needs a TLS connector, feature `tls`).
#[derive(Debug, Clone, Copy, Default)]
pub struct TcpConnector;

impl Connector for TcpConnector {
    fn connect(&self, addr: &str, timeout: Duration) -> io::Result<Connection> {
        Ok(Connection::from(tcp(
            addr,
            deadline_after(Instant::now(), timeout),
        )?))
    }
}

/// Connects to the first address `addr` resolves to that accepts before
/// `deadline`, with `TCP_NODELAY`.
pub(crate) fn tcp(addr: &str, deadline: Instant) -> io::Result<TcpStream> {
    gearman_proto::endpoint::refuse_tls(addr)?;
    let mut last = None;
    for resolved in addr.to_socket_addrs()? {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            last = Some(io::ErrorKind::TimedOut.into());
            break;
        }
        match TcpStream::connect_timeout(&resolved, left) {
            Ok(stream) => {
                if let Err(err) = stream.set_nodelay(true) {
                    tracing::debug!(%addr, %err, "could not set TCP_NODELAY");
                }
                return Ok(stream);
            }
            Err(err) => last = Some(err),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address resolved")))
}

/// Turns a socket the server accepted into a connection (a TLS handshake,
/// say), on the connection's own thread. It must end within `timeout`,
/// the server's handshake timeout; the socket's read and write timeouts
/// are set to it beforehand.
pub trait Acceptor: Send + Sync + 'static {
    /// Prepares `stream`, accepted from `peer`.
    fn accept(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        timeout: Duration,
    ) -> io::Result<Connection>;
}

#[cfg(feature = "tls")]
pub use crate::tls::{TlsAcceptor, TlsConnector};
