//! The drain loop: read -> format -> write -> checkpoint -> release, with adaptive idle
//! backoff, loss notices, output-error retry, signals and the heartbeat producers watch.
//!
//! A drain may have several outputs (a file plus a syslog receiver, say): each gets the batch
//! in its own encoding, and the batch's records leave the ring once every output accepted it.
//! Network outputs are written first and the file last, under the checkpoint: a batch found in
//! the file after a crash was accepted by the network outputs too.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use ringlog_segment::reader::{Event, Lost, PollResult, Reader, StallPolicy};
use ringlog_segment::{clock, DrainLease, Segment, SegmentConfig};
use ringlog_wire::record::Level;

use crate::checkpoint::{self, Reconciled};
use crate::exit::Sysexit;
use crate::format::{Format, Formatter, NoticeValue};
use crate::monitor::Monitor;
use crate::recall::{Gate, Verdict};
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
    /// A syslog receiver (RFC 5424 over TCP or TLS).
    Syslog(crate::syslog::SyslogConfig),
    /// An OTLP/HTTP collector.
    Otlp(crate::otlp::OtlpConfig),
}

/// Most bytes in one batch for a network output: a connection lost mid-batch makes the drain
/// send the whole batch again, so a small batch keeps what can arrive twice small.
pub const NETWORK_BATCH_BYTES: usize = 64 << 10;

/// Everything `ringdrain` needs to run.
#[derive(Debug, Clone)]
pub struct DrainConfig {
    /// Segment paths (one drain may serve several rings).
    pub rings: Vec<PathBuf>,
    /// Sizes for a segment this drain creates.
    pub segment: SegmentConfig,
    /// Output.
    pub output: Output,
    /// More outputs that get every batch too (e.g. `--out` and `--syslog`).
    pub also: Vec<Output>,
    /// Format.
    pub format: Format,
    /// With several rings: order each batch's lines by timestamp across rings.
    pub merge: bool,
    /// Drain the backlog and exit.
    pub once: bool,
    /// Stall handling.
    pub stall: StallPolicy,
    /// How long `--once` and shutdown wait on a stalled (slow, living) producer.
    pub stall_exit_after: Duration,
    /// Most records per batch.
    pub batch_records: usize,
    /// Told when the drain is ready, alive, stopping, and what it wrote (systemd, metrics).
    pub monitor: Option<Arc<crate::monitor::Monitor>>,
    /// Write only records at this level or more severe (`None`: all).
    pub min_level: Option<Level>,
    /// Flight recorder: records below `min_level` kept for a recall (0: off; see `recall`).
    pub flight_recorder: usize,
    /// Rate limits (see `limit`).
    pub limits: Vec<crate::limit::Rule>,
}

impl DrainConfig {
    /// Defaults for `ring` writing `output`.
    pub fn new(ring: PathBuf, output: Output) -> Self {
        DrainConfig {
            rings: vec![ring],
            segment: SegmentConfig::default(),
            output,
            also: Vec::new(),
            format: Format::Text,
            merge: false,
            once: false,
            stall: StallPolicy::default(),
            stall_exit_after: Duration::from_secs(2),
            batch_records: 8192,
            monitor: None,
            min_level: None,
            flight_recorder: 0,
            limits: Vec::new(),
        }
    }
}

/// Flags set by signal handlers (or tests).
#[derive(Debug, Clone, Default)]
pub struct Signals {
    /// SIGINT/SIGTERM: drain what was claimed until then and exit.
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
    /// Records producers dropped (reported in notices).
    pub dropped: u64,
    /// Slots abandoned by producers that died or stalled mid-record.
    pub abandoned_slots: u64,
    /// Damaged records skipped.
    pub corrupt: u64,
    /// Start-up reconciliation, if a previous drain left a batch pending.
    pub reconciled: Option<String>,
    /// What `--level`, the flight recorder and `--limit` did.
    pub gate: crate::recall::GateCounts,
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
        Output::Syslog(c) => Sink::Syslog(crate::syslog::SyslogSink::new(c).map_err(|e| {
            Sysexit::Unavailable.msg(format_args!("syslog output {}: {e}", c.endpoint))
        })?),
        Output::Otlp(c) => Sink::Otlp(crate::otlp::OtlpSink::new(c).map_err(|e| {
            Sysexit::Unavailable.msg(format_args!("OTLP output {}: {e}", c.endpoint))
        })?),
    })
}

