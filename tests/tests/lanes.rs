//! Lanes (issue 12): a producer that freezes, mid-record or anywhere, delays nobody else's
//! records; a process that dies holding lanes gives them back through the drain.
//!
//! Freezing is real: `SIGSTOP`, as a cgroup freezer, `docker pause` or a debugger would. Each
//! test checks causality, never wall-clock time: the other producers' records must be in the
//! file *while* the frozen one is still stopped.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ringlog_testkit::segment::wait_attached;
use ringlog_testkit::{wait_for_text, wait_until, Drain, Proc, TestCommand, TestDir, PATIENCE};
use ringlog_tests::{assert_prefix, rounds, split_log, Rng};

fn producer(ring: &Path, args: &[&str]) -> Proc {
    TestCommand::new(ringlog_testkit::bin!("ringlog-test-producer"))
        .arg(ring)
        .args(args)
        .spawn()
}

/// A ring of 8 lanes of `slots` slots with a drain attached.
fn ring_with_drain(e: &TestDir, slots: u64) -> Drain {
    ringlog::Logger::builder()
        .path(e.ring())
        .slot_count(slots)
        .lanes(8)
        .open()
        .expect("create ring");
    let drain = Drain::start(&e.ring(), &e.out(), &["--grace-ms", "50"]);
    wait_attached(&e.ring());
    drain
}

/// Whether process `pid` holds a lane of the ring at `ring` with a record in flight (claimed,
/// not committed).
fn has_record_in_flight(ring: &Path, pid: u32) -> bool {
    let seg = ringlog_segment::Segment::open(ring, &Default::default()).unwrap();
    (0..seg.lane_count()).any(|i| {
        let lane = seg.lane(i);
        let h = lane.header();
        // SYNC: Relaxed; a test's poll of another process's progress.
        let owner = h.owner.load(Ordering::Relaxed);
        let (claim, read) = (
            h.cursors.claim.load(Ordering::Relaxed),
            h.cursors.read.load(Ordering::Relaxed),
        );
        ringlog_wire::layout::owner_pid(owner) == pid && claim > read
    })
}

/// A producer that owns a record in a lane, has written half of it, and is frozen there
/// (SIGSTOP).
fn frozen_mid_record(ring: &Path) -> Proc {
    let slow = producer(ring, &["slow", "300"]);
    wait_until("the slow producer is mid-record", PATIENCE, || {
        has_record_in_flight(ring, slow.id())
    });
    slow.signal(libc::SIGSTOP);
    slow
}

/// Runs a producer process logging `n` records as `worker` with Policy::Block to its end, and
/// waits for its last record in the file.
fn log_to_the_end(e: &TestDir, worker: &str, n: u64) {
    producer(&e.ring(), &["load", worker, &n.to_string(), "block"]).expect_success(PATIENCE);
    wait_for_text(
        &e.out(),
        &format!(
            "request {} served in {} us by {worker}",
            n - 1,
            (n - 1) as f64 / 4.0
        ),
    );
}

#[test]
fn a_producer_frozen_mid_record_delays_no_other_producer() {
    let e = TestDir::new();
    let drain = ring_with_drain(&e, 256);
    // Owns a record in its lane, writes half of it, and is frozen there.
    let slow = frozen_mid_record(&e.ring());
    // Another process logs many times its lane's capacity (so the drain must keep freeing its
    // lane) with Policy::Block: it finishes, and its records reach the file, while the frozen
    // producer is still stopped.
    let n = 20_000;
    log_to_the_end(&e, "other", n);
    let mut slow = slow;
    assert!(!slow.has_exited(), "the frozen producer ran on");
    let expected = format!("raw record from slow with payload {}", "x".repeat(150));
    assert!(
        !e.out_text().contains(&expected),
        "a frozen record was written"
    );
    // Thawed, it finishes its record, which arrives whole, once.
    slow.signal(libc::SIGCONT);
    slow.expect_success(PATIENCE);
    wait_for_text(&e.out(), &expected);
    drain.stop();
    let text = e.out_text();
    assert_eq!(text.matches(&expected).count(), 1, "torn or doubled");
    let (by_worker, _) = split_log(&text);
    assert_eq!(assert_prefix("other", &by_worker["other"]), n);
    assert!(
        !text.contains("abandoned"),
        "a living producer was abandoned"
    );
}

