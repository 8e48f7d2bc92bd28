//! Round trips and robustness of the wire format: arguments encode and decode to exactly the
//! same values, truncation keeps an exact prefix and says so, records decode to the header and
//! payload they were built from, arbitrary bytes never panic a decoder, and the bytes on the
//! wire are exactly what the layout documents say.

use core::mem::MaybeUninit;
use core::ptr::NonNull;

use proptest::prelude::*;
use ringlog_wire::args::{tag, Arg, Args, Encoder};
use ringlog_wire::callsite::{
    decode_callsite, encode_callsite, entries_start, CallsiteDesc, CallsiteTable, FormatStyle,
};
use ringlog_wire::clock::{Calibration, ClockKind};
use ringlog_wire::decode::{decode_record, render_message, DecodeError};
use ringlog_wire::layout::{self, Geometry, LayoutError};
use ringlog_wire::record::{Level, RecordHeader, FLAG_TRUNCATED, RECORD_HEADER_LEN};
use ringlog_wire::ring::{Seq, SlotState, MAX_PID};
use ringlog_wire::view::{Callsite, OwnedRecord};

/// One argument as a caller passes it.
#[derive(Debug, Clone)]
enum In {
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
    /// IEEE bits, so every NaN payload is covered.
    F32(u32),
    F64(u64),
    Bool(bool),
    Char(char),
    Str(String),
    Bytes(Vec<u8>),
    Display(String),
    None,
}

impl In {
    fn encode(&self, e: &mut Encoder<'_>) {
        match self {
            In::U8(v) => e.u8(*v),
            In::U16(v) => e.u16(*v),
            In::U32(v) => e.u32(*v),
            In::U64(v) => e.u64(*v),
            In::U128(v) => e.u128(*v),
            In::I8(v) => e.i8(*v),
            In::I16(v) => e.i16(*v),
            In::I32(v) => e.i32(*v),
            In::I64(v) => e.i64(*v),
            In::I128(v) => e.i128(*v),
            In::F32(b) => e.f32(f32::from_bits(*b)),
            In::F64(b) => e.f64(f64::from_bits(*b)),
            In::Bool(v) => e.bool(*v),
            In::Char(v) => e.char(*v),
            In::Str(s) => e.str(s),
            In::Bytes(b) => e.bytes(b),
            In::Display(s) => e.display_str(s),
            In::None => e.none(),
        }
    }

    /// Bytes this argument takes on the wire when it fits whole.
    fn wire_len(&self) -> usize {
        1 + match self {
            In::U8(_) | In::I8(_) | In::Bool(_) => 1,
            In::U16(_) | In::I16(_) => 2,
            In::U32(_) | In::I32(_) | In::F32(_) | In::Char(_) => 4,
            In::U64(_) | In::I64(_) | In::F64(_) => 8,
            In::U128(_) | In::I128(_) => 16,
            In::Str(s) | In::Display(s) => 2 + s.len(),
            In::Bytes(b) => 2 + b.len(),
            In::None => 0,
        }
    }

    /// Whether `arg` is exactly this value (floats compared by their bits).
    fn is(&self, arg: &Arg<'_>) -> bool {
        match (self, *arg) {
            (In::U8(v), Arg::U64(d)) => *v as u64 == d,
            (In::U16(v), Arg::U64(d)) => *v as u64 == d,
            (In::U32(v), Arg::U64(d)) => *v as u64 == d,
            (In::U64(v), Arg::U64(d)) => *v == d,
            (In::U128(v), Arg::U128(d)) => *v == d,
            (In::I8(v), Arg::I64(d)) => *v as i64 == d,
            (In::I16(v), Arg::I64(d)) => *v as i64 == d,
            (In::I32(v), Arg::I64(d)) => *v as i64 == d,
            (In::I64(v), Arg::I64(d)) => *v == d,
            (In::I128(v), Arg::I128(d)) => *v == d,
            (In::F32(b), Arg::F32(d)) => *b == d.to_bits(),
            (In::F64(b), Arg::F64(d)) => *b == d.to_bits(),
            (In::Bool(v), Arg::Bool(d)) => *v == d,
            (In::Char(v), Arg::Char(d)) => *v == d,
            (In::Str(s), Arg::Str(d)) => s == d,
            (In::Bytes(b), Arg::Bytes(d)) => b == d,
            (In::Display(s), Arg::Display(d)) => s == d,
            (In::None, Arg::None) => true,
            _ => false,
        }
    }

