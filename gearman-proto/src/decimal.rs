//! Decimal numbers in packets and admin lines, written without allocating:
//! the one formatter every role uses, and the parsers of the admin protocol.

use bytes::BufMut;

/// A number as decimal text, on the stack.
pub(crate) struct Decimal {
    // u64::MAX has 20 digits.
    digits: [u8; 20],
    start: usize,
}

impl Decimal {
    pub(crate) fn new(mut n: u64) -> Decimal {
        let mut digits = [0u8; 20];
        let mut start = digits.len();
        loop {
            start -= 1;
            digits[start] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        Decimal { digits, start }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.digits[self.start..]
    }
}

/// Appends `n` in decimal.
pub(crate) fn put_u64<B: BufMut>(buf: &mut B, n: u64) {
    buf.put_slice(Decimal::new(n).as_bytes());
}

/// Appends `n` in decimal, with a `-` when negative.
pub(crate) fn put_i64<B: BufMut>(buf: &mut B, n: i64) {
    if n < 0 {
        buf.put_u8(b'-');
    }
    put_u64(buf, n.unsigned_abs());
}

/// Parses a non-empty run of ASCII digits; `None` for anything else or overflow.
pub(crate) fn parse_u64(text: &[u8]) -> Option<u64> {
    if text.is_empty() {
        return None;
    }
    text.iter().try_fold(0u64, |acc, &b| {
        if b.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

/// Parses a decimal, optionally negative, integer; `None` for anything else.
pub(crate) fn parse_i64(text: &[u8]) -> Option<i64> {
    match text.strip_prefix(b"-") {
        Some(rest) => {
            let magnitude = parse_u64(rest)?;
            0i64.checked_sub_unsigned(magnitude)
        }
        None => i64::try_from(parse_u64(text)?).ok(),
    }
}

/// C's `atoi` as gearmand applies it to `maxqueue` arguments: leading
/// whitespace, an optional sign, then digits up to the first non-digit;
/// no digits gives 0. Saturates instead of overflowing.
pub(crate) fn atoi(text: &[u8]) -> i64 {
    let text = match text.iter().position(|b| !b.is_ascii_whitespace()) {
        Some(start) => &text[start..],
        None => return 0,
    };
    let (negative, digits) = match text.first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let mut value: i64 = 0;
    for &b in digits.iter().take_while(|b| b.is_ascii_digit()) {
        let digit = i64::from(b - b'0');
        value = if negative {
            value.saturating_mul(10).saturating_sub(digit)
        } else {
            value.saturating_mul(10).saturating_add(digit)
        };
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_text() {
        assert_eq!(Decimal::new(0).as_bytes(), b"0");
        assert_eq!(Decimal::new(1_767_225_600).as_bytes(), b"1767225600");
        assert_eq!(
            Decimal::new(u64::MAX).as_bytes(),
            u64::MAX.to_string().as_bytes()
        );
    }

    #[test]
    fn writes_and_reads_extremes() {
        for n in [0u64, 7, 10, 4_294_967_295, u64::MAX] {
            let mut out = Vec::new();
            put_u64(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
            assert_eq!(parse_u64(&out), Some(n));
        }
        for n in [i64::MIN, -1, 0, i64::MAX] {
            let mut out = Vec::new();
            put_i64(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
            assert_eq!(parse_i64(&out), Some(n));
        }
        assert_eq!(parse_u64(b""), None);
        assert_eq!(parse_u64(b"+1"), None);
        assert_eq!(parse_u64(b"18446744073709551616"), None);
        assert_eq!(parse_i64(b"-"), None);
    }

    #[test]
    fn atoi_is_lenient_like_c() {
        assert_eq!(atoi(b"12abc"), 12);
        assert_eq!(atoi(b"abc"), 0);
        assert_eq!(atoi(b"\t-5"), -5);
        assert_eq!(atoi(b"+8"), 8);
        assert_eq!(atoi(b"99999999999999999999999"), i64::MAX);
        assert_eq!(atoi(b"-99999999999999999999999"), i64::MIN);
    }
}
