//! Packet-level tests of the embedded job server: raw request bytes in,
//! exact reply bytes out (PROTOCOL.md §2–§6).

mod sim;

use std::time::Duration;

use gearman_proto::Command::*;
use gearman_proto::server::ServerConfig;
use sim::wire::*;

#[test]
fn submit_grab_complete_round_trip() {
    let mut h = Harness::new();
    let client = h.connect();
    let worker = h.worker(&["reverse"]);
    h.req(client, SubmitJob, &[b"reverse", b"", b"hello"]);
    assert_eq!(h.recv(client), pkt(JobCreated, &[b"H:test:1"]));
    assert_eq!(
        h.grab(worker),
        pkt(JobAssign, &[b"H:test:1", b"reverse", b"hello"])
    );
    h.req(worker, WorkCompleteReq, &[b"H:test:1", b"olleh"]);
    assert_eq!(
        h.recv(client),
        pkt(WorkCompleteRes, &[b"H:test:1", b"olleh"])
    );
    assert!(h.recv(worker).is_empty(), "no reply to WORK_COMPLETE");
    assert_eq!(h.server.job_count(), 0);
    assert_eq!(h.grab(worker), pkt(NoJob, &[]));
    // The handle is gone: a second completion is an error.
    h.req(worker, WorkCompleteReq, &[b"H:test:1", b"again"]);
    assert_eq!(
        h.recv(worker),
        pkt(
            Error,
            &[b"JOB_NOT_FOUND", b"Job given in work result not found"]
        )
    );
    assert!(h.closed.is_empty());
}

#[test]
fn input_split_into_single_bytes_and_merged_packets() {
    let mut h = Harness::new();
    let client = h.connect();
    let mut bytes = pkt(EchoReq, &[b"ping\0pong"]);
    bytes.extend(pkt(SubmitJobBg, &[b"f", b"", b"x"]));
    bytes.extend(pkt(EchoReq, &[b""]));
    for b in &bytes {
        h.send(client, std::slice::from_ref(b));
    }
    assert_eq!(
        h.recv(client),
        pkts(&[
            (EchoRes, &[b"ping\0pong"]),
            (JobCreated, &[b"H:test:1"]),
            (EchoRes, &[b""]),
        ])
    );
}

#[test]
fn every_submit_form_gets_job_created_and_background_gets_nothing_more() {
    let mut h = Harness::new();
    let client = h.connect();
    let worker = h.worker(&["f"]);
    for (i, cmd) in [
        SubmitJob,
        SubmitJobBg,
        SubmitJobHigh,
        SubmitJobHighBg,
        SubmitJobLow,
        SubmitJobLowBg,
    ]
    .into_iter()
    .enumerate()
    {
        let handle = h.submit(client, cmd, "f", "", format!("{i}").as_bytes());
        assert_eq!(handle, format!("H:test:{}", i + 1).into_bytes());
    }
    h.req(client, SubmitJobEpoch, &[b"f", b"", b"0", b"e"]);
    h.req(client, SubmitReduceJob, &[b"f", b"", b"red", b"", b"r"]);
    h.req(
        client,
        SubmitReduceJobBackground,
        &[b"f", b"", b"red", b"", b"rb"],
    );
    assert_eq!(
        h.recv(client),
        pkts(&[
            (JobCreated, &[b"H:test:7"]),
            (JobCreated, &[b"H:test:8"]),
            (JobCreated, &[b"H:test:9"]),
        ])
    );
    // Drain all nine jobs and fail each: only foreground clients hear of it.
    let mut failed_foreground = 0;
    for _ in 0..9 {
        let got = parse(&h.grab(worker));
        assert_eq!(got[0].0, JobAssign);
        let handle = got[0].1[0].clone();
        h.req(worker, WorkFailReq, &[&handle]);
        let to_client = h.recv(client);
        if !to_client.is_empty() {
            assert_eq!(to_client, pkt(WorkFailRes, &[&handle]));
            failed_foreground += 1;
        }
    }
    assert_eq!(failed_foreground, 4, "SUBMIT_JOB, _HIGH, _LOW, REDUCE");
}

#[test]
fn priorities_high_normal_low_across_functions_fifo_within() {
    let mut h = Harness::new();
    let client = h.connect();
    let low = h.submit(client, SubmitJobLowBg, "a", "", b"low");
    let normal1 = h.submit(client, SubmitJobBg, "a", "", b"n1");
    let high_b = h.submit(client, SubmitJobHighBg, "b", "", b"hb");
    let normal2 = h.submit(client, SubmitJobBg, "a", "", b"n2");
    let high_a = h.submit(client, SubmitJobHighBg, "a", "", b"ha");
    let worker = h.worker(&["a", "b"]);
    let mut order = Vec::new();
    for _ in 0..5 {
        let got = parse(&h.grab(worker));
        order.push(got[0].1[0].clone());
    }
    // High first, then normal, then low; within a priority the worker's
    // most recently registered function first, as gearmand does.
    assert_eq!(order, vec![high_b, high_a, normal1, normal2, low]);
}

#[test]
fn newest_function_first_unless_round_robin() {
    for round_robin in [false, true] {
        let mut config = ServerConfig::new("test");
        config.round_robin = round_robin;
        let mut h = Harness::with(config);
        let client = h.connect();
        for i in 0..3 {
            h.submit(client, SubmitJobBg, "a", "", format!("a{i}").as_bytes());
            h.submit(client, SubmitJobBg, "b", "", format!("b{i}").as_bytes());
        }
        let worker = h.worker(&["a", "b"]);
        let functions: Vec<Vec<u8>> = (0..6)
            .map(|_| parse(&h.grab(worker))[0].1[1].clone())
            .collect();
        let expected = if round_robin {
            [b"b", b"a", b"b", b"a", b"b", b"a"]
        } else {
            [b"b", b"b", b"b", b"a", b"a", b"a"]
        };
        assert_eq!(
            functions,
            expected.map(|f| f.to_vec()),
            "round robin {round_robin}"
        );
    }
}

