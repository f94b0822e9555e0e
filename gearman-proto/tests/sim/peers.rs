//! Scripted peers for the cluster simulation: raw-packet endpoints that
//! behave like minimal clients and workers, so scenarios can check the
//! server's exact behaviour (and run without the crate's own client and
//! worker state machines).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use gearman_proto::{
    Command, ConnAction, ConnId, Decoder, Endpoint, Frame, Packet, Transmit, encode_fields,
};

/// One connection to the server: connects at once, sends what it is told,
/// decodes everything it receives.
#[derive(Debug)]
pub struct Wire {
    addr: String,
    conn: ConnId,
    connect_pending: bool,
    pub connected: bool,
    pub disconnected: bool,
    close_pending: bool,
    out: BytesMut,
    decoder: Decoder,
    input: BytesMut,
}

impl Wire {
    pub fn new(addr: &str) -> Wire {
        Wire {
            addr: addr.to_owned(),
            conn: ConnId(1),
            connect_pending: true,
            connected: false,
            disconnected: false,
            close_pending: false,
            out: BytesMut::new(),
            decoder: Decoder::new(),
            input: BytesMut::new(),
        }
    }

    pub fn send(&mut self, command: Command, fields: &[&[u8]]) {
        encode_fields(&mut self.out, command, fields).expect("valid packet");
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    /// Closes the connection from this side after what was sent.
    pub fn close(&mut self) {
        self.close_pending = true;
    }

    fn input(&mut self, data: &[u8]) -> Vec<Frame> {
        self.input.extend_from_slice(data);
        let mut frames = Vec::new();
        while let Some(frame) = self
            .decoder
            .decode_frame(&mut self.input)
            .expect("the server sends valid frames")
        {
            frames.push(frame);
        }
        frames
    }

    fn poll_action(&mut self) -> Option<ConnAction> {
        if self.connect_pending {
            self.connect_pending = false;
            return Some(ConnAction::Connect {
                conn: self.conn,
                addr: self.addr.clone(),
            });
        }
        if self.close_pending && self.connected && self.out.is_empty() {
            self.close_pending = false;
            self.connected = false;
            self.disconnected = true;
            return Some(ConnAction::Close { conn: self.conn });
        }
        None
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        if !self.connected || self.out.is_empty() {
            return None;
        }
        Some(Transmit {
            conn: self.conn,
            data: self.out.split().freeze(),
        })
    }
}

/// A peer that only records what it receives.
#[derive(Debug)]
pub struct RawPeer {
    pub wire: Wire,
    pub packets: Vec<Packet>,
    pub lines: Vec<Bytes>,
}

impl RawPeer {
    pub fn new(addr: &str) -> RawPeer {
        RawPeer {
            wire: Wire::new(addr),
            packets: Vec::new(),
            lines: Vec::new(),
        }
    }

    pub fn send(&mut self, command: Command, fields: &[&[u8]]) {
        self.wire.send(command, fields);
    }

    pub fn admin(&mut self, line: &str) {
        self.wire.send_raw(line.as_bytes());
    }
}

impl Endpoint for RawPeer {
    fn handle_connected(&mut self, _conn: ConnId, _now: Instant) {
        self.wire.connected = true;
    }
    fn handle_input(&mut self, _conn: ConnId, data: &[u8], _now: Instant) {
        for frame in self.wire.input(data) {
            match frame {
                Frame::Packet(p) => self.packets.push(p),
                Frame::Text(line) => self.lines.push(line),
            }
        }
    }
    fn handle_disconnected(&mut self, _conn: ConnId, _now: Instant) {
        self.wire.connected = false;
        self.wire.disconnected = true;
    }
    fn handle_timeout(&mut self, _now: Instant) {}
    fn poll_action(&mut self) -> Option<ConnAction> {
        self.wire.poll_action()
    }
    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.wire.poll_transmit()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WorkerState {
    Grabbing,
    Working,
    Sleeping,
    Dead,
}

/// A worker that follows the protocol: registers, grabs, works for a while,
/// completes with the reversed payload, grabs again, sleeps on NO_JOB and
/// grabs again on NOOP. A payload starting with `fail` fails instead, one
/// starting with `status` sends WORK_STATUS and WORK_DATA first.
#[derive(Debug)]
pub struct ScriptWorker {
    pub wire: Wire,
    functions: Vec<(String, Option<u32>)>,
    pub work_time: Duration,
    pub grab: Command,
    state: WorkerState,
    job: Option<(Bytes, Bytes)>,
    done_at: Option<Instant>,
    /// Handles this worker finished, in order.
    pub finished: Vec<Bytes>,
    /// Every assignment received: (handle, unique).
    pub assigned: Vec<(Bytes, Bytes)>,
    pub errors: Vec<Packet>,
    pub noops: usize,
}

impl ScriptWorker {
    /// `functions`: name and optional CAN_DO_TIMEOUT in milliseconds.
    pub fn new(addr: &str, functions: &[(&str, Option<u32>)], work_time: Duration) -> ScriptWorker {
        ScriptWorker {
            wire: Wire::new(addr),
            functions: functions
                .iter()
                .map(|(f, t)| ((*f).to_owned(), *t))
                .collect(),
            work_time,
            grab: Command::GrabJobUniq,
            state: WorkerState::Grabbing,
            job: None,
            done_at: None,
            finished: Vec::new(),
            assigned: Vec::new(),
            errors: Vec::new(),
            noops: 0,
        }
    }

