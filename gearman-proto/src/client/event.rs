//! What a [`Client`](super::Client) reports: job updates, ends, and request results.

use bytes::Bytes;

use super::request::{JobHandle, JobId, RequestId};
use crate::endpoint::ConnectError;
use crate::packet::Packet;

/// Something the caller should know, from [`Client::poll_event`](super::Client::poll_event).
///
/// A job's events end with exactly one terminal event: [`Complete`],
/// [`Failed`], [`Exception`] or [`JobError`] for a foreground job, and
/// [`Created`] (with `background: true`) or [`JobError`] for a background
/// job. A status or echo request ends with exactly one of its result or
/// [`RequestError`]. See [`ClientEvent::is_terminal`]. After a close,
/// [`Closed`](ClientEvent::Closed) comes last.
///
/// [`Complete`]: ClientEvent::Complete
/// [`Failed`]: ClientEvent::Failed
/// [`Exception`]: ClientEvent::Exception
/// [`JobError`]: ClientEvent::JobError
/// [`Created`]: ClientEvent::Created
/// [`RequestError`]: ClientEvent::RequestError
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// The server accepted the job (JOB_CREATED). For a background job this
    /// is its end: the server now owns it.
    Created {
        /// The job.
        job: JobId,
        /// Its handle, with the server that issued it.
        handle: JobHandle,
        /// Whether this was a background submit (and so the job's last event).
        background: bool,
    },
    /// Partial result (WORK_DATA).
    Data {
        /// The job.
        job: JobId,
        /// The data.
        data: Bytes,
    },
    /// Warning from the worker (WORK_WARNING).
    Warning {
        /// The job.
        job: JobId,
        /// The warning.
        data: Bytes,
    },
    /// Progress (WORK_STATUS). Numbers that are empty or not decimal (some
    /// servers send empty strings) read as 0; leading digits are kept.
    Status {
        /// The job.
        job: JobId,
        /// Work done.
        numerator: u64,
        /// Total work.
        denominator: u64,
    },
    /// The job succeeded (WORK_COMPLETE). Terminal.
    Complete {
        /// The job.
        job: JobId,
        /// The result.
        data: Bytes,
    },
    /// The job failed (WORK_FAIL). Terminal. A worker's exception arrives as
    /// this when exceptions are not enabled, or the server refused them.
    Failed {
        /// The job.
        job: JobId,
    },
    /// The worker raised an exception (WORK_EXCEPTION). Terminal, as in
    /// gearmand.
    Exception {
        /// The job.
        job: JobId,
        /// The exception text.
        data: Bytes,
    },
    /// The job ended without a result from the server. Terminal.
    JobError {
        /// The job.
        job: JobId,
        /// What went wrong, and whether the server had acknowledged the job.
        error: ClientError,
    },
    /// Answer to [`Client::get_status`](super::Client::get_status).
    StatusResult {
        /// The request.
        request: RequestId,
        /// The status.
        status: JobStatus,
    },
    /// Answer to [`Client::get_status_unique`](super::Client::get_status_unique).
    StatusUniqueResult {
        /// The request.
        request: RequestId,
        /// The status.
        status: UniqueStatus,
    },
    /// Answer to [`Client::echo`](super::Client::echo).
    EchoResult {
        /// The request.
        request: RequestId,
        /// The echoed bytes.
        data: Bytes,
    },
    /// The reply to a packet sent with [`Client::send_raw`](super::Client::send_raw).
    RawReply {
        /// The request.
        request: RequestId,
        /// The reply, as received.
        packet: Packet,
    },
    /// A status, echo or raw request ended without an answer.
    RequestError {
        /// The request.
        request: RequestId,
        /// What went wrong.
        error: ClientError,
    },
    /// The client has closed ([`Client::close`](super::Client::close)):
    /// every job and request has ended, and every connection's last bytes
    /// and its close were handed out. Its last event; a loop may stop here.
    Closed,
}

impl ClientEvent {
    /// The job this event is about, if any.
    pub fn job(&self) -> Option<JobId> {
        match self {
            ClientEvent::Created { job, .. }
            | ClientEvent::Data { job, .. }
            | ClientEvent::Warning { job, .. }
            | ClientEvent::Status { job, .. }
            | ClientEvent::Complete { job, .. }
            | ClientEvent::Failed { job }
            | ClientEvent::Exception { job, .. }
            | ClientEvent::JobError { job, .. } => Some(*job),
            _ => None,
        }
    }

