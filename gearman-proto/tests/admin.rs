//! The admin text protocol through the public API: request parsing as
//! gearmand does it, gearmand's exact reply bytes, and the client's reply
//! decoder fed whole, byte by byte and with trailing bytes.

use bytes::{Bytes, BytesMut};
use gearman_proto::admin::{
    AdminDecodeError, AdminParseError, AdminRequest, AdminResponse, AdminResponseDecoder, JobRow,
    MaxQueueLimits, PriorityStatusRow, StatusRow, WorkerRow,
};
use gearman_proto::{Decoder, Frame};
use proptest::prelude::*;

fn parse(line: &str) -> Result<AdminRequest, AdminParseError> {
    AdminRequest::parse(line.as_bytes())
}

fn encoded_request(request: &AdminRequest) -> Vec<u8> {
    let mut out = Vec::new();
    request.encode(&mut out);
    out
}

fn encoded(response: &AdminResponse) -> Vec<u8> {
    let mut out = Vec::new();
    response.encode(&mut out);
    out
}

fn reply_to(line: &str) -> Vec<u8> {
    match AdminRequest::parse(line.as_bytes()) {
        Ok(request) => panic!("{line:?} parsed to {request:?}"),
        Err(err) => encoded(&err.reply().expect("a reply, not a close")),
    }
}

fn max_queue(function: &str, limits: MaxQueueLimits) -> AdminRequest {
    AdminRequest::MaxQueue {
        function: Bytes::copy_from_slice(function.as_bytes()),
        limits,
    }
}

#[test]
fn every_command_parses() {
    let cases = [
        ("status", AdminRequest::Status),
        ("workers", AdminRequest::Workers),
        ("version", AdminRequest::Version),
        ("getpid", AdminRequest::GetPid),
        ("verbose", AdminRequest::Verbose),
        ("prioritystatus", AdminRequest::PriorityStatus),
        ("show jobs", AdminRequest::ShowJobs),
        ("show unique jobs", AdminRequest::ShowUniqueJobs),
        ("shutdown", AdminRequest::Shutdown { graceful: false }),
        (
            "shutdown graceful",
            AdminRequest::Shutdown { graceful: true },
        ),
        (
            "cancel job H:srv:7",
            AdminRequest::CancelJob {
                handle: "H:srv:7".into(),
            },
        ),
        (
            "create function resize",
            AdminRequest::CreateFunction {
                name: "resize".into(),
            },
        ),
        (
            "drop function resize",
            AdminRequest::DropFunction {
                name: "resize".into(),
            },
        ),
        ("maxqueue f", max_queue("f", MaxQueueLimits::None)),
        ("maxqueue f 7", max_queue("f", MaxQueueLimits::All(7))),
        ("maxqueue f -3", max_queue("f", MaxQueueLimits::All(-3))),
        (
            "maxqueue f 1 2",
            max_queue(
                "f",
                MaxQueueLimits::PerPriority {
                    high: 1,
                    normal: 2,
                    low: 0,
                },
            ),
        ),
        (
            "maxqueue f 1 2 3",
            max_queue(
                "f",
                MaxQueueLimits::PerPriority {
                    high: 1,
                    normal: 2,
                    low: 3,
                },
            ),
        ),
    ];
    for (line, expected) in cases {
        assert_eq!(parse(line), Ok(expected.clone()), "{line:?}");
        // The encoded form parses back to the same request, and ends in \r\n.
        let wire = encoded_request(&expected);
        assert!(wire.ends_with(b"\r\n"), "{line:?}");
        assert_eq!(AdminRequest::parse(&wire), Ok(expected), "{line:?}");
    }
}

