//! Invariant checks shared by the fuzz targets and the corpus test.
//!
//! Each function decodes arbitrary bytes the way a peer could send them and
//! asserts what must hold for every input, beyond "no panic":
//!
//! - a decoded packet consumed exactly 12 bytes plus its declared size, and
//!   re-encoding it gives back exactly the bytes it came from;
//! - decoding in place ([`Decoder::decode_packet_ref`]) gives the same
//!   packets, consumed counts and errors as decoding owned packets;
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
use crate::packet::DecodeError;
use crate::packet::{Decoder, Frame, declared_size};
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
    let request = AdminRequest::raw(Bytes::from_static(
        ADMIN_REQUESTS[usize::from(selector) % ADMIN_REQUESTS.len()],
    ))
    .expect("the listed requests hold no line break");
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
        // The borrowed path, asked first on a copy of the decoder, must give
        // what the owned path is about to.
        let borrowed = borrowed_decode(&decoder, &buf, frames);
        let result = if frames {
            decoder.decode_frame(&mut buf)
        } else {
            decoder
                .decode_packet(&mut buf)
                .map(|p| p.map(Frame::Packet))
        };
        let used = before - buf.len();
        if let Some(borrowed) = borrowed {
            check_borrowed_agrees(borrowed, &result, used);
        }
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

/// What [`Decoder::decode_packet_ref`] gives for `buf` on a copy of
/// `decoder` (which it may fail), as an owned packet and the bytes it would
/// consume. `None` where a server would read an admin line instead.
fn borrowed_decode(
    decoder: &Decoder,
    buf: &[u8],
    frames: bool,
) -> Option<Result<Option<(Packet, usize)>, DecodeError>> {
    if frames && buf.first().is_some_and(|&b| b != 0) && decoder.error().is_none() {
        return None;
    }
    let mut decoder = decoder.clone();
    let result = decoder.decode_packet_ref(buf);
    if let Err(err) = &result {
        assert_eq!(
            decoder.error(),
            Some(err),
            "a borrowed decode error fails the decoder"
        );
    }
    Some(result.map(|found| found.map(|(packet, used)| (packet.to_packet(), used))))
}

/// The borrowed path agrees with the owned one: the same packet and consumed
/// count, "need more" at the same point, the same error.
fn check_borrowed_agrees(
    borrowed: Result<Option<(Packet, usize)>, DecodeError>,
    owned: &Result<Option<Frame>, DecodeError>,
    owned_used: usize,
) {
    match (borrowed, owned) {
        (Ok(Some((packet, used))), Ok(Some(Frame::Packet(owned)))) => {
            assert_eq!(&packet, owned, "borrowed and owned packets differ");
            assert_eq!(used, owned_used, "borrowed and owned consume differently");
        }
        (Ok(None), Ok(None)) => {}
        (Err(err), Err(owned)) => assert_eq!(&err, owned, "borrowed and owned errors differ"),
        (borrowed, owned) => panic!("borrowed decode gave {borrowed:?}, owned {owned:?}"),
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
    // A `\r` inside the line cannot be sent raw; the server still parses it.
    let raw = AdminRequest::raw(Bytes::copy_from_slice(line)).ok();
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
            if let Some(raw) = raw {
                assert_eq!(raw.reply_shape(), request.reply_shape());
            }
        }
        Err(err) => {
            let Some(raw) = raw else { return };
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

/// How the state-machine checks read their input: a sequence of steps, each
/// a header byte and, for a step that carries bytes, a length byte and that
/// many bytes (fewer at the end of the input).
///
/// The header's low two bits pick the step ([`check_server_input`],
/// [`check_client_input`] and [`check_worker_input`] say what each means);
/// its upper six bits are the step's argument.
struct Steps<'a> {
    rest: &'a [u8],
}

/// One decoded step: kind (0..=3), argument (0..=63), and the bytes a
/// carrying step brings.
type Step<'a> = (u8, u8, &'a [u8]);

impl<'a> Steps<'a> {
    fn new(data: &'a [u8]) -> Steps<'a> {
        Steps { rest: data }
    }

    /// The next step; `carries` says which kinds bring bytes.
    fn next(&mut self, carries: impl Fn(u8) -> bool) -> Option<Step<'a>> {
        let (&header, rest) = self.rest.split_first()?;
        let (kind, arg) = (header & 3, header >> 2);
        if !carries(kind) {
            self.rest = rest;
            return Some((kind, arg, &[]));
        }
        let (len, rest) = match rest.split_first() {
            Some((&len, rest)) => (usize::from(len), rest),
            None => (0, rest),
        };
        let (bytes, rest) = rest.split_at(len.min(rest.len()));
        self.rest = rest;
        Some((kind, arg, bytes))
    }
}

