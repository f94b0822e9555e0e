//! The server drops peers that stop reading their output: over the
//! per-connection cap, after the write stall timeout, and the one that
//! would cross the server-wide limit; it goes on serving the others.

use conformance::slow_peers::{self, TEST_STALL_TIMEOUT, TOTAL_TEST_LIMIT};
use gearman_tokio::Server;
use gearman_tokio::proto::server::ServerConfig;

/// Serves with `config` on a runtime of its own; returns the address and
/// the runtime (dropping it stops the server).
fn serve(config: ServerConfig) -> (String, tokio::runtime::Runtime) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(async {
        Server::bind("127.0.0.1:0")
            .await
            .unwrap()
            .with_config(config)
    });
    let addr = server.local_addr().unwrap().to_string();
    runtime.spawn(server.serve());
    (addr, runtime)
}

#[test]
fn a_peer_over_its_output_cap_is_dropped_at_once() {
    let mut config = ServerConfig::default();
    config.max_pending_output = 1024 * 1024;
    let (addr, _runtime) = serve(config);
    slow_peers::flooding_peer_is_dropped(&addr);
}

#[test]
fn a_peer_that_takes_no_output_is_dropped_after_the_stall_timeout() {
    let mut config = ServerConfig::default();
    config.write_stall_timeout = Some(TEST_STALL_TIMEOUT);
    let (addr, _runtime) = serve(config);
    slow_peers::stalled_peer_is_dropped(&addr);
}

#[test]
fn the_peer_whose_output_would_cross_the_server_wide_limit_is_dropped() {
    let mut config = ServerConfig::default();
    config.max_total_pending_output = TOTAL_TEST_LIMIT;
    config.write_stall_timeout = None;
    let (addr, _runtime) = serve(config);
    slow_peers::total_limit_drops_the_peer_that_crosses_it(&addr);
}
