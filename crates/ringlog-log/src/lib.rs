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
//! # Filtering
//!
//! Records are filtered by the [`Logger`]'s filter, the one it was built with
//! ([`LoggerBuilder::from_env`](ringlog::LoggerBuilder::from_env) reads `RINGLOG_LOG`, else
//! `RUST_LOG`; or [`LoggerBuilder::directives`](ringlog::LoggerBuilder::directives)), exactly as
//! the native macros do: `RUST_LOG=info,hyper=warn` keeps hyper's `info!` out of the ring.
//! The verdict for a target (the most verbose level it may log) is cached in a small lock-free
//! map keyed by the target string, under the logger's [`filter_key`](Logger::filter_key), so
//! the steady state hashes the target and compares, instead of matching directive strings; a
//! filter change ([`Logger::set_directives`]) makes each target recompute once. [`init`] also
//! sets `log::set_max_level` from the filter, so calls more verbose than every directive cost
//! `log` one compare. [`RingLog::with_directives`] narrows the filter further.
//!
//! Matching, compared with `env_logger`:
//!
//! | | ringlog | `env_logger` |
//! |---|---|---|
//! | target match | longest directive target that is the record's target or a `::`-separated prefix of it (`hyper` covers `hyper::proto`, not `hyperx`) | longest directive name that is a plain string prefix (`hyper` also covers `hyperx`) |
//! | same target twice | the later one wins | the later one wins |
//! | bare `TARGET` | every level | every level |
//! | only targets named | every other target off | every other target off |
//! | level names | case-insensitive, plus `off` | the same |
//! | `/regex` message filter | rejected with an error | filters messages by regex |
//! | changed at run time | [`Logger::set_directives`], or `ringdrain level` for every process; `log::set_max_level` follows at the next record that reaches the backend | no |
//!
//! Limits: the id cache holds 4096 call sites; past that (or with targets built at run time,
//! each of which is a call site of its own) a call registers its callsite every time, which
//! the segment's table deduplicates: correct, but it allocates. A full callsite table makes
//! records fall back to "no callsite" (message first, fields unnamed), never to a lost record.
//!
//! | item | what it is |
//! |---|---|
//! | [`init`] | installs a [`RingLog`] as the global `log` logger and sets `log`'s max level (a second call fails) |
//! | [`RingLog`] | the `log::Log` implementation (usable without installing it) |
//! | [`Directives`] | re-export of [`ringlog::filter::Directives`] |
//!
//! # Example
//!
//! ```
//! let dir = tempfile::tempdir().unwrap();
//! let logger = ringlog::Logger::builder()
//!     .path(dir.path().join("app.ring"))
//!     .slot_count(1024)
//!     // In a service: `.from_env()?` (RUST_LOG / RINGLOG_LOG).
//!     .directives("info,my_app::db=debug,hyper=warn".parse().unwrap())
//!     .open()
//!     .unwrap();
//! ringlog_log::init(logger.clone()).unwrap();
//! assert!(ringlog_log::init(logger).is_err(), "once per process");
//!
//! log::info!("service started");                        // no formatting here
//! log::warn!("request {} took {} ms", 7, 12.5);          // formatted here (slow path)
//! log::info!(user = "ada", rows = 1200; "query done");   // fields: user=ada rows=1200
//! log::debug!("not recorded: the default is info");
//! log::info!(target: "hyper::proto", "not recorded: hyper is at warn");
//! log::debug!(target: "my_app::db", "recorded: my_app::db is at debug");
//! ```
//!
//! Then `ringdrain cat <ring>` shows the four records.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks, missing_docs)]

use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use log::kv::{self, Key, Source, Value, VisitSource, VisitValue};
use ringlog::{Encoder, Level, Logger};
use ringlog_wire::callsite::{CallsiteDesc, FormatStyle};

use ringlog::bridge::{static_text, Got, Hash, IdCache, StackStr};

pub use ringlog::filter::Directives;

/// Installs a [`RingLog`] writing to `logger`, filtered by the logger's own directives (see
/// [Filtering](crate#filtering)), as the process's `log` logger, and sets `log::set_max_level`
/// to the most verbose level the filter allows (so disabled calls cost `log` one compare), and
/// sets it again when the logger's filter changes (`ringdrain level`, [`Logger::set_directives`],
/// [`Logger::set_level`]), at the first record that reaches the backend afterwards.
///
/// Fails if a `log` logger is already installed, for instance by an earlier `init` (the
/// `RingLog` is then leaked; it is small).
pub fn init(logger: Logger) -> Result<(), log::SetLoggerError> {
    install(RingLog::new(logger))
}

