//! The `reader_live` target's check: ringlog-segment's [`Reader`], holding a real drain lease
//! on a real segment file, drains a live ring while the input scribbles on the mapping between
//! reads and pushes records into its lanes.
//!
//! Input (see [`crate::input`]): a sequence of operations, each an opcode byte then its
//! operands, until the input is used up:
//!
//! | op % 6 | operands | does |
//! |---|---|---|
//! | 0 | region `u8`, offset `u32`, width `u8`, value `u64` | writes the value's low 1, 2, 4 or 8 bytes into the file at the offset taken modulo the region (shared state, control page, producer table, lane table, callsite table, slots, anywhere) |
//! | 1 | lane `u8`, count `u8`, callsite `u32`, args chunk | pushes up to 8 records (header + the args bytes) into the lane |
//! | 2 | max `u8` | one `poll` of at most `max + 1` events |
//! | 3 | — | `release` |
//! | 4 | lane `u8`, commit `u8` | claims and owns a slot, then commits it empty (odd) or drops it (even: a skip) |
//! | 5 | pid `u32`, tid `u32`, lane `u8` | writes a lane owner word (a held lane, possibly under a dead or foreign pid) |
//!
//! Asserted: no panic (a hang is a libFuzzer timeout); a poll hands out at most `max` events;
//! the reader's queues and buffers stay within a bound set by the largest poll, not by how long
//! it runs or what the bytes say ([`Reader::held`]); its cache of bad callsite ids stays at its
//! cap. (A first bound, "within the rings' size", was wrong: a bogus claim cursor's notice
//! takes no ring position, `regression-queue-over-ring`. Looking at that bound found that a
//! lane holding one record back at every poll kept every record it ever read in its buffer.) The stall policy's grace and intervals are zero, so every
//! stall path runs at once. A push is skipped while the lane's cursors are out of their
//! invariant (`read <= claim <= read + slots`): the producer is not under test here, and a push
//! over a claim cursor damaged far *below* the read cursor spins through those positions (see
//! RELIABILITY.md, "Known limits").

use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ringlog_segment::reader::{CallsiteCache, Event, Reader, StallPolicy};
use ringlog_segment::{Segment, SegmentConfig};
use ringlog_wire::layout;
use ringlog_wire::record::{Level, RecordHeader, RECORD_HEADER_LEN};

use crate::input::Input;

const LANES: u32 = 2;
const SLOTS: u64 = 64;
const SLOT_SIZE: u32 = 64;

