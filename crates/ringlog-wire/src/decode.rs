//! Decoding records and rendering their messages: the reader API both `ringdrain` and tests use.
//!
//! * [`decode_record`] splits record bytes into header and payload, validating lengths.
//! * [`render_message`] fills a callsite's format string with decoded arguments, writing through
//!   any [`Out`] (the drain's escaping writers), and returns how many arguments the holes took;
//!   the rest are the key-value fields. Problems (a missing argument, a bad format string) show
//!   as visible markers in the text, never as a panic.
//! * [`Template`] is a format parsed once (the drain caches one per callsite).
//!
//! A record's one decoded view (message, fields, problems) is [`crate::view::RecordView`].

use crate::args::{Arg, Args};
use crate::callsite::FormatStyle;
use crate::pyfmt;
use crate::record::{Level, RecordHeader, FLAG_TRUNCATED, RECORD_HEADER_LEN};
use ringlog_grammar::{
    Align, ArgRef, Parser, Piece as GPiece, Spec, Type, MAX_PRECISION, MAX_WIDTH,
};

/// Why record bytes did not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// More bytes are needed (a stream reader can wait for them).
    #[error("record needs {needed} bytes")]
    Incomplete {
        /// Total bytes the record needs.
        needed: usize,
    },
    /// The bytes cannot be a record.
    #[error("corrupt record: {0}")]
    Corrupt(&'static str),
}

/// A record's header and payload, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef<'a> {
    /// The header.
    pub header: RecordHeader,
    /// The encoded arguments.
    pub payload: &'a [u8],
}

impl<'a> RecordRef<'a> {
    /// The record's level.
    pub fn level(&self) -> Level {
        Level::from_u8(self.header.level).unwrap_or(Level::Error)
    }

    /// Whether arguments were cut to fit.
    pub fn truncated(&self) -> bool {
        self.header.flags & FLAG_TRUNCATED != 0
    }

    /// The arguments.
    pub fn args(&self) -> Args<'a> {
        Args::new(self.payload)
    }
}

/// Splits `bytes` into a record (bytes past the record's length are ignored: slot padding).
pub fn decode_record(bytes: &[u8]) -> Result<RecordRef<'_>, DecodeError> {
    if bytes.len() < RECORD_HEADER_LEN {
        return Err(DecodeError::Incomplete {
            needed: RECORD_HEADER_LEN,
        });
    }
    let header: RecordHeader = bytemuck::pod_read_unaligned(&bytes[..RECORD_HEADER_LEN]);
    if Level::from_u8(header.level).is_none() {
        return Err(DecodeError::Corrupt("bad level"));
    }
    if header.flags & !FLAG_TRUNCATED != 0 {
        return Err(DecodeError::Corrupt("unknown flags"));
    }
    let end = RECORD_HEADER_LEN + header.len as usize;
    if bytes.len() < end {
        return Err(DecodeError::Incomplete { needed: end });
    }
    Ok(RecordRef {
        header,
        payload: &bytes[RECORD_HEADER_LEN..end],
    })
}

/// Somewhere rendered text goes; the drain's writers escape as their format needs.
pub trait Out {
    /// Appends `s`.
    fn push_str(&mut self, s: &str);
    /// Appends text known to need no escaping in any format (no control character, quote,
    /// backslash, C1 control or bidirectional formatting character); escaping writers copy it
    /// as is.
    #[inline]
    fn push_verbatim(&mut self, s: &str) {
        self.push_str(s)
    }
    /// Appends one character.
    #[inline]
    fn push_char(&mut self, c: char) {
        self.push_str(c.encode_utf8(&mut [0; 4]))
    }
}

impl Out for String {
    fn push_str(&mut self, s: &str) {
        String::push_str(self, s)
    }
}

/// Appends raw UTF-8 bytes (no escaping).
impl Out for Vec<u8> {
    #[inline]
    fn push_str(&mut self, s: &str) {
        extend_small(self, s.as_bytes())
    }
}

/// `out.extend_from_slice(b)`, with up to 64 bytes (a literal, a number, a short argument, a
/// line's head) copied inline: `extend_from_slice` calls `memcpy` for a length not known at
/// compile time, and the call and its size dispatch cost more than a few dozen bytes.
#[inline(always)]
pub fn extend_small(out: &mut Vec<u8>, b: &[u8]) {
    out.reserve(b.len());
    let len = out.len();
    // SAFETY: `reserve` left room for `b.len()` bytes after `len`, and `b` cannot overlap
    // `out`'s spare capacity (it is a shared borrow while `out` is borrowed mutably). Every
    // index written or read below is under `n`; the `n` bytes are initialised before
    // `set_len` counts them.
    unsafe {
        let (n, s, d) = (b.len(), b.as_ptr(), out.as_mut_ptr().add(len));
        if n <= 3 {
            // 1 to 3 bytes as three byte moves that overlap as needed (`copy_record`'s byte
            // loop for these sizes is turned back into a `memcpy` call by the compiler).
            if n > 0 {
                *d = *s;
                *d.add(n / 2) = *s.add(n / 2);
                *d.add(n - 1) = *s.add(n - 1);
            }
        } else {
            crate::args::copy_record(b, d);
        }
        out.set_len(len + n);
    }
}

