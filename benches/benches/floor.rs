//! The machine's floor for a log call: a bare bounded MPSC ring, written inline here (not
//! ringlog's), whose producer does only what any shared-memory logger must:
//!
//! 1. read the TSC (the record's timestamp),
//! 2. claim a position with one `fetch_add` on the shared claim cursor,
//! 3. check the slot's sequence word says "free for this lap" (an Acquire load of the line it is
//!    about to write; without it a producer could overwrite an unread slot),
//! 4. write one 64-byte slot (8-byte sequence word + 56-byte body),
//! 5. publish with one Release store of the sequence word.
//!
//! The ring follows Vyukov's bounded queue: slot `i` starts with sequence `i`; a producer owns
//! position `pos` when the slot's sequence equals `pos`, and publishes `pos + 1`; the consumer
//! reads position `pos` when the sequence is `pos + 1`, then frees the slot for the next lap by
//! storing `pos + SLOTS`.
//!
//! Cases:
//! * `floor/alone`: one producer, no consumer; the ring is reset (untimed) before every burst of
//!   at most `SLOTS` pushes, so it never fills and the slots are warm in this core's cache.
//! * `floor/alone_2_producers`: two producers at once on the same ring (claim-cursor contention),
//!   reset between bursts; one iteration = one push on each thread.
//! * `floor/with_consumer`: one producer while a consumer thread drains concurrently on the other
//!   core: the slots' cache lines move between cores, and the producer waits if it laps the
//!   consumer.
//!
//! The lane shape (ringlog's layout version 2: a thread writes into a lane of its own, so no
//! other producer touches its claim cursor):
//!
//! * `floor/lane`: one producer on a ring only it writes; the claim is a load and a plain store
//!   of the cursor (kept in shared memory, as a crash-safe logger must: the consumer tells a
//!   claim from an empty ring by it) instead of a `fetch_add`: no locked instruction at all.
//! * `floor/lane_with_consumer`: `floor/lane`'s producer while a consumer thread drains
//!   concurrently on the other core, as `with_consumer`: the floor under the hot path measured
//!   with a drain attached (`ringload --drain`: a thread's own lane, a drain taking its records
//!   and freeing its slots on the other core).
//! * `floor/lanes_2_producers`: two producers at once, each on its own lane-shaped ring (what
//!   ringlog's lanes give two threads); one iteration = one push on each thread.
//!
//! The same two lane rows on rings too large for any cache (`DRAM_SLOTS` x 64 B = 128 MiB per
//! producer, four times the L3), written once per burst like `ringload` without a drain writes
//! a ring that holds every record: every slot is a cache line the producer must first fetch
//! from memory, so these rows measure what the machine's memory gives one and two writers.
//!
//! * `floor/lane_dram`: one producer on a 128 MiB lane-shaped ring.
//! * `floor/lanes_2_producers_dram`: two producers at once, each on its own 128 MiB ring.

use std::cell::UnsafeCell;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use crossbeam_utils::CachePadded;
use ringlog_benches::pair::timed_pair;

/// Slots in the ring: 4096 x 64 B = 256 KiB, inside this machine's 1 MiB L2.
const SLOTS: usize = 4096;

/// Slots in a DRAM-sized ring: 2^21 x 64 B = 128 MiB, four times this machine's 32 MiB L3.
const DRAM_SLOTS: usize = 1 << 21;

/// One slot: exactly one cache line.
#[repr(C, align(64))]
struct Slot {
    /// `pos` while free for the lap of position `pos`; `pos + 1` once that position's record is
    /// published. The consumer stores `pos + SLOTS` to free it for the next lap.
    seq: AtomicU64,
    /// The record: timestamp and six words of payload.
    body: UnsafeCell<[u64; 7]>,
}

const _: () = assert!(core::mem::size_of::<Slot>() == 64);

/// Generic over its slot count (a power of two): [`SLOTS`], or [`DRAM_SLOTS`] for the `_dram` rows.
struct Ring<const SLOTS: usize> {
    /// Next position to claim; producers `fetch_add` it.
    claim: CachePadded<AtomicU64>,
    slots: Box<[Slot]>,
}

// SAFETY: a slot's body is written only by the producer that owns its position (sequence ==
// pos) and read only by the consumer after the Release publish; the sequence word orders them.
unsafe impl<const SLOTS: usize> Sync for Ring<SLOTS> {}

