//! The idle drain sleeps on the ring's futex wake word and a producer's record wakes it
//! (issue 13, "Idle and wake-up"; protocol in `ringlog_wire::wake`).

use std::time::Duration;

use ringlog::{info, Logger};
use ringlog_segment::{Segment, SegmentConfig};
use ringlog_testkit::segment::wait_attached;
use ringlog_testkit::{wait_for_text, wait_until, Drain, PATIENCE};
use ringlog_wire::wake;

#[test]
fn an_idle_drain_sleeps_on_the_wake_word_and_a_record_wakes_it() {
    let dir = tempfile::tempdir().unwrap();
    let ring = dir.path().join("ring");
    let out = dir.path().join("out.log");
    let log = Logger::builder()
        .path(&ring)
        .slot_count(1 << 10)
        .open()
        .unwrap();
    let drain = Drain::start(&ring, &out, &[]);
    wait_attached(&ring);
    let seg = Segment::open(&ring, &SegmentConfig::default()).unwrap();
    for round in 0..3u32 {
        // With nothing to do, the drain announces its sleep within a few milliseconds.
        wait_until("the idle drain never announced sleep", PATIENCE, || {
            wake::asleep(seg.wake_word())
        });
        // Give it time to be in FUTEX_WAIT (not needed for correctness: a wake before the
        // wait makes the wait return at once).
        std::thread::sleep(Duration::from_millis(20));
        info!(log, "wake up {}", round);
        // The log call saw the announcement and took the job of waking the drain; the drain
        // itself may already have announced its next sleep, so only the line is waited for.
        wait_for_text(&out, &format!("wake up {round}"));
    }
    let o = drain.stop();
    assert!(o.status.success());
    assert!(
        !wake::asleep(seg.wake_word()),
        "a drain that exits leaves no sleep announced"
    );
}

#[test]
fn a_drain_of_several_rings_sleeps_on_all_their_wake_words_and_a_record_in_any_wakes_it() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let out = dir.path().join("out.log");
    let la = Logger::builder()
        .path(&a)
        .slot_count(1 << 10)
        .open()
        .unwrap();
    let lb = Logger::builder()
        .path(&b)
        .slot_count(1 << 10)
        .open()
        .unwrap();
    let drain = Drain::start(&a, &out, &["--ring", b.to_str().unwrap(), "--merge"]);
    wait_attached(&a);
    wait_attached(&b);
    let segs = [&a, &b].map(|r| Segment::open(r, &SegmentConfig::default()).unwrap());
    for (round, log) in [&la, &lb, &lb, &la].into_iter().enumerate() {
        // With nothing to do, the drain announces its sleep on both rings.
        wait_until(
            "the idle drain never announced sleep on both rings",
            PATIENCE,
            || segs.iter().all(|s| wake::asleep(s.wake_word())),
        );
        std::thread::sleep(Duration::from_millis(20));
        info!(log, "wake up {}", round);
        wait_for_text(&out, &format!("wake up {round}"));
    }
    let o = drain.stop();
    assert!(o.status.success());
    for s in &segs {
        assert!(
            !wake::asleep(s.wake_word()),
            "a drain that exits leaves no sleep announced"
        );
    }
}

#[test]
fn a_signal_wakes_a_sleeping_drain_at_once() {
    // Idle sleeps of a minute: without the wake-up, SIGHUP would be acted on, and SIGTERM
    // would end the drain, only when the sleep runs out (a futex wait is restarted after a
    // signal handler). One ring (FUTEX_WAIT) and two (futex_waitv).
    for rings in [1, 2] {
        let dir = tempfile::tempdir().unwrap();
        let paths: Vec<_> = (0..rings)
            .map(|i| dir.path().join(format!("ring{i}")))
            .collect();
        let out = dir.path().join("out.log");
        let loggers: Vec<_> = paths
            .iter()
            .map(|p| {
                Logger::builder()
                    .path(p)
                    .slot_count(1 << 10)
                    .open()
                    .unwrap()
            })
            .collect();
        let mut args = vec!["--idle-sleep-ms", "60000"];
        for p in &paths[1..] {
            args.extend(["--ring", p.to_str().unwrap()]);
        }
        let drain = Drain::start(&paths[0], &out, &args);
        for p in &paths {
            wait_attached(p);
        }
        info!(loggers[0], "before the sleep");
        wait_for_text(&out, "before the sleep");
        let segs: Vec<_> = paths
            .iter()
            .map(|p| Segment::open(p, &SegmentConfig::default()).unwrap())
            .collect();
        let asleep = || {
            wait_until("the idle drain never announced sleep", PATIENCE, || {
                segs.iter().all(|s| wake::asleep(s.wake_word()))
            });
            // Into the futex wait (a signal before it would not show the difference).
            std::thread::sleep(Duration::from_millis(50));
        };
        asleep();
        // SIGHUP: the file moved away is reopened (created again) now, not in a minute.
        std::fs::rename(&out, dir.path().join("out.log.1")).unwrap();
        drain.signal(libc::SIGHUP);
        wait_until(
            "SIGHUP did not reopen the output of a sleeping drain",
            Duration::from_secs(20),
            || out.exists(),
        );
        asleep();
        // SIGTERM: the drain exits now.
        let o = drain.stop_within(Duration::from_secs(20));
        assert!(o.status.success(), "{rings} ring(s)");
    }
}
