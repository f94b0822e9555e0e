//! How often a worker's handler threads sleep, counted by the kernel. A
//! test binary of its own, so no other worker's threads are counted.

#![cfg(target_os = "linux")]

use gearman_blocking::{Client, JobOutcome, JobRequest, Server, WorkError, Worker, WorkerJob};

/// Voluntary context switches so far of this process's threads whose name
/// starts with `prefix`.
fn sleeps_of_threads_named(prefix: &str) -> u64 {
    let mut total = 0;
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let dir = task.unwrap().path();
        // A thread may end between the listing and the reads.
        let Ok(name) = std::fs::read_to_string(dir.join("comm")) else {
            continue;
        };
        if !name.starts_with(prefix) {
            continue;
        }
        let Ok(status) = std::fs::read_to_string(dir.join("status")) else {
            continue;
        };
        total += status
            .lines()
            .find_map(|line| line.strip_prefix("voluntary_ctxt_switches:"))
            .map_or(0, |count| count.trim().parse::<u64>().unwrap());
    }
    total
}

// Each job on a pool of idle threads should wake one of them, which sleeps
// once more when it is done; not also a second thread that only goes back
// to sleep.
#[test]
fn a_job_wakes_one_handler_thread_of_an_idle_pool() {
    const JOBS: u64 = 200;
    let server = Server::bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let addr = server.local_addr().to_string();
    let worker = Worker::new([addr.clone()])
        .concurrency(8)
        .function("echo", |job: &WorkerJob| {
            Ok::<_, WorkError>(job.payload().clone())
        })
        .spawn()
        .unwrap();
    let client = Client::new([addr]).unwrap();
    let run = |jobs: u64| {
        for i in 0..jobs {
            let payload = i.to_string();
            let outcome = client
                .submit(JobRequest::new("echo", payload.clone()))
                .wait()
                .unwrap();
            assert_eq!(outcome, JobOutcome::Complete(payload.into()));
        }
    };
    // Every handler thread has started and sleeps before counting.
    run(20);
    let before = sleeps_of_threads_named("gearman-job-");
    run(JOBS);
    let sleeps = sleeps_of_threads_named("gearman-job-") - before;
    assert!(
        sleeps < JOBS * 3 / 2,
        "{sleeps} handler thread sleeps for {JOBS} jobs one at a time"
    );
    worker.shutdown();
    worker.join().unwrap();
    server.stop().unwrap();
}
