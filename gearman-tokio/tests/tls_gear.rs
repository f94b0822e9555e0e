//! TLS against a real peer: Python's `gear` worker and client through our
//! TLS server, and our client and worker through gear's TLS job server.
//! gear speaks TLS 1.2 only and always presents a client certificate.

use conformance::gear_tls;
use conformance::tls::Pki;
use gearman_tokio::transport::{TlsAcceptor, TlsConnector};
use gearman_tokio::{Client, ClientConfig, JobOutcome, JobRequest, Server, WorkError};
use gearman_tokio::{Worker, WorkerJob};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gear_worker_and_gear_client_run_a_job_over_tls_through_our_server() {
    if !gear_tls::have_gear() {
        return;
    }
    let pki = Pki::generate();
    // Client certificates required: gear always sends one.
    let acceptor = TlsAcceptor::from_pem(
        pki.path("server.pem"),
        pki.path("server.key"),
        Some(pki.ca()),
    )
    .unwrap();
    let server = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .with_acceptor(acceptor);
    let addr = server.local_addr().unwrap().to_string();
    tokio::spawn(server.serve());
    let _worker = gear_tls::start_reverse_worker(&pki, &addr);
    let result = tokio::task::spawn_blocking(move || {
        gear_tls::submit(&pki, &addr, "reverse", "hello over tls")
    })
    .await
    .unwrap();
    assert_eq!(result, "slt revo olleh");
}

#[tokio::test]
async fn our_worker_and_client_run_a_job_over_tls_through_a_gear_server() {
    if !gear_tls::have_gear() {
        return;
    }
    let pki = Pki::generate();
    let (_gear_server, addr) = gear_tls::start_server(&pki);
    let connector = TlsConnector::from_pem(
        pki.ca(),
        Some((pki.path("client.pem"), pki.path("client.key"))),
    )
    .unwrap();
    let worker = Worker::new([addr.clone()])
        .connector(connector.clone())
        .function("reverse", |job: WorkerJob| async move {
            Ok::<_, WorkError>(job.payload().iter().rev().copied().collect::<Vec<u8>>())
        });
    tokio::spawn(worker.run_until(std::future::pending::<()>()));
    let client = Client::with_connector(ClientConfig::new([addr]), connector).unwrap();
    let outcome = client
        .submit(JobRequest::new("reverse", "hello over tls"))
        .await
        .unwrap();
    assert!(
        matches!(outcome, JobOutcome::Complete(ref r) if r == "slt revo olleh"),
        "{outcome:?}"
    );
}
