//! The cluster simulation with the crate's own clients and workers: every
//! byte goes through the embedded server over in-memory links with latency,
//! split and merged writes, crashes and simulated time.

mod sim;

use std::time::Duration;

use bytes::Bytes;
use gearman_proto::Priority;
use gearman_proto::client::{ClientConfig, ClientError, ClientEvent, JobRequest};
use gearman_proto::server::ServerConfig;
use gearman_proto::worker::WorkerConfig;
use sim::net::{Net, NetConfig, NodeId};
use sim::nodes::{SimClient, SimWorker};
use sim::peers::RawPeer;

const ADDR: &str = "jobs:4730";

fn choppy(seed: u64) -> NetConfig {
    NetConfig {
        latency: Duration::from_millis(1),
        split_writes: true,
        max_piece: 9,
        merge_writes: true,
        seed,
    }
}

fn net(config: NetConfig) -> Net {
    Net::new(ADDR, ServerConfig::new("sim"), config)
}

fn client_config(seed: u64) -> ClientConfig {
    ClientConfig::new([ADDR]).with_seed(seed)
}

fn add_worker(net: &mut Net, config: WorkerConfig, work_time: Duration) -> NodeId {
    let now = net.now;
    net.add(SimWorker::new(config, work_time, now))
}

fn submit(net: &mut Net, client: NodeId, request: JobRequest) -> gearman_proto::client::JobId {
    let now = net.now;
    net.node::<SimClient>(client)
        .client
        .submit(request, now)
        .expect("valid request")
}

fn reversed(data: &[u8]) -> Bytes {
    data.iter().rev().copied().collect::<Vec<u8>>().into()
}

/// Every job of `client` has ended (one terminal event each).
fn all_ended(net: &mut Net, client: NodeId) -> bool {
    net.node::<SimClient>(client).client.active_jobs() == 0
}

#[test]
fn a_thousand_jobs_across_workers_and_clients() {
    for (round, config) in [NetConfig::default(), choppy(3), choppy(41)]
        .into_iter()
        .enumerate()
    {
        let mut net = net(config);
        let workers: Vec<NodeId> = (0..4)
            .map(|i| {
                let config = WorkerConfig::new([ADDR])
                    .with_function("reverse")
                    .with_function("echo")
                    .with_concurrency(1 + i % 3)
                    .with_seed(i as u64);
                add_worker(&mut net, config, Duration::from_millis(1 + i as u64))
            })
            .collect();
        let clients: Vec<NodeId> = (0..3)
            .map(|i| net.add(SimClient::new(client_config(100 + i))))
            .collect();
        let mut expected = Vec::new();
        for n in 0..1000usize {
            let client = clients[n % 3];
            let payload = Bytes::from(format!("job-{round}-{n}"));
            let priority = [Priority::High, Priority::Normal, Priority::Low][n % 3];
            let function = if n % 2 == 0 { "reverse" } else { "echo" };
            let mut request = JobRequest::new(function, payload.clone()).with_priority(priority);
            if n % 5 == 0 {
                request = request.in_background();
            }
            let job = submit(&mut net, client, request);
            expected.push((client, job, payload, n % 5 == 0));
        }
        let done = net.run_until(Duration::from_secs(120), |net| {
            clients.iter().all(|&c| all_ended(net, c)) && net.server.job_count() == 0
        });
        assert!(done, "every job ended");
        let mut ran = 0;
        for &w in &workers {
            let worker = net.node::<SimWorker>(w);
            assert!(!worker.finished.is_empty(), "every worker took part");
            assert!(worker.lost.is_empty());
            ran += worker.finished.len();
        }
        assert_eq!(ran, 1000, "each job ran exactly once");
        let mut terminals: Vec<_> = clients
            .iter()
            .map(|&c| net.node::<SimClient>(c).terminals())
            .collect();
        for (client, job, payload, background) in expected {
            let index = clients.iter().position(|&c| c == client).unwrap();
            let events = terminals[index].remove(&job).expect("a terminal event");
            assert_eq!(events.len(), 1, "exactly one end per job");
            match &events[0] {
                ClientEvent::Created {
                    background: true, ..
                } => assert!(background),
                ClientEvent::Complete { data, .. } => {
                    assert!(!background);
                    assert_eq!(data, &reversed(&payload));
                }
                other => panic!("unexpected end {other:?}"),
            }
        }
        assert_eq!(net.server.stats().jobs_completed, 1000);
    }
}

