// A raw consumer bypasses the lease, so building one is `unsafe`.
use ringlog_segment::{Segment, SegmentConfig};
use ringlog_wire::ring::Consumer;

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let (seg, _) = Segment::create_or_open(&dir.path().join("r"), &SegmentConfig::default()).unwrap();
    let _consumer = Consumer::new(seg.lane(0).ring());
}