#[test]
fn parsing_follows_gearmand_tokenising() {
    assert_eq!(parse("  STATUS  "), Ok(AdminRequest::Status));
    assert_eq!(parse("Show   JOBS\r\n"), Ok(AdminRequest::ShowJobs));
    assert_eq!(
        parse("status extra args are ignored"),
        Ok(AdminRequest::Status)
    );
    assert_eq!(
        parse("cancel JOB H:a:1"),
        Ok(AdminRequest::CancelJob {
            handle: "H:a:1".into()
        })
    );
    // Arguments keep their case; tabs are part of a token.
    assert_eq!(
        parse("create function Re\tsize"),
        Ok(AdminRequest::CreateFunction {
            name: "Re\tsize".into()
        })
    );
    assert_eq!(
        parse("status\tx"),
        Err(AdminParseError::UnknownCommand {
            word: "status\tx".into()
        })
    );
    // maxqueue numbers are read like atoi.
    assert_eq!(
        parse("maxqueue f 12abc"),
        Ok(max_queue("f", MaxQueueLimits::All(12)))
    );
    assert_eq!(
        parse("maxqueue f abc"),
        Ok(max_queue("f", MaxQueueLimits::All(0)))
    );
}

#[test]
fn bad_lines_give_gearmands_replies() {
    assert_eq!(parse(""), Err(AdminParseError::Empty));
    assert_eq!(parse("   \r\n"), Err(AdminParseError::Empty));
    assert_eq!(
        reply_to(""),
        b"ERR UNKNOWN_COMMAND Unknown+server+command\r\n"
    );
    assert_eq!(
        reply_to("Frob x"),
        b"ERR UNKNOWN_COMMAND Unknown+server+commandFrob\r\n"
    );
    // cancel and show without enough tokens are unknown commands to gearmand.
    assert_eq!(
        reply_to("cancel job"),
        b"ERR UNKNOWN_COMMAND Unknown+server+commandcancel\r\n"
    );
    assert_eq!(
        reply_to("show"),
        b"ERR UNKNOWN_COMMAND Unknown+server+commandshow\r\n"
    );
    assert_eq!(parse("cancel task H:1"), Err(AdminParseError::BadCancel));
    assert_eq!(reply_to("cancel job H:1 extra"), b"ERR UNKNOWN_ERROR\r\n");
    assert_eq!(reply_to("show workers"), b"ERR UNKNOWN_SHOW_ARGUMENTS\r\n");
    assert_eq!(reply_to("show jobs now"), b"ERR UNKNOWN_SHOW_ARGUMENTS\r\n");
    assert_eq!(reply_to("show unique"), b"ERR UNKNOWN_SHOW_ARGUMENTS\r\n");
    for (line, word) in [
        ("maxqueue", "maxqueue"),
        ("CREATE function", "CREATE"),
        ("create func f", "create"),
        ("drop function a b", "drop"),
        ("shutdown now", "shutdown"),
    ] {
        let expected = format!(
            "ERR INVALID_ARGUMENTS An+incomplete+set+of+arguments+was+sent+to+this+command+{word}\r\n"
        );
        assert_eq!(reply_to(line), expected.as_bytes(), "{line:?}");
    }
    let six = parse("a b c d e f");
    assert_eq!(six, Err(AdminParseError::TooManyTokens { count: 6 }));
    assert_eq!(six.unwrap_err().reply(), None, "gearmand closes instead");
    assert!(parse("maxqueue f 1 2 3").is_ok(), "five tokens are allowed");
}

