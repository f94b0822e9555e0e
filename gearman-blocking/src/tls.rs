//! TLS over a blocking socket shared by a reader and a writer thread. The
//! rustls connection state sits behind a mutex held only to feed it
//! ciphertext, take plaintext out, or encrypt: socket reads and writes
//! happen outside it. Ciphertext taken out waits in `outgoing`, whose lock
//! keeps socket writes in order.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use gearman_proto::deadline_after;
use gearman_tls::{HandshakeError, rustls, tls_target};

use crate::transport::{Acceptor, Connection, Connector, Stream, tcp};

/// Plaintext encrypted per write: one TLS record, so that what a slow peer
/// has not taken yet stays small.
const RECORD: usize = 16 * 1024;

/// Opens `tls://host:port` addresses over TLS (verifying that the server's
/// certificate is valid for `host`) and plain ones over TCP, so one server
/// list may mix both. The handshake counts against the connect timeout. A
/// failed handshake is an `io::Error` carrying a [`HandshakeError`] that
/// names the server.
#[derive(Clone)]
pub struct TlsConnector {
    config: Arc<rustls::ClientConfig>,
}

impl TlsConnector {
    /// Uses a rustls configuration the caller built.
    pub fn new(config: Arc<rustls::ClientConfig>) -> TlsConnector {
        TlsConnector { config }
    }
}

gearman_tls::pem_constructors!();

impl Connector for TlsConnector {
    fn connect(&self, addr: &str, timeout: Duration) -> io::Result<Connection> {
        let deadline = deadline_after(Instant::now(), timeout);
        let Some(target) = tls_target(addr) else {
            return Ok(Connection::from(tcp(addr, deadline)?));
        };
        let (dial, name) = target.map_err(io::Error::other)?;
        let socket = tcp(dial, deadline)?;
        let tls = rustls::ClientConnection::new(self.config.clone(), name)
            .map_err(|err| io::Error::new(ErrorKind::InvalidInput, err))?;
        let stream = TlsStream::handshake(socket, tls.into(), deadline)
            .map_err(|err| HandshakeError::wrap(addr, err))?;
        Ok(Connection::new(stream))
    }
}

/// Accepts TLS with a rustls server configuration, within the server's
/// handshake timeout; a failed handshake is an `io::Error` carrying a
/// [`HandshakeError`] that names the peer.
#[derive(Clone)]
pub struct TlsAcceptor {
    config: Arc<rustls::ServerConfig>,
}

impl TlsAcceptor {
    /// Uses a rustls configuration the caller built.
    pub fn new(config: Arc<rustls::ServerConfig>) -> TlsAcceptor {
        TlsAcceptor { config }
    }
}

impl Acceptor for TlsAcceptor {
    fn accept(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        timeout: Duration,
    ) -> io::Result<Connection> {
        let wrap = |err| HandshakeError::wrap(&peer.to_string(), err);
        let tls = rustls::ServerConnection::new(self.config.clone())
            .map_err(|err| wrap(io::Error::new(ErrorKind::InvalidData, err)))?;
        let stream =
            TlsStream::handshake(stream, tls.into(), deadline_after(Instant::now(), timeout))
                .map_err(wrap)?;
        Ok(Connection::new(stream))
    }
}

/// A TLS connection over a TCP socket, readable and writable from two
/// threads at once.
struct TlsStream {
    socket: TcpStream,
    tls: Mutex<Tls>,
    /// Ciphertext taken from rustls and not yet on the socket. Held while
    /// writing to the socket, so records go out in the order they were made.
    outgoing: Mutex<Outgoing>,
    /// The reader's buffer for ciphertext from the socket.
    read_buf: Mutex<Vec<u8>>,
}

struct Tls {
    conn: rustls::Connection,
    /// Ciphertext read from the socket that rustls has not taken yet.
    incoming: Vec<u8>,
}

