//! Invariant checks shared by the fuzz targets and the corpus test.
//!
//! Each function decodes arbitrary bytes the way a peer could send them and
//! asserts what must hold for every input, beyond "no panic":
//!
//! - a decoded packet consumed exactly 12 bytes plus its declared size, and
//!   re-encoding it gives back exactly the bytes it came from;
//! - feeding the same bytes one at a time (in small chunks for long inputs)
//!   gives the same frames and the same outcome as feeding them whole;
//! - after an error the decoder stays failed, and a header error consumes
//!   nothing;
//! - an admin line that parses re-encodes to a line that parses to the same
//!   request, and a line that does not parse gets an `ERR` reply that a
//!   client reads back as the same value;
//! - an admin reply re-encodes to bytes that decode to the same reply.
//!
//! # Panics
//!
//! These functions panic when an invariant is broken: that is their purpose.
//! They are meant for fuzzers and tests, not for production input handling.
//!
//! ```
//! gearman_proto::invariants::check_packet_stream(b"\0RES\0\0\0\x06\0\0\0\0\0RE");
//! gearman_proto::invariants::check_frame_stream(b"status\r\n\0REQ\0\0\0\x09\0\0\0\0");
//! gearman_proto::invariants::check_admin_stream(b"\0resize\t3\t1\t2\n.\n");
//! ```

use std::mem::{Discriminant, discriminant};

use bytes::{Bytes, BytesMut};

use crate::admin::{AdminRequest, AdminResponse, AdminResponseDecoder, ReplyShape};
use crate::codec::{Decoder, Frame, declared_size};
use crate::error::DecodeError;
use crate::packet::{HEADER_LEN, Packet};

/// Largest payload the checks accept: big enough for every fuzz input, small
/// enough that a declared size near it costs little to reserve.
const MAX_PACKET_SIZE: u32 = 1 << 16;

/// Longest admin line the checks accept.
const MAX_LINE_LEN: usize = 1024;

/// Largest admin list reply the checks buffer.
const MAX_REPLY_LEN: usize = 1 << 16;

/// Inputs up to this long are also fed byte by byte; longer ones in chunks
/// of [`LONG_INPUT_CHUNK`] (byte by byte is quadratic for a long text line).
const MAX_BYTE_BY_BYTE: usize = 1024;

/// Chunk size for feeding long inputs piecewise: prime, so chunk edges fall
/// everywhere in a frame.
const LONG_INPUT_CHUNK: usize = 61;

fn piece_size(len: usize) -> usize {
    if len <= MAX_BYTE_BY_BYTE {
        1
    } else {
        LONG_INPUT_CHUNK
    }
}

/// The requests [`check_admin_stream`] reads replies for, chosen by the
/// input's first byte (modulo the length).
pub const ADMIN_REQUESTS: &[&[u8]] = &[
    b"status",
    b"workers",
    b"version",
    b"getpid",
    b"verbose",
    b"show jobs",
    b"show unique jobs",
    b"prioritystatus",
    b"maxqueue f 1",
    b"cancel job H:x:1",
    b"create function f",
    b"drop function f",
    b"shutdown",
    b"unknown words",
];

/// How a decoding run ended.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// All input was fed and the rest (this many bytes) is an incomplete frame.
    NeedMore(usize),
    /// The decoder failed at this stream offset with this kind of error
    /// (payloads can differ: a bad magic is reported with the bytes seen).
    Failed(usize, Discriminant<DecodeError>),
}

/// Decodes `data` as a stream of binary packets (what a client or worker
/// reads), checking every invariant listed in the [module docs](self).
///
/// ```
/// // Two packets and the start of a third: all invariants hold.
/// gearman_proto::invariants::check_packet_stream(b"\0RES\0\0\0\x06\0\0\0\0\0RES\0\0\0\x0a\0\0\0\0\0RE");
/// ```
pub fn check_packet_stream(data: &[u8]) {
    let whole = run(data, data.len(), false);
    if data.len() <= MAX_BYTE_BY_BYTE {
        assert_eq!(
            run(data, 1, false),
            whole,
            "byte by byte differs from whole"
        );
    }
}

