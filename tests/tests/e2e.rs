//! End to end: `ringload` processes log while `ringdrain` writes the file; every record arrives
//! exactly once, parseable, exact, in order per worker.

use ringlog_testkit::lines::{json_lines, text_message};
use ringlog_testkit::{Drain, TestDir};
use ringlog_tests::{check_load_records, parse_load_message, ringload_into};

const PROCS: u32 = 4;
const THREADS: u32 = 2;
const RECORDS: u64 = 100_000;
const TOTAL: usize = PROCS as usize * THREADS as usize * RECORDS as usize;

/// Runs ringload through a drain writing `format`; returns the drained file's text.
fn run(format: &str) -> String {
    let dir = TestDir::new();
    let drain = Drain::start(&dir.ring(), &dir.out(), &["--format", format]);
    ringload_into(&dir.ring(), PROCS, THREADS, RECORDS);
    drain.stop();
    dir.out_text()
}

#[test]
fn ringload_through_ringdrain_as_text_writes_every_record_exactly_once() {
    let text = run("text");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), TOTAL, "line count");
    let recs = lines.iter().map(|l| {
        let msg = text_message(l).unwrap_or_else(|| panic!("unparseable line {l:?}"));
        parse_load_message(msg).unwrap_or_else(|| panic!("unexpected message {msg:?}"))
    });
    let total = check_load_records(recs, PROCS, THREADS, RECORDS).unwrap();
    assert_eq!(total, TOTAL as u64);
}

#[test]
fn ringload_through_ringdrain_as_json_parses_with_a_real_json_parser() {
    let text = run("json");
    let lines: Vec<&str> = text.lines().collect();
    let mut recs = Vec::new();
    for v in json_lines(&lines) {
        assert_eq!(v["level"], "info");
        assert!(v["ts"].as_str().unwrap().ends_with('Z'));
        assert!(v["pid"].as_u64().unwrap() > 0);
        let msg = v["msg"].as_str().unwrap();
        recs.push(parse_load_message(msg).unwrap_or_else(|| panic!("unexpected message {msg:?}")));
    }
    assert_eq!(recs.len(), TOTAL);
    check_load_records(recs, PROCS, THREADS, RECORDS).unwrap();
}
