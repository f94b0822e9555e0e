//! What a worker builder of any runtime holds before it runs: the core's
//! configuration and the handlers by function name, kept in step.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{Handlers, Worker, WorkerConfig, WorkerError};
use crate::worker::WorkError;

/// The future an async handler returns once boxed: the job's result.
pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<Bytes, WorkError>> + Send>>;

/// An async handler taking jobs of type `J`, boxed so that handlers of
/// different types share one table.
pub type AsyncHandler<J> = Arc<dyn Fn(J) -> HandlerFuture + Send + Sync>;

/// A blocking handler reading jobs of type `J`, boxed likewise.
pub type BlockingHandler<J> = Arc<dyn Fn(&J) -> Result<Bytes, WorkError> + Send + Sync>;

/// What a worker calls each time a connection to a server cannot be opened
/// (see `on_connect_failed` on each adapter's worker).
pub type ConnectFailedHook = Arc<dyn Fn(&crate::ConnectError) + Send + Sync>;

/// Boxes an async handler whose result converts into bytes.
pub fn async_handler<J, F, Fut, R>(handler: F) -> AsyncHandler<J>
where
    F: Fn(J) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<R, WorkError>> + Send + 'static,
    R: Into<Bytes>,
{
    Arc::new(move |job| {
        let running = handler(job);
        Box::pin(async move { running.await.map(Into::into) })
    })
}

/// Boxes a blocking handler whose result converts into bytes.
pub fn blocking_handler<J, F, R>(handler: F) -> BlockingHandler<J>
where
    F: Fn(&J) -> Result<R, WorkError> + Send + Sync + 'static,
    R: Into<Bytes>,
{
    Arc::new(move |job| handler(job).map(Into::into))
}

/// A worker's [`WorkerConfig`] and its handlers (of type `H`) by function
/// name. Registering a function adds its ability to the configuration and
/// its handler to the table; registering it again replaces both.
#[derive(Clone)]
pub struct Registry<H> {
    config: WorkerConfig,
    handlers: HashMap<Bytes, H>,
    on_connect_failed: Option<ConnectFailedHook>,
}

impl<H> Registry<H> {
    /// A registry with `config` and no handler (the abilities already in
    /// `config` have none either, so the caller should register them).
    pub fn new(config: WorkerConfig) -> Registry<H> {
        Registry {
            config,
            handlers: HashMap::new(),
            on_connect_failed: None,
        }
    }

    /// Sets the hook the worker calls for each connection that cannot be
    /// opened (see [`Worker::on_connect_failed`]).
    pub fn on_connect_failed(mut self, hook: ConnectFailedHook) -> Registry<H> {
        self.on_connect_failed = Some(hook);
        self
    }

    /// Sets how many jobs run at once across all servers (at least 1).
    pub fn concurrency(mut self, jobs: usize) -> Registry<H> {
        self.config = self.config.with_concurrency(jobs.max(1));
        self
    }

    /// Sets how many connections the worker keeps to each server (at least 1).
    pub fn connections_per_server(mut self, connections: usize) -> Registry<H> {
        self.config = self.config.with_connections_per_server(connections.max(1));
        self
    }

    /// Sets how many grabs one connection keeps outstanding (at least 1).
    pub fn grabs_per_connection(mut self, grabs: usize) -> Registry<H> {
        self.config = self.config.with_grabs_per_connection(grabs.max(1));
        self
    }

    /// Sets the id sent with SET_CLIENT_ID.
    pub fn client_id(mut self, id: impl Into<Bytes>) -> Registry<H> {
        self.config = self.config.with_client_id(id);
        self
    }

    /// Registers `handler` for `function`, with CAN_DO_TIMEOUT when a
    /// `timeout` is given, replacing an earlier registration of that name.
    pub fn register(
        mut self,
        function: impl Into<Bytes>,
        timeout: Option<Duration>,
        handler: H,
    ) -> Registry<H> {
        let function = function.into();
        self.config = match timeout {
            Some(timeout) => self.config.with_function_timeout(function.clone(), timeout),
            None => self.config.with_function(function.clone()),
        };
        self.handlers.insert(function, handler);
        self
    }

    /// The configuration, abilities included.
    pub fn config(&self) -> &WorkerConfig {
        &self.config
    }

    /// The names of the registered functions, in no particular order.
    pub fn functions(&self) -> Vec<&Bytes> {
        self.handlers.keys().collect()
    }

