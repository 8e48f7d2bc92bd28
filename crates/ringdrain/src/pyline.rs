//! Text lines for records of a Python `ringlog.Handler` that has a Formatter: the drain writes
//! the line that Formatter would have written (`logging.Formatter.format`), not ringlog's text
//! line, so the log file is the one a `FileHandler` with that Formatter would write.
//!
//! The layout (format string, style, `datefmt`, time zone) is parsed once per callsite by
//! ringlog-wire ([`ringlog_wire::pyfmt::line`]); this module supplies what it needs that is not
//! pure: the record's attributes from its [`RecordView`] and callsite, and the local time as
//! C's `localtime` gives it to Python: the producer's `TZ` if it had one (an IANA name or a
//! POSIX rule, as glibc reads it), else `/etc/localtime`, else UTC. The line is written as the
//! Formatter makes it, newlines of a traceback included (a `FileHandler` writes them too);
//! problems the view finds are appended to the message as ` [ringlog: ...]`, as in text lines.
//! JSON and logfmt outputs do not use layouts: they keep every attribute as a field.

use std::collections::HashMap;

use jiff::tz::TimeZone;
use jiff::Timestamp;
use ringlog_wire::args::Arg;
use ringlog_wire::pyfmt::line::{write_strftime, Attr, Layout, TimePiece, Tm, Values, Zone};
use ringlog_wire::record::Level;
use ringlog_wire::view::{Callsite, RecordView};

/// Time zones by layout zone, the last broken-down second and the last formatted time (most
/// lines of a batch share them), and a reused line buffer.
#[derive(Debug, Default)]
pub struct Clock {
    zones: HashMap<Zone, TimeZone>,
    last: Option<(Zone, i64, Tm)>,
    /// (zone, second, the time format's address and length) and its text.
    text: Option<(Zone, i64, usize, usize, String)>,
    line: String,
}

impl Clock {
    /// `unix_sec` broken down in `zone`.
    fn tm(&mut self, zone: &Zone, unix_sec: i64) -> Tm {
        if let Some((z, s, tm)) = &self.last {
            if *s == unix_sec && z == zone {
                return tm.clone();
            }
        }
        let tz = self
            .zones
            .entry(zone.clone())
            .or_insert_with(|| load_zone(zone));
        let ts = Timestamp::from_second(unix_sec).unwrap_or(Timestamp::UNIX_EPOCH);
        let info = tz.to_offset_info(ts);
        let dt = info.offset().to_datetime(ts);
        let abbrev = match zone {
            // Python's time.gmtime() names its zone GMT.
            Zone::Utc => "GMT".to_string(),
            _ => info.abbreviation().to_string(),
        };
        let tm = Tm {
            year: dt.year() as i32,
            month: dt.month() as u8,
            day: dt.day() as u8,
            hour: dt.hour() as u8,
            minute: dt.minute() as u8,
            second: dt.second() as u8,
            weekday: dt.weekday().to_sunday_zero_offset() as u8,
            yday: dt.day_of_year() as u16,
            offset: info.offset().seconds(),
            abbrev,
            unix: unix_sec,
        };
        self.last = Some((zone.clone(), unix_sec, tm.clone()));
        tm
    }
}

/// The zone C's `localtime` would use (see the module docs).
fn load_zone(zone: &Zone) -> TimeZone {
    let from_file = |path: &str| {
        std::fs::read(path)
            .ok()
            .and_then(|data| TimeZone::tzif(path, &data).ok())
    };
    match zone {
        Zone::Utc => TimeZone::UTC,
        Zone::System => from_file("/etc/localtime").unwrap_or(TimeZone::UTC),
        Zone::Tz(tz) => {
            let name = tz.strip_prefix(':').unwrap_or(tz);
            if name.is_empty() {
                return TimeZone::UTC;
            }
            if name.starts_with('/') {
                return from_file(name).unwrap_or(TimeZone::UTC);
            }
            // glibc tries a zoneinfo file first, then a POSIX rule.
            TimeZone::get(name)
                .or_else(|_| TimeZone::posix(name))
                .unwrap_or(TimeZone::UTC)
        }
    }
}

/// Python's level names for ringlog's levels (a record at another Python level carries its
/// own `levelname`).
fn level_name(level: Level) -> &'static str {
    match level {
        Level::Critical => "CRITICAL",
        Level::Error => "ERROR",
        Level::Warn => "WARNING",
        Level::Info => "INFO",
        Level::Debug => "DEBUG",
        Level::Trace => "TRACE",
    }
}

fn level_no(level: Level) -> i64 {
    match level {
        Level::Critical => 50,
        Level::Error => 40,
        Level::Warn => 30,
        Level::Info => 20,
        Level::Debug => 10,
        Level::Trace => 5,
    }
}

/// `os.path.basename`.
fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// `os.path.splitext(name)[0]`: the text before the last dot, unless only dots precede it.
fn stem(name: &str) -> &str {
    match name.rfind('.') {
        Some(d) if name[..d].bytes().any(|c| c != b'.') => &name[..d],
        _ => name,
    }
}

struct RecordValues<'v, 'a> {
    view: &'v RecordView<'a>,
    cs: &'a Callsite,
    zone: &'v Zone,
    clock: &'v mut Clock,
}

