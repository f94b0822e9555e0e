//! Gearman in one process: the embedded job server on a free loopback port,
//! a worker that reverses text, and a client that submits a job to it.
//! Run it with `cargo run -p gearman-tokio --example quickstart`.
#![allow(clippy::print_stdout)]

use gearman_tokio::{Client, JobOutcome, JobRequest, Server, WorkError, Worker, WorkerJob};

#[tokio::main]
async fn main() -> Result<(), gearman_tokio::Error> {
    // The job server, on a port the system picks, served by a task of its own.
    let server = Server::bind("127.0.0.1:0").await?;
    let addr = server.local_addr()?.to_string();
    tokio::spawn(server.serve());
    println!("embedded job server listening on {addr}");

    // A worker for `reverse`, taking jobs until `stop` fires.
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = Worker::new([addr.clone()]).function("reverse", |job: WorkerJob| async move {
        let reversed: Vec<u8> = job.payload().iter().rev().copied().collect();
        Ok::<_, WorkError>(reversed)
    });
    let worker = tokio::spawn(worker.run_until(stopped));

    // A client: submit a job and wait for its outcome.
    let client = Client::new([addr])?;
    let outcome = client
        .submit(JobRequest::new("reverse", "hello gearman"))
        .await?;
    match outcome {
        JobOutcome::Complete(result) => {
            println!(
                "reverse(\"hello gearman\") = {:?}",
                String::from_utf8_lossy(&result)
            );
            assert_eq!(result, "namraeg olleh");
        }
        other => panic!("the job did not complete: {other:?}"),
    }

    // The worker finishes the jobs it runs, then returns.
    let _ = stop.send(());
    worker.await.expect("the worker task does not panic")
}
