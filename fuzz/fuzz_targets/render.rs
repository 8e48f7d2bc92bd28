//! An arbitrary format string and arguments rendered in every format style.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ringlog_fuzz::wire_checks::check_render(data));
