//! The consuming reader both `ringdrain` and tests build on: walks the committed records of
//! every lane, merges them into timestamp order, resolves their callsites (cached, validated),
//! and deals with stalls the way the crash rules say: a claim nobody owns is revoked after a
//! grace period, a record whose owner died is abandoned, damaged slots are skipped after a
//! grace period; every loss is reported as an [`Event::Lost`] and counted in the segment. A
//! living producer is never abandoned, and a lane whose producer is stuck holds back only its
//! own records.
//!
//! # The merge
//!
//! Each lane is read in position order into a queue; records leave the queues smallest
//! timestamp first, but only up to a *horizon*: the clock reading taken before the lanes were
//! scanned, lowered to the last moment each lane with a record still being written was seen
//! with nothing in flight (that record may be older than anything queued), and to the newest
//! queued record of a lane whose queue is full (its unread records are newer than that). So
//! records of different lanes come out in timestamp order, with two edges (ARCHITECTURE.md,
//! "Lanes"): a lane whose record stays unfinished longer than [`StallPolicy::merge_window`]
//! stops holding the others back, and its record is written when it is finished, after records
//! stamped later; and a producer descheduled between reading the clock and claiming its slot
//! (a few instructions) can land after records stamped just after its own. Within a lane (a
//! thread's records, while it holds its lane) the order is exact.
//!
//! # The fence
//!
//! A living producer that holds a record unfinished (stopped, frozen, at a breakpoint) holds
//! up its lane. When other writers' records wait behind it (the lane's claim cursor is past
//! the record) for [`StallPolicy::fence_after`] (1 s), the reader steps over it
//! ([`Consumer::fence`]): the records behind it are read and written, the stalled record is
//! reported lost ([`Lost::Fenced`]) and never read, and the lane's read cursor stays at it, so
//! nobody is handed a slot its owner may still write. Once the owner commits (or drops) the
//! record, or dies, the fence is lifted and the lane's slots are freed. The fence is kept in
//! the lane's drain line ([`LaneDrainLine::fence`](ringlog_wire::layout::LaneDrainLine)) so a
//! restarted drain takes it up again rather than reading the records after it twice.
//!
//! A reader is built from the segment's [`DrainLease`] and owns it, so there is never more than
//! one per segment (see [`crate::lease`]).
//!
//! Records are handed out borrowed ([`Event::Record`]) for the drain's zero-allocation path, or
//! owned ([`Reader::read_owned`]) for tests and tools. Nothing is freed in a lane until
//! [`Reader::release`]: call it once what was handed out is safely written.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringlog_wire::callsite::decode_callsite;
use ringlog_wire::clock::{Calibration, ClockKind};
use ringlog_wire::decode::{decode_record, RecordRef};
use ringlog_wire::layout::{FENCE_AFTER_MS, STALL_FLAG_AFTER_MS};
use ringlog_wire::record::FLAG_TRUNCATED;
use ringlog_wire::record::{RecordHeader, RECORD_HEADER_LEN};
use ringlog_wire::ring::{Consumer, FenceCheck, Next, RawSlots, Seq, Stall};
use ringlog_wire::view::OwnedRecord;

use crate::{pid_alive, DrainLease, Lane, Segment};

/// A resolved callsite, owned by the reader's cache: the wire crate's decoded
/// [`Callsite`](ringlog_wire::view::Callsite), its template bound to its fields.
pub use ringlog_wire::view::Callsite as CallsiteInfo;

/// Records lost or damaged, as the reader found them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lost {
    /// A record (or claim) abandoned by a producer that died or stalled.
    Abandoned {
        /// Slots skipped.
        slots: u64,
        /// The owner, when known (a record being written); `None` for a claim nobody owned.
        pid: Option<u32>,
    },
    /// A record a living producer held unfinished for [`StallPolicy::fence_after`] while
    /// other records waited behind it: the drain stepped over it, and it is dropped whatever
    /// its producer does later (see the module docs, "The fence").
    Fenced {
        /// Slots the record spans.
        slots: u64,
        /// Its owner.
        pid: u32,
    },
    /// Damaged bytes skipped.
    Corrupt {
        /// What was wrong.
        reason: String,
    },
}

/// What the reader hands to [`Reader::poll`]'s callback.
#[derive(Debug)]
pub enum Event<'a> {
    /// A committed record.
    Record {
        /// Header and payload.
        record: RecordRef<'a>,
        /// Its callsite: `Ok(None)` for id 0 (no callsite), `Err` with a reason if the id does
        /// not resolve.
        callsite: Result<Option<&'a CallsiteInfo>, &'a str>,
    },
    /// Something was lost (already counted in the segment).
    Lost(Lost),
}

/// What [`Reader::poll_bulk`] hands to its callback: a run of records still in their slots,
/// or any other event.
#[derive(Debug)]
pub enum Bulk<'a> {
    /// Consecutive committed one-slot records of one lane, next in the merge order, their
    /// headers checked, their payloads still in the ring.
    Run(SlotRun<'a>),
    /// Anything else (a record of several slots, a loss), as [`Reader::poll`] gives it.
    Event(Event<'a>),
}

/// A lane's records handed out together ([`Bulk::Run`]), in order.
#[derive(Debug)]
pub struct SlotRun<'a> {
    recs: &'a [InPlace],
    consumer: &'a Consumer<'a, RawSlots<'a>>,
    callsites: &'a mut CallsiteCache,
    segment: &'a Segment,
}

impl SlotRun<'_> {
    /// Records in the run (at least one).
    pub fn len(&self) -> usize {
        self.recs.len()
    }

    /// Whether the run is empty (never, as handed out).
    pub fn is_empty(&self) -> bool {
        self.recs.is_empty()
    }

    /// Calls `f` with each record of the run, in order, its callsite resolved.
    #[inline]
    pub fn for_each(&mut self, mut f: impl FnMut(SlotRecord<'_>)) {
        for r in self.recs {
            let callsite = self.callsites.resolve(self.segment, r.header.callsite);
            f(SlotRecord {
                header: r.header,
                callsite,
                pos: r.pos,
                consumer: self.consumer,
            });
        }
    }
}

/// A record handed out in place (in a [`Bulk::Run`]): its header (read once from the slot and
/// checked as [`decode_record`] checks it: level, flags, and a payload that fits the slot),
/// its callsite, and its payload left in the ring until [`SlotRecord::append_payload`] copies
/// it where it goes.
#[derive(Debug)]
pub struct SlotRecord<'a> {
    /// The record's header.
    pub header: RecordHeader,
    /// Its callsite, as for [`Event::Record`].
    pub callsite: Result<Option<&'a CallsiteInfo>, &'a str>,
    pos: u64,
    consumer: &'a Consumer<'a, RawSlots<'a>>,
}

impl SlotRecord<'_> {
    /// Appends the record's payload (`header.len` bytes) to `out`, straight from its slot.
    #[inline]
    pub fn append_payload(&self, out: &mut Vec<u8>) {
        // SAFETY: the reader took this record with `next_in_place` and cannot release it
        // while this borrow of its consumer lives (`release` takes the reader mutably); the
        // header was checked to fit the slot's body when it was taken.
        unsafe {
            self.consumer
                .append_body(self.pos, RECORD_HEADER_LEN, self.header.len as usize, out)
        }
    }
}

/// A record's header read in place, if [`decode_record`] would accept the record: a known
/// level, known flags, a payload that fits a slot's `body` bytes. Anything else goes the
/// copying way, which reports the damage as it always did.
#[inline(always)]
fn plain_header(head: &[u8], body: usize) -> Option<RecordHeader> {
    let header: RecordHeader = bytemuck::pod_read_unaligned(head);
    // Levels are 1..=6 (`Level::from_u8`; `plain_header_accepts_what_decode_record_accepts`
    // holds the two together): one compare.
    (header.level.wrapping_sub(1) < 6
        && header.flags & !FLAG_TRUNCATED == 0
        && RECORD_HEADER_LEN + header.len as usize <= body)
        .then_some(header)
}

/// A record taken in place by [`LaneReader::fill`]: its merge key, position and header.
#[derive(Debug, Clone, Copy)]
struct InPlace {
    ts: u64,
    pos: u64,
    header: RecordHeader,
}

/// How a poll ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PollResult {
    /// Events delivered.
    pub events: usize,
    /// Every lane is empty up to its claim cursor and nothing is held back.
    pub idle: bool,
    /// Waiting on a stalled slot (a slow or dead producer) in some lane.
    pub stalled: bool,
}

/// Timing of stall handling and of the lane merge.
#[derive(Debug, Clone, Copy)]
pub struct StallPolicy {
    /// How long a claim may stay unowned before it is revoked, and a damaged slot before it is
    /// skipped. Default 100 ms.
    pub grace: Duration,
    /// How often the owner of a stalled record is checked for life. Default 10 ms.
    pub liveness_interval: Duration,
    /// How long a lane with a record being written holds back other lanes' newer records
    /// (see the module docs). Default 20 ms.
    pub merge_window: Duration,
    /// How long a living producer's unfinished record may hold up the other records queued
    /// behind it in its lane before the reader steps over it (the fence; see the module docs).
    /// `None`: never. Default 1 s ([`FENCE_AFTER_MS`]).
    pub fence_after: Option<Duration>,
}

impl Default for StallPolicy {
    fn default() -> Self {
        StallPolicy {
            grace: Duration::from_millis(100),
            liveness_interval: Duration::from_millis(10),
            merge_window: Duration::from_millis(20),
            fence_after: Some(Duration::from_millis(FENCE_AFTER_MS)),
        }
    }
}

#[derive(Debug)]
struct StallState {
    pos: u64,
    since: Instant,
    last_check: Instant,
}

/// Per-lane positions: where each lane's reading stands (see [`Reader::positions`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Positions(pub Vec<u64>);

impl Positions {
    /// Sum over the lanes (for messages and statistics).
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
}

