//! The cluster simulation with scripted raw-packet clients and workers:
//! many connections, split and merged writes, latency, crashes and
//! simulated time, all through the server's `Endpoint` interface.

mod sim;

use std::time::Duration;

use gearman_proto::Command;
use gearman_proto::server::ServerConfig;
use sim::net::{Net, NetConfig, NodeId};
use sim::peers::{RawPeer, ScriptClient, ScriptWorker};

const ADDR: &str = "jobs:4730";

fn net(config: NetConfig) -> Net {
    Net::new(ADDR, ServerConfig::new("sim"), config)
}

fn choppy(seed: u64) -> NetConfig {
    NetConfig {
        latency: Duration::from_millis(1),
        split_writes: true,
        max_piece: 5,
        merge_writes: true,
        seed,
    }
}

fn reversed(data: &[u8]) -> Vec<u8> {
    data.iter().rev().copied().collect()
}

#[test]
fn a_thousand_jobs_across_four_workers_and_three_clients() {
    for config in [NetConfig::default(), choppy(7), choppy(99)] {
        let mut net = net(config);
        let workers: Vec<NodeId> = (0..4)
            .map(|i| {
                net.add(ScriptWorker::new(
                    ADDR,
                    &[("reverse", None), ("upper", None)],
                    Duration::from_millis(1 + i),
                ))
            })
            .collect();
        let clients: Vec<NodeId> = (0..3).map(|_| net.add(ScriptClient::new(ADDR))).collect();
        let priorities = [
            Command::SubmitJob,
            Command::SubmitJobHigh,
            Command::SubmitJobLow,
            Command::SubmitJobBg,
        ];
        for n in 0..1000 {
            let client = clients[n % 3];
            let command = priorities[n % priorities.len()];
            let function = if n % 2 == 0 { "reverse" } else { "upper" };
            net.node::<ScriptClient>(client).submit(
                command,
                function,
                "",
                format!("job-{n}").as_bytes(),
            );
        }
        let done = net.run_until(Duration::from_secs(60), |net| {
            net.server.job_count() == 0
                && clients
                    .iter()
                    .all(|&c| net.node::<ScriptClient>(c).all_acknowledged())
        });
        assert!(done, "all jobs ran");
        net.run_for(Duration::from_millis(10));
        let mut finished = 0;
        for &w in &workers {
            let worker = net.node::<ScriptWorker>(w);
            assert!(worker.errors.is_empty(), "{:?}", worker.errors);
            assert!(!worker.finished.is_empty(), "every worker got work");
            finished += worker.finished.len();
        }
        assert_eq!(finished, 1000, "each job ran exactly once");
        for &c in &clients {
            let client = net.node::<ScriptClient>(c);
            assert!(client.all_foreground_done());
            for job in &client.jobs {
                let handle = job.handle.clone().expect("acknowledged");
                let terminals = client.terminals(&handle);
                if job.background() {
                    assert!(terminals.is_empty());
                } else {
                    assert_eq!(
                        terminals,
                        vec![(Command::WorkCompleteRes, reversed(&job.payload).into())]
                    );
                }
            }
        }
        let stats = net.server.stats();
        assert_eq!(stats.jobs_created, 1000);
        assert_eq!(stats.jobs_completed, 1000);
    }
}

#[test]
fn workers_are_woken_from_sleep_and_updates_are_forwarded() {
    let mut net = net(choppy(3));
    let workers: Vec<NodeId> = (0..20)
        .map(|_| {
            net.add(ScriptWorker::new(
                ADDR,
                &[("f", None)],
                Duration::from_millis(5),
            ))
        })
        .collect();
    assert!(net.run_until(Duration::from_secs(1), |net| {
        workers
            .iter()
            .all(|&w| net.node::<ScriptWorker>(w).is_sleeping())
    }));
    let client = net.add(ScriptClient::new(ADDR));
    net.node::<ScriptClient>(client)
        .submit(Command::SubmitJob, "f", "", b"status!");
    assert!(net.run_until(Duration::from_secs(1), |net| {
        net.node::<ScriptClient>(client).all_foreground_done()
    }));
    let c = net.node::<ScriptClient>(client);
    let handle = c.jobs[0].handle.clone().unwrap();
    assert_eq!(
        c.updates[&handle],
        vec![
            (Command::WorkStatusRes, "1\x002".into()),
            (Command::WorkDataRes, "partial".into()),
            (Command::WorkCompleteRes, "!sutats".into()),
        ]
    );
    let woken = workers
        .iter()
        .filter(|&&w| net.node::<ScriptWorker>(w).noops > 0)
        .count();
    assert_eq!(woken, 20, "every sleeping worker got a NOOP");
    net.run_for(Duration::from_millis(50));
    assert!(
        workers
            .iter()
            .all(|&w| net.node::<ScriptWorker>(w).is_sleeping())
    );
}

