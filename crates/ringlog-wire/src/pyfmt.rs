//! Python's `%` operator (printf-style formatting), for the values ringlog carries, so that the
//! drain renders a Python `logging` template exactly as `record.getMessage()` would.
//!
//! Python producers (the `ringlog` Python package) register their `%`-style templates as
//! [`FormatStyle::Percent`](crate::callsite::FormatStyle::Percent) callsites and send the
//! arguments in binary; [`crate::decode::Template`] parses each hole with [`parse_spec`] and
//! renders it with [`write_arg`]. Everything here is a pure function of its inputs.
//!
//! What is rendered exactly as CPython 3 does:
//!
//! * `%s`, `%r`, `%a` of integers, floats (`repr`: shortest round-trip digits, exponent form
//!   outside `1e-4 <= |x| < 1e16`), bools (`True`), `None`, strings (`%r`/`%a`: Python's quoting
//!   and escapes) and bytes (`b'...'`), with width, `-` and precision (which truncates).
//! * `%d`/`%i`/`%u` (floats truncate toward zero), `%x`/`%X`/`%o`, `%e`/`%E`, `%f`/`%F`,
//!   `%g`/`%G`, `%c`, with the flags `-`, `+`, space, `#` and `0`, width and precision; the
//!   length modifiers `h`, `l`, `L` are accepted and ignored, as Python does.
//!
//! One approximation: `%r` of a string keeps a non-ASCII character as is unless it is in a short
//! list of characters Python escapes (controls, separators, format characters, private use);
//! Python consults the full Unicode database, so it also escapes unassigned code points. The
//! Python producer therefore computes `repr()` itself for non-ASCII strings under `%r` and sends
//! the result as a preformatted string ([`Arg::Display`]), which every conversion of the string
//! family writes as is. `%a` (`ascii()`) needs no database and is exact.
//!
//! Combinations Python rejects with an exception (`%d` of a string, `%x` of a float, `%d` of
//! NaN) render a visible marker such as `{!%d of str}`; the Python producer never sends them (it
//! formats such records itself, where Python raises as usual).

use crate::args::Arg;
use crate::decode::Out;

pub mod line;

/// Largest width honoured; a larger one is a [`SpecError::TooLarge`] (a hostile callsite must
/// not make the drain write megabytes of padding; the Python producer formats those itself).
pub const MAX_WIDTH: usize = 4096;
/// Largest precision honoured (see [`MAX_WIDTH`]).
pub const MAX_PRECISION: usize = 1024;

/// A conversion type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Conv {
    /// `%s`: `str()`.
    #[default]
    Str,
    /// `%r`: `repr()`.
    Repr,
    /// `%a`: `ascii()`.
    Ascii,
    /// `%d`, `%i`, `%u`: a decimal integer (floats truncate).
    Int,
    /// `%o`.
    Octal,
    /// `%x`.
    Hex,
    /// `%X`.
    HexUpper,
    /// `%e`.
    Exp,
    /// `%E`.
    ExpUpper,
    /// `%f`.
    Fixed,
    /// `%F`.
    FixedUpper,
    /// `%g`.
    General,
    /// `%G`.
    GeneralUpper,
    /// `%c`: one character from an integer code point or a one-character string.
    Char,
}

impl Conv {
    /// The conversion for a type character, if Python has it.
    pub fn from_char(c: char) -> Option<Conv> {
        Some(match c {
            's' => Conv::Str,
            'r' => Conv::Repr,
            'a' => Conv::Ascii,
            'd' | 'i' | 'u' => Conv::Int,
            'o' => Conv::Octal,
            'x' => Conv::Hex,
            'X' => Conv::HexUpper,
            'e' => Conv::Exp,
            'E' => Conv::ExpUpper,
            'f' => Conv::Fixed,
            'F' => Conv::FixedUpper,
            'g' => Conv::General,
            'G' => Conv::GeneralUpper,
            'c' => Conv::Char,
            _ => return None,
        })
    }

    /// The conversion's type character (`%d`, `%i` and `%u` all give `d`).
    pub fn as_char(self) -> char {
        match self {
            Conv::Str => 's',
            Conv::Repr => 'r',
            Conv::Ascii => 'a',
            Conv::Int => 'd',
            Conv::Octal => 'o',
            Conv::Hex => 'x',
            Conv::HexUpper => 'X',
            Conv::Exp => 'e',
            Conv::ExpUpper => 'E',
            Conv::Fixed => 'f',
            Conv::FixedUpper => 'F',
            Conv::General => 'g',
            Conv::GeneralUpper => 'G',
            Conv::Char => 'c',
        }
    }

    /// `%s`, `%r` or `%a`: the conversions that accept any value.
    pub fn is_text(self) -> bool {
        matches!(self, Conv::Str | Conv::Repr | Conv::Ascii)
    }

    /// `%d`, `%o`, `%x`, `%X`: integer conversions (of which only `%d` takes floats).
    pub fn is_integer(self) -> bool {
        matches!(self, Conv::Int | Conv::Octal | Conv::Hex | Conv::HexUpper)
    }

