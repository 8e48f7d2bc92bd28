//! Binary argument encoding: a tag byte, then the value in little-endian order.
//!
//! ```text
//! tag  type      value bytes
//!   1  u8        1          6  i8    1        11  f32  4 (IEEE bits)   16  bytes    u16 len + bytes
//!   2  u16       2          7  i16   2        12  f64  8 (IEEE bits)   17  display  u16 len + UTF-8
//!   3  u32       4          8  i32   4        13  bool 1 (0 or 1)      18  none     0
//!   4  u64       8          9  i64   8        14  char 4 (scalar)
//!   5  u128     16         10  i128 16        15  str  u16 len + UTF-8
//! ```
//!
//! `display` is a string the producer formatted itself (the slow path for types that are only
//! `Display`); `none` is an absent value (Python's `None`, Rust's `Option::None`).
//!
//! When a record's arguments do not fit, the encoder keeps the arguments that fit whole, cuts
//! the first string that does not fit at a character boundary, drops the rest and reports the
//! record truncated; the drain prints a visible marker.

use core::mem::MaybeUninit;

/// Argument tags.
pub mod tag {
    #![allow(missing_docs)]
    pub const U8: u8 = 1;
    pub const U16: u8 = 2;
    pub const U32: u8 = 3;
    pub const U64: u8 = 4;
    pub const U128: u8 = 5;
    pub const I8: u8 = 6;
    pub const I16: u8 = 7;
    pub const I32: u8 = 8;
    pub const I64: u8 = 9;
    pub const I128: u8 = 10;
    pub const F32: u8 = 11;
    pub const F64: u8 = 12;
    pub const BOOL: u8 = 13;
    pub const CHAR: u8 = 14;
    pub const STR: u8 = 15;
    pub const BYTES: u8 = 16;
    pub const DISPLAY: u8 = 17;
    pub const NONE: u8 = 18;
}

/// Writes arguments into a caller-provided (possibly uninitialised) buffer.
#[derive(Debug)]
pub struct Encoder<'a> {
    buf: &'a mut [MaybeUninit<u8>],
    len: usize,
    /// An argument did not fit: nothing more is written.
    truncated: bool,
    /// The caller cut something itself ([`Encoder::mark_truncated`]); writing goes on.
    marked: bool,
}

impl<'a> Encoder<'a> {
    /// An encoder writing into `buf`.
    #[inline]
    pub fn new(buf: &'a mut [MaybeUninit<u8>]) -> Self {
        Encoder {
            buf,
            len: 0,
            truncated: false,
            marked: false,
        }
    }

    /// An encoder writing into initialised bytes (a ring slot's body, written in place).
    #[inline(always)]
    pub fn over(buf: &'a mut [u8]) -> Self {
        // SAFETY: `[u8]` and `[MaybeUninit<u8>]` have the same layout. The encoder only ever
        // stores initialised bytes (`raw` copies from a `&[u8]`) and never hands its buffer
        // out, so the bytes stay initialised for the caller's `&mut [u8]`.
        let buf = unsafe {
            core::slice::from_raw_parts_mut(buf.as_mut_ptr().cast::<MaybeUninit<u8>>(), buf.len())
        };
        Encoder::new(buf)
    }

    /// Bytes written so far.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing was written.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether an argument did not fit.
    #[inline]
    pub fn truncated(&self) -> bool {
        self.truncated || self.marked
    }

    /// Marks the record truncated (a bridge that cut a value itself), so the drain shows the
    /// marker.
    #[inline]
    pub fn mark_truncated(&mut self) {
        self.marked = true;
    }

    /// Forgets everything written (and any truncation), as if the encoder were new: for a
    /// bridge that finds, part-way through, that it must write the arguments in another order.
    #[inline]
    pub fn clear(&mut self) {
        self.len = 0;
        self.truncated = false;
        self.marked = false;
    }

