//! The typed admin methods every adapter's `Admin` shares, written once.

/// Every adapter's `Admin` and the methods it shares, written once: the
/// type, with the docs given before the form (`async` or `blocking`),
/// over the adapter's `Connection` and an [`AdminSession`](crate::admin::AdminSession);
/// `connect_with`, which opens the connection with the adapter's
/// `open(&str, &dyn Connector)` (bounded by the default admin timeout),
/// with any docs given before `connect_with;`; `connect` (over
/// `TcpConnector`), `raw` and `call` (with the adapter's `request`), and
/// `status`, `workers`, `version`, `getpid`, `maxqueue`, `shutdown`,
/// `verbose`, `show_jobs`, `show_unique_jobs`, `cancel_job`,
/// `priority_status`, `create_function` and `drop_function`, each one
/// call of `call` (which sends an
/// [`AdminCall`](crate::admin::call::AdminCall)'s request and reads its
/// typed reply). The `async` form also writes `with_timeout`; a blocking
/// adapter writes its own, which sets its socket's timeouts too.
/// `Connection`, `Connector` and `TcpConnector` must be in scope.
#[doc(hidden)]
#[macro_export]
macro_rules! admin_calls {
    ($(#[$doc:meta])* async; $($(#[$connect_doc:meta])* connect_with;)?) => {
        $crate::admin_calls!(@admin ($(#[$doc])*) ($($(#[$connect_doc])*)?) (async) (.await));

        impl Admin {
            /// Sets the time allowed for each reply (default
            /// `DEFAULT_ADMIN_TIMEOUT`).
            pub fn with_timeout(mut self, timeout: ::std::time::Duration) -> Self {
                self.session.set_timeout(timeout);
                self
            }
        }
    };
    ($(#[$doc:meta])* blocking; $($(#[$connect_doc:meta])* connect_with;)?) => {
        $crate::admin_calls!(@admin ($(#[$doc])*) ($($(#[$connect_doc])*)?) () ());
    };
    (@admin ($($doc:tt)*) ($($connect_doc:tt)*) ($($kw:tt)*) ($($wait:tt)*)) => {
        $($doc)*
        #[derive(Debug)]
        pub struct Admin {
            stream: Connection,
            session: $crate::admin::AdminSession,
        }

        impl Admin {
            /// Connects to `addr` with `connector` (a
            /// `transport::TlsConnector`, feature `tls`, for a `tls://`
            /// address, say); the handshake counts against the connect timeout
            /// ([`DEFAULT_ADMIN_TIMEOUT`](crate::DEFAULT_ADMIN_TIMEOUT)). A
            /// failed TLS handshake is [`Error::Io`](crate::Error::Io) carrying a
            /// `gearman_tls::HandshakeError`.
            $($connect_doc)*
            pub $($kw)* fn connect_with(
                addr: impl $crate::IntoServerAddr,
                connector: &dyn Connector,
            ) -> ::std::result::Result<Self, $crate::driver_error::Error> {
                let addr = addr.into_server_addr();
                let stream = Self::open(&addr, connector)$($wait)*?;
                ::tracing::debug!(%addr, "admin connection open");
                Ok(Admin {
                    stream,
                    session: $crate::admin::AdminSession::new(),
                })
            }

            $crate::admin_calls!(@methods ($($kw)*) ($($wait)*));
        }
    };
    (@methods ($($kw:tt)*) ($($wait:tt)*)) => {
        /// Connects to `addr` (`"host:port"`, a `SocketAddr`, `(host, port)`:
        /// any `IntoServerAddr`) over plain TCP.
        pub $($kw)* fn connect(addr: impl $crate::IntoServerAddr) -> ::std::result::Result<Self, $crate::driver_error::Error> {
            Self::connect_with(addr, &TcpConnector)$($wait)*
        }

        /// Sends any line (without line ending) and returns the reply, read as
        /// the reply to the command the line names. A line holding `\r` or
        /// `\n` is refused with `Error::InvalidRequest`.
        pub $($kw)* fn raw(&mut self, line: impl ::std::convert::Into<$crate::bytes::Bytes>) -> ::std::result::Result<$crate::admin::AdminResponse, $crate::driver_error::Error> {
            self.request(&$crate::admin::AdminRequest::raw(line)?)$($wait)*
        }

        /// Sends a typed command ([`gearman_proto::admin::call`]) and reads its
        /// result; an `ERR` reply is `Error::Server`.
        pub $($kw)* fn call<C: $crate::admin::call::AdminCall>(&mut self, call: C) -> ::std::result::Result<C::Output, $crate::driver_error::Error> {
            let request = call.into_request()?;
            let reply = self.request(&request)$($wait)*?;
            Ok(C::read_reply(reply)?)
        }

        /// `status`: queued, running and worker counts per function.
        pub $($kw)* fn status(&mut self) -> ::std::result::Result<::std::vec::Vec<$crate::admin::StatusRow>, $crate::driver_error::Error> {
            self.call($crate::admin::call::Status)$($wait)*
        }

        /// `workers`: one row per connection with its functions.
        pub $($kw)* fn workers(&mut self) -> ::std::result::Result<::std::vec::Vec<$crate::admin::WorkerRow>, $crate::driver_error::Error> {
            self.call($crate::admin::call::Workers)$($wait)*
        }

        /// `version`: the server's version text.
        pub $($kw)* fn version(&mut self) -> ::std::result::Result<$crate::bytes::Bytes, $crate::driver_error::Error> {
            self.call($crate::admin::call::Version)$($wait)*
        }

        /// `getpid`: the server's process id.
        pub $($kw)* fn getpid(&mut self) -> ::std::result::Result<u32, $crate::driver_error::Error> {
            self.call($crate::admin::call::GetPid)$($wait)*
        }

        /// `maxqueue FUNC [...]`: sets a function's queue limits.
        pub $($kw)* fn maxqueue(
            &mut self,
            function: impl ::std::convert::Into<$crate::bytes::Bytes>,
            limits: $crate::admin::MaxQueueLimits,
        ) -> ::std::result::Result<(), $crate::driver_error::Error> {
            let function = function.into();
            self.call($crate::admin::call::MaxQueue { function, limits })$($wait)*
        }

        /// `shutdown` or `shutdown graceful` (gearmand 1.1.15 and later
        /// answer with an error).
        pub $($kw)* fn shutdown(&mut self, graceful: bool) -> ::std::result::Result<(), $crate::driver_error::Error> {
            self.call($crate::admin::call::Shutdown { graceful })$($wait)*
        }

        /// `verbose`: the server's log level.
        pub $($kw)* fn verbose(&mut self) -> ::std::result::Result<$crate::bytes::Bytes, $crate::driver_error::Error> {
            self.call($crate::admin::call::Verbose)$($wait)*
        }

        /// `show jobs`: every live job.
        pub $($kw)* fn show_jobs(&mut self) -> ::std::result::Result<::std::vec::Vec<$crate::admin::JobRow>, $crate::driver_error::Error> {
            self.call($crate::admin::call::ShowJobs)$($wait)*
        }

        /// `show unique jobs`: the unique id of every live job.
        pub $($kw)* fn show_unique_jobs(&mut self) -> ::std::result::Result<::std::vec::Vec<$crate::bytes::Bytes>, $crate::driver_error::Error> {
            self.call($crate::admin::call::ShowUniqueJobs)$($wait)*
        }

        /// `cancel job HANDLE`: removes a queued job.
        pub $($kw)* fn cancel_job(
            &mut self,
            handle: impl ::std::convert::Into<$crate::bytes::Bytes>,
        ) -> ::std::result::Result<(), $crate::driver_error::Error> {
            let handle = handle.into();
            self.call($crate::admin::call::CancelJob { handle })$($wait)*
        }

        /// `prioritystatus`: queued jobs per function and priority.
        pub $($kw)* fn priority_status(&mut self) -> ::std::result::Result<::std::vec::Vec<$crate::admin::PriorityStatusRow>, $crate::driver_error::Error> {
            self.call($crate::admin::call::PriorityStatus)$($wait)*
        }

        /// `create function NAME`.
        pub $($kw)* fn create_function(
            &mut self,
            name: impl ::std::convert::Into<$crate::bytes::Bytes>,
        ) -> ::std::result::Result<(), $crate::driver_error::Error> {
            let name = name.into();
            self.call($crate::admin::call::CreateFunction { name })$($wait)*
        }

        /// `drop function NAME`.
        pub $($kw)* fn drop_function(
            &mut self,
            name: impl ::std::convert::Into<$crate::bytes::Bytes>,
        ) -> ::std::result::Result<(), $crate::driver_error::Error> {
            let name = name.into();
            self.call($crate::admin::call::DropFunction { name })$($wait)*
        }
    };
}
