//! Streaming decoder for binary packets and admin text lines.

use bytes::{Buf, Bytes, BytesMut};

use crate::packet::PacketRef;
use crate::packet::{BuildError, DecodeError};
use crate::packet::{Command, Magic};
use crate::packet::{HEADER_LEN, Packet};

/// Default largest payload a [`Decoder`] accepts: 64 MiB.
pub const DEFAULT_MAX_PACKET_SIZE: u32 = 64 * 1024 * 1024;

/// Default longest admin text line a [`Decoder`] accepts: 8 KiB, gearmand's
/// receive buffer.
pub const DEFAULT_MAX_LINE_LEN: usize = 8 * 1024;

/// One unit read off a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A binary packet.
    Packet(Packet),
    /// An admin text line, without its `\n` or `\r\n`.
    Text(Bytes),
}

/// Incremental decoder over a [`BytesMut`] read buffer.
///
/// Call [`decode_packet`](Decoder::decode_packet) (clients and workers),
/// [`decode_packet_ref`](Decoder::decode_packet_ref) (the same, borrowing
/// from the buffer instead of splitting it) or
/// [`decode_frame`](Decoder::decode_frame) (servers, which also accept admin
/// lines) after each read, until it returns `Ok(None)`: that means "need more
/// bytes", and the buffer keeps what was not consumed. A frame is split off
/// the front of the buffer without copying.
///
/// The declared payload size is checked against the maximum as soon as the
/// 12-byte header is in, before anything is reserved. After an error the
/// decoder is failed for good: the stream's framing is lost, so every later
/// call returns the same error and the connection should be closed.
///
/// ```
/// use bytes::BytesMut;
/// use gearman_proto::{Command, Decoder};
///
/// let mut dec = Decoder::new();
/// let mut buf = BytesMut::from(&b"\0RES\0\0\0\x06\0\0\0\0\0RES"[..]);
/// let p = dec.decode_packet(&mut buf).unwrap().unwrap();
/// assert_eq!(p.command(), Command::Noop);
/// assert_eq!(dec.decode_packet(&mut buf).unwrap(), None);
/// assert_eq!(&buf[..], b"\0RES");
/// ```
#[derive(Debug, Clone)]
pub struct Decoder {
    max_packet_size: u32,
    max_line_len: usize,
    failed: Option<DecodeError>,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new()
    }
}

impl Decoder {
    /// A decoder with [`DEFAULT_MAX_PACKET_SIZE`] and [`DEFAULT_MAX_LINE_LEN`].
    pub fn new() -> Decoder {
        Decoder {
            max_packet_size: DEFAULT_MAX_PACKET_SIZE,
            max_line_len: DEFAULT_MAX_LINE_LEN,
            failed: None,
        }
    }

    /// Sets the largest payload accepted, in bytes (the 12-byte header is not counted).
    pub fn with_max_packet_size(mut self, max: u32) -> Decoder {
        self.max_packet_size = max;
        self
    }

    /// Sets the longest text line accepted, in bytes, line ending included.
    pub fn with_max_line_len(mut self, max: usize) -> Decoder {
        self.max_line_len = max;
        self
    }

    /// The configured maximum payload size.
    pub fn max_packet_size(&self) -> u32 {
        self.max_packet_size
    }

    /// The error this decoder failed with, if any.
    pub fn error(&self) -> Option<&DecodeError> {
        self.failed.as_ref()
    }

    fn fail<T>(&mut self, err: DecodeError) -> Result<T, DecodeError> {
        self.failed = Some(err.clone());
        Err(err)
    }

    /// Decodes one binary packet; text is an error here.
    // Inlined so the packet is built where the caller keeps it: returned
    // through memory, it was copied out with wide loads of narrow stores,
    // which stall.
    #[inline(always)]
    pub fn decode_packet(&mut self, buf: &mut BytesMut) -> Result<Option<Packet>, DecodeError> {
        let Some((command, size)) = self.next_header(buf)? else {
            return Ok(None);
        };
        let total = HEADER_LEN + size as usize;
        if buf.len() < total {
            // Room for the rest, but never more than has arrived: memory
            // follows the bytes received, not the size a header claims (the
            // buffer still doubles, so large frames copy little).
            buf.reserve((total - buf.len()).min(buf.len()));
            return Ok(None);
        }
        // An empty payload needs no slice of the buffer (and no reference
        // count traffic): packets without fields are the most frequent.
        let payload = if size == 0 {
            buf.advance(HEADER_LEN);
            Bytes::new()
        } else {
            // Skipping the header on the frozen slice is pointer arithmetic;
            // on the BytesMut it is an out-of-line call.
            let mut frame = buf.split_to(total).freeze();
            frame.advance(HEADER_LEN);
            frame
        };
        match Packet::from_payload(command, payload) {
            Ok(packet) => Ok(Some(packet)),
            Err(err) => self.fail(missing_fields(err)),
        }
    }

