//! Decoding in place (`Decoder::decode_packet_ref`, `PacketRef`) through the
//! public API: it agrees exactly with the owned path on random streams fed
//! whole and byte by byte, round-trips, and reads fields like `Packet`.

use bytes::{Buf, BytesMut};
use gearman_proto::{Command, DecodeError, Decoder, Field, HEADER_LEN, Packet, PacketRef};
use proptest::prelude::*;

/// Largest payload the stream tests accept: small, so random sizes hit it.
const MAX_PACKET_SIZE: u32 = 48;

/// How a stream decode went: each packet with the bytes it took, then either
/// the bytes left over when the input ran out or the error it stopped at.
type Outcome = (Vec<(Packet, usize)>, Result<usize, DecodeError>);

/// Feeds `data` in chunks of `chunk` bytes to `step` (one decode, giving the
/// packet and the bytes it took off the buffer) until the input runs out or
/// an error, which must leave the decoder failed for good.
fn decode_stream(
    data: &[u8],
    chunk: usize,
    mut step: impl FnMut(&mut Decoder, &mut BytesMut) -> Result<Option<(Packet, usize)>, DecodeError>,
) -> Outcome {
    let mut decoder = Decoder::new().with_max_packet_size(MAX_PACKET_SIZE);
    let mut buf = BytesMut::new();
    let mut input = data.chunks(chunk);
    let mut packets = Vec::new();
    loop {
        match step(&mut decoder, &mut buf) {
            Ok(Some(found)) => packets.push(found),
            Ok(None) => match input.next() {
                Some(piece) => buf.extend_from_slice(piece),
                None => return (packets, Ok(buf.len())),
            },
            Err(err) => {
                assert_eq!(decoder.error(), Some(&err), "the decoder is failed");
                assert_eq!(
                    decoder.decode_packet_ref(b"\0RES\0\0\0\x06\0\0\0\0"),
                    Err(err.clone()),
                    "and stays failed"
                );
                return (packets, Err(err));
            }
        }
    }
}

/// The stream through `decode_packet`.
fn decode_owned(data: &[u8], chunk: usize) -> Outcome {
    decode_stream(data, chunk, |decoder, buf| {
        let before = buf.len();
        let packet = decoder.decode_packet(buf)?;
        Ok(packet.map(|packet| (packet, before - buf.len())))
    })
}

/// The stream through `decode_packet_ref`, advancing the buffer after each
/// packet as a read loop does.
fn decode_borrowed(data: &[u8], chunk: usize) -> Outcome {
    decode_stream(data, chunk, |decoder, buf| {
        let Some((packet, used)) = decoder.decode_packet_ref(buf)? else {
            return Ok(None);
        };
        assert!(used <= buf.len(), "consumes only what is buffered");
        let owned = packet.to_packet();
        buf.advance(used);
        Ok(Some((owned, used)))
    })
}

fn wire_of(packet: &Packet) -> Vec<u8> {
    let mut out = Vec::new();
    packet.encode(&mut out);
    out
}

/// Every reading accessor gives the same on the borrowed and owned packet.
fn assert_reads_alike(borrowed: PacketRef<'_>, owned: &Packet) {
    assert_eq!(borrowed, *owned);
    assert_eq!(borrowed.command(), owned.command());
    assert_eq!(borrowed.magic(), owned.magic());
    assert_eq!(borrowed.payload(), &owned.payload()[..]);
    assert_eq!(borrowed.field_count(), owned.field_count());
    assert!(borrowed.args().eq(owned.args()));
    for index in 0..=owned.field_count() {
        assert_eq!(borrowed.arg(index), owned.arg(index));
    }
    for field in [
        Field::Function,
        Field::Unique,
        Field::Data,
        Field::Handle,
        Field::Numerator,
        Field::Denominator,
    ] {
        assert_eq!(borrowed.field(field), owned.field(field));
    }
    assert_eq!(borrowed.handle(), owned.handle());
    assert_eq!(borrowed.function(), owned.function());
    assert_eq!(borrowed.unique(), owned.unique());
    assert_eq!(borrowed.data(), owned.data());
    assert_eq!(borrowed.encoded_len(), owned.encoded_len());
    let mut wire = Vec::new();
    borrowed.encode(&mut wire);
    assert_eq!(wire, wire_of(owned));
    assert_eq!(format!("{borrowed:?}"), format!("{owned:?}"));
    assert_eq!(borrowed.to_packet(), *owned);
    assert_eq!(owned.as_packet_ref(), borrowed);
}

#[test]
fn every_packet_type_reads_alike_borrowed_and_owned() {
    for &command in Command::ALL {
        let fields: Vec<Vec<u8>> = (0..command.field_count())
            .map(|i| match i + 1 == command.field_count() {
                true => b"da\0ta\0".to_vec(),
                false => format!("f{i}\x01").into_bytes(),
            })
            .collect();
        let refs: Vec<&[u8]> = fields.iter().map(Vec::as_slice).collect();
        let owned = Packet::build(command, &refs).expect("valid fields");
        let wire = wire_of(&owned);
        let mut decoder = Decoder::new();
        let (borrowed, used) = decoder
            .decode_packet_ref(&wire)
            .expect("valid packet")
            .expect("whole packet");
        assert_eq!(used, wire.len(), "{command}");
        assert_reads_alike(borrowed, &owned);
    }
}

