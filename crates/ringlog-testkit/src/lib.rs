//! The scaffolding every ringlog test shares: finding the workspace's binaries, a temp dir per
//! test, running commands that report everything when they fail, child processes and in-process
//! sections under a watchdog, waiting for lines in a file, a `ringdrain` process to start and
//! stop, tools a test needs (missing ones fail the test), fuzz-corpus replay, and re-running the
//! test binary as a child process.
//!
//! It is a leaf crate: it depends on no ringlog binary crate (so `ringdrain`'s own tests use it
//! too), and on `ringlog-segment` only with the `segment` feature.
//!
//! | item | what it is for |
//! |---|---|
//! | [`bin!`] | path of a workspace binary (`CARGO_BIN_EXE_<name>`, else next to the test) |
//! | [`TestDir`] | a temp dir per test, kept on failure with `RINGLOG_KEEP_TEST_DIRS=1` |
//! | [`TestCommand`] | ripgrep-style runner: `expect_success` prints command, cwd, stdout, stderr |
//! | [`Proc`] | a spawned child under a watchdog, its output collected, killed when dropped |
//! | [`Watchdog`], [`wait_until`] | hang detectors that fail with a message (never a timing assertion) |
//! | [`wait_for_lines`], [`wait_for_text`] | wait until a file holds what a test expects |
//! | [`Drain`] | a `ringdrain` process: start, signal, stop cleanly, kill |
//! | [`require_tool`] | a tool the test needs: missing fails, unless `RINGLOG_ALLOW_MISSING_TOOLS=1` |
//! | [`corpus`] | replay `fuzz/corpus/<target>` through a check |
//! | [`fork`] | fork a child that runs a closure; wait for it under a watchdog |
//! | [`reexec`] | run one test of this binary again as a child process with a role |
//! | [`lines`] | parsing what `ringdrain` wrote: text bodies, JSON lines |
//! | `segment` (feature) | wait for a drain to attach, stand in as the drain, a patient reader |
//!
//! ```
//! use ringlog_testkit::{TestCommand, TestDir};
//!
//! let dir = TestDir::new();
//! std::fs::write(dir.out(), "one line\n").unwrap();
//! // A failure would print the command, its cwd, its exit status, stdout and stderr. A test
//! // runs the workspace's binaries the same way: `TestCommand::new(bin!("ringdrain"))`.
//! let text = TestCommand::new("cat").arg(dir.out()).stdout();
//! assert_eq!(text, "one line\n");
//! ```
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks, missing_docs)]

mod cmd;
pub mod corpus;
mod dir;
mod drain;
mod files;
pub mod fork;
pub mod lines;
mod proc;
pub mod reexec;
#[cfg(feature = "segment")]
pub mod segment;
mod tools;

pub use cmd::TestCommand;
pub use dir::TestDir;
pub use drain::Drain;
pub use files::{count_lines, wait_for_lines, wait_for_text};
pub use proc::{signal, wait_until, Proc, Watchdog};
pub use tools::{allow_missing_tools, require, require_tool, Tmpfs, ALLOW_MISSING_TOOLS};

use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long the kit's waits allow by default before their watchdog fails the test. It detects
/// hangs; it is never a performance assertion, so it is generous for a loaded 2-core machine.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// Path of a workspace binary: `CARGO_BIN_EXE_<name>` of the calling test crate when Cargo set
/// it (the binary belongs to the package under test), else [`find_bin`].
///
/// ```no_run
/// let ringdrain = ringlog_testkit::bin!("ringdrain");
/// ```
#[macro_export]
macro_rules! bin {
    ($name:literal) => {
        $crate::find_bin($name, option_env!(concat!("CARGO_BIN_EXE_", $name)))
    };
}

/// Path of the workspace binary `name`: `cargo_bin_exe` if given (see [`bin!`]), else
/// `$RINGLOG_BIN_DIR/name`, else next to the test executable (`target/<profile>/name`, where
/// `cargo test --workspace` builds every binary). Fails with what to build if it is not there.
pub fn find_bin(name: &str, cargo_bin_exe: Option<&str>) -> PathBuf {
    if let Some(p) = cargo_bin_exe {
        return PathBuf::from(p);
    }
    let dir = match std::env::var_os("RINGLOG_BIN_DIR") {
        Some(d) => PathBuf::from(d),
        None => {
            let exe = std::env::current_exe().expect("the test executable's path");
            // target/<profile>/deps/<test> -> target/<profile>
            exe.parent()
                .and_then(Path::parent)
                .expect("the test executable is in target/<profile>/deps")
                .to_path_buf()
        }
    };
    let p = dir.join(name);
    assert!(
        p.is_file(),
        "{} not found: build it first (`cargo test --workspace` does, or `cargo build --bin {name}`), \
         or point RINGLOG_BIN_DIR at the directory holding it",
        p.display()
    );
    p
}

/// The workspace's root directory (this crate lives in `crates/ringlog-testkit`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the workspace root exists")
}

/// A port on 127.0.0.1 that was free a moment ago (for a server the test starts as a child).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a loopback port")
        .port()
}
