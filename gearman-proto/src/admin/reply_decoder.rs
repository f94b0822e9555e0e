//! A client's incremental reader of admin replies.

use bytes::{Bytes, BytesMut};

use super::request::{AdminRequest, ReplyShape};
use super::response::{AdminResponse, parse_error_line};

/// Default longest reply line an [`AdminResponseDecoder`] accepts: 64 KiB
/// (a `workers` row lists every function of a connection).
pub const DEFAULT_MAX_REPLY_LINE_LEN: usize = 64 * 1024;

/// Default largest list reply an [`AdminResponseDecoder`] buffers: 16 MiB,
/// counting each line's bytes plus a fixed overhead per line.
pub const DEFAULT_MAX_REPLY_LEN: usize = 16 * 1024 * 1024;

/// Bytes charged per buffered line on top of its length, so that a flood of
/// empty lines is bounded too.
const LINE_OVERHEAD: usize = std::mem::size_of::<Bytes>();

/// The server's reply does not fit the configured limits.
///
/// After one of these the decoder stays failed and every later call returns
/// the same error: close the connection.
///
/// ```
/// use bytes::BytesMut;
/// use gearman_proto::admin::{AdminDecodeError, AdminRequest, AdminResponseDecoder};
/// let mut decoder = AdminResponseDecoder::new().with_max_line_len(4);
/// let mut buf = BytesMut::from(&b"OK 1.1.22\n"[..]);
/// let err = decoder.decode(&AdminRequest::Version, &mut buf).unwrap_err();
/// assert_eq!(err, AdminDecodeError::LineTooLong { max: 4 });
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum AdminDecodeError {
    /// A line is longer than the maximum, line ending included.
    #[error("admin reply line longer than {max} bytes")]
    LineTooLong {
        /// Configured maximum.
        max: usize,
    },
    /// A list reply is larger than the maximum.
    #[error("admin list reply larger than {max} bytes")]
    ReplyTooLong {
        /// Configured maximum.
        max: usize,
    },
}

/// Reads admin replies off a [`BytesMut`] read buffer, one per request sent.
///
/// Call [`decode`](AdminResponseDecoder::decode) after each read with the
/// oldest request still waiting for its reply, until it returns `Ok(None)`
/// ("need more bytes"); keep passing that same request until its reply comes
/// out. Lines may end in `\n` or `\r\n`. A single-line command's reply is its
/// first line; a list command's reply runs to a line holding only `.`, unless
/// its first line is an `ERR ` line without a tab (a server that does not know
/// the command; a row of `status` for a function named `ERR x` has tabs).
/// Complete lines of a list are moved out of the buffer as they arrive, so the
/// buffer never holds more than one partial line.
///
/// ```
/// use bytes::BytesMut;
/// use gearman_proto::admin::{AdminRequest, AdminResponse, AdminResponseDecoder};
///
/// let mut decoder = AdminResponseDecoder::new();
/// let mut buf = BytesMut::from(&b"ERR UNKNOWN_COMMAND Unknown+server+commandprioritystatus\r\nOK 1.1"[..]);
/// let reply = decoder.decode(&AdminRequest::PriorityStatus, &mut buf).unwrap().unwrap();
/// assert!(reply.is_error());
/// assert_eq!(decoder.decode(&AdminRequest::Version, &mut buf).unwrap(), None);
/// buf.extend_from_slice(b".22\n");
/// assert_eq!(
///     decoder.decode(&AdminRequest::Version, &mut buf).unwrap(),
///     Some(AdminResponse::Version("1.1.22".into()))
/// );
/// ```
#[derive(Debug, Clone)]
pub struct AdminResponseDecoder {
    max_line_len: usize,
    max_reply_len: usize,
    lines: Vec<Bytes>,
    buffered: usize,
    failed: Option<AdminDecodeError>,
}

impl Default for AdminResponseDecoder {
    fn default() -> Self {
        AdminResponseDecoder::new()
    }
}

impl AdminResponseDecoder {
    /// A decoder with [`DEFAULT_MAX_REPLY_LINE_LEN`] and [`DEFAULT_MAX_REPLY_LEN`].
    ///
    /// ```
    /// use gearman_proto::admin::AdminResponseDecoder;
    /// let decoder = AdminResponseDecoder::new();
    /// assert!(decoder.error().is_none() && !decoder.is_mid_reply());
    /// ```
    pub fn new() -> AdminResponseDecoder {
        AdminResponseDecoder {
            max_line_len: DEFAULT_MAX_REPLY_LINE_LEN,
            max_reply_len: DEFAULT_MAX_REPLY_LEN,
            lines: Vec::new(),
            buffered: 0,
            failed: None,
        }
    }