#[test]
fn grab_variants_send_uniq_and_reducer() {
    let mut h = Harness::new();
    let client = h.connect();
    let worker = h.worker(&["f"]);
    h.submit(client, SubmitJobBg, "f", "u1", b"d1");
    h.submit(client, SubmitJobBg, "f", "u2", b"d2");
    h.req(
        client,
        SubmitReduceJobBackground,
        &[b"f", b"u3", b"red", b"", b"d3"],
    );
    assert_eq!(h.recv(client), pkt(JobCreated, &[b"H:test:3"]));
    h.submit(client, SubmitJobBg, "f", "", b"d4");

    h.req(worker, GrabJobUniq, &[]);
    assert_eq!(
        h.recv(worker),
        pkt(JobAssignUniq, &[b"H:test:1", b"f", b"u1", b"d1"])
    );
    h.req(worker, GrabJobAll, &[]);
    assert_eq!(
        h.recv(worker),
        pkt(JobAssignUniq, &[b"H:test:2", b"f", b"u2", b"d2"]),
        "no reducer: GRAB_JOB_ALL gets _UNIQ"
    );
    h.req(worker, GrabJobAll, &[]);
    assert_eq!(
        h.recv(worker),
        pkt(JobAssignAll, &[b"H:test:3", b"f", b"u3", b"red", b"d3"])
    );
    h.req(worker, GrabJobUniq, &[]);
    assert_eq!(
        h.recv(worker),
        pkt(JobAssignUniq, &[b"H:test:4", b"f", b"", b"d4"])
    );
}

#[test]
fn coalescing_by_unique_attaches_every_foreground_submit() {
    let mut h = Harness::new();
    let a = h.connect();
    let b = h.connect();
    let worker = h.worker(&["f"]);
    let h1 = h.submit(a, SubmitJob, "f", "same", b"first");
    let h2 = h.submit(b, SubmitJobHigh, "f", "same", b"ignored payload");
    let h3 = h.submit(a, SubmitJob, "f", "same", b"");
    let h4 = h.submit(b, SubmitJobBg, "f", "same", b"");
    assert!(h1 == h2 && h2 == h3 && h3 == h4);
    // Another function or another unique is another job.
    assert_ne!(h.submit(a, SubmitJobBg, "g", "same", b""), h1);
    assert_ne!(h.submit(a, SubmitJobBg, "f", "other", b""), h1);
    assert_eq!(h.server.stats().jobs_coalesced, 3);

    assert_eq!(h.grab(worker), pkt(JobAssign, &[&h1, b"f", b"first"]));
    h.req(worker, WorkDataReq, &[&h1, b"part"]);
    h.req(worker, WorkCompleteReq, &[&h1, b"done"]);
    let data = pkt(WorkDataRes, &[&h1, b"part"]);
    let done = pkt(WorkCompleteRes, &[&h1, b"done"]);
    // a attached twice: two copies of everything.
    assert_eq!(h.recv(a), [&data[..], &data, &done, &done].concat());
    assert_eq!(h.recv(b), [&data[..], &done].concat());
    // Finished: the unique is free again.
    assert_ne!(h.submit(a, SubmitJobBg, "f", "same", b""), h1);
}

#[test]
fn coalescing_onto_a_running_job_and_no_replay_of_earlier_updates() {
    let mut h = Harness::new();
    let a = h.connect();
    let b = h.connect();
    let worker = h.worker(&["f"]);
    let h1 = h.submit(a, SubmitJob, "f", "u", b"x");
    h.grab(worker);
    h.req(worker, WorkStatusReq, &[&h1, b"1", b"2"]);
    assert_eq!(h.recv(a), pkt(WorkStatusRes, &[&h1, b"1", b"2"]));
    assert_eq!(h.submit(b, SubmitJob, "f", "u", b"y"), h1);
    h.req(worker, WorkCompleteReq, &[&h1, b"r"]);
    assert_eq!(h.recv(b), pkt(WorkCompleteRes, &[&h1, b"r"]));
    assert_eq!(h.recv(a), pkt(WorkCompleteRes, &[&h1, b"r"]));
}

#[test]
fn dash_unique_coalesces_on_payload() {
    let mut h = Harness::new();
    let c = h.connect();
    let h1 = h.submit(c, SubmitJobBg, "f", "-", b"payload");
    assert_eq!(h.submit(c, SubmitJobBg, "f", "-", b"payload"), h1);
    assert_ne!(h.submit(c, SubmitJobBg, "f", "-", b"other"), h1);
    // `-` with an empty workload and an empty unique never coalesce.
    let e1 = h.submit(c, SubmitJobBg, "f", "-", b"");
    assert_ne!(h.submit(c, SubmitJobBg, "f", "-", b""), e1);
    let n1 = h.submit(c, SubmitJobBg, "f", "", b"payload");
    assert_ne!(h.submit(c, SubmitJobBg, "f", "", b"payload"), n1);
    assert_ne!(n1, h1);
    // The unique `-` is what workers see.
    let worker = h.worker(&["f"]);
    h.req(worker, GrabJobUniq, &[]);
    assert_eq!(
        h.recv(worker),
        pkt(JobAssignUniq, &[&h1, b"f", b"-", b"payload"])
    );
}

#[test]
fn foreground_submit_onto_background_job_receives_results() {
    let mut h = Harness::new();
    let bg = h.connect();
    let fg = h.connect();
    let worker = h.worker(&["f"]);
    let h1 = h.submit(bg, SubmitJobBg, "f", "u", b"x");
    assert_eq!(h.submit(fg, SubmitJob, "f", "u", b""), h1);
    h.grab(worker);
    h.req(worker, WorkCompleteReq, &[&h1, b"r"]);
    assert_eq!(h.recv(fg), pkt(WorkCompleteRes, &[&h1, b"r"]));
    assert!(h.recv(bg).is_empty());
}

