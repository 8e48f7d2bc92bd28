//! Fault injection: ringlog's crash, backpressure, output-trouble and hostile-input promises
//! (RELIABILITY.md), each proved with real processes, real signals and exact accounting.
//!
//! CI runs a short version; the long one is
//! `RINGLOG_FAULT_ROUNDS=300 cargo test --release -p ringlog-tests --test faults -- --nocapture`.
//! Every randomised test prints its `RINGLOG_SEED` for replay.

use std::path::Path;
use std::time::Duration;

use ringlog_testkit::segment::wait_attached;
use ringlog_testkit::{
    require, signal, wait_for_text, wait_until, Drain, Proc, TestCommand, TestDir, Tmpfs, PATIENCE,
};
use ringlog_tests::{assert_prefix, notice_sum, rounds, split_log, Rng};

/// The fault tests' producer process (tests/src/bin/producer.rs) on `ring` with `args`.
fn producer(ring: &Path, args: &[&str]) -> Proc {
    TestCommand::new(ringlog_testkit::bin!("ringlog-test-producer"))
        .arg(ring)
        .args(args)
        .spawn()
}

/// Runs a producer to its end (watchdog), which must succeed; returns its stdout.
fn run_producer(ring: &Path, args: &[&str]) -> String {
    let out = producer(ring, args).expect_success(PATIENCE);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `ringdrain --once --ring RING --out OUT EXTRA...`, which must succeed.
fn drain_once(ring: &Path, out: &Path, extra: &[&str]) {
    Drain::command()
        .args(["--once", "--ring"])
        .arg(ring)
        .arg("--out")
        .arg(out)
        .args(extra)
        .expect_success();
}

/// Creates the ring with one lane of `slots` slots before anyone else does. One lane: these
/// tests put several producers through the same ring protocol (a lane shared by every thread,
/// as when more threads log than there are lanes) and damage it where they all write.
fn create_ring(ring: &Path, slots: u64) {
    ringlog::Logger::builder()
        .path(ring)
        .slot_count(slots)
        .lanes(1)
        .open()
        .expect("create ring");
}

/// A ring of `slots` slots with a drain attached, writing `e.out()` with `extra` flags.
fn ring_with_drain(e: &TestDir, slots: u64, extra: &[&str]) -> Drain {
    create_ring(&e.ring(), slots);
    let drain = Drain::start(&e.ring(), &e.out(), extra);
    wait_attached(&e.ring());
    drain
}

/// One of the ring's loss counters, read after everyone stopped.
fn counter(
    ring: &Path,
    which: impl Fn(&ringlog_wire::layout::Counters) -> &std::sync::atomic::AtomicU64,
) -> u64 {
    let seg = ringlog_segment::Segment::open(ring, &Default::default()).unwrap();
    // SYNC: Relaxed; nobody writes the counters any more.
    let n = which(&seg.shared().counters).load(std::sync::atomic::Ordering::Relaxed);
    n
}

/// The count a `load` producer printed (`dropped N`).
fn dropped_said(said: &str) -> u64 {
    said.trim()
        .strip_prefix("dropped ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the producer did not report its drops: {said:?}"))
}

// Smoke and edge cases first, one fault at a time; the randomised rounds (stress) last.

// ---------------------------------------------------------------- producers dying mid-record

#[test]
fn a_claim_never_owned_is_revoked_and_counted() {
    let e = TestDir::new();
    let drain = ring_with_drain(&e, 1024, &[]);
    run_producer(&e.ring(), &["claim-and-die"]);
    run_producer(&e.ring(), &["load", "after", "100"]);
    wait_for_text(&e.out(), "request 99 served in 24.75 us by after");
    drain.stop();
    let (by_worker, other) = split_log(&e.out_text());
    assert_eq!(assert_prefix("after", &by_worker["after"]), 100);
    let claim_slots = notice_sum(&other, "never filled", "slots");
    // The dead claim spanned several slots; each is skipped and counted.
    assert!(claim_slots >= 1, "no revocation notice in {other:?}");
    assert_eq!(counter(&e.ring(), |c| &c.abandoned), claim_slots);
    // A dead producer claims nothing again: all of it was lost.
    assert_eq!(counter(&e.ring(), |c| &c.reclaimed), 0);
}

