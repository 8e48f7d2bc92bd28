//! The line encoders alone: the ringload record (`request {} served in {} us by {}` with a
//! u64, an f64 and a short string) already decoded into its [`RecordView`], encoded as text,
//! JSON and logfmt into a batch buffer. What is measured is only what
//! [`ringdrain::format::LineEncoder`] does per record (timestamp, head, message, fields),
//! not reading the ring or decoding the arguments (`benches/drain.rs` covers those).
//!
//! Run: `cargo bench -p ringlog-benches --bench encoder`. Under load prefer instruction counts
//! (`scripts/callgrind-text.sh`); see BENCHMARKS.md "Text encoder (session 5)".

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ringdrain::encode::{Encoder as _, Item};
use ringdrain::format::{LineEncoder, LineFormat};
use ringlog_benches::fixtures;
use ringlog_wire::clock::{Calibration, ClockKind};
use ringlog_wire::decode::decode_record;
use ringlog_wire::view::{ArgBuf, Callsite, RecordView};

const BATCH: usize = 8192;

/// The ringload records for i in 0..BATCH (two threads, interleaved), as record bytes.
fn records() -> Vec<Vec<u8>> {
    (0..BATCH as u64)
        .map(|i| {
            let (worker, tid) = if i % 2 == 0 {
                ("p0-t0", 4243)
            } else {
                ("p0-t1", 4244)
            };
            fixtures::record(i / 2, worker, tid, 1_764_112_733_000_000_000 + i * 137)
        })
        .collect()
}

fn encode_views(c: &mut Criterion) {
    let recs = records();
    let cs = Callsite::new(fixtures::CALLSITE_ID, &fixtures::callsite_desc());
    let cal = Calibration::new(ClockKind::Realtime, 0, 0, 0);
    let wire: Vec<_> = recs.iter().map(|r| decode_record(r).unwrap()).collect();
    let args: Vec<ArgBuf<'_>> = wire.iter().map(ArgBuf::decode).collect();
    let views: Vec<RecordView<'_>> = wire
        .iter()
        .zip(&args)
        .map(|(r, a)| RecordView::new(r, Ok(Some(&cs)), a, &cal))
        .collect();
    let mut g = c.benchmark_group("encoder");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.measurement_time(Duration::from_secs(3));
    for (name, format) in [
        ("text", LineFormat::Text),
        ("json", LineFormat::Json),
        ("logfmt", LineFormat::Logfmt),
    ] {
        let mut enc = LineEncoder::new(format);
        let mut out = Vec::with_capacity(1 << 21);
        g.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                for v in &views {
                    enc.encode(&mut out, &Item::view(v));
                }
                black_box(out.len())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, encode_views);
criterion_main!(benches);
