//! The server drops peers that stop reading their output: over the
//! per-connection cap, after the write stall timeout, and the one that
//! would cross the server-wide limit; it goes on serving the others.

use conformance::slow_peers::{self, TEST_STALL_TIMEOUT, TOTAL_TEST_LIMIT};
use gearman_async_std::Server;
use gearman_async_std::proto::server::ServerConfig;

/// Serves with `config` on a thread of its own (under smol's executor,
/// which async-std's runs the same); returns the address.
fn serve(config: ServerConfig) -> String {
    let server = smol::block_on(Server::bind("127.0.0.1:0"))
        .unwrap()
        .with_config(config);
    let addr = server.local_addr().unwrap().to_string();
    std::thread::spawn(move || smol::block_on(server.serve()));
    addr
}

#[test]
fn a_peer_over_its_output_cap_is_dropped_at_once() {
    let mut config = ServerConfig::default();
    config.max_pending_output = 1024 * 1024;
    slow_peers::flooding_peer_is_dropped(&serve(config));
}

#[test]
fn a_peer_that_takes_no_output_is_dropped_after_the_stall_timeout() {
    let mut config = ServerConfig::default();
    config.write_stall_timeout = Some(TEST_STALL_TIMEOUT);
    slow_peers::stalled_peer_is_dropped(&serve(config));
}

#[test]
fn the_peer_whose_output_would_cross_the_server_wide_limit_is_dropped() {
    let mut config = ServerConfig::default();
    config.max_total_pending_output = TOTAL_TEST_LIMIT;
    config.write_stall_timeout = None;
    slow_peers::total_limit_drops_the_peer_that_crosses_it(&serve(config));
}
