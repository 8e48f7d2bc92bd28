//! The native half of the `ringlog` Python package (`ringlog._native`): turns a
//! `logging.LogRecord` into a binary ringlog record, so that Python processes log into the same
//! shared-memory ring as Rust services and `ringdrain` formats the message later.
//!
//! | item | what it is |
//! |---|---|
//! | [`Sink`] | one open ring; `emit(record)` writes a record (`ringlog.Handler` wraps it) |
//! | [`format_percent`] | the producer's argument handling plus the drain's rendering, without a ring (tests) |
//!
//! # What a record becomes
//!
//! * **Deferred formatting.** A record whose `msg` is a `str` and whose `args` is a non-empty
//!   tuple sends `msg` as a [`FormatStyle::Percent`] callsite (registered once per level, logger
//!   name, path, line, function and template, and cached per process) and its arguments in binary:
//!   `int` (as i64/u64), `float`, `bool`, `str`, `bytes`, `None`. The template's holes are parsed
//!   once ([`pyfmt::holes`]) and decide, per position, what the producer must do itself: `str()`,
//!   `repr()` or `ascii()` of other objects (sent as preformatted strings), `repr()` of a
//!   non-ASCII `str` under `%r`. The drain renders with [`pyfmt`], exactly as `%` does.
//! * **Fallback.** Anything else (a non-`str` message, mapping arguments, `*` widths, `%c`, an
//!   argument `%` would reject, an int beyond 64 bits under `%d`) calls `record.getMessage()` here
//!   and sends the result through a `%s` callsite of the same location, so Python raises exactly
//!   where it would have (and `logging.Handler.handleError` reports it). A record without
//!   arguments sends `msg` itself the same way (no `%` processing, as `getMessage` does).
//! * **Fields.** `exc_text` (the traceback, formatted here by the handler's formatter and cached on
//!   the record as `logging.Formatter.format` does), `stack_info`, `levelname` for levels other
//!   than DEBUG/INFO/WARNING/ERROR (CRITICAL is written as ringlog's ERROR), and `process` and
//!   `thread` when the record was made in another process or thread (a forwarded record).
//!
//! # Locks and fork
//!
//! Everything runs with the GIL held and never releases it, so no Python thread can fork while a
//! `Sink` is mid-call. The per-process callsite cache is behind a `Mutex` that is only ever
//! `try_lock`ed: if it were somehow held (a `str` subclass's `__eq__` re-entering logging), the
//! call goes the uncached way instead of waiting, so it can never deadlock, before or after a
//! fork. The ring itself is lock-free and survives `fork()` (see the `ringlog` crate).
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks, missing_docs)]

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyFloat, PyInt, PyString, PyTuple};
use pyo3::{ffi, intern};
use ringlog::{Encoder, Level, Logger, Policy};
use ringlog_wire::args::Args;
use ringlog_wire::callsite::{CallsiteDesc, FormatStyle};
use ringlog_wire::decode::Template;
use ringlog_wire::pyfmt::{self, Conv};
use ringlog_wire::record::RECORD_HEADER_LEN;

/// Field bit: the record carries `exc_text`.
const EXC: usize = 1;
/// Field bit: the record carries `stack_info`.
const STACK: usize = 2;
/// Field bit: the record carries `process` and `thread` (made elsewhere).
const FOREIGN: usize = 4;
/// Combinations of the field bits: one callsite each per template.
const VARIANTS: usize = 8;

/// Callsite id not registered yet.
const UNSET: u32 = u32::MAX;
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

    fn encode(&self, e: &mut Encoder<'_>) {
        for s in self.inline.iter().flatten().chain(self.heap.iter()) {
            s.encode(e);
        }
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

/// Python level number to ringlog level (CRITICAL and above are ERROR).
fn level_of(levelno: i64) -> Level {
    match levelno {
        n if n >= 40 => Level::Error,
        n if n >= 30 => Level::Warn,
        n if n >= 20 => Level::Info,
        n if n >= 10 => Level::Debug,
        _ => Level::Trace,
    }
}

/// Whether a record of this level also carries its `levelname` (ringlog's five levels do not
/// distinguish CRITICAL or custom levels).
fn needs_levelname(levelno: i64) -> bool {
    !matches!(levelno, 10 | 20 | 30 | 40)
}

/// The field names of a callsite, in the order `emit` encodes them.
fn field_names(levelname: bool, mask: usize) -> Vec<&'static str> {
    let mut f = Vec::with_capacity(5);
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

/// A record's location: what a callsite has besides its template.
struct LocKey<'py> {
    levelno: i64,
    lineno: i64,
    name: Bound<'py, PyString>,
    path: Bound<'py, PyString>,
    func: Bound<'py, PyString>,
    hash: u64,
}

struct Loc {
    levelno: i64,
    lineno: i64,
    name: Py<PyString>,
    path: Py<PyString>,
    func: Py<PyString>,
    /// The `%s` callsite per field variant (messages formatted here).
    plain: [u32; VARIANTS],
    templates: Vec<Tmpl>,
}