/// Writes `v` as Rust's `Display` for `f64` would (shortest round-trip digits, no exponent),
/// using ryu for speed.
pub fn write_f64<O: Out + ?Sized>(out: &mut O, v: f64) {
    if v.is_nan() {
        return out.push_str("NaN");
    }
    if v.is_infinite() {
        return out.push_str(if v < 0.0 { "-inf" } else { "inf" });
    }
    if write_f64_short(out, v) {
        return;
    }
    let mut buf = ryu::Buffer::new();
    let s = buf.format_finite(v);
    if ryu_may_differ(s, |alt| alt.parse::<f64>() == Ok(v)) {
        return display(out, v);
    }
    plain_decimal(out, s);
}

/// Whether ryu's shortest digits `s` may differ from `Display`'s: when a decimal of the same
/// length (the last digit one up or down) also parses back to the value, the value can lie
/// exactly between two shortest candidates, a tie ryu breaks to even and `Display` does not
/// (21162465103786.3125 is `...312` for ryu, `...313` for `Display`). Also true when the
/// neighbour cannot be formed in place (a last digit of 0 or 9).
fn ryu_may_differ(s: &str, round_trips: impl Fn(&str) -> bool) -> bool {
    let end = s.find('e').unwrap_or(s.len());
    let mut alt = [0u8; 40];
    let Some(buf) = alt.get_mut(..s.len()) else {
        return true;
    };
    buf.copy_from_slice(s.as_bytes());
    let Some(&last) = end.checked_sub(1).and_then(|i| s.as_bytes().get(i)) else {
        return true;
    };
    if !(b'1'..=b'8').contains(&last) {
        return true;
    }
    [last - 1, last + 1].into_iter().any(|d| {
        buf[end - 1] = d;
        core::str::from_utf8(buf).is_ok_and(&round_trips)
    })
}

/// `v` as `Display` writes it (the slow path, for ties ryu breaks differently).
#[cold]
fn display<O: Out + ?Sized, T: core::fmt::Display>(out: &mut O, v: T) {
    out.push_verbatim(&v.to_string());
}

/// The fast path of [`write_f64`] for values with at most three decimals (latencies, ratios,
/// money): `n / 10^k` for the smallest `k` in 0..=3 whose decimal parses back to exactly `v`
/// is the shortest round-trip form Display prints, since below 9e12 (< 2^43) `v`'s ulp is at
/// most 2^-10, less than one step of `10^-k` (just: 0.000977 against 0.001 near the top), and
/// the decimals that parse to `v` lie within one ulp of each other, so at most one `n`
/// round-trips for each `k` (the division of two exact values is correctly rounded, as parsing
/// is). Returns false, writing
/// nothing, for anything else (zero included: `-0` keeps its sign through ryu).
fn write_f64_short<O: Out + ?Sized>(out: &mut O, v: f64) -> bool {
    const POW: [f64; 4] = [1.0, 10.0, 100.0, 1000.0];
    // Below 2^53 / 10^3: every candidate n is an exact integer in f64.
    if v == 0.0 || v.abs() >= 9.0e12 {
        return false;
    }
    let neg = v < 0.0;
    if v.abs() < 1.0e9 {
        return write_f64_milli(out, v, neg);
    }
    for (k, p) in POW.iter().enumerate() {
        // `m.round()` (half away from zero) without the libm call it is on baseline x86-64:
        // the integer part by truncation, plus one if the fraction (exact: |m| < 2^63, and
        // a double's fractional part is representable) is at least a half.
        // (`i64`, not `u64`: x86-64 converts to a signed integer in one instruction.)
        let m = (v * p).abs();
        let int = m as i64;
        let n = (int + i64::from(m - int as f64 >= 0.5)).unsigned_abs();
        let back = n as f64 / p;
        if (if neg { -back } else { back }) != v {
            continue;
        }
        let mut ib = itoa::Buffer::new();
        if neg {
            out.push_verbatim("-");
        }
        if k == 0 {
            out.push_verbatim(ib.format(n));
            return true;
        }
        let scale = [1, 10, 100, 1000][k];
        out.push_verbatim(ib.format(n / scale));
        // The fraction padded to three digits indexes `.000` .. `.999`; its first k digits are
        // the decimals (the smallest k leaves no trailing zero: the last one is non-zero).
        let at = (n % scale * (1000 / scale)) as usize * 4;
        out.push_verbatim(FRACTIONS.get(at..at + 1 + k).unwrap_or("."));
        return true;
    }
    false
}

