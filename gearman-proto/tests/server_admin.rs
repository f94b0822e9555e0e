//! The admin text protocol on the job server's port, reply bytes compared
//! with gearmand's (PROTOCOL.md §7).

mod sim;

use gearman_proto::Command::*;
use gearman_proto::server::{ServerConfig, ServerEvent, VerboseLevel};
use sim::wire::*;

#[test]
fn version_getpid_verbose() {
    let mut config = ServerConfig::new("test");
    config.pid = 4711;
    config.version = "1.1.22".into();
    config.verbose = VerboseLevel::Notice;
    let mut h = Harness::with(config);
    let a = h.connect();
    assert_eq!(h.admin(a, "version\r\n"), "OK 1.1.22\n");
    assert_eq!(h.admin(a, "getpid\n"), "OK 4711\n");
    assert_eq!(h.admin(a, "VERBOSE\n"), "OK NOTICE\n");
}

#[test]
fn status_and_prioritystatus_count_queued_running_and_registrations() {
    let mut h = Harness::new();
    let a = h.connect();
    let c = h.connect();
    assert_eq!(h.admin(a, "status\n"), ".\n");
    let w = h.worker(&["resize", "resize"]);
    h.worker(&["thumb"]);
    h.submit(c, SubmitJobHighBg, "resize", "", b"1");
    h.submit(c, SubmitJob, "resize", "", b"2");
    h.submit(c, SubmitJobLowBg, "resize", "", b"3");
    h.submit(c, SubmitJobBg, "other", "", b"4");
    h.grab(w);
    assert_eq!(
        h.admin(a, "status\n"),
        "resize\t3\t1\t2\nthumb\t0\t0\t1\nother\t1\t0\t0\n.\n"
    );
    assert_eq!(
        h.admin(a, "prioritystatus\n"),
        "resize\t0\t1\t1\t2\nthumb\t0\t0\t0\t1\nother\t0\t1\t0\t0\n.\n"
    );
}

#[test]
fn workers_lists_every_connection_with_id_ip_client_id_and_functions() {
    let mut h = Harness::new();
    let w = h.connect_from("10.0.0.5:51234");
    h.req(w, SetClientId, &[b"my worker"]);
    h.req(w, CanDo, &[b"resize"]);
    h.req(w, CanDoTimeout, &[b"thumb", b"5000"]);
    let c = h.connect_from("[::1]:4000");
    let admin = h.connect_from("10.0.0.9:1");
    let _ = c;
    assert_eq!(
        h.admin(admin, "workers\n"),
        "1 10.0.0.5 my worker : thumb resize\n2 ::1 - :\n3 10.0.0.9 - :\n.\n"
    );
    h.req(w, ResetAbilities, &[]);
    h.disconnect(c);
    assert_eq!(
        h.admin(admin, "workers\n"),
        "1 10.0.0.5 my worker :\n3 10.0.0.9 - :\n.\n"
    );
}

#[test]
fn show_jobs_and_show_unique_jobs() {
    let mut h = Harness::new();
    let a = h.connect();
    let c = h.connect();
    h.submit(c, SubmitJobBg, "f", "u1", b"");
    h.submit(c, SubmitJob, "f", "", b"");
    assert_eq!(
        h.admin(a, "show jobs\n"),
        "H:test:1\t0\t0\t1\nH:test:2\t0\t0\t0\n.\n"
    );
    assert_eq!(h.admin(a, "show unique jobs\n"), "u1\n\n.\n");
    assert_eq!(h.admin(a, "show stuff\n"), "ERR UNKNOWN_SHOW_ARGUMENTS\r\n");
}

#[test]
fn cancel_job_fails_it_to_clients_and_frees_the_unique() {
    let mut h = Harness::new();
    let a = h.connect();
    let c = h.connect();
    let w = h.worker(&["f"]);
    let queued = h.submit(c, SubmitJob, "f", "u", b"q");
    assert_eq!(
        h.admin(
            a,
            &format!("cancel job {}\r\n", String::from_utf8_lossy(&queued))
        ),
        "OK\r\n"
    );
    assert_eq!(h.recv(c), pkt(WorkFailRes, &[&queued]));
    assert_eq!(h.admin(a, "show jobs\n"), "H:test:1\t0\t1\t0\n.\n");
    assert_eq!(h.admin(a, "cancel job H:test:1\n"), "ERR UNKNOWN_JOB\r\n");
    assert_eq!(h.admin(a, "cancel job H:test:99\n"), "ERR UNKNOWN_JOB\r\n");
    assert_eq!(h.admin(a, "cancel foo bar\n"), "ERR UNKNOWN_ERROR\r\n");
    // A new submit with the same unique makes a new job.
    let fresh = h.submit(c, SubmitJob, "f", "u", b"n");
    assert_ne!(fresh, queued);
    // The cancelled one is discarded at grab time.
    assert_eq!(h.grab(w), pkt(JobAssign, &[&fresh, b"f", b"n"]));
    // A running job keeps running; its client already had its one WORK_FAIL.
    assert_eq!(h.admin(a, "cancel job H:test:2\n"), "OK\r\n");
    assert_eq!(h.recv(c), pkt(WorkFailRes, &[&fresh]));
    h.req(w, WorkCompleteReq, &[&fresh, b"r"]);
    assert!(h.recv(w).is_empty(), "the worker still owns it");
    assert!(h.recv(c).is_empty());
    assert_eq!(h.server.job_count(), 0);
}

