//! Who waits for what a [`Client`] reports: the table every adapter keeps
//! between its callers and the state machine, written once.
//!
//! An adapter hands each caller's [`Call`] to [`Waiters::call`] and, after
//! feeding the client input or time, lets [`Waiters::deliver`] route every
//! event to its waiter. What a waiter is (a channel, a slot with a waker, a
//! condition variable) and how it is woken stays with the adapter, behind
//! [`Deliver`]. The rules:
//!
//! - A caller names its job by a key it picks itself, since the client's
//!   [`JobId`] exists only once the submit is applied (perhaps later, on
//!   another task); the table maps one to the other.
//! - A job's steps go to its waiter in order; its end removes the waiter.
//! - Each submit is followed in a [`submit_span`], made by [`Call::submit`]
//!   and shared with the caller: entered while the submit is applied and
//!   while each of its steps is delivered, given the server and handle at
//!   JOB_CREATED, and closed once the job has ended or been forgotten here
//!   and the caller has let its copy go. The adapters enter the caller's
//!   copy while the caller waits for the job, so the wait is the job's too.
//! - A waiter that is gone (its caller dropped the job's handle) is
//!   removed at the next step for it, and the client
//!   [forgets](Client::forget) the job, as on [`Call::Forget`]: the client
//!   keeps nothing for a job nobody waits for.
//! - A request's one answer goes to its waiter, which is then removed.
//! - A call the client refuses as invalid goes back to its waiter at once.
//! - With [`ClientConfig::max_jobs_in_flight`](super::ClientConfig::max_jobs_in_flight),
//!   a submit that finds the client at the cap is held here, unsent, and
//!   goes out (oldest first) once a job ends; forgetting it drops it unsent.
//! - [`Call::Close`] [closes](Client::close) the client: later submits are
//!   refused, held submits still go out under the cap, and the close's
//!   waiter is answered [`RequestAnswer::Closed`] at the client's
//!   [`ClientEvent::Closed`](super::ClientEvent::Closed). Held submits the
//!   close timeout caught unsent end with [`ClientError::Closed`]; once
//!   closed, [`Waiters::is_closed`] tells the adapter its loop may end.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;

use super::{
    Client, ClientError, ClientEvent, JobHandle, JobId, JobRequest, RequestId, ServerId, UsageError,
};
use crate::client::{Dispatch, JobOutcome, JobStep, RequestAnswer, dispatch};
use crate::driver_error::Error;
use crate::fast_map::FastMap;
use crate::observe::{SubmitSpan, submit_span};

/// What a caller asks of a [`Client`] through [`Waiters::call`], with the
/// waiter that takes the result: `J` for a job, `R` for a request.
#[non_exhaustive]
pub enum Call<J, R> {
    /// Submit a job; its steps go to `waiter`. Made by [`Call::submit`].
    Submit {
        /// The caller's name for the job, unique among its jobs.
        key: u64,
        /// The job.
        request: JobRequest,
        /// Takes the job's steps.
        waiter: J,
        /// The span the job is followed in ([`submit_span`]).
        span: SubmitSpan,
    },
    /// Stop waiting for the job submitted under `key`. The client forgets
    /// it; the server still runs it.
    Forget {
        /// The key the job was submitted under.
        key: u64,
    },
    /// GET_STATUS for `handle`.
    Status {
        /// The job asked about.
        handle: JobHandle,
        /// Takes the answer.
        waiter: R,
    },
    /// GET_STATUS_UNIQUE for `unique`.
    StatusUnique {
        /// The unique id asked about.
        unique: Bytes,
        /// Takes the answer.
        waiter: R,
    },
    /// ECHO_REQ of `data` to `server`.
    Echo {
        /// The server.
        server: ServerId,
        /// What it should send back.
        data: Bytes,
        /// Takes the answer.
        waiter: R,
    },
    /// [`Client::close`]: finish what is in flight, then close every
    /// connection; answered [`RequestAnswer::Closed`] once closed (at once
    /// if it already is).
    Close {
        /// Takes the answer.
        waiter: R,
    },
}

