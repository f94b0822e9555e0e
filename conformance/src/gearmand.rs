//! Real gearmand processes on free loopback ports, for the suite and for
//! any adapter's interop tests.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::PATIENCE;

/// Where Debian's `gearman-job-server` installs the daemon.
pub const GEARMAND: &str = "/usr/sbin/gearmand";
/// libgearman's command-line client and worker (`gearman-tools`).
pub const GEARMAN: &str = "/usr/bin/gearman";
/// libgearman's admin tool (`gearman-tools`).
pub const GEARADMIN: &str = "/usr/bin/gearadmin";

/// Whether the tests run in CI (`CI=true`), where nothing may be skipped.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Whether `tool` is installed. In CI a missing tool fails the test with a
/// clear message; elsewhere the test prints a note and is skipped.
#[allow(clippy::print_stderr)]
pub fn have(tool: &str) -> bool {
    if Path::new(tool).exists() {
        return true;
    }
    let message = format!(
        "{tool} is not installed (apt-get install gearman-job-server gearman-tools); \
         interop test cannot run"
    );
    assert!(!in_ci(), "{message}");
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

/// Waits until something accepts connections on `addr`, or `child` exits.
pub fn wait_accepting(addr: SocketAddr, child: &mut Child) -> bool {
    let start = Instant::now();
    while start.elapsed() < PATIENCE {
        if TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok() {
            return true;
        }
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

/// A gearmand in the foreground on a loopback port; killed on drop.
#[derive(Debug)]
pub struct Gearmand {
    child: Option<Child>,
    extra: Vec<String>,
    /// Its address, `127.0.0.1:PORT`.
    pub addr: SocketAddr,
}

impl Gearmand {
    /// Starts gearmand on a free port, or returns `None` (outside CI) when
    /// it is not installed.
    pub fn start() -> Option<Gearmand> {
        Gearmand::start_with(&[])
    }

    /// Like [`Gearmand::start`], with extra command-line options.
    pub fn start_with(extra: &[&str]) -> Option<Gearmand> {
        if !have(GEARMAND) {
            return None;
        }
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        for _attempt in 0..10 {
            let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
            if let Some(child) = spawn(addr, &extra) {
                return Some(Gearmand {
                    child: Some(child),
                    extra,
                    addr,
                });
            }
            // Most likely someone took the port in between: try another.
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

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills it (connections drop at once).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port, after [`stop`](Gearmand::stop).
    pub fn restart(&mut self) {
        self.stop();
        let start = Instant::now();
        while start.elapsed() < PATIENCE {
            if let Some(child) = spawn(self.addr, &self.extra) {
                self.child = Some(child);
                return;
            }
        }
        panic!("gearmand did not start again on {}", self.addr);
    }
}

fn spawn(addr: SocketAddr, extra: &[String]) -> Option<Child> {
    let mut child = Command::new(GEARMAND)
        .arg("--listen=127.0.0.1")
        .arg(format!("--port={}", addr.port()))
        .arg("--log-file=none")
        .arg("--threads=1")
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn gearmand");
    // Another process may hold the port (a gearmand of a test running in
    // parallel, say): only a server that reports our child's pid is ours.
    if wait_accepting(addr, &mut child) && pid_at(addr) == Some(child.id()) {
        return Some(child);
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// The pid the server at `addr` reports for the admin `getpid`.
fn pid_at(addr: SocketAddr) -> Option<u32> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream.write_all(b"getpid\r\n").ok()?;
    let mut reply = Vec::new();
    let mut byte = [0u8; 1];
    while !reply.ends_with(b"\n") && reply.len() < 64 {
        if stream.read(&mut byte).ok()? == 0 {
            return None;
        }
        reply.push(byte[0]);
    }
    let text = String::from_utf8(reply).ok()?;
    text.trim().strip_prefix("OK ")?.trim().parse().ok()
}

impl Drop for Gearmand {
    fn drop(&mut self) {
        self.stop();
    }
}
