//! The lock-free many-producer, one-consumer ring.
//!
//! # Algorithm
//!
//! A bounded queue of fixed-size slots with a sequence word per slot, after Dmitry Vyukov's
//! bounded MPMC queue: producers claim positions with a CAS on the shared claim cursor, and each
//! slot's sequence word says, for the lap of the ring it belongs to, whether the slot is free,
//! being written, or committed. The drain reads committed slots in position order and never
//! touches the claim cursor while records are flowing.
//!
//! Two extensions, both needed because producers are processes that can die at any instant:
//!
//! * **Ownership in the sequence word.** After claiming, a producer takes the slot with a CAS
//!   `FREE(lap) -> WRITING(lap, span, pid)`. Its pid is therefore known atomically with its
//!   ownership, so the drain can tell a dead owner (abandon the record) from a slow one (wait; a
//!   living producer is never torn or overwritten). This follows the spirit of Agrona's
//!   many-to-one ring buffer, whose consumer "unblocks" a claim a producer never completed.
//! * **Claims that are never owned can be revoked.** A producer killed between the claim CAS and
//!   the ownership CAS leaves a slot that is claimed but still `FREE`. The drain revokes it with a
//!   CAS `FREE(lap) -> FREE(lap + 1)`. A producer that was merely slow then fails its ownership
//!   CAS, has written nothing, and simply claims again: revoking an unowned claim is always safe.
//!
//! A record of `span` slots owns only its first slot; the producer marks the others
//! `CONT(lap)` before it commits the first, and the drain checks those marks.
//!
//! # Slot state machine (per slot, for one lap `L` of the ring)
//!
//! ```text
//!             producer: own CAS                 producer: commit (Release)
//!   FREE(L) ───────────────────────> WRITING(L) ─────────────────────────> COMMITTED(L)
//!    │  ▲                               │  (drain: owner pid dead)              │
//!    │  │ drain: release (Release)      ▼                                       │
//!    │  └──────────────────────── FREE(L+1) <───────────────────────────────────┘
//!    │                                  ▲          drain: consume, then release
//!    └──────────────────────────────────┘
//!       drain: revoke a claim nobody owns (CAS)
//! ```
//!
//! `SKIP(L)` is a committed slot with nothing to read (a writer dropped before it committed, in a
//! living process); the drain consumes it silently.
//!
//! # Cursors
//!
//! * `claim`: the next position producers will claim. Only producers write it.
//! * `read`: every position below it has been consumed and freed for its next lap. Only the drain
//!   writes it, after the records it covers are safely in the output (the drain's checkpoint).
//!
//! Positions are `u64` and never wrap in practice (2^64 slots at a billion records a second is
//! 584 years). The slot of position `p` is `p & (slots - 1)` and its lap is `p >> log2(slots)`.

use crossbeam_utils::CachePadded;

use crate::sync::{AtomicU64, BodyCell, Ordering};

/// The largest number of slots one record may span (the span field of a sequence word is 4 bits;
/// zero marks a continuation slot).
pub const MAX_SPAN: u32 = 15;

/// The largest pid a sequence word can carry (26 bits; Linux's `pid_max` is at most 2^22).
pub const MAX_PID: u32 = (1 << 26) - 1;

const STATE_SHIFT: u32 = 30;
const SPAN_SHIFT: u32 = 26;
const STATE_FREE: u64 = 0;
const STATE_WRITING: u64 = 1;
const STATE_COMMITTED: u64 = 2;
const STATE_SKIP: u64 = 3;

/// A slot's sequence word.
///
/// Encoding (`u64`): bits 63..32 the lap (`position >> log2(slots)`, wrapping `u32`); bits 31..30
/// the state (0 free, 1 writing, 2 committed, 3 skip); bits 29..26 the span of the record in slots
/// (1..=15; 0 marks a continuation slot of a longer record); bits 25..0 the owner's pid. A free
/// slot has span and pid zero, so zeroed memory is "every slot free for lap 0".
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Seq(pub u64);

/// What a sequence word says about its slot.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SlotState {
    /// Free for its lap: nobody owns it.
    Free,
    /// Owned by a producer that has not committed yet.
    Writing,
    /// Holds a committed record (span >= 1) or continues one (span == 0).
    Committed,
    /// Committed with nothing to read.
    Skip,
}

impl Seq {
    /// `FREE(lap)`.
    #[inline(always)]
    pub const fn free(lap: u32) -> Seq {
        Seq((lap as u64) << 32)
    }

    #[inline(always)]
    fn with(lap: u32, state: u64, span: u32, pid: u32) -> Seq {
        debug_assert!(span <= MAX_SPAN && pid <= MAX_PID);
        Seq((lap as u64) << 32
            | state << STATE_SHIFT
            | ((span as u64) & 0xF) << SPAN_SHIFT
            | (pid & MAX_PID) as u64)
    }

    /// `WRITING(lap, span, pid)`.
    #[inline(always)]
    pub fn writing(lap: u32, span: u32, pid: u32) -> Seq {
        Seq::with(lap, STATE_WRITING, span, pid)
    }

    /// `COMMITTED(lap, span, pid)`; span 0 marks a continuation slot.
    #[inline(always)]
    pub fn committed(lap: u32, span: u32, pid: u32) -> Seq {
        Seq::with(lap, STATE_COMMITTED, span, pid)
    }

    /// `SKIP(lap, span)`.
    #[inline(always)]
    pub fn skip(lap: u32, span: u32, pid: u32) -> Seq {
        Seq::with(lap, STATE_SKIP, span, pid)
    }

    /// The same word (lap, span, pid) in another state: `WRITING(lap, span, pid)` becomes
    /// `COMMITTED(lap, span, pid)` or `SKIP(lap, span, pid)`.
    #[inline(always)]
    const fn to(self, state: u64) -> Seq {
        Seq(self.0 & !(3 << STATE_SHIFT) | state << STATE_SHIFT)
    }

    /// The lap this word belongs to.
    pub fn lap(self) -> u32 {
        (self.0 >> 32) as u32
    }

    /// The slot state.
    pub fn state(self) -> SlotState {
        match (self.0 >> STATE_SHIFT) & 3 {
            STATE_FREE => SlotState::Free,
            STATE_WRITING => SlotState::Writing,
            STATE_COMMITTED => SlotState::Committed,
            _ => SlotState::Skip,
        }
    }

    /// The record's span in slots (0 for a continuation slot).
    pub fn span(self) -> u32 {
        ((self.0 >> SPAN_SHIFT) & 0xF) as u32
    }

    /// The owner's pid (0 when free).
    pub fn pid(self) -> u32 {
        (self.0 & MAX_PID as u64) as u32
    }
}

impl core::fmt::Debug for Seq {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "Seq({:?} lap={} span={} pid={})",
            self.state(),
            self.lap(),
            self.span(),
            self.pid()
        )
    }
}

/// The ring's two cursors, each on its own cache line so producers claiming and the drain
/// releasing never false-share.
#[repr(C)]
#[derive(Debug, Default)]
pub struct RingCursors {
    /// Next position to claim: positions below it have been claimed. Producers advance it with a
    /// CAS; it only grows. The drain reads it only when the slot at its read position is free
    /// (to tell an empty ring from an unowned claim), never on its fast path.
    pub claim: CachePadded<AtomicU64>,
    /// Every position below it is consumed and its slot freed for the next lap. Only the drain
    /// stores it (Release, after freeing the slots and writing the output); producers load it
    /// (Acquire) only when their cached copy says the ring is full.
    pub read: CachePadded<AtomicU64>,
}

impl RingCursors {
    /// Cursors for an empty ring (loom tests build them on the heap).
    pub fn new() -> Self {
        Self::default()
    }
}

