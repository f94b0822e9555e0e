//! Peers that stop reading what a server sends them, as plain blocking
//! sockets, for every adapter's server: the server must drop them (their
//! output freed) and go on serving the others. Each check takes the address
//! of a server started with the configuration it names.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::{PATIENCE, eventually};

/// An ECHO_REQ packet carrying `payload`.
pub fn echo_req(payload: &[u8]) -> Vec<u8> {
    let mut packet = b"\0REQ\0\0\0\x10".to_vec();
    packet.extend_from_slice(&u32::try_from(payload.len()).expect("small").to_be_bytes());
    packet.extend_from_slice(payload);
    packet
}

/// A SET_CLIENT_ID packet, so that the admin `workers` listing names the peer.
fn set_client_id(id: &str) -> Vec<u8> {
    let mut packet = b"\0REQ\0\0\0\x16".to_vec();
    packet.extend_from_slice(&u32::try_from(id.len()).expect("small").to_be_bytes());
    packet.extend_from_slice(id.as_bytes());
    packet
}

/// A raw connection named `id` in the admin listing, that will not read.
fn named_peer(addr: &str, id: &str) -> TcpStream {
    let mut peer = TcpStream::connect(addr).expect("connect");
    peer.set_write_timeout(Some(PATIENCE)).unwrap();
    peer.write_all(&set_client_id(id)).unwrap();
    peer
}

/// The client ids the admin `workers` command lists (one per connection).
pub fn listed_client_ids(addr: &str) -> Vec<String> {
    let mut admin = TcpStream::connect(addr).expect("connect admin");
    admin.set_read_timeout(Some(PATIENCE)).unwrap();
    admin.write_all(b"workers\n").unwrap();
    let mut text = Vec::new();
    let mut buf = [0u8; 4096];
    while !text.ends_with(b"\n.\n") && text != b".\n" {
        let n = admin.read(&mut buf).expect("admin reply");
        assert!(n > 0, "admin connection closed mid-reply");
        text.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&text)
        .lines()
        .filter_map(|line| line.split(" : ").next()?.split(' ').nth(2))
        .map(str::to_owned)
        .collect()
}

fn is_listed(addr: &str, id: &str) -> bool {
    listed_client_ids(addr).iter().any(|listed| listed == id)
}

/// Asserts that a fresh connection gets its echo back.
pub fn assert_serves(addr: &str) {
    let mut peer = TcpStream::connect(addr).expect("connect");
    peer.set_read_timeout(Some(PATIENCE)).unwrap();
    peer.write_all(&echo_req(b"still serving")).unwrap();
    let mut reply = vec![0u8; 12 + 13];
    peer.read_exact(&mut reply).expect("echo reply");
    assert_eq!(&reply[12..], b"still serving");
}

/// Reads until the end of the stream or a reset; returns how much came.
fn read_to_end_or_reset(peer: &mut TcpStream) -> usize {
    peer.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut total = 0;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match peer.read(&mut buf) {
            Ok(0) => return total,
            Ok(n) => total += n,
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(err) => {
                assert!(
                    !matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
                    "the server kept the connection open"
                );
                return total;
            }
        }
    }
}

/// For a server whose `max_pending_output` is 1 MiB: a peer that sends
/// 1,200 ECHO_REQs of 64 KiB and never reads is dropped (its writes end in
/// a reset rather than blocking for good), it reads far less than its
/// echoes before the end, and the server serves others.
pub fn flooding_peer_is_dropped(addr: &str) {
    const PACKETS: usize = 1200;
    let request = echo_req(&vec![7u8; 64 * 1024]);
    let mut peer = TcpStream::connect(addr).expect("connect");
    peer.set_write_timeout(Some(PATIENCE)).unwrap();
    let mut sent = 0;
    let flood_end = loop {
        if sent == PACKETS {
            break None;
        }
        match peer.write_all(&request) {
            Ok(()) => sent += 1,
            Err(err) => break Some(err),
        }
    };
    let err = flood_end.expect("the server took every request: it never dropped the peer");
    assert!(
        !matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        "the server stopped reading but kept the connection: {err}"
    );
    let received = read_to_end_or_reset(&mut peer);
    assert!(
        received < PACKETS * request.len() / 2,
        "{received} bytes of echoes came before the end"
    );
    assert_serves(addr);
}

