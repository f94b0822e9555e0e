//! `loadgen`: end-to-end throughput of our client and worker through a job
//! server.
//!
//! ```text
//! loadgen [--server HOST:PORT] [--adapter tokio|async-std|blocking] [--jobs N]
//!         [--concurrency C] [--payload BYTES] [--background] [--function NAME]
//!         [--worker-concurrency N] [--workers N] [--connections N] [--threads N]
//!         [--memory] [--time-limit SECONDS] [--tls]
//! ```
//!
//! Submits N echo jobs keeping C in flight, checks every result, shows a
//! progress bar on standard error and prints one summary line with
//! `<rate> jobs/s` and latency p50/p99/max. With no `--server` it starts the
//! embedded job server in-process; unless `--worker-concurrency 0`, it also
//! runs our worker for the function in-process. `--memory` instead keeps C
//! jobs in flight that no worker takes and prints the client's resident
//! memory per job in flight. `--tls` runs the load over TLS through the
//! embedded server (gearmand here is built without TLS), with certificates
//! made for the run.
//!
//! `loadgen --adapters` lists the adapters this build can drive;
//! `loadgen --help` prints the usage.
//!
//! Exit code 0 when every job ended with its echo, 1 otherwise, 2 on a
//! usage error.
#![allow(clippy::print_stdout, clippy::print_stderr)]

#[path = "../loadgen/args.rs"]
mod args;
#[path = "../loadgen/async_std_run.rs"]
mod async_std_run;
#[path = "../loadgen/blocking_run.rs"]
mod blocking_run;
#[path = "../loadgen/cpu.rs"]
mod cpu;
#[path = "../loadgen/drive.rs"]
mod drive;
#[path = "../loadgen/memory.rs"]
mod memory;
#[path = "../loadgen/payload.rs"]
mod payload;
#[path = "../loadgen/progress.rs"]
mod progress;
#[path = "../loadgen/stats.rs"]
mod stats;
#[path = "../loadgen/tls.rs"]
mod tls;
#[path = "../loadgen/tokio_run.rs"]
mod tokio_run;

use std::process::ExitCode;

use args::{Adapter, Args, USAGE};

/// Adapters this build can drive.
const AVAILABLE: &[Adapter] = &[Adapter::Tokio, Adapter::AsyncStd, Adapter::Blocking];

fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some("--adapters") {
        let names: Vec<&str> = AVAILABLE.iter().map(|adapter| adapter.name()).collect();
        println!("{}", names.join(" "));
        return ExitCode::SUCCESS;
    }
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(args::UsageError::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(err) => {
            eprintln!("loadgen: {err}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if args.memory && args.server.is_none() {
        eprintln!("loadgen: --memory needs --server (the embedded server would be counted too)");
        return ExitCode::from(2);
    }
    let finished = match args.adapter {
        Adapter::Tokio => tokio_run::run(&args),
        Adapter::AsyncStd => async_std_run::run(&args),
        Adapter::Blocking => blocking_run::run(&args),
    };
    match finished {
        Ok(finished) => {
            println!("{}", finished.line);
            if finished.all_correct {
                ExitCode::SUCCESS
            } else {
                eprintln!("loadgen: some jobs did not end with their echo");
                ExitCode::FAILURE
            }
        }
        Err(err) => {
            eprintln!("loadgen: {err}");
            ExitCode::FAILURE
        }
    }
}
