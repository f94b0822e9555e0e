//! The blocking client and worker through the blocking embedded server,
//! over real sockets. The full suite is in `conformance.rs`.

use std::time::Duration;

use bytes::Bytes;
use gearman_blocking::{
    Admin, Client, ClientError, Error, JobOutcome, JobRequest, JobUpdate, RunningServer, Server,
    WorkError, Worker, WorkerJob,
};
use gearman_proto::client::ServerId;
use gearman_proto::observe::ConnectionState;

const PATIENCE: Duration = Duration::from_secs(30);

#[test]
fn client_worker_server_admin() {
    let server = Server::bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let addr = server.local_addr().to_string();
    let worker = Worker::new([addr.clone()])
        .concurrency(2)
        .client_id("e2e")
        .function("reverse", |job: &WorkerJob| {
            Ok::<_, WorkError>(job.payload().iter().rev().copied().collect::<Vec<u8>>())
        })
        .function("progress", |job: &WorkerJob| {
            job.send_status(1, 2);
            job.send_data("a");
            job.send_warning("w");
            Ok::<_, WorkError>("done")
        })
        .function("exception", |job: &WorkerJob| {
            Err::<Bytes, _>(WorkError::Exception(job.payload().clone()))
        })
        // Registered twice: the second handler (and CAN_DO_TIMEOUT) wins.
        .function("timed", |_job: &WorkerJob| Ok::<_, WorkError>("first"))
        .function_with_timeout("timed", Duration::from_secs(5), |_job: &WorkerJob| {
            Ok::<_, WorkError>("second")
        })
        .spawn()
        .unwrap();
    let client = Client::new([addr.clone()]).unwrap();

    // Many in flight from one thread.
    let mut jobs: Vec<_> = (0..20)
        .map(|i| client.submit(JobRequest::new("reverse", format!("job-{i}"))))
        .collect();
    for (i, job) in jobs.iter_mut().enumerate() {
        let expected: Vec<u8> = format!("job-{i}").bytes().rev().collect();
        assert_eq!(
            job.wait_timeout(PATIENCE).unwrap(),
            JobOutcome::Complete(expected.into())
        );
    }

    let mut job = client.submit(JobRequest::new("progress", ""));
    let updates: Vec<JobUpdate> = job.by_ref().collect();
    assert_eq!(
        updates,
        vec![
            JobUpdate::Status {
                numerator: 1,
                denominator: 2
            },
            JobUpdate::Data(Bytes::from_static(b"a")),
            JobUpdate::Warning(Bytes::from_static(b"w")),
        ]
    );
    assert!(job.handle().is_some());
    assert_eq!(job.wait().unwrap(), JobOutcome::Complete("done".into()));

    let outcome = client
        .submit(JobRequest::new("exception", "boom"))
        .wait_timeout(PATIENCE)
        .unwrap();
    assert_eq!(outcome, JobOutcome::Exception("boom".into()));
    assert_eq!(client.echo("ping").unwrap(), "ping");
    let outcome = client
        .submit(JobRequest::new("timed", ""))
        .wait_timeout(PATIENCE)
        .unwrap();
    assert_eq!(outcome, JobOutcome::Complete("second".into()));

    let mut admin = Admin::connect(&addr).unwrap();
    let workers = admin.workers().unwrap();
    let ours = workers
        .iter()
        .find(|w| &w.client_id[..] == b"e2e")
        .unwrap_or_else(|| panic!("{workers:?}"));
    let timed = ours.functions.iter().filter(|f| &f[..] == b"timed").count();
    assert_eq!(timed, 1, "registered once: {ours:?}");
    worker.shutdown();
    worker.join().unwrap();
    server.stop().unwrap();
}

/// Admin `workers` rows of plain clients (connections with no functions).
fn client_connections(admin: &mut Admin) -> usize {
    admin
        .workers()
        .unwrap()
        .iter()
        .filter(|row| row.functions.is_empty() && &row.client_id[..] == b"-")
        .count()
}

fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !condition() {
        assert!(start.elapsed() < PATIENCE, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn client_closes_its_connection_once_every_handle_is_gone() {
    let server = Server::bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let addr = server.local_addr().to_string();
    let mut admin = Admin::connect(&addr).unwrap();
    let baseline = client_connections(&mut admin);

    let client = Client::new([addr.clone()]).unwrap();
    assert_eq!(client.echo("hi").unwrap(), "hi");
    let clone = client.clone();
    // A job nobody runs keeps the client alive after the clients are gone.
    let job = clone.submit(JobRequest::new("nobody", "x"));
    drop(client);
    drop(clone);
    assert_eq!(client_connections(&mut admin), baseline + 1);
    drop(job);
    eventually("the client's connection closes", || {
        client_connections(&mut admin) == baseline
    });
    server.stop().unwrap();
}

#[test]
fn dropped_jobs_and_refused_requests_do_not_disturb_the_others() {
    let server = Server::bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let addr = server.local_addr().to_string();
    let worker = Worker::new([addr.clone()])
        .function("chatty", |job: &WorkerJob| {
            for _ in 0..100 {
                job.send_data("update");
            }
            Ok::<_, WorkError>(job.payload().clone())
        })
        .spawn()
        .unwrap();
    let client = Client::new([addr]).unwrap();
    let dropped: Vec<_> = (0..5)
        .map(|i| client.submit(JobRequest::new("chatty", format!("dropped-{i}"))))
        .collect();
    let kept = client.submit(JobRequest::new("chatty", "kept"));
    drop(dropped);
    assert_eq!(
        kept.wait_timeout_owned(),
        JobOutcome::Complete("kept".into())
    );

    let refused = client.submit(JobRequest::new("no\0nul", "x")).wait();
    assert!(
        matches!(refused, Err(gearman_blocking::Error::InvalidRequest(_))),
        "{refused:?}"
    );
    assert_eq!(client.echo("still fine").unwrap(), "still fine");
    worker.shutdown();
    worker.join().unwrap();
}

/// A reduce job's reducer reaches the handler (GRAB_JOB_ALL's assignment
/// carries it), through the same accessor the async adapters' jobs have.
#[test]
fn a_reduce_job_hands_its_reducer_to_the_handler() {
    use gearman_blocking::proto::worker::{GrabMode, WorkerConfig};

    let server = Server::bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let addr = server.local_addr().to_string();
    let config = WorkerConfig::new([addr.clone()]).with_grab(GrabMode::All);
    let worker = Worker::with_config(config)
        .function("mapper", |job: &WorkerJob| {
            Ok::<_, WorkError>(job.reducer().cloned().unwrap_or_default())
        })
        .spawn()
        .unwrap();
    let client = Client::new([addr]).unwrap();
    let job = client.submit(JobRequest::new("mapper", "x").with_reducer("sum"));
    assert_eq!(job.wait_timeout_owned(), JobOutcome::Complete("sum".into()));
    worker.shutdown();
    worker.join().unwrap();
    server.stop().unwrap();
}

#[test]
fn worker_without_servers_refuses_to_run() {
    let worker =
        Worker::new(Vec::<String>::new()).function("f", |_job: &WorkerJob| Ok::<_, WorkError>(""));
    assert!(matches!(
        worker.run(),
        Err(gearman_blocking::Error::Worker(_))
    ));
    assert!(matches!(
        Client::new(Vec::<String>::new()),
        Err(gearman_blocking::Error::Config(_))
    ));
}

/// A wait that runs out is said the one way a timeout is said to a
/// client, and the job goes on: it completes once a worker comes, and
/// its outcome is given out once.
#[test]
fn a_wait_past_its_limit_is_a_client_timeout_and_the_job_goes_on() {
    let server = Server::bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let addr = server.local_addr().to_string();
    let client = Client::new([addr.clone()]).unwrap();
    let mut job = client.submit(JobRequest::new("late", "x"));
    assert!(matches!(
        job.wait_timeout(Duration::from_millis(50)),
        Err(Error::Client(ClientError::Timeout { .. }))
    ));
    let worker = Worker::new([addr])
        .function("late", |_job: &WorkerJob| Ok::<_, WorkError>("done"))
        .spawn()
        .unwrap();
    assert_eq!(
        job.wait_timeout(PATIENCE).unwrap(),
        JobOutcome::Complete("done".into())
    );
    assert!(job.handle().is_some(), "the acknowledgement was kept");
    // The outcome is given out once.
    assert!(matches!(
        job.wait_timeout(PATIENCE),
        Err(Error::InvalidRequest(_))
    ));
    worker.shutdown();
    worker.join().unwrap();
    server.stop().unwrap();
}

/// An admin reply that does not come is a socket timeout, saying how long
/// it waited.
#[test]
fn an_admin_reply_that_does_not_come_is_an_io_timeout() {
    // Connections queue in the backlog; nothing ever answers them.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut admin = Admin::connect(silent.local_addr().unwrap())
        .unwrap()
        .with_timeout(Duration::from_millis(50))
        .unwrap();
    let err = admin.status().unwrap_err();
    let Error::Io(io) = &err else {
        panic!("{err:?}");
    };
    assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);
    assert_eq!(err.to_string(), "I/O error: no answer within 50ms");
}

#[test]
fn debug_shows_the_servers_and_the_jobs_in_flight() {
    // Connections queue in the backlog; nothing ever answers them, so a
    // job stays in flight.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap().to_string();
    let client = Client::new([addr.clone()]).unwrap();
    let shown = |jobs| format!("Client {{ servers: [{addr:?}], jobs_in_flight: {jobs} }}");
    assert_eq!(format!("{client:?}"), shown(0));
    let _job = client.submit(JobRequest::new("f", "x"));
    eventually("the job is in flight", || format!("{client:?}") == shown(1));
}

trait WaitOwned {
    fn wait_timeout_owned(self) -> JobOutcome;
}

impl WaitOwned for gearman_blocking::Job {
    fn wait_timeout_owned(mut self) -> JobOutcome {
        self.wait_timeout(PATIENCE).unwrap()
    }
}

#[test]
fn a_one_job_worker_runs_one_job_at_a_time_across_its_connections() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let server = Server::bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let addr = server.local_addr().to_string();
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let worker = {
        let (running, most) = (running.clone(), most.clone());
        Worker::new([addr.clone()])
            .concurrency(1)
            .connections_per_server(3)
            .function("one", move |job: &WorkerJob| {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                job.send_data("started");
                std::thread::sleep(Duration::from_millis(5));
                running.fetch_sub(1, Ordering::SeqCst);
                Ok::<_, WorkError>(job.payload().clone())
            })
            .spawn()
            .unwrap()
    };
    let client = Client::new([addr]).unwrap();
    let mut jobs: Vec<_> = (0..12)
        .map(|i| client.submit(JobRequest::new("one", format!("job-{i}"))))
        .collect();
    for (i, job) in jobs.iter_mut().enumerate() {
        let updates: Vec<JobUpdate> = job.by_ref().collect();
        assert_eq!(updates, vec![JobUpdate::Data("started".into())]);
        assert_eq!(
            job.wait_timeout(PATIENCE).unwrap(),
            JobOutcome::Complete(format!("job-{i}").into())
        );
    }
    assert_eq!(most.load(Ordering::SeqCst), 1);

    // A shutdown while a job runs lets it finish first.
    let mut slow = client.submit(JobRequest::new("one", "last"));
    assert_eq!(slow.next_update(), Some(JobUpdate::Data("started".into())));
    worker.shutdown();
    assert_eq!(
        slow.wait_timeout(PATIENCE).unwrap(),
        JobOutcome::Complete("last".into())
    );
    worker.join().unwrap();
    server.stop().unwrap();
}

