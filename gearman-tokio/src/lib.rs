//! Gearman over tokio: thin adapter around [`gearman_proto`].
#![forbid(unsafe_code)]

pub use gearman_proto as proto;

mod admin;
#[allow(dead_code)] // used by Client, Worker and Server
mod driver;
mod error;
mod server;

pub use admin::{Admin, DEFAULT_ADMIN_TIMEOUT};
pub use error::Error;
pub use server::Server;
