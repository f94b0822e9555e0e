//! A future and a client's driver run together in one task (see
//! [`ClientDriver::run_with`]): the driver is polled first, then the
//! future, and wake-ups either gives the other (or itself) on the way are
//! absorbed rather than making the task wake itself: the driver's outcomes
//! waking the future, the future's requests waking the driver,
//! `FuturesUnordered` waking itself whenever it polled all of its futures
//! and they are pending. Each is answered by polling again at once, a few
//! times at most. Under async-io's `block_on` a task that wakes itself
//! costs one more turn of the reactor (five system calls) before it runs
//! again.

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use crate::ClientDriver;

/// Wake-ups go to the task as usual.
const FORWARDING: u8 = 0;
/// The driver is being polled and the future will be polled next: a
/// wake-up now only needs noting.
const ABSORBING: u8 = 1;
/// A wake-up came while absorbing.
const ABSORBED: u8 = 2;
/// Polls of the driver and the future in one poll of the task while the
/// future keeps waking itself; then the task yields to the executor.
const POLLS_PER_WAKE: usize = 4;

/// The waker the driver or the future is polled with.
struct AbsorbingWaker {
    /// The task's own waker, as of its latest poll.
    task: Mutex<Option<Waker>>,
    state: AtomicU8,
}

impl AbsorbingWaker {
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

impl Wake for AbsorbingWaker {
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
    let absorbing = || {
        Arc::new(AbsorbingWaker {
            task: Mutex::new(None),
            state: AtomicU8::new(FORWARDING),
        })
    };
    let (work_shared, driver_shared) = (absorbing(), absorbing());
    let work_waker = Waker::from(work_shared.clone());
    let driver_waker = Waker::from(driver_shared.clone());
    let mut driver_done = false;
    std::future::poll_fn(|cx| {
        work_shared.set_task(cx.waker());
        driver_shared.set_task(cx.waker());
        for _ in 0..POLLS_PER_WAKE {
            work_shared.state.store(ABSORBING, Ordering::Release);
            driver_shared.state.store(ABSORBING, Ordering::Release);
            if !driver_done {
                driver_done = Pin::new(&mut *driver)
                    .poll(&mut Context::from_waker(&driver_waker))
                    .is_ready();
                // Whatever was absorbed is seen by the poll just below. A
                // read-modify-write, for the same reason as in `wake_by_ref`.
                work_shared.state.swap(ABSORBING, Ordering::AcqRel);
            }
            if let Poll::Ready(output) = work.as_mut().poll(&mut Context::from_waker(&work_waker)) {
                work_shared.state.store(FORWARDING, Ordering::Release);
                driver_shared.state.store(FORWARDING, Ordering::Release);
                return Poll::Ready(output);
            }
            // Woken during its poll (or since, from another thread), or the
            // driver woken by the future's requests or by itself: poll
            // again now rather than through the executor.
            let work_woken = work_shared.state.swap(FORWARDING, Ordering::AcqRel) == ABSORBED;
            let driver_woken = driver_shared.state.swap(FORWARDING, Ordering::AcqRel) == ABSORBED;
            if !work_woken && (driver_done || !driver_woken) {
                return Poll::Pending;
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
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
        send::<AbsorbingWaker>();
    }

    #[test]
    fn wake_ups_while_absorbing_are_noted_and_others_reach_the_task() {
        let (counter, task) = CountingWaker::new();
        let shared = Arc::new(AbsorbingWaker {
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

    #[test]
    fn requests_the_future_sends_while_the_driver_is_busy_wake_no_one() {
        // A connect that never ends keeps every wake-up in this test.
        let never = |_: &str| -> crate::transport::Connecting { Box::pin(std::future::pending()) };
        let config = crate::ClientConfig::new(["127.0.0.1:1"]);
        let (client, mut driver) = crate::Client::with_connector(config, never).unwrap();
        let (counter, task) = CountingWaker::new();
        // The first request finds the driver idle and is applied directly;
        // the second is queued for the driver, which is woken for it.
        let mut first = pin!(client.echo("one"));
        let mut second = pin!(client.echo("two"));
        let polls = AtomicU8::new(0);
        let work = std::future::poll_fn(|cx| {
            polls.fetch_add(1, Ordering::SeqCst);
            assert!(first.as_mut().poll(cx).is_pending());
            assert!(second.as_mut().poll(cx).is_pending());
            Poll::<()>::Pending
        });
        let run = pin!(run_with(&mut driver, work));
        assert!(run.poll(&mut Context::from_waker(&task)).is_pending());
        assert_eq!(counter.count(), 0, "the task must not be woken");
        assert!(
            polls.load(Ordering::SeqCst) >= 2,
            "the driver's wake-up polls again"
        );
    }

    /// A future that wakes itself each time it is polled (as
    /// `FuturesUnordered` does when all of its futures are pending) and is
    /// ready at poll `ready_at`.
    fn waking_itself(polls: &AtomicU8, ready_at: u8) -> impl Future<Output = ()> + '_ {
        std::future::poll_fn(move |cx| {
            if polls.fetch_add(1, Ordering::SeqCst) + 1 == ready_at {
                return Poll::Ready(());
            }
            cx.waker().wake_by_ref();
            Poll::Pending
        })
    }

    #[test]
    fn a_future_that_wakes_itself_is_polled_again_without_the_executor() {
        let (_client, mut driver) = crate::Client::new(["127.0.0.1:1"]).unwrap();
        let (_counter, task) = CountingWaker::new();
        let polls = AtomicU8::new(0);
        let run = pin!(run_with(&mut driver, waking_itself(&polls, 2)));
        assert!(run.poll(&mut Context::from_waker(&task)).is_ready());
        assert_eq!(polls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_future_that_keeps_waking_itself_yields_to_the_executor() {
        let (_client, mut driver) = crate::Client::new(["127.0.0.1:1"]).unwrap();
        let (counter, task) = CountingWaker::new();
        let polls = AtomicU8::new(0);
        let mut run = pin!(run_with(&mut driver, waking_itself(&polls, u8::MAX)));
        assert!(
            run.as_mut()
                .poll(&mut Context::from_waker(&task))
                .is_pending()
        );
        assert_eq!(polls.load(Ordering::SeqCst) as usize, POLLS_PER_WAKE);
        assert!(counter.count() >= 1, "the task must be polled again");
    }
}
