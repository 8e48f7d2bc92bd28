//! `ringdrain` against a hostile or damaged segment and crashes around it (issue 14): a forged
//! or reused drain pid, rotation interrupted mid-rename, a segment mode wider than asked,
//! and the one error line each bad input gives.

use std::path::Path;
use std::sync::atomic::Ordering;

use ringlog::{info, Logger};
use ringlog_testkit::{TestCommand, TestDir};

fn logger(ring: &Path) -> Logger {
    Logger::builder()
        .path(ring)
        .slot_count(1 << 10)
        .open()
        .unwrap()
}

/// The `ringdrain` binary of this package.
fn ringdrain() -> TestCommand {
    TestCommand::new(ringlog_testkit::bin!("ringdrain"))
}

/// `ringdrain --ring RING --out OUT --once`.
fn once(e: &TestDir) -> TestCommand {
    let mut cmd = ringdrain();
    cmd.arg("--ring")
        .arg(e.ring())
        .arg("--out")
        .arg(e.out())
        .arg("--once");
    cmd
}

/// A lease naming a living process (pid 1, which every container has) with a start time that
/// is not its own and a stale heartbeat: a forged lease, or one left by a drain whose pid was
/// reused. A new drain starts and drains.
#[test]
fn a_forged_lease_naming_a_living_pid_does_not_hold_off_a_new_drain() {
    let e = TestDir::new();
    let log = logger(&e.ring());
    for i in 0..3u32 {
        info!(log, "before the forged lease {}", i);
    }
    let seg = ringlog_segment::Segment::open(&e.ring(), &Default::default()).unwrap();
    let real = ringlog_segment::process_start_ticks(1).expect("/proc/1/stat is readable");
    let d = &seg.shared().drain;
    // SYNC: Relaxed; the forger's words (no drain is running).
    d.pid.store(1, Ordering::Relaxed);
    d.pid_stamp.store(
        ringlog_wire::layout::process_stamp(1, real + 7),
        Ordering::Relaxed,
    );
    d.heartbeat_ns.store(1, Ordering::Relaxed);
    let stats = ringdrain()
        .arg("stats")
        .arg(e.ring())
        .args(["--json", "--interval-ms", "1"])
        .stdout();
    let v: serde_json::Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(v["drain_alive"], false, "{stats}");
    once(&e).expect_success();
    let text = e.out_text();
    for i in 0..3 {
        assert!(
            text.contains(&format!("before the forged lease {i}")),
            "{text}"
        );
    }
}
