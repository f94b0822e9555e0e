//! The server builder methods every adapter's `Server` shares, written once.

/// Writes `from_listener`, `with_acceptor`, `with_handshake_timeout`,
/// `with_config`, `Debug` and the private `core` (the job server to serve,
/// its wall clock read here, in the adapter) for an adapter's server type, which must have
/// the fields `listener` (of the given type), `config: ServerConfig`,
/// `acceptor: Option<Arc<dyn Acceptor>>` and `handshake_timeout:
/// Duration`, plus any extra `field: value` given here; `Acceptor` must be
/// in scope. The machine's name is read where the macro expands, in the
/// adapter.
#[doc(hidden)]
#[macro_export]
macro_rules! server_builder {
    ($server:ident, $listener:ty $(, $field:ident: $value:expr)*) => {
        impl $server {
            /// Serves on an existing listener with the default
            /// configuration (handles `H:<hostname>:<n>`, this process's id
            /// for `getpid`).
            pub fn from_listener(listener: $listener) -> $server {
                // The machine's name as the system gives it, without libc.
                let hostname = ::std::fs::read_to_string("/proc/sys/kernel/hostname")
                    .ok()
                    .or_else(|| ::std::env::var("HOSTNAME").ok());
                let mut config = $crate::server::ServerConfig::for_hostname(hostname.as_deref());
                config.pid = ::std::process::id();
                $server {
                    listener,
                    config,
                    acceptor: None,
                    handshake_timeout: $crate::server::DEFAULT_HANDSHAKE_TIMEOUT,
                    $($field: $value,)*
                }
            }

            /// Prepares every accepted socket with `acceptor` (a
            /// `transport::TlsAcceptor`, feature `tls`, say) before serving
            /// it. A peer that fails it is dropped and logged; the others
            /// are served.
            pub fn with_acceptor(self, acceptor: impl Acceptor) -> $server {
                $server { acceptor: Some(::std::sync::Arc::new(acceptor)), ..self }
            }

            /// Sets how long an accepted peer has to get through the
            /// acceptor (default `DEFAULT_HANDSHAKE_TIMEOUT`); one that
            /// stalls holds only its socket and the acceptor's buffer (and,
            /// in the blocking adapter, its thread) until then.
            pub fn with_handshake_timeout(self, timeout: ::std::time::Duration) -> $server {
                $server { handshake_timeout: timeout, ..self }
            }

            /// Replaces the configuration (limits, handle prefix, job
            /// retries...).
            pub fn with_config(self, config: $crate::server::ServerConfig) -> $server {
                $server { config, ..self }
            }

            /// The job server to serve with `config`, told the wall clock
            /// (for `SUBMIT_JOB_EPOCH`).
            fn core(config: $crate::server::ServerConfig) -> $crate::server::Server {
                let mut core = $crate::server::Server::new(config);
                let unix = ::std::time::SystemTime::now().duration_since(::std::time::UNIX_EPOCH);
                if let Ok(unix) = unix {
                    core.set_wall_clock(unix, ::std::time::Instant::now());
                }
                core
            }
        }

        impl ::std::fmt::Debug for $server {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_struct(stringify!($server))
                    .field("listener", &self.listener)
                    .field("config", &self.config)
                    .field("acceptor", &self.acceptor.is_some())
                    .field("handshake_timeout", &self.handshake_timeout)
                    .finish_non_exhaustive()
            }
        }
    };
}