    /// `%e`, `%f`, `%g` and their upper-case forms.
    pub fn is_float(self) -> bool {
        matches!(
            self,
            Conv::Exp
                | Conv::ExpUpper
                | Conv::Fixed
                | Conv::FixedUpper
                | Conv::General
                | Conv::GeneralUpper
        )
    }
}

/// One parsed conversion specification: `%[flags][width][.precision][hlL]type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Spec {
    /// `-`: left-justify.
    pub left: bool,
    /// `+`: always a sign on numbers.
    pub plus: bool,
    /// ` `: a space in place of a plus sign.
    pub space: bool,
    /// `#`: the alternate form (`0x` prefixes, a kept decimal point).
    pub alt: bool,
    /// `0`: pad numbers with zeros after the sign.
    pub zero: bool,
    /// Minimum width in characters (0: none).
    pub width: usize,
    /// Precision (digits after the point, significant digits for `%g`, minimum digits for
    /// integers, most characters for strings).
    pub precision: Option<usize>,
    /// The conversion.
    pub conv: Conv,
}

/// Why a conversion specification is not one [`write_arg`] renders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// The template ends inside the specification.
    #[error("incomplete format")]
    Incomplete,
    /// `%(key)s`: the arguments are a mapping.
    #[error("a %(key) mapping key")]
    MappingKey,
    /// `*` width or precision: taken from the arguments.
    #[error("a * width or precision")]
    Star,
    /// A type character Python does not know (or `%` after flags).
    #[error("unsupported format character {0:?}")]
    Unsupported(char),
    /// Width above [`MAX_WIDTH`] or precision above [`MAX_PRECISION`].
    #[error("width or precision too large")]
    TooLarge,
}

/// Parses the specification that follows a `%` (which must not start another `%`: `%%` is the
/// caller's). Returns the spec and the bytes it took, type character included.
pub fn parse_spec(s: &str) -> Result<(Spec, usize), SpecError> {
    let b = s.as_bytes();
    let mut spec = Spec::default();
    let mut i = 0;
    if b.first() == Some(&b'(') {
        return Err(SpecError::MappingKey);
    }
    while let Some(&c) = b.get(i) {
        match c {
            b'-' => spec.left = true,
            b'+' => spec.plus = true,
            b' ' => spec.space = true,
            b'#' => spec.alt = true,
            b'0' => spec.zero = true,
            _ => break,
        }
        i += 1;
    }
    let number = |i: &mut usize| -> Result<Option<usize>, SpecError> {
        if b.get(*i) == Some(&b'*') {
            return Err(SpecError::Star);
        }
        let start = *i;
        let mut v: usize = 0;
        while let Some(d) = b.get(*i).filter(|d| d.is_ascii_digit()) {
            v = v.saturating_mul(10).saturating_add((d - b'0') as usize);
            *i += 1;
        }
        Ok((*i > start).then_some(v))
    };
    spec.width = number(&mut i)?.unwrap_or(0);
    if b.get(i) == Some(&b'.') {
        i += 1;
        // `%.f` means precision 0, as in C.
        spec.precision = Some(number(&mut i)?.unwrap_or(0));
    }
    if spec.width > MAX_WIDTH || spec.precision.is_some_and(|p| p > MAX_PRECISION) {
        return Err(SpecError::TooLarge);
    }
    if matches!(b.get(i), Some(b'h' | b'l' | b'L')) {
        i += 1;
    }
    let c = s[i..].chars().next().ok_or(SpecError::Incomplete)?;
    spec.conv = Conv::from_char(c).ok_or(SpecError::Unsupported(c))?;
    Ok((spec, i + c.len_utf8()))
}

/// The holes of a whole template, in order; `Err` if any hole is not one [`write_arg`] renders
/// (Python producers then format the message themselves).
pub fn holes(template: &str) -> Result<Vec<Spec>, SpecError> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(p) = rest.find('%') {
        let after = &rest[p + 1..];
        if let Some(tail) = after.strip_prefix('%') {
            rest = tail;
            continue;
        }
        let (spec, n) = parse_spec(after)?;
        out.push(spec);
        rest = &after[n..];
    }
    Ok(out)
}

