//! A [`tracing-subscriber`](tracing_subscriber) layer for ringlog: `tracing` events become
//! binary records in a ringlog shared-memory ring that `ringdrain` formats and writes.
//!
//! Each event callsite's static metadata (level, target, module, file, line, field names) is
//! registered once as a ringlog callsite; its id is cached by the callsite's identity in a
//! lock-free map, so the steady state is a lookup plus the ring write. Field values travel in
//! binary (`u64`, `i64`, `f64`, `bool`, `&str`, 128-bit integers, bytes); values recorded with
//! `?x`/`%x` or as errors are formatted here into a stack buffer (the documented slow path, cut
//! at 512 bytes with a trailing `…`). The `message` field is the message: `tracing` hands it
//! over as `fmt::Arguments`, so it is formatted on the caller's thread too (no allocation) and
//! sent as the one argument of a `{}` callsite; the other fields follow as ringlog fields in
//! the callsite's order (a field without a value is sent as none).
//!
//! Span context: every span keeps its name and formatted fields (`on_new_span`, `on_record`),
//! and each event inside spans gets a field `spans` with its scope, root first:
//! `outer{id=7}:inner{user="ada"}` (strings quoted, as `tracing-subscriber`'s `fmt` does).
//!
//! | item | what it is |
//! |---|---|
//! | [`RingLayer`] | the layer; needs a subscriber with span storage ([`tracing_subscriber::Registry`]) |
//! | [`DirectivesFilter`] | a per-layer filter from `RUST_LOG`-style [`Directives`] |
//! | [`to_level`] | `tracing`'s levels to ringlog's |
//!
//! # Filtering
//!
//! The layer applies the [`Logger`]'s filter, the one it was built with
//! ([`LoggerBuilder::from_env`](ringlog::LoggerBuilder::from_env) reads `RINGLOG_LOG`, else
//! `RUST_LOG`; or [`LoggerBuilder::directives`](ringlog::LoggerBuilder::directives)), exactly as
//! the native macros do: `RUST_LOG=info,hyper=warn` keeps hyper's `info!` out of the ring. The
//! verdict (the most verbose level the event's target may log) is cached per `tracing`
//! callsite beside its ringlog callsite ids, under the logger's
//! [`filter_key`](Logger::filter_key), and recomputed when the filter changes
//! ([`Logger::set_directives`], [`Logger::set_level`]). The filter is this layer's alone: the
//! layer never tells `tracing` a callsite is disabled, so the other layers of the same
//! subscriber still see every event (a filtered event costs this layer a callsite lookup and a
//! compare). [`RingLayer::with_directives`] narrows it further with a per-layer filter.
//!
//! Matching, compared with `env_logger` (and `tracing-subscriber`'s `EnvFilter`):
//!
//! | | ringlog | `env_logger` |
//! |---|---|---|
//! | target match | longest directive target that is the event target or a `::`-separated prefix of it (`hyper` covers `hyper::proto`, not `hyperx`) | longest directive name that is a plain string prefix (`hyper` also covers `hyperx`) |
//! | same target twice | the later one wins | the later one wins |
//! | bare `TARGET` | every level | every level |
//! | only targets named | every other target off | every other target off |
//! | level names | case-insensitive, plus `off` | the same |
//! | `/regex`, `target[span{field}]=level` | rejected with an error | `env_logger` filters messages by regex; `EnvFilter` matches spans |
//!
//! Events that `tracing-log` converts from `log` records share one callsite per level, so their
//! real target travels in the `log.target` field and the filter sees `log`; use `ringlog-log`
//! for `log` records instead.
//!
//! # Example
//!
//! ```
//! use ringlog::Level;
//! use ringlog_tracing::RingLayer;
//! use tracing_subscriber::layer::SubscriberExt;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let logger = ringlog::Logger::builder()
//!     .path(dir.path().join("app.ring"))
//!     .slot_count(1024)
//!     // In a service: `.from_env()?` (RUST_LOG / RINGLOG_LOG).
//!     .directives("info,my_app::db=debug,hyper=warn".parse().unwrap())
//!     .open()
//!     .unwrap();
//! let subscriber = tracing_subscriber::registry().with(RingLayer::new(logger));
//!
//! tracing::subscriber::with_default(subscriber, || {
//!     let span = tracing::info_span!("request", id = 7u64);
//!     let _guard = span.enter();
//!     tracing::info!(status = 200u16, ms = 1.5, "served");
//!     // ringdrain: "<ts> INFO  [pid:tid] <target>: served status=200 ms=1.5 spans=request{id=7}"
//!     tracing::info!(target: "hyper::proto", "not recorded: hyper is at warn");
//!     tracing::debug!(target: "my_app::db", "recorded: my_app::db is at debug");
//! });
//! ```
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks, missing_docs)]

