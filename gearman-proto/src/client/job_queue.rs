//! The queue between a client's run loop and one job handle.

use std::collections::VecDeque;

/// An unbounded single-consumer queue of one job's steps that keeps one
/// item inline: a job's steps are usually taken one at a time, so most
/// jobs cost no allocation here, where a general channel allocates a block
/// of slots (kilobytes per job with many thousands in flight). The
/// runtime-neutral half of a job link: [`job_steps`](crate::client::job_steps)
/// adds the lock and the waking for every adapter.
///
/// ```
/// use gearman_proto::client::JobQueue;
///
/// let mut queue = JobQueue::new();
/// assert!(queue.is_empty());
/// assert_eq!(queue.push(1), Ok(()));
/// assert_eq!(queue.push(2), Ok(()));
/// assert_eq!(queue.pop(), Some(1));
/// queue.close_sender();
/// assert_eq!(queue.pop(), Some(2));
/// assert_eq!(queue.pop(), None);
/// assert!(queue.sender_gone(), "nothing more will come");
/// queue.close_receiver();
/// assert!(queue.receiver_gone());
/// assert_eq!(queue.push(3), Err(3), "nobody would take it");
/// ```
#[derive(Debug)]
pub struct JobQueue<T> {
    /// The oldest item; `None` only when `rest` is empty too.
    head: Option<T>,
    /// Later items, in order; none for most jobs, and boxed so that a job
    /// in flight holds one pointer for them rather than a whole `VecDeque`.
    #[expect(clippy::box_collection, reason = "one pointer per job in flight")]
    rest: Option<Box<VecDeque<T>>>,
    sender_gone: bool,
    receiver_gone: bool,
}

impl<T> Default for JobQueue<T> {
    fn default() -> JobQueue<T> {
        JobQueue::new()
    }
}

impl<T> JobQueue<T> {
    /// An empty queue with both ends open.
    pub fn new() -> JobQueue<T> {
        JobQueue {
            head: None,
            rest: None,
            sender_gone: false,
            receiver_gone: false,
        }
    }

    /// Queues `item` after the others; gives it back once the receiver is
    /// gone.
    pub fn push(&mut self, item: T) -> Result<(), T> {
        if self.receiver_gone {
            return Err(item);
        }
        if self.head.is_none() {
            self.head = Some(item);
        } else {
            self.rest.get_or_insert_default().push_back(item);
        }
        Ok(())
    }

    /// The oldest item.
    pub fn pop(&mut self) -> Option<T> {
        let item = self.head.take()?;
        self.head = self.rest.as_mut().and_then(|rest| rest.pop_front());
        Some(item)
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.head.is_none()
    }

    /// Whether the receiver is gone: [`push`](JobQueue::push) gives items
    /// back.
    pub fn receiver_gone(&self) -> bool {
        self.receiver_gone
    }

    /// Whether the sender is gone: once [`pop`](JobQueue::pop) returns
    /// `None`, nothing more will come.
    pub fn sender_gone(&self) -> bool {
        self.sender_gone
    }

    /// The sender is gone.
    pub fn close_sender(&mut self) {
        self.sender_gone = true;
    }

    /// The receiver is gone: later items are refused, and those queued for
    /// nobody are dropped now rather than with the sender.
    pub fn close_receiver(&mut self) {
        self.receiver_gone = true;
        self.head = None;
        self.rest = None;
    }
}
