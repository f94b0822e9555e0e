//! Command lines and output formats of the example tools, with no runtime
//! in them, so every adapter's tools behave the same.

use std::fmt;
use std::process::ExitCode;
use std::time::Duration;

use std::path::PathBuf;
use std::sync::Arc;

use gearman_proto::admin::AdminRequest;
use gearman_proto::worker::WorkerConfig;
use gearman_tls::{ConfigError, rustls};

pub use crate::job_command::JobCommand;

/// The tool's arguments as `parse` reads them. On `--help` (or `-H`
/// where the tool takes it) prints `usage` on standard output and exits 0;
/// on a mistake prints `TOOL: MISTAKE` and `usage` on standard error and
/// exits with [`exit::ERROR`].
#[allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "the tool's own output"
)]
pub fn parse_or_exit<T>(
    tool: &str,
    usage: &str,
    parse: impl FnOnce(std::vec::IntoIter<String>) -> Result<T, UsageError>,
) -> T {
    match parse(std::env::args().skip(1).collect::<Vec<_>>().into_iter()) {
        Ok(args) => args,
        Err(UsageError::Help) => {
            println!("{usage}");
            std::process::exit(0)
        }
        Err(UsageError::Mistake(err)) => {
            eprintln!("{tool}: {err}\n{usage}");
            std::process::exit(exit::ERROR)
        }
    }
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

/// Why a command line gave no arguments to run with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsageError {
    /// `--help` (or `-H`): print the usage and exit 0.
    Help,
    /// A mistake; the tools print it with the usage and exit.
    Mistake(String),
}

impl UsageError {
    fn new(text: impl Into<String>) -> UsageError {
        UsageError::Mistake(text.into())
    }
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsageError::Help => f.write_str("help asked for"),
            UsageError::Mistake(text) => f.write_str(text),
        }
    }
}

fn value(args: &mut impl Iterator<Item = String>, flag: &str) -> Result<String, UsageError> {
    args.next()
        .ok_or_else(|| UsageError::new(format!("{flag} needs a value")))
}

fn number<T: std::str::FromStr>(text: &str, flag: &str) -> Result<T, UsageError> {
    text.parse()
        .map_err(|_| UsageError::new(format!("{flag}: not a number: {text}")))
}

/// `-h HOST` and `-p PORT` as libgearman's tools take them: together they
/// name one server, `HOST:PORT`, with 127.0.0.1 and 4730 for the one not
/// given.
#[derive(Default)]
struct HostAndPort {
    host: Option<String>,
    port: Option<String>,
}

impl HostAndPort {
    /// Takes `-h`'s or `-p`'s value.
    fn set(&mut self, flag: &str, value: String) {
        if flag == "-h" {
            self.host = Some(value);
        } else {
            self.port = Some(value);
        }
    }

    /// The server, when `-h` or `-p` was given.
    fn server(self) -> Option<String> {
        if self.host.is_none() && self.port.is_none() {
            return None;
        }
        let host = self.host.unwrap_or_else(|| "127.0.0.1".into());
        let port = self.port.unwrap_or_else(|| "4730".into());
        // An IPv6 address needs brackets before its port.
        Some(if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        })
    }
}

/// The PEM files a client, worker or admin trusts and presents over TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientTls {
    /// The CA certificates the servers' certificates must chain to (`--ca`).
    pub ca: PathBuf,
    /// The certificate chain and key presented for mutual TLS (`--cert`,
    /// `--key`), when given.
    pub identity: Option<(PathBuf, PathBuf)>,
}

impl ClientTls {
    /// The rustls configuration these files make.
    pub fn config(&self) -> Result<Arc<rustls::ClientConfig>, ConfigError> {
        gearman_tls::client_config(
            &self.ca,
            self.identity.as_ref().map(|(cert, key)| (cert, key)),
        )
    }
}

/// The usage lines of [`TlsFlags`], shared by client, worker and admin.
macro_rules! client_tls_usage {
    () => {
        "TLS (a tls://HOST:PORT server is TLS even without --tls):
  --tls                    TLS to every server; needs --ca
  --ca FILE                trust the CA certificates in this PEM file; a
                           server's certificate must name the host dialled
  --cert FILE, --key FILE  present this certificate chain and key (PEM) to
                           servers that require client certificates"
    };
}

/// `--tls`, `--ca`, `--cert` and `--key` as a command line gives them.
#[derive(Default)]
struct TlsFlags {
    tls: bool,
    ca: Option<PathBuf>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
}

