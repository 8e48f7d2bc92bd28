//! loom model checks of the ring protocol (`ringlog_wire::ring`).
//!
//! Every model runs producers and the drain as loom threads over a heap-backed ring whose slot
//! bodies are loom `UnsafeCell`s, so loom reports a data race if the protocol ever lets a writer
//! and the drain touch the same body at once, and enumerates the interleavings (and the weak
//! memory orderings) of the sequence words and cursors.
//!
//! Run with:
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo test -p ringlog-wire --test loom --release
//! ```
//!
//! The preemption bound defaults to [`PREEMPTIONS`]; `LOOM_MAX_PREEMPTIONS` overrides it (a
//! higher bound explores more and takes much longer).
#![cfg(loom)]

use std::mem;
use std::sync::atomic::AtomicUsize as StdAtomicUsize;

use loom::sync::atomic::AtomicUsize;
use loom::sync::Arc;
use loom::thread;
use ringlog_wire::ring::{
    Consumer, FenceCheck, HeapSlots, Next, PushError, Ring, RingCursors, Stall, MAX_SPAN,
};
use ringlog_wire::sync::{AtomicU64, Ordering};

/// Default preemption bound: enough for every interleaving with up to this many forced switches.
const PREEMPTIONS: usize = 2;

/// Bytes of record data per slot (a 16-byte slot minus its sequence word).
const BODY: usize = 8;

/// The pid a producer with index `k` writes with.
fn pid_of(k: u8) -> u32 {
    100 + k as u32
}

/// Record `i` of producer `k`, `span` slots long: every byte depends on both, so a torn,
/// stale or misplaced body never passes for the right one.
fn record(k: u8, i: u8, span: usize) -> Vec<u8> {
    (0..span * BODY)
        .map(|j| {
            let j = j as u8;
            match j {
                0 => k,
                1 => i,
                _ => k.wrapping_mul(31) ^ i.wrapping_mul(17) ^ j.wrapping_mul(7),
            }
        })
        .collect()
}

/// Checks `f` under every interleaving with at most `preemptions` forced thread switches
/// (`LOOM_MAX_PREEMPTIONS` overrides it).
fn model(preemptions: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(preemptions);
    }
    static EXECUTIONS: StdAtomicUsize = StdAtomicUsize::new(0);
    EXECUTIONS.store(0, std::sync::atomic::Ordering::Relaxed);
    builder.check(move || {
        EXECUTIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        f()
    });
    eprintln!(
        "{} executions (preemption bound {:?})",
        EXECUTIONS.load(std::sync::atomic::Ordering::Relaxed),
        builder.preemption_bound
    );
}

/// What producers and the drain share: the ring, one read cache per "process", and a count of
/// producers that have finished (their last push committed, or their fault injected).
struct Fixture {
    cursors: RingCursors,
    slots: HeapSlots,
    caches: Vec<AtomicU64>,
    finished: AtomicUsize,
    /// Slots of revoked claims the producers claimed again (`Ring::counting_reclaims`).
    reclaimed: AtomicU64,
}

impl Fixture {
    fn new(slots: usize, caches: usize) -> Arc<Fixture> {
        Arc::new(Fixture {
            cursors: RingCursors::new(),
            slots: HeapSlots::new(slots, BODY),
            caches: (0..caches).map(|_| AtomicU64::new(0)).collect(),
            finished: AtomicUsize::new(0),
            reclaimed: AtomicU64::new(0),
        })
    }

    fn ring(&self) -> Ring<'_, HeapSlots> {
        Ring::new(&self.cursors, &self.slots, MAX_SPAN).counting_reclaims(&self.reclaimed)
    }

    /// Slots the producers counted as revoked and claimed again (read after joining them).
    fn reclaimed(&self) -> usize {
        // SYNC: Relaxed; read after every producer thread was joined.
        self.reclaimed.load(Ordering::Relaxed) as usize
    }

    fn finish(&self) {
        // SYNC: Release; pairs with the drain's Acquire load, so every commit of this producer
        // happens before the drain's last look at the ring.
        self.finished.fetch_add(1, Ordering::Release);
    }
}

/// Pushes `record` and waits (yielding) while the ring is full, as `Policy::Block` does.
fn push_blocking(ring: &Ring<'_, HeapSlots>, record: &[u8], pid: u32, cache: &AtomicU64) -> u64 {
    loop {
        match ring.push(record, pid, cache) {
            Ok(pos) => return pos,
            Err(PushError::Full { .. }) => thread::yield_now(),
            Err(e) => panic!("push failed: {e}"),
        }
    }
}

/// Claims `span` slots, waiting (yielding) while the ring is full.
fn claim_blocking<'a>(
    ring: &Ring<'a, HeapSlots>,
    span: u32,
    cache: &AtomicU64,
) -> ringlog_wire::ring::Claim<'a, HeapSlots> {
    loop {
        match ring.claim(span, cache) {
            Ok(claim) => return claim,
            Err(PushError::Full { .. }) => thread::yield_now(),
            Err(e) => panic!("claim failed: {e}"),
        }
    }
}

