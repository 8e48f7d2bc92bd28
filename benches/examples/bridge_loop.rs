//! Issue 15's event through each front end in a loop, for instruction counts that the machine's
//! load does not move:
//!
//! ```text
//! cargo build --release -p ringlog-benches --example bridge_loop
//! for n in 100000 200000; do
//!   valgrind --tool=callgrind --callgrind-out-file=cg.$n target/release/examples/bridge_loop ring_layer $n
//! done
//! # instructions per call = (total(200000) - total(100000)) / 100000
//! ```
//!
//! `bridge_loop ROW N` runs N calls of one row of `benches/benches/tracing_layer.rs`:
//! `noop_layer`, `ring_layer`, `ring_layer_in_span`, `native_macro`, `log_noop`, `log_ring`,
//! and two floors of what any bridge must do before it writes a byte: `visit_layer` (a layer
//! that visits every value with an empty visitor and writes the message into a writer that
//! discards it, the only way `tracing` hands the message over) and `log_visit` (a `log::Log`
//! that takes the message as `args().as_str()` and visits every value, typed, likewise).
//! The event is `info!(id = i, lat = i as f64 / 4.0, worker = w, "request served")`
//! (`ring_layer_in_span`: the same inside `request{conn=7}`). The ring is large enough that it
//! never fills (no drain runs); running N and 2N and subtracting removes the setup.

use std::hint::black_box;
use std::process::ExitCode;

use ringlog::{Level, Logger, Policy};
use ringlog_tracing::RingLayer;
use tracing_subscriber::layer::SubscriberExt;

struct NoopLayer;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for NoopLayer {
    fn on_event(&self, e: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        black_box(e);
    }
}

/// A visitor that takes every value, typed, and keeps nothing.
struct EmptyVisit;

impl tracing::field::Visit for EmptyVisit {
    fn record_u64(&mut self, f: &tracing::field::Field, v: u64) {
        black_box((f.index(), v));
    }
    fn record_f64(&mut self, f: &tracing::field::Field, v: f64) {
        black_box((f.index(), v));
    }
    fn record_str(&mut self, f: &tracing::field::Field, v: &str) {
        black_box((f.index(), v));
    }
    fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
        use std::fmt::Write;
        black_box(f.index());
        let _ = write!(Discard, "{v:?}");
    }
}

/// A writer that discards what it is given.
struct Discard;

impl std::fmt::Write for Discard {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        black_box(s);
        Ok(())
    }
}

struct VisitLayer;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for VisitLayer {
    fn on_event(&self, e: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        e.record(&mut EmptyVisit);
    }
}

struct VisitLog;

impl log::Log for VisitLog {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, r: &log::Record<'_>) {
        use log::kv::{VisitSource, VisitValue};
        struct Pairs;
        struct Typed;
        impl<'v> VisitValue<'v> for Typed {
            fn visit_any(&mut self, v: log::kv::Value<'_>) -> Result<(), log::kv::Error> {
                use std::fmt::Write;
                let _ = write!(Discard, "{v}");
                Ok(())
            }
            fn visit_u64(&mut self, v: u64) -> Result<(), log::kv::Error> {
                black_box(v);
                Ok(())
            }
            fn visit_f64(&mut self, v: f64) -> Result<(), log::kv::Error> {
                black_box(v);
                Ok(())
            }
            fn visit_borrowed_str(&mut self, v: &'v str) -> Result<(), log::kv::Error> {
                black_box(v);
                Ok(())
            }
        }
        impl<'kvs> VisitSource<'kvs> for Pairs {
            fn visit_pair(
                &mut self,
                k: log::kv::Key<'kvs>,
                v: log::kv::Value<'kvs>,
            ) -> Result<(), log::kv::Error> {
                black_box(k.as_str());
                v.visit(Typed)
            }
        }
        match r.args().as_str() {
            Some(m) => {
                black_box(m);
            }
            None => {
                use std::fmt::Write;
                let _ = Discard.write_fmt(*r.args());
            }
        }
        let _ = r.key_values().visit(&mut Pairs);
    }
    fn flush(&self) {}
}

struct NoopLog;

impl log::Log for NoopLog {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, r: &log::Record<'_>) {
        black_box(r);
    }
    fn flush(&self) {}
}

