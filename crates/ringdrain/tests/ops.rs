//! ringdrain for operators: one settings struct behind flags, environment and config file;
//! sysexits exit codes; systemd notification; Prometheus metrics and `stats --check`;
//! completions and the man page; the start-up and exit lines.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ringlog::{info, Logger};

const BIN: &str = env!("CARGO_BIN_EXE_ringdrain");
const WATCHDOG: Duration = Duration::from_secs(30);

struct Env {
    dir: tempfile::TempDir,
    ring: PathBuf,
    log: PathBuf,
}

fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    Env {
        ring: dir.path().join("ring"),
        log: dir.path().join("out.log"),
        dir,
    }
}

fn logger(ring: &Path) -> Logger {
    Logger::builder()
        .path(ring)
        .slot_count(1 << 12)
        .open()
        .unwrap()
}

/// `ringdrain ARGS` with a clean environment of ours (no inherited `RINGDRAIN_*`, no
/// `NOTIFY_SOCKET`) plus `vars`.
fn cmd(args: &[&str], vars: &[(&str, &str)]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("RINGDRAIN_") || k == "NOTIFY_SOCKET" || k.starts_with("WATCHDOG_") {
            c.env_remove(k);
        }
    }
    c.envs(vars.iter().copied());
    c
}

/// Environment variables for a run.
type Vars<'a> = Vec<(&'a str, &'a str)>;

fn run(args: &[&str], vars: &[(&str, &str)]) -> Output {
    cmd(args, vars).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Spawns a drain whose stderr lines arrive on the returned channel.
fn spawn(args: &[&str], vars: &[(&str, &str)]) -> (Child, mpsc::Receiver<String>) {
    let mut child = cmd(args, vars)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let err = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// The first stderr line containing `what` (watchdog: fails after 30 s).
fn line_with(rx: &mpsc::Receiver<String>, what: &str) -> String {
    let deadline = Instant::now() + WATCHDOG;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) if l.contains(what) => return l,
            Ok(_) => {}
            Err(e) => panic!("watchdog: no stderr line with {what:?} ({e})"),
        }
    }
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: kill(2) with a pid we spawned and a valid signal number has no memory effects.
    let rc = unsafe { libc::kill(child.id() as i32, sig) };
    assert_eq!(rc, 0);
}

