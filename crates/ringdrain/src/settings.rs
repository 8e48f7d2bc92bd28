//! Every setting of the drain, defined once: [`Settings`] is the command line (clap), the
//! `--config` TOML file (serde, the same names with `_` for `-`) and the environment
//! (`RINGDRAIN_` + the name in capitals, e.g. `RINGDRAIN_ROTATE_SIZE=1G`).
//!
//! Precedence, highest first: **flags > environment > config file > defaults**. Clap gives a
//! flag precedence over its environment variable; [`Settings::layered`] then lays what came
//! from either over the file, key by key (a list such as `rings` is replaced whole, never
//! merged). The defaults live in [`Settings::drain_config`].
//!
//! Booleans take a value so a higher layer can turn one off: `--merge` is `--merge=true`, and
//! `--merge=false` (or `RINGDRAIN_MERGE=0`) overrides `merge = true` in the file.
//! `out` and `stdout` are one choice: a layer that sets either replaces both of a lower layer.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::builder::BoolishValueParser;
use serde::{Deserialize, Serialize};

use crate::exit::Sysexit;
use crate::format::Format;
use ringlog_wire::layout::FENCE_AFTER_MS;

/// The drain's settings (see the module docs for where each comes from). `None` or empty:
/// not set at this layer.
#[derive(Debug, Clone, Default, PartialEq, clap::Args, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// TOML file with these settings (the same names with `_` for `-`; docs/ringdrain.toml).
    #[arg(long, value_name = "FILE")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Ring name (/dev/shm/ringlog-NAME) or path; created if missing. Repeat (or separate
    /// with commas) to drain several rings into one output. TOML: `rings = [..]` or `ring`.
    #[arg(
        long = "ring",
        id = "rings",
        value_name = "NAME|PATH",
        value_delimiter = ','
    )]
    #[serde(default, alias = "ring", deserialize_with = "one_or_many")]
    pub rings: Vec<String>,
    /// Log file to append to.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Write to standard output instead of a file.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true",
          value_parser = BoolishValueParser::new(), value_name = "BOOL")]
    pub stdout: Option<bool>,
    /// Output format [default: text].
    #[arg(long, value_enum)]
    #[serde(default, with = "value_enum")]
    pub format: Option<Format>,
    /// With --format binary: compress each archive chunk with zstd at level N (1..=22;
    /// `ringdrain decode` reads either) [default: stored as is].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i32).range(1..=22))]
    pub archive_zstd: Option<i32>,
    /// With several rings, order each batch's lines by timestamp across the rings.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true",
          value_parser = BoolishValueParser::new(), value_name = "BOOL")]
    pub merge: Option<bool>,
    /// Rotate the file before it would grow past SIZE (e.g. 100M, 1G).
    #[arg(long, value_name = "SIZE")]
    pub rotate_size: Option<Size>,
    /// Also rotate at wall-clock boundaries: hourly, daily, or every DURATION from midnight
    /// (e.g. 15m, 6h); rotated files get dated names (FILE.2026-11-29, FILE.2026-11-29T13).
    #[arg(long, value_name = "hourly|daily|DURATION")]
    pub rotate_interval: Option<Interval>,
    /// Time zone of the rotation boundaries and dated names [default: utc].
    #[arg(long, value_enum)]
    #[serde(default, with = "value_enum")]
    pub rotate_zone: Option<crate::rotate::Zone>,
    /// Remove rotated files older than this (e.g. 30d).
    #[arg(long, value_name = "DURATION")]
    pub rotate_max_age: Option<Interval>,
    /// Remove the oldest rotated files while together they take more than SIZE (e.g. 10G).
    #[arg(long, value_name = "SIZE")]
    pub rotate_max_total: Option<Size>,
    /// Compress rotated files (FILE.DATE.zst / .gz) on a thread off the drain's write path.
    #[arg(long, value_enum)]
    #[serde(default, with = "value_enum")]
    pub compress: Option<crate::rotate::Compression>,
    /// Compression level [default: zstd 3, gzip 6].
    #[arg(long, value_name = "N")]
    pub compress_level: Option<i32>,
    /// Rotated files to keep: the newest N (FILE.1 .. FILE.N, or dated) [default: 5].
    #[arg(long, value_name = "N")]
    pub rotate_keep: Option<u32>,
    /// Drain what is in the ring, then exit.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true",
          value_parser = BoolishValueParser::new(), value_name = "BOOL")]
    pub once: Option<bool>,
    /// Mode of the output files this drain creates, octal [default: 600].
    #[arg(long, value_name = "MODE")]
    pub mode: Option<Mode>,
    /// Mode of a ring this drain creates, octal [default: 600]; 660 (with the ring's
    /// directory's group, or a setgid directory) lets producers of other users in the group
    /// write it.
    #[arg(long, value_name = "MODE")]
    pub ring_mode: Option<Mode>,
    /// Ring size if this drain creates the ring: the bytes of all its lanes together (32
    /// lanes), e.g. 16M [default: 16M].
    #[arg(long, value_name = "SIZE")]
    pub ring_size: Option<Size>,
    /// Slot size in bytes if this drain creates the ring, a power of two >= 64 [default: 64].
    #[arg(long, value_name = "BYTES")]
    pub slot_size: Option<u32>,
    /// Milliseconds before a claim no producer owns is skipped [default: 100].
    #[arg(long, value_name = "MS")]
    pub grace_ms: Option<u64>,
    /// Longest sleep of an idle drain, in milliseconds, before it looks at the rings again
    /// without being woken (a producer's record or a signal wakes it at once) [default: 200].
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub idle_sleep_ms: Option<u64>,
    /// Milliseconds a living producer's unfinished record may hold up other writers' records
    /// queued behind it in a shared lane before the drain steps over it and drops it (the
    /// fence); 0: never [default: 1000].
    #[arg(long, value_name = "MS")]
    pub fence_ms: Option<u64>,
    /// Open rings owned by another user.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true",
          value_parser = BoolishValueParser::new(), value_name = "BOOL")]
    pub allow_foreign_owner: Option<bool>,
    /// Serve Prometheus metrics at http://ADDR/metrics while draining (e.g. 127.0.0.1:9464).
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<String>,
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
    #[arg(long, value_name = "SIZE")]
    pub syslog_resend: Option<Size>,
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
    /// Write only records at LEVEL or more severe [default: every level].
    #[arg(long, value_enum, value_name = "LEVEL")]
    #[serde(default, with = "value_enum")]
    pub level: Option<crate::cat::LevelArg>,
    /// Flight recorder (needs --level): keep the last N records below --level, from every
    /// process, and write them (marked recalled=true) before a record at ERROR or above or the
    /// notice of a record abandoned by a dying producer.
    #[arg(long, value_name = "N")]
    pub flight_recorder: Option<usize>,
    /// Rate limit, repeatable: TARGET=N/s (a target and everything under it) or FILE:LINE=N/s
    /// (one callsite); also N/m, N/h, N/10s. Suppressed counts are written when the window
    /// closes. TOML: `limit = ["app::http=1000/s"]`.
    #[arg(
        long = "limit",
        id = "limit",
        value_name = "TARGET=N/s",
        value_delimiter = ','
    )]
    #[serde(default, deserialize_with = "one_or_many")]
    pub limit: Vec<String>,
    /// Threads that format a large batch of text, JSON or logfmt lines, written in order
    /// (one ring, no --level/--limit), the drain thread included; the others also do the
    /// write-behind's writes: N, or auto = one per core the drain thread leaves free, at most 4
    /// [default: auto].
    #[arg(long, value_name = "N|auto")]
    pub format_threads: Option<Threads>,
    /// Write each batch to the file on a thread of its own while the drain reads the next
    /// (while the rings hold more than a batch; a file output without network outputs)
    /// [default: true with more than one core].
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true",
          value_parser = BoolishValueParser::new(), value_name = "BOOL")]
    pub write_behind: Option<bool>,
}

