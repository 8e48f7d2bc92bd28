//! A logger keeps working across `fork()`: the child's records carry the child's pid (the value
//! `fork` returned to the parent) and the child's own thread id, the parent's keep the parent's,
//! and the child registers itself as a producer of the segment.
//!
//! This file holds a single test on purpose: `fork` in a process with other running threads is
//! only safe if the child does little, and a lone test keeps the harness's other threads idle.

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use ringlog::{info, Logger};
use ringlog_segment::reader::Reader;

/// Fails the test binary with a message if the guarded section does not finish in `limit`: a
/// hang detector with a generous limit, not a timing assertion.
struct Watchdog(Option<mpsc::Sender<()>>);

impl Watchdog {
    fn new(what: &'static str, limit: Duration) -> Watchdog {
        let (tx, rx) = mpsc::channel::<()>();
        thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
                eprintln!("watchdog: {what} did not finish within {limit:?}; it hangs");
                std::process::exit(101);
            }
        });
        Watchdog(Some(tx))
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}

/// One call site for both processes, so the child logs through a callsite the parent already
/// registered and allocates nothing after `fork`.
fn log_one(log: &Logger, who: &str, i: u64) {
    info!(log, "{} {}", who, i);
}

const N: u64 = 100;

#[test]
fn a_forked_child_logs_with_its_own_pid_and_tid_and_the_parent_keeps_its_own() {
    let _watchdog = Watchdog::new("fork, log in the child, wait", Duration::from_secs(60));
    let dir = tempfile::tempdir().unwrap();
    let log = Logger::builder()
        .path(dir.path().join("ring"))
        .slot_count(1024)
        .open()
        .unwrap();
    for i in 0..N {
        log_one(&log, "parent", i);
    }
    let parent_pid = std::process::id();
    let parent_tid = rustix::thread::gettid().as_raw_nonzero().get() as u32;

    // SAFETY: the child only logs through a callsite already registered (stack buffers and
    // atomics on the shared mapping, no allocation and no locks) and then `_exit`s without
    // running destructors or atexit handlers.
    let child = unsafe { libc::fork() };
    assert!(
        child >= 0,
        "fork failed: {}",
        std::io::Error::last_os_error()
    );
    if child == 0 {
        // Never unwind out of here: the child would go on running the test harness (and drop
        // the parent's temp dir).
        let ok = std::panic::catch_unwind(|| {
            for i in 0..N {
                log_one(&log, "child", i);
            }
        })
        .is_ok();
        // SAFETY: ends the child at once, as a forked child of a threaded process must.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    let mut status = 0;
    // SAFETY: waits for our own child; `status` is a valid out pointer.
    let waited = unsafe { libc::waitpid(child, &mut status, 0) };
    assert_eq!(waited, child);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "child status {status:#x}"
    );
    let child = child as u32;
    assert_ne!(child, parent_pid);

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
    assert!(producers.contains(&child), "{producers:?}");

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
                assert_eq!((r.pid, r.tid), (child, child), "child record {i}");
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
