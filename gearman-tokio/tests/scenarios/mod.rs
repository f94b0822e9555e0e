//! End-to-end scenarios the conformance suite does not cover (async
//! handlers, reducers), run against our embedded server and
//! a real gearmand. Each takes the server's `host:port`.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use gearman_tokio::proto::worker::GrabMode;
use gearman_tokio::{Client, JobOutcome, JobRequest, WorkError, Worker, WorkerConfig, WorkerJob};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::support::PATIENCE;

/// A worker running in the background until dropped (or [`stop`]ped).
pub struct RunningWorker {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), gearman_tokio::Error>>,
}

impl RunningWorker {
    /// Starts `worker`.
    pub fn start(worker: Worker) -> RunningWorker {
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(worker.run_until(async {
            let _ = stopped.await;
        }));
        RunningWorker {
            stop: Some(stop),
            task,
        }
    }

    /// Asks for a graceful shutdown and waits until the worker returns.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let task = &mut self.task;
        tokio::time::timeout(PATIENCE, task)
            .await
            .expect("worker shut down in time")
            .expect("worker task did not panic")
            .expect("worker ran without error");
    }
}

impl Drop for RunningWorker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Awaits `future` with [`PATIENCE`] as a safety net.
pub async fn patiently<F: std::future::Future>(future: F) -> F::Output {
    tokio::time::timeout(PATIENCE, future)
        .await
        .expect("did not finish in time")
}

pub use conformance::name;

/// A handler that panics, inside its future or before returning one,
/// fails its job, and the worker goes on serving.
pub async fn handler_panics(server: &str) {
    let f = name("panic");
    let worker = RunningWorker::start(
        Worker::new([server])
            .function(f.clone(), |_job: WorkerJob| async move {
                if true {
                    panic!("handler panics on purpose");
                }
                Ok::<Bytes, WorkError>(Bytes::new())
            })
            .function(format!("{f}_early"), |job: WorkerJob| {
                // Panics in the handler call itself, before any future exists.
                assert!(job.payload().is_empty(), "handler panics on purpose");
                async move { Ok::<Bytes, WorkError>(Bytes::from_static(b"done")) }
            }),
    );
    let client = Client::new([server]).unwrap();
    let outcome = patiently(client.submit(JobRequest::new(f.clone(), "")))
        .await
        .unwrap();
    assert_eq!(outcome, JobOutcome::Fail);
    let outcome = patiently(client.submit(JobRequest::new(format!("{f}_early"), "x")))
        .await
        .unwrap();
    assert_eq!(outcome, JobOutcome::Fail);
    // The worker is still serving after the panics.
    let outcome = patiently(client.submit(JobRequest::new(format!("{f}_early"), "")))
        .await
        .unwrap();
    assert_eq!(outcome, JobOutcome::Complete(Bytes::from_static(b"done")));
    worker.stop().await;
}

/// Reduce submits (SUBMIT_REDUCE_JOB and its background form) reach a
/// worker of the function like any job; the reducer name travels along.
pub async fn reduce_submits(server: &str) {
    let f = name("mapper");
    let reducers = Arc::new(Mutex::new(Vec::new()));
    let seen = reducers.clone();
    // Only GRAB_JOB_ALL's assignment carries the reducer.
    let config = WorkerConfig::new([server]).with_grab(GrabMode::All);
    let worker = RunningWorker::start(Worker::with_config(config).function(
        f.clone(),
        move |job: WorkerJob| {
            seen.lock().unwrap().push(job.reducer().cloned());
            async move { Ok::<_, WorkError>(job.payload().clone()) }
        },
    ));
    let client = Client::new([server]).unwrap();
    let outcome =
        patiently(client.submit(JobRequest::new(f.clone(), "mapped").with_reducer("sum")))
            .await
            .unwrap();
    assert_eq!(outcome, JobOutcome::Complete(Bytes::from_static(b"mapped")));
    let handle =
        patiently(client.submit_background(JobRequest::new(f.clone(), "bg").with_reducer("sum")))
            .await
            .unwrap();
    patiently(async {
        while client.status(&handle).await.unwrap().known {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let reducers = reducers.lock().unwrap().clone();
    assert_eq!(reducers.len(), 2);
    assert!(
        reducers.iter().all(|r| r.as_deref() == Some(&b"sum"[..])),
        "{reducers:?}"
    );
    worker.stop().await;
}
