//! ringlog's hot path: `info!` with the ringload message (a `u64`, an `f64` and a short `&str`)
//! into a shared-memory ring.
//!
//! Cases:
//! * `hot_path/info_1_thread`: one thread; the ring (2^16 slots) is emptied with a
//!   [`Reader`] (untimed) before every burst of at most half the ring, so it never fills.
//!   After each burst the slots are warm in this core's cache: this is the producer alone.
//! * `hot_path/info_1_thread_global`: the same through the global logger (`ringlog::init`,
//!   `info!("...")` without a handle): the global path's extra load, measured beside the handle.
//! * `hot_path/info_2_loggers_alternating`: one thread writing through two loggers (two
//!   segments) in turn, both emptied between bursts: the lane lookup when consecutive calls
//!   go to different loggers (an application log beside an audit log).
//! * `hot_path/info_2_threads`: two threads log at once into the same ring (each into a lane
//!   of its own), emptied the same way between bursts; one iteration = one call on each thread.
//! * `hot_path/info_1_thread_live_drain`: one thread while a drain thread consumes
//!   concurrently ([`ringlog_benches::drain::Drain`]: `Reader` + release, heartbeat kept). Slots
//!   move between cores; if the drain is slower than the producer the ring fills and the
//!   producer waits (policy `Block`), so this is the sustained rate, possibly drain-limited.
//! * `hot_path/debug_disabled`: `debug!` with the same arguments while the level is `Info`.
//!
//! Every case checks afterwards that the ring dropped nothing.

use std::hint::black_box;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ringlog::{Level, Logger, Policy};
use ringlog_benches::drain::Drain;
use ringlog_benches::pair::timed_pair;
use ringlog_segment::reader::Reader;

/// Slots in the ring (4 MiB of 64-byte slots).
const SLOTS: u64 = 1 << 16;
/// Largest burst between two emptyings: half the ring (one record takes one slot).
const BURST: u64 = SLOTS / 2;

fn temp_dir() -> tempfile::TempDir {
    // /dev/shm is where rings live by default; fall back to the usual temp dir.
    tempfile::tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .expect("temp dir")
}

fn logger(dir: &tempfile::TempDir) -> Logger {
    Logger::builder()
        .path(dir.path().join("ring"))
        .slot_count(SLOTS)
        .level(Level::Info)
        .policy(Policy::Block)
        .open()
        .expect("open ring")
}

#[inline(always)]
fn log_one(log: &Logger, i: u64, worker: &str) {
    let lat = i as f64 / 4.0;
    ringlog::info!(log, "request {} served in {} us by {}", i, lat, worker);
}

/// Consumes everything in the ring.
fn empty(reader: &mut Reader<'_>) {
    loop {
        let r = reader.poll(usize::MAX, |ev| {
            black_box(&ev);
        });
        reader.release();
        if r.idle {
            return;
        }
        assert!(!r.stalled, "the ring stalled while being emptied");
    }
}

fn assert_nothing_dropped(log: &Logger) {
    assert_eq!(log.stats().dropped, 0, "the ring filled during the bench");
}

/// The same call through the global logger (`ringlog::init`): the handle-less macro form.
#[inline(always)]
fn log_one_global(i: u64, worker: &str) {
    let lat = i as f64 / 4.0;
    ringlog::info!("request {} served in {} us by {}", i, lat, worker);
}

fn info_1_thread(c: &mut Criterion) {
    one_thread(c, "info_1_thread", false);
}

fn info_1_thread_global(c: &mut Criterion) {
    one_thread(c, "info_1_thread_global", true);
}

/// One thread logging, through its handle or (`global`) through `ringlog::init`'s logger.
fn one_thread(c: &mut Criterion, name: &str, global: bool) {
    let dir = temp_dir();
    let log = logger(&dir);
    if global {
        ringlog::init(log.clone()).expect("the global logger is set once, by this bench");
    }
    let mut reader = Reader::new(log.segment().acquire_drain().expect("no other drain"));
    let worker = black_box(String::from("p0-t0"));
    let mut i = 0u64;
    let mut g = c.benchmark_group("hot_path");
    g.throughput(Throughput::Elements(1));
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = left.min(BURST);
                empty(&mut reader);
                let t = Instant::now();
                if global {
                    for _ in 0..n {
                        log_one_global(black_box(i), &worker);
                        i += 1;
                    }
                } else {
                    for _ in 0..n {
                        log_one(&log, black_box(i), &worker);
                        i += 1;
                    }
                }
                total += t.elapsed();
                left -= n;
            }
            total
        })
    });
    g.finish();
    assert_nothing_dropped(&log);
}