use core::fmt::{self, Write as _};
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use ringlog::{Encoder, Level, Logger};
use ringlog_wire::callsite::{CallsiteDesc, FormatStyle};
use tracing_core::callsite::Identifier;
use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::subscriber::Interest;
use tracing_core::{Event, Metadata, Subscriber};
use tracing_subscriber::filter::{Filtered, LevelFilter};
use tracing_subscriber::layer::{Context, Filter, Layer};
use tracing_subscriber::registry::LookupSpan;

use ringlog::bridge::{Got, Hash, IdCache, StackStr};

pub use ringlog::filter::Directives;

/// The name of the field that carries an event's span scope.
pub const SPANS_FIELD: &str = "spans";

/// A layer writing `tracing` events into a ringlog [`Logger`]: see the [crate docs](crate).
pub struct RingLayer {
    logger: Logger,
    sites: IdCache<Site>,
}

impl fmt::Debug for RingLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RingLayer")
            .field("logger", &self.logger)
            .finish_non_exhaustive()
    }
}

impl RingLayer {
    /// A layer writing to `logger`, filtered by the logger's own directives (see
    /// [Filtering](crate#filtering)).
    pub fn new(logger: Logger) -> Self {
        RingLayer {
            logger,
            sites: IdCache::new(ringlog::bridge::SLOTS),
        }
    }

    /// The logger events go to.
    pub fn logger(&self) -> &Logger {
        &self.logger
    }

    /// This layer behind an extra per-layer [`DirectivesFilter`]: events and spans those
    /// directives disable never reach it, while other layers of the subscriber still see them.
    /// The logger's own directives still apply too, so an event is recorded only if both let
    /// it through. Usually not needed any more: build the logger with the directives instead
    /// (`LoggerBuilder::directives`, `LoggerBuilder::from_env`).
    pub fn with_directives<S>(
        self,
        directives: Directives,
    ) -> Filtered<RingLayer, DirectivesFilter, S>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        self.with_filter(DirectivesFilter::new(directives))
    }

    fn site(&self, md: &'static Metadata<'static>) -> Got<'_, Site> {
        let callsite = md.callsite();
        let mut h = Hash::new();
        core::hash::Hash::hash(&callsite, &mut h);
        self.sites
            .get_or_insert_with(h.finish(), |s| s.callsite == callsite, || Site::new(md))
    }

    /// Writes the event's span scope, root first, into `out`; false if the event is outside
    /// every span this layer recorded.
    fn scope<S>(&self, event: &Event<'_>, ctx: &Context<'_, S>, out: &mut StackStr) -> bool
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let Some(scope) = ctx.event_scope(event) else {
            return false;
        };
        let mut any = false;
        for span in scope.from_root() {
            let ext = span.extensions();
            let Some(fields) = ext.get::<SpanFields>() else {
                continue;
            };
            if any {
                let _ = out.write_str(":");
            }
            any = true;
            let _ = out.write_str(span.name());
            if !fields.0.is_empty() {
                let _ = out.write_str("{");
                let _ = out.write_str(&fields.0);
                let _ = out.write_str("}");
            }
        }
        any
    }
}