/// Writes `arg` as Python's `'%<spec>' % (arg,)` would (see the module docs for the mapping of
/// ringlog's argument types to Python's).
pub fn write_arg<O: Out + ?Sized>(out: &mut O, spec: &Spec, arg: &Arg<'_>) {
    // Fast paths: the plain `%s`/`%d` of the common types, without building a string.
    if spec.width == 0 && spec.precision.is_none() {
        let plain_num = !(spec.plus || spec.space);
        match (spec.conv, arg) {
            (Conv::Str, Arg::Str(s) | Arg::Display(s)) => return out.push_str(s),
            (Conv::Repr | Conv::Ascii, Arg::Display(s)) => return out.push_str(s),
            (Conv::Str | Conv::Repr | Conv::Ascii | Conv::Int, Arg::I64(v)) if plain_num => {
                return out.push_verbatim(itoa::Buffer::new().format(*v))
            }
            (Conv::Str | Conv::Repr | Conv::Ascii | Conv::Int, Arg::U64(v)) if plain_num => {
                return out.push_verbatim(itoa::Buffer::new().format(*v))
            }
            (Conv::Str | Conv::Repr | Conv::Ascii, Arg::F64(v)) => {
                return write_float_repr(out, *v)
            }
            _ => {}
        }
    }
    let mut s = String::new();
    match spec.conv {
        Conv::Str | Conv::Repr | Conv::Ascii => {
            text(&mut s, spec.conv, arg);
            pad_text(out, spec, &s)
        }
        Conv::Char => match char_of(arg) {
            Some(c) => {
                s.push(c);
                pad_text(out, spec, &s)
            }
            None => marker(out, spec.conv, arg),
        },
        Conv::Int | Conv::Octal | Conv::Hex | Conv::HexUpper => {
            let (neg, mag) = match *arg {
                Arg::U64(v) => (false, v as u128),
                Arg::I64(v) => (v < 0, v.unsigned_abs() as u128),
                Arg::U128(v) => (false, v),
                Arg::I128(v) => (v < 0, v.unsigned_abs()),
                Arg::Bool(v) => (false, v as u128),
                Arg::F64(v) if spec.conv == Conv::Int => return trunc_float(out, spec, v),
                Arg::F32(v) if spec.conv == Conv::Int => return trunc_float(out, spec, v as f64),
                _ => return marker(out, spec.conv, arg),
            };
            let (prefix, digits) = match spec.conv {
                Conv::Octal => ("0o", format!("{mag:o}")),
                Conv::Hex => ("0x", format!("{mag:x}")),
                Conv::HexUpper => ("0X", format!("{mag:X}")),
                _ => ("", itoa::Buffer::new().format(mag).to_string()),
            };
            s.push_str(if spec.alt { prefix } else { "" });
            let prefix_len = s.len();
            for _ in digits.len()..spec.precision.unwrap_or(0) {
                s.push('0');
            }
            s.push_str(&digits);
            pad_number(out, spec, neg, prefix_len, &s)
        }
        _ => {
            let v = match *arg {
                Arg::F64(v) => v,
                Arg::F32(v) => v as f64,
                Arg::U64(v) => v as f64,
                Arg::I64(v) => v as f64,
                Arg::U128(v) => v as f64,
                Arg::I128(v) => v as f64,
                Arg::Bool(v) => v as u8 as f64,
                _ => return marker(out, spec.conv, arg),
            };
            let neg = v.is_sign_negative() && !v.is_nan();
            float_body(&mut s, spec, v.abs());
            pad_number(out, spec, neg, 0, &s)
        }
    }
}

/// `%d` of a float: Python's `int(x)`, exact for any magnitude.
fn trunc_float<O: Out + ?Sized>(out: &mut O, spec: &Spec, v: f64) {
    if !v.is_finite() {
        // Python: "cannot convert float NaN to integer" / OverflowError.
        return marker(out, spec.conv, &Arg::F64(v));
    }
    let t = v.trunc();
    let mut s = String::new();
    // `{:.0}` formats exactly (the integer value of the float, all its digits).
    let digits = format!("{:.0}", t.abs());
    for _ in digits.len()..spec.precision.unwrap_or(0) {
        s.push('0');
    }
    s.push_str(&digits);
    pad_number(out, spec, t < 0.0, 0, &s)
}

/// The `%s`/`%r`/`%a` text of an argument.
fn text(s: &mut String, conv: Conv, arg: &Arg<'_>) {
    let mut ib = itoa::Buffer::new();
    match *arg {
        Arg::Str(v) => match conv {
            Conv::Repr => write_str_repr(s, v, false),
            Conv::Ascii => write_str_repr(s, v, true),
            _ => s.push_str(v),
        },
        Arg::Char(c) => match conv {
            Conv::Repr => write_str_repr(s, c.encode_utf8(&mut [0; 4]), false),
            Conv::Ascii => write_str_repr(s, c.encode_utf8(&mut [0; 4]), true),
            _ => s.push(c),
        },
        Arg::Display(v) => s.push_str(v),
        Arg::Bytes(b) => write_bytes_repr(s, b),
        Arg::U64(v) => s.push_str(ib.format(v)),
        Arg::I64(v) => s.push_str(ib.format(v)),
        Arg::U128(v) => s.push_str(ib.format(v)),
        Arg::I128(v) => s.push_str(ib.format(v)),
        Arg::F64(v) => write_float_repr(s, v),
        Arg::F32(v) => write_float_repr(s, v as f64),
        Arg::Bool(v) => s.push_str(if v { "True" } else { "False" }),
        Arg::None => s.push_str("None"),
    }
}

