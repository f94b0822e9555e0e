//! `quickstart [--server HOST:PORT]`: Gearman in one process. With no
//! arguments it starts the embedded job server on a free loopback port;
//! then it starts a worker and a client and shows a foreground job, a
//! background job with its status, streamed data and a failure.
//!
//! Exit code 0 when everything behaved as shown, 1 otherwise.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;
use std::time::Duration;
use tools::async_std_functions as functions;
use tools::cli;
use tools::report;

use async_io::Timer;
use cli::QuickstartArgs;
use futures_util::StreamExt;
use gearman_async_std::{Client, Error, JobRequest, Server, Worker};
use report::tour::{self, Stopped};

/// The longest the whole tour may take before it gives up.
const PATIENCE: Duration = Duration::from_secs(60);

async fn run_tour(client: &Client) -> Result<bool, Error> {
    let mut all_good = true;

    // 1. A foreground job: submit and wait for the result.
    let (function, payload) = tour::FOREGROUND;
    let outcome = client.submit(JobRequest::new(function, payload)).await?;
    all_good &= tour::foreground(&outcome);

    // 2. A background job: the server keeps it; ask how it is doing.
    let (function, payload) = tour::BACKGROUND;
    let handle = client
        .submit_background(JobRequest::new(function, payload))
        .await?;
    tour::queued(&handle);
    all_good &= tour::status(&client.status(&handle).await?);
    // Wait (a few seconds at most) until the server forgets the finished job.
    for _ in 0..100 {
        if !client.status(&handle).await?.known {
            tour::finished(&handle);
            break;
        }
        Timer::after(Duration::from_millis(50)).await;
    }

    // 3. Streamed data: updates arrive while the job runs.
    let mut job = client.submit(JobRequest::new(tour::STREAMED, ""));
    let mut updates = 0;
    while let Some(update) = job.next().await {
        tour::streamed(&update);
        updates += 1;
    }
    all_good &= tour::streamed_end(updates, &job.await?);

    // 4. Failures: WORK_FAIL and WORK_EXCEPTION.
    let outcome = client.submit(JobRequest::new(tour::FAILING, "")).await?;
    all_good &= tour::failed(&outcome);
    let (function, payload) = tour::EXCEPTION;
    let outcome = client.submit(JobRequest::new(function, payload)).await?;
    all_good &= tour::exception(&outcome);

    Ok(all_good)
}

fn main() -> ExitCode {
    async_std::task::block_on(run())
}

async fn run() -> ExitCode {
    let args = cli::parse_or_exit("quickstart", QuickstartArgs::USAGE, QuickstartArgs::parse);
    let server = match args.server {
        Some(server) => {
            println!("using the job server at {server}");
            server
        }
        None => {
            let server = match Server::bind("127.0.0.1:0").await {
                Ok(server) => server,
                Err(err) => {
                    eprintln!("quickstart: cannot start the embedded server: {err}");
                    return ExitCode::FAILURE;
                }
            };
            let addr = server
                .local_addr()
                .expect("a bound listener has an address");
            println!("embedded job server listening on {addr}");
            // Ends with the process.
            async_std::task::spawn(server.serve());
            addr.to_string()
        }
    };

    let (stop_worker, worker_stopped) = futures_channel::oneshot::channel::<()>();
    let worker = functions::with_example_functions(
        Worker::new([server.clone()])
            .concurrency(4)
            .client_id("quickstart"),
    );
    let worker = async_std::task::spawn(worker.run_until(async {
        let _ = worker_stopped.await;
    }));
    println!("worker started with {}", functions::NAMES.join(", "));

    let (client, driver) = Client::new([server]).expect("one server is configured");
    async_std::task::spawn(driver);
    let tour = async { run_tour(&client).await.map_err(Stopped::from) };
    let result = futures_lite::future::or(tour, async {
        Timer::after(PATIENCE).await;
        Err(Stopped::GaveUp)
    })
    .await;
    let _ = stop_worker.send(());
    let _ = worker.await;
    tour::end(result)
}
