//! A future and a client's driver run together in one task (see
//! [`ClientDriver::run_with`]): the driver is polled first, then the
//! future, and wake-ups the driver gives the future on the way are absorbed
//! rather than making the task wake itself. Under async-io's `block_on` a
//! task that wakes itself costs one more turn of the reactor (several
//! system calls) before it runs again.

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Wake, Waker};

use crate::ClientDriver;

/// Wake-ups go to the task as usual.
const FORWARDING: u8 = 0;
/// The driver is being polled and the future will be polled next: a
/// wake-up now only needs noting.
const ABSORBING: u8 = 1;
/// A wake-up came while absorbing.
const ABSORBED: u8 = 2;

/// The waker the future is polled with.
struct WorkWaker {
    /// The task's own waker, as of its latest poll.
    task: Mutex<Option<Waker>>,
    state: AtomicU8,
}

impl WorkWaker {
    fn set_task(&self, waker: &Waker) {
        let mut task = self
            .task
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if !task.as_ref().is_some_and(|task| task.will_wake(waker)) {
            *task = Some(waker.clone());
        }
    }
}

impl Wake for WorkWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Noted with a read-modify-write, so that what the waking thread
        // wrote before is visible to the poll that ends the window.
        let mut state = self.state.load(Ordering::Acquire);
        while state != FORWARDING {
            match self.state.compare_exchange_weak(
                state,
                ABSORBED,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(now) => state = now,
            }
        }
        let task = self
            .task
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        if let Some(task) = task {
            task.wake();
        }
    }
}

pub(crate) async fn run_with<F: Future>(driver: &mut ClientDriver, work: F) -> F::Output {
    let mut work = pin!(work);
    let shared = Arc::new(WorkWaker {
        task: Mutex::new(None),
        state: AtomicU8::new(FORWARDING),
    });
    let work_waker = Waker::from(shared.clone());
    let mut driver_done = false;
    std::future::poll_fn(|cx| {
        shared.set_task(cx.waker());
        if !driver_done {
            shared.state.store(ABSORBING, Ordering::Release);
            driver_done = Pin::new(&mut *driver).poll(cx).is_ready();
            // Whatever was absorbed is seen by the poll just below.
            shared.state.swap(FORWARDING, Ordering::AcqRel);
        }
        work.as_mut().poll(&mut Context::from_waker(&work_waker))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counting_waker::CountingWaker;

    #[test]
    fn the_client_types_cross_threads() {
        fn send_and_sync<T: Send + Sync>() {}
        fn send<T: Send>() {}
        send_and_sync::<crate::Client>();
        send_and_sync::<crate::Job>();
        send::<ClientDriver>();
        send::<WorkWaker>();
    }

    #[test]
    fn wake_ups_while_absorbing_are_noted_and_others_reach_the_task() {
        let (counter, task) = CountingWaker::new();
        let shared = Arc::new(WorkWaker {
            task: Mutex::new(None),
            state: AtomicU8::new(FORWARDING),
        });
        shared.set_task(&task);
        let work_waker = Waker::from(shared.clone());

        shared.state.store(ABSORBING, Ordering::Release);
        work_waker.wake_by_ref();
        work_waker.wake_by_ref();
        assert_eq!(counter.count(), 0);
        assert_eq!(shared.state.swap(FORWARDING, Ordering::AcqRel), ABSORBED);

        work_waker.wake_by_ref();
        assert_eq!(counter.count(), 1);
    }
}
