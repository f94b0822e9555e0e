//! The transport seam with a stream of the caller's: the client and the
//! admin read and write it through futures-io, flushing it as a TLS stream
//! needs.

use std::io;
use std::net::TcpStream;
use std::pin::Pin;
use std::task::{Context, Poll};

use async_io::Async;
use futures_io::{AsyncRead, AsyncWrite};
use gearman_async_std::transport::{Connecting, Connection};
use gearman_async_std::{Admin, Client, ClientConfig, Server};

/// Sends nothing until flushed, as a TLS stream may hold records back.
struct HeldUntilFlushed {
    socket: Async<TcpStream>,
    held: Vec<u8>,
}

impl AsyncRead for HeldUntilFlushed {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.socket).poll_read(cx, buf)
    }
}

impl AsyncWrite for HeldUntilFlushed {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.held.extend_from_slice(data);
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        while !this.held.is_empty() {
            let n = futures_core::ready!(Pin::new(&mut this.socket).poll_write(cx, &this.held))?;
            this.held.drain(..n);
        }
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}

fn held_until_flushed(addr: &str) -> Connecting {
    let addr: std::net::SocketAddr = addr.parse().unwrap();
    Box::pin(async move {
        let socket = Async::<TcpStream>::connect(addr).await?;
        let held = Vec::new();
        Ok(Connection::new(HeldUntilFlushed { socket, held }))
    })
}

#[test]
fn a_stream_that_sends_only_when_flushed_carries_requests_and_replies() {
    smol::block_on(async {
        let server = Server::bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap().to_string();
        smol::spawn(server.serve()).detach();

        let config = ClientConfig::new([addr.as_str()]);
        let (client, driver) = Client::with_connector(config, held_until_flushed).unwrap();
        smol::spawn(driver).detach();
        let echoed = smol::future::or(client.echo("ping"), async {
            smol::Timer::after(conformance::PATIENCE).await;
            panic!("the request was never flushed");
        })
        .await
        .unwrap();
        assert_eq!(echoed, "ping");

        let mut admin = Admin::connect_with(addr.as_str(), &held_until_flushed)
            .await
            .unwrap();
        assert_eq!(admin.getpid().await.unwrap(), std::process::id());
    });
}
