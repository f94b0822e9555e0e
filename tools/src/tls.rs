//! Each adapter's connector and TLS server from the command line's
//! [`ClientTls`] and [`ServerTls`]: plain TCP without TLS files; with them,
//! TLS to `tls://` servers (and still plain TCP to the others).

use gearman_tls::ConfigError;

use crate::cli::{ClientTls, ServerTls};

/// Why a tool could not start: a TLS file it was given is unusable.
pub fn failure(tool: &str, err: &ConfigError) -> std::process::ExitCode {
    crate::cli::error_exit(tool, format_args!("TLS: {err}"))
}

/// The same helpers for the two async adapters, whose connectors share a shape.
macro_rules! async_adapter {
    ($adapter:ident) => {
        use $adapter::Server;
        use $adapter::transport::{Connecting, Connector, TcpConnector, TlsAcceptor, TlsConnector};

        use super::*;

        /// The connector `tls` asks for.
        pub fn connector(tls: Option<&ClientTls>) -> Result<impl Connector, ConfigError> {
            let tls = tls
                .map(ClientTls::config)
                .transpose()?
                .map(TlsConnector::new);
            Ok(move |addr: &str| -> Connecting {
                match &tls {
                    Some(tls) => tls.connect(addr),
                    None => TcpConnector.connect(addr),
                }
            })
        }

        /// `server`, serving TLS when `tls` is given.
        pub fn server(server: Server, tls: Option<&ServerTls>) -> Result<Server, ConfigError> {
            Ok(match tls {
                Some(tls) => server.with_acceptor(TlsAcceptor::new(tls.config()?)),
                None => server,
            })
        }
    };
}

/// gearman-tokio's.
pub mod tokio {
    async_adapter!(gearman_tokio);
}

/// gearman-async-std's.
pub mod async_std {
    async_adapter!(gearman_async_std);
}

/// gearman-blocking's.
pub mod blocking {
    use std::io;
    use std::time::Duration;

    use gearman_blocking::Server;
    use gearman_blocking::transport::{
        Connection, Connector, TcpConnector, TlsAcceptor, TlsConnector,
    };

    use super::*;

    /// The connector `tls` asks for.
    pub fn connector(tls: Option<&ClientTls>) -> Result<impl Connector, ConfigError> {
        let tls = tls
            .map(ClientTls::config)
            .transpose()?
            .map(TlsConnector::new);
        Ok(
            move |addr: &str, timeout: Duration| -> io::Result<Connection> {
                match &tls {
                    Some(tls) => tls.connect(addr, timeout),
                    None => TcpConnector.connect(addr, timeout),
                }
            },
        )
    }

    /// `server`, serving TLS when `tls` is given.
    pub fn server(server: Server, tls: Option<&ServerTls>) -> Result<Server, ConfigError> {
        Ok(match tls {
            Some(tls) => server.with_acceptor(TlsAcceptor::new(tls.config()?)),
            None => server,
        })
    }
}
