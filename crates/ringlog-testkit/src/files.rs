//! Waiting until a file holds what a test expects.

use std::path::Path;

use crate::{wait_until, PATIENCE};

fn read_or_empty(path: &Path) -> String {
    match std::fs::read_to_string(path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => panic!("read {}: {e}", path.display()),
    }
}

/// Lines in `path` (0 if it does not exist yet).
pub fn count_lines(path: &Path) -> usize {
    read_or_empty(path).lines().count()
}

/// Waits until `path` holds at least `n` lines and returns its text; a watchdog
/// ([`PATIENCE`]) fails the test, saying how many lines there were, if they never come.
pub fn wait_for_lines(path: &Path, n: usize) -> String {
    let mut text = String::new();
    wait_until(
        &format!("{} never held {n} lines", path.display()),
        PATIENCE,
        || {
            text = read_or_empty(path);
            text.lines().count() >= n
        },
    );
    text
}

/// Waits until `path` contains `needle` and returns its text (watchdog: [`PATIENCE`]).
pub fn wait_for_text(path: &Path, needle: &str) -> String {
    let mut text = String::new();
    wait_until(
        &format!("{} never contained {needle:?}", path.display()),
        PATIENCE,
        || {
            text = read_or_empty(path);
            text.contains(needle)
        },
    );
    text
}
