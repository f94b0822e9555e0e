//! The scenarios, written once against [`Harness`]. Each one asserts
//! outcomes that a wrong adapter (or core) would get wrong; waits are only
//! for observable conditions, with [`PATIENCE`](crate::PATIENCE) as a
//! safety net.

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use gearman_proto::Priority;
use gearman_proto::admin::{MaxQueueLimits, StatusRow};
use gearman_proto::client::{
    ClientConfig, ClientError, CronSchedule, JobHandle, JobRequest, ServerId,
};
use gearman_proto::worker::WorkerConfig;

use crate::env::{Env, Gate, eventually, name};
use crate::harness::{
    Failure, Functions, Handler, Harness, JobContext, Outcome, Refusal, TestAdmin, TestClient,
    TestJob, TestWorker, Update,
};

/// An address where nothing listens: binding port 1 takes privileges that
/// no test has, so nobody else can be there either.
const DOWN: &str = "127.0.0.1:1";

/// A handler from a closure.
pub fn handler(
    f: impl Fn(&dyn JobContext) -> Result<Bytes, Refusal> + Send + Sync + 'static,
) -> Handler {
    Arc::new(f)
}

fn reverse() -> Handler {
    handler(|job| Ok(back_to_front(&job.payload())))
}

/// `payload` back to front: what [`reverse`] completes with.
fn back_to_front(payload: &[u8]) -> Bytes {
    payload.iter().rev().copied().collect::<Vec<u8>>().into()
}

/// Completes with the payload after `gate` lets it through.
fn held(gate: &Arc<Gate>) -> Handler {
    let gate = gate.clone();
    handler(move |job| {
        gate.pass();
        Ok(job.payload())
    })
}

/// Records each payload, then completes with it.
fn recording(seen: &Arc<Mutex<Vec<Bytes>>>) -> Handler {
    let seen = seen.clone();
    handler(move |job| {
        seen.lock().unwrap().push(job.payload());
        Ok(job.payload())
    })
}

fn functions<const N: usize>(list: [(&str, Handler); N]) -> Functions {
    list.into_iter()
        .map(|(name, handler)| (name.to_owned(), handler))
        .collect()
}

fn complete(data: &str) -> Result<Outcome, Failure> {
    Ok(Outcome::Complete(Bytes::copy_from_slice(data.as_bytes())))
}

fn reversed(data: &str) -> Result<Outcome, Failure> {
    complete(&data.chars().rev().collect::<String>())
}

fn stop<W: TestWorker>(worker: W) {
    worker.request_shutdown();
    worker.join().expect("the worker stops cleanly");
}

fn background<C: TestClient>(client: &C, request: JobRequest) -> JobHandle {
    match client.submit(request.in_background()).outcome() {
        Ok(Outcome::Queued(handle)) => {
            assert!(!handle.handle.is_empty(), "a handle is never empty");
            handle
        }
        other => panic!("background submit: {other:?}"),
    }
}

