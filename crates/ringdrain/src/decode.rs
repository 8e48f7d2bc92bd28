//! `ringdrain decode FILE...`: renders binary archives ([`crate::archive`]) as text, JSON or
//! logfmt lines on standard output, with the drain's own encoders, so the text is byte for
//! byte what `--format text` would have written.
//!
//! Damage is skipped, never fatal: a chunk whose checksum fails is skipped up to the next
//! whole chunk, and the bytes after the last whole chunk (a file cut short, or still being
//! written) are left; each is reported on stderr with its offset. The exit status is 65
//! (`EX_DATAERR`) if anything was skipped as damaged, else 0. `--follow` keeps reading the
//! last file as the drain appends to it, and moves on to the new file when it is rotated.
//!
//! `--format-threads N` (default one per core, at most 8) decodes runs of whole chunks on N
//! workers while this thread writes their lines in file order (`Followed::decode_parallel`):
//! the same bytes, reports and exit status as one thread.
//!
//! A FILE of `-` is standard input, read to its end. `--level`, `--target`, `--since` and
//! `--until` choose which entries are printed ([`Filter`], wrapped around the encoder so every
//! path prints the same); every entry is still counted, and a chunk with no entry in the span
//! of time is passed over after its checksums ([`crate::archive::decode_chunk`]).

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use crate::archive::{Decoder, Span, Step};
use crate::encode::{Encoder, Item};
use crate::exit::Sysexit;
use crate::format::{Format, LineFormat};

/// What `ringdrain decode` was asked.
#[derive(Debug, Clone)]
pub struct DecodeOptions {
    /// Archives, decoded in order.
    pub files: Vec<PathBuf>,
    /// Line format.
    pub format: LineFormat,
    /// Keep reading the last file as it grows (and across its rotation) until interrupted.
    pub follow: bool,
    /// Threads that decode chunks, this one included (1: all on this thread).
    pub threads: usize,
    /// Which records are printed (all by default).
    pub filter: Filter,
}

/// Which records `decode` prints (and `ringdrain cat`, which has no time span): at a level or
/// more severe, from a target starting with a prefix, in a span of time. The rest are counted
/// but not printed (decoded, unless their whole chunk is outside the span).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only records at this level or more severe.
    pub level: Option<ringlog_wire::record::Level>,
    /// Only records whose target starts with this.
    pub target: Option<String>,
    /// Only records stamped at or after this.
    pub since: Option<Time>,
    /// Only records stamped before this.
    pub until: Option<Time>,
}

/// A point in time for `--since` and `--until`, as Unix nanoseconds: an RFC 3339 time
/// (`2026-12-01T14:00:00Z`, `2026-12-01T15:00:00+01:00`, or a timestamp copied from a text
/// line), or how long before now (`10m`, `1h30m`, `2 days`, `90s ago`: jiff's span formats,
/// friendly or ISO 8601, a day as 24 hours; the sign is ignored), read when the command line
/// is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Time(pub i64);

impl std::str::FromStr for Time {
    type Err = String;

    fn from_str(s: &str) -> Result<Time, String> {
        let t = match s.parse::<jiff::Timestamp>() {
            Ok(t) => t,
            Err(e) => {
                // Days (and weeks) as 24 hours: "2 days" means 48 hours back.
                let ago = s
                    .parse::<jiff::Span>()
                    .ok()
                    .and_then(|span| {
                        span.to_duration(jiff::SpanRelativeTo::days_are_24_hours())
                            .ok()
                    })
                    .ok_or_else(|| {
                        format!(
                            "{e} (expected an RFC 3339 time such as 2026-12-01T14:00:00Z, or how long ago: 10m, 1h30m, 2 days)"
                        )
                    })?;
                jiff::Timestamp::now()
                    .checked_sub(ago.abs())
                    .map_err(|_| format!("{s} ago is before the year -9999"))?
            }
        };
        i64::try_from(t.as_nanosecond())
            .map(Time)
            .map_err(|_| format!("{s} is outside the years 1678-2262"))
    }
}

