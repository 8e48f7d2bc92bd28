//! A `ringdrain` process.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use crate::{Proc, TestCommand, PATIENCE};

/// A running `ringdrain`, killed if the test drops it without stopping it. With the `segment`
/// feature, [`segment::wait_attached`](crate::segment::wait_attached) waits until it has
/// attached to its ring (its signal handlers are installed by then).
#[derive(Debug)]
pub struct Drain {
    proc: Proc,
}

impl Drain {
    /// The `ringdrain` command (the binary next to the tests, see [`find_bin`](crate::find_bin)).
    pub fn command() -> TestCommand {
        TestCommand::new(crate::bin!("ringdrain"))
    }

    /// Starts `ringdrain --ring RING --out OUT EXTRA...`.
    pub fn start(ring: &Path, out: &Path, extra: &[&str]) -> Drain {
        Drain::spawn(
            Drain::command()
                .arg("--ring")
                .arg(ring)
                .arg("--out")
                .arg(out)
                .args(extra),
        )
    }

    /// Starts `cmd` (made from [`Drain::command`]).
    pub fn spawn(cmd: &mut TestCommand) -> Drain {
        Drain { proc: cmd.spawn() }
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.proc.id()
    }

    /// Sends `sig`.
    pub fn signal(&self, sig: i32) {
        self.proc.signal(sig);
    }

    /// What it wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.proc.stderr()
    }

    /// SIGTERM, then waits (watchdog [`PATIENCE`]) and fails the test, showing its output,
    /// unless it exits 0. Returns its output.
    pub fn stop(self) -> Output {
        self.stop_within(PATIENCE)
    }

    /// [`stop`](Self::stop) with a watchdog of `limit` (a drain with much left to write).
    pub fn stop_within(self, limit: Duration) -> Output {
        self.proc.signal(libc::SIGTERM);
        self.proc.expect_success(limit)
    }

    /// SIGKILL, then reaps it.
    pub fn kill(self) {
        self.proc.kill();
    }
}