#[test]
fn work_updates_reach_listeners_and_status_is_kept() {
    let mut h = Harness::new();
    let c = h.connect();
    let worker = h.worker(&["f"]);
    let h1 = h.submit(c, SubmitJob, "f", "u1", b"x");
    h.req(c, GetStatus, &[&h1]);
    assert_eq!(h.recv(c), pkt(StatusRes, &[&h1, b"1", b"0", b"0", b"0"]));
    h.grab(worker);
    h.req(worker, WorkStatusReq, &[&h1, b"3", b"10"]);
    h.req(worker, WorkWarningReq, &[&h1, b"careful\0!"]);
    h.req(worker, WorkDataReq, &[&h1, b"\0bin"]);
    assert_eq!(
        h.recv(c),
        pkts(&[
            (WorkStatusRes, &[&h1, b"3", b"10"]),
            (WorkWarningRes, &[&h1, b"careful\0!"]),
            (WorkDataRes, &[&h1, b"\0bin"]),
        ])
    );
    h.req(c, GetStatus, &[&h1]);
    h.req(c, GetStatusUnique, &[b"u1"]);
    assert_eq!(
        h.recv(c),
        pkts(&[
            (StatusRes, &[&h1, b"1", b"1", b"3", b"10"]),
            (StatusResUnique, &[b"u1", b"1", b"1", b"3", b"10", b"1"]),
        ])
    );
    h.req(worker, WorkCompleteReq, &[&h1, b""]);
    h.recv(c);
    h.req(c, GetStatus, &[&h1]);
    h.req(c, GetStatusUnique, &[b"u1"]);
    assert_eq!(
        h.recv(c),
        pkts(&[
            (StatusRes, &[&h1, b"0", b"0", b"0", b"0"]),
            (StatusResUnique, &[b"u1", b"0", b"0", b"0", b"0", b"0"]),
        ])
    );
}

#[test]
fn work_packets_for_jobs_not_held_get_gearmand_errors() {
    let mut h = Harness::new();
    let c = h.connect();
    let holder = h.worker(&["f"]);
    let other = h.worker(&["f"]);
    let h1 = h.submit(c, SubmitJob, "f", "", b"x");
    h.grab(holder);
    type Case<'a> = (gearman_proto::Command, &'a [&'a [u8]], &'a [u8]);
    let cases: [Case<'_>; 6] = [
        (WorkDataReq, &[&h1, b"d"], b"Job does not exist on server"),
        (
            WorkWarningReq,
            &[&h1, b"d"],
            b"Job does not exist on server",
        ),
        (
            WorkStatusReq,
            &[&h1, b"1", b"2"],
            b"Job given in work result not found",
        ),
        (
            WorkCompleteReq,
            &[&h1, b"d"],
            b"Job given in work result not found",
        ),
        (WorkFailReq, &[&h1], b"Job given in work result not found"),
        (
            WorkExceptionReq,
            &[&h1, b"d"],
            b"An exception was received for a job that does not exist",
        ),
    ];
    for (cmd, fields, text) in cases {
        h.req(other, cmd, fields);
        assert_eq!(
            h.recv(other),
            pkt(Error, &[b"JOB_NOT_FOUND", text]),
            "{cmd}"
        );
    }
    assert!(h.recv(c).is_empty(), "nothing forwarded from a non-owner");
    h.req(holder, WorkFailReq, &[b"H:test:999"]);
    assert_eq!(
        h.recv(holder),
        pkt(
            Error,
            &[b"JOB_NOT_FOUND", b"Job given in work result not found"]
        )
    );
    let long = vec![b'H'; 64];
    h.req(holder, WorkFailReq, &[&long]);
    assert_eq!(
        h.recv(holder),
        pkt(
            Error,
            &[
                b"ARGUMENT_TOO_LARGE",
                b"Error occurred due to GEARMAND_JOB_HANDLE_SIZE being too small from snprintf"
            ]
        )
    );
}

#[test]
fn exceptions_forwarded_only_to_opted_in_clients_others_get_fail_with_nul() {
    let mut h = Harness::new();
    let opted = h.connect();
    let plain = h.connect();
    let worker = h.worker(&["f"]);
    h.req(opted, OptionReq, &[b"Exceptions"]);
    assert_eq!(h.recv(opted), pkt(OptionRes, &[b"Exceptions"]));
    h.req(plain, OptionReq, &[b"frobnicate"]);
    assert_eq!(
        h.recv(plain),
        pkt(
            Error,
            &[b"UNKNOWN_OPTION", b"Server does not recognize given option"]
        )
    );
    let h1 = h.submit(opted, SubmitJob, "f", "u", b"x");
    h.submit(plain, SubmitJob, "f", "u", b"x");
    h.grab(worker);
    h.req(worker, WorkExceptionReq, &[&h1, b"boom"]);
    assert_eq!(h.recv(opted), pkt(WorkExceptionRes, &[&h1, b"boom"]));
    let fail_with_nul = pkt(WorkFailRes, &[&[&h1[..], b"\0"].concat()]);
    assert_eq!(h.recv(plain), fail_with_nul);
    assert_eq!(&fail_with_nul[8..12], &[0, 0, 0, 9]);
    // Terminal: a following WORK_FAIL is unknown.
    h.req(worker, WorkFailReq, &[&h1]);
    assert_eq!(
        h.recv(worker),
        pkt(
            Error,
            &[b"JOB_NOT_FOUND", b"Job given in work result not found"]
        )
    );

    // --exceptions makes every connection opted in.
    let mut config = ServerConfig::new("test");
    config.exceptions_by_default = true;
    let mut h = Harness::with(config);
    let c = h.connect();
    let worker = h.worker(&["f"]);
    let h1 = h.submit(c, SubmitJob, "f", "", b"x");
    h.grab(worker);
    h.req(worker, WorkExceptionReq, &[&h1, b"boom"]);
    assert_eq!(h.recv(c), pkt(WorkExceptionRes, &[&h1, b"boom"]));
}

