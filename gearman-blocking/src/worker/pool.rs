//! The queue between a worker's machine and its handler threads.
//!
//! Idle threads wait on one condition variable. A task wakes one of them
//! unless one is already on its way, and a thread that takes a task while
//! more wait wakes the next: tasks queued together fan out one wake-up at
//! a time (they often take less time than a wake-up, so the first threads
//! may be back for the rest before more are woken). A receiver shared
//! behind a mutex would instead also wake, after the last task, a thread
//! that finds nothing and waits again.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

struct Queue<T> {
    tasks: VecDeque<T>,
    /// Threads waiting for a task.
    idle: usize,
    /// One of those was woken and has not looked yet.
    woken: bool,
    /// No more tasks come: threads return once the queue is empty.
    closed: bool,
}

impl<T> Queue<T> {
    /// Whether to wake an idle thread for the queued tasks: when one is
    /// idle and none is on its way already (counted as on its way).
    fn wake_one(&mut self) -> bool {
        let wake = !self.woken && self.idle > 0;
        self.woken |= wake;
        wake
    }
}

/// Tasks for a pool of threads, first in, first out.
pub(super) struct TaskQueue<T> {
    queue: Mutex<Queue<T>>,
    ready: Condvar,
}

impl<T> TaskQueue<T> {
    /// An empty, open queue.
    pub(super) fn new() -> TaskQueue<T> {
        TaskQueue {
            queue: Mutex::new(Queue {
                tasks: VecDeque::new(),
                idle: 0,
                woken: false,
                closed: false,
            }),
            ready: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue<T>> {
        // Nothing panics while the queue is locked.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `task`, waking an idle thread unless one is already woken;
    /// gives the task back once the queue is closed.
    pub(super) fn push(&self, task: T) -> Result<(), T> {
        let wake = {
            let mut queue = self.lock();
            if queue.closed {
                return Err(task);
            }
            queue.tasks.push_back(task);
            queue.wake_one()
        };
        // Woken unlocked, so the thread does not wait for the lock next.
        if wake {
            self.ready.notify_one();
        }
        Ok(())
    }

    /// The next task, waiting for one; `None` once the queue is closed and
    /// empty.
    pub(super) fn pop(&self) -> Option<T> {
        let mut queue = self.lock();
        loop {
            if let Some(task) = queue.tasks.pop_front() {
                let wake = !queue.tasks.is_empty() && queue.wake_one();
                drop(queue);
                if wake {
                    self.ready.notify_one();
                }
                return Some(task);
            }
            if queue.closed {
                return None;
            }
            queue.idle += 1;
            queue = self
                .ready
                .wait(queue)
                .unwrap_or_else(PoisonError::into_inner);
            queue.idle -= 1;
            // A spurious wake-up may take the woken thread's turn; that one
            // then finds the queue empty and waits again, and the tasks left
            // are fanned out from here, so none is missed.
            queue.woken = false;
        }
    }

    /// Refuses further tasks and lets every thread return once the queued
    /// ones are taken.
    pub(super) fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::sync::{Arc, Barrier};
    use std::thread;
    use std::time::Duration;

    #[test]
    fn every_task_is_taken_once_and_threads_return_after_the_close() {
        let queue = Arc::new(TaskQueue::new());
        let (taken, seen) = mpsc::channel();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let queue = queue.clone();
                let taken = taken.clone();
                thread::spawn(move || {
                    while let Some(task) = queue.pop() {
                        taken.send(task).unwrap();
                    }
                })
            })
            .collect();
        drop(taken);
        for task in 0..1000u32 {
            queue.push(task).unwrap();
        }
        queue.close();
        assert_eq!(queue.push(1000), Err(1000), "a closed queue refuses");
        for thread in threads {
            thread.join().unwrap();
        }
        let mut all: Vec<u32> = seen.iter().collect();
        all.sort_unstable();
        assert_eq!(all, (0..1000).collect::<Vec<_>>());
    }

    // Tasks queued together while every thread is idle still all run at
    // once: each that waits on the others is only freed when all started.
    #[test]
    fn tasks_queued_together_fan_out_to_every_idle_thread() {
        const THREADS: usize = 4;
        let queue = Arc::new(TaskQueue::<Arc<Barrier>>::new());
        let (done, finished) = mpsc::channel();
        for _ in 0..THREADS {
            let queue = queue.clone();
            let done = done.clone();
            thread::spawn(move || {
                while let Some(all_started) = queue.pop() {
                    all_started.wait();
                    done.send(()).unwrap();
                }
            });
        }
        while queue.lock().idle < THREADS {
            thread::yield_now();
        }
        let all_started = Arc::new(Barrier::new(THREADS));
        for _ in 0..THREADS {
            queue.push(all_started.clone()).unwrap();
        }
        for _ in 0..THREADS {
            assert_eq!(finished.recv_timeout(Duration::from_secs(10)), Ok(()));
        }
        queue.close();
    }
}
