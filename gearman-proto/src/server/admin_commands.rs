//! The admin text protocol on the job server's port: each line is parsed
//! with [`AdminRequest::parse`] and answered with gearmand's exact bytes.

use std::time::Instant;

use bytes::{BufMut, Bytes};

use crate::admin::{
    AdminRequest, AdminResponse, JobRow, MaxQueueLimits, PriorityStatusRow, StatusRow, WorkerRow,
    encode_list_end,
};
use crate::endpoint::ConnId;
use crate::packet::Command;

use super::connection::remove_one;
use super::function::FunctionId;
use super::job::{Coalesce, JobKey, JobState, Listeners};
use super::wire::{c_str, put};
use super::{Server, ServerEvent};

impl Server {
    pub(super) fn handle_admin_line(&mut self, conn: ConnId, line: &[u8], now: Instant) {
        // gearmand reads the line as a C string: a NUL ends it.
        let line = c_str(line);
        let request = match AdminRequest::parse(line) {
            Ok(request) => request,
            Err(err) => {
                match err.reply() {
                    Some(reply) => self.admin_reply(conn, &reply),
                    None => {
                        tracing::debug!(%conn, %err, "closing connection: bad admin line");
                        self.reject(conn, now);
                    }
                }
                return;
            }
        };
        match request {
            AdminRequest::Status => self.admin_status(conn),
            AdminRequest::PriorityStatus => self.admin_priority_status(conn),
            AdminRequest::Workers => self.admin_workers(conn),
            AdminRequest::Version => {
                let version = Bytes::copy_from_slice(self.config.version.as_bytes());
                self.admin_reply(conn, &AdminResponse::Version(version));
            }
            AdminRequest::GetPid => self.admin_reply(conn, &AdminResponse::Pid(self.config.pid)),
            AdminRequest::Verbose => {
                let level = Bytes::from_static(self.config.verbose.as_str().as_bytes());
                self.admin_reply(conn, &AdminResponse::Verbose(level));
            }
            AdminRequest::MaxQueue { function, limits } => {
                if let Some(fid) = self.functions.lookup(&function) {
                    let clamp = |n: i64| u32::try_from(n.max(0)).unwrap_or(u32::MAX);
                    self.functions.get_mut(fid).max_queue = match limits {
                        MaxQueueLimits::None => [0; 3],
                        MaxQueueLimits::All(n) => [clamp(n); 3],
                        MaxQueueLimits::PerPriority { high, normal, low } => {
                            [clamp(high), clamp(normal), clamp(low)]
                        }
                    };
                }
                self.admin_reply(conn, &AdminResponse::Ok);
            }
            AdminRequest::Shutdown { graceful } => {
                self.admin_reply(conn, &AdminResponse::Ok);
                self.events.push_back(ServerEvent::Shutdown { graceful });
            }
            AdminRequest::ShowJobs => {
                let Some(out) = self.peers.out(conn) else {
                    return;
                };
                for (_, job) in self.jobs.iter() {
                    JobRow::new(
                        Bytes::copy_from_slice(job.bytes.handle()),
                        u64::from(job.retries),
                        job.ignored,
                        job.persisted,
                    )
                    .encode(out);
                }
                encode_list_end(out);
            }
            AdminRequest::ShowUniqueJobs => {
                let Some(out) = self.peers.out(conn) else {
                    return;
                };
                for (_, job) in self.jobs.iter() {
                    out.put_slice(job.bytes.unique());
                    out.put_u8(b'\n');
                }
                encode_list_end(out);
            }
            AdminRequest::CancelJob { handle } => {
                let reply = if self.cancel(&handle) {
                    AdminResponse::Ok
                } else {
                    AdminResponse::error("UNKNOWN_JOB", "")
                };
                self.admin_reply(conn, &reply);
            }
            AdminRequest::CreateFunction { name } => {
                self.functions.find_or_create(&name);
                self.admin_reply(conn, &AdminResponse::Ok);
            }
            AdminRequest::DropFunction { name } => {
                let found = self
                    .functions
                    .iter()
                    .find(|(_, f)| f.name.eq_ignore_ascii_case(&name))
                    .map(|(fid, f)| (fid, f.workers.is_empty() && f.running == 0));
                if let Some((fid, true)) = found {
                    self.drop_function(fid);
                }
                let Some(out) = self.peers.out(conn) else {
                    return;
                };
                match found {
                    Some((_, true)) => out.put_slice(b"OK\r\n"),
                    Some((_, false)) => out.put_slice(
                        b"ERR there are still connected workers or executing clients\r\n",
                    ),
                    None => out.put_slice(b"ERR function not found\r\n"),
                }
            }
            other => {
                tracing::debug!(%conn, ?other, "admin command without a server reply");
                let word = line.split(|&b| b == b' ').next().unwrap_or_default();
                self.admin_reply(conn, &AdminResponse::unknown_command(word));
            }
        }
    }

