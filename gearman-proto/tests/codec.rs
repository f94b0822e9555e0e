//! The binary codec through the public API: round trips of every packet
//! type, every decoder case fed whole / byte by byte / with trailing bytes,
//! gearmand's wire bytes, malformed input, and property tests.

use bytes::{Bytes, BytesMut};
use gearman_proto::packet::UNUSED_NUMBERS;
use gearman_proto::{
    Command, DecodeError, Decoder, Field, Frame, HEADER_LEN, Magic, Packet, encode_fields,
    encoded_len_of,
};
use proptest::prelude::*;

/// Sample fields for a command: distinct short texts, and data with NULs.
fn sample_fields(command: Command) -> Vec<Vec<u8>> {
    command
        .fields()
        .iter()
        .enumerate()
        .map(|(i, field)| match field {
            Field::Data => b"da\0ta\0".to_vec(),
            _ => format!("f{i}-{}", command.number()).into_bytes(),
        })
        .collect()
}

fn build(command: Command, fields: &[Vec<u8>]) -> Packet {
    let refs: Vec<&[u8]> = fields.iter().map(Vec::as_slice).collect();
    Packet::build(command, &refs).expect("valid fields")
}

fn wire_of(packet: &Packet) -> Vec<u8> {
    let mut out = Vec::new();
    packet.encode(&mut out);
    out
}

fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .filter(|t| *t != "|")
        .map(|t| u8::from_str_radix(t, 16).expect("hex byte"))
        .collect()
}

/// Decodes `wire` whole, one byte at a time, and followed by trailing bytes;
/// all three must give exactly `expected` and leave only the trailing bytes.
fn assert_decodes_to(wire: &[u8], expected: &Packet) {
    let mut buf = BytesMut::from(wire);
    let mut decoder = Decoder::new();
    assert_eq!(decoder.decode_packet(&mut buf), Ok(Some(expected.clone())));
    assert!(buf.is_empty());
    assert_eq!(decoder.decode_packet(&mut buf), Ok(None));

    let mut decoder = Decoder::new();
    let mut buf = BytesMut::new();
    for (i, &byte) in wire.iter().enumerate() {
        buf.extend_from_slice(&[byte]);
        let got = decoder.decode_packet(&mut buf).expect("valid prefix");
        if i + 1 < wire.len() {
            assert_eq!(got, None, "packet after {} of {} bytes", i + 1, wire.len());
            assert_eq!(buf.len(), i + 1, "nothing consumed early");
        } else {
            assert_eq!(got.as_ref(), Some(expected));
        }
    }
    assert!(buf.is_empty());

    for trailing in [&b"\0"[..], b"\0RE", b"\0RES\0\0\0\x06\0\0\0\0", b"status\n"] {
        let mut buf = BytesMut::from(wire);
        buf.extend_from_slice(trailing);
        let mut decoder = Decoder::new();
        assert_eq!(
            decoder.decode_frame(&mut buf),
            Ok(Some(Frame::Packet(expected.clone())))
        );
        assert_eq!(&buf[..], trailing, "trailing bytes stay");
    }
}

#[test]
fn every_packet_type_round_trips() {
    for &command in Command::ALL {
        let fields = sample_fields(command);
        let packet = build(command, &fields);
        let wire = wire_of(&packet);
        assert_eq!(wire.len(), packet.encoded_len(), "{command}");
        let refs: Vec<&[u8]> = fields.iter().map(Vec::as_slice).collect();
        assert_eq!(encoded_len_of(&refs), wire.len(), "{command}");
        // The allocation-free writer gives the same bytes.
        let mut direct = Vec::new();
        encode_fields(&mut direct, command, &refs).unwrap();
        assert_eq!(direct, wire, "{command}");
        assert_eq!(&wire[..4], command.magic().bytes());
        assert_eq!(wire[4..8], command.number().to_be_bytes());
        assert_eq!(
            wire[8..12],
            ((wire.len() - HEADER_LEN) as u32).to_be_bytes()
        );

        assert_decodes_to(&wire, &packet);
        let mut buf = BytesMut::from(&wire[..]);
        let decoded = Decoder::new().decode_packet(&mut buf).unwrap().unwrap();
        assert_eq!(decoded.command(), command);
        let args: Vec<&[u8]> = decoded.args().collect();
        assert_eq!(args, refs, "{command}");
    }
}

