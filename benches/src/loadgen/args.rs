//! The load generator's command line, parsed without a runtime so every
//! adapter's run sees the same settings.

use std::fmt;

use bytes::Bytes;
use gearman_proto::client::JobRequest;

/// Which adapter drives our client and worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adapter {
    /// `gearman-tokio`.
    Tokio,
    /// `gearman-async-std`.
    AsyncStd,
    /// `gearman-blocking`.
    Blocking,
}

impl Adapter {
    /// The name used on the command line and in the summary.
    pub fn name(self) -> &'static str {
        match self {
            Adapter::Tokio => "tokio",
            Adapter::AsyncStd => "async-std",
            Adapter::Blocking => "blocking",
        }
    }
}

/// What one run does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    /// The job server; `None` starts the embedded one in-process.
    pub server: Option<String>,
    /// The adapter under test.
    pub adapter: Adapter,
    /// Jobs submitted in total.
    pub jobs: u64,
    /// Jobs kept in flight.
    pub concurrency: usize,
    /// Payload size in bytes.
    pub payload: usize,
    /// Submit background jobs (done when the server has queued them).
    pub background: bool,
    /// The function the jobs call.
    pub function: String,
    /// Jobs our in-process worker runs at once; 0 starts no worker (for a
    /// worker in another process, or to hold jobs in flight).
    pub worker_concurrency: usize,
    /// Worker connections to the server (one worker each) in this process.
    pub workers: usize,
    /// Instead of a throughput run: submit `concurrency` jobs that no worker
    /// takes and report the client's memory per job in flight.
    pub memory: bool,
    /// Gives up after this many seconds.
    pub time_limit: u64,
    /// Runtime threads: 0 for the runtime's default (one per core), 1 for
    /// a single-threaded runtime.
    pub threads: usize,
    /// Connections our worker keeps to the server: each keeps grabs
    /// outstanding, so more connections spread the jobs over more of the
    /// server's threads.
    pub connections: usize,
    /// Everything over TLS through the embedded server.
    pub tls: bool,
    /// async-std: the embedded server runs under its own `block_on` on a
    /// thread of its own instead of in the load's task.
    pub server_thread: bool,
}

/// Why a command line gave no run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsageError {
    /// `--help`: print [`USAGE`] and exit 0.
    Help,
    /// A mistake, printed with [`USAGE`].
    Mistake(String),
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsageError::Help => f.write_str("help asked for"),
            UsageError::Mistake(text) => f.write_str(text),
        }
    }
}

/// Printed with any usage error.
pub const USAGE: &str = "usage: loadgen [--server HOST:PORT] [--adapter tokio|async-std|blocking] \
[--jobs N] [--concurrency C] [--payload BYTES] [--background] [--function NAME] \
[--worker-concurrency N] [--workers N] [--connections N] [--threads N] [--memory] \
[--time-limit SECONDS] [--tls] [--server-thread]\n       loadgen --adapters\n       loadgen --help";

fn number<T: std::str::FromStr>(flag: &str, text: &str) -> Result<T, UsageError> {
    text.parse()
        .map_err(|_| UsageError::Mistake(format!("{flag}: not a number: {text}")))
}

impl Args {
    /// Parses the arguments after the program name.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Args, UsageError> {
        let mut parsed = Args {
            server: None,
            adapter: Adapter::Tokio,
            jobs: 100_000,
            concurrency: 64,
            payload: 100,
            background: false,
            function: "echo".to_owned(),
            worker_concurrency: usize::MAX,
            workers: 1,
            memory: false,
            time_limit: 300,
            threads: 0,
            connections: 1,
            tls: false,
            server_thread: false,
        };
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            match flag.as_str() {
                "--help" => return Err(UsageError::Help),
                "--background" => {
                    parsed.background = true;
                    continue;
                }
                "--memory" => {
                    parsed.memory = true;
                    continue;
                }
                "--tls" => {
                    parsed.tls = true;
                    continue;
                }
                "--server-thread" => {
                    parsed.server_thread = true;
                    continue;
                }
                _ => {}
            }
            let value = args
                .next()
                .ok_or_else(|| UsageError::Mistake(format!("{flag} needs a value")))?;
            match flag.as_str() {
                "--server" => parsed.server = Some(value),
                "--adapter" => {
                    parsed.adapter = match value.as_str() {
                        "tokio" => Adapter::Tokio,
                        "async-std" => Adapter::AsyncStd,
                        "blocking" => Adapter::Blocking,
                        other => {
                            return Err(UsageError::Mistake(format!("unknown adapter: {other}")));
                        }
                    }
                }
                "--jobs" => parsed.jobs = number(&flag, &value)?,
                "--concurrency" => parsed.concurrency = number(&flag, &value)?,
                "--payload" => parsed.payload = number(&flag, &value)?,
                "--function" => parsed.function = value,
                "--worker-concurrency" => parsed.worker_concurrency = number(&flag, &value)?,
                "--workers" => parsed.workers = number(&flag, &value)?,
                "--time-limit" => parsed.time_limit = number(&flag, &value)?,
                "--threads" => parsed.threads = number(&flag, &value)?,
                "--connections" => parsed.connections = number(&flag, &value)?,
                other => return Err(UsageError::Mistake(format!("unknown argument: {other}"))),
            }
        }
        if parsed.jobs == 0
            || parsed.concurrency == 0
            || parsed.workers == 0
            || parsed.connections == 0
        {
            return Err(UsageError::Mistake(
                "--jobs, --concurrency, --workers and --connections must be at least 1".into(),
            ));
        }
        if parsed.tls && parsed.server.is_some() {
            return Err(UsageError::Mistake(
                "--tls runs through the embedded server only (gearmand here has no TLS)".into(),
            ));
        }
        if parsed.server_thread && (parsed.adapter != Adapter::AsyncStd || parsed.server.is_some())
        {
            return Err(UsageError::Mistake(
                "--server-thread places async-std's embedded server: --adapter async-std, no --server"
                    .into(),
            ));
        }
        if parsed.worker_concurrency == usize::MAX {
            // As many as the client keeps in flight, unless jobs are to be held.
            parsed.worker_concurrency = if parsed.memory { 0 } else { parsed.concurrency };
        }
        if parsed.server.is_none() && parsed.worker_concurrency == 0 && !parsed.memory {
            return Err(UsageError::Mistake(
                "the embedded server needs our worker: --worker-concurrency 0 only with --server"
                    .into(),
            ));
        }
        Ok(parsed)
    }
}