#[test]
fn producers_stopped_at_random_points_never_hold_back_the_others() {
    let mut rng = Rng::from_env("random_stop");
    let n_rounds = rounds(4);
    for round in 0..n_rounds {
        let e = TestDir::new();
        let drain = ring_with_drain(&e, 256);
        let n = 20_000u64;
        // Two producers that will be frozen at random points of their run, and one that is not.
        let frozen: Vec<Proc> = (0..2)
            .map(|k| {
                producer(
                    &e.ring(),
                    &["load", &format!("f{k}"), &n.to_string(), "block"],
                )
            })
            .collect();
        std::thread::sleep(Duration::from_millis(rng.range(0, 30)));
        for p in &frozen {
            // A producer that already finished is not stopped (and not an error).
            // SAFETY: kill has no memory-safety preconditions; the pid is our own child,
            // not yet reaped, so it names no other process.
            unsafe { libc::kill(p.id() as i32, libc::SIGSTOP) };
        }
        producer(&e.ring(), &["load", "free", &n.to_string(), "block"]).expect_success(PATIENCE);
        wait_for_text(
            &e.out(),
            &format!(
                "request {} served in {} us by free",
                n - 1,
                (n - 1) as f64 / 4.0
            ),
        );
        let mut still_frozen = 0;
        for mut p in frozen {
            if !p.has_exited() {
                still_frozen += 1;
                // SAFETY: as above (not reaped: `has_exited` just said it is still there).
                unsafe { libc::kill(p.id() as i32, libc::SIGCONT) };
            }
            p.expect_success(PATIENCE);
        }
        for k in 0..2 {
            wait_for_text(
                &e.out(),
                &format!(
                    "request {} served in {} us by f{k}",
                    n - 1,
                    (n - 1) as f64 / 4.0
                ),
            );
        }
        drain.stop();
        let text = e.out_text();
        let (by_worker, other) = split_log(&text);
        for w in ["free", "f0", "f1"] {
            // Every record once, in each producer's order.
            assert_eq!(assert_prefix(w, &by_worker[w]), n, "round {round}: {w}");
        }
        assert!(other.is_empty(), "round {round}: {other:?}");
        eprintln!("random_stop: round {round}: {still_frozen} producer(s) still frozen when the free one was done");
    }
}

#[test]
fn a_process_that_dies_holding_a_lane_mid_record_gets_it_back_through_the_drain() {
    let e = TestDir::new();
    let drain = ring_with_drain(&e, 256);
    // Takes a lane, owns a record, writes half, and exits without committing.
    let dead = producer(&e.ring(), &["own-and-die"]);
    let pid = dead.id();
    dead.expect_success(PATIENCE);
    wait_for_text(&e.out(), "abandoned");
    // The drain abandoned the record and gave the dead process's lane back.
    let seg = ringlog_segment::Segment::open(&e.ring(), &Default::default()).unwrap();
    wait_until("the dead process's lane is given back", PATIENCE, || {
        (0..seg.lane_count()).all(|i| {
            // SYNC: Relaxed; a test's poll.
            let owner = seg.lane(i).owner().load(Ordering::Relaxed);
            ringlog_wire::layout::owner_pid(owner) != pid
        })
    });
    drain.stop();
}