    /// The bytes written so far.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        // SAFETY: the first `len` bytes were all initialised by `raw` (every write path).
        unsafe { core::slice::from_raw_parts(self.buf.as_ptr() as *const u8, self.len) }
    }

    #[inline(always)]
    fn raw(&mut self, bytes: &[u8]) {
        debug_assert!(self.len + bytes.len() <= self.buf.len());
        // SAFETY: the callers checked that `len + bytes.len()` fits in the buffer; the source is
        // a distinct slice, so the ranges do not overlap.
        unsafe {
            core::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                self.buf.as_mut_ptr().add(self.len) as *mut u8,
                bytes.len(),
            )
        };
        self.len += bytes.len();
    }

    #[inline(always)]
    fn fixed<const N: usize>(&mut self, tag: u8, bytes: [u8; N]) {
        if self.truncated || self.len + 1 + N > self.buf.len() {
            self.truncated = true;
            return;
        }
        self.raw(&[tag]);
        self.raw(&bytes);
    }

    /// A tag, a `u16` length and the bytes, cut to fit (see [`var_cut`](Encoder::var_cut)).
    #[inline(always)]
    fn var(&mut self, tag: u8, bytes: &[u8], utf8: bool) {
        let n = bytes.len();
        // `len <= buf.len()` always holds, and `n + 3` cannot overflow once `n` is at most
        // `u16::MAX`.
        if self.truncated || n > u16::MAX as usize || self.buf.len() - self.len < n + 3 {
            return self.var_cut(tag, bytes, utf8);
        }
        // The common case: it all fits. One tag-and-length store and a small copy inline
        // (a `memcpy` call costs more than a short string's bytes).
        let [lo, hi] = (n as u16).to_le_bytes();
        self.raw(&[tag, lo, hi]);
        // SAFETY: `len + n <= buf.len()` (checked above, with the 3 bytes just written).
        unsafe { copy_small(bytes, self.buf.as_mut_ptr().add(self.len).cast::<u8>()) };
        self.len += n;
    }

    /// [`var`](Encoder::var) when the value does not fit whole: keeps what fits, cut at a
    /// character boundary for strings, and marks the record truncated.
    #[cold]
    #[inline(never)]
    fn var_cut(&mut self, tag: u8, bytes: &[u8], utf8: bool) {
        if self.truncated {
            return;
        }
        if self.len + 3 > self.buf.len() {
            // Not even the tag and length fit. (This must not depend on the value's length: an
            // empty value used to fall through and write its 3 header bytes past the buffer.)
            self.truncated = true;
            return;
        }
        let room = self.buf.len() - (self.len + 3);
        let mut n = bytes.len().min(room).min(u16::MAX as usize);
        if n < bytes.len() {
            self.truncated = true;
            if utf8 {
                // Cut at a character boundary: back up over continuation bytes.
                while n > 0 && (bytes[n] & 0xC0) == 0x80 {
                    n -= 1;
                }
            }
        }
        self.raw(&[tag]);
        self.raw(&(n as u16).to_le_bytes());
        self.raw(&bytes[..n]);
    }

    /// Encodes a `u8`.
    #[inline]
    pub fn u8(&mut self, v: u8) {
        self.fixed(tag::U8, [v]);
    }
    /// Encodes a `u16`.
    #[inline]
    pub fn u16(&mut self, v: u16) {
        self.fixed(tag::U16, v.to_le_bytes());
    }
    /// Encodes a `u32`.
    #[inline]
    pub fn u32(&mut self, v: u32) {
        self.fixed(tag::U32, v.to_le_bytes());
    }
    /// Encodes a `u64`.
    #[inline]
    pub fn u64(&mut self, v: u64) {
        self.fixed(tag::U64, v.to_le_bytes());
    }
    /// Encodes a `u128`.
    #[inline]
    pub fn u128(&mut self, v: u128) {
        self.fixed(tag::U128, v.to_le_bytes());
    }
    /// Encodes an `i8`.
    #[inline]
    pub fn i8(&mut self, v: i8) {
        self.fixed(tag::I8, v.to_le_bytes());
    }
    /// Encodes an `i16`.
    #[inline]
    pub fn i16(&mut self, v: i16) {
        self.fixed(tag::I16, v.to_le_bytes());
    }
    /// Encodes an `i32`.
    #[inline]
    pub fn i32(&mut self, v: i32) {
        self.fixed(tag::I32, v.to_le_bytes());
    }
    /// Encodes an `i64`.
    #[inline]
    pub fn i64(&mut self, v: i64) {
        self.fixed(tag::I64, v.to_le_bytes());
    }
    /// Encodes an `i128`.
    #[inline]
    pub fn i128(&mut self, v: i128) {
        self.fixed(tag::I128, v.to_le_bytes());
    }
    /// Encodes an `f32`.
    #[inline]
    pub fn f32(&mut self, v: f32) {
        self.fixed(tag::F32, v.to_bits().to_le_bytes());
    }
    /// Encodes an `f64`.
    #[inline]
    pub fn f64(&mut self, v: f64) {
        self.fixed(tag::F64, v.to_bits().to_le_bytes());
    }
    /// Encodes a `bool`.
    #[inline]
    pub fn bool(&mut self, v: bool) {
        self.fixed(tag::BOOL, [v as u8]);
    }
    /// Encodes a `char`.
    #[inline]
    pub fn char(&mut self, v: char) {
        self.fixed(tag::CHAR, (v as u32).to_le_bytes());
    }
    /// Encodes a string (cut at a character boundary if it does not fit).
    #[inline]
    pub fn str(&mut self, v: &str) {
        self.var(tag::STR, v.as_bytes(), true);
    }
    /// Encodes a byte slice (cut if it does not fit).
    #[inline]
    pub fn bytes(&mut self, v: &[u8]) {
        self.var(tag::BYTES, v, false);
    }
    /// Encodes a string the producer formatted from a `Display` value.
    #[inline]
    pub fn display_str(&mut self, v: &str) {
        self.var(tag::DISPLAY, v.as_bytes(), true);
    }
    /// Encodes an absent value.
    #[inline]
    pub fn none(&mut self) {
        self.fixed(tag::NONE, []);
    }
}

