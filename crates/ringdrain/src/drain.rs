//! The drain loop: read -> format -> write -> checkpoint -> release, with adaptive idle
//! backoff, loss notices, output-error retry, signals and the heartbeat producers watch.
//!
//! A drain may have several outputs (a file plus a syslog receiver, say): each gets the batch
//! in its own encoding, and the batch's records leave the ring once every output accepted it.
//! Network outputs are written first and the checked output (the file) last, under the
//! checkpoint: a batch found in the file after a crash was accepted by the network outputs too
//! (see [`Outputs`]).
//!
//! One turn of the loop fills a `Batch`: each ring's `Source` is polled (`Turn::read`); every
//! event becomes one [`RecordView`] (records decoded once, losses as notices) that
//! [`Outputs::encode`] hands to each output's encoder; with several rings merged, the items are
//! ordered by time; `Outputs::seal` frames the batch (the archive's chunk), and `commit`
//! writes it, checkpointed, and releases its records in the rings.

use std::io::Read;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use ringlog_segment::reader::{
    Bulk, Event, Lost, PollResult, Positions, Reader, SlotRun, StallPolicy,
};
use ringlog_segment::{clock, DrainLease, Segment, SegmentConfig};
use ringlog_wire::clock::Calibration;
use ringlog_wire::record::Level;
use ringlog_wire::view::{ArgBuf, RecordView};

use crate::archive::{ArchiveEncoder, Compression};
use crate::behind::{Flight, Settled, WriteBehind};
use crate::checkpoint::{self, Reconciled};
use crate::encode::{Encoder, Item};
use crate::exit::Sysexit;
use crate::format::{notice_view, Format, NoticeValue, Timestamps};
use crate::monitor::Monitor;
use crate::recall::{Gate, Verdict};
use crate::sink::{FileSink, Rotation, Sink};

/// How often the drain stores its heartbeat in each segment (see `Logger::drain_alive`).
const HEARTBEAT_EVERY: Duration = Duration::from_millis(200);

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
    /// Format of the file or stdout output.
    pub format: Format,
    /// With [`Format::Binary`]: compress each chunk with zstd at this level.
    pub archive_zstd: Option<i32>,
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
    /// Threads that format a large batch (`--format-threads`; 1: the drain thread alone; see
    /// `parallel`).
    pub format_threads: usize,
    /// Write a file output's batches on a thread of their own while the next batch is read
    /// (`--write-behind`; see `behind`).
    pub write_behind: bool,
    /// Longest idle sleep on the rings' wake words (`--idle-sleep-ms`; see `doze`).
    pub idle_sleep: Duration,
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
            archive_zstd: None,
            merge: false,
            once: false,
            stall: StallPolicy::default(),
            stall_exit_after: Duration::from_secs(2),
            batch_records: 8192,
            monitor: None,
            min_level: None,
            flight_recorder: 0,
            limits: Vec::new(),
            format_threads: crate::parallel::auto_threads(),
            write_behind: std::thread::available_parallelism().is_ok_and(|n| n.get() > 1),
            idle_sleep: crate::doze::SLEEP_TIMEOUT,
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
    /// The read end of a socket the signal handlers write a byte to after setting a flag
    /// above: a drain asleep on its rings' wake words is woken to act on it at once (a
    /// futex wait is restarted after a signal handler, so it would sleep its timeout out).
    pub wake: Option<Arc<UnixStream>>,
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
    /// Slots abandoned by producers that died or stalled mid-record, or revoked unowned
    /// claims.
    pub abandoned_slots: u64,
    /// Slots of revoked claims whose living producers claimed again while this drain ran
    /// (counted in `abandoned_slots` when revoked; their records were not lost).
    pub reclaimed_slots: u64,
    /// Damaged records skipped.
    pub corrupt: u64,
    /// Start-up reconciliation, if a previous drain left a batch pending.
    pub reconciled: Option<String>,
    /// What `--level`, the flight recorder and `--limit` did.
    pub gate: crate::recall::GateCounts,
    /// Batches formatted on several threads (`--format-threads`).
    pub parallel_batches: u64,
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

/// One output: where its bytes go, how views become bytes, and its share of the batch.
#[derive(Debug)]
pub struct Port {
    /// Where the bytes go.
    pub sink: Sink,
    /// How a view becomes bytes for this output.
    pub encoder: PortEncoder,
    /// The batch's bytes, in write order (sealed before the write).
    out: Vec<u8>,
    /// With rings merged: items' bytes in arrival order, `spans` giving each item's range.
    staging: Vec<u8>,
    spans: Vec<(usize, usize)>,
}

impl Port {
    fn new(sink: Sink, encoder: PortEncoder) -> Self {
        Port {
            sink,
            encoder,
            out: Vec::with_capacity(1 << 20),
            staging: Vec::new(),
            spans: Vec::new(),
        }
    }
}

/// An output's encoder: the binary archive by its type, so the drain's bulk path can hand it
/// records straight from their ring slots ([`ArchiveEncoder::encode_slot`]); any other behind
/// the [`Encoder`] trait. Both deref to `dyn Encoder`.
#[derive(Debug)]
pub enum PortEncoder {
    /// The binary archive.
    Archive(Box<ArchiveEncoder>),
    /// Any other encoding.
    Other(Box<dyn Encoder>),
}

impl std::ops::Deref for PortEncoder {
    type Target = dyn Encoder;
    fn deref(&self) -> &(dyn Encoder + 'static) {
        match self {
            PortEncoder::Archive(a) => &**a,
            PortEncoder::Other(e) => &**e,
        }
    }
}

impl std::ops::DerefMut for PortEncoder {
    fn deref_mut(&mut self) -> &mut (dyn Encoder + 'static) {
        match self {
            PortEncoder::Archive(a) => &mut **a,
            PortEncoder::Other(e) => &mut **e,
        }
    }
}