    /// Sets the longest line accepted, in bytes, line ending included.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use gearman_proto::admin::{AdminDecodeError, AdminRequest, AdminResponseDecoder};
    /// let mut decoder = AdminResponseDecoder::new().with_max_line_len(8);
    /// let mut buf = BytesMut::from(&b"OK 1.1.22\n"[..]);
    /// assert_eq!(
    ///     decoder.decode(&AdminRequest::Version, &mut buf),
    ///     Err(AdminDecodeError::LineTooLong { max: 8 })
    /// );
    /// ```
    pub fn with_max_line_len(mut self, max: usize) -> AdminResponseDecoder {
        self.max_line_len = max;
        self
    }

    /// Sets the largest list reply accepted, in bytes (each line counts its
    /// length plus a small fixed overhead).
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use gearman_proto::admin::{AdminDecodeError, AdminRequest, AdminResponseDecoder};
    /// let mut decoder = AdminResponseDecoder::new().with_max_reply_len(64);
    /// let mut buf = BytesMut::from(&b"u1\nu2\nu3\n"[..]);
    /// let err = decoder.decode(&AdminRequest::ShowUniqueJobs, &mut buf).unwrap_err();
    /// assert_eq!(err, AdminDecodeError::ReplyTooLong { max: 64 });
    /// ```
    pub fn with_max_reply_len(mut self, max: usize) -> AdminResponseDecoder {
        self.max_reply_len = max;
        self
    }

    /// The error this decoder failed with, if any.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use gearman_proto::admin::{AdminRequest, AdminResponseDecoder};
    /// let mut decoder = AdminResponseDecoder::new().with_max_line_len(2);
    /// let _ = decoder.decode(&AdminRequest::Version, &mut BytesMut::from(&b"OK 1\n"[..]));
    /// assert!(decoder.error().is_some());
    /// ```
    pub fn error(&self) -> Option<&AdminDecodeError> {
        self.failed.as_ref()
    }

    /// Whether part of a list reply has been read and more is awaited.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use gearman_proto::admin::{AdminRequest, AdminResponseDecoder};
    /// let mut decoder = AdminResponseDecoder::new();
    /// let mut buf = BytesMut::from(&b"f\t1\t0\t1\n"[..]);
    /// assert_eq!(decoder.decode(&AdminRequest::Status, &mut buf).unwrap(), None);
    /// assert!(decoder.is_mid_reply());
    /// ```
    pub fn is_mid_reply(&self) -> bool {
        !self.lines.is_empty()
    }

    fn fail<T>(&mut self, err: AdminDecodeError) -> Result<T, AdminDecodeError> {
        self.failed = Some(err.clone());
        self.lines = Vec::new();
        Err(err)
    }

    /// Reads the reply to `request`: `Ok(Some(reply))` once it is complete,
    /// `Ok(None)` when more bytes are needed. Bytes after the reply stay in
    /// `buf`.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use gearman_proto::admin::{AdminRequest, AdminResponse, AdminResponseDecoder, JobRow};
    /// let mut decoder = AdminResponseDecoder::new();
    /// let mut buf = BytesMut::from(&b"H:srv:7\t0\t0\t1\r\n.\r\nOK"[..]);
    /// assert_eq!(
    ///     decoder.decode(&AdminRequest::ShowJobs, &mut buf).unwrap(),
    ///     Some(AdminResponse::ShowJobs(vec![JobRow::new("H:srv:7", 0, false, true)]))
    /// );
    /// assert_eq!(&buf[..], b"OK");
    /// ```
    pub fn decode(
        &mut self,
        request: &AdminRequest,
        buf: &mut BytesMut,
    ) -> Result<Option<AdminResponse>, AdminDecodeError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let shape = request.reply_shape();
        while let Some(line) = self.next_line(buf)? {
            if shape == ReplyShape::SingleLine {
                return Ok(Some(AdminResponse::from_line(request, line)));
            }
            // gearmand's ERR lines hold no tab, and the rows that could start
            // with "ERR " (status, prioritystatus, show jobs) always do.
            if self.lines.is_empty() && memchr::memchr(b'\t', &line).is_none() {
                if let Some(error) = parse_error_line(&line) {
                    return Ok(Some(error));
                }
            }
            if &line[..] == b"." {
                self.buffered = 0;
                let lines = std::mem::take(&mut self.lines);
                return Ok(Some(AdminResponse::from_lines(request, lines)));
            }
            self.buffered = self.buffered.saturating_add(line.len() + LINE_OVERHEAD);
            if self.buffered > self.max_reply_len {
                return self.fail(AdminDecodeError::ReplyTooLong {
                    max: self.max_reply_len,
                });
            }
            self.lines.push(line);
        }
        Ok(None)
    }

    fn next_line(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, AdminDecodeError> {
        let limit = buf.len().min(self.max_line_len);
        let Some(end) = memchr::memchr(b'\n', &buf[..limit]) else {
            if buf.len() >= self.max_line_len {
                return self.fail(AdminDecodeError::LineTooLong {
                    max: self.max_line_len,
                });
            }
            return Ok(None);
        };
        let mut line = buf.split_to(end + 1);
        line.truncate(end);
        if line.last() == Some(&b'\r') {
            line.truncate(end - 1);
        }
        Ok(Some(line.freeze()))
    }
}
