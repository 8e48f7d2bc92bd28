//! What a test needs from the machine: a missing tool fails the test, unless the person running
//! it opted out explicitly.

use std::path::PathBuf;

/// The opt-out: with `RINGLOG_ALLOW_MISSING_TOOLS=1`, a test whose tool (or privilege) is
/// missing prints that it skipped and why, and passes. CI never sets it.
pub const ALLOW_MISSING_TOOLS: &str = "RINGLOG_ALLOW_MISSING_TOOLS";

/// Tools the tests use, with the Debian package that provides each.
const PACKAGES: &[(&str, &str)] = &[
    ("rsyslogd", "rsyslog"),
    ("mount", "mount"),
    ("umount", "mount"),
];

/// Whether [`ALLOW_MISSING_TOOLS`] is set to `1`.
pub fn allow_missing_tools() -> bool {
    std::env::var_os(ALLOW_MISSING_TOOLS).is_some_and(|v| v == "1")
}

/// Checks a requirement of the calling test. If `met`, returns true. Otherwise fails the test
/// with `what` is missing and `remedy`, or, with [`ALLOW_MISSING_TOOLS`]`=1`, prints that the
/// test is skipped and why and returns false (the test then returns early).
///
/// ```no_run
/// # let is_root = true;
/// if !ringlog_testkit::require(is_root, "root privileges (to mount a tmpfs)", "run the tests as root") {
///     return;
/// }
/// ```
#[track_caller]
pub fn require(met: bool, what: &str, remedy: &str) -> bool {
    let test = std::thread::current()
        .name()
        .unwrap_or("this test")
        .to_string();
    match requirement(met, &test, what, remedy, allow_missing_tools()) {
        Ok(run) => run,
        Err(message) => panic!("{message}"),
    }
}

/// What [`require`] decides: `Ok(true)` run the test, `Ok(false)` skip it (after saying so),
/// `Err(message)` fail it.
fn requirement(
    met: bool,
    test: &str,
    what: &str,
    remedy: &str,
    allow_missing: bool,
) -> Result<bool, String> {
    if met {
        return Ok(true);
    }
    if allow_missing {
        eprintln!(
            "SKIPPED {test}: {what} is missing ({remedy}); {ALLOW_MISSING_TOOLS}=1 allows this"
        );
        return Ok(false);
    }
    Err(format!(
        "{test} needs {what}, which is missing: {remedy}. \
         To skip such tests instead, set {ALLOW_MISSING_TOOLS}=1."
    ))
}

/// Finds the program `name` in `PATH` (and /usr/sbin, /sbin, where daemons live). Missing, it
/// fails the calling test naming the Debian package to install, or, with
/// [`ALLOW_MISSING_TOOLS`]`=1`, prints that the test is skipped and returns `None`.
///
/// ```no_run
/// let Some(rsyslogd) = ringlog_testkit::require_tool("rsyslogd") else {
///     return;
/// };
/// ```
#[track_caller]
pub fn require_tool(name: &str) -> Option<PathBuf> {
    let package = PACKAGES
        .iter()
        .find(|(tool, _)| *tool == name)
        .map(|(_, p)| *p)
        .unwrap_or_else(|| {
            panic!("require_tool({name:?}): add the tool and its package to the kit's PACKAGES")
        });
    let found = find_program(name);
    let remedy = format!("install the package `{package}` (apt-get install {package})");
    require(found.is_some(), &format!("the program `{name}`"), &remedy).then(|| found.unwrap())
}

/// `name` in `PATH`, /usr/sbin or /sbin.
fn find_program(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(["/usr/sbin", "/sbin"].map(PathBuf::from));
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_met_requirement_runs_the_test_either_way() {
        assert_eq!(requirement(true, "t", "x", "y", false), Ok(true));
        assert_eq!(requirement(true, "t", "x", "y", true), Ok(true));
    }

    #[test]
    fn a_missing_tool_fails_the_test_naming_the_package_and_the_opt_out() {
        let err = requirement(
            false,
            "syslog_test",
            "the program `rsyslogd`",
            "install the package `rsyslog` (apt-get install rsyslog)",
            false,
        )
        .unwrap_err();
        assert!(
            err.starts_with("syslog_test needs the program `rsyslogd`"),
            "{err}"
        );
        assert!(err.contains("apt-get install rsyslog"), "{err}");
        assert!(err.contains("RINGLOG_ALLOW_MISSING_TOOLS=1"), "{err}");
    }

    #[test]
    fn with_the_opt_out_a_missing_tool_skips_the_test() {
        assert_eq!(requirement(false, "t", "x", "y", true), Ok(false));
    }

    #[test]
    fn programs_are_found_in_path_and_the_sbin_directories_and_absent_ones_are_not() {
        assert!(find_program("sh").is_some());
        assert!(find_program("ringlog-no-such-program").is_none());
    }
}

/// A tmpfs mounted for a test (a full disk, a small `/dev/shm`); unmounted (lazily) on drop.
#[derive(Debug)]
pub struct Tmpfs {
    dir: PathBuf,
    mount: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (as `mount -o size=` takes it: `64k`, `8m`) on `dir`, creating
    /// the directory. `None` if the test is to be skipped ([`require`]'s rules: mounting needs
    /// the `mount` tool and root).
    #[track_caller]
    pub fn mount(dir: &std::path::Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).expect("create the mount point");
        let mount = require_tool("mount")?;
        let out = crate::TestCommand::new(&mount)
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output();
        let mounted = require(
            out.status.success(),
            "permission to mount a tmpfs",
            &format!(
                "run the tests as root (mount said: {})",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        );
        mounted.then(|| Tmpfs {
            dir: dir.to_path_buf(),
            mount,
        })
    }

    /// Changes the size (`mount -o remount,size=`), as freeing space would.
    pub fn resize(&self, size: &str) {
        crate::TestCommand::new(&self.mount)
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.dir)
            .expect_success();
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = crate::TestCommand::new("umount")
            .arg("-l")
            .arg(&self.dir)
            .output();
    }
}