    /// Whether `arg` is this string or byte slice cut short (a strict prefix).
    fn is_cut(&self, arg: &Arg<'_>) -> bool {
        match (self, *arg) {
            (In::Str(s), Arg::Str(d)) | (In::Display(s), Arg::Display(d)) => {
                d.len() < s.len() && s.is_char_boundary(d.len()) && s.starts_with(d)
            }
            (In::Bytes(b), Arg::Bytes(d)) => d.len() < b.len() && b.starts_with(d),
            _ => false,
        }
    }
}

/// Strings of any chars (one to four UTF-8 bytes each).
fn string() -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 0..12).prop_map(String::from_iter)
}

fn f32_bits() -> impl Strategy<Value = u32> {
    prop_oneof![
        any::<u32>(),
        // NaNs (quiet and signalling, either sign, any payload), infinities, zeros.
        any::<u32>().prop_map(|p| 0x7F80_0000 | (p & 0x807F_FFFF) | 1),
        Just(f32::INFINITY.to_bits()),
        Just((-0.0f32).to_bits()),
    ]
}

fn f64_bits() -> impl Strategy<Value = u64> {
    prop_oneof![
        any::<u64>(),
        any::<u64>().prop_map(|p| 0x7FF0_0000_0000_0000 | (p & 0x800F_FFFF_FFFF_FFFF) | 1),
        Just(f64::NEG_INFINITY.to_bits()),
        Just((-0.0f64).to_bits()),
    ]
}

fn arg() -> impl Strategy<Value = In> {
    prop_oneof![
        any::<u8>().prop_map(In::U8),
        any::<u16>().prop_map(In::U16),
        any::<u32>().prop_map(In::U32),
        any::<u64>().prop_map(In::U64),
        any::<u128>().prop_map(In::U128),
        any::<i8>().prop_map(In::I8),
        any::<i16>().prop_map(In::I16),
        any::<i32>().prop_map(In::I32),
        any::<i64>().prop_map(In::I64),
        any::<i128>().prop_map(In::I128),
        f32_bits().prop_map(In::F32),
        f64_bits().prop_map(In::F64),
        any::<bool>().prop_map(In::Bool),
        any::<char>().prop_map(In::Char),
        string().prop_map(In::Str),
        prop::collection::vec(any::<u8>(), 0..24).prop_map(In::Bytes),
        string().prop_map(In::Display),
        Just(In::None),
    ]
}

/// Encodes `args` into a buffer of `cap` bytes: (bytes, truncated).
fn encode(args: &[In], cap: usize) -> (Vec<u8>, bool) {
    let mut buf = vec![MaybeUninit::uninit(); cap];
    let mut e = Encoder::new(&mut buf);
    for a in args {
        a.encode(&mut e);
    }
    assert_eq!(e.as_bytes().len(), e.len());
    assert!(e.len() <= cap, "encoder wrote {} bytes into {cap}", e.len());
    assert_eq!(e.is_empty(), e.as_bytes().is_empty());
    (e.as_bytes().to_vec(), e.truncated())
}

fn decode(bytes: &[u8]) -> Vec<Arg<'_>> {
    Args::new(bytes)
        .collect::<Result<_, _>>()
        .expect("the encoder's output decodes")
}

fn level() -> impl Strategy<Value = Level> {
    prop::sample::select(Level::ALL.to_vec())
}

fn style() -> impl Strategy<Value = FormatStyle> {
    prop::sample::select(vec![
        FormatStyle::Brace,
        FormatStyle::Percent,
        FormatStyle::Literal,
    ])
}

