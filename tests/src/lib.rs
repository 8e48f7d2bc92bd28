//! Helpers for ringlog's multi-process integration and fault-injection tests: finding the
//! binaries, temp dirs, starting and stopping `ringdrain`, and parsing and checking its output.
#![warn(missing_docs)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Path of a workspace binary (`ringdrain`, `ringload`), built next to the test executables.
///
/// `cargo test --workspace` builds both (their packages have integration tests). Set
/// `RINGLOG_BIN_DIR` to use binaries from elsewhere.
pub fn bin(name: &str) -> PathBuf {
    let dir = match std::env::var_os("RINGLOG_BIN_DIR") {
        Some(d) => PathBuf::from(d),
        None => {
            let exe = std::env::current_exe().expect("current exe");
            // target/<profile>/deps/<test> -> target/<profile>
            exe.parent()
                .and_then(Path::parent)
                .expect("target dir")
                .to_path_buf()
        }
    };
    let p = dir.join(name);
    assert!(
        p.exists(),
        "{} not found: run `cargo test --workspace` (or `cargo build --workspace --bins`) so it is built",
        p.display()
    );
    p
}

/// Sends `sig` to `pid`.
pub fn signal(pid: u32, sig: i32) {
    // SAFETY: kill(2) has no memory effects; the pid is a child we spawned.
    unsafe { libc::kill(pid as i32, sig) };
}

/// Waits for `child`, failing the test if it has not exited within `limit` (a watchdog against
/// hangs, not a performance assertion).
pub fn wait_for(child: &mut Child, what: &str, limit: Duration) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            return st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("watchdog: {what} did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A running `ringdrain`.
pub struct Drain {
    /// The process.
    pub child: Child,
}

impl Drain {
    /// Starts `ringdrain --ring RING --out OUT` with extra arguments.
    pub fn start(ring: &Path, out: &Path, extra: &[&str]) -> Drain {
        let child = Command::new(bin("ringdrain"))
            .arg("--ring")
            .arg(ring)
            .arg("--out")
            .arg(out)
            .args(extra)
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn ringdrain");
        Drain { child }
    }

    /// SIGTERM, then waits (watchdog 60 s); asserts a clean exit.
    pub fn stop(mut self) {
        signal(self.child.id(), libc::SIGTERM);
        let st = wait_for(
            &mut self.child,
            "ringdrain after SIGTERM",
            Duration::from_secs(60),
        );
        assert!(st.success(), "ringdrain exited with {st:?}");
    }

    /// SIGKILL, then reaps.
    pub fn kill(mut self) {
        signal(self.child.id(), libc::SIGKILL);
        let _ = self.child.wait();
    }
}

impl Drop for Drain {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs `ringload` with `args`; returns its stdout (asserts success; watchdog 5 min).
pub fn ringload(args: &[&str]) -> String {
    let mut child = Command::new(bin("ringload"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn ringload");
    let mut out = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut out, &mut s).ok();
        s
    });
    let st = wait_for(&mut child, "ringload", Duration::from_secs(300));
    assert!(st.success(), "ringload failed: {st:?}");
    reader.join().expect("reader thread")
}

/// A parsed ringload message: `request {i} served in {lat} us by {worker}`.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadRecord {
    /// Worker (`p{p}-t{t}`).
    pub worker: String,
    /// Record number.
    pub i: u64,
    /// Latency value as printed.
    pub lat: f64,
}

/// Parses a ringload message, or `None` if `msg` is not one.
pub fn parse_load_message(msg: &str) -> Option<LoadRecord> {
    let rest = msg.strip_prefix("request ")?;
    let (i, rest) = rest.split_once(" served in ")?;
    let (lat, worker) = rest.split_once(" us by ")?;
    Some(LoadRecord {
        worker: worker.to_string(),
        i: i.parse().ok()?,
        lat: lat.parse().ok()?,
    })
}

/// The message part of a text-format line (`TS LEVEL [pid:tid] target: message`).
pub fn text_message(line: &str) -> Option<&str> {
    let (_, rest) = line.split_once("] ")?;
    Some(rest.split_once(": ").map_or(rest, |(_, m)| m))
}