    /// Decodes the binary packet at the front of `buf` without consuming it:
    /// the packet borrows its payload from `buf`, and the `usize` is how many
    /// bytes it takes (12 plus its declared size). The caller drops the
    /// front of its buffer by that much once done with the packet.
    ///
    /// This is the fastest way to read packets: nothing is split off the
    /// buffer, so there is no reference count to raise and drop per packet.
    /// [`decode_packet`](Decoder::decode_packet) gives an owned [`Packet`]
    /// instead, for packets kept past the next read; [`PacketRef::to_packet`]
    /// copies one that turns out to be needed longer.
    ///
    /// `Ok(None)` means "need more bytes": append them and call again with the
    /// whole unconsumed buffer. A frame is only returned once all of it is in
    /// `buf`, so the buffer must be able to hold 12 bytes plus the
    /// [maximum packet size](Decoder::max_packet_size). The checks and errors
    /// are those of [`decode_packet`](Decoder::decode_packet): the declared
    /// size is checked against the maximum as soon as the header is in, and
    /// after an error the decoder stays failed (nothing needs consuming: the
    /// stream is unusable).
    ///
    /// A read loop advances after using each packet. (In a hot loop, matching
    /// on a reference to the result, `match &decoder.decode_packet_ref(&buf)`,
    /// reads the packet where it was built; moving it out of the result may
    /// copy it through the stack first.)
    ///
    /// ```
    /// use bytes::{Buf, BytesMut};
    /// use gearman_proto::{Command, Decoder};
    ///
    /// // Two ECHO_RES packets, then the start of a third.
    /// let mut socket = &b"\0RES\0\0\0\x11\0\0\0\x02hi\0RES\0\0\0\x11\0\0\0\x03you\0RES\0"[..];
    /// let mut decoder = Decoder::new();
    /// let mut buf = BytesMut::new();
    /// let mut echoed = Vec::new();
    /// loop {
    ///     match decoder.decode_packet_ref(&buf) {
    ///         Ok(Some((packet, used))) => {
    ///             assert_eq!(packet.command(), Command::EchoRes);
    ///             echoed.push(packet.data().unwrap().to_vec());
    ///             // The packet is no longer used: drop its bytes.
    ///             buf.advance(used);
    ///         }
    ///         Ok(None) if socket.is_empty() => break,
    ///         Ok(None) => {
    ///             // A socket read, here four bytes at a time.
    ///             let n = socket.len().min(4);
    ///             buf.extend_from_slice(&socket[..n]);
    ///             socket = &socket[n..];
    ///         }
    ///         Err(err) => panic!("close the connection: {err}"),
    ///     }
    /// }
    /// assert_eq!(echoed, [b"hi".to_vec(), b"you".to_vec()]);
    /// assert_eq!(&buf[..], b"\0RES\0");
    /// ```
    #[inline(always)]
    pub fn decode_packet_ref<'a>(
        &mut self,
        buf: &'a [u8],
    ) -> Result<Option<(PacketRef<'a>, usize)>, DecodeError> {
        let Some((command, size)) = self.next_header(buf)? else {
            return Ok(None);
        };
        let total = HEADER_LEN + size as usize;
        let Some(payload) = buf.get(HEADER_LEN..total) else {
            return Ok(None);
        };
        match PacketRef::new(command, payload) {
            Ok(packet) => Ok(Some((packet, total))),
            Err(err) => self.fail(missing_fields(err)),
        }
    }

    /// The command and declared size of the next packet, once its header is
    /// in; an error fails the decoder, and a failed decoder repeats its error.
    #[inline(always)]
    fn next_header(&mut self, buf: &[u8]) -> Result<Option<(Command, u32)>, DecodeError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        match self.check_header(buf) {
            Ok(header) => Ok(header),
            Err(err) => self.fail(err),
        }
    }

    /// Decodes one binary packet or, when the next byte is not NUL, one admin
    /// text line (gearmand sniffs every message this way).
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use gearman_proto::{Decoder, Frame};
    /// let mut buf = BytesMut::from(&b"status\r\n"[..]);
    /// let frame = Decoder::new().decode_frame(&mut buf).unwrap().unwrap();
    /// assert_eq!(frame, Frame::Text("status".into()));
    /// ```
    pub fn decode_frame(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, DecodeError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        match buf.first() {
            None => Ok(None),
            Some(0) => Ok(self.decode_packet(buf)?.map(Frame::Packet)),
            Some(_) => self.decode_line(buf).map(|line| line.map(Frame::Text)),
        }
    }

    fn decode_line(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, DecodeError> {
        let limit = buf.len().min(self.max_line_len);
        let Some(end) = memchr::memchr(b'\n', &buf[..limit]) else {
            if buf.len() >= self.max_line_len {
                return self.fail(DecodeError::LineTooLong {
                    max: self.max_line_len,
                });
            }
            return Ok(None);
        };
        let mut line = buf.split_to(end + 1);
        line.truncate(end);
        if line.last() == Some(&b'\r') {
            line.truncate(end - 1);
        }
        Ok(Some(line.freeze()))
    }

    #[inline(always)]
    fn check_header(&self, buf: &[u8]) -> Result<Option<(Command, u32)>, DecodeError> {
        let Some(header) = buf.first_chunk::<HEADER_LEN>() else {
            // A partial header: fail early if its start already cannot be a magic.
            let seen = &buf[..buf.len().min(4)];
            if !b"\0REQ".starts_with(seen) && !b"\0RES".starts_with(seen) {
                return Err(DecodeError::BadMagic(seen.to_vec()));
            }
            return Ok(None);
        };
        let [m0, m1, m2, m3, n0, n1, n2, n3, s0, s1, s2, s3] = *header;
        let Some(magic) = Magic::from_bytes([m0, m1, m2, m3]) else {
            return Err(DecodeError::BadMagic(header[..4].to_vec()));
        };
        let number = u32::from_be_bytes([n0, n1, n2, n3]);
        let size = u32::from_be_bytes([s0, s1, s2, s3]);
        let command =
            command_of(magic, number).ok_or(DecodeError::UnknownCommand { magic, number })?;
        if size > self.max_packet_size {
            return Err(DecodeError::TooLarge {
                size,
                max: self.max_packet_size,
            });
        }
        Ok(Some((command, size)))
    }
}

