//! The load generator on `gearman-async-std`: our client (and, unless told
//! otherwise, our worker and the embedded server) in this process.
//!
//! Everything runs in one task under async-std's `block_on`, the way the
//! crate recommends for latency: the client's driver runs with the code that
//! submits (`ClientDriver::run_with`, so a job's bytes and its outcome never
//! cross threads), and the worker futures and the embedded server are joined
//! alongside, so a job at a time passes between them without a thread ever
//! sleeping. With `--server-thread` the embedded server runs under its own
//! `block_on` on a thread of its own instead, as a server process would: that
//! costs a wake-up of the other thread per message, and pays where the load
//! needs both cores while something else holds one. Nothing is spawned on
//! async-std's executor, so `--threads` does not apply.

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use async_std::channel;
use bytes::Bytes;
use futures_util::future;
use gearman_async_std::transport::Connector;
use gearman_async_std::{Admin, Client, ClientConfig, Server, WorkError, Worker, WorkerJob};

use crate::args::Args;
use crate::drive::{self, Finished};
use crate::payload::{ended_correctly, payload};
use crate::tls::{self, Tls};

/// How long the server and workers get to stop once the load is done.
const PATIENCE: Duration = Duration::from_secs(5);

/// A worker future run next to the load.
type Background<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;

/// Runs the load in one task on the calling thread, with the embedded server
/// (unless `--server` names one) in that task or, with `--server-thread`, on
/// a thread of its own.
pub fn run(args: &Args) -> Result<Finished, String> {
    let tls = Tls::for_run(args.tls);
    let tls = tls.as_ref();
    // Dropping `stop` ends every `until_stopped` future, the server's too.
    let (stop, stopped) = channel::bounded::<()>(1);
    if args.server.is_none() && !args.server_thread {
        return async_std::task::block_on(async {
            let (server, addr) = bind(tls).await?;
            let (addr, label) = tls::address(tls, addr, "async-std");
            let serve = server.serve_until(until_stopped(stopped.clone()));
            let load = run_async(args, tls, addr, label, stop, stopped);
            future::join(load, serve).await.0
        });
    }
    thread::scope(|scope| {
        let (addr, label) = match &args.server {
            Some(addr) => (addr.clone(), "async-std".to_owned()),
            None => serve_embedded(scope, tls, stopped.clone())?,
        };
        async_std::task::block_on(run_async(args, tls, addr, label, stop, stopped))
    })
}

/// Future that completes once `stop` (the sender of `stopped`) is dropped.
async fn until_stopped(stopped: channel::Receiver<()>) {
    let _ = stopped.recv().await;
}

/// Starts the embedded server on a thread of `scope`, which serves until
/// `stopped` closes; returns the address clients dial and the run's label.
fn serve_embedded<'scope>(
    scope: &'scope thread::Scope<'scope, '_>,
    tls: Option<&'scope Tls>,
    stopped: channel::Receiver<()>,
) -> Result<(String, String), String> {
    let (bound, address) = mpsc::sync_channel(1);
    thread::Builder::new()
        .name("embedded server".to_owned())
        .spawn_scoped(scope, move || {
            async_std::task::block_on(async {
                match bind(tls).await {
                    Ok((server, addr)) => {
                        let _ = bound.send(Ok(addr));
                        let _ = server.serve_until(until_stopped(stopped)).await;
                    }
                    Err(err) => {
                        let _ = bound.send(Err(err));
                    }
                }
            })
        })
        .map_err(|err| format!("cannot start the embedded server: {err}"))?;
    // The sender is dropped without a word only if the thread panicked.
    let addr = address
        .recv()
        .map_err(|_| "the embedded server's thread failed".to_owned())??;
    Ok(tls::address(tls, addr, "async-std"))
}

/// The embedded server on a free loopback port, and that address.
async fn bind(tls: Option<&Tls>) -> Result<(Server, std::net::SocketAddr), String> {
    let server = Server::bind("127.0.0.1:0")
        .await
        .map_err(|err| format!("cannot start the embedded server: {err}"))?;
    let server =
        tools::tls::async_std::server(server, tls::server(tls)).map_err(|err| err.to_string())?;
    let addr = server
        .local_addr()
        .map_err(|err| format!("no address: {err}"))?;
    Ok((server, addr))
}