/// The drain's outputs: the network receivers, and the one output the checkpoint brackets
/// (the file, or stdout; a network receiver when it is the only output). Each batch goes to
/// the network outputs first and to the checked one last, so a batch found in the file after
/// a crash was accepted by every other output too.
#[derive(Debug)]
pub struct Outputs {
    /// Network outputs (syslog, OTLP), written first.
    pub network: Vec<Port>,
    /// The output under the checkpoint, written last.
    pub checked: Port,
}

impl Outputs {
    /// Opens `cfg`'s outputs with their encoders.
    pub fn open(cfg: &DrainConfig) -> anyhow::Result<Outputs> {
        let mut network = Vec::new();
        let mut local = Vec::new();
        for output in std::iter::once(&cfg.output).chain(&cfg.also) {
            let sink = open_output(output)?;
            let port = Port::new(sink, encoder_for(output, cfg));
            if port.sink.is_network() {
                network.push(port);
            } else {
                local.push(port);
            }
        }
        // The last file or stdout output is checked (there is at most one); with none, the
        // last network output.
        let checked = match local.pop() {
            Some(p) => p,
            None => network.pop().context("no output")?,
        };
        // Any other local output is written like a network one: before the checked one.
        network.extend(local);
        Ok(Outputs { network, checked })
    }

    /// Every output, in write order: the network ones, then the checked one.
    pub fn ports_mut(&mut self) -> impl Iterator<Item = &mut Port> {
        self.network
            .iter_mut()
            .chain(std::iter::once(&mut self.checked))
    }

    fn ports(&self) -> impl Iterator<Item = &Port> {
        self.network.iter().chain(std::iter::once(&self.checked))
    }

    /// Whether any output's encoder reads records' decoded arguments
    /// ([`Encoder::needs_args`]).
    pub fn need_args(&self) -> bool {
        self.ports().any(|p| p.encoder.needs_args())
    }

    /// Whether any output is a network receiver.
    pub fn any_network(&self) -> bool {
        self.ports().any(|p| p.sink.is_network())
    }

    /// Bytes of the batch so far, measured in the first output's encoding.
    fn batch_len(&self, merge: bool) -> usize {
        let first = self.ports().next().unwrap_or(&self.checked);
        if merge {
            first.staging.len()
        } else {
            first.out.len()
        }
    }

    /// Encodes one item for every output; with `merge`, into the staging buffers, recording
    /// its byte range in each.
    #[inline]
    pub fn encode(&mut self, item: &Item<'_>, merge: bool) {
        if !merge && self.network.is_empty() {
            // One output, no staging (the common case): its encoder directly.
            let port = &mut self.checked;
            port.encoder.encode(&mut port.out, item);
            return;
        }
        for port in self.ports_mut() {
            let buf = if merge {
                &mut port.staging
            } else {
                &mut port.out
            };
            let start = buf.len();
            port.encoder.encode(buf, item);
            if merge {
                port.spans.push((start, buf.len()));
            }
        }
    }

    /// Empties every output's batch buffers.
    fn clear(&mut self) {
        for port in self.ports_mut() {
            port.out.clear();
            port.staging.clear();
            port.spans.clear();
        }
    }

    /// Copies the staged items into each output's batch in `order` (indices of items, as
    /// encoded).
    fn unstage(&mut self, order: impl Iterator<Item = usize> + Clone) {
        for port in self.ports_mut() {
            for i in order.clone() {
                let (start, end) = port.spans[i];
                port.out.extend_from_slice(&port.staging[start..end]);
            }
        }
    }

    /// Frames each output's batch for writing ([`Encoder::seal`]).
    fn seal(&mut self) {
        for port in self.ports_mut() {
            port.encoder.seal(&mut port.out, 0);
        }
    }
}

/// The encoder for `output`: a network output's own encoding, else `cfg.format`.
fn encoder_for(output: &Output, cfg: &DrainConfig) -> PortEncoder {
    match output {
        Output::Syslog(c) => PortEncoder::Other(Box::new(crate::syslog::SyslogEncoder::new(
            c.header.clone(),
        ))),
        Output::Otlp(_) => PortEncoder::Other(Box::new(crate::otlp::OtlpEncoder)),
        Output::File { .. } | Output::Stdout => match (cfg.format, cfg.archive_zstd) {
            (Format::Binary, zstd) => {
                PortEncoder::Archive(Box::new(ArchiveEncoder::new(match zstd {
                    Some(level) => Compression::Zstd(level),
                    None => Compression::None,
                })))
            }
            (format, _) => PortEncoder::Other(crate::encode::encoder(format)),
        },
    }
}

/// Runs the drain until stopped (or, with `once`, until the backlog is written).
pub fn run(cfg: &DrainConfig, signals: &Signals) -> anyhow::Result<Summary> {
    if cfg.rings.is_empty() {
        bail!("no ring to drain");
    }
    let mut outputs = Outputs::open(cfg)?;
    let mut segments = Vec::new();
    for ring in &cfg.rings {
        let (seg, _) = Segment::create_or_open(ring, &cfg.segment)
            .map_err(|e| crate::exit::open_ring_error(ring, e))?;
        crate::stats::warn_wide_mode(&seg, cfg.segment.mode);
        segments.push(seg);
    }
    // One drain per ring: the lease refuses while another living drain (or this one, for a
    // ring named twice) holds it. The readers own the leases; they go when drain_loop returns.
    let leases = segments
        .iter()
        .map(|seg| seg.acquire_drain().map_err(anyhow::Error::from))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let (done_rx, done_tx) =
        UnixStream::pair().context("cannot create the heartbeat thread's socket")?;
    std::thread::scope(|s| {
        let heartbeat = s.spawn(|| heartbeat(&segments, &done_rx, signals.wake.as_deref()));
        // Closed when the loop returns (or unwinds): the heartbeat thread sees its socket's
        // end and stops at once, not up to a period later.
        let done = done_tx;
        let r = drain_loop(cfg, signals, leases, &mut outputs);
        drop(done);
        let _ = heartbeat.join();
        r
    })
}

