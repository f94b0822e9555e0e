//! One state machine and its sockets behind a mutex, driven by whichever
//! thread has something for it; a mailbox for the threads that find it
//! busy, and a timer thread that sleeps until the core's next deadline.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError, Weak};
use std::thread::{self, Thread};
use std::time::Instant;

use bytes::Bytes;
use gearman_proto::endpoint::Glue;
use gearman_proto::{ConnId, ConnectError, Endpoint};

use super::sockets::{ConnState, Dialer, Io, Sink};
use crate::transport::Connection;

/// Glue the machine can run: a role's [`Glue`] over the machine's sockets,
/// movable between the threads that drive it. [`Glue::deliver`] is called
/// with the machine locked, so it neither blocks nor calls user code.
pub(crate) trait Driven: Glue<Io, Core: Send, Command: Send> + Send + 'static {
    /// Called before each [`deliver`](Glue::deliver). With `may_defer`,
    /// the driving thread is a socket reader that asks
    /// [`take_deferred`](Driven::take_deferred) next, so work can be left
    /// for it to do itself once unlocked instead of waking another thread
    /// for it.
    fn may_defer(&mut self, may_defer: bool) {
        let _ = may_defer;
    }
    /// Work left by [`deliver`](Glue::deliver) for the reader thread.
    fn take_deferred(&mut self) -> Option<Deferred> {
        None
    }
}

/// Work a socket's reader thread does itself, unlocked, after feeding its
/// input (a worker's handler, say).
pub(crate) type Deferred = Box<dyn FnOnce() + Send>;

/// What the timer thread is waiting for, so that a thread moving the next
/// deadline earlier (or finishing the machine) knows to wake it.
#[derive(Clone, Copy)]
enum TimerSleep {
    /// Not waiting, or already woken: it looks at the core before sleeping.
    Awake,
    Until(Instant),
    Forever,
}

struct State<D: Driven> {
    /// The core and its glue; `None` once the machine has ended.
    driven: Option<(D::Core, D)>,
    io: Io,
    timer: TimerSleep,
    /// The timer thread, to unpark; set when it starts.
    timer_thread: Option<Thread>,
}

/// What a thread that found the machine busy leaves for the holder.
enum Mail<C> {
    Command(C),
    /// Bytes read from a connection. A reader leaves at most one chunk at a
    /// time (it takes the machine itself while `mailed` is still set), so
    /// what waits here per connection stays bounded.
    Input {
        conn: ConnId,
        serial: u64,
        data: Bytes,
        mailed: Arc<AtomicBool>,
    },
}

/// Commands and input from threads that found the machine busy. The thread
/// holding it applies them before its own change (so each thread's mail
/// keeps its order) and looks again after letting go, so none is left
/// behind.
struct Mailbox<C> {
    mail: Vec<Mail<C>>,
    /// The machine has ended: mail is refused.
    closed: bool,
}

/// One state machine and its sockets behind a mutex, driven by whichever
/// thread has input, a command or a due deadline for it.
pub(crate) struct Machine<D: Driven> {
    state: Mutex<State<D>>,
    mailbox: Mutex<Mailbox<D::Command>>,
}

impl<D: Driven> Machine<D> {
    /// A machine around `core` and the glue `make` builds; `make` gets a
    /// weak reference to the machine, for what the driven state hands out
    /// (worker jobs, say). `dialer` opens the connections the core asks for.
    pub(crate) fn new(
        dialer: Dialer,
        core: D::Core,
        make: impl FnOnce(&Weak<Machine<D>>) -> D,
    ) -> Arc<Machine<D>> {
        Arc::new_cyclic(|weak: &Weak<Machine<D>>| {
            let sink: Weak<dyn Sink> = weak.clone();
            let driven = make(weak);
            let limits = core.output_limits();
            Machine {
                state: Mutex::new(State {
                    driven: Some((core, driven)),
                    io: Io::new(sink, limits, dialer),
                    timer: TimerSleep::Awake,
                    timer_thread: None,
                }),
                mailbox: Mutex::new(Mailbox {
                    mail: Vec::new(),
                    closed: false,
                }),
            }
        })
    }

