//! The segment's layout (version 2): a header page, a control page, the producer table, the
//! lane table, the callsite table, then the lanes.
//!
//! ```text
//! offset               size                           contents
//! 0                    256                            SegmentHeader: magic, version, geometry, clock
//! 256                  < 4096 - 256                   SharedState: counters, drain state
//! 2048                 4 (own cache line)             WakeWord: the idle drain's futex word (`wake`)
//! 2176                 4 (own cache line)             RoomWord: producers waiting for room (`wake`)
//! 4096                 4096                           ControlBlock: filter directives set from outside (`control`)
//! 8192                 producer_slots * 4 (paged)     producer table: pids of attached processes
//! lane_table_offset    lane_count * LaneHeader        per lane: owner, cursors, checkpoint end
//! callsite_offset      callsite_size                  callsite table (see `callsite`)
//! ring_offset          lane_count * lane_stride       the lanes' slots (see `ring`), each page aligned
//! ```
//!
//! Every lane is a ring of its own (`ring`'s protocol, unchanged), with its own cursors. A
//! thread takes a lane for itself through the lane's owner word, so producers normally never
//! touch a cache line another producer writes; see ARCHITECTURE.md, "Lanes".
//!
//! All integers are in host byte order: a segment is a local shared-memory object. A segment from
//! a host of the other byte order is recognised by its byte-swapped version and refused.
//!
//! # What forces a layout-version bump
//!
//! Any change to: the offsets or meaning of a `SegmentHeader`, `SharedState` or `LaneHeader`
//! field; the sequence-word encoding or slot layout (`ring`); the record header (`record`);
//! argument tags (`args`; adding a new tag is compatible only for drains that already reject
//! unknown tags gracefully, which ours do, so a new tag is a minor bump at most); the callsite
//! entry or index encoding (`callsite`). Adding a field in reserved space that old readers may
//! ignore is not a bump (the wake word at [`WAKE_OFFSET`] was added so: zero there means "no
//! drain asleep", which is what older drains leave, so old and new producers and drains mix).
//! Version 1 (one shared ring) is refused with both versions named.

use bytemuck::{Pod, Zeroable};
use core::sync::atomic::{AtomicU32, AtomicU64};
use crossbeam_utils::CachePadded;

use crate::callsite;
use crate::clock::ClockKind;
use crate::ring::{RingCursors, MAX_SPAN};

/// First bytes of every segment.
pub const MAGIC: [u8; 8] = *b"RINGLOG\0";
/// Layout version this code reads and writes.
pub const VERSION: u32 = 2;
/// Value of `SegmentHeader::ready` once the creator finished initialising.
pub const READY: u32 = 0x5245_4459; // "REDY"
/// Size of the header page (and alignment of the regions after it).
pub const HEADER_SIZE: u64 = 4096;
/// Offset of the control page (the `control` module), right after the header page.
pub const CONTROL_OFFSET: u64 = HEADER_SIZE;
/// Size of the control page.
pub const CONTROL_SIZE: u64 = 4096;
/// Offset of [`SharedState`].
pub const SHARED_OFFSET: usize = 256;
/// Offset of the producer table.
pub const PRODUCERS_OFFSET: u64 = CONTROL_OFFSET + CONTROL_SIZE;
/// Most producer-table entries a segment may have.
pub const MAX_PRODUCER_SLOTS: u32 = 1 << 20;
/// Most lanes a segment may have.
pub const MAX_LANES: u32 = 4096;
/// Smallest slot size (room for the sequence word, a record header and some arguments).
pub const MIN_SLOT_SIZE: u32 = 64;
/// Largest slot size.
pub const MAX_SLOT_SIZE: u32 = 65536;
/// Smallest lane.
pub const MIN_SLOT_COUNT: u64 = 2;
/// Largest lane (2^32 slots).
pub const MAX_SLOT_COUNT: u64 = 1 << 32;