/// Storage for the slots of a ring: a mapped segment ([`RawSlots`]) or the heap ([`HeapSlots`]).
///
/// # Safety
///
/// Implementors guarantee that for every `index < count()`, `seq(index)` is a distinct atomic
/// that lives as long as `self`, that the body of each slot is `body_len()` bytes that overlap no
/// other slot's body or sequence word, and that `count()` is a power of two.
pub unsafe trait Slots {
    /// Number of slots (a power of two).
    fn count(&self) -> u64;
    /// Bytes of record data each slot carries (slot size minus the 8-byte sequence word).
    fn body_len(&self) -> usize;
    /// The sequence word of slot `index`.
    fn seq(&self, index: usize) -> &AtomicU64;
    /// Copies `src` into the body of slot `index` starting at `offset`.
    ///
    /// # Safety
    ///
    /// The caller owns slot `index` for writing (it holds it `WRITING`, or claimed it as a
    /// continuation of a record it owns), and `offset + src.len() <= body_len()`.
    unsafe fn write(&self, index: usize, offset: usize, src: &[u8]);
    /// Runs `f` with the whole body of slot `index` as a writable buffer (a record written in
    /// place, without a copy: [`OwnedSlot::fill`]). The bytes may hold an older lap's record.
    ///
    /// # Safety
    ///
    /// The caller owns slot `index` for writing (it holds it `WRITING`), so nothing else reads
    /// or writes the body while `f` runs.
    unsafe fn write_with<R>(&self, index: usize, f: impl FnOnce(&mut [u8]) -> R) -> R;
    /// Copies the body of slot `index` from `offset` into `dst`.
    ///
    /// # Safety
    ///
    /// `offset + dst.len() <= body_len()`. The bytes are copied as plain bytes; if a producer may
    /// be writing the slot concurrently (a non-consuming reader), the caller must validate the
    /// copy against the sequence word afterwards and discard it if the word changed.
    unsafe fn read(&self, index: usize, offset: usize, dst: &mut [u8]);
    /// Appends the whole body of slot `index` to `out` (the consumer's copy of a committed
    /// record). The default zeroes the room and calls [`Slots::read`]; [`RawSlots`] copies
    /// straight into `out`'s spare capacity (one `memcpy`, no `memset`).
    ///
    /// # Safety
    ///
    /// As for [`Slots::read`] of the whole body.
    unsafe fn append(&self, index: usize, out: &mut Vec<u8>) {
        let start = out.len();
        out.resize(start + self.body_len(), 0);
        // SAFETY: `out[start..]` is exactly one body; the caller's contract is `read`'s.
        unsafe { self.read(index, 0, &mut out[start..]) }
    }
    /// Appends `len` bytes of the body of slot `index` from `offset` to `out` (a record's
    /// payload copied straight from its slot: [`Consumer::append_body`]). The default zeroes
    /// the room and calls [`Slots::read`]; [`RawSlots`] copies into spare capacity.
    ///
    /// # Safety
    ///
    /// As for [`Slots::read`] of `len` bytes from `offset` (`offset + len <= body_len()`).
    unsafe fn append_part(&self, index: usize, offset: usize, len: usize, out: &mut Vec<u8>) {
        let start = out.len();
        out.resize(start + len, 0);
        // SAFETY: `out[start..]` is `len` bytes; the caller's contract is `read`'s.
        unsafe { self.read(index, offset, &mut out[start..]) }
    }
}

/// Slots on the heap, for unit tests and loom models of the protocol.
#[derive(Debug)]
pub struct HeapSlots {
    slots: Box<[HeapSlot]>,
    body_len: usize,
}

#[derive(Debug)]
struct HeapSlot {
    seq: AtomicU64,
    body: BodyCell<Box<[u8]>>,
}

impl HeapSlots {
    /// `count` slots (a power of two) of `body_len` bytes each.
    pub fn new(count: usize, body_len: usize) -> Self {
        assert!(count.is_power_of_two(), "slot count must be a power of two");
        let slots = (0..count)
            .map(|_| HeapSlot {
                seq: AtomicU64::new(0),
                body: BodyCell::new(vec![0u8; body_len].into_boxed_slice()),
            })
            .collect();
        HeapSlots { slots, body_len }
    }
}

// SAFETY: every slot has its own atomic and its own boxed body; `new` asserts the power of two.
unsafe impl Slots for HeapSlots {
    fn count(&self) -> u64 {
        self.slots.len() as u64
    }

    fn body_len(&self) -> usize {
        self.body_len
    }

    fn seq(&self, index: usize) -> &AtomicU64 {
        &self.slots[index].seq
    }

    unsafe fn write(&self, index: usize, offset: usize, src: &[u8]) {
        self.slots[index].body.with_mut(|body| {
            // SAFETY: the caller owns the slot (no other access to this body until it commits),
            // and the range is within the body by the caller's contract.
            unsafe { (&mut *body)[offset..offset + src.len()].copy_from_slice(src) }
        })
    }

    unsafe fn write_with<R>(&self, index: usize, f: impl FnOnce(&mut [u8]) -> R) -> R {
        self.slots[index].body.with_mut(|body| {
            // SAFETY: the caller owns the slot, so this is the only access to the body until it
            // commits (loom checks that under `cfg(loom)`).
            f(unsafe { &mut *body })
        })
    }

    unsafe fn read(&self, index: usize, offset: usize, dst: &mut [u8]) {
        self.slots[index].body.with(|body| {
            // SAFETY: the slot is committed and not yet freed, so no producer writes it; the
            // range is within the body by the caller's contract.
            dst.copy_from_slice(unsafe { &(&*body)[offset..offset + dst.len()] })
        })
    }
}

// SAFETY: the bodies are only accessed under the ring protocol, which gives each body a single
// writer at a time and orders writer and reader through the sequence word (Release/Acquire).
unsafe impl Sync for HeapSlots {}

/// Slots in raw memory: a mapped segment's ring region, borrowed for `'a`.
///
/// Like [`CallsiteTable`](crate::callsite::CallsiteTable), it carries the lifetime of the memory
/// it views and is neither `Copy` nor `Clone`: the owner of the mapping (ringlog-segment's
/// `Segment`) hands out only borrows of it (through [`Ring`]), so no handle outlives the mapping.
#[cfg(not(loom))]
#[derive(Debug)]
pub struct RawSlots<'a> {
    base: core::ptr::NonNull<u8>,
    slot_size: usize,
    count: u64,
    _memory: core::marker::PhantomData<&'a [u8]>,
}

#[cfg(not(loom))]
impl<'a> RawSlots<'a> {
    /// Views `count * slot_size` bytes at `base` as slots.
    ///
    /// # Safety
    ///
    /// `base` is 8-byte aligned and valid for reads and writes of `count * slot_size` bytes for
    /// `'a` (and at least as long as the returned value and anything borrowed from it is used);
    /// `slot_size` is a multiple of 8 and at least 16; `count` is a power of two. The memory
    /// may be shared with other processes, which is why it is only ever accessed through
    /// atomics and raw copies.
    pub unsafe fn new(base: core::ptr::NonNull<u8>, slot_size: usize, count: u64) -> Self {
        debug_assert!(count.is_power_of_two() && slot_size % 8 == 0 && slot_size >= 16);
        debug_assert!((base.as_ptr() as usize) % 8 == 0);
        RawSlots {
            base,
            slot_size,
            count,
            _memory: core::marker::PhantomData,
        }
    }

    #[inline(always)]
    fn slot_ptr(&self, index: usize) -> *mut u8 {
        // Masking (count is a power of two) keeps any index inside the region: one AND instead
        // of a compare and branch on the hot path. In-crate callers always pass masked indices.
        let index = index & (self.count as usize - 1);
        // SAFETY: index < count after the mask, so the offset stays inside the region `new`
        // was given.
        unsafe { self.base.as_ptr().add(index * self.slot_size) }
    }
}

