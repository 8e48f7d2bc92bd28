//! Fuzz checks for ringlog: the properties the cargo-fuzz targets in `fuzz_targets/` assert.
//!
//! Every check takes raw bytes, so the targets are one line each and the same checks replay the
//! committed corpora (`fuzz/corpus/<target>/`) under plain `cargo test`: the replay tests in
//! `crates/ringlog-wire/tests/fuzz_corpus.rs` and `crates/ringdrain/tests/fuzz_corpus.rs`
//! include these files with `#[path]`. Structured values are read from the bytes with
//! [`input::Input`], whose format is fixed (see its docs), rather than with `arbitrary`.
//!
//! | module | checks |
//! |---|---|
//! | [`wire_checks`] | `segment_validate` (layout), `record_decode`, `callsite_decode`, `render` |
//! | [`drain_checks`] | `segment_validate` (`Segment::open`), `drain_format` |
//! | [`archive_checks`] | `archive` (ringdrain's binary archive decoder), `decode_parallel` (`ringdrain decode`'s threads against one) |
//! | [`reader_checks`] | `reader_live` (ringlog-segment's `Reader` over a live ring being scribbled on) |

pub mod archive_checks;
pub mod drain_checks;
pub mod input;
pub mod reader_checks;
pub mod wire_checks;
