//! Command lines and output formats of the example tools, with no runtime
//! in them, so every adapter's tools behave the same.

use std::fmt;
use std::process::ExitCode;

/// The tool's arguments as `parse` reads them; on a mistake prints
/// `TOOL: MISTAKE` and `usage`, and exits with [`exit::ERROR`].
#[allow(clippy::print_stderr, reason = "the tool's own output")]
pub fn parse_or_exit<T>(
    tool: &str,
    usage: &str,
    parse: impl FnOnce(std::vec::IntoIter<String>) -> Result<T, UsageError>,
) -> T {
    parse(std::env::args().skip(1).collect::<Vec<_>>().into_iter()).unwrap_or_else(|err| {
        eprintln!("{tool}: {err}\n{usage}");
        std::process::exit(exit::ERROR)
    })
}

/// Prints `TOOL: ERR` and gives exit code [`exit::ERROR`].
#[allow(clippy::print_stderr, reason = "the tool's own output")]
pub fn error_exit(tool: &str, err: impl fmt::Display) -> ExitCode {
    eprintln!("{tool}: {err}");
    ExitCode::from(exit::ERROR as u8)
}

/// The exit code of a tool that ran until stopped: success, or the error
/// as [`error_exit`] reports it.
pub fn ended<E: fmt::Display>(tool: &str, result: Result<(), E>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => error_exit(tool, err),
    }
}

/// `server`: prints `listening on ADDR` (flushed, as scripts wait for it),
/// or fails as [`error_exit`] does when the address is unknown.
#[allow(clippy::print_stdout, reason = "the tool's own output")]
pub fn announce_listening<E: fmt::Display>(
    addr: Result<std::net::SocketAddr, E>,
) -> Result<(), ExitCode> {
    let addr = addr.map_err(|err| error_exit("server", err))?;
    println!("listening on {addr}");
    let _ = std::io::Write::flush(&mut std::io::stdout());
    Ok(())
}

/// The server used when none is given.
pub const DEFAULT_SERVER: &str = "127.0.0.1:4730";

/// A command-line mistake; the tools print it and exit.
#[derive(Debug)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn value(args: &mut impl Iterator<Item = String>, flag: &str) -> Result<String, UsageError> {
    args.next()
        .ok_or_else(|| UsageError(format!("{flag} needs a value")))
}

fn number<T: std::str::FromStr>(text: &str, flag: &str) -> Result<T, UsageError> {
    text.parse()
        .map_err(|_| UsageError(format!("{flag}: not a number: {text}")))
}

/// `worker [--server HOST:PORT]... [--concurrency N] [--id NAME]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerArgs {
    /// Servers to take jobs from.
    pub servers: Vec<String>,
    /// Jobs run at once.
    pub concurrency: usize,
    /// Client id sent with SET_CLIENT_ID.
    pub id: Option<String>,
}

impl WorkerArgs {
    /// What the tool prints after a command-line mistake.
    pub const USAGE: &str = "usage: worker [--server HOST:PORT]... [--concurrency N] [--id NAME]";

    /// Parses the arguments after the program name.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<WorkerArgs, UsageError> {
        let mut parsed = WorkerArgs {
            servers: Vec::new(),
            concurrency: 1,
            id: None,
        };
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--server" => parsed.servers.push(value(&mut args, &arg)?),
                "--concurrency" => {
                    parsed.concurrency = number(&value(&mut args, &arg)?, &arg)?;
                    if parsed.concurrency == 0 {
                        return Err(UsageError("--concurrency must be at least 1".into()));
                    }
                }
                "--id" => parsed.id = Some(value(&mut args, &arg)?),
                other => return Err(UsageError(format!("unexpected argument: {other}"))),
            }
        }
        if parsed.servers.is_empty() {
            parsed.servers.push(DEFAULT_SERVER.into());
        }
        Ok(parsed)
    }
}

/// Job priority as spelled on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PriorityArg {
    /// `high`
    High,
    /// `normal`
    Normal,
    /// `low`
    Low,
}

