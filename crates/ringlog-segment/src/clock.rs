//! Reading and calibrating the segment clock (see `ringlog_wire::clock`).

use std::time::{Duration, Instant};

use ringlog_wire::clock::{Calibration, ClockKind};

/// Unix time in nanoseconds from `CLOCK_REALTIME`.
#[inline]
pub fn unix_ns() -> u64 {
    // std's SystemTime is libc's clock_gettime (vDSO). (rustix's own vDSO parser does not
    // survive valgrind's synthetic vDSO, and valgrind is how we count the hot path's
    // instructions.)
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos().min(u64::MAX as u128) as u64)
        .unwrap_or(0)
}

/// The time-stamp counter.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub fn rdtsc() -> u64 {
    // SAFETY: rdtsc has no preconditions on x86_64; it only reads the counter.
    #[allow(unused_unsafe)]
    unsafe {
        core::arch::x86_64::_rdtsc()
    }
}

/// A raw reading of `kind` (the value producers store in records).
#[inline(always)]
pub fn now_raw(kind: ClockKind) -> u64 {
    match kind {
        #[cfg(target_arch = "x86_64")]
        ClockKind::Tsc => rdtsc(),
        _ => unix_ns(),
    }
}

/// Whether this CPU has an invariant TSC the kernel also trusts as its clocksource.
pub fn tsc_is_usable() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: cpuid is always available on x86_64 and only reads identification registers.
        #[allow(unused_unsafe)]
        let max_ext = unsafe { core::arch::x86_64::__cpuid(0x8000_0000) }.eax;
        if max_ext < 0x8000_0007 {
            return false;
        }
        // SAFETY: as above; leaf 0x8000_0007 exists (checked).
        #[allow(unused_unsafe)]
        let edx = unsafe { core::arch::x86_64::__cpuid(0x8000_0007) }.edx;
        let invariant = edx & (1 << 8) != 0;
        let kernel_trusts = std::fs::read_to_string(
            "/sys/devices/system/clocksource/clocksource0/current_clocksource",
        )
        .map(|s| s.trim() == "tsc")
        .unwrap_or(true);
        invariant && kernel_trusts
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Which clock a new segment should use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClockChoice {
    /// The TSC when usable, else realtime. `RINGLOG_CLOCK=realtime|tsc` overrides.
    #[default]
    Auto,
    /// Always `CLOCK_REALTIME`.
    Realtime,
}

/// Picks the clock for a new segment and calibrates it (about 20 ms for the TSC).
pub fn calibrate(choice: ClockChoice) -> Calibration {
    let env = std::env::var("RINGLOG_CLOCK").ok();
    let want_tsc = match (choice, env.as_deref()) {
        (ClockChoice::Realtime, _) | (_, Some("realtime")) => false,
        _ => tsc_is_usable(),
    };
    #[cfg(target_arch = "x86_64")]
    if want_tsc {
        let pair = || {
            // The realtime reading bracketed by two TSC readings: take the midpoint.
            let a = rdtsc();
            let ns = unix_ns();
            let b = rdtsc();
            (a + (b - a) / 2, ns)
        };
        let (raw0, ns0) = pair();
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(20) {
            std::hint::spin_loop();
        }
        let (raw1, ns1) = pair();
        if ns1 > ns0 && raw1 > raw0 {
            let hz = ((raw1 - raw0) as u128 * 1_000_000_000 / (ns1 - ns0) as u128) as u64;
            return Calibration::new(ClockKind::Tsc, raw1, ns1, hz);
        }
    }
    let _ = want_tsc;
    Calibration::new(ClockKind::Realtime, 0, 0, 1_000_000_000)
}
