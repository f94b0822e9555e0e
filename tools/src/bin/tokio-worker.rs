//! `worker [--server HOST:PORT]... [--concurrency N] [--id NAME]`: a worker
//! with the example functions `reverse`, `echo`, `fail`, `exception`,
//! `progress` and `sleep`. Stops on Ctrl-C after finishing running jobs.
#![allow(clippy::print_stderr)]

use std::process::ExitCode;
use tools::cli;
use tools::tokio_functions as functions;

use cli::WorkerArgs;
use functions::with_example_functions;
use gearman_tokio::Worker;

#[tokio::main]
async fn main() -> ExitCode {
    let args = cli::parse_or_exit("worker", WorkerArgs::USAGE, WorkerArgs::parse);
    let mut worker = Worker::new(args.servers).concurrency(args.concurrency);
    if let Some(id) = args.id {
        worker = worker.client_id(id);
    }
    let worker = with_example_functions(worker);
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    cli::ended("worker", worker.run_until(ctrl_c).await)
}