/// [`write_f64_short`] below 10^9 with one multiplication instead of one per `k`: `n =
/// round(|v| * 1000)` and `n / 1000 == |v|` decide at once, and the fraction's trailing zeros
/// give the smallest `k`. Below 10^9 an ulp of `v` (at most 2^-23) is far below 10^-3, so
/// `|v| * 1000` is within 10^-3 of an integer when `v` has at most three decimals, the rounding
/// finds it, and at most one decimal of up to three places parses back to `v` (so the one
/// found, written without its trailing zeros, is the shortest, as the loop would find).
#[inline]
fn write_f64_milli<O: Out + ?Sized>(out: &mut O, v: f64, neg: bool) -> bool {
    let m = v.abs() * 1000.0;
    // `round` without the libm call, as in `write_f64_short`.
    let int = m as i64;
    let n = (int + i64::from(m - int as f64 >= 0.5)).unsigned_abs();
    if n as f64 / 1000.0 != v.abs() {
        return false;
    }
    // One buffer, one write: the sign and the integer part (below 10^9: at most nine digits,
    // two at a time) end at byte 10, the fraction's four table bytes follow.
    let (mut whole, frac) = ((n / 1000) as usize, (n % 1000) as usize);
    let mut buf = [0u8; 14];
    let mut at = 10;
    while whole >= 100 {
        let d = whole % 100 * 2;
        at -= 2;
        buf[at..at + 2].copy_from_slice(&DIGIT_PAIRS[d..d + 2]);
        whole /= 100;
    }
    if whole >= 10 {
        at -= 2;
        buf[at..at + 2].copy_from_slice(&DIGIT_PAIRS[whole * 2..whole * 2 + 2]);
    } else {
        at -= 1;
        buf[at] = b'0' + whole as u8;
    }
    if neg {
        at -= 1;
        buf[at] = b'-';
    }
    let mut end = 10;
    if frac != 0 {
        // Decimals without trailing zeros: `.d`, `.dd` or `.ddd` of the `.000`-`.999` entry.
        buf[10..14].copy_from_slice(&FRACTIONS.as_bytes()[frac * 4..frac * 4 + 4]);
        end += if frac % 100 == 0 {
            2
        } else if frac % 10 == 0 {
            3
        } else {
            4
        };
    }
    // SAFETY: every byte of `buf[at..end]` was written above from ASCII: digits, `-`, and
    // the `.000`-`.999` table.
    out.push_verbatim(unsafe { core::str::from_utf8_unchecked(&buf[at..end]) });
    true
}

/// "00" to "99", two bytes each.
pub const DIGIT_PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// `.000.001.002` ... `.999`: four bytes per fraction, for [`write_f64_short`].
const FRACTIONS: &str = {
    const BYTES: [u8; 4000] = {
        let mut b = [0u8; 4000];
        let mut i = 0;
        while i < 1000 {
            b[4 * i] = b'.';
            b[4 * i + 1] = b'0' + (i / 100) as u8;
            b[4 * i + 2] = b'0' + (i / 10 % 10) as u8;
            b[4 * i + 3] = b'0' + (i % 10) as u8;
            i += 1;
        }
        b
    };
    match core::str::from_utf8(&BYTES) {
        Ok(s) => s,
        Err(_) => panic!("ASCII digits are UTF-8"),
    }
};

/// As [`write_f64`] for `f32`.
pub fn write_f32<O: Out + ?Sized>(out: &mut O, v: f32) {
    if v.is_nan() {
        return out.push_str("NaN");
    }
    if v.is_infinite() {
        return out.push_str(if v < 0.0 { "-inf" } else { "inf" });
    }
    let mut buf = ryu::Buffer::new();
    let s = buf.format_finite(v);
    if ryu_may_differ(s, |alt| alt.parse::<f32>() == Ok(v)) {
        return display(out, v);
    }
    plain_decimal(out, s);
}

/// The significant digits of ryu's output (`1.0`, `1.5e-7`, `1e20`, no sign) and where the
/// decimal point goes: the value is `0.DIGITS x 10^point`. Shared by Rust-style and
/// Python-style float formatting.
pub(crate) struct Digits {
    buf: [u8; 40],
    start: usize,
    end: usize,
    /// Position of the decimal point relative to the first significant digit.
    pub(crate) point: i32,
}

impl Digits {
    pub(crate) fn of(ryu: &str) -> Digits {
        let (mant, exp) = match ryu.split_once('e') {
            Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
            None => (ryu, 0),
        };
        let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
        let mut buf = [0u8; 40];
        let mut end = 0;
        for b in int.bytes().chain(frac.bytes()) {
            if end < buf.len() {
                buf[end] = b;
                end += 1;
            }
        }
        let mut point = int.len() as i32 + exp;
        // Strip leading zeros (keeping the point in place) and trailing zeros.
        let mut start = 0;
        while start < end && buf[start] == b'0' {
            start += 1;
            point -= 1;
        }
        while end > start && buf[end - 1] == b'0' {
            end -= 1;
        }
        Digits {
            buf,
            start,
            end,
            point,
        }
    }

    /// The digits (empty for zero).
    pub(crate) fn as_str(&self) -> &str {
        // All bytes are ASCII digits from ryu's output, so this never fails.
        core::str::from_utf8(&self.buf[self.start..self.end]).unwrap_or("0")
    }
}

/// Rewrites ryu's output (`1.0`, `1.5e-7`, `1e20`) as a plain decimal (`1`, `0.00000015`,
/// `100000000000000000000`).
fn plain_decimal<O: Out + ?Sized>(out: &mut O, s: &str) {
    if !s.contains('e') {
        // ryu already wrote a plain decimal; Display drops a trailing ".0".
        return out.push_verbatim(s.strip_suffix(".0").unwrap_or(s));
    }
    let (neg, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let digits = Digits::of(s);
    if neg {
        out.push_str("-");
    }
    let ds = digits.as_str();
    if ds.is_empty() {
        return out.push_str("0");
    }
    let point = digits.point;
    let len = ds.len() as i32;
    if point <= 0 {
        out.push_str("0.");
        for _ in 0..(-point) {
            out.push_str("0");
        }
        out.push_str(ds);
    } else if point >= len {
        out.push_str(ds);
        for _ in 0..(point - len) {
            out.push_str("0");
        }
    } else {
        out.push_str(&ds[..point as usize]);
        out.push_str(".");
        out.push_str(&ds[point as usize..]);
    }
}

fn write_bytes_debug<O: Out + ?Sized>(out: &mut O, b: &[u8]) {
    out.push_str("[");
    let mut ib = itoa::Buffer::new();
    for (i, x) in b.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(ib.format(*x));
    }
    out.push_str("]");
}

