//! `--format-threads`: a large backlog formatted on several threads is byte for byte what one
//! thread writes (text and JSON), and the settings layers carry the count.

use std::path::{Path, PathBuf};

use ringdrain::drain::{run, DrainConfig, Output, Signals, Summary};
use ringdrain::format::Format;
use ringdrain::sink::Rotation;
use ringlog::{info, warn, Logger};

/// Records per producer thread; 3 threads.
const PER_THREAD: u64 = 12_000;

/// A backlog of mixed records (two callsites with arguments, one with fields and text that
/// needs escaping) from three threads, so the drain merges three lanes. The realtime clock:
/// records carry Unix time, so two drains of copies of the segment convert it alike (a TSC
/// clock is re-anchored by each drain when it starts).
fn backlog(ring: &Path) {
    let log = Logger::builder()
        .path(ring)
        .clock(ringlog::ClockChoice::Realtime)
        .lanes(4)
        .slot_count(1 << 15)
        .open()
        .unwrap();
    // Each thread holds its lane until every thread has one: a thread gives its lane back when
    // it exits, so threads that happened to run one after another could otherwise each take
    // the lane the one before gave back, and 36,000 records would not fit one lane of 32,768.
    let all_hold_a_lane = std::sync::Barrier::new(3);
    std::thread::scope(|s| {
        for t in 0..3u64 {
            let (log, all_hold_a_lane) = (&log, &all_hold_a_lane);
            s.spawn(move || {
                for i in 0..PER_THREAD {
                    if i == 1 {
                        all_hold_a_lane.wait();
                    }
                    match i % 3 {
                        0 => info!(
                            log,
                            "request {} served in {} us by {}",
                            i,
                            i as f64 / 4.0,
                            "w"
                        ),
                        1 => warn!(
                            log,
                            "slow \"quoted\"\ttab {}",
                            i,
                            thread = t,
                            ok = i % 2 == 0
                        ),
                        _ => info!(log, "plain {} {}", -(i as i64), 'c', note = "line\nbreak"),
                    }
                }
            });
        }
    });
    assert_eq!(log.stats().dropped, 0, "the backlog must fit the ring");
}

/// Drains `ring` once into `out`, under a watchdog (a format thread that never hands back a
/// piece would otherwise hang the test run).
fn drain(ring: &Path, out: &Path, format: Format, threads: usize) -> Summary {
    let (ring, out) = (ring.to_path_buf(), out.to_path_buf());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(drain_now(&ring, &out, format, threads));
    });
    rx.recv_timeout(std::time::Duration::from_secs(120))
        .expect("watchdog: the drain did not finish within 120 s (or panicked)")
}

fn drain_now(ring: &Path, out: &Path, format: Format, threads: usize) -> Summary {
    let mut cfg = DrainConfig::new(
        ring.to_path_buf(),
        Output::File {
            path: out.to_path_buf(),
            rotation: Rotation::default(),
            mode: 0o600,
        },
    );
    cfg.once = true;
    cfg.format = format;
    cfg.format_threads = threads;
    run(&cfg, &Signals::default()).unwrap()
}

#[test]
fn two_and_four_format_threads_write_the_same_bytes_as_one() {
    let dir = tempfile::tempdir().unwrap();
    let original = dir.path().join("original.ring");
    backlog(&original);
    let total = 3 * PER_THREAD;
    for format in [Format::Text, Format::Json] {
        let mut outs: Vec<(usize, PathBuf, Summary)> = Vec::new();
        for threads in [1, 2, 4] {
            // The same backlog for each run: a copy of the segment file.
            let ring = dir.path().join(format!("{format:?}-{threads}.ring"));
            std::fs::copy(&original, &ring).unwrap();
            let out = dir.path().join(format!("{format:?}-{threads}.log"));
            let summary = drain(&ring, &out, format, threads);
            outs.push((threads, out, summary));
        }
        let (_, one, s1) = &outs[0];
        assert_eq!(s1.records, total, "{format:?}");
        assert_eq!(s1.parallel_batches, 0, "one thread never splits");
        let a = std::fs::read(one).unwrap();
        assert_eq!(a.iter().filter(|&&c| c == b'\n').count() as u64, total);
        for (threads, other, s) in &outs[1..] {
            assert_eq!(s.records, total, "{format:?}");
            assert!(
                s.parallel_batches > 0,
                "{format:?}, {threads} threads: no piece went to a worker: {s:?}"
            );
            same_bytes(format, *threads, &a, &std::fs::read(other).unwrap());
        }
    }
}

