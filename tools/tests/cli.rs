//! The example tools of every adapter run as processes, against our server
//! and gearmand: command lines, outputs and exit codes as documented.

#![allow(clippy::print_stderr)]

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use conformance::PATIENCE;
use conformance::gearmand::{GEARADMIN, Gearmand, free_port, have};
use conformance::tls::Pki;
use gearman_proto::admin::AdminRequest;
use tools::cli;

/// A tool process killed on drop.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One adapter's tools: the binaries `ADAPTER-TOOL`.
#[derive(Clone, Copy)]
struct Tools(&'static str);

impl Tools {
    /// The path of tool `name`; cargo builds every binary of the package
    /// before its integration tests, next to this one.
    fn path(self, name: &str) -> PathBuf {
        let any_tool = PathBuf::from(env!("CARGO_BIN_EXE_tokio-client"));
        any_tool.with_file_name(format!("{}-{name}{}", self.0, std::env::consts::EXE_SUFFIX))
    }

    /// Runs tool `name` to completion (with [`PATIENCE`] as a safety net).
    fn run(self, name: &str, args: &[&str], stdin: Option<&[u8]>) -> Output {
        let mut child = Command::new(self.path(name))
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

    fn spawn(self, name: &str, args: &[&str]) -> Child {
        Command::new(self.path(name))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Waits until the admin `status` of `server` shows one worker for `function`.
fn wait_for_worker(tools: Tools, server: &str, function: &str) {
    wait_for_worker_through(tools, &["--server", server], function);
}

/// [`wait_for_worker`] with the admin's server options `to_server`.
fn wait_for_worker_through(tools: Tools, to_server: &[&str], function: &str) {
    let start = Instant::now();
    let args: Vec<&str> = to_server.iter().copied().chain(["status"]).collect();
    loop {
        let out = tools.run("admin", &args, None);
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
fn client_and_worker_against(tools: Tools, server: &str) {
    let _worker = KillOnDrop(tools.spawn(
        "worker",
        &["--server", server, "--concurrency", "2", "--id", "examples"],
    ));
    wait_for_worker(tools, server, "sleep");
    let s = ["--server", server];
    let client = |extra: &[&str], stdin: Option<&[u8]>| {
        let args: Vec<&str> = s.iter().chain(extra).copied().collect();
        tools.run("client", &args, stdin)
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

fn examples_against_our_server(tools: Tools) {
    let mut server = KillOnDrop(tools.spawn("server", &["--listen", "127.0.0.1:0"]));
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

    client_and_worker_against(tools, &addr);

    let out = tools.run("admin", &["--server", &addr, "version"], None);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).starts_with("OK "), "{out:?}");
    let out = tools.run("admin", &["--server", &addr, "no_such_command"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).starts_with("ERR UNKNOWN_COMMAND"),
        "{out:?}"
    );

    let out = tools.run("quickstart", &["--server", &addr], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
}

fn examples_against_gearmand(tools: Tools) {
    let Some(gearmand) = Gearmand::start() else {
        return;
    };
    client_and_worker_against(tools, &gearmand.server());
    let out = tools.run("admin", &["--server", &gearmand.server(), "status"], None);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("reverse\t0\t0\t"), "{out:?}");
    assert!(text(&out.stdout).ends_with(".\n"));
    let out = tools.run("quickstart", &["--server", &gearmand.server()], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
}

fn quickstart_runs_alone(tools: Tools) {
    let out = tools.run("quickstart", &[], None);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.starts_with("embedded job server listening on 127.0.0.1:"));
    assert!(stdout.contains("foreground: reverse(\"hello gearman\")"));
    assert!(stdout.ends_with("all done\n"), "{stdout}");
}

fn client_without_server_exits_3(tools: Tools) {
    let port = free_port().to_string();
    let server = format!("127.0.0.1:{port}");
    let out = tools.run(
        "client",
        &["--server", &server, "--function", "reverse", "x"],
        None,
    );
    assert_eq!(out.status.code(), Some(3));
    // The message names the server and the socket error under it.
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with(&format!(
            "client: no job server could take the job: connection to {server} failed: "
        )),
        "{stderr}"
    );
    assert!(stderr.contains("refused"), "{stderr}");
    let out = tools.run("client", &["--bogus"], None);
    assert_eq!(out.status.code(), Some(3));
}

/// libgearman's worker says "Connection to ... failed" each time it tries
/// a server that is down, and keeps trying; so does ours, with the cause.
fn worker_without_server_says_so_and_retries(tools: Tools) {
    let server = format!("127.0.0.1:{}", free_port());
    let mut child = Command::new(tools.path("worker"))
        .args(["--server", &server, "-f", "x", "--", "cat"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let _worker = KillOnDrop(child);
    let (lines_tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let expected = format!("worker: connection to {server} failed: ");
    for attempt in 0..2 {
        let line = lines
            .recv_timeout(PATIENCE)
            .unwrap_or_else(|_| panic!("no report of attempt {attempt}"));
        assert!(line.starts_with(&expected), "{line}");
        assert!(line.contains("refused"), "{line}");
    }
}

fn worker_finishes_its_job_on_sigint(tools: Tools) {
    let Some(gearmand) = Gearmand::start() else {
        return;
    };
    let server = gearmand.server();
    let mut worker = KillOnDrop(tools.spawn("worker", &["--server", &server]));
    wait_for_worker(tools, &server, "sleep");
    let job = std::thread::spawn({
        let server = server.clone();
        move || {
            tools.run(
                "client",
                &["--server", &server, "--function", "sleep", "500"],
                None,
            )
        }
    });
    // Wait until the job runs, then interrupt the worker.
    let start = Instant::now();
    loop {
        let out = tools.run("admin", &["--server", &server, "status"], None);
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

fn help_prints_the_usage_and_exits_0(tools: Tools) {
    for tool in ["worker", "client", "admin", "server", "quickstart"] {
        let out = tools.run(tool, &["--help"], None);
        assert_eq!(out.status.code(), Some(0), "{tool} --help: {out:?}");
        assert!(
            text(&out.stdout).starts_with(&format!("usage: {tool} ")),
            "{tool} --help: {out:?}"
        );
        assert!(out.stderr.is_empty(), "{tool} --help: {out:?}");
    }
    // gearman's -H, in the tools that take its short options.
    for tool in ["worker", "client"] {
        let out = tools.run(tool, &["-H"], None);
        assert_eq!(out.status.code(), Some(0), "{tool} -H: {out:?}");
        assert!(text(&out.stdout).starts_with(&format!("usage: {tool} ")));
    }
}

/// Starts the tools' `server` on a free port; its address.
fn start_our_server(tools: Tools) -> (KillOnDrop, String) {
    start_our_server_with(tools, &[])
}

/// [`start_our_server`] with more options.
fn start_our_server_with(tools: Tools, options: &[&str]) -> (KillOnDrop, String) {
    let args: Vec<&str> = ["--listen", "127.0.0.1:0"]
        .iter()
        .chain(options)
        .copied()
        .collect();
    let mut server = KillOnDrop(tools.spawn("server", &args));
    let mut first_line = String::new();
    BufReader::new(server.0.stdout.take().unwrap())
        .read_line(&mut first_line)
        .unwrap();
    let addr = first_line
        .strip_prefix("listening on ")
        .expect("server prints `listening on ADDR`")
        .trim_end()
        .to_owned();
    (server, addr)
}

/// `server --cert --key --client-ca`, then `worker`, `admin` and `client`
/// with `--tls --ca --cert --key` run a job over mutual TLS; a client
/// trusting another CA fails naming the server and why.
fn tools_speak_tls(tools: Tools) {
    let pki = Pki::generate();
    let file = |name: &str| pki.path(name).to_str().unwrap().to_owned();
    let (cert, key, ca) = (file("server.pem"), file("server.key"), file("ca.pem"));
    let (_server, addr) =
        start_our_server_with(tools, &["--cert", &cert, "--key", &key, "--client-ca", &ca]);
    let (client_cert, client_key) = (file("client.pem"), file("client.key"));
    let tls = [
        "--server",
        &addr,
        "--tls",
        "--ca",
        &ca,
        "--cert",
        &client_cert,
        "--key",
        &client_key,
    ];
    let _worker = KillOnDrop(tools.spawn("worker", &tls));
    wait_for_worker_through(tools, &tls, "reverse");
    let client = |tls: &[&str]| {
        let args: Vec<&str> = tls
            .iter()
            .copied()
            .chain(["-f", "reverse", "hello"])
            .collect();
        tools.run("client", &args, None)
    };
    let out = client(&tls);
    assert_eq!(
        (out.status.code(), text(&out.stdout)),
        (Some(0), "olleh".into()),
        "{out:?}"
    );

    let other_ca = file("other-ca.pem");
    let out = client(&["--server", &addr, "--tls", "--ca", &other_ca]);
    assert_eq!(out.status.code(), Some(cli::exit::ERROR), "{out:?}");
    let stderr = text(&out.stderr);
    assert!(stderr.contains(&format!("tls://{addr}")), "{stderr}");
    assert!(
        stderr.contains("certificate not signed by a trusted CA"),
        "{stderr}"
    );
    // A plain client gets no Gearman reply from a TLS-only server.
    let out = client(&["--server", &addr, "-t", "300"]);
    assert_eq!(out.status.code(), Some(cli::exit::ERROR), "{out:?}");
}

/// `worker -f NAME -- COMMAND` and `client` with libgearman's short options,
/// as `gearman -w` and `gearman` are used.
fn command_workers_and_short_options(tools: Tools) {
    let (_server, addr) = start_our_server(tools);
    let port = addr.rsplit_once(':').unwrap().1;
    let hp = ["-h", "127.0.0.1", "-p", port];
    let worker = |extra: &[&str]| {
        let args: Vec<&str> = hp.iter().chain(extra).copied().collect();
        KillOnDrop(tools.spawn("worker", &args))
    };
    let _upper = worker(&["-w", "-f", "upper", "-f", "shout", "--", "tr", "a-z", "A-Z"]);
    let _fails = worker(&["-f", "fails", "false"]);
    let _missing = worker(&["-f", "missing", "--", "/nonexistent/command"]);
    for function in ["upper", "shout", "fails", "missing"] {
        wait_for_worker(tools, &addr, function);
    }
    let client = |extra: &[&str], stdin: Option<&[u8]>| {
        let args: Vec<&str> = hp.iter().chain(extra).copied().collect();
        tools.run("client", &args, stdin)
    };
    let ok = |out: Output| (out.status.code(), text(&out.stdout));

    assert_eq!(
        ok(client(&["-f", "upper", "hello"], None)),
        (Some(0), "HELLO".into())
    );
    let out = client(&["-f", "shout", "-t", "5000", "-I"], Some(b"from stdin\n"));
    assert_eq!(ok(out), (Some(0), "FROM STDIN\n".into()));
    // -s: an empty payload, standard input left unread.
    let out = client(&["-s", "-f", "upper"], Some(b"not sent"));
    assert_eq!(ok(out), (Some(0), String::new()));
    // A non-zero exit and a command that cannot start both fail the job.
    assert_eq!(
        ok(client(&["-f", "fails", "x"], None)),
        (Some(1), String::new())
    );
    assert_eq!(
        ok(client(&["-f", "missing", "x"], None)),
        (Some(1), String::new())
    );
    // -b -u: queued with its unique id, which the server then knows.
    let out = client(&["-b", "-u", "short-unique", "-f", "upper", "x"], None);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).starts_with("H:"), "{out:?}");
    let out = client(&["--status-unique", "short-unique"], None);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(text(&out.stdout).starts_with("known="), "{out:?}");

    let out = tools.run("worker", &["-f", "upper"], None);
    assert_eq!(out.status.code(), Some(3), "-f without a command: {out:?}");
    let out = tools.run("client", &["-s", "-f", "upper", "payload"], None);
    assert_eq!(out.status.code(), Some(3), "-s with a payload: {out:?}");
}

/// `admin`'s gearadmin options print, byte for byte, what gearadmin prints
/// against the same gearmand (the helper's single I/O thread lists
/// `workers` in one order).
fn admin_prints_what_gearadmin_prints(tools: Tools) {
    let Some(gearmand) = Gearmand::start() else {
        return;
    };
    if !have(GEARADMIN) {
        return;
    }
    let server = gearmand.server();
    let port = gearmand.port();
    let _worker = KillOnDrop(tools.spawn(
        "worker",
        &["--server", &server, "-f", "upper", "--", "tr", "a-z", "A-Z"],
    ));
    wait_for_worker(tools, &server, "upper");
    // A queued job no one takes, for `show jobs` and `status` to list.
    let out = tools.run(
        "client",
        &["--server", &server, "-b", "-f", "nobody-takes", "x"],
        None,
    );
    assert_eq!(out.status.code(), Some(0));

    let hp = ["-h", "127.0.0.1", "-p", port.as_str()];
    let with_server = |options: &[&str]| -> Vec<String> {
        hp.iter().chain(options).map(|s| s.to_string()).collect()
    };
    let gearadmin = |options: &[&str]| Command::new(GEARADMIN).args(with_server(options)).output();
    let admin = |options: &[&str]| {
        let args = with_server(options);
        tools.run(
            "admin",
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
            None,
        )
    };
    let printed = |out: &Output| (text(&out.stdout), text(&out.stderr));
    for options in [
        &["--status"][..],
        &["--workers"],
        &["--show-jobs"],
        &["--getpid"],
        &["--server-version"],
        &[
            "--status",
            "--workers",
            "--getpid",
            "--show-jobs",
            "--server-version",
        ],
    ] {
        let theirs = gearadmin(options).unwrap();
        let ours = admin(options);
        assert_eq!(printed(&ours), printed(&theirs), "{options:?}");
        assert_eq!(ours.status.code(), Some(0), "{options:?}");
        assert!(!theirs.stdout.is_empty(), "{options:?}: {theirs:?}");
    }
    let status = admin(&["--status"]);
    assert!(
        text(&status.stdout).contains("nobody-takes\t1\t0\t0\n"),
        "{status:?}"
    );

    // ERR: the same message and gearadmin's exit code (0: it reports the
    // reply, the exchange itself worked), alone and among other options.
    for options in [
        &["--drop-function", "no-such-function"][..],
        &["--drop-function", "no-such-function", "--getpid"],
    ] {
        let theirs = gearadmin(options).unwrap();
        let ours = admin(options);
        assert_eq!(printed(&ours), printed(&theirs), "{options:?}");
        assert!(text(&ours.stderr).starts_with("Error: "), "{ours:?}");
        assert_eq!(ours.status.code(), theirs.status.code(), "{options:?}");
        assert_eq!(theirs.status.code(), Some(0), "{theirs:?}");
    }
    // A raw command's ERR reply still says so in the exit code.
    let raw = admin(&["drop", "function", "no-such-function"]);
    assert!(text(&raw.stdout).starts_with("ERR "), "{raw:?}");
    assert_eq!(raw.status.code(), Some(1), "{raw:?}");

    // Creating then dropping a function changes the server: each tool does
    // both in turn, from the same state.
    let create = ["--create-function", "made-here"];
    let drop = ["--drop-function", "made-here"];
    let theirs = [gearadmin(&create).unwrap(), gearadmin(&drop).unwrap()];
    let ours = [admin(&create), admin(&drop)];
    for (ours, theirs) in ours.iter().zip(&theirs) {
        assert_eq!(printed(ours), printed(theirs));
        assert_eq!(ours.status.code(), Some(0), "{ours:?}");
    }
    assert_eq!(text(&ours[1].stdout), "OK\n");
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
    assert_eq!(c.request_timeout_ms, None);
    let c = cli::ClientArgs::parse(args("--request-timeout 250 --function f")).unwrap();
    assert_eq!(c.request_timeout_ms, Some(250));
    assert!(cli::ClientArgs::parse(args("--request-timeout soon --function f")).is_err());
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
    assert_eq!(a.server, "h:1");
    assert_eq!(a.requests, [AdminRequest::raw("show jobs").unwrap()]);
    assert!(!a.as_gearadmin);
    // gearadmin's options go in gearadmin's order, whatever the order given.
    let a = cli::AdminArgs::parse(args("-p 4731 --status --getpid --drop-function f")).unwrap();
    assert_eq!(a.server, "127.0.0.1:4731");
    assert_eq!(
        a.requests,
        [
            AdminRequest::GetPid,
            AdminRequest::DropFunction { name: "f".into() },
            AdminRequest::Status
        ]
    );
    assert!(a.as_gearadmin);
    assert!(cli::AdminArgs::parse(args("--status version")).is_err());
    assert!(cli::AdminArgs::parse(args("--server h:1 -h h --status")).is_err());
    assert_eq!(
        cli::AdminArgs::parse(args("status --help"))
            .unwrap()
            .requests
            .len(),
        1
    );
    assert_eq!(
        cli::AdminArgs::parse(args("--help")),
        Err(cli::UsageError::Help)
    );

    let w = cli::WorkerArgs::parse(args("-h ::1 -w -f up -f UP -t 9 -- tr a-z A-Z")).unwrap();
    assert_eq!(w.servers, ["[::1]:4730"]);
    assert_eq!((w.functions.len(), w.request_timeout_ms), (2, Some(9)));
    assert!(w.command.is_some());
    assert!(cli::WorkerArgs::parse(args("-f up")).is_err());
    assert!(cli::WorkerArgs::parse(args("-f up --")).is_err());
    assert!(cli::WorkerArgs::parse(args("tr a-z A-Z")).is_err());
    let c = cli::ClientArgs::parse(args("--server a:1 -p 7 -f f -b -u u -s -t 5 -L")).unwrap();
    assert_eq!(c.servers, ["a:1", "127.0.0.1:7"]);
    assert_eq!(c.request_timeout_ms, Some(5));
    assert_eq!(
        c.action,
        cli::ClientAction::Submit {
            function: "f".into(),
            background: true,
            priority: cli::PriorityArg::Low,
            unique: Some("u".into()),
            timeout_ms: None,
            payload: Some(Vec::new()),
        }
    );
    assert_eq!(
        cli::ClientArgs::parse(args("-f f -H")),
        Err(cli::UsageError::Help)
    );
    assert!(cli::ClientArgs::parse(args("-f f -x")).is_err());
    assert_eq!(
        cli::ServerArgs::parse(args("")).unwrap().listen,
        "127.0.0.1:4730"
    );

    // --tls makes every server TLS; a tls:// server is TLS without it.
    let c = cli::ClientArgs::parse(args("--tls --ca ca.pem --server a:1 -p 7 -f f")).unwrap();
    assert_eq!(c.servers, ["tls://a:1", "tls://127.0.0.1:7"]);
    assert_eq!(
        c.tls,
        Some(cli::ClientTls {
            ca: "ca.pem".into(),
            identity: None
        })
    );
    let w = cli::WorkerArgs::parse(args("--server tls://a:1 --server b:2 --ca ca.pem")).unwrap();
    assert_eq!(w.servers, ["tls://a:1", "b:2"]);
    let a = cli::AdminArgs::parse(args("--tls --ca c --cert k.pem --key k.key status")).unwrap();
    assert_eq!(a.server, "tls://127.0.0.1:4730");
    assert_eq!(
        a.tls.unwrap().identity,
        Some(("k.pem".into(), "k.key".into()))
    );
    assert!(cli::ClientArgs::parse(args("--tls -f f")).is_err());
    assert!(cli::WorkerArgs::parse(args("--server tls://a:1")).is_err());
    assert!(cli::AdminArgs::parse(args("--ca c --cert k.pem status")).is_err());
    assert_eq!(cli::WorkerArgs::parse(args("")).unwrap().tls, None);
    let server = cli::ServerArgs::parse(args("--cert s.pem --key s.key --client-ca ca.pem"));
    assert_eq!(
        server.unwrap().tls,
        Some(cli::ServerTls {
            cert: "s.pem".into(),
            key: "s.key".into(),
            client_ca: Some("ca.pem".into())
        })
    );
    assert!(cli::ServerArgs::parse(args("--cert s.pem")).is_err());
    assert!(cli::ServerArgs::parse(args("--client-ca ca.pem")).is_err());
    assert_eq!(
        cli::status_line(true, false, 3, 4),
        "known=1 running=0 numerator=3 denominator=4"
    );
}

/// The tests above, once per adapter's tools.
macro_rules! tests_for_each_adapter {
    ($($adapter:ident => $prefix:literal),* $(,)?) => {$(
        mod $adapter {
            use super::Tools;

            const TOOLS: Tools = Tools($prefix);

            #[test]
            fn examples_against_our_server() {
                super::examples_against_our_server(TOOLS);
            }

            #[test]
            fn examples_against_gearmand() {
                super::examples_against_gearmand(TOOLS);
            }

            #[test]
            fn quickstart_runs_alone() {
                super::quickstart_runs_alone(TOOLS);
            }

            #[test]
            fn client_without_server_exits_3() {
                super::client_without_server_exits_3(TOOLS);
            }

            #[test]
            fn help_prints_the_usage_and_exits_0() {
                super::help_prints_the_usage_and_exits_0(TOOLS);
            }

            #[test]
            fn command_workers_and_short_options() {
                super::command_workers_and_short_options(TOOLS);
            }

            #[test]
            fn admin_prints_what_gearadmin_prints() {
                super::admin_prints_what_gearadmin_prints(TOOLS);
            }

            #[test]
            fn worker_without_server_says_so_and_retries() {
                super::worker_without_server_says_so_and_retries(TOOLS);
            }

            #[test]
            fn tools_speak_tls() {
                super::tools_speak_tls(TOOLS);
            }

            #[test]
            fn worker_finishes_its_job_on_sigint() {
                super::worker_finishes_its_job_on_sigint(TOOLS);
            }
        }
    )*};
}

tests_for_each_adapter! {
    tokio => "tokio",
    async_std => "async-std",
    blocking => "blocking",
}
