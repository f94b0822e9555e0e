//! Admin replies: typed rows and lines, written exactly as gearmand writes them.

use bytes::{BufMut, Bytes};

use super::request::AdminRequest;
use crate::decimal::{parse_i64, parse_u64, put_i64, put_u64};

/// One `status` line: `NAME\tTOTAL\tRUNNING\tWORKERS`.
///
/// ```
/// use gearman_proto::admin::StatusRow;
/// let row = StatusRow::new("resize", 3, 1, 2);
/// let mut out = Vec::new();
/// row.encode(&mut out);
/// assert_eq!(out, b"resize\t3\t1\t2\n");
/// assert_eq!(StatusRow::parse(&out[..out.len() - 1].to_vec().into()), Some(row));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StatusRow {
    /// Function name.
    pub function: Bytes,
    /// Jobs queued plus running.
    pub total: u64,
    /// Jobs assigned to a worker.
    pub running: u64,
    /// CAN_DO registrations for the function.
    pub workers: u64,
}

/// One `prioritystatus` line: `NAME\tHIGH\tNORMAL\tLOW\tWORKERS`.
///
/// ```
/// use gearman_proto::admin::PriorityStatusRow;
/// let row = PriorityStatusRow::new("resize", 1, 2, 0, 4);
/// let mut out = Vec::new();
/// row.encode(&mut out);
/// assert_eq!(out, b"resize\t1\t2\t0\t4\n");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PriorityStatusRow {
    /// Function name.
    pub function: Bytes,
    /// Queued high-priority jobs.
    pub high: u64,
    /// Queued normal-priority jobs.
    pub normal: u64,
    /// Queued low-priority jobs.
    pub low: u64,
    /// CAN_DO registrations for the function.
    pub workers: u64,
}

/// One `workers` line: `FD IP ID :` then ` FUNC` per registered function.
///
/// The client id may hold spaces; it ends at the first ` :` that is followed
/// by a space or the end of the line. Function names and the address hold none.
///
/// ```
/// use gearman_proto::admin::WorkerRow;
/// let row = WorkerRow::new(12, "10.0.0.5", "-", ["resize", "thumb"]);
/// let mut out = Vec::new();
/// row.encode(&mut out);
/// assert_eq!(out, b"12 10.0.0.5 - : resize thumb\n");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WorkerRow {
    /// The connection's file descriptor on the server.
    pub fd: i64,
    /// The peer's address.
    pub ip: Bytes,
    /// The SET_CLIENT_ID value, or `-`.
    pub client_id: Bytes,
    /// Registered functions, in registration order (empty for clients).
    pub functions: Vec<Bytes>,
}

/// One `show jobs` line: `HANDLE\tRETRIES\tIGNORED\tQUEUED`.
///
/// ```
/// use gearman_proto::admin::JobRow;
/// let row = JobRow::new("H:srv:7", 0, false, true);
/// let mut out = Vec::new();
/// row.encode(&mut out);
/// assert_eq!(out, b"H:srv:7\t0\t0\t1\n");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct JobRow {
    /// The job handle.
    pub handle: Bytes,
    /// Times the job was requeued after losing its worker.
    pub retries: u64,
    /// Cancelled or abandoned: it will be dropped rather than run.
    pub ignored: bool,
    /// A background job handed to the queue layer and not yet done.
    pub queued: bool,
}

