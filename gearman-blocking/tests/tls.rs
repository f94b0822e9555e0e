//! TLS through the transport seam: our client, worker and admin against our
//! TLS server, mixed plain and TLS servers, mutual TLS, and every way a
//! handshake goes wrong, each ending in a typed error while the server
//! keeps serving.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use conformance::tls::{Pki, handshake_cause};
use gearman_blocking::proto::endpoint::ServerId;
use gearman_blocking::transport::{TlsAcceptor, TlsConnector};
use gearman_blocking::{
    Admin, Client, ClientConfig, Error, JobOutcome, JobRequest, RunningServer, Server, WorkError,
    Worker, WorkerJob,
};
use gearman_tls::TlsCause;

/// A TLS server on a free loopback port, optionally requiring client
/// certificates; returns its `tls://` address.
fn tls_server(pki: &Pki, require_client_cert: bool) -> (String, RunningServer) {
    let acceptor = TlsAcceptor::new(pki.server_config(require_client_cert));
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .with_acceptor(acceptor)
        .with_handshake_timeout(Duration::from_millis(300))
        .spawn()
        .unwrap();
    (format!("tls://{}", server.local_addr()), server)
}

fn plain_server() -> (String, RunningServer) {
    let server = Server::bind("127.0.0.1:0").unwrap().spawn().unwrap();
    (server.local_addr().to_string(), server)
}

/// Trusts the CA and presents the client certificate.
fn connector(pki: &Pki) -> TlsConnector {
    TlsConnector::new(pki.client_config())
}

/// The admin still answers over TLS: the server survived what came before.
fn assert_serves(pki: &Pki, addr: &str) {
    let mut admin = Admin::connect_with(addr, &connector(pki)).unwrap();
    assert_eq!(admin.getpid().unwrap(), std::process::id());
}

#[test]
fn client_and_worker_run_a_job_over_tls_through_our_server() {
    let pki = Pki::generate();
    let (addr, _server) = tls_server(&pki, true);
    let worker = Worker::new([addr.clone()])
        .connector(connector(&pki))
        .function("reverse", |job: &WorkerJob| {
            Ok::<_, WorkError>(job.payload().iter().rev().copied().collect::<Vec<u8>>())
        })
        .spawn()
        .unwrap();
    let client = Client::with_connector(ClientConfig::new([addr]), connector(&pki)).unwrap();
    // Bigger than a TLS record, so that a job's bytes span several.
    let payload: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let outcome = client
        .submit(JobRequest::new("reverse", payload.clone()))
        .wait()
        .unwrap();
    let reversed: Vec<u8> = payload.into_iter().rev().collect();
    assert!(
        matches!(outcome, JobOutcome::Complete(ref r) if *r == reversed),
        "{outcome:?}"
    );
    worker.shutdown();
    worker.join().unwrap();
}

#[test]
fn one_server_list_mixes_tls_and_plain_servers() {
    let pki = Pki::generate();
    let (tls, _tls_server) = tls_server(&pki, false);
    let (plain, _plain_server) = plain_server();
    let client = Client::with_connector(ClientConfig::new([tls, plain]), connector(&pki)).unwrap();
    for server in 0..2 {
        let echoed = client.echo_on(ServerId(server), "ping").unwrap();
        assert_eq!(echoed, "ping", "server {server}");
    }
}

#[test]
fn a_server_requiring_client_certificates_refuses_a_client_without_one() {
    let pki = Pki::generate();
    let (addr, _server) = tls_server(&pki, true);
    let anonymous = TlsConnector::from_pem(pki.ca(), None::<(&str, &str)>).unwrap();
    // Under TLS 1.3 the client finishes its side first; the refusal comes
    // with the first read.
    let err = Admin::connect_with(&addr, &anonymous)
        .and_then(|mut admin| admin.getpid())
        .unwrap_err();
    let alert = format!("{err}");
    assert!(alert.contains("CertificateRequired"), "{alert}");
    assert_serves(&pki, &addr);
}

#[test]
fn a_server_certificate_from_another_ca_is_untrusted() {
    let pki = Pki::generate();
    let (addr, _server) = tls_server(&pki, false);
    let other = TlsConnector::from_pem(pki.path("other-ca.pem"), None::<(&str, &str)>).unwrap();
    let err = Admin::connect_with(&addr, &other).unwrap_err();
    assert_eq!(
        handshake_cause(&err),
        Some(TlsCause::UntrustedCertificate),
        "{err}"
    );
    assert!(err.to_string().contains(&addr), "names the server: {err}");
    assert_serves(&pki, &addr);
}