impl TlsFlags {
    /// Takes `flag` (and its value) when it is one of these; false otherwise.
    fn take(
        &mut self,
        flag: &str,
        args: &mut impl Iterator<Item = String>,
    ) -> Result<bool, UsageError> {
        match flag {
            "--tls" => self.tls = true,
            "--ca" => self.ca = Some(value(args, flag)?.into()),
            "--cert" => self.cert = Some(value(args, flag)?.into()),
            "--key" => self.key = Some(value(args, flag)?.into()),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// With `--tls`, makes every server in `servers` a `tls://` one; the
    /// files to use, when a CA was given. TLS servers without `--ca` and a
    /// certificate without its key (or the other way round) are mistakes.
    fn finish(self, servers: &mut [String]) -> Result<Option<ClientTls>, UsageError> {
        if self.tls {
            for server in servers.iter_mut() {
                if !server.starts_with(gearman_tls::TLS_SCHEME) {
                    server.insert_str(0, gearman_tls::TLS_SCHEME);
                }
            }
        }
        let identity = match (self.cert, self.key) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => return Err(UsageError::new("--cert and --key go together")),
        };
        let Some(ca) = self.ca else {
            if identity.is_some()
                || servers
                    .iter()
                    .any(|s| s.starts_with(gearman_tls::TLS_SCHEME))
            {
                return Err(UsageError::new("TLS needs --ca FILE"));
            }
            return Ok(None);
        };
        Ok(Some(ClientTls { ca, identity }))
    }
}

/// `worker [OPTIONS]`, or `worker [OPTIONS] -f NAME... [--] COMMAND [ARGS...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerArgs {
    /// Servers to take jobs from.
    pub servers: Vec<String>,
    /// Jobs run at once.
    pub concurrency: usize,
    /// Client id sent with SET_CLIENT_ID.
    pub id: Option<String>,
    /// How long a server may take to answer a grab, in milliseconds;
    /// `None` keeps the worker's default of 30 s.
    pub request_timeout_ms: Option<u64>,
    /// The functions `command` serves (`-f`); empty without a command.
    pub functions: Vec<String>,
    /// The command run for each job; `None` serves the example functions.
    pub command: Option<JobCommand>,
    /// TLS files, when `--ca` was given.
    pub tls: Option<ClientTls>,
}

impl WorkerArgs {
    /// What the tool prints for `--help` and after a command-line mistake.
    pub const USAGE: &str = concat!(
        "\
usage: worker [OPTIONS]
       worker [OPTIONS] -f NAME... [--] COMMAND [ARGS...]
Without COMMAND the worker serves the example functions reverse, echo, fail,
exception, progress and sleep. With COMMAND it serves only the functions named
by -f and runs COMMAND ARGS for each job: the payload on its standard input,
its standard output the result; a non-zero exit (or a command that cannot
start) fails the job; its standard error is the worker's.
  --server HOST:PORT         a job server; repeatable (default: 127.0.0.1:4730)
  -h HOST, -p PORT           one more server, HOST:PORT (defaults: 127.0.0.1, 4730)
  -f, --function NAME        a function COMMAND serves; repeatable
  --concurrency N            jobs run at once (default: 1)
  --id NAME                  the client id shown by admin workers (default: none)
  -t, --request-timeout MS   how long a server may take to answer a grab before
                             the worker counts it as stuck (default: 30000)
  -w                         accepted and ignored (gearman's worker mode)
  -H, --help                 print this and exit
",
        client_tls_usage!()
    );

    /// Parses the arguments after the program name.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<WorkerArgs, UsageError> {
        let mut parsed = WorkerArgs {
            servers: Vec::new(),
            concurrency: 1,
            id: None,
            request_timeout_ms: None,
            functions: Vec::new(),
            command: None,
            tls: None,
        };
        let mut host_and_port = HostAndPort::default();
        let mut tls = TlsFlags::default();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            if tls.take(&arg, &mut args)? {
                continue;
            }
            match arg.as_str() {
                "--help" | "-H" => return Err(UsageError::Help),
                "--server" => parsed.servers.push(value(&mut args, &arg)?),
                "-h" | "-p" => host_and_port.set(&arg, value(&mut args, &arg)?),
                "-f" | "--function" => parsed.functions.push(value(&mut args, &arg)?),
                "--concurrency" => {
                    parsed.concurrency = number(&value(&mut args, &arg)?, &arg)?;
                    if parsed.concurrency == 0 {
                        return Err(UsageError::new("--concurrency must be at least 1"));
                    }
                }
                "--id" => parsed.id = Some(value(&mut args, &arg)?),
                "-t" | "--request-timeout" => {
                    parsed.request_timeout_ms = Some(number(&value(&mut args, &arg)?, &arg)?);
                }
                "-w" => {}
                "--" => {
                    parsed.command = Some(JobCommand::new(args.by_ref().collect())?);
                }
                flag if flag.starts_with('-') => {
                    return Err(UsageError::new(format!("unknown option: {flag}")));
                }
                _ => {
                    let words = std::iter::once(arg).chain(args.by_ref()).collect();
                    parsed.command = Some(JobCommand::new(words)?);
                }
            }
        }
        match (&parsed.command, parsed.functions.is_empty()) {
            (Some(_), true) => return Err(UsageError::new("a COMMAND needs -f NAME")),
            (None, false) => return Err(UsageError::new("-f NAME needs a COMMAND to run")),
            _ => {}
        }
        parsed.servers.extend(host_and_port.server());
        if parsed.servers.is_empty() {
            parsed.servers.push(DEFAULT_SERVER.into());
        }
        parsed.tls = tls.finish(&mut parsed.servers)?;
        Ok(parsed)
    }

    /// The worker's configuration: servers, concurrency, client id and grab
    /// reply timeout as given; the adapters' defaults otherwise.
    pub fn config(&self) -> WorkerConfig {
        let mut config = WorkerConfig::new(self.servers.clone()).with_concurrency(self.concurrency);
        if let Some(id) = &self.id {
            config = config.with_client_id(id.clone());
        }
        if let Some(ms) = self.request_timeout_ms {
            config = config.with_grab_reply_timeout(Some(Duration::from_millis(ms)));
        }
        config
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

/// `client -f NAME [OPTIONS] [PAYLOAD]`, or `client [OPTIONS] --status
/// HANDLE`, or `client [OPTIONS] --status-unique UNIQUE`.
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
    /// TLS files, when `--ca` was given.
    pub tls: Option<ClientTls>,
}

