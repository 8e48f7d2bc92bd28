//! ringload's flags.

use clap::{Parser, ValueEnum};
use ringlog_benches::ringload::{Config, Invocation, PolicyArg, MAX_BATCH};

/// ringlog's load generator: P processes x T threads each log N records into a ring.
///
/// Thread t of process p logs `request {i} served in {lat} us by p{p}-t{t}` for i in 0..N
/// (lat = i / 4) and times its calls. Run it with `ringdrain` attached to the ring (or pass
/// --drain): without a drain the ring fills after --slot-count records and the rest are dropped
/// (and counted) whatever the policy.
#[derive(Debug, Parser)]
#[command(name = "ringload", version)]
struct Flags {
    /// Ring name (/dev/shm/ringlog-NAME) or path (anything with a '/'); created if missing.
    #[arg(long, value_name = "NAME|PATH")]
    ring: String,
    /// Producer processes.
    #[arg(long, value_name = "P", value_parser = clap::value_parser!(u32).range(1..=4096))]
    procs: u32,
    /// Threads per process.
    #[arg(long, value_name = "T", value_parser = clap::value_parser!(u32).range(1..=4096))]
    threads: u32,
    /// Records per thread.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    records: u64,
    /// What a log call does when the ring is full.
    #[arg(long, value_enum, default_value_t = PolicyFlag::Block)]
    policy: PolicyFlag,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Slots per lane (a power of two) for a ring this run creates; an existing ring keeps its
    /// size.
    #[arg(long, value_name = "SLOTS")]
    slot_count: Option<u64>,
    /// Lanes for a ring this run creates (each thread writes into a lane of its own).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=4096))]
    lanes: Option<u32>,
    /// Calls per timed batch.
    #[arg(long, default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..=MAX_BATCH as i64))]
    batch: u32,
    /// How calls are timed: `both` alternates batches timed as a whole with batches timed call
    /// by call; `batched` times whole batches only (the throughput then carries no per-call
    /// timer cost, and no percentiles are reported).
    #[arg(long, value_enum, default_value_t = TimingFlag::Both)]
    timing: TimingFlag,
    /// Run an in-process drain that consumes and discards records (when no ringdrain is
    /// attached; it refuses if one is).
    #[arg(long)]
    drain: bool,
    /// Internal: run as child process number P.
    #[arg(long, hide = true, value_name = "P")]
    child_index: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum TimingFlag {
    /// Alternate whole-batch and per-call timing.
    Both,
    /// Whole-batch timing only.
    Batched,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum PolicyFlag {
    /// Wait for space while a drain is alive.
    Block,
    /// Drop (and count) at once.
    Drop,
}

/// Parses the command line. Help and version become text to print; a bad flag becomes a one-line
/// message.
pub fn parse() -> Invocation {
    let flags = match Flags::try_parse() {
        Ok(f) => f,
        Err(e) => {
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    Invocation::Print(e.to_string())
                }
                _ => {
                    let text = e.to_string();
                    let first = text.lines().next().unwrap_or("invalid arguments");
                    let first = first.strip_prefix("error: ").unwrap_or(first);
                    Invocation::Invalid(format!("{first} (see ringload --help)"))
                }
            }
        }
    };
    Invocation::Run(Config {
        ring: flags.ring,
        procs: flags.procs,
        threads: flags.threads,
        records: flags.records,
        policy: match flags.policy {
            PolicyFlag::Block => PolicyArg::Block,
            PolicyFlag::Drop => PolicyArg::Drop,
        },
        json: flags.json,
        slot_count: flags.slot_count,
        lanes: flags.lanes,
        batch: flags.batch,
        drain: flags.drain,
        per_call: flags.timing == TimingFlag::Both,
        child_index: flags.child_index,
    })
}
