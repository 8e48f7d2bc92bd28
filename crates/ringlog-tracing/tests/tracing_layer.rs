//! `tracing` events through `RingLayer` come out of `ringdrain` with the right level, target,
//! message, fields and span scope, as text and as JSON.

#[path = "../../ringlog-testkit/include/bridge.rs"]
mod bridge;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bridge::{drain, logger};
use ringdrain::format::Format;
use ringlog::Level;
use ringlog_testkit::lines::{json_lines, text_body};
use ringlog_testkit::TestDir;
use ringlog_tracing::RingLayer;
use tracing_subscriber::layer::SubscriberExt;

fn emit() {
    tracing::info!("plain message");
    tracing::warn!(
        count = 3u64,
        ratio = 0.5,
        ok = false,
        name = "ada",
        neg = -4i64,
        "with {} fields",
        "five"
    );
    let ip = std::net::Ipv4Addr::new(10, 0, 0, 1);
    tracing::info!(addr = %ip, list = ?vec![1, 2], "formatted values");
    tracing::info!(a = 1u64, b = tracing::field::Empty, "absent");
    tracing::error!(target: "custom::target", code = 503u64, "custom target");
    tracing::debug!("below the logger's level");
    {
        let outer = tracing::info_span!("outer", id = 7u64);
        let _o = outer.enter();
        let inner = tracing::info_span!("inner", user = "ada", late = tracing::field::Empty);
        let _i = inner.enter();
        tracing::info!(step = 2u64, "inside");
        inner.record("late", 9u64);
        tracing::info!("after record");
        let quiet = tracing::debug_span!("quiet", hidden = 1u64);
        let _q = quiet.enter();
        tracing::info!("debug span is not recorded");
    }
    tracing::info!("outside again");
}

/// (level, text body) for each record `emit` writes.
const EXPECTED_TEXT: &[(&str, &str)] = &[
    ("INFO", "tracing_layer: plain message"),
    (
        "WARN",
        "tracing_layer: with five fields count=3 ratio=0.5 ok=false name=ada neg=-4",
    ),
    (
        "INFO",
        "tracing_layer: formatted values addr=10.0.0.1 list=\"[1, 2]\"",
    ),
    ("INFO", "tracing_layer: absent a=1 b=None"),
    ("ERROR", "custom::target: custom target code=503"),
    (
        "INFO",
        "tracing_layer: inside step=2 spans=\"outer{id=7}:inner{user=\\\"ada\\\"}\"",
    ),
    (
        "INFO",
        "tracing_layer: after record spans=\"outer{id=7}:inner{user=\\\"ada\\\" late=9}\"",
    ),
    (
        "INFO",
        "tracing_layer: debug span is not recorded spans=\"outer{id=7}:inner{user=\\\"ada\\\" late=9}\"",
    ),
    ("INFO", "tracing_layer: outside again"),
];

