//! The checks that need more than the wire crate: opening a segment file made of fuzzer bytes
//! (the second half of the `segment_validate` target) and the drain's formatter (the
//! `drain_format` target).
//!
//! Compiled as a module of the fuzz crate and by `crates/ringdrain/tests/fuzz_corpus.rs`
//! (through `#[path]`); it may use `ringlog_wire`, `ringlog_segment`, `ringdrain`,
//! `serde_json`, `tempfile`, `std`, `crate::input` and `crate::wire_checks`.

use std::io::Write;
use std::time::Duration;

use ringdrain::format::{Format, Formatter, NoticeValue};
use ringlog_segment::reader::CallsiteInfo;
use ringlog_segment::{OpenError, Segment, SegmentConfig};
use ringlog_wire::callsite::decode_callsite;
use ringlog_wire::decode::decode_record;
use ringlog_wire::layout;
use ringlog_wire::record::Level;

use crate::input::Input;
use crate::wire_checks::{read_calibration, record_tail, OwnedDesc};

/// Largest file a `segment_validate` input is grown to (sparse) so its header can validate.
pub const MAX_GROWN_FILE: u64 = 1 << 20;

/// Writes `data` to a temporary file, grown with zeros to the size its header claims when that
/// is at most [`MAX_GROWN_FILE`], and opens it with `Segment::open`: the result agrees with
/// `layout::validate` on the same bytes (same header, or the same error, or a header that
/// validates but ring cursors that do not), never a panic or a wait. An opened segment's views work: the ring's capacity, and every callsite id in the
/// table resolves or fails cleanly.
pub fn check_segment_open(data: &[u8]) {
    let mut file = tempfile::NamedTempFile::new().expect("temporary file");
    file.write_all(data).expect("write temporary file");
    let mut len = data.len() as u64;
    if data.len() >= layout::SHARED_OFFSET {
        let claimed = u64::from_ne_bytes(data[56..64].try_into().unwrap());
        if claimed > len && claimed <= MAX_GROWN_FILE {
            file.as_file()
                .set_len(claimed)
                .expect("grow temporary file");
            len = claimed;
        }
    }
    let config = SegmentConfig {
        open_timeout: Duration::ZERO,
        ..SegmentConfig::default()
    };
    let expected = layout::validate(data, len);
    match (Segment::open(file.path(), &config), expected) {
        (Ok(seg), Ok(h)) => {
            assert_eq!(*seg.header(), h);
            assert_eq!(seg.lane_count(), h.lane_count as usize);
            for i in 0..seg.lane_count() {
                assert_eq!(seg.lane(i).ring().capacity(), h.slot_count);
            }
            let _ = seg.calibration();
            let table = seg.callsites();
            assert!(table.used() <= h.callsite_size);
            let mut out = Vec::new();
            for id in table.ids() {
                if table.entry(id, &mut out).is_ok() {
                    let _ = decode_callsite(id, &out);
                }
            }
        }
        (Err(OpenError::Layout { source, .. }), Err(e)) => assert_eq!(source, e),
        // Past the header, `Segment::map` also refuses lane cursors that contradict each other.
        (
            Err(OpenError::CorruptCursors {
                claim, read, slots, ..
            }),
            Ok(h),
        ) => {
            assert_eq!(slots, h.slot_count);
            assert!(claim < read || claim - read > slots);
        }
        (got, want) => panic!("Segment::open gave {got:?}, layout::validate {want:?}"),
    }
}

/// Reads an arbitrary `CallsiteInfo`: an id, then an [`OwnedDesc`].
pub fn read_callsite_info(input: &mut Input<'_>) -> CallsiteInfo {
    let id = input.u32();
    let d = OwnedDesc::read(input);
    CallsiteInfo::new(id, &d.desc())
}

/// One output line: UTF-8, exactly one `'\n'`, at the end; JSON lines parse as an object with
/// the fields every line has.
pub fn check_line(out: &[u8], format: Format) {
    let s = std::str::from_utf8(out).expect("output is UTF-8");
    assert!(s.ends_with('\n'), "{format:?} line without newline: {s:?}");
    assert_eq!(
        s.matches('\n').count(),
        1,
        "{format:?} output is not one line: {s:?}"
    );
    if format == Format::Json {
        let v: serde_json::Value =
            serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}: JSON line {s:?}"));
        assert!(v.is_object(), "{s}");
        for key in ["ts", "level", "target", "msg"] {
            assert!(v[key].is_string(), "{key} in {s}");
        }
        assert!(v["pid"].is_u64() && v["tid"].is_u64(), "{s}");
        assert!(v["fields"].is_object(), "{s}");
    }
}

/// Formats the record at the start of `data` (if it decodes) with a callsite (none, an error,
/// or an arbitrary `CallsiteInfo`) and calibration read from the bytes past it, in every
/// format: one line each (see [`check_line`]); formatting again with the same formatter gives
/// the same bytes. Then a drain notice with arbitrary text and fields is one line too.
pub fn check_drain_format(data: &[u8]) {
    let Ok(record) = decode_record(data) else {
        return;
    };
    let mut input = Input::new(record_tail(data));
    let sel = input.u8() % 4;
    let info = read_callsite_info(&mut input);
    let err = input.string();
    let calibration = read_calibration(&mut input);
    let callsite = match sel {
        0 => Ok(None),
        1 => Err(err.as_str()),
        _ => Ok(Some(&info)),
    };
    let notice_ts = input.u64() as i64;
    let level = Level::ALL[input.u8() as usize % 5];
    let msg = input.string();
    let mut fields = Vec::new();
    for _ in 0..input.u8() % 4 {
        let key = input.string();
        let value = if input.u8() & 1 == 0 {
            Err(input.u64())
        } else {
            Ok(input.string())
        };
        fields.push((key, value));
    }
    let fields: Vec<(&str, NoticeValue<'_>)> = fields
        .iter()
        .map(|(k, v)| {
            let v = match v {
                Err(n) => NoticeValue::U64(*n),
                Ok(s) => NoticeValue::Str(s),
            };
            (k.as_str(), v)
        })
        .collect();
    for format in [Format::Text, Format::Json, Format::Logfmt] {
        let mut f = Formatter::new(format, calibration);
        f.set_notice_pid(record.header.pid);
        let mut out = Vec::new();
        f.record(&mut out, &record, callsite);
        check_line(&out, format);
        let mut again = Vec::new();
        f.record(&mut again, &record, callsite);
        assert_eq!(out, again, "formatting depends on the formatter's cache");
        let mut notice = Vec::new();
        f.notice(&mut notice, notice_ts, level, &msg, &fields);
        check_line(&notice, format);
        // After a line at another time, the cached date must not leak into this record's line.
        let mut after = Vec::new();
        f.record(&mut after, &record, callsite);
        assert_eq!(out, after, "formatting depends on the formatter's cache");
    }
}
