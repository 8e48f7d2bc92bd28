//! The kit's own promises: a failing command says everything, watchdogs fire instead of
//! hanging, waits return what they waited for, and a re-executed child is only counted done
//! when it really ran its part.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use ringlog_testkit::{reexec, wait_for_lines, wait_until, TestCommand, TestDir};

/// The panic message of `f`, which must panic.
fn panic_message(f: impl FnOnce()) -> String {
    let err = catch_unwind(AssertUnwindSafe(f)).expect_err("it should have failed the test");
    err.downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

fn sh(script: &str) -> TestCommand {
    let mut cmd = TestCommand::new("sh");
    cmd.args(["-c", script]);
    cmd
}

// ---- smoke

#[test]
fn a_successful_command_gives_its_stdout() {
    assert_eq!(sh("echo hello").stdout(), "hello\n");
}

#[test]
fn a_test_dir_reads_missing_files_as_empty_and_written_ones_back() {
    let dir = TestDir::new();
    assert_eq!(dir.out_text(), "");
    std::fs::write(dir.out(), "a\nb\n").unwrap();
    assert_eq!(dir.out_text(), "a\nb\n");
    assert_eq!(dir.ring(), dir.path().join("ring"));
}

// ---- edge

#[test]
fn a_failing_command_reports_command_cwd_status_stdout_and_stderr() {
    let dir = TestDir::new();
    let msg = panic_message(|| {
        sh("echo to-stdout; echo to-stderr >&2; exit 3")
            .current_dir(dir.path())
            .expect_success();
    });
    assert!(msg.contains("expected success"), "{msg}");
    assert!(msg.contains("exit status: 3"), "{msg}");
    assert!(msg.contains("command: \"sh\" \"-c\""), "{msg}");
    assert!(
        msg.contains(&format!("cwd: {}", dir.path().display())),
        "{msg}"
    );
    assert!(msg.contains("stdout:\nto-stdout"), "{msg}");
    assert!(msg.contains("stderr:\nto-stderr"), "{msg}");
}

#[test]
fn a_clean_error_must_fail_without_a_panic_and_one_line_means_one_line() {
    assert_eq!(sh("echo bad >&2; exit 1").expect_one_line_error(), "bad\n");
    let msg = panic_message(|| {
        sh("echo ok").expect_error();
    });
    assert!(msg.contains("expected a clean failure"), "{msg}");
    let msg = panic_message(|| {
        sh("echo \"thread 'main' panicked at x\" >&2; exit 101").expect_error();
    });
    assert!(msg.contains("expected a clean failure"), "{msg}");
    let msg = panic_message(|| {
        sh("printf 'one\\ntwo\\n' >&2; exit 1").expect_one_line_error();
    });
    assert!(msg.contains("expected one line on stderr"), "{msg}");
}

#[test]
fn a_command_that_hangs_is_killed_by_its_watchdog() {
    let msg = panic_message(|| {
        sh("echo started; exec sleep 600")
            .limit(Duration::from_millis(300))
            .output();
    });
    assert!(msg.contains("watchdog"), "{msg}");
    assert!(msg.contains("did not exit within 300ms"), "{msg}");
    assert!(msg.contains("started"), "what it printed is shown: {msg}");
}

#[test]
fn wait_until_fails_with_its_message_when_the_condition_never_holds() {
    let msg = panic_message(|| wait_until("the sky fell", Duration::from_millis(50), || false));
    assert!(msg.contains("watchdog: the sky fell"), "{msg}");
}

#[test]
fn wait_for_lines_returns_once_another_process_wrote_them() {
    let dir = TestDir::new();
    let out = dir.out();
    let writer = sh("sleep 0.2; printf '1\\n2\\n3\\n' > \"$0\"")
        .arg(&out)
        .spawn();
    let text = wait_for_lines(&out, 3);
    assert_eq!(text, "1\n2\n3\n");
    writer.expect_success(Duration::from_secs(60));
}

// ---- re-executing this test binary

const CHILD_TEST: &str = "a_reexecuted_child_runs_its_part_and_the_parent_sees_it_done";

#[test]
fn a_reexecuted_child_runs_its_part_and_the_parent_sees_it_done() {
    if reexec::run_child(|role| {
        let ring = std::env::var("KIT_TEST_FILE").unwrap();
        std::fs::write(ring, role).unwrap();
    }) {
        return;
    }
    let dir = TestDir::new();
    let file = dir.join("written-by-child");
    let child = reexec::command(CHILD_TEST, "writer-7")
        .env("KIT_TEST_FILE", &file)
        .spawn();
    reexec::expect_done(child, "writer-7", Duration::from_secs(60));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "writer-7");
}

#[test]
fn a_child_that_ran_no_test_is_not_counted_done() {
    if reexec::role().is_some() {
        // Only reached if the filter below matched, which it must not.
        panic!("this test must not run as a child");
    }
    // A name that matches no test: the child's harness runs nothing and exits 0.
    let child = reexec::command("no_such_test_in_this_binary", "idle").spawn();
    let msg = panic_message(|| {
        reexec::expect_done(child, "idle", Duration::from_secs(60));
    });
    assert!(msg.contains("never finished its part"), "{msg}");
    assert!(
        msg.contains("0 passed"),
        "the child's output is shown: {msg}"
    );
}
