//! The checks of the `segment_validate`, `record_decode`, `callsite_decode` and `render` fuzz
//! targets. Each `check_*` function takes the raw fuzzer bytes and panics if a property fails.
//!
//! This file is compiled three times: as a module of the fuzz crate; by
//! `crates/ringlog-wire/tests/fuzz_corpus.rs` (through `#[path]`), which replays the committed
//! corpora under `cargo test`; and by `crates/ringdrain/tests/fuzz_corpus.rs` for the helpers
//! `drain_checks` shares. It may therefore use only `ringlog_wire`, `bytemuck`, `std` and
//! `crate::input`.

use std::mem::MaybeUninit;
use std::ptr::NonNull;

use ringlog_wire::args::{Arg, Args, Encode, Encoder};
use ringlog_wire::callsite::{
    decode_callsite, encode_callsite, entries_start, CallsiteDesc, CallsiteError, CallsiteTable,
    FormatStyle, RegisterError,
};
use ringlog_wire::clock::{Calibration, ClockKind};
use ringlog_wire::decode::{decode_record, render_message, DecodeError, Rendered, Template};
use ringlog_wire::layout::{self, LayoutError, SegmentHeader};
use ringlog_wire::record::{Level, RECORD_HEADER_LEN};
use ringlog_wire::view::{Callsite, OwnedRecord};

use crate::input::Input;

/// Most typed arguments read for one round trip or one render.
pub const MAX_ARGS: usize = 64;
/// Most bytes of string/byte arguments read for one input (keeps executions fast).
pub const MAX_ARG_BYTES: usize = 200_000;

// ---------------------------------------------------------------------------------------------
// Typed arguments

/// One argument as a producer has it, before encoding.
#[derive(Debug, Clone, PartialEq)]
pub enum TypedArg {
    /// `Encoder::u8`.
    U8(u8),
    /// `Encoder::u16`.
    U16(u16),
    /// `Encoder::u32`.
    U32(u32),
    /// `Encoder::u64`.
    U64(u64),
    /// `Encoder::u128`.
    U128(u128),
    /// `Encoder::i8`.
    I8(i8),
    /// `Encoder::i16`.
    I16(i16),
    /// `Encoder::i32`.
    I32(i32),
    /// `Encoder::i64`.
    I64(i64),
    /// `Encoder::i128`.
    I128(i128),
    /// `Encoder::f32`.
    F32(f32),
    /// `Encoder::f64`.
    F64(f64),
    /// `Encoder::bool`.
    Bool(bool),
    /// `Encoder::char`.
    Char(char),
    /// `String as Encode`.
    Str(String),
    /// `Vec<u8> as Encode`.
    Bytes(Vec<u8>),
    /// `Encoder::display_str`.
    Display(String),
    /// `Encoder::none`.
    None,
    /// `usize as Encode`.
    Usize(usize),
    /// `isize as Encode`.
    Isize(isize),
    /// `Option<u32> as Encode`.
    OptU32(Option<u32>),
}

const TYPED_ARG_KINDS: u8 = 21;

impl TypedArg {
    /// Reads one argument: a kind byte (modulo the number of kinds), then its value.
    pub fn read(input: &mut Input<'_>) -> TypedArg {
        match input.u8() % TYPED_ARG_KINDS {
            0 => TypedArg::U8(input.u8()),
            1 => TypedArg::U16(input.u16()),
            2 => TypedArg::U32(input.u32()),
            3 => TypedArg::U64(input.u64()),
            4 => TypedArg::U128(input.u128()),
            5 => TypedArg::I8(input.u8() as i8),
            6 => TypedArg::I16(input.u16() as i16),
            7 => TypedArg::I32(input.u32() as i32),
            8 => TypedArg::I64(input.u64() as i64),
            9 => TypedArg::I128(input.u128() as i128),
            10 => TypedArg::F32(f32::from_bits(input.u32())),
            11 => TypedArg::F64(f64::from_bits(input.u64())),
            12 => TypedArg::Bool(input.u8() & 1 == 1),
            13 => TypedArg::Char(char::from_u32(input.u32() % 0x11_0000).unwrap_or('\u{FFFD}')),
            14 => TypedArg::Str(input.string()),
            15 => TypedArg::Bytes(input.chunk().into_owned()),
            16 => TypedArg::Display(input.string()),
            17 => TypedArg::None,
            18 => TypedArg::Usize(input.u64() as usize),
            19 => TypedArg::Isize(input.u64() as isize),
            _ => TypedArg::OptU32((input.u8() & 1 == 1).then(|| input.u32())),
        }
    }

