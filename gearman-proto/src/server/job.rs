//! Jobs and the slab that owns them.

use std::time::Instant;

use bytes::Bytes;

use crate::endpoint::ConnId;
use crate::packet::Priority;

use super::function::FunctionId;

/// Index of a job in the [`JobSlab`], with a generation so a key kept after
/// the job ended never reaches the slot's next occupant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct JobKey {
    index: u32,
    generation: u32,
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JobState {
    /// In its function's run queue.
    Queued,
    /// A `SUBMIT_JOB_EPOCH` job waiting for its time; not yet in a run queue.
    Scheduled(Instant),
    /// Assigned to a worker connection.
    Running(ConnId),
}

/// How a job takes part in coalescing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Coalesce {
    /// Empty unique id: never coalesced.
    Never,
    /// Keyed by (function, unique).
    ByUnique,
    /// Unique `-` with a non-empty workload: keyed by (function, workload).
    ByPayload,
}

/// The foreground connections attached to a job. One entry per attached
/// submit, so a connection that submitted twice gets every packet twice.
/// Most jobs have zero or one listener; only more allocate.
#[derive(Debug, Clone, Default)]
pub(crate) enum Listeners {
    #[default]
    None,
    One(ConnId),
    Many(Vec<ConnId>),
}

impl Listeners {
    pub(crate) fn push(&mut self, conn: ConnId) {
        *self = match std::mem::take(self) {
            Listeners::None => Listeners::One(conn),
            Listeners::One(first) => Listeners::Many(vec![first, conn]),
            Listeners::Many(mut all) => {
                all.push(conn);
                Listeners::Many(all)
            }
        };
    }

    /// Removes every entry of `conn`.
    pub(crate) fn remove_all(&mut self, conn: ConnId) {
        match self {
            Listeners::None => {}
            Listeners::One(only) => {
                if *only == conn {
                    *self = Listeners::None;
                }
            }
            Listeners::Many(all) => {
                all.retain(|&c| c != conn);
                if all.is_empty() {
                    *self = Listeners::None;
                }
            }
        }
    }

    pub(crate) fn as_slice(&self) -> &[ConnId] {
        match self {
            Listeners::None => &[],
            Listeners::One(only) => std::slice::from_ref(only),
            Listeners::Many(all) => all,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.as_slice().len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        matches!(self, Listeners::None)
    }
}

/// Where a field sits in a job's payload.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Span {
    start: u32,
    end: u32,
}

/// A job's bytes: its handle and, for a small submit, the submit's payload
/// in the same allocation (the only one a job needs); a large payload stays
/// the zero-copy slice of the frame it arrived in.
#[derive(Debug)]
pub(crate) struct JobBytes {
    /// The handle, followed by the payload unless `large` holds it.
    own: Box<[u8]>,
    handle_len: u32,
    large: Option<Bytes>,
    unique: Span,
    reducer: Span,
    data: Span,
}

impl JobBytes {
    /// `handle` followed by `payload`, with the fields given as sub-slices of
    /// `payload`. The payload is copied when at most `inline_max` bytes.
    pub(crate) fn new(
        handle: &[u8],
        payload: &Bytes,
        inline_max: usize,
        unique: &[u8],
        reducer: &[u8],
        data: &[u8],
    ) -> JobBytes {
        let inline = payload.len() <= inline_max;
        let mut own = Vec::with_capacity(handle.len() + if inline { payload.len() } else { 0 });
        own.extend_from_slice(handle);
        if inline {
            own.extend_from_slice(payload);
        }
        let span = |part: &[u8]| {
            let start = (part.as_ptr() as usize)
                .saturating_sub(payload.as_ptr() as usize)
                .min(payload.len());
            let end = (start + part.len()).min(payload.len());
            Span {
                start: start as u32,
                end: end as u32,
            }
        };
        JobBytes {
            own: own.into_boxed_slice(),
            handle_len: handle.len() as u32,
            large: (!inline).then(|| payload.clone()),
            unique: span(unique),
            reducer: span(reducer),
            data: span(data),
        }
    }

