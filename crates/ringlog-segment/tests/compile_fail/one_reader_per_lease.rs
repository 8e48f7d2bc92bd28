// A drain lease makes exactly one reader: the reader takes the lease by value.
use ringlog_segment::reader::Reader;
use ringlog_segment::{Segment, SegmentConfig};

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let (seg, _) = Segment::create_or_open(&dir.path().join("r"), &SegmentConfig::default()).unwrap();
    let lease = seg.acquire_drain().unwrap();
    let _first = Reader::new(lease);
    let _second = Reader::new(lease);
}
