//! Helpers shared by the integration tests: our embedded server, and
//! libgearman's command-line tools (gearmand itself comes from the
//! conformance suite).
#![allow(dead_code, unused_imports)]

use std::net::SocketAddr;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

pub use conformance::PATIENCE;
pub use conformance::gearmand::{GEARADMIN, GEARMAN, Gearmand, free_port, have};

/// A child process killed on drop (libgearman's worker, say).
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Our embedded server on a free loopback port, served by a background task
/// of the current runtime; stopped when the returned guard is dropped.
pub async fn embedded_server() -> EmbeddedServer {
    let server = gearman_tokio::Server::bind("127.0.0.1:0")
        .await
        .expect("bind the embedded server");
    let addr = server.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _ = server
            .serve_until(async {
                let _ = stopped.await;
            })
            .await;
    });
    EmbeddedServer {
        addr,
        _stop: stop,
        task,
    }
}

/// Guard of [`embedded_server`].
pub struct EmbeddedServer {
    /// Where it listens.
    pub addr: SocketAddr,
    _stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl EmbeddedServer {
    /// `127.0.0.1:PORT` as text.
    pub fn server(&self) -> String {
        self.addr.to_string()
    }

    /// The port as text, for `-p`.
    pub fn port(&self) -> String {
        self.addr.port().to_string()
    }
}

impl Drop for EmbeddedServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Runs a command to completion within [`PATIENCE`]; returns its output.
pub async fn run_tool(program: &str, args: &[&str]) -> std::process::Output {
    let child = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|err| panic!("spawn {program}: {err}"));
    tokio::time::timeout(PATIENCE, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{program} {args:?} did not finish in {PATIENCE:?}"))
        .expect("wait for the tool")
}

/// Starts libgearman's worker: `gearman -w -f FUNCTION -- CMD...`, which
/// runs CMD per job with the payload on its standard input.
pub fn libgearman_worker(port: &str, function: &str, command: &[&str]) -> tokio::process::Child {
    tokio::process::Command::new(GEARMAN)
        .args(["-h", "127.0.0.1", "-p", port, "-w", "-f", function, "--"])
        .args(command)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn gearman -w")
}

/// Waits until `function` has `workers` registered workers on the server
/// at `addr`, per the admin `status` command.
pub async fn wait_for_workers(addr: &str, function: &str, workers: u64) {
    let start = Instant::now();
    loop {
        if let Ok(mut admin) = gearman_tokio::Admin::connect(addr).await {
            if let Ok(rows) = admin.status().await {
                if rows
                    .iter()
                    .any(|row| &row.function[..] == function.as_bytes() && row.workers >= workers)
                {
                    return;
                }
            }
        }
        assert!(
            start.elapsed() < PATIENCE,
            "{function} never had {workers} workers on {addr}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
