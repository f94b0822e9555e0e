//! The admin text protocol over one connection.

use std::time::Duration;

use async_io::Timer;
use futures_lite::{AsyncReadExt, AsyncWriteExt, future};
pub use gearman_proto::admin::DEFAULT_ADMIN_TIMEOUT;
use gearman_proto::admin::{ADMIN_READ_CHUNK, AdminRequest, AdminResponse, AdminSession};

use crate::Error;
use crate::transport::{Connection, Connector, TcpConnector};

gearman_proto::admin_calls! {
    /// An admin connection to a job server (gearmand, or this crate's
    /// [`Server`](crate::Server)): typed methods for every command, and
    /// [`raw`](Admin::raw) for any line.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), gearman_async_std::Error> {
    /// smol::block_on(async {
    ///     let mut admin = gearman_async_std::Admin::connect("127.0.0.1:4730").await?;
    ///     for row in admin.status().await? {
    ///         println!("{:?}: {} queued, {} running, {} workers",
    ///             row.function, row.total, row.running, row.workers);
    ///     }
    ///     Ok(())
    /// })
    /// # }
    /// ```
    async;
}

impl Admin {
    /// Opens the connection within the default admin timeout.
    async fn open(addr: &str, connector: &dyn Connector) -> Result<Connection, Error> {
        within(DEFAULT_ADMIN_TIMEOUT, async {
            connector.connect(addr).await.map_err(Error::from)
        })
        .await
    }

    /// Sends one request and reads its reply, whatever it is (an `ERR` reply
    /// is returned as [`AdminResponse::Error`], not as an error).
    pub async fn request(&mut self, request: &AdminRequest) -> Result<AdminResponse, Error> {
        self.stream
            .write_all(&AdminSession::request_bytes(request))
            .await?;
        // A TLS stream may hold records back until flushed.
        self.stream.flush().await?;
        let timeout = self.session.timeout();
        let read = async {
            loop {
                if let Some(reply) = self.session.reply(request)? {
                    return Ok(reply);
                }
                // Read straight into the buffer's tail (no chunk on the stack).
                let buf = self.session.read_buf();
                let filled = buf.len();
                buf.resize(filled + ADMIN_READ_CHUNK, 0);
                let read = self.stream.read(&mut buf[filled..]).await;
                buf.truncate(filled + *read.as_ref().unwrap_or(&0));
                if read? == 0 {
                    return Err(Error::Closed);
                }
            }
        };
        within(timeout, read).await
    }
}

/// Runs `work`, or gives up with [`Error::timed_out`] after `limit`.
async fn within<T>(
    limit: Duration,
    work: impl std::future::Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    future::or(work, async {
        Timer::after(limit).await;
        Err(Error::timed_out(limit))
    })
    .await
}
