//! Which lane of the segment a thread writes to.
//!
//! A thread takes a lane for itself on its first record (the lane's owner word, a CAS from 0)
//! and keeps it until it exits, so producers on different threads or processes never write the
//! same cache lines: no shared claim cursor, no contention (ARCHITECTURE.md, "Lanes"). The
//! choice is cached in a const-initialised thread local, so the hot path pays one thread-local
//! read and two compares.
//!
//! A few lanes are kept free for threads that come when the others are held: such a thread
//! borrows a free lane for one record (take, push, give back), so it still never shares a lane
//! with a producer that may be frozen mid-record. Only when every lane is held at that instant
//! does it write into a held lane, which the ring protocol inside each lane keeps correct (a lane
//! is a many-producer ring; holding one is about speed and stall isolation, never safety): one
//! of the reserved lanes, avoiding lanes the drain flagged as stalled ([`shared_lane`]).
//!
//! Lanes go back when their thread exits (a thread-local destructor), when the logger is dropped
//! (every lane this process took), and, for a process that died holding some, when the drain
//! finds the process gone. A forked child inherits the thread-local cache of the thread that
//! forked; the cache carries the pid it was filled under, so the child takes lanes of its own.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use crossbeam_utils::CachePadded;

use ringlog_segment::{Lane, Segment};
use ringlog_wire::ring::{RawSlots, Ring};

/// A lane this thread holds for a logger, as the thread-local cache keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Cached {
    /// The logger's id ([`Lanes::id`]; never 0).
    logger: u64,
    /// The pid the lane was taken under (a forked child must not use its parent's lanes).
    pid: u32,
    lane: u32,
}

thread_local! {
    /// The last logger this thread wrote through and its lane: the hot path's only lookup.
    static LAST: Cell<Cached> = const { Cell::new(Cached { logger: 0, pid: 0, lane: 0 }) };
    /// The logger written through before the last one and its lane: a thread that writes
    /// through two loggers in turn (an application log and an audit log) finds both here
    /// instead of searching `HELD` on every switch. Always a copy of an entry of `HELD`.
    static PREV: Cell<Cached> = const { Cell::new(Cached { logger: 0, pid: 0, lane: 0 }) };
    /// Every lane this thread holds, given back when it exits.
    static HELD: RefCell<Held> = const { RefCell::new(Held(Vec::new())) };
    /// Records left before a thread that holds no lane tries again to take one.
    static RETRY: Cell<u32> = const { Cell::new(0) };
}

/// Makes `at` (an entry of `HELD`) the thread's last lane, the last one before it its
/// previous.
fn remember(at: Cached) {
    if let Ok(last) = LAST.try_with(|l| l.replace(at)) {
        if last != at && last.logger != 0 {
            let _ = PREV.try_with(|p| p.set(last));
        }
    }
}

/// How a thread writes its next record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pick {
    /// Into the lane it holds.
    Held(usize),
    /// Into a free lane it took for this record only: give it back after the push.
    Borrowed(usize),
    /// Into a lane someone else holds (every lane is held right now).
    Shared(usize),
}

impl Pick {
    pub(crate) fn lane(self) -> usize {
        match self {
            Pick::Held(i) | Pick::Borrowed(i) | Pick::Shared(i) => i,
        }
    }
}