impl Filter {
    /// The span of time asked for (chunks with nothing in it are not decoded).
    pub fn span(&self) -> Span {
        Span {
            since: self.since.map(|t| t.0),
            until: self.until.map(|t| t.0),
        }
    }

    /// Whether `view` is printed.
    fn keeps(&self, view: &ringlog_wire::view::RecordView<'_>) -> bool {
        self.since.is_none_or(|t| view.unix_ns >= t.0)
            && self.until.is_none_or(|t| view.unix_ns < t.0)
            && self.keeps_origin(Some(view.level), Some(view.target()))
    }

    /// Whether a record at `level` (`None`: not known) from `target` (`None`: no callsite)
    /// passes the level and target filters, whatever its time.
    pub fn keeps_origin(
        &self,
        level: Option<ringlog_wire::record::Level>,
        target: Option<&str>,
    ) -> bool {
        self.level.is_none_or(|max| level.is_none_or(|l| l <= max))
            && self
                .target
                .as_deref()
                .is_none_or(|prefix| target.is_some_and(|t| t.starts_with(prefix)))
    }

    /// The encoder for `format`, printing only what this filter keeps.
    fn encoder(&self, format: Format) -> Box<dyn Encoder> {
        let inner = crate::encode::encoder(format);
        if *self == Filter::default() {
            return inner;
        }
        Box::new(Filtered {
            inner,
            filter: self.clone(),
        })
    }
}

/// An encoder that encodes only the items its filter keeps.
#[derive(Debug)]
struct Filtered {
    inner: Box<dyn Encoder>,
    filter: Filter,
}

impl Encoder for Filtered {
    fn encode(&mut self, out: &mut Vec<u8>, item: &Item<'_>) {
        if self.filter.keeps(item.view) {
            self.inner.encode(out, item);
        }
    }

    fn seal(&mut self, out: &mut Vec<u8>, start: usize) {
        self.inner.seal(out, start)
    }

    fn needs_args(&self) -> bool {
        self.inner.needs_args()
    }
}

/// `--format-threads auto` for `decode`: one per core, at most 8 (nothing else runs beside
/// it, unlike the drain's format threads, which leave the drain thread its core).
pub fn auto_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8)
}

/// Bytes read from a file at a time.
const READ: usize = 8 << 20;
/// Output buffered before a write to stdout.
const FLUSH: usize = 1 << 20;

/// What decoding found, for the summary and the exit status.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// Entries decoded.
    pub entries: u64,
    /// Chunks decoded.
    pub chunks: u64,
    /// Damaged regions skipped (bad checksum, not a chunk, a chunk whose entries did not
    /// decode).
    pub damaged: u64,
    /// Bytes skipped as damaged.
    pub damaged_bytes: u64,
    /// Bytes left over after the last whole chunk of a file.
    pub incomplete_bytes: u64,
}

