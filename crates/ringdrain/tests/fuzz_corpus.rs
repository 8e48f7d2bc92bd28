//! Replays the committed corpora of the fuzz targets that need more than the wire crate:
//! `drain_format` (the formatter), `archive` (the binary archive decoder), `decode_parallel`
//! (`ringdrain decode` with two threads against one), `reader_live` (the
//! segment `Reader` over a live ring being scribbled on) and the `Segment::open` half of
//! `segment_validate`, through
//! the very checks the cargo-fuzz targets run (`fuzz/src/drain_checks.rs`, included here with
//! `#[path]`). The wire-only checks replay in `crates/ringlog-wire/tests/fuzz_corpus.rs`.

use ringlog_testkit::corpus::replay;

// These files are shared with the fuzz crate, which uses all of their items; this test uses
// only some.
#[allow(dead_code)]
#[path = "../../../fuzz/src/archive_checks.rs"]
mod archive_checks;
#[allow(dead_code)]
#[path = "../../../fuzz/src/drain_checks.rs"]
mod drain_checks;
#[allow(dead_code)]
#[path = "../../../fuzz/src/input.rs"]
mod input;
#[allow(dead_code)]
#[path = "../../../fuzz/src/reader_checks.rs"]
mod reader_checks;
#[allow(dead_code)]
#[path = "../../../fuzz/src/wire_checks.rs"]
mod wire_checks;

#[test]
fn every_drain_format_corpus_input_passes_its_check() {
    replay("drain_format", drain_checks::check_drain_format);
}

#[test]
fn every_segment_validate_corpus_input_opens_or_fails_cleanly() {
    replay("segment_validate", drain_checks::check_segment_open);
}

#[test]
fn every_archive_corpus_input_decodes_without_panic_and_round_trips() {
    replay("archive", archive_checks::check_archive);
}

#[test]
fn every_decode_parallel_corpus_input_decodes_with_two_threads_as_with_one() {
    replay("decode_parallel", archive_checks::check_parallel_decode);
}

#[test]
fn every_reader_live_corpus_input_drains_with_bounded_polls_and_memory() {
    replay("reader_live", reader_checks::check_reader_live);
}
