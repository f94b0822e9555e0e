//! What the caller asks a [`Client`](super::Client) for: jobs, their ids and
//! handles, and the ways a request can be malformed.

use std::fmt;
use std::time::Duration;

use bytes::{BufMut, Bytes};

use crate::client::ServerId;
use crate::decimal::Decimal;
use crate::packet::encode_fields;
use crate::packet::{Command, Field, Priority};

/// Longest unique id sent: gearmand accepts 64 bytes but stores 63, and a
/// 64-byte unique breaks coalescing.
pub const MAX_UNIQUE_LEN: usize = 63;

/// Longest job handle a status request is sent for: gearmand drops the
/// connection on a longer one.
pub const MAX_HANDLE_LEN: usize = 63;

/// The client's id for a submitted job, valid until the job ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(pub u64);

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "job#{}", self.0)
    }
}

/// The client's id for a status or echo request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "request#{}", self.0)
    }
}

/// A job handle together with the server that issued it: a handle is only
/// unique on its own server.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct JobHandle {
    /// The server that issued the handle.
    pub server: ServerId,
    /// The handle, as the server sent it (opaque).
    pub handle: Bytes,
}

/// When a background job should run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Schedule {
    /// At a Unix time in seconds (SUBMIT_JOB_EPOCH). Past or zero runs now.
    Epoch(u64),
    /// Cron-style (SUBMIT_JOB_SCHED). gearmand refuses this form with an
    /// ERROR; it is here for servers that accept it.
    Cron(CronSchedule),
}

/// The fields of SUBMIT_JOB_SCHED.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CronSchedule {
    /// 0–59.
    pub minute: u8,
    /// 0–23.
    pub hour: u8,
    /// 1–31.
    pub day_of_month: u8,
    /// 1–12.
    pub month: u8,
    /// 0–6, 0 is Monday.
    pub day_of_week: u8,
}

/// A job to submit.
///
/// The unique id decides coalescing: the server merges submits of the same
/// function with the same non-empty unique into one job. When none is
/// given, a foreground job is sent with an empty unique (never coalesced)
/// and a background job with a 32-character hex id generated from the
/// client's seed (so it can be looked up with
/// [`Client::get_status_unique`](super::Client::get_status_unique)).
///
/// Scheduled and reduce jobs are sent at normal priority (their packets have
/// no priority); scheduling implies background.
///
/// ```
/// use std::time::Duration;
/// use gearman_proto::Priority;
/// use gearman_proto::client::JobRequest;
///
/// let job = JobRequest::new("resize", "img.png")
///     .with_unique("img.png@640")
///     .with_priority(Priority::High)
///     .with_deadline(Duration::from_secs(60));
/// assert_eq!(job.command(), gearman_proto::Command::SubmitJobHigh);
/// let later = JobRequest::new("report", "").at_epoch(1_767_225_600);
/// assert!(later.background);
/// ```
///
/// Each builder method returns the changed request, so one left unused is
/// warned about:
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// # fn demo(request: gearman_proto::client::JobRequest) {
/// request.with_unique("u");
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[must_use = "a request does nothing until it is submitted"]
pub struct JobRequest {
    /// Function name.
    pub function: Bytes,
    /// Workload.
    pub payload: Bytes,
    /// Unique id; see the type's documentation for what `None` sends.
    pub unique: Option<Bytes>,
    /// Priority (plain submits only).
    pub priority: Priority,
    /// Background: the server keeps the job after the client goes away and
    /// sends nothing but JOB_CREATED; the submit is complete at
    /// [`Created`](super::ClientEvent::Created).
    pub background: bool,
    /// Run later instead of now (background only).
    pub schedule: Option<Schedule>,
    /// Reducer function: a SUBMIT_REDUCE_JOB (or its background form).
    pub reducer: Option<Bytes>,
    /// Longest the job may take from submit to its end; when it passes, the
    /// job ends with a timeout and later packets for it are dropped.
    pub deadline: Option<Duration>,
}

impl JobRequest {
    /// A foreground job of normal priority with no unique id.
    pub fn new(function: impl Into<Bytes>, payload: impl Into<Bytes>) -> JobRequest {
        JobRequest {
            function: function.into(),
            payload: payload.into(),
            unique: None,
            priority: Priority::Normal,
            background: false,
            schedule: None,
            reducer: None,
            deadline: None,
        }
    }