impl<J, R> Call<J, R> {
    /// A submit of `request` under `key`, its steps going to `waiter`, with
    /// the [`submit_span`] it is followed in; the span is returned too, for
    /// the caller to enter while it waits for the job.
    pub fn submit(key: u64, request: JobRequest, waiter: J) -> (Call<J, R>, SubmitSpan) {
        let span = SubmitSpan::new(submit_span(&request));
        let call = Call::Submit {
            key,
            request,
            waiter,
            span: span.clone(),
        };
        (call, span)
    }
}

impl<J, R> std::fmt::Debug for Call<J, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Call::Submit { key, .. } => write!(f, "Submit({key})"),
            Call::Forget { key } => write!(f, "Forget({key})"),
            Call::Status { .. } => f.write_str("Status"),
            Call::StatusUnique { .. } => f.write_str("StatusUnique"),
            Call::Echo { server, .. } => write!(f, "Echo({server})"),
            Call::Close { .. } => f.write_str("Close"),
        }
    }
}

/// How an adapter hands results to its waiters: the part of the table that
/// depends on the runtime.
pub trait Deliver {
    /// What waits for a job's steps.
    type Job;
    /// What waits for a request's answer.
    type Request;

    /// Hands `step` to a job's waiter; false when the waiter is gone (its
    /// caller dropped the job), which makes the client forget the job.
    fn step(&mut self, waiter: &mut Self::Job, step: JobStep) -> bool;

    /// A job's waiter after it took the job's last step. Dropped by
    /// default; an adapter may keep it to release later (say, once a lock
    /// is let go).
    fn ended(&mut self, waiter: Self::Job) {
        let _ = waiter;
    }

    /// Hands a request's answer, or the error that ended it, to its waiter.
    fn reply(&mut self, waiter: Self::Request, reply: Result<RequestAnswer, Error>);

    /// Hands a request's answer to its waiter: to [`reply`](Deliver::reply)
    /// by default, a failure as the adapters' [`Error`].
    fn answer(&mut self, waiter: Self::Request, answer: Result<RequestAnswer, ClientError>) {
        self.reply(waiter, answer.map_err(Error::from));
    }

    /// The client refused a submit as invalid; nothing was sent.
    fn refuse_job(&mut self, waiter: Self::Job, error: UsageError);

    /// The client refused a request as invalid; nothing was sent. By
    /// default, [`reply`](Deliver::reply) with [`Error::InvalidRequest`].
    fn refuse_request(&mut self, waiter: Self::Request, error: UsageError) {
        self.reply(waiter, Err(error.into()));
    }
}

/// The jobs and requests callers wait for, by key and by the client's ids.
#[derive(Debug)]
pub struct Waiters<J, R> {
    /// Each job's caller key and waiter.
    jobs: FastMap<JobId, (u64, J)>,
    /// Each job's span, only while a subscriber records spans, so that a
    /// job in flight costs nothing for it otherwise.
    spans: FastMap<JobId, tracing::Span>,
    keys: FastMap<u64, JobId>,
    requests: FastMap<RequestId, R>,
    /// Submits past the cap on jobs in flight, oldest first.
    held: VecDeque<Submission<J>>,
    /// Who waits for the client to close.
    closers: Vec<R>,
    /// The client has closed.
    closed: bool,
}

/// A caller's submit not yet applied to the client.
#[derive(Debug)]
struct Submission<J> {
    key: u64,
    request: JobRequest,
    waiter: J,
    span: SubmitSpan,
}

impl<J, R> Default for Waiters<J, R> {
    fn default() -> Self {
        Waiters {
            jobs: FastMap::default(),
            spans: FastMap::default(),
            keys: FastMap::default(),
            requests: FastMap::default(),
            held: VecDeque::new(),
            closers: Vec::new(),
            closed: false,
        }
    }
}

