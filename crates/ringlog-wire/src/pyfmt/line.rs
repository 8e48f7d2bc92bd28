//! Python `logging.Formatter` line layouts: what a `ringlog.Handler`'s Formatter becomes in
//! the segment, so that the drain writes that handler's records exactly as a `FileHandler`
//! with the same Formatter would.
//!
//! A layout is registered as part of each callsite of the handler (the `layout` of
//! [`CallsiteDesc`](crate::callsite::CallsiteDesc)) as the text [`encode`] makes: the style
//! (`%`, `{` or `$`), the format string, `datefmt`, `default_time_format`,
//! `default_msec_format` and the time zone the Formatter's `converter` uses. [`Layout::parse`]
//! turns it into pieces once per callsite; [`Layout::render`] writes one record's line from
//! the values the caller looks up ([`Attr`]), as `logging.Formatter.format` does: the format
//! string filled with the record's attributes, then the traceback (`exc_text`) and the stack
//! (`stack_info`) each on a new line.
//!
//! Everything here is a pure function: the caller turns the record's time into a [`Tm`] in the
//! layout's zone (the drain uses jiff, which reads `TZ` and `/etc/localtime` as C's
//! `localtime` does) and [`write_strftime`] formats it as C's `strftime` does in the C locale.
//!
//! What a layout cannot hold is refused with a [`LayoutError`], and the Python producer then
//! formats that handler's lines itself and sends them finished: attributes the drain does not
//! have (`relativeCreated`, `args`, `msg`, `exc_info`, `exc_text`, `stack_info`), `%c`, `*`
//! widths, `{` fields with indexes, attributes or `!r`/`!a` conversions, format specs this
//! module does not render exactly, `strftime` directives outside the list in
//! [`parse_strftime`]. Attributes that are not `LogRecord`'s (`%(user)s` from `extra=`) are
//! read from the record's fields, in their plain text form only (`%(user)s`, `{user}`,
//! `{user:>10}`, `$user`); the producer checks that each record has them.

use super::{float_body, write_arg, write_float_repr, Conv, Spec};
use crate::args::Arg;

/// The first word of an encoded layout (its version).
const MAGIC: &str = "pyline1";
/// Separates the parts of an encoded layout.
const SEP: char = '\0';
/// Stands for Python's `None` in an encoded layout.
const NONE: &str = "\u{1}";
/// Most fields a layout may have: with [`super::MAX_WIDTH`] this bounds a line a hostile
/// layout can make the drain write (real Formatters have a dozen at most).
pub const MAX_FIELDS: usize = 64;

/// The Formatter's style.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// `%(name)s` (`logging.PercentStyle`).
    Percent,
    /// `{name}` (`logging.StrFormatStyle`).
    Brace,
    /// `$name` (`logging.StringTemplateStyle`).
    Dollar,
}

impl Style {
    fn as_char(self) -> char {
        match self {
            Style::Percent => '%',
            Style::Brace => '{',
            Style::Dollar => '$',
        }
    }
}

/// The zone `asctime` is written in.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Zone {
    /// `time.localtime` with no `TZ` in the producer's environment: `/etc/localtime`.
    System,
    /// `time.localtime` under the producer's `TZ` (an IANA name, `:name` or a POSIX rule).
    Tz(String),
    /// `time.gmtime` (`%Z` writes `GMT`, as Python's `gmtime` struct says).
    Utc,
}

/// What [`encode`] takes: a Formatter's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings<'a> {
    /// The style.
    pub style: Style,
    /// The format string (`Formatter._fmt`).
    pub fmt: &'a str,
    /// `datefmt` (`None`: the default time format and milliseconds).
    pub datefmt: Option<&'a str>,
    /// `default_time_format`.
    pub time_format: &'a str,
    /// `default_msec_format` (`None`: no milliseconds).
    pub msec_format: Option<&'a str>,
    /// The converter's zone.
    pub zone: Zone,
}

/// A record attribute a layout refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attr {
    /// `asctime` (str).
    Asctime,
    /// `created` (float seconds).
    Created,
    /// `msecs` (float, whole milliseconds).
    Msecs,
    /// `levelname` (str).
    Levelname,
    /// `levelno` (int).
    Levelno,
    /// `name`: the logger (str).
    Name,
    /// `message` (str).
    Message,
    /// `process` (int).
    Process,
    /// `processName` (str).
    ProcessName,
    /// `thread` (int: `threading.get_ident()`).
    Thread,
    /// `threadName` (str).
    ThreadName,
    /// `taskName` (str or None).
    TaskName,
    /// `filename` (str).
    Filename,
    /// `pathname` (str).
    Pathname,
    /// `module` (str).
    Module,
    /// `lineno` (int).
    Lineno,
    /// `funcName` (str).
    FuncName,
    /// An attribute from `extra=` (a field of the record).
    Extra(String),
}

/// The type of value an attribute has, which decides the specs it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Str,
    Int,
    Float,
    /// A field of unknown type: text conversions only.
    Any,
}

/// `LogRecord` attributes the drain cannot reproduce: a layout naming one is refused.
const UNSUPPORTED: &[&str] = &[
    "args",
    "msg",
    "exc_info",
    "exc_text",
    "stack_info",
    "relativeCreated",
];

