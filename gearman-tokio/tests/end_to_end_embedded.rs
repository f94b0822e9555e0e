//! Our client and worker through our embedded server, over real sockets, in
//! what the conformance suite does not cover.

mod scenarios;
mod support;

use support::embedded_server;

macro_rules! against_embedded {
    ($($scenario:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $scenario() {
            let server = embedded_server().await;
            scenarios::$scenario(&server.server()).await;
        }
    )*};
}

against_embedded!(handler_panics, reduce_submits);

/// A worker's monitor, taken before `run_until`, shows its connections:
/// nothing before it runs; then the embedded server connected, with the
/// job that asks counted on it (read from inside the worker's own
/// handler), and a refused address backing off; nothing once it stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_monitor_shows_a_connected_server_and_a_down_one() {
    use gearman_proto::observe::ConnectionState;
    use gearman_tokio::{
        Client, JobOutcome, JobRequest, WorkError, Worker, WorkerConfig, WorkerJob,
    };
    use std::time::Duration;

    let server = embedded_server().await;
    let up = server.server();
    // A port just freed: connecting to it is refused.
    let down = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let (failed, mut failures) = tokio::sync::mpsc::unbounded_channel();
    // A long back-off keeps the refused server backing off while we look.
    let config = WorkerConfig::new([up.clone(), down.clone()])
        .with_backoff(Duration::from_secs(60), Duration::from_secs(60));
    let worker = Worker::with_config(config).on_connect_failed(move |err| {
        let _ = failed.send(err.addr().to_owned());
    });
    let monitor = worker.monitor();
    let in_handler = monitor.clone();
    let worker = worker.function("jobs-on-first-server", move |_job: WorkerJob| {
        let jobs = in_handler.servers()[0].jobs_in_flight;
        async move { Ok::<_, WorkError>(jobs.to_string()) }
    });
    assert!(monitor.servers().is_empty(), "{monitor:?}");

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(worker.run_until(stopped));
    assert_eq!(failures.recv().await.as_deref(), Some(down.as_str()));
    let client = Client::new([up.clone()]).unwrap();
    let outcome = client
        .submit(JobRequest::new("jobs-on-first-server", ""))
        .await
        .unwrap();
    assert_eq!(outcome, JobOutcome::Complete("1".into()));

    let servers = monitor.servers();
    assert_eq!(servers.len(), 2, "{servers:?}");
    assert_eq!(
        (servers[0].addr.as_str(), servers[0].state),
        (up.as_str(), ConnectionState::Connected)
    );
    assert_eq!(servers[1].addr, down);
    assert!(
        matches!(servers[1].state, ConnectionState::BackingOff { .. }),
        "{servers:?}"
    );

    stop.send(()).unwrap();
    running.await.unwrap().unwrap();
    assert!(monitor.servers().is_empty(), "{monitor:?}");
}
