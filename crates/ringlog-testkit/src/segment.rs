//! Helpers that open segments (feature `segment`): waiting for a drain to attach, standing in
//! as the drain in a test that reads the ring itself, a reader that never gives up on a living
//! producer.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ringlog_segment::clock::unix_ns;
use ringlog_segment::reader::{Event, Reader, StallPolicy};
use ringlog_segment::{Segment, SegmentConfig};
use ringlog_wire::args::Arg;

use crate::{wait_until, PATIENCE};

/// Waits until a drain has attached to the ring at `ring` (a `ringdrain` process installs its
/// signal handlers before it attaches); watchdog [`PATIENCE`]. Also waits for the ring to exist,
/// for a drain that creates it.
pub fn wait_attached(ring: &Path) {
    wait_until(
        &format!("no drain ever attached to {}", ring.display()),
        PATIENCE,
        || {
            ring.exists()
                && Segment::open(ring, &SegmentConfig::default()).is_ok_and(|seg| {
                    // SYNC: Relaxed; polling a value another process stores, nothing else is
                    // read through it.
                    seg.shared().drain.pid.load(Ordering::Relaxed) != 0
                })
        },
    );
}

/// Marks this process as the segment's live drain and refreshes its heartbeat, so that
/// producers with `Policy::Block` wait for room instead of dropping. Call it again while
/// reading, as a drain's heartbeat thread would.
pub fn act_as_drain(segment: &Segment) {
    let drain = &segment.shared().drain;
    // SYNC: Relaxed; producers read these as liveness hints only, nothing is published
    // through them.
    drain.pid.store(std::process::id(), Ordering::Relaxed);
    // SYNC: Relaxed; as above.
    drain.heartbeat_ns.store(unix_ns(), Ordering::Relaxed);
}

/// A reader that never revokes a living producer's claim, however long it is descheduled, so
/// that any loss a test sees is a real one.
pub fn patient_reader(segment: &Segment) -> Reader<'_> {
    Reader::new(segment).with_policy(StallPolicy {
        grace: Duration::from_secs(600),
        liveness_interval: Duration::from_millis(10),
    })
}

/// Reads `segment` as its drain while producers run: stands in as the drain
/// ([`act_as_drain`]), polls a [`patient_reader`] and hands every event to `on_event`, until
/// `finished()` (asked before each poll) said the producers are done and the ring was then
/// found empty. Returns the reader; its position tells how many slots were consumed.
pub fn read_while_producing<'s>(
    segment: &'s Segment,
    mut finished: impl FnMut() -> bool,
    mut on_event: impl FnMut(Event<'_>),
) -> Reader<'s> {
    let mut reader = patient_reader(segment);
    loop {
        act_as_drain(segment);
        let done = finished();
        let r = reader.poll(4096, &mut on_event);
        reader.release();
        if done && r.idle {
            return reader;
        }
        if r.idle || r.stalled {
            std::thread::sleep(Duration::from_micros(100));
        }
    }
}

/// The value of a `u64` argument; fails the test on any other kind.
pub fn u64_arg(arg: &Arg<'_>) -> u64 {
    match arg {
        Arg::U64(v) => *v,
        other => panic!("expected a u64, got {other:?}"),
    }
}