impl ClientArgs {
    /// What the tool prints for `--help` and after a command-line mistake.
    pub const USAGE: &str = concat!(
        "\
usage: client -f NAME [OPTIONS] [PAYLOAD]
       client [OPTIONS] --status HANDLE
       client [OPTIONS] --status-unique UNIQUE
Submits a job to function NAME with PAYLOAD, or standard input when there is
none (a PAYLOAD that starts with - goes after --).
  --server HOST:PORT          a job server; repeatable (default: 127.0.0.1:4730)
  -h HOST, -p PORT            one more server, HOST:PORT (defaults: 127.0.0.1, 4730)
  -f, --function NAME         the function
  -b, --background            queue the job and print its handle
  --priority high|normal|low  the job's priority (default: normal)
  -I, -L                      --priority high, --priority low
  -u, --unique ID             the job's unique id (default: none)
  -s                          send an empty payload; read no standard input
  --timeout-ms MS             the job's deadline from submit to result (default: none)
  -t, --request-timeout MS    how long the server may take to acknowledge a request
                              before the client gives up on it and tries another
                              server (default: 30000)
  --status HANDLE             ask each server in turn about a job
  --status-unique UNIQUE      ask about a job by its unique id
  -H, --help                  print this and exit
",
        client_tls_usage!()
    );

    /// Parses the arguments after the program name.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<ClientArgs, UsageError> {
        let mut servers = Vec::new();
        let mut host_and_port = HostAndPort::default();
        let mut function = None;
        let mut background = false;
        let mut priority = PriorityArg::Normal;
        let mut unique = None;
        let mut timeout_ms = None;
        let mut request_timeout_ms = None;
        let mut payload = None;
        let mut no_payload = false;
        let mut status = None;
        let mut status_unique = None;
        let mut tls = TlsFlags::default();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            if tls.take(&arg, &mut args)? {
                continue;
            }
            match arg.as_str() {
                "--help" | "-H" => return Err(UsageError::Help),
                "-f" | "--function" => function = Some(value(&mut args, &arg)?),
                "--server" => servers.push(value(&mut args, &arg)?),
                "-h" | "-p" => host_and_port.set(&arg, value(&mut args, &arg)?),
                "-b" | "--background" => background = true,
                "--priority" => {
                    priority = match value(&mut args, &arg)?.as_str() {
                        "high" => PriorityArg::High,
                        "normal" => PriorityArg::Normal,
                        "low" => PriorityArg::Low,
                        other => {
                            return Err(UsageError::new(format!(
                                "--priority must be high, normal or low, not {other}"
                            )));
                        }
                    }
                }
                "-I" => priority = PriorityArg::High,
                "-L" => priority = PriorityArg::Low,
                "-u" | "--unique" => unique = Some(value(&mut args, &arg)?),
                "-s" => no_payload = true,
                "--timeout-ms" => timeout_ms = Some(number(&value(&mut args, &arg)?, &arg)?),
                "-t" | "--request-timeout" => {
                    request_timeout_ms = Some(number(&value(&mut args, &arg)?, &arg)?);
                }
                "--status" => status = Some(value(&mut args, &arg)?),
                "--status-unique" => status_unique = Some(value(&mut args, &arg)?),
                "--" => {
                    if let Some(rest) = args.next() {
                        payload = Some(rest.into_bytes());
                    }
                }
                flag if flag.starts_with('-') && flag != "-" => {
                    return Err(UsageError::new(format!("unknown option: {flag}")));
                }
                _ if payload.is_none() => payload = Some(arg.into_bytes()),
                other => return Err(UsageError::new(format!("unexpected argument: {other}"))),
            }
        }
        if no_payload {
            if payload.is_some() {
                return Err(UsageError::new("-s and a PAYLOAD exclude each other"));
            }
            payload = Some(Vec::new());
        }
        servers.extend(host_and_port.server());
        if servers.is_empty() {
            servers.push(DEFAULT_SERVER.into());
        }
        let tls = tls.finish(&mut servers)?;
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
                return Err(UsageError::new(
                    "one of --function, --status or --status-unique is needed",
                ));
            }
            _ => {
                return Err(UsageError::new(
                    "--function, --status and --status-unique exclude each other",
                ));
            }
        };
        Ok(ClientArgs {
            servers,
            request_timeout_ms,
            action,
            tls,
        })
    }
}

