//! What the Gearman adapters share for TLS, whatever their runtime: rustls
//! configurations built from PEM files, how a server address asks for TLS,
//! and the typed error a failed handshake ends with.
//!
//! The crypto provider is rustls' `ring` one, chosen explicitly for every
//! configuration (it builds with cargo and a C compiler; `aws-lc-rs` also
//! needs cmake). Configurations a user builds with another provider work too.
//!
//! ```no_run
//! # fn demo() -> Result<(), gearman_tls::ConfigError> {
//! // Trust one CA, present a client certificate (mutual TLS).
//! let client = gearman_tls::client_config("ca.pem", Some(("client.pem", "client.key")))?;
//! // Serve with a certificate; require clients to present one from a CA.
//! let server = gearman_tls::server_config("server.pem", "server.key", Some("ca.pem"))?;
//! # let _ = (client, server); Ok(()) }
//! ```
#![forbid(unsafe_code)]

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use rustls;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{AlertDescription, CertificateError, RootCertStore};

/// The scheme that marks a server address as TLS: `tls://host:port`. An
/// address without it is plain TCP, so one server list may mix both.
pub const TLS_SCHEME: &str = "tls://";

/// Default time a server gives an accepted peer to finish its TLS
/// handshake before dropping it.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The address to dial and the name to verify for `addr`: `Some` when it
/// starts with [`TLS_SCHEME`], `None` for a plain address.
pub fn tls_target(addr: &str) -> Option<Result<(&str, ServerName<'static>), ConfigError>> {
    let rest = addr.strip_prefix(TLS_SCHEME)?;
    let host = match rest.rsplit_once(':') {
        Some((host, _port)) => host,
        None => rest,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Some(
        ServerName::try_from(host.to_owned())
            .map(|name| (rest, name))
            .map_err(|_| ConfigError::ServerName(addr.to_owned())),
    )
}

/// The provider every configuration built here uses.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A client configuration that trusts the CA certificates in the PEM file
/// `ca` and verifies the server's name, presenting the certificate chain
/// and key of `identity` (PEM files) when given, for mutual TLS.
pub fn client_config(
    ca: impl AsRef<Path>,
    identity: Option<(impl AsRef<Path>, impl AsRef<Path>)>,
) -> Result<Arc<rustls::ClientConfig>, ConfigError> {
    let roots = root_store(ca.as_ref())?;
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(ConfigError::Rustls)?
        .with_root_certificates(roots);
    let config = match identity {
        Some((cert, key)) => {
            let (chain, key) = identity_files(cert.as_ref(), key.as_ref())?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(ConfigError::Rustls)?
        }
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// A server configuration presenting the certificate chain and key in the
/// PEM files `cert` and `key`; with `client_ca`, every client must present
/// a certificate issued by a CA in that PEM file.
pub fn server_config(
    cert: impl AsRef<Path>,
    key: impl AsRef<Path>,
    client_ca: Option<impl AsRef<Path>>,
) -> Result<Arc<rustls::ServerConfig>, ConfigError> {
    let (chain, key) = identity_files(cert.as_ref(), key.as_ref())?;
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(ConfigError::Rustls)?;
    let builder = match client_ca {
        Some(ca) => {
            let roots = Arc::new(root_store(ca.as_ref())?);
            let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider())
                .build()
                .map_err(|err| ConfigError::Verifier(err.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let config = builder
        .with_single_cert(chain, key)
        .map_err(ConfigError::Rustls)?;
    Ok(Arc::new(config))
}

fn root_store(ca: &Path) -> Result<RootCertStore, ConfigError> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(ca)? {
        roots
            .add(cert)
            .map_err(|err| ConfigError::Certificate(ca.to_owned(), err.to_string()))?;
    }
    Ok(roots)
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<_, _>>())
        .map_err(|err| ConfigError::Pem(path.to_owned(), err.to_string()))?;
    if certs.is_empty() {
        return Err(ConfigError::Pem(path.to_owned(), "no certificate".into()));
    }
    Ok(certs)
}

fn identity_files(
    cert: &Path,
    key: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), ConfigError> {
    let chain = certificates(cert)?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|err| ConfigError::Pem(key.to_owned(), err.to_string()))?;
    Ok((chain, key))
}

/// A TLS configuration that cannot be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A PEM file is missing, unreadable or holds nothing usable.
    #[error("{0}: {1}")]
    Pem(PathBuf, String),
    /// A CA certificate was refused as a trust anchor.
    #[error("{0}: {1}")]
    Certificate(PathBuf, String),
    /// The host of a `tls://` address is not a valid server name.
    #[error("not a valid TLS server name: {0}")]
    ServerName(String),
    /// The client certificate verifier could not be built.
    #[error("client certificate verifier: {0}")]
    Verifier(String),
    /// rustls refused the configuration (a key that does not match, say).
    #[error(transparent)]
    Rustls(rustls::Error),
}

/// Why a TLS handshake failed, as far as the two sides can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsCause {
    /// The peer's certificate is not signed by a trusted CA.
    UntrustedCertificate,
    /// The server's certificate is not valid for the name dialled.
    NameMismatch,
    /// The peer does not speak TLS (a plain Gearman peer, say).
    NotTls,
    /// A server that requires a client certificate got none.
    NoClientCertificate,
    /// The peer ended the handshake with this alert (a server refusing a
    /// client without a certificate, or a client refusing our certificate).
    Alert(String),
    /// The peer did not finish the handshake in time.
    TimedOut,
    /// The peer closed the connection during the handshake.
    Closed,
    /// Anything else, as rustls or the socket put it.
    Other(String),
}

impl std::fmt::Display for TlsCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TlsCause::UntrustedCertificate => f.write_str("certificate not signed by a trusted CA"),
            TlsCause::NameMismatch => f.write_str("certificate not valid for the server's name"),
            TlsCause::NotTls => f.write_str("the peer does not speak TLS"),
            TlsCause::NoClientCertificate => f.write_str("the client presented no certificate"),
            TlsCause::Alert(alert) => write!(f, "the peer sent alert {alert}"),
            TlsCause::TimedOut => f.write_str("handshake not finished in time"),
            TlsCause::Closed => f.write_str("closed by the peer during the handshake"),
            TlsCause::Other(text) => f.write_str(text),
        }
    }
}