/// Prefix of the environment variables ([`env_name`]).
pub const ENV_PREFIX: &str = "RINGDRAIN_";

/// The environment variable of setting `id` (a [`Settings`] field name).
pub fn env_name(id: &str) -> String {
    format!("{ENV_PREFIX}{}", id.to_ascii_uppercase())
}

impl Settings {
    /// Reads the TOML config file `path` (its errors are configuration errors, exit 78).
    pub fn from_file(path: &std::path::Path) -> anyhow::Result<Settings> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Sysexit::Config.msg(format_args!(
                "cannot read config file {}: {e}",
                path.display()
            ))
        })?;
        toml::from_str(&text)
            .map_err(|e| Sysexit::Config.msg(format_args!("{}: {}", path.display(), e.message())))
    }

    /// `self` (flags and environment) laid over the `--config` file, if one is named.
    pub fn layered(self) -> anyhow::Result<Settings> {
        match &self.config {
            Some(path) => {
                let file = Settings::from_file(path)?;
                let config = self.config.clone();
                let mut s = self.over(file)?;
                s.config = config;
                Ok(s)
            }
            None => Ok(self),
        }
    }

    /// Every setting `self` has, else `lower`'s.
    pub fn over(self, lower: Settings) -> anyhow::Result<Settings> {
        let as_map = |s: &Settings| match serde_json::to_value(s) {
            Ok(serde_json::Value::Object(m)) => Ok(m),
            Ok(_) => Err(anyhow::anyhow!("settings are not a map")),
            Err(e) => Err(anyhow::anyhow!("cannot serialize settings: {e}")),
        };
        let mut merged = as_map(&lower)?;
        let upper = as_map(&self)?;
        let set =
            |v: &serde_json::Value| !v.is_null() && v.as_array().is_none_or(|a| !a.is_empty());
        if ["out", "stdout"]
            .iter()
            .any(|k| upper.get(*k).is_some_and(set))
        {
            merged.remove("out");
            merged.remove("stdout");
        }
        for (k, v) in upper {
            if set(&v) {
                merged.insert(k, v);
            }
        }
        serde_json::from_value(serde_json::Value::Object(merged))
            .map_err(|e| anyhow::anyhow!("cannot layer settings: {e}"))
    }

    /// Checks the settings and fills in the defaults (errors: exit 78).
    pub fn drain_config(&self) -> anyhow::Result<crate::drain::DrainConfig> {
        use crate::drain::{DrainConfig, Output};
        use ringlog_segment::reader::StallPolicy;
        use ringlog_segment::SegmentConfig;

        if self.rings.is_empty() {
            return Err(Sysexit::Config.msg(
                "no ring given: use --ring NAME|PATH (or `rings` in --config, or RINGDRAIN_RINGS)",
            ));
        }
        let rings = self
            .rings
            .iter()
            .map(|r| crate::exit::resolve_ring(r).map_err(|e| Sysexit::Config.wrap(e)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let slot_size = self.slot_size.unwrap_or(64);
        if slot_size < 64 || !slot_size.is_power_of_two() {
            return Err(Sysexit::Config.msg("--slot-size must be a power of two of at least 64"));
        }
        let defaults = SegmentConfig::default();
        let lanes = defaults.lanes as u64;
        let ring_size = self
            .ring_size
            .map_or(defaults.slot_count * 64 * lanes, |s| s.0);
        // Slots per lane: the ring is split evenly between its lanes.
        let slots = (ring_size / slot_size as u64 / lanes).max(2);
        if !slots.is_power_of_two() {
            return Err(Sysexit::Config.msg(format_args!(
                "--ring-size divided by --slot-size and by the {lanes} lanes must be a power of two (got {slots} slots per lane)"
            )));
        }
        let mut outputs = crate::cli::network_outputs(self).map_err(|e| Sysexit::Config.wrap(e))?;
        if self.out.is_some() && self.stdout == Some(true) {
            return Err(Sysexit::Config.msg("--out and --stdout cannot both be given"));
        }
        match (&self.out, self.stdout) {
            (Some(path), _) => outputs.insert(
                0,
                Output::File {
                    path: path.clone(),
                    rotation: crate::sink::Rotation {
                        max_bytes: self.rotate_size.map_or(0, |s| s.0),
                        interval: self.rotate_interval.map(|i| i.0),
                        keep: self.rotate_keep.unwrap_or(5),
                        zone: self.rotate_zone.unwrap_or_default(),
                        compress: self.compress,
                        compress_level: self.compress_level.unwrap_or(0),
                        max_age: self.rotate_max_age.map(|i| i.0),
                        max_total: self.rotate_max_total.map_or(0, |s| s.0),
                    },
                    mode: self.mode.map_or(0o600, |m| m.0),
                },
            ),
            (None, Some(true)) => outputs.insert(0, Output::Stdout),
            (None, _) => {}
        }
        if outputs.is_empty() {
            return Err(Sysexit::Config
                .msg("no output given: use --out FILE, --stdout, --syslog URL or --otlp URL"));
        }
        let mut cfg = DrainConfig::new(PathBuf::new(), outputs.remove(0));
        cfg.also = outputs;
        cfg.rings = rings;
        cfg.merge = self.merge.unwrap_or(false);
        cfg.format = self.format.unwrap_or_default();
        cfg.archive_zstd = self.archive_zstd;
        if cfg.archive_zstd.is_some() && cfg.format != Format::Binary {
            return Err(Sysexit::Config.msg("--archive-zstd needs --format binary"));
        }
        cfg.once = self.once.unwrap_or(false);
        cfg.segment = SegmentConfig {
            slot_size,
            slot_count: slots,
            mode: self.ring_mode.map_or(0o600, |m| m.0),
            allow_foreign_owner: self.allow_foreign_owner.unwrap_or(false),
            ..SegmentConfig::default()
        };
        cfg.min_level = self.level.map(crate::cat::LevelArg::level);
        cfg.flight_recorder = self.flight_recorder.unwrap_or(0);
        if cfg.flight_recorder > 0 && cfg.min_level.is_none() {
            return Err(Sysexit::Config
                .msg("--flight-recorder needs --level: it keeps the records below that level"));
        }
        cfg.limits = self
            .limit
            .iter()
            .map(|r| {
                r.parse()
                    .map_err(|e| Sysexit::Config.msg(format_args!("--limit {e}")))
            })
            .collect::<anyhow::Result<_>>()?;
        cfg.format_threads = self.format_threads.unwrap_or(Threads::Auto).get();
        cfg.write_behind = self.write_behind.unwrap_or(cfg.write_behind);
        if let Some(ms) = self.idle_sleep_ms {
            cfg.idle_sleep = Duration::from_millis(ms);
        }
        cfg.stall = StallPolicy {
            grace: Duration::from_millis(self.grace_ms.unwrap_or(100)),
            fence_after: match self.fence_ms.unwrap_or(FENCE_AFTER_MS) {
                0 => None,
                ms => Some(Duration::from_millis(ms)),
            },
            ..StallPolicy::default()
        };
        Ok(cfg)
    }
}

/// A thread count: `auto` or a number from 1 (an integer in TOML).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threads {
    /// Chosen from the cores (`parallel::auto_threads`).
    Auto,
    /// This many.
    N(usize),
}

