//! The load generator on `gearman-tokio`: our client (and, unless told
//! otherwise, our worker and the embedded server) in this process.

use std::time::{Duration, Instant};

use bytes::Bytes;
use gearman_tokio::transport::Connector;
use gearman_tokio::{Admin, Client, ClientConfig, Server, WorkError, Worker, WorkerJob};
use tokio::sync::watch;

use crate::args::Args;
use crate::drive::{self, Finished};
use crate::payload::{ended_correctly, payload};
use crate::tls::{self, Tls};

/// Runs the whole load on a fresh runtime (`--threads` decides which).
pub fn run(args: &Args) -> Result<Finished, String> {
    let mut builder = match args.threads {
        1 => tokio::runtime::Builder::new_current_thread(),
        0 => tokio::runtime::Builder::new_multi_thread(),
        threads => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(threads);
            builder
        }
    };
    let runtime = builder
        .enable_all()
        .build()
        .map_err(|err| format!("cannot start tokio: {err}"))?;
    // The load runs as a task on the runtime's workers, as a server
    // application's request handlers do: a future driven by `block_on` lives
    // on a thread outside the pool, so every job's outcome would cross
    // threads to reach it (about 8% of the jobs per second at 1 in flight).
    let args = args.clone();
    runtime
        .block_on(runtime.spawn(async move { run_async(&args).await }))
        .map_err(|err| format!("the load task failed: {err}"))?
}

async fn run_async(args: &Args) -> Result<Finished, String> {
    let (stop, stopped) = watch::channel(false);
    let until_stopped = |mut stopped: watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    let tls = Tls::for_run(args.tls);
    let tls = tls.as_ref();
    let connector = || tools::tls::tokio::connector(tls::client(tls)).map_err(|e| e.to_string());
    let (addr, label) = match &args.server {
        Some(addr) => (addr.clone(), "tokio".to_owned()),
        None => {
            let server = Server::bind("127.0.0.1:0")
                .await
                .map_err(|err| format!("cannot start the embedded server: {err}"))?;
            let server = tools::tls::tokio::server(server, tls::server(tls))
                .map_err(|err| err.to_string())?;
            let addr = server
                .local_addr()
                .map_err(|err| format!("no address: {err}"))?;
            tokio::spawn(server.serve_until(until_stopped(stopped.clone())));
            tls::address(tls, addr, "tokio")
        }
    };
    let function = args.function_to_call();

    let mut workers = Vec::new();
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
            workers.push(tokio::spawn(
                worker.run_until(until_stopped(stopped.clone())),
            ));
        }
        let expected = (args.workers * args.connections) as u64;
        wait_for_workers(&addr, &connector()?, &function, expected).await?;
    }

    let client = Client::with_connector(ClientConfig::new([addr.clone()]), connector()?)
        .map_err(|err| err.to_string())?;
    let limit = Duration::from_secs(args.time_limit);
    let result = if args.memory {
        hold(args, &client, &addr, &function, &label).await
    } else {
        let submit = |index: u64| {
            let job = client.submit(args.request(&function, payload(index, args.payload)));
            async move {
                job.await
                    .is_ok_and(|outcome| ended_correctly(&outcome, index, args))
            }
        };
        Ok(drive::throughput(args, &label, submit, tokio::time::sleep(limit)).await)
    };

    drop(client);
    let _ = stop.send(true);
    for worker in workers {
        let _ = tokio::time::timeout(Duration::from_secs(5), worker).await;
    }
    result
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
    drive::hold(args, label, submit, queued, tokio::time::sleep).await
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
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