impl TlsCause {
    /// Classifies the error a handshake ended with (an `io::Error` from a
    /// rustls stream, holding the `rustls::Error` when TLS itself failed).
    pub fn of(err: &io::Error) -> TlsCause {
        if let Some(tls) = err.get_ref().and_then(|inner| inner.downcast_ref()) {
            return TlsCause::of_rustls(tls);
        }
        match err.kind() {
            io::ErrorKind::TimedOut => TlsCause::TimedOut,
            io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe => TlsCause::Closed,
            _ => TlsCause::Other(err.to_string()),
        }
    }

    fn of_rustls(err: &rustls::Error) -> TlsCause {
        use rustls::Error as E;
        match err {
            E::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            ) => TlsCause::NameMismatch,
            E::InvalidCertificate(
                CertificateError::UnknownIssuer | CertificateError::BadSignature,
            ) => TlsCause::UntrustedCertificate,
            E::InvalidMessage(_) | E::InappropriateMessage { .. } => TlsCause::NotTls,
            E::NoCertificatesPresented => TlsCause::NoClientCertificate,
            E::AlertReceived(alert) => TlsCause::Alert(alert_name(*alert)),
            other => TlsCause::Other(other.to_string()),
        }
    }
}

fn alert_name(alert: AlertDescription) -> String {
    format!("{alert:?}")
}

