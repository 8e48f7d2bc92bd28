//! Rotation schedule, rotated-file names, compression and retention for the output file.
//!
//! - **Schedule**: `--rotate-interval hourly|daily|DURATION` rotates at wall-clock boundaries
//!   ([`period`]): multiples of the interval from midnight (UTC, or local time with
//!   `--rotate-zone local`); intervals longer than a day are whole days counted from the Unix
//!   epoch. A file left from before a boundary (a drain restarted the next day) is rotated
//!   before the first new batch.
//! - **Names**: with an interval or compression, a rotated file is named after the period it
//!   holds, `FILE.2026-11-29` (daily), `FILE.2026-11-29T13` (hourly), `FILE.2026-11-29T13-15`,
//!   `FILE.2026-11-29T13-15-30`; without an interval, after the moment of rotation; a
//!   second file for the same name (size rotation within a period) gets `.1`, `.2`, ...
//!   Without either, the classic `FILE.1` (newest) .. `FILE.N`. That renumbering survives a
//!   kill at any instant: holes a killed rename chain left are closed ([`close_gaps`]) at start-up
//!   and before each rotation, and the oldest file is removed only while `--rotate-keep` files
//!   already exist.
//! - **Compression** (`--compress zstd|gzip`) runs on a thread of its own, never on the drain's
//!   write path: `F` is written to `F.zst.tmp`, synced, renamed to `F.zst` (so a `.zst` file
//!   is always complete), then `F` is removed. A drain killed at any moment leaves `F`, or `F`
//!   and a partial `F.zst.tmp` (removed and redone at the next start), or `F` and the
//!   complete `F.zst` (`F` is then removed): a rotated file is never lost.
//! - **Retention**: the newest `--rotate-keep` rotated files, none older than
//!   `--rotate-max-age` (by modification time: when the file was rotated), and the oldest
//!   removed until all together are at most `--rotate-max-total` bytes. The live file is never
//!   removed. With compression, retention runs after each compression, on its thread.
//!
//! Exactly-once is unaffected: the checkpoint covers only the live file, and a file is rotated
//! only between batches, when no checkpoint is pending.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, SystemTime};

use jiff::tz::TimeZone;
use jiff::Timestamp;

/// Time zone of the rotation schedule and of dated names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Zone {
    /// UTC.
    #[default]
    Utc,
    /// The system's local time zone.
    Local,
}

impl Zone {
    fn tz(self) -> TimeZone {
        match self {
            Zone::Utc => TimeZone::UTC,
            Zone::Local => TimeZone::system(),
        }
    }
}

/// How rotated files are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Compression {
    /// Zstandard (`.zst`).
    Zstd,
    /// gzip (`.gz`).
    Gzip,
}

impl Compression {
    /// The file-name extension (without the dot).
    pub fn ext(self) -> &'static str {
        match self {
            Compression::Zstd => "zst",
            Compression::Gzip => "gz",
        }
    }
}

const DAY_MS: i64 = 86_400_000;

/// The wall-clock period holding `now` for rotation every `every` in `zone`: `(start, end)`.
pub fn period(now: Timestamp, every: Duration, zone: Zone) -> (Timestamp, Timestamp) {
    let every_ms = i64::try_from(every.as_millis()).unwrap_or(i64::MAX).max(1);
    let z = now.to_zoned_datetime(zone.tz());
    let (Ok(day), Ok(next_day)) = (
        z.start_of_day(),
        z.tomorrow().and_then(|t| t.start_of_day()),
    ) else {
        // Out of jiff's range: fall back to multiples from the epoch.
        return epoch_multiple(now, every_ms);
    };
    let (day, next_day) = (day.timestamp(), next_day.timestamp());
    if every_ms >= DAY_MS {
        if every_ms < 2 * DAY_MS {
            return (day, next_day);
        }
        // Whole days counted from the epoch, starting at the zone's midnight.
        let days = every_ms / DAY_MS;
        let index = day.as_millisecond().div_euclid(DAY_MS);
        let back = index.rem_euclid(days);
        let start = z
            .checked_sub(jiff::Span::new().days(back))
            .and_then(|s| s.start_of_day())
            .map(|s| s.timestamp())
            .unwrap_or(day);
        let end = z
            .checked_add(jiff::Span::new().days(days - back))
            .and_then(|s| s.start_of_day())
            .map(|s| s.timestamp())
            .unwrap_or(next_day);
        return (start, end);
    }
    let since = now.as_millisecond() - day.as_millisecond();
    let start_ms = day.as_millisecond() + since / every_ms * every_ms;
    let end_ms = (start_ms + every_ms).min(next_day.as_millisecond());
    match (
        Timestamp::from_millisecond(start_ms),
        Timestamp::from_millisecond(end_ms),
    ) {
        (Ok(s), Ok(e)) => (s, e),
        _ => epoch_multiple(now, every_ms),
    }
}

