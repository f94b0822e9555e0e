//! CPU time this process has used, a figure the other load on a shared
//! machine disturbs less than wall-clock rates.

use std::time::Duration;

/// Clock ticks per second of `/proc/*/stat` times (USER_HZ, 100 on Linux).
const TICKS_PER_SECOND: u64 = 100;

/// User plus system CPU time of this process; `None` where there is no procfs.
pub fn used() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    parse_stat(&stat)
}

fn parse_stat(stat: &str) -> Option<Duration> {
    // The command name (field 2) may hold spaces; fields count from after it.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace();
    // utime and stime are fields 14 and 15, the 12th and 13th after the name.
    let user: u64 = fields.nth(11)?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis(
        (user + system) * 1000 / TICKS_PER_SECOND,
    ))
}

/// ` cpu=<µs>us/job` for `jobs` jobs that used `spent`, or nothing.
pub fn per_job(spent: Option<Duration>, jobs: u64) -> String {
    match spent {
        Some(spent) if jobs > 0 => {
            format!(" cpu={:.1}us/job", spent.as_secs_f64() * 1e6 / jobs as f64)
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_and_system_ticks_are_added() {
        let stat = "4242 (load gen) S 1 2 3 4 5 6 7 8 9 10 150 50 0 0 20 0 3 0";
        assert_eq!(parse_stat(stat), Some(Duration::from_secs(2)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn per_job_is_in_microseconds() {
        assert_eq!(
            per_job(Some(Duration::from_millis(30)), 1000),
            " cpu=30.0us/job"
        );
        assert_eq!(per_job(None, 1000), "");
    }

    #[test]
    fn this_process_has_used_some_cpu_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(used().is_some());
        }
    }
}