    pub fn is_sleeping(&self) -> bool {
        self.state == WorkerState::Sleeping
    }

    pub fn is_working(&self) -> bool {
        self.state == WorkerState::Working
    }

    fn grab(&mut self) {
        self.state = WorkerState::Grabbing;
        self.wire.send(self.grab, &[]);
    }

    fn finish(&mut self) {
        let Some((handle, data)) = self.job.take() else {
            return;
        };
        self.done_at = None;
        if data.starts_with(b"fail") {
            self.wire.send(Command::WorkFailReq, &[&handle]);
        } else {
            if data.starts_with(b"status") {
                self.wire
                    .send(Command::WorkStatusReq, &[&handle, b"1", b"2"]);
                self.wire.send(Command::WorkDataReq, &[&handle, b"partial"]);
            }
            let reversed: Vec<u8> = data.iter().rev().copied().collect();
            self.wire
                .send(Command::WorkCompleteReq, &[&handle, &reversed]);
        }
        self.finished.push(handle);
        self.grab();
    }
}

impl Endpoint for ScriptWorker {
    fn handle_connected(&mut self, _conn: ConnId, _now: Instant) {
        self.wire.connected = true;
        for (f, timeout) in self.functions.clone() {
            match timeout {
                None => self.wire.send(Command::CanDo, &[f.as_bytes()]),
                Some(ms) => self.wire.send(
                    Command::CanDoTimeout,
                    &[f.as_bytes(), ms.to_string().as_bytes()],
                ),
            }
        }
        self.grab();
    }

    fn handle_input(&mut self, _conn: ConnId, data: &[u8], now: Instant) {
        for frame in self.wire.input(data) {
            let Frame::Packet(p) = frame else {
                panic!("worker got text");
            };
            match p.command() {
                Command::Noop => {
                    self.noops += 1;
                    if self.state == WorkerState::Sleeping {
                        self.grab();
                    }
                }
                Command::NoJob => {
                    assert_eq!(self.state, WorkerState::Grabbing);
                    self.state = WorkerState::Sleeping;
                    self.wire.send(Command::PreSleep, &[]);
                }
                Command::JobAssign | Command::JobAssignUniq | Command::JobAssignAll => {
                    assert_eq!(self.state, WorkerState::Grabbing);
                    let handle = Bytes::copy_from_slice(p.handle().expect("handle"));
                    let unique = Bytes::copy_from_slice(p.unique().unwrap_or_default());
                    let data = Bytes::copy_from_slice(p.data().expect("data"));
                    self.assigned.push((handle.clone(), unique));
                    self.job = Some((handle, data));
                    self.state = WorkerState::Working;
                    if self.work_time.is_zero() {
                        self.finish();
                    } else {
                        self.done_at = Some(now + self.work_time);
                    }
                }
                _ => self.errors.push(p),
            }
        }
    }

    fn handle_disconnected(&mut self, _conn: ConnId, _now: Instant) {
        self.wire.connected = false;
        self.wire.disconnected = true;
        self.state = WorkerState::Dead;
        self.done_at = None;
    }

    fn handle_timeout(&mut self, now: Instant) {
        if self.done_at.is_some_and(|t| t <= now) {
            self.finish();
        }
    }

    fn poll_action(&mut self) -> Option<ConnAction> {
        self.wire.poll_action()
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.wire.poll_transmit()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.done_at
    }
}

/// One submit of a [`ScriptClient`].
#[derive(Debug, Clone)]
pub struct Submitted {
    pub command: Command,
    pub payload: Bytes,
    pub handle: Option<Bytes>,
    pub error: Option<Bytes>,
}

impl Submitted {
    pub fn background(&self) -> bool {
        self.command.submit_kind().is_some_and(|(_, bg)| bg)
    }
}

/// A client that pipelines submits and records JOB_CREATED (matched in
/// order, an ERROR taking the place of one) and every WORK_* by handle.
#[derive(Debug)]
pub struct ScriptClient {
    pub wire: Wire,
    pending: VecDeque<usize>,
    pub jobs: Vec<Submitted>,
    /// WORK_* packets received, by handle: (command, data or status text).
    pub updates: HashMap<Bytes, Vec<(Command, Bytes)>>,
    pub others: Vec<Packet>,
}

impl ScriptClient {
    pub fn new(addr: &str) -> ScriptClient {
        ScriptClient {
            wire: Wire::new(addr),
            pending: VecDeque::new(),
            jobs: Vec::new(),
            updates: HashMap::new(),
            others: Vec::new(),
        }
    }