/// The immutable first 256 bytes of a segment, written once by its creator.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct SegmentHeader {
    /// [`MAGIC`].
    pub magic: [u8; 8],
    /// [`VERSION`] (at offset 8 in every version, so any reader can name it).
    pub version: u32,
    /// [`READY`] once initialised (stored last, with Release).
    pub ready: u32,
    /// [`HEADER_SIZE`].
    pub header_size: u32,
    /// Bytes per slot (power of two, 64..=65536).
    pub slot_size: u32,
    /// Slots in each lane (power of two).
    pub slot_count: u64,
    /// Offset of the callsite table.
    pub callsite_offset: u64,
    /// Size of the callsite table.
    pub callsite_size: u64,
    /// Offset of the first lane's slots (page aligned).
    pub ring_offset: u64,
    /// Total segment size.
    pub total_size: u64,
    /// `ClockKind as u32`.
    pub clock_kind: u32,
    /// Cache-line padding of [`SharedState`] on the creating host (must match ours).
    pub line_size: u32,
    /// Raw clock reading at calibration.
    pub clock_raw0: u64,
    /// Unix time (ns) at calibration.
    pub clock_unix_ns0: u64,
    /// Raw clock ticks per second.
    pub clock_hz: u64,
    /// Unix time (ns) the segment was created.
    pub created_unix_ns: u64,
    /// Pid of the creator.
    pub creator_pid: u32,
    /// Callsite index slots (power of two).
    pub callsite_index_slots: u32,
    /// Most slots one record may span (1..=15).
    pub max_span: u32,
    /// Number of lanes (1..=[`MAX_LANES`]).
    pub lane_count: u32,
    /// Offset of the lane table ([`LaneHeader`] per lane).
    pub lane_table_offset: u64,
    /// Bytes from one lane's slots to the next's (the lane's bytes rounded up to a page).
    pub lane_stride: u64,
    /// Offset of the control page.
    pub control_offset: u64,
    /// Offset of the producer table.
    pub producers_offset: u64,
    /// Entries in the producer table.
    pub producer_slots: u32,
    /// Reserved, zero.
    pub reserved0: u32,
    /// Reserved, zero.
    pub reserved: [u64; 12],
}

const _: () = {
    assert!(core::mem::size_of::<SegmentHeader>() == SHARED_OFFSET);
    assert!(core::mem::offset_of!(SegmentHeader, version) == 8);
    assert!(core::mem::offset_of!(SegmentHeader, ready) == 12);
    assert!(core::mem::offset_of!(SegmentHeader, slot_count) == 24);
    assert!(core::mem::offset_of!(SegmentHeader, clock_kind) == 64);
    assert!(core::mem::offset_of!(SegmentHeader, clock_raw0) == 72);
    assert!(core::mem::offset_of!(SegmentHeader, max_span) == 112);
    assert!(core::mem::offset_of!(SegmentHeader, lane_count) == 116);
    assert!(core::mem::offset_of!(SegmentHeader, lane_table_offset) == 120);
};

/// Loss and damage counters, shared by everyone.
#[repr(C)]
#[derive(Debug, Default)]
pub struct Counters {
    /// Records producers did not write (policy `Drop`, a stale drain, a bounded wait that ran
    /// out, a callsite table that was full). Producers add; nobody subtracts.
    pub dropped: AtomicU64,
    /// Unix ns of the first drop not yet reported by the drain (0: none). Producers CAS it from 0.
    pub dropped_since_ns: AtomicU64,
    /// Slots the drain skipped because their producer died holding them, or left a claim
    /// unowned past the grace period. The drain counts a revoked claim when it revokes it
    /// (an unowned claim carries no pid, so it cannot tell a dead producer from one only
    /// descheduled between its claim and its ownership); a living producer then finds the
    /// claim revoked, claims again and counts the slots in [`Counters::reclaimed`]. What was
    /// lost is `abandoned - reclaimed`.
    pub abandoned: AtomicU64,
    /// Records the drain skipped because their bytes were damaged.
    pub corrupt: AtomicU64,
    /// Records written with their arguments cut to fit.
    pub truncated: AtomicU64,
    /// Producer processes that found the producer table full when they attached (`gc` then
    /// refuses to judge the segment unused).
    pub producers_unlisted: AtomicU64,
    /// Slots of claims the drain revoked (and counted in `abandoned`) whose producer was alive
    /// and claimed again, so their records were not lost. Producers add
    /// (`Ring::counting_reclaims`). In the counters line's padding: zero in a segment whose
    /// producers predate it, which leaves `abandoned` the upper bound it was.
    pub reclaimed: AtomicU64,
}