/// A reply to an admin command.
///
/// [`encode`](AdminResponse::encode) writes gearmand's exact bytes, line
/// endings included (`OK` and `ERR` lines end in `\r\n`; list lines, `.`, and
/// the `version`, `getpid` and `verbose` replies in `\n`).
/// [`AdminResponseDecoder`](super::AdminResponseDecoder) reads the same bytes
/// back into an equal value.
///
/// ```
/// use gearman_proto::admin::AdminResponse;
/// let mut out = Vec::new();
/// AdminResponse::Version("1.1.22".into()).encode(&mut out);
/// AdminResponse::Ok.encode(&mut out);
/// AdminResponse::error("UNKNOWN_JOB", "").encode(&mut out);
/// assert_eq!(out, b"OK 1.1.22\nOK\r\nERR UNKNOWN_JOB\r\n");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AdminResponse {
    /// `OK`: maxqueue, cancel job, create/drop function, shutdown.
    Ok,
    /// `OK VERSION` in answer to `version` (a bare line from servers that
    /// omit the `OK`).
    Version(Bytes),
    /// `OK PID` in answer to `getpid`.
    Pid(u32),
    /// `OK LEVEL` in answer to `verbose`.
    Verbose(Bytes),
    /// `ERR CODE TEXT`; `text` is empty when the line has only a code. It can
    /// answer any command, list commands included.
    Error {
        /// The code, e.g. `UNKNOWN_JOB`.
        code: Bytes,
        /// The rest of the line (gearmand writes spaces as `+`).
        text: Bytes,
    },
    /// Reply to `status`.
    Status(Vec<StatusRow>),
    /// Reply to `workers`.
    Workers(Vec<WorkerRow>),
    /// Reply to `prioritystatus`.
    PriorityStatus(Vec<PriorityStatusRow>),
    /// Reply to `show jobs`.
    ShowJobs(Vec<JobRow>),
    /// Reply to `show unique jobs`: one unique id per line (empty for jobs
    /// without one). An id equal to `.` or holding `\n` cannot be sent.
    ShowUniqueJobs(Vec<Bytes>),
    /// A one-line reply of no known form, without its line ending.
    RawLine(Bytes),
    /// A list reply whose lines are of no known form, without the closing `.`.
    RawList(Vec<Bytes>),
}

/// Appends the `.` line that closes a list reply.
///
/// A server can write a long list row by row (each row's `encode`), then this,
/// without building an [`AdminResponse`].
///
/// ```
/// use gearman_proto::admin::{StatusRow, encode_list_end};
/// let mut out = Vec::new();
/// StatusRow::new("f", 0, 0, 1).encode(&mut out);
/// encode_list_end(&mut out);
/// assert_eq!(out, b"f\t0\t0\t1\n.\n");
/// ```
pub fn encode_list_end<B: BufMut>(buf: &mut B) {
    buf.put_slice(b".\n");
}

/// Ends a line with gearmand's `\n`, except that a line whose content ends
/// in `\r` gets `\r\n`, so a reader that drops one `\r` gets the content back.
fn put_line_end<B: BufMut>(buf: &mut B, content_last: Option<u8>) {
    if content_last == Some(b'\r') {
        buf.put_u8(b'\r');
    }
    buf.put_u8(b'\n');
}

fn put_list_line<B: BufMut>(buf: &mut B, line: &[u8]) {
    buf.put_slice(line);
    put_line_end(buf, line.last().copied());
}

/// Splits `line` at its last `N - 1` tabs: the first part may hold tabs itself.
fn split_tabs<const N: usize>(line: &Bytes) -> Option<(Bytes, [&[u8]; N])> {
    let mut parts: [&[u8]; N] = [&[]; N];
    let mut end = line.len();
    for slot in (1..N).rev() {
        let tab = memchr::memrchr(b'\t', &line[..end])?;
        parts[slot] = &line[tab + 1..end];
        end = tab;
    }
    Some((line.slice(..end), parts))
}

fn parse_flag(text: &[u8]) -> Option<bool> {
    match text {
        b"0" => Some(false),
        b"1" => Some(true),
        _ => None,
    }
}

impl StatusRow {
    /// A row.
    ///
    /// ```
    /// use gearman_proto::admin::StatusRow;
    /// let row = StatusRow::new("resize", 3, 1, 2);
    /// assert_eq!((row.total, row.running, row.workers), (3, 1, 2));
    /// ```
    pub fn new(function: impl Into<Bytes>, total: u64, running: u64, workers: u64) -> StatusRow {
        StatusRow {
            function: function.into(),
            total,
            running,
            workers,
        }
    }