/// Installs `ring` as the process's `log` logger, as [`init`] does (for a [`RingLog`] built
/// with [`RingLog::with_directives`]).
pub fn install(ring: RingLog) -> Result<(), log::SetLoggerError> {
    // The key first: a change racing the level computed below leaves a stale key, so the next
    // verdict recompute sets the level again.
    // SYNC: Relaxed; see `RingLog::follow_max_level`.
    ring.max_key
        .store(ring.logger.filter_key(), Ordering::Relaxed);
    let max = ring.max_level();
    log::set_logger(Box::leak(Box::new(ring)))?;
    log::set_max_level(max);
    Ok(())
}

/// The `log::Log` implementation: see the [crate docs](crate).
pub struct RingLog {
    logger: Logger,
    /// Extra directives narrowing the logger's filter ([`RingLog::with_directives`]).
    extra: Option<Directives>,
    sites: IdCache<Site>,
    /// Call sites of records whose file and module are `'static` (the `log` macros'), keyed
    /// by addresses: the fast path.
    statics: IdCache<StaticSite>,
    targets: IdCache<Target>,
    /// The logger's filter key when [`install`] last set `log::set_max_level` from this
    /// backend (0: it does not manage `log`'s max level); see [`RingLog::follow_max_level`].
    max_key: AtomicU32,
}

impl core::fmt::Debug for RingLog {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RingLog")
            .field("logger", &self.logger)
            .field("extra", &self.extra.as_ref().map(|d| d.to_string()))
            .finish_non_exhaustive()
    }
}

/// Slots of the per-target verdict cache (targets are few: usually module paths).
const TARGET_SLOTS: usize = 1024;

impl RingLog {
    /// A backend writing to `logger`, filtered by the logger's directives (else its level).
    pub fn new(logger: Logger) -> Self {
        RingLog {
            logger,
            extra: None,
            sites: IdCache::new(ringlog::bridge::SLOTS),
            statics: IdCache::new(ringlog::bridge::SLOTS),
            targets: IdCache::new(TARGET_SLOTS),
            max_key: AtomicU32::new(0),
        }
    }

    /// Narrows the filter with `directives`: a record passes only if both the logger's filter
    /// and `directives` let it through. Usually not needed: build the logger with the
    /// directives instead (`LoggerBuilder::directives`, `LoggerBuilder::from_env`).
    pub fn with_directives(mut self, directives: Directives) -> Self {
        self.extra = Some(directives);
        self
    }

    /// The logger records go to.
    pub fn logger(&self) -> &Logger {
        &self.logger
    }

    /// The extra directives from [`RingLog::with_directives`], if any.
    pub fn directives(&self) -> Option<&Directives> {
        self.extra.as_ref()
    }

    /// The most verbose level that can pass the logger's current filter (and the extra
    /// directives).
    pub fn max_level(&self) -> log::LevelFilter {
        let extra = self
            .extra
            .as_ref()
            .map_or(Some(Level::Trace), |d| d.max_level());
        match (self.logger.max_level(), extra) {
            (Some(l), Some(d)) => to_level_filter(d.min(l)),
            _ => log::LevelFilter::Off,
        }
    }

    #[inline]
    fn passes(&self, level: Level, target: &str) -> bool {
        self.logger.enabled(level) && level as u8 <= self.target_max(target)
    }

    /// The most verbose level `target` may log (`Level as u8`, 0 for off), cached per target.
    #[inline]
    fn target_max(&self, target: &str) -> u8 {
        let key = self.logger.filter_key();
        let hash = Hash::new().str(target).finish();
        let make = || Target {
            name: target.into(),
            verdict: AtomicU32::new(0),
        };
        match self
            .targets
            .get_or_insert_with(hash, |t| *t.name == *target, make)
        {
            Got::Cached(t) => {
                // SYNC: Relaxed; see `Target::verdict`.
                let v = t.verdict.load(Ordering::Relaxed);
                if v >> 8 == key {
                    return v as u8;
                }
                let max = self.resolve(target);
                // SYNC: Relaxed; see `Target::verdict`.
                t.verdict.store(key << 8 | max as u32, Ordering::Relaxed);
                max
            }
            // The cache is full near this hash: match the directives every time.
            Got::Uncached(_) => self.resolve(target),
        }
    }

