//! Our client and worker through our embedded server, over real sockets.

mod scenarios;
mod support;

use support::embedded_server;

macro_rules! against_embedded {
    ($($scenario:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $scenario() {
            let server = embedded_server().await;
            scenarios::$scenario(&server.server()).await;
        }
    )*};
}

against_embedded!(
    foreground_every_priority,
    background_and_status,
    updates_fail_exception_panic,
    unique_coalescing,
    priorities_order,
    concurrency_and_graceful_shutdown,
    job_deadline,
    can_do_timeout_requeues,
    reduce_submits,
);