    pub(crate) fn handle(&self) -> &[u8] {
        &self.own[..self.handle_len as usize]
    }

    fn payload(&self) -> &[u8] {
        match &self.large {
            Some(large) => large,
            None => &self.own[self.handle_len as usize..],
        }
    }

    fn field(&self, span: Span) -> &[u8] {
        self.payload()
            .get(span.start as usize..span.end as usize)
            .unwrap_or_default()
    }

    pub(crate) fn unique(&self) -> &[u8] {
        self.field(self.unique)
    }

    pub(crate) fn reducer(&self) -> &[u8] {
        self.field(self.reducer)
    }

    pub(crate) fn data(&self) -> &[u8] {
        self.field(self.data)
    }

    /// The workload as a map key: a zero-copy clone when it is large.
    pub(crate) fn data_key(&self) -> Bytes {
        match &self.large {
            Some(large) => large.slice(self.data.start as usize..self.data.end as usize),
            None => Bytes::copy_from_slice(self.data()),
        }
    }
}

/// One job, from submit to its terminal packet.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) bytes: JobBytes,
    /// The number at the end of the handle, its key in the server's index.
    pub(crate) number: u64,
    pub(crate) function: FunctionId,
    pub(crate) priority: Priority,
    pub(crate) background: bool,
    pub(crate) coalesce: Coalesce,
    pub(crate) state: JobState,
    pub(crate) listeners: Listeners,
    /// Times the job was queued again after losing its worker.
    pub(crate) retries: u32,
    /// Cancelled, or abandoned by every foreground client: discarded instead
    /// of assigned, and its results go nowhere.
    pub(crate) ignored: bool,
    /// Cancelled by the admin `cancel job` command.
    pub(crate) cancelled: bool,
    /// A background job: `show jobs` reports it as persisted, as gearmand
    /// does for jobs its queue holds (this server keeps jobs in memory only).
    pub(crate) persisted: bool,
    pub(crate) numerator: u32,
    pub(crate) denominator: u32,
}

#[derive(Debug)]
struct Slot {
    generation: u32,
    job: Option<Job>,
}

/// Owns every live job; keys are reused slot indexes with a fresh generation.
#[derive(Debug, Default)]
pub(crate) struct JobSlab {
    slots: Vec<Slot>,
    free: Vec<u32>,
    len: usize,
}

impl JobSlab {
    pub(crate) fn insert(&mut self, job: Job) -> JobKey {
        self.len += 1;
        if let Some(index) = self.free.pop() {
            let slot = &mut self.slots[index as usize];
            slot.generation = slot.generation.wrapping_add(1);
            slot.job = Some(job);
            return JobKey {
                index,
                generation: slot.generation,
            };
        }
        let index = u32::try_from(self.slots.len()).expect("fewer than 4 billion live jobs");
        self.slots.push(Slot {
            generation: 0,
            job: Some(job),
        });
        JobKey {
            index,
            generation: 0,
        }
    }

    pub(crate) fn get(&self, key: JobKey) -> Option<&Job> {
        let slot = self.slots.get(key.index as usize)?;
        if slot.generation != key.generation {
            return None;
        }
        slot.job.as_ref()
    }

    pub(crate) fn get_mut(&mut self, key: JobKey) -> Option<&mut Job> {
        let slot = self.slots.get_mut(key.index as usize)?;
        if slot.generation != key.generation {
            return None;
        }
        slot.job.as_mut()
    }

    pub(crate) fn remove(&mut self, key: JobKey) -> Option<Job> {
        let slot = self.slots.get_mut(key.index as usize)?;
        if slot.generation != key.generation {
            return None;
        }
        let job = slot.job.take()?;
        self.free.push(key.index);
        self.len -= 1;
        Some(job)
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Live jobs in slot order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (JobKey, &Job)> + '_ {
        self.slots.iter().enumerate().filter_map(|(index, slot)| {
            slot.job.as_ref().map(|job| {
                (
                    JobKey {
                        index: index as u32,
                        generation: slot.generation,
                    },
                    job,
                )
            })
        })
    }
}