/// The drain's state, including its checkpoint (see `ringdrain`'s checkpoint module). The
/// checkpoint's per-lane batch ends are in each [`LaneHeader::pending_end`].
#[repr(C)]
#[derive(Debug, Default)]
pub struct DrainState {
    /// Pid of the attached drain (0: none). Taken with a CAS from 0 or from a dead pid.
    pub pid: AtomicU32,
    /// Reserved.
    pub flags: AtomicU32,
    /// Unix ns of the drain's last sign of life (stored at least every 100 ms while attached).
    pub heartbeat_ns: AtomicU64,
    /// Records consumed since creation (for rates in `stats`).
    pub consumed: AtomicU64,
    /// Dropped count already reported in the output.
    pub reported_dropped: AtomicU64,
    /// Abandoned count already reported in the output.
    pub reported_abandoned: AtomicU64,
    /// Corrupt count already reported in the output.
    pub reported_corrupt: AtomicU64,
    /// Checkpoint: 1 while a batch is being written, else 0.
    pub pending: AtomicU64,
    /// The drain's [`process_stamp`]: `pid << 32 | start time` (0: unknown), so a pid reused
    /// by another process (or forged) does not pass for the drain. Stored before `pid` is
    /// published; read after it. Bytes reserved (zero) in earlier version-2 writers, so 0
    /// means "unknown" and liveness falls back to the pid alone.
    pub pid_stamp: AtomicU64,
    /// Checkpoint: output file device.
    pub out_dev: AtomicU64,
    /// Checkpoint: output file inode.
    pub out_ino: AtomicU64,
    /// Checkpoint: output file length before the pending batch.
    pub out_len_before: AtomicU64,
    /// Checkpoint: bytes of the pending batch.
    pub out_batch_len: AtomicU64,
    /// Checkpoint: hashes of the pending batch: bits 63..32 its head's (up to its first
    /// newline), bits 31..0 its last 256 bytes' (the drain's `checkpoint` module).
    pub out_batch_hash: AtomicU64,
}

/// The mutable shared state in the header page.
#[repr(C)]
#[derive(Debug)]
pub struct SharedState {
    /// Loss counters.
    pub counters: CachePadded<Counters>,
    /// Drain state and checkpoint.
    pub drain: CachePadded<DrainState>,
}

#[cfg(not(loom))]
const _: () = {
    // The counters grow only inside their cache line's padding (the drain state's offset
    // never moves: a segment of any version-2 build reads the same).
    assert!(core::mem::size_of::<Counters>() <= 64);
    assert!(SHARED_OFFSET + core::mem::size_of::<SharedState>() <= HEADER_SIZE as usize);
    assert!(core::mem::align_of::<SharedState>() <= SHARED_OFFSET);
};

/// Offset of the [`WakeWord`] in the header page: bytes past [`SharedState`] that layout
/// version 2 reserves (zero in every segment, created zero-filled). Added without a version
/// bump: zero is "no drain asleep", what every older drain leaves, so an older producer that never
/// looks at it only costs a sleeping drain its wait timeout (`wake::SLEEP_TIMEOUT`).
pub const WAKE_OFFSET: usize = 2048;

/// The idle drain's wake word, alone on its cache line (see the `wake` module for the protocol).
#[repr(C)]
#[derive(Debug, Default)]
pub struct WakeWord {
    /// [`wake::AWAKE`](crate::wake::AWAKE) (0: no drain asleep, or none announced) or
    /// [`wake::ASLEEP`](crate::wake::ASLEEP) (the drain announced that it is about to sleep on
    /// this word with `FUTEX_WAIT`). The drain stores both values; a producer that finds
    /// `ASLEEP` swaps it to `AWAKE` and, if it was the one to change it, calls `FUTEX_WAKE`.
    /// A 32-bit word, as futexes need.
    pub word: AtomicU32,
}