    /// Sends `command` (a three-field SUBMIT form) and returns the job's index.
    pub fn submit(
        &mut self,
        command: Command,
        function: &str,
        unique: &str,
        payload: &[u8],
    ) -> usize {
        self.wire
            .send(command, &[function.as_bytes(), unique.as_bytes(), payload]);
        self.track(command, payload)
    }

    /// SUBMIT_JOB_EPOCH at Unix time `epoch`.
    pub fn submit_epoch(&mut self, function: &str, epoch: u64, payload: &[u8]) -> usize {
        self.wire.send(
            Command::SubmitJobEpoch,
            &[
                function.as_bytes(),
                b"",
                epoch.to_string().as_bytes(),
                payload,
            ],
        );
        self.track(Command::SubmitJobEpoch, payload)
    }

    fn track(&mut self, command: Command, payload: &[u8]) -> usize {
        self.jobs.push(Submitted {
            command,
            payload: Bytes::copy_from_slice(payload),
            handle: None,
            error: None,
        });
        self.pending.push_back(self.jobs.len() - 1);
        self.jobs.len() - 1
    }

    /// Terminal packets (COMPLETE, FAIL, EXCEPTION) received for `handle`.
    pub fn terminals(&self, handle: &[u8]) -> Vec<(Command, Bytes)> {
        self.updates
            .get(handle)
            .map(|u| {
                u.iter()
                    .filter(|(c, _)| {
                        matches!(
                            c,
                            Command::WorkCompleteRes
                                | Command::WorkFailRes
                                | Command::WorkExceptionRes
                        )
                    })
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Foreground jobs that have a terminal packet for each of their submits.
    pub fn all_foreground_done(&self) -> bool {
        self.jobs
            .iter()
            .filter(|j| !j.background())
            .all(|j| match &j.handle {
                None => j.error.is_some(),
                Some(h) => {
                    let copies = self
                        .jobs
                        .iter()
                        .filter(|o| !o.background() && o.handle.as_ref() == Some(h))
                        .count();
                    self.terminals(h).len() >= copies
                }
            })
    }

    pub fn all_acknowledged(&self) -> bool {
        self.pending.is_empty()
    }
}

impl Endpoint for ScriptClient {
    fn handle_connected(&mut self, _conn: ConnId, _now: Instant) {
        self.wire.connected = true;
    }

    fn handle_input(&mut self, _conn: ConnId, data: &[u8], _now: Instant) {
        for frame in self.wire.input(data) {
            let Frame::Packet(p) = frame else {
                panic!("client got text");
            };
            match p.command() {
                Command::JobCreated => {
                    let i = self
                        .pending
                        .pop_front()
                        .expect("JOB_CREATED answers a submit");
                    self.jobs[i].handle = Some(Bytes::copy_from_slice(p.handle().expect("handle")));
                }
                Command::Error if !self.pending.is_empty() => {
                    let i = self.pending.pop_front().expect("checked");
                    self.jobs[i].error = Some(p.payload().clone());
                }
                Command::WorkCompleteRes
                | Command::WorkFailRes
                | Command::WorkExceptionRes
                | Command::WorkDataRes
                | Command::WorkWarningRes
                | Command::WorkStatusRes => {
                    let handle = Bytes::copy_from_slice(p.handle().expect("handle"));
                    let data = match p.command() {
                        Command::WorkStatusRes => p.payload().slice(handle.len() + 1..),
                        Command::WorkFailRes => Bytes::new(),
                        _ => Bytes::copy_from_slice(p.data().unwrap_or_default()),
                    };
                    self.updates
                        .entry(handle)
                        .or_default()
                        .push((p.command(), data));
                }
                _ => self.others.push(p),
            }
        }
    }

    fn handle_disconnected(&mut self, _conn: ConnId, _now: Instant) {
        self.wire.connected = false;
        self.wire.disconnected = true;
    }

    fn handle_timeout(&mut self, _now: Instant) {}

    fn poll_action(&mut self) -> Option<ConnAction> {
        self.wire.poll_action()
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.wire.poll_transmit()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}