struct Tmpl {
    hash: isize,
    msg: Py<PyString>,
    /// `None`: a template the drain cannot render (format here).
    holes: Option<Arc<[Hole]>>,
    /// The template's callsite per field variant.
    ids: [u32; VARIANTS],
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
}

/// The per-process callsite cache.
#[derive(Default)]
struct Cache {
    locs: HashMap<u64, Vec<Loc>, BuildHasherDefault<PreHashed>>,
    n_locs: usize,
    n_templates: usize,
}

/// The location's entry in `locs`, inserted if there is room.
fn find_loc<'c>(
    locs: &'c mut HashMap<u64, Vec<Loc>, BuildHasherDefault<PreHashed>>,
    n_locs: &mut usize,
    k: &LocKey<'_>,
) -> Option<&'c mut Loc> {
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
                plain: [UNSET; VARIANTS],
                templates: Vec::new(),
            });
            *n_locs += 1;
            bucket.len() - 1
        }
        None => return None,
    };
    Some(&mut bucket[i])
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
struct Fields<'a> {
    levelname: Option<Cow<'a, str>>,
    exc_text: Option<Cow<'a, str>>,
    stack_info: Option<Cow<'a, str>>,
    /// `process` and `thread`, for records made elsewhere.
    foreign: Option<(Option<i64>, Option<u64>)>,
}

impl Fields<'_> {
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
}

#[pymethods]
impl Sink {
    /// Opens (or creates) the ring `ring` (a name under /dev/shm or a path). `policy` is
    /// "block", "drop" or a number of seconds to wait at most.
    #[new]
    #[pyo3(signature = (ring, policy, format_exception, slot_count=None, slot_size=None))]
    fn new(
        ring: &str,
        policy: &Bound<'_, PyAny>,
        format_exception: Py<PyAny>,
        slot_count: Option<u64>,
        slot_size: Option<u32>,
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
                .ring()
                .max_record_len()
                .min(ringlog::MAX_RECORD)
                .saturating_sub(RECORD_HEADER_LEN),
            logger,
            cache: Mutex::new(Cache::default()),
            format_exception: Mutex::new(format_exception),
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

    /// Whether a drain is attached with a fresh heartbeat.
    fn drain_alive(&self) -> bool {
        self.logger.drain_alive()
    }

    /// Writes `record` (a `logging.LogRecord`) into the ring. Raises what `record.getMessage()`
    /// or an argument's `__str__`/`__repr__` raise, as a `logging` handler's `format` would.
    fn emit(&self, record: &Bound<'_, PyAny>) -> PyResult<()> {
        let py = record.py();
        let rec = Rec { obj: record };
        let levelno = rec.get(intern!(py, "levelno"))?;
        let levelno = match as_i64(&levelno) {
            Some(n) => n,
            None => levelno.extract()?,
        };
        let key = {
            let lineno = as_i64(&rec.get_opt(intern!(py, "lineno"))).unwrap_or(0);
            let name = as_pystr(rec.get(intern!(py, "name"))?)?;
            let path = as_pystr(rec.get(intern!(py, "pathname"))?)?;
            let func = as_pystr(rec.get_opt(intern!(py, "funcName")))?;
            let mut h = (name.hash()? as u64).rotate_left(5) ^ path.hash()? as u64;
            h = h.rotate_left(5) ^ func.hash()? as u64;
            h = h.rotate_left(5) ^ lineno as u64;
            h = (h.rotate_left(5) ^ levelno as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            LocKey {
                levelno,
                lineno,
                name,
                path,
                func,
                hash: h,
            }
        };

        // Fields.
        let mut mask = 0;
        let exc_info = rec.get_opt(intern!(py, "exc_info"));
        let mut exc_text = rec.get_opt(intern!(py, "exc_text"));
        if truthy(&exc_info)? && !truthy(&exc_text)? {
            // What logging.Formatter.format does: format once, cache on the record.
            let f = self
                .format_exception
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone_ref(py);
            exc_text = f.bind(py).call1((exc_info,))?;
            record.setattr(intern!(py, "exc_text"), &exc_text)?;
        }
        let exc_text = if truthy(&exc_text)? {
            mask |= EXC;
            Some(as_pystr(exc_text)?)
        } else {
            None
        };
        let stack_info = rec.get_opt(intern!(py, "stack_info"));
        let stack_info = if truthy(&stack_info)? {
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
        let levelname = if needs_levelname(levelno) {
            Some(as_pystr(rec.get_opt(intern!(py, "levelname")))?)
        } else {
            None
        };
        let level = level_of(levelno);
        let fields = Fields {
            levelname: levelname.as_ref().map(|s| s.to_string_lossy()),
            exc_text: exc_text.as_ref().map(|s| s.to_string_lossy()),
            stack_info: stack_info.as_ref().map(|s| s.to_string_lossy()),
            foreign: (mask & FOREIGN != 0).then_some((process_v, thread_v)),
        };
        let budget = self.budget;

        // The message: deferred if possible.
        let msg = rec.get(intern!(py, "msg"))?;
        let args = rec.get(intern!(py, "args"))?;
        let msg_is_str = msg.is_exact_instance_of::<PyString>();
        if msg_is_str {
            if let Ok(tuple) = args.cast::<PyTuple>() {
                if !tuple.is_empty() {
                    let msg = msg.cast::<PyString>()?;
                    let mut slots = Slots::default();
                    if let Some(id) = self.deferred(&key, msg, tuple, mask, &mut slots)? {
                        self.logger.log_with_id(id, level, |e| {
                            slots.encode(e);
                            fields.encode(e, e.len(), budget);
                        });
                        return Ok(());
                    }
                }
            }
        }
        // Formatted here: the message itself when there is nothing to format (what getMessage
        // does), else getMessage(), which raises where Python would.
        let message = if msg_is_str && !args.is_truthy()? {
            msg.cast_into::<PyString>()?
        } else {
            as_pystr(record.call_method0(intern!(py, "getMessage"))?)?
        };
        let message = message.to_string_lossy();
        let id = self.plain_id(&key, mask);
        // A full callsite table gives callsite 0, whose first argument is the message.
        let id = if id == FAILED { 0 } else { id };
        self.logger.log_with_id(id, level, |e| {
            e.str(&message);
            fields.encode(e, e.len(), budget);
        });
        Ok(())
    }
}

impl Sink {
    /// The template's callsite, with the arguments prepared into `slots`; `None` to format
    /// the message here. (`slots` is the caller's so that it is not moved around.)
    fn deferred<'py>(
        &self,
        key: &LocKey<'py>,
        msg: &Bound<'py, PyString>,
        args: &Bound<'py, PyTuple>,
        mask: usize,
        slots: &mut Slots<'py>,
    ) -> PyResult<Option<u32>> {
        let Some((holes, id)) = self.template(key, msg, mask)? else {
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

    /// The template's holes and callsite id (registered on first use); `None` if the drain
    /// cannot render the template.
    fn template(
        &self,
        key: &LocKey<'_>,
        msg: &Bound<'_, PyString>,
        mask: usize,
    ) -> PyResult<Option<(Arc<[Hole]>, u32)>> {
        let hash = msg.hash()?;
        let Ok(mut guard) = self.cache.try_lock() else {
            return Ok(self.template_uncached(key, msg, mask));
        };
        let Cache {
            locs,
            n_locs,
            n_templates,
        } = &mut *guard;
        let Some(loc) = find_loc(locs, n_locs, key) else {
            return Ok(self.template_uncached(key, msg, mask));
        };
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
                    ids: [UNSET; VARIANTS],
                });
                *n_templates += 1;
                loc.templates.len() - 1
            }
            // Too many templates at one location: they are built at run time; format them
            // here rather than fill the segment's callsite table with them.
            None => return Ok(None),
        };
        let t = &mut loc.templates[i];
        let Some(holes) = t.holes.clone() else {
            return Ok(None);
        };
        if t.ids[mask] == UNSET {
            t.ids[mask] = self.register(key, FormatStyle::Percent, &msg.to_string_lossy(), mask);
        }
        Ok(Some((holes, t.ids[mask])))
    }

