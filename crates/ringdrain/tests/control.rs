//! Issue 17 across processes: `ringdrain level` flips the filter of every producer process of a
//! ring; the flight recorder writes what every process logged below `--level` before an error
//! (or a producer's death mid-record) and nothing after; drain-side rate limits count exactly.
//!
//! Producers are this test binary run again as child processes ([`reexec`]); they move from
//! phase to phase when the test creates a `go-N` file and say they finished a phase with a
//! `done-N-K` file, so every record count is exact.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ringlog::{Level, Logger};
use ringlog_testkit::{reexec, Drain, Proc, TestCommand, TestDir, Watchdog, PATIENCE};

const BIN: &str = env!("CARGO_BIN_EXE_ringdrain");
const PRODUCERS: usize = 3;

/// Waits (watchdog) until `path` exists.
fn wait_file(path: &Path) {
    let _w = Watchdog::new(&format!("waiting for {}", path.display()), PATIENCE);
    while !path.exists() {
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn touch(path: &Path) {
    std::fs::write(path, b"").unwrap();
}

fn producer_logger(ring: &Path) -> Logger {
    Logger::builder()
        .path(ring)
        .slot_count(1 << 14)
        .level(Level::Info)
        .open()
        .unwrap()
}

/// Starts `PRODUCERS` children of `test`, each with role `producer-K` and the test dir.
fn spawn_producers(test: &str, dir: &Path) -> Vec<(String, Proc)> {
    (0..PRODUCERS)
        .map(|k| {
            let role = format!("producer-{k}");
            let p = reexec::command(test, &role)
                .env("CONTROL_TEST_DIR", dir)
                .spawn();
            (role, p)
        })
        .collect()
}

fn child_dir() -> PathBuf {
    PathBuf::from(std::env::var("CONTROL_TEST_DIR").expect("CONTROL_TEST_DIR"))
}

fn child_index(role: &str) -> usize {
    role.strip_prefix("producer-").unwrap().parse().unwrap()
}

fn level(ring: &Path, args: &[&str]) -> String {
    TestCommand::new(BIN)
        .arg("level")
        .arg(ring)
        .args(args)
        .stdout()
}

/// Lines of `text` containing `needle`.
fn count(text: &str, needle: &str) -> usize {
    text.lines().filter(|l| l.contains(needle)).count()
}

const FLIP: &str = "ringdrain_level_flips_debug_on_and_off_in_every_producer_process";
/// Directives per phase (`None`: reset) and the levels each process writes in that phase.
const PHASES: [(Option<&str>, &[&str]); 5] = [
    (None, &["INFO", "WARN"]),
    (Some("debug"), &["DEBUG", "INFO", "WARN"]),
    (None, &["INFO", "WARN"]),
    (
        Some("warn,control=trace"),
        &["TRACE", "DEBUG", "INFO", "WARN"],
    ),
    (Some("warn"), &["WARN"]),
];

#[test]
fn ringdrain_level_flips_debug_on_and_off_in_every_producer_process() {
    if reexec::run_child(|role| {
        let k = child_index(role);
        let dir = child_dir();
        let log = producer_logger(&dir.join("ring"));
        for phase in 0..PHASES.len() {
            wait_file(&dir.join(format!("go-{phase}")));
            for i in 0..10u32 {
                ringlog::trace!(log, "phase {} trace {} from {}", phase, i, k);
                ringlog::debug!(log, "phase {} debug {} from {}", phase, i, k);
                ringlog::info!(log, "phase {} info {} from {}", phase, i, k);
                ringlog::warn!(log, "phase {} warn {} from {}", phase, i, k);
            }
            touch(&dir.join(format!("done-{phase}-{k}")));
        }
    }) {
        return;
    }
    let dir = TestDir::new();
    let ring = dir.join("ring");
    // The producers' target is this test's module path (`control`), which phase 3 names.
    let drain = Drain::start(&ring, &dir.out(), &[]);
    ringlog_testkit::segment::wait_attached(&ring);
    let children = spawn_producers(FLIP, dir.path());
    assert!(level(&ring, &[]).contains("no directives set"));
    for (phase, (directives, _)) in PHASES.iter().enumerate() {
        let said = match directives {
            Some(d) => level(&ring, &[d]),
            None if phase == 0 => String::new(),
            None => level(&ring, &["--reset"]),
        };
        if let Some(d) = directives {
            let shown = level(&ring, &[]);
            assert!(said.contains("in force"), "{said}");
            assert!(
                shown.contains(&format!("directives {d} in force")),
                "{shown}"
            );
            assert!(shown.contains("overriding"), "{shown}");
        } else if phase > 0 {
            assert!(said.contains("reset"), "{said}");
            assert!(level(&ring, &[]).contains("no directives set"));
        }
        touch(&dir.join(format!("go-{phase}")));
        for k in 0..PRODUCERS {
            wait_file(&dir.join(format!("done-{phase}-{k}")));
        }
    }
    for (role, p) in children {
        reexec::expect_done(p, &role, PATIENCE);
    }
    drain.stop();
    let text = dir.out_text();
    for (phase, (_, levels)) in PHASES.iter().enumerate() {
        for lvl in ["TRACE", "DEBUG", "INFO", "WARN"] {
            let word = lvl.to_ascii_lowercase();
            for k in 0..PRODUCERS {
                let n = text
                    .lines()
                    .filter(|l| {
                        l.contains(&format!(" {lvl} "))
                            && l.contains(&format!("phase {phase} {word} "))
                            && l.ends_with(&format!(" from {k}"))
                    })
                    .count();
                let want = if levels.contains(&lvl) { 10 } else { 0 };
                assert_eq!(
                    n, want,
                    "phase {phase} ({:?}), producer {k}, {lvl}:\n{text}",
                    PHASES[phase].0
                );
            }
        }
    }
}

const RECORDER: &str =
    "the_flight_recorder_writes_every_processes_debug_lines_before_the_error_and_none_after";

#[test]
fn the_flight_recorder_writes_every_processes_debug_lines_before_the_error_and_none_after() {
    if reexec::run_child(|role| {
        let k = child_index(role);
        let dir = child_dir();
        let log = Logger::builder()
            .path(dir.join("ring"))
            .slot_count(1 << 14)
            .level(Level::Debug)
            .open()
            .unwrap();
        wait_file(&dir.join("go-0"));
        for i in 0..5u32 {
            ringlog::debug!(log, "before {} from {}", i, k);
        }
        ringlog::info!(log, "written {}", k);
        touch(&dir.join(format!("done-0-{k}")));
        wait_file(&dir.join("go-1"));
        if k == 0 {
            ringlog::error!(log, "boom from {}", k, code = 7u32);
        }
        touch(&dir.join(format!("done-1-{k}")));
        wait_file(&dir.join("go-2"));
        for i in 0..5u32 {
            ringlog::debug!(log, "after {} from {}", i, k);
        }
        ringlog::info!(log, "end {}", k);
        touch(&dir.join(format!("done-2-{k}")));
    }) {
        return;
    }
    let dir = TestDir::new();
    let ring = dir.join("ring");
    let drain = Drain::start(
        &ring,
        &dir.out(),
        &["--level", "info", "--flight-recorder", "100"],
    );
    ringlog_testkit::segment::wait_attached(&ring);
    let children = spawn_producers(RECORDER, dir.path());
    for phase in 0..3 {
        touch(&dir.join(format!("go-{phase}")));
        for k in 0..PRODUCERS {
            wait_file(&dir.join(format!("done-{phase}-{k}")));
        }
    }
    for (role, p) in children {
        reexec::expect_done(p, &role, PATIENCE);
    }
    drain.stop();
    let text = dir.out_text();
    let lines: Vec<&str> = text.lines().collect();
    let error_at = lines
        .iter()
        .position(|l| l.contains(" ERROR ") && l.contains("boom from 0 code=7"))
        .unwrap_or_else(|| panic!("no error line:\n{text}"));
    let recalled: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.contains("before "))
        .collect();
    assert_eq!(recalled.len(), 5 * PRODUCERS, "{text}");
    for l in &recalled {
        assert!(l.contains(" DEBUG "), "{l}");
        assert!(l.ends_with(" recalled=true"), "{l}");
    }
    // All of them, from every process, right before the error, in time order.
    let block = &lines[error_at - recalled.len()..error_at];
    assert!(block.iter().all(|l| l.contains("before ")), "{text}");
    for k in 0..PRODUCERS {
        let mine: Vec<&str> = block
            .iter()
            .copied()
            .filter(|l| l.ends_with(&format!("from {k} recalled=true")))
            .collect();
        let want: Vec<String> = (0..5).map(|i| format!("before {i} from {k}")).collect();
        for (l, w) in mine.iter().zip(&want) {
            assert!(l.contains(w.as_str()), "{l} / {w}");
        }
        assert_eq!(mine.len(), 5);
    }
    let ts: Vec<&str> = block.iter().map(|l| &l[..30]).collect();
    let mut sorted = ts.clone();
    sorted.sort();
    assert_eq!(ts, sorted, "recalled lines are in time order");
    assert_eq!(
        count(&text, "after "),
        0,
        "nothing after the error:\n{text}"
    );
    assert_eq!(count(&text, "written "), PRODUCERS);
    assert_eq!(count(&text, "end "), PRODUCERS);
    assert_eq!(count(&text, "recalled=true"), 5 * PRODUCERS);
}

const ABANDON: &str = "a_producer_killed_with_a_record_abandoned_triggers_the_recall";

#[test]
fn a_producer_killed_with_a_record_abandoned_triggers_the_recall() {
    if reexec::run_child(|role| {
        let k = child_index(role);
        let dir = child_dir();
        let log = Logger::builder()
            .path(dir.join("ring"))
            .slot_count(1 << 14)
            .level(Level::Debug)
            .open()
            .unwrap();
        wait_file(&dir.join("go-0"));
        for i in 0..4u32 {
            ringlog::debug!(log, "before {} from {}", i, k, k = k);
        }
        touch(&dir.join(format!("done-0-{k}")));
        if k != 0 {
            return;
        }
        wait_file(&dir.join("go-1"));
        // Die for real in the middle of a record: claim and own a slot, write half, SIGKILL.
        let seg = log.segment();
        let pid = std::process::id();
        let lane = (0..seg.lane_count())
            .map(|i| seg.lane(i))
            .find(|l| l.try_take(pid, pid))
            .unwrap_or_else(|| seg.lane(0));
        let ring = lane.ring();
        let cache = std::sync::atomic::AtomicU64::new(0);
        let claim = ring.claim(1, &cache).expect("room");
        let mut owned = claim.own(std::process::id()).expect("not revoked");
        owned.write(0, &[0u8; 8]);
        std::mem::forget(owned);
        // SAFETY: raise has no preconditions; SIGKILL ends the process here.
        unsafe { libc::raise(libc::SIGKILL) };
        unreachable!("SIGKILL");
    }) {
        return;
    }
    let dir = TestDir::new();
    let ring = dir.join("ring");
    let drain = Drain::start(
        &ring,
        &dir.out(),
        &[
            "--level",
            "info",
            "--flight-recorder",
            "100",
            "--format",
            "json",
        ],
    );
    ringlog_testkit::segment::wait_attached(&ring);
    let mut children = spawn_producers(ABANDON, dir.path());
    touch(&dir.join("go-0"));
    for k in 0..PRODUCERS {
        wait_file(&dir.join(format!("done-0-{k}")));
    }
    touch(&dir.join("go-1"));
    let (_, killed) = children.remove(0);
    let out = killed.finish(PATIENCE);
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(out.status.signal(), Some(libc::SIGKILL), "{out:?}");
    for (role, p) in children {
        reexec::expect_done(p, &role, PATIENCE);
    }
    ringlog_testkit::wait_for_text(&dir.out(), "abandoned");
    drain.stop();
    let text = dir.out_text();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let notice_at = lines
        .iter()
        .position(|v| v["msg"].as_str().is_some_and(|m| m.contains("abandoned")))
        .unwrap_or_else(|| panic!("no abandoned notice:\n{text}"));
    assert_eq!(notice_at, 4 * PRODUCERS, "{text}");
    for v in &lines[..notice_at] {
        assert_eq!(v["level"], "debug", "{v}");
        assert_eq!(v["fields"]["recalled"], true, "{v}");
        assert!(v["msg"].as_str().unwrap().starts_with("before "), "{v}");
        assert!(
            v["fields"]["k"].is_u64(),
            "the record's own fields stay: {v}"
        );
    }
    assert_eq!(
        lines
            .iter()
            .filter(|v| v["fields"]["recalled"] == true)
            .count(),
        4 * PRODUCERS
    );
}

const LIMIT: &str = "rate_limits_write_exactly_n_per_window_and_report_the_rest";

#[test]
fn rate_limits_write_exactly_n_per_window_and_report_the_rest() {
    if reexec::run_child(|role| {
        let k = child_index(role);
        let dir = child_dir();
        let log = producer_logger(&dir.join("ring"));
        for i in 0..200u32 {
            ringlog::info!(target: "app::http", log, "request {} from {}", i, k);
            if i % 4 == 0 {
                ringlog::info!(target: "app::db", log, "query {} from {}", i, k);
            }
            ringlog::info!(target: "other", log, "other {} from {}", i, k);
        }
    }) {
        return;
    }
    let dir = TestDir::new();
    let ring = dir.join("ring");
    for (role, p) in spawn_producers(LIMIT, dir.path()) {
        reexec::expect_done(p, &role, PATIENCE);
    }
    // Drain the backlog: a minute-long window holds every record, so the counts are exact.
    TestCommand::new(BIN)
        .arg("--ring")
        .arg(&ring)
        .arg("--out")
        .arg(dir.out())
        .args([
            "--once",
            "--limit",
            "app::http=100/m",
            "--limit",
            "app::db=20/m",
        ])
        .expect_success();
    let text = dir.out_text();
    assert_eq!(count(&text, "request "), 100, "{text}");
    assert_eq!(count(&text, "query "), 20);
    assert_eq!(count(&text, "other "), 200 * PRODUCERS, "unlimited");
    let notices: Vec<&str> = text.lines().filter(|l| l.contains("suppressed ")).collect();
    assert_eq!(notices.len(), 2, "{text}");
    let http = notices
        .iter()
        .find(|l| l.contains("from app::http"))
        .unwrap();
    assert!(
        http.contains("ringdrain: suppressed 500 records from app::http in the last 60 s suppressed=500 limit="),
        "{http}"
    );
    assert!(http.contains("app::http=100/m"), "{http}");
    let db = notices.iter().find(|l| l.contains("from app::db")).unwrap();
    assert!(db.contains("suppressed=130"), "{db}");
}

#[test]
fn level_refuses_bad_directives_and_a_missing_ring_with_clear_errors() {
    let dir = TestDir::new();
    let ring = dir.join("ring");
    let err = TestCommand::new(BIN)
        .args(["level"])
        .arg(&ring)
        .arg("debug")
        .expect_error();
    assert!(err.contains("cannot open ring"), "{err}");
    producer_logger(&ring);
    let err = TestCommand::new(BIN)
        .arg("level")
        .arg(&ring)
        .arg("info,app=loud")
        .expect_error();
    assert!(err.contains("\"app=loud\""), "{err}");
    assert!(level(&ring, &[]).contains("no directives set"));
    let out = TestCommand::new(BIN)
        .args(["--ring", "x", "--stdout", "--flight-recorder", "10"])
        .expect_error();
    assert!(out.contains("needs --level"), "{out}");
    let out = TestCommand::new(BIN)
        .args(["--ring", "x", "--stdout", "--limit", "app=fast"])
        .expect_error();
    assert!(out.contains("--limit"), "{out}");
}

#[test]
fn a_window_closed_by_the_drains_clock_is_reported_while_it_runs_and_counts_add_up() {
    let dir = TestDir::new();
    let ring = dir.join("ring");
    let drain = Drain::start(&ring, &dir.out(), &["--limit", "control=5/s"]);
    ringlog_testkit::segment::wait_attached(&ring);
    let log = producer_logger(&ring);
    for i in 0..50u32 {
        ringlog::info!(log, "burst {}", i);
    }
    // No record after the burst: only the drain's clock can close the window.
    let text = ringlog_testkit::wait_for_text(&dir.out(), "suppressed ");
    drain.stop();
    assert!(text.contains("from control in the last 1 s"), "{text}");
    let text = dir.out_text();
    let written = count(&text, "burst ");
    let suppressed: usize = text
        .lines()
        .filter_map(|l| l.split("suppressed=").nth(1))
        .map(|v| v.split(' ').next().unwrap().parse::<usize>().unwrap())
        .sum();
    assert_eq!(written + suppressed, 50, "{text}");
    assert!(written >= 5, "{text}");
}
