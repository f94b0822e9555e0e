//! `worker [--server HOST:PORT]... [--concurrency N] [--id NAME]`: a worker
//! with the example functions `reverse`, `echo`, `fail`, `exception`,
//! `progress` and `sleep`. Stops on Ctrl-C after finishing running jobs.
//!
//! Runs on async-std; `smol::block_on` in place of
//! `async_std::task::block_on` is the only change needed to run on smol.
#![allow(clippy::print_stderr)]

use std::process::ExitCode;
use tools::async_std_functions as functions;
use tools::cli;

use cli::WorkerArgs;
use functions::with_example_functions;
use gearman_async_std::Worker;

fn main() -> ExitCode {
    let args = cli::parse_or_exit("worker", WorkerArgs::USAGE, WorkerArgs::parse);
    let mut worker = Worker::new(args.servers).concurrency(args.concurrency);
    if let Some(id) = args.id {
        worker = worker.client_id(id);
    }
    let worker = with_example_functions(worker);
    cli::ended("worker", async_std::task::block_on(worker.run()))
}