    /// `drop function` on a function with no worker and no running job, as
    /// gearmand allows. Its waiting jobs go with it; their clients get
    /// WORK_FAIL rather than waiting for a job that no longer exists.
    fn drop_function(&mut self, fid: FunctionId) {
        let doomed: Vec<JobKey> = self
            .jobs
            .iter()
            .filter(|(_, job)| job.function == fid)
            .map(|(key, _)| key)
            .collect();
        for key in doomed {
            if let Some(job) = self.jobs.get(key) {
                for &l in job.listeners.as_slice() {
                    if let Some(out) = self.peers.out(l) {
                        put(out, Command::WorkFailRes, &[job.bytes.handle()]);
                    }
                }
            }
            if matches!(
                self.jobs.get(key).map(|j| j.state),
                Some(JobState::Scheduled(_))
            ) {
                self.scheduled -= 1;
            }
            self.stats.jobs_discarded += 1;
            self.finish(key);
        }
        self.functions.remove(fid);
    }

    fn admin_reply(&mut self, conn: ConnId, reply: &AdminResponse) {
        if let Some(out) = self.peers.out(conn) {
            reply.encode(out);
        }
    }

    fn admin_status(&mut self, conn: ConnId) {
        let Some(out) = self.peers.out(conn) else {
            return;
        };
        for (_, f) in self.functions.iter() {
            StatusRow::new(
                f.name.clone(),
                u64::from(f.total()),
                u64::from(f.running),
                f.workers.len() as u64,
            )
            .encode(out);
        }
        encode_list_end(out);
    }

    fn admin_priority_status(&mut self, conn: ConnId) {
        let Some(out) = self.peers.out(conn) else {
            return;
        };
        for (_, f) in self.functions.iter() {
            PriorityStatusRow::new(
                f.name.clone(),
                u64::from(f.queued[0]),
                u64::from(f.queued[1]),
                u64::from(f.queued[2]),
                f.workers.len() as u64,
            )
            .encode(out);
        }
        encode_list_end(out);
    }

    fn admin_workers(&mut self, conn: ConnId) {
        let mut ids: Vec<ConnId> = self.peers.map.keys().copied().collect();
        ids.sort_unstable();
        let rows: Vec<WorkerRow> = ids
            .iter()
            .filter_map(|id| {
                let c = self.peers.map.get(id)?;
                let functions: Vec<Bytes> = c
                    .abilities
                    .iter()
                    .map(|a| self.functions.get(a.function).name.clone())
                    .collect();
                Some(WorkerRow::new(
                    i64::try_from(id.0).unwrap_or(i64::MAX),
                    Bytes::copy_from_slice(c.peer_ip.as_bytes()),
                    c.client_id.clone(),
                    functions,
                ))
            })
            .collect();
        self.admin_reply(conn, &AdminResponse::Workers(rows));
    }

    /// `cancel job`: clients get WORK_FAIL and are detached, the job is
    /// marked ignored (a queued one is discarded, a running one finishes
    /// unseen) and its (function, unique) is free at once.
    fn cancel(&mut self, handle: &[u8]) -> bool {
        let Some(key) = self.job_by_handle(handle) else {
            return false;
        };
        let Some(job) = self.jobs.get_mut(key) else {
            return false;
        };
        if job.cancelled {
            return false;
        }
        job.cancelled = true;
        // Each client hears of the job once: WORK_FAIL now, and nothing
        // later even if a worker still finishes it (gearmand would forward
        // that result too).
        for &l in job.listeners.as_slice() {
            if let Some(out) = self.peers.out(l) {
                put(out, Command::WorkFailRes, &[job.bytes.handle()]);
            }
            if let Some(c) = self.peers.map.get_mut(&l) {
                remove_one(&mut c.listening, key);
            }
        }
        job.listeners = Listeners::None;
        job.ignored = true;
        Self::unindex_coalescing(&mut self.functions, key, job);
        job.coalesce = Coalesce::Never;
        job.persisted = false;
        self.stats.jobs_discarded += 1;
        true
    }
}