/// Lines sent to gearmand 1.1.20 and the bytes it answered with.
#[test]
fn errors_match_replies_recorded_from_gearmand() {
    let recorded: &[(&str, &[u8])] = &[
        ("", b"ERR UNKNOWN_COMMAND Unknown+server+command\r\n"),
        ("   ", b"ERR UNKNOWN_COMMAND Unknown+server+command\r\n"),
        ("Frob x", b"ERR UNKNOWN_COMMAND Unknown+server+commandFrob\r\n"),
        ("cancel job", b"ERR UNKNOWN_COMMAND Unknown+server+commandcancel\r\n"),
        ("show", b"ERR UNKNOWN_COMMAND Unknown+server+commandshow\r\n"),
        ("status\tx", b"ERR UNKNOWN_COMMAND Unknown+server+commandstatus\tx\r\n"),
        ("cancel task H:1", b"ERR UNKNOWN_ERROR\r\n"),
        ("cancel job H:1 extra", b"ERR UNKNOWN_ERROR\r\n"),
        ("show workers", b"ERR UNKNOWN_SHOW_ARGUMENTS\r\n"),
        ("show jobs now", b"ERR UNKNOWN_SHOW_ARGUMENTS\r\n"),
        ("show unique", b"ERR UNKNOWN_SHOW_ARGUMENTS\r\n"),
        (
            "maxqueue",
            b"ERR INVALID_ARGUMENTS An+incomplete+set+of+arguments+was+sent+to+this+command+maxqueue\r\n",
        ),
        (
            "CREATE function",
            b"ERR INVALID_ARGUMENTS An+incomplete+set+of+arguments+was+sent+to+this+command+CREATE\r\n",
        ),
        (
            "create func f",
            b"ERR INVALID_ARGUMENTS An+incomplete+set+of+arguments+was+sent+to+this+command+create\r\n",
        ),
        (
            "drop function a b",
            b"ERR INVALID_ARGUMENTS An+incomplete+set+of+arguments+was+sent+to+this+command+drop\r\n",
        ),
    ];
    for (line, reply) in recorded {
        assert_eq!(reply_to(line), *reply, "{line:?}");
    }
    // And a client reads what gearmand sent for the commands that work.
    let answered: Vec<(&str, &[u8], AdminResponse)> = vec![
        ("maxqueue f 1 2", b"OK\r\n", AdminResponse::Ok),
        (
            "cancel job H:nope:1",
            b"ERR UNKNOWN_JOB\r\n",
            AdminResponse::error("UNKNOWN_JOB", ""),
        ),
        (
            "drop function nothere",
            b"ERR function not found\r\n",
            AdminResponse::error("function", "not found"),
        ),
        ("create function resize", b"OK\r\n", AdminResponse::Ok),
        (
            "status",
            b"resize\t0\t0\t0\n.\n",
            AdminResponse::Status(vec![StatusRow::new("resize", 0, 0, 0)]),
        ),
        (
            "prioritystatus",
            b"resize\t0\t0\t0\t0\n.\n",
            AdminResponse::PriorityStatus(vec![PriorityStatusRow::new("resize", 0, 0, 0, 0)]),
        ),
        ("show jobs", b".\n", AdminResponse::ShowJobs(vec![])),
        (
            "show unique jobs",
            b".\n",
            AdminResponse::ShowUniqueJobs(vec![]),
        ),
        (
            "workers",
            b"39 127.0.0.1 - :\n.\n",
            AdminResponse::Workers(vec![WorkerRow::new(
                39,
                "127.0.0.1",
                "-",
                Vec::<Bytes>::new(),
            )]),
        ),
        (
            "version",
            b"OK 1.1.20+ds\n",
            AdminResponse::Version("1.1.20+ds".into()),
        ),
        (
            "verbose",
            b"OK ERROR\n",
            AdminResponse::Verbose("ERROR".into()),
        ),
        (
            "STATUS extra args",
            b"resize\t0\t0\t0\n.\n",
            AdminResponse::Status(vec![StatusRow::new("resize", 0, 0, 0)]),
        ),
    ];
    for (line, wire, expected) in answered {
        let request = parse(line).expect("a command gearmand runs");
        assert_decodes(&request, wire, &expected);
        // Our writer produces the very same bytes.
        assert_eq!(encoded(&expected), wire, "{line:?}");
    }
}