/// The first and the last `size_of::<W>()` bytes of `n` from `s` to `d`: a copy of any `n` from
/// `W` to twice `W` bytes in two overlapping loads and stores (how `memcpy` copies short sizes).
///
/// # Safety
///
/// `s` is readable and `d` writable for `n` bytes, they do not overlap, and
/// `size_of::<W>() <= n`.
#[inline(always)]
unsafe fn copy_ends<W: Copy>(s: *const u8, d: *mut u8, n: usize) {
    let w = core::mem::size_of::<W>();
    // SAFETY: `[0, w)` and `[n - w, n)` are inside both ranges since `w <= n` (the caller's
    // contract); the accesses are unaligned.
    unsafe {
        let (a, b) = (
            s.cast::<W>().read_unaligned(),
            s.add(n - w).cast::<W>().read_unaligned(),
        );
        d.cast::<W>().write_unaligned(a);
        d.add(n - w).cast::<W>().write_unaligned(b);
    }
}

/// Copies `src` to `dst`; up to 16 bytes (a short string argument) inline, without a call to
/// `memcpy`, whose call and size dispatch cost more than the bytes.
///
/// # Safety
///
/// `dst` is valid for writes of `src.len()` bytes and does not overlap `src`.
#[inline(always)]
unsafe fn copy_small(src: &[u8], dst: *mut u8) {
    let (n, s) = (src.len(), src.as_ptr());
    // SAFETY: in each arm, `src` has `n` bytes and `dst` room for `n` (the caller's contract),
    // and each arm's width is at most `n`.
    unsafe {
        match n {
            8..=16 => copy_ends::<u64>(s, dst, n),
            4..=7 => copy_ends::<u32>(s, dst, n),
            0..=3 => {
                for k in 0..n {
                    *dst.add(k) = *s.add(k);
                }
            }
            _ => core::ptr::copy_nonoverlapping(s, dst, n),
        }
    }
}

