//! What a [`Worker`](super::Worker) reports, and the mistakes it refuses.

use std::fmt;

use bytes::Bytes;

use crate::endpoint::{ConnectError, ServerId};
use crate::packet::Packet;

/// The id a [`Worker`](super::Worker) gives each job assigned to it: never
/// reused, so a late call for a job that already ended is recognised as
/// such. (A client's id for a job it submitted is
/// [`client::JobId`](crate::client::JobId), a different number.)
///
/// A job handle is only unique on the server that issued it; the id stands
/// for the pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AssignmentId(pub u64);

impl fmt::Display for AssignmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "job#{}", self.0)
    }
}

/// A job a server assigned to this worker.
///
/// Every field is a zero-copy slice of the packet it arrived in.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Assignment {
    /// The id to report results with.
    pub id: AssignmentId,
    /// The server that assigned it (the handle is only unique there).
    pub server: ServerId,
    /// The job handle, as the server sent it.
    pub handle: Bytes,
    /// The function to run.
    pub function: Bytes,
    /// The client's unique id: `None` when the assignment was a plain
    /// JOB_ASSIGN, which does not carry it; possibly empty otherwise.
    pub unique: Option<Bytes>,
    /// The reducer of a reduce job (JOB_ASSIGN_ALL only); `None` when absent or empty.
    pub reducer: Option<Bytes>,
    /// The workload.
    pub payload: Bytes,
}

/// The accessors every adapter's job type shows its handlers, written once
/// here: an adapter's job dereferences to its `Assignment`.
impl Assignment {
    /// The server that assigned the job, by its index in the configured list.
    pub fn server(&self) -> ServerId {
        self.server
    }

    /// The job handle the server gave the job.
    pub fn handle(&self) -> &Bytes {
        &self.handle
    }

    /// The function name.
    pub fn function(&self) -> &Bytes {
        &self.function
    }

    /// The client's unique id, when the server sent one (JOB_ASSIGN_UNIQ or
    /// JOB_ASSIGN_ALL; possibly empty).
    pub fn unique(&self) -> Option<&Bytes> {
        self.unique.as_ref()
    }

    /// The reducer of a reduce job (SUBMIT_REDUCE_JOB), when the server
    /// sent a non-empty one in JOB_ASSIGN_ALL.
    pub fn reducer(&self) -> Option<&Bytes> {
        self.reducer.as_ref()
    }

    /// The workload.
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }
}

/// How a run loop starts and stops the jobs that
/// [`Worker::run_jobs`](super::Worker::run_jobs) hands it.
pub trait JobRunner {
    /// Starts `assignment` (on a task, a thread...); `worker` is lent back
    /// for the job's span, or to fail a job that cannot start.
    fn start(&mut self, worker: &mut super::Worker, assignment: Assignment);

    /// The connection that assigned job `id` dropped, as
    /// [`WorkerEvent::JobLost`]: stop it if you can. By default it is only
    /// logged, and runs on; its result is dropped.
    fn lost(&mut self, id: AssignmentId) {
        tracing::debug!(%id, "job lost with its connection; the server requeues it");
    }
}

/// Something the caller should know, from [`Worker::poll_event`](super::Worker::poll_event).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WorkerEvent {
    /// A job to run. End it with exactly one of
    /// [`work_complete`](super::Worker::work_complete),
    /// [`work_fail`](super::Worker::work_fail) or
    /// [`work_exception`](super::Worker::work_exception).
    JobAssigned(Assignment),
    /// The connection that assigned this job dropped: the server requeues
    /// the job (gearmand does; the Perl and Python servers fail it instead),
    /// so it may run again elsewhere. Stop it if you can; results reported for it from now
    /// on are dropped without error. Its concurrency slot is free again.
    JobLost {
        /// The job.
        id: AssignmentId,
    },
    /// A connection to `server` is established and registered.
    Connected {
        /// The server.
        server: ServerId,
    },
    /// The connection to `server` closed or failed; a reconnect is
    /// scheduled unless the worker is shutting down.
    Disconnected {
        /// The server.
        server: ServerId,
    },
    /// A connection to `server` could not be opened (refused, the name did
    /// not resolve, or it was not ready within
    /// [`WorkerConfig::connect_timeout`](super::WorkerConfig::connect_timeout)):
    /// `error` names the address and the socket error. A reconnect is
    /// scheduled after the usual backoff unless the worker is shutting down,
    /// so this repeats for as long as the server stays down.
    ConnectFailed {
        /// The server.
        server: ServerId,
        /// The address and the cause.
        error: ConnectError,
    },
    /// A packet the worker does not consume itself (ECHO_RES, OPTION_RES,
    /// or one meant for clients), for callers that speak raw packets with
    /// [`send_raw`](super::Worker::send_raw).
    Packet {
        /// The server that sent it.
        server: ServerId,
        /// The packet.
        packet: Packet,
    },
    /// A [`shutdown`](super::Worker::shutdown) finished: no job is running,
    /// every connection is closed, and nothing more will happen.
    ShutdownComplete,
}

