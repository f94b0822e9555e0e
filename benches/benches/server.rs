//! The embedded job server's submit → assign → complete cycle, in memory:
//! request bytes in, reply bytes out, no sockets. Criterion reports jobs per
//! second (throughput); a summary line per case adds the best-of-samples
//! time and the allocations per job.

use std::alloc::System;
use std::hint::black_box;
use std::time::{Duration, Instant};

use benches::alloc_count::{INSTRUMENTED_SYSTEM, StatsAlloc, allocations_per_op};
use benches::best_time::best_ns_per_op;
use criterion::{BenchmarkId, Criterion, Throughput};
use gearman_proto::server::{Server, ServerConfig};
use gearman_proto::{Command, ConnId, encode_fields};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// One client and one worker connected to a server, with reusable buffers.
struct Cycle {
    server: Server,
    client: ConnId,
    worker: ConnId,
    now: Instant,
    submits: Vec<u8>,
    grabs: Vec<u8>,
    completes: Vec<u8>,
    assigned: Vec<u8>,
    reply_bytes: usize,
}

impl Cycle {
    fn new(batch: usize, background: bool) -> Cycle {
        let now = Instant::now();
        let mut server = Server::new(ServerConfig::new("bench"));
        let client = server.accept("127.0.0.1:1", now);
        let worker = server.accept("127.0.0.1:2", now);
        let mut can_do = Vec::new();
        encode_fields(&mut can_do, Command::CanDo, &[b"reverse"]).unwrap();
        server.handle_input(worker, &can_do, now);
        let submit = if background {
            Command::SubmitJobBg
        } else {
            Command::SubmitJob
        };
        let mut submits = Vec::new();
        let mut grabs = Vec::new();
        for _ in 0..batch {
            encode_fields(&mut submits, submit, &[b"reverse", b"", b"test"]).unwrap();
            encode_fields(&mut grabs, Command::GrabJob, &[]).unwrap();
        }
        Cycle {
            server,
            client,
            worker,
            now,
            submits,
            grabs,
            completes: Vec::with_capacity(batch * 40),
            assigned: Vec::with_capacity(batch * 40),
            reply_bytes: 0,
        }
    }

    fn drain(&mut self, keep_worker: bool) {
        while let Some(t) = self.server.poll_transmit() {
            self.reply_bytes += t.data.len();
            if keep_worker && t.conn == self.worker {
                self.assigned.extend_from_slice(&t.data);
            }
        }
    }

    /// Submits a batch, grabs it, completes it: one pass through the server.
    fn run_batch(&mut self) {
        self.server
            .handle_input(self.client, &self.submits, self.now);
        self.drain(false);
        self.assigned.clear();
        self.server.handle_input(self.worker, &self.grabs, self.now);
        self.drain(true);
        // Answer every JOB_ASSIGN with WORK_COMPLETE, as a worker would.
        self.completes.clear();
        let mut rest = &self.assigned[..];
        while rest.len() >= 12 {
            let size = u32::from_be_bytes([rest[8], rest[9], rest[10], rest[11]]) as usize;
            let payload = &rest[12..12 + size];
            let end = payload
                .iter()
                .position(|&b| b == 0)
                .unwrap_or(payload.len());
            encode_fields(
                &mut self.completes,
                Command::WorkCompleteReq,
                &[&payload[..end], b"tset"],
            )
            .unwrap();
            rest = &rest[12 + size..];
        }
        self.server
            .handle_input(self.worker, &self.completes, self.now);
        self.drain(false);
        debug_assert_eq!(self.server.job_count(), 0);
    }
}

/// Best-of-samples time and allocations per job, as one summary line.
#[allow(clippy::print_stdout, reason = "the summary is the bench's output")]
fn report(batch: usize, background: bool) {
    let mut cycle = Cycle::new(batch, background);
    let rounds = (20_000 / batch) as u64;
    let allocations = allocations_per_op(GLOBAL, rounds, || cycle.run_batch()) / batch as f64;
    let ns = best_ns_per_op(20, (2_000 / batch) as u32, || cycle.run_batch()) / batch as f64;
    println!(
        "server {}/batch {batch}: {ns:.0} ns/job best of 20 = {:.2} M jobs/s; {allocations:.2} allocations/job",
        if background {
            "background"
        } else {
            "foreground"
        },
        1_000.0 / ns
    );
}

fn submit_assign_complete(c: &mut Criterion) {
    let mut group = c.benchmark_group("server_submit_assign_complete");
    for (batch, background) in [(1, false), (100, false), (100, true)] {
        report(batch, background);
        let name = if background {
            "background"
        } else {
            "foreground"
        };
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_with_input(BenchmarkId::new(name, batch), &batch, |b, &batch| {
            let mut cycle = Cycle::new(batch, background);
            b.iter(|| {
                cycle.run_batch();
                black_box(cycle.reply_bytes);
            });
        });
    }
    group.finish();
}

fn main() {
    let mut criterion = Criterion::default()
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    submit_assign_complete(&mut criterion);
    criterion.final_summary();
}
