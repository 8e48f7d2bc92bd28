//! Several processes (each with several threads) logging concurrently into one segment while
//! this process reads it: every record exactly once, each thread's records in order, values
//! exact, and every record carrying its writer's pid.
//!
//! The producer processes are this very test run again (`ringlog_testkit::reexec`): the parent
//! starts the test binary with `--exact` on this test and a role `producer-<c>`; in the child,
//! the same test function sees its role and logs its share instead. The child part runs in
//! every ordinary run, and the parent checks that each child ran it to the end.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::Duration;

use ringlog::{info, Logger, Policy};
use ringlog_segment::reader::Event;
use ringlog_segment::{Segment, SegmentConfig};
use ringlog_testkit::segment::{act_as_drain, read_while_producing, u64_arg};
use ringlog_testkit::{reexec, Proc, TestDir, Watchdog};
use ringlog_wire::args::Arg;

/// The test's own name, for re-running it as a child.
const TEST: &str = "records_from_several_processes_arrive_once_each_in_order_with_their_pids";
/// The environment variable giving a child the ring's path.
const ENV_RING: &str = "RINGLOG_TEST_PROCESSES_RING";

const CHILDREN: u64 = 3;
const THREADS: u64 = 2;
const PER_THREAD: u64 = 50_000;

/// The child's part: child `c` logs its share from `THREADS` threads.
fn produce(role: &str) {
    let c: u64 = role
        .strip_prefix("producer-")
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("unexpected role {role:?}"));
    let path = std::env::var(ENV_RING).expect("the parent passes the ring's path");
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

fn spawn_child(path: &std::path::Path, c: u64) -> Proc {
    reexec::command(TEST, &format!("producer-{c}"))
        .env(ENV_RING, path)
        .spawn()
}

#[test]
fn records_from_several_processes_arrive_once_each_in_order_with_their_pids() {
    if reexec::run_child(produce) {
        return;
    }
    let _watchdog = Watchdog::new(
        "several producer processes and a concurrent reader",
        Duration::from_secs(180),
    );
    let dir = TestDir::new();
    let path = dir.ring();
    // A ring much smaller than the 300,000 records, so it wraps and producers wait for us.
    let config = SegmentConfig {
        slot_count: 4096,
        ..SegmentConfig::default()
    };
    let (segment, created) = Segment::create_or_open(&path, &config).unwrap();
    assert!(created);
    // Take the drain lease before any producer starts, so that a producer finding the ring
    // full waits for us (Policy::Block) instead of dropping.
    let lease = act_as_drain(&segment);

    let mut children: Vec<Proc> = (0..CHILDREN).map(|c| spawn_child(&path, c)).collect();
    let pids: Vec<u32> = children.iter().map(Proc::id).collect();

    let n = (CHILDREN * THREADS) as usize;
    let mut next = vec![0u64; n];
    let mut tids = vec![0u32; n];
    let mut lost = Vec::new();
    // A child is done once it exited (reaped here; its status is checked below).
    let finished = || children.iter_mut().all(Proc::has_exited);
    let reader = read_while_producing(lease, finished, |ev| match ev {
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
    for (c, child) in children.into_iter().enumerate() {
        reexec::expect_done(child, &format!("producer-{c}"), Duration::from_secs(60));
    }
    assert!(lost.is_empty(), "lost: {lost:?}");
    assert_eq!(next, vec![PER_THREAD; n], "records per child thread");
    let distinct: HashSet<_> = tids.iter().collect();
    assert_eq!(distinct.len(), n, "every thread has its own tid: {tids:?}");
    assert_eq!(segment.shared().counters.dropped.load(Ordering::Relaxed), 0);
    // Each record is 60 bytes (24 of header, 4 tagged numbers), so it spans two 56-byte slot
    // bodies: no slot was skipped or abandoned.
    assert_eq!(
        reader.positions().total(),
        2 * CHILDREN * THREADS * PER_THREAD
    );
}
