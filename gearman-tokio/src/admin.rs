//! The admin text protocol over one TCP connection.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use gearman_proto::IntoServerAddr;
use gearman_proto::admin::call::AdminCall;
use gearman_proto::admin::{AdminRequest, AdminResponse, AdminResponseDecoder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::Error;
use crate::transport::{Connection, Connector, TcpConnector};

/// Default time allowed for connecting and for each reply.
pub const DEFAULT_ADMIN_TIMEOUT: Duration = Duration::from_secs(10);

/// An admin connection to a job server (gearmand, or this crate's
/// [`Server`](crate::Server)): typed methods for every command, and
/// [`raw`](Admin::raw) for any line.
///
/// ```no_run
/// # async fn demo() -> Result<(), gearman_tokio::Error> {
/// let mut admin = gearman_tokio::Admin::connect("127.0.0.1:4730").await?;
/// for row in admin.status().await? {
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
    timeout: Duration,
}

impl Admin {
    /// Connects to `addr` (`"host:port"`, a `SocketAddr`, `(host, port)`:
    /// any [`IntoServerAddr`]) over plain TCP.
    pub async fn connect(addr: impl IntoServerAddr) -> Result<Admin, Error> {
        Admin::connect_with(addr, &TcpConnector).await
    }

    /// Connects to `addr` with `connector` (a
    /// `transport::TlsConnector`, feature `tls`, for a `tls://`
    /// address, say); the handshake counts against the connect timeout. A
    /// failed TLS handshake is [`Error::Io`] carrying a
    /// `gearman_tls::HandshakeError`; outside a Tokio runtime it is
    /// [`Error::NoRuntime`].
    pub async fn connect_with(
        addr: impl IntoServerAddr,
        connector: &dyn Connector,
    ) -> Result<Admin, Error> {
        crate::runtime()?;
        let addr = addr.into_server_addr();
        let addr = addr.as_str();
        let stream = tokio::time::timeout(DEFAULT_ADMIN_TIMEOUT, connector.connect(addr))
            .await
            .map_err(|_| Error::timed_out(DEFAULT_ADMIN_TIMEOUT))??;
        tracing::debug!(%addr, "admin connection open");
        Ok(Admin {
            stream,
            read_buf: BytesMut::with_capacity(4096),
            decoder: AdminResponseDecoder::new(),
            timeout: DEFAULT_ADMIN_TIMEOUT,
        })
    }

    /// Sets the time allowed for each reply.
    pub fn with_timeout(mut self, timeout: Duration) -> Admin {
        self.timeout = timeout;
        self
    }

    /// Sends one request and reads its reply, whatever it is (an `ERR` reply
    /// is returned as [`AdminResponse::Error`], not as an error). Polled
    /// outside a Tokio runtime it fails with [`Error::NoRuntime`].
    pub async fn request(&mut self, request: &AdminRequest) -> Result<AdminResponse, Error> {
        // The reply's timer needs the runtime.
        crate::runtime()?;
        let mut out = Vec::new();
        request.encode(&mut out);
        self.stream.write_all(&out).await?;
        let read = async {
            loop {
                match self.decoder.decode(request, &mut self.read_buf) {
                    Ok(Some(reply)) => return Ok(reply),
                    Ok(None) => {}
                    Err(err) => return Err(Error::Protocol(err.to_string())),
                }
                self.read_buf.reserve(4096);
                if self.stream.read_buf(&mut self.read_buf).await? == 0 {
                    return Err(Error::Closed);
                }
            }
        };
        tokio::time::timeout(self.timeout, read)
            .await
            .map_err(|_| Error::timed_out(self.timeout))?
    }

    /// Sends any line (without line ending) and returns the reply, read as
    /// the reply to the command the line names. A line holding `\r` or
    /// `\n` is refused with [`Error::InvalidRequest`].
    pub async fn raw(&mut self, line: impl Into<Bytes>) -> Result<AdminResponse, Error> {
        self.request(&AdminRequest::raw(line)?).await
    }

    /// Sends a typed command and reads its result; an `ERR` reply is
    /// [`Error::Server`].
    async fn call<C: AdminCall>(&mut self, call: C) -> Result<C::Output, Error> {
        let request = call.into_request()?;
        let reply = self.request(&request).await?;
        Ok(C::read_reply(reply)?)
    }

    gearman_proto::admin_calls!(async);
}
