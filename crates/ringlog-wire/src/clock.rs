//! Timestamps: what a record's raw `timestamp` means and how to turn it into Unix time.
//!
//! Producers store a raw reading of the segment's clock: the TSC where it is invariant (x86_64;
//! one `rdtsc`, ~10 ns) or `CLOCK_REALTIME` nanoseconds elsewhere. The creator of a segment
//! calibrates the TSC against the realtime clock and stores the result in the header; the drain
//! converts with it, re-anchoring on its own fresh readings so that drift stays small.

/// Which clock the raw timestamps come from.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockKind {
    /// `CLOCK_REALTIME` in nanoseconds since the Unix epoch.
    Realtime = 1,
    /// The CPU's invariant time-stamp counter.
    Tsc = 2,
}

impl ClockKind {
    /// From the header's `clock_kind` field.
    pub fn from_u32(v: u32) -> Option<Self> {
        match v {
            1 => Some(ClockKind::Realtime),
            2 => Some(ClockKind::Tsc),
            _ => None,
        }
    }
}

/// A linear map from raw readings to Unix nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Calibration {
    /// The clock.
    pub kind: ClockKind,
    /// A raw reading...
    pub raw0: u64,
    /// ...taken at this Unix time in nanoseconds.
    pub unix_ns0: u64,
    /// Raw ticks per second (1e9 for realtime).
    pub hz: u64,
    /// `2^32 * 1e9 / hz`, for integer conversion.
    mult: u64,
}

impl Calibration {
    /// A calibration for `kind` anchored at (`raw0`, `unix_ns0`) with `hz` ticks per second.
    pub fn new(kind: ClockKind, raw0: u64, unix_ns0: u64, hz: u64) -> Self {
        let hz = match kind {
            ClockKind::Realtime => 1_000_000_000,
            ClockKind::Tsc => hz.max(1),
        };
        let mult = ((1_000_000_000u128 << 32) / hz as u128).min(u64::MAX as u128) as u64;
        Calibration {
            kind,
            raw0,
            unix_ns0,
            hz,
            mult,
        }
    }

    /// The same rate anchored at a fresher pair of readings.
    pub fn reanchor(&self, raw: u64, unix_ns: u64) -> Self {
        Calibration::new(self.kind, raw, unix_ns, self.hz)
    }

    /// Unix nanoseconds for a raw reading (saturating at the ends of `i64`).
    pub fn to_unix_ns(&self, raw: u64) -> i64 {
        match self.kind {
            ClockKind::Realtime => raw.min(i64::MAX as u64) as i64,
            ClockKind::Tsc => {
                let (delta, neg) = if raw >= self.raw0 {
                    (raw - self.raw0, false)
                } else {
                    (self.raw0 - raw, true)
                };
                let ns = ((delta as u128 * self.mult as u128) >> 32).min(i64::MAX as u128) as i64;
                let base = self.unix_ns0.min(i64::MAX as u64) as i64;
                if neg {
                    base.saturating_sub(ns)
                } else {
                    base.saturating_add(ns)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tsc_readings_convert_linearly() {
        let c = Calibration::new(ClockKind::Tsc, 1_000, 5_000_000_000, 2_000_000_000);
        assert_eq!(c.to_unix_ns(1_000), 5_000_000_000);
        assert_eq!(c.to_unix_ns(3_000), 5_000_001_000);
        assert_eq!(c.to_unix_ns(0), 4_999_999_500);
        assert_eq!(c.to_unix_ns(2_000_001_000), 6_000_000_000);
    }

    #[test]
    fn realtime_readings_are_already_unix_ns() {
        let c = Calibration::new(ClockKind::Realtime, 0, 0, 0);
        assert_eq!(c.to_unix_ns(123), 123);
    }
}