    /// Parses a line without its line ending; the name may hold tabs.
    ///
    /// ```
    /// use gearman_proto::admin::StatusRow;
    /// let row = StatusRow::parse(&"name\twith tab\t3\t1\t2".into()).unwrap();
    /// assert_eq!(row, StatusRow::new("name\twith tab", 3, 1, 2));
    /// assert_eq!(StatusRow::parse(&"resize\t3\t1".into()), None);
    /// ```
    pub fn parse(line: &Bytes) -> Option<StatusRow> {
        let (function, [_, total, running, workers]) = split_tabs::<4>(line)?;
        Some(StatusRow {
            function,
            total: parse_u64(total)?,
            running: parse_u64(running)?,
            workers: parse_u64(workers)?,
        })
    }

    /// Appends the line and its `\n`.
    ///
    /// ```
    /// use gearman_proto::admin::StatusRow;
    /// let mut out = Vec::new();
    /// StatusRow::new("f", 0, 0, 1).encode(&mut out);
    /// assert_eq!(out, b"f\t0\t0\t1\n");
    /// ```
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_slice(&self.function);
        for n in [self.total, self.running, self.workers] {
            buf.put_u8(b'\t');
            put_u64(buf, n);
        }
        buf.put_u8(b'\n');
    }
}

impl PriorityStatusRow {
    /// A row.
    ///
    /// ```
    /// use gearman_proto::admin::PriorityStatusRow;
    /// let row = PriorityStatusRow::new("f", 1, 2, 3, 4);
    /// assert_eq!((row.high, row.normal, row.low, row.workers), (1, 2, 3, 4));
    /// ```
    pub fn new(
        function: impl Into<Bytes>,
        high: u64,
        normal: u64,
        low: u64,
        workers: u64,
    ) -> PriorityStatusRow {
        PriorityStatusRow {
            function: function.into(),
            high,
            normal,
            low,
            workers,
        }
    }

    /// Parses a line without its line ending; the name may hold tabs.
    ///
    /// ```
    /// use gearman_proto::admin::PriorityStatusRow;
    /// let row = PriorityStatusRow::parse(&"f\t1\t2\t3\t4".into()).unwrap();
    /// assert_eq!(row, PriorityStatusRow::new("f", 1, 2, 3, 4));
    /// ```
    pub fn parse(line: &Bytes) -> Option<PriorityStatusRow> {
        let (function, [_, high, normal, low, workers]) = split_tabs::<5>(line)?;
        Some(PriorityStatusRow {
            function,
            high: parse_u64(high)?,
            normal: parse_u64(normal)?,
            low: parse_u64(low)?,
            workers: parse_u64(workers)?,
        })
    }

    /// Appends the line and its `\n`.
    ///
    /// ```
    /// use gearman_proto::admin::PriorityStatusRow;
    /// let mut out = Vec::new();
    /// PriorityStatusRow::new("f", 1, 2, 3, 4).encode(&mut out);
    /// assert_eq!(out, b"f\t1\t2\t3\t4\n");
    /// ```
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_slice(&self.function);
        for n in [self.high, self.normal, self.low, self.workers] {
            buf.put_u8(b'\t');
            put_u64(buf, n);
        }
        buf.put_u8(b'\n');
    }
}

impl WorkerRow {
    /// A row.
    ///
    /// ```
    /// use gearman_proto::admin::WorkerRow;
    /// let row = WorkerRow::new(7, "10.0.0.5", "-", ["resize"]);
    /// assert_eq!(row.functions, vec![bytes::Bytes::from("resize")]);
    /// ```
    pub fn new<F: Into<Bytes>>(
        fd: i64,
        ip: impl Into<Bytes>,
        client_id: impl Into<Bytes>,
        functions: impl IntoIterator<Item = F>,
    ) -> WorkerRow {
        WorkerRow {
            fd,
            ip: ip.into(),
            client_id: client_id.into(),
            functions: functions.into_iter().map(Into::into).collect(),
        }
    }

