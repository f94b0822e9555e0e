//! Handles by which users send commands to a machine.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use super::machine::{Driven, Machine};

/// A user handle on a machine (a client's): when the last clone of the
/// `Arc` holding it is dropped, the machine is told.
pub(crate) struct Handle<D: Driven> {
    machine: Arc<Machine<D>>,
}

impl<D: Driven> Handle<D> {
    /// A handle on `machine`.
    pub(crate) fn new(machine: Arc<Machine<D>>) -> Arc<Handle<D>> {
        Arc::new(Handle { machine })
    }

    /// Runs `change` on the driven state (see [`Machine::drive`]); `None`
    /// when the machine has ended.
    pub(crate) fn drive<R>(
        &self,
        change: impl FnOnce(&mut D::Core, &mut D, &mut super::Io, std::time::Instant) -> R,
    ) -> Option<R> {
        self.machine.drive(change)
    }

    /// Applies a command; false when the machine has ended.
    pub(crate) fn send(&self, command: D::Command) -> bool {
        self.machine.command(command)
    }
}

impl<D: Driven> Drop for Handle<D> {
    fn drop(&mut self) {
        self.machine.handles_dropped();
    }
}

enum Slot<D: Driven> {
    /// Commands sent before the machine exists, applied when it starts.
    Waiting(Vec<D::Command>),
    Started(Weak<Machine<D>>),
}

/// A handle that can be made before its machine exists (a stop handle taken
/// from a server not serving yet): commands sent early wait for the start.
pub(crate) struct Remote<D: Driven> {
    slot: Arc<Mutex<Slot<D>>>,
}

impl<D: Driven> Clone for Remote<D> {
    fn clone(&self) -> Self {
        Remote {
            slot: self.slot.clone(),
        }
    }
}

impl<D: Driven> Remote<D> {
    /// A handle on a machine to come.
    pub(crate) fn new() -> Remote<D> {
        Remote {
            slot: Arc::new(Mutex::new(Slot::Waiting(Vec::new()))),
        }
    }

    fn slot(&self) -> MutexGuard<'_, Slot<D>> {
        // Nothing panics while the slot is locked.
        self.slot.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Applies `command` now, or at the start; does nothing once the machine
    /// has ended.
    pub(crate) fn send(&self, command: D::Command) {
        let machine = match &mut *self.slot() {
            Slot::Waiting(early) => {
                early.push(command);
                return;
            }
            Slot::Started(machine) => machine.clone(),
        };
        // Applied unlocked: the machine's lock is never taken under the slot's.
        if let Some(machine) = machine.upgrade() {
            machine.command(command);
        }
    }

    /// Runs `change` on the driven state (see [`Machine::drive`]); `None`
    /// before the machine starts and once it has ended.
    pub(crate) fn drive<R>(
        &self,
        change: impl FnOnce(&mut D::Core, &mut D, &mut super::Io, std::time::Instant) -> R,
    ) -> Option<R> {
        let machine = match &*self.slot() {
            Slot::Waiting(_) => return None,
            Slot::Started(machine) => machine.clone(),
        };
        // Driven unlocked: the machine's lock is never taken under the slot's.
        machine.upgrade()?.drive(change)
    }

    /// Connects the handle to its machine and applies what was sent early.
    pub(crate) fn start(&self, machine: &Arc<Machine<D>>) {
        let early =
            match std::mem::replace(&mut *self.slot(), Slot::Started(Arc::downgrade(machine))) {
                Slot::Waiting(early) => early,
                Slot::Started(_) => Vec::new(),
            };
        for command in early {
            machine.command(command);
        }
    }
}
