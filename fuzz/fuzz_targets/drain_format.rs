//! An arbitrary record and callsite through ringdrain's text, JSON and logfmt formatter.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ringlog_fuzz::drain_checks::check_drain_format(data));