impl<S> Layer<S> for RingLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let md = attrs.metadata();
        // Spans are rarer than events: the uncached check is enough here.
        if !self.logger.enabled_for(md.target(), to_level(md.level())) {
            return;
        }
        let Some(span) = ctx.span(id) else {
            return;
        };
        let mut fields = SpanFields(String::new());
        attrs.record(&mut Fields(SpanWriter(&mut fields.0)));
        // `replace`, not `insert`: a second RingLayer in the same subscriber stores the same.
        span.extensions_mut().replace(fields);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let mut ext = span.extensions_mut();
        if let Some(fields) = ext.get_mut::<SpanFields>() {
            values.record(&mut Fields(SpanWriter(&mut fields.0)));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let md = event.metadata();
        let level = to_level(md.level());
        if !self.logger.enabled(level) {
            return;
        }
        let got = self.site(md);
        let site = match &got {
            Got::Cached(s) => *s,
            Got::Uncached(s) => s,
        };
        if level as u8 > site.max_level(&self.logger, md.target()) {
            return; // the logger's directives filter this target at this level
        }
        let (plain, with_spans) = site.ids(&self.logger, md);
        let mut spans_buf = MaybeUninit::uninit();
        let mut spans = StackStr::new(&mut spans_buf);
        let in_spans = self.scope(event, &ctx, &mut spans);
        let id = if in_spans { with_spans } else { plain };
        self.logger.log_with_id(id, level, |e| {
            if id == 0 && site.message.is_none() {
                // No callsite (the table is full): the first argument is the message.
                e.str(md.name());
            }
            encode_event(e, event, site);
            if in_spans {
                e.str(spans.as_str());
            }
        });
    }
}

/// `tracing`'s level to ringlog's.
pub fn to_level(level: &tracing_core::Level) -> Level {
    match *level {
        tracing_core::Level::ERROR => Level::Error,
        tracing_core::Level::WARN => Level::Warn,
        tracing_core::Level::INFO => Level::Info,
        tracing_core::Level::DEBUG => Level::Debug,
        _ => Level::Trace,
    }
}

fn to_level_filter(level: Option<Level>) -> LevelFilter {
    match level {
        None => LevelFilter::OFF,
        Some(Level::Critical | Level::Error) => LevelFilter::ERROR,
        Some(Level::Warn) => LevelFilter::WARN,
        Some(Level::Info) => LevelFilter::INFO,
        Some(Level::Debug) => LevelFilter::DEBUG,
        Some(Level::Trace) => LevelFilter::TRACE,
    }
}

/// A per-layer filter (`tracing_subscriber::layer::Filter`) from [`Directives`]: events and
/// spans whose target and level the directives disable are not seen by the filtered layer.
/// Its interest is cached per callsite and it gives `tracing` a max-level hint, so a disabled
/// call costs what `tracing`'s own filters cost.
#[derive(Debug, Clone)]
pub struct DirectivesFilter {
    directives: Directives,
}

impl DirectivesFilter {
    /// A filter from `directives`.
    pub fn new(directives: Directives) -> Self {
        DirectivesFilter { directives }
    }

    /// The directives.
    pub fn directives(&self) -> &Directives {
        &self.directives
    }

    fn passes(&self, md: &Metadata<'_>) -> bool {
        self.directives.enabled(md.target(), to_level(md.level()))
    }
}

impl<S> Filter<S> for DirectivesFilter {
    fn enabled(&self, md: &Metadata<'_>, _: &Context<'_, S>) -> bool {
        self.passes(md)
    }

    fn callsite_enabled(&self, md: &'static Metadata<'static>) -> Interest {
        if self.passes(md) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(to_level_filter(self.directives.max_level()))
    }
}

/// A span's formatted fields (`k=v k2="s"`), kept in its extensions.
struct SpanFields(String);

