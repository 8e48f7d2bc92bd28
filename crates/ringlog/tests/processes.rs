//! Several processes (each with several threads) logging concurrently into one segment while
//! this process reads it: every record exactly once, each thread's records in order, values
//! exact, and every record carrying its writer's pid.
//!
//! The producer processes are this test binary run again: the parent re-executes itself with
//! `--exact <CHILD_TEST>` and the ring's path and the child's index in the environment; the
//! child test does nothing when those variables are absent (an ordinary test run).

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use ringlog::{info, Logger, Policy};
use ringlog_segment::clock::unix_ns;
use ringlog_segment::reader::{Event, Reader, StallPolicy};
use ringlog_segment::{Segment, SegmentConfig};
use ringlog_wire::args::Arg;

const ENV_RING: &str = "RINGLOG_TEST_PROCESSES_RING";
const ENV_CHILD: &str = "RINGLOG_TEST_PROCESSES_CHILD";
const CHILD_TEST: &str = "child_process_logs_its_share_when_the_parent_runs_it";

const CHILDREN: u64 = 3;
const THREADS: u64 = 2;
const PER_THREAD: u64 = 50_000;

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

/// The producer side, run in a child process (does nothing in an ordinary test run).
#[test]
fn child_process_logs_its_share_when_the_parent_runs_it() {
    let (Ok(path), Ok(child)) = (std::env::var(ENV_RING), std::env::var(ENV_CHILD)) else {
        return;
    };
    let c: u64 = child.parse().unwrap();
    let log = Logger::builder()
        .path(path)
        .policy(Policy::Block)
        .stale_after(Duration::from_secs(3600))
        .open()
        .unwrap();
    thread::scope(|s| {
        for t in 0..THREADS {
            let log = &log;
            s.spawn(move || {
                for i in 0..PER_THREAD {
                    info!(log, "c {} t {} i {} v {}", c, t, i, i as f64 / 4.0);
                }
            });
        }
    });
    assert_eq!(log.stats().dropped, 0, "child {c} dropped records");
}

fn spawn_child(path: &std::path::Path, c: u64) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([CHILD_TEST, "--exact", "--nocapture", "--test-threads", "1"])
        .env(ENV_RING, path)
        .env(ENV_CHILD, c.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("re-run the test binary as a producer")
}

fn u64_arg(a: &Arg<'_>) -> u64 {
    match a {
        Arg::U64(v) => *v,
        other => panic!("expected a u64, got {other:?}"),
    }
}

#[test]
fn records_from_several_processes_arrive_once_each_in_order_with_their_pids() {
    let _watchdog = Watchdog::new(
        "several producer processes and a concurrent reader",
        Duration::from_secs(180),
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ring");
    // A ring much smaller than the 300,000 records, so it wraps and producers wait for us.
    let config = SegmentConfig {
        slot_count: 4096,
        ..SegmentConfig::default()
    };
    let (segment, created) = Segment::create_or_open(&path, &config).unwrap();
    assert!(created);
    // Take the drain lease before any producer starts, so that a producer finding the ring
    // full waits for us (Policy::Block) instead of dropping.
    let lease = segment.acquire_drain().unwrap();
    let drain = &segment.shared().drain;

    let mut children: Vec<Child> = (0..CHILDREN).map(|c| spawn_child(&path, c)).collect();
    let pids: Vec<u32> = children.iter().map(Child::id).collect();

    // A reader that never revokes a living producer's claim, however long it is descheduled.
    let mut reader = Reader::new(lease).with_policy(StallPolicy {
        grace: Duration::from_secs(600),
        liveness_interval: Duration::from_millis(10),
    });
    let n = (CHILDREN * THREADS) as usize;
    let mut next = vec![0u64; n];
    let mut tids = vec![0u32; n];
    let mut lost = Vec::new();
    let mut exited = vec![false; children.len()];
    loop {
        // SYNC: Relaxed; a liveness hint for the producers' Block policy.
        drain.heartbeat_ns.store(unix_ns(), Ordering::Relaxed);
        for (c, child) in children.iter_mut().enumerate() {
            exited[c] = exited[c] || child.try_wait().unwrap().is_some();
        }
        let done = exited.iter().all(|&e| e);
        let r = reader.poll(4096, |ev| match ev {
            Event::Record { record, callsite } => {
                let cs = callsite
                    .expect("callsite resolves")
                    .expect("has a callsite");
                assert_eq!(cs.format, "c {} t {} i {} v {}");
                let args: Vec<_> = record.args().collect::<Result<_, _>>().unwrap();
                assert_eq!(args.len(), 4, "{args:?}");
                let (c, t, i) = (u64_arg(&args[0]), u64_arg(&args[1]), u64_arg(&args[2]));
                assert!(c < CHILDREN && t < THREADS, "child {c} thread {t}");
                assert_eq!(record.header.pid, pids[c as usize], "pid of child {c}");
                let k = (c * THREADS + t) as usize;
                assert_eq!(
                    i, next[k],
                    "child {c} thread {t}: record {i} where {} was due",
                    next[k]
                );
                assert_eq!(args[3], Arg::F64(i as f64 / 4.0));
                if tids[k] == 0 {
                    tids[k] = record.header.tid;
                }
                assert_eq!(
                    record.header.tid, tids[k],
                    "child {c} thread {t} changed tid"
                );
                next[k] += 1;
            }
            Event::Lost(l) => lost.push(l),
        });
        reader.release();
        if done && r.idle {
            break;
        }
        if r.idle || r.stalled {
            thread::sleep(Duration::from_micros(100));
        }
    }
    for (c, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "child {c} failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // The child really ran the producer test (not zero tests).
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("1 passed"),
            "child {c} did not run {CHILD_TEST}:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    assert!(lost.is_empty(), "lost: {lost:?}");
    assert_eq!(next, vec![PER_THREAD; n], "records per child thread");
    let distinct: HashSet<_> = tids.iter().collect();
    assert_eq!(distinct.len(), n, "every thread has its own tid: {tids:?}");
    assert_eq!(segment.shared().counters.dropped.load(Ordering::Relaxed), 0);
    // Each record is 60 bytes (24 of header, 4 tagged numbers), so it spans two 56-byte slot
    // bodies: no slot was skipped or abandoned.
    assert_eq!(reader.position(), 2 * CHILDREN * THREADS * PER_THREAD);
}
