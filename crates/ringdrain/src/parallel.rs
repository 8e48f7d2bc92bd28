//! `--format-threads N`: formatting on worker threads *while the drain reads*, written in order.
//!
//! With more than one format thread, the drain loop does not format records as it reads them:
//! it keeps each record's header and argument bytes (a copy out of the reader's buffer) and its
//! resolved callsite in a [`Deferred`] batch, and encodes its own notices (losses, drops) in
//! place, in order. The batch is cut into *pieces* of [`PIECE`] records; each full piece goes
//! at once to a pool of `N - 1` worker threads (kept for the drain's life), which format it
//! while the drain thread reads the next one. When the batch is complete,
//! [`Deferred::format_into`] formats the last, partial piece on the drain thread, helps with
//! any piece no worker has taken yet, and appends every piece's bytes to the output's batch
//! buffer in order. The bytes are the same as formatting the items one by one on the drain
//! thread (an encoder's output depends only on the view it is given), and nothing is written,
//! checkpointed or released before the whole batch is formatted, so the checkpoint, the write
//! and the release are unchanged: the checkpoint still covers exactly the bytes written.
//!
//! So on 2 cores with producers that mostly wait for the drain, `--format-threads 2` overlaps
//! reading (and writing) with formatting, where the earlier design read the whole batch, then
//! formatted it split in two, then wrote it.
//!
//! Used only where it is simple and pays: one ring (no merge), one text, JSON or logfmt
//! output, no `--level`/`--limit` gate. Everything else formats on the drain thread, as does
//! a batch of fewer than [`PIECE`] records (nothing is handed to a worker then).

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};

use ringlog_segment::reader::CallsiteInfo;
use ringlog_wire::clock::Calibration;
use ringlog_wire::decode::RecordRef;
use ringlog_wire::record::RecordHeader;
use ringlog_wire::view::{ArgBuf, RecordView};

use crate::encode::{Encoder, Item};
use crate::format::{LineEncoder, LineFormat};

/// Records in a piece: the unit handed to a worker (and the fewest records in a batch before
/// any formatting leaves the drain thread).
pub const PIECE: usize = 1024;

/// Most format threads.
pub const MAX_FORMAT_THREADS: usize = 64;

/// `auto`: one thread per core the drain thread leaves free, at most 4, at least 1 (the
/// workers also do the write-behind's writes, behind.rs; with one thread the write-behind has
/// a thread of its own).
pub fn auto_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cores.saturating_sub(1).clamp(1, 4)
}

/// A record's callsite as the reader resolved it, owned for the piece.
type Resolved = Result<Option<Arc<CallsiteInfo>>, String>;

/// One item of a piece, in read order.
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

/// A run of a batch's items with everything needed to format them on any thread.
#[derive(Debug, Default)]
struct Piece {
    items: Vec<Pending>,
    records: usize,
    wire: Vec<u8>,
    notices: Vec<u8>,
    callsites: Vec<Resolved>,
    by_id: HashMap<u32, usize, BuildHasherDefault<IdHasher>>,
    /// The last key looked up and its index (a run of one callsite: no hash at all).
    last: Option<(u32, usize)>,
}

/// A hasher for callsite ids (small integers from the ring, at most a few thousand per piece):
/// one multiplication, where SipHash cost more than the rest of keeping the record.
#[derive(Default)]
struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

impl Piece {
    fn clear(&mut self) {
        self.items.clear();
        self.records = 0;
        self.wire.clear();
        self.notices.clear();
        self.callsites.clear();
        self.by_id.clear();
        self.last = None;
    }

    /// Formats every item onto the end of `out`.
    fn format(&self, enc: &mut LineEncoder, out: &mut Vec<u8>, clock: &Calibration, source: u32) {
        let ctx = Ctx {
            wire: &self.wire,
            notices: &self.notices,
            callsites: &self.callsites,
            clock,
            source,
        };
        for item in &self.items {
            ctx.format(enc, out, item);
        }
    }
}

/// A piece handed to the pool: its place in the batch, and the buffer to format it into.
pub struct Job {
    seq: usize,
    piece: Piece,
    out: Vec<u8>,
    clock: Calibration,
    source: u32,
}

/// What the pool's threads take off their queue: a piece to format, or other work handed to
/// them (the write-behind's write, so that on 2 cores the drain thread and one worker share
/// formatting and writing instead of three threads taking turns).
pub enum Task {
    /// Format a piece (boxed: a piece is a thousand records, a task a pointer).
    Format(Box<Job>),
    /// Run this.
    Run(Box<dyn FnOnce() + Send>),
}

