//! What the example tools print and decide, with no runtime in it, so that
//! every adapter's `client`, `admin` and `quickstart` behave the same and
//! differ only in how they wait.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::error::Error;
use std::fmt::{self, Display};
use std::io::{Read, Write};
use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use gearman_proto::Priority;
use gearman_proto::admin::AdminResponse;
use gearman_proto::client::ServerId;
use gearman_proto::client::{ClientConfig, JobHandle, JobRequest, JobStatus, UniqueStatus};
use gearman_proto::client::{JobOutcome, JobUpdate};

use crate::cli::{AdminArgs, PriorityArg, exit};

/// `admin`: each reply on standard output, as the server sent it or, for
/// gearadmin options, as [`gearadmin::print`](crate::gearadmin::print) does;
/// exit code 0, or 1 when a reply is `ERR`. A failure to connect or read is
/// reported with the server's address, exit code 3.
pub fn admin_reply<E: Error + 'static>(
    args: &AdminArgs,
    replies: Result<Vec<AdminResponse>, E>,
) -> ExitCode {
    let server = &args.server;
    match replies {
        Ok(replies) => {
            for reply in &replies {
                if args.as_gearadmin {
                    crate::gearadmin::print(reply);
                } else {
                    let mut out = Vec::new();
                    reply.encode(&mut out);
                    let _ = std::io::stdout().write_all(&out);
                }
            }
            // gearadmin exits 0 after an ERR reply (it printed it); a raw
            // command's ERR says so in the exit code.
            let failed = !args.as_gearadmin && replies.iter().any(AdminResponse::is_error);
            ExitCode::from(u8::from(failed))
        }
        Err(err) => {
            eprintln!("admin: {server}: {}", Chain(&err));
            ExitCode::from(exit::ERROR as u8)
        }
    }
}

/// `client`: the adapters' default configuration (exceptions enabled), with
/// `--request-timeout` applied.
pub fn client_config(servers: Vec<String>, request_timeout_ms: Option<u64>) -> ClientConfig {
    let config = ClientConfig::new(servers).with_exceptions(true);
    match request_timeout_ms {
        Some(ms) => config.with_request_timeout(Some(Duration::from_millis(ms))),
        None => config,
    }
}

/// `client`: the request the command line asks for; without a payload
/// argument the payload is standard input. Exit code 3 when that cannot be
/// read.
pub fn client_request(
    function: String,
    priority: PriorityArg,
    unique: Option<String>,
    timeout_ms: Option<u64>,
    payload: Option<Vec<u8>>,
) -> Result<JobRequest, ExitCode> {
    let payload = match payload {
        Some(payload) => payload,
        None => {
            let mut input = Vec::new();
            if let Err(err) = std::io::stdin().read_to_end(&mut input) {
                return Err(client_error(format!("reading standard input: {err}")));
            }
            input
        }
    };
    let mut request = JobRequest::new(function, payload).with_priority(match priority {
        PriorityArg::High => Priority::High,
        PriorityArg::Normal => Priority::Normal,
        PriorityArg::Low => Priority::Low,
    });
    if let Some(unique) = unique {
        request = request.with_unique(unique);
    }
    if let Some(ms) = timeout_ms {
        request = request.with_deadline(Duration::from_millis(ms));
    }
    Ok(request)
}

/// `client`: a data chunk goes to standard output as raw bytes, a warning
/// (and a newline) and `status N/D` to standard error.
pub fn client_update(update: &JobUpdate) {
    match update {
        JobUpdate::Data(data) => {
            let mut stdout = std::io::stdout().lock();
            let _ = stdout.write_all(data);
            let _ = stdout.flush();
        }
        JobUpdate::Warning(text) => {
            let mut stderr = std::io::stderr().lock();
            let _ = stderr.write_all(text);
            let _ = stderr.write_all(b"\n");
        }
        JobUpdate::Status {
            numerator,
            denominator,
        } => eprintln!("status {numerator}/{denominator}"),
        other => eprintln!("{other:?}"),
    }
}

