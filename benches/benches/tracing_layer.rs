//! One `tracing` event, `info!(i, lat, worker, "request served")`, through ringlog's layer and
//! through `tracing-subscriber`'s `fmt` layer, each writing a file in a temp dir:
//!
//! * `tracing_layer/ring_layer`: `Registry` + `RingLayer` into a ring (2^16 slots, policy
//!   `Block`) while a `ringdrain` drain loop (`ringdrain::drain::run`, text format) runs on a
//!   thread of its own and writes the file. The caller encodes the fields in binary; a literal
//!   message (as here) is recognised and left in the callsite, any other is formatted into a
//!   stack buffer; the drain does the rest.
//! * `tracing_layer/ring_layer_producer_only`: the caller's cost alone: no drain runs; the ring
//!   is emptied with a `Reader` (untimed) before every burst of at most half the ring, as
//!   `hot_path/info_1_thread` does, so it never fills and no other thread competes.
//! * `tracing_layer/ring_layer_in_2_spans`: the same inside two nested spans
//!   (`outer{conn=7}:inner{user="ada"}`), which adds the scope walk and the `spans` field.
//! * `tracing_layer/fmt_nonblocking_blocking`: `fmt` layer (default format, no ANSI) writing
//!   through `tracing-appender`'s `non_blocking` with `.lossy(false)`: the caller formats the
//!   whole line and hands it to a writer thread; a full channel blocks (nothing lost, like
//!   ringlog's `Block`).
//! * `tracing_layer/fmt_nonblocking_lossy`: the same in `non_blocking`'s default lossy mode.
//!
//!
//! The bridge's cost against its framework's floor and against the native macro, one event
//! `info!(id = i, lat = i as f64 / 4.0, worker = w, "request served")` (issue 15's goal:
//! RingLayer <= no-op Layer + 1.3x native), all producer-only (rings emptied untimed between
//! bursts, as above):
//!
//! * `tracing_layer/noop_layer`: `Registry` + a `Layer` whose `on_event` does nothing (the
//!   cost of `tracing` itself).
//! * `tracing_layer/ring_layer_producer_only`: see above.
//! * `tracing_layer/native_macro`: `ringlog::info!(logger: l, "request served", id = i, ...)`.
//! * `tracing_layer/log_noop`: `log::info!(id = i, ...; "request served")` into a no-op
//!   `log::Log`.
//! * `tracing_layer/log_ring`: the same into `ringlog_log::RingLog`. `log` takes one global
//!   logger per process, so both log rows go through one installed switch (one relaxed load
//!   picks the target; the same cost in both rows).
//!
//! After each case the file's lines are counted against the calls made (printed on stderr).
//! The same rows as instruction counts, which the machine's load does not move:
//! `benches/examples/bridge_loop.rs` under callgrind.
//!
//! `cargo bench -p ringlog-benches --bench tracing_layer`

use std::fs::File;
use std::hint::black_box;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ringdrain::drain::{run, DrainConfig, Output, Signals};
use ringdrain::sink::Rotation;
use ringlog::{Level, Logger, Policy};
use ringlog_segment::reader::Reader;
use ringlog_tracing::RingLayer;
use tracing_appender::non_blocking::NonBlockingBuilder;
use tracing_subscriber::layer::SubscriberExt;

fn count_lines(path: &Path) -> u64 {
    let f = File::open(path).expect("open log file");
    BufReader::new(f).lines().count() as u64
}

fn report(name: &str, path: &Path, calls: u64) {
    let lines = count_lines(path);
    eprintln!(
        "tracing_layer/{name}: {lines} lines written for {calls} calls ({} lost)",
        calls.saturating_sub(lines)
    );
}

#[inline(always)]
fn event(i: u64, worker: &str) {
    let lat = i as f64 / 4.0;
    tracing::info!(i = black_box(i), lat, worker, "request served");
}

/// Issue 15's event through `tracing`.
#[inline(always)]
fn event_15(i: u64, w: &str) {
    tracing::info!(
        id = black_box(i),
        lat = i as f64 / 4.0,
        worker = w,
        "request served"
    );
}

/// The same values through the native macro.
#[inline(always)]
fn native_15(l: &Logger, i: u64, w: &str) {
    ringlog::info!(logger: l, "request served", id = black_box(i), lat = i as f64 / 4.0, worker = w);
}

/// The same values through `log`.
#[inline(always)]
fn log_15(i: u64, w: &str) {
    log::info!(id = black_box(i), lat = i as f64 / 4.0, worker = w; "request served");
}

/// A `tracing` layer that does nothing with events.
struct NoopLayer;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for NoopLayer {
    fn on_event(&self, e: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        black_box(e);
    }
}

