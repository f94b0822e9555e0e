//! Certificates made at test time for the TLS tests of every adapter: a CA,
//! a server certificate for `127.0.0.1`, a client certificate, and a second
//! CA that signed none of them. Nothing secret is kept in the repository.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use gearman_tls::{HandshakeError, TlsCause, rustls};

use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};

/// PEM files in a temporary directory, removed on drop.
#[derive(Debug)]
pub struct Pki {
    dir: PathBuf,
}

impl Pki {
    /// Generates the certificates and writes them out.
    pub fn generate() -> Pki {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "gearman-tls-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create the certificate directory");
        let pki = Pki { dir };
        let (ca, ca_key) = authority("gearman test CA");
        let (other_ca, _) = authority("unrelated CA");
        pki.write("ca.pem", &ca.pem());
        pki.write("other-ca.pem", &other_ca.pem());
        for (name, san, usage) in [
            ("server", "127.0.0.1", ExtendedKeyUsagePurpose::ServerAuth),
            ("client", "client.test", ExtendedKeyUsagePurpose::ClientAuth),
        ] {
            let key = KeyPair::generate().expect("generate a key");
            let mut params = CertificateParams::new(vec![san.to_owned()]).expect("params");
            params.distinguished_name.push(DnType::CommonName, san);
            params.extended_key_usages = vec![usage];
            let cert = params.signed_by(&key, &ca, &ca_key).expect("sign");
            pki.write(&format!("{name}.pem"), &cert.pem());
            pki.write(&format!("{name}.key"), &key.serialize_pem());
        }
        pki
    }

    fn write(&self, name: &str, pem: &str) {
        std::fs::write(self.dir.join(name), pem).expect("write a PEM file");
    }

    /// A file of this set: `ca.pem`, `other-ca.pem`, `server.pem`,
    /// `server.key`, `client.pem`, `client.key`.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The CA that signed the server and client certificates.
    pub fn ca(&self) -> PathBuf {
        self.path("ca.pem")
    }

    /// The directory holding the files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A client configuration trusting the CA and presenting the client
    /// certificate (mutual TLS).
    pub fn client_config(&self) -> Arc<rustls::ClientConfig> {
        let identity = (self.path("client.pem"), self.path("client.key"));
        gearman_tls::client_config(self.ca(), Some(identity)).expect("client TLS configuration")
    }

    /// A server configuration presenting the server certificate; with
    /// `require_client_cert`, clients must present one from the CA.
    pub fn server_config(&self, require_client_cert: bool) -> Arc<rustls::ServerConfig> {
        let (cert, key) = (self.path("server.pem"), self.path("server.key"));
        let client_ca = require_client_cert.then(|| self.ca());
        gearman_tls::server_config(cert, key, client_ca).expect("server TLS configuration")
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Why the TLS handshake under `err` failed, when a handshake did.
pub fn handshake_cause(err: &(dyn std::error::Error + 'static)) -> Option<TlsCause> {
    HandshakeError::find(err).map(|found| found.cause.clone())
}

fn authority(name: &str) -> (rcgen::Certificate, KeyPair) {
    let key = KeyPair::generate().expect("generate a key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    let cert = params.self_signed(&key).expect("self-sign");
    (cert, key)
}
