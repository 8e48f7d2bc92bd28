//! Plumbing for the macros. Not public API: it may change in any release.

use core::fmt;
use core::mem::MaybeUninit;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::bridge::StackStr;

pub use ringlog_wire::args::{Encode, Encoder, UNSIZED};
use ringlog_wire::callsite::{CallsiteDesc, FormatStyle};
use ringlog_wire::record::Level;

pub use ringlog_macros::__log;

/// The global logger, if [`init`](crate::init) ran.
#[inline(always)]
pub fn global() -> Option<&'static crate::Logger> {
    crate::global::get()
}

/// A log statement's static description plus its cached id.
#[derive(Debug)]
pub struct Callsite {
    format: &'static str,
    target: &'static str,
    module: &'static str,
    file: &'static str,
    line: u32,
    fields: &'static [&'static str],
    /// `logger_key << 40 | max_level << 32 | id` for the last logger (and filter generation)
    /// this callsite was resolved with (0: none). `max_level` is the most verbose level the
    /// logger's directives allow for this callsite's target. Stored with Release after
    /// registration; loaded with Acquire (pairs with it), so a thread that sees an id also
    /// sees the table entry that id points at.
    cache: AtomicU64,
    /// The same for the logger resolved before the last one, so a callsite that writes
    /// through two loggers in turn (a helper called with an application log and an audit log)
    /// finds both ids without registering again on every call. Each word holds a whole entry
    /// (a key and the id and level resolved under it), so whatever the two words hold, in any
    /// interleaving of threads, a hit is an entry some thread resolved for that key.
    previous: AtomicU64,
}

impl Callsite {
    /// A callsite for the macros.
    pub const fn new(
        format: &'static str,
        target: &'static str,
        module: &'static str,
        file: &'static str,
        line: u32,
        fields: &'static [&'static str],
    ) -> Self {
        Callsite {
            format,
            target,
            module,
            file,
            line,
            fields,
            cache: AtomicU64::new(0),
            previous: AtomicU64::new(0),
        }
    }

    /// The format string.
    pub fn format(&self) -> &'static str {
        self.format
    }

    /// The cached `(id, max_level)` for the logger with `key` (24 bits), if any.
    #[inline(always)]
    pub(crate) fn cached(&self, key: u32) -> Option<(u32, u8)> {
        // SYNC: Acquire; pairs with the Release store in `store`.
        let v = self.cache.load(Ordering::Acquire);
        ((v >> 40) as u32 == key).then_some((v as u32, (v >> 32) as u8))
    }

    /// [`cached`](Callsite::cached) past the last logger's entry: the one before it. A hit
    /// makes it the last one again (the two entries trade places).
    #[inline]
    pub(crate) fn cached_previous(&self, key: u32) -> Option<(u32, u8)> {
        // SYNC: Acquire; pairs with the Release stores in `store` and here.
        let v = self.previous.load(Ordering::Acquire);
        if (v >> 40) as u32 != key || v == 0 {
            return None;
        }
        // SYNC: AcqRel swap: Release publishes the entry (as in `store`); Acquire pairs with
        // the Release store of the entry it takes back, which moves to `previous` (Release).
        let last = self.cache.swap(v, Ordering::AcqRel);
        self.previous.store(last, Ordering::Release);
        Some((v as u32, (v >> 32) as u8))
    }

    pub(crate) fn store(&self, key: u32, id: u32, max_level: u8) {
        let v = (key as u64) << 40 | (max_level as u64) << 32 | id as u64;
        // SYNC: AcqRel swap: Release pairs with the Acquire load in `cached`; Acquire pairs
        // with the Release store of the entry it replaces, which moves to `previous`
        // (Release, pairing with the Acquire load in `cached_previous`).
        let last = self.cache.swap(v, Ordering::AcqRel);
        if last != v {
            self.previous.store(last, Ordering::Release);
        }
    }

    /// The target (the module path unless the call gave `target:`).
    pub(crate) fn target(&self) -> &'static str {
        self.target
    }

    pub(crate) fn desc(&self, level: Level) -> CallsiteDesc<'static> {
        CallsiteDesc {
            level,
            style: FormatStyle::Brace,
            line: self.line,
            target: self.target,
            module: self.module,
            file: self.file,
            format: self.format,
            fields: self.fields.to_vec(),
            layout: "",
        }
    }
}

/// Wraps an argument for the autoref dispatch between [`ViaEncode`] and [`ViaDisplay`].
pub struct Wrap<'a, T: ?Sized>(pub &'a T);

/// Binary encoding, chosen when the type implements [`Encode`].
pub trait ViaEncode {
    /// Encodes the argument.
    fn __ringlog_encode(&self, e: &mut Encoder<'_>);
    /// At least the bytes `__ringlog_encode` writes ([`Encode::encoded_len`]).
    fn __ringlog_len(&self) -> usize;
}

impl<T: Encode + ?Sized> ViaEncode for Wrap<'_, T> {
    #[inline(always)]
    fn __ringlog_encode(&self, e: &mut Encoder<'_>) {
        self.0.encode(e)
    }
    #[inline(always)]
    fn __ringlog_len(&self) -> usize {
        self.0.encoded_len()
    }
}

/// The slow path for types that are only `Display`: formatted here into a stack buffer (cut at
/// 512 bytes, ending with `…` when cut: the bridges' [`StackStr`]) and sent as a string.
pub trait ViaDisplay {
    /// Formats and encodes the argument.
    fn __ringlog_encode(&self, e: &mut Encoder<'_>);
    /// [`UNSIZED`]: the length is known only once formatted.
    fn __ringlog_len(&self) -> usize;
}

impl<T: fmt::Display + ?Sized> ViaDisplay for &Wrap<'_, T> {
    #[inline(never)]
    fn __ringlog_encode(&self, e: &mut Encoder<'_>) {
        e.display_str(StackStr::new(&mut MaybeUninit::uninit()).display(self.0));
    }
    #[inline(always)]
    fn __ringlog_len(&self) -> usize {
        UNSIZED
    }
}