// SAFETY: `new`'s contract gives a valid region of `count` slots of `slot_size` bytes; the
// sequence word is the first 8 bytes of each slot and the body the rest, so nothing overlaps.
#[cfg(not(loom))]
unsafe impl Slots for RawSlots<'_> {
    fn count(&self) -> u64 {
        self.count
    }

    fn body_len(&self) -> usize {
        self.slot_size - 8
    }

    #[inline(always)]
    fn seq(&self, index: usize) -> &AtomicU64 {
        // SAFETY: the slot starts 8-byte aligned (aligned base, slot size a multiple of 8) and
        // lives as long as `self` by `new`'s contract; AtomicU64 has the size and alignment of
        // u64 and every bit pattern is a valid value, whatever another process wrote there.
        unsafe { &*(self.slot_ptr(index) as *const AtomicU64) }
    }

    #[inline(always)]
    unsafe fn write(&self, index: usize, offset: usize, src: &[u8]) {
        debug_assert!(offset + src.len() <= self.body_len());
        // SAFETY: the range is inside this slot's body (the caller's contract, checked in debug
        // builds); the caller owns the slot, so no one else writes it, and the drain reads it
        // only after the Release commit. A one-slot record is copied inline (`copy_record`).
        unsafe { crate::args::copy_record(src, self.slot_ptr(index).add(8 + offset)) }
    }

    #[inline(always)]
    unsafe fn write_with<R>(&self, index: usize, f: impl FnOnce(&mut [u8]) -> R) -> R {
        // SAFETY: the body is the slot's bytes after its 8-byte sequence word, inside the
        // region `new` was given; the caller owns the slot, so neither another producer nor
        // the drain touches these bytes until the Release commit (the same argument as
        // `write`). The bytes are initialised (file-backed memory) and any pattern is a `u8`.
        let body = unsafe {
            core::slice::from_raw_parts_mut(self.slot_ptr(index).add(8), self.slot_size - 8)
        };
        f(body)
    }

    unsafe fn read(&self, index: usize, offset: usize, dst: &mut [u8]) {
        assert!(offset + dst.len() <= self.body_len());
        // SAFETY: the range is inside this slot's body (asserted). The bytes are copied as plain
        // bytes into our own buffer (no reference to shared memory is formed), and every bit
        // pattern is acceptable; the caller validates against the sequence word.
        unsafe {
            core::ptr::copy_nonoverlapping(
                self.slot_ptr(index).add(8 + offset),
                dst.as_mut_ptr(),
                dst.len(),
            )
        }
    }

    #[inline(always)]
    unsafe fn append(&self, index: usize, out: &mut Vec<u8>) {
        let body = self.slot_size - 8;
        out.reserve(body);
        let len = out.len();
        // SAFETY: the source is this slot's whole body (inside the region `new` was given);
        // the destination is `out`'s spare capacity, reserved just above, which the copy
        // initialises before `set_len` covers it. The bytes are copied as plain bytes (no
        // reference to shared memory is formed) and every bit pattern is acceptable; the
        // caller validates against the sequence word, as for `read`.
        unsafe {
            core::ptr::copy_nonoverlapping(
                self.slot_ptr(index).add(8),
                out.as_mut_ptr().add(len),
                body,
            );
            out.set_len(len + body);
        }
    }

    #[inline(always)]
    unsafe fn append_part(&self, index: usize, offset: usize, len: usize, out: &mut Vec<u8>) {
        assert!(offset + len <= self.body_len());
        if len <= SHORT_PART && offset + SHORT_PART <= self.body_len() {
            // A short payload (a one-slot record's, in a 64-byte slot): a fixed-size copy the
            // compiler inlines, of bytes that are all inside the body, into room reserved for
            // it; only `len` of them become part of `out`.
            out.reserve(SHORT_PART);
            let at = out.len();
            // SAFETY: the source's SHORT_PART bytes are inside this slot's body (checked just
            // above); the destination is `out`'s spare capacity, SHORT_PART bytes reserved
            // just above; `set_len` covers only the `len <= SHORT_PART` bytes copied from the
            // range asked for. Plain bytes, as for `append`.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    self.slot_ptr(index).add(8 + offset),
                    out.as_mut_ptr().add(at),
                    SHORT_PART,
                );
                out.set_len(at + len);
            }
            return;
        }
        out.reserve(len);
        let at = out.len();
        // SAFETY: the source range is inside this slot's body (asserted above; the slot is
        // inside the region `new` was given); the destination is `out`'s spare capacity,
        // reserved just above and initialised by the copy before `set_len` covers it. Plain
        // bytes, no reference to shared memory, any bit pattern acceptable (as for `append`).
        unsafe {
            core::ptr::copy_nonoverlapping(
                self.slot_ptr(index).add(8 + offset),
                out.as_mut_ptr().add(at),
                len,
            );
            out.set_len(at + len);
        }
    }
}

/// Bytes [`RawSlots::append_part`] copies with one fixed-size copy when the part is no longer.
#[cfg(not(loom))]
const SHORT_PART: usize = 32;

// SAFETY: RawSlots is a view of shared memory accessed only through atomics and raw copies under
// the ring protocol; moving or sharing the view between threads changes nothing about that.
#[cfg(not(loom))]
unsafe impl Send for RawSlots<'_> {}
// SAFETY: as for Send.
#[cfg(not(loom))]
unsafe impl Sync for RawSlots<'_> {}

/// Why a record could not be pushed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushError {
    /// The ring has no room for `span` slots right now.
    Full {
        /// Slots the record needs.
        span: u32,
    },
    /// The record needs more slots than a record may span.
    TooLarge {
        /// Slots the record would need.
        span: u32,
    },
}

impl core::fmt::Display for PushError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PushError::Full { span } => write!(f, "ring full (record needs {span} slots)"),
            PushError::TooLarge { span } => {
                write!(f, "record needs {span} slots, more than a record may span")
            }
        }
    }
}

impl std::error::Error for PushError {}

/// A view of a ring: its cursors and slots.
#[derive(Debug)]
pub struct Ring<'a, S: Slots> {
    cursors: &'a RingCursors,
    slots: &'a S,
    mask: u64,
    shift: u32,
    max_span: u32,
    /// `slots.body_len()`, kept here so the hot path needs no call and no division for
    /// one-slot records.
    body: usize,
    /// Where a producer counts the slots of its claims the drain revoked and it claimed
    /// again ([`Ring::counting_reclaims`]).
    reclaimed: Option<&'a AtomicU64>,
}

impl<S: Slots> Clone for Ring<'_, S> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<S: Slots> Copy for Ring<'_, S> {}

impl<'a, S: Slots> Ring<'a, S> {
    /// A ring over `slots` with `cursors`. Records may span at most `max_span` slots (clamped to
    /// [`MAX_SPAN`] and to half the ring).
    #[inline]
    pub fn new(cursors: &'a RingCursors, slots: &'a S, max_span: u32) -> Self {
        let count = slots.count();
        // `Slots` promises a power of two (it is an unsafe trait); checked in debug builds.
        debug_assert!(count.is_power_of_two() && count >= 2);
        let max_span = max_span.clamp(1, MAX_SPAN).min((count / 2).max(1) as u32);
        Ring {
            cursors,
            slots,
            mask: count - 1,
            shift: count.trailing_zeros(),
            max_span,
            body: slots.body_len(),
            reclaimed: None,
        }
    }

    /// This ring, counting into `counter` the slots of every claim of its producers that the
    /// drain revoked (the producer was descheduled between its claim and its ownership for
    /// longer than the drain's grace period) and that the producer then claimed again. The
    /// drain counts a revoked claim's slots abandoned when it revokes them, not knowing whether
    /// their producer died (the record is lost) or was only slow (the record follows): this
    /// count is what it takes back (the segment's `Counters::reclaimed`).
    #[inline]
    pub fn counting_reclaims(self, counter: &'a AtomicU64) -> Self {
        Ring {
            reclaimed: Some(counter),
            ..self
        }
    }

    /// An ownership CAS at `lap` failed with `actual` in the slot word: when that is the next
    /// lap's word (the drain's revoke stores `FREE(lap + 1)`, and a producer of the next lap may
    /// already own it), the drain revoked this claim of `span` slots and counted them
    /// abandoned; the caller claims again, so count them reclaimed. Any other word (damage) is
    /// not counted, so the drain's count stays an upper bound.
    #[cold]
    #[inline(never)]
    fn note_revoked(&self, lap: u32, span: u32, actual: u64) {
        if let Some(counter) = self.reclaimed {
            if Seq(actual).lap() == lap.wrapping_add(1) {
                // SYNC: Relaxed; a statistic, read by the drain's reports only.
                counter.fetch_add(u64::from(span), Ordering::Relaxed);
            }
        }
    }

