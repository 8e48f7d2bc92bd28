//! The native half of the `ringlog` Python package (`ringlog._native`): turns a
//! `logging.LogRecord` into a binary ringlog record, so that Python processes log into the same
//! shared-memory ring as Rust services and `ringdrain` formats the message later.
//!
//! | item | what it is |
//! |---|---|
//! | [`Sink`] | one open ring; `emit(record)` writes a `LogRecord` (`ringlog.Handler` wraps it), `log_fast(...)` writes the record a logging call would make, without making it (`ringlog.install()`'s loggers) |
//! | `format_percent` | the producer's argument handling plus the drain's rendering, without a ring (tests) |
//! | `drain_main` | the `ringdrain` command line (the package's `ringdrain` console script) |
//!
//! # What a record becomes
//!
//! * **Deferred formatting.** A record whose `msg` is a `str` and whose `args` is a non-empty
//!   tuple sends `msg` as a [`FormatStyle::Percent`] callsite (registered once per level, logger
//!   name, path, line, function, template and field names, and cached per process) and its
//!   arguments in binary: `int` (as i64/u64), `float`, `bool`, `str`, `bytes`, `None`. The
//!   template's holes are parsed once ([`pyfmt::holes`]) and decide, per position, what the
//!   producer must do itself: `str()`, `repr()` or `ascii()` of other objects (sent as
//!   preformatted strings), `repr()` of a non-ASCII `str` under `%r`. The drain renders with
//!   [`pyfmt`], exactly as `%` does.
//! * **Fallback.** Anything else (a non-`str` message, mapping arguments, `*` widths, `%c`, an
//!   argument `%` would reject, an int beyond 64 bits under `%d`) calls `record.getMessage()` here
//!   and sends the result through a `%s` callsite of the same location, so Python raises exactly
//!   where it would have (and `logging.Handler.handleError` reports it). A record without
//!   arguments sends `msg` itself the same way (no `%` processing, as `getMessage` does).
//! * **Fields**, in this order: `levelname` for levels other than DEBUG/INFO/WARNING/ERROR/
//!   CRITICAL (CRITICAL is ringlog's [`Level::Critical`]); `exc_text` (the traceback, formatted
//!   here by the handler's formatter and cached on the record as `logging.Formatter.format`
//!   does); `stack_info`; `process` and `thread` when the record was made in another process or
//!   thread (a forwarded record); `threadName` unless it is `MainThread`, `processName` unless
//!   `MainProcess`, `taskName` when logged from an asyncio task (the defaults are left out so
//!   that most records stay one slot); then the `extra` attributes (those a plain `LogRecord`
//!   lacks), typed as the arguments are (`str()` of other objects).
//!
//! * **The handler's Formatter** (`Sink::set_layout`). With a Formatter the drain can
//!   reproduce, every callsite of the handler carries its line layout
//!   ([`ringlog_wire::pyfmt::line`]) and the drain writes the Formatter's line; a layout that
//!   shows `thread` adds that field (`threading.get_ident()`, which the record header's kernel
//!   tid is not). A record the layout cannot take (a custom level, a missing `extra` attribute
//!   the Formatter names) and every record of a Formatter the drain cannot reproduce make
//!   `emit` return false: the Python side then formats the line with the Formatter and calls
//!   `emit(record, line)`, which sends it under a `%(message)s` layout (no `exc_text` or
//!   `stack_info` fields: the line has them).
//!
//! # The fast path
//!
//! `Sink::log_fast` takes what a logging call has (level, logger name, `msg`, `args`, `extra`
//! and the caller's frame) and writes the same record `emit` would write for the `LogRecord`
//! the full path would make. The callsite is found by the calling code object, its line, the
//! level and the logger name (one hash lookup; the code objects are kept alive by the cache,
//! so an address is never reused while cached); frames of `logging` and `ringlog` themselves
//! are skipped as `Logger.findCaller` skips them. The Python side decides when it applies (see
//! `ringlog.install`).
//!
//! # Locks, the GIL and fork
//!
//! Everything runs with the GIL held, except the wait for room in a full ring under the
//! `"block"` or bounded policies: the record is encoded by then (no Python object is touched)
//! and the GIL is released around the wait so other Python threads run. The per-process
//! callsite cache is behind a `Mutex` that is only ever `try_lock`ed and never held while the
//! GIL is released: if it were somehow held (a `str` subclass's `__eq__`
//! re-entering logging), the call goes the uncached way (`emit`) or the full path (`log_fast`)
//! instead of waiting, so it can never deadlock, before or after a fork. A fork while another
//! thread waits for room leaves that thread's record out of the child, which holds no lock of
//! it. The ring itself is lock-free and survives `fork()` (see the `ringlog` crate).
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks, missing_docs)]

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyBytes, PyDict, PyFloat, PyFrozenSet, PyInt, PyList, PyModule, PyString, PyTuple,
};
use pyo3::{ffi, intern};
use ringlog::{Encoder, Level, Logger, Policy};
use ringlog_wire::args::Args;
use ringlog_wire::callsite::{CallsiteDesc, FormatStyle};
use ringlog_wire::decode::Template;
use ringlog_wire::pyfmt::line::{self, Attr, Layout};
use ringlog_wire::pyfmt::{self, Conv};
use ringlog_wire::record::RECORD_HEADER_LEN;

/// Field bit: the record carries `exc_text`.
const EXC: usize = 1;
/// Field bit: the record carries `stack_info`.
const STACK: usize = 2;
/// Field bit: the record carries `process` and `thread` (made elsewhere).
const FOREIGN: usize = 4;
/// Field bit: the record carries `threadName` (not `MainThread`).
const THREAD_NAME: usize = 8;
/// Field bit: the record carries `processName` (not `MainProcess`).
const PROCESS_NAME: usize = 16;
/// Field bit: the record carries `taskName` (logged from an asyncio task).
const TASK_NAME: usize = 32;
/// Field bit: the record carries `thread` (`threading.get_ident()`) for a line layout that
/// shows it (a foreign record already carries it with `FOREIGN`).
const IDENT: usize = 64;
/// Callsite bit: the message is the handler's finished line (formatted by the caller), so the
/// callsite's layout is `Sink::verbatim`. Not a field.
const LINE: usize = 128;
/// Field variants (bits and `extra` keys) cached per template; more are registered on every
/// call (correct, slower; the segment's table deduplicates them).
const MAX_VARIANTS: usize = 64;

/// Registration failed (table full): do not retry on every call.
const FAILED: u32 = u32::MAX - 1;

/// Locations (level, logger, file, line, function) cached per process; more are registered on
/// every call (correct, slower; the segment's table deduplicates them).
const MAX_LOCATIONS: usize = 16_384;
/// Templates cached per location. More distinct templates at one location means they are built
/// at run time (`logger.info(prefix + " %s", x)`): their messages are formatted here instead,
/// so they cannot fill the segment's callsite table.
const MAX_TEMPLATES_PER_LOCATION: usize = 256;
/// Templates cached per process.
const MAX_TEMPLATES: usize = 65_536;

/// What the producer must do for an argument at a hole (from the hole's conversion).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hole {
    /// `%s`.
    Str,
    /// `%r`.
    Repr,
    /// `%a`.
    Ascii,
    /// `%d`, `%i`, `%u`: integers, and floats (truncated).
    Int,
    /// `%x`, `%X`, `%o`: integers only.
    IntOnly,
    /// `%e`, `%f`, `%g` and upper-case forms: any real number.
    Float,
}

impl Hole {
    fn is_text(self) -> bool {
        matches!(self, Hole::Str | Hole::Repr | Hole::Ascii)
    }
}

/// The holes of a template, if the drain can render every one of them (`None`: format here).
fn plan_holes(template: &str) -> Option<Arc<[Hole]>> {
    let specs = pyfmt::holes(template).ok()?;
    specs
        .iter()
        .map(|s| {
            Some(match s.conv {
                Conv::Str => Hole::Str,
                Conv::Repr => Hole::Repr,
                Conv::Ascii => Hole::Ascii,
                Conv::Int => Hole::Int,
                Conv::Octal | Conv::Hex | Conv::HexUpper => Hole::IntOnly,
                c if c.is_float() => Hole::Float,
                // %c: rare, and its argument rules (surrogates, 1-char strings) are Python's
                // business; the producer formats such messages.
                _ => return None,
            })
        })
        .collect()
}