/// Decodes `data` as a server reads it: binary packets and admin text lines,
/// sniffed per message, checking packets as [`check_packet_stream`] does and
/// every admin line as [`check_admin_stream`] does.
///
/// ```
/// gearman_proto::invariants::check_frame_stream(b"show jobs\n\0REQ\0\0\0\x01\0\0\0\x01f");
/// ```
pub fn check_frame_stream(data: &[u8]) {
    let whole = run(data, data.len(), true);
    let pieces = run(data, piece_size(data.len()), true);
    assert_eq!(pieces, whole, "feeding piecewise differs from whole");
}

/// Reads `data` both ways the admin protocol is read: every `\n`-separated
/// line as a request a server parses, and, after a first byte that picks one
/// of [`ADMIN_REQUESTS`], the rest as the replies a client reads.
///
/// ```
/// // First byte 0 picks `status`; the rest is its reply.
/// gearman_proto::invariants::check_admin_stream(b"\x00f\t1\t0\t1\n.\n");
/// ```
pub fn check_admin_stream(data: &[u8]) {
    for line in data.split(|&b| b == b'\n') {
        check_request_line(line);
    }
    let Some((&selector, replies)) = data.split_first() else {
        return;
    };
    let request = AdminRequest::Raw(Bytes::from_static(
        ADMIN_REQUESTS[usize::from(selector) % ADMIN_REQUESTS.len()],
    ));
    let whole = read_replies(&request, replies, replies.len());
    let pieces = read_replies(&request, replies, piece_size(replies.len()));
    assert_eq!(pieces, whole, "feeding piecewise differs from whole");
}

/// Feeds `data` in chunks of `chunk` bytes, decodes until it runs out or
/// fails, and returns the frames and how it ended.
fn run(data: &[u8], chunk: usize, frames: bool) -> (Vec<Frame>, End) {
    let chunk = chunk.max(1);
    let mut decoder = Decoder::new()
        .with_max_packet_size(MAX_PACKET_SIZE)
        .with_max_line_len(MAX_LINE_LEN);
    let mut buf = BytesMut::new();
    let mut fed = 0;
    let mut consumed = 0;
    let mut out = Vec::new();
    loop {
        let before = buf.len();
        let declared = declared_size(&buf);
        let result = if frames {
            decoder.decode_frame(&mut buf)
        } else {
            decoder
                .decode_packet(&mut buf)
                .map(|p| p.map(Frame::Packet))
        };
        let used = before - buf.len();
        match result {
            Ok(Some(frame)) => {
                check_frame(&frame, &data[consumed..consumed + used], declared);
                consumed += used;
                out.push(frame);
            }
            Ok(None) => {
                assert_eq!(used, 0, "need-more consumed bytes");
                if fed == data.len() {
                    return (out, End::NeedMore(data.len() - consumed));
                }
                let next = (fed + chunk).min(data.len());
                buf.extend_from_slice(&data[fed..next]);
                fed = next;
            }
            Err(err) => {
                check_failed(&mut decoder, &err, used, declared);
                return (out, End::Failed(consumed, discriminant(&err)));
            }
        }
    }
}

fn check_frame(frame: &Frame, input: &[u8], declared: Option<u32>) {
    match frame {
        Frame::Packet(packet) => check_packet(packet, input, declared),
        Frame::Text(line) => {
            assert!(input.len() <= MAX_LINE_LEN, "line over the maximum");
            let ending = &input[line.len()..];
            assert!(
                ending == b"\n" || ending == b"\r\n",
                "a line is its text and one line ending"
            );
            assert_eq!(&input[..line.len()], &line[..]);
            assert!(!line.contains(&b'\n'));
            check_request_line(line);
        }
    }
}

fn check_packet(packet: &Packet, input: &[u8], declared: Option<u32>) {
    let declared = declared.expect("a packet was decoded from a whole header") as usize;
    assert_eq!(input.len(), HEADER_LEN + declared, "consumed 12 + size");
    assert_eq!(packet.encoded_len(), input.len());
    let mut wire = Vec::with_capacity(input.len());
    packet.encode(&mut wire);
    assert_eq!(wire, input, "re-encoding gives back the input");
    assert_eq!(&input[..4], packet.magic().bytes());
    assert_eq!(input[4..8], packet.command().number().to_be_bytes());
    // Fields split back exactly: rebuilding from them gives the same packet.
    if packet.field_count() > 0 {
        let args: Vec<&[u8]> = packet.args().collect();
        let rebuilt = Packet::build(packet.command(), &args).expect("decoded fields are valid");
        assert_eq!(&rebuilt, packet, "fields rebuild the packet");
    }
}

