//! What a scenario runs against: the adapter's harness and one job server
//! (the adapter's embedded server or a real gearmand), with helpers.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use gearman_proto::client::ClientConfig;
use gearman_proto::worker::WorkerConfig;

use crate::PATIENCE;
use crate::gearmand::Gearmand;
use crate::harness::{Functions, Harness, TestServer};

/// Which job server a scenario runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    /// The adapter's own embedded server, in process on 127.0.0.1:0.
    Embedded,
    /// `/usr/sbin/gearmand`, started on a free loopback port.
    Gearmand,
    /// The embedded server serving TLS only (mutual TLS, certificates from
    /// [`Pki`](crate::tls::Pki)), its address `tls://127.0.0.1:PORT`.
    /// gearmand here is built without TLS, so only ours serves it.
    #[cfg(feature = "tls")]
    EmbeddedTls,
}

/// The job server of one test.
pub struct Backend<H: Harness> {
    kind: ServerKind,
    addr: SocketAddr,
    embedded: Option<H::Server>,
    gearmand: Option<Gearmand>,
}

/// A scenario's world: the harness, the server, and helpers.
pub struct Env<H: Harness> {
    /// The adapter under test.
    pub harness: H,
    backend: Mutex<Backend<H>>,
    kind: ServerKind,
    addr: SocketAddr,
    /// The certificates of a TLS run, kept until the run ends.
    #[cfg(feature = "tls")]
    _pki: Option<crate::tls::Pki>,
}

impl<H: Harness> Env<H> {
    /// Starts the server; `None` when it cannot run here (gearmand missing
    /// outside CI).
    pub fn start(kind: ServerKind) -> Option<Env<H>> {
        #[allow(unused_mut, reason = "only a TLS run changes the harness")]
        let mut harness = H::new();
        #[cfg(feature = "tls")]
        let pki = (kind == ServerKind::EmbeddedTls).then(|| {
            let pki = crate::tls::Pki::generate();
            harness.use_tls(&pki);
            pki
        });
        let backend = match kind {
            ServerKind::Gearmand => {
                let gearmand = Gearmand::start()?;
                Backend {
                    kind,
                    addr: gearmand.addr,
                    embedded: None,
                    gearmand: Some(gearmand),
                }
            }
            _ => {
                let server = harness
                    .server("127.0.0.1:0")
                    .expect("start the embedded server");
                Backend {
                    kind,
                    addr: server.addr(),
                    embedded: Some(server),
                    gearmand: None,
                }
            }
        };
        let addr = backend.addr;
        Some(Env {
            harness,
            backend: Mutex::new(backend),
            kind,
            addr,
            #[cfg(feature = "tls")]
            _pki: pki,
        })
    }

    /// Which server this is.
    pub fn kind(&self) -> ServerKind {
        self.kind
    }

    /// The server's `127.0.0.1:PORT` (`tls://127.0.0.1:PORT` over TLS).
    pub fn addr(&self) -> String {
        #[cfg(feature = "tls")]
        if self.kind == ServerKind::EmbeddedTls {
            return format!("tls://{}", self.addr);
        }
        self.addr.to_string()
    }

    /// The process id the server should report for `getpid`.
    pub fn server_pid(&self) -> Option<u32> {
        let backend = self.backend.lock().unwrap();
        match backend.kind {
            ServerKind::Gearmand => backend.gearmand.as_ref().and_then(Gearmand::pid),
            _ => Some(std::process::id()),
        }
    }

    /// Stops the server: every connection drops, nothing listens on its port.
    pub fn stop_server(&self) {
        let mut backend = self.backend.lock().unwrap();
        if let Some(server) = backend.embedded.take() {
            server.stop();
        }
        if let Some(gearmand) = backend.gearmand.as_mut() {
            gearmand.stop();
        }
    }

    /// Starts the server again on the same port.
    pub fn restart_server(&self) {
        let mut backend = self.backend.lock().unwrap();
        match backend.kind {
            ServerKind::Gearmand => backend
                .gearmand
                .as_mut()
                .expect("gearmand backend")
                .restart(),
            _ => {
                if let Some(server) = backend.embedded.take() {
                    server.stop();
                }
                let listen = self.addr.to_string();
                let start = Instant::now();
                // The port is ours, but give the kernel a moment if it hesitates.
                let server = loop {
                    match self.harness.server(&listen) {
                        Ok(server) => break server,
                        Err(err) if start.elapsed() < PATIENCE => {
                            let _ = err;
                            std::thread::sleep(Duration::from_millis(10));
                        }
                        Err(err) => panic!("embedded server did not start again: {err}"),
                    }
                };
                backend.embedded = Some(server);
            }
        }
    }

