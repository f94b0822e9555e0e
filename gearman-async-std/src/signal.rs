//! Ctrl-C as a future, on async-io's reactor, for any executor.

use std::future::Future;
use std::io;

use async_signal::{Signal, Signals};
use futures_lite::StreamExt;

/// A future that completes when the process next gets Ctrl-C (SIGINT).
///
/// The handler is installed when this is called, not when the future is
/// first polled, so a Ctrl-C in between is not lost. While it is installed,
/// Ctrl-C no longer ends the process by itself.
///
/// ```no_run
/// # fn main() -> std::io::Result<()> {
/// smol::block_on(async {
///     let ctrl_c = gearman_async_std::ctrl_c()?;
///     ctrl_c.await;
///     println!("stopping");
///     Ok(())
/// })
/// # }
/// ```
pub fn ctrl_c() -> io::Result<impl Future<Output = ()> + Send + 'static> {
    let mut signals = Signals::new([Signal::Int])?;
    Ok(async move {
        let _ = signals.next().await;
    })
}