async fn run_async(
    args: &Args,
    tls: Option<&Tls>,
    addr: String,
    label: String,
    stop: channel::Sender<()>,
    stopped: channel::Receiver<()>,
) -> Result<Finished, String> {
    let mut background: Vec<Background<'_>> = Vec::new();
    let connector =
        || tools::tls::async_std::connector(tls::client(tls)).map_err(|e| e.to_string());
    let function = args.function_to_call();

    if args.worker_concurrency > 0 {
        for _ in 0..args.workers {
            let worker = Worker::new([addr.clone()])
                .connector(connector()?)
                .connections_per_server(args.connections)
                .concurrency(args.worker_concurrency)
                .client_id("loadgen")
                .function(function.clone(), |job: WorkerJob| async move {
                    Ok::<Bytes, WorkError>(job.payload().clone())
                });
            let run = worker.run_until(until_stopped(stopped.clone()));
            background.push(Box::pin(async move {
                let _ = run.await;
            }));
        }
    }

    let load = async {
        if args.worker_concurrency > 0 {
            let expected = (args.workers * args.connections) as u64;
            wait_for_workers(&addr, &connector()?, &function, expected).await?;
        }
        let (client, mut driver) =
            Client::with_connector(ClientConfig::new([addr.clone()]), connector()?)
                .map_err(|err| err.to_string())?;
        let result = driver
            .run_with(submit_all(args, &client, &addr, &function, &label))
            .await;
        // The driver ends (its connection closed) once the last client and
        // job are gone.
        drop(client);
        driver.await;
        drop(stop);
        result
    };
    let background = pin!(async {
        future::join_all(background).await;
    });
    // The load decides when the run ends; then the workers get `PATIENCE` to
    // finish.
    let stopped_waiting = pin!(async {
        until_stopped(stopped).await;
        async_std::task::sleep(PATIENCE).await;
    });
    let background = future::select(background, stopped_waiting);
    let (result, _) = future::join(load, background).await;
    result
}

/// Runs the throughput or memory measurement through `client`.
async fn submit_all(
    args: &Args,
    client: &Client,
    addr: &str,
    function: &str,
    label: &str,
) -> Result<Finished, String> {
    if args.memory {
        return hold(args, client, addr, function, label).await;
    }
    let submit = |index: u64| {
        let job = client.submit(args.request(function, payload(index, args.payload)));
        async move {
            job.await
                .is_ok_and(|outcome| ended_correctly(&outcome, index, args))
        }
    };
    let limit = Duration::from_secs(args.time_limit);
    Ok(drive::throughput(args, label, submit, async_std::task::sleep(limit)).await)
}

async fn hold(
    args: &Args,
    client: &Client,
    addr: &str,
    function: &str,
    label: &str,
) -> Result<Finished, String> {
    // Connect first so the connection's buffers are not charged to the jobs.
    client
        .echo("warm up")
        .await
        .map_err(|err| format!("echo to {addr}: {err}"))?;
    let mut admin = Admin::connect(addr)
        .await
        .map_err(|err| format!("admin connection to {addr}: {err}"))?;
    let admin = futures_util::lock::Mutex::new(&mut admin);
    let admin = &admin;
    let submit = |index: u64| client.submit(args.request(function, payload(index, args.payload)));
    let queued = || async move {
        let mut admin = admin.lock().await;
        let rows = admin.status().await.map_err(|err| err.to_string())?;
        Ok(drive::status_row(&rows, function).map_or(0, |row| row.total))
    };
    drive::hold(args, label, submit, queued, async_std::task::sleep).await
}

/// Waits until the server lists `count` worker connections for `function`.
async fn wait_for_workers(
    addr: &str,
    connector: &dyn Connector,
    function: &str,
    count: u64,
) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut admin = Admin::connect_with(addr, connector)
        .await
        .map_err(|err| format!("admin connection to {addr}: {err}"))?;
    loop {
        let rows = admin.status().await.map_err(|err| err.to_string())?;
        let registered = drive::status_row(&rows, function).map_or(0, |row| row.workers);
        if registered >= count {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("workers did not register with {addr}"));
        }
        async_std::task::sleep(Duration::from_millis(10)).await;
    }
}