fn epoch_multiple(now: Timestamp, every_ms: i64) -> (Timestamp, Timestamp) {
    let start = now.as_millisecond().div_euclid(every_ms) * every_ms;
    (
        Timestamp::from_millisecond(start).unwrap_or(now),
        Timestamp::from_millisecond(start.saturating_add(every_ms)).unwrap_or(Timestamp::MAX),
    )
}

/// The dated name stem for a file holding `start` onwards (granularity from `every`).
pub fn stamp(start: Timestamp, every: Option<Duration>, zone: Zone) -> String {
    let fmt = match every.map(|d| d.as_millis()) {
        Some(ms) if ms >= DAY_MS as u128 => "%Y-%m-%d",
        Some(ms) if ms % 3_600_000 == 0 => "%Y-%m-%dT%H",
        Some(ms) if ms % 60_000 == 0 => "%Y-%m-%dT%H-%M",
        _ => "%Y-%m-%dT%H-%M-%S",
    };
    start.to_zoned_datetime(zone.tz()).strftime(fmt).to_string()
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

/// A free name `FILE.STAMP`, `FILE.STAMP.1`, ... (free: neither it nor a compressed version
/// of it exists).
pub fn free_name(live: &Path, stamp: &str) -> PathBuf {
    let taken = |p: &Path| {
        p.exists()
            || [Compression::Zstd, Compression::Gzip]
                .iter()
                .any(|c| with_suffix(p, &format!(".{}", c.ext())).exists())
    };
    let base = with_suffix(live, &format!(".{stamp}"));
    if !taken(&base) {
        return base;
    }
    (1u32..)
        .map(|i| with_suffix(&base, &format!(".{i}")))
        .find(|p| !taken(p))
        .unwrap_or(base)
}

/// What follows `FILE.` in a rotated file's name, if `name` is one of `live`'s rotated
/// files: a number or a date, maybe `.N`, maybe `.zst`/`.gz`. Never a `.tmp`.
fn rotated_rest<'a>(live: &Path, name: &'a str) -> Option<&'a str> {
    let base = live.file_name()?.to_str()?;
    let rest = name.strip_prefix(base)?.strip_prefix('.')?;
    let core = rest
        .strip_suffix(".zst")
        .or_else(|| rest.strip_suffix(".gz"))
        .unwrap_or(rest);
    let ok = core.starts_with(|c: char| c.is_ascii_digit())
        && core
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '-' | 'T' | '.'));
    ok.then_some(rest)
}

/// `live`'s numbered rotated files (`FILE.N`, `N` a positive integer written without leading
/// zeros), by number, newest (lowest) first.
pub fn numbered(live: &Path) -> io::Result<Vec<(u32, PathBuf)>> {
    let dir = match live.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let Some(base) = live.file_name().and_then(|n| n.to_str()) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(digits) = name
            .to_str()
            .and_then(|n| n.strip_prefix(base))
            .and_then(|r| r.strip_prefix('.'))
        else {
            continue;
        };
        if digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(n) = digits.parse::<u32>() else {
            continue;
        };
        out.push((n, entry.path()));
    }
    out.sort();
    Ok(out)
}

/// `FILE.i`.
pub fn numbered_name(live: &Path, i: u32) -> PathBuf {
    with_suffix(live, &format!(".{i}"))
}