#[test]
fn replies_are_gearmands_bytes() {
    let cases: Vec<(AdminResponse, &[u8])> = vec![
        (AdminResponse::Ok, b"OK\r\n"),
        (AdminResponse::Version("1.1.22".into()), b"OK 1.1.22\n"),
        (AdminResponse::Pid(4711), b"OK 4711\n"),
        (AdminResponse::Verbose("ERROR".into()), b"OK ERROR\n"),
        (
            AdminResponse::error("UNKNOWN_JOB", ""),
            b"ERR UNKNOWN_JOB\r\n",
        ),
        (
            AdminResponse::error("there", "are still connected workers or executing clients"),
            b"ERR there are still connected workers or executing clients\r\n",
        ),
        (
            AdminResponse::Status(vec![
                StatusRow::new("resize", 3, 1, 2),
                StatusRow::new("idle", 0, 0, 0),
            ]),
            b"resize\t3\t1\t2\nidle\t0\t0\t0\n.\n",
        ),
        (
            AdminResponse::PriorityStatus(vec![PriorityStatusRow::new("f", 1, 2, 3, 4)]),
            b"f\t1\t2\t3\t4\n.\n",
        ),
        (
            AdminResponse::Workers(vec![
                WorkerRow::new(12, "10.0.0.5", "-", ["resize", "thumb"]),
                WorkerRow::new(33, "10.0.0.9", "-", Vec::<Bytes>::new()),
            ]),
            b"12 10.0.0.5 - : resize thumb\n33 10.0.0.9 - :\n.\n",
        ),
        (
            AdminResponse::ShowJobs(vec![
                JobRow::new("H:srv:7", 0, false, true),
                JobRow::new("H:srv:8", 2, true, false),
            ]),
            b"H:srv:7\t0\t0\t1\nH:srv:8\t2\t1\t0\n.\n",
        ),
        (
            AdminResponse::ShowUniqueJobs(vec!["u1".into(), Bytes::new()]),
            b"u1\n\n.\n",
        ),
        (AdminResponse::Status(vec![]), b".\n"),
    ];
    for (response, wire) in cases {
        assert_eq!(encoded(&response), wire, "{response:?}");
    }
}

/// The request each typed reply answers.
fn request_for(response: &AdminResponse) -> AdminRequest {
    match response {
        AdminResponse::Version(_) => AdminRequest::Version,
        AdminResponse::Pid(_) => AdminRequest::GetPid,
        AdminResponse::Verbose(_) => AdminRequest::Verbose,
        AdminResponse::Status(_) => AdminRequest::Status,
        AdminResponse::Workers(_) => AdminRequest::Workers,
        AdminResponse::PriorityStatus(_) => AdminRequest::PriorityStatus,
        AdminResponse::ShowJobs(_) => AdminRequest::ShowJobs,
        AdminResponse::ShowUniqueJobs(_) => AdminRequest::ShowUniqueJobs,
        AdminResponse::RawList(_) => AdminRequest::raw("status").unwrap(),
        _ => AdminRequest::CancelJob {
            handle: "H:x:1".into(),
        },
    }
}

/// Decodes `wire` whole, byte by byte, and followed by trailing bytes, and
/// checks all three give `expected` and leave exactly the trailing bytes.
fn assert_decodes(request: &AdminRequest, wire: &[u8], expected: &AdminResponse) {
    let mut whole = BytesMut::from(wire);
    let got = AdminResponseDecoder::new().decode(request, &mut whole);
    assert_eq!(got, Ok(Some(expected.clone())), "whole {wire:?}");
    assert!(whole.is_empty());

    let mut decoder = AdminResponseDecoder::new();
    let mut buf = BytesMut::new();
    for (i, &byte) in wire.iter().enumerate() {
        buf.extend_from_slice(&[byte]);
        let got = decoder.decode(request, &mut buf).unwrap();
        if i + 1 < wire.len() {
            assert_eq!(got, None, "early reply after {} of {wire:?}", i + 1);
        } else {
            assert_eq!(got.as_ref(), Some(expected), "byte by byte {wire:?}");
        }
    }
    assert!(buf.is_empty());

    let trailing = b"OK 9\n";
    let mut buf = BytesMut::from(wire);
    buf.extend_from_slice(trailing);
    let got = AdminResponseDecoder::new().decode(request, &mut buf);
    assert_eq!(got, Ok(Some(expected.clone())), "trailing {wire:?}");
    assert_eq!(&buf[..], trailing);
}

