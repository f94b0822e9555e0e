//! What a [`Worker`](super::Worker) is configured with.

use std::time::Duration;

use bytes::Bytes;

use crate::backoff::BackoffConfig;
use crate::endpoint::{DEFAULT_MAX_PENDING_OUTPUT, DEFAULT_WRITE_STALL_TIMEOUT, OutputLimits};
use crate::packet::Command;
use crate::packet::DEFAULT_MAX_PACKET_SIZE;
use crate::time::DEFAULT_FRAME_TIMEOUT;

/// Which grab request a worker sends.
///
/// Every form may be answered by any assignment (JOB_ASSIGN, JOB_ASSIGN_UNIQ,
/// JOB_ASSIGN_ALL) and the worker accepts all three whatever it asked for.
/// A connection whose server answers a grab with ERROR falls back to the next
/// plainer form ([`plainer`](GrabMode::plainer)) for the rest of that
/// connection's life: the Perl server knows only GRAB_JOB (and refuses the
/// others with ERROR), while the Python `gear` server ignores plain GRAB_JOB
/// and GRAB_JOB_ALL, so GRAB_JOB_UNIQ with fallback reaches all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum GrabMode {
    /// GRAB_JOB: handle, function and workload only.
    Job,
    /// GRAB_JOB_UNIQ: adds the client's unique id. The default: every
    /// server in use answers it (gearmand, the Python `gear` server), or
    /// refuses it with ERROR and the worker falls back (the Perl server).
    #[default]
    Uniq,
    /// GRAB_JOB_ALL: adds the reducer of reduce jobs (libgearman's default).
    /// gearmand answers it; the Python `gear` server does not know it and
    /// never answers, so use it only where reduce jobs are needed.
    All,
}

impl GrabMode {
    /// The packet this mode sends.
    ///
    /// ```
    /// use gearman_proto::Command;
    /// use gearman_proto::worker::GrabMode;
    /// assert_eq!(GrabMode::All.command(), Command::GrabJobAll);
    /// ```
    pub const fn command(self) -> Command {
        match self {
            GrabMode::Job => Command::GrabJob,
            GrabMode::Uniq => Command::GrabJobUniq,
            GrabMode::All => Command::GrabJobAll,
        }
    }

    /// The form tried after a server refuses this one; `None` for GRAB_JOB.
    ///
    /// ```
    /// use gearman_proto::worker::GrabMode;
    /// assert_eq!(GrabMode::All.plainer(), Some(GrabMode::Uniq));
    /// assert_eq!(GrabMode::Uniq.plainer(), Some(GrabMode::Job));
    /// assert_eq!(GrabMode::Job.plainer(), None);
    /// ```
    pub const fn plainer(self) -> Option<GrabMode> {
        match self {
            GrabMode::All => Some(GrabMode::Uniq),
            GrabMode::Uniq => Some(GrabMode::Job),
            GrabMode::Job => None,
        }
    }
}

/// A function the worker can run, as registered with each server.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ability {
    /// The function name: not empty, no NUL byte.
    pub function: Bytes,
    /// Sent as CAN_DO_TIMEOUT when set (see [`Worker::can_do_timeout`](super::Worker::can_do_timeout)),
    /// as CAN_DO otherwise.
    pub timeout: Option<Duration>,
}

