//! `ringdrain gc`: remove segments nobody uses any more, never one that holds undrained
//! records.
//!
//! A segment is removed only if no producer in its table is alive, no drain is attached and
//! alive, and every claimed record has been drained (`claim == read`). To close the window in
//! which a producer could open it between the check and the removal, the segment is first
//! renamed out of the way, checked again after a pause, and only then unlinked; if anything
//! changed it is linked back under its name.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ringlog_segment::{Segment, SegmentConfig};

/// Why a segment is kept.
fn busy(seg: &Segment) -> Option<String> {
    let producers = seg.live_producers();
    if !producers.is_empty() {
        return Some(format!(
            "{} live producer(s) (pid {})",
            producers.len(),
            producers
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let d = &seg.shared().drain;
    // SYNC: Relaxed; a liveness hint, re-checked after the rename.
    let drain = d.pid.load(Ordering::Relaxed);
    if drain != 0 && seg.drain_alive() {
        return Some(format!("a drain is attached (pid {drain})"));
    }
    let unlisted = seg.producers_unlisted();
    if unlisted > 0 {
        return Some(format!(
            "{unlisted} producer process(es) found the producer table full and are not listed, so their liveness is unknown"
        ));
    }
    let backlog = seg.backlog();
    if backlog != 0 {
        return Some(format!("{backlog} undrained slot(s)"));
    }
    None
}

/// What happened to one candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Removed (or would be, with `dry_run`).
    Removed,
    /// Kept, with the reason.
    Kept(String),
    /// Not a segment we can judge (not ours, damaged, ...), left alone.
    Skipped(String),
}

/// Judges and possibly removes one segment.
pub fn collect(path: &Path, dry_run: bool) -> Outcome {
    let seg = match Segment::open(path, &SegmentConfig::default()) {
        Ok(s) => s,
        Err(e) => return Outcome::Skipped(e.to_string()),
    };
    if let Some(why) = busy(&seg) {
        return Outcome::Kept(why);
    }
    if dry_run {
        return Outcome::Removed;
    }
    let parked = path.with_file_name(format!(
        ".{}.gc.{}",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        std::process::id()
    ));
    if let Err(e) = std::fs::rename(path, &parked) {
        return Outcome::Skipped(format!("cannot move it aside: {e}"));
    }
    // A producer that opened it just before the rename attaches within microseconds.
    std::thread::sleep(Duration::from_millis(100));
    if let Some(why) = busy(&seg) {
        return match std::fs::hard_link(&parked, path) {
            Ok(()) => {
                let _ = std::fs::remove_file(&parked);
                Outcome::Kept(format!("became busy while being collected: {why}"))
            }
            Err(e) => Outcome::Kept(format!(
                "became busy while being collected ({why}) and a new segment now has its name ({e}); the old one is kept at {}",
                parked.display()
            )),
        };
    }
    match std::fs::remove_file(&parked) {
        Ok(()) => Outcome::Removed,
        Err(e) => Outcome::Skipped(format!("cannot remove {}: {e}", parked.display())),
    }
}

/// Segment candidates in `dir`: files named `ringlog-*`.
pub fn candidates(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(ringlog_segment::NAME_PREFIX))
        })
        .collect();
    v.sort();
    Ok(v)
}

/// Runs `ringdrain gc`.
pub fn run(paths: &[String], dir: &Path, dry_run: bool) -> anyhow::Result<ExitCode> {
    let targets = if paths.is_empty() {
        candidates(dir).map_err(|e| anyhow::anyhow!("cannot list {}: {e}", dir.display()))?
    } else {
        paths
            .iter()
            .map(|p| crate::exit::resolve_ring(p))
            .collect::<Result<Vec<_>, _>>()?
    };
    for path in targets {
        match collect(&path, dry_run) {
            Outcome::Removed if dry_run => println!("would remove {}", path.display()),
            Outcome::Removed => println!("removed {}", path.display()),
            Outcome::Kept(why) => println!("kept {}: {why}", path.display()),
            Outcome::Skipped(why) => println!("skipped {}: {why}", path.display()),
        }
    }
    Ok(ExitCode::SUCCESS)
}