    fn template_uncached(
        &self,
        key: &LocKey<'_>,
        msg: &Bound<'_, PyString>,
        mask: usize,
    ) -> Option<(Arc<[Hole]>, u32)> {
        let holes = plan_holes(msg.to_str().ok()?)?;
        let id = self.register(key, FormatStyle::Percent, &msg.to_string_lossy(), mask);
        Some((holes, id))
    }

    /// The location's `%s` callsite (for messages formatted here).
    fn plain_id(&self, key: &LocKey<'_>, mask: usize) -> u32 {
        if let Ok(mut guard) = self.cache.try_lock() {
            let Cache { locs, n_locs, .. } = &mut *guard;
            if let Some(loc) = find_loc(locs, n_locs, key) {
                if loc.plain[mask] == UNSET {
                    loc.plain[mask] = self.register(key, FormatStyle::Percent, "%s", mask);
                }
                return loc.plain[mask];
            }
        }
        self.register(key, FormatStyle::Percent, "%s", mask)
    }

    fn register(&self, key: &LocKey<'_>, style: FormatStyle, format: &str, mask: usize) -> u32 {
        let (name, path, func) = (
            key.name.to_string_lossy(),
            key.path.to_string_lossy(),
            key.func.to_string_lossy(),
        );
        let desc = CallsiteDesc {
            level: level_of(key.levelno),
            style,
            line: u32::try_from(key.lineno).unwrap_or(0),
            target: &name,
            // Python callsites keep the function name (`funcName`) where Rust ones keep the
            // module path: the module is the file's stem, already in `file`.
            module: &func,
            file: &path,
            format,
            fields: field_names(needs_levelname(key.levelno), mask),
        };
        match self.logger.register_callsite(&desc) {
            Ok(id) if id < FAILED => id,
            _ => FAILED,
        }
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

/// The `ringlog._native` module.
#[pymodule(name = "_native")]
fn native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Sink>()?;
    m.add_function(wrap_pyfunction!(format_percent, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