impl Attr {
    fn from_name(name: &str) -> Result<Attr, LayoutError> {
        Ok(match name {
            "asctime" => Attr::Asctime,
            "created" => Attr::Created,
            "msecs" => Attr::Msecs,
            "levelname" => Attr::Levelname,
            "levelno" => Attr::Levelno,
            "name" => Attr::Name,
            "message" => Attr::Message,
            "process" => Attr::Process,
            "processName" => Attr::ProcessName,
            "thread" => Attr::Thread,
            "threadName" => Attr::ThreadName,
            "taskName" => Attr::TaskName,
            "filename" => Attr::Filename,
            "pathname" => Attr::Pathname,
            "module" => Attr::Module,
            "lineno" => Attr::Lineno,
            "funcName" => Attr::FuncName,
            n if UNSUPPORTED.contains(&n) => return Err(LayoutError::Attribute(n.to_string())),
            n if is_identifier(n) => Attr::Extra(n.to_string()),
            n => return Err(LayoutError::Attribute(n.to_string())),
        })
    }

    fn kind(&self) -> Kind {
        match self {
            Attr::Created | Attr::Msecs => Kind::Float,
            Attr::Levelno | Attr::Process | Attr::Thread | Attr::Lineno => Kind::Int,
            Attr::Extra(_) | Attr::TaskName => Kind::Any,
            _ => Kind::Str,
        }
    }
}

/// An ASCII identifier (what `%(name)`, `{name}` and `$name` fields are, in practice; the
/// producer refuses others).
fn is_identifier(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c == b'_' || c.is_ascii_alphabetic())
        && b.all(|c| c == b'_' || c.is_ascii_alphanumeric())
}

/// Why a layout cannot be rendered by the drain (the producer formats the lines itself).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    /// Not a layout this version encodes.
    #[error("not a ringlog line layout (version {0:?})")]
    Version(String),
    /// A part is missing or badly formed.
    #[error("malformed line layout: {0}")]
    Malformed(&'static str),
    /// An attribute the drain does not have.
    #[error("the attribute {0:?} is not available to the drain")]
    Attribute(String),
    /// A conversion or format spec the drain does not render exactly.
    #[error("the field spec {0:?} is not rendered by the drain")]
    Spec(String),
    /// A `strftime` directive the drain does not render.
    #[error("the strftime directive %{0} is not rendered by the drain")]
    Directive(char),
}

/// Encodes a Formatter's settings as a layout string (for a callsite's `layout`); `None` if a
/// part contains the separator characters (NUL or U+0001), which no real format string has.
pub fn encode(s: &Settings<'_>) -> Option<String> {
    let parts = [
        Some(s.fmt),
        s.datefmt,
        Some(s.time_format),
        s.msec_format,
        match &s.zone {
            Zone::Tz(tz) => Some(tz.as_str()),
            _ => None,
        },
    ];
    if parts
        .iter()
        .flatten()
        .any(|p| p.contains(SEP) || p.contains(NONE))
    {
        return None;
    }
    let zone = match s.zone {
        Zone::System => "local",
        Zone::Tz(_) => "tz",
        Zone::Utc => "utc",
    };
    let mut out = String::new();
    out.push_str(MAGIC);
    out.push(SEP);
    out.push(s.style.as_char());
    out.push(SEP);
    out.push_str(zone);
    for p in parts {
        out.push(SEP);
        out.push_str(p.unwrap_or(NONE));
    }
    Some(out)
}

/// One piece of the format string.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Lit(String),
    /// `%(name)spec`.
    Percent(Attr, Spec),
    /// `{name:spec}`.
    Brace(Attr, BraceSpec),
    /// `$name`, `${name}`: `str(value)`.
    Plain(Attr),
}

/// One piece of a `strftime` format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimePiece {
    /// Text copied as is.
    Lit(String),
    /// A directive (its letter).
    Dir(char),
}

/// A parsed layout: see the [module docs](self).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The style.
    pub style: Style,
    /// The zone of `asctime`.
    pub zone: Zone,
    pieces: Vec<Piece>,
    /// `datefmt`, or `default_time_format`.
    time: Vec<TimePiece>,
    /// `default_msec_format`'s two holes and the text around them, when `datefmt` is `None`.
    msec: Option<Vec<MsecPiece>>,
    /// The `extra` attributes the format string names, in order, without repeats.
    extras: Vec<String>,
    uses: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum MsecPiece {
    Lit(String),
    Hole(Spec),
}

/// The record's values, as the caller looks them up.
pub trait Values {
    /// `asctime`'s time, in the layout's zone.
    fn tm(&mut self) -> Tm;
    /// The value of `attr` (never called for [`Attr::Asctime`] nor [`Attr::Message`]).
    fn get(&mut self, attr: &Attr) -> Arg<'_>;
    /// Writes the message (`record.getMessage()`).
    fn message(&mut self, out: &mut String);
    /// Writes `asctime`'s time with `time` (the layout's `datefmt` or default time format):
    /// by default [`write_strftime`] of [`Values::tm`]; a caller may cache the text per second.
    fn strftime(&mut self, time: &[TimePiece], out: &mut String) {
        let tm = self.tm();
        write_strftime(out, time, &tm);
    }
}

/// A broken-down time, as C's `struct tm` (what `strftime` formats).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tm {
    /// Year (e.g. 2026).
    pub year: i32,
    /// Month, 1..=12.
    pub month: u8,
    /// Day of the month, 1..=31.
    pub day: u8,
    /// Hour, 0..=23.
    pub hour: u8,
    /// Minute, 0..=59.
    pub minute: u8,
    /// Second, 0..=60.
    pub second: u8,
    /// Day of the week, 0 (Sunday) ..= 6.
    pub weekday: u8,
    /// Day of the year, 1..=366.
    pub yday: u16,
    /// Offset from UTC in seconds (east positive).
    pub offset: i32,
    /// The zone's abbreviation (`CET`, `UTC`, `GMT`).
    pub abbrev: String,
    /// Seconds since the Unix epoch (`%s`).
    pub unix: i64,
}

