//! `fork()` in a test: the child runs a closure and `_exit`s, the parent waits under a watchdog.

use std::time::{Duration, Instant};

/// A forked child process (see [`fork_child`]).
#[derive(Debug)]
pub struct Forked {
    pid: libc::pid_t,
}

/// Forks. The child runs `body` and ends with `_exit(0)`, or `_exit(1)` if `body` panicked (it
/// never unwinds into the test harness, never runs destructors or atexit handlers). The parent
/// gets the child to wait for.
///
/// # Safety
///
/// `fork` in a process with other threads leaves the child with only the calling thread and
/// every lock as it was: `body` must not take a lock another thread could have held (the
/// allocator's included, unless the test means to show the hazard under a watchdog) and must
/// not rely on other threads.
pub unsafe fn fork_child(body: impl FnOnce()) -> Forked {
    // SAFETY: the caller upholds what the child may do (this function's # Safety); the parent
    // side only records the pid.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed: {}", std::io::Error::last_os_error());
    if pid == 0 {
        let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)).is_ok();
        // SAFETY: ends the child at once, as a forked child of a threaded process must: no
        // destructors (the parent's temp dir stays), no atexit handlers, no harness.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    Forked { pid }
}

impl Forked {
    /// The child's pid.
    pub fn pid(&self) -> u32 {
        self.pid as u32
    }

    /// Waits for the child; fails the test if it does not exit within `limit` (then it is
    /// killed: a hang detector, not a timing assertion), if a signal ended it, or if it did not
    /// exit 0 (its body panicked).
    pub fn expect_success(self, what: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        let mut status = 0;
        loop {
            // SAFETY: waits for our own child without blocking; `status` is a valid out pointer.
            let waited = unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) };
            assert!(waited >= 0, "waitpid: {}", std::io::Error::last_os_error());
            if waited == self.pid {
                break;
            }
            if Instant::now() > deadline {
                // SAFETY: kill(2) and a blocking waitpid on our own child touch no memory of
                // ours but `status`.
                unsafe {
                    libc::kill(self.pid, libc::SIGKILL);
                    libc::waitpid(self.pid, &mut status, 0);
                }
                panic!(
                    "watchdog: {what}: the forked child did not exit within {limit:?}; it hangs"
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "{what}: the forked child ended with status {status:#x} (exit 1: its body panicked)"
        );
    }
}
