//! The blocking client and worker through the blocking embedded server,
//! over real sockets. The full suite is in `conformance.rs`.

use std::time::Duration;

use bytes::Bytes;
use gearman_blocking::{
    Admin, Client, JobOutcome, JobRequest, JobUpdate, Server, WorkError, Worker, WorkerJob,
};

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
