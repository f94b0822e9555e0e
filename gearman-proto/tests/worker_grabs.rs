//! Several grabs outstanding on one worker connection: the worker against a
//! scripted job server, every packet asserted exactly, time simulated.

mod worker_support;

use std::time::Duration;

use gearman_proto::Command::*;
use gearman_proto::worker::{GrabMode, GrabState, WorkerConfig, WorkerEvent};
use worker_support::{Peer, servers, sid};

const UNIQ: (gearman_proto::Command, &[&[u8]]) = (GrabJobUniq, &[]);

fn limit(jobs: usize) -> WorkerConfig {
    WorkerConfig::new(servers(1))
        .with_function("f")
        .with_concurrency(jobs)
}

fn busy(peer: &Peer) -> usize {
    peer.worker.grabs_outstanding() + peer.worker.running_jobs()
}

#[test]
fn grabs_outstanding_double_every_round_trip_until_the_slots_are_full() {
    let mut peer = Peer::connected(limit(8));
    // One grab until the server shows it has work for this form.
    peer.expect_silence(0);
    assert_eq!(peer.worker.grabs_outstanding(), 1);
    peer.send(0, JobAssignUniq, &[b"H:0", b"f", b"u", b""]);
    let first = peer.take_job();
    peer.expect(0, &[UNIQ, UNIQ]);
    assert_eq!(
        peer.worker.grab_state(sid(0)),
        Some(GrabState::AwaitingGrabReply)
    );
    // Replies come in order, one per grab; each job brings at most two
    // grabs (its own slot's and one more), and never past the limit.
    let mut handles = 0;
    while peer.worker.grabs_outstanding() > 0 {
        handles += 1;
        let handle = format!("H:{handles}");
        peer.send(0, JobAssign, &[handle.as_bytes(), b"f", b""]);
        assert_eq!(peer.take_job().handle, handle.as_bytes());
        let grabs = peer.take_sent(0);
        assert!(
            grabs.iter().all(|p| p.command() == GrabJobUniq),
            "{grabs:?}"
        );
        assert!(grabs.len() <= 2, "{} grabs for one job", grabs.len());
        assert!(busy(&peer) <= 8);
    }
    assert_eq!(peer.worker.running_jobs(), 8);
    assert_eq!(peer.worker.grab_state(sid(0)), Some(GrabState::Idle));
    peer.worker.work_complete(first.id, b"").unwrap();
    peer.drain();
    peer.expect(0, &[(WorkCompleteReq, &[b"H:0", b""]), UNIQ]);
}

#[test]
fn one_grab_per_connection_when_configured() {
    let mut peer = Peer::connected(limit(4).with_grabs_per_connection(1));
    peer.send(0, JobAssign, &[b"H:1", b"f", b""]);
    peer.take_job();
    peer.expect(0, &[UNIQ]);
    peer.send(0, JobAssign, &[b"H:2", b"f", b""]);
    peer.take_job();
    peer.expect(0, &[UNIQ]);
    assert_eq!(peer.worker.grabs_outstanding(), 1);
}

#[test]
fn no_job_among_several_grabs_sleeps_after_the_last_reply_and_adds_no_grab() {
    let mut peer = Peer::connected(limit(6));
    peer.send(0, JobAssign, &[b"H:1", b"f", b""]);
    peer.expect(0, &[UNIQ, UNIQ]);
    peer.send(0, NoJob, &[]);
    // Slots are free, but the queue was empty: no grab joins the one left,
    // and no PRE_SLEEP while it is unanswered.
    peer.expect_silence(0);
    assert_eq!(peer.worker.grabs_outstanding(), 1);
    assert_eq!(
        peer.worker.grab_state(sid(0)),
        Some(GrabState::AwaitingGrabReply)
    );
    peer.send(0, JobAssign, &[b"H:2", b"f", b""]);
    peer.expect(0, &[(PreSleep, &[])]);
    assert_eq!(peer.worker.grab_state(sid(0)), Some(GrabState::Asleep));
    assert_eq!(peer.worker.running_jobs(), 2);
    // Woken, it may send half as many grabs as before it slept (3 / 2).
    peer.send(0, Noop, &[]);
    peer.expect(0, &[UNIQ]);
}