    /// Reads arguments until the input ends, [`MAX_ARGS`] or [`MAX_ARG_BYTES`].
    pub fn read_list(input: &mut Input<'_>) -> Vec<TypedArg> {
        let mut args = Vec::new();
        let mut bytes = 0;
        while !input.is_empty() && args.len() < MAX_ARGS && bytes < MAX_ARG_BYTES {
            let a = TypedArg::read(input);
            bytes += a.var_len().unwrap_or(0);
            args.push(a);
        }
        args
    }

    /// Encodes the argument the way a producer would.
    pub fn encode(&self, e: &mut Encoder<'_>) {
        match self {
            TypedArg::U8(v) => e.u8(*v),
            TypedArg::U16(v) => e.u16(*v),
            TypedArg::U32(v) => e.u32(*v),
            TypedArg::U64(v) => e.u64(*v),
            TypedArg::U128(v) => e.u128(*v),
            TypedArg::I8(v) => e.i8(*v),
            TypedArg::I16(v) => e.i16(*v),
            TypedArg::I32(v) => e.i32(*v),
            TypedArg::I64(v) => e.i64(*v),
            TypedArg::I128(v) => e.i128(*v),
            TypedArg::F32(v) => e.f32(*v),
            TypedArg::F64(v) => e.f64(*v),
            TypedArg::Bool(v) => e.bool(*v),
            TypedArg::Char(v) => e.char(*v),
            TypedArg::Str(v) => v.encode(e),
            TypedArg::Bytes(v) => v.encode(e),
            TypedArg::Display(v) => e.display_str(v),
            TypedArg::None => e.none(),
            TypedArg::Usize(v) => v.encode(e),
            TypedArg::Isize(v) => v.encode(e),
            TypedArg::OptU32(v) => v.encode(e),
        }
    }

    /// The argument a drain must decode.
    pub fn expected(&self) -> Arg<'_> {
        match self {
            TypedArg::U8(v) => Arg::U64(*v as u64),
            TypedArg::U16(v) => Arg::U64(*v as u64),
            TypedArg::U32(v) => Arg::U64(*v as u64),
            TypedArg::U64(v) => Arg::U64(*v),
            TypedArg::U128(v) => Arg::U128(*v),
            TypedArg::I8(v) => Arg::I64(*v as i64),
            TypedArg::I16(v) => Arg::I64(*v as i64),
            TypedArg::I32(v) => Arg::I64(*v as i64),
            TypedArg::I64(v) => Arg::I64(*v),
            TypedArg::I128(v) => Arg::I128(*v),
            TypedArg::F32(v) => Arg::F32(*v),
            TypedArg::F64(v) => Arg::F64(*v),
            TypedArg::Bool(v) => Arg::Bool(*v),
            TypedArg::Char(v) => Arg::Char(*v),
            TypedArg::Str(v) => Arg::Str(v),
            TypedArg::Bytes(v) => Arg::Bytes(v),
            TypedArg::Display(v) => Arg::Display(v),
            TypedArg::None | TypedArg::OptU32(None) => Arg::None,
            TypedArg::Usize(v) => Arg::U64(*v as u64),
            TypedArg::Isize(v) => Arg::I64(*v as i64),
            TypedArg::OptU32(Some(v)) => Arg::U64(*v as u64),
        }
    }

    /// Payload bytes of a variable-length argument (`None` for fixed-size ones).
    pub fn var_len(&self) -> Option<usize> {
        match self {
            TypedArg::Str(s) | TypedArg::Display(s) => Some(s.len()),
            TypedArg::Bytes(b) => Some(b.len()),
            _ => None,
        }
    }

    /// Encoded bytes of the smallest encoding of the argument (tag and length, for strings).
    fn min_encoded_len(&self) -> usize {
        if self.var_len().is_some() {
            return 3;
        }
        1 + match self.expected() {
            Arg::None => 0,
            Arg::Bool(_) => 1,
            Arg::Char(_) | Arg::F32(_) => 4,
            Arg::F64(_) => 8,
            Arg::U128(_) | Arg::I128(_) => 16,
            _ => match self {
                TypedArg::U8(_) | TypedArg::I8(_) => 1,
                TypedArg::U16(_) | TypedArg::I16(_) => 2,
                TypedArg::U32(_) | TypedArg::I32(_) | TypedArg::OptU32(_) => 4,
                _ => 8,
            },
        }
    }
}

