//! Child processes and in-process sections under a watchdog.

use std::io::Read;
use std::process::{Child, ExitStatus, Output};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Sends `sig` to process `pid`; fails the test if it cannot be delivered (the process was
/// already reaped, for example).
pub fn signal(pid: u32, sig: i32) {
    let pid = i32::try_from(pid).expect("a pid fits in pid_t");
    // SAFETY: kill(2) only sends a signal; it touches none of this process's memory.
    let rc = unsafe { libc::kill(pid, sig) };
    assert_eq!(
        rc,
        0,
        "kill({pid}, {sig}): {}",
        std::io::Error::last_os_error()
    );
}

/// Polls `done` every 10 ms until it returns true; fails the test with `what` if that takes
/// longer than `limit` (a hang detector, not a timing assertion).
pub fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "watchdog: {what} (waited {limit:?})"
        );
        thread::sleep(Duration::from_millis(10));
    }
}

/// Ends the whole test binary with a message if the guarded section (until the watchdog is
/// dropped) does not finish within `limit`: for sections that could hang inside this process
/// (a blocked producer, a deadlock after `fork`), where a panic could not interrupt them. A hang
/// detector with a generous limit, not a timing assertion.
#[derive(Debug)]
pub struct Watchdog(Option<mpsc::Sender<()>>);

impl Watchdog {
    /// Starts watching; `what` names the section in the failure message.
    pub fn new(what: &str, limit: Duration) -> Watchdog {
        let what = what.to_string();
        let (tx, rx) = mpsc::channel::<()>();
        thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
                eprintln!("watchdog: {what} did not finish within {limit:?}; it hangs");
                std::process::exit(101);
            }
        });
        Watchdog(Some(tx))
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}

/// Bytes a child wrote to one of its pipes, collected by a thread as they come (so a chatty
/// child never blocks on a full pipe).
#[derive(Debug, Default, Clone)]
struct Collected(Arc<Mutex<Vec<u8>>>);

impl Collected {
    fn start(pipe: Option<impl Read + Send + 'static>) -> (Collected, Option<JoinHandle<()>>) {
        let buf = Collected::default();
        let handle = pipe.map(|mut pipe| {
            let buf = buf.clone();
            thread::spawn(move || {
                let mut chunk = [0u8; 8192];
                loop {
                    match pipe.read(&mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.0.lock().unwrap().extend_from_slice(&chunk[..n]),
                    }
                }
            })
        });
        (buf, handle)
    }

    fn bytes(&self) -> Vec<u8> {
        self.0.lock().unwrap().clone()
    }
}

/// A spawned child process: its stdout and stderr (when piped) are collected as they come,
/// every wait has a watchdog, and it is killed and reaped when dropped. Made by
/// [`TestCommand::spawn`](crate::TestCommand::spawn).
#[derive(Debug)]
pub struct Proc {
    child: Child,
    what: String,
    stdout: Collected,
    stderr: Collected,
    readers: Vec<JoinHandle<()>>,
}

impl Proc {
    /// Takes over `child`, collecting whatever of its stdout and stderr is piped; `what`
    /// describes it in failure messages.
    pub fn new(mut child: Child, what: impl Into<String>) -> Proc {
        let (stdout, out_reader) = Collected::start(child.stdout.take());
        let (stderr, err_reader) = Collected::start(child.stderr.take());
        Proc {
            child,
            what: what.into(),
            stdout,
            stderr,
            readers: out_reader.into_iter().chain(err_reader).collect(),
        }
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Sends `sig`.
    pub fn signal(&self, sig: i32) {
        signal(self.id(), sig);
    }

    /// Whether it has exited (reaps it if so).
    pub fn has_exited(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_some()
    }

    /// What it wrote to stdout so far (lossy UTF-8).
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout.bytes()).into_owned()
    }

    /// What it wrote to stderr so far (lossy UTF-8).
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.bytes()).into_owned()
    }

    /// Waits for it to exit; if it has not within `limit`, kills it and fails the test with
    /// what it wrote (a watchdog against hangs, not a performance assertion).
    pub fn wait(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(st) = self.child.try_wait().expect("try_wait") {
                return st;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "watchdog: {} did not exit within {limit:?}\nstdout:\n{}\nstderr:\n{}",
                    self.what,
                    self.stdout(),
                    self.stderr()
                );
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits for it to exit (watchdog `limit`), then for its pipes to close; returns everything.
    pub fn finish(mut self, limit: Duration) -> Output {
        let status = self.wait(limit);
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        Output {
            status,
            stdout: self.stdout.bytes(),
            stderr: self.stderr.bytes(),
        }
    }

    /// Waits (watchdog `limit`) and fails the test, showing its output, unless it exited 0.
    pub fn expect_success(self, limit: Duration) -> Output {
        let what = self.what.clone();
        let out = self.finish(limit);
        assert!(
            out.status.success(),
            "{what} failed ({})\nstdout:\n{}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// SIGKILL, then reaps it.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
