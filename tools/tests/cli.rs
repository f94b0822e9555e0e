//! The example tools run as processes, against our server and gearmand:
//! command lines, outputs and exit codes as documented.
//!
//! `cargo test` builds the examples next to the test binaries; when they
//! are missing (a filtered build), the tests say so and return, or fail
//! under CI.

#![allow(clippy::print_stderr)]

#[path = "../../examples-common/cli.rs"]
mod cli;
mod support;

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::{Gearmand, KillOnDrop, PATIENCE};

/// This crate's build of example `name`. The three adapter crates' tools
/// share names, so `target/debug/examples/NAME` is whichever crate built
/// last; every build also leaves a `NAME-<hash>` copy, and `--version` says
/// which crate a copy belongs to. The newest copy of ours wins.
fn example(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?.parent()?.join("examples");
    let ours = format!("{} ", env!("CARGO_PKG_NAME"));
    let mut found: Option<(std::time::SystemTime, PathBuf)> = None;
    for entry in std::fs::read_dir(&dir).ok()?.flatten() {
        let path = entry.path();
        let file = entry.file_name().to_string_lossy().into_owned();
        let hashed = file
            .strip_prefix(name)
            .and_then(|rest| rest.strip_prefix('-'))
            .is_some_and(|hash| hash.chars().all(|c| c.is_ascii_hexdigit()));
        if file != name && !hashed {
            continue;
        }
        if !version_of(&path).is_some_and(|v| v.starts_with(ours.as_bytes())) {
            continue;
        }
        let modified = entry.metadata().and_then(|m| m.modified()).ok()?;
        if found.as_ref().is_none_or(|(newest, _)| modified > *newest) {
            found = Some((modified, path));
        }
    }
    if let Some((_, path)) = found {
        return Some(path);
    }
    let message = format!(
        "example binary {name} of {ours}not built in {}",
        dir.display()
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{message}");
    }
    eprintln!("note: {message}; skipped");
    None
}

