//! `--tls`: certificates made for the run (a CA and a certificate for
//! 127.0.0.1), the embedded server serving TLS with them, and our client,
//! worker and admin trusting the CA, through the example tools' connectors
//! and acceptors.

use std::net::SocketAddr;

use conformance::tls::Pki;
use tools::cli::{ClientTls, ServerTls};

/// The files of a `--tls` run, removed when it ends.
pub struct Tls {
    _pki: Pki,
    /// What our client, worker and admin trust.
    pub client: ClientTls,
    /// What the embedded server presents.
    pub server: ServerTls,
}

impl Tls {
    /// The certificates, when `tls` asks for them.
    pub fn for_run(tls: bool) -> Option<Tls> {
        tls.then(|| {
            let pki = Pki::generate();
            Tls {
                client: ClientTls {
                    ca: pki.ca(),
                    identity: None,
                },
                server: ServerTls {
                    cert: pki.path("server.pem"),
                    key: pki.path("server.key"),
                    client_ca: None,
                },
                _pki: pki,
            }
        })
    }
}

/// The embedded server's address as clients dial it, and the run's label.
pub fn address(tls: Option<&Tls>, addr: SocketAddr, adapter: &str) -> (String, String) {
    match tls {
        Some(_) => (format!("tls://{addr}"), format!("{adapter}/embedded/tls")),
        None => (addr.to_string(), format!("{adapter}/embedded")),
    }
}

/// The client side of `tls`.
pub fn client(tls: Option<&Tls>) -> Option<&ClientTls> {
    tls.map(|tls| &tls.client)
}

/// The server side of `tls`.
pub fn server(tls: Option<&Tls>) -> Option<&ServerTls> {
    tls.map(|tls| &tls.server)
}