fn char_of(arg: &Arg<'_>) -> Option<char> {
    match *arg {
        Arg::U64(v) => u32::try_from(v).ok().and_then(char::from_u32),
        Arg::I64(v) => u32::try_from(v).ok().and_then(char::from_u32),
        Arg::Bool(v) => char::from_u32(v as u32),
        Arg::Char(c) => Some(c),
        Arg::Str(s) | Arg::Display(s) => {
            let mut it = s.chars();
            match (it.next(), it.next()) {
                (Some(c), None) => Some(c),
                _ => None,
            }
        }
        _ => None,
    }
}

/// A value Python would refuse for this conversion: `{!%d of str}`.
fn marker<O: Out + ?Sized>(out: &mut O, conv: Conv, arg: &Arg<'_>) {
    let ty = match arg {
        Arg::U64(_) | Arg::I64(_) | Arg::U128(_) | Arg::I128(_) => "int",
        Arg::F64(v) if v.is_nan() => "nan",
        Arg::F64(v) if v.is_infinite() => "inf",
        Arg::F64(_) | Arg::F32(_) => "float",
        Arg::Bool(_) => "bool",
        Arg::Char(_) | Arg::Str(_) | Arg::Display(_) => "str",
        Arg::Bytes(_) => "bytes",
        Arg::None => "None",
    };
    out.push_verbatim("{!%");
    out.push_verbatim(conv.as_char().encode_utf8(&mut [0; 4]));
    out.push_verbatim(" of ");
    out.push_verbatim(ty);
    out.push_verbatim("}");
}

/// Precision (truncation to that many characters) and width for the string conversions.
fn pad_text<O: Out + ?Sized>(out: &mut O, spec: &Spec, s: &str) {
    let s = match spec.precision {
        Some(p) => match s.char_indices().nth(p) {
            Some((i, _)) => &s[..i],
            None => s,
        },
        None => s,
    };
    let len = if spec.width == 0 {
        0
    } else {
        s.chars().count()
    };
    let pad = spec.width.saturating_sub(len);
    if !spec.left {
        spaces(out, pad);
    }
    out.push_str(s);
    if spec.left {
        spaces(out, pad);
    }
}

fn spaces<O: Out + ?Sized>(out: &mut O, n: usize) {
    const SP: &str = "                                ";
    let mut n = n;
    while n > 0 {
        let k = n.min(SP.len());
        out.push_verbatim(&SP[..k]);
        n -= k;
    }
}

/// Sign, `0x` prefix and padding for the numeric conversions; `body` is the magnitude with any
/// prefix in its first `prefix_len` bytes (ASCII only).
fn pad_number<O: Out + ?Sized>(out: &mut O, spec: &Spec, neg: bool, prefix_len: usize, body: &str) {
    let sign = if neg {
        "-"
    } else if spec.plus {
        "+"
    } else if spec.space {
        " "
    } else {
        ""
    };
    let pad = spec.width.saturating_sub(sign.len() + body.len());
    if spec.left {
        out.push_verbatim(sign);
        out.push_verbatim(body);
        return spaces(out, pad);
    }
    if spec.zero {
        out.push_verbatim(sign);
        out.push_verbatim(&body[..prefix_len]);
        for _ in 0..pad {
            out.push_verbatim("0");
        }
        return out.push_verbatim(&body[prefix_len..]);
    }
    spaces(out, pad);
    out.push_verbatim(sign);
    out.push_verbatim(body)
}

/// `%e`/`%f`/`%g` of a non-negative value (the sign is the caller's).
fn float_body(s: &mut String, spec: &Spec, v: f64) {
    let upper = matches!(
        spec.conv,
        Conv::ExpUpper | Conv::FixedUpper | Conv::GeneralUpper
    );
    if !v.is_finite() {
        s.push_str(match (v.is_nan(), upper) {
            (true, false) => "nan",
            (true, true) => "NAN",
            (false, false) => "inf",
            (false, true) => "INF",
        });
        return;
    }
    let e = if upper { 'E' } else { 'e' };
    match spec.conv {
        Conv::Fixed | Conv::FixedUpper => {
            let p = spec.precision.unwrap_or(6);
            s.push_str(&format!("{v:.p$}"));
            if spec.alt && p == 0 {
                s.push('.');
            }
        }
        Conv::Exp | Conv::ExpUpper => {
            let p = spec.precision.unwrap_or(6);
            let r = format!("{v:.p$e}");
            let (mant, exp) = r.split_once('e').unwrap_or((&r, "0"));
            s.push_str(mant);
            if spec.alt && p == 0 {
                s.push('.');
            }
            push_exponent(s, e, exp.parse().unwrap_or(0));
        }
        _ => {
            // %g: the exponent X of the value rounded to P significant digits picks the form:
            // fixed with P-1-X decimals if -4 <= X < P, else exponent form with P-1; then
            // trailing zeros (and a bare point) go, unless `#`.
            let p = match spec.precision {
                None => 6,
                Some(0) => 1,
                Some(p) => p,
            };
            let r = format!("{:.*e}", p - 1, v);
            let (mant, exp) = r.split_once('e').unwrap_or((&r, "0"));
            let x: i32 = exp.parse().unwrap_or(0);
            let start = s.len();
            if -4 <= x && x < p as i32 {
                let decimals = (p as i32 - 1 - x) as usize;
                s.push_str(&format!("{v:.decimals$}"));
                if spec.alt {
                    if !s[start..].contains('.') {
                        s.push('.');
                    }
                } else {
                    strip_fraction_zeros(s, start);
                }
            } else {
                s.push_str(mant);
                if spec.alt {
                    if !mant.contains('.') {
                        s.push('.');
                    }
                } else {
                    strip_fraction_zeros(s, start);
                }
                push_exponent(s, e, x);
            }
        }
    }
}