/// Copies `src` to `dst`; up to 64 bytes (a one-slot record) inline, as [`copy_small`] does.
///
/// # Safety
///
/// `dst` is valid for writes of `src.len()` bytes and does not overlap `src`.
#[inline(always)]
pub(crate) unsafe fn copy_record(src: &[u8], dst: *mut u8) {
    let (n, s) = (src.len(), src.as_ptr());
    // SAFETY: as in `copy_small`: the caller's contract, and each arm's width is at most `n`.
    unsafe {
        match n {
            33..=64 => copy_ends::<[u128; 2]>(s, dst, n),
            17..=32 => copy_ends::<u128>(s, dst, n),
            _ => copy_small(src, dst),
        }
    }
}

/// [`Encode::encoded_len`] of a value whose size is not known before it is encoded.
pub const UNSIZED: usize = usize::MAX;

/// A value that encodes itself as one binary argument.
pub trait Encode {
    /// Appends `self` to `e`.
    fn encode(&self, e: &mut Encoder<'_>);

    /// At least the number of bytes [`encode`](Encode::encode) writes (tag included), or
    /// [`UNSIZED`] if that is not known without encoding (the default). A log call whose
    /// arguments all know their size, and fit one slot, is encoded straight into the slot it
    /// claims instead of into a buffer that is then copied. Too small an answer is safe but
    /// wrong: the record is cut to the slot and marked truncated.
    #[inline(always)]
    fn encoded_len(&self) -> usize {
        UNSIZED
    }
}

/// Bytes a string or byte slice of `n` bytes encodes to: tag, `u16` length, bytes.
#[inline(always)]
const fn var_len(n: usize) -> usize {
    3usize.saturating_add(n)
}

macro_rules! encode_as {
    ($($t:ty => $m:ident as $as:ty),* $(,)?) => {$(
        impl Encode for $t {
            #[inline]
            fn encode(&self, e: &mut Encoder<'_>) {
                e.$m(*self as $as)
            }
            #[inline(always)]
            fn encoded_len(&self) -> usize {
                1 + core::mem::size_of::<$as>()
            }
        }
    )*};
}

encode_as! {
    u8 => u8 as u8, u16 => u16 as u16, u32 => u32 as u32, u64 => u64 as u64,
    u128 => u128 as u128, usize => u64 as u64,
    i8 => i8 as i8, i16 => i16 as i16, i32 => i32 as i32, i64 => i64 as i64,
    i128 => i128 as i128, isize => i64 as i64,
    f32 => f32 as f32, f64 => f64 as f64, bool => bool as bool, char => char as char,
}

impl Encode for str {
    #[inline]
    fn encode(&self, e: &mut Encoder<'_>) {
        e.str(self)
    }
    #[inline(always)]
    fn encoded_len(&self) -> usize {
        var_len(self.len())
    }
}
impl Encode for String {
    #[inline]
    fn encode(&self, e: &mut Encoder<'_>) {
        e.str(self)
    }
    #[inline(always)]
    fn encoded_len(&self) -> usize {
        var_len(self.len())
    }
}
impl Encode for [u8] {
    #[inline]
    fn encode(&self, e: &mut Encoder<'_>) {
        e.bytes(self)
    }
    #[inline(always)]
    fn encoded_len(&self) -> usize {
        var_len(self.len())
    }
}
impl Encode for Vec<u8> {
    #[inline]
    fn encode(&self, e: &mut Encoder<'_>) {
        e.bytes(self)
    }
    #[inline(always)]
    fn encoded_len(&self) -> usize {
        var_len(self.len())
    }
}
impl<const N: usize> Encode for [u8; N] {
    #[inline]
    fn encode(&self, e: &mut Encoder<'_>) {
        e.bytes(self)
    }
    #[inline(always)]
    fn encoded_len(&self) -> usize {
        var_len(N)
    }
}
impl Encode for std::borrow::Cow<'_, str> {
    #[inline]
    fn encode(&self, e: &mut Encoder<'_>) {
        e.str(self)
    }
    #[inline(always)]
    fn encoded_len(&self) -> usize {
        var_len(self.len())
    }
}
impl<T: Encode + ?Sized> Encode for &T {
    #[inline]
    fn encode(&self, e: &mut Encoder<'_>) {
        (**self).encode(e)
    }
    #[inline(always)]
    fn encoded_len(&self) -> usize {
        (**self).encoded_len()
    }
}
impl<T: Encode> Encode for Option<T> {
    #[inline]
    fn encode(&self, e: &mut Encoder<'_>) {
        match self {
            Some(v) => v.encode(e),
            None => e.none(),
        }
    }
    #[inline(always)]
    fn encoded_len(&self) -> usize {
        match self {
            Some(v) => v.encoded_len(),
            None => 1,
        }
    }
}

