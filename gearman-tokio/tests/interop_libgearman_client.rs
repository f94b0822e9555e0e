//! libgearman's client (`gearman -f NAME PAYLOAD`) with our worker, through
//! a real gearmand and through our embedded server.

mod scenarios;
mod support;

use bytes::Bytes;
use gearman_tokio::{WorkError, Worker, WorkerJob};
use scenarios::{RunningWorker, name};
use support::{GEARMAN, Gearmand, embedded_server, have, run_tool};

async fn libgearman_client_with_our_worker(server: &str, port: &str) {
    let f = name("lg");
    let worker = RunningWorker::start(
        Worker::new([server])
            .function(format!("{f}_reverse"), |job: WorkerJob| async move {
                Ok::<_, WorkError>(job.payload().iter().rev().copied().collect::<Vec<u8>>())
            })
            .function(format!("{f}_progress"), |job: WorkerJob| async move {
                job.send_status(1, 2);
                job.send_data(&b"a"[..]);
                job.send_status(2, 2);
                job.send_data(&b"b"[..]);
                Ok::<_, WorkError>("done")
            })
            .function(format!("{f}_fail"), |_job: WorkerJob| async move {
                Err::<Bytes, _>(WorkError::Fail)
            }),
    );
    let gearman = |function: String, extra: &'static [&'static str], payload: &'static str| {
        let port = port.to_owned();
        async move {
            let mut args = vec!["-h", "127.0.0.1", "-p", &port, "-f", &function];
            args.extend_from_slice(extra);
            args.push(payload);
            run_tool(GEARMAN, &args).await
        }
    };

    let out = gearman(format!("{f}_reverse"), &[], "hello").await;
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, b"olleh");
    // Data chunks then the result on stdout (the tool adds its progress lines).
    let out = gearman(format!("{f}_progress"), &[], "x").await;
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.starts_with(b"abdone"), "{out:?}");
    let out = gearman(format!("{f}_fail"), &[], "x").await;
    assert!(!out.status.success(), "{out:?}");
    // High and low priority and background submits.
    for flag in ["-I", "-L"] {
        let out = gearman(
            format!("{f}_reverse"),
            if flag == "-I" { &["-I"] } else { &["-L"] },
            "ab",
        )
        .await;
        assert_eq!(out.stdout, b"ba", "{flag}: {out:?}");
    }
    let out = gearman(format!("{f}_reverse"), &["-b"], "bg").await;
    assert!(out.status.success(), "{out:?}");
    worker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libgearman_client_with_our_worker_through_gearmand() {
    if !have(GEARMAN) {
        return;
    }
    let Some(gearmand) = Gearmand::start() else {
        return;
    };
    libgearman_client_with_our_worker(&gearmand.server(), &gearmand.port()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libgearman_client_with_our_worker_through_our_server() {
    if !have(GEARMAN) {
        return;
    }
    let server = embedded_server().await;
    libgearman_client_with_our_worker(&server.server(), &server.port()).await;
}
