//! Running one test of this test binary again as a child process, for tests that need other
//! processes running this crate's code (several producers of one ring, say).
//!
//! The test starts its children with [`command`], each with a role; the same test function,
//! run in the child, finds its role with [`run_child`] and does the child's part instead of the
//! parent's. There is no separate "child" test that passes doing nothing in an ordinary run: the
//! child part runs exactly when the parent starts it, and [`expect_done`] checks that it really
//! ran to its end.
//!
//! ```no_run
//! use std::time::Duration;
//! use ringlog_testkit::reexec;
//!
//! const TEST: &str = "children_do_their_part";
//!
//! #[test]
//! fn children_do_their_part() {
//!     if reexec::run_child(|role| assert!(role.starts_with("worker"))) {
//!         return;
//!     }
//!     let child = reexec::command(TEST, "worker-0").spawn();
//!     reexec::expect_done(child, "worker-0", Duration::from_secs(60));
//! }
//! ```

use std::process::Output;
use std::time::Duration;

use crate::{Proc, TestCommand};

/// The environment variable carrying a child's role.
pub const ROLE_ENV: &str = "RINGLOG_TESTKIT_ROLE";

/// What a child prints when its part finished, followed by its role.
const DONE: &str = "ringlog-testkit: child part done: ";

/// This process's role if it is a child started by [`command`].
pub fn role() -> Option<String> {
    std::env::var(ROLE_ENV).ok()
}

/// In a child started by [`command`]: runs `body` with the role, prints the marker
/// [`expect_done`] looks for, and returns true (the test function then returns). In the parent:
/// returns false at once.
pub fn run_child(body: impl FnOnce(&str)) -> bool {
    let Some(role) = role() else {
        return false;
    };
    body(&role);
    // On a line of its own: the harness prints `test NAME ... ` before the test runs.
    println!("\n{DONE}{role}");
    true
}

/// This test binary running only `test` (`--exact`), as a child with `role`. Add the child's
/// inputs with [`TestCommand::env`].
pub fn command(test: &str, role: &str) -> TestCommand {
    let exe = std::env::current_exe().expect("the test executable's path");
    let mut cmd = TestCommand::new(exe);
    cmd.args([test, "--exact", "--nocapture", "--test-threads", "1"])
        .env(ROLE_ENV, role);
    cmd
}

/// Waits for a child (watchdog `limit`) and fails the test, with its output, unless it exited 0
/// having run its part to the end (not zero tests, not a filtered-out name).
pub fn expect_done(child: Proc, role: &str, limit: Duration) -> Output {
    let out = child.expect_success(limit);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.lines().any(|l| l == format!("{DONE}{role}")),
        "child {role} exited 0 but never finished its part:\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
