//! The binary archive (`--format binary`): records as the ring had them, plus the callsites
//! they use, in self-describing checksummed chunks; `ringdrain decode` renders them later with
//! the same encoders as the text drain, byte for byte.
//!
//! # File format (version 3; versions 1 and 2 are still read)
//!
//! A file is a sequence of chunks, one per drain batch; there is no file header, so rotated
//! files, concatenated files and a file cut anywhere all read the same way. Each chunk decodes
//! on its own: it carries every callsite and every thread its records use.
//!
//! ```text
//! chunk header, 48 bytes of ASCII (hex digits lower case):
//!    0  4  magic "RLGA"
//!    4  2  format version, hex ("03"; "01" and "02" are read too)
//!    6  1  flags, hex (bit 0: the payload is zstd-compressed)
//!    7  8  stored payload length, hex
//!   15  8  payload length once decompressed, hex
//!   23  8  entries, hex
//!   31  8  CRC-32 (IEEE) of the stored payload, hex
//!   39  8  CRC-32 of header bytes 0..39, hex
//!   47  1  '\n'
//! version 3 payload (little-endian; a varint is LEB128, at most 10 bytes):
//!   i64 base: Unix nanoseconds every entry's time is stored against
//!   i64 earliest, i64 latest: the earliest and the latest entry's Unix nanoseconds (so a
//!       reader after a span of time can pass over a chunk without parsing it)
//!   u32 callsites, then per callsite: u32 id, u32 len, `len` bytes in the segment's
//!       callsite encoding (ringlog_wire::callsite::encode_callsite)
//!   u32 threads, then per thread: u32 pid, u32 tid
//!   entries, each:
//!       u8 head: bits 0-2 level, bit 3 truncated, bits 4-5 origin (0 none, 1 callsite,
//!          2 unresolved, 3 a notice of the drain's own), bits 6-7 zero
//!       varint zigzag(unix_ns - base) (an entry may be earlier than the first: a merge
//!          reorders entries after they are encoded)
//!       varint thread: index into the thread table
//!       origin 1: varint index into the callsite table (the record's callsite id is
//!          that entry's id); any other origin: varint callsite id
//!       origin 2: str why; origin 3: str target, str message, u16 names, each a str
//!       varint argument bytes + the wire encoding of the arguments (ringlog_wire::args)
//!   a str is u16 length + UTF-8 bytes
//! version 2 payload: version 3's without `earliest` and `latest`.
//! version 1 payload: the callsite table as above, then entries, each: u8 kind (1 record,
//!   2 notice), u32 length of the rest, i64 unix_ns, u32 pid, u32 tid, u32 callsite id,
//!   u8 level, u8 flags (bit 0 truncated); record: u8 origin (0 none, 1 callsite: u32 index,
//!   2 unresolved: str); notice: str target, str message, u16 names, each a str; then u32
//!   argument bytes + the arguments.
//! ```
//!
//! Version 2 stores a ringload record in ~34 bytes where version 1 took 62 (times as
//! deltas, pid and tid as a one-byte thread index, lengths as varints): fewer bytes to
//! checksum, copy and write is most of what an archive-only drain does per record.
//!
//! Version 3 added the chunk's time span: `decode --since/--until` passes over a chunk wholly
//! outside the span after its checksums, without decompressing more than it must, parsing its
//! tables or decoding its entries ([`decode_chunk`]).
//!
//! The header is text ending in its only newline, so the checkpoint's head hash (the batch's
//! bytes up to its first newline: see [`crate::checkpoint`]) covers the whole header, payload
//! checksum included, and proves a torn chunk the drain's own. Times are stored converted
//! (Unix nanoseconds), so decoding needs no segment and no clock calibration.
//!
//! # Damage
//!
//! [`Decoder`] walks a byte buffer chunk by chunk. A chunk whose header or checksum does not
//! hold is skipped up to the next header that does, and reported ([`Step::Skipped`]); the bytes
//! after the last whole chunk are [`Step::Incomplete`] (a file being written, or cut short).
//! Nothing in an archive can make decoding panic (fuzzed: `fuzz_targets/archive.rs`).
//!
//! What forces a version bump: any change to the header, the payload layout or the entry
//! encoding, or to the wire argument or callsite encodings the archive embeds.

use std::collections::HashMap;
use std::mem::MaybeUninit;

use ringlog_segment::reader::SlotRecord;
use ringlog_wire::args::Arg;
use ringlog_wire::callsite::{decode_callsite, encode_callsite, CallsiteDesc};
use ringlog_wire::decode::RecordRef;
use ringlog_wire::record::{Level, RecordHeader, FLAG_TRUNCATED};
use ringlog_wire::view::{ArgBuf, Callsite, Origin, RecordView};

use crate::encode::{Encoder, Item};

/// The chunk magic.
pub const MAGIC: &[u8; 4] = b"RLGA";
/// The format version this drain writes (it reads this one and the older ones from
/// [`OLDEST_VERSION`] on).
pub const VERSION: u8 = 3;
/// The oldest format version this drain reads.
pub const OLDEST_VERSION: u8 = 1;
/// Bytes in a chunk header.
pub const HEADER_LEN: usize = 48;
/// Largest payload a chunk may declare (a damaged length is not believed past it).
pub const MAX_PAYLOAD: usize = 256 << 20;

const FLAG_ZSTD: u8 = 1;
const KIND_RECORD: u8 = 1;
const KIND_NOTICE: u8 = 2;
const ORIGIN_BARE: u8 = 0;
const ORIGIN_CALLSITE: u8 = 1;
const ORIGIN_UNRESOLVED: u8 = 2;
const ORIGIN_NOTICE: u8 = 3;
/// Bytes of the longest varint (a u64).
const MAX_VARINT: usize = 10;
/// Threads looked up by a linear scan before the map is used.
const THREAD_SCAN: usize = 8;

/// Per-chunk compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// Stored as is.
    #[default]
    None,
    /// zstd at this level (1..=22; 0 is zstd's default).
    Zstd(i32),
}

/// Writes records and notices as archive entries; [`Encoder::seal`] makes the batch a chunk.
#[derive(Debug)]
pub struct ArchiveEncoder {
    compression: Compression,
    /// The batch's callsites, in table order: id and encoded bytes.
    table: Vec<(u32, Vec<u8>)>,
    /// (source, callsite id) -> index in `table`.
    index: HashMap<(u32, u32), u32>,
    /// The last lookup (consecutive records often share a callsite).
    last: Option<((u32, u32), u32)>,
    /// The time entries are stored against: the batch's first item's.
    base_ns: Option<i64>,
    /// The batch's earliest and latest entry times (`i64::MAX`, `i64::MIN` while empty).
    earliest_ns: i64,
    latest_ns: i64,
    /// The batch's threads, in table order: pid and tid.
    threads: Vec<(u32, u32)>,
    /// (pid, tid) -> index in `threads`, once there are more than `THREAD_SCAN`.
    thread_map: HashMap<(u32, u32), u32>,
    /// The last thread looked up and its index (a lane's records are mostly one thread's).
    last_thread: Option<((u32, u32), u32)>,
    entries: u32,
    scratch: Vec<u8>,
    args: Vec<MaybeUninit<u8>>,
}

impl ArchiveEncoder {
    /// An encoder compressing each chunk as `compression` says.
    pub fn new(compression: Compression) -> Self {
        ArchiveEncoder {
            compression,
            table: Vec::new(),
            index: HashMap::new(),
            last: None,
            base_ns: None,
            earliest_ns: i64::MAX,
            latest_ns: i64::MIN,
            threads: Vec::new(),
            thread_map: HashMap::new(),
            last_thread: None,
            entries: 0,
            scratch: Vec::new(),
            args: Vec::new(),
        }
    }

    /// The table index of `cs` (from ring `source`), adding it to this batch's table.
    #[inline]
    fn callsite_index(&mut self, source: u32, cs: &Callsite) -> Option<u32> {
        let key = (source, cs.id);
        if let Some((k, i)) = self.last {
            if k == key {
                return Some(i);
            }
        }
        self.callsite_index_slow(key, cs)
    }