#[test]
fn stop_requests_made_before_running_are_kept() {
    let server = Server::bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr().unwrap().to_string();
    server.stop_handle().stop();
    let serving = std::thread::spawn(move || server.serve());

    let worker = Worker::new([addr]).function("f", |_job: &WorkerJob| Ok::<_, WorkError>(""));
    worker.shutdown_handle().shutdown();
    let running = worker.spawn().unwrap();

    let start = std::time::Instant::now();
    while !(serving.is_finished() && running.is_finished()) {
        assert!(start.elapsed() < PATIENCE, "a stop request was lost");
        std::thread::sleep(Duration::from_millis(5));
    }
    serving.join().unwrap().unwrap();
    running.join().unwrap();
}

#[test]
fn many_threads_share_one_client_and_one_worker() {
    let server = Server::bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let addr = server.local_addr().to_string();
    let worker = Worker::new([addr.clone()])
        .concurrency(8)
        .connections_per_server(2)
        .function("echo", |job: &WorkerJob| {
            Ok::<_, WorkError>(job.payload().clone())
        })
        .spawn()
        .unwrap();
    let client = Client::new([addr]).unwrap();
    std::thread::scope(|scope| {
        for thread in 0..16 {
            let client = &client;
            scope.spawn(move || {
                for i in 0..50 {
                    let payload = format!("{thread}-{i}");
                    let outcome = client
                        .submit(JobRequest::new("echo", payload.clone()))
                        .wait_timeout_owned();
                    assert_eq!(outcome, JobOutcome::Complete(payload.into()));
                }
            });
        }
    });
    worker.shutdown();
    worker.join().unwrap();
    server.stop().unwrap();
}