/// Generous bound on what one step may make a state machine write: a fixed
/// allowance plus, per input byte, an amount proportional to everything it
/// was told so far (an admin `status` lists every function it ever saw).
fn output_bound(step_input: usize, total_input: usize) -> usize {
    4096 + (step_input + 1) * 64 * (total_input + 64)
}

/// Feeds `data` to a [`Server`](crate::server::Server) as the bytes of up
/// to three concurrent peers, and checks it never panics and stays bounded.
///
/// Steps (see the header format on the private `Steps` reader): kinds 0, 1
/// and 2 carry bytes for connection 0, 1 or 2; kind 3 advances the clock by
/// `arg × 100 ms` and runs `handle_timeout`, except `arg` 63, which
/// disconnects connection 0 and accepts a fresh one in its place. After every
/// step all output is drained and checked:
///
/// - bytes go only to accepted connections the server has not closed;
/// - output per step is bounded by the input seen so far;
/// - the server never holds more jobs than submits could have created, nor
///   more connections than were accepted and not dropped;
/// - every connection left holding part of a frame has a timer that closes
///   it by the frame timeout.
///
/// ```
/// // Connection 0 sends ECHO_REQ "hi"; then half a second passes.
/// gearman_proto::invariants::check_server_input(b"\x00\x0e\0REQ\0\0\0\x10\0\0\0\x02hi\x17");
/// ```
pub fn check_server_input(data: &[u8]) {
    use crate::server::{Server, ServerConfig};
    use crate::{ConnAction, Endpoint};
    use std::time::{Duration, Instant};

    let mut server = Server::new(ServerConfig::new("fuzz"));
    let mut now = Instant::now();
    let mut conns = [
        server.accept("127.0.0.1:1", now),
        server.accept("127.0.0.1:2", now),
        server.accept("127.0.0.1:3", now),
    ];
    let mut accepted = conns.to_vec();
    let mut closed: Vec<crate::ConnId> = Vec::new();
    let mut total_input = 0usize;
    let mut steps = Steps::new(data);
    while let Some((kind, arg, bytes)) = steps.next(|kind| kind < 3) {
        match (kind, arg) {
            (3, 63) => {
                if !closed.contains(&conns[0]) {
                    server.handle_disconnected(conns[0], now);
                }
                conns[0] = server.accept("127.0.0.1:4", now);
                accepted.push(conns[0]);
            }
            (3, _) => {
                now += Duration::from_millis(u64::from(arg) * 100);
                server.handle_timeout(now);
            }
            _ => {
                let conn = conns[usize::from(kind)];
                total_input += bytes.len();
                // A closed connection's later bytes are not delivered.
                if !closed.contains(&conn) {
                    server.handle_input(conn, bytes, now);
                }
            }
        }
        let mut written = 0usize;
        loop {
            let mut progressed = false;
            while let Some(t) = server.poll_transmit() {
                assert!(!closed.contains(&t.conn), "bytes after close");
                assert!(
                    accepted.contains(&t.conn),
                    "bytes for a connection never accepted"
                );
                written += t.data.len();
                progressed = true;
            }
            while let Some(action) = server.poll_action() {
                match action {
                    ConnAction::Close { conn } => {
                        assert!(!closed.contains(&conn), "closed twice");
                        closed.push(conn);
                    }
                    other => panic!("the server asked for {other:?}"),
                }
                progressed = true;
            }
            while server.poll_event().is_some() {
                progressed = true;
            }
            if !progressed {
                break;
            }
        }
        assert!(
            written <= output_bound(bytes.len(), total_input),
            "{written} bytes written for a {}-byte step",
            bytes.len()
        );
        assert!(
            server.job_count() <= total_input / crate::HEADER_LEN,
            "more jobs than submits"
        );
        assert!(server.connection_count() <= 3, "connections leak");
        assert!(
            server.frame_timers_armed(),
            "a half-received frame without its timeout"
        );
        if kind == 3 && arg < 63 {
            assert!(
                Endpoint::poll_timeout(&server).is_none_or(|at| at > now),
                "a timer already due after handle_timeout"
            );
        }
    }
}