/// Removes trailing zeros after a decimal point in `s[start..]`, and the point if bare.
fn strip_fraction_zeros(s: &mut String, start: usize) {
    if s[start..].contains('.') {
        let keep = s.trim_end_matches('0').trim_end_matches('.').len();
        s.truncate(keep);
    }
}

/// Python's exponent: `e`, a sign, at least two digits.
fn push_exponent(s: &mut String, e: char, x: i32) {
    s.push(e);
    s.push(if x < 0 { '-' } else { '+' });
    let a = x.unsigned_abs();
    if a < 10 {
        s.push('0');
    }
    s.push_str(itoa::Buffer::new().format(a));
}

/// Writes `repr(v)` as Python 3 does: the shortest digits that round-trip, in exponent form
/// (`1e+16`, `1.5e-05`) when the exponent is below -4 or at least 16, else with a decimal point
/// and at least one decimal (`100.0`); `nan`, `inf`, `-inf`, `-0.0`.
pub fn write_float_repr<O: Out + ?Sized>(out: &mut O, v: f64) {
    if v.is_nan() {
        return out.push_verbatim("nan");
    }
    if v.is_infinite() {
        return out.push_verbatim(if v < 0.0 { "-inf" } else { "inf" });
    }
    if v == 0.0 {
        return out.push_verbatim(if v.is_sign_negative() { "-0.0" } else { "0.0" });
    }
    let mut rb = ryu::Buffer::new();
    let r = rb.format_finite(v.abs());
    // Significant digits and the position of the decimal point (value = 0.DIGITS x 10^point).
    let digits = crate::decode::Digits::of(r);
    let d = digits.as_str();
    let point = digits.point;
    let len = d.len() as i32;
    let mut buf = [0u8; 64];
    let mut w = Writer {
        buf: &mut buf,
        len: 0,
    };
    if v < 0.0 {
        w.push("-");
    }
    if point <= -4 || point > 16 {
        w.push(&d[..1]);
        if len > 1 {
            w.push(".");
            w.push(&d[1..]);
        }
        let x = point - 1;
        w.push(if x < 0 { "e-" } else { "e+" });
        if x.unsigned_abs() < 10 {
            w.push("0");
        }
        w.push(itoa::Buffer::new().format(x.unsigned_abs()));
    } else if point <= 0 {
        w.push("0.");
        for _ in 0..-point {
            w.push("0");
        }
        w.push(d);
    } else if point >= len {
        w.push(d);
        for _ in 0..point - len {
            w.push("0");
        }
        w.push(".0");
    } else {
        w.push(&d[..point as usize]);
        w.push(".");
        w.push(&d[point as usize..]);
    }
    let len = w.len;
    // ASCII only: never fails.
    out.push_verbatim(core::str::from_utf8(&buf[..len]).unwrap_or("?"));
}

/// A small stack buffer for [`write_float_repr`] (at most 17 digits, a sign, a point, 16
/// zeros and an exponent: well under 64 bytes).
struct Writer<'a> {
    buf: &'a mut [u8; 64],
    len: usize,
}

impl Writer<'_> {
    fn push(&mut self, s: &str) {
        let end = (self.len + s.len()).min(self.buf.len());
        self.buf[self.len..end].copy_from_slice(&s.as_bytes()[..end - self.len]);
        self.len = end;
    }
}

