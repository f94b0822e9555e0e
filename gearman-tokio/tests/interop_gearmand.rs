//! Our client and worker through a real gearmand, and each of them with
//! libgearman's own client or worker (the `gearman` tool).

mod scenarios;
mod support;

use bytes::Bytes;
use gearman_tokio::{Client, JobOutcome, JobRequest};
use scenarios::{name, patiently};
use support::{GEARMAN, Gearmand, have, libgearman_worker};

macro_rules! against_gearmand {
    ($($scenario:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $scenario() {
            let Some(gearmand) = Gearmand::start() else { return };
            scenarios::$scenario(&gearmand.server()).await;
        }
    )*};
}

against_gearmand!(handler_panics, reduce_submits);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_client_with_libgearman_worker() {
    if !have(GEARMAN) {
        return;
    }
    let Some(gearmand) = Gearmand::start() else {
        return;
    };
    let f = name("upper");
    let _worker = libgearman_worker(&gearmand.port(), &f, &["tr", "a-z", "A-Z"]);
    let client = Client::new([gearmand.server()]).unwrap();
    for payload in ["hello", "from rust"] {
        let outcome = patiently(client.submit(JobRequest::new(f.clone(), payload)))
            .await
            .unwrap();
        assert_eq!(
            outcome,
            JobOutcome::Complete(Bytes::from(payload.to_uppercase()))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gearmand_refuses_cron_scheduled_jobs_with_an_error() {
    use gearman_tokio::proto::client::CronSchedule;
    let Some(gearmand) = Gearmand::start() else {
        return;
    };
    let client = Client::new([gearmand.server()]).unwrap();
    let cron = CronSchedule {
        minute: 0,
        hour: 3,
        day_of_month: 1,
        month: 1,
        day_of_week: 0,
    };
    let request = JobRequest::new(name("cron"), "x").with_cron(cron);
    match patiently(client.submit_background(request)).await {
        Err(gearman_tokio::Error::Client(err)) => {
            assert!(!err.acknowledged());
            assert!(err.to_string().contains("INVALID_COMMAND"), "{err}");
        }
        other => panic!("expected gearmand's ERROR, got {other:?}"),
    }
    // The connection is still usable afterwards.
    assert_eq!(
        &patiently(client.echo("still here")).await.unwrap()[..],
        b"still here"
    );
}
