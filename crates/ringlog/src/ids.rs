//! Cached process and thread ids that stay right across `fork()`.
//!
//! `getpid`/`gettid` are system calls (~50-100 ns); a log call cannot afford one. We cache both
//! and register a `pthread_atfork` child handler that clears the caches, so the first log call in
//! a forked child reads its new ids.
//!
//! Nothing here waits on a lock a fork could inherit held: the handler is registered by
//! whichever thread wins a CAS (not `std::sync::Once`, whose waiters would block forever in a
//! child forked while another thread was registering), and until registration is complete the
//! pid is read but not cached.

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};

/// The cached pid; 0 means "read it again".
static PID: AtomicU32 = AtomicU32::new(0);
/// The `pthread_atfork` handler: `UNREGISTERED`, `REGISTERING` (by some thread) or
/// `REGISTERED`.
static ATFORK: AtomicU8 = AtomicU8::new(UNREGISTERED);
const UNREGISTERED: u8 = 0;
const REGISTERING: u8 = 1;
const REGISTERED: u8 = 2;

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
    let p = rustix::process::getpid().as_raw_nonzero().get() as u32;
    // A pid cached before the handler is registered would survive into a forked child, so
    // cache it only once it is.
    if atfork_registered() {
        // SYNC: Relaxed; see `pid`.
        PID.store(p, Ordering::Relaxed);
    }
    p
}

/// Registers the child handler unless some thread has; whether it is registered now. Never
/// waits: while another thread registers (or in a child forked during that), it says no.
fn atfork_registered() -> bool {
    // SYNC: Acquire; pairs with the Release store below (the registration happened).
    match ATFORK.load(Ordering::Acquire) {
        REGISTERED => true,
        UNREGISTERED => {
            // SYNC: Relaxed; the CAS only elects the registering thread.
            if ATFORK
                .compare_exchange(
                    UNREGISTERED,
                    REGISTERING,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_err()
            {
                return false;
            }
            // SAFETY: registering a handler is always allowed; the handler only stores to an
            // atomic and a const-initialised thread local without a destructor, both
            // async-signal-safe.
            let rc = unsafe { libc::pthread_atfork(None, None, Some(child_after_fork)) };
            debug_assert_eq!(rc, 0);
            // SYNC: Release; pairs with the Acquire load above in other threads.
            ATFORK.store(REGISTERED, Ordering::Release);
            true
        }
        _ => false,
    }
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
