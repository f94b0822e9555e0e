//! Perl's Gearman::Client and Gearman::Worker and Python's `gear` client and
//! worker through our embedded server, with each other and mixed with our
//! own client and worker. The peers are small scripts under `tests/peers/`
//! run as child processes, each killed if it outlives [`PATIENCE`].

mod scenarios;
mod support;

use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use gearman_tokio::{Client, JobOutcome, JobRequest, JobUpdate, WorkError, Worker, WorkerJob};
use scenarios::RunningWorker;
use support::{PATIENCE, embedded_server, wait_for_workers};
use tokio::process::{Child, Command};

/// Where the peer scripts live.
const PEERS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers");

/// Whether `program args` succeeds, i.e. the peer library is installed. In
/// CI a missing library fails the test with a clear message; elsewhere the
/// test prints a note and is skipped.
#[allow(clippy::print_stderr)]
fn have_library(program: &str, args: &[&str], install: &str) -> bool {
    let installed = std::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if installed {
        return true;
    }
    let shown: Vec<String> = args
        .iter()
        .map(|arg| {
            if arg.contains(' ') {
                format!("'{arg}'")
            } else {
                arg.to_string()
            }
        })
        .collect();
    let message = format!(
        "`{program} {}` failed ({install}); interop test cannot run",
        shown.join(" ")
    );
    assert!(!conformance::gearmand::in_ci(), "{message}");
    eprintln!("note: {message}; skipped");
    false
}

fn have_perl_gearman() -> bool {
    have_library(
        "perl",
        &["-MGearman::Client", "-MGearman::Worker", "-e1"],
        "apt-get install libgearman-client-perl",
    )
}

fn have_python_gear() -> bool {
    have_library(
        "python3",
        &["-c", "import gear"],
        "python3 -m pip install gear",
    )
}

/// The interpreter for a peer script, by its extension.
fn interpreter(script: &str) -> &'static str {
    if script.ends_with(".pl") {
        "perl"
    } else {
        "python3"
    }
}

fn peer_command(script: &str, args: &[&str]) -> Command {
    let mut command = Command::new(interpreter(script));
    command
        .arg(format!("{PEERS}/{script}"))
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    command
}

/// Starts a long-running peer (a worker); killed when dropped.
fn start_peer(script: &str, args: &[&str]) -> Child {
    peer_command(script, args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|err| panic!("spawn {script}: {err}"))
}

/// Runs a peer to completion, killing it after [`PATIENCE`].
async fn run_peer(script: &str, args: &[&str]) -> Output {
    let child = peer_command(script, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("spawn {script}: {err}"));
    tokio::time::timeout(PATIENCE, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{script} {args:?} did not finish in {PATIENCE:?}"))
        .expect("wait for the peer")
}

fn stdout_of(script: &str, out: &Output) -> String {
    assert!(
        out.status.success(),
        "{script} failed: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).expect("peer output is text")
}

/// A fresh file path in the temporary directory, removed when dropped.
struct TempPath(PathBuf);

impl TempPath {
    fn new(tag: &str) -> TempPath {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        TempPath(std::env::temp_dir().join(format!(
            "gearman-interop-{tag}-{}-{nanos}",
            std::process::id()
        )))
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn perl_client_and_perl_worker_through_our_server() {
    if !have_perl_gearman() {
        return;
    }
    let server = embedded_server().await;
    let port = server.port();
    let log = TempPath::new("perl-bg");
    let log_path = log.0.to_str().unwrap();
    let _worker = start_peer("perl_worker.pl", &["127.0.0.1", &port, "reverse", log_path]);
    wait_for_workers(&server.server(), "reverse", 1).await;
    wait_for_workers(&server.server(), "reverse_log", 1).await;

    // Foreground: the worker's WORK_DATA, then its result.
    let out = run_peer(
        "perl_client.pl",
        &["127.0.0.1", &port, "fg", "reverse", "hello perl"],
    )
    .await;
    assert_eq!(
        stdout_of("perl_client.pl", &out),
        "DATA got hello perl\nRESULT lrep olleh\n"
    );

    // Background: a handle in gearmand's form at once, and the worker runs
    // the job with its payload.
    let out = run_peer(
        "perl_client.pl",
        &["127.0.0.1", &port, "bg", "reverse_log", "in the background"],
    )
    .await;
    let text = stdout_of("perl_client.pl", &out);
    // Gearman::Client names the server before the handle: `host:port//H:...`.
    assert!(
        text.starts_with(&format!("HANDLE 127.0.0.1:{port}//H:")),
        "{text:?}"
    );
    assert_eq!(text.lines().count(), 1, "{text:?}");
    let start = Instant::now();
    loop {
        let logged = std::fs::read_to_string(&log.0).unwrap_or_default();
        if logged == "in the background\n" {
            break;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "the Perl worker never ran the background job: log {logged:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_gear_client_and_gear_worker_through_our_server() {
    if !have_python_gear() {
        return;
    }
    let server = embedded_server().await;
    let port = server.port();
    let _worker = start_peer("gear_worker.py", &["127.0.0.1", &port, "upper"]);
    wait_for_workers(&server.server(), "upper", 1).await;

    // gear grabs with GRAB_JOB_UNIQ: the worker sees the client's unique.
    for (unique, payload) in [("first-unique", "hello gear"), ("second", "again")] {
        let out = run_peer(
            "gear_client.py",
            &["127.0.0.1", &port, "upper", unique, payload],
        )
        .await;
        assert_eq!(
            stdout_of("gear_client.py", &out),
            format!(
                "HANDLE H:\nDATA unique={unique}\nDATA got {payload}\nDATA {}\nCOMPLETE\n",
                payload.to_uppercase()
            )
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn perl_client_with_our_worker_through_our_server() {
    if !have_perl_gearman() {
        return;
    }
    let server = embedded_server().await;
    let port = server.port();
    let worker = RunningWorker::start(Worker::new([server.server()]).function(
        "rust_reverse",
        |job: WorkerJob| async move {
            job.send_data(&b"step"[..]);
            job.send_status(1, 2);
            Ok::<_, WorkError>(job.payload().iter().rev().copied().collect::<Vec<u8>>())
        },
    ));
    wait_for_workers(&server.server(), "rust_reverse", 1).await;

    let out = run_peer(
        "perl_client.pl",
        &["127.0.0.1", &port, "fg", "rust_reverse", "from perl"],
    )
    .await;
    assert_eq!(
        stdout_of("perl_client.pl", &out),
        "DATA step\nRESULT lrep morf\n"
    );
    worker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_client_with_python_gear_worker_through_our_server() {
    if !have_python_gear() {
        return;
    }
    let server = embedded_server().await;
    let port = server.port();
    let _worker = start_peer("gear_worker.py", &["127.0.0.1", &port, "upper"]);
    wait_for_workers(&server.server(), "upper", 1).await;

    let client = Client::new([server.server()]).unwrap();
    let mut job = client.submit(JobRequest::new("upper", "from rust").with_unique("rust-unique"));
    let updates = tokio::time::timeout(PATIENCE, (&mut job).collect::<Vec<_>>())
        .await
        .expect("the job ended in time");
    assert_eq!(
        updates,
        [
            JobUpdate::Data(Bytes::from_static(b"unique=rust-unique")),
            JobUpdate::Data(Bytes::from_static(b"got from rust")),
        ]
    );
    let outcome = tokio::time::timeout(PATIENCE, job)
        .await
        .expect("outcome in time")
        .unwrap();
    assert_eq!(
        outcome,
        JobOutcome::Complete(Bytes::from_static(b"FROM RUST"))
    );
}
