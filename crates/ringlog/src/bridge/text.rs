//! A fixed-size string buffer on the stack for the slow path (messages with arguments and
//! values that are only `Display`): formatting never allocates, and text past
//! [`StackStr::CAP`] bytes is cut at a character boundary and ends with `…` so the cut shows.

use core::fmt;
use core::mem::MaybeUninit;

/// The ellipsis that marks a cut.
const MARK: &str = "…";

/// The buffer a [`StackStr`] writes into: a local of the caller
/// (`StackStr::new(&mut MaybeUninit::uninit())`). It is kept apart from the length on purpose:
/// with both in one struct, LLVM merged the length's zero store and the uninitialised buffer
/// into a 521-byte `memset` on every call (measured in the `tracing_layer` bench).
pub type Buf = MaybeUninit<[u8; StackStr::CAP]>;

/// A string of at most [`StackStr::CAP`] bytes, written into a caller's [`Buf`].
pub struct StackStr<'a> {
    buf: &'a mut Buf,
    /// Bytes [0, len) are initialised and valid UTF-8 (whole characters).
    len: usize,
    cut: bool,
}

impl<'a> StackStr<'a> {
    /// Largest text kept, in bytes (the cut mark included).
    pub const CAP: usize = 512;

    /// Text written into `buf` (which need not be initialised).
    #[inline(always)]
    pub fn new(buf: &'a mut Buf) -> Self {
        StackStr {
            buf,
            len: 0,
            cut: false,
        }
    }

    /// Appends `v` formatted with `Display` (`{}`) and returns the whole text. Meant for a
    /// temporary, `e.str(StackStr::new(&mut MaybeUninit::uninit()).display(v))`, so the text is
    /// built in place (returning the buffer by value would copy its 512 bytes).
    pub fn display(&mut self, v: &(impl fmt::Display + ?Sized)) -> &str {
        let _ = fmt::write(self, format_args!("{v}"));
        self.as_str()
    }

    /// As [`StackStr::display`] with `Debug` (`{:?}`).
    pub fn debug(&mut self, v: &(impl fmt::Debug + ?Sized)) -> &str {
        let _ = fmt::write(self, format_args!("{v:?}"));
        self.as_str()
    }

    /// The text so far.
    pub fn as_str(&self) -> &str {
        // SAFETY: bytes [0, len) were all written by `push` from whole characters of `&str`s,
        // so they are initialised and valid UTF-8.
        unsafe {
            core::str::from_utf8_unchecked(core::slice::from_raw_parts(
                self.buf.as_ptr() as *const u8,
                self.len,
            ))
        }
    }

    /// Whether text was cut.
    #[cfg(test)]
    pub fn was_cut(&self) -> bool {
        self.cut
    }

    /// Appends `s`, which must fit (checked by the callers).
    fn push(&mut self, s: &str) {
        debug_assert!(self.len + s.len() <= Self::CAP);
        // SAFETY: the callers checked `len + s.len() <= CAP`, so the destination range is inside
        // the buffer; source and destination are distinct objects.
        unsafe {
            core::ptr::copy_nonoverlapping(
                s.as_ptr(),
                (self.buf.as_mut_ptr() as *mut u8).add(self.len),
                s.len(),
            )
        };
        self.len += s.len();
    }
}

impl fmt::Write for StackStr<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.cut {
            return Ok(());
        }
        // Keep room for the mark so a cut can always show.
        let room = Self::CAP - MARK.len() - self.len;
        if s.len() <= room {
            self.push(s);
            return Ok(());
        }
        let mut n = room;
        while !s.is_char_boundary(n) {
            n -= 1;
        }
        self.push(&s[..n]);
        self.push(MARK);
        self.cut = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::fmt::Write;

    #[test]
    fn short_text_is_kept_whole() {
        let mut b = MaybeUninit::uninit();
        let mut s = StackStr::new(&mut b);
        assert_eq!(s.display(&format_args!("a {} c", 1)), "a 1 c");
        assert!(!s.was_cut());
    }

    #[test]
    fn long_text_is_cut_at_a_char_boundary_with_a_mark() {
        let long = "é".repeat(400); // 800 bytes
        let mut b = MaybeUninit::uninit();
        let mut s = StackStr::new(&mut b);
        s.display(&long);
        assert!(s.was_cut());
        assert!(s.as_str().len() <= StackStr::CAP);
        assert!(s.as_str().ends_with('…'));
        let body = s.as_str().strip_suffix('…').unwrap();
        assert!(body.chars().all(|c| c == 'é'));
        assert_eq!(body.len(), 508, "as many whole characters as fit");
    }

    #[test]
    fn writes_after_a_cut_are_ignored() {
        let mut b = MaybeUninit::uninit();
        let mut s = StackStr::new(&mut b);
        s.write_str(&"x".repeat(600)).unwrap();
        s.write_str("tail").unwrap();
        assert!(!s.as_str().contains("tail"));
        assert_eq!(s.as_str().len(), StackStr::CAP);
    }
}