/// Writes Python's `repr(s)` (or `ascii(s)` when `ascii_only`): single quotes unless the string
/// has a `'` and no `"`; backslash escapes for the quote, `\`, `\t`, `\n`, `\r`, other control
/// characters (`\xNN`) and, for `ascii()` or characters Python deems unprintable, `\xNN`,
/// `\uNNNN` or `\UNNNNNNNN`. See the module docs for the one approximation.
pub fn write_str_repr<O: Out + ?Sized>(out: &mut O, s: &str, ascii_only: bool) {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut r = String::with_capacity(s.len() + 2);
    r.push(quote);
    for c in s.chars() {
        match c {
            '\\' => r.push_str("\\\\"),
            '\t' => r.push_str("\\t"),
            '\n' => r.push_str("\\n"),
            '\r' => r.push_str("\\r"),
            c if c == quote => {
                r.push('\\');
                r.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => hex_escape(&mut r, c as u32),
            c if c.is_ascii() => r.push(c),
            c if !ascii_only && is_printable(c) => r.push(c),
            c => hex_escape(&mut r, c as u32),
        }
    }
    r.push(quote);
    out.push_str(&r)
}

/// Writes Python's `repr(b)`: `b'...'` with the same quote rule as strings and `\xNN` for bytes
/// outside printable ASCII.
pub fn write_bytes_repr<O: Out + ?Sized>(out: &mut O, b: &[u8]) {
    let quote = if b.contains(&b'\'') && !b.contains(&b'"') {
        b'"'
    } else {
        b'\''
    };
    let mut r = String::with_capacity(b.len() + 3);
    r.push('b');
    r.push(quote as char);
    for &c in b {
        match c {
            b'\\' => r.push_str("\\\\"),
            b'\t' => r.push_str("\\t"),
            b'\n' => r.push_str("\\n"),
            b'\r' => r.push_str("\\r"),
            c if c == quote => {
                r.push('\\');
                r.push(c as char);
            }
            0x20..=0x7e => r.push(c as char),
            c => hex_escape(&mut r, c as u32),
        }
    }
    r.push(quote as char);
    out.push_str(&r)
}

fn hex_escape(r: &mut String, c: u32) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let (prefix, digits) = match c {
        0..=0xff => ("\\x", 2),
        0x100..=0xffff => ("\\u", 4),
        _ => ("\\U", 8),
    };
    r.push_str(prefix);
    for i in (0..digits).rev() {
        r.push(HEX[(c >> (4 * i)) as usize & 15] as char);
    }
}

