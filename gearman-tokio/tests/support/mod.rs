//! Helpers shared by the integration tests: real gearmand processes on free
//! loopback ports, and a check for libgearman's command-line tools.
#![allow(dead_code, clippy::print_stderr)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian's `gearman-job-server` installs the daemon.
pub const GEARMAND: &str = "/usr/sbin/gearmand";
/// libgearman's command-line client and worker (`gearman-tools`).
pub const GEARMAN: &str = "/usr/bin/gearman";
/// libgearman's admin tool (`gearman-tools`).
pub const GEARADMIN: &str = "/usr/bin/gearadmin";

/// Safety net for anything a test waits on; never the thing measured.
pub const PATIENCE: Duration = Duration::from_secs(30);

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Whether `tool` is installed. In CI a missing tool fails the test with a
/// clear message; elsewhere the test prints a note and is skipped.
pub fn have(tool: &str) -> bool {
    if Path::new(tool).exists() {
        return true;
    }
    let message = format!(
        "{tool} is not installed (apt-get install gearman-job-server gearman-tools); \
         interop test cannot run"
    );
    if in_ci() {
        panic!("{message}");
    }
    eprintln!("note: {message}; skipped");
    false
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind an ephemeral loopback port")
        .port()
}

/// Waits until something accepts connections on `addr`.
pub fn wait_accepting(addr: SocketAddr, child: &mut Child) -> bool {
    let start = Instant::now();
    while start.elapsed() < PATIENCE {
        if TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok() {
            return true;
        }
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// A gearmand in the foreground on a free loopback port; killed on drop.
pub struct Gearmand {
    child: Child,
    /// Its address, `127.0.0.1:PORT`.
    pub addr: SocketAddr,
}

impl Gearmand {
    /// Starts gearmand, or returns `None` (outside CI) when it is not installed.
    pub fn start() -> Option<Gearmand> {
        Gearmand::start_with(&[])
    }

    /// Like [`Gearmand::start`], with extra command-line options.
    pub fn start_with(extra: &[&str]) -> Option<Gearmand> {
        if !have(GEARMAND) {
            return None;
        }
        for _attempt in 0..10 {
            let port = free_port();
            let mut child = Command::new(GEARMAND)
                .arg("--listen=127.0.0.1")
                .arg(format!("--port={port}"))
                .arg("--log-file=none")
                .arg("--threads=2")
                .args(extra)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn gearmand");
            let addr: SocketAddr = ([127, 0, 0, 1], port).into();
            if wait_accepting(addr, &mut child) {
                return Some(Gearmand { child, addr });
            }
            // Most likely someone took the port in between: try another.
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("gearmand did not start on any of 10 free ports");
    }

    /// `127.0.0.1:PORT` as text.
    pub fn server(&self) -> String {
        self.addr.to_string()
    }

    /// The port as text, for `-p`.
    pub fn port(&self) -> String {
        self.addr.port().to_string()
    }
}

impl Drop for Gearmand {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

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
