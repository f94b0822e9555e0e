//! Admin requests: the lines a client sends and a server parses.

use bytes::{BufMut, Bytes};

use super::response::AdminResponse;
use crate::decimal::{atoi, put_i64};

/// Most tokens an admin line may have; gearmand closes the connection on a sixth.
pub const MAX_ADMIN_TOKENS: usize = 5;

/// The queue limits a `maxqueue` command sets. A limit of 0 or less means
/// unlimited.
///
/// ```
/// use gearman_proto::admin::{AdminRequest, MaxQueueLimits};
/// let req = AdminRequest::parse(b"maxqueue resize 10").unwrap();
/// assert_eq!(
///     req,
///     AdminRequest::MaxQueue { function: "resize".into(), limits: MaxQueueLimits::All(10) }
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MaxQueueLimits {
    /// `maxqueue FUNC`: every limit back to unlimited.
    #[default]
    None,
    /// `maxqueue FUNC N`: the same limit for all three priorities.
    All(i64),
    /// `maxqueue FUNC HIGH NORMAL LOW`: one limit per priority. gearmand
    /// reads `maxqueue FUNC HIGH NORMAL` as a low limit of 0 (unlimited).
    PerPriority {
        /// Limit for high-priority submits.
        high: i64,
        /// Limit for normal-priority submits.
        normal: i64,
        /// Limit for low-priority submits.
        low: i64,
    },
}

/// One admin command.
///
/// Arguments are raw bytes: tokens never contain a space, and a value given
/// to [`encode`](AdminRequest::encode) that holds a space, `\r` or `\n` would
/// change the line's meaning, so callers must not pass one (the typed calls
/// of [`admin_call`](crate::admin::call) check their arguments, and a
/// [`Raw`](AdminRequest::Raw) line is checked when built).
///
/// ```
/// use gearman_proto::admin::AdminRequest;
/// let mut out = Vec::new();
/// AdminRequest::CancelJob { handle: "H:srv:7".into() }.encode(&mut out);
/// assert_eq!(out, b"cancel job H:srv:7\r\n");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AdminRequest {
    /// `status`: per-function totals.
    Status,
    /// `workers`: one row per connection.
    Workers,
    /// `version`: the server's version.
    Version,
    /// `getpid`: the server's process id.
    GetPid,
    /// `maxqueue FUNC [N | HIGH NORMAL LOW]`: queue limits for a function.
    MaxQueue {
        /// The function whose limits change.
        function: Bytes,
        /// The new limits.
        limits: MaxQueueLimits,
    },
    /// `shutdown` or `shutdown graceful`. gearmand 1.1.15 and later removed
    /// the command and answer it as an unknown one.
    Shutdown {
        /// Stop accepting, and exit once no job is left.
        graceful: bool,
    },
    /// `verbose`: the server's log level.
    Verbose,
    /// `show jobs`: one row per live job.
    ShowJobs,
    /// `show unique jobs`: the unique id of every live job.
    ShowUniqueJobs,
    /// `cancel job HANDLE`.
    CancelJob {
        /// The job handle.
        handle: Bytes,
    },
    /// `prioritystatus`: queued jobs per function and priority.
    PriorityStatus,
    /// `create function NAME`.
    CreateFunction {
        /// The function name.
        name: Bytes,
    },
    /// `drop function NAME`.
    DropFunction {
        /// The function name.
        name: Bytes,
    },
    /// Any line, sent as is (without its line ending). Its reply is read as
    /// the reply to the command the line parses to, or as one line. Built
    /// with [`AdminRequest::raw`], which refuses a line break.
    Raw(AdminLine),
}

/// One admin line without its ending, as [`AdminRequest::Raw`] sends it: it
/// holds no `\r` or `\n`, so it cannot smuggle a second command after itself.
///
/// ```
/// use gearman_proto::admin::{AdminLine, AdminRequest};
/// let mut out = Vec::new();
/// AdminRequest::raw("status").unwrap().encode(&mut out);
/// assert_eq!(out, b"status\r\n");
/// assert!(AdminLine::new("status\r\nshutdown").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AdminLine(Bytes);

