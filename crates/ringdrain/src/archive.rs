//! The binary archive (`--format binary`): records as the ring had them, plus the callsites
//! they use, in self-describing checksummed chunks; `ringdrain decode` renders them later with
//! the same encoders as the text drain, byte for byte.
//!
//! # File format (version 1)
//!
//! A file is a sequence of chunks, one per drain batch; there is no file header, so rotated
//! files, concatenated files and a file cut anywhere all read the same way. Each chunk decodes
//! on its own: it carries every callsite its records use.
//!
//! ```text
//! chunk header, 48 bytes of ASCII (hex digits lower case):
//!    0  4  magic "RLGA"
//!    4  2  format version, hex ("01")
//!    6  1  flags, hex (bit 0: the payload is zstd-compressed)
//!    7  8  stored payload length, hex
//!   15  8  payload length once decompressed, hex
//!   23  8  entries, hex
//!   31  8  CRC-32 (IEEE) of the stored payload, hex
//!   39  8  CRC-32 of header bytes 0..39, hex
//!   47  1  '\n'
//! payload (little-endian):
//!   u32 callsites, then per callsite: u32 id, u32 len, `len` bytes in the segment's
//!       callsite encoding (ringlog_wire::callsite::encode_callsite)
//!   entries, each: u8 kind (1 record, 2 notice), u32 length of the rest, then
//!       i64 unix_ns, u32 pid, u32 tid, u32 callsite id, u8 level, u8 flags (bit 0 truncated)
//!       record: u8 origin (0 none, 1 callsite: u32 index into the table, 2 unresolved: str)
//!       notice: str target, str message, u16 names, each a str
//!       u32 argument bytes + the wire encoding of the arguments (ringlog_wire::args)
//!   a str is u16 length + UTF-8 bytes
//! ```
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

use ringlog_wire::args::Arg;
use ringlog_wire::callsite::{decode_callsite, encode_callsite, CallsiteDesc};
use ringlog_wire::decode::RecordRef;
use ringlog_wire::record::{Level, RecordHeader, FLAG_TRUNCATED};
use ringlog_wire::view::{ArgBuf, Callsite, Origin, RecordView};

use crate::encode::{Encoder, Item};