/// Offset of the [`RoomWord`] in the header page: the cache line after the wake word's, in
/// the bytes past [`SharedState`] that layout version 2 reserves. Added without a version bump,
/// as the wake word was: zero is "no producer waits", what every older producer leaves, and an
/// older drain that never looks at it only costs a waiting producer its wait timeout.
pub const ROOM_OFFSET: usize = WAKE_OFFSET + 128;

/// The word producers blocked on a full lane sleep on until the drain frees room, alone on its
/// cache line (see the `wake` module, "Producers waiting for room").
#[repr(C)]
#[derive(Debug, Default)]
pub struct RoomWord {
    /// [`wake::NO_WAITERS`](crate::wake::NO_WAITERS) (0) or
    /// [`wake::WAITERS`](crate::wake::WAITERS) (a producer announced that it is about to sleep
    /// on this word with `FUTEX_WAIT`). Producers store `WAITERS`; the drain, after freeing
    /// room, swaps it back and calls `FUTEX_WAKE` for all of them. A 32-bit word, as futexes
    /// need.
    pub word: AtomicU32,
}

#[cfg(not(loom))]
const _: () = {
    assert!(ROOM_OFFSET % 128 == 0);
    assert!(ROOM_OFFSET + 128 <= HEADER_SIZE as usize);
    assert!(core::mem::size_of::<RoomWord>() == 4);
};

#[cfg(not(loom))]
const _: () = {
    assert!(WAKE_OFFSET >= SHARED_OFFSET + core::mem::size_of::<SharedState>());
    assert!(WAKE_OFFSET % 128 == 0);
    assert!(WAKE_OFFSET + 128 <= HEADER_SIZE as usize);
    assert!(core::mem::size_of::<WakeWord>() == 4);
};

/// One lane's shared words, each group on its own cache line.
#[repr(C)]
#[derive(Debug, Default)]
pub struct LaneHeader {
    /// Who holds the lane: [`lane_owner`]`(pid, tid)`, or 0 when free. Taken with a CAS from 0;
    /// given back by its holder (a store of 0), or by the drain once the holder's process is
    /// dead. Holding a lane is what keeps producers apart; the ring protocol inside the lane
    /// stays correct for any number of writers, so a lane is never unsafe to share.
    /// (The line also holds the holder's [`LaneOwner::stamp`]; `owner` derefs to the word.)
    pub owner: CachePadded<LaneOwner>,
    /// The lane's cursors (see `ring`).
    pub cursors: RingCursors,
    /// Checkpoint: where the drain's pending batch ends in this lane (drain only). (The line
    /// also holds [`LaneDrainLine::stalled`]; `pending_end` derefs to the checkpoint word.)
    pub pending_end: CachePadded<LaneDrainLine>,
}

/// The drain's line of a lane header: the checkpoint word, the stall flag and the fence, in
/// bytes that were the checkpoint word's cache-line padding (zero in earlier version-2
/// writers, which reads as "not stalled, no fence"; the layout and [`LANE_HEADER_SIZE`] are
/// unchanged).
#[repr(C)]
#[derive(Debug, Default)]
pub struct LaneDrainLine {
    /// Where the drain's pending batch ends in this lane (see [`LaneHeader::pending_end`]).
    pub end: AtomicU64,
    /// Non-zero while the drain is held up in this lane by a record a living producer has
    /// owned and not committed for longer than [`STALL_FLAG_AFTER_MS`] (a frozen or stopped
    /// process): the position of that record plus one. Set and cleared by the drain only; a
    /// hint to producers choosing a lane to share (they avoid a stalled one), never a safety
    /// condition.
    pub stalled: AtomicU64,
    /// Non-zero while the drain holds a *fence* in this lane: the position of the record it
    /// stepped over plus one (a living producer held it unfinished for [`FENCE_AFTER_MS`]
    /// while other records waited behind it; see `Consumer::fence`). The lane's read cursor
    /// stays at that record until the fence is lifted. Written by the drain only, so that a
    /// restarted drain takes the fence up again instead of reading the records after it twice;
    /// valid only while it names the read cursor.
    pub fence: AtomicU64,
    /// While [`fence`](Self::fence) is set: where the drain's output of this lane ended at
    /// its last finished batch (past the fenced record), so a restarted drain resumes there.
    pub fence_done: AtomicU64,
}

