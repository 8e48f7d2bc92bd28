//! `ringdrain stats`: what is going on in a ring.

use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use ringlog_segment::{clock, pid_alive, Segment, SegmentConfig};
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
        claim: s.cursors.claim.load(Ordering::Relaxed),
        read: s.cursors.read.load(Ordering::Relaxed),
        consumed: s.drain.consumed.load(Ordering::Relaxed),
    }
}

/// Prints stats for `ring`.
pub fn run(ring: &str, json: bool, interval: Duration) -> anyhow::Result<ExitCode> {
    let path = ringlog_segment::resolve(ring)?;
    let seg = Segment::open(&path, &SegmentConfig::default())
        .with_context(|| format!("cannot open ring {ring}"))?;
    let a = sample(&seg);
    std::thread::sleep(interval);
    let b = sample(&seg);
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
    let v = serde_json::json!({
        "ring": path.display().to_string(),
        "slot_size": h.slot_size,
        "slots": h.slot_count,
        "fill_slots": fill,
        "fill_ratio": fill as f64 / h.slot_count as f64,
        "claimed": b.claim,
        "released": b.read,
        "consumed_records": b.consumed,
        "claim_rate_slots_per_s": (b.claim - a.claim) as f64 / secs,
        "drain_rate_records_per_s": (b.consumed.saturating_sub(a.consumed)) as f64 / secs,
        "dropped": c.dropped.load(Ordering::Relaxed),
        "abandoned_slots": c.abandoned.load(Ordering::Relaxed),
        "corrupt": c.corrupt.load(Ordering::Relaxed),
        "truncated": c.truncated.load(Ordering::Relaxed),
        "drain_pid": if drain_pid == 0 { None } else { Some(drain_pid) },
        "drain_alive": drain_pid != 0 && pid_alive(drain_pid),
        "drain_heartbeat_age_s": hb_age,
        "drain_lag_slots": fill,
        "live_producers": producers,
        "callsites": table.count(),
        "callsite_bytes_used": table.used(),
        "callsite_bytes": table.size(),
        "clock": match seg.clock_kind() { ClockKind::Tsc => "tsc", ClockKind::Realtime => "realtime" },
    });
    if json {
        println!("{v}");
        return Ok(ExitCode::SUCCESS);
    }
    let mib = |x: u64| x as f64 / (1024.0 * 1024.0);
    println!("ring       {}", path.display());
    println!(
        "geometry   {} slots x {} B ({:.1} MiB), clock {}",
        h.slot_count,
        h.slot_size,
        mib(h.slot_count * h.slot_size as u64),
        v["clock"].as_str().unwrap_or("?")
    );
    println!(
        "fill       {} / {} slots ({:.2}%)",
        fill,
        h.slot_count,
        100.0 * fill as f64 / h.slot_count as f64
    );
    println!(
        "rates      {:.0} slots/s claimed, {:.0} records/s drained (over {:?})",
        v["claim_rate_slots_per_s"].as_f64().unwrap_or(0.0),
        v["drain_rate_records_per_s"].as_f64().unwrap_or(0.0),
        interval
    );
    println!(
        "losses     dropped {}, abandoned slots {}, corrupt {}, truncated {}",
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
    println!(
        "callsites  {} ({:.1} KiB of {:.1} KiB)",
        table.count(),
        table.used() as f64 / 1024.0,
        table.size() as f64 / 1024.0
    );
    Ok(ExitCode::SUCCESS)
}
