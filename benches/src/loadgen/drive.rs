//! The two kinds of run, written once over any adapter: keep C jobs in
//! flight until N have ended, or hold C jobs in flight and measure memory.

use std::future::Future;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use gearman_proto::admin::StatusRow;

use crate::args::Args;
use crate::cpu;
use crate::memory;
use crate::progress::Progress;
use crate::stats::Recorder;

/// What a run found: the summary (or memory) line, and whether every job
/// ended as it should.
pub struct Finished {
    /// The line to print.
    pub line: String,
    /// Every job ended with its echo (or was queued, in the background).
    pub all_correct: bool,
}

/// The jobs in flight. One is polled directly: a `FuturesUnordered` wakes
/// its own task again whenever it has polled every future it holds, which
/// with one future is a spurious wake-up per job (a cross-thread one on a
/// multi-threaded runtime), a cost of this load and not of the library.
enum InFlight<F> {
    One(Option<Pin<Box<F>>>),
    Many(FuturesUnordered<F>),
}

impl<F: Future> InFlight<F> {
    fn new(concurrency: usize) -> Self {
        if concurrency == 1 {
            InFlight::One(None)
        } else {
            InFlight::Many(FuturesUnordered::new())
        }
    }

    fn len(&self) -> usize {
        match self {
            InFlight::One(job) => usize::from(job.is_some()),
            InFlight::Many(jobs) => jobs.len(),
        }
    }

    fn push(&mut self, job: F) {
        match self {
            InFlight::One(slot) => {
                assert!(slot.is_none(), "one job in flight at a time");
                *slot = Some(Box::pin(job));
            }
            InFlight::Many(jobs) => jobs.push(job),
        }
    }

    /// The next job to end, or `None` when none is in flight.
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<F::Output>> {
        match self {
            InFlight::One(slot) => match slot {
                None => Poll::Ready(None),
                Some(job) => {
                    let ended = std::task::ready!(job.as_mut().poll(cx));
                    *slot = None;
                    Poll::Ready(Some(ended))
                }
            },
            InFlight::Many(jobs) => jobs.poll_next_unpin(cx),
        }
    }
}

/// Submits `args.jobs` jobs keeping `args.concurrency` in flight.
/// `submit(index)` sends job `index` at once and returns a future of whether
/// it ended correctly; `give_up` ends the run early when it completes.
pub async fn throughput<S, J>(
    args: &Args,
    label: &str,
    mut submit: S,
    give_up: impl Future<Output = ()>,
) -> Finished
where
    S: FnMut(u64) -> J,
    J: Future<Output = bool>,
{
    let progress = Progress::new(args.jobs);
    let mut recorder = Recorder::new();
    let mut in_flight = InFlight::new(args.concurrency);
    let mut start = |index: u64| {
        let submitted = Instant::now();
        let job = submit(index);
        async move { (submitted, job.await) }
    };
    let started = Instant::now();
    let cpu_before = cpu::used();
    let mut next = 0;
    while next < args.jobs && in_flight.len() < args.concurrency {
        in_flight.push(start(next));
        next += 1;
    }
    let mut give_up = pin!(give_up);
    let mut timed_out = false;
    loop {
        let ended = std::future::poll_fn(|cx| {
            if give_up.as_mut().poll(cx).is_ready() {
                return Poll::Ready(None);
            }
            in_flight.poll_next(cx).map(Some)
        })
        .await;
        let (submitted, correct) = match ended {
            Some(Some(ended)) => ended,
            Some(None) => break,
            None => {
                timed_out = true;
                break;
            }
        };
        recorder.record(submitted.elapsed(), correct);
        progress.finished(recorder.count());
        if next < args.jobs {
            in_flight.push(start(next));
            next += 1;
        }
    }
    let elapsed = started.elapsed();
    let cpu_spent = cpu::used()
        .zip(cpu_before)
        .map(|(after, before)| after - before);
    progress.done();
    let line = throughput_line(args, label, &recorder, elapsed, cpu_spent, timed_out);
    Finished {
        all_correct: !timed_out && recorder.wrong == 0 && recorder.count() == args.jobs,
        line,
    }
}

