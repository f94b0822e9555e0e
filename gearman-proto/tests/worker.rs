//! The worker state machine against a scripted job server: every packet the
//! worker writes is asserted exactly; time is simulated.

mod worker_support;

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use gearman_proto::Command::*;
use gearman_proto::worker::{
    Assignment, AssignmentId, ConnectFailedHook, GrabMode, GrabState, JobRunner, Worker,
    WorkerConfig, WorkerError,
};
use gearman_proto::worker::{WorkError, WorkUpdate, WorkerCommand, WorkerEvent};
use gearman_proto::{Command, ConnAction, ConnectError, Packet};
use worker_support::{Peer, servers, sid};

fn one(function: &str) -> WorkerConfig {
    WorkerConfig::new(servers(1)).with_function(function.to_owned())
}

#[test]
fn connects_to_every_server_at_start() {
    let peer = Peer::new(WorkerConfig::new(servers(3)).with_function("f"));
    let mut pending: Vec<usize> = peer.pending_connects.keys().copied().collect();
    pending.sort_unstable();
    assert_eq!(pending, [0, 1, 2]);
}

#[test]
fn registers_client_id_and_abilities_then_grabs() {
    let config = WorkerConfig::new(servers(1))
        .with_client_id("w-1")
        .with_function("resize")
        .with_function_timeout("thumb", Duration::from_millis(30_000));
    let mut peer = Peer::new(config);
    peer.accept(0);
    peer.expect(
        0,
        &[
            (SetClientId, &[b"w-1"]),
            (CanDo, &[b"resize"]),
            (CanDoTimeout, &[b"thumb", b"30000"]),
            (GrabJobUniq, &[]),
        ],
    );
    assert_eq!(
        peer.take_events(),
        [WorkerEvent::Connected { server: sid(0) }]
    );
    assert_eq!(
        peer.worker.grab_state(sid(0)),
        Some(GrabState::AwaitingGrabReply)
    );
}

#[test]
fn wire_bytes_of_registration_and_grab_match_the_protocol() {
    let mut peer = Peer::new(
        WorkerConfig::new(servers(1)).with_function_timeout("resize", Duration::from_secs(30)),
    );
    peer.accept(0);
    let mut bytes = Vec::new();
    for p in peer.take_sent(0) {
        p.encode(&mut bytes);
    }
    let mut expected = Vec::new();
    expected.extend_from_slice(b"\0REQ\0\0\0\x17\0\0\0\x0cresize\x0030000");
    expected.extend_from_slice(b"\0REQ\0\0\0\x1e\0\0\0\0");
    assert_eq!(bytes, expected);
}

#[test]
fn configuring_a_function_again_replaces_its_registration() {
    let config = WorkerConfig::new(["gm:4730"])
        .with_function("f")
        .with_function("g")
        .with_function_timeout("f", Duration::from_secs(5));
    let registered: Vec<_> = config
        .abilities
        .iter()
        .map(|ability| (&ability.function[..], ability.timeout))
        .collect();
    assert_eq!(
        registered,
        [(&b"g"[..], None), (&b"f"[..], Some(Duration::from_secs(5)))]
    );
}

#[test]
fn no_abilities_means_no_grab_until_can_do() {
    let mut peer = Peer::new(WorkerConfig::new(servers(1)));
    peer.accept(0);
    peer.expect_silence(0);
    assert_eq!(peer.worker.grab_state(sid(0)), Some(GrabState::Idle));
    peer.worker.can_do("f").unwrap();
    peer.drain();
    peer.expect(0, &[(CanDo, &[b"f"]), (GrabJobUniq, &[])]);
}

#[test]
fn grab_cycle_no_job_pre_sleep_noop_assign_complete() {
    let mut peer = Peer::connected(one("f"));
    peer.send(0, NoJob, &[]);
    peer.expect(0, &[(PreSleep, &[])]);
    assert_eq!(peer.worker.grab_state(sid(0)), Some(GrabState::Asleep));
    peer.send(0, Noop, &[]);
    peer.expect(0, &[(GrabJobUniq, &[])]);
    peer.send(0, JobAssignUniq, &[b"H:s:1", b"f", b"u1", b"payload"]);
    let job = peer.take_job();
    assert_eq!(&job.handle[..], b"H:s:1");
    assert_eq!(&job.function[..], b"f");
    assert_eq!(job.unique.as_deref(), Some(&b"u1"[..]));
    assert_eq!(job.reducer, None);
    assert_eq!(&job.payload[..], b"payload");
    assert_eq!(job.server, sid(0));
    // Limit 1: the job holds the only slot, so no grab yet.
    peer.expect_silence(0);
    assert_eq!(peer.worker.grab_state(sid(0)), Some(GrabState::Idle));
    peer.worker.work_complete(job.id, b"done").unwrap();
    peer.drain();
    peer.expect(
        0,
        &[(WorkCompleteReq, &[b"H:s:1", b"done"]), (GrabJobUniq, &[])],
    );
}

#[test]
fn every_assignment_form_is_accepted_whatever_was_asked() {
    let mut peer = Peer::connected(one("f").with_grab(GrabMode::Job));
    peer.send(0, JobAssignAll, &[b"H:1", b"f", b"u", b"red", b"d"]);
    let job = peer.take_job();
    assert_eq!(job.unique.as_deref(), Some(&b"u"[..]));
    assert_eq!(job.reducer.as_deref(), Some(&b"red"[..]));
    peer.worker.work_fail(job.id).unwrap();
    peer.drain();
    peer.expect(0, &[(WorkFailReq, &[b"H:1"]), (GrabJob, &[])]);
    peer.send(0, JobAssign, &[b"H:2", b"f", b"d\0with nul"]);
    let job = peer.take_job();
    assert_eq!(job.unique, None);
    assert_eq!(&job.payload[..], b"d\0with nul");
}

#[test]
fn job_assign_all_carries_the_reducer_and_an_empty_one_is_none() {
    let mut peer = Peer::connected(one("map").with_concurrency(2));
    peer.send(0, JobAssignAll, &[b"H:1", b"map", b"u", b"reduce", b"a\0b"]);
    let job = peer.take_job();
    assert_eq!(job.reducer.as_deref(), Some(&b"reduce"[..]));
    assert_eq!(&job.payload[..], b"a\0b");
    // The accessors adapters' jobs dereference to read the same fields.
    assert_eq!(job.reducer().map(|r| &r[..]), Some(&b"reduce"[..]));
    assert_eq!(job.unique().map(|u| &u[..]), Some(&b"u"[..]));
    assert_eq!(
        (
            job.server(),
            &job.handle()[..],
            &job.function()[..],
            &job.payload()[..]
        ),
        (sid(0), &b"H:1"[..], &b"map"[..], &b"a\0b"[..])
    );
    peer.expect(0, &[(GrabJobUniq, &[])]);
    peer.send(0, JobAssignAll, &[b"H:2", b"map", b"", b"", b"x"]);
    let job = peer.take_job();
    assert_eq!(job.reducer, None);
    assert_eq!(job.unique.as_deref(), Some(&b""[..]));
}