impl core::ops::Deref for LaneDrainLine {
    type Target = AtomicU64;
    fn deref(&self) -> &AtomicU64 {
        &self.end
    }
}

/// How long a living producer's uncommitted record holds a lane up before the drain flags the
/// lane as stalled ([`LaneDrainLine::stalled`]).
pub const STALL_FLAG_AFTER_MS: u64 = 100;

/// How long a living producer's uncommitted record holds up the records other writers put
/// behind it in the same lane before the drain steps over it (the fence,
/// [`LaneDrainLine::fence`]); `ringdrain --fence-ms` sets it.
pub const FENCE_AFTER_MS: u64 = 1000;

#[cfg(not(loom))]
const _: () = {
    // The flag lives in what was padding: the drain line keeps its size.
    assert!(core::mem::size_of::<LaneDrainLine>() <= core::mem::size_of::<CachePadded<u64>>());
};

/// A lane's owner line: the owner word and the holder's process stamp, in bytes that were
/// the owner word's cache-line padding (zero in earlier version-2 writers, so the layout and
/// [`LANE_HEADER_SIZE`] are unchanged and 0 reads as "unknown").
#[repr(C)]
#[derive(Debug, Default)]
pub struct LaneOwner {
    /// [`lane_owner`]`(pid, tid)` or 0 (see [`LaneHeader::owner`]).
    pub word: AtomicU64,
    /// The holder's [`process_stamp`] (0: unknown). A taker stores it before its owner CAS
    /// publishes the lane as held, so a reader that sees the owner word sees this stamp or a
    /// later one; a stamp whose pid is not the owner's says nothing (a racing taker's).
    pub stamp: AtomicU64,
}

impl core::ops::Deref for LaneOwner {
    type Target = AtomicU64;
    fn deref(&self) -> &AtomicU64 {
        &self.word
    }
}

#[cfg(not(loom))]
const _: () = {
    // The stamp lives in what was padding: the lane header keeps its size (4 cache lines).
    assert!(core::mem::size_of::<LaneOwner>() <= core::mem::size_of::<CachePadded<u64>>());
    assert!(core::mem::offset_of!(LaneHeader, owner) == 0);
    assert!(LANE_HEADER_SIZE == 4 * core::mem::size_of::<CachePadded<u64>>() as u64);
};

/// A process stamp: `pid << 32 | (start time & 0xffff_ffff)`, the start time being field 22 of
/// `/proc/PID/stat` (clock ticks since boot). 0 means unknown; so does a start time whose low
/// 32 bits are 0. A pid and its start time name one process for as long as the host is up.
pub const fn process_stamp(pid: u32, start_ticks: u64) -> u64 {
    if start_ticks as u32 == 0 {
        0
    } else {
        (pid as u64) << 32 | (start_ticks as u32) as u64
    }
}

/// The owner word of a lane held by thread `tid` of process `pid`.
pub const fn lane_owner(pid: u32, tid: u32) -> u64 {
    (pid as u64) << 32 | tid as u64
}

/// The pid in a lane owner word.
pub const fn owner_pid(owner: u64) -> u32 {
    (owner >> 32) as u32
}

/// The tid in a lane owner word.
pub const fn owner_tid(owner: u64) -> u32 {
    owner as u32
}

/// Bytes of the lane table entry of one lane.
pub const LANE_HEADER_SIZE: u64 = core::mem::size_of::<LaneHeader>() as u64;

/// Cache-line padding used by [`SharedState`] on this host.
pub const LINE_SIZE: u32 = core::mem::align_of::<CachePadded<u8>>() as u32;

