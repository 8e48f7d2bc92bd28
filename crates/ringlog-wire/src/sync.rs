//! One switch between `std` atomics and loom's model-checked ones.
//!
//! The ring protocol ([`crate::ring`]) takes every atomic from here, so `RUSTFLAGS="--cfg loom"`
//! model-checks the very code that runs in production (the crossbeam-utils `primitive` pattern).
//! Structures that are cast from raw shared memory (the segment header, the callsite index) use
//! `core` atomics directly: loom's atomics are not layout-compatible with memory they did not
//! create, and those structures are exercised by multi-thread and multi-process tests instead.

#[cfg(loom)]
pub use loom::sync::atomic::{AtomicU32, AtomicU64, Ordering};
#[cfg(not(loom))]
pub use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// A cell for slot bodies in heap-backed rings. Under loom it records every access so the model
/// checker reports a data race if the protocol ever lets a producer and the drain touch the same
/// body at once.
#[derive(Debug)]
pub(crate) struct BodyCell<T>(
    #[cfg(loom)] loom::cell::UnsafeCell<T>,
    #[cfg(not(loom))] core::cell::UnsafeCell<T>,
);

impl<T> BodyCell<T> {
    pub(crate) fn new(value: T) -> Self {
        #[cfg(loom)]
        {
            BodyCell(loom::cell::UnsafeCell::new(value))
        }
        #[cfg(not(loom))]
        {
            BodyCell(core::cell::UnsafeCell::new(value))
        }
    }

    /// Runs `f` with a shared pointer to the contents.
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        #[cfg(loom)]
        {
            self.0.with(f)
        }
        #[cfg(not(loom))]
        {
            f(self.0.get())
        }
    }

    /// Runs `f` with an exclusive pointer to the contents.
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        #[cfg(loom)]
        {
            self.0.with_mut(f)
        }
        #[cfg(not(loom))]
        {
            f(self.0.get())
        }
    }
}

/// An Acquire fence (loom's under `cfg(loom)`).
pub fn fence_acquire() {
    #[cfg(loom)]
    loom::sync::atomic::fence(Ordering::Acquire);
    #[cfg(not(loom))]
    std::sync::atomic::fence(Ordering::Acquire);
}

/// A Release fence (loom's under `cfg(loom)`).
pub fn fence_release() {
    #[cfg(loom)]
    loom::sync::atomic::fence(Ordering::Release);
    #[cfg(not(loom))]
    std::sync::atomic::fence(Ordering::Release);
}

/// A SeqCst fence (loom's under `cfg(loom)`).
pub fn fence_seq_cst() {
    #[cfg(loom)]
    loom::sync::atomic::fence(Ordering::SeqCst);
    #[cfg(not(loom))]
    std::sync::atomic::fence(Ordering::SeqCst);
}