    /// Takes the machine, applying the commands left for it first.
    fn lock(&self) -> MutexGuard<'_, State<D>> {
        let state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| self.end_poisoned(poisoned.into_inner()));
        self.took(state)
    }

    /// Takes the machine if it is free.
    fn try_lock(&self) -> Option<MutexGuard<'_, State<D>>> {
        let state = match self.state.try_lock() {
            Ok(state) => state,
            Err(TryLockError::Poisoned(poisoned)) => self.end_poisoned(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => return None,
        };
        Some(self.took(state))
    }

    /// A panic while the machine was held may have left its state machine
    /// half-changed: end it, so that jobs and requests waiting on it get
    /// [`Error::Shutdown`](crate::Error::Shutdown), later commands are
    /// refused, its sockets close and its timer thread returns.
    fn end_poisoned<'a>(&self, mut state: MutexGuard<'a, State<D>>) -> MutexGuard<'a, State<D>> {
        self.state.clear_poison();
        let ended = state.driven.take();
        let refused = {
            let mut mailbox = self.mailbox();
            mailbox.closed = true;
            std::mem::take(&mut mailbox.mail)
        };
        if ended.is_some() {
            tracing::error!("a panic interrupted the machine's state; shutting down");
            state.io.close_all();
            if let Some(thread) = &state.timer_thread {
                thread.unpark();
            }
        }
        // Dropping them tells who waits; nothing they hold takes this lock.
        drop((ended, refused));
        state
    }

    fn mailbox(&self) -> MutexGuard<'_, Mailbox<D::Command>> {
        // Nothing panics while the mailbox is locked.
        self.mailbox.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Applies the mail left in the mailbox, on taking the machine.
    fn took<'a>(&self, mut state: MutexGuard<'a, State<D>>) -> MutexGuard<'a, State<D>> {
        let mail = {
            let mut mailbox = self.mailbox();
            if mailbox.mail.is_empty() {
                return state;
            }
            std::mem::take(&mut mailbox.mail)
        };
        let now = Instant::now();
        let State { driven, io, .. } = &mut *state;
        for item in mail {
            match (item, driven.as_mut()) {
                (Mail::Command(command), Some((core, driven))) => {
                    driven.command(core, command, now, io);
                }
                (
                    Mail::Input {
                        conn,
                        serial,
                        data,
                        mailed,
                    },
                    driven,
                ) => {
                    if let Some((core, _)) = driven
                        && io.is_current(conn, Some(serial))
                    {
                        core.handle_input(conn, &data, now);
                    }
                    mailed.store(false, Ordering::Release);
                }
                // The machine has ended: the command is dropped.
                (Mail::Command(_), None) => {}
            }
        }
        // The caller settles (writes and delivers) before letting go.
        state
    }

    /// Lets go of the machine, then applies (and settles) what other threads
    /// left in the mailbox meanwhile, unless another thread holds the
    /// machine by then (it will look after letting go).
    fn release(&self, state: MutexGuard<'_, State<D>>) {
        drop(state);
        self.apply_mail();
    }

    /// Applies (and settles) what is in the mailbox while the machine is
    /// free; a thread holding it will look after letting go.
    fn apply_mail(&self) {
        while !self.mailbox().mail.is_empty() {
            let Some(mut state) = self.try_lock() else {
                return;
            };
            self.settle(&mut state, Instant::now(), false);
            drop(state);
        }
    }

    /// Runs `change` on the driven state and its sockets on the calling
    /// thread, then writes what the core has to send and delivers its
    /// events. `None` when the machine has ended.
    pub(crate) fn drive<R>(
        &self,
        change: impl FnOnce(&mut D::Core, &mut D, &mut Io, Instant) -> R,
    ) -> Option<R> {
        let _end = EndOnPanic(self);
        let mut state = self.lock();
        let now = Instant::now();
        let State { driven, io, .. } = &mut *state;
        let result = driven
            .as_mut()
            .map(|(core, driven)| change(core, driven, io, now));
        self.settle(&mut state, now, false);
        self.release(state);
        result
    }

    /// Applies one user command; false when the machine has ended. A thread
    /// that finds the machine busy leaves the command to the thread holding
    /// it rather than waiting: no thread sleeps on the lock to hand over a
    /// result or a submit, and the holder writes them out together. (Waiting
    /// for the lock instead, which nothing here would deadlock, cost a
    /// quarter of the rate at 64 jobs in flight.)
    pub(crate) fn command(&self, command: D::Command) -> bool {
        let _end = EndOnPanic(self);
        let Some(mut state) = self.try_lock() else {
            {
                let mut mailbox = self.mailbox();
                if mailbox.closed {
                    return false;
                }
                mailbox.mail.push(Mail::Command(command));
            }
            // The holder may have let go before the command was left.
            self.apply_mail();
            return true;
        };
        let now = Instant::now();
        let State { driven, io, .. } = &mut *state;
        let applied = match driven.as_mut() {
            Some((core, driven)) => {
                driven.command(core, command, now, io);
                true
            }
            None => false,
        };
        self.settle(&mut state, now, false);
        self.release(state);
        applied
    }

    /// Tells the machine its last user handle is gone.
    pub(crate) fn handles_dropped(&self) {
        self.drive(|_, driven, _, _| driven.handles_gone());
    }

    /// Writes and delivers everything the core has after a change, and
    /// wakes the timer thread when it has something new to do.
    fn settle(&self, state: &mut State<D>, now: Instant, may_defer: bool) {
        let State {
            driven: Some((core, driven)),
            io,
            timer,
            timer_thread,
        } = state
        else {
            return;
        };
        io.pump(core, now);
        loop {
            driven.may_defer(may_defer);
            driven.deliver(core, now);
            // Delivering may have queued more output (a failed job, say),
            // and pumping may have lost connections (more events).
            if !io.pump(core, now) {
                break;
            }
        }
        let wake = driven.finished()
            || match (*timer, core.poll_timeout()) {
                (TimerSleep::Until(at), Some(next)) => next < at,
                (TimerSleep::Forever, Some(_)) => true,
                _ => false,
            };
        if wake {
            *timer = TimerSleep::Awake;
            if let Some(thread) = timer_thread {
                thread.unpark();
            }
        }
    }

    /// The timer thread: handles the core's deadlines until the machine is
    /// finished, then closes its sockets (flushing what was queued) and
    /// drops the driven state, which tells everyone still waiting. It sleeps
    /// parked, unlocked; whoever moves the deadline earlier unparks it (a
    /// wake-up given before it parks is kept, so none is lost).
    pub(crate) fn run(&self) {
        let mut state = self.lock();
        state.timer_thread = Some(thread::current());
        self.settle(&mut state, Instant::now(), false);
        while let Some((core, driven)) = state.driven.as_mut() {
            if driven.finished() {
                break;
            }
            let now = Instant::now();
            let next = core.poll_timeout();
            match next {
                Some(at) if at <= now => {
                    core.handle_timeout(now);
                    self.settle(&mut state, now, false);
                    continue;
                }
                Some(at) => state.timer = TimerSleep::Until(at),
                None => state.timer = TimerSleep::Forever,
            }
            self.release(state);
            match next {
                Some(at) => thread::park_timeout(at.saturating_duration_since(Instant::now())),
                None => thread::park(),
            }
            state = self.lock();
            state.timer = TimerSleep::Awake;
            self.settle(&mut state, Instant::now(), false);
        }
        let ended = state.driven.take();
        let refused = {
            let mut mailbox = self.mailbox();
            mailbox.closed = true;
            std::mem::take(&mut mailbox.mail)
        };
        if let Some((mut core, driven)) = ended {
            state.io.pump(&mut core, Instant::now());
            state.io.close_all();
            drop(state);
            // Dropped unlocked: what they hold may wake other threads.
            drop((core, driven));
        }
        drop(refused);
    }
}

