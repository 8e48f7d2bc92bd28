// A ring handle borrows its segment: the segment cannot be dropped (unmapped) while it is used.
use ringlog_segment::{Segment, SegmentConfig};

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let (seg, _) = Segment::create_or_open(&dir.path().join("r"), &SegmentConfig::default()).unwrap();
    let ring = seg.lane(0).ring();
    drop(seg);
    ring.capacity();
}
