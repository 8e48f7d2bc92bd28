//! A logger keeps working across `fork()`: the child's records carry the child's pid (the value
//! `fork` returned to the parent) and the child's own thread id, the parent's keep the parent's,
//! and the child registers itself as a producer of the segment.
//!
//! The second test forks while another thread keeps resolving callsites (the cold path of a log
//! call): a child must never inherit a lock that thread held, or its first log call through a
//! callsite it has not resolved yet hangs.
//!
//! `fork` in a process with other running threads is only safe if the child does little: every
//! child here only logs (atomics on the shared mapping, stack buffers) and then `_exit`s.

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use ringlog::filter::Directives;
use ringlog::{debug, info, Logger};
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
        .producers()
        .iter()
        .map(|p| p.load(std::sync::atomic::Ordering::Relaxed))
        .collect();
    assert!(producers.contains(&parent_pid), "{producers:?}");
    assert!(producers.contains(&child_pid), "{producers:?}");

    let (records, lost) =
        Reader::new(log.segment().acquire_drain().unwrap()).read_owned(Duration::from_secs(10));
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

/// Logs through a callsite the parent never uses, so in every child it is not yet resolved and
/// the first call takes the cold path (register the callsite, resolve its level).
fn log_fresh_in_child(log: &Logger, i: u64) {
    info!(log, "child {}", i);
}

/// The hammering thread's callsite: two loggers alternate through it, so its cached resolution
/// (one logger key at a time) is always stale and every call takes the cold path.
fn log_resolving(log: &Logger, i: u64) {
    debug!(log, "hammer {}", i);
}

/// Waits for `child`; kills it and fails with a message if it has not exited after `limit` (a
/// hang detector with a generous limit, not a timing assertion).
fn wait_or_fail(child: libc::pid_t, fork_no: u64, limit: Duration) {
    let start = Instant::now();
    loop {
        let mut status = 0;
        // SAFETY: polls our own child; `status` is a valid out pointer.
        let waited = unsafe { libc::waitpid(child, &mut status, libc::WNOHANG) };
        if waited == child {
            assert!(
                libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
                "child of fork {fork_no} ended with status {status:#x}"
            );
            return;
        }
        assert_eq!(waited, 0, "waitpid: {}", std::io::Error::last_os_error());
        if start.elapsed() >= limit {
            // SAFETY: kills and reaps our own child.
            unsafe {
                libc::kill(child, libc::SIGKILL);
                libc::waitpid(child, &mut status, 0);
            }
            panic!(
                "child of fork {fork_no} hung for {limit:?} on its first log call: it inherited \
                 a lock another thread held at the fork"
            );
        }
        thread::sleep(Duration::from_millis(1));
    }
}

const FORKS: u64 = 300;

#[test]
fn a_child_forked_while_another_thread_resolves_callsites_can_log_at_once() {
    let _watchdog = Watchdog::new(
        "fork while another thread resolves callsites",
        Duration::from_secs(600),
    );
    let dir = tempfile::tempdir().unwrap();
    // Many directives so resolving a callsite's level takes a while; `fork` (this test's
    // module) stays at info, so the hammering thread's debug records are filtered out after
    // resolution and only the children write records.
    let mut directives = String::from("info");
    for t in 0..64 {
        directives.push_str(&format!(",some::other::target{t}=trace"));
    }
    let directives: Directives = directives.parse().unwrap();
    let open = || {
        Logger::builder()
            .path(dir.path().join("ring"))
            .slot_count(1024)
            .directives(directives.clone())
            .open()
            .unwrap()
    };
    let (a, b) = (open(), open());
    let stop = AtomicBool::new(false);
    thread::scope(|s| {
        s.spawn(|| {
            let mut i = 0u64;
            // SYNC: Relaxed; a stop flag, nothing depends on its ordering.
            while !stop.load(Ordering::Relaxed) {
                log_resolving(&a, i);
                log_resolving(&b, i);
                i += 1;
            }
        });
        // Stops the hammering thread however the loop below ends, so a failure is reported
        // instead of the scope waiting forever for that thread.
        struct Stop<'a>(&'a AtomicBool);
        impl Drop for Stop<'_> {
            fn drop(&mut self) {
                // SYNC: Relaxed; a stop flag, nothing depends on its ordering.
                self.0.store(true, Ordering::Relaxed);
            }
        }
        let _stop = Stop(&stop);
        for k in 0..FORKS {
            // SAFETY: the child only logs (atomics on the shared mapping, stack buffers) and
            // `_exit`s without running destructors or atexit handlers.
            let child = unsafe { libc::fork() };
            assert!(
                child >= 0,
                "fork failed: {}",
                std::io::Error::last_os_error()
            );
            if child == 0 {
                let ok = std::panic::catch_unwind(|| log_fresh_in_child(&a, k)).is_ok();
                // SAFETY: ends the child at once, as a forked child of a threaded process must.
                unsafe { libc::_exit(if ok { 0 } else { 1 }) };
            }
            wait_or_fail(child, k, Duration::from_secs(20));
        }
    });

    // Every child's record arrived, each with its own pid.
    let (records, lost) =
        Reader::new(a.segment().acquire_drain().unwrap()).read_owned(Duration::from_secs(10));
    assert!(lost.is_empty(), "{lost:?}");
    let mut seen: Vec<u64> = records
        .iter()
        .map(|r| {
            let i = r
                .message
                .strip_prefix("child ")
                .expect("only children write");
            i.parse().unwrap()
        })
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..FORKS).collect::<Vec<_>>());
    assert_eq!(a.stats().dropped, 0);
}