#[test]
fn events_with_fields_in_nested_spans_come_out_of_ringdrain_as_text_and_json() {
    let dir = TestDir::new();
    let ring = dir.join("app.ring");
    let logger = logger(&ring, Level::Info);
    let subscriber = tracing_subscriber::registry().with(RingLayer::new(logger.clone()));
    let dispatch = tracing::Dispatch::new(subscriber);

    tracing::dispatcher::with_default(&dispatch, emit);
    let sites = logger.segment().callsites().count();
    let lines = drain(&ring, Format::Text, "app.log");
    assert_eq!(lines.len(), EXPECTED_TEXT.len(), "{lines:#?}");
    for (line, (level, text)) in lines.iter().zip(EXPECTED_TEXT) {
        assert_eq!(text_body(line, level), *text, "{line}");
    }

    // Again, as JSON: the same callsites, nothing registered anew.
    tracing::dispatcher::with_default(&dispatch, emit);
    assert_eq!(logger.segment().callsites().count(), sites);
    let json = json_lines(&drain(&ring, Format::Json, "app.json"));
    assert_eq!(json.len(), EXPECTED_TEXT.len());
    let levels: Vec<&str> = json.iter().map(|j| j["level"].as_str().unwrap()).collect();
    assert_eq!(
        levels,
        ["info", "warn", "info", "info", "error", "info", "info", "info", "info"]
    );
    assert_eq!(json[0]["msg"], "plain message");
    assert_eq!(json[0]["fields"], serde_json::json!({}));
    assert_eq!(json[1]["msg"], "with five fields");
    assert_eq!(
        json[1]["fields"],
        serde_json::json!({"count": 3, "ratio": 0.5, "ok": false, "name": "ada", "neg": -4})
    );
    assert_eq!(
        json[2]["fields"],
        serde_json::json!({"addr": "10.0.0.1", "list": "[1, 2]"})
    );
    assert_eq!(json[3]["fields"], serde_json::json!({"a": 1, "b": null}));
    assert_eq!(json[4]["target"], "custom::target");
    assert_eq!(
        json[5]["fields"],
        serde_json::json!({"step": 2, "spans": "outer{id=7}:inner{user=\"ada\"}"})
    );
    assert_eq!(
        json[6]["fields"]["spans"],
        "outer{id=7}:inner{user=\"ada\" late=9}"
    );
    assert_eq!(json[8]["fields"], serde_json::json!({}));
    for j in &json {
        assert!(
            j["file"].as_str().unwrap().ends_with("tracing_layer.rs"),
            "{j}"
        );
        assert!(j["line"].as_u64().unwrap() > 0, "{j}");
        assert_eq!(j["pid"], std::process::id());
    }
    assert_eq!(logger.stats().dropped, 0);
}

#[test]
fn an_event_without_a_message_has_only_fields() {
    let dir = TestDir::new();
    let ring = dir.join("r.ring");
    let subscriber =
        tracing_subscriber::registry().with(RingLayer::new(logger(&ring, Level::Info)));
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(k = 1u64, s = "v");
    });
    let json = json_lines(&drain(&ring, Format::Json, "out.json"));
    assert_eq!(json.len(), 1);
    assert_eq!(json[0]["msg"], "");
    assert_eq!(json[0]["fields"], serde_json::json!({"k": 1, "s": "v"}));
}