fn status_row<A: TestAdmin>(admin: &mut A, function: &str) -> Option<StatusRow> {
    admin
        .status()
        .expect("admin status")
        .into_iter()
        .find(|row| &row.function[..] == function.as_bytes())
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// Every submit form: foreground at each priority, with a unique id, reduce;
/// background at each priority, epoch and reduce; SCHED refused by the
/// server; fifty jobs in flight from one thread; echo.
pub fn submit_forms<H: Harness>(env: &Env<H>) {
    let f = name("reverse");
    let bg = name("bg");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let worker = env.harness.worker(
        env.worker_config().with_concurrency(4),
        functions([(&f, reverse()), (&bg, recording(&seen))]),
    );
    let client = env.client();
    for priority in [Priority::High, Priority::Normal, Priority::Low] {
        let job = client.submit(JobRequest::new(f.clone(), "abc").with_priority(priority));
        assert_eq!(job.outcome(), reversed("abc"), "{priority:?}");
    }
    let job = client.submit(JobRequest::new(f.clone(), "unique").with_unique(name("u")));
    assert_eq!(job.outcome(), reversed("unique"));
    let job = client.submit(JobRequest::new(f.clone(), "reduce").with_reducer("none"));
    assert_eq!(job.outcome(), reversed("reduce"));

    let requests = [
        JobRequest::new(bg.clone(), "h").with_priority(Priority::High),
        JobRequest::new(bg.clone(), "n"),
        JobRequest::new(bg.clone(), "l").with_priority(Priority::Low),
        JobRequest::new(bg.clone(), "e").at_epoch(unix_now().saturating_sub(1)),
        JobRequest::new(bg.clone(), "r").with_reducer("none"),
    ];
    let handles: Vec<JobHandle> = requests
        .into_iter()
        .map(|request| background(&client, request))
        .collect();
    for (i, a) in handles.iter().enumerate() {
        assert_eq!(a.server, ServerId(0));
        assert!(handles[i + 1..].iter().all(|b| b != a), "handles differ");
    }
    eventually("every background job ran", || {
        seen.lock().unwrap().len() == 5
    });
    let mut ran = seen.lock().unwrap().clone();
    ran.sort();
    assert_eq!(ran, ["e", "h", "l", "n", "r"]);

    let cron = CronSchedule {
        minute: 0,
        hour: 0,
        day_of_month: 1,
        month: 1,
        day_of_week: 0,
    };
    match client
        .submit(JobRequest::new(bg.clone(), "s").with_cron(cron))
        .outcome()
    {
        Err(Failure::Client(ClientError::ServerError { code, .. })) => {
            assert_eq!(code, "INVALID_COMMAND");
        }
        other => panic!("SUBMIT_JOB_SCHED should be refused, got {other:?}"),
    }

    let jobs: Vec<_> = (0..50)
        .map(|i| client.submit(JobRequest::new(f.clone(), format!("job-{i}"))))
        .collect();
    for (i, job) in jobs.into_iter().enumerate() {
        assert_eq!(job.outcome(), reversed(&format!("job-{i}")));
    }
    assert_eq!(client.echo(b"ping"), Ok(Bytes::from_static(b"ping")));
    stop(worker);
}

/// Queued jobs are taken high before normal before low.
pub fn priorities<H: Harness>(env: &Env<H>) {
    let f = name("prio");
    let client = env.client();
    for (payload, priority) in [
        ("low", Priority::Low),
        ("normal", Priority::Normal),
        ("high", Priority::High),
        ("low2", Priority::Low),
        ("high2", Priority::High),
    ] {
        background(
            &client,
            JobRequest::new(f.clone(), payload).with_priority(priority),
        );
    }
    let seen = Arc::new(Mutex::new(Vec::new()));
    let worker = env.worker(functions([(&f, recording(&seen))]));
    eventually("every job ran", || seen.lock().unwrap().len() == 5);
    assert_eq!(
        *seen.lock().unwrap(),
        ["high", "high2", "normal", "low", "low2"]
    );
    stop(worker);
}

/// Submits with the same function and unique id become one job: the
/// handler runs once and every submitter gets its result.
/// GET_STATUS_UNIQUE counts the waiting clients.
pub fn unique_coalescing<H: Harness>(env: &Env<H>) {
    let f = name("coalesce");
    let unique = name("u");
    let client = env.client();
    let other = env.client();
    let first = client.submit(JobRequest::new(f.clone(), "1").with_unique(unique.clone()));
    let second = client.submit(JobRequest::new(f.clone(), "2").with_unique(unique.clone()));
    let waiting = |clients| {
        let status = client.status_unique(unique.as_bytes()).unwrap();
        status.known && status.waiting_clients == clients
    };
    eventually("two submits wait on the one job", || waiting(2));
    let third = other.submit(JobRequest::new(f.clone(), "3").with_unique(unique.clone()));
    eventually("a client on another connection joins", || waiting(3));
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = runs.clone();
    let worker = env.worker(functions([(
        &f,
        handler(move |job| {
            counter.fetch_add(1, Ordering::SeqCst);
            Ok(job.payload())
        }),
    )]));
    assert_eq!(first.outcome(), complete("1"));
    assert_eq!(
        second.outcome(),
        complete("1"),
        "the first submit's payload"
    );
    assert_eq!(third.outcome(), complete("1"), "across connections too");
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the handler ran once");

    // Background submits coalesce too: one handle, one run.
    let g = name("bgcoalesce");
    let unique = name("bu");
    let a = background(
        &client,
        JobRequest::new(g.clone(), "a").with_unique(unique.clone()),
    );
    let b = background(
        &other,
        JobRequest::new(g.clone(), "b").with_unique(unique.clone()),
    );
    assert_eq!(a, b, "the same job");
    let mut admin = env.admin();
    let row = status_row(&mut admin, &g).expect("the function is known");
    assert_eq!(row.total, 1, "one job queued");
    stop(worker);
}

/// Data, warnings and status reach the client in order, then the end;
/// WORK_FAIL and WORK_EXCEPTION end jobs as such (an exception is a failure
/// for a client that did not ask for exceptions); a panicking handler fails
/// its job and the worker goes on.
pub fn updates_and_ends<H: Harness>(env: &Env<H>) {
    let f = name("progress");
    let fail = format!("{f}_fail");
    let exception = format!("{f}_exception");
    let panics = format!("{f}_panic");
    let worker = env.harness.worker(
        env.worker_config(),
        functions([
            (
                &f,
                handler(|job| {
                    job.send_status(1, 2);
                    job.send_data(b"a");
                    job.send_warning(b"careful");
                    job.send_status(2, 2);
                    job.send_data(b"b");
                    Ok(Bytes::from_static(b"done"))
                }),
            ),
            (&fail, handler(|_| Err(Refusal::Fail))),
            (
                &exception,
                handler(|job| Err(Refusal::Exception(job.payload()))),
            ),
            (
                &panics,
                handler(|_| panic!("this handler panics on purpose")),
            ),
        ]),
    );
    let client = env.client();
    let mut job = client.submit(JobRequest::new(f.clone(), ""));
    let mut updates = Vec::new();
    while let Some(update) = job.next_update() {
        updates.push(update);
    }
    assert_eq!(
        updates,
        [
            Update::Status(1, 2),
            Update::Data(Bytes::from_static(b"a")),
            Update::Warning(Bytes::from_static(b"careful")),
            Update::Status(2, 2),
            Update::Data(Bytes::from_static(b"b")),
        ]
    );
    let handle = job.handle().expect("the handle is known once created");
    assert!(!handle.handle.is_empty());
    assert_eq!(job.outcome(), complete("done"));

    assert_eq!(
        client.submit(JobRequest::new(fail.clone(), "")).outcome(),
        Ok(Outcome::Fail)
    );
    assert_eq!(
        client
            .submit(JobRequest::new(exception.clone(), "oops"))
            .outcome(),
        Ok(Outcome::Exception(Bytes::from_static(b"oops")))
    );
    let plain = env
        .harness
        .client(env.client_config().with_exceptions(false));
    assert_eq!(
        plain.submit(JobRequest::new(exception, "oops")).outcome(),
        Ok(Outcome::Fail),
        "without the exceptions option an exception is a failure"
    );
    assert_eq!(
        client.submit(JobRequest::new(panics, "")).outcome(),
        Ok(Outcome::Fail)
    );
    // Still serving after the panic.
    assert_eq!(
        client.submit(JobRequest::new(f, "")).outcome(),
        complete("done")
    );
    stop(worker);
}

/// GET_STATUS and GET_STATUS_UNIQUE for a queued job, a running job with
/// progress, a finished job and a job that never existed.
pub fn status_queries<H: Harness>(env: &Env<H>) {
    let f = name("status");
    let unique = name("u");
    let client = env.client();
    let handle = background(
        &client,
        JobRequest::new(f.clone(), "x").with_unique(unique.clone()),
    );
    let status = client.status(&handle).unwrap();
    assert_eq!(status.handle, handle);
    assert!(status.known && !status.running, "{status:?}");
    assert_eq!((status.numerator, status.denominator), (0, 0));
    let by_unique = client.status_unique(unique.as_bytes()).unwrap();
    assert!(by_unique.known && !by_unique.running, "{by_unique:?}");
    assert_eq!(
        by_unique.waiting_clients, 0,
        "a background job has no client"
    );

    let gate = Arc::new(Gate::new());
    let held_gate = gate.clone();
    let worker = env.worker(functions([(
        &f,
        handler(move |job| {
            job.send_status(1, 2);
            held_gate.pass();
            Ok(Bytes::new())
        }),
    )]));
    gate.wait_for("the job runs", |s| s.entered == 1);
    eventually("the status shows progress", || {
        let status = client.status(&handle).unwrap();
        assert!(status.known, "{status:?}");
        status.running && (status.numerator, status.denominator) == (1, 2)
    });
    let by_unique = client.status_unique(unique.as_bytes()).unwrap();
    assert!(by_unique.known && by_unique.running, "{by_unique:?}");
    assert_eq!((by_unique.numerator, by_unique.denominator), (1, 2));
    gate.open();
    eventually("the finished job is forgotten", || {
        !client.status(&handle).unwrap().known
    });
    assert!(!client.status_unique(unique.as_bytes()).unwrap().known);

    let nowhere = JobHandle {
        server: ServerId(0),
        handle: Bytes::from_static(b"H:nowhere:1"),
    };
    let status = client.status(&nowhere).unwrap();
    assert!(!status.known && !status.running, "{status:?}");
    let never = client.status_unique(name("never").as_bytes()).unwrap();
    assert!(!never.known && !never.running, "{never:?}");
    stop(worker);
}

/// A background job belongs to the server: it runs after its client has
/// gone, on a worker that starts later.
pub fn background_jobs<H: Harness>(env: &Env<H>) {
    let f = name("later");
    let handles: Vec<JobHandle> = {
        let client = env.client();
        (0..3)
            .map(|i| background(&client, JobRequest::new(f.clone(), format!("{i}"))))
            .collect()
    };
    let seen = Arc::new(Mutex::new(Vec::new()));
    let worker = env.worker(functions([(&f, recording(&seen))]));
    eventually("the jobs ran", || seen.lock().unwrap().len() == 3);
    assert_eq!(*seen.lock().unwrap(), ["0", "1", "2"]);
    let client = env.client();
    for handle in &handles {
        eventually("the job is finished", || {
            !client.status(handle).unwrap().known
        });
    }
    stop(worker);
}

/// A client and a worker configured with a server that is down keep working
/// with the one that is up, whichever order they are listed in.
pub fn many_servers_one_down<H: Harness>(env: &Env<H>) {
    let down = DOWN.to_owned();
    let f = name("reverse");
    let fast = |servers: [String; 2]| {
        ClientConfig::new(servers)
            .with_backoff(Duration::from_millis(10), Duration::from_millis(100))
    };
    let worker = env.harness.worker(
        WorkerConfig::new([down.clone(), env.addr()])
            .with_backoff(Duration::from_millis(10), Duration::from_millis(100)),
        functions([(&f, reverse())]),
    );
    for servers in [[down.clone(), env.addr()], [env.addr(), down.clone()]] {
        let client = env.harness.client(fast(servers));
        // One at a time, so each meets the down server in turn.
        for i in 0..5 {
            let payload = format!("one-{i}");
            let job = client.submit(JobRequest::new(f.clone(), payload.clone()));
            assert_eq!(job.outcome(), reversed(&payload));
        }
        // And many at once.
        let jobs: Vec<_> = (0..10)
            .map(|i| client.submit(JobRequest::new(f.clone(), format!("many-{i}"))))
            .collect();
        for (i, job) in jobs.into_iter().enumerate() {
            assert_eq!(job.outcome(), reversed(&format!("many-{i}")));
        }
    }
    stop(worker);
}

/// The server goes away while a job runs: the waiting client gets an
/// explicit error saying the job had been accepted. When the server is back
/// on the same port, the worker reconnects and registers again, and the
/// same client's new jobs complete.
pub fn server_restart<H: Harness>(env: &Env<H>) {
    let hold = name("hold");
    let f = name("reverse");
    let id = name("restarted");
    let gate = Arc::new(Gate::new());
    let worker = env.harness.worker(
        env.worker_config().with_client_id(id.clone()),
        functions([(&hold, held(&gate)), (&f, reverse())]),
    );
    let client = env.client();
    let job = client.submit(JobRequest::new(hold.clone(), "x"));
    gate.wait_for("the job runs", |s| s.entered == 1);
    env.stop_server();
    assert_eq!(
        job.outcome(),
        Err(Failure::Client(ClientError::Disconnected {
            acknowledged: true
        }))
    );
    // The handler ends after its connection is gone; its result is dropped.
    gate.open();
    env.restart_server();

    let start = Instant::now();
    loop {
        match client.submit(JobRequest::new(f.clone(), "abc")).outcome() {
            Ok(outcome) => {
                assert_eq!(Ok(outcome), reversed("abc"));
                break;
            }
            // While the client backs off from the dead connection.
            Err(Failure::Client(ClientError::NoServer { .. }))
            | Err(Failure::Client(ClientError::Disconnected {
                acknowledged: false,
            })) => {
                assert!(
                    start.elapsed() < crate::PATIENCE,
                    "the client never came back"
                );
                std::thread::sleep(Duration::from_millis(10));
            }
            other => panic!("after the restart: {other:?}"),
        }
    }
    let mut admin = env.admin();
    let workers = admin.workers().unwrap();
    let row = workers
        .iter()
        .find(|row| &row.client_id[..] == id.as_bytes())
        .unwrap_or_else(|| panic!("the worker registered again: {workers:?}"));
    for function in [&hold, &f] {
        assert!(
            row.functions.iter().any(|g| &g[..] == function.as_bytes()),
            "{function} registered again: {row:?}"
        );
    }
    stop(worker);
}

/// A worker never holds more jobs than its concurrency, and uses all of it.
pub fn concurrency_limit<H: Harness>(env: &Env<H>) {
    const LIMIT: usize = 2;
    const JOBS: usize = 6;
    let f = name("limited");
    let gate = Arc::new(Gate::new());
    let worker = env.harness.worker(
        env.worker_config().with_concurrency(LIMIT),
        functions([(&f, held(&gate))]),
    );
    let client = env.client();
    let jobs: Vec<_> = (0..JOBS)
        .map(|i| client.submit(JobRequest::new(f.clone(), format!("{i}"))))
        .collect();
    gate.wait_for("the limit is reached", |s| s.inside == LIMIT);
    let mut admin = env.admin();
    let row = status_row(&mut admin, &f).expect("the function is known");
    assert_eq!((row.total, row.running), (JOBS as u64, LIMIT as u64));
    // Let one go at a time: the next one takes its slot, never more.
    for done in 1..=JOBS {
        gate.release(1);
        let state = gate.wait_for("a job left and the next one came", |s| {
            s.left == done && s.inside == LIMIT.min(JOBS - done)
        });
        assert!(state.peak <= LIMIT, "{state:?}");
    }
    assert_eq!(gate.state().peak, LIMIT);
    for (i, job) in jobs.into_iter().enumerate() {
        assert_eq!(job.outcome(), complete(&i.to_string()));
    }
    stop(worker);
}

/// A worker with room for several jobs on one connection takes jobs queued
/// before it came several grabs at a time: it never holds more than its
/// concurrency (by its handlers and by the server's count), each job runs
/// exactly once, and every submitter gets its own result.
pub fn pipelined_grabs<H: Harness>(env: &Env<H>) {
    const LIMIT: usize = 4;
    const JOBS: usize = 24;
    let f = name("pipelined");
    let gate = Arc::new(Gate::new());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let counted = {
        let (gate, seen) = (gate.clone(), seen.clone());
        handler(move |job| {
            seen.lock().unwrap().push(job.payload());
            gate.pass();
            Ok(job.payload())
        })
    };
    let client = env.client();
    let jobs: Vec<_> = (0..JOBS)
        .map(|i| client.submit(JobRequest::new(f.clone(), format!("{i}"))))
        .collect();
    // Replies come in order: once the echo is back every job is queued.
    client.echo(b"sync").expect("echo");
    let worker = env.harness.worker(
        env.worker_config().with_concurrency(LIMIT),
        functions([(&f, counted)]),
    );
    gate.wait_for("the limit is reached", |s| s.inside == LIMIT);
    let mut admin = env.admin();
    let row = status_row(&mut admin, &f).expect("the function is known");
    assert_eq!((row.total, row.running), (JOBS as u64, LIMIT as u64));
    // Two at a time, so that slots free together and grabs go out together.
    for done in (2..=JOBS).step_by(2) {
        gate.release(2);
        let state = gate.wait_for("two jobs left and the next ones came", |s| {
            s.left == done && s.inside == LIMIT.min(JOBS - done)
        });
        assert!(state.peak <= LIMIT, "{state:?}");
    }
    for (i, job) in jobs.into_iter().enumerate() {
        assert_eq!(job.outcome(), complete(&i.to_string()));
    }
    let mut seen: Vec<usize> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|payload| std::str::from_utf8(payload).unwrap().parse().unwrap())
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..JOBS).collect::<Vec<_>>(), "each job ran once");
    stop(worker);
}

