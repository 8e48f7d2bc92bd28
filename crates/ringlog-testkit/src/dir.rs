//! A temp dir per test.

use std::path::{Path, PathBuf};

/// A fresh temporary directory for one test, removed when dropped; with
/// `RINGLOG_KEEP_TEST_DIRS=1` a test that fails keeps it and says where.
#[derive(Debug)]
pub struct TestDir {
    dir: Option<tempfile::TempDir>,
}

impl TestDir {
    /// Creates the directory (under `$TMPDIR`, `ringlog-test.XXXXXX`).
    pub fn new() -> TestDir {
        let dir = tempfile::Builder::new()
            .prefix("ringlog-test.")
            .tempdir()
            .expect("create a temp dir for the test");
        TestDir { dir: Some(dir) }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.as_ref().expect("present until dropped").path()
    }

    /// `name` inside the directory.
    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.path().join(name)
    }

    /// The conventional ring path, `ring`.
    pub fn ring(&self) -> PathBuf {
        self.join("ring")
    }

    /// The conventional drain output, `out.log`.
    pub fn out(&self) -> PathBuf {
        self.join("out.log")
    }

    /// The text of `name` inside the directory, or "" if it does not exist (yet).
    pub fn read(&self, name: impl AsRef<Path>) -> String {
        let path = self.join(name);
        match std::fs::read_to_string(&path) {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => panic!("read {}: {e}", path.display()),
        }
    }

    /// The text of [`out`](Self::out), or "".
    pub fn out_text(&self) -> String {
        self.read("out.log")
    }
}

impl Default for TestDir {
    fn default() -> TestDir {
        TestDir::new()
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let keep = std::thread::panicking()
            && std::env::var_os("RINGLOG_KEEP_TEST_DIRS").is_some_and(|v| v == "1");
        if let (true, Some(dir)) = (keep, self.dir.take()) {
            eprintln!("RINGLOG_KEEP_TEST_DIRS: kept {}", dir.keep().display());
        }
    }
}
