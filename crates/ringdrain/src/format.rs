//! Formatting records into output lines: text, JSON and logfmt.
//!
//! One record is one line, always: control characters inside messages and values are escaped,
//! so a hostile or careless argument can never forge or split lines. The formatter allocates
//! nothing per record: it writes into the caller's batch buffer, keeps the formatted date of the
//! current second and only rewrites the nanosecond digits, and decodes arguments onto the stack.
//!
//! Every record and notice is first a [`RecordView`] (ringlog-wire's one decoded view: message,
//! named fields, problems), and every output is an [`Encoder`] of that view
//! ([`crate::encode`]): the text, JSON and logfmt lines here ([`LineEncoder`]), RFC 5424
//! syslog ([`crate::syslog`]), OTLP ([`crate::otlp`]) and the binary archive
//! ([`crate::archive`]). [`Formatter`] bundles a line encoder with the decoding step for tools
//! and tests.

use std::borrow::Cow;
use std::sync::OnceLock;

use ringlog_segment::reader::CallsiteInfo;
use ringlog_wire::args::Arg;
use ringlog_wire::clock::Calibration;
use ringlog_wire::decode::{extend_small, write_display, Out, PlainPiece, RecordRef, DIGIT_PAIRS};
use ringlog_wire::record::Level;
use ringlog_wire::view::{ArgBuf, Callsite, RecordView};

use crate::encode::{Encoder, Item};

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// `2026-11-25T23:18:53.123456789Z INFO  [pid:tid] target: message k=v`
    #[default]
    Text,
    /// One JSON object per line: ts, level, pid, tid, target, msg, file, line, fields.
    Json,
    /// `ts=... level=info pid=1 tid=2 target=app msg="..." k=v`
    Logfmt,
    /// The binary archive (`ringdrain decode` renders it): checksummed chunks of records with
    /// the callsites they use.
    // (Its layout: the `archive` module's docs.)
    Binary,
}

/// A borrowed field value for the drain's own notices.
#[derive(Debug, Clone, Copy)]
pub enum NoticeValue<'a> {
    /// A number.
    U64(u64),
    /// A string.
    Str(&'a str),
}

/// A record or notice as the network encoders see it: its [`RecordView`] with the message
/// rendered (problems appended as ` [ringlog: ...]`) and the fields named.
#[derive(Debug)]
pub(crate) struct Entry<'a> {
    pub unix_ns: i64,
    pub level: Level,
    pub pid: u32,
    pub tid: u32,
    pub target: &'a str,
    pub file: &'a str,
    pub line: u32,
    /// The message, with any `[ringlog: ...]` problem markers.
    pub message: &'a str,
    pub fields: &'a [(Cow<'a, str>, Arg<'a>)],
}

/// Calls `f` with `view` as an [`Entry`] (the network encoders' shape).
pub(crate) fn with_entry(view: &RecordView<'_>, f: impl FnOnce(&Entry<'_>)) {
    let mut message = String::new();
    view.message(&mut message);
    view.problems(|p| {
        message.push_str(" [ringlog: ");
        message.push_str(p);
        message.push(']');
    });
    let mut fields: Vec<(Cow<'_, str>, Arg<'_>)> = Vec::new();
    view.for_each_field(|k, v| fields.push((Cow::Owned(k.to_string()), *v)));
    let (file, line) = view.location();
    f(&Entry {
        unix_ns: view.unix_ns,
        level: view.level,
        pid: view.pid,
        tid: view.tid,
        target: view.target(),
        file,
        line,
        message: &message,
        fields: &fields,
    })
}

/// RFC 3339 UTC timestamps, with the `YYYY-MM-DDTHH:MM:SS.` of the current second cached so
/// only the fraction is written per record.
#[derive(Debug, Clone)]
pub struct Timestamps {
    /// Unix second whose prefix is cached.
    sec: i64,
    prefix: [u8; 20],
    prefix_ok: bool,
}

impl Default for Timestamps {
    fn default() -> Self {
        Timestamps {
            sec: i64::MIN,
            prefix: [0; 20],
            prefix_ok: false,
        }
    }
}

impl Timestamps {
    /// Writes an RFC 3339 UTC timestamp with nanoseconds (`@NANOS` outside years 0..=9999).
    pub fn write(&mut self, out: &mut Vec<u8>, unix_ns: i64) {
        match self.stamp(unix_ns) {
            // A fixed-size copy: a few moves, no call.
            Some(stamp) => out.extend_from_slice(&stamp),
            // Out of the calendar's range (a damaged timestamp): print the raw nanoseconds.
            None => {
                out.extend_from_slice(b"@");
                out.extend_from_slice(itoa::Buffer::new().format(unix_ns).as_bytes());
            }
        }
    }

    /// Writes an RFC 3339 UTC timestamp with `digits` (1..=9) fractional digits, truncated;
    /// writes nothing and returns false if the time is outside years 0000..=9999.
    pub fn write_frac(&mut self, out: &mut Vec<u8>, unix_ns: i64, digits: usize) -> bool {
        let Some(mut stamp) = self.stamp(unix_ns) else {
            return false;
        };
        let digits = digits.clamp(1, 9);
        stamp[20 + digits] = b'Z';
        out.extend_from_slice(&stamp[..21 + digits]);
        true
    }

    /// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` for `unix_ns`, or `None` outside years 0000..=9999.
    #[inline]
    fn stamp(&mut self, unix_ns: i64) -> Option<[u8; 30]> {
        let sec = unix_ns.div_euclid(1_000_000_000);
        let nanos = unix_ns.rem_euclid(1_000_000_000) as u32;
        if sec != self.sec {
            self.new_second(sec);
        }
        if !self.prefix_ok {
            return None;
        }
        // Prefix, fraction and `Z`: two digits at a time from a table.
        let mut buf = [0u8; 30];
        buf[..20].copy_from_slice(&self.prefix);
        let mut n = nanos;
        let frac = &mut buf[20..29];
        frac[8] = b'0' + (n % 10) as u8;
        n /= 10;
        for i in (0..4).rev() {
            let d = (n % 100) as usize * 2;
            frac[2 * i..2 * i + 2].copy_from_slice(&DIGIT_PAIRS[d..d + 2]);
            n /= 100;
        }
        buf[29] = b'Z';
        Some(buf)
    }

