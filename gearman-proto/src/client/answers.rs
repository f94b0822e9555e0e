//! A request's answer as the type the caller asked for, and the typed
//! request methods every adapter's `Client` shares.

use crate::client::{JobHandle, JobStatus, UniqueStatus};
use crate::client::{JobOutcome, RequestAnswer};
use crate::driver_error::Error;

impl RequestAnswer {
    /// The STATUS_RES a GET_STATUS asked for, or [`Error::UnexpectedReply`].
    pub fn into_status(self) -> Result<JobStatus, Error> {
        match self {
            RequestAnswer::Status(status) => Ok(status),
            other => Err(unexpected(&other)),
        }
    }

    /// The STATUS_RES_UNIQUE a GET_STATUS_UNIQUE asked for, or
    /// [`Error::UnexpectedReply`].
    pub fn into_status_unique(self) -> Result<UniqueStatus, Error> {
        match self {
            RequestAnswer::StatusUnique(status) => Ok(status),
            other => Err(unexpected(&other)),
        }
    }

    /// The data an ECHO_REQ got back, or [`Error::UnexpectedReply`].
    pub fn into_echo(self) -> Result<bytes::Bytes, Error> {
        match self {
            RequestAnswer::Echo(data) => Ok(data),
            other => Err(unexpected(&other)),
        }
    }

    /// The end of a [`Call::Close`](crate::client::Call::Close), or
    /// [`Error::UnexpectedReply`].
    pub fn into_closed(self) -> Result<(), Error> {
        match self {
            RequestAnswer::Closed => Ok(()),
            other => Err(unexpected(&other)),
        }
    }
}

impl JobOutcome {
    /// The handle of a background job the server queued, or
    /// [`Error::UnexpectedReply`] for any other outcome.
    pub fn into_queued(self) -> Result<JobHandle, Error> {
        match self {
            JobOutcome::Queued(handle) => Ok(handle),
            other => Err(unexpected(&other)),
        }
    }
}

fn unexpected(reply: &impl std::fmt::Debug) -> Error {
    Error::UnexpectedReply(format!("{reply:?}"))
}

