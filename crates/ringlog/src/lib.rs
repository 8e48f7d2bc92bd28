//! The producer side of ringlog: services link this crate and log into a shared-memory ring
//! that the `ringdrain` process formats and writes to disk.
//!
//! A log call writes one fixed-size binary record (timestamp, callsite id, pid, tid, binary
//! arguments) into a lock-free ring in a memory-mapped segment. No formatting, no I/O and no
//! system call happen on the caller's thread, so a call costs nanoseconds, and because the
//! segment outlives the process, what a process logged before it crashed is still drained.
//!
//! | item | what it is |
//! |---|---|
//! | [`Logger`] | a handle to a segment: cheap to clone, `Send + Sync`, survives `fork()` |
//! | [`init`], [`global`] | the process-wide logger the macros use when called without a handle |
//! | [`LoggerBuilder`] | ring name or path, level, [`Policy`], sizes |
//! | [`info!`], [`warn!`], [`error!`], [`debug!`], [`trace!`], [`log!`] | the macros |
//! | [`Policy`] | what to do when the ring is full |
//! | [`Encode`] | types sent in binary (others that are `Display` are formatted here) |
//! | [`Logger::control_overridden`] | directives set by `ringdrain level` on the segment's control page replace the logger's own filter on its next call, until `--reset` |
//!
//! # Example
//!
//! ```
//! use ringlog::{info, warn, Logger, Level};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let logger = Logger::builder()
//!     .path(dir.path().join("app.ring"))
//!     .slot_count(1024)
//!     .level(Level::Info)
//!     .open()
//!     .unwrap();
//!
//! let (id, ms, user) = (42u64, 1.5f64, "ada");
//! info!(logger, "request {} served in {} ms by {}", id, ms, user);
//! warn!(logger, "slow query", table = "users", rows = 1200u32);
//! ringlog::debug!(logger, "not recorded: below the level");
//! ```
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks, missing_docs)]

#[doc(hidden)]
pub mod __private;
pub mod bridge;
mod control;
pub mod filter;
mod global;
mod ids;
mod lanes;
mod macros;

use std::cell::Cell;
use std::mem::MaybeUninit;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_utils::Backoff;
use ringlog_segment::{clock, OpenError, Segment, SegmentConfig};
use ringlog_wire::clock::ClockKind;
use ringlog_wire::record::{RecordHeader, FLAG_TRUNCATED, RECORD_HEADER_LEN};
use ringlog_wire::ring::{PushError, MAX_PID};

pub use global::{global, init, AlreadyInitialized};
pub use ringlog_segment::ClockChoice;
pub use ringlog_wire::args::{Encode, Encoder};
pub use ringlog_wire::record::Level;

use crate::__private::Callsite;
use crate::filter::cell::FilterCell;

thread_local! {
    /// Set when this thread's last buffered write under [`Policy::Drop`] found the lane it
    /// holds full and was dropped: its next buffered write looks at that lane before encoding
    /// ([`Logger::lane_still_full`]). Never set under the other policies.
    static LANE_WAS_FULL: Cell<bool> = const { Cell::new(false) };
}

/// Largest record (header + arguments) a log call builds, whatever the ring allows.
pub const MAX_RECORD: usize = 2048;

/// Longest a `Policy::Block` producer sleeps on the room word before it checks its deadline,
/// the drain's heartbeat and its lane again (a wake-up from the drain ends it at once).
const ROOM_WAIT: Duration = Duration::from_millis(5);

/// Parses `block`, `drop` or `block:DURATION` (`block:50ms`, `block:2s`).
fn parse_policy(s: &str) -> Result<Policy, String> {
    let s = s.trim().to_ascii_lowercase();
    match s.as_str() {
        "block" => Ok(Policy::Block),
        "drop" => Ok(Policy::Drop),
        _ => {
            let d = s
                .strip_prefix("block:")
                .ok_or_else(|| "expected block, drop or block:DURATION".to_string())?;
            let (num, unit) = d.split_at(d.find(|c: char| !c.is_ascii_digit()).unwrap_or(d.len()));
            let n: u64 = num.parse().map_err(|_| format!("bad duration {d:?}"))?;
            Ok(Policy::BlockFor(match unit {
                "us" => Duration::from_micros(n),
                "ms" => Duration::from_millis(n),
                "s" | "" => Duration::from_secs(n),
                _ => return Err(format!("bad duration unit in {d:?} (us, ms, s)")),
            }))
        }
    }
}

/// Parses sizes like `4096`, `64k`, `64M`, `1G`.
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .trim()
        .parse()
        .map_err(|_| "not a size (e.g. 64M)".to_string())?;
    let mult: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err("unknown unit (k, M, G)".to_string()),
    };
    n.checked_mul(mult).ok_or_else(|| "too large".to_string())
}