/// A TLS handshake that failed: with whom and why. Adapters return it as
/// the inner error of an [`io::Error`]; find it with
/// [`HandshakeError::find`].
#[derive(Debug, Clone, thiserror::Error)]
#[error("TLS handshake with {peer} failed: {cause}")]
pub struct HandshakeError {
    /// The server dialled, or the peer address of an accepted connection.
    pub peer: String,
    /// What went wrong.
    pub cause: TlsCause,
}

impl HandshakeError {
    /// Wraps the error a handshake with `peer` ended with into an
    /// `io::Error` of the same kind carrying a [`HandshakeError`].
    pub fn wrap(peer: &str, err: io::Error) -> io::Error {
        let cause = TlsCause::of(&err);
        let kind = match err.kind() {
            io::ErrorKind::Other => io::ErrorKind::InvalidData,
            kind => kind,
        };
        io::Error::new(
            kind,
            HandshakeError {
                peer: peer.to_owned(),
                cause,
            },
        )
    }

    /// The handshake error somewhere in `err`'s chain of sources, if any.
    pub fn find<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a HandshakeError> {
        let mut next = Some(err);
        while let Some(err) = next {
            if let Some(found) = err.downcast_ref::<HandshakeError>() {
                return Some(found);
            }
            if let Some(found) = err
                .downcast_ref::<io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<HandshakeError>())
            {
                return Some(found);
            }
            next = err.source();
        }
        None
    }
}

/// Writes what every adapter's `TlsConnector` and `TlsAcceptor` share:
/// `from_pem` over [`client_config`] and [`server_config`], and a `Debug`
/// that shows no key material. Each type must have
/// `new(Arc<rustls::ClientConfig>)` (or `ServerConfig`), where the adapter
/// wraps its runtime's stream type.
#[doc(hidden)]
#[macro_export]
macro_rules! pem_constructors {
    () => {
        impl TlsConnector {
            /// Trusts the CAs in the PEM file `ca`; presents the
            /// certificate and key of `identity` (PEM files) for mutual TLS
            /// when given.
            pub fn from_pem(
                ca: impl ::std::convert::AsRef<::std::path::Path>,
                identity: ::std::option::Option<(
                    impl ::std::convert::AsRef<::std::path::Path>,
                    impl ::std::convert::AsRef<::std::path::Path>,
                )>,
            ) -> ::std::result::Result<TlsConnector, $crate::ConfigError> {
                Ok(TlsConnector::new($crate::client_config(ca, identity)?))
            }
        }

        impl TlsAcceptor {
            /// Presents the certificate chain and key in PEM files `cert`
            /// and `key`; with `client_ca`, requires client certificates
            /// from it.
            pub fn from_pem(
                cert: impl ::std::convert::AsRef<::std::path::Path>,
                key: impl ::std::convert::AsRef<::std::path::Path>,
                client_ca: ::std::option::Option<impl ::std::convert::AsRef<::std::path::Path>>,
            ) -> ::std::result::Result<TlsAcceptor, $crate::ConfigError> {
                Ok(TlsAcceptor::new($crate::server_config(
                    cert, key, client_ca,
                )?))
            }
        }

        impl ::std::fmt::Debug for TlsConnector {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_struct("TlsConnector").finish_non_exhaustive()
            }
        }

        impl ::std::fmt::Debug for TlsAcceptor {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_struct("TlsAcceptor").finish_non_exhaustive()
            }
        }
    };
}

