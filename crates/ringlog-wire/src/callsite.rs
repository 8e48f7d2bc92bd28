//! Callsites: the static part of a log statement (level, format string, target, file, line,
//! field names), registered once in the segment's callsite table and referred to by id.
//!
//! # Table layout (a region of the segment, `size` bytes)
//!
//! ```text
//! offset               contents
//! 0                    TableHeader (64 bytes): used, count, failed, index_slots, entries_start
//! 64                   index: index_slots x AtomicU64, open addressing on the content hash;
//!                      0 = empty, else (hash >> 32) << 32 | entry offset
//! entries_start        entries, 8-byte aligned, appended: EntryHeader { len, hash } + content
//! ```
//!
//! A callsite's id is the byte offset of its entry in the region, so the drain resolves an id in
//! O(1) and validates it (bounds, alignment, length and a content hash) before trusting it.
//!
//! # Registration (any process, any time, lock-free)
//!
//! 1. Look the content up through the index (Acquire loads): present means done.
//! 2. Reserve space with `fetch_add` on `used`, write the entry (the space is ours alone).
//! 3. Publish: CAS an empty index slot from 0 to the entry (Release). If another process
//!    published the same content first, its id wins and our entry is left unused.
//!
//! Content is deduplicated, so restarted producers (and the `log`/`tracing`/Python bridges that
//! register callsites as they first see them) never grow the table for a callsite it holds.

use core::ptr::NonNull;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::record::Level;

/// How a callsite's format string is written.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FormatStyle {
    /// Rust style: `{}` holes with optional `{:spec}`; `{{` and `}}` escape braces.
    Brace = 0,
    /// Python `logging` style: `%s`, `%d`, `%r`, `%.2f`, `%%`.
    Percent = 1,
    /// No holes: the format string is the message and every argument is a field.
    Literal = 2,
}

impl FormatStyle {
    fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            0 => FormatStyle::Brace,
            1 => FormatStyle::Percent,
            2 => FormatStyle::Literal,
            _ => return None,
        })
    }
}

/// A callsite's description.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CallsiteDesc<'a> {
    /// Level of the statement.
    pub level: Level,
    /// Format style.
    pub style: FormatStyle,
    /// Line number (0 if unknown).
    pub line: u32,
    /// Target (by default the module path).
    pub target: &'a str,
    /// Module path.
    pub module: &'a str,
    /// Source file.
    pub file: &'a str,
    /// Format string.
    pub format: &'a str,
    /// Names of the key-value fields that follow the positional arguments.
    pub fields: Vec<&'a str>,
    /// A Python `logging.Formatter`'s line layout (see [`crate::pyfmt::line`]): the drain's
    /// text output writes this callsite's records with it. Empty: none (every Rust callsite).
    pub layout: &'a str,
}

/// Why a callsite entry did not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallsiteError {
    /// The id does not point at an entry.
    #[error("unknown callsite id {0}")]
    UnknownId(u32),
    /// The entry's bytes are damaged.
    #[error("callsite {id} is corrupt: {reason}")]
    Corrupt {
        /// The id.
        id: u32,
        /// What is wrong.
        reason: &'static str,
    },
}

/// Why registration failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    /// The table (or its index) has no room left.
    #[error("callsite table is full ({used} of {size} bytes used); create the segment with a larger table")]
    Full {
        /// Bytes used.
        used: u64,
        /// Table size.
        size: u64,
    },
    /// A string is longer than 65535 bytes.
    #[error("callsite {what} is too long ({len} bytes, the limit is 65535)")]
    TooLong {
        /// Which string.
        what: &'static str,
        /// Its length.
        len: usize,
    },
}

/// 64-bit FNV-1a, the content hash of the table (no dependency, stable across versions).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Style-byte flag: a line layout (`u16 len + bytes`) follows the field names. A drain that
/// predates layouts reads the flagged byte as an unknown style and reports the callsite as
/// corrupt (the record is still written, with its arguments and the reason), never misreads it.
pub const STYLE_HAS_LAYOUT: u8 = 0x80;

