//! Per-connection state of the job server.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use crate::packet::Decoder;
use crate::time::FrameClock;

use super::function::FunctionId;
use super::job::JobKey;

/// One `CAN_DO` / `CAN_DO_TIMEOUT` registration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ability {
    pub(crate) function: FunctionId,
    /// `CAN_DO_TIMEOUT`: a job of this function held longer is requeued.
    pub(crate) timeout: Option<Duration>,
}

/// A peer connection: clients, workers and admin sessions alike (gearmand
/// does not tell roles apart).
#[derive(Debug)]
pub(crate) struct Connection {
    /// Peer address without the port, for the `workers` listing.
    pub(crate) peer_ip: String,
    /// `SET_CLIENT_ID`, `-` until set.
    pub(crate) client_id: Bytes,
    pub(crate) decoder: Decoder,
    pub(crate) input: BytesMut,
    pub(crate) output: BytesMut,
    /// In the server's list of connections with output to hand out.
    pub(crate) output_listed: bool,
    /// `OPTION_REQ exceptions` was accepted.
    pub(crate) exceptions: bool,
    /// Registrations in the order the worker is served: newest first, as
    /// gearmand keeps them (round robin moves the one that supplied a job to
    /// the back).
    pub(crate) abilities: VecDeque<Ability>,
    /// Sent PRE_SLEEP and has not grabbed since.
    pub(crate) sleeping: bool,
    /// A NOOP went out since the last grab.
    pub(crate) noop_sent: bool,
    /// Jobs assigned to this connection.
    pub(crate) running: VecDeque<JobKey>,
    /// Foreground jobs this connection listens to (one entry per attach).
    pub(crate) listening: VecDeque<JobKey>,
    /// The CAN_DO_TIMEOUT timer: only the most recently grabbed timed job.
    pub(crate) timer: Option<(Instant, JobKey)>,
    /// When the frame held part-way in `input` began.
    pub(crate) frame: FrameClock,
    /// Due time of this connection's frame entry in the timer heap.
    pub(crate) frame_timer: Option<Instant>,
}

impl Connection {
    pub(crate) fn new(peer: &str, decoder: Decoder, exceptions: bool) -> Connection {
        Connection {
            peer_ip: peer_ip(peer).to_owned(),
            client_id: Bytes::from_static(b"-"),
            decoder,
            input: BytesMut::new(),
            output: BytesMut::new(),
            output_listed: false,
            exceptions,
            abilities: VecDeque::new(),
            sleeping: false,
            noop_sent: false,
            running: VecDeque::new(),
            listening: VecDeque::new(),
            timer: None,
            frame: FrameClock::default(),
            frame_timer: None,
        }
    }
}

/// `10.0.0.5:4730` → `10.0.0.5`, `[::1]:4730` → `::1`; anything else as is.
pub(crate) fn peer_ip(peer: &str) -> &str {
    if let Some(rest) = peer.strip_prefix('[') {
        if let Some(end) = rest.find(']') {
            return &rest[..end];
        }
    }
    match peer.rsplit_once(':') {
        Some((ip, port)) if !ip.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => ip,
        _ => peer,
    }
}

/// Removes one entry equal to `key`, searching from the front: jobs tend to
/// finish in the order they started, so the search is short and removing
/// near the front of a `VecDeque` moves little.
pub(crate) fn remove_one(list: &mut VecDeque<JobKey>, key: JobKey) -> bool {
    match list.iter().position(|&k| k == key) {
        Some(at) => {
            list.remove(at);
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::peer_ip;

    #[test]
    fn peer_ip_strips_port() {
        assert_eq!(peer_ip("10.0.0.5:4730"), "10.0.0.5");
        assert_eq!(peer_ip("[::1]:4730"), "::1");
        assert_eq!(peer_ip("::1"), "::1");
        assert_eq!(peer_ip("local"), "local");
    }
}