fn bit(a: &Attr) -> u32 {
    1 << match a {
        Attr::Asctime => 0,
        Attr::Created => 1,
        Attr::Msecs => 2,
        Attr::Levelname => 3,
        Attr::Levelno => 4,
        Attr::Name => 5,
        Attr::Message => 6,
        Attr::Process => 7,
        Attr::ProcessName => 8,
        Attr::Thread => 9,
        Attr::ThreadName => 10,
        Attr::TaskName => 11,
        Attr::Filename => 12,
        Attr::Pathname => 13,
        Attr::Module => 14,
        Attr::Lineno => 15,
        Attr::FuncName => 16,
        Attr::Extra(_) => 17,
    }
}

impl Layout {
    /// Parses an encoded layout (from [`encode`]); the error says what the drain cannot render.
    pub fn parse(encoded: &str) -> Result<Layout, LayoutError> {
        let mut parts = encoded.split(SEP);
        let magic = parts.next().unwrap_or("");
        if magic != MAGIC {
            return Err(LayoutError::Version(magic.chars().take(16).collect()));
        }
        let mut next = || {
            parts
                .next()
                .ok_or(LayoutError::Malformed("a part is missing"))
        };
        let style = match next()? {
            "%" => Style::Percent,
            "{" => Style::Brace,
            "$" => Style::Dollar,
            _ => return Err(LayoutError::Malformed("unknown style")),
        };
        let zone_kind = next()?;
        let fmt = next()?;
        let opt = |s: &str| (s != NONE).then(|| s.to_string());
        let datefmt = opt(next()?);
        let time_format = next()?.to_string();
        let msec_format = opt(next()?);
        let tz = opt(next()?);
        if parts.next().is_some() {
            return Err(LayoutError::Malformed("trailing parts"));
        }
        let zone = match (zone_kind, tz) {
            ("local", None) => Zone::System,
            ("tz", Some(tz)) => Zone::Tz(tz),
            ("utc", None) => Zone::Utc,
            _ => return Err(LayoutError::Malformed("unknown zone")),
        };
        let pieces = match style {
            Style::Percent => parse_percent(fmt)?,
            Style::Brace => parse_brace(fmt)?,
            Style::Dollar => parse_dollar(fmt)?,
        };
        if pieces
            .iter()
            .filter(|p| !matches!(p, Piece::Lit(_)))
            .count()
            > MAX_FIELDS
        {
            return Err(LayoutError::Malformed("too many fields"));
        }
        let mut uses = 0;
        let mut extras = Vec::new();
        for p in &pieces {
            let a = match p {
                Piece::Lit(_) => continue,
                Piece::Percent(a, _) | Piece::Brace(a, _) | Piece::Plain(a) => a,
            };
            uses |= bit(a);
            if let Attr::Extra(n) = a {
                if !extras.contains(n) {
                    extras.push(n.clone());
                }
            }
        }
        let (time, msec) = match &datefmt {
            Some(d) => (parse_strftime(d)?, None),
            None => (
                parse_strftime(&time_format)?,
                match &msec_format {
                    Some(m) => Some(parse_msec(m)?),
                    None => None,
                },
            ),
        };
        Ok(Layout {
            style,
            zone,
            pieces,
            time,
            msec,
            extras,
            uses,
        })
    }

    /// Whether the format string names `attr` (for an [`Attr::Extra`]: any extra attribute).
    pub fn uses(&self, attr: &Attr) -> bool {
        self.uses & bit(attr) != 0
    }

    /// The `extra` attributes the format string names (each record must have them).
    pub fn extras(&self) -> &[String] {
        &self.extras
    }

    /// Writes the line `logging.Formatter.format` returns (without the handler's newline):
    /// the format string filled in, then `exc_text` and `stack_info` (if given and not empty)
    /// each after a newline unless the text so far ends with one.
    ///
    /// Appends to `s` (a buffer the caller reuses). The message and `asctime` are written
    /// straight into it where their spec is a plain `%s`/`{}`/`$`; otherwise once into a
    /// temporary that every piece naming them shares.
    pub fn render(
        &self,
        s: &mut String,
        v: &mut dyn Values,
        exc_text: Option<&str>,
        stack_info: Option<&str>,
    ) {
        let start = s.len();
        let mut message: Option<String> = None;
        let mut asctime: Option<String> = None;
        for p in &self.pieces {
            let (attr, piece) = match p {
                Piece::Lit(l) => {
                    s.push_str(l);
                    continue;
                }
                Piece::Percent(a, _) | Piece::Brace(a, _) | Piece::Plain(a) => (a, p),
            };
            let plain = match piece {
                Piece::Percent(_, spec) => *spec == Spec::default(),
                Piece::Brace(_, spec) => spec.is_plain(),
                _ => true,
            };
            if plain {
                match attr {
                    Attr::Message if message.is_none() => {
                        v.message(s);
                        continue;
                    }
                    Attr::Asctime if asctime.is_none() => {
                        self.asctime(v, s);
                        continue;
                    }
                    _ => {}
                }
            }
            let text: &str;
            let arg = match attr {
                Attr::Message => {
                    text = message.get_or_insert_with(|| {
                        let mut m = String::new();
                        v.message(&mut m);
                        m
                    });
                    Arg::Str(text)
                }
                Attr::Asctime => {
                    text = asctime.get_or_insert_with(|| {
                        let mut t = String::new();
                        self.asctime(v, &mut t);
                        t
                    });
                    Arg::Str(text)
                }
                _ => v.get(attr),
            };
            match piece {
                Piece::Percent(_, spec) => write_arg(s, spec, &arg),
                Piece::Brace(_, spec) => spec.write(s, &arg),
                _ => write_arg(s, &Spec::default(), &arg),
            }
        }
        for extra in [exc_text, stack_info].into_iter().flatten() {
            if extra.is_empty() {
                continue;
            }
            if !s[start..].ends_with('\n') {
                s.push('\n');
            }
            s.push_str(extra);
        }
    }