/// One decoded argument, borrowing the record's bytes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arg<'a> {
    /// Any unsigned integer up to 64 bits.
    U64(u64),
    /// Any signed integer up to 64 bits.
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
    /// A string.
    Str(&'a str),
    /// A byte slice.
    Bytes(&'a [u8]),
    /// A string the producer formatted from a `Display` value.
    Display(&'a str),
    /// An absent value.
    None,
}

/// Why argument bytes did not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ArgError {
    /// The bytes end inside an argument.
    #[error("argument at byte {offset} is cut short")]
    Short {
        /// Offset of the argument's tag.
        offset: usize,
    },
    /// An unknown tag byte.
    #[error("unknown argument tag {tag} at byte {offset}")]
    BadTag {
        /// Offset of the tag.
        offset: usize,
        /// The tag.
        tag: u8,
    },
    /// A value that is not valid for its type (bool other than 0/1, bad char, bad UTF-8).
    #[error("invalid {what} value at byte {offset}")]
    BadValue {
        /// Offset of the argument's tag.
        offset: usize,
        /// The type.
        what: &'static str,
    },
}

/// Iterates over the arguments in a payload. Stops after the first error.
#[derive(Debug, Clone)]
pub struct Args<'a> {
    bytes: &'a [u8],
    offset: usize,
    failed: bool,
}

impl<'a> Args<'a> {
    /// Arguments in `payload`.
    pub fn new(payload: &'a [u8]) -> Self {
        Args {
            bytes: payload,
            offset: 0,
            failed: false,
        }
    }

    fn take<const N: usize>(&mut self, at: usize) -> Result<[u8; N], ArgError> {
        let end = self.offset + N;
        let src = self
            .bytes
            .get(self.offset..end)
            .ok_or(ArgError::Short { offset: at })?;
        self.offset = end;
        let mut out = [0u8; N];
        out.copy_from_slice(src);
        Ok(out)
    }

