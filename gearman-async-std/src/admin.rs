//! The admin text protocol over one connection.

use std::time::Duration;

use async_io::Timer;
use futures_lite::{AsyncReadExt, AsyncWriteExt, future};
use gearman_proto::IntoServerAddr;
pub use gearman_proto::admin::DEFAULT_ADMIN_TIMEOUT;
use gearman_proto::admin::{ADMIN_READ_CHUNK, AdminRequest, AdminResponse, AdminSession};

use crate::Error;
use crate::transport::{Connection, Connector, TcpConnector};

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
    /// `gearman_tls::HandshakeError`.
    pub async fn connect_with(
        addr: impl IntoServerAddr,
        connector: &dyn Connector,
    ) -> Result<Admin, Error> {
        let addr = addr.into_server_addr();
        let addr = addr.as_str();
        let stream = within(DEFAULT_ADMIN_TIMEOUT, async {
            connector.connect(addr).await.map_err(Error::from)
        })
        .await?;
        tracing::debug!(%addr, "admin connection open");
        Ok(Admin {
            stream,
            session: AdminSession::new(),
        })
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

    gearman_proto::admin_calls!(async);
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