/// The typed requests every adapter's `Client` shares, written once:
/// `submit_background`, `status`, `status_unique`, `echo`, `echo_on` and
/// `close` (with the adapter's docs given before `close;`), blocking or
/// `async`. The client must have `submit(JobRequest)` (whose
/// job is awaited, or waited on with `wait()`) and `ask`, which hands a
/// [`Call`](crate::client::Call) built around the reply channel to the run
/// loop and returns the [`RequestAnswer`].
///
/// The `async` form writes `submit` and `ask` too, over the adapter's
/// `Job` ([`async_job!`](crate::async_job)), its `Command` and `Reply`
/// types, and its client's `next_key`, `commands` (the run loop's command
/// sender) and `send(Command) -> bool` (false once the run loop is gone).
/// `submit` carries a job's steps through
/// [`job_steps`](crate::client::job_steps); `ask` makes its reply channel
/// with `$reply_channel`, whose receiver is a future that fails once the
/// sender is dropped.
#[doc(hidden)]
#[macro_export]
macro_rules! client_requests {
    (
        async, replies: $reply_channel:path;
        $(#[$close_doc:meta])* close;
    ) => {
        /// Submits a job. The returned [`Job`] is a `Future` of its outcome and a
        /// `Stream` of its updates; dropping it stops waiting (the job itself
        /// goes on at the server).
        ///
        /// A background request ends at once with
        /// [`JobOutcome::Queued`](crate::JobOutcome::Queued); see also
        /// [`submit_background`](Self::submit_background).
        pub fn submit(&self, request: $crate::client::JobRequest) -> Job {
            let commands = self.commands.clone();
            let send = |call| self.send(call);
            Job($crate::client::AsyncJob::submit(&self.next_key, request, commands, send))
        }

        /// Hands the call `command` builds around a reply channel to the
        /// run loop, and waits for its answer.
        async fn ask(
            &self,
            command: impl FnOnce(Reply) -> Command,
        ) -> ::std::result::Result<$crate::client::RequestAnswer, $crate::driver_error::Error> {
            let (reply, reply_rx) = $reply_channel();
            if !self.send(command(reply)) {
                return Err($crate::driver_error::Error::Shutdown);
            }
            reply_rx.await.map_err(|_| $crate::driver_error::Error::Shutdown)?
        }

        $crate::client_requests!(@methods (async) (.await) (.await) ($(#[$close_doc])*));
    };
    (blocking; $(#[$close_doc:meta])* close;) => {
        $crate::client_requests!(@methods () () (.wait()) ($(#[$close_doc])*));
    };
    (@methods ($($kw:tt)*) ($($ask:tt)*) ($($wait:tt)*) ($($close_doc:tt)*)) => {
        /// Submits a background job and returns its server and handle once
        /// the server has queued it.
        pub $($kw)* fn submit_background(
            &self,
            request: $crate::client::JobRequest,
        ) -> ::std::result::Result<$crate::client::JobHandle, $crate::driver_error::Error> {
            self.submit(request.in_background())$($wait)*?.into_queued()
        }

        /// GET_STATUS: asks the server that issued `handle` about the job.
        pub $($kw)* fn status(
            &self,
            handle: &$crate::client::JobHandle,
        ) -> ::std::result::Result<$crate::client::JobStatus, $crate::driver_error::Error> {
            let handle = handle.clone();
            self.ask(|waiter| $crate::client::Call::Status { handle, waiter })$($ask)*?.into_status()
        }

        /// GET_STATUS_UNIQUE: asks about the job with this unique id (on
        /// the server the routing policy picks for it).
        pub $($kw)* fn status_unique(
            &self,
            unique: impl ::std::convert::Into<$crate::bytes::Bytes>,
        ) -> ::std::result::Result<$crate::client::UniqueStatus, $crate::driver_error::Error> {
            let unique = unique.into();
            self.ask(|waiter| $crate::client::Call::StatusUnique { unique, waiter })$($ask)*?
                .into_status_unique()
        }

        /// ECHO_REQ to the first server: it sends `data` back.
        pub $($kw)* fn echo(
            &self,
            data: impl ::std::convert::Into<$crate::bytes::Bytes>,
        ) -> ::std::result::Result<$crate::bytes::Bytes, $crate::driver_error::Error> {
            self.echo_on($crate::client::ServerId(0), data)$($ask)*
        }

        /// ECHO_REQ to one of the configured servers (by index).
        pub $($kw)* fn echo_on(
            &self,
            server: $crate::client::ServerId,
            data: impl ::std::convert::Into<$crate::bytes::Bytes>,
        ) -> ::std::result::Result<$crate::bytes::Bytes, $crate::driver_error::Error> {
            let data = data.into();
            self.ask(|waiter| $crate::client::Call::Echo { server, data, waiter })$($ask)*?.into_echo()
        }

        $($close_doc)*
        pub $($kw)* fn close(self) -> ::std::result::Result<(), $crate::driver_error::Error> {
            self.ask(|waiter| $crate::client::Call::Close { waiter })$($ask)*?.into_closed()
        }
    };
}

/// The constructors every adapter's `Client` shares, written once: `new`,
/// `with_config` and `with_connector`, returning `$made` (the client, or
/// the client and its driver). The first two are one call down to
/// `with_connector`, which makes the core (seeded from the adapter's
/// `crate::os_entropy`) and hands it with the connector to the adapter's
/// `start(Core, Arc<dyn Connector>)`. The attributes before each name add
/// that adapter's notes and example to the shared docs; `Connector` and
/// `TcpConnector` must be in scope.
#[doc(hidden)]
#[macro_export]
// `crate::os_entropy` is the adapter's, on purpose: the core reads no randomness.
#[allow(clippy::crate_in_macro_def)]
macro_rules! client_constructors {
    (
        $made:ty;
        $(#[$new_doc:meta])* new;
        $(#[$config_doc:meta])* with_config;
        $($(#[$connector_doc:meta])* with_connector;)?
    ) => {
        /// A client of these servers (each `"host:port"`, a `SocketAddr`,
        /// `(host, port)`: any [`IntoServerAddr`](crate::IntoServerAddr))
        /// with default settings: round robin with failover, exceptions
        /// enabled, connect timeout 5 s, request timeout 30 s.
        $(#[$new_doc])*
        pub fn new<I, S>(
            servers: I,
        ) -> ::std::result::Result<$made, $crate::driver_error::Error>
        where
            I: ::std::iter::IntoIterator<Item = S>,
            S: $crate::IntoServerAddr,
        {
            Self::with_config($crate::client::ClientConfig::new(servers))
        }

        /// A client with a full core configuration (routing policy,
        /// timeouts, backoff...). A seed of 0 is replaced by one from the
        /// operating system.
        $(#[$config_doc])*
        pub fn with_config(
            config: $crate::client::ClientConfig,
        ) -> ::std::result::Result<$made, $crate::driver_error::Error> {
            Self::with_connector(config, TcpConnector)
        }

        /// Like [`with_config`](Self::with_config), opening connections with
        /// `connector` (TLS, or a transport of the caller's; see
        /// [`transport`](crate::transport)).
        $($(#[$connector_doc])*)?
        pub fn with_connector(
            config: $crate::client::ClientConfig,
            connector: impl Connector,
        ) -> ::std::result::Result<$made, $crate::driver_error::Error> {
            let core = $crate::client::Client::new(config.with_seed_or(crate::os_entropy))?;
            Self::start(core, ::std::sync::Arc::new(connector))
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_of_another_kind_is_an_unexpected_reply() {
        let echo = RequestAnswer::Echo("hi".into());
        assert_eq!(echo.clone().into_echo().unwrap(), "hi");
        assert!(matches!(
            echo.clone().into_status(),
            Err(Error::UnexpectedReply(_))
        ));
        assert!(matches!(
            echo.into_status_unique(),
            Err(Error::UnexpectedReply(_))
        ));
        let failed = JobOutcome::Fail.into_queued().unwrap_err();
        assert!(matches!(failed, Error::UnexpectedReply(text) if text == "Fail"));
    }
}
