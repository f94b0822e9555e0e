//! The command table: every packet type of gearmand's binary protocol.

use std::fmt;

/// The 4-byte magic that opens every binary packet and fixes its direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Magic {
    /// `\0REQ`: sent by clients and workers to a job server.
    Req,
    /// `\0RES`: sent by a job server to clients and workers.
    Res,
}

impl Magic {
    /// The four bytes on the wire.
    ///
    /// ```
    /// use gearman_proto::Magic;
    /// assert_eq!(Magic::Req.bytes(), b"\0REQ");
    /// ```
    pub const fn bytes(self) -> &'static [u8; 4] {
        match self {
            Magic::Req => b"\0REQ",
            Magic::Res => b"\0RES",
        }
    }

    /// Parses four wire bytes; `None` for anything but `\0REQ` / `\0RES`.
    pub fn from_bytes(bytes: [u8; 4]) -> Option<Magic> {
        match &bytes {
            b"\0REQ" => Some(Magic::Req),
            b"\0RES" => Some(Magic::Res),
            _ => None,
        }
    }
}

/// A named field of a packet's payload, in wire order per [`Command::fields`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Field {
    /// Function name.
    Function,
    /// Unique id chosen by the submitter (may be empty).
    Unique,
    /// Opaque data: workload, result, echo payload, exception text.
    Data,
    /// Job handle assigned by the server.
    Handle,
    /// WORK_STATUS / STATUS_RES numerator (decimal text).
    Numerator,
    /// WORK_STATUS / STATUS_RES denominator (decimal text).
    Denominator,
    /// STATUS_RES `known` flag (`0` / `1`).
    Known,
    /// STATUS_RES `running` flag (`0` / `1`).
    Running,
    /// STATUS_RES_UNIQUE number of waiting clients.
    ClientCount,
    /// ERROR code, e.g. `QUEUE_ERROR`.
    ErrorCode,
    /// ERROR text.
    ErrorText,
    /// OPTION_REQ / OPTION_RES option name.
    OptionName,
    /// SET_CLIENT_ID identifier.
    ClientId,
    /// CAN_DO_TIMEOUT timeout (decimal text).
    Timeout,
    /// SUBMIT_JOB_EPOCH run time, seconds since the Unix epoch (decimal text).
    Epoch,
    /// Reducer function name of a reduce job.
    Reducer,
    /// Aggregate field of SUBMIT_REDUCE_JOB (normally empty).
    Aggregate,
    /// SUBMIT_JOB_SCHED minute.
    Minute,
    /// SUBMIT_JOB_SCHED hour.
    Hour,
    /// SUBMIT_JOB_SCHED day of month.
    DayOfMonth,
    /// SUBMIT_JOB_SCHED month.
    Month,
    /// SUBMIT_JOB_SCHED day of week.
    DayOfWeek,
}

