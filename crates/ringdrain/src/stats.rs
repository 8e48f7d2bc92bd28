//! `ringdrain stats`: what is going on in a ring.

use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Duration;

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use ringlog_segment::{clock, pid_alive, Segment};

use crate::cli::StatsArgs;
use crate::exit::Sysexit;
use crate::metrics::RingSample;
use ringlog_wire::clock::ClockKind;

#[derive(Debug, Clone, Copy)]
struct Sample {
    claim: u64,
    read: u64,
    consumed: u64,
}

fn sample(seg: &Segment) -> Sample {
    let s = seg.shared();
    // SYNC: Relaxed; a statistical snapshot.
    Sample {
        claim: crate::metrics::lanes_sum(seg, |c| &c.claim),
        read: crate::metrics::lanes_sum(seg, |c| &c.read),
        consumed: s.drain.consumed.load(Ordering::Relaxed),
    }
}

/// Runs `ringdrain stats`: the report (human, `--json` or `--prometheus`), then `--check` and
/// `--mark`.
pub fn run(a: &StatsArgs) -> anyhow::Result<ExitCode> {
    let segs = a
        .rings
        .iter()
        .map(|r| crate::metrics::open_ring(r))
        .collect::<anyhow::Result<Vec<_>>>()?;
    for seg in &segs {
        // `stats` does not know the mode a ring was meant to have; 0660 is the widest the
        // documented set-ups create (a group of services sharing a ring).
        warn_wide_mode(seg, 0o660);
    }
    if a.prometheus {
        let samples = segs.iter().map(RingSample::read).collect::<Vec<_>>();
        print!("{}", crate::metrics::render(&samples, None));
    } else if a.json || !a.check {
        for seg in &segs {
            report(seg, a.json, Duration::from_millis(a.interval_ms))?;
        }
    }
    let samples = segs.iter().map(RingSample::read).collect::<Vec<_>>();
    let mut code = ExitCode::SUCCESS;
    if a.check {
        let problems = check(&samples, a.max_lag, a.since_mark.as_deref())?;
        for p in &problems {
            eprintln!("ringdrain: check failed: {p}");
        }
        if problems.is_empty() {
            if !a.json && !a.prometheus {
                println!("ok: {} ring(s) drained by a living drain", samples.len());
            }
        } else {
            code = ExitCode::FAILURE;
        }
    }
    if let Some(mark) = &a.mark {
        write_mark(mark, &samples)?;
    }
    Ok(code)
}

/// Loss totals of one ring, as `--mark` records them.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct Mark {
    dropped: u64,
    abandoned: u64,
    corrupt: u64,
    /// Slots of revoked claims claimed again (a mark file written before it existed: 0).
    #[serde(default)]
    reclaimed: u64,
}

fn read_marks(path: &Path) -> anyhow::Result<BTreeMap<String, Mark>> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| {
            Sysexit::Config.msg(format_args!("{}: not a mark file: {e}", path.display()))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(e).with_context(|| format!("cannot read mark file {}", path.display())),
    }
}

fn write_mark(path: &Path, samples: &[RingSample]) -> anyhow::Result<()> {
    let mut marks = read_marks(path)?;
    for s in samples {
        marks.insert(
            s.ring.clone(),
            Mark {
                dropped: s.dropped,
                abandoned: s.abandoned,
                corrupt: s.corrupt,
                reclaimed: s.reclaimed,
            },
        );
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_string_pretty(&marks)?)
        .and_then(|()| std::fs::rename(&tmp, path))
        .with_context(|| format!("cannot write mark file {}", path.display()))
}