/// `admin [SERVER] COMMAND...`, or `admin [SERVER] GEARADMIN-OPTION...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminArgs {
    /// The server.
    pub server: String,
    /// The requests to send, in order: one raw line, or those the gearadmin
    /// options ask for in the order gearadmin sends them.
    pub requests: Vec<AdminRequest>,
    /// Whether the replies are printed as gearadmin prints them (gearadmin
    /// options), or as the server sent them (a raw COMMAND).
    pub as_gearadmin: bool,
    /// TLS files, when `--ca` was given.
    pub tls: Option<ClientTls>,
}

impl AdminArgs {
    /// What the tool prints for `--help` and after a command-line mistake.
    pub const USAGE: &str = concat!(
        "\
usage: admin [--server HOST:PORT | -h HOST -p PORT] COMMAND...
       admin [--server HOST:PORT | -h HOST -p PORT] GEARADMIN-OPTION...
COMMAND... is sent as one line (words joined by spaces) and the reply printed
as the server sent it. The server defaults to 127.0.0.1:4730; -h and -p
default to 127.0.0.1 and 4730. GEARADMIN-OPTIONs print what gearadmin
prints; several are sent in gearadmin's order:
  --getpid                  the server's process id
  --create-function NAME    create the function's queue
  --drop-function NAME      drop the function's queue
  --show-jobs               the jobs the server holds
  --server-version          the server's version
  --workers                 the connected workers and their functions
  --status                  queued, running and workers per function
  --help                    print this and exit
",
        client_tls_usage!(),
        "
Exit code 0, or 1 when a reply to a COMMAND is ERR, 3 when no reply came.
An ERR reply to a GEARADMIN-OPTION prints as `Error: ...` on standard error
and exits 0, as gearadmin does."
    );

    /// Parses the arguments after the program name.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<AdminArgs, UsageError> {
        let mut server = None;
        let mut host_and_port = HostAndPort::default();
        // (place in gearadmin's order, request)
        let mut options: Vec<(u8, AdminRequest)> = Vec::new();
        let mut words = Vec::new();
        let mut tls = TlsFlags::default();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            if !words.is_empty() {
                words.push(arg);
                continue;
            }
            if tls.take(&arg, &mut args)? {
                continue;
            }
            let option = match arg.as_str() {
                "--help" => return Err(UsageError::Help),
                "--server" => {
                    server = Some(value(&mut args, &arg)?);
                    continue;
                }
                "-h" | "-p" => {
                    host_and_port.set(&arg, value(&mut args, &arg)?);
                    continue;
                }
                "--getpid" => (0, AdminRequest::GetPid),
                "--create-function" => (
                    1,
                    AdminRequest::CreateFunction {
                        name: value(&mut args, &arg)?.into(),
                    },
                ),
                "--drop-function" => (
                    2,
                    AdminRequest::DropFunction {
                        name: value(&mut args, &arg)?.into(),
                    },
                ),
                "--show-jobs" => (3, AdminRequest::ShowJobs),
                "--server-version" => (4, AdminRequest::Version),
                "--workers" => (5, AdminRequest::Workers),
                "--status" => (6, AdminRequest::Status),
                flag if flag.starts_with('-') => {
                    return Err(UsageError::new(format!("unknown option: {flag}")));
                }
                _ => {
                    words.push(arg);
                    continue;
                }
            };
            options.push(option);
        }
        let mut server = match (server, host_and_port.server()) {
            (Some(_), Some(_)) => {
                return Err(UsageError::new("--server and -h/-p exclude each other"));
            }
            (Some(server), None) | (None, Some(server)) => server,
            (None, None) => DEFAULT_SERVER.to_string(),
        };
        let tls = tls.finish(std::slice::from_mut(&mut server))?;
        let as_gearadmin = words.is_empty();
        let requests = if as_gearadmin {
            if options.is_empty() {
                return Err(UsageError::new("no admin command given (try: status)"));
            }
            options.sort_by_key(|(place, _)| *place);
            options.into_iter().map(|(_, request)| request).collect()
        } else {
            if !options.is_empty() {
                return Err(UsageError::new(
                    "gearadmin options and a COMMAND exclude each other",
                ));
            }
            let raw = AdminRequest::raw(words.join(" "))
                .map_err(|_| UsageError::new("a COMMAND cannot hold a line break"))?;
            vec![raw]
        };
        Ok(AdminArgs {
            server,
            requests,
            as_gearadmin,
            tls,
        })
    }
}