    /// The cursors.
    pub fn cursors(&self) -> &'a RingCursors {
        self.cursors
    }

    /// The slot storage.
    pub fn slots(&self) -> &'a S {
        self.slots
    }

    /// Number of slots.
    pub fn capacity(&self) -> u64 {
        self.mask + 1
    }

    /// The most slots one record may span.
    pub fn max_span(&self) -> u32 {
        self.max_span
    }

    /// The most record bytes (header and payload) one record may hold.
    pub fn max_record_len(&self) -> usize {
        self.max_span as usize * self.slots.body_len()
    }

    /// Slots needed for a record of `len` bytes.
    #[inline]
    pub fn span_for(&self, len: usize) -> u32 {
        if len <= self.body {
            return 1; // the common case, without a division
        }
        len.div_ceil(self.body).min(u32::MAX as usize) as u32
    }

    #[inline(always)]
    fn index(&self, pos: u64) -> usize {
        (pos & self.mask) as usize
    }

    /// The lap of position `pos` (`pos >> log2(slots)`, wrapping `u32`): what a sequence word
    /// at `pos` must carry to belong to it.
    #[inline(always)]
    pub fn lap(&self, pos: u64) -> u32 {
        (pos >> self.shift) as u32
    }

    /// Claims `span` consecutive positions, if the ring has room.
    ///
    /// `read_cache` is the caller's cached copy of the drain's read cursor (one per process is
    /// enough); it is refreshed only when it says the ring is full.
    pub fn claim(&self, span: u32, read_cache: &AtomicU64) -> Result<Claim<'a, S>, PushError> {
        if span == 0 || span > self.max_span {
            return Err(PushError::TooLarge { span });
        }
        let pos = self.claim_positions(span, read_cache)?;
        Ok(Claim {
            ring: *self,
            pos,
            span,
        })
    }

    /// Whether `span` positions could not be claimed right now: a look that claims nothing
    /// (the answer can be stale by the time the caller acts on it: the drain may free room,
    /// another producer may claim). What a producer under a dropping policy asks before
    /// paying for a record its last full lane would drop anyway.
    pub fn is_full(&self, span: u32, read_cache: &AtomicU64) -> bool {
        // SYNC: Relaxed; a look: no slot is touched on the strength of it.
        let pos = self.cursors.claim.load(Ordering::Relaxed);
        // SYNC: Acquire, as in `claim_positions` (pairs with the cache's Release refresh).
        let read = read_cache.load(Ordering::Acquire);
        if pos + span as u64 <= read + self.capacity() {
            return false;
        }
        // The cache says full: as `claim_positions` does, ask the drain's cursor.
        match self.refresh_read(pos, span, read_cache) {
            Ok(()) => false,
            // Another producer claimed since: look again at the newer cursor, once.
            Err(Some(now)) => {
                // SYNC: Acquire, as above (refresh_read just refreshed the cache).
                now + span as u64 > read_cache.load(Ordering::Acquire) + self.capacity()
            }
            Err(None) => true,
        }
    }

    /// The claim CAS loop; returns the first claimed position.
    #[inline(always)]
    fn claim_positions(&self, span: u32, read_cache: &AtomicU64) -> Result<u64, PushError> {
        let capacity = self.capacity();
        // SYNC: Relaxed; the CAS below fails if it is stale, and the claimed slots are
        // synchronised with the drain by the Acquire on the read cursor (or the ownership CAS).
        let mut pos = self.cursors.claim.load(Ordering::Relaxed);
        loop {
            // SYNC: Acquire; pairs with the Release store of the cache just below (in whichever
            // thread refreshed it), which carries the drain's frees to this thread.
            let read = read_cache.load(Ordering::Acquire);
            if pos + span as u64 > read + capacity {
                match self.refresh_read(pos, span, read_cache) {
                    Ok(()) => {}
                    Err(Some(now)) => {
                        pos = now;
                        continue;
                    }
                    Err(None) => return Err(PushError::Full { span }),
                }
            }
            // SYNC: Relaxed on both paths: the claim cursor only hands out positions; the data
            // ordering is carried by the read cursor (above) and the slot's sequence word.
            match self.cursors.claim.compare_exchange_weak(
                pos,
                pos + span as u64,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(pos),
                Err(actual) => pos = actual,
            }
        }
    }

    /// The cached read cursor says "full": reload the real one. `Ok` if there is room at `pos`
    /// after all; `Err(Some(pos))` to retry at a newer claim position; `Err(None)` if full.
    #[cold]
    #[inline(never)]
    fn refresh_read(&self, pos: u64, span: u32, read_cache: &AtomicU64) -> Result<(), Option<u64>> {
        // SYNC: Acquire; pairs with the Release store in Consumer::release, so the drain's
        // reads of the previous lap happen before our writes to these slots.
        let read = self.cursors.read.load(Ordering::Acquire);
        // SYNC: Relaxed load: only decides whether to write. The store is a Release
        // fetch_max, pairing with the Acquire load of the cache in claim_positions; skipping it
        // when the cache is already current avoids a locked write on every full-ring attempt.
        if read_cache.load(Ordering::Relaxed) < read {
            read_cache.fetch_max(read, Ordering::Release);
        }
        if pos + span as u64 <= read + self.capacity() {
            return Ok(());
        }
        // SYNC: Relaxed; a fresher claim cursor only matters to the retry.
        let now = self.cursors.claim.load(Ordering::Relaxed);
        Err((now != pos).then_some(now))
    }

    /// Claims `span` positions and owns the first slot for `pid`: the claim CAS, then the
    /// ownership CAS `FREE(lap) -> WRITING(lap, span, pid)`; claims again if the drain revoked
    /// the claim before this producer could own it (it was descheduled for too long). Returns
    /// the first position and its slot's sequence word.
    #[inline(always)]
    fn claim_and_own(
        &self,
        span: u32,
        pid: u32,
        read_cache: &AtomicU64,
    ) -> Result<(u64, &'a AtomicU64, Seq), PushError> {
        loop {
            let pos = self.claim_positions(span, read_cache)?;
            let lap = self.lap(pos);
            let seq = self.slots.seq(self.index(pos));
            let writing = Seq::writing(lap, span, pid);
            // SYNC: Acquire on success; pairs with the drain's Release store that freed this
            // slot for `lap` (Consumer::release or a revoke). Relaxed on failure: we touch
            // nothing and claim again (the drain revoked a claim we held too long).
            match seq.compare_exchange(
                Seq::free(lap).0,
                writing.0,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok((pos, seq, writing)),
                Err(actual) => self.note_revoked(lap, span, actual),
            }
        }
    }

    /// Claims, owns, writes and commits one record of `record` bytes; retries the claim if the
    /// drain revoked it before this producer could own it (it was descheduled for too long).
    /// Returns the record's position.
    ///
    /// This is [`claim`](Ring::claim) + [`Claim::own`] + [`Owned::write`] +
    /// [`Owned::commit`] fused, without their drop guards: nothing between ownership and
    /// commit can panic (the copies are bounds-checked before ownership is taken).
    #[inline]
    pub fn push(&self, record: &[u8], pid: u32, read_cache: &AtomicU64) -> Result<u64, PushError> {
        let span = self.span_for(record.len());
        if span > self.max_span {
            return Err(PushError::TooLarge { span });
        }
        let (pos, seq, writing) = self.claim_and_own(span, pid, read_cache)?;
        let index = self.index(pos);
        if span == 1 {
            // SAFETY: slot `index` is ours by the ownership CAS in `claim_and_own`, and
            // record.len() <= body (span_for gave 1).
            unsafe { self.slots.write(index, 0, record) };
        } else {
            self.write_spanning(pos, span, record, pid);
        }
        // SYNC: Release; pairs with the drain's Acquire load in Consumer::next /
        // Peeker::next, so the record bytes written above are visible once COMMITTED is.
        seq.store(writing.to(STATE_COMMITTED).0, Ordering::Release);
        Ok(pos)
    }

    /// Bytes of record data one slot carries: the most a record written in place
    /// ([`own_one`](Ring::own_one)) can hold.
    #[inline(always)]
    pub fn body_len(&self) -> usize {
        self.body
    }

    /// Claims and owns one slot for a record the caller writes in place
    /// ([`OwnedSlot::fill`]) and then commits: [`push`](Ring::push) without the copy, for a
    /// record known to fit one slot ([`body_len`](Ring::body_len)) before it is encoded. The
    /// same protocol as `push` (claim CAS, ownership CAS with `pid`, Release commit); the
    /// returned guard publishes a `SKIP` if it is dropped uncommitted (a panic while filling).
    #[inline(always)]
    pub fn own_one(&self, pid: u32, read_cache: &AtomicU64) -> Result<OwnedSlot<'a, S>, PushError> {
        let (pos, seq, writing) = self.claim_and_own(1, pid, read_cache)?;
        Ok(OwnedSlot {
            ring: *self,
            seq,
            writing,
            pos,
        })
    }

    /// Writes a record over `span` owned slots and marks the continuation slots.
    #[cold]
    fn write_spanning(&self, pos: u64, span: u32, record: &[u8], pid: u32) {
        let body = self.body;
        for (k, chunk) in record.chunks(body).enumerate().take(span as usize) {
            let p = pos + k as u64;
            // SAFETY: slot k of this record is ours (the first by the ownership CAS, the others
            // by the claim: nobody else can claim them and the drain does not look at them
            // before the first slot is resolved); a chunk is at most one body long.
            unsafe { self.slots.write(self.index(p), 0, chunk) };
            if k > 0 {
                // SYNC: Relaxed; ordered before the drain's view by the Release commit of the
                // first slot, which follows.
                self.slots
                    .seq(self.index(p))
                    .store(Seq::committed(self.lap(p), 0, pid).0, Ordering::Relaxed);
            }
        }
    }
}

/// Positions claimed but not yet owned.
///
/// Dropping it without [`own`](Claim::own) publishes a `SKIP` so the drain does not wait for it.
/// (`mem::forget` instead simulates a producer killed between claim and ownership.)
#[derive(Debug)]
pub struct Claim<'a, S: Slots> {
    ring: Ring<'a, S>,
    pos: u64,
    span: u32,
}

/// The drain revoked a claim before its producer owned it; nothing was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revoked;

impl<'a, S: Slots> Claim<'a, S> {
    /// The first claimed position.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Takes ownership of the claimed slots for `pid`.
    pub fn own(self, pid: u32) -> Result<Owned<'a, S>, Revoked> {
        let ring = self.ring;
        let (pos, span) = (self.pos, self.span);
        core::mem::forget(self);
        let lap = ring.lap(pos);
        // SYNC: Acquire on success; pairs with the drain's Release store that freed this slot
        // for `lap` (Consumer::release or a revoke), so our writes follow its reads of the
        // previous lap. Relaxed on failure: we then touch nothing.
        match ring.slots.seq(ring.index(pos)).compare_exchange(
            Seq::free(lap).0,
            Seq::writing(lap, span, pid).0,
            Ordering::Acquire,
            Ordering::Relaxed,
        ) {
            Ok(_) => Ok(Owned {
                ring,
                pos,
                span,
                pid,
                committed: false,
            }),
            // Not counted as reclaimed (`Ring::counting_reclaims`): whether this caller claims
            // again is its own choice. `push` and `own_one`, which always do, count.
            Err(_) => Err(Revoked),
        }
    }
}

