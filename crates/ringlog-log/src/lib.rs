//! A [`log`] backend for ringlog: `log::info!` and friends, from any crate in the process,
//! become binary records in a ringlog shared-memory ring that `ringdrain` formats and writes.
//!
//! Each distinct `log` call site (level, target, module, file, line, static message, key names)
//! is registered once as a ringlog callsite and its id cached in a lock-free map, so the steady
//! state is a lookup plus the ring write:
//!
//! * A message without arguments (`info!("ready")`, where `record.args().as_str()` is `Some`)
//!   goes into the callsite itself (format style `Literal`): nothing is formatted on the
//!   caller's thread.
//! * A message with arguments (`info!("took {} ms", ms)`) is the documented slow path: `log`
//!   hands over only `fmt::Arguments`, so it is formatted here, into a stack buffer (no
//!   allocation; cut at 512 bytes with a trailing `…`), and sent as the one argument of a `{}`
//!   callsite.
//! * Key-values (`info!(user = "ada", ms = 1.5; "done")`) become ringlog fields: integers,
//!   floats, bools, chars and strings in binary, anything else formatted with `Display`.
//!
//! Records are filtered twice: by the [`Directives`] (`RUST_LOG` syntax, per target) and by
//! the [`Logger`]'s own level.
//!
//! Limits: the id cache holds 4096 call sites; past that (or with targets built at run time,
//! each of which is a call site of its own) a call registers its callsite every time, which
//! the segment's table deduplicates: correct, but it allocates. A full callsite table makes
//! records fall back to "no callsite" (message first, fields unnamed), never to a lost record.
//!
//! | item | what it is |
//! |---|---|
//! | [`init`] | installs a [`RingLog`] as the global `log` logger and sets `log`'s max level |
//! | [`RingLog`] | the `log::Log` implementation (usable without installing it) |
//! | [`Directives`] | re-export of [`ringlog::filter::Directives`] |
//!
//! # Example
//!
//! ```
//! use ringlog::Level;
//! use ringlog_log::Directives;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let logger = ringlog::Logger::builder()
//!     .path(dir.path().join("app.ring"))
//!     .slot_count(1024)
//!     .level(Level::Trace)
//!     .open()
//!     .unwrap();
//! let directives: Directives = "info,my_app::db=debug".parse().unwrap();
//! ringlog_log::init(logger, directives).unwrap();
//!
//! log::info!("service started");                        // no formatting here
//! log::warn!("request {} took {} ms", 7, 12.5);          // formatted here (slow path)
//! log::info!(user = "ada", rows = 1200; "query done");   // fields: user=ada rows=1200
//! log::debug!("not recorded: the default is info");
//! ```
//!
//! Then `ringdrain cat <ring>` shows the three records.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks, missing_docs)]

use core::mem::MaybeUninit;

use log::kv::{self, Key, Source, Value, VisitSource};
use ringlog::{Encoder, Level, Logger};
use ringlog_wire::callsite::{CallsiteDesc, FormatStyle};

use ringlog::bridge::{Got, Hash, IdCache, StackStr};

pub use ringlog::filter::Directives;

/// Installs a [`RingLog`] writing to `logger` as the process's `log` logger and sets
/// `log::set_max_level` to the most verbose level both `directives` and the logger's current
/// level allow (so disabled calls cost `log` one compare). If you later raise the logger's
/// level with [`Logger::set_level`], raise `log::set_max_level` too.
///
/// Fails if a `log` logger is already installed (the `RingLog` is then leaked; it is small).
pub fn init(logger: Logger, directives: Directives) -> Result<(), log::SetLoggerError> {
    let ring = RingLog::new(logger, directives);
    let max = ring.max_level();
    log::set_logger(Box::leak(Box::new(ring)))?;
    log::set_max_level(max);
    Ok(())
}

/// The `log::Log` implementation: see the [crate docs](crate).
pub struct RingLog {
    logger: Logger,
    directives: Directives,
    sites: IdCache<Site>,
}

impl core::fmt::Debug for RingLog {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RingLog")
            .field("logger", &self.logger)
            .field("directives", &self.directives.to_string())
            .finish_non_exhaustive()
    }
}

impl RingLog {
    /// A backend writing to `logger`, filtered by `directives` (and the logger's level).
    pub fn new(logger: Logger, directives: Directives) -> Self {
        RingLog {
            logger,
            directives,
            sites: IdCache::new(ringlog::bridge::SLOTS),
        }
    }

    /// The logger records go to.
    pub fn logger(&self) -> &Logger {
        &self.logger
    }

    /// The filter.
    pub fn directives(&self) -> &Directives {
        &self.directives
    }

    /// The most verbose level that can pass both the directives and the logger's current level.
    pub fn max_level(&self) -> log::LevelFilter {
        let logger_max = Level::ALL
            .iter()
            .rev()
            .copied()
            .find(|l| self.logger.enabled(*l));
        match (self.directives.max_level(), logger_max) {
            (Some(d), Some(l)) => to_level_filter(d.min(l)),
            _ => log::LevelFilter::Off,
        }
    }

