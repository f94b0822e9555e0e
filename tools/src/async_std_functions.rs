//! The example worker's functions, shared by `async-std-worker` and `async-std-quickstart`.

use async_io::Timer;
use std::sync::Arc;

use gearman_async_std::{WorkError, Worker, WorkerJob};

use crate::cli::{self, WorkerArgs};

/// Names of the functions [`with_example_functions`] registers.
pub const NAMES: &[&str] = &["reverse", "echo", "fail", "exception", "progress", "sleep"];

/// The example functions, registered on `worker`.
pub fn with_example_functions(worker: Worker) -> Worker {
    worker
        .function("reverse", |job: WorkerJob| async move {
            Ok::<_, WorkError>(cli::reversed(job.payload()))
        })
        .function("echo", |job: WorkerJob| async move {
            Ok::<_, WorkError>(job.payload().clone())
        })
        .function("fail", |_job: WorkerJob| async move {
            Err::<Vec<u8>, _>(WorkError::Fail)
        })
        .function("exception", |job: WorkerJob| async move {
            Err::<Vec<u8>, _>(WorkError::Exception(job.payload().clone()))
        })
        .function("progress", |job: WorkerJob| async move {
            job.send_status(1, 2);
            job.send_data(&b"a"[..]);
            job.send_status(2, 2);
            job.send_data(&b"b"[..]);
            Ok::<_, WorkError>(cli::PROGRESS_RESULT)
        })
        .function("sleep", |job: WorkerJob| async move {
            let pause = cli::sleep_duration(job.payload())
                .map_err(|why| WorkError::Exception(why.into()))?;
            // async-io's timer: the worker goes on with other jobs meanwhile.
            Timer::after(pause).await;
            Ok(job.payload().clone())
        })
}

/// The worker `args` ask for: their configuration, serving the command's
/// functions or else the example functions, over TLS when they say so.
pub fn worker_for(args: WorkerArgs) -> Result<Worker, gearman_tls::ConfigError> {
    let worker = Worker::with_config(args.config())
        .connector(crate::tls::async_std::connector(args.tls.as_ref())?)
        .on_connect_failed(crate::report::worker_connect_failed);
    let Some(command) = args.command else {
        return Ok(with_example_functions(worker));
    };
    let command = Arc::new(command);
    Ok(args.functions.into_iter().fold(worker, |worker, function| {
        let command = command.clone();
        worker.function(function, move |job: WorkerJob| {
            let command = command.clone();
            let (function, payload) = (job.function().clone(), job.payload().clone());
            // The command's wait must not hold up the executor's threads.
            async_std::task::spawn_blocking(move || command.run(&function, &payload))
        })
    }))
}
