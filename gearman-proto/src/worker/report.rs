//! What a job handler reports while it runs and when it ends, in the shape
//! every adapter's handlers use, and how each report reaches the
//! [`Worker`] state machine.
//!
//! ```
//! use std::time::Instant;
//! use bytes::Bytes;
//! use gearman_proto::worker::{WorkError, WorkUpdate};
//! use gearman_proto::worker::{AssignmentId, Worker, WorkerConfig, WorkerError};
//!
//! let mut worker = Worker::new(WorkerConfig::new(["127.0.0.1:4730"]), Instant::now()).unwrap();
//! // A job this worker never assigned is refused, whatever the report.
//! let update = WorkUpdate::Status { numerator: 1, denominator: 2 };
//! assert_eq!(worker.report_update(AssignmentId(9), &update), Err(WorkerError::UnknownJob(AssignmentId(9))));
//! let end: Result<Bytes, WorkError> = Err(WorkError::Exception("boom".into()));
//! assert_eq!(worker.report_end(AssignmentId(9), &end), Err(WorkerError::UnknownJob(AssignmentId(9))));
//! ```

use std::time::Instant;

use bytes::Bytes;

use crate::worker::{AssignmentId, Worker, WorkerError};

/// Why a handler did not complete its job.
///
/// Any error converts into one, so a handler can use `?` on whatever it
/// calls: the error becomes [`WorkError::Exception`] carrying its text (its
/// `Display`, then each `source()`'s, joined by `": "`). A client that did
/// not ask for exceptions sees such a job as failed, as it sees
/// [`WorkError::Fail`]. An exception is chosen over a bare failure because
/// it keeps the reason for the clients that can read it.
///
/// `WorkError` is not itself a [`std::error::Error`]: that is what lets it
/// convert from every error (an `anyhow::Error` included, and `String` or
/// `&str` messages) without clashing with the identity conversion.
///
/// ```
/// use gearman_proto::worker::WorkError;
///
/// fn handler(payload: &[u8]) -> Result<String, WorkError> {
///     let text = std::str::from_utf8(payload)?;
///     let number: u32 = text.parse()?;
///     Ok((number * 2).to_string())
/// }
///
/// assert_eq!(handler(b"21").unwrap(), "42");
/// assert_eq!(
///     handler(b"x").unwrap_err(),
///     WorkError::Exception("invalid digit found in string".into())
/// );
/// assert!(matches!(handler(b"\xff"), Err(WorkError::Exception(_))));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WorkError {
    /// Send WORK_FAIL.
    Fail,
    /// Send WORK_EXCEPTION with this text (clients that did not ask for
    /// exceptions see a failure).
    Exception(Bytes),
}

impl<E> From<E> for WorkError
where
    E: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
{
    fn from(error: E) -> WorkError {
        let error: Box<dyn std::error::Error + Send + Sync> = error.into();
        let mut text = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        WorkError::Exception(Bytes::from(text))
    }
}

impl std::fmt::Display for WorkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WorkError::Fail => f.write_str("the job failed"),
            WorkError::Exception(text) => write!(
                f,
                "the job raised an exception: {}",
                String::from_utf8_lossy(text)
            ),
        }
    }
}

/// Something a running handler sends back before its end.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WorkUpdate {
    /// WORK_DATA: a chunk of partial result.
    Data(Bytes),
    /// WORK_WARNING.
    Warning(Bytes),
    /// WORK_STATUS: progress as numerator / denominator.
    Status {
        /// Work done.
        numerator: u32,
        /// Work in total.
        denominator: u32,
    },
}

/// What a worker's jobs and its owner tell its run loop, for
/// [`Worker::apply`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WorkerCommand {
    /// An update from a running job, as [`Worker::report_update`].
    Update(AssignmentId, WorkUpdate),
    /// A job's end, as [`Worker::report_end`].
    Done(AssignmentId, Result<Bytes, WorkError>),
    /// Stop taking jobs, as [`Worker::shutdown`].
    Shutdown,
}

impl Worker {
    /// Applies `command`. A report the worker refuses (its job's connection
    /// dropped, and the server requeues the job) is only logged.
    pub fn apply(&mut self, command: WorkerCommand, now: Instant) {
        let sent = match &command {
            WorkerCommand::Update(id, update) => self.report_update(*id, update),
            WorkerCommand::Done(id, end) => self.report_end(*id, end),
            WorkerCommand::Shutdown => {
                self.shutdown(now);
                Ok(())
            }
        };
        if let Err(err) = sent {
            tracing::debug!(%err, ?command, "job report not sent");
        }
    }