    #[inline]
    fn passes(&self, level: Level, target: &str) -> bool {
        self.logger.enabled(level) && self.directives.enabled(target, level)
    }

    /// The callsite id for `record` (0 if the segment's table is full: the drain then shows the
    /// first argument as the message and the fields unnamed).
    fn callsite_id(&self, record: &log::Record<'_>, level: Level, message: Option<&str>) -> u32 {
        let here = Here::of(record, level, message);
        let hash = here.hash();
        let is_it = |s: &Site| s.is(&here);
        let make = || Site::register(&self.logger, &here);
        match self.sites.get_or_insert_with(hash, is_it, make) {
            Got::Cached(site) => site.id,
            Got::Uncached(site) => site.id,
        }
    }
}

impl log::Log for RingLog {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        self.passes(to_level(metadata.level()), metadata.target())
    }

    fn log(&self, record: &log::Record<'_>) {
        let level = to_level(record.level());
        if !self.passes(level, record.target()) {
            return;
        }
        let message = record.args().as_str();
        let id = self.callsite_id(record, level, message);
        self.logger.log_with_id(id, level, |e| {
            match message {
                // A literal callsite holds the message; without a callsite it is sent.
                Some(m) if id == 0 => e.str(m),
                Some(_) => {}
                None => e.str(StackStr::new(&mut MaybeUninit::uninit()).display(record.args())),
            }
            let _ = record.key_values().visit(&mut EncodeValues(e));
        });
    }

    fn flush(&self) {
        // Records are in the shared ring the moment `log` returns; the drain writes them.
    }
}

/// `log::Level` to ringlog's.
pub fn to_level(level: log::Level) -> Level {
    match level {
        log::Level::Error => Level::Error,
        log::Level::Warn => Level::Warn,
        log::Level::Info => Level::Info,
        log::Level::Debug => Level::Debug,
        log::Level::Trace => Level::Trace,
    }
}

fn to_level_filter(level: Level) -> log::LevelFilter {
    match level {
        Level::Critical | Level::Error => log::LevelFilter::Error,
        Level::Warn => log::LevelFilter::Warn,
        Level::Info => log::LevelFilter::Info,
        Level::Debug => log::LevelFilter::Debug,
        Level::Trace => log::LevelFilter::Trace,
    }
}

/// The static description of the call being made, borrowed from the record.
struct Here<'a> {
    level: Level,
    line: u32,
    target: &'a str,
    module: &'a str,
    file: &'a str,
    /// The message when it has no arguments (the callsite then holds it).
    message: Option<&'a str>,
    kvs: &'a dyn Source,
}

impl<'a> Here<'a> {
    fn of(record: &'a log::Record<'a>, level: Level, message: Option<&'a str>) -> Self {
        Here {
            level,
            line: record.line().unwrap_or(0),
            target: record.target(),
            module: record.module_path().unwrap_or(""),
            file: record.file().unwrap_or(""),
            message,
            kvs: record.key_values(),
        }
    }

    fn hash(&self) -> u64 {
        let mut h = Hash::new()
            .u64((self.level as u64) << 32 | self.line as u64)
            .str(self.target)
            .str(self.module)
            .str(self.file);
        h = match self.message {
            Some(m) => h.u64(1).str(m),
            None => h.u64(0),
        };
        let mut keys = HashKeys(h);
        let _ = self.kvs.visit(&mut keys);
        keys.0.finish()
    }
}

/// A cached callsite: the description it was registered for, and its id.
struct Site {
    level: Level,
    line: u32,
    target: Box<str>,
    module: Box<str>,
    file: Box<str>,
    message: Option<Box<str>>,
    keys: Box<[Box<str>]>,
    id: u32,
}

impl Site {
    fn register(logger: &Logger, here: &Here<'_>) -> Site {
        let mut keys = CollectKeys(Vec::new());
        let _ = here.kvs.visit(&mut keys);
        let keys: Box<[Box<str>]> = keys.0.into();
        let desc = CallsiteDesc {
            level: here.level,
            style: match here.message {
                Some(_) => FormatStyle::Literal,
                None => FormatStyle::Brace,
            },
            line: here.line,
            target: here.target,
            module: here.module,
            file: here.file,
            format: here.message.unwrap_or("{}"),
            fields: keys.iter().map(|k| &**k).collect(),
        };
        Site {
            level: here.level,
            line: here.line,
            target: here.target.into(),
            module: here.module.into(),
            file: here.file.into(),
            message: here.message.map(Into::into),
            id: logger.register_callsite(&desc).unwrap_or(0),
            keys,
        }
    }

