//! The link from the client's state machine to one [`Job`](super::Job): a
//! [`JobQueue`] behind one mutex and condition variable.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use gearman_proto::client::JobQueue;

struct Queue<T> {
    items: JobQueue<T>,
    /// Times the receiver began to wait, so tests can send once it waits.
    #[cfg(test)]
    waits: usize,
}

struct Shared<T> {
    queue: Mutex<Queue<T>>,
    /// Signalled on every item and when the sender goes.
    ready: Condvar,
}

/// The client's end.
pub(crate) struct JobSender<T> {
    shared: Arc<Shared<T>>,
}

/// Wakes the job, for an item sent without waking.
pub(crate) struct JobWaker<T> {
    shared: Arc<Shared<T>>,
}

impl<T> JobWaker<T> {
    /// Wakes the job if it waits.
    pub(crate) fn wake(&self) {
        self.shared.ready.notify_one();
    }
}

/// The job's end.
pub(crate) struct JobReceiver<T> {
    shared: Arc<Shared<T>>,
}

/// Why [`JobReceiver::recv_until`] returned no item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecvError {
    /// The deadline passed first.
    Timeout,
    /// The queue is empty and the sender is gone.
    Disconnected,
}

/// A new, empty link.
pub(crate) fn job_channel<T>() -> (JobSender<T>, JobReceiver<T>) {
    let shared = Arc::new(Shared {
        queue: Mutex::new(Queue {
            items: JobQueue::new(),
            #[cfg(test)]
            waits: 0,
        }),
        ready: Condvar::new(),
    });
    (
        JobSender {
            shared: shared.clone(),
        },
        JobReceiver { shared },
    )
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, Queue<T>> {
        // Nothing can panic while the lock is held, so a poisoned queue is intact.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<T> JobSender<T> {
    /// Queues `item` and, when `wake`, wakes the job; gives it back when the
    /// job is gone. An item sent without waking is seen with the next one
    /// that wakes (or when the sender goes), which saves a wake-up for items
    /// the job's user does not wait for.
    pub(crate) fn send(&self, item: T, wake: bool) -> Result<(), T> {
        self.shared.lock().items.push(item)?;
        if wake {
            self.shared.ready.notify_one();
        }
        Ok(())
    }

    /// A way to wake the job later, for an item sent without waking.
    pub(crate) fn waker(&self) -> JobWaker<T> {
        JobWaker {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for JobSender<T> {
    fn drop(&mut self) {
        self.shared.lock().items.close_sender();
        self.shared.ready.notify_one();
    }
}

impl<T> JobReceiver<T> {
    /// The next item in the order sent, waiting for it until `deadline`
    /// (`None`: forever).
    pub(crate) fn recv_until(&mut self, deadline: Option<Instant>) -> Result<T, RecvError> {
        let mut queue = self.shared.lock();
        loop {
            if let Some(item) = queue.items.pop() {
                return Ok(item);
            }
            if queue.items.sender_gone() {
                return Err(RecvError::Disconnected);
            }
            #[cfg(test)]
            {
                queue.waits += 1;
            }
            queue = match deadline {
                None => self
                    .shared
                    .ready
                    .wait(queue)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(at) => {
                    let left = at.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(RecvError::Timeout);
                    }
                    self.shared
                        .ready
                        .wait_timeout(queue, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
    }
}

impl<T> Drop for JobReceiver<T> {
    fn drop(&mut self) {
        self.shared.lock().items.close_receiver();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;
    use std::time::Duration;

    #[test]
    fn items_arrive_in_order() {
        let (sender, mut receiver) = job_channel();
        for item in 1..=5 {
            assert_eq!(sender.send(item, true), Ok(()));
        }
        let seen: Vec<_> = (0..5).map(|_| receiver.recv_until(None).unwrap()).collect();
        assert_eq!(seen, [1, 2, 3, 4, 5]);
        assert_eq!(sender.send(6, true), Ok(()));
        assert_eq!(receiver.recv_until(None), Ok(6));
    }

    /// Returns once the receiver has begun to wait for an item.
    fn until_waiting<T>(sender: &JobSender<T>) {
        while sender.shared.lock().waits == 0 {
            thread::yield_now();
        }
    }

    #[test]
    fn a_waiting_job_wakes_on_an_item_from_another_thread() {
        let (sender, mut receiver) = job_channel();
        let feeder = thread::spawn(move || {
            until_waiting(&sender);
            assert_eq!(sender.send("late", true), Ok(()));
            sender
        });
        assert_eq!(receiver.recv_until(None), Ok("late"));
        drop(feeder.join().expect("the feeder does not panic"));
        assert_eq!(receiver.recv_until(None), Err(RecvError::Disconnected));
    }

    #[test]
    fn an_item_sent_without_waking_arrives_with_the_next() {
        let (sender, mut receiver) = job_channel();
        let feeder = thread::spawn(move || {
            until_waiting(&sender);
            assert_eq!(sender.send("quiet", false), Ok(()));
            assert_eq!(sender.send("loud", true), Ok(()));
            sender
        });
        assert_eq!(receiver.recv_until(None), Ok("quiet"));
        assert_eq!(receiver.recv_until(None), Ok("loud"));
        drop(feeder.join().expect("the feeder does not panic"));
    }

    #[test]
    fn a_waker_wakes_the_job_for_an_item_sent_without_waking() {
        let (sender, mut receiver) = job_channel();
        let feeder = thread::spawn(move || {
            until_waiting(&sender);
            assert_eq!(sender.send("later", false), Ok(()));
            sender.waker().wake();
            sender
        });
        // Bounded, so a lost wake-up fails rather than hangs.
        let deadline = Instant::now() + Duration::from_secs(10);
        assert_eq!(receiver.recv_until(Some(deadline)), Ok("later"));
        drop(feeder.join().expect("the feeder does not panic"));
    }

    #[test]
    fn a_dropped_sender_ends_the_queue_after_its_items() {
        let (sender, mut receiver) = job_channel();
        assert_eq!(sender.send("last", true), Ok(()));
        drop(sender);
        assert_eq!(receiver.recv_until(None), Ok("last"));
        assert_eq!(receiver.recv_until(None), Err(RecvError::Disconnected));
    }

    #[test]
    fn waiting_gives_up_at_the_deadline() {
        let (sender, mut receiver) = job_channel::<u8>();
        let start = Instant::now();
        let deadline = start + Duration::from_millis(30);
        assert_eq!(receiver.recv_until(Some(deadline)), Err(RecvError::Timeout));
        assert!(Instant::now() >= deadline);
        assert_eq!(sender.send(1, true), Ok(()));
        assert_eq!(receiver.recv_until(Some(start)), Ok(1));
    }

    #[test]
    fn a_dropped_job_refuses_items() {
        let (sender, receiver) = job_channel();
        drop(receiver);
        assert_eq!(sender.send(7, true), Err(7));
    }
}