impl Threads {
    /// The count (`auto` resolved).
    pub fn get(self) -> usize {
        match self {
            Threads::Auto => crate::parallel::auto_threads(),
            Threads::N(n) => n,
        }
    }
}

impl FromStr for Threads {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let max = crate::parallel::MAX_FORMAT_THREADS;
        match s.trim() {
            "auto" => Ok(Threads::Auto),
            t => match t.parse::<usize>() {
                Ok(n) if (1..=max).contains(&n) => Ok(Threads::N(n)),
                _ => Err(format!(
                    "{t:?} is not a thread count: use auto or 1..={max}"
                )),
            },
        }
    }
}

impl fmt::Display for Threads {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Threads::Auto => f.write_str("auto"),
            Threads::N(n) => write!(f, "{n}"),
        }
    }
}

impl Serialize for Threads {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Threads {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let t = d.deserialize_any(StrOrInt::<Threads, true>(Default::default()))?;
        let max = crate::parallel::MAX_FORMAT_THREADS;
        match t {
            Threads::N(n) if !(1..=max).contains(&n) => Err(serde::de::Error::custom(
                format_args!("format_threads must be auto or 1..={max}, not {n}"),
            )),
            t => Ok(t),
        }
    }
}

impl FromInt for Threads {
    const EXPECTING: &'static str = "a thread count such as 4, or \"auto\"";
    fn from_int(v: u64) -> Self {
        Threads::N(usize::try_from(v).unwrap_or(usize::MAX))
    }
}

