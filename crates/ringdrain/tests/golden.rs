//! Golden output of the formatter: fixed records, every format, compared byte for byte with
//! files in tests/golden/. Regenerate with `RINGLOG_BLESS=1 cargo test -p ringdrain --test golden`.

use std::mem::MaybeUninit;

use ringdrain::format::{Format, Formatter, NoticeValue};
use ringlog_segment::reader::CallsiteInfo;
use ringlog_wire::args::Encoder;
use ringlog_wire::callsite::{CallsiteDesc, FormatStyle};
use ringlog_wire::clock::{Calibration, ClockKind};
use ringlog_wire::decode::decode_record;
use ringlog_wire::record::{Level, RecordHeader, FLAG_TRUNCATED};

fn record(
    ts: u64,
    callsite: u32,
    level: Level,
    flags: u8,
    args: impl FnOnce(&mut Encoder<'_>),
) -> Vec<u8> {
    let mut buf = [MaybeUninit::uninit(); 512];
    let mut e = Encoder::new(&mut buf);
    args(&mut e);
    let h = RecordHeader {
        timestamp: ts,
        callsite,
        pid: 4242,
        tid: 4243,
        len: e.len() as u16,
        level: level as u8,
        flags,
    };
    let mut v = bytemuck::bytes_of(&h).to_vec();
    v.extend_from_slice(e.as_bytes());
    v
}

fn callsite(format: &str, fields: &[&str]) -> CallsiteInfo {
    CallsiteInfo::new(
        64,
        &CallsiteDesc {
            level: Level::Info,
            style: FormatStyle::Brace,
            line: 17,
            target: "app::http",
            module: "app::http",
            file: "src/http.rs",
            format,
            fields: fields.to_vec(),
            layout: "",
        },
    )
}

fn render(format: Format) -> String {
    let cal = Calibration::new(ClockKind::Realtime, 0, 0, 0);
    let mut f = Formatter::new(format, cal);
    f.set_notice_pid(1000);
    let mut out = Vec::new();
    let t0 = 1_764_112_733_000_000_007u64; // 2025-11-25T23:18:53.000000007Z
    let served = callsite("request {} served in {} us by {}", &["status", "ms"]);
    let r = record(t0, 64, Level::Info, 0, |e| {
        e.u64(7);
        e.f64(1.75);
        e.str("p0-t1");
        e.u16(200);
        e.f64(1.5);
    });
    f.record(&mut out, &decode_record(&r).unwrap(), Ok(Some(&served)));
    // Hostile bytes in arguments: newlines, quotes, control characters, unicode.
    let quoted = callsite("user said {}", &["note"]);
    let r = record(t0 + 1_000_000_000, 64, Level::Warn, 0, |e| {
        e.str("line1\nline2 \"quoted\" \u{7}bell é");
        e.str("a=b c");
    });
    f.record(&mut out, &decode_record(&r).unwrap(), Ok(Some(&quoted)));
    // Missing argument, truncated record.
    let two = callsite("{} and {}", &[]);
    let r = record(t0 + 2, 64, Level::Error, FLAG_TRUNCATED, |e| e.str("only"));
    f.record(&mut out, &decode_record(&r).unwrap(), Ok(Some(&two)));
    // Unknown callsite id, and callsite 0 (message as first argument).
    let r = record(t0 + 3, 999, Level::Debug, 0, |e| {
        e.str("orphan");
        e.i32(-5);
    });
    f.record(
        &mut out,
        &decode_record(&r).unwrap(),
        Err("unknown callsite id 999"),
    );
    let r = record(t0 + 4, 0, Level::Trace, 0, |e| {
        e.str("raw message");
        e.bool(true);
    });
    f.record(&mut out, &decode_record(&r).unwrap(), Ok(None));
    // All value kinds as fields.
    let kinds = callsite(
        "kinds",
        &["u", "i", "f", "b", "c", "s", "bytes", "none", "nan"],
    );
    let r = record(t0 + 5, 64, Level::Info, 0, |e| {
        e.u128(u128::MAX);
        e.i64(i64::MIN);
        e.f32(0.1);
        e.bool(false);
        e.char('λ');
        e.display_str("shown");
        e.bytes(&[1, 2, 255]);
        e.none();
        e.f64(f64::NAN);
    });
    f.record(&mut out, &decode_record(&r).unwrap(), Ok(Some(&kinds)));
    f.notice(
        &mut out,
        (t0 + 6) as i64,
        Level::Warn,
        "producers dropped records (ring full or no drain)",
        &[
            ("dropped", NoticeValue::U64(3)),
            ("since", NoticeValue::Str("2025-11-25T23:18:53Z")),
        ],
    );
    String::from_utf8(out).unwrap()
}

fn check(name: &str, format: Format) {
    let got = render(format);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("RINGLOG_BLESS").is_some() {
        std::fs::write(&path, &got).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with RINGLOG_BLESS=1 to create it)",
            path.display()
        )
    });
    assert_eq!(got, want, "golden file {} differs", path.display());
    // One record, one line, whatever the arguments held.
    assert_eq!(got.lines().count(), 7);
}

#[test]
fn text_output_matches_golden_file() {
    check("text.txt", Format::Text);
}

#[test]
fn logfmt_output_matches_golden_file() {
    check("logfmt.txt", Format::Logfmt);
}

