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
use tools::blocking_functions as functions;
use tools::cli;
use tools::ctrl_c;

use cli::WorkerArgs;

fn main() -> ExitCode {
    let args = cli::parse_or_exit("worker", WorkerArgs::USAGE, WorkerArgs::parse);
    let worker = match functions::worker_for(args) {
        Ok(worker) => worker,
        Err(err) => return tools::tls::failure("worker", &err),
    };
    let stop = worker.shutdown_handle();
    if let Err(err) = ctrl_c::on_ctrl_c(move || stop.shutdown()) {
        return cli::error_exit("worker", format_args!("cannot watch for Ctrl-C: {err}"));
    }
    cli::ended("worker", worker.run())
}