/// One argument, ready to encode.
enum Slot<'py> {
    I64(i64),
    U64(u64),
    F64(f64),
    Bool(bool),
    None,
    Str(Bound<'py, PyString>),
    Bytes(Bound<'py, PyBytes>),
    /// Preformatted by the producer (`str()`, `repr()`, `ascii()` of an object).
    Display(Bound<'py, PyString>),
    /// Preformatted, with unpaired surrogates replaced.
    Owned(String),
}

impl Slot<'_> {
    /// The bytes `encode` writes (about: a string's UTF-8 form may differ in size).
    fn encoded_len(&self) -> usize {
        match self {
            Slot::I64(_) | Slot::U64(_) | Slot::F64(_) => 9,
            Slot::Bool(_) => 2,
            Slot::None => 1,
            Slot::Str(s) | Slot::Display(s) => 3 + s.to_str().map_or(0, str::len),
            Slot::Bytes(b) => 3 + b.as_bytes().len(),
            Slot::Owned(s) => 3 + s.len(),
        }
    }

    fn encode(&self, e: &mut Encoder<'_>) {
        match self {
            Slot::I64(v) => e.i64(*v),
            Slot::U64(v) => e.u64(*v),
            Slot::F64(v) => e.f64(*v),
            Slot::Bool(v) => e.bool(*v),
            Slot::None => e.none(),
            // `prep` checked that these strings have UTF-8 forms; to_str only reads them.
            Slot::Str(s) => e.str(s.to_str().unwrap_or("")),
            Slot::Bytes(b) => e.bytes(b.as_bytes()),
            Slot::Display(s) => e.display_str(s.to_str().unwrap_or("")),
            Slot::Owned(s) => e.display_str(s),
        }
    }
}

/// Prepared arguments: up to eight inline (no allocation on the common path), more on the heap.
#[derive(Default)]
struct Slots<'py> {
    inline: [Option<Slot<'py>>; 8],
    len: usize,
    heap: Vec<Slot<'py>>,
}

impl<'py> Slots<'py> {
    fn push(&mut self, s: Slot<'py>) {
        match self.inline.get_mut(self.len) {
            Some(free) => *free = Some(s),
            None => self.heap.push(s),
        }
        self.len += 1;
    }

    fn iter(&self) -> impl Iterator<Item = &Slot<'py>> {
        self.inline.iter().flatten().chain(self.heap.iter())
    }

    fn encode(&self, e: &mut Encoder<'_>) {
        for s in self.iter() {
            s.encode(e);
        }
    }

    fn encoded_len(&self) -> usize {
        self.iter().map(Slot::encoded_len).sum()
    }
}

/// A preformatted string from a Python call (`str()`, `repr()`, `ascii()`).
fn display_slot<'py>(s: Bound<'py, PyString>) -> Slot<'py> {
    if s.is_exact_instance_of::<PyString>() && s.to_str().is_ok() {
        Slot::Display(s)
    } else {
        Slot::Owned(s.to_string_lossy().into_owned())
    }
}

/// An exact `int` as i64 or u64; `None` beyond 64 bits.
fn int_value(obj: &Bound<'_, PyAny>) -> Option<Slot<'static>> {
    let mut overflow: std::os::raw::c_int = 0;
    // SAFETY: `obj` is a live int object (exact or subclass) and we hold the GIL.
    let v = unsafe { ffi::PyLong_AsLongLongAndOverflow(obj.as_ptr(), &mut overflow) };
    if overflow == 0 {
        if v == -1 && PyErr::take(obj.py()).is_some() {
            return None;
        }
        return Some(Slot::I64(v));
    }
    if overflow < 0 {
        return None;
    }
    // SAFETY: as above.
    let u = unsafe { ffi::PyLong_AsUnsignedLongLong(obj.as_ptr()) };
    if u == u64::MAX && PyErr::take(obj.py()).is_some() {
        return None;
    }
    Some(Slot::U64(u))
}

/// `float(v)` of an int beyond 64 bits, as `%f` converts it (correctly rounded); `None` if it
/// overflows a float (Python raises there).
fn big_int_as_float(v: &Bound<'_, PyAny>) -> Option<Slot<'static>> {
    // SAFETY: `v` is a live int object and we hold the GIL.
    let f = unsafe { ffi::PyLong_AsDouble(v.as_ptr()) };
    if f == -1.0 && PyErr::take(v.py()).is_some() {
        return None;
    }
    Some(Slot::F64(f))
}

/// `ascii(obj)`.
fn ascii<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyString>> {
    // SAFETY: `obj` is live and we hold the GIL; PyObject_ASCII returns a new reference (which
    // the Bound takes over) or NULL with an exception set (which becomes Err).
    let r = unsafe { Bound::from_owned_ptr_or_err(obj.py(), ffi::PyObject_ASCII(obj.as_ptr()))? };
    Ok(r.cast_into::<PyString>()?)
}

/// How `arg` travels for `hole`: `Ok(None)` if the drain cannot render it exactly as `%` would
/// (the caller formats the message here instead). Errors are Python's (a failing `__str__`).
fn prep<'py>(hole: Hole, arg: Bound<'py, PyAny>) -> PyResult<Option<Slot<'py>>> {
    let text = hole.is_text();
    if arg.is_none() {
        return Ok(text.then_some(Slot::None));
    }
    if arg.is_exact_instance_of::<PyBool>() {
        // SAFETY: Py_True returns a borrowed pointer to the immortal True object.
        return Ok(Some(Slot::Bool(arg.as_ptr() == unsafe { ffi::Py_True() })));
    }
    if arg.is_exact_instance_of::<PyInt>() {
        return Ok(match int_value(&arg) {
            Some(v) => Some(v),
            None if text => Some(display_slot(arg.str()?)),
            None if hole == Hole::Float => big_int_as_float(&arg),
            None => None,
        });
    }
    if arg.is_exact_instance_of::<PyFloat>() {
        let v = arg.cast::<PyFloat>()?.value();
        return Ok(match hole {
            Hole::IntOnly => None,
            Hole::Int if !v.is_finite() => None,
            _ => Some(Slot::F64(v)),
        });
    }
    if arg.is_exact_instance_of::<PyString>() {
        if !text {
            return Ok(None);
        }
        let s = arg.cast_into::<PyString>()?;
        return Ok(Some(match (hole, s.to_str()) {
            (Hole::Repr, Ok(v)) if !v.is_ascii() => display_slot(s.repr()?),
            (_, Ok(_)) => Slot::Str(s),
            (Hole::Repr, Err(_)) => display_slot(s.repr()?),
            (Hole::Ascii, Err(_)) => display_slot(ascii(&s)?),
            (_, Err(_)) => Slot::Owned(s.to_string_lossy().into_owned()),
        }));
    }
    if arg.is_exact_instance_of::<PyBytes>() {
        return Ok(text.then(|| Slot::Bytes(arg.cast_into::<PyBytes>().expect("checked above"))));
    }
    // Subclasses and other objects.
    Ok(match hole {
        Hole::Str => Some(display_slot(arg.str()?)),
        Hole::Repr => Some(display_slot(arg.repr()?)),
        Hole::Ascii => Some(display_slot(ascii(&arg)?)),
        // `%d`/`%x` of an int subclass (IntEnum...) use its integer value.
        Hole::Int | Hole::IntOnly if arg.is_instance_of::<PyInt>() => int_value(&arg),
        // `%f` of a float subclass (numpy.float64...) uses its float value, of an int subclass
        // its value converted to float.
        Hole::Float if arg.is_instance_of::<PyFloat>() => {
            Some(Slot::F64(arg.cast::<PyFloat>()?.value()))
        }
        Hole::Float if arg.is_instance_of::<PyInt>() => {
            int_value(&arg).or_else(|| big_int_as_float(&arg))
        }
        _ => None,
    })
}

/// Python level number to ringlog level.
fn level_of(levelno: i64) -> Level {
    match levelno {
        n if n >= 50 => Level::Critical,
        n if n >= 40 => Level::Error,
        n if n >= 30 => Level::Warn,
        n if n >= 20 => Level::Info,
        n if n >= 10 => Level::Debug,
        _ => Level::Trace,
    }
}

/// Whether a record of this level also carries its `levelname` (ringlog's levels name only
/// Python's DEBUG, INFO, WARNING, ERROR and CRITICAL).
fn needs_levelname(levelno: i64) -> bool {
    !matches!(levelno, 10 | 20 | 30 | 40 | 50)
}

/// The field names of a callsite, in the order [`Fields::encode`] writes them.
fn field_names<'a>(levelname: bool, mask: usize, extras: &'a [Cow<'a, str>]) -> Vec<&'a str> {
    let mut f = Vec::with_capacity(8 + extras.len());
    if levelname {
        f.push("levelname");
    }
    if mask & EXC != 0 {
        f.push("exc_text");
    }
    if mask & STACK != 0 {
        f.push("stack_info");
    }
    if mask & FOREIGN != 0 {
        f.push("process");
        f.push("thread");
    }
    if mask & IDENT != 0 {
        f.push("thread");
    }
    if mask & THREAD_NAME != 0 {
        f.push("threadName");
    }
    if mask & PROCESS_NAME != 0 {
        f.push("processName");
    }
    if mask & TASK_NAME != 0 {
        f.push("taskName");
    }
    f.extend(extras.iter().map(|s| &**s));
    f
}

/// Hashes already mixed by Python's `hash()`: used as is.
#[derive(Default)]
struct PreHashed(u64);

impl Hasher for PreHashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) ^ b as u64;
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