/// A client capped at two jobs in flight sends a third submit only once
/// one of the first two has ended, though the worker could run more.
pub fn jobs_in_flight_cap<H: Harness>(env: &Env<H>) {
    const CAP: usize = 2;
    let f = name("capped");
    let gate = Arc::new(Gate::new());
    let worker = env.harness.worker(
        env.worker_config().with_concurrency(CAP + 2),
        functions([(&f, held(&gate))]),
    );
    let client = env
        .harness
        .client(env.client_config().with_max_jobs_in_flight(Some(CAP)));
    let jobs: Vec<_> = (0..=CAP)
        .map(|i| client.submit(JobRequest::new(f.clone(), format!("{i}"))))
        .collect();
    gate.wait_for("the cap is reached", |s| s.inside == CAP);
    // The server answers in order on a connection: once the echo is back,
    // it has seen every submit sent before it.
    client.echo(b"sync").expect("echo");
    let mut admin = env.admin();
    let row = status_row(&mut admin, &f).expect("the function is known");
    assert_eq!(
        row.total, CAP as u64,
        "a submit past the cap reached the server"
    );

    gate.release(1);
    gate.wait_for("the held submit went out and runs", |s| {
        s.entered == CAP + 1 && s.left == 1
    });
    gate.open();
    for (i, job) in jobs.into_iter().enumerate() {
        assert_eq!(job.outcome(), complete(&i.to_string()));
    }
    stop(worker);
}

