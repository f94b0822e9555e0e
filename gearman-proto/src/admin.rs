//! The admin text protocol that shares the job server's port.
//!
//! A message whose first byte is not NUL is a text line: a command of up to
//! five space-separated tokens ending at `\n` (an optional `\r` before it is
//! dropped). The server answers with either one line (`OK ...` or
//! `ERR CODE text`) or, for the list commands, any number of lines closed by a
//! line holding only `.`.
//!
//! - [`AdminRequest`]: what a client sends ([`AdminRequest::encode`]) and a
//!   server parses ([`AdminRequest::parse`], with [`AdminParseError`] mapping
//!   bad lines to gearmand's exact `ERR` replies).
//! - [`AdminResponse`]: typed replies (status rows, worker rows, ...) that a
//!   server writes byte for byte as gearmand does ([`AdminResponse::encode`]).
//! - [`AdminResponseDecoder`]: a client's incremental reader of replies.
//!
//! ```
//! use bytes::BytesMut;
//! use gearman_proto::admin::{AdminRequest, AdminResponse, AdminResponseDecoder, StatusRow};
//!
//! // The server side: parse a line, write a reply.
//! let request = AdminRequest::parse(b"STATUS").unwrap();
//! assert_eq!(request, AdminRequest::Status);
//! let reply = AdminResponse::Status(vec![StatusRow::new("resize", 3, 1, 2)]);
//! let mut wire = BytesMut::new();
//! reply.encode(&mut wire);
//! assert_eq!(&wire[..], b"resize\t3\t1\t2\n.\n");
//!
//! // The client side: read it back.
//! let mut decoder = AdminResponseDecoder::new();
//! assert_eq!(decoder.decode(&request, &mut wire).unwrap(), Some(reply));
//! assert!(wire.is_empty());
//! ```

pub mod call;
mod reply_decoder;
mod request;
mod response;
mod session;
mod typed_methods;

pub use call::{AdminCall, AdminCallError};
pub use reply_decoder::{
    AdminDecodeError, AdminResponseDecoder, DEFAULT_MAX_REPLY_LEN, DEFAULT_MAX_REPLY_LINE_LEN,
};
pub use request::{
    AdminLine, AdminLineError, AdminParseError, AdminRequest, MAX_ADMIN_TOKENS, MaxQueueLimits,
    ReplyShape,
};
pub use response::{
    AdminResponse, JobRow, PriorityStatusRow, StatusRow, WorkerRow, encode_list_end,
};
pub use session::{ADMIN_READ_CHUNK, AdminSession, DEFAULT_ADMIN_TIMEOUT};
