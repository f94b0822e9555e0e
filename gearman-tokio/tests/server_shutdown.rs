//! Our server stops on an admin `shutdown`, and after `shutdown graceful`
//! once no job is left.

mod scenarios;
mod support;

use std::sync::Arc;

use gearman_tokio::{Admin, Client, JobRequest, Server, WorkError, Worker, WorkerJob};
use scenarios::{RunningWorker, patiently};
use tokio::sync::Notify;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_shutdown_stops_the_server() {
    let server = Server::bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr().unwrap().to_string();
    let serving = tokio::spawn(server.serve());
    let mut admin = Admin::connect(&addr).await.unwrap();
    admin.shutdown(false).await.unwrap();
    patiently(serving).await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_waits_for_running_jobs() {
    let server = Server::bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr().unwrap().to_string();
    let serving = tokio::spawn(server.serve());
    let (started, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let (started_tx, release_rx) = (started.clone(), release.clone());
    let worker = RunningWorker::start(Worker::new([addr.clone()]).function(
        "held",
        move |_job: WorkerJob| {
            let (started, release) = (started_tx.clone(), release_rx.clone());
            async move {
                started.notify_one();
                release.notified().await;
                Ok::<_, WorkError>("done")
            }
        },
    ));
    let client = Client::new([addr.clone()]).unwrap();
    let job = tokio::spawn(client.submit(JobRequest::new("held", "x")));
    patiently(started.notified()).await;

    let mut admin = Admin::connect(&addr).await.unwrap();
    admin.shutdown(true).await.unwrap();
    // A job is still running: the server keeps serving. Its answer to a
    // command sent after the shutdown shows it handled the shutdown and
    // went on.
    let rows = patiently(admin.status()).await.unwrap();
    assert!(
        rows.iter()
            .any(|row| row.function == "held" && row.running == 1),
        "{rows:?}"
    );
    assert!(!serving.is_finished());
    release.notify_one();
    assert!(patiently(job).await.unwrap().is_ok());
    patiently(serving).await.unwrap().unwrap();
    drop(worker);
}