#[test]
fn a_worker_woken_for_one_job_sends_three_grabs_whatever_its_free_slots() {
    let mut peer = Peer::connected(limit(64));
    peer.send(0, NoJob, &[]);
    peer.expect(0, &[(PreSleep, &[])]);
    peer.send(0, Noop, &[]);
    peer.expect(0, &[UNIQ]);
    peer.send(0, JobAssign, &[b"H:1", b"f", b""]);
    peer.expect(0, &[UNIQ, UNIQ]);
    peer.send(0, NoJob, &[]);
    peer.send(0, NoJob, &[]);
    peer.expect(0, &[(PreSleep, &[])]);
    assert_eq!(busy(&peer), 1);
}

#[test]
fn noop_while_grabs_are_outstanding_adds_none_beyond_free_slots() {
    let mut peer = Peer::connected(limit(3));
    peer.send(0, JobAssign, &[b"H:1", b"f", b""]);
    let first = peer.take_job();
    peer.expect(0, &[UNIQ, UNIQ]);
    for _ in 0..5 {
        peer.send(0, Noop, &[]);
    }
    peer.expect_silence(0);
    assert_eq!(peer.worker.grabs_outstanding(), 2);
    peer.send(0, JobAssign, &[b"H:2", b"f", b""]);
    peer.take_job();
    peer.expect_silence(0);
    // A slot frees while a grab is outstanding: one more joins it.
    peer.worker.work_complete(first.id, b"").unwrap();
    peer.drain();
    peer.expect(0, &[(WorkCompleteReq, &[b"H:1", b""]), UNIQ]);
    assert_eq!(peer.worker.grabs_outstanding(), 2);
    assert_eq!(busy(&peer), 3);
}

#[test]
fn a_disconnect_with_grabs_outstanding_frees_their_slots() {
    let mut peer = Peer::connected(
        WorkerConfig::new(servers(2))
            .with_function("f")
            .with_concurrency(4),
    );
    // Server 1 has not answered yet: its one grab waits alone.
    peer.send(0, JobAssign, &[b"H:1", b"f", b""]);
    let job = peer.take_job();
    peer.expect(0, &[UNIQ, UNIQ]);
    peer.expect_silence(1);
    assert_eq!(busy(&peer), 4);
    peer.drop_conn(0);
    assert_eq!(
        peer.take_events(),
        [
            WorkerEvent::Disconnected { server: sid(0) },
            WorkerEvent::JobLost { id: job.id },
        ]
    );
    assert_eq!(peer.worker.grabs_outstanding(), 1);
    assert_eq!(peer.worker.running_jobs(), 0);
    // Server 1's jobs let it take the slots server 0 held.
    peer.send(1, JobAssign, &[b"H:a", b"f", b""]);
    peer.take_job();
    peer.expect(1, &[UNIQ, UNIQ]);
    peer.send(1, JobAssign, &[b"H:b", b"f", b""]);
    peer.take_job();
    peer.expect(1, &[UNIQ]);
    assert_eq!(busy(&peer), 4);
    // Server 0 comes back with one grab until its form is answered again.
    let at = peer.worker.poll_timeout().unwrap();
    peer.advance_to(at);
    peer.accept(0);
    peer.expect(0, &[(CanDo, &[b"f"])]);
}

#[test]
fn an_error_among_several_grabs_counts_as_no_job() {
    let mut peer = Peer::connected(limit(3).with_grab(GrabMode::All));
    peer.send(0, JobAssignAll, &[b"H:1", b"f", b"", b"", b""]);
    peer.take_job();
    peer.expect(0, &[(GrabJobAll, &[]), (GrabJobAll, &[])]);
    peer.send(0, Error, &[b"ERR", b"busy"]);
    peer.expect_silence(0);
    assert_eq!(peer.worker.grab_mode(sid(0)), Some(GrabMode::All));
    assert_eq!(peer.worker.grabs_outstanding(), 1);
    peer.send(0, NoJob, &[]);
    peer.expect(0, &[(PreSleep, &[])]);
    assert_eq!(peer.worker.grab_state(sid(0)), Some(GrabState::Asleep));
}

