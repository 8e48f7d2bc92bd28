//! Timing work done by two threads at once (the criterion benches' 2-thread cases).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Runs `work(0)` on this thread and `work(1)` on a helper thread, started together through a
/// spin gate once the helper is running, and returns the time from the start to the later of
/// the two finishes. Spawning the helper is not timed.
pub fn timed_pair<F: Fn(usize) + Sync>(work: F) -> Duration {
    let (ready, go) = (AtomicBool::new(false), AtomicBool::new(false));
    std::thread::scope(|s| {
        let helper = s.spawn(|| {
            // SYNC: Relaxed; only says the helper is scheduled, nothing is handed over.
            ready.store(true, Ordering::Relaxed);
            // SYNC: Acquire; pairs with the Release store below (nothing is handed over but the
            // start signal; Acquire keeps the work from being hoisted above the gate).
            while !go.load(Ordering::Acquire) {
                std::hint::spin_loop();
            }
            work(1);
            Instant::now()
        });
        // SYNC: Relaxed; see the store in the helper.
        while !ready.load(Ordering::Relaxed) {
            std::hint::spin_loop();
        }
        let start = Instant::now();
        // SYNC: Release; pairs with the helper's Acquire load of the gate.
        go.store(true, Ordering::Release);
        work(0);
        let mine = Instant::now();
        let theirs = helper.join().expect("bench helper thread panicked");
        mine.max(theirs).duration_since(start)
    })
}
