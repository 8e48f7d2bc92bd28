//! The logger's per-target directives, replaced as a whole and read without a lock.
//!
//! A log call's cold path (resolving a callsite's level) reads the directives. With a `Mutex`,
//! a child forked while another thread held it inherited it locked and hung on its first log
//! call through an unresolved callsite. Here nothing a fork can inherit is ever waited for:
//!
//! * Readers count themselves in `readers`, load the `current` pointer and use the directives it
//!   points to; they never wait.
//! * [`FilterCell::set`] swaps in a new heap-allocated generation and pushes the old one on a
//!   lock-free stack of retired generations. It then takes the whole stack and frees it if no
//!   reader is counted at that moment, else puts it back for a later `set` (or `Drop`) to free.
//!
//! Why that is enough (every access is SeqCst, so all of them sit in one total order): a reader
//! that uses generation `g` counted itself before it loaded `g`, and loaded `g` before a writer
//! swapped `g` out; the swap precedes the push of `g`, the push precedes a writer taking the
//! stack, and that precedes the writer's load of `readers`. So that load sees the reader counted
//! unless the reader's decrement (a release operation the load then synchronises with) came
//! first. A child forked in the middle of a read or a `set` at worst keeps a count that never
//! falls to zero or loses a retired generation: a small leak in the child, never a hang.

use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering::SeqCst};

use super::Directives;

/// One generation of the directives.
struct Generation {
    directives: Option<Directives>,
    /// The next retired generation (only while this one is on the retired stack).
    next: AtomicPtr<Generation>,
}

impl Generation {
    fn boxed(directives: Option<Directives>) -> *mut Generation {
        Box::into_raw(Box::new(Generation {
            directives,
            next: AtomicPtr::new(ptr::null_mut()),
        }))
    }
}

/// Directives that any thread reads without a lock and a writer replaces as a whole.
pub(crate) struct FilterCell {
    /// The current generation; never null; owned by the cell.
    current: AtomicPtr<Generation>,
    /// Readers between their increment and decrement.
    readers: AtomicUsize,
    /// Top of the stack of generations swapped out but maybe still read (linked by `next`).
    retired: AtomicPtr<Generation>,
}

// SAFETY: the raw pointers are owned generations of `Option<Directives>` (Send + Sync data);
// sharing follows the protocol in the module docs.
unsafe impl Send for FilterCell {}
// SAFETY: as for Send.
unsafe impl Sync for FilterCell {}

impl std::fmt::Debug for FilterCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.read(|d| f.debug_tuple("FilterCell").field(&d).finish())
    }
}

/// Uncounts a reader however its read ends.
struct ReadGuard<'a>(&'a AtomicUsize);

impl Drop for ReadGuard<'_> {
    fn drop(&mut self) {
        // SYNC: SeqCst; see the module docs (a writer's load of `readers` synchronises with it).
        self.0.fetch_sub(1, SeqCst);
    }
}

