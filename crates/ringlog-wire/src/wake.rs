//! The idle drain's wake word: how a drain with nothing to do sleeps on a futex in the segment,
//! and how a producer wakes it, for one relaxed load per log call.
//!
//! The word is [`layout::WakeWord`](crate::layout::WakeWord), at
//! [`WAKE_OFFSET`](crate::layout::WAKE_OFFSET) in the header page. This module holds the
//! protocol's atomics only (no system calls: the wire crate does no I/O); `ringlog-segment`
//! adds the `FUTEX_WAIT`/`FUTEX_WAKE` calls around them.
//!
//! ```text
//! drain (idle for a while)                 producer (every log call)
//! announce_sleep: word = ASLEEP            push: ... commit (Release store of the seq word)
//!                 fence(SeqCst)            asleep(word): one Relaxed load
//! poll every lane (Acquire loads)            == AWAKE: done (the common case)
//!   found records: cancel_sleep, go on       == ASLEEP: claim_wake: swap(AWAKE) == ASLEEP
//!   found none:    FUTEX_WAIT(word, ASLEEP,                  -> FUTEX_WAKE(word, 1)
//!                    SLEEP_TIMEOUT)
//!                  cancel_sleep, poll again
//! ```
//!
//! **Why a wake-up is lost at most for [`SLEEP_TIMEOUT`].** This is Dekker's pattern: the drain
//! stores the flag, then loads the lanes; the producer stores its commit, then loads the flag.
//! With a SeqCst fence on both sides between the store and the load, one of them must see the
//! other's store (the fences are ordered in the single total order of SeqCst operations; the
//! later one's thread sees the earlier one's store): either the drain's re-check finds the
//! record, or the producer finds `ASLEEP` and wakes it; and `FUTEX_WAIT` compares the word with
//! `ASLEEP` atomically in the kernel, so a wake that comes between the re-check and the wait
//! makes the wait return at once. The producer side here has **no fence**: it would cost every
//! log call a full barrier (`mfence` on x86) for the benefit of the one call that ends an idle
//! period. Without it, the producer's flag load may be satisfied before its commit is visible
//! (a store still in its core's store buffer), and in that window the drain's re-check can miss
//! the record while the producer misses the flag: the drain then sleeps until its wait times
//! out. So the drain never waits without a timeout: a lost wake-up costs that record at most
//! [`SLEEP_TIMEOUT`] (and the window is the store buffer's drain time, nanoseconds, against a
//! drain that is idle: rare). The loom model (`tests/loom_wake.rs`) checks both halves: with
//! the producer fence no wake-up is lost in any interleaving; without it loom finds the lost
//! wake-up, which the timeout then repairs, and no record is ever lost or read twice.
//!
//! A drain that dies asleep leaves `ASLEEP`: the next producer swaps it back and makes one
//! `FUTEX_WAKE` with no waiter, then the word is `AWAKE` again. An older drain never stores
//! `ASLEEP`; an older producer never wakes anyone (the new drain then sees its records after at
//! most [`SLEEP_TIMEOUT`]).

use core::time::Duration;

use crate::sync::{fence_seq_cst, AtomicU32, Ordering};

/// No drain is asleep on the word (the zero a new segment starts with).
pub const AWAKE: u32 = 0;
/// The drain announced that it is going to sleep on the word.
pub const ASLEEP: u32 = 1;
/// Longest a sleeping drain waits before it polls anyway: the bound on a lost wake-up (see the
/// module docs), and the drain's housekeeping cadence while idle (stall checks, rate-limit
/// windows, signals).
pub const SLEEP_TIMEOUT: Duration = Duration::from_millis(200);

/// Drain: announces that it is about to sleep. The caller must then poll every lane (the
/// re-check) and sleep only if that finds nothing; either way it calls [`cancel_sleep`] after.
#[inline]
pub fn announce_sleep(word: &AtomicU32) {
    // SYNC: Relaxed store, then the SeqCst fence: Dekker's first half. The fence orders the
    // store before the re-check's Acquire loads of the lanes' sequence words; it pairs with a
    // SeqCst fence between a producer's commit and its `asleep` load, which production
    // producers leave out (module docs: the wait timeout bounds what that can cost).
    word.store(ASLEEP, Ordering::Relaxed);
    fence_seq_cst();
}

/// Drain: it is awake again (woken, timed out, or its re-check found records).
#[inline]
pub fn cancel_sleep(word: &AtomicU32) {
    // SYNC: Relaxed; the flag carries no data (records are synchronised by the ring's own
    // Release/Acquire pairs). A producer swapping it at the same time stores the same value.
    word.store(AWAKE, Ordering::Relaxed);
}

/// Producer, after a commit: whether the drain announced sleep. The hot path's only cost: one
/// Relaxed load of a word that stays `AWAKE` (and its cache line shared, unwritten) while the
/// drain is busy.
#[inline(always)]
pub fn asleep(word: &AtomicU32) -> bool {
    // SYNC: Relaxed; Dekker's second half without its fence (module docs): a stale `AWAKE`
    // here costs at most the drain's wait timeout, never a record.
    word.load(Ordering::Relaxed) != AWAKE
}

