//! `log` records through `RingLog` come out of `ringdrain` with the right level, target,
//! message and fields, as text and as JSON.
//!
//! `log`'s global logger can be installed once per process, so everything that goes through
//! the `log::info!` macros is in one test function (`log_macros_...`); the other tests drive a
//! `RingLog` of their own through `log::Log::log`.

#[path = "../../ringlog-testkit/include/bridge.rs"]
mod bridge;

use bridge::{drain, logger};
use log::{Log, Record};
use ringdrain::format::Format;
use ringlog::{Level, Logger};
use ringlog_log::RingLog;
use ringlog_testkit::lines::{json_lines, text_body};
use ringlog_testkit::TestDir;
use serde_json::Value as Json;

/// What `emit` logs, in order, as (level, target, text body after the target).
const EXPECTED_TEXT: &[(&str, &str, &str)] = &[
    ("INFO", "log_bridge", "service started"),
    ("INFO", "log_bridge", "literal {} braces"),
    ("WARN", "log_bridge", "request 7 took 12.5 ms by \"w1\""),
    (
        "INFO",
        "log_bridge",
        "query done user=ada rows=1200 ok=true ratio=0.25 neg=-3 addr=10.0.0.1 tag=x",
    ),
    ("ERROR", "log_bridge", "failed 3 times code=500"),
    ("DEBUG", "log_bridge::db", "db detail"),
];

fn emit() {
    let addr = std::net::Ipv4Addr::new(10, 0, 0, 1);
    log::info!("service started");
    log::info!("literal {{}} braces");
    log::warn!("request {} took {} ms by {:?}", 7, 12.5, "w1");
    log::info!(
        user = "ada", rows = 1200, ok = true, ratio = 0.25, neg = -3, addr:% = addr, tag = 'x';
        "query done"
    );
    log::error!(code = 500u16; "failed {} times", 3);
    log::debug!(target: "log_bridge::db", "db detail");
    // Filtered out: by the directives (default info) and by target.
    log::debug!("not recorded");
    log::trace!(target: "log_bridge::db", "not recorded either");
    log::error!(target: "noisy", "off for this target");
}

#[test]
fn log_macros_come_out_of_ringdrain_with_level_target_message_and_fields() {
    let dir = TestDir::new();
    let ring = dir.join("app.ring");
    let logger = logger_with(&ring, "info,log_bridge::db=debug,noisy=off");
    ringlog_log::init(logger.clone()).expect("install the logger");

    assert_eq!(log::max_level(), log::LevelFilter::Debug);
    assert!(log::log_enabled!(target: "log_bridge::db", log::Level::Debug));
    assert!(!log::log_enabled!(log::Level::Debug));
    assert!(!log::log_enabled!(target: "noisy", log::Level::Error));
    assert!(
        ringlog_log::init(logger.clone()).is_err(),
        "a second install is refused"
    );

    // Text.
    emit();
    let sites = logger.segment().callsites().count();
    assert_eq!(
        sites as usize,
        EXPECTED_TEXT.len(),
        "one callsite per call site"
    );
    let lines = drain(&ring, Format::Text, "app.log");
    assert_eq!(lines.len(), EXPECTED_TEXT.len(), "{lines:#?}");
    for (line, (level, target, text)) in lines.iter().zip(EXPECTED_TEXT) {
        assert_eq!(
            text_body(line, level),
            format!("{target}: {text}"),
            "{line}"
        );
    }

    // JSON, from the same call sites again: the cached ids are reused, the table does not grow.
    emit();
    assert_eq!(logger.segment().callsites().count(), sites);
    let json = json_lines(&drain(&ring, Format::Json, "app.json"));
    assert_eq!(json.len(), EXPECTED_TEXT.len());
    let levels: Vec<&str> = json.iter().map(|j| j["level"].as_str().unwrap()).collect();
    assert_eq!(levels, ["info", "info", "warn", "info", "error", "debug"]);
    let msgs: Vec<&str> = json.iter().map(|j| j["msg"].as_str().unwrap()).collect();
    assert_eq!(
        msgs,
        [
            "service started",
            "literal {} braces",
            "request 7 took 12.5 ms by \"w1\"",
            "query done",
            "failed 3 times",
            "db detail"
        ]
    );
    assert_eq!(json[5]["target"], "log_bridge::db");
    let f = &json[3]["fields"];
    assert_eq!(f["user"], "ada");
    assert_eq!(f["rows"], 1200);
    assert_eq!(f["ok"], true);
    assert_eq!(f["ratio"], 0.25);
    assert_eq!(f["neg"], -3);
    assert_eq!(f["addr"], "10.0.0.1");
    assert_eq!(f["tag"], "x");
    assert_eq!(json[4]["fields"]["code"], 500);
    for j in &json {
        assert!(
            j["file"].as_str().unwrap().ends_with("log_bridge.rs"),
            "{j}"
        );
        assert!(j["line"].as_u64().unwrap() > 0, "{j}");
        assert_eq!(j["pid"], std::process::id());
    }
    assert_eq!(logger.stats().dropped, 0);
}