/// What is wrong with `samples` (empty: all is well).
fn check(
    samples: &[RingSample],
    max_lag: Option<u64>,
    since_mark: Option<&Path>,
) -> anyhow::Result<Vec<String>> {
    let marks = since_mark.map(read_marks).transpose()?.unwrap_or_default();
    let mut problems = Vec::new();
    for s in samples {
        let r = &s.ring;
        if s.drain_pid == 0 {
            problems.push(format!("{r}: no drain attached"));
        } else if !s.drain_alive {
            problems.push(format!("{r}: the drain (pid {}) is dead", s.drain_pid));
        } else if !s.drain_up() {
            problems.push(format!(
                "{r}: the drain (pid {}) has not beaten for {:.1} s (stuck?)",
                s.drain_pid,
                s.heartbeat_age_s.unwrap_or(f64::INFINITY)
            ));
        }
        if let Some(max) = max_lag {
            if s.fill() > max {
                problems.push(format!(
                    "{r}: lag {} slots exceeds --max-lag {max}",
                    s.fill()
                ));
            }
        }
        if since_mark.is_some() {
            let m = marks.get(r).map_or((0, 0, 0, 0), |m| {
                (m.dropped, m.abandoned, m.corrupt, m.reclaimed)
            });
            // Abandoned slots less those their living producers claimed again since the mark.
            let new = (
                s.dropped.saturating_sub(m.0),
                s.abandoned
                    .saturating_sub(m.1)
                    .saturating_sub(s.reclaimed.saturating_sub(m.3)),
                s.corrupt.saturating_sub(m.2),
            );
            if new != (0, 0, 0) {
                problems.push(format!(
                    "{r}: records lost since the mark: {} dropped, {} slots abandoned, {} corrupt",
                    new.0, new.1, new.2
                ));
            }
        }
    }
    Ok(problems)
}