/// Feeds `data` to a [`Client`](crate::client::Client) of one server as
/// what that server sends, and checks it never panics and keeps its promises.
///
/// Before any input the client submits a foreground, a background and a
/// foreground job with a unique id, asks for a status and sends an echo.
/// Steps: kinds 0 and 1 carry bytes from the server; kind 2 makes one more
/// request (`arg % 5`: foreground submit, background submit, echo, status,
/// forget of a job); kind 3 advances the clock by `arg × 100 ms` and runs
/// `handle_timeout`, except `arg` 63, which drops the connection. Every
/// connect the client asks for succeeds at once. After every step:
///
/// - every event names a job or request the client handed out, no job has
///   an event after its end, and no request is answered twice;
/// - bytes go only to the open connection, and output per step is bounded.
///
/// ```
/// // JOB_CREATED for the first submit.
/// gearman_proto::invariants::check_client_input(b"\x00\x13\0RES\0\0\0\x08\0\0\0\x07H:fuzz:1");
/// ```
pub fn check_client_input(data: &[u8]) {
    use crate::client::{Client, ClientConfig, JobHandle, JobRequest, ServerId};
    use crate::{ConnAction, Endpoint};
    use std::collections::HashSet;
    use std::time::{Duration, Instant};

    struct Checker {
        client: Client,
        now: Instant,
        open: Option<crate::ConnId>,
        jobs: Vec<crate::client::JobId>,
        ended: HashSet<crate::client::JobId>,
        requests: HashSet<crate::client::RequestId>,
        answered: HashSet<crate::client::RequestId>,
    }

    impl Checker {
        fn request(&mut self, pick: u8) {
            let now = self.now;
            let server = ServerId(0);
            match pick % 5 {
                0 | 1 => {
                    let mut request = JobRequest::new("f", "x");
                    if pick % 5 == 1 {
                        request = request.in_background();
                    }
                    let job = self.client.submit(request, now).expect("a valid request");
                    assert!(!self.jobs.contains(&job), "job id reused");
                    self.jobs.push(job);
                }
                2 => {
                    let r = self.client.echo(server, "e", now).expect("a valid echo");
                    assert!(self.requests.insert(r), "request id reused");
                }
                3 => {
                    let handle = JobHandle {
                        server,
                        handle: "H:fuzz:1".into(),
                    };
                    let r = self
                        .client
                        .get_status(&handle, now)
                        .expect("a valid status");
                    assert!(self.requests.insert(r), "request id reused");
                }
                _ => {
                    if let Some(&job) = self.jobs.get(usize::from(pick) % self.jobs.len().max(1)) {
                        let active = self.client.is_active(job);
                        assert_eq!(self.client.forget(job), active);
                        if active {
                            self.ended.insert(job);
                        }
                    }
                }
            }
        }

        /// Drains every output; returns the bytes written.
        fn pump(&mut self) -> usize {
            let mut written = 0;
            loop {
                let mut progressed = false;
                while let Some(t) = self.client.poll_transmit() {
                    progressed = true;
                    assert_eq!(Some(t.conn), self.open, "bytes for a connection not open");
                    written += t.data.len();
                }
                while let Some(action) = self.client.poll_action() {
                    progressed = true;
                    match action {
                        ConnAction::Connect { conn, .. } => {
                            assert!(self.open.is_none(), "a second connection");
                            self.open = Some(conn);
                            self.client.handle_connected(conn, self.now);
                        }
                        ConnAction::Close { conn } => {
                            assert_eq!(self.open, Some(conn), "closing what is not open");
                            self.open = None;
                        }
                    }
                }
                while let Some(event) = self.client.poll_event() {
                    progressed = true;
                    if let Some(job) = event.job() {
                        assert!(self.jobs.contains(&job), "event for an unknown job");
                        assert!(!self.ended.contains(&job), "event after the end: {event:?}");
                        if event.is_terminal() {
                            self.ended.insert(job);
                        }
                    }
                    if let Some(request) = event.request() {
                        assert!(self.requests.contains(&request), "unknown request");
                        assert!(self.answered.insert(request), "request answered twice");
                    }
                }
                if !progressed {
                    return written;
                }
            }
        }
    }

    let config = ClientConfig::new(["server:4730"])
        .with_seed(7)
        .with_backoff(Duration::from_millis(10), Duration::from_millis(200))
        .with_connect_timeout(Duration::from_millis(500))
        .with_request_timeout(Some(Duration::from_millis(1500)));
    let mut checker = Checker {
        client: Client::new(config).expect("a valid configuration"),
        now: Instant::now(),
        open: None,
        jobs: Vec::new(),
        ended: HashSet::new(),
        requests: HashSet::new(),
        answered: HashSet::new(),
    };
    for pick in [0, 1, 0, 3, 2] {
        checker.request(pick);
    }
    checker.pump();
    let mut total_input = 0usize;
    let mut steps = Steps::new(data);
    while let Some((kind, arg, bytes)) = steps.next(|kind| kind < 2) {
        match (kind, arg) {
            (0 | 1, _) => {
                total_input += bytes.len();
                if let Some(conn) = checker.open {
                    checker.client.handle_input(conn, bytes, checker.now);
                }
            }
            (2, _) => checker.request(arg),
            (_, 63) => {
                if let Some(conn) = checker.open.take() {
                    checker.client.handle_disconnected(conn, checker.now);
                }
            }
            _ => {
                checker.now += Duration::from_millis(u64::from(arg) * 100);
                checker.client.handle_timeout(checker.now);
                assert!(
                    checker
                        .client
                        .poll_timeout()
                        .is_none_or(|at| at > checker.now),
                    "a timer already due after handle_timeout"
                );
            }
        }
        let written = checker.pump();
        assert!(
            written <= output_bound(bytes.len(), total_input + checker.jobs.len()),
            "{written} bytes written for a {}-byte step",
            bytes.len()
        );
        assert!(checker.client.active_jobs() <= checker.jobs.len());
    }
    // Once the server is gone for good, every job and request has its end.
    if let Some(conn) = checker.open.take() {
        checker.client.handle_disconnected(conn, checker.now);
    }
    for _ in 0..8 {
        checker.pump();
        if let Some(conn) = checker.open.take() {
            checker.client.handle_disconnected(conn, checker.now);
        }
    }
    checker.pump();
    assert_eq!(checker.client.active_jobs(), 0, "jobs left after teardown");
    let unended = checker
        .jobs
        .iter()
        .filter(|j| !checker.ended.contains(j))
        .count();
    assert_eq!(unended, 0, "jobs without an end");
    assert_eq!(
        checker.requests.len(),
        checker.answered.len(),
        "requests without an answer"
    );
}