#[test]
fn a_record_whose_owner_died_is_abandoned_and_counted() {
    let e = TestDir::new();
    let drain = ring_with_drain(&e, 1024, &[]);
    let child = producer(&e.ring(), &["own-and-die"]);
    let dead_pid = child.id();
    child.expect_success(PATIENCE);
    run_producer(&e.ring(), &["load", "after", "100"]);
    wait_for_text(&e.out(), "request 99 served in 24.75 us by after");
    drain.stop();
    let (by_worker, other) = split_log(&e.out_text());
    assert_eq!(assert_prefix("after", &by_worker["after"]), 100);
    let notice = other
        .iter()
        .find(|l| l.contains("abandoned a record its producer died writing"))
        .unwrap_or_else(|| panic!("no abandonment notice in {other:?}"));
    assert!(
        notice.contains(&format!("producer_pid={dead_pid}")),
        "{notice}"
    );
    assert!(
        !e.out_text().contains("raw record from own-and-die"),
        "half a record was written out"
    );
}

#[test]
fn a_slow_living_producer_is_waited_for_and_never_torn() {
    let e = TestDir::new();
    let drain = ring_with_drain(&e, 1024, &["--grace-ms", "50"]);
    // Owns a record, writes half, sleeps ten grace periods, then finishes it.
    let slow = producer(&e.ring(), &["slow", "500"]);
    std::thread::sleep(Duration::from_millis(50));
    run_producer(&e.ring(), &["load", "other", "300"]);
    slow.expect_success(PATIENCE);
    wait_for_text(&e.out(), "request 299 served in 74.75 us by other");
    drain.stop();
    let text = e.out_text();
    let expected = format!("raw record from slow with payload {}", "x".repeat(150));
    assert_eq!(
        text.matches(&expected).count(),
        1,
        "the slow record is missing, torn or doubled"
    );
    let (by_worker, other) = split_log(&text);
    assert_eq!(assert_prefix("other", &by_worker["other"]), 300);
    assert!(
        !text.contains("abandoned"),
        "a living producer was abandoned: {other:?}"
    );
}

#[test]
fn a_producer_descheduled_between_claim_and_ownership_claims_again() {
    let e = TestDir::new();
    let drain = ring_with_drain(&e, 1024, &["--grace-ms", "50"]);
    let said = run_producer(&e.ring(), &["slow-claim", "400"]);
    assert_eq!(
        said.trim(),
        "revoked",
        "the drain should have revoked the stale claim"
    );
    let expected = format!(
        "raw record from slow-claim with payload {}",
        "x".repeat(150)
    );
    wait_for_text(&e.out(), &expected);
    let stopped = drain.stop();
    let text = e.out_text();
    assert_eq!(text.matches(&expected).count(), 1);
    // The drain counted the revoked claim's slots abandoned; the producer, claiming again,
    // counted them reclaimed: nothing is reported lost.
    let (abandoned, reclaimed) = (
        counter(&e.ring(), |c| &c.abandoned),
        counter(&e.ring(), |c| &c.reclaimed),
    );
    assert!(abandoned >= 1, "the revoke was counted");
    assert_eq!(reclaimed, abandoned, "every revoked slot was claimed again");
    let said = String::from_utf8_lossy(&stopped.stderr);
    assert!(
        said.contains(&format!(
            "{abandoned} slots abandoned ({abandoned} of them claimed again by a living producer: not lost)"
        )),
        "{said}"
    );
    // The revoke is noted (an unowned claim carries no pid, so the drain cannot tell a dead
    // producer from a descheduled one), and the note does not claim the record was lost.
    let notes: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("skipped a claim"))
        .collect();
    assert_eq!(notes.len(), 1, "{text}");
    assert!(
        notes[0].contains("only descheduled claims again and its record follows"),
        "{}",
        notes[0]
    );
}