/// A multiply-rotate hasher (FxHash's) for the fast path's small integer keys: a hash
/// flooding attack would need control of code object addresses.
#[derive(Default)]
struct Fx(u64);

impl Fx {
    fn add(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for Fx {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.add(b as u64);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.add(v);
    }
    fn write_usize(&mut self, v: usize) {
        self.add(v as u64);
    }
    fn write_i64(&mut self, v: i64) {
        self.add(v as u64);
    }
    fn write_i32(&mut self, v: i32) {
        self.add(v as u64);
    }
}

/// A record's location: what a callsite has besides its template and fields.
struct LocKey<'py> {
    levelno: i64,
    lineno: i64,
    name: Bound<'py, PyString>,
    path: Bound<'py, PyString>,
    func: Bound<'py, PyString>,
    hash: u64,
}

impl<'py> LocKey<'py> {
    fn new(
        levelno: i64,
        lineno: i64,
        name: Bound<'py, PyString>,
        path: Bound<'py, PyString>,
        func: Bound<'py, PyString>,
    ) -> PyResult<Self> {
        let mut h = (name.hash()? as u64).rotate_left(5) ^ path.hash()? as u64;
        h = h.rotate_left(5) ^ func.hash()? as u64;
        h = h.rotate_left(5) ^ lineno as u64;
        h = (h.rotate_left(5) ^ levelno as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        Ok(LocKey {
            levelno,
            lineno,
            name,
            path,
            func,
            hash: h,
        })
    }

    fn place(&self) -> Place<'_> {
        Place {
            levelno: self.levelno,
            lineno: self.lineno,
            name: self.name.to_string_lossy(),
            path: self.path.to_string_lossy(),
            func: self.func.to_string_lossy(),
        }
    }
}

/// A location as the callsite table needs it.
struct Place<'a> {
    levelno: i64,
    lineno: i64,
    name: Cow<'a, str>,
    path: Cow<'a, str>,
    func: Cow<'a, str>,
}

/// Which fields a record carries: what selects its callsite besides location and template.
struct Sig<'a, 'py> {
    mask: usize,
    /// The `extra` keys, in order.
    extras: &'a [Bound<'py, PyString>],
}

/// A registered field variant of a template (or of the location's `%s` callsite).
struct Variant {
    mask: usize,
    extras: Box<[Py<PyString>]>,
    id: u32,
}

impl Variant {
    fn is(&self, sig: &Sig<'_, '_>) -> bool {
        self.mask == sig.mask
            && self.extras.len() == sig.extras.len()
            && self
                .extras
                .iter()
                .zip(sig.extras)
                .all(|(a, b)| same_str(a.bind(b.py()), b))
    }
}

struct Loc {
    levelno: i64,
    lineno: i64,
    name: Py<PyString>,
    path: Py<PyString>,
    func: Py<PyString>,
    /// The `%s` callsite per field variant (messages formatted here).
    plain: Vec<Variant>,
    templates: Vec<Tmpl>,
}

struct Tmpl {
    hash: isize,
    msg: Py<PyString>,
    /// `None`: a template the drain cannot render (format here).
    holes: Option<Arc<[Hole]>>,
    /// The template's callsite per field variant.
    ids: Vec<Variant>,
}

fn same_str(a: &Bound<'_, PyString>, b: &Bound<'_, PyString>) -> bool {
    a.as_ptr() == b.as_ptr() || matches!((a.to_str(), b.to_str()), (Ok(x), Ok(y)) if x == y)
}

impl Loc {
    fn is(&self, k: &LocKey<'_>) -> bool {
        let py = k.name.py();
        self.levelno == k.levelno
            && self.lineno == k.lineno
            && same_str(self.name.bind(py), &k.name)
            && same_str(self.func.bind(py), &k.func)
            && same_str(self.path.bind(py), &k.path)
    }

    fn place(&self, py: Python<'_>) -> Place<'static> {
        Place {
            levelno: self.levelno,
            lineno: self.lineno,
            name: Cow::Owned(self.name.bind(py).to_string_lossy().into_owned()),
            path: Cow::Owned(self.path.bind(py).to_string_lossy().into_owned()),
            func: Cow::Owned(self.func.bind(py).to_string_lossy().into_owned()),
        }
    }
}

/// The fast path's key: the calling code object, the calling instruction in it (which
/// determines the line), the level and the logger's name (by address: [`Cache::keep`] holds
/// them, so an address cannot be reused while cached).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct CodeKey {
    code: usize,
    lasti: i64,
    level: i64,
    name: usize,
}

/// Where a [`CodeKey`] leads.
#[derive(Clone, Copy)]
enum CodeLoc {
    /// A frame of `logging` or `ringlog` itself: the caller is further out.
    Internal,
    /// `Cache::locs[hash][index]`.
    At(u64, usize),
}

/// The per-process callsite cache.
#[derive(Default)]
struct Cache {
    locs: HashMap<u64, Vec<Loc>, BuildHasherDefault<PreHashed>>,
    n_locs: usize,
    n_templates: usize,
    /// The fast path's index into `locs`.
    by_code: HashMap<CodeKey, CodeLoc, BuildHasherDefault<Fx>>,
    /// The code objects and names whose addresses are `by_code`'s keys.
    keep: Vec<Py<PyAny>>,
}

/// The location's entry in `locs` (its hash and index), inserted if there is room.
fn find_loc(
    locs: &mut HashMap<u64, Vec<Loc>, BuildHasherDefault<PreHashed>>,
    n_locs: &mut usize,
    k: &LocKey<'_>,
) -> Option<(u64, usize)> {
    let bucket = locs.entry(k.hash).or_default();
    let i = match bucket.iter().position(|l| l.is(k)) {
        Some(i) => i,
        None if *n_locs < MAX_LOCATIONS => {
            bucket.push(Loc {
                levelno: k.levelno,
                lineno: k.lineno,
                name: k.name.clone().unbind(),
                path: k.path.clone().unbind(),
                func: k.func.clone().unbind(),
                plain: Vec::new(),
                templates: Vec::new(),
            });
            *n_locs += 1;
            bucket.len() - 1
        }
        None => return None,
    };
    Some((k.hash, i))
}

/// The pid of this process, cached (a `getpid` system call costs more than a log call) and
/// forgotten in a forked child.
fn my_pid() -> u32 {
    static PID: AtomicU32 = AtomicU32::new(0);
    static ATFORK: Once = Once::new();
    extern "C" fn forget() {
        // SYNC: Relaxed; the child runs this single-threaded, and the value is only this
        // process's pid or 0 ("read it again").
        PID.store(0, Ordering::Relaxed);
    }
    // SYNC: Relaxed; see `forget`.
    match PID.load(Ordering::Relaxed) {
        0 => {
            ATFORK.call_once(|| {
                // SAFETY: registering a fork handler is always allowed; the handler only stores
                // to an atomic, which is async-signal-safe.
                let rc = unsafe { libc::pthread_atfork(None, None, Some(forget)) };
                debug_assert_eq!(rc, 0);
            });
            let p = std::process::id();
            // SYNC: Relaxed; see `forget`.
            PID.store(p, Ordering::Relaxed);
            p
        }
        p => p,
    }
}

/// `threading.get_ident()` of the calling thread (CPython: `pthread_self()`).
fn my_thread() -> u64 {
    // SAFETY: pthread_self has no preconditions.
    unsafe { libc::pthread_self() as u64 }
}

/// An exact `str` for a record attribute that should be one (`str(v)` otherwise; `None`, as
/// the `funcName` of a record made by hand, without making a new string each time).
fn as_pystr<'py>(v: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyString>> {
    if v.is_exact_instance_of::<PyString>() {
        return Ok(v.cast_into::<PyString>()?);
    }
    if v.is_none() {
        return Ok(intern!(v.py(), "None").clone());
    }
    let s = v.str()?;
    if s.is_exact_instance_of::<PyString>() {
        return Ok(s);
    }
    Ok(PyString::new(v.py(), &s.to_string_lossy()))
}

/// An int (or int subclass) that fits an i64.
fn as_i64(v: &Bound<'_, PyAny>) -> Option<i64> {
    if !v.is_instance_of::<PyInt>() {
        return None;
    }
    match int_value(v)? {
        Slot::I64(i) => Some(i),
        _ => None,
    }
}

