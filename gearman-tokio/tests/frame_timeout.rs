//! Our server closes a socket that stops half-way through a packet, within
//! the configured frame timeout, while it keeps serving everyone else and
//! leaves idle sockets open.

use std::time::{Duration, Instant};

use gearman_tokio::{Server, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const FRAME_TIMEOUT: Duration = Duration::from_millis(500);
/// Generous: only a hang fails against it.
const PATIENCE: Duration = Duration::from_secs(20);

const ECHO_HI: &[u8] = b"\0REQ\0\0\0\x10\0\0\0\x02hi";
const ECHO_HI_REPLY: &[u8] = b"\0RES\0\0\0\x11\0\0\0\x02hi";

async fn echo(stream: &mut TcpStream) {
    stream.write_all(ECHO_HI).await.unwrap();
    let mut reply = [0u8; ECHO_HI_REPLY.len()];
    tokio::time::timeout(PATIENCE, stream.read_exact(&mut reply))
        .await
        .expect("an echo reply")
        .unwrap();
    assert_eq!(reply, ECHO_HI_REPLY);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_frame_is_closed_while_others_are_served() {
    let mut config = ServerConfig::new("test");
    config.frame_timeout = Some(FRAME_TIMEOUT);
    let server = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .with_config(config);
    let addr = server.local_addr().unwrap();
    let serving = tokio::spawn(server.serve());

    let mut idle = TcpStream::connect(addr).await.unwrap();
    let mut stalled = TcpStream::connect(addr).await.unwrap();
    // SUBMIT_JOB declaring 64 MiB, then 1 KiB of it, then nothing.
    let mut partial = b"\0REQ\0\0\0\x07\x04\0\0\0".to_vec();
    partial.resize(partial.len() + 1024, b'x');
    stalled.write_all(&partial).await.unwrap();
    let stalled_at = Instant::now();

    let mut other = TcpStream::connect(addr).await.unwrap();
    echo(&mut other).await;

    let mut rest = Vec::new();
    let read = tokio::time::timeout(PATIENCE, stalled.read_to_end(&mut rest)).await;
    assert!(matches!(read, Ok(Ok(0))), "closed by the server: {read:?}");
    assert!(
        stalled_at.elapsed() >= FRAME_TIMEOUT,
        "closed only once the frame timeout had passed"
    );

    echo(&mut idle).await;
    echo(&mut other).await;
    serving.abort();
}
