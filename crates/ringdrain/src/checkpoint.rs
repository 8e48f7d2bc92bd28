//! The drain's checkpoint: no committed record lost, none written twice, across a drain crash.
//!
//! A batch's records stay in the ring until the batch is written. Around each write the drain
//! keeps a checkpoint in the segment's `DrainState`:
//!
//! 1. `begin`: store where the batch ends in each lane (the lane's `pending_end`), the output
//!    file's identity and length, the batch's length and a hash of its tail; then `pending = 1`
//!    (Release).
//! 2. write the batch to the file (whole, or the file is cut back).
//! 3. release the batch's slots and publish each lane's read cursor.
//! 4. `finish`: `pending = 0` (Release).
//!
//! A drain killed anywhere leaves one of these states, which [`reconcile`] resolves at start-up:
//! no pending batch (nothing to do); a batch whose slots were already released (clear the flag);
//! a batch fully in the file (skip its records in the ring); a batch partly in the file (cut the
//! file back to where it began, then write it again); a batch not in the file (write it again).
//! Writing to stdout cannot be checked: a batch pending there is written again (at least once).
//!
//! The same holds for the binary archive, whose batch is one chunk: its header is one line of
//! text (48 bytes ending in the chunk's only guaranteed newline, see [`crate::archive`]), so the
//! head hash covers the whole header with the payload's checksum, and a torn chunk is cut back
//! as a torn line is.

use std::sync::atomic::Ordering;

use ringlog_segment::reader::{Positions, Reader};
use ringlog_segment::Segment;
use ringlog_wire::callsite::fnv1a64;

use crate::sink::{FileId, Sink};

/// Bytes at the end of a batch whose hash identifies it.
const TAIL: usize = 256;

/// Most bytes at the start of a batch its head hash covers.
const HEAD: usize = 4096;

/// Hash of the last `TAIL` bytes of `batch` (cheap, and enough to recognise our own batch).
pub fn tail_hash(batch: &[u8]) -> u64 {
    fnv1a64(&batch[batch.len().saturating_sub(TAIL)..])
}

/// Hash of the head of `bytes`: up to and including its first newline, within the first
/// `HEAD` bytes (all of them if there is no newline there). Computed over a batch when it
/// is begun and over the file's bytes from `out_len_before` at reconciliation: equal only if
/// the file holds at least the batch's first line, as the drain wrote it.
pub fn head_hash(bytes: &[u8]) -> u64 {
    let head = &bytes[..bytes.len().min(HEAD)];
    let end = head
        .iter()
        .position(|&b| b == b'\n')
        .map_or(head.len(), |i| i + 1);
    fnv1a64(&head[..end])
}

/// The checkpoint's `out_batch_hash`: the head hash's low 32 bits above the tail hash's, so
/// a complete batch (tail) and a batch cut short (head) can each be proven ours.
fn batch_hash(batch: &[u8]) -> u64 {
    (head_hash(batch) << 32) | (tail_hash(batch) & 0xFFFF_FFFF)
}

/// Records a batch about to be written.
pub fn begin(seg: &Segment, end: &Positions, file: Option<(FileId, u64)>, batch: &[u8]) {
    let d = &seg.shared().drain;
    let (id, len) = file.unwrap_or((FileId { dev: 0, ino: 0 }, 0));
    // SYNC: Relaxed stores, published by the Release store of `pending` below; a restarted
    // drain reads them after its Acquire load of `pending` (and after the AcqRel CAS that
    // attached it, which pairs with this drain's detach or is ordered by its death).
    for (i, &e) in end.0.iter().enumerate() {
        seg.lane(i).header().pending_end.store(e, Ordering::Relaxed);
    }
    d.out_dev.store(id.dev, Ordering::Relaxed);
    d.out_ino.store(id.ino, Ordering::Relaxed);
    d.out_len_before.store(len, Ordering::Relaxed);
    d.out_batch_len.store(batch.len() as u64, Ordering::Relaxed);
    d.out_batch_hash.store(batch_hash(batch), Ordering::Relaxed);
    // SYNC: Release; pairs with the Acquire load in `reconcile`.
    d.pending.store(1, Ordering::Release);
}