// ---------------------------------------------------------------- producer crashes

#[test]
fn the_last_lines_before_a_producer_crash_are_drained() {
    let e = TestDir::new();
    create_ring(&e.ring(), 1024);
    for how in ["panic", "abort", "segv"] {
        let st = producer(&e.ring(), &["crash", how, "100"])
            .finish(PATIENCE)
            .status;
        assert!(!st.success(), "{how} should have crashed the producer");
    }
    drain_once(&e.ring(), &e.out(), &[]);
    let text = e.out_text();
    for how in ["panic", "abort", "segv"] {
        for i in 0..100 {
            let line = format!("before crash {i} how={how}");
            assert_eq!(
                text.matches(&format!("{line}\n")).count(),
                1,
                "{line} missing"
            );
        }
    }
}

// ---------------------------------------------------------------- full ring

/// Stores `seq` as the sequence word of slot `index` of the ring at `path`, as a stray write
/// by a buggy or hostile co-producer would.
fn scribble_seq(path: &Path, index: usize, seq: ringlog_wire::ring::Seq) {
    use ringlog_wire::ring::Slots;
    let seg = ringlog_segment::Segment::open(path, &Default::default()).unwrap();
    let ring = seg.lane(0).ring();
    // SYNC: Relaxed; damage has no ordering to keep.
    ring.slots()
        .seq(index)
        .store(seq.0, std::sync::atomic::Ordering::Relaxed);
}

#[test]
fn damaged_slot_words_cost_block_producers_nothing_and_are_reported() {
    use ringlog_wire::ring::Seq;
    let e = TestDir::new();
    let drain = ring_with_drain(&e, 64, &[]);
    // Slots of lap 0 ahead of everyone, damaged in ways no legal transition produces: a free
    // word with stray pid bits, free with a stray span, "being written by init" (pid 1 never
    // dies), and being written in a lap that is not the slot's.
    scribble_seq(&e.ring(), 10, Seq(7));
    scribble_seq(&e.ring(), 20, Seq(3 << 26));
    scribble_seq(&e.ring(), 30, Seq::writing(0, 1, 1));
    scribble_seq(&e.ring(), 40, Seq::writing(5, 1, std::process::id()));
    let ps: Vec<Proc> = (0..2)
        .map(|k| producer(&e.ring(), &["load", &format!("w{k}"), "3000", "block"]))
        .collect();
    for p in ps {
        // The watchdog fails the test if the damage wedges the ring (the Block producers hang).
        p.expect_success(PATIENCE);
    }
    drain.stop();
    let (by_worker, other) = split_log(&e.out_text());
    for k in 0..2 {
        let w = format!("w{k}");
        assert_eq!(assert_prefix(&w, &by_worker[&w]), 3000);
    }
    let damaged = other
        .iter()
        .filter(|l| l.contains("skipped damaged record"))
        .count();
    assert_eq!(damaged, 4, "one notice per damaged slot: {other:?}");
    assert_eq!(counter(&e.ring(), |c| &c.corrupt), 4);
}

/// Sets the claim cursor of the ring at `path` to its read cursor plus `ahead`.
fn scribble_claim(path: &Path, ahead: u64) {
    let seg = ringlog_segment::Segment::open(path, &Default::default()).unwrap();
    let c = &seg.lane(0).header().cursors;
    // SYNC: Relaxed; damage has no ordering to keep.
    let read = c.read.load(std::sync::atomic::Ordering::Relaxed);
    c.claim
        .store(read + ahead, std::sync::atomic::Ordering::Relaxed);
}