#[test]
fn a_crashed_worker_s_job_runs_on_another_worker() {
    let mut net = net(choppy(11));
    let slow = net.add(ScriptWorker::new(
        ADDR,
        &[("f", None)],
        Duration::from_secs(10),
    ));
    let client = net.add(ScriptClient::new(ADDR));
    net.run_for(Duration::from_millis(10));
    net.node::<ScriptClient>(client)
        .submit(Command::SubmitJob, "f", "", b"abc");
    assert!(net.run_until(Duration::from_secs(1), |net| {
        net.node::<ScriptWorker>(slow).is_working()
    }));
    let backup = net.add(ScriptWorker::new(
        ADDR,
        &[("f", None)],
        Duration::from_millis(1),
    ));
    net.run_for(Duration::from_millis(10));
    net.cut(slow);
    assert!(net.run_until(Duration::from_secs(1), |net| {
        net.node::<ScriptClient>(client).all_foreground_done()
    }));
    let c = net.node::<ScriptClient>(client);
    let handle = c.jobs[0].handle.clone().unwrap();
    assert_eq!(
        c.terminals(&handle),
        vec![(Command::WorkCompleteRes, "cba".into())]
    );
    assert_eq!(net.node::<ScriptWorker>(backup).finished, vec![handle]);
    assert_eq!(net.server.stats().jobs_requeued, 1);
}

#[test]
fn retry_limit_ends_a_job_that_keeps_killing_workers() {
    let mut config = ServerConfig::new("sim");
    config.job_retries = 3;
    let mut net = Net::new(ADDR, config, NetConfig::default());
    let client = net.add(ScriptClient::new(ADDR));
    net.node::<ScriptClient>(client)
        .submit(Command::SubmitJob, "f", "", b"poison");
    for _ in 0..3 {
        let w = net.add(ScriptWorker::new(
            ADDR,
            &[("f", None)],
            Duration::from_secs(10),
        ));
        assert!(net.run_until(Duration::from_secs(1), |net| {
            net.node::<ScriptWorker>(w).is_working()
        }));
        net.cut(w);
    }
    assert!(net.run_until(Duration::from_secs(1), |net| {
        net.node::<ScriptClient>(client).all_foreground_done()
    }));
    let c = net.node::<ScriptClient>(client);
    let handle = c.jobs[0].handle.clone().unwrap();
    assert_eq!(
        c.terminals(&handle),
        vec![(Command::WorkFailRes, "".into())]
    );
    assert_eq!(net.server.job_count(), 0);
}

#[test]
fn a_crashed_client_s_queued_jobs_are_dropped_and_background_ones_kept() {
    let mut net = net(choppy(5));
    let client = net.add(ScriptClient::new(ADDR));
    for n in 0..10 {
        let command = if n < 5 {
            Command::SubmitJob
        } else {
            Command::SubmitJobBg
        };
        net.node::<ScriptClient>(client)
            .submit(command, "f", "", format!("{n}").as_bytes());
    }
    assert!(net.run_until(Duration::from_secs(1), |net| {
        net.node::<ScriptClient>(client).all_acknowledged()
    }));
    net.cut(client);
    let worker = net.add(ScriptWorker::new(
        ADDR,
        &[("f", None)],
        Duration::from_millis(1),
    ));
    assert!(net.run_until(Duration::from_secs(1), |net| net.server.job_count() == 0));
    let w = net.node::<ScriptWorker>(worker);
    assert_eq!(w.finished.len(), 5, "only the background jobs ran");
    assert_eq!(net.server.stats().jobs_discarded, 5);
}

#[test]
fn can_do_timeout_moves_an_overrunning_job_to_another_worker() {
    let mut net = net(choppy(13));
    let stuck = net.add(ScriptWorker::new(
        ADDR,
        &[("f", Some(2000))],
        Duration::from_secs(3600),
    ));
    let client = net.add(ScriptClient::new(ADDR));
    net.node::<ScriptClient>(client)
        .submit(Command::SubmitJob, "f", "", b"xyz");
    assert!(net.run_until(Duration::from_secs(1), |net| {
        net.node::<ScriptWorker>(stuck).is_working()
    }));
    let started = net.elapsed();
    let helper = net.add(ScriptWorker::new(
        ADDR,
        &[("f", None)],
        Duration::from_millis(1),
    ));
    assert!(net.run_until(Duration::from_secs(10), |net| {
        net.node::<ScriptClient>(client).all_foreground_done()
    }));
    assert!(net.elapsed() - started >= Duration::from_secs(2));
    assert!(net.elapsed() - started < Duration::from_secs(3));
    let handle = net.node::<ScriptClient>(client).jobs[0]
        .handle
        .clone()
        .unwrap();
    assert_eq!(net.node::<ScriptWorker>(helper).finished, vec![handle]);
}

#[test]
fn scheduled_jobs_run_at_their_epoch_and_wake_a_sleeping_worker() {
    let mut net = net(NetConfig::default());
    let now = net.now;
    net.server
        .set_wall_clock(Duration::from_secs(1_700_000_000), now);
    let worker = net.add(ScriptWorker::new(ADDR, &[("f", None)], Duration::ZERO));
    let client = net.add(ScriptClient::new(ADDR));
    net.node::<ScriptClient>(client)
        .submit_epoch("f", 1_700_000_060, b"later");
    net.node::<ScriptClient>(client)
        .submit(Command::SubmitJobBg, "f", "", b"now");
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.node::<ScriptWorker>(worker).finished.len(), 1);
    assert!(net.node::<ScriptWorker>(worker).is_sleeping());
    assert!(net.run_until(Duration::from_secs(120), |net| net.server.job_count() == 0));
    let elapsed = net.elapsed();
    assert!(
        elapsed >= Duration::from_secs(60) && elapsed < Duration::from_secs(61),
        "{elapsed:?}"
    );
    assert_eq!(net.node::<ScriptWorker>(worker).finished.len(), 2);
}

