// The slot handle cannot be cloned to outlive the segment either.
use ringlog_segment::{Segment, SegmentConfig};
use ringlog_wire::ring::Slots;

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let (seg, _) = Segment::create_or_open(&dir.path().join("r"), &SegmentConfig::default()).unwrap();
    let slots = seg.lane(0).ring().slots().clone();
    drop(seg);
    slots.seq(0);
}