    /// Parses a line without its line ending.
    ///
    /// ```
    /// use gearman_proto::admin::WorkerRow;
    /// let row = WorkerRow::parse(&"33 10.0.0.9 my worker : resize".into()).unwrap();
    /// assert_eq!(row, WorkerRow::new(33, "10.0.0.9", "my worker", ["resize"]));
    /// ```
    pub fn parse(line: &Bytes) -> Option<WorkerRow> {
        let fd_end = memchr::memchr(b' ', line)?;
        let fd = parse_i64(&line[..fd_end])?;
        let ip_start = fd_end + 1;
        let ip_end = ip_start + memchr::memchr(b' ', &line[ip_start..])?;
        let rest = &line[ip_end + 1..];
        let ends_separator = |at: usize| rest.get(at).is_none_or(|&b| b == b' ');
        // The id ends at the first " :" followed by a space or the end; a
        // line with no id at all ("FD IP :") has the colon right away.
        let (id_len, functions_at) = if rest.first() == Some(&b':') && ends_separator(1) {
            (0, 1)
        } else {
            let sep = memchr::memmem::find_iter(rest, b" :").find(|&at| ends_separator(at + 2))?;
            (sep, sep + 2)
        };
        let id_start = ip_end + 1;
        let functions_start = id_start + functions_at;
        let functions = line[functions_start..]
            .split(|&b| b == b' ')
            .filter(|name| !name.is_empty())
            .map(|name| line.slice_ref(name))
            .collect();
        Some(WorkerRow {
            fd,
            ip: line.slice(ip_start..ip_end),
            client_id: line.slice(id_start..id_start + id_len),
            functions,
        })
    }

    /// Appends the line and its `\n`.
    ///
    /// ```
    /// use gearman_proto::admin::WorkerRow;
    /// let mut out = Vec::new();
    /// WorkerRow::new(33, "10.0.0.9", "-", Vec::<&str>::new()).encode(&mut out);
    /// assert_eq!(out, b"33 10.0.0.9 - :\n");
    /// ```
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        put_i64(buf, self.fd);
        buf.put_u8(b' ');
        buf.put_slice(&self.ip);
        buf.put_u8(b' ');
        buf.put_slice(&self.client_id);
        buf.put_slice(b" :");
        let mut last = b':';
        for function in &self.functions {
            buf.put_u8(b' ');
            buf.put_slice(function);
            last = function.last().copied().unwrap_or(b' ');
        }
        put_line_end(buf, Some(last));
    }
}

impl JobRow {
    /// A row.
    ///
    /// ```
    /// use gearman_proto::admin::JobRow;
    /// let row = JobRow::new("H:srv:7", 1, false, true);
    /// assert!(row.queued && !row.ignored);
    /// ```
    pub fn new(handle: impl Into<Bytes>, retries: u64, ignored: bool, queued: bool) -> JobRow {
        JobRow {
            handle: handle.into(),
            retries,
            ignored,
            queued,
        }
    }

    /// Parses a line without its line ending; the handle may hold tabs.
    ///
    /// ```
    /// use gearman_proto::admin::JobRow;
    /// let row = JobRow::parse(&"H:srv:7\t2\t1\t0".into()).unwrap();
    /// assert_eq!(row, JobRow::new("H:srv:7", 2, true, false));
    /// ```
    pub fn parse(line: &Bytes) -> Option<JobRow> {
        let (handle, [_, retries, ignored, queued]) = split_tabs::<4>(line)?;
        Some(JobRow {
            handle,
            retries: parse_u64(retries)?,
            ignored: parse_flag(ignored)?,
            queued: parse_flag(queued)?,
        })
    }

    /// Appends the line and its `\n`.
    ///
    /// ```
    /// use gearman_proto::admin::JobRow;
    /// let mut out = Vec::new();
    /// JobRow::new("H:srv:8", 2, true, false).encode(&mut out);
    /// assert_eq!(out, b"H:srv:8\t2\t1\t0\n");
    /// ```
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_slice(&self.handle);
        buf.put_u8(b'\t');
        put_u64(buf, self.retries);
        buf.put_slice(if self.ignored { b"\t1" } else { b"\t0" });
        buf.put_slice(if self.queued { b"\t1\n" } else { b"\t0\n" });
    }
}

impl AdminResponse {
    /// An `ERR CODE TEXT` reply.
    ///
    /// ```
    /// use gearman_proto::admin::AdminResponse;
    /// let mut out = Vec::new();
    /// AdminResponse::error("CREATE_FUNCTION", "resize").encode(&mut out);
    /// assert_eq!(out, b"ERR CREATE_FUNCTION resize\r\n");
    /// ```
    pub fn error(code: impl Into<Bytes>, text: impl Into<Bytes>) -> AdminResponse {
        AdminResponse::Error {
            code: code.into(),
            text: text.into(),
        }
    }