/// The chunk magic.
pub const MAGIC: &[u8; 4] = b"RLGA";
/// The format version this drain writes and reads.
pub const VERSION: u8 = 1;
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
            entries: 0,
            scratch: Vec::new(),
            args: Vec::new(),
        }
    }

    /// The table index of `cs` (from ring `source`), adding it to this batch's table.
    fn callsite_index(&mut self, source: u32, cs: &Callsite) -> Option<u32> {
        let key = (source, cs.id);
        if let Some((k, i)) = self.last {
            if k == key {
                return Some(i);
            }
        }
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

impl Encoder for ArchiveEncoder {
    fn encode(&mut self, out: &mut Vec<u8>, item: &Item<'_>) {
        let v = item.view;
        let kind = match v.origin {
            Origin::Notice { .. } => KIND_NOTICE,
            _ => KIND_RECORD,
        };
        // The entry is written in place; its length is patched in at the end. The fixed
        // part goes out in one copy.
        let at = out.len();
        let mut fixed = [0u8; 27];
        fixed[0] = kind;
        fixed[5..13].copy_from_slice(&v.unix_ns.to_le_bytes());
        fixed[13..17].copy_from_slice(&v.pid.to_le_bytes());
        fixed[17..21].copy_from_slice(&v.tid.to_le_bytes());
        fixed[21..25].copy_from_slice(&v.callsite_id.to_le_bytes());
        fixed[25] = v.level as u8;
        fixed[26] = u8::from(v.truncated);
        out.extend_from_slice(&fixed);
        match v.origin {
            Origin::Notice {
                target,
                message,
                names,
            } => {
                put_str(out, target);
                put_str(out, message);
                let n = names.len().min(u16::MAX as usize);
                out.extend_from_slice(&(n as u16).to_le_bytes());
                for name in &names[..n] {
                    put_str(out, name);
                }
            }
            Origin::Callsite(cs) => match self.callsite_index(item.source, cs) {
                Some(i) => {
                    let i = i.to_le_bytes();
                    out.extend_from_slice(&[ORIGIN_CALLSITE, i[0], i[1], i[2], i[3]]);
                }
                None => {
                    out.push(ORIGIN_UNRESOLVED);
                    put_str(out, "callsite could not be archived");
                }
            },
            Origin::Bare => out.push(ORIGIN_BARE),
            Origin::Unresolved(why) => {
                out.push(ORIGIN_UNRESOLVED);
                put_str(out, why);
            }
        }
        let args: &[u8] = match item.wire {
            Some(w) => w.payload,
            None => self.encode_args(v.args),
        };
        out.extend_from_slice(&(args.len() as u32).to_le_bytes());
        out.extend_from_slice(args);
        let len = (out.len() - at - 5) as u32;
        out[at + 1..at + 5].copy_from_slice(&len.to_le_bytes());
        self.entries += 1;
    }

    fn needs_args(&self) -> bool {
        // Records keep their wire bytes; only notices (no wire form) use the view's args.
        false
    }

    fn seal(&mut self, out: &mut Vec<u8>, start: usize) {
        let entries = std::mem::take(&mut self.entries);
        let table = std::mem::take(&mut self.table);
        self.index.clear();
        self.last = None;
        if out.len() == start {
            return;
        }
        let mut head = std::mem::take(&mut self.scratch);
        head.clear();
        head.resize(HEADER_LEN, 0);
        head.extend_from_slice(&(table.len() as u32).to_le_bytes());
        for (id, bytes) in &table {
            head.extend_from_slice(&id.to_le_bytes());
            head.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            head.extend_from_slice(bytes);
        }
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
        if version != VERSION as u32 {
            return Err(ChunkError::Corrupt(format!(
                "archive format version {version} (this ringdrain reads version {VERSION})"
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
    let h = ChunkHeader::parse(b)?;
    let end = HEADER_LEN + h.stored_len;
    if b.len() < end {
        return Err(ChunkError::Incomplete {
            needed: end,
            have: b.len(),
        });
    }
    let stored = &b[HEADER_LEN..end];
    if crc32fast::hash(stored) != h.crc {
        return Err(ChunkError::Corrupt("chunk checksum mismatch".into()));
    }
    let payload = if h.flags & FLAG_ZSTD != 0 {
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
    };
    Ok((h, payload, end))
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
    fn str(&mut self) -> Result<&'a str, String> {
        let n = self.u16()? as usize;
        std::str::from_utf8(self.take(n)?).map_err(|_| "string is not UTF-8".to_string())
    }
}

/// A chunk's payload, parsed: its callsites and its entries' bytes.
#[derive(Debug)]
pub struct Chunk<'a> {
    callsites: Vec<Callsite>,
    entries: &'a [u8],
}

impl<'a> Chunk<'a> {
    /// Parses a payload (from [`read_chunk`]).
    pub fn parse(payload: &'a [u8]) -> Result<Chunk<'a>, String> {
        let mut b = Bytes(payload);
        let n = b.u32()? as usize;
        let mut callsites = Vec::with_capacity(n.min(payload.len() / 8));
        for _ in 0..n {
            let id = b.u32()?;
            let len = b.u32()? as usize;
            let bytes = b.take(len)?;
            let desc = decode_callsite(id, bytes).map_err(|e| format!("callsite {id}: {e}"))?;
            callsites.push(Callsite::new(id, &desc));
        }
        Ok(Chunk {
            callsites,
            entries: b.0,
        })
    }

    /// Calls `f` with each entry's view, in order; stops at the first malformed entry and
    /// returns what was wrong with it and how many entries came before it.
    pub fn for_each(&self, mut f: impl FnMut(&RecordView<'_>)) -> Result<u64, (u64, String)> {
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
                        let record = RecordRef {
                            header: RecordHeader {
                                timestamp: 0,
                                callsite: callsite_id,
                                pid,
                                tid,
                                len: payload.len().min(u16::MAX as usize) as u16,
                                level: level_byte,
                                flags: if truncated { FLAG_TRUNCATED } else { 0 },
                            },
                            payload,
                        };
                        let args = ArgBuf::decode(&record);
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
                        let args = ArgBuf::decode(&record);
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
#[derive(Debug)]
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
        let step = match read_chunk(buf) {
            Ok((_, payload, used)) => {
                let step = match Chunk::parse(&payload) {
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
                };
                (step, used)
            }
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
        let mut d = Decoder::default();
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
        assert!(head.starts_with(b"RLGA010"), "{head:?}");
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