/// Runs `ringdrain decode`.
pub fn run(opts: &DecodeOptions) -> anyhow::Result<ExitCode> {
    if opts.files.is_empty() {
        return Err(Sysexit::Config.msg("decode needs at least one FILE"));
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    if opts.follow {
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            signal_hook::flag::register(sig, stop.clone())?;
        }
    }
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let res = decode_to(opts, &mut out, &mut io::stderr(), &stop);
    match res {
        Ok(r) if r.damaged > 0 => Ok(ExitCode::from(Sysexit::DataErr.code())),
        Ok(_) => Ok(ExitCode::SUCCESS),
        Err(e) if is_broken_pipe(&e) => Ok(ExitCode::SUCCESS),
        Err(e) => Err(e),
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.downcast_ref::<io::Error>()
        .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
}

/// Decodes `opts.files` to `out`, reporting damage to `err`; `stop` ends `--follow`.
pub fn decode_to(
    opts: &DecodeOptions,
    out: &mut dyn Write,
    err: &mut dyn Write,
    stop: &std::sync::atomic::AtomicBool,
) -> anyhow::Result<Report> {
    let mut enc = opts.filter.encoder(opts.format.into());
    let mut report = Report::default();
    let mut text = Vec::with_capacity(FLUSH + (64 << 10));
    for (i, path) in opts.files.iter().enumerate() {
        // `-` is standard input (`zstdcat`, `ssh host cat`, a pipe): read to its end, never
        // followed (a pipe has no file to grow or rotate; `tail -f -` ignores -f alike).
        let stdin = path.as_os_str() == "-";
        let follow = opts.follow && i + 1 == opts.files.len() && !stdin;
        let file = if stdin {
            Input::Stdin(io::stdin())
        } else {
            Input::File(File::open(path).map_err(|e| {
                Sysexit::IoErr.wrap(anyhow::anyhow!("cannot open {}: {e}", path.display()))
            })?)
        };
        let mut f = Followed {
            path,
            file,
            buf: Vec::new(),
            pos: 0,
            eof: false,
            decoder: Decoder {
                base: 0,
                span: opts.filter.span(),
            },
        };
        loop {
            let got = if opts.threads > 1 {
                f.decode_parallel(
                    (opts.format.into(), &opts.filter),
                    opts.threads,
                    &mut *enc,
                    &mut text,
                    out,
                    &mut report,
                    err,
                )?
            } else {
                f.decode_some(&mut *enc, &mut text, &mut report, err)?
            };
            if text.len() >= FLUSH {
                out.write_all(&text)?;
                text.clear();
            }
            if got {
                continue;
            }
            // Nothing decodable left in the buffer.
            if !f.eof {
                f.fill()?;
                continue;
            }
            if !follow {
                f.report_tail(&mut report, err)?;
                break;
            }
            out.write_all(&text)?;
            out.flush()?;
            text.clear();
            // SYNC: Relaxed; a flag from a signal handler.
            if stop.load(std::sync::atomic::Ordering::Relaxed) {
                f.report_tail(&mut report, err)?;
                break;
            }
            if f.rotated()? {
                // The drain moved the file aside: finish it, then follow the new one.
                loop {
                    f.fill()?;
                    while f.decode_some(&mut *enc, &mut text, &mut report, err)? {}
                    if f.eof {
                        break;
                    }
                }
                f.report_tail(&mut report, err)?;
                match File::open(path) {
                    Ok(file) => {
                        f.file = Input::File(file);
                        f.buf.clear();
                        f.pos = 0;
                        f.eof = false;
                        f.decoder = Decoder {
                            base: 0,
                            span: opts.filter.span(),
                        };
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(100)),
                }
                continue;
            }
            std::thread::sleep(Duration::from_millis(50));
            f.eof = false;
        }
    }
    out.write_all(&text)?;
    out.flush()?;
    Ok(report)
}

/// Where an archive is read from.
enum Input {
    /// A file (followed with `--follow`).
    File(File),
    /// Standard input (`-`).
    Stdin(io::Stdin),
}

impl Read for Input {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Input::File(f) => f.read(buf),
            Input::Stdin(s) => s.read(buf),
        }
    }
}

/// One archive being read.
struct Followed<'p> {
    path: &'p Path,
    file: Input,
    /// Bytes read and not yet decoded start at `pos`.
    buf: Vec<u8>,
    pos: usize,
    /// The last read returned nothing.
    eof: bool,
    decoder: Decoder,
}

