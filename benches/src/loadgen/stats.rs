//! Latency percentiles and the summary line that `compare.sh` reads.

use std::fmt;
use std::time::Duration;

use hdrhistogram::Histogram;

/// Latencies of finished jobs, in nanoseconds, plus the count of wrong ones.
#[derive(Debug, Clone)]
pub struct Recorder {
    latencies: Histogram<u64>,
    /// Jobs that ended with something else than their echo.
    pub wrong: u64,
}

impl Default for Recorder {
    fn default() -> Recorder {
        Recorder::new()
    }
}

impl Recorder {
    /// An empty recorder (1 ns to 1 hour, three significant digits).
    pub fn new() -> Recorder {
        let latencies = Histogram::new_with_bounds(1, 3_600_000_000_000, 3)
            .expect("the bounds are valid constants");
        Recorder {
            latencies,
            wrong: 0,
        }
    }

    /// Records one finished job.
    pub fn record(&mut self, latency: Duration, correct: bool) {
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        // Saturates instead of failing above the upper bound.
        self.latencies.saturating_record(nanos.max(1));
        if !correct {
            self.wrong += 1;
        }
    }

    /// Adds what another recorder saw.
    pub fn merge(&mut self, other: &Recorder) {
        self.latencies
            .add(&other.latencies)
            .expect("recorders share their bounds");
        self.wrong += other.wrong;
    }

    /// Jobs recorded.
    pub fn count(&self) -> u64 {
        self.latencies.len()
    }

    fn at(&self, quantile: f64) -> Duration {
        Duration::from_nanos(self.latencies.value_at_quantile(quantile))
    }

    /// The summary of a run that took `elapsed`.
    pub fn summary<'a>(&'a self, label: &'a str, elapsed: Duration) -> Summary<'a> {
        Summary {
            label,
            recorder: self,
            elapsed,
        }
    }
}

/// One line: `LABEL: jobs=N elapsed=Ts R jobs/s latency p50=… p99=… max=… wrong=W`.
#[derive(Debug)]
pub struct Summary<'a> {
    label: &'a str,
    recorder: &'a Recorder,
    elapsed: Duration,
}

impl Summary<'_> {
    /// Jobs per second over the whole run.
    pub fn jobs_per_second(&self) -> f64 {
        self.recorder.count() as f64 / self.elapsed.as_secs_f64().max(f64::MIN_POSITIVE)
    }
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: jobs={} elapsed={:.3}s {:.0} jobs/s latency p50={:.3}ms p99={:.3}ms max={:.3}ms wrong={}",
            self.label,
            self.recorder.count(),
            self.elapsed.as_secs_f64(),
            self.jobs_per_second(),
            millis(self.recorder.at(0.5)),
            millis(self.recorder.at(0.99)),
            millis(Duration::from_nanos(self.recorder.latencies.max())),
            self.recorder.wrong,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_has_the_rate_and_percentiles() {
        let mut recorder = Recorder::new();
        for millis in 1..=100 {
            recorder.record(Duration::from_millis(millis), millis != 100);
        }
        let line = recorder
            .summary("tokio", Duration::from_secs(2))
            .to_string();
        assert!(
            line.starts_with("tokio: jobs=100 elapsed=2.000s 50 jobs/s "),
            "{line}"
        );
        assert!(line.contains("p50=50.0"), "{line}");
        assert!(line.contains("p99=99.0"), "{line}");
        assert!(line.contains("max=100.0"), "{line}");
        assert!(line.ends_with("wrong=1"), "{line}");
    }

    #[test]
    fn merging_adds_counts_and_wrong_jobs() {
        let mut first = Recorder::new();
        first.record(Duration::from_micros(10), true);
        let mut second = Recorder::new();
        second.record(Duration::from_micros(20), false);
        first.merge(&second);
        assert_eq!(first.count(), 2);
        assert_eq!(first.wrong, 1);
    }
}
