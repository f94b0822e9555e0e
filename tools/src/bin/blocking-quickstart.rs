//! `quickstart [--server HOST:PORT]`: Gearman in one process. With no
//! arguments it starts the embedded job server on a free loopback port;
//! then it starts a worker and a client and shows a foreground job, a
//! background job with its status, streamed data and a failure.
//!
//! Exit code 0 when everything behaved as shown, 1 otherwise.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;
use std::time::Duration;
use tools::blocking_functions as functions;
use tools::cli;
use tools::report;

use cli::QuickstartArgs;
use gearman_blocking::{Client, ClientError, Error, JobRequest, Server, Worker};
use report::tour::{self, Stopped};

/// The longest any one step may take before the tour gives up.
const PATIENCE: Duration = Duration::from_secs(60);

fn run_tour(client: &Client) -> Result<bool, Error> {
    let mut all_good = true;

    // 1. A foreground job: submit and wait for the result.
    let (function, payload) = tour::FOREGROUND;
    let outcome = client
        .submit(JobRequest::new(function, payload))
        .wait_timeout(PATIENCE)?;
    all_good &= tour::foreground(&outcome);

    // 2. A background job: the server keeps it; ask how it is doing.
    let (function, payload) = tour::BACKGROUND;
    let handle = client.submit_background(JobRequest::new(function, payload))?;
    tour::queued(&handle);
    all_good &= tour::status(&client.status(&handle)?);
    // Wait (a few seconds at most) until the server forgets the finished job.
    for _ in 0..100 {
        if !client.status(&handle)?.known {
            tour::finished(&handle);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }

    // 3. Streamed data: updates arrive while the job runs.
    let mut job = client.submit(JobRequest::new(tour::STREAMED, ""));
    let mut updates = 0;
    while let Some(update) = job.next_update_timeout(PATIENCE)? {
        tour::streamed(&update);
        updates += 1;
    }
    all_good &= tour::streamed_end(updates, &job.wait()?);

    // 4. Failures: WORK_FAIL and WORK_EXCEPTION.
    let outcome = client
        .submit(JobRequest::new(tour::FAILING, ""))
        .wait_timeout(PATIENCE)?;
    all_good &= tour::failed(&outcome);
    let (function, payload) = tour::EXCEPTION;
    let outcome = client
        .submit(JobRequest::new(function, payload))
        .wait_timeout(PATIENCE)?;
    all_good &= tour::exception(&outcome);

    Ok(all_good)
}

fn main() -> ExitCode {
    let args = cli::parse_or_exit("quickstart", QuickstartArgs::USAGE, QuickstartArgs::parse);
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
    let result = run_tour(&client);
    worker.shutdown();
    let _ = worker.join();
    drop(embedded);
    tour::end(result.map_err(|err| match err {
        // Only the tour's own waits have a limit.
        Error::Client(ClientError::Timeout { .. }) => Stopped::GaveUp,
        other => other.into(),
    }))
}
