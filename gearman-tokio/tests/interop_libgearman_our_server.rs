//! libgearman's own client, worker and admin tool through our embedded server.

mod support;

use support::{GEARADMIN, GEARMAN, embedded_server, have, libgearman_worker, run_tool};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libgearman_client_and_worker_through_our_server() {
    if !have(GEARMAN) {
        return;
    }
    let server = embedded_server().await;
    let port = server.port();
    let _worker = libgearman_worker(&port, "upper", &["tr", "a-z", "A-Z"]);
    for payload in ["hello", "gearman over tokio"] {
        let out = run_tool(
            GEARMAN,
            &["-h", "127.0.0.1", "-p", &port, "-f", "upper", payload],
        )
        .await;
        assert!(out.status.success(), "gearman client failed: {out:?}");
        assert_eq!(out.stdout, payload.to_uppercase().as_bytes());
    }

    // Background submit: the client prints nothing and the worker runs it.
    let out = run_tool(
        GEARMAN,
        &["-h", "127.0.0.1", "-p", &port, "-b", "-f", "upper", "bg"],
    )
    .await;
    assert!(out.status.success(), "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gearadmin_status_against_our_server() {
    if !have(GEARMAN) || !have(GEARADMIN) {
        return;
    }
    let server = embedded_server().await;
    let port = server.port();
    let _worker = libgearman_worker(&port, "gearadmin_fn", &["cat"]);
    support::wait_for_workers(&server.server(), "gearadmin_fn", 1).await;

    let out = run_tool(GEARADMIN, &["-h", "127.0.0.1", "-p", &port, "--status"]).await;
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.lines().any(|line| line == "gearadmin_fn\t0\t0\t1"),
        "gearadmin --status printed {text:?}"
    );
    assert!(text.ends_with(".\n"), "{text:?}");

    let out = run_tool(
        GEARADMIN,
        &["-h", "127.0.0.1", "-p", &port, "--server-version"],
    )
    .await;
    assert!(out.status.success(), "{out:?}");
    assert!(!out.stdout.is_empty());
}
