//! Codec benchmarks with the original Go library's names and inputs, so the
//! figures compare one to one:
//!
//! - `PacketFactory*`: streaming decode of one packet, as an adapter does it:
//!   a socket (here a reader looping over the same bytes forever) fills a
//!   `BytesMut` in 4 KiB reads, and the `Decoder` reads the next packet in
//!   place (`decode_packet_ref`); the bench looks at its command and data and
//!   drops its bytes. `PacketFactoryOwned*` do the same with owned packets
//!   split off the buffer (`decode_packet`). `Mixed` loops over all three
//!   packets in turn.
//! - `Unmarshal*`: splitting a known command's payload, held by the caller,
//!   into its fields (`PacketRef::new`); `UnmarshalOwned*` the same into an
//!   owned `Packet` (`Packet::from_payload`).
//! - `Marshal*`: encoding a built packet into a reused buffer.
//!
//! The packets: RESET_ABILITIES (no fields), ECHO_RES `internal echo`,
//! JOB_ASSIGN `H:lap:1` / `reverse` / `test`.
//!
//! After criterion's report, a table gives for each benchmark the best time
//! per operation over many short samples (the figure least disturbed by other
//! processes on a shared machine) and the allocations per operation in the
//! steady state, counted with an instrumented global allocator.

use std::alloc::System;
use std::hint::black_box;

use benches::alloc_count::{INSTRUMENTED_SYSTEM, StatsAlloc, allocations_per_op};
use benches::best_time::best_ns_per_op;
use benches::looping_reader::LoopingReader;
use bytes::{Buf, Bytes, BytesMut};
use criterion::Criterion;
use gearman_proto::{Command, Decoder, Packet, PacketRef};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Bytes an adapter asks the socket for per read.
const READ_SIZE: usize = 4096;

/// Operations over which allocations are counted.
const COUNTED_OPS: u64 = 100_000;

/// Samples, and operations per sample, for the best-of-samples time.
const BEST_OF_SAMPLES: u32 = 200;
const OPS_PER_SAMPLE: u32 = 20_000;

/// One row of the summary table.
struct Summary {
    name: &'static str,
    best_ns: f64,
    allocations: f64,
}

const PKT1LEN_DATA: &[u8] = b"internal echo";
const PKTCOMMON_PAYLOAD: &[u8] = b"H:lap:1\0reverse\0test";

fn pkt0size() -> Packet {
    Packet::build(Command::ResetAbilities, &[]).expect("valid packet")
}

fn pkt1len() -> Packet {
    Packet::build(Command::EchoRes, &[PKT1LEN_DATA]).expect("valid packet")
}

fn pktcommon() -> Packet {
    Packet::build(Command::JobAssign, &[b"H:lap:1", b"reverse", b"test"]).expect("valid packet")
}

fn wire(packets: &[Packet]) -> Vec<u8> {
    let mut out = Vec::new();
    for packet in packets {
        packet.encode(&mut out);
    }
    out
}

/// One benchmarked operation. `run` is always inlined, so each timing loop
/// holds the code under test itself rather than a call into a shared copy
/// (which would add a call and spill the decoded packet to memory).
trait Op {
    fn run(&mut self);
}

/// A decoder reading from a socket stand-in: the state both streaming
/// benches share.
struct Stream {
    reader: LoopingReader,
    decoder: Decoder,
    buf: BytesMut,
}

impl Stream {
    fn new(packets: &[Packet]) -> Stream {
        Stream {
            reader: LoopingReader::new(wire(packets)),
            decoder: Decoder::new(),
            buf: BytesMut::with_capacity(2 * READ_SIZE),
        }
    }

    /// One socket read, when the buffer holds no whole packet.
    fn read(&mut self) {
        self.buf.reserve(READ_SIZE);
        self.reader.read_into(&mut self.buf, READ_SIZE);
    }
}

/// One streaming decode step the fastest way: the next packet borrowed from
/// the read buffer ([`Decoder::decode_packet_ref`]), inspected, then its
/// bytes dropped from the buffer, reading when the buffer runs dry.
struct PacketFactory(Stream);

impl Op for PacketFactory {
    #[inline(always)]
    fn run(&mut self) {
        let stream = &mut self.0;
        loop {
            // The packet is used where it was returned, as a consumer matching
            // on a reference does: moving it out of the result first copies
            // it through the stack, which measures the compiler's moves (and
            // stalls on them), not decoding.
            match &stream.decoder.decode_packet_ref(&stream.buf) {
                Ok(Some((packet, used))) => {
                    black_box(packet.command());
                    black_box(packet.data());
                    stream.buf.advance(*used);
                    return;
                }
                Ok(None) => stream.read(),
                Err(err) => panic!("benchmark input is valid: {err}"),
            }
        }
    }
}

/// The same step with an owned packet ([`Decoder::decode_packet`]): the frame
/// is split off the read buffer, which raises and drops its reference count.
struct PacketFactoryOwned(Stream);

impl Op for PacketFactoryOwned {
    #[inline(always)]
    fn run(&mut self) {
        let stream = &mut self.0;
        loop {
            // Used in place, as above.
            match &stream.decoder.decode_packet(&mut stream.buf) {
                Ok(Some(packet)) => {
                    black_box(packet.command());
                    black_box(packet.data());
                    return;
                }
                Ok(None) => stream.read(),
                Err(err) => panic!("benchmark input is valid: {err}"),
            }
        }
    }
}

