//! `ringload`: the standard load generator (DESIGN.md, "Benchmark harness contract").
//!
//! The parent opens (or creates) the ring, spawns `procs` copies of itself with the hidden
//! `--child-index p`, and waits for each to print `ready`. It then writes `go` to every child at
//! once, so they start together. Child `p` runs `threads` threads; thread `t` logs `records`
//! records, record `i` being
//!
//! ```text
//! info!(log, "request {} served in {} us by {}", i, lat, worker)
//! ```
//!
//! with `i: u64` from 0, `lat: f64 = i / 4` and `worker = "p{p}-t{t}"`.
//!
//! # What is timed
//!
//! Each thread logs in batches of `--batch` calls and alternates two kinds of batch, so both
//! see the same ring state and contention:
//!
//! * **batched**: one timer reading before the batch and one after; cost per call = batch time /
//!   calls. The timer's own cost is amortised over the batch. We report the median over all such
//!   batches of all threads (and their mean).
//! * **per call**: a timer reading before and after every call; the median cost of an empty
//!   pair of readings (calibrated at start) is subtracted. We report p50, p99, p99.9, max and
//!   the mean of these.
//!
//! `--timing batched` times whole batches only, so the throughput carries no per-call timer cost.
//!
//! Throughput is all calls of all threads divided by the wall time from the first thread's start
//! to the last thread's finish (`CLOCK_MONOTONIC`, comparable across processes). Records the
//! ring dropped are counted from the segment's `dropped` counter (`Logger::stats`), before and
//! after the run.
//!
//! # Run it with a drain
//!
//! ringload is meant to run with `ringdrain` attached to the ring (or with `--drain`, an
//! in-process drain that consumes and discards). Without any drain the ring fills after
//! `slot_count` records (less what it already held). Then `--policy drop` drops every further
//! record at once; `--policy block` waits only while a drain's heartbeat is fresh, so with no
//! drain attached (or one whose heartbeat is older than the logger's `stale_after`, 1 s) each
//! further record is dropped after the logger's short spin-and-yield. Either way the drops are
//! counted and reported, and the parent warns before starting when the ring cannot hold the run.

use std::io::{self, BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Barrier;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use ringlog::{Logger, Policy};
use serde::Serialize;

use crate::clock::{self, ticks, Calibration};
use crate::drain::{Drain, DrainStats};
use crate::stats::{ChildReport, Dist};

/// The largest `--batch`.
pub const MAX_BATCH: u32 = 65_536;

/// Full-ring policy as given on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyArg {
    /// `Policy::Block`.
    Block,
    /// `Policy::Drop`.
    Drop,
}

impl PolicyArg {
    fn name(self) -> &'static str {
        match self {
            PolicyArg::Block => "block",
            PolicyArg::Drop => "drop",
        }
    }

    fn policy(self) -> Policy {
        match self {
            PolicyArg::Block => Policy::Block,
            PolicyArg::Drop => Policy::Drop,
        }
    }
}

/// A load run, as the flags describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Ring name or path (`--ring`).
    pub ring: String,
    /// Processes (`--procs`).
    pub procs: u32,
    /// Threads per process (`--threads`).
    pub threads: u32,
    /// Records per thread (`--records`).
    pub records: u64,
    /// Full-ring policy (`--policy`).
    pub policy: PolicyArg,
    /// One JSON object instead of text (`--json`).
    pub json: bool,
    /// Slots per lane for a ring this run creates (`--slot-count`); an existing ring keeps its
    /// size.
    pub slot_count: Option<u64>,
    /// Lanes for a ring this run creates (`--lanes`).
    pub lanes: Option<u32>,
    /// Calls per timed batch (`--batch`).
    pub batch: u32,
    /// Run an in-process drain in the parent (`--drain`).
    pub drain: bool,
    /// Also time calls one by one, in every other batch (`--timing both`, the default); with
    /// `--timing batched` every batch is timed as a whole, so the throughput carries no per-call
    /// timer cost.
    pub per_call: bool,
    /// Set in child processes only (`--child-index`).
    pub child_index: Option<u32>,
}

/// What the command line asked for.
#[derive(Debug)]
pub enum Invocation {
    /// Run the load (as parent, or as a child when `child_index` is set).
    Run(Config),
    /// Print this text (help or version) and exit successfully.
    Print(String),
    /// The flags were wrong: this one-line message.
    Invalid(String),
}

