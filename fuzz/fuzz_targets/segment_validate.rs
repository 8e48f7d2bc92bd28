//! Arbitrary bytes as a segment: `layout::validate` and `Segment::open` on a file of them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringlog_fuzz::{drain_checks, wire_checks};

fuzz_target!(|data: &[u8]| {
    wire_checks::check_segment_validate(data);
    drain_checks::check_segment_open(data);
});