impl<S: Slots> Drop for Claim<'_, S> {
    fn drop(&mut self) {
        let lap = self.ring.lap(self.pos);
        // SYNC: Release; pairs with the drain's Acquire load of the sequence word. A failure
        // means the drain revoked the claim already, which is just as good.
        let _ = self
            .ring
            .slots
            .seq(self.ring.index(self.pos))
            .compare_exchange(
                Seq::free(lap).0,
                Seq::skip(lap, self.span, 0).0,
                Ordering::Release,
                Ordering::Relaxed,
            );
    }
}

/// Owned slots, being written.
///
/// Dropping it without [`commit`](Owned::commit) publishes a `SKIP`. (`mem::forget` instead
/// simulates a producer killed mid-record: the drain abandons it once the pid is dead.)
#[derive(Debug)]
pub struct Owned<'a, S: Slots> {
    ring: Ring<'a, S>,
    pos: u64,
    span: u32,
    pid: u32,
    committed: bool,
}

impl<S: Slots> Owned<'_, S> {
    /// The first position of the record.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Bytes this record can hold.
    pub fn len(&self) -> usize {
        self.span as usize * self.ring.body
    }

    /// Whether the record holds no bytes (never: a record spans at least one slot).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Writes `data` at byte `offset` of the record, across slot bodies.
    ///
    /// # Panics
    ///
    /// If `offset + data.len()` exceeds [`len`](Owned::len).
    #[inline]
    pub fn write(&mut self, mut offset: usize, mut data: &[u8]) {
        let body = self.ring.body;
        if offset + data.len() <= body {
            // Within the first slot (every one-slot record): one copy, no division.
            // SAFETY: the first slot is ours by the ownership CAS; the range is in its body.
            unsafe {
                self.ring
                    .slots
                    .write(self.ring.index(self.pos), offset, data)
            };
            return;
        }
        assert!(
            offset + data.len() <= self.len(),
            "record write out of range"
        );
        while !data.is_empty() {
            let slot = offset / body;
            let within = offset % body;
            let n = data.len().min(body - within);
            let index = self.ring.index(self.pos + slot as u64);
            // SAFETY: slot `slot` of this record is ours: the first one by the ownership CAS,
            // the others by the claim (nobody else can claim them, and the drain will not look
            // at them before this record's first slot is resolved); the range is in the body.
            unsafe { self.ring.slots.write(index, within, &data[..n]) };
            offset += n;
            data = &data[n..];
        }
    }

    /// Publishes the record; returns its position.
    pub fn commit(mut self) -> u64 {
        self.committed = true;
        self.publish(false);
        self.pos
    }

    fn publish(&self, skip: bool) {
        let ring = &self.ring;
        for k in 1..self.span as u64 {
            let p = self.pos + k;
            // SYNC: Relaxed; ordered before the drain's view by the Release store just below.
            ring.slots.seq(ring.index(p)).store(
                Seq::committed(ring.lap(p), 0, self.pid).0,
                Ordering::Relaxed,
            );
        }
        let lap = ring.lap(self.pos);
        let word = if skip {
            Seq::skip(lap, self.span, self.pid)
        } else {
            Seq::committed(lap, self.span, self.pid)
        };
        // SYNC: Release; pairs with the drain's Acquire load in Consumer::next / Peeker::next,
        // so the record bytes written above are visible once COMMITTED is.
        ring.slots
            .seq(ring.index(self.pos))
            .store(word.0, Ordering::Release);
    }
}

impl<S: Slots> Drop for Owned<'_, S> {
    fn drop(&mut self) {
        if !self.committed {
            self.publish(true);
        }
    }
}

/// One slot owned for a record written in place ([`Ring::own_one`]): fill its body, then
/// [`commit`](OwnedSlot::commit). Dropping it uncommitted (a panic while filling) publishes a
/// `SKIP`, so the drain moves on; `mem::forget` instead simulates a producer killed
/// mid-record.
#[derive(Debug)]
#[must_use = "an owned slot holds up the drain until it is committed or dropped"]
pub struct OwnedSlot<'a, S: Slots> {
    ring: Ring<'a, S>,
    /// The slot's sequence word, which holds `writing` while this guard lives.
    seq: &'a AtomicU64,
    /// `WRITING(lap, 1, pid)`.
    writing: Seq,
    pos: u64,
}

impl<S: Slots> OwnedSlot<'_, S> {
    /// The record's position.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Runs `f` with the slot's body ([`Ring::body_len`] bytes, which may hold an older
    /// lap's record) to write the record into.
    #[inline(always)]
    pub fn fill<R>(&mut self, f: impl FnOnce(&mut [u8]) -> R) -> R {
        // SAFETY: the slot is ours by the ownership CAS of `Ring::own_one` until `commit`
        // or the drop publishes it, and `&mut self` keeps the body borrowed once at a time.
        unsafe { self.ring.slots.write_with(self.ring.index(self.pos), f) }
    }

    /// Publishes the record; returns its position.
    #[inline(always)]
    pub fn commit(self) -> u64 {
        let (seq, writing, pos) = (self.seq, self.writing, self.pos);
        core::mem::forget(self);
        // SYNC: Release; pairs with the drain's Acquire load in Consumer::next /
        // Peeker::next, so the bytes written by `fill` are visible once COMMITTED is.
        seq.store(writing.to(STATE_COMMITTED).0, Ordering::Release);
        pos
    }
}

impl<S: Slots> Drop for OwnedSlot<'_, S> {
    #[cold]
    fn drop(&mut self) {
        // SYNC: Release; pairs with the drain's Acquire load of the sequence word (it reads a
        // SKIP as "nothing to read here" and moves on).
        self.seq
            .store(self.writing.to(STATE_SKIP).0, Ordering::Release);
    }
}

/// Why the drain cannot move past its read position right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stall {
    /// The slot was claimed (the claim cursor is past it) but no producer owns it yet: either it
    /// is about to, or it died between claim and ownership. Safe to [`Consumer::revoke`] after a
    /// grace period.
    Unowned {
        /// The stalled position.
        pos: u64,
    },
    /// A producer owns the record and has not committed it. Abandon it
    /// ([`Consumer::abandon`]) only once `pid` is known dead.
    Writing {
        /// The stalled position.
        pos: u64,
        /// The owner.
        pid: u32,
        /// Slots the record spans.
        span: u32,
    },
    /// The sequence word makes no sense for this position (corrupt segment).
    Corrupt {
        /// The stalled position.
        pos: u64,
        /// The word found.
        seq: Seq,
    },
}

/// What [`Consumer::next`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// A record's bytes were appended to the output buffer.
    Record {
        /// Its first position.
        pos: u64,
        /// Slots it spans.
        span: u32,
        /// Writer's pid (from the sequence word).
        pid: u32,
    },
    /// A skipped record was consumed; nothing appended.
    Skipped,
    /// Nothing committed at the read position: the ring is empty up to the claim cursor.
    Empty,
    /// The read position is stuck; see [`Stall`].
    Stalled(Stall),
}

/// The drain's side of the ring: reads committed records in order, then releases their slots.
#[derive(Debug)]
pub struct Consumer<'a, S: Slots> {
    ring: Ring<'a, S>,
    /// Next position to read.
    pos: u64,
    /// Positions below this are released (equals the read cursor).
    released: u64,
    /// A record this consumer stepped over (see [`Consumer::fence`]); the read cursor stays at
    /// its position until the fence is lifted.
    fence: Option<Fence>,
}

/// A record the drain stepped over while its owner, a living producer, still held it
/// unfinished ([`Consumer::fence`]). Its slots stay unreleased, and so does every position
/// after it, until [`Consumer::lift_fence`]: the owner may still write them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fence {
    /// The record's first position.
    pub pos: u64,
    /// Slots it spans.
    pub span: u32,
    /// Its owner.
    pub pid: u32,
}

/// What [`Consumer::check_fence`] found at the fenced record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FenceCheck {
    /// No fence is held.
    Clear,
    /// The owner still holds the record: it has not committed (or dropped) it.
    Held(Fence),
    /// The owner committed or dropped the record after the fence: that store was its last
    /// touch of the record's slots, so the fence may be lifted.
    Finished(Fence),
    /// The first slot's word is none the owner writes (damage): treat it as held, and lift
    /// the fence only once the owner is gone.
    Changed(Fence, Seq),
}

