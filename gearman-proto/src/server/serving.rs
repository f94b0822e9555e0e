//! Whether a served job server goes on; see [`Serving`].

use std::time::Instant;

use crate::ConnId;
use crate::server::{Server, ServerEvent};

/// The serving state of one job server, fed from its events.
///
/// Whether a served job server goes on: what an adapter's accept loop and
/// run loop need to know about the admin `shutdown` commands, decided once
/// for every adapter as gearmand before 1.1.15 did (`shutdown` stops at
/// once; `shutdown graceful` stops accepting and stops once no job is left).
///
/// ```
/// use std::time::Instant;
/// use gearman_proto::server::{Server, ServerConfig, Serving};
///
/// let mut server = Server::new(ServerConfig::new("host"));
/// let mut serving = Serving::default();
/// let admin = server.accept("127.0.0.1:5000", Instant::now());
/// server.handle_input(admin, b"shutdown graceful\n", Instant::now());
/// // Events come after the outputs queued before them (the admin's `OK`).
/// while server.poll_transmit().is_some() {}
/// serving.observe(&mut server);
/// // No job is left, so a graceful shutdown is complete at once.
/// assert!(!serving.accepting());
/// assert!(serving.stopped());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Serving {
    /// `shutdown graceful` was asked: accept no more, stop when no job is left.
    draining: bool,
    stopped: bool,
}

impl Serving {
    /// Takes the server's events into account (it drains
    /// [`Server::poll_event`]); call it after every input, before sleeping.
    pub fn observe(&mut self, server: &mut Server) {
        while let Some(event) = server.poll_event() {
            match event {
                ServerEvent::Shutdown { graceful: false } => {
                    tracing::info!("shutdown requested over the admin protocol");
                    self.stopped = true;
                }
                ServerEvent::Shutdown { graceful: true } => {
                    tracing::info!("graceful shutdown requested over the admin protocol");
                    self.draining = true;
                }
                #[allow(unreachable_patterns)]
                other => tracing::debug!(?other, "server event ignored"),
            }
        }
        if self.draining && server.job_count() == 0 {
            self.stopped = true;
        }
    }

    /// Stops at once, as asked by the program that serves (a signal, say).
    pub fn stop(&mut self) {
        self.stopped = true;
    }

    /// Registers a connection accepted from `peer` with `server` while new
    /// connections are taken; `None` once draining or stopped, when the
    /// adapter drops the socket instead.
    pub fn admit(
        &self,
        server: &mut Server,
        peer: impl std::fmt::Display,
        now: Instant,
    ) -> Option<ConnId> {
        self.accepting()
            .then(|| server.accept(peer.to_string(), now))
    }

    /// Whether new connections are still taken.
    pub fn accepting(&self) -> bool {
        !self.draining && !self.stopped
    }

    /// Whether serving is over: close every connection and the listener.
    pub fn stopped(&self) -> bool {
        self.stopped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Command;
    use crate::packet::Packet;
    use crate::server::ServerConfig;

    fn server_with_admin() -> (Server, crate::ConnId) {
        let mut server = Server::new(ServerConfig::new("host"));
        let admin = server.accept("127.0.0.1:1", Instant::now());
        (server, admin)
    }

    #[test]
    fn plain_shutdown_stops_at_once() {
        let (mut server, admin) = server_with_admin();
        let mut serving = Serving::default();
        serving.observe(&mut server);
        assert!(serving.accepting() && !serving.stopped());
        server.handle_input(admin, b"shutdown\n", Instant::now());
        while server.poll_transmit().is_some() {}
        serving.observe(&mut server);
        assert!(serving.stopped());
        assert!(!serving.accepting());
    }

    #[test]
    fn graceful_shutdown_waits_for_the_last_job() {
        let (mut server, admin) = server_with_admin();
        let now = Instant::now();
        let client = server.accept("127.0.0.1:2", now);
        let mut submit = Vec::new();
        Packet::build(Command::SubmitJobBg, &[b"f", b"u", b"x"])
            .unwrap()
            .encode(&mut submit);
        server.handle_input(client, &submit, now);
        assert_eq!(server.job_count(), 1);
        while server.poll_transmit().is_some() {}

        let mut serving = Serving::default();
        server.handle_input(admin, b"shutdown graceful\n", now);
        while server.poll_transmit().is_some() {}
        serving.observe(&mut server);
        assert!(!serving.accepting(), "no new connections while draining");
        assert!(!serving.stopped(), "a job is left");

        // A worker takes the job and completes it.
        let worker = server.accept("127.0.0.1:3", now);
        let mut packets = Vec::new();
        Packet::build(Command::CanDo, &[b"f"])
            .unwrap()
            .encode(&mut packets);
        Packet::build(Command::GrabJob, &[])
            .unwrap()
            .encode(&mut packets);
        server.handle_input(worker, &packets, now);
        assert_eq!(server.job_count(), 1);
        let mut assigned = bytes::BytesMut::new();
        while let Some(transmit) = server.poll_transmit() {
            if transmit.conn == worker {
                assigned.extend_from_slice(&transmit.data);
            }
        }
        let assignment = crate::Decoder::new()
            .decode_packet(&mut assigned)
            .unwrap()
            .expect("the job is assigned");
        assert_eq!(assignment.command(), Command::JobAssign);
        let handle = assignment.arg(0).unwrap().to_vec();
        let mut done = Vec::new();
        Packet::build(Command::WorkCompleteReq, &[&handle, b"r"])
            .unwrap()
            .encode(&mut done);
        server.handle_input(worker, &done, now);
        serving.observe(&mut server);
        assert_eq!(server.job_count(), 0);
        assert!(serving.stopped());
    }

    #[test]
    fn a_peer_is_admitted_only_while_accepting() {
        let (mut server, admin) = server_with_admin();
        let mut serving = Serving::default();
        let now = Instant::now();
        let client = serving.admit(&mut server, "127.0.0.1:2", now);
        assert!(client.is_some_and(|client| client != admin));
        server.handle_input(admin, b"shutdown graceful\n", now);
        while server.poll_transmit().is_some() {}
        serving.observe(&mut server);
        assert_eq!(serving.admit(&mut server, "127.0.0.1:3", now), None);
    }

    #[test]
    fn stop_from_the_program() {
        let mut serving = Serving::default();
        serving.stop();
        assert!(serving.stopped() && !serving.accepting());
    }
}
