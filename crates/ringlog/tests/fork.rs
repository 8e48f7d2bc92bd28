//! A logger keeps working across `fork()`: the child's records carry the child's pid (the value
//! `fork` returned to the parent) and the child's own thread id, the parent's keep the parent's,
//! and the child registers itself as a producer of the segment.
//!
//! This file holds a single test on purpose: `fork` in a process with other running threads is
//! only safe if the child does little, and a lone test keeps the harness's other threads idle.

use std::time::Duration;

use ringlog::{info, Logger};
use ringlog_segment::reader::Reader;
use ringlog_testkit::fork::fork_child;
use ringlog_testkit::{TestDir, Watchdog};

/// One call site for both processes, so the child logs through a callsite the parent already
/// registered and allocates nothing after `fork`.
fn log_one(log: &Logger, who: &str, i: u64) {
    info!(log, "{} {}", who, i);
}

const N: u64 = 100;

#[test]
fn a_forked_child_logs_with_its_own_pid_and_tid_and_the_parent_keeps_its_own() {
    let _watchdog = Watchdog::new("fork, log in the child, wait", Duration::from_secs(60));
    let dir = TestDir::new();
    let log = Logger::builder()
        .path(dir.ring())
        .slot_count(1024)
        .open()
        .unwrap();
    for i in 0..N {
        log_one(&log, "parent", i);
    }
    let parent_pid = std::process::id();
    let parent_tid = rustix::thread::gettid().as_raw_nonzero().get() as u32;

    // SAFETY: the child only logs through a callsite already registered (stack buffers and
    // atomics on the shared mapping, no allocation and no locks); fork_child `_exit`s it
    // without running destructors or atexit handlers.
    let child = unsafe {
        fork_child(|| {
            for i in 0..N {
                log_one(&log, "child", i);
            }
        })
    };
    let child_pid = child.pid();
    child.expect_success("logging in the child", Duration::from_secs(60));
    assert_ne!(child_pid, parent_pid);

    // The parent goes on logging with its own ids after the fork.
    for i in N..2 * N {
        log_one(&log, "parent", i);
    }

    // The child registered itself as a producer when it first logged.
    let producers: Vec<u32> = log
        .segment()
        .shared()
        .producers
        .iter()
        .map(|p| p.load(std::sync::atomic::Ordering::Relaxed))
        .collect();
    assert!(producers.contains(&parent_pid), "{producers:?}");
    assert!(producers.contains(&child_pid), "{producers:?}");

    let (records, lost) = Reader::new(log.segment()).read_owned(Duration::from_secs(10));
    assert!(lost.is_empty(), "{lost:?}");
    let (mut parent_i, mut child_i) = (Vec::new(), Vec::new());
    for r in &records {
        let (who, i) = r.message.split_once(' ').unwrap();
        let i: u64 = i.parse().unwrap();
        match who {
            "parent" => {
                assert_eq!(
                    (r.pid, r.tid),
                    (parent_pid, parent_tid),
                    "parent record {i}"
                );
                parent_i.push(i);
            }
            "child" => {
                // The forking thread is the child's only thread, so its tid is the child's pid.
                assert_eq!((r.pid, r.tid), (child_pid, child_pid), "child record {i}");
                child_i.push(i);
            }
            other => panic!("unexpected record from {other:?}"),
        }
    }
    assert_eq!(parent_i, (0..2 * N).collect::<Vec<_>>());
    assert_eq!(child_i, (0..N).collect::<Vec<_>>());
    assert_eq!(records.len() as u64, 3 * N);
    assert_eq!(log.stats().dropped, 0);
}