/// The heartbeat thread: stores the drain's heartbeat in every ring every [`HEARTBEAT_EVERY`]
/// (producers call a drain dead after 1 s without a beat, five missed; an idle drain's
/// wake-ups are mostly these: issue 13, < 0.1% of a core idle), and wakes the drain from its
/// idle sleep on the rings' wake words when a signal handler wrote to `wake`. Returns when the
/// other end of `done` is closed.
fn heartbeat(segments: &[Segment], done: &UnixStream, wake: Option<&UnixStream>) {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let period = Timespec {
        tv_sec: HEARTBEAT_EVERY.as_secs() as i64,
        tv_nsec: HEARTBEAT_EVERY.subsec_nanos().into(),
    };
    loop {
        for seg in segments {
            // SYNC: Relaxed; a liveness hint (see Logger::drain_alive).
            seg.shared()
                .drain
                .heartbeat_ns
                .store(clock::unix_ns(), Ordering::Relaxed);
        }
        let mut fds = vec![PollFd::new(done, PollFlags::IN)];
        if let Some(w) = wake {
            fds.push(PollFd::new(w, PollFlags::IN));
        }
        match poll(&mut fds, Some(&period)) {
            Ok(_) => {}
            // A signal handler ran on this thread: the byte it wrote is read next time round.
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => {
                // Cannot happen with these arguments; beat on without the wake-ups.
                std::thread::sleep(HEARTBEAT_EVERY);
                continue;
            }
        }
        if !fds[0].revents().is_empty() {
            return;
        }
        if fds.get(1).is_some_and(|f| !f.revents().is_empty()) {
            if let Some(mut w) = wake {
                // Non-blocking: take every byte the handlers wrote (several signals fold
                // into one wake-up).
                let mut buf = [0u8; 64];
                while matches!(w.read(&mut buf), Ok(n) if n > 0) {}
            }
            // The handler set its flag before it wrote (signal-hook runs a signal's actions
            // in the order they were registered): the woken drain sees the flag.
            for seg in segments {
                seg.notify_drain();
            }
        }
    }
}

/// One ring being drained. The reader's position calls (which become per-lane with lanes)
/// are kept behind the methods below.
struct Source<'s> {
    seg: &'s Segment,
    reader: Reader<'s>,
    /// Which of the drain's rings (callsite ids are per ring).
    index: u32,
    /// Converts the ring's clock to Unix time (re-anchored every second).
    calibration: Calibration,
    /// Position to stop at (`--once`, or after a stop signal).
    finish_at: Option<Positions>,
    stalled_since: Option<Instant>,
    /// Finished (reached `finish_at`, or gave up on a stalled producer while finishing).
    done: bool,
    /// Drop total to record as reported once the current batch is written.
    dropped_pending: Option<u64>,
    /// Contributed to the current batch.
    in_batch: bool,
    /// The segment's count of reclaimed slots when this drain started.
    reclaimed_at_start: u64,
}

impl Source<'_> {
    /// Where to finish: each lane's claim cursor, bounded by the geometry so a damaged cursor
    /// is never chased (`Reader::claim_bounds`).
    fn claim(&self) -> Positions {
        self.reader.claim_bounds()
    }

    /// Records read but not yet released.
    fn unreleased(&self) -> u64 {
        self.reader.unreleased()
    }

    /// Whether everything up to `finish_at` is read and released.
    fn finished(&self) -> bool {
        self.finish_at
            .as_ref()
            .is_some_and(|end| self.reader.reached(end))
            && self.unreleased() == 0
    }

    /// Where the batch handed out so far ends in each lane (the checkpoint's `pending_end`).
    fn batch_end(&self) -> Positions {
        self.reader.positions()
    }
}

/// An event waiting to be merged: its timestamp, and its index among the batch's items (each
/// output's `spans[idx]` is its byte range in that output's staging buffer).
struct Staged {
    unix_ns: i64,
    idx: usize,
}

/// What one turn of the loop read and encoded: the counts it adds to the [`Summary`] once
/// written, and, with rings merged, the items to order by time.
#[derive(Default)]
struct Batch {
    records: u64,
    notices: u64,
    dropped: u64,
    abandoned: u64,
    corrupt: u64,
    /// Some source delivered events.
    any_events: bool,
    /// Every source's ring was idle.
    all_quiet: bool,
    /// Some source stopped reading because the batch was full, not because it ran dry.
    more: bool,
    /// With merge: the items in arrival order.
    staged: Vec<Staged>,
    /// With `--format-threads` > 1: the records, formatted when the batch is complete.
    deferred: Option<crate::parallel::Deferred>,
}

impl Batch {
    fn clear(&mut self) {
        let staged = std::mem::take(&mut self.staged);
        let deferred = self.deferred.take();
        *self = Batch {
            all_quiet: true,
            staged,
            deferred,
            ..Batch::default()
        };
        self.staged.clear();
        if let Some(d) = &mut self.deferred {
            d.clear();
        }
    }

    /// Bytes of the batch so far (estimated for deferred records).
    fn len(&self, outputs: &Outputs, merge: bool) -> usize {
        outputs.batch_len(merge) + self.deferred.as_ref().map_or(0, |d| d.estimated_len())
    }