/// Counts the events it sees.
struct Counter(Arc<AtomicUsize>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Counter {
    fn on_event(&self, _: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        // SYNC: Relaxed; a counter, read after the dispatching thread is done.
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn directives_filter_this_layer_only() {
    let dir = TestDir::new();
    let ring = dir.join("r.ring");
    let seen = Arc::new(AtomicUsize::new(0));
    let layer = RingLayer::new(logger(&ring, Level::Trace))
        .with_directives("warn,app::db=debug".parse().unwrap());
    let subscriber = tracing_subscriber::registry()
        .with(layer)
        .with(Counter(seen.clone()));
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(target: "app::http", "info, filtered");
        tracing::warn!(target: "app::http", "warn, kept");
        tracing::debug!(target: "app::db::pool", "debug, kept");
        tracing::trace!(target: "app::db", "trace, filtered");
        let span = tracing::info_span!(target: "app::http", "filtered_span", x = 1u64);
        let _g = span.enter();
        tracing::debug!(target: "app::db", "in a span the filter hides");
    });
    // SYNC: Relaxed; the events were dispatched on this thread.
    assert_eq!(seen.load(Ordering::Relaxed), 5, "the other layer sees all");
    let lines = drain(&ring, Format::Text, "out.log");
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert_eq!(text_body(&lines[0], "WARN"), "app::http: warn, kept");
    assert_eq!(text_body(&lines[1], "DEBUG"), "app::db::pool: debug, kept");
    assert_eq!(
        text_body(&lines[2], "DEBUG"),
        "app::db: in a span the filter hides"
    );
}

/// A ring of 4096 slots at `ring` filtered by `directives` (as `RUST_LOG` would give them).
fn logger_with(ring: &std::path::Path, directives: &str) -> ringlog::Logger {
    ringlog::Logger::builder()
        .path(ring)
        .slot_count(1 << 12)
        .directives(directives.parse().expect("directives"))
        .open()
        .expect("open ring")
}

#[test]
fn the_loggers_directives_quiet_one_target_and_open_up_another_for_this_layer_only() {
    let dir = TestDir::new();
    let ring = dir.join("r.ring");
    let seen = Arc::new(AtomicUsize::new(0));
    let subscriber = tracing_subscriber::registry()
        .with(RingLayer::new(logger_with(
            &ring,
            "info,hyper=warn,app::db=trace",
        )))
        .with(Counter(seen.clone()));
    tracing::subscriber::with_default(subscriber, || {
        // Twice each: the second time uses the verdict cached at the callsite.
        for _ in 0..2 {
            tracing::info!(target: "hyper::proto", "hyper info, quiet");
            tracing::warn!(target: "hyper::proto", "hyper warn");
            tracing::info!(target: "hyperx", "hyperx info");
            tracing::trace!(target: "app::db::pool", n = 3u64, "db trace");
            tracing::debug!(target: "app::http", "http debug, quiet");
            tracing::info!(target: "app::http", "http info");
        }
        let span = tracing::debug_span!(target: "app::http", "quiet_span", x = 1u64);
        let _g = span.enter();
        tracing::info!(target: "app::http", "in a span the filter hides");
    });
    // SYNC: Relaxed; the events were dispatched on this thread.
    assert_eq!(
        seen.load(Ordering::Relaxed),
        13,
        "the counting layer sees every event, filtered or not"
    );
    let lines = drain(&ring, Format::Text, "out.log");
    let mut bodies = Vec::new();
    for (line, level) in lines.iter().zip(
        ["WARN", "INFO", "TRACE", "INFO"]
            .iter()
            .cycle()
            .take(8)
            .chain(["INFO"].iter()),
    ) {
        bodies.push(text_body(line, level));
    }
    let once = [
        "hyper::proto: hyper warn",
        "hyperx: hyperx info",
        "app::db::pool: db trace n=3",
        "app::http: http info",
    ];
    let mut want: Vec<&str> = [once, once].concat();
    want.push("app::http: in a span the filter hides");
    assert_eq!(lines.len(), want.len(), "{lines:#?}");
    assert_eq!(bodies, want, "{lines:#?}");
}

#[test]
fn a_filter_change_at_run_time_reaches_cached_callsites() {
    let dir = TestDir::new();
    let ring = dir.join("r.ring");
    let logger = logger_with(&ring, "info");
    let subscriber = tracing_subscriber::registry().with(RingLayer::new(logger.clone()));
    let event = |n: u64| tracing::info!(target: "app", n, "event");
    tracing::subscriber::with_default(subscriber, || {
        event(1);
        logger.set_directives("info,app=off".parse().expect("directives"));
        event(2);
        logger.set_directives("warn,app=debug".parse().expect("directives"));
        event(3);
    });
    let lines = drain(&ring, Format::Text, "out.log");
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert_eq!(text_body(&lines[0], "INFO"), "app: event n=1");
    assert_eq!(text_body(&lines[1], "INFO"), "app: event n=3");
}

#[test]
fn two_ring_layers_in_one_subscriber_both_record_spans() {
    let dir = TestDir::new();
    let (ra, rb) = (dir.join("a.ring"), dir.join("b.ring"));
    let subscriber = tracing_subscriber::registry()
        .with(RingLayer::new(logger(&ra, Level::Info)))
        .with(RingLayer::new(logger(&rb, Level::Info)));
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("s", n = 1u64);
        let _g = span.enter();
        tracing::info!("both");
    });
    for (ring, name) in [(&ra, "a.log"), (&rb, "b.log")] {
        let lines = drain(ring, Format::Text, name);
        assert_eq!(lines.len(), 1);
        assert!(lines[0].ends_with("both spans=\"s{n=1}\""), "{}", lines[0]);
    }
}

mod by_hand {
    //! Events built without the macros, with values in any order.
    use tracing_core::callsite::DefaultCallsite;
    use tracing_core::field::{FieldSet, Value};
    use tracing_core::metadata::Kind;
    use tracing_core::{identify_callsite, Event, Level, Metadata};