/// Content encoding:
/// `level u8, style u8, n_fields u16, line u32`, then `u16 len + bytes` for target, module,
/// file, format and each field name (little-endian), then the layout if the style byte has
/// [`STYLE_HAS_LAYOUT`].
pub fn encode_callsite(desc: &CallsiteDesc<'_>, out: &mut Vec<u8>) -> Result<(), RegisterError> {
    let n_fields = u16::try_from(desc.fields.len()).map_err(|_| RegisterError::TooLong {
        what: "field list",
        len: desc.fields.len(),
    })?;
    out.push(desc.level as u8);
    let flag = if desc.layout.is_empty() {
        0
    } else {
        STYLE_HAS_LAYOUT
    };
    out.push(desc.style as u8 | flag);
    out.extend_from_slice(&n_fields.to_le_bytes());
    out.extend_from_slice(&desc.line.to_le_bytes());
    let mut put = |what: &'static str, s: &str| {
        let len =
            u16::try_from(s.len()).map_err(|_| RegisterError::TooLong { what, len: s.len() })?;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(s.as_bytes());
        Ok(())
    };
    put("target", desc.target)?;
    put("module", desc.module)?;
    put("file", desc.file)?;
    put("format string", desc.format)?;
    for f in &desc.fields {
        put("field name", f)?;
    }
    if !desc.layout.is_empty() {
        put("line layout", desc.layout)?;
    }
    Ok(())
}

/// Decodes content bytes (see [`encode_callsite`]); `id` only labels errors.
pub fn decode_callsite(id: u32, bytes: &[u8]) -> Result<CallsiteDesc<'_>, CallsiteError> {
    let corrupt = |reason| CallsiteError::Corrupt { id, reason };
    if bytes.len() < 8 {
        return Err(corrupt("entry too short"));
    }
    let level = Level::from_u8(bytes[0]).ok_or(corrupt("bad level"))?;
    let has_layout = bytes[1] & STYLE_HAS_LAYOUT != 0;
    let style =
        FormatStyle::from_u8(bytes[1] & !STYLE_HAS_LAYOUT).ok_or(corrupt("bad format style"))?;
    let n_fields = u16::from_le_bytes([bytes[2], bytes[3]]) as usize;
    let line = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
    let mut rest = &bytes[8..];
    let mut take = || -> Result<&str, CallsiteError> {
        if rest.len() < 2 {
            return Err(corrupt("string length cut short"));
        }
        let n = u16::from_le_bytes([rest[0], rest[1]]) as usize;
        let s = rest.get(2..2 + n).ok_or(corrupt("string cut short"))?;
        rest = &rest[2 + n..];
        core::str::from_utf8(s).map_err(|_| corrupt("string is not UTF-8"))
    };
    let target = take()?;
    let module = take()?;
    let file = take()?;
    let format = take()?;
    let mut fields = Vec::with_capacity(n_fields.min(64));
    for _ in 0..n_fields {
        fields.push(take()?);
    }
    let layout = if has_layout { take()? } else { "" };
    if has_layout && layout.is_empty() {
        return Err(corrupt("empty line layout"));
    }
    if !rest.is_empty() {
        return Err(corrupt("trailing bytes"));
    }
    Ok(CallsiteDesc {
        level,
        style,
        line,
        target,
        module,
        file,
        format,
        fields,
        layout,
    })
}

/// The table's header at the start of its region.
#[repr(C)]
#[derive(Debug)]
pub struct TableHeader {
    /// Next free byte offset for entries (only grows; may overshoot `size` when full).
    pub used: AtomicU64,
    /// Entries published.
    pub count: AtomicU64,
    /// Registrations that failed (table full).
    pub failed: AtomicU64,
    /// Index slots (a power of two).
    pub index_slots: AtomicU32,
    /// Offset of the first entry.
    pub entries_start: AtomicU32,
    _reserved: [u64; 4],
}

/// Bytes of [`TableHeader`].
pub const TABLE_HEADER_LEN: usize = 64;
/// Bytes of an entry's header (`len: u32` (whole entry, padded to 8), `content_len: u32`, `hash: u64`).
pub const ENTRY_HEADER_LEN: usize = 16;

const _: () = assert!(core::mem::size_of::<TableHeader>() == TABLE_HEADER_LEN);

/// Where entries start for a table with `index_slots` index slots.
pub const fn entries_start(index_slots: u32) -> usize {
    TABLE_HEADER_LEN + 8 * index_slots as usize
}

/// A view of a callsite table in (shared) memory.
#[derive(Debug, Clone, Copy)]
pub struct CallsiteTable<'a> {
    base: NonNull<u8>,
    size: usize,
    index_slots: u32,
    _life: core::marker::PhantomData<&'a [u8]>,
}