#[test]
fn updates_exceptions_and_failures_reach_the_client() {
    let mut net = net(choppy(5));
    add_worker(
        &mut net,
        WorkerConfig::new([ADDR]).with_function("f"),
        Duration::from_millis(2),
    );
    let plain = net.add(SimClient::new(client_config(1).with_exceptions(false)));
    let opted = net.add(SimClient::new(client_config(2).with_exceptions(true)));
    let status = submit(&mut net, plain, JobRequest::new("f", "status"));
    let failing = submit(&mut net, plain, JobRequest::new("f", "fail"));
    let broken = submit(&mut net, plain, JobRequest::new("f", "exception"));
    let broken_opted = submit(&mut net, opted, JobRequest::new("f", "exception"));
    assert!(
        net.run_until(Duration::from_secs(5), |net| all_ended(net, plain)
            && all_ended(net, opted))
    );
    let events = &net.node::<SimClient>(plain).events;
    let of = |job| {
        events
            .iter()
            .filter(move |e| e.job() == Some(job))
            .cloned()
            .collect::<Vec<_>>()
    };
    let status_events = of(status);
    assert!(matches!(status_events[0], ClientEvent::Created { .. }));
    assert_eq!(
        status_events[1..],
        [
            ClientEvent::Status {
                job: status,
                numerator: 1,
                denominator: 2
            },
            ClientEvent::Data {
                job: status,
                data: "partial".into()
            },
            ClientEvent::Complete {
                job: status,
                data: "sutats".into()
            },
        ]
    );
    assert_eq!(
        of(failing).last(),
        Some(&ClientEvent::Failed { job: failing })
    );
    assert_eq!(
        of(broken).last(),
        Some(&ClientEvent::Failed { job: broken })
    );
    let opted_events = &net.node::<SimClient>(opted).events;
    assert_eq!(
        opted_events.last(),
        Some(&ClientEvent::Exception {
            job: broken_opted,
            data: "it broke".into()
        })
    );
}

#[test]
fn coalesced_jobs_run_once_for_many_clients() {
    let mut net = net(choppy(9));
    let clients: Vec<NodeId> = (0..5)
        .map(|i| net.add(SimClient::new(client_config(i))))
        .collect();
    let jobs: Vec<_> = clients
        .iter()
        .map(|&c| {
            submit(
                &mut net,
                c,
                JobRequest::new("f", "payload").with_unique("key"),
            )
        })
        .collect();
    net.run_for(Duration::from_millis(50));
    let worker = add_worker(
        &mut net,
        WorkerConfig::new([ADDR]).with_function("f"),
        Duration::from_millis(1),
    );
    assert!(net.run_until(Duration::from_secs(5), |net| {
        clients.iter().all(|&c| all_ended(net, c))
    }));
    assert_eq!(net.node::<SimWorker>(worker).finished.len(), 1);
    for (&c, &job) in clients.iter().zip(&jobs) {
        let terminals = net.node::<SimClient>(c).terminals();
        assert_eq!(
            terminals[&job],
            vec![ClientEvent::Complete {
                job,
                data: "daolyap".into()
            }]
        );
    }
}

#[test]
fn a_crashed_worker_s_job_is_run_again_and_reported_once() {
    let mut net = net(choppy(13));
    let client = net.add(SimClient::new(client_config(1)));
    let crashing = add_worker(
        &mut net,
        WorkerConfig::new([ADDR]).with_function("f"),
        Duration::from_secs(60),
    );
    let job = submit(&mut net, client, JobRequest::new("f", "abc"));
    assert!(net.run_until(
        Duration::from_secs(1),
        |net| net.node::<SimWorker>(crashing).busy() == 1
    ));
    let healthy = add_worker(
        &mut net,
        WorkerConfig::new([ADDR]).with_function("f"),
        Duration::from_millis(1),
    );
    net.run_for(Duration::from_millis(20));
    net.cut(crashing);
    assert!(net.run_until(Duration::from_secs(5), |net| all_ended(net, client)));
    assert_eq!(
        net.node::<SimClient>(client).terminals()[&job],
        vec![ClientEvent::Complete {
            job,
            data: "cba".into()
        }]
    );
    assert_eq!(net.node::<SimWorker>(crashing).lost.len(), 1);
    assert_eq!(
        net.node::<SimWorker>(healthy).finished,
        vec![Bytes::from("abc")]
    );
    assert_eq!(net.server.stats().jobs_requeued, 1);
}

