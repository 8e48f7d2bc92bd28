//! The timer ringload measures log calls with, and its calibration.
//!
//! On x86_64 a reading is `lfence; rdtsc; lfence`: the first fence keeps the reading from
//! happening before earlier instructions finish, the second keeps later instructions (the
//! measured call) from starting before the reading. Elsewhere it is `CLOCK_MONOTONIC`. Both
//! ways, [`Calibration::measure`] finds the tick rate (against `CLOCK_MONOTONIC`) and the cost
//! of an empty pair of readings, which per-call latencies have subtracted.

/// One timer reading in ticks (see the module docs for what a tick is).
#[inline(always)]
pub fn ticks() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::{_mm_lfence, _rdtsc};
        // SAFETY: lfence (SSE2, part of the x86_64 baseline) and rdtsc have no preconditions;
        // they only order execution and read the time-stamp counter.
        #[allow(unused_unsafe)]
        unsafe {
            _mm_lfence();
            let t = _rdtsc();
            _mm_lfence();
            t
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        monotonic_ns()
    }
}

/// What a tick is, for reports.
pub const TICK_SOURCE: &str = if cfg!(target_arch = "x86_64") {
    "lfence;rdtsc;lfence"
} else {
    "CLOCK_MONOTONIC"
};

/// `CLOCK_MONOTONIC` in nanoseconds: one time line for every process on the machine, so the
/// parent can take the wall time from the first child's start to the last one's finish.
pub fn monotonic_ns() -> u64 {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
}

/// `CLOCK_REALTIME` in nanoseconds since the epoch.
pub fn unix_ns() -> u64 {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::Realtime);
    (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
}

/// The timer's rate and the cost of reading it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibration {
    /// Ticks per second.
    pub hz: f64,
    /// Median ticks between two back-to-back readings (the empty clock pair).
    pub empty_pair_ticks: u64,
    /// Fewest ticks seen between two back-to-back readings.
    pub empty_pair_min_ticks: u64,
}

impl Calibration {
    /// Measures the rate over `window` of spinning and the empty pair over 200 000 pairs
    /// (about 60 ms in all with the default window).
    pub fn measure(window: std::time::Duration) -> Calibration {
        let hz = if cfg!(target_arch = "x86_64") {
            let (t0, n0) = (ticks(), monotonic_ns());
            let end = n0 + window.as_nanos() as u64;
            let mut n1 = n0;
            while n1 < end {
                n1 = monotonic_ns();
            }
            let t1 = ticks();
            (t1 - t0) as f64 * 1e9 / (n1 - n0) as f64
        } else {
            1e9
        };
        const PAIRS: usize = 200_000;
        let mut d = Vec::with_capacity(PAIRS);
        for _ in 0..PAIRS {
            let a = ticks();
            let b = ticks();
            d.push(b.wrapping_sub(a));
        }
        d.sort_unstable();
        Calibration {
            hz,
            empty_pair_ticks: d[PAIRS / 2],
            empty_pair_min_ticks: d[0],
        }
    }

    /// Picoseconds in `ticks` ticks (rounded).
    #[inline]
    pub fn ticks_to_ps(&self, ticks: u64) -> u64 {
        (ticks as f64 * 1e12 / self.hz).round() as u64
    }

    /// Picoseconds of one call measured as `pair` ticks between its two readings: the empty
    /// pair's median cost is subtracted (clamped at zero).
    #[inline]
    pub fn net_ps(&self, pair: u64) -> u64 {
        self.ticks_to_ps(pair.saturating_sub(self.empty_pair_ticks))
    }
}
