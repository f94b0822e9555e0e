//! Typed admin commands: for each command, the request it sends (with its
//! arguments checked) and how its reply reads, so that an adapter's admin
//! client only sends a request, decodes the reply and hands it to
//! [`AdminCall::read_reply`].
//!
//! ```
//! use bytes::Bytes;
//! use gearman_proto::admin::{AdminRequest, AdminResponse, StatusRow};
//! use gearman_proto::admin::call::{AdminCall, AdminCallError, CancelJob, Status};
//!
//! // What an adapter sends, and what it gets back from the reply.
//! assert_eq!(Status.into_request(), Ok(AdminRequest::Status));
//! let rows = vec![StatusRow::new("resize", 3, 1, 2)];
//! assert_eq!(Status::read_reply(AdminResponse::Status(rows.clone())), Ok(rows));
//!
//! // An ERR reply is the server refusing; a bad argument never leaves.
//! let refused = AdminResponse::Error { code: "UNKNOWN_JOB".into(), text: "".into() };
//! assert!(matches!(CancelJob::read_reply(refused), Err(AdminCallError::Refused { .. })));
//! assert!(matches!(
//!     CancelJob { handle: Bytes::from("two words") }.into_request(),
//!     Err(AdminCallError::InvalidArgument(_))
//! ));
//! ```

use bytes::Bytes;

use crate::admin::{
    AdminRequest, AdminResponse, JobRow, MaxQueueLimits, PriorityStatusRow, StatusRow, WorkerRow,
};

/// Why a typed admin command gave no result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AdminCallError {
    /// The server answered `ERR CODE TEXT`.
    #[error("server error {}: {}", String::from_utf8_lossy(.code), String::from_utf8_lossy(.text))]
    Refused {
        /// The error code, e.g. `UNKNOWN_JOB`.
        code: Bytes,
        /// The rest of the line.
        text: Bytes,
    },
    /// The reply was well formed but not the kind the command has.
    #[error("unexpected reply: {0:?}")]
    Unexpected(Box<AdminResponse>),
    /// An argument is empty or holds a space or line break, so it cannot
    /// be sent as one word of the command line.
    #[error("admin argument {:?} must be one non-empty word", String::from_utf8_lossy(.0))]
    InvalidArgument(Bytes),
}

/// One admin command with a typed result.
pub trait AdminCall {
    /// What a successful reply gives.
    type Output;

    /// The request to send, once the arguments are checked.
    fn into_request(self) -> Result<AdminRequest, AdminCallError>;

    /// Reads the reply to this command.
    fn read_reply(reply: AdminResponse) -> Result<Self::Output, AdminCallError>;
}

/// Refusals first, then the one reply form the command has.
fn expect<T>(
    reply: AdminResponse,
    pick: impl FnOnce(AdminResponse) -> Result<T, AdminResponse>,
) -> Result<T, AdminCallError> {
    match reply {
        AdminResponse::Error { code, text } => Err(AdminCallError::Refused { code, text }),
        other => pick(other).map_err(|other| AdminCallError::Unexpected(Box::new(other))),
    }
}

/// An argument must be one word: no space or line break, not empty.
fn word(value: Bytes) -> Result<Bytes, AdminCallError> {
    if value.is_empty() || value.iter().any(|&b| matches!(b, b' ' | b'\r' | b'\n')) {
        return Err(AdminCallError::InvalidArgument(value));
    }
    Ok(value)
}