/// A handler's own log happens inside the job's span, which names the
/// function, the job handle and the server's address.
pub fn job_span<H: Harness>(env: &Env<H>) {
    crate::spans::recorded_events();
    let f = name("traced");
    let marker = f.clone();
    let traced = handler(move |job| {
        tracing::info!(marker = marker.as_str(), "handler ran");
        Ok(job.payload())
    });
    let worker = env.worker(functions([(&f, traced)]));
    let client = env.client();
    let job = client.submit(JobRequest::new(f.clone(), "x"));
    assert_eq!(job.outcome(), complete("x"));
    stop(worker);
    let events = crate::spans::recorded_events();
    let ran = events
        .iter()
        .find(|event| event.fields.get("marker") == Some(&f))
        .expect("the handler's event was recorded");
    let span = ran.spans.first().expect("the handler ran inside a span");
    assert_eq!(span.name, gearman_proto::observe::JOB_SPAN);
    assert_eq!(span.fields.get("function"), Some(&f));
    assert_eq!(span.fields.get("server"), Some(&env.addr()));
    assert!(
        span.fields.get("handle").is_some_and(|h| !h.is_empty()),
        "{span:?}"
    );
}

/// A client's submit is followed in its span, which names the function,
/// the unique id, and once the server accepts the job its address and the
/// handle. The caller's own wait for the job runs in it too: the span is
/// entered on the caller's thread after the server accepted the job (the
/// adapter's wait, not only the core's delivery elsewhere), and closes only
/// after that wait.
pub fn submit_span<H: Harness>(env: &Env<H>) {
    use crate::spans::SpanTrace;

    crate::spans::recorded_events();
    let f = name("followed");
    let unique = name("u");
    let worker = env.worker(functions([(&f, reverse())]));
    let client = env.client();
    let job = client.submit(JobRequest::new(f.clone(), "x").with_unique(unique.clone()));
    assert_eq!(job.outcome(), complete("x"));
    let caller = std::thread::current().id();
    stop(worker);
    let traces = crate::spans::span_traces();
    let id = traces
        .iter()
        .find_map(|trace| match trace {
            SpanTrace::Opened { id, span }
                if span.name == gearman_proto::observe::SUBMIT_SPAN
                    && span.fields.get("function") == Some(&f) =>
            {
                Some(*id)
            }
            _ => None,
        })
        .expect("the submit's span was opened");
    let accepted = traces
        .iter()
        .position(|trace| matches!(trace, SpanTrace::Recorded { id: at, fields } if *at == id && fields.contains_key("handle")))
        .expect("the span was given the job's handle");
    // On the caller's thread: inside the span at some point after the
    // server accepted the job (entered for a whole blocking wait, or at the
    // poll that returns the outcome).
    let on_caller = |trace: &SpanTrace| match trace {
        SpanTrace::Entered { id: at, thread } if *at == id && *thread == caller => 1,
        SpanTrace::Exited { id: at, thread } if *at == id && *thread == caller => -1,
        _ => 0,
    };
    let inside_at_acceptance = traces[..accepted].iter().map(on_caller).sum::<i32>() > 0;
    let entered_later = traces[accepted..].iter().any(|trace| on_caller(trace) == 1);
    assert!(
        inside_at_acceptance || entered_later,
        "the caller's wait was not in the span after the job was accepted"
    );
    let left = traces
        .iter()
        .rposition(|trace| on_caller(trace) == -1)
        .expect("the caller left the span");
    // The core lets its copy go just after handing over the end, perhaps on
    // another thread: wait for the close.
    let is_closed = |trace: &SpanTrace| matches!(trace, SpanTrace::Closed { id: at } if *at == id);
    eventually("the span closes", || {
        crate::spans::span_traces().iter().any(is_closed)
    });
    let closed = crate::spans::span_traces()
        .iter()
        .position(is_closed)
        .expect("closed");
    assert!(
        closed > left,
        "closed at {closed}, before the caller left it at {left}"
    );
    let events = crate::spans::recorded_events();
    let span = events
        .iter()
        .flat_map(|event| &event.spans)
        .find(|span| {
            span.name == gearman_proto::observe::SUBMIT_SPAN
                && span.fields.get("function") == Some(&f)
        })
        .expect("an event was recorded inside the submit's span");
    assert_eq!(span.fields.get("unique"), Some(&unique), "{span:?}");
    assert_eq!(span.fields.get("server"), Some(&env.addr()), "{span:?}");
    assert!(
        span.fields.get("handle").is_some_and(|h| !h.is_empty()),
        "{span:?}"
    );
}

