//! The load generator on `gearman-tokio`: our client (and, unless told
//! otherwise, our worker and the embedded server) in this process.

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use gearman_tokio::{Admin, Client, JobOutcome, JobRequest, Server, WorkError, Worker, WorkerJob};
use tokio::sync::watch;

use crate::args::Args;
use crate::memory;
use crate::payload::{is_echo_of, payload};
use crate::progress::Progress;
use crate::stats::Recorder;

/// What a run found: the summary (or memory) line, and whether every job
/// ended as it should.
pub struct Finished {
    /// The line to print.
    pub line: String,
    /// Every job ended with its echo (or was queued, in the background).
    pub all_correct: bool,
}

/// Runs the whole load on a fresh multi-threaded runtime.
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
    runtime.block_on(run_async(args))
}

async fn run_async(args: &Args) -> Result<Finished, String> {
    let (stop, stopped) = watch::channel(false);
    let until_stopped = |mut stopped: watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    let (addr, label) = match &args.server {
        Some(addr) => (addr.clone(), "tokio".to_owned()),
        None => {
            let server = Server::bind("127.0.0.1:0")
                .await
                .map_err(|err| format!("cannot start the embedded server: {err}"))?;
            let addr = server
                .local_addr()
                .map_err(|err| format!("no address: {err}"))?;
            tokio::spawn(server.serve_until(until_stopped(stopped.clone())));
            (addr.to_string(), "tokio/embedded".to_owned())
        }
    };
    let function = if args.memory {
        // A function nobody serves, so every job stays in flight.
        format!("{}-held-{}", args.function, std::process::id())
    } else {
        args.function.clone()
    };

    let mut workers = Vec::new();
    if args.worker_concurrency > 0 {
        for _ in 0..args.workers {
            // The same server listed N times: one worker, N connections.
            let worker = Worker::new(vec![addr.clone(); args.connections])
                .concurrency(args.worker_concurrency)
                .client_id("loadgen")
                .function(function.clone(), |job: WorkerJob| async move {
                    Ok::<Bytes, WorkError>(job.payload().clone())
                });
            workers.push(tokio::spawn(
                worker.run_until(until_stopped(stopped.clone())),
            ));
        }
        wait_for_workers(&addr, &function, args.workers as u64).await?;
    }

    let client = Client::new([addr.clone()]).map_err(|err| err.to_string())?;
    let limit = Duration::from_secs(args.time_limit);
    let result = if args.memory {
        tokio::time::timeout(limit, hold(args, &client, &addr, &function, &label))
            .await
            .unwrap_or_else(|_| Err(format!("{label}: gave up after {limit:?}")))
    } else {
        Ok(throughput(args, &client, &function, &label, limit).await)
    };

    drop(client);
    let _ = stop.send(true);
    for worker in workers {
        let _ = tokio::time::timeout(Duration::from_secs(5), worker).await;
    }
    result
}

/// Waits until the server lists `count` workers for `function`.
async fn wait_for_workers(addr: &str, function: &str, count: u64) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut admin = Admin::connect(addr)
        .await
        .map_err(|err| format!("admin connection to {addr}: {err}"))?;
    loop {
        let rows = admin.status().await.map_err(|err| err.to_string())?;
        let registered = rows
            .iter()
            .find(|row| row.function == function.as_bytes())
            .map_or(0, |row| row.workers);
        if registered >= count {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("workers did not register with {addr}"));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn request(args: &Args, function: &str, index: u64) -> JobRequest {
    let request = JobRequest::new(function.to_owned(), payload(index, args.payload));
    if args.background {
        request.in_background()
    } else {
        request
    }
}

/// Submits `args.jobs` jobs keeping `args.concurrency` in flight.
async fn throughput(
    args: &Args,
    client: &Client,
    function: &str,
    label: &str,
    limit: Duration,
) -> Finished {
    let progress = Progress::new(args.jobs);
    let mut recorder = Recorder::new();
    let mut in_flight = FuturesUnordered::new();
    let submit = |index: u64| {
        let job = client.submit(request(args, function, index));
        let submitted = Instant::now();
        async move { (index, submitted, job.await) }
    };
    let started = Instant::now();
    let give_up = tokio::time::sleep(limit);
    tokio::pin!(give_up);
    let mut next = 0;
    while next < args.jobs && in_flight.len() < args.concurrency {
        in_flight.push(submit(next));
        next += 1;
    }
    let mut timed_out = false;
    loop {
        let ended = tokio::select! {
            ended = in_flight.next() => ended,
            () = &mut give_up => { timed_out = true; None }
        };
        let Some((index, submitted, outcome)) = ended else {
            break;
        };
        let correct = match outcome {
            Ok(JobOutcome::Complete(result)) => {
                !args.background && is_echo_of(&result, index, args.payload)
            }
            Ok(JobOutcome::Queued(_)) => args.background,
            _ => false,
        };
        recorder.record(submitted.elapsed(), correct);
        progress.finished(recorder.count());
        if next < args.jobs {
            in_flight.push(submit(next));
            next += 1;
        }
    }
    let elapsed = started.elapsed();
    progress.done();
    let mut line = recorder.summary(label, elapsed).to_string();
    line.push_str(&format!(
        " concurrency={} payload={}",
        args.concurrency, args.payload
    ));
    if timed_out {
        line.push_str(&format!(" (gave up after {limit:?})"));
    }
    Finished {
        all_correct: !timed_out && recorder.wrong == 0 && recorder.count() == args.jobs,
        line,
    }
}

/// Keeps `args.concurrency` jobs in flight that no worker takes and measures
/// what the client's memory grew by once the server has queued them all.
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
    let payloads: Vec<Bytes> = (0..args.concurrency as u64)
        .map(|index| payload(index, args.payload))
        .collect();
    let before = memory::resident_bytes();
    let mut jobs = Vec::with_capacity(args.concurrency);
    for payload in &payloads {
        let mut request = JobRequest::new(function.to_owned(), payload.clone());
        if args.background {
            request = request.in_background();
        }
        jobs.push(client.submit(request));
    }
    let mut admin = Admin::connect(addr)
        .await
        .map_err(|err| format!("admin connection to {addr}: {err}"))?;
    let progress = Progress::new(args.concurrency as u64);
    loop {
        let rows = admin.status().await.map_err(|err| err.to_string())?;
        let queued = rows
            .iter()
            .find(|row| row.function == function.as_bytes())
            .map_or(0, |row| row.total);
        progress.finished(queued);
        if queued >= args.concurrency as u64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Let the client take in the last acknowledgements.
    tokio::time::sleep(Duration::from_millis(200)).await;
    progress.done();
    let after = memory::resident_bytes();
    let line = memory::report(label, jobs.len(), before, after);
    drop(jobs);
    Ok(Finished {
        line,
        all_correct: true,
    })
}
