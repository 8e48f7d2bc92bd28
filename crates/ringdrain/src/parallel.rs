//! `--format-threads N`: formatting a large batch on worker threads, written in order.
//!
//! With more than one format thread, the drain loop does not format records as it reads them:
//! it keeps each record's header and argument bytes (a copy out of the reader's buffer) and its
//! resolved callsite in a [`Deferred`] batch, and encodes its own notices (losses, drops) in
//! place, in order. Before the batch is written, [`Deferred::format_into`] splits the items
//! into contiguous runs, formats each run on its own thread with its own encoder, and appends
//! the runs' bytes to the output's batch buffer in order. The bytes are the same as formatting
//! them one by one on the drain thread (an encoder's output depends only on the view it is
//! given), so the checkpoint, the write and the release are unchanged: the checkpoint still
//! covers exactly the bytes written.
//!
//! Used only where it is simple and pays: one ring (no merge), one text, JSON or logfmt
//! output, no `--level`/`--limit` gate. Everything else formats on the drain thread, as does
//! a batch of fewer than [`PARALLEL_MIN`] records (threads cost more than they save there).

use std::collections::HashMap;
use std::sync::Arc;

use ringlog_segment::reader::CallsiteInfo;
use ringlog_wire::clock::Calibration;
use ringlog_wire::decode::RecordRef;
use ringlog_wire::record::RecordHeader;
use ringlog_wire::view::{ArgBuf, RecordView};

use crate::encode::{Encoder, Item};
use crate::format::LineFormat;

/// Fewest records in a batch before it is split between threads.
pub const PARALLEL_MIN: usize = 1024;

/// Most format threads.
pub const MAX_FORMAT_THREADS: usize = 64;

/// `auto`: one thread per core the drain thread leaves free, at most 4, at least 1.
pub fn auto_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cores.saturating_sub(1).clamp(1, 4)
}

/// A record's callsite as the reader resolved it, owned for the batch.
type Resolved = Result<Option<Arc<CallsiteInfo>>, String>;

/// One item of a deferred batch, in read order.
#[derive(Debug, Clone, Copy)]
enum Pending {
    /// A record: header, argument bytes `wire[start..end]`, callsite `callsites[cs]`.
    Record {
        header: RecordHeader,
        start: usize,
        end: usize,
        cs: usize,
    },
    /// Bytes already encoded (a notice): `notices[start..end]`.
    Encoded { start: usize, end: usize },
}

/// A batch whose records are formatted when it is complete (see the module docs).
#[derive(Debug)]
pub struct Deferred {
    threads: usize,
    items: Vec<Pending>,
    records: usize,
    wire: Vec<u8>,
    notices: Vec<u8>,
    callsites: Vec<Resolved>,
    by_id: HashMap<u32, usize>,
    /// One encoder and buffer per worker, kept between batches.
    workers: Vec<(crate::format::LineEncoder, Vec<u8>)>,
}

impl Deferred {
    /// A deferred batch formatting `format` lines on `threads` threads (2 or more).
    pub fn new(format: LineFormat, threads: usize) -> Deferred {
        let threads = threads.clamp(1, MAX_FORMAT_THREADS);
        Deferred {
            threads,
            items: Vec::new(),
            records: 0,
            wire: Vec::new(),
            notices: Vec::new(),
            callsites: Vec::new(),
            by_id: HashMap::new(),
            workers: (0..threads)
                .map(|_| (crate::format::LineEncoder::new(format), Vec::new()))
                .collect(),
        }
    }

    /// Empties the batch (callsites are resolved again per batch: the reader's cache is the
    /// authority, and a batch is thousands of records).
    pub fn clear(&mut self) {
        self.items.clear();
        self.records = 0;
        self.wire.clear();
        self.notices.clear();
        self.callsites.clear();
        self.by_id.clear();
    }

    /// Whether nothing was added since [`Deferred::clear`].
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// An estimate of the batch's encoded bytes (lines are about twice the wire form), for
    /// the drain's batch size limit.
    pub fn estimated_len(&self) -> usize {
        self.wire.len() * 2 + self.records * 48 + self.notices.len()
    }