/// Writes an argument as `{}` would. Inlined: the common arguments (integers, strings) are a
/// few instructions at the call site; the rest go through `write_display_other`.
#[inline]
pub fn write_display<O: Out + ?Sized>(out: &mut O, arg: &Arg<'_>) {
    match *arg {
        Arg::U64(v) => out.push_verbatim(itoa::Buffer::new().format(v)),
        Arg::I64(v) => out.push_verbatim(itoa::Buffer::new().format(v)),
        Arg::Str(s) | Arg::Display(s) => out.push_str(s),
        _ => write_display_other(out, arg),
    }
}

/// [`write_display`] for the arguments it does not write inline.
fn write_display_other<O: Out + ?Sized>(out: &mut O, arg: &Arg<'_>) {
    let mut ib = itoa::Buffer::new();
    match *arg {
        Arg::U64(v) => out.push_verbatim(ib.format(v)),
        Arg::I64(v) => out.push_verbatim(ib.format(v)),
        Arg::U128(v) => out.push_verbatim(ib.format(v)),
        Arg::I128(v) => out.push_verbatim(ib.format(v)),
        Arg::F32(v) => write_f32(out, v),
        Arg::F64(v) => write_f64(out, v),
        Arg::Bool(v) => out.push_verbatim(if v { "true" } else { "false" }),
        Arg::Char(c) => out.push_char(c),
        Arg::Str(s) | Arg::Display(s) => out.push_str(s),
        Arg::Bytes(b) => write_bytes_debug(out, b),
        Arg::None => out.push_verbatim("None"),
    }
}

/// Writes an argument as `{:?}` would.
pub fn write_debug<O: Out + ?Sized>(out: &mut O, arg: &Arg<'_>) {
    match *arg {
        Arg::Str(s) => out.push_str(&format!("{s:?}")),
        Arg::Char(c) => out.push_str(&format!("{c:?}")),
        Arg::F32(v) => out.push_str(&format!("{v:?}")),
        Arg::F64(v) => out.push_str(&format!("{v:?}")),
        _ => write_display(out, arg),
    }
}

fn write_with_spec<O: Out + ?Sized>(out: &mut O, arg: &Arg<'_>, spec: &Spec) {
    let mut s = String::new();
    let alt = spec.alternate;
    // The drain's caps, whatever a (possibly damaged) callsite asks for.
    let width = spec.width.min(MAX_WIDTH);
    let precision = spec.precision.map(|p| p.min(MAX_PRECISION));
    macro_rules! int {
        ($v:expr) => {
            match spec.ty {
                Type::LowerHex | Type::DebugLowerHex if alt => format!("{:#x}", $v),
                Type::LowerHex | Type::DebugLowerHex => format!("{:x}", $v),
                Type::UpperHex | Type::DebugUpperHex if alt => format!("{:#X}", $v),
                Type::UpperHex | Type::DebugUpperHex => format!("{:X}", $v),
                Type::Octal if alt => format!("{:#o}", $v),
                Type::Octal => format!("{:o}", $v),
                Type::Binary if alt => format!("{:#b}", $v),
                Type::Binary => format!("{:b}", $v),
                Type::LowerExp => format!("{:e}", $v),
                Type::UpperExp => format!("{:E}", $v),
                _ if spec.plus => format!("{:+}", $v),
                _ => format!("{}", $v),
            }
        };
    }
    macro_rules! float {
        ($v:expr) => {
            match (spec.ty, precision) {
                (Type::LowerExp, Some(p)) => format!("{:.*e}", p, $v),
                (Type::LowerExp, None) => format!("{:e}", $v),
                (Type::UpperExp, Some(p)) => format!("{:.*E}", p, $v),
                (Type::UpperExp, None) => format!("{:E}", $v),
                (Type::Debug | Type::DebugLowerHex | Type::DebugUpperHex, Some(p)) => {
                    format!("{:.*?}", p, $v)
                }
                (Type::Debug | Type::DebugLowerHex | Type::DebugUpperHex, None) => {
                    format!("{:?}", $v)
                }
                (_, Some(p)) if spec.plus => format!("{:+.*}", p, $v),
                (_, Some(p)) => format!("{:.*}", p, $v),
                (_, None) if spec.plus => format!("{:+}", $v),
                (_, None) => format!("{}", $v),
            }
        };
    }
    match *arg {
        Arg::U64(v) => s = int!(v),
        Arg::I64(v) => s = int!(v),
        Arg::U128(v) => s = int!(v),
        Arg::I128(v) => s = int!(v),
        Arg::F32(v) => s = float!(v),
        Arg::F64(v) => s = float!(v),
        _ => {
            if matches!(
                spec.ty,
                Type::Debug | Type::DebugLowerHex | Type::DebugUpperHex
            ) {
                write_debug(&mut s, arg);
            } else {
                write_display(&mut s, arg);
            }
            if let Some(p) = precision {
                if matches!(arg, Arg::Str(_) | Arg::Display(_)) {
                    if let Some((i, _)) = s.char_indices().nth(p) {
                        s.truncate(i);
                    }
                }
            }
        }
    }
    let numeric = matches!(
        arg,
        Arg::U64(_) | Arg::I64(_) | Arg::U128(_) | Arg::I128(_) | Arg::F32(_) | Arg::F64(_)
    );
    let len = s.chars().count();
    if len >= width {
        return out.push_str(&s);
    }
    let pad = width - len;
    if spec.zero && numeric && spec.align.is_none() {
        // Zeros go after the sign and any 0x prefix.
        let sign = s.starts_with(['-', '+']) as usize;
        let prefix = if alt
            && s[sign..].starts_with("0")
            && s.len() > sign + 1
            && s.as_bytes()[sign + 1].is_ascii_alphabetic()
        {
            sign + 2
        } else {
            sign
        };
        out.push_str(&s[..prefix]);
        for _ in 0..pad {
            out.push_str("0");
        }
        return out.push_str(&s[prefix..]);
    }
    let align = spec
        .align
        .unwrap_or(if numeric { Align::Right } else { Align::Left });
    let (left, right) = match align {
        Align::Right => (pad, 0),
        Align::Center => (pad / 2, pad - pad / 2),
        Align::Left => (0, pad),
    };
    for _ in 0..left {
        out.push_char(spec.fill);
    }
    out.push_str(&s);
    for _ in 0..right {
        out.push_char(spec.fill);
    }
}

