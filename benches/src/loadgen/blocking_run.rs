//! The load generator on `gearman-blocking`, with no async runtime: one
//! client shared by `--concurrency` threads, each submitting a job and
//! waiting for it, so exactly that many are in flight; our worker and the
//! embedded server run on their own threads.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use gearman_blocking::transport::Connector;
use gearman_blocking::{Admin, Client, ClientConfig, Server, WorkError, Worker, WorkerJob};

use crate::args::Args;
use crate::cpu;
use crate::drive::{self, Finished};
use crate::payload::{ended_correctly, payload};
use crate::progress::Progress;
use crate::stats::Recorder;
use crate::tls::{self, Tls};

/// Runs the whole load on threads.
pub fn run(args: &Args) -> Result<Finished, String> {
    let tls = Tls::for_run(args.tls);
    let tls = tls.as_ref();
    let connector = || tools::tls::blocking::connector(tls::client(tls)).map_err(|e| e.to_string());
    let (server, addr, label) = match &args.server {
        Some(addr) => (None, addr.clone(), "blocking".to_owned()),
        None => {
            let server = Server::bind("127.0.0.1:0")
                .map_err(|err| format!("cannot start the embedded server: {err}"))?;
            let server = tools::tls::blocking::server(server, tls::server(tls))
                .map_err(|err| err.to_string())?
                .spawn()
                .map_err(|err| format!("cannot start the embedded server: {err}"))?;
            let (addr, label) = tls::address(tls, server.local_addr(), "blocking");
            (Some(server), addr, label)
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
                .function(function.clone(), |job: &WorkerJob| {
                    Ok::<_, WorkError>(job.payload().clone())
                })
                .spawn()
                .map_err(|err| format!("cannot start the worker: {err}"))?;
            workers.push(worker);
        }
        let expected = (args.workers * args.connections) as u64;
        wait_until(
            &addr,
            &connector()?,
            &function,
            Duration::from_secs(10),
            |row| row.workers >= expected,
        )?;
    }

    let client = Client::with_connector(ClientConfig::new([addr.clone()]), connector()?)
        .map_err(|err| err.to_string())?;
    let result = if args.memory {
        hold(args, &client, &addr, &function, &label)
    } else {
        Ok(throughput(args, &client, &function, &label))
    };

    drop(client);
    for worker in workers {
        worker.shutdown();
        let _ = worker.join();
    }
    if let Some(server) = server {
        let _ = server.stop();
    }
    result
}

fn throughput(args: &Args, client: &Client, function: &str, label: &str) -> Finished {
    let progress = Progress::new(args.jobs);
    let next = AtomicU64::new(0);
    let finished = AtomicU64::new(0);
    let total = Mutex::new(Recorder::new());
    let give_up = Instant::now() + Duration::from_secs(args.time_limit);
    let started = Instant::now();
    let cpu_before = cpu::used();
    std::thread::scope(|scope| {
        for _ in 0..args.concurrency {
            scope.spawn(|| {
                let mut recorder = Recorder::new();
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= args.jobs {
                        break;
                    }
                    let submitted = Instant::now();
                    let mut job =
                        client.submit(args.request(function, payload(index, args.payload)));
                    let left = give_up.saturating_duration_since(submitted);
                    let correct = match job.wait_timeout(left) {
                        Ok(outcome) => ended_correctly(&outcome, index, args),
                        Err(_) if Instant::now() >= give_up => break,
                        Err(_) => false,
                    };
                    recorder.record(submitted.elapsed(), correct);
                    progress.finished(finished.fetch_add(1, Ordering::Relaxed) + 1);
                }
                total
                    .lock()
                    .expect("no thread panics while holding the recorder")
                    .merge(&recorder);
            });
        }
    });
    let elapsed = started.elapsed();
    let cpu_spent = cpu::used()
        .zip(cpu_before)
        .map(|(after, before)| after - before);
    progress.done();
    let recorder = total
        .into_inner()
        .expect("no thread panics while holding the recorder");
    let timed_out = recorder.count() < args.jobs;
    let line = drive::throughput_line(args, label, &recorder, elapsed, cpu_spent, timed_out);
    Finished {
        all_correct: !timed_out && recorder.wrong == 0,
        line,
    }
}

fn hold(
    args: &Args,
    client: &Client,
    addr: &str,
    function: &str,
    label: &str,
) -> Result<Finished, String> {
    // Connect first so the connection's buffers are not charged to the jobs.
    client
        .echo("warm up")
        .map_err(|err| format!("echo to {addr}: {err}"))?;
    let mut admin =
        Admin::connect(addr).map_err(|err| format!("admin connection to {addr}: {err}"))?;
    let submit = |index: u64| client.submit(args.request(function, payload(index, args.payload)));
    // Every step blocks until done, so the future never waits.
    let queued = || {
        std::future::ready(
            admin
                .status()
                .map(|rows| drive::status_row(&rows, function).map_or(0, |row| row.total))
                .map_err(|err| err.to_string()),
        )
    };
    let sleep = |pause| {
        std::thread::sleep(pause);
        std::future::ready(())
    };
    drive::run_ready(drive::hold(args, label, submit, queued, sleep))
}

/// Asks the server until its status row for `function` satisfies `done`.
fn wait_until(
    addr: &str,
    connector: &dyn Connector,
    function: &str,
    patience: Duration,
    done: impl Fn(&gearman_blocking::proto::admin::StatusRow) -> bool,
) -> Result<(), String> {
    let deadline = Instant::now() + patience;
    let mut admin = Admin::connect_with(addr, connector)
        .map_err(|err| format!("admin connection to {addr}: {err}"))?;
    loop {
        let rows = admin.status().map_err(|err| err.to_string())?;
        if drive::status_row(&rows, function).is_some_and(&done) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{addr} did not get there for {function} in {patience:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