/// What `path --version` prints; `None` when it fails or takes more than a
/// few seconds (a stale build from before `--version` may not exit).
fn version_of(path: &std::path::Path) -> Option<Vec<u8>> {
    let mut child = Command::new(path)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let start = Instant::now();
    while child.try_wait().ok()?.is_none() {
        if start.elapsed() > Duration::from_secs(5) {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let output = child.wait_with_output().ok()?;
    output.status.success().then_some(output.stdout)
}

/// Runs an example to completion (with [`PATIENCE`] as a safety net).
fn run(name: &str, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(example(name).unwrap())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(bytes) = stdin {
        input.write_all(bytes).unwrap();
    }
    drop(input);
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > PATIENCE {
            let _ = child.kill();
            panic!("{name} {args:?} did not finish");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.wait_with_output().unwrap()
}

fn spawn(name: &str, args: &[&str]) -> Child {
    Command::new(example(name).unwrap())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Waits until the admin `status` of `server` shows `workers` workers for `function`.
fn wait_for_worker(server: &str, function: &str) {
    let start = Instant::now();
    loop {
        let out = run("admin", &["--server", server, "status"], None);
        let wanted = format!("{function}\t");
        if text(&out.stdout)
            .lines()
            .any(|line| line.starts_with(&wanted) && line.ends_with("\t1"))
        {
            return;
        }
        assert!(start.elapsed() < PATIENCE, "worker never registered");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every documented behaviour of `client` and `worker` against `server`.
fn client_and_worker_against(server: &str) {
    let _worker = KillOnDrop(spawn(
        "worker",
        &["--server", server, "--concurrency", "2", "--id", "examples"],
    ));
    wait_for_worker(server, "sleep");
    let s = ["--server", server];
    let client = |extra: &[&str], stdin: Option<&[u8]>| {
        let args: Vec<&str> = s.iter().chain(extra).copied().collect();
        run("client", &args, stdin)
    };

    let out = client(&["--function", "reverse", "hello"], None);
    assert_eq!(
        (out.status.code(), text(&out.stdout)),
        (Some(0), "olleh".into())
    );
    let out = client(&["--function", "echo"], Some(b"from stdin\n"));
    assert_eq!(
        (out.status.code(), text(&out.stdout)),
        (Some(0), "from stdin\n".into())
    );
    let out = client(&["--function", "fail", "x"], None);
    assert_eq!((out.status.code(), out.stdout.len()), (Some(1), 0));
    let out = client(&["--function", "exception", "it broke"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(text(&out.stderr).contains("it broke"), "{out:?}");

    let out = client(&["--function", "progress"], Some(b""));
    assert_eq!(
        (out.status.code(), text(&out.stdout)),
        (Some(0), "abdone".into())
    );
    assert_eq!(text(&out.stderr), "status 1/2\nstatus 2/2\n");

    let out = client(&["--function", "sleep", "--priority", "high", "10"], None);
    assert_eq!(
        (out.status.code(), text(&out.stdout)),
        (Some(0), "10".into())
    );
    let out = client(
        &[
            "--function",
            "sleep",
            "--priority",
            "low",
            "--unique",
            "u-low",
            "1",
        ],
        None,
    );
    assert_eq!(
        (out.status.code(), text(&out.stdout)),
        (Some(0), "1".into())
    );

    // Background: the handle and a newline; then its status while it runs.
    let out = client(
        &[
            "--function",
            "sleep",
            "--background",
            "--unique",
            "bg-unique",
            "1000",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0));
    let handle = text(&out.stdout);
    assert!(
        handle.starts_with("H:") && handle.ends_with('\n'),
        "{handle:?}"
    );
    let out = client(&["--status", handle.trim_end()], None);
    assert_eq!(out.status.code(), Some(0));
    let line = text(&out.stdout);
    assert!(
        line.starts_with("known=1 running=") && line.ends_with(" numerator=0 denominator=0\n"),
        "{line:?}"
    );
    let out = client(&["--status-unique", "bg-unique"], None);
    assert!(text(&out.stdout).starts_with("known=1 running="), "{out:?}");
    let out = client(&["--status", "H:no:such"], None);
    assert_eq!(
        text(&out.stdout),
        "known=0 running=0 numerator=0 denominator=0\n"
    );

    // A deadline that passes: exit code 3 with a message.
    let out = client(
        &["--function", "sleep", "--timeout-ms", "100", "3000"],
        None,
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(!out.stderr.is_empty());
}

#[test]
fn examples_against_our_server() {
    if example("server").is_none() {
        return;
    }
    let mut server = KillOnDrop(spawn("server", &["--listen", "127.0.0.1:0"]));
    let mut first_line = String::new();
    BufReader::new(server.0.stdout.take().unwrap())
        .read_line(&mut first_line)
        .unwrap();
    let addr = first_line
        .strip_prefix("listening on ")
        .expect("server prints `listening on ADDR`")
        .trim_end()
        .to_owned();
    assert!(
        addr.starts_with("127.0.0.1:") && !addr.ends_with(":0"),
        "{addr}"
    );

    client_and_worker_against(&addr);

    let out = run("admin", &["--server", &addr, "version"], None);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).starts_with("OK "), "{out:?}");
    let out = run("admin", &["--server", &addr, "no_such_command"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).starts_with("ERR UNKNOWN_COMMAND"),
        "{out:?}"
    );

    let out = run("quickstart", &["--server", &addr], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
}

#[test]
fn examples_against_gearmand() {
    if example("client").is_none() {
        return;
    }
    let Some(gearmand) = Gearmand::start() else {
        return;
    };
    client_and_worker_against(&gearmand.server());
    let out = run("admin", &["--server", &gearmand.server(), "status"], None);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("reverse\t0\t0\t"), "{out:?}");
    assert!(text(&out.stdout).ends_with(".\n"));
    let out = run("quickstart", &["--server", &gearmand.server()], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
}

#[test]
fn quickstart_runs_alone() {
    if example("quickstart").is_none() {
        return;
    }
    let out = run("quickstart", &[], None);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.starts_with("embedded job server listening on 127.0.0.1:"));
    assert!(stdout.contains("foreground: reverse(\"hello gearman\")"));
    assert!(stdout.ends_with("all done\n"), "{stdout}");
}

#[test]
fn client_without_server_exits_3() {
    if example("client").is_none() {
        return;
    }
    let port = support::free_port().to_string();
    let server = format!("127.0.0.1:{port}");
    let out = run(
        "client",
        &["--server", &server, "--function", "reverse", "x"],
        None,
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(!out.stderr.is_empty());
    let out = run("client", &["--bogus"], None);
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn worker_finishes_its_job_on_sigint() {
    if example("worker").is_none() {
        return;
    }
    let Some(gearmand) = Gearmand::start() else {
        return;
    };
    let server = gearmand.server();
    let mut worker = KillOnDrop(spawn("worker", &["--server", &server]));
    wait_for_worker(&server, "sleep");
    let job = std::thread::spawn({
        let server = server.clone();
        move || {
            run(
                "client",
                &["--server", &server, "--function", "sleep", "500"],
                None,
            )
        }
    });
    // Wait until the job runs, then interrupt the worker.
    let start = Instant::now();
    loop {
        let out = run("admin", &["--server", &server, "status"], None);
        if text(&out.stdout).lines().any(|l| l == "sleep\t1\t1\t1") {
            break;
        }
        assert!(start.elapsed() < PATIENCE);
        std::thread::sleep(Duration::from_millis(10));
    }
    let killed = Command::new("kill")
        .args(["-INT", &worker.0.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = job.join().unwrap();
    assert_eq!(
        (out.status.code(), text(&out.stdout)),
        (Some(0), "500".into())
    );
    let start = Instant::now();
    let status = loop {
        if let Some(status) = worker.0.try_wait().unwrap() {
            break status;
        }
        assert!(start.elapsed() < PATIENCE, "worker did not exit");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(status.success());
}

#[test]
fn command_lines_parse_as_documented() {
    let args = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
    let w =
        cli::WorkerArgs::parse(args("--server a:1 --server b:2 --concurrency 3 --id me")).unwrap();
    assert_eq!(w.servers, ["a:1", "b:2"]);
    assert_eq!((w.concurrency, w.id.as_deref()), (3, Some("me")));
    assert_eq!(
        cli::WorkerArgs::parse(args("")).unwrap().servers,
        [cli::DEFAULT_SERVER]
    );
    assert!(cli::WorkerArgs::parse(args("--concurrency 0")).is_err());

    let c = cli::ClientArgs::parse(args(
        "--function f --background --priority low --unique u --timeout-ms 5 payload",
    ))
    .unwrap();
    assert_eq!(
        c.action,
        cli::ClientAction::Submit {
            function: "f".into(),
            background: true,
            priority: cli::PriorityArg::Low,
            unique: Some("u".into()),
            timeout_ms: Some(5),
            payload: Some(b"payload".to_vec()),
        }
    );
    let c = cli::ClientArgs::parse(args("--function f")).unwrap();
    assert!(matches!(
        c.action,
        cli::ClientAction::Submit { payload: None, .. }
    ));
    assert_eq!(
        cli::ClientArgs::parse(args("--status H:x:1"))
            .unwrap()
            .action,
        cli::ClientAction::Status("H:x:1".into())
    );
    assert!(cli::ClientArgs::parse(args("--priority urgent --function f")).is_err());
    assert!(cli::ClientArgs::parse(args("")).is_err());
    assert!(cli::ClientArgs::parse(args("--function f --status H")).is_err());

    let a = cli::AdminArgs::parse(args("--server h:1 show jobs")).unwrap();
    assert_eq!(
        (a.server.as_str(), a.command.as_str()),
        ("h:1", "show jobs")
    );
    assert_eq!(
        cli::ServerArgs::parse(args("")).unwrap().listen,
        "127.0.0.1:4730"
    );
    assert_eq!(
        cli::status_line(true, false, 3, 4),
        "known=1 running=0 numerator=3 denominator=4"
    );
}