impl Followed<'_> {
    /// Reads more of the file after what is buffered.
    fn fill(&mut self) -> anyhow::Result<()> {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let have = self.buf.len();
        // Read into spare capacity (`read_to_end` does not zero it first, as a `resize` to
        // READ more bytes per read did: a memset of 8 MiB per fill), at most READ bytes.
        self.buf.reserve(READ);
        let n = match (&mut self.file)
            .take(READ as u64)
            .read_to_end(&mut self.buf)
        {
            Ok(n) => n,
            Err(e) => {
                self.buf.truncate(have);
                return Err(Sysexit::IoErr
                    .wrap(anyhow::anyhow!("cannot read {}: {e}", self.path.display())));
            }
        };
        self.eof = n == 0;
        Ok(())
    }

    /// Decodes one step from the buffer; false if it needs more bytes.
    fn decode_some(
        &mut self,
        enc: &mut dyn Encoder,
        text: &mut Vec<u8>,
        report: &mut Report,
        err: &mut dyn Write,
    ) -> anyhow::Result<bool> {
        let at = self.decoder.base;
        let (step, used) = self.decoder.next(&self.buf[self.pos..], |view| {
            enc.encode(text, &Item::view(view))
        });
        self.pos += used;
        report_step(self.path, at, step, report, err)
    }

    /// Decodes the run of whole chunks at the front of the buffer on `threads` worker threads
    /// (each with its own encoder: an encoder's output depends only on the entries, so the
    /// bytes are those one thread writes) while this thread writes each chunk's lines to `out`
    /// in file order (after what `text` holds), then the step after the run as
    /// [`decode_some`](Self::decode_some) decodes it (damage, or the end of what is buffered).
    /// Chunks are framed (header and length) here, in order; the workers check each one's
    /// payload checksum before they decode it. A chunk whose checksum fails or that does not
    /// decompress ends the run: it and what follows it are decoded again, one step at a time,
    /// as `decode_some` would have (skipping it as damaged, then resynchronising), so damage
    /// reads the same with any thread count. False if nothing was decodable (more bytes
    /// needed).
    #[allow(clippy::too_many_arguments)]
    fn decode_parallel(
        &mut self,
        (format, filter): (Format, &Filter),
        threads: usize,
        enc: &mut dyn Encoder,
        text: &mut Vec<u8>,
        out: &mut dyn Write,
        report: &mut Report,
        err: &mut dyn Write,
    ) -> anyhow::Result<bool> {
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        use std::sync::{mpsc, Condvar, Mutex};
        // The run: (header, start in buf, length) of each whole chunk whose header holds.
        let mut chunks = Vec::new();
        let mut at = self.pos;
        while let Ok((h, _, used)) = crate::archive::frame_chunk(&self.buf[at..]) {
            chunks.push((h, at, used));
            at += used;
        }
        // Jobs: runs of chunks, about sixteen per thread, of at least MIN_JOB bytes (a drain at a
        // low rate writes small chunks; one job each would cost more in hand-offs than decoding
        // them here).
        let total: usize = chunks.iter().map(|c| c.2).sum();
        let job = (total / (threads * 16)).max(MIN_JOB);
        let mut jobs: Vec<std::ops::Range<usize>> = Vec::new();
        let mut bytes = 0;
        for (i, c) in chunks.iter().enumerate() {
            match jobs.last_mut() {
                Some(j) if bytes < job => j.end = i + 1,
                _ => {
                    jobs.push(i..i + 1);
                    bytes = 0;
                }
            }
            bytes += c.2;
        }
        if jobs.len() < 2 {
            // One job, nothing to share: the run here, a step at a time (all of it, so a
            // buffer of small chunks is not checked again for each one), or the damage or
            // end after it.
            let mut got = false;
            for _ in 0..chunks.len().max(1) {
                if !self.decode_some(enc, text, report, err)? {
                    break;
                }
                got = true;
            }
            return Ok(got);
        }
        out.write_all(text)?;
        text.clear();
        let buf = &self.buf[..];
        let next = AtomicUsize::new(0);
        // Set when the workers should take no more jobs (a chunk did not decompress, or the
        // output failed).
        let stop = AtomicBool::new(false);
        // Line buffers written out, for the workers to fill again.
        let spare: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
        // The jobs written so far: a worker takes a job at most `ahead` past them, so the
        // lines waiting for their turn stay a few jobs' worth (a zstd archive's buffer
        // decompresses to many times its size) while this thread writes.
        let written_jobs = (Mutex::new(0usize), Condvar::new());
        let ahead = 2 * threads;
        let (tx, rx) = mpsc::channel::<(usize, Decoded)>();
        let mut done: Vec<Option<Decoded>> = Vec::new();
        done.resize_with(jobs.len(), || None);
        let mut redo = false;
        let (path, base, mut consumed) = (self.path, self.decoder.base, 0);
        let written = std::thread::scope(|s| -> anyhow::Result<()> {
            for _ in 0..threads.min(jobs.len()) {
                let (tx, jobs, chunks) = (tx.clone(), &jobs, &chunks);
                let (next, stop, spare, written_jobs) = (&next, &stop, &spare, &written_jobs);
                s.spawn(move || {
                    let mut enc = filter.encoder(format);
                    // SYNC: Relaxed (both): a work counter and a hint to stop early; the
                    // results travel through the channel, which orders them.
                    while !stop.load(Ordering::Relaxed) {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(job) = jobs.get(i) else {
                            break;
                        };
                        let (lock, turn) = written_jobs;
                        let mut w = lock.lock().unwrap_or_else(|p| p.into_inner());
                        while i >= *w + ahead && !stop.load(Ordering::Relaxed) {
                            w = turn.wait(w).unwrap_or_else(|p| p.into_inner());
                        }
                        drop(w);
                        let lines = spare
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .pop()
                            .unwrap_or_default();
                        let d =
                            decode_job(&mut *enc, filter.span(), buf, &chunks[job.clone()], lines);
                        if d.failed() {
                            stop.store(true, Ordering::Relaxed);
                        }
                        if tx.send((i, d)).is_err() {
                            break;
                        }
                    }
                });
            }
            drop(tx);
            let mut want = 0;
            let res = (|| -> anyhow::Result<()> {
                for (i, d) in &rx {
                    done[i] = Some(d);
                    while let Some(Decoded { mut lines, steps }) =
                        done.get_mut(want).and_then(Option::take)
                    {
                        let mut from = 0;
                        for ((step, end), c) in steps.into_iter().zip(&chunks[jobs[want].clone()]) {
                            let Ok(step) = step else {
                                // Does not decompress: from here on, one step at a time.
                                out.write_all(&lines[..from])?;
                                redo = true;
                                return Ok(());
                            };
                            report_step(path, base + consumed as u64, step, report, err)?;
                            consumed += c.2;
                            from = end;
                        }
                        out.write_all(&lines[..from])?;
                        lines.clear();
                        spare.lock().unwrap_or_else(|p| p.into_inner()).push(lines);
                        want += 1;
                        *written_jobs.0.lock().unwrap_or_else(|p| p.into_inner()) = want;
                        written_jobs.1.notify_all();
                    }
                }
                Ok(())
            })();
            // SYNC: Relaxed; see the workers (and the notify below, under the lock a waiting
            // worker holds when it checks, so none misses it).
            stop.store(true, Ordering::Relaxed);
            drop(written_jobs.0.lock().unwrap_or_else(|p| p.into_inner()));
            written_jobs.1.notify_all();
            // The workers stop at their next job (or at a send to the closed channel).
            drop(rx);
            res
        });
        self.decoder.base += consumed as u64;
        self.pos += consumed;
        written?;
        if redo {
            return self.decode_some(enc, text, report, err);
        }
        Ok(true)
    }

    /// Reports bytes left after the last whole chunk.
    fn report_tail(&mut self, report: &mut Report, err: &mut dyn Write) -> anyhow::Result<()> {
        let left = (self.buf.len() - self.pos) as u64;
        if left > 0 {
            report.incomplete_bytes += left;
            report.damaged += 1;
            report.damaged_bytes += left;
            // A pipe is read to its end and never followed: what ended it is the writer.
            let why = match self.file {
                Input::File(_) => "the file was cut short or is still being written",
                Input::Stdin(_) => "the input ended inside it",
            };
            writeln!(
                err,
                "ringdrain: decode: {}: skipped {left} bytes at offset {}: an incomplete chunk ({why})",
                self.path.display(),
                self.decoder.base
            )?;
            self.pos = self.buf.len();
        }
        Ok(())
    }

    /// Whether the path now names another file than the one open.
    fn rotated(&self) -> io::Result<bool> {
        let Input::File(file) = &self.file else {
            return Ok(false);
        };
        let open = file.metadata()?;
        Ok(match std::fs::metadata(self.path) {
            Ok(now) => now.dev() != open.dev() || now.ino() != open.ino(),
            Err(_) => false,
        })
    }
}