/// A logger's lane bookkeeping (one per `Logger`'s shared state).
#[derive(Debug)]
pub(crate) struct Lanes {
    /// Unique in this process, never 0: the thread-local cache's key.
    id: u64,
    /// One bit per lane this process took and has not given back (so dropping the logger
    /// gives them all back).
    taken: Box<[AtomicU64]>,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Lanes kept free for threads that come when the others are held (1 in 8, at least 1 when
/// there are 2 lanes or more): the last ones. No thread keeps them; they are borrowed for a
/// record at a time, and [`shared_lane`] writes into them first.
fn reserve(lanes: usize) -> usize {
    if lanes < 2 {
        0
    } else {
        (lanes / 8).max(1)
    }
}

/// The lane a thread writes into when every lane is held (or, `Policy::Block` waiting on a
/// full lane, the lane to try next): one of the reserved lanes, which no thread keeps, so a
/// lane's long-term holder never has a stranger's record in front of its own; spread by
/// thread; skipping lanes the drain flags as stalled (held up by a record a living producer
/// owns and does not commit: a frozen process). If every reserved lane is stalled, any lane
/// that is not; if every lane is, the first choice.
pub(crate) fn shared_lane(segment: &Segment, tid: u32) -> usize {
    let n = segment.lane_count();
    let r = reserve(n).clamp(1, n);
    let first = n - r;
    let spread = (tid as usize).wrapping_mul(0x9E37_79B9);
    let reserved = (0..r).map(|k| first + (spread + k) % r);
    let any = (0..n).map(|k| (spread + k) % n);
    let mut choice = None;
    for i in reserved.chain(any) {
        if !segment.lane(i).stalled() {
            return i;
        }
        choice.get_or_insert(i);
    }
    choice.unwrap_or(0)
}

impl Lanes {
    pub(crate) fn new(lanes: usize) -> Lanes {
        Lanes {
            // SYNC: Relaxed; a unique number, nothing else.
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            taken: (0..lanes.div_ceil(64)).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// The lane for this thread's next record in `segment`.
    #[inline(always)]
    pub(crate) fn pick(
        &self,
        this: &Arc<crate::Inner>,
        segment: &Segment,
        pid: u32,
        tid: u32,
    ) -> Pick {
        let last = LAST.with(Cell::get);
        if last.logger == self.id && last.pid == pid {
            return Pick::Held(last.lane as usize);
        }
        self.pick_slow(this, segment, pid, tid)
    }

    /// The lane this thread holds for this logger in process `pid`, if the thread-local
    /// cache says so (the fast path of [`pick`](Lanes::pick), which takes no lane).
    #[inline(always)]
    pub(crate) fn held(&self, pid: u32) -> Option<usize> {
        let last = LAST.with(Cell::get);
        if last.logger == self.id && last.pid == pid {
            return Some(last.lane as usize);
        }
        self.held_previous(pid)
    }

    /// [`held`](Lanes::held) past the last logger: the one before it, which becomes the last.
    #[cold]
    #[inline(never)]
    fn held_previous(&self, pid: u32) -> Option<usize> {
        let prev = PREV.try_with(Cell::get).ok()?;
        if prev.logger != self.id || prev.pid != pid {
            return None;
        }
        remember(prev);
        Some(prev.lane as usize)
    }

    #[cold]
    #[inline(never)]
    fn pick_slow(&self, this: &Arc<crate::Inner>, segment: &Segment, pid: u32, tid: u32) -> Pick {
        // The logger before the last one: the two trade places.
        if let Some(lane) = self.held_previous(pid) {
            return Pick::Held(lane);
        }
        // Another logger's lane, or a parent's (after fork), or none yet: look in what this
        // thread holds.
        let held = HELD
            .try_with(|h| {
                h.borrow()
                    .0
                    .iter()
                    .find(|e| e.at.logger == self.id && e.at.pid == pid)
                    .map(|e| e.at)
            })
            .ok()
            .flatten();
        if let Some(at) = held {
            remember(at);
            return Pick::Held(at.lane as usize);
        }
        let n = segment.lane_count();
        let start = (tid as usize).wrapping_mul(0x9E37_79B9) % n;
        let retry = RETRY.try_with(|r| {
            let left = r.get();
            r.set(left.saturating_sub(1));
            left == 0
        });
        if retry.unwrap_or(false) {
            if let Some(i) = self.take_for_thread(this, segment, pid, tid, start) {
                return Pick::Held(i);
            }
            let _ = RETRY.try_with(|r| r.set(1024));
        }
        // Borrow any free lane for this one record.
        for k in 0..n {
            let lane = segment.lane((start + k) % n);
            if lane.try_take(pid, tid) {
                return Pick::Borrowed(lane.index());
            }
        }
        Pick::Shared(shared_lane(segment, tid))
    }

    /// Takes a lane for this thread to keep: one of the first `n - reserve(n)`, so the
    /// reserved lanes stay free for borrowers and are the ones [`shared_lane`] shares.
    fn take_for_thread(
        &self,
        this: &Arc<crate::Inner>,
        segment: &Segment,
        pid: u32,
        tid: u32,
        start: usize,
    ) -> Option<usize> {
        let keepable = segment.lane_count() - reserve(segment.lane_count());
        for k in 0..keepable {
            let lane = segment.lane((start + k) % keepable);
            if lane.try_take(pid, tid) {
                lane.prefault();
                self.mark(lane.index(), true);
                let at = Cached {
                    logger: self.id,
                    pid,
                    lane: lane.index() as u32,
                };
                let registered = HELD
                    .try_with(|h| {
                        h.borrow_mut().0.push(HeldLane {
                            at,
                            tid,
                            logger: Arc::downgrade(this),
                        })
                    })
                    .is_ok();
                if !registered {
                    // The thread is exiting (its locals are being destroyed): nobody would
                    // give the lane back, so do not keep it.
                    self.give_back(lane, pid, tid);
                    return None;
                }
                remember(at);
                return Some(lane.index());
            }
        }
        None
    }

    /// Gives back a lane borrowed for one record.
    #[inline]
    pub(crate) fn give_back_borrowed(&self, segment: &Segment, lane: usize, pid: u32, tid: u32) {
        segment.lane(lane).give_back(pid, tid);
    }

    fn give_back(&self, lane: Lane<'_>, pid: u32, tid: u32) {
        self.mark(lane.index(), false);
        lane.give_back(pid, tid);
    }

    fn mark(&self, lane: usize, taken: bool) {
        let word = &self.taken[lane / 64];
        let bit = 1u64 << (lane % 64);
        // SYNC: Relaxed; bookkeeping of this process's own lanes, read only when the logger
        // is dropped (after every thread that used it let go of it).
        if taken {
            word.fetch_or(bit, Ordering::Relaxed);
        } else {
            word.fetch_and(!bit, Ordering::Relaxed);
        }
    }

    /// Gives back every lane this process took for this logger (the logger is being
    /// dropped: no thread can write through it any more).
    pub(crate) fn give_back_all(&self, segment: &Segment, pid: u32) {
        for (w, word) in self.taken.iter().enumerate() {
            // SYNC: Relaxed; see `mark`.
            let mut bits = word.swap(0, Ordering::Relaxed);
            while bits != 0 {
                let b = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let lane = segment.lane(w * 64 + b);
                let owner = lane.owner();
                // SYNC: Relaxed load, Release CAS: as in `Lane::give_back`, for whichever of
                // our threads holds it.
                let held = owner.load(Ordering::Relaxed);
                if ringlog_wire::layout::owner_pid(held) == pid {
                    let _ = owner.compare_exchange(held, 0, Ordering::Release, Ordering::Relaxed);
                }
            }
        }
    }
}

/// A lane a thread holds, with a weak handle on its logger to give it back.
#[derive(Debug)]
struct HeldLane {
    at: Cached,
    tid: u32,
    logger: Weak<crate::Inner>,
}

#[derive(Debug)]
struct Held(Vec<HeldLane>);

impl Drop for Held {
    fn drop(&mut self) {
        let pid = crate::ids::pid();
        for h in self.0.drain(..) {
            // A lane taken in a parent process before a fork is the parent's thread's.
            if h.at.pid != pid {
                continue;
            }
            if let Some(inner) = h.logger.upgrade() {
                let seg = inner.segment();
                let lane = seg.lane(h.at.lane as usize);
                inner.lanes.give_back(lane, pid, h.tid);
            }
        }
    }
}

/// Each lane's [`Ring`], built once when the logger opens its segment, so a log call does not
/// rebuild it from the segment's geometry (lane table offset, slot count, span limit) every
/// time, beside this process's cached copy of the lane's read cursor (`Ring::claim`).
pub(crate) struct LaneRings(Box<[LaneRing]>);

/// One lane's entry in [`LaneRings`].
pub(crate) struct LaneRing {
    pub(crate) ring: Ring<'static, RawSlots<'static>>,
    /// This process's copy of the lane's read cursor, on a cache line of its own.
    pub(crate) read_cache: CachePadded<AtomicU64>,
}

impl LaneRings {
    /// The rings of every lane of `segment`.
    ///
    /// # Safety
    ///
    /// `segment` outlives the returned value: it keeps views of the segment's mapping and of
    /// its slot table. (`Inner` holds both and drops them together; the segment takes no
    /// `&mut self` and never remaps, so the views stay valid while it lives, wherever it is
    /// moved.)
    pub(crate) unsafe fn new(segment: &Segment) -> LaneRings {
        LaneRings(
            (0..segment.lane_count())
                .map(|i| {
                    let ring = segment.lane(i).ring();
                    LaneRing {
                        // SAFETY: only the lifetime changes; the caller keeps `segment` (the
                        // mapping and the slot table the ring points into) alive as long as
                        // this value, and `get` lends the ring out only for a borrow of it.
                        ring: unsafe {
                            core::mem::transmute::<
                                Ring<'_, RawSlots<'_>>,
                                Ring<'static, RawSlots<'static>>,
                            >(ring)
                        },
                        read_cache: CachePadded::new(AtomicU64::new(0)),
                    }
                })
                .collect(),
        )
    }

    /// The ring of lane `lane` and this process's cached read cursor for it (None if there
    /// is no such lane).
    #[inline(always)]
    pub(crate) fn get(&self, lane: usize) -> Option<(&Ring<'_, RawSlots<'_>>, &AtomicU64)> {
        self.0.get(lane).map(|l| (&l.ring, &*l.read_cache))
    }

    /// [`get`](LaneRings::get) for a lane index known to be in range (taken modulo the lane
    /// count otherwise).
    #[inline]
    pub(crate) fn lane(&self, lane: usize) -> (&Ring<'_, RawSlots<'_>>, &AtomicU64) {
        let l = &self.0[lane % self.0.len()];
        (&l.ring, &l.read_cache)
    }
}

impl std::fmt::Debug for LaneRings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LaneRings({} lanes)", self.0.len())
    }
}