/// Runs the drain until stopped (or, with `once`, until the backlog is written).
pub fn run(cfg: &DrainConfig, signals: &Signals) -> anyhow::Result<Summary> {
    if cfg.rings.is_empty() {
        bail!("no ring to drain");
    }
    let mut sinks = vec![open_output(&cfg.output)?];
    for o in &cfg.also {
        sinks.push(open_output(o)?);
    }
    // Network outputs first, the file (checked by the checkpoint) last; see the module docs.
    sinks.sort_by_key(|s| !s.is_network());
    let mut segments = Vec::new();
    for ring in &cfg.rings {
        let (seg, _) = Segment::create_or_open(ring, &cfg.segment)
            .with_context(|| format!("cannot open ring {}", ring.display()))?;
        segments.push(seg);
    }
    // One drain per ring: the lease refuses while another living drain (or this one, for a
    // ring named twice) holds it. The readers own the leases; they go when drain_loop returns.
    let leases = segments
        .iter()
        .map(|seg| seg.acquire_drain().map_err(anyhow::Error::from))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let heartbeat_stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            // SYNC: Relaxed; a stop flag, nothing depends on its ordering.
            while !heartbeat_stop.load(Ordering::Relaxed) {
                for seg in &segments {
                    // SYNC: Relaxed; a liveness hint (see Logger::drain_alive).
                    seg.shared()
                        .drain
                        .heartbeat_ns
                        .store(clock::unix_ns(), Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let r = drain_loop(cfg, signals, leases, &mut sinks);
        // SYNC: Relaxed; see above.
        heartbeat_stop.store(true, Ordering::Relaxed);
        r
    })
}

/// One ring being drained.
struct Source<'s> {
    seg: &'s Segment,
    reader: Reader<'s>,
    /// One formatter per output.
    fmts: Vec<Formatter>,
    /// Position to stop at (`--once`, or after a stop signal).
    finish_at: Option<u64>,
    stalled_since: Option<Instant>,
    /// Finished (reached `finish_at`, or gave up on a stalled producer while finishing).
    done: bool,
    /// Drop total to record as reported once the current batch is written.
    dropped_pending: Option<u64>,
    /// Contributed to the current batch.
    in_batch: bool,
}

impl Source<'_> {
    /// Where to finish: the claim cursor, bounded by the geometry so a damaged cursor is
    /// never chased (`Reader::claim_bound`).
    fn claim(&self) -> u64 {
        self.reader.claim_bound()
    }
}

/// A formatted event waiting to be merged: its timestamp, and where its bytes are in each
/// output's staging buffer (`spans[at..at + outputs]`).
struct Staged {
    unix_ns: i64,
    at: usize,
}

