//! Command-line flags (clap) and dispatch. The drain's settings are [`Settings`], shared with
//! the config file and the environment (see [`crate::settings`]).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::drain::{Output, Signals};
use crate::exit::Sysexit;
use crate::format::{Format, LineFormat};
use crate::settings::Settings;

pub use crate::settings::{parse_duration, parse_size};

const AFTER_HELP: &str = "\
Settings come from, highest first: flags, environment variables (RINGDRAIN_ + the flag's name
in capitals with `_` for `-`, e.g. RINGDRAIN_ROTATE_SIZE=1G, RINGDRAIN_RINGS=a,b), the --config
TOML file (the flag's name with `_` for `-`), the defaults. A boolean flag takes an optional
value: --merge=false turns off `merge = true` from the file.

Exit codes (sysexits.h): 0 done; 1 `stats --check` found a problem, or another failure;
65 the ring is not a usable segment; 69 a needed service is unavailable (another drain holds the
ring, a network output or the metrics address cannot be set up); 74 an I/O error on the ring or
an output; 78 a configuration error (bad flag, environment or config value, no ring or output,
a ring that must exist and does not).";

/// ringdrain: drains ringlog shared-memory rings into log files.
#[derive(Debug, Parser)]
#[command(
    name = "ringdrain",
    version,
    about = "Drains ringlog shared-memory rings into log files",
    after_help = AFTER_HELP,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// Inspect a ring instead of draining it.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Draining options.
    #[command(flatten)]
    pub drain: Settings,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show rings' fill level, rates, losses, drain and producers; `--check` for alerting.
    Stats(StatsArgs),
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
    /// Print what is in a ring without consuming it; --follow keeps printing new records
    /// alongside the running drain.
    Cat {
        /// Ring name or path.
        ring: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = LineFormat::Text)]
        format: LineFormat,
        /// Keep printing records as they are committed, until interrupted.
        #[arg(long, short = 'f')]
        follow: bool,
        /// Only records at this level or more severe.
        #[arg(long, value_enum)]
        level: Option<crate::cat::LevelArg>,
        /// Only records whose target starts with PREFIX.
        #[arg(long, value_name = "PREFIX")]
        target: Option<String>,
    },
    /// Render binary archives (--format binary) as lines on standard output, byte for byte
    /// what --format text (or json, logfmt) writes; damaged or cut chunks are skipped and
    /// reported on stderr (exit status 65).
    Decode {
        /// Archive files, decoded in order (e.g. app.rlog.2 app.rlog.1 app.rlog); `-` reads
        /// standard input (to its end, not followed).
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Line format.
        #[arg(long, value_enum, default_value_t = LineFormat::Text)]
        format: LineFormat,
        /// Keep reading the last file as the drain appends to it (and after it rotates),
        /// until interrupted.
        #[arg(long, short = 'f')]
        follow: bool,
        /// Threads that decode and format chunks, this one included, written in file order:
        /// N, or auto = one per core, at most 8 [default: auto].
        #[arg(long, value_name = "N|auto")]
        format_threads: Option<crate::settings::Threads>,
        /// Only records at this level or more severe (the rest are still read and checked).
        #[arg(long, value_enum)]
        level: Option<crate::cat::LevelArg>,
        /// Only records whose target starts with PREFIX.
        #[arg(long, value_name = "PREFIX")]
        target: Option<String>,
        /// Only records stamped at or after TIME (RFC 3339: 2026-12-01T14:00:00Z, or with an
        /// offset; a text line's own timestamp works), or TIME before now (10m, 1h30m, 2 days).
        #[arg(long, value_name = "TIME")]
        since: Option<crate::decode::Time>,
        /// Only records stamped before TIME (as --since).
        #[arg(long, value_name = "TIME")]
        until: Option<crate::decode::Time>,
    },
    /// Set (`ringdrain level RING debug`), reset (`--reset`) or show (no directives) the filter
    /// directives every producer process of the ring applies in place of its own.
    Level(crate::level::LevelArgs),
    /// Print a shell completion script (e.g. `ringdrain completions bash > /etc/bash_completion.d/ringdrain`).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) to standard output (`ringdrain man | man -l -`).
    Man,
}

