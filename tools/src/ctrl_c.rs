//! Ctrl-C for the example tools: a thread that waits for SIGINT and then
//! runs an action (a graceful shutdown). The library has no signal handling
//! of its own; this is one way for an application to add it.

use std::io;

use async_signal::{Signal, Signals};
use futures_lite::StreamExt;

/// Runs `action` on a thread of its own when the process gets Ctrl-C.
/// From then on Ctrl-C no longer ends the process by itself.
pub fn on_ctrl_c(action: impl FnOnce() + Send + 'static) -> io::Result<()> {
    let mut signals = Signals::new([Signal::Int])?;
    std::thread::Builder::new()
        .name("ctrl-c".into())
        .spawn(move || {
            // The signal arrives on a pipe; waiting for it parks this thread.
            let _ = futures_lite::future::block_on(signals.next());
            action();
        })?;
    Ok(())
}