/// An int (or int subclass) that fits a u64.
fn as_u64(v: &Bound<'_, PyAny>) -> Option<u64> {
    if !v.is_instance_of::<PyInt>() {
        return None;
    }
    match int_value(v)? {
        Slot::I64(i) => u64::try_from(i).ok(),
        Slot::U64(u) => Some(u),
        _ => None,
    }
}

/// `bool(v)`, without a call for `None`.
fn truthy(v: &Bound<'_, PyAny>) -> PyResult<bool> {
    Ok(!v.is_none() && v.is_truthy()?)
}

/// Reads a record's attributes. Plain `getattr`: on CPython 3.11+ a fresh object keeps its
/// attributes inline and would have to build a `__dict__` first (measured: no faster than
/// `getattr` with interned names, and `getattr` also sees a subclass's properties).
struct Rec<'a, 'py> {
    obj: &'a Bound<'py, PyAny>,
}

impl<'py> Rec<'_, 'py> {
    fn get(&self, key: &Bound<'py, PyString>) -> PyResult<Bound<'py, PyAny>> {
        self.obj.getattr(key)
    }

    /// A missing attribute reads as `None`.
    fn get_opt(&self, key: &Bound<'py, PyString>) -> Bound<'py, PyAny> {
        self.get(key)
            .unwrap_or_else(|_| self.obj.py().None().into_bound(self.obj.py()))
    }
}

/// Encoded size of a string argument (tag, u16 length, bytes).
fn str_len(s: &str) -> usize {
    3 + s.len()
}

/// `text` cut to at most `room` bytes by removing its middle, so that a traceback keeps its
/// first lines and, most importantly, its last ones (the exception and its message).
fn fit(text: &str, room: usize) -> Cow<'_, str> {
    if text.len() <= room {
        return Cow::Borrowed(text);
    }
    let marker_max = 48;
    if room < 2 * marker_max {
        // Too small to be useful cut in the middle: the encoder cuts the end and marks the
        // record truncated.
        return Cow::Borrowed(text);
    }
    let keep = room - marker_max;
    let mut head = keep / 4;
    while !text.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = text.len() - (keep - head);
    while !text.is_char_boundary(tail) {
        tail += 1;
    }
    Cow::Owned(format!(
        "{}\n[... {} bytes cut by ringlog ...]\n{}",
        &text[..head],
        tail - head,
        &text[tail..]
    ))
}

/// A record's fields (see the crate docs), in the order of [`field_names`].
struct Fields<'a, 'py> {
    levelname: Option<Cow<'a, str>>,
    exc_text: Option<Cow<'a, str>>,
    stack_info: Option<Cow<'a, str>>,
    /// `process` and `thread`, for records made elsewhere.
    foreign: Option<(Option<i64>, Option<u64>)>,
    /// `thread`, for a layout that shows it (see [`IDENT`]).
    ident: Option<u64>,
    /// `threadName`, `processName`, `taskName` (each only when the mask has its bit).
    names: [Option<Bound<'py, PyString>>; 3],
    /// The `extra` values.
    extras: Slots<'py>,
}

/// The mask bits of [`Fields::names`], in order.
const NAME_BITS: [usize; 3] = [THREAD_NAME, PROCESS_NAME, TASK_NAME];

impl Fields<'_, '_> {
    fn name_mask(&self) -> usize {
        self.names
            .iter()
            .zip(NAME_BITS)
            .filter(|(n, _)| n.is_some())
            .fold(0, |m, (_, b)| m | b)
    }

    /// Encodes the fields after `used` bytes of arguments, into a record of at most `budget`
    /// payload bytes: a traceback or stack too long for the record loses its middle rather
    /// than its end.
    fn encode(&self, e: &mut Encoder<'_>, used: usize, budget: usize) {
        let mut used = used;
        if let Some(s) = &self.levelname {
            e.str(s);
            used += str_len(s);
        }
        if self.foreign.is_some() {
            used += 2 * 9;
        }
        if self.ident.is_some() {
            used += 9;
        }
        let names: [Option<Cow<'_, str>>; 3] = [0, 1, 2].map(|i| {
            self.names[i].as_ref().map(|s| {
                s.to_str()
                    .map_or_else(|_| s.to_string_lossy(), Cow::Borrowed)
            })
        });
        used += names.iter().flatten().map(|s| str_len(s)).sum::<usize>();
        used += self.extras.encoded_len();
        let room = budget.saturating_sub(used);
        let (exc, stack) = match (&self.exc_text, &self.stack_info) {
            (Some(x), Some(s)) if str_len(x) + str_len(s) > room => {
                let stack_room = (room / 3).min(str_len(s));
                (
                    Some(fit(x, (room - stack_room).saturating_sub(3))),
                    Some(fit(s, stack_room.saturating_sub(3))),
                )
            }
            (x, s) => (
                x.as_deref().map(|x| fit(x, room.saturating_sub(3))),
                s.as_deref().map(|s| fit(s, room.saturating_sub(3))),
            ),
        };
        if let Some(x) = &exc {
            e.str(x);
        }
        if let Some(s) = &stack {
            e.str(s);
        }
        if let Some((process, thread)) = self.foreign {
            match process {
                Some(p) => e.i64(p),
                None => e.none(),
            }
            match thread {
                Some(t) => e.u64(t),
                None => e.none(),
            }
        }
        if let Some(t) = self.ident {
            e.u64(t);
        }
        for n in names.iter().flatten() {
            e.str(n);
        }
        self.extras.encode(e);
    }
}

/// A record attribute that names a thread or process, as a field: `None` for `None` and for
/// `default` (`MainThread`, `MainProcess`: what most records would repeat).
fn name_field<'py>(v: Bound<'py, PyAny>, default: &str) -> PyResult<Option<Bound<'py, PyString>>> {
    if v.is_none() {
        return Ok(None);
    }
    let s = as_pystr(v)?;
    Ok((s.to_str().ok() != Some(default)).then_some(s))
}

/// What the native side needs from the interpreter, looked up once per `Sink`.
struct Interp {
    logging: Py<PyModule>,
    current_thread: Py<PyAny>,
    /// `threading._active` (ident -> `Thread`), if it is a dict.
    active: Option<Py<PyDict>>,
    sys_modules: Py<PyAny>,
    frame_type: Py<PyAny>,
    /// The attributes of a plain `LogRecord` (and those formatters add): the others are
    /// `extra` fields.
    standard: Py<PyFrozenSet>,
    /// `len(LogRecord(...).__dict__)`: a record with no more attributes has no extras.
    standard_len: usize,
    /// Python 3.12 or later: records have `taskName`.
    has_task_name: bool,
    /// Source files whose frames are not the caller's (`logging`'s, `ringlog`'s).
    internal_files: Vec<String>,
}

impl Interp {
    fn new(py: Python<'_>, internal_files: Vec<String>) -> PyResult<Interp> {
        let logging = py.import("logging")?;
        let record = logging.getattr("LogRecord")?.call1((
            "",
            0,
            "",
            0,
            "",
            PyTuple::empty(py),
            py.None(),
        ))?;
        let dict = record.getattr("__dict__")?.cast_into::<PyDict>()?;
        let standard_len = dict.len();
        let keys = PyList::empty(py);
        for k in dict.keys() {
            keys.append(k)?;
        }
        for k in ["message", "asctime", "taskName"] {
            keys.append(k)?;
        }
        let threading = py.import("threading")?;
        Ok(Interp {
            current_thread: threading.getattr("current_thread")?.unbind(),
            active: threading
                .getattr("_active")
                .ok()
                .and_then(|a| a.cast_into::<PyDict>().ok())
                .map(Bound::unbind),
            sys_modules: py.import("sys")?.getattr("modules")?.unbind(),
            frame_type: py.import("types")?.getattr("FrameType")?.unbind(),
            standard: PyFrozenSet::new(py, keys.iter())?.unbind(),
            standard_len,
            has_task_name: py.version_info() >= (3, 12),
            internal_files,
            logging: logging.unbind(),
        })
    }

    /// `logging`'s switch `flag` (`logThreads`...), true if missing.
    fn flag(&self, py: Python<'_>, flag: &Bound<'_, PyString>) -> bool {
        self.logging
            .bind(py)
            .getattr(flag)
            .and_then(|v| v.is_truthy())
            .unwrap_or(true)
    }

    /// The name of the asyncio task running this code, as `LogRecord` finds it (3.12), or
    /// `None`.
    fn task_name<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyString>> {
        let asyncio = self
            .sys_modules
            .bind(py)
            .get_item(intern!(py, "asyncio"))
            .ok()?;
        let running = asyncio
            .call_method0(intern!(py, "_get_running_loop"))
            .ok()?;
        if running.is_none() {
            return None;
        }
        let task = asyncio
            .call_method1(intern!(py, "current_task"), (running,))
            .ok()?;
        if task.is_none() {
            return None;
        }
        let name = task.call_method0(intern!(py, "get_name")).ok()?;
        as_pystr(name).ok()
    }