    /// `Formatter.formatTime(record, datefmt)`, appended to `out`.
    fn asctime(&self, v: &mut dyn Values, out: &mut String) {
        let Some(msec) = &self.msec else {
            v.strftime(&self.time, out);
            return;
        };
        let mut t = String::with_capacity(32);
        v.strftime(&self.time, &mut t);
        let msecs = v.get(&Attr::Msecs);
        let mut holes = [Arg::Str(&t), msecs].into_iter();
        for p in msec {
            match p {
                MsecPiece::Lit(l) => out.push_str(l),
                MsecPiece::Hole(spec) => write_arg(out, spec, &holes.next().unwrap_or(Arg::None)),
            }
        }
    }
}

/// `%(name)spec` pieces; `%%` is a `%`.
fn parse_percent(fmt: &str) -> Result<Vec<Piece>, LayoutError> {
    let mut pieces = Vec::new();
    let mut lit = String::new();
    let mut rest = fmt;
    while let Some(p) = rest.find('%') {
        lit.push_str(&rest[..p]);
        let after = &rest[p + 1..];
        if let Some(tail) = after.strip_prefix('%') {
            lit.push('%');
            rest = tail;
            continue;
        }
        // A mapping key is required: `%s` alone makes `fmt % dict` raise.
        let Some(key) = after.strip_prefix('(') else {
            return Err(LayoutError::Spec(after.chars().take(8).collect()));
        };
        let close = key
            .find(')')
            .ok_or(LayoutError::Malformed("unclosed %( key"))?;
        let name = &key[..close];
        if name.contains('(') {
            return Err(LayoutError::Spec(name.to_string()));
        }
        let attr = Attr::from_name(name)?;
        let spec_text = &key[close + 1..];
        let (spec, n) = super::parse_spec(spec_text)
            .map_err(|_| LayoutError::Spec(spec_text.chars().take(8).collect()))?;
        let ok = match (attr.kind(), spec.conv) {
            (_, Conv::Char) => false,
            (Kind::Any, c) => c == Conv::Str,
            (Kind::Str, c) => c.is_text(),
            (Kind::Int | Kind::Float, _) => true,
        };
        if !ok {
            return Err(LayoutError::Spec(spec_text[..n].to_string()));
        }
        if !lit.is_empty() {
            pieces.push(Piece::Lit(std::mem::take(&mut lit)));
        }
        pieces.push(Piece::Percent(attr, spec));
        rest = &spec_text[n..];
    }
    lit.push_str(rest);
    if !lit.is_empty() {
        pieces.push(Piece::Lit(lit));
    }
    Ok(pieces)
}

/// `{name}`, `{name:spec}`, `{name!s}`; `{{` and `}}` are braces.
fn parse_brace(fmt: &str) -> Result<Vec<Piece>, LayoutError> {
    let mut pieces = Vec::new();
    let mut lit = String::new();
    let mut chars = fmt.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '{' if chars.peek().map(|p| p.1) == Some('{') => {
                chars.next();
                lit.push('{');
            }
            '}' if chars.peek().map(|p| p.1) == Some('}') => {
                chars.next();
                lit.push('}');
            }
            '}' => return Err(LayoutError::Malformed("single '}'")),
            '{' => {
                let body_start = i + 1;
                let close = fmt[body_start..]
                    .find('}')
                    .ok_or(LayoutError::Malformed("unclosed '{'"))?;
                let body = &fmt[body_start..body_start + close];
                if body.contains('{') {
                    return Err(LayoutError::Spec(body.to_string()));
                }
                // Skip the field's characters.
                while chars.peek().is_some_and(|&(j, _)| j <= body_start + close) {
                    chars.next();
                }
                let (head, spec) = match body.split_once(':') {
                    Some((h, s)) => (h, s),
                    None => (body, ""),
                };
                let name = match head.split_once('!') {
                    Some((n, "s")) => n,
                    Some(_) => return Err(LayoutError::Spec(body.to_string())),
                    None => head,
                };
                let attr = Attr::from_name(name)?;
                let spec = BraceSpec::parse(spec, attr.kind())
                    .ok_or_else(|| LayoutError::Spec(body.to_string()))?;
                if !lit.is_empty() {
                    pieces.push(Piece::Lit(std::mem::take(&mut lit)));
                }
                pieces.push(Piece::Brace(attr, spec));
            }
            c => lit.push(c),
        }
    }
    if !lit.is_empty() {
        pieces.push(Piece::Lit(lit));
    }
    Ok(pieces)
}

/// `string.Template`: `$name`, `${name}`, `$$`; any other `$` makes `substitute` raise.
fn parse_dollar(fmt: &str) -> Result<Vec<Piece>, LayoutError> {
    let mut pieces = Vec::new();
    let mut lit = String::new();
    let mut rest = fmt;
    while let Some(p) = rest.find('$') {
        lit.push_str(&rest[..p]);
        let after = &rest[p + 1..];
        let (name, tail) = if let Some(t) = after.strip_prefix('$') {
            lit.push('$');
            rest = t;
            continue;
        } else if let Some(t) = after.strip_prefix('{') {
            let close = t.find('}').ok_or(LayoutError::Malformed("unclosed ${"))?;
            (&t[..close], &t[close + 1..])
        } else {
            let n = after
                .bytes()
                .take_while(|c| *c == b'_' || c.is_ascii_alphanumeric())
                .count();
            (&after[..n], &after[n..])
        };
        if !is_identifier(name) {
            return Err(LayoutError::Malformed("invalid $ placeholder"));
        }
        let attr = Attr::from_name(name)?;
        if !lit.is_empty() {
            pieces.push(Piece::Lit(std::mem::take(&mut lit)));
        }
        pieces.push(Piece::Plain(attr));
        rest = tail;
    }
    lit.push_str(rest);
    if !lit.is_empty() {
        pieces.push(Piece::Lit(lit));
    }
    Ok(pieces)
}