#[test]
fn a_bogus_claim_cursor_is_reported_once_recovered_and_never_chased_at_shutdown() {
    let e = TestDir::new();
    let drain = ring_with_drain(&e, 1024, &[]);
    run_producer(&e.ring(), &["load", "before", "100"]);
    wait_for_text(&e.out(), "request 99 served in 24.75 us by before");
    // A producer that opened the ring before the damage holds a claim while it happens.
    let slow = producer(&e.ring(), &["slow-claim", "400"]);
    let seg = ringlog_segment::Segment::open(&e.ring(), &Default::default()).unwrap();
    wait_until("the slow producer claims", PATIENCE, || {
        // SYNC: Relaxed; a test's poll.
        seg.lane(0)
            .header()
            .cursors
            .claim
            .load(std::sync::atomic::Ordering::Relaxed)
            > 100
    });
    scribble_claim(&e.ring(), 1_000_000_000_000);
    // The drain recovers: the held claim is revoked, the producer claims again and is drained.
    slow.expect_success(PATIENCE);
    let expected = format!(
        "raw record from slow-claim with payload {}",
        "x".repeat(150)
    );
    wait_for_text(&e.out(), &expected);
    // New producers open the recovered ring, and Block producers get room (watchdog).
    run_producer(&e.ring(), &["load", "after", "100", "block"]);
    wait_for_text(&e.out(), "request 99 served in 24.75 us by after");
    // Damaged again, then asked to stop: shutdown must not chase the bogus cursor.
    scribble_claim(&e.ring(), 1_000_000_000_000);
    drain.stop();
    let (by_worker, other) = split_log(&e.out_text());
    assert_eq!(assert_prefix("before", &by_worker["before"]), 100);
    assert_eq!(assert_prefix("after", &by_worker["after"]), 100);
    let reports = other.iter().filter(|l| l.contains("claim cursor")).count();
    assert!(
        (1..=2).contains(&reports),
        "one report per damage: {other:?}"
    );
    // Unclaimed positions up to read + slots are revoked: bounded by the ring, not the cursor.
    let skipped = notice_sum(&other, "never filled", "slots");
    assert!(skipped <= 2 * 1024, "{skipped} slots skipped");
}

#[test]
fn a_forged_checkpoint_never_cuts_lines_the_drain_cannot_prove_it_wrote() {
    use std::os::unix::fs::MetadataExt;
    use std::sync::atomic::Ordering::{Relaxed, Release};
    let e = TestDir::new();
    create_ring(&e.ring(), 1024);
    run_producer(&e.ring(), &["load", "first", "1000"]);
    drain_once(&e.ring(), &e.out(), &[]);
    run_producer(&e.ring(), &["load", "late", "5"]);
    // A checkpoint no drain wrote: a batch "in flight" to this very file, starting at byte 0
    // and twice the file's length, so the file looks like a batch cut short.
    let meta = std::fs::metadata(e.out()).unwrap();
    let seg = ringlog_segment::Segment::open(&e.ring(), &Default::default()).unwrap();
    let d = &seg.shared().drain;
    // SYNC: Relaxed stores published by the Release of `pending`, as the drain's own are.
    let lane = seg.lane(0).header();
    let read = lane.cursors.read.load(Relaxed);
    lane.pending_end.store(read + 1, Relaxed);
    d.out_dev.store(meta.dev(), Relaxed);
    d.out_ino.store(meta.ino(), Relaxed);
    d.out_len_before.store(0, Relaxed);
    d.out_batch_len.store(2 * meta.len(), Relaxed);
    d.out_batch_hash.store(0x1234_5678, Relaxed);
    // SYNC: Release; as in checkpoint::begin.
    d.pending.store(1, Release);
    drop(seg);
    drain_once(&e.ring(), &e.out(), &[]);
    let (by_worker, _) = split_log(&e.out_text());
    assert_eq!(assert_prefix("first", &by_worker["first"]), 1000);
    assert_eq!(assert_prefix("late", &by_worker["late"]), 5);
}