#[test]
fn stale_noop_while_awaiting_a_grab_reply_is_ignored() {
    let mut peer = Peer::connected(one("f"));
    assert_eq!(
        peer.worker.grab_state(sid(0)),
        Some(GrabState::AwaitingGrabReply)
    );
    for _ in 0..5 {
        peer.send(0, Noop, &[]);
    }
    peer.expect_silence(0);
    assert_eq!(peer.worker.grabs_outstanding(), 1);
    peer.send(0, NoJob, &[]);
    peer.expect(0, &[(PreSleep, &[])]);
    assert_eq!(peer.worker.grab_state(sid(0)), Some(GrabState::Asleep));
}

#[test]
fn noop_while_idle_at_capacity_is_ignored_and_does_not_grab() {
    let mut peer = Peer::connected(one("f"));
    peer.send(0, JobAssign, &[b"H:1", b"f", b""]);
    let job = peer.take_job();
    peer.send(0, Noop, &[]);
    peer.send(0, Noop, &[]);
    peer.expect_silence(0);
    assert_eq!(peer.worker.grab_state(sid(0)), Some(GrabState::Idle));
    peer.worker.work_complete(job.id, b"").unwrap();
    peer.drain();
    peer.expect(0, &[(WorkCompleteReq, &[b"H:1", b""]), (GrabJobUniq, &[])]);
}

#[test]
fn stray_no_job_does_nothing() {
    let mut peer = Peer::connected(one("f"));
    peer.send(0, NoJob, &[]);
    peer.expect(0, &[(PreSleep, &[])]);
    for _ in 0..10 {
        peer.send(0, NoJob, &[]);
    }
    peer.expect_silence(0);
    assert_eq!(peer.worker.grab_state(sid(0)), Some(GrabState::Asleep));
    assert_eq!(peer.worker.grabs_outstanding(), 0);
}

#[test]
fn no_job_storm_keeps_grabs_within_the_limit_and_no_busy_loop() {
    let mut peer = Peer::connected(
        WorkerConfig::new(servers(2))
            .with_function("f")
            .with_concurrency(4),
    );
    let mut grabs = [1usize, 1];
    let mut no_jobs = 0;
    for round in 0..200 {
        for (s, grabs) in grabs.iter_mut().enumerate() {
            let packet = if round % 3 == 0 { NoJob } else { Noop };
            no_jobs += usize::from(packet == NoJob);
            peer.send(s, packet, &[]);
            for p in peer.take_sent(s) {
                match p.command() {
                    GrabJobUniq => *grabs += 1,
                    PreSleep => {}
                    other => panic!("unexpected {other:?}"),
                }
            }
            assert!(peer.worker.grabs_outstanding() <= 4);
        }
    }
    // Every grab but those still outstanding was answered by one NO_JOB.
    assert!(
        grabs.iter().sum::<usize>() <= no_jobs + 4,
        "{grabs:?} for {no_jobs} NO_JOBs"
    );
    // Once asleep, with no input at all, nothing is ever sent.
    for s in 0..2 {
        while peer.worker.grab_state(sid(s)) == Some(GrabState::AwaitingGrabReply) {
            peer.send(s, NoJob, &[]);
        }
        peer.take_sent(s);
        assert_eq!(peer.worker.grab_state(sid(s)), Some(GrabState::Asleep));
    }
    peer.advance(Duration::from_secs(3600));
    peer.expect_silence(0);
    peer.expect_silence(1);
    assert_eq!(peer.worker.poll_timeout(), None);
}

#[test]
fn concurrency_limit_holds_across_servers() {
    let mut peer = Peer::new(
        WorkerConfig::new(servers(3))
            .with_function("f")
            .with_concurrency(2),
    );
    for s in 0..3 {
        peer.accept(s);
    }
    peer.take_events();
    let grabbed: Vec<usize> = (0..3)
        .filter(|&s| peer.take_sent(s).iter().any(|p| p.command() == GrabJobUniq))
        .collect();
    assert_eq!(grabbed, [0, 1], "only two grabs for a limit of two");
    assert_eq!(peer.worker.grab_state(sid(2)), Some(GrabState::Idle));
    // Server 0 gives a job; server 1 has none: server 2 may grab now.
    peer.send(0, JobAssign, &[b"H:a", b"f", b""]);
    let a = peer.take_job();
    peer.expect_silence(0);
    peer.send(1, NoJob, &[]);
    peer.expect(1, &[(PreSleep, &[])]);
    peer.expect(2, &[(GrabJobUniq, &[])]);
    peer.send(2, JobAssign, &[b"H:b", b"f", b""]);
    let b = peer.take_job();
    assert_eq!(peer.worker.running_jobs(), 2);
    // Server 1 wakes while no slot is free: it remembers and waits.
    peer.send(1, Noop, &[]);
    peer.expect_silence(1);
    assert_eq!(peer.worker.grab_state(sid(1)), Some(GrabState::Idle));
    // A slot frees: the next idle server in turn (server 0, after 2) grabs.
    peer.worker.work_complete(a.id, b"").unwrap();
    peer.drain();
    peer.expect(0, &[(WorkCompleteReq, &[b"H:a", b""]), (GrabJobUniq, &[])]);
    peer.expect_silence(1);
    peer.expect_silence(2);
    peer.send(0, NoJob, &[]);
    peer.expect(0, &[(PreSleep, &[])]);
    // Then the woken server 1.
    peer.expect(1, &[(GrabJobUniq, &[])]);
    peer.expect_silence(2);
    assert_eq!(
        peer.worker.grabs_outstanding() + peer.worker.running_jobs(),
        2
    );
    peer.worker.work_complete(b.id, b"").unwrap();
    peer.drain();
    peer.expect(2, &[(WorkCompleteReq, &[b"H:b", b""]), (GrabJobUniq, &[])]);
}