    /// Caches the prefix of second `sec` (once a second: out of line).
    #[cold]
    fn new_second(&mut self, sec: i64) {
        self.sec = sec;
        self.prefix_ok = false;
        if let Ok(ts) = jiff::Timestamp::from_second(sec) {
            let s = ts.strftime("%Y-%m-%dT%H:%M:%S.").to_string();
            if s.len() == 20 {
                self.prefix.copy_from_slice(s.as_bytes());
                self.prefix_ok = true;
            }
        }
    }
}

/// Slots in a [`Heads`] cache (a power of two).
const HEADS: usize = 64;

/// The bytes a line has between its timestamp and its message (text: ` INFO  [pid:tid]
/// target: `; logfmt: ` level=info pid=1 tid=2 target=app`; JSON: `,"level":"info",...,
/// "target":"app"`), kept for the (level, pid, tid, target) combinations seen recently, so a
/// record from a thread and callsite seen before copies them in one go instead of formatting
/// two numbers and scanning the target for characters to escape. Direct-mapped: a slot is
/// picked by a hash of the key and holds the last key that landed there; a hit compares the
/// whole key (the target by content), so the bytes are always those the head function writes.
/// JSON keeps a second one for `"file"` and `"line"` ([`json_location`]) of records without a
/// callsite (a callsite keeps its own with its render plans).
#[derive(Debug)]
struct Heads {
    slots: Vec<Head>,
}

#[derive(Debug, Default)]
struct Head {
    used: bool,
    level: u8,
    pid: u32,
    tid: u32,
    target: String,
    bytes: Vec<u8>,
}

impl Default for Heads {
    fn default() -> Self {
        Heads {
            slots: (0..HEADS).map(|_| Head::default()).collect(),
        }
    }
}

impl Heads {
    /// Appends what `render(out, level, pid, tid, target)` appends, from the cache when it can.
    #[inline]
    fn write(
        &mut self,
        out: &mut Vec<u8>,
        (level, pid, tid, target): (Level, u32, u32, &str),
        render: fn(&mut Vec<u8>, Level, u32, u32, &str),
    ) {
        let key = (u64::from(pid) << 32 | u64::from(tid))
            ^ (target.as_ptr() as u64).rotate_left(17)
            ^ target.len() as u64
            ^ level as u64;
        let i = (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - HEADS.trailing_zeros())) as usize;
        let Some(head) = self.slots.get_mut(i) else {
            return render(out, level, pid, tid, target);
        };
        if !(head.used
            && head.pid == pid
            && head.tid == tid
            && head.level == level as u8
            && same_bytes(head.target.as_bytes(), target.as_bytes()))
        {
            head.fill(level, pid, tid, target, render);
        }
        extend_small(out, &head.bytes);
    }
}

/// `a == b`, with up to 32 bytes (a target) compared as two overlapping fixed-size words
/// inline instead of a `memcmp` call.
#[inline]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    /// The first and the last `W` bytes of two slices of the same length `n >= W`.
    #[inline(always)]
    fn ends<const W: usize>(a: &[u8], b: &[u8]) -> bool {
        let n = a.len();
        let word =
            |s: &[u8], at: usize| s.get(at..at + W).and_then(|w| <[u8; W]>::try_from(w).ok());
        word(a, 0) == word(b, 0) && word(a, n - W) == word(b, n - W)
    }
    if a.len() != b.len() {
        return false;
    }
    match a.len() {
        4..=7 => ends::<4>(a, b),
        8..=16 => ends::<8>(a, b),
        17..=32 => ends::<16>(a, b),
        _ => a == b,
    }
}

impl Head {
    #[cold]
    fn fill(
        &mut self,
        level: Level,
        pid: u32,
        tid: u32,
        target: &str,
        render: fn(&mut Vec<u8>, Level, u32, u32, &str),
    ) {
        self.used = true;
        self.level = level as u8;
        self.pid = pid;
        self.tid = tid;
        self.target.clear();
        self.target.push_str(target);
        self.bytes.clear();
        render(&mut self.bytes, level, pid, tid, target);
    }
}

/// Formats records and notices as lines (or, for [`Format::Binary`], archive entries): a
/// convenience over [`crate::encode::encoder`] that also decodes and converts times, for tools,
/// tests and benches. The drain itself builds each view once and hands it to every output's
/// encoder.
#[derive(Debug)]
pub struct Formatter {
    encoder: Box<dyn Encoder>,
    format: Format,
    calibration: Calibration,
    ts: Timestamps,
    /// Pid shown on the drain's own notices.
    notice_pid: u32,
}

impl Formatter {
    /// A formatter converting timestamps with `calibration`.
    pub fn new(format: Format, calibration: Calibration) -> Self {
        Formatter {
            encoder: crate::encode::encoder(format),
            format,
            calibration,
            ts: Timestamps::default(),
            notice_pid: std::process::id(),
        }
    }

    /// Sets the pid shown on notices (default: this process).
    pub fn set_notice_pid(&mut self, pid: u32) {
        self.notice_pid = pid;
    }

    /// The format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Replaces the clock calibration (the drain re-anchors it periodically).
    pub fn set_calibration(&mut self, c: Calibration) {
        self.calibration = c;
    }

    /// The calibration in use.
    pub fn calibration(&self) -> Calibration {
        self.calibration
    }

    /// Writes an RFC 3339 UTC timestamp with nanoseconds.
    pub fn write_ts(&mut self, out: &mut Vec<u8>, unix_ns: i64) {
        self.ts.write(out, unix_ns)
    }