#[test]
fn work_fail_handle_drops_one_trailing_nul_in_place() {
    let wire = b"\0RES\0\0\0\x0e\0\0\0\x06H:a:1\0";
    let (packet, _) = Decoder::new().decode_packet_ref(wire).unwrap().unwrap();
    assert_eq!(packet.handle(), Some(&b"H:a:1"[..]));
    assert_eq!(packet.arg(0), Some(&b"H:a:1\0"[..]));
}

#[test]
fn trailing_bytes_are_not_counted_as_consumed() {
    let wire = b"\0RES\0\0\0\x11\0\0\0\x02hi\0RES\0\0";
    let mut decoder = Decoder::new();
    let (packet, used) = decoder.decode_packet_ref(wire).unwrap().unwrap();
    assert_eq!((packet.data(), used), (Some(&b"hi"[..]), HEADER_LEN + 2));
    assert_eq!(decoder.decode_packet_ref(&wire[used..]), Ok(None));
    assert_eq!(decoder.error(), None);
}

#[test]
fn the_size_is_checked_before_the_payload_arrives() {
    let header = b"\0REQ\0\0\0\x07\xff\xff\xff\xff";
    let mut decoder = Decoder::new().with_max_packet_size(1024);
    let expected = DecodeError::TooLarge {
        size: u32::MAX,
        max: 1024,
    };
    assert_eq!(decoder.decode_packet_ref(header), Err(expected.clone()));
    // Failed for good, on both paths.
    let good = b"\0RES\0\0\0\x06\0\0\0\0";
    assert_eq!(decoder.decode_packet_ref(good), Err(expected.clone()));
    assert_eq!(
        decoder.decode_packet(&mut BytesMut::from(&good[..])),
        Err(expected)
    );
}

#[test]
fn a_bad_magic_prefix_fails_before_the_header_is_whole() {
    let mut decoder = Decoder::new();
    assert_eq!(
        decoder.decode_packet_ref(b"\0X"),
        Err(DecodeError::BadMagic(b"\0X".to_vec()))
    );
    assert_eq!(Decoder::new().decode_packet_ref(b"\0RE"), Ok(None));
    assert_eq!(Decoder::new().decode_packet_ref(b""), Ok(None));
}

#[test]
fn missing_fields_is_the_same_typed_error() {
    // JOB_ASSIGN with two fields instead of three.
    let wire = b"\0RES\0\0\0\x0b\0\0\0\x03a\0b";
    let expected = DecodeError::MissingFields {
        command: Command::JobAssign,
        expected: 3,
        found: 2,
    };
    assert_eq!(
        Decoder::new().decode_packet_ref(wire),
        Err(expected.clone())
    );
    let mut buf = BytesMut::from(&wire[..]);
    assert_eq!(Decoder::new().decode_packet(&mut buf), Err(expected));
}

/// Both paths give the same outcome on `data`, fed whole and byte by byte.
/// (Whole and byte by byte may differ from each other in the bytes a bad
/// magic is reported with.)
fn assert_agree(data: &[u8]) {
    let whole = data.len().max(1);
    assert_eq!(
        decode_borrowed(data, whole),
        decode_owned(data, whole),
        "whole"
    );
    assert_eq!(
        decode_borrowed(data, 1),
        decode_owned(data, 1),
        "byte by byte"
    );
}

/// A command and random fields for it: NUL-free except the last.
fn packet() -> impl Strategy<Value = Packet> {
    proptest::sample::select(Command::ALL).prop_flat_map(|command| {
        let count = command.field_count();
        let leading = proptest::collection::vec(
            proptest::collection::vec(1u8..=255, 0..8),
            count.saturating_sub(1),
        );
        let last = proptest::collection::vec(any::<u8>(), 0..24);
        (leading, last).prop_map(move |(mut fields, last)| {
            if count > 0 {
                fields.push(last);
            }
            let refs: Vec<&[u8]> = fields.iter().map(Vec::as_slice).collect();
            Packet::build(command, &refs).expect("valid fields")
        })
    })
}

/// Streams that are mostly valid packets, with now and then random bytes
/// (which may be a bad header, a short payload or an oversized frame).
fn stream() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        4 => packet().prop_map(|p| wire_of(&p)),
        1 => proptest::collection::vec(any::<u8>(), 0..16),
    ];
    proptest::collection::vec(piece, 0..8).prop_map(|pieces| pieces.concat())
}

proptest! {
    #[test]
    fn borrowed_and_owned_agree_on_random_streams(data in stream()) {
        assert_agree(&data);
    }

    #[test]
    fn borrowed_and_owned_agree_on_random_bytes(data in proptest::collection::vec(any::<u8>(), 0..256)) {
        assert_agree(&data);
    }

    #[test]
    fn random_packets_round_trip_in_place(packet in packet(), trailing in proptest::collection::vec(any::<u8>(), 0..16)) {
        let mut wire = wire_of(&packet);
        let len = wire.len();
        wire.extend_from_slice(&trailing);
        let (borrowed, used) = Decoder::new()
            .decode_packet_ref(&wire)
            .expect("valid packet")
            .expect("whole packet");
        prop_assert_eq!(used, len);
        assert_reads_alike(borrowed, &packet);
        let rebuilt = Packet::build(borrowed.command(), &borrowed.args().collect::<Vec<_>>());
        prop_assert_eq!(rebuilt.as_ref(), Ok(&packet));
    }
}