#[test]
fn typed_replies_round_trip_through_the_decoder() {
    let responses = vec![
        AdminResponse::Ok,
        AdminResponse::Version("1.1.22".into()),
        AdminResponse::Pid(1),
        AdminResponse::Verbose("INFO".into()),
        AdminResponse::error("UNKNOWN_JOB", ""),
        AdminResponse::invalid_arguments(b"drop"),
        AdminResponse::Status(vec![
            StatusRow::new("resize", 3, 1, 2),
            StatusRow::new("tab\tname", 0, 0, 0),
            StatusRow::new("ERR x", 1, 1, 1),
        ]),
        AdminResponse::Status(vec![]),
        AdminResponse::PriorityStatus(vec![PriorityStatusRow::new("f", 1, 2, 3, u64::MAX)]),
        AdminResponse::Workers(vec![
            WorkerRow::new(12, "10.0.0.5", "my worker id", ["resize", "thumb"]),
            WorkerRow::new(-1, "::1", "", Vec::<Bytes>::new()),
            WorkerRow::new(7, "", "-", ["a\r"]),
        ]),
        AdminResponse::ShowJobs(vec![JobRow::new("H:srv:7", 5, true, true)]),
        AdminResponse::ShowUniqueJobs(vec!["u1".into(), Bytes::new(), "ends in cr\r".into()]),
        AdminResponse::RawList(vec!["not a status row".into()]),
        AdminResponse::RawLine("something else".into()),
    ];
    for response in responses {
        let request = request_for(&response);
        assert_decodes(&request, &encoded(&response), &response);
    }
}

#[test]
fn decoder_accepts_both_line_endings() {
    let request = AdminRequest::Status;
    let expected = AdminResponse::Status(vec![StatusRow::new("f", 1, 0, 1)]);
    assert_decodes(&request, b"f\t1\t0\t1\r\n.\r\n", &expected);
    assert_decodes(&request, b"f\t1\t0\t1\n.\r\n", &expected);
    assert_decodes(
        &AdminRequest::Version,
        b"OK 1.0\r\n",
        &AdminResponse::Version("1.0".into()),
    );
    // A server that omits the OK (Perl's Gearman::Server) still gives a version.
    assert_decodes(
        &AdminRequest::Version,
        b"1.12\n",
        &AdminResponse::Version("1.12".into()),
    );
}

#[test]
fn an_err_line_answers_a_list_command() {
    let wire = b"ERR UNKNOWN_COMMAND Unknown+server+commandprioritystatus\r\n";
    let expected = AdminResponse::unknown_command(b"prioritystatus");
    assert_decodes(&AdminRequest::PriorityStatus, wire, &expected);
    assert_decodes(
        &AdminRequest::Workers,
        b"ERR\n",
        &AdminResponse::error("", ""),
    );
    // A status row whose name starts with "ERR " is still a row.
    assert_decodes(
        &AdminRequest::Status,
        b"ERR f\t0\t0\t1\n.\n",
        &AdminResponse::Status(vec![StatusRow::new("ERR f", 0, 0, 1)]),
    );
}

#[test]
fn unexpected_shapes_become_raw() {
    assert_decodes(
        &AdminRequest::Status,
        b"f\t1\t2\nf\t1\t2\t3\n.\n",
        &AdminResponse::RawList(vec!["f\t1\t2".into(), "f\t1\t2\t3".into()]),
    );
    assert_decodes(
        &AdminRequest::GetPid,
        b"OK pid\n",
        &AdminResponse::RawLine("OK pid".into()),
    );
    assert_decodes(
        &AdminRequest::GetPid,
        b"OK 99999999999\n",
        &AdminResponse::RawLine("OK 99999999999".into()),
    );
    assert_decodes(
        &AdminRequest::raw("STATUS").unwrap(),
        b"f\t1\t2\t3\n.\n",
        &AdminResponse::Status(vec![StatusRow::new("f", 1, 2, 3)]),
    );
    assert_decodes(
        &AdminRequest::raw("gladiator").unwrap(),
        b"OK\n",
        &AdminResponse::Ok,
    );
    assert_decodes(
        &AdminRequest::raw("gladiator").unwrap(),
        b"whatever\n",
        &AdminResponse::RawLine("whatever".into()),
    );
}

