//! A minimal in-process drain for benchmarks: consumes records with
//! [`ringlog_segment::reader::Reader`], counts them, releases their slots and keeps the
//! segment's drain heartbeat fresh so `Policy::Block` producers wait instead of dropping.
//!
//! It decodes each record's header and resolves its callsite (the reader does that) but formats
//! and writes nothing, so it is faster than `ringdrain` writing a file: it measures the
//! producers, not the output path. Only one drain may be attached to a segment; [`Drain::attach`]
//! takes the segment's drain lease and refuses if a live drain (a `ringdrain`, say) holds it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ringlog_segment::clock::unix_ns;
use ringlog_segment::reader::{Event, Reader};
use ringlog_segment::Segment;

/// How often the heartbeat is refreshed (the segment's contract: at least every 100 ms).
const HEARTBEAT_EVERY: Duration = Duration::from_millis(10);

/// What a drain saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DrainStats {
    /// Records consumed.
    pub records: u64,
    /// Loss events reported by the reader (abandoned claims, damaged slots).
    pub lost_events: u64,
}

/// The segment's drain: its reader, which holds the segment's drain lease until dropped.
#[derive(Debug)]
pub struct Drain<'s> {
    reader: Reader<'s>,
}

impl<'s> Drain<'s> {
    /// Takes the segment's drain lease (from no drain or a dead one).
    pub fn attach(segment: &'s Segment) -> anyhow::Result<Drain<'s>> {
        let lease = segment.acquire_drain()?;
        Ok(Drain {
            reader: Reader::new(lease),
        })
    }

    /// Consumes until `stop` is set and the ring is empty up to the claim cursor, then gives
    /// the lease back.
    pub fn run(self, stop: &AtomicBool) -> DrainStats {
        let mut reader = self.reader;
        let hb = &reader.segment().shared().drain.heartbeat_ns;
        let mut stats = DrainStats::default();
        let mut last_beat = Instant::now();
        let mut idle_rounds = 0u32;
        loop {
            let r = reader.poll(4096, |ev| match ev {
                Event::Record { .. } => stats.records += 1,
                Event::Lost(_) => stats.lost_events += 1,
            });
            if reader.unreleased() > 0 {
                reader.release();
            }
            let now = Instant::now();
            if now.duration_since(last_beat) >= HEARTBEAT_EVERY {
                // SYNC: Relaxed; a liveness hint, read Relaxed by `Logger::drain_alive`.
                hb.store(unix_ns(), Ordering::Relaxed);
                last_beat = now;
            }
            if r.events > 0 {
                idle_rounds = 0;
                continue;
            }
            // SYNC: Relaxed; the flag orders nothing: we stop only once the ring is idle, and
            // the ring's own protocol orders the records we read.
            if r.idle && stop.load(Ordering::Relaxed) {
                return stats;
            }
            // Adaptive backoff: spin, then yield, then short sleeps.
            idle_rounds = idle_rounds.saturating_add(1);
            if idle_rounds < 64 {
                std::hint::spin_loop();
            } else if idle_rounds < 256 {
                std::thread::yield_now();
            } else {
                std::thread::sleep(Duration::from_micros(50));
            }
        }
    }
}