    /// Formats one record as one line (with its newline) appended to `out`; returns the
    /// record's Unix time in nanoseconds.
    pub fn record(
        &mut self,
        out: &mut Vec<u8>,
        record: &RecordRef<'_>,
        callsite: Result<Option<&CallsiteInfo>, &str>,
    ) -> i64 {
        let mut args = ArgBuf::new();
        args.decode_from(record);
        let view = RecordView::new(record, callsite, &args, &self.calibration);
        self.encoder.encode(out, &Item::wire(&view, record, 0));
        view.unix_ns
    }

    /// Formats one of the drain's own lines (losses, errors) as a record from target
    /// `ringdrain`.
    pub fn notice(
        &mut self,
        out: &mut Vec<u8>,
        unix_ns: i64,
        level: Level,
        msg: &str,
        fields: &[(&str, NoticeValue<'_>)],
    ) {
        notice_view(unix_ns, level, self.notice_pid, msg, fields, |view| {
            self.encoder.encode(out, &Item::view(view))
        })
    }

    /// Encodes `view` in this formatter's format.
    pub fn encode(&mut self, out: &mut Vec<u8>, view: &RecordView<'_>) {
        self.encoder.encode(out, &Item::view(view))
    }

    /// Finishes what [`Formatter::record`] and friends appended to `out` from `start` on as
    /// one batch (the binary archive's chunk framing; nothing for lines).
    pub fn seal(&mut self, out: &mut Vec<u8>, start: usize) {
        self.encoder.seal(out, start)
    }
}

/// Calls `f` with the view of one of the drain's own notices.
pub fn notice_view<R>(
    unix_ns: i64,
    level: Level,
    pid: u32,
    msg: &str,
    fields: &[(&str, NoticeValue<'_>)],
    f: impl FnOnce(&RecordView<'_>) -> R,
) -> R {
    let names: Vec<&str> = fields.iter().map(|(k, _)| *k).collect();
    let args: Vec<Arg<'_>> = fields
        .iter()
        .map(|(_, v)| match *v {
            NoticeValue::U64(n) => Arg::U64(n),
            NoticeValue::Str(s) => Arg::Str(s),
        })
        .collect();
    f(&RecordView::notice(unix_ns, level, pid, msg, &names, &args))
}

/// Text, JSON and logfmt lines: one line per view.
#[derive(Debug, Default)]
pub struct LineEncoder {
    format: LineFormat,
    ts: Timestamps,
    heads: Heads,
    /// JSON's `"file"` and `"line"` per callsite ([`json_location`]).
    locations: Heads,
    /// A logfmt message or value rendered before it is quoted, kept between records.
    scratch: Vec<u8>,
    /// Time zones for Python line layouts ([`crate::pyline`]).
    pyclock: crate::pyline::Clock,
}

/// The line formats: [`Format`] but the archive (what `cat` and `decode` print, so their
/// `--format` offers only these).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LineFormat {
    /// `2026-11-25T23:18:53.123456789Z INFO  [pid:tid] target: message k=v`
    #[default]
    Text,
    /// One JSON object per line: ts, level, pid, tid, target, msg, file, line, fields.
    Json,
    /// `ts=... level=info pid=1 tid=2 target=app msg="..." k=v`
    Logfmt,
}

impl Format {
    /// The line format this is, if it is one (not the archive).
    pub fn line(self) -> Option<LineFormat> {
        match self {
            Format::Text => Some(LineFormat::Text),
            Format::Json => Some(LineFormat::Json),
            Format::Logfmt => Some(LineFormat::Logfmt),
            Format::Binary => None,
        }
    }
}

impl From<LineFormat> for Format {
    fn from(f: LineFormat) -> Format {
        match f {
            LineFormat::Text => Format::Text,
            LineFormat::Json => Format::Json,
            LineFormat::Logfmt => Format::Logfmt,
        }
    }
}

impl LineEncoder {
    /// An encoder writing `format` lines.
    pub fn new(format: LineFormat) -> Self {
        LineEncoder {
            format,
            ts: Timestamps::default(),
            heads: Heads::default(),
            locations: Heads::default(),
            scratch: Vec::new(),
            pyclock: crate::pyline::Clock::default(),
        }
    }
}

impl Encoder for LineEncoder {
    fn encode(&mut self, out: &mut Vec<u8>, item: &Item<'_>) {
        let view = item.view;
        match self.format {
            LineFormat::Text => {
                // A Python handler's Formatter: its own line (JSON and logfmt keep fields).
                if let Some(cs) = view.callsite() {
                    if let Some(layout) = cs.layout() {
                        return crate::pyline::write_line(out, view, cs, layout, &mut self.pyclock);
                    }
                }
                self.text(out, view)
            }
            LineFormat::Json => self.json(out, view),
            LineFormat::Logfmt => self.logfmt(out, view),
        }
    }
}

impl LineEncoder {
    fn write_ts(&mut self, out: &mut Vec<u8>, unix_ns: i64) {
        self.ts.write(out, unix_ns)
    }

    fn text(&mut self, out: &mut Vec<u8>, v: &RecordView<'_>) {
        self.write_ts(out, v.unix_ns);
        let key = (v.level, v.pid, v.tid, v.target());
        self.heads.write(out, key, text_head);
        let before_message = out.len();
        match plan(v, |p| &p.text, PlanFormat::Text) {
            Some(plan) => plan.render::<TextArgs>(out, v),
            None => v.message(&mut TextEsc(out)),
        }
        if out.len() == before_message && out.last() == Some(&b' ') {
            // An empty message: drop the separator so fields follow with a single space.
            out.pop();
        }
        v.for_each_field(|name, arg| {
            out.push(b' ');
            // Field names come from the callsite table, which is untrusted: escape them like
            // the message so a name cannot split the line.
            TextEsc(out).push_str(name);
            out.push(b'=');
            match arg {
                Arg::Str(s) | Arg::Display(s) => logfmt_value(out, s.as_bytes()),
                _ => write_display(&mut TextEsc(out), arg),
            }
        });
        v.problems(|p| {
            out.extend_from_slice(b" [ringlog: ");
            TextEsc(out).push_str(p);
            out.push(b']');
        });
        out.push(b'\n');
    }

    fn logfmt(&mut self, out: &mut Vec<u8>, v: &RecordView<'_>) {
        out.extend_from_slice(b"ts=");
        self.write_ts(out, v.unix_ns);
        let key = (v.level, v.pid, v.tid, v.target());
        self.heads.write(out, key, logfmt_head);
        out.extend_from_slice(b" msg=");
        // The message is quoted as a whole, so it is rendered first (into a buffer kept
        // between records: no allocation per line).
        let msg = &mut self.scratch;
        msg.clear();
        match plan(v, |p| &p.raw, PlanFormat::Raw) {
            Some(plan) => plan.render::<RawArgs>(msg, v),
            None => v.message(msg),
        }
        v.problems(|p| {
            msg.extend_from_slice(b" [ringlog: ");
            msg.extend_from_slice(p.as_bytes());
            msg.push(b']');
        });
        logfmt_value(out, msg);
        v.for_each_field(|name, arg| {
            out.push(b' ');
            logfmt_key(out, name);
            out.push(b'=');
            match arg {
                Arg::Str(s) | Arg::Display(s) => logfmt_value(out, s.as_bytes()),
                _ => {
                    msg.clear();
                    write_display(msg, arg);
                    logfmt_value(out, msg)
                }
            }
        });
        out.push(b'\n');
    }

    fn json(&mut self, out: &mut Vec<u8>, v: &RecordView<'_>) {
        out.extend_from_slice(b"{\"ts\":\"");
        self.write_ts(out, v.unix_ns);
        out.push(b'"');
        let key = (v.level, v.pid, v.tid, v.target());
        self.heads.write(out, key, json_head);
        out.extend_from_slice(b",\"msg\":\"");
        match plan(v, |p| &p.json, PlanFormat::Json) {
            Some(plan) => plan.render::<JsonArgs>(out, v),
            None => v.message(&mut JsonEsc(out)),
        }
        out.push(b'"');
        // `,"file":"...","line":N,"fields":{`: a callsite's own, kept with its plans; records
        // without a callsite (no location) through a cache like the head's (the level and
        // thread parts of the key are unused there: a cache of its own).
        match v
            .callsite()
            .and_then(|cs| Some((cs, cs.cached(|_| Plans::default())?)))
        {
            Some((cs, plans)) => extend_small(
                out,
                plans.json_location.get_or_init(|| {
                    let mut b = Vec::new();
                    json_location(&mut b, Level::Info, cs.line, 0, &cs.file);
                    b
                }),
            ),
            None => {
                let (file, line) = v.location();
                self.locations
                    .write(out, (Level::Info, line, 0, file), json_location)
            }
        }
        let mut first = true;
        v.for_each_field(|name, arg| {
            if !first {
                out.push(b',');
            }
            first = false;
            json_str(out, name);
            out.push(b':');
            json_value(out, arg);
        });
        out.push(b'}');
        if v.truncated {
            out.extend_from_slice(b",\"truncated\":true");
        }
        let mut problems = String::new();
        v.problems(|p| {
            if !problems.is_empty() {
                problems.push_str("; ");
            }
            problems.push_str(p);
        });
        if !problems.is_empty() {
            out.extend_from_slice(b",\"ringlog_error\":");
            json_str(out, &problems);
        }
        out.extend_from_slice(b"}\n");
    }
}

fn text_head(out: &mut Vec<u8>, level: Level, pid: u32, tid: u32, target: &str) {
    // " LEVEL [" with the name padded to five columns, in one copy.
    let name = level.as_str().as_bytes();
    let mut head = *b"       [";
    let n = name.len().min(5);
    head[1..1 + n].copy_from_slice(&name[..n]);
    out.extend_from_slice(&head);
    out.extend_from_slice(itoa::Buffer::new().format(pid).as_bytes());
    out.push(b':');
    out.extend_from_slice(itoa::Buffer::new().format(tid).as_bytes());
    out.extend_from_slice(b"] ");
    if !target.is_empty() {
        TextEsc(out).push_str(target);
        out.extend_from_slice(b": ");
    }
}

/// JSON's source location and the start of its fields (the key's level and tid are unused).
fn json_location(out: &mut Vec<u8>, _: Level, line: u32, _: u32, file: &str) {
    if !file.is_empty() {
        out.extend_from_slice(b",\"file\":");
        json_str(out, file);
        out.extend_from_slice(b",\"line\":");
        out.extend_from_slice(itoa::Buffer::new().format(line).as_bytes());
    }
    out.extend_from_slice(b",\"fields\":{");
}

fn logfmt_head(out: &mut Vec<u8>, level: Level, pid: u32, tid: u32, target: &str) {
    out.extend_from_slice(b" level=");
    out.extend_from_slice(level.as_lower_str().as_bytes());
    out.extend_from_slice(b" pid=");
    out.extend_from_slice(itoa::Buffer::new().format(pid).as_bytes());
    out.extend_from_slice(b" tid=");
    out.extend_from_slice(itoa::Buffer::new().format(tid).as_bytes());
    if !target.is_empty() {
        out.extend_from_slice(b" target=");
        logfmt_value(out, target.as_bytes());
    }
}

fn json_head(out: &mut Vec<u8>, level: Level, pid: u32, tid: u32, target: &str) {
    out.extend_from_slice(b",\"level\":\"");
    out.extend_from_slice(level.as_lower_str().as_bytes());
    out.extend_from_slice(b"\",\"pid\":");
    out.extend_from_slice(itoa::Buffer::new().format(pid).as_bytes());
    out.extend_from_slice(b",\"tid\":");
    out.extend_from_slice(itoa::Buffer::new().format(tid).as_bytes());
    out.extend_from_slice(b",\"target\":");
    json_str(out, target);
}

/// A callsite's message compiled for one line format (its render plan): the format's literal
/// text already escaped as that format escapes it, copied per record without a scan, and the
/// `{}` holes between, so a record's message is a few inline copies and number writes with no
/// per-piece dispatch through [`Template::render`](ringlog_wire::decode::Template::render).
/// Only argument bytes are scanned for escaping. Compiled once per callsite, for the formats
/// that use it ([`Plans`]); a format with anything but plain `{}` holes has no plan and renders
/// as before.
#[derive(Debug)]
struct Plan {
    ops: Vec<PlanOp>,
    /// Every literal, escaped, back to back.
    lits: Vec<u8>,
}

#[derive(Debug, Clone, Copy)]
enum PlanOp {
    /// `lits[start..end]`.
    Lit { start: u32, end: u32 },
    /// Argument `n`, as [`write_display`] writes it, escaped for the format.
    Arg(u32),
}

/// The escaping a plan is compiled for.
#[derive(Debug, Clone, Copy)]
enum PlanFormat {
    /// Text lines ([`TextEsc`]).
    Text,
    /// JSON string content ([`JsonEsc`]).
    Json,
    /// Unescaped: logfmt renders the message first and quotes it whole.
    Raw,
}

/// A callsite's plans, one per escaping, each compiled when first used (kept with the
/// callsite: [`Callsite::cached`]), and the bytes of its JSON location. `None`: the format
/// has no plan.
#[derive(Debug, Default)]
struct Plans {
    text: OnceLock<Option<Plan>>,
    json: OnceLock<Option<Plan>>,
    raw: OnceLock<Option<Plan>>,
    /// JSON's `,"file":...,"line":...,"fields":{` for this callsite ([`json_location`]).
    json_location: OnceLock<Vec<u8>>,
}

/// The plan for `v`'s message in `format` (`slot` picks its cell), if the record has a
/// callsite whose format has one and no argument a hole needs is missing (that record renders
/// through the template, which marks the hole).
#[inline]
fn plan<'v>(
    v: &RecordView<'v>,
    slot: fn(&Plans) -> &OnceLock<Option<Plan>>,
    format: PlanFormat,
) -> Option<&'v Plan> {
    let cs = v.callsite()?;
    if cs.template.missing(v.args.len()) != 0 {
        return None;
    }
    slot(cs.cached(|_| Plans::default())?)
        .get_or_init(|| Plan::compile(cs, format))
        .as_ref()
}

impl Plan {
    #[cold]
    fn compile(cs: &Callsite, format: PlanFormat) -> Option<Plan> {
        let pieces = cs.template.plain_pieces()?;
        let mut plan = Plan {
            ops: Vec::with_capacity(pieces.len()),
            lits: Vec::new(),
        };
        for piece in pieces {
            match piece {
                PlainPiece::Lit(text) => {
                    let start = u32::try_from(plan.lits.len()).ok()?;
                    match format {
                        PlanFormat::Text => TextEsc(&mut plan.lits).push_str(text),
                        PlanFormat::Json => json_escape_into(&mut plan.lits, text),
                        PlanFormat::Raw => plan.lits.extend_from_slice(text.as_bytes()),
                    }
                    let end = u32::try_from(plan.lits.len()).ok()?;
                    plan.ops.push(PlanOp::Lit { start, end });
                }
                PlainPiece::Display(n) => plan.ops.push(PlanOp::Arg(u32::try_from(n).ok()?)),
            }
        }
        Some(plan)
    }

    /// Writes `v`'s message (what `v.message(&mut A::out(out))` writes: [`plan`] checked
    /// that this is a callsite's record with no argument missing).
    #[inline]
    fn render<A: PlanArgs>(&self, out: &mut Vec<u8>, v: &RecordView<'_>) {
        // Room for the literals and a number per hole up front: the copies below still
        // check, but find room.
        out.reserve(self.lits.len() + 24 * self.ops.len());
        for op in &self.ops {
            match *op {
                PlanOp::Lit { start, end } => extend_small(
                    out,
                    self.lits.get(start as usize..end as usize).unwrap_or(&[]),
                ),
                PlanOp::Arg(n) => match v.args.get(n as usize) {
                    Some(Arg::U64(x)) => {
                        extend_small(out, itoa::Buffer::new().format(*x).as_bytes())
                    }
                    Some(Arg::I64(x)) => {
                        extend_small(out, itoa::Buffer::new().format(*x).as_bytes())
                    }
                    Some(Arg::Str(s) | Arg::Display(s)) => A::str(out, s),
                    // Digits, sign, point, `NaN`, `inf`: nothing any format escapes.
                    Some(Arg::F64(x)) => ringlog_wire::decode::write_f64(out, *x),
                    Some(arg) => A::other(out, arg),
                    None => out.extend_from_slice(b"{?}"),
                },
            }
        }
        if v.truncated {
            out.extend_from_slice(b" [truncated]");
        }
    }
}

/// How a plan writes an argument that is not a 64-bit integer, for one escaping.
trait PlanArgs {
    /// A string argument, escaped.
    fn str(out: &mut Vec<u8>, s: &str);
    /// Any other argument, as [`write_display`] writes it, escaped.
    fn other(out: &mut Vec<u8>, arg: &Arg<'_>);
}

struct TextArgs;
struct JsonArgs;
struct RawArgs;

impl PlanArgs for TextArgs {
    #[inline]
    fn str(out: &mut Vec<u8>, s: &str) {
        TextEsc(out).push_str(s)
    }
    fn other(out: &mut Vec<u8>, arg: &Arg<'_>) {
        write_display(&mut TextEsc(out), arg)
    }
}

impl PlanArgs for JsonArgs {
    #[inline]
    fn str(out: &mut Vec<u8>, s: &str) {
        json_escape_into(out, s)
    }
    fn other(out: &mut Vec<u8>, arg: &Arg<'_>) {
        write_display(&mut JsonEsc(out), arg)
    }
}

impl PlanArgs for RawArgs {
    #[inline]
    fn str(out: &mut Vec<u8>, s: &str) {
        extend_small(out, s.as_bytes())
    }
    fn other(out: &mut Vec<u8>, arg: &Arg<'_>) {
        write_display(out, arg)
    }
}

/// Escapes control characters and backslashes so a text line stays one line, and C1 controls
/// and bidirectional formatting characters (U+202E and kin) so a line shows on a terminal as
/// it was logged, not reordered by the text it carries.
struct TextEsc<'a>(&'a mut Vec<u8>);

/// 1 for each byte that may begin a character [`TextEsc`] escapes.
const TEXT_ESCAPE_LEAD: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        if c < 0x20 || c == 0x7f || c == 0xc2 || c == 0xd8 || c == 0xe2 {
            t[c] = 1;
        }
        c += 1;
    }
    t
};