    /// Keeps a record read from the ring, to format with the batch.
    pub fn record(
        &mut self,
        record: &RecordRef<'_>,
        callsite: Result<Option<&CallsiteInfo>, &str>,
    ) {
        let key = match callsite {
            Ok(_) => record.header.callsite,
            // Unresolved ids keep their reason; keyed apart from resolved ones.
            Err(_) => record.header.callsite | 1 << 31,
        };
        let cs = match self.by_id.get(&key) {
            Some(&i) if key & (1 << 31) == 0 => i,
            _ => {
                let resolved = match callsite {
                    Ok(c) => Ok(c.map(|c| Arc::new(c.clone()))),
                    Err(why) => Err(why.to_string()),
                };
                self.callsites.push(resolved);
                let i = self.callsites.len() - 1;
                self.by_id.insert(key, i);
                i
            }
        };
        let start = self.wire.len();
        self.wire.extend_from_slice(record.payload);
        self.items.push(Pending::Record {
            header: record.header,
            start,
            end: self.wire.len(),
            cs,
        });
        self.records += 1;
    }

    /// Encodes a notice (or any view without wire form) now, in its place in the batch.
    pub fn notice(&mut self, encoder: &mut dyn Encoder, view: &RecordView<'_>) {
        let start = self.notices.len();
        encoder.encode(&mut self.notices, &Item::view(view));
        self.items.push(Pending::Encoded {
            start,
            end: self.notices.len(),
        });
    }

    /// Formats the batch, in order, onto the end of `out`: split between the threads when it
    /// has at least [`PARALLEL_MIN`] records, else on this thread. `clock` must be the
    /// calibration the records were read under; `source` their ring's index. Returns whether
    /// the batch was split between threads.
    pub fn format_into(&mut self, out: &mut Vec<u8>, clock: &Calibration, source: u32) -> bool {
        let threads = if self.records >= PARALLEL_MIN {
            self.threads
        } else {
            1
        };
        let items = &self.items;
        let ctx = Ctx {
            wire: &self.wire,
            notices: &self.notices,
            callsites: &self.callsites,
            clock,
            source,
        };
        if threads <= 1 {
            let (enc, _) = &mut self.workers[0];
            for item in items {
                ctx.format(enc, out, item);
            }
            return false;
        }
        let per = items.len().div_ceil(threads);
        let runs = items.chunks(per.max(1));
        std::thread::scope(|s| {
            let ctx = &ctx;
            let mut workers = self.workers.iter_mut();
            let mut runs = runs.zip(&mut workers);
            // The drain thread formats the first run itself, straight into `out`.
            let first = runs.next();
            let handles: Vec<_> = runs
                .map(|(run, (enc, buf))| {
                    s.spawn(move || {
                        buf.clear();
                        for item in run {
                            ctx.format(enc, buf, item);
                        }
                    })
                })
                .collect();
            if let Some((run, (enc, _))) = first {
                for item in run {
                    ctx.format(enc, out, item);
                }
            }
            for h in handles {
                if let Err(panic) = h.join() {
                    std::panic::resume_unwind(panic);
                }
            }
        });
        for (_, buf) in self
            .workers
            .iter()
            .skip(1)
            .take(items.len().div_ceil(per) - 1)
        {
            out.extend_from_slice(buf);
        }
        true
    }
}

/// What every worker reads.
struct Ctx<'a> {
    wire: &'a [u8],
    notices: &'a [u8],
    callsites: &'a [Resolved],
    clock: &'a Calibration,
    source: u32,
}

impl Ctx<'_> {
    fn format(&self, enc: &mut crate::format::LineEncoder, out: &mut Vec<u8>, item: &Pending) {
        match *item {
            Pending::Record {
                header,
                start,
                end,
                cs,
            } => {
                let record = RecordRef {
                    header,
                    payload: &self.wire[start..end],
                };
                let callsite = match &self.callsites[cs] {
                    Ok(c) => Ok(c.as_deref()),
                    Err(why) => Err(why.as_str()),
                };
                let args = ArgBuf::decode(&record);
                let view = RecordView::new(&record, callsite, &args, self.clock);
                enc.encode(out, &Item::wire(&view, &record, self.source));
            }
            Pending::Encoded { start, end } => out.extend_from_slice(&self.notices[start..end]),
        }
    }
}
