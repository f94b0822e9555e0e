//! The sans-IO half of an admin client: what every adapter's `Admin` keeps
//! between its socket reads.

use std::time::Duration;

use bytes::BytesMut;

use crate::admin::{AdminRequest, AdminResponse, AdminResponseDecoder};
use crate::driver_error::Error;

/// Default time an admin client allows for connecting and for each reply.
pub const DEFAULT_ADMIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Bytes an adapter asks for per read.
pub const ADMIN_READ_CHUNK: usize = 4096;

/// One admin connection's state: the bytes read and not yet decoded, the
/// reply decoder, and the time allowed for each reply. The adapter writes
/// [`request_bytes`](AdminSession::request_bytes), then reads into
/// [`read_buf`](AdminSession::read_buf) until
/// [`reply`](AdminSession::reply) has the answer.
///
/// ```
/// use gearman_proto::admin::{AdminRequest, AdminResponse, AdminSession};
///
/// let mut session = AdminSession::new();
/// let request = AdminRequest::Version;
/// assert_eq!(AdminSession::request_bytes(&request), b"version\r\n");
/// session.read_buf().extend_from_slice(b"OK 1.1");
/// assert!(session.reply(&request).unwrap().is_none(), "half a line: read more");
/// session.read_buf().extend_from_slice(b".21\n");
/// assert_eq!(
///     session.reply(&request).unwrap(),
///     Some(AdminResponse::Version("1.1.21".into()))
/// );
/// ```
#[derive(Debug)]
pub struct AdminSession {
    read_buf: BytesMut,
    decoder: AdminResponseDecoder,
    timeout: Duration,
}

impl Default for AdminSession {
    fn default() -> AdminSession {
        AdminSession::new()
    }
}

impl AdminSession {
    /// A session with nothing read, allowing [`DEFAULT_ADMIN_TIMEOUT`] per
    /// reply.
    pub fn new() -> AdminSession {
        AdminSession {
            read_buf: BytesMut::with_capacity(ADMIN_READ_CHUNK),
            decoder: AdminResponseDecoder::new(),
            timeout: DEFAULT_ADMIN_TIMEOUT,
        }
    }

    /// The time allowed for each reply.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sets the time allowed for each reply.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// The bytes to write for `request`.
    pub fn request_bytes(request: &AdminRequest) -> Vec<u8> {
        let mut out = Vec::new();
        request.encode(&mut out);
        out
    }

    /// The buffer to append what is read from the socket to.
    pub fn read_buf(&mut self) -> &mut BytesMut {
        &mut self.read_buf
    }

    /// The reply to `request` once it has been read whole, `None` while
    /// more bytes are needed; a reply that cannot be read is
    /// [`Error::Protocol`].
    pub fn reply(&mut self, request: &AdminRequest) -> Result<Option<AdminResponse>, Error> {
        self.decoder
            .decode(request, &mut self.read_buf)
            .map_err(|err| Error::Protocol(err.to_string()))
    }
}