/// A size in bytes: `4096`, `64k`, `64M`, `1G` (binary units); an integer in TOML is bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Size(pub u64);

/// A duration: `500ms`, `30s`, `15m`, `1h`, `1d` (a bare number is seconds, also in TOML).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval(pub Duration);

/// An octal file mode: `"600"`, `"0o640"` (a string in TOML: `640` would be decimal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mode(pub u32);

impl FromStr for Size {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_size(s).map(Size)
    }
}

impl FromStr for Interval {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "hourly" => Ok(Interval(Duration::from_secs(3600))),
            "daily" => Ok(Interval(Duration::from_secs(86400))),
            t => parse_duration(t).map(Interval),
        }
    }
}

impl FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_mode(s).map(Mode)
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0.as_millis())
    }
}

impl Serialize for Interval {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl Serialize for Mode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{:o}", self.0))
    }
}

/// Deserializes a [`FromStr`] value from a string, or (`INT`: with the integer's meaning) an
/// integer.
struct StrOrInt<T, const INT: bool>(std::marker::PhantomData<T>);

impl<T, const INT: bool> serde::de::Visitor<'_> for StrOrInt<T, INT>
where
    T: FromStr<Err = String> + FromInt,
{
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(T::EXPECTING)
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<T, E> {
        v.parse().map_err(E::custom)
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<T, E> {
        if INT {
            Ok(T::from_int(v))
        } else {
            Err(E::custom(format_args!(
                "{}, not the number {v}",
                T::EXPECTING
            )))
        }
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<T, E> {
        match u64::try_from(v) {
            Ok(u) => self.visit_u64(u),
            Err(_) => Err(E::custom(format_args!("{v} is negative"))),
        }
    }
}

/// What an integer means for a [`StrOrInt`] value.
trait FromInt {
    const EXPECTING: &'static str;
    fn from_int(v: u64) -> Self;
}

impl FromInt for Size {
    const EXPECTING: &'static str = "a size such as 4096, \"64k\" or \"1G\"";
    fn from_int(v: u64) -> Self {
        Size(v)
    }
}

impl FromInt for Interval {
    const EXPECTING: &'static str = "a duration such as \"30s\", \"15m\", \"1d\", \"hourly\"";
    fn from_int(v: u64) -> Self {
        Interval(Duration::from_secs(v))
    }
}

impl FromInt for Mode {
    const EXPECTING: &'static str = "an octal file mode as a string, such as \"640\"";
    fn from_int(v: u64) -> Self {
        Mode(v as u32)
    }
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrOrInt::<Size, true>(Default::default()))
    }
}