/// An event callsite seen by the layer: its filter verdict and (once an event passed) its
/// ringlog callsite ids.
struct Site {
    callsite: Identifier,
    /// `filter_key << 8 | max_level`: the most verbose level (`Level as u8`, 0 for off) the
    /// logger's filter allows for this callsite's target, computed under the logger's
    /// `filter_key` (24 bits, never 0; so 0 here means "not computed"). Relaxed: one
    /// self-contained word, no other data is published through it; a thread that misses a new
    /// value recomputes the same verdict.
    verdict: AtomicU32,
    /// `1 << 63 | plain << 32 | with_spans` once registered (0: not yet). `plain` is the
    /// callsite id without the `spans` field, `with_spans` the one with `spans` last; either
    /// is 0 if the segment's table was full. Registered on the first event that passes the
    /// filter, so filtered-out callsites take no room in the segment's table.
    ids: AtomicU64,
    /// Index of the `message` field, if the callsite has one.
    message: Option<usize>,
    /// Number of fields in the callsite's field set (the message included).
    fields: usize,
}

impl Site {
    fn new(md: &'static Metadata<'static>) -> Site {
        Site {
            callsite: md.callsite(),
            verdict: AtomicU32::new(0),
            ids: AtomicU64::new(0),
            message: md.fields().field("message").map(|f| f.index()),
            fields: md.fields().len(),
        }
    }

    /// The most verbose level `target` may log (`Level as u8`, 0 for off), cached.
    #[inline(always)]
    fn max_level(&self, logger: &Logger, target: &str) -> u8 {
        let key = logger.filter_key();
        // SYNC: Relaxed; see the field docs.
        let v = self.verdict.load(Ordering::Relaxed);
        if v >> 8 == key {
            return v as u8;
        }
        self.resolve(logger, target, key)
    }

    #[cold]
    fn resolve(&self, logger: &Logger, target: &str, key: u32) -> u8 {
        // `key` was read before the filter: if the filter changes meanwhile, the key changes
        // too and the next event recomputes.
        let max = logger.max_level_for(target).map_or(0, |l| l as u8);
        // SYNC: Relaxed; see the field docs.
        self.verdict.store(key << 8 | max as u32, Ordering::Relaxed);
        max
    }

    /// The ringlog callsite ids `(plain, with_spans)`, registered on first use.
    #[inline(always)]
    fn ids(&self, logger: &Logger, md: &'static Metadata<'static>) -> (u32, u32) {
        // SYNC: Acquire; pairs with the Release store in `register`, so a thread that sees the
        // ids also sees the segment's table entries they name.
        let mut v = self.ids.load(Ordering::Acquire);
        if v == 0 {
            v = self.register(logger, md);
        }
        ((v >> 32) as u32 & 0x7FFF_FFFF, v as u32)
    }

    #[cold]
    fn register(&self, logger: &Logger, md: &'static Metadata<'static>) -> u64 {
        let (plain, with_spans) = Site::register_ids(logger, md, self.message);
        let v = 1 << 63 | (plain as u64) << 32 | with_spans as u64;
        // Two threads racing here register the same descriptions (the table deduplicates by
        // content) and store the same word.
        // SYNC: Release; pairs with the Acquire load in `ids`.
        self.ids.store(v, Ordering::Release);
        v
    }

    fn register_ids(
        logger: &Logger,
        md: &'static Metadata<'static>,
        message: Option<usize>,
    ) -> (u32, u32) {
        let mut names: Vec<&str> = md
            .fields()
            .iter()
            .filter(|f| Some(f.index()) != message)
            .map(|f| f.name())
            .collect();
        let mut desc = CallsiteDesc {
            level: to_level(md.level()),
            style: if message.is_some() {
                FormatStyle::Brace
            } else {
                FormatStyle::Literal
            },
            line: md.line().unwrap_or(0),
            target: md.target(),
            module: md.module_path().unwrap_or(""),
            file: md.file().unwrap_or(""),
            format: if message.is_some() { "{}" } else { "" },
            fields: names.clone(),
            layout: "",
        };
        let plain = logger.register_callsite(&desc).unwrap_or(0);
        names.push(SPANS_FIELD);
        desc.fields = names;
        let with_spans = logger.register_callsite(&desc).unwrap_or(0);
        (plain, with_spans)
    }
}