/// A graceful shutdown lets the running job finish and deliver its result,
/// then unregisters the worker; a worker with nothing running stops at once.
pub fn graceful_shutdown<H: Harness>(env: &Env<H>) {
    let f = name("finishing");
    let gate = Arc::new(Gate::new());
    let worker = env.harness.worker(
        env.worker_config().with_concurrency(2),
        functions([(&f, held(&gate))]),
    );
    let client = env.client();
    let job = client.submit(JobRequest::new(f.clone(), "last"));
    gate.wait_for("the job runs", |s| s.entered == 1);
    worker.request_shutdown();
    gate.open();
    worker.join().expect("the worker stops cleanly");
    assert_eq!(job.outcome(), complete("last"));
    let mut admin = env.admin();
    eventually("the worker is gone from the server", || {
        status_row(&mut admin, &f).is_none_or(|row| row.workers == 0)
    });

    let idle = env.worker(functions([(&f, reverse())]));
    stop(idle);
}

/// A client closed right after its last submits: the close returns only
/// once a foreground job in flight has its result and every background
/// job is queued; the server holds each of those exactly once; the
/// client's clones are refused from the close on.
pub fn client_close<H: Harness>(env: &Env<H>) {
    const N: usize = 100;
    let fg = name("closing_fg");
    let bg = name("closing_bg");
    let gate = Arc::new(Gate::new());
    let worker = env.worker(functions([(&fg, held(&gate))]));
    let client = env.client();
    let other = client.clone();
    let running = client.submit(JobRequest::new(fg.clone(), "last"));
    gate.wait_for("the foreground job runs", |s| s.entered == 1);
    let queued: Vec<_> = (0..N)
        .map(|i| client.submit(JobRequest::new(bg.clone(), i.to_string()).in_background()))
        .collect();
    let closing = std::thread::spawn(move || client.close());
    eventually(
        "the close refuses calls",
        || matches!(other.echo(b"late"), Err(Failure::Other(text)) if text.contains("closing")),
    );
    assert!(!closing.is_finished(), "closed while a job ran");
    gate.open();
    closing
        .join()
        .expect("the close does not panic")
        .expect("the client closes");
    assert_eq!(running.outcome(), complete("last"));
    for job in queued {
        assert!(matches!(job.outcome(), Ok(Outcome::Queued(_))));
    }
    assert!(other.echo(b"after").is_err(), "a closed client answered");

    let mut admin = env.admin();
    let row = status_row(&mut admin, &bg).expect("the background jobs are queued");
    assert_eq!(row.total, N as u64, "{row:?}");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let counter = env.worker(functions([(&bg, recording(&seen))]));
    eventually("every background job ran", || {
        seen.lock().unwrap().len() >= N
    });
    let mut payloads: Vec<usize> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|p| std::str::from_utf8(p).unwrap().parse().unwrap())
        .collect();
    payloads.sort_unstable();
    assert_eq!(payloads, (0..N).collect::<Vec<_>>(), "each exactly once");
    stop(counter);
    stop(worker);
}