/// Runs the operations in `data` against a fresh segment (see the module docs).
pub fn check_reader_live(data: &[u8]) {
    let dir = if std::path::Path::new("/dev/shm").is_dir() {
        tempfile::tempdir_in("/dev/shm")
    } else {
        tempfile::tempdir()
    }
    .expect("temp dir");
    let path = dir.path().join("ring");
    let config = SegmentConfig {
        slot_size: SLOT_SIZE,
        slot_count: SLOTS,
        lanes: LANES,
        producer_slots: 64,
        callsite_bytes: 64 * 1024,
        callsite_index_slots: 256,
        max_span: 4,
        preallocate: false,
        // No TSC calibration (a 20 ms spin per input).
        clock: ringlog_segment::ClockChoice::Realtime,
        ..SegmentConfig::default()
    };
    let (seg, _) = Segment::create_or_open(&path, &config).expect("create the segment");
    let me = std::process::id();
    seg.attach_producer(me);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open for scribbling");
    let h = *seg.header();
    let regions: [(u64, u64); 7] = [
        (layout::SHARED_OFFSET as u64, layout::HEADER_SIZE),
        (
            layout::CONTROL_OFFSET,
            layout::CONTROL_OFFSET + layout::CONTROL_SIZE,
        ),
        (h.producers_offset, h.lane_table_offset),
        (h.lane_table_offset, h.callsite_offset),
        (h.callsite_offset, h.ring_offset),
        (h.ring_offset, h.total_size),
        (0, h.total_size),
    ];
    let caches: Vec<AtomicU64> = (0..LANES).map(|_| AtomicU64::new(0)).collect();
    let mut reader = seg
        .acquire_drain()
        .expect("the lease")
        .reader()
        .with_policy(StallPolicy {
            grace: Duration::ZERO,
            liveness_interval: Duration::ZERO,
            merge_window: Duration::ZERO,
            // Fence at once: this process's records in flight with others behind them are
            // stepped over, so the input drives the fence and its lifting too.
            fence_after: Some(Duration::ZERO),
        });
    let mut input = Input::new(data);
    let mut ops = 0;
    // The largest `max` any poll was given: a lane queues at most one item past it.
    let mut max_seen = 1;
    while !input.is_empty() && ops < 4096 {
        ops += 1;
        match input.u8() % 6 {
            0 => {
                let (lo, hi) = regions[input.u8() as usize % regions.len()];
                let at = lo + input.u32() as u64 % (hi - lo);
                let width = [1usize, 2, 4, 8][input.u8() as usize % 4];
                let value = input.u64().to_le_bytes();
                let n = width.min((h.total_size - at) as usize);
                file.write_all_at(&value[..n], at).expect("scribble");
            }
            1 => {
                let lane = input.u8() as usize % LANES as usize;
                let count = input.u8() % 8 + 1;
                let callsite = input.u32();
                let args = input.chunk();
                let args = &args[..args.len().min(200)];
                if !cursors_sane(&seg, lane) {
                    continue;
                }
                let ring = seg.lane(lane).ring();
                for i in 0..count {
                    let header = RecordHeader {
                        timestamp: ringlog_segment::clock::now_raw(seg.clock_kind()),
                        callsite,
                        pid: me,
                        tid: i as u32,
                        len: args.len() as u16,
                        level: Level::Info as u8,
                        flags: 0,
                    };
                    let mut record = bytemuck::bytes_of(&header).to_vec();
                    record.extend_from_slice(args);
                    debug_assert_eq!(record.len(), RECORD_HEADER_LEN + args.len());
                    if ring.push(&record, me, &caches[lane]).is_err() {
                        break;
                    }
                }
            }
            2 => {
                let max = input.u8() as usize + 1;
                max_seen = max_seen.max(max);
                let mut events = 0;
                let r = reader.poll(max, |ev| {
                    events += 1;
                    if let Event::Record { record, .. } = ev {
                        assert!(record.payload.len() <= u16::MAX as usize);
                    }
                });
                assert!(
                    events <= max,
                    "{events} events from a poll of at most {max}"
                );
                assert_eq!(r.events, events);
                check_bounds(&reader, max_seen);
            }
            3 => reader.release(),
            4 => {
                let lane = input.u8() as usize % LANES as usize;
                let commit = input.u8() % 2 == 1;
                if !cursors_sane(&seg, lane) {
                    continue;
                }
                let ring = seg.lane(lane).ring();
                if let Ok(claim) = ring.claim(1, &caches[lane]) {
                    if let Ok(owned) = claim.own(me) {
                        if commit {
                            owned.commit();
                        }
                    }
                }
            }
            _ => {
                let pid = input.u32();
                let tid = input.u32();
                let lane = input.u8() as usize % LANES as usize;
                // SYNC: Relaxed; a scribble, like op 0 (through the lane header instead).
                seg.lane(lane)
                    .owner()
                    .store(layout::lane_owner(pid, tid), Ordering::Relaxed);
            }
        }
    }
    // Drain what is left: every poll returns, memory stays bounded.
    max_seen = max_seen.max(256);
    for _ in 0..64 {
        let r = reader.poll(256, |_| {});
        reader.release();
        check_bounds(&reader, max_seen);
        if r.idle {
            break;
        }
    }
}

/// Whether a lane's cursors are within their invariant (pushes are skipped otherwise).
fn cursors_sane(seg: &Segment, lane: usize) -> bool {
    let c = &seg.lane(lane).header().cursors;
    // SYNC: Relaxed; a single-threaded harness.
    let read = c.read.load(Ordering::Relaxed);
    let claim = c.claim.load(Ordering::Relaxed);
    claim >= read && claim - read <= SLOTS
}

/// The reader's memory stays bounded by what it may queue, whatever the bytes say and however
/// long it runs: a lane queues at most one item past the largest `max` a poll was given, each
/// record at most `max_span` slots, and its buffer keeps little beyond the queued records
/// (`LaneReader::compact`: at most 16 KiB or as much again as is live, plus one fill).
fn check_bounds(reader: &Reader<'_>, max_seen: usize) {
    let (items, bytes) = reader.held();
    let per_lane = max_seen + 1;
    assert!(
        items <= LANES as usize * per_lane,
        "{items} items queued (largest poll {max_seen})"
    );
    let record = 4 * SLOT_SIZE as usize;
    let lane_bytes = 2 * (32 * 1024 + 3 * per_lane * record);
    assert!(
        bytes <= LANES as usize * lane_bytes,
        "{bytes} bytes of buffers (largest poll {max_seen})"
    );
    assert!(reader.callsite_cache().bad_len() <= CallsiteCache::BAD_CAP);
}