/// Renumbers `live`'s numbered rotated files `1..=n` in their order, closing the holes a drain
/// killed in the middle of a rotation's renames left; returns `n`. Restartable: each rename
/// moves a file to the lowest free number above the ones already placed, so the files stay in
/// order whenever a kill stops it, and the next call finishes the job.
pub fn close_gaps(live: &Path) -> io::Result<u32> {
    let files = numbered(live)?;
    let mut placed = 0u32;
    for (n, path) in files {
        placed += 1;
        if n != placed {
            // `placed` is free: every lower file is already at 1..placed, and this one is the
            // lowest-numbered of the rest, above `placed`.
            std::fs::rename(&path, numbered_name(live, placed))?;
        }
    }
    if placed > 0 {
        sync_dir(live);
    }
    Ok(placed)
}

/// A rotated file found on disk.
#[derive(Debug, Clone)]
pub struct Rotated {
    /// Its path.
    pub path: PathBuf,
    /// Size in bytes.
    pub len: u64,
    /// Modification time (when it was rotated).
    pub modified: SystemTime,
    /// Compressed (`.zst`/`.gz`).
    pub compressed: bool,
}

/// `live`'s rotated files, oldest first.
pub fn list(live: &Path) -> io::Result<Vec<Rotated>> {
    let dir = match live.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(rest) = rotated_rest(live, name) else {
            continue;
        };
        let Ok(md) = entry.metadata() else { continue };
        if !md.is_file() {
            continue;
        }
        out.push(Rotated {
            path: entry.path(),
            len: md.len(),
            modified: md.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            compressed: rest.ends_with(".zst") || rest.ends_with(".gz"),
        });
    }
    // Oldest first; names break ties (FILE.2 is older than FILE.1; a later `.N` is newer).
    out.sort_by(|a, b| {
        a.modified
            .cmp(&b.modified)
            .then_with(|| a.path.cmp(&b.path))
    });
    Ok(out)
}

/// Retention limits.
#[derive(Debug, Clone, Copy, Default)]
pub struct Retention {
    /// Most rotated files kept (`None`: no limit).
    pub keep: Option<u32>,
    /// Rotated files older than this are removed.
    pub max_age: Option<Duration>,
    /// Rotated files together at most this many bytes (0: no limit).
    pub max_total: u64,
}

/// Removes `live`'s rotated files beyond `r`'s limits (plain files waiting for compression
/// count like the others); returns what was removed.
pub fn apply_retention(live: &Path, r: &Retention) -> io::Result<Vec<PathBuf>> {
    let files = list(live)?;
    let now = SystemTime::now();
    let mut total: u64 = files.iter().map(|f| f.len).sum();
    let mut count = files.len();
    let mut removed = Vec::new();
    for f in &files {
        let too_many = r.keep.is_some_and(|k| count > k as usize);
        let too_old = r
            .max_age
            .is_some_and(|age| now.duration_since(f.modified).is_ok_and(|a| a > age));
        let too_big = r.max_total > 0 && total > r.max_total;
        if !(too_many || too_old || too_big) {
            continue;
        }
        match std::fs::remove_file(&f.path) {
            Ok(()) => removed.push(f.path.clone()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        total -= f.len;
        count -= 1;
    }
    Ok(removed)
}

/// Compresses `plain` into `plain.EXT` (via `plain.EXT.tmp`, synced, renamed), keeps its
/// modification time, then removes `plain`.
pub fn compress_file(plain: &Path, how: Compression, level: i32) -> io::Result<PathBuf> {
    let done = with_suffix(plain, &format!(".{}", how.ext()));
    let tmp = with_suffix(&done, ".tmp");
    let src = File::open(plain)?;
    let modified = src.metadata()?.modified()?;
    let res = (|| -> io::Result<()> {
        let out = File::create(&tmp)?;
        let out = match how {
            Compression::Zstd => {
                let mut enc = zstd::stream::Encoder::new(out, level)?;
                io::copy(&mut io::BufReader::new(&src), &mut enc)?;
                enc.finish()?
            }
            Compression::Gzip => {
                let lvl = flate2::Compression::new(level.clamp(0, 9) as u32);
                let mut enc = flate2::write::GzEncoder::new(out, lvl);
                io::copy(&mut io::BufReader::new(&src), &mut enc)?;
                enc.finish()?
            }
        };
        out.sync_all()?;
        out.set_modified(modified)?;
        Ok(())
    })();
    if let Err(e) = res {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, &done)?;
    sync_dir(&done);
    std::fs::remove_file(plain)?;
    Ok(done)
}

fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent() {
        if let Ok(d) = File::open(if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        }) {
            let _ = d.sync_all();
        }
    }
}