#[test]
fn abilities_and_client_id_go_to_every_connected_server() {
    let mut peer = Peer::connected(WorkerConfig::new(servers(2)).with_function("f"));
    peer.worker.set_client_id("me");
    peer.worker.can_do("g").unwrap();
    peer.worker
        .can_do_timeout("h", Duration::from_millis(1500))
        .unwrap();
    peer.worker.cant_do(b"f");
    peer.worker.cant_do(b"never-registered");
    peer.drain();
    for s in 0..2 {
        peer.expect(
            s,
            &[
                (SetClientId, &[b"me"]),
                (CanDo, &[b"g"]),
                (CanDoTimeout, &[b"h", b"1500"]),
                (CantDo, &[b"f"]),
            ],
        );
    }
    peer.worker.reset_abilities();
    peer.drain();
    peer.expect(0, &[(ResetAbilities, &[])]);
    peer.expect(1, &[(ResetAbilities, &[])]);
    assert_eq!(peer.worker.abilities().count(), 0);
}

#[test]
fn registering_again_is_not_duplicated_and_a_new_timeout_replaces_the_old() {
    let mut peer = Peer::connected(one("f"));
    peer.worker.can_do("f").unwrap();
    peer.drain();
    peer.expect_silence(0);
    peer.worker
        .can_do_timeout("f", Duration::from_secs(3))
        .unwrap();
    peer.worker
        .can_do_timeout("f", Duration::from_secs(3))
        .unwrap();
    peer.worker.can_do("f").unwrap();
    peer.drain();
    peer.expect(
        0,
        &[
            (CantDo, &[b"f"]),
            (CanDoTimeout, &[b"f", b"3000"]),
            (CantDo, &[b"f"]),
            (CanDo, &[b"f"]),
        ],
    );
    assert_eq!(peer.worker.abilities().count(), 1);
}

#[test]
fn can_do_while_asleep_sends_pre_sleep_again_so_the_server_can_wake_it() {
    let mut peer = Peer::connected(one("f"));
    peer.send(0, NoJob, &[]);
    peer.expect(0, &[(PreSleep, &[])]);
    peer.worker.can_do("g").unwrap();
    peer.drain();
    peer.expect(0, &[(CanDo, &[b"g"]), (PreSleep, &[])]);
    assert_eq!(peer.worker.grab_state(sid(0)), Some(GrabState::Asleep));
    peer.send(0, Noop, &[]);
    peer.expect(0, &[(GrabJobUniq, &[])]);
}

#[test]
fn invalid_function_names_are_refused() {
    let mut peer = Peer::connected(one("f"));
    assert!(matches!(
        peer.worker.can_do(""),
        Err(WorkerError::InvalidFunction(_))
    ));
    assert!(matches!(
        peer.worker.can_do_timeout("a\0b", Duration::from_secs(1)),
        Err(WorkerError::InvalidFunction(_))
    ));
    peer.drain();
    peer.expect_silence(0);
    let bad = WorkerConfig::new(servers(1)).with_function("x\0");
    assert!(matches!(
        Worker::new(bad, peer.now),
        Err(WorkerError::InvalidFunction(_))
    ));
    assert_eq!(
        Worker::new(WorkerConfig::new(Vec::<String>::new()), peer.now).err(),
        Some(WorkerError::NoServers)
    );
}

#[test]
fn re_registers_client_id_and_all_abilities_after_reconnect() {
    let mut peer = Peer::connected(
        WorkerConfig::new(servers(1))
            .with_client_id("id-1")
            .with_function("a")
            .with_function("b"),
    );
    peer.worker.set_client_id("id-2");
    peer.worker
        .can_do_timeout("c", Duration::from_secs(2))
        .unwrap();
    peer.worker.cant_do(b"a");
    peer.drain();
    peer.take_sent(0);
    peer.drop_conn(0);
    assert_eq!(
        peer.take_events(),
        [WorkerEvent::Disconnected { server: sid(0) }]
    );
    let at = peer.worker.poll_timeout().expect("reconnect scheduled");
    peer.advance_to(at);
    peer.accept(0);
    peer.expect(
        0,
        &[
            (SetClientId, &[b"id-2"]),
            (CanDo, &[b"b"]),
            (CanDoTimeout, &[b"c", b"2000"]),
            (GrabJobUniq, &[]),
        ],
    );
    assert_eq!(
        peer.take_events(),
        [WorkerEvent::Connected { server: sid(0) }]
    );
}

#[test]
fn reconnect_backoff_doubles_is_capped_and_resets_after_a_connect() {
    let config = one("f").with_backoff(Duration::from_millis(100), Duration::from_millis(400));
    let mut peer = Peer::new(config);
    let mut delays = Vec::new();
    for _ in 0..5 {
        let start = peer.now;
        peer.refuse(0);
        let at = peer.worker.poll_timeout().expect("retry scheduled");
        delays.push(at - start);
        // Early timeouts change nothing.
        peer.advance_to(at - Duration::from_millis(1));
        assert!(peer.pending_connects.is_empty());
        peer.advance_to(at);
        assert!(peer.pending_connects.contains_key(&0));
    }
    let bases = [100, 200, 400, 400, 400];
    for (delay, base) in delays.iter().zip(bases) {
        let base = Duration::from_millis(base);
        assert!(*delay >= base / 2 && *delay <= base, "{delays:?}");
    }
    peer.accept(0);
    peer.drop_conn(0);
    let delay = peer.worker.poll_timeout().unwrap() - peer.now;
    assert!(delay <= Duration::from_millis(100), "{delay:?}");
}

#[test]
fn same_seed_gives_same_backoff_and_other_servers_keep_serving() {
    let run = |seed| {
        let mut peer = Peer::new(
            WorkerConfig::new(servers(2))
                .with_function("f")
                .with_seed(seed),
        );
        peer.accept(1);
        peer.refuse(0);
        let delay = peer.worker.poll_timeout().unwrap() - peer.now;
        // Server 1 works while server 0 is down.
        peer.take_sent(1);
        peer.send(1, JobAssign, &[b"H:1", b"f", b"x"]);
        let events = peer.take_events();
        assert!(
            matches!(events.last(), Some(WorkerEvent::JobAssigned(_))),
            "{events:?}"
        );
        delay
    };
    assert_eq!(run(9), run(9));
}

#[test]
fn connect_timeout_closes_and_retries() {
    let mut peer = Peer::new(one("f").with_connect_timeout(Duration::from_secs(2)));
    let conn = peer.pending_connects[&0];
    assert_eq!(
        peer.worker.poll_timeout(),
        Some(peer.now + Duration::from_secs(2))
    );
    peer.advance(Duration::from_secs(2));
    assert_eq!(peer.closed, [conn]);
    assert!(peer.pending_connects.is_empty());
    let at = peer.worker.poll_timeout().unwrap();
    peer.advance_to(at);
    assert!(peer.pending_connects[&0] != conn, "a new connection id");
    peer.take_events();
    // A late success for the abandoned attempt is ignored.
    peer.worker.handle_connected(conn, peer.now);
    peer.drain();
    assert!(peer.take_events().is_empty());
}

