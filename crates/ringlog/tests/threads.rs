//! Threads of one process logging into one ring through the macros. Smoke: disabled levels
//! write nothing at all. Edge: the full-ring policies with nobody draining (`Drop` counts
//! exactly what it drops, and `Block` turns into counted drops instead of hanging when no drain
//! is alive). Stress: four threads logging 400,000 records read back while they run, every
//! record exactly once, each thread's records in order, values exact.

use std::sync::atomic::Ordering;
use std::thread;
use std::time::Duration;

use ringlog::{info, Level, Logger, Policy};
use ringlog_segment::clock::unix_ns;
use ringlog_segment::reader::{Event, Reader};
use ringlog_testkit::segment::{act_as_drain, patient_reader, read_while_producing, u64_arg};
use ringlog_testkit::{TestDir, Watchdog};
use ringlog_wire::args::Arg;

/// Logs `n` records `i = 0..n` from each of `threads` threads; returns when all are done.
fn log_from_threads(log: &Logger, threads: u64, n: u64) {
    thread::scope(|s| {
        for t in 0..threads {
            s.spawn(move || {
                for i in 0..n {
                    info!(log, "t {} i {}", t, i);
                }
            });
        }
    });
}

/// A `Policy::Block` logger of `slots` slots per lane whose drain (the test, acting as one)
/// never goes stale.
fn blocking_logger(dir: &TestDir, slots: u64) -> Logger {
    Logger::builder()
        .path(dir.ring())
        .slot_count(slots)
        .policy(Policy::Block)
        .stale_after(Duration::from_secs(3600))
        .open()
        .unwrap()
}

/// Reads everything committed; returns each thread's record indices in ring order.
fn read_indices(log: &Logger, threads: u64) -> Vec<Vec<u64>> {
    let mut per_thread = vec![Vec::new(); threads as usize];
    let (records, lost) =
        patient_reader(log.segment().acquire_drain().unwrap()).read_owned(Duration::from_secs(10));
    assert!(lost.is_empty(), "lost: {lost:?}");
    for r in &records {
        let (t, i) = r
            .message
            .strip_prefix("t ")
            .and_then(|m| m.split_once(" i "))
            .unwrap_or_else(|| panic!("unexpected message {:?}", r.message));
        per_thread[t.parse::<usize>().unwrap()].push(i.parse().unwrap());
    }
    per_thread
}

#[test]
fn disabled_levels_write_nothing_and_do_not_evaluate_their_arguments() {
    let dir = TestDir::new();
    let log = Logger::builder()
        .path(dir.ring())
        .slot_count(64)
        .level(Level::Warn)
        .open()
        .unwrap();
    let evaluated = std::cell::Cell::new(0);
    let arg = || {
        evaluated.set(evaluated.get() + 1);
        7u32
    };
    info!(log, "info {}", arg());
    ringlog::debug!(log, "debug {}", arg());
    ringlog::trace!(log, "trace {}", arg(), k = arg());
    let claim = || log.segment().backlog();
    assert_eq!(claim(), 0, "nothing was claimed");
    assert_eq!(
        log.segment().callsites().count(),
        0,
        "nothing was registered"
    );

    ringlog::warn!(log, "warn {}", arg());
    ringlog::error!(log, "error {}", arg());
    assert_eq!(claim(), 2);

    log.set_level(None);
    ringlog::error!(log, "off {}", arg());
    assert_eq!(claim(), 2, "level None turns everything off");
    log.set_level(Some(Level::Trace));
    ringlog::trace!(log, "trace on {}", arg());
    assert_eq!(claim(), 3);
    assert_eq!(
        evaluated.get(),
        3,
        "only enabled calls evaluate their arguments"
    );

    let lease = log.segment().acquire_drain().unwrap();
    let (records, lost) = Reader::new(lease).read_owned(Duration::from_secs(5));
    assert!(lost.is_empty());
    let messages: Vec<_> = records.iter().map(|r| r.message.as_str()).collect();
    assert_eq!(messages, ["warn 7", "error 7", "trace on 7"]);
    assert_eq!(log.stats().dropped, 0);
}