#[inline(always)]
fn rdtsc() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: rdtsc has no preconditions; it only reads the time-stamp counter.
        #[allow(unused_unsafe)]
        unsafe {
            core::arch::x86_64::_rdtsc()
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        ringlog_benches::clock::monotonic_ns()
    }
}

impl<const SLOTS: usize> Ring<SLOTS> {
    fn new() -> Ring<SLOTS> {
        let slots = (0..SLOTS as u64)
            .map(|i| Slot {
                seq: AtomicU64::new(i),
                body: UnsafeCell::new([0; 7]),
            })
            .collect();
        Ring {
            claim: CachePadded::new(AtomicU64::new(0)),
            slots,
        }
    }

    /// Empties the ring (no thread is using it: `&mut`).
    fn reset(&mut self) {
        *self.claim.get_mut() = 0;
        for (i, s) in self.slots.iter_mut().enumerate() {
            *s.seq.get_mut() = i as u64;
        }
    }

    #[inline(always)]
    fn push(&self, payload: &[u64; 6]) {
        let ts = rdtsc();
        // SYNC: Relaxed; the claim only hands out positions. The data is ordered by the slot's
        // sequence word (the Acquire load and Release store in `write`).
        let pos = self.claim.fetch_add(1, Ordering::Relaxed);
        self.write(pos, ts, payload);
    }

    /// [`push`](Ring::push) for the only producer of this ring (the lane shape): the claim is
    /// a load and a plain store of the cursor, no `fetch_add`.
    #[inline(always)]
    fn push_single(&self, payload: &[u64; 6]) {
        let ts = rdtsc();
        // SYNC: Relaxed load and store; one writer (this thread) reads its own last store.
        let pos = self.claim.load(Ordering::Relaxed);
        self.claim.store(pos + 1, Ordering::Relaxed);
        self.write(pos, ts, payload);
    }

    /// Waits until the slot of the claimed position `pos` is free for its lap, writes the
    /// record and publishes it.
    #[inline(always)]
    fn write(&self, pos: u64, ts: u64, payload: &[u64; 6]) {
        let slot = &self.slots[pos as usize & (SLOTS - 1)];
        // SYNC: Acquire; pairs with the consumer's Release store in `pop` that freed the slot
        // for this lap, so our write follows its read of the previous lap.
        while slot.seq.load(Ordering::Acquire) != pos {
            std::hint::spin_loop();
        }
        let rec = [
            ts, payload[0], payload[1], payload[2], payload[3], payload[4], payload[5],
        ];
        // SAFETY: the slot's sequence equals our claimed position, so we own its body until we
        // publish; no other producer holds this position and the consumer waits for pos + 1.
        unsafe { slot.body.get().write(rec) };
        // SYNC: Release; pairs with the consumer's Acquire load in `pop`.
        slot.seq.store(pos + 1, Ordering::Release);
    }

    /// Reads position `pos` if it is published, and frees its slot for the next lap.
    #[inline(always)]
    fn pop(&self, pos: u64) -> Option<[u64; 7]> {
        let slot = &self.slots[pos as usize & (SLOTS - 1)];
        // SYNC: Acquire; pairs with the producer's Release store in `push`.
        if slot.seq.load(Ordering::Acquire) != pos + 1 {
            return None;
        }
        // SAFETY: the record at `pos` is published and the slot is not freed yet, so no producer
        // writes the body until our store below.
        let rec = unsafe { slot.body.get().read() };
        // SYNC: Release; pairs with the next lap's producer's Acquire load in `push`.
        slot.seq.store(pos + SLOTS as u64, Ordering::Release);
        Some(rec)
    }
}

/// A record-sized payload like the ringload message's (ids, i, lat bits, worker bytes).
fn payload() -> [u64; 6] {
    [
        8 | (1234 << 32),
        5678 | (50 << 32),
        7,
        1.75f64.to_bits(),
        0x302d_7430_2d70,
        0,
    ]
}

