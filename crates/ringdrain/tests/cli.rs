//! The `ringdrain` binary end to end: draining, signals, rotation, and every kind of bad input
//! giving one clear line and a non-zero exit.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use ringlog::{info, Logger};
use ringlog_testkit::segment::wait_attached;
use ringlog_testkit::{
    wait_for_lines, wait_for_text, wait_until, Drain, TestCommand, TestDir, PATIENCE,
};

fn logger(ring: &Path) -> Logger {
    Logger::builder()
        .path(ring)
        .slot_count(1 << 14)
        .open()
        .unwrap()
}

/// The `ringdrain` binary of this package.
fn ringdrain() -> TestCommand {
    TestCommand::new(ringlog_testkit::bin!("ringdrain"))
}

fn run(args: &[&str]) -> Output {
    ringdrain().args(args).output()
}

/// `ringdrain --ring RING --out OUT --once`: drains the backlog of `ring` into `out`.
fn once_into(ring: &Path, out: &Path) -> TestCommand {
    let mut cmd = ringdrain();
    cmd.arg("--ring")
        .arg(ring)
        .arg("--out")
        .arg(out)
        .arg("--once");
    cmd
}

/// [`once_into`] the test's ring and file.
fn once(e: &TestDir) -> TestCommand {
    once_into(&e.ring(), &e.out())
}

/// `ringdrain --config CONF --once`.
fn once_with_config(conf: &Path) -> TestCommand {
    let mut cmd = ringdrain();
    cmd.arg("--config").arg(conf).arg("--once");
    cmd
}

/// A drain of the test's ring into its file with `extra` flags, attached (its signal handlers
/// are installed by then).
fn attached_drain(e: &TestDir, extra: &[&str]) -> Drain {
    let drain = Drain::spawn(
        ringdrain()
            .arg("--ring")
            .arg(e.ring())
            .arg("--out")
            .arg(e.out())
            .args(extra),
    );
    wait_attached(&e.ring());
    drain
}

#[test]
fn once_drains_the_backlog_and_exits() {
    let e = TestDir::new();
    let log = logger(&e.ring());
    for i in 0..1000u64 {
        info!(log, "record {}", i, half = i as f64 / 2.0);
    }
    once(&e).expect_success();
    let text = e.out_text();
    let lines: Vec<_> = text.lines().collect();
    assert_eq!(lines.len(), 1000);
    for (i, l) in lines.iter().enumerate() {
        assert!(
            l.ends_with(&format!("record {i} half={}", i as f64 / 2.0)),
            "{l}"
        );
    }
    // The records were consumed: a second run writes nothing new.
    once(&e).expect_success();
    assert_eq!(e.out_text().lines().count(), 1000);
}

#[test]
fn sigterm_drains_what_is_left_and_exits_zero() {
    let e = TestDir::new();
    let log = logger(&e.ring());
    let drain = attached_drain(&e, &["--format", "json"]);
    for i in 0..5000u64 {
        info!(log, "n {}", i);
    }
    drain.stop();
    let text = e.out_text();
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
    let e = TestDir::new();
    let log = logger(&e.ring());
    let drain = attached_drain(&e, &[]);
    for i in 0..100u64 {
        info!(log, "before {}", i);
    }
    wait_for_lines(&e.out(), 100);
    let moved = e.out().with_extension("log.1");
    std::fs::rename(e.out(), &moved).unwrap();
    drain.signal(libc::SIGHUP);
    std::thread::sleep(Duration::from_millis(100));
    for i in 0..100u64 {
        info!(log, "after {}", i);
    }
    let text = wait_for_lines(&e.out(), 100);
    drain.stop();
    let old = std::fs::read_to_string(&moved).unwrap();
    assert_eq!(old.lines().count(), 100);
    assert!(old.lines().all(|l| l.contains("before ")));
    assert_eq!(text.lines().count(), 100);
    assert!(text.lines().all(|l| l.contains("after ")));
}

