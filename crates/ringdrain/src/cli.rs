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
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// Inspect a ring instead of draining it.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Draining options.
    #[command(flatten)]
    pub drain: DrainArgs,
}

/// Options of the drain itself. Every one can also come from `--config FILE` (TOML, the same
/// names with `_` for `-`, `rings` a list); flags win over the file.
#[derive(Debug, Args, Default)]
pub struct DrainArgs {
    /// TOML file with these settings (see `ringdrain --help` and docs/ringdrain.toml).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Ring name (/dev/shm/ringlog-NAME) or path; created if missing. Repeat to drain several
    /// rings into one output.
    #[arg(long = "ring", value_name = "NAME|PATH")]
    pub rings: Vec<String>,
    /// Log file to append to.
    #[arg(long, value_name = "FILE", conflicts_with = "stdout")]
    pub out: Option<PathBuf>,
    /// Write to standard output instead of a file.
    #[arg(long)]
    pub stdout: bool,
    /// Output format [default: text].
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// With several rings, order each batch's lines by timestamp across the rings.
    #[arg(long)]
    pub merge: bool,
    /// Rotate the file before it would grow past SIZE (e.g. 100M, 1G).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub rotate_size: Option<u64>,
    /// Also rotate once the file has been open this long (e.g. 30s, 15m, 1h, 1d).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub rotate_interval: Option<Duration>,
    /// Rotated files to keep, FILE.1 .. FILE.N [default: 5].
    #[arg(long, value_name = "N")]
    pub rotate_keep: Option<u32>,
    /// Drain what is in the ring, then exit.
    #[arg(long)]
    pub once: bool,
    /// Mode of files this drain creates, octal [default: 600].
    #[arg(long, value_name = "MODE", value_parser = parse_mode)]
    pub mode: Option<u32>,
    /// Ring size if this drain creates the ring, e.g. 64M [default: 64M].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub ring_size: Option<u64>,
    /// Slot size in bytes if this drain creates the ring, a power of two >= 64 [default: 64].
    #[arg(long, value_name = "BYTES")]
    pub slot_size: Option<u32>,
    /// Milliseconds before a claim no producer owns is skipped [default: 100].
    #[arg(long, value_name = "MS")]
    pub grace_ms: Option<u64>,
    /// Open rings owned by another user.
    #[arg(long)]
    pub allow_foreign_owner: bool,
    /// Forward to a syslog receiver (RFC 5424, octet-counted), with or without --out:
    /// tcp://HOST:PORT or tls://HOST:PORT.
    #[arg(long, value_name = "URL")]
    pub syslog: Option<String>,
    /// Syslog APP-NAME [default: the ring's name].
    #[arg(long, value_name = "NAME")]
    pub syslog_app_name: Option<String>,
    /// Syslog facility: user, daemon, local0 .. local7, ... or 0..23 [default: user].
    #[arg(long, value_name = "FACILITY")]
    pub syslog_facility: Option<String>,
    /// Syslog HOSTNAME [default: this machine's host name].
    #[arg(long, value_name = "NAME")]
    pub syslog_hostname: Option<String>,
    /// PEM file with the CA certificate(s) to trust for tls:// [default: the system's].
    #[arg(long, value_name = "FILE")]
    pub syslog_ca: Option<PathBuf>,
    /// Recent bytes sent again after a lost syslog connection (docs/OPERATIONS.md) [default: 4M].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub syslog_resend: Option<u64>,
    /// Export to an OpenTelemetry collector over OTLP/HTTP (protobuf), with or without --out:
    /// http://HOST:PORT (POST /v1/logs) or https://.
    #[arg(long, value_name = "URL")]
    pub otlp: Option<String>,
    /// OTLP resource attribute service.name [default: the ring's name].
    #[arg(long, value_name = "NAME")]
    pub otlp_service_name: Option<String>,
    /// PEM file with the CA certificate(s) to trust for https:// [default: the system's].
    #[arg(long, value_name = "FILE")]
    pub otlp_ca: Option<PathBuf>,
}

