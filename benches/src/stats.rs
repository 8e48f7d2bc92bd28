//! Latency distributions: recorded per thread in picoseconds, merged across threads and
//! processes, summarised in nanoseconds.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Largest value a distribution tracks: 100 s in picoseconds (larger values are clamped).
const MAX_PS: u64 = 100_000_000_000_000;

/// A histogram of durations in picoseconds (3 significant digits).
#[derive(Debug, Clone)]
pub struct Dist(Histogram<u64>);

impl Default for Dist {
    fn default() -> Self {
        Dist::new()
    }
}

impl Dist {
    /// An empty distribution.
    pub fn new() -> Dist {
        Dist(Histogram::new_with_bounds(1, MAX_PS, 3).expect("valid histogram bounds"))
    }

    /// Records one duration.
    #[inline]
    pub fn record(&mut self, ps: u64) {
        self.0.saturating_record(ps);
    }

    /// Adds every value of `other`.
    pub fn merge(&mut self, other: &Dist) {
        self.0.add(&other.0).expect("same bounds");
    }

    /// Values recorded.
    pub fn count(&self) -> u64 {
        self.0.len()
    }

    /// A compact form for the child-to-parent report: `(value_ps, count)` per non-empty bucket.
    pub fn to_pairs(&self) -> Vec<(u64, u64)> {
        self.0
            .iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()))
            .collect()
    }

    /// Rebuilds a distribution from [`Dist::to_pairs`].
    pub fn from_pairs(pairs: &[(u64, u64)]) -> Dist {
        let mut d = Dist::new();
        for &(v, n) in pairs {
            d.0.saturating_record_n(v, n);
        }
        d
    }

    /// The value at quantile `q` (0..=1), in nanoseconds.
    pub fn quantile_ns(&self, q: f64) -> f64 {
        self.0.value_at_quantile(q) as f64 / 1000.0
    }

    /// The mean, in nanoseconds.
    pub fn mean_ns(&self) -> f64 {
        self.0.mean() / 1000.0
    }

    /// The largest value, in nanoseconds.
    pub fn max_ns(&self) -> f64 {
        self.0.max() as f64 / 1000.0
    }
}

/// What one child process measured, sent to the parent as one JSON line on stdout.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChildReport {
    /// The child's index `p`.
    pub child: u32,
    /// `CLOCK_MONOTONIC` ns when its first thread started logging.
    pub start_ns: u64,
    /// `CLOCK_MONOTONIC` ns when its last thread finished.
    pub end_ns: u64,
    /// Log calls made (threads x records).
    pub calls: u64,
    /// The child's timer calibration: ticks per second.
    pub tick_hz: f64,
    /// Median cost of an empty pair of timer readings, ps.
    pub empty_pair_ps: u64,
    /// Per-call latencies (empty pair subtracted), as [`Dist::to_pairs`].
    pub per_call: Vec<(u64, u64)>,
    /// Cost per call of each timed batch (clock cost amortised), as [`Dist::to_pairs`].
    pub batched: Vec<(u64, u64)>,
    /// Calls made inside timed batches.
    pub batched_calls: u64,
    /// Total time of the timed batches, ps.
    pub batched_ps: u64,
}