    /// The verdict for `target`, from the directives (the slow path).
    #[cold]
    fn resolve(&self, target: &str) -> u8 {
        self.follow_max_level();
        let logger = self.logger.max_level_for(target);
        let extra = match &self.extra {
            None => Some(Level::Trace),
            Some(d) => Level::ALL
                .iter()
                .rev()
                .copied()
                .find(|l| d.enabled(target, *l)),
        };
        match (logger, extra) {
            (Some(l), Some(d)) => l.min(d) as u8,
            _ => 0,
        }
    }

    /// If [`install`] set `log::set_max_level` for this backend and the logger's filter has
    /// changed since (`ringdrain level` on the control page, `set_directives`), sets it again,
    /// so a filter made more verbose at run time is not cut off by `log`'s own compare. Runs
    /// on the slow path every verdict recompute takes after a change, that is at the first
    /// record that reaches the backend afterwards (one at a level still allowed).
    fn follow_max_level(&self) {
        // SYNC: Relaxed; the key only says whether to look again (see `Logger::filter_key`).
        let set_under = self.max_key.load(Ordering::Relaxed);
        let key = self.logger.filter_key();
        if set_under == 0 || set_under == key {
            return;
        }
        // SYNC: Relaxed; as above. Two threads racing here set the same level.
        self.max_key.store(key, Ordering::Relaxed);
        log::set_max_level(self.max_level());
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

impl RingLog {
    /// The fast path, for records from the `log` macros (file and module `'static`): the call
    /// site is found by the addresses of its static strings, its line, level and literal
    /// message, and its target compared by content; the verdict is cached with it. The
    /// key-value names are checked while the values are encoded (one visit); a record whose
    /// names differ from the cached ones (a hand-built record reusing a site) starts over on
    /// the content-keyed path.
    #[inline]
    fn log_static(
        &self,
        record: &log::Record<'_>,
        level: Level,
        message: Option<&'static str>,
        file: &'static str,
        module: &'static str,
    ) {
        let line = record.line().unwrap_or(0);
        let target = record.target();
        let hash = Hash::new()
            .u64(file.as_ptr() as usize as u64)
            .u64((line as u64) << 8 | level as u64)
            .finish();
        let here = StaticHere {
            level,
            line,
            file,
            module,
            target,
            message,
        };
        let got = self.statics.get_or_insert_with(
            hash,
            |s| s.is(&here),
            || StaticSite::new(&here, record.key_values()),
        );
        let site = match &got {
            Got::Cached(s) => *s,
            Got::Uncached(s) => s,
        };
        if level as u8 > site.max_level(self) {
            return;
        }
        self.logger.log_choosing_id(level, |e| {
            let id = site.id(self);
            match message {
                // A literal callsite holds the message; without a callsite it is sent.
                Some(m) if id == 0 => e.str(m),
                Some(_) => {}
                None => e.str(StackStr::new(&mut MaybeUninit::uninit()).display(record.args())),
            }
            let mut enc = EncodeChecking {
                e: &mut *e,
                site,
                at: 0,
                same: true,
            };
            let _ = record.key_values().visit(&mut enc);
            if enc.same && enc.at == site.keys.len() {
                return id;
            }
            e.clear();
            self.encode_by_content(e, record, level, message)
        });
    }

    /// The general path: the callsite found by the record's full contents.
    fn encode_by_content(
        &self,
        e: &mut Encoder<'_>,
        record: &log::Record<'_>,
        level: Level,
        message: Option<&str>,
    ) -> u32 {
        let id = self.callsite_id(record, level, message);
        match message {
            // A literal callsite holds the message; without a callsite it is sent.
            Some(m) if id == 0 => e.str(m),
            Some(_) => {}
            None => e.str(StackStr::new(&mut MaybeUninit::uninit()).display(record.args())),
        }
        let _ = record.key_values().visit(&mut EncodeValues(e));
        id
    }
}

impl log::Log for RingLog {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        self.passes(to_level(metadata.level()), metadata.target())
    }

    fn log(&self, record: &log::Record<'_>) {
        let level = to_level(record.level());
        if !self.logger.enabled(level) {
            return;
        }
        let message = record.args().as_str();
        if let (Some(file), Some(module)) = (record.file_static(), record.module_path_static()) {
            return self.log_static(record, level, message, file, module);
        }
        if level as u8 > self.target_max(record.target()) {
            return;
        }
        self.logger
            .log_choosing_id(level, |e| self.encode_by_content(e, record, level, message));
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

/// A target's cached filter verdict.
struct Target {
    name: Box<str>,
    /// `filter_key << 8 | max_level` (`Level as u8`, 0 for off) as computed under the logger's
    /// `filter_key` (24 bits, never 0; so 0 here means "not computed"). Relaxed: one
    /// self-contained word, nothing else is published through it; a thread that misses a new
    /// value recomputes the same verdict.
    verdict: AtomicU32,
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
            layout: "",
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

/// A call site of the fast path, as the record describes it.
struct StaticHere<'a> {
    level: Level,
    line: u32,
    file: &'static str,
    module: &'static str,
    target: &'a str,
    message: Option<&'static str>,
}

/// A fast-path call site: its static description (compared by address), its target (by
/// content), key names, filter verdict and callsite id.
struct StaticSite {
    level: Level,
    line: u32,
    file: &'static str,
    module: &'static str,
    message: Option<&'static str>,
    target: Box<str>,
    /// The target where it is a string literal (the macros' `module_path!()` or
    /// `target: "..."`): the same address and length is the same target.
    static_target: Option<&'static str>,
    keys: Box<[Box<str>]>,
    /// The same names where they are string literals ([`static_text`]): a key at the same
    /// address and length is the same name, so the common case compares no bytes.
    static_keys: Box<[Option<&'static str>]>,
    /// As [`Target::verdict`], for this site's target.
    verdict: AtomicU32,
    /// `1 << 32 | id` once registered (0: not yet); `id` is 0 if the segment's table was
    /// full. Registered on the first record that passes the filter.
    id: AtomicU64,
}

impl StaticSite {
    fn new(here: &StaticHere<'_>, kvs: &dyn Source) -> StaticSite {
        let mut keys = CollectKeys(Vec::new());
        let _ = kvs.visit(&mut keys);
        let mut statics = StaticKeys(Vec::new());
        let _ = kvs.visit(&mut statics);
        StaticSite {
            static_keys: statics.0.into(),
            level: here.level,
            line: here.line,
            file: here.file,
            module: here.module,
            message: here.message,
            target: here.target.into(),
            static_target: static_text(here.target),
            keys: keys.0.into(),
            verdict: AtomicU32::new(0),
            id: AtomicU64::new(0),
        }
    }

    #[inline(always)]
    fn is(&self, here: &StaticHere<'_>) -> bool {
        self.line == here.line
            && self.level == here.level
            && core::ptr::eq(self.file, here.file)
            && core::ptr::eq(self.module, here.module)
            && match (self.message, here.message) {
                (Some(a), Some(b)) => core::ptr::eq(a, b),
                (None, None) => true,
                _ => false,
            }
            && (self
                .static_target
                .is_some_and(|t| core::ptr::eq(t, here.target))
                || *self.target == *here.target)
    }

    /// The most verbose level this site's target may log (`Level as u8`, 0 for off).
    #[inline(always)]
    fn max_level(&self, ring: &RingLog) -> u8 {
        let key = ring.logger.filter_key();
        // SYNC: Relaxed; see `Target::verdict`.
        let v = self.verdict.load(Ordering::Relaxed);
        if v >> 8 == key {
            return v as u8;
        }
        let max = ring.resolve(&self.target);
        // SYNC: Relaxed; see `Target::verdict`.
        self.verdict.store(key << 8 | max as u32, Ordering::Relaxed);
        max
    }

    /// The callsite id, registered on first use.
    #[inline(always)]
    fn id(&self, ring: &RingLog) -> u32 {
        // SYNC: Acquire; pairs with the Release store in `register`, so a thread that sees
        // the id also sees the segment's table entry it names.
        let v = self.id.load(Ordering::Acquire);
        if v != 0 {
            return v as u32;
        }
        self.register(ring)
    }

    #[cold]
    fn register(&self, ring: &RingLog) -> u32 {
        let desc = CallsiteDesc {
            level: self.level,
            style: match self.message {
                Some(_) => FormatStyle::Literal,
                None => FormatStyle::Brace,
            },
            line: self.line,
            target: &self.target,
            module: self.module,
            file: self.file,
            format: self.message.unwrap_or("{}"),
            fields: self.keys.iter().map(|k| &**k).collect(),
            layout: "",
        };
        let id = ring.logger.register_callsite(&desc).unwrap_or(0);
        // Racing threads register the same description (deduplicated by content) and store
        // the same word.
        // SYNC: Release; pairs with the Acquire load in `id`.
        self.id.store(1 << 32 | id as u64, Ordering::Release);
        id
    }
}

/// Encodes each value and checks its key against the cached site's.
struct EncodeChecking<'e, 'b, 's> {
    e: &'e mut Encoder<'b>,
    site: &'s StaticSite,
    at: usize,
    same: bool,
}

impl<'kvs> VisitSource<'kvs> for EncodeChecking<'_, '_, '_> {
    fn visit_pair(&mut self, key: Key<'kvs>, v: Value<'kvs>) -> Result<(), kv::Error> {
        let k = key.as_str();
        let at = self.at;
        self.same &= match self.site.static_keys.get(at) {
            Some(Some(lit)) if core::ptr::eq(*lit, k) => true,
            Some(_) => *self.site.keys[at] == *k,
            None => false,
        };
        self.at += 1;
        encode_value(self.e, &v);
        Ok(())
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

/// Each key name that is a string literal.
struct StaticKeys(Vec<Option<&'static str>>);

impl<'kvs> VisitSource<'kvs> for StaticKeys {
    fn visit_pair(&mut self, key: Key<'kvs>, _: Value<'kvs>) -> Result<(), kv::Error> {
        self.0.push(static_text(key.as_str()));
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

/// Encodes one value: one visit of the value, binary where `log` gives a number, bool, char
/// or borrowed string (integers as `u64` when they are not negative, as before), `Display`
/// text otherwise.
fn encode_value(e: &mut Encoder<'_>, v: &Value<'_>) {
    if v.visit(ValueEncoder(&mut *e, v)).is_err() {
        e.display_str(StackStr::new(&mut MaybeUninit::uninit()).display(v))
    }
}

struct ValueEncoder<'e, 'b, 'v, 'w>(&'e mut Encoder<'b>, &'w Value<'v>);

impl<'v> VisitValue<'v> for ValueEncoder<'_, '_, '_, '_> {
    fn visit_any(&mut self, _: Value<'_>) -> Result<(), kv::Error> {
        self.0
            .display_str(StackStr::new(&mut MaybeUninit::uninit()).display(self.1));
        Ok(())
    }
    fn visit_u64(&mut self, v: u64) -> Result<(), kv::Error> {
        self.0.u64(v);
        Ok(())
    }
    fn visit_i64(&mut self, v: i64) -> Result<(), kv::Error> {
        match u64::try_from(v) {
            Ok(u) => self.0.u64(u),
            Err(_) => self.0.i64(v),
        }
        Ok(())
    }
    fn visit_u128(&mut self, v: u128) -> Result<(), kv::Error> {
        match u64::try_from(v) {
            Ok(u) => self.0.u64(u),
            Err(_) => self.0.u128(v),
        }
        Ok(())
    }
    fn visit_i128(&mut self, v: i128) -> Result<(), kv::Error> {
        if let Ok(u) = u64::try_from(v) {
            self.0.u64(u)
        } else if let Ok(i) = i64::try_from(v) {
            self.0.i64(i)
        } else {
            self.0.i128(v)
        }
        Ok(())
    }
    fn visit_f64(&mut self, v: f64) -> Result<(), kv::Error> {
        self.0.f64(v);
        Ok(())
    }
    fn visit_bool(&mut self, v: bool) -> Result<(), kv::Error> {
        self.0.bool(v);
        Ok(())
    }
    fn visit_borrowed_str(&mut self, v: &'v str) -> Result<(), kv::Error> {
        self.0.str(v);
        Ok(())
    }
    fn visit_char(&mut self, v: char) -> Result<(), kv::Error> {
        self.0.char(v);
        Ok(())
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
