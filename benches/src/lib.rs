//! Shared helpers for the benchmarks: allocation counting, best-of-samples
//! timing, and a reader that loops over the same bytes forever.
#![forbid(unsafe_code)]

pub mod alloc_count;
pub mod best_time;
pub mod looping_reader;