    /// `threadName`, `processName` and `taskName` of a record made now, by this thread, as
    /// `LogRecord.__init__` sets them.
    fn names_now<'py>(&self, py: Python<'py>) -> PyResult<[Option<Bound<'py, PyString>>; 3]> {
        let thread = if self.flag(py, intern!(py, "logThreads")) {
            name_field(self.thread_name(py)?, "MainThread")?
        } else {
            None
        };
        let process = if self.flag(py, intern!(py, "logMultiprocessing")) {
            match self.process_name(py) {
                Some(n) => name_field(n, "MainProcess")?,
                None => None,
            }
        } else {
            None
        };
        let task = if !self.has_task_name || self.flag(py, intern!(py, "logAsyncioTasks")) {
            self.task_name(py)
        } else {
            None
        };
        Ok([thread, process, task])
    }

    /// `threading.current_thread().name`. What `current_thread()` does, without its two
    /// Python calls (a fifth of the fast path's time): the `Thread` registered for this
    /// thread's ident, and its `_name`, which the `name` property returns.
    fn thread_name<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        if let Some(active) = &self.active {
            if let Ok(Some(t)) = active.bind(py).get_item(my_thread()) {
                if let Ok(name) = t.getattr(intern!(py, "_name")) {
                    return Ok(name);
                }
            }
        }
        let t = self.current_thread.bind(py).call0()?;
        t.getattr(intern!(py, "name"))
    }

    /// `multiprocessing.current_process().name` if `multiprocessing` is imported (what
    /// `LogRecord` does), read as `current_process()` and `name` read it.
    fn process_name<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyAny>> {
        let modules = self.sys_modules.bind(py);
        let mp = modules.get_item(intern!(py, "multiprocessing")).ok()?;
        if let Ok(process) = modules.get_item(intern!(py, "multiprocessing.process")) {
            if let Ok(name) = process
                .getattr(intern!(py, "_current_process"))
                .and_then(|p| p.getattr(intern!(py, "_name")))
            {
                return Some(name);
            }
        }
        mp.call_method0(intern!(py, "current_process"))
            .and_then(|p| p.getattr(intern!(py, "name")))
            .ok()
    }

    /// Whether a frame of code from `file` belongs to `logging` or `ringlog` (what
    /// `logging`'s `findCaller` skips).
    fn is_internal(&self, file: &str) -> bool {
        self.internal_files.iter().any(|f| f == file)
            || (file.contains("importlib") && file.contains("_bootstrap"))
    }

    /// Whether `key` may be an `extra` key (`makeRecord` raises for the others).
    fn is_extra_key(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<bool> {
        Ok(!self.standard.bind(py).contains(key)?)
    }
}

/// An open ring that Python `LogRecord`s are written to.
#[pyclass(frozen, module = "ringlog._native")]
pub struct Sink {
    logger: Logger,
    /// Most payload bytes a record can carry in this ring.
    budget: usize,
    path: String,
    cache: Mutex<Cache>,
    /// `logging.Formatter.formatException` (or the handler's formatter's).
    format_exception: Mutex<Py<PyAny>>,
    interp: Interp,
    /// The control-page generation the Python side last applied (`control_take`); the Python
    /// side's level checks are `logging`'s, so it applies directives set by `ringdrain level`
    /// to `logging`'s levels itself (see `ringlog._control_apply`).
    py_applied: AtomicU64,
    /// How lines are made: ringlog's text line, the handler's Formatter as a layout, or lines
    /// formatted by the caller.
    mode: std::sync::RwLock<Arc<Mode>>,
    /// The layout of finished lines (`%(message)s`).
    verbatim: String,
}

/// How a handler's records become lines (see `Sink::set_layout`).
enum Mode {
    /// No Formatter: the drain writes ringlog's own text line.
    Native,
    /// The Formatter as a line layout the drain renders.
    Layout {
        /// The encoded layout (each callsite carries it).
        text: String,
        /// It shows `thread` (the record carries [`IDENT`]).
        thread: bool,
        /// The `extra` attributes it names: a record without one is formatted by the caller.
        extras: Vec<String>,
    },
    /// A Formatter the drain cannot reproduce: the caller formats every line.
    Caller,
}

#[pymethods]
impl Sink {
    /// Opens (or creates) the ring `ring` (a name under /dev/shm or a path). `policy` is
    /// "block", "drop" or a number of seconds to wait at most. `internal_files`: the source
    /// files whose frames the fast path skips to find the caller (`logging`'s, `ringlog`'s).
    #[new]
    #[pyo3(signature = (ring, policy, format_exception, slot_count=None, slot_size=None, internal_files=Vec::new()))]
    fn new(
        py: Python<'_>,
        ring: &str,
        policy: &Bound<'_, PyAny>,
        format_exception: Py<PyAny>,
        slot_count: Option<u64>,
        slot_size: Option<u32>,
        internal_files: Vec<String>,
    ) -> PyResult<Self> {
        let policy = if let Ok(p) = policy.extract::<String>() {
            match p.as_str() {
                "block" => Policy::Block,
                "drop" => Policy::Drop,
                _ => {
                    return Err(PyValueError::new_err(format!(
                        "policy must be \"block\", \"drop\" or a number of seconds, not {p:?}"
                    )))
                }
            }
        } else {
            let secs: f64 = policy.extract().map_err(|_| {
                PyValueError::new_err("policy must be \"block\", \"drop\" or a number of seconds")
            })?;
            Policy::BlockFor(Duration::try_from_secs_f64(secs).map_err(|e| {
                PyValueError::new_err(format!("policy: {secs} is not a wait time ({e})"))
            })?)
        };
        let mut b = Logger::builder()
            .ring(ring)
            .level(Level::Trace)
            .policy(policy);
        if let Some(n) = slot_count {
            b = b.slot_count(n);
        }
        if let Some(n) = slot_size {
            b = b.slot_size(n);
        }
        let logger = b
            .open()
            .map_err(|e| PyOSError::new_err(format!("ringlog: cannot open ring {ring:?}: {e}")))?;
        Ok(Sink {
            path: logger.segment().path().display().to_string(),
            budget: logger
                .segment()
                .lane(0)
                .ring()
                .max_record_len()
                .min(ringlog::MAX_RECORD)
                .saturating_sub(RECORD_HEADER_LEN),
            logger,
            cache: Mutex::new(Cache::default()),
            format_exception: Mutex::new(format_exception),
            interp: Interp::new(py, internal_files)?,
            mode: std::sync::RwLock::new(Arc::new(Mode::Native)),
            verbatim: line::encode(&line::Settings {
                style: line::Style::Percent,
                fmt: "%(message)s",
                datefmt: None,
                time_format: "%Y",
                msec_format: None,
                zone: line::Zone::Utc,
            })
            .expect("a constant layout"),
            py_applied: AtomicU64::new(0),
        })
    }

    /// The ring's file path.
    #[getter]
    fn path(&self) -> &str {
        &self.path
    }

    /// Sets the function that formats `exc_info` tuples (a formatter's `formatException`).
    fn set_format_exception(&self, f: Py<PyAny>) {
        *self
            .format_exception
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = f;
    }

    /// Records dropped and truncated in the ring so far (all producers).
    fn stats(&self) -> (u64, u64) {
        let s = self.logger.stats();
        (s.dropped, s.truncated)
    }

    /// Whether the ring's control page changed since `control_take` last ran: one Relaxed load
    /// of the page's generation (shared memory) and one of ours.
    fn control_changed(&self) -> bool {
        // SYNC: Relaxed; ours, written under the GIL by `control_take`.
        self.logger.segment().control().generation_relaxed()
            != self.py_applied.load(Ordering::Relaxed)
    }

    /// Reads the control page and marks it applied: `(True, None)` after a reset (or if
    /// nothing was ever set), `(True, (default, [(target, level), ...]))` for directives in
    /// force (level names `off`, `error`, `warn`, `info`, `debug`, `trace`; targets with
    /// `::`), `(False, None)` if there is nothing new to apply (a change being written, or
    /// text that is not valid directives).
    #[allow(clippy::type_complexity)]
    fn control_take(&self) -> (bool, Option<(String, Vec<(String, String)>)>) {
        let control = self.logger.segment().control();
        let seen = control.generation_relaxed();
        let state = match control.read() {
            Ok(s) => s,
            Err(_) => {
                // SYNC: Relaxed; see `control_changed` (a change in progress bumps the
                // generation again when complete).
                self.py_applied.store(seen, Ordering::Relaxed);
                return (false, None);
            }
        };
        // SYNC: Relaxed; see `control_changed`.
        self.py_applied.store(state.generation, Ordering::Relaxed);
        let Some(text) = state.directives else {
            return (true, None);
        };
        let Ok(d) = text.parse::<ringlog::filter::Directives>() else {
            return (false, None);
        };
        // The canonical form: the default level, then `target=level` (longest target first).
        let canonical = d.to_string();
        let mut parts = canonical.split(',');
        let default = parts.next().unwrap_or("error").to_string();
        let targets = parts
            .filter_map(|p| p.rsplit_once('='))
            .map(|(t, l)| (t.to_string(), l.to_string()))
            .collect();
        (true, Some((default, targets)))
    }

