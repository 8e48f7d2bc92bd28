//! Python line layouts in the drain's formatter: a Python handler's records are written with
//! its Formatter's layout, Rust records beside them keep ringlog's line, JSON and logfmt keep
//! the attributes as fields, and a layout this drain cannot render is reported, not guessed.

use std::mem::MaybeUninit;

use ringdrain::format::{Format, Formatter};
use ringlog_segment::reader::CallsiteInfo;
use ringlog_wire::args::Encoder;
use ringlog_wire::callsite::{decode_callsite, encode_callsite, CallsiteDesc, FormatStyle};
use ringlog_wire::clock::{Calibration, ClockKind};
use ringlog_wire::decode::decode_record;
use ringlog_wire::pyfmt::line::{encode, Settings, Style, Zone};
use ringlog_wire::record::{Level, RecordHeader};

fn record(ts: u64, level: Level, args: impl FnOnce(&mut Encoder<'_>)) -> Vec<u8> {
    let mut buf = [MaybeUninit::uninit(); 1024];
    let mut e = Encoder::new(&mut buf);
    args(&mut e);
    let h = RecordHeader {
        timestamp: ts,
        callsite: 64,
        pid: 4242,
        tid: 4243,
        len: e.len() as u16,
        level: level as u8,
        flags: 0,
    };
    let mut v = bytemuck::bytes_of(&h).to_vec();
    v.extend_from_slice(e.as_bytes());
    v
}

/// A callsite as the Python producer registers it, round-tripped through the table encoding.
fn python_callsite(format: &str, fields: &[&str], layout: &str) -> CallsiteInfo {
    let desc = CallsiteDesc {
        level: Level::Warn,
        style: FormatStyle::Percent,
        line: 42,
        target: "app.http",
        module: "handle",
        file: "/srv/app/http.py",
        format,
        fields: fields.to_vec(),
        layout,
    };
    let mut bytes = Vec::new();
    encode_callsite(&desc, &mut bytes).unwrap();
    CallsiteInfo::new(64, &decode_callsite(64, &bytes).unwrap())
}

fn layout(style: Style, fmt: &str, datefmt: Option<&str>, zone: Zone) -> String {
    encode(&Settings {
        style,
        fmt,
        datefmt,
        time_format: "%Y-%m-%d %H:%M:%S",
        msec_format: Some("%s,%03d"),
        zone,
    })
    .unwrap()
}

// 2026-11-29T19:42:53.809636115Z
const T0: u64 = 1_795_981_373_809_636_115;

fn render(format: Format, cs: &CallsiteInfo, rec: &[u8]) -> String {
    let mut f = Formatter::new(format, Calibration::new(ClockKind::Realtime, 0, 0, 0));
    let mut out = Vec::new();
    f.record(&mut out, &decode_record(rec).unwrap(), Ok(Some(cs)));
    String::from_utf8(out).unwrap()
}

#[test]
fn the_seed_example_line_is_the_formatters_not_ringlogs() {
    let cs = python_callsite(
        "This is a %s message.",
        &[],
        &layout(
            Style::Percent,
            "%(asctime)s - %(levelname)s - %(message)s",
            None,
            Zone::Utc,
        ),
    );
    let rec = record(T0, Level::Warn, |e| e.str("warning"));
    assert_eq!(
        render(Format::Text, &cs, &rec),
        "2026-11-29 19:42:53,809 - WARNING - This is a warning message.\n"
    );
}

#[test]
fn record_attributes_come_from_the_callsite_header_and_fields() {
    let cs = python_callsite(
        "%d done",
        &["exc_text", "thread", "threadName", "processName", "user"],
        &layout(
            Style::Brace,
            "{asctime} {levelname:<8}|{levelno}|{name}|{filename}|{module}|{funcName}|{lineno}|\
             {pathname}|{process}|{thread}|{threadName}|{processName}|{taskName}|{user}|{message}",
            Some("%H:%M:%S %Z"),
            Zone::Tz("EST5EDT,M3.2.0,M11.1.0".into()),
        ),
    );
    let rec = record(T0, Level::Error, |e| {
        e.i64(3);
        e.str("Traceback (most recent call last):\n  File \"x\"\nValueError: v");
        e.u64(140_000_000_000_001);
        e.str("T1");
        e.str("Worker-1");
        e.str("ann");
    });
    assert_eq!(
        render(Format::Text, &cs, &rec),
        "14:42:53 EST ERROR   |40|app.http|http.py|http|handle|42|/srv/app/http.py|4242|\
         140000000000001|T1|Worker-1|None|ann|3 done\n\
         Traceback (most recent call last):\n  File \"x\"\nValueError: v\n"
    );
}

#[test]
fn a_rust_record_in_the_same_ring_keeps_its_own_line() {
    let rust = CallsiteInfo::new(
        64,
        &CallsiteDesc {
            level: Level::Info,
            style: FormatStyle::Brace,
            line: 7,
            target: "app::db",
            module: "app::db",
            file: "src/db.rs",
            format: "query {} took {} ms",
            fields: vec![],
            layout: "",
        },
    );
    let python = python_callsite(
        "%s",
        &[],
        &layout(
            Style::Percent,
            "%(levelname)s:%(name)s:%(message)s",
            None,
            Zone::Utc,
        ),
    );
    let mut f = Formatter::new(Format::Text, Calibration::new(ClockKind::Realtime, 0, 0, 0));
    let mut out = Vec::new();
    let r1 = record(T0, Level::Info, |e| {
        e.u64(9);
        e.f64(1.5);
    });
    f.record(&mut out, &decode_record(&r1).unwrap(), Ok(Some(&rust)));
    let r2 = record(T0 + 1, Level::Warn, |e| e.str("from python"));
    f.record(&mut out, &decode_record(&r2).unwrap(), Ok(Some(&python)));
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "2026-11-29T19:42:53.809636115Z INFO  [4242:4243] app::db: query 9 took 1.5 ms\n\
         WARNING:app.http:from python\n"
    );
}

#[test]
fn json_and_logfmt_keep_the_attributes_as_fields_without_the_layout() {
    let cs = python_callsite(
        "%s done",
        &["threadName"],
        &layout(
            Style::Percent,
            "%(asctime)s %(message)s",
            None,
            Zone::System,
        ),
    );
    let rec = record(T0, Level::Info, |e| {
        e.str("job");
        e.str("T1");
    });
    assert_eq!(
        render(Format::Json, &cs, &rec),
        "{\"ts\":\"2026-11-29T19:42:53.809636115Z\",\"level\":\"info\",\"pid\":4242,\"tid\":4243,\
         \"target\":\"app.http\",\"msg\":\"job done\",\"file\":\"/srv/app/http.py\",\"line\":42,\
         \"fields\":{\"threadName\":\"T1\"}}\n"
    );
    assert!(render(Format::Logfmt, &cs, &rec).contains(" msg=\"job done\" threadName=T1\n"));
}

#[test]
fn a_layout_this_drain_cannot_render_is_a_visible_problem() {
    // A newer producer's layout version: the ordinary line, with the reason.
    let cs = python_callsite("%s", &[], "pyline9\0whatever");
    let rec = record(T0, Level::Info, |e| e.str("hello"));
    let line = render(Format::Text, &cs, &rec);
    assert!(
        line.ends_with(
            "app.http: hello [ringlog: not a ringlog line layout (version \"pyline9\")]\n"
        ),
        "{line}"
    );
}