// SAFETY: the view only touches shared memory through atomics and bounds-checked raw copies.
unsafe impl Send for CallsiteTable<'_> {}
// SAFETY: as for Send.
unsafe impl Sync for CallsiteTable<'_> {}

impl<'a> CallsiteTable<'a> {
    /// Views `size` bytes at `base` as a table with `index_slots` index slots.
    ///
    /// # Safety
    ///
    /// `base` is 8-byte aligned and valid for reads and writes of `size` bytes for `'a`;
    /// `index_slots` is a power of two with `entries_start(index_slots) < size`. The memory may
    /// be shared with other processes (that is the point) and its contents are not trusted.
    pub unsafe fn new(base: NonNull<u8>, size: usize, index_slots: u32) -> Self {
        debug_assert!(index_slots.is_power_of_two() && entries_start(index_slots) < size);
        CallsiteTable {
            base,
            size,
            index_slots,
            _life: core::marker::PhantomData,
        }
    }

    fn header(&self) -> &'a TableHeader {
        // SAFETY: the region starts 8-aligned with at least TABLE_HEADER_LEN bytes (`new`);
        // TableHeader is all atomics and padding, valid for any bytes.
        unsafe { &*(self.base.as_ptr() as *const TableHeader) }
    }

    fn index(&self, i: u32) -> &'a AtomicU64 {
        debug_assert!(i < self.index_slots);
        // SAFETY: slot i < index_slots lies inside the index area (`new`'s contract), 8-aligned;
        // any bit pattern is a valid AtomicU64.
        unsafe { &*(self.base.as_ptr().add(TABLE_HEADER_LEN + 8 * i as usize) as *const AtomicU64) }
    }

    /// Initialises an all-zero table (the segment's creator does this before publishing).
    pub fn init(&self) {
        let h = self.header();
        let start = entries_start(self.index_slots) as u64;
        // SYNC: Relaxed; the segment's creator publishes the whole segment with a Release
        // store of its ready flag, which openers Acquire.
        h.index_slots.store(self.index_slots, Ordering::Relaxed);
        h.entries_start.store(start as u32, Ordering::Relaxed);
        h.used.store(start, Ordering::Relaxed);
    }

    /// Bytes used by entries so far (including the index area).
    pub fn used(&self) -> u64 {
        // SYNC: Relaxed; a statistic.
        self.header()
            .used
            .load(Ordering::Relaxed)
            .min(self.size as u64)
    }

    /// Number of published entries.
    pub fn count(&self) -> u64 {
        // SYNC: Relaxed; a statistic.
        self.header().count.load(Ordering::Relaxed)
    }

    /// Registrations that failed because the table was full.
    pub fn failed(&self) -> u64 {
        // SYNC: Relaxed; a statistic.
        self.header().failed.load(Ordering::Relaxed)
    }

    /// Region size in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Registers `desc` (or finds it) and returns its id.
    pub fn register(&self, desc: &CallsiteDesc<'_>) -> Result<u32, RegisterError> {
        let mut content = Vec::with_capacity(64);
        encode_callsite(desc, &mut content)?;
        self.register_encoded(&content)
    }

    /// Registers encoded content (see [`encode_callsite`]) and returns its id.
    pub fn register_encoded(&self, content: &[u8]) -> Result<u32, RegisterError> {
        let hash = fnv1a64(content);
        let mask = self.index_slots - 1;
        let tag = hash >> 32;
        let full = || {
            // SYNC: Relaxed; a statistic.
            self.header().failed.fetch_add(1, Ordering::Relaxed);
            RegisterError::Full {
                used: self.used(),
                size: self.size as u64,
            }
        };
        let mut scratch = Vec::new();
        // Look up: probe until an empty slot.
        let mut i = (hash as u32) & mask;
        let mut probes = 0;
        loop {
            // SYNC: Acquire; pairs with the Release CAS that published the entry, so its bytes
            // are visible before we compare them.
            let v = self.index(i).load(Ordering::Acquire);
            if v == 0 {
                break;
            }
            if v >> 32 == tag && self.same_content(v as u32, content, &mut scratch) {
                return Ok(v as u32);
            }
            i = (i + 1) & mask;
            probes += 1;
            if probes == self.index_slots {
                return Err(full());
            }
        }
        // Reserve and write the entry.
        let len = (ENTRY_HEADER_LEN + content.len()).next_multiple_of(8);
        // SYNC: Relaxed; a reservation only. The entry is published by the index CAS below.
        let off = self.header().used.fetch_add(len as u64, Ordering::Relaxed);
        // `used` is shared memory another process may have damaged: refuse an offset that
        // `entry` would not resolve (outside the entry area or misaligned), testing `off` alone
        // first so that `off + len` cannot overflow.
        let start = entries_start(self.index_slots) as u64;
        if off < start
            || off % 8 != 0
            || off > u32::MAX as u64
            || off + len as u64 > self.size as u64
        {
            return Err(full());
        }
        let mut entry = Vec::with_capacity(len);
        entry.extend_from_slice(&(len as u32).to_le_bytes());
        entry.extend_from_slice(&(content.len() as u32).to_le_bytes());
        entry.extend_from_slice(&hash.to_le_bytes());
        entry.extend_from_slice(content);
        entry.resize(len, 0);
        // SAFETY: [off, off + len) is inside the region (checked above) and was reserved for us
        // alone by the fetch_add; no one reads it before the index publishes it.
        unsafe {
            core::ptr::copy_nonoverlapping(
                entry.as_ptr(),
                self.base.as_ptr().add(off as usize),
                len,
            )
        };
        let mine = tag << 32 | off;
        loop {
            // SYNC: AcqRel; Release publishes our entry bytes (pairs with the Acquire loads
            // above and in `entry`); Acquire on failure lets us read a competitor's entry.
            match self
                .index(i)
                .compare_exchange(0, mine, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    // SYNC: Relaxed; a statistic.
                    self.header().count.fetch_add(1, Ordering::Relaxed);
                    return Ok(off as u32);
                }
                Err(v) => {
                    if v >> 32 == tag && self.same_content(v as u32, content, &mut scratch) {
                        return Ok(v as u32);
                    }
                }
            }
            i = (i + 1) & mask;
            probes += 1;
            if probes >= self.index_slots {
                return Err(full());
            }
        }
    }

    fn same_content(&self, id: u32, content: &[u8], scratch: &mut Vec<u8>) -> bool {
        self.entry(id, scratch).is_ok() && scratch.as_slice() == content
    }

    /// Copies the content of entry `id` into `out` (replacing its contents) after validating
    /// bounds, alignment, length and hash.
    pub fn entry(&self, id: u32, out: &mut Vec<u8>) -> Result<(), CallsiteError> {
        out.clear();
        let start = entries_start(self.index_slots) as u64;
        let used = self.used();
        let off = id as u64;
        if off < start || off % 8 != 0 || off + ENTRY_HEADER_LEN as u64 > used {
            return Err(CallsiteError::UnknownId(id));
        }
        let mut head = [0u8; ENTRY_HEADER_LEN];
        // SAFETY: [off, off + 16) is inside the region (off + 16 <= used <= size); copied as
        // plain bytes, every pattern acceptable.
        unsafe {
            core::ptr::copy_nonoverlapping(
                self.base.as_ptr().add(off as usize),
                head.as_mut_ptr(),
                ENTRY_HEADER_LEN,
            )
        };
        let len = u32::from_le_bytes(head[0..4].try_into().unwrap()) as u64;
        let content_len = u32::from_le_bytes(head[4..8].try_into().unwrap()) as u64;
        let hash = u64::from_le_bytes(head[8..16].try_into().unwrap());
        if len % 8 != 0
            || content_len < 8
            || ENTRY_HEADER_LEN as u64 + content_len > len
            || off + len > used
        {
            return Err(CallsiteError::Corrupt {
                id,
                reason: "bad entry length",
            });
        }
        out.resize(content_len as usize, 0);
        // SAFETY: [off + 16, off + 16 + content_len) is inside the region (<= off + len <= used
        // <= size); copied as plain bytes into our own buffer.
        unsafe {
            core::ptr::copy_nonoverlapping(
                self.base.as_ptr().add(off as usize + ENTRY_HEADER_LEN),
                out.as_mut_ptr(),
                out.len(),
            )
        };
        if fnv1a64(out) != hash {
            out.clear();
            return Err(CallsiteError::Corrupt {
                id,
                reason: "content does not match its hash",
            });
        }
        Ok(())
    }

    /// Ids of all published entries, in index order (for `ringdrain cat` and stats).
    pub fn ids(&self) -> Vec<u32> {
        (0..self.index_slots)
            .filter_map(|i| {
                // SYNC: Acquire; pairs with the publishing CAS in `register_encoded`.
                let v = self.index(i).load(Ordering::Acquire);
                (v != 0).then_some(v as u32)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(format: &str) -> CallsiteDesc<'_> {
        CallsiteDesc {
            level: Level::Info,
            style: FormatStyle::Brace,
            line: 42,
            target: "app::db",
            module: "app::db",
            file: "src/db.rs",
            format,
            fields: vec!["status", "ms"],
            layout: "",
        }
    }

    #[test]
    fn content_round_trips_exactly() {
        let d = desc("query {} took {}");
        let mut b = Vec::new();
        encode_callsite(&d, &mut b).unwrap();
        assert_eq!(&b[..8], &[3, 0, 2, 0, 42, 0, 0, 0]);
        assert_eq!(decode_callsite(9, &b).unwrap(), d);
    }

    #[test]
    fn a_layout_round_trips_and_flags_the_style_byte() {
        let d = CallsiteDesc {
            layout: "L",
            ..desc("x %s")
        };
        let mut b = Vec::new();
        encode_callsite(&d, &mut b).unwrap();
        assert_eq!(b[1], FormatStyle::Brace as u8 | STYLE_HAS_LAYOUT);
        assert_eq!(&b[b.len() - 3..], &[1, 0, b'L']);
        assert_eq!(decode_callsite(9, &b).unwrap(), d);
        for n in 0..b.len() {
            assert!(decode_callsite(1, &b[..n]).is_err(), "prefix of {n} bytes");
        }
        // A drain from before layouts knew no style with the flag: corrupt, not misread.
        assert!(FormatStyle::from_u8(b[1]).is_none());
    }

    #[test]
    fn truncated_content_is_corrupt_not_a_panic() {
        let mut b = Vec::new();
        encode_callsite(&desc("x {}"), &mut b).unwrap();
        for n in 0..b.len() {
            assert!(decode_callsite(1, &b[..n]).is_err(), "prefix of {n} bytes");
        }
    }

    struct Mem(Vec<u64>);
    impl Mem {
        fn table(&mut self, slots: u32) -> CallsiteTable<'_> {
            let size = self.0.len() * 8;
            let base = NonNull::new(self.0.as_mut_ptr() as *mut u8).unwrap();
            // SAFETY: the Vec<u64> is 8-aligned, `size` bytes, and outlives the table.
            let t = unsafe { CallsiteTable::new(base, size, slots) };
            t.init();
            t
        }
    }

    #[test]
    fn registering_the_same_content_twice_gives_the_same_id() {
        let mut m = Mem(vec![0; 1024]);
        let t = m.table(16);
        let a = t.register(&desc("a {}")).unwrap();
        let b = t.register(&desc("b {}")).unwrap();
        assert_ne!(a, b);
        assert_eq!(t.register(&desc("a {}")).unwrap(), a);
        assert_eq!(t.count(), 2);
        let mut buf = Vec::new();
        t.entry(b, &mut buf).unwrap();
        assert_eq!(decode_callsite(b, &buf).unwrap(), desc("b {}"));
        assert!(t.entry(b + 8, &mut buf).is_err());
        assert!(t.entry(3, &mut buf).is_err());
    }

    #[test]
    fn a_full_table_is_an_error() {
        let mut m = Mem(vec![0; 64]);
        let t = m.table(4);
        let mut ok = 0;
        let mut err = None;
        for i in 0..10 {
            let f = format!("message number {i} {{}}");
            match t.register(&desc(&f)) {
                Ok(_) => ok += 1,
                Err(e) => {
                    err = Some(e);
                    break;
                }
            }
        }
        assert!(ok >= 1);
        assert!(matches!(err, Some(RegisterError::Full { .. })));
        assert!(t.failed() >= 1);
    }

    #[test]
    fn concurrent_registration_dedupes() {
        let mut m = Mem(vec![0; 8192]);
        let t = m.table(64);
        let ids: Vec<Vec<u32>> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        (0..20)
                            .map(|i| t.register(&desc(&format!("m{i} {{}}"))).unwrap())
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for v in &ids[1..] {
            assert_eq!(v, &ids[0]);
        }
        assert_eq!(t.count(), 20);
    }
}
