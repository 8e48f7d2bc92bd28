//! The drain loop: read -> format -> write -> checkpoint -> release, with adaptive idle
//! backoff, loss notices, output-error retry, signals and the heartbeat producers watch.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use ringlog_segment::reader::{Event, Lost, Reader, StallPolicy};
use ringlog_segment::{clock, pid_alive, Segment, SegmentConfig};
use ringlog_wire::record::Level;

use crate::checkpoint::{self, Reconciled};
use crate::format::{Format, Formatter, NoticeValue};
use crate::sink::{FileSink, Rotation, Sink};

/// Where the drain writes.
#[derive(Debug, Clone)]
pub enum Output {
    /// A file, with rotation.
    File {
        /// Path.
        path: PathBuf,
        /// Rotation.
        rotation: Rotation,
        /// Mode for a new file.
        mode: u32,
    },
    /// Standard output.
    Stdout,
}

/// Everything `ringdrain` needs to run.
#[derive(Debug, Clone)]
pub struct DrainConfig {
    /// Segment path.
    pub ring: PathBuf,
    /// Sizes for the segment if this drain creates it.
    pub segment: SegmentConfig,
    /// Output.
    pub output: Output,
    /// Format.
    pub format: Format,
    /// Drain the backlog and exit.
    pub once: bool,
    /// Stall handling.
    pub stall: StallPolicy,
    /// How long `--once` and shutdown wait on a stalled (slow, living) producer.
    pub stall_exit_after: Duration,
    /// Most records per batch.
    pub batch_records: usize,
}

impl DrainConfig {
    /// Defaults for `ring` writing `output`.
    pub fn new(ring: PathBuf, output: Output) -> Self {
        DrainConfig {
            ring,
            segment: SegmentConfig::default(),
            output,
            format: Format::Text,
            once: false,
            stall: StallPolicy::default(),
            stall_exit_after: Duration::from_secs(2),
            batch_records: 8192,
        }
    }
}

/// Flags set by signal handlers (or tests).
#[derive(Debug, Clone, Default)]
pub struct Signals {
    /// SIGINT/SIGTERM: drain what is left and exit.
    pub stop: Arc<AtomicBool>,
    /// SIGHUP: reopen the output file.
    pub reopen: Arc<AtomicBool>,
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Records written.
    pub records: u64,
    /// Loss notices written.
    pub notices: u64,
    /// Start-up reconciliation.
    pub reconciled: Option<String>,
}

/// Holds the drain's claim on a segment; releases it on drop.
struct Attached<'s> {
    seg: &'s Segment,
    pid: u32,
}

impl<'s> Attached<'s> {
    fn attach(seg: &'s Segment) -> anyhow::Result<Self> {
        let me = std::process::id();
        let d = &seg.shared().drain;
        loop {
            // SYNC: Acquire; pairs with the Release in a previous drain's detach, so its
            // checkpoint is visible to us.
            let cur = d.pid.load(Ordering::Acquire);
            if cur != 0 && cur != me && pid_alive(cur) {
                bail!(
                    "ringdrain (pid {cur}) is already draining {}",
                    seg.path().display()
                );
            }
            // SYNC: AcqRel; Acquire as above, Release publishes our claim.
            if d.pid
                .compare_exchange(cur, me, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                // SYNC: Relaxed; a liveness hint for producers.
                d.heartbeat_ns.store(clock::unix_ns(), Ordering::Relaxed);
                return Ok(Attached { seg, pid: me });
            }
        }
    }
}

impl Drop for Attached<'_> {
    fn drop(&mut self) {
        // SYNC: Release; pairs with the Acquire in the next drain's attach.
        let _ = self.seg.shared().drain.pid.compare_exchange(
            self.pid,
            0,
            Ordering::Release,
            Ordering::Relaxed,
        );
    }
}

/// Adaptive idle wait: spin, then yield, then sleep up to 1 ms.
struct Idle {
    rounds: u32,
}

impl Idle {
    fn reset(&mut self) {
        self.rounds = 0;
    }

    fn wait(&mut self) {
        self.rounds = self.rounds.saturating_add(1);
        match self.rounds {
            0..=32 => std::hint::spin_loop(),
            33..=64 => std::thread::yield_now(),
            n => {
                let us = 20u64 << (n - 64).min(6);
                std::thread::sleep(Duration::from_micros(us.min(1000)));
            }
        }
    }
}

/// Opens the output.
pub fn open_output(output: &Output) -> anyhow::Result<Sink> {
    Ok(match output {
        Output::Stdout => Sink::Stdout(std::io::stdout()),
        Output::File {
            path,
            rotation,
            mode,
        } => Sink::File(
            FileSink::open(path, *rotation, *mode)
                .with_context(|| format!("cannot open output file {}", path.display()))?,
        ),
    })
}

