//! Configuration: per-target directives for the native macros, and settings from the
//! environment.

use std::time::Duration;

use ringlog::filter::Directives;
use ringlog::{debug, info, trace, warn, Level, Logger, LoggerError};
use ringlog_segment::reader::Reader;
use ringlog_testkit::TestDir;

mod quiet {
    pub fn log_all(log: &ringlog::Logger) {
        ringlog::info!(log, "quiet info");
        ringlog::warn!(log, "quiet warn");
    }
}

mod chatty {
    pub mod db {
        pub fn log_all(log: &ringlog::Logger) {
            ringlog::trace!(log, "db trace");
        }
    }
}

fn messages(log: &Logger) -> Vec<String> {
    let (recs, _) =
        Reader::new(log.segment().acquire_drain().unwrap()).read_owned(Duration::from_secs(1));
    recs.into_iter().map(|r| r.message).collect()
}

#[test]
fn directives_filter_native_macros_by_module() {
    let dir = TestDir::new();
    let d: Directives = format!(
        "info,{m}::quiet=warn,{m}::chatty::db=trace",
        m = module_path!()
    )
    .parse()
    .unwrap();
    let log = Logger::builder()
        .path(dir.join("r"))
        .slot_count(1024)
        .directives(d)
        .open()
        .unwrap();
    info!(log, "top info");
    debug!(log, "top debug");
    quiet::log_all(&log);
    chatty::db::log_all(&log);
    assert_eq!(
        messages(&log),
        ["top info", "quiet warn", "db trace"],
        "per-target levels"
    );
    // Bridges ask the same filter for their own targets.
    let m = module_path!();
    assert!(log.enabled_for(&format!("{m}::chatty::db::pool"), Level::Trace));
    assert!(!log.enabled_for(&format!("{m}::quiet"), Level::Info));
    assert!(log.enabled_for("elsewhere", Level::Info));
    assert!(!log.enabled_for("elsewhere", Level::Debug));
    assert_eq!(log.max_level(), Some(Level::Trace));
    assert!(log.directives().is_some());
    // Changing the directives at run time re-resolves every callsite.
    log.set_directives("warn".parse().unwrap());
    info!(log, "top info");
    warn!(log, "top warn");
    chatty::db::log_all(&log);
    assert_eq!(messages(&log), ["top warn"]);
    log.set_level(Some(Level::Trace));
    trace!(log, "now everything");
    quiet::log_all(&log);
    assert_eq!(
        messages(&log),
        ["now everything", "quiet info", "quiet warn"]
    );
}

#[test]
fn settings_come_from_the_environment() {
    let dir = TestDir::new();
    let path = dir.join("envring");
    let vars = |k: &str| -> Option<String> {
        match k {
            "RINGLOG_RING" => Some(path.to_str().unwrap().to_string()),
            "RINGLOG_LOG" => Some("debug".into()),
            "RUST_LOG" => Some("error".into()),
            "RINGLOG_POLICY" => Some("block:20ms".into()),
            "RINGLOG_RING_SIZE" => Some("64k".into()),
            "RINGLOG_MODE" => Some("640".into()),
            _ => None,
        }
    };
    let log = Logger::builder().from_vars(vars).unwrap().open().unwrap();
    assert_eq!(
        log.segment().header().slot_count,
        1024,
        "64k / 64-byte slots"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o640
    );
    debug!(log, "debug is on");
    trace!(log, "trace is off");
    assert_eq!(messages(&log), ["debug is on"]);
    // Bad values are clear errors naming the variable.
    for (k, v, want) in [
        (
            "RINGLOG_POLICY",
            "sometimes",
            "RINGLOG_POLICY=\"sometimes\"",
        ),
        ("RINGLOG_LOG", "info,x=loud", "RINGLOG_LOG"),
        ("RINGLOG_RING_SIZE", "12q", "RINGLOG_RING_SIZE"),
    ] {
        let err = Logger::builder()
            .from_vars(|name| (name == k).then(|| v.to_string()))
            .unwrap_err();
        assert!(matches!(err, LoggerError::Config(_)));
        assert!(err.to_string().contains(want), "{err}");
    }
    let err = Logger::builder()
        .from_vars(|_| None)
        .unwrap()
        .open()
        .unwrap_err();
    assert!(err.to_string().contains("RINGLOG_RING"), "{err}");
}