/// An item queued from a lane, waiting for the merge.
#[derive(Debug)]
enum Queued {
    /// A record: raw timestamp (the merge key), its header as decoded (and validated) when
    /// it was read, where its payload starts in the lane's buffer (`header.len` bytes), the
    /// position after it. Decoded once: the hand-out rebuilds the [`RecordRef`] from these.
    Record {
        ts: u64,
        header: RecordHeader,
        start: usize,
        next: u64,
    },
    /// A loss at this point of the lane; `ts` keeps it in lane order.
    Lost { ts: u64, lost: Lost, next: u64 },
}

impl Queued {
    fn ts(&self) -> u64 {
        match self {
            Queued::Record { ts, .. } | Queued::Lost { ts, .. } => *ts,
        }
    }
}

/// Where a lane's scan ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LaneState {
    /// Read up to its claim cursor.
    Clear,
    /// Stopped at a record being written (or a claim not yet owned).
    Pending,
    /// Stopped because its queue is full; more is committed.
    More,
}

/// One lane's consumer and merge queue.
#[derive(Debug)]
struct LaneReader<'s> {
    lane: Lane<'s>,
    consumer: Consumer<'s, RawSlots<'s>>,
    /// Bytes of the queued records.
    buf: Vec<u8>,
    /// Records taken in place (one committed slot each), oldest first from `run_head`; all
    /// of them come before everything in `queue` (a record is taken in place only while the
    /// queue is empty).
    run: Vec<InPlace>,
    run_head: usize,
    queue: VecDeque<Queued>,
    /// Position after everything handed out (release goes up to here).
    emitted: u64,
    /// Timestamp of the newest queued or handed-out record (losses take it).
    last_ts: u64,
    state: LaneState,
    /// Raw clock reading of the last scan that found nothing in flight (0: never).
    clear_at: u64,
    /// When the lane was first seen stopped at the record it is stopped at now.
    pending_since: Option<Instant>,
    stall: Option<StallState>,
    /// The claim cursor when an unowned claim or damaged slot last timed out: later ones
    /// below it go without another grace period.
    episode_end: u64,
    /// When the lane's owner was last checked for life (to give back a dead process's lane).
    owner_checked: Option<Instant>,
    /// Whether we flagged the lane as stalled ([`LaneDrainLine::stalled`]).
    flagged: bool,
    /// Whether the lane's drain line holds a fence of ours (set until the fence is lifted and
    /// the read cursor is past it).
    fence_kept: bool,
    /// When the fenced record's owner was last checked for life.
    fence_checked: Option<Instant>,
    /// While a fence is held: what of the lane is written (released but for the fence), as
    /// stored in the lane's `fence_done`.
    fence_done: u64,
}

/// The consuming reader: the one consumer of every lane of a segment, built from (and owning)
/// its [`DrainLease`].
#[derive(Debug)]
pub struct Reader<'s> {
    segment: &'s Segment,
    lanes: Vec<LaneReader<'s>>,
    /// The right to consume; released when the reader is dropped (after the lanes).
    lease: DrainLease<'s>,
    calibration: Calibration,
    clock: ClockKind,
    policy: StallPolicy,
    callsites: CallsiteCache,
    /// Scratch: the lanes with something queued, during a poll.
    active: Vec<usize>,
    /// Scratch: the payload of a record taken in place, copied for [`Reader::poll`].
    scratch: Vec<u8>,
}