    fn var(&mut self, at: usize) -> Result<&'a [u8], ArgError> {
        let n = u16::from_le_bytes(self.take::<2>(at)?) as usize;
        let end = self.offset + n;
        let src = self
            .bytes
            .get(self.offset..end)
            .ok_or(ArgError::Short { offset: at })?;
        self.offset = end;
        Ok(src)
    }

    #[inline]
    fn decode_one(&mut self) -> Result<Arg<'a>, ArgError> {
        let at = self.offset;
        let t = self.bytes[at];
        self.offset += 1;
        let utf8 = |b: &'a [u8], what| utf8(b).ok_or(ArgError::BadValue { offset: at, what });
        Ok(match t {
            tag::U8 => Arg::U64(self.take::<1>(at)?[0] as u64),
            tag::U16 => Arg::U64(u16::from_le_bytes(self.take(at)?) as u64),
            tag::U32 => Arg::U64(u32::from_le_bytes(self.take(at)?) as u64),
            tag::U64 => Arg::U64(u64::from_le_bytes(self.take(at)?)),
            tag::U128 => Arg::U128(u128::from_le_bytes(self.take(at)?)),
            tag::I8 => Arg::I64(i8::from_le_bytes(self.take(at)?) as i64),
            tag::I16 => Arg::I64(i16::from_le_bytes(self.take(at)?) as i64),
            tag::I32 => Arg::I64(i32::from_le_bytes(self.take(at)?) as i64),
            tag::I64 => Arg::I64(i64::from_le_bytes(self.take(at)?)),
            tag::I128 => Arg::I128(i128::from_le_bytes(self.take(at)?)),
            tag::F32 => Arg::F32(f32::from_bits(u32::from_le_bytes(self.take(at)?))),
            tag::F64 => Arg::F64(f64::from_bits(u64::from_le_bytes(self.take(at)?))),
            tag::BOOL => match self.take::<1>(at)?[0] {
                0 => Arg::Bool(false),
                1 => Arg::Bool(true),
                _ => {
                    return Err(ArgError::BadValue {
                        offset: at,
                        what: "bool",
                    })
                }
            },
            tag::CHAR => {
                let v = u32::from_le_bytes(self.take(at)?);
                Arg::Char(char::from_u32(v).ok_or(ArgError::BadValue {
                    offset: at,
                    what: "char",
                })?)
            }
            tag::STR => Arg::Str(utf8(self.var(at)?, "string")?),
            tag::BYTES => Arg::Bytes(self.var(at)?),
            tag::DISPLAY => Arg::Display(utf8(self.var(at)?, "string")?),
            tag::NONE => Arg::None,
            tag => return Err(ArgError::BadTag { offset: at, tag }),
        })
    }
}

impl<'a> Args<'a> {
    /// The arguments of `payload` from byte `offset` on (an argument's tag).
    pub(crate) fn starting_at(payload: &'a [u8], offset: usize) -> Self {
        Args {
            bytes: payload,
            offset,
            failed: false,
        }
    }

    /// Where the next argument starts.
    pub(crate) fn offset(&self) -> usize {
        self.offset
    }
}

/// The argument at the start of `b` and its encoded length, for the common tags (`u64`,
/// `f64`, a UTF-8 string) when it is whole and valid; `None` for anything else, which the
/// caller decodes with [`Args`] (which also reports what is wrong, if anything is). A
/// record's arguments are mostly these: one match and one bounds check each, no `Result`.
#[inline(always)]
pub(crate) fn decode_common(b: &[u8]) -> Option<(Arg<'_>, usize)> {
    let (&t, rest) = b.split_first()?;
    match t {
        tag::U64 => Some((Arg::U64(u64::from_le_bytes(*rest.first_chunk()?)), 9)),
        tag::F64 => Some((
            Arg::F64(f64::from_bits(u64::from_le_bytes(*rest.first_chunk()?))),
            9,
        )),
        tag::STR => {
            let n = usize::from(u16::from_le_bytes(*rest.first_chunk()?));
            let s = utf8(rest.get(2..2 + n)?)?;
            Some((Arg::Str(s), 3 + n))
        }
        _ => None,
    }
}

/// `b` as UTF-8, if it is: ASCII (the common argument) is checked by OR-ing the bytes, which
/// the compiler unrolls and vectorises, instead of `from_utf8`'s per-character state machine
/// and its call; anything else goes through `from_utf8`.
#[inline]
fn utf8(b: &[u8]) -> Option<&str> {
    if b.iter().fold(0u8, |a, &c| a | c) < 0x80 {
        // SAFETY: every byte is below 0x80, and a run of ASCII bytes is valid UTF-8.
        return Some(unsafe { core::str::from_utf8_unchecked(b) });
    }
    core::str::from_utf8(b).ok()
}

