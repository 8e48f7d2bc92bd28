//! The idle drain's futex on the segment's wake word (protocol and proof:
//! [`ringlog_wire::wake`]): [`Segment::notify_drain`] for producers after each commit,
//! [`Segment::announce_sleep`] / [`Segment::sleep_drain`] / [`Segment::cancel_sleep`] for the
//! drain.
//!
//! The futex is a shared one (no `FUTEX_PRIVATE_FLAG`): the word lives in a file mapping that
//! several processes share, and the kernel keys a shared futex by the file page and offset, so a
//! wake from any process reaches a drain waiting in another.

use std::io;
use std::sync::atomic::AtomicU32;
use std::time::Duration;

use ringlog_wire::layout;
use ringlog_wire::wake;
use rustix::thread::futex;

use crate::Segment;

/// The header page's futex words ([`layout::WakeWord`], [`layout::RoomWord`]).
#[derive(Debug, Clone, Copy)]
enum HeaderWord {
    Wake,
    Room,
}

/// How a drain's sleep ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wakeup {
    /// A producer woke it (or the word had already changed: a producer came between the
    /// re-check and the wait).
    Woken,
    /// The timeout ran out.
    TimedOut,
    /// A signal interrupted the wait.
    Interrupted,
}

impl Segment {
    /// The wake word at [`layout::WAKE_OFFSET`].
    #[inline(always)]
    pub fn wake_word(&self) -> &AtomicU32 {
        self.header_word(HeaderWord::Wake)
    }

    /// The room word at [`layout::ROOM_OFFSET`].
    #[inline(always)]
    pub fn room_word(&self) -> &AtomicU32 {
        self.header_word(HeaderWord::Room)
    }

    /// One of the header page's futex words.
    #[inline(always)]
    fn header_word(&self, which: HeaderWord) -> &AtomicU32 {
        let offset = match which {
            HeaderWord::Wake => layout::WAKE_OFFSET,
            HeaderWord::Room => layout::ROOM_OFFSET,
        };
        // SAFETY: both offsets are 128-aligned and inside the header page (const-asserted in
        // ringlog-wire, with `WakeWord` and `RoomWord` each one `AtomicU32` at its offset), in
        // a page-aligned mapping that lives as long as `self.map`; an AtomicU32 is valid for
        // any bytes another process may have written.
        unsafe { &*(self.map.as_ptr().add(offset) as *const AtomicU32) }
    }

    /// Producer, after each commit: wakes the drain if it announced sleep. One Relaxed load
    /// when it did not (the common case); a swap and a `FUTEX_WAKE` by one producer when it did.
    #[inline(always)]
    pub fn notify_drain(&self) {
        if wake::asleep(self.wake_word()) {
            self.wake_drain();
        }
    }

    #[cold]
    #[inline(never)]
    fn wake_drain(&self) {
        let word = self.wake_word();
        if wake::claim_wake(word) {
            // A failed wake (no futex support) is not the producer's problem: the drain's
            // wait times out and it polls (`wake::SLEEP_TIMEOUT`).
            let _ = futex::wake(word, futex::Flags::empty(), 1);
        }
    }

    /// Drain: announces that it is about to sleep. Then poll every lane once more, and call
    /// [`Segment::sleep_drain`] only if that found nothing, else [`Segment::cancel_sleep`].
    pub fn announce_sleep(&self) {
        wake::announce_sleep(self.wake_word());
    }

    /// Drain: awake again (the re-check found records, or after [`Segment::sleep_drain`]).
    pub fn cancel_sleep(&self) {
        wake::cancel_sleep(self.wake_word());
    }

    /// Drain: sleeps on the wake word until a producer wakes it or `timeout` runs out (returns
    /// at once if a producer already did). Announce first ([`Segment::announce_sleep`]); the
    /// word is left for the caller to [`cancel`](Segment::cancel_sleep). An error means the
    /// kernel refuses futexes here (seccomp, an old kernel): poll instead.
    pub fn sleep_drain(&self, timeout: Duration) -> io::Result<Wakeup> {
        futex_wait(self.wake_word(), wake::ASLEEP, timeout)
    }

    /// Producer, its lane full: announces that it is about to sleep until the drain frees
    /// room. Then try to push once more, and call [`Segment::wait_for_room`] only if the lane
    /// is still full.
    pub fn announce_room_wait(&self) {
        wake::announce_wait(self.room_word());
    }

    /// Producer: sleeps until the drain frees room in some lane or `timeout` runs out (returns
    /// at once if the drain already did). Announce first ([`Segment::announce_room_wait`]). An
    /// error means the kernel refuses futexes here: the caller then sleeps briefly instead.
    pub fn wait_for_room(&self, timeout: Duration) -> io::Result<Wakeup> {
        futex_wait(self.room_word(), wake::WAITERS, timeout)
    }

    /// Drain, after a release that freed room: wakes every producer that announced it is
    /// waiting for room. A fence and one Relaxed load when none did.
    pub fn wake_producers(&self) {
        let word = self.room_word();
        if wake::room_freed(word) {
            // A failed wake (no futex support) costs the waiters their wait timeout.
            // (The kernel reads the count as an int: i32::MAX means all of them.)
            let _ = futex::wake(word, futex::Flags::empty(), i32::MAX as u32);
        }
    }
}

