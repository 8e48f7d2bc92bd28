//! `ringdrain decode FILE...`: renders binary archives ([`crate::archive`]) as text, JSON or
//! logfmt lines on standard output, with the drain's own encoders, so the text is byte for
//! byte what `--format text` would have written.
//!
//! Damage is skipped, never fatal: a chunk whose checksum fails is skipped up to the next
//! whole chunk, and the bytes after the last whole chunk (a file cut short, or still being
//! written) are left; each is reported on stderr with its offset. The exit status is 65
//! (`EX_DATAERR`) if anything was skipped as damaged, else 0. `--follow` keeps reading the
//! last file as the drain appends to it, and moves on to the new file when it is rotated.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use crate::archive::{Decoder, Step};
use crate::encode::{Encoder, Item};
use crate::exit::Sysexit;
use crate::format::Format;

/// What `ringdrain decode` was asked.
#[derive(Debug, Clone)]
pub struct DecodeOptions {
    /// Archives, decoded in order.
    pub files: Vec<PathBuf>,
    /// Line format.
    pub format: Format,
    /// Keep reading the last file as it grows (and across its rotation) until interrupted.
    pub follow: bool,
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
    if opts.format == Format::Binary {
        return Err(Sysexit::Config.msg("decode renders lines: use --format text, json or logfmt"));
    }
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
    let mut enc = crate::encode::encoder(opts.format);
    let mut report = Report::default();
    let mut text = Vec::with_capacity(FLUSH + (64 << 10));
    for (i, path) in opts.files.iter().enumerate() {
        let follow = opts.follow && i + 1 == opts.files.len();
        let file = File::open(path).map_err(|e| {
            Sysexit::IoErr.wrap(anyhow::anyhow!("cannot open {}: {e}", path.display()))
        })?;
        let mut f = Followed {
            path,
            file,
            buf: Vec::new(),
            pos: 0,
            eof: false,
            decoder: Decoder::default(),
        };
        loop {
            let got = f.decode_some(&mut *enc, &mut text, &mut report, err)?;
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
                        f.file = file;
                        f.buf.clear();
                        f.pos = 0;
                        f.eof = false;
                        f.decoder = Decoder::default();
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

/// One archive being read.
struct Followed<'p> {
    path: &'p Path,
    file: File,
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
        match step {
            Step::Chunk { entries, damaged } => {
                report.chunks += 1;
                report.entries += entries;
                if let Some(why) = damaged {
                    report.damaged += 1;
                    writeln!(
                        err,
                        "ringdrain: decode: {}: chunk at offset {at}: {why}; its entries after the first {entries} were skipped",
                        self.path.display()
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
                    self.path.display()
                )?;
                Ok(true)
            }
            Step::Incomplete { .. } => Ok(false),
        }
    }

    /// Reports bytes left after the last whole chunk.
    fn report_tail(&mut self, report: &mut Report, err: &mut dyn Write) -> anyhow::Result<()> {
        let left = (self.buf.len() - self.pos) as u64;
        if left > 0 {
            report.incomplete_bytes += left;
            report.damaged += 1;
            report.damaged_bytes += left;
            writeln!(
                err,
                "ringdrain: decode: {}: skipped {left} bytes at offset {}: an incomplete chunk (the file was cut short or is still being written)",
                self.path.display(),
                self.decoder.base
            )?;
            self.pos = self.buf.len();
        }
        Ok(())
    }

    /// Whether the path now names another file than the one open.
    fn rotated(&self) -> io::Result<bool> {
        let open = self.file.metadata()?;
        Ok(match std::fs::metadata(self.path) {
            Ok(now) => now.dev() != open.dev() || now.ino() != open.ino(),
            Err(_) => false,
        })
    }
}
