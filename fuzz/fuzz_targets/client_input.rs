#![no_main]
// Invariants live in gearman_proto::invariants, shared with the corpus test.
libfuzzer_sys::fuzz_target!(|data: &[u8]| gearman_proto::invariants::check_client_input(data));
