//! The drain lease: the one right to consume a segment's ring.
//!
//! The ring has many producers and exactly one consumer; two consumers would free slots under
//! each other's reads and let producers overwrite records being copied. The rule is a type here
//! (as iceoryx2's `acquire_consumer` hands out its queue's one consumer): a
//! [`Reader`](crate::reader::Reader) can only be built from a [`DrainLease`], and
//! [`Segment::acquire_drain`] hands out at most one lease per segment across every process. The
//! lease is a CAS on the segment's `drain.pid` word: from 0, or from a pid that is dead, to ours.
//! Dropping the lease stores 0 again. Next to the pid the holder records its process stamp (pid
//! and start time, `drain.pid_stamp`), so a pid reused by another process, or a forged lease
//! naming a living process with another start time, does not hold off a new drain.

use std::path::PathBuf;
use std::sync::atomic::Ordering;

#[cfg(test)]
use crate::pid_alive;
use crate::{clock, process_alive, Segment};

/// The segment already has a drain: a live process holds its lease.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a drain (pid {pid}) is already draining {}", path.display())]
pub struct AlreadyDraining {
    /// The holder's pid (possibly this process).
    pub pid: u32,
    /// The segment.
    pub path: PathBuf,
}

/// The right to consume a segment's ring: at most one exists per segment at a time, across
/// all processes. Build the consuming [`Reader`](crate::reader::Reader) from it
/// ([`DrainLease::reader`]); dropping it (or the reader that owns it) gives the right back, and
/// if the holder dies, the next [`Segment::acquire_drain`] takes it over.
///
/// A child forked from the holder inherits a copy but not the lease: the segment names the
/// holder's pid, and the copy's drop leaves it alone. (Using the inherited reader in the child
/// would make a second consumer; `fork` is `unsafe`, and a forked child of a threaded process
/// may do little anyway.)
#[derive(Debug)]
pub struct DrainLease<'s> {
    segment: &'s Segment,
    pid: u32,
}

impl Segment {
    /// Takes the segment's drain lease, unless a living process (this one included) holds it.
    ///
    /// A lease left by a process that died is taken over; the dead drain's checkpoint is then
    /// visible to the new holder. Also stamps the drain heartbeat, so producers see a drain at
    /// once.
    pub fn acquire_drain(&self) -> Result<DrainLease<'_>, AlreadyDraining> {
        let me = std::process::id();
        let mine = crate::own_stamp();
        let d = &self.shared().drain;
        loop {
            // SYNC: Acquire; pairs with the Release in the previous holder's drop, so its
            // checkpoint and released slots are visible to us, and with the Release of the
            // holder's CAS below, so its stamp (stored before) is visible too.
            let cur = d.pid.load(Ordering::Acquire);
            if cur != 0 {
                // SYNC: Relaxed; ordered after the Acquire above (see there).
                let stamp = d.pid_stamp.load(Ordering::Relaxed);
                if process_alive(cur, stamp) {
                    return Err(AlreadyDraining {
                        pid: cur,
                        path: self.path().to_path_buf(),
                    });
                }
                // Dead (or a pid now running another process): free the lease, then take it
                // as if it were free. The stamp CAS first is what makes the judgement ours: a
                // process with the dead drain's pid that took the lease in between stored its
                // own stamp, so our CAS fails and we look again (the pid CAS alone could not
                // tell the two apart).
                // SYNC: Relaxed; the pid CAS below orders everything that matters.
                if d.pid_stamp
                    .compare_exchange(stamp, 0, Ordering::Relaxed, Ordering::Relaxed)
                    .is_err()
                {
                    continue;
                }
                // SYNC: AcqRel; Acquire as the load above. Only one of several processes
                // replacing the same dead pid succeeds.
                let _ = d
                    .pid
                    .compare_exchange(cur, 0, Ordering::AcqRel, Ordering::Acquire);
                continue;
            }
            // Our stamp goes in before the pid that it describes (a failed CAS leaves it next
            // to another pid, where it says nothing).
            // SYNC: Relaxed; published by the Release of the CAS below.
            d.pid_stamp.store(mine, Ordering::Relaxed);
            // SYNC: AcqRel; Acquire as above, Release publishes our claim and our stamp.
            if d.pid
                .compare_exchange(0, me, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                // SYNC: Relaxed; a liveness hint for producers (Logger::drain_alive).
                d.heartbeat_ns.store(clock::unix_ns(), Ordering::Relaxed);
                return Ok(DrainLease {
                    segment: self,
                    pid: me,
                });
            }
        }
    }

    /// Whether a living drain holds the lease (pid and start time, see [`process_alive`]).
    pub fn drain_alive(&self) -> bool {
        let d = &self.shared().drain;
        // SYNC: Acquire; pairs with the Release of the holder's CAS (its stamp is stored
        // before), as in `acquire_drain`.
        let pid = d.pid.load(Ordering::Acquire);
        // SYNC: Relaxed; ordered after the Acquire above.
        pid != 0 && process_alive(pid, d.pid_stamp.load(Ordering::Relaxed))
    }
}

impl<'s> DrainLease<'s> {
    /// The leased segment.
    pub fn segment(&self) -> &'s Segment {
        self.segment
    }

    /// The holder's pid.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The ring's consuming reader, which owns the lease from now on.
    pub fn reader(self) -> crate::reader::Reader<'s> {
        crate::reader::Reader::new(self)
    }
}

