//! Our client and worker through our embedded server, over real sockets, in
//! what the conformance suite does not cover.

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

against_embedded!(handler_panics, reduce_submits);