/// The batch is written and released.
pub fn finish(seg: &Segment) {
    // SYNC: Release; pairs with the Acquire load in `reconcile`.
    seg.shared().drain.pending.store(0, Ordering::Release);
}

/// What start-up reconciliation found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reconciled {
    /// No batch was pending.
    Clean,
    /// The pending batch had been released already.
    AlreadyReleased,
    /// The pending batch was in the file; its records were skipped in the ring.
    Skipped {
        /// Ring positions skipped.
        positions: u64,
    },
    /// The pending batch was cut short in the file; the file was cut back and the batch will be
    /// written again.
    CutBack {
        /// Bytes removed.
        bytes: u64,
    },
    /// The pending batch was not in the file; it will be written again.
    Rewrite,
    /// The file is not the one the batch went to (rotated or replaced, or stdout): the batch
    /// will be written again, which may duplicate it.
    Unverifiable,
}

/// Resolves a batch left pending by a drain that died (see the module docs).
pub fn reconcile(
    seg: &Segment,
    sink: &mut Sink,
    reader: &mut Reader<'_>,
) -> std::io::Result<Reconciled> {
    let d = &seg.shared().drain;
    // SYNC: Acquire; pairs with the Release in `begin`.
    if d.pending.load(Ordering::Acquire) == 0 {
        return Ok(Reconciled::Clean);
    }
    // SYNC: Relaxed loads, ordered by the Acquire above.
    let end = Positions(
        (0..seg.lane_count())
            .map(|i| seg.lane(i).header().pending_end.load(Ordering::Relaxed))
            .collect(),
    );
    let id = FileId {
        dev: d.out_dev.load(Ordering::Relaxed),
        ino: d.out_ino.load(Ordering::Relaxed),
    };
    let before = d.out_len_before.load(Ordering::Relaxed);
    let batch_len = d.out_batch_len.load(Ordering::Relaxed);
    let hash = d.out_batch_hash.load(Ordering::Relaxed);
    let result = if reader.reached(&end) {
        Reconciled::AlreadyReleased
    } else {
        match sink {
            Sink::File(f) if f.id() == id => {
                // Nothing in the segment may authorise destroying bytes: the file is cut
                // back only over a tail whose head hash proves the drain wrote it, and
                // anything that does not add up (a length beyond the file, a hash that does
                // not match: a forged, stale or copied checkpoint) means "append and warn".
                let len = f.len();
                let batch_end = before.checked_add(batch_len);
                if len == before {
                    Reconciled::Rewrite
                } else if len < before || batch_end.is_none() {
                    Reconciled::Unverifiable
                } else if batch_end.is_some_and(|end| len < end) {
                    let head_len = ((len - before) as usize).min(HEAD);
                    let head = f.read_at(before, head_len)?;
                    // A write cut shorter than the batch's first line proves nothing: the
                    // torn bytes stay and the batch is written again after them.
                    if (head_hash(&head) & 0xFFFF_FFFF) == hash >> 32 {
                        f.truncate(before)?;
                        Reconciled::CutBack {
                            bytes: len - before,
                        }
                    } else {
                        Reconciled::Unverifiable
                    }
                } else {
                    let tail_len = (batch_len as usize).min(TAIL);
                    let tail = f.read_at(before + batch_len - tail_len as u64, tail_len)?;
                    if fnv1a64(&tail) & 0xFFFF_FFFF == hash & 0xFFFF_FFFF {
                        // Stops early at a lane that no longer holds what the checkpoint
                        // says (it was damaged) rather than wait forever.
                        let positions = reader.skip_to(&end);
                        reader.release();
                        Reconciled::Skipped { positions }
                    } else {
                        Reconciled::Unverifiable
                    }
                }
            }
            _ => Reconciled::Unverifiable,
        }
    };
    finish(seg);
    Ok(result)
}
