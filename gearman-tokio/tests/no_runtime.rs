//! Outside a Tokio runtime the adapter says so with an error, where Tokio
//! itself would panic ("there is no reactor running").

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use gearman_tokio::transport::{Connector, TcpConnector};
use gearman_tokio::{Admin, Client, Error, Server, WorkError, Worker, WorkerJob};

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

/// The adapter's error inside an `io::Error`, as the `io::Result` entry
/// points carry it.
fn is_no_runtime(err: &std::io::Error) -> bool {
    err.get_ref()
        .and_then(|inner| inner.downcast_ref::<Error>())
        .is_some_and(|inner| matches!(inner, Error::NoRuntime))
}

#[test]
fn a_server_bind_outside_a_runtime_is_an_error() {
    let bind = pin!(Server::bind("127.0.0.1:0"));
    let polled = bind.poll(&mut Context::from_waker(Waker::noop()));
    assert!(
        matches!(&polled, Poll::Ready(Err(err)) if is_no_runtime(err)),
        "{:?}",
        polled.map(|bound| bound.map(|_| ()))
    );
}

#[test]
fn a_server_served_outside_a_runtime_is_an_error() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let server = runtime
        .block_on(Server::bind("127.0.0.1:0"))
        .expect("bound");
    // Polled on this thread, outside the runtime it was bound in.
    let mut serve = pin!(server.serve());
    let polled = serve.as_mut().poll(&mut Context::from_waker(Waker::noop()));
    assert!(
        matches!(&polled, Poll::Ready(Err(err)) if is_no_runtime(err)),
        "{polled:?}"
    );
}

#[test]
fn a_worker_run_until_ctrl_c_outside_a_runtime_is_an_error() {
    let worker = Worker::new(["127.0.0.1:4730"])
        .function("f", |_job: WorkerJob| async { Ok::<_, WorkError>("") });
    let mut run = pin!(worker.run());
    let polled = run.as_mut().poll(&mut Context::from_waker(Waker::noop()));
    assert!(
        matches!(polled, Poll::Ready(Err(Error::NoRuntime))),
        "{polled:?}"
    );
}

#[test]
fn a_tcp_connect_outside_a_runtime_is_an_error() {
    let mut connect = TcpConnector.connect("127.0.0.1:4730");
    let polled = connect
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()));
    assert!(
        matches!(&polled, Poll::Ready(Err(err)) if is_no_runtime(err)),
        "{polled:?}"
    );
}

#[test]
fn an_admin_request_outside_a_runtime_is_an_error() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // The kernel completes the connect; nobody needs to answer.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut admin = runtime
        .block_on(Admin::connect(listener.local_addr().unwrap()))
        .expect("connected");
    // Polled on this thread, outside the runtime it was made in.
    let mut request = pin!(admin.raw("version"));
    let polled = request
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()));
    assert!(
        matches!(polled, Poll::Ready(Err(Error::NoRuntime))),
        "{polled:?}"
    );
}
