//! Outside a Tokio runtime the adapter says so with an error, where Tokio
//! itself would panic ("there is no reactor running").

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use gearman_tokio::{Admin, Client, Error, WorkError, Worker, WorkerJob};

#[test]
fn a_client_made_outside_a_runtime_is_an_error() {
    let made = std::thread::spawn(|| Client::new(["127.0.0.1:4730"]).map(drop))
        .join()
        .expect("no panic");
    assert!(matches!(made, Err(Error::NoRuntime)), "{made:?}");
}

#[test]
fn an_admin_connect_outside_a_runtime_is_an_error() {
    let connect = pin!(Admin::connect("127.0.0.1:4730"));
    let polled = connect.poll(&mut Context::from_waker(Waker::noop()));
    assert!(matches!(polled, Poll::Ready(Err(Error::NoRuntime))));
}

#[test]
fn a_worker_run_outside_a_runtime_is_an_error() {
    let worker = Worker::new(["127.0.0.1:4730"])
        .function("f", |_job: WorkerJob| async { Ok::<_, WorkError>("") });
    let mut run = pin!(worker.run_until(std::future::pending::<()>()));
    let polled = run.as_mut().poll(&mut Context::from_waker(Waker::noop()));
    assert!(
        matches!(polled, Poll::Ready(Err(Error::NoRuntime))),
        "{polled:?}"
    );
}