/// What rendering a message found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rendered {
    /// Where the fields start: the positional arguments the format takes (at most the
    /// arguments there are).
    pub used: usize,
    /// Holes with no argument (shown as `{?}` in the text).
    pub missing: usize,
    /// The format string was malformed (shown as a marker in the text).
    pub bad_format: bool,
}

/// Renders `format` with `args` into `out` (parsing the format each time; a drain caches a
/// [`Template`] per callsite instead). Named holes find no fields here: see
/// [`Template::with_fields`].
///
/// Brace style: the [`ringlog_grammar`] grammar (`{}`, `{0}`, `{name}`, `{:spec}`, `{{`/`}}`);
/// a hole without an argument prints `{?}`, a malformed hole prints `{!bad format}` and the rest
/// of the format verbatim. Percent style (Python `logging`): Python's `%` operator, see
/// [`pyfmt`]. Literal: the format as is.
pub fn render_message<O: Out + ?Sized>(
    out: &mut O,
    style: FormatStyle,
    format: &str,
    args: &[Arg<'_>],
) -> Rendered {
    Template::parse(style, format).render(out, args)
}

/// A format string parsed once into literal pieces and holes, each hole bound to the index of
/// the argument it takes.
///
/// Arguments are the positional ones, then the fields. For brace formats the positional count
/// is what the holes reach (`{}` counts up as in `format!`, `{3}` reaches 4); a `{name}` takes
/// the field of that name. The `ringlog` macros rewrite captured variables (`"{user}"` without
/// a `user = ..` field) into positional holes, so the drain never needs a variable's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pieces: Vec<Piece>,
    /// Arguments before the first field.
    positional: usize,
    /// Arguments the holes reach (one past the highest hole's argument): with at least this
    /// many, no hole is missing one (the per-record check is one compare).
    reach: usize,
    /// Why the format is malformed, if it is.
    problem: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    /// Literal text; `verbatim` when it has no control character, quote or backslash, so
    /// escaping writers can copy it as is.
    Lit { text: String, verbatim: bool },
    /// A `{}`-style hole taking argument `arg`; `kind` says, once at parse time, whether its
    /// spec is the plain `{}` or `{:?}` (the common holes, written without looking at `spec`).
    Hole {
        arg: usize,
        kind: HoleKind,
        spec: Spec,
    },
    /// A `{name}` hole waiting for the field list (resolved by [`Template::with_fields`]).
    Named { name: String, spec: Spec },
    /// A Python `%` conversion (`%s`, `%5.2f`, `%-8r`, ...) taking argument `arg`.
    Percent { arg: usize, spec: pyfmt::Spec },
    /// A malformed hole.
    Bad,
}

/// A piece of a template whose holes are all plain `{}` ([`Template::plain_pieces`]): what a
/// render plan is compiled from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlainPiece<'t> {
    /// Literal text, as it is in the format (not escaped).
    Lit(&'t str),
    /// A `{}` hole taking argument `n`, written as [`write_display`] writes it.
    Display(usize),
}

/// What a brace hole's spec asks for, decided when the format is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HoleKind {
    /// `{}`: `Display` with no width, precision or flags.
    Display,
    /// `{:?}`: `Debug` with no width, precision or flags.
    Debug,
    /// Anything else: [`write_with_spec`].
    Spec,
}

impl Piece {
    fn hole(arg: usize, spec: Spec) -> Piece {
        let kind = if spec == Spec::DISPLAY {
            HoleKind::Display
        } else if spec == Spec::DEBUG {
            HoleKind::Debug
        } else {
            HoleKind::Spec
        };
        Piece::Hole { arg, kind, spec }
    }
}