    /// The configuration and the handler table, for running.
    pub fn into_parts(self) -> (WorkerConfig, HashMap<Bytes, H>) {
        (self.config, self.handlers)
    }

    /// The worker state machine for this configuration and the handler
    /// table, for running, with the hook set by
    /// [`on_connect_failed`](Registry::on_connect_failed); a seed of 0 is
    /// replaced by `entropy()`. Fails as [`Worker::new`] does.
    pub fn into_worker(
        self,
        entropy: impl FnOnce() -> u64,
        now: Instant,
    ) -> Result<(Worker, Handlers<H>), WorkerError> {
        let mut worker = Worker::new(self.config.with_seed_or(entropy), now)?;
        worker.on_connect_failed(self.on_connect_failed);
        Ok((worker, self.handlers.into_iter().collect()))
    }
}

impl<H> std::fmt::Debug for Registry<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("config", &self.config)
            .field("functions", &self.functions())
            .finish()
    }
}

/// Every adapter's `Worker` type and the builder methods it shares,
/// written once: the type with the docs given before its name, its
/// `registry` of handlers (async or blocking, as the form after the job
/// type says), its `connector` and the adapter's own fields, each given as
/// `field: Type = initial value`; `new`, `with_config`, `connector`,
/// `concurrency`, `connections_per_server`, `client_id`, `function`,
/// `function_with_timeout` and `Debug`; and the job's `send_data`,
/// `send_warning`, `send_status` and `Deref` to its
/// [`Assignment`](super::Assignment). The job type must have an
/// `assignment` field and a `send(&self, WorkUpdate)` method, and
/// `Connector` and `TcpConnector` must be in scope.
#[doc(hidden)]
#[macro_export]
macro_rules! worker_builder {
    (@handler async $job:ty) => { $crate::worker::AsyncHandler<$job> };
    (@handler blocking $job:ty) => { $crate::worker::BlockingHandler<$job> };
    (@functions async $worker:ident, $job:ty) => {
        impl $worker {
            /// Registers `handler` for `function` (CAN_DO). The handler's
            /// `Ok` completes the job with its bytes; `WorkError` fails it
            /// or raises an exception. Registering a name again replaces
            /// its handler.
            pub fn function<F, Fut, R>(
                self,
                function: impl ::std::convert::Into<$crate::bytes::Bytes>,
                handler: F,
            ) -> $worker
            where
                F: Fn($job) -> Fut + Send + Sync + 'static,
                Fut: ::std::future::Future<Output = ::std::result::Result<R, $crate::worker::WorkError>>
                    + Send
                    + 'static,
                R: ::std::convert::Into<$crate::bytes::Bytes>,
            {
                let handler = $crate::worker::async_handler(handler);
                $worker { registry: self.registry.register(function, None, handler), ..self }
            }

            /// Like [`function`](Self::function), registered with
            /// CAN_DO_TIMEOUT: a server that supports it takes a job back
            /// (the handler is then stopped) once it has run longer than
            /// `timeout`, and may give it to another worker.
            pub fn function_with_timeout<F, Fut, R>(
                self,
                function: impl ::std::convert::Into<$crate::bytes::Bytes>,
                timeout: ::std::time::Duration,
                handler: F,
            ) -> $worker
            where
                F: Fn($job) -> Fut + Send + Sync + 'static,
                Fut: ::std::future::Future<Output = ::std::result::Result<R, $crate::worker::WorkError>>
                    + Send
                    + 'static,
                R: ::std::convert::Into<$crate::bytes::Bytes>,
            {
                let handler = $crate::worker::async_handler(handler);
                $worker { registry: self.registry.register(function, Some(timeout), handler), ..self }
            }
        }
    };
    (@functions blocking $worker:ident, $job:ty) => {
        impl $worker {
            /// Registers `handler` for `function` (CAN_DO). The handler runs
            /// on a pool thread (at concurrency 1, usually on the thread
            /// that read the job from its socket); its `Ok` completes the
            /// job with its bytes, and `WorkError` fails it or raises an
            /// exception. Registering a name again replaces its handler.
            pub fn function<F, R>(
                self,
                function: impl ::std::convert::Into<$crate::bytes::Bytes>,
                handler: F,
            ) -> $worker
            where
                F: Fn(&$job) -> ::std::result::Result<R, $crate::worker::WorkError> + Send + Sync + 'static,
                R: ::std::convert::Into<$crate::bytes::Bytes>,
            {
                let handler = $crate::worker::blocking_handler(handler);
                $worker { registry: self.registry.register(function, None, handler), ..self }
            }

            /// Like [`function`](Self::function), registered with
            /// CAN_DO_TIMEOUT: the server takes a job back (and may give it
            /// to another worker) when it runs longer than `timeout`.
            pub fn function_with_timeout<F, R>(
                self,
                function: impl ::std::convert::Into<$crate::bytes::Bytes>,
                timeout: ::std::time::Duration,
                handler: F,
            ) -> $worker
            where
                F: Fn(&$job) -> ::std::result::Result<R, $crate::worker::WorkError> + Send + Sync + 'static,
                R: ::std::convert::Into<$crate::bytes::Bytes>,
            {
                let handler = $crate::worker::blocking_handler(handler);
                $worker { registry: self.registry.register(function, Some(timeout), handler), ..self }
            }
        }
    };
    (@job $job:ty) => {
        /// The assignment's accessors (`payload`, `function`, `unique`,
        /// `reducer`, ...) are the core's, read through this.
        impl ::std::ops::Deref for $job {
            type Target = $crate::worker::Assignment;

            fn deref(&self) -> &$crate::worker::Assignment {
                &self.assignment
            }
        }

        impl $job {
            /// Sends WORK_DATA: a chunk of partial result, forwarded to the
            /// client.
            pub fn send_data(&self, data: impl ::std::convert::Into<$crate::bytes::Bytes>) {
                self.send($crate::worker::WorkUpdate::Data(data.into()));
            }

            /// Sends WORK_WARNING.
            pub fn send_warning(&self, data: impl ::std::convert::Into<$crate::bytes::Bytes>) {
                self.send($crate::worker::WorkUpdate::Warning(data.into()));
            }

            /// Sends WORK_STATUS: progress as numerator / denominator.
            pub fn send_status(&self, numerator: u32, denominator: u32) {
                self.send($crate::worker::WorkUpdate::Status { numerator, denominator });
            }
        }
    };
    (
        $(#[$doc:meta])*
        $worker:ident, $job:ty, $form:ident $(, $field:ident: $fty:ty = $value:expr)* $(,)?
    ) => {
        $(#[$doc])*
        #[must_use = "a worker does nothing until it runs"]
        pub struct $worker {
            registry: $crate::worker::Registry<$crate::worker_builder!(@handler $form $job)>,
            connector: ::std::sync::Arc<dyn Connector>,
            $($field: $fty,)*
        }

        $crate::worker_builder!(@functions $form $worker, $job);
        $crate::worker_builder!(@job $job);

        impl $worker {
            /// A worker with a full core configuration (backoff, grab
            /// form...).
            pub fn with_config(config: $crate::worker::WorkerConfig) -> $worker {
                $worker {
                    registry: $crate::worker::Registry::new(config),
                    connector: ::std::sync::Arc::new(TcpConnector),
                    $($field: $value,)*
                }
            }

            /// A worker for these servers (each `"host:port"`, a
            /// `SocketAddr`, `(host, port)`: any `IntoServerAddr`), running
            /// one job at a time until [`concurrency`](Self::concurrency)
            /// says otherwise.
            pub fn new<I, S>(servers: I) -> $worker
            where
                I: ::std::iter::IntoIterator<Item = S>,
                S: $crate::IntoServerAddr,
            {
                $worker::with_config($crate::worker::WorkerConfig::new(servers))
            }

            /// Opens connections with `connector` (TLS, or a transport of
            /// the caller's; see the `transport` module) instead of plain
            /// TCP.
            pub fn connector(self, connector: impl Connector) -> $worker {
                $worker { connector: ::std::sync::Arc::new(connector), ..self }
            }

            /// Sets how many jobs run at once, across all servers (at
            /// least 1).
            pub fn concurrency(self, jobs: usize) -> $worker {
                $worker { registry: self.registry.concurrency(jobs), ..self }
            }

            /// Sets how many connections the worker keeps to each server
            /// (at least 1; default 1). Each has its own grabs outstanding,
            /// so several spread the work over more of a server's threads;
            /// the concurrency limit still holds across all of them.
            pub fn connections_per_server(self, connections: usize) -> $worker {
                $worker { registry: self.registry.connections_per_server(connections), ..self }
            }

            /// Sets how many grabs one connection keeps outstanding within
            /// the free concurrency slots (at least 1; default: as many as
            /// free slots). `1` waits for each grab's reply before the
            /// next, for a server that cannot hold several jobs per
            /// connection.
            pub fn grabs_per_connection(self, grabs: usize) -> $worker {
                $worker { registry: self.registry.grabs_per_connection(grabs), ..self }
            }

            /// Sets the id sent with SET_CLIENT_ID (shown by the admin
            /// `workers` command).
            pub fn client_id(self, id: impl ::std::convert::Into<$crate::bytes::Bytes>) -> $worker {
                $worker { registry: self.registry.client_id(id), ..self }
            }

            /// Calls `hook` each time a connection to a server cannot be
            /// opened (refused, a name that does not resolve, no answer
            /// within the connect timeout), with the address and the socket
            /// error; the worker retries after its backoff either way.
            /// Without a hook the failure is only logged (`tracing`, at
            /// warn), which a program with no subscriber does not show.
            pub fn on_connect_failed(
                self,
                hook: impl Fn(&$crate::ConnectError) + Send + Sync + 'static,
            ) -> $worker {
                $worker { registry: self.registry.on_connect_failed(::std::sync::Arc::new(hook)), ..self }
            }
        }

        impl ::std::fmt::Debug for $worker {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_struct(stringify!($worker))
                    .field("config", self.registry.config())
                    .field("functions", &self.registry.functions())
                    .finish()
            }
        }
    };
}

/// The `WorkerMonitor` every async adapter's worker hands out, written once:
/// the type with its shared docs (the attributes given add the adapter's
/// example) and its one field, its `Debug`, `servers`, and
/// `Worker::monitor`. The adapter writes `read`, which runs a closure on
/// the worker's state machine while the worker runs (`None` otherwise),
/// and gives its `Worker` a `monitor` field.
#[doc(hidden)]
#[macro_export]
macro_rules! worker_monitor {
    ($(#[$doc:meta])* { $(#[$field_doc:meta])* $field:ident: $ty:ty }) => {
        /// A view of a [`Worker`]'s connections while it runs, for health
        /// checks and metrics: taken with [`Worker::monitor`] before the
        /// worker is handed to [`run`](Worker::run) or
        /// [`run_until`](Worker::run_until). Cheap to clone; usable from any
        /// task or thread, a handler of the same worker included.
        ///
        $(#[$doc])*
        #[derive(Clone, Default)]
        pub struct WorkerMonitor {
            $(#[$field_doc])*
            $field: $ty,
        }

        impl ::std::fmt::Debug for WorkerMonitor {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_struct("WorkerMonitor")
                    .field("servers", &self.servers())
                    .finish()
            }
        }

        impl WorkerMonitor {
            /// Each configured server's connection state (connected,
            /// backing off until when...), jobs running and grabs awaiting
            /// a reply, read under the worker's lock. Empty before the
            /// worker has started running and once it has stopped.
            pub fn servers(&self) -> ::std::vec::Vec<$crate::observe::ServerState> {
                self.read(|core| core.servers().collect()).unwrap_or_default()
            }
        }

        impl Worker {
            /// A [`WorkerMonitor`] of this worker, to see its connections
            /// once it runs.
            pub fn monitor(&self) -> WorkerMonitor {
                self.monitor.clone()
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registering_a_function_again_replaces_its_handler_and_ability() {
        let registry = Registry::new(WorkerConfig::new(["gm:4730"]))
            .register("f", None, 1)
            .register("g", None, 2)
            .register("f", Some(Duration::from_secs(5)), 3);
        let (config, handlers) = registry.into_parts();
        assert_eq!(handlers.len(), 2);
        assert_eq!(handlers[&Bytes::from_static(b"f")], 3);
        let f: Vec<_> = config
            .abilities
            .iter()
            .filter(|ability| ability.function == "f")
            .collect();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].timeout, Some(Duration::from_secs(5)));
    }

    #[test]
    fn concurrency_connections_and_grabs_are_at_least_one() {
        let registry = Registry::<()>::new(WorkerConfig::new(["gm:4730"]))
            .concurrency(0)
            .connections_per_server(0)
            .grabs_per_connection(0)
            .client_id("me");
        assert_eq!(registry.config().concurrency, 1);
        assert_eq!(registry.config().connections_per_server, 1);
        assert_eq!(registry.config().grabs_per_connection, 1);
        assert_eq!(registry.config().client_id.as_deref(), Some(&b"me"[..]));
    }
}