/// Ends the machine at once when the thread holding it panics (the state
/// guard, declared after this one, poisons the lock first), rather than
/// when another thread next takes it.
struct EndOnPanic<'a, D: Driven>(&'a Machine<D>);

impl<D: Driven> Drop for EndOnPanic<'_, D> {
    fn drop(&mut self) {
        if thread::panicking() {
            drop(self.0.lock());
        }
    }
}

impl<D: Driven> Sink for Machine<D> {
    fn connected(&self, conn: ConnId, connection: Connection) {
        self.drive(|core, _, io, now| {
            if matches!(io.conns.get(&conn), Some(ConnState::Connecting { .. })) {
                io.attach(conn, connection);
                core.handle_connected(conn, now);
            }
        });
    }

    fn input(&self, conn: ConnId, serial: u64, data: &[u8], mailed: &Arc<AtomicBool>) -> bool {
        let _end = EndOnPanic(self);
        // A reader whose last chunk still waits in the mailbox waits for the
        // machine, so that it cannot run ahead of it.
        let state = if mailed.load(Ordering::Acquire) {
            Some(self.lock())
        } else {
            self.try_lock()
        };
        let Some(mut state) = state else {
            {
                let mut mailbox = self.mailbox();
                if mailbox.closed {
                    return false;
                }
                mailed.store(true, Ordering::Release);
                mailbox.mail.push(Mail::Input {
                    conn,
                    serial,
                    data: Bytes::copy_from_slice(data),
                    mailed: mailed.clone(),
                });
            }
            // The holder may have let go before the input was left.
            self.apply_mail();
            return true;
        };
        let now = Instant::now();
        let State { driven, io, .. } = &mut *state;
        let current = driven.is_some() && io.is_current(conn, Some(serial));
        if current && let Some((core, _)) = driven.as_mut() {
            core.handle_input(conn, data, now);
        }
        self.settle(&mut state, now, true);
        let deferred = state
            .driven
            .as_mut()
            .and_then(|(_, driven)| driven.take_deferred());
        self.release(state);
        if let Some(work) = deferred {
            work();
        }
        current
    }