impl AdminLine {
    /// Checks that `line` holds no line break.
    pub fn new(line: impl Into<Bytes>) -> Result<AdminLine, AdminLineError> {
        let line = line.into();
        if line.iter().any(|&b| b == b'\r' || b == b'\n') {
            return Err(AdminLineError { line });
        }
        Ok(AdminLine(line))
    }

    /// The line's bytes.
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }
}

impl std::ops::Deref for AdminLine {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}

/// A raw admin line held a line break.
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
#[error("admin line {:?} holds a line break", String::from_utf8_lossy(.line))]
pub struct AdminLineError {
    /// The refused line.
    pub line: Bytes,
}

/// Whether a command's reply is one line or a list closed by `.`.
///
/// ```
/// use gearman_proto::admin::{AdminRequest, ReplyShape};
/// assert_eq!(AdminRequest::Workers.reply_shape(), ReplyShape::List);
/// assert_eq!(AdminRequest::Version.reply_shape(), ReplyShape::SingleLine);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReplyShape {
    /// One line: `OK ...`, `ERR ...` or a server-specific text.
    SingleLine,
    /// Lines up to one holding only `.`, or a single `ERR ...` line.
    List,
}

/// Why a server cannot run an admin line. [`reply`](AdminParseError::reply)
/// gives the reply gearmand sends for each case.
///
/// ```
/// use gearman_proto::admin::{AdminParseError, AdminRequest};
/// let err = AdminRequest::parse(b"frobnicate now").unwrap_err();
/// assert_eq!(err, AdminParseError::UnknownCommand { word: "frobnicate".into() });
/// let mut out = Vec::new();
/// err.reply().unwrap().encode(&mut out);
/// assert_eq!(out, b"ERR UNKNOWN_COMMAND Unknown+server+commandfrobnicate\r\n");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum AdminParseError {
    /// The line holds no token at all.
    #[error("empty admin line")]
    Empty,
    /// More than [`MAX_ADMIN_TOKENS`] tokens: gearmand closes the connection
    /// without a reply.
    #[error("admin line has {count} tokens, at most 5 are allowed")]
    TooManyTokens {
        /// Tokens on the line.
        count: usize,
    },
    /// The first word is no known command (or `cancel`/`show` without
    /// enough arguments, which gearmand treats the same way).
    #[error("unknown admin command {word:?}")]
    UnknownCommand {
        /// The first token, as sent.
        word: Bytes,
    },
    /// `show` followed by something other than `jobs` or `unique jobs`.
    #[error("unknown show arguments")]
    UnknownShowArguments,
    /// `maxqueue` without a function, or `create`, `drop`, `shutdown` with
    /// the wrong arguments.
    #[error("wrong arguments for admin command {word:?}")]
    InvalidArguments {
        /// The first token, as sent.
        word: Bytes,
    },
    /// `cancel` with three or more tokens that are not `cancel job HANDLE`.
    #[error("malformed cancel command")]
    BadCancel,
}

impl AdminParseError {
    /// The reply gearmand sends for this error, or `None` when it closes the
    /// connection instead ([`TooManyTokens`](AdminParseError::TooManyTokens)).
    ///
    /// ```
    /// use gearman_proto::admin::AdminRequest;
    /// let mut out = Vec::new();
    /// AdminRequest::parse(b"maxqueue").unwrap_err().reply().unwrap().encode(&mut out);
    /// assert_eq!(
    ///     out,
    ///     &b"ERR INVALID_ARGUMENTS An+incomplete+set+of+arguments+was+sent+to+this+command+maxqueue\r\n"[..]
    /// );
    /// ```
    pub fn reply(&self) -> Option<AdminResponse> {
        Some(match self {
            // gearmand 1.1.20 glues nothing to the text here (later
            // sources glue "NULL").
            AdminParseError::Empty => AdminResponse::unknown_command(b""),
            AdminParseError::TooManyTokens { .. } => return None,
            AdminParseError::UnknownCommand { word } => AdminResponse::unknown_command(word),
            AdminParseError::UnknownShowArguments => {
                AdminResponse::error("UNKNOWN_SHOW_ARGUMENTS", "")
            }
            AdminParseError::InvalidArguments { word } => AdminResponse::invalid_arguments(word),
            AdminParseError::BadCancel => AdminResponse::error("UNKNOWN_ERROR", ""),
        })
    }
}

