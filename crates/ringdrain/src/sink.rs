//! Where formatted batches go: a file (with size rotation and SIGHUP reopen), stdout, or a
//! network receiver ([`crate::syslog`], [`crate::otlp`]).
//!
//! A batch is written whole or not at all: if a write fails part-way, the file is truncated back
//! to where the batch began before the error is returned, so a retry never leaves a torn or
//! doubled line. The drain keeps the batch's records in the ring until a write succeeds.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use jiff::Timestamp;

use crate::rotate::{Compression, Compressor, Retention, Zone};

/// Identity and length of the file a batch went to (for the checkpoint).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileId {
    /// Device.
    pub dev: u64,
    /// Inode.
    pub ino: u64,
}

/// Rotation settings (schedule, names, compression, retention: [`crate::rotate`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Rotation {
    /// Rotate before a batch would take the file past this many bytes (0: never).
    pub max_bytes: u64,
    /// Rotated files to keep (`FILE.1` newest ... `FILE.N` oldest, or the newest N dated ones).
    pub keep: u32,
    /// Also rotate at wall-clock boundaries: every hour, day, or this interval from midnight.
    pub interval: Option<std::time::Duration>,
    /// Time zone of the boundaries and of dated names.
    pub zone: Zone,
    /// Compress rotated files on a thread of their own.
    pub compress: Option<Compression>,
    /// Compression level (0: the library's default: zstd 3, gzip 6).
    pub compress_level: i32,
    /// Remove rotated files older than this.
    pub max_age: Option<std::time::Duration>,
    /// Remove the oldest rotated files while all of them take more than this (0: no limit).
    pub max_total: u64,
}

impl Rotation {
    /// Rotated files get dated names (with a schedule or compression) rather than numbers.
    fn dated(&self) -> bool {
        self.interval.is_some() || self.compress.is_some()
    }

    fn retention(&self) -> Retention {
        Retention {
            keep: Some(self.keep),
            max_age: self.max_age,
            max_total: self.max_total,
        }
    }
}

/// A log file the drain appends to.
#[derive(Debug)]
pub struct FileSink {
    path: PathBuf,
    /// Shared with the write-behind thread for the one write it makes at a time
    /// ([`FileSink::file`]).
    file: Arc<File>,
    len: u64,
    id: FileId,
    rotation: Rotation,
    mode: u32,
    /// The wall-clock period the file's lines belong to (with an interval).
    period: Option<(Timestamp, Timestamp)>,
    compressor: Option<Compressor>,
}

fn open_append(path: &Path, mode: u32) -> io::Result<(File, u64, FileId)> {
    // Readable too: a restarted drain reads the end of the file back to reconcile its
    // checkpoint (checkpoint::reconcile).
    let file = OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .mode(mode)
        .custom_flags(libc_o_nofollow())
        .open(path)?;
    let md = file.metadata()?;
    if !md.is_file() {
        return Err(io::Error::other(format!(
            "{} is not a regular file",
            path.display()
        )));
    }
    // procfs and sysfs files look regular but are not storage: records "written" there (say
    // /proc/self/comm) would be consumed from the ring and gone.
    let fs = rustix::fs::fstatfs(&file)?;
    const PROC_SUPER_MAGIC: i64 = 0x9fa0;
    const SYSFS_MAGIC: i64 = 0x6265_6572;
    const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
    #[allow(clippy::unnecessary_cast)]
    if matches!(
        fs.f_type as i64,
        PROC_SUPER_MAGIC | SYSFS_MAGIC | CGROUP2_SUPER_MAGIC
    ) {
        return Err(io::Error::other(format!(
            "{} is on procfs, sysfs or cgroupfs, not a file system that stores data",
            path.display()
        )));
    }
    Ok((
        file,
        md.len(),
        FileId {
            dev: md.dev(),
            ino: md.ino(),
        },
    ))
}

fn libc_o_nofollow() -> i32 {
    rustix::fs::OFlags::NOFOLLOW.bits() as i32
}