/// The PEM files a TLS server presents and trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTls {
    /// The certificate chain presented (`--cert`).
    pub cert: PathBuf,
    /// Its private key (`--key`).
    pub key: PathBuf,
    /// The CAs client certificates must chain to (`--client-ca`); `None`
    /// asks clients for no certificate.
    pub client_ca: Option<PathBuf>,
}

impl ServerTls {
    /// The rustls configuration these files make.
    pub fn config(&self) -> Result<Arc<rustls::ServerConfig>, ConfigError> {
        gearman_tls::server_config(&self.cert, &self.key, self.client_ca.as_ref())
    }
}

/// `server [--listen ADDR] [--cert FILE --key FILE [--client-ca FILE]]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerArgs {
    /// Address to listen on.
    pub listen: String,
    /// TLS files, when `--cert` and `--key` were given: then every
    /// connection is TLS.
    pub tls: Option<ServerTls>,
}

impl ServerArgs {
    /// What the tool prints for `--help` and after a command-line mistake.
    pub const USAGE: &str =
        "usage: server [--listen ADDR] [--cert FILE --key FILE [--client-ca FILE]]
  --listen ADDR      the address to listen on; port 0 picks a free one
                     (default: 127.0.0.1:4730)
  --cert FILE        serve TLS only, presenting this certificate chain (PEM)
  --key FILE         the certificate's private key (PEM)
  --client-ca FILE   require client certificates from the CAs in this PEM
                     file (default: ask for none)
  --help             print this and exit";

    /// Parses the arguments after the program name.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<ServerArgs, UsageError> {
        let mut listen = DEFAULT_SERVER.to_string();
        let (mut cert, mut key, mut client_ca) = (None, None, None);
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--help" => return Err(UsageError::Help),
                "--listen" => listen = value(&mut args, &arg)?,
                "--cert" => cert = Some(value(&mut args, &arg)?.into()),
                "--key" => key = Some(value(&mut args, &arg)?.into()),
                "--client-ca" => client_ca = Some(value(&mut args, &arg)?.into()),
                other => return Err(UsageError::new(format!("unexpected argument: {other}"))),
            }
        }
        let tls = match (cert, key, client_ca) {
            (Some(cert), Some(key), client_ca) => Some(ServerTls {
                cert,
                key,
                client_ca,
            }),
            (None, None, None) => None,
            (None, None, Some(_)) => {
                return Err(UsageError::new("--client-ca needs --cert and --key"));
            }
            _ => return Err(UsageError::new("--cert and --key go together")),
        };
        Ok(ServerArgs { listen, tls })
    }
}

/// `quickstart [--server HOST:PORT]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuickstartArgs {
    /// An existing server, or `None` to start the embedded one.
    pub server: Option<String>,
}

impl QuickstartArgs {
    /// What the tool prints for `--help` and after a command-line mistake.
    pub const USAGE: &str = "usage: quickstart [--server HOST:PORT]
  --server HOST:PORT   run the tour through this job server (default: start
                       the embedded one on a free loopback port)
  --help               print this and exit";

    /// Parses the arguments after the program name.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<QuickstartArgs, UsageError> {
        let mut server = None;
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--help" => return Err(UsageError::Help),
                "--server" => server = Some(value(&mut args, &arg)?),
                other => return Err(UsageError::new(format!("unexpected argument: {other}"))),
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