impl<'a> Iterator for Args<'a> {
    type Item = Result<Arg<'a>, ArgError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.offset >= self.bytes.len() {
            return None;
        }
        let r = self.decode_one();
        self.failed = r.is_err();
        Some(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(f: impl FnOnce(&mut Encoder<'_>), cap: usize) -> (Vec<u8>, bool) {
        let mut buf = vec![MaybeUninit::uninit(); cap];
        let mut e = Encoder::new(&mut buf);
        f(&mut e);
        (e.as_bytes().to_vec(), e.truncated())
    }

    #[test]
    fn integers_encode_as_tag_then_little_endian_bytes() {
        let (b, t) = enc(
            |e| {
                e.u8(0xAB);
                e.u16(0x0102);
                e.i32(-2);
                e.u64(7);
            },
            64,
        );
        assert!(!t);
        assert_eq!(
            b,
            [1, 0xAB, 2, 0x02, 0x01, 8, 0xFE, 0xFF, 0xFF, 0xFF, 4, 7, 0, 0, 0, 0, 0, 0, 0]
        );
    }

    #[test]
    fn strings_encode_with_u16_length() {
        let (b, _) = enc(|e| e.str("hé"), 16);
        assert_eq!(b, [15, 3, 0, b'h', 0xC3, 0xA9]);
    }

    #[test]
    fn a_string_that_does_not_fit_is_cut_at_a_char_boundary() {
        // 3 bytes of tag+len, then room for 2 bytes: "h" plus half of "é" -> only "h".
        let (b, t) = enc(|e| e.str("hé!"), 5);
        assert!(t);
        assert_eq!(b, [15, 1, 0, b'h']);
        let args: Vec<_> = Args::new(&b).collect::<Result<_, _>>().unwrap();
        assert_eq!(args, [Arg::Str("h")]);
    }

    #[test]
    fn a_fixed_argument_that_does_not_fit_stops_encoding() {
        let (b, t) = enc(
            |e| {
                e.u32(1);
                e.u64(2);
                e.u8(3);
            },
            10,
        );
        assert!(t);
        assert_eq!(b, [3, 1, 0, 0, 0]);
    }

    #[test]
    fn clear_starts_over_after_a_cut() {
        let (b, t) = enc(
            |e| {
                e.str("too long for five");
                assert!(e.truncated());
                e.clear();
                e.u8(9);
            },
            5,
        );
        assert!(!t);
        assert_eq!(b, [1, 9]);
    }

    #[test]
    fn a_mark_reports_truncation_but_encoding_goes_on() {
        let (b, t) = enc(
            |e| {
                e.str("cut…");
                e.mark_truncated();
                e.u8(7);
            },
            64,
        );
        assert!(t);
        assert_eq!(
            &b[b.len() - 2..],
            &[1, 7],
            "the field after the mark is still written"
        );
    }

    #[test]
    fn bad_bytes_are_errors_not_panics() {
        assert_eq!(
            Args::new(&[99]).next(),
            Some(Err(ArgError::BadTag { offset: 0, tag: 99 }))
        );
        assert_eq!(
            Args::new(&[4, 1, 2]).next(),
            Some(Err(ArgError::Short { offset: 0 }))
        );
        assert_eq!(
            Args::new(&[13, 2]).next(),
            Some(Err(ArgError::BadValue {
                offset: 0,
                what: "bool"
            }))
        );
        assert_eq!(
            Args::new(&[15, 2, 0, 0xFF, 0xFE]).next(),
            Some(Err(ArgError::BadValue {
                offset: 0,
                what: "string"
            }))
        );
        let mut it = Args::new(&[99, 4]);
        assert!(it.next().unwrap().is_err());
        assert_eq!(it.next(), None, "iteration stops after an error");
    }
}