    /// Sends one update of job `id`: WORK_DATA, WORK_WARNING or WORK_STATUS.
    pub fn report_update(
        &mut self,
        id: AssignmentId,
        update: &WorkUpdate,
    ) -> Result<(), WorkerError> {
        match update {
            WorkUpdate::Data(data) => self.work_data(id, data),
            WorkUpdate::Warning(data) => self.work_warning(id, data),
            WorkUpdate::Status {
                numerator,
                denominator,
            } => self.work_status(id, *numerator, *denominator),
        }
    }

    /// Ends job `id` as its handler decided: WORK_COMPLETE with the result,
    /// WORK_FAIL, or WORK_EXCEPTION with the text.
    pub fn report_end(
        &mut self,
        id: AssignmentId,
        end: &Result<Bytes, WorkError>,
    ) -> Result<(), WorkerError> {
        match end {
            Ok(result) => self.work_complete(id, result),
            Err(WorkError::Fail) => self.work_fail(id),
            Err(WorkError::Exception(text)) => self.work_exception(id, text),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::endpoint::ConnAction;
    use crate::packet::Packet;
    use crate::worker::{WorkerConfig, WorkerEvent};
    use crate::{Command, Decoder};

    /// A worker connected to one server with one job assigned.
    fn worker_with_job() -> (Worker, AssignmentId, crate::ConnId) {
        let now = Instant::now();
        let config = WorkerConfig::new(["s:1"]).with_function("f").with_seed(1);
        let mut worker = Worker::new(config, now).unwrap();
        let conn = loop {
            match worker.poll_action() {
                Some(ConnAction::Connect { conn, .. }) => break conn,
                Some(_) => {}
                None => panic!("the worker asks to connect"),
            }
        };
        worker.handle_connected(conn, now);
        while worker.poll_transmit().is_some() {}
        let mut assign = Vec::new();
        Packet::build(Command::JobAssignUniq, &[b"H:1", b"f", b"u", b"payload"])
            .unwrap()
            .encode(&mut assign);
        worker.handle_input(conn, &assign, now);
        let id = loop {
            match worker.poll_event() {
                Some(WorkerEvent::JobAssigned(job)) => break job.id,
                Some(_) => {}
                None => panic!("the job is assigned"),
            }
        };
        (worker, id, conn)
    }

    /// The packets the worker wrote, as (command, arguments).
    fn sent(worker: &mut Worker) -> Vec<(Command, Vec<Bytes>)> {
        let mut wire = bytes::BytesMut::new();
        while let Some(transmit) = worker.poll_transmit() {
            wire.extend_from_slice(&transmit.data);
        }
        let mut decoder = Decoder::new();
        let mut packets = Vec::new();
        while let Some(packet) = decoder.decode_packet(&mut wire).unwrap() {
            packets.push((
                packet.command(),
                packet.args().map(Bytes::copy_from_slice).collect(),
            ));
        }
        packets
    }

    #[test]
    fn updates_and_ends_become_their_packets() {
        let (mut worker, id, _) = worker_with_job();
        worker
            .report_update(id, &WorkUpdate::Data("d".into()))
            .unwrap();
        worker
            .report_update(id, &WorkUpdate::Warning("w".into()))
            .unwrap();
        worker
            .report_update(
                id,
                &WorkUpdate::Status {
                    numerator: 1,
                    denominator: 2,
                },
            )
            .unwrap();
        worker
            .report_end(id, &Err(WorkError::Exception("e".into())))
            .unwrap();
        let commands: Vec<Command> = sent(&mut worker)
            .into_iter()
            .map(|(command, _)| command)
            .filter(|c| {
                !matches!(
                    c,
                    Command::GrabJobUniq | Command::GrabJobAll | Command::GrabJob
                )
            })
            .collect();
        assert_eq!(
            commands,
            [
                Command::WorkDataReq,
                Command::WorkWarningReq,
                Command::WorkStatusReq,
                Command::WorkExceptionReq
            ]
        );
        // Ended once: a second end is refused.
        assert_eq!(
            worker.report_end(id, &Ok("late".into())),
            Err(WorkerError::JobEnded(id))
        );
    }

    #[test]
    fn complete_and_fail() {
        let (mut worker, id, _) = worker_with_job();
        worker.report_end(id, &Ok("result".into())).unwrap();
        let packets = sent(&mut worker);
        let complete = packets
            .iter()
            .find(|(c, _)| *c == Command::WorkCompleteReq)
            .expect("WORK_COMPLETE sent");
        assert_eq!(complete.1, [Bytes::from("H:1"), Bytes::from("result")]);

        let (mut worker, id, _) = worker_with_job();
        worker.report_end(id, &Err(WorkError::Fail)).unwrap();
        assert!(
            sent(&mut worker)
                .iter()
                .any(|(c, args)| *c == Command::WorkFailReq && args[..] == [Bytes::from("H:1")])
        );
    }
}
