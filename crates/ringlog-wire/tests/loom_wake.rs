//! loom models of the segment's two futex words (`ringlog_wire::wake`) with the ring they
//! watch: the idle drain's wake word, and the room word `Policy::Block` producers sleep on
//! until the drain frees room.
//!
//! loom cannot run a futex, so the models use a faithful stand-in: `FUTEX_WAIT(word, ASLEEP)`
//! takes a mutex, compares the word and waits on a condition variable only if it still says
//! `ASLEEP` (the kernel compares under its hash-bucket lock); `FUTEX_WAKE` takes the same mutex
//! and notifies. A wake-up that is lost leaves the drain waiting for ever, which loom reports as
//! a deadlock.
//!
//! Run with (also part of `./scripts/test.sh`):
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo test -p ringlog-wire --test loom_wake --release
//! ```
#![cfg(loom)]

use loom::sync::{Arc, Condvar, Mutex};
use loom::thread;
use ringlog_wire::ring::{Consumer, HeapSlots, Next, Ring, RingCursors, MAX_SPAN};
use ringlog_wire::sync::{fence_seq_cst, AtomicU32, AtomicU64};
use ringlog_wire::wake;

/// One record: a 16-byte slot (an 8-byte body).
const RECORD: [u8; 8] = *b"record!!";

struct Fixture {
    cursors: RingCursors,
    slots: HeapSlots,
    cache: AtomicU64,
    word: AtomicU32,
    futex: Mutex<()>,
    waiters: Condvar,
}

impl Fixture {
    fn new() -> Arc<Fixture> {
        Arc::new(Fixture {
            cursors: RingCursors::new(),
            slots: HeapSlots::new(2, RECORD.len()),
            cache: AtomicU64::new(0),
            word: AtomicU32::new(wake::AWAKE),
            futex: Mutex::new(()),
            waiters: Condvar::new(),
        })
    }

    fn ring(&self) -> Ring<'_, HeapSlots> {
        Ring::new(&self.cursors, &self.slots, MAX_SPAN)
    }

    /// `FUTEX_WAKE(word, 1)`.
    fn futex_wake(&self) {
        let _g = self.futex.lock().unwrap();
        self.waiters.notify_all();
    }

    /// `FUTEX_WAIT(word, ASLEEP)` without a timeout: returns when woken, or at once if the word
    /// no longer says `ASLEEP`.
    fn futex_wait(&self) {
        let g = self.futex.lock().unwrap();
        if self.word.load(ringlog_wire::sync::Ordering::Relaxed) == wake::ASLEEP {
            drop(self.waiters.wait(g).unwrap());
        }
    }

    /// The producer: push one record, then the wake check (with `fence`: the fence Dekker's
    /// pattern asks for between the commit and the flag load).
    fn produce(&self, fence: bool) {
        self.ring().push(&RECORD, 7, &self.cache).unwrap();
        if fence {
            fence_seq_cst();
        }
        if wake::asleep(&self.word) && wake::claim_wake(&self.word) {
            self.futex_wake();
        }
    }
}

/// What a poll of the ring found.
#[derive(PartialEq, Eq)]
enum Found {
    Records(usize),
    Nothing,
    /// A claim not committed yet: the real drain does not sleep then (not quiet), it polls.
    Busy,
}

fn poll(consumer: &mut Consumer<'_, HeapSlots>) -> Found {
    let mut n = 0;
    let mut buf = Vec::new();
    loop {
        match consumer.next(&mut buf) {
            Next::Record { .. } => {
                assert_eq!(buf, RECORD);
                buf.clear();
                n += 1;
            }
            Next::Skipped => {}
            Next::Empty => break,
            Next::Stalled(_) => {
                if n == 0 {
                    return Found::Busy;
                }
                break;
            }
        }
    }
    consumer.release();
    if n > 0 {
        Found::Records(n)
    } else {
        Found::Nothing
    }
}

/// The drain's idle protocol (doze.rs): poll; announce; re-check; wait; take the announcement
/// back. `wait` is the futex stand-in: blocking without a timeout, or returning at once (a
/// timeout that ran out). Returns the records it read.
fn drain_turns(fx: &Fixture, consumer: &mut Consumer<'_, HeapSlots>, wait: bool) -> usize {
    let mut got = 0;
    for _ in 0..2 {
        if let Found::Records(n) = poll(consumer) {
            got += n;
            break;
        }
        wake::announce_sleep(&fx.word);
        match poll(consumer) {
            Found::Records(n) => {
                wake::cancel_sleep(&fx.word);
                got += n;
                break;
            }
            Found::Busy => {
                wake::cancel_sleep(&fx.word);
                continue;
            }
            Found::Nothing => {}
        }
        if wait {
            fx.futex_wait();
        }
        wake::cancel_sleep(&fx.word);
    }
    got
}

