//! What the adapters' connectors share: the refusal of a TLS address
//! without TLS, and the async adapters' `Connector` seam.

use std::io;

/// The scheme of TLS addresses (`gearman_tls::TLS_SCHEME`), known here so
/// that a plain TCP connector refuses such an address clearly.
const TLS_SCHEME: &str = "tls://";

/// Refuses an address that asks for TLS (`tls://host:port`), which a plain
/// TCP connector cannot open: an [`io::ErrorKind::InvalidInput`] saying it
/// needs a TLS connector.
///
/// ```
/// use gearman_proto::endpoint::refuse_tls;
///
/// assert!(refuse_tls("jobs.example.net:4730").is_ok());
/// let refused = refuse_tls("tls://jobs.example.net:4730").unwrap_err();
/// assert_eq!(refused.kind(), std::io::ErrorKind::InvalidInput);
/// ```
pub fn refuse_tls(addr: &str) -> io::Result<()> {
    if addr.starts_with(TLS_SCHEME) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{addr} asks for TLS, which needs a TLS connector"),
        ));
    }
    Ok(())
}

/// The connector seam both async adapters share, written once:
/// `Connecting` (a boxed future of the adapter's `Connection`), the
/// `Connector` trait with its impl for closures, and `TcpConnector`, which
/// opens the adapter's plain TCP stream with its `async fn tcp(&str)`. The
/// attributes given add the adapter's notes to `TcpConnector`'s docs.
#[doc(hidden)]
#[macro_export]
macro_rules! async_connector {
    ($(#[$tcp_doc:meta])*) => {
        /// A connection being opened.
        pub type Connecting = ::std::pin::Pin<
            ::std::boxed::Box<
                dyn ::std::future::Future<Output = ::std::io::Result<Connection>> + Send,
            >,
        >;

        /// Opens a connection to a server address, as the client, worker and
        /// admin ask. Everything it does (a TLS handshake, say) counts against the
        /// connect timeout. Any `Fn(&str) -> Connecting` is a connector.
        pub trait Connector: Send + Sync + 'static {
            /// Opens a connection to `addr`.
            fn connect(&self, addr: &str) -> Connecting;
        }

        impl<F: Fn(&str) -> Connecting + Send + Sync + 'static> Connector for F {
            fn connect(&self, addr: &str) -> Connecting {
                self(addr)
            }
        }

        /// The default connector: plain TCP to `host:port`, with `TCP_NODELAY`. A
        /// `tls://` address is refused (it needs a TLS connector, feature `tls`).
        $(#[$tcp_doc])*
        #[derive(Debug, Clone, Copy, Default)]
        pub struct TcpConnector;

        impl Connector for TcpConnector {
            fn connect(&self, addr: &str) -> Connecting {
                let addr = addr.to_owned();
                ::std::boxed::Box::pin(async move { Ok(Connection::from(tcp(&addr).await?)) })
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tls_address_is_refused_with_its_address_and_a_plain_one_is_not() {
        assert!(refuse_tls("127.0.0.1:4730").is_ok());
        // Only the scheme counts, not a host that merely starts with "tls".
        assert!(refuse_tls("tls.example.net:4730").is_ok());
        let refused = refuse_tls("tls://jobs.example.net:4730").unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::InvalidInput);
        assert!(refused.to_string().contains("tls://jobs.example.net:4730"));
    }
}