#[test]
fn worker_rows_with_odd_ids_parse() {
    let row = |s: &'static str| WorkerRow::parse(&Bytes::from_static(s.as_bytes()));
    assert_eq!(
        row("1 ip a : b : f"),
        Some(WorkerRow::new(1, "ip", "a", ["b", ":", "f"]))
    );
    assert_eq!(row("1 ip : f"), Some(WorkerRow::new(1, "ip", "", ["f"])));
    assert_eq!(
        row("1 ip a:b :"),
        Some(WorkerRow::new(1, "ip", "a:b", Vec::<Bytes>::new()))
    );
    assert_eq!(row("x ip - :"), None);
    assert_eq!(row("1 ip -"), None);
    assert_eq!(row("1 ip - :f"), None);
}

#[test]
fn limits_are_enforced_and_sticky() {
    let mut decoder = AdminResponseDecoder::new().with_max_line_len(16);
    let mut buf = BytesMut::from(&b"OK 123456789012345"[..]);
    let err = decoder.decode(&AdminRequest::Version, &mut buf);
    assert_eq!(err, Err(AdminDecodeError::LineTooLong { max: 16 }));
    let mut fresh = BytesMut::from(&b"OK\n"[..]);
    assert_eq!(
        decoder.decode(&AdminRequest::Version, &mut fresh),
        Err(AdminDecodeError::LineTooLong { max: 16 }),
        "stays failed"
    );
    assert_eq!(
        decoder.error(),
        Some(&AdminDecodeError::LineTooLong { max: 16 })
    );

    // A line of exactly the maximum, ending included, is fine.
    let mut decoder = AdminResponseDecoder::new().with_max_line_len(5);
    let mut buf = BytesMut::from(&b"OK 7\n"[..]);
    assert_eq!(
        decoder.decode(&AdminRequest::GetPid, &mut buf),
        Ok(Some(AdminResponse::Pid(7)))
    );

    // An endless list is cut off.
    let mut decoder = AdminResponseDecoder::new().with_max_reply_len(1000);
    let mut buf = BytesMut::new();
    let mut result = Ok(None);
    for _ in 0..100 {
        buf.extend_from_slice(b"\n");
        result = decoder.decode(&AdminRequest::ShowUniqueJobs, &mut buf);
        if result.is_err() {
            break;
        }
        assert!(decoder.is_mid_reply());
    }
    assert_eq!(result, Err(AdminDecodeError::ReplyTooLong { max: 1000 }));
}

#[test]
fn server_decoder_and_parser_work_together() {
    let mut buf = BytesMut::from(&b"status\r\nshow  jobs\nbogus\n\0REQ"[..]);
    let mut decoder = Decoder::new();
    let mut parsed = Vec::new();
    while let Some(Frame::Text(line)) = decoder.decode_frame(&mut buf).unwrap() {
        parsed.push(AdminRequest::parse(&line));
    }
    assert_eq!(
        parsed,
        vec![
            Ok(AdminRequest::Status),
            Ok(AdminRequest::ShowJobs),
            Err(AdminParseError::UnknownCommand {
                word: "bogus".into()
            }),
        ]
    );
    assert_eq!(&buf[..], b"\0REQ");
}

fn token() -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(
        any::<u8>().prop_filter("no separators", |b| !matches!(b, b' ' | b'\n' | b'\r')),
        1..12,
    )
    .prop_map(Bytes::from)
}