#[test]
fn block_on_a_tiny_ring_loses_nothing() {
    let e = TestDir::new();
    let drain = ring_with_drain(&e, 64, &[]);
    let ps: Vec<Proc> = (0..3)
        .map(|k| producer(&e.ring(), &["load", &format!("w{k}"), "20000", "block"]))
        .collect();
    for p in ps {
        p.expect_success(Duration::from_secs(120));
    }
    drain.stop();
    let (by_worker, other) = split_log(&e.out_text());
    for k in 0..3 {
        assert_eq!(
            assert_prefix(&format!("w{k}"), &by_worker[&format!("w{k}")]),
            20000
        );
    }
    assert!(other.is_empty(), "{other:?}");
}

#[test]
fn block_without_a_drain_drops_and_counts_instead_of_hanging() {
    let e = TestDir::new();
    create_ring(&e.ring(), 64);
    let n = 5000u64;
    let out = producer(&e.ring(), &["load", "w", &n.to_string(), "block"]).expect_success(PATIENCE);
    let dropped = dropped_said(&String::from_utf8_lossy(&out.stdout));
    assert!(dropped > 0);
    drain_once(&e.ring(), &e.out(), &[]);
    let (by_worker, other) = split_log(&e.out_text());
    let written = assert_prefix("w", &by_worker["w"]);
    let reported = notice_sum(&other, "producers dropped records", "dropped");
    assert_eq!(
        reported, dropped,
        "the drain's notice must carry the exact count"
    );
    assert_eq!(
        written + dropped,
        n,
        "every record is either written or counted"
    );
}

#[test]
fn drop_policy_counts_are_exact_and_visible() {
    let e = TestDir::new();
    let drain = ring_with_drain(&e, 64, &[]);
    let n = 50_000u64;
    let said = run_producer(&e.ring(), &["load", "w", &n.to_string(), "drop"]);
    let dropped = dropped_said(&said);
    // Let the drain write the notice for the last drops.
    wait_until("the drop notices never added up", PATIENCE, || {
        let (_, other) = split_log(&e.out_text());
        notice_sum(&other, "producers dropped records", "dropped") == dropped
    });
    drain.stop();
    let (by_worker, _) = split_log(&e.out_text());
    let got = by_worker.get("w").map(Vec::len).unwrap_or(0) as u64;
    // With Drop, what is written is not a prefix (drops are anywhere), but it is in order,
    // without duplicates, and it adds up exactly.
    let seq = by_worker.get("w").cloned().unwrap_or_default();
    assert!(
        seq.windows(2).all(|w| w[0] < w[1]),
        "out of order or duplicated"
    );
    assert_eq!(got + dropped, n, "written {got} + dropped {dropped} != {n}");
    eprintln!("drop_policy: {n} attempted, {got} written, {dropped} dropped and reported");
}

// ---------------------------------------------------------------- output trouble

#[test]
fn a_log_file_deleted_under_the_drain_is_recreated_for_new_records() {
    let e = TestDir::new();
    let drain = ring_with_drain(&e, 1024, &[]);
    run_producer(&e.ring(), &["load", "a", "100"]);
    wait_for_text(&e.out(), "request 99 served");
    std::fs::remove_file(e.out()).unwrap();
    run_producer(&e.ring(), &["load", "b", "100"]);
    wait_for_text(&e.out(), "request 99 served in 24.75 us by b");
    drain.stop();
    let (by_worker, _) = split_log(&e.out_text());
    assert_eq!(assert_prefix("b", &by_worker["b"]), 100);
    assert!(!by_worker.contains_key("a"));
}