impl Drop for DrainLease<'_> {
    fn drop(&mut self) {
        if std::process::id() != self.pid {
            return; // a copy in a forked child: the lease is the parent's
        }
        // SYNC: Release; pairs with the Acquire in the next holder's acquire_drain.
        let _ = self.segment.shared().drain.pid.compare_exchange(
            self.pid,
            0,
            Ordering::Release,
            Ordering::Relaxed,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SegmentConfig;

    fn segment(dir: &tempfile::TempDir) -> Segment {
        let config = SegmentConfig {
            slot_count: 256,
            callsite_bytes: 64 * 1024,
            callsite_index_slots: 256,
            ..SegmentConfig::default()
        };
        Segment::create_or_open(&dir.path().join("lease"), &config)
            .unwrap()
            .0
    }

    #[test]
    fn a_second_lease_is_refused_while_the_first_is_held() {
        let dir = tempfile::tempdir().unwrap();
        let seg = segment(&dir);
        let lease = seg.acquire_drain().unwrap();
        assert_eq!(lease.pid(), std::process::id());
        let e = seg.acquire_drain().unwrap_err();
        assert_eq!(e.pid, std::process::id());
        assert_eq!(
            e.to_string(),
            format!(
                "a drain (pid {}) is already draining {}",
                std::process::id(),
                seg.path().display()
            )
        );
        // Another mapping of the same file sees the same lease.
        let other = Segment::open(seg.path(), &SegmentConfig::default()).unwrap();
        assert!(other.acquire_drain().is_err());
        // Also while the lease is inside a reader.
        let reader = lease.reader();
        assert!(seg.acquire_drain().is_err());
        drop(reader);
        assert!(other.acquire_drain().is_ok());
    }

    #[test]
    fn dropping_the_lease_lets_the_next_drain_in() {
        let dir = tempfile::tempdir().unwrap();
        let seg = segment(&dir);
        drop(seg.acquire_drain().unwrap());
        // SYNC: Relaxed; single-threaded test.
        assert_eq!(seg.shared().drain.pid.load(Ordering::Relaxed), 0);
        let again = seg.acquire_drain().unwrap();
        assert!(seg.acquire_drain().is_err());
        drop(again);
        assert!(seg.acquire_drain().is_ok());
    }

    #[test]
    fn a_lease_held_by_a_dead_process_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let seg = segment(&dir);
        // A real process that exited and was reaped: its pid is dead (unless reused at once).
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        assert!(!pid_alive(dead));
        // SYNC: Relaxed; single-threaded test (the dead drain's claim, as it left it).
        seg.shared().drain.pid.store(dead, Ordering::Relaxed);
        let lease = seg.acquire_drain().unwrap();
        assert_eq!(lease.pid(), std::process::id());
        // SYNC: Relaxed; single-threaded test.
        assert_eq!(
            seg.shared().drain.pid.load(Ordering::Relaxed),
            std::process::id()
        );
    }

    #[test]
    fn a_lease_held_by_a_living_process_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let seg = segment(&dir);
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        // SYNC: Relaxed; single-threaded test (another process's claim).
        seg.shared().drain.pid.store(child.id(), Ordering::Relaxed);
        let e = seg.acquire_drain().unwrap_err();
        assert_eq!(e.pid, child.id());
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(seg.acquire_drain().is_ok(), "taken over once it died");
    }

    /// A lease naming a living process (init, our parent) with a start time that is not that
    /// process's, and a stale heartbeat: forged, or left by a drain whose pid was reused. It
    /// does not hold off a new drain (issue 14).
    #[test]
    fn a_lease_naming_a_live_pid_with_a_wrong_start_time_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let seg = segment(&dir);
        let parent = rustix::process::getppid().map_or(1, |p| p.as_raw_nonzero().get() as u32);
        for live in [1, parent] {
            assert!(pid_alive(live), "pid {live} is alive");
            let real = crate::process_start_ticks(live).expect("/proc/PID/stat is readable");
            let d = &seg.shared().drain;
            // SYNC: Relaxed; single-threaded test (the forger's words).
            d.pid.store(live, Ordering::Relaxed);
            d.pid_stamp.store(
                ringlog_wire::layout::process_stamp(live, real + 7),
                Ordering::Relaxed,
            );
            d.heartbeat_ns.store(1, Ordering::Relaxed);
            let lease = seg
                .acquire_drain()
                .unwrap_or_else(|e| panic!("a forged lease naming pid {live} held us off: {e}"));
            assert_eq!(lease.pid(), std::process::id());
            // SYNC: Relaxed; single-threaded test.
            assert_eq!(d.pid_stamp.load(Ordering::Relaxed), crate::own_stamp());
            drop(lease);
        }
    }

    /// The same lease with the process's real start time (or none recorded, as an older
    /// drain leaves it) still holds: only a proven mismatch counts as dead.
    #[test]
    fn a_lease_naming_a_live_pid_with_its_start_time_or_none_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let seg = segment(&dir);
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id();
        let d = &seg.shared().drain;
        for stamp in [crate::process_stamp(pid), 0] {
            // SYNC: Relaxed; single-threaded test (another process's claim).
            d.pid.store(pid, Ordering::Relaxed);
            d.pid_stamp.store(stamp, Ordering::Relaxed);
            assert_eq!(
                seg.acquire_drain().unwrap_err().pid,
                pid,
                "stamp {stamp:#x}"
            );
        }
        assert_ne!(
            crate::process_stamp(pid),
            0,
            "/proc tells the child's start time"
        );
        // Our own lease, with our own stamp, is seen alive.
        child.kill().unwrap();
        child.wait().unwrap();
        let lease = seg.acquire_drain().unwrap();
        assert_ne!(crate::own_stamp(), 0);
        // SYNC: Relaxed; single-threaded test.
        assert_eq!(d.pid_stamp.load(Ordering::Relaxed), crate::own_stamp());
        assert_eq!(seg.acquire_drain().unwrap_err().pid, std::process::id());
        drop(lease);
    }
}