#[test]
fn coalesced_submits_from_many_clients_run_once() {
    let mut net = net(choppy(17));
    let clients: Vec<NodeId> = (0..5).map(|_| net.add(ScriptClient::new(ADDR))).collect();
    for &c in &clients {
        net.node::<ScriptClient>(c)
            .submit(Command::SubmitJob, "f", "same-key", b"payload");
    }
    net.run_for(Duration::from_millis(50));
    let worker = net.add(ScriptWorker::new(
        ADDR,
        &[("f", None)],
        Duration::from_millis(1),
    ));
    assert!(net.run_until(Duration::from_secs(1), |net| {
        clients
            .iter()
            .all(|&c| net.node::<ScriptClient>(c).all_foreground_done())
    }));
    assert_eq!(net.node::<ScriptWorker>(worker).finished.len(), 1);
    for &c in &clients {
        let client = net.node::<ScriptClient>(c);
        let handle = client.jobs[0].handle.clone().unwrap();
        assert_eq!(handle, "H:sim:1");
        assert_eq!(client.terminals(&handle).len(), 1);
    }
}

#[test]
fn priorities_decide_the_order_workers_see() {
    let mut net = net(choppy(19));
    let client = net.add(ScriptClient::new(ADDR));
    let order = [
        (Command::SubmitJobLowBg, "low"),
        (Command::SubmitJobBg, "normal1"),
        (Command::SubmitJobHighBg, "high1"),
        (Command::SubmitJobBg, "normal2"),
        (Command::SubmitJobHighBg, "high2"),
    ];
    for (command, name) in order {
        net.node::<ScriptClient>(client)
            .submit(command, "f", name, b"");
    }
    assert!(net.run_until(Duration::from_secs(1), |net| {
        net.node::<ScriptClient>(client).all_acknowledged()
    }));
    let worker = net.add(ScriptWorker::new(ADDR, &[("f", None)], Duration::ZERO));
    assert!(net.run_until(Duration::from_secs(1), |net| net.server.job_count() == 0));
    let uniques: Vec<_> = net
        .node::<ScriptWorker>(worker)
        .assigned
        .iter()
        .map(|(_, u)| u.clone())
        .collect();
    assert_eq!(uniques, ["high1", "high2", "normal1", "normal2", "low"]);
}

#[test]
fn maxqueue_and_admin_status_through_the_net() {
    let mut net = net(choppy(23));
    let admin = net.add(RawPeer::new(ADDR));
    let client = net.add(ScriptClient::new(ADDR));
    net.node::<RawPeer>(admin).admin("create function f\r\n");
    net.node::<RawPeer>(admin).admin("maxqueue f 3\r\n");
    net.run_for(Duration::from_millis(20));
    for n in 0..5 {
        net.node::<ScriptClient>(client).submit(
            Command::SubmitJobBg,
            "f",
            "",
            format!("{n}").as_bytes(),
        );
    }
    net.run_for(Duration::from_millis(20));
    net.node::<RawPeer>(admin).admin("status\n");
    net.run_for(Duration::from_millis(20));
    let c = net.node::<ScriptClient>(client);
    let refused: Vec<bytes::Bytes> = c.jobs.iter().filter_map(|j| j.error.clone()).collect();
    assert_eq!(refused, ["QUEUE_ERROR\0Job queue is full"; 2]);
    assert_eq!(
        net.node::<RawPeer>(admin).lines,
        vec!["OK", "OK", "f\t3\t0\t0", "."]
    );
}

#[test]
fn a_connection_sending_garbage_does_not_disturb_the_others() {
    let mut net = net(choppy(29));
    let worker = net.add(ScriptWorker::new(
        ADDR,
        &[("f", None)],
        Duration::from_millis(2),
    ));
    let client = net.add(ScriptClient::new(ADDR));
    let evil = net.add(RawPeer::new(ADDR));
    for n in 0..50 {
        net.node::<ScriptClient>(client).submit(
            Command::SubmitJob,
            "f",
            "",
            format!("{n}").as_bytes(),
        );
    }
    net.node::<RawPeer>(evil)
        .wire
        .send_raw(b"\0REQ\0\0\0\x07\xff\xff\xff\xffjunk");
    assert!(net.run_until(Duration::from_secs(5), |net| {
        net.node::<ScriptClient>(client).all_foreground_done()
    }));
    assert!(net.node::<RawPeer>(evil).wire.disconnected);
    assert_eq!(net.node::<ScriptWorker>(worker).finished.len(), 50);
    assert_eq!(net.server.stats().connections_rejected, 1);
}
