//! One `tracing` event, `info!(i, lat, worker, "request served")`, through ringlog's layer and
//! through `tracing-subscriber`'s `fmt` layer, each writing a file in a temp dir:
//!
//! * `tracing_layer/ring_layer`: `Registry` + `RingLayer` into a ring (2^16 slots, policy
//!   `Block`) while a `ringdrain` drain loop (`ringdrain::drain::run`, text format) runs on a
//!   thread of its own and writes the file. The caller encodes the fields in binary and formats
//!   only the message (`fmt::Arguments`, into a stack buffer); the drain does the rest.
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
//! After each case the file's lines are counted against the calls made (printed on stderr).
//!
//! `cargo bench -p ringlog-benches --bench tracing_layer`

use std::fs::File;
use std::hint::black_box;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::atomic::Ordering;
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
    targets = ring_layer_producer_only, ring_layer, ring_layer_in_spans, fmt_blocking, fmt_lossy
}
criterion_main!(benches);