fn drain_loop(
    cfg: &DrainConfig,
    signals: &Signals,
    leases: Vec<DrainLease<'_>>,
    sinks: &mut [Sink],
) -> anyhow::Result<Summary> {
    let mut summary = Summary::default();
    let mut sources = Vec::new();
    for lease in leases {
        let seg = lease.segment();
        let mut reader = Reader::new(lease).with_policy(cfg.stall);
        // The last output is the one the checkpoint brackets (see `commit`).
        let Some(checked) = sinks.last_mut() else {
            bail!("no output");
        };
        let reconciled = checkpoint::reconcile(seg, checked, &mut reader).with_context(|| {
            format!(
                "cannot reconcile the checkpoint of {}",
                seg.path().display()
            )
        })?;
        if reconciled != Reconciled::Clean {
            summary.reconciled = Some(format!("{reconciled:?}"));
            if reconciled == Reconciled::Unverifiable {
                eprintln!("ringdrain: warning: the last batch of {} before a drain crash cannot be verified in the output; it is written again and may appear twice", seg.path().display());
            }
        }
        let fmts = sinks
            .iter()
            .map(|sink| {
                let mut f = Formatter::new(cfg.format, seg.calibration());
                f.set_network(sink.network());
                f
            })
            .collect();
        let mut src = Source {
            seg,
            reader,
            fmts,
            finish_at: None,
            stalled_since: None,
            done: false,
            dropped_pending: None,
            in_batch: false,
        };
        // With --once the drain writes what was claimed when it started and exits, even if
        // producers keep logging.
        if cfg.once {
            src.finish_at = Some(src.claim());
        }
        sources.push(src);
    }
    let monitor = cfg.monitor.as_deref();
    if let Some(m) = monitor {
        m.ready();
    }
    let merge = cfg.merge && sources.len() > 1;
    let mut gate = Gate::new(
        cfg.min_level,
        cfg.flight_recorder,
        crate::limit::Limiter::new(cfg.limits.clone()),
    );
    let gated = !gate.is_open();
    let mut anchor_at = Instant::now() - Duration::from_secs(10);
    let mut outs: Vec<Vec<u8>> = sinks.iter().map(|_| Vec::with_capacity(1 << 20)).collect();
    let mut stagings: Vec<Vec<u8>> = vec![Vec::new(); sinks.len()];
    let mut staged: Vec<Staged> = Vec::new();
    let mut spans: Vec<(usize, usize)> = Vec::new();
    let mut idle = Idle { rounds: 0 };
    // Keep a batch well under the rotation size, so files stay within it.
    let mut max_batch_bytes = match &cfg.output {
        Output::File { rotation, .. } if rotation.max_bytes > 0 => {
            ((rotation.max_bytes / 4) as usize).clamp(1, 1 << 20)
        }
        _ => 1 << 20,
    };
    if sinks.iter().any(Sink::is_network) {
        max_batch_bytes = max_batch_bytes.min(NETWORK_BATCH_BYTES);
    }
    let per_source_bytes = (max_batch_bytes / sources.len()).max(1);
    let chunk = (per_source_bytes / 256)
        .clamp(1, 1024)
        .min(cfg.batch_records.max(1));
    loop {
        // SYNC: Relaxed; flags set by signal handlers, nothing depends on their ordering.
        if signals.reopen.swap(false, Ordering::Relaxed) {
            for sink in sinks.iter_mut() {
                if let Err(e) = sink.reopen() {
                    eprintln!("ringdrain: cannot reopen output {}: {e}", sink.describe());
                }
            }
        }
        // SYNC: Relaxed; as above.
        let stopping = signals.stop.load(Ordering::Relaxed);
        if let Some(m) = monitor {
            m.tick();
            if stopping {
                m.stopping();
            }
        }
        for src in &mut sources {
            if stopping && src.finish_at.is_none() {
                // Asked to stop: write what was claimed until now, then exit.
                src.finish_at = Some(src.claim());
            }
            if src
                .finish_at
                .is_some_and(|end| src.reader.position() >= end)
                && src.reader.unreleased() == 0
            {
                src.done = true;
            }
        }
        if sources.iter().all(|s| s.done) {
            // Windows still open report what they suppressed before the drain exits.
            if let Some(limiter) = gate.limiter_mut() {
                let reports = limiter.finish();
                if !reports.is_empty() {
                    let fmts = &mut sources[0].fmts;
                    outs.iter_mut().for_each(Vec::clear);
                    for r in &reports {
                        for (fmt, out) in fmts.iter_mut().zip(outs.iter_mut()) {
                            suppressed_notice(fmt, out, r);
                        }
                    }
                    summary.notices += reports.len() as u64;
                    commit(&mut sources, sinks, &outs, signals, monitor)?;
                }
            }
            summary.gate = gate.counts();
            break;
        }
        if anchor_at.elapsed() >= Duration::from_secs(1) {
            anchor_at = Instant::now();
            for src in &mut sources {
                let c = src.fmts[0]
                    .calibration()
                    .reanchor(clock::now_raw(src.seg.clock_kind()), clock::unix_ns());
                for fmt in &mut src.fmts {
                    fmt.set_calibration(c);
                }
            }
        }
        outs.iter_mut().for_each(Vec::clear);
        stagings.iter_mut().for_each(Vec::clear);
        staged.clear();
        spans.clear();
        let (mut records, mut notices) = (0u64, 0u64);
        let (mut dropped, mut abandoned, mut corrupt) = (0u64, 0u64, 0u64);
        let mut any_events = false;
        let mut all_quiet = true;
        let mut limit_reports = match gate.limiter_mut() {
            Some(l) => l.due(clock::unix_ns() as i64),
            None => Vec::new(),
        };
        for (ring, src) in sources.iter_mut().enumerate().filter(|(_, s)| !s.done) {
            src.in_batch = false;
            let bufs = if merge { &mut stagings } else { &mut outs };
            let start_len = bufs[0].len();
            let mut last = PollResult::default();
            while bufs[0].len() - start_len < per_source_bytes {
                let fmts = &mut src.fmts;
                last = src.reader.poll(chunk, |ev| {
                    if gated {
                        let verdict = match &ev {
                            Event::Record { record, callsite } => {
                                let ts = fmts[0].calibration().to_unix_ns(record.header.timestamp);
                                gate.on_record(ring, record, *callsite, ts)
                            }
                            Event::Lost(Lost::Abandoned { .. }) => gate.on_abandoned(),
                            Event::Lost(Lost::Corrupt { .. }) => Verdict::Write,
                        };
                        if verdict.recalls() {
                            let recall = gate.take_kept();
                            for k in 0..recall.len() {
                                let at = spans.len();
                                let mut unix_ns = 0;
                                for (fmt, buf) in fmts.iter_mut().zip(bufs.iter_mut()) {
                                    let start = buf.len();
                                    unix_ns = recall.encode(k, fmt, buf);
                                    if merge {
                                        spans.push((start, buf.len()));
                                    }
                                }
                                records += 1;
                                if merge {
                                    staged.push(Staged { unix_ns, at });
                                }
                            }
                        }
                        if !verdict.writes() {
                            return;
                        }
                    }
                    let at = spans.len();
                    let mut unix_ns = 0;
                    for (i, (fmt, buf)) in fmts.iter_mut().zip(bufs.iter_mut()).enumerate() {
                        let start = buf.len();
                        let ts = match &ev {
                            Event::Record { record, callsite } => {
                                fmt.record(buf, record, *callsite)
                            }
                            Event::Lost(lost) => loss_notice(fmt, buf, lost),
                        };
                        if i == 0 {
                            unix_ns = ts;
                        }
                        if merge {
                            spans.push((start, buf.len()));
                        }
                    }
                    match ev {
                        Event::Record { .. } => records += 1,
                        Event::Lost(Lost::Abandoned { slots, .. }) => {
                            notices += 1;
                            abandoned += slots;
                        }
                        Event::Lost(Lost::Corrupt { .. }) => {
                            notices += 1;
                            corrupt += 1;
                        }
                    }
                    if merge {
                        staged.push(Staged { unix_ns, at });
                    }
                });
                if last.events < chunk || records as usize >= cfg.batch_records {
                    break;
                }
            }
            for r in limit_reports.drain(..) {
                let at = spans.len();
                let now = clock::unix_ns() as i64;
                for (fmt, buf) in src.fmts.iter_mut().zip(bufs.iter_mut()) {
                    let start = buf.len();
                    suppressed_notice(fmt, buf, &r);
                    if merge {
                        spans.push((start, buf.len()));
                    }
                }
                notices += 1;
                if merge {
                    staged.push(Staged { unix_ns: now, at });
                }
            }
            src.dropped_pending = None;
            if let Some(drops) = pending_drops(src.seg) {
                let at = spans.len();
                for (fmt, buf) in src.fmts.iter_mut().zip(bufs.iter_mut()) {
                    let start = buf.len();
                    drops_notice(fmt, buf, &drops);
                    if merge {
                        spans.push((start, buf.len()));
                    }
                }
                notices += 1;
                dropped += drops.new;
                if merge {
                    staged.push(Staged {
                        unix_ns: drops.now,
                        at,
                    });
                }
                src.dropped_pending = Some(drops.total);
            }
            src.in_batch = bufs[0].len() > start_len || src.reader.unreleased() > 0;
            if last.events > 0 {
                any_events = true;
                src.stalled_since = None;
            }
            if !last.idle {
                all_quiet = false;
            }
            if last.idle
                && src.finish_at.is_some()
                && src.reader.unreleased() == 0
                && last.events == 0
            {
                src.done = true;
            } else if last.stalled && last.events == 0 {
                let since = *src.stalled_since.get_or_insert_with(Instant::now);
                if src.finish_at.is_some() && since.elapsed() >= cfg.stall_exit_after {
                    eprintln!(
                        "ringdrain: a living producer has held a record open in {} for {:?}; exiting with it still in the ring (position {})",
                        src.seg.path().display(),
                        since.elapsed(),
                        src.reader.position()
                    );
                    src.done = true;
                }
            }
        }
        if merge && !staged.is_empty() {
            staged.sort_by_key(|s| s.unix_ns);
            for s in &staged {
                for (i, (out, staging)) in outs.iter_mut().zip(&stagings).enumerate() {
                    let (start, end) = spans[s.at + i];
                    out.extend_from_slice(&staging[start..end]);
                }
            }
        }
        if sources.iter().any(|s| s.in_batch) {
            commit(&mut sources, sinks, &outs, signals, monitor)?;
            summary.records += records;
            summary.notices += notices;
            summary.dropped += dropped;
            summary.abandoned_slots += abandoned;
            summary.corrupt += corrupt;
            summary.gate = gate.counts();
            if let Some(m) = monitor {
                m.batch(records, notices);
            }
        }
        if any_events {
            idle.reset();
            continue;
        }
        if all_quiet && idle.rounds == 64 {
            // Newly idle: a cheap moment to check no header was damaged under us.
            for src in &sources {
                src.seg.check_cursors()?;
            }
        }
        idle.wait();
    }
    Ok(summary)
}