#[test]
fn rotation_keeps_files_under_the_size_and_at_most_n() {
    let e = TestDir::new();
    let log = logger(&e.ring());
    let drain = attached_drain(&e, &["--rotate-size", "8k", "--rotate-keep", "3"]);
    for i in 0..3000u64 {
        info!(
            log,
            "a fairly long message to fill files quickly number {}", i
        );
    }
    // The newest record lands in the live file; wait for it.
    wait_for_text(&e.out(), "number 2999");
    drain.stop();
    let name = |i: u32| PathBuf::from(format!("{}.{i}", e.out().display()));
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
    assert!(std::fs::metadata(e.out()).unwrap().len() <= 8192);
    // The kept files hold consecutive records, newest last.
    let mut all = String::new();
    for i in (1..=3).rev() {
        all += &std::fs::read_to_string(name(i)).unwrap();
    }
    all += &e.out_text();
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
    let e = TestDir::new();
    let _log = logger(&e.ring());
    let first = Drain::spawn(
        ringdrain()
            .arg("--ring")
            .arg(e.ring())
            .arg("--out")
            .arg(e.out()),
    );
    // Wait until the first drain has attached (its heartbeat shows in stats).
    wait_until(
        "the first drain never showed as alive in stats",
        PATIENCE,
        || {
            let stats = ringdrain()
                .arg("stats")
                .arg(e.ring())
                .args(["--json", "--interval-ms", "1"])
                .stdout();
            let v: serde_json::Value = serde_json::from_str(&stats).unwrap();
            v["drain_alive"] == true
        },
    );
    let other = e.out().with_extension("2");
    let err = once_into(&e.ring(), &other).expect_one_line_error();
    assert!(err.contains("is already draining"), "{err}");
    // The lease the drain holds is the segment's: this process cannot take it either.
    let seg = ringlog_segment::Segment::open(&e.ring(), &Default::default()).unwrap();
    let refused = seg.acquire_drain().unwrap_err();
    assert_eq!(refused.pid, first.id());
    first.stop();
    // A drain that stopped gave its lease back.
    drop(
        seg.acquire_drain()
            .expect("the stopped drain released its lease"),
    );
}

#[test]
fn the_lease_of_a_killed_drain_is_taken_over() {
    let e = TestDir::new();
    let _log = logger(&e.ring());
    let drain = attached_drain(&e, &[]);
    let pid = drain.id();
    let seg = ringlog_segment::Segment::open(&e.ring(), &Default::default()).unwrap();
    assert_eq!(seg.acquire_drain().unwrap_err().pid, pid);
    drain.kill();
    // Its pid still names it in the segment, but the process is gone (and reaped).
    // SYNC: Relaxed; reading a word the dead process left.
    let left = seg
        .shared()
        .drain
        .pid
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(left, pid, "a killed drain cannot release its lease");
    let lease = seg
        .acquire_drain()
        .expect("a dead drain's lease is taken over");
    assert_eq!(lease.pid(), std::process::id());
}

/// `--ring app.ring` (no `/`) names `/dev/shm/ringlog-app.ring`; with a file `app.ring` in the
/// working directory, the drain and its tools say which ring they took and how to name the file.
#[test]
fn a_ring_name_that_is_also_a_file_here_says_which_is_meant() {
    let e = TestDir::new();
    let name = format!("cli-note-{}.ring", std::process::id());
    std::fs::write(e.path().join(&name), b"not a ring").unwrap();
    let out = ringdrain()
        .current_dir(e.path())
        .args(["stats", &name])
        .output();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains(&format!(
            "{name} names the ring /dev/shm/ringlog-{name} (a name without a '/'); for the file {name} in this directory, write ./{name}"
        )),
        "{err}"
    );
    assert!(err.contains("no segment at"), "{err}");
    // Written as a path, it is the file (not a ring): no note.
    let out = ringdrain()
        .current_dir(e.path())
        .args(["stats", &format!("./{name}")])
        .output();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(!err.contains("names the ring"), "{err}");
    // A name with no such file here: no note either.
    let out = run(&["stats", &format!("cli-no-file-{}", std::process::id())]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("names the ring"));
}