/// Binary encoding for a `{:?}` hole when the type implements [`Encode`] (the drain renders
/// its `Debug` form).
pub trait ViaEncodeDebug {
    /// Encodes the argument.
    fn __ringlog_encode_debug(&self, e: &mut Encoder<'_>);
    /// At least the bytes `__ringlog_encode_debug` writes ([`Encode::encoded_len`]).
    fn __ringlog_len_debug(&self) -> usize;
}

impl<T: Encode + ?Sized> ViaEncodeDebug for Wrap<'_, T> {
    #[inline(always)]
    fn __ringlog_encode_debug(&self, e: &mut Encoder<'_>) {
        self.0.encode(e)
    }
    #[inline(always)]
    fn __ringlog_len_debug(&self) -> usize {
        self.0.encoded_len()
    }
}

/// The slow path for a `{:?}` hole whose type is not [`Encode`]: `Debug`-formatted here.
pub trait ViaDebug {
    /// Formats and encodes the argument.
    fn __ringlog_encode_debug(&self, e: &mut Encoder<'_>);
    /// [`UNSIZED`]: the length is known only once formatted.
    fn __ringlog_len_debug(&self) -> usize;
}

impl<T: fmt::Debug + ?Sized> ViaDebug for &Wrap<'_, T> {
    #[inline(never)]
    fn __ringlog_encode_debug(&self, e: &mut Encoder<'_>) {
        encode_debug_str(e, self.0)
    }
    #[inline(always)]
    fn __ringlog_len_debug(&self) -> usize {
        UNSIZED
    }
}

/// Binary encoding for a hole with a spec (`{:>8.2}`) when the type implements [`Encode`]: the
/// drain applies the spec. The closure (the same spec through `format_args!`) is not called; it
/// is there so the type must support the spec as `format!` requires.
pub trait ViaEncodeFmt<T: ?Sized> {
    /// Encodes the argument.
    fn __ringlog_encode_fmt<F>(&self, e: &mut Encoder<'_>, f: F)
    where
        F: FnOnce(&T, &mut StackStr<'_>) -> fmt::Result;
    /// At least the bytes `__ringlog_encode_fmt` writes ([`Encode::encoded_len`]).
    fn __ringlog_len_fmt(&self) -> usize;
}

impl<T: Encode + ?Sized> ViaEncodeFmt<T> for Wrap<'_, T> {
    #[inline(always)]
    fn __ringlog_len_fmt(&self) -> usize {
        self.0.encoded_len()
    }
    #[inline(always)]
    fn __ringlog_encode_fmt<F>(&self, e: &mut Encoder<'_>, _f: F)
    where
        F: FnOnce(&T, &mut StackStr<'_>) -> fmt::Result,
    {
        self.0.encode(e)
    }
}

/// The slow path for a hole with a spec whose type is not [`Encode`]: formatted here with the
/// hole's own spec (so a `Display` impl that ignores width behaves as under `format!`); the drain
/// writes such text as it is.
pub trait ViaFmt<T: ?Sized> {
    /// Formats and encodes the argument.
    fn __ringlog_encode_fmt<F>(&self, e: &mut Encoder<'_>, f: F)
    where
        F: FnOnce(&T, &mut StackStr<'_>) -> fmt::Result;
    /// [`UNSIZED`]: the length is known only once formatted.
    fn __ringlog_len_fmt(&self) -> usize;
}

impl<T: ?Sized> ViaFmt<T> for &Wrap<'_, T> {
    #[inline(always)]
    fn __ringlog_len_fmt(&self) -> usize {
        UNSIZED
    }
    #[inline(never)]
    fn __ringlog_encode_fmt<F>(&self, e: &mut Encoder<'_>, f: F)
    where
        F: FnOnce(&T, &mut StackStr<'_>) -> fmt::Result,
    {
        let mut buf = MaybeUninit::uninit();
        let mut s = StackStr::new(&mut buf);
        let _ = f(self.0, &mut s);
        e.display_str(s.as_str());
    }
}

/// A `key = ?value` field: `Debug`-formatted here, whatever the type (tracing's `?` sigil).
#[inline(never)]
pub fn encode_debug_str<T: fmt::Debug + ?Sized>(e: &mut Encoder<'_>, v: &T) {
    e.display_str(StackStr::new(&mut MaybeUninit::uninit()).debug(v));
}

/// What a log statement's expansion hands its arguments to, once the callsite passed the
/// filter: [`Writer::write`] with the arguments' size (the sum of their `__ringlog_len`s) and
/// the closure that encodes them.
#[derive(Debug)]
pub struct Writer<'a> {
    pub(crate) logger: &'a crate::Logger,
    pub(crate) callsite: &'static Callsite,
    pub(crate) id: u32,
    pub(crate) level: Level,
}

impl Writer<'_> {
    /// Writes the record: `len` is at least the bytes `encode` writes ([`UNSIZED`] if not
    /// known); a record known to fit one slot is encoded straight into it.
    #[inline(always)]
    pub fn write(self, len: usize, encode: impl FnOnce(&mut Encoder<'_>)) {
        let Writer {
            logger,
            callsite,
            id,
            level,
        } = self;
        if id == 0 {
            // The callsite table is full: send the format string as the message so nothing is
            // lost (the drain shows the arguments as fields).
            return logger.write_unregistered(callsite.format(), level, encode);
        }
        logger.write(level, len, |e| {
            encode(e);
            id
        })
    }
}
