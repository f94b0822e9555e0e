//! `worker [OPTIONS]`: a worker with the example functions `reverse`,
//! `echo`, `fail`, `exception`, `progress` and `sleep`; `worker [OPTIONS]
//! -f NAME... [--] COMMAND [ARGS...]` serves the functions named by running
//! the command for each job (see `--help`). Stops on Ctrl-C after finishing
//! running jobs.
//!
//! Runs on async-std; `smol::block_on` in place of
//! `async_std::task::block_on` is the only change needed to run on smol.
//!
//! `--tls --ca FILE` (and `--cert FILE --key FILE` for mutual TLS) speak
//! TLS to the servers; see `--help`.
#![allow(clippy::print_stderr)]

use std::process::ExitCode;
use tools::async_std_functions as functions;
use tools::cli;

use cli::WorkerArgs;

fn main() -> ExitCode {
    let args = cli::parse_or_exit("worker", WorkerArgs::USAGE, WorkerArgs::parse);
    let worker = match functions::worker_for(args) {
        Ok(worker) => worker,
        Err(err) => return tools::tls::failure("worker", &err),
    };
    cli::ended("worker", async_std::task::block_on(worker.run()))
}