/// One producer, one drain; `fence` on the producer side, `blocking` futex wait on the drain
/// side. After both finish, the main thread polls once more (the drain's next turn, after a
/// timeout): every record is read exactly once.
fn model(fence: bool, blocking: bool) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(3);
    }
    builder.check(move || {
        let fx = Fixture::new();
        let p = {
            let fx = fx.clone();
            thread::spawn(move || fx.produce(fence))
        };
        let d = {
            let fx = fx.clone();
            thread::spawn(move || {
                // SAFETY: the model has exactly one consumer; it is handed to the main thread
                // only after this thread ends (join).
                let mut consumer = unsafe { Consumer::new(fx.ring()) };
                drain_turns(&fx, &mut consumer, blocking)
            })
        };
        p.join().unwrap();
        let got = d.join().unwrap();
        // The drain's next turn (after its timeout), now that the producer is done.
        // SAFETY: the drain thread ended; this is the only consumer now.
        let mut consumer = unsafe { Consumer::new(fx.ring()) };
        let later = match poll(&mut consumer) {
            Found::Records(n) => n,
            _ => 0,
        };
        assert_eq!(got + later, 1, "every record read exactly once");
    });
}

/// Dekker's pattern with both fences: in no interleaving does the drain wait while a
/// committed record goes unseen (a lost wake-up would deadlock the model).
#[test]
fn with_a_producer_fence_no_wake_up_is_lost() {
    model(true, true);
}

/// The production producer (no fence) against a drain whose wait has a timeout: nothing is
/// lost or read twice; a missed wake-up is repaired by the drain's next turn.
#[test]
fn without_the_fence_the_timeout_repairs_a_missed_wake_up() {
    model(false, false);
}

/// Why the drain's wait must have a timeout: without the producer fence, loom finds the
/// interleaving where the re-check misses the commit and the producer misses the flag, and the
/// untimed wait deadlocks. loom aborts the process on that deadlock (a panic in a destructor
/// during unwinding), so the model runs in a child process of this test binary, and the test
/// asserts that the child failed with loom's deadlock report.
#[test]
fn without_the_fence_an_untimed_wait_can_lose_the_wake_up() {
    const CHILD: &str = "RINGLOG_LOOM_WAKE_CHILD";
    const NAME: &str = "without_the_fence_an_untimed_wait_can_lose_the_wake_up";
    if std::env::var_os(CHILD).is_some() {
        model(false, true);
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", NAME, "--test-threads", "1", "--nocapture"])
        .env(CHILD, "1")
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !out.status.success(),
        "loom found no lost wake-up without the producer fence: the model is not sensitive"
    );
    assert!(
        output.contains("deadlock"),
        "the child failed, but not with loom's deadlock report:\n{output}"
    );
}

// ---------------------------------------------------------------------------------------------
// Producers waiting for room (`wake`, "Producers waiting for room")

/// A full ring (two one-slot records in two slots), its room word, and the futex stand-in.
struct Full {
    fx: Arc<Fixture>,
    room: AtomicU32,
}

impl Full {
    fn new() -> Arc<Full> {
        let fx = Fixture::new();
        for _ in 0..2 {
            fx.ring().push(&RECORD, 7, &fx.cache).unwrap();
        }
        Arc::new(Full {
            fx,
            room: AtomicU32::new(wake::NO_WAITERS),
        })
    }

    /// `FUTEX_WAIT(room, WAITERS)` without a timeout: returns when woken, or at once if the
    /// word no longer says `WAITERS`.
    fn futex_wait(&self) {
        let g = self.fx.futex.lock().unwrap();
        if self.room.load(ringlog_wire::sync::Ordering::Relaxed) == wake::WAITERS {
            drop(self.fx.waiters.wait(g).unwrap());
        }
    }

    /// A `Policy::Block` producer (the loop in `Logger::full`): try; announce; try again (the
    /// re-check); wait, untimed, and try again. Returns whether its record went in.
    fn produce(&self) -> bool {
        let ring = self.fx.ring();
        for _ in 0..2 {
            if ring.push(&RECORD, 8, &self.fx.cache).is_ok() {
                return true;
            }
            wake::announce_wait(&self.room);
            if ring.push(&RECORD, 8, &self.fx.cache).is_ok() {
                return true;
            }
            self.futex_wait();
        }
        false
    }
}

/// The drain reads one record and releases it, then wakes waiting producers
/// (`Reader::release_lanes` -> `Segment::wake_producers`); a producer blocked on the full ring
/// waits on the room word without a timeout. In no interleaving does it wait for ever (a lost
/// wake-up would deadlock the model), and once woken its record goes in.
#[test]
fn a_producer_waiting_for_room_sees_it_or_is_woken() {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(3);
    }
    builder.check(|| {
        let full = Full::new();
        let p = {
            let full = full.clone();
            thread::spawn(move || full.produce())
        };
        let d = {
            let full = full.clone();
            thread::spawn(move || {
                // SAFETY: the model has exactly one consumer; it is handed to the main thread
                // only after this thread ends (join).
                let mut consumer = unsafe { Consumer::new(full.fx.ring()) };
                let mut buf = Vec::new();
                assert!(matches!(consumer.next(&mut buf), Next::Record { .. }));
                consumer.release();
                if wake::room_freed(&full.room) {
                    full.fx.futex_wake();
                }
            })
        };
        d.join().unwrap();
        assert!(
            p.join().unwrap(),
            "the producer found no room after the drain freed some"
        );
    });
}