#[test]
fn sleeping_worker_gets_one_noop_per_sleep_and_presleep_with_work_gets_noop_at_once() {
    let mut h = Harness::new();
    let c = h.connect();
    let worker = h.worker(&["f"]);
    let idle = h.worker(&["g"]);
    assert_eq!(h.grab(worker), pkt(NoJob, &[]));
    h.req(worker, PreSleep, &[]);
    h.req(idle, PreSleep, &[]);
    assert!(h.recv(worker).is_empty());
    h.submit(c, SubmitJobBg, "f", "", b"1");
    assert_eq!(h.recv(worker), pkt(Noop, &[]));
    h.submit(c, SubmitJobBg, "f", "", b"2");
    assert!(h.recv(worker).is_empty(), "one NOOP per sleep cycle");
    assert!(h.recv(idle).is_empty(), "only workers of the function");
    // After a grab the worker can be woken again.
    assert_eq!(parse(&h.grab(worker))[0].0, JobAssign);
    h.req(worker, PreSleep, &[]);
    assert_eq!(
        h.recv(worker),
        pkt(Noop, &[]),
        "work is queued: NOOP at once"
    );
    h.grab(worker);
    h.req(worker, PreSleep, &[]);
    assert!(h.recv(worker).is_empty());
    h.submit(c, SubmitJobBg, "f", "", b"3");
    assert_eq!(h.recv(worker), pkt(Noop, &[]));
}

#[test]
fn pre_sleep_with_a_completion_and_no_no_job_before_it_still_gets_a_noop_for_queued_work() {
    let mut h = Harness::new();
    let c = h.connect();
    let worker = h.worker(&["f"]);
    let h1 = h.submit(c, SubmitJobBg, "f", "", b"1");
    h.submit(c, SubmitJobBg, "f", "", b"2");
    assert_eq!(parse(&h.grab(worker))[0].0, JobAssign);
    // A worker that sleeps first sends its result and PRE_SLEEP in one
    // write, with no NO_JOB since its last grab.
    h.send(
        worker,
        &pkts(&[(WorkCompleteReq, &[&h1, b""]), (PreSleep, &[])]),
    );
    assert_eq!(h.recv(worker), pkt(Noop, &[]), "job 2 is queued");
    assert_eq!(parse(&h.grab(worker))[0].0, JobAssign);
    h.req(worker, PreSleep, &[]);
    assert!(h.recv(worker).is_empty(), "nothing queued: it sleeps");
    h.submit(c, SubmitJobBg, "f", "", b"3");
    assert_eq!(h.recv(worker), pkt(Noop, &[]));
}

#[test]
fn many_sleeping_workers_are_all_woken_or_as_many_as_configured() {
    let mut h = Harness::new();
    let c = h.connect();
    let workers: Vec<_> = (0..50).map(|_| h.worker(&["f"])).collect();
    for &w in &workers {
        h.req(w, PreSleep, &[]);
    }
    h.submit(c, SubmitJobBg, "f", "", b"x");
    for &w in &workers {
        assert_eq!(h.recv(w), pkt(Noop, &[]));
    }
    // The first grab wins; the rest get NO_JOB and sleep again.
    assert_eq!(parse(&h.grab(workers[7]))[0].0, JobAssign);
    for &w in &workers[8..] {
        assert_eq!(h.grab(w), pkt(NoJob, &[]));
    }

    let mut config = ServerConfig::new("test");
    config.worker_wakeup = 3;
    let mut h = Harness::with(config);
    let c = h.connect();
    let workers: Vec<_> = (0..10).map(|_| h.worker(&["f"])).collect();
    for &w in &workers {
        h.req(w, PreSleep, &[]);
    }
    h.submit(c, SubmitJobBg, "f", "", b"x");
    let woken: Vec<usize> = (0..10)
        .filter(|&i| !h.recv(workers[i]).is_empty())
        .collect();
    assert_eq!(woken, vec![0, 1, 2]);
    h.submit(c, SubmitJobBg, "f", "", b"y");
    let woken: Vec<usize> = (0..10)
        .filter(|&i| !h.recv(workers[i]).is_empty())
        .collect();
    assert_eq!(woken, vec![3, 4, 5], "the start point rotates");
}

#[test]
fn epoch_jobs_run_at_their_time_and_wake_sleepers_then() {
    let mut h = Harness::new();
    h.server
        .set_wall_clock(Duration::from_secs(1_000_000), h.now);
    let c = h.connect();
    let worker = h.worker(&["f"]);
    h.req(worker, PreSleep, &[]);
    h.req(c, SubmitJobEpoch, &[b"f", b"", b"1000010", b"later"]);
    assert_eq!(h.recv(c), pkt(JobCreated, &[b"H:test:1"]));
    assert!(h.recv(worker).is_empty(), "not due yet: no NOOP");
    assert_eq!(
        h.server.poll_timeout(),
        Some(h.now + Duration::from_secs(10))
    );
    assert_eq!(h.admin(c, "prioritystatus\n"), "f\t0\t1\t0\t1\n.\n");
    assert_eq!(h.grab(worker), pkt(NoJob, &[]));
    h.req(worker, PreSleep, &[]);
    h.advance(Duration::from_millis(9_999));
    assert!(h.recv(worker).is_empty());
    h.advance(Duration::from_millis(1));
    assert_eq!(h.recv(worker), pkt(Noop, &[]));
    assert_eq!(
        h.grab(worker),
        pkt(JobAssign, &[b"H:test:1", b"f", b"later"])
    );
    // Past, zero and unparsable times run at once.
    for epoch in [&b"999999"[..], b"0", b"soon", b"-5"] {
        h.req(c, SubmitJobEpoch, &[b"f", b"", epoch, b"now"]);
        h.recv(c);
        assert_eq!(parse(&h.grab(worker))[0].1[2], b"now");
    }
    // An overflowing time drops the connection, as gearmand does.
    h.req(
        c,
        SubmitJobEpoch,
        &[b"f", b"", b"99999999999999999999999", b"x"],
    );
    assert!(h.is_closed(c));
}

#[test]
fn epoch_jobs_without_a_wall_clock_run_at_once() {
    let mut h = Harness::new();
    let c = h.connect();
    let worker = h.worker(&["f"]);
    h.req(c, SubmitJobEpoch, &[b"f", b"", b"99999999999", b"x"]);
    h.recv(c);
    assert_eq!(parse(&h.grab(worker))[0].0, JobAssign);
}

