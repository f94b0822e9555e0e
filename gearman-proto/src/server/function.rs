//! Functions: their run queues, worker registrations and counters.

use std::collections::VecDeque;

use bytes::Bytes;

use crate::endpoint::ConnId;
use crate::packet::Priority;

use super::job::{Coalesce, JobKey};
use crate::fast_map::FastMap;

/// Index of a function in the [`Functions`] registry.
pub(crate) type FunctionId = u32;

/// Index of a priority in per-priority arrays: high, normal, low.
pub(crate) fn priority_index(priority: Priority) -> usize {
    match priority {
        Priority::High => 0,
        Priority::Normal => 1,
        Priority::Low => 2,
    }
}

/// The three priorities in the order workers are served.
pub(crate) const PRIORITIES: [Priority; 3] = [Priority::High, Priority::Normal, Priority::Low];

/// One function name known to the server.
#[derive(Debug)]
pub(crate) struct Function {
    pub(crate) name: Bytes,
    /// Run queues per priority, FIFO. May hold ignored jobs, which are
    /// discarded when they reach the front.
    pub(crate) queues: [VecDeque<JobKey>; 3],
    /// Jobs waiting per priority: in a run queue or scheduled for later.
    pub(crate) queued: [u32; 3],
    /// Jobs assigned to workers.
    pub(crate) running: u32,
    /// One entry per registration (a connection that sent CAN_DO twice is
    /// here twice, as in gearmand's `status`).
    pub(crate) workers: Vec<ConnId>,
    /// `maxqueue` limits per priority; `0` means unlimited.
    pub(crate) max_queue: [u32; 3],
    /// Where the next NOOP round starts, so wake-ups rotate over workers.
    pub(crate) wakeup_cursor: usize,
    /// Live jobs by unique id, for coalescing.
    pub(crate) by_unique: FastMap<Bytes, JobKey>,
    /// Live jobs submitted with unique `-`, by workload.
    pub(crate) by_payload: FastMap<Bytes, JobKey>,
}

impl Function {
    fn new(name: Bytes) -> Function {
        Function {
            name,
            queues: Default::default(),
            queued: [0; 3],
            running: 0,
            workers: Vec::new(),
            max_queue: [0; 3],
            wakeup_cursor: 0,
            by_unique: FastMap::default(),
            by_payload: FastMap::default(),
        }
    }

    /// Queued plus running jobs (the `status` TOTAL column).
    pub(crate) fn total(&self) -> u32 {
        self.queued.iter().sum::<u32>() + self.running
    }

    /// The coalescing index for `coalesce`, if any.
    pub(crate) fn coalescing_map(
        &mut self,
        coalesce: Coalesce,
    ) -> Option<&mut FastMap<Bytes, JobKey>> {
        match coalesce {
            Coalesce::Never => None,
            Coalesce::ByUnique => Some(&mut self.by_unique),
            Coalesce::ByPayload => Some(&mut self.by_payload),
        }
    }

    /// Whether any run queue holds a job.
    pub(crate) fn has_runnable(&self) -> bool {
        self.queues.iter().any(|q| !q.is_empty())
    }
}

/// Every function name, by id and by name. Names stay until `drop function`
/// (gearmand never forgets them either); freed ids are reused.
#[derive(Debug, Default)]
pub(crate) struct Functions {
    slots: Vec<Option<Function>>,
    free: Vec<FunctionId>,
    by_name: FastMap<Bytes, FunctionId>,
}

impl Functions {
    pub(crate) fn lookup(&self, name: &[u8]) -> Option<FunctionId> {
        self.by_name.get(name).copied()
    }

    /// The id of `name`, creating the function if needed.
    pub(crate) fn find_or_create(&mut self, name: &Bytes) -> FunctionId {
        if let Some(&id) = self.by_name.get(&name[..]) {
            return id;
        }
        // Own the name: a slice of a read frame would pin the whole frame.
        let name = Bytes::copy_from_slice(name);
        let function = Function::new(name.clone());
        let id = match self.free.pop() {
            Some(id) => {
                self.slots[id as usize] = Some(function);
                id
            }
            None => {
                self.slots.push(Some(function));
                FunctionId::try_from(self.slots.len() - 1).expect("fewer than 4 billion functions")
            }
        };
        self.by_name.insert(name, id);
        id
    }

    pub(crate) fn get(&self, id: FunctionId) -> &Function {
        self.slots[id as usize]
            .as_ref()
            .expect("function ids held by jobs and workers stay live")
    }

    pub(crate) fn get_mut(&mut self, id: FunctionId) -> &mut Function {
        self.slots[id as usize]
            .as_mut()
            .expect("function ids held by jobs and workers stay live")
    }

    /// Removes a function; the caller checked that nothing refers to it.
    pub(crate) fn remove(&mut self, id: FunctionId) {
        if let Some(function) = self.slots[id as usize].take() {
            self.by_name.remove(&function.name[..]);
            self.free.push(id);
        }
    }

    /// Live functions in id order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (FunctionId, &Function)> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(id, f)| f.as_ref().map(|f| (id as FunctionId, f)))
    }

    pub(crate) fn len(&self) -> usize {
        self.by_name.len()
    }
}
