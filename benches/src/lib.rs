//! Shared helpers for the benchmarks: a counting global allocator.
#![forbid(unsafe_code)]
