//! End-to-end scenarios the conformance suite does not cover (async
//! handlers, reducers, the client's driver, invalid requests, more admin
//! commands), run under each runtime against a job server given by its
//! `host:port`.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use gearman_async_std::proto::worker::{GrabMode, WorkerConfig};
use gearman_async_std::{Error, JobOutcome, JobRequest, WorkError, Worker, WorkerJob};

use crate::support::{RunningWorker, Runtime, name, patiently, sleep};

/// A handler that panics, inside its future or before returning one,
/// fails its job, and the worker goes on serving.
pub async fn handler_panics(rt: Runtime, server: &str) {
    let f = name("panic");
    let worker = RunningWorker::start(
        rt,
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
                std::future::ready(Ok::<Bytes, WorkError>(Bytes::from_static(b"done")))
            }),
    );
    let client = rt.client([server]);
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

/// On an idle client a submit is written from the caller's task: the worker
/// gets the job while the driver is not being polled at all; polling the
/// driver again then brings the result.
pub async fn idle_submit_goes_out_from_the_caller(rt: Runtime, server: &str) {
    use futures_lite::StreamExt;
    use futures_lite::future::or;

    let f = name("direct");
    let (seen, mut seen_rx) = futures_channel::mpsc::unbounded::<Bytes>();
    let worker = RunningWorker::start(
        rt,
        Worker::new([server]).function(f.clone(), move |job: WorkerJob| {
            let _ = seen.unbounded_send(job.payload().clone());
            std::future::ready(Ok::<Bytes, WorkError>(job.payload().clone()))
        }),
    );
    let (client, mut driver) = gearman_async_std::Client::new([server]).unwrap();
    // Connected and idle; from here on the driver is left alone.
    let echoed = patiently(or(client.echo("warm up"), driving(&mut driver)))
        .await
        .unwrap();
    assert_eq!(&echoed[..], b"warm up");

    let job = client.submit(JobRequest::new(f.clone(), "direct"));
    let assigned = patiently(seen_rx.next()).await;
    assert_eq!(assigned, Some(Bytes::from_static(b"direct")));

    let outcome = patiently(or(job, driving(&mut driver))).await.unwrap();
    assert_eq!(outcome, JobOutcome::Complete(Bytes::from_static(b"direct")));
    drop(client);
    patiently(driver).await;
    worker.stop().await;
}

/// Polls the client's driver (which runs as long as its client lives);
/// `Err` only if it ends.
async fn driving<T>(driver: &mut gearman_async_std::ClientDriver) -> Result<T, Error> {
    driver.await;
    Err(Error::Shutdown)
}

/// `ClientDriver::run_with` runs the submitting code and the driver in one
/// task, one job at a time and many at once; the driver can be run on
/// afterwards and ends once the client is dropped.
pub async fn driver_run_with(rt: Runtime, server: &str) {
    let f = name("run_with");
    let worker = RunningWorker::start(
        rt,
        Worker::new([server])
            .concurrency(4)
            .function(f.clone(), |job: WorkerJob| async move {
                Ok::<Bytes, WorkError>(job.payload().clone())
            }),
    );
    let (client, mut driver) = gearman_async_std::Client::new([server]).unwrap();
    let request = |i: usize| JobRequest::new(f.clone(), format!("job {i}"));
    let outcomes = patiently(driver.run_with(async {
        let mut outcomes = Vec::new();
        for i in 0..10 {
            outcomes.push(client.submit(request(i)).await);
        }
        let jobs: Vec<_> = (10..30).map(|i| client.submit(request(i))).collect();
        for job in jobs {
            outcomes.push(job.await);
        }
        outcomes
    }))
    .await;
    let outcomes: Vec<JobOutcome> = outcomes.into_iter().map(Result::unwrap).collect();
    let expected: Vec<JobOutcome> = (0..30)
        .map(|i| JobOutcome::Complete(Bytes::from(format!("job {i}"))))
        .collect();
    assert_eq!(outcomes, expected);
    // Run on: still serving.
    let echoed = patiently(driver.run_with(client.echo("again")))
        .await
        .unwrap();
    assert_eq!(&echoed[..], b"again");
    drop(client);
    patiently(driver).await;
    worker.stop().await;
}

/// A worker's monitor, taken before `run_until`, shows its connections:
/// nothing before it runs; then `server` connected, with the job that asks
/// counted on it (read from inside the worker's own handler, which runs
/// outside the worker's lock), and a refused address backing off; nothing
/// once it stopped.
pub async fn worker_monitor(rt: Runtime, server: &str) {
    use gearman_async_std::proto::observe::ConnectionState;

    let f = name("monitor");
    // A port just freed: connecting to it is refused.
    let down = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let (failed, failures) = futures_channel::mpsc::unbounded();
    // A long back-off keeps the refused server backing off while we look.
    let config = WorkerConfig::new([server.to_owned(), down.clone()])
        .with_backoff(Duration::from_secs(60), Duration::from_secs(60));
    let worker = Worker::with_config(config).on_connect_failed(move |err| {
        let _ = failed.unbounded_send(err.addr().to_owned());
    });
    let monitor = worker.monitor();
    let in_handler = monitor.clone();
    let worker = worker.function(f.clone(), move |_job: WorkerJob| {
        let jobs = in_handler.servers()[0].jobs_in_flight;
        async move { Ok::<_, WorkError>(jobs.to_string()) }
    });
    assert!(monitor.servers().is_empty(), "{monitor:?}");

    let worker = RunningWorker::start(rt, worker);
    let mut failures = std::pin::pin!(failures);
    let first_failure = patiently(futures_lite::StreamExt::next(&mut failures)).await;
    assert_eq!(first_failure.as_deref(), Some(down.as_str()));
    let client = rt.client([server]);
    let outcome = patiently(client.submit(JobRequest::new(f, ""))).await;
    assert_eq!(outcome.unwrap(), JobOutcome::Complete("1".into()));

    let servers = monitor.servers();
    assert_eq!(servers.len(), 2, "{servers:?}");
    assert_eq!(
        (servers[0].addr.as_str(), servers[0].state),
        (server, ConnectionState::Connected)
    );
    assert_eq!(servers[1].addr, down);
    assert!(
        matches!(servers[1].state, ConnectionState::BackingOff { .. }),
        "{servers:?}"
    );

    worker.stop().await;
    assert!(monitor.servers().is_empty(), "{monitor:?}");
}