#[test]
fn submit_job_sched_all_yours_and_response_types_are_refused() {
    let mut h = Harness::new();
    let c = h.connect();
    let invalid = pkt(Error, &[b"INVALID_COMMAND", b"Command not expected"]);
    h.req(
        c,
        SubmitJobSched,
        &[b"f", b"", b"1", b"2", b"3", b"4", b"5", b"d"],
    );
    assert_eq!(h.recv(c), invalid);
    h.req(c, AllYours, &[]);
    assert_eq!(h.recv(c), invalid);
    // Type 5 (unused) and a response-only number sent as a request.
    h.send(c, b"\0REQ\0\0\0\x05\0\0\0\x02ab");
    assert_eq!(h.recv(c), invalid);
    h.send(c, b"\0REQ\0\0\0\x08\0\0\0\x00");
    assert_eq!(h.recv(c), invalid);
    // Any \0RES packet: INVALID_MAGIC.
    let magic = pkt(Error, &[b"INVALID_MAGIC", b"Request magic expected"]);
    h.send(c, &pkt(WorkCompleteRes, &[b"H:x:1", b"r"]));
    assert_eq!(h.recv(c), magic);
    // The connection is still fine.
    h.req(c, EchoReq, &[b"ok"]);
    assert_eq!(h.recv(c), pkt(EchoRes, &[b"ok"]));
    assert!(h.closed.is_empty());
}

#[test]
fn garbage_closes_only_the_offending_connection() {
    let bad_inputs: [&[u8]; 7] = [
        // \0RES with a type that has no response form.
        b"\0RES\0\0\0\x07\0\0\0\x03a\0b",
        b"\0XYZ\0\0\0\x01\0\0\0\0",
        b"\0REQ\0\0\0\x00\0\0\0\0",
        b"\0REQ\0\0\0\x2b\0\0\0\0",
        b"\0REQ\0\0\0\x07\0\0\0\x03abc",
        b"status a b c d e\n",
        b"\0REQ\0\0\0\x01\xff\xff\xff\xff",
    ];
    for bad in bad_inputs {
        let mut config = ServerConfig::new("test");
        config.max_packet_size = 1024;
        let mut h = Harness::with(config);
        let good = h.connect();
        let worker = h.worker(&["f"]);
        let evil = h.connect();
        let h1 = h.submit(good, SubmitJob, "f", "", b"x");
        h.grab(worker);
        h.send(evil, bad);
        assert!(h.is_closed(evil), "{bad:?} closes");
        assert!(h.recv(evil).is_empty());
        // Later input for the closed id is ignored.
        h.req(evil, EchoReq, &[b"x"]);
        assert!(h.recv(evil).is_empty());
        h.req(worker, WorkCompleteReq, &[&h1, b"r"]);
        assert_eq!(h.recv(good), pkt(WorkCompleteRes, &[&h1, b"r"]));
        assert_eq!(h.closed, vec![evil]);
    }
}

#[test]
fn replies_queued_before_a_fatal_packet_are_still_delivered() {
    let mut h = Harness::new();
    let c = h.connect();
    let mut bytes = pkt(EchoReq, &[b"first"]);
    bytes.extend_from_slice(b"\0BAD\0\0\0\0\0\0\0\0");
    h.send(c, &bytes);
    assert_eq!(h.recv(c), pkt(EchoRes, &[b"first"]));
    assert!(h.is_closed(c));
}

#[test]
fn oversized_arguments() {
    let mut h = Harness::new();
    let c = h.connect();
    let u64_ = "u".repeat(64);
    let u65 = "u".repeat(65);
    h.submit(c, SubmitJobBg, "f", &u64_, b"");
    h.req(c, SubmitJobBg, &[b"f", u65.as_bytes(), b""]);
    assert_eq!(
        h.recv(c),
        pkt(Error, &[b"ARGUMENT_TOO_LARGE", b"Unique value too large"])
    );
    let long_fn = "f".repeat(513);
    h.req(c, SubmitJob, &[long_fn.as_bytes(), b"", b""]);
    assert_eq!(
        h.recv(c),
        pkt(Error, &[b"ARGUMENT_TOO_LARGE", b"Function name too large"])
    );
    h.req(c, OptionReq, &["e".repeat(64).as_bytes()]);
    assert_eq!(parse(&h.recv(c))[0].1[0], b"UNKNOWN_OPTION");
    assert!(h.closed.is_empty());
    // A handle or unique over 63 bytes in a status query drops the connection.
    h.req(c, GetStatus, &["H".repeat(64).as_bytes()]);
    assert!(h.is_closed(c));
    let c2 = h.connect();
    h.req(c2, GetStatusUnique, &["u".repeat(64).as_bytes()]);
    assert!(h.is_closed(c2));
    let w = h.connect();
    h.req(w, CanDo, &[long_fn.as_bytes()]);
    assert!(h.is_closed(w));
    // A huge CAN_DO_TIMEOUT is kept as the largest timeout, as gearmand does.
    let w2 = h.connect();
    h.req(w2, CanDoTimeout, &[b"f", "1".repeat(21).as_bytes()]);
    h.req(w2, EchoReq, &[b"still here"]);
    assert_eq!(h.recv(w2), pkt(EchoRes, &[b"still here"]));
    // A reduce job's reducer is held to the unique id limit.
    h.req(w2, SubmitReduceJob, &[b"f", b"", u65.as_bytes(), b"", b"x"]);
    assert_eq!(
        h.recv(w2),
        pkt(Error, &[b"ARGUMENT_TOO_LARGE", b"Unique value too large"])
    );
}

