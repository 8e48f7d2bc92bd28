//! Runtime control from outside: the logger's side of the segment's control page
//! ([`ringlog_wire::control`]), which `ringdrain level RING DIRECTIVES` writes.
//!
//! The logger packs the generation of the control page it last applied and its effective
//! level into one word ([`FilterWord`]). [`Logger::enabled`](crate::Logger::enabled), which
//! every log call runs first, loads that word and the page's generation (one Relaxed load of
//! shared memory); when they differ it takes the cold path, [`Control::apply`]: read the page
//! under its seqlock, parse the directives, make them the logger's effective filter (or, on a
//! reset, go back to the logger's own), and take a new filter key so the macros' per-callsite
//! caches and the bridges' caches resolve again. A process that logs nothing applies nothing;
//! one that logs applies a change on its next call.
//!
//! One thread at a time applies or changes the filter: a small lock word holding the pid of
//! the thread's process. The hot path only ever *tries* it (a thread that finds it held goes
//! on with the filter it has and applies on a later call); `set_level`/`set_directives` wait for
//! it. A child forked while its parent held it finds another pid there and takes it over, so
//! nothing a fork inherits is ever waited for.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};

use ringlog_wire::control::{ControlBlock, ControlReadError};

use crate::filter::cell::FilterCell;
use crate::filter::Directives;

/// Bits of [`FilterWord`] that hold the level.
const LEVEL_BITS: u32 = 8;

/// `applied_generation << 8 | level`: the control generation this logger last applied (its low
/// 56 bits) and its effective most verbose level ([`Level::verbosity`](crate::Level::verbosity),
/// 0: off). One word so the hot path checks both with one local load.
#[derive(Debug)]
pub(crate) struct FilterWord(AtomicU64);

impl FilterWord {
    pub(crate) fn new(generation: u64, level: u8) -> Self {
        FilterWord(AtomicU64::new(pack(generation, level)))
    }

    /// The word (Relaxed: a filter setting; no data depends on it).
    #[inline(always)]
    pub(crate) fn load(&self) -> u64 {
        // SYNC: Relaxed; an advisory filter: a call racing a change may use either setting.
        self.0.load(Ordering::Relaxed)
    }

    fn store(&self, generation: u64, level: u8) {
        // SYNC: Relaxed; see `load`.
        self.0.store(pack(generation, level), Ordering::Relaxed)
    }
}

fn pack(generation: u64, level: u8) -> u64 {
    generation << LEVEL_BITS | level as u64
}

/// Whether the filter word was computed under control generation `generation`.
#[inline(always)]
pub(crate) fn is_current(word: u64, generation: u64) -> bool {
    word >> LEVEL_BITS == generation & (u64::MAX >> LEVEL_BITS)
}

/// The level in a filter word.
#[inline(always)]
pub(crate) fn level_of(word: u64) -> u8 {
    word as u8
}

/// A pointer to the segment's control page that lives in the same `Inner` as the segment
/// mapping it points into.
#[derive(Debug)]
pub(crate) struct ControlRef(NonNull<ControlBlock>);

// SAFETY: a `ControlBlock` is atomics only (Sync); the pointer is only dereferenced as a shared
// reference while the owning `Inner`, and so the mapping, is alive.
unsafe impl Send for ControlRef {}
// SAFETY: as for Send.
unsafe impl Sync for ControlRef {}

impl ControlRef {
    pub(crate) fn new(block: &ControlBlock) -> Self {
        ControlRef(NonNull::from(block))
    }

    #[inline(always)]
    pub(crate) fn get(&self) -> &ControlBlock {
        // SAFETY: the pointer came from `Segment::control` of the segment stored beside it in
        // the same `Inner`; the mapping is never unmapped or moved while the `Inner` lives, and
        // the borrow returned cannot outlive `self` (and so the `Inner`).
        unsafe { self.0.as_ref() }
    }
}

/// The logger's own filter, the one in effect, and who may change them.
#[derive(Debug)]
pub(crate) struct Control {
    /// Pid of the process whose thread is applying or changing the filter (0: nobody).
    lock: AtomicU32,
    /// Directives set from outside are in effect (1) or the logger's own (0). Written under
    /// `lock`.
    overridden: AtomicU8,
    /// The logger's own directives (`set_directives`, the builder; `None`: level only).
    own: FilterCell,
    /// The logger's own level.
    own_level: AtomicU8,
}

/// What the filter should become.
pub(crate) struct Effective {
    pub(crate) directives: Option<Directives>,
    pub(crate) level: u8,
}

impl Control {
    pub(crate) fn new(own: Option<Directives>, own_level: u8) -> Self {
        Control {
            lock: AtomicU32::new(0),
            overridden: AtomicU8::new(0),
            own: FilterCell::new(own),
            own_level: AtomicU8::new(own_level),
        }
    }

    /// Whether directives from the control page are in effect.
    pub(crate) fn overridden(&self) -> bool {
        // SYNC: Relaxed; a status for callers, written under `lock`.
        self.overridden.load(Ordering::Relaxed) != 0
    }