/// `client`: prints how a foreground job ended and gives the exit code
/// (0 complete, 1 fail, 2 exception with its text on standard error, 3 any
/// other error with a message).
pub fn client_outcome<E: Error + 'static>(outcome: Result<JobOutcome, E>) -> ExitCode {
    match outcome {
        Ok(JobOutcome::Complete(result)) => {
            let mut stdout = std::io::stdout().lock();
            let _ = stdout.write_all(&result);
            let _ = stdout.flush();
            ExitCode::from(exit::COMPLETE as u8)
        }
        Ok(JobOutcome::Fail) => {
            eprintln!("client: the job failed");
            ExitCode::from(exit::FAIL as u8)
        }
        Ok(JobOutcome::Exception(text)) => {
            let mut stderr = std::io::stderr().lock();
            let _ = stderr.write_all(&text);
            let _ = stderr.write_all(b"\n");
            ExitCode::from(exit::EXCEPTION as u8)
        }
        Ok(other) => client_error(format!("unexpected outcome {other:?}")),
        Err(err) => client_failure(&err),
    }
}

/// `client`: a background job's handle and a newline.
pub fn client_queued(handle: &JobHandle) -> ExitCode {
    println!("{}", String::from_utf8_lossy(&handle.handle));
    ExitCode::from(exit::COMPLETE as u8)
}

/// `client --status HANDLE`: a handle is only unique on its server, so each
/// server given is asked in turn. [`offer`](StatusSearch::offer) takes one
/// server's answer and says whether to stop; [`finish`](StatusSearch::finish)
/// prints the answer that knew the job, else the last answer, else (when no
/// server answered) the last error.
pub struct StatusSearch<E> {
    answer: Option<JobStatus>,
    error: Option<E>,
}

/// Nothing asked yet.
impl<E> Default for StatusSearch<E> {
    fn default() -> StatusSearch<E> {
        StatusSearch {
            answer: None,
            error: None,
        }
    }
}

impl<E: Error + 'static> StatusSearch<E> {
    /// Takes one server's answer; true once a server knows the job.
    pub fn offer(&mut self, answer: Result<JobStatus, E>) -> bool {
        match answer {
            Ok(status) => {
                let known = status.known;
                self.answer = Some(status);
                known
            }
            Err(err) => {
                self.error = Some(err);
                false
            }
        }
    }

    /// Prints the outcome and gives the exit code.
    pub fn finish(self) -> ExitCode {
        match (self.answer, self.error) {
            (Some(s), _) => client_status(s.known, s.running, s.numerator, s.denominator),
            (None, Some(err)) => client_failure(&err),
            (None, None) => client_error("no server to ask"),
        }
    }
}

/// `client --status HANDLE`: the handle as each of `servers` servers would
/// know it, in the order given.
pub fn handle_on_each_server(handle: &str, servers: usize) -> impl Iterator<Item = JobHandle> {
    (0..servers).map(move |server| JobHandle {
        server: ServerId(server),
        handle: handle.to_owned().into(),
    })
}

/// `client --status-unique`: prints the answer (as [`client_status`]) or
/// the error.
pub fn client_unique_status<E: Error + 'static>(answer: Result<UniqueStatus, E>) -> ExitCode {
    match answer {
        Ok(s) => client_status(s.known, s.running, s.numerator, s.denominator),
        Err(err) => client_failure(&err),
    }
}

/// `worker`: a server that could not be reached, with the cause, as
/// libgearman's worker reports it each time it tries.
pub fn worker_connect_failed(err: &gearman_proto::ConnectError) {
    eprintln!("worker: {}", Chain(err));
}

/// `client`: an error with its causes (as [`Chain`]); exit code 3.
pub fn client_failure(err: &(dyn Error + 'static)) -> ExitCode {
    client_error(Chain(err))
}

/// An error followed by its [`source`](Error::source) chain, `error:
/// cause: cause`, so that a message names what went wrong underneath (the
/// server's address, the socket error). A cause whose text the message
/// already ends with is not repeated.
pub struct Chain<'a>(pub &'a (dyn Error + 'static));

impl Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = self.0.to_string();
        let mut cause = self.0.source();
        while let Some(err) = cause {
            let next = err.to_string();
            if !text.ends_with(&next) {
                text = format!("{text}: {next}");
            }
            cause = err.source();
        }
        f.write_str(&text)
    }
}

/// `client`: any other error, with a message; exit code 3.
pub fn client_error(err: impl Display) -> ExitCode {
    crate::cli::error_exit("client", err)
}

/// `client --status`: `known=0|1 running=0|1 numerator=N denominator=D`.
pub fn client_status(known: bool, running: bool, numerator: u64, denominator: u64) -> ExitCode {
    println!(
        "{}",
        crate::cli::status_line(known, running, numerator, denominator)
    );
    ExitCode::from(exit::COMPLETE as u8)
}

