//! The worker state machine's grab / assign / complete cycle against a
//! scripted in-memory job server: JOB_ASSIGN_UNIQ in, JobAssigned out,
//! WORK_COMPLETE and the next grab written. No sockets. Reports time per job
//! (criterion's throughput) and allocations per job (printed once per case).
//!
//! Cases: `cycle/1` runs one job at a time (concurrency 1: assign, complete,
//! grab); `pipelined/16` lets sixteen jobs run at once on one connection
//! (each assignment is followed by the next grab, then all sixteen complete).

use std::alloc::System;
use std::hint::black_box;
use std::time::Instant;

use benches::alloc_count::{INSTRUMENTED_SYSTEM, StatsAlloc, allocations_per_op};
use criterion::{BenchmarkId, Criterion, Throughput};
use gearman_proto::worker::{Worker, WorkerConfig, WorkerEvent};
use gearman_proto::{Command, ConnAction, ConnId, encode_fields};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// A worker connected to one scripted server, with a grab outstanding.
struct Session {
    worker: Worker,
    conn: ConnId,
    now: Instant,
    concurrency: usize,
    /// One JOB_ASSIGN_UNIQ, prepared once.
    assign: Vec<u8>,
    sent_bytes: usize,
}

impl Session {
    fn new(concurrency: usize) -> Session {
        let now = Instant::now();
        let config = WorkerConfig::new(["bench:4730"])
            .with_function("reverse")
            .with_concurrency(concurrency);
        let mut worker = Worker::new(config, now).expect("valid config");
        let conn = match worker.poll_action() {
            Some(ConnAction::Connect { conn, .. }) => conn,
            other => panic!("expected a connect, got {other:?}"),
        };
        worker.handle_connected(conn, now);
        let mut assign = Vec::new();
        encode_fields(
            &mut assign,
            Command::JobAssignUniq,
            &[b"H:lap:1", b"reverse", b"unique-1", b"test payload"],
        )
        .expect("valid packet");
        let mut session = Session {
            worker,
            conn,
            now,
            concurrency,
            assign,
            sent_bytes: 0,
        };
        session.flush();
        session
    }

    /// Takes every transmit, as a driver would write them.
    fn flush(&mut self) {
        while let Some(t) = self.worker.poll_transmit() {
            self.sent_bytes += t.data.len();
            black_box(t);
        }
    }

    /// Runs `concurrency` jobs: assign each (the worker grabs again while a
    /// slot is free), then complete them all.
    fn run_batch(&mut self, ids: &mut Vec<gearman_proto::worker::AssignmentId>) {
        ids.clear();
        for _ in 0..self.concurrency {
            self.worker.handle_input(self.conn, &self.assign, self.now);
            while let Some(event) = self.worker.poll_event() {
                if let WorkerEvent::JobAssigned(job) = event {
                    ids.push(job.id);
                }
            }
            self.flush();
        }
        assert_eq!(ids.len(), self.concurrency, "every grab got its job");
        for &id in ids.iter() {
            self.worker
                .work_complete(id, b"daolyap tset")
                .expect("running job");
        }
        self.flush();
    }
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("worker");
    for (name, concurrency) in [("cycle", 1usize), ("pipelined", 16)] {
        let mut session = Session::new(concurrency);
        let mut ids = Vec::with_capacity(concurrency);
        // Allocations per job in the steady state, after a warm-up.
        let per_job =
            allocations_per_op(GLOBAL, 10_000, || session.run_batch(&mut ids)) / concurrency as f64;
        // Criterion prints to stdout too; this is a report, not a log.
        #[allow(clippy::print_stdout)]
        {
            println!("worker/{name}/{concurrency}: {per_job:.2} allocations per job");
        }
        group.throughput(Throughput::Elements(concurrency as u64));
        group.bench_function(BenchmarkId::new(name, concurrency), |b| {
            b.iter(|| session.run_batch(&mut ids))
        });
        black_box(session.sent_bytes);
    }
    group.finish();
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    bench(&mut criterion);
    criterion.final_summary();
}
