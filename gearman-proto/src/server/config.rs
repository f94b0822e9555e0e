//! Settings of the embedded job server.

use std::time::Duration;

use crate::endpoint::{
    DEFAULT_MAX_PENDING_OUTPUT, DEFAULT_MAX_TOTAL_PENDING_OUTPUT, DEFAULT_WRITE_STALL_TIMEOUT,
    OutputLimits,
};
use crate::packet::{DEFAULT_MAX_LINE_LEN, DEFAULT_MAX_PACKET_SIZE};
use crate::time::DEFAULT_FRAME_TIMEOUT;

/// Log level reported by the admin `verbose` command (gearmand's names).
///
/// The server itself logs through `tracing`; this only sets what `verbose`
/// answers, so that tools written for gearmand see a familiar value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum VerboseLevel {
    /// `FATAL`
    Fatal,
    /// `ALERT`
    Alert,
    /// `CRITICAL`
    Critical,
    /// `ERROR` (gearmand's default)
    #[default]
    Error,
    /// `WARNING`
    Warning,
    /// `NOTICE`
    Notice,
    /// `INFO`
    Info,
    /// `DEBUG`
    Debug,
}

impl VerboseLevel {
    /// gearmand's name for the level, as `verbose` prints it.
    ///
    /// ```
    /// use gearman_proto::server::VerboseLevel;
    /// assert_eq!(VerboseLevel::Notice.as_str(), "NOTICE");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            VerboseLevel::Fatal => "FATAL",
            VerboseLevel::Alert => "ALERT",
            VerboseLevel::Critical => "CRITICAL",
            VerboseLevel::Error => "ERROR",
            VerboseLevel::Warning => "WARNING",
            VerboseLevel::Notice => "NOTICE",
            VerboseLevel::Info => "INFO",
            VerboseLevel::Debug => "DEBUG",
        }
    }
}

/// Configuration of a [`Server`](super::Server).
///
/// Build one with [`ServerConfig::new`] and adjust the public fields:
///
/// ```
/// use gearman_proto::server::ServerConfig;
/// let mut config = ServerConfig::new("jobs1");
/// config.job_retries = 3;
/// assert_eq!(config.job_handle_prefix, "H:jobs1");
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Job handles are `<prefix>:<n>` with `n` counting from 1, as gearmand's
    /// `--job-handle-prefix`. [`ServerConfig::new`] sets `H:<host>`; the core
    /// never looks the host name up itself.
    pub job_handle_prefix: String,
    /// Largest payload accepted from a peer, in bytes; a larger declared size
    /// closes the connection before anything is buffered.
    pub max_packet_size: u32,
    /// Longest admin text line accepted, in bytes; longer closes the connection.
    pub max_line_len: usize,
    /// Longest unique id accepted on submit (gearmand: 64); longer gets
    /// `ERROR ARGUMENT_TOO_LARGE`.
    pub max_unique_len: usize,
    /// Longest function (and reducer) name accepted (libgearman's 512). A
    /// longer name on submit gets `ERROR ARGUMENT_TOO_LARGE`; on `CAN_DO` and
    /// its kin the connection is closed, as nothing answers those packets.
    pub max_function_len: usize,
    /// gearmand's `--job-retries`: a job whose worker is lost (disconnect,
    /// `CAN_DO_TIMEOUT`, `CANT_DO`) is queued again, except that with `n > 0`
    /// it is dropped at its `n`-th loss and its clients get `WORK_FAIL`.
    /// `0` (the default) retries without limit.
    pub job_retries: u32,
    /// gearmand's `--exceptions`: every connection starts with the
    /// `exceptions` option set, as if it had sent `OPTION_REQ exceptions`.
    pub exceptions_by_default: bool,
    /// gearmand's `--round-robin`: after a worker is given a job, the function
    /// it came from moves to the back of that worker's list, so a worker with
    /// several functions serves them in turn within one priority. Off by
    /// default, as in gearmand: the newest registration with work wins.
    pub round_robin: bool,
    /// gearmand's `--worker-wakeup`: how many sleeping workers get a `NOOP`
    /// per newly queued job; `0` (the default) wakes them all.
    pub worker_wakeup: usize,
    /// What the admin `version` command prints. The default is the gearmand
    /// release whose behaviour this server follows, because some clients pick
    /// the `CAN_DO_TIMEOUT` unit (milliseconds from 1.1.19) from it.
    pub version: String,
    /// What the admin `getpid` command prints; the adapter supplies it.
    pub pid: u32,
    /// What the admin `verbose` command prints.
    pub verbose: VerboseLevel,
    /// Bytes of output held for one connection that its peer has not taken:
    /// in the server before the driver takes them with `poll_transmit`, and
    /// in the driver's socket writer. A connection over it is closed and its
    /// output dropped. Default: [`DEFAULT_MAX_PENDING_OUTPUT`] (129 MiB).
    pub max_pending_output: usize,
    /// How long output may wait in the driver without the peer taking a
    /// byte of it before the connection is closed and its output dropped.
    /// `None`: as long as the peer stays connected. Default:
    /// [`DEFAULT_WRITE_STALL_TIMEOUT`] (60 s).
    pub write_stall_timeout: Option<Duration>,
    /// Bytes of output the driver holds for all connections together; the
    /// connection whose output would go over it is closed and its output
    /// dropped, the others keep theirs. Default:
    /// [`DEFAULT_MAX_TOTAL_PENDING_OUTPUT`] (1 GiB).
    pub max_total_pending_output: usize,
    /// Function registrations (`CAN_DO`) one connection may hold; more
    /// closes the connection.
    pub max_abilities_per_connection: usize,
    /// Longest client id kept from `SET_CLIENT_ID` (gearmand keeps 127 bytes).
    pub max_client_id_len: usize,
    /// How long a peer may take over a frame (a packet or an admin line)
    /// once it has sent its first byte, plus the time its bytes so far
    /// take at [`MIN_FRAME_RATE`](crate::MIN_FRAME_RATE); past that the
    /// connection is closed and its buffer freed. An idle connection, with
    /// no frame begun, is never closed for it. `None`: no limit. Default:
    /// [`DEFAULT_FRAME_TIMEOUT`](crate::DEFAULT_FRAME_TIMEOUT) (30 s).
    pub frame_timeout: Option<Duration>,
}