#[test]
fn status_numbers_as_gearmand_keeps_them() {
    let mut h = Harness::new();
    let c = h.connect();
    let w = h.worker(&["f"]);
    let other = h.worker(&["f"]);
    let h1 = h.submit(c, SubmitJob, "f", "", b"x");
    h.grab(w);
    // Eleven characters are forwarded whole, but only ten are kept.
    h.req(w, WorkStatusReq, &[&h1, b"1", b"12345678901"]);
    assert_eq!(h.recv(c), pkt(WorkStatusRes, &[&h1, b"1", b"12345678901"]));
    h.req(c, GetStatus, &[&h1]);
    assert_eq!(
        h.recv(c),
        pkt(StatusRes, &[&h1, b"1", b"1", b"1", b"1234567890"])
    );
    // Twelve from a connection that does not hold the job: JOB_NOT_FOUND.
    h.req(other, WorkStatusReq, &[&h1, b"1", b"123456789012"]);
    assert_eq!(
        h.recv(other),
        pkt(
            Error,
            &[b"JOB_NOT_FOUND", b"Job given in work result not found"]
        )
    );
    // Twelve from the holder: gearmand drops the connection.
    h.req(w, WorkStatusReq, &[&h1, b"1", b"123456789012"]);
    assert!(h.is_closed(w));
    assert!(h.recv(c).is_empty());
}

#[test]
fn a_work_fail_handle_with_a_nul_is_found_and_forwarded_as_sent() {
    let mut h = Harness::new();
    let c = h.connect();
    let w = h.worker(&["f"]);
    let h1 = h.submit(c, SubmitJob, "f", "", b"x");
    h.grab(w);
    let with_nul = [&h1[..], b"\0"].concat();
    h.req(w, WorkFailReq, &[&with_nul]);
    assert_eq!(h.recv(c), pkt(WorkFailRes, &[&with_nul]));
    assert!(h.recv(w).is_empty());
    assert_eq!(h.server.job_count(), 0);
}

#[test]
fn echo_is_byte_identical_and_client_id_is_accepted_silently() {
    let mut h = Harness::new();
    let c = h.connect();
    let data: Vec<u8> = (0..=255u8).collect();
    h.req(c, EchoReq, &[&data]);
    assert_eq!(h.recv(c), pkt(EchoRes, &[&data]));
    h.req(c, SetClientId, &[b"my id"]);
    h.req(c, CanDo, &[b"f"]);
    h.req(c, CantDo, &[b"f"]);
    h.req(c, ResetAbilities, &[]);
    h.req(c, PreSleep, &[]);
    assert!(h.recv(c).is_empty());
}

#[test]
fn stray_payload_on_empty_packets_is_tolerated() {
    let mut h = Harness::new();
    let c = h.connect();
    h.send(c, b"\0REQ\0\0\0\x09\0\0\0\x03xyz");
    assert_eq!(h.recv(c), pkt(NoJob, &[]));
}

#[test]
fn worker_disconnect_requeues_at_the_back_and_resets_status() {
    let mut h = Harness::new();
    let c = h.connect();
    let w1 = h.worker(&["f"]);
    let w2 = h.worker(&["f"]);
    let h1 = h.submit(c, SubmitJob, "f", "", b"one");
    let h2 = h.submit(c, SubmitJob, "f", "", b"two");
    h.grab(w1);
    h.req(w1, WorkStatusReq, &[&h1, b"5", b"9"]);
    h.recv(c);
    h.req(w2, PreSleep, &[]);
    h.disconnect(w1);
    assert_eq!(h.recv(w2), pkt(Noop, &[]), "requeue wakes sleepers");
    assert!(h.recv(c).is_empty(), "clients are not told");
    h.req(c, GetStatus, &[&h1]);
    assert_eq!(h.recv(c), pkt(StatusRes, &[&h1, b"1", b"0", b"0", b"0"]));
    assert_eq!(h.grab(w2), pkt(JobAssign, &[&h2, b"f", b"two"]));
    assert_eq!(h.grab(w2), pkt(JobAssign, &[&h1, b"f", b"one"]));
    h.req(w2, WorkCompleteReq, &[&h1, b"r"]);
    assert_eq!(h.recv(c), pkt(WorkCompleteRes, &[&h1, b"r"]));
    assert_eq!(
        h.admin(c, "show jobs\n"),
        format!("{}\t0\t0\t0\n.\n", "H:test:2")
    );
    assert_eq!(h.server.stats().jobs_requeued, 1);
}

#[test]
fn retry_limit_fails_the_job_to_its_clients() {
    let mut config = ServerConfig::new("test");
    config.job_retries = 2;
    let mut h = Harness::with(config);
    let c = h.connect();
    let h1 = h.submit(c, SubmitJob, "f", "", b"x");
    let w = h.worker(&["f"]);
    h.grab(w);
    h.disconnect(w);
    assert!(h.recv(c).is_empty());
    assert_eq!(h.admin(c, "show jobs\n"), "H:test:1\t1\t0\t0\n.\n");
    let w = h.worker(&["f"]);
    h.grab(w);
    h.disconnect(w);
    assert_eq!(h.recv(c), pkt(WorkFailRes, &[&h1]));
    assert_eq!(h.server.job_count(), 0);
    assert_eq!(h.server.stats().jobs_dropped, 1);
}

#[test]
fn can_do_timeout_requeues_and_the_late_worker_gets_job_not_found() {
    let mut h = Harness::new();
    let c = h.connect();
    let slow = h.connect();
    h.req(slow, CanDoTimeout, &[b"f", b"250"]);
    let other = h.worker(&["f"]);
    h.req(other, PreSleep, &[]);
    let h1 = h.submit(c, SubmitJob, "f", "", b"x");
    assert_eq!(h.recv(other), pkt(Noop, &[]));
    assert_eq!(h.grab(slow), pkt(JobAssign, &[&h1, b"f", b"x"]));
    // 1..999 ms are raised to one second.
    assert_eq!(
        h.server.poll_timeout(),
        Some(h.now + Duration::from_secs(1))
    );
    h.advance(Duration::from_millis(999));
    h.req(c, GetStatus, &[&h1]);
    assert_eq!(h.recv(c), pkt(StatusRes, &[&h1, b"1", b"1", b"0", b"0"]));
    h.advance(Duration::from_millis(1));
    h.req(c, GetStatus, &[&h1]);
    assert_eq!(h.recv(c), pkt(StatusRes, &[&h1, b"1", b"0", b"0", b"0"]));
    assert_eq!(h.grab(other), pkt(JobAssign, &[&h1, b"f", b"x"]));
    h.req(slow, WorkCompleteReq, &[&h1, b"late"]);
    assert_eq!(
        h.recv(slow),
        pkt(
            Error,
            &[b"JOB_NOT_FOUND", b"Job given in work result not found"]
        )
    );
    h.req(other, WorkCompleteReq, &[&h1, b"r"]);
    assert_eq!(h.recv(c), pkt(WorkCompleteRes, &[&h1, b"r"]));
}

