//! The process's resident memory, for the client's memory per job in flight.

/// Resident set size in bytes (`VmRSS` of `/proc/self/status`); `None`
/// where there is no procfs.
pub fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_vm_rss(&status)
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The memory report of a `--memory` run.
pub fn report(label: &str, jobs: usize, before: Option<u64>, after: Option<u64>) -> String {
    match (before, after) {
        (Some(before), Some(after)) => {
            let grown = after.saturating_sub(before);
            format!(
                "{label}: memory jobs_in_flight={jobs} rss_before={:.1}MiB rss_after={:.1}MiB {:.0} bytes/job",
                before as f64 / 1048576.0,
                after as f64 / 1048576.0,
                grown as f64 / jobs.max(1) as f64,
            )
        }
        _ => format!("{label}: memory jobs_in_flight={jobs} (no /proc/self/status here)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_rss_is_read_in_bytes() {
        let status = "Name:\tloadgen\nVmPeak:\t  9000 kB\nVmRSS:\t    2048 kB\nThreads:\t3\n";
        assert_eq!(parse_vm_rss(status), Some(2048 * 1024));
        assert_eq!(parse_vm_rss("Name:\tx\n"), None);
    }

    #[test]
    fn this_process_has_resident_memory_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(resident_bytes().is_some_and(|bytes| bytes > 0));
        }
    }

    #[test]
    fn the_report_divides_growth_by_jobs() {
        let line = report("tokio", 1000, Some(1 << 20), Some((1 << 20) + 500_000));
        assert!(line.ends_with(" 500 bytes/job"), "{line}");
    }
}