    /// Whether a drain is attached with a fresh heartbeat.
    fn drain_alive(&self) -> bool {
        self.logger.drain_alive()
    }

    /// Sets how lines are made from the handler's Formatter. `style` `None`: no Formatter,
    /// ringlog's text line. Else `style` (`"%"`, `"{"` or `"$"`), `fmt`, `datefmt`,
    /// `time_format`/`msec_format` (the Formatter's `default_time_format` and
    /// `default_msec_format`), `utc` (its converter is `time.gmtime`) and `tz` (the process's
    /// `TZ`, if set) become a line layout the drain renders; if the drain cannot render it
    /// exactly, every line is formatted by the caller (`emit` returns false). Returns whether
    /// the drain renders the lines. Callsites registered before are forgotten.
    #[pyo3(signature = (style, fmt="", datefmt=None, time_format="", msec_format=None, utc=false, tz=None))]
    #[allow(clippy::too_many_arguments)]
    fn set_layout(
        &self,
        style: Option<&str>,
        fmt: &str,
        datefmt: Option<&str>,
        time_format: &str,
        msec_format: Option<&str>,
        utc: bool,
        tz: Option<String>,
    ) -> bool {
        let mode = match style {
            None => Mode::Native,
            Some(style) => self.layout_mode(style, fmt, datefmt, time_format, msec_format, utc, tz),
        };
        let drain_renders = !matches!(mode, Mode::Caller);
        self.set_mode(mode);
        drain_renders
    }

    /// Every line is formatted by the caller (a Formatter subclass the drain cannot run):
    /// `emit` returns false for a record until it is given the finished line.
    fn format_on_caller(&self) {
        self.set_mode(Mode::Caller);
    }

    /// Writes `record` (a `logging.LogRecord`) into the ring. Raises what `record.getMessage()`
    /// or an argument's `__str__`/`__repr__` raise, as a `logging` handler's `format` would.
    /// Returns false, having written nothing, when the handler's Formatter must format this
    /// record (see `set_layout`): call again with `line`, the Formatter's finished line.
    #[pyo3(signature = (record, line=None))]
    fn emit(
        &self,
        record: &Bound<'_, PyAny>,
        line: Option<&Bound<'_, PyString>>,
    ) -> PyResult<bool> {
        let py = record.py();
        let mode = self.mode();
        let (layout_thread, layout_extras) = match (&*mode, line) {
            (_, Some(_)) => (false, &[][..]),
            (Mode::Caller, None) => return Ok(false),
            (Mode::Native, None) => (false, &[][..]),
            (Mode::Layout { thread, extras, .. }, None) => (*thread, &extras[..]),
        };
        let rec = Rec { obj: record };
        let levelno = rec.get(intern!(py, "levelno"))?;
        let levelno = match as_i64(&levelno) {
            Some(n) => n,
            None => levelno.extract()?,
        };
        if matches!(*mode, Mode::Layout { .. }) && line.is_none() && needs_levelname(levelno) {
            // A level of the program's own: its name and number are the Formatter's business.
            return Ok(false);
        }
        let key = LocKey::new(
            levelno,
            as_i64(&rec.get_opt(intern!(py, "lineno"))).unwrap_or(0),
            as_pystr(rec.get(intern!(py, "name"))?)?,
            as_pystr(rec.get(intern!(py, "pathname"))?)?,
            as_pystr(rec.get_opt(intern!(py, "funcName")))?,
        )?;

        // Fields.
        let mut mask = if line.is_some() { LINE } else { 0 };
        let exc_info = rec.get_opt(intern!(py, "exc_info"));
        let mut exc_text = rec.get_opt(intern!(py, "exc_text"));
        if line.is_some() {
            // The finished line holds the traceback and the stack.
        } else if truthy(&exc_info)? && !truthy(&exc_text)? {
            // What logging.Formatter.format does: format once, cache on the record.
            let f = self
                .format_exception
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone_ref(py);
            exc_text = f.bind(py).call1((exc_info,))?;
            record.setattr(intern!(py, "exc_text"), &exc_text)?;
        }
        let exc_text = if line.is_none() && truthy(&exc_text)? {
            mask |= EXC;
            Some(as_pystr(exc_text)?)
        } else {
            None
        };
        let stack_info = rec.get_opt(intern!(py, "stack_info"));
        let stack_info = if line.is_none() && truthy(&stack_info)? {
            mask |= STACK;
            Some(as_pystr(stack_info)?)
        } else {
            None
        };
        let process = rec.get_opt(intern!(py, "process"));
        let thread = rec.get_opt(intern!(py, "thread"));
        let process_v = as_i64(&process);
        let thread_v = as_u64(&thread);
        if process_v.is_some_and(|p| p != my_pid() as i64)
            || thread_v.is_some_and(|t| t != my_thread())
        {
            mask |= FOREIGN;
        }
        let task = if self.interp.has_task_name {
            let t = rec.get_opt(intern!(py, "taskName"));
            if t.is_none() {
                None
            } else {
                Some(as_pystr(t)?)
            }
        } else if mask & FOREIGN == 0 {
            // Before 3.12 records have no taskName: the task is the one running now (this
            // record was just made by this thread).
            self.interp.task_name(py)
        } else {
            None
        };
        let names = [
            name_field(rec.get_opt(intern!(py, "threadName")), "MainThread")?,
            name_field(rec.get_opt(intern!(py, "processName")), "MainProcess")?,
            task,
        ];
        let (extra_names, extras) = self.record_extras(record)?;
        if !has_extras(layout_extras, &extra_names) {
            // The Formatter raises for a missing attribute: let it.
            return Ok(false);
        }
        let ident = (layout_thread && mask & FOREIGN == 0).then(|| {
            mask |= IDENT;
            thread_v.unwrap_or_else(my_thread)
        });
        let levelname = if needs_levelname(levelno) {
            Some(as_pystr(rec.get_opt(intern!(py, "levelname")))?)
        } else {
            None
        };
        let fields = Fields {
            levelname: levelname.as_ref().map(|s| s.to_string_lossy()),
            exc_text: exc_text.as_ref().map(|s| s.to_string_lossy()),
            stack_info: stack_info.as_ref().map(|s| s.to_string_lossy()),
            foreign: (mask & FOREIGN != 0).then_some((process_v, thread_v)),
            ident,
            names,
            extras,
        };
        let sig = Sig {
            mask: mask | fields.name_mask(),
            extras: &extra_names,
        };
        let level = level_of(levelno);

        // The message: deferred if possible.
        let msg = rec.get(intern!(py, "msg"))?;
        let args = rec.get(intern!(py, "args"))?;
        let msg_is_str = msg.is_exact_instance_of::<PyString>();
        if msg_is_str {
            if let Ok(tuple) = args.cast::<PyTuple>() {
                if !tuple.is_empty() {
                    let msg = msg.cast::<PyString>()?;
                    let mut slots = Slots::default();
                    if line.is_none() {
                        if let Some(id) = self.deferred(&key, msg, tuple, &sig, &mut slots)? {
                            self.write(py, id, level, &slots, &fields);
                            return Ok(true);
                        }
                    }
                }
            }
        }
        // Formatted here: the message itself when there is nothing to format (what getMessage
        // does), else getMessage(), which raises where Python would.
        let message = if let Some(line) = line {
            line.clone()
        } else if msg_is_str && !args.is_truthy()? {
            msg.cast_into::<PyString>()?
        } else {
            as_pystr(record.call_method0(intern!(py, "getMessage"))?)?
        };
        let id = self.plain_id(&key, &sig);
        self.write_plain(py, id, level, &message, &fields);
        Ok(true)
    }