impl<'a> RecordValues<'_, 'a> {
    fn field(&self, name: &str) -> Option<Arg<'a>> {
        let args = &self.view.args[self.view.fields_from()..];
        self.cs
            .fields
            .iter()
            .zip(args)
            .find(|(n, _)| *n == name)
            .map(|(_, a)| *a)
    }
}

impl Values for RecordValues<'_, '_> {
    fn tm(&mut self) -> Tm {
        self.clock
            .tm(self.zone, self.view.unix_ns.div_euclid(1_000_000_000))
    }

    fn strftime(&mut self, time: &[TimePiece], out: &mut String) {
        // The layout lives in its callsite, which the reader's cache keeps for the drain's
        // life: its address identifies the format.
        let sec = self.view.unix_ns.div_euclid(1_000_000_000);
        let key = (time.as_ptr() as usize, time.len());
        if let Some((z, s, p, n, text)) = &self.clock.text {
            if *s == sec && (*p, *n) == key && z == self.zone {
                out.push_str(text);
                return;
            }
        }
        let tm = self.tm();
        let mut text = String::with_capacity(32);
        write_strftime(&mut text, time, &tm);
        out.push_str(&text);
        self.clock.text = Some((self.zone.clone(), sec, key.0, key.1, text));
    }

    fn get(&mut self, attr: &Attr) -> Arg<'_> {
        let v = self.view;
        let cs = self.cs;
        match attr {
            Attr::Created => Arg::F64(v.unix_ns as f64 / 1e9),
            Attr::Msecs => Arg::F64((v.unix_ns.rem_euclid(1_000_000_000) / 1_000_000) as f64),
            Attr::Levelname => self
                .field("levelname")
                .unwrap_or(Arg::Str(level_name(v.level))),
            Attr::Levelno => Arg::I64(level_no(v.level)),
            Attr::Name => Arg::Str(&cs.target),
            Attr::Process => self.field("process").unwrap_or(Arg::I64(v.pid as i64)),
            Attr::ProcessName => self.field("processName").unwrap_or(Arg::Str("MainProcess")),
            Attr::Thread => self.field("thread").unwrap_or(Arg::U64(v.tid as u64)),
            Attr::ThreadName => self.field("threadName").unwrap_or(Arg::Str("MainThread")),
            Attr::TaskName => self.field("taskName").unwrap_or(Arg::None),
            Attr::Filename => Arg::Str(basename(&cs.file)),
            Attr::Pathname => Arg::Str(&cs.file),
            Attr::Module => Arg::Str(stem(basename(&cs.file))),
            Attr::Lineno => Arg::I64(cs.line as i64),
            Attr::FuncName => Arg::Str(&cs.module),
            // The producer sends a record naming an extra it lacks formatted; a damaged one
            // shows the gap.
            Attr::Extra(name) => self
                .field(name)
                .unwrap_or(Arg::Str("[ringlog: field missing]")),
            Attr::Asctime | Attr::Message => Arg::None,
        }
    }

    fn message(&mut self, out: &mut String) {
        self.view.message(out);
        self.view.problems(|p| {
            out.push_str(" [ringlog: ");
            out.push_str(p);
            out.push(']');
        });
    }
}

/// Writes the line of `view` (whose callsite is `cs`, with `layout`) and its newline.
pub(crate) fn write_line(
    out: &mut Vec<u8>,
    view: &RecordView<'_>,
    cs: &Callsite,
    layout: &Layout,
    clock: &mut Clock,
) {
    let mut line = std::mem::take(&mut clock.line);
    line.clear();
    let mut values = RecordValues {
        view,
        cs,
        zone: &layout.zone,
        clock,
    };
    let text = |name: &str| match values.field(name) {
        Some(Arg::Str(s) | Arg::Display(s)) => Some(s),
        _ => None,
    };
    let exc_text = text("exc_text");
    let stack_info = text("stack_info");
    layout.render(&mut line, &mut values, exc_text, stack_info);
    out.extend_from_slice(line.as_bytes());
    out.push(b'\n');
    values.clock.line = line;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_split_as_os_path_does() {
        assert_eq!(basename("/a/b/app.py"), "app.py");
        assert_eq!(basename("app.py"), "app.py");
        assert_eq!(stem("app.py"), "app");
        assert_eq!(stem("app.tar.gz"), "app.tar");
        assert_eq!(stem(".bashrc"), ".bashrc");
        assert_eq!(stem("..x"), "..x");
        assert_eq!(stem("<stdin>"), "<stdin>");
    }

    #[test]
    fn local_time_follows_a_posix_tz_rule() {
        let mut c = Clock::default();
        // 2026-07-01T12:00:00Z under US Eastern rules: EDT, -0400.
        let tm = c.tm(&Zone::Tz("EST5EDT,M3.2.0,M11.1.0".into()), 1_782_907_200);
        assert_eq!(
            (tm.hour, tm.offset, tm.abbrev.as_str()),
            (8, -4 * 3600, "EDT")
        );
        let tm = c.tm(&Zone::Utc, 1_782_907_200);
        assert_eq!((tm.hour, tm.abbrev.as_str()), (12, "GMT"));
    }
}
