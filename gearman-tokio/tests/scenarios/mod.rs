//! End-to-end scenarios written once and run against any job server: our
//! embedded one and a real gearmand. Each takes the server's `host:port`.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::StreamExt;
use gearman_tokio::proto::Priority;
use gearman_tokio::proto::worker::GrabMode;
use gearman_tokio::{
    Client, JobOutcome, JobRequest, JobUpdate, WorkError, Worker, WorkerConfig, WorkerJob,
};
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

/// A function name no other test uses on a shared server.
pub fn name(base: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{base}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

async fn reverse(job: WorkerJob) -> Result<Vec<u8>, WorkError> {
    Ok(job.payload().iter().rev().copied().collect())
}

/// Foreground jobs at every priority, and echo.
pub async fn foreground_every_priority(server: &str) {
    let f = name("reverse");
    let worker = RunningWorker::start(Worker::new([server]).function(f.clone(), reverse));
    let client = Client::new([server]).unwrap();
    for priority in [Priority::High, Priority::Normal, Priority::Low] {
        let outcome =
            patiently(client.submit(JobRequest::new(f.clone(), "abc").with_priority(priority)))
                .await
                .unwrap();
        assert_eq!(outcome, JobOutcome::Complete(Bytes::from_static(b"cba")));
    }
    // Many jobs in flight at once on one connection, from clones.
    let jobs: Vec<_> = (0..50)
        .map(|i| {
            let client = client.clone();
            let f = f.clone();
            tokio::spawn(async move {
                let payload = format!("job-{i}");
                let outcome = client.submit(JobRequest::new(f, payload.clone())).await;
                (payload, outcome)
            })
        })
        .collect();
    for job in jobs {
        let (payload, outcome) = patiently(job).await.unwrap();
        let expected: Vec<u8> = payload.bytes().rev().collect();
        assert_eq!(outcome.unwrap(), JobOutcome::Complete(expected.into()));
    }
    let echoed = patiently(client.echo("ping")).await.unwrap();
    assert_eq!(&echoed[..], b"ping");
    worker.stop().await;
}

/// Background submits at every priority and as an epoch job, their status
/// while queued, and that a worker then runs them.
pub async fn background_and_status(server: &str) {
    let f = name("bg");
    let client = Client::new([server]).unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let requests = [
        JobRequest::new(f.clone(), "high").with_priority(Priority::High),
        JobRequest::new(f.clone(), "normal"),
        JobRequest::new(f.clone(), "low").with_priority(Priority::Low),
        JobRequest::new(f.clone(), "epoch").at_epoch(now.saturating_sub(1)),
    ];
    let mut handles = Vec::new();
    for request in requests {
        let handle = patiently(client.submit_background(request)).await.unwrap();
        let status = patiently(client.status(&handle)).await.unwrap();
        assert!(status.known, "queued job is known: {status:?}");
        assert!(!status.running, "no worker yet: {status:?}");
        handles.push(handle);
    }
    let ran = Arc::new(AtomicUsize::new(0));
    let counter = ran.clone();
    let worker = RunningWorker::start(Worker::new([server]).function(
        f.clone(),
        move |_job: WorkerJob| {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                Ok::<_, WorkError>("")
            }
        },
    ));
    patiently(async {
        for handle in &handles {
            while client.status(handle).await.unwrap().known {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    })
    .await;
    assert_eq!(ran.load(Ordering::SeqCst), handles.len());
    worker.stop().await;
}

/// Data, warnings and status reach the client in order, then the end;
/// WORK_FAIL and WORK_EXCEPTION end jobs as such; a panicking handler
/// fails its job and the worker goes on.
pub async fn updates_fail_exception_panic(server: &str) {
    let f = name("progress");
    let worker = RunningWorker::start(
        Worker::new([server])
            .function(f.clone(), |job: WorkerJob| async move {
                job.send_status(1, 2);
                job.send_data(&b"a"[..]);
                job.send_warning(&b"careful"[..]);
                job.send_status(2, 2);
                job.send_data(&b"b"[..]);
                Ok::<_, WorkError>("done")
            })
            .function(format!("{f}_fail"), |_job: WorkerJob| async move {
                Err::<Bytes, _>(WorkError::Fail)
            })
            .function(format!("{f}_exception"), |job: WorkerJob| async move {
                Err::<Bytes, _>(WorkError::Exception(job.payload().clone()))
            })
            .function(format!("{f}_panic"), |_job: WorkerJob| async move {
                if true {
                    panic!("handler panics on purpose");
                }
                Ok::<Bytes, WorkError>(Bytes::new())
            })
            .function(format!("{f}_panic_early"), |job: WorkerJob| {
                // Panics in the handler call itself, before any future exists.
                assert!(job.payload().is_empty(), "handler panics on purpose");
                async move { Ok::<Bytes, WorkError>(Bytes::new()) }
            }),
    );
    let client = Client::new([server]).unwrap();

    let mut job = client.submit(JobRequest::new(f.clone(), ""));
    let updates: Vec<JobUpdate> = patiently(job.by_ref().collect()).await;
    assert_eq!(
        updates,
        vec![
            JobUpdate::Status {
                numerator: 1,
                denominator: 2
            },
            JobUpdate::Data(Bytes::from_static(b"a")),
            JobUpdate::Warning(Bytes::from_static(b"careful")),
            JobUpdate::Status {
                numerator: 2,
                denominator: 2
            },
            JobUpdate::Data(Bytes::from_static(b"b")),
        ]
    );
    assert!(job.handle().is_some(), "the handle is known once created");
    assert_eq!(
        patiently(&mut job).await.unwrap(),
        JobOutcome::Complete(Bytes::from_static(b"done"))
    );

    let outcome = patiently(client.submit(JobRequest::new(format!("{f}_fail"), "")))
        .await
        .unwrap();
    assert_eq!(outcome, JobOutcome::Fail);
    let outcome = patiently(client.submit(JobRequest::new(format!("{f}_exception"), "oops")))
        .await
        .unwrap();
    assert_eq!(outcome, JobOutcome::Exception(Bytes::from_static(b"oops")));
    let outcome = patiently(client.submit(JobRequest::new(format!("{f}_panic"), "")))
        .await
        .unwrap();
    assert_eq!(outcome, JobOutcome::Fail);
    let outcome = patiently(client.submit(JobRequest::new(format!("{f}_panic_early"), "x")))
        .await
        .unwrap();
    assert_eq!(outcome, JobOutcome::Fail);
    // The worker is still serving after the panic.
    let outcome = patiently(client.submit(JobRequest::new(f.clone(), "")))
        .await
        .unwrap();
    assert_eq!(outcome, JobOutcome::Complete(Bytes::from_static(b"done")));
    worker.stop().await;
}

/// Two submits with the same function and unique become one job: the
/// handler runs once and both clients get its result. GET_STATUS_UNIQUE
/// sees the job while it is queued.
pub async fn unique_coalescing(server: &str) {
    let f = name("coalesce");
    let unique = name("u");
    let client = Client::new([server]).unwrap();
    let first = client.submit(JobRequest::new(f.clone(), "1").with_unique(unique.clone()));
    let second = client.submit(JobRequest::new(f.clone(), "2").with_unique(unique.clone()));
    let (first, second) = (tokio::spawn(first), tokio::spawn(second));
    patiently(async {
        loop {
            let status = client.status_unique(unique.clone()).await.unwrap();
            if status.known && status.waiting_clients >= 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = runs.clone();
    let worker = RunningWorker::start(Worker::new([server]).function(
        f.clone(),
        move |job: WorkerJob| {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                Ok::<_, WorkError>(job.payload().clone())
            }
        },
    ));
    let first = patiently(first).await.unwrap().unwrap();
    let second = patiently(second).await.unwrap().unwrap();
    assert_eq!(first, JobOutcome::Complete(Bytes::from_static(b"1")));
    assert_eq!(second, first, "both clients get the one job's result");
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    worker.stop().await;
}

/// Queued jobs are taken high before normal before low.
pub async fn priorities_order(server: &str) {
    let f = name("prio");
    let client = Client::new([server]).unwrap();
    for (payload, priority) in [
        ("low", Priority::Low),
        ("normal", Priority::Normal),
        ("high", Priority::High),
    ] {
        patiently(
            client.submit_background(
                JobRequest::new(f.clone(), payload)
                    .with_priority(priority)
                    .with_unique(name("p")),
            ),
        )
        .await
        .unwrap();
    }
    let order = Arc::new(Mutex::new(Vec::new()));
    let seen = order.clone();
    let worker = RunningWorker::start(Worker::new([server]).concurrency(1).function(
        f.clone(),
        move |job: WorkerJob| {
            let seen = seen.clone();
            async move {
                seen.lock().unwrap().push(job.payload().clone());
                Ok::<_, WorkError>("")
            }
        },
    ));
    patiently(async {
        while order.lock().unwrap().len() < 3 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert_eq!(*order.lock().unwrap(), vec!["high", "normal", "low"]);
    worker.stop().await;
}

/// A worker never runs more jobs at once than its concurrency, and a
/// graceful shutdown lets running jobs finish.
pub async fn concurrency_and_graceful_shutdown(server: &str) {
    let f = name("slow");
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (now_running, peak_seen) = (running.clone(), peak.clone());
    let worker = RunningWorker::start(Worker::new([server]).concurrency(2).function(
        f.clone(),
        move |job: WorkerJob| {
            let (running, peak) = (now_running.clone(), peak_seen.clone());
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                // Hold the slot until two jobs overlap (a worker that runs one
                // at a time gets there only by the safety net), so the peak
                // does not depend on timing.
                let start = std::time::Instant::now();
                while peak.load(Ordering::SeqCst) < 2 && start.elapsed() < Duration::from_secs(5) {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
                running.fetch_sub(1, Ordering::SeqCst);
                Ok::<_, WorkError>(job.payload().clone())
            }
        },
    ));
    let client = Client::new([server]).unwrap();
    let jobs: Vec<_> = (0..6)
        .map(|i| tokio::spawn(client.submit(JobRequest::new(f.clone(), format!("{i}")))))
        .collect();
    for job in jobs {
        assert!(matches!(
            patiently(job).await.unwrap().unwrap(),
            JobOutcome::Complete(_)
        ));
    }
    assert_eq!(peak.load(Ordering::SeqCst), 2, "two at once, never more");

    // Shut down while a job runs: it still completes.
    let job = tokio::spawn(client.submit(JobRequest::new(f.clone(), "last")));
    patiently(async {
        while running.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    worker.stop().await;
    assert_eq!(
        patiently(job).await.unwrap().unwrap(),
        JobOutcome::Complete(Bytes::from_static(b"last"))
    );
}

/// A per-job deadline ends a job nobody runs with a timeout error.
pub async fn job_deadline(server: &str) {
    let f = name("nobody");
    let client = Client::new([server]).unwrap();
    let err =
        patiently(client.submit(JobRequest::new(f, "x").with_deadline(Duration::from_millis(200))))
            .await
            .unwrap_err();
    match err {
        gearman_tokio::Error::Client(e) => {
            assert!(e.to_string().contains("timed out"), "{e}");
            assert!(e.acknowledged(), "the server had created the job");
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
}

/// A function registered with CAN_DO_TIMEOUT: a job that overruns it is
/// taken back by the server and given to another worker, whose result
/// reaches the client. (The server's timer covers only the job a
/// connection grabbed last, and stops when the connection sleeps, so the
/// overrunning worker runs one job at a time.)
pub async fn can_do_timeout_requeues(server: &str) {
    let f = name("cdt");
    let runs = Arc::new(AtomicUsize::new(0));
    let start_worker = || {
        let counter = runs.clone();
        RunningWorker::start(Worker::new([server]).function_with_timeout(
            f.clone(),
            Duration::from_secs(1),
            move |_job: WorkerJob| {
                let run = counter.fetch_add(1, Ordering::SeqCst);
                async move {
                    if run == 0 {
                        // The first run overruns its timeout.
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                    }
                    Ok::<_, WorkError>("second run")
                }
            },
        ))
    };
    let first = start_worker();
    let client = Client::new([server]).unwrap();
    let job = tokio::spawn(client.submit(JobRequest::new(f.clone(), "x")));
    patiently(async {
        while runs.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let second = start_worker();
    let outcome = patiently(job).await.unwrap().unwrap();
    assert_eq!(
        outcome,
        JobOutcome::Complete(Bytes::from_static(b"second run"))
    );
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    drop((first, second));
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