/// Writes the message (if the callsite has one) and then every other field in field-set order.
fn encode_event(e: &mut Encoder<'_>, event: &Event<'_>, site: &Site) {
    // Fast path: `tracing`'s macros record the message first and the fields in order; check
    // that with a cheap visit (indices only), then encode in one pass.
    if matches!(site.message, None | Some(0)) {
        let mut probe = Probe {
            next: 0,
            ordered: true,
        };
        event.record(&mut probe);
        if probe.ordered {
            let mut direct = Direct {
                e,
                next: 0,
                message: site.message,
                message_done: site.message.is_none(),
            };
            event.record(&mut Fields(&mut direct));
            direct.finish(site.fields);
            return;
        }
    }
    // Any other order: one visit per position (events built by hand; rare).
    if let Some(m) = site.message {
        let mut pick = Pick {
            e: &mut *e,
            want: m,
            message: true,
            found: false,
        };
        event.record(&mut Fields(&mut pick));
        if !pick.found {
            e.str("");
        }
    }
    for i in (0..site.fields).filter(|i| Some(*i) != site.message) {
        let mut pick = Pick {
            e: &mut *e,
            want: i,
            message: false,
            found: false,
        };
        event.record(&mut Fields(&mut pick));
        if !pick.found {
            e.none();
        }
    }
}

/// One recorded value.
enum Val<'a> {
    U64(u64),
    I64(i64),
    U128(u128),
    I128(i128),
    F64(f64),
    Bool(bool),
    Str(&'a str),
    Bytes(&'a [u8]),
    Debug(&'a dyn fmt::Debug),
    Error(&'a (dyn std::error::Error + 'static)),
}

impl Val<'_> {
    /// As a field: binary where possible.
    fn encode(&self, e: &mut Encoder<'_>) {
        match *self {
            Val::U64(v) => e.u64(v),
            Val::I64(v) => e.i64(v),
            Val::U128(v) => e.u128(v),
            Val::I128(v) => e.i128(v),
            Val::F64(v) => e.f64(v),
            Val::Bool(v) => e.bool(v),
            Val::Str(s) => e.str(s),
            Val::Bytes(b) => e.bytes(b),
            Val::Debug(d) => e.display_str(StackStr::new(&mut MaybeUninit::uninit()).debug(d)),
            Val::Error(err) => {
                e.display_str(StackStr::new(&mut MaybeUninit::uninit()).display(err))
            }
        }
    }

    /// As the message: text.
    fn encode_message(&self, e: &mut Encoder<'_>) {
        match *self {
            Val::Str(s) => e.str(s),
            Val::Debug(d) => e.str(StackStr::new(&mut MaybeUninit::uninit()).debug(d)),
            _ => e.str(StackStr::new(&mut MaybeUninit::uninit()).display(self)),
        }
    }
}

impl fmt::Display for Val<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Val::U64(v) => fmt::Display::fmt(&v, f),
            Val::I64(v) => fmt::Display::fmt(&v, f),
            Val::U128(v) => fmt::Display::fmt(&v, f),
            Val::I128(v) => fmt::Display::fmt(&v, f),
            Val::F64(v) => fmt::Display::fmt(&v, f),
            Val::Bool(v) => fmt::Display::fmt(&v, f),
            Val::Str(s) => fmt::Display::fmt(s, f),
            Val::Bytes(b) => write!(f, "{b:?}"),
            Val::Debug(d) => fmt::Debug::fmt(d, f),
            Val::Error(err) => fmt::Display::fmt(err, f),
        }
    }
}