#[test]
fn a_failed_connect_is_reported_with_its_cause_each_time_and_retried() {
    let mut peer = Peer::new(one("f"));
    for _ in 0..2 {
        let conn = peer.pending_connects.remove(&0).expect("connect pending");
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        peer.worker
            .handle_connect_failed(conn, ConnectError::new("gm0:4730", refused), peer.now);
        peer.drain();
        let events = peer.take_events();
        let [WorkerEvent::ConnectFailed { server, error }] = &events[..] else {
            panic!("{events:?}");
        };
        assert_eq!(*server, sid(0));
        assert_eq!(error.addr(), "gm0:4730");
        assert_eq!(error.io_error().kind(), io::ErrorKind::ConnectionRefused);
        let at = peer.worker.poll_timeout().expect("retry scheduled");
        peer.advance_to(at);
    }
    assert!(peer.pending_connects.contains_key(&0));
}

#[test]
fn a_connect_timeout_is_reported_as_a_failed_connect() {
    let mut peer = Peer::new(one("f").with_connect_timeout(Duration::from_secs(2)));
    peer.advance(Duration::from_secs(2));
    let events = peer.take_events();
    let [WorkerEvent::ConnectFailed { server, error }] = &events[..] else {
        panic!("{events:?}");
    };
    assert_eq!(*server, sid(0));
    assert_eq!(error.addr(), "gm0:4730");
    assert_eq!(error.io_error().kind(), io::ErrorKind::TimedOut);
}

#[test]
fn grab_falls_back_to_plainer_forms_on_error() {
    let mut peer = Peer::connected(one("f").with_grab(GrabMode::All));
    peer.send(0, Error, &[b"INVALID_COMMAND", b"Command not expected"]);
    peer.expect(0, &[(GrabJobUniq, &[])]);
    assert_eq!(peer.worker.grab_mode(sid(0)), Some(GrabMode::Uniq));
    peer.send(0, Error, &[b"unknown_command", b"x"]);
    peer.expect(0, &[(GrabJob, &[])]);
    peer.send(0, JobAssign, &[b"H:1", b"f", b"d"]);
    let job = peer.take_job();
    peer.worker.work_complete(job.id, b"r").unwrap();
    peer.drain();
    // The plainer form sticks for the connection.
    peer.expect(0, &[(WorkCompleteReq, &[b"H:1", b"r"]), (GrabJob, &[])]);
    // Even GRAB_JOB refused: sleep as after NO_JOB.
    peer.send(0, Error, &[b"INVALID_COMMAND", b""]);
    peer.expect(0, &[(PreSleep, &[])]);
    assert_eq!(peer.worker.grab_state(sid(0)), Some(GrabState::Asleep));
    assert_eq!(peer.worker.grabs_outstanding(), 0);
    // A new connection starts from the configured form again.
    peer.drop_conn(0);
    let at = peer.worker.poll_timeout().unwrap();
    peer.advance_to(at);
    peer.accept(0);
    peer.expect(0, &[(CanDo, &[b"f"]), (GrabJobAll, &[])]);
}

#[test]
fn default_grab_is_uniq_and_falls_back_to_plain_grab_job() {
    let mut peer = Peer::connected(one("f"));
    assert_eq!(peer.worker.grab_mode(sid(0)), Some(GrabMode::Uniq));
    peer.send(0, Error, &[b"unknown_command", b"Unknown command"]);
    peer.expect(0, &[(GrabJob, &[])]);
    assert_eq!(peer.worker.grab_mode(sid(0)), Some(GrabMode::Job));
}

#[test]
fn a_silent_grab_falls_back_then_reconnects() {
    let timeout = Duration::from_secs(5);
    let mut peer = Peer::new(
        one("f")
            .with_grab(GrabMode::All)
            .with_grab_reply_timeout(Some(timeout)),
    );
    let start = peer.now;
    let conn = peer.accept(0);
    peer.expect(0, &[(CanDo, &[b"f"]), (GrabJobAll, &[])]);
    assert_eq!(peer.worker.poll_timeout(), Some(start + timeout));
    peer.advance(timeout - Duration::from_millis(1));
    peer.expect_silence(0);
    peer.advance(Duration::from_millis(1));
    peer.expect(0, &[(GrabJobUniq, &[])]);
    assert_eq!(peer.worker.grabs_outstanding(), 1);
    peer.advance(timeout);
    peer.expect(0, &[(GrabJob, &[])]);
    assert_eq!(peer.worker.grab_mode(sid(0)), Some(GrabMode::Job));
    // A late reply answers the newest grab.
    peer.send(0, NoJob, &[]);
    peer.expect(0, &[(PreSleep, &[])]);
    peer.send(0, Noop, &[]);
    peer.expect(0, &[(GrabJob, &[])]);
    // GRAB_JOB unanswered too: reconnect, starting over with the configured form.
    peer.advance(timeout);
    assert_eq!(peer.closed, [conn]);
    assert_eq!(peer.worker.grabs_outstanding(), 0);
    let at = peer.worker.poll_timeout().unwrap();
    peer.advance_to(at);
    peer.accept(0);
    peer.expect(0, &[(CanDo, &[b"f"]), (GrabJobAll, &[])]);
}

#[test]
fn a_grab_sent_without_a_clock_never_times_out_early() {
    let timeout = Duration::from_secs(5);
    let mut peer = Peer::connected(one("f").with_grab_reply_timeout(Some(timeout)));
    let start = peer.now;
    peer.send(0, JobAssign, &[b"H:1", b"f", b""]);
    let job = peer.take_job();
    // The job runs for a minute; its end sends a grab from a call that
    // carries no time.
    peer.worker.work_complete(job.id, b"").unwrap();
    peer.drain();
    peer.expect(0, &[(WorkCompleteReq, &[b"H:1", b""]), (GrabJobUniq, &[])]);
    assert_eq!(peer.worker.poll_timeout(), Some(start + timeout));
    let later = start + Duration::from_secs(60);
    peer.advance_to(later);
    peer.expect_silence(0);
    assert_eq!(peer.worker.poll_timeout(), Some(later + timeout));
    peer.advance_to(later + timeout);
    peer.expect(0, &[(GrabJob, &[])]);
}