#[test]
fn drop_policy_on_a_full_ring_counts_every_record_it_did_not_write() {
    let _watchdog = Watchdog::new("logging with Policy::Drop", Duration::from_secs(60));
    let dir = TestDir::new();
    let log = Logger::builder()
        .path(dir.ring())
        .slot_count(16)
        .policy(Policy::Drop)
        .open()
        .unwrap();
    let (threads, n) = (3, 1000);
    // Nobody drains: each thread holds a lane of its own, whose first 16 records fill it;
    // every later one is dropped.
    log_from_threads(&log, threads, n);
    let per_thread = read_indices(&log, threads);
    let read: u64 = per_thread.iter().map(|v| v.len() as u64).sum();
    assert_eq!(read, threads * 16, "each lane holds exactly its capacity");
    assert_eq!(
        log.stats().dropped,
        threads * n - read,
        "read + dropped == attempted"
    );
    for (t, idx) in per_thread.iter().enumerate() {
        // Once a lane is full it stays full, so what a thread got in is a prefix of its
        // records, in order: exactly its lane's capacity.
        assert_eq!(*idx, (0..16).collect::<Vec<_>>(), "thread {t}");
    }
    // The segment remembers when dropping started, for the drain's report.
    assert_ne!(
        log.segment()
            .shared()
            .counters
            .dropped_since_ns
            .load(Ordering::Relaxed),
        0
    );
}

#[test]
fn block_policy_with_no_drain_attached_drops_and_counts_instead_of_hanging() {
    let _watchdog = Watchdog::new(
        "Policy::Block with no drain (it must drop, not wait forever)",
        Duration::from_secs(60),
    );
    let dir = TestDir::new();
    let log = Logger::builder()
        .path(dir.ring())
        .slot_count(16)
        .policy(Policy::Block)
        .open()
        .unwrap();
    assert!(!log.drain_alive());
    log_from_threads(&log, 2, 100);
    let per_thread = read_indices(&log, 2);
    let read: u64 = per_thread.iter().map(|v| v.len() as u64).sum();
    // One lane of 16 slots per thread.
    assert_eq!(read, 2 * 16);
    assert_eq!(log.stats().dropped, 200 - 2 * 16);
}

#[test]
fn block_policy_with_a_stale_drain_heartbeat_drops_and_counts_instead_of_hanging() {
    let _watchdog = Watchdog::new(
        "Policy::Block with a dead drain (it must drop, not wait forever)",
        Duration::from_secs(60),
    );
    let dir = TestDir::new();
    let log = Logger::builder()
        .path(dir.ring())
        .slot_count(16)
        .policy(Policy::Block)
        .stale_after(Duration::from_millis(200))
        .open()
        .unwrap();
    // A drain attached (it holds the lease), then went silent two seconds ago.
    let lease = log.segment().acquire_drain().unwrap();
    let drain = &log.segment().shared().drain;
    drain
        .heartbeat_ns
        .store(unix_ns() - 2_000_000_000, Ordering::Relaxed);
    assert!(!log.drain_alive());
    log_from_threads(&log, 1, 40);
    drop(lease);
    assert_eq!(read_indices(&log, 1), [(0..16).collect::<Vec<u64>>()]);
    assert_eq!(log.stats().dropped, 40 - 16);
}