/// Splits a payload the caller holds into fields, borrowing it
/// ([`PacketRef::new`]), as the Go benchmark hands its function a byte slice
/// it already holds.
struct Unmarshal {
    command: Command,
    payload: &'static [u8],
}

impl Op for Unmarshal {
    #[inline(always)]
    fn run(&mut self) {
        // Through `black_box`, so the split is redone each time rather than
        // hoisted out of the loop.
        let packet = PacketRef::new(black_box(self.command), black_box(self.payload));
        black_box(packet.as_ref().expect("valid payload"));
    }
}

/// The same into an owned [`Packet`]. The payload is a static `Bytes`, so the
/// figure is the cost of splitting (plus the clone and drop of a static
/// `Bytes`), while the reference counting of a payload sliced off a read
/// buffer is part of the `PacketFactoryOwned` figures.
struct UnmarshalOwned {
    command: Command,
    payload: Bytes,
}

impl UnmarshalOwned {
    fn new(command: Command, payload: &'static [u8]) -> UnmarshalOwned {
        UnmarshalOwned {
            command,
            payload: Bytes::from_static(payload),
        }
    }
}

impl Op for UnmarshalOwned {
    #[inline(always)]
    fn run(&mut self) {
        // Used in place, like the decoded packets above.
        let packet = Packet::from_payload(self.command, self.payload.clone());
        black_box(packet.as_ref().expect("valid payload"));
    }
}

/// Encodes a built packet into a buffer that is cleared and reused.
struct Marshal {
    packet: Packet,
    buf: Vec<u8>,
}

impl Marshal {
    fn new(packet: Packet) -> Marshal {
        Marshal {
            packet,
            buf: Vec::with_capacity(64),
        }
    }
}

impl Op for Marshal {
    #[inline(always)]
    fn run(&mut self) {
        self.buf.clear();
        self.packet.encode(&mut self.buf);
        black_box(&self.buf);
    }
}

/// Times `op` under `name` with criterion, and adds its best-of-samples time
/// and allocations per operation to the summary.
fn bench(c: &mut Criterion, summary: &mut Vec<Summary>, name: &'static str, mut op: impl Op) {
    let allocations = allocations_per_op(GLOBAL, COUNTED_OPS, || op.run());
    c.bench_function(name, |b| b.iter(|| op.run()));
    let best_ns = best_ns_per_op(BEST_OF_SAMPLES, OPS_PER_SAMPLE, || op.run());
    summary.push(Summary {
        name,
        best_ns,
        allocations,
    });
}

#[expect(
    clippy::print_stdout,
    reason = "the summary table is the bench's output"
)]
fn main() {
    let mut c = Criterion::default().configure_from_args();
    let mut summary = Vec::new();
    let all = [pkt0size(), pkt1len(), pktcommon()];
    let s = &mut summary;

    let streams: [(&'static str, &'static str, Vec<Packet>); 4] = [
        (
            "PacketFactoryPkt0size",
            "PacketFactoryOwnedPkt0size",
            vec![pkt0size()],
        ),
        (
            "PacketFactoryPkt1len",
            "PacketFactoryOwnedPkt1len",
            vec![pkt1len()],
        ),
        (
            "PacketFactoryPktcommon",
            "PacketFactoryOwnedPktcommon",
            vec![pktcommon()],
        ),
        (
            "PacketFactoryMixed",
            "PacketFactoryOwnedMixed",
            all.to_vec(),
        ),
    ];
    for (name, _, packets) in &streams {
        bench(&mut c, s, name, PacketFactory(Stream::new(packets)));
    }
    for (_, name, packets) in &streams {
        bench(&mut c, s, name, PacketFactoryOwned(Stream::new(packets)));
    }
    let payloads: [(&'static str, &'static str, Command, &'static [u8]); 3] = [
        (
            "UnmarshalPkt0size",
            "UnmarshalOwnedPkt0size",
            Command::ResetAbilities,
            b"",
        ),
        (
            "UnmarshalPkt1len",
            "UnmarshalOwnedPkt1len",
            Command::EchoRes,
            PKT1LEN_DATA,
        ),
        (
            "UnmarshalPktcommon",
            "UnmarshalOwnedPktcommon",
            Command::JobAssign,
            PKTCOMMON_PAYLOAD,
        ),
    ];
    for &(name, _, command, payload) in &payloads {
        bench(&mut c, s, name, Unmarshal { command, payload });
    }
    for &(_, name, command, payload) in &payloads {
        bench(&mut c, s, name, UnmarshalOwned::new(command, payload));
    }
    bench(&mut c, s, "MarshalPkt0size", Marshal::new(pkt0size()));
    bench(&mut c, s, "MarshalPkt1len", Marshal::new(pkt1len()));
    bench(&mut c, s, "MarshalPktcommon", Marshal::new(pktcommon()));

    c.final_summary();
    println!(
        "\n{:<24} {:>12} {:>10}",
        "benchmark", "best ns/op", "allocs/op"
    );
    for row in summary {
        println!(
            "{:<24} {:>12.2} {:>10.3}",
            row.name, row.best_ns, row.allocations
        );
    }
}