#[test]
fn a_crashed_client_s_foreground_jobs_are_dropped_background_ones_run() {
    let mut net = net(choppy(17));
    let client = net.add(SimClient::new(client_config(1)));
    for n in 0..6 {
        let mut request = JobRequest::new("f", format!("job{n}"));
        if n % 2 == 0 {
            request = request.in_background();
        }
        submit(&mut net, client, request);
    }
    assert!(net.run_until(Duration::from_secs(1), |net| net.server.job_count() == 6));
    net.run_for(Duration::from_millis(10));
    net.cut(client);
    let ended_with_error = net
        .node::<SimClient>(client)
        .events
        .iter()
        .filter(|e| {
            matches!(
                e,
                ClientEvent::JobError {
                    error: ClientError::Disconnected { acknowledged: true },
                    ..
                }
            )
        })
        .count();
    assert_eq!(
        ended_with_error, 3,
        "the caller is told, nothing is replayed"
    );
    let worker = add_worker(
        &mut net,
        WorkerConfig::new([ADDR]).with_function("f"),
        Duration::from_millis(1),
    );
    assert!(net.run_until(Duration::from_secs(5), |net| net.server.job_count() == 0));
    let mut ran = net.node::<SimWorker>(worker).finished.clone();
    ran.sort();
    assert_eq!(ran, vec![Bytes::from("job0"), "job2".into(), "job4".into()]);
}

#[test]
fn can_do_timeout_hands_an_overrunning_job_to_another_worker() {
    let mut net = net(choppy(19));
    let client = net.add(SimClient::new(client_config(1)));
    let stuck = add_worker(
        &mut net,
        WorkerConfig::new([ADDR]).with_function_timeout("f", Duration::from_secs(2)),
        Duration::from_secs(3600),
    );
    let job = submit(&mut net, client, JobRequest::new("f", "abc"));
    assert!(net.run_until(
        Duration::from_secs(1),
        |net| net.node::<SimWorker>(stuck).busy() == 1
    ));
    let started = net.elapsed();
    let helper = add_worker(
        &mut net,
        WorkerConfig::new([ADDR]).with_function("f"),
        Duration::from_millis(1),
    );
    assert!(net.run_until(Duration::from_secs(10), |net| all_ended(net, client)));
    let took = net.elapsed() - started;
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert_eq!(
        net.node::<SimWorker>(helper).finished,
        vec![Bytes::from("abc")]
    );
    assert_eq!(
        net.node::<SimClient>(client).terminals()[&job],
        vec![ClientEvent::Complete {
            job,
            data: "cba".into()
        }]
    );
}

#[test]
fn an_epoch_job_wakes_a_sleeping_worker_at_its_time() {
    let mut net = net(NetConfig::default());
    let now = net.now;
    net.server
        .set_wall_clock(Duration::from_secs(1_800_000_000), now);
    let worker = add_worker(
        &mut net,
        WorkerConfig::new([ADDR]).with_function("f"),
        Duration::ZERO,
    );
    let client = net.add(SimClient::new(client_config(1)));
    submit(
        &mut net,
        client,
        JobRequest::new("f", "later").at_epoch(1_800_000_030),
    );
    assert!(net.run_until(Duration::from_secs(1), |net| all_ended(net, client)));
    net.run_for(Duration::from_secs(29));
    assert!(net.node::<SimWorker>(worker).finished.is_empty());
    assert!(net.run_until(Duration::from_secs(5), |net| net.server.job_count() == 0));
    let elapsed = net.elapsed();
    assert!(
        elapsed >= Duration::from_secs(30) && elapsed < Duration::from_secs(31),
        "{elapsed:?}"
    );
    assert_eq!(
        net.node::<SimWorker>(worker).finished,
        vec![Bytes::from("later")]
    );
}