#[test]
fn bad_input_gives_one_clear_line_and_a_nonzero_exit() {
    let e = TestDir::new();
    let dir = e.path();
    // A bad flag.
    let out = run(&["--ring", "x", "--out", "y", "--format", "xml"]);
    assert_eq!(out.status.code(), Some(78), "EX_CONFIG");
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid value 'xml'"));
    // Missing segment for cat and stats.
    for sub in ["cat", "stats"] {
        let err = ringdrain()
            .arg(sub)
            .arg(dir.join("missing"))
            .expect_one_line_error();
        assert!(err.contains("no segment at"), "{err}");
    }
    // A file that is not a segment.
    let junk = dir.join("junk");
    std::fs::write(&junk, vec![0xAB; 10000]).unwrap();
    for sub in ["cat", "stats"] {
        let err = ringdrain()
            .args([sub, junk.to_str().unwrap()])
            .expect_error();
        assert!(err.contains("not a ringlog segment"), "{err}");
    }
    let err = once_into(&junk, &e.out()).expect_error();
    assert!(err.contains("not a ringlog segment"), "{err}");
    // An output path that cannot be created (a regular file used as a directory).
    let _log = logger(&e.ring());
    let bad_out = junk.join("out.log");
    let err = once_into(&e.ring(), &bad_out).expect_one_line_error();
    assert!(err.contains("cannot open output file"), "{err}");
    // A missing directory for the ring.
    let err = ringdrain()
        .arg("--ring")
        .arg(dir.join("no/such/ring"))
        .args(["--stdout", "--once"])
        .expect_error();
    assert!(err.contains("does not exist"), "{err}");
    // A bad size.
    let out = run(&["--ring", "x", "--out", "y", "--rotate-size", "12q"]);
    assert_eq!(out.status.code(), Some(78), "EX_CONFIG");
}

#[test]
fn cat_prints_without_consuming_and_stats_reports() {
    let e = TestDir::new();
    let log = logger(&e.ring());
    for i in 0..10u64 {
        info!(log, "peek {}", i);
    }
    let text = ringdrain().arg("cat").arg(e.ring()).stdout();
    assert_eq!(text.lines().count(), 10);
    assert!(text.lines().next().unwrap().ends_with("peek 0"));
    let stats = ringdrain()
        .arg("stats")
        .arg(e.ring())
        .args(["--json", "--interval-ms", "1"])
        .stdout();
    let v: serde_json::Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(v["fill_slots"], 10);
    assert_eq!(v["dropped"], 0);
    assert_eq!(v["live_producers"][0], std::process::id());
    // Nothing was consumed: --once still finds all 10.
    once(&e).expect_success();
    assert_eq!(e.out_text().lines().count(), 10);
    let human = ringdrain()
        .arg("stats")
        .arg(e.ring())
        .args(["--interval-ms", "1"])
        .stdout();
    assert!(
        human.contains("fill       0 / 524288 slots"),
        "32 lanes of 16384 slots: {human}"
    );
}

#[test]
fn rotation_by_time_starts_a_new_file_after_the_interval() {
    let e = TestDir::new();
    let log = logger(&e.ring());
    let drain = attached_drain(&e, &["--rotate-interval", "1s"]);
    for i in 0..10u64 {
        info!(log, "early {}", i);
    }
    wait_for_lines(&e.out(), 10);
    std::thread::sleep(Duration::from_millis(1200));
    for i in 0..10u64 {
        info!(log, "late {}", i);
    }
    wait_for_text(&e.out(), "late 9");
    drain.stop();
    // Rotated at wall-clock second boundaries, into dated files (out.log.2026-11-29T13-15-30).
    let mut old = String::new();
    for d in std::fs::read_dir(e.path()).unwrap() {
        let name = d.unwrap().file_name().into_string().unwrap();
        if name.starts_with("out.log.") {
            old += &std::fs::read_to_string(e.path().join(name)).unwrap();
        }
    }
    let new = e.out_text();
    assert_eq!(old.lines().count(), 10);
    assert!(old.lines().all(|l| l.contains("early ")));
    assert_eq!(new.lines().count(), 10);
    assert!(new.lines().all(|l| l.contains("late ")));
    let bad = run(&["--ring", "x", "--out", "y", "--rotate-interval", "0s"]);
    assert_eq!(bad.status.code(), Some(78), "EX_CONFIG");
}

