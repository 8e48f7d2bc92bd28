//! loom model checks of writing a record in place (`Ring::own_one`, `OwnedSlot::fill`,
//! `OwnedSlot::commit`, and the `SKIP` an `OwnedSlot` dropped uncommitted publishes): the log
//! macros' fast path, beside producers that `push` and a drain that releases as it reads.
//! The slot bodies are loom cells, so a fill racing the drain's read of the same body is a
//! reported data race.
//!
//! Run with the other models (`scripts/test.sh`):
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo test -p ringlog-wire --test loom_in_place --release
//! ```
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use ringlog_wire::ring::{Consumer, HeapSlots, Next, PushError, Ring, RingCursors, MAX_SPAN};
use ringlog_wire::sync::{AtomicU64, Ordering};

/// Bytes of record data per slot.
const BODY: usize = 8;

/// Checks `f` under every interleaving with at most `preemptions` forced thread switches
/// (`LOOM_MAX_PREEMPTIONS` overrides it).
fn model(preemptions: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(preemptions);
    }
    builder.check(f);
}

struct Fixture {
    cursors: RingCursors,
    slots: HeapSlots,
    caches: [AtomicU64; 2],
}

impl Fixture {
    fn new(slots: usize) -> Arc<Fixture> {
        Arc::new(Fixture {
            cursors: RingCursors::new(),
            slots: HeapSlots::new(slots, BODY),
            caches: [AtomicU64::new(0), AtomicU64::new(0)],
        })
    }

    fn ring(&self) -> Ring<'_, HeapSlots> {
        Ring::new(&self.cursors, &self.slots, MAX_SPAN)
    }
}

/// Record `i` of producer `k`: every byte depends on both.
fn record(k: u8, i: u8) -> [u8; BODY] {
    core::array::from_fn(|j| match j {
        0 => k,
        1 => i,
        j => k.wrapping_mul(31) ^ i.wrapping_mul(17) ^ (j as u8).wrapping_mul(7),
    })
}

/// Writes record `i` of producer `k` in place, waiting (yielding) while the ring is full.
fn write_in_place(ring: &Ring<'_, HeapSlots>, k: u8, i: u8, cache: &AtomicU64) {
    loop {
        match ring.own_one(100 + k as u32, cache) {
            Ok(mut slot) => {
                slot.fill(|body| body.copy_from_slice(&record(k, i)));
                slot.commit();
                return;
            }
            Err(PushError::Full { .. }) => thread::yield_now(),
            Err(e) => panic!("own_one failed: {e}"),
        }
    }
}

/// Reads `records` records (counting skipped slots apart), releasing after each.
fn drain(fx: &Fixture, records: usize) -> (Vec<[u8; BODY]>, usize) {
    // SAFETY: the model's only consumer.
    let mut consumer = unsafe { Consumer::new(fx.ring()) };
    let (mut got, mut skipped) = (Vec::new(), 0);
    let mut buf = Vec::new();
    while got.len() < records {
        buf.clear();
        match consumer.next(&mut buf) {
            Next::Record { pid, span, .. } => {
                assert_eq!(span, 1);
                let rec: [u8; BODY] = buf[..].try_into().unwrap();
                assert_eq!(pid, 100 + rec[0] as u32, "pid in the sequence word");
                got.push(rec);
                consumer.release();
            }
            Next::Skipped => {
                skipped += 1;
                consumer.release();
            }
            Next::Empty | Next::Stalled(_) => thread::yield_now(),
        }
    }
    (got, skipped)
}

/// Producer 0 writes `n` records in place, producer 1 pushes one; the drain reads them all.
fn in_place_beside_push(slots: usize, n: u8) {
    let fx = Fixture::new(slots);
    let a = {
        let fx = fx.clone();
        thread::spawn(move || {
            let ring = fx.ring();
            for i in 0..n {
                write_in_place(&ring, 0, i, &fx.caches[0]);
            }
        })
    };
    let b = {
        let fx = fx.clone();
        thread::spawn(move || loop {
            match fx.ring().push(&record(1, 0), 101, &fx.caches[1]) {
                Ok(_) => return,
                Err(PushError::Full { .. }) => thread::yield_now(),
                Err(e) => panic!("push failed: {e}"),
            }
        })
    };
    let (got, skipped) = drain(&fx, n as usize + 1);
    a.join().unwrap();
    b.join().unwrap();
    assert_eq!(skipped, 0);
    let of = |k: u8| {
        got.iter()
            .filter(|r| r[0] == k)
            .copied()
            .collect::<Vec<_>>()
    };
    assert_eq!(of(0), (0..n).map(|i| record(0, i)).collect::<Vec<_>>());
    assert_eq!(of(1), vec![record(1, 0)]);
    // SYNC: Relaxed; the producers were joined.
    assert_eq!(fx.cursors.claim.load(Ordering::Relaxed), n as u64 + 1);
}

#[test]
fn records_written_in_place_beside_pushed_ones_arrive_once_in_order_and_intact() {
    model(2, || in_place_beside_push(4, 2));
}

#[test]
fn an_in_place_writer_waiting_on_a_full_two_slot_ring_loses_nothing() {
    model(1, || in_place_beside_push(2, 2));
}

#[test]
fn a_slot_dropped_while_filling_is_skipped_and_the_next_records_arrive() {
    model(2, || {
        let fx = Fixture::new(4);
        let a = {
            let fx = fx.clone();
            thread::spawn(move || {
                let ring = fx.ring();
                let mut slot = loop {
                    match ring.own_one(100, &fx.caches[0]) {
                        Ok(slot) => break slot,
                        Err(_) => thread::yield_now(),
                    }
                };
                // Half written, then given up (what a panicking argument does).
                slot.fill(|body| body[..4].copy_from_slice(&[0xEE; 4]));
                drop(slot);
                write_in_place(&ring, 0, 1, &fx.caches[0]);
            })
        };
        let b = {
            let fx = fx.clone();
            thread::spawn(move || write_in_place(&fx.ring(), 1, 0, &fx.caches[1]))
        };
        let (got, skipped) = drain(&fx, 2);
        a.join().unwrap();
        b.join().unwrap();
        assert_eq!(skipped, 1, "{got:?}");
        assert!(
            got.contains(&record(0, 1)) && got.contains(&record(1, 0)),
            "{got:?}"
        );
    });
}
