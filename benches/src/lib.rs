//! ringlog's benchmark harness: the `ringload` load generator (DESIGN.md, "Benchmark harness
//! contract") and the helpers the criterion benches in `benches/` share.
//!
//! `ringload --ring NAME|PATH --procs P --threads T --records N` spawns `P` processes of `T`
//! threads; each thread logs `N` copies of the standard message
//! `request {i} served in {lat} us by {worker}` and times its calls. The parent prints
//! throughput, the median cost per call over batches (clock cost amortised) and per-call
//! percentiles (empty clock pair subtracted), and the ring's drop count. Run it with `ringdrain`
//! attached, or with `--drain`; see [`ringload`] and `benches/README.md`.
//!
//! | item | what it is |
//! |---|---|
//! | [`ringload::run`], [`ringload::Config`] | the load generator behind the binary |
//! | [`clock`] | the fenced-`rdtsc` timer and its calibration (rate, empty-pair cost) |
//! | [`stats::Dist`] | latency histograms (ps) that merge across threads and processes |
//! | [`drain::Drain`] | an in-process drain that consumes and discards, keeping the heartbeat |
//! | [`pair::timed_pair`] | times work done by two threads started together |
//! | [`fixtures`] | the ringload record and callsite as bytes, for the drain-side benches |
//!
//! # Example
//!
//! ```
//! use ringlog_benches::clock::{ticks, Calibration};
//! use ringlog_benches::stats::Dist;
//!
//! let cal = Calibration::measure(std::time::Duration::from_millis(5));
//! let mut d = Dist::new();
//! let t0 = ticks();
//! std::hint::black_box(1 + 1);
//! d.record(cal.net_ps(ticks() - t0));
//! assert_eq!(d.count(), 1);
//! ```
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks, missing_docs)]

pub mod clock;
pub mod drain;
pub mod fixtures;
pub mod pair;
pub mod ringload;
pub mod stats;