/// `default_msec_format`: `%`-holes taking the time string and `msecs` (`'%s,%03d'`).
fn parse_msec(fmt: &str) -> Result<Vec<MsecPiece>, LayoutError> {
    let mut pieces = Vec::new();
    let mut lit = String::new();
    let mut rest = fmt;
    let mut holes = 0;
    while let Some(p) = rest.find('%') {
        lit.push_str(&rest[..p]);
        let after = &rest[p + 1..];
        if let Some(tail) = after.strip_prefix('%') {
            lit.push('%');
            rest = tail;
            continue;
        }
        let (spec, n) = super::parse_spec(after)
            .map_err(|_| LayoutError::Spec(after.chars().take(8).collect()))?;
        // The first hole takes a str, the second the float msecs.
        let ok = match holes {
            0 => spec.conv.is_text(),
            1 => spec.conv != Conv::Char,
            _ => false,
        };
        if !ok {
            return Err(LayoutError::Spec(after[..n].to_string()));
        }
        holes += 1;
        if !lit.is_empty() {
            pieces.push(MsecPiece::Lit(std::mem::take(&mut lit)));
        }
        pieces.push(MsecPiece::Hole(spec));
        rest = &after[n..];
    }
    if holes != 2 {
        return Err(LayoutError::Malformed(
            "default_msec_format needs two holes",
        ));
    }
    lit.push_str(rest);
    if !lit.is_empty() {
        pieces.push(MsecPiece::Lit(lit));
    }
    Ok(pieces)
}

/// The `strftime` directives rendered (glibc's, C locale): `a A b B c C d D e F h H I j k l m
/// M n p P r R s S t T u w x X y Y z Z %`. Others (week numbers, ISO years, `E`/`O` modifiers,
/// glibc's `-`/`_`/`0` flags) are refused.
pub fn parse_strftime(fmt: &str) -> Result<Vec<TimePiece>, LayoutError> {
    let mut pieces = Vec::new();
    let mut lit = String::new();
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            lit.push(c);
            continue;
        }
        let Some(d) = chars.next() else {
            // A lone `%` at the end: glibc writes it as is.
            lit.push('%');
            break;
        };
        if d == '%' {
            lit.push('%');
            continue;
        }
        if !"aAbBcCdDeFhHIjklmMnpPrRsStTuwxXyYzZ".contains(d) {
            return Err(LayoutError::Directive(d));
        }
        if !lit.is_empty() {
            pieces.push(TimePiece::Lit(std::mem::take(&mut lit)));
        }
        pieces.push(TimePiece::Dir(d));
    }
    if !lit.is_empty() {
        pieces.push(TimePiece::Lit(lit));
    }
    Ok(pieces)
}

const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// Writes `tm` as C's `strftime` does in the C locale (see [`parse_strftime`]).
pub fn write_strftime(out: &mut String, pieces: &[TimePiece], tm: &Tm) {
    for p in pieces {
        match p {
            TimePiece::Lit(l) => out.push_str(l),
            TimePiece::Dir(d) => write_directive(out, *d, tm),
        }
    }
}

fn num(out: &mut String, v: i64, width: usize, pad: char) {
    let mut b = itoa::Buffer::new();
    let s = b.format(v.unsigned_abs());
    if v < 0 {
        out.push('-');
    }
    for _ in s.len()..width {
        out.push(pad);
    }
    out.push_str(s);
}