#[test]
fn one_drain_serves_several_rings_and_merges_them_by_time() {
    let e = TestDir::new();
    let ring2 = e.ring().with_extension("2");
    let (a, b) = (logger(&e.ring()), logger(&ring2));
    for i in 0..1000u64 {
        info!(a, "from a {}", i);
        info!(b, "from b {}", i);
    }
    once(&e)
        .arg("--ring")
        .arg(&ring2)
        .arg("--merge")
        .expect_success();
    let text = e.out_text();
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
    let e = TestDir::new();
    let log = logger(&e.ring());
    info!(log, "configured {}", 1u8);
    let conf = e.ring().with_extension("toml");
    std::fs::write(
        &conf,
        format!(
            "rings = [{:?}]\nout = {:?}\nformat = \"json\"\nrotate_keep = 3\n",
            e.ring().to_str().unwrap(),
            e.out().to_str().unwrap()
        ),
    )
    .unwrap();
    once_with_config(&conf).expect_success();
    let text = e.out_text();
    let v: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(v["msg"], "configured 1");
    // A flag overrides the file.
    info!(log, "configured {}", 2u8);
    ringdrain()
        .arg("--config")
        .arg(&conf)
        .args(["--once", "--format", "logfmt"])
        .expect_success();
    let text = e.out_text();
    assert!(
        text.lines()
            .nth(1)
            .unwrap()
            .contains("msg=\"configured 2\""),
        "{text}"
    );
    // A bad key is one clear line.
    std::fs::write(&conf, "rigns = [\"x\"]\n").unwrap();
    let err = once_with_config(&conf).expect_one_line_error();
    assert!(err.contains("unknown field `rigns`"), "{err}");
    // No ring anywhere.
    std::fs::write(&conf, "stdout = true\n").unwrap();
    let err = once_with_config(&conf).expect_error();
    assert!(err.contains("no ring given"), "{err}");
}

#[test]
fn gc_removes_only_unused_fully_drained_segments() {
    let e = TestDir::new();
    let dir = e.join("shm");
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
    let said = ringdrain()
        .args(["gc", "--dir"])
        .arg(&dir)
        .arg("--dry-run")
        .stdout();
    assert!(
        said.contains(&format!("would remove {}", idle.display())),
        "{said}"
    );
    assert!(idle.exists(), "dry run removed something");
    let said = ringdrain().args(["gc", "--dir"]).arg(&dir).stdout();
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
    once_into(&full, &e.out()).expect_success();
    let said = ringdrain().arg("gc").arg(&full).stdout();
    assert!(said.starts_with("removed"), "{said}");
    assert!(!full.exists());
}

// ---- stress

#[test]
fn sigterm_under_endless_load_stops_and_the_next_drain_continues_exactly() {
    let e = TestDir::new();
    let log = logger(&e.ring());
    let drain = attached_drain(&e, &[]);
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
    wait_for_lines(&e.out(), 1000);
    drain.stop();
    // SYNC: Relaxed; a stop flag.
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let n = producer.join().unwrap();
    once(&e).expect_success();
    let text = e.out_text();
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
fn an_output_on_procfs_is_refused_and_the_records_stay_in_the_ring() {
    // /proc/self/comm looks like a regular file and accepts writes: records "written" there
    // would be released from the ring and gone (issue 14).
    let e = TestDir::new();
    let log = logger(&e.ring());
    ringlog::info!(log, "kept {}", 1u32);
    let out = once_into(&e.ring(), Path::new("/proc/self/comm")).output();
    assert!(!out.status.success(), "a procfs output was accepted");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("procfs"), "{err}");
    // The record is still there for a real output.
    once(&e).expect_success();
    assert!(e.out_text().contains("kept 1"), "{}", e.out_text());
}