    /// [`Self::callsite_index`] past the last lookup.
    #[inline(never)]
    fn callsite_index_slow(&mut self, key: (u32, u32), cs: &Callsite) -> Option<u32> {
        let i = match self.index.get(&key) {
            Some(&i) => i,
            None => {
                let desc = CallsiteDesc {
                    level: cs.level,
                    style: cs.style,
                    line: cs.line,
                    target: &cs.target,
                    module: &cs.module,
                    file: &cs.file,
                    format: &cs.format,
                    fields: cs.fields.iter().map(String::as_str).collect(),
                    layout: &cs.layout_text,
                };
                let mut bytes = Vec::new();
                // The callsite came from this encoding: it fits again.
                encode_callsite(&desc, &mut bytes).ok()?;
                let i = u32::try_from(self.table.len()).ok()?;
                self.table.push((cs.id, bytes));
                self.index.insert(key, i);
                i
            }
        };
        self.last = Some((key, i));
        Some(i)
    }

    /// The batch's base time (its first entry's), with `unix_ns`, an entry's time, taken
    /// into the batch's span.
    #[inline]
    fn base_for(&mut self, unix_ns: i64) -> i64 {
        // Entries come mostly in time order: one compare that holds, then no store.
        if unix_ns > self.latest_ns {
            self.latest_ns = unix_ns;
        }
        if unix_ns < self.earliest_ns {
            self.earliest_ns = unix_ns;
        }
        *self.base_ns.get_or_insert(unix_ns)
    }

    /// The index of thread (`pid`, `tid`) in this batch's thread table, adding it.
    #[inline]
    fn thread_index(&mut self, pid: u32, tid: u32) -> u32 {
        let key = (pid, tid);
        if let Some((k, i)) = self.last_thread {
            if k == key {
                return i;
            }
        }
        let i = self.thread_index_scan(key);
        self.last_thread = Some((key, i));
        i
    }

    /// [`Self::thread_index`] past the last lookup.
    #[inline]
    fn thread_index_scan(&mut self, key: (u32, u32)) -> u32 {
        // A drain batch usually holds a few threads: a scan beats hashing.
        if self.threads.len() <= THREAD_SCAN {
            if let Some(i) = self.threads.iter().position(|&t| t == key) {
                return i as u32;
            }
        }
        self.thread_index_slow(key)
    }

    /// [`Self::thread_index`] past the scan: the map, or a new thread.
    #[inline(never)]
    fn thread_index_slow(&mut self, key: (u32, u32)) -> u32 {
        let n = self.threads.len();
        if n > THREAD_SCAN {
            if let Some(&i) = self.thread_map.get(&key) {
                return i;
            }
        }
        // At most one entry per item of a batch (u32 entries): the index fits.
        let i = n as u32;
        self.threads.push(key);
        if n + 1 > THREAD_SCAN {
            if n + 1 == THREAD_SCAN + 1 {
                self.thread_map
                    .extend(self.threads.iter().enumerate().map(|(i, &t)| (t, i as u32)));
            } else {
                self.thread_map.insert(key, i);
            }
        }
        i
    }

    /// The wire encoding of `args` (for views with no wire form).
    fn encode_args(&mut self, args: &[Arg<'_>]) -> &[u8] {
        let need: usize = args
            .iter()
            .map(|a| match a {
                Arg::Str(s) | Arg::Display(s) => s.len() + 8,
                Arg::Bytes(b) => b.len() + 8,
                _ => 24,
            })
            .sum();
        self.args.clear();
        self.args.resize(need, MaybeUninit::uninit());
        let mut enc = ringlog_wire::args::Encoder::new(&mut self.args);
        for a in args {
            match *a {
                Arg::U64(v) => enc.u64(v),
                Arg::I64(v) => enc.i64(v),
                Arg::U128(v) => enc.u128(v),
                Arg::I128(v) => enc.i128(v),
                Arg::F32(v) => enc.f32(v),
                Arg::F64(v) => enc.f64(v),
                Arg::Bool(v) => enc.bool(v),
                Arg::Char(v) => enc.char(v),
                Arg::Str(v) => enc.str(v),
                Arg::Bytes(v) => enc.bytes(v),
                Arg::Display(v) => enc.display_str(v),
                Arg::None => enc.none(),
            }
        }
        let len = enc.len();
        // SAFETY: the encoder initialised the first `len` bytes of `self.args` (its
        // `as_bytes` contract); the borrow of the encoder ended above.
        unsafe { std::slice::from_raw_parts(self.args.as_ptr() as *const u8, len) }
    }
}

/// Writes `v` as LEB128 at the start of `out` (which has room for [`MAX_VARINT`] bytes);
/// returns its length.
fn put_varint(out: &mut [u8], mut v: u64) -> usize {
    let mut n = 0;
    while v >= 0x80 {
        out[n] = (v as u8) | 0x80;
        v >>= 7;
        n += 1;
    }
    out[n] = v as u8;
    n + 1
}

/// [`put_varint`] through a raw pointer: writes `v` as LEB128 at `out` and returns its length
/// (at most [`MAX_VARINT`]).
///
/// # Safety
///
/// `out` is valid for writes of [`MAX_VARINT`] bytes.
#[inline(always)]
unsafe fn put_varint_raw(out: *mut u8, mut v: u64) -> usize {
    let mut n = 0;
    while v >= 0x80 {
        // SAFETY: a u64 takes at most 10 groups of 7 bits, so n < MAX_VARINT here and below;
        // the caller gives room for MAX_VARINT bytes.
        unsafe { out.add(n).write((v as u8) | 0x80) };
        v >>= 7;
        n += 1;
    }
    // SAFETY: as above.
    unsafe { out.add(n).write(v as u8) };
    n + 1
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    // Strings come from a view whose strings the wire bounded to u16 lengths; cut anything
    // longer at a character boundary rather than write a length that lies.
    let mut end = s.len().min(u16::MAX as usize);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    out.extend_from_slice(&(end as u16).to_le_bytes());
    out.extend_from_slice(&s.as_bytes()[..end]);
}

impl ArchiveEncoder {
    /// Any entry (notices, unresolved callsites): [`Encoder::encode`] takes a shorter way
    /// for records with a callsite or none.
    fn encode_any(&mut self, out: &mut Vec<u8>, item: &Item<'_>) {
        let v = item.view;
        // Times are stored against the batch's first item (any later item may be earlier:
        // a merge reorders items after they are encoded).
        let base = self.base_for(v.unix_ns);
        let thread = self.thread_index(v.pid, v.tid);
        // The head, time, thread and origin go out in one copy.
        let mut fixed = [0u8; 1 + 3 * MAX_VARINT];
        let mut n = 1;
        n += put_varint(&mut fixed[n..], zigzag(v.unix_ns.wrapping_sub(base)));
        n += put_varint(&mut fixed[n..], thread as u64);
        let mut why: Option<&str> = None;
        let origin = match v.origin {
            Origin::Notice { .. } => ORIGIN_NOTICE,
            Origin::Callsite(cs) if cs.id == v.callsite_id => {
                match self.callsite_index(item.source, cs) {
                    Some(i) => {
                        n += put_varint(&mut fixed[n..], i as u64);
                        ORIGIN_CALLSITE
                    }
                    None => {
                        why = Some("callsite could not be archived");
                        ORIGIN_UNRESOLVED
                    }
                }
            }
            Origin::Callsite(_) => {
                why = Some("callsite could not be archived");
                ORIGIN_UNRESOLVED
            }
            Origin::Bare => ORIGIN_BARE,
            Origin::Unresolved(w) => {
                why = Some(w);
                ORIGIN_UNRESOLVED
            }
        };
        if origin != ORIGIN_CALLSITE {
            n += put_varint(&mut fixed[n..], v.callsite_id as u64);
        }
        fixed[0] = (v.level as u8 & 7) | (u8::from(v.truncated) << 3) | (origin << 4);
        out.extend_from_slice(&fixed[..n]);
        if let Some(why) = why {
            put_str(out, why);
        }
        if let Origin::Notice {
            target,
            message,
            names,
        } = v.origin
        {
            put_str(out, target);
            put_str(out, message);
            let k = names.len().min(u16::MAX as usize);
            out.extend_from_slice(&(k as u16).to_le_bytes());
            for name in &names[..k] {
                put_str(out, name);
            }
        }
        let args: &[u8] = match item.wire {
            Some(w) => w.payload,
            None => self.encode_args(v.args),
        };
        let mut len = [0u8; MAX_VARINT];
        let k = put_varint(&mut len, args.len() as u64);
        out.extend_from_slice(&len[..k]);
        out.extend_from_slice(args);
        self.entries += 1;
    }
}

impl ArchiveEncoder {
    /// The entry of a record still in its ring slot (the drain's bulk path, with the archive
    /// its only output), `unix_ns` its converted time: the bytes [`Encoder::encode`] writes
    /// for the view of the same record, its payload copied once, from the slot into `out`.
    /// Returns false, writing nothing, for a record that takes the general way (a callsite
    /// that did not resolve or cannot be archived): encode its view instead.
    #[inline]
    pub fn encode_slot(
        &mut self,
        out: &mut Vec<u8>,
        rec: &SlotRecord<'_>,
        unix_ns: i64,
        source: u32,
    ) -> bool {
        let h = &rec.header;
        let (kind, index) = match rec.callsite {
            Ok(Some(cs)) if cs.id == h.callsite => match self.callsite_index(source, cs) {
                Some(i) => (ORIGIN_CALLSITE, i),
                None => return false,
            },
            Ok(None) => (ORIGIN_BARE, h.callsite),
            _ => return false,
        };
        let base = self.base_for(unix_ns);
        let thread = self.thread_index(h.pid, h.tid);
        // The reader checked the level (so `Level as u8` of the view is this byte) and flags.
        let truncated = h.flags & FLAG_TRUNCATED != 0;
        let head = (h.level & 7) | (u8::from(truncated) << 3) | (kind << 4);
        let len = h.len as usize;
        out.reserve(1 + 4 * MAX_VARINT + len);
        let at = out.len();
        // SAFETY: `reserve` left room for the head and four varints of at most MAX_VARINT
        // bytes after `at`; every byte up to the new length is written before `set_len`
        // covers it. The payload is appended after, into the rest of the reserved room.
        unsafe {
            let p = out.as_mut_ptr().add(at);
            p.write(head);
            let mut n = 1;
            n += put_varint_raw(p.add(n), zigzag(unix_ns.wrapping_sub(base)));
            n += put_varint_raw(p.add(n), thread as u64);
            n += put_varint_raw(p.add(n), index as u64);
            n += put_varint_raw(p.add(n), len as u64);
            out.set_len(at + n);
        }
        rec.append_payload(out);
        self.entries += 1;
        true
    }
}

impl Encoder for ArchiveEncoder {
    fn encode(&mut self, out: &mut Vec<u8>, item: &Item<'_>) {
        let v = item.view;
        // The common case (a record from a ring, its callsite resolved, or none) is written
        // straight into the buffer's spare room in one pass; the rest takes `encode_any`.
        let (Some(wire), origin) = (item.wire, v.origin) else {
            return self.encode_any(out, item);
        };
        let (kind, index) = match origin {
            Origin::Callsite(cs) if cs.id == v.callsite_id => {
                match self.callsite_index(item.source, cs) {
                    Some(i) => (ORIGIN_CALLSITE, i),
                    None => return self.encode_any(out, item),
                }
            }
            Origin::Bare => (ORIGIN_BARE, v.callsite_id),
            _ => return self.encode_any(out, item),
        };
        let base = self.base_for(v.unix_ns);
        let thread = self.thread_index(v.pid, v.tid);
        let args = wire.payload;
        let head = (v.level as u8 & 7) | (u8::from(v.truncated) << 3) | (kind << 4);
        out.reserve(1 + 4 * MAX_VARINT + args.len());
        let len = out.len();
        // SAFETY: `reserve` left room for the head, four varints of at most MAX_VARINT bytes
        // and the arguments after `len`; every byte up to the new length is written before
        // `set_len` covers it, and `args` (the ring's copy) does not overlap `out`.
        unsafe {
            let p = out.as_mut_ptr().add(len);
            p.write(head);
            let mut n = 1;
            n += put_varint_raw(p.add(n), zigzag(v.unix_ns.wrapping_sub(base)));
            n += put_varint_raw(p.add(n), thread as u64);
            n += put_varint_raw(p.add(n), index as u64);
            n += put_varint_raw(p.add(n), args.len() as u64);
            std::ptr::copy_nonoverlapping(args.as_ptr(), p.add(n), args.len());
            out.set_len(len + n + args.len());
        }
        self.entries += 1;
    }