    /// The fast path of `ringlog.install()`'s loggers: writes the record `logger.log(levelno,
    /// msg, *args, extra=extra)` called from `frame` (`sys._getframe(1)` in the logging
    /// method) would make, without making it. Returns false, having written nothing, when the
    /// record needs the full path: a custom level, a `msg` that is not a `str`, arguments the
    /// drain cannot render, an `extra` that `makeRecord` would reject, a busy or full cache.
    /// Raises what an argument's `__str__`/`__repr__` raise (the caller then takes the full
    /// path, whose handler reports it).
    #[pyo3(signature = (levelno, name, msg, args, frame, extra=None))]
    fn log_fast(
        &self,
        levelno: i64,
        name: &Bound<'_, PyString>,
        msg: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
        frame: &Bound<'_, PyAny>,
        extra: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        let py = msg.py();
        if needs_levelname(levelno) || !msg.is_exact_instance_of::<PyString>() {
            return Ok(false);
        }
        let mode = self.mode();
        let (layout_thread, layout_extras) = match &*mode {
            Mode::Caller => return Ok(false),
            Mode::Native => (false, &[][..]),
            Mode::Layout { thread, extras, .. } => (*thread, &extras[..]),
        };
        let msg = msg.cast::<PyString>()?;
        let mut extra_names = Vec::new();
        let mut extras = Slots::default();
        if let Some(extra) = extra.filter(|e| !e.is_none()) {
            let Ok(extra) = extra.cast::<PyDict>() else {
                return Ok(false);
            };
            for (k, v) in extra.iter() {
                if !k.is_exact_instance_of::<PyString>() || !self.interp.is_extra_key(py, &k)? {
                    return Ok(false);
                }
                extra_names.push(k.cast_into::<PyString>()?);
                extras.push(prep(Hole::Str, v)?.unwrap_or(Slot::None));
            }
        }
        if !has_extras(layout_extras, &extra_names) {
            return Ok(false);
        }
        let ident = layout_thread.then(my_thread);
        let fields = Fields {
            levelname: None,
            exc_text: None,
            stack_info: None,
            foreign: None,
            ident,
            names: self.interp.names_now(py)?,
            extras,
        };
        let sig = Sig {
            mask: fields.name_mask() | if ident.is_some() { IDENT } else { 0 },
            extras: &extra_names,
        };
        let level = level_of(levelno);

        let Ok(mut guard) = self.cache.try_lock() else {
            return Ok(false);
        };
        let Some((h, i)) = self.locate(&mut guard, levelno, name, frame)? else {
            return Ok(false);
        };
        let Cache {
            locs, n_templates, ..
        } = &mut *guard;
        let loc = &mut locs.get_mut(&h).expect("located")[i];
        if args.is_empty() {
            // As getMessage: no `%` processing without arguments.
            let id = self.plain_in(py, loc, &sig);
            drop(guard);
            self.write_plain(py, id, level, msg, &fields);
            return Ok(true);
        }
        let Some((holes, id)) = self.template_in(loc, n_templates, msg, &sig)? else {
            return Ok(false);
        };
        drop(guard);
        if holes.len() != args.len() || id == FAILED {
            return Ok(false);
        }
        let mut slots = Slots::default();
        for (hole, arg) in holes.iter().zip(args.iter()) {
            match prep(*hole, arg)? {
                Some(s) => slots.push(s),
                None => return Ok(false),
            }
        }
        self.write(py, id, level, &slots, &fields);
        Ok(true)
    }
}

