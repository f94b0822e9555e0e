//! Best-of-samples timing: the figure least disturbed by other processes on
//! a shared machine, printed next to criterion's statistics.

use std::hint::black_box;
use std::time::Instant;

/// Runs `op` in `samples` batches of `ops_per_sample` and returns the
/// fastest batch's time per operation, in nanoseconds.
///
/// ```
/// use benches::best_time::best_ns_per_op;
/// let mut n = 0u64;
/// let ns = best_ns_per_op(10, 1000, || n = n.wrapping_add(1));
/// assert!(ns >= 0.0);
/// ```
pub fn best_ns_per_op(samples: u32, ops_per_sample: u32, mut op: impl FnMut()) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..samples {
        let start = Instant::now();
        for _ in 0..ops_per_sample {
            op();
        }
        let per_op = start.elapsed().as_nanos() as f64 / f64::from(ops_per_sample.max(1));
        best = best.min(black_box(per_op));
    }
    best
}
