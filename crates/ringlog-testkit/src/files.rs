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

/// Waits until the text of `path` satisfies `done` and returns it; a watchdog ([`PATIENCE`])
/// fails the test with `what` if it never does.
fn wait_for_file(path: &Path, what: &str, mut done: impl FnMut(&str) -> bool) -> String {
    let mut text = String::new();
    wait_until(
        &format!("{} never {what}", path.display()),
        PATIENCE,
        || {
            text = read_or_empty(path);
            done(&text)
        },
    );
    text
}

/// Waits until `path` holds at least `n` lines and returns its text (watchdog: [`PATIENCE`]).
pub fn wait_for_lines(path: &Path, n: usize) -> String {
    wait_for_file(path, &format!("held {n} lines"), |t| t.lines().count() >= n)
}

/// Waits until `path` contains `needle` and returns its text (watchdog: [`PATIENCE`]).
pub fn wait_for_text(path: &Path, needle: &str) -> String {
    wait_for_file(path, &format!("contained {needle:?}"), |t| {
        t.contains(needle)
    })
}