#[test]
fn a_one_job_worker_keeps_to_one_job_when_a_running_job_is_lost() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    let lost_server = Server::bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let kept_server = Server::bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let lost_addr = lost_server.local_addr().to_string();
    let kept_addr = kept_server.local_addr().to_string();
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let second_ran = Arc::new(AtomicBool::new(false));
    let (started, first_started) = std::sync::mpsc::channel();
    let started = std::sync::Mutex::new(started);
    let worker = {
        let (running, most, second_ran) = (running.clone(), most.clone(), second_ran.clone());
        Worker::new([lost_addr.clone(), kept_addr.clone()])
            .concurrency(1)
            .function("one", move |job: &WorkerJob| {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                if job.payload() == "first" {
                    let _ = started.lock().unwrap().send(());
                    // Its server closes the connection; a write after the
                    // server's linger is refused, so the job is lost and its
                    // slot freed while this handler still runs.
                    let start = std::time::Instant::now();
                    while !second_ran.load(Ordering::SeqCst)
                        && start.elapsed() < Duration::from_secs(5)
                    {
                        job.send_data("tick");
                        std::thread::sleep(Duration::from_millis(100));
                    }
                } else {
                    second_ran.store(true, Ordering::SeqCst);
                }
                running.fetch_sub(1, Ordering::SeqCst);
                Ok::<_, WorkError>(job.payload().clone())
            })
            .spawn()
            .unwrap()
    };
    let lost_client = Client::new([lost_addr]).unwrap();
    let _first = lost_client.submit(JobRequest::new("one", "first"));
    first_started.recv_timeout(PATIENCE).unwrap();
    lost_server.stop().unwrap();
    // The server reads the ticks for its linger, then drops the socket; the
    // next ticks are refused and the job is lost, which frees the worker's
    // one slot while the first handler still runs (it waits for the second).
    let client = Client::new([kept_addr.clone()]).unwrap();
    let second = client.submit(JobRequest::new("one", "second"));
    let mut admin = Admin::connect(&kept_addr).unwrap();
    eventually("the freed slot takes the second job", || {
        admin
            .status()
            .unwrap()
            .iter()
            .any(|row| row.function == "one" && row.running == 1)
    });
    assert_eq!(
        second.wait_timeout_owned(),
        JobOutcome::Complete("second".into())
    );
    assert_eq!(most.load(Ordering::SeqCst), 1, "two jobs ran at once");
    worker.shutdown();
    worker.join().unwrap();
    kept_server.stop().unwrap();
}

