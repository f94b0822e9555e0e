//! What a waiting caller sees of a client's events; see [`dispatch`].

use bytes::Bytes;

use crate::client::{
    ClientError, ClientEvent, JobHandle, JobId, JobStatus, RequestId, UniqueStatus,
};

/// How a job ended, as its worker decided (or, for a background job, as the
/// server accepted it).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JobOutcome {
    /// WORK_COMPLETE with the result.
    Complete(Bytes),
    /// WORK_FAIL.
    Fail,
    /// WORK_EXCEPTION with the worker's text.
    Exception(Bytes),
    /// A background job was queued; the server keeps it, and nothing more
    /// comes back for it.
    Queued(JobHandle),
}

impl JobOutcome {
    /// The result of a completed job, or why there is none as an error, so
    /// that a caller can `?` a job's outcome instead of matching it: a
    /// failure and an exception become [`JobError::Failed`] and
    /// [`JobError::Exception`], and a background job's [`JobOutcome::Queued`]
    /// becomes [`JobError::Queued`] (it has no result to give).
    ///
    /// ```
    /// use gearman_proto::client::{JobError, JobOutcome};
    ///
    /// assert_eq!(JobOutcome::Complete("olleh".into()).into_result(), Ok("olleh".into()));
    /// let failed = JobOutcome::Exception("no such file".into()).into_result().unwrap_err();
    /// assert_eq!(failed, JobError::Exception("no such file".into()));
    /// assert_eq!(failed.to_string(), "the job raised an exception: no such file");
    /// ```
    pub fn into_result(self) -> Result<Bytes, JobError> {
        match self {
            JobOutcome::Complete(result) => Ok(result),
            JobOutcome::Fail => Err(JobError::Failed),
            JobOutcome::Exception(text) => Err(JobError::Exception(text)),
            JobOutcome::Queued(handle) => Err(JobError::Queued(handle)),
        }
    }
}

/// Why a job's outcome holds no result; see [`JobOutcome::into_result`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JobError {
    /// The worker sent WORK_FAIL (or an exception, to a client that did not
    /// ask for exceptions).
    #[error("the job failed")]
    Failed,
    /// The worker sent WORK_EXCEPTION with this text.
    #[error("the job raised an exception: {}", String::from_utf8_lossy(.0))]
    Exception(Bytes),
    /// The job was submitted in the background: the server queued it, and
    /// its result never comes back to the client.
    #[error("the job was queued in the background and has no result")]
    Queued(JobHandle),
}

/// Something a running job sent before its end.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JobUpdate {
    /// WORK_DATA: a chunk of partial result.
    Data(Bytes),
    /// WORK_WARNING.
    Warning(Bytes),
    /// WORK_STATUS: progress as numerator / denominator.
    Status {
        /// Work done.
        numerator: u64,
        /// Work in total.
        denominator: u64,
    },
}

/// One step of a job, for whoever waits on it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JobStep {
    /// The server acknowledged a foreground job under this handle.
    Created(JobHandle),
    /// An update before the end.
    Update(JobUpdate),
    /// The job's last step: its outcome, or why it ended without one.
    End(Result<JobOutcome, ClientError>),
}

impl JobStep {
    /// Whether this is the job's last step.
    pub fn is_end(&self) -> bool {
        matches!(self, JobStep::End(_))
    }

    /// Whether a caller waiting for the job needs waking for this step. It
    /// waits for an update or the end; the server's acknowledgement alone
    /// changes nothing it waits for, so the waiter picks it up with the
    /// step that follows, a wake-up (on a multi-threaded runtime, a thread
    /// hand-off) less per job.
    ///
    /// ```
    /// use gearman_proto::client::{JobHandle, JobOutcome, JobStep, ServerId};
    ///
    /// let handle = JobHandle { server: ServerId(0), handle: "H:1".into() };
    /// assert!(!JobStep::Created(handle).wakes_waiter());
    /// assert!(JobStep::End(Ok(JobOutcome::Complete("done".into()))).wakes_waiter());
    /// ```
    pub fn wakes_waiter(&self) -> bool {
        !matches!(self, JobStep::Created(_))
    }
}