#[test]
fn empty_fields_and_empty_data_round_trip() {
    for &command in Command::ALL {
        let fields = vec![Vec::new(); command.field_count()];
        let packet = build(command, &fields);
        assert_eq!(
            packet.payload().len(),
            command.field_count().saturating_sub(1),
            "{command}: only separators"
        );
        assert_decodes_to(&wire_of(&packet), &packet);
    }
}

#[test]
fn gearmand_wire_bytes() {
    let cases: Vec<(Command, Vec<&[u8]>, &str)> = vec![
        (
            Command::CanDo,
            vec![b"resize"],
            "00 52 45 51 | 00 00 00 01 | 00 00 00 06 | 72 65 73 69 7a 65",
        ),
        (
            Command::CanDoTimeout,
            vec![b"resize", b"30000"],
            "00 52 45 51 | 00 00 00 17 | 00 00 00 0c | 72 65 73 69 7a 65 00 33 30 30 30 30",
        ),
        (
            Command::SubmitJobBg,
            vec![b"resize", b"u1", b"img"],
            "00 52 45 51 | 00 00 00 12 | 00 00 00 0d | 72 65 73 69 7a 65 00 75 31 00 69 6d 67",
        ),
        (
            Command::JobCreated,
            vec![b"H:srv:7"],
            "00 52 45 53 | 00 00 00 08 | 00 00 00 07 | 48 3a 73 72 76 3a 37",
        ),
        (
            Command::GrabJobUniq,
            vec![],
            "00 52 45 51 | 00 00 00 1e | 00 00 00 00",
        ),
        (
            Command::JobAssignUniq,
            vec![b"H:srv:7", b"resize", b"u1", b"img"],
            "00 52 45 53 | 00 00 00 1f | 00 00 00 15 | 48 3a 73 72 76 3a 37 00 72 65 73 69 7a 65 00 75 31 00 69 6d 67",
        ),
        (
            Command::WorkStatusReq,
            vec![b"H:srv:7", b"1", b"4"],
            "00 52 45 51 | 00 00 00 0c | 00 00 00 0b | 48 3a 73 72 76 3a 37 00 31 00 34",
        ),
        (
            Command::WorkFailReq,
            vec![b"H:srv:7"],
            "00 52 45 51 | 00 00 00 0e | 00 00 00 07 | 48 3a 73 72 76 3a 37",
        ),
        (
            Command::StatusRes,
            vec![b"H:srv:7", b"1", b"1", b"1", b"4"],
            "00 52 45 53 | 00 00 00 14 | 00 00 00 0f | 48 3a 73 72 76 3a 37 00 31 00 31 00 31 00 34",
        ),
        (
            Command::SubmitReduceJob,
            vec![b"map", b"u2", b"red", b"", b"payload"],
            "00 52 45 51 | 00 00 00 25 | 00 00 00 13 | 6d 61 70 00 75 32 00 72 65 64 00 00 70 61 79 6c 6f 61 64",
        ),
        (
            Command::SubmitJobEpoch,
            vec![b"resize", b"", b"1767225600", b"img"],
            "00 52 45 51 | 00 00 00 24 | 00 00 00 16 | 72 65 73 69 7a 65 00 00 31 37 36 37 32 32 35 36 30 30 00 69 6d 67",
        ),
    ];
    for (command, fields, bytes) in cases {
        let expected = hex(bytes);
        let packet = Packet::build(command, &fields).unwrap();
        assert_eq!(wire_of(&packet), expected, "{command}");
        assert_decodes_to(&expected, &packet);
    }
    let mut error = hex("00 52 45 53 | 00 00 00 13 | 00 00 00 1d");
    error.extend_from_slice(b"QUEUE_ERROR\0Job queue is full");
    let packet = Packet::build(Command::Error, &[b"QUEUE_ERROR", b"Job queue is full"]).unwrap();
    assert_eq!(wire_of(&packet), error);
    assert_decodes_to(&error, &packet);
}