/// What `client` was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientAction {
    /// Submit a job.
    Submit {
        /// Function name.
        function: String,
        /// Background job: print the handle and return.
        background: bool,
        /// Priority.
        priority: PriorityArg,
        /// Unique id, if given.
        unique: Option<String>,
        /// Per-job deadline in milliseconds.
        timeout_ms: Option<u64>,
        /// The payload; `None` means read standard input.
        payload: Option<Vec<u8>>,
    },
    /// `--status HANDLE`
    Status(String),
    /// `--status-unique UNIQUE`
    StatusUnique(String),
}

/// `client --function NAME [--server HOST:PORT]... [--background]
/// [--priority high|normal|low] [--unique ID] [--timeout-ms MS]
/// [--request-timeout MS] [PAYLOAD]`, or `client --status HANDLE`, or
/// `client --status-unique UNIQUE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientArgs {
    /// Servers to submit to.
    pub servers: Vec<String>,
    /// How long a request waits for the server's reply (JOB_CREATED, a
    /// status answer) before the server counts as stuck, in milliseconds;
    /// `None` keeps the client's default of 30 s.
    pub request_timeout_ms: Option<u64>,
    /// What to do.
    pub action: ClientAction,
}

impl ClientArgs {
    /// What the tool prints after a command-line mistake.
    pub const USAGE: &str = "usage: client --function NAME [--server HOST:PORT]... [--background] \
[--priority high|normal|low] [--unique ID] [--timeout-ms MS] [--request-timeout MS] [PAYLOAD]\n       \
client [--server HOST:PORT] [--request-timeout MS] --status HANDLE\n       \
client [--server HOST:PORT] [--request-timeout MS] --status-unique UNIQUE\n\
--timeout-ms: the job's deadline from submit to result (default: none)\n\
--request-timeout: how long the server may take to acknowledge a request before the \
client gives up on it and tries another server (default: 30000)";

    /// Parses the arguments after the program name.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<ClientArgs, UsageError> {
        let mut servers = Vec::new();
        let mut function = None;
        let mut background = false;
        let mut priority = PriorityArg::Normal;
        let mut unique = None;
        let mut timeout_ms = None;
        let mut request_timeout_ms = None;
        let mut payload = None;
        let mut status = None;
        let mut status_unique = None;
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--function" => function = Some(value(&mut args, &arg)?),
                "--server" => servers.push(value(&mut args, &arg)?),
                "--background" => background = true,
                "--priority" => {
                    priority = match value(&mut args, &arg)?.as_str() {
                        "high" => PriorityArg::High,
                        "normal" => PriorityArg::Normal,
                        "low" => PriorityArg::Low,
                        other => {
                            return Err(UsageError(format!(
                                "--priority must be high, normal or low, not {other}"
                            )));
                        }
                    }
                }
                "--unique" => unique = Some(value(&mut args, &arg)?),
                "--timeout-ms" => timeout_ms = Some(number(&value(&mut args, &arg)?, &arg)?),
                "--request-timeout" => {
                    request_timeout_ms = Some(number(&value(&mut args, &arg)?, &arg)?);
                }
                "--status" => status = Some(value(&mut args, &arg)?),
                "--status-unique" => status_unique = Some(value(&mut args, &arg)?),
                "--" => {
                    if let Some(rest) = args.next() {
                        payload = Some(rest.into_bytes());
                    }
                }
                flag if flag.starts_with("--") => {
                    return Err(UsageError(format!("unknown option: {flag}")));
                }
                _ if payload.is_none() => payload = Some(arg.into_bytes()),
                other => return Err(UsageError(format!("unexpected argument: {other}"))),
            }
        }
        if servers.is_empty() {
            servers.push(DEFAULT_SERVER.into());
        }
        let action = match (status, status_unique, function) {
            (Some(handle), None, None) => ClientAction::Status(handle),
            (None, Some(unique), None) => ClientAction::StatusUnique(unique),
            (None, None, Some(function)) => ClientAction::Submit {
                function,
                background,
                priority,
                unique,
                timeout_ms,
                payload,
            },
            (None, None, None) => {
                return Err(UsageError(
                    "one of --function, --status or --status-unique is needed".into(),
                ));
            }
            _ => {
                return Err(UsageError(
                    "--function, --status and --status-unique exclude each other".into(),
                ));
            }
        };
        Ok(ClientArgs {
            servers,
            request_timeout_ms,
            action,
        })
    }
}