#[derive(Default)]
struct Outgoing {
    ciphertext: Vec<u8>,
    /// Plaintext encrypted by a write that timed out before its records
    /// were on the socket: that write reported nothing, so the caller
    /// offers the same bytes again, and they are acknowledged (not
    /// encrypted twice) once the records are out.
    owed: usize,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while these are held.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn tls_error(err: rustls::Error) -> io::Error {
    io::Error::new(ErrorKind::InvalidData, err)
}

/// A socket timeout reads as `WouldBlock` on some systems.
fn timed_out(err: io::Error) -> io::Error {
    if err.kind() == ErrorKind::WouldBlock {
        ErrorKind::TimedOut.into()
    } else {
        err
    }
}

impl TlsStream {
    /// Runs the handshake on the calling thread, giving up at `deadline`:
    /// every socket read and write waits at most until then. Holds only
    /// rustls' own buffers meanwhile.
    fn handshake(
        mut socket: TcpStream,
        mut conn: rustls::Connection,
        deadline: Instant,
    ) -> io::Result<TlsStream> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ErrorKind::TimedOut.into());
            }
            socket.set_read_timeout(Some(left))?;
            socket.set_write_timeout(Some(left))?;
            while conn.wants_write() {
                conn.write_tls(&mut socket).map_err(timed_out)?;
            }
            if !conn.is_handshaking() {
                break;
            }
            let read = conn.read_tls(&mut socket).map_err(timed_out)?;
            if let Err(err) = conn.process_new_packets() {
                // Tell the peer why (an alert), if it listens.
                let _ = conn.write_tls(&mut socket);
                return Err(tls_error(err));
            }
            if read == 0 {
                return Err(ErrorKind::UnexpectedEof.into());
            }
        }
        socket.set_read_timeout(None)?;
        socket.set_write_timeout(None)?;
        Ok(TlsStream {
            socket,
            tls: Mutex::new(Tls {
                conn,
                incoming: Vec::new(),
            }),
            outgoing: Mutex::new(Outgoing::default()),
            read_buf: Mutex::new(vec![0; RECORD + 1024]),
        })
    }

    /// Moves what rustls has to send into `out` (the caller holds it).
    fn take_output(&self, out: &mut Outgoing) -> io::Result<()> {
        let mut tls = lock(&self.tls);
        while tls.conn.wants_write() {
            tls.conn.write_tls(&mut out.ciphertext)?;
        }
        Ok(())
    }

    /// Writes the ciphertext in `out` until it is all on the socket or the
    /// write timeout passes.
    fn push(&self, out: &mut Outgoing) -> io::Result<()> {
        while !out.ciphertext.is_empty() {
            match self.socket.write(&out.ciphertext) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => {
                    out.ciphertext.drain(..n);
                }
                Err(err) if err.kind() == ErrorKind::Interrupted => {}
                Err(err) => return Err(timed_out(err)),
            }
        }
        Ok(())
    }

    /// Sends what rustls made while reading (a key update, an alert); what
    /// the socket does not take in time goes with the next write.
    fn send_made_output(&self) {
        let mut out = lock(&self.outgoing);
        let sent = self
            .take_output(&mut out)
            .and_then(|()| self.push(&mut out));
        if let Err(err) = sent {
            tracing::trace!(%err, "TLS output left for the next write");
        }
    }
}

/// What one locked look at the rustls state found for a reader.
enum Received {
    Plaintext(io::Result<usize>),
    /// Nothing to hand out: read the socket.
    NeedInput,
    Failed(rustls::Error),
}