#[test]
fn data_keeps_its_nul_bytes_and_extra_nuls_go_to_the_last_field() {
    let wire = b"\0RES\0\0\0\x0b\0\0\0\x0aH:1\0f\0\0x\0\0";
    let packet = Decoder::new()
        .decode_packet(&mut BytesMut::from(&wire[..]))
        .unwrap()
        .unwrap();
    assert_eq!(packet.handle(), Some(&b"H:1"[..]));
    assert_eq!(packet.function(), Some(&b"f"[..]));
    assert_eq!(packet.data(), Some(&b"\0x\0\0"[..]));
    assert_eq!(wire_of(&packet), wire);
}

#[test]
fn a_truncated_header_or_payload_waits_for_more() {
    let wire = wire_of(&Packet::build(Command::EchoRes, &[b"internal echo"]).unwrap());
    for cut in 0..wire.len() {
        let mut buf = BytesMut::from(&wire[..cut]);
        let mut decoder = Decoder::new();
        assert_eq!(decoder.decode_packet(&mut buf), Ok(None), "cut at {cut}");
        assert_eq!(&buf[..], &wire[..cut], "nothing consumed");
        assert_eq!(decoder.error(), None);
    }
}

/// Feeds `wire` and checks the error, that the buffer is untouched, and that
/// the decoder stays failed even for valid input afterwards.
fn assert_fails(wire: &[u8], expected: DecodeError) {
    for frame in [false, true] {
        let mut decoder = Decoder::new().with_max_packet_size(1024);
        let mut buf = BytesMut::from(wire);
        let got = if frame {
            decoder.decode_frame(&mut buf).map(|_| ())
        } else {
            decoder.decode_packet(&mut buf).map(|_| ())
        };
        assert_eq!(got, Err(expected.clone()), "{wire:02x?}");
        if matches!(expected, DecodeError::MissingFields { .. }) {
            // The frame was whole, so it is gone; nothing after it is touched.
            assert!(buf.is_empty());
        } else {
            assert_eq!(&buf[..], wire, "a header error consumes nothing");
        }
        assert_eq!(decoder.error(), Some(&expected));
        let mut good = BytesMut::from(&b"\0RES\0\0\0\x06\0\0\0\0"[..]);
        assert_eq!(
            decoder.decode_packet(&mut good),
            Err(expected.clone()),
            "stays failed"
        );
        assert_eq!(
            decoder.decode_frame(&mut good),
            Err(expected.clone()),
            "stays failed"
        );
        assert_eq!(good.len(), HEADER_LEN);
    }
}

#[test]
fn malformed_input_gives_typed_errors() {
    assert_fails(
        b"\0REX\0\0\0\x01\0\0\0\0",
        DecodeError::BadMagic(b"\0REX".to_vec()),
    );
    assert_fails(b"\0X", DecodeError::BadMagic(b"\0X".to_vec()));
    for number in [0u32, 5, 43, 1000, u32::MAX] {
        let mut wire = b"\0REQ".to_vec();
        wire.extend_from_slice(&number.to_be_bytes());
        wire.extend_from_slice(&[0, 0, 0, 0]);
        assert_fails(
            &wire,
            DecodeError::UnknownCommand {
                magic: Magic::Req,
                number,
            },
        );
    }
    // A server-only type with request magic, and the other way round.
    assert_fails(
        b"\0REQ\0\0\0\x08\0\0\0\x01H",
        DecodeError::UnknownCommand {
            magic: Magic::Req,
            number: 8,
        },
    );
    assert_fails(
        b"\0RES\0\0\0\x07\0\0\0\x03f\0u",
        DecodeError::UnknownCommand {
            magic: Magic::Res,
            number: 7,
        },
    );
    // Over the maximum: refused at the header, before any payload arrives.
    assert_fails(
        b"\0REQ\0\0\0\x10\0\0\x04\x01",
        DecodeError::TooLarge {
            size: 1025,
            max: 1024,
        },
    );
    assert_fails(
        b"\0REQ\0\0\0\x10\xff\xff\xff\xff",
        DecodeError::TooLarge {
            size: u32::MAX,
            max: 1024,
        },
    );
    // Missing NUL separators.
    assert_fails(
        b"\0REQ\0\0\0\x07\0\0\0\x04fund",
        DecodeError::MissingFields {
            command: Command::SubmitJob,
            expected: 3,
            found: 1,
        },
    );
    assert_fails(
        b"\0RES\0\0\0\x14\0\0\0\x05H\x001\x001",
        DecodeError::MissingFields {
            command: Command::StatusRes,
            expected: 5,
            found: 3,
        },
    );
    assert_fails(
        b"\0REQ\0\0\0\x0c\0\0\0\0",
        DecodeError::MissingFields {
            command: Command::WorkStatusReq,
            expected: 3,
            found: 1,
        },
    );
}

