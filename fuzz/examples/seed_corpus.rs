//! Writes the seed inputs of every fuzz target into `fuzz/corpus/<target>/seed-<name>`.
//!
//! `cargo run --example seed_corpus` (from `fuzz/`; stable works). Seeds are meaningful inputs:
//! valid headers, real segments, valid records in every argument type, callsites and format
//! strings from the tests, and the edge cases each decoder has a branch for. Running it again
//! rewrites the same files.

use std::mem::MaybeUninit;
use std::path::{Path, PathBuf};

use ringlog_fuzz::input::Builder;
use ringlog_segment::{Segment, SegmentConfig};
use ringlog_wire::args::Encoder;
use ringlog_wire::callsite::{encode_callsite, CallsiteDesc, FormatStyle};
use ringlog_wire::clock::ClockKind;
use ringlog_wire::layout::{self, Geometry, SegmentHeader};
use ringlog_wire::record::{Level, RecordHeader, FLAG_TRUNCATED};

fn corpus(target: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(target: &str, name: &str, bytes: &[u8]) {
    std::fs::write(corpus(target).join(format!("seed-{name}")), bytes).unwrap();
}

/// A hand-made input reproducing a bug that was fixed (the fuzzers' own finds are committed as
/// they found them, also named `regression-*`).
fn regression(target: &str, name: &str, bytes: &[u8]) {
    std::fs::write(corpus(target).join(format!("regression-{name}")), bytes).unwrap();
}

// --- Input-format writers (mirror `wire_checks::TypedArg::read` and `OwnedDesc::read`) -------

/// A typed argument in the `TypedArg::read` format.
enum T<'a> {
    U8(u8),
    U16(u16),
    U32(u32),
    U64(u64),
    U128(u128),
    I8(i8),
    I16(i16),
    I32(i32),
    I64(i64),
    I128(i128),
    F32(f32),
    F64(f64),
    Bool(bool),
    Char(char),
    Str(&'a str),
    Bytes(&'a [u8]),
    Display(&'a str),
    None,
    Usize(u64),
    Isize(i64),
    OptU32(Option<u32>),
    /// A `Str` made with a repeat chunk: `unit` repeated to `len` bytes.
    LongStr(usize, &'a str),
}

fn typed(b: &mut Builder, args: &[T<'_>]) {
    for a in args {
        match a {
            T::U8(v) => b.u8(0).u8(*v),
            T::U16(v) => b.u8(1).u16(*v),
            T::U32(v) => b.u8(2).u32(*v),
            T::U64(v) => b.u8(3).u64(*v),
            T::U128(v) => b.u8(4).u128(*v),
            T::I8(v) => b.u8(5).u8(*v as u8),
            T::I16(v) => b.u8(6).u16(*v as u16),
            T::I32(v) => b.u8(7).u32(*v as u32),
            T::I64(v) => b.u8(8).u64(*v as u64),
            T::I128(v) => b.u8(9).u128(*v as u128),
            T::F32(v) => b.u8(10).u32(v.to_bits()),
            T::F64(v) => b.u8(11).u64(v.to_bits()),
            T::Bool(v) => b.u8(12).u8(*v as u8),
            T::Char(v) => b.u8(13).u32(*v as u32),
            T::Str(s) => b.u8(14).string(s),
            T::Bytes(v) => b.u8(15).chunk(v),
            T::Display(s) => b.u8(16).string(s),
            T::None => b.u8(17),
            T::Usize(v) => b.u8(18).u64(*v),
            T::Isize(v) => b.u8(19).u64(*v as u64),
            T::OptU32(None) => b.u8(20).u8(0),
            T::OptU32(Some(v)) => b.u8(20).u8(1).u32(*v),
            T::LongStr(len, unit) => b.u8(14).repeat(*len, unit.as_bytes()),
        };
    }
}

struct Desc<'a> {
    level: Level,
    style: FormatStyle,
    line: u32,
    target: &'a str,
    file: &'a str,
    format: &'a str,
    fields: &'a [&'a str],
}

fn desc<'a>(style: FormatStyle, format: &'a str, fields: &'a [&'a str]) -> Desc<'a> {
    Desc {
        level: Level::Info,
        style,
        line: 17,
        target: "app::http",
        file: "src/http.rs",
        format,
        fields,
    }
}

