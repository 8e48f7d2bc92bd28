//! `ringdrain decode --format-threads 2` against one thread, on a large archive with arbitrary
//! bytes written over it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ringlog_fuzz::archive_checks::check_parallel_decode(data));
