//! The ringload record and its callsite as the drain-side criterion benches build them
//! (`benches/drain.rs`, `benches/encoder.rs`), without a ring: the same bytes ringload's
//! producers write for `request {i} served in {lat} us by {worker}`.

use std::mem::MaybeUninit;

use ringlog_wire::args::Encoder;
use ringlog_wire::callsite::{CallsiteDesc, FormatStyle};
use ringlog_wire::record::{Level, RecordHeader};

/// The callsite id the fixture records carry.
pub const CALLSITE_ID: u32 = 64;

/// The description of ringload's callsite.
pub fn callsite_desc() -> CallsiteDesc<'static> {
    CallsiteDesc {
        level: Level::Info,
        style: FormatStyle::Brace,
        line: 42,
        target: "ringlog_benches::ringload",
        module: "ringlog_benches::ringload",
        file: "benches/src/ringload.rs",
        format: "request {} served in {} us by {}",
        fields: vec![],
        layout: "",
    }
}

/// Record `i` of thread `tid` (pid 4242) logged by `worker`, stamped `timestamp`, as record
/// bytes (header and arguments: `i`, `i / 4.0`, `worker`).
pub fn record(i: u64, worker: &str, tid: u32, timestamp: u64) -> Vec<u8> {
    let mut buf = [MaybeUninit::uninit(); 256];
    let mut e = Encoder::new(&mut buf);
    e.u64(i);
    e.f64(i as f64 / 4.0);
    e.str(worker);
    let h = RecordHeader {
        timestamp,
        callsite: CALLSITE_ID,
        pid: 4242,
        tid,
        len: e.len() as u16,
        level: Level::Info as u8,
        flags: 0,
    };
    let mut v = bytemuck::bytes_of(&h).to_vec();
    v.extend_from_slice(e.as_bytes());
    v
}