/// A `Policy::Block` producer on a full lane sleeps on the segment's room word instead of
/// polling: it announces itself there, uses next to no CPU while the drain frees nothing, and
/// the drain's release takes the announcement back (waking it) and lets its record in.
#[test]
fn a_blocked_producer_sleeps_on_the_room_word_until_the_drain_frees_room() {
    use ringlog_wire::wake::{NO_WAITERS, WAITERS};
    let _watchdog = Watchdog::new(
        "a blocked producer waiting for the drain",
        Duration::from_secs(60),
    );
    let dir = TestDir::new();
    let log = blocking_logger(&dir, 16);
    let lease = act_as_drain(log.segment());
    let cpu = || rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    let blocked = Duration::from_secs(1);
    thread::scope(|s| {
        let producer = s.spawn(|| {
            for i in 0..16u64 {
                info!(log, "t {} i {}", 0, i);
            }
            // The lane is full: this call waits for the drain.
            let before = cpu();
            info!(log, "t {} i {}", 0, 16);
            let after = cpu();
            let ns = |t: rustix::time::Timespec| t.tv_sec * 1_000_000_000 + t.tv_nsec;
            Duration::from_nanos((ns(after) - ns(before)) as u64)
        });
        // The producer announced its wait on the room word and sleeps there.
        let room = log.segment().room_word();
        let until = std::time::Instant::now() + Duration::from_secs(30);
        while room.load(Ordering::Relaxed) != WAITERS {
            assert!(
                std::time::Instant::now() < until,
                "the producer never announced its wait"
            );
            thread::sleep(Duration::from_millis(1));
        }
        thread::sleep(blocked);
        assert_eq!(log.stats().dropped, 0);
        // The drain frees room: its release wakes the producer (and takes the word back).
        let mut reader = patient_reader(lease);
        let mut read = 0;
        reader.poll(4, |ev| {
            if let Event::Record { .. } = ev {
                read += 1;
            }
        });
        reader.release();
        assert_eq!(read, 4);
        let spent = producer.join().unwrap();
        assert_eq!(
            room.load(Ordering::Relaxed),
            NO_WAITERS,
            "the drain's release did not take the announcement back"
        );
        // Polling every 50 us (the way before the room word) spent ~100 ms of CPU a blocked
        // second here; sleeping on the word, a wake-up every ROOM_WAIT (5 ms) at most.
        assert!(
            spent < Duration::from_millis(40),
            "the blocked producer spent {spent:?} of CPU in {blocked:?}"
        );
        let (records, lost) = reader.read_owned(Duration::from_secs(10));
        assert!(lost.is_empty(), "lost: {lost:?}");
        assert_eq!(
            records.len(),
            13,
            "the 12 records left and the one that waited"
        );
        assert_eq!(records.last().unwrap().message, "t 0 i 16");
    });
}

const THREADS: u64 = 4;
const PER_THREAD: u64 = 100_000;

#[test]
fn four_threads_records_arrive_once_each_in_order_with_exact_values_while_read_concurrently() {
    let _watchdog = Watchdog::new(
        "four threads logging into one ring",
        Duration::from_secs(120),
    );
    let dir = TestDir::new();
    // 1024 slots for 400,000 records: the ring wraps hundreds of times and producers block on
    // it while the main thread drains.
    let log = blocking_logger(&dir, 1024);
    let lease = act_as_drain(log.segment());
    let producers: Vec<_> = (0..THREADS)
        .map(|t| {
            let log = log.clone();
            thread::spawn(move || {
                for i in 0..PER_THREAD {
                    info!(log, "t {} i {} v {}", t, i, i as f64 / 4.0);
                }
                rustix::thread::gettid().as_raw_nonzero().get() as u32
            })
        })
        .collect();

    let mut next = [0u64; THREADS as usize];
    let mut tids = [0u32; THREADS as usize];
    let mut lost = Vec::new();
    let finished = || producers.iter().all(|p| p.is_finished());
    let reader = read_while_producing(lease, finished, |ev| match ev {
        Event::Record { record, callsite } => {
            let cs = callsite
                .expect("callsite resolves")
                .expect("has a callsite");
            assert_eq!(cs.format, "t {} i {} v {}");
            assert_eq!(record.level(), Level::Info);
            assert_eq!(record.header.pid, std::process::id());
            let args: Vec<_> = record.args().collect::<Result<_, _>>().unwrap();
            assert_eq!(args.len(), 3, "{args:?}");
            let (t, i) = (u64_arg(&args[0]), u64_arg(&args[1]));
            assert!(t < THREADS, "thread {t}");
            let t = t as usize;
            assert_eq!(
                i, next[t],
                "thread {t}: record {i} where {} was due",
                next[t]
            );
            assert_eq!(args[2], Arg::F64(i as f64 / 4.0));
            if tids[t] == 0 {
                tids[t] = record.header.tid;
            }
            assert_eq!(record.header.tid, tids[t], "thread {t} changed tid");
            next[t] += 1;
        }
        Event::Lost(l) => lost.push(l),
    });
    let real_tids: Vec<u32> = producers.into_iter().map(|p| p.join().unwrap()).collect();
    assert!(lost.is_empty(), "lost: {lost:?}");
    assert_eq!(next, [PER_THREAD; THREADS as usize], "records per thread");
    assert_eq!(
        tids.to_vec(),
        real_tids,
        "each record carries its thread's tid"
    );
    assert_eq!(log.stats().dropped, 0);
    assert_eq!(
        reader.positions().total(),
        THREADS * PER_THREAD,
        "one slot per record, none skipped"
    );
}

