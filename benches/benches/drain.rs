//! The drain's formatting throughput: the ringload record (`request {} served in {} us by {}`
//! with a u64, an f64 and a short string) formatted as text and as JSON into a batch buffer,
//! and the same through a whole file write on tmpfs per batch of 8192 records.
//!
//! Run: `cargo bench -p ringlog-benches --bench drain`. For the end-to-end number (ring ->
//! file) use `ringload` to fill a ring and time `ringdrain --once` (see BENCHMARKS.md).

use std::hint::black_box;
use std::io::Write;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ringdrain::format::{Format, Formatter};
use ringlog_benches::fixtures;
use ringlog_segment::reader::CallsiteInfo;
use ringlog_wire::clock::{Calibration, ClockKind};
use ringlog_wire::decode::decode_record;

const BATCH: usize = 8192;

/// The ringload records for i in 0..BATCH, as record bytes.
fn records() -> Vec<Vec<u8>> {
    (0..BATCH as u64)
        .map(|i| fixtures::record(i, "p1-t0", 4243, 1_764_112_733_000_000_000 + i * 137))
        .collect()
}

fn callsite() -> CallsiteInfo {
    CallsiteInfo::new(fixtures::CALLSITE_ID, &fixtures::callsite_desc())
}

fn format_batches(c: &mut Criterion) {
    let recs = records();
    let cs = callsite();
    let cal = Calibration::new(ClockKind::Realtime, 0, 0, 0);
    let mut g = c.benchmark_group("drain");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.measurement_time(Duration::from_secs(4));
    for (name, format) in [("text", Format::Text), ("json", Format::Json)] {
        let mut f = Formatter::new(format, cal);
        let mut out = Vec::with_capacity(1 << 20);
        g.bench_function(format!("format_{name}"), |b| {
            b.iter(|| {
                out.clear();
                for r in &recs {
                    let rec = decode_record(r).unwrap();
                    f.record(&mut out, &rec, Ok(Some(&cs)));
                }
                black_box(out.len())
            })
        });
        let dir = tempfile::tempdir_in("/dev/shm").unwrap_or_else(|_| tempfile::tempdir().unwrap());
        let mut file = std::fs::File::create(dir.path().join("out.log")).unwrap();
        g.bench_function(format!("format_and_write_{name}"), |b| {
            b.iter(|| {
                out.clear();
                for r in &recs {
                    let rec = decode_record(r).unwrap();
                    f.record(&mut out, &rec, Ok(Some(&cs)));
                }
                file.write_all(&out).unwrap();
            })
        });
    }
    g.finish();
}

criterion_group!(benches, format_batches);
criterion_main!(benches);
