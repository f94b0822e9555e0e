//! The example worker's functions, shared by `blocking-worker` and `blocking-quickstart`.

use std::sync::Arc;

use gearman_blocking::{WorkError, Worker, WorkerJob};

use crate::cli::{self, WorkerArgs};

/// Names of the functions [`with_example_functions`] registers.
pub const NAMES: &[&str] = &["reverse", "echo", "fail", "exception", "progress", "sleep"];

/// The example functions, registered on `worker`.
pub fn with_example_functions(worker: Worker) -> Worker {
    worker
        .function("reverse", |job: &WorkerJob| {
            Ok::<_, WorkError>(cli::reversed(job.payload()))
        })
        .function("echo", |job: &WorkerJob| {
            Ok::<_, WorkError>(job.payload().clone())
        })
        .function("fail", |_job: &WorkerJob| {
            Err::<Vec<u8>, _>(WorkError::Fail)
        })
        .function("exception", |job: &WorkerJob| {
            Err::<Vec<u8>, _>(WorkError::Exception(job.payload().clone()))
        })
        .function("progress", |job: &WorkerJob| {
            job.send_status(1, 2);
            job.send_data(&b"a"[..]);
            job.send_status(2, 2);
            job.send_data(&b"b"[..]);
            Ok::<_, WorkError>(cli::PROGRESS_RESULT)
        })
        .function("sleep", |job: &WorkerJob| {
            let pause = cli::sleep_duration(job.payload())
                .map_err(|why| WorkError::Exception(why.into()))?;
            std::thread::sleep(pause);
            Ok(job.payload().clone())
        })
}

/// The worker `args` ask for: their configuration, serving the command's
/// functions or else the example functions, over TLS when they say so.
pub fn worker_for(args: WorkerArgs) -> Result<Worker, gearman_tls::ConfigError> {
    let worker = Worker::with_config(args.config())
        .connector(crate::tls::blocking::connector(args.tls.as_ref())?)
        .on_connect_failed(crate::report::worker_connect_failed);
    let Some(command) = args.command else {
        return Ok(with_example_functions(worker));
    };
    let command = Arc::new(command);
    Ok(args.functions.into_iter().fold(worker, |worker, function| {
        let command = command.clone();
        worker.function(function, move |job: &WorkerJob| {
            command.run(job.function(), job.payload())
        })
    }))
}