/// Default time an accepted peer has to finish what the acceptor asks (a
/// TLS handshake) before it is dropped.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

impl ServerConfig {
    /// Defaults for a server on the machine named `hostname`, as the system
    /// gives it if at all: handles are `H:<name>:<n>` with the name trimmed,
    /// and `localhost` stands in for a name that is missing, empty or holds a
    /// `:` (which would split the handle).
    pub fn for_hostname(hostname: Option<&str>) -> ServerConfig {
        let name = hostname
            .map(str::trim)
            .filter(|name| !name.is_empty() && !name.contains(':'))
            .unwrap_or("localhost");
        ServerConfig::new(name)
    }

    /// Defaults matching gearmand 1.1, with handles `H:<host>:<n>`.
    pub fn new(host: &str) -> ServerConfig {
        ServerConfig {
            job_handle_prefix: format!("H:{host}"),
            max_packet_size: DEFAULT_MAX_PACKET_SIZE,
            max_line_len: DEFAULT_MAX_LINE_LEN,
            max_unique_len: 64,
            max_function_len: 512,
            job_retries: 0,
            exceptions_by_default: false,
            round_robin: false,
            worker_wakeup: 0,
            version: "1.1.22".to_owned(),
            pid: 0,
            verbose: VerboseLevel::default(),
            max_pending_output: DEFAULT_MAX_PENDING_OUTPUT,
            write_stall_timeout: Some(DEFAULT_WRITE_STALL_TIMEOUT),
            max_total_pending_output: DEFAULT_MAX_TOTAL_PENDING_OUTPUT,
            max_abilities_per_connection: 10_000,
            max_client_id_len: 127,
            frame_timeout: Some(DEFAULT_FRAME_TIMEOUT),
        }
    }
}

impl ServerConfig {
    /// The limits on output held for peers, for the driver.
    pub fn output_limits(&self) -> OutputLimits {
        OutputLimits {
            max_pending_output: self.max_pending_output,
            write_stall_timeout: self.write_stall_timeout,
            max_total_pending_output: self.max_total_pending_output,
        }
    }
}

impl Default for ServerConfig {
    /// [`ServerConfig::new`] with the host `localhost`.
    fn default() -> Self {
        ServerConfig::new("localhost")
    }
}