/// A formatted piece coming back (the piece, emptied, for reuse), or the panic of the worker
/// that formatted it.
type Done = (usize, std::thread::Result<(Piece, Vec<u8>)>);

/// The worker threads and their two queues. Dropping it closes the job queue and joins them.
struct Pool {
    jobs: Option<Sender<Task>>,
    /// The job queue's receiving end, shared by the workers and the drain thread (which takes
    /// jobs no worker has started when it is done reading: [`Deferred::format_into`]).
    queue: Arc<Mutex<Receiver<Task>>>,
    done: Receiver<Done>,
    handles: Vec<std::thread::JoinHandle<()>>,
}

impl Pool {
    fn new(format: LineFormat, workers: usize) -> std::io::Result<Pool> {
        let (jobs, queue) = mpsc::channel::<Task>();
        let queue = Arc::new(Mutex::new(queue));
        let (done_tx, done) = mpsc::channel::<Done>();
        let mut handles = Vec::with_capacity(workers);
        for k in 0..workers {
            let (queue, done_tx) = (queue.clone(), done_tx.clone());
            handles.push(
                std::thread::Builder::new()
                    .name(format!("ringdrain-fmt-{k}"))
                    .spawn(move || {
                        let mut enc = LineEncoder::new(format);
                        loop {
                            // The lock is held only to take a job off the queue.
                            let job = match queue.lock() {
                                Ok(q) => q.recv(),
                                Err(_) => return,
                            };
                            let job = match job {
                                Ok(Task::Format(job)) => *job,
                                Ok(Task::Run(f)) => {
                                    f();
                                    continue;
                                }
                                Err(_) => return,
                            };
                            let seq = job.seq;
                            if done_tx.send((seq, run_job(&mut enc, job))).is_err() {
                                return;
                            }
                        }
                    })?,
            );
        }
        Ok(Pool {
            jobs: Some(jobs),
            queue,
            done,
            handles,
        })
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Closing the job queue ends every worker's loop.
        self.jobs.take();
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("workers", &self.handles.len())
            .finish()
    }
}

/// Formats a job's piece (a panic, which no encoder should raise on any bytes, is caught and
/// handed back to the drain thread, so it neither waits for ever nor loses it).
fn run_job(enc: &mut LineEncoder, job: Job) -> std::thread::Result<(Piece, Vec<u8>)> {
    let Job {
        piece,
        mut out,
        clock,
        source,
        ..
    } = job;
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        out.clear();
        piece.format(enc, &mut out, &clock, source);
        (piece, out)
    }))
}

/// The calibration of a batch without records: only its notices (encoded already) are
/// formatted, which read no clock.
fn no_records_clock() -> Calibration {
    Calibration::new(
        ringlog_wire::clock::ClockKind::Realtime,
        0,
        0,
        1_000_000_000,
    )
}

/// A batch whose records are formatted on worker threads as it is read (see the module docs).
#[derive(Debug)]
pub struct Deferred {
    /// The piece being filled.
    piece: Piece,
    /// Bytes the batch's pieces so far hold (for the batch size estimate).
    held: usize,
    /// Formatted bytes of the pieces handed to the pool in this batch, by number (from 0), as
    /// they come back: its length is the number handed out.
    formatted: Vec<Option<Vec<u8>>>,
    /// Emptied pieces and buffers, for reuse.
    spare_pieces: Vec<Piece>,
    spare_bufs: Vec<Vec<u8>>,
    /// The batch's clock and ring (every record of a batch comes from one ring, read under one
    /// calibration).
    clock: Option<Calibration>,
    source: u32,
    /// The drain thread's own encoder (the last piece, and pieces it takes off the queue).
    local: LineEncoder,
    /// `None` with one format thread, or if the workers could not be started.
    pool: Option<Pool>,
    /// Owned copies of the reader's callsites, kept across pieces and batches.
    owned: OwnedCallsites,
}

/// Owned copies of the reader's callsites for the pieces: one copy per callsite for the
/// drain's life, so its render plans (kept with the copy, [`CallsiteInfo::cached`]) are
/// compiled once, not once per piece. Keyed by id and by the address of the reader's own
/// copy: the reader's cache stays the authority (a callsite it resolved anew is copied anew).
#[derive(Debug, Default)]
struct OwnedCallsites(HashMap<u32, (usize, Arc<CallsiteInfo>), BuildHasherDefault<IdHasher>>);