    /// Encodes `view` for every output (the one place every record and notice passes:
    /// a stage that filters or copies items belongs here).
    #[inline]
    fn push(
        &mut self,
        outputs: &mut Outputs,
        view: &RecordView<'_>,
        wire: Option<&ringlog_wire::decode::RecordRef<'_>>,
        source: u32,
        merge: bool,
    ) {
        if let Some(d) = &mut self.deferred {
            // Deferred formatting: a notice is encoded now, in its place (parallel.rs).
            d.notice(&mut *outputs.checked.encoder, view);
            return;
        }
        let item = Item { view, wire, source };
        if merge {
            self.staged.push(Staged {
                unix_ns: view.unix_ns,
                idx: self.staged.len(),
            });
        }
        outputs.encode(&item, merge);
    }

    fn add_to(&self, summary: &mut Summary) {
        summary.records += self.records;
        summary.notices += self.notices;
        summary.dropped += self.dropped;
        summary.abandoned_slots += self.abandoned;
        summary.corrupt += self.corrupt;
    }
}

fn drain_loop(
    cfg: &DrainConfig,
    signals: &Signals,
    leases: Vec<DrainLease<'_>>,
    outputs: &mut Outputs,
) -> anyhow::Result<Summary> {
    let mut summary = Summary::default();
    let mut sources = open_sources(cfg, leases, outputs, &mut summary)?;
    let monitor = cfg.monitor.as_deref();
    if let Some(m) = monitor {
        m.ready();
    }
    let mut gate = Gate::new(
        cfg.min_level,
        cfg.flight_recorder,
        crate::limit::Limiter::new(cfg.limits.clone()),
    );
    let mut batch = Batch::default();
    let plan = Plan::new(cfg, sources.len(), outputs, !gate.is_open(), &mut batch);
    let mut behind = start_write_behind(cfg, outputs, &batch);
    let mut ts = Timestamps::default();
    // Scratch: a record's payload copied out of its slot for the general path.
    let mut slot_payload = Vec::new();
    let mut anchor_at = Instant::now() - Duration::from_secs(10);
    let mut idle = Idle { rounds: 0 };
    let mut doze = crate::doze::Doze::new(sources.len(), cfg.idle_sleep);
    let sleep_on: Vec<&Segment> = sources.iter().map(|s| s.seg).collect();
    loop {
        // SYNC: Relaxed; flags set by signal handlers, nothing depends on their ordering.
        if signals.reopen.swap(false, Ordering::Relaxed) {
            // The batch being written goes to the file it was begun in.
            settle(behind.as_mut(), &mut sources, outputs, signals, monitor)?;
            for port in outputs.ports_mut() {
                if let Err(e) = port.sink.reopen() {
                    eprintln!(
                        "ringdrain: cannot reopen output {}: {e}",
                        port.sink.describe()
                    );
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
            if src.finished() {
                src.done = true;
            }
        }
        if sources.iter().all(|s| s.done) {
            settle(behind.as_mut(), &mut sources, outputs, signals, monitor)?;
            let end = (&mut gate, &mut batch, &mut summary);
            finish(&plan, &mut sources, outputs, signals, monitor, end)?;
            summary.gate = gate.counts();
            doze.finish(&sleep_on);
            break;
        }
        if anchor_at.elapsed() >= Duration::from_secs(1) {
            anchor_at = Instant::now();
            for src in &mut sources {
                src.calibration = src
                    .calibration
                    .reanchor(clock::now_raw(src.seg.clock_kind()), clock::unix_ns());
            }
        }
        outputs.clear();
        batch.clear();
        let mut limit_reports = match gate.limiter_mut() {
            Some(l) => l.due(clock::unix_ns() as i64),
            None => Vec::new(),
        };
        for src in sources.iter_mut().filter(|s| !s.done) {
            let mut turn = Turn {
                plan: &plan,
                batch: &mut batch,
                outputs: &mut *outputs,
                gate: &mut gate,
                slot_payload: &mut slot_payload,
            };
            let start_len = turn.len();
            turn.read(src, cfg);
            // A batch being written behind may report drops the segment does not know are
            // reported yet: later batches report only drops past its total.
            let in_flight = behind
                .as_ref()
                .and_then(|wb| wb.dropped_in_flight(src.index as usize))
                .unwrap_or(0);
            turn.notices(src, limit_reports.drain(..), in_flight, &mut ts);
            src.in_batch = turn.len() > start_len || src.unreleased() > 0;
        }
        if plan.merge && !batch.staged.is_empty() {
            batch.staged.sort_by_key(|s| s.unix_ns);
            outputs.unstage(batch.staged.iter().map(|s| s.idx));
        }
        if let Some(d) = &mut batch.deferred {
            if !d.is_empty() && d.format_into(&mut outputs.checked.out)? {
                summary.parallel_batches += 1;
            }
        }
        if sources.iter().any(|s| s.in_batch) {
            outputs.seal();
            commit(
                &mut sources,
                outputs,
                signals,
                monitor,
                behind.as_mut(),
                batch.more,
            )?;
            batch.add_to(&mut summary);
            summary.gate = gate.counts();
            if let Some(m) = monitor {
                m.batch(batch.records, batch.notices);
            }
        }
        if !batch.any_events {
            // Nothing new: what is being written is all there is; release it before idling.
            settle(behind.as_mut(), &mut sources, outputs, signals, monitor)?;
        }
        if batch.any_events {
            doze.busy(&sleep_on);
            idle.reset();
            continue;
        }
        if batch.all_quiet && idle.rounds == 64 {
            // Newly idle: a cheap moment to check no header was damaged under us.
            for src in &sources {
                src.seg.check_cursors()?;
            }
        }
        // Long idle: sleep on the ring's futex until a producer commits (doze.rs).
        let may_sleep = batch.all_quiet && sources.iter().all(|s| s.finish_at.is_none());
        if doze.idle_turn(&sleep_on, idle.rounds, may_sleep) {
            continue;
        }
        idle.wait();
    }
    // The revoked claims whose living producers claimed again while this drain ran.
    summary.reclaimed_slots = sources
        .iter()
        .map(|s| reclaimed(s.seg).saturating_sub(s.reclaimed_at_start))
        .sum();
    Ok(summary)
}

/// Each leased ring's [`Source`], its checkpoint reconciled with the checked output (what a
/// drain that died mid-batch left behind: cut back, written again or skipped).
fn open_sources<'s>(
    cfg: &DrainConfig,
    leases: Vec<DrainLease<'s>>,
    outputs: &mut Outputs,
    summary: &mut Summary,
) -> anyhow::Result<Vec<Source<'s>>> {
    let mut sources = Vec::new();
    for (index, lease) in leases.into_iter().enumerate() {
        let seg = lease.segment();
        let mut reader = Reader::new(lease).with_policy(cfg.stall);
        let reconciled = checkpoint::reconcile(seg, &mut outputs.checked.sink, &mut reader)
            .with_context(|| {
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
        let mut src = Source {
            seg,
            reader,
            index: index as u32,
            calibration: seg.calibration(),
            finish_at: None,
            stalled_since: None,
            done: false,
            dropped_pending: None,
            in_batch: false,
            reclaimed_at_start: reclaimed(seg),
        };
        // With --once the drain writes what was claimed when it started and exits, even if
        // producers keep logging.
        if cfg.once {
            src.finish_at = Some(src.claim());
        }
        sources.push(src);
    }
    Ok(sources)
}

/// How a run of the drain loop reads and encodes, fixed when it starts.
struct Plan {
    /// Several rings, their batches ordered by time (`--merge`).
    merge: bool,
    /// Some output needs the records' arguments decoded (an archive alone keeps the wire
    /// bytes).
    need_args: bool,
    /// A level, a flight recorder or rate limits decide what is written (recall.rs, limit.rs).
    gated: bool,
    /// Records go from their slots into the archive, the one output ([`Reader::poll_bulk`]).
    bulk: bool,
    /// The pid the drain's own notices carry.
    notice_pid: u32,
    /// Bytes of a batch one ring fills before the next ring's turn.
    per_source_bytes: usize,
    /// Events a poll asks for.
    chunk: usize,
    /// Records of a batch at most (`DrainConfig::batch_records`).
    batch_records: usize,
}

impl Plan {
    /// The plan for `sources` rings into `outputs`; sets up `batch`'s deferred formatting when
    /// the run formats on worker threads.
    fn new(
        cfg: &DrainConfig,
        sources: usize,
        outputs: &Outputs,
        gated: bool,
        batch: &mut Batch,
    ) -> Plan {
        let merge = cfg.merge && sources > 1;
        // Format large batches on worker threads: one ring, one line output, no gate
        // (parallel.rs).
        if cfg.format_threads > 1 && sources == 1 && !gated && !outputs.any_network() {
            batch.deferred = cfg
                .format
                .line()
                .map(|f| crate::parallel::Deferred::new(f, cfg.format_threads));
        }
        // The bulk path (issue 13): one ring (or rings not merged), the archive the one
        // output, nothing gated: records go from their slots into the archive.
        let bulk = !gated
            && !merge
            && batch.deferred.is_none()
            && outputs.network.is_empty()
            && matches!(outputs.checked.encoder, PortEncoder::Archive(_));
        // Keep a batch well under the rotation size, so files stay within it.
        let mut max_batch_bytes = match &cfg.output {
            Output::File { rotation, .. } if rotation.max_bytes > 0 => {
                ((rotation.max_bytes / 4) as usize).clamp(1, 1 << 20)
            }
            _ => 1 << 20,
        };
        if outputs.any_network() {
            max_batch_bytes = max_batch_bytes.min(NETWORK_BATCH_BYTES);
        }
        let per_source_bytes = (max_batch_bytes / sources.max(1)).max(1);
        let chunk = (per_source_bytes / 256)
            .clamp(1, 1024)
            .min(cfg.batch_records.max(1));
        Plan {
            merge,
            need_args: outputs.need_args(),
            gated,
            bulk,
            notice_pid: std::process::id(),
            per_source_bytes,
            chunk,
            batch_records: cfg.batch_records,
        }
    }
}

/// Write-behind (behind.rs): a file output alone, on a machine with a core to spare.
fn start_write_behind(cfg: &DrainConfig, outputs: &Outputs, batch: &Batch) -> Option<WriteBehind> {
    if !(cfg.write_behind
        && outputs.network.is_empty()
        && matches!(outputs.checked.sink, Sink::File(_)))
    {
        return None;
    }
    // With format workers, they write too: on 2 cores the drain thread and one worker share
    // reading, formatting and writing, where a write thread of its own would make three
    // threads take turns (behind.rs). The returned value holds a sender of the pool's queue;
    // the caller declares it after `batch`, so it is dropped first and the pool's own drop
    // (which closes the queue and joins the workers) is not held up by it.
    match batch.deferred.as_ref().and_then(|d| d.runner()) {
        Some(runner) => Some(WriteBehind::on_pool(runner)),
        None => match WriteBehind::start() {
            Ok(wb) => Some(wb),
            Err(e) => {
                eprintln!(
                    "ringdrain: warning: no write-behind thread ({e}); writing on the drain thread"
                );
                None
            }
        },
    }
}

/// One ring's part of a batch: what the loop's turn reads from it into the batch.
struct Turn<'t> {
    plan: &'t Plan,
    batch: &'t mut Batch,
    outputs: &'t mut Outputs,
    gate: &'t mut Gate,
    /// Scratch: a record's payload copied out of its slot for the general path.
    slot_payload: &'t mut Vec<u8>,
}

impl Turn<'_> {
    /// Reads `src` into the batch until its share of the batch is full or the ring runs dry,
    /// and notes how the ring stands: done (finished), stalled. (Whether it is in the batch
    /// is the caller's to say, after the notices it adds.)
    fn read(&mut self, src: &mut Source<'_>, cfg: &DrainConfig) {
        let plan = self.plan;
        let start_len = self.len();
        let mut last = PollResult::default();
        while self.len() - start_len < plan.per_source_bytes {
            let Source {
                reader,
                calibration,
                index,
                ..
            } = &mut *src;
            let (calibration, index) = (&*calibration, *index);
            last = reader.poll_bulk(plan.chunk, plan.bulk, |item| match item {
                Bulk::Run(mut run) => {
                    self.batch.records += run.len() as u64;
                    bulk_run(
                        &mut run,
                        self.outputs,
                        calibration,
                        index,
                        self.slot_payload,
                    );
                }
                Bulk::Event(ev) => self.event(ev, calibration, index),
            });
            if last.events < plan.chunk || self.batch.records as usize >= plan.batch_records {
                break;
            }
        }
        let batch = &mut *self.batch;
        if last.events >= plan.chunk {
            batch.more = true;
        }
        if last.events > 0 {
            batch.any_events = true;
            src.stalled_since = None;
        }
        if !last.idle {
            batch.all_quiet = false;
        }
        if last.idle && src.finish_at.is_some() && src.unreleased() == 0 && last.events == 0 {
            src.done = true;
        } else if last.stalled && last.events == 0 {
            let since = *src.stalled_since.get_or_insert_with(Instant::now);
            if src.finish_at.is_some() && since.elapsed() >= cfg.stall_exit_after {
                eprintln!(
                    "ringdrain: a living producer has held a record open in {} for {:?}; exiting with it still in the ring (position {})",
                    src.seg.path().display(),
                    since.elapsed(),
                    src.reader.positions().total()
                );
                src.done = true;
            }
        }
    }

    /// Bytes of the batch so far.
    fn len(&self) -> usize {
        self.batch.len(self.outputs, self.plan.merge)
    }

    /// The drain's notices that go with `src`'s part of the batch: the rate limits' reports
    /// now due, and the producers' drops not reported yet (past `in_flight`, what the batch
    /// being written behind reports).
    fn notices(
        &mut self,
        src: &mut Source<'_>,
        limit_reports: impl Iterator<Item = crate::limit::Suppressed>,
        in_flight: u64,
        ts: &mut Timestamps,
    ) {
        let (plan, batch, outputs) = (self.plan, &mut *self.batch, &mut *self.outputs);
        for r in limit_reports {
            suppressed_notice(&r, plan.notice_pid, |view| {
                batch.push(outputs, view, None, src.index, plan.merge)
            });
            batch.notices += 1;
        }
        src.dropped_pending = None;
        if let Some(drops) = pending_drops(src.seg, in_flight) {
            drops_notice(ts, &drops, plan.notice_pid, |view| {
                batch.push(outputs, view, None, src.index, plan.merge)
            });
            batch.notices += 1;
            batch.dropped += drops.new;
            src.dropped_pending = Some(drops.total);
        }
    }

    /// One event of ring `index` (anything but a run of records in their slots): through the
    /// gate if there is one, then into the batch.
    fn event(&mut self, ev: Event<'_>, calibration: &Calibration, index: u32) {
        let (plan, b, outs) = (self.plan, &mut *self.batch, &mut *self.outputs);
        if plan.gated {
            // The flight recorder and the rate limits (recall.rs, limit.rs).
            let g = &mut *self.gate;
            let verdict = match &ev {
                Event::Record { record, callsite } => {
                    let ts = calibration.to_unix_ns(record.header.timestamp);
                    g.on_record(index as usize, record, *callsite, ts)
                }
                Event::Lost(Lost::Abandoned { .. } | Lost::Fenced { .. }) => g.on_abandoned(),
                Event::Lost(Lost::Corrupt { .. }) => Verdict::Write,
            };
            if verdict.recalls() {
                let recall = g.take_kept();
                for k in 0..recall.len() {
                    recall.with_view(k, calibration, |view| {
                        b.push(outs, view, None, index, plan.merge)
                    });
                    b.records += 1;
                }
            }
            if !verdict.writes() {
                return;
            }
        }
        match ev {
            Event::Record { record, callsite } if b.deferred.is_some() => {
                if let Some(d) = &mut b.deferred {
                    d.record(&record, callsite, calibration, index);
                }
                b.records += 1;
            }
            Event::Record { record, callsite } => {
                // An archive alone keeps the wire bytes: no need to decode them. Decoded in
                // place: `ArgBuf::decode` (or choosing between a decoded buffer and an empty
                // one) copies half a kilobyte.
                let mut args = ArgBuf::new();
                if plan.need_args {
                    args.decode_from(&record);
                }
                let view = RecordView::new(&record, callsite, &args, calibration);
                b.push(outs, &view, Some(&record), index, plan.merge);
                b.records += 1;
            }
            Event::Lost(lost) => {
                let now = clock::unix_ns() as i64;
                loss_notice(&lost, now, plan.notice_pid, |view| {
                    b.push(outs, view, None, index, plan.merge)
                });
                b.notices += 1;
                match lost {
                    Lost::Abandoned { slots, .. } | Lost::Fenced { slots, .. } => {
                        b.abandoned += slots
                    }
                    Lost::Corrupt { .. } => b.corrupt += 1,
                }
            }
        }
    }
}

