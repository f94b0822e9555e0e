//! The one error type of the adapters (`gearman_tokio::Error`,
//! `gearman_async_std::Error`, `gearman_blocking::Error` are this type),
//! defined here so that every runtime reports the same failures the same way.
//!
//! It carries [`std::io::Error`] for the socket failures an adapter meets;
//! the core itself performs no I/O.

use std::io;
use std::time::Duration;

use bytes::Bytes;

use crate::admin::AdminLineError;
use crate::admin::call::AdminCallError;
use crate::client::{ClientError, ConfigError, UsageError};
use crate::worker::WorkerError;

/// What went wrong talking to a Gearman server.
///
/// A timeout has one form per thing that waited: a job or request that
/// waited too long (a request timeout, a connect timeout while submitting,
/// a blocking wait's limit) is [`Error::Client`] with
/// [`ClientError::Timeout`]; a socket that got no answer in time (an admin
/// connection or reply) is [`Error::Io`] of kind
/// [`io::ErrorKind::TimedOut`], as [`Error::timed_out`] makes it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A socket operation failed (connect, read, write, bind).
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// A job or request ended without a result: disconnect, timeout, server
    /// error, no server up. [`ClientError::acknowledged`] says whether the
    /// server had accepted the job.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The client configuration cannot work (no servers, say).
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    /// The worker refused a configuration or call (no servers, a bad
    /// function name...).
    #[error(transparent)]
    Worker(#[from] WorkerError),
    /// The server answered an admin command with an error.
    #[error("server error {}: {}", String::from_utf8_lossy(.code), String::from_utf8_lossy(.text))]
    Server {
        /// The server's error code, e.g. `UNKNOWN_JOB`.
        code: Bytes,
        /// The server's text.
        text: Bytes,
    },
    /// The server sent something this library cannot read.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The server's reply was well formed but not the kind that was asked for.
    #[error("unexpected reply: {0}")]
    UnexpectedReply(String),
    /// The connection closed before the reply came.
    #[error("connection closed")]
    Closed,
    /// What serves this handle is gone: the task, thread or driver that runs
    /// the client, worker or server ended (it was shut down or dropped, its
    /// runtime stopped, or a panic left its state unsound).
    #[error("shut down")]
    Shutdown,
    /// Called outside the async runtime the adapter runs on (a
    /// `gearman_tokio` client made, or worker run, outside a Tokio
    /// runtime); nothing was started.
    #[error("not inside the async runtime this adapter needs")]
    NoRuntime,
    /// The call was invalid (for example, an admin argument holding a space,
    /// or a job request the protocol cannot carry).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}

impl Error {
    /// No answer came on a socket within `limit`: [`Error::Io`] of kind
    /// [`io::ErrorKind::TimedOut`], saying how long it waited.
    pub fn timed_out(limit: Duration) -> Error {
        Error::Io(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no answer within {limit:?}"),
        ))
    }
}

/// A typed admin command's failure, as the error kinds the untyped calls use.
impl From<AdminCallError> for Error {
    fn from(err: AdminCallError) -> Error {
        match err {
            AdminCallError::Refused { code, text } => Error::Server { code, text },
            AdminCallError::Unexpected(reply) => Error::UnexpectedReply(format!("{reply:?}")),
            other => Error::InvalidRequest(other.to_string()),
        }
    }
}

/// A client request that cannot be sent.
impl From<UsageError> for Error {
    fn from(err: UsageError) -> Error {
        Error::InvalidRequest(err.to_string())
    }
}

/// A raw admin line that cannot be sent as one line.
impl From<AdminLineError> for Error {
    fn from(err: AdminLineError) -> Error {
        Error::InvalidRequest(err.to_string())
    }
}