/// What a log call does when the ring is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    /// Wait for space (spin briefly, then yield, then sleep); nothing is lost while a drain is
    /// alive. If the drain's heartbeat goes stale (no drain, or a dead one), the record is
    /// dropped and counted instead of hanging the service.
    #[default]
    Block,
    /// Never wait: drop the record and count it.
    Drop,
    /// Wait at most this long, then drop and count.
    BlockFor(Duration),
}

/// Why a logger could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum LoggerError {
    /// The segment could not be opened or created.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// No ring was named.
    #[error("no ring given: call .ring(name) or .path(path), or set RINGLOG_RING")]
    NoRing,
    /// A setting (from the environment) is invalid.
    #[error("invalid setting {0}")]
    Config(String),
    /// This process's pid does not fit the ring's sequence word.
    #[error("pid {0} is larger than ringlog supports ({MAX_PID})")]
    PidTooLarge(u32),
}

/// Builds a [`Logger`].
#[derive(Debug, Clone)]
pub struct LoggerBuilder {
    path: Option<Result<PathBuf, String>>,
    config: SegmentConfig,
    level: Level,
    directives: Option<filter::Directives>,
    policy: Policy,
    stale_after: Duration,
}

/// A new logger key (24 bits, never 0).
fn next_key() -> u32 {
    static NEXT_KEY: AtomicU32 = AtomicU32::new(1);
    // SYNC: Relaxed; a unique number, no data hangs off it.
    let k = NEXT_KEY.fetch_add(1, Ordering::Relaxed) & 0xFF_FFFF;
    k.max(1)
}

impl LoggerBuilder {
    /// The ring by name (`/dev/shm/ringlog-<name>`) or, if it contains a `/`, by path.
    pub fn ring(mut self, name_or_path: &str) -> Self {
        self.path =
            Some(ringlog_segment::resolve(name_or_path).map_err(|_| name_or_path.to_string()));
        self
    }

    /// The ring's file path.
    pub fn path(mut self, path: impl AsRef<Path>) -> Self {
        self.path = Some(Ok(path.as_ref().to_path_buf()));
        self
    }

    /// Most verbose level recorded (default `Info`). Replaces any directives.
    pub fn level(mut self, level: Level) -> Self {
        self.level = level;
        self.directives = None;
        self
    }

    /// Per-target levels, `RUST_LOG` style (`"warn,my_crate=debug,my_crate::db=trace"`; see
    /// [`filter`]). The native macros' target is their module path.
    pub fn directives(mut self, directives: filter::Directives) -> Self {
        self.directives = Some(directives);
        self
    }

    /// Settings from the environment, over what the builder has so far:
    ///
    /// | variable | meaning | example |
    /// |---|---|---|
    /// | `RINGLOG_RING` | ring name or path | `myapp`, `/var/lib/myapp/log.ring` |
    /// | `RINGLOG_LOG` (else `RUST_LOG`) | level directives | `info,my_crate::db=debug` |
    /// | `RINGLOG_POLICY` | full-ring policy | `block`, `drop`, `block:50ms` |
    /// | `RINGLOG_RING_SIZE` | ring bytes, if this process creates it | `64M` |
    /// | `RINGLOG_SLOT_SIZE` | slot bytes, if this process creates it | `128` |
    /// | `RINGLOG_MODE` | file mode, if this process creates it | `660` |
    pub fn from_env(self) -> Result<Self, LoggerError> {
        self.from_vars(|k| std::env::var(k).ok())
    }

    /// [`from_env`](LoggerBuilder::from_env) with a custom variable source (for tests).
    pub fn from_vars(mut self, var: impl Fn(&str) -> Option<String>) -> Result<Self, LoggerError> {
        let bad =
            |name: &str, v: &str, why: &str| LoggerError::Config(format!("{name}={v:?}: {why}"));
        if let Some(r) = var("RINGLOG_RING").filter(|s| !s.trim().is_empty()) {
            self = self.ring(r.trim());
        }
        let directives = var("RINGLOG_LOG")
            .filter(|s| !s.trim().is_empty())
            .map(|s| ("RINGLOG_LOG", s))
            .or_else(|| {
                var("RUST_LOG")
                    .filter(|s| !s.trim().is_empty())
                    .map(|s| ("RUST_LOG", s))
            });
        if let Some((name, d)) = directives {
            let parsed = d
                .parse::<filter::Directives>()
                .map_err(|e| bad(name, &d, &e.to_string()))?;
            self.directives = Some(parsed);
        }
        if let Some(p) = var("RINGLOG_POLICY") {
            self.policy = parse_policy(&p).map_err(|e| bad("RINGLOG_POLICY", &p, &e))?;
        }
        if let Some(v) = var("RINGLOG_RING_SIZE") {
            let bytes = parse_size(&v).map_err(|e| bad("RINGLOG_RING_SIZE", &v, &e))?;
            self.config.slot_count = (bytes / self.config.slot_size as u64).max(2);
        }
        if let Some(v) = var("RINGLOG_SLOT_SIZE") {
            let bytes: u32 = v
                .trim()
                .parse()
                .map_err(|_| bad("RINGLOG_SLOT_SIZE", &v, "not a number"))?;
            let ring_bytes = self.config.slot_count * self.config.slot_size as u64;
            self.config.slot_size = bytes;
            self.config.slot_count = (ring_bytes / bytes.max(1) as u64).max(2);
        }
        if let Some(v) = var("RINGLOG_MODE") {
            self.config.mode = u32::from_str_radix(v.trim().trim_start_matches("0o"), 8)
                .map_err(|_| bad("RINGLOG_MODE", &v, "not an octal mode"))?;
        }
        Ok(self)
    }