#[test]
fn a_peer_that_keeps_sending_after_being_closed_is_dropped_after_the_linger() {
    use std::io::Write;

    let server = Server::bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let mut peer = std::net::TcpStream::connect(server.local_addr()).unwrap();
    // A binary packet with a bad magic: the server closes the connection.
    peer.write_all(b"\0BAD\0\0\0\x01\0\0\0\0").unwrap();
    let start = std::time::Instant::now();
    // The server reads (and discards) what follows for a while, then drops
    // the socket, after which writes are refused.
    let refused = loop {
        if peer.write_all(b"more").is_err() {
            break true;
        }
        if start.elapsed() > Duration::from_secs(8) {
            break false;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(refused, "the server kept reading a closed connection");
    server.stop().unwrap();
}

#[test]
fn handler_errors_raised_with_question_mark_reach_the_client_as_exceptions() {
    use anyhow::Context;

    let server = Server::bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let addr = server.local_addr();
    let worker = Worker::new([addr])
        .function("utf8", |job: &WorkerJob| {
            let text = std::str::from_utf8(job.payload())?;
            Ok(text.to_uppercase())
        })
        .function("anyhow", |job: &WorkerJob| {
            let parsed: anyhow::Result<u32> = std::str::from_utf8(job.payload())
                .context("payload is not text")
                .and_then(|text| text.parse::<u32>().context("payload is not a number"));
            Ok(parsed?.to_string())
        })
        .spawn()
        .unwrap();
    let client = Client::new([addr]).unwrap();
    let run = |function: &'static str, payload: &'static [u8]| {
        client
            .submit(JobRequest::new(function, payload))
            .wait_timeout(PATIENCE)
            .unwrap()
    };

    assert_eq!(run("utf8", b"abc"), JobOutcome::Complete("ABC".into()));
    let JobOutcome::Exception(text) = run("utf8", b"\xff") else {
        panic!("invalid UTF-8 raises an exception");
    };
    assert!(text.starts_with(b"invalid utf-8"), "{text:?}");
    // The context and its cause, both.
    assert_eq!(
        run("anyhow", b"x"),
        JobOutcome::Exception("payload is not a number: invalid digit found in string".into())
    );
    assert_eq!(run("anyhow", b"7").into_result(), Ok("7".into()));

    worker.shutdown();
    worker.join().unwrap();
    server.stop().unwrap();
}

/// An embedded server (kept running while held) with its address, and the
/// address of a port just freed, where connecting is refused.
fn a_server_up_and_one_down() -> (RunningServer, String, String) {
    let server = Server::bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let up = server.local_addr().to_string();
    let down = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    (server, up, down)
}

#[test]
fn servers_show_a_connected_server_and_a_down_one() {
    let (_server, up, down) = a_server_up_and_one_down();
    let client = Client::new([up.clone(), down.clone()]).unwrap();

    assert_eq!(client.echo("warm").unwrap(), "warm");
    assert!(client.echo_on(ServerId(1), "lost").is_err());

    let servers = client.servers();
    assert_eq!(servers.len(), 2);
    assert_eq!(servers[0].addr, up);
    assert_eq!(servers[0].state, ConnectionState::Connected);
    assert_eq!(
        (servers[0].jobs_in_flight, servers[0].requests_pending),
        (0, 0)
    );
    assert_eq!(servers[1].addr, down);
    assert!(
        matches!(servers[1].state, ConnectionState::BackingOff { .. }),
        "{:?}",
        servers[1].state
    );
}

#[test]
fn worker_servers_show_a_connected_server_and_a_down_one() {
    let (_server, up, down) = a_server_up_and_one_down();
    let worker = Worker::new([up.clone(), down.clone()])
        .function("f", |_job: &WorkerJob| Ok::<_, WorkError>("done"))
        .spawn()
        .unwrap();

    eventually("the first server connected, the second backing off", || {
        let servers = worker.servers();
        servers.len() == 2
            && servers[0].state == ConnectionState::Connected
            && matches!(servers[1].state, ConnectionState::BackingOff { .. })
    });
    let servers = worker.servers();
    assert_eq!(
        (servers[0].addr.as_str(), servers[1].addr.as_str()),
        (&up[..], &down[..])
    );
    assert_eq!(servers[0].jobs_in_flight, 0);

    worker.shutdown();
    eventually("the worker stopped", || worker.is_finished());
    assert!(worker.servers().is_empty());
    worker.join().unwrap();
}