/// Equality of decoded arguments with floats compared by their bits (so NaN equals itself).
pub fn arg_eq(a: &Arg<'_>, b: &Arg<'_>) -> bool {
    match (a, b) {
        (Arg::F32(x), Arg::F32(y)) => x.to_bits() == y.to_bits(),
        (Arg::F64(x), Arg::F64(y)) => x.to_bits() == y.to_bits(),
        _ => a == b,
    }
}

/// Encodes `args` into a buffer of `cap` bytes and checks that the bytes decode back to the
/// same values: all of them, or (if the encoder reports truncation) the ones that fitted whole,
/// then possibly one string or byte slice cut as little as the room forced, then nothing.
pub fn check_args_round_trip(args: &[TypedArg], cap: usize) {
    let mut buf = vec![MaybeUninit::uninit(); cap];
    let mut e = Encoder::new(&mut buf);
    for a in args {
        a.encode(&mut e);
    }
    let (len, truncated) = (e.len(), e.truncated());
    assert!(len <= cap, "encoder wrote {len} bytes into {cap}");
    assert_eq!(e.is_empty(), len == 0);
    let bytes = e.as_bytes();
    let decoded: Vec<Arg<'_>> = Args::new(bytes)
        .collect::<Result<_, _>>()
        .unwrap_or_else(|err| panic!("encoder output does not decode: {err}; {args:?}"));
    if !truncated {
        assert_eq!(decoded.len(), args.len(), "{args:?} -> {decoded:?}");
        for (d, a) in decoded.iter().zip(args) {
            assert!(arg_eq(d, &a.expected()), "{a:?} decoded as {d:?}");
        }
        return;
    }
    let k = decoded.len();
    assert!(k <= args.len(), "{args:?} -> {decoded:?}");
    for (d, a) in decoded.iter().zip(args).take(k.saturating_sub(1)) {
        assert!(arg_eq(d, &a.expected()), "{a:?} decoded as {d:?}");
    }
    let mut whole = k;
    if let Some(last) = decoded.last() {
        let want = args[k - 1].expected();
        if !arg_eq(last, &want) {
            // The one argument that was cut: a strict prefix, cut no more than the room forced.
            let (got, full, utf8) = match (last, &want) {
                (Arg::Str(g), Arg::Str(f)) | (Arg::Display(g), Arg::Display(f)) => {
                    (g.as_bytes(), f.as_bytes(), true)
                }
                (Arg::Bytes(g), Arg::Bytes(f)) => (*g, *f, false),
                _ => panic!("{want:?} decoded as {last:?}"),
            };
            assert!(
                got.len() < full.len() && full.starts_with(got),
                "{want:?} cut to {last:?}"
            );
            let slack = if utf8 { 3 } else { 0 };
            assert!(
                cap - len <= slack || got.len() + slack >= u16::MAX as usize,
                "{want:?} cut to {} bytes with {} bytes of room left",
                got.len(),
                cap - len
            );
            whole = k - 1;
        }
    }
    if whole == k {
        // Nothing was cut: the first argument left out cannot have fitted.
        assert!(
            k < args.len(),
            "truncated, but every argument decoded whole"
        );
        let need = args[k].min_encoded_len();
        assert!(
            len + need > cap,
            "{:?} left out with {} of {cap} bytes used",
            args[k],
            len
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Callsites and clocks

/// An owned callsite description read from fuzzer bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedDesc {
    /// Level.
    pub level: Level,
    /// Format style.
    pub style: FormatStyle,
    /// Line.
    pub line: u32,
    /// Target.
    pub target: String,
    /// Module.
    pub module: String,
    /// File.
    pub file: String,
    /// Format string.
    pub format: String,
    /// Field names.
    pub fields: Vec<String>,
}

impl OwnedDesc {
    /// Reads a description: level, style, line, target, module, file, format, field count
    /// (modulo 24) and the field names.
    pub fn read(input: &mut Input<'_>) -> OwnedDesc {
        let level = Level::ALL[input.u8() as usize % 5];
        let style = [
            FormatStyle::Brace,
            FormatStyle::Percent,
            FormatStyle::Literal,
        ][input.u8() as usize % 3];
        let line = input.u32();
        let target = input.string();
        let module = input.string();
        let file = input.string();
        let format = input.string();
        let n = input.u8() % 24;
        let mut fields = Vec::new();
        for _ in 0..n {
            if input.is_empty() {
                break;
            }
            fields.push(input.string());
        }
        OwnedDesc {
            level,
            style,
            line,
            target,
            module,
            file,
            format,
            fields,
        }
    }

    /// The borrowed form the wire crate takes.
    pub fn desc(&self) -> CallsiteDesc<'_> {
        CallsiteDesc {
            level: self.level,
            style: self.style,
            line: self.line,
            target: &self.target,
            module: &self.module,
            file: &self.file,
            format: &self.format,
            fields: self.fields.iter().map(|s| s.as_str()).collect(),
        }
    }

    fn longest_string(&self) -> usize {
        [&self.target, &self.module, &self.file, &self.format]
            .into_iter()
            .chain(&self.fields)
            .map(|s| s.len())
            .max()
            .unwrap_or(0)
    }
}

/// Reads a clock calibration: kind (realtime or TSC), anchor pair and frequency.
pub fn read_calibration(input: &mut Input<'_>) -> Calibration {
    let kind = if input.u8() & 1 == 0 {
        ClockKind::Realtime
    } else {
        ClockKind::Tsc
    };
    Calibration::new(kind, input.u64(), input.u64(), input.u64())
}

// ---------------------------------------------------------------------------------------------
// segment_validate

/// `layout::validate` over arbitrary bytes against several file lengths: never panics, errors
/// print, and whatever it accepts satisfies the invariants `Segment::map` and
/// `CallsiteTable::new` rely on.
pub fn check_segment_validate(data: &[u8]) {
    let claimed = (data.len() >= layout::SHARED_OFFSET)
        .then(|| u64::from_ne_bytes(data[56..64].try_into().unwrap()));
    let lens = [
        Some(data.len() as u64),
        claimed,
        claimed.map(|c| c.wrapping_sub(1)),
        Some(layout::HEADER_SIZE),
        Some(0),
        Some(u64::MAX),
    ];
    for file_len in lens.into_iter().flatten() {
        match layout::validate(data, file_len) {
            Ok(h) => check_valid_header(&h, file_len),
            Err(e) => {
                assert!(!e.to_string().is_empty());
                if data.len() < layout::SHARED_OFFSET || file_len < layout::HEADER_SIZE {
                    assert_eq!(e, LayoutError::TooSmall { len: file_len });
                }
            }
        }
    }
}

fn check_valid_header(h: &SegmentHeader, file_len: u64) {
    assert_eq!(h.magic, layout::MAGIC);
    assert_eq!(h.version, layout::VERSION);
    assert_eq!(h.ready, layout::READY);
    assert!(h.total_size <= file_len);
    assert!(h.slot_size.is_power_of_two() && h.slot_size >= layout::MIN_SLOT_SIZE);
    assert!(h.slot_count.is_power_of_two() && h.slot_count >= layout::MIN_SLOT_COUNT);
    assert!((1..=15).contains(&h.max_span) && h.max_span as u64 <= (h.slot_count / 2).max(1));
    assert_eq!(h.control_offset as u64, layout::CONTROL_OFFSET);
    assert_eq!(
        h.callsite_offset,
        layout::CONTROL_OFFSET + layout::CONTROL_SIZE
    );
    assert_eq!(h.ring_offset % 4096, 0, "ring is page aligned");
    assert!(h.callsite_offset + h.callsite_size <= h.ring_offset);
    assert_eq!(
        h.ring_offset + h.slot_size as u64 * h.slot_count,
        h.total_size
    );
    assert!(h.callsite_index_slots.is_power_of_two());
    // CallsiteTable::new's contract.
    assert!((entries_start(h.callsite_index_slots) as u64) < h.callsite_size);
    // Validation is a function of the header alone.
    assert_eq!(layout::validate(bytemuck::bytes_of(h), file_len), Ok(*h));
}

// ---------------------------------------------------------------------------------------------
// record_decode

/// The bytes after a record's end (or after a header's worth if it did not decode): where the
/// structured part of a `record_decode` or `drain_format` input starts.
pub fn record_tail(data: &[u8]) -> &[u8] {
    match decode_record(data) {
        Ok(r) => &data[RECORD_HEADER_LEN + r.payload.len()..],
        Err(_) => data.get(RECORD_HEADER_LEN..).unwrap_or(&[]),
    }
}

/// The record at the start of `data`: decodes (or fails cleanly), its arguments iterate and
/// stop after an error, and `OwnedRecord::decode` with a callsite read from the bytes past the
/// record never panics. Then the rest of the bytes are a list of typed arguments and a buffer
/// size for [`check_args_round_trip`].
pub fn check_record_decode(data: &[u8]) {
    let mut tail = Input::new(record_tail(data));
    match decode_record(data) {
        Ok(r) => {
            assert_eq!(r.payload.len(), r.header.len as usize);
            assert!(data.len() >= RECORD_HEADER_LEN + r.payload.len());
            assert!(Level::from_u8(r.header.level).is_some());
            let mut it = r.args();
            let mut n = 0;
            while let Some(a) = it.next() {
                n += 1;
                assert!(n <= r.payload.len(), "more arguments than payload bytes");
                if let Err(e) = a {
                    assert!(!e.to_string().is_empty());
                    assert!(it.next().is_none(), "iteration goes on after an error");
                    break;
                }
            }
            let sel = tail.u8() % 4;
            let desc = OwnedDesc::read(&mut tail);
            let err = tail.string();
            let clock = read_calibration(&mut tail);
            let cs = Callsite::new(8, &desc.desc());
            let callsite = match sel {
                0 => Ok(None),
                1 => Err(err.as_str()),
                _ => Ok(Some(&cs)),
            };
            let rec = OwnedRecord::decode(&r, callsite, &clock);
            assert_eq!(rec.truncated, r.truncated());
            assert_eq!((rec.pid, rec.tid), (r.header.pid, r.header.tid));
            if rec.truncated {
                assert!(rec.message.ends_with(" [truncated]"));
            }
            if sel == 1 {
                assert_eq!(
                    rec.problems.first(),
                    Some(&err),
                    "the callsite error is a problem"
                );
            }
        }
        Err(DecodeError::Incomplete { needed }) => assert!(needed > data.len()),
        Err(e @ DecodeError::Corrupt(_)) => {
            assert!(data.len() >= RECORD_HEADER_LEN);
            assert!(!e.to_string().is_empty());
        }
    }
    let cap = tail.length();
    let args = TypedArg::read_list(&mut tail);
    check_args_round_trip(&args, cap);
}

// ---------------------------------------------------------------------------------------------
// callsite_decode

/// `decode_callsite` over the raw bytes (what it accepts re-encodes to exactly those bytes); a
/// description read from the bytes round-trips through `encode_callsite`; and the rest of the
/// bytes drive [`check_table_garbage`].
pub fn check_callsite_decode(data: &[u8]) {
    match decode_callsite(8, data) {
        Ok(desc) => {
            let mut again = Vec::new();
            encode_callsite(&desc, &mut again).expect("a decoded callsite re-encodes");
            assert_eq!(again, data, "the encoding is canonical");
        }
        Err(e) => {
            assert!(matches!(e, CallsiteError::Corrupt { id: 8, .. }), "{e:?}");
            assert!(!e.to_string().is_empty());
        }
    }

    let mut input = Input::new(data);
    let owned = OwnedDesc::read(&mut input);
    let desc = owned.desc();
    let mut bytes = Vec::new();
    match encode_callsite(&desc, &mut bytes) {
        Ok(()) => {
            assert!(owned.longest_string() <= u16::MAX as usize);
            assert_eq!(decode_callsite(16, &bytes), Ok(desc.clone()));
            assert!(decode_callsite(16, &bytes[..bytes.len() - 1]).is_err());
            let mut longer = bytes.clone();
            longer.push(0);
            assert!(decode_callsite(16, &longer).is_err());
        }
        Err(RegisterError::TooLong { len, .. }) => {
            assert!(len > u16::MAX as usize && owned.longest_string() >= len);
        }
        Err(e) => panic!("unexpected {e:?}"),
    }

    check_table_garbage(&mut input);
}

/// A callsite table on the heap, optionally initialised and filled, then overwritten with
/// garbage: `entry` for its own ids and arbitrary ones, `ids`, the statistics and `register`
/// never panic; entries that validate decode (or fail) cleanly.
pub fn check_table_garbage(input: &mut Input<'_>) {
    let words = 10 + input.u16() as usize % 4096;
    let size = words * 8;
    let mut slots = 1u32 << (input.u8() % 16);
    while entries_start(slots) >= size {
        slots >>= 1;
    }
    let mode = input.u8();
    let mut mem = vec![0u64; words];
    let base = NonNull::new(mem.as_mut_ptr() as *mut u8).unwrap();
    // SAFETY: `mem` is 8-aligned and `size` bytes, is not touched except through `base` until
    // the table is gone (it outlives the table: both are locals, the table dropped first), and
    // `slots` is a power of two with entries_start(slots) < size (the loop above).
    let table = unsafe { CallsiteTable::new(base, size, slots) };
    if mode & 1 != 0 {
        table.init();
    }
    let mut registered = Vec::new();
    if mode & 2 != 0 {
        for _ in 0..input.u8() % 4 {
            let d = OwnedDesc::read(input);
            if let Ok(id) = table.register(&d.desc()) {
                registered.push((id, d));
            }
        }
    }
    let mut out = Vec::new();
    if mode & 1 != 0 {
        // An honest table: what registration returned resolves to what was registered.
        for (id, d) in &registered {
            table.entry(*id, &mut out).expect("registered id resolves");
            assert_eq!(decode_callsite(*id, &out), Ok(d.desc()));
        }
    }
    // Garbage: (offset, chunk) writes anywhere in the region.
    for _ in 0..input.u8() % 16 {
        let off = input.u32() as usize % size;
        let chunk = input.chunk();
        let n = chunk.len().min(size - off);
        // SAFETY: [off, off + n) lies inside the `size`-byte region; this thread is the only
        // one touching it, and the table reads it only through atomics and raw copies, so
        // plain writes in between its calls are fine.
        unsafe { core::ptr::copy_nonoverlapping(chunk.as_ptr(), base.as_ptr().add(off), n) };
    }
    assert!(table.used() <= size as u64);
    let _ = (table.count(), table.failed(), table.size());
    let mut ids = table.ids();
    ids.extend(registered.iter().map(|(id, _)| *id));
    for _ in 0..input.u8() % 16 {
        ids.push(input.u32());
    }
    ids.extend((0..size.min(1024) as u32).step_by(8));
    for id in ids {
        match table.entry(id, &mut out) {
            Ok(()) => {
                assert!(out.len() >= 8);
                if let Err(e) = decode_callsite(id, &out) {
                    assert!(!e.to_string().is_empty());
                }
            }
            Err(e) => {
                assert!(out.is_empty(), "a failed entry leaves no bytes");
                assert!(!e.to_string().is_empty());
            }
        }
    }
    // A producer registering into a damaged table gets an error, or an id that resolves to
    // what it registered (never id 0, which means "no callsite"); never a panic.
    if mode & 4 != 0 {
        let d = OwnedDesc::read(input);
        match table.register(&d.desc()) {
            Ok(id) => {
                table.entry(id, &mut out).expect("a registered id resolves");
                assert_eq!(decode_callsite(id, &out), Ok(d.desc()));
            }
            Err(e) => assert!(!e.to_string().is_empty()),
        }
    }
    drop(mem);
}

// ---------------------------------------------------------------------------------------------
// render

/// An upper bound on rendered output: linear in the format string and in the arguments the
/// holes took (widths are clamped to 4096 characters and precisions to 1024 digits).
pub fn render_bound(format: &str, used: &[TypedArg]) -> usize {
    let per_arg: usize = used
        .iter()
        .map(|a| 20_000 + 10 * a.var_len().unwrap_or(0))
        .sum();
    64 + 16 * format.len() + per_arg
}

/// `render_message` with an arbitrary format string and arguments, in all three styles: never
/// panics, output bounded by [`render_bound`], the same through `String` and `Vec<u8>`, and
/// a format without holes renders as itself.
pub fn check_render(data: &[u8]) {
    let mut input = Input::new(data);
    let format = input.string();
    let typed = TypedArg::read_list(&mut input);
    let args: Vec<Arg<'_>> = typed.iter().map(|a| a.expected()).collect();
    for style in [
        FormatStyle::Brace,
        FormatStyle::Percent,
        FormatStyle::Literal,
    ] {
        let mut s = String::new();
        let r = render_message(&mut s, style, &format, &args);
        assert!(r.used <= args.len());
        let template = Template::parse(style, &format);
        // Holes may take one argument several times (`{0} {0}`): bound by the costliest
        // argument once per hole.
        let costliest = (0..r.used)
            .map(|i| render_bound("", &typed[i..i + 1]))
            .max()
            .unwrap_or(0);
        let bound = render_bound(&format, &[]) + template.holes() * costliest;
        assert!(
            s.len() <= bound,
            "{style:?} rendered {} bytes (bound {bound}) from {format:?}",
            s.len()
        );
        assert!(r.missing <= template.holes());
        assert_eq!(r.used, template.positional().min(args.len()));
        let mut v = Vec::new();
        assert_eq!(template.render(&mut v, &args), r);
        assert_eq!(v, s.as_bytes());
        let plain = match style {
            FormatStyle::Brace => !format.contains(['{', '}']),
            FormatStyle::Percent => !format.contains('%'),
            FormatStyle::Literal => true,
        };
        if plain {
            assert_eq!(s, format);
            assert_eq!(r, Rendered::default());
        }
    }
}