#[test]
fn create_and_drop_function() {
    let mut h = Harness::new();
    let a = h.connect();
    assert_eq!(h.admin(a, "create function resize\r\n"), "OK\r\n");
    assert_eq!(h.admin(a, "status\n"), "resize\t0\t0\t0\n.\n");
    assert_eq!(
        h.admin(a, "create function\r\n"),
        "ERR INVALID_ARGUMENTS An+incomplete+set+of+arguments+was+sent+to+this+command+create\r\n"
    );
    let w = h.worker(&["resize"]);
    assert_eq!(
        h.admin(a, "drop function RESIZE\r\n"),
        "ERR there are still connected workers or executing clients\r\n"
    );
    h.disconnect(w);
    assert_eq!(h.admin(a, "drop function RESIZE\r\n"), "OK\r\n");
    assert_eq!(h.admin(a, "status\n"), ".\n");
    assert_eq!(
        h.admin(a, "drop function resize\r\n"),
        "ERR function not found\r\n"
    );
}

#[test]
fn dropping_a_function_with_waiting_jobs_fails_them_to_their_clients() {
    let mut h = Harness::new();
    h.server
        .set_wall_clock(std::time::Duration::from_secs(1000), h.now);
    let a = h.connect();
    let c = h.connect();
    let fg = h.submit(c, SubmitJob, "f", "u", b"x");
    h.submit(c, SubmitJobBg, "f", "", b"y");
    h.req(c, SubmitJobEpoch, &[b"f", b"", b"2000", b"z"]);
    h.recv(c);
    let w = h.worker(&["f"]);
    let running = h.submit(c, SubmitJob, "g", "", b"r");
    h.req(w, CanDo, &[b"g"]);
    h.req(w, CantDo, &[b"f"]);
    assert_eq!(parse(&h.grab(w))[0].1[0], running);
    // Running jobs keep a function alive; waiting ones do not.
    assert_eq!(
        h.admin(a, "drop function g\r\n"),
        "ERR there are still connected workers or executing clients\r\n"
    );
    assert_eq!(h.admin(a, "drop function f\r\n"), "OK\r\n");
    assert_eq!(h.recv(c), pkt(WorkFailRes, &[&fg]));
    assert_eq!(h.server.job_count(), 1);
    assert_eq!(h.admin(a, "status\n"), "g\t1\t1\t1\n.\n");
    // A new submit starts afresh.
    assert_ne!(h.submit(c, SubmitJob, "f", "u", b"x"), fg);
    h.advance(std::time::Duration::from_secs(2000));
    assert_eq!(
        h.admin(a, "prioritystatus\n"),
        "f\t0\t1\t0\t0\ng\t0\t0\t0\t1\n.\n",
        "the scheduled job went with the dropped function"
    );
}

#[test]
fn shutdown_replies_ok_and_signals_the_driver() {
    let mut h = Harness::new();
    let a = h.connect();
    assert_eq!(h.admin(a, "shutdown graceful\r\n"), "OK\r\n");
    assert_eq!(
        h.server.poll_event(),
        Some(ServerEvent::Shutdown { graceful: true })
    );
    assert_eq!(h.admin(a, "shutdown\n"), "OK\r\n");
    assert_eq!(
        h.server.poll_event(),
        Some(ServerEvent::Shutdown { graceful: false })
    );
    assert_eq!(h.server.poll_event(), None);
    assert_eq!(
        h.admin(a, "shutdown now\n"),
        "ERR INVALID_ARGUMENTS An+incomplete+set+of+arguments+was+sent+to+this+command+shutdown\r\n"
    );
}

#[test]
fn unknown_and_empty_lines_and_too_many_tokens() {
    let mut h = Harness::new();
    let a = h.connect();
    assert_eq!(
        h.admin(a, "frobnicate now\n"),
        "ERR UNKNOWN_COMMAND Unknown+server+commandfrobnicate\r\n"
    );
    assert_eq!(
        h.admin(a, "maxqueue\n"),
        "ERR INVALID_ARGUMENTS An+incomplete+set+of+arguments+was+sent+to+this+command+maxqueue\r\n"
    );
    assert_eq!(
        h.admin(a, "\r\n"),
        "ERR UNKNOWN_COMMAND Unknown+server+command\r\n"
    );
    assert_eq!(
        h.admin(a, "   \n"),
        "ERR UNKNOWN_COMMAND Unknown+server+command\r\n"
    );
    assert!(h.closed.is_empty());
    assert_eq!(h.admin(a, "status a b c d e\n"), "");
    assert!(h.is_closed(a));
}

#[test]
fn admin_lines_and_binary_packets_interleave_on_one_connection() {
    let mut h = Harness::new();
    let a = h.connect();
    let mut bytes = b"version\n".to_vec();
    bytes.extend(pkt(EchoReq, &[b"x"]));
    bytes.extend_from_slice(b"getpid\n");
    h.send(a, &bytes);
    let mut expected = b"OK 1.1.22\n".to_vec();
    expected.extend(pkt(EchoRes, &[b"x"]));
    expected.extend_from_slice(b"OK 0\n");
    assert_eq!(h.recv(a), expected);
}

#[test]
fn an_overlong_admin_line_closes_the_connection() {
    let mut config = ServerConfig::new("test");
    config.max_line_len = 64;
    let mut h = Harness::with(config);
    let a = h.connect();
    let other = h.connect();
    h.send(a, "x".repeat(100).as_bytes());
    assert!(h.is_closed(a));
    assert_eq!(h.admin(other, "version\n"), "OK 1.1.22\n");
}
