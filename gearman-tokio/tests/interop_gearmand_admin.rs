//! Admin replies from a real gearmand, read by [`gearman_tokio::Admin`].

mod support;

use std::io::{Read, Write};

use gearman_proto::admin::{AdminResponse, MaxQueueLimits};
use gearman_proto::{Command, Decoder, Packet};
use gearman_tokio::{Admin, Error};
use support::Gearmand;

/// Queues a background job by writing raw packets, and returns its handle.
fn submit_background(server: &str, function: &str, unique: &str) -> Vec<u8> {
    let mut stream = std::net::TcpStream::connect(server).unwrap();
    stream.set_read_timeout(Some(support::PATIENCE)).unwrap();
    let mut out = Vec::new();
    Packet::build(
        Command::SubmitJobBg,
        &[function.as_bytes(), unique.as_bytes(), b"payload"],
    )
    .unwrap()
    .encode(&mut out);
    stream.write_all(&out).unwrap();
    let mut buf = bytes::BytesMut::new();
    let mut decoder = Decoder::new();
    loop {
        if let Some(packet) = decoder.decode_packet(&mut buf).unwrap() {
            assert_eq!(packet.command(), Command::JobCreated);
            return packet.handle().unwrap().to_vec();
        }
        let mut chunk = [0u8; 512];
        let n = stream.read(&mut chunk).unwrap();
        assert!(n > 0, "gearmand closed the connection");
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[tokio::test]
async fn every_admin_command_parses_from_gearmand() {
    let Some(gearmand) = Gearmand::start() else {
        return;
    };
    let handle = submit_background(&gearmand.server(), "admin_fn", "admin-unique");
    let mut admin = Admin::connect(&gearmand.server()).await.unwrap();

    let version = admin.version().await.unwrap();
    assert!(version.starts_with(b"1."), "version {version:?}");
    assert!(admin.getpid().await.unwrap() > 0);

    let status = admin.status().await.unwrap();
    let row = status
        .iter()
        .find(|row| &row.function[..] == b"admin_fn")
        .expect("admin_fn in status");
    assert_eq!((row.total, row.running, row.workers), (1, 0, 0));

    let jobs = admin.show_jobs().await.unwrap();
    let job = jobs
        .iter()
        .find(|job| job.handle[..] == handle[..])
        .expect("job in show jobs");
    assert!(job.queued);
    assert_eq!(
        admin.show_unique_jobs().await.unwrap(),
        vec![bytes::Bytes::from_static(b"admin-unique")]
    );

    let priorities = admin.priority_status().await.unwrap();
    let row = priorities
        .iter()
        .find(|row| &row.function[..] == b"admin_fn")
        .unwrap();
    assert_eq!((row.high, row.normal, row.low), (0, 1, 0));

    // Our own admin connection is listed, with no functions.
    let workers = admin.workers().await.unwrap();
    assert!(!workers.is_empty());
    assert!(workers.iter().all(|w| w.functions.is_empty()));

    assert!(!admin.verbose().await.unwrap().is_empty());
    admin
        .maxqueue("admin_fn", MaxQueueLimits::All(5))
        .await
        .unwrap();
    admin.create_function("made_by_admin").await.unwrap();
    admin.drop_function("made_by_admin").await.unwrap();

    // gearmand marks a cancelled job ignored; it leaves the queue when reached.
    admin.cancel_job(handle.clone()).await.unwrap();
    let jobs = admin.show_jobs().await.unwrap();
    let job = jobs
        .iter()
        .find(|job| job.handle[..] == handle[..])
        .unwrap();
    assert!(job.ignored && !job.queued, "{job:?}");

    // gearmand 1.1.15 and later do not know `shutdown`: a server error.
    match admin.shutdown(false).await {
        Err(Error::Server { code, .. }) => assert_eq!(&code[..], b"UNKNOWN_COMMAND"),
        other => panic!("shutdown: {other:?}"),
    }
    // Raw lines come back typed when they name a known command.
    match admin.raw("status").await.unwrap() {
        AdminResponse::Status(rows) => assert!(!rows.is_empty()),
        other => panic!("raw status: {other:?}"),
    }
    match admin.raw("no_such_command").await.unwrap() {
        AdminResponse::Error { code, .. } => assert_eq!(&code[..], b"UNKNOWN_COMMAND"),
        other => panic!("raw unknown: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_admin_commands_against_our_server() {
    let server = support::embedded_server().await;
    let handle = submit_background(&server.server(), "ours_fn", "ours-unique");
    let mut admin = Admin::connect(&server.server()).await.unwrap();
    assert!(!admin.version().await.unwrap().is_empty());
    assert_eq!(admin.getpid().await.unwrap(), std::process::id());
    let status = admin.status().await.unwrap();
    let row = status
        .iter()
        .find(|row| &row.function[..] == b"ours_fn")
        .unwrap();
    assert_eq!((row.total, row.running, row.workers), (1, 0, 0));
    let jobs = admin.show_jobs().await.unwrap();
    assert!(jobs.iter().any(|job| job.handle[..] == handle[..]));
    assert_eq!(
        admin.show_unique_jobs().await.unwrap(),
        vec![bytes::Bytes::from_static(b"ours-unique")]
    );
    let priorities = admin.priority_status().await.unwrap();
    assert!(
        priorities
            .iter()
            .any(|r| &r.function[..] == b"ours_fn" && r.normal == 1)
    );
    assert!(!admin.workers().await.unwrap().is_empty());
    admin
        .maxqueue("ours_fn", MaxQueueLimits::All(5))
        .await
        .unwrap();
    admin.cancel_job(handle.clone()).await.unwrap();
    let jobs = admin.show_jobs().await.unwrap();
    assert!(
        !jobs
            .iter()
            .any(|job| job.handle[..] == handle[..] && job.queued),
        "{jobs:?}"
    );
    match admin.raw("bogus").await.unwrap() {
        AdminResponse::Error { code, .. } => assert_eq!(&code[..], b"UNKNOWN_COMMAND"),
        other => panic!("{other:?}"),
    }
}