impl Stream for TlsStream {
    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let (received, made_output) = {
                let mut tls = lock(&self.tls);
                let Tls { conn, incoming } = &mut *tls;
                let received = loop {
                    match conn.reader().read(buf) {
                        Err(err) if err.kind() == ErrorKind::WouldBlock => {}
                        plaintext => break Received::Plaintext(plaintext),
                    }
                    if incoming.is_empty() {
                        break Received::NeedInput;
                    }
                    let taken = conn.read_tls(&mut incoming.as_slice())?;
                    if taken == 0 {
                        return Err(io::Error::new(ErrorKind::InvalidData, "TLS input refused"));
                    }
                    incoming.drain(..taken);
                    if let Err(err) = conn.process_new_packets() {
                        break Received::Failed(err);
                    }
                };
                (received, conn.wants_write())
            };
            if made_output {
                self.send_made_output();
            }
            match received {
                Received::Plaintext(result) => return result,
                Received::Failed(err) => return Err(tls_error(err)),
                Received::NeedInput => {}
            }
            let mut read_buf = lock(&self.read_buf);
            let read = loop {
                match self.socket.read(&mut read_buf) {
                    Err(err) if err.kind() == ErrorKind::Interrupted => {}
                    read => break read?,
                }
            };
            let mut tls = lock(&self.tls);
            if read == 0 {
                // rustls tells a close_notify (end of input) from a cut
                // (UnexpectedEof) at the next plaintext read.
                tls.conn.read_tls(&mut io::empty())?;
                if let Err(err) = tls.conn.process_new_packets() {
                    return Err(tls_error(err));
                }
            } else {
                tls.incoming.extend_from_slice(&read_buf[..read]);
            }
        }
    }

    fn write(&self, data: &[u8]) -> io::Result<usize> {
        let mut out = lock(&self.outgoing);
        self.push(&mut out)?;
        if out.owed > 0 {
            let acknowledged = out.owed.min(data.len());
            out.owed -= acknowledged;
            return Ok(acknowledged);
        }
        let data = &data[..data.len().min(RECORD)];
        let taken = lock(&self.tls).conn.writer().write(data)?;
        self.take_output(&mut out)?;
        match self.push(&mut out) {
            Ok(()) => Ok(taken),
            Err(err) => {
                if err.kind() == ErrorKind::TimedOut {
                    out.owed = taken;
                }
                Err(err)
            }
        }
    }

    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.socket.set_read_timeout(timeout)
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.socket.set_write_timeout(timeout)
    }

    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        if how == Shutdown::Write {
            // close_notify first, so the peer can tell the end from a cut.
            let mut out = lock(&self.outgoing);
            lock(&self.tls).conn.send_close_notify();
            let _ = self
                .take_output(&mut out)
                .and_then(|()| self.push(&mut out));
        }
        // Not behind a lock: `Both` must wake a writer blocked on the socket.
        self.socket.shutdown(how)
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::path::Path;
    use std::thread;

    use conformance::tls::Pki;

    use super::*;

    /// A client and a server stream over loopback, handshake done.
    fn pair(pki: &Pki) -> (Connection, Connection) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = format!("tls://{}", listener.local_addr().unwrap());
        let acceptor = TlsAcceptor::from_pem(
            pki.path("server.pem"),
            pki.path("server.key"),
            None::<&Path>,
        )
        .unwrap();
        let server = thread::spawn(move || {
            let (socket, peer) = listener.accept().unwrap();
            acceptor
                .accept(socket, peer, Duration::from_secs(10))
                .unwrap()
        });
        let connector = TlsConnector::from_pem(pki.ca(), None::<(&str, &str)>).unwrap();
        let client = connector.connect(&addr, Duration::from_secs(10)).unwrap();
        (client, server.join().unwrap())
    }

    // A write that times out with its records half on the socket reports
    // nothing; offering the same bytes again must neither drop nor repeat
    // them, as the socket threads do with a slow peer.
    #[test]
    fn writes_retried_after_timeouts_reach_the_peer_once_and_in_order() {
        /// The byte at `offset` of the stream sent.
        fn byte(offset: usize) -> u8 {
            (offset % 253) as u8
        }
        // Loopback buffers can take tens of megabytes before a write blocks:
        // the writer goes on until one timed out, within a bound.
        const AT_LEAST: usize = 4 << 20;
        const AT_MOST: usize = 512 << 20;
        const CHUNK: usize = 64 << 10;
        let pki = Pki::generate();
        let (client, server) = pair(&pki);
        server
            .0
            .set_write_timeout(Some(Duration::from_millis(5)))
            .unwrap();
        let (fell_behind, behind) = std::sync::mpsc::channel();
        let reader = thread::spawn(move || {
            // Not before a write timed out with the socket full (or the
            // writer gave up).
            let _ = behind.recv();
            let mut received = 0;
            let mut buf = vec![0; 8192];
            loop {
                match client.0.read(&mut buf) {
                    Ok(0) => return received,
                    Ok(n) => {
                        for (i, &b) in buf[..n].iter().enumerate() {
                            assert_eq!(b, byte(received + i), "byte {}", received + i);
                        }
                        received += n;
                    }
                    Err(err) => panic!("read failed after {received} bytes: {err}"),
                }
            }
        });
        let mut sent = 0;
        let mut timed_out = false;
        while !(timed_out && sent >= AT_LEAST) {
            assert!(sent < AT_MOST, "no write timed out in {sent} bytes");
            let chunk: Vec<u8> = (sent..sent + CHUNK).map(byte).collect();
            let mut rest = &chunk[..];
            while !rest.is_empty() {
                match server.0.write(rest) {
                    Ok(n) => {
                        rest = &rest[n..];
                        sent += n;
                    }
                    Err(err) if err.kind() == ErrorKind::TimedOut => {
                        if !timed_out {
                            timed_out = true;
                            fell_behind.send(()).unwrap();
                        }
                    }
                    Err(err) => panic!("write failed: {err}"),
                }
            }
        }
        server.0.shutdown(Shutdown::Write).unwrap();
        assert_eq!(reader.join().unwrap(), sent);
    }
}
