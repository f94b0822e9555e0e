//! The error type of this crate.

use std::io;

use bytes::Bytes;
use gearman_proto::admin_call::AdminCallError;
use gearman_proto::client::{ClientError, ConfigError};
use gearman_proto::worker::WorkerError;

/// What went wrong talking to a Gearman server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A socket operation failed (connect, read, write, bind).
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// No reply came within the allowed time.
    #[error("timed out")]
    Timeout,
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
    /// The driver serving this handle is gone: the [`ClientDriver`] was
    /// dropped or never polled to completion, or the client was shut down.
    ///
    /// [`ClientDriver`]: crate::ClientDriver
    #[error("shut down")]
    Shutdown,
    /// The call was invalid (for example, an admin argument holding a space,
    /// or a job request the protocol cannot carry).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}

impl From<AdminCallError> for Error {
    fn from(err: AdminCallError) -> Error {
        match err {
            AdminCallError::Refused { code, text } => Error::Server { code, text },
            AdminCallError::Unexpected(reply) => Error::UnexpectedReply(format!("{reply:?}")),
            other => Error::InvalidRequest(other.to_string()),
        }
    }
}
