//! `ringdrain` against a hostile or damaged segment and crashes around it (issue 14): a forged
//! or reused drain pid, rotation interrupted mid-rename, a segment mode wider than asked,
//! and the one error line each bad input gives.

use std::path::Path;
use std::sync::atomic::Ordering;

use ringlog::{info, Logger};
use ringlog_testkit::{TestCommand, TestDir};

fn logger(ring: &Path) -> Logger {
    Logger::builder()
        .path(ring)
        .slot_count(1 << 10)
        .open()
        .unwrap()
}

/// The `ringdrain` binary of this package.
fn ringdrain() -> TestCommand {
    TestCommand::new(ringlog_testkit::bin!("ringdrain"))
}

/// [`once_into_ring`] the test's ring and file.
fn once(e: &TestDir) -> TestCommand {
    once_into_ring(&e.ring(), &e.out())
}

/// A lease naming a living process (pid 1, which every container has) with a start time that
/// is not its own and a stale heartbeat: a forged lease, or one left by a drain whose pid was
/// reused. A new drain starts and drains.
#[test]
fn a_forged_lease_naming_a_living_pid_does_not_hold_off_a_new_drain() {
    let e = TestDir::new();
    let log = logger(&e.ring());
    for i in 0..3u32 {
        info!(log, "before the forged lease {}", i);
    }
    let seg = ringlog_segment::Segment::open(&e.ring(), &Default::default()).unwrap();
    let real = ringlog_segment::process_start_ticks(1).expect("/proc/1/stat is readable");
    let d = &seg.shared().drain;
    // SYNC: Relaxed; the forger's words (no drain is running).
    d.pid.store(1, Ordering::Relaxed);
    d.pid_stamp.store(
        ringlog_wire::layout::process_stamp(1, real + 7),
        Ordering::Relaxed,
    );
    d.heartbeat_ns.store(1, Ordering::Relaxed);
    let stats = ringdrain()
        .arg("stats")
        .arg(e.ring())
        .args(["--json", "--interval-ms", "1"])
        .stdout();
    let v: serde_json::Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(v["drain_alive"], false, "{stats}");
    once(&e).expect_success();
    let text = e.out_text();
    for i in 0..3 {
        assert!(
            text.contains(&format!("before the forged lease {i}")),
            "{text}"
        );
    }
}

/// A drain killed in the middle of renumbering `FILE.N` left a hole (`FILE.2` missing): the
/// next rotations close it instead of carrying it along, and nothing is deleted while fewer
/// than `--rotate-keep` rotated files exist (issue 14).
#[test]
fn rotation_after_a_kill_mid_rename_closes_the_hole_and_deletes_nothing_early() {
    use ringdrain::sink::{FileSink, Rotation};
    let e = TestDir::new();
    let live = e.join("app.log");
    let numbered = |i: u32| e.join(format!("app.log.{i}"));
    std::fs::write(numbered(1), "a\n").unwrap();
    std::fs::write(numbered(3), "c\n").unwrap();
    let rotation = Rotation {
        keep: 4,
        max_bytes: 1 << 30,
        ..Rotation::default()
    };
    let mut sink = FileSink::open(&live, rotation, 0o600).unwrap();
    let contents = |max: u32| -> Vec<Option<String>> {
        (1..=max)
            .map(|i| std::fs::read_to_string(numbered(i)).ok())
            .collect()
    };
    // On start-up the hole is closed before anything rotates.
    assert_eq!(
        contents(4),
        [Some("a\n".into()), Some("c\n".into()), None, None]
    );
    sink.write_batch(b"x\n").unwrap();
    sink.rotate().unwrap();
    assert_eq!(
        contents(4),
        [
            Some("x\n".into()),
            Some("a\n".into()),
            Some("c\n".into()),
            None
        ]
    );
    sink.write_batch(b"y\n").unwrap();
    sink.rotate().unwrap();
    assert_eq!(
        contents(5),
        [
            Some("y\n".into()),
            Some("x\n".into()),
            Some("a\n".into()),
            Some("c\n".into()),
            None
        ],
        "four rotated files kept, none deleted early"
    );
    // From now on the oldest goes, one per rotation.
    sink.write_batch(b"z\n").unwrap();
    sink.rotate().unwrap();
    assert_eq!(
        contents(5),
        [
            Some("z\n".into()),
            Some("y\n".into()),
            Some("x\n".into()),
            Some("a\n".into()),
            None
        ]
    );
}