/// Whether every byte of `b` is printable ASCII (0x20..=0x7E), eight bytes at a time (SWAR,
/// the bit tricks of Anderson's "Bit Twiddling Hacks"): a short argument is one or two word
/// tests, where a byte loop or a vector loop's set-up cost more than the bytes.
#[inline]
fn printable_ascii(b: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    /// The high bit of each byte that is >= 0x80, and, when no byte is, of at least one byte
    /// below 0x20 or equal to 0x7F if there is one: zero exactly when all eight bytes are
    /// printable ASCII. (`hasless(w, 0x20)` is exact for words without bytes >= 0x80, which
    /// `w & HIGH` catches; `haszero(w ^ 0x7F..)` is exact for any word.)
    #[inline(always)]
    fn bad(w: u64) -> u64 {
        let below = w.wrapping_sub(ONES * 0x20) & !w;
        let x = w ^ (ONES * 0x7f);
        let del = x.wrapping_sub(ONES) & !x;
        (w | below | del) & HIGH
    }
    let word = |at: usize| {
        b.get(at..at + 8)
            .and_then(|w| <[u8; 8]>::try_from(w).ok())
            .map_or(HIGH, u64::from_le_bytes)
    };
    let n = b.len();
    if n >= 8 {
        // Whole words, then the last eight bytes (overlapping the last whole word).
        let mut acc = bad(word(n - 8));
        let mut at = 0;
        while at + 8 <= n {
            acc |= bad(word(at));
            at += 8;
        }
        return acc == 0;
    }
    if n >= 4 {
        // The first and the last four bytes (overlapping) as one word.
        let half = |at: usize| {
            b.get(at..at + 4)
                .and_then(|w| <[u8; 4]>::try_from(w).ok())
                .map_or(0x80, |w| u64::from(u32::from_le_bytes(w)))
        };
        return bad(half(0) | half(n - 4) << 32) == 0;
    }
    b.iter().all(|&c| c.wrapping_sub(0x20) < 0x5f)
}

