//! `worker [OPTIONS]`: a worker with the example functions `reverse`,
//! `echo`, `fail`, `exception`, `progress` and `sleep`; `worker [OPTIONS]
//! -f NAME... [--] COMMAND [ARGS...]` serves the functions named by running
//! the command for each job (see `--help`). Stops on Ctrl-C after finishing
//! running jobs.
//!
//! `--tls --ca FILE` (and `--cert FILE --key FILE` for mutual TLS) speak
//! TLS to the servers; see `--help`.
#![allow(clippy::print_stderr)]

use std::process::ExitCode;
use tools::cli;
use tools::tokio_functions as functions;

use cli::WorkerArgs;

#[tokio::main]
async fn main() -> ExitCode {
    let args = cli::parse_or_exit("worker", WorkerArgs::USAGE, WorkerArgs::parse);
    let worker = match functions::worker_for(args) {
        Ok(worker) => worker,
        Err(err) => return tools::tls::failure("worker", &err),
    };
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    cli::ended("worker", worker.run_until(ctrl_c).await)
}
