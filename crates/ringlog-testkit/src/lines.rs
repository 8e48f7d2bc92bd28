//! Reading what `ringdrain` wrote: the parts of a text line, JSON lines.

use std::path::Path;

/// The lines of the file at `path`; fails the test if it cannot be read.
pub fn read_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .lines()
        .map(str::to_string)
        .collect()
}

/// The text after `TS LEVEL [pid:tid] ` of a text-format line, `target: message fields`,
/// failing the test if the line's level is not `level`.
pub fn text_body<'a>(line: &'a str, level: &str) -> &'a str {
    let level_at = line.find(' ').map(|i| i + 1).unwrap_or_else(|| {
        panic!("no timestamp in {line:?}");
    });
    assert_eq!(
        line[level_at..].split_whitespace().next(),
        Some(level),
        "level of {line:?}"
    );
    let close = line
        .find("] ")
        .unwrap_or_else(|| panic!("no [pid:tid] in {line:?}"));
    &line[close + 2..]
}

/// The message (and fields) of a text-format line, after `target: `; `None` if `line` is not
/// one.
pub fn text_message(line: &str) -> Option<&str> {
    let (_, rest) = line.split_once("] ")?;
    Some(rest.split_once(": ").map_or(rest, |(_, m)| m))
}

/// Each line parsed as JSON; fails the test, naming the line, on one that is not.
pub fn json_lines<S: AsRef<str>>(lines: &[S]) -> Vec<serde_json::Value> {
    lines
        .iter()
        .map(|l| {
            let l = l.as_ref();
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))
        })
        .collect()
}
