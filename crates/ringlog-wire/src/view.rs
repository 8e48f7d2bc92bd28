//! The one decoded view of a record that every output and every test reads.
//!
//! A record's bytes become a [`RecordView`]: its time, level, ids, where its text comes from
//! ([`Origin`]: a callsite, none, an id that did not resolve, or one of the drain's own
//! notices), its decoded arguments, and the rules that turn those into a message, named fields
//! and problems. Text, JSON, logfmt, syslog and OTLP are encoders over this view; `ringdrain
//! cat`, tests and tools take an [`OwnedRecord`] made from the same view, so what a test checks
//! is what the log file gets (defmt's decoder yields one `Frame` that every printer renders, in
//! the same way).
//!
//! The rules, in one place:
//! * **message**: the callsite's template rendered with the positional arguments; with no
//!   callsite, the first argument is the message. A record cut to fit ends with ` [truncated]`.
//! * **fields**: the arguments after the positional ones, named by the callsite's field list;
//!   any beyond it (a mismatch) are named `_0`, `_1`, ... by their position among the fields.
//! * **problems** (shown by each encoder as it sees fit, never dropped): an unresolved callsite,
//!   a malformed format, arguments missing (unless the record was truncated), more arguments
//!   than holes and fields, undecodable argument bytes.

use crate::args::{Arg, ArgError, Args};
use crate::callsite::{CallsiteDesc, FormatStyle};
use crate::clock::Calibration;
use crate::decode::{write_display, Out, RecordRef, Template, Value};
use crate::pyfmt::line::Layout;
use crate::record::Level;
use core::any::Any;
use core::mem::MaybeUninit;
use std::sync::{Arc, OnceLock};

/// A callsite decoded from the table, with its format parsed once and bound to its fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callsite {
    /// Its id.
    pub id: u32,
    /// Level at registration.
    pub level: Level,
    /// Format style.
    pub style: FormatStyle,
    /// Line.
    pub line: u32,
    /// Target.
    pub target: String,
    /// Module path.
    pub module: String,
    /// File.
    pub file: String,
    /// Format string.
    pub format: String,
    /// Field names.
    pub fields: Vec<String>,
    /// The format string, parsed once.
    pub template: Template,
    /// A Python Formatter's line layout, parsed once (see [`crate::pyfmt::line`]): text output
    /// writes the record's line with it. `Err`: the callsite carries a layout this drain
    /// cannot render (the record gets the ordinary line, with the reason as a problem).
    pub layout: Option<Result<Arc<Layout>, String>>,
    /// The line layout as the callsite carries it (empty: none), for tools that write the
    /// callsite out again (the binary archive).
    pub layout_text: String,
    /// What an encoder compiled from this callsite on first use ([`Callsite::cached`]).
    cache: CallsiteCache,
}

/// State an encoder derives from a callsite once and keeps beside it (the drain's render
/// plans), built on first use. Not part of the callsite: a clone starts empty and comparisons
/// ignore it.
#[derive(Default)]
struct CallsiteCache(OnceLock<Box<dyn Any + Send + Sync>>);

impl Clone for CallsiteCache {
    fn clone(&self) -> Self {
        CallsiteCache::default()
    }
}

impl PartialEq for CallsiteCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for CallsiteCache {}

impl core::fmt::Debug for CallsiteCache {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(if self.0.get().is_some() {
            "CallsiteCache(filled)"
        } else {
            "CallsiteCache(empty)"
        })
    }
}

impl Callsite {
    /// An owned callsite with its parsed template.
    pub fn new(id: u32, d: &CallsiteDesc<'_>) -> Self {
        Callsite {
            template: Template::with_fields(d.style, d.format, &d.fields),
            id,
            level: d.level,
            style: d.style,
            line: d.line,
            target: d.target.to_string(),
            module: d.module.to_string(),
            file: d.file.to_string(),
            format: d.format.to_string(),
            fields: d.fields.iter().map(|s| s.to_string()).collect(),
            layout_text: d.layout.to_string(),
            cache: CallsiteCache::default(),
            layout: (!d.layout.is_empty()).then(|| {
                Layout::parse(d.layout)
                    .map(Arc::new)
                    .map_err(|e| e.to_string())
            }),
        }
    }

    /// The line layout, if the callsite has one this drain renders.
    pub fn layout(&self) -> Option<&Layout> {
        match &self.layout {
            Some(Ok(l)) => Some(l),
            _ => None,
        }
    }