impl FileSink {
    /// Opens (creating, mode `mode`) `path` for appending.
    pub fn open(path: &Path, rotation: Rotation, mode: u32) -> io::Result<FileSink> {
        let (file, len, id) = open_append(path, mode)?;
        let compressor = match rotation.compress {
            Some(how) => {
                let level = match (rotation.compress_level, how) {
                    (0, Compression::Zstd) => 3,
                    (0, Compression::Gzip) => 6,
                    (l, _) => l,
                };
                Some(Compressor::start(path, how, level, rotation.retention())?)
            }
            None => None,
        };
        let mut sink = FileSink {
            path: path.to_path_buf(),
            file: Arc::new(file),
            len,
            id,
            rotation,
            mode,
            period: None,
            compressor,
        };
        sink.period = sink.current_period();
        if rotation.max_bytes > 0 && rotation.keep > 0 && !rotation.dated() {
            // A drain killed mid-rotation may have left a hole in FILE.1..FILE.N.
            crate::rotate::close_gaps(path)?;
        }
        Ok(sink)
    }

    /// The period of the open file's lines: from its last write if it has any (a file left
    /// from before a boundary is rotated first), else now.
    fn current_period(&self) -> Option<(Timestamp, Timestamp)> {
        let every = self.rotation.interval?;
        let mut at = Timestamp::now();
        if self.len > 0 {
            if let Some(t) = self
                .file
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|m| Timestamp::try_from(m).ok())
            {
                at = at.min(t);
            }
        }
        Some(crate::rotate::period(at, every, self.rotation.zone))
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Current length.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the file is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The open file's identity.
    pub fn id(&self) -> FileId {
        self.id
    }

    /// Reopens the path (after logrotate moved the file away: SIGHUP), or when the file was
    /// deleted under us.
    pub fn reopen(&mut self) -> io::Result<()> {
        let (file, len, id) = open_append(&self.path, self.mode)?;
        self.file = Arc::new(file);
        self.len = len;
        self.id = id;
        self.period = self.current_period();
        Ok(())
    }

    /// Whether the path no longer names the open file (deleted or replaced).
    pub fn detached(&self) -> bool {
        match std::fs::symlink_metadata(&self.path) {
            Ok(md) => md.dev() != self.id.dev || md.ino() != self.id.ino,
            Err(_) => true,
        }
    }

    /// Rotates first if `incoming` more bytes would pass the size limit, or a wall-clock
    /// boundary has passed since the file's period began.
    pub fn rotate_if_needed(&mut self, incoming: u64) -> io::Result<()> {
        let r = self.rotation;
        let by_time = self.period.is_some_and(|(_, end)| Timestamp::now() >= end);
        if self.len == 0 {
            if by_time {
                self.period = self.current_period();
            }
            return Ok(());
        }
        let by_size = r.max_bytes > 0 && self.len + incoming > r.max_bytes;
        if by_size || by_time {
            self.rotate()
        } else {
            Ok(())
        }
    }

    /// Moves `FILE` aside (dated, or `FILE.1` shifting older ones), opens a fresh `FILE`,
    /// then hands the old one to the compressor or applies retention.
    pub fn rotate(&mut self) -> io::Result<()> {
        if !self.rotation.dated() {
            self.rotate_numbered()?;
            if self.rotation.max_age.is_some() || self.rotation.max_total > 0 {
                let r = Retention {
                    keep: None,
                    ..self.rotation.retention()
                };
                crate::rotate::apply_retention(&self.path, &r)?;
            }
            return Ok(());
        }
        let start = self.period.map_or_else(Timestamp::now, |(s, _)| s);
        let stamp = crate::rotate::stamp(start, self.rotation.interval, self.rotation.zone);
        let to = crate::rotate::free_name(&self.path, &stamp);
        std::fs::rename(&self.path, &to)?;
        self.reopen()?;
        match &self.compressor {
            Some(c) => c.send(to),
            None => {
                crate::rotate::apply_retention(&self.path, &self.rotation.retention())?;
            }
        }
        Ok(())
    }

    /// `FILE.1` (newest) .. `FILE.keep`: closes holes a killed rotation left, removes the
    /// oldest only if `keep` rotated files exist, shifts the rest up by one (oldest first), then
    /// moves `FILE` to `FILE.1`. A kill anywhere leaves the files in order, possibly with one
    /// hole, which the next rotation (or start-up) closes first.
    fn rotate_numbered(&mut self) -> io::Result<()> {
        let keep = self.rotation.keep;
        if keep == 0 {
            std::fs::remove_file(&self.path).or_else(ignore_not_found)?;
            return self.reopen();
        }
        let name = |i: u32| crate::rotate::numbered_name(&self.path, i);
        let n = crate::rotate::close_gaps(&self.path)?;
        for i in (keep..=n).rev() {
            std::fs::remove_file(name(i)).or_else(ignore_not_found)?;
        }
        for i in (1..=n.min(keep - 1)).rev() {
            std::fs::rename(name(i), name(i + 1))?;
        }
        std::fs::rename(&self.path, name(1))?;
        self.reopen()
    }

