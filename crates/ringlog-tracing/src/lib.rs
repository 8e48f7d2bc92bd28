//! A [`tracing-subscriber`](tracing_subscriber) layer for ringlog: `tracing` events become
//! binary records in a ringlog shared-memory ring that `ringdrain` formats and writes.
//!
//! Each event callsite's static metadata (level, target, module, file, line, field names) is
//! registered once as a ringlog callsite; its id is cached by the callsite's identity in a
//! lock-free map, so the steady state is a lookup plus the ring write. Field values travel in
//! binary (`u64`, `i64`, `f64`, `bool`, `&str`, 128-bit integers, bytes); values recorded with
//! `?x`/`%x` or as errors are formatted here into a stack buffer (the documented slow path, cut
//! at 512 bytes with a trailing `…`). The `message` field is the message: `tracing` hands it
//! over only as a value to format (`fmt::Arguments` behind `&dyn Debug`), so the layer
//! captures the text as the formatter writes it. A message written as one piece of text that
//! lies in a read-only segment (a string literal: `info!("served")`) becomes the callsite's
//! own format, registered once, and later events whose message is that same piece send only
//! their fields; any other message (`info!("x {}", y)`) is formatted on the caller's thread
//! (no allocation) and sent as the one argument of a `{}` callsite. The other fields follow
//! as ringlog fields in the callsite's order (a field without a value is sent as none), in
//! one visit of the values written straight into the record.
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
use std::sync::OnceLock;

use ringlog::{Encoder, Level, Logger};
use ringlog_wire::callsite::{CallsiteDesc, FormatStyle};
use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::subscriber::Interest;
use tracing_core::{Event, Metadata, Subscriber};
use tracing_subscriber::filter::{Filtered, LevelFilter};
use tracing_subscriber::layer::{Context, Filter, Layer};
use tracing_subscriber::registry::LookupSpan;

