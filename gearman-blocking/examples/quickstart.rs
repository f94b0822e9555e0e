//! `quickstart [--server HOST:PORT]`: Gearman in one process. With no
//! arguments it starts the embedded job server on a free loopback port;
//! then it starts a worker and a client and shows a foreground job, a
//! background job with its status, streamed data and a failure.
//!
//! Exit code 0 when everything behaved as shown, 1 otherwise.
#![allow(clippy::print_stdout, clippy::print_stderr)]

#[path = "../../gearman-tokio/examples/common/cli.rs"]
mod cli;
#[path = "common/functions.rs"]
mod functions;

use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use cli::QuickstartArgs;
use gearman_blocking::{Client, Error, JobOutcome, JobRequest, JobUpdate, Server, Worker};

/// The longest any one step may take before the tour gives up.
const PATIENCE: Duration = Duration::from_secs(60);

fn show(bytes: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(bytes))
}

fn tour(client: &Client) -> Result<bool, Error> {
    let mut all_good = true;

    // 1. A foreground job: submit and wait for the result.
    let outcome = client
        .submit(JobRequest::new("reverse", "hello gearman"))
        .wait_timeout(PATIENCE)?;
    println!("foreground: reverse(\"hello gearman\") -> {outcome:?}");
    all_good &= outcome == JobOutcome::Complete(Bytes::from_static(b"namraeg olleh"));

    // 2. A background job: the server keeps it; ask how it is doing.
    let handle = client.submit_background(JobRequest::new("sleep", "300"))?;
    println!(
        "background: sleep(\"300\") queued as {} on server {}",
        String::from_utf8_lossy(&handle.handle),
        handle.server.0
    );
    let status = client.status(&handle)?;
    println!(
        "status of {}: {}",
        String::from_utf8_lossy(&handle.handle),
        cli::status_line(
            status.known,
            status.running,
            status.numerator,
            status.denominator
        )
    );
    all_good &= status.known;
    // Wait (a few seconds at most) until the server forgets the finished job.
    for _ in 0..100 {
        if !client.status(&handle)?.known {
            println!(
                "status of {}: finished",
                String::from_utf8_lossy(&handle.handle)
            );
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }

    // 3. Streamed data: updates arrive while the job runs.
    let mut job = client.submit(JobRequest::new("progress", ""));
    let mut seen = Vec::new();
    while let Some(update) = job.next_update_timeout(PATIENCE)? {
        match &update {
            JobUpdate::Data(data) => println!("streamed: data {}", show(data)),
            JobUpdate::Status {
                numerator,
                denominator,
            } => println!("streamed: status {numerator}/{denominator}"),
            other => println!("streamed: {other:?}"),
        }
        seen.push(update);
    }
    let outcome = job.wait()?;
    println!("streamed: progress -> {outcome:?}");
    all_good &= seen.len() == 4 && outcome == JobOutcome::Complete(Bytes::from_static(b"done"));

    // 4. Failures: WORK_FAIL and WORK_EXCEPTION.
    let outcome = client
        .submit(JobRequest::new("fail", ""))
        .wait_timeout(PATIENCE)?;
    println!("failure: fail -> {outcome:?}");
    all_good &= outcome == JobOutcome::Fail;
    let outcome = client
        .submit(JobRequest::new("exception", "something broke"))
        .wait_timeout(PATIENCE)?;
    println!("failure: exception(\"something broke\") -> {outcome:?}");
    all_good &= outcome == JobOutcome::Exception(Bytes::from_static(b"something broke"));

    Ok(all_good)
}

fn main() -> ExitCode {
    let args = match QuickstartArgs::parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(err) => {
            eprintln!("quickstart: {err}\nusage: quickstart [--server HOST:PORT]");
            return ExitCode::from(cli::exit::ERROR as u8);
        }
    };
    // Kept alive until the end: dropping it stops the embedded server.
    let mut embedded = None;
    let server = match args.server {
        Some(server) => {
            println!("using the job server at {server}");
            server
        }
        None => {
            let running = match Server::bind("127.0.0.1:0").and_then(Server::spawn) {
                Ok(running) => running,
                Err(err) => {
                    eprintln!("quickstart: cannot start the embedded server: {err}");
                    return ExitCode::FAILURE;
                }
            };
            let addr = running.local_addr();
            println!("embedded job server listening on {addr}");
            embedded = Some(running);
            addr.to_string()
        }
    };

    let worker = functions::with_example_functions(
        Worker::new([server.clone()])
            .concurrency(4)
            .client_id("quickstart"),
    );
    let worker = match worker.spawn() {
        Ok(worker) => worker,
        Err(err) => {
            eprintln!("quickstart: cannot start the worker: {err}");
            return ExitCode::FAILURE;
        }
    };
    println!("worker started with {}", functions::NAMES.join(", "));

    let client = Client::new([server]).expect("one server is configured");
    let result = tour(&client);
    worker.shutdown();
    let _ = worker.join();
    drop(embedded);
    match result {
        Ok(true) => {
            println!("all done");
            ExitCode::SUCCESS
        }
        Ok(false) => {
            println!("something did not behave as expected");
            ExitCode::FAILURE
        }
        Err(Error::Timeout) => {
            eprintln!("quickstart: gave up after 60 s (is a worker able to reach the server?)");
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("quickstart: {err}");
            ExitCode::FAILURE
        }
    }
}
