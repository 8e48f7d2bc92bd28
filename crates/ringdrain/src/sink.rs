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

/// Identity and length of the file a batch went to (for the checkpoint).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileId {
    /// Device.
    pub dev: u64,
    /// Inode.
    pub ino: u64,
}

/// Rotation settings.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rotation {
    /// Rotate before a batch would take the file past this many bytes (0: never).
    pub max_bytes: u64,
    /// Rotated files to keep (`FILE.1` newest ... `FILE.N` oldest).
    pub keep: u32,
    /// Also rotate a non-empty file once it has been open this long.
    pub interval: Option<std::time::Duration>,
}

/// A log file the drain appends to.
#[derive(Debug)]
pub struct FileSink {
    path: PathBuf,
    file: File,
    len: u64,
    id: FileId,
    rotation: Rotation,
    mode: u32,
    opened: std::time::Instant,
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
        Ok(FileSink {
            path: path.to_path_buf(),
            file,
            len,
            id,
            rotation,
            mode,
            opened: std::time::Instant::now(),
        })
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
        self.file = file;
        self.len = len;
        self.id = id;
        self.opened = std::time::Instant::now();
        Ok(())
    }

    /// Whether the path no longer names the open file (deleted or replaced).
    pub fn detached(&self) -> bool {
        match std::fs::symlink_metadata(&self.path) {
            Ok(md) => md.dev() != self.id.dev || md.ino() != self.id.ino,
            Err(_) => true,
        }
    }

    /// Rotates first if `incoming` more bytes would pass the size limit, or the file has been
    /// open longer than the rotation interval.
    pub fn rotate_if_needed(&mut self, incoming: u64) -> io::Result<()> {
        let r = self.rotation;
        if self.len == 0 {
            return Ok(());
        }
        let by_size = r.max_bytes > 0 && self.len + incoming > r.max_bytes;
        let by_time = r.interval.is_some_and(|i| self.opened.elapsed() >= i);
        if by_size || by_time {
            self.rotate()
        } else {
            Ok(())
        }
    }

    /// Renames `FILE` to `FILE.1` (shifting older ones, dropping beyond `keep`) and opens a
    /// fresh `FILE`.
    pub fn rotate(&mut self) -> io::Result<()> {
        let keep = self.rotation.keep;
        let name = |i: u32| {
            let mut p = self.path.clone().into_os_string();
            p.push(format!(".{i}"));
            PathBuf::from(p)
        };
        if keep == 0 {
            std::fs::remove_file(&self.path).or_else(ignore_not_found)?;
        } else {
            std::fs::remove_file(name(keep)).or_else(ignore_not_found)?;
            for i in (1..keep).rev() {
                std::fs::rename(name(i), name(i + 1)).or_else(ignore_not_found)?;
            }
            std::fs::rename(&self.path, name(1))?;
        }
        self.reopen()
    }

    /// Appends `buf` whole, or fails leaving the file as it was.
    pub fn write_batch(&mut self, buf: &[u8]) -> io::Result<()> {
        let before = self.len;
        match self.file.write_all(buf) {
            Ok(()) => {
                self.len += buf.len() as u64;
                Ok(())
            }
            Err(e) => {
                // Undo a partial write so the retry does not tear or double a line.
                let _ = self.file.set_len(before);
                self.len = before;
                Err(e)
            }
        }
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

    /// How a network output encodes records (`None`: text lines in the drain's format).
    pub fn network(&self) -> Option<crate::format::Network> {
        match self {
            Sink::Syslog(s) => Some(crate::format::Network::Syslog(s.header())),
            Sink::Otlp(_) => Some(crate::format::Network::Otlp),
            Sink::File(_) | Sink::Stdout(_) => None,
        }
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
