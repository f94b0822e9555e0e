//! End-to-end scenarios written once and run under each runtime against a
//! job server given by its `host:port`.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::StreamExt;
use gearman_async_std::proto::Priority;
use gearman_async_std::proto::worker::{GrabMode, WorkerConfig};
use gearman_async_std::{Error, JobOutcome, JobRequest, JobUpdate, WorkError, Worker, WorkerJob};

use crate::support::{RunningWorker, Runtime, name, patiently, sleep};

async fn reverse(job: WorkerJob) -> Result<Vec<u8>, WorkError> {
    Ok(job.payload().iter().rev().copied().collect())
}

/// Foreground jobs at every priority, many in flight from clones, and echo.
pub async fn foreground_every_priority(rt: Runtime, server: &str) {
    let f = name("reverse");
    let worker = RunningWorker::start(rt, Worker::new([server]).function(f.clone(), reverse));
    let client = rt.client([server]);
    for priority in [Priority::High, Priority::Normal, Priority::Low] {
        let outcome =
            patiently(client.submit(JobRequest::new(f.clone(), "abc").with_priority(priority)))
                .await
                .unwrap();
        assert_eq!(outcome, JobOutcome::Complete(Bytes::from_static(b"cba")));
    }
    let jobs: Vec<_> = (0..50)
        .map(|i| {
            let client = client.clone();
            let f = f.clone();
            rt.spawn_with_result(async move {
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
pub async fn background_and_status(rt: Runtime, server: &str) {
    let f = name("bg");
    let client = rt.client([server]);
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
    let worker = RunningWorker::start(
        rt,
        Worker::new([server]).function(f.clone(), move |_job: WorkerJob| {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                Ok::<_, WorkError>("")
            }
        }),
    );
    patiently(async {
        for handle in &handles {
            while client.status(handle).await.unwrap().known {
                sleep(Duration::from_millis(10)).await;
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
pub async fn updates_fail_exception_panic(rt: Runtime, server: &str) {
    let f = name("progress");
    let worker = RunningWorker::start(
        rt,
        Worker::new([server])
            .function(f.clone(), |job: WorkerJob| async move {
                job.send_status(1, 2);
                job.send_data(&b"a"[..]);
                job.send_warning(&b"careful"[..]);
                // A wait between updates: they still arrive in order.
                sleep(Duration::from_millis(5)).await;
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
            .function(format!("{f}_panic_early"), |_job: WorkerJob| {
                if true {
                    panic!("handler panics before making its future");
                }
                std::future::ready(Ok::<Bytes, WorkError>(Bytes::new()))
            }),
    );
    let client = rt.client([server]);

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
    let outcome = patiently(client.submit(JobRequest::new(format!("{f}_panic_early"), "")))
        .await
        .unwrap();
    assert_eq!(outcome, JobOutcome::Fail);
    // The worker is still serving after the panics.
    let outcome = patiently(client.submit(JobRequest::new(f.clone(), "")))
        .await
        .unwrap();
    assert_eq!(outcome, JobOutcome::Complete(Bytes::from_static(b"done")));
    worker.stop().await;
}

/// Two submits with the same function and unique become one job: the
/// handler runs once and both get its result. GET_STATUS_UNIQUE sees the
/// job and its two waiting clients while it is queued.
pub async fn unique_coalescing(rt: Runtime, server: &str) {
    let f = name("coalesce");
    let unique = name("u");
    let client = rt.client([server]);
    let first = rt.spawn_with_result(
        client.submit(JobRequest::new(f.clone(), "1").with_unique(unique.clone())),
    );
    let second = rt.spawn_with_result(
        client.submit(JobRequest::new(f.clone(), "2").with_unique(unique.clone())),
    );
    patiently(async {
        loop {
            let status = client.status_unique(unique.clone()).await.unwrap();
            if status.known && status.waiting_clients >= 2 {
                break;
            }
            sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = runs.clone();
    let worker = RunningWorker::start(
        rt,
        Worker::new([server]).function(f.clone(), move |job: WorkerJob| {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                Ok::<_, WorkError>(job.payload().clone())
            }
        }),
    );
    let first = patiently(first).await.unwrap().unwrap();
    let second = patiently(second).await.unwrap().unwrap();
    assert_eq!(first, JobOutcome::Complete(Bytes::from_static(b"1")));
    assert_eq!(second, first, "both submits get the one job's result");
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    worker.stop().await;
}

/// Queued jobs are taken high before normal before low.
pub async fn priorities_order(rt: Runtime, server: &str) {
    let f = name("prio");
    let client = rt.client([server]);
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
    let worker = RunningWorker::start(
        rt,
        Worker::new([server])
            .concurrency(1)
            .function(f.clone(), move |job: WorkerJob| {
                let seen = seen.clone();
                async move {
                    seen.lock().unwrap().push(job.payload().clone());
                    Ok::<_, WorkError>("")
                }
            }),
    );
    patiently(async {
        while order.lock().unwrap().len() < 3 {
            sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert_eq!(*order.lock().unwrap(), vec!["high", "normal", "low"]);
    worker.stop().await;
}

/// A worker never runs more jobs at once than its concurrency (and does
/// run that many at once, inside its one future), and a graceful shutdown
/// lets running jobs finish.
pub async fn concurrency_and_graceful_shutdown(rt: Runtime, server: &str) {
    let f = name("slow");
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (now_running, peak_seen) = (running.clone(), peak.clone());
    let worker = RunningWorker::start(
        rt,
        Worker::new([server])
            .concurrency(2)
            .function(f.clone(), move |job: WorkerJob| {
                let (running, peak) = (now_running.clone(), peak_seen.clone());
                async move {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    sleep(Duration::from_millis(50)).await;
                    running.fetch_sub(1, Ordering::SeqCst);
                    Ok::<_, WorkError>(job.payload().clone())
                }
            }),
    );
    let client = rt.client([server]);
    let jobs: Vec<_> = (0..6)
        .map(|i| rt.spawn_with_result(client.submit(JobRequest::new(f.clone(), format!("{i}")))))
        .collect();
    for job in jobs {
        assert!(matches!(
            patiently(job).await.unwrap().unwrap(),
            JobOutcome::Complete(_)
        ));
    }
    assert_eq!(peak.load(Ordering::SeqCst), 2, "two at once, never more");

    // Shut down while a job runs: it still completes.
    let job = rt.spawn_with_result(client.submit(JobRequest::new(f.clone(), "last")));
    patiently(async {
        while running.load(Ordering::SeqCst) == 0 {
            sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    worker.stop().await;
    assert_eq!(
        patiently(job).await.unwrap().unwrap(),
        JobOutcome::Complete(Bytes::from_static(b"last"))
    );
}

/// A per-job deadline ends a job nobody runs with a timeout error that says
/// the server had accepted the job.
pub async fn job_deadline(rt: Runtime, server: &str) {
    let f = name("nobody");
    let client = rt.client([server]);
    let err =
        patiently(client.submit(JobRequest::new(f, "x").with_deadline(Duration::from_millis(200))))
            .await
            .unwrap_err();
    match err {
        Error::Client(e) => {
            assert!(e.to_string().contains("timed out"), "{e}");
            assert!(e.acknowledged(), "the server had created the job");
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
}

/// Dropping a job handle frees it; the client and its driver go on, and
/// the driver ends once every client and job is gone.
pub async fn dropped_jobs_and_driver_end(rt: Runtime, server: &str) {
    let f = name("dropped");
    let (client, driver) = gearman_async_std::Client::new([server]).unwrap();
    let driver_done = rt.spawn_with_result(driver);
    let job = client.submit(JobRequest::new(f.clone(), "x"));
    drop(job);
    let echoed = patiently(client.echo("still here")).await.unwrap();
    assert_eq!(&echoed[..], b"still here");
    let pending = client.submit(JobRequest::new(f, "y"));
    drop(client);
    drop(pending);
    patiently(driver_done)
        .await
        .expect("the driver ends once every handle is dropped");
}

/// With no server up, a submit ends with an error rather than hanging,
/// and status and echo do too.
pub async fn no_server(rt: Runtime, _server: &str) {
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().to_string()
    };
    let client = rt.client([dead]);
    let err = patiently(client.submit(JobRequest::new("f", "x")))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Client(_)), "{err:?}");
    assert!(!matches!(err, Error::Client(ref e) if e.acknowledged()));
    let err = patiently(client.echo("x")).await.unwrap_err();
    assert!(matches!(err, Error::Client(_)), "{err:?}");
}

/// An invalid request (NUL in the function name) fails alone, at once.
pub async fn invalid_request(rt: Runtime, server: &str) {
    let client = rt.client([server]);
    let err = patiently(client.submit(JobRequest::new("bad\0name", "x")))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidRequest(_)), "{err:?}");
    let echoed = patiently(client.echo("fine")).await.unwrap();
    assert_eq!(&echoed[..], b"fine");
}

/// A function registered with CAN_DO_TIMEOUT: a job that overruns it is
/// taken back by the server (the worker stops its handler) and given to
/// another worker, whose result reaches the client.
pub async fn can_do_timeout_requeues(rt: Runtime, server: &str) {
    let f = name("cdt");
    let runs = Arc::new(AtomicUsize::new(0));
    let start_worker = || {
        let counter = runs.clone();
        RunningWorker::start(
            rt,
            Worker::new([server]).function_with_timeout(
                f.clone(),
                Duration::from_secs(1),
                move |_job: WorkerJob| {
                    let run = counter.fetch_add(1, Ordering::SeqCst);
                    async move {
                        if run == 0 {
                            // The first run overruns its timeout (the
                            // server does not tell the worker).
                            sleep(Duration::from_millis(2500)).await;
                        }
                        Ok::<_, WorkError>("second run")
                    }
                },
            ),
        )
    };
    let first = start_worker();
    let client = rt.client([server]);
    let job = rt.spawn_with_result(client.submit(JobRequest::new(f.clone(), "x")));
    patiently(async {
        while runs.load(Ordering::SeqCst) == 0 {
            sleep(Duration::from_millis(10)).await;
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
    // The first worker finishes its overrun job (the late result goes
    // nowhere) and shuts down cleanly.
    first.stop().await;
    second.stop().await;
}

/// Reduce submits (SUBMIT_REDUCE_JOB and its background form) reach a
/// worker of the function like any job; the reducer name travels along.
pub async fn reduce_submits(rt: Runtime, server: &str) {
    let f = name("mapper");
    let reducers = Arc::new(Mutex::new(Vec::new()));
    let seen = reducers.clone();
    let worker = RunningWorker::start(
        rt,
        // JOB_ASSIGN_ALL is the assignment that carries the reducer.
        Worker::with_config(WorkerConfig::new([server]).with_grab(GrabMode::All)).function(
            f.clone(),
            move |job: WorkerJob| {
                seen.lock().unwrap().push(job.reducer().cloned());
                async move { Ok::<_, WorkError>(job.payload().clone()) }
            },
        ),
    );
    let client = rt.client([server]);
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
            sleep(Duration::from_millis(10)).await;
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

/// The admin commands the conformance suite does not cover, and arguments
/// that cannot be sent.
pub async fn admin_extras(rt: Runtime, server: &str) {
    let f = name("adm");
    let unique = name("u");
    let client = rt.client([server]);
    patiently(
        client.submit_background(JobRequest::new(f.clone(), "x").with_unique(unique.clone())),
    )
    .await
    .unwrap();
    let mut admin = patiently(gearman_async_std::Admin::connect(server))
        .await
        .unwrap();
    let uniques = patiently(admin.show_unique_jobs()).await.unwrap();
    assert!(
        uniques.iter().any(|u| &u[..] == unique.as_bytes()),
        "{uniques:?}"
    );
    let rows = patiently(admin.priority_status()).await.unwrap();
    let row = rows
        .iter()
        .find(|row| &row.function[..] == f.as_bytes())
        .unwrap_or_else(|| panic!("{f} in {rows:?}"));
    assert_eq!((row.high, row.normal, row.low), (0, 1, 0), "{row:?}");
    assert!(!patiently(admin.verbose()).await.unwrap().is_empty());

    let created = name("created");
    patiently(admin.create_function(created.clone()))
        .await
        .unwrap();
    let listed = patiently(admin.status()).await.unwrap();
    assert!(
        listed
            .iter()
            .any(|row| &row.function[..] == created.as_bytes())
    );
    patiently(admin.drop_function(created.clone()))
        .await
        .unwrap();
    let listed = patiently(admin.status()).await.unwrap();
    assert!(
        !listed
            .iter()
            .any(|row| &row.function[..] == created.as_bytes())
    );

    // Never sent: the connection stays usable.
    let err = patiently(admin.cancel_job("two words")).await.unwrap_err();
    assert!(matches!(err, Error::InvalidRequest(_)), "{err:?}");
    let err = patiently(admin.raw("status\nworkers")).await.unwrap_err();
    assert!(matches!(err, Error::InvalidRequest(_)), "{err:?}");
    // Refused by the server: a typed error with its code.
    let err = patiently(admin.cancel_job("H:nowhere:1"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Server { .. }), "{err:?}");
    assert!(patiently(admin.getpid()).await.unwrap() > 0);
}