/// Whether the installed `log` logger forwards to the ring (else it does nothing).
static LOG_TO_RING: AtomicBool = AtomicBool::new(false);

/// The one `log` logger of the process: a no-op or a `RingLog`, by `LOG_TO_RING`.
struct LogSwitch(ringlog_log::RingLog);

impl log::Log for LogSwitch {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        // SYNC: Relaxed; set by the bench thread itself between rows.
        !LOG_TO_RING.load(Ordering::Relaxed) || self.0.enabled(m)
    }
    fn log(&self, r: &log::Record<'_>) {
        // SYNC: Relaxed; see `enabled`.
        if LOG_TO_RING.load(Ordering::Relaxed) {
            self.0.log(r)
        } else {
            black_box(r);
        }
    }
    fn flush(&self) {}
}

fn producer_logger(dir: &tempfile::TempDir) -> Logger {
    Logger::builder()
        .path(dir.path().join("ring"))
        .slot_count(SLOTS)
        .level(Level::Info)
        .policy(Policy::Block)
        .open()
        .expect("open ring")
}

/// Times `f(i)` in bursts of at most half the ring, emptying it (untimed) before each.
fn bursts(c: &mut Criterion, name: &str, logger: &Logger, mut f: impl FnMut(u64)) {
    let mut reader = Reader::new(logger.segment().acquire_drain().expect("no other drain"));
    let mut i = 0u64;
    let mut g = c.benchmark_group("tracing_layer");
    g.throughput(Throughput::Elements(1));
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = left.min(BURST);
                empty(&mut reader);
                let t = Instant::now();
                for _ in 0..n {
                    f(i);
                    i += 1;
                }
                total += t.elapsed();
                left -= n;
            }
            total
        })
    });
    g.finish();
    assert_eq!(
        logger.stats().dropped,
        0,
        "{name}: the ring filled during the bench"
    );
    assert!(
        logger.segment().callsites().count() > 0,
        "{name}: nothing was logged"
    );
}

fn noop_layer(c: &mut Criterion) {
    let worker = black_box(String::from("p0-t0"));
    let mut i = 0u64;
    let mut g = c.benchmark_group("tracing_layer");
    g.throughput(Throughput::Elements(1));
    let subscriber = tracing_subscriber::registry().with(NoopLayer);
    tracing::subscriber::with_default(subscriber, || {
        g.bench_function("noop_layer", |b| {
            b.iter(|| {
                event_15(i, &worker);
                i += 1;
            })
        });
    });
    g.finish();
}

fn ring_layer_15(c: &mut Criterion) {
    let dir = tempfile::tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .expect("temp dir");
    let logger = producer_logger(&dir);
    let worker = black_box(String::from("p0-t0"));
    let subscriber = tracing_subscriber::registry().with(RingLayer::new(logger.clone()));
    tracing::subscriber::with_default(subscriber, || {
        bursts(c, "ring_layer_issue15", &logger, |i| event_15(i, &worker));
    });
}

fn native_macro(c: &mut Criterion) {
    let dir = tempfile::tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .expect("temp dir");
    let logger = producer_logger(&dir);
    let worker = black_box(String::from("p0-t0"));
    bursts(c, "native_macro", &logger, |i| {
        native_15(&logger, i, &worker)
    });
}

fn log_rows(c: &mut Criterion) {
    let dir = tempfile::tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .expect("temp dir");
    let logger = producer_logger(&dir);
    let switch = LogSwitch(ringlog_log::RingLog::new(logger.clone()));
    log::set_logger(Box::leak(Box::new(switch))).expect("the bench installs the only logger");
    log::set_max_level(log::LevelFilter::Info);
    let worker = black_box(String::from("p0-t0"));
    let mut i = 0u64;
    let mut g = c.benchmark_group("tracing_layer");
    g.throughput(Throughput::Elements(1));
    g.bench_function("log_noop", |b| {
        b.iter(|| {
            log_15(i, &worker);
            i += 1;
        })
    });
    g.finish();
    // SYNC: Relaxed; read by this thread only.
    LOG_TO_RING.store(true, Ordering::Relaxed);
    bursts(c, "log_ring", &logger, |i| log_15(i, &worker));
}

