//! Measured exploration of what could go below the floor (issue: "explore the designs that go
//! below the floor"): cheaper timestamps, and per-thread lanes with no shared read-modify-write
//! on the hot path (LTTng's per-CPU buffers, NanoLog's per-thread staging buffers).
//!
//! * `clock/*`: the cost of each timestamp source a producer could use.
//! * `lanes/*`: a producer that owns its lane (single-producer ring: a plain Release store of
//!   its own tail, no `lock`-prefixed instruction), one thread alone and two threads each on its
//!   own lane at once, against the same push through one shared claim cursor (`fetch_add`), as in
//!   the floor bench. Rings are reset (untimed) between bursts so they never fill.
//!
//! Run: `cargo bench -p ringlog-benches --bench explore`.

use std::cell::UnsafeCell;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use crossbeam_utils::CachePadded;
use ringlog_benches::pair::timed_pair;

const SLOTS: usize = 4096;

#[repr(C, align(64))]
struct Slot {
    seq: AtomicU64,
    body: UnsafeCell<[u64; 7]>,
}

/// A ring of 64-byte slots with either one shared claim cursor or one tail per lane.
struct Ring {
    claim: CachePadded<AtomicU64>,
    slots: Box<[Slot]>,
}

// SAFETY: a slot's body is written only by the producer that owns its position and read by
// nobody in these producer-only measurements (the sequence word orders any reader).
unsafe impl Sync for Ring {}

impl Ring {
    fn new() -> Ring {
        Ring {
            claim: CachePadded::new(AtomicU64::new(0)),
            slots: (0..SLOTS as u64)
                .map(|i| Slot {
                    seq: AtomicU64::new(i),
                    body: UnsafeCell::new([0; 7]),
                })
                .collect(),
        }
    }

    fn reset(&self) {
        // SYNC: Relaxed; resets happen between timed bursts on the measuring thread(s), which
        // the harness orders with thread joins.
        self.claim.store(0, Ordering::Relaxed);
        for (i, s) in self.slots.iter().enumerate() {
            // SYNC: Relaxed; as above.
            s.seq.store(i as u64, Ordering::Relaxed);
        }
    }

    #[inline(always)]
    fn write(&self, pos: u64, ts: u64, v: u64) {
        let slot = &self.slots[pos as usize & (SLOTS - 1)];
        // SAFETY: the caller owns position `pos` (claimed it, or is the lane's only producer),
        // and no reader exists in these measurements.
        unsafe { *slot.body.get() = [ts, v, v, v, v, v, v] };
        // SYNC: Release; would pair with a consumer's Acquire load of the sequence word.
        slot.seq.store(pos + 1, Ordering::Release);
    }

    /// Shared cursor: one `lock xadd` per record.
    #[inline(always)]
    fn push_shared(&self, v: u64) {
        let ts = rdtsc();
        // SYNC: Relaxed; the claim only hands out positions (the sequence word carries data).
        let pos = self.claim.fetch_add(1, Ordering::Relaxed);
        self.write(pos, ts, v);
    }

    /// Own lane: the tail is this thread's alone; a plain load and store, no RMW.
    #[inline(always)]
    fn push_lane(&self, v: u64) {
        let ts = rdtsc();
        // SYNC: Relaxed; only this thread writes the lane's tail.
        let pos = self.claim.load(Ordering::Relaxed);
        self.write(pos, ts, v);
        // SYNC: Release; would pair with the consumer's Acquire load of the lane tail.
        self.claim.store(pos + 1, Ordering::Release);
    }
}

#[inline(always)]
fn rdtsc() -> u64 {
    // SAFETY: rdtsc has no preconditions; it only reads the time-stamp counter.
    #[allow(unused_unsafe)]
    unsafe {
        core::arch::x86_64::_rdtsc()
    }
}

fn clock_gettime(id: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; clock_gettime only writes it.
    unsafe { libc::clock_gettime(id, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn clocks(c: &mut Criterion) {
    let mut g = c.benchmark_group("clock");
    g.bench_function("rdtsc", |b| b.iter(|| black_box(rdtsc())));
    g.bench_function("rdtscp", |b| {
        b.iter(|| {
            let mut aux = 0u32;
            // SAFETY: rdtscp has no preconditions; it reads the counter and the core id.
            #[allow(unused_unsafe)]
            black_box(unsafe { core::arch::x86_64::__rdtscp(&mut aux) })
        })
    });
    g.bench_function("clock_realtime", |b| {
        b.iter(|| black_box(clock_gettime(libc::CLOCK_REALTIME)))
    });
    g.bench_function("clock_realtime_coarse", |b| {
        b.iter(|| black_box(clock_gettime(libc::CLOCK_REALTIME_COARSE)))
    });
    g.bench_function("instant_now", |b| b.iter(|| black_box(Instant::now())));
    g.finish();
}

/// Times `iters` pushes in bursts of at most SLOTS, resetting between bursts (untimed).
fn bursts(ring: &Ring, iters: u64, push: impl Fn(&Ring, u64)) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(SLOTS as u64);
        ring.reset();
        let t = Instant::now();
        for i in 0..n {
            push(ring, i);
        }
        total += t.elapsed();
        left -= n;
    }
    total
}

fn lanes(c: &mut Criterion) {
    let mut g = c.benchmark_group("lanes");
    g.measurement_time(Duration::from_secs(3));
    let shared = Ring::new();
    g.bench_function("shared_cursor_alone", |b| {
        b.iter_custom(|iters| bursts(&shared, iters, |r, i| r.push_shared(i)))
    });
    let lane = Ring::new();
    g.bench_function("own_lane_alone", |b| {
        b.iter_custom(|iters| bursts(&lane, iters, |r, i| r.push_lane(i)))
    });
    // Two threads: one shared cursor (contended) vs two lanes (nothing shared).
    g.bench_function("shared_cursor_2_threads", |b| {
        b.iter_custom(|iters| {
            let n = iters.min(SLOTS as u64 / 2);
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let k = left.min(n);
                shared.reset();
                total += timed_pair(|_| (0..k).for_each(|i| shared.push_shared(i)));
                left -= k;
            }
            total
        })
    });
    let (a, b2) = (Ring::new(), Ring::new());
    g.bench_function("own_lanes_2_threads", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let k = left.min(SLOTS as u64);
                a.reset();
                b2.reset();
                let lanes = [&a, &b2];
                total += timed_pair(|t| (0..k).for_each(|i| lanes[t].push_lane(i)));
                left -= k;
            }
            total
        })
    });
    g.finish();
}

criterion_group!(benches, clocks, lanes);
criterion_main!(benches);