/// Whether `ok` holds for every byte of `b`, folded over 16-byte blocks (the last one
/// shorter) without an early exit: measured cheaper than [`all_bytes`] for messages of a few
/// dozen bytes, where most bytes are in the short last block.
#[inline]
fn fold_blocks(b: &[u8], ok: impl Fn(u8) -> bool + Copy) -> bool {
    b.chunks(16)
        .all(|block| block.iter().fold(true, |a, &c| a & ok(c)))
}

/// C1 controls (U+0080..U+009F) and the bidi formatting characters: marks (U+061C, U+200E,
/// U+200F), embeddings and overrides (U+202A..U+202E), isolates (U+2066..U+2069).
fn is_invisible_control(c: char) -> bool {
    matches!(c as u32, 0x80..=0x9f | 0x61c | 0x200e | 0x200f | 0x202a..=0x202e | 0x2066..=0x2069)
}

impl Out for TextEsc<'_> {
    #[inline]
    fn push_verbatim(&mut self, s: &str) {
        extend_small(self.0, s.as_bytes())
    }

    #[inline]
    fn push_str(&mut self, s: &str) {
        let b = s.as_bytes();
        // Printable ASCII (0x20..=0x7E) is copied as it is.
        if printable_ascii(b) {
            return extend_small(self.0, b);
        }
        self.push_str_slow(s)
    }
}