#[test]
fn several_grabs_unanswered_past_the_timeout_close_the_connection() {
    let timeout = Duration::from_secs(5);
    let mut peer = Peer::connected(limit(4).with_grab_reply_timeout(Some(timeout)));
    let conn = peer.conn(0);
    peer.send(0, JobAssign, &[b"H:1", b"f", b""]);
    let first = peer.take_job();
    peer.expect(0, &[UNIQ, UNIQ]);
    peer.advance(timeout - Duration::from_millis(1));
    peer.send(0, JobAssign, &[b"H:2", b"f", b""]);
    let second = peer.take_job();
    peer.expect(0, &[UNIQ]);
    // A reply gives the next grab a full timeout; a grab joining the
    // others does not extend it.
    peer.advance(timeout - Duration::from_millis(1));
    assert!(peer.closed.is_empty());
    assert_eq!(peer.worker.grabs_outstanding(), 2);
    peer.advance(Duration::from_millis(1));
    assert_eq!(peer.closed, [conn]);
    assert_eq!(
        peer.take_events(),
        [
            WorkerEvent::Disconnected { server: sid(0) },
            WorkerEvent::JobLost { id: first.id },
            WorkerEvent::JobLost { id: second.id },
        ]
    );
    assert_eq!(busy(&peer), 0);
}

#[test]
fn shutdown_takes_the_jobs_several_grabs_bring_and_then_stops() {
    let mut peer = Peer::connected(limit(3));
    peer.send(0, JobAssign, &[b"H:1", b"f", b""]);
    let first = peer.take_job();
    peer.expect(0, &[UNIQ, UNIQ]);
    peer.worker.shutdown(peer.now);
    peer.drain();
    peer.send(0, JobAssign, &[b"H:2", b"f", b""]);
    let second = peer.take_job();
    peer.send(0, NoJob, &[]);
    // No PRE_SLEEP and no grab while shutting down.
    peer.expect_silence(0);
    assert_eq!(peer.worker.grab_state(sid(0)), Some(GrabState::Idle));
    peer.worker.work_complete(first.id, b"").unwrap();
    peer.worker.work_complete(second.id, b"").unwrap();
    peer.drain();
    assert_eq!(peer.take_events(), [WorkerEvent::ShutdownComplete]);
}

#[test]
fn a_connection_wakes_with_half_the_grabs_it_had_before_sleeping() {
    let mut peer = Peer::connected(limit(8));
    peer.send(0, JobAssign, &[b"H:1", b"f", b""]);
    peer.expect(0, &[UNIQ, UNIQ]);
    // Each job answers one grab and lets two more go out.
    peer.send(0, JobAssign, &[b"H:2", b"f", b""]);
    peer.expect(0, &[UNIQ, UNIQ]);
    peer.send(0, JobAssign, &[b"H:3", b"f", b""]);
    peer.expect(0, &[UNIQ, UNIQ]);
    assert_eq!(peer.worker.grabs_outstanding(), 4);
    for _ in 0..3 {
        peer.send(0, NoJob, &[]);
    }
    peer.expect_silence(0);
    peer.send(0, NoJob, &[]);
    peer.expect(0, &[(PreSleep, &[])]);
    peer.send(0, Noop, &[]);
    peer.expect(0, &[UNIQ, UNIQ]);
}

/// A worker with one slot whose speculative grab after a job found the
/// queue empty: it now sleeps first.
fn sleeping_first() -> Peer {
    let mut peer = Peer::connected(limit(1));
    peer.send(0, JobAssign, &[b"H:1", b"f", b""]);
    let job = peer.take_job();
    peer.worker.work_complete(job.id, b"").unwrap();
    peer.drain();
    peer.expect(0, &[(WorkCompleteReq, &[b"H:1", b""]), UNIQ]);
    peer.send(0, NoJob, &[]);
    peer.expect(0, &[(PreSleep, &[])]);
    peer
}