/// A command without arguments whose reply is one [`AdminResponse`] variant.
macro_rules! simple_call {
    ($(#[$doc:meta])* $name:ident, $request:expr, $output:ty, $variant:pat => $value:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
        pub struct $name;

        impl AdminCall for $name {
            type Output = $output;

            fn into_request(self) -> Result<AdminRequest, AdminCallError> {
                Ok($request)
            }

            fn read_reply(reply: AdminResponse) -> Result<$output, AdminCallError> {
                expect(reply, |reply| match reply {
                    $variant => Ok($value),
                    other => Err(other),
                })
            }
        }
    };
}

simple_call!(
    /// `status`: queued, running and worker counts per function.
    Status, AdminRequest::Status, Vec<StatusRow>, AdminResponse::Status(rows) => rows
);
simple_call!(
    /// `workers`: one row per connection with its functions.
    Workers, AdminRequest::Workers, Vec<WorkerRow>, AdminResponse::Workers(rows) => rows
);
simple_call!(
    /// `version`: the server's version text.
    Version, AdminRequest::Version, Bytes, AdminResponse::Version(version) => version
);
simple_call!(
    /// `getpid`: the server's process id.
    GetPid, AdminRequest::GetPid, u32, AdminResponse::Pid(pid) => pid
);
simple_call!(
    /// `verbose`: the server's log level.
    Verbose, AdminRequest::Verbose, Bytes, AdminResponse::Verbose(level) => level
);
simple_call!(
    /// `show jobs`: every live job.
    ShowJobs, AdminRequest::ShowJobs, Vec<JobRow>, AdminResponse::ShowJobs(rows) => rows
);
simple_call!(
    /// `show unique jobs`: the unique id of every live job.
    ShowUniqueJobs,
    AdminRequest::ShowUniqueJobs,
    Vec<Bytes>,
    AdminResponse::ShowUniqueJobs(ids) => ids
);
simple_call!(
    /// `prioritystatus`: queued jobs per function and priority.
    PriorityStatus,
    AdminRequest::PriorityStatus,
    Vec<PriorityStatusRow>,
    AdminResponse::PriorityStatus(rows) => rows
);

/// A command answered by a bare `OK`.
macro_rules! ok_call {
    (
        $(#[$doc:meta])* $name:ident { $($(#[$field_doc:meta])* $field:ident: $ty:ty),* }
        => |$this:ident| $request:expr
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name {
            $(
                $(#[$field_doc])*
                pub $field: $ty,
            )*
        }

        impl AdminCall for $name {
            type Output = ();

            fn into_request(self) -> Result<AdminRequest, AdminCallError> {
                let $this = self;
                $request
            }

            fn read_reply(reply: AdminResponse) -> Result<(), AdminCallError> {
                expect(reply, |reply| match reply {
                    AdminResponse::Ok => Ok(()),
                    other => Err(other),
                })
            }
        }
    };
}

ok_call!(
    /// `maxqueue FUNC [N | HIGH NORMAL LOW]`: sets a function's queue limits.
    MaxQueue {
        /// The function whose limits change (one word).
        function: Bytes,
        /// The new limits.
        limits: MaxQueueLimits
    } => |call| Ok(AdminRequest::MaxQueue {
        function: word(call.function)?,
        limits: call.limits,
    })
);
ok_call!(
    /// `shutdown` or `shutdown graceful` (gearmand 1.1.15 and later refuse it).
    Shutdown {
        /// Stop accepting, and exit once no job is left.
        graceful: bool
    } => |call| Ok(AdminRequest::Shutdown { graceful: call.graceful })
);
ok_call!(
    /// `cancel job HANDLE`: removes a queued job.
    CancelJob {
        /// The job handle (one word).
        handle: Bytes
    } => |call| Ok(AdminRequest::CancelJob { handle: word(call.handle)? })
);
ok_call!(
    /// `create function NAME`.
    CreateFunction {
        /// The function name (one word).
        name: Bytes
    } => |call| Ok(AdminRequest::CreateFunction {
        name: word(call.name)?,
    })
);
ok_call!(
    /// `drop function NAME`.
    DropFunction {
        /// The function name (one word).
        name: Bytes
    } => |call| Ok(AdminRequest::DropFunction {
        name: word(call.name)?,
    })
);

#[cfg(test)]
mod tests {
    use super::*;

    fn refused() -> AdminResponse {
        AdminResponse::Error {
            code: Bytes::from_static(b"ERR_CODE"),
            text: Bytes::from_static(b"some+text"),
        }
    }

    #[test]
    fn each_command_reads_its_own_reply_and_refuses_others() {
        assert_eq!(
            Version::read_reply(AdminResponse::Version("1.1".into())),
            Ok("1.1".into())
        );
        assert_eq!(GetPid::read_reply(AdminResponse::Pid(42)), Ok(42));
        assert_eq!(
            Verbose::read_reply(AdminResponse::Verbose("INFO".into())),
            Ok("INFO".into())
        );
        assert_eq!(
            Workers::read_reply(AdminResponse::Workers(vec![])),
            Ok(vec![])
        );
        assert_eq!(
            ShowJobs::read_reply(AdminResponse::ShowJobs(vec![])),
            Ok(vec![])
        );
        assert_eq!(
            ShowUniqueJobs::read_reply(AdminResponse::ShowUniqueJobs(vec!["u".into()])),
            Ok(vec![Bytes::from("u")])
        );
        assert_eq!(
            PriorityStatus::read_reply(AdminResponse::PriorityStatus(vec![])),
            Ok(vec![])
        );
        assert_eq!(Shutdown::read_reply(AdminResponse::Ok), Ok(()));
        // The wrong form is unexpected, and says what came.
        assert_eq!(
            GetPid::read_reply(AdminResponse::Ok),
            Err(AdminCallError::Unexpected(Box::new(AdminResponse::Ok)))
        );
        assert!(matches!(
            Status::read_reply(AdminResponse::Pid(1)),
            Err(AdminCallError::Unexpected(_))
        ));
        assert!(matches!(
            CancelJob::read_reply(AdminResponse::RawLine("huh".into())),
            Err(AdminCallError::Unexpected(_))
        ));
    }

    #[test]
    fn err_replies_are_refusals_for_every_command() {
        let expected = Err(AdminCallError::Refused {
            code: Bytes::from_static(b"ERR_CODE"),
            text: Bytes::from_static(b"some+text"),
        });
        assert_eq!(Status::read_reply(refused()).map(|_| ()), expected);
        assert_eq!(Version::read_reply(refused()).map(|_| ()), expected);
        assert_eq!(MaxQueue::read_reply(refused()), expected);
        assert_eq!(DropFunction::read_reply(refused()), expected);
    }

    #[test]
    fn arguments_must_be_one_word() {
        assert_eq!(
            CancelJob {
                handle: "H:x:1".into()
            }
            .into_request(),
            Ok(AdminRequest::CancelJob {
                handle: "H:x:1".into()
            })
        );
        for bad in ["", "a b", "a\nb", "a\r"] {
            let bad = Bytes::from(bad);
            let invalid = Err(AdminCallError::InvalidArgument(bad.clone()));
            assert_eq!(
                CancelJob {
                    handle: bad.clone()
                }
                .into_request(),
                invalid
            );
            assert_eq!(CreateFunction { name: bad.clone() }.into_request(), invalid);
            assert_eq!(DropFunction { name: bad.clone() }.into_request(), invalid);
            assert_eq!(
                MaxQueue {
                    function: bad.clone(),
                    limits: MaxQueueLimits::All(1),
                }
                .into_request(),
                invalid
            );
        }
        assert_eq!(
            Shutdown { graceful: true }.into_request(),
            Ok(AdminRequest::Shutdown { graceful: true })
        );
        assert_eq!(Status.into_request(), Ok(AdminRequest::Status));
    }
}
