//! A small insert-only concurrent map from callsite descriptions to ringlog callsite ids, so
//! the steady state of a bridged log call is a lookup (loads, no lock, no read-modify-write)
//! rather than a registration in the segment's table (which encodes and allocates).
//!
//! Open addressing with linear probing over a fixed array of `AtomicPtr`s. An entry is boxed,
//! published once with a CAS from null (Release) and never moved or removed until the cache is
//! dropped, so a reader that sees a pointer (Acquire) may use the entry for as long as it
//! borrows the cache. Because slots only ever go from null to an entry, a lookup may stop at
//! the first null slot: an entry is always placed at the first null slot of its probe
//! sequence at the time it was inserted. Probing is bounded ([`MAX_PROBES`]); a callsite that
//! finds no room is registered on every call instead (correct, only slower: the segment's
//! table deduplicates by content).

use core::marker::PhantomData;
use core::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Mutex;

/// Slots in a cache (entries it can hold, at most).
pub const SLOTS: usize = 4096;
/// Most slots a lookup or insertion visits.
pub const MAX_PROBES: usize = 64;

struct Slot<E> {
    hash: u64,
    entry: E,
}

/// What [`IdCache::get_or_insert_with`] found.
pub enum Got<'a, E> {
    /// The entry, cached.
    Cached(&'a E),
    /// The cache had no room near `hash`: a fresh entry the caller uses once.
    Uncached(E),
}

/// The map (see the module docs).
pub struct IdCache<E> {
    /// Each slot is null or a pointer from `Box::into_raw(Box<Slot<E>>)`, published with
    /// Release and never changed again until `drop`.
    slots: Box<[AtomicPtr<Slot<E>>]>,
    mask: usize,
    /// Entries are created on one thread, read on any and dropped on whichever drops the
    /// cache: the cache is `Send` only if `E: Send`, `Sync` only if `E: Send + Sync`.
    _owns: PhantomData<(Box<E>, Mutex<E>)>,
}

impl<E> IdCache<E> {
    /// An empty cache of `slots` slots (rounded up to a power of two).
    pub fn new(slots: usize) -> Self {
        let n = slots.max(1).next_power_of_two();
        IdCache {
            slots: (0..n).map(|_| AtomicPtr::new(ptr::null_mut())).collect(),
            mask: n - 1,
            _owns: PhantomData,
        }
    }

    /// The entry for `hash` that `is_it` accepts, or a new one from `make` (inserted if there is
    /// room; `make` runs at most once). If two threads insert the same entry at once, one wins
    /// and both use it.
    #[inline]
    pub fn get_or_insert_with(
        &self,
        hash: u64,
        is_it: impl Fn(&E) -> bool,
        make: impl Fn() -> E,
    ) -> Got<'_, E> {
        let mut i = hash as usize & self.mask;
        let mut mine: Option<Box<Slot<E>>> = None;
        for _ in 0..MAX_PROBES.min(self.slots.len()) {
            // SYNC: Acquire; pairs with the Release CAS below that published the slot, so the
            // entry's fields are visible before we read them.
            let mut cur = self.slots[i].load(Ordering::Acquire);
            if cur.is_null() {
                let raw = Box::into_raw(mine.take().unwrap_or_else(|| {
                    Box::new(Slot {
                        hash,
                        entry: make(),
                    })
                }));
                // SYNC: AcqRel; Release publishes our entry (pairs with the Acquire loads
                // above); Acquire on failure lets us read the competitor's entry.
                match self.slots[i].compare_exchange(
                    ptr::null_mut(),
                    raw,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    // SAFETY: `raw` came from Box::into_raw and now belongs to the cache, which
                    // frees it only in `drop` (needs `&mut self`, so not while we borrow it).
                    Ok(_) => return Got::Cached(unsafe { &(*raw).entry }),
                    Err(other) => {
                        // SAFETY: the CAS failed, so `raw` was never published: we still own
                        // it alone and take the box back.
                        mine = Some(unsafe { Box::from_raw(raw) });
                        cur = other;
                    }
                }
            }
            // SAFETY: non-null slots point at live boxed entries owned by the cache until
            // `drop` (see the field docs); we only read them.
            let slot = unsafe { &*cur };
            if slot.hash == hash && is_it(&slot.entry) {
                return Got::Cached(&slot.entry);
            }
            i = (i + 1) & self.mask;
        }
        Got::Uncached(mine.map_or_else(make, |b| b.entry))
    }
}

impl<E> Drop for IdCache<E> {
    fn drop(&mut self) {
        for s in self.slots.iter_mut() {
            let p = *s.get_mut();
            if !p.is_null() {
                // SAFETY: every non-null slot holds a pointer from Box::into_raw that the cache
                // owns; `&mut self` means no reader is left, and each slot is freed once.
                drop(unsafe { Box::from_raw(p) });
            }
        }
    }
}