/// Fewest bytes of chunks a `decode --format-threads` worker takes at a time (unless one
/// chunk is more).
const MIN_JOB: usize = 16 << 10;

/// A job's chunks decoded: their lines, and per chunk its step (or why its checksum fails or
/// it does not decompress: the job stops there) and where its lines end.
struct Decoded {
    lines: Vec<u8>,
    steps: Vec<(Result<Step, String>, usize)>,
}

impl Decoded {
    fn failed(&self) -> bool {
        self.steps.last().is_some_and(|s| s.0.is_err())
    }
}

/// Checks and decodes `chunks` (header, start in `buf`, length) with `enc` into `lines`, in
/// order, passing over those with nothing in `span`, stopping after one whose checksum fails
/// or that does not decompress.
fn decode_job(
    enc: &mut dyn Encoder,
    span: Span,
    buf: &[u8],
    chunks: &[(crate::archive::ChunkHeader, usize, usize)],
    mut lines: Vec<u8>,
) -> Decoded {
    let mut steps = Vec::with_capacity(chunks.len());
    for (h, start, used) in chunks {
        let stored = &buf[start + crate::archive::HEADER_LEN..start + used];
        let step = if crate::archive::intact(h, stored) {
            crate::archive::decode_chunk(h, stored, span, |view| {
                enc.encode(&mut lines, &Item::view(view))
            })
        } else {
            Err("chunk checksum mismatch".into())
        };
        let failed = step.is_err();
        steps.push((step, lines.len()));
        if failed {
            break;
        }
    }
    Decoded { lines, steps }
}