/// A producer that pushes records `0..n` of `span` slots and finishes.
fn spawn_producer(
    fx: &Arc<Fixture>,
    k: u8,
    n: u8,
    span: usize,
    cache: usize,
) -> thread::JoinHandle<()> {
    let fx = fx.clone();
    thread::spawn(move || {
        let ring = fx.ring();
        for i in 0..n {
            push_blocking(&ring, &record(k, i, span), pid_of(k), &fx.caches[cache]);
        }
        fx.finish();
    })
}

/// What the drain saw.
#[derive(Debug, Default)]
struct Drained {
    /// `(pid from the sequence word, record bytes)` in ring order.
    records: Vec<(u32, Vec<u8>)>,
    /// Positions of unowned claims the drain revoked.
    revoked: Vec<u64>,
    /// `(position, pid, span)` of records the drain abandoned.
    abandoned: Vec<(u64, u32, u32)>,
    skipped: usize,
    /// The drain's position when it stopped.
    end: u64,
}

impl Drained {
    /// Record indices of producer `k`, in the order they were read.
    fn indices_of(&self, k: u8) -> Vec<u8> {
        self.records
            .iter()
            .filter(|(_, b)| b[0] == k)
            .map(|(_, b)| b[1])
            .collect()
    }
}

/// How the drain behaves.
struct DrainOpts<'f> {
    /// Producers to wait for.
    producers: usize,
    /// Stop after this many records instead of waiting for the producers to finish: fewer
    /// atomic operations for loom to interleave, and no synchronisation through the finish
    /// counter that could hide a missing Release/Acquire on the last records.
    records: Option<usize>,
    /// Release after every record (true) or only when the ring looks empty (false: the drain
    /// reads a whole lap before it frees anything).
    release_each: bool,
    /// Revoke an unowned claim as soon as it is seen (true), or wait for its owner (false).
    revoke: bool,
    /// Whether the owner of a stalled record is dead; may join its thread first (that join is
    /// the model's "kill(pid, 0) says ESRCH").
    is_dead: &'f mut dyn FnMut(u32) -> bool,
}

/// The drain: reads until every producer finished and the ring is empty. Revokes every unowned
/// claim it meets at once (always safe: a living producer claims again), abandons a record only
/// when `is_dead` says its owner is gone, and checks each record's span and pid.
fn drain(fx: &Fixture, opts: DrainOpts<'_>) -> Drained {
    let ring = fx.ring();
    // SAFETY: the model has exactly one consumer (this drain thread).
    let mut consumer = unsafe { Consumer::new(ring) };
    let mut out = Drained::default();
    let mut buf = Vec::new();
    loop {
        // SYNC: Acquire; pairs with `Fixture::finish`. Loaded before `next` so that, once every
        // producer is done, an `Empty` below is final.
        let done = match opts.records {
            Some(n) if out.records.len() == n => break,
            Some(_) => false,
            None => fx.finished.load(Ordering::Acquire) == opts.producers,
        };
        buf.clear();
        match consumer.next(&mut buf) {
            Next::Record { pos, span, pid } => {
                assert_eq!(buf.len(), span as usize * BODY, "record at {pos}");
                assert!((1..=2).contains(&span), "span {span} at {pos}");
                assert_eq!(pid, pid_of(buf[0]), "pid in the sequence word at {pos}");
                out.records.push((pid, buf.clone()));
                if opts.release_each {
                    consumer.release();
                }
            }
            Next::Skipped => {
                out.skipped += 1;
                if opts.release_each {
                    consumer.release();
                }
            }
            Next::Empty => {
                if consumer.unreleased() > 0 {
                    consumer.release();
                }
                if done {
                    break;
                }
                thread::yield_now();
            }
            Next::Stalled(Stall::Unowned { pos }) => {
                if opts.revoke && consumer.revoke(pos) {
                    out.revoked.push(pos);
                    consumer.release();
                } else {
                    thread::yield_now();
                }
            }
            Next::Stalled(stall @ Stall::Writing { pos, pid, span }) => {
                if (opts.is_dead)(pid) {
                    // SAFETY: `is_dead` said the owner's thread is gone (it joined it).
                    assert!(unsafe { consumer.abandon(stall) }, "abandon {stall:?}");
                    out.abandoned.push((pos, pid, span));
                    consumer.release();
                } else {
                    thread::yield_now();
                }
            }
            Next::Stalled(stall @ Stall::Corrupt { .. }) => {
                panic!(
                    "the drain met a corrupt slot: {stall:?} (read {:?})",
                    out.records
                )
            }
        }
    }
    out.end = consumer.position();
    out
}

/// Asserts, once every producer has been joined, that the drain accounted for every position
/// any producer claimed (read, revoked or abandoned): nothing extra, such as a record written
/// twice, is left behind.
fn assert_consumed_everything(fx: &Fixture, d: &Drained) {
    // SYNC: Relaxed; the producers were joined, which orders their claims before this load.
    let claimed = fx.cursors.claim.load(Ordering::Relaxed);
    assert_eq!(
        d.end, claimed,
        "positions claimed but never consumed: {d:?}"
    );
}