/// For a server whose `write_stall_timeout` is short and other limits
/// default: a peer with 16 MiB of echo waiting that reads none of it is
/// dropped (gone from the admin listing, then it reads only part of its
/// echo before the end), and the server serves others.
pub fn stalled_peer_is_dropped(addr: &str) {
    const PAYLOAD: usize = 16 * 1024 * 1024;
    let mut peer = named_peer(addr, "stalled-peer");
    eventually("the peer is listed", || is_listed(addr, "stalled-peer"));
    peer.write_all(&echo_req(&vec![7u8; PAYLOAD])).unwrap();
    eventually("the stalled peer is dropped", || {
        !is_listed(addr, "stalled-peer")
    });
    let received = read_to_end_or_reset(&mut peer);
    assert!(received < PAYLOAD, "the whole echo came: {received} bytes");
    assert_serves(addr);
}

/// Payload of each peer's echo in [`total_limit_drops_the_peer_that_crosses_it`].
pub const TOTAL_TEST_PAYLOAD: usize = 24 * 1024 * 1024;
/// The server-wide limit that check expects: over one peer's queued echo
/// (at most [`TOTAL_TEST_PAYLOAD`]), under two (the kernel takes in a few
/// MiB of each).
pub const TOTAL_TEST_LIMIT: usize = 28 * 1024 * 1024;

/// For a server whose `max_total_pending_output` is [`TOTAL_TEST_LIMIT`]
/// and `write_stall_timeout` is off: two peers that each ask for an echo of
/// [`TOTAL_TEST_PAYLOAD`] and do not read would together go over the limit,
/// so the one whose echo crosses it is dropped; the other keeps its output
/// and reads all of it, and others are served meanwhile.
pub fn total_limit_drops_the_peer_that_crosses_it(addr: &str) {
    let request = echo_req(&vec![7u8; TOTAL_TEST_PAYLOAD]);
    let ids = ["total-peer-a", "total-peer-b"];
    let mut peers: Vec<TcpStream> = ids.iter().map(|id| named_peer(addr, id)).collect();
    eventually("both peers are listed", || {
        let listed = listed_client_ids(addr);
        ids.iter().all(|id| listed.iter().any(|l| l == id))
    });
    for peer in &mut peers {
        // The server reads it all even when it drops the peer (its
        // output is what overflows), unless the drop comes first.
        let _ = peer.write_all(&request);
    }
    let mut gone = None;
    eventually("one peer is dropped", || {
        let listed = listed_client_ids(addr);
        gone = ids.iter().position(|id| !listed.iter().any(|l| l == id));
        gone.is_some()
    });
    let gone = gone.expect("seen");
    let kept = 1 - gone;
    assert!(
        is_listed(addr, ids[kept]),
        "both peers were dropped; one fits under the limit"
    );
    assert_serves(addr);
    let mut survivor = peers.remove(kept);
    survivor.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut echo = vec![0u8; request.len()];
    survivor
        .read_exact(&mut echo)
        .expect("the kept peer gets all of its echo");
    assert_eq!(&echo[12..], &request[12..]);
    let mut dropped = peers.remove(0);
    let received = read_to_end_or_reset(&mut dropped);
    assert!(
        received < request.len(),
        "the dropped peer got its whole echo"
    );
}

/// A short stall timeout for tests: long enough that a peer that reads
/// never trips it on a loaded machine.
pub const TEST_STALL_TIMEOUT: Duration = Duration::from_millis(500);
