//! The admin text protocol over one TCP connection.

pub use gearman_proto::admin::DEFAULT_ADMIN_TIMEOUT;
use gearman_proto::admin::{ADMIN_READ_CHUNK, AdminRequest, AdminResponse, AdminSession};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::Error;
use crate::transport::{Connection, Connector, TcpConnector};

gearman_proto::admin_calls! {
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
    async;
    /// Outside a Tokio runtime it fails with [`Error::NoRuntime`].
    connect_with;
}

impl Admin {
    /// Opens the connection within the default admin timeout.
    async fn open(addr: &str, connector: &dyn Connector) -> Result<Connection, Error> {
        crate::runtime()?;
        tokio::time::timeout(DEFAULT_ADMIN_TIMEOUT, connector.connect(addr))
            .await
            .map_err(|_| Error::timed_out(DEFAULT_ADMIN_TIMEOUT))?
            .map_err(Error::from)
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
}