impl TextEsc<'_> {
    /// [`TextEsc::push_str`] for text that is not all printable ASCII.
    fn push_str_slow(&mut self, s: &str) {
        let b = s.as_bytes();
        // Lead bytes of every character escaped below: ASCII controls, 0xC2 (C1), 0xD8
        // (U+061C), 0xE2 (U+2000..U+2FFF); other text (most non-ASCII) is copied as it is.
        let flagged = |block: &[u8]| {
            block
                .iter()
                .fold(0u8, |a, &c| a | TEXT_ESCAPE_LEAD[c as usize])
        };
        if b.chunks(16).all(|block| flagged(block) == 0) {
            return self.0.extend_from_slice(b);
        }
        for c in s.chars() {
            match c {
                '\n' => self.0.extend_from_slice(b"\\n"),
                '\r' => self.0.extend_from_slice(b"\\r"),
                '\t' => self.0.extend_from_slice(b"\\t"),
                c if (c as u32) < 0x20 || c as u32 == 0x7f => self
                    .0
                    .extend_from_slice(format!("\\x{:02x}", c as u32).as_bytes()),
                c if is_invisible_control(c) => self
                    .0
                    .extend_from_slice(format!("\\u{{{:x}}}", c as u32).as_bytes()),
                c => self
                    .0
                    .extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
            }
        }
    }
}

/// JSON string-content escaping (without the quotes).
struct JsonEsc<'a>(&'a mut Vec<u8>);

impl Out for JsonEsc<'_> {
    #[inline]
    fn push_verbatim(&mut self, s: &str) {
        extend_small(self.0, s.as_bytes())
    }

    fn push_str(&mut self, s: &str) {
        json_escape_into(self.0, s)
    }
}

fn json_escape_into(out: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    // Printable ASCII without a quote or backslash, and any non-ASCII, is copied whole.
    if fold_blocks(b, |c| c >= 0x20 && c != b'"' && c != b'\\' && c != 0x7f) {
        return extend_small(out, b);
    }
    escape_runs(out, b, b"\\u00");
}