    fn lost(&self, conn: ConnId, serial: Option<u64>) {
        self.drive(|core, _, io, now| {
            if io.is_current(conn, serial) {
                io.abort(conn);
                core.handle_disconnected(conn, now);
            }
        });
    }

    fn connect_failed(&self, conn: ConnId, error: ConnectError) {
        self.drive(|core, _, io, now| {
            if io.is_current(conn, None) {
                io.abort(conn);
                core.handle_connect_failed(conn, error, now);
            }
        });
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::{self, Receiver, Sender};
    use std::time::Duration;

    /// A core with no sockets: it only keeps a deadline and counts timeouts.
    #[derive(Default)]
    struct Clock {
        deadline: Option<Instant>,
        timeouts: usize,
    }

    impl Endpoint for Clock {
        fn handle_connected(&mut self, _: ConnId, _: Instant) {}
        fn handle_input(&mut self, _: ConnId, _: &[u8], _: Instant) {}
        fn handle_disconnected(&mut self, _: ConnId, _: Instant) {}
        fn handle_timeout(&mut self, now: Instant) {
            if self.deadline.is_some_and(|at| at <= now) {
                self.deadline = None;
                self.timeouts += 1;
            }
        }
        fn poll_action(&mut self) -> Option<gearman_proto::ConnAction> {
            None
        }
        fn poll_transmit(&mut self) -> Option<gearman_proto::Transmit> {
            None
        }
        fn poll_timeout(&self) -> Option<Instant> {
            self.deadline
        }
    }

    enum Order {
        /// Records `(thread, sequence number)`.
        Note(usize, usize),
        /// Sets the core's deadline this far ahead.
        Alarm(Duration),
        Stop,
    }

    struct Recorder {
        notes: Vec<(usize, usize)>,
        /// Told the timeout count whenever it grows.
        rang: Sender<usize>,
        told: usize,
        stopped: bool,
    }

    impl Driven for Recorder {}

    impl Glue<Io> for Recorder {
        type Core = Clock;
        type Command = Order;

        fn command(&mut self, core: &mut Clock, command: Order, now: Instant, _io: &mut Io) {
            match command {
                Order::Note(thread, sequence) => self.notes.push((thread, sequence)),
                Order::Alarm(after) => core.deadline = Some(now + after),
                Order::Stop => self.stopped = true,
            }
        }

        fn deliver(&mut self, core: &mut Clock, _now: Instant) {
            if core.timeouts > self.told {
                self.told = core.timeouts;
                let _ = self.rang.send(self.told);
            }
        }

        fn finished(&self) -> bool {
            self.stopped
        }
    }

    fn machine() -> (Arc<Machine<Recorder>>, Receiver<usize>) {
        let (rang, rings) = mpsc::channel();
        let machine = Machine::new(Dialer::tcp(), Clock::default(), |_| Recorder {
            notes: Vec::new(),
            rang,
            told: 0,
            stopped: false,
        });
        (machine, rings)
    }

    #[test]
    fn commands_from_many_threads_all_apply_in_each_threads_order() {
        let (machine, _rings) = machine();
        let timer = {
            let machine = machine.clone();
            thread::spawn(move || machine.run())
        };
        thread::scope(|scope| {
            for thread in 0..8 {
                let machine = &machine;
                scope.spawn(move || {
                    for sequence in 0..2000 {
                        assert!(machine.command(Order::Note(thread, sequence)));
                    }
                });
            }
        });
        // Every thread has returned: nothing may wait for a later driver.
        assert!(
            machine.mailbox().mail.is_empty(),
            "a command was left in the mailbox"
        );
        let notes = machine
            .drive(|_, driven, _, _| driven.notes.clone())
            .expect("the machine runs");
        assert_eq!(notes.len(), 8 * 2000, "a command was left behind");
        for thread in 0..8 {
            let mine: Vec<usize> = notes
                .iter()
                .filter(|(from, _)| *from == thread)
                .map(|(_, sequence)| *sequence)
                .collect();
            assert_eq!(mine, (0..2000).collect::<Vec<_>>());
        }
        assert!(machine.command(Order::Stop));
        timer.join().expect("the timer thread does not panic");
        assert!(
            !machine.command(Order::Note(0, 0)),
            "an ended machine refuses"
        );
        assert!(machine.drive(|_, _, _, _| ()).is_none());
    }

    // A panic while the machine was held may have left its state machine
    // half-changed: it ends (its driven state dropped, which is what tells
    // waiting jobs and requests) instead of going on.
    #[test]
    fn a_panic_holding_the_machine_ends_it() {
        let (machine, rings) = machine();
        let timer = {
            let machine = machine.clone();
            thread::spawn(move || machine.run())
        };
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            machine.drive(|_, _, _, _| panic!("a bug while holding the state"))
        }));
        assert!(panicked.is_err());
        assert_eq!(
            rings.recv_timeout(Duration::from_secs(10)),
            Err(mpsc::RecvTimeoutError::Disconnected),
            "the driven state is dropped"
        );
        assert!(
            !machine.command(Order::Note(0, 0)),
            "later commands are refused"
        );
        timer.join().expect("the timer thread returns");
    }

    #[test]
    fn a_command_left_while_the_machine_is_busy_is_applied_on_letting_go() {
        let (machine, _rings) = machine();
        let busy = machine.lock();
        let (done, returned) = mpsc::channel();
        {
            let machine = machine.clone();
            thread::spawn(move || {
                let accepted = machine.command(Order::Note(1, 0));
                let _ = done.send(accepted);
            });
        }
        // The command is left without waiting for the machine.
        assert_eq!(returned.recv_timeout(Duration::from_secs(10)), Ok(true));
        assert_eq!(machine.mailbox().mail.len(), 1);
        machine.release(busy);
        assert!(machine.mailbox().mail.is_empty());
        assert_eq!(
            machine.drive(|_, driven, _, _| driven.notes.clone()),
            Some(vec![(1, 0)])
        );
    }

    #[test]
    fn a_reader_leaves_at_most_one_chunk_while_the_machine_is_busy() {
        let (machine, _rings) = machine();
        let busy = machine.lock();
        let (fed, chunks) = mpsc::channel();
        {
            let machine = machine.clone();
            thread::spawn(move || {
                let mailed = Arc::new(AtomicBool::new(false));
                for chunk in 0..2u8 {
                    machine.input(ConnId(7), 1, &[chunk], &mailed);
                    let _ = fed.send(chunk);
                }
            });
        }
        // The first chunk is left in the mailbox at once; the second waits
        // for the machine rather than piling up.
        assert_eq!(chunks.recv_timeout(Duration::from_secs(10)), Ok(0));
        assert_eq!(machine.mailbox().mail.len(), 1);
        assert!(chunks.recv_timeout(Duration::from_millis(50)).is_err());
        machine.release(busy);
        assert_eq!(chunks.recv_timeout(Duration::from_secs(10)), Ok(1));
        assert!(machine.mailbox().mail.is_empty());
    }

    #[test]
    fn an_earlier_deadline_wakes_the_sleeping_timer() {
        let (machine, rings) = machine();
        let timer = {
            let machine = machine.clone();
            thread::spawn(move || machine.run())
        };
        // The timer first sleeps on a far deadline, then must wake for a
        // nearer one, and then sleep with no deadline at all.
        assert!(machine.command(Order::Alarm(Duration::from_secs(3600))));
        thread::sleep(Duration::from_millis(20));
        let start = Instant::now();
        assert!(machine.command(Order::Alarm(Duration::from_millis(30))));
        assert_eq!(rings.recv_timeout(Duration::from_secs(10)), Ok(1));
        assert!(start.elapsed() >= Duration::from_millis(30));
        thread::sleep(Duration::from_millis(20));
        assert!(machine.command(Order::Alarm(Duration::from_millis(10))));
        assert_eq!(rings.recv_timeout(Duration::from_secs(10)), Ok(2));
        assert!(machine.command(Order::Stop));
        timer.join().expect("the timer thread does not panic");
    }
}