    /// Takes the lock for this process's `pid`; `wait`: wait for another thread of this
    /// process that holds it, else give up (`false`).
    fn lock(&self, pid: u32, wait: bool) -> bool {
        let mut backoff = 0u32;
        loop {
            // SYNC: Acquire; pairs with the Release store in `unlock`, so the holder sees the
            // previous holder's writes to `overridden` and `own_level`.
            let held =
                match self
                    .lock
                    .compare_exchange(0, pid, Ordering::Acquire, Ordering::Relaxed)
                {
                    Ok(_) => return true,
                    Err(held) => held,
                };
            if held != pid {
                // Held by the process we were forked from: its thread is not in this process.
                // SYNC: Acquire; as above.
                if self
                    .lock
                    .compare_exchange(held, pid, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    return true;
                }
                continue;
            }
            if !wait {
                return false;
            }
            backoff += 1;
            if backoff < 64 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }

    fn unlock(&self) {
        // SYNC: Release; pairs with the Acquire CAS in `lock`.
        self.lock.store(0, Ordering::Release);
    }

    /// Replaces the logger's own filter; returns what the effective one becomes (`None`:
    /// directives from the control page stay in effect). `commit` runs under the lock.
    pub(crate) fn set_own(
        &self,
        pid: u32,
        directives: Option<Directives>,
        level: u8,
        commit: impl FnOnce(Option<Effective>),
    ) {
        self.lock(pid, true);
        self.own.set(directives.clone());
        // SYNC: Relaxed; written and read under `lock`.
        self.own_level.store(level, Ordering::Relaxed);
        if self.overridden() {
            commit(None);
        } else {
            commit(Some(Effective { directives, level }));
        }
        self.unlock();
    }

    /// The cold path of a log call that saw the control generation change: reads the page and
    /// returns what the effective filter becomes and the generation it is for, under the lock,
    /// to `commit`. Does nothing if another thread of this process holds the lock (it is
    /// applying, or changing the filter; this call goes on with the filter it has).
    #[cold]
    #[inline(never)]
    pub(crate) fn apply(
        &self,
        pid: u32,
        block: &ControlBlock,
        seen: u64,
        current: impl FnOnce() -> u64,
        commit: impl FnOnce(u64, Option<Effective>),
    ) {
        if !self.lock(pid, false) {
            return;
        }
        // Another thread may have applied `seen` while we took the lock.
        if is_current(current(), seen) {
            self.unlock();
            return;
        }
        let effective = match block.read() {
            Ok(state) => {
                let effective = match state.directives {
                    Some(text) => match text.parse::<Directives>() {
                        Ok(d) => {
                            // SYNC: Relaxed; under `lock`.
                            self.overridden.store(1, Ordering::Relaxed);
                            let level = d.max_level().map_or(0, |l| l as u8);
                            Some(Effective {
                                directives: Some(d),
                                level,
                            })
                        }
                        // Text that does not parse (`ringdrain level` checks it, so another
                        // writer): keep the filter in effect.
                        Err(_) => None,
                    },
                    None => {
                        // SYNC: Relaxed; under `lock`.
                        self.overridden.store(0, Ordering::Relaxed);
                        Some(Effective {
                            directives: self.own.read(|d| d.cloned()),
                            // SYNC: Relaxed; under `lock`.
                            level: self.own_level.load(Ordering::Relaxed),
                        })
                    }
                };
                commit(state.generation, effective);
                self.unlock();
                return;
            }
            // A change being written: it bumps the generation when complete, and this process
            // applies it then. Damaged text: nothing to apply. Either way keep the filter and
            // record `seen` so the hot path stops coming here.
            Err(ControlReadError::Busy) | Err(ControlReadError::Corrupt(_)) => None,
        };
        commit(seen, effective);
        self.unlock();
    }
}

impl FilterWord {
    /// Stores a new level under the generation already applied.
    pub(crate) fn set_level(&self, level: u8) {
        let generation = self.load() >> LEVEL_BITS;
        self.store(generation, level);
    }

    /// Stores a new generation and level.
    pub(crate) fn set(&self, generation: u64, level: u8) {
        self.store(generation, level);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_word_is_current_only_for_its_generation() {
        let w = FilterWord::new(7, 3);
        assert!(is_current(w.load(), 7));
        assert!(!is_current(w.load(), 8));
        assert_eq!(level_of(w.load()), 3);
        w.set_level(5);
        assert!(is_current(w.load(), 7));
        assert_eq!(level_of(w.load()), 5);
        // Generations past 56 bits compare on their low bits (they never get there).
        let big = (1u64 << 56) + 9;
        w.set(big, 1);
        assert!(is_current(w.load(), big));
    }

    #[test]
    fn the_lock_is_taken_over_from_another_process_but_not_from_our_own_threads() {
        let c = Control::new(None, 3);
        assert!(c.lock(100, false));
        assert!(!c.lock(100, false), "held by a thread of this process");
        assert!(c.lock(200, false), "a forked child takes it over");
        c.unlock();
        assert!(c.lock(100, false));
    }
}