/// The answer to a status or echo request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestAnswer {
    /// STATUS_RES.
    Status(JobStatus),
    /// STATUS_RES_UNIQUE.
    StatusUnique(UniqueStatus),
    /// ECHO_RES.
    Echo(Bytes),
    /// The client closed ([`Call::Close`](crate::client::Call::Close)).
    Closed,
}

/// A client event addressed to the caller waiting for it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Dispatch {
    /// A step of a submitted job.
    Job {
        /// The job.
        job: JobId,
        /// What happened.
        step: JobStep,
    },
    /// The one answer to a status or echo request.
    Request {
        /// The request.
        request: RequestId,
        /// Its answer, or why there is none.
        answer: Result<RequestAnswer, ClientError>,
    },
}

/// Addresses `event` to its job or request; `None` for events no caller
/// waits on.
///
/// What a waiting caller sees of a [`Client`](crate::client::Client)'s
/// events: a job's steps (acknowledged, updates, one end) and a request's
/// one answer, in the shape every adapter hands out.
///
/// It turns one [`ClientEvent`] into a [`Dispatch`] addressed to a
/// job or to a request, so that adapters only look up who waits for that id
/// and pass the step on; the mapping itself (which event ends a job, what a
/// background job's end is, which answer goes with which request) is the
/// same in every adapter.
///
/// ```
/// use bytes::Bytes;
/// use gearman_proto::client::{ClientEvent, JobId};
/// use gearman_proto::client::{Dispatch, JobOutcome, JobStep, dispatch};
///
/// let event = ClientEvent::Complete { job: JobId(7), data: Bytes::from_static(b"olleh") };
/// match dispatch(event) {
///     Some(Dispatch::Job { job, step }) => {
///         assert_eq!(job, JobId(7));
///         assert!(step.is_end());
///         assert_eq!(step, JobStep::End(Ok(JobOutcome::Complete(Bytes::from_static(b"olleh")))));
///     }
///     other => unreachable!("{other:?}"),
/// }
/// ```
pub fn dispatch(event: ClientEvent) -> Option<Dispatch> {
    let job = |job, step| Some(Dispatch::Job { job, step });
    let request = |request, answer| Some(Dispatch::Request { request, answer });
    match event {
        ClientEvent::Created {
            job: id,
            handle,
            background: true,
        } => job(id, JobStep::End(Ok(JobOutcome::Queued(handle)))),
        ClientEvent::Created {
            job: id, handle, ..
        } => job(id, JobStep::Created(handle)),
        ClientEvent::Data { job: id, data } => job(id, JobStep::Update(JobUpdate::Data(data))),
        ClientEvent::Warning { job: id, data } => {
            job(id, JobStep::Update(JobUpdate::Warning(data)))
        }
        ClientEvent::Status {
            job: id,
            numerator,
            denominator,
        } => job(
            id,
            JobStep::Update(JobUpdate::Status {
                numerator,
                denominator,
            }),
        ),
        ClientEvent::Complete { job: id, data } => {
            job(id, JobStep::End(Ok(JobOutcome::Complete(data))))
        }
        ClientEvent::Failed { job: id } => job(id, JobStep::End(Ok(JobOutcome::Fail))),
        ClientEvent::Exception { job: id, data } => {
            job(id, JobStep::End(Ok(JobOutcome::Exception(data))))
        }
        ClientEvent::JobError { job: id, error } => job(id, JobStep::End(Err(error))),
        ClientEvent::StatusResult {
            request: id,
            status,
        } => request(id, Ok(RequestAnswer::Status(status))),
        ClientEvent::StatusUniqueResult {
            request: id,
            status,
        } => request(id, Ok(RequestAnswer::StatusUnique(status))),
        ClientEvent::EchoResult { request: id, data } => request(id, Ok(RequestAnswer::Echo(data))),
        ClientEvent::RequestError { request: id, error } => request(id, Err(error)),
        // Events for callers speaking raw packets, and any added later.
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::ServerId;

    fn handle() -> JobHandle {
        JobHandle {
            server: ServerId(1),
            handle: Bytes::from_static(b"H:x:1"),
        }
    }

    /// The step of a job event, and whether it ends the job.
    fn step(event: ClientEvent) -> (JobStep, bool) {
        let terminal = event.is_terminal();
        match dispatch(event) {
            Some(Dispatch::Job { job, step }) => {
                assert_eq!(job, JobId(3));
                (step, terminal)
            }
            other => panic!("not a job step: {other:?}"),
        }
    }

    #[test]
    fn job_events_become_steps_and_ends_agree_with_the_core() {
        let job = JobId(3);
        let cases = [
            (
                ClientEvent::Created {
                    job,
                    handle: handle(),
                    background: false,
                },
                JobStep::Created(handle()),
            ),
            (
                ClientEvent::Created {
                    job,
                    handle: handle(),
                    background: true,
                },
                JobStep::End(Ok(JobOutcome::Queued(handle()))),
            ),
            (
                ClientEvent::Data {
                    job,
                    data: "d".into(),
                },
                JobStep::Update(JobUpdate::Data("d".into())),
            ),
            (
                ClientEvent::Warning {
                    job,
                    data: "w".into(),
                },
                JobStep::Update(JobUpdate::Warning("w".into())),
            ),
            (
                ClientEvent::Status {
                    job,
                    numerator: 1,
                    denominator: 2,
                },
                JobStep::Update(JobUpdate::Status {
                    numerator: 1,
                    denominator: 2,
                }),
            ),
            (
                ClientEvent::Complete {
                    job,
                    data: "r".into(),
                },
                JobStep::End(Ok(JobOutcome::Complete("r".into()))),
            ),
            (
                ClientEvent::Failed { job },
                JobStep::End(Ok(JobOutcome::Fail)),
            ),
            (
                ClientEvent::Exception {
                    job,
                    data: "e".into(),
                },
                JobStep::End(Ok(JobOutcome::Exception("e".into()))),
            ),
            (
                ClientEvent::JobError {
                    job,
                    error: ClientError::NoServer { cause: None },
                },
                JobStep::End(Err(ClientError::NoServer { cause: None })),
            ),
        ];
        for (event, expected) in cases {
            let (got, terminal) = step(event);
            assert_eq!(got.is_end(), terminal, "{got:?}");
            assert_eq!(got, expected);
        }
    }

    #[test]
    fn request_events_become_answers() {
        let request = RequestId(9);
        let status = JobStatus {
            handle: handle(),
            known: true,
            running: false,
            numerator: 0,
            denominator: 0,
        };
        let unique = UniqueStatus {
            unique: "u".into(),
            known: false,
            running: false,
            numerator: 0,
            denominator: 0,
            waiting_clients: 0,
        };
        let cases = [
            (
                ClientEvent::StatusResult {
                    request,
                    status: status.clone(),
                },
                Ok(RequestAnswer::Status(status)),
            ),
            (
                ClientEvent::StatusUniqueResult {
                    request,
                    status: unique.clone(),
                },
                Ok(RequestAnswer::StatusUnique(unique)),
            ),
            (
                ClientEvent::EchoResult {
                    request,
                    data: "ping".into(),
                },
                Ok(RequestAnswer::Echo("ping".into())),
            ),
            (
                ClientEvent::RequestError {
                    request,
                    error: ClientError::Timeout {
                        acknowledged: false,
                    },
                },
                Err(ClientError::Timeout {
                    acknowledged: false,
                }),
            ),
        ];
        for (event, expected) in cases {
            assert_eq!(
                dispatch(event),
                Some(Dispatch::Request {
                    request,
                    answer: expected
                })
            );
        }
    }
}
