//! Helpers that open segments (feature `segment`): waiting for a drain to attach, standing in
//! as the drain in a test that reads the ring itself, a reader that never gives up on a living
//! producer.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ringlog_segment::clock::unix_ns;
use ringlog_segment::reader::{Event, Reader, StallPolicy};
use ringlog_segment::{DrainLease, Segment, SegmentConfig};
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

/// Takes the segment's drain lease for this process (failing the test if another drain holds
/// it) and refreshes the drain heartbeat, so that producers with `Policy::Block` wait for room
/// instead of dropping. Keep the lease while reading; refresh the heartbeat with [`heartbeat`]
/// as a drain's heartbeat thread would.
pub fn act_as_drain(segment: &Segment) -> DrainLease<'_> {
    let lease = segment
        .acquire_drain()
        .unwrap_or_else(|e| panic!("the test cannot act as the drain: {e}"));
    heartbeat(segment);
    lease
}

/// Refreshes the drain heartbeat of `segment` (whose lease this process holds).
pub fn heartbeat(segment: &Segment) {
    // SYNC: Relaxed; producers read it as a liveness hint only, nothing is published
    // through it.
    segment
        .shared()
        .drain
        .heartbeat_ns
        .store(unix_ns(), Ordering::Relaxed);
}

/// A reader that never revokes a living producer's claim, however long it is descheduled, so
/// that any loss a test sees is a real one.
pub fn patient_reader(lease: DrainLease<'_>) -> Reader<'_> {
    Reader::new(lease).with_policy(StallPolicy {
        grace: Duration::from_secs(600),
        liveness_interval: Duration::from_millis(10),
        ..StallPolicy::default()
    })
}

/// Reads as the drain holding `lease` while producers run: polls a [`patient_reader`], keeps
/// the heartbeat fresh and hands every event to `on_event`, until `finished()` (asked before
/// each poll) said the producers are done and the ring was then found empty. Returns the
/// reader; its positions tell how many slots were consumed.
pub fn read_while_producing<'s>(
    lease: DrainLease<'s>,
    mut finished: impl FnMut() -> bool,
    mut on_event: impl FnMut(Event<'_>),
) -> Reader<'s> {
    let mut reader = patient_reader(lease);
    loop {
        heartbeat(reader.segment());
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