#[inline(never)]
fn tracing_loop(n: u64, w: &str) {
    for i in 0..n {
        tracing::info!(
            id = black_box(i),
            lat = i as f64 / 4.0,
            worker = w,
            "request served"
        );
    }
}

#[inline(never)]
fn log_loop(n: u64, w: &str) {
    for i in 0..n {
        log::info!(id = black_box(i), lat = i as f64 / 4.0, worker = w; "request served");
    }
}

#[inline(never)]
fn native_loop(l: &Logger, n: u64, w: &str) {
    for i in 0..n {
        ringlog::info!(logger: l, "request served", id = black_box(i), lat = i as f64 / 4.0, worker = w);
    }
}

/// A `Policy::Drop` ring of 64 slots in one lane, which no drain reads.
fn full_logger(dir: &tempfile::TempDir) -> Logger {
    Logger::builder()
        .path(dir.path().join("full-ring"))
        .slot_count(64)
        .lanes(1)
        .level(Level::Info)
        .policy(Policy::Drop)
        .open()
        .expect("open ring")
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(row), Some(n)) = (args.next(), args.next().and_then(|n| n.parse::<u64>().ok()))
    else {
        eprintln!("usage: bridge_loop noop_layer|visit_layer|ring_layer|ring_layer_in_span|native_macro|log_noop|log_visit|log_ring|ring_layer_full|log_ring_full|native_macro_full N");
        return ExitCode::from(2);
    };
    let dir = tempfile::tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .expect("temp dir");
    let logger = || {
        Logger::builder()
            .path(dir.path().join("ring"))
            // Up to two slots per record, and room to spare.
            .slot_count((2 * n + 64).next_power_of_two())
            .level(Level::Info)
            .policy(Policy::Drop)
            .open()
            .expect("open ring")
    };
    let worker = black_box(String::from("p0-t0"));
    match row.as_str() {
        "noop_layer" => {
            let s = tracing_subscriber::registry().with(NoopLayer);
            tracing::subscriber::with_default(s, || tracing_loop(n, &worker));
        }
        "visit_layer" => {
            let s = tracing_subscriber::registry().with(VisitLayer);
            tracing::subscriber::with_default(s, || tracing_loop(n, &worker));
        }
        "log_visit" => {
            log::set_logger(&VisitLog).expect("first logger");
            log::set_max_level(log::LevelFilter::Info);
            log_loop(n, &worker);
        }
        "ring_layer" | "ring_layer_in_span" => {
            let l = logger();
            let s = tracing_subscriber::registry().with(RingLayer::new(l.clone()));
            tracing::subscriber::with_default(s, || {
                let span = tracing::info_span!("request", conn = 7u64);
                let _g = (row == "ring_layer_in_span").then(|| span.enter());
                tracing_loop(n, &worker)
            });
            assert_eq!(l.stats().dropped, 0, "the ring filled");
        }
        // Overload under `Policy::Drop`: a 64-slot ring and no drain, so all but the first
        // calls find their lane full and are dropped (what a dropped call costs).
        "ring_layer_full" => {
            let l = full_logger(&dir);
            let s = tracing_subscriber::registry().with(RingLayer::new(l.clone()));
            tracing::subscriber::with_default(s, || tracing_loop(n, &worker));
            assert!(l.stats().dropped + 64 >= n, "the calls were not dropped");
        }
        "log_ring_full" => {
            let l = full_logger(&dir);
            ringlog_log::init(l.clone()).expect("first logger");
            log_loop(n, &worker);
            assert!(l.stats().dropped + 64 >= n, "the calls were not dropped");
        }
        "native_macro_full" => {
            let l = full_logger(&dir);
            native_loop(&l, n, &worker);
            assert!(l.stats().dropped + 64 >= n, "the calls were not dropped");
        }
        "native_macro" => {
            let l = logger();
            native_loop(&l, n, &worker);
            assert_eq!(l.stats().dropped, 0, "the ring filled");
        }
        "log_noop" => {
            log::set_logger(&NoopLog).expect("first logger");
            log::set_max_level(log::LevelFilter::Info);
            log_loop(n, &worker);
        }
        "log_ring" => {
            let l = logger();
            ringlog_log::init(l.clone()).expect("first logger");
            log_loop(n, &worker);
            assert_eq!(l.stats().dropped, 0, "the ring filled");
        }
        other => {
            eprintln!("unknown row {other:?}");
            return ExitCode::from(2);
        }
    }
    ExitCode::SUCCESS
}
