//! Fuzzes the PromQL parser and printer (`make fuzz`): any input, as lossy UTF-8, must parse or
//! return an error, never panic or overflow the stack, and whatever parses must survive the
//! `format_query` round trip: the printed query parses again, to the same tree, and prints
//! identically. `narthex_promql::roundtrip::check_input` is the whole check, with Prometheus's
//! default options, with every experimental feature, and with a mix chosen by the first byte;
//! `crates/promql/tests/fuzz_corpus.rs` runs it over the corpus in `cargo test`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(failure) = narthex_promql::roundtrip::check_input(data) {
        panic!("{failure}");
    }
});