/// Copies `b` with `"`, `\`, newline, CR and tab escaped as `\"`, `\\`, `\n`, `\r`, `\t`, and
/// other controls as `control` followed by two hex digits (JSON `\u00XX`, logfmt `\xXX`);
/// runs of bytes that need no escape are copied whole (everything escaped is ASCII, so the
/// bytes of other characters are always inside a run).
fn escape_runs(out: &mut Vec<u8>, b: &[u8], control: &[u8]) {
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        let esc: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x00..=0x1f | 0x7f => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(&b[start..i]);
                out.extend_from_slice(control);
                out.extend_from_slice(&[HEX[(c >> 4) as usize], HEX[(c & 15) as usize]]);
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&b[start..i]);
        out.extend_from_slice(esc);
        start = i + 1;
    }
    out.extend_from_slice(&b[start..]);
}

fn json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    json_escape_into(out, s);
    out.push(b'"');
}

fn json_value(out: &mut Vec<u8>, arg: &Arg<'_>) {
    let mut ib = itoa::Buffer::new();
    match *arg {
        Arg::U64(v) => out.extend_from_slice(ib.format(v).as_bytes()),
        Arg::I64(v) => out.extend_from_slice(ib.format(v).as_bytes()),
        Arg::U128(v) => out.extend_from_slice(ib.format(v).as_bytes()),
        Arg::I128(v) => out.extend_from_slice(ib.format(v).as_bytes()),
        Arg::F64(v) if v.is_finite() => {
            out.extend_from_slice(ryu::Buffer::new().format_finite(v).as_bytes())
        }
        Arg::F32(v) if v.is_finite() => {
            // Widen through the shortest decimal so 0.1f32 prints 0.1, not 0.10000000149.
            out.extend_from_slice(ryu::Buffer::new().format_finite(v).as_bytes())
        }
        Arg::F64(_) | Arg::F32(_) | Arg::Str(_) | Arg::Display(_) | Arg::Char(_) => {
            let mut s = String::new();
            write_display(&mut s, arg);
            json_str(out, &s)
        }
        Arg::Bool(v) => out.extend_from_slice(if v { b"true" } else { b"false" }),
        Arg::Bytes(b) => {
            out.push(b'[');
            for (i, x) in b.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(ib.format(*x).as_bytes());
            }
            out.push(b']');
        }
        Arg::None => out.extend_from_slice(b"null"),
    }
}

fn logfmt_key(out: &mut Vec<u8>, k: &str) {
    for c in k.bytes() {
        out.push(if c > b' ' && c != b'=' && c != b'"' && c < 0x7f {
            c
        } else {
            b'_'
        });
    }
}

