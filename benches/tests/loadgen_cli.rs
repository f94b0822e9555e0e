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