fn is(token: &[u8], word: &str) -> bool {
    token.eq_ignore_ascii_case(word.as_bytes())
}

fn owned(token: &[u8]) -> Bytes {
    Bytes::copy_from_slice(token)
}

impl AdminRequest {
    /// Parses one admin line as gearmand does, with or without its line
    /// ending: tokens are separated by runs of spaces (tabs are not
    /// separators), command words match case-insensitively, arguments are
    /// kept as sent. Extra tokens after `status`, `workers`, `version`,
    /// `getpid`, `verbose` and `prioritystatus` are ignored, as gearmand does.
    /// `maxqueue` numbers are read like C's `atoi` (`abc` is 0).
    ///
    /// ```
    /// use gearman_proto::admin::{AdminParseError, AdminRequest};
    /// assert_eq!(AdminRequest::parse(b"Show  Unique JOBS\r\n"), Ok(AdminRequest::ShowUniqueJobs));
    /// assert_eq!(
    ///     AdminRequest::parse(b"create function resize"),
    ///     Ok(AdminRequest::CreateFunction { name: "resize".into() })
    /// );
    /// assert_eq!(
    ///     AdminRequest::parse(b"a b c d e f"),
    ///     Err(AdminParseError::TooManyTokens { count: 6 })
    /// );
    /// ```
    pub fn parse(line: &[u8]) -> Result<AdminRequest, AdminParseError> {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let mut tokens: [&[u8]; MAX_ADMIN_TOKENS] = [&[]; MAX_ADMIN_TOKENS];
        let mut count = 0;
        for token in line.split(|&b| b == b' ').filter(|t| !t.is_empty()) {
            if count < MAX_ADMIN_TOKENS {
                tokens[count] = token;
            }
            count += 1;
        }
        if count > MAX_ADMIN_TOKENS {
            return Err(AdminParseError::TooManyTokens { count });
        }
        let args = &tokens[..count];
        let Some(&word) = args.first() else {
            return Err(AdminParseError::Empty);
        };
        let unknown = || AdminParseError::UnknownCommand { word: owned(word) };
        let invalid = || AdminParseError::InvalidArguments { word: owned(word) };
        Ok(if is(word, "status") {
            AdminRequest::Status
        } else if is(word, "workers") {
            AdminRequest::Workers
        } else if is(word, "prioritystatus") {
            AdminRequest::PriorityStatus
        } else if is(word, "version") {
            AdminRequest::Version
        } else if is(word, "getpid") {
            AdminRequest::GetPid
        } else if is(word, "verbose") {
            AdminRequest::Verbose
        } else if is(word, "cancel") {
            match args {
                [_, job, handle] if is(job, "job") => AdminRequest::CancelJob {
                    handle: owned(handle),
                },
                [_, _, _, ..] => return Err(AdminParseError::BadCancel),
                _ => return Err(unknown()),
            }
        } else if is(word, "show") {
            match args {
                [_] => return Err(unknown()),
                [_, jobs] if is(jobs, "jobs") => AdminRequest::ShowJobs,
                [_, unique, jobs] if is(unique, "unique") && is(jobs, "jobs") => {
                    AdminRequest::ShowUniqueJobs
                }
                _ => return Err(AdminParseError::UnknownShowArguments),
            }
        } else if is(word, "create") {
            match args {
                [_, function, name] if is(function, "function") => {
                    AdminRequest::CreateFunction { name: owned(name) }
                }
                _ => return Err(invalid()),
            }
        } else if is(word, "drop") {
            match args {
                [_, function, name] if is(function, "function") => {
                    AdminRequest::DropFunction { name: owned(name) }
                }
                _ => return Err(invalid()),
            }
        } else if is(word, "maxqueue") {
            let [_, function, numbers @ ..] = args else {
                return Err(invalid());
            };
            let limits = match numbers {
                [] => MaxQueueLimits::None,
                [all] => MaxQueueLimits::All(atoi(all)),
                [high, normal] => MaxQueueLimits::PerPriority {
                    high: atoi(high),
                    normal: atoi(normal),
                    low: 0,
                },
                [high, normal, low, ..] => MaxQueueLimits::PerPriority {
                    high: atoi(high),
                    normal: atoi(normal),
                    low: atoi(low),
                },
            };
            AdminRequest::MaxQueue {
                function: owned(function),
                limits,
            }
        } else if is(word, "shutdown") {
            match args {
                [_] => AdminRequest::Shutdown { graceful: false },
                [_, graceful] if is(graceful, "graceful") => {
                    AdminRequest::Shutdown { graceful: true }
                }
                _ => return Err(invalid()),
            }
        } else {
            return Err(unknown());
        })
    }