    /// Full-ring policy (default [`Policy::Block`]).
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// Slot size in bytes for a ring this call creates (power of two, default 64).
    pub fn slot_size(mut self, bytes: u32) -> Self {
        self.config.slot_size = bytes;
        self
    }

    /// Slots in each lane of a ring this call creates (power of two, default 2^13).
    pub fn slot_count(mut self, slots: u64) -> Self {
        self.config.slot_count = slots;
        self
    }

    /// Lanes of a ring this call creates (1..=4096, default 32): threads that each hold a lane
    /// never contend (see ARCHITECTURE.md, "Lanes").
    pub fn lanes(mut self, lanes: u32) -> Self {
        self.config.lanes = lanes;
        self
    }

    /// Callsite table size for a ring this call creates (multiple of 4096, default 1 MiB). The
    /// table's index is sized with it (an eighth of the table, at most 8192 entries).
    pub fn callsite_bytes(mut self, bytes: u64) -> Self {
        self.config.callsite_bytes = bytes;
        let slots = (bytes / 64).clamp(16, 8192);
        // The largest power of two not above `slots`.
        self.config.callsite_index_slots = 1 << (63 - slots.leading_zeros());
        self
    }

    /// File mode for a ring this call creates (default 0o600).
    pub fn mode(mut self, mode: u32) -> Self {
        self.config.mode = mode;
        self
    }

    /// Clock for a ring this call creates.
    pub fn clock(mut self, clock: ClockChoice) -> Self {
        self.config.clock = clock;
        self
    }

    /// Open rings owned by another user (refused by default).
    pub fn allow_foreign_owner(mut self, allow: bool) -> Self {
        self.config.allow_foreign_owner = allow;
        self
    }

    /// How old the drain's heartbeat may be before `Block` stops waiting (default 1 s).
    pub fn stale_after(mut self, d: Duration) -> Self {
        self.stale_after = d;
        self
    }

    /// The full segment configuration (sizes, mode, clock) for a ring this call creates.
    pub fn segment_config(mut self, config: SegmentConfig) -> Self {
        self.config = config;
        self
    }

    /// Opens (or creates) the ring.
    pub fn open(self) -> Result<Logger, LoggerError> {
        let path = match self.path {
            None => return Err(LoggerError::NoRing),
            Some(Err(name)) => return Err(OpenError::InvalidName(name).into()),
            Some(Ok(p)) => p,
        };
        let pid = ids::pid();
        if pid > MAX_PID {
            return Err(LoggerError::PidTooLarge(pid));
        }
        let level = match &self.directives {
            Some(d) => d.max_level().map_or(0, |l| l as u8),
            None => self.level.verbosity(),
        };
        let (segment, _) = Segment::create_or_open(&path, &self.config)?;
        segment.attach_producer(pid);
        let max_record = segment.lane(0).ring().max_record_len().min(MAX_RECORD);
        let in_place_limit = (segment.lane(0).ring().body_len().min(max_record) + 1)
            .saturating_sub(RECORD_HEADER_LEN);
        let lane_count = segment.lane_count();
        let clock = segment.clock_kind();
        Ok(Logger {
            inner: Arc::new(Inner {
                // Generation 0 applied: a change already on the control page is applied on
                // the first call.
                filter: control::FilterWord::new(0, level),
                control_page: control::ControlRef::new(segment.control()),
                control: control::Control::new(self.directives.clone(), level),
                attached_pid: AtomicU32::new(pid),
                key: AtomicU32::new(next_key()),
                directives: FilterCell::new(self.directives),
                lanes: lanes::Lanes::new(lane_count),
                policy: self.policy,
                stale_after: self.stale_after,
                clock,
                max_record,
                in_place_limit,
                // SAFETY: the rings live in the same `Inner` as the segment they view, which
                // drops them first (field order) and never replaces either.
                rings: unsafe { lanes::LaneRings::new(&segment) },
                segment,
            }),
        })
    }
}