    /// gearmand's reply to an unknown command word: the word is glued to the
    /// text with no separator, exactly as gearmand does.
    ///
    /// ```
    /// use gearman_proto::admin::AdminResponse;
    /// let mut out = Vec::new();
    /// AdminResponse::unknown_command(b"jobs").encode(&mut out);
    /// assert_eq!(out, b"ERR UNKNOWN_COMMAND Unknown+server+commandjobs\r\n");
    /// ```
    pub fn unknown_command(word: &[u8]) -> AdminResponse {
        let text = [&b"Unknown+server+command"[..], word].concat();
        AdminResponse::error("UNKNOWN_COMMAND", text)
    }

    /// gearmand's reply to a command with the wrong arguments, naming the
    /// command word as it was sent.
    ///
    /// ```
    /// use gearman_proto::admin::AdminResponse;
    /// let mut out = Vec::new();
    /// AdminResponse::invalid_arguments(b"drop").encode(&mut out);
    /// assert_eq!(
    ///     out,
    ///     &b"ERR INVALID_ARGUMENTS An+incomplete+set+of+arguments+was+sent+to+this+command+drop\r\n"[..]
    /// );
    /// ```
    pub fn invalid_arguments(word: &[u8]) -> AdminResponse {
        let text = [
            &b"An+incomplete+set+of+arguments+was+sent+to+this+command+"[..],
            word,
        ]
        .concat();
        AdminResponse::error("INVALID_ARGUMENTS", text)
    }

    /// Whether this is an `ERR` reply.
    ///
    /// ```
    /// use gearman_proto::admin::AdminResponse;
    /// assert!(AdminResponse::error("UNKNOWN_JOB", "").is_error());
    /// assert!(!AdminResponse::Ok.is_error());
    /// ```
    pub fn is_error(&self) -> bool {
        matches!(self, AdminResponse::Error { .. })
    }

