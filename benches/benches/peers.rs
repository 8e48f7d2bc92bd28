//! The ringload message through the usual alternatives, each writing a file in a temp dir:
//!
//! * `peers/tracing_nonblocking_lossy`: `tracing` + `tracing-subscriber`'s `fmt` layer (default
//!   format: timestamp, level, target, message; no ANSI) writing through `tracing-appender`'s
//!   `non_blocking` in its default lossy mode: the caller formats the line, then hands it to a
//!   writer thread over a bounded channel (128k lines) and drops it when the channel is full.
//! * `peers/tracing_nonblocking_blocking`: the same with `.lossy(false)`: a full channel blocks
//!   the caller.
//! * `peers/mutex_bufwriter`: a `Mutex<BufWriter<File>>`: the caller takes the lock, formats the
//!   line (`{unix_ns} INFO request {} served in {} us by {}`) with `write!` into the buffer,
//!   and pays the `write(2)` whenever the 8 KiB buffer fills.
//!
//! After each case the file's lines are counted against the calls made and printed on stderr,
//! so a lossy run shows what it dropped.

use std::fs::File;
use std::hint::black_box;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};

fn count_lines(path: &Path) -> u64 {
    let f = File::open(path).expect("open log file");
    BufReader::new(f).lines().count() as u64
}

fn report(name: &str, path: &Path, calls: u64) {
    let lines = count_lines(path);
    eprintln!(
        "peers/{name}: {lines} lines written for {calls} calls ({} lost)",
        calls.saturating_sub(lines)
    );
}

fn tracing_case(c: &mut Criterion, name: &str, lossy: bool) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("tracing.log");
    let file = File::create(&path).expect("create log file");
    let (writer, guard): (_, WorkerGuard) = NonBlockingBuilder::default().lossy(lossy).finish(file);
    let subscriber = tracing_subscriber::fmt()
        .with_writer(writer)
        .with_ansi(false)
        .finish();
    let worker = black_box(String::from("p0-t0"));
    let mut i = 0u64;
    let mut g = c.benchmark_group("peers");
    g.throughput(Throughput::Elements(1));
    tracing::subscriber::with_default(subscriber, || {
        g.bench_function(name, |b| {
            b.iter(|| {
                let lat = i as f64 / 4.0;
                tracing::info!(
                    "request {} served in {} us by {}",
                    black_box(i),
                    lat,
                    worker.as_str()
                );
                i += 1;
            })
        });
    });
    g.finish();
    drop(guard); // flushes what the writer thread still holds
    report(name, &path, i);
}

fn tracing_lossy(c: &mut Criterion) {
    tracing_case(c, "tracing_nonblocking_lossy", true);
}

fn tracing_blocking(c: &mut Criterion) {
    tracing_case(c, "tracing_nonblocking_blocking", false);
}

fn mutex_bufwriter(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("mutex.log");
    let log = Mutex::new(BufWriter::new(
        File::create(&path).expect("create log file"),
    ));
    let worker = black_box(String::from("p0-t0"));
    let mut i = 0u64;
    let mut g = c.benchmark_group("peers");
    g.throughput(Throughput::Elements(1));
    g.bench_function("mutex_bufwriter", |b| {
        b.iter(|| {
            let lat = i as f64 / 4.0;
            let ts = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            let mut w = log.lock().expect("log lock poisoned");
            writeln!(
                w,
                "{ts} INFO request {} served in {} us by {}",
                black_box(i),
                lat,
                worker.as_str()
            )
            .expect("write log line");
            drop(w);
            i += 1;
        })
    });
    g.finish();
    log.into_inner()
        .expect("log lock poisoned")
        .flush()
        .expect("flush log");
    report("mutex_bufwriter", &path, i);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    targets = tracing_lossy, tracing_blocking, mutex_bufwriter
}
criterion_main!(benches);