#[test]
fn a_certificate_for_another_name_is_refused() {
    let pki = Pki::generate();
    let (addr, _server) = tls_server(&pki, false);
    // The certificate names 127.0.0.1 only.
    let by_name = addr.replace("127.0.0.1", "localhost");
    let err = Admin::connect_with(&by_name, &connector(&pki)).unwrap_err();
    assert_eq!(handshake_cause(&err), Some(TlsCause::NameMismatch), "{err}");
    assert_serves(&pki, &addr);
}

#[test]
fn a_tls_client_on_a_plain_server_fails_the_handshake_in_time() {
    let pki = Pki::generate();
    let (plain, _server) = plain_server();
    let started = Instant::now();
    let err = Admin::connect_with(format!("tls://{plain}"), &connector(&pki)).unwrap_err();
    assert!(
        matches!(
            handshake_cause(&err),
            Some(TlsCause::NotTls | TlsCause::Closed)
        ),
        "{err}"
    );
    assert!(started.elapsed() < gearman_blocking::DEFAULT_ADMIN_TIMEOUT);
    let mut admin = Admin::connect(&plain).unwrap();
    assert_eq!(admin.getpid().unwrap(), std::process::id());
}

#[test]
fn a_plain_client_on_a_tls_server_is_dropped_and_others_are_served() {
    let pki = Pki::generate();
    let (addr, _server) = tls_server(&pki, false);
    let mut plain = Admin::connect(addr.trim_start_matches("tls://")).unwrap();
    let err = plain.getpid().unwrap_err();
    assert!(matches!(err, Error::Closed | Error::Io(_)), "{err}");
    assert_serves(&pki, &addr);
}

#[test]
fn a_peer_stalling_in_the_handshake_is_dropped_after_the_handshake_timeout() {
    let pki = Pki::generate();
    let (addr, _server) = tls_server(&pki, false);
    let mut stalled = TcpStream::connect(addr.trim_start_matches("tls://")).unwrap();
    assert_serves(&pki, &addr);
    // The server closes it (300 ms handshake timeout): the read ends.
    stalled
        .set_read_timeout(Some(conformance::PATIENCE))
        .unwrap();
    let mut buf = [0u8; 64];
    let read = stalled.read(&mut buf);
    assert!(
        matches!(read, Ok(0))
            || read
                .as_ref()
                .is_err_and(|err| err.kind() != std::io::ErrorKind::WouldBlock),
        "the server dropped the stalled peer: {read:?}"
    );
}

#[test]
fn a_handshake_that_never_finishes_counts_against_the_clients_connect_timeout() {
    let pki = Pki::generate();
    // Accepts and never answers the ClientHello.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("tls://{}", silent.local_addr().unwrap());
    let config = ClientConfig::new([addr])
        .with_connect_timeout(Duration::from_millis(300))
        .with_request_timeout(None);
    let client = Client::with_connector(config, connector(&pki)).unwrap();
    let (done, outcome) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(client.echo("ping"));
    });
    let (mut first, _) = silent.accept().unwrap();
    let outcome = outcome
        .recv_timeout(conformance::PATIENCE)
        .expect("the connect timeout ends the wait");
    assert!(outcome.is_err(), "{outcome:?}");
    // The connecting thread gave up on the handshake too: it closed the
    // socket rather than waiting on it.
    first.set_read_timeout(Some(conformance::PATIENCE)).unwrap();
    let mut hello = Vec::new();
    let read = first.read_to_end(&mut hello);
    assert!(read.is_ok() && !hello.is_empty(), "{read:?}");
}

// Timeouts of any length are taken, `Duration::MAX` included: the connect
// and handshake deadlines saturate instead of overflowing the clock.
#[test]
fn connect_and_handshake_timeouts_take_duration_max() {
    let pki = Pki::generate();
    let acceptor = TlsAcceptor::new(pki.server_config(false));
    let server = Server::bind("127.0.0.1:0")
        .unwrap()
        .with_acceptor(acceptor)
        .with_handshake_timeout(Duration::MAX)
        .spawn()
        .unwrap();
    let addr = format!("tls://{}", server.local_addr());
    let config = ClientConfig::new([addr]).with_connect_timeout(Duration::MAX);
    let client = Client::with_connector(config, connector(&pki)).unwrap();
    assert_eq!(client.echo("long patience").unwrap(), "long patience");

    let (plain, _plain_server) = plain_server();
    let config = ClientConfig::new([plain]).with_connect_timeout(Duration::MAX);
    let client = Client::with_config(config).unwrap();
    assert_eq!(client.echo("plain too").unwrap(), "plain too");
}