    /// Appends the reply's bytes as gearmand writes them.
    ///
    /// ```
    /// use gearman_proto::admin::{AdminResponse, WorkerRow};
    /// let mut out = Vec::new();
    /// AdminResponse::Workers(vec![
    ///     WorkerRow::new(12, "10.0.0.5", "-", ["resize", "thumb"]),
    ///     WorkerRow::new(33, "10.0.0.9", "-", Vec::<&str>::new()),
    /// ])
    /// .encode(&mut out);
    /// assert_eq!(out, b"12 10.0.0.5 - : resize thumb\n33 10.0.0.9 - :\n.\n");
    /// ```
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        match self {
            AdminResponse::Ok => buf.put_slice(b"OK\r\n"),
            AdminResponse::Version(text) | AdminResponse::Verbose(text) => {
                buf.put_slice(b"OK ");
                put_list_line(buf, text);
            }
            AdminResponse::Pid(pid) => {
                buf.put_slice(b"OK ");
                put_u64(buf, u64::from(*pid));
                buf.put_u8(b'\n');
            }
            AdminResponse::Error { code, text } => {
                buf.put_slice(b"ERR ");
                buf.put_slice(code);
                if !text.is_empty() {
                    buf.put_u8(b' ');
                    buf.put_slice(text);
                }
                buf.put_slice(b"\r\n");
            }
            AdminResponse::Status(rows) => {
                rows.iter().for_each(|row| row.encode(buf));
                encode_list_end(buf);
            }
            AdminResponse::Workers(rows) => {
                rows.iter().for_each(|row| row.encode(buf));
                encode_list_end(buf);
            }
            AdminResponse::PriorityStatus(rows) => {
                rows.iter().for_each(|row| row.encode(buf));
                encode_list_end(buf);
            }
            AdminResponse::ShowJobs(rows) => {
                rows.iter().for_each(|row| row.encode(buf));
                encode_list_end(buf);
            }
            AdminResponse::ShowUniqueJobs(lines) | AdminResponse::RawList(lines) => {
                lines.iter().for_each(|line| put_list_line(buf, line));
                encode_list_end(buf);
            }
            AdminResponse::RawLine(line) => put_list_line(buf, line),
        }
    }

    /// Reads a one-line reply (without its line ending) as the answer to
    /// `request`. Used by [`AdminResponseDecoder`](super::AdminResponseDecoder).
    ///
    /// ```
    /// use gearman_proto::admin::{AdminRequest, AdminResponse};
    /// assert_eq!(
    ///     AdminResponse::from_line(&AdminRequest::GetPid, "OK 4711".into()),
    ///     AdminResponse::Pid(4711)
    /// );
    /// ```
    pub fn from_line(request: &AdminRequest, line: Bytes) -> AdminResponse {
        if let Some(error) = parse_error_line(&line) {
            return error;
        }
        if &line[..] == b"OK" {
            return AdminResponse::Ok;
        }
        let ok_text = line.strip_prefix(b"OK ").map(|text| line.slice_ref(text));
        match (command_of(request), ok_text) {
            (Some(AdminRequest::Version), Some(text)) => AdminResponse::Version(text),
            (Some(AdminRequest::Version), None) => AdminResponse::Version(line),
            (Some(AdminRequest::Verbose), Some(text)) => AdminResponse::Verbose(text),
            (Some(AdminRequest::GetPid), Some(text)) => match parse_u64(&text) {
                Some(pid) => u32::try_from(pid)
                    .map(AdminResponse::Pid)
                    .unwrap_or(AdminResponse::RawLine(line)),
                None => AdminResponse::RawLine(line),
            },
            _ => AdminResponse::RawLine(line),
        }
    }

    /// Reads the lines of a list reply (without the closing `.`) as the answer
    /// to `request`; lines that do not fit give [`RawList`](AdminResponse::RawList).
    ///
    /// ```
    /// use gearman_proto::admin::{AdminRequest, AdminResponse, JobRow};
    /// assert_eq!(
    ///     AdminResponse::from_lines(&AdminRequest::ShowJobs, vec!["H:a:1\t0\t0\t1".into()]),
    ///     AdminResponse::ShowJobs(vec![JobRow::new("H:a:1", 0, false, true)])
    /// );
    /// ```
    pub fn from_lines(request: &AdminRequest, lines: Vec<Bytes>) -> AdminResponse {
        fn all<T>(lines: &[Bytes], parse: fn(&Bytes) -> Option<T>) -> Option<Vec<T>> {
            lines.iter().map(parse).collect()
        }
        let typed = match command_of(request) {
            Some(AdminRequest::Status) => all(&lines, StatusRow::parse).map(AdminResponse::Status),
            Some(AdminRequest::Workers) => {
                all(&lines, WorkerRow::parse).map(AdminResponse::Workers)
            }
            Some(AdminRequest::PriorityStatus) => {
                all(&lines, PriorityStatusRow::parse).map(AdminResponse::PriorityStatus)
            }
            Some(AdminRequest::ShowJobs) => all(&lines, JobRow::parse).map(AdminResponse::ShowJobs),
            Some(AdminRequest::ShowUniqueJobs) => {
                return AdminResponse::ShowUniqueJobs(lines);
            }
            _ => None,
        };
        typed.unwrap_or(AdminResponse::RawList(lines))
    }
}

/// The command a request stands for: itself, or what a raw line parses to.
fn command_of(request: &AdminRequest) -> Option<AdminRequest> {
    match request {
        AdminRequest::Raw(line) => AdminRequest::parse(line).ok(),
        other => Some(other.clone()),
    }
}

/// `ERR CODE TEXT` or `ERR CODE` (or a bare `ERR`).
pub(crate) fn parse_error_line(line: &Bytes) -> Option<AdminResponse> {
    if &line[..] == b"ERR" {
        return Some(AdminResponse::error(Bytes::new(), Bytes::new()));
    }
    let rest = line.strip_prefix(b"ERR ")?;
    let (code, text) = match memchr::memchr(b' ', rest) {
        Some(space) => (&rest[..space], &rest[space + 1..]),
        None => (rest, &rest[rest.len()..]),
    };
    Some(AdminResponse::Error {
        code: line.slice_ref(code),
        text: line.slice_ref(text),
    })
}
