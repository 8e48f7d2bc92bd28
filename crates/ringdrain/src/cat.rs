//! `ringdrain cat`: print what a ring holds without consuming it; with `--follow`, keep
//! printing records as they are committed, alongside the running drain (like `tail -f` or
//! `journalctl -f`).
//!
//! The view starts at each lane's read cursor (what is not yet drained) and walks towards its
//! claim cursor with a [`Peeker`] per lane; each pass over the lanes is shown in timestamp
//! order. Following, it waits at a slot still being written and
//! polls every 100 us or less when idle, so it normally shows a record before the drain has
//! written and freed it. A freed slot can no longer be read safely (a producer may be reusing
//! it), so if the drain frees slots before the view has shown them (a burst, a slow
//! terminal), the view jumps to the drain's position and says on stderr how many slots it
//! skipped (`ringdrain: cat: skipped N slots ...`); those records are in the drain's output.

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use ringlog_segment::reader::CallsiteCache;
use ringlog_wire::decode::decode_record;
use ringlog_wire::record::Level;
use ringlog_wire::ring::{Peek, Peeker};

use crate::format::{Formatter, LineFormat, NoticeValue};

/// A level filter: this level and the more severe ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LevelArg {
    /// Errors only.
    Error,
    /// Warnings and errors.
    Warn,
    /// Info and above.
    Info,
    /// Debug and above.
    Debug,
    /// Everything.
    Trace,
}

impl LevelArg {
    /// The level.
    pub fn level(self) -> Level {
        match self {
            LevelArg::Error => Level::Error,
            LevelArg::Warn => Level::Warn,
            LevelArg::Info => Level::Info,
            LevelArg::Debug => Level::Debug,
            LevelArg::Trace => Level::Trace,
        }
    }
}

/// What `ringdrain cat` shows.
#[derive(Debug, Clone, Default)]
pub struct CatOptions {
    /// Output format.
    pub format: LineFormat,
    /// Keep printing new records until interrupted.
    pub follow: bool,
    /// Only records at this level or more severe.
    pub level: Option<LevelArg>,
    /// Only records whose target starts with this.
    pub target: Option<String>,
}

