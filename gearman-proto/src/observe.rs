//! What a client or worker shows of itself for health checks, metrics and
//! traces: each server's connection state and load ([`ServerState`]), and
//! the `tracing` spans a worker's job runs in ([`job_span`]) and a client's
//! submit is followed in ([`submit_span`]).

use std::time::Instant;

use crate::client::JobRequest;
use crate::endpoint::ServerId;
use crate::worker::Assignment;

/// Name of the span each job a worker runs executes in.
pub const JOB_SPAN: &str = "gearman.job";

/// Name of the span a client's submit is followed in, from the submit to
/// its end.
pub const SUBMIT_SPAN: &str = "gearman.submit";

/// Where a server's connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionState {
    /// No connection, and none asked for yet: a client connects lazily,
    /// when a request is routed to the server.
    Idle,
    /// A connection is being opened (for a client's reconnection, until it
    /// has answered its probe).
    Connecting,
    /// Established (for a worker: at least one of its connections).
    Connected,
    /// The last connection failed or dropped; the next attempt is due at `until`.
    BackingOff {
        /// When the next connection attempt is due.
        until: Instant,
    },
    /// No connection and none planned (a worker shutting down).
    Stopped,
}

/// One configured server as a client or worker sees it now.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerState {
    /// The server's index in the configured list.
    pub server: ServerId,
    /// The address as configured.
    pub addr: String,
    /// Its connection.
    pub state: ConnectionState,
    /// Jobs on it not yet ended: for a client, submitted and not ended
    /// (acknowledged or not); for a worker, assigned and not yet reported.
    pub jobs_in_flight: usize,
    /// Requests sent that await a reply: for a client, submits, status
    /// queries, echoes and options; for a worker, grabs.
    pub requests_pending: usize,
}

/// The span a worker's job runs in: [`JOB_SPAN`] at info level, with the
/// job's `function`, `handle` and the `server` address. Adapters run each
/// handler inside it, so whatever the handler logs carries them.
pub fn job_span(assignment: &Assignment, addr: &str) -> tracing::Span {
    tracing::info_span!(
        JOB_SPAN,
        function = %String::from_utf8_lossy(&assignment.function),
        handle = %String::from_utf8_lossy(&assignment.handle),
        server = addr,
    )
}

/// A job's [`submit_span`], as the caller's handle and the client's table
/// of waiters ([`Waiters`](crate::client::Waiters)) each keep it: one
/// pointer, and nothing allocated, when no subscriber wants the span, so
/// with many thousands of jobs in flight the span costs nothing unless it
/// is recorded.
///
/// ```
/// use gearman_proto::observe::SubmitSpan;
/// // With no subscriber the span is disabled and nothing is kept.
/// let span = SubmitSpan::new(tracing::info_span!("gearman.submit"));
/// assert!(span.span().is_none());
/// let _inside = span.enter();
/// ```
#[derive(Debug, Default, Clone)]
pub struct SubmitSpan(Option<Box<tracing::Span>>);

impl SubmitSpan {
    /// Keeps `span` unless it is disabled.
    pub fn new(span: tracing::Span) -> SubmitSpan {
        SubmitSpan((!span.is_disabled()).then(|| Box::new(span)))
    }

    /// The span, when a subscriber wants it.
    pub fn span(&self) -> Option<&tracing::Span> {
        self.0.as_deref()
    }

    /// The span, when a subscriber wants it, for a holder that keeps it
    /// apart.
    pub(crate) fn into_span(self) -> Option<tracing::Span> {
        self.0.map(|span| *span)
    }

    /// Enters the span until the returned guard drops (nothing when there is
    /// no span). The guard owns a copy, so the holder stays free to change.
    pub fn enter(&self) -> Option<tracing::span::EnteredSpan> {
        self.span().map(|span| span.clone().entered())
    }
}

/// The span a client's submit is followed in: [`SUBMIT_SPAN`] at info level,
/// with the job's `function` and `unique` (empty when none was given), and
/// the `server` address and `handle` once the server has acknowledged it.
/// [`Call::submit`](crate::client::Call::submit) opens it and hands a copy
/// to the caller; the client's table of waiters
/// ([`Waiters`](crate::client::Waiters)) enters it while applying the
/// submit and delivering each of the job's steps, and each adapter's job
/// handle while its caller waits for the job. It closes once the job has
/// ended and the caller's handle is dropped.
pub fn submit_span(request: &JobRequest) -> tracing::Span {
    let unique = request.unique.as_deref().unwrap_or_default();
    tracing::info_span!(
        SUBMIT_SPAN,
        function = %String::from_utf8_lossy(&request.function),
        unique = %String::from_utf8_lossy(unique),
        server = tracing::field::Empty,
        handle = tracing::field::Empty,
    )
}