/// Whether Python's `str.isprintable` holds for a non-ASCII character, approximately: false for
/// the C1 controls, the non-ASCII spaces and separators, the format characters, private use
/// and noncharacters; true for everything else (Python also escapes unassigned code points).
fn is_printable(c: char) -> bool {
    let c = c as u32;
    !matches!(
        c,
        0x80..=0xa0
            | 0xad
            | 0x600..=0x605
            | 0x61c
            | 0x6dd
            | 0x70f
            | 0x890..=0x891
            | 0x8e2
            | 0x1680
            | 0x180e
            | 0x2000..=0x200f
            | 0x2028..=0x202f
            | 0x205f..=0x2064
            | 0x2066..=0x206f
            | 0x3000
            | 0xe000..=0xf8ff
            | 0xfeff
            | 0xfff9..=0xfffb
            | 0x110bd
            | 0x110cd
            | 0x13430..=0x1343f
            | 0x1bca0..=0x1bca3
            | 0x1d173..=0x1d17a
            | 0xe0001
            | 0xe0020..=0xe007f
            | 0xf0000..
    ) && (c & 0xfffe) != 0xfffe
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Renders `'%<spec>rest' % (arg,)` (`rest` is literal text without `%`).
    fn fmt(spec: &str, arg: Arg<'_>) -> String {
        let (s, n) = parse_spec(&spec[1..]).unwrap_or_else(|e| panic!("{spec}: {e}"));
        let mut out = String::new();
        write_arg(&mut out, &s, &arg);
        out.push_str(&spec[1 + n..]);
        out
    }

    fn check(cases: &[(&str, Arg<'_>, &str)]) {
        for (spec, arg, want) in cases {
            assert_eq!(fmt(spec, *arg), *want, "'{spec}' % ({arg:?},)");
        }
    }

    // Every expected string below is what CPython 3.11 prints for the same expression.

    #[test]
    fn float_repr_matches_python() {
        use Arg::F64;
        let nan = f64::NAN;
        let inf = f64::INFINITY;
        check(&[
            ("%s", F64(1e16), "1e+16"),
            ("%s", F64(1.5e-5), "1.5e-05"),
            ("%s", F64(1e-4), "0.0001"),
            ("%s", F64(1e-5), "1e-05"),
            ("%s", F64(9999999999999998.0), "9999999999999998.0"),
            ("%s", F64(-0.0), "-0.0"),
            ("%s", F64(0.0), "0.0"),
            ("%s", F64(1e22), "1e+22"),
            ("%s", F64(1e20), "1e+20"),
            ("%s", F64(1e-7), "1e-07"),
            ("%s", F64(123456789012345678.0), "1.2345678901234568e+17"),
            ("%s", F64(100.0), "100.0"),
            ("%s", F64(0.1 + 0.2), "0.30000000000000004"),
            ("%s", F64(-2.5), "-2.5"),
            ("%s", F64(5e-324), "5e-324"),
            ("%s", F64(f64::MAX), "1.7976931348623157e+308"),
            ("%s", F64(nan), "nan"),
            ("%s", F64(-nan), "nan"),
            ("%r", F64(inf), "inf"),
            ("%a", F64(-inf), "-inf"),
            ("%s", F64(1.0 / 3.0), "0.3333333333333333"),
            ("%s", F64(123.456), "123.456"),
            ("%.3s", F64(1.2345), "1.2"),
            ("%8s|", F64(2.5), "     2.5|"),
        ]);
    }

    #[test]
    fn float_conversions_match_python() {
        use Arg::{Bool, F64, I64, U64};
        let nan = f64::NAN;
        let inf = f64::INFINITY;
        check(&[
            ("%f", F64(1.23456), "1.234560"),
            ("%.2f", F64(2.675), "2.67"),
            ("%.1f", F64(0.25), "0.2"),
            ("%.0f", F64(2.5), "2"),
            ("%.f", F64(2.5), "2"),
            ("%#.0f", F64(3.0), "3."),
            ("%5.2f", F64(1.23456), " 1.23"),
            ("%05.2f", F64(1.23456), "01.23"),
            ("%010.2f", F64(-1.23456), "-000001.23"),
            ("%-+8.2f|", F64(1.23456), "+1.23   |"),
            ("% f", F64(1.0), " 1.000000"),
            ("%f", F64(1e20), "100000000000000000000.000000"),
            ("%.2f", I64(-7), "-7.00"),
            ("%f", Bool(true), "1.000000"),
            ("%f", F64(-0.0), "-0.000000"),
            ("%05f", F64(inf), "00inf"),
            ("%+f", F64(nan), "+nan"),
            ("%f", F64(-nan), "nan"),
            ("%010.2f", F64(-inf), "-000000inf"),
            ("%-8f|", F64(nan), "nan     |"),
            ("%F", F64(inf), "INF"),
            ("%e", F64(0.0), "0.000000e+00"),
            ("%e", F64(-0.0), "-0.000000e+00"),
            ("%e", F64(12345.678), "1.234568e+04"),
            ("%.0e", F64(12345.0), "1e+04"),
            ("%#.0e", F64(12345.0), "1.e+04"),
            ("%.3e", F64(1e100), "1.000e+100"),
            ("%E", F64(nan), "NAN"),
            ("% e", F64(-1.0), "-1.000000e+00"),
            ("%e", U64(u64::MAX), "1.844674e+19"),
            ("%e", F64(5e-324), "4.940656e-324"),
            ("%g", F64(1e-5), "1e-05"),
            ("%g", F64(123456789.0), "1.23457e+08"),
            ("%#g", F64(1.0), "1.00000"),
            ("%G", F64(1e-10), "1E-10"),
            ("%g", F64(0.0001), "0.0001"),
            ("%g", F64(100000.0), "100000"),
            ("%g", F64(1000000.0), "1e+06"),
            ("%.0g", F64(0.5), "0.5"),
            ("%g", F64(9.9999995e-5), "0.0001"),
            ("%.3g", F64(999.5), "1e+03"),
            ("%.2g", F64(0.0), "0"),
            ("%#.2g", F64(0.0), "0.0"),
            ("%#.3g", F64(100.0), "100."),
            ("%#.0g", F64(1.0), "1."),
            ("%5.1g", F64(0.000123456), "0.0001"),
            ("%g", F64(1e16), "1e+16"),
            ("%g", F64(1e15), "1e+15"),
            ("%g", F64(-1.5e-7), "-1.5e-07"),
            ("%.10g", F64(1.0 / 3.0), "0.3333333333"),
            ("%+.3g", F64(inf), "+inf"),
        ]);
    }

    #[test]
    fn integer_conversions_match_python() {
        use Arg::{Bool, F64, I128, I64, U64};
        check(&[
            ("%d", I64(-42), "-42"),
            ("%5d", I64(42), "   42"),
            ("%-5d|", I64(42), "42   |"),
            ("%05d", I64(-42), "-0042"),
            ("%+d", I64(5), "+5"),
            ("% d", I64(5), " 5"),
            ("% 5d", I64(5), "    5"),
            ("%+ d", I64(5), "+5"),
            ("%ld", I64(5), "5"),
            ("%hd", I64(5), "5"),
            ("%08.3d", I64(5), "00000005"),
            ("%05.3d", I64(-5), "-0005"),
            ("%.3d", I64(-5), "-005"),
            ("%+.3d", I64(5), "+005"),
            ("%d", I64(i64::MIN), "-9223372036854775808"),
            ("%d", U64(u64::MAX), "18446744073709551615"),
            ("%d", I128(-(1 << 100)), "-1267650600228229401496703205376"),
            ("%d", Bool(true), "1"),
            ("%i", Bool(false), "0"),
            ("%d", F64(3.7), "3"),
            ("%u", F64(3.9), "3"),
            ("%i", F64(-3.9), "-3"),
            ("%d", F64(-0.5), "0"),
            ("%d", F64(1e20), "100000000000000000000"),
            ("%d", F64(1e300), "1000000000000000052504760255204420248704468581108159154915854115511802457988908195786371375080447864043704443832883878176942523235360430575644792184786706982848387200926575803737830233794788090059368953234970799945081119038967640880074652742780142494579258788820056842838115669472196386865459400540160"),
            ("%x", I64(255), "ff"),
            ("%X", I64(255), "FF"),
            ("%#x", I64(-255), "-0xff"),
            ("%#X", I64(255), "0XFF"),
            ("%#08x", I64(255), "0x0000ff"),
            ("%#.4x", I64(255), "0x00ff"),
            ("%#o", I64(8), "0o10"),
            ("%o", I64(-8), "-10"),
            ("%#x", I64(0), "0x0"),
            ("%#o", I64(0), "0o0"),
            ("%+x", I64(255), "+ff"),
            ("% x", I64(255), " ff"),
            ("%x", U64(u64::MAX), "ffffffffffffffff"),
            ("%x", Bool(true), "1"),
            ("%#x", Bool(true), "0x1"),
            ("%c", I64(65), "A"),
            ("%c", U64(0x1f600), "😀"),
            ("%3c|", Arg::Str("x"), "  x|"),
        ]);
    }

    #[test]
    fn text_conversions_match_python() {
        use Arg::{Bool, Bytes, Display, None, Str, I64};
        check(&[
            ("%s", Str("héllo"), "héllo"),
            ("%s", Bool(true), "True"),
            ("%r", Bool(false), "False"),
            ("%s", None, "None"),
            ("%5.1s|", None, "    N|"),
            ("%-6s|", Bool(true), "True  |"),
            ("%05s", Str("ab"), "   ab"),
            ("%10.3s|", Str("abcdef"), "       abc|"),
            ("%-10r|", Str("x"), "'x'       |"),
            ("%.3r", Str("abc"), "'ab"),
            ("%r", Str("it's \"q\""), "'it\\'s \"q\"'"),
            ("%r", Str("it's"), "\"it's\""),
            (
                "%r",
                Str("a\\b\t\n\r\x00\x1b\x7f"),
                "'a\\\\b\\t\\n\\r\\x00\\x1b\\x7f'",
            ),
            (
                "%r",
                Str("\u{7f}\u{80}\u{ad}\u{2028}"),
                "'\\x7f\\x80\\xad\\u2028'",
            ),
            ("%r", Str("😀é"), "'😀é'"),
            ("%r", Str("\u{200b}\u{e000}\u{a0}"), "'\\u200b\\ue000\\xa0'"),
            (
                "%a",
                Str("é\u{1234}\u{1f600}\x7f"),
                "'\\xe9\\u1234\\U0001f600\\x7f'",
            ),
            ("%s", Bytes(b"a'b\"c\n\x00\xff"), "b'a\\'b\"c\\n\\x00\\xff'"),
            ("%r", Bytes(b"it's"), "b\"it's\""),
            ("%a", Bytes(b"\\"), "b'\\\\'"),
            ("%.5s", Bytes(b"abcdef"), "b'abc"),
            ("%5.2s|", Bytes(b"xy"), "   b'|"),
            ("%r", I64(-3), "-3"),
            ("%8s|", I64(42), "      42|"),
            ("%r", Display("<Obj at 0x1>"), "<Obj at 0x1>"),
            ("%-8.4r|", Display("<Obj at 0x1>"), "<Obj    |"),
        ]);
    }

    #[test]
    fn values_python_rejects_render_a_marker() {
        check(&[
            ("%d", Arg::Str("x"), "{!%d of str}"),
            ("%x", Arg::F64(1.5), "{!%x of float}"),
            ("%d", Arg::F64(f64::NAN), "{!%d of nan}"),
            ("%f", Arg::None, "{!%f of None}"),
            ("%c", Arg::Str("ab"), "{!%c of str}"),
        ]);
    }

    #[test]
    fn specs_parse_like_python() {
        let p = parse_spec;
        assert_eq!(
            p("-+ #012.3ldrest"),
            Ok((
                Spec {
                    left: true,
                    plus: true,
                    space: true,
                    alt: true,
                    zero: true,
                    width: 12,
                    precision: Some(3),
                    conv: Conv::Int,
                },
                11
            ))
        );
        assert_eq!(p("(name)s"), Err(SpecError::MappingKey));
        assert_eq!(p("*d"), Err(SpecError::Star));
        assert_eq!(p(".*f"), Err(SpecError::Star));
        assert_eq!(p("5%"), Err(SpecError::Unsupported('%')));
        assert_eq!(p("y"), Err(SpecError::Unsupported('y')));
        assert_eq!(p("5"), Err(SpecError::Incomplete));
        assert_eq!(p(""), Err(SpecError::Incomplete));
        assert_eq!(p("99999d"), Err(SpecError::TooLarge));
        assert_eq!(p("99999999999999999999999d"), Err(SpecError::TooLarge));
        assert_eq!(p("sé"), Ok((Spec::default(), 1)));
        assert_eq!(
            holes("%s took %5.2f%% of %r %%"),
            Ok(vec![
                Spec::default(),
                Spec {
                    width: 5,
                    precision: Some(2),
                    conv: Conv::Fixed,
                    ..Spec::default()
                },
                Spec {
                    conv: Conv::Repr,
                    ..Spec::default()
                },
            ])
        );
        assert_eq!(holes("100%"), Err(SpecError::Incomplete));
        assert_eq!(holes("no holes %%"), Ok(vec![]));
    }
}