#[test]
fn stats_takes_revoked_claims_their_producers_claimed_again_out_of_the_losses() {
    use std::sync::atomic::Ordering::Relaxed;
    let e = TestDir::new();
    let log = Logger::builder()
        .path(e.ring())
        .slot_count(1 << 10)
        .open()
        .unwrap();
    let ring = e.ring();
    let ring = ring.to_str().unwrap();
    let mark = e.join("mark.json");
    let mark = mark.to_str().unwrap();
    // A mark with nothing lost, then: three revoked slots, two of which their producer claimed
    // again (the counts the drain and the producers keep).
    run(&["stats", ring, "--check", "--mark", mark]);
    let c = &log.segment().shared().counters;
    // SYNC: Relaxed; the test plays the drain and a producer, nobody else runs.
    c.abandoned.store(3, Relaxed);
    c.reclaimed.store(2, Relaxed);
    let out = run(&["stats", ring, "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["abandoned_slots"].as_u64(), v["reclaimed_slots"].as_u64()),
        (Some(3), Some(2))
    );
    let text = String::from_utf8_lossy(&run(&["stats", ring]).stdout).into_owned();
    assert!(
        text.contains("abandoned slots 3 (2 of them claimed again by a living producer: not lost)"),
        "{text}"
    );
    let prom = String::from_utf8_lossy(&run(&["stats", ring, "--prometheus"]).stdout).into_owned();
    assert!(
        prom.lines()
            .any(|l| l.starts_with("ringlog_ring_reclaimed_slots_total{") && l.ends_with(" 2")),
        "{prom}"
    );
    // The check counts what was lost since the mark: one slot, not three.
    let out = run(&["stats", ring, "--check", "--since-mark", mark]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("records lost since the mark: 0 dropped, 1 slots abandoned, 0 corrupt"),
        "{err}"
    );
}

#[test]
fn stats_says_when_the_callsite_table_is_full() {
    let e = TestDir::new();
    let log = Logger::builder()
        .path(e.ring())
        .slot_count(1 << 10)
        .callsite_bytes(8192)
        .open()
        .unwrap();
    let mut refused = 0;
    for line in 0..10_000u32 {
        let desc = ringlog_wire::callsite::CallsiteDesc {
            level: ringlog::Level::Info,
            style: ringlog_wire::callsite::FormatStyle::Brace,
            line,
            target: "filler",
            module: "filler",
            file: "filler.rs",
            format: "filler {}",
            fields: Vec::new(),
            layout: "",
        };
        if log.register_callsite(&desc).is_err() {
            refused += 1;
            if refused == 3 {
                break;
            }
        }
    }
    assert_eq!(refused, 3, "the table never filled");
    let out = run(&["stats", e.ring().to_str().unwrap(), "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["callsite_registrations_refused"], 3, "{v}");
    let out = run(&["stats", e.ring().to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("TABLE FULL: 3 registrations refused"),
        "{text}"
    );
}

#[test]
fn a_ring_the_drain_creates_has_the_default_lanes_and_fits_a_containers_shm() {
    // --ring-size is the bytes of all lanes together: by default 16 MiB (32 lanes of 8192
    // 64-byte slots), not 16 MiB per lane.
    let e = TestDir::new();
    once(&e).expect_success();
    let out = run(&["stats", e.ring().to_str().unwrap(), "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["lanes"], 32, "{v}");
    assert_eq!(v["slots_per_lane"], 8192, "{v}");
    let len = std::fs::metadata(e.ring()).unwrap().len();
    assert!(
        len < 32 << 20,
        "a {len}-byte segment would crowd a 64 MiB /dev/shm"
    );
    // An explicit size is split between the lanes too.
    let e2 = TestDir::new();
    once(&e2).args(["--ring-size", "4M"]).expect_success();
    let out = run(&["stats", e2.ring().to_str().unwrap(), "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["slots_per_lane"], 2048, "4 MiB / 64 B / 32 lanes: {v}");
}
