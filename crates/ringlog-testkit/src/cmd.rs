//! Running a command the way ripgrep's `tests/util.rs` does: when it fails, say everything.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::proc::Proc;

/// A command under test. Every run has a watchdog ([`PATIENCE`](crate::PATIENCE) unless
/// [`limit`](Self::limit) says otherwise), and every expectation that fails prints the command,
/// its working directory, its exit status, stdout and stderr.
#[derive(Debug)]
pub struct TestCommand {
    cmd: Command,
    limit: Duration,
}

impl TestCommand {
    /// A command running `program` (see [`bin!`](crate::bin)), with stdin closed.
    pub fn new(program: impl AsRef<OsStr>) -> TestCommand {
        let mut cmd = Command::new(program);
        cmd.stdin(Stdio::null());
        TestCommand {
            cmd,
            limit: crate::PATIENCE,
        }
    }

    /// Adds an argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut TestCommand {
        self.cmd.arg(arg);
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut TestCommand
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.cmd.args(args);
        self
    }

    /// Sets an environment variable for the command.
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut TestCommand {
        self.cmd.env(key, value);
        self
    }

    /// Reads standard input from `stdin` (a file, say) instead of nothing.
    pub fn stdin_from(&mut self, stdin: impl Into<Stdio>) -> &mut TestCommand {
        self.cmd.stdin(stdin);
        self
    }

    /// Runs it in `dir`.
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut TestCommand {
        self.cmd.current_dir(dir);
        self
    }

    /// How long a run may take before the watchdog kills it and fails the test.
    pub fn limit(&mut self, limit: Duration) -> &mut TestCommand {
        self.limit = limit;
        self
    }

    /// The command, its arguments and its working directory, for failure messages.
    pub fn describe(&self) -> String {
        let cwd = self
            .cmd
            .get_current_dir()
            .map(Path::to_path_buf)
            .or_else(|| std::env::current_dir().ok())
            .map(|d| d.display().to_string())
            .unwrap_or_default();
        let mut command = format!("{:?}", self.cmd.get_program());
        for arg in self.cmd.get_args() {
            command += &format!(" {arg:?}");
        }
        let env: Vec<String> = self
            .cmd
            .get_envs()
            .map(|(k, v)| format!("{}={:?}", k.to_string_lossy(), v.unwrap_or_default()))
            .collect();
        let env = if env.is_empty() {
            String::new()
        } else {
            format!("\nenv: {}", env.join(" "))
        };
        format!("command: {command}{env}\ncwd: {cwd}")
    }

    /// Starts it with stdout and stderr piped (collected as they come; see [`Proc`]).
    pub fn spawn(&mut self) -> Proc {
        let child = self
            .cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start it ({e})\n{}", self.describe()));
        Proc::new(child, self.describe())
    }

    /// Runs it to the end (watchdog) and returns its output, whatever the exit status.
    pub fn output(&mut self) -> Output {
        let limit = self.limit;
        self.spawn().finish(limit)
    }

    /// Runs it and fails the test, saying everything, unless it exits 0.
    pub fn expect_success(&mut self) -> Output {
        let out = self.output();
        if !out.status.success() {
            panic!("{}", self.report("expected success", &out));
        }
        out
    }

    /// Runs it, expects success, and returns stdout as UTF-8.
    pub fn stdout(&mut self) -> String {
        let out = self.expect_success();
        String::from_utf8(out.stdout).unwrap_or_else(|e| panic!("stdout is not UTF-8: {e}"))
    }

    /// Runs it and fails the test unless it exits with `code`.
    pub fn expect_code(&mut self, code: i32) -> Output {
        let out = self.output();
        if out.status.code() != Some(code) {
            panic!(
                "{}",
                self.report(&format!("expected exit code {code}"), &out)
            );
        }
        out
    }

    /// Runs it and fails the test unless it fails cleanly: a non-zero exit, and no panic on
    /// stderr. Returns stderr.
    pub fn expect_error(&mut self) -> String {
        let out = self.output();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if out.status.success() || stderr.contains("panicked") {
            panic!(
                "{}",
                self.report("expected a clean failure (non-zero exit, no panic)", &out)
            );
        }
        stderr
    }

    /// Like [`expect_error`](Self::expect_error), and stderr must be exactly one line.
    pub fn expect_one_line_error(&mut self) -> String {
        let err = self.expect_error();
        assert_eq!(
            err.lines().count(),
            1,
            "expected one line on stderr, got:\n{err}\n{}",
            self.describe()
        );
        err
    }

    fn report(&self, expected: &str, out: &Output) -> String {
        format!(
            "{expected}, got {}\n{}\nstdout:\n{}\nstderr:\n{}",
            out.status,
            self.describe(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }
}
