//! Arbitrary bytes as a record (decode, arguments, `OwnedRecord::decode`), and the argument
//! encoding's round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ringlog_fuzz::wire_checks::check_record_decode(data));
