//! The calls a run loop makes on its role's glue: the part between a core
//! state machine and the users of that role (waiting callers, running
//! handlers, an accept loop).

use std::time::Instant;

use super::Endpoint;

/// What a run loop calls, besides its core, once per user command and once
/// per round of input. An adapter writes its loop once against this trait
/// and each role brings its glue; the client's is [`Callers`], ready made.
///
/// `Io` is the loop's own hold on its sockets, handed to
/// [`command`](Glue::command) so that a command may carry a socket in (a
/// server's accepted connection); glue that takes no sockets ignores it.
///
/// The loop calls, in this order: [`command`](Glue::command) for what users
/// sent (and [`handles_gone`](Glue::handles_gone) once nobody can send any
/// more), then, after feeding the core its input and before sleeping,
/// [`deliver`](Glue::deliver); it ends once [`finished`](Glue::finished).
///
/// [`Callers`]: crate::client::Callers
///
/// ```
/// use std::time::Instant;
/// use gearman_proto::client::{Callers, Client, ClientConfig, RequestAnswer};
/// use gearman_proto::driver_error::Error;
/// use gearman_proto::endpoint::Glue;
///
/// /// Glue that counts the commands it applies.
/// struct Counting(usize);
///
/// impl<Io> Glue<Io> for Counting {
///     type Core = Client;
///     type Command = ();
///
///     fn command(&mut self, _core: &mut Client, _command: (), _now: Instant, _io: &mut Io) {
///         self.0 += 1;
///     }
///     fn deliver(&mut self, _core: &mut Client, _now: Instant) {}
///     fn finished(&self) -> bool {
///         self.0 >= 2
///     }
/// }
///
/// let mut core = Client::new(ClientConfig::new(["127.0.0.1:4730"]))?;
/// let mut glue = Counting(0);
/// let now = Instant::now();
/// for _ in 0..2 {
///     Glue::<()>::command(&mut glue, &mut core, (), now, &mut ());
/// }
/// assert!(Glue::<()>::finished(&glue));
///
/// // The client's glue, ready made: it ends once every caller's handle is gone.
/// type Reply = fn(Result<RequestAnswer, Error>);
/// let mut callers: Callers<Reply> = Callers::new(|reply, answer| reply(answer));
/// assert!(Glue::<()>::is_idle(&callers) && !Glue::<()>::finished(&callers));
/// Glue::<()>::handles_gone(&mut callers);
/// assert!(Glue::<()>::finished(&callers));
/// # Ok::<(), gearman_proto::client::ConfigError>(())
/// ```
pub trait Glue<Io: ?Sized> {
    /// The core state machine.
    type Core: Endpoint;
    /// What users send the run loop.
    type Command;

    /// Applies one user command to `core`.
    fn command(&mut self, core: &mut Self::Core, command: Self::Command, now: Instant, io: &mut Io);

    /// Every user handle is gone: no command can come any more.
    fn handles_gone(&mut self) {}

    /// Hands the core's events to whoever waits for them.
    fn deliver(&mut self, core: &mut Self::Core, now: Instant);

    /// Whether the loop may end (it still flushes and closes its sockets).
    fn finished(&self) -> bool;

    /// Whether a command applied now would go out alone (nothing else in
    /// flight), so that applying it outside the loop loses no batching.
    fn is_idle(&self) -> bool {
        false
    }
}