impl<'a, S: Slots> Consumer<'a, S> {
    /// The one consumer of `ring`, starting at its read cursor.
    ///
    /// Safe code gets a consumer of a segment's ring through ringlog-segment's drain lease
    /// (`Segment::acquire_drain`), which enforces the rule below across processes.
    ///
    /// # Safety
    ///
    /// No other `Consumer` of this ring exists for this consumer's lifetime, in this process or
    /// any other sharing the ring's memory (one that was dropped, or belonged to a process that
    /// died, is gone). Two consumers would free slots under each other's reads, letting a
    /// producer write a slot body while it is being copied.
    pub unsafe fn new(ring: Ring<'a, S>) -> Self {
        // SYNC: Acquire; pairs with a previous consumer's Release store in `release`.
        let read = ring.cursors.read.load(Ordering::Acquire);
        Consumer {
            ring,
            pos: read,
            released: read,
            fence: None,
        }
    }

    /// The ring.
    pub fn ring(&self) -> Ring<'a, S> {
        self.ring
    }

    /// Next position to read.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Positions read (or skipped) but not yet released.
    pub fn unreleased(&self) -> u64 {
        self.pos - self.released
    }

    /// Looks at the read position; appends a committed record's bytes (`span * body_len`) to
    /// `out`, or says why it cannot.
    pub fn next(&mut self, out: &mut Vec<u8>) -> Next {
        let ring = self.ring;
        let pos = self.pos;
        let lap = ring.lap(pos);
        // SYNC: Acquire; pairs with the producer's Release store in Owned::publish.
        let seq = Seq(ring.slots.seq(ring.index(pos)).load(Ordering::Acquire));
        if seq.lap() == lap.wrapping_add(1) && seq.state() == SlotState::Free {
            // Freed for the next lap, yet at or past the read cursor: a previous consumer
            // released this slot and died before publishing the read cursor (a crash inside
            // `release`). Release follows the successful write of the batch, so the record is
            // already in the output; no producer can have reused the slot (the cursor still
            // covers it). Move on silently.
            self.pos = pos + 1;
            return Next::Skipped;
        }
        if seq.lap() != lap {
            // Only damage makes a lap disagree with its position, and only damage among claimed
            // positions matters: past the claim cursor there is nothing to read.
            // SYNC: Relaxed; as below, a bound only.
            if ring.cursors.claim.load(Ordering::Relaxed) <= pos {
                return Next::Empty;
            }
            return Next::Stalled(Stall::Corrupt { pos, seq });
        }
        match seq.state() {
            SlotState::Free => {
                // SYNC: Relaxed; only tells "empty" from "claimed". If a claim is seen, the
                // caller waits and calls again; the Acquire above decides what is committed.
                let claim = ring.cursors.claim.load(Ordering::Relaxed);
                if claim <= pos {
                    Next::Empty
                } else if seq != Seq::free(lap) {
                    // Free with span or pid bits: no transition writes that (`Seq::free` is
                    // the only free word), so it is damage, never a claim to wait on. (Revoking
                    // it could never succeed: the revoke CAS expects the exact free word.)
                    Next::Stalled(Stall::Corrupt { pos, seq })
                } else {
                    Next::Stalled(Stall::Unowned { pos })
                }
            }
            SlotState::Writing => {
                let span = seq.span();
                if span == 0 || span > ring.max_span {
                    return Next::Stalled(Stall::Corrupt { pos, seq });
                }
                Next::Stalled(Stall::Writing {
                    pos,
                    pid: seq.pid(),
                    span,
                })
            }
            SlotState::Committed | SlotState::Skip => {
                let span = seq.span();
                let skip = seq.state() == SlotState::Skip;
                if span == 0
                    || span > ring.max_span
                    || (!skip && span > 1 && !self.continuations_ok(pos, span))
                {
                    return Next::Stalled(Stall::Corrupt { pos, seq });
                }
                self.pos = pos + span as u64;
                if skip {
                    return Next::Skipped;
                }
                // Copied into spare capacity: no zeroing first (`Slots::append`).
                if span > 1 {
                    out.reserve(span as usize * ring.slots.body_len());
                }
                for k in 0..span as u64 {
                    // SAFETY: the record is committed (Acquire above) and not released, so no
                    // producer writes these slots until `release`; the whole body is copied.
                    unsafe { ring.slots.append(ring.index(pos + k), out) };
                }
                Next::Record {
                    pos,
                    span,
                    pid: seq.pid(),
                }
            }
        }
    }

    /// The in-place form of [`Consumer::next`] for the common record, one committed slot:
    /// copies the first `head.len()` bytes of its body into `head` (`head.len() <=
    /// body_len`), and if `accept(head)` gives a value, moves past the record and returns its
    /// position with that value.
    /// The rest of the body stays in the slot, to be copied by [`Consumer::append_body`] once
    /// the caller knows where it goes. Anything else at the read position (nothing committed,
    /// a stall, a skip, a record of several slots, damage), or a head `accept` refuses,
    /// returns `None` and changes nothing: [`Consumer::next`] takes it from there.
    #[inline]
    pub fn next_in_place<T>(
        &mut self,
        head: &mut [u8],
        accept: impl FnOnce(&[u8]) -> Option<T>,
    ) -> Option<(u64, T)> {
        let ring = self.ring;
        let pos = self.pos;
        let index = ring.index(pos);
        // SYNC: Acquire; pairs with the producer's Release store in Owned::publish (as in
        // `next`, whose checks for a one-slot committed record these are).
        let seq = Seq(ring.slots.seq(index).load(Ordering::Acquire));
        if seq.lap() != ring.lap(pos) || seq.state() != SlotState::Committed || seq.span() != 1 {
            return None;
        }
        // SAFETY: the record is committed (Acquire above) and not released (it is at or past
        // the read position), so no producer writes the slot until `release`; `read` checks
        // the range against the body.
        unsafe { ring.slots.read(index, 0, head) };
        let v = accept(head)?;
        self.pos = pos + 1;
        Some((pos, v))
    }

    /// Appends `len` bytes of the body of the record at `pos` from `offset` to `out`: the
    /// payload of a record [`Consumer::next_in_place`] took, copied where it goes.
    ///
    /// # Safety
    ///
    /// `pos` was returned by [`Consumer::next_in_place`] of this consumer and is not released
    /// yet (so the slot is committed and no producer writes it), and `offset + len` is at most
    /// the body length (checked by the slots).
    #[inline]
    pub unsafe fn append_body(&self, pos: u64, offset: usize, len: usize, out: &mut Vec<u8>) {
        debug_assert!(pos >= self.released && pos < self.pos);
        let ring = self.ring;
        // SAFETY: the caller's contract: the slot holds a committed record we have not
        // released, which no producer writes until `release`.
        unsafe { ring.slots.append_part(ring.index(pos), offset, len, out) }
    }

    fn continuations_ok(&self, pos: u64, span: u32) -> bool {
        let ring = self.ring;
        (1..span as u64).all(|k| {
            let p = pos + k;
            // SYNC: Relaxed; these were stored before the first slot's Release commit, which
            // our Acquire load of the first slot already synchronised with.
            let seq = Seq(ring.slots.seq(ring.index(p)).load(Ordering::Relaxed));
            seq.lap() == ring.lap(p) && seq.state() == SlotState::Committed && seq.span() == 0
        })
    }

    /// Revokes an unowned claim at the read position (see [`Stall::Unowned`]): frees the slot
    /// for its next lap and moves on. Returns false, changing nothing, if `pos` is not the read
    /// position, not claimed, or a producer owned it meanwhile.
    ///
    /// Always sound: a producer that claimed the position and was only slow fails its
    /// ownership CAS afterwards, has written nothing, and claims again.
    pub fn revoke(&mut self, pos: u64) -> bool {
        if pos != self.pos {
            return false;
        }
        let ring = self.ring;
        // SYNC: Relaxed; the claim cursor only grows, so a claim seen past `pos` stays past it.
        // Revoking an unclaimed position would move the read cursor past the claim cursor.
        if ring.cursors.claim.load(Ordering::Relaxed) <= pos {
            return false;
        }
        let lap = ring.lap(pos);
        // SYNC: Release on success; pairs with the Acquire of the ownership CAS of whichever
        // producer next owns this slot (one lap later). A racing producer's own CAS fails.
        let ok = ring
            .slots
            .seq(ring.index(pos))
            .compare_exchange(
                Seq::free(lap).0,
                Seq::free(lap.wrapping_add(1)).0,
                Ordering::Release,
                Ordering::Relaxed,
            )
            .is_ok();
        if ok {
            self.pos += 1;
        }
        ok
    }

    /// Abandons a stalled record (see [`Stall`]): frees its slots for their next lap and moves
    /// past them. Returns false, changing nothing, if `stall` is not at the read position or
    /// its sequence word changed meanwhile. An [`Stall::Unowned`] is [revoked](Self::revoke).
    ///
    /// # Safety
    ///
    /// No living producer can still write into the record's slots:
    ///
    /// * [`Stall::Writing`]: process `pid` is gone (for example `kill(pid, 0)` failed with
    ///   `ESRCH`); a dead process writes nothing more. Abandoning a living owner's record would
    ///   let the next lap's producer write the same slots while the owner still does.
    /// * [`Stall::Corrupt`]: the caller has decided the word is damage rather than a producer's
    ///   state, for example because it stayed unchanged for a grace period.
    pub unsafe fn abandon(&mut self, stall: Stall) -> bool {
        let (pos, expected, span) = match stall {
            Stall::Writing { pos, pid, span } => {
                (pos, Seq::writing(self.ring.lap(pos), span, pid), span)
            }
            Stall::Corrupt { pos, seq } => (pos, seq, 1),
            Stall::Unowned { pos } => return self.revoke(pos),
        };
        if pos != self.pos {
            return false;
        }
        let ring = self.ring;
        for k in (1..span as u64).rev() {
            let p = pos + k;
            // SYNC: Relaxed; published to producers by the Release on the read cursor.
            ring.slots
                .seq(ring.index(p))
                .store(Seq::free(ring.lap(p).wrapping_add(1)).0, Ordering::Relaxed);
        }
        // SYNC: Release on success; as in `revoke`.
        let ok = ring
            .slots
            .seq(ring.index(pos))
            .compare_exchange(
                expected.0,
                Seq::free(ring.lap(pos).wrapping_add(1)).0,
                Ordering::Release,
                Ordering::Relaxed,
            )
            .is_ok();
        if ok {
            self.pos += span as u64;
        }
        ok
    }

    /// Steps over a record a living producer holds unfinished (a [`Stall::Writing`] at the
    /// read position), so the records after it can be read: the *fence* of a stalled owner.
    ///
    /// Nothing is freed. The record's slots stay the owner's, and the read cursor stays at the
    /// record until [`lift_fence`](Consumer::lift_fence): producers claim against the read
    /// cursor, so no position whose slot the owner may still write is handed out again, and
    /// [`release_to`](Consumer::release_to) frees nothing meanwhile. The record itself is
    /// never read: whatever its owner does later, it is lost (the caller reports it).
    ///
    /// Returns false, changing nothing, unless `stall` is a [`Stall::Writing`] at the read
    /// position, everything before it is released, no fence is held, its sequence word is still
    /// the one `stall` describes, and its continuation slots look like its own (free for this
    /// lap, or marked as its continuations): a span that disagrees is damage, not a record to
    /// step over.
    pub fn fence(&mut self, stall: Stall) -> bool {
        let Stall::Writing { pos, pid, span } = stall else {
            return false;
        };
        if pos != self.pos || pos != self.released || self.fence.is_some() {
            return false;
        }
        if span == 0 || span > self.ring.max_span {
            return false;
        }
        let ring = self.ring;
        let lap = ring.lap(pos);
        // SYNC: Relaxed; only decides whether to step over. Nothing of the record is read,
        // and the Acquire that orders the owner's writes before our frees is the one in
        // `check_fence`, on its final word.
        let seq = Seq(ring.slots.seq(ring.index(pos)).load(Ordering::Relaxed));
        if seq != Seq::writing(lap, span, pid) {
            return false;
        }
        let own = (1..span as u64).all(|k| {
            let p = pos + k;
            // SYNC: Relaxed; as above, a plausibility check only.
            let c = Seq(ring.slots.seq(ring.index(p)).load(Ordering::Relaxed));
            c == Seq::free(ring.lap(p)) || c == Seq::committed(ring.lap(p), 0, pid)
        });
        if !own {
            return false;
        }
        self.fence = Some(Fence { pos, span, pid });
        self.pos = pos + span as u64;
        true
    }

    /// The fence held, if any.
    pub fn fence_held(&self) -> Option<Fence> {
        self.fence
    }

    /// Looks at the fenced record's first slot: has its owner finished with it?
    pub fn check_fence(&self) -> FenceCheck {
        let Some(f) = self.fence else {
            return FenceCheck::Clear;
        };
        let ring = self.ring;
        let lap = ring.lap(f.pos);
        // SYNC: Acquire; pairs with the owner's Release store of its final word (Owned::publish
        // or Ring::push), so every write it made to the record's slots happens before our
        // frees of them (release_to's Release stores, which the next lap's owners acquire).
        let seq = Seq(ring.slots.seq(ring.index(f.pos)).load(Ordering::Acquire));
        if seq == Seq::writing(lap, f.span, f.pid) {
            FenceCheck::Held(f)
        } else if seq == Seq::committed(lap, f.span, f.pid) || seq == Seq::skip(lap, f.span, f.pid)
        {
            FenceCheck::Finished(f)
        } else {
            FenceCheck::Changed(f, seq)
        }
    }

    /// Lifts the fence: the next [`release_to`](Consumer::release_to) frees the fenced
    /// record's slots with everything read after it, and publishes the read cursor past them.
    /// The record is not read. Does nothing if no fence is held.
    ///
    /// # Safety
    ///
    /// The fenced record's owner touches its slots no more: [`check_fence`](Consumer::check_fence)
    /// said [`FenceCheck::Finished`] (its final store was its last write), or process `pid` is
    /// gone (`kill(pid, 0)` failed with `ESRCH`). Lifting while a living owner may still write
    /// would let the next lap's producer write the same slots.
    pub unsafe fn lift_fence(&mut self) {
        self.fence = None;
    }

    /// Takes up a fence a previous consumer of this ring held (a drain restarted while a
    /// producer was frozen): the record at the read cursor is fenced again, and reading goes
    /// on at `resume` (where the previous consumer's output ended; clamped to the claimed
    /// positions, and to at least the record's end). Call it on a new consumer, before
    /// reading. Returns the fence, or `None` (changing nothing) if the word at the read
    /// cursor is no record of this lap (a previous drain's fence it lifted already, or damage).
    ///
    /// Frees nothing, so it is safe whatever `resume` says; a `resume` past what was written
    /// loses the records in between, and one short of it writes them twice.
    pub fn resume_fence(&mut self, resume: u64) -> Option<Fence> {
        if self.pos != self.released || self.fence.is_some() {
            return None;
        }
        let ring = self.ring;
        let pos = self.pos;
        let lap = ring.lap(pos);
        // SYNC: Relaxed; only decides what to step over (see `fence`).
        let seq = Seq(ring.slots.seq(ring.index(pos)).load(Ordering::Relaxed));
        let span = seq.span();
        let state = seq.state();
        if seq.lap() != lap
            || !matches!(
                state,
                SlotState::Writing | SlotState::Committed | SlotState::Skip
            )
            || span == 0
            || span > ring.max_span
        {
            return None;
        }
        // SYNC: Relaxed; a bound only (positions past the claim cursor hold nothing).
        let claim = ring.cursors.claim.load(Ordering::Relaxed);
        let end = pos + span as u64;
        let fence = Fence {
            pos,
            span,
            pid: seq.pid(),
        };
        self.fence = Some(fence);
        self.pos = resume.min(claim).min(pos + ring.capacity()).max(end);
        Some(fence)
    }

    /// Frees every slot read so far for its next lap and publishes the read cursor. Call it
    /// once what was read is safely in the output.
    pub fn release(&mut self) {
        self.release_to(self.pos)
    }

    /// Frees the slots read so far below `end` (clamped to what was read) and publishes the
    /// read cursor there: a drain that read ahead of what it wrote (the lane merge holds
    /// records back) releases only what is written.
    ///
    /// While a [fence](Consumer::fence) is held nothing is released: every position from the
    /// fenced record on waits for [`lift_fence`](Consumer::lift_fence).
    pub fn release_to(&mut self, end: u64) {
        let end = match self.fence {
            Some(f) => end.min(f.pos),
            None => end,
        };
        let end = end.clamp(self.released, self.pos);
        let ring = self.ring;
        for p in self.released..end {
            let index = ring.index(p);
            let lap = ring.lap(p);
            let slot = ring.slots.seq(index);
            // SYNC: Relaxed load; this slot was consumed by us (or revoked/abandoned already,
            // in which case it is no longer of this lap and is left alone).
            let cur = Seq(slot.load(Ordering::Relaxed));
            if cur.lap() == lap {
                // SYNC: Release; pairs with the Acquire of the next lap's ownership CAS.
                slot.store(Seq::free(lap.wrapping_add(1)).0, Ordering::Release);
            }
        }
        self.released = end;
        // SYNC: Release; pairs with the producers' Acquire load in Ring::claim: every slot
        // below this is free for its next lap and our reads of it are done.
        ring.cursors.read.store(end, Ordering::Release);
    }
}