/// A format string built from pieces that exercise every branch of the renderer, valid or not.
fn format_string() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        string(),
        prop::sample::select(vec![
            "{}",
            "{:?}",
            "{:>8.2}",
            "{:08.3}",
            "{:#x}",
            "{:+}",
            "{:e}",
            "{:^5}",
            "{:*<4}",
            "{:.0}",
            "{:x?}",
            "{{",
            "}}",
            "{",
            "}",
            "{:",
            "{:!}",
            "{x}",
            "%s",
            "%d",
            "%r",
            "%.2f",
            "%x",
            "%%",
            "%",
            "%5",
            "%-+ #.3i",
            "%é",
            "{:.}",
            "{:9999999999}",
        ])
        .prop_map(str::to_string),
    ];
    prop::collection::vec(piece, 0..8).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arguments_that_fit_decode_to_exactly_the_same_values(
        args in prop::collection::vec(arg(), 0..16)
    ) {
        let (bytes, truncated) = encode(&args, 4096);
        prop_assert!(!truncated);
        prop_assert_eq!(bytes.len(), args.iter().map(In::wire_len).sum::<usize>());
        let decoded = decode(&bytes);
        prop_assert_eq!(decoded.len(), args.len());
        for (a, d) in args.iter().zip(&decoded) {
            prop_assert!(a.is(d), "{:?} decoded as {:?}", a, d);
        }
    }

    #[test]
    fn a_small_buffer_keeps_an_exact_prefix_and_reports_exactly_when_something_was_lost(
        args in prop::collection::vec(arg(), 0..12),
        cap in 0usize..64,
    ) {
        let (bytes, truncated) = encode(&args, cap);
        let decoded = decode(&bytes);
        prop_assert!(decoded.len() <= args.len());
        // Every argument but the last decoded one is whole.
        let whole = decoded.len().saturating_sub(1);
        for (a, d) in args.iter().zip(&decoded[..whole]) {
            prop_assert!(a.is(d), "{:?} decoded as {:?}", a, d);
        }
        let mut cut = false;
        if let Some(last) = decoded.last() {
            let a = &args[decoded.len() - 1];
            cut = !a.is(last);
            prop_assert!(
                !cut || a.is_cut(last),
                "{:?} decoded as {:?}: neither whole nor a prefix", a, last
            );
        }
        let lost = cut || decoded.len() < args.len();
        prop_assert_eq!(truncated, lost, "decoded {:?} of {:?}", decoded, args);
        if !truncated {
            prop_assert_eq!(bytes.len(), args.iter().map(In::wire_len).sum::<usize>());
        }
        // What was dropped did not fit: the encoder keeps everything that does.
        if truncated && !cut {
            let next = &args[decoded.len()];
            let need = match next {
                // A string or byte slice is cut rather than dropped if its header fits.
                In::Str(_) | In::Display(_) | In::Bytes(_) => 3,
                other => other.wire_len(),
            };
            prop_assert!(bytes.len() + need > cap, "{:?} would have fit in {} of {}", next, cap - bytes.len(), cap);
        }
        if cut {
            // The cut is as long as it can be: the next character did not fit.
            let a = &args[decoded.len() - 1];
            let (full, kept) = match (a, decoded.last().unwrap()) {
                (In::Str(s), Arg::Str(d)) | (In::Display(s), Arg::Display(d)) => {
                    (s.as_str(), d.len())
                }
                (In::Bytes(_), Arg::Bytes(_)) => ("", 0),
                _ => unreachable!(),
            };
            if let Some(c) = full[kept..].chars().next() {
                prop_assert!(bytes.len() + c.len_utf8() > cap, "{:?} cut too short", a);
            } else {
                prop_assert_eq!(bytes.len(), cap, "bytes cut before the buffer was full");
            }
        }
    }

    #[test]
    fn a_record_decodes_to_the_header_and_payload_it_was_built_from(
        args in prop::collection::vec(arg(), 0..10),
        timestamp in any::<u64>(),
        callsite in any::<u32>(),
        pid in any::<u32>(),
        tid in any::<u32>(),
        level in level(),
        truncated in any::<bool>(),
        padding in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let (payload, _) = encode(&args, 1024);
        let header = RecordHeader {
            timestamp,
            callsite,
            pid,
            tid,
            len: payload.len() as u16,
            level: level as u8,
            flags: if truncated { FLAG_TRUNCATED } else { 0 },
        };
        let mut bytes = bytemuck::bytes_of(&header).to_vec();
        bytes.extend_from_slice(&payload);
        let end = bytes.len();
        // Slot padding after the record is ignored.
        bytes.extend_from_slice(&padding);
        let rec = decode_record(&bytes).unwrap();
        prop_assert_eq!(rec.header, header);
        prop_assert_eq!(rec.payload, &payload[..]);
        prop_assert_eq!(rec.level(), level);
        prop_assert_eq!(rec.truncated(), truncated);
        let decoded: Vec<_> = rec.args().collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(decoded.len(), args.len());
        for (a, d) in args.iter().zip(&decoded) {
            prop_assert!(a.is(d));
        }
        // Any shorter prefix asks for exactly the bytes it lacks.
        for cut in [0, RECORD_HEADER_LEN - 1, RECORD_HEADER_LEN, end - 1] {
            if cut < end {
                let needed = if cut < RECORD_HEADER_LEN { RECORD_HEADER_LEN } else { end };
                prop_assert_eq!(decode_record(&bytes[..cut]), Err(DecodeError::Incomplete { needed }));
            }
        }
    }

    #[test]
    fn a_callsite_decodes_to_the_description_it_was_encoded_from(
        level in level(),
        style in style(),
        line in any::<u32>(),
        strings in prop::collection::vec(string(), 4),
        fields in prop::collection::vec(string(), 0..5),
    ) {
        let desc = CallsiteDesc {
            level,
            style,
            line,
            target: &strings[0],
            module: &strings[1],
            file: &strings[2],
            format: &strings[3],
            fields: fields.iter().map(String::as_str).collect(),
            layout: "",
        };
        let mut bytes = Vec::new();
        encode_callsite(&desc, &mut bytes).unwrap();
        prop_assert_eq!(decode_callsite(8, &bytes).unwrap(), desc);
        // Cut anywhere, it is an error, not a panic and not a different callsite.
        for cut in 0..bytes.len() {
            prop_assert!(decode_callsite(8, &bytes[..cut]).is_err());
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_record_and_argument_decoders(
        bytes in prop::collection::vec(any::<u8>(), 0..200),
        id in any::<u32>(),
        format in format_string(),
        style in style(),
    ) {
        let _ = decode_record(&bytes);
        let args: Vec<_> = Args::new(&bytes).filter_map(Result::ok).collect();
        let _ = decode_callsite(id, &bytes);
        let mut text = String::new();
        let r = render_message(&mut text, style, &format, &args);
        prop_assert!(r.used <= args.len());
        let mut raw = Vec::new();
        render_message(&mut raw, style, &format, &args);
        prop_assert_eq!(raw, text.into_bytes(), "String and Vec<u8> outputs agree");
        if let Ok(rec) = decode_record(&bytes) {
            let cal = Calibration::new(ClockKind::Tsc, u64::MAX, u64::MAX, 1);
            let fields = vec!["a", "b"];
            let cs = CallsiteDesc {
                level: Level::Info, style, line: 1, target: "t", module: "m", file: "f",
                format: &format, fields,
                layout: "",
            };
            let cs = Callsite::new(8, &cs);
            let _ = OwnedRecord::decode(&rec, Ok(Some(&cs)), &cal);
            let _ = OwnedRecord::decode(&rec, Err("unknown"), &cal);
        }
    }

    #[test]
    fn well_formed_arguments_render_through_any_format_without_panicking(
        args in prop::collection::vec(arg(), 0..6),
        format in format_string(),
        style in style(),
    ) {
        let (bytes, _) = encode(&args, 1024);
        let decoded = decode(&bytes);
        let mut text = String::new();
        let r = render_message(&mut text, style, &format, &decoded);
        prop_assert!(r.used <= decoded.len());
    }

    #[test]
    fn a_damaged_or_arbitrary_segment_header_is_an_error_never_a_panic(
        mutations in prop::collection::vec((0usize..128, any::<u8>()), 0..6),
        garbage in prop::collection::vec(any::<u8>(), 0..300),
        file_len in prop_oneof![any::<u64>(), 0u64..(1 << 20)],
        use_garbage in any::<bool>(),
    ) {
        let mut bytes = valid_header_bytes();
        for (at, v) in mutations {
            bytes[at] = v;
        }
        let input = if use_garbage { &garbage[..] } else { &bytes[..] };
        if let Ok(h) = layout::validate(input, file_len) {
            // Whatever passes is self-consistent.
            prop_assert!(h.total_size <= file_len);
            prop_assert!(h.slot_count.is_power_of_two() && h.slot_size.is_power_of_two());
            prop_assert_eq!(h.ring_offset + h.slot_count * h.slot_size as u64, h.total_size);
        }
    }

    #[test]
    fn callsite_lookups_in_a_garbage_table_are_errors_never_panics(
        words in prop::collection::vec(any::<u64>(), 16..64),
        ids in prop::collection::vec(any::<u32>(), 1..16),
        small_ids in prop::collection::vec(0u32..512, 1..16),
    ) {
        let mut words = words;
        let size = words.len() * 8;
        let base = NonNull::new(words.as_mut_ptr() as *mut u8).unwrap();
        // SAFETY: `words` is 8-aligned, `size` bytes, outlives the table, and is accessed only
        // through it; 4 index slots leave room (entries_start(4) = 96 < 128 <= size).
        let table = unsafe { CallsiteTable::new(base, size, 4) };
        assert!(entries_start(4) < size);
        let mut out = Vec::new();
        for id in ids.into_iter().chain(small_ids) {
            out.clear();
            if table.entry(id, &mut out).is_ok() {
                let _ = decode_callsite(id, &out);
            }
        }
        let _ = table.ids();
    }
}

fn valid_header_bytes() -> Vec<u8> {
    let mut h = Geometry {
        slot_size: 64,
        slot_count: 1024,
        lane_count: 1,
        producer_slots: 1024,
        callsite_size: 65536,
        callsite_index_slots: 1024,
        max_span: 15,
    }
    .header()
    .unwrap();
    h.ready = layout::READY;
    h.clock_kind = ClockKind::Realtime as u32;
    bytemuck::bytes_of(&h).to_vec()
}

#[test]
fn a_valid_header_validates_and_fails_exactly_when_the_file_is_one_byte_short() {
    let bytes = valid_header_bytes();
    // Header page, control page, producer table (1024 x 4 bytes), lane table (one page),
    // callsite table, one lane.
    let total = 4096 + 4096 + 4096 + 4096 + 65536 + 64 * 1024;
    assert_eq!(layout::validate(&bytes, total).unwrap().total_size, total);
    assert_eq!(
        layout::validate(&bytes, total - 1),
        Err(LayoutError::Truncated {
            len: total - 1,
            needed: total
        })
    );
}

// ---- exact bytes ----

#[test]
#[cfg(target_endian = "little")]
fn a_record_header_is_these_24_bytes() {
    let h = RecordHeader {
        timestamp: 0x0102_0304_0506_0708,
        callsite: 0x1122_3344,
        pid: 0x5566_7788,
        tid: 0x99AA_BBCC,
        len: 0xDDEE,
        level: Level::Warn as u8,
        flags: FLAG_TRUNCATED,
    };
    assert_eq!(
        bytemuck::bytes_of(&h),
        [
            0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, // timestamp
            0x44, 0x33, 0x22, 0x11, // callsite
            0x88, 0x77, 0x66, 0x55, // pid
            0xCC, 0xBB, 0xAA, 0x99, // tid
            0xEE, 0xDD, // len
            2,    // level
            1,    // flags
        ]
    );
    // And back: unknown flags or levels are corrupt, not guessed at.
    let mut b = bytemuck::bytes_of(&h).to_vec();
    b.resize(RECORD_HEADER_LEN + 0xDDEE, 0);
    assert_eq!(decode_record(&b).unwrap().header, h);
    b[22] = 0;
    assert_eq!(decode_record(&b), Err(DecodeError::Corrupt("bad level")));
    b[22] = 7; // 6 is Level::Critical
    assert_eq!(decode_record(&b), Err(DecodeError::Corrupt("bad level")));
    b[22] = 2;
    b[23] = 2;
    assert_eq!(
        decode_record(&b),
        Err(DecodeError::Corrupt("unknown flags"))
    );
}

#[test]
fn sequence_words_pack_lap_state_span_and_pid_as_documented() {
    // Zeroed memory is "free for lap 0".
    assert_eq!(Seq(0), Seq::free(0));
    assert_eq!(Seq(0).state(), SlotState::Free);
    assert_eq!(Seq::free(7).0, 7 << 32);
    assert_eq!(Seq::free(u32::MAX).0, 0xFFFF_FFFF_0000_0000);
    // lap << 32 | state << 30 | span << 26 | pid
    assert_eq!(
        Seq::writing(5, 2, 1234).0,
        5 << 32 | 1 << 30 | 2 << 26 | 1234
    );
    assert_eq!(
        Seq::committed(5, 15, MAX_PID).0,
        5 << 32 | 2 << 30 | 15 << 26 | 0x03FF_FFFF
    );
    assert_eq!(Seq::committed(9, 0, 42).0, 9 << 32 | 2 << 30 | 42);
    assert_eq!(Seq::skip(1, 3, 0).0, 1 << 32 | 3 << 30 | 3 << 26);
    let s = Seq::writing(0xDEAD_BEEF, 15, MAX_PID);
    assert_eq!(
        (s.lap(), s.state(), s.span(), s.pid()),
        (0xDEAD_BEEF, SlotState::Writing, 15, MAX_PID)
    );
    let s = Seq(3 << 32 | 3 << 30 | 4 << 26 | 77);
    assert_eq!(
        (s.lap(), s.state(), s.span(), s.pid()),
        (3, SlotState::Skip, 4, 77)
    );
    assert_eq!(MAX_PID, (1 << 26) - 1);
}

fn enc_bytes(f: impl FnOnce(&mut Encoder<'_>)) -> Vec<u8> {
    let mut buf = [MaybeUninit::uninit(); 256];
    let mut e = Encoder::new(&mut buf);
    f(&mut e);
    assert!(!e.truncated());
    e.as_bytes().to_vec()
}

#[test]
fn each_argument_type_encodes_as_its_tag_then_little_endian_value() {
    assert_eq!(
        enc_bytes(|e| e.f64(1.5)),
        [tag::F64, 0, 0, 0, 0, 0, 0, 0xF8, 0x3F]
    );
    assert_eq!(enc_bytes(|e| e.f32(-2.0)), [tag::F32, 0, 0, 0, 0xC0]);
    assert_eq!(
        enc_bytes(|e| e.f32(f32::from_bits(0x7FC0_0001))),
        [tag::F32, 0x01, 0, 0xC0, 0x7F],
        "a NaN keeps its payload"
    );
    assert_eq!(enc_bytes(|e| e.i8(-1)), [tag::I8, 0xFF]);
    assert_eq!(enc_bytes(|e| e.i16(-2)), [tag::I16, 0xFE, 0xFF]);
    assert_eq!(
        enc_bytes(|e| e.i64(-3)),
        [tag::I64, 0xFD, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]
    );
    assert_eq!(
        enc_bytes(|e| e.u32(0xA1B2_C3D4)),
        [tag::U32, 0xD4, 0xC3, 0xB2, 0xA1]
    );
    let mut u128_bytes = vec![tag::U128, 1];
    u128_bytes.extend([0; 14]);
    u128_bytes.push(0x80);
    assert_eq!(enc_bytes(|e| e.u128(1 | 1 << 127)), u128_bytes);
    let mut i128_bytes = vec![tag::I128];
    i128_bytes.extend([0xFF; 16]);
    assert_eq!(enc_bytes(|e| e.i128(-1)), i128_bytes);
    assert_eq!(enc_bytes(|e| e.bool(true)), [tag::BOOL, 1]);
    assert_eq!(enc_bytes(|e| e.bool(false)), [tag::BOOL, 0]);
    assert_eq!(enc_bytes(|e| e.char('é')), [tag::CHAR, 0xE9, 0, 0, 0]);
    assert_eq!(
        enc_bytes(|e| e.char('🦀')),
        [tag::CHAR, 0x80, 0xF9, 0x01, 0]
    );
    assert_eq!(enc_bytes(|e| e.bytes(&[9, 8])), [tag::BYTES, 2, 0, 9, 8]);
    assert_eq!(
        enc_bytes(|e| e.display_str("ok")),
        [tag::DISPLAY, 2, 0, b'o', b'k']
    );
    assert_eq!(enc_bytes(|e| e.str("")), [tag::STR, 0, 0]);
    assert_eq!(enc_bytes(|e| e.none()), [tag::NONE]);
    // The tags are the documented numbers.
    assert_eq!(
        [
            tag::U8,
            tag::U16,
            tag::U32,
            tag::U64,
            tag::U128,
            tag::I8,
            tag::I16,
            tag::I32
        ],
        [1, 2, 3, 4, 5, 6, 7, 8]
    );
    assert_eq!(
        [
            tag::I64,
            tag::I128,
            tag::F32,
            tag::F64,
            tag::BOOL,
            tag::CHAR,
            tag::STR,
            tag::BYTES
        ],
        [9, 10, 11, 12, 13, 14, 15, 16]
    );
    assert_eq!([tag::DISPLAY, tag::NONE], [17, 18]);
}

#[test]
fn a_callsite_encodes_as_its_fixed_fields_then_length_prefixed_strings() {
    let desc = CallsiteDesc {
        level: Level::Info,
        style: FormatStyle::Percent,
        line: 0x0102_0304,
        target: "t",
        module: "m",
        file: "f.rs",
        format: "%s",
        fields: vec!["k"],
        layout: "",
    };
    let mut b = Vec::new();
    encode_callsite(&desc, &mut b).unwrap();
    assert_eq!(
        b,
        [
            3, 1, 1, 0, 0x04, 0x03, 0x02, 0x01, // level, style, n_fields, line
            1, 0, b't', 1, 0, b'm', 4, 0, b'f', b'.', b'r', b's', 2, 0, b'%', b's', 1, 0, b'k',
        ]
    );
}

#[test]
fn a_string_longer_than_the_length_field_is_cut_at_a_char_boundary_and_flagged() {
    // 35_000 two-byte chars: 70_000 bytes, over the u16 length limit; 65_535 is mid-char.
    let s = "é".repeat(35_000);
    let mut buf = vec![MaybeUninit::uninit(); 80_000];
    let mut e = Encoder::new(&mut buf);
    e.str(&s);
    e.u8(1);
    assert!(e.truncated());
    let args = decode(e.as_bytes());
    assert_eq!(args.len(), 1, "nothing after the cut string");
    let Arg::Str(cut) = args[0] else {
        panic!("{:?}", args[0])
    };
    assert_eq!(cut.len(), 65_534);
    assert!(s.starts_with(cut));
}

#[test]
fn decoders_reject_damage_with_errors_not_panics() {
    // A length field that runs past the end, a bad char, a bad bool, an unknown tag.
    for bytes in [
        &[tag::STR, 0xFF, 0xFF, b'a'][..],
        &[tag::CHAR, 0x00, 0xD8, 0, 0],
        &[tag::CHAR, 0x00, 0x00, 0x11, 0],
        &[tag::BOOL, 2],
        &[0],
        &[tag::U64, 1, 2, 3],
        &[tag::BYTES, 1],
    ] {
        let r: Result<Vec<_>, _> = Args::new(bytes).collect();
        assert!(r.is_err(), "{bytes:?} decoded as {r:?}");
    }
    assert!(matches!(
        decode_record(&[]),
        Err(DecodeError::Incomplete { needed: 24 })
    ));
}

proptest! {
    /// `write_f64` (with its fast path for values of up to three decimals) prints exactly
    /// what `format!("{}")` prints, for any bits and for the decimals the fast path takes.
    #[test]
    fn write_f64_prints_what_display_prints(bits in any::<u64>(), n in any::<i64>(), k in 0u32..6) {
        let check = |v: f64| {
            let mut out = String::new();
            ringlog_wire::decode::write_f64(&mut out, v);
            prop_assert_eq!(out, format!("{v}"));
            Ok(())
        };
        check(f64::from_bits(bits))?;
        let small = (n % 20_000_000_000_000) as f64 / 10f64.powi(k as i32);
        check(small)?;
        check(small + 0.1)?;
        check((n % 100_000) as f64 * 0.25)?;
    }
}

#[test]
fn write_f64_edge_values_print_what_display_prints() {
    for v in [
        0.0,
        -0.0,
        0.5,
        -0.5,
        1.0,
        -1.0,
        12.25,
        0.001,
        0.0015,
        0.1 + 0.2,
        1e15,
        9e12,
        8.999e12,
        -8.999_999_999_999e12,
        123456789.125,
        1e-7,
        2.5e-3,
        0.3,
        0.7,
        1.1,
        9.999,
        99.995,
        // Rounding the scaled value without libm's `round`: just below and at a half.
        0.499_999_999_999_999_94,
        0.000_499_999_999_999_999_9,
        0.0005,
        -0.0005,
        1.0005,
        -2.5,
        4_503_599_627_370.495,
        8_999_999_999_999.999,
    ] {
        let mut out = String::new();
        ringlog_wire::decode::write_f64(&mut out, v);
        assert_eq!(out, format!("{v}"), "{v:e}");
    }
}

/// Values exactly between two shortest decimals: ryu breaks the tie to even, `Display` does
/// not, and the drain must print what `Display` prints (found by the proptest above).
#[test]
fn ties_between_two_shortest_decimals_print_as_display_does() {
    let tie = f64::from_bits(4806254793843518032); // 21162465103786.3125
    for v in [tie, -tie, 0.3125e15, 2.5e16 + 4.0] {
        let mut out = String::new();
        ringlog_wire::decode::write_f64(&mut out, v);
        assert_eq!(out, format!("{v}"));
    }
    for v in [16777216.5f32 * 2.0, 3.0e10f32 + 1024.0] {
        let mut out = String::new();
        ringlog_wire::decode::write_f32(&mut out, v);
        assert_eq!(out, format!("{v}"));
    }
}

/// The one-multiplication fast path below 10^9 (`write_f64_milli`) prints what `Display`
/// prints for every value of up to three decimals in a dense range, both signs, near the
/// 10^9 boundary, and for values just off three decimals (which must take the slow path).
#[test]
fn write_f64_with_up_to_three_decimals_prints_what_display_prints() {
    let check = |v: f64| {
        let mut out = String::new();
        ringlog_wire::decode::write_f64(&mut out, v);
        assert_eq!(out, format!("{v}"), "for {v:e}");
    };
    for i in 0..100_000i64 {
        for v in [
            i as f64 / 1000.0,
            i as f64 / 4.0,
            i as f64 / 100.0,
            i as f64 / 10.0,
        ] {
            check(v);
            check(-v);
            check(v + 1e-4);
            check(f64::from_bits(v.to_bits() + 1));
        }
    }
    for i in -3000..3000i64 {
        let v = 1.0e9 + i as f64 / 1000.0;
        check(v);
        check(-v);
        check(999_999_999.0 + i as f64 / 7.0);
    }
}
