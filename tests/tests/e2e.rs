//! End to end: `ringload` processes log while `ringdrain` writes the file; every record arrives
//! exactly once, parseable, exact, in order per worker.

use ringlog_tests::{check_load_records, parse_load_message, ringload, text_message, Drain};

const PROCS: u32 = 4;
const THREADS: u32 = 2;
const RECORDS: u64 = 100_000;

fn run(format: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let ring = dir.path().join("ring");
    let out = dir.path().join("out.log");
    let drain = Drain::start(&ring, &out, &["--format", format]);
    let n = RECORDS.to_string();
    let (p, t) = (PROCS.to_string(), THREADS.to_string());
    ringload(&[
        "--ring",
        ring.to_str().unwrap(),
        "--procs",
        &p,
        "--threads",
        &t,
        "--records",
        &n,
    ]);
    drain.stop();
    std::fs::read_to_string(&out).unwrap()
}

#[test]
fn ringload_through_ringdrain_text_has_every_record_exactly_once() {
    let text = run("text");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.len(),
        (PROCS as u64 * THREADS as u64 * RECORDS) as usize,
        "line count"
    );
    let recs = lines.iter().map(|l| {
        let msg = text_message(l).unwrap_or_else(|| panic!("unparseable line {l:?}"));
        parse_load_message(msg).unwrap_or_else(|| panic!("unexpected message {msg:?}"))
    });
    let total = check_load_records(recs, PROCS, THREADS, RECORDS).unwrap();
    assert_eq!(total, 800_000);
}

#[test]
fn ringload_through_ringdrain_json_parses_with_a_real_json_parser() {
    let text = run("json");
    let mut recs = Vec::new();
    for l in text.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
        assert_eq!(v["level"], "info");
        assert!(v["ts"].as_str().unwrap().ends_with('Z'));
        assert!(v["pid"].as_u64().unwrap() > 0);
        let msg = v["msg"].as_str().unwrap();
        recs.push(parse_load_message(msg).unwrap_or_else(|| panic!("unexpected message {msg:?}")));
    }
    assert_eq!(recs.len(), 800_000);
    check_load_records(recs, PROCS, THREADS, RECORDS).unwrap();
}