/// Runs an invocation: the body of `main`.
pub fn run(invocation: Invocation) -> anyhow::Result<()> {
    match invocation {
        Invocation::Print(text) => quiet_on_broken_pipe(write!(io::stdout().lock(), "{text}")),
        Invocation::Invalid(msg) => Err(anyhow!(msg)),
        Invocation::Run(cfg) => match cfg.child_index {
            Some(p) => run_child(&cfg, p),
            None => run_parent(&cfg),
        },
    }
}

/// A closed stdout (`ringload ... | head`) ends the run quietly.
fn quiet_on_broken_pipe(r: io::Result<()>) -> anyhow::Result<()> {
    match r {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

fn open_logger(cfg: &Config, ring: &str) -> anyhow::Result<Logger> {
    let mut b = Logger::builder().ring(ring).policy(cfg.policy.policy());
    if let Some(n) = cfg.slot_count {
        b = b.slot_count(n);
    }
    if let Some(n) = cfg.lanes {
        b = b.lanes(n);
    }
    b.open().with_context(|| format!("cannot open ring {ring}"))
}

// ---------------------------------------------------------------------------------------------
// Child

fn run_child(cfg: &Config, p: u32) -> anyhow::Result<()> {
    let log = open_logger(cfg, &cfg.ring)?;
    let cal = Calibration::measure(Duration::from_millis(20));
    let threads = cfg.threads as usize;
    let barrier = Barrier::new(threads + 1);
    let prepared = Barrier::new(threads + 1);
    let go = AtomicBool::new(false);
    let results = std::thread::scope(|s| -> anyhow::Result<Vec<ThreadResult>> {
        let handles: Vec<_> = (0..cfg.threads)
            .map(|t| {
                let (log, barrier, prepared, go) = (&log, &barrier, &prepared, &go);
                s.spawn(move || {
                    let worker = format!("p{p}-t{t}");
                    // Take this thread's lane before the clock starts (a version-1 ring was
                    // faulted in whole at open, also before it).
                    log.prepare_thread();
                    prepared.wait();
                    barrier.wait();
                    // SYNC: Relaxed; the barrier orders the store before this load.
                    go.load(Ordering::Relaxed)
                        .then(|| log_records(log, &worker, cfg, &cal))
                })
            })
            .collect();
        // "ready" only once every thread has its lane faulted in: a process still faulting
        // in a 64 MiB lane when the others start would stretch the processes' common window
        // by milliseconds that no call spends (issue 12's 2-process row).
        prepared.wait();
        let started = wait_for_go(p);
        // SYNC: Relaxed; the barrier below publishes it to the threads.
        go.store(started.is_ok(), Ordering::Relaxed);
        barrier.wait();
        let results: Vec<_> = handles
            .into_iter()
            .map(|h| h.join().expect("load thread panicked"))
            .collect();
        started?;
        Ok(results.into_iter().flatten().collect())
    })?;
    let mut per_call = Dist::new();
    let mut batched = Dist::new();
    let mut report = ChildReport {
        child: p,
        start_ns: u64::MAX,
        end_ns: 0,
        calls: 0,
        tick_hz: cal.hz,
        empty_pair_ps: cal.ticks_to_ps(cal.empty_pair_ticks),
        per_call: Vec::new(),
        batched: Vec::new(),
        batched_calls: 0,
        batched_ps: 0,
    };
    for r in &results {
        report.start_ns = report.start_ns.min(r.start_ns);
        report.end_ns = report.end_ns.max(r.end_ns);
        report.calls += r.calls;
        report.batched_calls += r.batched_calls;
        report.batched_ps += r.batched_ps;
        per_call.merge(&r.per_call);
        batched.merge(&r.batched);
    }
    report.per_call = per_call.to_pairs();
    report.batched = batched.to_pairs();
    let mut out = io::stdout().lock();
    serde_json::to_writer(&mut out, &report)?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

/// Tells the parent this child is ready, then waits for its `go`.
fn wait_for_go(p: u32) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "ready")?;
    out.flush()?;
    let mut line = String::new();
    io::stdin().lock().read_line(&mut line)?;
    if line.trim() != "go" {
        bail!("child {p}: expected \"go\" from the parent, got {line:?}");
    }
    Ok(())
}

struct ThreadResult {
    start_ns: u64,
    end_ns: u64,
    calls: u64,
    per_call: Dist,
    batched: Dist,
    batched_calls: u64,
    batched_ps: u64,
}

/// One thread's load: `records` records in batches of `batch`, alternating batched and per-call
/// timing (or batched only).
fn log_records(log: &Logger, worker: &str, cfg: &Config, cal: &Calibration) -> ThreadResult {
    let (n, batch) = (cfg.records, cfg.batch as usize);
    let mut res = ThreadResult {
        start_ns: clock::monotonic_ns(),
        end_ns: 0,
        calls: n,
        per_call: Dist::new(),
        batched: Dist::new(),
        batched_calls: 0,
        batched_ps: 0,
    };
    let mut deltas = vec![0u64; batch];
    let mut i = 0u64;
    let mut per_call_turn = false;
    while i < n {
        let m = (n - i).min(batch as u64);
        if per_call_turn {
            for (k, d) in deltas[..m as usize].iter_mut().enumerate() {
                let i = i + k as u64;
                let lat = i as f64 / 4.0;
                let t0 = ticks();
                ringlog::info!(log, "request {} served in {} us by {}", i, lat, worker);
                *d = ticks() - t0;
            }
            for &d in &deltas[..m as usize] {
                res.per_call.record(cal.net_ps(d));
            }
        } else {
            let t0 = ticks();
            for i in i..i + m {
                let lat = i as f64 / 4.0;
                ringlog::info!(log, "request {} served in {} us by {}", i, lat, worker);
            }
            let ps = cal.ticks_to_ps(ticks() - t0);
            res.batched.record(ps / m);
            res.batched_calls += m;
            res.batched_ps += ps;
        }
        per_call_turn = cfg.per_call && !per_call_turn;
        i += m;
    }
    res.end_ns = clock::monotonic_ns();
    res
}

// ---------------------------------------------------------------------------------------------
// Parent

/// The run's results: what `--json` prints.
#[derive(Debug, Serialize)]
pub struct Summary {
    /// The ring's path.
    pub ring: PathBuf,
    /// Slots per lane.
    pub slot_count: u64,
    /// Lanes in the ring.
    pub lanes: u32,
    /// Bytes per slot.
    pub slot_size: u32,
    /// Clock the ring stamps records with (`Tsc` or `Realtime`).
    pub record_clock: String,
    /// Processes.
    pub procs: u32,
    /// Threads per process.
    pub threads: u32,
    /// Records per thread.
    pub records_per_thread: u64,
    /// `block` or `drop`.
    pub policy: &'static str,
    /// Calls per timed batch.
    pub batch: u32,
    /// Log calls made in all (procs x threads x records).
    pub records: u64,
    /// Records the ring dropped during the run (segment counter, after minus before).
    pub dropped: u64,
    /// Records the in-process drain consumed (`--drain` only).
    pub drained: Option<u64>,
    /// Wall time from the first thread's start to the last one's finish, seconds.
    pub wall_s: f64,
    /// The first thread's start as wall-clock time (`CLOCK_REALTIME`, nanoseconds since the
    /// epoch): where an end-to-end harness starts its clock, so this process's own start-up
    /// (timer calibration, faulting in the lanes) is not counted as logging (`bench-e2e.sh`).
    pub start_unix_ns: u64,
    /// `records / wall_s`.
    pub throughput_per_s: f64,
    /// The timer.
    pub timer: TimerSummary,
    /// Cost per call over batches: the timer read twice per batch, so its cost is amortised.
    pub batched_ns: BatchedSummary,
    /// Cost per call measured around each call, the empty timer pair's median cost subtracted
    /// (`null` with `--timing batched`).
    pub per_call_ns: Option<PerCallSummary>,
}

/// How calls were timed.
#[derive(Debug, Serialize)]
pub struct TimerSummary {
    /// What a tick is.
    pub source: &'static str,
    /// Ticks per second (child 0's calibration).
    pub hz: f64,
    /// Median cost of an empty pair of readings, ns (child 0), subtracted from per-call values.
    pub empty_pair_ns: f64,
}

/// Batched timing (clock cost amortised).
#[derive(Debug, Serialize)]
pub struct BatchedSummary {
    /// Median over batches of (batch time / calls in batch).
    pub median: f64,
    /// Total batch time / calls in batches.
    pub mean: f64,
    /// Timed batches.
    pub batches: u64,
}

/// Per-call timing (empty clock pair subtracted).
#[derive(Debug, Serialize)]
pub struct PerCallSummary {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Mean.
    pub mean: f64,
    /// Largest (includes the first call's callsite registration and page faults).
    pub max: f64,
    /// Calls timed this way.
    pub samples: u64,
}

fn run_parent(cfg: &Config) -> anyhow::Result<()> {
    let log = open_logger(cfg, &cfg.ring)?;
    let seg = log.segment();
    let path = seg.path().to_path_buf();
    let ring_path = path
        .to_str()
        .ok_or_else(|| anyhow!("ring path {} is not UTF-8", path.display()))?
        .to_string();
    // Each thread writes into a lane of its own (while there are lanes to go round).
    let capacity = seg.header().slot_count;
    let backlog = seg.backlog();
    if !cfg.drain && !log.drain_alive() && cfg.records > capacity {
        eprintln!(
            "ringload: warning: no drain is attached and a thread's lane ({capacity} slots, \
             {backlog} unread in the ring) cannot hold {} records; once it fills they are \
             dropped (attach ringdrain, pass --drain, or raise --slot-count)",
            cfg.records
        );
    }
    let dropped_before = log.stats().dropped;
    let stop = AtomicBool::new(false);
    let drain = if cfg.drain {
        Some(Drain::attach(seg).context("--drain")?)
    } else {
        None
    };
    let (reports, drained) = std::thread::scope(|s| -> anyhow::Result<_> {
        let stop = &stop;
        let drain_thread = drain.map(|d| s.spawn(move || d.run(stop)));
        let reports = run_children(cfg, &ring_path);
        // SYNC: Relaxed; see Drain::run.
        stop.store(true, Ordering::Relaxed);
        let drained = drain_thread.map(|h| h.join().expect("drain thread panicked"));
        Ok((reports?, drained))
    })?;
    let dropped = log.stats().dropped - dropped_before;
    let summary = summarise(cfg, &log, path, &reports, dropped, drained)?;
    let mut out = io::stdout().lock();
    let r = if cfg.json {
        serde_json::to_writer(&mut out, &summary)
            .map_err(io::Error::from)
            .and_then(|()| writeln!(out))
    } else {
        print_text(&mut out, &summary)
    };
    quiet_on_broken_pipe(r.and_then(|()| out.flush()))
}

fn child_args(cfg: &Config, ring: &str, p: u32) -> Vec<String> {
    let mut a = vec![
        "--ring".to_string(),
        ring.to_string(),
        "--procs".into(),
        cfg.procs.to_string(),
        "--threads".into(),
        cfg.threads.to_string(),
        "--records".into(),
        cfg.records.to_string(),
        "--policy".into(),
        cfg.policy.name().into(),
        "--batch".into(),
        cfg.batch.to_string(),
        "--timing".into(),
        if cfg.per_call { "both" } else { "batched" }.into(),
        "--child-index".into(),
        p.to_string(),
    ];
    if let Some(n) = cfg.slot_count {
        a.extend(["--slot-count".to_string(), n.to_string()]);
    }
    if let Some(n) = cfg.lanes {
        a.extend(["--lanes".to_string(), n.to_string()]);
    }
    a
}

struct Running {
    p: u32,
    child: Child,
    out: BufReader<std::process::ChildStdout>,
}

impl Drop for Running {
    fn drop(&mut self) {
        // Reached with the child still running only on an error path: do not leave it behind.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn read_line(r: &mut Running, what: &str) -> anyhow::Result<String> {
    let mut line = String::new();
    r.out.read_line(&mut line)?;
    if line.is_empty() {
        let status = r.child.wait()?;
        bail!("child {} exited ({status}) before {what}", r.p);
    }
    Ok(line)
}

fn run_children(cfg: &Config, ring: &str) -> anyhow::Result<Vec<ChildReport>> {
    let exe = std::env::current_exe().context("cannot find ringload's own executable")?;
    let mut kids = Vec::new();
    for p in 0..cfg.procs {
        let mut child = Command::new(&exe)
            .args(child_args(cfg, ring, p))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot start child {p}"))?;
        let out = BufReader::new(child.stdout.take().expect("piped stdout"));
        kids.push(Running { p, child, out });
    }
    for k in &mut kids {
        let line = read_line(k, "it was ready")?;
        if line.trim() != "ready" {
            bail!("child {}: expected \"ready\", got {line:?}", k.p);
        }
    }
    // Start everyone at once: the children block on this line.
    for k in &mut kids {
        let stdin = k.child.stdin.as_mut().expect("piped stdin");
        stdin
            .write_all(b"go\n")
            .and_then(|()| stdin.flush())
            .with_context(|| format!("cannot start child {}", k.p))?;
    }
    let mut reports = Vec::new();
    for k in &mut kids {
        let line = read_line(k, "it reported")?;
        let status = k.child.wait()?;
        if !status.success() {
            bail!("child {} failed ({status})", k.p);
        }
        let report: ChildReport = serde_json::from_str(&line)
            .with_context(|| format!("child {}: unreadable report", k.p))?;
        reports.push(report);
    }
    Ok(reports)
}

fn summarise(
    cfg: &Config,
    log: &Logger,
    ring: PathBuf,
    reports: &[ChildReport],
    dropped: u64,
    drained: Option<DrainStats>,
) -> anyhow::Result<Summary> {
    let first = reports
        .first()
        .ok_or_else(|| anyhow!("no child reported"))?;
    let start = reports.iter().map(|r| r.start_ns).min().unwrap_or(0);
    let end = reports.iter().map(|r| r.end_ns).max().unwrap_or(0);
    let calls: u64 = reports.iter().map(|r| r.calls).sum();
    let wall_s = end.saturating_sub(start) as f64 / 1e9;
    // The start's monotonic reading as wall-clock time: both clocks read now, the one's age
    // taken off the other (CLOCK_MONOTONIC is shared by every process of the machine).
    let (mono_now, unix_now) = (clock::monotonic_ns(), clock::unix_ns());
    let start_unix_ns = unix_now.saturating_sub(mono_now.saturating_sub(start));
    let mut per_call = Dist::new();
    let mut batched = Dist::new();
    let (mut batched_calls, mut batched_ps) = (0u64, 0u64);
    for r in reports {
        per_call.merge(&Dist::from_pairs(&r.per_call));
        batched.merge(&Dist::from_pairs(&r.batched));
        batched_calls += r.batched_calls;
        batched_ps += r.batched_ps;
    }
    let header = log.segment().header();
    Ok(Summary {
        ring,
        slot_count: header.slot_count,
        lanes: header.lane_count,
        slot_size: header.slot_size,
        record_clock: format!("{:?}", log.segment().clock_kind()),
        procs: cfg.procs,
        threads: cfg.threads,
        records_per_thread: cfg.records,
        policy: cfg.policy.name(),
        batch: cfg.batch,
        records: calls,
        dropped,
        drained: drained.map(|d| d.records),
        wall_s,
        start_unix_ns,
        throughput_per_s: if wall_s > 0.0 {
            calls as f64 / wall_s
        } else {
            0.0
        },
        timer: TimerSummary {
            source: clock::TICK_SOURCE,
            hz: first.tick_hz,
            empty_pair_ns: first.empty_pair_ps as f64 / 1000.0,
        },
        batched_ns: BatchedSummary {
            median: batched.quantile_ns(0.5),
            mean: if batched_calls > 0 {
                batched_ps as f64 / batched_calls as f64 / 1000.0
            } else {
                0.0
            },
            batches: batched.count(),
        },
        per_call_ns: (per_call.count() > 0).then(|| PerCallSummary {
            p50: per_call.quantile_ns(0.5),
            p99: per_call.quantile_ns(0.99),
            p999: per_call.quantile_ns(0.999),
            mean: per_call.mean_ns(),
            max: per_call.max_ns(),
            samples: per_call.count(),
        }),
    })
}

fn print_text(out: &mut impl Write, s: &Summary) -> io::Result<()> {
    writeln!(
        out,
        "ring       {} ({} lanes x {} slots x {} B, records stamped with {})",
        s.ring.display(),
        s.lanes,
        s.slot_count,
        s.slot_size,
        s.record_clock
    )?;
    writeln!(
        out,
        "load       {} procs x {} threads x {} records = {} records, policy {}",
        s.procs, s.threads, s.records_per_thread, s.records, s.policy
    )?;
    let drained = s.drained.map_or(String::new(), |d| {
        format!(", in-process drain consumed {d}")
    });
    writeln!(out, "dropped    {}{drained}", s.dropped)?;
    writeln!(
        out,
        "throughput {:.0} records/s ({} records in {:.3} s, first start to last finish)",
        s.throughput_per_s, s.records, s.wall_s
    )?;
    writeln!(
        out,
        "timer      {} at {:.3} GHz, empty pair {:.1} ns",
        s.timer.source,
        s.timer.hz / 1e9,
        s.timer.empty_pair_ns
    )?;
    writeln!(
        out,
        "batched    median {:.1} ns/call, mean {:.1} ns/call over {} batches of {} \
         (clock cost amortised)",
        s.batched_ns.median, s.batched_ns.mean, s.batched_ns.batches, s.batch
    )?;
    match &s.per_call_ns {
        Some(p) => writeln!(
            out,
            "per call   p50 {:.1} ns, p99 {:.1} ns, p99.9 {:.1} ns, mean {:.1} ns, max {:.1} ns \
             over {} calls (empty clock pair subtracted)",
            p.p50, p.p99, p.p999, p.mean, p.max, p.samples
        ),
        None => writeln!(out, "per call   not measured (--timing batched)"),
    }
}