    fn needs_args(&self) -> bool {
        // Records keep their wire bytes; only notices (no wire form) use the view's args.
        false
    }

    fn seal(&mut self, out: &mut Vec<u8>, start: usize) {
        let entries = std::mem::take(&mut self.entries);
        let table = std::mem::take(&mut self.table);
        let base = self.base_ns.take().unwrap_or(0);
        let span = (
            std::mem::replace(&mut self.earliest_ns, i64::MAX),
            std::mem::replace(&mut self.latest_ns, i64::MIN),
        );
        self.index.clear();
        self.last = None;
        self.last_thread = None;
        self.thread_map.clear();
        if out.len() == start {
            self.threads.clear();
            return;
        }
        let mut head = std::mem::take(&mut self.scratch);
        head.clear();
        head.resize(HEADER_LEN, 0);
        head.extend_from_slice(&base.to_le_bytes());
        head.extend_from_slice(&span.0.to_le_bytes());
        head.extend_from_slice(&span.1.to_le_bytes());
        head.extend_from_slice(&(table.len() as u32).to_le_bytes());
        for (id, bytes) in &table {
            head.extend_from_slice(&id.to_le_bytes());
            head.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            head.extend_from_slice(bytes);
        }
        head.extend_from_slice(&(self.threads.len() as u32).to_le_bytes());
        for &(pid, tid) in &self.threads {
            head.extend_from_slice(&pid.to_le_bytes());
            head.extend_from_slice(&tid.to_le_bytes());
        }
        self.threads.clear();
        let raw_len = head.len() - HEADER_LEN + out.len() - start;
        if let Compression::Zstd(level) = self.compression {
            let mut payload = Vec::with_capacity(raw_len);
            payload.extend_from_slice(&head[HEADER_LEN..]);
            payload.extend_from_slice(&out[start..]);
            // Compression failing (out of memory) or not shrinking stores the chunk as is.
            if let Some(c) = zstd::bulk::compress(&payload, level)
                .ok()
                .filter(|c| c.len() < payload.len())
            {
                out.truncate(start);
                let h = chunk_header(FLAG_ZSTD, c.len(), raw_len, entries, crc32fast::hash(&c));
                out.extend_from_slice(&h);
                out.extend_from_slice(&c);
                self.scratch = head;
                return;
            }
        }
        // Stored: header and callsites go in front of the entries, which move once.
        let mut crc = crc32fast::Hasher::new();
        crc.update(&head[HEADER_LEN..]);
        crc.update(&out[start..]);
        let h = chunk_header(0, raw_len, raw_len, entries, crc.finalize());
        head[..HEADER_LEN].copy_from_slice(&h);
        out.splice(start..start, head.iter().copied());
        self.scratch = head;
    }
}

/// A chunk header (see the module docs).
fn chunk_header(flags: u8, stored: usize, raw: usize, entries: u32, crc: u32) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..4].copy_from_slice(MAGIC);
    hex(&mut h[4..6], VERSION as u32);
    hex(&mut h[6..7], flags as u32);
    hex(&mut h[7..15], stored as u32);
    hex(&mut h[15..23], raw as u32);
    hex(&mut h[23..31], entries);
    hex(&mut h[31..39], crc);
    let hcrc = crc32fast::hash(&h[..39]);
    hex(&mut h[39..47], hcrc);
    h[47] = b'\n';
    h
}