#[test]
fn shutdown_does_not_wait_forever_for_a_silent_grab() {
    let timeout = Duration::from_secs(5);
    let mut peer = Peer::connected(one("f").with_grab_reply_timeout(Some(timeout)));
    let conn = peer.conn(0);
    peer.worker.shutdown(peer.now);
    peer.drain();
    assert!(peer.take_events().is_empty());
    peer.advance(timeout);
    assert!(
        peer.take_sent_conn(conn).is_empty(),
        "no fallback grab while shutting down"
    );
    assert_eq!(peer.take_events(), [WorkerEvent::ShutdownComplete]);
    assert_eq!(peer.closed, [conn]);
}

#[test]
fn job_not_found_error_is_not_a_grab_reply_and_unsolicited_errors_change_nothing() {
    let mut peer = Peer::connected(one("f"));
    peer.send(
        0,
        Error,
        &[b"JOB_NOT_FOUND", b"Job given in work result not found"],
    );
    peer.expect_silence(0);
    assert_eq!(
        peer.worker.grab_state(sid(0)),
        Some(GrabState::AwaitingGrabReply)
    );
    assert_eq!(peer.worker.grab_mode(sid(0)), Some(GrabMode::Uniq));
    peer.send(0, NoJob, &[]);
    peer.expect(0, &[(PreSleep, &[])]);
    peer.send(0, Error, &[b"INVALID_COMMAND", b"whatever"]);
    peer.expect_silence(0);
    assert_eq!(peer.worker.grab_state(sid(0)), Some(GrabState::Asleep));
    assert!(peer.take_events().is_empty());
}

#[test]
fn results_are_sent_with_the_exact_handle() {
    let mut peer = Peer::connected(one("f"));
    peer.send(0, JobAssign, &[b"H:srv:7", b"f", b""]);
    let job = peer.take_job();
    peer.worker.work_data(job.id, b"part\0ial").unwrap();
    peer.worker.work_warning(job.id, b"careful").unwrap();
    peer.worker.work_status(job.id, 1, 4).unwrap();
    peer.worker.work_status(job.id, 0, u32::MAX).unwrap();
    peer.worker.work_exception(job.id, b"boom").unwrap();
    peer.drain();
    peer.expect(
        0,
        &[
            (WorkDataReq, &[b"H:srv:7", b"part\0ial"]),
            (WorkWarningReq, &[b"H:srv:7", b"careful"]),
            (WorkStatusReq, &[b"H:srv:7", b"1", b"4"]),
            (WorkStatusReq, &[b"H:srv:7", b"0", b"4294967295"]),
            (WorkExceptionReq, &[b"H:srv:7", b"boom"]),
            (GrabJobUniq, &[]),
        ],
    );
}

#[test]
fn a_second_end_and_unknown_ids_are_usage_errors() {
    let mut peer = Peer::connected(one("f"));
    peer.send(0, JobAssign, &[b"H:1", b"f", b""]);
    let job = peer.take_job();
    peer.worker.work_complete(job.id, b"").unwrap();
    assert_eq!(
        peer.worker.work_complete(job.id, b""),
        Err(WorkerError::JobEnded(job.id))
    );
    assert_eq!(
        peer.worker.work_fail(job.id),
        Err(WorkerError::JobEnded(job.id))
    );
    assert_eq!(
        peer.worker.work_data(job.id, b"x"),
        Err(WorkerError::JobEnded(job.id))
    );
    assert_eq!(
        peer.worker.work_fail(AssignmentId(99)),
        Err(WorkerError::UnknownJob(AssignmentId(99)))
    );
    peer.drain();
    peer.expect(0, &[(WorkCompleteReq, &[b"H:1", b""]), (GrabJobUniq, &[])]);
}

#[test]
fn a_job_for_a_withdrawn_function_is_failed_without_an_event() {
    let mut peer = Peer::connected(
        WorkerConfig::new(servers(1))
            .with_function("f")
            .with_function("g"),
    );
    peer.worker.cant_do(b"g");
    peer.drain();
    peer.expect(0, &[(CantDo, &[b"g"])]);
    peer.send(0, JobAssignUniq, &[b"H:9", b"g", b"", b"data"]);
    assert!(peer.take_events().is_empty());
    peer.expect(0, &[(WorkFailReq, &[b"H:9"]), (GrabJobUniq, &[])]);
    assert_eq!(peer.worker.running_jobs(), 0);
}