impl OwnedCallsites {
    /// Most copies kept; past it the map starts over (a stream of ever new ids).
    const CAP: usize = 1 << 16;

    fn get(&mut self, c: &CallsiteInfo) -> Arc<CallsiteInfo> {
        let at = c as *const CallsiteInfo as usize;
        if let Some((a, owned)) = self.0.get(&c.id) {
            if *a == at {
                return Arc::clone(owned);
            }
        }
        if self.0.len() >= Self::CAP {
            self.0.clear();
        }
        let owned = Arc::new(c.clone());
        self.0.insert(c.id, (at, Arc::clone(&owned)));
        owned
    }
}

impl Deferred {
    /// A deferred batch formatting `format` lines on `threads` threads (the drain thread and
    /// `threads - 1` workers; 2 or more to be of use).
    pub fn new(format: LineFormat, threads: usize) -> Deferred {
        let workers = threads.clamp(1, MAX_FORMAT_THREADS) - 1;
        let pool = if workers == 0 {
            None
        } else {
            match Pool::new(format, workers) {
                Ok(p) => Some(p),
                Err(e) => {
                    eprintln!(
                        "ringdrain: cannot start format threads ({e}); formatting on the drain thread"
                    );
                    None
                }
            }
        };
        Deferred {
            piece: Piece::default(),
            held: 0,
            formatted: Vec::new(),
            spare_pieces: Vec::new(),
            spare_bufs: Vec::new(),
            clock: None,
            source: 0,
            local: LineEncoder::new(format),
            pool,
            owned: OwnedCallsites::default(),
        }
    }

    /// Empties the batch (a piece's callsites are looked up again per piece, in the copies
    /// of the reader's callsites: `OwnedCallsites`).
    pub fn clear(&mut self) {
        debug_assert!(
            self.formatted.iter().all(Option::is_none),
            "a batch was not written"
        );
        self.piece.clear();
        self.held = 0;
        self.formatted.clear();
        self.clock = None;
    }

    /// A handle that hands work to the pool's threads (`None` without workers).
    pub fn runner(&self) -> Option<Sender<Task>> {
        self.pool.as_ref()?.jobs.clone()
    }

    /// Whether nothing was added since [`Deferred::clear`].
    pub fn is_empty(&self) -> bool {
        self.formatted.is_empty() && self.piece.items.is_empty()
    }

    /// An estimate of the batch's encoded bytes (lines are about twice the wire form), for
    /// the drain's batch size limit.
    pub fn estimated_len(&self) -> usize {
        self.held + self.piece.wire.len() * 2 + self.piece.records * 48 + self.piece.notices.len()
    }

    /// Keeps a record read from the ring under `clock` from ring `source`, to format with the
    /// batch; hands the piece to a worker when it is full.
    pub fn record(
        &mut self,
        record: &RecordRef<'_>,
        callsite: Result<Option<&CallsiteInfo>, &str>,
        clock: &Calibration,
        source: u32,
    ) {
        if self.clock.is_none() {
            self.clock = Some(*clock);
            self.source = source;
        }
        debug_assert_eq!(self.clock, Some(*clock), "one calibration per batch");
        let piece = &mut self.piece;
        let key = match callsite {
            Ok(_) => record.header.callsite,
            // Unresolved ids keep their reason; keyed apart from resolved ones.
            Err(_) => record.header.callsite | 1 << 31,
        };
        let cs = match piece.last {
            Some((k, i)) if k == key && key & (1 << 31) == 0 => i,
            _ => {
                let i = match piece.by_id.get(&key) {
                    Some(&i) if key & (1 << 31) == 0 => i,
                    _ => {
                        let resolved = match callsite {
                            Ok(c) => Ok(c.map(|c| self.owned.get(c))),
                            Err(why) => Err(why.to_string()),
                        };
                        piece.callsites.push(resolved);
                        let i = piece.callsites.len() - 1;
                        piece.by_id.insert(key, i);
                        i
                    }
                };
                piece.last = Some((key, i));
                i
            }
        };
        let start = piece.wire.len();
        piece.wire.extend_from_slice(record.payload);
        piece.items.push(Pending::Record {
            header: record.header,
            start,
            end: piece.wire.len(),
            cs,
        });
        piece.records += 1;
        if piece.records >= PIECE && self.pool.is_some() {
            self.send_piece();
        }
    }

