//! The admin text protocol over one blocking connection.

use std::io::ErrorKind;
use std::time::Duration;

pub use gearman_proto::admin::DEFAULT_ADMIN_TIMEOUT;
use gearman_proto::admin::{ADMIN_READ_CHUNK, AdminRequest, AdminResponse, AdminSession};

use crate::Error;
use crate::transport::{Connection, Connector, Stream, TcpConnector};

gearman_proto::admin_calls! {
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
    blocking;
}

impl Admin {
    /// Opens the connection within the default admin timeout, which its
    /// socket's read and write timeouts then hold to.
    fn open(addr: &str, connector: &dyn Connector) -> Result<Connection, Error> {
        let stream = connector.connect(addr, DEFAULT_ADMIN_TIMEOUT)?;
        set_timeouts(&stream, DEFAULT_ADMIN_TIMEOUT)?;
        Ok(stream)
    }

    /// A socket timeout as [`Error::timed_out`] (a read timeout shows as
    /// `WouldBlock` on some platforms), any other failure as [`Error::Io`].
    fn timeout_or_io(&self, err: std::io::Error) -> Error {
        if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) {
            Error::timed_out(self.session.timeout())
        } else {
            Error::Io(err)
        }
    }

    /// Sets the time allowed for each reply.
    pub fn with_timeout(mut self, timeout: Duration) -> Result<Admin, Error> {
        // The session's timeout is the socket's, as set (the socket may
        // report it rounded).
        set_timeouts(&self.stream, timeout)?;
        self.session.set_timeout(timeout);
        Ok(self)
    }

    /// Sends one request and reads its reply, whatever it is (an `ERR` reply
    /// is returned as [`AdminResponse::Error`], not as an error).
    pub fn request(&mut self, request: &AdminRequest) -> Result<AdminResponse, Error> {
        write_all(&*self.stream.0, &AdminSession::request_bytes(request))
            .map_err(|err| self.timeout_or_io(err))?;
        let mut chunk = [0u8; ADMIN_READ_CHUNK];
        loop {
            if let Some(reply) = self.session.reply(request)? {
                return Ok(reply);
            }
            match self.stream.0.read(&mut chunk) {
                Ok(0) => return Err(Error::Closed),
                Ok(n) => self.session.read_buf().extend_from_slice(&chunk[..n]),
                Err(err) if err.kind() == ErrorKind::Interrupted => {}
                Err(err) => return Err(self.timeout_or_io(err)),
            }
        }
    }
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

fn set_timeouts(stream: &Connection, timeout: Duration) -> std::io::Result<()> {
    stream.0.set_read_timeout(Some(timeout))?;
    stream.0.set_write_timeout(Some(timeout))
}