    /// The value of type `T` kept with this callsite, built by `init` on the first call: an
    /// encoder's per-callsite state (the drain compiles each callsite's render plan once).
    /// One slot per callsite: `None` if it already holds another type.
    pub fn cached<T: Any + Send + Sync>(&self, init: impl FnOnce(&Callsite) -> T) -> Option<&T> {
        self.cache
            .0
            .get_or_init(|| Box::new(init(self)))
            .downcast_ref()
    }

    /// Arguments before the first field.
    fn positional(&self) -> usize {
        match self.style {
            FormatStyle::Literal => 0,
            _ => self.template.positional(),
        }
    }
}

/// Where a record's message and field names come from.
#[derive(Debug, Clone, Copy)]
pub enum Origin<'a> {
    /// A resolved callsite.
    Callsite(&'a Callsite),
    /// Callsite id 0 (a producer whose callsite table was full): the first argument is the
    /// message, the rest are fields.
    Bare,
    /// The id did not resolve (unknown, damaged); the reason. Read as [`Origin::Bare`].
    Unresolved(&'a str),
    /// One of the drain's own lines (losses, errors): its target, message and field names.
    Notice {
        /// Target (`ringdrain`).
        target: &'a str,
        /// The message.
        message: &'a str,
        /// Field names, one per argument.
        names: &'a [&'a str],
    },
}

/// Most arguments decoded onto the stack; more spill to the heap.
const STACK_ARGS: usize = 16;

/// A record's arguments, decoded onto the stack (spilling to the heap past 16), with the first
/// decoding error if the bytes went bad part-way.
///
/// The stack slots start uninitialised: a record's few arguments cost their own stores, not
/// 16 slots' worth (half a kilobyte) of `Arg::None` first.
pub struct ArgBuf<'a> {
    /// `stack[..len]` are initialised while `heap` is empty.
    stack: [MaybeUninit<Arg<'a>>; STACK_ARGS],
    /// All the arguments, once there were more than [`STACK_ARGS`].
    heap: Vec<Arg<'a>>,
    len: usize,
    error: Option<ArgError>,
}

impl core::fmt::Debug for ArgBuf<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ArgBuf")
            .field("args", &self.as_slice())
            .field("error", &self.error)
            .finish()
    }
}

impl Default for ArgBuf<'_> {
    #[inline(always)]
    fn default() -> Self {
        ArgBuf::new()
    }
}

impl<'a> ArgBuf<'a> {
    /// No arguments yet; [`ArgBuf::decode_from`] fills the buffer where the caller keeps it.
    #[inline(always)]
    pub fn new() -> Self {
        ArgBuf {
            stack: [const { MaybeUninit::uninit() }; STACK_ARGS],
            heap: Vec::new(),
            len: 0,
            error: None,
        }
    }

    /// Decodes `record`'s arguments (stopping at the first bad one).
    ///
    /// The buffer is built in this function's frame and moved out on return: a copy of the
    /// whole buffer (half a kilobyte) that no inlining removes, since decoding takes the
    /// buffer's address. A hot loop keeps the buffer in its own frame instead:
    /// `let mut args = ArgBuf::new(); args.decode_from(&record);`.
    #[inline]
    pub fn decode(record: &RecordRef<'a>) -> Self {
        let mut b = ArgBuf::new();
        b.decode_from(record);
        b
    }

    /// Decodes `record`'s arguments (stopping at the first bad one) after those already in
    /// the buffer (none, for a buffer from [`ArgBuf::new`]).
    pub fn decode_from(&mut self, record: &RecordRef<'a>) {
        let payload = record.payload;
        let mut at = 0;
        while let Some(rest) = payload.get(at..).filter(|r| !r.is_empty()) {
            // The common arguments straight into the next slot; anything else (and anything
            // malformed, so the error is the one `Args` reports) through `Args`.
            if let Some((a, n)) = crate::args::decode_common(rest) {
                self.push(a);
                at += n;
                continue;
            }
            let mut slow = Args::starting_at(payload, at);
            match slow.next() {
                Some(Ok(a)) => {
                    self.push(a);
                    at = slow.offset();
                }
                Some(Err(e)) => {
                    self.error = Some(e);
                    return;
                }
                None => return,
            }
        }
    }

