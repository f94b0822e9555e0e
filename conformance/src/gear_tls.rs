//! Python's `gear` library over TLS, the one real peer here that speaks it:
//! a gear job server, a gear worker and a gear client, each a `python3`
//! child process given a [`Pki`]'s files. gear always presents its own
//! certificate, verifies the peer's against the CA, checks no host name and
//! speaks TLS 1.2 only.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

use crate::PATIENCE;
use crate::tls::Pki;

/// Gives every script a deadline past the tests' patience, so no child
/// outlives its test by long even if nothing kills it.
const PRELUDE: &str = "import signal, sys\nimport gear\nsignal.alarm(60)\n";

/// A gear job server on a free loopback port; prints its port.
const SERVER: &str = "
key, cert, ca = sys.argv[1:4]
server = gear.Server(0, ssl_key=key, ssl_cert=cert, ssl_ca=ca, host='127.0.0.1')
print(server.port, flush=True)
signal.pause()
";

/// A gear worker that answers `reverse` with its payload reversed.
const REVERSE_WORKER: &str = "
host, port, key, cert, ca = sys.argv[1:6]
worker = gear.Worker('gear-tls-worker')
worker.addServer(host, int(port), key, cert, ca)
worker.waitForServer()
worker.registerFunction('reverse')
while True:
    job = worker.getJob()
    job.sendWorkComplete(job.arguments[::-1])
";

/// A gear client that submits one job and prints its result.
const SUBMIT: &str = "
import time
host, port, key, cert, ca, function, payload = sys.argv[1:8]
client = gear.Client('gear-tls-client')
client.addServer(host, int(port), key, cert, ca)
client.waitForServer(timeout=30)
job = gear.Job(function.encode(), payload.encode())
client.submitJob(job)
while not job.complete:
    time.sleep(0.01)
if job.failure:
    sys.exit('job failed')
print(b''.join(job.data).decode(), flush=True)
client.shutdown()
";

/// Whether `python3` can import `gear`. In CI its absence fails the test;
/// elsewhere the test prints a note and is skipped.
#[allow(clippy::print_stderr)]
pub fn have_gear() -> bool {
    let installed = Command::new("python3")
        .args(["-c", "import gear"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !installed {
        let message = "`python3 -c 'import gear'` failed (python3 -m pip install gear); TLS interop test cannot run";
        assert!(!crate::gearmand::in_ci(), "{message}");
        eprintln!("note: {message}; skipped");
    }
    installed
}

/// A gear child process, killed when dropped.
#[derive(Debug)]
pub struct GearProcess(Child);

impl Drop for GearProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn python(script: &str, args: &[&str]) -> Command {
    let mut command = Command::new("python3");
    command
        .arg("-c")
        .arg(format!("{PRELUDE}{script}"))
        .args(args)
        .stdin(Stdio::null());
    command
}

/// The server's key, certificate and CA, as gear takes them.
fn server_files(pki: &Pki) -> [String; 3] {
    ["server.key", "server.pem", "ca.pem"].map(|name| pki.path(name).display().to_string())
}

/// The client's key, certificate and CA, for gear's clients and workers.
fn client_files(pki: &Pki) -> [String; 3] {
    ["client.key", "client.pem", "ca.pem"].map(|name| pki.path(name).display().to_string())
}

/// Splits `host:port`, the form our servers report.
fn host_and_port(addr: &str) -> (&str, &str) {
    addr.trim_start_matches("tls://")
        .rsplit_once(':')
        .expect("an address as host:port")
}

/// Starts a gear TLS job server with the server certificate, requiring
/// client certificates from the CA; returns it with its `tls://` address
/// once it listens.
pub fn start_server(pki: &Pki) -> (GearProcess, String) {
    let files = server_files(pki);
    let mut child = python(SERVER, &files.each_ref().map(String::as_str))
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn python3 for the gear server");
    let stdout = child.stdout.take().expect("piped stdout");
    let server = GearProcess(child);
    // It prints its port once listening; a thread bounds the wait.
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = sender.send(line);
    });
    let line = receiver
        .recv_timeout(PATIENCE)
        .expect("the gear server reports its port");
    let port: u16 = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("the gear server did not start: {line:?}"));
    (server, format!("tls://127.0.0.1:{port}"))
}

/// Starts a gear TLS worker for `reverse` on the server at `addr`.
pub fn start_reverse_worker(pki: &Pki, addr: &str) -> GearProcess {
    let (host, port) = host_and_port(addr);
    let [key, cert, ca] = client_files(pki);
    let child = python(REVERSE_WORKER, &[host, port, &key, &cert, &ca])
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn python3 for the gear worker");
    GearProcess(child)
}

/// Submits one job through a gear TLS client to the server at `addr`;
/// returns its result. Blocks until the client exits (at most its
/// deadline), so async callers run it on a blocking thread.
pub fn submit(pki: &Pki, addr: &str, function: &str, payload: &str) -> String {
    let (host, port) = host_and_port(addr);
    let [key, cert, ca] = client_files(pki);
    let out = python(SUBMIT, &[host, port, &key, &cert, &ca, function, payload])
        .output()
        .expect("run python3 for the gear client");
    assert!(
        out.status.success(),
        "gear client failed: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim_end().to_owned()
}
