//! Arbitrary bytes as callsite content, a callsite description's round trip, and a damaged
//! callsite table.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ringlog_fuzz::wire_checks::check_callsite_decode(data));