    /// Appends `buf` whole, or fails leaving the file as it was.
    pub fn write_batch(&mut self, buf: &[u8]) -> io::Result<()> {
        append_whole(&self.file, self.len, buf)?;
        self.len += buf.len() as u64;
        Ok(())
    }

    /// The open file, for a batch written on another thread with [`append_whole`] (the
    /// drain's write-behind); the drain accounts for it with [`FileSink::wrote`]. Until then
    /// nothing else may write, rotate or reopen this sink.
    pub fn file(&self) -> Arc<File> {
        Arc::clone(&self.file)
    }

    /// Accounts for `n` bytes appended to [`FileSink::file`] by another thread.
    pub fn wrote(&mut self, n: u64) {
        self.len += n;
    }

    /// Reads `len` bytes at `offset` of the open file (checkpoint reconciliation).
    pub fn read_at(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        use std::os::unix::fs::FileExt;
        let mut buf = vec![0u8; len];
        self.file.read_exact_at(&mut buf, offset)?;
        Ok(buf)
    }

    /// Cuts the file back to `len` bytes (checkpoint reconciliation of a torn batch).
    pub fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.file.set_len(len)?;
        self.len = len;
        Ok(())
    }

    /// Flushes to the kernel (a no-op: writes are unbuffered) and syncs if asked.
    pub fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }
}

/// Appends `buf` whole to `file`, which is `before` bytes long, or fails leaving it as it was:
/// a partial write is cut back so a retry never tears or doubles a line.
pub fn append_whole(mut file: &File, before: u64, buf: &[u8]) -> io::Result<()> {
    file.write_all(buf).inspect_err(|_| {
        // The error is what the caller reports; a failed cut shows in the next write.
        let _ = file.set_len(before);
    })
}

fn ignore_not_found(e: io::Error) -> io::Result<()> {
    if e.kind() == io::ErrorKind::NotFound {
        Ok(())
    } else {
        Err(e)
    }
}

/// The drain's output.
#[derive(Debug)]
pub enum Sink {
    /// A file.
    File(FileSink),
    /// Standard output.
    Stdout(io::Stdout),
    /// A syslog receiver.
    Syslog(crate::syslog::SyslogSink),
    /// An OTLP/HTTP collector.
    Otlp(crate::otlp::OtlpSink),
}

impl Sink {
    /// Whether this output is a network receiver (whose batches cannot be checked after a
    /// drain crash).
    pub fn is_network(&self) -> bool {
        matches!(self, Sink::Syslog(_) | Sink::Otlp(_))
    }

    /// What to call this output in messages.
    pub fn describe(&self) -> String {
        match self {
            Sink::File(f) => f.path().display().to_string(),
            Sink::Stdout(_) => "standard output".to_string(),
            Sink::Syslog(s) => format!("syslog {}", s.endpoint()),
            Sink::Otlp(s) => format!("OTLP {}", s.endpoint()),
        }
    }

    /// Gets ready for a batch of `incoming` bytes: reopens a file deleted or moved away under
    /// us, rotates if the batch would pass the size limit. Returns the file's identity and
    /// length, where the batch will start (`None` for stdout).
    pub fn prepare(&mut self, incoming: u64) -> io::Result<Option<(FileId, u64)>> {
        match self {
            Sink::File(f) => {
                if f.detached() {
                    f.reopen()?;
                }
                f.rotate_if_needed(incoming)?;
                Ok(Some((f.id(), f.len())))
            }
            Sink::Syslog(s) => s.prepare().map(|()| None),
            Sink::Stdout(_) | Sink::Otlp(_) => Ok(None),
        }
    }

    /// Writes a batch whole (after [`Sink::prepare`]).
    pub fn write_batch(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Sink::File(f) => f.write_batch(buf),
            Sink::Stdout(s) => {
                let mut lock = s.lock();
                lock.write_all(buf)?;
                lock.flush()
            }
            Sink::Syslog(s) => s.write_batch(buf),
            Sink::Otlp(s) => s.write_batch(buf),
        }
    }

    /// Reopens the output (SIGHUP).
    pub fn reopen(&mut self) -> io::Result<()> {
        match self {
            Sink::File(f) => f.reopen(),
            Sink::Stdout(_) | Sink::Syslog(_) | Sink::Otlp(_) => Ok(()),
        }
    }
}