#[test]
fn unused_numbers_are_unknown_in_both_directions() {
    for &number in UNUSED_NUMBERS {
        for magic in [Magic::Req, Magic::Res] {
            let mut wire = magic.bytes().to_vec();
            wire.extend_from_slice(&number.to_be_bytes());
            wire.extend_from_slice(&[0, 0, 0, 0]);
            assert_fails(&wire, DecodeError::UnknownCommand { magic, number });
        }
    }
}

#[test]
fn a_huge_declared_size_reserves_nothing() {
    let mut decoder = Decoder::new().with_max_packet_size(1 << 20);
    let mut buf = BytesMut::with_capacity(16);
    buf.extend_from_slice(b"\0REQ\0\0\0\x10\x7f\xff\xff\xff");
    let capacity = buf.capacity();
    assert!(matches!(
        decoder.decode_packet(&mut buf),
        Err(DecodeError::TooLarge { .. })
    ));
    assert_eq!(buf.capacity(), capacity);
    assert_eq!(
        Decoder::new().max_packet_size(),
        gearman_proto::DEFAULT_MAX_PACKET_SIZE
    );
}

#[test]
fn text_is_sniffed_per_message() {
    let packet = Packet::build(Command::EchoReq, &[b"hi"]).unwrap();
    let mut wire = b"status\r\n".to_vec();
    wire.extend(wire_of(&packet));
    wire.extend_from_slice(b"workers\n");
    let expected = vec![
        Frame::Text("status".into()),
        Frame::Packet(packet),
        Frame::Text("workers".into()),
    ];
    // Whole.
    let mut decoder = Decoder::new();
    let mut buf = BytesMut::from(&wire[..]);
    let mut got = Vec::new();
    while let Some(frame) = decoder.decode_frame(&mut buf).unwrap() {
        got.push(frame);
    }
    assert_eq!(got, expected);
    // Byte by byte.
    let mut decoder = Decoder::new();
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    for &byte in &wire {
        buf.extend_from_slice(&[byte]);
        while let Some(frame) = decoder.decode_frame(&mut buf).unwrap() {
            got.push(frame);
        }
    }
    assert_eq!(got, expected);
    assert!(buf.is_empty());
}

#[test]
fn text_where_only_packets_belong_is_an_error() {
    let mut decoder = Decoder::new();
    let mut buf = BytesMut::from(&b"status\n"[..]);
    assert_eq!(
        decoder.decode_packet(&mut buf),
        Err(DecodeError::BadMagic(b"stat".to_vec()))
    );
    assert!(decoder.error().is_some());
}

#[test]
fn an_overlong_text_line_is_an_error() {
    let mut decoder = Decoder::new().with_max_line_len(8);
    let mut buf = BytesMut::from(&b"status\r\n"[..]);
    assert_eq!(
        decoder.decode_frame(&mut buf),
        Ok(Some(Frame::Text("status".into())))
    );
    buf.extend_from_slice(b"verbose\r\n");
    assert_eq!(
        decoder.decode_frame(&mut buf),
        Err(DecodeError::LineTooLong { max: 8 })
    );
    let mut decoder = Decoder::new().with_max_line_len(8);
    let mut buf = BytesMut::from(&b"12345678"[..]);
    assert_eq!(
        decoder.decode_frame(&mut buf),
        Err(DecodeError::LineTooLong { max: 8 })
    );
    let mut decoder = Decoder::new().with_max_line_len(8);
    let mut buf = BytesMut::from(&b"1234567"[..]);
    assert_eq!(decoder.decode_frame(&mut buf), Ok(None));
}