fn write_directive(out: &mut String, d: char, tm: &Tm) {
    let day = DAYS[tm.weekday as usize % 7];
    let month = MONTHS[(tm.month as usize).saturating_sub(1) % 12];
    let h12 = match tm.hour % 12 {
        0 => 12,
        h => h,
    };
    match d {
        'a' => out.push_str(&day[..3]),
        'A' => out.push_str(day),
        'b' | 'h' => out.push_str(&month[..3]),
        'B' => out.push_str(month),
        'c' => {
            for d in ['a', ' ', 'b', ' ', 'e', ' ', 'T', ' ', 'Y'] {
                if d == ' ' {
                    out.push(' ');
                } else {
                    write_directive(out, d, tm);
                }
            }
        }
        'C' => num(out, tm.year.div_euclid(100) as i64, 2, '0'),
        'd' => num(out, tm.day as i64, 2, '0'),
        'D' | 'x' => {
            num(out, tm.month as i64, 2, '0');
            out.push('/');
            num(out, tm.day as i64, 2, '0');
            out.push('/');
            num(out, tm.year.rem_euclid(100) as i64, 2, '0');
        }
        'e' => num(out, tm.day as i64, 2, ' '),
        'F' => {
            num(out, tm.year as i64, 1, '0');
            out.push('-');
            num(out, tm.month as i64, 2, '0');
            out.push('-');
            num(out, tm.day as i64, 2, '0');
        }
        'H' => num(out, tm.hour as i64, 2, '0'),
        'I' => num(out, h12 as i64, 2, '0'),
        'j' => num(out, tm.yday as i64, 3, '0'),
        'k' => num(out, tm.hour as i64, 2, ' '),
        'l' => num(out, h12 as i64, 2, ' '),
        'm' => num(out, tm.month as i64, 2, '0'),
        'M' => num(out, tm.minute as i64, 2, '0'),
        'n' => out.push('\n'),
        'p' => out.push_str(if tm.hour < 12 { "AM" } else { "PM" }),
        'P' => out.push_str(if tm.hour < 12 { "am" } else { "pm" }),
        'r' => {
            num(out, h12 as i64, 2, '0');
            out.push(':');
            num(out, tm.minute as i64, 2, '0');
            out.push(':');
            num(out, tm.second as i64, 2, '0');
            out.push(' ');
            write_directive(out, 'p', tm);
        }
        'R' => {
            num(out, tm.hour as i64, 2, '0');
            out.push(':');
            num(out, tm.minute as i64, 2, '0');
        }
        's' => num(out, tm.unix, 1, '0'),
        'S' => num(out, tm.second as i64, 2, '0'),
        't' => out.push('\t'),
        'T' | 'X' => {
            num(out, tm.hour as i64, 2, '0');
            out.push(':');
            num(out, tm.minute as i64, 2, '0');
            out.push(':');
            num(out, tm.second as i64, 2, '0');
        }
        'u' => num(
            out,
            if tm.weekday == 0 {
                7
            } else {
                tm.weekday as i64
            },
            1,
            '0',
        ),
        'w' => num(out, tm.weekday as i64, 1, '0'),
        'y' => num(out, tm.year.rem_euclid(100) as i64, 2, '0'),
        'Y' => num(out, tm.year as i64, 1, '0'),
        'z' => {
            let o = tm.offset;
            out.push(if o < 0 { '-' } else { '+' });
            let a = o.unsigned_abs();
            num(out, (a / 3600) as i64, 2, '0');
            num(out, (a / 60 % 60) as i64, 2, '0');
        }
        'Z' => out.push_str(&tm.abbrev),
        _ => {
            out.push('%');
            out.push(d);
        }
    }
}

/// A `{`-style format spec (`format(value, spec)`), the subset rendered exactly:
/// `[[fill]align][sign][#][0][width][,|_][.precision][type]`, checked against the attribute's
/// type when parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BraceSpec {
    fill: char,
    align: Option<char>,
    sign: Option<char>,
    alt: bool,
    zero: bool,
    width: usize,
    grouping: Option<char>,
    precision: Option<usize>,
    ty: Option<char>,
}

impl BraceSpec {
    /// Parses `spec` for a value of `kind`; `None` if Python would reject it or this module
    /// does not render it exactly.
    fn parse(spec: &str, kind: Kind) -> Option<BraceSpec> {
        let cs: Vec<char> = spec.chars().collect();
        let mut i = 0;
        let mut s = BraceSpec {
            fill: ' ',
            align: None,
            sign: None,
            alt: false,
            zero: false,
            width: 0,
            grouping: None,
            precision: None,
            ty: None,
        };
        let is_align = |c: char| matches!(c, '<' | '>' | '^' | '=');
        if cs.len() >= 2 && is_align(cs[1]) {
            s.fill = cs[0];
            s.align = Some(cs[1]);
            i = 2;
        } else if cs.first().copied().is_some_and(is_align) {
            s.align = Some(cs[0]);
            i = 1;
        }
        if let Some(&c @ ('+' | '-' | ' ')) = cs.get(i) {
            s.sign = Some(c);
            i += 1;
        }
        if cs.get(i) == Some(&'#') {
            s.alt = true;
            i += 1;
        }
        if cs.get(i) == Some(&'0') {
            s.zero = true;
            i += 1;
        }
        let digits = |i: &mut usize| -> Option<Option<usize>> {
            let start = *i;
            let mut v: usize = 0;
            while let Some(d) = cs.get(*i).and_then(|c| c.to_digit(10)) {
                v = v.checked_mul(10)?.checked_add(d as usize)?;
                *i += 1;
            }
            Some((*i > start).then_some(v))
        };
        s.width = digits(&mut i)?.unwrap_or(0);
        if let Some(&c @ (',' | '_')) = cs.get(i) {
            s.grouping = Some(c);
            i += 1;
        }
        if cs.get(i) == Some(&'.') {
            i += 1;
            s.precision = Some(digits(&mut i)??);
        }
        if let Some(&c) = cs.get(i) {
            s.ty = Some(c);
            i += 1;
        }
        if i != cs.len() || s.width > super::MAX_WIDTH {
            return None;
        }
        if s.precision.is_some_and(|p| p > super::MAX_PRECISION) {
            return None;
        }
        let numeric_flags = s.sign.is_some() || s.alt || s.grouping.is_some();
        let ok = match kind {
            Kind::Str => {
                matches!(s.ty, None | Some('s'))
                    && !numeric_flags
                    && !s.zero
                    && s.align != Some('=')
            }
            Kind::Any => {
                spec.is_empty()
                    || (s.ty.is_none()
                        && !numeric_flags
                        && !s.zero
                        && s.align != Some('=')
                        && s.precision.is_none())
            }
            Kind::Int => {
                s.precision.is_none()
                    && matches!(s.ty, None | Some('d' | 'x' | 'X' | 'o' | 'b'))
                    && !(s.zero && s.grouping.is_some())
                    && match s.grouping {
                        Some(',') => matches!(s.ty, None | Some('d')),
                        _ => true,
                    }
            }
            Kind::Float => {
                matches!(s.ty, None | Some('e' | 'E' | 'f' | 'F' | 'g' | 'G' | '%'))
                    && s.grouping.is_none()
                    && !(s.ty.is_none() && (s.precision.is_some() || s.alt))
            }
        };
        if !ok {
            return None;
        }
        if s.zero && s.align.is_none() && kind != Kind::Str {
            s.fill = '0';
            s.align = Some('=');
        }
        Some(s)
    }

