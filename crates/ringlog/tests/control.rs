//! Directives set on the segment's control page (what `ringdrain level` writes) override every
//! logger of the segment on its next call, and a reset gives each its own filter back.

use ringlog::filter::Directives;
use ringlog::{Level, Logger};

fn logger(dir: &tempfile::TempDir, level: Level) -> Logger {
    Logger::builder()
        .path(dir.path().join("r"))
        .slot_count(1024)
        .level(level)
        .open()
        .unwrap()
}

fn set(l: &Logger, d: Option<&str>) {
    l.segment()
        .control()
        .set(d, std::process::id(), 1, |_| false)
        .unwrap();
}

#[test]
fn a_change_on_the_control_page_applies_on_the_next_call_and_a_reset_restores_the_own_filter() {
    let dir = tempfile::tempdir().unwrap();
    let a = logger(&dir, Level::Info);
    let b = logger(&dir, Level::Warn);
    assert!(!a.enabled(Level::Debug));
    let key = a.filter_key();
    set(&a, Some("debug,quiet=error"));
    assert!(a.enabled(Level::Debug), "applied on the next check");
    assert!(b.enabled(Level::Debug), "every logger of the segment");
    assert!(a.control_overridden());
    assert_ne!(a.filter_key(), key, "caches re-resolve");
    assert!(!a.enabled_for("quiet::x", Level::Warn));
    assert!(a.enabled_for("loud", Level::Debug));
    assert!(!a.enabled(Level::Trace));
    set(&a, None);
    assert!(!a.enabled(Level::Debug));
    assert!(a.enabled(Level::Info));
    assert!(!b.enabled(Level::Info));
    assert!(b.enabled(Level::Warn));
    assert!(!a.control_overridden());
}

#[test]
fn the_own_filter_changed_while_overridden_takes_effect_on_reset() {
    let dir = tempfile::tempdir().unwrap();
    let a = logger(&dir, Level::Info);
    set(&a, Some("trace"));
    assert!(a.enabled(Level::Trace));
    a.set_directives("error,app=debug".parse::<Directives>().unwrap());
    assert!(a.enabled(Level::Trace), "the override stays in effect");
    set(&a, None);
    assert!(!a.enabled_for("other", Level::Warn));
    assert!(a.enabled_for("app::x", Level::Debug));
    assert_eq!(a.max_level(), Some(Level::Debug));
}

#[test]
fn a_logger_opened_after_a_change_applies_it_on_its_first_call() {
    let dir = tempfile::tempdir().unwrap();
    let a = logger(&dir, Level::Info);
    set(&a, Some("off"));
    let late = logger(&dir, Level::Trace);
    assert!(!late.enabled(Level::Error));
    assert_eq!(late.max_level(), None);
}

#[test]
fn native_macros_follow_the_control_page() {
    let dir = tempfile::tempdir().unwrap();
    let a = logger(&dir, Level::Info);
    // Resolve the callsite under the own filter first, so its cache must be invalidated.
    for _ in 0..2 {
        ringlog::debug!(a, "debug {}", 1u32);
        ringlog::info!(a, "info {}", 1u32);
    }
    set(&a, Some("info,control=debug"));
    for _ in 0..2 {
        ringlog::debug!(a, "debug {}", 2u32);
    }
    set(&a, Some("info"));
    ringlog::debug!(a, "debug {}", 3u32);
    let (records, _) = ringlog_segment::reader::Reader::new(a.segment().acquire_drain().unwrap())
        .read_owned(std::time::Duration::from_secs(1));
    let messages: Vec<&str> = records.iter().map(|r| r.message.as_str()).collect();
    assert_eq!(messages, ["info 1", "info 1", "debug 2", "debug 2"]);
}