/// A drain writing into a 64 KiB tmpfs: `n` records of producer `w` (logged before the drain
/// starts with `backlog`, else while it runs), then the disk grows, as freeing space would.
/// Asserts the error was reported, the output recovered and every record is there once;
/// returns the drain's stderr (`None`: no tmpfs, see [`Tmpfs::mount`]).
fn full_disk_run(n: u64, backlog: bool, extra: &[&str]) -> Option<String> {
    let e = TestDir::new();
    let mnt = e.join("mnt");
    let tmpfs = Tmpfs::mount(&mnt, "64k")?;
    let out = mnt.join("out.log");
    create_ring(&e.ring(), 1 << 16);
    let load = ["load", "w", &n.to_string()];
    if backlog {
        run_producer(&e.ring(), &load);
    }
    let drain = Drain::start(&e.ring(), &out, extra);
    wait_attached(&e.ring());
    if !backlog {
        run_producer(&e.ring(), &load);
    }
    std::thread::sleep(Duration::from_millis(300));
    // The disk is full now; grow it.
    tmpfs.resize("16m");
    wait_for_text(&out, &format!("request {} served", n - 1));
    let err = String::from_utf8_lossy(&drain.stop().stderr).into_owned();
    assert!(
        err.contains("cannot write output"),
        "no error reported: {err:?}"
    );
    assert!(err.contains("output recovered"), "{err:?}");
    let (by_worker, other) = split_log(&std::fs::read_to_string(&out).unwrap());
    assert_eq!(assert_prefix("w", &by_worker["w"]), n);
    assert!(other.is_empty(), "{other:?}");
    Some(err)
}

#[test]
fn a_full_disk_keeps_records_in_the_ring_until_space_returns() {
    // About 500 KB of text: far more than 64 KiB.
    full_disk_run(5000, false, &[]);
}

#[test]
fn a_full_disk_under_write_behind_loses_and_doubles_nothing() {
    // A backlog of many batches, so the drain writes behind (a batch on its own thread while
    // it reads the next); the first write fails on the full disk, is cut back by that thread,
    // and the drain thread writes the batch again once space returns. Without write-behind,
    // the same run must not say it wrote behind. With two format threads the write is the
    // format worker's (behind.rs). About 4 MB of text: five batches.
    for (flags, behind) in [
        (["--write-behind=true", "--format-threads=1"], true),
        (["--write-behind=true", "--format-threads=2"], true),
        (["--write-behind=false", "--format-threads=1"], false),
    ] {
        let Some(err) = full_disk_run(40_000, true, &flags) else {
            return;
        };
        assert_eq!(
            err.contains("the batch written behind is retried on the drain thread"),
            behind,
            "{flags:?}: {err:?}"
        );
    }
}

// ---------------------------------------------------------------- hostile bytes

#[test]
fn a_segment_of_another_layout_version_is_refused_clearly() {
    // Version 1 is the single shared ring of the first release; 3 a future one.
    for version in [1u32, 3] {
        let e = TestDir::new();
        create_ring(&e.ring(), 64);
        let mut bytes = std::fs::read(e.ring()).unwrap();
        bytes[8..12].copy_from_slice(&version.to_ne_bytes());
        std::fs::write(e.ring(), &bytes).unwrap();
        let out = Drain::command()
            .args(["--once", "--ring"])
            .arg(e.ring())
            .arg("--out")
            .arg(e.out())
            // 65 (EX_DATAERR): restarting cannot help, the unit does not restart on it.
            .expect_code(65);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!(
                "segment layout version {version}, this build reads version 2"
            )),
            "{err}"
        );
        // A producer is refused with the same words.
        let said = producer(&e.ring(), &["load", "w", "1"]).finish(PATIENCE);
        assert_eq!(said.status.code(), Some(1));
        let err = String::from_utf8_lossy(&said.stderr);
        assert!(err.contains(&format!("layout version {version}")), "{err}");
    }
}

// ---------------------------------------------------------------- security