    /// Writes `format(arg, spec)`.
    fn write(&self, out: &mut String, arg: &Arg<'_>) {
        let mut body = String::new();
        let mut sign = "";
        let mut prefix = "";
        let default_align;
        match *arg {
            Arg::I64(_) | Arg::U64(_) | Arg::I128(_) | Arg::U128(_) => {
                default_align = '>';
                let (neg, mag) = match *arg {
                    Arg::I64(v) => (v < 0, v.unsigned_abs() as u128),
                    Arg::U64(v) => (false, v as u128),
                    Arg::I128(v) => (v < 0, v.unsigned_abs()),
                    Arg::U128(v) => (false, v),
                    _ => (false, 0),
                };
                sign = self.sign_of(neg);
                let (p, digits, group) = match self.ty {
                    Some('x') => ("0x", format!("{mag:x}"), 4),
                    Some('X') => ("0X", format!("{mag:X}"), 4),
                    Some('o') => ("0o", format!("{mag:o}"), 4),
                    Some('b') => ("0b", format!("{mag:b}"), 4),
                    _ => ("", mag.to_string(), 3),
                };
                if self.alt {
                    prefix = p;
                }
                match self.grouping {
                    Some(sep) => group_digits(&mut body, &digits, group, sep),
                    None => body.push_str(&digits),
                }
            }
            Arg::F64(v) => {
                default_align = '>';
                sign = self.sign_of(v.is_sign_negative() && !v.is_nan());
                let a = v.abs();
                match self.ty {
                    None => {
                        let mut r = String::new();
                        write_float_repr(&mut r, a);
                        body.push_str(&r);
                    }
                    Some('%') => {
                        let spec = Spec {
                            alt: self.alt,
                            precision: Some(self.precision.unwrap_or(6)),
                            conv: Conv::Fixed,
                            ..Spec::default()
                        };
                        float_body(&mut body, &spec, a * 100.0);
                        body.push('%');
                    }
                    Some(t) => {
                        let spec = Spec {
                            alt: self.alt,
                            precision: self.precision,
                            conv: Conv::from_char(t).unwrap_or(Conv::General),
                            ..Spec::default()
                        };
                        float_body(&mut body, &spec, a);
                    }
                }
            }
            _ => {
                default_align = '<';
                let mut t = String::new();
                write_arg(&mut t, &Spec::default(), arg);
                let t = match self.precision {
                    Some(p) => match t.char_indices().nth(p) {
                        Some((i, _)) => t[..i].to_string(),
                        None => t,
                    },
                    None => t,
                };
                body.push_str(&t);
            }
        }
        let len = sign.len() + prefix.len() + body.chars().count();
        let pad = self.width.saturating_sub(len);
        let fill = |out: &mut String, n: usize| {
            for _ in 0..n {
                out.push(self.fill);
            }
        };
        match self.align.unwrap_or(default_align) {
            '<' => {
                out.push_str(sign);
                out.push_str(prefix);
                out.push_str(&body);
                fill(out, pad);
            }
            '^' => {
                fill(out, pad / 2);
                out.push_str(sign);
                out.push_str(prefix);
                out.push_str(&body);
                fill(out, pad - pad / 2);
            }
            '=' => {
                out.push_str(sign);
                out.push_str(prefix);
                fill(out, pad);
                out.push_str(&body);
            }
            _ => {
                fill(out, pad);
                out.push_str(sign);
                out.push_str(prefix);
                out.push_str(&body);
            }
        }
    }

    /// The empty spec: `format(value, "")` is `str(value)`.
    fn is_plain(&self) -> bool {
        self.fill == ' '
            && self.align.is_none()
            && self.sign.is_none()
            && !self.alt
            && !self.zero
            && self.width == 0
            && self.grouping.is_none()
            && self.precision.is_none()
            && self.ty.is_none()
    }

    fn sign_of(&self, neg: bool) -> &'static str {
        match (neg, self.sign) {
            (true, _) => "-",
            (false, Some('+')) => "+",
            (false, Some(' ')) => " ",
            _ => "",
        }
    }
}

