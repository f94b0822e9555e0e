//! A TCP socket that its reader task, its writer task and the state
//! machine's holder use at once: the holder writes directly when nothing is
//! queued, so a message needs no hand-off to the writer task.

use std::io;
use std::net::Shutdown;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;

/// One handle on a shared socket.
#[derive(Clone)]
pub(crate) struct SharedTcp(Arc<TcpStream>);

impl SharedTcp {
    pub(crate) fn new(stream: TcpStream) -> SharedTcp {
        SharedTcp(Arc::new(stream))
    }

    /// Writes what the socket takes now without waiting: `Ok(n)` with `n`
    /// possibly short of `data.len()` (0 when it would block).
    pub(crate) fn write_now(&self, data: &[u8]) -> io::Result<usize> {
        match self.0.try_write(data) {
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => Ok(0),
            result => result,
        }
    }
}

impl AsyncRead for SharedTcp {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let room = buf.remaining();
        loop {
            ready!(self.0.poll_read_ready(cx))?;
            let mut read = None;
            // A read shorter than the room left means the socket is drained:
            // reporting it as would-block clears the readiness, so the next
            // poll waits instead of trying a read that finds nothing, as
            // Tokio's own TCP reads do. Readiness that arrived meanwhile is
            // kept.
            let result = self.0.try_io(Interest::READABLE, || {
                let n = self.0.try_read_buf(buf)?;
                read = Some(n);
                if n > 0 && n < room {
                    Err(io::ErrorKind::WouldBlock.into())
                } else {
                    Ok(())
                }
            });
            match (read, result) {
                (Some(_), _) => return Poll::Ready(Ok(())),
                (None, Err(err)) if err.kind() == io::ErrorKind::WouldBlock => {}
                (None, result) => return Poll::Ready(result),
            }
        }
    }
}

impl AsyncWrite for SharedTcp {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.0.poll_write_ready(cx))?;
            match self.0.try_write(data) {
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                result => return Poll::Ready(result),
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(socket2::SockRef::from(&*self.0).shutdown(Shutdown::Write))
    }
}
