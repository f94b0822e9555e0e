//! The admin text protocol over one blocking connection.

use std::io::ErrorKind;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use gearman_proto::IntoServerAddr;
use gearman_proto::admin::call::AdminCall;
use gearman_proto::admin::{AdminRequest, AdminResponse, AdminResponseDecoder};

use crate::Error;
use crate::transport::{Connection, Connector, Stream, TcpConnector};

/// Default time allowed for connecting and for each reply.
pub const DEFAULT_ADMIN_TIMEOUT: Duration = Duration::from_secs(10);

/// An admin connection to a job server (gearmand, or this crate's
/// [`Server`](crate::Server)): typed methods for every command, and
/// [`raw`](Admin::raw) for any line. Each call blocks until the reply, or
/// the timeout.
///
/// ```no_run
/// # fn main() -> Result<(), gearman_blocking::Error> {
/// let mut admin = gearman_blocking::Admin::connect("127.0.0.1:4730")?;
/// for row in admin.status()? {
///     println!("{:?}: {} queued, {} running, {} workers",
///         row.function, row.total, row.running, row.workers);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Admin {
    stream: Connection,
    read_buf: BytesMut,
    decoder: AdminResponseDecoder,
    /// The socket's read and write timeout, as set (the socket may report
    /// it rounded).
    timeout: Duration,
}

impl Admin {
    /// Connects to `addr` (`"host:port"`, a `SocketAddr`, `(host, port)`:
    /// any [`IntoServerAddr`]) over plain TCP.
    pub fn connect(addr: impl IntoServerAddr) -> Result<Admin, Error> {
        Admin::connect_with(addr, &TcpConnector)
    }

    /// Connects to `addr` with `connector` (a
    /// `transport::TlsConnector` (feature `tls`) for a `tls://`
    /// address, say); the handshake counts against the connect timeout
    /// ([`DEFAULT_ADMIN_TIMEOUT`]). A failed TLS handshake is
    /// [`Error::Io`] carrying a `gearman_tls::HandshakeError`.
    pub fn connect_with(
        addr: impl IntoServerAddr,
        connector: &dyn Connector,
    ) -> Result<Admin, Error> {
        let addr = addr.into_server_addr();
        let addr = addr.as_str();
        let stream = connector.connect(addr, DEFAULT_ADMIN_TIMEOUT)?;
        tracing::debug!(%addr, "admin connection open");
        Admin {
            stream,
            read_buf: BytesMut::with_capacity(4096),
            decoder: AdminResponseDecoder::new(),
            timeout: DEFAULT_ADMIN_TIMEOUT,
        }
        .with_timeout(DEFAULT_ADMIN_TIMEOUT)
    }

    /// A socket timeout as [`Error::timed_out`] (a read timeout shows as
    /// `WouldBlock` on some platforms), any other failure as [`Error::Io`].
    fn timeout_or_io(&self, err: std::io::Error) -> Error {
        if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) {
            Error::timed_out(self.timeout)
        } else {
            Error::Io(err)
        }
    }

    /// Sets the time allowed for each reply.
    pub fn with_timeout(mut self, timeout: Duration) -> Result<Admin, Error> {
        self.stream.0.set_read_timeout(Some(timeout))?;
        self.stream.0.set_write_timeout(Some(timeout))?;
        self.timeout = timeout;
        Ok(self)
    }

    /// Sends one request and reads its reply, whatever it is (an `ERR` reply
    /// is returned as [`AdminResponse::Error`], not as an error).
    pub fn request(&mut self, request: &AdminRequest) -> Result<AdminResponse, Error> {
        let mut out = Vec::new();
        request.encode(&mut out);
        write_all(&*self.stream.0, &out).map_err(|err| self.timeout_or_io(err))?;
        let mut chunk = [0u8; 4096];
        loop {
            match self.decoder.decode(request, &mut self.read_buf) {
                Ok(Some(reply)) => return Ok(reply),
                Ok(None) => {}
                Err(err) => return Err(Error::Protocol(err.to_string())),
            }
            match self.stream.0.read(&mut chunk) {
                Ok(0) => return Err(Error::Closed),
                Ok(n) => self.read_buf.extend_from_slice(&chunk[..n]),
                Err(err) if err.kind() == ErrorKind::Interrupted => {}
                Err(err) => return Err(self.timeout_or_io(err)),
            }
        }
    }

    /// Sends any line (without line ending) and returns the reply, read as
    /// the reply to the command the line names. A line holding `\r` or
    /// `\n` is refused with [`Error::InvalidRequest`].
    pub fn raw(&mut self, line: impl Into<Bytes>) -> Result<AdminResponse, Error> {
        self.request(&AdminRequest::raw(line)?)
    }

    /// Sends a typed command and reads its result; an `ERR` reply is
    /// [`Error::Server`].
    fn call<C: AdminCall>(&mut self, call: C) -> Result<C::Output, Error> {
        let request = call.into_request()?;
        let reply = self.request(&request)?;
        Ok(C::read_reply(reply)?)
    }

    gearman_proto::admin_calls!(blocking);
}

fn write_all(stream: &dyn Stream, mut data: &[u8]) -> std::io::Result<()> {
    while !data.is_empty() {
        match stream.write(data) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => data = &data[n..],
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}