    /// A [`Raw`](AdminRequest::Raw) request for `line`, refused when it
    /// holds a line break.
    pub fn raw(line: impl Into<Bytes>) -> Result<AdminRequest, AdminLineError> {
        AdminLine::new(line).map(AdminRequest::Raw)
    }

    /// Whether the reply is one line or a list. A [`Raw`](AdminRequest::Raw)
    /// line takes the shape of the command it parses to, else one line.
    ///
    /// ```
    /// use gearman_proto::admin::{AdminRequest, ReplyShape};
    /// assert_eq!(AdminRequest::ShowJobs.reply_shape(), ReplyShape::List);
    /// assert_eq!(AdminRequest::raw("STATUS").unwrap().reply_shape(), ReplyShape::List);
    /// assert_eq!(AdminRequest::raw("gladiator").unwrap().reply_shape(), ReplyShape::SingleLine);
    /// ```
    pub fn reply_shape(&self) -> ReplyShape {
        match self {
            AdminRequest::Status
            | AdminRequest::Workers
            | AdminRequest::ShowJobs
            | AdminRequest::ShowUniqueJobs
            | AdminRequest::PriorityStatus => ReplyShape::List,
            AdminRequest::Raw(line) => match AdminRequest::parse(line) {
                Ok(AdminRequest::Raw(_)) | Err(_) => ReplyShape::SingleLine,
                Ok(parsed) => parsed.reply_shape(),
            },
            _ => ReplyShape::SingleLine,
        }
    }

    /// Appends the line, ending in `\r\n` (gearmand's `create function`
    /// needs the `\r`).
    ///
    /// ```
    /// use gearman_proto::admin::{AdminRequest, MaxQueueLimits};
    /// let mut out = Vec::new();
    /// AdminRequest::MaxQueue {
    ///     function: "resize".into(),
    ///     limits: MaxQueueLimits::PerPriority { high: 5, normal: 10, low: 0 },
    /// }
    /// .encode(&mut out);
    /// assert_eq!(out, b"maxqueue resize 5 10 0\r\n");
    /// ```
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        match self {
            AdminRequest::Status => buf.put_slice(b"status"),
            AdminRequest::Workers => buf.put_slice(b"workers"),
            AdminRequest::Version => buf.put_slice(b"version"),
            AdminRequest::GetPid => buf.put_slice(b"getpid"),
            AdminRequest::MaxQueue { function, limits } => {
                buf.put_slice(b"maxqueue ");
                buf.put_slice(function);
                let numbers: &[i64] = match limits {
                    MaxQueueLimits::None => &[],
                    MaxQueueLimits::All(all) => &[*all],
                    MaxQueueLimits::PerPriority { high, normal, low } => &[*high, *normal, *low],
                };
                for &n in numbers {
                    buf.put_u8(b' ');
                    put_i64(buf, n);
                }
            }
            AdminRequest::Shutdown { graceful: false } => buf.put_slice(b"shutdown"),
            AdminRequest::Shutdown { graceful: true } => buf.put_slice(b"shutdown graceful"),
            AdminRequest::Verbose => buf.put_slice(b"verbose"),
            AdminRequest::ShowJobs => buf.put_slice(b"show jobs"),
            AdminRequest::ShowUniqueJobs => buf.put_slice(b"show unique jobs"),
            AdminRequest::CancelJob { handle } => {
                buf.put_slice(b"cancel job ");
                buf.put_slice(handle);
            }
            AdminRequest::PriorityStatus => buf.put_slice(b"prioritystatus"),
            AdminRequest::CreateFunction { name } => {
                buf.put_slice(b"create function ");
                buf.put_slice(name);
            }
            AdminRequest::DropFunction { name } => {
                buf.put_slice(b"drop function ");
                buf.put_slice(name);
            }
            AdminRequest::Raw(line) => buf.put_slice(line),
        }
        buf.put_slice(b"\r\n");
    }
}
