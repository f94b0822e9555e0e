//! Helpers shared by the integration tests: the two runtimes the crate is
//! run under, an embedded server per test, and waiting with a safety net.
#![allow(dead_code, unused_imports)]

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use async_io::Timer;
use futures_channel::oneshot;
use gearman_async_std::{Client, Server, Worker};

pub use conformance::{PATIENCE, name};

/// A future a runtime can spawn.
pub type Task = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The executor a test runs on. Everything else (sockets, timers) is
/// async-io's, shared by both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    /// `async_std::task`.
    AsyncStd,
    /// `smol`'s global executor.
    Smol,
}

impl Runtime {
    /// Runs `future` to completion on this runtime.
    pub fn block_on<F: Future>(self, future: F) -> F::Output {
        match self {
            Runtime::AsyncStd => async_std::task::block_on(future),
            Runtime::Smol => smol::block_on(future),
        }
    }

    /// Runs `future` in the background on this runtime.
    pub fn spawn(self, future: impl Future<Output = ()> + Send + 'static) {
        match self {
            Runtime::AsyncStd => {
                async_std::task::spawn(future);
            }
            Runtime::Smol => smol::spawn(future).detach(),
        }
    }

    /// Runs `future` in the background; its output arrives on the receiver.
    pub fn spawn_with_result<T: Send + 'static>(
        self,
        future: impl Future<Output = T> + Send + 'static,
    ) -> oneshot::Receiver<T> {
        let (done, result) = oneshot::channel();
        self.spawn(async move {
            // Its own statement, so the future (and what it owns, such as a
            // listener) is dropped before the output is reported.
            let output = future.await;
            let _ = done.send(output);
        });
        result
    }

    /// A client of `servers` whose driver runs on this runtime.
    pub fn client<S: gearman_async_std::IntoServerAddr>(
        self,
        servers: impl IntoIterator<Item = S>,
    ) -> Client {
        let (client, driver) = Client::new(servers).expect("servers are configured");
        self.spawn(driver);
        client
    }
}

/// Awaits `future` with [`PATIENCE`] as a safety net.
pub async fn patiently<F: Future>(future: F) -> F::Output {
    // The net is polled first: a future that would finish only because the
    // net's own wake-up polled it again had lost a wake-up.
    let net = async {
        Timer::after(PATIENCE).await;
        panic!("did not finish in time");
    };
    futures_lite::future::or(net, future).await
}

/// `Some(output)` if `future` finishes within `limit`.
pub async fn within<F: Future>(limit: Duration, future: F) -> Option<F::Output> {
    futures_lite::future::or(async { Some(future.await) }, async {
        Timer::after(limit).await;
        None
    })
    .await
}

/// Sleeps on async-io's timer (the same under both runtimes).
pub async fn sleep(duration: Duration) {
    Timer::after(duration).await;
}

/// Our job server on a free loopback port, stopped when dropped.
pub struct EmbeddedServer {
    addr: String,
    stop: Option<oneshot::Sender<()>>,
}

impl EmbeddedServer {
    /// Starts a server on `runtime`.
    pub fn start(runtime: Runtime) -> EmbeddedServer {
        let server = runtime
            .block_on(Server::bind("127.0.0.1:0"))
            .expect("bind a loopback port");
        let addr = server.local_addr().expect("bound").to_string();
        let (stop, stopped) = oneshot::channel::<()>();
        runtime.spawn(async move {
            let _ = server
                .serve_until(async {
                    let _ = stopped.await;
                })
                .await;
        });
        EmbeddedServer {
            addr,
            stop: Some(stop),
        }
    }

    /// Its `host:port`.
    pub fn addr(&self) -> String {
        self.addr.clone()
    }
}

impl Drop for EmbeddedServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A worker running in the background until [`stop`](RunningWorker::stop)ped
/// (or dropped, which asks it to stop without waiting).
pub struct RunningWorker {
    stop: Option<oneshot::Sender<()>>,
    done: oneshot::Receiver<Result<(), gearman_async_std::Error>>,
}

impl RunningWorker {
    /// Starts `worker` on `runtime`.
    pub fn start(runtime: Runtime, worker: Worker) -> RunningWorker {
        let (stop, stopped) = oneshot::channel::<()>();
        let done = runtime.spawn_with_result(worker.run_until(async {
            let _ = stopped.await;
        }));
        RunningWorker {
            stop: Some(stop),
            done,
        }
    }

    /// Asks for a graceful shutdown and waits until the worker returns.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        patiently(&mut self.done)
            .await
            .expect("worker task did not panic")
            .expect("worker ran without error");
    }
}