/// A non-consuming reader (`ringdrain cat`, stats): walks committed records from the read
/// cursor without freeing anything, validating each copy against its sequence word.
#[derive(Debug)]
pub struct Peeker<'a, S: Slots> {
    ring: Ring<'a, S>,
    pos: u64,
    /// Wait at a claimed, not yet committed slot instead of moving past it.
    follow: bool,
}

/// What [`Peeker::next`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peek {
    /// A committed record was appended to the buffer.
    Record {
        /// Its position.
        pos: u64,
        /// Its span.
        span: u32,
    },
    /// The position is not committed (empty, being written, skipped or corrupt); the peeker
    /// moved one slot on.
    Gap,
    /// The drain overtook the peeker; it restarted at the read cursor (or, following, moved
    /// past a slot the drain had already freed).
    Overtaken,
    /// Reached the claim cursor.
    End,
}

impl<'a, S: Slots> Peeker<'a, S> {
    /// Starts at the drain's read cursor.
    pub fn new(ring: Ring<'a, S>) -> Self {
        // SYNC: Acquire; pairs with the drain's Release in Consumer::release.
        let pos = ring.cursors.read.load(Ordering::Acquire);
        Peeker {
            ring,
            pos,
            follow: false,
        }
    }

    /// For following a live ring (`ringdrain cat --follow`): a slot claimed but not committed
    /// yet in this lap (free or being written) gives [`Peek::End`] without moving, so its
    /// record is shown once committed. If its producer died, the drain skips the slot and
    /// moves its read cursor past it; the next call then re-syncs ([`Peek::Overtaken`]).
    pub fn following(mut self) -> Self {
        self.follow = true;
        self
    }