fn record_at<'a>(
    level: log::Level,
    target: &'a str,
    line: u32,
    args: std::fmt::Arguments<'a>,
    kvs: &'a dyn log::kv::Source,
) -> Record<'a> {
    Record::builder()
        .level(level)
        .target(target)
        .module_path_static(Some("app::module"))
        .file_static(Some("src/app.rs"))
        .line(Some(line))
        .args(args)
        .key_values(kvs)
        .build()
}

/// A ring of 4096 slots at `ring` filtered by `directives` (as `RUST_LOG` would give them).
fn logger_with(ring: &std::path::Path, directives: &str) -> Logger {
    Logger::builder()
        .path(ring)
        .slot_count(1 << 12)
        .directives(directives.parse().expect("directives"))
        .open()
        .expect("open ring")
}

fn log_at(rl: &RingLog, level: log::Level, target: &str, message: &str) {
    rl.log(&record_at(
        level,
        target,
        1,
        format_args!("{message}"),
        &[] as &[(&str, i32); 0],
    ));
}

#[test]
fn the_loggers_directives_quiet_one_target_and_open_up_another() {
    let dir = TestDir::new();
    let ring = dir.join("r.ring");
    let rl = RingLog::new(logger_with(&ring, "info,hyper=warn,app::db=trace"));
    assert_eq!(rl.max_level(), log::LevelFilter::Trace);
    let meta = |level, target| log::Metadata::builder().level(level).target(target).build();
    assert!(!rl.enabled(&meta(log::Level::Info, "hyper::proto")));
    assert!(rl.enabled(&meta(log::Level::Trace, "app::db::pool")));
    // Twice each: the second call uses the cached verdict.
    for _ in 0..2 {
        log_at(&rl, log::Level::Info, "hyper::proto", "hyper info, quiet");
        log_at(&rl, log::Level::Warn, "hyper::proto", "hyper warn");
        log_at(&rl, log::Level::Info, "hyperx", "hyperx info");
        log_at(&rl, log::Level::Trace, "app::db::pool", "db trace");
        log_at(&rl, log::Level::Debug, "app::http", "http debug, quiet");
        log_at(&rl, log::Level::Info, "app::http", "http info");
    }
    let lines = drain(&ring, Format::Text, "out.log");
    let bodies: Vec<&str> = lines
        .iter()
        .zip(["WARN", "INFO", "TRACE", "INFO"].iter().cycle())
        .map(|(l, level)| text_body(l, level))
        .collect();
    let once = [
        "hyper::proto: hyper warn",
        "hyperx: hyperx info",
        "app::db::pool: db trace",
        "app::http: http info",
    ];
    assert_eq!(bodies, [once, once].concat(), "{lines:#?}");
}

#[test]
fn a_filter_change_at_run_time_reaches_cached_targets() {
    let dir = TestDir::new();
    let ring = dir.join("r.ring");
    let rl = RingLog::new(logger_with(&ring, "info"));
    log_at(&rl, log::Level::Info, "app", "before");
    rl.logger()
        .set_directives("info,app=off".parse().expect("directives"));
    log_at(&rl, log::Level::Info, "app", "after, quiet");
    log_at(&rl, log::Level::Info, "other", "other");
    let lines = drain(&ring, Format::Text, "out.log");
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert_eq!(text_body(&lines[0], "INFO"), "app: before");
    assert_eq!(text_body(&lines[1], "INFO"), "other: other");
}

#[test]
fn long_formatted_messages_are_cut_at_512_bytes_with_a_mark() {
    let dir = TestDir::new();
    let ring = dir.join("r.ring");
    let rl = RingLog::new(logger(&ring, Level::Trace));
    let long = "ab".repeat(1000);
    rl.log(&record_at(
        log::Level::Info,
        "app",
        1,
        format_args!("{long}"),
        &[("n", 1)],
    ));
    let json = json_lines(&drain(&ring, Format::Json, "out.json"));
    let msg = json[0]["msg"].as_str().unwrap();
    assert!(msg.ends_with('…'), "{msg}");
    assert!(msg.len() <= 512, "{}", msg.len());
    assert!(msg.len() >= 500, "{}", msg.len());
    assert!(long.starts_with(msg.trim_end_matches('…')));
    assert_eq!(json[0]["fields"]["n"], 1, "fields survive the cut");
}

