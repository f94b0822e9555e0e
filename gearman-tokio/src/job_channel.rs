//! The link from the client's run loop to one [`Job`](crate::Job): a
//! [`JobQueue`] behind a mutex, with the job's task to wake.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use gearman_proto::client::JobQueue;

struct Queue<T> {
    items: JobQueue<T>,
    waker: Option<Waker>,
}

/// The run loop's end.
pub(crate) struct JobSender<T> {
    queue: Arc<Mutex<Queue<T>>>,
}

/// The job's end.
pub(crate) struct JobReceiver<T> {
    queue: Arc<Mutex<Queue<T>>>,
}

/// A new, empty link.
pub(crate) fn job_channel<T>() -> (JobSender<T>, JobReceiver<T>) {
    let queue = Arc::new(Mutex::new(Queue {
        items: JobQueue::new(),
        waker: None,
    }));
    (
        JobSender {
            queue: queue.clone(),
        },
        JobReceiver { queue },
    )
}

fn lock<T>(queue: &Mutex<Queue<T>>) -> MutexGuard<'_, Queue<T>> {
    // Nothing can panic while the lock is held, so a poisoned queue is intact.
    queue.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<T> JobSender<T> {
    /// Queues `item`, waking the job when `wake` says so; gives it back
    /// when the job is gone.
    pub(crate) fn send(&self, item: T, wake: bool) -> Result<(), T> {
        let waker = {
            let mut queue = lock(&self.queue);
            queue.items.push(item)?;
            if !wake {
                return Ok(());
            }
            queue.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }
}

impl<T> Drop for JobSender<T> {
    fn drop(&mut self) {
        let waker = {
            let mut queue = lock(&self.queue);
            queue.items.close_sender();
            queue.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> JobReceiver<T> {
    /// The next item in the order sent; `None` once the queue is empty and
    /// the sender is gone.
    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut queue = lock(&self.queue);
        if let Some(item) = queue.items.pop() {
            return Poll::Ready(Some(item));
        }
        if queue.items.sender_gone() {
            return Poll::Ready(None);
        }
        if !queue
            .waker
            .as_ref()
            .is_some_and(|waker| waker.will_wake(cx.waker()))
        {
            queue.waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

impl<T> Drop for JobReceiver<T> {
    fn drop(&mut self) {
        lock(&self.queue).items.close_receiver();
    }
}

impl<T> std::fmt::Debug for JobReceiver<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JobReceiver")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct CountingWaker(AtomicUsize);

    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counting() -> (Arc<CountingWaker>, Waker) {
        let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
        let waker = Waker::from(counter.clone());
        (counter, waker)
    }

    #[test]
    fn items_arrive_in_order_and_each_send_wakes_the_waiting_job() {
        let (counter, waker) = counting();
        let mut cx = Context::from_waker(&waker);
        let (sender, mut receiver) = job_channel();
        assert!(receiver.poll_recv(&mut cx).is_pending());
        assert_eq!(sender.send(1, true), Ok(()));
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        assert_eq!(receiver.poll_recv(&mut cx), Poll::Ready(Some(1)));
        for item in 2..=5 {
            assert_eq!(sender.send(item, true), Ok(()));
        }
        let mut seen = Vec::new();
        while let Poll::Ready(Some(item)) = receiver.poll_recv(&mut cx) {
            seen.push(item);
        }
        assert_eq!(seen, [2, 3, 4, 5]);
        assert!(receiver.poll_recv(&mut cx).is_pending());
        assert_eq!(sender.send(6, true), Ok(()));
        assert_eq!(receiver.poll_recv(&mut cx), Poll::Ready(Some(6)));
    }

    #[test]
    fn an_item_sent_without_waking_is_read_with_the_next_one() {
        let (counter, waker) = counting();
        let mut cx = Context::from_waker(&waker);
        let (sender, mut receiver) = job_channel();
        assert!(receiver.poll_recv(&mut cx).is_pending());
        assert_eq!(sender.send("created", false), Ok(()));
        assert_eq!(counter.0.load(Ordering::SeqCst), 0);
        assert_eq!(sender.send("end", true), Ok(()));
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        assert_eq!(receiver.poll_recv(&mut cx), Poll::Ready(Some("created")));
        assert_eq!(receiver.poll_recv(&mut cx), Poll::Ready(Some("end")));
    }

    #[test]
    fn a_dropped_sender_ends_the_queue_after_its_items() {
        let (counter, waker) = counting();
        let mut cx = Context::from_waker(&waker);
        let (sender, mut receiver) = job_channel();
        assert!(receiver.poll_recv(&mut cx).is_pending());
        assert_eq!(sender.send("last", true), Ok(()));
        drop(sender);
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        assert_eq!(receiver.poll_recv(&mut cx), Poll::Ready(Some("last")));
        assert_eq!(receiver.poll_recv(&mut cx), Poll::Ready(None));
    }

    #[test]
    fn a_dropped_job_refuses_items() {
        let (sender, receiver) = job_channel();
        drop(receiver);
        assert_eq!(sender.send(7, true), Err(7));
    }
}
