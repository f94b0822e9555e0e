//! `worker -f NAME -- COMMAND ARGS...`: each job runs a command, as
//! libgearman's `gearman -w` does. Written once for every adapter: the
//! blocking worker calls [`JobCommand::run`] in its handler, the async ones
//! on their runtime's blocking-task threads.
#![allow(clippy::print_stderr, reason = "the worker tool's own output")]

use std::fmt::Display;
use std::io::Write;
use std::process::{Command, Stdio};

use gearman_proto::worker::WorkError;

use crate::cli::UsageError;

/// A command and its arguments, run once per job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobCommand {
    program: String,
    args: Vec<String>,
}

impl JobCommand {
    /// The command `words` name: the program, then its arguments.
    pub fn new(mut words: Vec<String>) -> Result<JobCommand, UsageError> {
        if words.is_empty() {
            return Err(UsageError::Mistake("-- needs a COMMAND".into()));
        }
        let program = words.remove(0);
        Ok(JobCommand {
            program,
            args: words,
        })
    }

    /// Runs the command for one job of `function`, blocking until it exits:
    /// `payload` on its standard input, its standard output the result, its
    /// standard error the worker's. A command that cannot start, exits
    /// non-zero or is killed fails the job ([`WorkError::Fail`]), with the
    /// reason on standard error as `worker: FUNCTION: REASON`.
    pub fn run(&self, function: &[u8], payload: &[u8]) -> Result<Vec<u8>, WorkError> {
        let mut child = Command::new(&self.program)
            .args(&self.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|err| {
                failed(
                    function,
                    format_args!("cannot start {}: {err}", self.program),
                )
            })?;
        let mut stdin = child.stdin.take().expect("standard input is piped");
        let output = std::thread::scope(|scope| {
            // Fed from its own thread: a command that writes before it has
            // read all its input would otherwise wait on us as we wait on it.
            // A command that exits without reading it all is no failure.
            scope.spawn(move || {
                let _ = stdin.write_all(payload);
            });
            child.wait_with_output()
        })
        .map_err(|err| {
            failed(
                function,
                format_args!("waiting for {}: {err}", self.program),
            )
        })?;
        if output.status.success() {
            Ok(output.stdout)
        } else {
            Err(failed(
                function,
                format_args!("{} ended with {}", self.program, output.status),
            ))
        }
    }
}

fn failed(function: &[u8], why: impl Display) -> WorkError {
    eprintln!("worker: {}: {why}", String::from_utf8_lossy(function));
    WorkError::Fail
}
