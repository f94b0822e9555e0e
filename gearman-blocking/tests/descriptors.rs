//! What a connection costs the blocking server (descriptors and threads),
//! and what happens when descriptors run out: new connections are closed at
//! once, and the server goes on serving when some free up.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

use conformance::slow_peers::echo_req;
use conformance::{PATIENCE, eventually};
use gearman_blocking::Server;

const CHILD: &str = "GEARMAN_BLOCKING_DESCRIPTOR_CHILD";

fn count(dir: &str) -> usize {
    std::fs::read_dir(dir).expect("procfs").count()
}

/// Whether a connection to `addr` is served (its echo comes back); false
/// when the server closes it.
fn served(addr: &str) -> Option<TcpStream> {
    let mut peer = TcpStream::connect(addr).expect("the listener accepts");
    peer.set_read_timeout(Some(PATIENCE)).unwrap();
    peer.write_all(&echo_req(b"hello")).ok()?;
    let mut reply = [0u8; 17];
    match peer.read_exact(&mut reply) {
        Ok(()) => Some(peer),
        Err(err) => {
            assert_ne!(
                err.kind(),
                ErrorKind::WouldBlock,
                "neither served nor closed"
            );
            None
        }
    }
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_connection_costs_one_descriptor_and_two_threads_and_running_out_refuses_new_ones() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    // In this process: each connection is one descriptor here (our end)
    // and one in the server.
    let server = Server::bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let addr = server.local_addr().to_string();
    drop(served(&addr).expect("served"));
    let (fds, threads) = (count("/proc/self/fd"), count("/proc/self/task"));
    const CONNECTIONS: usize = 20;
    let open: Vec<TcpStream> = (0..CONNECTIONS)
        .map(|_| served(&addr).expect("served"))
        .collect();
    let fds_each = (count("/proc/self/fd") - fds) as f64 / CONNECTIONS as f64;
    let threads_each = (count("/proc/self/task") - threads) as f64 / CONNECTIONS as f64;
    eprintln!("per connection: {fds_each} descriptors (both ends), {threads_each} server threads");
    assert!(
        fds_each <= 2.0,
        "{fds_each} descriptors per connection, both ends"
    );
    assert!(threads_each <= 2.0, "{threads_each} threads per connection");
    drop(open);
    drop(server);

    // A server limited to 64 descriptors.
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(r#"ulimit -n 64 && exec "$0" "$@""#)
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "serve_with_few_descriptors",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _child = KillOnDrop(child);
    let addr = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find_map(|line| line.strip_prefix("listening on ").map(str::to_owned))
        .expect("the child server starts");
    let mut open = Vec::new();
    loop {
        assert!(open.len() < 64, "more connections served than descriptors");
        match served(&addr) {
            Some(peer) => open.push(peer),
            None => break,
        }
    }
    eprintln!(
        "{} connections served under a limit of 64 descriptors",
        open.len()
    );
    assert!(open.len() >= 40, "only {} connections served", open.len());
    // Freed descriptors are used again.
    open.truncate(open.len() - 5);
    eventually("a new connection is served", || served(&addr).is_some());
    assert!(open.iter_mut().all(|peer| {
        peer.write_all(&echo_req(b"hello")).is_ok() && peer.read_exact(&mut [0u8; 17]).is_ok()
    }));
}

/// The child of the test above: serves until killed.
#[test]
#[ignore = "run by the descriptor test, under a low descriptor limit"]
fn serve_with_few_descriptors() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let server = Server::bind("127.0.0.1:0").unwrap();
    println!("listening on {}", server.local_addr().unwrap());
    server.serve().unwrap();
}