    /// Encodes a notice (or any view without wire form) now, in its place in the batch.
    pub fn notice(&mut self, encoder: &mut dyn Encoder, view: &RecordView<'_>) {
        let piece = &mut self.piece;
        let start = piece.notices.len();
        encoder.encode(&mut piece.notices, &Item::view(view));
        piece.items.push(Pending::Encoded {
            start,
            end: piece.notices.len(),
        });
    }

    /// Hands the current piece to the pool and starts a new one.
    fn send_piece(&mut self) {
        let Some(pool) = &self.pool else { return };
        let Some(jobs) = &pool.jobs else { return };
        let next = self.spare_pieces.pop().unwrap_or_default();
        let piece = std::mem::replace(&mut self.piece, next);
        self.held += piece.wire.len() * 2 + piece.records * 48 + piece.notices.len();
        let job = Job {
            seq: self.formatted.len(),
            piece,
            out: self.spare_bufs.pop().unwrap_or_default(),
            clock: self.clock.unwrap_or_else(no_records_clock),
            source: self.source,
        };
        self.formatted.push(None);
        if let Err(mpsc::SendError(Task::Format(job))) = jobs.send(Task::Format(Box::new(job))) {
            // No worker left to take it (they only stop when the pool is dropped): format it
            // here.
            let seq = job.seq;
            let r = run_job(&mut self.local, *job);
            self.finished(seq, r);
        }
    }

    /// Takes a formatted piece back.
    fn finished(&mut self, seq: usize, result: std::thread::Result<(Piece, Vec<u8>)>) {
        match result {
            Ok((mut piece, out)) => {
                piece.clear();
                self.spare_pieces.push(piece);
                self.formatted[seq] = Some(out);
            }
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    /// Formats the batch, in order, onto the end of `out`: the pieces the workers formatted,
    /// any piece still queued (formatted here), and the last piece (here). Returns whether any
    /// piece of the batch was handed to the pool. An error if the workers are gone with pieces
    /// of the batch (they stop only when the pool is dropped, so this is a bug): the drain then
    /// stops without writing or releasing the batch, which stays in the ring.
    pub fn format_into(&mut self, out: &mut Vec<u8>) -> anyhow::Result<bool> {
        let clock = self.clock.unwrap_or_else(no_records_clock);
        let source = self.source;
        let split = !self.formatted.is_empty();
        if split {
            // Help: format the pieces no worker has taken yet. `try_lock`: a worker waiting for
            // a job holds the lock inside `recv`, which it does only while the queue is empty
            // (any job would wake it), so a lock we cannot take means nothing to help with.
            loop {
                let job = match &self.pool {
                    Some(pool) => match pool.queue.try_lock() {
                        Ok(q) => q.try_recv().ok(),
                        Err(_) => None,
                    },
                    None => None,
                };
                let job = match job {
                    Some(Task::Format(job)) => *job,
                    // Other work handed to the pool (a write behind): do it here too.
                    Some(Task::Run(f)) => {
                        f();
                        continue;
                    }
                    None => break,
                };
                let seq = job.seq;
                let r = run_job(&mut self.local, job);
                self.finished(seq, r);
            }
            // Wait for the pieces being formatted.
            while self.formatted.iter().any(Option::is_none) {
                let done = match &self.pool {
                    Some(pool) => pool.done.recv().ok(),
                    None => None,
                };
                let Some((seq, r)) = done else {
                    anyhow::bail!(
                        "the format threads stopped with part of a batch; it stays in the ring"
                    );
                };
                self.finished(seq, r);
            }
            for bytes in &mut self.formatted {
                if let Some(b) = bytes.take() {
                    out.extend_from_slice(&b);
                    self.spare_bufs.push(b);
                }
            }
        }
        self.piece.format(&mut self.local, out, &clock, source);
        self.piece.clear();
        Ok(split)
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
                // Decoded in place (a buffer returned by value is a half-kilobyte copy).
                let mut args = ArgBuf::new();
                args.decode_from(&record);
                let view = RecordView::new(&record, callsite, &args, self.clock);
                enc.encode(out, &Item::wire(&view, &record, self.source));
            }
            Pending::Encoded { start, end } => out.extend_from_slice(&self.notices[start..end]),
        }
    }
}