    /// Sets the unique id (at most [`MAX_UNIQUE_LEN`] bytes, no NUL).
    pub fn with_unique(mut self, unique: impl Into<Bytes>) -> JobRequest {
        self.unique = Some(unique.into());
        self
    }

    /// Sets the priority.
    pub fn with_priority(mut self, priority: Priority) -> JobRequest {
        self.priority = priority;
        self
    }

    /// Makes it a background job.
    pub fn in_background(mut self) -> JobRequest {
        self.background = true;
        self
    }

    /// Runs it in the background at a Unix time (seconds): SUBMIT_JOB_EPOCH.
    pub fn at_epoch(mut self, seconds: u64) -> JobRequest {
        self.schedule = Some(Schedule::Epoch(seconds));
        self.background = true;
        self
    }

    /// Runs it in the background on a cron-like schedule: SUBMIT_JOB_SCHED.
    pub fn with_cron(mut self, cron: CronSchedule) -> JobRequest {
        self.schedule = Some(Schedule::Cron(cron));
        self.background = true;
        self
    }

    /// Makes it a reduce job with this reducer: SUBMIT_REDUCE_JOB, or
    /// SUBMIT_REDUCE_JOB_BACKGROUND in the background.
    pub fn with_reducer(mut self, reducer: impl Into<Bytes>) -> JobRequest {
        self.reducer = Some(reducer.into());
        self
    }

    /// Sets the per-job deadline, counted from the submit.
    pub fn with_deadline(mut self, deadline: Duration) -> JobRequest {
        self.deadline = Some(deadline);
        self
    }

    /// The packet type this request is sent as.
    pub fn command(&self) -> Command {
        match (&self.schedule, &self.reducer) {
            (Some(Schedule::Epoch(_)), _) => Command::SubmitJobEpoch,
            (Some(Schedule::Cron(_)), _) => Command::SubmitJobSched,
            (None, Some(_)) if self.background => Command::SubmitReduceJobBackground,
            (None, Some(_)) => Command::SubmitReduceJob,
            (None, None) => Command::submit(self.priority, self.background),
        }
    }

    /// Checks what the server would refuse or misread.
    pub(crate) fn validate(&self) -> Result<(), UsageError> {
        let no_nul = |bytes: &[u8], field| {
            if memchr::memchr(0, bytes).is_some() {
                Err(UsageError::NulInField { field })
            } else {
                Ok(())
            }
        };
        no_nul(&self.function, Field::Function)?;
        if let Some(unique) = &self.unique {
            no_nul(unique, Field::Unique)?;
            if unique.len() > MAX_UNIQUE_LEN {
                return Err(UsageError::UniqueTooLong { len: unique.len() });
            }
        }
        if let Some(reducer) = &self.reducer {
            no_nul(reducer, Field::Reducer)?;
        }
        // Generous room for the unique (at most 63 bytes), schedule digits and separators.
        let size =
            self.function.len() + self.payload.len() + self.reducer.as_ref().map_or(0, |r| r.len());
        if size > u32::MAX as usize - 256 {
            return Err(UsageError::TooLarge { size });
        }
        let invalid = |reason| Err(UsageError::Invalid { reason });
        if self.schedule.is_some() && !self.background {
            return invalid("a scheduled job must be a background job");
        }
        if self.schedule.is_some() && self.reducer.is_some() {
            return invalid("a job cannot be both scheduled and a reduce job");
        }
        if (self.schedule.is_some() || self.reducer.is_some()) && self.priority != Priority::Normal
        {
            return invalid("scheduled and reduce jobs have no priority");
        }
        if let Some(Schedule::Cron(c)) = self.schedule {
            let in_range = c.minute <= 59
                && c.hour <= 23
                && (1..=31).contains(&c.day_of_month)
                && (1..=12).contains(&c.month)
                && c.day_of_week <= 6;
            if !in_range {
                return invalid("cron schedule field out of range");
            }
        }
        Ok(())
    }