/// Formats a loss as a notice line; returns its timestamp.
fn loss_notice(fmt: &mut Formatter, out: &mut Vec<u8>, lost: &Lost) -> i64 {
    let now = clock::unix_ns() as i64;
    match *lost {
        Lost::Abandoned { slots, pid } => {
            let msg = match pid {
                Some(_) => "abandoned a record its producer died writing",
                None => "skipped a claim its producer never filled (died or stalled)",
            };
            let pid_s = pid.map(|p| p.to_string()).unwrap_or_default();
            let mut fields = vec![("slots", NoticeValue::U64(slots))];
            if pid.is_some() {
                fields.push(("producer_pid", NoticeValue::Str(&pid_s)));
            }
            fmt.notice(out, now, Level::Warn, msg, &fields);
        }
        Lost::Corrupt { ref reason } => fmt.notice(
            out,
            now,
            Level::Error,
            "skipped damaged record",
            &[("reason", NoticeValue::Str(reason))],
        ),
    }
    now
}

/// Appends the notice of a rate limit's closed window.
fn suppressed_notice(fmt: &mut Formatter, out: &mut Vec<u8>, r: &crate::limit::Suppressed) {
    fmt.notice(
        out,
        clock::unix_ns() as i64,
        Level::Warn,
        &r.message(),
        &[
            ("suppressed", NoticeValue::U64(r.count)),
            ("limit", NoticeValue::Str(&r.rule)),
        ],
    );
}

