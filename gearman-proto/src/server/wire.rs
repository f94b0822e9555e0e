//! Small helpers for writing server replies and reading numeric fields.

use bytes::BufMut;

use crate::packet::Command;
use crate::packet::encode_fields;

/// Appends one packet; the server only writes fields that cannot break the
/// encoder's rules, so an error here is a bug of ours and is only logged.
#[inline]
pub(crate) fn put<B: BufMut>(buf: &mut B, command: Command, fields: &[&[u8]]) {
    if let Err(err) = encode_fields(buf, command, fields) {
        debug_assert!(false, "server wrote an invalid {command}: {err}");
        tracing::error!(%command, %err, "server reply not encodable; dropped");
    }
}

/// `ERROR code␀text`.
pub(crate) fn put_error<B: BufMut>(buf: &mut B, code: &str, text: &str) {
    put(buf, Command::Error, &[code.as_bytes(), text.as_bytes()]);
}

/// gearmand's WORK_FAIL for a client that did not ask for exceptions: the
/// handle followed by its NUL terminator (`H␀`).
pub(crate) fn put_fail_with_nul<B: BufMut>(buf: &mut B, handle: &[u8]) {
    buf.put_slice(Command::WorkFailRes.magic().bytes());
    buf.put_u32(Command::WorkFailRes.number());
    buf.put_u32(handle.len() as u32 + 1);
    buf.put_slice(handle);
    buf.put_u8(0);
}

/// C's `strtoll(text, NULL, 10)`: leading spaces, an optional sign, then
/// digits; anything unparsable is 0. `None` when the value overflows (the
/// cases where gearmand drops the connection).
pub(crate) fn strtoll(text: &[u8]) -> Option<i64> {
    let mut rest = text;
    while let [b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c', tail @ ..] = rest {
        rest = tail;
    }
    let negative = match rest {
        [b'-', tail @ ..] => {
            rest = tail;
            true
        }
        [b'+', tail @ ..] => {
            rest = tail;
            false
        }
        _ => false,
    };
    let mut value: i64 = 0;
    for &b in rest {
        if !b.is_ascii_digit() {
            break;
        }
        let digit = i64::from(b - b'0');
        value = value.checked_mul(10)?;
        value = if negative {
            value.checked_sub(digit)?
        } else {
            value.checked_add(digit)?
        };
    }
    Some(value)
}

/// C's `atoi` stored as `uint32_t`, as gearmand keeps WORK_STATUS numbers.
pub(crate) fn atoi_u32(text: &[u8]) -> u32 {
    strtoll(text).unwrap_or(0) as i32 as u32
}

/// The part of `field` before its first NUL (gearmand reads fields as C strings).
pub(crate) fn c_str(field: &[u8]) -> &[u8] {
    match memchr::memchr(0, field) {
        Some(end) => &field[..end],
        None => field,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_parsing() {
        assert_eq!(strtoll(b"  42x"), Some(42));
        assert_eq!(strtoll(b"-7"), Some(-7));
        assert_eq!(strtoll(b"abc"), Some(0));
        assert_eq!(strtoll(b"99999999999999999999"), None);
        assert_eq!(atoi_u32(b"-1"), u32::MAX);
        assert_eq!(c_str(b"ab\0cd"), b"ab");
    }
}