/// A job deadline ends a job nobody runs, a request timeout ends a submit a
/// server never answers, and with no server up a submit, a status query
/// and an echo end at once.
pub fn timeouts<H: Harness>(env: &Env<H>) {
    let client = env.client();
    // Connected first, so that the deadline only has to cover the job's
    // acknowledgement, even on a loaded machine.
    client.echo(b"connect").expect("echo");
    let start = Instant::now();
    let job = client
        .submit(JobRequest::new(name("nobody"), "x").with_deadline(Duration::from_millis(500)));
    assert_eq!(
        job.outcome(),
        Err(Failure::Client(ClientError::Timeout { acknowledged: true }))
    );
    assert!(start.elapsed() >= Duration::from_millis(500));

    // Accepts connections (the kernel does) and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_addr = silent.local_addr().unwrap().to_string();
    // The exceptions option goes out ahead of the submit under the same
    // deadline; the submit is what times out.
    let stuck = env.harness.client(
        ClientConfig::new([silent_addr])
            .with_request_timeout(Some(Duration::from_millis(200)))
            .with_submit_retries(0),
    );
    assert_eq!(
        stuck.submit(JobRequest::new("any", "x")).outcome(),
        Err(Failure::Client(ClientError::Timeout {
            acknowledged: false
        }))
    );

    let down = env.harness.client(ClientConfig::new([DOWN]));
    let start = Instant::now();
    // The connect fails, so the submit never left; the error names the
    // server and the socket error, for this request and the next.
    let refused = |result: Result<_, Failure>| match result {
        Err(Failure::Client(ClientError::NoServer { cause: Some(cause) })) => {
            assert_eq!(cause.addr(), DOWN);
            assert_eq!(
                cause.io_error().kind(),
                std::io::ErrorKind::ConnectionRefused
            );
        }
        other => panic!("expected NoServer with the connect failure, got {other:?}"),
    };
    refused(down.submit(JobRequest::new("any", "x")).outcome().map(drop));
    let handle = JobHandle {
        server: ServerId(0),
        handle: Bytes::from_static(b"H:x:1"),
    };
    refused(down.status(&handle).map(drop));
    let echo = down.echo(b"x");
    assert!(matches!(echo, Err(Failure::Client(_))), "{echo:?}");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "no waiting on a down server"
    );
}

