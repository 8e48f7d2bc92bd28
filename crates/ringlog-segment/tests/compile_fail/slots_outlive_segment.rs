// The slot handle is neither Copy nor Clone and only lent out: it cannot be copied out of the
// ring to outlive the segment.
use ringlog_segment::{Segment, SegmentConfig};
use ringlog_wire::ring::Slots;

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let (seg, _) = Segment::create_or_open(&dir.path().join("r"), &SegmentConfig::default()).unwrap();
    let slots = *seg.lane(0).ring().slots();
    drop(seg);
    slots.seq(0);
}