fn ring_case(c: &mut Criterion, name: &str, spans: bool) {
    let dir = tempfile::tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .expect("temp dir");
    let ring = dir.path().join("ring");
    let out = dir.path().join("ring.log");
    let logger = Logger::builder()
        .path(&ring)
        .slot_count(1 << 16)
        .level(Level::Info)
        .policy(Policy::Block)
        .open()
        .expect("open ring");
    let subscriber = tracing_subscriber::registry().with(RingLayer::new(logger.clone()));
    let mut cfg = DrainConfig::new(
        ring.clone(),
        Output::File {
            path: out.clone(),
            rotation: Rotation::default(),
            mode: 0o600,
        },
    );
    cfg.segment.slot_count = 1 << 16;
    let signals = Signals::default();
    let worker = black_box(String::from("p0-t0"));
    let mut i = 0u64;
    let mut g = c.benchmark_group("tracing_layer");
    g.throughput(Throughput::Elements(1));
    std::thread::scope(|s| {
        let drain = s.spawn(|| run(&cfg, &signals));
        while !logger.drain_alive() {
            std::thread::sleep(Duration::from_millis(1));
        }
        tracing::subscriber::with_default(subscriber, || {
            let outer = tracing::info_span!("outer", conn = 7u64);
            let inner = tracing::info_span!("inner", user = "ada");
            let _o = spans.then(|| outer.enter());
            let _i = spans.then(|| inner.enter());
            g.bench_function(name, |b| {
                b.iter(|| {
                    event(i, &worker);
                    i += 1;
                })
            });
        });
        // SYNC: Relaxed; the drain polls the flag and then drains what was claimed.
        signals.stop.store(true, Ordering::Relaxed);
        let summary = drain.join().expect("drain panicked").expect("drain failed");
        eprintln!(
            "tracing_layer/{name}: drain wrote {} records",
            summary.records
        );
    });
    g.finish();
    assert_eq!(logger.stats().dropped, 0, "the ring dropped records");
    report(name, &out, i);
}

/// Slots of the producer-only ring, and the largest burst between two emptyings.
const SLOTS: u64 = 1 << 16;
const BURST: u64 = SLOTS / 2;

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

fn ring_layer_producer_only(c: &mut Criterion) {
    let dir = tempfile::tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .expect("temp dir");
    let logger = Logger::builder()
        .path(dir.path().join("ring"))
        .slot_count(SLOTS)
        .level(Level::Info)
        .policy(Policy::Block)
        .open()
        .expect("open ring");
    let mut reader = Reader::new(logger.segment().acquire_drain().expect("no other drain"));
    let subscriber = tracing_subscriber::registry().with(RingLayer::new(logger.clone()));
    let worker = black_box(String::from("p0-t0"));
    let mut i = 0u64;
    let mut g = c.benchmark_group("tracing_layer");
    g.throughput(Throughput::Elements(1));
    tracing::subscriber::with_default(subscriber, || {
        g.bench_function("ring_layer_producer_only", |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let n = left.min(BURST);
                    empty(&mut reader);
                    let t = Instant::now();
                    for _ in 0..n {
                        event(i, &worker);
                        i += 1;
                    }
                    total += t.elapsed();
                    left -= n;
                }
                total
            })
        });
    });
    g.finish();
    assert_eq!(
        logger.stats().dropped,
        0,
        "the ring filled during the bench"
    );
}

fn ring_layer(c: &mut Criterion) {
    ring_case(c, "ring_layer", false);
}

fn ring_layer_in_spans(c: &mut Criterion) {
    ring_case(c, "ring_layer_in_2_spans", true);
}

fn fmt_case(c: &mut Criterion, name: &str, lossy: bool) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("fmt.log");
    let file = File::create(&path).expect("create log file");
    let (writer, guard) = NonBlockingBuilder::default().lossy(lossy).finish(file);
    let subscriber = tracing_subscriber::fmt()
        .with_writer(writer)
        .with_ansi(false)
        .finish();
    let worker = black_box(String::from("p0-t0"));
    let mut i = 0u64;
    let mut g = c.benchmark_group("tracing_layer");
    g.throughput(Throughput::Elements(1));
    tracing::subscriber::with_default(subscriber, || {
        g.bench_function(name, |b| {
            b.iter(|| {
                event(i, &worker);
                i += 1;
            })
        });
    });
    g.finish();
    drop(guard); // flushes what the writer thread still holds
    report(name, &path, i);
}

fn fmt_blocking(c: &mut Criterion) {
    fmt_case(c, "fmt_nonblocking_blocking", false);
}

fn fmt_lossy(c: &mut Criterion) {
    fmt_case(c, "fmt_nonblocking_lossy", true);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(1500))
        .sample_size(20);
    targets = noop_layer, ring_layer_15, native_macro, log_rows, ring_layer_producer_only,
        ring_layer, ring_layer_in_spans, fmt_blocking, fmt_lossy
}
criterion_main!(benches);