impl Args {
    /// The function the jobs call: in a memory run, one nobody serves.
    pub fn function_to_call(&self) -> String {
        if self.memory {
            format!("{}-held-{}", self.function, std::process::id())
        } else {
            self.function.clone()
        }
    }

    /// The request for one job.
    pub fn request(&self, function: &str, payload: Bytes) -> JobRequest {
        let request = JobRequest::new(function.to_owned(), payload);
        if self.background {
            request.in_background()
        } else {
            request
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Args, UsageError> {
        Args::parse(line.split_whitespace().map(str::to_owned))
    }

    #[test]
    fn defaults_are_a_64_in_flight_echo_run_on_the_embedded_server() {
        let args = parse("").unwrap();
        assert_eq!(args.server, None);
        assert_eq!(args.adapter, Adapter::Tokio);
        assert_eq!(
            (args.jobs, args.concurrency, args.payload),
            (100_000, 64, 100)
        );
        assert_eq!(args.function, "echo");
        assert_eq!(args.worker_concurrency, 64);
        assert!(!args.background && !args.memory && !args.tls && !args.server_thread);
    }

    #[test]
    fn tls_runs_go_through_the_embedded_server() {
        assert!(parse("--tls --adapter blocking").unwrap().tls);
        assert!(parse("--tls --server 127.0.0.1:4730").is_err());
    }

    #[test]
    fn a_server_thread_is_for_the_async_std_embedded_server() {
        assert!(
            parse("--adapter async-std --server-thread")
                .unwrap()
                .server_thread
        );
        assert!(parse("--adapter tokio --server-thread").is_err());
        assert!(parse("--adapter async-std --server-thread --server 127.0.0.1:4730").is_err());
    }

    #[test]
    fn every_flag_is_read() {
        let args = parse(
            "--server 127.0.0.1:4730 --adapter blocking --jobs 10 --concurrency 3 --payload 7 \
             --background --function f --worker-concurrency 0 --workers 2 --time-limit 9 \
             --threads 1 --connections 4",
        )
        .unwrap();
        assert_eq!(args.server.as_deref(), Some("127.0.0.1:4730"));
        assert_eq!(args.adapter, Adapter::Blocking);
        assert_eq!((args.jobs, args.concurrency, args.payload), (10, 3, 7));
        assert!(args.background);
        assert_eq!(args.function, "f");
        assert_eq!(
            (args.worker_concurrency, args.workers, args.time_limit),
            (0, 2, 9)
        );
    }

    #[test]
    fn memory_runs_start_no_worker_by_default() {
        let args = parse("--memory --concurrency 100000").unwrap();
        assert_eq!(args.worker_concurrency, 0);
    }

    #[test]
    fn background_runs_send_background_requests() {
        let args = parse("--background").unwrap();
        let request = args.request("echo", Bytes::from_static(b"x"));
        assert!(request.background);
        assert!(!parse("").unwrap().request("echo", Bytes::new()).background);
    }

    #[test]
    fn memory_runs_call_a_function_nobody_serves() {
        assert_eq!(parse("").unwrap().function_to_call(), "echo");
        assert!(
            parse("--memory")
                .unwrap()
                .function_to_call()
                .starts_with("echo-held-")
        );
    }

    #[test]
    fn mistakes_are_reported() {
        assert!(parse("--jobs").is_err());
        assert!(parse("--jobs many").is_err());
        assert!(parse("--adapter gevent").is_err());
        assert!(parse("--concurrency 0").is_err());
        assert!(parse("--connections 0").is_err());
        assert!(parse("--worker-concurrency 0").is_err());
        assert!(parse("--frobnicate 1").is_err());
        assert_eq!(parse("--jobs 5 --help"), Err(UsageError::Help));
    }
}