#[test]
fn lost_connection_reports_its_jobs_frees_their_slots_and_drops_late_results() {
    let mut peer = Peer::connected(
        WorkerConfig::new(servers(2))
            .with_function("f")
            .with_concurrency(3),
    );
    peer.send(0, JobAssign, &[b"H:1", b"f", b""]);
    peer.send(0, JobAssign, &[b"H:2", b"f", b""]);
    let jobs: Vec<AssignmentId> = peer
        .take_events()
        .into_iter()
        .map(|e| match e {
            WorkerEvent::JobAssigned(j) => j.id,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(jobs.len(), 2);
    assert_eq!(
        peer.worker.grabs_outstanding() + peer.worker.running_jobs(),
        3
    );
    peer.take_sent(1);
    peer.drop_conn(0);
    assert_eq!(
        peer.take_events(),
        [
            WorkerEvent::Disconnected { server: sid(0) },
            WorkerEvent::JobLost { id: jobs[0] },
            WorkerEvent::JobLost { id: jobs[1] },
        ]
    );
    assert_eq!(peer.worker.running_jobs(), 0);
    // Late results are dropped quietly, whatever their kind, and the end
    // may be reported once.
    peer.worker.work_data(jobs[0], b"late").unwrap();
    peer.worker.work_complete(jobs[0], b"late").unwrap();
    assert_eq!(
        peer.worker.work_complete(jobs[0], b""),
        Err(WorkerError::JobEnded(jobs[0]))
    );
    peer.worker.work_fail(jobs[1]).unwrap();
    peer.drain();
    // Server 1's grab was already outstanding; the freed slots have no idle
    // connection to go to until server 0 is back.
    peer.expect_silence(1);
    let at = peer.worker.poll_timeout().unwrap();
    peer.advance_to(at);
    let conn = peer.accept(0);
    let sent = peer.take_sent_conn(conn);
    let cmds: Vec<Command> = sent.iter().map(Packet::command).collect();
    assert_eq!(cmds, [CanDo, GrabJobUniq]);
}

#[test]
fn assignment_without_a_grab_closes_the_connection() {
    let mut peer = Peer::connected(one("f"));
    peer.send(0, NoJob, &[]);
    peer.expect(0, &[(PreSleep, &[])]);
    let conn = peer.conn(0);
    peer.send(0, JobAssign, &[b"H:1", b"f", b""]);
    assert_eq!(peer.closed, [conn]);
    assert_eq!(
        peer.take_events(),
        [WorkerEvent::Disconnected { server: sid(0) }]
    );
    assert_eq!(peer.worker.running_jobs(), 0);
    assert!(peer.worker.poll_timeout().is_some(), "reconnect scheduled");
}

#[test]
fn a_slot_freed_by_a_protocol_violation_is_used_elsewhere_at_once() {
    let mut peer = Peer::connected(WorkerConfig::new(servers(2)).with_function("f"));
    peer.send(0, JobAssign, &[b"H:1", b"f", b""]);
    let job = peer.take_job();
    peer.expect_silence(1);
    // A second assignment with no grab outstanding: server 0 is cut off, its
    // job is lost, and server 1 grabs with the freed slot.
    peer.send(0, JobAssign, &[b"H:2", b"f", b""]);
    assert_eq!(
        peer.take_events(),
        [
            WorkerEvent::Disconnected { server: sid(0) },
            WorkerEvent::JobLost { id: job.id }
        ]
    );
    peer.expect(1, &[(GrabJobUniq, &[])]);
}

#[test]
fn undecodable_input_closes_the_connection_and_reconnects() {
    let mut peer = Peer::connected(one("f"));
    let conn = peer.conn(0);
    peer.send_raw(0, b"\0RES\0\0\0\x63\0\0\0\0");
    assert_eq!(peer.closed, [conn]);
    assert_eq!(
        peer.take_events(),
        [WorkerEvent::Disconnected { server: sid(0) }]
    );
    let at = peer.worker.poll_timeout().unwrap();
    peer.advance_to(at);
    peer.accept(0);
    peer.expect(0, &[(CanDo, &[b"f"]), (GrabJobUniq, &[])]);
}

#[test]
fn oversized_packet_is_refused_before_it_is_buffered() {
    let mut peer = Peer::connected(one("f").with_max_packet_size(1024));
    let conn = peer.conn(0);
    peer.send_raw(0, b"\0RES\0\0\0\x0b\0\x01\0\0H:1\0f\0");
    assert_eq!(peer.closed, [conn]);
}

#[test]
fn input_split_byte_by_byte_gives_the_same_job() {
    let mut peer = Peer::connected(one("f"));
    let p = Packet::build(JobAssignUniq, &[b"H:1", b"f", b"u", b"payload"]).unwrap();
    let mut bytes = Vec::new();
    p.encode(&mut bytes);
    for b in &bytes {
        peer.send_raw(0, std::slice::from_ref(b));
    }
    let job = peer.take_job();
    assert_eq!(&job.payload[..], b"payload");
}

#[test]
fn other_packets_are_handed_to_the_caller() {
    let mut peer = Peer::connected(one("f"));
    let echo = Packet::build(EchoReq, &[b"ping"]).unwrap();
    peer.worker.send_raw(sid(0), &echo).unwrap();
    peer.drain();
    peer.expect(0, &[(EchoReq, &[b"ping"])]);
    peer.send(0, EchoRes, &[b"ping"]);
    assert_eq!(
        peer.take_events(),
        [WorkerEvent::Packet {
            server: sid(0),
            packet: Packet::build(EchoRes, &[b"ping"]).unwrap()
        }]
    );
    assert_eq!(
        peer.worker.grab_state(sid(0)),
        Some(GrabState::AwaitingGrabReply)
    );
    assert_eq!(
        peer.worker.send_raw(sid(5), &echo),
        Err(WorkerError::NotConnected(sid(5)))
    );
}

#[test]
fn graceful_shutdown_waits_for_running_jobs_then_closes() {
    let mut peer = Peer::connected(
        WorkerConfig::new(servers(2))
            .with_function("f")
            .with_concurrency(2),
    );
    peer.send(0, JobAssign, &[b"H:1", b"f", b""]);
    let job = peer.take_job();
    peer.send(1, NoJob, &[]);
    peer.expect(1, &[(PreSleep, &[])]);
    // Server 0 grabbed again (slot 2); shut down with that grab outstanding.
    peer.expect(0, &[(GrabJobUniq, &[])]);
    peer.worker.shutdown(peer.now);
    peer.drain();
    assert!(peer.worker.is_shutting_down());
    // The outstanding grab brings a job: it is reported and must finish too.
    peer.send(0, JobAssign, &[b"H:2", b"f", b""]);
    let late = peer.take_job();
    // NOOPs no longer make it grab.
    peer.send(1, Noop, &[]);
    peer.expect_silence(1);
    peer.worker.work_complete(job.id, b"a").unwrap();
    peer.drain();
    peer.expect(0, &[(WorkCompleteReq, &[b"H:1", b"a"])]);
    assert!(peer.take_events().is_empty());
    assert!(peer.closed.is_empty());
    let (c0, c1) = (peer.conn(0), peer.conn(1));
    peer.worker.work_complete(late.id, b"b").unwrap();
    peer.drain();
    assert_eq!(
        peer.take_sent_conn(c0).len(),
        1,
        "the result goes out before the close"
    );
    assert_eq!(peer.take_events(), [WorkerEvent::ShutdownComplete]);
    let mut closed = peer.closed.clone();
    closed.sort();
    assert_eq!(closed, [c0, c1]);
    assert_eq!(peer.worker.poll_timeout(), None);
}

#[test]
fn shutdown_with_nothing_running_completes_at_once_and_stops_reconnects() {
    let mut peer = Peer::new(WorkerConfig::new(servers(2)).with_function("f"));
    peer.accept(0);
    peer.refuse(1);
    peer.take_events();
    peer.take_sent(0);
    // Server 0 has a grab outstanding: answer it with NO_JOB during shutdown.
    peer.worker.shutdown(peer.now);
    peer.drain();
    assert!(peer.take_events().is_empty());
    let c0 = peer.conn(0);
    peer.send(0, NoJob, &[]);
    assert!(
        peer.take_sent_conn(c0).is_empty(),
        "no PRE_SLEEP while shutting down"
    );
    assert_eq!(peer.take_events(), [WorkerEvent::ShutdownComplete]);
    assert_eq!(peer.closed, [c0]);
    assert_eq!(peer.worker.poll_timeout(), None);
    peer.advance(Duration::from_secs(60));
    assert!(peer.pending_connects.is_empty());
}

#[test]
fn shutdown_closes_pending_connects_and_times_out_stuck_jobs() {
    let mut peer = Peer::new(
        WorkerConfig::new(servers(2))
            .with_function("f")
            .with_shutdown_timeout(Some(Duration::from_secs(10))),
    );
    peer.accept(0);
    let pending = peer.pending_connects[&1];
    peer.take_events();
    peer.send(0, JobAssign, &[b"H:1", b"f", b""]);
    let job = peer.take_job();
    peer.worker.shutdown(peer.now);
    peer.drain();
    assert_eq!(peer.closed, [pending]);
    assert_eq!(
        peer.worker.poll_timeout(),
        Some(peer.now + Duration::from_secs(10))
    );
    peer.advance(Duration::from_secs(10));
    assert_eq!(
        peer.take_events(),
        [
            WorkerEvent::Disconnected { server: sid(0) },
            WorkerEvent::JobLost { id: job.id },
            WorkerEvent::ShutdownComplete,
        ]
    );
    assert_eq!(peer.closed.len(), 2);
    // A late result is dropped quietly.
    peer.worker.work_complete(job.id, b"").unwrap();
}

#[test]
fn same_inputs_give_the_same_bytes() {
    let run = || {
        let mut peer = Peer::new(
            WorkerConfig::new(servers(3))
                .with_function("b")
                .with_function("a")
                .with_concurrency(2)
                .with_seed(3),
        );
        let mut log = Vec::new();
        for s in 0..3 {
            peer.accept(s);
        }
        peer.send(1, JobAssign, &[b"H:1", b"a", b""]);
        peer.drop_conn(1);
        for s in [0, 2] {
            log.extend(peer.take_sent(s));
        }
        (
            log,
            peer.take_events(),
            peer.worker.poll_timeout().unwrap() - peer.now,
        )
    };
    assert_eq!(run(), run());
}

#[test]
fn huge_configured_durations_do_not_overflow_the_clock() {
    let mut peer = Peer::new(
        one("f")
            .with_connect_timeout(Duration::MAX)
            .with_backoff(Duration::MAX, Duration::MAX)
            .with_grab_reply_timeout(Some(Duration::MAX))
            .with_shutdown_timeout(Some(Duration::MAX)),
    );
    assert!(peer.worker.poll_timeout().unwrap() > peer.now);
    peer.refuse(0);
    assert!(peer.worker.poll_timeout().unwrap() > peer.now);
    peer.advance(Duration::from_secs(3600));
    assert!(peer.pending_connects.is_empty());
    peer.worker.shutdown(peer.now);
    peer.drain();
    assert_eq!(peer.take_events(), [WorkerEvent::ShutdownComplete]);
}

#[test]
fn connect_action_names_the_configured_address() {
    let mut worker =
        Worker::new(WorkerConfig::new(["db:4730"]), std::time::Instant::now()).unwrap();
    match worker.poll_action() {
        Some(ConnAction::Connect { addr, .. }) => assert_eq!(addr, "db:4730"),
        other => panic!("{other:?}"),
    }
    assert_eq!(worker.poll_action(), None);
    assert_eq!(worker.server_addr(sid(0)), Some("db:4730"));
    assert!(!worker.is_connected(sid(0)));
}

/// Drives a worker with several connections per server by hand (the
/// scripted peer keys connections by address): opens every connection and
/// returns them as `(conn, address)` in the order asked for.
fn open_all(worker: &mut Worker, now: std::time::Instant) -> Vec<(gearman_proto::ConnId, String)> {
    let mut opened = Vec::new();
    while let Some(action) = worker.poll_action() {
        match action {
            ConnAction::Connect { conn, addr } => opened.push((conn, addr)),
            other => panic!("unexpected action {other:?}"),
        }
    }
    for (conn, _) in &opened {
        worker.handle_connected(*conn, now);
    }
    opened
}

/// Every packet the worker wrote, by connection.
fn sent_by_conn(
    worker: &mut Worker,
) -> std::collections::HashMap<gearman_proto::ConnId, Vec<Packet>> {
    let mut sent: std::collections::HashMap<_, Vec<Packet>> = Default::default();
    while let Some(t) = worker.poll_transmit() {
        let mut bytes = bytes::BytesMut::from(&t.data[..]);
        let mut decoder = gearman_proto::Decoder::new();
        while let Some(p) = decoder.decode_packet(&mut bytes).unwrap() {
            sent.entry(t.conn).or_default().push(p);
        }
        assert!(bytes.is_empty(), "whole packets only");
    }
    sent
}

fn reply(worker: &mut Worker, conn: gearman_proto::ConnId, command: Command, fields: &[&[u8]]) {
    let mut bytes = Vec::new();
    Packet::build(command, fields).unwrap().encode(&mut bytes);
    worker.handle_input(conn, &bytes, std::time::Instant::now());
}

#[test]
fn several_connections_per_server_each_register_and_share_the_concurrency_limit() {
    let now = std::time::Instant::now();
    let config = WorkerConfig::new(servers(2))
        .with_connections_per_server(3)
        .with_client_id("w")
        .with_function("f")
        .with_concurrency(4);
    let mut worker = Worker::new(config, now).unwrap();
    let opened = open_all(&mut worker, now);
    // Three connections to each address, alternating between servers.
    let addrs: Vec<&str> = opened.iter().map(|(_, a)| a.as_str()).collect();
    assert_eq!(
        addrs,
        [
            "gm0:4730", "gm1:4730", "gm0:4730", "gm1:4730", "gm0:4730", "gm1:4730"
        ]
    );
    assert_eq!(worker.connected_count(sid(0)), 3);
    assert_eq!(worker.connected_count(sid(1)), 3);
    let mut connected = Vec::new();
    while let Some(event) = worker.poll_event() {
        match event {
            WorkerEvent::Connected { server } => connected.push(server.0),
            other => panic!("unexpected event {other:?}"),
        }
    }
    assert_eq!(
        connected,
        [0, 1, 0, 1, 0, 1],
        "events name the configured server"
    );

    // Every connection registers the same client id and ability; only four
    // grab, one each, because the limit is four across all of them.
    let sent = sent_by_conn(&mut worker);
    let mut grabbing = Vec::new();
    for (conn, _) in &opened {
        let packets = &sent[conn];
        assert_eq!(packets[0].command(), SetClientId);
        assert_eq!(
            packets[0].field(gearman_proto::Field::ClientId),
            Some(&b"w"[..])
        );
        assert_eq!(packets[1].command(), CanDo);
        let grabs = packets[2..]
            .iter()
            .filter(|p| p.command() == GrabJobUniq)
            .count();
        assert!(grabs <= 1, "at most one grab per connection");
        if grabs == 1 {
            grabbing.push(*conn);
        }
    }
    assert_eq!(grabbing.len(), 4);
    assert_eq!(worker.grabs_outstanding(), 4);

    // Every grab brings a job: the limit is reached and nothing grabs more.
    let mut jobs = Vec::new();
    for (n, conn) in grabbing.iter().enumerate() {
        let handle = format!("H:{n}");
        reply(
            &mut worker,
            *conn,
            JobAssign,
            &[handle.as_bytes(), b"f", b""],
        );
        match worker.poll_event() {
            Some(WorkerEvent::JobAssigned(job)) => {
                let addr = &opened.iter().find(|(c, _)| c == conn).unwrap().1;
                assert_eq!(worker.server_addr(job.server), Some(addr.as_str()));
                jobs.push(job);
            }
            other => panic!("expected a job, got {other:?}"),
        }
    }
    assert_eq!(worker.running_jobs(), 4);
    assert!(
        sent_by_conn(&mut worker)
            .values()
            .flatten()
            .all(|p| p.command() != GrabJobUniq),
        "no grab beyond the limit"
    );

    // A finished job frees one slot: exactly one grab follows, on a
    // connection of either server.
    worker.work_complete(jobs[0].id, b"").unwrap();
    let sent = sent_by_conn(&mut worker);
    let grabs: usize = sent
        .values()
        .flatten()
        .filter(|p| p.command() == GrabJobUniq)
        .count();
    assert_eq!(grabs, 1);
    assert_eq!(worker.grabs_outstanding() + worker.running_jobs(), 4);

    // One connection drops: only its job is lost, the server's other
    // connections stay up.
    let dropped = grabbing[1];
    worker.handle_disconnected(dropped, now);
    let events: Vec<WorkerEvent> = std::iter::from_fn(|| worker.poll_event()).collect();
    assert_eq!(
        events,
        [
            WorkerEvent::Disconnected {
                server: jobs[1].server
            },
            WorkerEvent::JobLost { id: jobs[1].id },
        ]
    );
    assert_eq!(worker.connected_count(jobs[1].server), 2);
    assert!(worker.is_connected(jobs[1].server));
}

/// Records what `run_jobs` hands it.
#[derive(Default)]
struct Recorder {
    started: Vec<Bytes>,
    lost: Vec<AssignmentId>,
}

impl JobRunner for Recorder {
    fn start(&mut self, _worker: &mut Worker, assignment: Assignment) {
        self.started.push(assignment.payload().clone());
    }

    fn lost(&mut self, id: AssignmentId) {
        self.lost.push(id);
    }
}

#[test]
fn run_jobs_hands_a_failed_connect_to_the_hook_and_jobs_to_the_runner() {
    let mut peer = Peer::new(one("f"));
    let failed = Arc::new(Mutex::new(Vec::new()));
    let hook: ConnectFailedHook = {
        let failed = failed.clone();
        Arc::new(move |error: &ConnectError| failed.lock().unwrap().push(error.addr().to_owned()))
    };
    peer.worker.on_connect_failed(Some(hook));
    let mut runner = Recorder::default();
    let conn = peer.pending_connects.remove(&0).expect("connect pending");
    let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
    peer.worker
        .handle_connect_failed(conn, ConnectError::new("gm0:4730", refused), peer.now);
    assert!(!peer.worker.run_jobs(&mut runner));
    assert_eq!(*failed.lock().unwrap(), ["gm0:4730"]);

    let at = peer.worker.poll_timeout().expect("retry scheduled");
    peer.advance_to(at);
    let conn = peer.accept(0);
    let assign = Packet::build(JobAssign, &[b"H:1", b"f", b"data"]).unwrap();
    let mut bytes = Vec::new();
    assign.encode(&mut bytes);
    peer.worker.handle_input(conn, &bytes, peer.now);
    assert!(!peer.worker.run_jobs(&mut runner));
    assert_eq!(runner.started, [Bytes::from_static(b"data")]);
    peer.worker.handle_disconnected(conn, peer.now);
    assert!(!peer.worker.run_jobs(&mut runner));
    assert_eq!(runner.lost.len(), 1);

    peer.worker.shutdown(peer.now);
    // The end waits for the last output to be taken.
    while peer.worker.poll_transmit().is_some() {}
    while peer.worker.poll_action().is_some() {}
    assert!(peer.worker.run_jobs(&mut runner), "shutdown complete");
    assert_eq!(failed.lock().unwrap().len(), 1);
}

#[test]
fn apply_sends_updates_and_ends_and_only_logs_a_refused_report() {
    let mut peer = Peer::connected(one("f"));
    peer.send(0, JobAssign, &[b"H:1", b"f", b""]);
    let job = peer.take_job();
    let now = peer.now;
    let part = WorkUpdate::Data(Bytes::from_static(b"part"));
    peer.worker.apply(WorkerCommand::Update(job.id, part), now);
    let done = Ok(Bytes::from_static(b"done"));
    peer.worker.apply(WorkerCommand::Done(job.id, done), now);
    // A second end is refused by the core: logged, not sent.
    peer.worker
        .apply(WorkerCommand::Done(job.id, Err(WorkError::Fail)), now);
    peer.drain();
    peer.expect(
        0,
        &[
            (WorkDataReq, &[b"H:1", b"part"]),
            (WorkCompleteReq, &[b"H:1", b"done"]),
            (GrabJobUniq, &[]),
        ],
    );
    // Shutting down, the worker waits for its grab's reply.
    peer.worker.apply(WorkerCommand::Shutdown, now);
    peer.send(0, NoJob, &[]);
    assert_eq!(peer.take_events(), [WorkerEvent::ShutdownComplete]);
}

// The handler table is the run loop's, the worker's abilities the core's:
// a job of a function the table lacks is failed at once, not left to hang.
#[test]
fn a_job_whose_function_has_no_handler_is_failed() {
    use gearman_proto::worker::Handlers;

    let mut peer = Peer::connected(one("f"));
    peer.send(0, JobAssignUniq, &[b"H:s:1", b"f", b"u1", b"payload"]);
    let job = peer.take_job();
    let handlers: Handlers<()> = std::iter::empty().collect();
    assert_eq!(handlers.for_job(&mut peer.worker, &job), None);
    peer.drain();
    peer.expect(0, &[(WorkFailReq, &[b"H:s:1"]), (GrabJobUniq, &[])]);

    let handlers: Handlers<&str> = [(Bytes::from_static(b"f"), "handler")]
        .into_iter()
        .collect();
    peer.send(0, JobAssignUniq, &[b"H:s:2", b"f", b"u2", b"payload"]);
    let job = peer.take_job();
    assert_eq!(handlers.for_job(&mut peer.worker, &job), Some("handler"));
    peer.drain();
    peer.expect_silence(0);
}