fn name() -> impl Strategy<Value = Bytes> {
    // Names as gearmand lists them: no spaces, tabs or line breaks.
    "[a-zA-Z0-9_.:-]{1,10}".prop_map(Bytes::from)
}

fn request() -> impl Strategy<Value = AdminRequest> {
    let limits = prop_oneof![
        Just(MaxQueueLimits::None),
        any::<i64>().prop_map(MaxQueueLimits::All),
        (any::<i64>(), any::<i64>(), any::<i64>())
            .prop_map(|(high, normal, low)| MaxQueueLimits::PerPriority { high, normal, low }),
    ];
    prop_oneof![
        Just(AdminRequest::Status),
        Just(AdminRequest::Workers),
        Just(AdminRequest::Version),
        Just(AdminRequest::GetPid),
        Just(AdminRequest::Verbose),
        Just(AdminRequest::ShowJobs),
        Just(AdminRequest::ShowUniqueJobs),
        Just(AdminRequest::PriorityStatus),
        any::<bool>().prop_map(|graceful| AdminRequest::Shutdown { graceful }),
        (token(), limits)
            .prop_map(|(function, limits)| AdminRequest::MaxQueue { function, limits }),
        token().prop_map(|handle| AdminRequest::CancelJob { handle }),
        token().prop_map(|name| AdminRequest::CreateFunction { name }),
        token().prop_map(|name| AdminRequest::DropFunction { name }),
    ]
}

fn response() -> impl Strategy<Value = AdminResponse> {
    let count = any::<u64>();
    prop_oneof![
        Just(AdminResponse::Ok),
        name().prop_map(AdminResponse::Version),
        any::<u32>().prop_map(AdminResponse::Pid),
        name().prop_map(AdminResponse::Verbose),
        (name(), name()).prop_map(|(code, text)| AdminResponse::error(code, text)),
        proptest::collection::vec(
            (name(), count, count, count).prop_map(|(f, t, r, w)| StatusRow::new(f, t, r, w)),
            0..5
        )
        .prop_map(AdminResponse::Status),
        proptest::collection::vec(
            (name(), count, count, count, count)
                .prop_map(|(f, h, n, l, w)| PriorityStatusRow::new(f, h, n, l, w)),
            0..5
        )
        .prop_map(AdminResponse::PriorityStatus),
        proptest::collection::vec(
            (
                any::<i64>(),
                name(),
                // Ids may hold spaces; an id of ":" would read as no id and
                // a function named ":".
                "[a-zA-Z0-9_. -]{0,10}",
                proptest::collection::vec(name(), 0..4)
            )
                .prop_map(|(fd, ip, id, functions)| WorkerRow::new(fd, ip, id, functions)),
            0..5
        )
        .prop_map(AdminResponse::Workers),
        proptest::collection::vec(
            (name(), count, any::<bool>(), any::<bool>())
                .prop_map(|(h, r, i, q)| JobRow::new(h, r, i, q)),
            0..5
        )
        .prop_map(AdminResponse::ShowJobs),
        proptest::collection::vec(
            name().prop_filter("not the terminator", |u| &u[..] != b"."),
            0..5
        )
        .prop_map(AdminResponse::ShowUniqueJobs),
    ]
}