#[test]
fn one_site_with_different_key_sets_gets_a_callsite_for_each() {
    let dir = TestDir::new();
    let ring = dir.join("r.ring");
    let rl = RingLog::new(logger(&ring, Level::Info));
    for _ in 0..3 {
        rl.log(&record_at(
            log::Level::Info,
            "app",
            9,
            format_args!("same"),
            &[("a", 1)],
        ));
        rl.log(&record_at(
            log::Level::Info,
            "app",
            9,
            format_args!("same"),
            &[("b", 2), ("c", 3)],
        ));
        rl.log(&record_at(
            log::Level::Warn,
            "app",
            9,
            format_args!("same"),
            &[("a", 4)],
        ));
    }
    assert_eq!(rl.logger().segment().callsites().count(), 3);
    let lines = drain(&ring, Format::Text, "out.log");
    assert_eq!(lines.len(), 9);
    assert_eq!(text_body(&lines[0], "INFO"), "app: same a=1");
    assert_eq!(text_body(&lines[1], "INFO"), "app: same b=2 c=3");
    assert_eq!(text_body(&lines[2], "WARN"), "app: same a=4");
    assert_eq!(text_body(&lines[3], "INFO"), "app: same a=1");
    assert_eq!(text_body(&lines[8], "WARN"), "app: same a=4");
}

#[test]
fn directives_and_the_logger_level_both_filter() {
    let dir = TestDir::new();
    let ring = dir.join("r.ring");
    let logger = Logger::builder()
        .path(&ring)
        .slot_count(1 << 10)
        .level(Level::Info)
        .open()
        .unwrap();
    let rl = RingLog::new(logger).with_directives("warn,app::db=trace".parse().unwrap());
    assert_eq!(rl.max_level(), log::LevelFilter::Info, "the logger caps it");
    let meta = |level, target| log::Metadata::builder().level(level).target(target).build();
    assert!(rl.enabled(&meta(log::Level::Info, "app::db::pool")));
    assert!(
        !rl.enabled(&meta(log::Level::Debug, "app::db")),
        "logger level"
    );
    assert!(
        !rl.enabled(&meta(log::Level::Info, "app::http")),
        "directives"
    );
    for (level, target) in [
        (log::Level::Info, "app::db"),
        (log::Level::Debug, "app::db"),
        (log::Level::Info, "app::dbx"),
        (log::Level::Warn, "app::dbx"),
    ] {
        rl.log(&record_at(
            level,
            target,
            1,
            format_args!("m"),
            &[] as &[(&str, i32); 0],
        ));
    }
    let lines = drain(&ring, Format::Text, "out.log");
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert_eq!(text_body(&lines[0], "INFO"), "app::db: m");
    assert_eq!(text_body(&lines[1], "WARN"), "app::dbx: m");
}

#[test]
fn a_full_callsite_table_still_delivers_every_record() {
    let dir = TestDir::new();
    let ring = dir.join("r.ring");
    let logger = Logger::builder()
        .path(&ring)
        .segment_config(ringlog_segment::SegmentConfig {
            slot_count: 1 << 12,
            callsite_bytes: 4096,
            callsite_index_slots: 64,
            ..Default::default()
        })
        .open()
        .unwrap();
    let rl = RingLog::new(logger);
    let n = 300;
    for line in 0..n {
        rl.log(&record_at(
            log::Level::Info,
            "app",
            line,
            format_args!("static text"),
            &[("line", line)],
        ));
        rl.log(&record_at(
            log::Level::Info,
            "app",
            line,
            format_args!("formatted {}", line),
            &[] as &[(&str, u32); 0],
        ));
    }
    let table = rl.logger().segment().callsites();
    assert!(table.failed() > 0, "the table should have filled");
    let json = json_lines(&drain(&ring, Format::Json, "out.json"));
    assert_eq!(json.len(), 2 * n as usize);
    for (i, pair) in json.chunks(2).enumerate() {
        assert_eq!(pair[0]["msg"], "static text");
        assert_eq!(pair[1]["msg"], format!("formatted {i}"));
        let line_field = pair[0]["fields"]
            .as_object()
            .unwrap()
            .values()
            .next()
            .cloned();
        assert_eq!(line_field, Some(Json::from(i)), "{}", pair[0]);
    }
}