fn hex(out: &mut [u8], mut v: u32) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for d in out.iter_mut().rev() {
        *d = DIGITS[(v & 15) as usize];
        v >>= 4;
    }
}

fn unhex(s: &[u8]) -> Option<u32> {
    let mut v: u32 = 0;
    for &c in s {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => return None,
        };
        v = (v << 4) | d as u32;
    }
    Some(v)
}

/// Why bytes are not a whole chunk.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    /// More bytes are needed (a file still being written, or cut short).
    #[error("chunk needs {needed} bytes, {have} present")]
    Incomplete {
        /// Bytes the chunk needs from its start (the header's, if it is not whole).
        needed: usize,
        /// Bytes there are.
        have: usize,
    },
    /// The bytes cannot be a chunk.
    #[error("{0}")]
    Corrupt(String),
}

/// A chunk's header, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkHeader {
    /// Format version ([`OLDEST_VERSION`]..=[`VERSION`]).
    pub version: u8,
    /// Flags.
    pub flags: u8,
    /// Stored payload bytes.
    pub stored_len: usize,
    /// Payload bytes once decompressed.
    pub raw_len: usize,
    /// Entries.
    pub entries: u32,
    /// CRC-32 of the stored payload.
    pub crc: u32,
}

impl ChunkHeader {
    /// Reads the header at the start of `b`.
    pub fn parse(b: &[u8]) -> Result<ChunkHeader, ChunkError> {
        if b.len() < HEADER_LEN {
            // Say "incomplete" only if what there is could begin a header.
            let n = b.len().min(4);
            if b[..n] != MAGIC[..n] {
                return Err(ChunkError::Corrupt("not a chunk header".into()));
            }
            return Err(ChunkError::Incomplete {
                needed: HEADER_LEN,
                have: b.len(),
            });
        }
        let h = &b[..HEADER_LEN];
        if &h[..4] != MAGIC {
            return Err(ChunkError::Corrupt("not a chunk header".into()));
        }
        let bad = || ChunkError::Corrupt("damaged chunk header".into());
        if h[47] != b'\n' || unhex(&h[39..47]) != Some(crc32fast::hash(&h[..39])) {
            return Err(bad());
        }
        let version = unhex(&h[4..6]).ok_or_else(bad)?;
        if !(OLDEST_VERSION as u32..=VERSION as u32).contains(&version) {
            return Err(ChunkError::Corrupt(format!(
                "archive format version {version} (this ringdrain reads versions {OLDEST_VERSION} to {VERSION})"
            )));
        }
        let flags = unhex(&h[6..7]).ok_or_else(bad)? as u8;
        if flags & !FLAG_ZSTD != 0 {
            return Err(ChunkError::Corrupt(format!(
                "unknown chunk flags {flags:x}"
            )));
        }
        let stored_len = unhex(&h[7..15]).ok_or_else(bad)? as usize;
        let raw_len = unhex(&h[15..23]).ok_or_else(bad)? as usize;
        if stored_len > MAX_PAYLOAD || raw_len > MAX_PAYLOAD {
            return Err(ChunkError::Corrupt(
                "chunk larger than the format allows".into(),
            ));
        }
        if flags & FLAG_ZSTD == 0 && stored_len != raw_len {
            return Err(bad());
        }
        Ok(ChunkHeader {
            version: version as u8,
            flags,
            stored_len,
            raw_len,
            entries: unhex(&h[23..31]).ok_or_else(bad)?,
            crc: unhex(&h[31..39]).ok_or_else(bad)?,
        })
    }
}

/// Checks the chunk at the start of `b`; returns its header, its payload (decompressed) and
/// its length in `b`.
pub fn read_chunk(
    b: &[u8],
) -> Result<(ChunkHeader, std::borrow::Cow<'_, [u8]>, usize), ChunkError> {
    let (h, stored, end) = check_chunk(b)?;
    Ok((h, payload(&h, stored)?, end))
}

/// The first half of [`read_chunk`]: the chunk at the start of `b` is whole and its header and
/// payload checksums hold; returns its header, its stored payload (compressed or not) and its
/// length in `b`. [`payload`] is the other half.
pub fn check_chunk(b: &[u8]) -> Result<(ChunkHeader, &[u8], usize), ChunkError> {
    let (h, stored, end) = frame_chunk(b)?;
    if !intact(&h, stored) {
        return Err(ChunkError::Corrupt("chunk checksum mismatch".into()));
    }
    Ok((h, stored, end))
}

/// [`check_chunk`] but the payload checksum ([`intact`]): the chunk at the start of `b` is
/// whole and its header holds.
pub fn frame_chunk(b: &[u8]) -> Result<(ChunkHeader, &[u8], usize), ChunkError> {
    let h = ChunkHeader::parse(b)?;
    let end = HEADER_LEN + h.stored_len;
    if b.len() < end {
        return Err(ChunkError::Incomplete {
            needed: end,
            have: b.len(),
        });
    }
    Ok((h, &b[HEADER_LEN..end], end))
}

/// Whether a framed chunk's stored payload has the checksum its header gives.
pub fn intact(h: &ChunkHeader, stored: &[u8]) -> bool {
    crc32fast::hash(stored) == h.crc
}

/// The second half of [`read_chunk`]: the payload of a checked chunk (`stored`, from
/// [`check_chunk`]), decompressed if it is compressed.
pub fn payload<'a>(
    h: &ChunkHeader,
    stored: &'a [u8],
) -> Result<std::borrow::Cow<'a, [u8]>, ChunkError> {
    Ok(if h.flags & FLAG_ZSTD != 0 {
        let raw = zstd::bulk::decompress(stored, h.raw_len)
            .map_err(|e| ChunkError::Corrupt(format!("chunk does not decompress: {e}")))?;
        if raw.len() != h.raw_len {
            return Err(ChunkError::Corrupt(
                "chunk decompresses to the wrong length".into(),
            ));
        }
        std::borrow::Cow::Owned(raw)
    } else {
        std::borrow::Cow::Borrowed(stored)
    })
}

/// A span of time, `[since, until)` in Unix nanoseconds: the entries a reader wants (the
/// default, no bounds: all of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    /// The earliest time wanted.
    pub since: Option<i64>,
    /// The first time after the span.
    pub until: Option<i64>,
}

impl Span {
    /// Whether a chunk whose entries are stamped from `earliest` to `latest` (both included)
    /// has none in the span.
    fn misses(&self, (earliest, latest): (i64, i64)) -> bool {
        self.since.is_some_and(|s| latest < s) || self.until.is_some_and(|u| earliest >= u)
    }
}

/// The earliest and latest entry times a checked chunk declares (version 3 on), read from the
/// front of its payload: decompressing only that much of a compressed one.
fn declared_span(h: &ChunkHeader, stored: &[u8]) -> Option<(i64, i64)> {
    if h.version < 3 {
        return None;
    }
    let mut front = [0u8; 24];
    if h.flags & FLAG_ZSTD != 0 {
        use std::io::Read;
        let mut z = zstd::stream::read::Decoder::with_buffer(stored).ok()?;
        z.read_exact(&mut front).ok()?;
    } else {
        front.copy_from_slice(stored.get(..24)?);
    }
    // After the base time.
    let mut b = Bytes(&front[8..]);
    Some((b.i64().ok()?, b.i64().ok()?))
}

