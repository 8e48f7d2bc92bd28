//! The consuming reader both `ringdrain` and tests build on: walks committed records in order,
//! resolves their callsites (cached, validated), and deals with stalls the way the crash rules
//! say: a claim nobody owns is revoked after a grace period, a record whose owner died is
//! abandoned, damaged slots are skipped after a grace period; every loss is reported as an
//! [`Event::Lost`] and counted in the segment. A living producer is never abandoned.
//!
//! A reader is built from the segment's [`DrainLease`] and owns it, so there is never more than
//! one per ring (see [`crate::lease`]).
//!
//! Records are handed out borrowed ([`Event::Record`]) for the drain's zero-allocation path, or
//! owned ([`Reader::read_owned`]) for tests and tools. Nothing is freed in the ring until
//! [`Reader::release`]: call it once what was read is safely written.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringlog_wire::callsite::decode_callsite;
use ringlog_wire::clock::Calibration;
use ringlog_wire::decode::{decode_record, RecordRef};
use ringlog_wire::ring::{Consumer, Next, RawSlots, Seq, Stall};
use ringlog_wire::view::OwnedRecord;

use crate::{pid_alive, DrainLease, Segment};

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

/// How a poll ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PollResult {
    /// Events delivered.
    pub events: usize,
    /// The ring is empty up to the claim cursor.
    pub idle: bool,
    /// Waiting on a stalled slot (a slow or dead producer).
    pub stalled: bool,
}

/// Timing of stall handling.
#[derive(Debug, Clone, Copy)]
pub struct StallPolicy {
    /// How long a claim may stay unowned before it is revoked, and a damaged slot before it is
    /// skipped. Default 100 ms.
    pub grace: Duration,
    /// How often the owner of a stalled record is checked for life. Default 10 ms.
    pub liveness_interval: Duration,
}

impl Default for StallPolicy {
    fn default() -> Self {
        StallPolicy {
            grace: Duration::from_millis(100),
            liveness_interval: Duration::from_millis(10),
        }
    }
}

#[derive(Debug)]
struct StallState {
    pos: u64,
    since: Instant,
    last_check: Instant,
}

/// The consuming reader: the one consumer of a ring, built from (and owning) its
/// [`DrainLease`].
#[derive(Debug)]
pub struct Reader<'s> {
    segment: &'s Segment,
    consumer: Consumer<'s, RawSlots<'s>>,
    /// The right to consume; released when the reader is dropped (after `consumer`).
    lease: DrainLease<'s>,
    calibration: Calibration,
    policy: StallPolicy,
    callsites: CallsiteCache,
    buf: Vec<u8>,
    stall: Option<StallState>,
    /// The claim cursor when an unowned claim last timed out: unowned claims below it are
    /// revoked without another grace period.
    episode_end: u64,
}