#[test]
fn can_do_timeout_in_milliseconds_zero_means_none_and_sleep_cancels_it() {
    let mut h = Harness::new();
    let c = h.connect();
    let w = h.connect();
    h.req(w, CanDoTimeout, &[b"f", b"1500"]);
    h.req(w, CanDoTimeout, &[b"g", b"0"]);
    let hf = h.submit(c, SubmitJobBg, "f", "", b"x");
    h.grab(w);
    // PRE_SLEEP that really sleeps clears the timer.
    h.req(w, PreSleep, &[]);
    h.advance(Duration::from_secs(5));
    h.req(c, GetStatus, &[&hf]);
    assert_eq!(h.recv(c), pkt(StatusRes, &[&hf, b"1", b"1", b"0", b"0"]));
    h.req(w, WorkCompleteReq, &[&hf, b""]);
    let hg = h.submit(c, SubmitJobBg, "g", "", b"x");
    h.grab(w);
    h.advance(Duration::from_secs(3600));
    h.req(c, GetStatus, &[&hg]);
    assert_eq!(h.recv(c), pkt(StatusRes, &[&hg, b"1", b"1", b"0", b"0"]));
    h.req(w, WorkCompleteReq, &[&hg, b""]);
    assert!(h.recv(w).is_empty());
    let hf2 = h.submit(c, SubmitJobBg, "f", "", b"y");
    h.grab(w);
    h.advance(Duration::from_millis(1499));
    h.req(c, GetStatus, &[&hf2]);
    assert_eq!(h.recv(c), pkt(StatusRes, &[&hf2, b"1", b"1", b"0", b"0"]));
    h.advance(Duration::from_millis(1));
    h.req(c, GetStatus, &[&hf2]);
    assert_eq!(h.recv(c), pkt(StatusRes, &[&hf2, b"1", b"0", b"0", b"0"]));
}

#[test]
fn cant_do_and_reset_abilities_requeue_running_jobs() {
    let mut h = Harness::new();
    let c = h.connect();
    let w = h.worker(&["f", "g"]);
    let hf = h.submit(c, SubmitJob, "f", "", b"x");
    let hg = h.submit(c, SubmitJob, "g", "", b"y");
    h.grab(w);
    h.grab(w);
    h.req(w, CantDo, &[b"f"]);
    h.req(c, GetStatus, &[&hf]);
    h.req(c, GetStatus, &[&hg]);
    assert_eq!(
        h.recv(c),
        pkts(&[
            (StatusRes, &[&hf, b"1", b"0", b"0", b"0"]),
            (StatusRes, &[&hg, b"1", b"1", b"0", b"0"]),
        ])
    );
    assert_eq!(h.grab(w), pkt(NoJob, &[]), "f is no longer registered");
    h.req(w, ResetAbilities, &[]);
    h.req(c, GetStatus, &[&hg]);
    assert_eq!(h.recv(c), pkt(StatusRes, &[&hg, b"1", b"0", b"0", b"0"]));
    assert_eq!(h.admin(c, "status\n"), "f\t1\t0\t0\ng\t1\t0\t0\n.\n");
}

#[test]
fn client_disconnect_abandons_foreground_jobs_but_not_background_ones() {
    let mut h = Harness::new();
    let c = h.connect();
    let stays = h.connect();
    let w = h.worker(&["f"]);
    let running = h.submit(c, SubmitJob, "f", "", b"running");
    h.grab(w);
    let _queued = h.submit(c, SubmitJob, "f", "", b"queued");
    let shared = h.submit(c, SubmitJob, "f", "shared", b"shared");
    assert_eq!(h.submit(stays, SubmitJob, "f", "shared", b""), shared);
    let bg = h.submit(c, SubmitJobBg, "f", "", b"bg");
    h.disconnect(c);
    assert_eq!(
        h.admin(stays, "show jobs\n"),
        "H:test:1\t0\t1\t0\nH:test:2\t0\t1\t0\nH:test:3\t0\t0\t0\nH:test:4\t0\t0\t1\n.\n"
    );
    // The abandoned queued job is discarded when a worker would get it.
    assert_eq!(h.grab(w), pkt(JobAssign, &[&shared, b"f", b"shared"]));
    assert_eq!(h.grab(w), pkt(JobAssign, &[&bg, b"f", b"bg"]));
    assert_eq!(h.grab(w), pkt(NoJob, &[]));
    // The running one finishes normally; its result goes nowhere.
    h.req(w, WorkCompleteReq, &[&running, b"r"]);
    h.req(w, WorkCompleteReq, &[&shared, b"r"]);
    h.req(w, WorkCompleteReq, &[&bg, b"r"]);
    assert!(h.recv(w).is_empty());
    assert_eq!(h.recv(stays), pkt(WorkCompleteRes, &[&shared, b"r"]));
    assert_eq!(h.server.job_count(), 0);
}

#[test]
fn a_submit_coalescing_onto_an_abandoned_job_revives_it() {
    let mut h = Harness::new();
    let gone = h.connect();
    let h1 = h.submit(gone, SubmitJob, "f", "u", b"x");
    h.disconnect(gone);
    let c = h.connect();
    assert_eq!(h.submit(c, SubmitJob, "f", "u", b""), h1);
    let w = h.worker(&["f"]);
    assert_eq!(h.grab(w), pkt(JobAssign, &[&h1, b"f", b"x"]));
    h.req(w, WorkCompleteReq, &[&h1, b"r"]);
    assert_eq!(h.recv(c), pkt(WorkCompleteRes, &[&h1, b"r"]));
}