/// Where one connection is in its grab cycle.
///
/// ```text
/// Idle              -- slot free, grab sent --------------> AwaitingGrabReply
/// Idle              -- last grab got a job, the last such
///                      speculative grab got NO_JOB, nothing
///                      in flight: slot free, PRE_SLEEP sent
///                      instead (but a grab every 4th time) --> Asleep
/// AwaitingGrabReply -- slot free, fewer grabs out than the
///                      connection's window (one more per job,
///                      halved at each sleep), no NO_JOB yet,
///                      another grab sent ------------------> AwaitingGrabReply
/// AwaitingGrabReply -- JOB_ASSIGN / _UNIQ / _ALL or NO_JOB,
///                      more grabs outstanding -------------> AwaitingGrabReply
/// AwaitingGrabReply -- last reply, all JOB_ASSIGN* --------> Idle
/// AwaitingGrabReply -- last reply, some NO_JOB,
///                      PRE_SLEEP sent --------------------> Asleep
/// AwaitingGrabReply -- ERROR or no reply in time to the
///                      one grab, plainer grab sent --------> AwaitingGrabReply
/// AwaitingGrabReply -- ERROR to GRAB_JOB, PRE_SLEEP sent --> Asleep
/// Asleep            -- NOOP -------------------------------> Idle
/// ```
///
/// Sleeping first relies on the server answering PRE_SLEEP with NOOP at
/// once when work is queued, as it must anyway for the PRE_SLEEP after
/// NO_JOB; it saves the NO_JOB round trip when one job at a time comes in.
///
/// Nothing else changes the state: a NOOP while idle or awaiting a reply,
/// and a NO_JOB or ERROR with no grab outstanding, are ignored. No reply
/// even to GRAB_JOB, or to several grabs at once, or an assignment with no
/// grab outstanding, closes the connection. While shutting down no grab is
/// sent, and the last grab answered, or grabs overdue, leave the connection
/// idle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GrabState {
    /// Not grabbing; work may be waiting (the connection is new, its last
    /// grab got a job, or a NOOP woke it), so it grabs when a concurrency
    /// slot is free, unless it sleeps first (see above).
    Idle,
    /// One or more grabs were sent and not all answered.
    AwaitingGrabReply,
    /// NO_JOB came back, or the queue is usually empty after a job, and
    /// PRE_SLEEP was sent; only a NOOP wakes it.
    Asleep,
}

/// A usage mistake: the worker refuses the call and changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WorkerError {
    /// The configuration lists no server.
    #[error("no job server configured")]
    NoServers,
    /// A function name is empty or contains a NUL byte (it could never be
    /// assigned: the server sends it NUL-terminated).
    #[error("invalid function name {0:?}")]
    InvalidFunction(Bytes),
    /// This worker never assigned a job with this id.
    #[error("{0} was never assigned by this worker")]
    UnknownJob(AssignmentId),
    /// The job already ended with WORK_COMPLETE, WORK_FAIL or WORK_EXCEPTION.
    #[error("{0} already ended")]
    JobEnded(AssignmentId),
    /// The server is not configured or not connected right now.
    #[error("{0} is not connected")]
    NotConnected(ServerId),
}