/// `ringdrain stats`.
#[derive(Debug, clap::Args)]
pub struct StatsArgs {
    /// Ring names or paths.
    #[arg(required = true, value_name = "RING")]
    pub rings: Vec<String>,
    /// Print one JSON object per ring.
    #[arg(long, conflicts_with = "prometheus")]
    pub json: bool,
    /// Print the Prometheus text exposition (counters and gauges per ring).
    #[arg(long)]
    pub prometheus: bool,
    /// Milliseconds between the two samples rates are computed from (human and JSON output).
    #[arg(long, value_name = "MS", default_value_t = 500)]
    pub interval_ms: u64,
    /// Exit 1, saying why, if a ring has no living drain, its lag exceeds --max-lag or
    /// records were lost since --since-mark.
    #[arg(long)]
    pub check: bool,
    /// With --check: most slots written and not yet drained.
    #[arg(long, value_name = "SLOTS", requires = "check")]
    pub max_lag: Option<u64>,
    /// With --check: fail if more records were lost (dropped, abandoned, corrupt) than the
    /// totals recorded in FILE by --mark (a missing FILE counts as zero).
    #[arg(long, value_name = "FILE", requires = "check")]
    pub since_mark: Option<PathBuf>,
    /// Record the rings' loss totals in FILE (after any --check), for a later --since-mark.
    #[arg(long, value_name = "FILE")]
    pub mark: Option<PathBuf>,
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
pub(crate) fn network_outputs(a: &Settings) -> anyhow::Result<Vec<Output>> {
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
            .map_or(crate::syslog::DEFAULT_RESEND_BYTES as u64, |s| s.0);
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

/// The command line as clap sees it: [`Cli`], each drain setting also read from its
/// `RINGDRAIN_*` environment variable.
pub fn command() -> clap::Command {
    Cli::command().mut_args(|a| {
        let id = a.get_id().as_str();
        if a.is_positional() || id == "help" || id == "version" {
            return a;
        }
        let env = crate::settings::env_name(id);
        a.env(env)
    })
}

/// Parses the command line. Help and version exit 0; a bad flag or environment value prints
/// clap's message and exits 78 (EX_CONFIG).
pub fn parse() -> Cli {
    match try_parse_from(std::env::args_os()) {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            let _ = e.print();
            if let Some(var) = env_source(&e) {
                eprintln!("ringdrain: the value came from the environment variable {var}");
            }
            std::process::exit(Sysexit::Config.code().into())
        }
    }
}

/// The `RINGDRAIN_*` variable a bad value came from, if it was not given as a flag.
fn env_source(e: &clap::Error) -> Option<String> {
    let arg = match e.get(clap::error::ContextKind::InvalidArg)? {
        clap::error::ContextValue::String(s) => s.clone(),
        _ => return None,
    };
    let flag = arg.strip_prefix("--")?;
    let flag = flag.split([' ', '[', '=']).next()?;
    let on_command_line = std::env::args().any(|a| {
        a.strip_prefix("--")
            .is_some_and(|a| a == flag || a.starts_with(&format!("{flag}=")))
    });
    let var = crate::settings::env_name(&flag.replace('-', "_"));
    (!on_command_line && std::env::var_os(&var).is_some()).then_some(var)
}

/// Parses `args` (the first is the program name).
pub fn try_parse_from<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let mut m = command().try_get_matches_from(args)?;
    Cli::from_arg_matches_mut(&mut m)
}

/// Runs what the command line asks for.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Some(Command::Stats(a)) => crate::stats::run(&a),
        Some(Command::Level(a)) => crate::level::run(&a),
        Some(Command::Cat {
            ring,
            format,
            follow,
            level,
            target,
        }) => crate::cat::run(
            &ring,
            &crate::cat::CatOptions {
                format,
                follow,
                level,
                target,
            },
        ),
        Some(Command::Decode {
            files,
            format,
            follow,
            format_threads,
            level,
            target,
            since,
            until,
        }) => crate::decode::run(&crate::decode::DecodeOptions {
            files,
            format,
            follow,
            threads: match format_threads {
                None | Some(crate::settings::Threads::Auto) => crate::decode::auto_threads(),
                Some(crate::settings::Threads::N(n)) => n,
            },
            filter: crate::decode::Filter {
                level: level.map(crate::cat::LevelArg::level),
                target,
                since,
                until,
            },
        }),
        Some(Command::Gc {
            rings,
            dir,
            dry_run,
        }) => crate::gc::run(&rings, &dir, dry_run),
        Some(Command::Completions { shell }) => {
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut command(), "ringdrain", &mut buf);
            print_quietly(&buf)
        }
        Some(Command::Man) => {
            let mut buf = Vec::new();
            clap_mangen::Man::new(command()).render(&mut buf)?;
            print_quietly(&buf)
        }
        None => run_drain(cli.drain),
    }
}