/// Configuration of a [`Worker`](super::Worker).
///
/// ```
/// use std::time::Duration;
/// use gearman_proto::worker::{GrabMode, WorkerConfig};
///
/// let config = WorkerConfig::new(["gm1:4730", "gm2:4730"])
///     .with_client_id("resizer-7")
///     .with_concurrency(8)
///     .with_function("resize")
///     .with_function_timeout("thumbnail", Duration::from_secs(30))
///     .with_grab(GrabMode::Uniq)
///     .with_seed(7);
/// assert_eq!(config.abilities.len(), 2);
/// assert_eq!(config.concurrency, 8);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[must_use = "a configuration does nothing until a worker is made with it"]
pub struct WorkerConfig {
    /// Job servers as `host:port`, in order; a server's index is its
    /// [`ServerId`](crate::endpoint::ServerId). The worker keeps
    /// [`connections_per_server`](WorkerConfig::connections_per_server)
    /// connections to each.
    pub servers: Vec<String>,
    /// Connections kept to each server. Each registers the same abilities
    /// and client id and has its own grab cycle;
    /// [`concurrency`](WorkerConfig::concurrency) bounds the jobs across
    /// all of them. One connection already keeps several grabs outstanding
    /// ([`grabs_per_connection`](WorkerConfig::grabs_per_connection)); more
    /// connections spread the work over more of the server's threads.
    /// Events and jobs name the configured server, not the connection. `0`
    /// is taken as `1`. Default: 1.
    pub connections_per_server: usize,
    /// Sent as SET_CLIENT_ID on every connection (shown by the admin
    /// `workers` command). Default: none.
    pub client_id: Option<Bytes>,
    /// Functions registered from the start, each once (the builders replace
    /// an earlier entry of the same function); more can be added with
    /// [`Worker::can_do`](super::Worker::can_do). Default: none.
    pub abilities: Vec<Ability>,
    /// Most jobs held at once across all servers, counting grabs still
    /// waiting for their reply. `0` is taken as `1`. Default: 1.
    pub concurrency: usize,
    /// Most grabs one connection keeps outstanding, within the free
    /// concurrency slots: while a connection has several slots free it
    /// sends that many grabs back to back instead of one per round trip.
    /// Every server in use answers each grab with exactly one reply, in
    /// order, and holds several jobs per connection (gearmand, the Perl and
    /// Python servers, the embedded one), so the default lets the free
    /// slots decide. A connection starts with one grab and may add one more
    /// for each job assigned, so the grabs in flight double every round
    /// trip while the server has work; each time it goes to sleep the
    /// number it may send halves. So a form the server refuses costs one
    /// grab, and a worker woken now and then for one job sends a few grabs,
    /// not one per free slot. Once a grab comes back NO_JOB no more are
    /// added. `1` gives one grab round trip per
    /// job; `0` is taken as `1`. Default: `usize::MAX` (as many as free
    /// slots).
    pub grabs_per_connection: usize,
    /// The grab form tried first on each connection. Default: [`GrabMode::Uniq`].
    pub grab: GrabMode,
    /// How long a connection may take to open. Default: 5 s.
    pub connect_timeout: Duration,
    /// How long a grab may wait for its reply. Servers answer grabs at once;
    /// one that stays silent does not know the form (the Python `gear`
    /// server ignores GRAB_JOB_ALL and GRAB_JOB), so the connection falls
    /// back to the next plainer form, and after a silent GRAB_JOB it
    /// reconnects. `None`: wait forever. Default: 30 s.
    pub grab_reply_timeout: Option<Duration>,
    /// Reconnect backoff after a connection fails or drops. Default: 100 ms
    /// doubling to 30 s.
    pub backoff: BackoffConfig,
    /// How long a graceful [`shutdown`](super::Worker::shutdown) waits for
    /// running jobs before it closes every connection anyway (the servers
    /// then requeue those jobs). `None`: wait as long as it takes. Default: `None`.
    pub shutdown_timeout: Option<Duration>,
    /// Seed of the backoff jitter: the same seed and inputs give the same
    /// bytes and timings. 0 stands for "unset":
    /// [`with_seed_or`](WorkerConfig::with_seed_or) replaces it with
    /// entropy, as every adapter does with the operating system's. Default: 0.
    pub seed: u64,
    /// Largest packet payload accepted from a server; a larger one closes
    /// the connection. Default: [`DEFAULT_MAX_PACKET_SIZE`].
    pub max_packet_size: u32,
    /// How long a server may take over a packet once its first byte has
    /// arrived, plus the time its bytes so far take at
    /// [`MIN_FRAME_RATE`](crate::MIN_FRAME_RATE); past that the connection
    /// is closed and handled as a lost one (running jobs lost, reconnect
    /// after backoff). A connection with no packet begun, such as a sleeping
    /// one, is never closed for it. `None`: no limit. Default:
    /// [`DEFAULT_FRAME_TIMEOUT`](crate::DEFAULT_FRAME_TIMEOUT) (30 s).
    pub frame_timeout: Option<Duration>,
    /// Bytes of output queued for one server that it has not taken yet;
    /// more closes the connection and drops them (as a lost connection).
    /// Default: [`DEFAULT_MAX_PENDING_OUTPUT`] (129 MiB).
    pub max_pending_output: usize,
    /// How long output may wait without the server taking a byte of it
    /// before the connection is closed (as a lost connection). `None`: as
    /// long as the server stays connected. Default:
    /// [`DEFAULT_WRITE_STALL_TIMEOUT`] (60 s).
    pub write_stall_timeout: Option<Duration>,
}

impl WorkerConfig {
    /// Defaults for these servers, each in any form of
    /// [`IntoServerAddr`](crate::IntoServerAddr) (`"host:port"`, a
    /// `SocketAddr`, `(host, port)`...).
    pub fn new<I, S>(servers: I) -> WorkerConfig
    where
        I: IntoIterator<Item = S>,
        S: crate::IntoServerAddr,
    {
        WorkerConfig {
            servers: servers
                .into_iter()
                .map(crate::IntoServerAddr::into_server_addr)
                .collect(),
            connections_per_server: 1,
            client_id: None,
            abilities: Vec::new(),
            concurrency: 1,
            grabs_per_connection: usize::MAX,
            grab: GrabMode::default(),
            connect_timeout: Duration::from_secs(5),
            grab_reply_timeout: Some(Duration::from_secs(30)),
            backoff: BackoffConfig::default(),
            shutdown_timeout: None,
            seed: 0,
            max_packet_size: DEFAULT_MAX_PACKET_SIZE,
            frame_timeout: Some(DEFAULT_FRAME_TIMEOUT),
            max_pending_output: DEFAULT_MAX_PENDING_OUTPUT,
            write_stall_timeout: Some(DEFAULT_WRITE_STALL_TIMEOUT),
        }
    }