/// Every state a kill can leave the renumbering in (each prefix of its renames, for several
/// starting sets of files with holes) is repaired by the next rotation: the rotated files stay
/// in order, numbered 1..=n without a hole, and none is lost while fewer than keep exist.
#[test]
fn rotation_renumbering_is_restartable_from_any_partial_rename_chain() {
    use ringdrain::sink::{FileSink, Rotation};
    for start in [
        vec![1u32, 2, 3],
        vec![2, 3],
        vec![1, 3, 5],
        vec![2, 4, 5, 6],
    ] {
        for done in 0..=start.len() {
            let e = TestDir::new();
            let live = e.join("app.log");
            let numbered = |i: u32| e.join(format!("app.log.{i}"));
            // The chain a rotation runs, stopped after `done` renames (a kill): the newest
            // files shifted up by one from the oldest end.
            for (k, &n) in start.iter().enumerate() {
                let shifted = k >= start.len() - done;
                let at = if shifted { n + 1 } else { n };
                std::fs::write(numbered(at), format!("{n}\n")).unwrap();
            }
            let rotation = Rotation {
                keep: 6,
                max_bytes: 1 << 30,
                ..Rotation::default()
            };
            let mut sink = FileSink::open(&live, rotation, 0o600).unwrap();
            sink.write_batch(b"live\n").unwrap();
            sink.rotate().unwrap();
            let mut expect: Vec<String> = vec!["live\n".into()];
            expect.extend(start.iter().map(|n| format!("{n}\n")));
            let got: Vec<String> = (1..=expect.len() as u32)
                .map(|i| {
                    std::fs::read_to_string(numbered(i))
                        .unwrap_or_else(|_| panic!("{start:?} after {done} renames: no .{i}"))
                })
                .collect();
            assert_eq!(got, expect, "{start:?} after {done} renames");
            assert!(!numbered(expect.len() as u32 + 1).exists());
        }
    }
}

/// A segment whose mode is wider than the one rings are created with (0666 for 0600) is
/// drained, with one warning on stderr per ring, and `stats` says the same (issue 14).
#[test]
fn a_ring_with_a_wider_mode_than_created_is_warned_about_once() {
    use std::os::unix::fs::PermissionsExt;
    let e = TestDir::new();
    let log = logger(&e.ring());
    info!(log, "one record");
    let warning = format!(
        "ringdrain: warning: ring {} has mode 0666, wider than 0600: other users can read or write its records (chmod it to 0600, or recreate it)",
        e.ring().display()
    );
    let warnings = |stderr: &[u8]| -> Vec<String> {
        String::from_utf8_lossy(stderr)
            .lines()
            .filter(|l| l.contains("warning"))
            .map(String::from)
            .collect()
    };
    // The mode it was created with: no warning.
    let out = once(&e).expect_success();
    assert_eq!(warnings(&out.stderr), Vec::<String>::new());
    std::fs::set_permissions(e.ring(), std::fs::Permissions::from_mode(0o666)).unwrap();
    info!(log, "another record");
    let out = once(&e).expect_success();
    assert_eq!(warnings(&out.stderr), [warning.as_str()]);
    assert!(e.out_text().contains("another record"));
    // `stats` does not know the intended mode: it warns past 0660 (a group sharing a ring).
    let out = ringdrain()
        .arg("stats")
        .arg(e.ring())
        .args(["--interval-ms", "1"])
        .expect_success();
    assert_eq!(warnings(&out.stderr), [warning.replace("0600", "0660")]);
    std::fs::set_permissions(e.ring(), std::fs::Permissions::from_mode(0o660)).unwrap();
    let out = ringdrain()
        .arg("stats")
        .arg(e.ring())
        .args(["--interval-ms", "1"])
        .expect_success();
    assert_eq!(warnings(&out.stderr), Vec::<String>::new());
    std::fs::set_permissions(e.ring(), std::fs::Permissions::from_mode(0o666)).unwrap();
    // A drain told rings are 0666 (`--ring-mode 666`) expects it.
    let out = once(&e).args(["--ring-mode", "666"]).expect_success();
    assert_eq!(warnings(&out.stderr), Vec::<String>::new());
}