/// Whether the record's `extra` names include every one of `needed`.
fn has_extras(needed: &[String], names: &[Bound<'_, PyString>]) -> bool {
    needed.iter().all(|n| {
        names
            .iter()
            .any(|k| k.to_str().is_ok_and(|k| k == n.as_str()))
    })
}

impl Sink {
    fn mode(&self) -> Arc<Mode> {
        self.mode.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Sets the mode and forgets the cached callsites (they carry the old layout).
    fn set_mode(&self, mode: Mode) {
        *self.mode.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(mode);
        // With the GIL held (we have it) no other thread holds the cache: see the crate docs.
        *self.cache.lock().unwrap_or_else(|e| e.into_inner()) = Cache::default();
    }

    #[allow(clippy::too_many_arguments)]
    fn layout_mode(
        &self,
        style: &str,
        fmt: &str,
        datefmt: Option<&str>,
        time_format: &str,
        msec_format: Option<&str>,
        utc: bool,
        tz: Option<String>,
    ) -> Mode {
        let style = match style {
            "%" => line::Style::Percent,
            "{" => line::Style::Brace,
            "$" => line::Style::Dollar,
            _ => return Mode::Caller,
        };
        let zone = match (utc, tz) {
            (true, _) => line::Zone::Utc,
            (false, Some(tz)) => line::Zone::Tz(tz),
            (false, None) => line::Zone::System,
        };
        let Some(text) = line::encode(&line::Settings {
            style,
            fmt,
            datefmt,
            time_format,
            msec_format,
            zone,
        }) else {
            return Mode::Caller;
        };
        let Ok(layout) = Layout::parse(&text) else {
            return Mode::Caller;
        };
        if text.len() > 16_384 || (layout.uses(&Attr::TaskName) && !self.interp.has_task_name) {
            // A record before 3.12 has no taskName: the Formatter raises, let it.
            return Mode::Caller;
        }
        Mode::Layout {
            thread: layout.uses(&Attr::Thread),
            extras: layout.extras().to_vec(),
            text,
        }
    }

    /// Writes a record with deferred arguments.
    fn write(
        &self,
        py: Python<'_>,
        id: u32,
        level: Level,
        slots: &Slots<'_>,
        fields: &Fields<'_, '_>,
    ) {
        let budget = self.budget;
        self.logger.log_with_id_waiting(
            id,
            level,
            |e| {
                slots.encode(e);
                fields.encode(e, e.len(), budget);
            },
            // A full ring: other Python threads run while this one waits for room.
            |wait| py.detach(wait),
        );
    }

    /// Writes a record whose message is formatted (a `%s` callsite).
    fn write_plain(
        &self,
        py: Python<'_>,
        id: u32,
        level: Level,
        message: &Bound<'_, PyString>,
        fields: &Fields<'_, '_>,
    ) {
        let budget = self.budget;
        let message = message.to_string_lossy();
        // A full callsite table gives callsite 0, whose first argument is the message.
        let id = if id == FAILED { 0 } else { id };
        self.logger.log_with_id_waiting(
            id,
            level,
            |e| {
                e.str(&message);
                fields.encode(e, e.len(), budget);
            },
            |wait| py.detach(wait),
        );
    }

    /// The `extra` attributes of `record` (those a plain `LogRecord` lacks), names and
    /// values.
    #[allow(clippy::type_complexity)]
    fn record_extras<'py>(
        &self,
        record: &Bound<'py, PyAny>,
    ) -> PyResult<(Vec<Bound<'py, PyString>>, Slots<'py>)> {
        let py = record.py();
        let mut names = Vec::new();
        let mut values = Slots::default();
        let Ok(dict) = record.getattr(intern!(py, "__dict__")) else {
            return Ok((names, values));
        };
        let Ok(dict) = dict.cast_into::<PyDict>() else {
            return Ok((names, values));
        };
        if dict.len() <= self.interp.standard_len {
            return Ok((names, values));
        }
        for (k, v) in dict.iter() {
            if self.interp.is_extra_key(py, &k)? {
                names.push(as_pystr(k)?);
                values.push(prep(Hole::Str, v)?.unwrap_or(Slot::None));
            }
        }
        Ok((names, values))
    }

    /// The location of the code calling the logger (`frame`, or further out past `logging`'s
    /// and `ringlog`'s own frames) in the cache: `None` if it is full or there is no caller.
    fn locate(
        &self,
        cache: &mut Cache,
        levelno: i64,
        name: &Bound<'_, PyString>,
        frame: &Bound<'_, PyAny>,
    ) -> PyResult<Option<(u64, usize)>> {
        let py = name.py();
        let mut frame = frame.clone();
        loop {
            if !frame.is_exact_instance(self.interp.frame_type.bind(py)) {
                return Ok(None);
            }
            // SAFETY: `frame` is a live frame object (its type was checked just above) and we
            // hold the GIL; PyFrame_GetCode returns a new (non-NULL) reference, which the Bound
            // takes over.
            let code = unsafe {
                Bound::from_owned_ptr(py, ffi::PyFrame_GetCode(frame.as_ptr().cast()).cast())
            };
            // The instruction, not the line: a frame computes its line number by walking the
            // code's line table, which cost more than the rest of this lookup (measured).
            let Some(lasti) = as_i64(&frame.getattr(intern!(py, "f_lasti"))?) else {
                return Ok(None);
            };
            let key = CodeKey {
                code: code.as_ptr() as usize,
                lasti,
                level: levelno,
                name: name.as_ptr() as usize,
            };
            let found = match cache.by_code.get(&key) {
                Some(found) => *found,
                None => {
                    // SAFETY: as above.
                    let line = unsafe { ffi::PyFrame_GetLineNumber(frame.as_ptr().cast()) };
                    let file = as_pystr(code.getattr(intern!(py, "co_filename"))?)?;
                    let found = if self.interp.is_internal(&file.to_string_lossy()) {
                        CodeLoc::Internal
                    } else {
                        let func = as_pystr(code.getattr(intern!(py, "co_name"))?)?;
                        let k = LocKey::new(levelno, line as i64, name.clone(), file, func)?;
                        let Cache { locs, n_locs, .. } = &mut *cache;
                        match find_loc(locs, n_locs, &k) {
                            Some((h, i)) => CodeLoc::At(h, i),
                            None => return Ok(None),
                        }
                    };
                    if cache.by_code.len() < MAX_LOCATIONS {
                        cache.by_code.insert(key, found);
                        cache.keep.push(code.clone().into_any().unbind());
                        cache.keep.push(name.clone().into_any().unbind());
                    }
                    found
                }
            };
            match found {
                CodeLoc::At(h, i) => return Ok(Some((h, i))),
                CodeLoc::Internal => frame = frame.getattr(intern!(py, "f_back"))?,
            }
        }
    }

    /// The template's callsite, with the arguments prepared into `slots`; `None` to format
    /// the message here. (`slots` is the caller's so that it is not moved around.)
    fn deferred<'py>(
        &self,
        key: &LocKey<'py>,
        msg: &Bound<'py, PyString>,
        args: &Bound<'py, PyTuple>,
        sig: &Sig<'_, 'py>,
        slots: &mut Slots<'py>,
    ) -> PyResult<Option<u32>> {
        let found = match self.cache.try_lock() {
            Ok(mut guard) => {
                let Cache {
                    locs,
                    n_locs,
                    n_templates,
                    ..
                } = &mut *guard;
                match find_loc(locs, n_locs, key) {
                    Some((h, i)) => {
                        let loc = &mut locs.get_mut(&h).expect("found")[i];
                        self.template_in(loc, n_templates, msg, sig)?
                    }
                    None => self.template_uncached(key, msg, sig),
                }
            }
            Err(_) => self.template_uncached(key, msg, sig),
        };
        let Some((holes, id)) = found else {
            return Ok(None);
        };
        if holes.len() != args.len() || id == FAILED {
            return Ok(None);
        }
        for (hole, arg) in holes.iter().zip(args.iter()) {
            match prep(*hole, arg)? {
                Some(s) => slots.push(s),
                None => return Ok(None),
            }
        }
        Ok(Some(id))
    }

    /// The template's holes and callsite id at `loc` (registered on first use); `None` if the
    /// drain cannot render the template.
    fn template_in(
        &self,
        loc: &mut Loc,
        n_templates: &mut usize,
        msg: &Bound<'_, PyString>,
        sig: &Sig<'_, '_>,
    ) -> PyResult<Option<(Arc<[Hole]>, u32)>> {
        let hash = msg.hash()?;
        let py = msg.py();
        let i = match loc
            .templates
            .iter()
            .position(|t| t.hash == hash && same_str(t.msg.bind(py), msg))
        {
            Some(i) => i,
            None if *n_templates < MAX_TEMPLATES
                && loc.templates.len() < MAX_TEMPLATES_PER_LOCATION =>
            {
                loc.templates.push(Tmpl {
                    hash,
                    msg: msg.clone().unbind(),
                    holes: msg.to_str().ok().and_then(plan_holes),
                    ids: Vec::new(),
                });
                *n_templates += 1;
                loc.templates.len() - 1
            }
            // Too many templates at one location: they are built at run time; format them
            // here rather than fill the segment's callsite table with them.
            None => return Ok(None),
        };
        let Some(holes) = loc.templates[i].holes.clone() else {
            return Ok(None);
        };
        let id = match find_variant(&loc.templates[i].ids, sig) {
            Some(id) => id,
            None => {
                let id = self.register(&loc.place(py), &msg.to_string_lossy(), sig);
                add_variant(&mut loc.templates[i].ids, sig, id);
                id
            }
        };
        Ok(Some((holes, id)))
    }

    fn template_uncached(
        &self,
        key: &LocKey<'_>,
        msg: &Bound<'_, PyString>,
        sig: &Sig<'_, '_>,
    ) -> Option<(Arc<[Hole]>, u32)> {
        let holes = plan_holes(msg.to_str().ok()?)?;
        let id = self.register(&key.place(), &msg.to_string_lossy(), sig);
        Some((holes, id))
    }

    /// The `%s` callsite at `loc` (for messages formatted here).
    fn plain_in(&self, py: Python<'_>, loc: &mut Loc, sig: &Sig<'_, '_>) -> u32 {
        match find_variant(&loc.plain, sig) {
            Some(id) => id,
            None => {
                let id = self.register(&loc.place(py), "%s", sig);
                add_variant(&mut loc.plain, sig, id);
                id
            }
        }
    }

    /// The location's `%s` callsite (for messages formatted here).
    fn plain_id(&self, key: &LocKey<'_>, sig: &Sig<'_, '_>) -> u32 {
        if let Ok(mut guard) = self.cache.try_lock() {
            let Cache { locs, n_locs, .. } = &mut *guard;
            if let Some((h, i)) = find_loc(locs, n_locs, key) {
                return self.plain_in(key.name.py(), &mut locs.get_mut(&h).expect("found")[i], sig);
            }
        }
        self.register(&key.place(), "%s", sig)
    }

    fn register(&self, place: &Place<'_>, format: &str, sig: &Sig<'_, '_>) -> u32 {
        let extras: Vec<Cow<'_, str>> = sig.extras.iter().map(|s| s.to_string_lossy()).collect();
        let mode = self.mode();
        let layout = match &*mode {
            _ if sig.mask & LINE != 0 => &self.verbatim,
            Mode::Layout { text, .. } => text.as_str(),
            Mode::Native | Mode::Caller => "",
        };
        let desc = CallsiteDesc {
            level: level_of(place.levelno),
            style: FormatStyle::Percent,
            line: u32::try_from(place.lineno).unwrap_or(0),
            target: &place.name,
            // Python callsites keep the function name (`funcName`) where Rust ones keep the
            // module path: the module is the file's stem, already in `file`.
            module: &place.func,
            file: &place.path,
            format,
            fields: field_names(needs_levelname(place.levelno), sig.mask, &extras),
            layout,
        };
        match self.logger.register_callsite(&desc) {
            Ok(id) if id < FAILED => id,
            _ => FAILED,
        }
    }
}

/// The callsite of `sig` among `variants`, if registered.
fn find_variant(variants: &[Variant], sig: &Sig<'_, '_>) -> Option<u32> {
    variants.iter().find(|v| v.is(sig)).map(|v| v.id)
}

/// Caches `id` (even a failed registration, so that it is not retried on every call) as the
/// callsite of `sig`, if there is room.
fn add_variant(variants: &mut Vec<Variant>, sig: &Sig<'_, '_>, id: u32) {
    if variants.len() < MAX_VARIANTS {
        variants.push(Variant {
            mask: sig.mask,
            extras: sig.extras.iter().map(|s| s.clone().unbind()).collect(),
            id,
        });
    }
}

/// Renders `template % args` the way a record would reach the log file: the producer's
/// argument handling, the binary encoding and the drain's rendering, without a ring. `None`
/// where the producer would format the message itself (`template % args` in Python).
#[pyfunction]
fn format_percent(
    template: &Bound<'_, PyString>,
    args: &Bound<'_, PyTuple>,
) -> PyResult<Option<String>> {
    let t = template.to_str()?;
    let Some(holes) = plan_holes(t) else {
        return Ok(None);
    };
    if holes.len() != args.len() {
        return Ok(None);
    }
    let mut slots = Slots::default();
    for (hole, arg) in holes.iter().zip(args.iter()) {
        match prep(*hole, arg)? {
            Some(s) => slots.push(s),
            None => return Ok(None),
        }
    }
    let mut buf = vec![MaybeUninit::uninit(); 1 << 20];
    let mut enc = Encoder::new(&mut buf);
    slots.encode(&mut enc);
    if enc.truncated() {
        return Err(PyValueError::new_err("arguments too large"));
    }
    let decoded: Vec<_> = Args::new(enc.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    let mut out = String::new();
    Template::parse(FormatStyle::Percent, t).render(&mut out, &decoded);
    Ok(Some(out))
}

/// Runs the `ringdrain` command line (`args`: the arguments after the program name) and
/// returns its exit status; the `ringdrain` command of the Python package. The GIL is released
/// while the drain runs.
#[pyfunction]
fn drain_main(py: Python<'_>, args: Vec<std::ffi::OsString>) -> i32 {
    py.detach(|| ringdrain::main_with_args(args))
}

/// The `ringlog._native` module.
#[pymodule(name = "_native")]
fn native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Sink>()?;
    m.add_function(wrap_pyfunction!(format_percent, m)?)?;
    m.add_function(wrap_pyfunction!(drain_main, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