/// Checks ringload records: every (worker, i) for `procs x threads` workers and `0..n` present
/// exactly once, `lat == i / 4` exactly, and each worker's records in order. Returns a
/// description of the first problem.
pub fn check_load_records(
    records: impl IntoIterator<Item = LoadRecord>,
    procs: u32,
    threads: u32,
    n: u64,
) -> Result<u64, String> {
    let mut next: HashMap<String, u64> = HashMap::new();
    for p in 0..procs {
        for t in 0..threads {
            next.insert(format!("p{p}-t{t}"), 0);
        }
    }
    let mut total = 0u64;
    for r in records {
        let Some(expect) = next.get_mut(&r.worker) else {
            return Err(format!("unknown worker {:?}", r.worker));
        };
        if r.i != *expect {
            return Err(format!(
                "worker {}: expected record {}, found {} (lost, duplicated or out of order)",
                r.worker, expect, r.i
            ));
        }
        if r.lat != r.i as f64 / 4.0 {
            return Err(format!(
                "worker {} record {}: lat {} != i/4",
                r.worker, r.i, r.lat
            ));
        }
        *expect += 1;
        total += 1;
    }
    for (w, got) in &next {
        if *got != n {
            return Err(format!("worker {w}: {got} of {n} records"));
        }
    }
    Ok(total)
}

/// A small deterministic PRNG (xorshift64*) so fault rounds are reproducible from a seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeded from `RINGLOG_SEED` if set, else from the clock; prints the seed so a failing
    /// run can be replayed.
    pub fn from_env(test: &str) -> Rng {
        let seed = std::env::var("RINGLOG_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
            });
        eprintln!("{test}: RINGLOG_SEED={seed}");
        Rng(seed.max(1))
    }

    /// Next value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A value in `lo..hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo).max(1)
    }
}

/// Rounds for a fault test: `RINGLOG_FAULT_ROUNDS` if set (the long run), else `default`.
pub fn rounds(default: u64) -> u64 {
    std::env::var("RINGLOG_FAULT_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Waits until `ring` has an attached drain (watchdog 30 s).
pub fn wait_attached(ring: &Path) {
    let seg = ringlog_segment::Segment::open(ring, &Default::default()).expect("open ring");
    let deadline = Instant::now() + Duration::from_secs(30);
    // SYNC: Relaxed; polling a flag another process sets.
    while seg
        .shared()
        .drain
        .pid
        .load(std::sync::atomic::Ordering::Relaxed)
        == 0
    {
        assert!(
            Instant::now() < deadline,
            "watchdog: ringdrain never attached"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Load records in a text log, keyed by worker, plus every other message line.
pub fn split_log(text: &str) -> (HashMap<String, Vec<u64>>, Vec<String>) {
    let mut by_worker: HashMap<String, Vec<u64>> = HashMap::new();
    let mut other = Vec::new();
    for line in text.lines() {
        match text_message(line).and_then(parse_load_message) {
            Some(r) => {
                assert_eq!(r.lat, r.i as f64 / 4.0, "torn or wrong value in {line:?}");
                by_worker.entry(r.worker).or_default().push(r.i);
            }
            None => other.push(line.to_string()),
        }
    }
    (by_worker, other)
}

/// Asserts `seq` is exactly `0..seq.len()` (a prefix: nothing lost before the end, no
/// duplicates, in order). Returns its length.
pub fn assert_prefix(worker: &str, seq: &[u64]) -> u64 {
    for (k, &i) in seq.iter().enumerate() {
        assert_eq!(
            i, k as u64,
            "worker {worker}: record {k} is {i} (a gap, duplicate or reordering)"
        );
    }
    seq.len() as u64
}

/// Sums `key=N` over the drain's notice lines containing `needle`.
pub fn notice_sum(lines: &[String], needle: &str, key: &str) -> u64 {
    lines
        .iter()
        .filter(|l| l.contains(needle))
        .filter_map(|l| {
            l.split(' ')
                .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .sum()
}