proptest! {
    #[test]
    fn requests_round_trip(request in request()) {
        let wire = encoded_request(&request);
        prop_assert!(wire.ends_with(b"\r\n"));
        prop_assert_eq!(AdminRequest::parse(&wire), Ok(request));
    }

    #[test]
    fn responses_round_trip(response in response(), split in any::<prop::sample::Index>()) {
        let request = request_for(&response);
        let wire = encoded(&response);
        let at = split.index(wire.len() + 1);
        let mut decoder = AdminResponseDecoder::new();
        let mut buf = BytesMut::from(&wire[..at]);
        let first = decoder.decode(&request, &mut buf).unwrap();
        let got = match first {
            Some(got) => got,
            None => {
                buf.extend_from_slice(&wire[at..]);
                decoder.decode(&request, &mut buf).unwrap().expect("complete reply")
            }
        };
        prop_assert_eq!(got, response);
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn any_line_parses_or_errors_without_panic(line in proptest::collection::vec(any::<u8>(), 0..64)) {
        match AdminRequest::parse(&line) {
            Ok(request) => {
                let wire = encoded_request(&request);
                prop_assert_eq!(AdminRequest::parse(&wire), Ok(request));
            }
            Err(err) => {
                if let Some(reply) = err.reply() {
                    prop_assert!(reply.is_error());
                }
            }
        }
    }

    #[test]
    fn any_bytes_decode_without_panic(data in proptest::collection::vec(any::<u8>(), 0..256), which in 0usize..14) {
        let requests = [
            AdminRequest::Status, AdminRequest::Workers, AdminRequest::Version, AdminRequest::GetPid,
            AdminRequest::Verbose, AdminRequest::ShowJobs, AdminRequest::ShowUniqueJobs,
            AdminRequest::PriorityStatus, AdminRequest::Shutdown { graceful: false },
            AdminRequest::CancelJob { handle: "h".into() }, AdminRequest::CreateFunction { name: "f".into() },
            AdminRequest::DropFunction { name: "f".into() }, AdminRequest::raw("status").unwrap(),
            AdminRequest::raw("nonsense").unwrap(),
        ];
        let request = &requests[which];
        let mut decoder = AdminResponseDecoder::new().with_max_line_len(64);
        let mut buf = BytesMut::from(&data[..]);
        while let Ok(Some(reply)) = decoder.decode(request, &mut buf) {
            // Whatever came out encodes to bytes that read back the same.
            let wire = encoded(&reply);
            let mut again = BytesMut::from(&wire[..]);
            prop_assert_eq!(AdminResponseDecoder::new().decode(request, &mut again), Ok(Some(reply)));
            prop_assert!(again.is_empty());
        }
    }
}

#[test]
fn a_raw_line_with_a_line_break_is_refused_when_built() {
    for line in ["status\r\nshutdown", "status\nshutdown", "status\r", "\n"] {
        let refused = AdminRequest::raw(line);
        assert_eq!(
            refused.map_err(|err| err.line),
            Err(Bytes::from(line)),
            "{line:?}"
        );
    }
    let mut wire = Vec::new();
    AdminRequest::raw("show jobs").unwrap().encode(&mut wire);
    assert_eq!(wire, b"show jobs\r\n");
}

#[test]
fn admin_session_reads_a_reply_in_pieces_and_calls_a_bad_one_a_protocol_error() {
    use gearman_proto::admin::{AdminSession, DEFAULT_ADMIN_TIMEOUT};
    use gearman_proto::driver_error::Error;

    let mut session = AdminSession::new();
    assert_eq!(session.timeout(), DEFAULT_ADMIN_TIMEOUT);
    let request = AdminRequest::Status;
    assert_eq!(
        AdminSession::request_bytes(&request),
        encoded_request(&request)
    );
    for &byte in b"f\t1\t0\t2\n." {
        session.read_buf().extend_from_slice(&[byte]);
        assert_eq!(session.reply(&request).unwrap(), None);
    }
    session.read_buf().extend_from_slice(b"\nOK\n");
    assert_eq!(
        session.reply(&request).unwrap(),
        Some(AdminResponse::Status(vec![StatusRow::new("f", 1, 0, 2)]))
    );
    // What follows a reply stays for the next one.
    assert_eq!(&session.read_buf()[..], b"OK\n");

    let mut session = AdminSession::new();
    let endless_line = vec![b'f'; gearman_proto::admin::DEFAULT_MAX_REPLY_LINE_LEN + 1];
    session.read_buf().extend_from_slice(&endless_line);
    assert!(matches!(session.reply(&request), Err(Error::Protocol(_))));
}
