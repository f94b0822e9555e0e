//! Our client with libgearman's worker (`gearman -w -f NAME -- CMD`),
//! through a real gearmand and through our embedded server.

mod support;

use bytes::Bytes;
use gearman_tokio::{Client, JobOutcome, JobRequest};
use support::{GEARMAN, Gearmand, PATIENCE, embedded_server, have, libgearman_worker};

async fn upper_case_through(server: &str, port: &str) {
    let _worker = libgearman_worker(port, "upper", &["tr", "a-z", "A-Z"]);
    let client = Client::new([server]).unwrap();
    for payload in ["hello", "from rust"] {
        let outcome =
            tokio::time::timeout(PATIENCE, client.submit(JobRequest::new("upper", payload)))
                .await
                .expect("job finished in time")
                .unwrap();
        assert_eq!(
            outcome,
            JobOutcome::Complete(Bytes::from(payload.to_uppercase()))
        );
    }
    // Background: queued, then run by libgearman's worker and forgotten.
    let handle = client
        .submit_background(JobRequest::new("upper", "later"))
        .await
        .unwrap();
    tokio::time::timeout(PATIENCE, async {
        while client.status(&handle).await.unwrap().known {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("background job ran");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_client_with_libgearman_worker_through_gearmand() {
    if !have(GEARMAN) {
        return;
    }
    let Some(gearmand) = Gearmand::start() else {
        return;
    };
    upper_case_through(&gearmand.server(), &gearmand.port()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_client_with_libgearman_worker_through_our_server() {
    if !have(GEARMAN) {
        return;
    }
    let server = embedded_server().await;
    upper_case_through(&server.server(), &server.port()).await;
}