#[test]
fn the_default_segment_fits_a_containers_dev_shm_and_a_full_one_is_a_clear_error_at_open() {
    use ringlog_testkit::Tmpfs;
    let e = TestDir::new();
    // Docker's default /dev/shm is 64 MiB: the default segment (all lanes) fits with room for
    // two more services' segments.
    let docker = e.join("docker-shm");
    let Some(_shm) = Tmpfs::mount(&docker, "64m") else {
        return;
    };
    for name in ["a", "b", "c"] {
        let log = ringlog::Logger::builder()
            .path(docker.join(name))
            .open()
            .unwrap_or_else(|err| panic!("default segment {name} in 64 MiB: {err}"));
        ringlog::info!(log, "fits");
    }
    let size = std::fs::metadata(docker.join("a")).unwrap().len();
    assert!(size <= 20 << 20, "default segment is {size} bytes");

    // A /dev/shm too small for the segment: opening fails at once, saying why, and leaves no
    // half-made file behind (nothing is created lazily to fail with SIGBUS on a later write).
    let small = e.join("small-shm");
    let Some(_small) = Tmpfs::mount(&small, "4m") else {
        return;
    };
    let err = ringlog::Logger::builder()
        .path(small.join("ring"))
        .open()
        .expect_err("a 17 MiB segment cannot fit in 4 MiB")
        .to_string();
    assert!(err.contains("No space left on device"), "{err}");
    assert!(
        err.contains("small-shm"),
        "the error names the place: {err}"
    );
    let left: Vec<_> = std::fs::read_dir(&small).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    // The drain says the same when it is the one creating the ring.
    let out = Drain::command()
        .args(["--once", "--ring"])
        .arg(small.join("ring"))
        .arg("--out")
        .arg(e.out())
        .output();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("No space left on device"), "{said}");
    assert!(std::fs::read_dir(&small).unwrap().next().is_none());
}

/// A ring of two 256-slot lanes with a drain started with `args`, and lane 0 taken by this
/// test process (which never writes: a thread that keeps its lane), so lane 1, the reserved
/// lane, is where every other producer must share.
fn two_lanes_with_lane_0_kept(e: &TestDir, args: &[&str]) -> (Drain, ringlog_segment::Segment) {
    ringlog::Logger::builder()
        .path(e.ring())
        .slot_count(256)
        .lanes(2)
        .open()
        .expect("create ring");
    let drain = Drain::start(&e.ring(), &e.out(), args);
    wait_attached(&e.ring());
    let seg = ringlog_segment::Segment::open(&e.ring(), &Default::default()).unwrap();
    assert!(
        seg.lane(0).try_take(std::process::id(), 1),
        "lane 0 starts free"
    );
    (drain, seg)
}

/// Asserts `worker`'s records `0..n` are each in the file exactly once.
fn each_once(by_worker: &std::collections::HashMap<String, Vec<u64>>, worker: &str, n: u64) {
    let got = &by_worker[worker];
    let mut once = got.clone();
    once.sort();
    once.dedup();
    assert_eq!(once.len() as u64, n, "{worker}: every record once");
    assert_eq!(got.len() as u64, n, "{worker}: none twice");
}

#[test]
fn a_thread_sharing_a_lane_moves_off_one_a_frozen_producer_holds_up() {
    // Two lanes: lane 0 is kept by a holder (this test process, which never writes: a thread
    // that keeps its lane), lane 1 is the reserved lane, where a producer is frozen mid-record.
    // A third producer finds every lane held, so it shares: it starts in the reserved lane,
    // and once the drain flags that lane as stalled (100 ms of a living producer's record not
    // committed) it goes on in lane 0. Its run ends, and its last record is in the file, while
    // the frozen producer is still stopped; after SIGCONT everything arrives, once.
    let e = TestDir::new();
    // The flag alone: no fence (the next test has it), so the frozen record arrives on thaw.
    let (drain, seg) = two_lanes_with_lane_0_kept(&e, &["--grace-ms", "50", "--fence-ms", "0"]);
    let slow = frozen_mid_record(&e.ring());
    let n = 5_000; // many times a lane's 256 slots
    log_to_the_end(&e, "other", n);
    assert!(seg.lane(1).stalled(), "the drain flagged the frozen lane");
    let mut slow = slow;
    assert!(!slow.has_exited(), "the frozen producer ran on");
    slow.signal(libc::SIGCONT);
    slow.expect_success(PATIENCE);
    let expected = format!("raw record from slow with payload {}", "x".repeat(150));
    wait_for_text(&e.out(), &expected);
    wait_until("the flag is cleared once the lane moves", PATIENCE, || {
        !seg.lane(1).stalled()
    });
    seg.lane(0).give_back(std::process::id(), 1);
    drain.stop();
    let text = e.out_text();
    assert_eq!(text.matches(&expected).count(), 1, "torn or doubled");
    let (by_worker, _) = split_log(&text);
    // Records the sharer wrote into the reserved lane before the flag came arrive after the
    // thaw: every record once, each thread's in order within a lane (so the count is exact).
    each_once(&by_worker, "other", n);
}