/// One callsite (a helper's) written through two loggers in turn: each logger's records carry
/// that logger's callsite id and follow that logger's filter, through the callsite's two-entry
/// id cache and the thread's two-entry lane cache, and across a filter change on one of them.
#[test]
fn a_callsite_written_through_two_loggers_in_turn_keeps_each_loggers_ids_and_filter() {
    use ringlog::filter::Directives;
    fn note(log: &Logger, i: u64) {
        info!(log, "note {}", i);
    }
    let (dir_a, dir_b) = (TestDir::new(), TestDir::new());
    let open = |dir: &TestDir| {
        Logger::builder()
            .path(dir.ring())
            .slot_count(4096)
            .level(Level::Trace)
            .open()
            .unwrap()
    };
    let (a, b) = (open(&dir_a), open(&dir_b));
    // Another callsite first in B, so the helper's id differs between the two tables.
    info!(b, "first");
    let n = 2000u64;
    for i in 0..n {
        if i == n / 2 {
            // From here on B filters the helper's level out (a new filter key for B only).
            b.set_directives("warn".parse::<Directives>().unwrap());
        }
        note(if i % 2 == 0 { &a } else { &b }, i);
    }
    let read = |log: &Logger| {
        let (records, lost) = patient_reader(log.segment().acquire_drain().unwrap())
            .read_owned(Duration::from_secs(10));
        assert!(lost.is_empty(), "lost: {lost:?}");
        records
    };
    let (ra, rb) = (read(&a), read(&b));
    let msgs = |rs: &[ringlog_wire::view::OwnedRecord]| -> Vec<String> {
        rs.iter().map(|r| r.message.clone()).collect()
    };
    let want_a: Vec<String> = (0..n).step_by(2).map(|i| format!("note {i}")).collect();
    let mut want_b = vec!["first".to_string()];
    want_b.extend((1..n / 2).step_by(2).map(|i| format!("note {i}")));
    assert_eq!(msgs(&ra), want_a);
    assert_eq!(msgs(&rb), want_b);
    // Each logger's records of the helper carry one id, its own table's.
    let ids = |rs: &[ringlog_wire::view::OwnedRecord]| -> std::collections::BTreeSet<u32> {
        rs.iter()
            .filter(|r| r.message.starts_with("note "))
            .map(|r| r.callsite)
            .collect()
    };
    assert_eq!(ids(&ra).len(), 1, "{:?}", ids(&ra));
    assert_eq!(ids(&rb).len(), 1, "{:?}", ids(&rb));
    assert_ne!(
        ids(&ra),
        ids(&rb),
        "the two tables gave the helper the same id"
    );
    // And each logger's records went into one lane the thread keeps (no borrowed lanes).
    for (log, name) in [(&a, "a"), (&b, "b")] {
        let used: Vec<u64> = (0..log.segment().lane_count())
            .map(|l| {
                log.segment()
                    .lane(l)
                    .header()
                    .cursors
                    .claim
                    .load(Ordering::Relaxed)
            })
            .filter(|&c| c > 0)
            .collect();
        assert_eq!(used.len(), 1, "logger {name} wrote into lanes {used:?}");
    }
}
