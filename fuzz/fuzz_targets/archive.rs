//! Arbitrary bytes as a binary archive (`ringdrain decode`'s input), and notices made of them
//! round-tripping through the archive encoder.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ringlog_fuzz::archive_checks::check_archive(data));