/// Why bytes are not a usable segment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    /// Shorter than a header page.
    #[error("file is too small to be a ringlog segment ({len} bytes)")]
    TooSmall {
        /// Bytes available.
        len: u64,
    },
    /// Wrong magic.
    #[error("not a ringlog segment (bad magic)")]
    NotASegment,
    /// Written by a different layout version.
    #[error("segment layout version {found}, this build reads version {expected}")]
    VersionMismatch {
        /// Version in the file.
        found: u32,
        /// Version we read.
        expected: u32,
    },
    /// Written on a host of the other byte order.
    #[error("segment was written on a host of the other byte order")]
    ForeignByteOrder,
    /// The creator has not finished (or died while) initialising it.
    #[error("segment is not initialised (its creator has not finished, or died)")]
    NotReady,
    /// Geometry fields are inconsistent.
    #[error("segment geometry is invalid: {0}")]
    BadGeometry(&'static str),
    /// The file is shorter than its geometry says.
    #[error("segment file is truncated: {len} bytes, geometry needs {needed}")]
    Truncated {
        /// Bytes available.
        len: u64,
        /// Bytes the geometry needs.
        needed: u64,
    },
}

/// The sizes a creator asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// Bytes per slot.
    pub slot_size: u32,
    /// Slots per lane.
    pub slot_count: u64,
    /// Lanes.
    pub lane_count: u32,
    /// Producer-table entries.
    pub producer_slots: u32,
    /// Callsite table bytes.
    pub callsite_size: u64,
    /// Callsite index slots.
    pub callsite_index_slots: u32,
    /// Most slots per record.
    pub max_span: u32,
}

fn page_up(n: u64) -> Option<u64> {
    n.checked_add(HEADER_SIZE - 1)
        .map(|n| n & !(HEADER_SIZE - 1))
}

impl Geometry {
    /// Checks the sizes and builds the header (clock fields zero, not ready).
    pub fn header(&self) -> Result<SegmentHeader, LayoutError> {
        let g = self;
        if !g.slot_size.is_power_of_two() || !(MIN_SLOT_SIZE..=MAX_SLOT_SIZE).contains(&g.slot_size)
        {
            return Err(LayoutError::BadGeometry(
                "slot size must be a power of two from 64 to 65536",
            ));
        }
        if !g.slot_count.is_power_of_two()
            || !(MIN_SLOT_COUNT..=MAX_SLOT_COUNT).contains(&g.slot_count)
        {
            return Err(LayoutError::BadGeometry(
                "slots per lane must be a power of two from 2 to 2^32",
            ));
        }
        if g.lane_count == 0 || g.lane_count > MAX_LANES {
            return Err(LayoutError::BadGeometry("lane count must be 1..=4096"));
        }
        if g.producer_slots == 0 || g.producer_slots > MAX_PRODUCER_SLOTS {
            return Err(LayoutError::BadGeometry(
                "producer table must have 1..=2^20 entries",
            ));
        }
        if !g.callsite_index_slots.is_power_of_two() {
            return Err(LayoutError::BadGeometry(
                "callsite index slots must be a power of two",
            ));
        }
        let min_table = callsite::entries_start(g.callsite_index_slots) as u64 + 64;
        if g.callsite_size < min_table
            || g.callsite_size % HEADER_SIZE != 0
            || g.callsite_size > u32::MAX as u64
        {
            return Err(LayoutError::BadGeometry(
                "callsite table must be a multiple of 4096 bytes, under 4 GiB, with room past its index",
            ));
        }
        if g.max_span == 0 || g.max_span > MAX_SPAN || g.max_span as u64 > (g.slot_count / 2).max(1)
        {
            return Err(LayoutError::BadGeometry(
                "max span must be 1..=15 and at most half a lane",
            ));
        }
        let overflow = LayoutError::BadGeometry("segment size overflows");
        let lane_bytes = (g.slot_size as u64)
            .checked_mul(g.slot_count)
            .ok_or(overflow.clone())?;
        let lane_stride = page_up(lane_bytes).ok_or(overflow.clone())?;
        let producers_bytes = page_up(g.producer_slots as u64 * 4).ok_or(overflow.clone())?;
        let lane_table_offset = PRODUCERS_OFFSET + producers_bytes;
        let lane_table_bytes =
            page_up(g.lane_count as u64 * LANE_HEADER_SIZE).ok_or(overflow.clone())?;
        let callsite_offset = lane_table_offset + lane_table_bytes;
        let ring_offset = callsite_offset
            .checked_add(g.callsite_size)
            .ok_or(overflow.clone())?;
        let total = lane_stride
            .checked_mul(g.lane_count as u64)
            .and_then(|b| b.checked_add(ring_offset))
            .ok_or(overflow)?;
        Ok(SegmentHeader {
            magic: MAGIC,
            version: VERSION,
            ready: 0,
            header_size: HEADER_SIZE as u32,
            slot_size: g.slot_size,
            slot_count: g.slot_count,
            callsite_offset,
            callsite_size: g.callsite_size,
            ring_offset,
            total_size: total,
            clock_kind: 0,
            line_size: LINE_SIZE,
            clock_raw0: 0,
            clock_unix_ns0: 0,
            clock_hz: 0,
            created_unix_ns: 0,
            creator_pid: 0,
            callsite_index_slots: g.callsite_index_slots,
            max_span: g.max_span,
            lane_count: g.lane_count,
            lane_table_offset,
            lane_stride,
            control_offset: CONTROL_OFFSET,
            producers_offset: PRODUCERS_OFFSET,
            producer_slots: g.producer_slots,
            reserved0: 0,
            reserved: [0; 12],
        })
    }
}