/// Waits for the child; a watchdog fails the test (and kills the child) if it never exits.
fn wait(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + WATCHDOG;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("watchdog: ringdrain did not exit within 30 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits until `path` holds at least `n` lines (watchdog: fails after 30 s).
fn wait_lines(path: &Path, n: usize) -> String {
    let deadline = Instant::now() + WATCHDOG;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.lines().count() >= n {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "watchdog: {} never reached {n} lines ({} now)",
            path.display(),
            text.lines().count()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn last_line(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines().last().unwrap().to_string()
}

fn parse_prometheus(text: &str) -> prometheus_parse::Scrape {
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap()
}

/// The value of `metric` with label `label` = `value` (or no label if `label` is empty).
fn sample(scrape: &prometheus_parse::Scrape, metric: &str, label: &str, value: &str) -> f64 {
    let s = scrape
        .samples
        .iter()
        .find(|s| s.metric == metric && (label.is_empty() || s.labels.get(label) == Some(value)))
        .unwrap_or_else(|| panic!("no sample {metric}{{{label}={value:?}}}"));
    match s.value {
        prometheus_parse::Value::Counter(v)
        | prometheus_parse::Value::Gauge(v)
        | prometheus_parse::Value::Untyped(v) => v,
        ref other => panic!("{metric}: unexpected {other:?}"),
    }
}

// --- settings -----------------------------------------------------------------------------

#[test]
fn settings_precedence_is_flags_over_env_over_file_over_defaults() {
    let e = env();
    let log = logger(&e.ring);
    let conf = e.dir.path().join("drain.toml");
    let ring = e.ring.to_str().unwrap();
    let out = e.log.to_str().unwrap();
    // Defaults: text.
    info!(log, "layer {}", 0u8);
    let o = run(&["--ring", ring, "--out", out, "--once"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        last_line(&e.log).contains(" INFO "),
        "{}",
        last_line(&e.log)
    );
    // The file over the defaults: json (ring and output from the file too).
    std::fs::write(
        &conf,
        format!("rings = [{ring:?}]\nout = {out:?}\nformat = \"json\"\nonce = true\n"),
    )
    .unwrap();
    let conf_s = conf.to_str().unwrap();
    info!(log, "layer {}", 1u8);
    let o = run(&["--config", conf_s], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(last_line(&e.log).starts_with('{'), "{}", last_line(&e.log));
    // The environment over the file: logfmt (and the config file named by the environment).
    info!(log, "layer {}", 2u8);
    let o = run(
        &[],
        &[("RINGDRAIN_CONFIG", conf_s), ("RINGDRAIN_FORMAT", "logfmt")],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        last_line(&e.log).starts_with("ts="),
        "{}",
        last_line(&e.log)
    );
    // A flag over the environment: text again.
    info!(log, "layer {}", 3u8);
    let o = run(
        &["--config", conf_s, "--format", "text"],
        &[("RINGDRAIN_FORMAT", "logfmt")],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        last_line(&e.log).ends_with("layer 3"),
        "{}",
        last_line(&e.log)
    );
    assert!(
        last_line(&e.log).contains(" INFO "),
        "{}",
        last_line(&e.log)
    );
    // Rings and output from the environment alone.
    info!(log, "layer {}", 4u8);
    let o = run(
        &["--once"],
        &[("RINGDRAIN_RINGS", ring), ("RINGDRAIN_OUT", out)],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        last_line(&e.log).ends_with("layer 4"),
        "{}",
        last_line(&e.log)
    );
    assert_eq!(std::fs::read_to_string(&e.log).unwrap().lines().count(), 5);
}

#[test]
fn a_boolean_set_in_the_file_is_turned_off_by_a_flag_or_the_environment() {
    let e = env();
    let log = logger(&e.ring);
    let conf = e.dir.path().join("drain.toml");
    std::fs::write(
        &conf,
        format!(
            "ring = {:?}\nout = {:?}\nonce = true\n",
            e.ring.to_str().unwrap(),
            e.log.to_str().unwrap()
        ),
    )
    .unwrap();
    let conf_s = conf.to_str().unwrap();
    let cases: [(Vec<&str>, Vars); 2] = [
        (vec!["--config", conf_s, "--once=false"], vec![]),
        (vec!["--config", conf_s], vec![("RINGDRAIN_ONCE", "false")]),
    ];
    for (n, (args, vars)) in cases.into_iter().enumerate() {
        info!(log, "case {}", n);
        let (mut drain, err) = spawn(&args, &vars);
        line_with(&err, "ringdrain: draining");
        wait_lines(&e.log, n + 1);
        // `once = true` from the file would have exited by now; it keeps running instead.
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            drain.try_wait().unwrap().is_none(),
            "case {n}: exited on its own"
        );
        signal(&drain, libc::SIGTERM);
        assert!(wait(&mut drain).success());
    }
}

// --- exit codes ---------------------------------------------------------------------------

#[test]
fn configuration_errors_exit_78() {
    let e = env();
    let ring = e.ring.to_str().unwrap();
    let out = e.log.to_str().unwrap();
    let conf = e.dir.path().join("bad.toml");
    std::fs::write(&conf, "rotate_size = \"12q\"\n").unwrap();
    let conf_s = conf.to_str().unwrap();
    let missing = e.dir.path().join("missing");
    let cases: Vec<(Vec<&str>, Vars, &str)> = vec![
        (
            vec!["--ring", ring, "--out", out, "--format", "xml"],
            vec![],
            "invalid value 'xml'",
        ),
        (
            vec!["--ring", ring, "--out", out],
            vec![("RINGDRAIN_ROTATE_SIZE", "lots")],
            "the value came from the environment variable RINGDRAIN_ROTATE_SIZE",
        ),
        (vec!["--config", conf_s], vec![], "unknown size unit"),
        (
            vec!["--config", "/no/such/file.toml"],
            vec![],
            "cannot read config file",
        ),
        (vec!["--out", out, "--once"], vec![], "no ring given"),
        (vec!["--ring", ring, "--once"], vec![], "no output given"),
        (
            vec!["--ring", "bad/../", "--stdout", "--once"],
            vec![],
            "does not exist",
        ),
        (
            vec!["stats", missing.to_str().unwrap()],
            vec![],
            "no segment at",
        ),
        (
            vec!["cat", missing.to_str().unwrap()],
            vec![],
            "no segment at",
        ),
        (
            vec!["--ring", ring, "--stdout", "--metrics-listen", "nowhere"],
            vec![],
            "--metrics-listen",
        ),
        // `cat` and `decode` print lines: the archive is not one of their formats.
        (
            vec!["cat", ring, "--format", "binary"],
            vec![],
            "[possible values: text, json, logfmt]",
        ),
        (
            vec!["decode", out, "--format", "binary"],
            vec![],
            "[possible values: text, json, logfmt]",
        ),
    ];
    for (args, vars, want) in cases {
        let o = run(&args, &vars);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(78), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn unusable_rings_exit_65_busy_ones_69_and_io_errors_74() {
    let e = env();
    // Not a segment: 65 (EX_DATAERR).
    let junk = e.dir.path().join("junk");
    std::fs::write(&junk, vec![0xAB; 10000]).unwrap();
    let o = run(
        &["--ring", junk.to_str().unwrap(), "--stdout", "--once"],
        &[],
    );
    assert_eq!(o.status.code(), Some(65), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("not a ringlog segment"),
        "{}",
        stderr(&o)
    );
    // An output that cannot be created: 74 (EX_IOERR).
    let _log = logger(&e.ring);
    let bad_out = junk.join("out.log");
    let ring = e.ring.to_str().unwrap();
    let o = run(
        &["--ring", ring, "--out", bad_out.to_str().unwrap(), "--once"],
        &[],
    );
    assert_eq!(o.status.code(), Some(74), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("cannot open output file"),
        "{}",
        stderr(&o)
    );
    // A ring another drain holds: 69 (EX_UNAVAILABLE).
    let (mut first, err) = spawn(&["--ring", ring, "--out", e.log.to_str().unwrap()], &[]);
    line_with(&err, "ringdrain: draining");
    let o = run(&["--ring", ring, "--stdout"], &[]);
    assert_eq!(o.status.code(), Some(69), "{}", stderr(&o));
    assert!(stderr(&o).contains("already draining"), "{}", stderr(&o));
    // A metrics address in use: 69.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let other = e.dir.path().join("other-ring");
    let o = run(
        &[
            "--ring",
            other.to_str().unwrap(),
            "--stdout",
            "--metrics-listen",
            &addr,
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(69), "{}", stderr(&o));
    signal(&first, libc::SIGTERM);
    assert!(wait(&mut first).success());
}

// --- systemd ------------------------------------------------------------------------------

#[test]
fn sd_notify_sends_ready_watchdog_pings_and_stopping() {
    let e = env();
    let sock_path = e.dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(WATCHDOG)).unwrap();
    let _log = logger(&e.ring);
    let (mut drain, _err) = spawn(
        &[
            "--ring",
            e.ring.to_str().unwrap(),
            "--out",
            e.log.to_str().unwrap(),
        ],
        &[
            ("NOTIFY_SOCKET", sock_path.to_str().unwrap()),
            // Ping every 50 ms (half the interval).
            ("WATCHDOG_USEC", "100000"),
        ],
    );
    let mut buf = [0u8; 512];
    let mut recv = || {
        let n = sock
            .recv(&mut buf)
            .expect("watchdog: no notification within 30 s");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let first = recv();
    assert!(first.lines().any(|l| l == "READY=1"), "{first:?}");
    assert!(
        first.contains(&format!("MAINPID={}", drain.id())),
        "{first:?}"
    );
    for _ in 0..3 {
        assert_eq!(recv(), "WATCHDOG=1");
    }
    signal(&drain, libc::SIGTERM);
    let mut msgs = Vec::new();
    loop {
        let m = recv();
        if m == "STOPPING=1" {
            break;
        }
        assert_eq!(m, "WATCHDOG=1", "after {msgs:?}");
        msgs.push(m);
    }
    assert!(wait(&mut drain).success());
}

#[test]
fn sd_notify_reaches_an_abstract_socket_too() {
    use std::os::linux::net::SocketAddrExt;
    let e = env();
    let name = format!("ringdrain-test-{}-{:?}", std::process::id(), Instant::now());
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let sock = UnixDatagram::bind_addr(&addr).unwrap();
    sock.set_read_timeout(Some(WATCHDOG)).unwrap();
    let _log = logger(&e.ring);
    let (mut drain, _err) = spawn(
        &[
            "--ring",
            e.ring.to_str().unwrap(),
            "--out",
            e.log.to_str().unwrap(),
            "--once",
        ],
        &[("NOTIFY_SOCKET", &format!("@{name}"))],
    );
    let mut buf = [0u8; 512];
    let mut recv = || {
        let n = sock
            .recv(&mut buf)
            .expect("watchdog: no notification within 30 s");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    assert!(recv().starts_with("READY=1\n"));
    // --once: the backlog is written, then STOPPING=1 and exit 0 (no watchdog asked for).
    assert_eq!(recv(), "STOPPING=1");
    assert!(wait(&mut drain).success());
}

// --- metrics ------------------------------------------------------------------------------

#[test]
fn stats_prometheus_exposition_parses_and_counts_the_records() {
    let e = env();
    let log = logger(&e.ring);
    let other = e.dir.path().join("second");
    let log2 = logger(&other);
    for i in 0..100u64 {
        info!(log, "n {}", i);
    }
    let o = run(
        &[
            "--ring",
            e.ring.to_str().unwrap(),
            "--out",
            e.log.to_str().unwrap(),
            "--once",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    for i in 0..7u64 {
        info!(log, "n {}", i);
    }
    info!(log2, "second {}", 1u8);
    let o = run(
        &[
            "stats",
            e.ring.to_str().unwrap(),
            other.to_str().unwrap(),
            "--prometheus",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    let scrape = parse_prometheus(&text);
    let r = e.ring.to_str().unwrap();
    let r2 = other.to_str().unwrap();
    assert_eq!(
        sample(&scrape, "ringlog_ring_drained_records_total", "ring", r),
        100.0
    );
    assert_eq!(
        sample(&scrape, "ringlog_ring_claimed_slots_total", "ring", r),
        107.0
    );
    assert_eq!(sample(&scrape, "ringlog_ring_fill_slots", "ring", r), 7.0);
    assert_eq!(
        sample(&scrape, "ringlog_ring_slots", "ring", r),
        32.0 * 4096.0,
        "32 lanes of 4096 slots"
    );
    assert_eq!(
        sample(&scrape, "ringlog_ring_dropped_records_total", "ring", r),
        0.0
    );
    assert_eq!(sample(&scrape, "ringlog_ring_drain_up", "ring", r), 0.0);
    assert_eq!(sample(&scrape, "ringlog_ring_producers", "ring", r), 1.0);
    assert_eq!(sample(&scrape, "ringlog_ring_fill_slots", "ring", r2), 1.0);
    assert_eq!(
        sample(&scrape, "ringlog_ring_drained_records_total", "ring", r2),
        0.0
    );
    // Every family is typed (counters end in _total).
    for s in &scrape.samples {
        match s.value {
            prometheus_parse::Value::Counter(_) => {
                assert!(s.metric.ends_with("_total"), "{}", s.metric)
            }
            prometheus_parse::Value::Gauge(_) => {}
            ref v => panic!("{}: untyped {v:?}", s.metric),
        }
    }
}

fn http_get(addr: &str, path: &str) -> (String, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WATCHDOG)).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let (head, body) = resp.split_once("\r\n\r\n").unwrap();
    (head.to_string(), body.to_string())
}

#[test]
fn metrics_listen_serves_live_counters_while_draining() {
    let e = env();
    let log = logger(&e.ring);
    let (mut drain, err) = spawn(
        &[
            "--ring",
            e.ring.to_str().unwrap(),
            "--out",
            e.log.to_str().unwrap(),
            "--metrics-listen",
            "127.0.0.1:0",
        ],
        &[],
    );
    let banner = line_with(&err, "ringdrain: draining");
    assert!(banner.contains(e.ring.to_str().unwrap()), "{banner}");
    assert!(banner.contains(e.log.to_str().unwrap()), "{banner}");
    assert!(banner.contains("format text"), "{banner}");
    let addr = banner
        .split("http://")
        .nth(1)
        .and_then(|s| s.split('/').next())
        .unwrap_or_else(|| panic!("no metrics address in {banner}"))
        .to_string();
    for i in 0..50u64 {
        info!(log, "m {}", i);
    }
    wait_lines(&e.log, 50);
    let (head, body) = http_get(&addr, "/metrics");
    assert!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{head}"
    );
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    let scrape = parse_prometheus(&body);
    let r = e.ring.to_str().unwrap();
    let out = e.log.to_str().unwrap();
    assert_eq!(sample(&scrape, "ringdrain_records_total", "", ""), 50.0);
    assert_eq!(sample(&scrape, "ringdrain_notices_total", "", ""), 0.0);
    assert_eq!(sample(&scrape, "ringdrain_ready", "", ""), 1.0);
    let size = std::fs::metadata(&e.log).unwrap().len() as f64;
    assert_eq!(
        sample(&scrape, "ringdrain_output_bytes_total", "output", out),
        size
    );
    assert_eq!(
        sample(
            &scrape,
            "ringdrain_output_write_errors_total",
            "output",
            out
        ),
        0.0
    );
    assert_eq!(
        sample(&scrape, "ringlog_ring_drained_records_total", "ring", r),
        50.0
    );
    assert_eq!(sample(&scrape, "ringlog_ring_drain_up", "ring", r), 1.0);
    assert_eq!(sample(&scrape, "ringlog_ring_fill_slots", "ring", r), 0.0);
    let (head, _) = http_get(&addr, "/nothing");
    assert!(head.contains(" 404"), "{head}");
    signal(&drain, libc::SIGTERM);
    let summary = line_with(&err, "ringdrain: stopped");
    assert!(summary.contains("50 records, 0 loss notices"), "{summary}");
    assert!(summary.contains("0 dropped"), "{summary}");
    assert!(wait(&mut drain).success());
}

#[test]
fn stats_check_fails_on_no_or_dead_drain_lag_and_losses_since_a_mark() {
    let e = env();
    let log = logger(&e.ring);
    let ring = e.ring.to_str().unwrap();
    for i in 0..10u64 {
        info!(log, "c {}", i);
    }
    // No drain, 10 slots waiting.
    let o = run(&["stats", ring, "--check", "--max-lag", "5"], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("no drain attached"), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("lag 10 slots exceeds --max-lag 5"),
        "{}",
        stderr(&o)
    );
    // A dead drain: the pid of a process that has exited.
    let mut gone = Command::new("true").spawn().unwrap();
    gone.wait().unwrap();
    let seg = ringlog_segment::Segment::open(&e.ring, &Default::default()).unwrap();
    // SYNC: Relaxed; the test plays a drain that died; stats reads it with Relaxed too.
    seg.shared().drain.pid.store(gone.id(), Ordering::Relaxed);
    let o = run(&["stats", ring, "--check"], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!("the drain (pid {}) is dead", gone.id())),
        "{}",
        stderr(&o)
    );
    // A living drain that keeps up, marked: the check passes.
    let (mut drain, err) = spawn(&["--ring", ring, "--out", e.log.to_str().unwrap()], &[]);
    line_with(&err, "ringdrain: draining");
    wait_lines(&e.log, 10);
    let mark = e.dir.path().join("mark.json");
    let mark_s = mark.to_str().unwrap();
    let o = run(
        &["stats", ring, "--check", "--max-lag", "5", "--mark", mark_s],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("ok:"));
    // A producer with Policy::Drop overruns the ring while the drain is frozen (SIGSTOP):
    // the next check reports exactly the drops, once; after the new mark it passes again.
    let dropper = Logger::builder()
        .path(&e.ring)
        .policy(ringlog::Policy::Drop)
        .open()
        .unwrap();
    signal(&drain, libc::SIGSTOP);
    for i in 0..5000u64 {
        info!(dropper, "c {}", i);
    }
    signal(&drain, libc::SIGCONT);
    // SYNC: Relaxed; a counter producers bump with Relaxed too.
    let dropped = seg.shared().counters.dropped.load(Ordering::Relaxed);
    assert!(dropped >= 5000 - 4096, "only {dropped} dropped");
    wait_lines(&e.log, 10 + (5000 - dropped as usize) + 1);
    let o = run(
        &[
            "stats",
            ring,
            "--check",
            "--since-mark",
            mark_s,
            "--mark",
            mark_s,
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!(
            "records lost since the mark: {dropped} dropped, 0 slots abandoned, 0 corrupt"
        )),
        "{}",
        stderr(&o)
    );
    let o = run(&["stats", ring, "--check", "--since-mark", mark_s], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    signal(&drain, libc::SIGTERM);
    let summary = line_with(&err, "ringdrain: stopped");
    assert!(
        summary.contains(&format!("{dropped} dropped by producers")),
        "{summary}"
    );
    assert!(wait(&mut drain).success());
}

// --- completions, man page ---------------------------------------------------------------

/// `--help` is for people: no rustdoc link syntax (`[`crate::x`]`) leaks into it from the
/// doc comments clap takes it from, and `cat` and `decode` offer only the formats they print.
#[test]
fn help_texts_hold_no_rustdoc_links_and_offer_only_usable_formats() {
    for args in [
        &["--help"][..],
        &["cat", "--help"],
        &["decode", "--help"],
        &["stats", "--help"],
        &["level", "--help"],
        &["gc", "--help"],
    ] {
        let o = run(args, &[]);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        let help = String::from_utf8_lossy(&o.stdout);
        assert!(!help.contains("[`"), "{args:?}: a rustdoc link in\n{help}");
        let offers_binary = help.contains("- binary:");
        assert_eq!(offers_binary, args.len() == 1, "{args:?}:\n{help}");
    }
}

#[test]
fn completions_and_the_man_page_come_from_the_same_flags() {
    for shell in ["bash", "zsh", "fish"] {
        let o = run(&["completions", shell], &[]);
        assert!(o.status.success(), "{shell}: {}", stderr(&o));
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(text.contains("rotate-size"), "{shell}");
        assert!(text.contains("metrics-listen"), "{shell}");
    }
    let o = run(&["man"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let man = String::from_utf8_lossy(&o.stdout);
    assert!(man.contains(".TH ringdrain 1"), "{man}");
    assert!(man.contains("RINGDRAIN_ROTATE_SIZE"), "{man}");
    assert!(man.contains("EX_CONFIG") || man.contains("78"), "{man}");
    let o = run(&["completions", "tcsh"], &[]);
    assert_eq!(o.status.code(), Some(78));
}

// --- rotation -----------------------------------------------------------------------------

/// Every line of the live file and its rotated files (decompressed), with the names of the
/// rotated files; fails on a leftover `.tmp`.
fn all_lines(live: &Path) -> (Vec<String>, Vec<String>) {
    let dir = live.parent().unwrap();
    let base = live.file_name().unwrap().to_str().unwrap().to_string();
    let mut names = Vec::new();
    let mut lines = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let Some(rest) = name.strip_prefix(&format!("{base}.")) else {
            continue;
        };
        assert!(!rest.ends_with(".tmp"), "leftover {name}");
        let path = dir.join(&name);
        let bytes = if rest.ends_with(".zst") {
            zstd::decode_all(std::fs::File::open(&path).unwrap()).unwrap()
        } else {
            std::fs::read(&path).unwrap()
        };
        lines.extend(String::from_utf8(bytes).unwrap().lines().map(String::from));
        names.push(name);
    }
    let live_text = std::fs::read_to_string(live).unwrap_or_default();
    lines.extend(live_text.lines().map(String::from));
    names.sort();
    (lines, names)
}

/// Asserts the lines hold `r 0` .. `r {n-1}` exactly once each.
fn exactly_once(lines: &[String], n: u64) {
    let mut seen = vec![0u32; n as usize];
    for l in lines {
        let i: u64 = l
            .rsplit(' ')
            .next()
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| panic!("unexpected line {l:?}"));
        seen[i as usize] += 1;
    }
    let missing: Vec<_> = (0..n).filter(|&i| seen[i as usize] == 0).collect();
    let twice: Vec<_> = (0..n).filter(|&i| seen[i as usize] > 1).collect();
    assert!(
        missing.is_empty(),
        "{} missing, first {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert!(
        twice.is_empty(),
        "{} twice, first {:?}",
        twice.len(),
        &twice[..twice.len().min(5)]
    );
}

#[test]
fn size_and_wall_clock_rotation_with_zstd_keep_every_record_exactly_once() {
    let e = env();
    let log = logger(&e.ring);
    let (mut drain, err) = spawn(
        &[
            "--ring",
            e.ring.to_str().unwrap(),
            "--out",
            e.log.to_str().unwrap(),
            "--rotate-size",
            "64k",
            "--rotate-interval",
            "1s",
            "--rotate-keep",
            "100000",
            "--compress",
            "zstd",
        ],
        &[],
    );
    line_with(&err, "ringdrain: draining");
    // About 2.5 s of logging: several second boundaries, and 64 KiB fills many times.
    let n = 25_000u64;
    for i in 0..n {
        info!(log, "r {}", i);
        if i % 1000 == 999 {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    signal(&drain, libc::SIGTERM);
    assert!(wait(&mut drain).success());
    let (lines, names) = all_lines(&e.log);
    exactly_once(&lines, n);
    // Every rotated file was compressed (the drain finishes its queue on exit), named after
    // the second its lines belong to; more files than seconds: size rotation too.
    assert!(names.len() >= 4, "{names:?}");
    for name in &names {
        assert!(name.ends_with(".zst"), "{name}");
        let stamp = name.trim_start_matches("out.log.").trim_end_matches(".zst");
        assert!(
            stamp.len() >= 19 && stamp.as_bytes()[10] == b'T',
            "dated to the second: {name}"
        );
    }
    let seconds: std::collections::BTreeSet<_> = names.iter().map(|n| &n[8..27]).collect();
    assert!(seconds.len() >= 2, "{names:?}");
    assert!(
        names.len() > seconds.len(),
        "size rotation within a second: {names:?}"
    );
    for name in &names {
        let bytes =
            zstd::decode_all(std::fs::File::open(e.dir.path().join(name)).unwrap()).unwrap();
        assert!(bytes.len() <= 64 << 10, "{name}: {} bytes", bytes.len());
    }
}

#[test]
fn a_drain_killed_during_a_compression_loses_no_rotated_file() {
    let e = env();
    let log = logger(&e.ring);
    let args = |level: &'static str| {
        vec![
            "--ring".to_string(),
            e.ring.to_str().unwrap().to_string(),
            "--out".to_string(),
            e.log.to_str().unwrap().to_string(),
            "--rotate-size".to_string(),
            "2M".to_string(),
            "--rotate-keep".to_string(),
            "1000".to_string(),
            "--compress".to_string(),
            "zstd".to_string(),
            "--compress-level".to_string(),
            level.to_string(),
        ]
    };
    let a1 = args("19");
    let a1: Vec<&str> = a1.iter().map(String::as_str).collect();
    let (mut drain, err) = spawn(&a1, &[]);
    // Attached before logging: a Block producer with no drain alive drops.
    line_with(&err, "ringdrain: draining");
    // Phase 1: enough for two rotations (lines are about 70 bytes).
    let n1 = 70_000u64;
    for i in 0..n1 {
        info!(log, "r {}", i);
    }
    // Kill the drain while it compresses (level 19 takes a while on 2 MiB).
    let deadline = Instant::now() + WATCHDOG;
    let tmp = loop {
        let found = std::fs::read_dir(e.dir.path())
            .unwrap()
            .filter_map(|d| d.ok())
            .map(|d| d.file_name().into_string().unwrap())
            .find(|n| n.ends_with(".zst.tmp"));
        if let Some(t) = found {
            break t;
        }
        assert!(
            Instant::now() < deadline,
            "watchdog: no compression started"
        );
        std::thread::sleep(Duration::from_millis(1));
    };
    signal(&drain, libc::SIGKILL);
    let _ = wait(&mut drain);
    assert!(
        e.dir.path().join(&tmp).exists(),
        "the kill came after the compression finished; the test did not test anything"
    );
    let plain = tmp.trim_end_matches(".zst.tmp");
    assert!(e.dir.path().join(plain).exists(), "{plain} lost");
    // Phase 2: a new drain finishes the compression and drains the rest (attached first:
    // the ring is smaller than what is logged, and no drain means drops).
    let a2 = args("3");
    let a2: Vec<&str> = a2.iter().map(String::as_str).collect();
    let (mut drain, err) = spawn(&a2, &[]);
    line_with(&err, "ringdrain: draining");
    let n2 = 10_000u64;
    for i in n1..n1 + n2 {
        info!(log, "r {}", i);
    }
    wait_lines(&e.log, 1);
    signal(&drain, libc::SIGTERM);
    let summary = line_with(&err, "ringdrain: stopped");
    assert!(summary.contains("0 dropped"), "{summary}");
    assert!(wait(&mut drain).success());
    let (lines, names) = all_lines(&e.log);
    exactly_once(&lines, n1 + n2);
    assert!(names.len() >= 2, "{names:?}");
    assert!(names.iter().all(|n| n.ends_with(".zst")), "{names:?}");
}

// --- cat --follow -------------------------------------------------------------------------

mod api {
    pub fn log(log: &ringlog::Logger, i: u64) {
        ringlog::info!(log, "api {}", i);
        if i % 10 == 0 {
            ringlog::warn!(log, "api slow {}", i);
        }
    }
}

mod db {
    pub fn log(log: &ringlog::Logger, i: u64) {
        ringlog::info!(log, "db {}", i);
    }
}

/// A running `ringdrain cat ARGS --follow`: its stdout lines, and the slots it said it skipped.
struct Follow {
    child: Child,
    lines: mpsc::Receiver<String>,
    skipped: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

fn follow(args: &[&str]) -> Follow {
    let mut child = cmd(&[&["cat"], args, &["--follow"]].concat(), &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let skipped = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let sk = skipped.clone();
    let err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            let n = line
                .strip_prefix("ringdrain: cat: skipped ")
                .and_then(|r| r.split(' ').next())
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or_else(|| panic!("unexpected stderr from cat: {line}"));
            // SYNC: Relaxed; a counter read after the view is stopped and joined by time.
            sk.fetch_add(n, Ordering::Relaxed);
        }
    });
    Follow {
        child,
        lines: rx,
        skipped,
    }
}

/// Lines from `rx` until none comes for 1 s.
fn quiet_lines(rx: &mpsc::Receiver<String>) -> Vec<String> {
    let mut got = Vec::new();
    while let Ok(l) = rx.recv_timeout(Duration::from_secs(1)) {
        got.push(l);
    }
    got
}

/// Lines from `rx` until `until` says enough (it may depend on more than the lines: it is
/// checked at least every 50 ms; watchdog: 30 s).
fn drain_lines(rx: &mpsc::Receiver<String>, until: impl Fn(&[String]) -> bool) -> Vec<String> {
    let deadline = Instant::now() + WATCHDOG;
    let mut got = Vec::new();
    while !until(&got) {
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(l) => got.push(l),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(e) => panic!("{} lines, then {e}", got.len()),
        }
        assert!(
            Instant::now() < deadline,
            "watchdog: {} lines so far; last {:?}",
            got.len(),
            got.last()
        );
    }
    got
}

#[test]
fn cat_follow_shows_records_as_they_are_committed_while_a_drain_runs() {
    let e = env();
    let log = logger(&e.ring);
    let ring = e.ring.to_str().unwrap();
    let (mut drain, err) = spawn(&["--ring", ring, "--out", e.log.to_str().unwrap()], &[]);
    line_with(&err, "ringdrain: draining");
    let mut all = follow(&[ring]);
    let mut warn = follow(&[ring, "--level", "warn"]);
    let mut db = follow(&[ring, "--target", "ops::db", "--format", "json"]);
    // Give the views time to start, then log at a service's pace while the drain consumes.
    std::thread::sleep(Duration::from_millis(300));
    let n = 300u64;
    for i in 0..n {
        api::log(&log, i);
        db::log(&log, i);
        std::thread::sleep(Duration::from_millis(1));
    }
    let total = (2 * n + n / 10) as usize;
    let file = wait_lines(&e.log, total);
    let file: Vec<String> = file.lines().map(String::from).collect();
    assert_eq!(file.len(), total);
    // The unfiltered view: every record, in the drain's order, except slots it says it
    // skipped (freed by the drain before the view looked; records are one slot each here).
    let skipped = |f: &Follow| f.skipped.load(Ordering::Relaxed) as usize;
    let shown = drain_lines(&all.lines, |got| got.len() + skipped(&all) >= total);
    assert_eq!(shown.len() + skipped(&all), total);
    // (Compared without the timestamp: the view converts TSC ticks with its own calibration,
    // which may differ from the drain's by nanoseconds.)
    let body = |l: &str| {
        l.split_once(' ')
            .map(|(_, b)| b.to_string())
            .unwrap_or_default()
    };
    let mut rest = file.iter();
    for l in &shown {
        assert!(
            rest.any(|f| body(f) == body(l)),
            "not in the drain's output, or out of order: {l}"
        );
    }
    // How many it shows before the drain frees them depends on scheduling (a loaded machine
    // runs the drain first); that it shows records live, and accounts for the rest, does not.
    assert!(!shown.is_empty(), "the view showed nothing");
    // Filtered views: only what matches, in order (all of it unless they skipped slots).
    let warns = quiet_lines(&warn.lines);
    let mut rest = file.iter().filter(|l| l.contains(" WARN "));
    assert!(!warns.is_empty() || skipped(&warn) > 0);
    for l in &warns {
        assert!(rest.any(|f| body(f) == body(l)), "{l}");
    }
    if skipped(&warn) == 0 {
        assert_eq!(warns.len(), n as usize / 10);
    }
    let dbs = quiet_lines(&db.lines);
    assert!(!dbs.is_empty() || skipped(&db) > 0);
    let mut last = None;
    for l in &dbs {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        assert_eq!(v["target"], "ops::db", "{l}");
        let i: u64 = v["msg"]
            .as_str()
            .unwrap()
            .strip_prefix("db ")
            .unwrap()
            .parse()
            .unwrap();
        assert!(last.is_none_or(|p| p < i), "{l}");
        last = Some(i);
    }
    if skipped(&db) == 0 {
        assert_eq!(dbs.len(), n as usize);
    }
    // The views consumed nothing (the drain wrote every record) and are still following.
    for f in [&mut all, &mut warn, &mut db] {
        assert!(
            f.child.try_wait().unwrap().is_none(),
            "a --follow view exited"
        );
        f.child.kill().unwrap();
        f.child.wait().unwrap();
    }
    signal(&drain, libc::SIGTERM);
    assert!(wait(&mut drain).success());
}

#[test]
fn daily_rotation_with_zstd_dates_files_by_day_and_keeps_every_record_once() {
    let e = env();
    let log = logger(&e.ring);
    let ring = e.ring.to_str().unwrap();
    let args = [
        "--ring",
        ring,
        "--out",
        e.log.to_str().unwrap(),
        "--rotate-interval",
        "daily",
        "--rotate-size",
        "32k",
        "--rotate-keep",
        "1000",
        "--compress",
        "zstd",
    ];
    // Yesterday's drain wrote 300 records (its file stayed under the size).
    let (mut drain, err) = spawn(&args, &[]);
    line_with(&err, "ringdrain: draining");
    for i in 0..300u64 {
        info!(log, "r {}", i);
    }
    wait_lines(&e.log, 300);
    signal(&drain, libc::SIGTERM);
    assert!(wait(&mut drain).success());
    let now = jiff::Timestamp::now();
    let yesterday = now - jiff::SignedDuration::from_hours(24);
    std::fs::File::options()
        .write(true)
        .open(&e.log)
        .unwrap()
        .set_modified(std::time::SystemTime::try_from(yesterday).unwrap())
        .unwrap();
    // Today's drain: the first batch rotates yesterday's file, named by its day; today's
    // records pass the size limit several times.
    let (mut drain, err) = spawn(&args, &[]);
    line_with(&err, "ringdrain: draining");
    let n = 3000u64;
    for i in 300..n {
        info!(log, "r {}", i);
    }
    signal(&drain, libc::SIGTERM);
    assert!(wait(&mut drain).success());
    let (lines, names) = all_lines(&e.log);
    exactly_once(&lines, n);
    let day = |t: jiff::Timestamp| t.strftime("%Y-%m-%d").to_string();
    let old = format!("out.log.{}.zst", day(yesterday));
    assert!(names.contains(&old), "{names:?}");
    let text = zstd::decode_all(std::fs::File::open(e.dir.path().join(&old)).unwrap()).unwrap();
    let text = String::from_utf8(text).unwrap();
    assert_eq!(text.lines().count(), 300);
    assert!(text.lines().last().unwrap().ends_with("r 299"));
    let today = format!("out.log.{}", day(now));
    assert!(
        names.iter().any(|n| n == &format!("{today}.zst")),
        "{names:?}"
    );
    assert!(
        names.iter().any(|n| n == &format!("{today}.1.zst")),
        "{names:?}"
    );
    assert!(names.iter().all(|n| n.ends_with(".zst")), "{names:?}");
}

#[test]
fn retention_by_total_size_removes_the_oldest_rotated_files() {
    let e = env();
    let log = logger(&e.ring);
    let (mut drain, err) = spawn(
        &[
            "--ring",
            e.ring.to_str().unwrap(),
            "--out",
            e.log.to_str().unwrap(),
            "--rotate-size",
            "16k",
            "--rotate-keep",
            "1000",
            "--rotate-max-total",
            "40k",
            "--rotate-max-age",
            "1d",
        ],
        &[],
    );
    line_with(&err, "ringdrain: draining");
    let n = 5000u64;
    for i in 0..n {
        info!(log, "r {}", i);
    }
    signal(&drain, libc::SIGTERM);
    assert!(wait(&mut drain).success());
    let mut rotated: Vec<(String, u64)> = std::fs::read_dir(e.dir.path())
        .unwrap()
        .map(|d| d.unwrap())
        .filter(|d| d.file_name().to_str().unwrap().starts_with("out.log."))
        .map(|d| {
            let name = d.file_name().into_string().unwrap();
            (name, d.metadata().unwrap().len())
        })
        .collect();
    rotated.sort();
    let total: u64 = rotated.iter().map(|(_, l)| l).sum();
    assert!(total <= 40 << 10, "{total} bytes in {rotated:?}");
    assert!(rotated.len() >= 2, "{rotated:?}");
    // What is left is the newest: the live file and the rotated ones hold the last records,
    // without gaps, up to the last one.
    let (lines, _) = all_lines(&e.log);
    let idx: Vec<u64> = lines
        .iter()
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    let first = *idx.iter().min().unwrap();
    assert!(first > 0, "the oldest records were removed");
    let mut sorted = idx.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (first..n).collect::<Vec<_>>());
}

#[test]
fn cat_follow_stops_with_a_word_when_its_ring_is_removed() {
    let e = env();
    let log = logger(&e.ring);
    api::log(&log, 1);
    let mut child = cmd(&["cat", e.ring.to_str().unwrap(), "--follow"], &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = out.next().expect("a line").unwrap();
    assert!(first.contains("api 1"), "{first}");
    std::fs::remove_file(&e.ring).unwrap();
    // It notices within its once-a-second check and ends, instead of following forever.
    let deadline = Instant::now() + WATCHDOG;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "cat --follow still running");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(err.contains("was removed or replaced"), "{err}");
}