use ringlog::bridge::{static_text, Got, Hash, IdCache, StackStr};

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

    /// The callsite's cached state, keyed by its metadata's address (everything a [`Site`]
    /// holds derives from the metadata, so two callsites sharing one metadata may share it).
    #[inline(always)]
    fn site(&self, md: &'static Metadata<'static>) -> Got<'_, Site> {
        let hash = Hash::new().u64(md as *const Metadata<'static> as usize as u64);
        self.sites
            .get_or_insert_with(hash.finish(), |s| core::ptr::eq(s.md, md), || Site::new(md))
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
        let mut spans_buf = MaybeUninit::uninit();
        let mut spans = StackStr::new(&mut spans_buf);
        let in_spans = self.scope(event, &ctx, &mut spans);
        let spans = in_spans.then(|| spans.as_str());
        self.logger.log_choosing_id(level, |e| {
            encode_event(e, event, md, site, &self.logger, spans)
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
    md: &'static Metadata<'static>,
    /// `filter_key << 8 | max_level`: the most verbose level (`Level as u8`, 0 for off) the
    /// logger's filter allows for this callsite's target, computed under the logger's
    /// `filter_key` (24 bits, never 0; so 0 here means "not computed"). Relaxed: one
    /// self-contained word, no other data is published through it; a thread that misses a new
    /// value recomputes the same verdict.
    verdict: AtomicU32,
    /// `1 << 63 | plain << 32 | with_spans` once registered (0: not yet), for records that
    /// carry the message as their first argument (format `{}`; format `""` if the callsite has
    /// no `message` field). `plain` is the callsite id without the `spans` field,
    /// `with_spans` the one with `spans` last; either is 0 if the segment's table was full.
    /// Registered on the first event that needs them, so filtered-out callsites take no room
    /// in the segment's table.
    ids: AtomicU64,
    /// The same for records whose message is [`Site::literal`], which the callsite then holds
    /// as its format (style `Literal`): the record carries only the fields.
    literal_ids: AtomicU64,
    /// The message text of the first event, if it was a string literal (one piece of text in
    /// a read-only segment: [`static_text`]); decided once. Later events whose message is
    /// that same piece (same address and length) are sent with [`Site::literal_ids`].
    literal: OnceLock<Option<&'static str>>,
    /// Index of the `message` field, if the callsite has one.
    message: Option<usize>,
    /// Number of fields in the callsite's field set (the message included).
    fields: usize,
}

impl Site {
    fn new(md: &'static Metadata<'static>) -> Site {
        Site {
            md,
            verdict: AtomicU32::new(0),
            ids: AtomicU64::new(0),
            literal_ids: AtomicU64::new(0),
            literal: OnceLock::new(),
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

    /// The callsite id for a record with the message as its first argument (`literal`:
    /// without it, the callsite holding [`Site::literal`]), with or without the `spans`
    /// field; registered on first use.
    #[inline(always)]
    fn id(
        &self,
        logger: &Logger,
        md: &'static Metadata<'static>,
        literal: bool,
        spans: bool,
    ) -> u32 {
        let word = if literal {
            &self.literal_ids
        } else {
            &self.ids
        };
        // SYNC: Acquire; pairs with the Release store in `register`, so a thread that sees the
        // ids also sees the segment's table entries they name.
        let mut v = word.load(Ordering::Acquire);
        if v == 0 {
            v = self.register(logger, md, literal);
        }
        if spans {
            v as u32
        } else {
            (v >> 32) as u32 & 0x7FFF_FFFF
        }
    }

    #[cold]
    fn register(&self, logger: &Logger, md: &'static Metadata<'static>, literal: bool) -> u64 {
        let format = match (self.message, literal) {
            (None, _) => Some(""),
            (Some(_), true) => self.literal.get().copied().flatten(),
            (Some(_), false) => None,
        };
        let (plain, with_spans) = Site::register_ids(logger, md, self.message, format);
        let v = 1 << 63 | (plain as u64) << 32 | with_spans as u64;
        // Two threads racing here register the same descriptions (the table deduplicates by
        // content) and store the same word.
        let word = if literal {
            &self.literal_ids
        } else {
            &self.ids
        };
        // SYNC: Release; pairs with the Acquire load in `id`.
        word.store(v, Ordering::Release);
        v
    }

    /// Registers the callsite without and with `spans`. `format`: the literal text the
    /// callsite holds (style `Literal`, the record has no message argument), or `None` for a
    /// `{}` callsite whose first argument is the message.
    fn register_ids(
        logger: &Logger,
        md: &'static Metadata<'static>,
        message: Option<usize>,
        format: Option<&str>,
    ) -> (u32, u32) {
        let mut names: Vec<&str> = md
            .fields()
            .iter()
            .filter(|f| Some(f.index()) != message)
            .map(|f| f.name())
            .collect();
        let mut desc = CallsiteDesc {
            level: to_level(md.level()),
            style: if format.is_some() {
                FormatStyle::Literal
            } else {
                FormatStyle::Brace
            },
            line: md.line().unwrap_or(0),
            target: md.target(),
            module: md.module_path().unwrap_or(""),
            file: md.file().unwrap_or(""),
            format: format.unwrap_or("{}"),
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

/// Writes the event's arguments and returns the callsite id they belong to.
///
/// The fast path is one visit of the values, written straight into the record: `tracing`'s
/// macros record the message first and the other fields in field-set order, so each value is
/// encoded as it comes, gaps filled with none. A message that is the callsite's literal text
/// is left out (the callsite holds it); any other message is formatted here (the slow path
/// the docs name) and sent as the first argument. Values out of order (events built by hand),
/// a message that is not the first field, or a full callsite table start over in
/// [`encode_by_index`].
fn encode_event(
    e: &mut Encoder<'_>,
    event: &Event<'_>,
    md: &'static Metadata<'static>,
    site: &Site,
    logger: &Logger,
    spans: Option<&str>,
) -> u32 {
    if matches!(site.message, None | Some(0)) {
        let mut fast = InOrder {
            e: &mut *e,
            site,
            next: 0,
            message: if site.message.is_some() {
                Msg::Pending
            } else {
                Msg::Absent
            },
            disordered: false,
        };
        event.record(&mut fast);
        if !fast.disordered {
            fast.finish(site.fields);
            let literal = matches!(fast.message, Msg::Literal);
            if let Some(s) = spans {
                e.str(s);
            }
            let id = site.id(logger, md, literal, spans.is_some());
            if id != 0 {
                return id;
            }
            // The table is full: the record must carry the message first after all.
        }
        e.clear();
    }
    encode_by_index(e, event, md, site, logger, spans)
}

/// The slow path: the message (or, with no callsite, the event's name) first, then one visit
/// per field in field-set order.
#[cold]
fn encode_by_index(
    e: &mut Encoder<'_>,
    event: &Event<'_>,
    md: &'static Metadata<'static>,
    site: &Site,
    logger: &Logger,
    spans: Option<&str>,
) -> u32 {
    let id = site.id(logger, md, false, spans.is_some());
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
    } else if id == 0 {
        // No callsite (the table is full): the first argument is the message.
        e.str(md.name());
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
    if let Some(s) = spans {
        e.str(s);
    }
    id
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

/// Where the fast path is with the message.
#[derive(Clone, Copy)]
enum Msg {
    /// The callsite has no `message` field.
    Absent,
    /// Not seen yet.
    Pending,
    /// The callsite's literal text: not in the record.
    Literal,
    /// Written as the first argument.
    Text,
}

/// The fast path's visitor: encodes values as they come (message first, fields in order),
/// filling gaps with none; notes values out of order instead of writing them.
struct InOrder<'e, 'b, 's> {
    e: &'e mut Encoder<'b>,
    site: &'s Site,
    /// Next field index expected.
    next: usize,
    message: Msg,
    /// A value came out of field order: the caller starts over.
    disordered: bool,
}

impl InOrder<'_, '_, '_> {
    /// For a value that is not the message: whether to write it now (the gaps before it are
    /// filled). False for the message (see [`InOrder::is_message`]) and for a value out of
    /// order (then `disordered` is set).
    #[inline(always)]
    fn slot(&mut self, field: &Field) -> bool {
        let i = field.index();
        if i < self.next || self.disordered {
            self.disordered = true;
            return false;
        }
        if let Msg::Pending = self.message {
            if i == 0 {
                return false;
            }
            self.no_message();
        }
        while self.next < i {
            self.e.none();
            self.next += 1;
        }
        self.next = i + 1;
        true
    }

    /// Whether `field` is the message, arriving first (after [`InOrder::slot`] said no).
    #[inline(always)]
    fn is_message(&self, field: &Field) -> bool {
        !self.disordered && matches!(self.message, Msg::Pending) && field.index() == 0
    }

    /// Takes the message (field 0, first).
    fn take_message(&mut self, value: Val<'_>) {
        self.message = self.message(value);
        self.next = 1;
    }

    #[inline(always)]
    fn take(&mut self, field: &Field, value: Val<'_>) {
        let i = field.index();
        if i < self.next || self.disordered {
            self.disordered = true;
            return;
        }
        if let Msg::Pending = self.message {
            if i == 0 {
                return self.take_message(value);
            }
            self.no_message();
        }
        while self.next < i {
            self.e.none();
            self.next += 1;
        }
        value.encode(self.e);
        self.next = i + 1;
    }

    /// The message is absent: the record carries an empty one.
    fn no_message(&mut self) {
        self.e.str("");
        self.message = Msg::Text;
        self.next = self.next.max(1);
    }

    /// Fills the gaps after the last value.
    fn finish(&mut self, fields: usize) {
        if let Msg::Pending = self.message {
            self.no_message();
        }
        while self.next < fields {
            self.e.none();
            self.next += 1;
        }
    }

    /// Formats the message; leaves it out if it is the callsite's literal text.
    fn message(&mut self, value: Val<'_>) -> Msg {
        let decided = self.site.literal.get().copied();
        let mut buf = MaybeUninit::uninit();
        let mut out = StackStr::new(&mut buf);
        let mut cap = Capture {
            out: &mut out,
            literal: decided.flatten(),
            pieces: 0,
            is_literal: false,
            candidate: None,
            undecided: decided.is_none(),
        };
        let _ = match value {
            Val::Str(s) => cap.write_str(s),
            Val::Debug(d) => fmt::write(&mut cap, format_args!("{d:?}")),
            v => fmt::write(&mut cap, format_args!("{v}")),
        };
        let one_piece = cap.pieces == 1;
        let (hit, candidate) = (cap.is_literal, cap.candidate);
        if decided.is_none() {
            // The callsite's first message decides its literal, once (racing threads agree on
            // whichever is stored first).
            let first = if one_piece { candidate } else { None };
            let lit = *self.site.literal.get_or_init(|| first);
            if let (true, Some(l), Some(c)) = (one_piece, lit, candidate) {
                if core::ptr::eq(l, c) {
                    return Msg::Literal;
                }
            }
        } else if one_piece && hit {
            return Msg::Literal;
        }
        self.e.str(out.as_str());
        Msg::Text
    }
}

impl Visit for InOrder<'_, '_, '_> {
    fn record_f64(&mut self, f: &Field, v: f64) {
        if self.slot(f) {
            self.e.f64(v)
        } else if self.is_message(f) {
            self.take_message(Val::F64(v))
        }
    }
    fn record_i64(&mut self, f: &Field, v: i64) {
        if self.slot(f) {
            self.e.i64(v)
        } else if self.is_message(f) {
            self.take_message(Val::I64(v))
        }
    }
    fn record_u64(&mut self, f: &Field, v: u64) {
        if self.slot(f) {
            self.e.u64(v)
        } else if self.is_message(f) {
            self.take_message(Val::U64(v))
        }
    }
    fn record_i128(&mut self, f: &Field, v: i128) {
        self.take(f, Val::I128(v))
    }
    fn record_u128(&mut self, f: &Field, v: u128) {
        self.take(f, Val::U128(v))
    }
    fn record_bool(&mut self, f: &Field, v: bool) {
        if self.slot(f) {
            self.e.bool(v)
        } else if self.is_message(f) {
            self.take_message(Val::Bool(v))
        }
    }
    fn record_str(&mut self, f: &Field, v: &str) {
        if self.slot(f) {
            self.e.str(v)
        } else if self.is_message(f) {
            self.take_message(Val::Str(v))
        }
    }
    fn record_bytes(&mut self, f: &Field, v: &[u8]) {
        self.take(f, Val::Bytes(v))
    }
    fn record_error(&mut self, f: &Field, v: &(dyn std::error::Error + 'static)) {
        self.take(f, Val::Error(v))
    }
    fn record_debug(&mut self, f: &Field, v: &dyn fmt::Debug) {
        self.take(f, Val::Debug(v))
    }
}

/// Receives a message's text as the formatter writes it, noting whether it came as one piece
/// that is the callsite's literal (then it is not copied) or a string literal at all.
struct Capture<'o, 'b> {
    out: &'o mut StackStr<'b>,
    /// The callsite's literal, if decided and there is one.
    literal: Option<&'static str>,
    pieces: u32,
    /// The first piece is `literal` (same address and length): not copied into `out`.
    is_literal: bool,
    /// The first piece as static text, when the callsite's literal is not decided yet.
    candidate: Option<&'static str>,
    undecided: bool,
}

impl fmt::Write for Capture<'_, '_> {
    #[inline]
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.pieces += 1;
        if self.pieces == 1 {
            if self.literal.is_some_and(|l| core::ptr::eq(l, s)) {
                self.is_literal = true;
                return Ok(());
            }
            if self.undecided {
                self.candidate = static_text(s);
            }
        } else if self.pieces == 2 && self.is_literal {
            // More text follows: the message is not the literal after all; copy it in.
            if let Some(l) = self.literal {
                self.out.write_str(l)?;
            }
        }
        self.out.write_str(s)
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