/// Each cause of an error is printed once, on one line (issue 14: `No such file (os error 2)`
/// came out twice, once from the error's message and once as its source).
#[test]
fn each_cause_of_an_error_is_printed_once() {
    let e = TestDir::new();
    let missing = e.join("missing");
    let line = ringdrain()
        .arg("stats")
        .arg(&missing)
        .expect_one_line_error();
    assert_eq!(
        line.trim_end(),
        format!(
            "ringdrain: error: cannot open ring: no segment at {0}",
            missing.display()
        )
    );
    let out = e.join("no/such/dir/out.log");
    let line = ringdrain()
        .arg("--ring")
        .arg(e.ring())
        .arg("--out")
        .arg(&out)
        .arg("--once")
        .expect_one_line_error();
    assert_eq!(
        line.trim_end(),
        format!(
            "ringdrain: error: cannot open output file {}: No such file or directory (os error 2)",
            out.display()
        )
    );
    // An operating-system error inside the segment crate's error (it has a source).
    let file = e.join("a-file");
    std::fs::write(&file, "x").unwrap();
    let under = file.join("ring");
    let line = ringdrain().arg("stats").arg(&under).expect_one_line_error();
    assert_eq!(
        line.trim_end(),
        format!(
            "ringdrain: error: cannot open ring: open {0}: Not a directory (os error 20)",
            under.display()
        )
    );
    // A layout error (it has a source too).
    let junk = e.join("junk");
    std::fs::write(&junk, vec![7u8; 8192]).unwrap();
    let line = ringdrain()
        .arg("--ring")
        .arg(&junk)
        .arg("--out")
        .arg(e.out())
        .arg("--once")
        .expect_one_line_error();
    assert_eq!(
        line.trim_end(),
        format!(
            "ringdrain: error: cannot open ring: {0}: not a ringlog segment (bad magic)",
            junk.display()
        )
    );
}

/// A producer table filled by fake entries (4096 living pids: here init's) leaves a real
/// producer unlisted; once the fakes are gone and the producer has exited, `gc` still keeps
/// the segment, because a producer it cannot see may be alive (issue 14, point 5's table).
#[test]
fn gc_refuses_a_segment_whose_producer_table_was_ever_full() {
    let e = TestDir::new();
    let dir = e.join("shm");
    std::fs::create_dir(&dir).unwrap();
    let ring = dir.join("ringlog-full-table");
    let cfg = ringlog_segment::SegmentConfig {
        slot_count: 64,
        ..Default::default()
    };
    let (seg, _) = ringlog_segment::Segment::create_or_open(&ring, &cfg).unwrap();
    assert_eq!(seg.producers().len(), 4096);
    for p in seg.producers() {
        // SYNC: Relaxed; the fakes' entries (an advisory table).
        p.store(1, Ordering::Relaxed);
    }
    {
        let log = Logger::builder().path(&ring).slot_count(64).open().unwrap();
        info!(log, "from an unlisted producer");
    }
    assert_eq!(seg.producers_unlisted(), 1);
    for p in seg.producers() {
        // SYNC: Relaxed; the fakes are gone.
        p.store(0, Ordering::Relaxed);
    }
    once_into_ring(&ring, &e.out()).expect_success();
    assert!(e.out_text().contains("from an unlisted producer"));
    assert!(seg.live_producers().is_empty() && seg.backlog() == 0);
    let said = ringdrain().arg("gc").arg(&ring).stdout();
    assert_eq!(
        said.trim_end(),
        format!(
            "kept {}: 1 producer process(es) found the producer table full and are not listed, so their liveness is unknown",
            ring.display()
        )
    );
    assert!(ring.exists());
    let stats = ringdrain()
        .arg("stats")
        .arg(&ring)
        .args(["--json", "--interval-ms", "1"])
        .stdout();
    let v: serde_json::Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(v["producers_unlisted"], 1, "{stats}");
}

/// `ringdrain --ring RING --out OUT --once`.
fn once_into_ring(ring: &Path, out: &Path) -> TestCommand {
    let mut cmd = ringdrain();
    cmd.arg("--ring")
        .arg(ring)
        .arg("--out")
        .arg(out)
        .arg("--once");
    cmd
}
