//! The admin text protocol over one TCP connection.

use gearman_proto::IntoServerAddr;
pub use gearman_proto::admin::DEFAULT_ADMIN_TIMEOUT;
use gearman_proto::admin::{ADMIN_READ_CHUNK, AdminRequest, AdminResponse, AdminSession};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::Error;
use crate::transport::{Connection, Connector, TcpConnector};

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
    session: AdminSession,
}

impl Admin {
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
            session: AdminSession::new(),
        })
    }

    /// Sends one request and reads its reply, whatever it is (an `ERR` reply
    /// is returned as [`AdminResponse::Error`], not as an error). Polled
    /// outside a Tokio runtime it fails with [`Error::NoRuntime`].
    pub async fn request(&mut self, request: &AdminRequest) -> Result<AdminResponse, Error> {
        // The reply's timer needs the runtime.
        crate::runtime()?;
        self.stream
            .write_all(&AdminSession::request_bytes(request))
            .await?;
        let timeout = self.session.timeout();
        let read = async {
            loop {
                if let Some(reply) = self.session.reply(request)? {
                    return Ok(reply);
                }
                let buf = self.session.read_buf();
                buf.reserve(ADMIN_READ_CHUNK);
                if self.stream.read_buf(buf).await? == 0 {
                    return Err(Error::Closed);
                }
            }
        };
        tokio::time::timeout(timeout, read)
            .await
            .map_err(|_| Error::timed_out(timeout))?
    }

    gearman_proto::admin_calls!(async);
}