/// A server that accepts connections but stopped answering (a bound
/// listener that never accepts: the kernel completes the handshakes) costs
/// a long-lived client one request timeout; its later jobs go to the other
/// server, though the stopped one keeps accepting reconnections.
pub fn frozen_server_failover<H: Harness>(env: &Env<H>) {
    const REQUEST_TIMEOUT: Duration = Duration::from_millis(500);
    const BACKOFF: Duration = Duration::from_millis(10);
    const JOBS: usize = 10;
    let frozen = TcpListener::bind("127.0.0.1:0").unwrap();
    let f = name("reverse");
    let worker = env.worker(functions([(&f, reverse())]));
    let client = env.harness.client(
        ClientConfig::new([frozen.local_addr().unwrap().to_string(), env.addr()])
            .with_exceptions(true)
            .with_request_timeout(Some(REQUEST_TIMEOUT))
            .with_backoff(BACKOFF, BACKOFF),
    );
    let start = Instant::now();
    let mut slow = 0;
    for i in 0..JOBS {
        let payload = format!("job-{i}");
        let submitted = Instant::now();
        match client
            .submit(JobRequest::new(f.clone(), payload.clone()))
            .outcome()
        {
            Ok(outcome) => assert_eq!(Ok(outcome), reversed(&payload)),
            // A submit first sent to the frozen server may end with the
            // timeout (or move on, when an option request waited first).
            Err(Failure::Client(ClientError::Timeout {
                acknowledged: false,
            })) => {}
            other => panic!("job {i}: {other:?}"),
        }
        if submitted.elapsed() >= REQUEST_TIMEOUT {
            slow += 1;
        }
        // Jobs spread over time, as a long-lived client's are: the frozen
        // server's backoff runs out and it is reconnected in between.
        std::thread::sleep(3 * BACKOFF);
    }
    let elapsed = start.elapsed();
    assert!(slow <= 1, "{slow} jobs waited on the frozen server");
    assert!(
        elapsed < 4 * REQUEST_TIMEOUT,
        "{JOBS} jobs took {elapsed:?} with a request timeout of {REQUEST_TIMEOUT:?}"
    );
    stop(worker);
}

/// Against a server that drops OPTION_REQ without a reply, a client that
/// asks for exceptions still gets its foreground and background jobs and
/// status answers, all on one connection.
pub fn option_ignoring_server<H: Harness>() {
    let server = crate::fake::OptionIgnoringServer::start();
    let harness = H::new();
    let client = harness.client(ClientConfig::new([server.addr()]).with_exceptions(true));
    for i in 0..3 {
        let payload = format!("fg-{i}");
        let job = client.submit(JobRequest::new("reverse", payload.clone()));
        assert_eq!(job.outcome(), reversed(&payload));
    }
    let handle = background(&client, JobRequest::new("later", "x").in_background());
    let status = client.status(&handle).expect("a status answer");
    assert!(!status.known);
}

/// The admin commands, typed: status, workers, version, getpid, show jobs,
/// maxqueue, cancel job, and an unknown command.
pub fn admin_commands<H: Harness>(env: &Env<H>) {
    let f = name("served");
    let queued = name("queued");
    let id = name("admin-worker");
    let worker = env.harness.worker(
        env.worker_config().with_client_id(id.clone()),
        functions([(&f, reverse())]),
    );
    let mut admin = env.admin();
    eventually("the worker registers", || {
        status_row(&mut admin, &f).is_some_and(|row| row.workers == 1)
    });
    let workers = admin.workers().unwrap();
    let row = workers
        .iter()
        .find(|row| &row.client_id[..] == id.as_bytes())
        .unwrap_or_else(|| panic!("our worker is listed: {workers:?}"));
    assert_eq!(row.functions, [Bytes::from(f.clone())]);
    assert!(!admin.version().unwrap().is_empty());
    assert_eq!(Some(admin.getpid().unwrap()), env.server_pid());

    let client = env.client();
    let first = background(&client, JobRequest::new(queued.clone(), "1"));
    let second = background(&client, JobRequest::new(queued.clone(), "2"));
    let row = status_row(&mut admin, &queued).expect("the function is known");
    assert_eq!((row.total, row.running, row.workers), (2, 0, 0));
    let jobs = admin.show_jobs().unwrap();
    for handle in [&first, &second] {
        assert!(
            jobs.iter().any(|job| job.handle == handle.handle),
            "{handle:?} in {jobs:?}"
        );
    }
    admin.maxqueue(&queued, MaxQueueLimits::All(2)).unwrap();
    match client
        .submit(JobRequest::new(queued.clone(), "3").in_background())
        .outcome()
    {
        Err(Failure::Client(ClientError::ServerError { code, .. })) => {
            assert_eq!(code, "QUEUE_ERROR");
        }
        other => panic!("the full queue should refuse the job, got {other:?}"),
    }
    admin.cancel_job(&first.handle).unwrap();
    let jobs = admin.show_jobs().unwrap();
    let cancelled = jobs.iter().find(|job| job.handle == first.handle);
    assert!(
        cancelled.is_none_or(|job| job.ignored),
        "the cancelled job is gone or ignored: {jobs:?}"
    );
    // Only the job that was not cancelled runs.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let runner = env.worker(functions([(&queued, recording(&seen))]));
    eventually("the remaining job ran", || !seen.lock().unwrap().is_empty());
    eventually("the remaining job is finished", || {
        !client.status(&second).unwrap().known
    });
    assert_eq!(*seen.lock().unwrap(), ["2"]);
    stop(runner);
    let reply = admin.raw("no_such_command").unwrap();
    assert!(reply.is_error(), "{reply:?}");
    // The connection is still usable after the error.
    assert!(status_row(&mut admin, &f).is_some());
    stop(worker);
}

