//! The `ringdrain` binary end to end: draining, signals, rotation, and every kind of bad input
//! giving one clear line and a non-zero exit.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use ringlog::{info, Logger};

const BIN: &str = env!("CARGO_BIN_EXE_ringdrain");

fn logger(ring: &Path) -> Logger {
    Logger::builder()
        .path(ring)
        .slot_count(1 << 14)
        .open()
        .unwrap()
}

/// Waits until a drain has attached to `ring` (its signal handlers are installed by then).
fn wait_attached(ring: &Path) {
    let seg = ringlog_segment::Segment::open(ring, &Default::default()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    // SYNC: Relaxed; polling a flag another process sets.
    while seg
        .shared()
        .drain
        .pid
        .load(std::sync::atomic::Ordering::Relaxed)
        == 0
    {
        assert!(
            Instant::now() < deadline,
            "watchdog: ringdrain never attached"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn spawn(args: &[&str]) -> Child {
    Command::new(BIN)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: kill(2) with a pid we spawned and a valid signal number has no memory effects.
    let rc = unsafe { libc::kill(child.id() as i32, sig) };
    assert_eq!(rc, 0);
}

/// Waits for the child; a watchdog fails the test (and kills the child) if it never exits.
fn wait(child: &mut Child, what: &str) -> ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("watchdog: {what} did not exit within 30 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits until `path` holds at least `n` lines (watchdog: fails after 30 s).
fn wait_lines(path: &Path, n: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.lines().count() >= n {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "watchdog: {} has {} lines, waited 30 s for {n}",
            path.display(),
            text.lines().count()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn one_line_error(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "expected failure, got {:?}",
        out.status
    );
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!err.contains("panicked"), "panic: {err}");
    err
}

struct Env {
    _dir: tempfile::TempDir,
    ring: PathBuf,
    log: PathBuf,
}

fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    Env {
        ring: dir.path().join("ring"),
        log: dir.path().join("out.log"),
        _dir: dir,
    }
}

#[test]
fn once_drains_the_backlog_and_exits() {
    let e = env();
    let log = logger(&e.ring);
    for i in 0..1000u64 {
        info!(log, "record {}", i, half = i as f64 / 2.0);
    }
    let out = run(&[
        "--ring",
        e.ring.to_str().unwrap(),
        "--out",
        e.log.to_str().unwrap(),
        "--once",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&e.log).unwrap();
    let lines: Vec<_> = text.lines().collect();
    assert_eq!(lines.len(), 1000);
    for (i, l) in lines.iter().enumerate() {
        assert!(
            l.ends_with(&format!("record {i} half={}", i as f64 / 2.0)),
            "{l}"
        );
    }
    // The records were consumed: a second run writes nothing new.
    let out = run(&[
        "--ring",
        e.ring.to_str().unwrap(),
        "--out",
        e.log.to_str().unwrap(),
        "--once",
    ]);
    assert!(out.status.success());
    assert_eq!(
        std::fs::read_to_string(&e.log).unwrap().lines().count(),
        1000
    );
}

#[test]
fn sigterm_drains_what_is_left_and_exits_zero() {
    let e = env();
    let log = logger(&e.ring);
    let mut drain = spawn(&[
        "--ring",
        e.ring.to_str().unwrap(),
        "--out",
        e.log.to_str().unwrap(),
        "--format",
        "json",
    ]);
    wait_attached(&e.ring);
    for i in 0..5000u64 {
        info!(log, "n {}", i);
    }
    signal(&drain, libc::SIGTERM);
    let st = wait(&mut drain, "ringdrain after SIGTERM");
    assert!(st.success(), "{st:?}");
    let text = std::fs::read_to_string(&e.log).unwrap();
    let mut seen = vec![false; 5000];
    for l in text.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        let msg = v["msg"].as_str().unwrap();
        let i: usize = msg.strip_prefix("n ").unwrap().parse().unwrap();
        assert!(!seen[i], "record {i} written twice");
        seen[i] = true;
    }
    assert!(seen.iter().all(|s| *s), "records missing after SIGTERM");
}

#[test]
fn sighup_reopens_the_output_for_logrotate() {
    let e = env();
    let log = logger(&e.ring);
    let mut drain = spawn(&[
        "--ring",
        e.ring.to_str().unwrap(),
        "--out",
        e.log.to_str().unwrap(),
    ]);
    wait_attached(&e.ring);
    for i in 0..100u64 {
        info!(log, "before {}", i);
    }
    wait_lines(&e.log, 100);
    let moved = e.log.with_extension("log.1");
    std::fs::rename(&e.log, &moved).unwrap();
    signal(&drain, libc::SIGHUP);
    std::thread::sleep(Duration::from_millis(100));
    for i in 0..100u64 {
        info!(log, "after {}", i);
    }
    let text = wait_lines(&e.log, 100);
    signal(&drain, libc::SIGTERM);
    assert!(wait(&mut drain, "ringdrain").success());
    let old = std::fs::read_to_string(&moved).unwrap();
    assert_eq!(old.lines().count(), 100);
    assert!(old.lines().all(|l| l.contains("before ")));
    assert_eq!(text.lines().count(), 100);
    assert!(text.lines().all(|l| l.contains("after ")));
}

#[test]
fn rotation_keeps_files_under_the_size_and_at_most_n() {
    let e = env();
    let log = logger(&e.ring);
    let mut drain = spawn(&[
        "--ring",
        e.ring.to_str().unwrap(),
        "--out",
        e.log.to_str().unwrap(),
        "--rotate-size",
        "8k",
        "--rotate-keep",
        "3",
    ]);
    wait_attached(&e.ring);
    for i in 0..3000u64 {
        info!(
            log,
            "a fairly long message to fill files quickly number {}", i
        );
    }
    // The newest record lands in the live file; wait for it.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&e.log)
        .unwrap_or_default()
        .contains("number 2999")
    {
        assert!(
            Instant::now() < deadline,
            "watchdog: last record never written"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    signal(&drain, libc::SIGTERM);
    assert!(wait(&mut drain, "ringdrain").success());
    let name = |i: u32| PathBuf::from(format!("{}.{i}", e.log.display()));
    for i in 1..=3 {
        let md =
            std::fs::metadata(name(i)).unwrap_or_else(|_| panic!("{} missing", name(i).display()));
        assert!(
            md.len() <= 8192,
            "{} is {} bytes",
            name(i).display(),
            md.len()
        );
    }
    assert!(!name(4).exists(), "kept more than 3 rotated files");
    assert!(std::fs::metadata(&e.log).unwrap().len() <= 8192);
    // The kept files hold consecutive records, newest last.
    let mut all = String::new();
    for i in (1..=3).rev() {
        all += &std::fs::read_to_string(name(i)).unwrap();
    }
    all += &std::fs::read_to_string(&e.log).unwrap();
    let nums: Vec<u64> = all
        .lines()
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    assert!(
        nums.windows(2).all(|w| w[1] == w[0] + 1),
        "kept lines are not consecutive"
    );
    assert_eq!(*nums.last().unwrap(), 2999);
}

#[test]
fn a_second_drain_on_the_same_ring_is_refused() {
    let e = env();
    let _log = logger(&e.ring);
    let mut first = spawn(&[
        "--ring",
        e.ring.to_str().unwrap(),
        "--out",
        e.log.to_str().unwrap(),
    ]);
    // Wait until the first drain has attached (its heartbeat shows in stats).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let st = run(&[
            "stats",
            e.ring.to_str().unwrap(),
            "--json",
            "--interval-ms",
            "1",
        ]);
        let v: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
        if v["drain_alive"] == true {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "watchdog: first drain never attached"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let other = e.log.with_extension("2");
    let out = run(&[
        "--ring",
        e.ring.to_str().unwrap(),
        "--out",
        other.to_str().unwrap(),
        "--once",
    ]);
    let err = one_line_error(&out);
    assert!(err.contains("is already draining"), "{err}");
    // The lease the drain holds is the segment's: this process cannot take it either.
    let seg = ringlog_segment::Segment::open(&e.ring, &Default::default()).unwrap();
    let refused = seg.acquire_drain().unwrap_err();
    assert_eq!(refused.pid, first.id());
    signal(&first, libc::SIGTERM);
    assert!(wait(&mut first, "ringdrain").success());
    // A drain that stopped gave its lease back.
    drop(
        seg.acquire_drain()
            .expect("the stopped drain released its lease"),
    );
}

#[test]
fn the_lease_of_a_killed_drain_is_taken_over() {
    let e = env();
    let _log = logger(&e.ring);
    let mut drain = spawn(&[
        "--ring",
        e.ring.to_str().unwrap(),
        "--out",
        e.log.to_str().unwrap(),
    ]);
    wait_attached(&e.ring);
    let seg = ringlog_segment::Segment::open(&e.ring, &Default::default()).unwrap();
    assert_eq!(seg.acquire_drain().unwrap_err().pid, drain.id());
    signal(&drain, libc::SIGKILL);
    assert!(!wait(&mut drain, "ringdrain").success());
    // Its pid still names it in the segment, but the process is gone (and reaped).
    // SYNC: Relaxed; reading a word the dead process left.
    let left = seg
        .shared()
        .drain
        .pid
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(left, drain.id(), "a killed drain cannot release its lease");
    let lease = seg
        .acquire_drain()
        .expect("a dead drain's lease is taken over");
    assert_eq!(lease.pid(), std::process::id());
}

#[test]
fn bad_input_gives_one_clear_line_and_a_nonzero_exit() {
    let e = env();
    let dir = e.ring.parent().unwrap();
    // A bad flag.
    let out = run(&["--ring", "x", "--out", "y", "--format", "xml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid value 'xml'"));
    // Missing segment for cat and stats.
    for sub in ["cat", "stats"] {
        let out = run(&[sub, dir.join("missing").to_str().unwrap()]);
        let err = one_line_error(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("no segment at"), "{err}");
    }
    // A file that is not a segment.
    let junk = dir.join("junk");
    std::fs::write(&junk, vec![0xAB; 10000]).unwrap();
    for sub in ["cat", "stats"] {
        let err = one_line_error(&run(&[sub, junk.to_str().unwrap()]));
        assert!(err.contains("not a ringlog segment"), "{err}");
    }
    let err = one_line_error(&run(&[
        "--ring",
        junk.to_str().unwrap(),
        "--out",
        e.log.to_str().unwrap(),
        "--once",
    ]));
    assert!(err.contains("not a ringlog segment"), "{err}");
    // An output path that cannot be created (a regular file used as a directory).
    let _log = logger(&e.ring);
    let bad_out = junk.join("out.log");
    let err = one_line_error(&run(&[
        "--ring",
        e.ring.to_str().unwrap(),
        "--out",
        bad_out.to_str().unwrap(),
        "--once",
    ]));
    assert!(err.contains("cannot open output file"), "{err}");
    assert_eq!(err.lines().count(), 1);
    // A missing directory for the ring.
    let err = one_line_error(&run(&[
        "--ring",
        dir.join("no/such/ring").to_str().unwrap(),
        "--stdout",
        "--once",
    ]));
    assert!(err.contains("does not exist"), "{err}");
    // A bad size.
    let out = run(&["--ring", "x", "--out", "y", "--rotate-size", "12q"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn cat_prints_without_consuming_and_stats_reports() {
    let e = env();
    let log = logger(&e.ring);
    for i in 0..10u64 {
        info!(log, "peek {}", i);
    }
    let out = run(&["cat", e.ring.to_str().unwrap()]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 10);
    assert!(text.lines().next().unwrap().ends_with("peek 0"));
    let st = run(&[
        "stats",
        e.ring.to_str().unwrap(),
        "--json",
        "--interval-ms",
        "1",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
    assert_eq!(v["fill_slots"], 10);
    assert_eq!(v["dropped"], 0);
    assert_eq!(v["live_producers"][0], std::process::id());
    // Nothing was consumed: --once still finds all 10.
    let out = run(&[
        "--ring",
        e.ring.to_str().unwrap(),
        "--out",
        e.log.to_str().unwrap(),
        "--once",
    ]);
    assert!(out.status.success());
    assert_eq!(std::fs::read_to_string(&e.log).unwrap().lines().count(), 10);
    let human = run(&["stats", e.ring.to_str().unwrap(), "--interval-ms", "1"]);
    assert!(String::from_utf8(human.stdout)
        .unwrap()
        .contains("fill       0 / 16384 slots"));
}

#[test]
fn rotation_by_time_starts_a_new_file_after_the_interval() {
    let e = env();
    let log = logger(&e.ring);
    let mut drain = spawn(&[
        "--ring",
        e.ring.to_str().unwrap(),
        "--out",
        e.log.to_str().unwrap(),
        "--rotate-interval",
        "1s",
    ]);
    wait_attached(&e.ring);
    for i in 0..10u64 {
        info!(log, "early {}", i);
    }
    wait_lines(&e.log, 10);
    std::thread::sleep(Duration::from_millis(1200));
    for i in 0..10u64 {
        info!(log, "late {}", i);
    }
    let rotated = PathBuf::from(format!("{}.1", e.log.display()));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&e.log)
        .unwrap_or_default()
        .contains("late 9")
    {
        assert!(
            Instant::now() < deadline,
            "watchdog: late records never written"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    signal(&drain, libc::SIGTERM);
    assert!(wait(&mut drain, "ringdrain").success());
    let old = std::fs::read_to_string(&rotated).unwrap();
    let new = std::fs::read_to_string(&e.log).unwrap();
    assert_eq!(old.lines().count(), 10);
    assert!(old.lines().all(|l| l.contains("early ")));
    assert_eq!(new.lines().count(), 10);
    assert!(new.lines().all(|l| l.contains("late ")));
    let bad = run(&["--ring", "x", "--out", "y", "--rotate-interval", "0s"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn sigterm_under_endless_load_stops_and_the_next_drain_continues_exactly() {
    let e = env();
    let log = logger(&e.ring);
    let mut drain = spawn(&[
        "--ring",
        e.ring.to_str().unwrap(),
        "--out",
        e.log.to_str().unwrap(),
    ]);
    wait_attached(&e.ring);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let producer = {
        let (log, stop) = (log.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut i = 0u64;
            // SYNC: Relaxed; a stop flag.
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                info!(log, "endless {}", i);
                i += 1;
            }
            i
        })
    };
    wait_lines(&e.log, 1000);
    signal(&drain, libc::SIGTERM);
    assert!(wait(&mut drain, "ringdrain under endless load").success());
    // SYNC: Relaxed; a stop flag.
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let n = producer.join().unwrap();
    let out = run(&[
        "--ring",
        e.ring.to_str().unwrap(),
        "--out",
        e.log.to_str().unwrap(),
        "--once",
    ]);
    assert!(out.status.success());
    let text = std::fs::read_to_string(&e.log).unwrap();
    let nums: Vec<u64> = text
        .lines()
        .filter(|l| !l.contains(" ringdrain: "))
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    let dropped: u64 = text
        .lines()
        .filter(|l| l.contains(" ringdrain: "))
        .filter_map(|l| l.split(' ').find_map(|kv| kv.strip_prefix("dropped=")))
        .map(|v| v.parse::<u64>().unwrap())
        .sum();
    assert!(
        nums.windows(2).all(|w| w[0] < w[1]),
        "duplicated or reordered"
    );
    assert_eq!(
        nums.len() as u64 + dropped,
        n,
        "records lost without a count"
    );
}

#[test]
fn one_drain_serves_several_rings_and_merges_them_by_time() {
    let e = env();
    let ring2 = e.ring.with_extension("2");
    let (a, b) = (logger(&e.ring), logger(&ring2));
    for i in 0..1000u64 {
        info!(a, "from a {}", i);
        info!(b, "from b {}", i);
    }
    let out = run(&[
        "--ring",
        e.ring.to_str().unwrap(),
        "--ring",
        ring2.to_str().unwrap(),
        "--merge",
        "--out",
        e.log.to_str().unwrap(),
        "--once",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&e.log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2000);
    for who in ["a", "b"] {
        let nums: Vec<u64> = lines
            .iter()
            .filter_map(|l| l.split_once(&format!("from {who} ")))
            .map(|(_, n)| n.parse().unwrap())
            .collect();
        assert_eq!(nums, (0..1000).collect::<Vec<_>>(), "ring {who}");
    }
    // Merged: timestamps (fixed-width RFC 3339) never go backwards.
    let ts: Vec<&str> = lines.iter().map(|l| l.split(' ').next().unwrap()).collect();
    assert!(
        ts.windows(2).all(|w| w[0] <= w[1]),
        "lines are not in timestamp order"
    );
    // And interleaved, not one ring after the other.
    assert!(lines[..1000].iter().any(|l| l.contains("from b")));
}

#[test]
fn settings_come_from_a_toml_config_file_and_flags_win() {
    let e = env();
    let log = logger(&e.ring);
    info!(log, "configured {}", 1u8);
    let conf = e.ring.with_extension("toml");
    std::fs::write(
        &conf,
        format!(
            "rings = [{:?}]\nout = {:?}\nformat = \"json\"\nrotate_keep = 3\n",
            e.ring.to_str().unwrap(),
            e.log.to_str().unwrap()
        ),
    )
    .unwrap();
    let out = run(&["--config", conf.to_str().unwrap(), "--once"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&e.log).unwrap();
    let v: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(v["msg"], "configured 1");
    // A flag overrides the file.
    info!(log, "configured {}", 2u8);
    let out = run(&[
        "--config",
        conf.to_str().unwrap(),
        "--once",
        "--format",
        "logfmt",
    ]);
    assert!(out.status.success());
    let text = std::fs::read_to_string(&e.log).unwrap();
    assert!(
        text.lines()
            .nth(1)
            .unwrap()
            .contains("msg=\"configured 2\""),
        "{text}"
    );
    // A bad key is one clear line.
    std::fs::write(&conf, "rigns = [\"x\"]\n").unwrap();
    let err = one_line_error(&run(&["--config", conf.to_str().unwrap(), "--once"]));
    assert!(err.contains("unknown field `rigns`"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    // No ring anywhere.
    std::fs::write(&conf, "stdout = true\n").unwrap();
    let err = one_line_error(&run(&["--config", conf.to_str().unwrap(), "--once"]));
    assert!(err.contains("no ring given"), "{err}");
}

#[test]
fn gc_removes_only_unused_fully_drained_segments() {
    let e = env();
    let dir = e.ring.parent().unwrap().join("shm");
    std::fs::create_dir(&dir).unwrap();
    let cfg = ringlog_segment::SegmentConfig {
        slot_count: 64,
        ..Default::default()
    };
    // Unused and empty: no producer ever attached.
    let idle = dir.join("ringlog-idle");
    ringlog_segment::Segment::create_or_open(&idle, &cfg).unwrap();
    // A live producer (this process).
    let busy = dir.join("ringlog-busy");
    let _live = Logger::builder().path(&busy).slot_count(64).open().unwrap();
    // Undrained records, producer gone: write them, then clear the producer table.
    let full = dir.join("ringlog-full");
    {
        let l = Logger::builder().path(&full).slot_count(64).open().unwrap();
        info!(l, "not yet drained");
        l.segment().detach_producer(std::process::id());
    }
    // Not a segment at all.
    std::fs::write(dir.join("ringlog-junk"), b"hello").unwrap();
    let out = run(&["gc", "--dir", dir.to_str().unwrap(), "--dry-run"]);
    assert!(out.status.success());
    let said = String::from_utf8(out.stdout).unwrap();
    assert!(
        said.contains(&format!("would remove {}", idle.display())),
        "{said}"
    );
    assert!(idle.exists(), "dry run removed something");
    let out = run(&["gc", "--dir", dir.to_str().unwrap()]);
    let said = String::from_utf8(out.stdout).unwrap();
    assert!(
        said.contains(&format!("removed {}", idle.display())),
        "{said}"
    );
    assert!(
        said.contains(&format!("kept {}: 1 live producer(s)", busy.display())),
        "{said}"
    );
    assert!(
        said.contains(&format!("kept {}: 1 undrained slot(s)", full.display())),
        "{said}"
    );
    assert!(
        said.contains("skipped") && said.contains("ringlog-junk"),
        "{said}"
    );
    assert!(!idle.exists() && busy.exists() && full.exists());
    // Once drained, the full one goes too.
    let log_out = e.log.to_str().unwrap();
    assert!(
        run(&["--ring", full.to_str().unwrap(), "--out", log_out, "--once"])
            .status
            .success()
    );
    let out = run(&["gc", full.to_str().unwrap()]);
    assert!(String::from_utf8(out.stdout)
        .unwrap()
        .starts_with("removed"));
    assert!(!full.exists());
}