/// Counts `step` (of the chunk or damage at file offset `at`) in `report` and says what
/// was damaged on `err`; false for [`Step::Incomplete`] (more bytes are needed).
fn report_step(
    path: &Path,
    at: u64,
    step: Step,
    report: &mut Report,
    err: &mut dyn Write,
) -> anyhow::Result<bool> {
    match step {
        Step::Chunk { entries, damaged } => {
            report.chunks += 1;
            report.entries += entries;
            if let Some(why) = damaged {
                report.damaged += 1;
                writeln!(
                    err,
                    "ringdrain: decode: {}: chunk at offset {at}: {why}; its entries after the first {entries} were skipped",
                    path.display()
                )?;
            }
            Ok(true)
        }
        Step::Skipped {
            offset,
            bytes,
            reason,
        } => {
            report.damaged += 1;
            report.damaged_bytes += bytes;
            writeln!(
                err,
                "ringdrain: decode: {}: skipped {bytes} damaged bytes at offset {offset}: {reason}",
                path.display()
            )?;
            Ok(true)
        }
        Step::Incomplete { .. } => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::{ArchiveEncoder, ChunkHeader, Compression, HEADER_LEN};
    use proptest::prelude::*;
    use ringlog_wire::args::Arg;
    use ringlog_wire::record::Level;
    use ringlog_wire::view::RecordView;

    /// An archive of one chunk per entry of `sizes` (that many notices each), and where each
    /// chunk starts.
    fn archive(sizes: &[u16], zstd: bool) -> (Vec<u8>, Vec<usize>) {
        let mut enc = ArchiveEncoder::new(if zstd {
            Compression::Zstd(1)
        } else {
            Compression::None
        });
        let (mut out, mut starts, mut n) = (Vec::new(), Vec::new(), 0u64);
        let names = ["n", "s"];
        for &k in sizes {
            let start = out.len();
            starts.push(start);
            for _ in 0..k {
                let s = format!("value {n} \"quoted\"");
                let args = [Arg::U64(n), Arg::Str(&s)];
                let view =
                    RecordView::notice(1_000 + n as i64, Level::Warn, 7, "hi", &names, &args);
                enc.encode(&mut out, &Item::view(&view));
                n += 1;
            }
            enc.seal(&mut out, start);
        }
        (out, starts)
    }

    /// Makes the chunk at `start` check again after its payload changed (unless earlier
    /// damage left it no header to keep).
    fn reseal(b: &mut [u8], start: usize) {
        let Ok(h) = ChunkHeader::parse(&b[start..]) else {
            return;
        };
        let crc = crc32fast::hash(&b[start + HEADER_LEN..start + HEADER_LEN + h.stored_len]);
        b[start + 31..start + 39].copy_from_slice(format!("{crc:08x}").as_bytes());
        let crc = crc32fast::hash(&b[start..start + 39]);
        b[start + 39..start + 47].copy_from_slice(format!("{crc:08x}").as_bytes());
    }

    #[derive(Debug, Clone)]
    enum Damage {
        /// A byte of chunk `.0`'s payload flipped: its checksum fails.
        Flip(usize, usize),
        /// Chunk `.0`'s payload garbled and its checksums made to hold: a zstd chunk does not
        /// decompress; a stored one does not parse (reported as a damaged chunk).
        Garble(usize),
        /// A byte of chunk `.0`'s header changed.
        Header(usize, usize),
    }

    fn damage() -> impl Strategy<Value = Damage> {
        prop_oneof![
            (any::<usize>(), any::<usize>()).prop_map(|(c, o)| Damage::Flip(c, o)),
            any::<usize>().prop_map(Damage::Garble),
            (any::<usize>(), 0..HEADER_LEN).prop_map(|(c, o)| Damage::Header(c, o)),
        ]
    }

    fn decode_file(path: &Path, format: LineFormat, threads: usize) -> (Vec<u8>, Vec<u8>, Report) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let opts = DecodeOptions {
            files: vec![path.to_path_buf()],
            format,
            follow: false,
            threads,
            filter: Filter::default(),
        };
        let stop = std::sync::atomic::AtomicBool::new(false);
        let report = decode_to(&opts, &mut out, &mut err, &stop).unwrap();
        (out, err, report)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Any archive, any damage: every thread count writes the lines, the reports and the
        /// counts one thread does.
        #[test]
        fn any_thread_count_decodes_and_reports_as_one_thread_does(
            sizes in proptest::collection::vec(1u16..300, 1..40),
            zstd in any::<bool>(),
            damages in proptest::collection::vec(damage(), 0..4),
            cut in proptest::option::of(0.0f64..1.0),
            json in any::<bool>(),
        ) {
            let (mut bytes, starts) = archive(&sizes, zstd);
            let len = bytes.len();
            let end_of = |c: usize| starts.get(c + 1).copied().unwrap_or(len);
            for d in &damages {
                match *d {
                    Damage::Flip(c, o) => {
                        let c = c % starts.len();
                        let (from, to) = (starts[c] + HEADER_LEN, end_of(c));
                        if to > from {
                            bytes[from + o % (to - from)] ^= 0x5a;
                        }
                    }
                    Damage::Garble(c) => {
                        let c = c % starts.len();
                        // zstd: the frame's magic; stored: the callsite count after the base
                        // time and the span (the table then runs past the payload).
                        let from = starts[c] + HEADER_LEN + if zstd { 0 } else { 24 };
                        let n = 4.min(end_of(c).saturating_sub(from));
                        bytes[from..from + n].copy_from_slice(&[0xff; 4][..n]);
                        reseal(&mut bytes, starts[c]);
                    }
                    Damage::Header(c, o) => {
                        let c = c % starts.len();
                        bytes[starts[c] + o] ^= 0x21;
                    }
                }
            }
            if let Some(f) = cut {
                bytes.truncate((bytes.len() as f64 * f) as usize);
            }
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("a.rlog");
            std::fs::write(&path, &bytes).unwrap();
            let format = if json { LineFormat::Json } else { LineFormat::Text };
            let one = decode_file(&path, format, 1);
            for threads in [2, 3] {
                let many = decode_file(&path, format, threads);
                prop_assert_eq!(&many.2, &one.2, "{} threads: the counts", threads);
                prop_assert_eq!(
                    String::from_utf8_lossy(&many.1),
                    String::from_utf8_lossy(&one.1),
                    "{} threads: the reports", threads
                );
                prop_assert!(many.0 == one.0, "{} threads: the lines", threads);
            }
        }
    }

    /// `--since` and `--until` print the entries stamped in [since, until), with one thread
    /// and with the chunks shared between two; the report still counts every entry, and a
    /// chunk with none in the span is passed over unparsed (damage under good checksums in
    /// one goes unseen).
    #[test]
    fn since_and_until_print_the_entries_in_the_span() {
        let (mut bytes, starts) = archive(&[300; 40], false);
        // The first chunk's callsite count garbled under good checksums.
        let at = starts[0] + HEADER_LEN + 24;
        bytes[at..at + 4].copy_from_slice(&[0xff; 4]);
        reseal(&mut bytes, starts[0]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.rlog");
        std::fs::write(&path, &bytes).unwrap();
        let (all, _, report) = decode_file(&path, LineFormat::Text, 1);
        assert_eq!((report.damaged, report.entries), (1, 11_700));
        let all: Vec<&[u8]> = all.split_inclusive(|&b| b == b'\n').collect();
        assert_eq!(all.len(), 11_700);
        // Entry n is stamped 1,000 + n ns (`archive`); the first chunk's 300 are not printed.
        let want = all[4_700..7_200].concat();
        for threads in [1, 2] {
            let opts = DecodeOptions {
                files: vec![path.clone()],
                format: LineFormat::Text,
                follow: false,
                threads,
                filter: Filter {
                    since: Some(Time(6_000)),
                    until: Some(Time(8_500)),
                    ..Filter::default()
                },
            };
            let (mut out, mut err) = (Vec::new(), Vec::new());
            let stop = std::sync::atomic::AtomicBool::new(false);
            let report = decode_to(&opts, &mut out, &mut err, &stop).unwrap();
            assert!(out == want, "{threads} threads");
            assert_eq!(report.entries, 12_000, "every entry still counted");
            assert_eq!(report.damaged, 0, "the damaged chunk is outside the span");
        }
        assert_eq!("1970-01-01T00:00:00.000006Z".parse(), Ok(Time(6_000)));
        assert_eq!(
            "2026-12-01T15:00:00+01:00".parse::<Time>(),
            "2026-12-01T14:00:00Z".parse::<Time>()
        );
        assert!("yesterday".parse::<Time>().is_err());
        // How long ago: now minus the duration, whatever its sign or format.
        let now = jiff::Timestamp::now().as_nanosecond() as i64;
        for (s, ago_s) in [
            ("10m", 600),
            ("10m ago", 600),
            ("1h30m", 5_400),
            ("2 days", 172_800),
            ("2d", 172_800),
            ("1 week ago", 604_800),
            ("PT90S", 90),
        ] {
            let Ok(Time(t)) = s.parse::<Time>() else {
                panic!("{s} does not parse")
            };
            let want = now - ago_s * 1_000_000_000;
            assert!(
                (want..want + 60_000_000_000).contains(&t),
                "{s}: {t} is not {ago_s} s before {now}"
            );
        }
        let e = "ten minutes".parse::<Time>().unwrap_err();
        assert!(e.contains("or how long ago: 10m"), "{e}");
    }

    #[test]
    fn a_large_archive_is_shared_between_threads() {
        // The proptest's archives reach the parallel path only when they are large enough for
        // two jobs (32 KiB): make sure one does, and decodes as one thread does.
        let (bytes, _) = archive(&[300; 40], false);
        assert!(bytes.len() > 4 * MIN_JOB, "{} bytes", bytes.len());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.rlog");
        std::fs::write(&path, &bytes).unwrap();
        let one = decode_file(&path, LineFormat::Text, 1);
        let two = decode_file(&path, LineFormat::Text, 2);
        assert_eq!(one.2.entries, 12_000);
        assert!(one.0 == two.0 && one.1 == two.1 && one.2 == two.2);
    }
}
