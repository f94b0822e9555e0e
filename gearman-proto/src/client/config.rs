//! What a [`Client`](super::Client) is configured with.

use std::time::Duration;

use crate::backoff::BackoffConfig;
use crate::client::RoutingPolicy;
use crate::endpoint::{DEFAULT_MAX_PENDING_OUTPUT, DEFAULT_WRITE_STALL_TIMEOUT, OutputLimits};
use crate::packet::DEFAULT_MAX_PACKET_SIZE;
use crate::time::DEFAULT_FRAME_TIMEOUT;

/// Configuration of a [`Client`](super::Client).
///
/// ```
/// use std::time::Duration;
/// use gearman_proto::client::ClientConfig;
/// use gearman_proto::client::RoutingPolicy;
///
/// let config = ClientConfig::new(["gm1:4730", "gm2:4730"])
///     .with_routing(RoutingPolicy::consistent_hash())
///     .with_request_timeout(Some(Duration::from_secs(5)))
///     .with_exceptions(true)
///     .with_seed(0x5eed);
/// assert_eq!(config.servers.len(), 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[must_use = "a configuration does nothing until a client is made with it"]
pub struct ClientConfig {
    /// Job servers as `host:port`, in order; a server's index is its
    /// [`ServerId`](crate::client::ServerId).
    pub servers: Vec<String>,
    /// How a request picks its server. Default: round robin.
    pub routing: RoutingPolicy,
    /// How long a connection may take to open. Default: 5 s.
    pub connect_timeout: Duration,
    /// How long a request may wait for its reply (JOB_CREATED, STATUS_RES,
    /// STATUS_RES_UNIQUE, ECHO_RES, OPTION_RES), counted from the moment it
    /// is queued on a connection. `None`: no limit. Default: 30 s.
    pub request_timeout: Option<Duration>,
    /// Reconnect backoff after a connection fails or drops. Default: 100 ms
    /// doubling to 30 s.
    pub backoff: BackoffConfig,
    /// Seed of every random choice: generated unique ids and backoff jitter.
    /// The same seed and inputs give the same bytes. Processes that submit
    /// background jobs to the same servers must use different seeds, or
    /// their generated unique ids collide and the server merges their jobs;
    /// 0 stands for "unset": [`with_seed_or`](ClientConfig::with_seed_or)
    /// replaces it with entropy, as every adapter does with the operating
    /// system's. Default: 0.
    pub seed: u64,
    /// Largest packet payload accepted from a server; a larger one closes the
    /// connection. Default: [`DEFAULT_MAX_PACKET_SIZE`].
    pub max_packet_size: u32,
    /// Bytes of output queued for one server that it has not taken yet;
    /// more closes the connection and drops them (as a lost connection).
    /// Default: [`DEFAULT_MAX_PENDING_OUTPUT`] (129 MiB).
    pub max_pending_output: usize,
    /// How long output may wait without the server taking a byte of it
    /// before the connection is closed (as a lost connection). `None`: as
    /// long as the server stays connected. Default:
    /// [`DEFAULT_WRITE_STALL_TIMEOUT`] (60 s).
    pub write_stall_timeout: Option<Duration>,
    /// Ask each server for `OPTION_REQ exceptions` before the first submit on
    /// each connection, so WORK_EXCEPTION reaches the caller; off, a
    /// worker's exception arrives as a plain failure. Default: true, through
    /// every entry point (each adapter's `Client::new` uses these defaults).
    pub exceptions: bool,
    /// How many times a submit the server never acknowledged is sent again
    /// on another server after its connection dropped. A connection that
    /// never opened does not count: the submit never left. Default: 2.
    pub submit_retries: u32,
    /// How long a server may take over a packet once its first byte has
    /// arrived, plus the time its bytes so far take at
    /// [`MIN_FRAME_RATE`](crate::MIN_FRAME_RATE); past that the connection
    /// is closed and handled as a lost one. A connection with no packet
    /// begun is never closed for it. `None`: no limit. Default:
    /// [`DEFAULT_FRAME_TIMEOUT`](crate::DEFAULT_FRAME_TIMEOUT) (30 s).
    pub frame_timeout: Option<Duration>,
    /// How many jobs may be in flight (submitted and not ended) at once.
    /// A submit past the cap waits in [`Waiters`](super::Waiters), unsent,
    /// until a job ends, so every adapter's `submit` waits rather than
    /// queueing without bound on the servers. The cap is kept by the
    /// waiters' table: [`Client::submit`](super::Client::submit) itself
    /// sends at once. `Some(0)` is refused by
    /// [`Client::new`](super::Client::new). `None`: no cap. Default: `None`.
    pub max_jobs_in_flight: Option<usize>,
    /// How long [`Client::close`](super::Client::close) lets what is in
    /// flight go on; whatever is left then ends with
    /// [`ClientError::Closed`](super::ClientError::Closed) and the client
    /// closes anyway. `None`: until everything has ended (each job and
    /// request still under its own timeouts), as the worker's
    /// [`shutdown_timeout`](crate::worker::WorkerConfig::shutdown_timeout).
    /// Default: `None`.
    pub close_timeout: Option<Duration>,
}