/// One thread writing through two loggers (two segments) in turn, as a service with an
/// application log and an audit log does: each call finds the other logger's lane in the
/// thread's lane cache, not the one the previous call used.
fn info_2_loggers_alternating(c: &mut Criterion) {
    let (dir_a, dir_b) = (temp_dir(), temp_dir());
    let (a, b) = (logger(&dir_a), logger(&dir_b));
    let mut ra = Reader::new(a.segment().acquire_drain().expect("no other drain"));
    let mut rb = Reader::new(b.segment().acquire_drain().expect("no other drain"));
    let worker = black_box(String::from("p0-t0"));
    let mut i = 0u64;
    let mut g = c.benchmark_group("hot_path");
    g.throughput(Throughput::Elements(1));
    g.bench_function("info_2_loggers_alternating", |bench| {
        bench.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                // Each logger takes every other call: a burst of at most BURST calls each.
                let n = left.min(2 * BURST);
                empty(&mut ra);
                empty(&mut rb);
                let t = Instant::now();
                for k in 0..n {
                    let log = if k % 2 == 0 { &a } else { &b };
                    log_one(log, black_box(i), &worker);
                    i += 1;
                }
                total += t.elapsed();
                left -= n;
            }
            total
        })
    });
    g.finish();
    assert_nothing_dropped(&a);
    assert_nothing_dropped(&b);
}

fn info_2_threads(c: &mut Criterion) {
    let dir = temp_dir();
    let log = logger(&dir);
    let mut reader = Reader::new(log.segment().acquire_drain().expect("no other drain"));
    let workers = [String::from("p0-t0"), String::from("p0-t1")];
    let mut g = c.benchmark_group("hot_path");
    // One iteration is one call on each of the two threads.
    g.throughput(Throughput::Elements(2));
    g.bench_function("info_2_threads", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = left.min(BURST / 2);
                empty(&mut reader);
                total += timed_pair(|t| {
                    let worker = black_box(workers[t].as_str());
                    for i in 0..n {
                        log_one(&log, black_box(i), worker);
                    }
                });
                left -= n;
            }
            total
        })
    });
    g.finish();
    assert_nothing_dropped(&log);
}

fn info_1_thread_live_drain(c: &mut Criterion) {
    let dir = temp_dir();
    let log = logger(&dir);
    let drain = Drain::attach(log.segment()).expect("attach the drain");
    let stop = AtomicBool::new(false);
    let worker = black_box(String::from("p0-t0"));
    let mut i = 0u64;
    let mut g = c.benchmark_group("hot_path");
    g.throughput(Throughput::Elements(1));
    std::thread::scope(|s| {
        let stop = &stop;
        let d = s.spawn(move || drain.run(stop));
        g.bench_function("info_1_thread_live_drain", |b| {
            b.iter(|| {
                log_one(&log, black_box(i), &worker);
                i += 1;
            })
        });
        // SYNC: Relaxed; see Drain::run.
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let stats = d.join().expect("drain panicked");
        eprintln!(
            "hot_path/info_1_thread_live_drain: drain consumed {} records, {} loss events",
            stats.records, stats.lost_events
        );
    });
    g.finish();
    assert_nothing_dropped(&log);
}

fn debug_disabled(c: &mut Criterion) {
    let dir = temp_dir();
    let log = logger(&dir);
    let worker = black_box(String::from("p0-t0"));
    let mut i = 0u64;
    let mut g = c.benchmark_group("hot_path");
    g.throughput(Throughput::Elements(1));
    g.bench_function("debug_disabled", |b| {
        b.iter(|| {
            let lat = i as f64 / 4.0;
            ringlog::debug!(
                log,
                "request {} served in {} us by {}",
                black_box(i),
                lat,
                worker.as_str()
            );
            i += 1;
        })
    });
    g.finish();
    assert_nothing_dropped(&log);
    // SYNC: Relaxed; a statistic.
    let claimed = log.segment().backlog();
    assert_eq!(claimed, 0, "a disabled level wrote records");
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    targets = info_1_thread, info_1_thread_global, info_2_loggers_alternating, info_2_threads, info_1_thread_live_drain, debug_disabled
}
criterion_main!(benches);
