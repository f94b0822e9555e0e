//! The crate's own [`Client`] and [`Worker`] as nodes of the simulated net.
//! A [`SimWorker`] runs the jobs it is given (the result is the reversed
//! payload) after a configurable time; a [`SimClient`] records its events.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use bytes::Bytes;
use gearman_proto::client::{Client, ClientConfig, ClientEvent, JobId as ClientJobId};
use gearman_proto::worker::{AssignmentId, Worker, WorkerConfig, WorkerEvent};
use gearman_proto::{ConnAction, ConnId, Endpoint, Transmit};

/// A [`Client`] and everything it reported.
pub struct SimClient {
    pub client: Client,
    pub events: Vec<ClientEvent>,
}

impl SimClient {
    pub fn new(config: ClientConfig) -> SimClient {
        SimClient {
            client: Client::new(config).expect("valid client config"),
            events: Vec::new(),
        }
    }

    fn collect(&mut self) {
        while let Some(event) = self.client.poll_event() {
            self.events.push(event);
        }
    }

    /// Terminal events per job.
    pub fn terminals(&self) -> HashMap<ClientJobId, Vec<ClientEvent>> {
        let mut out: HashMap<ClientJobId, Vec<ClientEvent>> = HashMap::new();
        for event in &self.events {
            if event.is_terminal() {
                if let Some(job) = event.job() {
                    out.entry(job).or_default().push(event.clone());
                }
            }
        }
        out
    }
}

impl Endpoint for SimClient {
    fn handle_connected(&mut self, conn: ConnId, now: Instant) {
        self.client.handle_connected(conn, now);
        self.collect();
    }
    fn handle_input(&mut self, conn: ConnId, data: &[u8], now: Instant) {
        self.client.handle_input(conn, data, now);
        self.collect();
    }
    fn handle_disconnected(&mut self, conn: ConnId, now: Instant) {
        self.client.handle_disconnected(conn, now);
        self.collect();
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.client.handle_timeout(now);
        self.collect();
    }
    fn poll_action(&mut self) -> Option<ConnAction> {
        self.client.poll_action()
    }
    fn poll_transmit(&mut self) -> Option<Transmit> {
        let t = self.client.poll_transmit();
        self.collect();
        t
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.client.poll_timeout()
    }
}

/// A [`Worker`] with a job runner: each assigned job finishes `work_time`
/// later (payload `slow…` takes `slow_time`), completing with the reversed
/// payload; payload `fail…` fails, `exception…` raises an exception,
/// `status…` reports status and data first.
pub struct SimWorker {
    pub worker: Worker,
    pub work_time: Duration,
    pub slow_time: Duration,
    running: BTreeMap<(Instant, u64), (AssignmentId, Bytes)>,
    /// Handles of the jobs this worker was given, in order.
    pub assigned: Vec<Bytes>,
    /// Payloads of jobs it reported a result for.
    pub finished: Vec<Bytes>,
    pub lost: Vec<AssignmentId>,
    pub events: Vec<WorkerEvent>,
    seq: u64,
}

impl SimWorker {
    pub fn new(config: WorkerConfig, work_time: Duration, now: Instant) -> SimWorker {
        SimWorker {
            worker: Worker::new(config, now).expect("valid worker config"),
            work_time,
            slow_time: Duration::from_secs(3600),
            running: BTreeMap::new(),
            assigned: Vec::new(),
            finished: Vec::new(),
            lost: Vec::new(),
            events: Vec::new(),
            seq: 0,
        }
    }

    fn collect(&mut self, now: Instant) {
        while let Some(event) = self.worker.poll_event() {
            match &event {
                WorkerEvent::JobAssigned(job) => {
                    self.assigned.push(job.handle.clone());
                    let time = if job.payload.starts_with(b"slow") {
                        self.slow_time
                    } else {
                        self.work_time
                    };
                    self.seq += 1;
                    self.running
                        .insert((now + time, self.seq), (job.id, job.payload.clone()));
                }
                WorkerEvent::JobLost { id } => {
                    self.lost.push(*id);
                    self.running.retain(|_, (job, _)| job != id);
                }
                _ => {}
            }
            self.events.push(event);
        }
        self.finish_due(now);
    }

    fn finish_due(&mut self, now: Instant) {
        while let Some((&key, _)) = self.running.first_key_value() {
            if key.0 > now {
                break;
            }
            let (id, payload) = self.running.remove(&key).expect("first key");
            let result = if payload.starts_with(b"fail") {
                self.worker.work_fail(id)
            } else if payload.starts_with(b"exception") {
                self.worker.work_exception(id, b"it broke")
            } else {
                if payload.starts_with(b"status") {
                    self.worker.work_status(id, 1, 2).expect("running job");
                    self.worker.work_data(id, b"partial").expect("running job");
                }
                let reversed: Vec<u8> = payload.iter().rev().copied().collect();
                self.worker.work_complete(id, &reversed)
            };
            result.expect("the job is running");
            self.finished.push(payload);
        }
    }

    pub fn busy(&self) -> usize {
        self.running.len()
    }
}

impl Endpoint for SimWorker {
    fn handle_connected(&mut self, conn: ConnId, now: Instant) {
        self.worker.handle_connected(conn, now);
        self.collect(now);
    }
    fn handle_input(&mut self, conn: ConnId, data: &[u8], now: Instant) {
        self.worker.handle_input(conn, data, now);
        self.collect(now);
    }
    fn handle_disconnected(&mut self, conn: ConnId, now: Instant) {
        self.worker.handle_disconnected(conn, now);
        self.collect(now);
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.worker.handle_timeout(now);
        self.collect(now);
    }
    fn poll_action(&mut self) -> Option<ConnAction> {
        self.worker.poll_action()
    }
    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.worker.poll_transmit()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        let job = self.running.first_key_value().map(|(k, _)| k.0);
        match (self.worker.poll_timeout(), job) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}