/// Drops by producers not reported yet.
struct Drops {
    /// The segment's total.
    total: u64,
    /// Since the last notice.
    new: u64,
    /// When the first of them happened (Unix ns), 0 if unknown.
    since_ns: u64,
    /// Now (the notice's timestamp).
    now: i64,
}

/// Takes the drops producers made since the last notice, if any.
fn pending_drops(seg: &Segment) -> Option<Drops> {
    let c = &seg.shared().counters;
    let d = &seg.shared().drain;
    // SYNC: Relaxed; counters, no data depends on them.
    let dropped = c.dropped.load(Ordering::Relaxed);
    let reported = d.reported_dropped.load(Ordering::Relaxed);
    if dropped <= reported {
        return None;
    }
    Some(Drops {
        total: dropped,
        new: dropped - reported,
        // SYNC: Relaxed; as above.
        since_ns: c.dropped_since_ns.swap(0, Ordering::Relaxed),
        now: clock::unix_ns() as i64,
    })
}

/// Appends the notice for `drops`.
fn drops_notice(fmt: &mut Formatter, out: &mut Vec<u8>, drops: &Drops) {
    let mut since_s = Vec::new();
    if drops.since_ns != 0 {
        fmt.write_ts(&mut since_s, drops.since_ns as i64);
    }
    let since_s = String::from_utf8(since_s).unwrap_or_default();
    let mut fields = vec![
        ("dropped", NoticeValue::U64(drops.new)),
        ("dropped_total", NoticeValue::U64(drops.total)),
    ];
    if !since_s.is_empty() {
        fields.push(("since", NoticeValue::Str(&since_s)));
    }
    fmt.notice(
        out,
        drops.now,
        Level::Warn,
        "producers dropped records (ring full or no drain)",
        &fields,
    );
}