/// A handle to a ring. Cheap to clone (an `Arc`), `Send + Sync`; keeps working in a child
/// process after `fork()`.
#[derive(Debug, Clone)]
pub struct Logger {
    inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    /// The most verbose enabled level in effect ([`Level::verbosity`]; 0 disables everything)
    /// and the control-page generation it was computed under (see [`control`]).
    filter: control::FilterWord,
    /// The segment's control page (inside `segment`'s mapping).
    control_page: control::ControlRef,
    /// The logger's own filter and the lock for changing the effective one.
    control: control::Control,
    /// Pid that last registered in the segment's producer table (changes after fork).
    attached_pid: AtomicU32,
    /// Distinguishes loggers (and generations of their filter) in callsite caches: 24 bits,
    /// unique in this process; a new filter takes a new key, which invalidates the caches.
    key: AtomicU32,
    /// Per-target directives in effect (None: only the global level): the logger's own, or
    /// those set on the control page. Read without a lock on a log call's cold path, so a
    /// forked child never inherits a lock held by another thread.
    directives: FilterCell,
    /// Which lanes this process's threads hold (see `lanes`).
    lanes: lanes::Lanes,
    policy: Policy,
    stale_after: Duration,
    clock: ClockKind,
    max_record: usize,
    /// Calls whose arguments take fewer bytes than this are encoded straight into one slot
    /// (`Logger::write`): a slot's body minus the record header (0 if a slot cannot hold the
    /// header).
    in_place_limit: usize,
    /// Each lane's ring (views of `segment` built at open: declared, so dropped, before it)
    /// and this process's copy of its read cursor.
    rings: lanes::LaneRings,
    segment: Segment,
}

impl Inner {
    pub(crate) fn segment(&self) -> &Segment {
        &self.segment
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // No handle is left, so no thread writes through this logger any more: give back the
        // lanes its threads took (threads still running find their cache entries dead).
        self.lanes.give_back_all(&self.segment, ids::pid());
    }
}

/// Counters a producer can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerStats {
    /// Records dropped by all producers of the segment.
    pub dropped: u64,
    /// Records written truncated by all producers.
    pub truncated: u64,
}

impl Logger {
    /// A builder with defaults (level `Info`, policy `Block`, 64-byte slots, 32 lanes of 8192
    /// slots: a 16 MiB ring).
    pub fn builder() -> LoggerBuilder {
        LoggerBuilder {
            path: None,
            config: SegmentConfig::default(),
            level: Level::Info,
            directives: None,
            policy: Policy::Block,
            stale_after: Duration::from_secs(1),
        }
    }

    /// Opens (or creates) the ring `name_or_path` with defaults.
    pub fn open(name_or_path: &str) -> Result<Logger, LoggerError> {
        Logger::builder().ring(name_or_path).open()
    }

    /// Whether `level` is enabled: a load of the logger's filter word, one Relaxed load of the
    /// segment's control generation, two compares. When the generation moved (`ringdrain
    /// level` changed the directives), the change is applied first (the cold path).
    #[inline(always)]
    pub fn enabled(&self, level: Level) -> bool {
        level.verbosity() <= control::level_of(self.filter_word())
    }

    /// The filter word, brought up to date with the control page first if it changed.
    #[inline(always)]
    fn filter_word(&self) -> u64 {
        let inner = &*self.inner;
        let word = inner.filter.load();
        let generation = inner.control_page.get().generation_relaxed();
        if control::is_current(word, generation) {
            return word;
        }
        self.apply_control(generation)
    }

    /// The cold path of [`Logger::filter_word`]: applies the control page's directives (or,
    /// after a reset, the logger's own) and returns the new filter word.
    #[cold]
    #[inline(never)]
    fn apply_control(&self, seen: u64) -> u64 {
        let inner = &*self.inner;
        inner.control.apply(
            ids::pid(),
            inner.control_page.get(),
            seen,
            || inner.filter.load(),
            |generation, effective| {
                match effective {
                    Some(e) => {
                        inner.directives.set(e.directives);
                        // SYNC: Relaxed; see `set_filter`.
                        inner.key.store(next_key(), Ordering::Relaxed);
                        inner.filter.set(generation, e.level);
                    }
                    None => {
                        let level = control::level_of(inner.filter.load());
                        inner.filter.set(generation, level);
                    }
                }
            },
        );
        inner.filter.load()
    }

    /// Whether directives set on the segment's control page (`ringdrain level`) are in effect
    /// in place of this logger's own. Checks the page first.
    pub fn control_overridden(&self) -> bool {
        self.filter_word();
        self.inner.control.overridden()
    }

    /// The most verbose level any target may log (`None`: logging is off).
    pub fn max_level(&self) -> Option<Level> {
        Level::from_u8(control::level_of(self.filter_word()))
    }

    /// Whether a record of `level` from `target` passes this logger's filter (its directives,
    /// else its level). For bridges, whose callsites are not the native macros'.
    pub fn enabled_for(&self, target: &str, level: Level) -> bool {
        if !self.enabled(level) {
            return false;
        }
        self.inner
            .directives
            .read(|d| d.is_none_or(|d| d.enabled(target, level)))
    }

    /// The most verbose level a record from `target` may have (its directives, else its
    /// level; `None`: nothing from `target` passes). Bridges cache the answer under
    /// [`Logger::filter_key`].
    pub fn max_level_for(&self, target: &str) -> Option<Level> {
        Level::ALL
            .iter()
            .rev()
            .copied()
            .find(|l| self.enabled_for(target, *l))
    }