/// Wakes the worker, assigns `handle` and completes it; returns what the
/// completion sent after WORK_COMPLETE.
fn noop_job_complete(peer: &mut Peer, handle: &[u8]) -> Vec<gearman_proto::Command> {
    peer.send(0, Noop, &[]);
    peer.expect(0, &[UNIQ]);
    peer.send(0, JobAssign, &[handle, b"f", b""]);
    let job = peer.take_job();
    peer.worker.work_complete(job.id, b"").unwrap();
    peer.drain();
    let sent = peer.take_sent(0);
    assert_eq!(sent[0].command(), WorkCompleteReq);
    sent[1..].iter().map(|p| p.command()).collect()
}

#[test]
fn a_lone_job_after_an_empty_queue_sends_pre_sleep_with_its_completion() {
    let mut peer = sleeping_first();
    assert_eq!(noop_job_complete(&mut peer, b"H:2"), [PreSleep]);
    assert_eq!(peer.worker.grab_state(sid(0)), Some(GrabState::Asleep));
    assert_eq!(busy(&peer), 0);
    // Every few jobs a grab still goes out in its place, to find a backlog.
    assert_eq!(noop_job_complete(&mut peer, b"H:3"), [PreSleep]);
    assert_eq!(noop_job_complete(&mut peer, b"H:4"), [PreSleep]);
    assert_eq!(noop_job_complete(&mut peer, b"H:5"), [GrabJobUniq]);
    // The probe found the queue empty: sleeping first goes on.
    peer.send(0, NoJob, &[]);
    peer.expect(0, &[(PreSleep, &[])]);
    assert_eq!(noop_job_complete(&mut peer, b"H:6"), [PreSleep]);
}

#[test]
fn a_probe_grab_that_gets_a_job_stops_sleeping_first() {
    let mut peer = sleeping_first();
    for handle in [b"H:2", b"H:3", b"H:4"] {
        assert_eq!(noop_job_complete(&mut peer, handle), [PreSleep]);
    }
    assert_eq!(noop_job_complete(&mut peer, b"H:5"), [GrabJobUniq]);
    // A backlog: the probe gets a job, so the next free slot grabs.
    peer.send(0, JobAssign, &[b"H:6", b"f", b""]);
    let job = peer.take_job();
    peer.worker.work_complete(job.id, b"").unwrap();
    peer.drain();
    peer.expect(0, &[(WorkCompleteReq, &[b"H:6", b""]), UNIQ]);
    peer.send(0, JobAssign, &[b"H:7", b"f", b""]);
    let job = peer.take_job();
    peer.worker.work_complete(job.id, b"").unwrap();
    peer.drain();
    peer.expect(0, &[(WorkCompleteReq, &[b"H:7", b""]), UNIQ]);
}

#[test]
fn a_noop_always_leads_to_a_grab_even_when_sleeping_first() {
    let mut peer = sleeping_first();
    // The grab after a NOOP is never replaced, whatever it gets.
    for _ in 0..3 {
        peer.send(0, Noop, &[]);
        peer.expect(0, &[UNIQ]);
        peer.send(0, NoJob, &[]);
        peer.expect(0, &[(PreSleep, &[])]);
    }
    assert_eq!(noop_job_complete(&mut peer, b"H:2"), [PreSleep]);
}

#[test]
fn with_another_job_running_a_free_slot_grabs_even_when_the_queue_was_empty() {
    let mut peer = Peer::connected(limit(2));
    peer.send(0, JobAssign, &[b"H:1", b"f", b""]);
    let first = peer.take_job();
    peer.expect(0, &[UNIQ]);
    // That speculative grab finds the queue empty.
    peer.send(0, NoJob, &[]);
    peer.expect(0, &[(PreSleep, &[])]);
    peer.send(0, Noop, &[]);
    peer.expect(0, &[UNIQ]);
    peer.send(0, JobAssign, &[b"H:2", b"f", b""]);
    peer.take_job();
    peer.worker.work_complete(first.id, b"").unwrap();
    peer.drain();
    peer.expect(0, &[(WorkCompleteReq, &[b"H:1", b""]), UNIQ]);
}