/// A fast, non-cryptographic hash of the strings and numbers that describe a callsite (the
/// cache compares full contents, so collisions only cost a probe).
#[derive(Clone, Copy)]
pub struct Hash(u64);

impl Default for Hash {
    fn default() -> Self {
        Hash::new()
    }
}

impl Hash {
    const K: u64 = 0x517c_c1b7_2722_0a95;

    /// An empty hash.
    pub fn new() -> Self {
        Hash(0)
    }

    /// Mixes in a number.
    #[inline]
    pub fn u64(self, w: u64) -> Self {
        Hash((self.0.rotate_left(5) ^ w).wrapping_mul(Self::K))
    }

    /// Mixes in a string.
    #[inline]
    pub fn str(self, s: &str) -> Self {
        self.bytes(s.as_bytes())
    }

    /// Mixes in bytes (and their length).
    #[inline]
    pub fn bytes(mut self, b: &[u8]) -> Self {
        let mut chunks = b.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self = self.u64(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        self.u64(u64::from_le_bytes(w)).u64(b.len() as u64)
    }

    /// The hash value.
    pub fn finish(self) -> u64 {
        // Fold the high bits (the multiply puts its best bits there) into the low ones the
        // slot index uses.
        self.0 ^ (self.0 >> 29) ^ (self.0 >> 47)
    }
}

/// So keys that implement `std::hash::Hash` (tracing's callsite `Identifier`) can be hashed.
impl std::hash::Hasher for Hash {
    fn write(&mut self, bytes: &[u8]) {
        *self = self.bytes(bytes);
    }

    fn write_usize(&mut self, n: usize) {
        *self = self.u64(n as u64);
    }

    fn finish(&self) -> u64 {
        Hash::finish(*self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn cached<E: Copy>(g: Got<'_, E>) -> Option<E> {
        match g {
            Got::Cached(e) => Some(*e),
            Got::Uncached(_) => None,
        }
    }

    #[test]
    fn an_entry_is_made_once_and_then_found() {
        let c = IdCache::<(u32, u32)>::new(16);
        let made = AtomicUsize::new(0);
        let get = |k: u32| {
            cached(c.get_or_insert_with(
                k as u64,
                |e| e.0 == k,
                || {
                    // SYNC: Relaxed; a counter read after the calls on this thread.
                    made.fetch_add(1, Ordering::Relaxed);
                    (k, k * 10)
                },
            ))
        };
        assert_eq!(get(3), Some((3, 30)));
        assert_eq!(get(3), Some((3, 30)));
        assert_eq!(get(4), Some((4, 40)));
        // SYNC: Relaxed; same thread as the increments.
        assert_eq!(made.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn equal_hashes_with_different_entries_probe_on() {
        let c = IdCache::<u32>::new(16);
        for k in 0..5u32 {
            assert_eq!(
                cached(c.get_or_insert_with(7, |e| *e == k, || k)),
                Some(k),
                "insert {k}"
            );
        }
        for k in 0..5u32 {
            assert_eq!(
                cached(c.get_or_insert_with(7, |e| *e == k, || 99)),
                Some(k),
                "find {k}"
            );
        }
    }

    #[test]
    fn a_full_cache_hands_out_uncached_entries() {
        let c = IdCache::<u32>::new(4);
        for k in 0..4u32 {
            assert!(cached(c.get_or_insert_with(k as u64, |e| *e == k, || k)).is_some());
        }
        match c.get_or_insert_with(1, |e| *e == 100, || 100) {
            Got::Uncached(e) => assert_eq!(e, 100),
            Got::Cached(_) => panic!("a full cache cannot cache"),
        }
        // Existing entries are still found.
        assert_eq!(cached(c.get_or_insert_with(2, |e| *e == 2, || 0)), Some(2));
    }

    #[test]
    fn racing_threads_agree_on_one_entry() {
        let c = IdCache::<(u32, usize)>::new(64);
        let ids: Vec<usize> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..4)
                .map(|t| {
                    let c = &c;
                    s.spawn(move || {
                        let mut seen = 0;
                        for k in 0..32u32 {
                            if let Got::Cached(e) =
                                c.get_or_insert_with(k as u64 % 5, |e| e.0 == k, || (k, t))
                            {
                                if k == 31 {
                                    seen = e.1;
                                }
                            }
                        }
                        seen
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(ids.windows(2).all(|w| w[0] == w[1]), "{ids:?}");
    }

    #[test]
    fn hashes_tell_similar_strings_apart() {
        let h = |s: &str| Hash::new().bytes(s.as_bytes()).finish();
        assert_ne!(h("src/a.rs"), h("src/b.rs"));
        assert_ne!(h("abcdefgh"), h("abcdefgh\0"));
        assert_ne!(h(""), h("\0"));
        assert_eq!(h("same"), h("same"));
    }
}