    /// A number (24 bits, never 0, unique in this process) that changes whenever this
    /// logger's filter changes (`set_level`, `set_directives`): a bridge caches a per-target
    /// verdict next to the key it was computed under and recomputes it when the key differs.
    /// Read the key before computing the verdict, so a change racing the computation makes the
    /// cached verdict stale rather than wrong forever.
    #[inline(always)]
    pub fn filter_key(&self) -> u32 {
        // A change on the control page takes a new key.
        self.filter_word();
        // SYNC: Relaxed; see `set_filter` (the filter is advisory).
        self.inner.key.load(Ordering::Relaxed)
    }

    /// The directives in effect, if any (bridges can adopt them): the logger's own, or those
    /// set on the control page while they are in effect.
    pub fn directives(&self) -> Option<filter::Directives> {
        self.inner.directives.read(|d| d.cloned())
    }

    /// Changes the level filter at run time (`None` turns logging off); drops any directives.
    /// While directives set on the control page (`ringdrain level`) are in effect this changes
    /// the logger's own filter, which takes effect on `ringdrain level --reset`.
    pub fn set_level(&self, level: Option<Level>) {
        self.set_filter(None, level.map_or(0, Level::verbosity));
    }

    /// Changes the per-target directives at run time.
    pub fn set_directives(&self, directives: filter::Directives) {
        let max = directives.max_level().map_or(0, |l| l as u8);
        self.set_filter(Some(directives), max);
    }

    fn set_filter(&self, directives: Option<filter::Directives>, max: u8) {
        let inner = &*self.inner;
        inner
            .control
            .set_own(ids::pid(), directives, max, |effective| {
                if let Some(e) = effective {
                    inner.directives.set(e.directives);
                    // SYNC: Relaxed; a new key makes every callsite re-resolve its level on its
                    // next call (the filter is advisory: a call racing the change may use either
                    // setting).
                    inner.key.store(next_key(), Ordering::Relaxed);
                    inner.filter.set_level(e.level);
                }
            });
    }

    /// The segment this logger writes to.
    pub fn segment(&self) -> &Segment {
        &self.inner.segment
    }

    /// Loss counters of the segment.
    pub fn stats(&self) -> ProducerStats {
        let c = &self.inner.segment.shared().counters;
        // SYNC: Relaxed; statistics.
        ProducerStats {
            dropped: c.dropped.load(Ordering::Relaxed),
            truncated: c.truncated.load(Ordering::Relaxed),
        }
    }

    /// Registers a callsite described at run time (for bridges whose callsites are not Rust
    /// statics: `log`, `tracing`, Python) and returns its id for [`Logger::log_with_id`].
    /// Deduplicated by content, so calling it again for the same description is harmless.
    pub fn register_callsite(
        &self,
        desc: &ringlog_wire::callsite::CallsiteDesc<'_>,
    ) -> Result<u32, ringlog_wire::callsite::RegisterError> {
        self.inner.segment.callsites().register(desc)
    }