impl ClientConfig {
    /// Defaults for these servers, each in any form of
    /// [`IntoServerAddr`](crate::IntoServerAddr) (`"host:port"`, a
    /// `SocketAddr`, `(host, port)`...).
    pub fn new<I, S>(servers: I) -> ClientConfig
    where
        I: IntoIterator<Item = S>,
        S: crate::IntoServerAddr,
    {
        ClientConfig {
            servers: servers
                .into_iter()
                .map(crate::IntoServerAddr::into_server_addr)
                .collect(),
            routing: RoutingPolicy::default(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Some(Duration::from_secs(30)),
            backoff: BackoffConfig::default(),
            seed: 0,
            max_packet_size: DEFAULT_MAX_PACKET_SIZE,
            max_pending_output: DEFAULT_MAX_PENDING_OUTPUT,
            write_stall_timeout: Some(DEFAULT_WRITE_STALL_TIMEOUT),
            exceptions: true,
            submit_retries: 2,
            frame_timeout: Some(DEFAULT_FRAME_TIMEOUT),
            max_jobs_in_flight: None,
            close_timeout: None,
        }
    }

    /// Sets [`routing`](ClientConfig::routing).
    pub fn with_routing(mut self, routing: RoutingPolicy) -> ClientConfig {
        self.routing = routing;
        self
    }

    /// Sets [`connect_timeout`](ClientConfig::connect_timeout).
    pub fn with_connect_timeout(mut self, timeout: Duration) -> ClientConfig {
        self.connect_timeout = timeout;
        self
    }

    /// Sets [`request_timeout`](ClientConfig::request_timeout).
    pub fn with_request_timeout(mut self, timeout: Option<Duration>) -> ClientConfig {
        self.request_timeout = timeout;
        self
    }

    /// Sets [`backoff`](ClientConfig::backoff).
    pub fn with_backoff(mut self, min: Duration, max: Duration) -> ClientConfig {
        self.backoff = BackoffConfig { min, max };
        self
    }

    /// Sets [`seed`](ClientConfig::seed).
    pub fn with_seed(mut self, seed: u64) -> ClientConfig {
        self.seed = seed;
        self
    }

    /// Sets [`max_packet_size`](ClientConfig::max_packet_size).
    pub fn with_max_packet_size(mut self, max: u32) -> ClientConfig {
        self.max_packet_size = max;
        self
    }

    /// Sets [`max_pending_output`](ClientConfig::max_pending_output).
    pub fn with_max_pending_output(mut self, max: usize) -> ClientConfig {
        self.max_pending_output = max;
        self
    }

    /// Sets [`write_stall_timeout`](ClientConfig::write_stall_timeout).
    pub fn with_write_stall_timeout(mut self, timeout: Option<Duration>) -> ClientConfig {
        self.write_stall_timeout = timeout;
        self
    }

    /// The limits on output held for servers, for the driver.
    pub fn output_limits(&self) -> OutputLimits {
        OutputLimits {
            max_pending_output: self.max_pending_output,
            write_stall_timeout: self.write_stall_timeout,
            ..OutputLimits::default()
        }
    }

    /// Replaces an unset [`seed`](ClientConfig::seed) (0) with `entropy()`,
    /// and keeps a set one. The core reads no randomness itself; adapters
    /// pass the operating system's here.
    ///
    /// ```
    /// use gearman_proto::client::ClientConfig;
    /// assert_eq!(ClientConfig::new(["gm:4730"]).with_seed_or(|| 9).seed, 9);
    /// assert_eq!(ClientConfig::new(["gm:4730"]).with_seed(3).with_seed_or(|| 9).seed, 3);
    /// ```
    pub fn with_seed_or(mut self, entropy: impl FnOnce() -> u64) -> ClientConfig {
        if self.seed == 0 {
            self.seed = entropy();
        }
        self
    }

    /// Sets [`exceptions`](ClientConfig::exceptions).
    pub fn with_exceptions(mut self, enabled: bool) -> ClientConfig {
        self.exceptions = enabled;
        self
    }

    /// Sets [`frame_timeout`](ClientConfig::frame_timeout).
    pub fn with_frame_timeout(mut self, timeout: Option<Duration>) -> ClientConfig {
        self.frame_timeout = timeout;
        self
    }

    /// Sets [`max_jobs_in_flight`](ClientConfig::max_jobs_in_flight).
    pub fn with_max_jobs_in_flight(mut self, max: Option<usize>) -> ClientConfig {
        self.max_jobs_in_flight = max;
        self
    }

    /// Sets [`close_timeout`](ClientConfig::close_timeout).
    pub fn with_close_timeout(mut self, timeout: Option<Duration>) -> ClientConfig {
        self.close_timeout = timeout;
        self
    }

    /// Sets [`submit_retries`](ClientConfig::submit_retries).
    pub fn with_submit_retries(mut self, retries: u32) -> ClientConfig {
        self.submit_retries = retries;
        self
    }
}

/// A [`ClientConfig`] that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No server is configured.
    #[error("no job server configured")]
    NoServers,
    /// [`ClientConfig::max_jobs_in_flight`] is `Some(0)`: no job could ever start.
    #[error("max_jobs_in_flight is 0: no job could ever start")]
    NoJobsInFlight,
}