    /// Sets [`client_id`](WorkerConfig::client_id).
    pub fn with_client_id(mut self, id: impl Into<Bytes>) -> WorkerConfig {
        self.client_id = Some(id.into());
        self
    }

    /// Adds a function, registered with CAN_DO. Adding a function again
    /// replaces its earlier registration (and timeout).
    pub fn with_function(self, function: impl Into<Bytes>) -> WorkerConfig {
        self.with_ability(function.into(), None)
    }

    /// Adds a function, registered with CAN_DO_TIMEOUT. Adding a function
    /// again replaces its earlier registration.
    pub fn with_function_timeout(
        self,
        function: impl Into<Bytes>,
        timeout: Duration,
    ) -> WorkerConfig {
        self.with_ability(function.into(), Some(timeout))
    }

    fn with_ability(mut self, function: Bytes, timeout: Option<Duration>) -> WorkerConfig {
        self.abilities
            .retain(|ability| ability.function != function);
        self.abilities.push(Ability { function, timeout });
        self
    }

    /// Sets [`connections_per_server`](WorkerConfig::connections_per_server).
    ///
    /// ```
    /// use gearman_proto::worker::WorkerConfig;
    /// let config = WorkerConfig::new(["gm1:4730"])
    ///     .with_connections_per_server(4)
    ///     .with_concurrency(16);
    /// assert_eq!(config.connections_per_server, 4);
    /// ```
    pub fn with_connections_per_server(mut self, connections: usize) -> WorkerConfig {
        self.connections_per_server = connections;
        self
    }

    /// Sets [`concurrency`](WorkerConfig::concurrency).
    pub fn with_concurrency(mut self, jobs: usize) -> WorkerConfig {
        self.concurrency = jobs;
        self
    }

    /// Sets [`grabs_per_connection`](WorkerConfig::grabs_per_connection).
    ///
    /// ```
    /// use gearman_proto::worker::WorkerConfig;
    /// // One grab round trip per job, for a server that cannot hold more.
    /// let config = WorkerConfig::new(["gm1:4730"])
    ///     .with_concurrency(16)
    ///     .with_grabs_per_connection(1);
    /// assert_eq!(config.grabs_per_connection, 1);
    /// ```
    pub fn with_grabs_per_connection(mut self, grabs: usize) -> WorkerConfig {
        self.grabs_per_connection = grabs;
        self
    }

    /// Sets [`grab`](WorkerConfig::grab).
    pub fn with_grab(mut self, grab: GrabMode) -> WorkerConfig {
        self.grab = grab;
        self
    }

    /// Sets [`connect_timeout`](WorkerConfig::connect_timeout).
    pub fn with_connect_timeout(mut self, timeout: Duration) -> WorkerConfig {
        self.connect_timeout = timeout;
        self
    }

    /// Sets [`grab_reply_timeout`](WorkerConfig::grab_reply_timeout).
    pub fn with_grab_reply_timeout(mut self, timeout: Option<Duration>) -> WorkerConfig {
        self.grab_reply_timeout = timeout;
        self
    }

    /// Sets [`backoff`](WorkerConfig::backoff).
    pub fn with_backoff(mut self, min: Duration, max: Duration) -> WorkerConfig {
        self.backoff = BackoffConfig { min, max };
        self
    }

    /// Sets [`shutdown_timeout`](WorkerConfig::shutdown_timeout).
    pub fn with_shutdown_timeout(mut self, timeout: Option<Duration>) -> WorkerConfig {
        self.shutdown_timeout = timeout;
        self
    }

    /// Sets [`seed`](WorkerConfig::seed).
    pub fn with_seed(mut self, seed: u64) -> WorkerConfig {
        self.seed = seed;
        self
    }

    /// Replaces an unset [`seed`](WorkerConfig::seed) (0) with `entropy()`,
    /// and keeps a set one. The core reads no randomness itself; adapters
    /// pass the operating system's here.
    pub fn with_seed_or(mut self, entropy: impl FnOnce() -> u64) -> WorkerConfig {
        if self.seed == 0 {
            self.seed = entropy();
        }
        self
    }

    /// Sets [`max_packet_size`](WorkerConfig::max_packet_size).
    pub fn with_max_packet_size(mut self, max: u32) -> WorkerConfig {
        self.max_packet_size = max;
        self
    }

    /// Sets [`frame_timeout`](WorkerConfig::frame_timeout).
    pub fn with_frame_timeout(mut self, timeout: Option<Duration>) -> WorkerConfig {
        self.frame_timeout = timeout;
        self
    }
    /// Sets [`max_pending_output`](WorkerConfig::max_pending_output).
    pub fn with_max_pending_output(mut self, max: usize) -> WorkerConfig {
        self.max_pending_output = max;
        self
    }

    /// Sets [`write_stall_timeout`](WorkerConfig::write_stall_timeout).
    pub fn with_write_stall_timeout(mut self, timeout: Option<Duration>) -> WorkerConfig {
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
}