impl<J, R> Waiters<J, R> {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Jobs with a waiter.
    pub fn jobs(&self) -> usize {
        self.jobs.len()
    }

    /// Requests with a waiter.
    pub fn requests(&self) -> usize {
        self.requests.len()
    }

    /// Submits held back, unsent, by the cap on jobs in flight.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// Nothing is waited for.
    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
            && self.requests.is_empty()
            && self.held.is_empty()
            && self.closers.is_empty()
    }

    /// The client has closed ([`Call::Close`]): nothing more will happen.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Whether the client has as many jobs in flight as its configuration allows.
    fn at_cap(client: &Client) -> bool {
        let cap = client.config().max_jobs_in_flight;
        cap.is_some_and(|cap| client.active_jobs() >= cap)
    }

    fn submit<D>(
        &mut self,
        client: &mut Client,
        submission: Submission<J>,
        now: Instant,
        deliver: &mut D,
    ) where
        D: Deliver<Job = J, Request = R>,
    {
        let Submission {
            key,
            request,
            waiter,
            span,
        } = submission;
        // Accepted before any close (a later submit is refused in `call`).
        let entered = span.enter();
        let submitted = client.submit_admitted(Box::new(request), now);
        drop(entered);
        match submitted {
            Ok(job) => {
                self.jobs.insert(job, (key, waiter));
                if let Some(span) = span.into_span() {
                    self.spans.insert(job, span);
                }
                self.keys.insert(key, job);
            }
            Err(error) => deliver.refuse_job(waiter, error),
        }
    }

    /// Sends held submits while the client is below its cap; whether any went.
    fn release<D>(&mut self, client: &mut Client, now: Instant, deliver: &mut D) -> bool
    where
        D: Deliver<Job = J, Request = R>,
    {
        let mut released = false;
        while !Self::at_cap(client) {
            let Some(submission) = self.held.pop_front() else {
                break;
            };
            self.submit(client, submission, now, deliver);
            released = true;
        }
        if released {
            client.set_held(self.held.len());
        }
        released
    }

    /// Applies `call` to `client`, keeping its waiter for what comes back
    /// (or handing it a refusal at once).
    pub fn call<D>(&mut self, client: &mut Client, call: Call<J, R>, now: Instant, deliver: &mut D)
    where
        D: Deliver<Job = J, Request = R>,
    {
        let (asked, waiter) = match call {
            Call::Submit {
                key,
                request,
                waiter,
                span,
            } => {
                if client.is_closing() {
                    deliver.refuse_job(waiter, UsageError::Closing);
                    return;
                }
                let submission = Submission {
                    key,
                    span,
                    request,
                    waiter,
                };
                // Behind held submits too, so they go out in order.
                if !self.held.is_empty() || Self::at_cap(client) {
                    self.held.push_back(submission);
                } else {
                    self.submit(client, submission, now, deliver);
                }
                return;
            }
            Call::Forget { key } => {
                if let Some(job) = self.keys.remove(&key) {
                    self.jobs.remove(&job);
                    self.spans.remove(&job);
                    client.forget(job);
                    self.release(client, now, deliver);
                } else {
                    self.held.retain(|held| held.key != key);
                    client.set_held(self.held.len());
                }
                return;
            }
            Call::Close { waiter } => {
                if self.closed {
                    deliver.answer(waiter, Ok(RequestAnswer::Closed));
                } else {
                    self.closers.push(waiter);
                    client.set_held(self.held.len());
                    client.close(now);
                }
                return;
            }
            Call::Status { handle, waiter } => (client.get_status(&handle, now), waiter),
            Call::StatusUnique { unique, waiter } => {
                (client.get_status_unique(unique, now), waiter)
            }
            Call::Echo {
                server,
                data,
                waiter,
            } => (client.echo(server, data, now), waiter),
        };
        match asked {
            Ok(request) => {
                self.requests.insert(request, waiter);
            }
            Err(error) => deliver.refuse_request(waiter, error),
        }
    }

    /// Routes every event `client` has to its waiter, and sends the
    /// submits held by the cap on jobs in flight that the jobs which ended
    /// made room for.
    pub fn deliver<D>(&mut self, client: &mut Client, now: Instant, deliver: &mut D)
    where
        D: Deliver<Job = J, Request = R>,
    {
        // A released submit may end at once (no server up): deliver again.
        loop {
            self.route_events(client, deliver);
            if !self.release(client, now, deliver) {
                break;
            }
        }
    }

    fn route_events<D>(&mut self, client: &mut Client, deliver: &mut D)
    where
        D: Deliver<Job = J, Request = R>,
    {
        while let Some(event) = client.poll_event() {
            if event == ClientEvent::Closed {
                self.on_closed(deliver);
                continue;
            }
            match dispatch(event) {
                Some(Dispatch::Job { job, step }) => self.job_step(client, job, step, deliver),
                Some(Dispatch::Request { request, answer }) => {
                    // A caller that is gone stopped waiting; nothing to do then.
                    if let Some(waiter) = self.requests.remove(&request) {
                        deliver.answer(waiter, answer);
                    }
                }
                other => tracing::trace!(?other, "client event nobody waits for"),
            }
        }
    }

    /// The client has closed: held submits the close timeout caught
    /// unsent end, and the close's waiters are answered.
    fn on_closed<D>(&mut self, deliver: &mut D)
    where
        D: Deliver<Job = J, Request = R>,
    {
        self.closed = true;
        for Submission {
            mut waiter, span, ..
        } in self.held.drain(..)
        {
            let _entered = span.enter();
            let unsent = ClientError::Closed {
                acknowledged: false,
            };
            if deliver.step(&mut waiter, JobStep::End(Err(unsent))) {
                deliver.ended(waiter);
            }
        }
        for waiter in self.closers.drain(..) {
            deliver.answer(waiter, Ok(RequestAnswer::Closed));
        }
    }

    fn job_step<D>(&mut self, client: &mut Client, job: JobId, step: JobStep, deliver: &mut D)
    where
        D: Deliver<Job = J, Request = R>,
    {
        let ends = step.is_end();
        let Some((_, waiter)) = self.jobs.get_mut(&job) else {
            return;
        };
        let span = self.spans.get(&job);
        let entered = span.map(tracing::Span::enter);
        if let JobStep::Created(handle) | JobStep::End(Ok(JobOutcome::Queued(handle))) = &step {
            if let Some(span) = span {
                if let Some(addr) = client.server_addr(handle.server) {
                    span.record("server", addr);
                }
                span.record("handle", String::from_utf8_lossy(&handle.handle).as_ref());
            }
            tracing::debug!("the server accepted the job");
        }
        let delivered = deliver.step(waiter, step);
        if delivered && !ends {
            return;
        }
        drop(entered);
        self.spans.remove(&job);
        if let Some((key, waiter)) = self.jobs.remove(&job) {
            self.keys.remove(&key);
            if delivered {
                deliver.ended(waiter);
            }
        }
        if !ends {
            // Nobody waits for it any more.
            client.forget(job);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::client::ClientConfig;
    use crate::client::{JobOutcome, JobUpdate};
    use crate::{Command, ConnAction, ConnId, Endpoint, encode_fields};

    /// Waiters are labels; what each was handed is recorded.
    #[derive(Default)]
    struct Record {
        steps: Vec<(&'static str, JobStep)>,
        ended: Vec<&'static str>,
        answers: Vec<(&'static str, Result<RequestAnswer, ClientError>)>,
        refused: Vec<&'static str>,
        /// Waiters whose caller dropped the job.
        gone: HashSet<&'static str>,
    }

    impl Deliver for Record {
        type Job = &'static str;
        type Request = &'static str;

        fn step(&mut self, waiter: &mut &'static str, step: JobStep) -> bool {
            if self.gone.contains(waiter) {
                return false;
            }
            self.steps.push((waiter, step));
            true
        }

        fn ended(&mut self, waiter: &'static str) {
            self.ended.push(waiter);
        }

        fn reply(&mut self, _: &'static str, _: Result<RequestAnswer, Error>) {
            unreachable!("answers and refusals are recorded apart");
        }

        fn answer(&mut self, waiter: &'static str, answer: Result<RequestAnswer, ClientError>) {
            self.answers.push((waiter, answer));
        }

        fn refuse_job(&mut self, waiter: &'static str, _: UsageError) {
            self.refused.push(waiter);
        }

        fn refuse_request(&mut self, waiter: &'static str, _: UsageError) {
            self.refused.push(waiter);
        }
    }

    /// A client connected to one server, its table and a recorder.
    struct Setup {
        client: Client,
        waiters: Waiters<&'static str, &'static str>,
        record: Record,
        conn: Option<ConnId>,
        now: Instant,
    }

    impl Setup {
        fn new() -> Setup {
            Setup::with_config(ClientConfig::new(["test:4730"]).with_seed(1))
        }

        fn with_config(config: ClientConfig) -> Setup {
            Setup {
                client: Client::new(config).unwrap(),
                waiters: Waiters::new(),
                record: Record::default(),
                conn: None,
                now: Instant::now(),
            }
        }

        /// Applies `call` and connects the client if it asks to.
        fn call(&mut self, call: Call<&'static str, &'static str>) {
            let (client, record) = (&mut self.client, &mut self.record);
            self.waiters.call(client, call, self.now, record);
            while let Some(action) = self.client.poll_action() {
                if let ConnAction::Connect { conn, .. } = action {
                    self.client.handle_connected(conn, self.now);
                    self.conn = Some(conn);
                }
            }
            while self.client.poll_transmit().is_some() {}
        }

        fn submit(&mut self, key: u64, waiter: &'static str) {
            let request = JobRequest::new("f", "x");
            self.call(Call::submit(key, request, waiter).0);
        }

        /// The server sends `command` with `fields`; the table delivers.
        fn reply(&mut self, command: Command, fields: &[&[u8]]) {
            let mut bytes = Vec::new();
            encode_fields(&mut bytes, command, fields).unwrap();
            let conn = self.conn.expect("connected");
            self.client.handle_input(conn, &bytes, self.now);
            self.settle();
        }

        /// Drains the client's output, then delivers, as an adapter does.
        fn settle(&mut self) {
            while self.client.poll_transmit().is_some() || self.client.poll_action().is_some() {}
            self.waiters
                .deliver(&mut self.client, self.now, &mut self.record);
        }
    }

    fn data(chunk: &'static str) -> JobStep {
        JobStep::Update(JobUpdate::Data(Bytes::from_static(chunk.as_bytes())))
    }

    #[test]
    fn steps_reach_their_waiters_and_the_end_releases_them() {
        let mut setup = Setup::new();
        setup.submit(10, "first");
        setup.submit(11, "second");
        setup.reply(Command::JobCreated, &[b"H:1"]);
        setup.reply(Command::JobCreated, &[b"H:2"]);
        setup.reply(Command::WorkDataRes, &[b"H:2", b"b"]);
        setup.reply(Command::WorkDataRes, &[b"H:1", b"a"]);
        setup.reply(Command::WorkCompleteRes, &[b"H:1", b"done"]);

        let for_waiter = |label| -> Vec<JobStep> {
            let steps = setup.record.steps.iter();
            steps
                .filter(|(w, _)| *w == label)
                .map(|(_, s)| s.clone())
                .collect()
        };
        let first = for_waiter("first");
        assert_eq!(first.len(), 3, "{first:?}");
        assert!(matches!(&first[0], JobStep::Created(h) if h.handle == "H:1"));
        assert_eq!(first[1], data("a"));
        let done = JobOutcome::Complete(Bytes::from_static(b"done"));
        assert_eq!(first[2], JobStep::End(Ok(done)));
        assert_eq!(for_waiter("second")[1], data("b"));
        assert_eq!(setup.record.ended, ["first"]);
        assert_eq!(setup.waiters.jobs(), 1);
        assert_eq!(setup.client.active_jobs(), 1);
    }

    #[test]
    fn a_gone_waiter_makes_the_client_forget_its_job() {
        let mut setup = Setup::new();
        setup.submit(10, "dropped");
        setup.reply(Command::JobCreated, &[b"H:1"]);
        assert_eq!(setup.client.active_jobs(), 1);

        // The caller drops the job; the next step for it finds it gone.
        setup.record.gone.insert("dropped");
        setup.reply(Command::WorkDataRes, &[b"H:1", b"late"]);
        assert_eq!(setup.waiters.jobs(), 0);
        assert!(setup.waiters.is_empty());
        assert_eq!(setup.client.active_jobs(), 0, "the client still follows it");
        assert!(setup.record.ended.is_empty());

        // The caller's own notice, arriving later, finds nothing left.
        setup.call(Call::Forget { key: 10 });
        assert_eq!(setup.client.active_jobs(), 0);
    }

    #[test]
    fn forgetting_by_key_drops_the_waiter_and_the_clients_job() {
        let mut setup = Setup::new();
        setup.submit(10, "kept");
        setup.submit(11, "forgotten");
        setup.reply(Command::JobCreated, &[b"H:1"]);
        setup.reply(Command::JobCreated, &[b"H:2"]);

        setup.call(Call::Forget { key: 11 });
        assert_eq!(setup.waiters.jobs(), 1);
        assert_eq!(setup.client.active_jobs(), 1);
        let seen = setup.record.steps.len();
        setup.reply(Command::WorkCompleteRes, &[b"H:2", b"unseen"]);
        assert_eq!(setup.record.steps.len(), seen);

        // Forgetting again changes nothing.
        setup.call(Call::Forget { key: 11 });
        assert_eq!(setup.waiters.jobs(), 1);
    }

    #[test]
    fn answers_reach_their_requests_and_refusals_come_back_at_once() {
        let mut setup = Setup::new();
        setup.call(Call::Echo {
            server: ServerId(0),
            data: Bytes::from_static(b"ping"),
            waiter: "echo",
        });
        let bad_handle = JobHandle {
            server: ServerId(0),
            handle: Bytes::new(),
        };
        setup.call(Call::Status {
            handle: bad_handle,
            waiter: "bad status",
        });
        let (refused_submit, _) = Call::submit(2, JobRequest::new("f\0", "x"), "bad function");
        setup.call(refused_submit);
        assert_eq!(setup.record.refused, ["bad status", "bad function"]);
        assert_eq!(setup.waiters.requests(), 1);
        assert_eq!(setup.waiters.jobs(), 0);
        assert_eq!(setup.client.active_jobs(), 0);

        setup.reply(Command::EchoRes, &[b"ping"]);
        let echoed = Ok(RequestAnswer::Echo(Bytes::from_static(b"ping")));
        assert_eq!(setup.record.answers, [("echo", echoed)]);
        assert_eq!(setup.waiters.requests(), 0);
    }

    #[test]
    fn submits_past_the_cap_wait_unsent_until_a_job_ends() {
        let config = ClientConfig::new(["test:4730"])
            .with_seed(1)
            .with_max_jobs_in_flight(Some(2));
        let mut setup = Setup::with_config(config);
        setup.submit(10, "first");
        setup.submit(11, "second");
        setup.submit(12, "third");
        setup.submit(13, "fourth");
        assert_eq!(setup.client.active_jobs(), 2);
        assert_eq!(setup.waiters.held(), 2);
        setup.reply(Command::JobCreated, &[b"H:1"]);
        setup.reply(Command::JobCreated, &[b"H:2"]);

        // Forgetting a held submit drops it unsent.
        setup.call(Call::Forget { key: 13 });
        assert_eq!(setup.waiters.held(), 1);

        setup.reply(Command::WorkCompleteRes, &[b"H:1", b"done"]);
        assert_eq!(setup.waiters.held(), 0);
        assert_eq!(setup.client.active_jobs(), 2, "the third went out");
        setup.reply(Command::JobCreated, &[b"H:3"]);
        setup.reply(Command::WorkCompleteRes, &[b"H:3", b"done"]);
        let ended: Vec<_> = setup.record.ended.clone();
        assert_eq!(ended, ["first", "third"]);
        assert_eq!(setup.client.active_jobs(), 1);
        assert!(setup.record.refused.is_empty());
    }

    #[test]
    fn a_close_sends_held_submits_under_the_cap_and_is_answered_once_closed() {
        let config = ClientConfig::new(["test:4730"])
            .with_seed(1)
            .with_max_jobs_in_flight(Some(1));
        let mut setup = Setup::with_config(config);
        setup.submit(10, "first");
        setup.submit(11, "held");
        setup.call(Call::Close { waiter: "close" });
        setup.submit(12, "late");
        assert_eq!(setup.record.refused, ["late"]);
        assert_eq!(setup.client.active_jobs(), 1, "the cap still holds");

        setup.reply(Command::JobCreated, &[b"H:1"]);
        setup.reply(Command::WorkCompleteRes, &[b"H:1", b"done"]);
        assert_eq!(setup.waiters.held(), 0);
        assert_eq!(setup.client.active_jobs(), 1, "the held submit went out");
        assert!(
            setup.record.answers.is_empty(),
            "closed before the held job ended"
        );
        assert!(!setup.waiters.is_closed());

        setup.reply(Command::JobCreated, &[b"H:2"]);
        setup.reply(Command::WorkCompleteRes, &[b"H:2", b"done"]);
        assert_eq!(setup.record.ended, ["first", "held"]);
        assert_eq!(setup.record.answers, [("close", Ok(RequestAnswer::Closed))]);
        assert!(setup.waiters.is_closed());
        assert!(setup.waiters.is_empty());

        // Once closed, another close is answered at once.
        setup.call(Call::Close { waiter: "again" });
        assert_eq!(
            setup.record.answers[1],
            ("again", Ok(RequestAnswer::Closed))
        );
    }

    #[test]
    fn a_close_timeout_ends_the_submits_still_held_unsent() {
        let config = ClientConfig::new(["test:4730"])
            .with_seed(1)
            .with_max_jobs_in_flight(Some(1))
            .with_close_timeout(Some(std::time::Duration::from_secs(1)));
        let mut setup = Setup::with_config(config);
        setup.submit(10, "running");
        setup.submit(11, "held");
        setup.reply(Command::JobCreated, &[b"H:1"]);
        setup.call(Call::Close { waiter: "close" });

        setup.now += std::time::Duration::from_secs(1);
        setup.client.handle_timeout(setup.now);
        setup.settle();
        let ends: Vec<_> = setup
            .record
            .steps
            .iter()
            .filter(|(_, step)| step.is_end())
            .cloned()
            .collect();
        let closed = |acknowledged| JobStep::End(Err(ClientError::Closed { acknowledged }));
        assert_eq!(ends, [("running", closed(true)), ("held", closed(false))]);
        assert_eq!(setup.record.answers, [("close", Ok(RequestAnswer::Closed))]);
        assert!(setup.waiters.is_empty());
        assert_eq!(setup.client.active_jobs(), 0);
    }

    #[test]
    fn a_cap_of_zero_is_refused() {
        let config = ClientConfig::new(["test:4730"]).with_max_jobs_in_flight(Some(0));
        let refused = Client::new(config).unwrap_err();
        assert_eq!(refused, crate::client::ConfigError::NoJobsInFlight);
    }
}