/// Something that takes recorded values; [`Fields`] adapts it to [`Visit`].
trait Take {
    fn take(&mut self, field: &Field, value: Val<'_>);
}

impl<T: Take + ?Sized> Take for &mut T {
    fn take(&mut self, field: &Field, value: Val<'_>) {
        (**self).take(field, value)
    }
}

struct Fields<T>(T);

impl<T: Take> Visit for Fields<T> {
    fn record_f64(&mut self, f: &Field, v: f64) {
        self.0.take(f, Val::F64(v))
    }
    fn record_i64(&mut self, f: &Field, v: i64) {
        self.0.take(f, Val::I64(v))
    }
    fn record_u64(&mut self, f: &Field, v: u64) {
        self.0.take(f, Val::U64(v))
    }
    fn record_i128(&mut self, f: &Field, v: i128) {
        self.0.take(f, Val::I128(v))
    }
    fn record_u128(&mut self, f: &Field, v: u128) {
        self.0.take(f, Val::U128(v))
    }
    fn record_bool(&mut self, f: &Field, v: bool) {
        self.0.take(f, Val::Bool(v))
    }
    fn record_str(&mut self, f: &Field, v: &str) {
        self.0.take(f, Val::Str(v))
    }
    fn record_bytes(&mut self, f: &Field, v: &[u8]) {
        self.0.take(f, Val::Bytes(v))
    }
    fn record_error(&mut self, f: &Field, v: &(dyn std::error::Error + 'static)) {
        self.0.take(f, Val::Error(v))
    }
    fn record_debug(&mut self, f: &Field, v: &dyn fmt::Debug) {
        self.0.take(f, Val::Debug(v))
    }
}

/// Checks that values come in increasing field order (no value is formatted).
struct Probe {
    next: usize,
    ordered: bool,
}

impl Visit for Probe {
    fn record_debug(&mut self, f: &Field, _: &dyn fmt::Debug) {
        self.ordered &= f.index() >= self.next;
        self.next = f.index() + 1;
    }
}

/// Encodes values as they come, filling gaps with none (the fast path: message first or
/// absent, fields in order).
struct Direct<'e, 'b> {
    e: &'e mut Encoder<'b>,
    /// Next field index expected.
    next: usize,
    /// The message field's index (0 on this path), if any.
    message: Option<usize>,
    /// Whether the message (or its absence) is written.
    message_done: bool,
}

impl Direct<'_, '_> {
    fn message_first(&mut self) {
        if !self.message_done {
            self.e.str("");
            self.message_done = true;
        }
    }

    fn gaps_until(&mut self, end: usize) {
        for i in self.next..end {
            if Some(i) != self.message {
                self.e.none();
            }
        }
        self.next = self.next.max(end);
    }

    fn finish(&mut self, fields: usize) {
        self.message_first();
        self.gaps_until(fields);
    }
}

impl Take for Direct<'_, '_> {
    fn take(&mut self, field: &Field, value: Val<'_>) {
        let i = field.index();
        if Some(i) == self.message {
            value.encode_message(self.e);
            self.message_done = true;
            self.next = i + 1;
            return;
        }
        self.message_first();
        self.gaps_until(i);
        value.encode(self.e);
        self.next = i + 1;
    }
}

/// Encodes the first value of one field (the slow path).
struct Pick<'e, 'b> {
    e: &'e mut Encoder<'b>,
    want: usize,
    message: bool,
    found: bool,
}

impl Take for Pick<'_, '_> {
    fn take(&mut self, field: &Field, value: Val<'_>) {
        if self.found || field.index() != self.want {
            return;
        }
        self.found = true;
        if self.message {
            value.encode_message(self.e)
        } else {
            value.encode(self.e)
        }
    }
}

/// Appends ` k=v` to a span's fields (strings quoted, as `tracing-subscriber`'s `fmt` does).
struct SpanWriter<'a>(&'a mut String);

impl Take for SpanWriter<'_> {
    fn take(&mut self, field: &Field, value: Val<'_>) {
        if !self.0.is_empty() {
            self.0.push(' ');
        }
        self.0.push_str(field.name());
        self.0.push('=');
        let _ = match value {
            Val::Str(s) => write!(self.0, "{s:?}"),
            Val::Debug(d) => write!(self.0, "{d:?}"),
            v => write!(self.0, "{v}"),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_map_one_to_one() {
        use tracing_core::Level as T;
        for (t, r) in [
            (T::ERROR, Level::Error),
            (T::WARN, Level::Warn),
            (T::INFO, Level::Info),
            (T::DEBUG, Level::Debug),
            (T::TRACE, Level::Trace),
        ] {
            assert_eq!(to_level(&t), r);
            assert_eq!(to_level_filter(Some(r)), LevelFilter::from_level(t));
        }
        assert_eq!(to_level_filter(None), LevelFilter::OFF);
    }
}
