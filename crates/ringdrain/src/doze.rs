//! The idle drain's sleep: after a while with nothing to do, the drain sleeps on the ring's
//! wake word (a futex in the segment) instead of polling, and the first producer to commit a
//! record wakes it ([`ringlog_wire::wake`] has the protocol and why no wake-up is lost for
//! longer than [`SLEEP_TIMEOUT`]).
//!
//! In the drain loop: a turn that finds nothing calls [`Doze::idle_turn`]. Once the drain has
//! been quiet for [`ARM_AFTER`] rounds of the polling backoff (about 2 ms), the turn announces
//! the sleep and the next turn's poll of every lane is the protocol's re-check; if that too
//! finds nothing, the drain sleeps on the futex for up to [`SLEEP_TIMEOUT`] and polls again. A
//! turn with events calls [`Doze::busy`], which takes the announcement back.
//!
//! A drain of several rings announces on every ring and sleeps on all their words at once
//! (`futex_waitv`, Linux 5.16+; [`ringlog_segment::idle::sleep_drains`]): a producer of any of
//! them wakes it. Where `futex_waitv` is refused (an older kernel, seccomp), or with more rings
//! than one call watches, such a drain polls as before. A drain finishing (`--once`,
//! stopping) or waiting on a stalled producer keeps the polling backoff.

use std::time::Duration;

use ringlog_segment::idle::{sleep_drains, MAX_SLEEP_RINGS};
use ringlog_segment::Segment;
pub use ringlog_wire::wake::SLEEP_TIMEOUT;

/// Rounds of the polling backoff (spin 32, yield 32, then sleeps of 40 us doubling to 1 ms)
/// before the drain announces sleep: about 2 ms without a record.
pub const ARM_AFTER: u32 = 70;

/// Whether the drain has announced sleep, and whether it may.
#[derive(Debug)]
pub struct Doze {
    /// Announced: the next quiet turn sleeps.
    armed: bool,
    /// False when futexes failed once (then the drain polls, as before).
    enabled: bool,
    timeout: Duration,
}

impl Doze {
    /// A doze for a drain of `rings` rings, sleeping at most `timeout` at a time (the
    /// protocol's backstop: [`SLEEP_TIMEOUT`] by default).
    pub fn new(rings: usize, timeout: Duration) -> Doze {
        Doze {
            armed: false,
            enabled: (1..=MAX_SLEEP_RINGS).contains(&rings),
            timeout,
        }
    }

    /// A turn found events: take back an announcement.
    pub fn busy(&mut self, segs: &[&Segment]) {
        if self.armed {
            for seg in segs {
                seg.cancel_sleep();
            }
            self.armed = false;
        }
    }

    /// A turn found nothing after `quiet_rounds` quiet rounds; `may_sleep` says every lane was
    /// idle (nothing held back or stalled) and the drain is not finishing. Returns whether the
    /// turn's wait was taken care of here (announced, or slept); false: use the polling backoff.
    pub fn idle_turn(&mut self, segs: &[&Segment], quiet_rounds: u32, may_sleep: bool) -> bool {
        if !self.enabled || !may_sleep {
            self.busy(segs);
            return false;
        }
        if quiet_rounds < ARM_AFTER {
            return false;
        }
        if !self.armed {
            // Announce (on every ring); the next turn's poll is the re-check.
            for seg in segs {
                seg.announce_sleep();
            }
            self.armed = true;
            return true;
        }
        // Announced, and the re-check found nothing: sleep until woken or timed out.
        let slept = match segs {
            [seg] => seg.sleep_drain(self.timeout),
            _ => sleep_drains(segs, self.timeout),
        };
        if let Err(e) = slept {
            eprintln!("ringdrain: cannot sleep on the rings' wake words ({e}); polling instead");
            self.enabled = false;
        }
        for seg in segs {
            seg.cancel_sleep();
        }
        self.armed = false;
        true
    }

    /// The loop is ending: leave no announcement behind (producers would make one needless
    /// wake call).
    pub fn finish(&mut self, segs: &[&Segment]) {
        self.busy(segs);
    }
}
