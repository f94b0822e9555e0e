//! The client state machine submitting and completing jobs against a
//! scripted in-memory server: submits out, JOB_CREATED and WORK_COMPLETE in,
//! events drained. No sockets. Reports time per job (criterion's throughput)
//! and allocations per job (printed once per case).

use std::alloc::System;
use std::hint::black_box;
use std::time::{Duration, Instant};

use benches::alloc_count::{INSTRUMENTED_SYSTEM, StatsAlloc, allocations_per_op};
use criterion::{BenchmarkId, Criterion, Throughput};
use gearman_proto::client::{Client, ClientConfig, ClientEvent, JobRequest};
use gearman_proto::{Command, ConnAction, ConnId, Endpoint, encode_fields};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// A client connected to one scripted server whose replies are prepared once.
struct Session {
    client: Client,
    conn: ConnId,
    now: Instant,
    batch: usize,
    background: bool,
    /// JOB_CREATED for every job of a batch, then (foreground) WORK_COMPLETE.
    replies: Vec<u8>,
    sent_bytes: usize,
}

impl Session {
    fn new(batch: usize, background: bool) -> Session {
        let now = Instant::now();
        // The scripted replies answer submits only, not the exceptions option.
        let config = ClientConfig::new(["bench:4730"])
            .with_seed(7)
            .with_exceptions(false);
        let mut client = Client::new(config).expect("valid config");
        // Open the connection with a first job, answered like the others.
        let mut session_replies = Vec::new();
        let mut handles = Vec::new();
        for i in 0..batch {
            handles.push(format!("H:bench:{i}"));
        }
        for h in &handles {
            encode_fields(&mut session_replies, Command::JobCreated, &[h.as_bytes()]).unwrap();
        }
        if !background {
            for h in &handles {
                encode_fields(
                    &mut session_replies,
                    Command::WorkCompleteRes,
                    &[h.as_bytes(), b"tset"],
                )
                .unwrap();
            }
        }
        let probe = client
            .submit(JobRequest::new("reverse", "test"), now)
            .unwrap();
        let Some(ConnAction::Connect { conn, .. }) = client.poll_action() else {
            panic!("the first submit opens a connection");
        };
        client.handle_connected(conn, now);
        client.forget(probe);
        let mut session = Session {
            client,
            conn,
            now,
            batch,
            background,
            replies: session_replies,
            sent_bytes: 0,
        };
        // Answer the probe's submit so the reply FIFO starts empty.
        let mut created = Vec::new();
        encode_fields(&mut created, Command::JobCreated, &[b"H:bench:probe"]).unwrap();
        session.client.handle_input(conn, &created, now);
        session.drain();
        session
    }

    fn drain(&mut self) -> usize {
        while let Some(t) = self.client.poll_transmit() {
            self.sent_bytes += t.data.len();
        }
        let mut ends = 0;
        while let Some(event) = self.client.poll_event() {
            ends += usize::from(event.is_terminal());
            black_box(&event);
            if let ClientEvent::JobError { .. } = event {
                panic!("unexpected error event: {event:?}");
            }
        }
        ends
    }

    /// Submits a batch and feeds the server's answers back.
    fn run_batch(&mut self) {
        let mut request = JobRequest::new("reverse", "test");
        if self.background {
            request = request.in_background();
        }
        for _ in 0..self.batch {
            self.client.submit(request.clone(), self.now).unwrap();
        }
        self.drain();
        self.client.handle_input(self.conn, &self.replies, self.now);
        let ends = self.drain();
        debug_assert_eq!(ends, self.batch);
        debug_assert_eq!(self.client.active_jobs(), 0);
    }
}

#[allow(
    clippy::print_stdout,
    reason = "the allocation figure is the bench's output"
)]
fn report_allocations(batch: usize, background: bool) {
    let mut session = Session::new(batch, background);
    let rounds = 2_000 / batch.max(1) as u64 + 10;
    let per_job = allocations_per_op(GLOBAL, rounds, || session.run_batch()) / batch as f64;
    println!(
        "client/{}/batch {batch}: {per_job:.2} allocations per job",
        mode(background)
    );
}

fn mode(background: bool) -> &'static str {
    if background {
        "background"
    } else {
        "foreground"
    }
}

fn submit_complete(c: &mut Criterion) {
    let mut group = c.benchmark_group("client_submit_complete");
    for (batch, background) in [(1, false), (100, false), (100, true)] {
        report_allocations(batch, background);
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_with_input(
            BenchmarkId::new(mode(background), batch),
            &batch,
            |b, &batch| {
                let mut session = Session::new(batch, background);
                b.iter(|| {
                    session.run_batch();
                    black_box(session.sent_bytes);
                });
            },
        );
    }
    group.finish();
}

fn main() {
    let mut criterion = Criterion::default()
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    submit_complete(&mut criterion);
    criterion.final_summary();
}