/// Decodes a checked chunk (from [`check_chunk`]), calling `f` for each entry: the
/// [`Step::Chunk`] [`Decoder::next`] returns for it, or, if its payload does not decompress,
/// why (then `Decoder::next` skips it as damaged, and so must a caller that decodes chunks
/// apart from a `Decoder`: see `decode.rs`). Depends on nothing outside the chunk, so chunks
/// can be decoded on several threads.
///
/// A chunk that declares its entries' times (version 3 on) and has none in `span` is passed
/// over after its checksums: its entries are counted from its header and not decoded (so
/// damage inside a chunk whose checksums hold goes unseen there).
pub fn decode_chunk(
    h: &ChunkHeader,
    stored: &[u8],
    span: Span,
    f: impl FnMut(&RecordView<'_>),
) -> Result<Step, String> {
    if span != Span::default() && declared_span(h, stored).is_some_and(|s| span.misses(s)) {
        return Ok(Step::Chunk {
            entries: u64::from(h.entries),
            damaged: None,
        });
    }
    let payload = payload(h, stored).map_err(|e| e.to_string())?;
    Ok(match Chunk::parse(&payload, h.version) {
        Ok(chunk) => match chunk.for_each(f) {
            Ok(n) => Step::Chunk {
                entries: n,
                damaged: None,
            },
            Err((n, why)) => Step::Chunk {
                entries: n,
                damaged: Some(why),
            },
        },
        Err(why) => Step::Chunk {
            entries: 0,
            damaged: Some(why),
        },
    })
}

/// A little-endian reader over untrusted bytes.
struct Bytes<'a>(&'a [u8]);

impl<'a> Bytes<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err("entry cut short".into());
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, String> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn i64(&mut self) -> Result<i64, String> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_le_bytes(a))
    }
    /// A LEB128 varint: one byte (most of an archive's) inline, longer ones out of line.
    #[inline]
    fn varint(&mut self) -> Result<u64, String> {
        if let Some((&b, rest)) = self.0.split_first() {
            if b < 0x80 {
                self.0 = rest;
                return Ok(b as u64);
            }
        }
        self.varint_long()
    }
    #[inline(never)]
    fn varint_long(&mut self) -> Result<u64, String> {
        let mut v: u64 = 0;
        for k in 0..MAX_VARINT {
            let b = self.u8()?;
            let bits = (b & 0x7f) as u64;
            if k == MAX_VARINT - 1 && b > 1 {
                return Err("varint too long".into());
            }
            v |= bits << (7 * k);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("varint too long".into())
    }
    fn str(&mut self) -> Result<&'a str, String> {
        let n = self.u16()? as usize;
        std::str::from_utf8(self.take(n)?).map_err(|_| "string is not UTF-8".to_string())
    }
}

/// A chunk's payload, parsed: its callsites and its entries' bytes.
#[derive(Debug)]
pub struct Chunk<'a> {
    version: u8,
    base_ns: i64,
    callsites: Vec<Callsite>,
    threads: Vec<(u32, u32)>,
    entries: &'a [u8],
}

