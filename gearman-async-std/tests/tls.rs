//! TLS through the transport seam: our client, worker and admin against our
//! TLS server, mixed plain and TLS servers, mutual TLS, and every way a
//! handshake goes wrong, each ending in a typed error while the server
//! keeps serving.

use std::time::{Duration, Instant};

use async_std::io::ReadExt;
use async_std::task;
use conformance::tls::{Pki, handshake_cause};
use gearman_async_std::transport::{TlsAcceptor, TlsConnector};
use gearman_async_std::{
    Admin, Client, ClientConfig, Error, JobOutcome, JobRequest, Server, WorkError, Worker,
    WorkerJob,
};
use gearman_tls::TlsCause;

/// A TLS server on a free loopback port, optionally requiring client
/// certificates; returns its `tls://` address.
async fn tls_server(pki: &Pki, require_client_cert: bool) -> String {
    let acceptor = TlsAcceptor::new(pki.server_config(require_client_cert));
    let server = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .with_acceptor(acceptor)
        .with_handshake_timeout(Duration::from_millis(300));
    let addr = server.local_addr().unwrap();
    task::spawn(server.serve());
    format!("tls://{addr}")
}

async fn plain_server() -> String {
    let server = Server::bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr().unwrap();
    task::spawn(server.serve());
    addr.to_string()
}

/// Trusts the CA and presents the client certificate.
fn connector(pki: &Pki) -> TlsConnector {
    TlsConnector::new(pki.client_config())
}

/// The admin still answers over TLS: the server survived what came before.
async fn assert_serves(pki: &Pki, addr: &str) {
    let mut admin = Admin::connect_with(addr, &connector(pki)).await.unwrap();
    assert_eq!(admin.getpid().await.unwrap(), std::process::id());
}

/// A worker serving `reverse` at `addr` and a client of it, both over
/// mutual TLS.
fn reverse_over_tls(pki: &Pki, addr: String) -> Client {
    let worker = Worker::new([addr.clone()])
        .connector(connector(pki))
        .function("reverse", |job: WorkerJob| async move {
            Ok::<_, WorkError>(job.payload().iter().rev().copied().collect::<Vec<u8>>())
        });
    task::spawn(worker.run_until(std::future::pending::<()>()));
    let (client, driver) =
        Client::with_connector(ClientConfig::new([addr]), connector(pki)).unwrap();
    task::spawn(driver);
    client
}

#[async_std::test]
async fn client_and_worker_run_a_job_over_tls_through_our_server() {
    let pki = Pki::generate();
    let addr = tls_server(&pki, true).await;
    let client = reverse_over_tls(&pki, addr);
    let outcome = client
        .submit(JobRequest::new("reverse", "hello"))
        .await
        .unwrap();
    assert!(
        matches!(outcome, JobOutcome::Complete(ref r) if r == "olleh"),
        "{outcome:?}"
    );
}