/// Prints the records in `ring` (from the drain's read position to the claim position, and
/// on with `follow`).
pub fn run(ring: &str, opts: &CatOptions) -> anyhow::Result<ExitCode> {
    let seg = crate::metrics::open_ring(ring)?;
    let mut fmt = Formatter::new(opts.format.into(), seg.calibration());
    let mut cache = CallsiteCache::default();
    let mut peekers = (0..seg.lane_count())
        .map(|i| {
            let p = Peeker::new(seg.lane(i).ring());
            if opts.follow {
                p.following()
            } else {
                p
            }
        })
        .collect::<Vec<_>>();
    let filter = crate::decode::Filter {
        level: opts.level.map(LevelArg::level),
        target: opts.target.clone(),
        ..Default::default()
    };
    // One pass's records: their bytes, and (timestamp, start, end) of each.
    let mut buf = Vec::new();
    let mut pass: Vec<(u64, usize, usize)> = Vec::new();
    let mut out = Vec::with_capacity(1 << 16);
    let stdout = std::io::stdout();
    let mut lock = stdout.lock();
    let mut idle_rounds = 0u32;
    let mut anchor_at = Instant::now();
    let identity = file_identity(seg.path());
    loop {
        buf.clear();
        pass.clear();
        // Slots the drain freed before this view showed them, in this pass.
        let mut skipped = 0u64;
        for (lane, peeker) in peekers.iter_mut().enumerate() {
            // A bounded share per lane and pass, so a busy lane does not starve the others.
            for _ in 0..4096 {
                let before = peeker.position();
                let start = buf.len();
                match peeker.next(&mut buf) {
                    // Following, a record still being written stops the lane's view until it
                    // is committed, except one the drain has fenced (stepped over and reported
                    // lost: ARCHITECTURE.md, "Lanes"): the view steps over it too, and shows
                    // the records behind it as the drain wrote them.
                    Peek::End
                        if opts.follow && seg.lane(lane).fenced_at() == Some(peeker.position()) =>
                    {
                        if !peeker.step_over_unfinished() {
                            break;
                        }
                    }
                    Peek::End => break,
                    Peek::Gap => {}
                    Peek::Overtaken => {
                        if opts.follow {
                            skipped += peeker.position().saturating_sub(before);
                        }
                    }
                    Peek::Record { .. } => {
                        let ts = decode_record(&buf[start..]).map_or(0, |r| r.header.timestamp);
                        pass.push((ts, start, buf.len()));
                    }
                }
            }
        }
        if skipped > 0 {
            eprintln!(
                "ringdrain: cat: skipped {skipped} slots the drain freed before this view showed them (they are in the drain's output)"
            );
        }
        pass.sort_by_key(|&(ts, start, _)| (ts, start));
        for &(_, start, end) in &pass {
            show(
                &mut fmt,
                &mut out,
                &mut cache,
                &seg,
                &buf[start..end],
                &filter,
            );
            if out.len() >= 1 << 15 {
                if let Err(e) = lock.write_all(&out) {
                    return quiet_on_broken_pipe(e);
                }
                out.clear();
            }
        }
        if let Err(e) = lock.write_all(&out).and_then(|()| lock.flush()) {
            return quiet_on_broken_pipe(e);
        }
        out.clear();
        if !pass.is_empty() {
            idle_rounds = 0;
            continue;
        }
        if !opts.follow {
            break;
        }
        // Spin briefly, then sleep up to 100 us: the drain frees what it has written, and
        // what it frees before we look is lost to this view.
        idle_rounds = idle_rounds.saturating_add(1);
        if idle_rounds < 64 {
            std::thread::yield_now();
        } else {
            std::thread::sleep(Duration::from_micros(100));
        }
        if anchor_at.elapsed() >= Duration::from_secs(1) {
            // A ring removed (`gc`, by hand) or replaced at its path gets no more records:
            // say so and stop, rather than follow a file nobody can open any more.
            if file_identity(seg.path()) != identity {
                eprintln!(
                    "ringdrain cat: {} was removed or replaced; no more records can arrive in the ring being followed",
                    seg.path().display()
                );
                break;
            }
            // Keep timestamps right over a long follow (as the drain does).
            anchor_at = Instant::now();
            let c = fmt.calibration().reanchor(
                ringlog_segment::clock::now_raw(seg.clock_kind()),
                ringlog_segment::clock::unix_ns(),
            );
            fmt.set_calibration(c);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The (device, inode) a path names now, `None` if it names nothing.
fn file_identity(path: &std::path::Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// Formats the record in `buf` into `out` if it passes the filters.
fn show(
    fmt: &mut Formatter,
    out: &mut Vec<u8>,
    cache: &mut CallsiteCache,
    seg: &ringlog_segment::Segment,
    buf: &[u8],
    filter: &crate::decode::Filter,
) {
    match decode_record(buf) {
        Ok(rec) => {
            let cs = cache.resolve(seg, rec.header.callsite);
            let info = cs.as_ref().ok().and_then(|c| *c);
            let level = Level::from_u8(rec.header.level).or(info.map(|c| c.level));
            if !filter.keeps_origin(level, info.map(|c| c.target.as_str())) {
                return;
            }
            fmt.record(out, &rec, cs);
        }
        Err(e) => fmt.notice(
            out,
            ringlog_segment::clock::unix_ns() as i64,
            Level::Error,
            "damaged record",
            &[("reason", NoticeValue::Str(&e.to_string()))],
        ),
    }
}

fn quiet_on_broken_pipe(e: std::io::Error) -> anyhow::Result<ExitCode> {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        Ok(ExitCode::SUCCESS)
    } else {
        Err(anyhow::Error::new(e).context("cannot write to standard output"))
    }
}
