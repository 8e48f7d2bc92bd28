//! Command-line flags (clap) and dispatch.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use ringlog_segment::reader::StallPolicy;
use ringlog_segment::SegmentConfig;

use crate::drain::{DrainConfig, Output, Signals};
use crate::format::Format;
use crate::sink::Rotation;

/// ringdrain: drains ringlog shared-memory rings into log files.
#[derive(Debug, Parser)]
#[command(
    name = "ringdrain",
    version,
    about = "Drains ringlog shared-memory rings into log files",
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub struct Cli {
    /// Inspect a ring instead of draining it.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Draining options.
    #[command(flatten)]
    pub drain: DrainArgs,
}

/// Options of the drain itself.
#[derive(Debug, Args)]
pub struct DrainArgs {
    /// Ring name (/dev/shm/ringlog-NAME) or path; created if missing.
    #[arg(long, value_name = "NAME|PATH", required = true)]
    pub ring: Option<String>,
    /// Log file to append to.
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "stdout",
        conflicts_with = "stdout"
    )]
    pub out: Option<PathBuf>,
    /// Write to standard output instead of a file.
    #[arg(long)]
    pub stdout: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Rotate the file before it would grow past SIZE (e.g. 100M, 1G).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub rotate_size: Option<u64>,
    /// Also rotate once the file has been open this long (e.g. 30s, 15m, 1h, 1d).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub rotate_interval: Option<Duration>,
    /// Rotated files to keep (FILE.1 .. FILE.N).
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub rotate_keep: u32,
    /// Drain what is in the ring, then exit.
    #[arg(long)]
    pub once: bool,
    /// Mode of files this drain creates (octal).
    #[arg(long, value_name = "MODE", default_value = "600", value_parser = parse_mode)]
    pub mode: u32,
    /// Ring size if this drain creates the ring (e.g. 64M).
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "64M")]
    pub ring_size: u64,
    /// Slot size in bytes if this drain creates the ring (power of two, >= 64).
    #[arg(long, value_name = "BYTES", default_value_t = 64)]
    pub slot_size: u32,
    /// Milliseconds before a claim no producer owns is skipped.
    #[arg(long, value_name = "MS", default_value_t = 100)]
    pub grace_ms: u64,
    /// Open rings owned by another user.
    #[arg(long)]
    pub allow_foreign_owner: bool,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show a ring's fill level, rates, losses, drain and producers.
    Stats {
        /// Ring name or path.
        ring: String,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
        /// Milliseconds between the two samples rates are computed from.
        #[arg(long, value_name = "MS", default_value_t = 500)]
        interval_ms: u64,
    },
    /// Print what is in a ring without consuming it.
    Cat {
        /// Ring name or path.
        ring: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

/// Parses sizes like `4096`, `64k`, `64M`, `1G` (binary units).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, mult) = match t.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => {
            let unit = t[i..].to_ascii_lowercase();
            let m = match unit.trim_end_matches("ib").trim_end_matches('b') {
                "" => 1,
                "k" => 1 << 10,
                "m" => 1 << 20,
                "g" => 1 << 30,
                "t" => 1u64 << 40,
                _ => return Err(format!("unknown size unit in {s:?} (use k, M, G)")),
            };
            (&t[..i], m)
        }
        None => (t, 1),
    };
    let n: u64 = num
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a size (e.g. 4096, 64k, 64M, 1G)"))?;
    n.checked_mul(mult)
        .ok_or_else(|| format!("size {s:?} is too large"))
}

/// Parses durations like `500ms`, `30s`, `15m`, `1h`, `1d` (a bare number is seconds).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (e.g. 30s, 15m, 1h, 1d)"))?;
    let secs = |k: u64| Duration::from_secs(n.saturating_mul(k));
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "" | "s" => secs(1),
        "m" => secs(60),
        "h" => secs(3600),
        "d" => secs(86400),
        _ => return Err(format!("unknown unit in {s:?} (use ms, s, m, h, d)")),
    };
    if d.is_zero() {
        return Err(format!("{s:?}: a rotation interval must be positive"));
    }
    Ok(d)
}

fn parse_mode(s: &str) -> Result<u32, String> {
    let m = u32::from_str_radix(s.trim_start_matches("0o"), 8)
        .map_err(|_| format!("{s:?} is not an octal file mode (e.g. 600, 640)"))?;
    if m > 0o7777 {
        return Err(format!("{s:?} is not a file mode"));
    }
    Ok(m)
}

/// Parses the command line (exits with clap's message on bad flags).
pub fn parse() -> Cli {
    Cli::parse()
}

/// Runs what the command line asks for.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Some(Command::Stats {
            ring,
            json,
            interval_ms,
        }) => crate::stats::run(&ring, json, Duration::from_millis(interval_ms)),
        Some(Command::Cat { ring, format }) => crate::cat::run(&ring, format),
        None => run_drain(cli.drain),
    }
}

fn run_drain(a: DrainArgs) -> anyhow::Result<ExitCode> {
    let ring = a.ring.context("--ring is required")?;
    let ring_path = ringlog_segment::resolve(&ring)?;
    if a.slot_size < 64 || !a.slot_size.is_power_of_two() {
        anyhow::bail!("--slot-size must be a power of two of at least 64");
    }
    let slots = (a.ring_size / a.slot_size as u64).max(2);
    if !slots.is_power_of_two() {
        anyhow::bail!(
            "--ring-size divided by --slot-size must be a power of two (got {slots} slots)"
        );
    }
    let output = match a.out {
        Some(path) => Output::File {
            path,
            rotation: Rotation {
                max_bytes: a.rotate_size.unwrap_or(0),
                interval: a.rotate_interval,
                keep: a.rotate_keep,
            },
            mode: a.mode,
        },
        None => Output::Stdout,
    };
    let mut cfg = DrainConfig::new(ring_path, output);
    cfg.format = a.format;
    cfg.once = a.once;
    cfg.segment = SegmentConfig {
        slot_size: a.slot_size,
        slot_count: slots,
        mode: a.mode,
        allow_foreign_owner: a.allow_foreign_owner,
        ..SegmentConfig::default()
    };
    cfg.stall = StallPolicy {
        grace: Duration::from_millis(a.grace_ms),
        ..StallPolicy::default()
    };
    let signals = Signals::default();
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    use signal_hook::flag;
    for sig in [SIGINT, SIGTERM] {
        // A second signal while already stopping exits at once (code 1).
        flag::register_conditional_shutdown(sig, 1, signals.stop.clone())?;
        flag::register(sig, signals.stop.clone())?;
    }
    flag::register(SIGHUP, signals.reopen.clone())?;
    // A file-size limit (RLIMIT_FSIZE) must be an EFBIG write error we retry, not a signal
    // that kills the drain.
    // SAFETY: setting SIGXFSZ to ignored has no preconditions and no handler code runs.
    unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
    crate::drain::run(&cfg, &signals)?;
    Ok(ExitCode::SUCCESS)
}