impl FilterCell {
    pub(crate) fn new(directives: Option<Directives>) -> Self {
        FilterCell {
            current: AtomicPtr::new(Generation::boxed(directives)),
            readers: AtomicUsize::new(0),
            retired: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// Calls `f` with the current directives. Never waits.
    pub(crate) fn read<R>(&self, f: impl FnOnce(Option<&Directives>) -> R) -> R {
        // SYNC: SeqCst; see the module docs.
        self.readers.fetch_add(1, SeqCst);
        let _guard = ReadGuard(&self.readers);
        // SYNC: SeqCst; see the module docs.
        let g = self.current.load(SeqCst);
        // SAFETY: `g` is non-null and was current after we counted ourselves, so no writer
        // frees it until our guard uncounts us (module docs); nothing mutates `directives`.
        let directives = unsafe { &(*g).directives };
        f(directives.as_ref())
    }

    /// Replaces the directives. Never waits.
    pub(crate) fn set(&self, directives: Option<Directives>) {
        // SYNC: SeqCst; see the module docs.
        let old = self.current.swap(Generation::boxed(directives), SeqCst);
        // SAFETY: `old` was current, so it is a live generation no other writer holds; it is
        // not on the stack yet.
        unsafe { self.push_retired(old, old) };
        // SYNC: SeqCst; see the module docs.
        let list = self.retired.swap(ptr::null_mut(), SeqCst);
        if list.is_null() {
            return;
        }
        // SYNC: SeqCst; see the module docs.
        if self.readers.load(SeqCst) == 0 {
            // SAFETY: every generation on `list` was swapped out before we took it and no
            // reader is counted, so none is still read (module docs); taking the stack made
            // the list ours alone.
            unsafe { free_list(list) };
        } else {
            let mut tail = list;
            loop {
                // SYNC: SeqCst; the list is ours (taken above).
                // SAFETY: `tail` is a live generation on our list.
                let next = unsafe { (*tail).next.load(SeqCst) };
                if next.is_null() {
                    break;
                }
                tail = next;
            }
            // SAFETY: `list..=tail` is a chain of live generations we took off the stack.
            unsafe { self.push_retired(list, tail) };
        }
    }

    /// Pushes the chain `first..=last` (linked by `next`) on the retired stack.
    ///
    /// # Safety
    ///
    /// The chain's generations are live, swapped out of `current`, and on no stack.
    unsafe fn push_retired(&self, first: *mut Generation, last: *mut Generation) {
        // SYNC: SeqCst; see the module docs.
        let mut top = self.retired.load(SeqCst);
        loop {
            // SAFETY: `last` is live and ours until the CAS below publishes it.
            unsafe { (*last).next.store(top, SeqCst) };
            // SYNC: SeqCst; see the module docs.
            match self
                .retired
                .compare_exchange_weak(top, first, SeqCst, SeqCst)
            {
                Ok(_) => return,
                Err(now) => top = now,
            }
        }
    }
}

/// Frees a chain of generations.
///
/// # Safety
///
/// The caller owns every generation of the chain and nothing reads them any more.
unsafe fn free_list(mut g: *mut Generation) {
    while !g.is_null() {
        // SAFETY: the caller owns the chain; each generation came from `Box::into_raw`.
        let b = unsafe { Box::from_raw(g) };
        g = b.next.load(SeqCst);
    }
}

impl Drop for FilterCell {
    fn drop(&mut self) {
        // SAFETY: `&mut self`: no reader or writer is left; the current generation and the
        // retired chain are owned by the cell and each freed once.
        unsafe {
            free_list(*self.retired.get_mut());
            drop(Box::from_raw(*self.current.get_mut()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Level;

    #[test]
    fn readers_see_what_was_set_last() {
        let cell = FilterCell::new(None);
        assert!(cell.read(|d| d.is_none()));
        cell.set(Some("warn,a=debug".parse().unwrap()));
        assert!(cell.read(|d| d.unwrap().enabled("a", Level::Debug)));
        cell.set(None);
        assert!(cell.read(|d| d.is_none()));
    }

    #[test]
    fn a_generation_read_during_a_set_is_freed_later_not_under_the_reader() {
        let cell = FilterCell::new(Some("info".parse().unwrap()));
        cell.read(|d| {
            // A writer replaces the generation we are reading, twice; ours must stay intact.
            cell.set(Some("warn".parse().unwrap()));
            cell.set(None);
            assert!(d.unwrap().enabled("x", Level::Info));
        });
        assert!(!cell.retired.load(SeqCst).is_null(), "kept for later");
        cell.set(Some("debug".parse().unwrap()));
        assert!(
            cell.retired.load(SeqCst).is_null(),
            "freed once no reader was left"
        );
    }

    #[test]
    fn threads_read_while_others_replace() {
        let cell = FilterCell::new(Some("info".parse().unwrap()));
        let levels = ["error", "warn", "info", "debug", "trace"];
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    for _ in 0..20_000 {
                        cell.read(|d| {
                            let d = d.expect("always set");
                            assert!(d.enabled("x", Level::Error));
                        });
                    }
                });
            }
            s.spawn(|| {
                for i in 0..5_000 {
                    cell.set(Some(levels[i % levels.len()].parse().unwrap()));
                }
            });
        });
    }
}