/// Payloads of several megabytes go both ways intact, while small jobs on
/// the same connections keep completing.
pub fn large_payloads<H: Harness>(env: &Env<H>) {
    let f = name("reverse");
    let worker = env.harness.worker(
        env.worker_config().with_concurrency(2),
        functions([(&f, reverse())]),
    );
    let client = env.client();
    let big: Vec<u8> = (0..4 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let expected: Vec<u8> = big.iter().rev().copied().collect();
    let large = client.submit(JobRequest::new(f.clone(), big));
    let small: Vec<_> = (0..10)
        .map(|i| client.submit(JobRequest::new(f.clone(), format!("small-{i}"))))
        .collect();
    for (i, job) in small.into_iter().enumerate() {
        assert_eq!(job.outcome(), reversed(&format!("small-{i}")));
    }
    match large.outcome() {
        Ok(Outcome::Complete(data)) => {
            assert_eq!(data.len(), expected.len());
            assert!(data == expected, "the large result is intact");
        }
        other => panic!("large job: {other:?}"),
    }
    stop(worker);
}

/// Several clients used from several threads at once and several workers:
/// every job completes with its own result and runs exactly once.
pub fn many_clients_and_workers<H: Harness>(env: &Env<H>) {
    const CLIENTS: usize = 4;
    const JOBS: usize = 40;
    let f = name("spread");
    let runs = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..3)
        .map(|_| {
            let runs = runs.clone();
            env.harness.worker(
                env.worker_config().with_concurrency(2),
                functions([(
                    &f,
                    handler(move |job| {
                        runs.fetch_add(1, Ordering::SeqCst);
                        Ok(back_to_front(&job.payload()))
                    }),
                )]),
            )
        })
        .collect();
    let clients: Vec<_> = (0..CLIENTS).map(|_| Arc::new(env.client())).collect();
    std::thread::scope(|scope| {
        for (c, client) in clients.iter().enumerate() {
            // Two threads share each client.
            for t in 0..2 {
                let f = f.clone();
                scope.spawn(move || {
                    let jobs: Vec<_> = (0..JOBS / 2)
                        .map(|i| {
                            let payload = format!("{c}-{t}-{i}");
                            (
                                payload.clone(),
                                client.submit(JobRequest::new(f.clone(), payload)),
                            )
                        })
                        .collect();
                    for (payload, job) in jobs {
                        assert_eq!(job.outcome(), reversed(&payload));
                    }
                });
            }
        }
    });
    assert_eq!(
        runs.load(Ordering::SeqCst),
        CLIENTS * JOBS,
        "each job ran once"
    );
    for worker in workers {
        stop(worker);
    }
}

/// A function registered with CAN_DO_TIMEOUT: a job that overruns it is
/// taken back by the server and given to another worker, whose result
/// reaches the client. (The server's timer covers only the job a
/// connection grabbed last, so each worker runs one job at a time.)
pub fn can_do_timeout_requeue<H: Harness>(env: &Env<H>) {
    let f = name("cdt");
    let runs = Arc::new(AtomicUsize::new(0));
    let overrun = Arc::new(Gate::new());
    let start_worker = || {
        let (runs, overrun) = (runs.clone(), overrun.clone());
        let config = env
            .worker_config()
            .with_function_timeout(f.clone(), Duration::from_secs(1));
        let run = handler(move |_| {
            if runs.fetch_add(1, Ordering::SeqCst) == 0 {
                // The first run overruns its timeout.
                overrun.pass();
            }
            Ok(Bytes::from_static(b"second run"))
        });
        env.harness.worker(config, functions([(&f, run)]))
    };
    let first = start_worker();
    let client = env.client();
    let job = client.submit(JobRequest::new(f.clone(), "x"));
    overrun.wait_for("the first run started", |s| s.entered == 1);
    let second = start_worker();
    assert_eq!(job.outcome(), complete("second run"));
    assert_eq!(runs.load(Ordering::SeqCst), 2, "run again once");
    // The first run ends late; its result goes nowhere, and both workers
    // still stop cleanly.
    overrun.open();
    stop(first);
    stop(second);
}