    /// The next position to look at.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Moves past the record at the current position if it is still being written in this
    /// lap (its owner has not committed it): what a follower does at a record the drain has
    /// fenced (stepped over and reported lost; the lane's `fence` word names it), so it shows
    /// what the drain shows and not a record the drain dropped. Returns whether it moved.
    pub fn step_over_unfinished(&mut self) -> bool {
        let ring = self.ring;
        // SYNC: Relaxed; only the state and span are used, to move a view position (nothing
        // is read from the slot's body on the strength of this load).
        let seq = Seq(ring.slots.seq(ring.index(self.pos)).load(Ordering::Relaxed));
        if seq.lap() != ring.lap(self.pos) || seq.state() != SlotState::Writing {
            return false;
        }
        self.pos += u64::from(seq.span().clamp(1, ring.max_span));
        true
    }

    /// The next record, appended to `out` (the buffer is truncated back on a torn copy).
    pub fn next(&mut self, out: &mut Vec<u8>) -> Peek {
        let ring = self.ring;
        // SYNC: Relaxed; a bound only, rechecked per slot through its sequence word.
        let claim = ring.cursors.claim.load(Ordering::Relaxed);
        // SYNC: Acquire; pairs with the drain's Release in Consumer::release.
        let read = ring.cursors.read.load(Ordering::Acquire);
        if self.pos < read {
            self.pos = read;
            return Peek::Overtaken;
        }
        if self.pos >= claim {
            return Peek::End;
        }
        let pos = self.pos;
        let lap = ring.lap(pos);
        let slot = ring.slots.seq(ring.index(pos));
        // SYNC: Acquire; pairs with the producer's Release commit.
        let seq = Seq(slot.load(Ordering::Acquire));
        let span = seq.span();
        if self.follow && seq.lap() == lap {
            if matches!(seq.state(), SlotState::Free | SlotState::Writing) {
                return Peek::End;
            }
        } else if self.follow && seq.lap() == lap.wrapping_add(1) {
            // The drain freed it for the next lap and has not published its read cursor yet:
            // consumed before we looked.
            self.pos += 1;
            return Peek::Overtaken;
        }
        if seq.lap() != lap
            || seq.state() != SlotState::Committed
            || span == 0
            || span > ring.max_span
        {
            self.pos += if seq.lap() == lap && seq.state() == SlotState::Skip && span > 0 {
                span as u64
            } else {
                1
            };
            return Peek::Gap;
        }
        let body = ring.slots.body_len();
        let start = out.len();
        out.resize(start + span as usize * body, 0);
        for k in 0..span as usize {
            let dst = &mut out[start + k * body..start + (k + 1) * body];
            // SAFETY: the range is a whole body. The drain may free and a producer rewrite the
            // slot while we copy; the copy is plain bytes and is validated just below.
            unsafe { ring.slots.read(ring.index(pos + k as u64), 0, dst) };
        }
        // SYNC: the Acquire fence keeps the copies above before the re-load of the word; the
        // word only changes after the drain frees the slot (seqlock-style validation).
        crate::sync::fence_acquire();
        if slot.load(Ordering::Relaxed) != seq.0 {
            out.truncate(start);
            self.pos = read.max(pos);
            return Peek::Overtaken;
        }
        self.pos = pos + span as u64;
        Peek::Record { pos, span }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_following_peeker_waits_for_a_commit_and_counts_what_the_drain_freed_first() {
        let (cursors, slots) = (RingCursors::new(), HeapSlots::new(8, 56));
        let ring = Ring::new(&cursors, &slots, 4);
        let cache = AtomicU64::new(0);
        ring.push(&[1; 30], 42, &cache).unwrap();
        // Position 1 is claimed and being written.
        let claim = ring.claim(1, &cache).unwrap();
        let mut view = Peeker::new(ring).following();
        let mut out = Vec::new();
        assert!(matches!(view.next(&mut out), Peek::Record { pos: 0, .. }));
        assert_eq!(view.next(&mut out), Peek::End);
        assert_eq!(view.position(), 1, "waits at the uncommitted slot");
        drop(claim);
        // A non-following peeker moves past a slot it cannot read.
        let mut plain = Peeker::new(ring);
        assert!(matches!(plain.next(&mut out), Peek::Record { pos: 0, .. }));
        // The drain consumes position 0 and frees it; the read cursor is not published yet.
        ring.push(&[2; 30], 42, &cache).unwrap();
        let mut late = Peeker::new(ring).following();
        slots.seq(0).store(Seq::free(1).0, Ordering::Relaxed);
        assert_eq!(late.next(&mut out), Peek::Overtaken);
        assert_eq!(late.position(), 1);
    }

    #[test]
    fn a_following_peeker_steps_over_a_record_being_written_and_only_such_a_record() {
        let (cursors, slots) = (RingCursors::new(), HeapSlots::new(8, 56));
        let ring = Ring::new(&cursors, &slots, 4);
        let cache = AtomicU64::new(0);
        // Position 0: a two-slot record owned and being written (a frozen producer's, which
        // the drain would fence); then a committed record behind it.
        let owned = ring.claim(2, &cache).unwrap().own(42).unwrap();
        ring.push(&[7; 30], 43, &cache).unwrap();
        let mut view = Peeker::new(ring).following();
        let mut out = Vec::new();
        assert_eq!(view.next(&mut out), Peek::End);
        assert!(
            view.step_over_unfinished(),
            "moves past the record being written"
        );
        assert_eq!(view.position(), 2, "past both of its slots");
        assert!(matches!(view.next(&mut out), Peek::Record { pos: 2, .. }));
        // Not past a committed record, nor past the end of the ring.
        assert!(!view.step_over_unfinished());
        assert_eq!(view.position(), 3);
        let mut again = Peeker::new(ring).following();
        drop(owned);
        assert!(!again.step_over_unfinished(), "no longer being written");
    }

    #[test]
    fn a_consumer_that_died_inside_release_leaves_nothing_to_report() {
        let (cursors, slots) = (RingCursors::new(), HeapSlots::new(8, 56));
        let ring = Ring::new(&cursors, &slots, 4);
        let cache = AtomicU64::new(0);
        for i in 0..3u8 {
            ring.push(&[i; 30], 42, &cache).unwrap();
        }
        // A drain read all three, wrote them, and freed the first two slots for the next lap,
        // then died before publishing the read cursor.
        let mut out = Vec::new();
        {
            // SAFETY: the only consumer of this ring so far; it ends with this block.
            let mut first = unsafe { Consumer::new(ring) };
            for _ in 0..3 {
                assert!(matches!(first.next(&mut out), Next::Record { .. }));
            }
            for p in 0..2 {
                slots.seq(p).store(Seq::free(1).0, Ordering::Relaxed);
            }
        } // the drain died
          // The next drain starts at the old read cursor: the freed slots are skipped silently
          // (their records are in the output already), the third is read again (its batch was
          // never released, so the checkpoint decides whether it is in the output).
          // SAFETY: the first consumer is gone (its block ended).
        let mut next = unsafe { Consumer::new(ring) };
        assert_eq!(next.next(&mut out), Next::Skipped);
        assert_eq!(next.next(&mut out), Next::Skipped);
        assert!(matches!(next.next(&mut out), Next::Record { pos: 2, .. }));
        assert_eq!(next.next(&mut out), Next::Empty);
    }
}