impl Template {
    /// Parses `format` in `style`. Never fails: malformed holes become markers.
    pub fn parse(style: FormatStyle, format: &str) -> Template {
        let mut t = Template {
            pieces: Vec::new(),
            positional: 0,
            reach: 0,
            problem: None,
        };
        match style {
            FormatStyle::Brace => t.parse_brace(format),
            FormatStyle::Percent => t.parse_percent(format),
            FormatStyle::Literal => t.lit(format),
        }
        t.reach = t.reach();
        t
    }

    /// One past the highest argument a hole takes (0 with no holes).
    fn reach(&self) -> usize {
        self.pieces
            .iter()
            .filter_map(|p| match p {
                Piece::Hole { arg, .. } | Piece::Percent { arg, .. } => Some(arg.saturating_add(1)),
                _ => None,
            })
            .max()
            .unwrap_or(0)
    }

    /// Parses `format` and binds its `{name}` holes to the callsite's `fields` (the arguments
    /// after the positional ones, in order). A name with no field is a malformed hole.
    pub fn with_fields<S: AsRef<str>>(style: FormatStyle, format: &str, fields: &[S]) -> Template {
        let mut t = Template::parse(style, format);
        let mut unknown = None;
        for piece in &mut t.pieces {
            if let Piece::Named { name, spec } = piece {
                match fields.iter().position(|f| f.as_ref() == name) {
                    Some(i) => *piece = Piece::hole(t.positional + i, *spec),
                    None => {
                        unknown.get_or_insert_with(|| name.clone());
                        *piece = Piece::Bad;
                    }
                }
            }
        }
        if let Some(name) = unknown {
            t.problem.get_or_insert_with(|| {
                format!("the format names {{{name}}}, which is not a field")
            });
        }
        t.reach = t.reach();
        t
    }

    fn lit(&mut self, s: &str) {
        if s.is_empty() {
            return;
        }
        if let Some(Piece::Lit { text, verbatim }) = self.pieces.last_mut() {
            text.push_str(s);
            // Only the new text needs a scan: rescanning all of `text` made a format of many
            // small literal pieces (`%%%%...`) quadratic to parse.
            *verbatim = *verbatim && is_verbatim(s);
            return;
        }
        self.pieces.push(Piece::Lit {
            text: s.to_string(),
            verbatim: is_verbatim(s),
        });
    }

    fn bad(&mut self, why: String) {
        self.problem.get_or_insert(why);
        self.pieces.push(Piece::Bad);
    }

    fn parse_brace(&mut self, format: &str) {
        let mut parser = Parser::new(format);
        let mut next = 0;
        while let Some(piece) = parser.next() {
            match piece {
                Ok(GPiece::Lit(s)) => self.lit(s),
                Ok(GPiece::Hole(h)) => {
                    let arg = match h.arg {
                        ArgRef::Next => {
                            next += 1;
                            next - 1
                        }
                        ArgRef::Index(i) => i,
                        ArgRef::Name(name) => {
                            self.pieces.push(Piece::Named {
                                name: name.to_string(),
                                spec: h.spec,
                            });
                            continue;
                        }
                    };
                    self.positional = self.positional.max(arg.saturating_add(1));
                    self.pieces.push(Piece::hole(arg, h.spec));
                }
                Err(e) => {
                    self.bad(format!("malformed format string: {}", e.kind));
                    self.lit(parser.rest());
                    return;
                }
            }
        }
    }

    fn parse_percent(&mut self, format: &str) {
        let mut rest = format;
        while let Some(p) = rest.find('%') {
            self.lit(&rest[..p]);
            let after = &rest[p + 1..];
            if let Some(tail) = after.strip_prefix('%') {
                self.lit("%");
                rest = tail;
                continue;
            }
            // %[flags][width][.precision][hlL]type, as Python parses it. The spec ends at the
            // first character that is not a flag, digit, point or length modifier, so each `%`
            // scans only its own spec (searching further made parsing quadratic).
            match pyfmt::parse_spec(after) {
                Ok((spec, n)) => {
                    self.pieces.push(Piece::Percent {
                        arg: self.positional,
                        spec,
                    });
                    self.positional += 1;
                    rest = &after[n..];
                }
                Err(_) => {
                    self.bad("malformed format string".to_string());
                    self.lit("%");
                    rest = after;
                }
            }
        }
        self.lit(rest);
    }

    /// Number of holes.
    pub fn holes(&self) -> usize {
        self.pieces
            .iter()
            .filter(|p| !matches!(p, Piece::Lit { .. } | Piece::Bad))
            .count()
    }

    /// Arguments before the first field.
    pub fn positional(&self) -> usize {
        self.positional
    }

    /// Holes whose argument is not among `args` arguments.
    pub fn missing(&self, args: usize) -> usize {
        if args >= self.reach {
            return 0;
        }
        self.pieces
            .iter()
            .filter(|p| matches!(p, Piece::Hole { arg, .. } | Piece::Percent { arg, .. } if *arg >= args))
            .count()
    }