/// Feeds `data` to a [`Worker`](crate::worker::Worker) (function `f`, two
/// connections to one server, three jobs at a time) as what the server sends,
/// and checks it never panics and never takes on more than it may.
///
/// Steps: kinds 0 and 1 carry bytes from the server on the first or second
/// open connection; kind 2 ends a running job (`arg % 3`: complete, fail,
/// exception), or with `arg` 63 starts a shutdown; kind 3 advances the clock
/// by `arg × 100 ms` and runs `handle_timeout`, except `arg` 63, which drops
/// the first connection. Every connect succeeds at once. After every step:
///
/// - grabs outstanding plus running jobs never exceed the concurrency, by
///   the worker's count and by the grabs seen on the wire (counting, to stay
///   sound for arbitrary bytes, every packet the server sent as a possible
///   reply), so jobs assigned never exceed it either;
/// - every job is reported once and lost only while running, and bytes go
///   only to open connections.
///
/// ```
/// // NOOP on the first connection, then JOB_ASSIGN for `f`.
/// gearman_proto::invariants::check_worker_input(
///     b"\x00\x0c\0RES\0\0\0\x06\0\0\0\0\x00\x1a\0RES\0\0\0\x0b\0\0\0\x0aH:1\0f\0hello",
/// );
/// ```
pub fn check_worker_input(data: &[u8]) {
    use crate::worker::{AssignmentId, Worker, WorkerConfig, WorkerEvent};
    use crate::{Command, ConnAction, ConnId};
    use std::collections::{HashMap, HashSet};
    use std::time::{Duration, Instant};

    // Three, so that one connection can hold several grabs.
    const CONCURRENCY: usize = 3;

    #[derive(Default)]
    struct Link {
        /// What the worker wrote, and what the server sent, being decoded.
        written: BytesMut,
        written_decoder: Decoder,
        fed: BytesMut,
        fed_decoder: Decoder,
        /// Grabs written minus packets fed (each could answer one), at least 0.
        outstanding: usize,
    }

    let config = WorkerConfig::new(["server:4730"])
        .with_function("f")
        .with_concurrency(CONCURRENCY)
        .with_connections_per_server(2)
        .with_seed(7)
        .with_connect_timeout(Duration::from_secs(2))
        .with_grab_reply_timeout(Some(Duration::from_secs(4)))
        .with_shutdown_timeout(Some(Duration::from_secs(20)))
        .with_backoff(Duration::from_millis(50), Duration::from_millis(800));
    let mut now = Instant::now();
    let mut worker = Worker::new(config, now).expect("a valid configuration");
    let mut open: Vec<ConnId> = Vec::new();
    let mut links: HashMap<ConnId, Link> = HashMap::new();
    let mut live: Vec<AssignmentId> = Vec::new();
    let mut ever: HashSet<AssignmentId> = HashSet::new();
    let mut total_input = 0usize;
    let mut steps = Steps::new(data);
    let mut step: Option<Step<'_>> = None;
    loop {
        let advancing = matches!(step, Some((3, _, _)));
        let input = step.map_or(0, |(_, _, bytes)| bytes.len());
        // Drain and check.
        let mut written = 0usize;
        loop {
            let mut progressed = false;
            while let Some(t) = worker.poll_transmit() {
                progressed = true;
                written += t.data.len();
                let link = links
                    .get_mut(&t.conn)
                    .expect("bytes only for open connections");
                link.written.extend_from_slice(&t.data);
                while let Some(p) = link
                    .written_decoder
                    .decode_packet(&mut link.written)
                    .expect("the worker writes valid packets")
                {
                    if matches!(
                        p.command(),
                        Command::GrabJob | Command::GrabJobUniq | Command::GrabJobAll
                    ) && !(advancing && link.outstanding == 1)
                    {
                        link.outstanding += 1;
                    }
                }
                assert!(link.written.is_empty(), "a partial packet in a transmit");
            }
            while let Some(action) = worker.poll_action() {
                progressed = true;
                match action {
                    ConnAction::Connect { conn, .. } => {
                        assert!(!open.contains(&conn), "connect of an open connection");
                        open.push(conn);
                        links.insert(conn, Link::default());
                        worker.handle_connected(conn, now);
                    }
                    ConnAction::Close { conn } => {
                        open.retain(|c| *c != conn);
                        links.remove(&conn);
                    }
                }
            }
            while let Some(event) = worker.poll_event() {
                progressed = true;
                match event {
                    WorkerEvent::JobAssigned(job) => {
                        assert!(ever.insert(job.id), "job reported twice");
                        live.push(job.id);
                    }
                    WorkerEvent::JobLost { id } => {
                        let at = live.iter().position(|j| *j == id).expect("lost a live job");
                        live.remove(at);
                    }
                    _ => {}
                }
            }
            if !progressed {
                break;
            }
        }
        assert!(
            written <= output_bound(input, total_input),
            "{written} bytes written for a {input}-byte step"
        );
        assert!(
            worker.grabs_outstanding() + worker.running_jobs() <= CONCURRENCY,
            "over the limit: {} grabs + {} running",
            worker.grabs_outstanding(),
            worker.running_jobs()
        );
        assert_eq!(
            worker.running_jobs(),
            live.len(),
            "running jobs bookkeeping"
        );
        let on_the_wire: usize = links.values().map(|link| link.outstanding).sum();
        assert!(
            on_the_wire + live.len() <= CONCURRENCY,
            "over the limit on the wire: {on_the_wire} grabs + {} running",
            live.len()
        );

        step = steps.next(|kind| kind < 2);
        let Some((kind, arg, bytes)) = step else {
            return;
        };
        match (kind, arg) {
            (0 | 1, _) => {
                total_input += bytes.len();
                if open.is_empty() {
                    continue;
                }
                let conn = open[usize::from(kind) % open.len()];
                let link = links.get_mut(&conn).expect("open connections have a link");
                link.fed.extend_from_slice(bytes);
                while let Ok(Some(_)) = link.fed_decoder.decode_packet(&mut link.fed) {
                    link.outstanding = link.outstanding.saturating_sub(1);
                }
                worker.handle_input(conn, bytes, now);
            }
            (2, 63) => worker.shutdown(now),
            (2, _) => {
                if !live.is_empty() {
                    let id = live.remove(usize::from(arg) % live.len());
                    let ended = match arg % 3 {
                        0 => worker.work_complete(id, b"done"),
                        1 => worker.work_fail(id),
                        _ => worker.work_exception(id, b"boom"),
                    };
                    assert!(ended.is_ok(), "ending a live job: {ended:?}");
                }
            }
            (_, 63) => {
                if let Some(conn) = open.first().copied() {
                    open.remove(0);
                    links.remove(&conn);
                    worker.handle_disconnected(conn, now);
                }
            }
            _ => {
                now += Duration::from_millis(u64::from(arg) * 100);
                worker.handle_timeout(now);
            }
        }
    }
}