    fn is(&self, here: &Here<'_>) -> bool {
        self.level == here.level
            && self.line == here.line
            && *self.target == *here.target
            && *self.module == *here.module
            && *self.file == *here.file
            && self.message.as_deref() == here.message
            && {
                let mut cmp = CompareKeys {
                    keys: &self.keys,
                    at: 0,
                    same: true,
                };
                let _ = here.kvs.visit(&mut cmp);
                cmp.same && cmp.at == self.keys.len()
            }
    }
}

struct HashKeys(Hash);

impl<'kvs> VisitSource<'kvs> for HashKeys {
    fn visit_pair(&mut self, key: Key<'kvs>, _: Value<'kvs>) -> Result<(), kv::Error> {
        self.0 = self.0.str(key.as_str());
        Ok(())
    }
}

struct CollectKeys(Vec<Box<str>>);

impl<'kvs> VisitSource<'kvs> for CollectKeys {
    fn visit_pair(&mut self, key: Key<'kvs>, _: Value<'kvs>) -> Result<(), kv::Error> {
        self.0.push(key.as_str().into());
        Ok(())
    }
}

struct CompareKeys<'a> {
    keys: &'a [Box<str>],
    at: usize,
    same: bool,
}

impl<'kvs> VisitSource<'kvs> for CompareKeys<'_> {
    fn visit_pair(&mut self, key: Key<'kvs>, _: Value<'kvs>) -> Result<(), kv::Error> {
        self.same &= self.keys.get(self.at).is_some_and(|k| **k == *key.as_str());
        self.at += 1;
        Ok(())
    }
}

/// Encodes each value: binary for numbers, bools, chars and strings; `Display` text otherwise.
struct EncodeValues<'e, 'b>(&'e mut Encoder<'b>);

impl<'kvs> VisitSource<'kvs> for EncodeValues<'_, '_> {
    fn visit_pair(&mut self, _: Key<'kvs>, v: Value<'kvs>) -> Result<(), kv::Error> {
        encode_value(self.0, &v);
        Ok(())
    }
}

fn encode_value(e: &mut Encoder<'_>, v: &Value<'_>) {
    // Integers first: `to_f64` also accepts small integers.
    if let Some(x) = v.to_u64() {
        e.u64(x)
    } else if let Some(x) = v.to_i64() {
        e.i64(x)
    } else if let Some(x) = v.to_f64() {
        e.f64(x)
    } else if let Some(x) = v.to_bool() {
        e.bool(x)
    } else if let Some(s) = v.to_borrowed_str() {
        e.str(s)
    } else if let Some(c) = v.to_char() {
        e.char(c)
    } else if let Some(x) = v.to_u128() {
        e.u128(x)
    } else if let Some(x) = v.to_i128() {
        e.i128(x)
    } else {
        e.display_str(StackStr::new(&mut MaybeUninit::uninit()).display(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::MaybeUninit;
    use ringlog_wire::args::{Arg, Args};

    fn encoded(v: Value<'_>) -> Vec<u8> {
        let mut buf = [MaybeUninit::uninit(); 64];
        let mut e = Encoder::new(&mut buf);
        encode_value(&mut e, &v);
        e.as_bytes().to_vec()
    }

    fn decoded(bytes: &[u8]) -> Arg<'_> {
        let mut it = Args::new(bytes);
        let a = it.next().unwrap().unwrap();
        assert!(it.next().is_none());
        a
    }

    #[test]
    fn values_encode_in_binary_when_they_can() {
        assert_eq!(decoded(&encoded(Value::from(7u8))), Arg::U64(7));
        assert_eq!(decoded(&encoded(Value::from(-3i32))), Arg::I64(-3));
        assert_eq!(decoded(&encoded(Value::from(1.5f64))), Arg::F64(1.5));
        assert_eq!(decoded(&encoded(Value::from(true))), Arg::Bool(true));
        assert_eq!(decoded(&encoded(Value::from("ada"))), Arg::Str("ada"));
        assert_eq!(decoded(&encoded(Value::from('x'))), Arg::Char('x'));
        assert_eq!(
            decoded(&encoded(Value::from(u128::MAX))),
            Arg::U128(u128::MAX)
        );
    }

    #[test]
    fn other_values_are_sent_as_display_text() {
        let addr = std::net::Ipv4Addr::new(10, 0, 0, 1);
        assert_eq!(
            decoded(&encoded(Value::from_display(&addr))),
            Arg::Display("10.0.0.1")
        );
        assert_eq!(
            decoded(&encoded(Value::from_debug(&[1, 2]))),
            Arg::Display("[1, 2]")
        );
    }

    #[test]
    fn levels_map_one_to_one() {
        for (l, r) in [
            (log::Level::Error, Level::Error),
            (log::Level::Warn, Level::Warn),
            (log::Level::Info, Level::Info),
            (log::Level::Debug, Level::Debug),
            (log::Level::Trace, Level::Trace),
        ] {
            assert_eq!(to_level(l), r);
            assert_eq!(to_level_filter(r), l.to_level_filter());
        }
    }
}
