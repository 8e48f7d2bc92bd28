//! ringlog-segment's `Reader`, under a real drain lease, draining a live ring while the input
//! scribbles on the mapping and pushes records: no panic, bounded polls, bounded memory.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ringlog_fuzz::reader_checks::check_reader_live(data));