    pub static CALLSITE: DefaultCallsite = DefaultCallsite::new(&META);
    pub static META: Metadata<'static> = Metadata::new(
        "by hand",
        "by_hand",
        Level::INFO,
        Some("by_hand.rs"),
        Some(1),
        Some("by_hand"),
        FieldSet::new(&["a", "message", "b"], identify_callsite!(&CALLSITE)),
        Kind::EVENT,
    );

    /// Values in the order b, message, a.
    pub fn reversed(a: u64, b: &str, message: &str) {
        let fs = META.fields();
        let (fa, fm, fb) = (
            fs.field("a").unwrap(),
            fs.field("message").unwrap(),
            fs.field("b").unwrap(),
        );
        let values = [
            (&fb, Some(&b as &dyn Value)),
            (&fm, Some(&message as &dyn Value)),
            (&fa, Some(&a as &dyn Value)),
        ];
        Event::dispatch(&META, &fs.value_set(&values));
    }

    pub static CALLSITE_M0: DefaultCallsite = DefaultCallsite::new(&META_M0);
    pub static META_M0: Metadata<'static> = Metadata::new(
        "message first",
        "by_hand",
        Level::INFO,
        Some("by_hand.rs"),
        Some(2),
        Some("by_hand"),
        FieldSet::new(&["message", "a", "b"], identify_callsite!(&CALLSITE_M0)),
        Kind::EVENT,
    );

    /// A callsite whose message is field 0 (as the macros make it), with values given in
    /// the order `order` names (`'m'`, `'a'`, `'b'`): the one-visit path starts over when
    /// they are not in field order.
    pub fn message_first(order: &str, a: u64, b: &str) {
        let fs = META_M0.fields();
        let (fm, fa, fb) = (
            fs.field("message").unwrap(),
            fs.field("a").unwrap(),
            fs.field("b").unwrap(),
        );
        let message = format_args!("literal");
        let mut values: Vec<(&tracing_core::Field, Option<&dyn Value>)> = Vec::new();
        for c in order.chars() {
            values.push(match c {
                'm' => (&fm, Some(&message as &dyn Value)),
                'a' => (&fa, Some(&a as &dyn Value)),
                _ => (&fb, Some(&b as &dyn Value)),
            });
        }
        match values.len() {
            3 => Event::dispatch(&META_M0, &fs.value_set(&[values[0], values[1], values[2]])),
            2 => Event::dispatch(&META_M0, &fs.value_set(&[values[0], values[1]])),
            _ => Event::dispatch(&META_M0, &fs.value_set(&[values[0]])),
        }
    }

    /// Only `a`.
    pub fn only_a(a: u64) {
        let fs = META.fields();
        let fa = fs.field("a").unwrap();
        let values = [(&fa, Some(&a as &dyn Value))];
        Event::dispatch(&META, &fs.value_set(&values));
    }
}

#[test]
fn values_in_any_order_land_under_the_right_names() {
    let dir = TestDir::new();
    let ring = dir.join("r.ring");
    let subscriber =
        tracing_subscriber::registry().with(RingLayer::new(logger(&ring, Level::Info)));
    tracing::subscriber::with_default(subscriber, || {
        by_hand::reversed(5, "bee", "hello");
        by_hand::only_a(6);
    });
    let json = json_lines(&drain(&ring, Format::Json, "out.json"));
    assert_eq!(json.len(), 2);
    assert_eq!(json[0]["msg"], "hello");
    assert_eq!(json[0]["fields"], serde_json::json!({"a": 5, "b": "bee"}));
    assert_eq!(json[1]["msg"], "");
    assert_eq!(json[1]["fields"], serde_json::json!({"a": 6, "b": null}));
}