/// Runs the drain until stopped (or, with `once`, until the backlog is written).
pub fn run(cfg: &DrainConfig, signals: &Signals) -> anyhow::Result<Summary> {
    let mut sink = open_output(&cfg.output)?;
    let (seg, _) = Segment::create_or_open(&cfg.ring, &cfg.segment)
        .with_context(|| format!("cannot open ring {}", cfg.ring.display()))?;
    let attached = Attached::attach(&seg)?;
    let heartbeat_stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !heartbeat_stop.load(Ordering::Relaxed) {
                // SYNC: Relaxed; a liveness hint (see Logger::drain_alive).
                seg.shared()
                    .drain
                    .heartbeat_ns
                    .store(clock::unix_ns(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let r = drain_loop(cfg, signals, &seg, &mut sink);
        // SYNC: Relaxed; a stop flag, nothing depends on its ordering.
        heartbeat_stop.store(true, Ordering::Relaxed);
        r
    })
    .inspect(|_| drop(attached))
}

fn drain_loop(
    cfg: &DrainConfig,
    signals: &Signals,
    seg: &Segment,
    sink: &mut Sink,
) -> anyhow::Result<Summary> {
    let mut reader = Reader::new(seg).with_policy(cfg.stall);
    let mut summary = Summary::default();
    let reconciled =
        checkpoint::reconcile(seg, sink, &mut reader).context("cannot reconcile the checkpoint")?;
    if reconciled != Reconciled::Clean {
        summary.reconciled = Some(format!("{reconciled:?}"));
        if reconciled == Reconciled::Unverifiable {
            eprintln!("ringdrain: warning: the last batch before a drain crash cannot be verified in the output; it is written again and may appear twice");
        }
    }
    let mut fmt = Formatter::new(cfg.format, seg.calibration());
    let kind = seg.clock_kind();
    let mut anchor_at = Instant::now() - Duration::from_secs(10);
    let mut out: Vec<u8> = Vec::with_capacity(1 << 20);
    let mut idle = Idle { rounds: 0 };
    // Keep a batch well under the rotation size, so files stay within it.
    let max_batch_bytes = match &cfg.output {
        Output::File { rotation, .. } if rotation.max_bytes > 0 => {
            ((rotation.max_bytes / 4) as usize).clamp(1, 1 << 20)
        }
        _ => 1 << 20,
    };
    let chunk = (max_batch_bytes / 256)
        .clamp(1, 1024)
        .min(cfg.batch_records.max(1));
    let mut stalled_since: Option<Instant> = None;
    // With --once, or once asked to stop, the drain writes what was claimed up to that moment
    // and exits, even if producers keep logging.
    let claim_now = || seg.shared().cursors.claim.load(Ordering::Relaxed);
    let mut finish_at: Option<u64> = cfg.once.then(claim_now);
    loop {
        if signals.reopen.swap(false, Ordering::Relaxed) {
            if let Err(e) = sink.reopen() {
                eprintln!("ringdrain: cannot reopen output: {e}");
            }
        }
        // SYNC: Relaxed; a flag from a signal handler, nothing depends on its ordering.
        let stopping = signals.stop.load(Ordering::Relaxed);
        if stopping && finish_at.is_none() {
            finish_at = Some(claim_now());
        }
        if finish_at.is_some_and(|end| reader.position() >= end) && reader.unreleased() == 0 {
            break;
        }
        if anchor_at.elapsed() >= Duration::from_secs(1) {
            anchor_at = Instant::now();
            let c = fmt
                .calibration()
                .reanchor(clock::now_raw(kind), clock::unix_ns());
            fmt.set_calibration(c);
        }
        out.clear();
        let mut records = 0u64;
        let mut notices = 0u64;
        let mut last = Default::default();
        while out.len() < max_batch_bytes {
            last = reader.poll(chunk, |ev| match ev {
                Event::Record { record, callsite } => {
                    fmt.record(&mut out, &record, callsite);
                    records += 1;
                }
                Event::Lost(lost) => {
                    notices += 1;
                    let now = clock::unix_ns() as i64;
                    match lost {
                        Lost::Abandoned { slots, pid } => {
                            let msg = match pid {
                                Some(_) => "abandoned a record its producer died writing",
                                None => {
                                    "skipped a claim its producer never filled (died or stalled)"
                                }
                            };
                            let pid_s = pid.map(|p| p.to_string()).unwrap_or_default();
                            let mut fields = vec![("slots", NoticeValue::U64(slots))];
                            if pid.is_some() {
                                fields.push(("producer_pid", NoticeValue::Str(&pid_s)));
                            }
                            fmt.notice(&mut out, now, Level::Warn, msg, &fields);
                        }
                        Lost::Corrupt { reason } => fmt.notice(
                            &mut out,
                            now,
                            Level::Error,
                            "skipped damaged record",
                            &[("reason", NoticeValue::Str(&reason))],
                        ),
                    }
                }
            });
            if last.events < chunk || records as usize >= cfg.batch_records {
                break;
            }
        }
        let dropped = drops_notice(seg, &mut fmt, &mut out);
        notices += dropped.is_some() as u64;
        if !out.is_empty() || reader.unreleased() > 0 {
            commit(seg, sink, &mut reader, &out, signals)?;
            if let Some(d) = dropped {
                // SYNC: Relaxed; bookkeeping of what was reported (only this drain writes it).
                seg.shared()
                    .drain
                    .reported_dropped
                    .store(d, Ordering::Relaxed);
            }
            summary.records += records;
            summary.notices += notices;
        }
        if last.events > 0 {
            idle.reset();
            stalled_since = None;
            continue;
        }
        if last.idle {
            if cfg.once || stopping {
                break;
            }
            if idle.rounds == 64 {
                // Newly idle: a cheap moment to check the header was not damaged under us.
                seg.check_cursors()?;
            }
        } else if last.stalled {
            let since = *stalled_since.get_or_insert_with(Instant::now);
            if (cfg.once || stopping) && since.elapsed() >= cfg.stall_exit_after {
                eprintln!(
                    "ringdrain: a living producer has held a record open for {:?}; exiting with it still in the ring (position {})",
                    since.elapsed(),
                    reader.position()
                );
                break;
            }
        }
        idle.wait();
    }
    Ok(summary)
}

/// Appends a notice if producers dropped records since the last one; returns the new total.
fn drops_notice(seg: &Segment, fmt: &mut Formatter, out: &mut Vec<u8>) -> Option<u64> {
    let c = &seg.shared().counters;
    let d = &seg.shared().drain;
    // SYNC: Relaxed; counters, no data depends on them.
    let dropped = c.dropped.load(Ordering::Relaxed);
    let reported = d.reported_dropped.load(Ordering::Relaxed);
    if dropped <= reported {
        return None;
    }
    let since = c.dropped_since_ns.swap(0, Ordering::Relaxed);
    let mut since_s = Vec::new();
    if since != 0 {
        fmt.write_ts(&mut since_s, since as i64);
    }
    let since_s = String::from_utf8(since_s).unwrap_or_default();
    let mut fields = vec![
        ("dropped", NoticeValue::U64(dropped - reported)),
        ("dropped_total", NoticeValue::U64(dropped)),
    ];
    if !since_s.is_empty() {
        fields.push(("since", NoticeValue::Str(&since_s)));
    }
    fmt.notice(
        out,
        clock::unix_ns() as i64,
        Level::Warn,
        "producers dropped records (ring full or no drain)",
        &fields,
    );
    Some(dropped)
}

/// Writes a batch under the checkpoint protocol, retrying output errors without losing or
/// releasing anything; then releases the batch's slots.
fn commit(
    seg: &Segment,
    sink: &mut Sink,
    reader: &mut Reader<'_>,
    out: &[u8],
    signals: &Signals,
) -> anyhow::Result<()> {
    let mut delay = Duration::from_millis(10);
    let mut last_report: Option<Instant> = None;
    let mut failures_while_stopping = 0;
    if !out.is_empty() {
        loop {
            let res = sink.prepare(out.len() as u64).and_then(|file| {
                checkpoint::begin(seg, reader.position(), file, out);
                sink.write_batch(out)
            });
            match res {
                Ok(()) => break,
                Err(e) => {
                    checkpoint::finish(seg);
                    if last_report.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
                        eprintln!(
                            "ringdrain: cannot write output: {e}; {} records stay in the ring, retrying",
                            reader.unreleased()
                        );
                        last_report = Some(Instant::now());
                    }
                    if e.kind() == std::io::ErrorKind::BrokenPipe {
                        bail!("output closed (broken pipe); undrained records stay in the ring");
                    }
                    if signals.stop.load(Ordering::Relaxed) {
                        failures_while_stopping += 1;
                        if failures_while_stopping >= 5 {
                            bail!("cannot write output while stopping: {e}; undrained records stay in the ring for the next drain");
                        }
                    }
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_secs(1));
                }
            }
        }
        if last_report.is_some() {
            eprintln!("ringdrain: output recovered");
        }
    }
    reader.release();
    checkpoint::finish(seg);
    Ok(())
}