/// Fails, showing where, unless the output of `threads` format threads is `a`, byte for byte.
fn same_bytes(format: Format, threads: usize, a: &[u8], b: &[u8]) {
    if a != b {
        let at = a
            .iter()
            .zip(b)
            .position(|(x, y)| x != y)
            .unwrap_or(a.len().min(b.len()));
        panic!(
            "{format:?}: outputs differ at byte {at} (lengths {} and {}):\n1: {}\n{threads}: {}",
            a.len(),
            b.len(),
            String::from_utf8_lossy(&a[at.saturating_sub(80)..(at + 80).min(a.len())]),
            String::from_utf8_lossy(&b[at.saturating_sub(80)..(at + 80).min(b.len())]),
        );
    }
}

#[test]
fn a_few_records_are_formatted_on_the_drain_thread() {
    let dir = tempfile::tempdir().unwrap();
    let ring = dir.path().join("few.ring");
    {
        let log = Logger::builder()
            .path(&ring)
            .slot_count(1024)
            .open()
            .unwrap();
        for i in 0..10u64 {
            info!(log, "few {}", i);
        }
    }
    let out = dir.path().join("few.log");
    let s = drain(&ring, &out, Format::Text, 4);
    assert_eq!(s.records, 10);
    assert_eq!(s.parallel_batches, 0);
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.ends_with("few 9\n"), "{text}");
}

#[test]
fn format_threads_come_from_flags_environment_and_file() {
    use ringdrain::settings::{Settings, Threads};
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("d.toml");
    std::fs::write(&file, "ring = \"r\"\nout = \"o.log\"\nformat_threads = 3\n").unwrap();
    let from_file = Settings::from_file(&file).unwrap();
    assert_eq!(from_file.format_threads, Some(Threads::N(3)));
    assert_eq!(from_file.drain_config().unwrap().format_threads, 3);
    std::fs::write(
        &file,
        "ring = \"r\"\nout = \"o.log\"\nformat_threads = \"auto\"\n",
    )
    .unwrap();
    assert_eq!(
        Settings::from_file(&file).unwrap().format_threads,
        Some(Threads::Auto)
    );
    std::fs::write(&file, "ring = \"r\"\nout = \"o.log\"\nformat_threads = 0\n").unwrap();
    let e = Settings::from_file(&file).unwrap_err().to_string();
    assert!(e.contains("format_threads"), "{e}");
    assert_eq!("2".parse::<Threads>(), Ok(Threads::N(2)));
    assert!("0".parse::<Threads>().is_err());
    assert!("many".parse::<Threads>().is_err());
}

#[test]
fn a_bad_thread_count_on_the_command_line_or_in_the_environment_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let ring = dir.path().join("r.ring");
    let out = dir.path().join("o.log");
    let base = |c: &mut std::process::Command| {
        c.arg("--ring")
            .arg(&ring)
            .arg("--out")
            .arg(&out)
            .arg("--once");
        c.env_remove("RINGDRAIN_FORMAT_THREADS");
    };
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_ringdrain"));
    base(&mut c);
    let o = c.args(["--format-threads", "0"]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("not a thread count"), "{err}");
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_ringdrain"));
    base(&mut c);
    let o = c.env("RINGDRAIN_FORMAT_THREADS", "many").output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("not a thread count"), "{err}");
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_ringdrain"));
    base(&mut c);
    let o = c.env("RINGDRAIN_FORMAT_THREADS", "2").output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}