/// Finishes what a killed drain left: removes partial `.tmp` outputs and plain files whose
/// compressed version is complete; returns the plain rotated files still to compress.
pub fn recover(live: &Path, how: Compression) -> io::Result<Vec<PathBuf>> {
    let dir = match live.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let base = live.file_name().and_then(|n| n.to_str()).unwrap_or("");
    for entry in std::fs::read_dir(&dir)? {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with(&format!("{base}."))
            && (name.ends_with(".zst.tmp") || name.ends_with(".gz.tmp"))
        {
            std::fs::remove_file(dir.join(name)).or_else(not_found_ok)?;
        }
    }
    let mut todo = Vec::new();
    for f in list(live)? {
        if f.compressed {
            continue;
        }
        let done = with_suffix(&f.path, &format!(".{}", how.ext()));
        if done.exists() {
            std::fs::remove_file(&f.path).or_else(not_found_ok)?;
        } else {
            todo.push(f.path);
        }
    }
    Ok(todo)
}

fn not_found_ok(e: io::Error) -> io::Result<()> {
    if e.kind() == io::ErrorKind::NotFound {
        Ok(())
    } else {
        Err(e)
    }
}

/// The compression thread of one output file: compresses what it is sent, then applies
/// retention. Dropping it lets it finish its queue and joins it.
#[derive(Debug)]
pub struct Compressor {
    tx: Option<mpsc::Sender<PathBuf>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Compressor {
    /// Starts the thread for `live`'s rotated files, first recovering what a killed drain
    /// left.
    pub fn start(
        live: &Path,
        how: Compression,
        level: i32,
        retention: Retention,
    ) -> io::Result<Compressor> {
        let (tx, rx) = mpsc::channel::<PathBuf>();
        for p in recover(live, how)? {
            let _ = tx.send(p);
        }
        let live = live.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("ringdrain-compress".into())
            .spawn(move || {
                let _ = apply_retention(&live, &retention);
                for plain in rx {
                    if let Err(e) = compress_file(&plain, how, level) {
                        if e.kind() != io::ErrorKind::NotFound {
                            eprintln!(
                                "ringdrain: cannot compress {} ({e}); it stays uncompressed",
                                plain.display()
                            );
                        }
                    }
                    if let Err(e) = apply_retention(&live, &retention) {
                        eprintln!("ringdrain: rotated files of {}: {e}", live.display());
                    }
                }
            })?;
        Ok(Compressor {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// Queues a rotated file.
    pub fn send(&self, plain: PathBuf) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(plain);
        }
    }
}

impl Drop for Compressor {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn daily_and_hourly_periods_start_at_wall_clock_boundaries() {
        let now = ts("2026-11-29T13:47:05Z");
        let day = Duration::from_secs(86400);
        assert_eq!(
            period(now, day, Zone::Utc),
            (ts("2026-11-29T00:00:00Z"), ts("2026-11-30T00:00:00Z"))
        );
        assert_eq!(
            period(now, Duration::from_secs(3600), Zone::Utc),
            (ts("2026-11-29T13:00:00Z"), ts("2026-11-29T14:00:00Z"))
        );
        assert_eq!(
            period(now, Duration::from_secs(15 * 60), Zone::Utc),
            (ts("2026-11-29T13:45:00Z"), ts("2026-11-29T14:00:00Z"))
        );
        // An interval that does not divide the day: the last period ends at midnight.
        let (s, e) = period(
            ts("2026-11-29T23:59:00Z"),
            Duration::from_secs(7 * 3600),
            Zone::Utc,
        );
        assert_eq!(
            (s, e),
            (ts("2026-11-29T21:00:00Z"), ts("2026-11-30T00:00:00Z"))
        );
        assert_eq!(
            stamp(ts("2026-11-29T00:00:00Z"), Some(day), Zone::Utc),
            "2026-11-29"
        );
        assert_eq!(
            stamp(
                ts("2026-11-29T13:00:00Z"),
                Some(Duration::from_secs(3600)),
                Zone::Utc
            ),
            "2026-11-29T13"
        );
        assert_eq!(
            stamp(ts("2026-11-29T13:45:00Z"), None, Zone::Utc),
            "2026-11-29T13-45-00"
        );
    }

    #[test]
    fn rotated_names_are_recognised_and_nothing_else() {
        let live = Path::new("/var/log/app.log");
        for ok in [
            "app.log.1",
            "app.log.2026-11-29",
            "app.log.2026-11-29T13.2.zst",
            "app.log.3.gz",
        ] {
            assert!(rotated_rest(live, ok).is_some(), "{ok}");
        }
        for no in [
            "app.log",
            "app.log.bak",
            "app.log.2026-11-29.zst.tmp",
            "app.logx.1",
            "other.1",
        ] {
            assert!(rotated_rest(live, no).is_none(), "{no}");
        }
    }

    #[test]
    fn retention_keeps_the_newest_within_count_age_and_total() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("a.log");
        std::fs::write(&live, b"live").unwrap();
        let now = SystemTime::now();
        for (i, age_h) in [(1, 50u64), (2, 30), (3, 2), (4, 1)] {
            let p = dir.path().join(format!("a.log.2026-11-2{i}"));
            std::fs::write(&p, vec![b'x'; 100]).unwrap();
            let f = File::options().write(true).open(&p).unwrap();
            f.set_modified(now - Duration::from_secs(age_h * 3600))
                .unwrap();
        }
        let r = Retention {
            keep: Some(3),
            max_age: Some(Duration::from_secs(40 * 3600)),
            max_total: 150,
        };
        let removed = apply_retention(&live, &r).unwrap();
        let names: Vec<_> = removed
            .iter()
            .map(|p| p.file_name().unwrap().to_str().unwrap())
            .collect();
        assert_eq!(
            names,
            ["a.log.2026-11-21", "a.log.2026-11-22", "a.log.2026-11-23"]
        );
        assert!(live.exists());
        assert!(dir.path().join("a.log.2026-11-24").exists());
    }

    #[test]
    fn compression_round_trips_and_recovery_finishes_a_killed_one() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("b.log");
        let plain = dir.path().join("b.log.2026-11-29");
        let text = "line\n".repeat(1000);
        std::fs::write(&plain, &text).unwrap();
        // A killed compression left a partial output.
        std::fs::write(dir.path().join("b.log.2026-11-29.zst.tmp"), b"partial").unwrap();
        assert_eq!(
            recover(&live, Compression::Zstd).unwrap(),
            vec![plain.clone()]
        );
        assert!(!dir.path().join("b.log.2026-11-29.zst.tmp").exists());
        let done = compress_file(&plain, Compression::Zstd, 3).unwrap();
        assert!(!plain.exists());
        let back = zstd::decode_all(File::open(&done).unwrap()).unwrap();
        assert_eq!(back, text.as_bytes());
        let gz = dir.path().join("b.log.1");
        std::fs::write(&gz, &text).unwrap();
        let done = compress_file(&gz, Compression::Gzip, 6).unwrap();
        let mut back = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::GzDecoder::new(File::open(done).unwrap()),
            &mut back,
        )
        .unwrap();
        assert_eq!(back, text);
        // Killed after the rename, before removing the plain file: the plain copy goes.
        std::fs::write(&plain, &text).unwrap();
        assert!(recover(&live, Compression::Zstd).unwrap().is_empty());
        assert!(!plain.exists());
    }
}