/// Writes a batch to every output, the last one under the checkpoint protocol (one checkpoint
/// in each ring that contributed), retrying output errors without losing or releasing
/// anything (an output that accepted the batch is not written again); then releases the
/// batch's slots in every contributing ring.
fn commit(
    sources: &mut [Source<'_>],
    sinks: &mut [Sink],
    outs: &[Vec<u8>],
    signals: &Signals,
    monitor: Option<&Monitor>,
) -> anyhow::Result<()> {
    let unreleased = || -> u64 { sources.iter().map(|s| s.reader.unreleased()).sum() };
    let last = sinks.len().saturating_sub(1);
    for (i, (sink, out)) in sinks.iter_mut().zip(outs).enumerate() {
        if out.is_empty() {
            continue;
        }
        let mut delay = Duration::from_millis(10);
        let mut last_report: Option<Instant> = None;
        let mut failures_while_stopping = 0;
        loop {
            let res = sink.prepare(out.len() as u64).and_then(|file| {
                if i == last {
                    for src in sources.iter().filter(|s| s.in_batch) {
                        checkpoint::begin(src.seg, src.reader.position(), file, out);
                    }
                }
                sink.write_batch(out)
            });
            if let Some(m) = monitor {
                m.written(
                    &sink.describe(),
                    res.as_ref().map(|_| out.len() as u64).map_err(drop),
                );
                m.tick();
            }
            match res {
                Ok(()) => break,
                Err(e) => {
                    if i == last {
                        for src in sources.iter().filter(|s| s.in_batch) {
                            checkpoint::finish(src.seg);
                        }
                    }
                    if last_report.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
                        eprintln!(
                            "ringdrain: cannot write output ({}): {e}; {} records stay in the ring, retrying",
                            sink.describe(),
                            unreleased()
                        );
                        last_report = Some(Instant::now());
                    }
                    if matches!(sink, Sink::Stdout(_)) && e.kind() == std::io::ErrorKind::BrokenPipe
                    {
                        bail!("output closed (broken pipe); undrained records stay in the ring");
                    }
                    // SYNC: Relaxed; a flag from a signal handler.
                    if signals.stop.load(Ordering::Relaxed) {
                        failures_while_stopping += 1;
                        if failures_while_stopping >= 5 {
                            bail!("cannot write output ({}) while stopping: {e}; undrained records stay in the ring for the next drain", sink.describe());
                        }
                    }
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_secs(1));
                }
            }
        }
        if last_report.is_some() {
            eprintln!("ringdrain: output recovered ({})", sink.describe());
        }
    }
    for src in sources.iter_mut().filter(|s| s.in_batch) {
        src.reader.release();
        checkpoint::finish(src.seg);
        if let Some(d) = src.dropped_pending.take() {
            // SYNC: Relaxed; bookkeeping of what was reported (only this drain writes it).
            src.seg
                .shared()
                .drain
                .reported_dropped
                .store(d, Ordering::Relaxed);
        }
        src.in_batch = false;
    }
    Ok(())
}