#[test]
fn a_background_job_survives_its_coalesced_foreground_listener_leaving() {
    let mut h = Harness::new();
    let c = h.connect();
    let fg = h.connect();
    let h1 = h.submit(c, SubmitJobBg, "f", "u", b"x");
    h.submit(fg, SubmitJob, "f", "u", b"");
    h.disconnect(fg);
    let w = h.worker(&["f"]);
    assert_eq!(h.grab(w), pkt(JobAssign, &[&h1, b"f", b"x"]));
}

#[test]
fn maxqueue_refuses_new_jobs_but_not_coalesced_submits() {
    let mut h = Harness::new();
    let c = h.connect();
    let admin = h.connect();
    h.submit(c, SubmitJobBg, "f", "u", b"");
    assert_eq!(h.admin(admin, "maxqueue f 2\r\n"), "OK\r\n");
    h.submit(c, SubmitJob, "f", "", b"");
    let full = pkt(Error, &[b"QUEUE_ERROR", b"Job queue is full"]);
    h.req(c, SubmitJobHighBg, &[b"f", b"", b""]);
    assert_eq!(h.recv(c), full);
    assert_eq!(h.submit(c, SubmitJob, "f", "u", b""), handle(1));
    // Per priority: high 3, normal 2, low 1 (compared with the total).
    assert_eq!(h.admin(admin, "maxqueue f 3 2 1\n"), "OK\r\n");
    h.submit(c, SubmitJobHighBg, "f", "", b"");
    h.req(c, SubmitJobLowBg, &[b"f", b"", b""]);
    assert_eq!(h.recv(c), full);
    // Back to unlimited.
    assert_eq!(h.admin(admin, "maxqueue f\n"), "OK\r\n");
    h.submit(c, SubmitJobLowBg, "f", "", b"");
    // Unknown function: OK, nothing stored.
    assert_eq!(h.admin(admin, "maxqueue nosuch 1\n"), "OK\r\n");
    assert_eq!(h.admin(admin, "status\n"), "f\t4\t0\t0\n.\n");
}

#[test]
fn only_the_canonical_handle_names_a_job() {
    let mut h = Harness::new();
    let c = h.connect();
    let h1 = h.submit(c, SubmitJobBg, "f", "", b"x");
    assert_eq!(h1, b"H:test:1");
    for alias in [
        &b"H:test:01"[..],
        b"H:test:+1",
        b"H:test:1 ",
        b"H:other:1",
        b"H:test:",
    ] {
        h.req(c, GetStatus, &[alias]);
        assert_eq!(h.recv(c), pkt(StatusRes, &[alias, b"0", b"0", b"0", b"0"]));
    }
    h.req(c, GetStatus, &[b"H:test:1"]);
    assert_eq!(
        h.recv(c),
        pkt(StatusRes, &[b"H:test:1", b"1", b"0", b"0", b"0"])
    );
}

#[test]
fn large_payloads_round_trip_and_coalesce_by_payload() {
    let mut h = Harness::new();
    let c = h.connect();
    let w = h.worker(&["f"]);
    let big: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let h1 = h.submit(c, SubmitJob, "f", "-", &big);
    assert_eq!(h.submit(c, SubmitJob, "f", "-", &big), h1);
    h.req(w, GrabJobUniq, &[]);
    assert_eq!(h.recv(w), pkt(JobAssignUniq, &[&h1, b"f", b"-", &big]));
    h.req(w, WorkCompleteReq, &[&h1, &big]);
    let done = pkt(WorkCompleteRes, &[&h1, &big]);
    assert_eq!(h.recv(c), [&done[..], &done].concat());
    assert_ne!(h.submit(c, SubmitJobBg, "f", "-", &big), h1);
}

#[test]
fn fields_are_read_as_c_strings_where_gearmand_does() {
    let mut h = Harness::new();
    let c = h.connect();
    // The option matches up to its NUL and is echoed whole.
    h.req(c, OptionReq, &[b"exceptions\0x"]);
    assert_eq!(h.recv(c), pkt(OptionRes, &[b"exceptions\0x"]));
    // An admin line ends at a NUL.
    h.send(c, b"version\0 junk\n");
    assert_eq!(h.recv(c), b"OK 1.1.22\n");
}

#[test]
fn output_the_driver_does_not_take_is_bounded() {
    let mut config = ServerConfig::new("test");
    config.max_pending_output = 1000;
    let mut h = Harness::with(config);
    let greedy = h.connect();
    let fine = h.connect();
    // Many echoes in one read: the connection is closed once its replies
    // pass the limit, and the rest of its input is not processed.
    let echo = pkt(EchoReq, &[&[b'x'; 100]]);
    h.send(greedy, &echo.repeat(50));
    assert!(h.is_closed(greedy));
    let got = h.recv(greedy);
    assert!(got.len() > 1000 && got.len() < 1300, "{}", got.len());
    // Forwarded output counts too: a listener over the limit is closed.
    let w = h.worker(&["f"]);
    let h1 = h.submit(fine, SubmitJob, "f", "", b"x");
    h.grab(w);
    let mut updates = Vec::new();
    for _ in 0..20 {
        updates.extend(pkt(WorkDataReq, &[&h1, &[b'd'; 100]]));
    }
    h.send(w, &updates);
    assert!(h.is_closed(fine));
    assert!(!h.is_closed(w));
    h.req(w, WorkCompleteReq, &[&h1, b""]);
    assert!(h.recv(w).is_empty(), "the job is still the worker's");
}

#[test]
fn handles_name_the_trimmed_hostname_or_localhost_when_it_cannot_serve() {
    let prefix = |name: Option<&str>| ServerConfig::for_hostname(name).job_handle_prefix;
    assert_eq!(prefix(Some("jobs1\n")), "H:jobs1");
    assert_eq!(prefix(Some("a:b")), "H:localhost");
    assert_eq!(prefix(Some(" \n")), "H:localhost");
    assert_eq!(prefix(None), "H:localhost");
}