/// The end of a run, every ring done and its last batch settled: the rate limits' windows
/// still open report what they suppressed, as one last batch of notices.
fn finish(
    plan: &Plan,
    sources: &mut [Source<'_>],
    outputs: &mut Outputs,
    signals: &Signals,
    monitor: Option<&Monitor>,
    (gate, batch, summary): (&mut Gate, &mut Batch, &mut Summary),
) -> anyhow::Result<()> {
    let Some(limiter) = gate.limiter_mut() else {
        return Ok(());
    };
    let reports = limiter.finish();
    if reports.is_empty() {
        return Ok(());
    }
    outputs.clear();
    batch.clear();
    let index = sources[0].index;
    for r in &reports {
        // Straight into the outputs (no merge staging): notices only.
        suppressed_notice(r, plan.notice_pid, |view| {
            batch.push(outputs, view, None, index, false)
        });
        batch.notices += 1;
    }
    // No ring contributed: nothing to checkpoint or release.
    for src in sources.iter_mut() {
        src.in_batch = false;
    }
    outputs.seal();
    commit(sources, outputs, signals, monitor, None, false)?;
    batch.add_to(summary);
    Ok(())
}

/// The segment's count of slots of revoked claims that producers claimed again.
fn reclaimed(seg: &Segment) -> u64 {
    // SYNC: Relaxed; a statistic for the drain's summary.
    seg.shared().counters.reclaimed.load(Ordering::Relaxed)
}

/// The bulk path (issue 13): a run of records straight from their ring slots into the archive,
/// the drain's one output, nothing gated (no view, no copy in between). A record the archive
/// takes the general way (its callsite did not resolve) becomes a view as in the drain loop.
fn bulk_run(
    run: &mut SlotRun<'_>,
    outs: &mut Outputs,
    calibration: &Calibration,
    index: u32,
    payload: &mut Vec<u8>,
) {
    let Port { encoder, out, .. } = &mut outs.checked;
    run.for_each(|s| {
        if let PortEncoder::Archive(a) = encoder {
            let ns = calibration.to_unix_ns(s.header.timestamp);
            if a.encode_slot(out, &s, ns, index) {
                return;
            }
        }
        payload.clear();
        s.append_payload(payload);
        let record = ringlog_wire::decode::RecordRef {
            header: s.header,
            payload,
        };
        let args = ArgBuf::decode(&record);
        let view = RecordView::new(&record, s.callsite, &args, calibration);
        encoder.encode(out, &Item::wire(&view, &record, index));
    });
}

/// Calls `f` with the notice for a loss, timed `now`.
fn loss_notice(lost: &Lost, now: i64, pid: u32, f: impl FnOnce(&RecordView<'_>)) {
    match *lost {
        Lost::Abandoned { slots, pid: owner } => {
            let msg = match owner {
                Some(_) => "abandoned a record its producer died writing",
                // The drain cannot tell which: an unowned claim carries no pid.
                None => "skipped a claim its producer never filled in time (a producer that died lost that record; one that was only descheduled claims again and its record follows)",
            };
            let pid_s = owner.map(|p| p.to_string()).unwrap_or_default();
            let mut fields = vec![("slots", NoticeValue::U64(slots))];
            if owner.is_some() {
                fields.push(("producer_pid", NoticeValue::Str(&pid_s)));
            }
            notice_view(now, Level::Warn, pid, msg, &fields, f)
        }
        Lost::Fenced { slots, pid: owner } => {
            let pid_s = owner.to_string();
            notice_view(
                now,
                Level::Warn,
                pid,
                "stepped over a record its producer has held unfinished too long (stopped or frozen) while others waited behind it; it is dropped",
                &[
                    ("slots", NoticeValue::U64(slots)),
                    ("producer_pid", NoticeValue::Str(&pid_s)),
                ],
                f,
            )
        }
        Lost::Corrupt { ref reason } => notice_view(
            now,
            Level::Error,
            pid,
            "skipped damaged record",
            &[("reason", NoticeValue::Str(reason))],
            f,
        ),
    }
}

/// Appends the notice of a rate limit's closed window.
fn suppressed_notice(r: &crate::limit::Suppressed, pid: u32, f: impl FnOnce(&RecordView<'_>)) {
    notice_view(
        clock::unix_ns() as i64,
        Level::Warn,
        pid,
        &r.message(),
        &[
            ("suppressed", NoticeValue::U64(r.count)),
            ("limit", NoticeValue::Str(&r.rule)),
        ],
        f,
    )
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

/// Takes the drops producers made since the last notice, if any (`in_flight`: the total a
/// notice in a batch not yet settled reported).
fn pending_drops(seg: &Segment, in_flight: u64) -> Option<Drops> {
    let c = &seg.shared().counters;
    let d = &seg.shared().drain;
    // SYNC: Relaxed; counters, no data depends on them.
    let dropped = c.dropped.load(Ordering::Relaxed);
    let reported = d.reported_dropped.load(Ordering::Relaxed).max(in_flight);
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

/// Calls `f` with the notice for `drops`.
fn drops_notice(ts: &mut Timestamps, drops: &Drops, pid: u32, f: impl FnOnce(&RecordView<'_>)) {
    let mut since_s = Vec::new();
    if drops.since_ns != 0 {
        ts.write(&mut since_s, drops.since_ns as i64);
    }
    let since_s = String::from_utf8(since_s).unwrap_or_default();
    let mut fields = vec![
        ("dropped", NoticeValue::U64(drops.new)),
        ("dropped_total", NoticeValue::U64(drops.total)),
    ];
    if !since_s.is_empty() {
        fields.push(("since", NoticeValue::Str(&since_s)));
    }
    notice_view(
        drops.now,
        Level::Warn,
        pid,
        "producers dropped records (ring full or no drain)",
        &fields,
        f,
    )
}

/// Writes a batch to every output, the checked one last under the checkpoint protocol (one
/// checkpoint in each ring that contributed), retrying output errors without losing or
/// releasing anything (an output that accepted the batch is not written again); then releases
/// the batch's slots in every contributing ring.
///
/// With write-behind, the batch before this one is settled first; then, if `more` is waiting
/// in the rings, this batch is handed to the write-behind thread and released when it is
/// settled (behind.rs); a batch that ran the rings dry is written here.
fn commit(
    sources: &mut [Source<'_>],
    outputs: &mut Outputs,
    signals: &Signals,
    monitor: Option<&Monitor>,
    mut behind: Option<&mut WriteBehind>,
    more: bool,
) -> anyhow::Result<()> {
    settle(behind.as_deref_mut(), sources, outputs, signals, monitor)?;
    if let Some(wb) = behind.filter(|_| more) {
        if write_behind(wb, sources, outputs) {
            return Ok(());
        }
    }
    for port in outputs.network.iter_mut() {
        write_port(&mut port.sink, &port.out, &[], sources, signals, monitor)?;
    }
    let marks: Vec<_> = sources
        .iter()
        .filter(|s| s.in_batch)
        .map(|s| (s.seg, s.batch_end()))
        .collect();
    let checked = &mut outputs.checked;
    write_port(
        &mut checked.sink,
        &checked.out,
        &marks,
        sources,
        signals,
        monitor,
    )?;
    for src in sources.iter_mut().filter(|s| s.in_batch) {
        src.reader.release();
        checkpoint::finish(src.seg);
        if let Some(d) = src.dropped_pending.take() {
            record_reported(src.seg, d);
        }
        src.in_batch = false;
    }
    Ok(())
}

/// Records drops as reported (after the batch reporting them is written).
fn record_reported(seg: &Segment, dropped: u64) {
    // SYNC: Relaxed; bookkeeping of what was reported (only this drain writes it).
    seg.shared()
        .drain
        .reported_dropped
        .store(dropped, Ordering::Relaxed);
}

/// Hands the checked output's sealed batch to the write-behind thread: prepares the file,
/// begins each contributing ring's checkpoint at the batch's end, and keeps those ends as the
/// marks to release to once the write is settled. False (nothing done) if the file cannot be
/// prepared: the caller writes on this thread, with its retries.
fn write_behind(wb: &mut WriteBehind, sources: &mut [Source<'_>], outputs: &mut Outputs) -> bool {
    let Port { sink, out, .. } = &mut outputs.checked;
    if out.is_empty() {
        return false;
    }
    let Ok(Some(file)) = sink.prepare(out.len() as u64) else {
        return false;
    };
    let Sink::File(f) = sink else {
        return false;
    };
    let mut marks = Vec::new();
    for (i, src) in sources.iter_mut().enumerate().filter(|(_, s)| s.in_batch) {
        let end = src.batch_end();
        checkpoint::begin(src.seg, &end, Some(file), out);
        marks.push((i, end, src.dropped_pending.take()));
        src.in_batch = false;
    }
    let before = file.1;
    wb.send(f.file(), out, Flight { marks, before });
    true
}

/// Waits for the batch the write-behind thread holds, if any; writes it again here (with the
/// usual retries) if its write failed; then releases it and finishes its checkpoints.
fn settle(
    behind: Option<&mut WriteBehind>,
    sources: &mut [Source<'_>],
    outputs: &mut Outputs,
    signals: &Signals,
    monitor: Option<&Monitor>,
) -> anyhow::Result<()> {
    let Some(wb) = behind else {
        return Ok(());
    };
    let Some(Settled {
        flight,
        buf,
        result,
    }) = wb.settle()?
    else {
        return Ok(());
    };
    let sink = &mut outputs.checked.sink;
    if let Some(m) = monitor {
        m.written(
            &sink.describe(),
            result.as_ref().map(|_| buf.len() as u64).map_err(drop),
        );
    }
    match result {
        Ok(()) => {
            if let Sink::File(f) = sink {
                f.wrote(buf.len() as u64);
            }
        }
        Err(e) => {
            // Cut back by the thread; written again here from a fresh checkpoint.
            for (i, _, _) in &flight.marks {
                checkpoint::finish(sources[*i].seg);
            }
            eprintln!(
                "ringdrain: cannot write output ({}): {e}; the batch written behind is retried on the drain thread",
                sink.describe()
            );
            let marks: Vec<_> = flight
                .marks
                .iter()
                .map(|(i, end, _)| (sources[*i].seg, end.clone()))
                .collect();
            write_port(sink, &buf, &marks, sources, signals, monitor)?;
        }
    }
    for (i, end, dropped) in &flight.marks {
        let src = &mut sources[*i];
        src.reader.release_to(end);
        checkpoint::finish(src.seg);
        if let Some(d) = dropped {
            record_reported(src.seg, *d);
        }
    }
    wb.recycle(buf);
    Ok(())
}

/// Writes one output's batch, retrying. The write is bracketed by a checkpoint in each ring
/// `marks` names (the checked output's contributing rings; none for a network output), ending
/// the batch at its mark.
fn write_port(
    sink: &mut Sink,
    out: &[u8],
    marks: &[(&Segment, Positions)],
    sources: &[Source<'_>],
    signals: &Signals,
    monitor: Option<&Monitor>,
) -> anyhow::Result<()> {
    let unreleased = || -> u64 { sources.iter().map(|s| s.unreleased()).sum() };
    if out.is_empty() {
        return Ok(());
    }
    let mut delay = Duration::from_millis(10);
    let mut last_report: Option<Instant> = None;
    let mut failures_while_stopping = 0;
    loop {
        let res = sink.prepare(out.len() as u64).and_then(|file| {
            for (seg, end) in marks {
                checkpoint::begin(seg, end, file, out);
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
                for (seg, _) in marks {
                    checkpoint::finish(seg);
                }
                if last_report.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
                    eprintln!(
                        "ringdrain: cannot write output ({}): {e}; {} records stay in the ring, retrying",
                        sink.describe(),
                        unreleased()
                    );
                    last_report = Some(Instant::now());
                }
                if matches!(sink, Sink::Stdout(_)) && e.kind() == std::io::ErrorKind::BrokenPipe {
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
    Ok(())
}