impl<'de> Deserialize<'de> for Interval {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let i = d.deserialize_any(StrOrInt::<Interval, true>(Default::default()))?;
        if i.0.is_zero() {
            return Err(serde::de::Error::custom(
                "a rotation interval must be positive",
            ));
        }
        Ok(i)
    }
}

impl<'de> Deserialize<'de> for Mode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrOrInt::<Mode, false>(Default::default()))
    }
}

/// `rings = ["a", "b"]` or `ring = "a"`.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    OneOrMany::deserialize(d).map(|v| match v {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

/// A [`clap::ValueEnum`] (format, zone, compression) by its flag name (`json`, `local`, ...).
mod value_enum {
    use clap::ValueEnum;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer, T: ValueEnum>(v: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
        match v.as_ref().and_then(|v| v.to_possible_value()) {
            Some(v) => s.serialize_str(v.get_name()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>, T: ValueEnum>(
        d: D,
    ) -> Result<Option<T>, D::Error> {
        let Some(name) = Option::<String>::deserialize(d)? else {
            return Ok(None);
        };
        T::from_str(&name, true).map(Some).map_err(|_| {
            let names = T::value_variants()
                .iter()
                .filter_map(|v| v.to_possible_value())
                .map(|v| v.get_name().to_string())
                .collect::<Vec<_>>()
                .join(", ");
            serde::de::Error::custom(format_args!("unknown value {name:?} (use one of: {names})"))
        })
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> Settings {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn level_flight_recorder_and_limits_come_from_the_file_flags_and_environment() {
        let lower = file("level = \"info\"\nflight_recorder = 50\nlimit = [\"a=1/s\", \"b.rs:3=2/m\"]\nring = \"r\"\nstdout = true\n");
        let cfg = lower
            .clone()
            .over(Settings::default())
            .unwrap()
            .drain_config()
            .unwrap();
        assert_eq!(cfg.min_level, Some(ringlog_wire::record::Level::Info));
        assert_eq!(cfg.flight_recorder, 50);
        assert_eq!(cfg.limits.len(), 2);
        let cli =
            crate::cli::try_parse_from(["ringdrain", "--limit", "c=5/s,d=6/s", "--level", "warn"])
                .unwrap();
        let s = cli.drain.over(lower).unwrap();
        assert_eq!(s.limit, ["c=5/s", "d=6/s"], "a list is replaced whole");
        assert_eq!(s.level, Some(crate::cat::LevelArg::Warn));
        let bad = file("ring = \"r\"\nstdout = true\nlimit = [\"a=often\"]\n");
        assert!(bad.drain_config().is_err());
    }

    #[test]
    fn a_higher_layer_wins_key_by_key_and_can_turn_a_boolean_off() {
        let lower =
            file("rings = [\"a\", \"b\"]\nmerge = true\nrotate_size = \"1M\"\nmode = \"640\"\n");
        let upper = Settings {
            merge: Some(false),
            rotate_keep: Some(3),
            ..Settings::default()
        };
        let s = upper.over(lower).unwrap();
        assert_eq!(s.rings, ["a", "b"]);
        assert_eq!(s.merge, Some(false));
        assert_eq!(s.rotate_size, Some(Size(1 << 20)));
        assert_eq!(s.rotate_keep, Some(3));
        assert_eq!(s.mode, Some(Mode(0o640)));
    }

    #[test]
    fn out_and_stdout_are_one_choice_across_layers() {
        let lower = file("stdout = true\n");
        let upper = Settings {
            out: Some("x.log".into()),
            ..Settings::default()
        };
        let s = upper.over(lower).unwrap();
        assert_eq!((s.out.as_deref(), s.stdout), (Some("x.log".as_ref()), None));
    }

    #[test]
    fn typed_values_round_trip_through_the_layering() {
        let s = file("ring = \"one\"\nrotate_interval = \"90s\"\nring_mode = \"0o660\"\nformat = \"json\"\nsyslog_resend = 4096\n");
        let t = Settings::default().over(s.clone()).unwrap();
        assert_eq!(s, t);
        assert_eq!(t.rings, ["one"]);
        assert_eq!(t.rotate_interval, Some(Interval(Duration::from_secs(90))));
        assert_eq!(t.ring_mode, Some(Mode(0o660)));
        assert_eq!(t.format, Some(Format::Json));
        assert_eq!(t.syslog_resend, Some(Size(4096)));
    }

    #[test]
    fn the_shipped_sample_config_parses() {
        let s = file(include_str!("../../../docs/ringdrain.toml"));
        assert_eq!(s.rings, ["myapp"]);
        assert_eq!(s.mode, Some(Mode(0o640)));
        assert_eq!(s.ring_mode, Some(Mode(0o660)));
        let cfg = s.drain_config().unwrap();
        assert_eq!(cfg.segment.mode, 0o660);
        assert!(matches!(
            cfg.output,
            crate::drain::Output::File { mode: 0o640, .. }
        ));
    }

    #[test]
    fn bad_values_name_the_key_and_say_what_is_expected() {
        for (text, want) in [
            ("mode = 640\n", "octal file mode as a string"),
            ("rotate_size = \"12q\"\n", "unknown size unit"),
            (
                "format = \"xml\"\n",
                "unknown value \"xml\" (use one of: text, json, logfmt, binary)",
            ),
            ("compress = \"lz4\"\n", "use one of: zstd, gzip"),
            ("rotate_interval = 0\n", "must be positive"),
            ("rigns = []\n", "unknown field `rigns`"),
        ] {
            let e = toml::from_str::<Settings>(text).unwrap_err().to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
    }
}