    /// Client configuration for this server: exceptions on, quick backoff.
    pub fn client_config(&self) -> ClientConfig {
        ClientConfig::new([self.addr()])
            .with_backoff(Duration::from_millis(10), Duration::from_millis(100))
    }

    /// A client of this server.
    pub fn client(&self) -> H::Client {
        self.harness.client(self.client_config())
    }

    /// Worker configuration for this server: quick backoff.
    pub fn worker_config(&self) -> WorkerConfig {
        WorkerConfig::new([self.addr()])
            .with_backoff(Duration::from_millis(10), Duration::from_millis(100))
    }

    /// A worker of this server with these functions, one job at a time.
    pub fn worker(&self, functions: Functions) -> H::Worker {
        self.harness.worker(self.worker_config(), functions)
    }

    /// An admin connection to this server.
    pub fn admin(&self) -> H::Admin {
        self.harness
            .admin(&self.addr())
            .unwrap_or_else(|f| panic!("admin connection: {f:?}"))
    }
}

impl<H: Harness> Drop for Env<H> {
    fn drop(&mut self) {
        if let Ok(backend) = self.backend.get_mut() {
            if let Some(server) = backend.embedded.take() {
                server.stop();
            }
        }
    }
}

/// A function name (or unique id) no other test uses on a shared server.
pub fn name(base: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{base}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Polls `condition` until it holds; panics after [`PATIENCE`]. A way to
/// wait for something observable, never the thing under test.
pub fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < PATIENCE, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// What a [`Gate`] has seen.
#[derive(Debug, Default, Clone, Copy)]
pub struct GateState {
    /// Handlers that entered.
    pub entered: usize,
    /// Handlers inside now.
    pub inside: usize,
    /// Most handlers inside at once.
    pub peak: usize,
    /// Handlers that left.
    pub left: usize,
    permits: usize,
    open: bool,
}

/// Holds handlers until the test lets them go, and counts them.
#[derive(Debug, Default)]
pub struct Gate {
    state: Mutex<GateState>,
    changed: Condvar,
}

impl Gate {
    /// A closed gate.
    pub fn new() -> Gate {
        Gate::default()
    }

    /// Called by a handler: waits for a permit (or the gate to open).
    pub fn pass(&self) {
        let mut state = self.state.lock().unwrap();
        state.entered += 1;
        state.inside += 1;
        state.peak = state.peak.max(state.inside);
        self.changed.notify_all();
        let start = Instant::now();
        while !state.open && state.permits == 0 {
            assert!(start.elapsed() < PATIENCE, "a handler was never let go");
            state = self
                .changed
                .wait_timeout(state, Duration::from_millis(100))
                .unwrap()
                .0;
        }
        if !state.open {
            state.permits -= 1;
        }
        state.inside -= 1;
        state.left += 1;
        self.changed.notify_all();
    }

    /// Lets `n` more handlers through.
    pub fn release(&self, n: usize) {
        self.state.lock().unwrap().permits += n;
        self.changed.notify_all();
    }

    /// Lets every handler through from now on.
    pub fn open(&self) {
        self.state.lock().unwrap().open = true;
        self.changed.notify_all();
    }

    /// The counts now.
    pub fn state(&self) -> GateState {
        *self.state.lock().unwrap()
    }

    /// Waits until `condition` holds for the counts; panics after [`PATIENCE`].
    pub fn wait_for(&self, what: &str, condition: impl Fn(&GateState) -> bool) -> GateState {
        let mut state = self.state.lock().unwrap();
        let start = Instant::now();
        while !condition(&state) {
            assert!(
                start.elapsed() < PATIENCE,
                "never happened: {what} ({state:?})"
            );
            state = self
                .changed
                .wait_timeout(state, Duration::from_millis(100))
                .unwrap()
                .0;
        }
        *state
    }
}
