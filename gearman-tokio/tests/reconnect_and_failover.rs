//! Server restarts and servers that are down, with our embedded server.

mod scenarios;
mod support;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use gearman_tokio::{Client, Error, JobOutcome, JobRequest, Server, WorkError, Worker, WorkerJob};
use scenarios::{RunningWorker, patiently};
use tokio::sync::oneshot;

/// Serves on `addr` until the sender is dropped or fired.
async fn serve_on(addr: SocketAddr) -> oneshot::Sender<()> {
    let server = loop {
        // The port was ours a moment ago; retry while the old socket lingers.
        match Server::bind(addr).await {
            Ok(server) => break server,
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(server.serve_until(async {
        let _ = stopped.await;
    }));
    stop
}

fn blocking_worker(server: &str, function: &str) -> RunningWorker {
    RunningWorker::start(Worker::new([server]).concurrency(4).function(
        function.to_owned(),
        |job: WorkerJob| async move {
            if job.payload().as_ref() == b"hang" {
                std::future::pending::<()>().await;
            }
            Ok::<_, WorkError>(job.payload().clone())
        },
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_and_client_reconnect_after_a_server_restart() {
    let addr: SocketAddr = ([127, 0, 0, 1], support::free_port()).into();
    let server = addr.to_string();
    let stop = serve_on(addr).await;
    let worker = blocking_worker(&server, "echo_r");
    let client = Client::new([server.clone()]).unwrap();
    let outcome = patiently(client.submit(JobRequest::new("echo_r", "before")))
        .await
        .unwrap();
    assert_eq!(outcome, JobOutcome::Complete(Bytes::from_static(b"before")));

    // A job in flight when the server goes away ends with an explicit error
    // saying the server had accepted it.
    let mut hanging = client.submit(JobRequest::new("echo_r", "hang"));
    patiently(async {
        while hanging.handle().is_none() {
            // Poll the stream until JOB_CREATED is seen.
            let _ = tokio::time::timeout(Duration::from_millis(20), &mut hanging).await;
        }
    })
    .await;
    drop(stop);
    match patiently(&mut hanging).await {
        Err(Error::Client(err)) => assert!(err.acknowledged(), "{err}"),
        other => panic!("expected a lost job, got {other:?}"),
    }

    // The server comes back on the same address: both reconnect, the worker
    // registers again, and jobs flow.
    let _stop = serve_on(addr).await;
    let outcome = patiently(async {
        loop {
            match client.submit(JobRequest::new("echo_r", "after")).await {
                Ok(outcome) => break outcome,
                // Backing off from the failure: try again shortly.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    })
    .await;
    assert_eq!(outcome, JobOutcome::Complete(Bytes::from_static(b"after")));
    drop(worker);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_is_down_does_not_stop_the_others() {
    let up = support::embedded_server().await;
    let down = format!("127.0.0.1:{}", support::free_port());
    let servers = [down.clone(), up.server()];
    let worker = RunningWorker::start(
        Worker::new(servers.clone()).function("echo_f", |job: WorkerJob| async move {
            Ok::<_, WorkError>(job.payload().clone())
        }),
    );
    let client = Client::new(servers).unwrap();
    for i in 0..6 {
        let payload = format!("job {i}");
        let outcome = patiently(client.submit(JobRequest::new("echo_f", payload.clone())))
            .await
            .unwrap();
        assert_eq!(outcome, JobOutcome::Complete(Bytes::from(payload)));
    }
    worker.stop().await;
}