fn check_failed(decoder: &mut Decoder, err: &DecodeError, used: usize, declared: Option<u32>) {
    match err {
        // The frame was whole: it and only it is consumed.
        DecodeError::MissingFields { .. } => {
            let declared = declared.expect("fields are checked after the header") as usize;
            assert_eq!(
                used,
                HEADER_LEN + declared,
                "a short frame is consumed whole"
            );
        }
        _ => assert_eq!(used, 0, "a header or line error consumes nothing"),
    }
    assert_eq!(decoder.error(), Some(err));
    let mut good = BytesMut::from(&b"\0RES\0\0\0\x06\0\0\0\0"[..]);
    assert_eq!(
        decoder.decode_packet(&mut good).as_ref(),
        Err(err),
        "stays failed"
    );
    assert_eq!(
        decoder.decode_frame(&mut good).as_ref(),
        Err(err),
        "stays failed"
    );
    assert_eq!(good.len(), HEADER_LEN, "a failed decoder consumes nothing");
}

/// A line a server received: it parses to a request that re-encodes
/// consistently, or to an error whose reply reads back the same.
fn check_request_line(line: &[u8]) {
    let raw = AdminRequest::Raw(Bytes::copy_from_slice(line));
    match AdminRequest::parse(line) {
        Ok(request) => {
            let mut wire = Vec::new();
            request.encode(&mut wire);
            assert!(wire.ends_with(b"\r\n"));
            assert_eq!(
                AdminRequest::parse(&wire).as_ref(),
                Ok(&request),
                "an encoded request parses back"
            );
            assert_eq!(raw.reply_shape(), request.reply_shape());
        }
        Err(err) => {
            assert_eq!(raw.reply_shape(), ReplyShape::SingleLine);
            if let Some(reply) = err.reply() {
                assert!(reply.is_error());
                let wire = encoded(&reply);
                let mut buf = BytesMut::from(&wire[..]);
                let reread = AdminResponseDecoder::new()
                    .with_max_line_len(usize::MAX)
                    .decode(&raw, &mut buf);
                assert_eq!(reread, Ok(Some(reply)), "the error reply reads back");
                assert!(buf.is_empty());
            }
        }
    }
}

fn encoded(reply: &AdminResponse) -> Vec<u8> {
    let mut wire = Vec::new();
    reply.encode(&mut wire);
    wire
}

/// Reads replies to `request` off `data` fed in chunks; checks that each
/// re-encodes to bytes that read back the same, and returns the replies and
/// the error that ended the run, if any.
fn read_replies(
    request: &AdminRequest,
    data: &[u8],
    chunk: usize,
) -> (Vec<AdminResponse>, Option<crate::admin::AdminDecodeError>) {
    let chunk = chunk.max(1);
    let new_decoder = || {
        AdminResponseDecoder::new()
            .with_max_line_len(MAX_LINE_LEN)
            .with_max_reply_len(MAX_REPLY_LEN)
    };
    let mut decoder = new_decoder();
    let mut buf = BytesMut::new();
    let mut fed = 0;
    let mut out = Vec::new();
    loop {
        match decoder.decode(request, &mut buf) {
            Ok(Some(reply)) => {
                let wire = encoded(&reply);
                let mut again = BytesMut::from(&wire[..]);
                let reread = AdminResponseDecoder::new().decode(request, &mut again);
                assert_eq!(
                    reread.as_ref(),
                    Ok(&Some(reply.clone())),
                    "reply re-encodes"
                );
                assert!(again.is_empty(), "a re-encoded reply is read whole");
                out.push(reply);
            }
            Ok(None) => {
                if fed == data.len() {
                    return (out, None);
                }
                let next = fed.saturating_add(chunk).min(data.len());
                buf.extend_from_slice(&data[fed..next]);
                fed = next;
            }
            Err(err) => {
                assert_eq!(decoder.error(), Some(&err));
                let mut more = BytesMut::from(&b"OK\n"[..]);
                assert_eq!(decoder.decode(request, &mut more).as_ref(), Err(&err));
                return (out, Some(err));
            }
        }
    }
}