fn show(bytes: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(bytes))
}

/// The quickstart's steps: each prints what happened and says whether it
/// is what the example worker should have done.
pub mod tour {
    use super::*;

    /// The function and payload of step 1.
    pub const FOREGROUND: (&str, &str) = ("reverse", "hello gearman");
    /// The function and payload of step 2 (milliseconds to sleep).
    pub const BACKGROUND: (&str, &str) = ("sleep", "300");
    /// The function of step 3.
    pub const STREAMED: &str = "progress";
    /// The function of step 4a.
    pub const FAILING: &str = "fail";
    /// The function and payload of step 4b.
    pub const EXCEPTION: (&str, &str) = ("exception", "something broke");

    /// Why the tour stopped when a step took too long.
    pub const GAVE_UP: &str = "gave up after 60 s (is a worker able to reach the server?)";

    /// Step 1: a foreground job's result.
    pub fn foreground(outcome: &JobOutcome) -> bool {
        println!(
            "foreground: {}({:?}) -> {outcome:?}",
            FOREGROUND.0, FOREGROUND.1
        );
        *outcome == JobOutcome::Complete(Bytes::from_static(b"namraeg olleh"))
    }

    /// Step 2: the background job was queued.
    pub fn queued(handle: &JobHandle) {
        println!(
            "background: {}({:?}) queued as {} on server {}",
            BACKGROUND.0,
            BACKGROUND.1,
            String::from_utf8_lossy(&handle.handle),
            handle.server.0
        );
    }

    /// Step 2: its status right after; the server must know it.
    pub fn status(status: &JobStatus) -> bool {
        println!(
            "status of {}: {}",
            String::from_utf8_lossy(&status.handle.handle),
            crate::cli::status_line(
                status.known,
                status.running,
                status.numerator,
                status.denominator
            )
        );
        status.known
    }

    /// Step 2: the server forgot the finished job.
    pub fn finished(handle: &JobHandle) {
        println!(
            "status of {}: finished",
            String::from_utf8_lossy(&handle.handle)
        );
    }

    /// Step 3: one streamed update.
    pub fn streamed(update: &JobUpdate) {
        match update {
            JobUpdate::Data(data) => println!("streamed: data {}", show(data)),
            JobUpdate::Status {
                numerator,
                denominator,
            } => println!("streamed: status {numerator}/{denominator}"),
            other => println!("streamed: {other:?}"),
        }
    }

    /// Step 3: the end, after `updates` updates (status, data, status, data).
    pub fn streamed_end(updates: usize, outcome: &JobOutcome) -> bool {
        println!("streamed: {STREAMED} -> {outcome:?}");
        updates == 4 && *outcome == JobOutcome::Complete(Bytes::from_static(b"done"))
    }

    /// Step 4a: WORK_FAIL.
    pub fn failed(outcome: &JobOutcome) -> bool {
        println!("failure: {FAILING} -> {outcome:?}");
        *outcome == JobOutcome::Fail
    }

    /// Step 4b: WORK_EXCEPTION with the payload as its text.
    pub fn exception(outcome: &JobOutcome) -> bool {
        println!("failure: {}({:?}) -> {outcome:?}", EXCEPTION.0, EXCEPTION.1);
        *outcome == JobOutcome::Exception(Bytes::from_static(EXCEPTION.1.as_bytes()))
    }

    /// The last line (an error with its causes, as [`Chain`]);
    /// the exit code.
    pub fn end(result: Result<bool, Stopped>) -> ExitCode {
        match result {
            Ok(true) => {
                println!("all done");
                ExitCode::SUCCESS
            }
            Ok(false) => {
                println!("something did not behave as expected");
                ExitCode::FAILURE
            }
            Err(Stopped::GaveUp) => {
                eprintln!("quickstart: {GAVE_UP}");
                ExitCode::FAILURE
            }
            Err(Stopped::Failed(err)) => {
                eprintln!("quickstart: {}", super::Chain(&*err));
                ExitCode::FAILURE
            }
        }
    }

    /// Why the tour did not finish.
    #[derive(Debug)]
    pub enum Stopped {
        /// A step took longer than the tour's patience.
        GaveUp,
        /// A step failed.
        Failed(Box<dyn std::error::Error>),
    }

    impl<E: std::error::Error + 'static> From<E> for Stopped {
        fn from(err: E) -> Stopped {
            Stopped::Failed(Box::new(err))
        }
    }
}