/// `FUTEX_WAIT(word, value, timeout)` on a shared futex: returns at once (`Woken`) if the word
/// no longer holds `value`.
fn futex_wait(word: &AtomicU32, value: u32, timeout: Duration) -> io::Result<Wakeup> {
    let ts = futex::Timespec {
        tv_sec: timeout.as_secs().min(i64::MAX as u64) as i64,
        tv_nsec: timeout.subsec_nanos().into(),
    };
    match futex::wait(word, futex::Flags::empty(), value, Some(&ts)) {
        Ok(()) | Err(rustix::io::Errno::AGAIN) => Ok(Wakeup::Woken),
        Err(rustix::io::Errno::TIMEDOUT) => Ok(Wakeup::TimedOut),
        Err(rustix::io::Errno::INTR) => Ok(Wakeup::Interrupted),
        Err(e) => Err(e.into()),
    }
}

/// Most rings one `futex_waitv` call watches (the kernel's `FUTEX_WAITV_MAX`).
pub const MAX_SLEEP_RINGS: usize = 128;

/// Drain of several rings: sleeps on every ring's wake word at once (`futex_waitv`, Linux
/// 5.16+) until a producer of any of them wakes it or `timeout` runs out; returns at once if
/// any word is no longer `ASLEEP` (a producer came between the re-check and the wait). Announce
/// on every ring first ([`Segment::announce_sleep`]) and poll every lane of every ring once
/// more, as for one ring; the protocol ([`ringlog_wire::wake`]) is the same per ring. An error
/// (no `futex_waitv` here, more than [`MAX_SLEEP_RINGS`] rings) means: poll instead.
pub fn sleep_drains(segments: &[&Segment], timeout: Duration) -> io::Result<Wakeup> {
    if segments.len() > MAX_SLEEP_RINGS {
        return Err(io::Error::other("more rings than one futex_waitv watches"));
    }
    let waiters: Vec<futex::Wait> = segments
        .iter()
        .map(|s| {
            let mut w = futex::Wait::new();
            w.val = wake::ASLEEP.into();
            // The kernel reads the word (and keys the futex by its file page: shared, no
            // FUTEX2_PRIVATE); the mapping lives as long as `segments` borrows it.
            w.uaddr = futex::WaitPtr::new(s.wake_word().as_ptr().cast());
            w.flags = futex::WaitFlags::SIZE_U32;
            w
        })
        .collect();
    // futex_waitv's timeout is absolute, on the clock it is given.
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    let nanos = now.tv_nsec as u64 + u64::from(timeout.subsec_nanos());
    let deadline = futex::Timespec {
        tv_sec: now
            .tv_sec
            .saturating_add(timeout.as_secs().min(i64::MAX as u64) as i64)
            .saturating_add((nanos / 1_000_000_000) as i64),
        tv_nsec: (nanos % 1_000_000_000) as _,
    };
    match futex::waitv(
        &waiters,
        futex::WaitvFlags::empty(),
        Some(&deadline),
        futex::ClockId::Monotonic,
    ) {
        Ok(_) | Err(rustix::io::Errno::AGAIN) => Ok(Wakeup::Woken),
        Err(rustix::io::Errno::TIMEDOUT) => Ok(Wakeup::TimedOut),
        Err(rustix::io::Errno::INTR) => Ok(Wakeup::Interrupted),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SegmentConfig;

    fn segment(dir: &tempfile::TempDir) -> Segment {
        let config = SegmentConfig {
            slot_count: 64,
            lanes: 2,
            ..SegmentConfig::default()
        };
        Segment::create_or_open(&dir.path().join("wake.ring"), &config)
            .unwrap()
            .0
    }

    #[test]
    fn a_new_segment_has_no_drain_asleep() {
        let dir = tempfile::tempdir().unwrap();
        let seg = segment(&dir);
        assert!(!wake::asleep(seg.wake_word()));
    }

    #[test]
    fn a_sleep_with_no_producer_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let seg = segment(&dir);
        seg.announce_sleep();
        let r = seg.sleep_drain(Duration::from_millis(20)).unwrap();
        assert_eq!(r, Wakeup::TimedOut);
        seg.cancel_sleep();
        assert!(!wake::asleep(seg.wake_word()));
    }

    #[test]
    fn a_wake_before_the_wait_makes_the_wait_return_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let seg = segment(&dir);
        seg.announce_sleep();
        seg.notify_drain();
        assert!(!wake::asleep(seg.wake_word()), "the producer took the flag");
        // The word is AWAKE now, so the kernel's compare fails: no sleep at all.
        let r = seg.sleep_drain(Duration::from_secs(30)).unwrap();
        assert_eq!(r, Wakeup::Woken);
    }

    #[test]
    fn a_producer_in_another_mapping_wakes_a_sleeping_drain() {
        // Two mappings of one file, as two processes have: the futex is keyed by the file page.
        let dir = tempfile::tempdir().unwrap();
        let drain = segment(&dir);
        let producer =
            Segment::open(&dir.path().join("wake.ring"), &SegmentConfig::default()).unwrap();
        drain.announce_sleep();
        let t = std::thread::spawn(move || {
            // Wait until the drain has had time to block, then wake it.
            std::thread::sleep(Duration::from_millis(50));
            producer.notify_drain();
        });
        // The 30 s timeout is the watchdog: a lost wake ends the sleep as TimedOut.
        let r = drain.sleep_drain(Duration::from_secs(30)).unwrap();
        t.join().unwrap();
        assert_eq!(
            r,
            Wakeup::Woken,
            "the wake was lost: the sleep ran to its timeout"
        );
    }
}
