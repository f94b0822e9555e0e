//! A client whose server stops reading drops the connection (as a lost
//! connection, so its requests fail) instead of holding its output: past
//! the write stall timeout, and past its output cap. Workers and the
//! server share the same socket writer.

use std::net::TcpListener;
use std::time::Duration;

use conformance::PATIENCE;
use gearman_tokio::{Client, ClientConfig};

/// A server that accepts connections and never reads them.
fn deaf_server() -> (String, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let holder = std::thread::spawn(move || {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept() {
            held.push(stream);
        }
    });
    (addr, holder)
}

fn config(addr: &str) -> ClientConfig {
    ClientConfig::new([addr])
        .with_request_timeout(None)
        .with_submit_retries(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_drops_a_server_that_takes_no_output_after_the_stall_timeout() {
    let (addr, _server) = deaf_server();
    let client = Client::with_config(
        config(&addr).with_write_stall_timeout(Some(Duration::from_millis(500))),
    )
    .unwrap();
    // More than the kernel's buffers take in, so output waits in the client.
    let echo = client.echo(vec![7u8; 16 * 1024 * 1024]);
    let result = tokio::time::timeout(PATIENCE, echo)
        .await
        .expect("the request was held for good");
    assert!(result.is_err(), "a server that reads nothing answered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_drops_a_server_over_its_output_cap() {
    let (addr, _server) = deaf_server();
    let client = Client::with_config(
        config(&addr)
            .with_write_stall_timeout(None)
            .with_max_pending_output(1024 * 1024),
    )
    .unwrap();
    let echo = client.echo(vec![7u8; 16 * 1024 * 1024]);
    let result = tokio::time::timeout(PATIENCE, echo)
        .await
        .expect("the request was held for good");
    assert!(result.is_err(), "a server that reads nothing answered");
}
