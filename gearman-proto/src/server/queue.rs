//! Where background jobs would be persisted: the hook for a durable queue.
//!
//! gearmand hands every background job to a queue plugin when it is created
//! and tells the plugin when it is done, so that a restarted server can
//! replay unfinished jobs. This server keeps jobs in memory only; the
//! [`JobStore`] trait marks the seam where a durable store would plug in.

use crate::packet::Priority;

/// A background job as a store sees it.
#[derive(Debug, Clone, Copy)]
#[allow(
    dead_code,
    reason = "the fields are for durable stores; memory-only reads none"
)]
pub(crate) struct StoredJob<'a> {
    pub(crate) function: &'a [u8],
    pub(crate) unique: &'a [u8],
    pub(crate) data: &'a [u8],
    pub(crate) priority: Priority,
    pub(crate) epoch: Option<u64>,
}

/// A store refused a job; the submitter gets `ERROR QUEUE_ERROR <reason>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoreError {
    /// gearmand's error name, e.g. `QUEUE_ERROR`.
    pub(crate) reason: &'static str,
}

/// Persistence of background jobs.
pub(crate) trait JobStore: std::fmt::Debug + Send {
    /// A background job was created.
    fn add(&mut self, job: StoredJob<'_>) -> Result<(), StoreError>;
    /// A persisted job completed, failed or was cancelled.
    fn done(&mut self, function: &[u8], unique: &[u8]);
}

/// Keeps nothing: jobs live only in the server's memory.
#[derive(Debug, Default)]
pub(crate) struct MemoryOnly;

impl JobStore for MemoryOnly {
    fn add(&mut self, _job: StoredJob<'_>) -> Result<(), StoreError> {
        Ok(())
    }

    fn done(&mut self, _function: &[u8], _unique: &[u8]) {}
}