#[test]
fn long_messages_and_values_are_cut_with_a_mark() {
    let dir = TestDir::new();
    let ring = dir.join("r.ring");
    let subscriber =
        tracing_subscriber::registry().with(RingLayer::new(logger(&ring, Level::Info)));
    let long = "xy".repeat(1000);
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(n = 1u64, "{}", long);
        tracing::info!(v = ?long, "short");
    });
    let json = json_lines(&drain(&ring, Format::Json, "out.json"));
    let msg = json[0]["msg"].as_str().unwrap();
    assert!(
        msg.ends_with('…') && msg.len() <= 512 && msg.len() > 500,
        "{msg}"
    );
    assert!(long.starts_with(msg.trim_end_matches('…')));
    assert_eq!(json[0]["fields"]["n"], 1, "fields survive the cut");
    assert_eq!(json[1]["msg"], "short");
    let v = json[1]["fields"]["v"].as_str().unwrap();
    assert!(v.starts_with("\"xyxy") && v.ends_with('…'), "{v}");
    assert!(v.len() <= 512 && v.len() > 500, "{}", v.len());
    assert!(
        json.iter().all(|j| j.get("truncated").is_none()),
        "{json:?}"
    );
}

#[test]
fn threads_logging_at_once_lose_nothing_and_share_callsites() {
    let dir = TestDir::new();
    let ring = dir.join("r.ring");
    let logger = logger(&ring, Level::Info);
    let dispatch =
        tracing::Dispatch::new(tracing_subscriber::registry().with(RingLayer::new(logger.clone())));
    let per = 400u64;
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let dispatch = &dispatch;
            s.spawn(move || {
                tracing::dispatcher::with_default(dispatch, || {
                    let span = tracing::info_span!("worker", t);
                    let _g = span.enter();
                    for i in 0..per {
                        tracing::info!(t, i, "tick");
                    }
                })
            });
        }
    });
    // One event callsite, registered with and without `spans`.
    assert_eq!(logger.segment().callsites().count(), 2);
    let json = json_lines(&drain(&ring, Format::Json, "out.json"));
    assert_eq!(json.len() as u64, 4 * per);
    let mut seen = [0u64; 4];
    for j in &json {
        let t = j["fields"]["t"].as_u64().unwrap();
        assert_eq!(j["fields"]["spans"], format!("worker{{t={t}}}"));
        seen[t as usize] += 1;
    }
    assert_eq!(seen, [per; 4]);
}

/// The descriptions the segment holds, by message format.
fn registered(
    logger: &ringlog::Logger,
) -> Vec<(String, ringlog_wire::callsite::FormatStyle, Vec<String>)> {
    let table = logger.segment().callsites();
    let mut out = Vec::new();
    for id in table.ids() {
        let mut buf = Vec::new();
        table.entry(id, &mut buf).expect("entry");
        let d = ringlog_wire::callsite::decode_callsite(id, &buf).expect("decode");
        out.push((
            d.format.to_string(),
            d.style,
            d.fields.iter().map(|f| f.to_string()).collect(),
        ));
    }
    out
}

#[derive(Debug)]
struct Failure;

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("disk on fire")
    }
}

impl std::error::Error for Failure {}