/// `admin [--server HOST:PORT] COMMAND...`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminArgs {
    /// The server.
    pub server: String,
    /// The command line to send, words joined by spaces.
    pub command: String,
}

impl AdminArgs {
    /// What the tool prints after a command-line mistake.
    pub const USAGE: &str = "usage: admin [--server HOST:PORT] COMMAND...";

    /// Parses the arguments after the program name.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<AdminArgs, UsageError> {
        let mut server = DEFAULT_SERVER.to_string();
        let mut words = Vec::new();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            if words.is_empty() && arg == "--server" {
                server = value(&mut args, &arg)?;
            } else {
                words.push(arg);
            }
        }
        if words.is_empty() {
            return Err(UsageError("no admin command given (try: status)".into()));
        }
        Ok(AdminArgs {
            server,
            command: words.join(" "),
        })
    }
}

/// `server [--listen ADDR]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerArgs {
    /// Address to listen on.
    pub listen: String,
}

impl ServerArgs {
    /// What the tool prints after a command-line mistake.
    pub const USAGE: &str = "usage: server [--listen ADDR]";

    /// Parses the arguments after the program name.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<ServerArgs, UsageError> {
        let mut listen = DEFAULT_SERVER.to_string();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--listen" => listen = value(&mut args, &arg)?,
                other => return Err(UsageError(format!("unexpected argument: {other}"))),
            }
        }
        Ok(ServerArgs { listen })
    }
}

/// `quickstart [--server HOST:PORT]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuickstartArgs {
    /// An existing server, or `None` to start the embedded one.
    pub server: Option<String>,
}

impl QuickstartArgs {
    /// What the tool prints after a command-line mistake.
    pub const USAGE: &str = "usage: quickstart [--server HOST:PORT]";

    /// Parses the arguments after the program name.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<QuickstartArgs, UsageError> {
        let mut server = None;
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--server" => server = Some(value(&mut args, &arg)?),
                other => return Err(UsageError(format!("unexpected argument: {other}"))),
            }
        }
        Ok(QuickstartArgs { server })
    }
}

/// The line `client --status` prints.
pub fn status_line(known: bool, running: bool, numerator: u64, denominator: u64) -> String {
    format!(
        "known={} running={} numerator={numerator} denominator={denominator}",
        u8::from(known),
        u8::from(running)
    )
}

/// Exit codes of `client`.
pub mod exit {
    /// The job completed.
    pub const COMPLETE: i32 = 0;
    /// The job failed (WORK_FAIL).
    pub const FAIL: i32 = 1;
    /// The job raised an exception (WORK_EXCEPTION).
    pub const EXCEPTION: i32 = 2;
    /// Anything else: no server, timeout, bad arguments.
    pub const ERROR: i32 = 3;
}

/// What the example worker's `progress` function sends, in order, before
/// completing with `done`: status 1/2, data `a`, status 2/2, data `b`.
pub const PROGRESS_RESULT: &[u8] = b"done";

/// The example worker's `reverse`.
pub fn reversed(payload: &[u8]) -> Vec<u8> {
    payload.iter().rev().copied().collect()
}

/// The example worker's `sleep` argument, milliseconds in ASCII, or the
/// text of the exception the job ends with when it is not.
pub fn sleep_duration(payload: &[u8]) -> Result<std::time::Duration, &'static str> {
    std::str::from_utf8(payload)
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .map(std::time::Duration::from_millis)
        .ok_or("payload is not a number of milliseconds")
}
