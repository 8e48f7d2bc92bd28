//! Replays the committed fuzz corpora (`fuzz/corpus/<target>/`) through the very checks the
//! cargo-fuzz targets run, so every input the fuzzers kept, and every regression input, is
//! re-checked by plain `cargo test` on stable. The checks live in `fuzz/src/` and are included
//! here with `#[path]`; see `fuzz/README.md` for the targets and how to run them.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

// Both files are shared with the fuzz crate, which uses all of their items; this test uses
// only some.
#[allow(dead_code)]
#[path = "../../../fuzz/src/input.rs"]
mod input;
#[allow(dead_code)]
#[path = "../../../fuzz/src/wire_checks.rs"]
mod wire_checks;

/// The files of one target's corpus, sorted by name; fails if there are none.
fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.unwrap().path();
        let hidden = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if hidden || !path.is_file() {
            continue;
        }
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        files.push((path, data));
    }
    files.sort();
    assert!(!files.is_empty(), "no corpus files in {}", dir.display());
    files
}

/// Runs `check` on every file of `target`'s corpus, naming the file that fails.
fn replay(target: &str, check: fn(&[u8])) {
    for (path, data) in corpus(target) {
        if catch_unwind(AssertUnwindSafe(|| check(&data))).is_err() {
            panic!("fuzz input {} fails its check", path.display());
        }
    }
}

#[test]
fn segment_validate_corpus_replays_cleanly() {
    replay("segment_validate", wire_checks::check_segment_validate);
}

#[test]
fn record_decode_corpus_replays_cleanly() {
    replay("record_decode", wire_checks::check_record_decode);
}

#[test]
fn callsite_decode_corpus_replays_cleanly() {
    replay("callsite_decode", wire_checks::check_callsite_decode);
}

#[test]
fn render_corpus_replays_cleanly() {
    replay("render", wire_checks::check_render);
}