/// Producer, when [`asleep`] said so: takes the job of waking the drain. True for exactly one
/// of the producers that race here per announcement, which then calls `FUTEX_WAKE`.
#[inline]
pub fn claim_wake(word: &AtomicU32) -> bool {
    // SYNC: Relaxed RMW; it only elects one waker (RMWs on one word are totally ordered), and the
    // drain's wait compares the word in the kernel, so no data ordering is needed.
    word.swap(AWAKE, Ordering::Relaxed) != AWAKE
}

// ---------------------------------------------------------------------------------------------
// Producers waiting for room
//
// A `Policy::Block` producer that finds its lane full sleeps on the segment's room word
// ([`layout::RoomWord`](crate::layout::RoomWord)) until the drain frees room, instead of
// polling (a 64-thread service blocked on a slow drain would otherwise wake ~20,000 times a
// second per thread, on the cores the drain needs):
//
// ```text
// producer (its lane full)                  drain (after each release)
// announce_wait: word = WAITERS             release: store read cursors (Release)
//                fence(SeqCst)              room_freed: fence(SeqCst)
// try to push again (an Acquire load of       word == WAITERS (Relaxed load)?
//   the read cursor when full)                  swap(NO_WAITERS) == WAITERS
//   room: done                                    -> FUTEX_WAKE(word, all)
//   full: FUTEX_WAIT(word, WAITERS, timeout)
// ```
//
// Dekker's pattern again, with the fence on both sides this time: the drain pays it once per
// released batch, not per record. So either the producer's re-check sees the drain's release,
// or the drain sees `WAITERS` and wakes it (and `FUTEX_WAIT` compares the word in the kernel,
// so a wake between the re-check and the wait makes the wait return at once): no wake-up is
// lost. The producer still waits with a timeout, for what the word does not carry: its own
// deadline (`Policy::BlockFor`), the drain's death (heartbeat), a shared lane held up by a
// frozen producer, and a drain of an older build that never wakes anyone. One word for every
// lane: a release of any lane wakes every waiter, and those whose lane is still full announce
// and sleep again. The loom model `loom_wake.rs`
// (`a_producer_waiting_for_room_sees_it_or_is_woken`) checks that no interleaving loses the
// wake-up.

/// No producer waits for room (the zero a new segment starts with).
pub const NO_WAITERS: u32 = 0;
/// A producer announced that it is about to sleep until the drain frees room.
pub const WAITERS: u32 = 1;

/// Producer, its lane full: announces that it is about to sleep on the room word. The caller
/// must then try again (the re-check) and sleep only if the lane is still full.
#[inline]
pub fn announce_wait(word: &AtomicU32) {
    // SYNC: Relaxed store, then the SeqCst fence: Dekker's first half. The fence orders the
    // store before the re-check's Acquire load of the read cursor; it pairs with the SeqCst
    // fence in `room_freed`, between the drain's release and its load of this word.
    word.store(WAITERS, Ordering::Relaxed);
    fence_seq_cst();
}

/// Drain, after releasing (storing read cursors): whether it must wake waiting producers. True
/// for exactly one caller per announcement, which then calls `FUTEX_WAKE` for all of them.
#[inline]
pub fn room_freed(word: &AtomicU32) -> bool {
    // SYNC: SeqCst fence, then a Relaxed load: Dekker's second half, pairing with the fence in
    // `announce_wait` (the release's Release stores come before this fence).
    fence_seq_cst();
    // SYNC: Relaxed load and swap; the swap only elects one waker (RMWs on one word are totally
    // ordered) and the waiters' `FUTEX_WAIT` compares the word in the kernel.
    word.load(Ordering::Relaxed) != NO_WAITERS
        && word.swap(NO_WAITERS, Ordering::Relaxed) != NO_WAITERS
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn one_producer_of_many_claims_the_wake_per_announcement() {
        let w = AtomicU32::new(AWAKE);
        assert!(!asleep(&w));
        announce_sleep(&w);
        assert!(asleep(&w));
        assert!(claim_wake(&w));
        assert!(!claim_wake(&w), "a second producer must not wake again");
        assert!(!asleep(&w));
        announce_sleep(&w);
        cancel_sleep(&w);
        assert!(!asleep(&w));
    }

    #[test]
    fn one_release_claims_the_wake_of_every_waiting_producer() {
        let w = AtomicU32::new(NO_WAITERS);
        assert!(!room_freed(&w), "nobody waits");
        announce_wait(&w);
        announce_wait(&w); // a second producer
        assert!(room_freed(&w));
        assert!(!room_freed(&w), "the next release must not wake again");
        assert_eq!(w.load(Ordering::Relaxed), NO_WAITERS);
    }
}
