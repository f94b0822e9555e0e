//! `loadgen` run as a process: its command line as documented.

use std::process::Command;

#[test]
fn help_prints_the_usage_and_exits_0() {
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .arg("--help")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(out.stdout.starts_with(b"usage: loadgen "), "{out:?}");
    assert!(out.stderr.is_empty(), "{out:?}");
}

#[test]
fn a_mistake_prints_the_usage_and_exits_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .arg("--frobnicate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage: loadgen "));
}

/// A short run through the async-std embedded server, in the load's task and
/// on a thread of its own: every job comes back right.
#[test]
fn async_std_runs_end_with_every_job_right_wherever_the_server_runs() {
    for layout in [&[][..], &["--server-thread"][..]] {
        let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
            .args([
                "--adapter",
                "async-std",
                "--jobs",
                "300",
                "--concurrency",
                "8",
            ])
            .args(layout)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{layout:?}: {out:?}");
        assert!(stdout.contains("jobs=300 "), "{layout:?}: {stdout}");
        assert!(stdout.contains(" wrong=0 "), "{layout:?}: {stdout}");
    }
}