#[test]
fn many_sleeping_workers_are_woken_and_the_job_runs_once() {
    let mut net = net(choppy(23));
    let workers: Vec<NodeId> = (0..30)
        .map(|i| {
            add_worker(
                &mut net,
                WorkerConfig::new([ADDR]).with_function("f").with_seed(i),
                Duration::from_millis(1),
            )
        })
        .collect();
    net.run_for(Duration::from_millis(100));
    let client = net.add(SimClient::new(client_config(1)));
    for n in 0..10 {
        submit(&mut net, client, JobRequest::new("f", format!("{n}")));
    }
    assert!(net.run_until(Duration::from_secs(5), |net| all_ended(net, client)));
    let ran: usize = workers
        .iter()
        .map(|&w| net.node::<SimWorker>(w).finished.len())
        .sum();
    assert_eq!(ran, 10);
    let woke = workers
        .iter()
        .filter(|&&w| !net.node::<SimWorker>(w).assigned.is_empty())
        .count();
    assert!(woke > 1, "work spread over woken workers ({woke})");
}

#[test]
fn priorities_and_status_queries_through_the_client() {
    let mut net = net(choppy(29));
    let client = net.add(SimClient::new(client_config(1)));
    for (name, priority) in [
        ("low", Priority::Low),
        ("normal", Priority::Normal),
        ("high", Priority::High),
    ] {
        submit(
            &mut net,
            client,
            JobRequest::new("f", name)
                .with_priority(priority)
                .in_background(),
        );
    }
    assert!(net.run_until(Duration::from_secs(1), |net| net.server.job_count() == 3));
    let worker = add_worker(
        &mut net,
        WorkerConfig::new([ADDR])
            .with_function("f")
            .with_concurrency(1),
        Duration::from_millis(1),
    );
    assert!(net.run_until(Duration::from_secs(2), |net| net.server.job_count() == 0));
    assert_eq!(
        net.node::<SimWorker>(worker).finished,
        vec![Bytes::from("high"), "normal".into(), "low".into()]
    );
    let slow = submit(
        &mut net,
        client,
        JobRequest::new("g", "slow").with_unique("watch-me"),
    );
    let slow_worker = add_worker(
        &mut net,
        WorkerConfig::new([ADDR]).with_function("g"),
        Duration::ZERO,
    );
    net.node::<SimWorker>(slow_worker).slow_time = Duration::from_secs(5);
    assert!(net.run_until(
        Duration::from_secs(1),
        |net| net.node::<SimWorker>(slow_worker).busy() == 1
    ));
    let now = net.now;
    let request = net
        .node::<SimClient>(client)
        .client
        .get_status_unique("watch-me", now)
        .unwrap();
    net.run_for(Duration::from_millis(50));
    let answer = net
        .node::<SimClient>(client)
        .events
        .iter()
        .find_map(|e| match e {
            ClientEvent::StatusUniqueResult { request: r, status } if *r == request => {
                Some(status.clone())
            }
            _ => None,
        })
        .expect("a status answer");
    assert!(answer.known && answer.running);
    assert_eq!(answer.waiting_clients, 1);
    assert!(net.run_until(Duration::from_secs(10), |net| all_ended(net, client)));
    assert!(matches!(
        net.node::<SimClient>(client).terminals()[&slow][..],
        [ClientEvent::Complete { .. }]
    ));
}

#[test]
fn admin_status_sees_the_cluster_and_maxqueue_refuses_submits() {
    let mut net = net(choppy(31));
    let admin = net.add(RawPeer::new(ADDR));
    add_worker(
        &mut net,
        WorkerConfig::new([ADDR]).with_function("busy"),
        Duration::from_secs(100),
    );
    let client = net.add(SimClient::new(client_config(1)));
    // maxqueue applies to functions the server already knows.
    net.run_for(Duration::from_millis(20));
    net.node::<RawPeer>(admin).admin("maxqueue busy 2\r\n");
    net.run_for(Duration::from_millis(20));
    let jobs: Vec<_> = (0..3)
        .map(|n| submit(&mut net, client, JobRequest::new("busy", format!("{n}"))))
        .collect();
    net.run_for(Duration::from_millis(50));
    net.node::<RawPeer>(admin).admin("status\n");
    net.run_for(Duration::from_millis(20));
    assert_eq!(
        net.node::<RawPeer>(admin).lines,
        vec!["OK", "busy\t2\t1\t1", "."]
    );
    let terminals = net.node::<SimClient>(client).terminals();
    assert!(
        matches!(
            terminals[&jobs[2]][..],
            [ClientEvent::JobError {
                error: ClientError::ServerError { .. },
                ..
            }]
        ),
        "{:?}",
        terminals.get(&jobs[2])
    );
}
