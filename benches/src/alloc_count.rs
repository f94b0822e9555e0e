//! Allocations per operation, counted by `stats_alloc`'s instrumented
//! system allocator.
//!
//! A bench binary installs the counter (no unsafe code needed) and passes it
//! here:
//!
//! ```no_run
//! use benches::alloc_count::{INSTRUMENTED_SYSTEM, StatsAlloc, allocations_per_op};
//! use std::alloc::System;
//!
//! #[global_allocator]
//! static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;
//!
//! let mut buf = Vec::with_capacity(64);
//! let per_op = allocations_per_op(GLOBAL, 1000, || {
//!     buf.clear();
//!     buf.extend_from_slice(b"no allocation once the capacity is there");
//! });
//! assert_eq!(per_op, 0.0);
//! ```

use std::alloc::System;
use std::hint::black_box;

pub use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};

/// Operations run before counting, so one-off setup (a buffer's first
/// growth, a `Bytes` promoted to shared) is not charged to the steady state.
pub const WARM_UP_OPS: u64 = 10_000;

/// Runs `op` [`WARM_UP_OPS`] times, then `ops` times while counting, and
/// returns the allocations and reallocations per operation.
///
/// ```
/// use benches::alloc_count::{INSTRUMENTED_SYSTEM, StatsAlloc, allocations_per_op};
/// use std::alloc::System;
///
/// #[global_allocator]
/// static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;
///
/// fn main() {
///     let per_op = allocations_per_op(GLOBAL, 100, || vec![1u8; 16]);
///     assert_eq!(per_op, 1.0);
/// }
/// ```
pub fn allocations_per_op<O>(
    allocator: &'static StatsAlloc<System>,
    ops: u64,
    mut op: impl FnMut() -> O,
) -> f64 {
    for _ in 0..WARM_UP_OPS {
        black_box(op());
    }
    let region = stats_alloc::Region::new(allocator);
    for _ in 0..ops {
        black_box(op());
    }
    let change = region.change();
    (change.allocations + change.reallocations) as f64 / ops.max(1) as f64
}