/// Far more than rustls buffers and than one read takes: the driver's
/// stream path writes in pieces, flushes what TLS holds back, and reads
/// across rounds, on the client, the server and the worker alike.
#[async_std::test]
async fn a_payload_larger_than_the_tls_buffers_goes_both_ways() {
    let pki = Pki::generate();
    let addr = tls_server(&pki, true).await;
    let client = reverse_over_tls(&pki, addr);
    let payload: Vec<u8> = (0..4 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let expected: Vec<u8> = payload.iter().rev().copied().collect();
    let submitted = client.submit(JobRequest::new("reverse", payload));
    let outcome = async_std::future::timeout(conformance::PATIENCE, submitted)
        .await
        .expect("the job ends")
        .unwrap();
    assert!(
        matches!(outcome, JobOutcome::Complete(ref r) if *r == expected),
        "the result differs"
    );
}

#[async_std::test]
async fn one_server_list_mixes_tls_and_plain_servers() {
    let pki = Pki::generate();
    let tls = tls_server(&pki, false).await;
    let plain = plain_server().await;
    let (client, driver) =
        Client::with_connector(ClientConfig::new([tls, plain]), connector(&pki)).unwrap();
    task::spawn(driver);
    for server in 0..2 {
        let echoed = client
            .echo_on(gearman_async_std::proto::endpoint::ServerId(server), "ping")
            .await
            .unwrap();
        assert_eq!(echoed, "ping", "server {server}");
    }
}

#[async_std::test]
async fn a_server_requiring_client_certificates_refuses_a_client_without_one() {
    let pki = Pki::generate();
    let addr = tls_server(&pki, true).await;
    let anonymous = TlsConnector::from_pem(pki.ca(), None::<(&str, &str)>).unwrap();
    // Under TLS 1.3 the client finishes its side first; the refusal comes
    // with the first read.
    let refused = async {
        let mut admin = Admin::connect_with(addr.as_str(), &anonymous).await?;
        admin.getpid().await
    };
    let err = refused.await.unwrap_err();
    let alert = format!("{err}");
    assert!(alert.contains("CertificateRequired"), "{alert}");
    assert_serves(&pki, &addr).await;
}

#[async_std::test]
async fn a_server_certificate_from_another_ca_is_untrusted() {
    let pki = Pki::generate();
    let addr = tls_server(&pki, false).await;
    let other = TlsConnector::from_pem(pki.path("other-ca.pem"), None::<(&str, &str)>).unwrap();
    let err = Admin::connect_with(addr.as_str(), &other)
        .await
        .unwrap_err();
    assert_eq!(
        handshake_cause(&err),
        Some(TlsCause::UntrustedCertificate),
        "{err}"
    );
    assert!(err.to_string().contains(&addr), "names the server: {err}");
    assert_serves(&pki, &addr).await;
}

#[async_std::test]
async fn a_certificate_for_another_name_is_refused() {
    let pki = Pki::generate();
    let addr = tls_server(&pki, false).await;
    // The certificate names 127.0.0.1 only.
    let by_name = addr.replace("127.0.0.1", "localhost");
    let err = Admin::connect_with(by_name, &connector(&pki))
        .await
        .unwrap_err();
    assert_eq!(handshake_cause(&err), Some(TlsCause::NameMismatch), "{err}");
    assert_serves(&pki, &addr).await;
}

#[async_std::test]
async fn a_tls_client_on_a_plain_server_fails_the_handshake_in_time() {
    let pki = Pki::generate();
    let plain = plain_server().await;
    let started = Instant::now();
    let err = Admin::connect_with(format!("tls://{plain}"), &connector(&pki))
        .await
        .unwrap_err();
    assert!(
        matches!(
            handshake_cause(&err),
            Some(TlsCause::NotTls | TlsCause::Closed)
        ),
        "{err}"
    );
    assert!(started.elapsed() < gearman_async_std::DEFAULT_ADMIN_TIMEOUT);
    let mut admin = Admin::connect(plain).await.unwrap();
    assert_eq!(admin.getpid().await.unwrap(), std::process::id());
}

#[async_std::test]
async fn a_plain_client_on_a_tls_server_is_dropped_and_others_are_served() {
    let pki = Pki::generate();
    let addr = tls_server(&pki, false).await;
    let mut plain = Admin::connect(addr.trim_start_matches("tls://"))
        .await
        .unwrap();
    let err = plain.getpid().await.unwrap_err();
    assert!(matches!(err, Error::Closed | Error::Io(_)), "{err}");
    assert_serves(&pki, &addr).await;
}

#[async_std::test]
async fn a_peer_stalling_in_the_handshake_is_dropped_after_the_handshake_timeout() {
    let pki = Pki::generate();
    let addr = tls_server(&pki, false).await;
    let mut stalled = async_std::net::TcpStream::connect(addr.trim_start_matches("tls://"))
        .await
        .unwrap();
    assert_serves(&pki, &addr).await;
    // The server closes it (300 ms handshake timeout): the read ends.
    let mut buf = [0u8; 64];
    let read = async_std::future::timeout(conformance::PATIENCE, stalled.read(&mut buf))
        .await
        .expect("the server dropped the stalled peer");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
}

#[async_std::test]
async fn a_handshake_that_never_finishes_counts_against_the_clients_connect_timeout() {
    let pki = Pki::generate();
    // Never accepts: the kernel completes the TCP handshake, nobody answers
    // the ClientHello.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("tls://{}", silent.local_addr().unwrap());
    let config = ClientConfig::new([addr])
        .with_connect_timeout(Duration::from_millis(300))
        .with_request_timeout(None);
    let (client, driver) = Client::with_connector(config, connector(&pki)).unwrap();
    task::spawn(driver);
    let outcome = async_std::future::timeout(conformance::PATIENCE, client.echo("ping"))
        .await
        .expect("the connect timeout ends the wait");
    assert!(outcome.is_err(), "{outcome:?}");
}
