//! Smoke tests: records logged through the macros come back exact through the reader.

use std::time::Duration;

use ringlog::{info, warn, Level, Logger};
use ringlog_segment::reader::Reader;
use ringlog_testkit::TestDir;
use ringlog_wire::decode::Value;

fn logger(dir: &TestDir) -> Logger {
    Logger::builder()
        .path(dir.join("ring"))
        .slot_count(1024)
        .level(Level::Info)
        .open()
        .unwrap()
}

#[test]
fn a_logged_record_reads_back_with_message_fields_and_ids() {
    let dir = TestDir::new();
    let log = logger(&dir);
    let worker = String::from("p0-t1");
    info!(
        log,
        "request {} served in {} us by {}",
        7u64,
        1.75f64,
        worker.as_str(),
        status = 200u16
    );
    warn!(log, "slow", ms = 1.5f64);
    ringlog::debug!(log, "filtered out {}", 1);
    let mut reader = Reader::new(log.segment().acquire_drain().unwrap());
    let (recs, lost) = reader.read_owned(Duration::from_secs(1));
    assert!(lost.is_empty());
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0].message, "request 7 served in 1.75 us by p0-t1");
    assert_eq!(
        recs[0].fields,
        vec![("status".to_string(), Value::U64(200))]
    );
    assert_eq!(recs[0].level, Level::Info);
    assert_eq!(recs[0].pid, std::process::id());
    assert!(recs[0].file.ends_with("smoke.rs"));
    assert_eq!(recs[1].message, "slow");
    assert_eq!(recs[1].level, Level::Warn);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    assert!(
        (now - recs[0].unix_ns).abs() < 5_000_000_000,
        "timestamp {} vs now {now}",
        recs[0].unix_ns
    );
}

#[test]
fn long_messages_span_slots_and_overlong_ones_are_truncated_visibly() {
    let dir = TestDir::new();
    let log = logger(&dir);
    let medium = "m".repeat(300);
    let huge = "h".repeat(5000);
    info!(log, "medium {}", medium.as_str());
    info!(log, "huge {} then {}", huge.as_str(), 5u8);
    let (recs, _) =
        Reader::new(log.segment().acquire_drain().unwrap()).read_owned(Duration::from_secs(1));
    assert_eq!(recs[0].message, format!("medium {medium}"));
    assert!(recs[1].truncated);
    assert!(recs[1].message.starts_with("huge hhhh"));
    assert!(
        recs[1].message.ends_with("then {?} [truncated]"),
        "{}",
        &recs[1].message[recs[1].message.len() - 40..]
    );
    assert_eq!(log.stats().truncated, 1);
}