    /// Arguments given directly (the drain's notices).
    pub fn from_args(args: &[Arg<'a>]) -> Self {
        let mut b = ArgBuf::new();
        for a in args {
            b.push(*a);
        }
        b
    }

    #[inline]
    fn push(&mut self, a: Arg<'a>) {
        // A free stack slot exists only while the heap is unused (it takes over at the 17th).
        if let Some(slot) = self.stack.get_mut(self.len) {
            slot.write(a);
        } else {
            self.spill(a);
        }
        self.len += 1;
    }

    /// [`ArgBuf::push`] past the stack's slots: moves them to the heap once.
    #[cold]
    fn spill(&mut self, a: Arg<'a>) {
        if self.heap.is_empty() {
            let stack = self.stack_slice().to_vec();
            self.heap = stack;
        }
        self.heap.push(a);
    }

    /// The initialised stack slots.
    #[inline]
    fn stack_slice(&self) -> &[Arg<'a>] {
        let n = self.len.min(STACK_ARGS);
        // SAFETY: `push` writes `stack[len]` before counting it, so `stack[..min(len, 16)]`
        // are initialised (once the heap holds the arguments, the stack's are stale but still
        // initialised); `MaybeUninit<Arg>` has `Arg`'s layout.
        unsafe { core::slice::from_raw_parts(self.stack.as_ptr().cast::<Arg<'a>>(), n) }
    }

    /// The decoded arguments.
    #[inline]
    pub fn as_slice(&self) -> &[Arg<'a>] {
        if self.heap.is_empty() {
            self.stack_slice()
        } else {
            &self.heap
        }
    }

    /// Why decoding stopped early, if it did.
    pub fn error(&self) -> Option<&ArgError> {
        self.error.as_ref()
    }
}

/// A decoded record: see the [module docs](self) for the rules it applies.
#[derive(Debug, Clone, Copy)]
pub struct RecordView<'a> {
    /// Unix time in nanoseconds.
    pub unix_ns: i64,
    /// Level.
    pub level: Level,
    /// Writer's pid.
    pub pid: u32,
    /// Writer's thread id.
    pub tid: u32,
    /// Callsite id (0 for none and for notices).
    pub callsite_id: u32,
    /// Where the text comes from.
    pub origin: Origin<'a>,
    /// The decoded arguments.
    pub args: &'a [Arg<'a>],
    /// Arguments were cut to fit the ring.
    pub truncated: bool,
    /// Argument bytes that did not decode (the arguments before them are in `args`).
    pub arg_error: Option<&'a ArgError>,
}

impl<'a> RecordView<'a> {
    /// The view of `record`, its callsite resolved as `callsite` (`Ok(None)`: id 0; `Err`: why
    /// the id did not resolve), with `args` decoded from it and times converted with `clock`.
    pub fn new(
        record: &RecordRef<'_>,
        callsite: Result<Option<&'a Callsite>, &'a str>,
        args: &'a ArgBuf<'a>,
        clock: &Calibration,
    ) -> Self {
        RecordView {
            unix_ns: clock.to_unix_ns(record.header.timestamp),
            level: record.level(),
            pid: record.header.pid,
            tid: record.header.tid,
            callsite_id: record.header.callsite,
            origin: match callsite {
                Ok(Some(cs)) => Origin::Callsite(cs),
                Ok(None) => Origin::Bare,
                Err(why) => Origin::Unresolved(why),
            },
            args: args.as_slice(),
            truncated: record.truncated(),
            arg_error: args.error(),
        }
    }