/// The `--config` file.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Rings to drain.
    #[serde(default)]
    pub rings: Vec<String>,
    /// One ring (same as a one-element `rings`).
    pub ring: Option<String>,
    /// Output file.
    pub out: Option<PathBuf>,
    /// Write to stdout.
    #[serde(default)]
    pub stdout: bool,
    /// `text`, `json` or `logfmt`.
    pub format: Option<String>,
    /// Merge rings by timestamp.
    #[serde(default)]
    pub merge: bool,
    /// e.g. "100M".
    pub rotate_size: Option<String>,
    /// e.g. "1d".
    pub rotate_interval: Option<String>,
    /// Rotated files to keep.
    pub rotate_keep: Option<u32>,
    /// Octal mode, e.g. "640".
    pub mode: Option<String>,
    /// e.g. "64M".
    pub ring_size: Option<String>,
    /// Slot size in bytes.
    pub slot_size: Option<u32>,
    /// Grace period in ms.
    pub grace_ms: Option<u64>,
    /// Open rings owned by another user.
    #[serde(default)]
    pub allow_foreign_owner: bool,
    /// Syslog receiver URL.
    pub syslog: Option<String>,
    /// Syslog APP-NAME.
    pub syslog_app_name: Option<String>,
    /// Syslog facility.
    pub syslog_facility: Option<String>,
    /// Syslog HOSTNAME.
    pub syslog_hostname: Option<String>,
    /// CA file for tls://.
    pub syslog_ca: Option<PathBuf>,
    /// e.g. "1M".
    pub syslog_resend: Option<String>,
    /// OTLP collector URL.
    pub otlp: Option<String>,
    /// OTLP service.name.
    pub otlp_service_name: Option<String>,
    /// CA file for https://.
    pub otlp_ca: Option<PathBuf>,
}

impl DrainArgs {
    /// Fills what the flags left unset from `--config`.
    pub fn with_config(mut self) -> anyhow::Result<DrainArgs> {
        let Some(path) = self.config.clone() else {
            return Ok(self);
        };
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        let f: ConfigFile = toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.message()))?;
        let bad = |what: &str, e: String| anyhow::anyhow!("{}: {what}: {e}", path.display());
        if self.rings.is_empty() {
            self.rings = f.rings;
            self.rings.extend(f.ring);
        }
        if self.out.is_none() && !self.stdout {
            self.out = f.out;
            self.stdout = f.stdout;
        }
        if self.format.is_none() {
            if let Some(s) = f.format {
                self.format = Some(
                    <Format as clap::ValueEnum>::from_str(&s, true)
                        .map_err(|e| bad("format", e))?,
                );
            }
        }
        self.merge |= f.merge;
        self.allow_foreign_owner |= f.allow_foreign_owner;
        if self.rotate_size.is_none() {
            self.rotate_size = f
                .rotate_size
                .map(|s| parse_size(&s))
                .transpose()
                .map_err(|e| bad("rotate_size", e))?;
        }
        if self.rotate_interval.is_none() {
            self.rotate_interval = f
                .rotate_interval
                .map(|s| parse_duration(&s))
                .transpose()
                .map_err(|e| bad("rotate_interval", e))?;
        }
        self.rotate_keep = self.rotate_keep.or(f.rotate_keep);
        if self.mode.is_none() {
            self.mode = f
                .mode
                .map(|s| parse_mode(&s))
                .transpose()
                .map_err(|e| bad("mode", e))?;
        }
        if self.ring_size.is_none() {
            self.ring_size = f
                .ring_size
                .map(|s| parse_size(&s))
                .transpose()
                .map_err(|e| bad("ring_size", e))?;
        }
        self.slot_size = self.slot_size.or(f.slot_size);
        self.grace_ms = self.grace_ms.or(f.grace_ms);
        self.syslog = self.syslog.or(f.syslog);
        self.syslog_app_name = self.syslog_app_name.or(f.syslog_app_name);
        self.syslog_facility = self.syslog_facility.or(f.syslog_facility);
        self.syslog_hostname = self.syslog_hostname.or(f.syslog_hostname);
        self.syslog_ca = self.syslog_ca.or(f.syslog_ca);
        if self.syslog_resend.is_none() {
            self.syslog_resend = f
                .syslog_resend
                .map(|s| parse_size(&s))
                .transpose()
                .map_err(|e| bad("syslog_resend", e))?;
        }
        self.otlp = self.otlp.or(f.otlp);
        self.otlp_service_name = self.otlp_service_name.or(f.otlp_service_name);
        self.otlp_ca = self.otlp_ca.or(f.otlp_ca);
        Ok(self)
    }
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
    /// Remove segments no process uses any more (never one with undrained records).
    Gc {
        /// Segments (names or paths); default: every ringlog-* file in --dir.
        rings: Vec<String>,
        /// Directory to scan.
        #[arg(long, value_name = "DIR", default_value = "/dev/shm")]
        dir: PathBuf,
        /// Say what would be removed, remove nothing.
        #[arg(long)]
        dry_run: bool,
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

/// The name a ring goes by: `NAME` for `--ring NAME`, or a path's file name without the
/// `ringlog-` prefix.
fn ring_name(ring: &str) -> String {
    let base = ring.rsplit('/').next().unwrap_or(ring);
    let base = base.strip_prefix("ringlog-").unwrap_or(base);
    if base.is_empty() {
        "ringdrain".to_string()
    } else {
        base.to_string()
    }
}

/// The `--syslog` and `--otlp` outputs asked for (checked: a bad URL or name is an error here).
fn network_outputs(a: &DrainArgs) -> anyhow::Result<Vec<Output>> {
    let ring = ring_name(a.rings.first().map(String::as_str).unwrap_or(""));
    let host = crate::net::hostname();
    let mut outputs = Vec::new();
    if let Some(url) = &a.syslog {
        let endpoint = crate::net::parse_url(url, crate::syslog::SCHEMES)
            .map_err(|e| anyhow::anyhow!("--syslog: {e}"))?;
        let facility = match &a.syslog_facility {
            Some(f) => crate::syslog::parse_facility(f)
                .map_err(|e| anyhow::anyhow!("--syslog-facility: {e}"))?,
            None => 1,
        };
        let hostname = match &a.syslog_hostname {
            Some(h) => h.clone(),
            None => crate::syslog::Header::sanitize(host.as_deref().unwrap_or(""), 255),
        };
        let app_name = match &a.syslog_app_name {
            Some(n) => n.clone(),
            None => crate::syslog::Header::sanitize(&ring, 48),
        };
        let header = crate::syslog::Header::new(facility, &hostname, &app_name)
            .map_err(|e| anyhow::anyhow!("--syslog: {e}"))?;
        let resend = a
            .syslog_resend
            .unwrap_or(crate::syslog::DEFAULT_RESEND_BYTES as u64);
        outputs.push(Output::Syslog(crate::syslog::SyslogConfig {
            endpoint,
            ca: a.syslog_ca.clone(),
            header: std::sync::Arc::new(header),
            resend_bytes: usize::try_from(resend).unwrap_or(usize::MAX),
        }));
    }
    if let Some(url) = &a.otlp {
        let endpoint = crate::net::parse_url(url, crate::otlp::SCHEMES)
            .map_err(|e| anyhow::anyhow!("--otlp: {e}"))?;
        outputs.push(Output::Otlp(crate::otlp::OtlpConfig {
            endpoint,
            ca: a.otlp_ca.clone(),
            service_name: a.otlp_service_name.clone().unwrap_or(ring),
            host_name: host.unwrap_or_default(),
        }));
    }
    Ok(outputs)
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
        Some(Command::Gc {
            rings,
            dir,
            dry_run,
        }) => crate::gc::run(&rings, &dir, dry_run),
        None => run_drain(cli.drain),
    }
}

