//! Replaying the committed fuzz corpora (`fuzz/corpus/<target>/`) through the checks the
//! cargo-fuzz targets run, so plain `cargo test` on stable re-checks every kept input.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

/// The files of `target`'s corpus (hidden files left out), sorted by name; fails the test if
/// there are none, so a moved corpus cannot turn the replay into a test of nothing.
pub fn files(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = crate::workspace_root().join("fuzz/corpus").join(target);
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.expect("read the corpus directory").path();
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

/// Runs `check` on every file of `target`'s corpus, naming the file whose check fails.
pub fn replay(target: &str, check: fn(&[u8])) {
    for (path, data) in files(target) {
        if catch_unwind(AssertUnwindSafe(|| check(&data))).is_err() {
            panic!("fuzz input {} fails its check", path.display());
        }
    }
}