    /// One of the drain's own lines: `names[i]` names `args[i]`.
    pub fn notice(
        unix_ns: i64,
        level: Level,
        pid: u32,
        message: &'a str,
        names: &'a [&'a str],
        args: &'a [Arg<'a>],
    ) -> Self {
        RecordView {
            unix_ns,
            level,
            pid,
            tid: 0,
            callsite_id: 0,
            origin: Origin::Notice {
                target: "ringdrain",
                message,
                names,
            },
            args,
            truncated: false,
            arg_error: None,
        }
    }

    /// The callsite, if the record has one.
    pub fn callsite(&self) -> Option<&'a Callsite> {
        match self.origin {
            Origin::Callsite(cs) => Some(cs),
            _ => None,
        }
    }

    /// The target (empty when unknown).
    pub fn target(&self) -> &'a str {
        match self.origin {
            Origin::Callsite(cs) => &cs.target,
            Origin::Notice { target, .. } => target,
            Origin::Bare | Origin::Unresolved(_) => "",
        }
    }

    /// The source file and line (`("", 0)` when unknown).
    pub fn location(&self) -> (&'a str, u32) {
        match self.origin {
            Origin::Callsite(cs) => (&cs.file, cs.line),
            _ => ("", 0),
        }
    }

    /// Index of the first argument that is a field.
    pub fn fields_from(&self) -> usize {
        match self.origin {
            Origin::Callsite(cs) => cs.positional().min(self.args.len()),
            Origin::Bare | Origin::Unresolved(_) => 1.min(self.args.len()),
            Origin::Notice { .. } => 0,
        }
    }

    /// Writes the message (with ` [truncated]` when the record was cut).
    pub fn message<O: Out + ?Sized>(&self, out: &mut O) {
        match self.origin {
            Origin::Callsite(cs) => {
                cs.template.render(out, self.args);
            }
            Origin::Bare | Origin::Unresolved(_) => {
                if let Some(first) = self.args.first() {
                    write_display(out, first);
                }
            }
            Origin::Notice { message, .. } => out.push_str(message),
        }
        if self.truncated {
            out.push_verbatim(" [truncated]");
        }
    }

    /// Calls `f(name, value)` for each field, in order.
    pub fn for_each_field(&self, mut f: impl FnMut(&str, &Arg<'a>)) {
        let names: &[String] = match self.origin {
            Origin::Callsite(cs) => &cs.fields,
            Origin::Notice { names, .. } => {
                for (name, arg) in names.iter().zip(self.args) {
                    f(name, arg);
                }
                return;
            }
            Origin::Bare | Origin::Unresolved(_) => &[],
        };
        let mut unnamed = String::new();
        for (k, arg) in self.args[self.fields_from()..].iter().enumerate() {
            match names.get(k) {
                Some(n) => f(n, arg),
                None => {
                    unnamed.clear();
                    unnamed.push('_');
                    unnamed.push_str(itoa::Buffer::new().format(k));
                    f(&unnamed, arg)
                }
            }
        }
    }

    /// Calls `f` with each problem found (see the [module docs](self)).
    pub fn problems(&self, mut f: impl FnMut(&str)) {
        match self.origin {
            Origin::Unresolved(why) => f(why),
            Origin::Callsite(cs) => {
                if let Some(p) = cs.template.problem() {
                    f(p);
                }
                if let Some(Err(e)) = &cs.layout {
                    f(e);
                }
                let missing = cs.template.missing(self.args.len());
                if missing > 0 && !self.truncated && self.arg_error.is_none() {
                    f(&format!("{missing} argument(s) missing"));
                }
                let expected = cs.positional().saturating_add(cs.fields.len());
                if self.args.len() > expected && cs.style != FormatStyle::Literal {
                    f(&format!(
                        "{} more argument(s) than holes and fields",
                        self.args.len() - expected
                    ));
                }
            }
            Origin::Bare | Origin::Notice { .. } => {}
        }
        if let Some(e) = self.arg_error {
            f(&format!("bad argument bytes: {e}"));
        }
    }

    /// An owned copy, with the message rendered and the fields and problems collected.
    pub fn to_owned_record(&self) -> OwnedRecord {
        let mut message = String::new();
        self.message(&mut message);
        let mut fields = Vec::new();
        self.for_each_field(|k, v| fields.push((k.to_string(), Value::from(v))));
        let mut problems = Vec::new();
        self.problems(|p| problems.push(p.to_string()));
        let (file, line) = self.location();
        OwnedRecord {
            unix_ns: self.unix_ns,
            level: self.level,
            pid: self.pid,
            tid: self.tid,
            callsite: self.callsite_id,
            target: self.target().to_string(),
            file: file.to_string(),
            line,
            message,
            fields,
            truncated: self.truncated,
            problems,
        }
    }
}

/// A fully decoded, owned record (from [`RecordView::to_owned_record`]), for tests,
/// `ringdrain cat` and tools: the same message, fields and problems the log file gets.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedRecord {
    /// Unix time in nanoseconds.
    pub unix_ns: i64,
    /// Level.
    pub level: Level,
    /// Writer's pid.
    pub pid: u32,
    /// Writer's thread id.
    pub tid: u32,
    /// Callsite id.
    pub callsite: u32,
    /// Target.
    pub target: String,
    /// Source file.
    pub file: String,
    /// Source line.
    pub line: u32,
    /// The rendered message (ending with ` [truncated]` if the record was cut).
    pub message: String,
    /// Key-value fields in order.
    pub fields: Vec<(String, Value)>,
    /// Arguments were cut to fit.
    pub truncated: bool,
    /// Problems found while decoding (each encoder shows them; text as ` [ringlog: ...]`).
    pub problems: Vec<String>,
}

impl OwnedRecord {
    /// Decodes `record` with its callsite (`Ok(None)`: id 0; `Err`: why the id did not
    /// resolve) and clock calibration. Never panics.
    pub fn decode(
        record: &RecordRef<'_>,
        callsite: Result<Option<&Callsite>, &str>,
        clock: &Calibration,
    ) -> OwnedRecord {
        let args = ArgBuf::decode(record);
        RecordView::new(record, callsite, &args, clock).to_owned_record()
    }