/// The decode error for a payload with too few fields ([`PacketRef::new`]
/// reports nothing else).
#[cold]
fn missing_fields(err: BuildError) -> DecodeError {
    match err {
        BuildError::MissingFields {
            command,
            expected,
            found,
        } => DecodeError::MissingFields {
            command,
            expected,
            found,
        },
        other => unreachable!("splitting a payload only reports missing fields: {other}"),
    }
}

/// Highest type number in the command table, plus one.
const WIRE_NUMBERS: usize = 43;

/// [`Command::from_wire`] as a table, indexed by magic (request, response)
/// and number: one load on the decode path instead of a call.
const WIRE_TABLE: [[Option<Command>; WIRE_NUMBERS]; 2] = {
    let mut table = [[None; WIRE_NUMBERS]; 2];
    let mut i = 0;
    while i < Command::ALL.len() {
        let command = Command::ALL[i];
        let side = match command.magic() {
            Magic::Req => 0,
            Magic::Res => 1,
        };
        table[side][command.number() as usize] = Some(command);
        i += 1;
    }
    table
};

#[inline(always)]
fn command_of(magic: Magic, number: u32) -> Option<Command> {
    let side = match magic {
        Magic::Req => 0,
        Magic::Res => 1,
    };
    *WIRE_TABLE[side].get(number as usize)?
}

/// Reads the declared payload size from a complete 12-byte header, if `buf`
/// holds one. Used by the fuzz invariants: a decoded packet consumes exactly
/// `12 + size` bytes.
pub fn declared_size(buf: &[u8]) -> Option<u32> {
    buf.get(8..12)
        .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_table_agrees_with_the_command_table() {
        for magic in [Magic::Req, Magic::Res] {
            for number in (0..=60).chain([u32::MAX]) {
                assert_eq!(
                    command_of(magic, number),
                    Command::from_wire(magic, number),
                    "{magic:?} {number}"
                );
            }
        }
        let highest = Command::ALL.iter().map(|c| c.number()).max();
        assert_eq!(highest, Some(WIRE_NUMBERS as u32 - 1));
    }
}