#[test]
fn segments_are_private_and_foreign_or_linked_ones_are_refused() {
    use std::os::unix::fs::PermissionsExt;
    let e = TestDir::new();
    create_ring(&e.ring(), 64);
    let mode = std::fs::metadata(e.ring()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let link = e.join("link");
    std::os::unix::fs::symlink(e.ring(), &link).unwrap();
    let err = ringlog::Logger::builder().path(&link).open().unwrap_err();
    assert!(err.to_string().contains("symbolic link"), "{err}");
    // A group-shared segment when asked.
    let shared = e.join("shared");
    ringlog::Logger::builder()
        .path(&shared)
        .slot_count(64)
        .mode(0o660)
        .open()
        .unwrap();
    assert_eq!(
        std::fs::metadata(&shared).unwrap().permissions().mode() & 0o777,
        0o660
    );
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if require(
        root,
        "root (to give the segment to another user)",
        "run the tests as root",
    ) {
        std::os::unix::fs::chown(e.ring(), Some(12345), None).unwrap();
        let err = ringlog::Logger::builder()
            .path(e.ring())
            .open()
            .unwrap_err();
        assert!(err.to_string().contains("owned by uid 12345"), "{err}");
        ringlog::Logger::builder()
            .path(e.ring())
            .allow_foreign_owner(true)
            .open()
            .expect("allowed explicitly");
    }
}

// ---------------------------------------------------------------- stress: randomised rounds

#[test]
fn killed_producers_lose_at_most_the_record_being_written() {
    let mut rng = Rng::from_env("killed_producers");
    let e = TestDir::new();
    let drain = ring_with_drain(&e, 1 << 16, &[]);
    let n_rounds = rounds(12);
    let mut workers = Vec::new();
    let mut killed = 0;
    for r in 0..n_rounds {
        let a = format!("r{r}a");
        let b = format!("r{r}b");
        let mut pa = producer(&e.ring(), &["load", &a, "200000"]);
        let mut pb = producer(&e.ring(), &["load", &b, "200000"]);
        std::thread::sleep(Duration::from_micros(rng.range(500, 15_000)));
        signal(pa.id(), libc::SIGKILL);
        if rng.range(0, 2) == 0 {
            signal(pb.id(), libc::SIGKILL);
            killed += 1;
        }
        killed += 1;
        pa.wait(PATIENCE);
        pb.wait(Duration::from_secs(120));
        workers.push(a);
        workers.push(b);
    }
    // A producer after all the kills still gets through: the drain moved past every abandoned
    // claim.
    run_producer(&e.ring(), &["load", "final", "1000"]);
    wait_for_text(&e.out(), "request 999 served in 249.75 us by final");
    drain.stop();
    let (by_worker, other) = split_log(&e.out_text());
    let mut total = 0;
    for w in &workers {
        total += assert_prefix(w, by_worker.get(w).map(Vec::as_slice).unwrap_or(&[]));
    }
    assert_eq!(assert_prefix("final", &by_worker["final"]), 1000);
    let abandoned = notice_sum(&other, "ringdrain:", "slots");
    assert!(
        other.iter().all(|l| l.contains(" ringdrain: ")),
        "unexpected lines: {:?}",
        other.iter().take(3).collect::<Vec<_>>()
    );
    eprintln!(
        "killed_producers: {n_rounds} rounds, {killed} kills, {total} records checked, {abandoned} slots abandoned"
    );
}

#[test]
fn a_drain_killed_and_restarted_loses_and_duplicates_nothing() {
    let mut rng = Rng::from_env("killed_drain");
    let e = TestDir::new();
    // The ring holds every record, so producers never wait on the dead drain.
    create_ring(&e.ring(), 1 << 20);
    let n = 150_000u64;
    let mut pa = producer(&e.ring(), &["load", "a", &n.to_string()]);
    let mut pb = producer(&e.ring(), &["load", "b", &n.to_string()]);
    let n_rounds = rounds(15);
    for _ in 0..n_rounds {
        let d = Drain::start(&e.ring(), &e.out(), &[]);
        std::thread::sleep(Duration::from_micros(rng.range(2_000, 60_000)));
        d.kill();
    }
    assert!(pa.wait(Duration::from_secs(120)).success());
    assert!(pb.wait(Duration::from_secs(120)).success());
    drain_once(&e.ring(), &e.out(), &[]);
    let text = e.out_text();
    assert!(text.is_empty() || text.ends_with('\n'), "torn last line");
    let (by_worker, other) = split_log(&text);
    assert!(
        other.is_empty(),
        "unparseable or unexpected lines: {:?}",
        &other[..other.len().min(3)]
    );
    assert_eq!(assert_prefix("a", &by_worker["a"]), n);
    assert_eq!(assert_prefix("b", &by_worker["b"]), n);
    eprintln!(
        "killed_drain: {n_rounds} drain kills, {} records checked",
        2 * n
    );
}

/// Damages a copy of a live segment in many random ways; the drain must never panic or hang,
/// and must either refuse the segment with one clear line or drain it with visible markers.
#[test]
fn random_damage_to_a_segment_never_panics_the_drain() {
    let mut rng = Rng::from_env("random_damage");
    let e = TestDir::new();
    create_ring(&e.ring(), 256);
    run_producer(&e.ring(), &["load", "w", "200"]);
    let pristine = std::fs::read(e.ring()).unwrap();
    let seg_len = pristine.len() as u64;
    let n_rounds = rounds(40);
    let (mut refused, mut drained) = (0, 0);
    for r in 0..n_rounds {
        let mut bytes = pristine.clone();
        let region = rng.range(0, 4);
        let (lo, hi) = match region {
            0 => (0, 256),                      // geometry header
            1 => (256, 4096),                   // counters, drain state
            2 => (4096, seg_len - 256 * 64),    // control, producer and lane tables, callsites
            _ => (seg_len - 256 * 64, seg_len), // the lane's slots
        };
        for _ in 0..rng.range(1, 16) {
            let at = rng.range(lo, hi) as usize;
            bytes[at] ^= 1 << rng.range(0, 8);
        }
        if rng.range(0, 10) == 0 {
            bytes.truncate(rng.range(0, seg_len) as usize);
        }
        let path = e.join(format!("damaged{r}"));
        std::fs::write(&path, &bytes).unwrap();
        // Private, as a segment is created (else the drain adds a warning line about it).
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let out_path = e.join(format!("damaged{r}.log"));
        let out = Drain::command()
            .args(["--once", "--grace-ms", "10", "--format", "json", "--ring"])
            .arg(&path)
            .arg("--out")
            .arg(&out_path)
            .output();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "round {r}: panic: {err}");
        match out.status.code() {
            Some(0) => {
                drained += 1;
                for line in std::fs::read_to_string(&out_path)
                    .unwrap_or_default()
                    .lines()
                {
                    let v: Result<serde_json::Value, _> = serde_json::from_str(line);
                    assert!(v.is_ok(), "round {r}: invalid JSON line {line:?}");
                }
            }
            // 65 (EX_DATAERR): not a usable segment; 74 (EX_IOERR); 1: another failure;
            // 69 (EX_UNAVAILABLE): the damage named a living process (a low pid: kernel
            // threads) as the segment's drain, with no start time to tell it is not one, and a
            // drain does not take over a living one's lease (RELIABILITY.md, "what it can
            // do"; seen with RINGLOG_SEED=1796104852247086377, round 30, where pid 64 lives).
            Some(69) if err.contains("is already draining") => {
                refused += 1;
                assert_eq!(
                    err.lines().count(),
                    1,
                    "round {r}: not one clear line: {err}"
                );
            }
            Some(1 | 65 | 74) => {
                refused += 1;
                assert_eq!(
                    err.lines().count(),
                    1,
                    "round {r}: not one clear line: {err}"
                );
                assert!(err.starts_with("ringdrain: error: "), "round {r}: {err}");
            }
            other => panic!(
                "round {r}: ringdrain ended with {other:?} / {:?}: {err}",
                out.status
            ),
        }
    }
    eprintln!("random_damage: {n_rounds} damaged segments, {refused} refused with an error, {drained} drained");
}