fn command() -> impl Strategy<Value = Command> {
    proptest::sample::select(Command::ALL)
}

/// A command and random fields for it: NUL-free except the last.
fn packet_fields() -> impl Strategy<Value = (Command, Vec<Vec<u8>>)> {
    command().prop_flat_map(|command| {
        let count = command.field_count();
        let leading = proptest::collection::vec(
            proptest::collection::vec(1u8..=255, 0..16),
            count.saturating_sub(1),
        );
        let last = proptest::collection::vec(any::<u8>(), 0..64);
        (Just(command), leading, last).prop_map(move |(command, mut fields, last)| {
            if count > 0 {
                fields.push(last);
            }
            (command, fields)
        })
    })
}

proptest! {
    #[test]
    fn random_fields_round_trip((command, fields) in packet_fields(), split in any::<prop::sample::Index>()) {
        let packet = build(command, &fields);
        let wire = wire_of(&packet);
        prop_assert_eq!(wire.len(), packet.encoded_len());
        let at = split.index(wire.len() + 1);
        let mut decoder = Decoder::new();
        let mut buf = BytesMut::from(&wire[..at]);
        let decoded = match decoder.decode_packet(&mut buf).unwrap() {
            Some(p) => p,
            None => {
                buf.extend_from_slice(&wire[at..]);
                decoder.decode_packet(&mut buf).unwrap().expect("complete")
            }
        };
        let args: Vec<Vec<u8>> = decoded.args().map(<[u8]>::to_vec).collect();
        prop_assert_eq!(&args, &fields);
        prop_assert_eq!(&decoded, &packet);
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn random_bytes_never_panic_nor_overconsume(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut decoder = Decoder::new().with_max_packet_size(4096);
        let mut buf = BytesMut::from(&data[..]);
        loop {
            let before = buf.len();
            let declared = gearman_proto::packet::declared_size(&buf);
            match decoder.decode_packet(&mut buf) {
                Ok(Some(packet)) => {
                    let consumed = before - buf.len();
                    prop_assert_eq!(consumed, HEADER_LEN + declared.unwrap() as usize);
                    let start = data.len() - before;
                    prop_assert_eq!(wire_of(&packet), &data[start..start + consumed]);
                }
                Err(DecodeError::MissingFields { .. }) => {
                    // A whole frame with too few fields: exactly it is consumed.
                    prop_assert_eq!(before - buf.len(), HEADER_LEN + declared.unwrap() as usize);
                    break;
                }
                Ok(None) | Err(_) => {
                    prop_assert_eq!(buf.len(), before);
                    break;
                }
            }
        }
    }

    #[test]
    fn random_valid_headers_with_random_payloads(
        command in command(),
        payload in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut wire = command.magic().bytes().to_vec();
        wire.extend_from_slice(&command.number().to_be_bytes());
        wire.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        wire.extend_from_slice(&payload);
        let result = Decoder::new().decode_packet(&mut BytesMut::from(&wire[..]));
        let nuls = payload.iter().filter(|&&b| b == 0).count();
        let needed = command.field_count().saturating_sub(1);
        match result {
            Ok(Some(packet)) => {
                prop_assert!(nuls >= needed);
                prop_assert_eq!(wire_of(&packet), wire);
                prop_assert_eq!(packet.payload(), &Bytes::from(payload));
            }
            Err(DecodeError::MissingFields { found, .. }) => {
                prop_assert!(nuls < needed);
                prop_assert_eq!(found, nuls + 1);
            }
            other => prop_assert!(false, "unexpected {:?}", other),
        }
    }
}