/// Each case twice: the first event decides and registers, the second takes the cached path.
fn emit_exact() {
    let y = 42u64;
    let name = String::from("built at run time");
    let ip = std::net::Ipv4Addr::new(10, 0, 0, 1);
    for _ in 0..2 {
        tracing::info!("a literal message");
        tracing::info!("x {}", y);
        tracing::info!("{}", name);
        tracing::warn!(
            u = 7u64,
            i = -7i64,
            f = 2.5f64,
            b = true,
            s = "str",
            big = u128::MAX,
            small = i128::MIN,
            raw = &b"ab"[..],
            disp = %ip,
            dbg = ?Some(1),
            err = &Failure as &(dyn std::error::Error + 'static),
            "fields of each type"
        );
        {
            let span = tracing::info_span!("req", id = 7u64);
            let _g = span.enter();
            tracing::info!(n = 1u64, "in a span");
            tracing::info!("x {} in a span", y);
        }
        tracing::info!(n = 2u64, "span-less again");
        tracing::info!(message = 5u64, n = 3u64);
    }
}

const EXACT: &[(&str, &str)] = &[
    ("INFO", "tracing_layer: a literal message"),
    ("INFO", "tracing_layer: x 42"),
    ("INFO", "tracing_layer: built at run time"),
    (
        "WARN",
        "tracing_layer: fields of each type u=7 i=-7 f=2.5 b=true s=str \
         big=340282366920938463463374607431768211455 \
         small=-170141183460469231731687303715884105728 raw=[97, 98] disp=10.0.0.1 \
         dbg=Some(1) err=\"disk on fire\"",
    ),
    ("INFO", "tracing_layer: in a span n=1 spans=\"req{id=7}\""),
    ("INFO", "tracing_layer: x 42 in a span spans=\"req{id=7}\""),
    ("INFO", "tracing_layer: span-less again n=2"),
    ("INFO", "tracing_layer: 5 n=3"),
];

#[test]
fn literal_and_formatted_messages_fields_of_each_type_and_spans_come_out_exactly() {
    let dir = TestDir::new();
    let ring = dir.join("r.ring");
    let logger = logger(&ring, Level::Info);
    let subscriber = tracing_subscriber::registry().with(RingLayer::new(logger.clone()));
    tracing::subscriber::with_default(subscriber, emit_exact);
    let lines = drain(&ring, Format::Text, "out.log");
    let want: Vec<&(&str, &str)> = EXACT.iter().chain(EXACT).collect();
    assert_eq!(lines.len(), want.len(), "{lines:#?}");
    for (line, (level, body)) in lines.iter().zip(&want) {
        assert_eq!(text_body(line, level), *body, "{line}");
    }

    // The literal messages live in their callsites (style Literal, no message argument);
    // formatted ones are `{}` callsites whose first argument is the text.
    use ringlog_wire::callsite::FormatStyle::{Brace, Literal};
    let sites = registered(&logger);
    let has = |format: &str, style, fields: &[&str]| {
        sites
            .iter()
            .any(|(f, s, fs)| f == format && *s == style && fs.iter().eq(fields.iter()))
    };
    assert!(has("a literal message", Literal, &[]), "{sites:#?}");
    assert!(has("span-less again", Literal, &["n"]), "{sites:#?}");
    assert!(has("in a span", Literal, &["n", "spans"]), "{sites:#?}");
    assert!(has("{}", Brace, &[]), "x {{}} and {{}}: {sites:#?}");
    assert!(has("{}", Brace, &["spans"]), "{sites:#?}");
    assert!(
        !sites
            .iter()
            .any(|(f, _, _)| f == "x 42" || f == "built at run time"),
        "formatted text is never a callsite: {sites:#?}"
    );

    let json = json_lines(&drain(&ring, Format::Json, "out.json"));
    assert!(json.is_empty(), "the text drain consumed everything");
    tracing::subscriber::with_default(
        tracing_subscriber::registry().with(RingLayer::new(logger.clone())),
        emit_exact,
    );
    let json = json_lines(&drain(&ring, Format::Json, "again.json"));
    assert_eq!(json.len(), want.len());
    assert_eq!(json[0]["msg"], "a literal message");
    assert_eq!(json[1]["msg"], "x 42");
    let mut fields = json[3]["fields"].clone();
    let map = fields.as_object_mut().expect("fields");
    // 128-bit values are JSON numbers beyond what serde_json reads exactly.
    for k in ["big", "small"] {
        assert!(
            map.remove(k).is_some_and(|v| v.is_number()),
            "{k}: {json:?}"
        );
    }
    assert_eq!(
        fields,
        serde_json::json!({
            "u": 7, "i": -7, "f": 2.5, "b": true, "s": "str",
            "raw": [97, 98], "disp": "10.0.0.1", "dbg": "Some(1)", "err": "disk on fire"
        })
    );
    assert_eq!(
        json[4]["fields"],
        serde_json::json!({"n": 1, "spans": "req{id=7}"})
    );
    assert_eq!(json[6]["fields"], serde_json::json!({"n": 2}));
    assert_eq!(logger.stats().dropped, 0);
}

#[test]
fn values_out_of_order_after_a_message_first_are_rewritten_in_field_order() {
    let dir = TestDir::new();
    let ring = dir.join("r.ring");
    let subscriber =
        tracing_subscriber::registry().with(RingLayer::new(logger(&ring, Level::Info)));
    tracing::subscriber::with_default(subscriber, || {
        by_hand::message_first("mab", 1, "in order");
        by_hand::message_first("bam", 2, "reversed");
        by_hand::message_first("mb", 3, "a missing");
        by_hand::message_first("am", 4, "message after a");
        by_hand::message_first("b", 5, "only b");
        by_hand::message_first("mab", 6, "in order again");
    });
    let lines = drain(&ring, Format::Text, "out.log");
    let bodies: Vec<&str> = lines.iter().map(|l| text_body(l, "INFO")).collect();
    assert_eq!(
        bodies,
        [
            "by_hand: literal a=1 b=\"in order\"",
            "by_hand: literal a=2 b=reversed",
            "by_hand: literal a=None b=\"a missing\"",
            "by_hand: literal a=4 b=None",
            "by_hand: a=None b=\"only b\"",
            "by_hand: literal a=6 b=\"in order again\"",
        ],
        "{lines:#?}"
    );
}

#[test]
fn a_full_callsite_table_still_delivers_messages_and_values() {
    let dir = TestDir::new();
    let ring = dir.join("r.ring");
    let logger = ringlog::Logger::builder()
        .path(&ring)
        .slot_count(1 << 12)
        .callsite_bytes(4096)
        .open()
        .expect("open ring");
    // Fill the table so that every callsite below gets no id.
    let mut filled = false;
    for i in 0..10_000u32 {
        let desc = ringlog_wire::callsite::CallsiteDesc {
            level: Level::Info,
            style: ringlog_wire::callsite::FormatStyle::Literal,
            line: i,
            target: "filler",
            module: "filler",
            file: "filler.rs",
            format: "filler",
            fields: Vec::new(),
            layout: "",
        };
        if logger.register_callsite(&desc).is_err() {
            filled = true;
            break;
        }
    }
    assert!(filled, "the callsite table should have filled");
    let subscriber = tracing_subscriber::registry().with(RingLayer::new(logger.clone()));
    let y = 9u64;
    tracing::subscriber::with_default(subscriber, || {
        for _ in 0..2 {
            tracing::info!(n = 1u64, "a literal");
            tracing::info!(n = 2u64, "x {}", y);
            tracing::info!(n = 3u64);
            let span = tracing::info_span!("s", k = 4u64);
            let _g = span.enter();
            tracing::info!(n = 5u64, "in a span");
        }
    });
    let json = json_lines(&drain(&ring, Format::Json, "out.json"));
    assert_eq!(json.len(), 8, "{json:#?}");
    let values = |j: &serde_json::Value| -> Vec<serde_json::Value> {
        j["fields"]
            .as_object()
            .expect("fields")
            .values()
            .cloned()
            .collect()
    };
    for pair in json.chunks(4) {
        assert_eq!(pair[0]["msg"], "a literal", "{}", pair[0]);
        assert_eq!(values(&pair[0]), [serde_json::json!(1)], "{}", pair[0]);
        assert_eq!(pair[1]["msg"], "x 9", "{}", pair[1]);
        assert_eq!(values(&pair[1]), [serde_json::json!(2)], "{}", pair[1]);
        // No message field and no callsite: the event's name stands in.
        let name = pair[2]["msg"].as_str().unwrap_or_default();
        assert!(
            name.starts_with("event ") && name.contains("tracing_layer.rs:"),
            "{}",
            pair[2]
        );
        assert_eq!(values(&pair[2]), [serde_json::json!(3)], "{}", pair[2]);
        assert_eq!(pair[3]["msg"], "in a span", "{}", pair[3]);
        assert_eq!(
            values(&pair[3]),
            [serde_json::json!(5), serde_json::json!("s{k=4}")],
            "{}",
            pair[3]
        );
    }
}
