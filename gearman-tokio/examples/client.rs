//! `client --function NAME [--server HOST:PORT]... [--background]
//! [--priority high|normal|low] [--unique ID] [--timeout-ms MS] [PAYLOAD]`
//! submits a job (payload from standard input when not given);
//! `client --status HANDLE` and `client --status-unique UNIQUE` ask about one.
//!
//! Foreground: data chunks, then the result, go to standard output as raw
//! bytes; `status N/D` lines and warnings go to standard error. Exit code 0
//! on complete, 1 on fail, 2 on exception (its text on standard error), 3 on
//! any other error. Background: prints the job handle and a newline.
//! `--status` asks each server given, in order, and prints the first answer
//! that knows the job (`known=0 ...` when none does).
#![allow(clippy::print_stdout, clippy::print_stderr)]

#[path = "common/cli.rs"]
mod cli;

use std::io::{Read, Write};
use std::process::ExitCode;
use std::time::Duration;

use cli::{ClientAction, ClientArgs, PriorityArg};
use futures_util::StreamExt;
use gearman_tokio::proto::Priority;
use gearman_tokio::proto::client::JobHandle;
use gearman_tokio::proto::routing::ServerId;
use gearman_tokio::{Client, Error, JobOutcome, JobRequest, JobUpdate};

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

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = match ClientArgs::parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(err) => {
            eprintln!("client: {err}\n{USAGE}");
            return exit(cli::exit::ERROR);
        }
    };
    let server_count = args.servers.len();
    let client = match Client::new(args.servers) {
        Ok(client) => client,
        Err(err) => return error(err),
    };
    match args.action {
        ClientAction::Status(handle) => {
            // A handle is only unique on its server: ask each in turn and
            // report the first that knows the job.
            let mut last = None;
            for server in 0..server_count {
                let handle = JobHandle {
                    server: ServerId(server),
                    handle: handle.clone().into(),
                };
                match client.status(&handle).await {
                    Ok(status) if status.known => {
                        last = Some(status);
                        break;
                    }
                    Ok(status) => last = Some(status),
                    Err(err) if server + 1 == server_count && last.is_none() => {
                        return error(err);
                    }
                    Err(_) => {}
                }
            }
            let s = last.expect("at least one server answered");
            println!(
                "{}",
                cli::status_line(s.known, s.running, s.numerator, s.denominator)
            );
            exit(cli::exit::COMPLETE)
        }
        ClientAction::StatusUnique(unique) => match client.status_unique(unique).await {
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
                return match client.submit_background(request).await {
                    Ok(handle) => {
                        println!("{}", String::from_utf8_lossy(&handle.handle));
                        exit(cli::exit::COMPLETE)
                    }
                    Err(err) => error(err),
                };
            }
            foreground(&client, request).await
        }
    }
}

async fn foreground(client: &Client, request: JobRequest) -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    let mut job = client.submit(request);
    while let Some(update) = job.next().await {
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
    let outcome: Result<JobOutcome, Error> = job.await;
    match outcome {
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
