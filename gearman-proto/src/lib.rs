//! Sans-IO Gearman: the binary and admin protocols, and the client, worker
//! and job-server state machines, driven by bytes, events and an explicit
//! [`std::time::Instant`]. No sockets, clocks, threads or async runtimes.
#![forbid(unsafe_code)]

pub mod admin;
pub mod admin_call;
pub mod backoff;
pub mod client;
pub mod codec;
pub mod command;
pub mod conn;
pub mod dispatch;
pub mod driver_error;
pub mod error;
pub mod invariants;
pub mod packet;
pub mod packet_ref;
pub mod routing;
pub mod server;
pub mod serving;
mod time;
pub mod work_report;
pub mod worker;

pub use codec::{DEFAULT_MAX_LINE_LEN, DEFAULT_MAX_PACKET_SIZE, Decoder, Frame};
pub use command::{Command, Field, Magic, Priority};
pub use conn::{ConnAction, ConnId, Endpoint, Transmit};
pub use error::{BuildError, DecodeError};
pub use packet::{HEADER_LEN, MAX_FIELDS, Packet, encode_fields, encoded_len_of};
pub use packet_ref::PacketRef;
pub use time::{DEFAULT_FRAME_TIMEOUT, MIN_FRAME_RATE};