    /// Logs a record for a callsite id from [`Logger::register_callsite`]; `encode` writes the
    /// arguments (positional first, then fields, as the callsite describes).
    #[inline]
    pub fn log_with_id(&self, id: u32, level: Level, encode: impl FnOnce(&mut Encoder<'_>)) {
        if self.enabled(level) {
            self.write_buffered(
                level,
                |e| {
                    encode(e);
                    id
                },
                |wait| wait(),
            )
        }
    }

    /// [`Logger::log_with_id`] for a bridge that learns which callsite a record belongs to
    /// while it encodes the arguments (`tracing` hands over the message only as a value to
    /// visit, so whether it is the callsite's literal text is known during the one visit of
    /// the fields): `encode` writes the arguments and returns the callsite id.
    #[inline]
    pub fn log_choosing_id(&self, level: Level, encode: impl FnOnce(&mut Encoder<'_>) -> u32) {
        if self.enabled(level) {
            self.write_buffered(level, encode, |wait| wait())
        }
    }

    /// [`Logger::log_with_id`] for a binding whose caller holds a lock it must let go of while
    /// a full ring makes it wait (Python's GIL): when the policy waits, the wait runs inside
    /// `around_wait`, which must call the closure it is given (once). Not called when the ring
    /// has room, nor under [`Policy::Drop`].
    #[inline]
    pub fn log_with_id_waiting(
        &self,
        id: u32,
        level: Level,
        encode: impl FnOnce(&mut Encoder<'_>),
        around_wait: impl FnOnce(&mut (dyn FnMut() + Send)),
    ) {
        if self.enabled(level) {
            self.write_buffered(
                level,
                |e| {
                    encode(e);
                    id
                },
                around_wait,
            )
        }
    }

    /// The macros' entry point. Not public API. `body` binds the arguments and hands them to
    /// the [`Writer`](__private::Writer) (not called when a per-target directive filters the
    /// callsite out).
    #[doc(hidden)]
    #[inline(always)]
    pub fn __log(
        &self,
        cs: &'static Callsite,
        level: Level,
        body: impl FnOnce(__private::Writer<'_>),
    ) {
        // SYNC: Relaxed; see `set_filter`.
        let key = self.inner.key.load(Ordering::Relaxed);
        let (id, max) = match cs.cached(key) {
            Some(v) => v,
            None => self.resolve_static(cs, level, key),
        };
        if level.verbosity() > max {
            return; // a per-target directive filters this callsite out
        }
        body(__private::Writer {
            logger: self,
            callsite: cs,
            id,
            level,
        })
    }

    /// A record of a callsite the table had no room for: the format string goes first.
    #[cold]
    #[inline(never)]
    pub(crate) fn write_unregistered(
        &self,
        format: &'static str,
        level: Level,
        encode: impl FnOnce(&mut Encoder<'_>),
    ) {
        self.write_buffered(
            level,
            |e| {
                e.str(format);
                encode(e);
                0
            },
            |wait| wait(),
        )
    }

    /// A callsite's id and level in this logger past its last entry: the entry before it (a
    /// callsite writing through two loggers in turn), else registered.
    #[cold]
    #[inline(never)]
    fn resolve_static(&self, cs: &'static Callsite, level: Level, key: u32) -> (u32, u8) {
        match cs.cached_previous(key) {
            Some(v) => v,
            None => self.register_static(cs, level, key),
        }
    }

    #[cold]
    fn register_static(&self, cs: &'static Callsite, level: Level, key: u32) -> (u32, u8) {
        let id = self
            .inner
            .segment
            .callsites()
            .register(&cs.desc(level))
            .unwrap_or(0);
        // No lock here (see `FilterCell`): a child forked while another thread resolves a
        // callsite must be able to resolve its own.
        let max = self.inner.directives.read(|d| match d {
            Some(d) => Level::ALL
                .iter()
                .rev()
                .find(|l| d.enabled(cs.target(), **l))
                .map_or(0, |l| *l as u8),
            None => Level::Trace as u8,
        });
        cs.store(key, id, max);
        (id, max)
    }

    /// Writes one record for the macros. `len` is at least the bytes `encode` writes
    /// ([`UNSIZED`](ringlog_wire::args::UNSIZED): not known); `encode` writes the arguments
    /// and returns the callsite id.
    ///
    /// The fast path, for a thread holding its lane and arguments known to fit one slot:
    /// read the clock, claim and own one slot, encode the arguments and the header straight
    /// into it, commit. Otherwise (or when that slot cannot be had: a full lane) the
    /// buffered path: encode into a stack buffer first, then push a copy.
    #[inline(always)]
    fn write(&self, level: Level, len: usize, encode: impl FnOnce(&mut Encoder<'_>) -> u32) {
        let inner = &*self.inner;
        if len < inner.in_place_limit {
            let pid = ids::pid();
            // A lane held under this pid was taken after this process attached (`write` and
            // `prepare_thread` attach before they take a lane), so no attach check here.
            if let Some((ring, cache)) = inner.lanes.held(pid).and_then(|l| inner.rings.get(l)) {
                // The clock right before the claim, as the buffered path reads it right before
                // the push (the merge's edge in ARCHITECTURE.md, "Lanes"). Read with the slot
                // already owned it would close that edge, but it measured ~2 ns a call slower
                // here: the TSC read then waits behind the two locked instructions instead of
                // overlapping them.
                let timestamp = clock::now_raw(inner.clock);
                if let Ok(mut slot) = ring.own_one(pid, cache) {
                    let tid = ids::tid();
                    let truncated = slot.fill(|body| {
                        let (head, args) = body.split_at_mut(RECORD_HEADER_LEN);
                        let mut enc = Encoder::over(args);
                        let callsite = encode(&mut enc);
                        let truncated = enc.truncated();
                        let header = RecordHeader {
                            timestamp,
                            callsite,
                            pid,
                            tid,
                            len: enc.len() as u16,
                            level: level as u8,
                            flags: if truncated { FLAG_TRUNCATED } else { 0 },
                        };
                        head.copy_from_slice(bytemuck::bytes_of(&header));
                        truncated
                    });
                    slot.commit();
                    if truncated {
                        self.count_truncated();
                    }
                    // An idle drain sleeping on the segment's futex: wake it (one Relaxed load
                    // otherwise).
                    inner.segment.notify_drain();
                    return;
                }
                if matches!(inner.policy, Policy::Drop) {
                    // The thread's own lane is full and the policy drops: what the buffered
                    // path would end in, without encoding the record again, reading the clock
                    // a second time and retrying the push (a dropped call cost twice a
                    // written one, on the cores an overloaded drain needs).
                    return self.drop_record();
                }
            }
        }
        // Inline, like the fast path: called out of line, the argument closure would have two
        // callers and stop being inlined into the fast path (+50 instructions a call).
        self.write_buffered(level, encode, |wait| wait())
    }

    #[cold]
    fn count_truncated(&self) {
        // SYNC: Relaxed; a statistic.
        self.inner
            .segment
            .shared()
            .counters
            .truncated
            .fetch_add(1, Ordering::Relaxed);
    }

    /// [`write`](Logger::write)'s buffered path: encode into a stack buffer, then push a copy.
    #[inline(always)]
    fn write_buffered(
        &self,
        level: Level,
        encode: impl FnOnce(&mut Encoder<'_>) -> u32,
        around_wait: impl FnOnce(&mut (dyn FnMut() + Send)),
    ) {
        let inner = &*self.inner;
        let pid = ids::pid();
        // SYNC: Relaxed; only detects that this is a forked child (a new pid) to re-register.
        if inner.attached_pid.load(Ordering::Relaxed) != pid {
            self.reattach(pid);
        }
        // This thread's last record was dropped on a full lane of its own: unless the lane
        // has room again, drop this one too before paying for its encoding (a bridge's
        // encoding is most of its call). One thread-local read otherwise.
        if LANE_WAS_FULL.with(Cell::get) && self.lane_still_full(pid) {
            return self.drop_record();
        }
        let mut buf = [MaybeUninit::<u8>::uninit(); MAX_RECORD];
        let (callsite, len, truncated) = {
            let mut enc = Encoder::new(&mut buf[RECORD_HEADER_LEN..inner.max_record]);
            let callsite = encode(&mut enc);
            (callsite, enc.len(), enc.truncated())
        };
        // The clock is read as late as possible, just before the record is pushed: the drain
        // merges lanes by timestamp, and a record stamped long before its slot is claimed can
        // land after records stamped later (the reader's module docs).
        let header = RecordHeader {
            timestamp: clock::now_raw(inner.clock),
            callsite,
            pid,
            tid: ids::tid(),
            len: len as u16,
            level: level as u8,
            flags: if truncated { FLAG_TRUNCATED } else { 0 },
        };
        let hb = bytemuck::bytes_of(&header);
        // SAFETY: `buf` has MAX_RECORD >= RECORD_HEADER_LEN bytes; the header bytes are a
        // distinct object.
        unsafe {
            core::ptr::copy_nonoverlapping(
                hb.as_ptr(),
                buf.as_mut_ptr() as *mut u8,
                RECORD_HEADER_LEN,
            )
        };
        // SAFETY: bytes [0, 24) were just written and [24, 24 + len) by the encoder.
        let record = unsafe {
            core::slice::from_raw_parts(buf.as_ptr() as *const u8, RECORD_HEADER_LEN + len)
        };
        if truncated {
            self.count_truncated();
        }
        let tid = header.tid;
        let pick = inner.lanes.pick(&self.inner, &inner.segment, pid, tid);
        let (ring, cache) = inner.rings.lane(pick.lane());
        match ring.push(record, pid, cache) {
            Ok(_) => {}
            Err(e) if matches!(inner.policy, Policy::Drop) => self.full(record, pid, pick, e),
            Err(e) => {
                let mut first = Some(e);
                around_wait(&mut || {
                    if let Some(e) = first.take() {
                        self.full(record, pid, pick, e)
                    }
                })
            }
        }
        // An idle drain sleeping on the segment's futex: wake it (one Relaxed load otherwise).
        inner.segment.notify_drain();
        if let lanes::Pick::Borrowed(lane) = pick {
            inner
                .lanes
                .give_back_borrowed(&inner.segment, lane, pid, tid);
        }
    }

    /// Whether the lane this thread holds is still full, for a thread whose last buffered
    /// write under [`Policy::Drop`] was dropped on it (`LANE_WAS_FULL`); clears the flag when
    /// it is not (room again, another logger, another policy, no lane held), so the thread
    /// encodes again. A look, not a claim: a record let through here can still find the lane
    /// full at its push and be dropped there, and one dropped here would have found room only
    /// if the drain freed some in between, which `Drop` does not wait for anyway.
    #[cold]
    #[inline(never)]
    fn lane_still_full(&self, pid: u32) -> bool {
        let inner = &*self.inner;
        let full = matches!(inner.policy, Policy::Drop)
            && inner
                .lanes
                .held(pid)
                .and_then(|l| inner.rings.get(l))
                .is_some_and(|(ring, cache)| ring.is_full(1, cache));
        if !full {
            LANE_WAS_FULL.with(|f| f.set(false));
        }
        full
    }

    #[cold]
    fn reattach(&self, pid: u32) {
        self.inner.segment.attach_producer(pid);
        // SYNC: Relaxed; see `write`.
        self.inner.attached_pid.store(pid, Ordering::Relaxed);
    }

    /// The ring was full: wait per policy, then push or drop. A `Block` producer sleeps on the
    /// segment's room word until the drain frees room, instead of polling: 64 threads blocked on
    /// a slow drain polling every 50 us would wake 1.3 million times a second on the cores the
    /// drain needs.
    #[cold]
    #[inline(never)]
    fn full(&self, record: &[u8], pid: u32, pick: lanes::Pick, first: PushError) {
        let inner = &*self.inner;
        let mut lane = pick.lane();
        let (mut ring, mut cache) = inner.rings.lane(lane);
        let deadline = match inner.policy {
            Policy::Drop => {
                if matches!(pick, lanes::Pick::Held(_)) && matches!(first, PushError::Full { .. }) {
                    // The thread's next buffered write looks at the lane before encoding.
                    LANE_WAS_FULL.with(|f| f.set(true));
                }
                return self.drop_record();
            }
            Policy::Block => None,
            Policy::BlockFor(d) => Some(Instant::now() + d),
        };
        if matches!(first, PushError::TooLarge { .. }) {
            return self.drop_record();
        }
        // No drain (never attached, or its heartbeat is stale): waiting cannot help, drop now
        // rather than spin through the backoff on every call.
        if !self.drain_alive() {
            return self.drop_record();
        }
        let backoff = Backoff::new();
        let mut checked = Instant::now();
        // Announced on the room word before the last try (`wake`: "Producers waiting for
        // room"): a try that still finds the lane full may sleep until the drain frees room.
        let mut announced = false;
        loop {
            match ring.push(record, pid, cache) {
                Ok(_) => return,
                Err(PushError::TooLarge { .. }) => return self.drop_record(),
                Err(PushError::Full { .. }) => {}
            }
            if !backoff.is_completed() {
                // Spin briefly, then yield: with more threads than cores, spinning starves the
                // very drain we are waiting for.
                backoff.snooze();
                continue;
            }
            if !announced {
                // Announce, then try once more (the re-check) before sleeping.
                inner.segment.announce_room_wait();
                announced = true;
                continue;
            }
            announced = false;
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                return self.drop_record();
            }
            if now.duration_since(checked) >= Duration::from_millis(10) {
                checked = now;
                if !self.drain_alive() {
                    return self.drop_record();
                }
                // A shared lane held up by a frozen producer's record frees nothing until it
                // thaws: wait on another (the drain flags such a lane).
                if matches!(pick, lanes::Pick::Shared(_)) && inner.segment.lane(lane).stalled() {
                    lane = lanes::shared_lane(&inner.segment, ids::tid());
                    (ring, cache) = inner.rings.lane(lane);
                    // The re-check was of the old lane: try the new one before any sleep.
                    continue;
                }
            }
            // Sleep until the drain frees room (it wakes every waiting producer after a release
            // that freed some), at most ROOM_WAIT at a time: the deadline, the drain's life and
            // a stalled shared lane are checked between waits, and a drain of an older build
            // never wakes anyone.
            let mut wait = ROOM_WAIT;
            if let Some(d) = deadline {
                wait = wait.min(d.saturating_duration_since(now));
            }
            if inner.segment.wait_for_room(wait).is_err() {
                // No futexes here (seccomp, an old kernel): poll.
                std::thread::sleep(Duration::from_micros(50));
            }
        }
    }

    /// Takes (and faults in) the calling thread's lane now, so its first log call does not pay
    /// for it: the Quill-style "preallocate" for a thread that is about to log at full speed.
    /// Optional: the first call does the same.
    pub fn prepare_thread(&self) {
        let inner = &*self.inner;
        let (pid, tid) = (ids::pid(), ids::tid());
        // SYNC: Relaxed; see `write_buffered`. Attach before taking a lane: `write`'s fast
        // path relies on it.
        if inner.attached_pid.load(Ordering::Relaxed) != pid {
            self.reattach(pid);
        }
        if let lanes::Pick::Borrowed(lane) = inner.lanes.pick(&self.inner, &inner.segment, pid, tid)
        {
            inner
                .lanes
                .give_back_borrowed(&inner.segment, lane, pid, tid);
        }
    }

    /// Whether a drain is attached with a fresh heartbeat.
    pub fn drain_alive(&self) -> bool {
        let d = &self.inner.segment.shared().drain;
        // SYNC: Relaxed; liveness hints, no data depends on them.
        let pid = d.pid.load(Ordering::Relaxed);
        let hb = d.heartbeat_ns.load(Ordering::Relaxed);
        pid != 0 && clock::unix_ns().saturating_sub(hb) <= self.inner.stale_after.as_nanos() as u64
    }

    #[cold]
    fn drop_record(&self) {
        let c = &self.inner.segment.shared().counters;
        // SYNC: Relaxed; counters. The drain reports them; it needs no ordering with records.
        c.dropped.fetch_add(1, Ordering::Relaxed);
        // Stamp the first drop since the drain's last report (only then: a read, not a clock
        // call and a failing CAS, on every drop).
        // SYNC: Relaxed; a hint for the drain's report.
        if c.dropped_since_ns.load(Ordering::Relaxed) == 0 {
            let _ = c.dropped_since_ns.compare_exchange(
                0,
                clock::unix_ns(),
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }
    }
}