fn owned_desc(b: &mut Builder, d: &Desc<'_>) {
    let style = match d.style {
        FormatStyle::Brace => 0,
        FormatStyle::Percent => 1,
        FormatStyle::Literal => 2,
    };
    b.u8(d.level as u8 - 1).u8(style).u32(d.line);
    b.string(d.target)
        .string(d.target)
        .string(d.file)
        .string(d.format);
    b.u8(d.fields.len() as u8);
    for f in d.fields {
        b.string(f);
    }
}

fn calibration(b: &mut Builder, kind: ClockKind, raw0: u64, unix_ns0: u64, hz: u64) {
    b.u8(if kind == ClockKind::Realtime { 0 } else { 1 })
        .u64(raw0)
        .u64(unix_ns0)
        .u64(hz);
}

// --- Records -----------------------------------------------------------------------------------

const T0: u64 = 1_764_112_733_000_000_007; // 2025-11-25T23:18:53.000000007Z

fn record(
    ts: u64,
    callsite: u32,
    level: u8,
    flags: u8,
    args: impl FnOnce(&mut Encoder<'_>),
) -> Vec<u8> {
    let mut buf = [MaybeUninit::uninit(); 1024];
    let mut e = Encoder::new(&mut buf);
    args(&mut e);
    let h = RecordHeader {
        timestamp: ts,
        callsite,
        pid: 4242,
        tid: 4243,
        len: e.len() as u16,
        level,
        flags,
    };
    let mut v = bytemuck::bytes_of(&h).to_vec();
    v.extend_from_slice(e.as_bytes());
    v
}

fn served() -> Vec<u8> {
    record(T0, 64, Level::Info as u8, 0, |e| {
        e.u64(7);
        e.f64(1.75);
        e.str("p0-t1");
        e.u16(200);
        e.f64(1.5);
    })
}

fn all_kinds() -> Vec<u8> {
    record(T0 + 5, 64, Level::Info as u8, 0, |e| {
        e.u8(255);
        e.u16(65535);
        e.u32(u32::MAX);
        e.u64(u64::MAX);
        e.u128(u128::MAX);
        e.i8(-128);
        e.i16(-32768);
        e.i32(i32::MIN);
        e.i64(i64::MIN);
        e.i128(i128::MIN);
        e.f32(0.1);
        e.f64(f64::NAN);
        e.bool(true);
        e.char('λ');
        e.str("hé \"quoted\"\n");
        e.bytes(&[0, 1, 255]);
        e.display_str("shown");
        e.none();
    })
}

/// Record-shaped seeds shared by `record_decode` and `drain_format` (the tail differs).
fn records() -> Vec<(&'static str, Vec<u8>)> {
    let hostile = record(T0 + 1_000_000_000, 64, Level::Warn as u8, 0, |e| {
        e.str("line1\nline2 \"quoted\" \u{7}bell é\r\u{7f}");
        e.str("a=b c");
    });
    // The same record with a damaged tail argument (bad UTF-8 in the second string).
    let mut bad_utf8 = hostile.clone();
    let n = bad_utf8.len();
    bad_utf8[n - 2] = 0xFF;
    let mut bad_tag = served();
    bad_tag[24] = 99;
    let mut bad_bool = record(T0, 64, 3, 0, |e| e.bool(true));
    bad_bool[25] = 2;
    let mut bad_char = record(T0, 64, 3, 0, |e| e.char('x'));
    bad_char[25..29].copy_from_slice(&0xD800u32.to_le_bytes());
    let mut short_arg = served();
    short_arg[20] = 5; // payload ends inside the f64
    let mut bad_level = served();
    bad_level[22] = 9;
    let mut bad_flags = served();
    bad_flags[23] = 0x80;
    let mut incomplete = served();
    incomplete[20] = 200;
    vec![
        ("served", served()),
        ("all-kinds", all_kinds()),
        ("hostile-strings", hostile),
        (
            "truncated-flag",
            record(T0 + 2, 64, Level::Error as u8, FLAG_TRUNCATED, |e| {
                e.str("only")
            }),
        ),
        (
            "callsite-zero",
            record(T0 + 4, 0, Level::Trace as u8, 0, |e| {
                e.str("raw message");
                e.bool(true);
            }),
        ),
        (
            "many-args",
            record(T0, 64, Level::Debug as u8, 0, |e| {
                for i in 0..40 {
                    e.u8(i);
                }
            }),
        ),
        ("empty-payload", record(0, 64, Level::Info as u8, 0, |_| {})),
        (
            "far-future",
            record(u64::MAX, 64, Level::Info as u8, 0, |e| e.str("ts")),
        ),
        ("bad-utf8", bad_utf8),
        ("bad-tag", bad_tag),
        ("bad-bool", bad_bool),
        ("bad-char", bad_char),
        ("short-arg", short_arg),
        ("bad-level", bad_level),
        ("bad-flags", bad_flags),
        ("incomplete-payload", incomplete),
        ("incomplete-header", served()[..10].to_vec()),
    ]
}

fn record_decode_seeds() {
    let served_cs = desc(
        FormatStyle::Brace,
        "request {} served in {} us by {}",
        &["status", "ms"],
    );
    for (i, (name, rec)) in records().into_iter().enumerate() {
        let mut b = Builder::new();
        b.raw(&rec);
        // Callsite selector: cycle through none / error / description.
        b.u8(i as u8 % 4);
        owned_desc(&mut b, &served_cs);
        b.string("unknown callsite id 999");
        calibration(&mut b, ClockKind::Realtime, 0, 0, 0);
        // Round trip: buffer size, then typed arguments.
        b.length(56);
        typed(&mut b, &[T::U64(7), T::F64(1.75), T::Str("p0-t1")]);
        write("record_decode", name, &b.out);
    }
    // Round-trip seeds (the record part is a minimal valid record).
    let empty = record(0, 0, 3, 0, |_| {});
    let roundtrips: Vec<(&str, usize, Vec<T<'_>>)> = vec![
        (
            "roundtrip-every-type",
            4096,
            vec![
                T::U8(1),
                T::U16(2),
                T::U32(3),
                T::U64(u64::MAX),
                T::U128(u128::MAX),
                T::I8(-1),
                T::I16(-2),
                T::I32(-3),
                T::I64(i64::MIN),
                T::I128(i128::MIN),
                T::F32(f32::NAN),
                T::F64(-0.0),
                T::Bool(true),
                T::Char('\u{10FFFF}'),
                T::Str("héllo"),
                T::Bytes(&[0, 255]),
                T::Display("shown"),
                T::None,
                T::Usize(usize::MAX as u64),
                T::Isize(-1),
                T::OptU32(None),
                T::OptU32(Some(9)),
            ],
        ),
        (
            "roundtrip-cut-at-char-boundary",
            9,
            vec![T::U8(1), T::Str("aé€😀 tail")],
        ),
        (
            "roundtrip-fixed-does-not-fit",
            10,
            vec![T::U32(1), T::U64(2), T::U8(3)],
        ),
        (
            "roundtrip-u16-length-limit",
            131_071,
            vec![T::LongStr(70_000, "é€"), T::U8(1)],
        ),
        ("roundtrip-zero-capacity", 0, vec![T::None, T::Str("")]),
        (
            "roundtrip-nan-payloads",
            64,
            vec![
                T::F64(f64::from_bits(0x7FF8_0000_0000_0001)),
                T::F32(f32::from_bits(0xFFC0_0001)),
                T::F64(f64::INFINITY),
            ],
        ),
    ];
    // Encoder::var wrote an empty string's tag and length (3 bytes) past a buffer with less
    // than 3 bytes left.
    let mut b = Builder::new();
    b.raw(&empty).u8(0);
    owned_desc(&mut b, &desc(FormatStyle::Literal, "", &[]));
    b.string("");
    calibration(&mut b, ClockKind::Realtime, 0, 0, 0);
    b.length(16);
    typed(
        &mut b,
        &[
            T::I32(0),
            T::U32(0),
            T::U8(0),
            T::U8(0),
            T::I8(0),
            T::Str(""),
        ],
    );
    regression("record_decode", "empty-string-in-a-full-buffer", &b.out);
    for (name, cap, args) in roundtrips {
        let mut b = Builder::new();
        b.raw(&empty);
        b.u8(0);
        owned_desc(&mut b, &desc(FormatStyle::Literal, "", &[]));
        b.string("");
        calibration(&mut b, ClockKind::Realtime, 0, 0, 0);
        b.length(cap);
        typed(&mut b, &args);
        write("record_decode", name, &b.out);
    }
}

// --- Segments ------------------------------------------------------------------------------------

fn small_geometry() -> Geometry {
    Geometry {
        slot_size: 64,
        slot_count: 4,
        lane_count: 2,
        producer_slots: 16,
        callsite_size: 4096,
        callsite_index_slots: 256,
        max_span: 2,
    }
}

fn header_page(h: &SegmentHeader) -> Vec<u8> {
    let mut b = bytemuck::bytes_of(h).to_vec();
    b.resize(layout::HEADER_SIZE as usize, 0);
    b
}

fn ready(g: Geometry) -> SegmentHeader {
    let mut h = g.header().unwrap();
    h.ready = layout::READY;
    h.clock_kind = ClockKind::Realtime as u32;
    h
}

fn segment_seeds() {
    let t = "segment_validate";
    let h = ready(small_geometry());
    write(t, "valid-realtime-header-page", &header_page(&h));
    write(t, "valid-header-only", bytemuck::bytes_of(&h));
    let mut tsc = h;
    tsc.clock_kind = ClockKind::Tsc as u32;
    tsc.clock_hz = 3_000_000_000;
    write(t, "valid-tsc-header-page", &header_page(&tsc));
    let mut x = tsc;
    x.clock_hz = 0;
    write(t, "tsc-zero-hz", &header_page(&x));
    let mut x = h;
    x.clock_kind = 7;
    write(t, "unknown-clock", &header_page(&x));
    let mut x = h;
    x.ready = 0;
    write(t, "not-ready", &header_page(&x));
    let mut x = h;
    x.version = 1;
    write(t, "version-1", &header_page(&x));
    let mut x = h;
    x.version = layout::VERSION.swap_bytes();
    write(t, "foreign-byte-order", &header_page(&x));
    let mut x = h;
    x.magic = *b"RINGLOX\0";
    write(t, "bad-magic", &header_page(&x));
    let mut x = h;
    x.slot_size = 100;
    write(t, "slot-size-not-power-of-two", &header_page(&x));
    let mut x = h;
    x.ring_offset += 4096;
    write(t, "offsets-inconsistent", &header_page(&x));
    let mut x = h;
    x.line_size = 64 + 128 - layout::LINE_SIZE;
    write(t, "other-line-size", &header_page(&x));
    let big = ready(Geometry {
        slot_size: 65536,
        slot_count: 1 << 32,
        lane_count: 4096,
        producer_slots: 1 << 20,
        callsite_size: 1 << 20,
        callsite_index_slots: 8192,
        max_span: 15,
    });
    write(t, "huge-geometry-truncated", &header_page(&big));
    write(t, "too-small", b"RINGLOG\0\x01\0\0\0");
    write(t, "empty", b"");

    // A real segment: created, two callsites registered, a record pushed.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seg");
    let config = SegmentConfig {
        slot_size: 64,
        slot_count: 4,
        lanes: 2,
        producer_slots: 16,
        callsite_bytes: 4096,
        callsite_index_slots: 256,
        max_span: 2,
        ..SegmentConfig::default()
    };
    let (seg, _) = Segment::create_or_open(&path, &config).unwrap();
    let table = seg.callsites();
    let a = CallsiteDesc {
        level: Level::Info,
        style: FormatStyle::Brace,
        line: 42,
        target: "app::db",
        module: "app::db",
        file: "src/db.rs",
        format: "query {} took {}",
        fields: vec!["status", "ms"],
        layout: "",
    };
    let id = table.register(&a).unwrap();
    table
        .register(&CallsiteDesc {
            format: "%s took %d ms",
            style: FormatStyle::Percent,
            ..a.clone()
        })
        .unwrap();
    let rec = record(T0, id, Level::Info as u8, 0, |e| {
        e.str("select 1");
        e.f64(0.5);
    });
    seg.lane(1)
        .ring()
        .push(&rec, 4242, &std::sync::atomic::AtomicU64::new(0))
        .unwrap();
    drop(seg);
    let real = std::fs::read(&path).unwrap();
    write(t, "real-segment", &real);
    // The same segment with lane 1's claim cursor damaged.
    let h: SegmentHeader = bytemuck::pod_read_unaligned(&real[..layout::SHARED_OFFSET]);
    let claim = h.lane_table_offset as usize
        + layout::LANE_HEADER_SIZE as usize
        + core::mem::offset_of!(layout::LaneHeader, cursors);
    let mut damaged = real;
    damaged[claim..claim + 8].copy_from_slice(&u64::MAX.to_ne_bytes());
    write(t, "real-segment-corrupt-cursors", &damaged);
}

// --- Callsites -------------------------------------------------------------------------------------

fn callsite_seeds() {
    let t = "callsite_decode";
    let descs = [
        (
            "encoded-brace",
            CallsiteDesc {
                level: Level::Info,
                style: FormatStyle::Brace,
                line: 42,
                target: "app::db",
                module: "app::db",
                file: "src/db.rs",
                format: "query {} took {}",
                fields: vec!["status", "ms"],
                layout: "",
            },
        ),
        (
            "encoded-percent-unicode",
            CallsiteDesc {
                level: Level::Warn,
                style: FormatStyle::Percent,
                line: u32::MAX,
                target: "café",
                module: "",
                file: "/tmp/☃.py",
                format: "%s took %.2f%%",
                fields: vec![],
                layout: "",
            },
        ),
        (
            "encoded-literal-empty",
            CallsiteDesc {
                level: Level::Trace,
                style: FormatStyle::Literal,
                line: 0,
                target: "",
                module: "",
                file: "",
                format: "",
                fields: vec!["", "x"],
                layout: "",
            },
        ),
    ];
    for (name, d) in &descs {
        let mut b = Vec::new();
        encode_callsite(d, &mut b).unwrap();
        write(t, name, &b);
        let mut cut = b.clone();
        cut.pop();
        write(t, &format!("{name}-cut"), &cut);
    }

    // Input-format seeds: a description, then a table to damage.
    let table_ops = |b: &mut Builder, mode: u8, garbage: &[(u32, &[u8])], ids: &[u32]| {
        b.u16(502).u8(4).u8(mode); // 512 words (4 KiB), 16 index slots
        if mode & 2 != 0 {
            b.u8(2);
            owned_desc(b, &desc(FormatStyle::Brace, "a {}", &["k"]));
            owned_desc(b, &desc(FormatStyle::Percent, "b %s", &[]));
        }
        b.u8(garbage.len() as u8);
        for (off, bytes) in garbage {
            b.u32(*off).chunk(bytes);
        }
        b.u8(ids.len() as u8);
        for id in ids {
            b.u32(*id);
        }
        if mode & 4 != 0 {
            owned_desc(b, &desc(FormatStyle::Brace, "c {} {}", &[]));
        }
    };
    // (name, mode, garbage writes, extra ids)
    type TableCase<'a> = (&'a str, u8, Vec<(u32, &'a [u8])>, Vec<u32>);
    let cases: Vec<TableCase<'_>> = vec![
        ("table-honest", 1 | 2 | 4, vec![], vec![192, 0, 3, u32::MAX]),
        ("table-uninitialised", 2 | 4, vec![], vec![0, 8]),
        // Entry header damaged: a bad length, then a hash that does not match.
        (
            "table-bad-entry-length",
            1 | 2,
            vec![(192, &[0xFF, 0xFF, 0xFF, 0x7F])],
            vec![192],
        ),
        (
            "table-bad-hash",
            1 | 2,
            vec![(200, &[1, 2, 3, 4, 5, 6, 7, 8])],
            vec![192],
        ),
        // A damaged `used`: near u64::MAX (register's `off + len` overflowed), below the
        // entries (register wrote its entry over the table header and returned id 0), and
        // misaligned (register returned an id `entry` rejects).
        (
            "regression-table-used-near-u64-max",
            1 | 4,
            vec![(0, &[0xF8, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])],
            vec![],
        ),
        (
            "regression-table-used-below-entries",
            1 | 4,
            vec![(0, &[0; 8])],
            vec![],
        ),
        (
            "regression-table-used-misaligned",
            1 | 4,
            vec![(0, &[0xC1, 0, 0, 0, 0, 0, 0, 0])],
            vec![],
        ),
        // The index points at garbage.
        (
            "table-bad-index",
            1 | 2 | 4,
            vec![(64, &[0xA8, 0, 0, 0, 0xEF, 0xBE, 0xAD, 0xDE])],
            vec![],
        ),
    ];
    for (name, mode, garbage, ids) in cases {
        let mut b = Builder::new();
        owned_desc(
            &mut b,
            &desc(FormatStyle::Brace, "request {} served", &["status"]),
        );
        table_ops(&mut b, mode, &garbage, &ids);
        match name.strip_prefix("regression-") {
            Some(name) => regression(t, name, &b.out),
            None => write(t, name, &b.out),
        }
    }
    let mut b = Builder::new();
    b.u8(0).u8(0).u32(1).string("t").string("m").string("f");
    b.repeat(70_000, "é".as_bytes());
    b.u8(0);
    write(t, "desc-too-long", &b.out);
}

// --- Render ----------------------------------------------------------------------------------------

fn render_seeds() {
    let cases: Vec<(&str, &str, Vec<T<'_>>)> = vec![
        (
            "served",
            "request {} served in {} us by {}",
            vec![T::U64(7), T::F64(1.75), T::Str("p0-t1"), T::U16(200)],
        ),
        (
            "specs",
            "{:?} {:x} {:#06x} {:>5}|{:<4}|{:^5}|{:.2} {:+} {:08.3}",
            vec![
                T::Str("a\"b"),
                T::U64(255),
                T::U64(255),
                T::Str("ab"),
                T::U64(7),
                T::Char('c'),
                T::F64(1.23456),
                T::I64(5),
                T::F64(-2.5),
            ],
        ),
        (
            "more-specs",
            "{:#b} {:o} {:X} {:e} {:E} {:.3e} {:x?} {:*^9} {:#?} {:+.1} {:.0}",
            vec![
                T::U128(u128::MAX),
                T::I8(-8),
                T::I128(i128::MIN),
                T::U32(1500),
                T::F32(1e-7),
                T::F64(123456.789),
                T::Bytes(&[1, 2]),
                T::Char('€'),
                T::None,
                T::F32(f32::NEG_INFINITY),
                T::F64(f64::NAN),
            ],
        ),
        (
            "escapes-and-problems",
            "{{}} {} x {0} y {:q} z {:.} {",
            vec![T::Bool(true), T::U8(1)],
        ),
        ("missing-args", "a {} b {} c {:>3}", vec![T::U8(1)]),
        (
            "widest-clamped",
            "{:99999} {:.99999} {:<4096.1024} {:0>4096}",
            vec![T::Str("x"), T::F64(1e300), T::Display("d"), T::I64(-1)],
        ),
        (
            "percent",
            "%s took %d ms (%.2f%%) %r %i %x %F %5.1f %q %",
            vec![
                T::Str("job"),
                T::I64(12),
                T::F64(99.5),
                T::Str("x"),
                T::F64(-3.9),
                T::U64(255),
                T::U32(3),
                T::I32(-7),
            ],
        ),
        (
            "percent-precision",
            "%.1024f %.30f",
            vec![T::F64(1e300), T::U64(1)],
        ),
        ("literal", "no holes at all {} %s", vec![T::U8(1)]),
        (
            "unicode-fill",
            "{:é^11} {:😀<3} {:.2}",
            vec![T::Str("mid"), T::Char('c'), T::Str("héllo")],
        ),
    ];
    for (name, format, args) in cases {
        let mut b = Builder::new();
        b.string(format);
        typed(&mut b, &args);
        write("render", name, &b.out);
    }
    // Template::parse was quadratic: each `%` not followed by a letter scanned the rest of the
    // format for one (found by the fuzzer as `%\xC5\0\0` repeated), and merging small literal
    // pieces rescanned the whole literal (`%%` and `{{` repeated). Formats at the callsite limit.
    for (name, unit) in [
        ("percent-parse", &b"%\xC5\0\0"[..]),
        ("percent-escapes-parse", b"%%"),
        ("brace-escapes-parse", b"{{"),
    ] {
        let mut b = Builder::new();
        b.repeat(65_532, unit);
        typed(&mut b, &[T::U8(1)]);
        regression("render", &format!("{name}-quadratic"), &b.out);
    }
}

// --- Drain format ----------------------------------------------------------------------------------

fn drain_seeds() {
    let served_cs = desc(
        FormatStyle::Brace,
        "request {} served in {} us by {}",
        &["status", "ms"],
    );
    let kinds_cs = desc(
        FormatStyle::Brace,
        "kinds",
        &[
            "u8", "u16", "u32", "u64", "u128", "i8", "i16", "i32", "i64", "i128", "f32", "nan",
        ],
    );
    let hostile_cs = Desc {
        target: "evil\ntarget \"x\"",
        file: "a\u{0}b.rs",
        ..desc(FormatStyle::Brace, "user said {}\n", &["no\nte", "a b=c"])
    };
    for (i, (name, rec)) in records().into_iter().enumerate() {
        let cs = match name {
            "all-kinds" => &kinds_cs,
            "hostile-strings" => &hostile_cs,
            _ => &served_cs,
        };
        let mut b = Builder::new();
        b.raw(&rec);
        // Callsite selector: none for callsite 0, an error for two, else the description.
        b.u8(match name {
            "callsite-zero" => 0,
            "far-future" | "truncated-flag" => 1,
            _ => 2,
        });
        b.u32(64);
        owned_desc(&mut b, cs);
        b.string("unknown callsite id 999\n");
        if i % 2 == 0 {
            calibration(&mut b, ClockKind::Realtime, 0, 0, 0);
        } else {
            calibration(&mut b, ClockKind::Tsc, 1_000, T0, 3_000_000_000);
        }
        // Notice: time, level, message, fields.
        b.u64(T0 + 6)
            .u8(1)
            .string("producers dropped records\n(ring full)");
        b.u8(2);
        b.string("dropped").u8(0).u64(3);
        b.string("since").u8(1).string("2025-11-25T23:18:53Z");
        write("drain_format", name, &b.out);
    }
}

fn main() {
    segment_seeds();
    record_decode_seeds();
    callsite_seeds();
    render_seeds();
    drain_seeds();
    for t in [
        "segment_validate",
        "record_decode",
        "callsite_decode",
        "render",
        "drain_format",
    ] {
        let n = std::fs::read_dir(corpus(t)).unwrap().count();
        println!("{t}: {n} files");
    }
}
