//! The machinery every type in this crate is built on: a core state machine
//! ([`Endpoint`](gearman_proto::Endpoint)) behind a mutex, driven by whichever thread has something
//! for it. A socket's reader thread reads without the lock, then locks,
//! feeds the bytes to the core, writes what the core answers and hands its
//! events over; a user command (a submit, a worker's result, a stop) is
//! applied by the calling thread the same way, or, when another thread holds
//! the machine, left in a mailbox that the holder empties before letting go
//! (so a worker's result or a submit never waits for the lock; a reader
//! leaves its input there the same way, one chunk at a time). One timer
//! thread per machine sleeps until the core's next deadline and ends the
//! machine when it is finished. So a message crosses no thread that has
//! nothing else to do with it. No protocol knowledge lives here.
//!
//! The sockets are in [`sockets`], the shared machine in [`machine`], the
//! user handles in [`handle`].
//!
//! Lock order: the machine's mutex may be held while taking the mailbox's
//! or a job's or a channel's own lock (to deliver), never the other way
//! round (nothing takes the machine's lock while holding another); no
//! user code runs and nothing waits on a user under the machine's mutex.

mod handle;
mod machine;
mod sockets;

pub(crate) use handle::{Handle, Remote};
pub(crate) use machine::{Deferred, Driven, Machine};
pub(crate) use sockets::{Dialer, Io};