fn never_dead(_: u32) -> bool {
    false
}

/// Asserts that producer `k`'s records `0..n` (of `span` slots) all arrived, once each, in
/// order, byte for byte.
fn assert_all_arrived(d: &Drained, k: u8, n: u8, span: usize) {
    assert_eq!(
        d.indices_of(k),
        (0..n).collect::<Vec<_>>(),
        "producer {k}: {d:?}"
    );
    for (_, bytes) in d.records.iter().filter(|(_, b)| b[0] == k) {
        assert_eq!(
            bytes,
            &record(k, bytes[1], span),
            "producer {k}: torn record"
        );
    }
}

#[test]
fn two_producers_records_arrive_exactly_once_in_order_and_intact() {
    model(PREEMPTIONS, || {
        let fx = Fixture::new(4, 2);
        let a = spawn_producer(&fx, 0, 2, 1, 0);
        let b = spawn_producer(&fx, 1, 2, 1, 1);
        let d = drain(
            &fx,
            DrainOpts {
                producers: 2,
                records: Some(4),
                revoke: false,
                release_each: true,
                is_dead: &mut never_dead,
            },
        );
        a.join().unwrap();
        b.join().unwrap();
        assert_all_arrived(&d, 0, 2, 1);
        assert_all_arrived(&d, 1, 2, 1);
        assert_eq!(d.records.len(), 4);
        assert!(d.abandoned.is_empty() && d.skipped == 0, "{d:?}");
        assert_consumed_everything(&fx, &d);
    });
}

static DROPPED_IN_SOME_EXECUTION: StdAtomicUsize = StdAtomicUsize::new(0);

/// A producer that pushes records `0..n` and drops (counts) each one the ring has no room
/// for, as `Policy::Drop` does; returns how many it dropped.
fn spawn_dropper(fx: &Arc<Fixture>, k: u8, n: u8, cache: usize) -> thread::JoinHandle<usize> {
    let fx = fx.clone();
    thread::spawn(move || {
        let ring = fx.ring();
        let mut dropped = 0;
        for i in 0..n {
            match ring.push(&record(k, i, 1), pid_of(k), &fx.caches[cache]) {
                Ok(_) => {}
                Err(PushError::Full { span: 1 }) => dropped += 1,
                Err(e) => panic!("push failed: {e}"),
            }
        }
        fx.finish();
        dropped
    })
}