impl<'s> Reader<'s> {
    /// The leased segment's reader, starting at its read cursor.
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
        // SAFETY: `lease` is the segment's only drain lease (a CAS on `drain.pid` that refuses
        // while a living process holds it), and this reader owns it for as long as the
        // consumer exists; this crate builds a `Consumer` nowhere else.
        let consumer = unsafe { Consumer::new(segment.ring()) };
        Reader {
            segment,
            consumer,
            lease,
            calibration: segment.calibration(),
            policy: StallPolicy::default(),
            callsites: CallsiteCache::default(),
            buf: Vec::with_capacity(4096),
            stall: None,
            episode_end: 0,
        }
    }

    /// Sets the stall timing.
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

    /// Next ring position to read.
    pub fn position(&self) -> u64 {
        self.consumer.position()
    }

    /// Positions read but not yet released.
    pub fn unreleased(&self) -> u64 {
        self.consumer.unreleased()
    }

    /// Frees everything read so far and publishes the read cursor.
    pub fn release(&mut self) {
        let n = self.consumer.unreleased();
        self.consumer.release();
        // SYNC: Relaxed; a statistic for `stats`.
        self.segment
            .shared()
            .drain
            .consumed
            .fetch_add(n, Ordering::Relaxed);
    }

    /// Reads up to `max` events, calling `f` for each. Does not release.
    pub fn poll(&mut self, max: usize, mut f: impl FnMut(Event<'_>)) -> PollResult {
        let mut r = PollResult::default();
        while r.events < max {
            self.buf.clear();
            match self.consumer.next(&mut self.buf) {
                Next::Record { .. } => {
                    self.stall = None;
                    r.events += 1;
                    match decode_record(&self.buf) {
                        Ok(record) => {
                            let id = record.header.callsite;
                            let callsite = self.callsites.resolve(self.segment, id);
                            f(Event::Record { record, callsite });
                        }
                        Err(e) => {
                            self.count_corrupt();
                            f(Event::Lost(Lost::Corrupt {
                                reason: e.to_string(),
                            }));
                        }
                    }
                }
                Next::Skipped => self.stall = None,
                Next::Empty => {
                    self.stall = None;
                    r.idle = true;
                    return r;
                }
                Next::Stalled(stall) => match self.handle_stall(stall) {
                    Some(lost) => {
                        r.events += 1;
                        f(Event::Lost(lost));
                    }
                    None => {
                        r.stalled = true;
                        return r;
                    }
                },
            }
        }
        r
    }

    /// Decides what to do about a stall: `Some` if the reader moved past it.
    fn handle_stall(&mut self, stall: Stall) -> Option<Lost> {
        let now = Instant::now();
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
        let counters = &self.segment.shared().counters;
        match stall {
            Stall::Unowned { pos } => {
                if let Some(lost) = self.check_claim() {
                    return Some(lost);
                }
                // Revoking an unowned claim is always safe (a living producer simply claims
                // again). Wait out the grace period, except within an episode: once a claim
                // timed out, the other claims made before that moment that are still unowned
                // when we reach them belong to the same dead producer (or to ones descheduled
                // for as long), so they go at once.
                if pos >= self.episode_end {
                    if waited < self.policy.grace {
                        return None;
                    }
                    // SYNC: Relaxed; only bounds the episode (see above).
                    self.episode_end = self.segment.shared().cursors.claim.load(Ordering::Relaxed);
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
                if now.duration_since(st.last_check) < self.policy.liveness_interval
                    && waited < self.policy.liveness_interval
                {
                    return None;
                }
                st.last_check = now;
                if !self.segment.may_be_producer(pid) {
                    // An owner no producer can be (pid 0 or 1, or absent from a producer table
                    // with room): the word is damage, whatever process that pid names now.
                    // Skipped as one damaged slot after the grace period, never with its span:
                    // the span is as untrusted as the pid, and freeing the slots after it could
                    // free records other producers are writing.
                    if waited < self.policy.grace {
                        return None;
                    }
                    self.stall = None;
                    let seq = Seq::writing(self.consumer.ring().lap(pos), span, pid);
                    // SAFETY: no producer owns this slot: every producer attaches to the table
                    // before it writes, pid 1 is init and pid 0 no process, so the word was
                    // written by damage (RELIABILITY.md, "Trust model"); it stayed unchanged
                    // for the grace period. The CAS in `abandon` changes nothing if it moved.
                    if !unsafe { self.consumer.abandon(Stall::Corrupt { pos, seq }) } {
                        return None;
                    }
                    self.count_corrupt();
                    return Some(Lost::Corrupt {
                        reason: format!("slot owned by a pid no producer has ({seq:?})"),
                    });
                }
                if pid_alive(pid) {
                    return None; // slow but alive: never torn, never overwritten
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
                    if waited < self.policy.grace {
                        return None;
                    }
                    // SYNC: Relaxed; only bounds the episode.
                    self.episode_end = self.segment.shared().cursors.claim.load(Ordering::Relaxed);
                }
                self.stall = None;
                // SAFETY: the word is damage, not a producer's: no valid state looks like it,
                // and it has stayed so for the grace period (or an earlier damaged slot of
                // this episode already did), so we accept skipping it.
                if !unsafe { self.consumer.abandon(stall) } {
                    return None;
                }
                self.count_corrupt();
                Some(Lost::Corrupt {
                    reason: format!("damaged slot sequence word {seq:?}"),
                })
            }
        }
    }

    /// The claim cursor, bounded by the geometry: at most `read + slots`, which every producer
    /// keeps to. Where the drain must stop when asked to finish (shutdown, `--once`): it never
    /// chases a damaged cursor.
    pub fn claim_bound(&self) -> u64 {
        // SYNC: Relaxed; a bound only, records are read through their sequence words.
        let claim = self.segment.shared().cursors.claim.load(Ordering::Relaxed);
        claim.min(
            self.read_cursor()
                .saturating_add(self.consumer.ring().capacity()),
        )
    }

    /// Our read cursor: every position below it is released.
    fn read_cursor(&self) -> u64 {
        self.consumer.position() - self.consumer.unreleased()
    }

    /// Checks the claim cursor against the read cursor and the geometry (`claim <= read +
    /// slots`). A claim past that is damage: no producer can claim there, and every position
    /// up to it would look like an unowned claim to revoke, while producers see a full ring
    /// forever. It is reset to `read + slots` (the unclaimed positions below are then revoked
    /// as unowned claims, which is always safe: at most one ring's worth), counted, and
    /// reported once per damage.
    ///
    /// Called only at an unowned claim, never on the fast path: a bogus claim cursor always
    /// shows there first, since the drain reads the claim cursor nowhere else.
    fn check_claim(&mut self) -> Option<Lost> {
        let bound = self
            .read_cursor()
            .saturating_add(self.consumer.ring().capacity());
        let claim = &self.segment.shared().cursors.claim;
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
        self.count_corrupt();
        Some(Lost::Corrupt {
            reason: format!(
                "claim cursor {seen} beyond read cursor {} + {} slots; reset to {bound}",
                self.read_cursor(),
                self.consumer.ring().capacity()
            ),
        })
    }

    fn count_corrupt(&self) {
        // SYNC: Relaxed; a statistic.
        self.segment
            .shared()
            .counters
            .corrupt
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Reads everything committed until the ring is idle (or `timeout` passes while stalled),
    /// decodes it into owned records, and releases. Losses are returned beside the records.
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
            if r.stalled {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
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
    pub fn resolve(&mut self, segment: &Segment, id: u32) -> Result<Option<&CallsiteInfo>, &str> {
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
}
