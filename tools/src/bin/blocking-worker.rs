//! `worker [--server HOST:PORT]... [--concurrency N] [--id NAME]`: a worker
//! with the example functions `reverse`, `echo`, `fail`, `exception`,
//! `progress` and `sleep`. Stops on Ctrl-C after finishing running jobs.
#![allow(clippy::print_stderr)]

use std::process::ExitCode;
use tools::blocking_functions as functions;
use tools::cli;
use tools::ctrl_c;

use cli::WorkerArgs;
use functions::with_example_functions;
use gearman_blocking::Worker;

fn main() -> ExitCode {
    let args = cli::parse_or_exit("worker", WorkerArgs::USAGE, WorkerArgs::parse);
    let mut worker = Worker::new(args.servers).concurrency(args.concurrency);
    if let Some(id) = args.id {
        worker = worker.client_id(id);
    }
    let worker = with_example_functions(worker);
    let stop = worker.shutdown_handle();
    if let Err(err) = ctrl_c::on_ctrl_c(move || stop.shutdown()) {
        return cli::error_exit("worker", format_args!("cannot watch for Ctrl-C: {err}"));
    }
    cli::ended("worker", worker.run())
}