macro_rules! commands {
    ($( $(#[$doc:meta])* $variant:ident = ($num:literal, $magic:ident, $name:literal, $data:literal, [$($field:ident),*]); )*) => {
        /// A packet type together with its direction.
        ///
        /// Types that travel both ways (the `WORK_*` family) have one value per
        /// direction: [`Command::WorkCompleteReq`] is what a worker sends,
        /// [`Command::WorkCompleteRes`] what a client receives.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum Command {
            $( $(#[$doc])* $variant, )*
        }

        impl Command {
            /// Every command, in wire-number order.
            pub const ALL: &'static [Command] = &[$(Command::$variant),*];

            /// The type number on the wire.
            pub const fn number(self) -> u32 {
                match self { $(Command::$variant => $num,)* }
            }

            /// The magic this command is sent with.
            pub const fn magic(self) -> Magic {
                match self { $(Command::$variant => Magic::$magic,)* }
            }

            /// gearmand's name for the type, e.g. `SUBMIT_JOB`.
            pub const fn name(self) -> &'static str {
                match self { $(Command::$variant => $name,)* }
            }

            /// The payload's fields in wire order. Every field but the last is
            /// NUL-terminated; the last runs to the end of the payload.
            pub const fn fields(self) -> &'static [Field] {
                match self { $(Command::$variant => &[$(Field::$field),*],)* }
            }

            /// Whether the last field is opaque data that may contain NUL bytes.
            pub const fn has_data(self) -> bool {
                match self { $(Command::$variant => $data,)* }
            }

            /// Looks a command up by magic and number.
            ///
            /// `None` for an unused or unknown number, and for a pair that does
            /// not exist (a `\0RES` SUBMIT_JOB, say).
            ///
            /// ```
            /// use gearman_proto::{Command, Magic};
            /// assert_eq!(Command::from_wire(Magic::Res, 13), Some(Command::WorkCompleteRes));
            /// assert_eq!(Command::from_wire(Magic::Res, 7), None);
            /// assert_eq!(Command::from_wire(Magic::Req, 5), None);
            /// ```
            pub fn from_wire(magic: Magic, number: u32) -> Option<Command> {
                match (magic, number) {
                    $((Magic::$magic, $num) => Some(Command::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

commands! {
    /// 1: a worker announces it can run a function.
    CanDo = (1, Req, "CAN_DO", false, [Function]);
    /// 2: a worker withdraws a function.
    CantDo = (2, Req, "CANT_DO", false, [Function]);
    /// 3: a worker withdraws every function.
    ResetAbilities = (3, Req, "RESET_ABILITIES", false, []);
    /// 4: a worker is about to sleep until woken by NOOP.
    PreSleep = (4, Req, "PRE_SLEEP", false, []);
    /// 6: wake-up hint to a sleeping worker.
    Noop = (6, Res, "NOOP", false, []);
    /// 7: foreground job, normal priority.
    SubmitJob = (7, Req, "SUBMIT_JOB", true, [Function, Unique, Data]);
    /// 8: the server accepted a submit.
    JobCreated = (8, Res, "JOB_CREATED", false, [Handle]);
    /// 9: a worker asks for a job.
    GrabJob = (9, Req, "GRAB_JOB", false, []);
    /// 10: no job for the grabbing worker.
    NoJob = (10, Res, "NO_JOB", false, []);
    /// 11: a job for the worker.
    JobAssign = (11, Res, "JOB_ASSIGN", true, [Handle, Function, Data]);
    /// 12: progress from a worker.
    WorkStatusReq = (12, Req, "WORK_STATUS", false, [Handle, Numerator, Denominator]);
    /// 12: progress forwarded to a client.
    WorkStatusRes = (12, Res, "WORK_STATUS", false, [Handle, Numerator, Denominator]);
    /// 13: a worker's result.
    WorkCompleteReq = (13, Req, "WORK_COMPLETE", true, [Handle, Data]);
    /// 13: a result forwarded to a client.
    WorkCompleteRes = (13, Res, "WORK_COMPLETE", true, [Handle, Data]);
    /// 14: a worker reports failure.
    WorkFailReq = (14, Req, "WORK_FAIL", false, [Handle]);
    /// 14: failure forwarded to a client.
    WorkFailRes = (14, Res, "WORK_FAIL", false, [Handle]);
    /// 15: a client asks for a job's status.
    GetStatus = (15, Req, "GET_STATUS", false, [Handle]);
    /// 16: echo request.
    EchoReq = (16, Req, "ECHO_REQ", true, [Data]);
    /// 17: echo reply.
    EchoRes = (17, Res, "ECHO_RES", true, [Data]);
    /// 18: background job, normal priority.
    SubmitJobBg = (18, Req, "SUBMIT_JOB_BG", true, [Function, Unique, Data]);
    /// 19: an error from the server.
    Error = (19, Res, "ERROR", false, [ErrorCode, ErrorText]);
    /// 20: reply to GET_STATUS.
    StatusRes = (20, Res, "STATUS_RES", false, [Handle, Known, Running, Numerator, Denominator]);
    /// 21: foreground job, high priority.
    SubmitJobHigh = (21, Req, "SUBMIT_JOB_HIGH", true, [Function, Unique, Data]);
    /// 22: names the connection (shown by the `workers` admin command).
    SetClientId = (22, Req, "SET_CLIENT_ID", false, [ClientId]);
    /// 23: like CAN_DO, with a timeout for each job.
    CanDoTimeout = (23, Req, "CAN_DO_TIMEOUT", false, [Function, Timeout]);
    /// 24: never implemented by any server; gearmand answers ERROR.
    AllYours = (24, Req, "ALL_YOURS", false, []);
    /// 25: a worker reports an exception.
    WorkExceptionReq = (25, Req, "WORK_EXCEPTION", true, [Handle, Data]);
    /// 25: an exception forwarded to a client that enabled them.
    WorkExceptionRes = (25, Res, "WORK_EXCEPTION", true, [Handle, Data]);
    /// 26: sets a connection option (`exceptions`).
    OptionReq = (26, Req, "OPTION_REQ", false, [OptionName]);
    /// 27: the server accepted an option.
    OptionRes = (27, Res, "OPTION_RES", false, [OptionName]);
    /// 28: partial result from a worker.
    WorkDataReq = (28, Req, "WORK_DATA", true, [Handle, Data]);
    /// 28: partial result forwarded to a client.
    WorkDataRes = (28, Res, "WORK_DATA", true, [Handle, Data]);
    /// 29: warning from a worker.
    WorkWarningReq = (29, Req, "WORK_WARNING", true, [Handle, Data]);
    /// 29: warning forwarded to a client.
    WorkWarningRes = (29, Res, "WORK_WARNING", true, [Handle, Data]);
    /// 30: grab, answered with JOB_ASSIGN_UNIQ.
    GrabJobUniq = (30, Req, "GRAB_JOB_UNIQ", false, []);
    /// 31: a job with its unique id.
    JobAssignUniq = (31, Res, "JOB_ASSIGN_UNIQ", true, [Handle, Function, Unique, Data]);
    /// 32: background job, high priority.
    SubmitJobHighBg = (32, Req, "SUBMIT_JOB_HIGH_BG", true, [Function, Unique, Data]);
    /// 33: foreground job, low priority.
    SubmitJobLow = (33, Req, "SUBMIT_JOB_LOW", true, [Function, Unique, Data]);
    /// 34: background job, low priority.
    SubmitJobLowBg = (34, Req, "SUBMIT_JOB_LOW_BG", true, [Function, Unique, Data]);
    /// 35: cron-style scheduled job (gearmand answers ERROR INVALID_COMMAND).
    SubmitJobSched = (35, Req, "SUBMIT_JOB_SCHED", true, [Function, Unique, Minute, Hour, DayOfMonth, Month, DayOfWeek, Data]);
    /// 36: background job run at a Unix time.
    SubmitJobEpoch = (36, Req, "SUBMIT_JOB_EPOCH", true, [Function, Unique, Epoch, Data]);
    /// 37: foreground reduce job.
    SubmitReduceJob = (37, Req, "SUBMIT_REDUCE_JOB", true, [Function, Unique, Reducer, Aggregate, Data]);
    /// 38: background reduce job.
    SubmitReduceJobBackground = (38, Req, "SUBMIT_REDUCE_JOB_BACKGROUND", true, [Function, Unique, Reducer, Aggregate, Data]);
    /// 39: grab, answered with JOB_ASSIGN_ALL or JOB_ASSIGN_UNIQ.
    GrabJobAll = (39, Req, "GRAB_JOB_ALL", false, []);
    /// 40: a job with its unique id and reducer.
    JobAssignAll = (40, Res, "JOB_ASSIGN_ALL", true, [Handle, Function, Unique, Reducer, Data]);
    /// 41: a client asks for status by unique id.
    GetStatusUnique = (41, Req, "GET_STATUS_UNIQUE", false, [Unique]);
    /// 42: reply to GET_STATUS_UNIQUE.
    StatusResUnique = (42, Res, "STATUS_RES_UNIQUE", false, [Unique, Known, Running, Numerator, Denominator, ClientCount]);
}

/// Type numbers inside 1..=42 that gearmand leaves unused.
pub const UNUSED_NUMBERS: &[u32] = &[5];

/// Priority of a submitted job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Priority {
    /// Taken before normal and low jobs.
    High,
    /// The default.
    #[default]
    Normal,
    /// Taken after high and normal jobs.
    Low,
}

impl Command {
    /// The plain SUBMIT_JOB form for a priority and mode.
    ///
    /// ```
    /// use gearman_proto::{Command, Priority};
    /// assert_eq!(Command::submit(Priority::High, true), Command::SubmitJobHighBg);
    /// ```
    pub const fn submit(priority: Priority, background: bool) -> Command {
        match (priority, background) {
            (Priority::High, false) => Command::SubmitJobHigh,
            (Priority::High, true) => Command::SubmitJobHighBg,
            (Priority::Normal, false) => Command::SubmitJob,
            (Priority::Normal, true) => Command::SubmitJobBg,
            (Priority::Low, false) => Command::SubmitJobLow,
            (Priority::Low, true) => Command::SubmitJobLowBg,
        }
    }

    /// For a submit command, its priority and whether it is a background job.
    pub const fn submit_kind(self) -> Option<(Priority, bool)> {
        Some(match self {
            Command::SubmitJob | Command::SubmitReduceJob => (Priority::Normal, false),
            Command::SubmitJobBg
            | Command::SubmitReduceJobBackground
            | Command::SubmitJobEpoch
            | Command::SubmitJobSched => (Priority::Normal, true),
            Command::SubmitJobHigh => (Priority::High, false),
            Command::SubmitJobHighBg => (Priority::High, true),
            Command::SubmitJobLow => (Priority::Low, false),
            Command::SubmitJobLowBg => (Priority::Low, true),
            _ => return None,
        })
    }

    /// Number of fields in the payload (see [`Command::fields`]).
    pub const fn field_count(self) -> usize {
        self.fields().len()
    }

    /// The same type number in the other direction, if it exists
    /// (`WorkCompleteReq` ↔ `WorkCompleteRes`).
    pub fn reversed(self) -> Option<Command> {
        let other = match self.magic() {
            Magic::Req => Magic::Res,
            Magic::Res => Magic::Req,
        };
        Command::from_wire(other, self.number())
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_covers_every_used_number_once_per_direction() {
        for n in 1..=42u32 {
            let req = Command::from_wire(Magic::Req, n);
            let res = Command::from_wire(Magic::Res, n);
            if UNUSED_NUMBERS.contains(&n) {
                assert!(req.is_none() && res.is_none(), "{n} is unused");
            } else {
                assert!(req.is_some() || res.is_some(), "{n} is missing");
            }
        }
        assert_eq!(Command::from_wire(Magic::Req, 0), None);
        assert_eq!(Command::from_wire(Magic::Req, 43), None);
        for &c in Command::ALL {
            assert_eq!(Command::from_wire(c.magic(), c.number()), Some(c));
            assert!(c.field_count() <= crate::packet::MAX_FIELDS);
            if c.has_data() {
                assert_eq!(c.fields().last(), Some(&Field::Data));
            }
        }
    }

    #[test]
    fn both_directions_of_work_packets_are_distinct() {
        assert_eq!(
            Command::WorkCompleteReq.reversed(),
            Some(Command::WorkCompleteRes)
        );
        assert_ne!(Command::WorkCompleteReq, Command::WorkCompleteRes);
        assert_eq!(Command::SubmitJob.reversed(), None);
    }
}
