//! Replays the committed fuzz corpora (`fuzz/corpus/<target>/`) through the very checks the
//! cargo-fuzz targets run, so every input the fuzzers kept, and every regression input, is
//! re-checked by plain `cargo test` on stable. The checks live in `fuzz/src/` and are included
//! here with `#[path]`; see `fuzz/README.md` for the targets and how to run them.

use ringlog_testkit::corpus::replay;

// Both files are shared with the fuzz crate, which uses all of their items; this test uses
// only some.
#[allow(dead_code)]
#[path = "../../../fuzz/src/input.rs"]
mod input;
#[allow(dead_code)]
#[path = "../../../fuzz/src/wire_checks.rs"]
mod wire_checks;

#[test]
fn every_segment_validate_corpus_input_passes_its_check() {
    replay("segment_validate", wire_checks::check_segment_validate);
}

#[test]
fn every_record_decode_corpus_input_passes_its_check() {
    replay("record_decode", wire_checks::check_record_decode);
}

#[test]
fn every_callsite_decode_corpus_input_passes_its_check() {
    replay("callsite_decode", wire_checks::check_callsite_decode);
}

#[test]
fn every_render_corpus_input_passes_its_check() {
    replay("render", wire_checks::check_render);
}