    /// Appends the submit packet, with `unique` as the unique id actually sent.
    pub(crate) fn encode<B: BufMut>(&self, unique: &[u8], out: &mut B) {
        let command = self.command();
        let (f, d) = (&self.function[..], &self.payload[..]);
        let result = match (&self.schedule, &self.reducer) {
            (Some(Schedule::Epoch(at)), _) => {
                let at = Decimal::new(*at);
                encode_fields(out, command, &[f, unique, at.as_bytes(), d])
            }
            (Some(Schedule::Cron(c)), _) => {
                let [mi, h, dm, mo, dw] =
                    [c.minute, c.hour, c.day_of_month, c.month, c.day_of_week]
                        .map(|n| Decimal::new(u64::from(n)));
                let fields: [&[u8]; 8] = [
                    f,
                    unique,
                    mi.as_bytes(),
                    h.as_bytes(),
                    dm.as_bytes(),
                    mo.as_bytes(),
                    dw.as_bytes(),
                    d,
                ];
                encode_fields(out, command, &fields)
            }
            // gearmand needs the (ignored) aggregate field to be present.
            (None, Some(reducer)) => encode_fields(out, command, &[f, unique, reducer, b"", d]),
            (None, None) => encode_fields(out, command, &[f, unique, d]),
        };
        result.expect("validate() rejected every field encode_fields would refuse");
    }
}

/// The caller asked for something that cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsageError {
    /// A field other than the payload contains a NUL byte.
    #[error("{field:?} contains a NUL byte")]
    NulInField {
        /// The field.
        field: Field,
    },
    /// The unique id is longer than [`MAX_UNIQUE_LEN`].
    #[error("unique id of {len} bytes is longer than {MAX_UNIQUE_LEN}")]
    UniqueTooLong {
        /// Its length.
        len: usize,
    },
    /// The job handle is empty, has a NUL byte, or is longer than [`MAX_HANDLE_LEN`].
    #[error("invalid job handle")]
    InvalidHandle,
    /// The server id is not one of the configured servers.
    #[error("no configured server has id {0}")]
    UnknownServer(ServerId),
    /// The payload does not fit in a packet.
    #[error("payload of {size} bytes is too large")]
    TooLarge {
        /// Payload size.
        size: usize,
    },
    /// The options contradict each other.
    #[error("invalid job request: {reason}")]
    Invalid {
        /// What is wrong.
        reason: &'static str,
    },
    /// The client is closing or closed ([`Client::close`](super::Client::close)):
    /// it takes no new calls.
    #[error("the client is closing")]
    Closing,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_per_form() {
        let base = JobRequest::new("f", "x");
        assert_eq!(base.command(), Command::SubmitJob);
        assert_eq!(
            base.clone()
                .with_priority(Priority::Low)
                .in_background()
                .command(),
            Command::SubmitJobLowBg
        );
        assert_eq!(base.clone().at_epoch(5).command(), Command::SubmitJobEpoch);
        assert_eq!(
            base.clone().with_reducer("r").command(),
            Command::SubmitReduceJob
        );
        assert_eq!(
            base.with_reducer("r").in_background().command(),
            Command::SubmitReduceJobBackground
        );
    }

    #[test]
    fn validation_rejects_what_the_wire_cannot_carry() {
        assert_eq!(
            JobRequest::new("f\0", "").validate(),
            Err(UsageError::NulInField {
                field: Field::Function
            })
        );
        assert_eq!(
            JobRequest::new("f", "")
                .with_unique(vec![b'u'; 64])
                .validate(),
            Err(UsageError::UniqueTooLong { len: 64 })
        );
        assert!(
            JobRequest::new("f", "")
                .with_unique(vec![b'u'; 63])
                .validate()
                .is_ok()
        );
        let mut foreground_epoch = JobRequest::new("f", "").at_epoch(1);
        foreground_epoch.background = false;
        assert!(matches!(
            foreground_epoch.validate(),
            Err(UsageError::Invalid { .. })
        ));
        assert!(matches!(
            JobRequest::new("f", "")
                .with_reducer("r")
                .with_priority(Priority::High)
                .validate(),
            Err(UsageError::Invalid { .. })
        ));
        let bad_cron = CronSchedule {
            minute: 60,
            hour: 0,
            day_of_month: 1,
            month: 1,
            day_of_week: 0,
        };
        assert!(matches!(
            JobRequest::new("f", "").with_cron(bad_cron).validate(),
            Err(UsageError::Invalid { .. })
        ));
    }
}