#[test]
fn threads_logging_at_once_lose_nothing() {
    let dir = TestDir::new();
    let ring = dir.join("r.ring");
    let rl = RingLog::new(logger(&ring, Level::Info));
    let per = 400u64;
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let rl = &rl;
            s.spawn(move || {
                for i in 0..per {
                    rl.log(&record_at(
                        log::Level::Info,
                        "app",
                        (i % 7) as u32,
                        format_args!("tick"),
                        &[("t", t), ("i", i)],
                    ));
                }
            });
        }
    });
    assert_eq!(rl.logger().segment().callsites().count(), 7);
    let json = json_lines(&drain(&ring, Format::Json, "out.json"));
    assert_eq!(json.len() as u64, 4 * per);
    let mut seen = vec![0u64; 4];
    for j in &json {
        assert_eq!(j["msg"], "tick");
        seen[j["fields"]["t"].as_u64().unwrap() as usize] += 1;
    }
    assert_eq!(seen, [per; 4]);
}

#[derive(Debug)]
struct Failure;

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("disk on fire")
    }
}

impl std::error::Error for Failure {}

#[test]
fn literal_and_formatted_messages_and_fields_of_each_type_come_out_exactly() {
    use log::kv::Value;
    let dir = TestDir::new();
    let ring = dir.join("r.ring");
    let rl = RingLog::new(logger(&ring, Level::Info));
    let ip = std::net::Ipv4Addr::new(10, 0, 0, 1);
    let y = 42;
    let built = String::from("built at run time");
    let err = Failure;
    let fields: [(&str, Value<'_>); 12] = [
        ("u", Value::from(7u64)),
        ("i", Value::from(-7i64)),
        ("f", Value::from(2.5f64)),
        ("b", Value::from(true)),
        ("s", Value::from("str")),
        ("c", Value::from('x')),
        ("big", Value::from(u128::MAX)),
        ("small", Value::from(i128::MIN)),
        ("disp", Value::from_display(&ip)),
        ("dbg", Value::from_debug(&Some(1))),
        ("err", Value::from_display(&err)),
        ("owned", Value::from_display(&built)),
    ];
    let none: &[(&str, i32)] = &[];
    // Twice: the first call registers, the second finds the cached site.
    for _ in 0..2 {
        rl.log(&record_at(
            log::Level::Info,
            "app",
            1,
            format_args!("a literal message"),
            &none,
        ));
        rl.log(&record_at(
            log::Level::Info,
            "app",
            2,
            format_args!("x {y}"),
            &none,
        ));
        rl.log(&record_at(
            log::Level::Warn,
            "app",
            3,
            format_args!("fields of each type"),
            &fields,
        ));
        rl.log(&record_at(
            log::Level::Info,
            "app",
            4,
            format_args!("x {} and", y),
            &[("n", 1)],
        ));
    }
    let lines = drain(&ring, Format::Text, "out.log");
    let want = [
        ("INFO", "app: a literal message"),
        ("INFO", "app: x 42"),
        (
            "WARN",
            "app: fields of each type u=7 i=-7 f=2.5 b=true s=str c=x \
             big=340282366920938463463374607431768211455 \
             small=-170141183460469231731687303715884105728 disp=10.0.0.1 dbg=Some(1) \
             err=\"disk on fire\" owned=\"built at run time\"",
        ),
        ("INFO", "app: x 42 and n=1"),
    ];
    assert_eq!(lines.len(), 2 * want.len(), "{lines:#?}");
    for (line, (level, body)) in lines.iter().zip(want.iter().chain(&want)) {
        assert_eq!(text_body(line, level), *body, "{line}");
    }
    // One callsite per call site; the literal messages are the callsites' formats.
    let table = rl.logger().segment().callsites();
    assert_eq!(table.count(), 4);
    let mut formats = Vec::new();
    for id in table.ids() {
        let mut buf = Vec::new();
        table.entry(id, &mut buf).expect("entry");
        let d = ringlog_wire::callsite::decode_callsite(id, &buf).expect("decode");
        formats.push((d.format.to_string(), d.style));
    }
    use ringlog_wire::callsite::FormatStyle::{Brace, Literal};
    assert!(
        formats.contains(&("a literal message".into(), Literal)),
        "{formats:?}"
    );
    assert!(
        formats.contains(&("fields of each type".into(), Literal)),
        "{formats:?}"
    );
    assert_eq!(
        formats
            .iter()
            .filter(|f| **f == ("{}".into(), Brace))
            .count(),
        2
    );
}
