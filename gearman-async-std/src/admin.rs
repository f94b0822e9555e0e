//! The admin text protocol over one TCP connection.

use std::time::Duration;

use std::net::TcpStream;

use async_io::{Async, Timer};
use bytes::{Bytes, BytesMut};
use futures_lite::{AsyncReadExt, AsyncWriteExt, future};
use gearman_proto::admin::{
    AdminRequest, AdminResponse, AdminResponseDecoder, JobRow, MaxQueueLimits, PriorityStatusRow,
    StatusRow, WorkerRow,
};

use crate::Error;
use crate::driver::connect;

/// Default time allowed for connecting and for each reply.
pub const DEFAULT_ADMIN_TIMEOUT: Duration = Duration::from_secs(10);

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
    stream: Async<TcpStream>,
    read_buf: BytesMut,
    decoder: AdminResponseDecoder,
    timeout: Duration,
}

impl Admin {
    /// Connects to `addr` (`host:port`).
    pub async fn connect(addr: &str) -> Result<Admin, Error> {
        let stream = within(DEFAULT_ADMIN_TIMEOUT, async {
            connect(addr.to_owned()).await.map_err(Error::from)
        })
        .await?;
        stream.get_ref().set_nodelay(true)?;
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
    /// is returned as [`AdminResponse::Error`], not as an error).
    pub async fn request(&mut self, request: &AdminRequest) -> Result<AdminResponse, Error> {
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
                let mut chunk = [0u8; 4096];
                let n = self.stream.read(&mut chunk).await?;
                if n == 0 {
                    return Err(Error::Closed);
                }
                self.read_buf.extend_from_slice(&chunk[..n]);
            }
        };
        within(self.timeout, read).await
    }

    /// Sends any line (without line ending) and returns the reply, read as
    /// the reply to the command the line names.
    pub async fn raw(&mut self, line: impl Into<Bytes>) -> Result<AdminResponse, Error> {
        let line = line.into();
        if line.iter().any(|&b| b == b'\n' || b == b'\r') {
            return Err(Error::InvalidRequest(
                "admin line holds a line break".into(),
            ));
        }
        self.request(&AdminRequest::Raw(line)).await
    }

    async fn checked(&mut self, request: AdminRequest) -> Result<AdminResponse, Error> {
        match self.request(&request).await? {
            AdminResponse::Error { code, text } => Err(Error::Server { code, text }),
            reply => Ok(reply),
        }
    }

    async fn ok(&mut self, request: AdminRequest) -> Result<(), Error> {
        match self.checked(request).await? {
            AdminResponse::Ok => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    /// `status`: queued, running and worker counts per function.
    pub async fn status(&mut self) -> Result<Vec<StatusRow>, Error> {
        match self.checked(AdminRequest::Status).await? {
            AdminResponse::Status(rows) => Ok(rows),
            other => Err(unexpected(&other)),
        }
    }

    /// `workers`: one row per connection with its functions.
    pub async fn workers(&mut self) -> Result<Vec<WorkerRow>, Error> {
        match self.checked(AdminRequest::Workers).await? {
            AdminResponse::Workers(rows) => Ok(rows),
            other => Err(unexpected(&other)),
        }
    }

    /// `version`: the server's version text.
    pub async fn version(&mut self) -> Result<Bytes, Error> {
        match self.checked(AdminRequest::Version).await? {
            AdminResponse::Version(version) => Ok(version),
            other => Err(unexpected(&other)),
        }
    }

    /// `getpid`: the server's process id.
    pub async fn getpid(&mut self) -> Result<u32, Error> {
        match self.checked(AdminRequest::GetPid).await? {
            AdminResponse::Pid(pid) => Ok(pid),
            other => Err(unexpected(&other)),
        }
    }

    /// `maxqueue FUNC [...]`: sets a function's queue limits.
    pub async fn maxqueue(
        &mut self,
        function: impl Into<Bytes>,
        limits: MaxQueueLimits,
    ) -> Result<(), Error> {
        let function = token(function.into())?;
        self.ok(AdminRequest::MaxQueue { function, limits }).await
    }

    /// `shutdown` or `shutdown graceful` (gearmand 1.1.15 and later answer
    /// with an error).
    pub async fn shutdown(&mut self, graceful: bool) -> Result<(), Error> {
        self.ok(AdminRequest::Shutdown { graceful }).await
    }

    /// `verbose`: the server's log level.
    pub async fn verbose(&mut self) -> Result<Bytes, Error> {
        match self.checked(AdminRequest::Verbose).await? {
            AdminResponse::Verbose(level) => Ok(level),
            other => Err(unexpected(&other)),
        }
    }

    /// `show jobs`: every live job.
    pub async fn show_jobs(&mut self) -> Result<Vec<JobRow>, Error> {
        match self.checked(AdminRequest::ShowJobs).await? {
            AdminResponse::ShowJobs(rows) => Ok(rows),
            other => Err(unexpected(&other)),
        }
    }

    /// `show unique jobs`: the unique id of every live job.
    pub async fn show_unique_jobs(&mut self) -> Result<Vec<Bytes>, Error> {
        match self.checked(AdminRequest::ShowUniqueJobs).await? {
            AdminResponse::ShowUniqueJobs(ids) => Ok(ids),
            other => Err(unexpected(&other)),
        }
    }

    /// `cancel job HANDLE`: removes a queued job.
    pub async fn cancel_job(&mut self, handle: impl Into<Bytes>) -> Result<(), Error> {
        let handle = token(handle.into())?;
        self.ok(AdminRequest::CancelJob { handle }).await
    }

    /// `prioritystatus`: queued jobs per function and priority.
    pub async fn priority_status(&mut self) -> Result<Vec<PriorityStatusRow>, Error> {
        match self.checked(AdminRequest::PriorityStatus).await? {
            AdminResponse::PriorityStatus(rows) => Ok(rows),
            other => Err(unexpected(&other)),
        }
    }

    /// `create function NAME`.
    pub async fn create_function(&mut self, name: impl Into<Bytes>) -> Result<(), Error> {
        let name = token(name.into())?;
        self.ok(AdminRequest::CreateFunction { name }).await
    }

    /// `drop function NAME`.
    pub async fn drop_function(&mut self, name: impl Into<Bytes>) -> Result<(), Error> {
        let name = token(name.into())?;
        self.ok(AdminRequest::DropFunction { name }).await
    }
}

/// Runs `work`, or gives up with [`Error::Timeout`] after `limit`.
async fn within<T>(
    limit: Duration,
    work: impl std::future::Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    future::or(work, async {
        Timer::after(limit).await;
        Err(Error::Timeout)
    })
    .await
}

/// An argument must be one token: no space or line break.
fn token(value: Bytes) -> Result<Bytes, Error> {
    if value.is_empty() || value.iter().any(|&b| matches!(b, b' ' | b'\r' | b'\n')) {
        return Err(Error::InvalidRequest(format!(
            "admin argument {:?} must be one non-empty word",
            String::from_utf8_lossy(&value)
        )));
    }
    Ok(value)
}

fn unexpected(reply: &AdminResponse) -> Error {
    Error::UnexpectedReply(format!("{reply:?}"))
}