    /// The status or echo request this event answers, if any.
    pub fn request(&self) -> Option<RequestId> {
        match self {
            ClientEvent::StatusResult { request, .. }
            | ClientEvent::StatusUniqueResult { request, .. }
            | ClientEvent::EchoResult { request, .. }
            | ClientEvent::RawReply { request, .. }
            | ClientEvent::RequestError { request, .. } => Some(*request),
            _ => None,
        }
    }

    /// Whether this is the last event of its job or request (or, for
    /// [`Closed`](ClientEvent::Closed), of the client).
    pub fn is_terminal(&self) -> bool {
        match self {
            ClientEvent::Created { background, .. } => *background,
            ClientEvent::Data { .. } | ClientEvent::Warning { .. } | ClientEvent::Status { .. } => {
                false
            }
            _ => true,
        }
    }
}

/// Why a job or request ended without a result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The connection dropped (or was closed because the server broke the
    /// protocol). If `acknowledged`, the server had created the job and may
    /// still run it: it was not resubmitted. Otherwise retries were used up
    /// or no other server was up.
    #[error("connection to the job server lost (job acknowledged: {acknowledged})")]
    Disconnected {
        /// Whether the server had answered the submit with JOB_CREATED.
        acknowledged: bool,
    },
    /// The connect timeout, request timeout or job deadline passed.
    #[error("timed out (job acknowledged: {acknowledged})")]
    Timeout {
        /// Whether the server had answered the submit with JOB_CREATED.
        acknowledged: bool,
    },
    /// The server answered with ERROR (the job was not created).
    #[error("server error {code}: {text}")]
    ServerError {
        /// Error code, such as `QUEUE_ERROR`.
        code: String,
        /// Error text.
        text: String,
    },
    /// Every server was down (backing off after a failure), or the
    /// connection the request waited on could not be opened and no other
    /// server was up. `cause` is the last failure to connect, when the
    /// driver reported one; it is the error's
    /// [`source`](std::error::Error::source).
    #[error("no job server could take the job")]
    NoServer {
        /// The last failure to connect to a server, with its address.
        #[source]
        cause: Option<ConnectError>,
    },
    /// The server dropped the request without a reply: it answered a later
    /// request on the same connection first (replies come in order), so
    /// this one will never be answered. Servers do this with requests they
    /// do not support. The job was not created.
    #[error("the job server ignored the request")]
    Ignored,
    /// The client was closed ([`Client::close`](super::Client::close)) and
    /// its [`close_timeout`](super::ClientConfig::close_timeout) passed
    /// before this ended. If `acknowledged`, the server had created the job
    /// and may still run it.
    #[error("the client closed before the end (job acknowledged: {acknowledged})")]
    Closed {
        /// Whether the server had answered the submit with JOB_CREATED.
        acknowledged: bool,
    },
}

impl ClientError {
    /// Whether the server had acknowledged the job when it ended.
    pub fn acknowledged(&self) -> bool {
        match self {
            ClientError::Disconnected { acknowledged }
            | ClientError::Timeout { acknowledged }
            | ClientError::Closed { acknowledged } => *acknowledged,
            _ => false,
        }
    }
}

/// A STATUS_RES.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobStatus {
    /// The job asked about.
    pub handle: JobHandle,
    /// Whether the server knows the job (false for finished or never existing).
    pub known: bool,
    /// Whether a worker is running it.
    pub running: bool,
    /// Last reported work done (0 if none).
    pub numerator: u64,
    /// Last reported total (0 if none).
    pub denominator: u64,
}

/// A STATUS_RES_UNIQUE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UniqueStatus {
    /// The unique id asked about.
    pub unique: Bytes,
    /// Whether a live job has this unique id.
    pub known: bool,
    /// Whether a worker is running it.
    pub running: bool,
    /// Last reported work done (0 if none).
    pub numerator: u64,
    /// Last reported total (0 if none).
    pub denominator: u64,
    /// Foreground clients waiting for the job.
    pub waiting_clients: u64,
}

/// Reads a status number leniently, as gearmand does: leading decimal digits,
/// 0 if there are none, saturating on overflow.
pub(crate) fn lenient_number(text: &[u8]) -> u64 {
    text.iter()
        .take_while(|b| b.is_ascii_digit())
        .fold(0u64, |n, &d| {
            n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_numbers() {
        assert_eq!(lenient_number(b""), 0);
        assert_eq!(lenient_number(b"42"), 42);
        assert_eq!(lenient_number(b"12abc"), 12);
        assert_eq!(lenient_number(b"x1"), 0);
        assert_eq!(lenient_number(b"99999999999999999999999"), u64::MAX);
    }
}
