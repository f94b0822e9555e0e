//! The example worker's functions, shared by `blocking-worker` and `blocking-quickstart`.

use gearman_blocking::{WorkError, Worker, WorkerJob};

use crate::cli;

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
