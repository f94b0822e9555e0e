//! `client --function NAME [--server HOST:PORT]... [--background]
//! [--priority high|normal|low] [--unique ID] [--timeout-ms MS] [PAYLOAD]`
//! submits a job (payload from standard input when not given);
//! `client --status HANDLE` and `client --status-unique UNIQUE` ask about one.
//!
//! Foreground: data chunks, then the result, go to standard output as raw
//! bytes; `status N/D` lines and warnings go to standard error. Exit code 0
//! on complete, 1 on fail, 2 on exception (its text on standard error), 3 on
//! any other error. Background: prints the job handle and a newline.
#![allow(clippy::print_stdout, clippy::print_stderr)]

#[path = "../../gearman-tokio/examples/common/cli.rs"]
mod cli;

use std::io::{Read, Write};
use std::process::ExitCode;
use std::time::Duration;

use cli::{ClientAction, ClientArgs, PriorityArg};
use gearman_blocking::proto::Priority;
use gearman_blocking::proto::client::JobHandle;
use gearman_blocking::proto::routing::ServerId;
use gearman_blocking::{Client, JobOutcome, JobRequest, JobUpdate};

const USAGE: &str = "usage: client --function NAME [--server HOST:PORT]... [--background] \
[--priority high|normal|low] [--unique ID] [--timeout-ms MS] [PAYLOAD]\n       \
client [--server HOST:PORT] --status HANDLE\n       \
client [--server HOST:PORT] --status-unique UNIQUE";

fn exit(code: i32) -> ExitCode {
    ExitCode::from(code as u8)
}

fn error(err: impl std::fmt::Display) -> ExitCode {
    eprintln!("client: {err}");
    exit(cli::exit::ERROR)
}

fn main() -> ExitCode {
    let args = match ClientArgs::parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(err) => {
            eprintln!("client: {err}\n{USAGE}");
            return exit(cli::exit::ERROR);
        }
    };
    let client = match Client::new(args.servers) {
        Ok(client) => client,
        Err(err) => return error(err),
    };
    match args.action {
        ClientAction::Status(handle) => {
            let handle = JobHandle {
                server: ServerId(0),
                handle: handle.into(),
            };
            match client.status(&handle) {
                Ok(s) => {
                    println!(
                        "{}",
                        cli::status_line(s.known, s.running, s.numerator, s.denominator)
                    );
                    exit(cli::exit::COMPLETE)
                }
                Err(err) => error(err),
            }
        }
        ClientAction::StatusUnique(unique) => match client.status_unique(unique) {
            Ok(s) => {
                println!(
                    "{}",
                    cli::status_line(s.known, s.running, s.numerator, s.denominator)
                );
                exit(cli::exit::COMPLETE)
            }
            Err(err) => error(err),
        },
        ClientAction::Submit {
            function,
            background,
            priority,
            unique,
            timeout_ms,
            payload,
        } => {
            let payload = match payload {
                Some(payload) => payload,
                None => {
                    let mut input = Vec::new();
                    if let Err(err) = std::io::stdin().read_to_end(&mut input) {
                        return error(format!("reading standard input: {err}"));
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
            if background {
                return match client.submit_background(request) {
                    Ok(handle) => {
                        println!("{}", String::from_utf8_lossy(&handle.handle));
                        exit(cli::exit::COMPLETE)
                    }
                    Err(err) => error(err),
                };
            }
            foreground(&client, request)
        }
    }
}

fn foreground(client: &Client, request: JobRequest) -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    let mut job = client.submit(request);
    for update in &mut job {
        match update {
            JobUpdate::Data(data) => {
                let _ = stdout.write_all(&data);
                let _ = stdout.flush();
            }
            JobUpdate::Warning(text) => {
                let mut stderr = std::io::stderr().lock();
                let _ = stderr.write_all(&text);
                let _ = stderr.write_all(b"\n");
            }
            JobUpdate::Status {
                numerator,
                denominator,
            } => eprintln!("status {numerator}/{denominator}"),
            other => eprintln!("{other:?}"),
        }
    }
    match job.wait() {
        Ok(JobOutcome::Complete(result)) => {
            let _ = stdout.write_all(&result);
            let _ = stdout.flush();
            exit(cli::exit::COMPLETE)
        }
        Ok(JobOutcome::Fail) => {
            eprintln!("client: the job failed");
            exit(cli::exit::FAIL)
        }
        Ok(JobOutcome::Exception(text)) => {
            let mut stderr = std::io::stderr().lock();
            let _ = stderr.write_all(&text);
            let _ = stderr.write_all(b"\n");
            exit(cli::exit::EXCEPTION)
        }
        Ok(other) => error(format!("unexpected outcome {other:?}")),
        Err(err) => error(err),
    }
}