/// Writes `bytes` to stdout; a closed pipe (`| head`) is not an error.
fn print_quietly(bytes: &[u8]) -> anyhow::Result<ExitCode> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::Error::new(e).context("cannot write to standard output"))
        }
        _ => Ok(ExitCode::SUCCESS),
    }
}

fn describe(o: &Output) -> String {
    match o {
        Output::File { path, .. } => path.display().to_string(),
        Output::Stdout => "standard output".into(),
        Output::Syslog(c) => format!("syslog {}", c.endpoint),
        Output::Otlp(c) => format!("OTLP {}", c.endpoint),
    }
}

fn run_drain(a: Settings) -> anyhow::Result<ExitCode> {
    let a = a.layered()?;
    let mut cfg = a.drain_config()?;
    let notifier = crate::monitor::Notifier::from_env()
        .map_err(|e| Sysexit::Unavailable.msg(format_args!("$NOTIFY_SOCKET: {e}")))?;
    let mut monitor = crate::monitor::Monitor::new(notifier);
    let metrics = match &a.metrics_listen {
        Some(addr) => Some(crate::metrics::serve(addr, cfg.rings.clone())?),
        None => None,
    };
    let outputs = std::iter::once(&cfg.output)
        .chain(&cfg.also)
        .map(describe)
        .collect::<Vec<_>>();
    monitor = monitor.with_banner(format!(
        "ringdrain: draining {} -> {} (format {}{}{})",
        cfg.rings
            .iter()
            .map(|r| r.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        outputs.join(", "),
        <Format as clap::ValueEnum>::to_possible_value(&cfg.format)
            .map_or_else(|| "?".into(), |v| v.get_name().to_string()),
        if cfg.once { ", once" } else { "" },
        match &metrics {
            Some(m) => format!(", metrics on http://{}/metrics", m.addr()),
            None => String::new(),
        },
    ));
    let monitor = std::sync::Arc::new(monitor);
    if let Some(m) = &metrics {
        m.attach(monitor.clone());
    }
    cfg.monitor = Some(monitor.clone());
    let (wake_rx, wake_tx) = std::os::unix::net::UnixStream::pair()?;
    wake_rx.set_nonblocking(true)?;
    let signals = Signals {
        wake: Some(std::sync::Arc::new(wake_rx)),
        ..Signals::default()
    };
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    use signal_hook::{flag, low_level::pipe};
    for sig in [SIGINT, SIGTERM] {
        // A second signal while already stopping exits at once (code 1).
        flag::register_conditional_shutdown(sig, 1, signals.stop.clone())?;
        flag::register(sig, signals.stop.clone())?;
    }
    flag::register(SIGHUP, signals.reopen.clone())?;
    // After the flags (a signal's actions run in the order they were registered): wake a
    // sleeping drain to act on them (`Signals::wake`).
    for sig in [SIGINT, SIGTERM, SIGHUP] {
        pipe::register(sig, wake_tx.try_clone()?)?;
    }
    // A file-size limit (RLIMIT_FSIZE) must be an EFBIG write error we retry, not a signal
    // that kills the drain.
    // SAFETY: setting SIGXFSZ to ignored has no preconditions and no handler code runs.
    unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
    let res = crate::drain::run(&cfg, &signals);
    monitor.stopping();
    drop(metrics);
    let s = res?;
    // Revoked claims are counted when revoked; those whose producer claimed again were not
    // lost (their records are in the output).
    // (Capped: a claim revoked by an earlier drain may be claimed again during this one.)
    let reclaimed = match s.reclaimed_slots.min(s.abandoned_slots) {
        0 => String::new(),
        n => format!(" ({n} of them claimed again by a living producer: not lost)"),
    };
    eprintln!(
        "ringdrain: stopped: {} records, {} loss notices; lost: {} dropped by producers, {} slots abandoned{reclaimed}, {} corrupt",
        s.records, s.notices, s.dropped, s.abandoned_slots, s.corrupt
    );
    let g = s.gate;
    if g != crate::recall::GateCounts::default() {
        eprintln!(
            "ringdrain: not written: {} below --level ({} of them recalled later, {} pushed out of the flight recorder), {} over --limit",
            g.below_level, g.recalled, g.evicted, g.suppressed
        );
    }
    Ok(ExitCode::SUCCESS)
}