    /// The pieces, if the format is well formed and every hole is a plain `{}` (the common
    /// format, which a render plan can write without [`Template::render`]'s per-piece
    /// dispatch); `None` for anything else (specs, `{:?}`, `%` conversions, bad holes).
    /// Rendering the pieces in order, each hole with [`write_display`], writes what
    /// [`Template::render`] writes when no argument is missing.
    pub fn plain_pieces(&self) -> Option<Vec<PlainPiece<'_>>> {
        if self.problem.is_some() {
            return None;
        }
        self.pieces
            .iter()
            .map(|p| match p {
                Piece::Lit { text, .. } => Some(PlainPiece::Lit(text)),
                Piece::Hole {
                    arg,
                    kind: HoleKind::Display,
                    ..
                } => Some(PlainPiece::Display(*arg)),
                _ => None,
            })
            .collect()
    }

    /// Why the format is malformed, if it is.
    pub fn problem(&self) -> Option<&str> {
        self.problem.as_deref()
    }

    /// Renders with `args`.
    pub fn render<O: Out + ?Sized>(&self, out: &mut O, args: &[Arg<'_>]) -> Rendered {
        let mut r = Rendered {
            used: self.positional.min(args.len()),
            missing: 0,
            bad_format: self.problem.is_some(),
        };
        for piece in &self.pieces {
            let (arg, spec) = match piece {
                Piece::Lit { text, verbatim } => {
                    if *verbatim {
                        out.push_verbatim(text);
                    } else {
                        out.push_str(text);
                    }
                    continue;
                }
                Piece::Bad | Piece::Named { .. } => {
                    out.push_verbatim("{!bad format}");
                    continue;
                }
                Piece::Hole { arg, .. } | Piece::Percent { arg, .. } => match args.get(*arg) {
                    Some(a) => (a, piece),
                    None => {
                        r.missing += 1;
                        out.push_verbatim("{?}");
                        continue;
                    }
                },
            };
            match spec {
                // Text the producer formatted (a type that is not `Encode`) was formatted with
                // this hole's own spec, as `format!` would: it is written as it is.
                Piece::Hole { .. } if matches!(arg, Arg::Display(_)) => write_display(out, arg),
                Piece::Hole {
                    kind: HoleKind::Display,
                    ..
                } => write_display(out, arg),
                Piece::Hole {
                    kind: HoleKind::Debug,
                    ..
                } => write_debug(out, arg),
                Piece::Hole { spec, .. } => write_with_spec(out, arg, spec),
                Piece::Percent { spec, .. } => pyfmt::write_arg(out, spec, arg),
                Piece::Lit { .. } | Piece::Bad | Piece::Named { .. } => {}
            }
        }
        r
    }
}

/// Whether literal text can be written with [`Out::push_verbatim`]: no control character,
/// quote or backslash, and none of the lead bytes of the characters the text output escapes so
/// a line shows as it was logged (0xC2: C1 controls; 0xD8: U+061C; 0xE2: U+2000..U+2FFF, the
/// bidirectional marks, embeddings, overrides and isolates among them). A format string comes
/// from the callsite table, which any producer writes: a right-to-left override in it must be
/// escaped like one in an argument.
fn is_verbatim(s: &str) -> bool {
    s.bytes().all(|b| {
        b >= 0x20 && b != 0x7f && b != b'"' && b != b'\\' && b != 0xc2 && b != 0xd8 && b != 0xe2
    })
}

/// An owned argument value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Unsigned integer.
    U64(u64),
    /// Signed integer.
    I64(i64),
    /// `u128`.
    U128(u128),
    /// `i128`.
    I128(i128),
    /// `f32`.
    F32(f32),
    /// `f64`.
    F64(f64),
    /// `bool`.
    Bool(bool),
    /// `char`.
    Char(char),
    /// String (also `Display`-formatted values).
    Str(String),
    /// Bytes.
    Bytes(Vec<u8>),
    /// Absent.
    None,
}

impl From<&Arg<'_>> for Value {
    fn from(a: &Arg<'_>) -> Self {
        match *a {
            Arg::U64(v) => Value::U64(v),
            Arg::I64(v) => Value::I64(v),
            Arg::U128(v) => Value::U128(v),
            Arg::I128(v) => Value::I128(v),
            Arg::F32(v) => Value::F32(v),
            Arg::F64(v) => Value::F64(v),
            Arg::Bool(v) => Value::Bool(v),
            Arg::Char(v) => Value::Char(v),
            Arg::Str(s) | Arg::Display(s) => Value::Str(s.to_string()),
            Arg::Bytes(b) => Value::Bytes(b.to_vec()),
            Arg::None => Value::None,
        }
    }
}