#[test]
fn json_output_matches_golden_file_and_parses() {
    check("json.txt", Format::Json);
    for line in render(Format::Json).lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(v["ts"].is_string() && v["level"].is_string() && v["msg"].is_string());
    }
    let first: serde_json::Value =
        serde_json::from_str(render(Format::Json).lines().next().unwrap()).unwrap();
    assert_eq!(first["msg"], "request 7 served in 1.75 us by p0-t1");
    assert_eq!(first["fields"]["status"], 200);
    assert_eq!(first["fields"]["ms"], 1.5);
    assert_eq!(first["ts"], "2025-11-25T23:18:53.000000007Z");
}

#[test]
fn an_empty_message_leaves_a_single_space_before_the_fields() {
    let cal = Calibration::new(ClockKind::Realtime, 0, 0, 0);
    let mut f = Formatter::new(Format::Text, cal);
    let mut out = Vec::new();
    let cs = callsite("", &["k"]);
    let r = record(1_000_000_000, 64, Level::Info, 0, |e| e.u8(1));
    f.record(&mut out, &decode_record(&r).unwrap(), Ok(Some(&cs)));
    let line = String::from_utf8(out).unwrap();
    assert!(line.ends_with("app::http: k=1\n"), "{line:?}");
}

/// A callsite as the reader resolves it: `Ok(None)` for id 0, `Err` with why it did not resolve.
type Resolved = Result<Option<CallsiteInfo>, &'static str>;

/// Records with every kind of mismatch, as `(callsite, record bytes)`.
fn mismatched() -> Vec<(Resolved, Vec<u8>)> {
    let t = 1_000_000_000u64;
    vec![
        // More arguments than holes and fields.
        (
            Ok(Some(callsite("a {} b", &["k"]))),
            record(t, 64, Level::Info, 0, |e| {
                e.u8(1);
                e.u8(2);
                e.str("extra");
                e.bool(true);
            }),
        ),
        // An argument missing, not truncated.
        (
            Ok(Some(callsite("{} and {1}", &[]))),
            record(t, 64, Level::Info, 0, |e| e.str("one")),
        ),
        // A malformed format (a damaged or foreign callsite).
        (
            Ok(Some(callsite("x {:p} y", &["k"]))),
            record(t, 64, Level::Info, 0, |e| e.u8(9)),
        ),
        // A named hole with no such field; a named hole with one.
        (
            Ok(Some(callsite("{nope} {status}", &["status"]))),
            record(t, 64, Level::Info, 0, |e| e.u16(200)),
        ),
        // Indexed holes.
        (
            Ok(Some(callsite("{1}-{0}-{1}", &["k"]))),
            record(t, 64, Level::Info, 0, |e| {
                e.str("a");
                e.str("b");
                e.u8(3);
            }),
        ),
        // Unknown id, with arguments cut short by damage.
        (
            Err("unknown callsite id 72"),
            record(t, 72, Level::Info, FLAG_TRUNCATED, |e| {
                e.str("m");
                e.u8(5);
            }),
        ),
    ]
}

#[test]
fn owned_records_and_every_format_agree_on_message_fields_and_problems() {
    let cal = Calibration::new(ClockKind::Realtime, 0, 0, 0);
    let want_text = [
        "app::http: a 1 b k=2 _1=extra _2=true [ringlog: 2 more argument(s) than holes and fields]",
        "app::http: one and {?} [ringlog: 1 argument(s) missing]",
        "app::http: x {!bad format}{:p} y k=9 [ringlog: malformed format string: `{:p}` is not supported: an address means nothing once the record leaves the process]",
        "app::http: {!bad format} 200 status=200 [ringlog: the format names {nope}, which is not a field]",
        "app::http: b-a-b k=3",
        "m [truncated] _0=5 [ringlog: unknown callsite id 72]",
    ];
    for ((cs, bytes), want) in mismatched().iter().zip(want_text) {
        let rec = decode_record(bytes).unwrap();
        let cs = cs.as_ref().map(|c| c.as_ref()).map_err(|e| *e);
        // The owned record (what tests and `ringdrain cat` read) ...
        let owned = ringlog_wire::view::OwnedRecord::decode(&rec, cs, &cal);
        let mut rebuilt = String::new();
        if !owned.target.is_empty() {
            rebuilt.push_str(&owned.target);
            rebuilt.push_str(": ");
        }
        rebuilt.push_str(&owned.message);
        for (k, v) in &owned.fields {
            rebuilt.push_str(&format!(" {k}={v}"));
        }
        for p in &owned.problems {
            rebuilt.push_str(&format!(" [ringlog: {p}]"));
        }
        assert_eq!(rebuilt, want);
        // ... is what the text line shows ...
        let mut out = Vec::new();
        Formatter::new(Format::Text, cal).record(&mut out, &rec, cs);
        let line = String::from_utf8(out).unwrap();
        assert_eq!(line.split_once("] ").unwrap().1, format!("{want}\n"));
        // ... and what JSON carries as fields and `ringlog_error`.
        let mut out = Vec::new();
        Formatter::new(Format::Json, cal).record(&mut out, &rec, cs);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let mut keys: Vec<&String> = v["fields"].as_object().unwrap().keys().collect();
        let mut owned_keys: Vec<&String> = owned.fields.iter().map(|(k, _)| k).collect();
        keys.sort();
        owned_keys.sort();
        assert_eq!(keys, owned_keys);
        assert_eq!(
            v["ringlog_error"].as_str().unwrap_or(""),
            owned.problems.join("; ")
        );
        assert_eq!(v["msg"].as_str().unwrap(), owned.message);
    }
}
