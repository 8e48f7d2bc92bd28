//! Plumbing for the macros. Not public API: it may change in any release.

use core::fmt::{self, Write as _};
use core::mem::MaybeUninit;
use std::sync::atomic::{AtomicU64, Ordering};

pub use ringlog_wire::args::{Encode, Encoder};
use ringlog_wire::callsite::{CallsiteDesc, FormatStyle};
use ringlog_wire::record::Level;

/// Counts the `{}` holes in a format string at compile time (`{{`/`}}` are escapes). Returns
/// `usize::MAX` for a malformed string so the count check fails.
pub const fn count_holes(fmt: &str) -> usize {
    let b = fmt.as_bytes();
    let mut i = 0;
    let mut n = 0;
    while i < b.len() {
        if b[i] == b'{' {
            if i + 1 < b.len() && b[i + 1] == b'{' {
                i += 2;
                continue;
            }
            // Find the closing brace.
            let mut j = i + 1;
            while j < b.len() && b[j] != b'}' {
                if b[j] == b'{' {
                    return usize::MAX;
                }
                j += 1;
            }
            if j == b.len() {
                return usize::MAX;
            }
            n += 1;
            i = j + 1;
        } else if b[i] == b'}' {
            if i + 1 < b.len() && b[i + 1] == b'}' {
                i += 2;
                continue;
            }
            return usize::MAX;
        } else {
            i += 1;
        }
    }
    n
}

/// A log statement's static description plus its cached id.
#[derive(Debug)]
pub struct Callsite {
    format: &'static str,
    module: &'static str,
    file: &'static str,
    line: u32,
    fields: &'static [&'static str],
    /// `logger_key << 40 | max_level << 32 | id` for the last logger (and filter generation)
    /// this callsite was resolved with (0: none). `max_level` is the most verbose level the
    /// logger's directives allow for this callsite's target. Stored with Release after
    /// registration; loaded with Acquire (pairs with it), so a thread that sees an id also
    /// sees the table entry that id points at.
    cache: AtomicU64,
}

impl Callsite {
    /// A callsite for the macros.
    pub const fn new(
        format: &'static str,
        module: &'static str,
        file: &'static str,
        line: u32,
        fields: &'static [&'static str],
    ) -> Self {
        Callsite {
            format,
            module,
            file,
            line,
            fields,
            cache: AtomicU64::new(0),
        }
    }

    /// The format string.
    pub fn format(&self) -> &'static str {
        self.format
    }

    /// The cached `(id, max_level)` for the logger with `key` (24 bits), if any.
    #[inline(always)]
    pub(crate) fn cached(&self, key: u32) -> Option<(u32, u8)> {
        // SYNC: Acquire; pairs with the Release store in `store`.
        let v = self.cache.load(Ordering::Acquire);
        ((v >> 40) as u32 == key).then_some((v as u32, (v >> 32) as u8))
    }

    pub(crate) fn store(&self, key: u32, id: u32, max_level: u8) {
        // SYNC: Release; pairs with the Acquire load in `cached`.
        self.cache.store(
            (key as u64) << 40 | (max_level as u64) << 32 | id as u64,
            Ordering::Release,
        );
    }

    /// The module path (the target of the native macros).
    pub(crate) fn target(&self) -> &'static str {
        self.module
    }

    pub(crate) fn desc(&self, level: Level) -> CallsiteDesc<'static> {
        CallsiteDesc {
            level,
            style: FormatStyle::Brace,
            line: self.line,
            target: self.module,
            module: self.module,
            file: self.file,
            format: self.format,
            fields: self.fields.to_vec(),
        }
    }
}

/// Wraps an argument for the autoref dispatch between [`ViaEncode`] and [`ViaDisplay`].
pub struct Wrap<'a, T: ?Sized>(pub &'a T);

/// Binary encoding, chosen when the type implements [`Encode`].
pub trait ViaEncode {
    /// Encodes the argument.
    fn __ringlog_encode(&self, e: &mut Encoder<'_>);
}

impl<T: Encode + ?Sized> ViaEncode for Wrap<'_, T> {
    #[inline(always)]
    fn __ringlog_encode(&self, e: &mut Encoder<'_>) {
        self.0.encode(e)
    }
}

/// The slow path for types that are only `Display`: formatted here into a stack buffer (cut at
/// 512 bytes) and sent as a string.
pub trait ViaDisplay {
    /// Formats and encodes the argument.
    fn __ringlog_encode(&self, e: &mut Encoder<'_>);
}

impl<T: fmt::Display + ?Sized> ViaDisplay for &Wrap<'_, T> {
    #[inline(never)]
    fn __ringlog_encode(&self, e: &mut Encoder<'_>) {
        let mut buf = StackStr::new();
        let _ = write!(buf, "{}", self.0);
        e.display_str(buf.as_str());
    }
}

/// A fixed-size string buffer that silently cuts at capacity (at a char boundary).
struct StackStr {
    buf: [MaybeUninit<u8>; 512],
    len: usize,
}

impl StackStr {
    fn new() -> Self {
        StackStr {
            buf: [MaybeUninit::uninit(); 512],
            len: 0,
        }
    }

    fn as_str(&self) -> &str {
        // SAFETY: bytes [0, len) were written by write_str from whole `&str` characters, so
        // they are initialised, valid UTF-8.
        unsafe {
            core::str::from_utf8_unchecked(core::slice::from_raw_parts(
                self.buf.as_ptr() as *const u8,
                self.len,
            ))
        }
    }
}

impl fmt::Write for StackStr {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.buf.len() - self.len;
        let mut n = s.len().min(room);
        while !s.is_char_boundary(n) {
            n -= 1;
        }
        // SAFETY: n <= room, so the destination range is inside the buffer; source and
        // destination are distinct.
        unsafe {
            core::ptr::copy_nonoverlapping(
                s.as_ptr(),
                self.buf.as_mut_ptr().add(self.len) as *mut u8,
                n,
            )
        };
        self.len += n;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::count_holes;

    #[test]
    fn holes_are_counted_like_format_args() {
        assert_eq!(count_holes("no holes"), 0);
        assert_eq!(count_holes("{} and {:?} and {:>8.2}"), 3);
        assert_eq!(count_holes("{{}} {{ }}"), 0);
        assert_eq!(count_holes("{{{}}}"), 1);
        assert_eq!(count_holes("{"), usize::MAX);
        assert_eq!(count_holes("}"), usize::MAX);
        assert_eq!(count_holes("{ { }"), usize::MAX);
    }
}