    /// The field named `name`, if any.
    pub fn field(&self, name: &str) -> Option<&Value> {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{ArgError, Encoder};
    use crate::record::RecordHeader;

    fn record(payload: &[u8]) -> RecordRef<'_> {
        RecordRef {
            header: RecordHeader::default(),
            payload,
        }
    }

    fn encode(f: impl FnOnce(&mut Encoder<'_>)) -> Vec<u8> {
        let mut buf = vec![MaybeUninit::uninit(); 4096];
        let mut e = Encoder::new(&mut buf);
        f(&mut e);
        e.as_bytes().to_vec()
    }

    #[test]
    fn more_arguments_than_stack_slots_spill_to_the_heap_in_order() {
        for n in [0u64, 1, 15, 16, 17, 40] {
            let bytes = encode(|e| (0..n).for_each(|i| e.u64(i)));
            let args = ArgBuf::decode(&record(&bytes));
            let want: Vec<Arg<'_>> = (0..n).map(Arg::U64).collect();
            assert_eq!(args.as_slice(), want, "{n} arguments");
            assert!(args.error().is_none());
        }
    }

    #[test]
    fn strings_decode_on_the_ascii_path_and_off_it_and_bad_utf8_is_an_error() {
        let bytes = encode(|e| {
            e.str("p0-t1");
            e.str("héllo — ✓ 日本");
            e.str("a string longer than sixteen bytes, all ASCII");
        });
        let args = ArgBuf::decode(&record(&bytes));
        assert_eq!(
            args.as_slice(),
            [
                Arg::Str("p0-t1"),
                Arg::Str("héllo — ✓ 日本"),
                Arg::Str("a string longer than sixteen bytes, all ASCII")
            ]
        );
        // A valid first argument, then a string whose bytes are not UTF-8 (0xC3 alone).
        let mut bad = encode(|e| e.u64(7));
        bad.extend_from_slice(&[15, 2, 0, b'a', 0xC3]);
        let args = ArgBuf::decode(&record(&bad));
        assert_eq!(args.as_slice(), [Arg::U64(7)]);
        assert_eq!(
            args.error(),
            Some(&ArgError::BadValue {
                offset: 9,
                what: "string"
            })
        );
    }

    /// The buffer's fast path for common tags decodes what [`Args`] decodes, and stops with
    /// the same error at the same offset, for any bytes: valid arguments of every kind, cut
    /// short at every length, with bytes flipped.
    #[test]
    fn the_buffer_decodes_any_bytes_as_args_does() {
        let valid = encode(|e| {
            e.u64(u64::MAX);
            e.f64(-0.25);
            e.str("p0-t1");
            e.str("héllo ✓");
            e.u8(7);
            e.i32(-5);
            e.u128(1 << 100);
            e.bool(true);
            e.char('é');
            e.bytes(&[1, 2, 3]);
            e.display_str("shown");
            e.none();
            e.f32(1.5);
            e.str("");
        });
        let check = |b: &[u8]| {
            let mut want = Vec::new();
            let mut error = None;
            for a in Args::new(b) {
                match a {
                    Ok(a) => want.push(a),
                    Err(e) => error = Some(e),
                }
            }
            let got = ArgBuf::decode(&record(b));
            // By their debug form: a NaN is not equal to itself.
            assert_eq!(
                format!("{:?}", got.as_slice()),
                format!("{want:?}"),
                "{b:?}"
            );
            assert_eq!(got.error(), error.as_ref(), "{b:?}");
        };
        for n in 0..=valid.len() {
            check(&valid[..n]);
        }
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            let mut b = valid.clone();
            for _ in 0..3 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let at = (x % b.len() as u64) as usize;
                b[at] = (x >> 32) as u8;
            }
            check(&b);
            check(&b[..(x >> 40) as usize % b.len()]);
        }
    }

    #[test]
    fn a_buffer_decoded_in_place_holds_what_decode_returns() {
        let bytes = encode(|e| {
            e.u64(1);
            e.str("x");
        });
        assert!(ArgBuf::new().as_slice().is_empty());
        let mut args = ArgBuf::new();
        args.decode_from(&record(&bytes));
        assert_eq!(args.as_slice(), ArgBuf::decode(&record(&bytes)).as_slice());
        assert_eq!(args.as_slice(), [Arg::U64(1), Arg::Str("x")]);
    }
}
