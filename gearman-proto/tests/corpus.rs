//! Runs the fuzz targets' invariant checks over every file of the fuzz
//! corpus, so the checks stay compiled and the corpus is a regression suite.

use std::fs;
use std::path::{Path, PathBuf};

use gearman_proto::invariants::{
    check_admin_stream, check_client_input, check_frame_stream, check_packet_stream,
    check_server_input, check_worker_input,
};

fn corpus_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    let mut files = Vec::new();
    for target in fs::read_dir(&root).expect("fuzz/corpus exists") {
        let target = target.expect("readable corpus directory").path();
        if !target.is_dir() {
            continue;
        }
        for file in fs::read_dir(&target).expect("readable target corpus") {
            let file = file.expect("readable corpus entry").path();
            if file.is_file() {
                files.push(file);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn every_corpus_file_holds_the_invariants() {
    let files = corpus_files();
    for target in [
        "decode_packet",
        "decode_frame",
        "admin_response",
        "server_input",
        "client_input",
        "worker_input",
    ] {
        let count = files
            .iter()
            .filter(|f| f.parent().and_then(Path::file_name) == Some(target.as_ref()))
            .count();
        assert!(count > 0, "no seeds for {target}");
    }
    for file in &files {
        let data = fs::read(file).expect("readable corpus file");
        // Every input goes through every check: each is total over bytes.
        let outcome = std::panic::catch_unwind(|| {
            check_packet_stream(&data);
            check_frame_stream(&data);
            check_admin_stream(&data);
            check_server_input(&data);
            check_client_input(&data);
            check_worker_input(&data);
        });
        assert!(outcome.is_ok(), "invariant broken by {}", file.display());
    }
}
