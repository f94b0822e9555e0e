//! The jobs of one connection that wait on one job handle.
//!
//! A server merges foreground submits of the same function and unique id
//! into one job and gives each submit the same handle. gearmand then sends
//! one copy of every WORK_* packet per submit (per listener), back to back.
//! So a non-terminal update is handed to the listeners in turn, copy `k` to
//! listener `k`, and each job sees each update once. A terminal packet ends
//! every listener at once, so no job is left waiting should a server send
//! fewer copies; the extra copies then find no handle and are dropped.
//!
//! A job that ends early (forgotten, deadline) stays as an empty slot, since
//! the server still sends its copies.

use super::request::JobId;

/// Listeners of one handle on one connection, in the order they were created.
#[derive(Debug, Clone)]
pub(crate) struct Listeners {
    /// `None` marks a listener whose job already ended on our side.
    slots: Slots,
    /// The slot the next non-terminal copy goes to.
    cursor: usize,
}

/// One listener is the common case and needs no allocation.
#[derive(Debug, Clone)]
enum Slots {
    One(Option<JobId>),
    Many(Vec<Option<JobId>>),
}

impl Listeners {
    /// A handle with its first listener (`None` for a job that already ended).
    pub(crate) fn new(first: Option<JobId>) -> Listeners {
        Listeners {
            slots: Slots::One(first),
            cursor: 0,
        }
    }

    /// Another submit got this handle.
    pub(crate) fn add(&mut self, job: Option<JobId>) {
        match &mut self.slots {
            Slots::One(first) => self.slots = Slots::Many(vec![*first, job]),
            Slots::Many(slots) => slots.push(job),
        }
    }

    fn as_slice(&self) -> &[Option<JobId>] {
        match &self.slots {
            Slots::One(first) => std::slice::from_ref(first),
            Slots::Many(slots) => slots,
        }
    }

    /// The listener the next non-terminal copy is for (`None`: an ended job's copy).
    pub(crate) fn next_copy(&mut self) -> Option<JobId> {
        let slots = self.as_slice();
        let job = slots[self.cursor % slots.len()];
        self.cursor = (self.cursor + 1) % slots.len();
        job
    }

    /// Jobs still waiting, in order.
    pub(crate) fn live(&self) -> impl Iterator<Item = JobId> + '_ {
        self.as_slice().iter().flatten().copied()
    }

    /// `job` ended on our side; keep its slot for the copies still coming.
    pub(crate) fn forget(&mut self, job: JobId) {
        let slots = match &mut self.slots {
            Slots::One(first) => std::slice::from_mut(first),
            Slots::Many(slots) => slots.as_mut_slice(),
        };
        if let Some(slot) = slots.iter_mut().find(|slot| **slot == Some(job)) {
            *slot = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_rotate_over_listeners_including_ended_ones() {
        let mut l = Listeners::new(Some(JobId(1)));
        assert_eq!(l.next_copy(), Some(JobId(1)));
        assert_eq!(l.next_copy(), Some(JobId(1)));
        l.add(Some(JobId(2)));
        l.add(Some(JobId(3)));
        let copies: Vec<_> = (0..3).map(|_| l.next_copy()).collect();
        assert_eq!(copies, [Some(JobId(1)), Some(JobId(2)), Some(JobId(3))]);
        l.forget(JobId(2));
        let copies: Vec<_> = (0..3).map(|_| l.next_copy()).collect();
        assert_eq!(copies, [Some(JobId(1)), None, Some(JobId(3))]);
        assert_eq!(l.live().collect::<Vec<_>>(), [JobId(1), JobId(3)]);
    }

    #[test]
    fn single_listener_can_be_forgotten() {
        let mut l = Listeners::new(Some(JobId(7)));
        l.forget(JobId(7));
        assert_eq!(l.next_copy(), None);
        assert_eq!(l.live().count(), 0);
    }
}
