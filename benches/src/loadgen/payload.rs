//! Job payloads that name their job, so a result handed to the wrong job is
//! caught, and the check of each echo result.

use bytes::Bytes;
use gearman_proto::client::JobOutcome;

use crate::args::Args;

/// The payload of job `index`: its index as 16 decimal digits, then
/// letters, cut or padded to `size` bytes (the same bytes the C client sends).
/// One allocation, so the load generator's own work stays small beside the
/// library's.
pub fn payload(index: u64, size: usize) -> Bytes {
    let digits = digits(index);
    Bytes::from(
        (0..size)
            .map(|at| payload_byte(&digits, at))
            .collect::<Vec<u8>>(),
    )
}

/// The first 16 characters of `index` in decimal, zero-padded to 16.
fn digits(index: u64) -> [u8; 16] {
    // u64::MAX has 20 digits.
    let mut decimal = [b'0'; 20];
    let mut rest = index;
    let mut start = decimal.len();
    while rest > 0 || start == decimal.len() {
        start -= 1;
        decimal[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    let from = start.min(decimal.len() - 16);
    decimal[from..from + 16].try_into().expect("16 digits")
}

/// Byte `at` of the payload whose index has these `digits`.
fn payload_byte(digits: &[u8; 16], at: usize) -> u8 {
    match digits.get(at) {
        Some(&digit) => digit,
        None => b'a' + (at % 26) as u8,
    }
}

/// Whether `result` is what the echo function returns for job `index`
/// (compared in place, without building the payload).
pub fn is_echo_of(result: &[u8], index: u64, size: usize) -> bool {
    let digits = digits(index);
    result.len() == size
        && result
            .iter()
            .enumerate()
            .all(|(at, byte)| *byte == payload_byte(&digits, at))
}

/// Whether job `index` ended as it should: with its echo in the
/// foreground, queued in the background.
pub fn ended_correctly(outcome: &JobOutcome, index: u64, args: &Args) -> bool {
    match outcome {
        JobOutcome::Complete(result) => !args.background && is_echo_of(result, index, args.payload),
        JobOutcome::Queued(_) => args.background,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_start_with_the_index_and_have_the_asked_size() {
        let job = payload(42, 20);
        assert_eq!(job.len(), 20);
        assert_eq!(&job[..16], b"0000000000000042");
        assert_eq!(&job[16..], b"qrst");
        assert_eq!(payload(7, 0).len(), 0);
        assert_eq!(payload(7, 3).as_ref(), b"000");
        assert_eq!(&payload(u64::MAX, 20)[..16], b"1844674407370955");
        assert_eq!(&payload(1234567890123456, 16)[..], b"1234567890123456");
    }

    #[test]
    fn a_result_of_another_job_is_not_an_echo() {
        assert!(is_echo_of(&payload(5, 100), 5, 100));
        assert!(!is_echo_of(&payload(6, 100), 5, 100));
        assert!(!is_echo_of(&payload(5, 99), 5, 100));
    }

    #[test]
    fn a_foreground_job_needs_its_echo_and_a_background_job_its_queueing() {
        let foreground = Args::parse(Vec::<String>::new()).unwrap();
        let background = Args::parse(["--background".to_owned()]).unwrap();
        let echo = JobOutcome::Complete(payload(3, foreground.payload));
        let queued = JobOutcome::Queued(gearman_proto::client::JobHandle {
            server: gearman_proto::client::ServerId(0),
            handle: Bytes::from_static(b"H:x:1"),
        });
        assert!(ended_correctly(&echo, 3, &foreground));
        assert!(!ended_correctly(&echo, 4, &foreground));
        assert!(!ended_correctly(&queued, 3, &foreground));
        assert!(ended_correctly(&queued, 3, &background));
        assert!(!ended_correctly(&echo, 3, &background));
        assert!(!ended_correctly(&JobOutcome::Fail, 3, &foreground));
    }
}