#[test]
fn a_frozen_producers_record_is_fenced_so_the_records_behind_it_arrive_and_a_restart_keeps_the_fence(
) {
    // As above (lane 0 kept by this process, a producer frozen mid-record in the reserved lane
    // 1, a sharer that starts in lane 1), with the fence: after 200 ms the drain steps over the
    // frozen record, so every record the sharer queued behind it reaches the file while the
    // producer is still stopped. The drain is then killed and restarted with the fence held:
    // nothing is written twice. After SIGCONT the frozen record is dropped (reported, never
    // written), the fence is lifted and the lane carries records again.
    let e = TestDir::new();
    let args = ["--grace-ms", "50", "--fence-ms", "200"];
    let (drain, seg) = two_lanes_with_lane_0_kept(&e, &args);
    let mut slow = frozen_mid_record(&e.ring());
    let n = 2_000;
    log_to_the_end(&e, "other", n);
    let fence = || {
        // SYNC: Relaxed; a test's look at the drain's word.
        seg.lane(1)
            .header()
            .pending_end
            .fence
            .load(Ordering::Relaxed)
    };
    wait_until(
        "every record behind the frozen one is written",
        PATIENCE,
        || {
            let (by_worker, _) = split_log(&e.out_text());
            by_worker.get("other").is_some_and(|r| r.len() as u64 == n)
        },
    );
    assert!(!slow.has_exited(), "the frozen producer ran on");
    assert_ne!(fence(), 0, "the drain holds a fence in lane 1");
    let stats = || -> serde_json::Value {
        let out = TestCommand::new(ringlog_testkit::bin!("ringdrain"))
            .args(["stats", "--json", "--interval-ms", "1"])
            .arg(e.ring())
            .stdout();
        serde_json::from_str(out.trim()).expect("stats --json")
    };
    let s = stats();
    assert_eq!(
        (s["lanes_fenced"].as_u64(), s["lanes_stalled"].as_u64()),
        (Some(1), Some(1)),
        "{s}"
    );
    let notice = format!("producer_pid={}", slow.id());
    wait_for_text(
        &e.out(),
        "stepped over a record its producer has held unfinished",
    );
    assert!(
        e.out_text().contains(&notice),
        "the notice names the producer"
    );
    // Nothing behind a fence is freed, so the sharer's records queued behind the frozen one
    // are still in the ring: `cat --follow` steps over the fenced record as the drain did and
    // shows them (it used to wait at the record for ever).
    let cat = TestCommand::new(ringlog_testkit::bin!("ringdrain"))
        .args(["cat", "--follow"])
        .arg(e.ring())
        .spawn();
    wait_until(
        "cat --follow shows the records behind the fenced one",
        PATIENCE,
        || {
            let (by_worker, _) = split_log(&cat.stdout());
            by_worker.get("other").is_some_and(|r| !r.is_empty())
        },
    );
    assert!(
        !cat.stdout().contains("raw record from slow"),
        "cat showed the fenced record"
    );
    cat.kill();

    // Killed and restarted while the producer is still frozen: the fence is taken up again.
    drain.kill();
    let drain = Drain::start(&e.ring(), &e.out(), &args);
    wait_attached(&e.ring());
    log_to_the_end(&e, "more", 300);
    assert_ne!(fence(), 0, "still fenced: the producer is still frozen");

    // Thawed: it finishes its record, which the drain drops; the fence goes, the lane moves.
    slow.signal(libc::SIGCONT);
    slow.expect_success(PATIENCE);
    wait_until("the fence is lifted", PATIENCE, || fence() == 0);
    assert_eq!(stats()["lanes_fenced"].as_u64(), Some(0));
    seg.lane(0).give_back(std::process::id(), 1);
    log_to_the_end(&e, "after", 1_000);
    drain.stop();
    let text = e.out_text();
    let frozen = format!("raw record from slow with payload {}", "x".repeat(150));
    assert!(!text.contains(&frozen), "a fenced record was written");
    assert_eq!(text.matches("stepped over a record").count(), 1, "{text}");
    let (by_worker, _) = split_log(&text);
    for (worker, count) in [("other", n), ("more", 300), ("after", 1_000)] {
        each_once(&by_worker, worker, count);
    }
}