/// Prints one ring's report (human or JSON).
fn report(seg: &Segment, json: bool, interval: Duration) -> anyhow::Result<()> {
    let path = seg.path().to_path_buf();
    let a = sample(seg);
    std::thread::sleep(interval);
    let b = sample(seg);
    let secs = interval.as_secs_f64().max(1e-3);
    let h = seg.header();
    let sh = seg.shared();
    let c = &sh.counters;
    let d = &sh.drain;
    // SYNC: Relaxed loads below: a statistical snapshot.
    let drain_pid = d.pid.load(Ordering::Relaxed);
    let hb = d.heartbeat_ns.load(Ordering::Relaxed);
    let hb_age = if hb == 0 {
        None
    } else {
        Some(clock::unix_ns().saturating_sub(hb) as f64 / 1e9)
    };
    let producers = seg.live_producers();
    let fill = b.claim.saturating_sub(b.read);
    let table = seg.callsites();
    let lanes = seg.lane_count() as u64;
    let total_slots = h.slot_count * lanes;
    // SYNC: Relaxed; a statistic.
    let lanes_held = (0..seg.lane_count())
        .filter(|&i| seg.lane(i).owner().load(Ordering::Relaxed) != 0)
        .count();
    let v = serde_json::json!({
        "ring": path.display().to_string(),
        "slot_size": h.slot_size,
        "slots": total_slots,
        "lanes": lanes,
        "slots_per_lane": h.slot_count,
        "lanes_held": lanes_held,
        "lanes_stalled": crate::metrics::lanes_flagged(seg, |l| &l.stalled),
        "lanes_fenced": crate::metrics::lanes_flagged(seg, |l| &l.fence),
        "fill_slots": fill,
        "fill_ratio": fill as f64 / total_slots as f64,
        "claimed": b.claim,
        "released": b.read,
        "consumed_records": b.consumed,
        "claim_rate_slots_per_s": (b.claim - a.claim) as f64 / secs,
        "drain_rate_records_per_s": (b.consumed.saturating_sub(a.consumed)) as f64 / secs,
        "dropped": c.dropped.load(Ordering::Relaxed),
        "abandoned_slots": c.abandoned.load(Ordering::Relaxed),
        "reclaimed_slots": c.reclaimed.load(Ordering::Relaxed),
        "corrupt": c.corrupt.load(Ordering::Relaxed),
        "truncated": c.truncated.load(Ordering::Relaxed),
        "drain_pid": if drain_pid == 0 { None } else { Some(drain_pid) },
        "drain_alive": drain_pid != 0 && seg.drain_alive(),
        "drain_heartbeat_age_s": hb_age,
        "drain_lag_slots": fill,
        "live_producers": producers,
        "producers_unlisted": seg.producers_unlisted(),
        "callsites": table.count(),
        "callsite_bytes_used": table.used(),
        "callsite_bytes": table.size(),
        "callsite_registrations_refused": table.failed(),
        "clock": match seg.clock_kind() { ClockKind::Tsc => "tsc", ClockKind::Realtime => "realtime" },
    });
    if json {
        println!("{v}");
        return Ok(());
    }
    let mib = |x: u64| x as f64 / (1024.0 * 1024.0);
    println!("ring       {}", path.display());
    println!(
        "geometry   {lanes} lanes x {} slots x {} B ({:.1} MiB), clock {}; {lanes_held} lanes held",
        h.slot_count,
        h.slot_size,
        mib(total_slots * h.slot_size as u64),
        v["clock"].as_str().unwrap_or("?")
    );
    let (stalled, fenced) = (&v["lanes_stalled"], &v["lanes_fenced"]);
    if stalled != 0 || fenced != 0 {
        println!(
            "frozen     {stalled} lanes held up by a producer's unfinished record, {fenced} of them fenced (the drain stepped over the record)"
        );
    }
    println!(
        "fill       {} / {} slots ({:.2}%)",
        fill,
        total_slots,
        100.0 * fill as f64 / total_slots as f64
    );
    println!(
        "rates      {:.0} slots/s claimed, {:.0} records/s drained (over {:?})",
        v["claim_rate_slots_per_s"].as_f64().unwrap_or(0.0),
        v["drain_rate_records_per_s"].as_f64().unwrap_or(0.0),
        interval
    );
    let reclaimed = match v["reclaimed_slots"].as_u64() {
        Some(0) | None => String::new(),
        Some(n) => format!(" ({n} of them claimed again by a living producer: not lost)"),
    };
    println!(
        "losses     dropped {}, abandoned slots {}{reclaimed}, corrupt {}, truncated {}",
        v["dropped"], v["abandoned_slots"], v["corrupt"], v["truncated"]
    );
    match (drain_pid, hb_age) {
        (0, _) => println!("drain      none attached"),
        (p, age) => println!(
            "drain      pid {p} ({}), heartbeat {} ago, lag {fill} slots",
            if pid_alive(p) { "alive" } else { "dead" },
            age.map(|a| format!("{a:.2}s"))
                .unwrap_or_else(|| "never".into())
        ),
    }
    println!(
        "producers  {} live{}",
        producers.len(),
        if producers.is_empty() {
            String::new()
        } else {
            format!(
                " (pids {})",
                producers
                    .iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    );
    let unlisted = seg.producers_unlisted();
    if unlisted > 0 {
        println!(
            "           {unlisted} producer process(es) found the producer table full (gc refuses this ring)"
        );
    }
    let refused = table.failed();
    println!(
        "callsites  {} ({:.1} KiB of {:.1} KiB){}",
        table.count(),
        table.used() as f64 / 1024.0,
        table.size() as f64 / 1024.0,
        if refused > 0 {
            format!(
                "; TABLE FULL: {refused} registrations refused (their records carry the format string as a field)"
            )
        } else {
            String::new()
        }
    );
    Ok(())
}

/// Warns on stderr (once: call it once per ring) when `seg`'s file grants permission bits
/// beyond `expected`, the mode rings are created with: every process that can write a ring
/// can forge or destroy its records (RELIABILITY.md, "Trust model"). The ring is still used.
pub(crate) fn warn_wide_mode(seg: &Segment, expected: u32) {
    let Ok(mode) = seg.file_mode() else { return };
    if mode & 0o777 & !expected != 0 {
        eprintln!(
            "ringdrain: warning: ring {} has mode {:04o}, wider than {expected:04o}: other users can read or write its records (chmod it to {expected:04o}, or recreate it)",
            seg.path().display(),
            mode & 0o777,
        );
    }
}
