//! Gearman over tokio: thin adapter around [`gearman_proto`].
#![forbid(unsafe_code)]

pub use gearman_proto as proto;
