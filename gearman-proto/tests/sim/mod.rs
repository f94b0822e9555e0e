//! Test support shared by the server and cluster tests. Each test crate uses
//! only part of it.
#![allow(dead_code)]

pub mod net;
pub mod nodes;
pub mod peers;
pub mod wire;
