//! Every format the macros accept, through the real `ringdrain` binary: the exact text the log
//! file receives. (What they reject is in `crates/ringlog/tests/compile_fail`.)

use ringlog::{Level, Logger};
use ringlog_testkit::{bin, TestCommand, TestDir};

/// A type that is only `Debug` (formatted on the caller's thread for `{:?}` and `?field`).
#[derive(Debug)]
#[allow(dead_code)]
struct Point {
    x: i32,
    y: i32,
}

/// A type that is only `Display`.
struct Celsius(f64);

impl std::fmt::Display for Celsius {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.1}°C", self.0)
    }
}

/// Drains `ring` with `ringdrain --once` and returns each line after `[pid:tid] `.
fn drained(ring: &std::path::Path, out: &std::path::Path) -> Vec<String> {
    TestCommand::new(bin!("ringdrain"))
        .args(["--once", "--ring"])
        .arg(ring)
        .arg("--out")
        .arg(out)
        .expect_success();
    std::fs::read_to_string(out)
        .unwrap()
        .lines()
        .map(|l| {
            l.split_once("] ")
                .unwrap_or_else(|| panic!("not a text line: {l:?}"))
                .1
                .to_string()
        })
        .collect()
}

#[test]
fn every_accepted_format_renders_exactly_as_format_would() {
    let dir = TestDir::new();
    let ring = dir.ring();
    let log = Logger::builder()
        .path(&ring)
        .slot_count(1024)
        .slot_size(128)
        .level(Level::Trace)
        .open()
        .unwrap();
    let mut want: Vec<String> = Vec::new();
    // `case!(expected message, format, args...)`: logs through the handle and records what
    // `format!` gives for the same arguments, unless an expected text is spelled out.
    macro_rules! case {
        (= $exp:expr, $($t:tt)+) => {{
            ringlog::info!(logger: log, $($t)+);
            want.push(format!("{}: {}", module_path!(), $exp));
        }};
        ($fmt:literal $(, $a:expr)* $(,)?) => {{
            ringlog::info!(logger: log, $fmt $(, $a)*);
            want.push(format!("{}: {}", module_path!(), format!($fmt $(, $a)*)));
        }};
    }
    // Positions, reuse, escapes.
    case!("pos {0} here", 7u32);
    case!("{1} {0} {1}", "a", "b");
    case!("{{}} {1} {0} {{{0}}}", 0u8, 1u8);
    case!("a {} b {} c {0} d {}", 1, 2, 3);
    // Inline captures, alone and with specs, and mixed with positions.
    let user = "ada";
    let ms = 1.5f64;
    let n = 42u64;
    case!("user {user}");
    case!("took {ms:.2} ms ({ms}) for {user:>5}|{n:#x}");
    case!("{} then {user} then {}", 'x', true);
    // Width, fill, alignment, sign, zero padding, precision, types.
    case!(
        "[{:>5}] [{:<5}] [{:^7}] [{:*^6}]",
        42u32,
        42i64,
        "mid",
        42u8
    );
    case!(
        "[{:+}] [{:+.2}] [{:.0}] [{:8.3}]",
        5i32,
        2.46913f64,
        2.5f64,
        -1.0f32
    );
    case!(
        "[{:05}] [{:05}] [{:#06x}] [{:08.2}]",
        42u16,
        -42i16,
        255u32,
        -2.46913f64
    );
    case!(
        "[{:x}] [{:X}] [{:#X}] [{:o}] [{:#o}] [{:b}] [{:#b}]",
        255u8,
        255u16,
        255u32,
        8u64,
        8i8,
        5u32,
        5i128
    );
    case!(
        "[{:e}] [{:E}] [{:.2e}] [{:e}]",
        1500.0f64,
        0.00025f32,
        123456.0f64,
        1500u32
    );
    case!("[{:.3}] [{:>8.2}] [{:-<6}]", "abcdef", "xyz", "ab");
    case!(
        "[{:?}] [{:?}] [{:?}] [{:?}]",
        "q\"uote",
        'c',
        3.0f64,
        0.1f32
    );
    case!("[{:x?}] [{:X?}] [{:?}]", 255u32, 255u32, -7i64);
    case!("[{}] [{}] [{:?}]", u128::MAX, i128::MIN, Option::<u8>::None);
    case!("[{}] [{}] [{}]", f64::NAN, f64::NEG_INFINITY, 1e21f64);
    // Types formatted on the caller: Display-only and Debug-only.
    case!("temp {} / {:>9}", Celsius(21.55), Celsius(-3.0));
    let p = Point { x: 1, y: -2 };
    case!("at {:?} and {p:?}", p);
    // Fields: named in the message, dotted keys, string keys, sigils.
    case!(= "status 200 served status=200", "status {status} served", status = 200u16);
    case!(= "done http.status=200 http.route=/users/:id", "done", http.status = 200u16, http.route = "/users/:id");
    case!(= "ok user-agent=\"curl 8\" n=3", "ok", "user-agent" = "curl 8", n = 3u8);
    case!(= "ok p=\"Point { x: 1, y: -2 }\" user=\"\\\"ada\\\"\" who=ada", "ok", ?p, user = ?user, who = %user);
    case!(= "seen 7 times ratio=0.5", "seen {} times", 7u8, ratio = 0.5f64);
    // An explicit target.
    ringlog::warn!(logger: log, target: "app::custom", "to {}", "target");
    want.push("app::custom: to target".to_string());
    // The handle form and `log!` with a run-time level.
    ringlog::info!(log, "handle {}", 1u8);
    want.push(format!("{}: handle 1", module_path!()));
    ringlog::log!(logger: log, Level::Error, "dynamic {n}");
    want.push(format!("{}: dynamic 42", module_path!()));
    ringlog::log!(log, Level::Debug, "dynamic handle {}", n);
    want.push(format!("{}: dynamic handle 42", module_path!()));

    let got = drained(&ring, &dir.out());
    assert_eq!(got.len(), want.len(), "lines: {got:#?}");
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g, w);
    }
}