/// One producer alone on a ring, pushing with `push` (the ring is reset, untimed, before
/// every burst of at most `SLOTS` pushes, so it never fills).
fn one_producer<const SLOTS: usize>(
    c: &mut Criterion,
    name: &str,
    push: fn(&Ring<SLOTS>, &[u64; 6]),
) {
    let mut g = c.benchmark_group("floor");
    g.throughput(Throughput::Elements(1));
    let mut ring = Ring::<SLOTS>::new();
    let p = payload();
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = left.min(SLOTS as u64);
                ring.reset();
                let t = Instant::now();
                for _ in 0..n {
                    push(&ring, black_box(&p));
                }
                total += t.elapsed();
                left -= n;
            }
            total
        })
    });
    g.finish();
}

/// Two producers at once, pushing with `push`: into one shared ring (`rings == 1`) or each into
/// its own (`rings == 2`); rings reset between bursts. One iteration is one push on each thread.
fn two_producers<const SLOTS: usize>(
    c: &mut Criterion,
    name: &str,
    rings: usize,
    push: fn(&Ring<SLOTS>, &[u64; 6]),
) {
    let mut g = c.benchmark_group("floor");
    g.throughput(Throughput::Elements(2));
    let mut rings: Vec<Ring<SLOTS>> = (0..rings).map(|_| Ring::new()).collect();
    let p = payload();
    // Both threads together must not fill a shared ring within a burst.
    let burst = SLOTS as u64 * rings.len() as u64 / 2;
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = left.min(burst);
                rings.iter_mut().for_each(Ring::reset);
                let rings = &rings;
                total += timed_pair(|t| {
                    let ring = &rings[t % rings.len()];
                    for _ in 0..n {
                        push(ring, black_box(&p));
                    }
                });
                left -= n;
            }
            total
        })
    });
    g.finish();
}

fn alone(c: &mut Criterion) {
    one_producer::<SLOTS>(c, "alone", Ring::push);
}

fn alone_2_producers(c: &mut Criterion) {
    two_producers::<SLOTS>(c, "alone_2_producers", 1, Ring::push);
}

fn lane(c: &mut Criterion) {
    one_producer::<SLOTS>(c, "lane", Ring::push_single);
}

fn lanes_2_producers(c: &mut Criterion) {
    two_producers::<SLOTS>(c, "lanes_2_producers", 2, Ring::push_single);
}

fn lane_dram(c: &mut Criterion) {
    one_producer::<DRAM_SLOTS>(c, "lane_dram", Ring::push_single);
}

fn lanes_2_producers_dram(c: &mut Criterion) {
    two_producers::<DRAM_SLOTS>(c, "lanes_2_producers_dram", 2, Ring::push_single);
}

fn with_consumer(c: &mut Criterion) {
    producer_and_consumer(c, "with_consumer", Ring::push);
}

/// The lane shape (one producer, claim by load and store) with a consumer reading and freeing
/// every record as it comes: the floor under what `ringload --drain` measures of the hot path
/// (a thread's own lane, a drain on the other core taking its records and freeing its slots).
fn lane_with_consumer(c: &mut Criterion) {
    producer_and_consumer(c, "lane_with_consumer", Ring::push_single);
}

/// One producer pushing with `push` while a consumer thread reads and frees every record.
fn producer_and_consumer(c: &mut Criterion, name: &str, push: fn(&Ring<SLOTS>, &[u64; 6])) {
    let mut g = c.benchmark_group("floor");
    g.throughput(Throughput::Elements(1));
    let ring = Ring::<SLOTS>::new();
    let stop = AtomicBool::new(false);
    let p = payload();
    std::thread::scope(|s| {
        let consumer = s.spawn(|| {
            let mut pos = 0u64;
            let mut sum = 0u64;
            // SYNC: Relaxed; the flag orders nothing, it only ends the loop.
            while !stop.load(Ordering::Relaxed) {
                match ring.pop(pos) {
                    Some(rec) => {
                        sum = sum.wrapping_add(rec[0]);
                        pos += 1;
                    }
                    None => std::hint::spin_loop(),
                }
            }
            black_box(sum);
        });
        g.bench_function(name, |b| b.iter(|| push(&ring, black_box(&p))));
        // SYNC: Relaxed; see the consumer's load.
        stop.store(true, Ordering::Relaxed);
        consumer.join().expect("consumer panicked");
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    targets = alone, alone_2_producers, with_consumer, lane, lane_with_consumer,
        lanes_2_producers, lane_dram, lanes_2_producers_dram
}
criterion_main!(benches);