/// Validates a segment's first bytes (`bytes`, at least the header) against a file of
/// `file_len` bytes. Never panics, whatever the bytes.
pub fn validate(bytes: &[u8], file_len: u64) -> Result<SegmentHeader, LayoutError> {
    // The version sits at offset 8 in every layout: check it before anything whose size or
    // place changed between versions, so an old segment is named as such. (Every version's
    // header page is 4096 bytes, so an old segment always has the bytes we read.)
    if bytes.len() < SHARED_OFFSET || file_len < HEADER_SIZE {
        return Err(LayoutError::TooSmall { len: file_len });
    }
    if bytes[..8] != MAGIC {
        return Err(LayoutError::NotASegment);
    }
    let version = u32::from_ne_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    if version != VERSION {
        if version.swap_bytes() == VERSION {
            return Err(LayoutError::ForeignByteOrder);
        }
        return Err(LayoutError::VersionMismatch {
            found: version,
            expected: VERSION,
        });
    }
    let h: SegmentHeader = bytemuck::pod_read_unaligned(&bytes[..SHARED_OFFSET]);
    if h.ready != READY {
        return Err(LayoutError::NotReady);
    }
    if h.line_size != LINE_SIZE {
        return Err(LayoutError::BadGeometry(
            "segment was created with a different cache-line padding",
        ));
    }
    let expect = Geometry {
        slot_size: h.slot_size,
        slot_count: h.slot_count,
        lane_count: h.lane_count,
        producer_slots: h.producer_slots,
        callsite_size: h.callsite_size,
        callsite_index_slots: h.callsite_index_slots,
        max_span: h.max_span,
    }
    .header()?;
    if h.header_size as u64 != HEADER_SIZE
        || h.control_offset != expect.control_offset
        || h.callsite_offset != expect.callsite_offset
        || h.ring_offset != expect.ring_offset
        || h.total_size != expect.total_size
        || h.lane_table_offset != expect.lane_table_offset
        || h.lane_stride != expect.lane_stride
        || h.producers_offset != expect.producers_offset
    {
        return Err(LayoutError::BadGeometry("region offsets are inconsistent"));
    }
    if ClockKind::from_u32(h.clock_kind).is_none() {
        return Err(LayoutError::BadGeometry("unknown clock kind"));
    }
    if h.clock_kind == ClockKind::Tsc as u32 && h.clock_hz == 0 {
        return Err(LayoutError::BadGeometry("TSC clock with zero frequency"));
    }
    if file_len < h.total_size {
        return Err(LayoutError::Truncated {
            len: file_len,
            needed: h.total_size,
        });
    }
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geometry() -> Geometry {
        Geometry {
            slot_size: 64,
            slot_count: 1024,
            lane_count: 4,
            producer_slots: 1024,
            callsite_size: 65536,
            callsite_index_slots: 1024,
            max_span: 15,
        }
    }

    #[test]
    fn regions_are_page_aligned_and_in_order() {
        let h = geometry().header().unwrap();
        assert_eq!(h.control_offset, 4096);
        assert_eq!(h.producers_offset, 8192);
        for off in [
            h.lane_table_offset,
            h.callsite_offset,
            h.ring_offset,
            h.lane_stride,
        ] {
            assert_eq!(off % 4096, 0, "{h:?}");
        }
        assert!(h.producers_offset + 1024 * 4 <= h.lane_table_offset);
        assert!(h.lane_table_offset + 4 * LANE_HEADER_SIZE <= h.callsite_offset);
        assert_eq!(h.total_size, h.ring_offset + 4 * h.lane_stride);
    }

    fn valid_bytes() -> Vec<u8> {
        let mut h = geometry().header().unwrap();
        h.ready = READY;
        h.clock_kind = ClockKind::Realtime as u32;
        let mut b = bytemuck::bytes_of(&h).to_vec();
        b.resize(4096, 0);
        b
    }

    #[test]
    fn header_bytes_start_with_magic_then_version() {
        let b = valid_bytes();
        assert_eq!(&b[0..8], b"RINGLOG\0");
        assert_eq!(u32::from_ne_bytes(b[8..12].try_into().unwrap()), VERSION);
        assert_eq!(u32::from_ne_bytes(b[12..16].try_into().unwrap()), READY);
    }

    #[test]
    fn a_valid_header_validates() {
        let b = valid_bytes();
        let len = geometry().header().unwrap().total_size;
        let h = validate(&b, len).unwrap();
        assert_eq!(h.lane_count, 4);
        assert_eq!(h.slot_count, 1024);
    }

    #[test]
    fn each_kind_of_damage_has_its_own_error() {
        let len = geometry().header().unwrap().total_size;
        let mut b = valid_bytes();
        b[0] = b'X';
        assert_eq!(validate(&b, len), Err(LayoutError::NotASegment));
        let mut b = valid_bytes();
        b[8..12].copy_from_slice(&1u32.to_ne_bytes());
        assert_eq!(
            validate(&b, len),
            Err(LayoutError::VersionMismatch {
                found: 1,
                expected: 2
            })
        );
        assert_eq!(
            LayoutError::VersionMismatch {
                found: 1,
                expected: 2
            }
            .to_string(),
            "segment layout version 1, this build reads version 2"
        );
        let mut b = valid_bytes();
        b[8..12].copy_from_slice(&VERSION.swap_bytes().to_ne_bytes());
        assert_eq!(validate(&b, len), Err(LayoutError::ForeignByteOrder));
        let mut b = valid_bytes();
        b[12] = 0;
        assert_eq!(validate(&b, len), Err(LayoutError::NotReady));
        let b = valid_bytes();
        assert!(matches!(
            validate(&b, len - 1),
            Err(LayoutError::Truncated { .. })
        ));
        assert_eq!(validate(&b[..10], len), Err(LayoutError::TooSmall { len }));
        // A header whose control page is not where the layout puts it is refused, not misread.
        let mut b = valid_bytes();
        let at = core::mem::offset_of!(SegmentHeader, control_offset);
        b[at..at + 8].copy_from_slice(&0u64.to_ne_bytes());
        assert_eq!(
            validate(&b, len),
            Err(LayoutError::BadGeometry("region offsets are inconsistent"))
        );
        let mut b = valid_bytes();
        b[20..24].copy_from_slice(&100u32.to_ne_bytes());
        assert!(matches!(
            validate(&b, len),
            Err(LayoutError::BadGeometry(_))
        ));
    }
}
