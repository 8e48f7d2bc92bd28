//! `ringload` end to end: a small run against a temp ring reports valid JSON, and every record
//! it logged reads back exact; a bad flag fails with one line.

use std::collections::HashSet;

use ringlog_segment::reader::{Event, Reader};
use ringlog_segment::{Segment, SegmentConfig};
use ringlog_testkit::{TestCommand, TestDir};
use ringlog_wire::args::Arg;

/// The `ringload` command with `args` (the kit's watchdog fails the test if it hangs).
fn ringload(args: &[&str]) -> TestCommand {
    let mut cmd = TestCommand::new(ringlog_testkit::bin!("ringload"));
    cmd.args(args);
    cmd
}

#[test]
fn a_small_run_reports_json_and_every_record_reads_back_exactly_once() {
    let dir = TestDir::new();
    let ring = dir.ring();
    let (procs, threads, records) = (2u32, 2u32, 320u64);
    let unix_ns = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
    };
    let launched = unix_ns();
    let stdout = ringload(&[
        "--ring",
        ring.to_str().unwrap(),
        "--procs",
        &procs.to_string(),
        "--threads",
        &threads.to_string(),
        "--records",
        &records.to_string(),
        "--slot-count",
        "4096",
        "--batch",
        "16",
        "--json",
    ])
    .stdout();
    assert_eq!(stdout.lines().count(), 1, "one JSON object: {stdout}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let total = procs as u64 * threads as u64 * records;
    assert_eq!(v["records"], total);
    assert_eq!(v["dropped"], 0);
    assert_eq!(v["slot_count"], 4096);
    assert_eq!(
        v["per_call_ns"]["samples"].as_u64().unwrap()
            + v["batched_ns"]["batches"].as_u64().unwrap() * 16,
        total,
        "every call is timed one way or the other: {v}"
    );
    for key in ["p50", "p99", "p999", "mean"] {
        assert!(v["per_call_ns"][key].is_number(), "{key} missing: {v}");
    }
    assert!(v["batched_ns"]["median"].as_f64().unwrap() > 0.0);
    assert!(v["throughput_per_s"].as_f64().unwrap() > 0.0);
    // The first call's wall-clock time (bench-e2e.sh's start): after the launch, before the
    // report, and no later than the wall time before the last call's finish.
    let start = v["start_unix_ns"].as_u64().expect("start_unix_ns");
    let reported = unix_ns();
    assert!(
        launched <= start && start <= reported,
        "start_unix_ns {start} outside [{launched}, {reported}]"
    );
    let wall_ns = (v["wall_s"].as_f64().unwrap() * 1e9) as u64;
    assert!(start + wall_ns <= reported, "{v}");

    let seg = Segment::open(&ring, &SegmentConfig::default()).unwrap();
    let mut reader = Reader::new(seg.acquire_drain().unwrap());
    let mut seen = HashSet::new();
    let mut problems = Vec::new();
    loop {
        let r = reader.poll(usize::MAX, |ev| match ev {
            Event::Record { record, callsite } => {
                let cs = callsite
                    .expect("callsite resolves")
                    .expect("has a callsite");
                assert_eq!(cs.format, "request {} served in {} us by {}");
                let args: Vec<Arg<'_>> = record.args().collect::<Result<_, _>>().unwrap();
                match args[..] {
                    [Arg::U64(i), Arg::F64(lat), Arg::Str(worker)] => {
                        if lat.to_bits() != (i as f64 / 4.0).to_bits() {
                            problems.push(format!("{worker} record {i}: lat {lat}"));
                        }
                        if !seen.insert((worker.to_string(), i)) {
                            problems.push(format!("{worker} record {i} twice"));
                        }
                    }
                    _ => problems.push(format!("unexpected arguments {args:?}")),
                }
            }
            Event::Lost(l) => problems.push(format!("lost: {l:?}")),
        });
        reader.release();
        if r.idle {
            break;
        }
    }
    assert!(problems.is_empty(), "{problems:?}");
    for p in 0..procs {
        for t in 0..threads {
            for i in 0..records {
                assert!(
                    seen.contains(&(format!("p{p}-t{t}"), i)),
                    "p{p}-t{t} record {i} missing"
                );
            }
        }
    }
    assert_eq!(seen.len() as u64, total);
}

#[test]
fn a_bad_flag_fails_with_one_line() {
    let out = ringload(&["--ring", "x", "--procs", "1", "--threads", "1", "--bogus"]).output();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("ringload: "), "{stderr}");
    assert!(stderr.contains("--bogus"), "{stderr}");
}

#[test]
fn a_missing_ring_directory_fails_with_one_line() {
    let dir = TestDir::new();
    let ring = dir.join("no/such/dir/ring");
    let stderr = ringload(&[
        "--ring",
        ring.to_str().unwrap(),
        "--procs",
        "1",
        "--threads",
        "1",
        "--records",
        "10",
    ])
    .expect_one_line_error();
    assert!(stderr.contains("does not exist"), "{stderr}");
}