#[test]
fn three_producers_on_a_two_slot_ring_lose_only_the_records_they_count_as_dropped() {
    model(1, || {
        // Three records for two slots. Producers 0 and 1 are threads of one process (they share
        // a read cache); producer 2 is another process.
        let fx = Fixture::new(2, 2);
        let producers = [
            spawn_dropper(&fx, 0, 1, 0),
            spawn_dropper(&fx, 1, 1, 0),
            spawn_dropper(&fx, 2, 1, 1),
        ];
        let d = drain(
            &fx,
            DrainOpts {
                producers: 3,
                records: None,
                revoke: true,
                release_each: true,
                is_dead: &mut never_dead,
            },
        );
        let mut total_dropped = 0;
        for (k, (h, attempted)) in producers.into_iter().zip([1, 1, 1]).enumerate() {
            let dropped = h.join().unwrap();
            total_dropped += dropped;
            let k = k as u8;
            let read = d.indices_of(k);
            assert_eq!(
                read.len() + dropped,
                attempted,
                "producer {k}: read + dropped == attempted: {d:?}"
            );
            assert!(
                read.windows(2).all(|w| w[0] < w[1]),
                "producer {k} in order: {d:?}"
            );
            for (_, bytes) in d.records.iter().filter(|(_, b)| b[0] == k) {
                assert_eq!(bytes, &record(k, bytes[1], 1), "producer {k}: torn record");
            }
        }
        if total_dropped > 0 {
            DROPPED_IN_SOME_EXECUTION.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        assert!(d.abandoned.is_empty() && d.skipped == 0, "{d:?}");
        assert_consumed_everything(&fx, &d);
    });
    assert!(
        DROPPED_IN_SOME_EXECUTION.load(std::sync::atomic::Ordering::Relaxed) > 0,
        "the model never filled the ring, so it did not test Full"
    );
}

#[test]
fn producers_blocked_on_a_full_two_slot_ring_wait_and_lose_nothing() {
    model(1, || {
        let fx = Fixture::new(2, 2);
        let a = spawn_producer(&fx, 0, 2, 1, 0);
        let b = spawn_producer(&fx, 1, 1, 1, 1);
        let d = drain(
            &fx,
            DrainOpts {
                producers: 2,
                records: Some(3),
                revoke: false,
                release_each: true,
                is_dead: &mut never_dead,
            },
        );
        a.join().unwrap();
        b.join().unwrap();
        assert_all_arrived(&d, 0, 2, 1);
        assert_all_arrived(&d, 1, 1, 1);
        assert_consumed_everything(&fx, &d);
    });
}

#[test]
fn a_claim_never_owned_is_revoked_while_another_producers_records_arrive() {
    model(PREEMPTIONS, || {
        let fx = Fixture::new(4, 2);
        // Killed between the claim CAS and the ownership CAS.
        let dead = {
            let fx = fx.clone();
            thread::spawn(move || {
                let claim = claim_blocking(&fx.ring(), 1, &fx.caches[0]);
                let pos = claim.position();
                mem::forget(claim);
                fx.finish();
                pos
            })
        };
        let live = spawn_producer(&fx, 1, 2, 1, 1);
        let d = drain(
            &fx,
            DrainOpts {
                producers: 2,
                records: None,
                revoke: true,
                release_each: true,
                is_dead: &mut never_dead,
            },
        );
        let dead_pos = dead.join().unwrap();
        live.join().unwrap();
        assert_all_arrived(&d, 1, 2, 1);
        assert_eq!(d.records.len(), 2, "{d:?}");
        assert!(
            d.revoked.contains(&dead_pos),
            "dead claim at {dead_pos} not revoked: {d:?}"
        );
        // Every revoked claim of the living producer is counted as claimed again, the dead
        // one's is not: the drain's count less the producers' is exactly what was lost.
        assert_eq!(fx.reclaimed() + 1, d.revoked.len(), "{d:?}");
        assert!(d.abandoned.is_empty(), "{d:?}");
        assert_consumed_everything(&fx, &d);
    });
}

#[test]
fn a_record_owned_and_never_committed_is_abandoned_once_its_owner_is_dead() {
    model(PREEMPTIONS, || {
        let fx = Fixture::new(4, 2);
        const DEAD: u8 = 0;
        // Killed mid-record: owns the slot, writes half, never commits.
        let dead = {
            let fx = fx.clone();
            thread::spawn(move || {
                let claim = claim_blocking(&fx.ring(), 1, &fx.caches[0]);
                let pos = claim.position();
                if let Ok(mut owned) = claim.own(pid_of(DEAD)) {
                    owned.write(0, &record(DEAD, 0, 1)[..BODY / 2]);
                    mem::forget(owned);
                }
                fx.finish();
                pos
            })
        };
        let mut dead = Some(dead);
        let mut dead_pos = None;
        let live = spawn_producer(&fx, 1, 2, 1, 1);
        let mut is_dead = |pid: u32| {
            if pid != pid_of(DEAD) {
                return false;
            }
            // The drain learns of the death only once the process is gone: joining the thread
            // is the model's `kill(pid, 0) == ESRCH`, and orders its writes before ours.
            if let Some(h) = dead.take() {
                dead_pos = Some(h.join().unwrap());
            }
            true
        };
        let d = drain(
            &fx,
            DrainOpts {
                producers: 2,
                records: None,
                revoke: true,
                release_each: true,
                is_dead: &mut is_dead,
            },
        );
        live.join().unwrap();
        let dead_pos = match dead.take() {
            Some(h) => h.join().unwrap(),
            None => dead_pos.unwrap(),
        };
        assert_all_arrived(&d, 1, 2, 1);
        assert_eq!(d.records.len(), 2, "{d:?}");
        // The dead producer's claim was either revoked before it owned the slot, or abandoned
        // after (exactly once, with its pid).
        if d.revoked.contains(&dead_pos) {
            assert!(d.abandoned.is_empty(), "{d:?}");
        } else {
            assert_eq!(d.abandoned, [(dead_pos, pid_of(DEAD), 1)], "{d:?}");
        }
        assert_consumed_everything(&fx, &d);
    });
}

static LIVE_CLAIMS_REVOKED: StdAtomicUsize = StdAtomicUsize::new(0);

#[test]
fn a_slow_producer_whose_claim_is_revoked_claims_again_and_its_record_arrives_once() {
    model(PREEMPTIONS, || {
        // Two slots, so the retried claim also exercises the full check after a revoke.
        let fx = Fixture::new(2, 2);
        let slow = spawn_producer(&fx, 0, 1, 1, 0);
        let other = spawn_producer(&fx, 1, 1, 1, 1);
        let d = drain(
            &fx,
            DrainOpts {
                producers: 2,
                records: Some(2),
                revoke: true,
                release_each: true,
                is_dead: &mut never_dead,
            },
        );
        slow.join().unwrap();
        other.join().unwrap();
        // Every revoke here hit a living producer (nobody was killed), which counted it as
        // claimed again: the drain's count less the producers' is zero, as nothing was lost.
        LIVE_CLAIMS_REVOKED.fetch_add(d.revoked.len(), std::sync::atomic::Ordering::Relaxed);
        assert_eq!(fx.reclaimed(), d.revoked.len(), "{d:?}");
        assert_all_arrived(&d, 0, 1, 1);
        assert_all_arrived(&d, 1, 1, 1);
        assert_eq!(d.records.len(), 2, "{d:?}");
        assert!(d.abandoned.is_empty() && d.skipped == 0, "{d:?}");
        assert_consumed_everything(&fx, &d);
    });
    assert!(
        LIVE_CLAIMS_REVOKED.load(std::sync::atomic::Ordering::Relaxed) > 0,
        "no execution revoked a living producer's claim, so the retry path went untested"
    );
}

#[test]
fn a_record_spanning_two_slots_arrives_whole_beside_a_one_slot_record() {
    model(PREEMPTIONS, || {
        let fx = Fixture::new(4, 2);
        let wide = spawn_producer(&fx, 0, 1, 2, 0);
        let narrow = spawn_producer(&fx, 1, 1, 1, 1);
        let d = drain(
            &fx,
            DrainOpts {
                producers: 2,
                records: Some(2),
                revoke: true,
                release_each: true,
                is_dead: &mut never_dead,
            },
        );
        wide.join().unwrap();
        narrow.join().unwrap();
        assert_all_arrived(&d, 0, 1, 2);
        assert_all_arrived(&d, 1, 1, 1);
        assert_eq!(d.records.len(), 2, "{d:?}");
        assert_consumed_everything(&fx, &d);
    });
}

#[test]
fn a_two_slot_record_that_wraps_past_the_end_of_the_ring_arrives_whole() {
    model(PREEMPTIONS, || {
        // Positions 0, then 1-2, then 3-4: the last record's second slot is slot 0 of lap 1.
        let fx = Fixture::new(4, 1);
        let p = {
            let fx = fx.clone();
            thread::spawn(move || {
                let ring = fx.ring();
                let cache = &fx.caches[0];
                assert_eq!(push_blocking(&ring, &record(0, 0, 1), pid_of(0), cache), 0);
                assert_eq!(push_blocking(&ring, &record(0, 1, 2), pid_of(0), cache), 1);
                assert_eq!(push_blocking(&ring, &record(0, 2, 2), pid_of(0), cache), 3);
            })
        };
        let d = drain(
            &fx,
            DrainOpts {
                producers: 1,
                records: Some(3),
                revoke: false,
                release_each: true,
                is_dead: &mut never_dead,
            },
        );
        p.join().unwrap();
        assert_eq!(d.indices_of(0), [0, 1, 2]);
        for (_, bytes) in &d.records {
            let span = if bytes[1] == 0 { 1 } else { 2 };
            assert_eq!(bytes, &record(0, bytes[1], span), "torn record");
        }
        assert_consumed_everything(&fx, &d);
    });
}

#[test]
fn a_two_slot_record_owned_and_never_committed_is_abandoned_whole() {
    model(PREEMPTIONS, || {
        let fx = Fixture::new(4, 2);
        const DEAD: u8 = 0;
        let dead = {
            let fx = fx.clone();
            thread::spawn(move || {
                let claim = claim_blocking(&fx.ring(), 2, &fx.caches[0]);
                if let Ok(mut owned) = claim.own(pid_of(DEAD)) {
                    owned.write(0, &record(DEAD, 0, 2)[..BODY + 2]);
                    mem::forget(owned);
                }
                fx.finish();
            })
        };
        let mut dead = Some(dead);
        let live = spawn_producer(&fx, 1, 2, 1, 1);
        let mut is_dead = |pid: u32| {
            if pid != pid_of(DEAD) {
                return false;
            }
            if let Some(h) = dead.take() {
                h.join().unwrap();
            }
            true
        };
        let d = drain(
            &fx,
            DrainOpts {
                producers: 2,
                records: None,
                revoke: true,
                release_each: true,
                is_dead: &mut is_dead,
            },
        );
        live.join().unwrap();
        if let Some(h) = dead.take() {
            h.join().unwrap();
        }
        assert_all_arrived(&d, 1, 2, 1);
        assert_eq!(d.records.len(), 2, "{d:?}");
        for &(_, pid, span) in &d.abandoned {
            assert_eq!((pid, span), (pid_of(DEAD), 2), "{d:?}");
        }
        // Revoked (both slots, one at a time) or abandoned (both at once): never half of it.
        assert!(d.abandoned.len() + d.revoked.len() / 2 >= 1, "{d:?}");
        assert_consumed_everything(&fx, &d);
    });
}

static FENCES: StdAtomicUsize = StdAtomicUsize::new(0);
static REUSED_AFTER_A_FENCE: StdAtomicUsize = StdAtomicUsize::new(0);

#[test]
fn a_fenced_record_is_stepped_over_and_its_slot_reused_only_after_its_owner_finished_it() {
    // A living producer owns a record and writes it in two halves, frozen in between until the
    // drain has looked at it, while another producer's records queue behind it in a two-slot
    // ring. The drain steps over it when it finds it unfinished with a record claimed behind
    // it (the fence), reads what follows, and lifts the fence only once the owner's commit is
    // seen. The other producer's second record needs the fenced record's slot (the next lap):
    // loom's cells fail the model if it is written while the owner still writes.
    // One preemption: with two, the frozen producer's wait and the drain's polling exceed
    // loom's branch bound. The fence is taken, and its slot reused, in thousands of them.
    model(1, || {
        let fx = Fixture::new(2, 2);
        const FROZEN: u8 = 0;
        let thaw = Arc::new(AtomicUsize::new(0));
        let frozen = {
            let (fx, thaw) = (fx.clone(), thaw.clone());
            thread::spawn(move || {
                let rec = record(FROZEN, 0, 1);
                let claim = claim_blocking(&fx.ring(), 1, &fx.caches[0]);
                let pos = claim.position();
                let mut owned = claim.own(pid_of(FROZEN)).expect("nobody revokes here");
                owned.write(0, &rec[..BODY / 2]);
                // SYNC: Acquire; pairs with the drain's Release store. Only a schedule: what
                // the drain relies on is the commit below.
                while thaw.load(Ordering::Acquire) == 0 {
                    thread::yield_now();
                }
                owned.write(BODY / 2, &rec[BODY / 2..]);
                owned.commit();
                fx.finish();
                pos
            })
        };
        // The other producer: one record (the ring has room for it), then one attempt at a
        // second, which is dropped if the ring is full (no spinning: a smaller model).
        let other = {
            let fx = fx.clone();
            thread::spawn(move || {
                let ring = fx.ring();
                push_blocking(&ring, &record(1, 0, 1), pid_of(1), &fx.caches[1]);
                thread::yield_now();
                let second = ring.push(&record(1, 1, 1), pid_of(1), &fx.caches[1]);
                fx.finish();
                second.ok()
            })
        };
        let ring = fx.ring();
        // SAFETY: the model has exactly one consumer (this thread).
        let mut consumer = unsafe { Consumer::new(ring) };
        let mut got = Vec::new();
        let mut fenced = None;
        let mut buf = Vec::new();
        loop {
            // SYNC: Acquire; pairs with `Fixture::finish` (see `drain`).
            let done = fx.finished.load(Ordering::Acquire) == 2;
            buf.clear();
            match consumer.next(&mut buf) {
                Next::Record { pid, .. } => {
                    assert_eq!(pid, pid_of(buf[0]));
                    got.push(buf.clone());
                    consumer.release();
                }
                Next::Skipped => consumer.release(),
                Next::Stalled(stall @ Stall::Writing { pos, span, pid })
                    if pid == pid_of(FROZEN) =>
                {
                    // SYNC: Relaxed; a bound, as in the reader: fence only with records
                    // claimed behind it.
                    let behind = fx.cursors.claim.load(Ordering::Relaxed) > pos + span as u64;
                    if behind && consumer.fence(stall) {
                        fenced = Some(pos);
                    }
                    // SYNC: Release; see the producer's Acquire load.
                    thaw.store(1, Ordering::Release);
                    thread::yield_now();
                }
                Next::Stalled(Stall::Writing { .. } | Stall::Unowned { .. }) => thread::yield_now(),
                Next::Stalled(stall @ Stall::Corrupt { .. }) => panic!("corrupt: {stall:?}"),
                Next::Empty => {
                    if let FenceCheck::Finished(_) = consumer.check_fence() {
                        // SAFETY: the owner's commit was seen (Acquire in check_fence): it
                        // writes the slot no more.
                        unsafe { consumer.lift_fence() };
                        consumer.release();
                    }
                    if done && consumer.fence_held().is_none() {
                        break;
                    }
                    thread::yield_now();
                }
            }
        }
        let frozen_pos = frozen.join().unwrap();
        let second = other.join().unwrap();
        let of = |k: u8| {
            got.iter()
                .filter(|b| b[0] == k)
                .cloned()
                .collect::<Vec<_>>()
        };
        let mut expected = vec![record(1, 0, 1)];
        if second.is_some() {
            expected.push(record(1, 1, 1));
        }
        assert_eq!(
            of(1),
            expected,
            "the other producer's records, whole, once, in order (fenced {fenced:?})"
        );
        match fenced {
            Some(pos) => {
                assert_eq!(pos, frozen_pos);
                assert!(of(FROZEN).is_empty(), "a fenced record was read");
                FENCES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if second.is_some_and(|p| p == frozen_pos + 2) {
                    REUSED_AFTER_A_FENCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
            None => assert_eq!(of(FROZEN), [record(FROZEN, 0, 1)]),
        }
        // SYNC: Relaxed; both producers were joined.
        assert_eq!(
            consumer.position(),
            fx.cursors.claim.load(Ordering::Relaxed)
        );
    });
    assert!(
        FENCES.load(std::sync::atomic::Ordering::Relaxed) > 0,
        "no execution fenced a record, so the fence path went untested"
    );
    assert!(
        REUSED_AFTER_A_FENCE.load(std::sync::atomic::Ordering::Relaxed) > 0,
        "no execution reused a fenced record's slot, so the lift went untested"
    );
}

#[test]
fn a_drain_that_reads_a_whole_lap_before_releasing_sees_an_empty_ring_not_corruption() {
    model(PREEMPTIONS, || {
        // One producer writes three records into two slots; the drain frees slots only when
        // the ring looks empty, so it reaches position 2 with positions 0 and 1 unreleased.
        let fx = Fixture::new(2, 1);
        let p = spawn_producer(&fx, 0, 3, 1, 0);
        let d = drain(
            &fx,
            DrainOpts {
                producers: 1,
                records: Some(3),
                revoke: true,
                release_each: false,
                is_dead: &mut never_dead,
            },
        );
        p.join().unwrap();
        assert_all_arrived(&d, 0, 3, 1);
        assert_consumed_everything(&fx, &d);
    });
}

// ---- lanes (layout version 2) ----------------------------------------------------------------

/// Takes a lane's owner word for `who` as `ringlog_segment::Lane::try_take` does (same
/// orderings: Acquire on success, pairing with the Release of the previous holder's give-back).
fn try_take(owner: &AtomicU64, who: u64) -> bool {
    owner
        .compare_exchange(0, who, Ordering::Acquire, Ordering::Relaxed)
        .is_ok()
}

/// Gives the lane back as `ringlog_segment::Lane::give_back` does (Release).
fn give_back(owner: &AtomicU64, who: u64) {
    let _ = owner.compare_exchange(who, 0, Ordering::Release, Ordering::Relaxed);
}

#[test]
fn threads_borrowing_one_lane_per_record_or_writing_into_it_held_lose_nothing() {
    // Two producers each log one record into a one-lane ring of two slots: for it a
    // producer borrows the lane (take, push, give back) if it is free, and otherwise writes
    // into the held lane, as `ringlog`'s lane picker does when every lane is held. Whoever
    // holds the lane, the ring protocol inside it keeps every record whole and once.
    model(PREEMPTIONS, || {
        let fx = Fixture::new(2, 2);
        let owner = Arc::new(AtomicU64::new(0));
        let producers: Vec<_> = (0..2u8)
            .map(|k| {
                let (fx, owner) = (fx.clone(), owner.clone());
                thread::spawn(move || {
                    let ring = fx.ring();
                    let who = pid_of(k) as u64;
                    for i in 0..1 {
                        let held = try_take(&owner, who);
                        push_blocking(&ring, &record(k, i, 1), pid_of(k), &fx.caches[k as usize]);
                        if held {
                            give_back(&owner, who);
                        }
                    }
                    fx.finish();
                })
            })
            .collect();
        let d = drain(
            &fx,
            DrainOpts {
                producers: 2,
                records: None,
                release_each: true,
                revoke: false,
                is_dead: &mut never_dead,
            },
        );
        for p in producers {
            p.join().unwrap();
        }
        assert_all_arrived(&d, 0, 1, 1);
        assert_all_arrived(&d, 1, 1, 1);
        assert_consumed_everything(&fx, &d);
        // SYNC: Relaxed; every thread was joined.
        assert_eq!(owner.load(Ordering::Relaxed), 0, "the lane was given back");
    });
}

#[test]
fn a_lane_reclaimed_from_a_dead_holder_goes_to_the_next_taker_with_every_claim_it_made() {
    // A thread holds a lane, logs one record and dies without giving the lane back (its
    // process was killed). The drain, having read the lane to its claim cursor and found the
    // holder dead (joining its thread is the model's `kill(pid, 0)` saying ESRCH), gives the
    // lane back as `LaneReader::maybe_reclaim` does (a Release CAS of the owner word). Another
    // thread waiting to take the lane then claims after the dead holder's record, never over
    // it: both records arrive once, whole, in order.
    model(PREEMPTIONS, || {
        let fx = Fixture::new(2, 2);
        let (dead_who, next_who) = (pid_of(0) as u64, pid_of(1) as u64);
        // The holder took the lane before the model starts (its take is modelled above).
        let owner = Arc::new(AtomicU64::new(dead_who));
        let holder = {
            let fx = fx.clone();
            thread::spawn(move || {
                push_blocking(&fx.ring(), &record(0, 0, 1), pid_of(0), &fx.caches[0]);
                // Dies here, still holding the lane.
            })
        };
        let taker = {
            let (fx, owner) = (fx.clone(), owner.clone());
            thread::spawn(move || {
                while !try_take(&owner, next_who) {
                    thread::yield_now();
                }
                let pos = push_blocking(&fx.ring(), &record(1, 0, 1), pid_of(1), &fx.caches[1]);
                give_back(&owner, next_who);
                pos
            })
        };
        // SAFETY: the model has exactly one consumer (this thread).
        let mut consumer = unsafe { Consumer::new(fx.ring()) };
        let mut holder = Some(holder);
        let mut got: Vec<Vec<u8>> = Vec::new();
        let mut buf = Vec::new();
        while got.len() < 2 {
            buf.clear();
            match consumer.next(&mut buf) {
                Next::Record { .. } => {
                    got.push(buf.clone());
                    consumer.release();
                }
                Next::Empty => {
                    // Read to the claim cursor: reclaim the lane if its holder is dead.
                    if let Some(h) = holder.take() {
                        h.join().unwrap();
                        // SYNC: Relaxed load, Release CAS: as in `maybe_reclaim`.
                        let held = owner.load(Ordering::Relaxed);
                        if held == dead_who {
                            let _ = owner.compare_exchange(
                                held,
                                0,
                                Ordering::Release,
                                Ordering::Relaxed,
                            );
                        }
                    }
                    thread::yield_now();
                }
                Next::Stalled(Stall::Unowned { .. } | Stall::Writing { .. }) => thread::yield_now(),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(
            taker.join().unwrap(),
            1,
            "the taker claimed after the dead holder"
        );
        assert_eq!(got, vec![record(0, 0, 1), record(1, 0, 1)]);
        assert_consumed_everything(
            &fx,
            &Drained {
                end: consumer.position(),
                ..Default::default()
            },
        );
    });
}

#[test]
fn a_drain_that_reads_ahead_and_releases_only_what_it_wrote_lets_no_producer_overwrite_the_rest() {
    // The lane merge reads records into its queue before it writes them, and releases only up
    // to what it handed out (`Consumer::release_to`). A producer blocked on the full two-slot
    // lane must get exactly the released slots back, never one still held.
    model(PREEMPTIONS, || {
        let fx = Fixture::new(2, 1);
        let p = spawn_producer(&fx, 0, 3, 1, 0);
        let ring = fx.ring();
        // SAFETY: the model has exactly one consumer (this thread).
        let mut consumer = unsafe { Consumer::new(ring) };
        let mut got: Vec<Vec<u8>> = Vec::new();
        let mut buf = Vec::new();
        while got.len() < 3 {
            buf.clear();
            match consumer.next(&mut buf) {
                Next::Record { pos, .. } => {
                    got.push(buf.clone());
                    // Release everything before this record, not the record itself: it is
                    // "in the queue", not yet written.
                    consumer.release_to(pos);
                }
                Next::Empty | Next::Stalled(Stall::Unowned { .. } | Stall::Writing { .. }) => {
                    consumer.release_to(consumer.position());
                    thread::yield_now()
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        p.join().unwrap();
        for (i, bytes) in got.iter().enumerate() {
            assert_eq!(
                bytes,
                &record(0, i as u8, 1),
                "record {i} torn or overwritten"
            );
        }
    });
}

// ---- the control page's seqlock (`ringlog_wire::control`) ----

/// A writer replaces three words twice while a reader reads twice: every snapshot the reader
/// gets is one whole write (all words equal), never a mix, and snapshots never go back in time.
#[test]
fn control_seqlock_readers_see_whole_writes_in_order() {
    use ringlog_wire::control::Seqlock;
    model(PREEMPTIONS, || {
        let lock = Arc::new(Seqlock::<3>::new());
        let w = {
            let lock = lock.clone();
            thread::spawn(move || {
                lock.write(&[1, 1, 1]);
                lock.write(&[2, 2, 2]);
            })
        };
        let mut last = 0;
        for _ in 0..2 {
            let mut out = [0u64; 3];
            if lock.read(&mut out, 2).is_ok() {
                assert!(out.iter().all(|&v| v == out[0]), "torn snapshot {out:?}");
                assert!(out[0] >= last, "went back from {last} to {}", out[0]);
                last = out[0];
            }
        }
        w.join().unwrap();
        let mut out = [0u64; 3];
        lock.read(&mut out, 1).expect("no writer left");
        assert_eq!(out, [2, 2, 2]);
    });
}

/// The producers' protocol around the seqlock, as `ControlBlock::set` and `ControlBlock::read`
/// run it (with two words instead of 509, which loom could not enumerate): the writer bumps
/// the generation with Release after its seqlock write; a reader that loads generation g with
/// Acquire and then reads the words gets write g's words or a later write's, never an older one
/// (which would make it remember g with stale settings and miss the change).
#[test]
fn control_generation_never_outruns_the_words_a_reader_gets() {
    use ringlog_wire::control::Seqlock;
    model(PREEMPTIONS, || {
        let lock = Arc::new((AtomicU64::new(0), Seqlock::<2>::new()));
        let w = {
            let lock = lock.clone();
            thread::spawn(move || {
                for v in 1..=2u64 {
                    lock.1.write(&[v, v]);
                    lock.0.fetch_add(1, Ordering::Release);
                }
            })
        };
        for _ in 0..2 {
            let g = lock.0.load(Ordering::Acquire);
            let mut out = [0u64; 2];
            match lock.1.read(&mut out, 2) {
                Ok(_) => {
                    assert_eq!(out[0], out[1], "torn snapshot {out:?}");
                    assert!(out[0] >= g, "generation {g} but words of write {}", out[0]);
                }
                // A write in progress: it bumps the generation past g when it completes.
                Err(_) => assert!(g < 2, "busy although every write completed before g = {g}"),
            }
        }
        w.join().unwrap();
    });
}
