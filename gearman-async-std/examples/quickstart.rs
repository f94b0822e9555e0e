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

use async_io::Timer;
use bytes::Bytes;
use cli::QuickstartArgs;
use futures_util::StreamExt;
use gearman_async_std::{Client, Error, JobOutcome, JobRequest, JobUpdate, Server, Worker};

fn show(bytes: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(bytes))
}

async fn tour(client: &Client) -> Result<bool, Error> {
    let mut all_good = true;

    // 1. A foreground job: submit and wait for the result.
    let outcome = client
        .submit(JobRequest::new("reverse", "hello gearman"))
        .await?;
    println!("foreground: reverse(\"hello gearman\") -> {outcome:?}");
    all_good &= outcome == JobOutcome::Complete(Bytes::from_static(b"namraeg olleh"));

    // 2. A background job: the server keeps it; ask how it is doing.
    let handle = client
        .submit_background(JobRequest::new("sleep", "300"))
        .await?;
    println!(
        "background: sleep(\"300\") queued as {} on server {}",
        String::from_utf8_lossy(&handle.handle),
        handle.server.0
    );
    let status = client.status(&handle).await?;
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
        if !client.status(&handle).await?.known {
            println!(
                "status of {}: finished",
                String::from_utf8_lossy(&handle.handle)
            );
            break;
        }
        Timer::after(Duration::from_millis(50)).await;
    }

    // 3. Streamed data: updates arrive while the job runs.
    let mut job = client.submit(JobRequest::new("progress", ""));
    let mut seen = Vec::new();
    while let Some(update) = job.next().await {
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
    let outcome = job.await?;
    println!("streamed: progress -> {outcome:?}");
    all_good &= seen.len() == 4 && outcome == JobOutcome::Complete(Bytes::from_static(b"done"));

    // 4. Failures: WORK_FAIL and WORK_EXCEPTION.
    let outcome = client.submit(JobRequest::new("fail", "")).await?;
    println!("failure: fail -> {outcome:?}");
    all_good &= outcome == JobOutcome::Fail;
    let outcome = client
        .submit(JobRequest::new("exception", "something broke"))
        .await?;
    println!("failure: exception(\"something broke\") -> {outcome:?}");
    all_good &= outcome == JobOutcome::Exception(Bytes::from_static(b"something broke"));

    Ok(all_good)
}

fn main() -> ExitCode {
    async_std::task::block_on(run())
}

async fn run() -> ExitCode {
    let args = match QuickstartArgs::parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(err) => {
            eprintln!("quickstart: {err}\nusage: quickstart [--server HOST:PORT]");
            return ExitCode::from(cli::exit::ERROR as u8);
        }
    };
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
    let result = futures_lite::future::or(async { Ok(tour(&client).await) }, async {
        Timer::after(Duration::from_secs(60)).await;
        Err(())
    })
    .await;
    let _ = stop_worker.send(());
    let _ = worker.await;
    match result {
        Ok(Ok(true)) => {
            println!("all done");
            ExitCode::SUCCESS
        }
        Ok(Ok(false)) => {
            println!("something did not behave as expected");
            ExitCode::FAILURE
        }
        Ok(Err(err)) => {
            eprintln!("quickstart: {err}");
            ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!("quickstart: gave up after 60 s (is a worker able to reach the server?)");
            ExitCode::FAILURE
        }
    }
}