/// `digits` with `sep` every `group` digits from the right.
fn group_digits(out: &mut String, digits: &str, group: usize, sep: char) {
    let n = digits.len();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (n - i) % group == 0 {
            out.push(sep);
        }
        out.push(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Rec {
        tm: Tm,
        fields: Vec<(Attr, Arg<'static>)>,
        message: &'static str,
    }

    impl Values for Rec {
        fn tm(&mut self) -> Tm {
            self.tm.clone()
        }
        fn get(&mut self, attr: &Attr) -> Arg<'_> {
            self.fields
                .iter()
                .find(|(a, _)| a == attr)
                .map(|(_, v)| *v)
                .unwrap_or(Arg::None)
        }
        fn message(&mut self, out: &mut String) {
            out.push_str(self.message)
        }
    }

    fn rec() -> Rec {
        Rec {
            // 2026-11-29 19:42:53.809 UTC, a Sunday, day 333.
            tm: Tm {
                year: 2026,
                month: 11,
                day: 29,
                hour: 19,
                minute: 42,
                second: 53,
                weekday: 0,
                yday: 333,
                offset: 0,
                abbrev: "UTC".into(),
                unix: 1_796_068_973,
            },
            fields: vec![
                (Attr::Msecs, Arg::F64(809.0)),
                (Attr::Created, Arg::F64(1_796_068_973.809_636)),
                (Attr::Levelname, Arg::Str("WARNING")),
                (Attr::Levelno, Arg::I64(30)),
                (Attr::Name, Arg::Str("root")),
                (Attr::Lineno, Arg::I64(7)),
                (Attr::Process, Arg::I64(28320)),
                (Attr::Extra("user".into()), Arg::Str("ann")),
            ],
            message: "This is a warning message.",
        }
    }

    fn render(style: Style, fmt: &str, datefmt: Option<&str>) -> String {
        let enc = encode(&Settings {
            style,
            fmt,
            datefmt,
            time_format: "%Y-%m-%d %H:%M:%S",
            msec_format: Some("%s,%03d"),
            zone: Zone::System,
        })
        .unwrap();
        let l = Layout::parse(&enc).unwrap_or_else(|e| panic!("{fmt}: {e}"));
        let mut s = String::new();
        l.render(&mut s, &mut rec(), None, None);
        s
    }

    // Expected strings: what CPython 3.11's logging.Formatter writes for the same record.

    #[test]
    fn the_seed_example_renders_as_logging_does() {
        assert_eq!(
            render(
                Style::Percent,
                "%(asctime)s - %(levelname)s - %(message)s",
                None
            ),
            "2026-11-29 19:42:53,809 - WARNING - This is a warning message."
        );
    }

    #[test]
    fn each_style_and_spec_renders_as_logging_does() {
        assert_eq!(
            render(
                Style::Percent,
                "%(levelname)-8s|%(name)5s|%(lineno)04d|%(msecs)03d|%(created).2f|%%",
                None
            ),
            "WARNING | root|0007|809|1796068973.81|%"
        );
        assert_eq!(
            render(
                Style::Brace,
                "{levelname:<8}|{name:>5}|{lineno:04d}|{msecs:03.0f}|{created:.2f}|{{}}|{user}",
                None
            ),
            "WARNING | root|0007|809|1796068973.81|{}|ann"
        );
        assert_eq!(
            render(
                Style::Brace,
                "{levelno:^6}|{process:,}|{lineno:#x}|{levelname!s:*^11}",
                None
            ),
            "  30  |28,320|0x7|**WARNING**"
        );
        assert_eq!(
            render(
                Style::Dollar,
                "$asctime $$ ${levelname}:$name:$message",
                Some("%H:%M")
            ),
            "19:42 $ WARNING:root:This is a warning message."
        );
        assert_eq!(
            render(
                Style::Percent,
                "[%(asctime)s] %(message)s",
                Some("%a %b %d %Y %I:%M:%S %p %Z %z %j")
            ),
            "[Sun Nov 29 2026 07:42:53 PM UTC +0000 333] This is a warning message."
        );
    }

    #[test]
    fn tracebacks_and_stacks_follow_on_new_lines() {
        let enc = encode(&Settings {
            style: Style::Percent,
            fmt: "%(message)s",
            datefmt: None,
            time_format: "%Y",
            msec_format: None,
            zone: Zone::Utc,
        })
        .unwrap();
        let l = Layout::parse(&enc).unwrap();
        let mut s = String::new();
        l.render(
            &mut s,
            &mut rec(),
            Some("Traceback:\n  x\nValueError: v"),
            Some("Stack:\n  y"),
        );
        assert_eq!(
            s,
            "This is a warning message.\nTraceback:\n  x\nValueError: v\nStack:\n  y"
        );
    }

    proptest::proptest! {
        /// Layouts come from shared memory any producer writes: parsing and rendering whatever
        /// is there never panics.
        #[test]
        fn any_layout_parses_or_is_refused_and_renders_without_panic(
            style in proptest::sample::select(vec!["%", "{", "$"]),
            fmt in "[%{}$()a-z0-9<>^=+#.,:!_ -]{0,40}",
            datefmt in proptest::option::of("[%a-zA-Z: -]{0,12}"),
            msec in proptest::option::of("[%sd0-9,.]{0,8}"),
        ) {
            let enc = format!(
                "pyline1\0{style}\0utc\0{fmt}\0{}\0%H\0{}\0\u{1}",
                datefmt.as_deref().unwrap_or("\u{1}"),
                msec.as_deref().unwrap_or("\u{1}"),
            );
            if let Ok(l) = Layout::parse(&enc) {
                let mut s = String::new();
                l.render(&mut s, &mut rec(), Some("x"), None);
            }
        }
    }

    #[test]
    fn what_the_drain_cannot_render_is_refused() {
        let refuse = |style, fmt: &str, datefmt: Option<&str>| {
            let enc = encode(&Settings {
                style,
                fmt,
                datefmt,
                time_format: "%Y-%m-%d %H:%M:%S",
                msec_format: Some("%s,%03d"),
                zone: Zone::System,
            })
            .unwrap();
            assert!(Layout::parse(&enc).is_err(), "{fmt} / {datefmt:?}");
        };
        refuse(Style::Percent, "%(relativeCreated)d %(message)s", None);
        refuse(Style::Percent, "%(levelname)d", None);
        refuse(Style::Percent, "%(user)d", None);
        refuse(Style::Percent, "%s", None);
        refuse(Style::Percent, "%(message)*s", None);
        refuse(Style::Brace, "{message!r}", None);
        refuse(Style::Brace, "{name.attr}", None);
        refuse(Style::Brace, "{lineno:.2}", None);
        refuse(Style::Brace, "{created:,}", None);
        refuse(Style::Brace, "{levelname:=8}", None);
        refuse(Style::Dollar, "$ x", None);
        refuse(Style::Percent, "%(asctime)s", Some("%G-W%V"));
        assert!(matches!(
            Layout::parse("pyline9\0%"),
            Err(LayoutError::Version(_))
        ));
        assert!(Layout::parse("pyline1\0%\0local").is_err());
        let many = "%(name)s".repeat(MAX_FIELDS + 1);
        refuse(Style::Percent, &many, None);
    }
}