fn run_drain(a: DrainArgs) -> anyhow::Result<ExitCode> {
    let a = a.with_config()?;
    if a.rings.is_empty() {
        anyhow::bail!("no ring given: use --ring NAME|PATH (or `rings` in --config)");
    }
    let rings = a
        .rings
        .iter()
        .map(|r| ringlog_segment::resolve(r))
        .collect::<Result<Vec<_>, _>>()?;
    let slot_size = a.slot_size.unwrap_or(64);
    if slot_size < 64 || !slot_size.is_power_of_two() {
        anyhow::bail!("--slot-size must be a power of two of at least 64");
    }
    let ring_size = a.ring_size.unwrap_or(64 << 20);
    let slots = (ring_size / slot_size as u64).max(2);
    if !slots.is_power_of_two() {
        anyhow::bail!(
            "--ring-size divided by --slot-size must be a power of two (got {slots} slots)"
        );
    }
    let mode = a.mode.unwrap_or(0o600);
    let mut outputs = network_outputs(&a)?;
    match (a.out, a.stdout) {
        (Some(path), _) => outputs.insert(
            0,
            Output::File {
                path,
                rotation: Rotation {
                    max_bytes: a.rotate_size.unwrap_or(0),
                    interval: a.rotate_interval,
                    keep: a.rotate_keep.unwrap_or(5),
                },
                mode,
            },
        ),
        (None, true) => outputs.insert(0, Output::Stdout),
        (None, false) => {}
    }
    if outputs.is_empty() {
        anyhow::bail!("no output given: use --out FILE, --stdout, --syslog URL or --otlp URL");
    }
    let mut cfg = DrainConfig::new(PathBuf::new(), outputs.remove(0));
    cfg.also = outputs;
    cfg.rings = rings;
    cfg.merge = a.merge;
    cfg.format = a.format.unwrap_or_default();
    cfg.once = a.once;
    cfg.segment = SegmentConfig {
        slot_size,
        slot_count: slots,
        mode,
        allow_foreign_owner: a.allow_foreign_owner,
        ..SegmentConfig::default()
    };
    cfg.stall = StallPolicy {
        grace: Duration::from_millis(a.grace_ms.unwrap_or(100)),
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