impl<'a> Chunk<'a> {
    /// Parses a payload of format `version` (from [`read_chunk`]).
    pub fn parse(payload: &'a [u8], version: u8) -> Result<Chunk<'a>, String> {
        let mut b = Bytes(payload);
        let base_ns = if version >= 2 { b.i64()? } else { 0 };
        if version >= 3 {
            // The span (`declared_span`), for readers that skip; entries carry their times.
            b.take(16)?;
        }
        let n = b.u32()? as usize;
        let mut callsites = Vec::with_capacity(n.min(payload.len() / 8));
        for _ in 0..n {
            let id = b.u32()?;
            let len = b.u32()? as usize;
            let bytes = b.take(len)?;
            let desc = decode_callsite(id, bytes).map_err(|e| format!("callsite {id}: {e}"))?;
            callsites.push(Callsite::new(id, &desc));
        }
        let mut threads = Vec::new();
        if version >= 2 {
            let n = b.u32()? as usize;
            threads.reserve(n.min(b.0.len() / 8));
            for _ in 0..n {
                threads.push((b.u32()?, b.u32()?));
            }
        }
        Ok(Chunk {
            version,
            base_ns,
            callsites,
            threads,
            entries: b.0,
        })
    }

    /// Calls `f` with each entry's view, in order; stops at the first malformed entry and
    /// returns what was wrong with it and how many entries came before it.
    pub fn for_each(&self, f: impl FnMut(&RecordView<'_>)) -> Result<u64, (u64, String)> {
        if self.version == 1 {
            self.for_each_v1(f)
        } else {
            self.for_each_v2(f)
        }
    }

    fn for_each_v2(&self, mut f: impl FnMut(&RecordView<'_>)) -> Result<u64, (u64, String)> {
        let mut b = Bytes(self.entries);
        let mut n = 0u64;
        let mut names: Vec<&str> = Vec::new();
        while !b.0.is_empty() {
            let r = (|| -> Result<(), String> {
                let head = b.u8()?;
                if head & 0xc0 != 0 {
                    return Err("unknown entry flags".into());
                }
                let level_byte = head & 7;
                let level = Level::from_u8(level_byte).ok_or("bad level")?;
                let truncated = head & 8 != 0;
                let origin_kind = (head >> 4) & 3;
                let unix_ns = self.base_ns.wrapping_add(unzigzag(b.varint()?));
                let &(pid, tid) = usize::try_from(b.varint()?)
                    .ok()
                    .and_then(|t| self.threads.get(t))
                    .ok_or("thread index out of range")?;
                let (callsite_id, callsite) = if origin_kind == ORIGIN_CALLSITE {
                    let cs = usize::try_from(b.varint()?)
                        .ok()
                        .and_then(|i| self.callsites.get(i))
                        .ok_or("callsite index out of range")?;
                    (cs.id, Some(cs))
                } else {
                    let id = u32::try_from(b.varint()?).map_err(|_| "callsite id too large")?;
                    (id, None)
                };
                let mut why = "";
                let (mut target, mut message) = ("", "");
                names.clear();
                match origin_kind {
                    ORIGIN_UNRESOLVED => why = b.str()?,
                    ORIGIN_NOTICE => {
                        target = b.str()?;
                        message = b.str()?;
                        let n_names = b.u16()? as usize;
                        for _ in 0..n_names {
                            names.push(b.str()?);
                        }
                    }
                    _ => {}
                }
                let n_args =
                    usize::try_from(b.varint()?).map_err(|_| "argument length too large")?;
                let payload = b.take(n_args)?;
                let notice = origin_kind == ORIGIN_NOTICE;
                let record = if notice {
                    RecordRef {
                        header: RecordHeader::default(),
                        payload,
                    }
                } else {
                    entry_record(callsite_id, pid, tid, level_byte, truncated, payload)
                };
                // Decoded in place (a buffer returned by value is a half-kilobyte copy).
                let mut args = ArgBuf::new();
                args.decode_from(&record);
                let origin = match (origin_kind, callsite) {
                    (_, Some(cs)) => Origin::Callsite(cs),
                    (ORIGIN_BARE, _) => Origin::Bare,
                    (ORIGIN_UNRESOLVED, _) => Origin::Unresolved(why),
                    _ => Origin::Notice {
                        target,
                        message,
                        names: &names,
                    },
                };
                let view = RecordView {
                    unix_ns,
                    level,
                    pid,
                    tid,
                    callsite_id,
                    origin,
                    args: args.as_slice(),
                    truncated,
                    arg_error: args.error(),
                };
                f(&view);
                Ok(())
            })();
            if let Err(why) = r {
                return Err((n, why));
            }
            n += 1;
        }
        Ok(n)
    }

    fn for_each_v1(&self, mut f: impl FnMut(&RecordView<'_>)) -> Result<u64, (u64, String)> {
        let mut b = Bytes(self.entries);
        let mut n = 0u64;
        while !b.0.is_empty() {
            let r = (|| -> Result<(), String> {
                let kind = b.u8()?;
                let len = b.u32()? as usize;
                let mut e = Bytes(b.take(len)?);
                let unix_ns = e.i64()?;
                let pid = e.u32()?;
                let tid = e.u32()?;
                let callsite_id = e.u32()?;
                let level_byte = e.u8()?;
                let level = Level::from_u8(level_byte).ok_or("bad level")?;
                let flags = e.u8()?;
                if flags & !1 != 0 {
                    return Err("unknown entry flags".into());
                }
                let truncated = flags & 1 != 0;
                match kind {
                    KIND_RECORD => {
                        let origin = match e.u8()? {
                            ORIGIN_BARE => Origin::Bare,
                            ORIGIN_CALLSITE => {
                                let i = e.u32()? as usize;
                                Origin::Callsite(
                                    self.callsites.get(i).ok_or("callsite index out of range")?,
                                )
                            }
                            ORIGIN_UNRESOLVED => Origin::Unresolved(e.str()?),
                            _ => return Err("unknown record origin".into()),
                        };
                        let n_args = e.u32()? as usize;
                        let payload = e.take(n_args)?;
                        if !e.0.is_empty() {
                            return Err("trailing bytes in entry".into());
                        }
                        let record =
                            entry_record(callsite_id, pid, tid, level_byte, truncated, payload);
                        // Decoded in place (a buffer returned by value is a half-kilobyte copy).
                        let mut args = ArgBuf::new();
                        args.decode_from(&record);
                        let view = RecordView {
                            unix_ns,
                            level,
                            pid,
                            tid,
                            callsite_id,
                            origin,
                            args: args.as_slice(),
                            truncated,
                            arg_error: args.error(),
                        };
                        f(&view);
                    }
                    KIND_NOTICE => {
                        let target = e.str()?;
                        let message = e.str()?;
                        let n_names = e.u16()? as usize;
                        let mut names = Vec::with_capacity(n_names.min(e.0.len() / 2));
                        for _ in 0..n_names {
                            names.push(e.str()?);
                        }
                        let n_args = e.u32()? as usize;
                        let payload = e.take(n_args)?;
                        if !e.0.is_empty() {
                            return Err("trailing bytes in entry".into());
                        }
                        let record = RecordRef {
                            header: RecordHeader::default(),
                            payload,
                        };
                        // Decoded in place (a buffer returned by value is a half-kilobyte copy).
                        let mut args = ArgBuf::new();
                        args.decode_from(&record);
                        let view = RecordView {
                            unix_ns,
                            level,
                            pid,
                            tid,
                            callsite_id,
                            origin: Origin::Notice {
                                target,
                                message,
                                names: &names,
                            },
                            args: args.as_slice(),
                            truncated,
                            arg_error: args.error(),
                        };
                        f(&view);
                    }
                    k => return Err(format!("unknown entry kind {k}")),
                }
                Ok(())
            })();
            if let Err(why) = r {
                return Err((n, why));
            }
            n += 1;
        }
        Ok(n)
    }
}

/// One step of [`Decoder::next`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A whole chunk: its entries were handed to the callback.
    Chunk {
        /// Entries decoded.
        entries: u64,
        /// The chunk's checksums held but an entry inside did not decode (entries before it
        /// were delivered): what was wrong.
        damaged: Option<String>,
    },
    /// Bytes that are not a valid chunk were skipped.
    Skipped {
        /// Offset of the first skipped byte.
        offset: u64,
        /// Bytes skipped.
        bytes: u64,
        /// What was wrong at `offset`.
        reason: String,
    },
    /// The rest of the buffer is the start of a chunk (or nothing): more bytes are needed.
    Incomplete {
        /// Bytes left over.
        bytes: u64,
        /// Bytes the chunk at the end needs in all.
        needed: u64,
    },
}

/// Walks an archive's bytes chunk by chunk, resynchronising after damage.
#[derive(Debug, Default)]
pub struct Decoder {
    /// Offset in the file of the buffer's first byte (for messages).
    pub base: u64,
    /// Only entries in this span are wanted: chunks with none in it are passed over
    /// ([`decode_chunk`]).
    pub span: Span,
}

impl Decoder {
    /// Decodes the next step from `buf` (which starts at a chunk boundary, or after damage),
    /// calling `f` for each entry of a whole chunk. Returns the step and the bytes consumed
    /// (0 for [`Step::Incomplete`]).
    pub fn next(&mut self, buf: &[u8], f: impl FnMut(&RecordView<'_>)) -> (Step, usize) {
        if buf.is_empty() {
            return (
                Step::Incomplete {
                    bytes: 0,
                    needed: 0,
                },
                0,
            );
        }
        let step = match check_chunk(buf) {
            Ok((h, stored, used)) => match decode_chunk(&h, stored, self.span, f) {
                Ok(step) => (step, used),
                // Does not decompress: damaged, as a bad checksum is.
                Err(why) => {
                    let at = find_chunk(buf, 1, true).unwrap_or(buf.len());
                    self.skip(buf, at, why)
                }
            },
            Err(ChunkError::Incomplete { needed, have }) => {
                // A header whose length runs past the end: wait for the rest, unless a valid
                // chunk begins inside the claimed range (then this one is damaged).
                match find_chunk(buf, 1, false) {
                    Some(at) if at < have => self.skip(buf, at, "chunk cut short".into()),
                    _ => {
                        return (
                            Step::Incomplete {
                                bytes: have as u64,
                                needed: needed as u64,
                            },
                            0,
                        )
                    }
                }
            }
            Err(ChunkError::Corrupt(why)) => {
                let at = find_chunk(buf, 1, true).unwrap_or(buf.len());
                self.skip(buf, at, why)
            }
        };
        self.base += step.1 as u64;
        step
    }

    fn skip(&self, _buf: &[u8], at: usize, reason: String) -> (Step, usize) {
        (
            Step::Skipped {
                offset: self.base,
                bytes: at as u64,
                reason,
            },
            at,
        )
    }
}

/// Offset of the first position at or after `from` where a chunk header with a valid header
/// checksum starts; with `partial`, a header cut off by the end of `buf` counts too (it may be
/// completed later).
fn find_chunk(buf: &[u8], from: usize, partial: bool) -> Option<usize> {
    let mut i = from;
    while i < buf.len() {
        let rest = &buf[i..];
        let at = rest.windows(4).position(|w| w == MAGIC).or_else(|| {
            // A magic cut by the end of the buffer.
            (1..4)
                .find(|&k| rest.len() >= k && rest[rest.len() - k..] == MAGIC[..k])
                .map(|k| rest.len() - k)
        })?;
        match ChunkHeader::parse(&rest[at..]) {
            Ok(_) => return Some(i + at),
            Err(ChunkError::Incomplete { .. }) if partial => return Some(i + at),
            Err(ChunkError::Incomplete { .. }) => return None,
            Err(ChunkError::Corrupt(_)) => i += at + 1,
        }
    }
    None
}

/// The record an archive entry stands for (not a notice): its header as the ring had it, but
/// for the timestamp (the entry carries the wall-clock time instead), and its argument bytes.
fn entry_record(
    callsite: u32,
    pid: u32,
    tid: u32,
    level: u8,
    truncated: bool,
    payload: &[u8],
) -> RecordRef<'_> {
    RecordRef {
        header: RecordHeader {
            timestamp: 0,
            callsite,
            pid,
            tid,
            len: payload.len().min(u16::MAX as usize) as u16,
            level,
            flags: if truncated { FLAG_TRUNCATED } else { 0 },
        },
        payload,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringlog_wire::view::OwnedRecord;

    fn notice(out: &mut Vec<u8>, enc: &mut ArchiveEncoder, n: u64) {
        let names = ["n", "s"];
        let s = format!("v{n}");
        let args = [Arg::U64(n), Arg::Str(&s)];
        let view = RecordView::notice(1_000 + n as i64, Level::Warn, 7, "hello", &names, &args);
        enc.encode(out, &Item::view(&view));
    }

    fn decode_all(buf: &[u8]) -> (Vec<OwnedRecord>, Vec<Step>) {
        decode_span(buf, Span::default())
    }

    /// [`decode_all`] by a decoder that wants only `span`.
    fn decode_span(buf: &[u8], span: Span) -> (Vec<OwnedRecord>, Vec<Step>) {
        let mut d = Decoder { base: 0, span };
        let mut recs = Vec::new();
        let mut steps = Vec::new();
        let mut at = 0;
        loop {
            let (step, used) = d.next(&buf[at..], |v| recs.push(v.to_owned_record()));
            at += used;
            let end = matches!(step, Step::Incomplete { .. });
            steps.push(step);
            if end {
                return (recs, steps);
            }
        }
    }

    fn archive(chunks: u64, per: u64, compression: Compression) -> Vec<u8> {
        let mut enc = ArchiveEncoder::new(compression);
        let mut out = Vec::new();
        for c in 0..chunks {
            let start = out.len();
            for i in 0..per {
                notice(&mut out, &mut enc, c * per + i);
            }
            enc.seal(&mut out, start);
        }
        out
    }

    /// Encodes one of each kind of entry into a chunk: a record with its callsite (twice, two
    /// threads, out of time order as a merge may leave them), a bare record, an unresolved
    /// one, a truncated one, a notice.
    fn mixed(enc: &mut ArchiveEncoder, out: &mut Vec<u8>) {
        use ringlog_wire::callsite::FormatStyle;
        let desc = CallsiteDesc {
            level: Level::Info,
            style: FormatStyle::Brace,
            line: 42,
            target: "app::http",
            module: "app::http",
            file: "src/http.rs",
            format: "request {} served in {} us by {}",
            fields: vec!["status"],
            layout: "",
        };
        let cs = Callsite::new(8, &desc);
        let start = out.len();
        let rows: [(i64, u32, u32, u32, Level, bool, u8); 5] = [
            (
                1_700_000_000_123_456_789,
                100,
                101,
                8,
                Level::Info,
                false,
                0,
            ),
            (
                1_700_000_000_123_456_700,
                100,
                102,
                8,
                Level::Warn,
                false,
                0,
            ),
            (
                1_700_000_000_223_456_789,
                200,
                201,
                0,
                Level::Error,
                false,
                1,
            ),
            (-5, u32::MAX, 0, 77, Level::Critical, false, 2),
            (
                1_700_000_000_123_456_789,
                100,
                101,
                8,
                Level::Trace,
                true,
                0,
            ),
        ];
        for (k, &(unix_ns, pid, tid, callsite_id, level, truncated, origin)) in
            rows.iter().enumerate()
        {
            let w = format!("p0-t{k}");
            let args = [
                Arg::U64(k as u64 * 1000),
                Arg::F64(k as f64 / 4.0),
                Arg::Str(&w),
                Arg::U64(200 + k as u64),
            ];
            let payload = enc.encode_args(&args).to_vec();
            let record = RecordRef {
                header: RecordHeader {
                    timestamp: 0,
                    callsite: callsite_id,
                    pid,
                    tid,
                    len: payload.len() as u16,
                    level: level as u8,
                    flags: if truncated { FLAG_TRUNCATED } else { 0 },
                },
                payload: &payload,
            };
            let view = RecordView {
                unix_ns,
                level,
                pid,
                tid,
                callsite_id,
                origin: match origin {
                    0 => Origin::Callsite(&cs),
                    1 => Origin::Bare,
                    _ => Origin::Unresolved("unknown callsite 77"),
                },
                args: &[],
                truncated,
                arg_error: None,
            };
            enc.encode(out, &Item::wire(&view, &record, 0));
        }
        notice(out, enc, 9);
        enc.seal(out, start);
    }

    /// What [`mixed`] decodes to, one line per entry.
    fn mixed_decoded(buf: &[u8]) -> Vec<String> {
        let (recs, steps) = decode_all(buf);
        assert!(
            steps.iter().all(|s| matches!(
                s,
                Step::Chunk { damaged: None, .. } | Step::Incomplete { .. }
            )),
            "{steps:?}"
        );
        recs.iter().map(|r| format!("{r:?}")).collect()
    }

    #[test]
    fn version_1_chunks_still_decode() {
        // Written by the version 1 encoder (`mixed`, before version 2).
        let v1 = include_bytes!("../tests/golden/archive-v1.rlog");
        assert!(v1.starts_with(b"RLGA010"));
        let want = include_str!("../tests/golden/archive-v1.txt");
        assert_eq!(mixed_decoded(v1).join("\n") + "\n", want);
    }

    #[test]
    fn version_2_chunks_still_decode() {
        // Written by the version 2 encoder (`mixed`, before version 3), stored and zstd.
        let want = include_str!("../tests/golden/archive-v1.txt");
        for v2 in [
            &include_bytes!("../tests/golden/archive-v2.rlog")[..],
            &include_bytes!("../tests/golden/archive-v2-zstd.rlog")[..],
        ] {
            assert!(v2.starts_with(b"RLGA02"));
            assert_eq!(mixed_decoded(v2).join("\n") + "\n", want);
            // No span declared: a reader after a span decodes it whole.
            let (h, stored, _) = check_chunk(v2).unwrap();
            assert_eq!(declared_span(&h, stored), None);
        }
    }

    /// Every chunk declares the earliest and the latest of its entries' times, whatever their
    /// order in it, stored or compressed.
    #[test]
    fn each_chunk_declares_the_span_of_its_entries() {
        for c in [Compression::None, Compression::Zstd(1)] {
            let buf = archive(3, 50, c);
            let mut at = 0;
            for k in 0..3 {
                let (h, stored, used) = check_chunk(&buf[at..]).unwrap();
                let first = 1_000 + 50 * k;
                assert_eq!(
                    declared_span(&h, stored),
                    Some((first, first + 49)),
                    "{c:?}"
                );
                at += used;
            }
            let mut enc = ArchiveEncoder::new(c);
            let mut out = Vec::new();
            mixed(&mut enc, &mut out);
            let (h, stored, _) = check_chunk(&out).unwrap();
            let mut times = Vec::new();
            decode_chunk(&h, stored, Span::default(), |v| times.push(v.unix_ns)).unwrap();
            let (lo, hi) = (*times.iter().min().unwrap(), *times.iter().max().unwrap());
            assert_ne!(
                times[0], lo,
                "the first entry is not the earliest: {times:?}"
            );
            assert_eq!(declared_span(&h, stored), Some((lo, hi)), "{times:?}");
        }
    }

    /// A reader after a span of time passes over a chunk with nothing in it after its
    /// checksums: it counts the chunk's entries and neither parses nor decodes it (damage
    /// inside one whose checksums hold goes unseen), and decodes every chunk that overlaps.
    #[test]
    fn a_span_passes_over_chunks_with_nothing_in_it() {
        // The entries' times and the steps before the end.
        let decode = |buf: &[u8], span: Span| {
            let (recs, mut steps) = decode_span(buf, span);
            assert!(matches!(
                steps.pop(),
                Some(Step::Incomplete { bytes: 0, .. })
            ));
            let times: Vec<i64> = recs.iter().map(|r| r.unix_ns).collect();
            (times, steps)
        };
        let whole = |n| Step::Chunk {
            entries: n,
            damaged: None,
        };
        // Chunks of 1,000-1,049, 1,050-1,099 and 1,100-1,149.
        for c in [Compression::None, Compression::Zstd(1)] {
            let buf = archive(3, 50, c);
            for (since, until, from, to) in [
                (Some(1_050), Some(1_100), 1_050, 1_100),
                (Some(1_049), Some(1_051), 1_000, 1_100),
                (Some(1_100), None, 1_100, 1_150),
                (None, Some(1_050), 1_000, 1_050),
                (Some(2_000), None, 0, 0),
                (None, None, 1_000, 1_150),
            ] {
                let (times, steps) = decode(&buf, Span { since, until });
                assert_eq!(
                    times,
                    (from..to).collect::<Vec<i64>>(),
                    "{c:?} {since:?}..{until:?}"
                );
                assert_eq!(steps, vec![whole(50); 3], "every entry counted");
            }
        }
        // The first chunk's callsite count garbled under good checksums: damage when it is
        // decoded, none when the span passes it over.
        let mut buf = archive(3, 50, Compression::None);
        let at = HEADER_LEN + 24;
        buf[at..at + 4].copy_from_slice(&[0xff; 4]);
        let h = ChunkHeader::parse(&buf).unwrap();
        let stored = &buf[HEADER_LEN..HEADER_LEN + h.stored_len];
        let header = chunk_header(
            0,
            h.stored_len,
            h.raw_len,
            h.entries,
            crc32fast::hash(stored),
        );
        buf[..HEADER_LEN].copy_from_slice(&header);
        let (_, steps) = decode(&buf, Span::default());
        assert!(
            matches!(
                steps[0],
                Step::Chunk {
                    entries: 0,
                    damaged: Some(_)
                }
            ),
            "{steps:?}"
        );
        let (times, steps) = decode(
            &buf,
            Span {
                since: Some(1_050),
                until: None,
            },
        );
        assert_eq!(steps, vec![whole(50); 3]);
        assert_eq!(times, (1_050..1_150).collect::<Vec<i64>>());
    }

    #[test]
    fn version_3_decodes_to_what_version_1_did_in_fewer_bytes() {
        for c in [Compression::None, Compression::Zstd(1)] {
            let mut enc = ArchiveEncoder::new(c);
            let mut out = Vec::new();
            // Twice: the second chunk must not lean on the first's tables or base time.
            mixed(&mut enc, &mut out);
            let one = out.len();
            mixed(&mut enc, &mut out);
            assert!(out.starts_with(b"RLGA03"));
            let want = include_str!("../tests/golden/archive-v1.txt");
            assert_eq!(mixed_decoded(&out[..one]).join("\n") + "\n", want);
            assert_eq!(mixed_decoded(&out[one..]).join("\n") + "\n", want);
            if c == Compression::None {
                let v1 = include_bytes!("../tests/golden/archive-v1.rlog");
                assert!(one < v1.len(), "{one} >= {}", v1.len());
            }
        }
    }

    #[test]
    fn varints_and_zigzag_round_trip_at_the_edges() {
        for v in [
            0u64,
            1,
            127,
            128,
            16_383,
            16_384,
            u32::MAX as u64,
            u64::MAX - 1,
            u64::MAX,
        ] {
            let mut b = [0u8; MAX_VARINT];
            let n = put_varint(&mut b, v);
            let mut r = Bytes(&b[..n]);
            assert_eq!(r.varint(), Ok(v));
            assert!(r.0.is_empty());
        }
        for v in [0i64, -1, 1, i64::MIN, i64::MAX, -1_000_000_007] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
        // Eleven bytes, or a tenth byte with bits above 64: refused, not wrapped.
        assert!(Bytes(&[0xff; 11]).varint().is_err());
        assert!(
            Bytes(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02])
                .varint()
                .is_err()
        );
    }

    #[test]
    fn many_threads_in_one_batch_keep_their_indices() {
        let mut enc = ArchiveEncoder::new(Compression::None);
        let idx: Vec<u32> = (0..40).map(|t| enc.thread_index(1, t)).collect();
        assert_eq!(idx, (0..40).collect::<Vec<_>>());
        let again: Vec<u32> = (0..40).rev().map(|t| enc.thread_index(1, t)).collect();
        assert_eq!(again, (0..40).rev().collect::<Vec<_>>());
    }

    #[test]
    fn chunks_round_trip_with_and_without_zstd() {
        for c in [Compression::None, Compression::Zstd(3)] {
            let buf = archive(3, 50, c);
            let (recs, steps) = decode_all(&buf);
            assert_eq!(recs.len(), 150);
            assert_eq!(recs[42].message, "hello");
            assert_eq!(recs[42].unix_ns, 1_042);
            assert_eq!(recs[42].fields[1].0, "s");
            assert_eq!(steps.len(), 4, "{steps:?}");
            assert!(matches!(steps[3], Step::Incomplete { bytes: 0, .. }));
        }
    }

    #[test]
    fn the_header_is_one_line_of_text() {
        let buf = archive(1, 1, Compression::None);
        let head = &buf[..HEADER_LEN];
        assert!(head.starts_with(b"RLGA030"), "{head:?}");
        assert_eq!(head.iter().position(|&b| b == b'\n'), Some(HEADER_LEN - 1));
        assert!(head[..47].iter().all(|b| b.is_ascii_alphanumeric()));
    }

    #[test]
    fn a_flipped_byte_skips_one_chunk_and_says_so() {
        let mut buf = archive(3, 10, Compression::None);
        let one = read_chunk(&buf).unwrap().2;
        let two = read_chunk(&buf[one..]).unwrap().2;
        buf[one + HEADER_LEN + 20] ^= 0x40;
        let (recs, steps) = decode_all(&buf);
        assert_eq!(recs.len(), 20);
        let skipped: Vec<_> = steps
            .iter()
            .filter_map(|s| match s {
                Step::Skipped { offset, bytes, .. } => Some((*offset, *bytes)),
                _ => None,
            })
            .collect();
        assert_eq!(skipped, vec![(one as u64, two as u64)]);
    }

    #[test]
    fn a_cut_archive_decodes_up_to_the_last_whole_chunk() {
        let buf = archive(3, 10, Compression::Zstd(1));
        let whole = {
            let (_, _, a) = read_chunk(&buf).unwrap();
            let (_, _, b) = read_chunk(&buf[a..]).unwrap();
            a + b
        };
        for cut in [whole + 1, whole + 30, whole + HEADER_LEN + 3, buf.len() - 1] {
            let (recs, steps) = decode_all(&buf[..cut]);
            assert_eq!(recs.len(), 20, "cut at {cut}");
            match steps.last() {
                Some(Step::Incomplete { bytes, .. }) => assert_eq!(*bytes as usize, cut - whole),
                s => panic!("{s:?}"),
            }
        }
    }

    #[test]
    fn garbage_between_chunks_is_skipped() {
        let mut buf = archive(1, 5, Compression::None);
        let tail = archive(1, 5, Compression::None);
        buf.extend_from_slice(b"RLGA but not a header, and more noise");
        buf.extend_from_slice(&tail);
        let (recs, steps) = decode_all(&buf);
        assert_eq!(recs.len(), 10);
        assert!(steps.iter().any(|s| matches!(s, Step::Skipped { .. })));
    }

    /// Decodes everything in `buf` the way `ringdrain decode` does, checking progress.
    fn walk(buf: &[u8]) -> (u64, u64) {
        let mut d = Decoder::default();
        let (mut at, mut entries, mut skipped) = (0usize, 0u64, 0u64);
        loop {
            let (step, used) = d.next(&buf[at..], |v| {
                let mut s = String::new();
                v.message(&mut s);
                v.problems(|_| {});
            });
            match step {
                Step::Incomplete { bytes, .. } => {
                    assert_eq!(used, 0);
                    assert_eq!(bytes as usize, buf.len() - at);
                    return (entries, skipped);
                }
                Step::Chunk { entries: n, .. } => entries += n,
                Step::Skipped { bytes, .. } => skipped += bytes,
            }
            assert!(used > 0 && at + used <= buf.len(), "no progress at {at}");
            at += used;
        }
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_decode_without_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..4096)) {
            walk(&bytes);
            // The same bytes behind the magic, to get past the first check.
            let mut b = MAGIC.to_vec();
            b.extend_from_slice(&bytes);
            walk(&b);
        }

        #[test]
        fn damage_anywhere_loses_at_most_the_chunks_it_touches(
            flips in proptest::collection::vec((0usize..100_000, 1u8..=255), 1..6),
            cut in 0usize..100_000,
            zstd in proptest::bool::ANY,
        ) {
            let c = if zstd { Compression::Zstd(1) } else { Compression::None };
            let mut buf = archive(8, 20, c);
            let len = buf.len();
            let mut touched = std::collections::BTreeSet::new();
            let starts = {
                let mut s = Vec::new();
                let mut at = 0;
                while at < buf.len() {
                    s.push(at);
                    at += read_chunk(&buf[at..]).unwrap().2;
                }
                s
            };
            for (at, x) in flips {
                let at = at % len;
                buf[at] ^= x;
                touched.insert(starts.iter().rposition(|&s| s <= at).unwrap());
            }
            let cut = cut % (len + 1);
            buf.truncate(cut);
            let (entries, _) = walk(&buf);
            let whole_untouched = starts
                .iter()
                .enumerate()
                .filter(|(i, &s)| {
                    let end = starts.get(i + 1).copied().unwrap_or(len);
                    !touched.contains(i) && end <= cut && s < cut
                })
                .count() as u64;
            // Every whole chunk no flip touched decodes (a damaged header may hide at most
            // the damaged chunk itself).
            proptest::prop_assert!(entries >= whole_untouched * 20, "{entries} < {}", whole_untouched * 20);
        }
    }
}
