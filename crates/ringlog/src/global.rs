//! The process-wide logger behind the handle-less macros (`info!("...")`), as `log` and
//! `tracing` have one: set once with [`init`], read with one load per call.

use std::sync::atomic::{AtomicPtr, Ordering};

use crate::Logger;

/// The global logger: null until [`init`], then a leaked `Box<Logger>` that is never freed
/// (so a `&'static Logger` to it stays valid for the life of the process, and in a forked child
/// whose memory is a copy).
static GLOBAL: AtomicPtr<Logger> = AtomicPtr::new(core::ptr::null_mut());

/// [`init`] was called before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("ringlog::init was already called in this process (the global logger is set once)")]
pub struct AlreadyInitialized;

/// Makes `logger` the process's global logger, used by the macros called without a handle
/// (`info!("...")`) and available from [`global`]. Once per process: a second call returns
/// [`AlreadyInitialized`] and leaves the first logger in place. Before `init`, handle-less
/// calls do nothing (as `log`'s macros before `set_logger`).
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let logger = ringlog::Logger::builder().path(dir.path().join("app.ring")).slot_count(1024).open().unwrap();
/// ringlog::init(logger.clone()).unwrap();
/// ringlog::info!("served {} requests", 3u32);
/// assert!(ringlog::init(logger).is_err());
/// ```
pub fn init(logger: Logger) -> Result<(), AlreadyInitialized> {
    let boxed = Box::into_raw(Box::new(logger));
    // SYNC: Release on success publishes the fully built Logger; pairs with the Acquire load in
    // `get`. Acquire on failure: nothing is read through the current value.
    match GLOBAL.compare_exchange(
        core::ptr::null_mut(),
        boxed,
        Ordering::Release,
        Ordering::Acquire,
    ) {
        Ok(_) => Ok(()),
        Err(_) => {
            // SAFETY: `boxed` came from `Box::into_raw` just above and was not published (the
            // CAS failed), so this is its only owner.
            drop(unsafe { Box::from_raw(boxed) });
            Err(AlreadyInitialized)
        }
    }
}

/// The global logger, if [`init`] ran.
pub fn global() -> Option<&'static Logger> {
    get()
}

#[inline(always)]
pub(crate) fn get() -> Option<&'static Logger> {
    // SYNC: Acquire; pairs with the Release CAS in `init`, so the Logger it points to is fully
    // visible. (On x86-64 and AArch64 (`ldar`) this costs what a relaxed load does.)
    let p = GLOBAL.load(Ordering::Acquire);
    // SAFETY: a non-null value was published by `init` from `Box::into_raw` and is never freed
    // or written again, so it is a valid `Logger` for the rest of the process.
    unsafe { p.as_ref() }
}