impl core::fmt::Display for Value {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut s = String::new();
        let arg = match self {
            Value::U64(v) => Arg::U64(*v),
            Value::I64(v) => Arg::I64(*v),
            Value::U128(v) => Arg::U128(*v),
            Value::I128(v) => Arg::I128(*v),
            Value::F32(v) => Arg::F32(*v),
            Value::F64(v) => Arg::F64(*v),
            Value::Bool(v) => Arg::Bool(*v),
            Value::Char(v) => Arg::Char(*v),
            Value::Str(v) => Arg::Str(v),
            Value::Bytes(v) => Arg::Bytes(v),
            Value::None => Arg::None,
        };
        write_display(&mut s, &arg);
        f.write_str(&s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(f: &str, args: &[Arg<'_>]) -> (String, Rendered) {
        let mut s = String::new();
        let r = render_message(&mut s, FormatStyle::Brace, f, args);
        (s, r)
    }

    #[test]
    fn extend_small_appends_every_length_as_extend_from_slice_does() {
        let src: Vec<u8> = (0..200u8).collect();
        for n in 0..=130 {
            for start in [0usize, 1, 7] {
                let mut got = b"head".to_vec();
                got.shrink_to_fit();
                extend_small(&mut got, &src[start..start + n]);
                let mut want = b"head".to_vec();
                want.extend_from_slice(&src[start..start + n]);
                assert_eq!(got, want, "{n} bytes from {start}");
            }
        }
    }

    #[test]
    fn floats_print_like_rust_display() {
        for v in [
            0.0,
            -0.0,
            1.0,
            0.25,
            1.5,
            100.0,
            1e20,
            1.5e-7,
            123.456,
            f64::MAX,
            f64::MIN_POSITIVE,
            -2.5e-300,
            0.1 + 0.2,
        ] {
            let mut s = String::new();
            write_f64(&mut s, v);
            assert_eq!(s, format!("{v}"), "for {v:e}");
        }
        for v in [0.1f32, 1.0, 3.4e38, 1e-7] {
            let mut s = String::new();
            write_f32(&mut s, v);
            assert_eq!(s, format!("{v}"));
        }
    }

    #[test]
    fn holes_take_arguments_in_order() {
        let (s, r) = render(
            "request {} served in {} us by {}",
            &[
                Arg::U64(7),
                Arg::F64(1.75),
                Arg::Str("p0-t1"),
                Arg::U64(200),
            ],
        );
        assert_eq!(s, "request 7 served in 1.75 us by p0-t1");
        assert_eq!(r.used, 3);
    }

    #[test]
    fn specs_format_like_std() {
        let (s, _) = render(
            "{:?} {:x} {:#06x} {:>5}|{:<4}|{:^5}|{:.2} {:+} {:08.3}",
            &[
                Arg::Str("a\"b"),
                Arg::U64(255),
                Arg::U64(255),
                Arg::Str("ab"),
                Arg::U64(7),
                Arg::Char('c'),
                Arg::F64(2.71_f64.powi(3)),
                Arg::I64(5),
                Arg::F64(-2.5),
            ],
        );
        assert_eq!(
            s,
            format!(
                "{:?} {:x} {:#06x} {:>5}|{:<4}|{:^5}|{:.2} {:+} {:08.3}",
                "a\"b",
                255,
                255,
                "ab",
                7,
                'c',
                2.71_f64.powi(3),
                5,
                -2.5
            )
        );
    }

    #[test]
    fn escapes_and_problems_are_visible() {
        assert_eq!(render("{{}} {}", &[Arg::Bool(true)]).0, "{} true");
        let (s, r) = render("a {} b {}", &[Arg::U64(1)]);
        assert_eq!(s, "a 1 b {?}");
        assert_eq!(r.missing, 1);
        // The first malformed hole stops parsing; the rest shows verbatim.
        let (s, r) = render("x {0} y {:q} z {", &[Arg::U64(1)]);
        assert!(r.bad_format);
        assert_eq!(s, "x 1 y {!bad format}{:q} z {");
        let t = Template::parse(FormatStyle::Brace, "a {:p}");
        assert_eq!(
            t.problem(),
            Some("malformed format string: `{:p}` is not supported: an address means nothing once the record leaves the process")
        );
    }

    #[test]
    fn holes_take_arguments_by_index_and_fields_by_name() {
        let args = [Arg::U64(7), Arg::Str("ada"), Arg::U64(200)];
        let t = Template::with_fields(
            FormatStyle::Brace,
            "{1} got {0}, then {0:>3} {} [{status}]",
            &["status"],
        );
        let mut s = String::new();
        let r = t.render(&mut s, &args);
        assert_eq!(s, "ada got 7, then   7 7 [200]");
        assert_eq!(t.positional(), 2);
        assert_eq!((r.used, r.missing, r.bad_format), (2, 0, false));
        // A name the callsite has no field for.
        let t = Template::with_fields(FormatStyle::Brace, "{nope} {}", &["status"]);
        let mut s = String::new();
        let r = t.render(&mut s, &args);
        assert_eq!(s, "{!bad format} 7");
        assert!(r.bad_format);
        assert_eq!(
            t.problem(),
            Some("the format names {nope}, which is not a field")
        );
    }

    #[test]
    fn percent_style_formats_like_python_logging() {
        let mut s = String::new();
        render_message(
            &mut s,
            FormatStyle::Percent,
            "%s took %d ms (%.2f%%) %r",
            &[Arg::Str("job"), Arg::I64(12), Arg::F64(99.5), Arg::Str("x")],
        );
        assert_eq!(s, "job took 12 ms (99.50%) 'x'");
    }

    #[test]
    fn short_record_bytes_are_incomplete_and_bad_levels_corrupt() {
        assert_eq!(
            decode_record(&[0; 10]),
            Err(DecodeError::Incomplete { needed: 24 })
        );
        let mut b = [0u8; 30];
        b[22] = 3;
        b[20] = 10;
        assert_eq!(
            decode_record(&b),
            Err(DecodeError::Incomplete { needed: 34 })
        );
        b[22] = 9;
        assert!(matches!(decode_record(&b), Err(DecodeError::Corrupt(_))));
    }
}