/// The summary line of a throughput run: rates and latencies, the load's
/// shape, the CPU spent per job, and whether the run gave up early.
pub fn throughput_line(
    args: &Args,
    label: &str,
    recorder: &Recorder,
    elapsed: Duration,
    cpu_spent: Option<Duration>,
    timed_out: bool,
) -> String {
    let mut line = recorder.summary(label, elapsed).to_string();
    line.push_str(&format!(
        " concurrency={} payload={}",
        args.concurrency, args.payload
    ));
    line.push_str(&cpu::per_job(cpu_spent, recorder.count()));
    if timed_out {
        line.push_str(&format!(" (gave up after {}s)", args.time_limit));
    }
    line
}

/// The server's `status` row for `function`, if it lists one.
pub fn status_row<'a>(rows: &'a [StatusRow], function: &str) -> Option<&'a StatusRow> {
    rows.iter().find(|row| row.function == function.as_bytes())
}

/// Jobs submitted between two looks at the server while holding, so the
/// buffers of one batch are reused by the next instead of all piling up.
const HOLD_BATCH: u64 = 1000;

/// Keeps `args.concurrency` jobs in flight that no worker takes, and
/// measures what this process's memory grew by once the server has queued
/// them all. `submit(index)` returns the job's handle, kept until the end;
/// `queued()` asks the server how many jobs it holds for the function.
pub async fn hold<S, H, Q, QF, Z, ZF>(
    args: &Args,
    label: &str,
    mut submit: S,
    mut queued: Q,
    mut sleep: Z,
) -> Result<Finished, String>
where
    S: FnMut(u64) -> H,
    Q: FnMut() -> QF,
    QF: Future<Output = Result<u64, String>>,
    Z: FnMut(Duration) -> ZF,
    ZF: Future<Output = ()>,
{
    let total = args.concurrency as u64;
    let progress = Progress::new(total);
    let before = memory::resident_bytes();
    let mut jobs = Vec::with_capacity(args.concurrency);
    while (jobs.len() as u64) < total {
        let batch_end = (jobs.len() as u64 + HOLD_BATCH).min(total);
        for index in jobs.len() as u64..batch_end {
            jobs.push(submit(index));
        }
        let deadline = Instant::now() + Duration::from_secs(args.time_limit);
        loop {
            let held = queued().await?;
            progress.finished(held);
            if held >= batch_end {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{label}: the server holds only {held} of {batch_end} jobs"
                ));
            }
            sleep(Duration::from_millis(1)).await;
        }
    }
    // Let the client take in the last acknowledgements.
    sleep(Duration::from_millis(200)).await;
    progress.done();
    let after = memory::resident_bytes();
    let line = memory::report(label, jobs.len(), before, after);
    drop(jobs);
    Ok(Finished {
        line,
        all_correct: true,
    })
}

/// The output of `future`, which must never wait: the blocking adapter's
/// calls block, so a run over them is done by the first poll.
pub fn run_ready<T>(future: impl Future<Output = T>) -> T {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("a future over blocking calls waited"),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    use super::*;

    struct CountingWaker(AtomicUsize);

    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Polls a job that is not ready yet, the way the load does after each
    /// submit, and counts the wake-ups that asks for.
    fn wakes_for_a_pending_job(concurrency: usize) -> usize {
        let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
        let waker = Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);
        let mut in_flight = InFlight::new(concurrency);
        in_flight.push(std::future::pending::<()>());
        assert!(in_flight.poll_next(&mut cx).is_pending());
        assert_eq!(in_flight.len(), 1);
        counter.0.load(Ordering::Relaxed)
    }

    #[test]
    fn a_lone_job_in_flight_costs_no_wake_up_of_its_own() {
        assert_eq!(wakes_for_a_pending_job(1), 0);
        // What the lone job avoids: the set wakes its task once it has
        // polled all it holds.
        assert_eq!(wakes_for_a_pending_job(2), 1);
    }

    #[test]
    fn a_lone_job_ends_once_and_leaves_room_for_the_next() {
        let mut cx = Context::from_waker(Waker::noop());
        let mut in_flight = InFlight::new(1);
        in_flight.push(std::future::ready(7));
        assert_eq!(in_flight.poll_next(&mut cx), Poll::Ready(Some(7)));
        assert_eq!(in_flight.len(), 0);
        assert_eq!(in_flight.poll_next(&mut cx), Poll::Ready(None));
    }
}