/// Writes an async adapter's `TlsConnector` and `TlsAcceptor` over its
/// runtime's rustls crate (`$io`: `tokio_rustls` or `futures_rustls`, which
/// share their API) and its accepted socket type (`$socket`), with
/// [`pem_constructors!`]. The connector opens a `tls://` address over TLS
/// and any other over plain TCP, both through the adapter's `async fn
/// tcp(&str)`; `Acceptor`, `Connecting`, `Connection`, `Connector` and
/// `tcp` must be in scope.
#[doc(hidden)]
#[macro_export]
macro_rules! async_tls {
    ($io:ident, $socket:ty) => {
        /// Opens `tls://host:port` addresses over TLS (verifying that the
        /// server's certificate is valid for `host`) and plain ones over TCP, so
        /// one server list may mix both. A failed handshake is an `io::Error`
        /// carrying a [`HandshakeError`](gearman_tls::HandshakeError).
        #[derive(Clone)]
        pub struct TlsConnector {
            tls: $io::TlsConnector,
        }

        /// Accepts TLS with a rustls server configuration; a failed handshake
        /// is an `io::Error` carrying a [`HandshakeError`](gearman_tls::HandshakeError).
        #[derive(Clone)]
        pub struct TlsAcceptor {
            tls: $io::TlsAcceptor,
        }

        impl TlsConnector {
            /// Uses a rustls configuration the caller built.
            pub fn new(config: ::std::sync::Arc<$crate::rustls::ClientConfig>) -> TlsConnector {
                TlsConnector { tls: config.into() }
            }
        }

        impl Connector for TlsConnector {
            fn connect(&self, addr: &str) -> Connecting {
                let tls = self.tls.clone();
                let addr = addr.to_owned();
                ::std::boxed::Box::pin(async move {
                    let Some(target) = $crate::tls_target(&addr) else {
                        return Ok(Connection::from(tcp(&addr).await?));
                    };
                    let (dial, name) = target.map_err(::std::io::Error::other)?;
                    let stream = tcp(dial).await?;
                    let stream = tls
                        .connect(name, stream)
                        .await
                        .map_err(|err| $crate::HandshakeError::wrap(&addr, err))?;
                    Ok(Connection::new(stream))
                })
            }
        }

        impl TlsAcceptor {
            /// Uses a rustls configuration the caller built.
            pub fn new(config: ::std::sync::Arc<$crate::rustls::ServerConfig>) -> TlsAcceptor {
                TlsAcceptor { tls: config.into() }
            }
        }

        impl Acceptor for TlsAcceptor {
            fn accept(&self, stream: $socket, peer: ::std::net::SocketAddr) -> Connecting {
                let tls = self.tls.clone();
                ::std::boxed::Box::pin(async move {
                    let stream = tls
                        .accept(stream)
                        .await
                        .map_err(|err| $crate::HandshakeError::wrap(&peer.to_string(), err))?;
                    Ok(Connection::new(stream))
                })
            }
        }

        $crate::pem_constructors!();
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_addresses_name_their_host_and_plain_ones_are_left_alone() {
        assert!(tls_target("127.0.0.1:4730").is_none());
        let (dial, name) = tls_target("tls://gearman.example:4730").unwrap().unwrap();
        assert_eq!(dial, "gearman.example:4730");
        assert_eq!(name.to_str(), "gearman.example");
        let (_, name) = tls_target("tls://[::1]:4730").unwrap().unwrap();
        assert_eq!(name.to_str(), "::1");
        assert!(tls_target("tls://bad name:1").unwrap().is_err());
    }

    #[test]
    fn rustls_errors_inside_io_errors_are_classified() {
        let wrapped = |err: rustls::Error| io::Error::new(io::ErrorKind::InvalidData, err);
        let untrusted = wrapped(rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer,
        ));
        assert_eq!(TlsCause::of(&untrusted), TlsCause::UntrustedCertificate);
        let name = wrapped(rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName,
        ));
        assert_eq!(TlsCause::of(&name), TlsCause::NameMismatch);
        let eof = io::Error::from(io::ErrorKind::UnexpectedEof);
        let err = HandshakeError::wrap("h:1", eof);
        let found = HandshakeError::find(&err).unwrap();
        assert_eq!(
            (found.peer.as_str(), &found.cause),
            ("h:1", &TlsCause::Closed)
        );
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn missing_files_name_the_file() {
        let err = client_config("/nonexistent/ca.pem", None::<(&str, &str)>).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    }
}
