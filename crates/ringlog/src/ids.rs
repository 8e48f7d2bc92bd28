//! Cached process and thread ids that stay right across `fork()`.
//!
//! `getpid`/`gettid` are system calls (~50-100 ns); a log call cannot afford one. We cache both
//! and register a `pthread_atfork` child handler that clears the caches, so the first log call in
//! a forked child reads its new ids.

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Once;

/// The cached pid; 0 means "read it again".
static PID: AtomicU32 = AtomicU32::new(0);
static ATFORK: Once = Once::new();

thread_local! {
    static TID: Cell<u32> = const { Cell::new(0) };
}

extern "C" fn child_after_fork() {
    // SYNC: Relaxed; the child has a single thread right now (the one running this handler).
    PID.store(0, Ordering::Relaxed);
    let _ = TID.try_with(|t| t.set(0));
}

/// The current process id.
#[inline(always)]
pub fn pid() -> u32 {
    // SYNC: Relaxed; the value is only ever this process's pid (or 0 to force a re-read).
    match PID.load(Ordering::Relaxed) {
        0 => refresh_pid(),
        p => p,
    }
}

#[cold]
fn refresh_pid() -> u32 {
    ATFORK.call_once(|| {
        // SAFETY: registering a handler is always allowed; the handler only stores to an atomic
        // and a const-initialised thread local without a destructor, both async-signal-safe.
        let rc = unsafe { libc::pthread_atfork(None, None, Some(child_after_fork)) };
        debug_assert_eq!(rc, 0);
    });
    let p = rustix::process::getpid().as_raw_nonzero().get() as u32;
    // SYNC: Relaxed; see `pid`.
    PID.store(p, Ordering::Relaxed);
    p
}

/// The current thread id.
#[inline(always)]
pub fn tid() -> u32 {
    TID.with(|t| match t.get() {
        0 => {
            let id = rustix::thread::gettid().as_raw_nonzero().get() as u32;
            t.set(id);
            id
        }
        id => id,
    })
}