impl<'s> Reader<'s> {
    /// The leased segment's reader, starting at each lane's read cursor.
    ///
    /// ```
    /// use ringlog_segment::{Segment, SegmentConfig};
    /// use std::time::Duration;
    /// let dir = tempfile::tempdir().unwrap();
    /// let config = SegmentConfig { slot_count: 1024, ..SegmentConfig::default() };
    /// let (seg, _) = Segment::create_or_open(&dir.path().join("r"), &config).unwrap();
    /// let mut reader = seg.acquire_drain().unwrap().reader();
    /// assert!(seg.acquire_drain().is_err(), "one reader per ring");
    /// let (records, lost) = reader.read_owned(Duration::from_millis(10));
    /// assert!(records.is_empty() && lost.is_empty());
    /// ```
    pub fn new(lease: DrainLease<'s>) -> Self {
        let segment = lease.segment();
        let lanes = (0..segment.lane_count())
            .map(|i| {
                let lane = segment.lane(i);
                // SAFETY: `lease` is the segment's only drain lease (a CAS on `drain.pid` that
                // refuses while a living process holds it), and this reader owns it for as
                // long as the consumers exist; this crate builds a `Consumer` nowhere else,
                // and builds one per lane.
                let mut consumer = unsafe { Consumer::new(lane.ring()) };
                let line = &lane.header().pending_end;
                // A fence a previous drain held: take it up if it still names the read cursor
                // (it is cleared only after the read cursor moved past it).
                // SYNC: Relaxed loads; the previous drain's stores are ordered before ours by
                // the lease (its Release detach or its death, and our AcqRel attach).
                let fence = line.fence.load(Ordering::Relaxed);
                let fence_kept = fence != 0
                    && fence - 1 == consumer.position()
                    && consumer
                        .resume_fence(line.fence_done.load(Ordering::Relaxed))
                        .is_some();
                if fence != 0 && !fence_kept {
                    // SYNC: Relaxed; a stale word (see `LaneDrainLine::fence`).
                    line.fence.store(0, Ordering::Relaxed);
                }
                let at = consumer.position();
                LaneReader {
                    lane,
                    consumer,
                    buf: Vec::new(),
                    run: Vec::new(),
                    run_head: 0,
                    queue: VecDeque::new(),
                    emitted: at,
                    last_ts: 0,
                    state: LaneState::Clear,
                    clear_at: 0,
                    pending_since: None,
                    stall: None,
                    episode_end: 0,
                    owner_checked: None,
                    // A flag a previous drain left is ours to clear once the lane moves.
                    // SYNC: Relaxed; a hint (see `unflag`).
                    flagged: lane.header().pending_end.stalled.load(Ordering::Relaxed) != 0,
                    fence_kept,
                    fence_checked: None,
                    fence_done: at,
                }
            })
            .collect();
        Reader {
            segment,
            lanes,
            lease,
            calibration: segment.calibration(),
            clock: segment.clock_kind(),
            policy: StallPolicy::default(),
            callsites: CallsiteCache::default(),
            active: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// What the reader holds for the merge, over all lanes: queued items and the capacity in
    /// bytes of their buffers. Bounded by the rings (nothing is queued twice, and a lane queues
    /// at most what it has not released), whatever the segment's bytes say; the `reader_live`
    /// fuzz target asserts the bound.
    pub fn held(&self) -> (usize, usize) {
        self.lanes.iter().fold((0, 0), |(items, bytes), l| {
            (
                items + l.queued(),
                bytes + l.buf.capacity() + l.run.capacity() * std::mem::size_of::<InPlace>(),
            )
        })
    }

    /// Sets the stall and merge timing.
    pub fn with_policy(mut self, policy: StallPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The segment.
    pub fn segment(&self) -> &'s Segment {
        self.segment
    }

    /// The lease this reader holds.
    pub fn lease(&self) -> &DrainLease<'s> {
        &self.lease
    }

    /// The clock calibration used for [`Reader::read_owned`] (re-anchor it with
    /// [`Reader::set_calibration`]).
    pub fn calibration(&self) -> Calibration {
        self.calibration
    }

    /// Replaces the clock calibration.
    pub fn set_calibration(&mut self, c: Calibration) {
        self.calibration = c;
    }

    /// The cache of resolved (and bad) callsites; its bad-id part is capped
    /// ([`CallsiteCache::BAD_CAP`]) and counts its evictions.
    pub fn callsite_cache(&self) -> &CallsiteCache {
        &self.callsites
    }

    /// Per lane, the position after everything handed out so far.
    pub fn positions(&self) -> Positions {
        Positions(self.lanes.iter().map(|l| l.emitted).collect())
    }

    /// Per lane, the read cursor: everything below it is released.
    pub fn released(&self) -> Positions {
        Positions(self.lanes.iter().map(|l| l.read_cursor()).collect())
    }

    /// Whether everything below `end` (per lane) has been handed out.
    pub fn reached(&self, end: &Positions) -> bool {
        self.lanes.iter().zip(&end.0).all(|(l, &e)| l.emitted >= e)
    }

    /// Positions handed out but not yet released, over all lanes. Behind a fence, what was
    /// released but for the fence counts as released (it waits for the fenced record's owner,
    /// not for the drain's output).
    pub fn unreleased(&self) -> u64 {
        self.lanes
            .iter()
            .map(|l| l.emitted.saturating_sub(l.written_to()))
            .sum()
    }

    /// Frees everything handed out so far and publishes each lane's read cursor.
    pub fn release(&mut self) {
        self.release_lanes(|_, l| l.emitted);
    }

    /// Frees, in each lane, what was handed out below `end` (a [`Reader::positions`] taken
    /// earlier) and publishes the read cursors; what was handed out after it stays held. The
    /// drain's write-behind: it releases a written batch while the next one, read meanwhile,
    /// is not yet written. Positions past what was handed out are not released.
    ///
    /// # Panics
    /// If `end` does not have one position per lane.
    pub fn release_to(&mut self, end: &Positions) {
        assert_eq!(end.0.len(), self.lanes.len(), "one position per lane");
        self.release_lanes(|i, l| end.0[i].min(l.emitted));
    }

    fn release_lanes(&mut self, mut upto: impl FnMut(usize, &LaneReader<'s>) -> u64) {
        let mut n = 0;
        for (i, l) in self.lanes.iter_mut().enumerate() {
            let target = upto(i, l);
            let before = l.read_cursor();
            l.consumer.release_to(target);
            n += l.read_cursor() - before;
            if l.fence_kept {
                let line = &l.lane.header().pending_end;
                if l.consumer.fence_held().is_some() {
                    // What is written of this lane so far, past the fence: where a restarted
                    // drain resumes (stored before the checkpoint's `finish`). Never lowered:
                    // a batch handed out before the fence went up ends below it.
                    let done = target.max(l.fence_done);
                    // SYNC: Relaxed; published with the checkpoint (see `Reader::new`).
                    line.fence_done.store(done, Ordering::Relaxed);
                    l.fence_done = done;
                } else {
                    // SYNC: Relaxed; our own word (see `Reader::new`).
                    let fenced = line.fence.load(Ordering::Relaxed).wrapping_sub(1);
                    if l.read_cursor() > fenced {
                        // Lifted, and the read cursor just moved past the record (release_to
                        // published it above): the word must not outlive that. A release
                        // that stopped short of the record leaves it for the next one.
                        l.fence_kept = false;
                        // SYNC: Relaxed; as above.
                        line.fence.store(0, Ordering::Relaxed);
                    }
                }
            }
        }
        // SYNC: Relaxed; a statistic for `stats`.
        self.segment
            .shared()
            .drain
            .consumed
            .fetch_add(n, Ordering::Relaxed);
        if n > 0 {
            // Room was freed: wake producers sleeping until there is (after the read cursors'
            // Release stores above; `wake` module, "Producers waiting for room").
            self.segment.wake_producers();
        }
    }

    /// Per lane, the claim cursor bounded by the geometry: at most `read + slots`, which every
    /// producer keeps to. Where the drain must stop when asked to finish (shutdown, `--once`):
    /// it never chases a damaged cursor.
    pub fn claim_bounds(&self) -> Positions {
        Positions(
            self.lanes
                .iter()
                .map(|l| {
                    // SYNC: Relaxed; a bound only, records are read through their sequence
                    // words.
                    let claim = l.lane.header().cursors.claim.load(Ordering::Relaxed);
                    claim.min(l.read_cursor().saturating_add(l.consumer.ring().capacity()))
                })
                .collect(),
        )
    }

    /// Reads and hands out (without writing anything) the records of each lane below `end`,
    /// as far as they are committed: the start-up skip over a batch a previous drain wrote
    /// but did not release. Stops at a lane that is idle or stalled before `end` (the segment
    /// no longer holds what the checkpoint says). Returns the positions skipped.
    pub fn skip_to(&mut self, end: &Positions) -> u64 {
        let mut skipped = 0;
        let mut scratch = Vec::new();
        for (l, &e) in self.lanes.iter_mut().zip(&end.0) {
            debug_assert!(l.queued() == 0);
            let start = l.emitted;
            while l.consumer.position() < e {
                scratch.clear();
                match l.consumer.next(&mut scratch) {
                    Next::Record { .. } | Next::Skipped => {}
                    Next::Empty | Next::Stalled(_) => break,
                }
            }
            l.emitted = l.consumer.position();
            skipped += l.emitted - start;
        }
        skipped
    }

    /// Reads up to `max` events, calling `f` for each, merged across lanes in timestamp order
    /// (see the module docs). Does not release.
    pub fn poll(&mut self, max: usize, mut f: impl FnMut(Event<'_>)) -> PollResult {
        self.poll_inner::<false>(max, |b| {
            if let Bulk::Event(ev) = b {
                f(ev)
            }
        })
    }

    /// [`Reader::poll`] for a drain that copies records' payloads where they go itself (the
    /// binary archive): the common records (one committed slot each) come in runs of one
    /// lane ([`Bulk::Run`]) whose payloads are still in the ring, everything else as
    /// [`Bulk::Event`]; the same events in the same order as `poll` gives them. Does not
    /// release. With `runs` false, every event comes as a [`Bulk::Event`] (the records' bytes
    /// copied, as `poll` gives them), so one callback serves both ways.
    pub fn poll_bulk(&mut self, max: usize, runs: bool, f: impl FnMut(Bulk<'_>)) -> PollResult {
        if runs {
            self.poll_inner::<true>(max, f)
        } else {
            self.poll_inner::<false>(max, f)
        }
    }

    /// `poll` (`BULK` false: every event a [`Bulk::Event`], in-place records copied into the
    /// reader's scratch buffer) and `poll_bulk`.
    #[inline]
    fn poll_inner<const BULK: bool>(
        &mut self,
        max: usize,
        mut f: impl FnMut(Bulk<'_>),
    ) -> PollResult {
        let mut r = PollResult::default();
        let max = max.max(1);
        // The horizon starts at the clock before any lane is scanned: a record claimed after
        // a lane's scan was stamped after this reading.
        let t0 = crate::clock::now_raw(self.clock);
        let now = Instant::now();
        let mut horizon = t0;
        let (segment, policy, clock) = (self.segment, self.policy, self.clock);
        for l in &mut self.lanes {
            l.fill(segment, &policy, clock, max, t0, now);
            match l.state {
                LaneState::Clear => {}
                LaneState::More => horizon = horizon.min(l.last_ts),
                LaneState::Pending => {
                    r.stalled = true;
                    let since = *l.pending_since.get_or_insert(now);
                    if now.duration_since(since) < policy.merge_window {
                        horizon = horizon.min(l.clear_at);
                    }
                }
            }
        }
        // Hand out queued items, smallest timestamp first (lane order on ties), up to the
        // horizon. Only lanes with something queued are looked at (usually one or a few of
        // many).
        self.active.clear();
        self.active.extend(
            self.lanes
                .iter()
                .enumerate()
                .filter(|(_, l)| l.queued() > 0)
                .map(|(i, _)| i),
        );
        let Reader {
            lanes,
            active,
            callsites,
            segment,
            scratch,
            ..
        } = self;
        while r.events < max {
            // The front with the smallest (timestamp, lane) up to the horizon, and the
            // smallest (timestamp, lane) of every other lane's front, whatever the horizon:
            // the chosen lane's items go out in a run, without another scan, while they stay
            // below both (the other fronts do not move meanwhile). The order is the one a
            // scan per item gives; with one lane queued (a quiet ring, or `--once` on one
            // thread's backlog) the run is the whole queue.
            let mut best: Option<(u64, usize)> = None;
            let mut bound = (u64::MAX, usize::MAX);
            for &i in active.iter() {
                if let Some(ts) = lanes[i].front_ts() {
                    let key = (ts, i);
                    if key.0 <= horizon && best.is_none_or(|b| key < b) {
                        if let Some(b) = best {
                            bound = bound.min(b);
                        }
                        best = Some(key);
                    } else {
                        bound = bound.min(key);
                    }
                }
            }
            let Some((_, i)) = best else { break };
            let limit = (horizon.min(bound.0), bound.0, bound.1);
            let l = &mut lanes[i];
            while r.events < max {
                if BULK && l.run_head < l.run.len() {
                    // Every record taken in place that goes out before the other lanes'
                    // fronts, as one run.
                    let room = (max - r.events).min(l.run.len() - l.run_head);
                    let from = l.run_head;
                    let k = l.run[from..from + room]
                        .iter()
                        .take_while(|x| x.ts <= limit.0 && (x.ts < limit.1 || i < limit.2))
                        .count();
                    if k == 0 {
                        break;
                    }
                    l.run_head += k;
                    l.emitted = l.run[from + k - 1].pos + 1;
                    r.events += k;
                    f(Bulk::Run(SlotRun {
                        recs: &l.run[from..from + k],
                        consumer: &l.consumer,
                        callsites: &mut *callsites,
                        segment,
                    }));
                    continue;
                }
                match l.front_ts() {
                    // Below the horizon, and before the other lanes' fronts in (ts, lane).
                    Some(ts) if ts <= limit.0 && (ts < limit.1 || i < limit.2) => {}
                    _ => break,
                }
                r.events += 1;
                if l.run_head < l.run.len() {
                    // A record taken in place (they all come before the queue's items).
                    let InPlace { pos, header, .. } = l.run[l.run_head];
                    l.run_head += 1;
                    l.emitted = pos + 1;
                    let callsite = callsites.resolve(segment, header.callsite);
                    {
                        scratch.clear();
                        // SAFETY: taken by `next_in_place` and not released (release takes
                        // the reader mutably); the header was checked to fit the body.
                        unsafe {
                            l.consumer.append_body(
                                pos,
                                RECORD_HEADER_LEN,
                                header.len as usize,
                                scratch,
                            )
                        };
                        let record = RecordRef {
                            header,
                            payload: scratch,
                        };
                        f(Bulk::Event(Event::Record { record, callsite }));
                    }
                    continue;
                }
                let item = l.queue.pop_front().expect("front seen above");
                match item {
                    Queued::Record {
                        header,
                        start,
                        next,
                        ..
                    } => {
                        l.emitted = next;
                        // Decoded and validated when it was read; the bytes are ours since.
                        let record = RecordRef {
                            header,
                            payload: &l.buf[start..start + header.len as usize],
                        };
                        let callsite = callsites.resolve(segment, header.callsite);
                        f(Bulk::Event(Event::Record { record, callsite }));
                    }
                    Queued::Lost { lost, next, .. } => {
                        l.emitted = next;
                        f(Bulk::Event(Event::Lost(lost)));
                    }
                }
            }
            if l.queued() == 0 {
                // Everything read is handed out; skipped positions after the last item too.
                l.emitted = l.consumer.position();
                l.buf.clear();
                l.run.clear();
                l.run_head = 0;
            }
        }
        r.idle = self
            .lanes
            .iter()
            .all(|l| l.state == LaneState::Clear && l.queued() == 0);
        r
    }

    /// Reads everything committed until every lane is idle (or `timeout` passes while
    /// stalled), decodes it into owned records, and releases. Losses are returned beside the
    /// records.
    pub fn read_owned(&mut self, timeout: Duration) -> (Vec<OwnedRecord>, Vec<Lost>) {
        let deadline = Instant::now() + timeout;
        let mut out = Vec::new();
        let mut lost = Vec::new();
        let cal = self.calibration;
        loop {
            let r = self.poll(4096, |ev| match ev {
                Event::Record { record, callsite } => {
                    out.push(OwnedRecord::decode(&record, callsite, &cal));
                }
                Event::Lost(l) => lost.push(l),
            });
            self.release();
            if r.idle || Instant::now() >= deadline {
                return (out, lost);
            }
            if r.events == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
}

fn count_corrupt(segment: &Segment) {
    // SYNC: Relaxed; a statistic.
    segment
        .shared()
        .counters
        .corrupt
        .fetch_add(1, Ordering::Relaxed);
}

impl<'s> LaneReader<'s> {
    /// Items waiting for the merge: records taken in place, then the queue.
    #[inline]
    fn queued(&self) -> usize {
        self.run.len() - self.run_head + self.queue.len()
    }

    /// The merge key of the lane's next item.
    #[inline]
    fn front_ts(&self) -> Option<u64> {
        match self.run.get(self.run_head) {
            Some(r) => Some(r.ts),
            None => self.queue.front().map(Queued::ts),
        }
    }

    /// Our read cursor: every position below it is released.
    fn read_cursor(&self) -> u64 {
        self.consumer.position() - self.consumer.unreleased()
    }

    /// Where what is written of the lane ends: the read cursor, or behind a fence, what was
    /// released but for it.
    fn written_to(&self) -> u64 {
        match self.consumer.fence_held() {
            Some(_) => self.fence_done.max(self.read_cursor()),
            None => self.read_cursor(),
        }
    }

    /// Drops the bytes of records already handed out from the front of `buf` once they are
    /// most of it. `buf` is otherwise cleared only when the queue empties, and a lane that
    /// holds a record back at every poll (one stamped after the poll's horizon, or a loss,
    /// which is stamped "now") would keep every record it ever read: memory bounded by what
    /// is queued, whatever the stream (issue 14).
    fn compact(&mut self) {
        const MIN: usize = 16 * 1024;
        if self.buf.len() < MIN {
            return;
        }
        // Records are queued in buffer order: the first queued record starts the live bytes.
        let live = self
            .queue
            .iter()
            .find_map(|q| match q {
                Queued::Record { start, .. } => Some(*start),
                Queued::Lost { .. } => None,
            })
            .unwrap_or(self.buf.len());
        if live * 2 < self.buf.len() {
            return;
        }
        self.buf.drain(..live);
        for q in &mut self.queue {
            if let Queued::Record { start, .. } = q {
                *start -= live;
            }
        }
    }

    /// Reads the lane's committed records into its queue (up to `max` queued), resolving
    /// stalls as the crash rules say; sets `state`.
    #[allow(clippy::too_many_arguments)]
    fn fill(
        &mut self,
        segment: &Segment,
        policy: &StallPolicy,
        clock: ClockKind,
        max: usize,
        t0: u64,
        now: Instant,
    ) {
        // Records taken in place and handed out leave the run (what is left moves to the
        // front: at most one poll's worth), so a lane that always holds a record back keeps
        // only what is queued.
        if self.run_head > 0 {
            self.run.drain(..self.run_head);
            self.run_head = 0;
        }
        if self.queue.is_empty() && !self.buf.is_empty() {
            self.buf.clear();
        } else {
            self.compact();
        }
        self.check_fence(policy, now);
        // Read the clock only once this lane has something to stamp (most lanes of a poll are
        // empty), and then once per fill.
        let mut now_raw = None;
        let mut clock_now = || *now_raw.get_or_insert_with(|| crate::clock::now_raw(clock));
        loop {
            if self.queued() >= max {
                self.state = LaneState::More;
                return;
            }
            let body = self.consumer.ring().body_len();
            // (A slot holds a header: the geometry's minimum slot is 64 bytes; checked anyway,
            // as the header copy below asserts it.)
            if self.queue.is_empty() && body >= RECORD_HEADER_LEN {
                // The common record (one committed slot, a header decode_record accepts) is
                // taken in place: its payload stays in the slot until it is handed out.
                let mut head = [0u8; RECORD_HEADER_LEN];
                // (No reserve for `room`: callers may pass any `max`, up to usize::MAX.)
                let room = max - self.queued();
                let mut took = 0;
                while took < room {
                    let Some((pos, header)) = self
                        .consumer
                        .next_in_place(&mut head, |h| plain_header(h, body))
                    else {
                        break;
                    };
                    // The merge key as for a copied record below.
                    let ts = header.timestamp.min(clock_now()).max(self.last_ts);
                    self.last_ts = ts;
                    self.run.push(InPlace { ts, pos, header });
                    took += 1;
                }
                if took > 0 {
                    // The lane moved (as after a copied record below; nothing in the loop
                    // above reads these).
                    self.stall = None;
                    self.pending_since = None;
                    self.unflag();
                    continue;
                }
            }
            let start = self.buf.len();
            match self.consumer.next(&mut self.buf) {
                Next::Record { .. } => {
                    self.stall = None;
                    self.pending_since = None;
                    self.unflag();
                    let end = self.buf.len();
                    let next = self.consumer.position();
                    match decode_record(&self.buf[start..end]) {
                        Ok(rec) => {
                            // The merge key: the record's stamp, but never later than now (it
                            // is committed, so it was stamped before we read it: a damaged
                            // stamp from the far future must not hold everything back), and
                            // never earlier than the lane's previous record (a lane's records
                            // are in its holder's time order; a clock that stepped back still
                            // keeps them in lane order).
                            let ts = rec.header.timestamp.min(clock_now()).max(self.last_ts);
                            self.last_ts = ts;
                            self.queue.push_back(Queued::Record {
                                ts,
                                header: rec.header,
                                start: start + RECORD_HEADER_LEN,
                                next,
                            });
                        }
                        Err(e) => {
                            self.buf.truncate(start);
                            count_corrupt(segment);
                            self.push_lost(
                                Lost::Corrupt {
                                    reason: e.to_string(),
                                },
                                next,
                                clock_now(),
                            );
                        }
                    }
                }
                Next::Skipped => {
                    self.stall = None;
                    self.pending_since = None;
                    self.unflag();
                }
                Next::Empty => {
                    self.stall = None;
                    self.pending_since = None;
                    self.unflag();
                    self.clear_at = t0;
                    self.state = LaneState::Clear;
                    self.maybe_reclaim(policy, now);
                    return;
                }
                Next::Stalled(stall) => match self.handle_stall(segment, policy, stall, now) {
                    Some(lost) => {
                        self.pending_since = None;
                        self.unflag();
                        let next = self.consumer.position();
                        self.push_lost(lost, next, clock_now());
                    }
                    None => {
                        self.state = LaneState::Pending;
                        return;
                    }
                },
            }
        }
    }

    /// Queues a loss found now: it goes out after every record stamped before now (the
    /// notice is news of this moment, and a flight recorder recalls what led up to it), and
    /// never before the lane's earlier records.
    fn push_lost(&mut self, lost: Lost, next: u64, now_raw: u64) {
        // Revoked claims right after one another (one producer's multi-slot claim, or the
        // claims of one episode) are one loss: one notice with their slot count, not one per
        // slot.
        if let (
            Lost::Abandoned {
                slots: more,
                pid: None,
            },
            Some(Queued::Lost {
                lost: Lost::Abandoned { slots, pid: None },
                next: end,
                ..
            }),
        ) = (&lost, self.queue.back_mut())
        {
            if end.checked_add(*more) == Some(next) {
                *slots += *more;
                *end = next;
                return;
            }
        }
        let ts = self.last_ts.max(now_raw);
        self.last_ts = ts;
        self.queue.push_back(Queued::Lost { ts, lost, next });
    }

    /// Clears the lane's stall flag, if we set it: the lane moved.
    fn unflag(&mut self) {
        // A fenced lane stays flagged: its read cursor is held until the fence is lifted.
        if self.flagged && self.consumer.fence_held().is_none() {
            self.flagged = false;
            // SYNC: Relaxed; see where it is set.
            self.lane
                .header()
                .pending_end
                .stalled
                .store(0, Ordering::Relaxed);
        }
    }

    /// Sets the lane's stall flag for the record at `pos`.
    fn flag(&mut self, pos: u64) {
        self.flagged = true;
        // SYNC: Relaxed; a hint for producers' lane choice, ordering nothing.
        self.lane
            .header()
            .pending_end
            .stalled
            .store(pos + 1, Ordering::Relaxed);
    }

    /// Lifts the lane's fence once the fenced record's owner has finished it or is gone; the
    /// next [`Reader::release`] then frees its slots with everything written after it.
    fn check_fence(&mut self, policy: &StallPolicy, now: Instant) {
        let f = match self.consumer.check_fence() {
            FenceCheck::Clear => return,
            FenceCheck::Finished(_) => {
                // SAFETY: the owner's final store (commit or drop) is its last write to the
                // record's slots, and `check_fence` loaded it with Acquire.
                unsafe { self.consumer.lift_fence() };
                return;
            }
            FenceCheck::Held(f) | FenceCheck::Changed(f, _) => f,
        };
        if self
            .fence_checked
            .is_some_and(|t| now.duration_since(t) < policy.liveness_interval)
        {
            return;
        }
        self.fence_checked = Some(now);
        if !pid_alive(f.pid) {
            // SAFETY: `kill(pid, 0)` said no process `pid` exists, and a process that is gone
            // writes nothing more (as for `Consumer::abandon`; the same pid-namespace
            // assumption).
            unsafe { self.consumer.lift_fence() };
        }
    }

    /// Gives back the lane of a process that died holding it (nothing in flight: the lane is
    /// read to its claim cursor). Checked at most every 100 ms per lane.
    fn maybe_reclaim(&mut self, policy: &StallPolicy, now: Instant) {
        let every = policy.liveness_interval * 10;
        if self
            .owner_checked
            .is_some_and(|t| now.duration_since(t) < every)
        {
            return;
        }
        self.owner_checked = Some(now);
        // Judged by pid and start time: a holder whose pid now runs another process (reused,
        // or a forged owner word naming a living process with its stamp) is dead too.
        let Some((held, _stamp, false)) = self.lane.holder_alive() else {
            return;
        };
        let owner = self.lane.owner();
        // SYNC: Release; pairs with the Acquire of the next `Lane::try_take`, carrying our
        // reads of the lane (a dead process writes nothing more, so nothing else is to be
        // ordered). Fails harmlessly if the word changed.
        let _ = owner.compare_exchange(held, 0, Ordering::Release, Ordering::Relaxed);
    }

    /// Decides what to do about a stall: `Some` if the reader moved past it.
    fn handle_stall(
        &mut self,
        segment: &Segment,
        policy: &StallPolicy,
        stall: Stall,
        now: Instant,
    ) -> Option<Lost> {
        let pos = match stall {
            Stall::Unowned { pos } | Stall::Writing { pos, .. } | Stall::Corrupt { pos, .. } => pos,
        };
        if self.stall.as_ref().is_none_or(|s| s.pos != pos) {
            self.stall = Some(StallState {
                pos,
                since: now,
                last_check: now,
            });
        }
        let st = self.stall.as_mut().expect("set above");
        let waited = now.duration_since(st.since);
        let counters = &segment.shared().counters;
        let claim = &self.lane.header().cursors.claim;
        match stall {
            Stall::Unowned { pos } => {
                if let Some(lost) = self.check_claim(segment) {
                    return Some(lost);
                }
                // Revoking an unowned claim is always safe (a living producer simply claims
                // again). Wait out the grace period, except within an episode: once a claim
                // timed out, the other claims made before that moment that are still unowned
                // when we reach them belong to the same dead producer (or to ones descheduled
                // for as long), so they go at once.
                if pos >= self.episode_end {
                    if waited < policy.grace {
                        return None;
                    }
                    // SYNC: Relaxed; only bounds the episode (see above).
                    self.episode_end = claim.load(Ordering::Relaxed);
                }
                self.stall = None;
                if !self.consumer.revoke(pos) {
                    return None; // the producer owned it just now
                }
                // SYNC: Relaxed; a statistic.
                counters.abandoned.fetch_add(1, Ordering::Relaxed);
                Some(Lost::Abandoned {
                    slots: 1,
                    pid: None,
                })
            }
            Stall::Writing { pos, pid, span } => {
                if now.duration_since(st.last_check) < policy.liveness_interval
                    && waited < policy.liveness_interval
                {
                    return None;
                }
                st.last_check = now;
                if !segment.may_be_producer(pid) {
                    // An owner no producer can be (pid 0 or 1, or absent from a producer table
                    // every producer joined): the word is damage, whatever process that pid
                    // names now. Skipped as one damaged slot after the grace period, never with
                    // its span: the span is as untrusted as the pid, and freeing the slots
                    // after it could free records other producers are writing.
                    if waited < policy.grace {
                        return None;
                    }
                    self.stall = None;
                    let seq = Seq::writing(self.consumer.ring().lap(pos), span, pid);
                    // SAFETY: no producer owns this slot: every producer attaches to the table
                    // before it writes (or is counted as unlisted, which makes every pid
                    // plausible), pid 1 is init and pid 0 no process, so the word was written
                    // by damage (RELIABILITY.md, "Trust model"); it stayed unchanged for the
                    // grace period. The CAS in `abandon` changes nothing if it moved.
                    if !unsafe { self.consumer.abandon(Stall::Corrupt { pos, seq }) } {
                        return None;
                    }
                    count_corrupt(segment);
                    return Some(Lost::Corrupt {
                        reason: format!("slot owned by a pid no producer has ({seq:?})"),
                    });
                }
                if pid_alive(pid) {
                    // Slow but alive: never torn, never overwritten. Past the flag bound, tell
                    // producers choosing a lane to share to go elsewhere (the owner's own
                    // records wait for it; nobody else's need to).
                    if waited >= Duration::from_millis(STALL_FLAG_AFTER_MS) && !self.flagged {
                        self.flag(pos);
                    }
                    // Past the fence bound, with other writers' records behind it, step over
                    // it (a holder alone in its lane keeps its record: stepping over it would
                    // only lose it).
                    if policy.fence_after.is_some_and(|after| waited >= after)
                        // SYNC: Relaxed; a bound only: positions claimed after the record.
                        && claim.load(Ordering::Relaxed) > pos + span as u64
                        && self.emitted == pos
                        && self.consumer.fence(stall)
                    {
                        self.stall = None;
                        self.fence_checked = Some(now);
                        self.flag(pos);
                        let line = &self.lane.header().pending_end;
                        // SYNC: Relaxed; read by a restarted drain after the lease hand-over,
                        // and by nobody else (see `Reader::new`). `fence_done` first: the
                        // fence word makes it valid.
                        line.fence_done.store(pos + span as u64, Ordering::Relaxed);
                        line.fence.store(pos + 1, Ordering::Relaxed);
                        self.fence_done = pos + span as u64;
                        self.fence_kept = true;
                        // SYNC: Relaxed; a statistic.
                        counters.abandoned.fetch_add(span as u64, Ordering::Relaxed);
                        return Some(Lost::Fenced {
                            slots: span as u64,
                            pid,
                        });
                    }
                    return None;
                }
                self.stall = None;
                // SAFETY: `kill(pid, 0)` just said no process `pid` exists (a zombie counts as
                // alive until reaped), and a process that is gone writes nothing more; a
                // living owner (or a reused pid) keeps us waiting instead. This assumes the
                // producers share our pid namespace (ARCHITECTURE.md, "The ring").
                if !unsafe { self.consumer.abandon(stall) } {
                    return None;
                }
                // SYNC: Relaxed; a statistic.
                counters.abandoned.fetch_add(span as u64, Ordering::Relaxed);
                Some(Lost::Abandoned {
                    slots: span as u64,
                    pid: Some(pid),
                })
            }
            Stall::Corrupt { seq, .. } => {
                // Damage does not heal, but wait out the grace period once per episode so a
                // reader never races a writer on a word it misread; later damaged slots of the
                // same episode go at once.
                if pos >= self.episode_end {
                    if waited < policy.grace {
                        return None;
                    }
                    // SYNC: Relaxed; only bounds the episode.
                    self.episode_end = claim.load(Ordering::Relaxed);
                }
                self.stall = None;
                // SAFETY: the word is damage, not a producer's: no valid state looks like it,
                // and it has stayed so for the grace period (or an earlier damaged slot of
                // this episode already did), so we accept skipping it.
                if !unsafe { self.consumer.abandon(stall) } {
                    return None;
                }
                count_corrupt(segment);
                Some(Lost::Corrupt {
                    reason: format!("damaged slot sequence word {seq:?}"),
                })
            }
        }
    }

    /// Checks the lane's claim cursor against its read cursor and the geometry (`claim <=
    /// read + slots`). A claim past that is damage: no producer can claim there, and every
    /// position up to it would look like an unowned claim to revoke, while the lane's holder
    /// sees a full lane forever. It is reset to `read + slots` (the unclaimed positions below
    /// are then revoked as unowned claims, which is always safe: at most one lane's worth),
    /// counted, and reported once per damage.
    ///
    /// Called only at an unowned claim, never on the fast path: a bogus claim cursor always
    /// shows there first, since the drain reads the claim cursor nowhere else.
    fn check_claim(&mut self, segment: &Segment) -> Option<Lost> {
        let capacity = self.consumer.ring().capacity();
        let bound = self.read_cursor().saturating_add(capacity);
        let claim = &self.lane.header().cursors.claim;
        // SYNC: Relaxed; only compared with the geometry. A producer racing the reset below
        // makes the CAS fail and we look again at the next stall.
        let seen = claim.load(Ordering::Relaxed);
        if seen <= bound {
            return None;
        }
        // SYNC: Relaxed; the claim cursor carries no data (see Ring::claim_positions).
        claim
            .compare_exchange(seen, bound, Ordering::Relaxed, Ordering::Relaxed)
            .ok()?;
        self.episode_end = self.episode_end.min(bound);
        self.stall = None;
        count_corrupt(segment);
        Some(Lost::Corrupt {
            reason: format!(
                "claim cursor {seen} of lane {} beyond read cursor {} + {capacity} slots; reset to {bound}",
                self.lane.index(),
                self.read_cursor(),
            ),
        })
    }
}

/// Resolved callsites of one segment, validated once and cached.
///
/// Good ids are bounded by the callsite table's size; bad ids come from record bytes any
/// producer writes, so their cache is capped at [`CallsiteCache::BAD_CAP`] entries (an id
/// evicted is simply validated again when it comes back) and evictions are counted.
#[derive(Debug, Default)]
pub struct CallsiteCache {
    /// Indexed by `id / 8` (ids are 8-aligned table offsets).
    by_slot: Vec<Option<Arc<CallsiteInfo>>>,
    /// Ids that did not resolve, with the reason; at most `BAD_CAP` entries.
    bad: std::collections::HashMap<u32, String>,
    /// Entries evicted from `bad` to keep it at its cap.
    bad_evicted: u64,
    scratch: Vec<u8>,
}

impl CallsiteCache {
    /// The most bad callsite ids remembered.
    pub const BAD_CAP: usize = 1024;

    /// Bad ids remembered now (at most [`Self::BAD_CAP`]).
    pub fn bad_len(&self) -> usize {
        self.bad.len()
    }

    /// Bad ids forgotten to keep the cache at its cap.
    pub fn bad_evicted(&self) -> u64 {
        self.bad_evicted
    }

    /// Resolves `id` in `segment`'s table: `Ok(None)` for id 0, `Err` with the reason for an id
    /// that does not resolve (unknown, damaged).
    #[inline]
    pub fn resolve(&mut self, segment: &Segment, id: u32) -> Result<Option<&CallsiteInfo>, &str> {
        // The common case inline: a good id seen before (`resolve_slow` validates and caches).
        let slot = (id / 8) as usize;
        if id % 8 == 0 && self.by_slot.get(slot).is_some_and(|c| c.is_some()) {
            return Ok(self.by_slot[slot].as_deref());
        }
        self.resolve_slow(segment, id)
    }

    /// [`Self::resolve`] for an id not cached as good.
    #[inline(never)]
    fn resolve_slow(&mut self, segment: &Segment, id: u32) -> Result<Option<&CallsiteInfo>, &str> {
        if id == 0 {
            return Ok(None);
        }
        let slot = (id / 8) as usize;
        let cached = id % 8 == 0 && self.by_slot.get(slot).is_some_and(|c| c.is_some());
        if !cached {
            if self.bad.contains_key(&id) {
                return Err(self
                    .bad
                    .get(&id)
                    .map(|s| s.as_str())
                    .unwrap_or("bad callsite"));
            }
            let table = segment.callsites();
            let scratch = &mut self.scratch;
            let res = table
                .entry(id, scratch)
                .and_then(|()| decode_callsite(id, scratch).map(|d| CallsiteInfo::new(id, &d)));
            match res {
                Ok(info) => {
                    if self.by_slot.len() <= slot {
                        self.by_slot.resize(slot + 1, None);
                    }
                    self.by_slot[slot] = Some(Arc::new(info));
                }
                Err(e) => {
                    if self.bad.len() >= Self::BAD_CAP {
                        // Any entry will do: an evicted id is only validated again.
                        if let Some(&old) = self.bad.keys().next() {
                            self.bad.remove(&old);
                            self.bad_evicted += 1;
                        }
                    }
                    self.bad.insert(id, e.to_string());
                    return Err(self
                        .bad
                        .get(&id)
                        .map(|s| s.as_str())
                        .unwrap_or("bad callsite"));
                }
            }
        }
        Ok(self.by_slot[slot].as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SegmentConfig;
    use ringlog_wire::record::{Level, RecordHeader};
    use std::sync::atomic::AtomicU64;

    fn lanes(dir: &tempfile::TempDir, lanes: u32) -> Segment {
        let config = SegmentConfig {
            slot_count: 64,
            lanes,
            ..SegmentConfig::default()
        };
        let seg = Segment::create_or_open(&dir.path().join("r"), &config)
            .unwrap()
            .0;
        // As every producer does before it writes (the drain judges owners by the table).
        seg.attach_producer(std::process::id());
        seg
    }

    /// A record with no callsite stamped `ts` whose tid field says where it came from.
    fn record(ts: u64, tag: u32) -> Vec<u8> {
        let header = RecordHeader {
            timestamp: ts,
            callsite: 0,
            pid: std::process::id(),
            tid: tag,
            len: 0,
            level: Level::Info as u8,
            flags: 0,
        };
        bytemuck::bytes_of(&header).to_vec()
    }

    fn push(seg: &Segment, lane: usize, ts: u64, tag: u32) {
        let cache = AtomicU64::new(0);
        seg.lane(lane)
            .ring()
            .push(&record(ts, tag), std::process::id(), &cache)
            .unwrap();
    }

    fn tags(reader: &mut Reader<'_>) -> Vec<u32> {
        let mut out = Vec::new();
        reader.poll(1000, |ev| match ev {
            Event::Record { record, .. } => out.push(record.header.tid),
            Event::Lost(l) => panic!("lost {l:?}"),
        });
        out
    }

    /// A process opening a busy segment checks its lanes' cursors while a producer claims and
    /// the drain releases: a healthy lane must pass however the checker is scheduled between
    /// its loads (it was refused as damaged when the checker was descheduled between loading
    /// the read cursor and the claim cursor while a lap's worth went through: CI, a producer's
    /// `Logger::open` on a 64-slot ring). Three threads on two cores for a second: the
    /// checker is preempted mid-check hundreds of times.
    #[test]
    fn a_busy_lanes_cursors_pass_the_open_check() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let dir = tempfile::tempdir().unwrap();
        let seg = lanes(&dir, 1);
        let stop = AtomicBool::new(false);
        let base = crate::clock::now_raw(seg.clock_kind()) - 1_000_000;
        let checks = std::thread::scope(|s| {
            s.spawn(|| {
                let cache = AtomicU64::new(0);
                let mut ts = base;
                while !stop.load(Ordering::Relaxed) {
                    let ring = seg.lane(0).ring();
                    if ring
                        .push(&record(ts, 1), std::process::id(), &cache)
                        .is_ok()
                    {
                        ts += 1;
                    }
                }
            });
            s.spawn(|| {
                let mut reader = seg.acquire_drain().unwrap().reader();
                while !stop.load(Ordering::Relaxed) {
                    reader.poll(64, |_| {});
                    reader.release();
                }
            });
            let until = std::time::Instant::now() + Duration::from_secs(1);
            let mut checks = 0u64;
            let verdict = loop {
                if let Err(e) = seg.check_cursors() {
                    break Err(e);
                }
                checks += 1;
                if std::time::Instant::now() >= until {
                    break Ok(checks);
                }
            };
            stop.store(true, Ordering::Relaxed);
            verdict
        });
        let checks = checks.unwrap_or_else(|e| panic!("a healthy busy lane refused: {e}"));
        assert!(checks > 1000, "{checks} checks");
    }

    #[test]
    fn lanes_are_merged_in_timestamp_order_and_each_lane_keeps_its_own_order() {
        let dir = tempfile::tempdir().unwrap();
        let seg = lanes(&dir, 3);
        // Stamps in the past (raw readings of the segment's clock from before now).
        let base = crate::clock::now_raw(seg.clock_kind()) - 1000;
        for (lane, stamps) in [(0, [1, 4, 7]), (1, [2, 5, 8]), (2, [3, 6, 9])] {
            for ts in stamps {
                push(&seg, lane, base + ts, ts as u32);
            }
        }
        // A lane whose clock stepped back keeps its own order: 10 then 9.5 comes out after 10.
        push(&seg, 0, base + 10, 10);
        push(&seg, 0, base + 9, 11);
        let mut reader = seg.acquire_drain().unwrap().reader();
        assert_eq!(tags(&mut reader), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
        reader.release();
        assert_eq!(reader.unreleased(), 0);
        assert_eq!(reader.positions().total(), 11);
    }

    /// The hand-out gives a lane's items out in runs (no scan per item while they stay
    /// before every other lane's front): the order must be exactly the one a scan per item
    /// gives, smallest (timestamp, lane) first, whatever the runs, ties and poll sizes.
    #[test]
    fn runs_of_one_lane_come_out_in_the_same_order_as_one_item_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let seg = lanes(&dir, 3);
        let base = crate::clock::now_raw(seg.clock_kind()) - 100_000;
        // xorshift: stamps that tie across lanes, long runs in one lane, and steps.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = move |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let mut expected = Vec::new();
        let mut tag = 0;
        for lane in 0..3 {
            let mut ts = base;
            for _ in 0..60 {
                ts += [0, 0, 1, 3, 40][rnd(5) as usize];
                push(&seg, lane, ts, tag);
                expected.push((ts, lane, tag));
                tag += 1;
            }
        }
        // Smallest (timestamp, lane) first; a lane's own order on its own ties.
        expected.sort();
        let expected: Vec<u32> = expected.iter().map(|e| e.2).collect();
        for max in [1, 2, 5, 7, 64, 1000] {
            let (_copy, seg) = open_copy(&dir);
            let mut reader = seg.acquire_drain().unwrap().reader();
            let mut got = Vec::new();
            let watchdog = Instant::now() + Duration::from_secs(10);
            loop {
                assert!(Instant::now() < watchdog, "max {max}: never idle");
                let r = reader.poll(max, |ev| match ev {
                    Event::Record { record, .. } => got.push(record.header.tid),
                    Event::Lost(l) => panic!("lost {l:?}"),
                });
                assert!(r.events <= max);
                reader.release();
                if r.idle {
                    break;
                }
            }
            assert_eq!(got, expected, "poll size {max}");
        }
    }

    /// The in-place path takes a record only if the copying path's `decode_record` would
    /// accept it, and leaves every other one to it (which reports it as before): every level
    /// byte, flag bit and length against a one-slot body.
    #[test]
    fn plain_header_accepts_what_decode_record_accepts() {
        let body = 56;
        for level in 0..=255u8 {
            for flags in [0, FLAG_TRUNCATED, 2, 0x80] {
                for len in [0u16, 1, 31, 32, 33, 200, u16::MAX] {
                    let header = RecordHeader {
                        timestamp: 7,
                        callsite: 8,
                        pid: 1,
                        tid: 2,
                        len,
                        level,
                        flags,
                    };
                    let mut bytes = bytemuck::bytes_of(&header).to_vec();
                    bytes.resize(body, 0xee);
                    let want = decode_record(&bytes).ok().map(|r| r.header);
                    let got = plain_header(&bytes[..RECORD_HEADER_LEN], body);
                    assert_eq!(got, want, "level {level}, flags {flags}, len {len}");
                }
            }
        }
    }

    /// A fresh copy of `dir`'s segment `r`, opened (the directory holds the copy: keep it).
    fn open_copy(dir: &tempfile::TempDir) -> (tempfile::TempDir, Segment) {
        let copy = tempfile::tempdir().unwrap();
        std::fs::copy(dir.path().join("r"), copy.path().join("r")).unwrap();
        let seg = Segment::create_or_open(&copy.path().join("r"), &SegmentConfig::default())
            .unwrap()
            .0;
        (copy, seg)
    }

    /// What a poll handed out, flattened: records as (header, payload), losses.
    #[derive(Debug, PartialEq)]
    enum Out {
        Record(RecordHeader, Vec<u8>),
        Lost(Lost),
    }

    /// Everything in a copy of `dir`'s segment, by `poll` (`runs` false) or by `poll_bulk`
    /// with runs, `max` at a time; and the longest run seen.
    fn drain_copy(dir: &tempfile::TempDir, max: usize, runs: bool) -> (Vec<Out>, usize) {
        let (_copy, seg) = open_copy(dir);
        let mut reader = seg.acquire_drain().unwrap().reader();
        let (mut got, mut longest) = (Vec::new(), 0);
        let watchdog = Instant::now() + Duration::from_secs(10);
        loop {
            assert!(Instant::now() < watchdog, "max {max}: never idle");
            let mut event = |ev: Event<'_>| match ev {
                Event::Record { record, .. } => {
                    got.push(Out::Record(record.header, record.payload.to_vec()))
                }
                Event::Lost(l) => got.push(Out::Lost(l)),
            };
            let r = if runs {
                reader.poll_bulk(max, true, |b| match b {
                    Bulk::Event(ev) => event(ev),
                    Bulk::Run(mut run) => {
                        longest = longest.max(run.len());
                        run.for_each(|s| {
                            let mut payload = Vec::new();
                            s.append_payload(&mut payload);
                            assert_eq!(payload.len(), s.header.len as usize);
                            event(Event::Record {
                                record: RecordRef {
                                    header: s.header,
                                    payload: &payload,
                                },
                                callsite: s.callsite,
                            });
                        })
                    }
                })
            } else {
                reader.poll(max, event)
            };
            assert!(r.events <= max);
            reader.release();
            if r.idle {
                break;
            }
        }
        (got, longest)
    }

    /// The in-place path (records of one slot taken without a copy, handed out in runs) gives
    /// the very events `poll` gives, in the same order, around everything it leaves to the
    /// copying path: records of several slots, headers `decode_record` refuses (a bad level,
    /// unknown flags, a length past the slot), ties across lanes.
    #[test]
    fn bulk_runs_hand_out_the_same_events_in_the_same_order_as_poll() {
        let dir = tempfile::tempdir().unwrap();
        let seg = lanes(&dir, 3);
        let base = crate::clock::now_raw(seg.clock_kind()) - 100_000;
        let cache = AtomicU64::new(0);
        let pid = std::process::id();
        let mut tag = 0u32;
        for lane in 0..3usize {
            let mut ts = base;
            for i in 0..50u32 {
                ts += [0, 1, 7][(i % 3) as usize] + lane as u64;
                let n = (i as usize * 7) % 30;
                let mut header = RecordHeader {
                    timestamp: ts,
                    callsite: 0,
                    pid,
                    tid: tag,
                    len: n as u16,
                    level: Level::Info as u8,
                    flags: 0,
                };
                let mut payload: Vec<u8> = (0..n).map(|k| (k as u32 + tag) as u8).collect();
                match (i + lane as u32) % 11 {
                    3 => header.level = 99,
                    5 => header.flags = 0x80,
                    7 => header.len = 60,
                    9 => {
                        payload = vec![0xab; 100];
                        header.len = 100;
                    }
                    _ => {}
                }
                let mut bytes = bytemuck::bytes_of(&header).to_vec();
                bytes.extend_from_slice(&payload);
                seg.lane(lane).ring().push(&bytes, pid, &cache).unwrap();
                tag += 1;
            }
        }
        // (Losses are stamped when they are found, so where they fall among the other
        // lanes' records depends on the poll size: compare like with like.)
        // usize::MAX: callers may ask for everything (`ringload`'s check does).
        for max in [1, 3, 16, 1000, usize::MAX] {
            let (want, _) = drain_copy(&dir, max, false);
            let records = want.iter().filter(|o| matches!(o, Out::Record(..))).count();
            let lost = want.iter().filter(|o| matches!(o, Out::Lost(_))).count();
            assert!(records > 100 && lost > 20, "{records} records, {lost} lost");
            let (bulk, longest) = drain_copy(&dir, max, true);
            assert_eq!(bulk, want, "poll_bulk, max {max}");
            if max > 3 {
                assert!(longest > 1, "max {max}: no run longer than one record");
            }
        }
    }

    #[test]
    fn a_lane_with_a_record_in_flight_holds_back_newer_records_only_for_the_merge_window() {
        let dir = tempfile::tempdir().unwrap();
        let seg = lanes(&dir, 2);
        let before = crate::clock::now_raw(seg.clock_kind());
        let mut reader = seg
            .acquire_drain()
            .unwrap()
            .reader()
            .with_policy(StallPolicy {
                merge_window: Duration::from_millis(300),
                ..StallPolicy::default()
            });
        // Both lanes seen clear once.
        assert!(tags(&mut reader).is_empty());
        // Lane 0: a record claimed and owned, not committed (a producer mid-record).
        let cache = AtomicU64::new(0);
        let ring0 = seg.lane(0).ring();
        let owned = ring0
            .claim(1, &cache)
            .unwrap()
            .own(std::process::id())
            .unwrap();
        // Lane 1: a record stamped before lane 0 was last seen clear (it goes out at once),
        // then one stamped now, after that (held while lane 0's record may be older).
        push(&seg, 1, before, 1);
        push(&seg, 1, crate::clock::now_raw(seg.clock_kind()), 2);
        let started = Instant::now();
        assert_eq!(
            tags(&mut reader),
            [1],
            "only what is older than the record in flight"
        );
        // The held record goes out once the window has passed, without lane 0.
        let mut got = Vec::new();
        while got.is_empty() {
            got = tags(&mut reader);
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert_eq!(got, [2]);
        drop(owned); // publishes a skip: nothing more to read
        assert!(tags(&mut reader).is_empty());
    }

    /// Polls until `n` events came, returning (record tags, losses).
    fn events(reader: &mut Reader<'_>, n: usize) -> (Vec<u32>, Vec<Lost>) {
        let (mut tags, mut lost) = (Vec::new(), Vec::new());
        let deadline = Instant::now() + Duration::from_secs(10);
        while tags.len() + lost.len() < n {
            assert!(Instant::now() < deadline, "got {tags:?} {lost:?}");
            reader.poll(1000, |ev| match ev {
                Event::Record { record, .. } => tags.push(record.header.tid),
                Event::Lost(l) => lost.push(l),
            });
        }
        (tags, lost)
    }

    #[test]
    fn release_to_frees_what_was_handed_out_below_the_mark_and_keeps_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let seg = lanes(&dir, 2);
        let base = crate::clock::now_raw(seg.clock_kind()) - 1000;
        for (lane, ts) in [(0, 1), (1, 2), (0, 3), (1, 4)] {
            push(&seg, lane, base + ts, ts as u32);
        }
        let mut reader = seg.acquire_drain().unwrap().reader();
        assert_eq!(tags(&mut reader), [1, 2, 3, 4]);
        let mark = reader.positions();
        assert_eq!(mark.0, [2, 2]);
        push(&seg, 0, base + 5, 5);
        push(&seg, 1, base + 6, 6);
        assert_eq!(tags(&mut reader), [5, 6], "read on past the mark");
        reader.release_to(&mark);
        assert_eq!(reader.released().0, [2, 2]);
        assert_eq!(reader.unreleased(), 2, "what came after the mark is held");
        // SYNC: Relaxed; the test's look at the published cursors (single-threaded here).
        let published = |lane: usize| seg.lane(lane).header().cursors.read.load(Ordering::Relaxed);
        assert_eq!((published(0), published(1)), (2, 2));
        // A drain that stopped here (the batch after the mark never written) reads it again.
        drop(reader);
        let mut reader = seg.acquire_drain().unwrap().reader();
        assert_eq!(tags(&mut reader), [5, 6]);
        // A mark past what was handed out frees only what was handed out.
        push(&seg, 0, base + 7, 7);
        reader.release_to(&Positions(vec![100, 100]));
        assert_eq!(reader.released().0, [3, 3]);
        assert_eq!(tags(&mut reader), [7]);
        reader.release();
        assert_eq!(reader.released().0, [4, 3]);
        assert_eq!(reader.unreleased(), 0);
    }

    /// One lane, and a policy that fences a living producer's record after 50 ms.
    fn fenced_lane(dir: &tempfile::TempDir) -> (Segment, StallPolicy) {
        let policy = StallPolicy {
            fence_after: Some(Duration::from_millis(50)),
            ..StallPolicy::default()
        };
        (lanes(dir, 1), policy)
    }

    #[test]
    fn release_to_a_mark_before_a_fence_keeps_the_fence_and_what_it_has_written() {
        let dir = tempfile::tempdir().unwrap();
        let (seg, policy) = fenced_lane(&dir);
        let me = std::process::id();
        let cache = AtomicU64::new(0);
        let ring = seg.lane(0).ring();
        let line = &seg.lane(0).header().pending_end;
        // SYNC: Relaxed; the test's look at the drain's words (single-threaded here).
        let words = || {
            (
                line.fence.load(Ordering::Relaxed),
                line.fence_done.load(Ordering::Relaxed),
            )
        };
        let ts = crate::clock::now_raw(seg.clock_kind()) - 1000;
        push(&seg, 0, ts, 1);
        let mut reader = seg.acquire_drain().unwrap().reader().with_policy(policy);
        assert_eq!(tags(&mut reader), [1]);
        // The mark of a batch written behind, taken before the fence goes up at position 1
        // (a fence goes up only once everything before the record is released).
        let mark = reader.positions();
        let mut frozen = ring.claim(1, &cache).unwrap().own(me).unwrap();
        frozen.write(0, &record(ts + 1, 99)[..16]);
        push(&seg, 0, ts + 2, 2);
        push(&seg, 0, ts + 3, 3);
        reader.release_to(&mark);
        let (got, lost) = events(&mut reader, 3);
        assert_eq!(got, [2, 3]);
        assert_eq!(lost, [Lost::Fenced { slots: 1, pid: me }]);
        assert_eq!(
            words(),
            (2, 2),
            "fenced at 1, written (for a restart) up to 2"
        );
        reader.release_to(&mark);
        assert_eq!(reader.released().0, [1]);
        assert_eq!(words(), (2, 2), "a mark below the fence lowers nothing");
        assert_eq!(
            reader.unreleased(),
            2,
            "the two records behind the fence are held"
        );
        // Thawed before the batch behind the fence is written: the fence is lifted, but a
        // release that stops short of the record leaves its word (a restart still needs it).
        frozen.write(0, &record(ts + 1, 99));
        frozen.commit();
        assert!(tags(&mut reader).is_empty(), "a fenced record was read");
        reader.release_to(&mark);
        assert_eq!(reader.released().0, [1]);
        assert_eq!(
            words().0,
            2,
            "the word outlived the read cursor's stay before it"
        );
        reader.release();
        assert_eq!(reader.released().0, [4]);
        assert_eq!(
            words().0,
            0,
            "the word goes once the cursor is past the record"
        );
        assert_eq!(reader.unreleased(), 0);
    }

    #[test]
    fn a_fence_steps_over_a_living_producers_unfinished_record_and_frees_nothing_it_may_write() {
        let dir = tempfile::tempdir().unwrap();
        let (seg, policy) = fenced_lane(&dir);
        let me = std::process::id();
        let cache = AtomicU64::new(0);
        let ring = seg.lane(0).ring();
        let capacity = ring.capacity();
        // SYNC: Relaxed; the test's look at the drain's word (single-threaded here).
        let fence_word = || {
            seg.lane(0)
                .header()
                .pending_end
                .fence
                .load(Ordering::Relaxed)
        };
        let ts = crate::clock::now_raw(seg.clock_kind()) - 1000;
        // A producer mid-record (this process: alive), and three records behind it.
        let mut frozen = ring.claim(1, &cache).unwrap().own(me).unwrap();
        frozen.write(0, &record(ts, 99)[..16]);
        for tag in 1..=3 {
            push(&seg, 0, ts + tag as u64, tag);
        }
        let mut reader = seg.acquire_drain().unwrap().reader().with_policy(policy);
        let (got, lost) = events(&mut reader, 4);
        assert_eq!(got, [1, 2, 3], "the records behind it are read");
        assert_eq!(lost, [Lost::Fenced { slots: 1, pid: me }]);
        reader.release();
        assert_eq!(reader.unreleased(), 0, "written, as far as the drain goes");
        assert_eq!(
            reader.released().0,
            [0],
            "the read cursor waits at the record"
        );
        assert_eq!(fence_word(), 1, "the word names the fenced position + 1");
        // Producers are handed no position whose slot the owner may still write: the lane
        // takes exactly what is left of one lap past the fenced record.
        let mut pushed = 4;
        while ring
            .push(&record(ts + pushed, pushed as u32), me, &cache)
            .is_ok()
        {
            pushed += 1;
        }
        assert_eq!(
            pushed, capacity,
            "positions 0..capacity, the fenced one included"
        );
        let (got, lost) = events(&mut reader, (capacity - 4) as usize);
        assert!(lost.is_empty(), "{lost:?}");
        assert_eq!(got, (4..capacity as u32).collect::<Vec<_>>());
        reader.release();
        assert_eq!(reader.released().0, [0]);

        // A drain restarted meanwhile takes the fence up: nothing is read twice.
        drop(reader);
        let mut reader = seg.acquire_drain().unwrap().reader().with_policy(policy);
        assert!(tags(&mut reader).is_empty(), "read twice after a restart");
        assert_eq!(reader.positions().0, [capacity]);

        // Thawed: the owner finishes its record; the fence is lifted, the lane freed, and the
        // record is never read (it was reported lost).
        frozen.write(0, &record(ts, 99));
        frozen.commit();
        assert!(tags(&mut reader).is_empty(), "a fenced record was read");
        reader.release();
        assert_eq!(reader.released().0, [capacity]);
        assert_eq!(fence_word(), 0, "the word goes with the fence");
        assert!(!seg.lane(0).stalled(), "the flag goes with the fence");
        push(&seg, 0, ts + 1000, 1000);
        assert_eq!(tags(&mut reader), [1000]);
    }

    #[test]
    fn a_record_alone_in_its_lane_is_never_fenced_and_arrives_when_finished() {
        let dir = tempfile::tempdir().unwrap();
        let seg = lanes(&dir, 1);
        let me = std::process::id();
        let cache = AtomicU64::new(0);
        let ring = seg.lane(0).ring();
        let ts = crate::clock::now_raw(seg.clock_kind()) - 1000;
        let mut slow = ring.claim(1, &cache).unwrap().own(me).unwrap();
        let mut reader = seg
            .acquire_drain()
            .unwrap()
            .reader()
            .with_policy(StallPolicy {
                fence_after: Some(Duration::ZERO),
                ..StallPolicy::default()
            });
        for _ in 0..5 {
            assert!(tags(&mut reader).is_empty());
            std::thread::sleep(Duration::from_millis(2));
        }
        slow.write(0, &record(ts, 7));
        slow.commit();
        assert_eq!(
            tags(&mut reader),
            [7],
            "nothing waited behind it: it was kept"
        );
    }

    #[test]
    fn a_damaged_stamp_from_the_far_future_holds_nothing_back() {
        let dir = tempfile::tempdir().unwrap();
        let seg = lanes(&dir, 2);
        let now = crate::clock::now_raw(seg.clock_kind());
        push(&seg, 0, u64::MAX, 1);
        push(&seg, 0, now - 10, 2);
        push(&seg, 1, now - 5, 3);
        let mut reader = seg.acquire_drain().unwrap().reader();
        let mut got = tags(&mut reader);
        got.extend(tags(&mut reader));
        // Lane 0 stays in its own order (the bad stamp counts as "now"), lane 1 merges in.
        assert_eq!(got.len(), 3);
        let p1 = got.iter().position(|&t| t == 1).unwrap();
        let p2 = got.iter().position(|&t| t == 2).unwrap();
        assert!(p1 < p2, "{got:?}");
    }

    #[test]
    fn a_million_distinct_bad_callsite_ids_leave_the_cache_at_its_cap() {
        let dir = tempfile::tempdir().unwrap();
        let config = SegmentConfig {
            slot_count: 1024,
            ..SegmentConfig::default()
        };
        let (seg, _) = Segment::create_or_open(&dir.path().join("r"), &config).unwrap();
        let mut cache = CallsiteCache::default();
        for k in 0..1_000_000u32 {
            // Far past the table's end: none of them resolves.
            let id = u32::MAX - 8 * k;
            assert!(cache.resolve(&seg, id).is_err());
        }
        assert_eq!(cache.bad_len(), CallsiteCache::BAD_CAP);
        assert_eq!(
            cache.bad_evicted(),
            1_000_000 - CallsiteCache::BAD_CAP as u64
        );
        // A remembered id still resolves to its reason.
        let last = u32::MAX - 8 * 999_999;
        assert!(cache.resolve(&seg, last).unwrap_err().contains("callsite"));
    }

    /// A lane held under a living pid whose start time is not the recorded one (the pid was
    /// reused, or the owner word forged) is given back by the drain; a holder with its real
    /// stamp, or none recorded (an older build), is left alone (issue 14).
    #[test]
    fn a_lane_held_under_a_live_pid_with_a_wrong_start_time_is_reclaimed() {
        use ringlog_wire::layout::{lane_owner, process_stamp};
        let dir = tempfile::tempdir().unwrap();
        let seg = lanes(&dir, 5);
        let parent = rustix::process::getppid().map_or(1, |p| p.as_raw_nonzero().get() as u32);
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let wrong = |pid: u32| {
            let real = crate::process_start_ticks(pid).expect("/proc/PID/stat is readable");
            process_stamp(pid, real + 7)
        };
        let hold = |lane: usize, pid: u32, stamp: u64| {
            let o = seg.lane(lane).header();
            // SYNC: Relaxed; single-threaded setup (another process's words, as it left them).
            o.owner.stamp.store(stamp, Ordering::Relaxed);
            o.owner.word.store(lane_owner(pid, 9), Ordering::Relaxed);
        };
        hold(0, 1, wrong(1));
        hold(1, parent, wrong(parent));
        assert!(seg.lane(2).try_take(std::process::id(), 3));
        hold(3, child.id(), crate::process_stamp(child.id()));
        hold(4, child.id(), 0);
        let mut reader = seg
            .acquire_drain()
            .unwrap()
            .reader()
            .with_policy(StallPolicy {
                liveness_interval: Duration::from_millis(1),
                ..StallPolicy::default()
            });
        let held = |i: usize| seg.lane(i).owner().load(Ordering::Relaxed) != 0;
        let watchdog = Instant::now() + Duration::from_secs(10);
        while held(0) || held(1) {
            assert!(
                Instant::now() < watchdog,
                "lanes 0 and 1 were never reclaimed"
            );
            assert!(tags(&mut reader).is_empty());
            std::thread::sleep(Duration::from_millis(2));
        }
        // A few more rounds: the living holders keep their lanes.
        for _ in 0..20 {
            assert!(tags(&mut reader).is_empty());
            std::thread::sleep(Duration::from_millis(2));
        }
        assert!(held(2), "our own lane, with our own stamp");
        assert!(held(3), "a living holder with its real stamp");
        assert!(held(4), "a living holder with no stamp recorded");
        child.kill().unwrap();
        child.wait().unwrap();
        let watchdog = Instant::now() + Duration::from_secs(10);
        while held(3) || held(4) {
            assert!(
                Instant::now() < watchdog,
                "a dead holder's lanes were never reclaimed"
            );
            assert!(tags(&mut reader).is_empty());
            std::thread::sleep(Duration::from_millis(2));
        }
        assert!(held(2));
    }

    /// A lane whose queue never quite empties (here a record stamped in the future, so held
    /// back at every poll, with others around it) keeps the reader's buffer at the size of
    /// what is queued, not of everything it ever read (issue 14: bounded drain memory).
    #[test]
    fn a_lane_that_always_holds_a_record_back_does_not_grow_the_buffer() {
        let dir = tempfile::tempdir().unwrap();
        let seg = lanes(&dir, 1);
        let mut reader = seg.acquire_drain().unwrap().reader();
        let mut seen = 0;
        for round in 0..5000u32 {
            let now = crate::clock::now_raw(seg.clock_kind());
            for i in 0..8 {
                push(&seg, 0, now - 1000, round * 9 + i);
            }
            // Taken as "now" when read: after this poll's horizon.
            push(&seg, 0, u64::MAX, round * 9 + 8);
            seen += tags(&mut reader).len();
            reader.release();
            let (items, bytes) = reader.held();
            assert!(items <= 9, "round {round}: {items} items queued");
            assert!(bytes <= 64 * 1024, "round {round}: {bytes} bytes of buffer");
        }
        assert!(seen >= 5000 * 9 - 1, "{seen}");
    }
}
