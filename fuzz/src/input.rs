//! A stable, hand-written way of reading structured values out of fuzzer bytes.
//!
//! The fuzz targets and the corpus replay tests (`crates/*/tests/fuzz_corpus.rs`, which include
//! this file with `#[path]`) must read a corpus file identically, and the replay tests cannot
//! depend on the `arbitrary` crate (whose byte interpretation also changes between versions and
//! would silently turn a committed corpus into different inputs). So structured inputs are
//! read with this small cursor, whose format is fixed here:
//!
//! * integers: little-endian, `N` bytes for an `N`-byte integer; past the end of the input,
//!   missing bytes read as zero (so every read succeeds and loops must check
//!   [`Input::is_empty`]);
//! * [`Input::chunk`]: a length byte `L`; `L < 0xF0` means `L` bytes follow; `L == 0xFF` means a
//!   `u16` length follows, then that many bytes; `0xF0..=0xFE` is a "repeat" chunk: a target
//!   length `T` written as a bit length `e` (a byte, modulo 18) and a `u16` `m`, with `T = 0`
//!   if `e == 0`, else `T = 2^(e-1) + m mod 2^(e-1)` (so 0..=131 071, log-uniform: long values
//!   reach past the 65 535-byte limits without making most executions slow); then a short
//!   chunk `s` (one length byte, then bytes); the value is `s` repeated until it is at least
//!   `T` bytes (empty if `s` is). Lengths are cut to what is left of the input.
//! * [`Input::length`]: a length written like a repeat chunk's target length (`e`, `m`).
//! * [`Input::string`]: a chunk, decoded as lossy UTF-8 (invalid bytes become U+FFFD, which is
//!   a handy source of three-byte characters).
//!
//! [`Builder`] writes the same format (the seed generator uses it).

use std::borrow::Cow;

/// Longest target length of a repeat chunk (more than `u16::MAX`, so 65 535-byte limits are
/// hit).
pub const MAX_REPEAT: usize = (1 << 17) - 1;

/// A repeat chunk's target length from its bit length `e` and `m` (see the module docs).
fn repeat_target(e: u8, m: u16) -> usize {
    let e = e % 18;
    if e == 0 {
        return 0;
    }
    let base = 1usize << (e - 1);
    base + m as usize % base
}

/// A cursor over fuzzer bytes.
#[derive(Debug, Clone)]
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    /// A cursor at the start of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Input { data }
    }

    /// Whether every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Up to `n` bytes (fewer at the end of the input).
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.data.len());
        let (head, tail) = self.data.split_at(n);
        self.data = tail;
        head
    }

    fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        let b = self.bytes(N);
        out[..b.len()].copy_from_slice(b);
        out
    }

    /// One byte (0 past the end).
    pub fn u8(&mut self) -> u8 {
        self.array::<1>()[0]
    }

    /// A `u16`.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.array())
    }

    /// A `u32`.
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.array())
    }

    /// A `u64`.
    pub fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.array())
    }

    /// A `u128`.
    pub fn u128(&mut self) -> u128 {
        u128::from_le_bytes(self.array())
    }

    /// A length in `0..=MAX_REPEAT`, log-uniform: a bit length byte and a `u16` (the repeat
    /// chunk's target length; see the module docs).
    pub fn length(&mut self) -> usize {
        let e = self.u8();
        repeat_target(e, self.u16())
    }

    /// A chunk of bytes (see the module docs for the format).
    pub fn chunk(&mut self) -> Cow<'a, [u8]> {
        match self.u8() {
            l @ 0..=0xEF => Cow::Borrowed(self.bytes(l as usize)),
            0xFF => {
                let n = self.u16() as usize;
                Cow::Borrowed(self.bytes(n))
            }
            _ => {
                let target = self.length();
                let n = self.u8() as usize;
                let unit = self.bytes(n);
                if unit.is_empty() {
                    return Cow::Borrowed(unit);
                }
                let mut v = Vec::with_capacity(target + unit.len());
                while v.len() < target {
                    v.extend_from_slice(unit);
                }
                Cow::Owned(v)
            }
        }
    }

    /// A chunk as lossy UTF-8.
    pub fn string(&mut self) -> String {
        String::from_utf8_lossy(&self.chunk()).into_owned()
    }
}

/// Writes values in [`Input`]'s format.
#[derive(Debug, Default, Clone)]
pub struct Builder {
    /// The bytes so far.
    pub out: Vec<u8>,
}

impl Builder {
    /// An empty input.
    pub fn new() -> Self {
        Builder::default()
    }

    /// Appends raw bytes.
    pub fn raw(&mut self, b: &[u8]) -> &mut Self {
        self.out.extend_from_slice(b);
        self
    }

    /// Appends a byte.
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.raw(&[v])
    }

    /// Appends a `u16`.
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.raw(&v.to_le_bytes())
    }

    /// Appends a `u32`.
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.raw(&v.to_le_bytes())
    }

    /// Appends a `u64`.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.raw(&v.to_le_bytes())
    }

    /// Appends a `u128`.
    pub fn u128(&mut self, v: u128) -> &mut Self {
        self.raw(&v.to_le_bytes())
    }

    /// Appends a chunk holding exactly `b` (at most `u16::MAX` bytes).
    pub fn chunk(&mut self, b: &[u8]) -> &mut Self {
        assert!(
            b.len() <= u16::MAX as usize,
            "use repeat() for longer values"
        );
        if b.len() < 0xF0 {
            self.u8(b.len() as u8).raw(b)
        } else {
            self.u8(0xFF).u16(b.len() as u16).raw(b)
        }
    }

    /// Appends a string chunk.
    pub fn string(&mut self, s: &str) -> &mut Self {
        self.chunk(s.as_bytes())
    }

    /// Appends a repeat chunk: `unit` repeated to at least `target` bytes.
    pub fn repeat(&mut self, target: usize, unit: &[u8]) -> &mut Self {
        assert!(unit.len() < 256);
        self.u8(0xF0).length(target).u8(unit.len() as u8).raw(unit)
    }

    /// Appends a length in [`Input::length`]'s format.
    pub fn length(&mut self, len: usize) -> &mut Self {
        assert!(len <= MAX_REPEAT);
        let e = (usize::BITS - len.leading_zeros()) as u8;
        let m = if e == 0 { 0 } else { len - (1 << (e - 1)) };
        debug_assert_eq!(repeat_target(e, m as u16), len);
        self.u8(e).u16(m as u16)
    }
}