/// A logfmt value: bare if it has no space, quote, `=` or control character, else quoted with
/// escapes.
fn logfmt_value(out: &mut Vec<u8>, b: &[u8]) {
    // Bare: printable ASCII or non-ASCII, and no quote or `=`.
    if !b.is_empty() && fold_blocks(b, |c| c > b' ' && c != b'"' && c != b'=' && c != 0x7f) {
        return extend_small(out, b);
    }
    out.push(b'"');
    escape_runs(out, b, b"\\x");
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> String {
        let mut out = Vec::new();
        TextEsc(&mut out).push_str(s);
        String::from_utf8(out).unwrap()
    }

    /// The word-at-a-time test agrees with the byte test for every length up to 40 and
    /// every byte value at every position (the other bytes printable), and for the edges.
    #[test]
    fn printable_ascii_agrees_with_the_byte_test() {
        let slow = |b: &[u8]| b.iter().all(|&c| (0x20..=0x7e).contains(&c));
        for n in 0..=40usize {
            let base: Vec<u8> = (0..n).map(|i| b' ' + (i * 7 % 95) as u8).collect();
            assert!(printable_ascii(&base), "{n} printable bytes");
            for at in 0..n {
                for c in 0..=255u8 {
                    let mut b = base.clone();
                    b[at] = c;
                    assert_eq!(printable_ascii(&b), slow(&b), "byte {c:#x} at {at} of {n}");
                }
            }
        }
        assert!(!same_bytes(b"ringlog::x", b"ringlog::y"));
        for n in 0..=40usize {
            let a: Vec<u8> = (0..n as u8).collect();
            assert!(same_bytes(&a, &a.clone()));
            for at in 0..n {
                let mut b = a.clone();
                b[at] ^= 1;
                assert!(!same_bytes(&a, &b), "differ at {at} of {n}");
            }
        }
    }

    #[test]
    fn json_and_logfmt_escape_the_same_bytes_with_their_own_control_form() {
        let s = "a\"b\\c\nd\re\tf\u{1}g\u{7f}h é";
        let mut j = Vec::new();
        json_escape_into(&mut j, s);
        assert_eq!(
            String::from_utf8(j).unwrap(),
            r#"a\"b\\c\nd\re\tf\u0001g\u007fh é"#
        );
        let mut l = Vec::new();
        logfmt_value(&mut l, s.as_bytes());
        assert_eq!(
            String::from_utf8(l).unwrap(),
            r#""a\"b\\c\nd\re\tf\x01g\x7fh é""#
        );
    }

    #[test]
    fn bidi_and_c1_controls_are_escaped_in_text_output() {
        assert_eq!(
            text("user\u{202e}gnp.exe"),
            "user\\u{202e}gnp.exe",
            "a right-to-left override must not reorder the line on a terminal"
        );
        for c in [
            '\u{202a}', '\u{2066}', '\u{2069}', '\u{200f}', '\u{61c}', '\u{85}',
        ] {
            let escaped = text(&format!("a{c}b"));
            assert!(!escaped.contains(c), "{c:?} passed through raw");
            assert!(escaped.contains("\\u{"), "{escaped}");
        }
        // Ordinary text, including other non-ASCII, stays as it is.
        assert_eq!(text("héllo — ✓ 日本"), "héllo — ✓ 日本");
    }

    #[test]
    fn bidi_and_c1_controls_in_a_format_string_are_escaped_like_arguments() {
        use ringlog_wire::callsite::FormatStyle;
        use ringlog_wire::decode::Template;
        for (format, want) in [
            ("user\u{202e}gnp.exe {}", "user\\u{202e}gnp.exe 7"),
            ("a\u{85}b {}", "a\\u{85}b 7"),
            ("\u{2066}x{}", "\\u{2066}x7"),
            // Other non-ASCII text in a literal stays as it is.
            ("héllo — ✓ {}", "héllo — ✓ 7"),
        ] {
            let mut out = Vec::new();
            Template::parse(FormatStyle::Brace, format)
                .render(&mut TextEsc(&mut out), &[Arg::U64(7)]);
            assert_eq!(String::from_utf8(out).unwrap(), want, "{format:?}");
        }
    }

    /// A render plan writes, in every format, the bytes the template writes through the
    /// format's escaping writer: literals that need escaping (quote, backslash, control,
    /// bidi override, other non-ASCII), string arguments that do and do not, every argument
    /// kind, a truncated record; and formats a plan does not take (specs, `{:?}`, bad holes)
    /// or records missing an argument have no plan and render as before.
    #[test]
    fn a_render_plan_writes_what_the_template_writes() {
        use ringlog_wire::callsite::{CallsiteDesc, FormatStyle};
        use ringlog_wire::record::RecordHeader;
        let formats = [
            "request {} served in {} us by {}",
            "say \"{}\" to {} \\ now",
            "tab\there {} \u{202e}rtl {} é ✓ {}",
            "{}{}{}",
            "no holes at all",
            "{} {:?} {}",
            "{:>5} {} {}",
            "{0} {0} {1}",
        ];
        let args: [&[Arg<'_>]; 5] = [
            &[Arg::U64(7), Arg::F64(0.25), Arg::Str("p0-t1")],
            &[
                Arg::I64(-3),
                Arg::F64(1e300),
                Arg::Str("a\"b\\c\nd\u{202e}e"),
            ],
            &[Arg::Bool(true), Arg::Char('\n'), Arg::Bytes(&[1, 2])],
            &[
                Arg::U128(u128::MAX),
                Arg::F32(0.1),
                Arg::Display("shown \x01"),
            ],
            &[Arg::None, Arg::F64(f64::NAN), Arg::Str("")],
        ];
        let cal = Calibration::new(ringlog_wire::clock::ClockKind::Realtime, 0, 0, 0);
        for format in formats {
            let cs = Callsite::new(
                1,
                &CallsiteDesc {
                    level: Level::Info,
                    style: FormatStyle::Brace,
                    line: 1,
                    target: "t",
                    module: "t",
                    file: "f.rs",
                    format,
                    fields: vec![],
                    layout: "",
                },
            );
            let has_plan = cs.template.plain_pieces().is_some();
            for a in args {
                for (n, truncated) in [(3, false), (3, true), (1, false)] {
                    let record = RecordRef {
                        header: RecordHeader {
                            flags: if truncated {
                                ringlog_wire::record::FLAG_TRUNCATED
                            } else {
                                0
                            },
                            ..RecordHeader::default()
                        },
                        payload: &[],
                    };
                    let buf = ArgBuf::from_args(&a[..n]);
                    let v = RecordView::new(&record, Ok(Some(&cs)), &buf, &cal);
                    let what = format!("{format:?} {:?} truncated {truncated}", &a[..n]);
                    let missing = cs.template.missing(n) > 0;
                    for (fmt, slot) in [
                        (
                            PlanFormat::Text,
                            (|p| &p.text) as fn(&Plans) -> &OnceLock<Option<Plan>>,
                        ),
                        (PlanFormat::Json, |p| &p.json),
                        (PlanFormat::Raw, |p| &p.raw),
                    ] {
                        let p = plan(&v, slot, fmt);
                        assert_eq!(p.is_some(), has_plan && !missing, "{what}");
                        let Some(p) = p else { continue };
                        let (mut got, mut want) = (Vec::new(), Vec::new());
                        match fmt {
                            PlanFormat::Text => {
                                p.render::<TextArgs>(&mut got, &v);
                                v.message(&mut TextEsc(&mut want));
                            }
                            PlanFormat::Json => {
                                p.render::<JsonArgs>(&mut got, &v);
                                v.message(&mut JsonEsc(&mut want));
                            }
                            PlanFormat::Raw => {
                                p.render::<RawArgs>(&mut got, &v);
                                v.message(&mut want);
                            }
                        }
                        assert_eq!(
                            String::from_utf8_lossy(&got),
                            String::from_utf8_lossy(&want),
                            "{fmt:?} {what}"
                        );
                    }
                }
            }
        }
    }

    /// The cached heads are the bytes the head functions write, whatever the mix of keys
    /// (more keys than slots, targets that differ only in content at the same length).
    #[test]
    fn cached_heads_are_what_the_head_functions_write() {
        let targets = [
            "app",
            "app::db",
            "apq",
            "",
            "x\ny",
            "ringlog_benches::ringload",
        ];
        let levels = [Level::Info, Level::Warn, Level::Error, Level::Debug];
        for render in [text_head, logfmt_head, json_head, json_location] {
            let mut heads = Heads::default();
            for round in 0..3 {
                for pid in [1u32, 4242, u32::MAX] {
                    for tid in 0..40u32 {
                        for (i, target) in targets.iter().enumerate() {
                            let level = levels[(tid as usize + i + round) % levels.len()];
                            let mut want = Vec::new();
                            render(&mut want, level, pid, tid, target);
                            let mut got = Vec::new();
                            heads.write(&mut got, (level, pid, tid, target), render);
                            assert_eq!(got, want, "{level:?} {pid} {tid} {target:?}");
                        }
                    }
                }
            }
        }
    }
}
