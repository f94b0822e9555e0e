//! Our server stops on an admin `shutdown`, and after `shutdown graceful`
//! once no job is left; under async-std and under smol.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use gearman_async_std::{Admin, JobOutcome, JobRequest, Server, WorkError, Worker, WorkerJob};
use support::{RunningWorker, Runtime, patiently, sleep, within};

async fn admin_shutdown_stops_the_server(rt: Runtime) {
    let server = Server::bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr().unwrap().to_string();
    let serving = rt.spawn_with_result(server.serve());
    let mut admin = Admin::connect(&addr).await.unwrap();
    admin.shutdown(false).await.unwrap();
    patiently(serving).await.unwrap().unwrap();
    // The listener is closed too.
    assert!(std::net::TcpStream::connect(&addr).is_err());
}

async fn graceful_shutdown_waits_for_running_jobs(rt: Runtime) {
    let server = Server::bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr().unwrap().to_string();
    let mut serving = rt.spawn_with_result(server.serve());
    let started = Arc::new(AtomicBool::new(false));
    let release = Arc::new(AtomicBool::new(false));
    let (started_by_job, released) = (started.clone(), release.clone());
    let worker = RunningWorker::start(
        rt,
        Worker::new([addr.clone()]).function("held", move |_job: WorkerJob| {
            let (started, release) = (started_by_job.clone(), released.clone());
            async move {
                started.store(true, Ordering::SeqCst);
                while !release.load(Ordering::SeqCst) {
                    sleep(Duration::from_millis(5)).await;
                }
                Ok::<_, WorkError>("done")
            }
        }),
    );
    let client = rt.client([addr.clone()]);
    let job = rt.spawn_with_result(client.submit(JobRequest::new("held", "x")));
    patiently(async {
        while !started.load(Ordering::SeqCst) {
            sleep(Duration::from_millis(5)).await;
        }
    })
    .await;

    let mut admin = Admin::connect(&addr).await.unwrap();
    admin.shutdown(true).await.unwrap();
    // A job is still running: the server keeps serving.
    assert!(
        within(Duration::from_millis(100), &mut serving)
            .await
            .is_none()
    );
    release.store(true, Ordering::SeqCst);
    assert_eq!(
        patiently(job).await.unwrap().unwrap(),
        JobOutcome::Complete("done".into())
    );
    patiently(serving).await.unwrap().unwrap();
    drop(worker);
}

macro_rules! under_both_runtimes {
    ($($test:ident),* $(,)?) => {
        mod async_std_runtime {
            $(
                #[test]
                fn $test() {
                    let rt = crate::support::Runtime::AsyncStd;
                    rt.block_on(crate::$test(rt));
                }
            )*
        }
        mod smol_runtime {
            $(
                #[test]
                fn $test() {
                    let rt = crate::support::Runtime::Smol;
                    rt.block_on(crate::$test(rt));
                }
            )*
        }
    };
}

under_both_runtimes!(
    admin_shutdown_stops_the_server,
    graceful_shutdown_waits_for_running_jobs,
);
