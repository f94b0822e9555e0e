//! Shared helpers for the benchmarks: allocation counting and a reader that
//! loops over the same bytes forever.
#![forbid(unsafe_code)]

pub mod alloc_count;
pub mod looping_reader;
